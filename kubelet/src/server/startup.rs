//! `GET /startup` and `GET /startup/{ns}/{pod}`: the pods' startup traces
//! ([`crate::pod::startup_trace`]) as JSON, newest first. Not an upstream
//! kubelet endpoint; the apiserver reaches it as any other kubelet path,
//! through `nodes/<node>/proxy/startup`, so it is guarded as `nodes/proxy`.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};

use super::Error;

fn json(v: &impl serde::Serialize) -> Response {
    (
        [(http::header::CONTENT_TYPE, "application/json")],
        serde_json::to_vec(v).unwrap_or_default(),
    )
        .into_response()
}

/// Every trace the kubelet keeps.
pub async fn list(State(st): State<super::State>) -> Response {
    json(&serde_json::json!({ "items": st.pods.startup_traces() }))
}

/// The newest trace of one pod.
pub async fn one(
    State(st): State<super::State>,
    Path((ns, pod)): Path<(String, String)>,
) -> Result<Response, Error> {
    st.pods
        .startup_traces()
        .into_iter()
        .find(|t| t.namespace == ns && t.name == pod)
        .map(|t| json(&t))
        .ok_or_else(|| {
            Error::NotFound(format!(
                "no startup trace for pod {ns}/{pod} on this node (only pods started since the kubelet began are traced)"
            ))
        })
}
