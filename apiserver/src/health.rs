//! Health endpoints: `/healthz` and `/livez` say the process is serving,
//! `/readyz` says it can do useful work, which means etcd answers, the
//! watch caches know where they start and the server's own objects are in
//! place ([`crate::ApiServer::bootstrapped`], and with RBAC the bootstrap
//! policy, [`crate::authorization::bootstrap_policy`]). A load balancer or the lab
//! script waits on `/readyz`.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::StatusCode;

use crate::ApiServer;

/// `GET /healthz`, `GET /livez`.
pub async fn healthz() -> Response {
    (StatusCode::OK, "ok").into_response()
}

/// `GET /readyz`: 200 `ok` when etcd answers within two seconds, 500 with the
/// failing check otherwise (upstream's format).
pub async fn readyz(State(server): State<Arc<ApiServer>>) -> Response {
    match server.store.healthy(Duration::from_secs(2)).await {
        Ok(()) if !server.caches_ready() => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "[+]ping ok\n[+]etcd ok\n[-]watch-cache failed: not started yet\nreadyz check failed\n",
        )
            .into_response(),
        Ok(()) if !server.bootstrapped.load(Ordering::Acquire) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "[+]ping ok\n[+]etcd ok\n[-]poststarthook/bootstrap-controller failed: not finished\nreadyz check failed\n",
        )
            .into_response(),
        Ok(()) if !server.authorizer.is_ready() => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "[+]ping ok\n[+]etcd ok\n[-]poststarthook/rbac/bootstrap-roles failed: not finished\nreadyz check failed\n",
        )
            .into_response(),
        Ok(()) => (
            StatusCode::OK,
            "[+]ping ok\n[+]etcd ok\nreadyz check passed\n",
        )
            .into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("[+]ping ok\n[-]etcd failed: {e}\nreadyz check failed\n"),
        )
            .into_response(),
    }
}
