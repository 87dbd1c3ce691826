//! What the Service allocators ([`super::service_ip`],
//! [`super::service_node_port`]) share: an item of a cluster-wide range (an
//! IP, a port) is taken by creating the etcd key
//! `<prefix>/ranges/<range>/<item>` (a create fails if the key exists, so
//! two Services never get the same item, even from two apiservers), and
//! given back by deleting it.

use serde_json::{json, Value};

use crate::errors::ApiError;
use crate::storage::StorageError;
use crate::validation::{FieldError, FieldErrorKind};
use crate::ApiServer;

fn key(server: &ApiServer, range: &str, item: &str) -> String {
    format!(
        "{}/ranges/{range}/{item}",
        server.config.etcd_prefix.trim_end_matches('/')
    )
}

/// Takes `item` of `range` for `owner`; false when someone else holds it.
pub async fn reserve(
    server: &ApiServer,
    range: &str,
    item: &str,
    owner: &str,
) -> Result<bool, ApiError> {
    let key = key(server, range, item);
    match server
        .store
        .create(&key, &json!({"service": owner}), None)
        .await
    {
        Ok(_) => Ok(true),
        Err(StorageError::AlreadyExists) => Ok(false),
        Err(e) => Err(ApiError::from_storage(e, Default::default())),
    }
}

/// Gives `item` of `range` back (best effort: a leaked reservation only
/// wastes an item of the range).
pub async fn release(server: &ApiServer, range: &str, item: &str) {
    if let Err(e) = server
        .store
        .delete_unconditionally(&key(server, range, item))
        .await
    {
        tracing::warn!(range, item, error = %e, "could not release a reservation");
    }
}

/// `namespace/name` of a Service: the owner written into its reservations.
pub fn owner(svc: &Value) -> String {
    let field = |p: &str| svc.pointer(p).and_then(Value::as_str).unwrap_or("");
    format!(
        "{}/{}",
        field("/metadata/namespace"),
        field("/metadata/name")
    )
}

/// A 422 for the Service naming `field`.
pub fn invalid(svc: &Value, field: &str, message: String) -> ApiError {
    ApiError::Invalid {
        kind: "Service".into(),
        group: String::new(),
        name: svc
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .into(),
        causes: vec![FieldError {
            kind: FieldErrorKind::Invalid,
            field: field.into(),
            message,
        }],
    }
}
