//! CSIStorageCapacities: how much a CSI driver can still provision for a
//! class in a topology segment, read by the scheduler. The class and the
//! topology are fixed.

use k8s_openapi::api::storage::v1::CSIStorageCapacity;
use serde_json::{json, Value};

use crate::printers::*;
use crate::registry::generic::Typed;
use crate::validation::rules::{require_nonempty, unchanged};
use crate::validation::{invalid, parse_quantity, FieldError};

/// The CSIStorageCapacity strategy.
pub const STRATEGY: Typed<CSIStorageCapacity> = Typed::new(COLUMNS, cells)
    .rules(rules)
    .update_rules(update_rules);

fn rules(obj: &Value, errs: &mut Vec<FieldError>) {
    require_nonempty(obj, "/storageClassName", errs);
    for field in ["capacity", "maximumVolumeSize"] {
        if let Some(q) = obj.get(field).and_then(Value::as_str) {
            if parse_quantity(q).is_none_or(|v| v < 0.0) {
                errs.push(invalid(field, &json!(q), "must be a non-negative quantity"));
            }
        }
    }
}

fn update_rules(new: &Value, old: &Value, errs: &mut Vec<FieldError>) {
    unchanged(new, old, &["/storageClassName", "/nodeTopology"], errs);
}

#[rustfmt::skip]
const COLUMNS: &[Column] = &[
    NAME,
    col("StorageClassName", "string", 0, "storageClassName represents the name of the StorageClass that the reported capacity applies to."),
    col("Capacity", "string", 0, "capacity is the value reported by the CSI driver in its GetCapacityResponse for a GetCapacityRequest with topology and parameters that match the previous fields."),
];

fn cells(obj: &Value) -> Vec<Value> {
    vec![
        json!(s(obj, "/metadata/name")),
        json!(s(obj, "/storageClassName")),
        json!(or(s(obj, "/capacity"), "<unset>")),
    ]
}
