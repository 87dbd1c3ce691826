//! Writing JSON answers, shared by the resource handlers, discovery and
//! OpenAPI (so none of them has to import another for it), and passing on
//! the answers of the servers the apiserver proxies to (kubelets, pods,
//! extension apiservers).

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

pub use component_base::proxied::streamed;

/// A proxied server's `101 Switching Protocols`: once the client's side
/// (`client`, taken from its request) and the server's are both upgraded,
/// their bytes are copied both ways until either closes.
pub fn switched(
    client: hyper::upgrade::OnUpgrade,
    resp: &mut http::Response<hyper::body::Incoming>,
) -> Response {
    let server = hyper::upgrade::on(&mut *resp);
    tokio::spawn(async move {
        let (Ok(client), Ok(server)) = tokio::join!(client, server) else {
            return;
        };
        let mut client = hyper_util::rt::TokioIo::new(client);
        let mut server = hyper_util::rt::TokioIo::new(server);
        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
    });
    let mut answer = Response::builder().status(StatusCode::SWITCHING_PROTOCOLS);
    for (k, v) in resp.headers() {
        answer = answer.header(k, v);
    }
    answer
        .body(axum::body::Body::empty())
        .unwrap_or_else(|_| StatusCode::BAD_GATEWAY.into_response())
}
