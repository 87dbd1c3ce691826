//! Namespace lifecycle: objects live in namespaces that exist and are not
//! being deleted.
//!
//! - The four system namespaces ([`SYSTEM_NAMESPACES`]) always exist: they are
//!   created at start-up by [`crate::bootstrap`].
//! - Creating an object in a namespace that does not exist is refused: the
//!   etcd transaction of the create itself requires the namespace key, so this
//!   holds even against a racing namespace deletion.
//! - Creating an object in a namespace that is `Terminating` is refused with
//!   403 Forbidden, as upstream does, so the namespace controller can empty it.
//!   The phase is read through a short-lived lookaside cache (one etcd read
//!   per namespace per second at most), since a create burst in one namespace
//!   should not double etcd's load.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::errors::{ApiError, Target};
use crate::ApiServer;

/// The namespaces every cluster has.
pub const SYSTEM_NAMESPACES: &[&str] =
    &["default", "kube-system", "kube-public", "kube-node-lease"];

/// How long a namespace's phase is trusted without re-reading it.
const TTL: Duration = Duration::from_secs(1);

/// The namespace lifecycle admission plug-in.
#[derive(Debug, Default)]
pub struct NamespaceLifecycle {
    phases: Mutex<HashMap<String, (Instant, Option<bool>)>>,
}

impl NamespaceLifecycle {
    /// Forgets what is known about a namespace (after it was written here).
    pub fn invalidate(&self, namespace: &str) {
        if let Ok(mut p) = self.phases.lock() {
            p.remove(namespace);
        }
    }

    /// The storage key of `namespace`: a create in it requires this key in
    /// the same etcd transaction.
    pub fn key(server: &ApiServer, namespace: &str) -> String {
        server.store.key("namespaces", None, namespace)
    }

    /// Checks that `namespace` may receive new objects.
    pub async fn admit_create(&self, server: &ApiServer, namespace: &str) -> Result<(), ApiError> {
        let cached = self
            .phases
            .lock()
            .ok()
            .and_then(|p| p.get(namespace).copied())
            .filter(|(at, _)| at.elapsed() < TTL)
            .map(|(_, t)| t);
        let terminating = match cached {
            Some(t) => t,
            None => {
                let ns_res = apimachinery::resources::find("", "v1", "namespaces")
                    .ok_or_else(|| ApiError::Internal("namespaces are not served".into()))?;
                let key = server.store.key(ns_res.storage_name(), None, namespace);
                let t = match server.store.get(&key).await {
                    Ok(Some(ns)) => Some(
                        ns.object.pointer("/metadata/deletionTimestamp").is_some()
                            || ns.object.pointer("/status/phase").and_then(|p| p.as_str())
                                == Some("Terminating"),
                    ),
                    Ok(None) => None,
                    Err(e) => return Err(ApiError::from_storage(e, Target::default())),
                };
                if let Ok(mut p) = self.phases.lock() {
                    if p.len() > 10_000 {
                        p.clear();
                    }
                    p.insert(namespace.to_string(), (Instant::now(), t));
                }
                t
            }
        };
        match terminating {
            None => Err(ApiError::NotFound(namespace_target(namespace))),
            Some(true) => Err(ApiError::Forbidden(
                namespace_target(namespace),
                format!(
                    "unable to create new content in namespace {namespace} because it is being terminated"
                ),
            )),
            Some(false) => Ok(()),
        }
    }
}

/// Names a namespace in errors (404 when missing, 403 when terminating).
pub fn namespace_target(namespace: &str) -> Target {
    Target {
        group: String::new(),
        resource: "namespaces".into(),
        name: namespace.into(),
    }
}
