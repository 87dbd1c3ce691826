//! Deployments (`apps/v1`): declarative rollouts over ReplicaSets.
//!
//! Defaults are upstream's (one replica, RollingUpdate with 25 % surge and
//! unavailability, ten old ReplicaSets kept, a 600 s progress deadline);
//! validation adds the strategy rules to the pod-template workload rules
//! ([`crate::validation::pod_template`]). A new Deployment has an empty
//! status for the controller to fill.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::schemars::generate::SchemaGenerator;
use serde_json::{json, Value};

use crate::defaults::{set_default, template};
use crate::printers::*;
use crate::registry::strategy::{normalize, schema, Strategy};
use crate::validation::pod_template::{
    int_or_percent_zero, non_negative, validate_selector_unchanged, validate_workload,
};
use crate::validation::{forbidden, invalid, not_supported, FieldError};

/// The Deployment strategy.
pub struct DeploymentStrategy;

impl Strategy for DeploymentStrategy {
    fn normalize(&self, obj: &mut Value) -> Result<(), String> {
        normalize::<Deployment>(obj)
    }

    fn schema(&self, gen: &mut SchemaGenerator) -> Option<String> {
        schema::<Deployment>(gen)
    }

    fn default(&self, obj: &mut Value) {
        defaults(obj);
    }

    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        let mut errs = Vec::new();
        validate_deployment(obj, &mut errs);
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
    set_default(obj, &["spec", "strategy", "type"], json!("RollingUpdate"));
    if obj.pointer("/spec/strategy/type").and_then(Value::as_str) == Some("RollingUpdate") {
        set_default(
            obj,
            &["spec", "strategy", "rollingUpdate", "maxUnavailable"],
            json!("25%"),
        );
        set_default(
            obj,
            &["spec", "strategy", "rollingUpdate", "maxSurge"],
            json!("25%"),
        );
    }
    set_default(obj, &["spec", "revisionHistoryLimit"], json!(10));
    set_default(obj, &["spec", "progressDeadlineSeconds"], json!(600));
    template(obj, &["spec", "template", "spec"]);
}

fn validate_deployment(obj: &Value, errs: &mut Vec<FieldError>) {
    validate_workload(obj, errs);
    match obj.pointer("/spec/strategy/type") {
        Some(t) if t.as_str() == Some("Recreate") => {
            if obj
                .pointer("/spec/strategy/rollingUpdate")
                .is_some_and(|r| !r.is_null())
            {
                errs.push(forbidden(
                    "spec.strategy.rollingUpdate",
                    "may not be specified when strategy `type` is 'Recreate'",
                ));
            }
        }
        Some(t) if t.as_str() == Some("RollingUpdate") => {
            let ru = obj.pointer("/spec/strategy/rollingUpdate");
            if int_or_percent_zero(ru.and_then(|r| r.get("maxSurge")))
                && int_or_percent_zero(ru.and_then(|r| r.get("maxUnavailable")))
            {
                errs.push(invalid(
                    "spec.strategy.rollingUpdate.maxUnavailable",
                    &Value::from(0),
                    "may not be 0 when `maxSurge` is 0",
                ));
            }
        }
        Some(t) => errs.push(not_supported(
            "spec.strategy.type",
            t,
            &["Recreate", "RollingUpdate"],
        )),
        None => {}
    }
    non_negative(
        obj,
        "/spec/progressDeadlineSeconds",
        "spec.progressDeadlineSeconds",
        errs,
    );
}

#[rustfmt::skip]
const COLUMNS: &[Column] = &[
    NAME,
    col("Ready", "string", 0, "Number of the pod with ready state"),
    col("Up-to-date", "string", 0, "Total number of non-terminated pods targeted by this deployment that have the desired template spec."),
    col("Available", "string", 0, "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment."),
    AGE,
    CONTAINERS,
    IMAGES,
    SELECTOR,
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
        json!(n(obj, "/status/updatedReplicas")),
        json!(n(obj, "/status/availableReplicas")),
        json!(age(obj)),
        json!(c),
        json!(i),
        // Upstream prints the selector as is here (empty: nothing).
        json!(label_selector(obj.pointer("/spec/selector")).unwrap_or_default()),
    ]
}
