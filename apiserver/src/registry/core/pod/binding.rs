//! `pods/binding`: how the scheduler assigns a node. A Binding sets
//! `spec.nodeName` exactly once (409 when the pod is already bound or being
//! deleted), adds the Binding's annotations and the `PodScheduled`
//! condition.
//!
//! The same Binding can be POSTed to the namespaced `bindings` resource
//! (the older way, kept by upstream), naming the pod in `metadata.name`:
//! [`BindingStrategy`] makes that create a `pods/<name>/binding` of the
//! pod, so both paths are this one. Nothing is stored under `bindings`.

use apimachinery::resources::{ResourceInfo, Subresource};
use k8s_openapi::api::core::v1::Binding as BindingObject;
use k8s_openapi::schemars::generate::SchemaGenerator;
use serde_json::{json, Value};

use crate::registry::strategy::{normalize, schema, Strategy};

use crate::errors::{ApiError, Target};
use crate::meta::{meta_mut, meta_str, now};
use crate::validation::required;

/// The `apiVersion` of a Binding.
pub const API_VERSION: &str = "v1";
/// The `kind` of a Binding.
pub const KIND: &str = "Binding";

/// A decoded Binding.
#[derive(Debug, Clone)]
pub struct Binding {
    node: String,
    annotations: Option<Value>,
    uid: Option<String>,
}

impl Binding {
    /// Reads a Binding body for the pod `pod_name`; 422 when it names no node.
    pub fn from_body(body: &Value, pod_name: &str) -> Result<Binding, ApiError> {
        let node = body
            .pointer("/target/name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .ok_or_else(|| ApiError::Invalid {
                kind: KIND.into(),
                group: String::new(),
                name: pod_name.into(),
                causes: vec![required("target.name")],
            })?
            .to_string();
        Ok(Binding {
            node,
            annotations: body.pointer("/metadata/annotations").cloned(),
            uid: body
                .pointer("/metadata/uid")
                .and_then(Value::as_str)
                .map(str::to_string),
        })
    }

    /// The pod bound to the node; `target` names the pod in errors.
    pub fn apply(&self, pod: &Value, target: &Target) -> Result<Value, ApiError> {
        let pod_name = &target.name;
        if let Some(uid) = &self.uid {
            if meta_str(pod, "uid") != Some(uid.as_str()) {
                return Err(ApiError::Conflict(
                    target.clone(),
                    format!("the UID in the binding ({uid}) does not match the pod"),
                ));
            }
        }
        if pod.pointer("/metadata/deletionTimestamp").is_some() {
            return Err(ApiError::Conflict(
                target.clone(),
                format!("pod {pod_name} is being deleted, cannot be assigned to a host"),
            ));
        }
        if let Some(existing) = pod
            .pointer("/spec/nodeName")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
        {
            return Err(ApiError::Conflict(
                target.clone(),
                format!("pod {pod_name} is already assigned to node \"{existing}\""),
            ));
        }
        let mut updated = pod.clone();
        if let Some(spec) = updated.get_mut("spec").and_then(Value::as_object_mut) {
            spec.insert("nodeName".into(), json!(self.node));
        }
        if let Some(Value::Object(extra)) = &self.annotations {
            let meta = meta_mut(&mut updated);
            let ann = meta.entry("annotations").or_insert_with(|| json!({}));
            if let Some(ann) = ann.as_object_mut() {
                for (k, v) in extra {
                    ann.insert(k.clone(), v.clone());
                }
            }
        }
        set_condition(&mut updated, "PodScheduled", "True");
        Ok(updated)
    }
}

fn set_condition(pod: &mut Value, kind: &str, status: &str) {
    let now = now();
    let Some(obj) = pod.as_object_mut() else {
        return;
    };
    let st = obj.entry("status").or_insert_with(|| json!({}));
    let Some(st) = st.as_object_mut() else { return };
    let conds = st.entry("conditions").or_insert_with(|| json!([]));
    let Some(conds) = conds.as_array_mut() else {
        return;
    };
    let new =
        json!({"type": kind, "status": status, "lastProbeTime": null, "lastTransitionTime": now});
    match conds
        .iter_mut()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(kind))
    {
        Some(c) => *c = new,
        None => conds.push(new),
    }
}

/// The strategy of the `bindings` resource: create-only, served as the
/// named pod's `binding` subresource.
pub struct BindingStrategy;

impl Strategy for BindingStrategy {
    fn normalize(&self, obj: &mut Value) -> Result<(), String> {
        normalize::<BindingObject>(obj)
    }

    fn schema(&self, gen: &mut SchemaGenerator) -> Option<String> {
        schema::<BindingObject>(gen)
    }

    fn creates_as(&self) -> Option<(&'static ResourceInfo, Subresource)> {
        apimachinery::resources::find("", "v1", "pods").map(|pods| (pods, Subresource::Binding))
    }
}
