//! StatefulSets (`apps/v1`): pods with stable names, started in order.
//! Upstream's defaults (OrderedReady, RollingUpdate with partition 0, PVCs
//! retained); the pod-template workload rules; an immutable selector.

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::schemars::generate::SchemaGenerator;
use serde_json::{json, Value};

use crate::defaults::{set_default, template};
use crate::printers::*;
use crate::registry::strategy::{normalize, schema, Strategy};
use crate::validation::pod_template::{validate_selector_unchanged, validate_workload};
use crate::validation::FieldError;

/// The StatefulSet strategy.
pub struct StatefulSetStrategy;

impl Strategy for StatefulSetStrategy {
    fn normalize(&self, obj: &mut Value) -> Result<(), String> {
        normalize::<StatefulSet>(obj)
    }

    fn schema(&self, gen: &mut SchemaGenerator) -> Option<String> {
        schema::<StatefulSet>(gen)
    }

    fn default(&self, obj: &mut Value) {
        defaults(obj);
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
        cells(obj)
    }
}

fn defaults(obj: &mut Value) {
    set_default(obj, &["spec", "replicas"], json!(1));
    set_default(obj, &["spec", "podManagementPolicy"], json!("OrderedReady"));
    set_default(
        obj,
        &["spec", "updateStrategy", "type"],
        json!("RollingUpdate"),
    );
    if obj
        .pointer("/spec/updateStrategy/type")
        .and_then(Value::as_str)
        == Some("RollingUpdate")
    {
        set_default(
            obj,
            &["spec", "updateStrategy", "rollingUpdate", "partition"],
            json!(0),
        );
    }
    set_default(obj, &["spec", "revisionHistoryLimit"], json!(10));
    set_default(
        obj,
        &["spec", "persistentVolumeClaimRetentionPolicy"],
        json!({"whenDeleted": "Retain", "whenScaled": "Retain"}),
    );
    template(obj, &["spec", "template", "spec"]);
}

#[rustfmt::skip]
const COLUMNS: &[Column] = &[
    NAME,
    col("Ready", "string", 0, "Number of the pod with ready state"),
    AGE,
    CONTAINERS,
    IMAGES,
];

fn cells(obj: &Value) -> Vec<Value> {
    let name = json!(s(obj, "/metadata/name"));
    let (c, i) = container_cells(obj, "/spec/template");
    vec![
        name,
        json!(format!(
            "{}/{}",
            n(obj, "/status/readyReplicas"),
            n(obj, "/spec/replicas")
        )),
        json!(age(obj)),
        json!(c),
        json!(i),
    ]
}
