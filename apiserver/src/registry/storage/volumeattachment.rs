//! VolumeAttachments: the request to attach a volume to a node, which the
//! attacher answers in `status`. The whole spec is fixed once created.

use k8s_openapi::api::storage::v1::VolumeAttachment;
use serde_json::{json, Value};

use crate::printers::*;
use crate::registry::generic::Typed;
use crate::validation::rules::{require_nonempty, unchanged};
use crate::validation::{invalid, FieldError};

/// The VolumeAttachment strategy.
pub const STRATEGY: Typed<VolumeAttachment> = Typed::new(COLUMNS, cells)
    .status_keeps_metadata()
    .rules(rules)
    .update_rules(update_rules)
    .with_status();

fn rules(obj: &Value, errs: &mut Vec<FieldError>) {
    require_nonempty(obj, "/spec/attacher", errs);
    require_nonempty(obj, "/spec/nodeName", errs);
    let pv = obj
        .pointer("/spec/source/persistentVolumeName")
        .is_some_and(|v| !v.is_null());
    let inline = obj
        .pointer("/spec/source/inlineVolumeSpec")
        .is_some_and(|v| !v.is_null());
    if pv == inline {
        let source = obj.pointer("/spec/source").cloned().unwrap_or(Value::Null);
        errs.push(invalid(
            "spec.source",
            &source,
            "must specify exactly one of inlineVolumeSpec and persistentVolumeName",
        ));
    }
}

fn update_rules(new: &Value, old: &Value, errs: &mut Vec<FieldError>) {
    unchanged(new, old, &["/spec"], errs);
}

#[rustfmt::skip]
const COLUMNS: &[Column] = &[
    NAME,
    col("Attacher", "string", 0, "attacher indicates the name of the volume driver that MUST handle this request."),
    col("PV", "string", 0, "persistentVolumeName represents the name of the persistent volume to attach."),
    col("Node", "string", 0, "nodeName represents the node that the volume should be attached to."),
    col("Attached", "boolean", 0, "attached indicates the volume is successfully attached."),
    AGE,
];

fn cells(obj: &Value) -> Vec<Value> {
    row(
        obj,
        vec![
            json!(s(obj, "/spec/attacher")),
            json!(s(obj, "/spec/source/persistentVolumeName")),
            json!(s(obj, "/spec/nodeName")),
            json!(b(obj, "/status/attached")),
        ],
    )
}
