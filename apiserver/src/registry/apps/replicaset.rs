//! ReplicaSets (`apps/v1`): keep N copies of a pod template running. One
//! replica by default; the pod-template workload rules
//! ([`crate::validation::pod_template`]); an immutable selector.

use k8s_openapi::api::apps::v1::ReplicaSet;
use serde_json::{json, Value};

use crate::defaults::{set_default, template};
use crate::printers::*;
use crate::registry::workload::Workload;

/// The ReplicaSet strategy.
pub struct ReplicaSetStrategy;

impl Workload for ReplicaSetStrategy {
    type Object = ReplicaSet;
    const COLUMNS: &'static [Column] = COLUMNS;

    fn defaults(obj: &mut Value) {
        set_default(obj, &["spec", "replicas"], json!(1));
        template(obj, &["spec", "template", "spec"]);
    }

    fn status_cells(obj: &Value) -> Vec<Value> {
        vec![
            json!(n(obj, "/spec/replicas")),
            json!(n(obj, "/status/replicas")),
            json!(n(obj, "/status/readyReplicas")),
        ]
    }
}

/// The ReplicaSet columns, which ReplicationControllers print too.
#[rustfmt::skip]
pub const COLUMNS: &[Column] = &[
    NAME,
    col("Desired", "integer", 0, "Replicas is the number of desired replicas."),
    col("Current", "integer", 0, "Replicas is the most recently observed number of replicas."),
    col("Ready", "integer", 0, "The number of ready replicas for this replica set."),
    AGE,
    CONTAINERS,
    IMAGES,
    SELECTOR,
];

/// A row of [`COLUMNS`] with the selector already formatted (a ReplicaSet's
/// is a LabelSelector, a ReplicationController's a label map).
pub fn replica_cells(obj: &Value, selector: String) -> Vec<Value> {
    let (containers, images) = container_cells(obj, "/spec/template");
    let mut row = vec![json!(s(obj, "/metadata/name"))];
    row.extend(ReplicaSetStrategy::status_cells(obj));
    row.extend([
        json!(age(obj)),
        json!(containers),
        json!(images),
        json!(selector),
    ]);
    row
}
