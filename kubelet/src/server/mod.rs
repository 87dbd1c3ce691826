//! The kubelet's HTTP API on :10250: how the rest of the cluster reaches a
//! node's containers.
//!
//! The apiserver never touches containers itself. `kubectl logs`, `exec`,
//! `attach` and `port-forward` go to the apiserver's `pods/log`, `pods/exec`,
//! `pods/attach` and `pods/portforward` subresources, which look up the pod's
//! node and proxy the request (and, for the streaming ones, the upgraded
//! connection) to this server:
//!
//! ```text
//! kubectl ──► apiserver /api/v1/namespaces/N/pods/P/exec ──► kubelet /exec/N/P/C
//!                                       (WebSocket upgrade proxied byte for byte)
//! ```
//!
//! Endpoints, as upstream's kubelet names them:
//!
//! | path | module |
//! |---|---|
//! | `GET /healthz`, `GET /pods` | here |
//! | `GET /stats/summary` | [`stats`] |
//! | `GET /startup`, `GET /startup/{ns}/{pod}` | [`startup`] (ours: pod startup traces) |
//! | `GET /containerLogs/{ns}/{pod}/{container}` | [`logs`] |
//! | `GET /exec/{ns}/{pod}/{container}`, `GET /attach/...` | [`exec`] over [`channel`] |
//! | `GET /portForward/{ns}/{pod}` | [`portforward`] over [`spdy`] |
//! | `* /podProxy/{ns}/{pod}/{scheme}/{port}/{path}` | [`proxy`] (ours: the apiserver's `pods/proxy`) |
//!
//! Every request is served over TLS and passes [`auth`] first: the caller
//! is authenticated (client certificate, bearer token by TokenReview) and
//! authorized (SubjectAccessReview on `nodes/proxy`, `nodes/stats`, ...).
//!
//! Pods and containers are resolved from the runtime's own state (the
//! sandboxes and containers on disk), not from the apiserver: what is
//! running on this node is what the runtime says.

pub mod auth;
pub mod channel;
pub mod exec;
pub mod logs;
pub mod metrics;
pub mod portforward;
pub mod proxy;
pub mod spdy;
pub mod startup;
pub mod stats;

use std::sync::Arc;

use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::Router;
use http::StatusCode;
use k8s_openapi::api::core::v1::Pod;

use container_runtime::container::ContainerInfo;
use container_runtime::sandbox::{PodSandbox, PodSandboxState};
use container_runtime::Runtime;

/// What the server needs from the pod manager beyond the runtime.
pub trait PodSource: Send + Sync + 'static {
    /// The pods bound to this node, as the kubelet currently knows them.
    fn pods(&self) -> Vec<Pod>;
    /// The pods' startup traces, newest first ([`crate::pod::startup_trace`]).
    fn startup_traces(&self) -> Vec<crate::pod::startup_trace::Trace>;
}

/// Errors of the kubelet API, each answered as a `metav1.Status`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No such pod or container on this node (404).
    #[error("{0}")]
    NotFound(String),
    /// The request cannot be served as asked (400).
    #[error("{0}")]
    BadRequest(String),
    /// The runtime failed.
    #[error(transparent)]
    Runtime(#[from] container_runtime::Error),
}

impl Error {
    fn code(&self) -> StatusCode {
        match self {
            Error::NotFound(_) | Error::Runtime(container_runtime::Error::NotFound { .. }) => {
                StatusCode::NOT_FOUND
            }
            Error::BadRequest(_) | Error::Runtime(container_runtime::Error::State(_)) => {
                StatusCode::BAD_REQUEST
            }
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The error as a `metav1.Status` object.
    pub fn status(&self) -> serde_json::Value {
        let code = self.code();
        let reason = match code {
            StatusCode::NOT_FOUND => "NotFound",
            StatusCode::BAD_REQUEST => "BadRequest",
            _ => "InternalError",
        };
        serde_json::json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.to_string(),
            "reason": reason,
            "code": code.as_u16(),
        })
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self.status()).unwrap_or_default();
        (
            self.code(),
            [(http::header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response()
    }
}

/// Shared state of the handlers.
#[derive(Clone)]
pub struct State {
    /// The container runtime.
    pub runtime: Arc<Runtime>,
    /// The pod manager's view of the node's pods.
    pub pods: Arc<dyn PodSource>,
}

/// The kubelet API routes (tests serve this on `127.0.0.1:0`).
pub fn router(runtime: Arc<Runtime>, pods: Arc<dyn PodSource>) -> Router {
    let state = State { runtime, pods };
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/pods", get(pod_list))
        .route("/metrics", get(metrics::metrics))
        .route("/stats/summary", get(stats::summary))
        .route("/startup", get(startup::list))
        .route("/startup/{ns}/{pod}", get(startup::one))
        .route(
            "/containerLogs/{ns}/{pod}/{container}",
            get(logs::container_logs),
        )
        .route(
            "/exec/{ns}/{pod}/{container}",
            get(exec::exec).post(exec::exec),
        )
        .route(
            "/exec/{ns}/{pod}/{uid}/{container}",
            get(exec::exec_uid).post(exec::exec_uid),
        )
        .route(
            "/attach/{ns}/{pod}/{container}",
            get(exec::attach).post(exec::attach),
        )
        .route(
            "/attach/{ns}/{pod}/{uid}/{container}",
            get(exec::attach_uid).post(exec::attach_uid),
        )
        .route(
            "/portForward/{ns}/{pod}",
            get(portforward::port_forward).post(portforward::port_forward),
        )
        .route("/podProxy/{ns}/{pod}/{scheme}/{port}", any(proxy::root))
        .route("/podProxy/{ns}/{pod}/{scheme}/{port}/", any(proxy::root))
        .route(
            "/podProxy/{ns}/{pod}/{scheme}/{port}/{*rest}",
            any(proxy::path),
        )
        .route(
            "/portForward/{ns}/{pod}/{uid}",
            get(portforward::port_forward_uid).post(portforward::port_forward_uid),
        )
        .with_state(state)
}

/// How the API is served: its TLS settings and the guard every request
/// passes.
pub struct Serving {
    /// The serving pair and the client CA.
    pub tls: Arc<rustls::ServerConfig>,
    /// Authentication and authorization.
    pub guard: auth::Guard,
}

/// Serves the kubelet API over TLS on `listener`, each request
/// authenticated and authorized by `serving.guard`, until the process ends
/// (a failed accept is logged and retried).
pub async fn serve(
    listener: tokio::net::TcpListener,
    runtime: Arc<Runtime>,
    pods: Arc<dyn PodSource>,
    serving: Serving,
) {
    let app = router(runtime, pods).layer(axum::middleware::from_fn_with_state(
        Arc::new(serving.guard),
        auth::guard,
    ));
    component_base::tls::serve(listener, serving.tls, app, std::future::pending()).await;
}

async fn pod_list(axum::extract::State(st): axum::extract::State<State>) -> Response {
    let list = serde_json::json!({
        "kind": "PodList",
        "apiVersion": "v1",
        "metadata": {},
        "items": st.pods.pods(),
    });
    (
        [(http::header::CONTENT_TYPE, "application/json")],
        serde_json::to_vec(&list).unwrap_or_default(),
    )
        .into_response()
}

/// Parses a query string into pairs, keeping repeated keys (`command=a&command=b`).
pub fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// The last value of `key`.
pub fn query_get<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .rev()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// A boolean query flag as Go's `strconv.ParseBool` reads it (`1`, `true`, ...).
pub fn query_flag(pairs: &[(String, String)], key: &str) -> bool {
    matches!(
        query_get(pairs, key),
        Some("1" | "t" | "T" | "true" | "TRUE" | "True")
    )
}

/// The pod's sandbox: the Ready one if any, else the newest. `uid`, when
/// given, must match.
pub fn find_sandbox(
    runtime: &Runtime,
    namespace: &str,
    pod: &str,
    uid: Option<&str>,
) -> Result<PodSandbox, Error> {
    let mut matching: Vec<PodSandbox> = runtime
        .list_sandboxes()?
        .into_iter()
        .filter(|s| s.config.namespace == namespace && s.config.name == pod)
        .filter(|s| uid.is_none_or(|u| u.is_empty() || s.config.uid == u))
        .collect();
    matching.sort_by(|a, b| a.created_at.cmp(&b.created_at));
    let ready = matching
        .iter()
        .rposition(|s| s.state == PodSandboxState::Ready);
    match ready {
        Some(i) => Ok(matching.swap_remove(i)),
        None => matching.pop().ok_or_else(|| {
            Error::NotFound(format!("pod {namespace}/{pod} not found on this node"))
        }),
    }
}

/// The pod's container named `name`: the current attempt, or with
/// `previous` the one before it.
pub fn find_container(
    runtime: &Runtime,
    sandbox: &PodSandbox,
    name: &str,
    previous: bool,
) -> Result<ContainerInfo, Error> {
    let mut attempts: Vec<ContainerInfo> = runtime
        .list_containers()?
        .into_iter()
        .filter(|c| c.spec.sandbox_id == sandbox.id && c.spec.config.name == name)
        .collect();
    attempts.sort_by_key(|c| c.spec.config.attempt);
    let pod = format!("{}/{}", sandbox.config.namespace, sandbox.config.name);
    if previous {
        if attempts.len() < 2 {
            return Err(Error::BadRequest(format!(
                "previous terminated container \"{name}\" in pod \"{}\" not found",
                sandbox.config.name
            )));
        }
        attempts.pop();
    }
    attempts
        .pop()
        .ok_or_else(|| Error::NotFound(format!("container \"{name}\" not found in pod {pod}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_query_keys_are_kept() {
        let q = query_pairs(Some(
            "command=sh&command=-c&command=echo+hi%21&stdout=true&tty=1",
        ));
        let cmd: Vec<&str> = q
            .iter()
            .filter(|(k, _)| k == "command")
            .map(|(_, v)| v.as_str())
            .collect();
        assert_eq!(cmd, ["sh", "-c", "echo hi!"]);
        assert!(query_flag(&q, "stdout"));
        assert!(query_flag(&q, "tty"));
        assert!(!query_flag(&q, "stdin"));
    }

    #[test]
    fn errors_are_statuses() {
        let s = Error::NotFound("container \"x\" not found".into()).status();
        assert_eq!(s["code"], 404);
        assert_eq!(s["reason"], "NotFound");
        assert_eq!(s["kind"], "Status");
    }
}
