//! Priority admission: a pod's `priorityClassName` becomes its `spec.priority`.
//!
//! The scheduler orders its queue and chooses preemption victims by
//! `spec.priority`, a number. Users write a name (`priorityClassName`); this
//! plug-in looks the PriorityClass up at creation and copies its `value` (and
//! `preemptionPolicy`) into the pod. A pod without a class gets the value of
//! the class marked `globalDefault`, or 0. Naming a class that does not exist
//! is refused (403), as upstream does.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::errors::{ApiError, Target};
use crate::ApiServer;

/// The priority classes every cluster has (upstream creates the same two).
pub const SYSTEM_PRIORITY_CLASSES: &[(&str, i64)] = &[
    ("system-node-critical", 2_000_001_000),
    ("system-cluster-critical", 2_000_000_000),
];

/// The PriorityClasses, re-read at most once a second: every pod create
/// needs them, and they change rarely.
#[derive(Debug, Default)]
pub struct PriorityCache {
    classes: Mutex<Option<(Instant, Arc<Vec<Value>>)>>,
}

impl PriorityCache {
    async fn classes(&self, server: &ApiServer, fresh: bool) -> Result<Arc<Vec<Value>>, ApiError> {
        if !fresh {
            if let Ok(guard) = self.classes.lock() {
                if let Some((at, classes)) = guard.as_ref() {
                    if at.elapsed() < Duration::from_secs(1) {
                        return Ok(Arc::clone(classes));
                    }
                }
            }
        }
        let Some(pc_res) =
            apimachinery::resources::find("scheduling.k8s.io", "v1", "priorityclasses")
        else {
            return Ok(Arc::new(Vec::new()));
        };
        let prefix = server.store.collection_prefix(pc_res.storage_name(), None);
        let page = server
            .store
            .list(&prefix, None, 0, 0)
            .await
            .map_err(|e| ApiError::from_storage(e, Target::default()))?;
        let classes = Arc::new(
            page.items
                .into_iter()
                .map(|(_, s)| s.object)
                .collect::<Vec<_>>(),
        );
        if let Ok(mut guard) = self.classes.lock() {
            *guard = Some((Instant::now(), Arc::clone(&classes)));
        }
        Ok(classes)
    }
}

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
    let cache = &server.priority_classes;
    let mut classes = cache.classes(server, false).await?;
    let class = if name.is_empty() {
        classes
            .iter()
            .find(|pc| pc.get("globalDefault").and_then(Value::as_bool) == Some(true))
            .cloned()
    } else {
        if class_named(&classes, &name).is_none() {
            // Maybe created a moment ago: look again before refusing.
            classes = cache.classes(server, true).await?;
        }
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
