//! API errors, always answered as a `meta.k8s.io/v1` `Status`.
//!
//! Every non-2xx answer of the apiserver goes through [`ApiError`], so a client
//! (kubectl, kube-rs, client-go, the Python client) always gets the same shape:
//! `{"kind":"Status","status":"Failure","reason":"NotFound","code":404,...}`.
//! The `reason` is what clients branch on (`IsNotFound`, `IsConflict`, ...), the
//! `message` is what kubectl prints to the user, and `details.causes` carries
//! the field paths of validation errors.

use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde_json::{json, Value};

use crate::storage::StorageError;
use crate::validation::FieldError;

/// Names the object an error is about, for the message and `details`.
#[derive(Debug, Clone, Default)]
pub struct Target {
    /// API group (`""` for core).
    pub group: String,
    /// Plural resource name, e.g. `pods`.
    pub resource: String,
    /// Object name (may be empty for collection requests).
    pub name: String,
}

impl Target {
    /// Builds a target from a resource row and a name.
    pub fn new(
        resource: &apimachinery::resources::ResourceInfo,
        name: impl Into<String>,
    ) -> Target {
        Target {
            group: resource.group.to_string(),
            resource: resource.plural.to_string(),
            name: name.into(),
        }
    }

    /// `pods` or `deployments.apps`, as upstream's qualified resource.
    pub(crate) fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.resource.clone()
        } else {
            format!("{}.{}", self.resource, self.group)
        }
    }

    /// A 403 from an admission plug-in, worded as upstream's
    /// `admission.NewForbidden`: `pods "p3" is forbidden: <reason>`.
    pub fn admission_forbidden(&self, reason: impl std::fmt::Display) -> ApiError {
        ApiError::Forbidden(
            self.clone(),
            format!(
                "{} {:?} is forbidden: {reason}",
                self.qualified(),
                self.name
            ),
        )
    }

    fn details(&self) -> Value {
        let mut d = json!({ "name": self.name, "kind": self.resource });
        if !self.group.is_empty() {
            d["group"] = json!(self.group);
        }
        d
    }
}

/// Everything that can go wrong while serving a request.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 404: the object (or its namespace) does not exist.
    #[error("{} \"{}\" not found", .0.qualified(), .0.name)]
    NotFound(Target),
    /// 404: the path names no resource we serve.
    #[error("{0}")]
    NotFoundPath(String),
    /// 409: create of a name that is taken.
    #[error("{} \"{}\" already exists", .0.qualified(), .0.name)]
    AlreadyExists(Target),
    /// 409: optimistic concurrency failed, or a binding to an already bound pod.
    #[error("Operation cannot be fulfilled on {} \"{}\": {}", .0.qualified(), .0.name, .1)]
    Conflict(Target, String),
    /// 409: server-side apply found fields owned by other managers.
    #[error("Apply failed with {} conflict{}: {}", .0.len(), if .0.len() == 1 { "" } else { "s" }, format_conflicts(.0))]
    ApplyConflict(Vec<crate::fieldmanager::Conflict>),
    /// 422: the object failed validation.
    #[error("{kind} \"{name}\" is invalid: {}", format_causes(.causes))]
    Invalid {
        /// Kind of the object, e.g. `Deployment`.
        kind: String,
        /// API group of the kind.
        group: String,
        /// Object name.
        name: String,
        /// Every field that failed.
        causes: Vec<FieldError>,
    },
    /// 400: malformed body, bad query parameter, mismatched kind.
    #[error("{0}")]
    BadRequest(String),
    /// 403: refused by policy (e.g. creating in a terminating namespace).
    #[error("{1}")]
    Forbidden(Target, String),
    /// 405: the verb is not served on this path.
    #[error("{0}")]
    MethodNotAllowed(String),
    /// 406: we cannot produce any representation the client accepts.
    #[error("{0}")]
    NotAcceptable(String),
    /// 410: a resourceVersion or continue token older than what is kept.
    #[error("{0}")]
    Expired(String),
    /// 410 for a continue token whose snapshot was compacted, carrying (in
    /// the Status's `metadata.continue`) a token that goes on from the same
    /// key at the newest revision: the rest of an inconsistent list.
    #[error("{0}")]
    ExpiredContinue(String, String),
    /// 413: request body larger than the limit.
    #[error("{0}")]
    TooLarge(String),
    /// 415: unknown content type or patch type.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 429: try again later (e.g. an eviction blocked by a disruption budget).
    #[error("{0}")]
    TooManyRequests(String),
    /// 429 that the client should not simply retry at once, with the causes
    /// (`reason`, `message`) that say why: an eviction a disruption budget
    /// does not allow.
    #[error("{0}")]
    TooManyRequestsBecause(String, Vec<(String, String)>),
    /// 503: storage is not reachable.
    #[error("{0}")]
    ServiceUnavailable(String),
    /// 504: storage did not answer in time.
    #[error("{0}")]
    Timeout(String),
    /// 500: a bug or corrupt stored data.
    #[error("{0}")]
    Internal(String),
    /// A Status decided by someone else, passed on with its code and reason
    /// (an admission webhook's denial, see `crate::admission::webhook`).
    #[error("{message}")]
    Rejected {
        /// The HTTP status code (400 or above).
        code: StatusCode,
        /// The Status `reason`, possibly empty.
        reason: String,
        /// The Status `message`.
        message: String,
    },
}

fn format_conflicts(conflicts: &[crate::fieldmanager::Conflict]) -> String {
    conflicts
        .iter()
        .map(|c| {
            format!(
                "conflict with \"{}\" using {}: {}",
                c.manager, c.api_version, c.field
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn format_causes(causes: &[FieldError]) -> String {
    match causes {
        [one] => one.to_string(),
        many => format!(
            "[{}]",
            many.iter()
                .map(|c| c.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Shorthand for handler results.
pub type Result<T, E = ApiError> = std::result::Result<T, E>;

impl ApiError {
    /// The HTTP status code.
    pub fn code(&self) -> StatusCode {
        match self {
            ApiError::NotFound(_) | ApiError::NotFoundPath(_) => StatusCode::NOT_FOUND,
            ApiError::AlreadyExists(_) | ApiError::Conflict(..) | ApiError::ApplyConflict(_) => {
                StatusCode::CONFLICT
            }
            ApiError::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Forbidden(..) => StatusCode::FORBIDDEN,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::NotAcceptable(_) => StatusCode::NOT_ACCEPTABLE,
            ApiError::Expired(_) | ApiError::ExpiredContinue(..) => StatusCode::GONE,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::TooManyRequests(_) | ApiError::TooManyRequestsBecause(..) => {
                StatusCode::TOO_MANY_REQUESTS
            }
            ApiError::ServiceUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::Rejected { code, .. } => *code,
        }
    }

    /// The machine-readable `reason` of the Status.
    pub fn reason(&self) -> &'static str {
        match self {
            ApiError::NotFound(_) | ApiError::NotFoundPath(_) => "NotFound",
            ApiError::AlreadyExists(_) => "AlreadyExists",
            ApiError::Conflict(..) | ApiError::ApplyConflict(_) => "Conflict",
            ApiError::Invalid { .. } => "Invalid",
            ApiError::BadRequest(_) => "BadRequest",
            ApiError::Forbidden(..) => "Forbidden",
            ApiError::MethodNotAllowed(_) => "MethodNotAllowed",
            ApiError::NotAcceptable(_) => "NotAcceptable",
            ApiError::Expired(_) | ApiError::ExpiredContinue(..) => "Expired",
            ApiError::TooLarge(_) => "RequestEntityTooLarge",
            ApiError::UnsupportedMediaType(_) => "UnsupportedMediaType",
            ApiError::TooManyRequests(_) | ApiError::TooManyRequestsBecause(..) => {
                "TooManyRequests"
            }
            ApiError::ServiceUnavailable(_) => "ServiceUnavailable",
            ApiError::Timeout(_) => "Timeout",
            ApiError::Internal(_) => "InternalError",
            // The reason is the rejecter's: `status()` writes it.
            ApiError::Rejected { .. } => "",
        }
    }

    /// The full `Status` object.
    pub fn status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.to_string(),
            "reason": self.reason(),
            "code": self.code().as_u16(),
        });
        let details = match self {
            ApiError::NotFound(t)
            | ApiError::AlreadyExists(t)
            | ApiError::Conflict(t, _)
            | ApiError::Forbidden(t, _) => Some(t.details()),
            ApiError::Invalid {
                kind,
                group,
                name,
                causes,
            } => {
                let mut d = json!({
                    "name": name,
                    "kind": kind,
                    "causes": causes.iter().map(|c| json!({
                        "reason": c.kind.reason(),
                        "message": c.message,
                        "field": c.field,
                    })).collect::<Vec<_>>(),
                });
                if !group.is_empty() {
                    d["group"] = json!(group);
                }
                Some(d)
            }
            ApiError::ApplyConflict(conflicts) => Some(json!({
                "causes": conflicts.iter().map(|c| json!({
                    "reason": "FieldManagerConflict",
                    "message": format!("conflict with \"{}\" using {}", c.manager, c.api_version),
                    "field": c.field,
                })).collect::<Vec<_>>(),
            })),
            ApiError::TooManyRequests(_) => Some(json!({"retryAfterSeconds": RETRY_AFTER_SECONDS})),
            ApiError::TooManyRequestsBecause(_, causes) => Some(json!({
                "causes": causes.iter().map(|(reason, message)| json!({
                    "reason": reason,
                    "message": message,
                })).collect::<Vec<_>>(),
            })),
            _ => None,
        };
        if let Some(d) = details {
            status["details"] = d;
        }
        if let ApiError::ExpiredContinue(_, token) = self {
            status["metadata"] = json!({ "continue": token });
        }
        if let ApiError::Rejected { reason, .. } = self {
            if reason.is_empty() {
                if let Some(o) = status.as_object_mut() {
                    o.remove("reason");
                }
            } else {
                status["reason"] = json!(reason);
            }
        }
        status
    }

    /// Maps a storage failure onto the object it concerned.
    pub fn from_storage(err: StorageError, target: Target) -> ApiError {
        match err {
            StorageError::NotFound => ApiError::NotFound(target),
            StorageError::AlreadyExists => ApiError::AlreadyExists(target),
            StorageError::Conflict => ApiError::Conflict(
                target,
                "the object has been modified; please apply your changes to the latest version and try again".into(),
            ),
            StorageError::Compacted { requested, compacted } => ApiError::Expired(format!(
                "too old resource version: {requested} ({compacted})"
            )),
            StorageError::Unavailable(msg) => {
                ApiError::ServiceUnavailable(format!("storage is unavailable: {msg}"))
            }
            StorageError::TooLarge => ApiError::TooLarge(
                "the object is larger than the storage accepts (etcd's --max-request-bytes)".into(),
            ),
            StorageError::Timeout => ApiError::Timeout(
                "the storage did not answer in time; the request may or may not have been applied"
                    .into(),
            ),
            StorageError::Transform { key, reason } => {
                ApiError::Internal(format!("cannot encrypt the object for {key}: {reason}"))
            }
            StorageError::Corrupt { key, reason } => {
                ApiError::Internal(format!("stored object at {key} cannot be decoded: {reason}"))
            }
        }
    }
}

impl From<StorageError> for ApiError {
    fn from(err: StorageError) -> ApiError {
        ApiError::from_storage(err, Target::default())
    }
}

/// How long a client told 429 should wait before trying again.
const RETRY_AFTER_SECONDS: u64 = 1;

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = self.status().to_string();
        let mut resp = (
            self.code(),
            [(http::header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response();
        if matches!(self, ApiError::TooManyRequests(_)) {
            resp.headers_mut().insert(
                http::header::RETRY_AFTER,
                http::HeaderValue::from(RETRY_AFTER_SECONDS),
            );
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validation::FieldErrorKind;

    #[test]
    fn not_found_message_matches_upstream() {
        let t = Target {
            group: "apps".into(),
            resource: "deployments".into(),
            name: "web".into(),
        };
        let s = ApiError::NotFound(t).status();
        assert_eq!(s["message"], "deployments.apps \"web\" not found");
        assert_eq!(s["code"], 404);
        assert_eq!(s["details"]["group"], "apps");
    }

    #[test]
    fn invalid_lists_causes() {
        let e = ApiError::Invalid {
            kind: "Pod".into(),
            group: String::new(),
            name: "p".into(),
            causes: vec![FieldError {
                kind: FieldErrorKind::Required,
                field: "spec.containers".into(),
                message: "Required value".into(),
            }],
        };
        let s = e.status();
        assert_eq!(s["code"], 422);
        assert_eq!(s["reason"], "Invalid");
        assert_eq!(s["details"]["causes"][0]["field"], "spec.containers");
        assert!(s["message"]
            .as_str()
            .unwrap_or_default()
            .starts_with("Pod \"p\" is invalid: spec.containers"));
    }
}
