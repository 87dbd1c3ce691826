//! PersistentVolumes: a piece of storage in the cluster. Upstream's rules:
//! access modes and a storage capacity are required, with exactly one
//! volume source; `Retain` and `Filesystem` by default; a new volume is
//! `Pending` until the binder sees it.

use k8s_openapi::api::core::v1::PersistentVolume;
use serde_json::{json, Value};

use crate::defaults::set_default;
use crate::printers::*;
use crate::registry::generic::Typed;
use crate::validation::rules::{one_of, require, require_nonempty, unchanged};
use crate::validation::{invalid, FieldError};

/// The PersistentVolume strategy.
pub const STRATEGY: Typed<PersistentVolume> = Typed::new(COLUMNS, cells)
    .defaults(defaults)
    .rules(rules)
    .update_rules(update_rules)
    .admits(crate::admission::storage::admit_volume)
    .with_status();

/// The access modes a volume or claim may ask for.
pub const ACCESS_MODES: &[&str] = &[
    "ReadWriteOnce",
    "ReadOnlyMany",
    "ReadWriteMany",
    "ReadWriteOncePod",
];
const VOLUME_MODES: &[&str] = &["Block", "Filesystem"];

/// The spec fields that are not a volume source.
const NOT_SOURCES: &[&str] = &[
    "accessModes",
    "capacity",
    "claimRef",
    "mountOptions",
    "nodeAffinity",
    "persistentVolumeReclaimPolicy",
    "storageClassName",
    "volumeAttributesClassName",
    "volumeMode",
];

fn defaults(obj: &mut Value) {
    set_default(
        obj,
        &["spec", "persistentVolumeReclaimPolicy"],
        json!("Retain"),
    );
    set_default(obj, &["spec", "volumeMode"], json!("Filesystem"));
    set_default(obj, &["status", "phase"], json!("Pending"));
}

fn rules(obj: &Value, errs: &mut Vec<FieldError>) {
    require_nonempty(obj, "/spec/accessModes", errs);
    access_modes(obj, "/spec/accessModes", errs);
    require(obj, "/spec/capacity/storage", errs);
    one_of(
        obj,
        "/spec/persistentVolumeReclaimPolicy",
        &["Recycle", "Delete", "Retain"],
        errs,
    );
    one_of(obj, "/spec/volumeMode", VOLUME_MODES, errs);
    let sources = obj
        .pointer("/spec")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter(|(k, v)| !NOT_SOURCES.contains(&k.as_str()) && !v.is_null())
                .count()
        })
        .unwrap_or(0);
    if sources != 1 {
        let detail = if sources == 0 {
            "must specify a volume type"
        } else {
            "may not specify more than 1 volume type"
        };
        errs.push(invalid("spec", &json!(sources), detail));
    }
}

/// Each access mode must be one of [`ACCESS_MODES`].
pub fn access_modes(obj: &Value, pointer: &str, errs: &mut Vec<FieldError>) {
    for (p, _) in crate::validation::rules::items(obj, pointer) {
        one_of(obj, &p, ACCESS_MODES, errs);
    }
}

fn update_rules(new: &Value, old: &Value, errs: &mut Vec<FieldError>) {
    unchanged(new, old, &["/spec/volumeMode"], errs);
}

#[rustfmt::skip]
const COLUMNS: &[Column] = &[
    NAME,
    col("Capacity", "string", 0, "capacity is the description of the persistent volume's resources and capacity."),
    col("Access Modes", "string", 0, "accessModes contains all ways the volume can be mounted."),
    col("Reclaim Policy", "string", 0, "persistentVolumeReclaimPolicy defines what happens to a persistent volume when released from its claim."),
    col("Status", "string", 0, "phase indicates if a volume is available, bound to a claim, or released by a claim."),
    col("Claim", "string", 0, "claimRef is part of a bi-directional binding between PersistentVolume and PersistentVolumeClaim."),
    col("StorageClass", "string", 0, "StorageClass of the pv"),
    col("VolumeAttributesClass", "string", 0, "VolumeAttributesClass of the pv"),
    col("Reason", "string", 0, "reason is a brief CamelCase string that describes any failure and is meant for machine parsing and tidy display in the CLI."),
    AGE,
    col("VolumeMode", "string", 1, "volumeMode defines if a volume is intended to be used with a formatted filesystem or to remain in raw block state."),
];

fn cells(obj: &Value) -> Vec<Value> {
    let claim = match obj.pointer("/spec/claimRef") {
        Some(r) if !r.is_null() => format!("{}/{}", s(r, "/namespace"), s(r, "/name")),
        _ => String::new(),
    };
    vec![
        json!(s(obj, "/metadata/name")),
        json!(s(obj, "/spec/capacity/storage")),
        json!(access_modes_string(arr(obj, "/spec/accessModes"))),
        json!(s(obj, "/spec/persistentVolumeReclaimPolicy")),
        json!(phase(obj)),
        json!(claim),
        json!(storage_class(obj)),
        json!(or(s(obj, "/spec/volumeAttributesClassName"), "<unset>")),
        json!(s(obj, "/status/reason")),
        json!(age(obj)),
        json!(or(s(obj, "/spec/volumeMode"), "<unset>")),
    ]
}

/// The phase, or `Terminating` once deletion started.
pub fn phase(obj: &Value) -> &str {
    if obj
        .pointer("/metadata/deletionTimestamp")
        .is_some_and(|v| !v.is_null())
    {
        "Terminating"
    } else {
        s(obj, "/status/phase")
    }
}

/// The class of a volume or claim: `spec.storageClassName`, or the beta
/// annotation older objects carry.
pub fn storage_class(obj: &Value) -> &str {
    match obj
        .pointer("/metadata/annotations/volume.beta.kubernetes.io~1storage-class")
        .and_then(Value::as_str)
    {
        Some(class) => class,
        None => s(obj, "/spec/storageClassName"),
    }
}

/// Upstream's `GetAccessModesAsString`: `RWO,ROX,RWX,RWOP`, in that order.
pub fn access_modes_string(modes: &[Value]) -> String {
    let short = [
        ("ReadWriteOnce", "RWO"),
        ("ReadOnlyMany", "ROX"),
        ("ReadWriteMany", "RWX"),
        ("ReadWriteOncePod", "RWOP"),
    ];
    short
        .iter()
        .filter(|(long, _)| modes.iter().any(|m| m.as_str() == Some(long)))
        .map(|(_, s)| *s)
        .collect::<Vec<_>>()
        .join(",")
}
