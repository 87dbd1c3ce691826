//! Writing JSON answers, shared by the resource handlers, discovery and
//! OpenAPI (so none of them has to import another for it).

use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde_json::Value;

/// A JSON answer.
pub fn json(code: StatusCode, value: &Value) -> Response {
    let body = serde_json::to_vec(value).unwrap_or_default();
    (
        code,
        [(http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

/// A `Status` of success (what subresource creates such as a binding answer).
pub fn success(code: StatusCode) -> Response {
    json(
        code,
        &serde_json::json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": code.as_u16()}),
    )
}
