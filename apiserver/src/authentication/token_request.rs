//! The TokenRequest API, `POST .../serviceaccounts/<name>/token`: a
//! short-lived token for a ServiceAccount, for the audiences asked for
//! (default: the API's), optionally bound to a Pod so that it dies with
//! the pod. What `kubectl create token` and a kubelet's projected token
//! volumes call.
//!
//! The request was authenticated and authorized (`create` on
//! `serviceaccounts/token`) by [`crate::filters`] like any other.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::StatusCode;
use serde_json::{json, Value};

use super::service_account::{BoundPod, ObjectRef};
use crate::errors::{ApiError, Target};
use crate::ApiServer;

/// The default lifetime of a token, as upstream (one hour).
pub const DEFAULT_EXPIRATION_SECONDS: i64 = 3600;
/// The shortest lifetime one may ask for (ten minutes).
pub const MIN_EXPIRATION_SECONDS: i64 = 600;
/// The longest (2^32 seconds, upstream's validation limit).
pub const MAX_EXPIRATION_SECONDS: i64 = 1 << 32;

/// The handler of `POST /api/v1/namespaces/{ns}/serviceaccounts/{name}/token`.
pub async fn create(
    State(server): State<Arc<ApiServer>>,
    Path((namespace, name)): Path<(String, String)>,
    headers: http::HeaderMap,
    body: Bytes,
) -> Response {
    let start = std::time::Instant::now();
    // kubectl sends protobuf, other clients JSON or YAML.
    let req = if body.iter().all(|b| b.is_ascii_whitespace()) {
        Ok(json!({}))
    } else {
        crate::request::object_body_format(&headers)
            .and_then(|format| crate::request::decode_body(&body, format))
    };
    let answer = match req {
        Ok(req) => issue(&server, &namespace, &name, req).await,
        Err(e) => Err(e),
    };
    let resp = match answer {
        Ok(obj) => crate::response::json(StatusCode::CREATED, &obj),
        Err(e) => e.into_response(),
    };
    crate::handlers::finish(start, "create", "serviceaccounts/token", resp)
}

fn target(resource: &str, group: &str, name: &str) -> Target {
    Target {
        group: group.into(),
        resource: resource.into(),
        name: name.into(),
    }
}

/// The object a TokenRequest names, through
/// [`service_account::lookup`](super::service_account::lookup): a kubelet
/// asks a token for every pod it starts, and three etcd reads per pod
/// (account, pod, node) were most of the etcd reads of a pod's start.
async fn get(
    server: &ApiServer,
    resource: &str,
    ns: &str,
    name: &str,
    expected: Option<&str>,
) -> Result<Arc<Value>, ApiError> {
    match super::service_account::lookup(server, resource, ns, name, expected).await {
        Ok(Some(found)) => Ok(found),
        Ok(None) => Err(ApiError::NotFound(target(resource, "", name))),
        Err(e) => Err(ApiError::ServiceUnavailable(e.to_string())),
    }
}

fn uid_of(obj: &Value) -> String {
    obj.pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

async fn issue(
    server: &ApiServer,
    namespace: &str,
    name: &str,
    mut req: Value,
) -> Result<Value, ApiError> {
    let accounts = &server.authenticator.service_accounts;
    if !accounts.can_issue() {
        return Err(ApiError::NotFoundPath(
            "the server could not find the requested resource (no --service-account-signing-key-file)"
                .into(),
        ));
    }
    if !req.is_object() {
        return Err(ApiError::BadRequest(
            "the body is not a TokenRequest object".into(),
        ));
    }
    if let Some(kind) = req.get("kind").and_then(Value::as_str) {
        if kind != "TokenRequest" {
            return Err(ApiError::BadRequest(format!(
                "expected a TokenRequest, got a {kind}"
            )));
        }
    }
    let spec = req.get("spec").cloned().unwrap_or(json!({}));
    let expiration = match spec.get("expirationSeconds") {
        None | Some(Value::Null) => DEFAULT_EXPIRATION_SECONDS,
        Some(v) => v.as_i64().ok_or_else(|| {
            ApiError::BadRequest("spec.expirationSeconds must be an integer".into())
        })?,
    };
    let invalid = |field: &str, value: Value, message: &str| ApiError::Invalid {
        kind: "TokenRequest".into(),
        group: "authentication.k8s.io".into(),
        name: name.into(),
        causes: vec![crate::validation::invalid(field, &value, message)],
    };
    if expiration < MIN_EXPIRATION_SECONDS {
        return Err(invalid(
            "spec.expirationSeconds",
            json!(expiration),
            "may not specify a duration less than 10 minutes",
        ));
    }
    if expiration > MAX_EXPIRATION_SECONDS {
        return Err(invalid(
            "spec.expirationSeconds",
            json!(expiration),
            "may not specify a duration larger than 2^32 seconds",
        ));
    }
    let audiences: Vec<String> = match spec.get("audiences").and_then(Value::as_array) {
        Some(a) if !a.is_empty() => a
            .iter()
            .filter_map(|v| v.as_str().map(String::from))
            .collect(),
        _ => accounts.api_audiences().to_vec(),
    };
    let account = get(server, "serviceaccounts", namespace, name, None).await?;
    let account_ref = ObjectRef {
        name: name.into(),
        uid: uid_of(&account),
    };
    let pod = match spec.get("boundObjectRef").filter(|v| !v.is_null()) {
        None => None,
        Some(bound) => {
            let kind = bound.get("kind").and_then(Value::as_str).unwrap_or("");
            let bound_name = bound.get("name").and_then(Value::as_str).unwrap_or("");
            if kind != "Pod" {
                return Err(invalid(
                    "spec.boundObjectRef.kind",
                    json!(kind),
                    "this server binds tokens to Pods only",
                ));
            }
            let want = bound
                .get("uid")
                .and_then(Value::as_str)
                .filter(|u| !u.is_empty());
            let pod = get(server, "pods", namespace, bound_name, want).await?;
            let uid = uid_of(&pod);
            if let Some(want) = want {
                if want != uid {
                    return Err(ApiError::Conflict(
                        target("pods", "", bound_name),
                        format!(
                            "the UID in the bound object reference ({want}) does not match the UID in record. The object might have been deleted and then recreated"
                        ),
                    ));
                }
            }
            // The node it runs on goes into the token too; a node that
            // is gone by now is simply not named.
            let node_name = pod
                .pointer("/spec/nodeName")
                .and_then(Value::as_str)
                .filter(|n| !n.is_empty());
            let node = match node_name {
                Some(n) => match get(server, "nodes", "", n, None).await {
                    Ok(node) => Some(ObjectRef {
                        name: n.into(),
                        uid: uid_of(&node),
                    }),
                    Err(_) => None,
                },
                None => None,
            };
            Some(BoundPod {
                pod: ObjectRef {
                    name: bound_name.into(),
                    uid,
                },
                node,
            })
        }
    };
    let now = chrono::Utc::now();
    let expires = now + chrono::Duration::seconds(expiration);
    let token = accounts
        .issue(
            namespace,
            account_ref,
            pod.clone(),
            audiences.clone(),
            now.timestamp(),
            expires.timestamp(),
        )
        .map_err(ApiError::Internal)?;
    req["apiVersion"] = json!("authentication.k8s.io/v1");
    req["kind"] = json!("TokenRequest");
    req["metadata"] = json!({
        "name": name,
        "namespace": namespace,
        "creationTimestamp": now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    });
    req["spec"]["audiences"] = json!(audiences);
    req["spec"]["expirationSeconds"] = json!(expiration);
    if let Some(bound) = pod {
        req["spec"]["boundObjectRef"]["uid"] = json!(bound.pod.uid);
        req["spec"]["boundObjectRef"]["apiVersion"] = json!("v1");
    }
    req["status"] = json!({
        "token": token,
        "expirationTimestamp": expires.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    });
    Ok(req)
}
