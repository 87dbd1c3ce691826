//! The JSONPath subset of `additionalPrinterColumns` (and of
//! `selectableFields`): `.spec.replicas`, `.metadata.labels['app.kubernetes.io/name']`,
//! `.spec.items[0].name`, `.spec.items[*].name` and filters such as
//! `.status.conditions[?(@.type=="Ready")].status`, optionally wrapped in
//! `{...}` as kubectl writes them. Evaluating never fails: a path that
//! leads nowhere gives no values (an empty cell).

use serde_json::Value;

/// One step of a path.
#[derive(Debug, Clone, PartialEq)]
enum Step {
    /// A member of an object.
    Field(String),
    /// An element of an array (negative: from the end).
    Index(i64),
    /// Every element of an array or every value of an object.
    All,
    /// The elements of an array whose `@.<path>` equals (or differs from) a
    /// literal.
    Filter {
        path: Vec<Step>,
        equal: bool,
        value: Value,
    },
}

/// A parsed path.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonPath {
    steps: Vec<Step>,
}

/// Why a path does not parse (the CRD's validation reports it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unsupported JSONPath {path:?}: {reason}")]
pub struct ParseError {
    path: String,
    reason: String,
}

impl JsonPath {
    /// Parses a path.
    pub fn parse(text: &str) -> Result<JsonPath, ParseError> {
        let err = |reason: &str| ParseError {
            path: text.to_string(),
            reason: reason.to_string(),
        };
        let mut t = text.trim();
        if let Some(inner) = t.strip_prefix('{').and_then(|r| r.strip_suffix('}')) {
            t = inner.trim();
        }
        let t = t.strip_prefix('$').unwrap_or(t);
        let steps = parse_steps(t).map_err(|r| err(&r))?;
        Ok(JsonPath { steps })
    }

    /// Every value the path leads to.
    pub fn evaluate<'a>(&self, obj: &'a Value) -> Vec<&'a Value> {
        let mut current = vec![obj];
        for step in &self.steps {
            let mut next = Vec::new();
            for v in current {
                apply(step, v, &mut next);
            }
            current = next;
        }
        current
    }

    /// The first value the path leads to.
    pub fn first<'a>(&self, obj: &'a Value) -> Option<&'a Value> {
        self.evaluate(obj).into_iter().next()
    }
}

fn apply<'a>(step: &Step, v: &'a Value, out: &mut Vec<&'a Value>) {
    match step {
        Step::Field(name) => {
            if let Some(x) = v.get(name.as_str()) {
                out.push(x);
            }
        }
        Step::Index(i) => {
            if let Some(items) = v.as_array() {
                let idx = if *i < 0 { items.len() as i64 + i } else { *i };
                if let Some(x) = usize::try_from(idx).ok().and_then(|i| items.get(i)) {
                    out.push(x);
                }
            }
        }
        Step::All => match v {
            Value::Array(items) => out.extend(items.iter()),
            Value::Object(map) => out.extend(map.values()),
            _ => {}
        },
        Step::Filter { path, equal, value } => {
            if let Some(items) = v.as_array() {
                for item in items {
                    let mut found = vec![item];
                    for s in path {
                        let mut next = Vec::new();
                        for x in found {
                            apply(s, x, &mut next);
                        }
                        found = next;
                    }
                    let matches = found.first().is_some_and(|f| literal_eq(f, value));
                    if matches == *equal && (!found.is_empty() || !*equal) {
                        out.push(item);
                    }
                }
            }
        }
    }
}

fn literal_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

fn parse_steps(mut t: &str) -> Result<Vec<Step>, String> {
    let mut steps = Vec::new();
    while !t.is_empty() {
        if let Some(rest) = t.strip_prefix('.') {
            let end = rest.find(['.', '[']).unwrap_or(rest.len());
            let name = &rest[..end];
            if name.is_empty() {
                if rest.is_empty() {
                    break;
                }
                return Err("empty field name".into());
            }
            steps.push(if name == "*" {
                Step::All
            } else {
                Step::Field(name.to_string())
            });
            t = &rest[end..];
        } else if let Some(rest) = t.strip_prefix('[') {
            let end = closing_bracket(rest).ok_or("unclosed [")?;
            let inner = rest[..end].trim();
            t = &rest[end + 1..];
            steps.push(parse_bracket(inner)?);
        } else {
            // A bare first field (`spec.replicas`).
            let end = t.find(['.', '[']).unwrap_or(t.len());
            steps.push(Step::Field(t[..end].to_string()));
            t = &t[end..];
        }
    }
    Ok(steps)
}

/// The index of the `]` closing a bracket, skipping quoted text.
fn closing_bracket(s: &str) -> Option<usize> {
    let mut quote = None;
    let mut depth = 0;
    for (i, c) in s.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '[') => depth += 1,
            (None, ']') if depth == 0 => return Some(i),
            (None, ']') => depth -= 1,
            _ => {}
        }
    }
    None
}

fn parse_bracket(inner: &str) -> Result<Step, String> {
    if inner == "*" {
        return Ok(Step::All);
    }
    if let Some(q) = unquote(inner) {
        return Ok(Step::Field(q));
    }
    if let Ok(i) = inner.parse::<i64>() {
        return Ok(Step::Index(i));
    }
    if let Some(f) = inner.strip_prefix("?(").and_then(|r| r.strip_suffix(')')) {
        let (lhs, equal, rhs) = if let Some((l, r)) = f.split_once("!=") {
            (l, false, r)
        } else if let Some((l, r)) = f.split_once("==") {
            (l, true, r)
        } else {
            return Err(format!("unsupported filter {f:?}"));
        };
        let lhs = lhs
            .trim()
            .strip_prefix('@')
            .ok_or("a filter starts with @")?;
        let rhs = rhs.trim();
        let value = match unquote(rhs) {
            Some(s) => Value::String(s),
            None => serde_json::from_str(rhs).map_err(|_| format!("bad literal {rhs:?}"))?,
        };
        return Ok(Step::Filter {
            path: parse_steps(lhs)?,
            equal,
            value,
        });
    }
    Err(format!("unsupported subscript [{inner}]"))
}

fn unquote(s: &str) -> Option<String> {
    let s = s.trim();
    for q in ['\'', '"'] {
        if s.len() >= 2 && s.starts_with(q) && s.ends_with(q) {
            return Some(s[1..s.len() - 1].to_string());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn eval(path: &str, obj: &Value) -> Vec<Value> {
        match JsonPath::parse(path) {
            Ok(p) => p.evaluate(obj).into_iter().cloned().collect(),
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn paths_of_printer_columns() {
        let obj = json!({
            "metadata": {"labels": {"app.kubernetes.io/name": "web"}},
            "spec": {"replicas": 3, "items": [{"name": "a"}, {"name": "b"}]},
            "status": {"conditions": [
                {"type": "Progressing", "status": "True"},
                {"type": "Ready", "status": "False"}
            ]}
        });
        assert_eq!(eval(".spec.replicas", &obj), vec![json!(3)]);
        assert_eq!(eval("{.spec.replicas}", &obj), vec![json!(3)]);
        assert_eq!(
            eval(".metadata.labels['app.kubernetes.io/name']", &obj),
            vec![json!("web")]
        );
        assert_eq!(eval(".spec.items[1].name", &obj), vec![json!("b")]);
        assert_eq!(eval(".spec.items[-1].name", &obj), vec![json!("b")]);
        assert_eq!(
            eval(".spec.items[*].name", &obj),
            vec![json!("a"), json!("b")]
        );
        assert_eq!(
            eval(".status.conditions[?(@.type==\"Ready\")].status", &obj),
            vec![json!("False")]
        );
        assert!(eval(".spec.missing.deeper", &obj).is_empty());
        assert!(JsonPath::parse(".spec[").is_err());
    }
}
