//! One audit record, `audit.k8s.io/v1` `Event`, as upstream writes it: one
//! JSON object per line of the log.

use serde::Serialize;
use serde_json::Value;

use super::policy::{Level, Stage};
use crate::authentication::UserInfo;
use crate::authorization::Attributes;

/// The user of an event (`authentication.k8s.io/v1` `UserInfo`).
#[derive(Debug, Clone, Serialize)]
pub struct User {
    /// The name.
    pub username: String,
    /// The uid, when known.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub uid: String,
    /// The groups.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    /// Extra attributes.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub extra: std::collections::BTreeMap<String, Vec<String>>,
}

impl From<&UserInfo> for User {
    fn from(u: &UserInfo) -> User {
        User {
            username: u.username.clone(),
            uid: u.uid.clone(),
            groups: u.groups.clone(),
            extra: u.extra.clone(),
        }
    }
}

/// What object a request was about.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectReference {
    /// The plural resource.
    pub resource: String,
    /// The namespace.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// The name.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// The object's uid, when the response tells it.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub uid: String,
    /// The API group (none for core).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub api_group: String,
    /// The API version.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    /// The object's resourceVersion, when the response tells it.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub resource_version: String,
    /// The subresource.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub subresource: String,
}

impl ObjectReference {
    /// The reference of a resource request.
    pub fn of(attrs: &Attributes) -> Option<ObjectReference> {
        attrs.resource_request.then(|| ObjectReference {
            resource: attrs.resource.clone(),
            namespace: attrs.namespace.clone(),
            name: attrs.name.clone(),
            uid: String::new(),
            api_group: attrs.api_group.clone(),
            api_version: attrs.api_version.clone(),
            resource_version: String::new(),
            subresource: attrs.subresource.clone(),
        })
    }
}

/// An audit event.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// `Event`.
    pub kind: &'static str,
    /// `audit.k8s.io/v1`.
    pub api_version: &'static str,
    /// The policy level that applied.
    pub level: &'static str,
    /// One id per request, shared by its stages (the `Audit-ID` header).
    #[serde(rename = "auditID")]
    pub audit_id: String,
    /// The stage this event records.
    pub stage: &'static str,
    /// The path and query.
    #[serde(rename = "requestURI")]
    pub request_uri: String,
    /// The verb (the lowercase method for non-resource requests).
    pub verb: String,
    /// The authenticated user.
    pub user: User,
    /// The user impersonated, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub impersonated_user: Option<User>,
    /// The client's address (and `X-Forwarded-For` ones before it).
    #[serde(rename = "sourceIPs")]
    pub source_ips: Vec<String>,
    /// The `User-Agent` header.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub user_agent: String,
    /// The object.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object_ref: Option<ObjectReference>,
    /// The answer's code (and for failures reason and message).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_status: Option<Value>,
    /// The request body (level Request and up).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_object: Option<Value>,
    /// The response body (level RequestResponse).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_object: Option<Value>,
    /// When the request arrived (microseconds).
    pub request_received_timestamp: String,
    /// When this stage was reached.
    pub stage_timestamp: String,
    /// Notes of the filters: the authorization decision and its reason.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub annotations: std::collections::BTreeMap<String, String>,
}

impl Event {
    /// This event at another stage and level.
    pub fn at(&self, stage: Stage, level: Level) -> Event {
        let mut ev = self.clone();
        ev.stage = stage.as_str();
        ev.level = level.as_str();
        ev.stage_timestamp = micro_time(chrono::Utc::now());
        ev
    }
}

/// A `metav1.MicroTime`: RFC 3339 with six fractional digits.
pub fn micro_time(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// The `responseStatus` of an answer: the code, and for a `Status` body
/// its status, reason, message and details, as upstream copies them.
pub fn response_status(code: u16, body: Option<&Value>) -> Value {
    let mut status = serde_json::json!({"metadata": {}, "code": code});
    if let Some(body) = body.filter(|b| b.get("kind").and_then(Value::as_str) == Some("Status")) {
        for field in ["status", "message", "reason", "details"] {
            if let Some(v) = body.get(field) {
                status[field] = v.clone();
            }
        }
    }
    status
}
