//! Objects every cluster has, created when the server starts: the system
//! namespaces ([`crate::admission::SYSTEM_NAMESPACES`]) and the system
//! PriorityClasses ([`crate::admission::priority::SYSTEM_PRIORITY_CLASSES`]).
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
