//! Per-kind behaviour around the generic handlers (upstream calls these
//! "strategies", one per resource under `pkg/registry/`).
//!
//! The handlers treat every object as JSON; this module is where kinds differ:
//!
//! - [`prepare_for_create`]: the server owns `uid`, `creationTimestamp`,
//!   `generation` and the initial `status` (a new Pod is `Pending`, a new
//!   Deployment has no status yet, a new Namespace is `Active`).
//! - [`prepare_for_update`]: what a client may not change on the main resource
//!   (identity, `status` when a `/status` subresource exists) is copied back
//!   from the stored object, and `generation` goes up when the desired state
//!   (`spec`) changed, so controllers can report `observedGeneration`.
//! - [`prepare_for_status_update`]: the mirror image for `/status`: only
//!   `status` comes from the request.
//! - then the kind's defaults and validation ([`crate::defaults`],
//!   [`crate::validation`]) run on the result.

use apimachinery::resources::{ResourceInfo, Subresource};
use serde_json::{json, Map, Value};

use crate::errors::ApiError;
use crate::validation::{FieldError, FieldErrorKind};

mod pods;

pub use pods::{is_bound, is_terminal, qos_class};

/// The current time as Kubernetes writes timestamps (RFC 3339, seconds, UTC).
pub fn now() -> String {
    now_plus(0)
}

/// A timestamp `secs` seconds from now.
pub fn now_plus(secs: i64) -> String {
    let t = chrono::Utc::now() + chrono::Duration::seconds(secs);
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// `metadata` of an object as a mutable map, created if missing.
pub fn meta_mut(obj: &mut Value) -> &mut Map<String, Value> {
    if !obj.get("metadata").is_some_and(Value::is_object) {
        if !obj.is_object() {
            *obj = Value::Object(Map::new());
        }
        obj["metadata"] = Value::Object(Map::new());
    }
    match obj.get_mut("metadata") {
        Some(Value::Object(m)) => m,
        _ => unreachable!("metadata was just made an object"),
    }
}

/// A string field of `metadata`.
pub fn meta_str<'a>(obj: &'a Value, field: &str) -> Option<&'a str> {
    obj.get("metadata")?.get(field)?.as_str()
}

/// `metadata.finalizers` as strings.
pub fn finalizers(obj: &Value) -> Vec<String> {
    obj.pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Whether a kind keeps its desired state outside `spec` (ConfigMaps, Secrets,
/// ...): then every top-level field but `metadata` and `status` is "spec".
fn desired_state(obj: &Value) -> Value {
    match obj.get("spec") {
        Some(spec) => spec.clone(),
        None => {
            let mut copy = obj.clone();
            if let Some(m) = copy.as_object_mut() {
                m.remove("metadata");
                m.remove("status");
                m.remove("kind");
                m.remove("apiVersion");
            }
            copy
        }
    }
}

/// Sets what the server owns on a new object and its initial status.
pub fn prepare_for_create(resource: &ResourceInfo, obj: &mut Value, uid: &str) {
    let now = now();
    let meta = meta_mut(obj);
    meta.insert("uid".into(), json!(uid));
    meta.insert("creationTimestamp".into(), json!(now));
    meta.insert("generation".into(), json!(1));
    meta.remove("resourceVersion");
    meta.remove("deletionTimestamp");
    meta.remove("deletionGracePeriodSeconds");
    if meta.get("labels").is_some_and(Value::is_null) {
        meta.remove("labels");
    }
    if meta.get("annotations").is_some_and(Value::is_null) {
        meta.remove("annotations");
    }
    let Some(map) = obj.as_object_mut() else {
        return;
    };
    map.insert("apiVersion".into(), Value::String(resource.api_version()));
    map.insert("kind".into(), Value::String(resource.kind.into()));
    match resource.kind {
        "Pod" => {
            let qos = qos_class(obj);
            if let Some(map) = obj.as_object_mut() {
                map.insert(
                    "status".into(),
                    json!({"phase": "Pending", "qosClass": qos}),
                );
            }
        }
        "Namespace" => {
            map.insert("status".into(), json!({"phase": "Active"}));
        }
        "Service" => {
            map.insert("status".into(), json!({"loadBalancer": {}}));
        }
        "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet" | "Job" | "CronJob" => {
            map.insert("status".into(), json!({}));
            if resource.kind == "Job" {
                crate::defaults::job_selector_and_labels(obj, uid);
            }
        }
        _ => {}
    }
}

/// Carries over from `old` what a client cannot change through the main
/// resource, and bumps `generation` when the desired state changed.
pub fn prepare_for_update(resource: &ResourceInfo, new: &mut Value, old: &Value) {
    let old_meta = old.get("metadata").cloned().unwrap_or_else(|| json!({}));
    {
        let meta = meta_mut(new);
        for field in [
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
        ] {
            match old_meta.get(field) {
                Some(v) => {
                    meta.insert(field.into(), v.clone());
                }
                None => {
                    meta.remove(field);
                }
            }
        }
    }
    if let Some(map) = new.as_object_mut() {
        map.insert("apiVersion".into(), Value::String(resource.api_version()));
        map.insert("kind".into(), Value::String(resource.kind.into()));
        if resource.has_subresource(Subresource::Status) {
            match old.get("status") {
                Some(s) => {
                    map.insert("status".into(), s.clone());
                }
                None => {
                    map.remove("status");
                }
            }
        }
    }
    if resource.kind == "Namespace" {
        // spec.finalizers only change through /finalize.
        match old.pointer("/spec/finalizers") {
            Some(f) => {
                if let Some(spec) = new
                    .as_object_mut()
                    .map(|m| m.entry("spec").or_insert_with(|| json!({})))
                {
                    if let Some(spec) = spec.as_object_mut() {
                        spec.insert("finalizers".into(), f.clone());
                    }
                }
            }
            None => {
                if let Some(spec) = new.get_mut("spec").and_then(Value::as_object_mut) {
                    spec.remove("finalizers");
                }
            }
        }
    }
    if desired_state(new) != desired_state(old) {
        let generation = old_meta
            .get("generation")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        meta_mut(new).insert("generation".into(), json!(generation + 1));
    }
}

/// For `/status` writes: the stored object with only `status` taken from the
/// request (plus `metadata` that status writers may set: none).
pub fn prepare_for_status_update(new: &Value, old: &Value) -> Value {
    let mut merged = old.clone();
    if let Some(map) = merged.as_object_mut() {
        match new.get("status") {
            Some(s) => {
                map.insert("status".into(), s.clone());
            }
            None => {
                map.remove("status");
            }
        }
    }
    merged
}

/// For `/finalize` writes on namespaces: only `spec.finalizers` changes.
pub fn prepare_for_finalize(new: &Value, old: &Value) -> Value {
    let mut merged = old.clone();
    let finalizers = new
        .pointer("/spec/finalizers")
        .cloned()
        .unwrap_or_else(|| json!([]));
    if let Some(map) = merged.as_object_mut() {
        let spec = map.entry("spec").or_insert_with(|| json!({}));
        if let Some(spec) = spec.as_object_mut() {
            spec.insert("finalizers".into(), finalizers);
        }
    }
    merged
}

/// Checks the parts of an update that are the same for every kind: name,
/// namespace and uid cannot change, and a resourceVersion, when given, must be
/// the stored one.
pub fn validate_identity(
    resource: &ResourceInfo,
    new: &Value,
    old: &Value,
) -> Result<(), ApiError> {
    let mut causes = Vec::new();
    for field in ["name", "namespace"] {
        let n = meta_str(new, field).unwrap_or("");
        let o = meta_str(old, field).unwrap_or("");
        if n != o && !(field == "namespace" && n.is_empty()) {
            causes.push(FieldError {
                kind: FieldErrorKind::Invalid,
                field: format!("metadata.{field}"),
                message: format!("Invalid value: {n:?}: field is immutable"),
            });
        }
    }
    if let Some(uid) = meta_str(new, "uid") {
        if !uid.is_empty() && Some(uid) != meta_str(old, "uid") {
            causes.push(FieldError {
                kind: FieldErrorKind::Invalid,
                field: "metadata.uid".into(),
                message: format!("Invalid value: {uid:?}: field is immutable"),
            });
        }
    }
    if causes.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Invalid {
            kind: resource.kind.into(),
            group: resource.group.into(),
            name: meta_str(old, "name").unwrap_or("").into(),
            causes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use apimachinery::resources::find;

    #[test]
    fn create_sets_server_fields() {
        let pods = find("", "v1", "pods").expect("pods");
        let mut pod = json!({"metadata": {"name": "p", "resourceVersion": "3", "creationTimestamp": null},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]},
            "status": {"phase": "Running"}});
        prepare_for_create(pods, &mut pod, "u-1");
        assert_eq!(pod["metadata"]["uid"], "u-1");
        assert_eq!(pod["metadata"]["generation"], 1);
        assert!(pod["metadata"].get("resourceVersion").is_none());
        assert!(pod["metadata"]["creationTimestamp"].is_string());
        assert_eq!(pod["status"]["phase"], "Pending");
        assert_eq!(pod["status"]["qosClass"], "BestEffort");
        assert_eq!(pod["kind"], "Pod");
    }

    #[test]
    fn generation_moves_with_spec_only() {
        let deps = find("apps", "v1", "deployments").expect("deployments");
        let old = json!({"metadata": {"name": "d", "generation": 3, "uid": "u"},
            "spec": {"replicas": 1}, "status": {"replicas": 1}});
        let mut same = json!({"metadata": {"name": "d", "labels": {"a": "b"}},
            "spec": {"replicas": 1}, "status": {"replicas": 7}});
        prepare_for_update(deps, &mut same, &old);
        assert_eq!(same["metadata"]["generation"], 3);
        assert_eq!(same["status"]["replicas"], 1, "status kept from storage");
        assert_eq!(same["metadata"]["uid"], "u");
        let mut changed = json!({"metadata": {"name": "d"}, "spec": {"replicas": 2}});
        prepare_for_update(deps, &mut changed, &old);
        assert_eq!(changed["metadata"]["generation"], 4);

        let cms = find("", "v1", "configmaps").expect("configmaps");
        let old = json!({"metadata": {"name": "c", "generation": 1}, "data": {"a": "1"}});
        let mut new = json!({"metadata": {"name": "c"}, "data": {"a": "2"}});
        prepare_for_update(cms, &mut new, &old);
        assert_eq!(new["metadata"]["generation"], 2);
    }

    #[test]
    fn status_update_takes_only_status() {
        let old =
            json!({"metadata": {"name": "p"}, "spec": {"a": 1}, "status": {"phase": "Pending"}});
        let new = json!({"metadata": {"name": "p", "labels": {"x": "y"}}, "spec": {"a": 2}, "status": {"phase": "Running"}});
        let merged = prepare_for_status_update(&new, &old);
        assert_eq!(merged["spec"]["a"], 1);
        assert_eq!(merged["status"]["phase"], "Running");
        assert!(merged["metadata"].get("labels").is_none());
    }

    #[test]
    fn identity_is_immutable() {
        let cms = find("", "v1", "configmaps").expect("configmaps");
        let old = json!({"metadata": {"name": "c", "namespace": "a", "uid": "1"}});
        let new = json!({"metadata": {"name": "d", "namespace": "a"}});
        assert!(matches!(
            validate_identity(cms, &new, &old),
            Err(ApiError::Invalid { .. })
        ));
        let ok = json!({"metadata": {"name": "c", "namespace": "a", "uid": "1"}});
        assert!(validate_identity(cms, &ok, &old).is_ok());
    }
}
