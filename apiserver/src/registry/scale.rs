//! The `/scale` subresource of workloads: `spec.replicas` seen as an
//! `autoscaling/v1 Scale` (what `kubectl scale` and autoscalers speak);
//! writes go back into the parent's `spec.replicas`. The Scale's
//! `status.selector` is the parent's selector as text (`app=web`), from a
//! LabelSelector or a ReplicationController's label map.

use apimachinery::labels::Selector;
use apimachinery::resources::ResourceInfo;
use serde_json::{json, Value};

use crate::errors::ApiError;
use crate::validation::invalid;

/// The `apiVersion` of a Scale.
pub const API_VERSION: &str = "autoscaling/v1";
/// The `kind` of a Scale.
pub const KIND: &str = "Scale";

/// A Scale as a resource, for patching one (a strategic merge patch needs
/// the kind's type).
pub const RESOURCE: ResourceInfo = ResourceInfo::new("autoscaling", KIND, "scale", "scale", true);

/// The Scale view of a workload.
pub fn scale_of(obj: &Value) -> Value {
    let meta = obj.get("metadata").cloned().unwrap_or_else(|| json!({}));
    let selector = obj
        .pointer("/spec/selector")
        .and_then(selector_of)
        .map(|s| s.to_string())
        .unwrap_or_default();
    let mut status = json!({
        "replicas": obj.pointer("/status/replicas").and_then(Value::as_i64).unwrap_or(0),
    });
    if !selector.is_empty() {
        status["selector"] = json!(selector);
    }
    json!({
        "kind": KIND,
        "apiVersion": API_VERSION,
        "metadata": {
            "name": meta.get("name"),
            "namespace": meta.get("namespace"),
            "uid": meta.get("uid"),
            "resourceVersion": meta.get("resourceVersion"),
            "creationTimestamp": meta.get("creationTimestamp"),
        },
        "spec": {"replicas": obj.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(0)},
        "status": status,
    })
}

/// A workload's `spec.selector`: a LabelSelector (`matchLabels`,
/// `matchExpressions`: objects and arrays), or a ReplicationController's
/// plain label map (string values only).
fn selector_of(sel: &Value) -> Option<Selector> {
    let map = sel.as_object()?;
    if !map.is_empty() && map.values().all(Value::is_string) {
        let set = map
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
            .collect();
        return Some(Selector::from_set(&set));
    }
    Selector::from_label_selector_json(sel).ok()
}

/// The workload `obj` with the replicas a Scale asks for (none: 0); 422 for
/// a negative count. `name` names the workload in errors.
pub fn apply_scale(obj: &Value, scale: &Value, name: &str) -> Result<Value, ApiError> {
    let replicas = match scale.pointer("/spec/replicas").and_then(Value::as_i64) {
        Some(r) if r >= 0 => r,
        Some(r) => {
            return Err(ApiError::Invalid {
                kind: KIND.into(),
                group: RESOURCE.group.into(),
                name: name.into(),
                causes: vec![invalid(
                    "spec.replicas",
                    &json!(r),
                    "must be greater than or equal to 0",
                )],
            })
        }
        None => 0,
    };
    let mut updated = obj.clone();
    if let Some(spec) = updated.get_mut("spec").and_then(Value::as_object_mut) {
        spec.insert("replicas".into(), json!(replicas));
    }
    Ok(updated)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_selector_text_comes_from_either_selector_shape() {
        for sel in [
            json!({"matchLabels": {"app": "web"}}),
            json!({"app": "web"}),
        ] {
            let obj = json!({"metadata": {"name": "w"}, "spec": {"replicas": 2, "selector": sel},
                             "status": {"replicas": 1}});
            let scale = scale_of(&obj);
            assert_eq!(scale["status"]["selector"], "app=web", "{sel}");
            assert_eq!(scale["spec"]["replicas"], 2);
        }
    }
}
