//! ReplicationControllers (`core/v1`): the ancestor of the ReplicaSet, kept
//! N pods alive by the controller-manager's `replicationcontroller`
//! controller (the ReplicaSet controller over a converted kind).
//!
//! Its selector is a plain label map. Defaulting fills it from the pod
//! template's labels when empty (and the object's own labels too), as
//! upstream, with one replica by default. Validation wants a non-empty
//! selector that the template's labels match, a template that restarts
//! `Always`, and non-negative counts; unlike a ReplicaSet's, the selector
//! may change. Served with `/status` and `/scale` (`kubectl scale rc`);
//! `kubectl get rc` prints the ReplicaSet's columns.

use apimachinery::labels::Selector;
use k8s_openapi::api::core::v1::ReplicationController;
use k8s_openapi::schemars::generate::SchemaGenerator;
use serde_json::{json, Value};

use crate::defaults::{set_default, template};
use crate::printers::*;
use crate::registry::apps::replicaset::{replica_cells, COLUMNS};
use crate::registry::strategy::{normalize, schema, Strategy};
use crate::validation::pod_template::{non_negative, validate_template, validate_template_labels};
use crate::validation::{invalid, required, FieldError};

/// The ReplicationController strategy.
pub struct ReplicationControllerStrategy;

impl Strategy for ReplicationControllerStrategy {
    fn normalize(&self, obj: &mut Value) -> Result<(), String> {
        normalize::<ReplicationController>(obj)
    }

    fn schema(&self, gen: &mut SchemaGenerator) -> Option<String> {
        schema::<ReplicationController>(gen)
    }

    fn default(&self, obj: &mut Value) {
        let labels = obj
            .pointer("/spec/template/metadata/labels")
            .filter(|l| l.as_object().is_some_and(|m| !m.is_empty()))
            .cloned();
        if let Some(labels) = labels {
            for path in [&["spec", "selector"][..], &["metadata", "labels"][..]] {
                let empty = path
                    .iter()
                    .try_fold(&*obj, |cur, p| cur.get(*p))
                    .and_then(Value::as_object)
                    .is_none_or(|m| m.is_empty());
                if empty {
                    set_null(obj, path);
                    set_default(obj, path, labels.clone());
                }
            }
        }
        set_default(obj, &["spec", "replicas"], json!(1));
        template(obj, &["spec", "template", "spec"]);
    }

    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        let mut errs = Vec::new();
        validate_spec(obj, &mut errs);
        errs
    }

    fn prepare_for_create(&self, obj: &mut Value, _uid: &str) {
        if let Some(map) = obj.as_object_mut() {
            map.insert("status".into(), json!({"replicas": 0}));
        }
    }

    fn columns(&self) -> &'static [Column] {
        COLUMNS
    }

    fn cells(&self, obj: &Value) -> Vec<Value> {
        replica_cells(obj, format_labels(obj.pointer("/spec/selector")))
    }
}

/// Clears `path` (an empty map) so [`set_default`] fills it.
fn set_null(obj: &mut Value, path: &[&str]) {
    if let Some(v) = path.iter().try_fold(obj, |cur, p| cur.get_mut(*p)) {
        *v = Value::Null;
    }
}

/// Upstream's `ValidateReplicationControllerSpec`.
fn validate_spec(obj: &Value, errs: &mut Vec<FieldError>) {
    non_negative(obj, "/spec/replicas", "spec.replicas", errs);
    non_negative(obj, "/spec/minReadySeconds", "spec.minReadySeconds", errs);
    let selector = obj
        .pointer("/spec/selector")
        .and_then(Value::as_object)
        .filter(|m| !m.is_empty());
    let Some(selector) = selector else {
        errs.push(required("spec.selector"));
        if obj.pointer("/spec/template").is_none() {
            errs.push(required("spec.template"));
        }
        return;
    };
    let set = selector
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
        .collect();
    let sel = match Selector::from_set_validated(&set) {
        Ok(sel) => sel,
        Err(e) => {
            errs.push(invalid("spec.selector", &json!(selector), &e.to_string()));
            return;
        }
    };
    if obj.pointer("/spec/template").is_none() {
        errs.push(required("spec.template"));
        return;
    }
    validate_template_labels(&sel, obj, errs);
    validate_template(obj, errs);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rc(selector: Value, labels: Value) -> Value {
        json!({"metadata": {"name": "web"},
               "spec": {"selector": selector,
                        "template": {"metadata": {"labels": labels},
                                     "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}})
    }

    #[test]
    fn defaults_take_the_selector_and_labels_from_the_template() {
        let mut obj = rc(json!({}), json!({"app": "web"}));
        ReplicationControllerStrategy.default(&mut obj);
        assert_eq!(obj["spec"]["selector"], json!({"app": "web"}));
        assert_eq!(obj["metadata"]["labels"], json!({"app": "web"}));
        assert_eq!(obj["spec"]["replicas"], 1);
        assert_eq!(obj["spec"]["template"]["spec"]["restartPolicy"], "Always");
        assert!(ReplicationControllerStrategy.validate(&obj).is_empty());

        // A selector given is kept.
        let mut obj = rc(json!({"app": "web"}), json!({"app": "web", "tier": "x"}));
        ReplicationControllerStrategy.default(&mut obj);
        assert_eq!(obj["spec"]["selector"], json!({"app": "web"}));
    }

    #[test]
    fn validation_names_the_field() {
        let fields = |obj: Value| -> Vec<String> {
            ReplicationControllerStrategy
                .validate(&obj)
                .into_iter()
                .map(|e| e.field)
                .collect()
        };
        assert_eq!(
            fields(rc(json!({"app": "db"}), json!({"app": "web"}))),
            ["spec.template.metadata.labels"]
        );
        assert_eq!(
            fields(json!({"metadata": {"name": "x"}, "spec": {}})),
            ["spec.selector", "spec.template"]
        );
        let mut negative = rc(json!({"app": "web"}), json!({"app": "web"}));
        negative["spec"]["replicas"] = json!(-1);
        assert_eq!(fields(negative), ["spec.replicas"]);
        let mut never = rc(json!({"app": "web"}), json!({"app": "web"}));
        never["spec"]["template"]["spec"]["restartPolicy"] = json!("Never");
        assert_eq!(fields(never), ["spec.template.spec.restartPolicy"]);
    }

    #[test]
    fn prints_the_selector_map() {
        let mut obj = rc(json!({"app": "web"}), json!({"app": "web"}));
        obj["spec"]["replicas"] = json!(3);
        obj["status"] = json!({"replicas": 2, "readyReplicas": 1});
        let cells = ReplicationControllerStrategy.cells(&obj);
        assert_eq!(cells[1..4], [json!(3), json!(2), json!(1)]);
        assert_eq!(cells[7], json!("app=web"));
    }
}
