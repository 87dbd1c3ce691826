//! Leases (`coordination.k8s.io/v1`): node heartbeats and leader election.
//! Nothing special but the printer (the holder).

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::schemars::generate::SchemaGenerator;
use serde_json::{json, Value};

use crate::printers::*;
use crate::registry::strategy::{normalize, schema, Strategy};

/// The Lease strategy.
pub struct LeaseStrategy;

impl Strategy for LeaseStrategy {
    fn normalize(&self, obj: &mut Value) -> Result<(), String> {
        normalize::<Lease>(obj)
    }

    fn schema(&self, gen: &mut SchemaGenerator) -> Option<String> {
        schema::<Lease>(gen)
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
    col("Holder", "string", 0, "holderIdentity contains the identity of the holder of a current lease."),
    AGE,
];

fn cells(obj: &Value) -> Vec<Value> {
    let name = json!(s(obj, "/metadata/name"));
    vec![name, json!(s(obj, "/spec/holderIdentity")), json!(age(obj))]
}
