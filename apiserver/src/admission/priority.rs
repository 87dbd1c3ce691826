//! Priority admission: a pod's `priorityClassName` becomes its `spec.priority`.
//!
//! The scheduler orders its queue and chooses preemption victims by
//! `spec.priority`, a number. Users write a name (`priorityClassName`); this
//! plug-in looks the PriorityClass up at creation (in the PriorityClasses'
//! informer) and copies its `value` (and
//! `preemptionPolicy`) into the pod. A pod without a class gets the value of
//! the class marked `globalDefault`, or 0. Naming a class that does not exist
//! is refused (403), as upstream does.

use serde_json::{json, Value};

use crate::errors::{ApiError, Target};
use crate::ApiServer;

/// The priority classes every cluster has (upstream creates the same two).
pub const SYSTEM_PRIORITY_CLASSES: &[(&str, i64)] = &[
    ("system-node-critical", 2_000_001_000),
    ("system-cluster-critical", 2_000_000_000),
];

fn class_named<'a>(classes: &'a [Value], name: &str) -> Option<&'a Value> {
    classes
        .iter()
        .find(|c| c.pointer("/metadata/name").and_then(Value::as_str) == Some(name))
}

/// Resolves the priority of a pod about to be created.
pub async fn admit_pod(server: &ApiServer, pod: &mut Value) -> Result<(), ApiError> {
    let name = pod
        .pointer("/spec/priorityClassName")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    // From the informer, which has applied every class written through this
    // apiserver: a class created a moment ago is there.
    let classes: Vec<Value> = server
        .list_cached("scheduling.k8s.io", "priorityclasses", None)
        .await
        .map_err(|e| ApiError::from_storage(e, Target::default()))?
        .into_iter()
        .map(|c| (*c.object).clone())
        .collect();
    let class = if name.is_empty() {
        classes
            .iter()
            .find(|pc| pc.get("globalDefault").and_then(Value::as_bool) == Some(true))
            .cloned()
    } else {
        match class_named(&classes, &name) {
            Some(c) => Some(c.clone()),
            None => {
                return Err(ApiError::Forbidden(
                    Target {
                        group: String::new(),
                        resource: "pods".into(),
                        name: pod
                            .pointer("/metadata/name")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .into(),
                    },
                    format!("no PriorityClass with name {name} was found"),
                ))
            }
        }
    };
    let value = class
        .as_ref()
        .and_then(|c| c.get("value"))
        .and_then(Value::as_i64)
        .unwrap_or(0);
    if let Some(requested) = pod.pointer("/spec/priority").and_then(Value::as_i64) {
        if requested != value {
            return Err(ApiError::Forbidden(
                Target::default(),
                format!(
                    "the integer value of priority ({requested}) must not be provided in pod spec; priority admission controller computed {value} from the given PriorityClass name"
                ),
            ));
        }
    }
    if let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) {
        spec.insert("priority".into(), json!(value));
        if let Some(c) = &class {
            if !name.is_empty() || c.get("globalDefault").is_some() {
                if let Some(n) = c.pointer("/metadata/name") {
                    spec.insert("priorityClassName".into(), n.clone());
                }
            }
            if let Some(policy) = c.get("preemptionPolicy") {
                spec.insert("preemptionPolicy".into(), policy.clone());
            }
        }
    }
    Ok(())
}
