//! Defaulting: a field its schema gives a `default` is filled in when a
//! custom object leaves it out (or sets it to `null` where the schema does
//! not allow `null`), at every depth: in objects that are present, in every
//! item of an array and every value of an `additionalProperties` map. The
//! defaults are then pruned like sent values (see [`super::pruning`]), as
//! upstream does, so a default can never bring in an unknown field.

use serde_json::Value;

/// Fills in the defaults of `schema` in `obj`.
pub fn apply(schema: &Value, obj: &mut Value) {
    walk(schema, obj);
}

fn walk(schema: &Value, v: &mut Value) {
    match v {
        Value::Object(map) => {
            if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
                for (k, s) in properties {
                    let Some(default) = s.get("default") else {
                        continue;
                    };
                    let nullable = s.get("nullable").and_then(Value::as_bool) == Some(true);
                    match map.get(k) {
                        None => {
                            map.insert(k.clone(), default.clone());
                        }
                        Some(Value::Null) if !nullable => {
                            map.insert(k.clone(), default.clone());
                        }
                        _ => {}
                    }
                }
                for (k, s) in properties {
                    if let Some(val) = map.get_mut(k) {
                        walk(s, val);
                    }
                }
            }
            if let Some(additional) = schema.get("additionalProperties").filter(|a| a.is_object()) {
                let listed = schema.get("properties").and_then(Value::as_object);
                for (k, val) in map.iter_mut() {
                    if listed.is_none_or(|p| !p.contains_key(k)) {
                        walk(additional, val);
                    }
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for item in items {
                    if item.is_null() {
                        if let Some(d) = item_schema.get("default") {
                            *item = d.clone();
                        }
                    }
                    walk(item_schema, item);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_fill_missing_fields_at_every_depth() {
        let schema = json!({"type": "object", "properties": {
            "spec": {"type": "object", "default": {}, "properties": {
                "replicas": {"type": "integer", "default": 1},
                "mode": {"type": "string", "default": "fast"},
                "ports": {"type": "array", "items": {"type": "object", "properties": {
                    "protocol": {"type": "string", "default": "TCP"}}}}
            }}
        }});
        let mut obj = json!({"metadata": {"name": "a"}});
        apply(&schema, &mut obj);
        assert_eq!(obj["spec"], json!({"replicas": 1, "mode": "fast"}));
        let mut obj = json!({"spec": {"replicas": 3, "mode": null, "ports": [{"port": 80}]}});
        apply(&schema, &mut obj);
        assert_eq!(
            obj["spec"],
            json!({"replicas": 3, "mode": "fast", "ports": [{"port": 80, "protocol": "TCP"}]})
        );
    }
}
