//! ResourceSlices: devices a driver publishes, in pools. The driver and the
//! pool (name, generation, slice count of at least one) are required, and
//! exactly one of `nodeName`, `nodeSelector`, `allNodes` and
//! `perDeviceNodeSelection` says where the devices are; driver and node
//! never change.

use k8s_openapi::api::resource::v1::ResourceSlice;
use serde_json::{json, Value};

use crate::printers::*;
use crate::registry::generic::Typed;
use crate::validation::rules::{at_least, items, require, require_nonempty, unchanged};
use crate::validation::{invalid, FieldError};

/// The ResourceSlice strategy.
pub const STRATEGY: Typed<ResourceSlice> = Typed::new(COLUMNS, cells)
    .rules(rules)
    .update_rules(update_rules);

const PLACEMENTS: &[&str] = &[
    "nodeName",
    "nodeSelector",
    "allNodes",
    "perDeviceNodeSelection",
];

fn rules(obj: &Value, errs: &mut Vec<FieldError>) {
    require_nonempty(obj, "/spec/driver", errs);
    require_nonempty(obj, "/spec/pool/name", errs);
    require(obj, "/spec/pool/generation", errs);
    require(obj, "/spec/pool/resourceSliceCount", errs);
    at_least(obj, "/spec/pool/resourceSliceCount", 1, errs);
    let placed = PLACEMENTS
        .iter()
        .filter(|f| match obj.pointer(&format!("/spec/{f}")) {
            None | Some(Value::Null) | Some(Value::Bool(false)) => false,
            Some(Value::String(s)) => !s.is_empty(),
            Some(_) => true,
        })
        .count();
    if placed != 1 {
        errs.push(invalid("spec", &json!(placed), "exactly one of `nodeName`, `nodeSelector`, `allNodes`, `perDeviceNodeSelection` is required"));
    }
    for (p, _) in items(obj, "/spec/devices") {
        require_nonempty(obj, &format!("{p}/name"), errs);
    }
}

fn update_rules(new: &Value, old: &Value, errs: &mut Vec<FieldError>) {
    unchanged(new, old, &["/spec/driver", "/spec/nodeName"], errs);
}

#[rustfmt::skip]
const COLUMNS: &[Column] = &[
    NAME,
    col("Node", "string", 0, "NodeName identifies the node which provides the resources in this pool."),
    col("Driver", "string", 0, "Driver identifies the DRA driver providing the capacity information."),
    col("Pool", "string", 0, "Name is used to identify the pool."),
    AGE,
];

fn cells(obj: &Value) -> Vec<Value> {
    row(
        obj,
        vec![
            json!(s(obj, "/spec/nodeName")),
            json!(s(obj, "/spec/driver")),
            json!(s(obj, "/spec/pool/name")),
        ],
    )
}
