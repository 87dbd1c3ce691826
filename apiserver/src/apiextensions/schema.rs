//! Validating a custom object against its version's structural schema
//! (`openAPIV3Schema`), with upstream's field paths and messages: a 422
//! whose causes read `spec.replicas: Invalid value: "string":
//! spec.replicas in body must be of type integer: "string"`, `spec.color:
//! Unsupported value: "purple": supported values: "red", "green"`,
//! `spec.image: Required value`.
//!
//! The schema stays JSON: the walk reads the keywords a structural schema
//! may use (`type`, `properties`, `additionalProperties`, `items`,
//! `required`, `enum`, `pattern`, `minimum`/`maximum` and their exclusive
//! forms, `multipleOf`, `minLength`/`maxLength`, `minItems`/`maxItems`,
//! `minProperties`/`maxProperties`, `nullable`, `allOf`/`anyOf`/`oneOf`/`not`,
//! `x-kubernetes-int-or-string`, `x-kubernetes-preserve-unknown-fields`,
//! `x-kubernetes-embedded-resource`, `x-kubernetes-list-type: set|map`).
//! `apiVersion`, `kind` and `metadata` of the object itself are the
//! server's business (checked like any object's), not the schema's.

use std::collections::HashSet;

use serde_json::Value;

use crate::validation::{FieldError, FieldErrorKind};

/// Every rule of `schema` that `obj` (a whole custom object) breaks.
pub fn validate(schema: &Value, obj: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    walk(schema, obj, "", true, &mut errs);
    errs
}

fn child(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_string()
    } else {
        format!("{path}.{name}")
    }
}

/// The JSON type name of a value as upstream reports it.
pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if is_integer(n) => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn is_integer(n: &serde_json::Number) -> bool {
    n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0)
}

/// A number as Go's `%v` prints a float64 (`0`, `1.5`).
fn num(v: &Value) -> String {
    match v.as_f64() {
        Some(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", f as i64),
        Some(f) => format!("{f}"),
        None => v.to_string(),
    }
}

fn err(kind: FieldErrorKind, field: &str, message: String) -> FieldError {
    FieldError {
        kind,
        field: field.to_string(),
        message,
    }
}

fn invalid(field: &str, value: &Value, detail: String) -> FieldError {
    err(
        FieldErrorKind::Invalid,
        field,
        format!("Invalid value: {value}: {detail}"),
    )
}

fn type_matches(ty: &str, v: &Value) -> bool {
    match ty {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "boolean" => v.is_boolean(),
        "number" => v.is_number(),
        "integer" => matches!(v, Value::Number(n) if is_integer(n)),
        _ => true,
    }
}

fn flag(schema: &Value, key: &str) -> bool {
    schema.get(key).and_then(Value::as_bool).unwrap_or(false)
}

fn walk(schema: &Value, v: &Value, path: &str, root: bool, errs: &mut Vec<FieldError>) {
    if !schema.is_object() {
        return;
    }
    let name = if path.is_empty() { "." } else { path };
    if v.is_null() {
        if flag(schema, "nullable") {
            return;
        }
        if let Some(ty) = schema.get("type").and_then(Value::as_str) {
            errs.push(err(
                FieldErrorKind::TypeInvalid,
                path,
                format!("Invalid value: \"null\": {name} in body must be of type {ty}: \"null\""),
            ));
            return;
        }
    }
    if flag(schema, "x-kubernetes-int-or-string") {
        if !(v.is_string() || matches!(v, Value::Number(n) if is_integer(n))) {
            let got = type_name(v);
            errs.push(err(
                FieldErrorKind::TypeInvalid,
                path,
                format!("Invalid value: \"{got}\": {name} in body must be of type integer,string: \"{got}\""),
            ));
            return;
        }
    } else if let Some(ty) = schema.get("type").and_then(Value::as_str) {
        if !type_matches(ty, v) {
            let got = type_name(v);
            errs.push(err(
                FieldErrorKind::TypeInvalid,
                path,
                format!("Invalid value: \"{got}\": {name} in body must be of type {ty}: \"{got}\""),
            ));
            return;
        }
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array) {
        if !allowed.contains(v) {
            let list: Vec<String> = allowed
                .iter()
                .map(|a| match a {
                    Value::String(s) => format!("{s:?}"),
                    other => other.to_string(),
                })
                .collect();
            errs.push(err(
                FieldErrorKind::NotSupported,
                path,
                format!(
                    "Unsupported value: {v}: supported values: {}",
                    list.join(", ")
                ),
            ));
        }
    }
    match v {
        Value::String(s) => strings(schema, s, v, path, name, errs),
        Value::Number(_) => numbers(schema, v, path, name, errs),
        Value::Array(items) => arrays(schema, items, v, path, name, errs),
        Value::Object(map) => objects(schema, map, path, name, root, errs),
        _ => {}
    }
    combinators(schema, v, path, name, root, errs);
}

fn strings(schema: &Value, s: &str, v: &Value, path: &str, name: &str, errs: &mut Vec<FieldError>) {
    let len = s.chars().count() as u64;
    if let Some(max) = schema.get("maxLength").and_then(Value::as_u64) {
        if len > max {
            let unit = if max == 1 { "byte" } else { "bytes" };
            errs.push(err(
                FieldErrorKind::TooLong,
                path,
                format!("Too long: may not be more than {max} {unit}"),
            ));
        }
    }
    if let Some(min) = schema.get("minLength").and_then(Value::as_u64) {
        if len < min {
            errs.push(invalid(
                path,
                v,
                format!("{name} in body should be at least {min} chars long"),
            ));
        }
    }
    if let Some(pattern) = schema.get("pattern").and_then(Value::as_str) {
        let matches = regex::Regex::new(pattern).map(|re| re.is_match(s));
        if matches.is_ok_and(|m| !m) {
            errs.push(invalid(
                path,
                v,
                format!("{name} in body should match '{pattern}'"),
            ));
        }
    }
}

fn numbers(schema: &Value, v: &Value, path: &str, name: &str, errs: &mut Vec<FieldError>) {
    let Some(x) = v.as_f64() else { return };
    if let Some(max) = schema.get("maximum").filter(|m| m.is_number()) {
        let m = max.as_f64().unwrap_or(f64::MAX);
        if flag(schema, "exclusiveMaximum") {
            if x >= m {
                errs.push(invalid(
                    path,
                    v,
                    format!("{name} in body should be less than {}", num(max)),
                ));
            }
        } else if x > m {
            errs.push(invalid(
                path,
                v,
                format!(
                    "{name} in body should be less than or equal to {}",
                    num(max)
                ),
            ));
        }
    }
    if let Some(min) = schema.get("minimum").filter(|m| m.is_number()) {
        let m = min.as_f64().unwrap_or(f64::MIN);
        if flag(schema, "exclusiveMinimum") {
            if x <= m {
                errs.push(invalid(
                    path,
                    v,
                    format!("{name} in body should be greater than {}", num(min)),
                ));
            }
        } else if x < m {
            errs.push(invalid(
                path,
                v,
                format!(
                    "{name} in body should be greater than or equal to {}",
                    num(min)
                ),
            ));
        }
    }
    if let Some(factor) = schema.get("multipleOf").and_then(Value::as_f64) {
        if factor > 0.0 && ((x / factor).round() * factor - x).abs() > 1e-9 {
            errs.push(invalid(
                path,
                v,
                format!(
                    "{name} in body should be a multiple of {}",
                    num(&schema["multipleOf"])
                ),
            ));
        }
    }
}

fn arrays(
    schema: &Value,
    items: &[Value],
    v: &Value,
    path: &str,
    name: &str,
    errs: &mut Vec<FieldError>,
) {
    let n = items.len() as u64;
    if let Some(max) = schema.get("maxItems").and_then(Value::as_u64) {
        if n > max {
            errs.push(err(
                FieldErrorKind::TooMany,
                path,
                format!("Too many: {n}: must have at most {max} items"),
            ));
        }
    }
    if let Some(min) = schema.get("minItems").and_then(Value::as_u64) {
        if n < min {
            errs.push(invalid(
                path,
                &Value::from(n),
                format!("{name} in body should have at least {min} items"),
            ));
        }
    }
    let _ = v;
    match schema.get("x-kubernetes-list-type").and_then(Value::as_str) {
        Some("set") => {
            let mut seen = HashSet::new();
            for (i, item) in items.iter().enumerate() {
                if !seen.insert(item.to_string()) {
                    errs.push(err(
                        FieldErrorKind::Duplicate,
                        &format!("{path}[{i}]"),
                        format!("Duplicate value: {item}"),
                    ));
                }
            }
        }
        Some("map") => {
            let keys: Vec<&str> = schema
                .get("x-kubernetes-list-map-keys")
                .and_then(Value::as_array)
                .map(|k| k.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let mut seen = HashSet::new();
            for (i, item) in items.iter().enumerate() {
                let key: Vec<Value> = keys
                    .iter()
                    .map(|k| item.get(*k).cloned().unwrap_or(Value::Null))
                    .collect();
                if !seen.insert(Value::Array(key.clone()).to_string()) {
                    let shown: serde_json::Map<String, Value> =
                        keys.iter().map(|k| k.to_string()).zip(key).collect();
                    errs.push(err(
                        FieldErrorKind::Duplicate,
                        &format!("{path}[{i}]"),
                        format!("Duplicate value: {}", Value::Object(shown)),
                    ));
                }
            }
        }
        _ => {}
    }
    if let Some(item_schema) = schema.get("items").filter(|s| s.is_object()) {
        for (i, item) in items.iter().enumerate() {
            walk(item_schema, item, &format!("{path}[{i}]"), false, errs);
        }
    }
}

fn objects(
    schema: &Value,
    map: &serde_json::Map<String, Value>,
    path: &str,
    name: &str,
    root: bool,
    errs: &mut Vec<FieldError>,
) {
    let skip = |k: &str| {
        (root || flag(schema, "x-kubernetes-embedded-resource"))
            && matches!(k, "apiVersion" | "kind" | "metadata")
    };
    if flag(schema, "x-kubernetes-embedded-resource") {
        for field in ["apiVersion", "kind"] {
            if map
                .get(field)
                .and_then(Value::as_str)
                .unwrap_or("")
                .is_empty()
            {
                errs.push(err(
                    FieldErrorKind::Required,
                    &child(path, field),
                    "Required value: must not be empty".into(),
                ));
            }
        }
    }
    if let Some(required) = schema.get("required").and_then(Value::as_array) {
        for r in required.iter().filter_map(Value::as_str) {
            if !map.contains_key(r) && !skip(r) {
                errs.push(err(
                    FieldErrorKind::Required,
                    &child(path, r),
                    "Required value".into(),
                ));
            }
        }
    }
    let n = map.len() as u64;
    if let Some(max) = schema.get("maxProperties").and_then(Value::as_u64) {
        if n > max {
            errs.push(err(
                FieldErrorKind::TooMany,
                path,
                format!("Too many: {n}: must have at most {max} items"),
            ));
        }
    }
    if let Some(min) = schema.get("minProperties").and_then(Value::as_u64) {
        if n < min {
            errs.push(invalid(
                path,
                &Value::from(n),
                format!("{name} in body should have at least {min} properties"),
            ));
        }
    }
    let properties = schema.get("properties").and_then(Value::as_object);
    let additional = schema.get("additionalProperties").filter(|a| a.is_object());
    for (k, val) in map {
        if skip(k) {
            continue;
        }
        match properties.and_then(|p| p.get(k)) {
            Some(s) => walk(s, val, &child(path, k), false, errs),
            None => {
                if let Some(a) = additional {
                    walk(a, val, &child(path, k), false, errs);
                }
            }
        }
    }
}

fn combinators(
    schema: &Value,
    v: &Value,
    path: &str,
    name: &str,
    root: bool,
    errs: &mut Vec<FieldError>,
) {
    let branch_errors = |s: &Value| {
        let mut e = Vec::new();
        walk(s, v, path, root, &mut e);
        e
    };
    if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
        for s in all {
            errs.extend(branch_errors(s));
        }
    }
    if let Some(any) = schema.get("anyOf").and_then(Value::as_array) {
        if !any.is_empty() && !any.iter().any(|s| branch_errors(s).is_empty()) {
            errs.push(invalid(
                path,
                v,
                format!("{name} in body must be valid against at least one of the anyOf schemas"),
            ));
        }
    }
    if let Some(one) = schema.get("oneOf").and_then(Value::as_array) {
        let ok = one.iter().filter(|s| branch_errors(s).is_empty()).count();
        if !one.is_empty() && ok != 1 {
            errs.push(invalid(
                path,
                v,
                format!("{name} in body must validate one and only one schema (oneOf)"),
            ));
        }
    }
    if let Some(not) = schema.get("not").filter(|s| s.is_object()) {
        if branch_errors(not).is_empty() {
            errs.push(invalid(
                path,
                v,
                format!("{name} in body must not validate the schema (not)"),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({
            "type": "object",
            "properties": {
                "spec": {
                    "type": "object",
                    "required": ["image"],
                    "properties": {
                        "image": {"type": "string", "minLength": 1, "maxLength": 10},
                        "replicas": {"type": "integer", "minimum": 0, "maximum": 10},
                        "color": {"type": "string", "enum": ["red", "green"]},
                        "name": {"type": "string", "pattern": "^[a-z]+$"},
                        "port": {"x-kubernetes-int-or-string": true},
                        "tags": {"type": "array", "maxItems": 2, "minItems": 1,
                                 "items": {"type": "string"}},
                        "note": {"type": "string", "nullable": true},
                        "template": {"type": "object", "x-kubernetes-embedded-resource": true,
                                     "x-kubernetes-preserve-unknown-fields": true}
                    }
                }
            }
        })
    }

    fn messages(obj: Value) -> Vec<String> {
        validate(&schema(), &obj)
            .iter()
            .map(|e| e.to_string())
            .collect()
    }

    #[test]
    fn a_valid_object_passes() {
        let obj = json!({"apiVersion": "x/v1", "kind": "W", "metadata": {"name": "w"},
            "spec": {"image": "nginx", "replicas": 3, "color": "red", "name": "abc",
                     "port": "http", "tags": ["a"], "note": null,
                     "template": {"apiVersion": "v1", "kind": "Pod", "x": 1}}});
        assert!(messages(obj).is_empty());
    }

    #[test]
    fn upstream_messages() {
        let got = messages(json!({"spec": {"replicas": "three"}}));
        assert_eq!(
            got,
            vec![
                "spec.image: Required value",
                "spec.replicas: Invalid value: \"string\": spec.replicas in body must be of type integer: \"string\"",
            ]
        );
        let got = messages(
            json!({"spec": {"image": "", "replicas": -1, "color": "blue",
            "name": "ABC", "port": 1.5, "tags": ["a", "b", "c"], "note": null,
            "template": {"kind": "Pod"}}}),
        );
        // Fields are checked in name order.
        assert_eq!(
            got,
            vec![
                "spec.color: Unsupported value: \"blue\": supported values: \"red\", \"green\"",
                "spec.image: Invalid value: \"\": spec.image in body should be at least 1 chars long",
                "spec.name: Invalid value: \"ABC\": spec.name in body should match '^[a-z]+$'",
                "spec.port: Invalid value: \"number\": spec.port in body must be of type integer,string: \"number\"",
                "spec.replicas: Invalid value: -1: spec.replicas in body should be greater than or equal to 0",
                "spec.tags: Too many: 3: must have at most 2 items",
                "spec.template.apiVersion: Required value: must not be empty",
            ]
        );
        let got = messages(json!({"spec": {"image": "0123456789a", "replicas": 11, "tags": []}}));
        assert_eq!(
            got,
            vec![
                "spec.image: Too long: may not be more than 10 bytes",
                "spec.replicas: Invalid value: 11: spec.replicas in body should be less than or equal to 10",
                "spec.tags: Invalid value: 0: spec.tags in body should have at least 1 items",
            ]
        );
    }
}
