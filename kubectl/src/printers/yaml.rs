//! YAML output byte-for-byte like upstream kubectl's.
//!
//! Upstream turns an object into JSON and then into YAML with go-yaml v2, so
//! its output has a particular shape that `serde_yaml_ng` does not reproduce:
//! keys sorted, sequences not indented under their key, strings that would
//! read back as something else (`"80"`, `"true"`, timestamps, `""`)
//! double-quoted, strings starting with an indicator single-quoted, strings
//! with newlines as literal blocks, and long plain or quoted strings folded
//! at the first space after column 80. This emitter implements those rules
//! for JSON values (the only input kubectl prints).

use serde_json::Value;

/// The column after which go-yaml folds long scalars at a space.
const BEST_WIDTH: usize = 80;

/// Renders a value as upstream's YAML (ends with a newline).
pub fn to_string(v: &Value) -> String {
    let mut e = Emitter { out: String::new() };
    match v {
        Value::Object(m) if !m.is_empty() => e.mapping(v, 0),
        Value::Array(a) if !a.is_empty() => e.sequence(v, 0),
        other => {
            e.scalar(other, 0, true);
            e.out.push('\n');
        }
    }
    e.out
}

struct Emitter {
    out: String,
}

impl Emitter {
    fn column(&self) -> usize {
        let line = self.out.rsplit('\n').next().unwrap_or("");
        line.chars().count()
    }

    fn indent(&mut self, n: usize) {
        for _ in 0..n {
            self.out.push(' ');
        }
    }

    /// A block mapping whose keys start at `indent` (the first key is
    /// written where the cursor is).
    fn mapping(&mut self, v: &Value, indent: usize) {
        let Value::Object(m) = v else { return };
        let mut keys: Vec<&String> = m.keys().collect();
        keys.sort();
        for (i, k) in keys.into_iter().enumerate() {
            if i > 0 {
                self.indent(indent);
            }
            self.string(k, indent, false);
            self.out.push(':');
            self.value_after_key(&m[k.as_str()], indent);
        }
    }

    fn value_after_key(&mut self, v: &Value, indent: usize) {
        match v {
            Value::Object(m) if !m.is_empty() => {
                self.out.push('\n');
                self.indent(indent + 2);
                self.mapping(v, indent + 2);
            }
            Value::Array(a) if !a.is_empty() => {
                // go-yaml v2 does not indent a sequence under its key.
                self.out.push('\n');
                self.indent(indent);
                self.sequence(v, indent);
            }
            other => {
                self.out.push(' ');
                self.scalar(other, indent + 2, true);
                self.out.push('\n');
            }
        }
    }

    fn sequence(&mut self, v: &Value, indent: usize) {
        let Value::Array(items) = v else { return };
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                self.indent(indent);
            }
            self.out.push_str("- ");
            match item {
                Value::Object(m) if !m.is_empty() => self.mapping(item, indent + 2),
                Value::Array(a) if !a.is_empty() => self.sequence(item, indent + 2),
                other => {
                    self.scalar(other, indent + 2, true);
                    self.out.push('\n');
                }
            }
        }
    }

    fn scalar(&mut self, v: &Value, indent: usize, allow_breaks: bool) {
        match v {
            Value::Null => self.out.push_str("null"),
            Value::Bool(b) => self.out.push_str(if *b { "true" } else { "false" }),
            Value::Number(n) => self.out.push_str(&number(n)),
            Value::String(s) => self.string(s, indent, allow_breaks),
            Value::Object(_) => self.out.push_str("{}"),
            Value::Array(_) => self.out.push_str("[]"),
        }
    }

    fn string(&mut self, s: &str, indent: usize, allow_breaks: bool) {
        if s.contains('\n') && allow_breaks && literal_allowed(s) {
            return self.literal(s, indent);
        }
        let style = if s.contains('\n') || resolves_to_non_string(s) {
            Style::Double
        } else {
            analyze(s)
        };
        match style {
            Style::Plain => self.plain(s, indent, allow_breaks),
            Style::Single => self.single(s, indent, allow_breaks),
            Style::Double => self.double(s, indent, allow_breaks),
        }
    }

    fn plain(&mut self, s: &str, indent: usize, allow_breaks: bool) {
        let chars: Vec<char> = s.chars().collect();
        let mut col = self.column();
        let mut prev_space = false;
        for (i, &c) in chars.iter().enumerate() {
            if c == ' ' {
                let next_space = chars.get(i + 1) == Some(&' ');
                if allow_breaks && !prev_space && col > BEST_WIDTH && !next_space {
                    self.out.push('\n');
                    self.indent(indent);
                    col = indent;
                } else {
                    self.out.push(c);
                    col += 1;
                }
                prev_space = true;
            } else {
                self.out.push(c);
                col += 1;
                prev_space = false;
            }
        }
    }

    fn single(&mut self, s: &str, indent: usize, allow_breaks: bool) {
        let chars: Vec<char> = s.chars().collect();
        self.out.push('\'');
        let mut col = self.column();
        let mut prev_space = false;
        for (i, &c) in chars.iter().enumerate() {
            if c == ' ' {
                let next_space = chars.get(i + 1) == Some(&' ');
                if allow_breaks
                    && !prev_space
                    && col > BEST_WIDTH
                    && i != 0
                    && i != chars.len() - 1
                    && !next_space
                {
                    self.out.push('\n');
                    self.indent(indent);
                    col = indent;
                } else {
                    self.out.push(c);
                    col += 1;
                }
                prev_space = true;
            } else {
                if c == '\'' {
                    self.out.push('\'');
                    col += 1;
                }
                self.out.push(c);
                col += 1;
                prev_space = false;
            }
        }
        self.out.push('\'');
    }

    fn double(&mut self, s: &str, indent: usize, allow_breaks: bool) {
        let chars: Vec<char> = s.chars().collect();
        self.out.push('"');
        let mut col = self.column();
        let mut prev_space = false;
        for (i, &c) in chars.iter().enumerate() {
            if c == ' ' {
                if allow_breaks && !prev_space && col > BEST_WIDTH && i != 0 && i != chars.len() - 1
                {
                    self.out.push('\n');
                    self.indent(indent);
                    col = indent;
                    if chars.get(i + 1) == Some(&' ') {
                        self.out.push('\\');
                        col += 1;
                    }
                } else {
                    self.out.push(c);
                    col += 1;
                }
                prev_space = true;
                continue;
            }
            prev_space = false;
            let esc = match c {
                '"' => Some("\\\"".to_string()),
                '\\' => Some("\\\\".to_string()),
                '\0' => Some("\\0".into()),
                '\u{7}' => Some("\\a".into()),
                '\u{8}' => Some("\\b".into()),
                '\t' => Some("\\t".into()),
                '\n' => Some("\\n".into()),
                '\u{b}' => Some("\\v".into()),
                '\u{c}' => Some("\\f".into()),
                '\r' => Some("\\r".into()),
                '\u{1b}' => Some("\\e".into()),
                '\u{85}' => Some("\\N".into()),
                '\u{a0}' => Some("\\_".into()),
                '\u{2028}' => Some("\\L".into()),
                '\u{2029}' => Some("\\P".into()),
                c if (c as u32) < 0x20 || c as u32 == 0x7f => Some(format!("\\x{:02X}", c as u32)),
                _ => None,
            };
            match esc {
                Some(e) => {
                    col += e.len();
                    self.out.push_str(&e);
                }
                None => {
                    self.out.push(c);
                    col += 1;
                }
            }
        }
        self.out.push('"');
    }

    fn literal(&mut self, s: &str, indent: usize) {
        self.out.push('|');
        if s.starts_with(' ') || s.starts_with('\n') {
            self.out.push('2');
        }
        let trailing = s.len() - s.trim_end_matches('\n').len();
        match trailing {
            0 => self.out.push('-'),
            1 => {}
            _ => self.out.push('+'),
        }
        let body = s.strip_suffix('\n').unwrap_or(s);
        for line in body.split('\n') {
            self.out.push('\n');
            if !line.is_empty() {
                self.indent(indent);
                self.out.push_str(line);
            }
        }
        // The value's own line break is added by the caller; a kept
        // trailing newline (`|+`) already produced the empty lines.
    }
}

enum Style {
    Plain,
    Single,
    Double,
}

fn literal_allowed(s: &str) -> bool {
    // Trailing spaces on a line or special characters force double quotes.
    !s.chars()
        .any(|c| (c as u32) < 0x20 && c != '\n' && c != '\t' || c == '\u{7f}' || c == '\u{feff}')
        && !s.split('\n').any(|l| l.ends_with(' '))
}

/// go-yaml's scalar analysis: can it be plain, or must it be quoted?
fn analyze(s: &str) -> Style {
    if s.is_empty() {
        return Style::Double;
    }
    let chars: Vec<char> = s.chars().collect();
    if chars
        .iter()
        .any(|&c| ((c as u32) < 0x20 && c != '\t') || c == '\u{7f}' || c == '\u{feff}')
        || chars.contains(&'\t')
    {
        return Style::Double;
    }
    let mut block_plain = true;
    if s.starts_with("---") || s.starts_with("...") {
        block_plain = false;
    }
    let ws = |i: usize| i >= chars.len() || chars[i] == ' ';
    for (i, &c) in chars.iter().enumerate() {
        if i == 0 {
            match c {
                '#' | ',' | '[' | ']' | '{' | '}' | '&' | '*' | '!' | '|' | '>' | '\'' | '"'
                | '%' | '@' | '`' => block_plain = false,
                '?' | ':' if ws(1) => block_plain = false,
                '-' if ws(1) => block_plain = false,
                _ => {}
            }
        } else {
            match c {
                ':' if ws(i + 1) => block_plain = false,
                '#' if chars[i - 1] == ' ' => block_plain = false,
                _ => {}
            }
        }
    }
    if chars[0] == ' ' || chars[chars.len() - 1] == ' ' {
        block_plain = false;
    }
    if block_plain {
        Style::Plain
    } else {
        Style::Single
    }
}

/// Whether a plain scalar would be read back as null, bool, number or timestamp.
fn resolves_to_non_string(s: &str) -> bool {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return true,
        "y" | "Y" | "yes" | "Yes" | "YES" | "n" | "N" | "no" | "No" | "NO" | "true" | "True"
        | "TRUE" | "false" | "False" | "FALSE" | "on" | "On" | "ON" | "off" | "Off" | "OFF" => {
            return true
        }
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" | "-.inf" | "-.Inf" | "-.INF"
        | ".nan" | ".NaN" | ".NAN" => return true,
        _ => {}
    }
    let first = s.chars().next().unwrap_or(' ');
    if !(first.is_ascii_digit() || matches!(first, '+' | '-' | '.')) {
        return false;
    }
    is_int(s) || is_float(s) || is_timestamp(s) || is_base60(s)
}

fn is_int(s: &str) -> bool {
    let t = s.replace('_', "");
    let t = t.strip_prefix(['+', '-']).unwrap_or(&t);
    if let Some(h) = t.strip_prefix("0x") {
        return !h.is_empty() && h.chars().all(|c| c.is_ascii_hexdigit());
    }
    if let Some(b) = t.strip_prefix("0b") {
        return !b.is_empty() && b.chars().all(|c| c == '0' || c == '1');
    }
    !t.is_empty() && t.chars().all(|c| c.is_ascii_digit())
}

fn is_float(s: &str) -> bool {
    // YAML 1.1 float: [-+]?([0-9][0-9_]*)?\.[0-9.]*([eE][-+][0-9]+)?, and Go's ParseFloat.
    let t = s.replace('_', "");
    let body = t.strip_prefix(['+', '-']).unwrap_or(&t);
    if body.is_empty() {
        return false;
    }
    if body
        .chars()
        .all(|c| c.is_ascii_digit() || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-')
    {
        return t.parse::<f64>().is_ok();
    }
    false
}

fn is_timestamp(s: &str) -> bool {
    // The forms go-yaml v2 resolves: a date, or a date with a time.
    let b = s.as_bytes();
    if b.len() < 10 {
        return false;
    }
    let date_ok = b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && b[5].is_ascii_digit()
        && b[6] == b'-'
        && b[7].is_ascii_digit()
        && b[8].is_ascii_digit()
        && b[9].is_ascii_digit()
        || chrono::NaiveDate::parse_from_str(&s[..s.len().min(10)], "%Y-%m-%d").is_ok();
    if !date_ok {
        return false;
    }
    if b.len() == 10 {
        return chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok();
    }
    chrono::DateTime::parse_from_rfc3339(s).is_ok()
        || chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f").is_ok()
        || chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f").is_ok()
        || chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dt%H:%M:%S%.f").is_ok()
}

fn is_base60(s: &str) -> bool {
    // [-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?
    let t = s.strip_prefix(['+', '-']).unwrap_or(s);
    let (main, _frac) = t.split_once('.').unwrap_or((t, ""));
    let mut parts = main.split(':');
    let head = parts.next().unwrap_or("");
    if head.is_empty()
        || !head.starts_with(|c: char| c.is_ascii_digit())
        || !head.chars().all(|c| c.is_ascii_digit() || c == '_')
    {
        return false;
    }
    let rest: Vec<&str> = parts.collect();
    !rest.is_empty()
        && rest.iter().all(|p| {
            !p.is_empty()
                && p.len() <= 2
                && p.chars().all(|c| c.is_ascii_digit())
                && (p.len() < 2 || p.as_bytes()[0] <= b'5')
        })
}

fn number(n: &serde_json::Number) -> String {
    if n.is_i64() || n.is_u64() {
        return n.to_string();
    }
    let f = n.as_f64().unwrap_or(0.0);
    if f.fract() == 0.0 && f.abs() < 1e21 {
        // Go prints 3.0 as 3 (strconv 'g' with the shortest representation).
        return format!("{}", f as i64);
    }
    let s = format!("{f}");
    if s.contains('e') {
        s.replace("e", "e+").replace("e+-", "e-")
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn shapes_like_go_yaml() {
        let v = json!({
            "metadata": {"name": "web", "labels": {"app": "web"}, "creationTimestamp": "2024-01-01T00:00:00Z",
                          "annotations": {"a": "80", "b": "", "c": "{\"x\":1}\n", "d": "true", "e": "*star"}},
            "spec": {"containers": [{"name": "c", "ports": [{"containerPort": 80}], "args": ["-c", "a: b"]}], "empty": {}, "none": []},
            "kind": "Pod"
        });
        let want = "kind: Pod
metadata:
  annotations:
    a: \"80\"
    b: \"\"
    c: |
      {\"x\":1}
    d: \"true\"
    e: '*star'
  creationTimestamp: \"2024-01-01T00:00:00Z\"
  labels:
    app: web
  name: web
spec:
  containers:
  - args:
    - -c
    - 'a: b'
    name: c
    ports:
    - containerPort: 80
  empty: {}
  none: []
";
        assert_eq!(to_string(&v), want);
    }

    #[test]
    fn folds_long_strings_after_column_80() {
        let msg = "0/1 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/not-ready: }. preemption: 0/1 nodes";
        let v = json!({"status": {"message": msg}});
        let out = to_string(&v);
        assert_eq!(
            out,
            "status:\n  message: '0/1 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/not-ready:\n    }. preemption: 0/1 nodes'\n"
        );
    }

    #[test]
    fn literal_chomping() {
        assert_eq!(to_string(&json!({"a": "x\ny"})), "a: |-\n  x\n  y\n");
        assert_eq!(to_string(&json!({"a": "x\n"})), "a: |\n  x\n");
    }

    #[test]
    fn numbers_and_strings_that_look_like_them() {
        assert_eq!(
            to_string(
                &json!({"a": 1, "b": "1.5", "c": "0x1F", "d": "1:20", "e": "v1.2.3", "f": "-", "g": "- x"})
            ),
            "a: 1\nb: \"1.5\"\nc: \"0x1F\"\nd: \"1:20\"\ne: v1.2.3\nf: '-'\ng: '- x'\n"
        );
    }
}
