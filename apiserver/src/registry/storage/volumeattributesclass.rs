//! VolumeAttributesClasses: mutable volume attributes (IOPS, throughput) a
//! claim can switch between. The driver and its parameters are fixed.

use k8s_openapi::api::storage::v1::VolumeAttributesClass;
use serde_json::{json, Value};

use crate::printers::*;
use crate::registry::generic::Typed;
use crate::validation::rules::{require_nonempty, unchanged};
use crate::validation::FieldError;

/// The VolumeAttributesClass strategy.
pub const STRATEGY: Typed<VolumeAttributesClass> = Typed::new(COLUMNS, cells)
    .rules(rules)
    .update_rules(update_rules);

fn rules(obj: &Value, errs: &mut Vec<FieldError>) {
    require_nonempty(obj, "/driverName", errs);
}

fn update_rules(new: &Value, old: &Value, errs: &mut Vec<FieldError>) {
    unchanged(new, old, &["/driverName", "/parameters"], errs);
}

#[rustfmt::skip]
const COLUMNS: &[Column] = &[
    NAME,
    col("DriverName", "string", 0, "Name of the CSI driver"),
    AGE,
];

fn cells(obj: &Value) -> Vec<Value> {
    row(obj, vec![json!(s(obj, "/driverName"))])
}
