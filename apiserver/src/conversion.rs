//! Where objects cross versions, for every kind: what the handlers call so
//! that an object is stored in its kind's storage version and leaves the
//! server in the version the request named.
//!
//! Two kinds of kinds have several versions, and this module sends each
//! to its converter:
//!
//! - a built-in kind served at another version than its storage version
//!   (HorizontalPodAutoscalers at `autoscaling/v1`): the conversion
//!   functions its strategy registers ([`crate::registry::versions`]);
//!   synchronous and infallible on stored objects;
//! - a custom resource with several versions: its CRD's `spec.conversion`
//!   ([`crate::apiextensions::conversion`]), possibly a webhook call.
//!
//! ```text
//! create        request version --(to_storage)--> storage version --> etcd
//! update/patch  etcd --(to_request)--> request version --patch, mutate, validate--> (to_storage) --> etcd
//! delete        etcd --(to_request: must succeed)--> deleted
//! get, list     etcd --(read_object / read_list)--> request version
//! watch         each event's objects (read_objects), per watcher, and the initial list
//! other answers the object a write returns (convert_response)
//! ```

use apimachinery::resources::ResourceInfo;
use axum::response::Response;
use serde_json::Value;

use crate::apiextensions::conversion as custom;
use crate::errors::ApiError;
use crate::registry::versions::{api_version, storage_api_version};
use crate::ApiServer;

/// Why objects could not be put into another version of their kind.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A built-in kind's conversion refused the object.
    #[error(transparent)]
    Builtin(#[from] crate::registry::versions::ConversionError),
    /// A custom resource's conversion (its webhook) failed.
    #[error(transparent)]
    Custom(#[from] custom::ConversionError),
}

impl From<Error> for ApiError {
    fn from(err: Error) -> ApiError {
        match err {
            Error::Builtin(e) => e.into(),
            Error::Custom(e) => e.into(),
        }
    }
}

/// Whether answers about `resource` must be rewritten on the way out: a
/// built-in row of another version than its storage version, or a custom
/// resource that needs it (see [`custom::needed`]).
pub fn needed(resource: &ResourceInfo) -> bool {
    crate::registry::version_of(resource).is_some() || custom::needed(resource)
}

/// Puts the stored objects among `objects` (those of `resource`'s kind in
/// its storage version) into `resource`'s version.
fn from_storage(resource: &ResourceInfo, objects: Vec<&mut Value>) -> Result<bool, Error> {
    let Some(version) = crate::registry::version_of(resource) else {
        return Ok(false);
    };
    let stored = storage_api_version(resource);
    for obj in objects {
        let mine = obj.get("kind").and_then(Value::as_str) == Some(resource.kind)
            && api_version(obj) == stored;
        if mine {
            *obj = (version.from_storage)(obj)?;
        }
    }
    Ok(true)
}

/// A stored object of `resource` as read in the resource's version.
pub async fn read_object(
    server: &ApiServer,
    resource: &ResourceInfo,
    obj: &mut Value,
) -> Result<(), Error> {
    if from_storage(resource, vec![&mut *obj])? {
        return Ok(());
    }
    Ok(custom::read_object(server, resource, obj).await?)
}

/// The stored items of a list of `resource`, as read in its version.
pub async fn read_list(
    server: &ApiServer,
    resource: &ResourceInfo,
    items: &mut [Value],
) -> Result<(), Error> {
    if from_storage(resource, items.iter_mut().collect())? {
        return Ok(());
    }
    Ok(custom::read_list(server, resource, items).await?)
}

/// Stored objects of `resource` gathered from several places (a page of a
/// list, a watch event's object and its previous state), as read in the
/// resource's version.
pub async fn read_objects(
    server: &ApiServer,
    resource: &ResourceInfo,
    objects: &mut [&mut Value],
) -> Result<(), Error> {
    if from_storage(resource, objects.iter_mut().map(|o| &mut **o).collect())? {
        return Ok(());
    }
    Ok(custom::read_objects(server, resource, objects).await?)
}

/// A stored object of `resource` as the resource's version sees it, when
/// that is another version (a write then changes the object in the
/// version the request speaks).
pub async fn to_request(
    server: &ApiServer,
    resource: &ResourceInfo,
    obj: &Value,
) -> Result<Option<Value>, Error> {
    if let Some(version) = crate::registry::version_of(resource) {
        let stored = obj.get("kind").and_then(Value::as_str) == Some(resource.kind)
            && api_version(obj) == storage_api_version(resource);
        return Ok(if stored {
            Some((version.from_storage)(obj)?)
        } else {
            None
        });
    }
    Ok(custom::to_request(server, resource, obj).await?)
}

/// Puts an object of `resource` about to be stored into the storage
/// version; a built-in kind's storage defaults are applied to what the
/// conversion made (nothing for a kind with one version).
pub async fn to_storage(
    server: &ApiServer,
    resource: &ResourceInfo,
    obj: &mut Value,
) -> Result<(), Error> {
    if let Some(version) = crate::registry::version_of(resource) {
        if api_version(obj) == resource.api_version() {
            let mut stored = (version.to_storage)(obj)?;
            let storage_row = apimachinery::resources::find(
                resource.storage_group,
                resource.storage_version,
                resource.plural,
            );
            if let Some(row) = storage_row {
                crate::registry::strategy_for(row).default(&mut stored);
            }
            *obj = stored;
        }
        return Ok(());
    }
    Ok(custom::to_storage(server, resource, obj).await?)
}

/// Rewrites the objects of an answer (an object, a list's items, a
/// Table's row objects) into `resource`'s version.
pub async fn convert_response(
    server: &ApiServer,
    resp: Response,
    resource: &ResourceInfo,
) -> Result<Response, ApiError> {
    if crate::registry::version_of(resource).is_none() {
        return custom::convert_response(server, resp, resource).await;
    }
    let (mut parts, body) = resp.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return Ok(Response::from_parts(parts, axum::body::Body::empty()));
    };
    let Ok(mut doc) = serde_json::from_slice::<Value>(&bytes) else {
        return Ok(Response::from_parts(parts, axum::body::Body::from(bytes)));
    };
    let mut objects: Vec<&mut Value> = Vec::new();
    let is_list = doc.get("items").is_some_and(Value::is_array);
    let is_table = doc.get("rows").is_some_and(Value::is_array);
    if is_list {
        objects.extend(doc["items"].as_array_mut().into_iter().flatten());
    } else if is_table {
        objects.extend(
            doc["rows"]
                .as_array_mut()
                .into_iter()
                .flatten()
                .filter_map(|r| r.get_mut("object")),
        );
    } else {
        objects.push(&mut doc);
    }
    from_storage(resource, objects)?;
    parts.headers.remove(http::header::CONTENT_LENGTH);
    Ok(Response::from_parts(
        parts,
        axum::body::Body::from(serde_json::to_vec(&doc).unwrap_or_default()),
    ))
}
