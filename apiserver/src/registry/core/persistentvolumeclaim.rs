//! PersistentVolumeClaims: a request for storage that the binder matches
//! with a volume. Access modes and a storage request are required; once
//! created only the requested size (expansion), the volume name (binding)
//! and the attributes class may change. A new claim is `Pending`; on
//! create it gets the default StorageClass and its protection finalizer
//! ([`crate::admission::storage`]).

use k8s_openapi::api::core::v1::PersistentVolumeClaim;
use serde_json::{json, Value};

use super::persistentvolume::{access_modes, access_modes_string, phase, storage_class};
use crate::defaults::set_default;
use crate::printers::*;
use crate::registry::generic::Typed;
use crate::validation::rules::{one_of, require, require_nonempty};
use crate::validation::{forbidden, FieldError};

/// The PersistentVolumeClaim strategy.
pub const STRATEGY: Typed<PersistentVolumeClaim> = Typed::new(COLUMNS, cells)
    .defaults(defaults)
    .rules(rules)
    .update_rules(update_rules)
    .admits(crate::admission::storage::admit_claim)
    .with_status();

fn defaults(obj: &mut Value) {
    set_default(obj, &["spec", "volumeMode"], json!("Filesystem"));
    set_default(obj, &["status", "phase"], json!("Pending"));
}

fn rules(obj: &Value, errs: &mut Vec<FieldError>) {
    require_nonempty(obj, "/spec/accessModes", errs);
    access_modes(obj, "/spec/accessModes", errs);
    require(obj, "/spec/resources/requests/storage", errs);
    one_of(obj, "/spec/volumeMode", &["Block", "Filesystem"], errs);
}

fn update_rules(new: &Value, old: &Value, errs: &mut Vec<FieldError>) {
    // The spec but for what may change after creation.
    let frozen = |obj: &Value| {
        let mut spec = obj.get("spec").cloned().unwrap_or(Value::Null);
        if let Some(m) = spec.as_object_mut() {
            m.remove("volumeAttributesClassName");
            if let Some(r) = m.get_mut("resources").and_then(Value::as_object_mut) {
                r.remove("requests");
            }
            // Binding sets the volume name once.
            if old
                .pointer("/spec/volumeName")
                .and_then(Value::as_str)
                .unwrap_or("")
                .is_empty()
            {
                m.remove("volumeName");
            }
        }
        spec
    };
    if frozen(new) != frozen(old) {
        errs.push(forbidden("spec", "spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims"));
    }
}

#[rustfmt::skip]
const COLUMNS: &[Column] = &[
    NAME,
    col("Status", "string", 0, "phase represents the current phase of PersistentVolumeClaim."),
    col("Volume", "string", 0, "volumeName is the binding reference to the PersistentVolume backing this claim."),
    col("Capacity", "string", 0, "capacity represents the actual resources of the underlying volume."),
    col("Access Modes", "string", 0, "accessModes contains the actual access modes the volume backing the PVC has."),
    col("StorageClass", "string", 0, "StorageClass of the pvc"),
    col("VolumeAttributesClass", "string", 0, "VolumeAttributesClass of the pvc"),
    AGE,
    col("VolumeMode", "string", 1, "volumeMode defines what type of volume is required by the claim."),
];

fn cells(obj: &Value) -> Vec<Value> {
    let volume = s(obj, "/spec/volumeName");
    let (capacity, modes) = if volume.is_empty() {
        (String::new(), String::new())
    } else {
        (
            s(obj, "/status/capacity/storage").to_string(),
            access_modes_string(arr(obj, "/status/accessModes")),
        )
    };
    vec![
        json!(s(obj, "/metadata/name")),
        json!(phase(obj)),
        json!(volume),
        json!(capacity),
        json!(modes),
        json!(storage_class(obj)),
        json!(or(s(obj, "/spec/volumeAttributesClassName"), "<unset>")),
        json!(age(obj)),
        json!(or(s(obj, "/spec/volumeMode"), "<unset>")),
    ]
}
