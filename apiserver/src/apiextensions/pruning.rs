//! Pruning: a custom object keeps only the fields its structural schema
//! specifies, as upstream stores it. What is dropped is reported like an
//! unknown field of a built-in kind (a `Warning` header, or a 400 with
//! `?fieldValidation=Strict`), because the generic create/update path
//! compares what was sent with what [`crate::registry::Strategy::normalize`]
//! kept.
//!
//! Kept without a schema of their own: the object's `apiVersion`, `kind`
//! and `metadata` (and those of an `x-kubernetes-embedded-resource`),
//! everything under `x-kubernetes-preserve-unknown-fields: true` that no
//! `properties` describe, and every value of an `additionalProperties`
//! map.

use serde_json::Value;

/// Drops from `obj` (a whole custom object) what `schema` does not specify.
pub fn prune(schema: &Value, obj: &mut Value) {
    walk(schema, obj, true);
}

fn walk(schema: &Value, v: &mut Value, root: bool) {
    if !schema.is_object() {
        return;
    }
    let preserve = schema
        .get("x-kubernetes-preserve-unknown-fields")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let embedded = schema
        .get("x-kubernetes-embedded-resource")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    match v {
        Value::Object(map) => {
            let properties = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties");
            let keys: Vec<String> = map.keys().cloned().collect();
            for k in keys {
                if (root || embedded) && matches!(k.as_str(), "apiVersion" | "kind" | "metadata") {
                    continue;
                }
                let Some(val) = map.get_mut(&k) else { continue };
                match properties.and_then(|p| p.get(&k)) {
                    Some(s) => walk(s, val, false),
                    None => match additional {
                        Some(a) if a.is_object() => walk(a, val, false),
                        Some(Value::Bool(true)) => {}
                        _ if preserve => {}
                        _ => {
                            map.remove(&k);
                        }
                    },
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for item in items {
                    walk(item_schema, item, false);
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
    fn unknown_fields_go_and_preserved_ones_stay() {
        let schema = json!({"type": "object", "properties": {
            "spec": {"type": "object", "properties": {
                "size": {"type": "integer"},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "items": {"type": "array", "items": {"type": "object", "properties": {"a": {"type": "string"}}}},
                "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                "pod": {"type": "object", "x-kubernetes-embedded-resource": true,
                        "properties": {"spec": {"type": "object"}}}
            }}
        }});
        let mut obj = json!({"apiVersion": "x/v1", "kind": "W", "metadata": {"name": "w"},
            "extra": 1,
            "spec": {"size": 1, "bogus": true, "labels": {"k": "v"},
                     "items": [{"a": "x", "b": "y"}], "free": {"anything": {"goes": 1}},
                     "pod": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                             "spec": {}, "junk": 1}}});
        prune(&schema, &mut obj);
        assert_eq!(
            obj,
            json!({"apiVersion": "x/v1", "kind": "W", "metadata": {"name": "w"},
                "spec": {"size": 1, "labels": {"k": "v"}, "items": [{"a": "x"}],
                         "free": {"anything": {"goes": 1}},
                         "pod": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {}}}})
        );
    }
}
