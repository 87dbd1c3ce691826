//! Secrets (`core/v1`): like ConfigMaps (the same key and `immutable` rules,
//! see [`super::configmap`]), with a `type` that defaults to `Opaque`.

use k8s_openapi::api::core::v1::Secret;
use serde_json::{json, Value};

use super::configmap::{validate_data_keys, validate_immutable_data};
use crate::defaults::set_default;
use crate::printers::*;
use crate::registry::generic::Typed;

/// The Secret strategy.
pub const STRATEGY: Typed<Secret> = Typed::new(COLUMNS, cells)
    .defaults(defaults)
    .rules(validate_data_keys)
    .update_rules(validate_immutable_data);

fn defaults(obj: &mut Value) {
    set_default(obj, &["type"], json!("Opaque"));
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
