//! Relaying another server's HTTP answer as our own: what the apiserver's
//! proxies (pods, services, nodes, aggregated APIs) and the kubelet's pod
//! proxy both do with the response they got.

use axum::response::{IntoResponse, Response};
use http::StatusCode;

/// A proxied server's answer as ours: status, headers (less the
/// per-connection ones) and the body streamed through as it comes.
pub fn streamed(resp: http::Response<hyper::body::Incoming>) -> Response {
    let (parts, body) = resp.into_parts();
    let mut answer = Response::builder().status(parts.status);
    for (k, v) in &parts.headers {
        if k == http::header::CONNECTION || k == http::header::TRANSFER_ENCODING {
            continue;
        }
        answer = answer.header(k, v);
    }
    answer
        .body(axum::body::Body::new(body))
        .unwrap_or_else(|_| StatusCode::BAD_GATEWAY.into_response())
}
