//! Secrets (`core/v1`): like ConfigMaps (the same key and `immutable` rules,
//! see [`super::configmap`]), with a `type` that defaults to `Opaque`.

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::schemars::generate::SchemaGenerator;
use serde_json::{json, Value};

use super::configmap::{validate_data_keys, validate_immutable_data};
use crate::defaults::set_default;
use crate::printers::*;
use crate::registry::strategy::{normalize, schema, Strategy};
use crate::validation::FieldError;

/// The Secret strategy.
pub struct SecretStrategy;

impl Strategy for SecretStrategy {
    fn normalize(&self, obj: &mut Value) -> Result<(), String> {
        normalize::<Secret>(obj)
    }

    fn schema(&self, gen: &mut SchemaGenerator) -> Option<String> {
        schema::<Secret>(gen)
    }

    fn default(&self, obj: &mut Value) {
        set_default(obj, &["type"], json!("Opaque"));
    }

    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        let mut errs = Vec::new();
        validate_data_keys(obj, &mut errs);
        errs
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        validate_immutable_data(new, old)
    }

    fn columns(&self) -> &'static [Column] {
        COLUMNS
    }

    fn cells(&self, obj: &Value) -> Vec<Value> {
        cells(obj)
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
