//! Leases (`coordination.k8s.io/v1`): node heartbeats and leader election.
//! Nothing special but the printer (the holder).

use k8s_openapi::api::coordination::v1::Lease;
use serde_json::{json, Value};

use crate::printers::*;
use crate::registry::generic::Typed;

/// The Lease strategy.
pub const STRATEGY: Typed<Lease> = Typed::new(COLUMNS, cells);

#[rustfmt::skip]
const COLUMNS: &[Column] = &[
    NAME,
    col("Holder", "string", 0, "holderIdentity contains the identity of the holder of a current lease."),
    AGE,
];

fn cells(obj: &Value) -> Vec<Value> {
    let name = json!(s(obj, "/metadata/name"));
    vec![name, json!(s(obj, "/spec/holderIdentity")), json!(age(obj))]
}
