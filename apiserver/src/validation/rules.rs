//! Field rules addressed by JSON pointer (`/spec/roleRef/name`), shared by
//! the kinds whose validation is a list of "required", "one of", "at least"
//! and "immutable" checks. The pointer names the field in the error too:
//! `/spec/rules/0/host` is reported as `spec.rules[0].host`, as upstream
//! writes field paths.

use serde_json::Value;

use super::{immutable, invalid, not_supported, required, FieldError};

/// The field path of a JSON pointer: dots between names, `[i]` for indices.
pub fn field_path(pointer: &str) -> String {
    let mut out = String::new();
    for seg in pointer.split('/').skip(1) {
        if !seg.is_empty() && seg.bytes().all(|b| b.is_ascii_digit()) {
            out.push_str(&format!("[{seg}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(seg);
        }
    }
    out
}

/// Whether the field is absent or null.
fn missing(obj: &Value, pointer: &str) -> bool {
    obj.pointer(pointer).is_none_or(Value::is_null)
}

/// The field must be set (to anything but null).
pub fn require(obj: &Value, pointer: &str, errs: &mut Vec<FieldError>) {
    if missing(obj, pointer) {
        errs.push(required(field_path(pointer)));
    }
}

/// The field must be a non-empty string (or a non-empty list or map).
pub fn require_nonempty(obj: &Value, pointer: &str, errs: &mut Vec<FieldError>) {
    let empty = match obj.pointer(pointer) {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.is_empty(),
        Some(Value::Array(a)) => a.is_empty(),
        Some(Value::Object(m)) => m.is_empty(),
        Some(_) => false,
    };
    if empty {
        errs.push(required(field_path(pointer)));
    }
}

/// When set, the field must be one of `allowed`.
pub fn one_of(obj: &Value, pointer: &str, allowed: &[&str], errs: &mut Vec<FieldError>) {
    if let Some(v) = obj.pointer(pointer) {
        if !v.is_null() && !v.as_str().is_some_and(|s| allowed.contains(&s)) {
            errs.push(not_supported(field_path(pointer), v, allowed));
        }
    }
}

/// When set, the number must be at least `min`.
pub fn at_least(obj: &Value, pointer: &str, min: i64, errs: &mut Vec<FieldError>) {
    if let Some(n) = obj.pointer(pointer).and_then(Value::as_i64) {
        if n < min {
            let detail = match min {
                0 => "must be greater than or equal to 0".to_string(),
                1 => "must be greater than zero".to_string(),
                _ => format!("must be greater than or equal to {min}"),
            };
            errs.push(invalid(field_path(pointer), &Value::from(n), &detail));
        }
    }
}

/// Every field of `pointers` keeps its stored value.
pub fn unchanged(new: &Value, old: &Value, pointers: &[&str], errs: &mut Vec<FieldError>) {
    for p in pointers {
        let n = new.pointer(p).unwrap_or(&Value::Null);
        if n != old.pointer(p).unwrap_or(&Value::Null) {
            errs.push(immutable(field_path(p), n));
        }
    }
}

/// Why `name` is not a valid port name (an IANA service name: at most 15
/// of `a-z0-9-`, a letter among them, no `--`, no hyphen at either end),
/// in upstream's words; empty when it is one.
pub fn port_name_problems(name: &str) -> Vec<&'static str> {
    let mut out = Vec::new();
    if name.len() > 15 {
        out.push("must be no more than 15 characters");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        out.push("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)");
    }
    if !name.bytes().any(|b| b.is_ascii_lowercase()) {
        out.push("must contain at least one letter (a-z)");
    }
    if name.contains("--") {
        out.push("must not contain consecutive hyphens");
    }
    if name.starts_with('-') || name.ends_with('-') {
        out.push("must not begin or end with a hyphen");
    }
    out
}

/// Each item of the list at `pointer`, with its own pointer.
pub fn items<'a>(obj: &'a Value, pointer: &str) -> Vec<(String, &'a Value)> {
    obj.pointer(pointer)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .enumerate()
                .map(|(i, v)| (format!("{pointer}/{i}"), v))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_read_like_upstream() {
        assert_eq!(field_path("/spec/rules/0/host"), "spec.rules[0].host");
        assert_eq!(field_path("/roleRef"), "roleRef");
    }

    #[test]
    fn rules_report_the_field() {
        let obj = json!({"spec": {"a": "", "b": "x", "n": 0, "list": [{"k": 1}]}});
        let mut errs = Vec::new();
        require_nonempty(&obj, "/spec/a", &mut errs);
        require(&obj, "/spec/c", &mut errs);
        one_of(&obj, "/spec/b", &["y", "z"], &mut errs);
        at_least(&obj, "/spec/n", 1, &mut errs);
        let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["spec.a", "spec.c", "spec.b", "spec.n"]);
        let mut errs = Vec::new();
        unchanged(
            &json!({"spec": {"b": "y"}}),
            &obj,
            &["/spec/b", "/spec/a"],
            &mut errs,
        );
        assert_eq!(errs.len(), 2);
        assert_eq!(items(&obj, "/spec/list")[0].0, "/spec/list/0");
    }
}
