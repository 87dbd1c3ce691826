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
//!   The phase is read through the namespaces' informer
//!   ([`crate::storage::informer`]), since a create burst in one namespace
//!   should not double etcd's load.

use crate::errors::{ApiError, Target};
use crate::ApiServer;

/// The namespaces every cluster has.
pub const SYSTEM_NAMESPACES: &[&str] =
    &["default", "kube-system", "kube-public", "kube-node-lease"];

/// The namespace lifecycle admission plug-in.
#[derive(Debug, Default)]
pub struct NamespaceLifecycle;

impl NamespaceLifecycle {
    /// The storage key of `namespace`: a create in it requires this key in
    /// the same etcd transaction.
    pub fn key(server: &ApiServer, namespace: &str) -> String {
        server.store.key("namespaces", None, namespace)
    }

    /// Checks that `namespace` may receive new objects.
    pub async fn admit_create(&self, server: &ApiServer, namespace: &str) -> Result<(), ApiError> {
        let terminating = server
            .lookup("", "namespaces", "", namespace)
            .await
            .map_err(|e| ApiError::from_storage(e, Target::default()))?
            .map(|ns| {
                ns.object.pointer("/metadata/deletionTimestamp").is_some()
                    || ns.object.pointer("/status/phase").and_then(|p| p.as_str())
                        == Some("Terminating")
            });
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
