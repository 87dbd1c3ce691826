//! Versions of a custom resource (`conversion: None`): every served version
//! shares one storage, objects are written in the CRD's storage version,
//! and an object leaves the server in the version it was asked for. With
//! the `None` strategy the versions differ only in `apiVersion`, so
//! converting is rewriting that one field, as upstream's nop converter does.
//!
//! Writes: an update or patch changes the stored object in the version the
//! request speaks ([`to_request`]) and stores it back in the storage
//! version ([`to_storage`], so an update that changes nothing writes
//! nothing); a new object is put into the storage version by the custom
//! resource strategy's `before_create`. Reads: the
//! generic handlers pass every answer of a custom resource with several
//! versions through [`convert_response`] (objects, lists, Tables), and the
//! watch handler passes each event's object through [`in_version`].

use apimachinery::resources::ResourceInfo;
use axum::body::Body;
use axum::response::Response;
use serde_json::Value;

/// `obj` in `api_version` when it is stored in another version of the same
/// kind; `None` when it is already in that version (nothing to do).
pub fn in_version(obj: &Value, api_version: &str) -> Option<Value> {
    let have = obj.get("apiVersion").and_then(Value::as_str)?;
    if have == api_version || have.is_empty() {
        return None;
    }
    let mut copy = obj.clone();
    copy["apiVersion"] = Value::String(api_version.to_string());
    Some(copy)
}

/// Whether answers about `resource` must be rewritten on the way out: a
/// custom resource whose objects may be stored in another version than
/// the one asked for (several versions), or whose schema has defaults
/// (upstream defaults custom objects when it reads them, so a default
/// added to a schema shows on objects stored before).
pub fn needed(resource: &ResourceInfo) -> bool {
    super::custom_strategy(resource).is_some_and(|s| s.multi_version || s.has_defaults())
}

/// `obj` (a stored object of `resource`) as read in `api_version`: in that
/// version, with the schema's defaults filled in; `None` when that changes
/// nothing.
pub fn as_read(resource: &ResourceInfo, obj: &Value, api_version: &str) -> Option<Value> {
    if obj.get("kind").and_then(Value::as_str) != Some(resource.kind) {
        return None;
    }
    let strategy = super::custom_strategy(resource)?;
    let mut out = in_version(obj, api_version);
    if strategy.has_defaults() {
        let mut defaulted = out.clone().unwrap_or_else(|| obj.clone());
        strategy.default_on_read(&mut defaulted);
        if &defaulted != obj {
            out = Some(defaulted);
        }
    }
    out
}

/// A stored object of `resource` as the resource's version sees it, when
/// that is another version (a write then changes the object in the
/// version the request speaks).
pub fn to_request(resource: &ResourceInfo, obj: &Value) -> Option<Value> {
    if !needed(resource) || obj.get("kind").and_then(Value::as_str) != Some(resource.kind) {
        return None;
    }
    in_version(obj, &resource.api_version())
}

/// Puts an object of `resource` about to be stored into the storage
/// version (nothing for a kind with one version).
pub fn to_storage(resource: &ResourceInfo, obj: &mut Value) {
    let Some(s) = super::custom_strategy(resource).filter(|s| s.multi_version) else {
        return;
    };
    if let Some(map) = obj.as_object_mut() {
        map.insert(
            "apiVersion".into(),
            Value::String(format!("{}/{}", s.group, s.storage_version)),
        );
    }
}

fn convert_in_place(v: &mut Value, resource: &ResourceInfo, api_version: &str) {
    if let Some(c) = as_read(resource, v, api_version) {
        *v = c;
    }
}

/// Rewrites the objects of an answer (an object, a list's items, a
/// Table's row objects) into `resource`'s version.
pub async fn convert_response(resp: Response, resource: &ResourceInfo) -> Response {
    let (parts, body) = resp.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return Response::from_parts(parts, Body::empty());
    };
    let Ok(mut doc) = serde_json::from_slice::<Value>(&bytes) else {
        return Response::from_parts(parts, Body::from(bytes));
    };
    let api_version = resource.api_version();
    convert_in_place(&mut doc, resource, &api_version);
    if let Some(items) = doc.get_mut("items").and_then(Value::as_array_mut) {
        for item in items {
            convert_in_place(item, resource, &api_version);
        }
    }
    if let Some(rows) = doc.get_mut("rows").and_then(Value::as_array_mut) {
        for row in rows {
            if let Some(obj) = row.get_mut("object") {
                convert_in_place(obj, resource, &api_version);
            }
        }
    }
    let mut parts = parts;
    parts.headers.remove(http::header::CONTENT_LENGTH);
    Response::from_parts(
        parts,
        Body::from(serde_json::to_vec(&doc).unwrap_or_default()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_another_version_is_rewritten() {
        let obj = json!({"apiVersion": "x.test/v1beta1", "kind": "W", "spec": {"a": 1}});
        let v1 = in_version(&obj, "x.test/v1").unwrap_or_default();
        assert_eq!(v1["apiVersion"], "x.test/v1");
        assert_eq!(v1["spec"], obj["spec"]);
        assert!(in_version(&obj, "x.test/v1beta1").is_none());
    }
}
