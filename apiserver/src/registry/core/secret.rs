//! Secrets (`core/v1`): like ConfigMaps (the same key and `immutable` rules,
//! see [`super::configmap`]), with a `type` that defaults to `Opaque`.
//!
//! `stringData` is a write-only convenience: its plain-text values are
//! folded into `data` (base64) before the Secret is checked and stored, a
//! key in both taking the `stringData` value, and the field itself is
//! never stored nor returned (upstream does this when it decodes a v1
//! Secret).

use base64::Engine;
use k8s_openapi::api::core::v1::Secret;
use serde_json::{json, Value};

use super::configmap::{validate_data_keys, validate_immutable_data};
use crate::defaults::set_default;
use crate::printers::*;
use crate::registry::generic::Typed;

/// The Secret strategy.
pub const STRATEGY: Typed<Secret> = Typed::new(COLUMNS, cells)
    .defaults(defaults)
    .on_create(fold_string_data)
    .on_update(fold_string_data)
    .rules(validate_data_keys)
    .update_rules(validate_immutable_data);

fn defaults(obj: &mut Value) {
    set_default(obj, &["type"], json!("Opaque"));
}

/// Moves `stringData` into `data`, base64-encoded, `stringData` winning
/// for a key in both. A `stringData` whose values are not all strings is
/// left alone, so that decoding the Secret refuses it with a 400.
fn fold_string_data(obj: &mut Value) {
    let Some(map) = obj.as_object_mut() else {
        return;
    };
    let Some(Value::Object(plain)) = map.get("stringData") else {
        if map.get("stringData").is_some_and(Value::is_null) {
            map.remove("stringData");
        }
        return;
    };
    if !plain.values().all(Value::is_string) {
        return;
    }
    let plain = match map.remove("stringData") {
        Some(Value::Object(plain)) => plain,
        _ => return,
    };
    let data = map
        .entry("data")
        .and_modify(|d| {
            if d.is_null() {
                *d = json!({});
            }
        })
        .or_insert_with(|| json!({}));
    let Some(data) = data.as_object_mut() else {
        // A `data` that is not a map is refused by the decoding.
        return;
    };
    for (key, value) in plain {
        let text = value.as_str().unwrap_or_default();
        let encoded = base64::engine::general_purpose::STANDARD.encode(text);
        data.insert(key, Value::String(encoded));
    }
}

#[rustfmt::skip]
const COLUMNS: &[Column] = &[
    NAME,
    col("Type", "string", 0, "Used to facilitate programmatic handling of secret data."),
    col("Data", "string", 0, "Data contains the secret data."),
    AGE,
];

fn cells(obj: &Value) -> Vec<Value> {
    let name = json!(s(obj, "/metadata/name"));
    vec![
        name,
        json!(s(obj, "/type")),
        json!(len_of(obj, "/data")),
        json!(age(obj)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_data_is_folded_into_data_and_wins() {
        let mut secret = json!({
            "metadata": {"name": "s"},
            "data": {"a": "b2xk", "kept": "eA=="},
            "stringData": {"a": "new", "b": "two words"},
        });
        fold_string_data(&mut secret);
        assert_eq!(secret.get("stringData"), None);
        assert_eq!(
            secret["data"],
            json!({"a": "bmV3", "b": "dHdvIHdvcmRz", "kept": "eA=="})
        );
    }

    #[test]
    fn string_data_alone_makes_data() {
        let mut secret = json!({"stringData": {"k": "v"}});
        fold_string_data(&mut secret);
        assert_eq!(secret, json!({"data": {"k": "dg=="}}));
        let mut null_data = json!({"data": null, "stringData": {"k": "v"}});
        fold_string_data(&mut null_data);
        assert_eq!(null_data, json!({"data": {"k": "dg=="}}));
    }

    #[test]
    fn string_data_of_the_wrong_type_is_left_for_the_decoder() {
        let mut secret = json!({"stringData": {"k": 1}});
        fold_string_data(&mut secret);
        assert_eq!(secret, json!({"stringData": {"k": 1}}));
        assert!(crate::registry::strategy::normalize::<Secret>(&mut secret).is_err());
    }
}
