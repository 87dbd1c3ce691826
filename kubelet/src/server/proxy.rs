//! `/podProxy/{ns}/{pod}/{scheme}/{port}/{path}`: an HTTP request to one of
//! this node's pods, for the apiserver's `pods/proxy` and `services/proxy`.
//!
//! Upstream's apiserver dials pod IPs itself, which needs a control plane
//! that can route to every pod (or the konnectivity tunnel). Pod IPs are
//! always reachable from the pod's own node, and the apiserver reaches
//! every kubelet already (logs, exec), so ours tunnels through the kubelet:
//!
//! ```text
//! kubectl ──► apiserver pods/web:8080/proxy/x ──► kubelet /podProxy/ns/web/http/8080/x ──► 10.244.1.5:8080/x
//! ```
//!
//! Only pods this kubelet runs can be reached (by namespace and name, never
//! by address), so the endpoint is no open relay. `https` talks TLS to the
//! pod without checking its certificate, as upstream's apiserver does for
//! pod and service proxies (a pod's certificate is rarely issued for its
//! IP).

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::response::{IntoResponse, Response};
use hyper_util::rt::TokioIo;

use super::{Error, State as ServerState};

/// `/podProxy/{ns}/{pod}/{scheme}/{port}` (the pod's `/`).
pub async fn root(
    State(st): State<ServerState>,
    Path((ns, pod, scheme, port)): Path<(String, String, String, u16)>,
    req: Request,
) -> Response {
    forward(&st, &ns, &pod, &scheme, port, "", req).await
}

/// `/podProxy/{ns}/{pod}/{scheme}/{port}/{*path}`.
pub async fn path(
    State(st): State<ServerState>,
    Path((ns, pod, scheme, port, rest)): Path<(String, String, String, u16, String)>,
    req: Request,
) -> Response {
    forward(&st, &ns, &pod, &scheme, port, &rest, req).await
}

async fn forward(
    st: &ServerState,
    ns: &str,
    name: &str,
    scheme: &str,
    port: u16,
    rest: &str,
    req: Request,
) -> Response {
    match forward_inner(st, ns, name, scheme, port, rest, req).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn forward_inner(
    st: &ServerState,
    ns: &str,
    name: &str,
    scheme: &str,
    port: u16,
    rest: &str,
    req: Request,
) -> Result<Response, Error> {
    let tls = match scheme {
        "http" => None,
        "https" => Some(
            component_base::tls::client_config(None, None)
                .map_err(|e| Error::BadRequest(format!("TLS client: {e}")))?,
        ),
        other => {
            return Err(Error::BadRequest(format!(
                "proxying to pods over {other} is not supported"
            )))
        }
    };
    let ip = st
        .pods
        .pods()
        .into_iter()
        .find(|p| {
            p.metadata.namespace.as_deref() == Some(ns) && p.metadata.name.as_deref() == Some(name)
        })
        .and_then(|p| p.status.and_then(|s| s.pod_ip))
        .filter(|ip| !ip.is_empty())
        .ok_or_else(|| Error::NotFound(format!("pod {ns}/{name} has no IP on this node")))?;
    let addr = if ip.contains(':') {
        format!("[{ip}]:{port}")
    } else {
        format!("{ip}:{port}")
    };
    let unreachable = |e: String| Error::BadRequest(format!("error dialing {addr}: {e}"));
    let stream = component_base::tls::dial(&addr, tls.as_ref(), std::time::Duration::from_secs(10))
        .await
        .map_err(|e| unreachable(e.to_string()))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake::<_, Body>(TokioIo::new(stream))
        .await
        .map_err(|e| unreachable(e.to_string()))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let query = req
        .uri()
        .query()
        .map(|q| format!("?{q}"))
        .unwrap_or_default();
    let (parts, body) = req.into_parts();
    let mut out = http::Request::builder()
        .method(parts.method)
        .uri(format!("/{rest}{query}"));
    for (k, v) in &parts.headers {
        if k == http::header::HOST || k == http::header::CONNECTION {
            continue;
        }
        out = out.header(k, v);
    }
    let out = out
        .header(http::header::HOST, &addr)
        .body(body)
        .map_err(|e| Error::BadRequest(e.to_string()))?;
    let resp = sender
        .send_request(out)
        .await
        .map_err(|e| unreachable(e.to_string()))?;
    Ok(component_base::proxied::streamed(resp))
}
