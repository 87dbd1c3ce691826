//! Versions of a custom resource: every served version shares one
//! storage, objects are written in the CRD's storage version, and an
//! object leaves the server in the version it was asked for. How an object
//! crosses versions is the CRD's `spec.conversion.strategy`, one
//! [`Converter`] per CRD:
//!
//! - `None`: the versions differ only in `apiVersion`, so converting is
//!   rewriting that one field, as upstream's nop converter does;
//! - `Webhook`: the CRD's conversion webhook converts ([`webhook`]), and
//!   what it returns is pruned to the target version's schema (upstream's
//!   schema-coercing converter).
//!
//! Where objects cross versions (all async: a webhook is a network call):
//!
//! ```text
//! create        request version --(before_create: to_storage)--> storage version --> etcd
//! update/patch  etcd --(to_request)--> request version --mutate, validate--> (to_storage) --> etcd
//! delete        etcd --(to_request: must succeed)--> deleted
//! get, list     etcd --(read_object / read_list: one review per list)--> request version
//! watch         each event's object (read_object), the initial list (read_list)
//! other answers the object a write returns (convert_response)
//! ```
//!
//! A field selector on a version's `selectableFields` names paths of that
//! version, so lists and watches that use one convert before they match
//! ([`read_objects`]).
//!
//! Objects stored under an older storage version are converted the same
//! way when read, so changing the storage version needs no migration of
//! what is in etcd. A conversion that fails fails the request with
//! upstream's 500 (`conversion webhook for <group>/<version>, Kind=<kind>
//! failed: ...`, no reason, as upstream's errors that are not a Status):
//! nothing is stored, and a watch ends.

pub mod webhook;

use std::collections::HashMap;

use apimachinery::resources::ResourceInfo;
use axum::body::Body;
use axum::response::Response;
use http::StatusCode;
use serde_json::Value;

use crate::errors::ApiError;
use crate::ApiServer;
pub use webhook::{Shape, Webhook};

/// Why objects could not be converted (upstream's messages).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConversionError {
    /// The webhook could not be called, or answered with a failure or a
    /// malformed review.
    #[error("conversion webhook for {gvk} failed: {reason}")]
    Failed {
        /// What was converted, `group/version, Kind=Kind`.
        gvk: String,
        /// Why, e.g. `Post "https://...": dial tcp ...: connection refused`.
        reason: String,
    },
    /// The webhook returned another number of objects than it was sent.
    #[error("conversion webhook for {gvk} returned {got} objects, expected {expected}")]
    Count {
        /// What was converted.
        gvk: String,
        /// How many came back.
        got: usize,
        /// How many were sent.
        expected: usize,
    },
    /// A converted object is in another version or kind, or is another
    /// object.
    #[error("conversion webhook for {gvk} returned {place}: {problem}")]
    InvalidObject {
        /// What was converted.
        gvk: String,
        /// Which object (`invalid converted object at index 1`).
        place: String,
        /// What is wrong with it.
        problem: String,
    },
    /// A converted object's metadata cannot be taken back.
    #[error("conversion webhook for {gvk} returned invalid metadata{place}: {problem}")]
    InvalidMetadata {
        /// What was converted.
        gvk: String,
        /// Which object in a list (` in object at index 1`), empty for one.
        place: String,
        /// What is wrong with it.
        problem: String,
    },
    /// The CRD names no ConversionReview version this server speaks.
    #[error("no supported conversion review versions")]
    NoReviewVersion,
    /// The target version is not one of the CRD's.
    #[error("request to convert CR to an invalid group/version: {0}")]
    InvalidTarget(String),
    /// An object is in a version that is not one of the CRD's.
    #[error("request to convert CR from an invalid group/version: {0}")]
    InvalidSource(String),
}

impl From<ConversionError> for ApiError {
    /// Upstream passes converter errors on as plain errors: a 500 Status
    /// with the message and no reason.
    fn from(err: ConversionError) -> ApiError {
        ApiError::Rejected {
            code: StatusCode::INTERNAL_SERVER_ERROR,
            reason: String::new(),
            message: err.to_string(),
        }
    }
}

/// How a CRD's objects cross versions (`spec.conversion.strategy`).
#[derive(Debug, Clone, PartialEq)]
pub enum Method {
    /// `None`: only `apiVersion` changes.
    None,
    /// `Webhook`: the CRD's webhook converts.
    Webhook(Webhook),
}

/// The conversion of one CRD's objects between its versions.
#[derive(Debug, Clone)]
pub struct Converter {
    group: String,
    /// Every version of the CRD (served or not) with its schema, to prune
    /// what a webhook returns.
    schemas: HashMap<String, Option<Value>>,
    method: Method,
}

impl Converter {
    /// The converter `crd` asks for.
    pub fn for_crd(crd: &Value) -> Converter {
        let group = crd
            .pointer("/spec/group")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let schemas = crd
            .pointer("/spec/versions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|v| {
                let name = v.get("name").and_then(Value::as_str)?;
                Some((
                    name.to_string(),
                    v.pointer("/schema/openAPIV3Schema").cloned(),
                ))
            })
            .collect();
        let method = match crd
            .pointer("/spec/conversion/strategy")
            .and_then(Value::as_str)
        {
            Some("Webhook") => Method::Webhook(Webhook {
                client_config: crd
                    .pointer("/spec/conversion/webhook/clientConfig")
                    .cloned()
                    .unwrap_or(Value::Null),
                review_versions: crd
                    .pointer("/spec/conversion/webhook/conversionReviewVersions")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect(),
            }),
            _ => Method::None,
        };
        Converter {
            group,
            schemas,
            method,
        }
    }

    /// A converter of `group` with the `None` strategy that knows only
    /// `version` (a kind with one version).
    pub fn single(group: &str, version: &str) -> Converter {
        Converter {
            group: group.to_string(),
            schemas: HashMap::from([(version.to_string(), None)]),
            method: Method::None,
        }
    }

    /// The CRD's strategy.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// Puts each of `objects` that is in another version of the kind into
    /// `version`, with at most one webhook call for all of them; `shape`
    /// and `gvk` name them in errors as upstream does.
    pub async fn convert(
        &self,
        server: &ApiServer,
        objects: Vec<&mut Value>,
        version: &str,
        shape: Shape,
        gvk: &str,
    ) -> Result<(), ConversionError> {
        let (desired, schema, pending) = self.pending(objects, version)?;
        if pending.is_empty() {
            return Ok(());
        }
        match &self.method {
            Method::None => {
                for obj in pending {
                    obj["apiVersion"] = Value::String(desired.clone());
                }
            }
            Method::Webhook(hook) => {
                let originals: Vec<Value> = pending.iter().map(|o| (**o).clone()).collect();
                let converted = hook
                    .convert(server, &originals, &desired, gvk, shape)
                    .await?;
                for (obj, mut new) in pending.into_iter().zip(converted) {
                    if let Some(s) = schema {
                        super::pruning::prune(s, &mut new);
                    }
                    *obj = new;
                }
            }
        }
        Ok(())
    }

    /// The desired `apiVersion`, its schema, and those of `objects` that
    /// are in another version of the CRD (objects without an `apiVersion`
    /// are left alone); an error when either version is not the CRD's.
    #[allow(clippy::type_complexity)]
    fn pending<'a>(
        &self,
        objects: Vec<&'a mut Value>,
        version: &str,
    ) -> Result<(String, Option<&Value>, Vec<&'a mut Value>), ConversionError> {
        let desired = format!("{}/{version}", self.group);
        let Some(schema) = self.schemas.get(version) else {
            return Err(ConversionError::InvalidTarget(desired));
        };
        let mut pending = Vec::new();
        for obj in objects {
            let have = api_version(obj);
            if have.is_empty() || have == desired {
                continue;
            }
            let known = have
                .strip_prefix(&self.group)
                .and_then(|v| v.strip_prefix('/'))
                .is_some_and(|v| self.schemas.contains_key(v));
            if !known {
                return Err(ConversionError::InvalidSource(have.to_string()));
            }
            pending.push(obj);
        }
        Ok((desired, schema.as_ref(), pending))
    }
}

fn api_version(obj: &Value) -> &str {
    obj.get("apiVersion").and_then(Value::as_str).unwrap_or("")
}

/// `group/version, Kind=kind`, as Go prints a GroupVersionKind.
pub fn gvk(api_version: &str, kind: &str) -> String {
    format!("{api_version}, Kind={kind}")
}

/// Whether answers about `resource` must be rewritten on the way out: a
/// custom resource whose objects may be stored in another version than
/// the one asked for (several versions), or whose schema has defaults
/// (upstream defaults custom objects when it reads them, so a default
/// added to a schema shows on objects stored before).
pub fn needed(resource: &ResourceInfo) -> bool {
    super::custom_strategy(resource).is_some_and(|s| s.multi_version || s.has_defaults())
}

/// Stored objects of `resource` as read in its version: converted (one
/// review for all of them) and defaulted. Objects of other kinds are left
/// alone.
async fn read(
    server: &ApiServer,
    resource: &ResourceInfo,
    objects: Vec<&mut Value>,
    shape: Shape,
) -> Result<(), ConversionError> {
    let Some(strategy) = super::custom_strategy(resource) else {
        return Ok(());
    };
    let mut mine: Vec<&mut Value> = objects
        .into_iter()
        .filter(|o| o.get("kind").and_then(Value::as_str) == Some(resource.kind))
        .collect();
    if mine.is_empty() {
        return Ok(());
    }
    if strategy.multi_version {
        let label = match shape {
            Shape::Object => gvk(api_version(mine[0]), resource.kind),
            Shape::List => gvk(&resource.api_version(), &format!("{}List", resource.kind)),
        };
        let targets = mine.iter_mut().map(|o| &mut **o).collect();
        strategy
            .conversion
            .convert(server, targets, resource.version, shape, &label)
            .await?;
    }
    if strategy.has_defaults() {
        for obj in mine {
            strategy.default_on_read(obj);
        }
    }
    Ok(())
}

/// A stored object of `resource` as read in the resource's version.
pub async fn read_object(
    server: &ApiServer,
    resource: &ResourceInfo,
    obj: &mut Value,
) -> Result<(), ConversionError> {
    read(server, resource, vec![obj], Shape::Object).await
}

/// The stored items of a list of `resource`, as read in its version, with
/// one review for all that need converting (upstream's list conversion).
pub async fn read_list(
    server: &ApiServer,
    resource: &ResourceInfo,
    items: &mut [Value],
) -> Result<(), ConversionError> {
    read(server, resource, items.iter_mut().collect(), Shape::List).await
}

/// Stored objects of `resource` gathered from several places (a page of
/// a list, a watch event's object and its previous state), as read in the
/// resource's version with one review.
pub async fn read_objects(
    server: &ApiServer,
    resource: &ResourceInfo,
    objects: &mut [&mut Value],
) -> Result<(), ConversionError> {
    let targets = objects.iter_mut().map(|o| &mut **o).collect();
    read(server, resource, targets, Shape::List).await
}

/// A stored object of `resource` as the resource's version sees it, when
/// that is another version (a write then changes the object in the
/// version the request speaks).
pub async fn to_request(
    server: &ApiServer,
    resource: &ResourceInfo,
    obj: &Value,
) -> Result<Option<Value>, ConversionError> {
    if !needed(resource) || obj.get("kind").and_then(Value::as_str) != Some(resource.kind) {
        return Ok(None);
    }
    let Some(strategy) = super::custom_strategy(resource).filter(|s| s.multi_version) else {
        return Ok(None);
    };
    if api_version(obj) == resource.api_version() {
        return Ok(None);
    }
    let mut view = obj.clone();
    let label = gvk(api_version(obj), resource.kind);
    strategy
        .conversion
        .convert(
            server,
            vec![&mut view],
            resource.version,
            Shape::Object,
            &label,
        )
        .await?;
    Ok(Some(view))
}

/// Puts an object of `resource` about to be stored into the storage
/// version (nothing for a kind with one version).
pub async fn to_storage(
    server: &ApiServer,
    resource: &ResourceInfo,
    obj: &mut Value,
) -> Result<(), ConversionError> {
    let Some(s) = super::custom_strategy(resource).filter(|s| s.multi_version) else {
        return Ok(());
    };
    s.to_storage_version(server, obj).await
}

/// Rewrites the objects of an answer (an object, a list's items, a
/// Table's row objects) into `resource`'s version.
pub async fn convert_response(
    server: &ApiServer,
    resp: Response,
    resource: &ResourceInfo,
) -> Result<Response, ApiError> {
    let (mut parts, body) = resp.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return Ok(Response::from_parts(parts, Body::empty()));
    };
    let Ok(mut doc) = serde_json::from_slice::<Value>(&bytes) else {
        return Ok(Response::from_parts(parts, Body::from(bytes)));
    };
    read_object(server, resource, &mut doc).await?;
    if let Some(items) = doc.get_mut("items").and_then(Value::as_array_mut) {
        read_list(server, resource, items).await?;
    }
    if let Some(rows) = doc.get_mut("rows").and_then(Value::as_array_mut) {
        let objects = rows
            .iter_mut()
            .filter_map(|r| r.get_mut("object"))
            .collect();
        read(server, resource, objects, Shape::List).await?;
    }
    parts.headers.remove(http::header::CONTENT_LENGTH);
    Ok(Response::from_parts(
        parts,
        Body::from(serde_json::to_vec(&doc).unwrap_or_default()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn crd(conversion: Value) -> Value {
        json!({"spec": {"group": "x.test", "conversion": conversion, "versions": [
            {"name": "v1", "schema": {"openAPIV3Schema": {"type": "object"}}},
            {"name": "v1beta1"}]}})
    }

    #[test]
    fn the_strategy_comes_from_the_crd() {
        assert_eq!(
            Converter::for_crd(&crd(json!({"strategy": "None"}))).method(),
            &Method::None
        );
        let hook = Converter::for_crd(&crd(json!({"strategy": "Webhook", "webhook": {
            "clientConfig": {"url": "https://h/convert"},
            "conversionReviewVersions": ["v2", "v1beta1"]}})));
        let Method::Webhook(hook) = hook.method() else {
            panic!("not a webhook: {hook:?}");
        };
        assert_eq!(hook.review_versions, vec!["v2", "v1beta1"]);
        assert_eq!(hook.client_config["url"], "https://h/convert");
    }

    #[test]
    fn only_objects_in_other_versions_are_converted() {
        let c = Converter::for_crd(&crd(json!({"strategy": "None"})));
        let mut a = json!({"apiVersion": "x.test/v1beta1", "kind": "W"});
        let mut b = json!({"apiVersion": "x.test/v1", "kind": "W"});
        let (desired, schema, pending) = c
            .pending(vec![&mut a, &mut b], "v1")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(desired, "x.test/v1");
        assert!(schema.is_some());
        assert_eq!(pending.len(), 1);
        assert_eq!(pending[0]["apiVersion"], "x.test/v1beta1");
        let mut other = json!({"apiVersion": "x.test/v9", "kind": "W"});
        assert_eq!(
            c.pending(vec![&mut other], "v1").err(),
            Some(ConversionError::InvalidSource("x.test/v9".into()))
        );
        assert_eq!(
            c.pending(vec![], "v2").err().map(|e| e.to_string()),
            Some("request to convert CR to an invalid group/version: x.test/v2".into())
        );
    }

    #[test]
    fn errors_read_as_upstream_and_are_a_reasonless_500() {
        let err = ConversionError::Failed {
            gvk: gvk("x.test/v1", "W"),
            reason: "Post \"https://h\": refused".into(),
        };
        assert_eq!(
            err.to_string(),
            "conversion webhook for x.test/v1, Kind=W failed: Post \"https://h\": refused"
        );
        let status = ApiError::from(err).status();
        assert_eq!(status["code"], 500);
        assert!(status.get("reason").is_none());
        assert_eq!(
            ConversionError::Count {
                gvk: gvk("x.test/v1", "WList"),
                got: 1,
                expected: 2
            }
            .to_string(),
            "conversion webhook for x.test/v1, Kind=WList returned 1 objects, expected 2"
        );
    }
}
