//! Health endpoints: `/healthz` and `/livez` say the process is serving,
//! `/readyz` says it can do useful work, which means etcd answers, the
//! watch caches know where they start and the server's own objects are in
//! place ([`crate::ApiServer::bootstrapped`], and with RBAC the bootstrap
//! policy, [`crate::authorization::bootstrap_policy`]). A load balancer or the lab
//! script waits on `/readyz`.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use http::StatusCode;

use crate::ApiServer;

/// `GET /healthz`, `GET /livez`.
pub async fn healthz() -> Response {
    (StatusCode::OK, "ok").into_response()
}

/// `GET /readyz[?verbose]`: 200 `ok` when etcd answers within two seconds,
/// the watch caches have started and the bootstrap objects exist; otherwise
/// 500 with one line per check, as upstream answers (and the same list on
/// success when `verbose` is asked for).
pub async fn readyz(
    State(server): State<Arc<ApiServer>>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let etcd = server.store.healthy(Duration::from_secs(2)).await;
    let checks: [(&str, Result<(), String>); 5] = [
        ("ping", Ok(())),
        ("etcd", etcd.map_err(|e| e.to_string())),
        (
            "watch-cache",
            if server.caches_ready() {
                Ok(())
            } else {
                Err("not started yet".into())
            },
        ),
        (
            "poststarthook/rbac/bootstrap-roles",
            if server.authorizer.is_ready() {
                Ok(())
            } else {
                Err("not finished".into())
            },
        ),
        (
            "poststarthook/bootstrap-controller",
            if server.bootstrapped.load(Ordering::Acquire) {
                Ok(())
            } else {
                Err("not finished".into())
            },
        ),
    ];
    let ready = checks.iter().all(|(_, r)| r.is_ok());
    if ready && !query.contains_key("verbose") {
        return (StatusCode::OK, "ok").into_response();
    }
    let mut body = String::new();
    for (name, result) in &checks {
        match result {
            Ok(()) => body.push_str(&format!("[+]{name} ok\n")),
            Err(why) => body.push_str(&format!("[-]{name} failed: {why}\n")),
        }
    }
    let status = if ready {
        body.push_str("readyz check passed\n");
        StatusCode::OK
    } else {
        body.push_str("readyz check failed\n");
        StatusCode::INTERNAL_SERVER_ERROR
    };
    (status, body).into_response()
}
