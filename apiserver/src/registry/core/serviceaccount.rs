//! ServiceAccounts (`core/v1`): identities for pods. Nothing special but
//! the printer (the number of secrets).

use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::schemars::generate::SchemaGenerator;
use serde_json::{json, Value};

use crate::printers::*;
use crate::registry::strategy::{normalize, schema, Strategy};

/// The ServiceAccount strategy.
pub struct ServiceAccountStrategy;

impl Strategy for ServiceAccountStrategy {
    fn normalize(&self, obj: &mut Value) -> Result<(), String> {
        normalize::<ServiceAccount>(obj)
    }

    fn schema(&self, gen: &mut SchemaGenerator) -> Option<String> {
        schema::<ServiceAccount>(gen)
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
    col("Secrets", "string", 0, "Secrets is a list of the secrets in the same namespace that pods running using this ServiceAccount are allowed to use."),
    AGE,
];

fn cells(obj: &Value) -> Vec<Value> {
    let name = json!(s(obj, "/metadata/name"));
    vec![name, json!(len_of(obj, "/secrets")), json!(age(obj))]
}
