//! Objects every cluster has, created when the server starts: the system
//! namespaces ([`crate::admission::SYSTEM_NAMESPACES`]), the system
//! PriorityClasses ([`crate::admission::priority::SYSTEM_PRIORITY_CLASSES`])
//! and the record of when legacy ServiceAccount token tracking began.
//!
//! They go through the same [`crate::registry::prepare_for_create`] as any
//! created object, straight into etcd (no admission: they are the cluster's
//! own). The server comes up and reports not-ready while etcd is down, so
//! this retries until etcd answers.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use crate::admission::priority::SYSTEM_PRIORITY_CLASSES;
use crate::admission::SYSTEM_NAMESPACES;
use crate::storage::StorageError;
use crate::ApiServer;

/// Creates the system namespaces if missing; retries until etcd answers.
pub async fn ensure_system_namespaces(server: Arc<ApiServer>) {
    let Some(ns_res) = apimachinery::resources::find("", "v1", "namespaces") else {
        return;
    };
    let mut delay = Duration::from_millis(100);
    loop {
        let mut all_ok = true;
        for name in SYSTEM_NAMESPACES {
            let mut obj = json!({
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": name},
                "spec": {"finalizers": ["kubernetes"]},
            });
            crate::registry::prepare_for_create(
                ns_res,
                &mut obj,
                &uuid::Uuid::new_v4().to_string(),
            );
            let key = server.store.key(ns_res.storage_name(), None, name);
            match server.store.create(&key, &obj, None).await {
                Ok(_) => tracing::info!(namespace = name, "created system namespace"),
                Err(StorageError::AlreadyExists) => {}
                Err(e) => {
                    tracing::debug!(error = %e, "waiting for etcd to create system namespaces");
                    all_ok = false;
                    break;
                }
            }
        }
        if all_ok {
            all_ok = ensure_priority_classes(&server).await;
        }
        if all_ok {
            all_ok = ensure_legacy_token_tracking(&server).await;
        }
        if all_ok {
            return;
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(2));
    }
}

/// Creates the system PriorityClasses if missing; false while etcd is away.
async fn ensure_priority_classes(server: &ApiServer) -> bool {
    let Some(res) = apimachinery::resources::find("scheduling.k8s.io", "v1", "priorityclasses")
    else {
        return true;
    };
    for (name, value) in SYSTEM_PRIORITY_CLASSES {
        let mut obj = json!({
            "apiVersion": "scheduling.k8s.io/v1",
            "kind": "PriorityClass",
            "metadata": {"name": name},
            "value": value,
            "preemptionPolicy": "PreemptLowerPriority",
            "description": "Used for system critical pods that must run in the cluster.",
        });
        crate::registry::prepare_for_create(res, &mut obj, &uuid::Uuid::new_v4().to_string());
        let key = server.store.key(res.storage_name(), None, name);
        match server.store.create(&key, &obj, None).await {
            Ok(_) | Err(StorageError::AlreadyExists) => {}
            Err(_) => return false,
        }
    }
    true
}

/// The ConfigMap upstream's apiserver writes once, saying since when it
/// records the use of legacy (Secret-based) ServiceAccount tokens:
/// `kube-system/kube-apiserver-legacy-service-account-token-tracking` with
/// `since: YYYY-MM-DD`. The controller-manager's legacy token cleaner reads
/// it (a token unused for a year after that date may be removed) and logs
/// an error while it is missing. False while etcd is away.
async fn ensure_legacy_token_tracking(server: &ApiServer) -> bool {
    const NAME: &str = "kube-apiserver-legacy-service-account-token-tracking";
    let Some(res) = apimachinery::resources::find("", "v1", "configmaps") else {
        return true;
    };
    let today: String = crate::registry::now().chars().take(10).collect();
    let mut obj = json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": NAME, "namespace": "kube-system"},
        "data": {"since": today},
    });
    crate::registry::prepare_for_create(res, &mut obj, &uuid::Uuid::new_v4().to_string());
    let key = server
        .store
        .key(res.storage_name(), Some("kube-system"), NAME);
    match server.store.create(&key, &obj, None).await {
        Ok(_) | Err(StorageError::AlreadyExists) => true,
        Err(_) => false,
    }
}
