//! CSINodes: the CSI drivers registered on a node, named after the node. A
//! driver's node ID is fixed once registered.

use k8s_openapi::api::storage::v1::CSINode;
use serde_json::{json, Value};

use crate::printers::*;
use crate::registry::generic::Typed;
use crate::validation::rules::{items, require, require_nonempty};
use crate::validation::{immutable, FieldError};

/// The CSINode strategy.
pub const STRATEGY: Typed<CSINode> = Typed::new(COLUMNS, cells)
    .rules(rules)
    .update_rules(update_rules);

fn rules(obj: &Value, errs: &mut Vec<FieldError>) {
    require(obj, "/spec/drivers", errs);
    for (p, _) in items(obj, "/spec/drivers") {
        require_nonempty(obj, &format!("{p}/name"), errs);
        require_nonempty(obj, &format!("{p}/nodeID"), errs);
    }
}

fn update_rules(new: &Value, old: &Value, errs: &mut Vec<FieldError>) {
    for (p, driver) in items(new, "/spec/drivers") {
        let before = arr(old, "/spec/drivers")
            .iter()
            .find(|d| s(d, "/name") == s(driver, "/name"));
        if let Some(before) = before {
            if s(before, "/nodeID") != s(driver, "/nodeID") {
                errs.push(immutable(
                    crate::validation::rules::field_path(&format!("{p}/nodeID")),
                    &json!(s(driver, "/nodeID")),
                ));
            }
        }
    }
}

#[rustfmt::skip]
const COLUMNS: &[Column] = &[
    NAME,
    col("Drivers", "integer", 0, "Drivers indicates the number of CSI drivers registered on the node"),
    AGE,
];

fn cells(obj: &Value) -> Vec<Value> {
    row(obj, vec![json!(arr(obj, "/spec/drivers").len())])
}
