//! kubectl's JSONPath templates (`-o jsonpath=...`, custom columns,
//! `--sort-by`): literal text with `{expr}` actions, `{range expr}...{end}`,
//! string literals, and expressions made of `.field`, `..field`, `['key']`,
//! `[n]`, `[a:b]`, `[*]`, `.*` and filters `[?(@.path op value)]`.
//! Missing keys yield nothing, as upstream allows by default.

use serde_json::Value;

use crate::error::{Error, Result};

#[derive(Debug, Clone)]
enum Node {
    Text(String),
    Expr(Vec<Step>),
    Range(Vec<Step>, Vec<Node>),
}

#[derive(Debug, Clone)]
enum Step {
    Field(String),
    Recursive(String),
    Wildcard,
    Index(i64),
    Slice(Option<i64>, Option<i64>),
    Filter(Vec<Step>, Option<(String, Value)>),
}

/// A parsed template.
#[derive(Debug, Clone)]
pub struct Template {
    nodes: Vec<Node>,
}

impl Template {
    /// Parses a template such as `{range .items[*]}{.metadata.name}{"\n"}{end}`.
    pub fn parse(src: &str) -> Result<Template> {
        let mut stack: Vec<(Vec<Step>, Vec<Node>)> = Vec::new();
        let mut nodes = Vec::new();
        let mut rest = src;
        while !rest.is_empty() {
            match rest.find('{') {
                None => {
                    nodes.push(Node::Text(rest.to_string()));
                    rest = "";
                }
                Some(i) => {
                    if i > 0 {
                        nodes.push(Node::Text(rest[..i].to_string()));
                    }
                    let after = &rest[i + 1..];
                    let end = find_close(after).ok_or_else(|| {
                        Error::usage(format!("error parsing jsonpath {src}, unclosed action"))
                    })?;
                    let action = after[..end].trim();
                    rest = &after[end + 1..];
                    if let Some(e) = action.strip_prefix("range ") {
                        stack.push((parse_expr(e.trim())?, std::mem::take(&mut nodes)));
                    } else if action == "end" {
                        let (steps, outer) = stack.pop().ok_or_else(|| {
                            Error::usage(format!(
                                "error parsing jsonpath {src}, not in range, nothing to end"
                            ))
                        })?;
                        let body = std::mem::replace(&mut nodes, outer);
                        nodes.push(Node::Range(steps, body));
                    } else if action.starts_with('"') || action.starts_with('\'') {
                        nodes.push(Node::Text(unquote(action)));
                    } else {
                        nodes.push(Node::Expr(parse_expr(action)?));
                    }
                }
            }
        }
        if !stack.is_empty() {
            return Err(Error::usage(format!(
                "error parsing jsonpath {src}, unclosed range"
            )));
        }
        Ok(Template { nodes })
    }

    /// Runs the template on a value.
    pub fn render(&self, v: &Value) -> String {
        let mut out = String::new();
        run(&self.nodes, v, &mut out);
        out
    }

    /// The values of a template that is a single expression (custom columns, sort).
    pub fn values(&self, v: &Value) -> Vec<Value> {
        let mut out = Vec::new();
        for n in &self.nodes {
            if let Node::Expr(steps) = n {
                out.extend(eval(steps, v).into_iter().cloned());
            }
        }
        out
    }
}

/// Wraps a bare path (`.metadata.name`) in braces like upstream's relaxed form.
pub fn relaxed(expr: &str) -> String {
    let e = expr.trim();
    if e.starts_with('{') {
        e.to_string()
    } else {
        let e = e.strip_prefix('$').unwrap_or(e);
        let e = if e.starts_with('.') || e.starts_with('[') {
            e.to_string()
        } else {
            format!(".{e}")
        };
        format!("{{{e}}}")
    }
}

fn find_close(s: &str) -> Option<usize> {
    let mut quote: Option<char> = None;
    let mut prev = ' ';
    for (i, c) in s.char_indices() {
        match quote {
            Some(q) if c == q && prev != '\\' => quote = None,
            Some(_) => {}
            None if c == '"' || c == '\'' => quote = Some(c),
            None if c == '}' => return Some(i),
            None => {}
        }
        prev = c;
    }
    None
}

fn unquote(s: &str) -> String {
    let inner = &s[1..s.len().saturating_sub(1).max(1)];
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some('r') => out.push('\r'),
                Some(o) => out.push(o),
                None => {}
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn parse_expr(src: &str) -> Result<Vec<Step>> {
    let bad = || {
        Error::usage(format!(
            "error parsing jsonpath {{{src}}}: unrecognized expression"
        ))
    };
    let s = src.strip_prefix('$').unwrap_or(src);
    let s = s.strip_prefix('@').unwrap_or(s);
    let chars: Vec<char> = s.chars().collect();
    let mut steps = Vec::new();
    let mut i = 0;
    let ident_end = |mut j: usize| {
        while j < chars.len() && chars[j] != '.' && chars[j] != '[' {
            j += 1;
        }
        j
    };
    while i < chars.len() {
        match chars[i] {
            '.' if chars.get(i + 1) == Some(&'.') => {
                let j = ident_end(i + 2);
                steps.push(Step::Recursive(chars[i + 2..j].iter().collect()));
                i = j;
            }
            '.' => {
                let j = ident_end(i + 1);
                let name: String = chars[i + 1..j].iter().collect();
                if name == "*" {
                    steps.push(Step::Wildcard);
                } else if !name.is_empty() {
                    steps.push(Step::Field(name));
                }
                i = j;
            }
            '[' => {
                // Find the matching ']' outside quotes and parentheses.
                let mut depth = 0;
                let mut j = i + 1;
                let mut quote: Option<char> = None;
                while j < chars.len() {
                    let c = chars[j];
                    match quote {
                        Some(q) if c == q => quote = None,
                        Some(_) => {}
                        None if c == '\'' || c == '"' => quote = Some(c),
                        None if c == '(' => depth += 1,
                        None if c == ')' => depth -= 1,
                        None if c == ']' && depth == 0 => break,
                        None => {}
                    }
                    j += 1;
                }
                if j >= chars.len() {
                    return Err(bad());
                }
                let inner: String = chars[i + 1..j].iter().collect();
                steps.push(parse_bracket(inner.trim()).ok_or_else(bad)?);
                i = j + 1;
            }
            _ => {
                let j = ident_end(i);
                steps.push(Step::Field(chars[i..j].iter().collect()));
                i = j;
            }
        }
    }
    Ok(steps)
}

fn parse_bracket(inner: &str) -> Option<Step> {
    if inner == "*" {
        return Some(Step::Wildcard);
    }
    if (inner.starts_with('\'') && inner.ends_with('\''))
        || (inner.starts_with('"') && inner.ends_with('"'))
    {
        return Some(Step::Field(inner[1..inner.len() - 1].to_string()));
    }
    if let Some(f) = inner.strip_prefix("?(").and_then(|f| f.strip_suffix(')')) {
        for op in ["==", "!=", "<=", ">=", "<", ">"] {
            if let Some((l, r)) = f.split_once(op) {
                let path = parse_expr(l.trim()).ok()?;
                let r = r.trim();
                let val = if r.starts_with('"') || r.starts_with('\'') {
                    Value::String(unquote(r))
                } else {
                    serde_json::from_str(r).unwrap_or(Value::String(r.to_string()))
                };
                return Some(Step::Filter(path, Some((op.to_string(), val))));
            }
        }
        return Some(Step::Filter(parse_expr(f.trim()).ok()?, None));
    }
    if let Some((a, b)) = inner.split_once(':') {
        let p = |s: &str| s.trim().parse::<i64>().ok();
        return Some(Step::Slice(p(a), p(b.split(':').next().unwrap_or(""))));
    }
    inner.parse::<i64>().ok().map(Step::Index)
}

fn eval<'a>(steps: &[Step], v: &'a Value) -> Vec<&'a Value> {
    let mut cur = vec![v];
    for step in steps {
        let mut next = Vec::new();
        for v in cur {
            match step {
                Step::Field(f) => {
                    if let Some(x) = v.get(f.as_str()) {
                        next.push(x);
                    }
                }
                Step::Recursive(f) => recurse(v, f, &mut next),
                Step::Wildcard => match v {
                    Value::Array(a) => next.extend(a.iter()),
                    Value::Object(m) => next.extend(m.values()),
                    _ => {}
                },
                Step::Index(n) => {
                    if let Value::Array(a) = v {
                        let idx = if *n < 0 { a.len() as i64 + n } else { *n };
                        if idx >= 0 {
                            if let Some(x) = a.get(idx as usize) {
                                next.push(x);
                            }
                        }
                    }
                }
                Step::Slice(a, b) => {
                    if let Value::Array(arr) = v {
                        let len = arr.len() as i64;
                        let norm = |x: i64| if x < 0 { (len + x).max(0) } else { x.min(len) };
                        let s = norm(a.unwrap_or(0));
                        let e = norm(b.unwrap_or(len));
                        if s < e {
                            next.extend(arr[s as usize..e as usize].iter());
                        }
                    }
                }
                Step::Filter(path, cond) => {
                    let items: Vec<&Value> = match v {
                        Value::Array(a) => a.iter().collect(),
                        other => vec![other],
                    };
                    for item in items {
                        let found = eval(path, item);
                        let keep = match cond {
                            None => !found.is_empty(),
                            Some((op, want)) => found.iter().any(|got| compare(got, op, want)),
                        };
                        if keep {
                            next.push(item);
                        }
                    }
                }
            }
        }
        cur = next;
    }
    cur
}

fn recurse<'a>(v: &'a Value, f: &str, out: &mut Vec<&'a Value>) {
    match v {
        Value::Object(m) => {
            if let Some(x) = m.get(f) {
                out.push(x);
            }
            for c in m.values() {
                recurse(c, f, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|c| recurse(c, f, out)),
        _ => {}
    }
}

fn compare(got: &Value, op: &str, want: &Value) -> bool {
    if let (Some(a), Some(b)) = (got.as_f64(), want.as_f64()) {
        return match op {
            "==" => a == b,
            "!=" => a != b,
            "<" => a < b,
            ">" => a > b,
            "<=" => a <= b,
            _ => a >= b,
        };
    }
    let a = text(got);
    let b = text(want);
    match op {
        "==" => a == b,
        "!=" => a != b,
        "<" => a < b,
        ">" => a > b,
        "<=" => a <= b,
        _ => a >= b,
    }
}

/// How a value prints inside a template (strings raw, the rest as JSON).
pub fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => serde_json::to_string(other).unwrap_or_default(),
    }
}

fn run(nodes: &[Node], v: &Value, out: &mut String) {
    for n in nodes {
        match n {
            Node::Text(t) => out.push_str(t),
            Node::Expr(steps) => {
                let vals = eval(steps, v);
                let parts: Vec<String> = vals.iter().map(|x| text(x)).collect();
                out.push_str(&parts.join(" "));
            }
            Node::Range(steps, body) => {
                for item in eval(steps, v) {
                    match item {
                        Value::Array(a) => a.iter().for_each(|x| run(body, x, out)),
                        other => run(body, other, out),
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn templates() {
        let v = json!({"items": [
            {"metadata": {"name": "a"}, "status": {"conditions": [{"type": "Ready", "status": "True"}]}},
            {"metadata": {"name": "b"}, "status": {"conditions": [{"type": "Ready", "status": "False"}]}}
        ]});
        let t = Template::parse("{.items[*].metadata.name}").unwrap();
        assert_eq!(t.render(&v), "a b");
        let t = Template::parse("{range .items[*]}{.metadata.name}{\"\\n\"}{end}").unwrap();
        assert_eq!(t.render(&v), "a\nb\n");
        let t =
            Template::parse("{.items[?(@.status.conditions[0].status==\"True\")].metadata.name}")
                .unwrap();
        assert_eq!(t.render(&v), "a");
        let t = Template::parse("x={.items[-1].metadata['name']}").unwrap();
        assert_eq!(t.render(&v), "x=b");
        let t = Template::parse("{..name}").unwrap();
        assert_eq!(t.render(&v), "a b");
        assert_eq!(relaxed(".metadata.name"), "{.metadata.name}");
    }
}
