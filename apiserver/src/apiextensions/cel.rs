//! `x-kubernetes-validations`: CEL rules in a structural schema, evaluated
//! with the `cel` crate. A rule sits on a schema node and sees that node's
//! value as `self`; a rule that mentions `oldSelf` is a transition rule,
//! evaluated only on updates where the node existed before, with its
//! previous value as `oldSelf` (`self == oldSelf` makes a field immutable).
//!
//! A rule that evaluates to `false` is a cause like upstream's:
//! `spec: Invalid value: "object": <message>` (`failed rule: <rule>` when
//! the rule gives no message), with the rule's `reason` (`FieldValueForbidden`,
//! `FieldValueRequired`, `FieldValueDuplicate`, or Invalid by default) and
//! its `fieldPath` appended to the node's path. A rule that cannot be
//! evaluated (an error, or a result that is not a bool) fails the same way
//! with the error, so a broken rule never lets an object through.

use cel::{Context, Program, Value as CelValue};
use serde_json::Value;

use super::schema::type_name;
use crate::validation::{FieldError, FieldErrorKind};

/// Which rules to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rules {
    /// Rules that do not mention `oldSelf` (create and update).
    Plain,
    /// Transition rules (update only), with the previous object.
    Transition,
}

/// Every rule of `schema` that `obj` breaks; `old` is the previous object
/// for [`Rules::Transition`].
pub fn validate(schema: &Value, obj: &Value, old: Option<&Value>, which: Rules) -> Vec<FieldError> {
    let mut errs = Vec::new();
    walk(schema, obj, old, "", which, &mut errs);
    errs
}

/// Whether `rule` compiles (a CRD with a rule that does not is refused).
pub fn compile_error(rule: &str) -> Option<String> {
    Program::compile(rule).err().map(|e| e.to_string())
}

/// Every rule in a schema, with the path of the rule in the schema, for
/// checking a CRD.
pub fn rules_of(schema: &Value, path: &str, out: &mut Vec<(String, String)>) {
    if let Some(rules) = schema
        .get("x-kubernetes-validations")
        .and_then(Value::as_array)
    {
        for (i, r) in rules.iter().enumerate() {
            if let Some(rule) = r.get("rule").and_then(Value::as_str) {
                out.push((
                    format!("{path}.x-kubernetes-validations[{i}].rule"),
                    rule.to_string(),
                ));
            }
        }
    }
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        for (k, s) in props {
            rules_of(s, &format!("{path}.properties[{k}]"), out);
        }
    }
    for key in ["items", "additionalProperties"] {
        if let Some(s) = schema.get(key).filter(|s| s.is_object()) {
            rules_of(s, &format!("{path}.{key}"), out);
        }
    }
}

fn child(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_string()
    } else {
        format!("{path}.{name}")
    }
}

fn walk(
    schema: &Value,
    v: &Value,
    old: Option<&Value>,
    path: &str,
    which: Rules,
    errs: &mut Vec<FieldError>,
) {
    if !schema.is_object() || v.is_null() {
        return;
    }
    if let Some(rules) = schema
        .get("x-kubernetes-validations")
        .and_then(Value::as_array)
    {
        for rule in rules {
            check(rule, v, old, path, which, errs);
        }
    }
    match v {
        Value::Object(map) => {
            let props = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties").filter(|a| a.is_object());
            for (k, val) in map {
                if path.is_empty() && matches!(k.as_str(), "apiVersion" | "kind" | "metadata") {
                    continue;
                }
                let s = props.and_then(|p| p.get(k)).or(additional);
                if let Some(s) = s {
                    let o = old.and_then(|o| o.get(k));
                    walk(s, val, o, &child(path, k), which, errs);
                }
            }
        }
        Value::Array(items) => {
            if let Some(s) = schema.get("items") {
                // Items are matched to their old selves only by position
                // when the list is atomic-free (upstream correlates map
                // lists by key; here only plain rules see items).
                for (i, item) in items.iter().enumerate() {
                    walk(s, item, None, &format!("{path}[{i}]"), which, errs);
                }
            }
        }
        _ => {}
    }
}

fn check(
    rule: &Value,
    v: &Value,
    old: Option<&Value>,
    path: &str,
    which: Rules,
    errs: &mut Vec<FieldError>,
) {
    let Some(text) = rule.get("rule").and_then(Value::as_str) else {
        return;
    };
    let program = match Program::compile(text) {
        Ok(p) => p,
        Err(e) => {
            errs.push(failure(rule, v, path, &format!("compilation failed: {e}")));
            return;
        }
    };
    let transition = program.references().has_variable("oldSelf");
    match (which, transition, old) {
        (Rules::Plain, false, _) => {}
        (Rules::Transition, true, Some(_)) => {}
        _ => return,
    }
    let mut ctx = Context::default();
    ctx.add_variable_from_value("self", json_to_cel(v));
    if let Some(o) = old {
        ctx.add_variable_from_value("oldSelf", json_to_cel(o));
    }
    let message = match program.execute(&ctx) {
        Ok(CelValue::Bool(true)) => return,
        Ok(CelValue::Bool(false)) => rule
            .get("message")
            .and_then(Value::as_str)
            .filter(|m| !m.is_empty())
            .map(str::to_string)
            .unwrap_or_else(|| format!("failed rule: {text}")),
        Ok(other) => format!("rule {text:?} did not evaluate to a bool: {other:?}"),
        Err(e) => format!("rule {text:?} could not be evaluated: {e}"),
    };
    errs.push(failure(rule, v, path, &message));
}

fn failure(rule: &Value, v: &Value, path: &str, message: &str) -> FieldError {
    let field = match rule.get("fieldPath").and_then(Value::as_str) {
        Some(fp) if !fp.is_empty() => {
            let fp = fp.trim_start_matches('.');
            child(path, fp)
        }
        _ => path.to_string(),
    };
    let (kind, text) = match rule.get("reason").and_then(Value::as_str) {
        Some("FieldValueForbidden") => (FieldErrorKind::Forbidden, format!("Forbidden: {message}")),
        Some("FieldValueRequired") => (
            FieldErrorKind::Required,
            format!("Required value: {message}"),
        ),
        Some("FieldValueDuplicate") => (
            FieldErrorKind::Duplicate,
            format!("Duplicate value: \"{}\": {message}", type_name(v)),
        ),
        _ => (
            FieldErrorKind::Invalid,
            format!("Invalid value: \"{}\": {message}", type_name(v)),
        ),
    };
    FieldError {
        kind,
        field,
        message: text,
    }
}

/// A JSON value as CEL sees a Kubernetes object: whole numbers are `int`
/// (as upstream's typed values are; a generic conversion would make every
/// non-negative number a `uint`, and `3 % 2` between the two types fails),
/// other numbers `double`.
pub fn json_to_cel(v: &Value) -> CelValue {
    use std::sync::Arc;
    match v {
        Value::Null => CelValue::Null,
        Value::Bool(b) => CelValue::Bool(*b),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => CelValue::Int(i),
            (None, Some(u)) => CelValue::UInt(u),
            _ => CelValue::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => CelValue::String(Arc::new(s.clone())),
        Value::Array(items) => CelValue::List(Arc::new(items.iter().map(json_to_cel).collect())),
        Value::Object(map) => {
            let entries: std::collections::HashMap<cel::objects::Key, CelValue> = map
                .iter()
                .map(|(k, v)| {
                    (
                        cel::objects::Key::String(Arc::new(k.clone())),
                        json_to_cel(v),
                    )
                })
                .collect();
            CelValue::Map(cel::objects::Map {
                map: Arc::new(entries),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_numbers_are_cel_ints() {
        let obj = serde_json::json!({"spec": {"replicas": 3, "ratio": 0.5, "name": "x"}});
        let mut ctx = Context::default();
        ctx.add_variable_from_value("self", json_to_cel(&obj));
        for (expr, want) in [
            ("self.spec.replicas % 2 == 1", true),
            ("self.spec.replicas > 2", true),
            ("self.spec.ratio < 1.0", true),
            ("self.spec.name == 'x'", true),
        ] {
            let program = Program::compile(expr).expect("compiles");
            assert_eq!(
                program.execute(&ctx).expect("evaluates"),
                CelValue::Bool(want),
                "{expr}"
            );
        }
    }
    use serde_json::json;

    fn schema() -> Value {
        json!({"type": "object", "properties": {"spec": {
        "type": "object",
        "x-kubernetes-validations": [
            {"rule": "self.min <= self.max", "message": "min must not exceed max"},
            {"rule": "self.mode == oldSelf.mode", "message": "mode is immutable"},
            {"rule": "!has(self.legacy)", "reason": "FieldValueForbidden",
             "fieldPath": ".legacy", "message": "legacy is gone"}
        ],
        "properties": {
            "min": {"type": "integer"}, "max": {"type": "integer"},
            "mode": {"type": "string"}, "legacy": {"type": "string"},
            "name": {"type": "string",
                     "x-kubernetes-validations": [{"rule": "self.startsWith('w-')"}]}
        }}}})
    }

    fn messages(errs: Vec<FieldError>) -> Vec<String> {
        errs.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn plain_rules() {
        let ok = json!({"spec": {"min": 1, "max": 2, "mode": "a", "name": "w-1"}});
        assert!(validate(&schema(), &ok, None, Rules::Plain).is_empty());
        let bad = json!({"spec": {"min": 3, "max": 2, "legacy": "x", "name": "x"}});
        assert_eq!(
            messages(validate(&schema(), &bad, None, Rules::Plain)),
            vec![
                "spec: Invalid value: \"object\": min must not exceed max",
                "spec.legacy: Forbidden: legacy is gone",
                "spec.name: Invalid value: \"string\": failed rule: self.startsWith('w-')",
            ]
        );
    }

    #[test]
    fn transition_rules_see_the_old_object() {
        let old = json!({"spec": {"min": 1, "max": 2, "mode": "a"}});
        let new = json!({"spec": {"min": 1, "max": 2, "mode": "b"}});
        assert!(validate(&schema(), &new, None, Rules::Transition).is_empty());
        assert_eq!(
            messages(validate(&schema(), &new, Some(&old), Rules::Transition)),
            vec!["spec: Invalid value: \"object\": mode is immutable"]
        );
        assert!(validate(&schema(), &old, Some(&old), Rules::Transition).is_empty());
        assert!(compile_error("self.a ==").is_some());
        assert!(compile_error("self.a == 1").is_none());
    }
}
