//! Two admission plug-ins of persistent storage, as upstream enables them
//! by default:
//!
//! - **DefaultStorageClass**: a new PersistentVolumeClaim that names no
//!   class (`spec.storageClassName` absent, not `""`, and no beta class
//!   annotation) gets the cluster's default StorageClass, the newest of
//!   those annotated `storageclass.kubernetes.io/is-default-class: "true"`.
//!   Without a default class the claim is left alone (`""` would bind it
//!   to class-less volumes only).
//! - **StorageObjectInUseProtection**: a new claim gets the
//!   `kubernetes.io/pvc-protection` finalizer, a new volume
//!   `kubernetes.io/pv-protection`; the controller-manager's protection
//!   controllers remove them once no pod uses the claim / no claim is
//!   bound to the volume, so neither vanishes under a running pod.
//!
//! Both run on create only, from the kinds' strategies
//! ([`crate::registry::core::persistentvolumeclaim`],
//! [`crate::registry::core::persistentvolume`]).

use component_base::storage::{
    ANN_BETA_STORAGE_CLASS, PVC_PROTECTION_FINALIZER, PV_PROTECTION_FINALIZER,
};
use futures::future::BoxFuture;
use k8s_openapi::api::storage::v1::StorageClass;
use serde_json::{json, Value};

use crate::errors::{ApiError, Target};
use crate::ApiServer;

/// The default-class plug-in's name.
pub const DEFAULT_STORAGE_CLASS: &str = "DefaultStorageClass";
/// The finalizers plug-in's name.
pub const IN_USE_PROTECTION: &str = "StorageObjectInUseProtection";

/// Admits a new PersistentVolumeClaim (both plug-ins).
pub fn admit_claim<'a>(
    server: &'a ApiServer,
    claim: &'a mut Value,
) -> BoxFuture<'a, Result<(), ApiError>> {
    Box::pin(async move {
        if !server.config.admission.disabled(DEFAULT_STORAGE_CLASS) && names_no_class(claim) {
            if let Some(class) = default_class(server).await? {
                if let Some(spec) = claim.get_mut("spec").and_then(Value::as_object_mut) {
                    spec.insert("storageClassName".into(), json!(class));
                }
            }
        }
        if !server.config.admission.disabled(IN_USE_PROTECTION) {
            add_finalizer(claim, PVC_PROTECTION_FINALIZER);
        }
        Ok(())
    })
}

/// Admits a new PersistentVolume (the finalizer).
pub fn admit_volume<'a>(
    server: &'a ApiServer,
    volume: &'a mut Value,
) -> BoxFuture<'a, Result<(), ApiError>> {
    Box::pin(async move {
        if !server.config.admission.disabled(IN_USE_PROTECTION) {
            add_finalizer(volume, PV_PROTECTION_FINALIZER);
        }
        Ok(())
    })
}

/// Whether the claim leaves its class to the cluster.
fn names_no_class(claim: &Value) -> bool {
    let annotated = claim
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(ANN_BETA_STORAGE_CLASS))
        .is_some();
    let named = claim
        .pointer("/spec/storageClassName")
        .is_some_and(|v| !v.is_null());
    !annotated && !named
}

/// The name of the cluster's default class, if it has one.
async fn default_class(server: &ApiServer) -> Result<Option<String>, ApiError> {
    let classes: Vec<StorageClass> = server
        .list_cached("storage.k8s.io", "storageclasses", None)
        .await
        .map_err(|e| ApiError::from_storage(e, Target::default()))?
        .into_iter()
        .filter_map(|c| serde_json::from_value((*c.object).clone()).ok())
        .collect();
    Ok(component_base::storage::default_class(&classes).and_then(|c| c.metadata.name.clone()))
}

fn add_finalizer(obj: &mut Value, finalizer: &str) {
    let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) else {
        return;
    };
    let list = meta.entry("finalizers").or_insert_with(|| json!([]));
    if !list.is_array() {
        *list = json!([]);
    }
    if let Some(items) = list.as_array_mut() {
        if !items.iter().any(|f| f.as_str() == Some(finalizer)) {
            items.push(json!(finalizer));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_claim_without_any_class_takes_the_default() {
        assert!(names_no_class(&json!({"spec": {}})));
        assert!(names_no_class(&json!({"spec": {"storageClassName": null}})));
        assert!(!names_no_class(&json!({"spec": {"storageClassName": ""}})));
        assert!(!names_no_class(
            &json!({"spec": {"storageClassName": "gold"}})
        ));
        assert!(!names_no_class(&json!({"metadata": {"annotations": {
            ANN_BETA_STORAGE_CLASS: "gold"}}, "spec": {}})));
    }

    #[test]
    fn the_finalizer_is_added_once() {
        let mut obj = json!({"metadata": {"finalizers": ["a"]}});
        add_finalizer(&mut obj, PVC_PROTECTION_FINALIZER);
        add_finalizer(&mut obj, PVC_PROTECTION_FINALIZER);
        assert_eq!(
            obj["metadata"]["finalizers"],
            json!(["a", PVC_PROTECTION_FINALIZER])
        );
    }
}
