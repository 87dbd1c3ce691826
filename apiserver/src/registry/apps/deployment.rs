//! Deployments (`apps/v1`): declarative rollouts over ReplicaSets.
//!
//! Defaults are upstream's (one replica, RollingUpdate with 25 % surge and
//! unavailability, ten old ReplicaSets kept, a 600 s progress deadline);
//! validation adds the strategy rules to the pod-template workload rules
//! ([`crate::validation::pod_template`]). A new Deployment has an empty
//! status for the controller to fill.

use k8s_openapi::api::apps::v1::Deployment;
use serde_json::{json, Value};

use crate::defaults::{rolling_update, set_default, template};
use crate::printers::*;
use crate::registry::workload::Workload;
use crate::validation::pod_template::{int_or_percent_zero, non_negative, validate_workload};
use crate::validation::{forbidden, invalid, not_supported, FieldError};

/// The Deployment strategy.
pub struct DeploymentStrategy;

impl Workload for DeploymentStrategy {
    type Object = Deployment;
    const COLUMNS: &'static [Column] = COLUMNS;

    fn defaults(obj: &mut Value) {
        set_default(obj, &["spec", "replicas"], json!(1));
        rolling_update(
            obj,
            "strategy",
            &[("maxUnavailable", json!("25%")), ("maxSurge", json!("25%"))],
        );
        set_default(obj, &["spec", "revisionHistoryLimit"], json!(10));
        set_default(obj, &["spec", "progressDeadlineSeconds"], json!(600));
        template(obj, &["spec", "template", "spec"]);
    }

    fn validate(obj: &Value, errs: &mut Vec<FieldError>) {
        validate_deployment(obj, errs);
    }

    fn status_cells(obj: &Value) -> Vec<Value> {
        vec![
            json!(format!(
                "{}/{}",
                n(obj, "/status/readyReplicas"),
                n(obj, "/spec/replicas")
            )),
            json!(n(obj, "/status/updatedReplicas")),
            json!(n(obj, "/status/availableReplicas")),
        ]
    }

    fn selector_cell(obj: &Value) -> Option<Value> {
        // Upstream prints the selector as is here (empty: nothing).
        Some(json!(
            label_selector(obj.pointer("/spec/selector")).unwrap_or_default()
        ))
    }
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
