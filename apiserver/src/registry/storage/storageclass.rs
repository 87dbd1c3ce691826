//! StorageClasses: how volumes of a class are provisioned. Reclaim policy
//! `Delete` and binding mode `Immediate` by default; the provisioner, its
//! parameters and both policies are fixed once created.

use k8s_openapi::api::storage::v1::StorageClass;
use serde_json::{json, Value};

use crate::defaults::set_default;
use crate::printers::*;
use crate::registry::generic::Typed;
use crate::validation::rules::{one_of, require_nonempty, unchanged};
use crate::validation::FieldError;

/// The StorageClass strategy.
pub const STRATEGY: Typed<StorageClass> = Typed::new(COLUMNS, cells)
    .defaults(defaults)
    .rules(rules)
    .update_rules(update_rules);

/// The annotation that makes a class the default one.
pub const DEFAULT_CLASS: &str = "storageclass.kubernetes.io/is-default-class";

fn defaults(obj: &mut Value) {
    set_default(obj, &["reclaimPolicy"], json!("Delete"));
    set_default(obj, &["volumeBindingMode"], json!("Immediate"));
}

fn rules(obj: &Value, errs: &mut Vec<FieldError>) {
    require_nonempty(obj, "/provisioner", errs);
    one_of(obj, "/reclaimPolicy", &["Delete", "Retain"], errs);
    one_of(
        obj,
        "/volumeBindingMode",
        &["Immediate", "WaitForFirstConsumer"],
        errs,
    );
}

fn update_rules(new: &Value, old: &Value, errs: &mut Vec<FieldError>) {
    unchanged(
        new,
        old,
        &[
            "/parameters",
            "/provisioner",
            "/reclaimPolicy",
            "/volumeBindingMode",
        ],
        errs,
    );
}

#[rustfmt::skip]
const COLUMNS: &[Column] = &[
    NAME,
    col("Provisioner", "string", 0, "provisioner indicates the type of the provisioner."),
    col("ReclaimPolicy", "string", 0, "reclaimPolicy controls the reclaimPolicy for dynamically provisioned PersistentVolumes of this storage class."),
    col("VolumeBindingMode", "string", 0, "volumeBindingMode indicates how PersistentVolumeClaims should be provisioned and bound."),
    col("AllowVolumeExpansion", "string", 0, "allowVolumeExpansion shows whether the storage class allow volume expand."),
    AGE,
];

fn cells(obj: &Value) -> Vec<Value> {
    let mut name = s(obj, "/metadata/name").to_string();
    if is_default_class(obj) {
        name.push_str(" (default)");
    }
    vec![
        json!(name),
        json!(s(obj, "/provisioner")),
        json!(or(s(obj, "/reclaimPolicy"), "Delete")),
        json!(or(s(obj, "/volumeBindingMode"), "Immediate")),
        json!(b(obj, "/allowVolumeExpansion")),
        json!(age(obj)),
    ]
}

/// Whether the class is annotated as the cluster's default.
pub fn is_default_class(obj: &Value) -> bool {
    let annotations = obj.pointer("/metadata/annotations");
    [
        DEFAULT_CLASS,
        "storageclass.beta.kubernetes.io/is-default-class",
    ]
    .iter()
    .any(|k| annotations.and_then(|a| a.get(*k)).and_then(Value::as_str) == Some("true"))
}
