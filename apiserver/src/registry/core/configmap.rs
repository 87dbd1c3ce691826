//! ConfigMaps (`core/v1`): configuration handed to pods as files or
//! environment. Keys must be valid file names; an `immutable` ConfigMap
//! keeps its data for good (the same rules as Secrets, which use
//! [`validate_data_keys`] and [`validate_immutable_data`] too).

use k8s_openapi::api::core::v1::ConfigMap;
use serde_json::{json, Value};

use crate::printers::*;
use crate::registry::generic::Typed;
use crate::validation::{forbidden, invalid, FieldError};

/// The ConfigMap strategy.
pub const STRATEGY: Typed<ConfigMap> = Typed::new(COLUMNS, cells)
    .rules(validate_data_keys)
    .update_rules(validate_immutable_data);

#[rustfmt::skip]
const COLUMNS: &[Column] = &[
    NAME,
    col("Data", "string", 0, "Data contains the configuration data."),
    AGE,
];

fn cells(obj: &Value) -> Vec<Value> {
    let name = json!(s(obj, "/metadata/name"));
    vec![
        name,
        json!(len_of(obj, "/data") + len_of(obj, "/binaryData")),
        json!(age(obj)),
    ]
}

/// Keys of `data`, `binaryData` and `stringData` must be valid file names.
pub fn validate_data_keys(obj: &Value, errs: &mut Vec<FieldError>) {
    for field in ["data", "binaryData", "stringData"] {
        if let Some(m) = obj.get(field).and_then(Value::as_object) {
            for k in m.keys() {
                let ok = !k.is_empty()
                    && k.len() <= 253
                    && k.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b));
                if !ok {
                    errs.push(invalid(
                        field,
                        &Value::String(k.clone()),
                        "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')",
                    ));
                }
            }
        }
    }
}

/// Once `immutable` is set, neither the data nor the flag may change.
pub fn validate_immutable_data(new: &Value, old: &Value, errs: &mut Vec<FieldError>) {
    let same = |p: &str| new.pointer(p) == old.pointer(p);
    if old.get("immutable").and_then(Value::as_bool) == Some(true) {
        if !same("/data") || !same("/binaryData") {
            errs.push(forbidden(
                "data",
                "field is immutable when `immutable` is set",
            ));
        }
        if !same("/immutable") {
            errs.push(forbidden(
                "immutable",
                "field is immutable when `immutable` is set",
            ));
        }
    }
}
