//! ReplicaSets (`apps/v1`): keep N copies of a pod template running. One
//! replica by default; the pod-template workload rules
//! ([`crate::validation::pod_template`]); an immutable selector.

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::schemars::generate::SchemaGenerator;
use serde_json::{json, Value};

use crate::defaults::{set_default, template};
use crate::printers::*;
use crate::registry::strategy::{normalize, schema, Strategy};
use crate::validation::pod_template::{validate_selector_unchanged, validate_workload};
use crate::validation::FieldError;

/// The ReplicaSet strategy.
pub struct ReplicaSetStrategy;

impl Strategy for ReplicaSetStrategy {
    fn normalize(&self, obj: &mut Value) -> Result<(), String> {
        normalize::<ReplicaSet>(obj)
    }

    fn schema(&self, gen: &mut SchemaGenerator) -> Option<String> {
        schema::<ReplicaSet>(gen)
    }

    fn default(&self, obj: &mut Value) {
        set_default(obj, &["spec", "replicas"], json!(1));
        template(obj, &["spec", "template", "spec"]);
    }

    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        let mut errs = Vec::new();
        validate_workload(obj, &mut errs);
        errs
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        validate_selector_unchanged(new, old)
    }

    fn prepare_for_create(&self, obj: &mut Value, _uid: &str) {
        if let Some(map) = obj.as_object_mut() {
            map.insert("status".into(), json!({}));
        }
    }

    fn columns(&self) -> &'static [Column] {
        COLUMNS
    }

    fn cells(&self, obj: &Value) -> Vec<Value> {
        replica_cells(obj, format_label_selector(obj.pointer("/spec/selector")))
    }
}

/// `kubectl get rs` columns; ReplicationControllers print the same.
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

/// The cells of [`COLUMNS`], with the selector already formatted (a
/// ReplicaSet's is a LabelSelector, a ReplicationController's a label map).
pub fn replica_cells(obj: &Value, selector: String) -> Vec<Value> {
    let name = json!(s(obj, "/metadata/name"));
    let (c, i) = container_cells(obj, "/spec/template");
    vec![
        name,
        json!(n(obj, "/spec/replicas")),
        json!(n(obj, "/status/replicas")),
        json!(n(obj, "/status/readyReplicas")),
        json!(age(obj)),
        json!(c),
        json!(i),
        json!(selector),
    ]
}
