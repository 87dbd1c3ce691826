//! ServiceAccounts (`core/v1`): identities for pods. Nothing special but
//! the printer (the number of secrets).

use k8s_openapi::api::core::v1::ServiceAccount;
use serde_json::{json, Value};

use crate::printers::*;
use crate::registry::generic::Typed;

/// The ServiceAccount strategy.
pub const STRATEGY: Typed<ServiceAccount> = Typed::new(COLUMNS, cells);

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
