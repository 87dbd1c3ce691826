//! CSIDrivers: what the cluster knows about an installed CSI driver (does it
//! need attaching, does it want pod info on mount, ...). Upstream's defaults
//! fill every switch; `attachRequired` and `fsGroupPolicy` are fixed.

use k8s_openapi::api::storage::v1::CSIDriver;
use serde_json::{json, Value};

use crate::defaults::set_default;
use crate::printers::*;
use crate::registry::generic::Typed;
use crate::validation::rules::{items, one_of, require, unchanged};
use crate::validation::FieldError;

/// The CSIDriver strategy.
pub const STRATEGY: Typed<CSIDriver> = Typed::new(COLUMNS, cells)
    .defaults(defaults)
    .rules(rules)
    .update_rules(update_rules);

fn defaults(obj: &mut Value) {
    set_default(obj, &["spec", "attachRequired"], json!(true));
    set_default(obj, &["spec", "podInfoOnMount"], json!(false));
    set_default(obj, &["spec", "storageCapacity"], json!(false));
    set_default(obj, &["spec", "requiresRepublish"], json!(false));
    set_default(
        obj,
        &["spec", "fsGroupPolicy"],
        json!("ReadWriteOnceWithFSType"),
    );
    set_default(
        obj,
        &["spec", "volumeLifecycleModes"],
        json!(["Persistent"]),
    );
}

fn rules(obj: &Value, errs: &mut Vec<FieldError>) {
    require(obj, "/spec", errs);
    one_of(
        obj,
        "/spec/fsGroupPolicy",
        &["ReadWriteOnceWithFSType", "File", "None"],
        errs,
    );
    for (p, _) in items(obj, "/spec/volumeLifecycleModes") {
        one_of(obj, &p, &["Persistent", "Ephemeral"], errs);
    }
    for (p, _) in items(obj, "/spec/tokenRequests") {
        require(obj, &format!("{p}/audience"), errs);
    }
}

fn update_rules(new: &Value, old: &Value, errs: &mut Vec<FieldError>) {
    unchanged(
        new,
        old,
        &[
            "/spec/attachRequired",
            "/spec/fsGroupPolicy",
            "/spec/volumeLifecycleModes",
        ],
        errs,
    );
}

#[rustfmt::skip]
const COLUMNS: &[Column] = &[
    NAME,
    col("AttachRequired", "boolean", 0, "attachRequired indicates this CSI volume driver requires an attach operation."),
    col("PodInfoOnMount", "boolean", 0, "podInfoOnMount indicates this CSI volume driver requires additional pod information during mount operations."),
    col("StorageCapacity", "boolean", 0, "storageCapacity indicates that the CSI volume driver wants pod scheduling to consider the storage capacity that the driver deployment will report."),
    col("TokenRequests", "string", 0, "tokenRequests indicates the CSI driver needs pods' service account tokens it is mounting volume for to do necessary authentication."),
    col("RequiresRepublish", "boolean", 0, "requiresRepublish indicates the CSI driver wants NodePublishVolume being periodically called to reflect any possible change in the mounted volume."),
    col("Modes", "string", 0, "volumeLifecycleModes defines what kind of volumes this CSI volume driver supports."),
    AGE,
];

fn cells(obj: &Value) -> Vec<Value> {
    let modes: Vec<String> = arr(obj, "/spec/volumeLifecycleModes")
        .iter()
        .filter_map(|m| m.as_str().map(String::from))
        .collect();
    let tokens = match obj.pointer("/spec/tokenRequests").and_then(Value::as_array) {
        None => "<unset>".to_string(),
        Some(list) => list
            .iter()
            .map(|t| s(t, "/audience"))
            .collect::<Vec<_>>()
            .join(","),
    };
    row(
        obj,
        vec![
            json!(obj
                .pointer("/spec/attachRequired")
                .and_then(Value::as_bool)
                .unwrap_or(true)),
            json!(b(obj, "/spec/podInfoOnMount")),
            json!(b(obj, "/spec/storageCapacity")),
            json!(tokens),
            json!(b(obj, "/spec/requiresRepublish")),
            json!(join_or(&modes, ",", "<none>")),
        ],
    )
}
