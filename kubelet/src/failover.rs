//! Client-side failover across the apiservers of a highly available
//! control plane (ours; k3s's agents do the same with a node-local load
//! balancer, upstream puts a load balancer in front of the apiservers).
//!
//! The kubeconfig names one server, normally the control-plane endpoint:
//! a DNS name (or address) that every apiserver's serving certificate
//! carries, which kubeadm's `--control-plane-endpoint` makes so. Without a
//! load balancer behind that name, the node would lose the API with the
//! one control-plane node it points at. With `apiServerEndpoints` in the
//! config file (`host:port` of each apiserver), the kubelet keeps one
//! client per endpoint that dials that address but checks the server's
//! certificate for the kubeconfig's host (the TLS server name), and sends
//! every request through the endpoint that last answered. A request that
//! fails in transport (refused, unreachable, reset: no HTTP answer came
//! back) is sent again through the next endpoint, so watches, status
//! updates and leases move to a live apiserver on their next request. An
//! HTTP answer, an error status included, is an answer and is returned.
//!
//! The kubeconfig's own server comes first; the others in the order
//! given. Request bodies are buffered to be sent again (the kubelet's are
//! small JSON documents).

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use kube::client::Body;

/// Why a failover client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The kubeconfig could not be used.
    #[error(transparent)]
    Kubeconfig(#[from] component_base::client::ClientError),
    /// An endpoint is not `host:port`.
    #[error("apiServerEndpoints: {endpoint:?} is not host:port")]
    Endpoint {
        /// The entry.
        endpoint: String,
    },
    /// A client could not be made.
    #[error("a client for {endpoint}: {source}")]
    Client {
        /// The endpoint.
        endpoint: String,
        /// Why.
        source: kube::Error,
    },
}

/// How long a dead endpoint may take to refuse before the next is tried
/// (a stopped machine does not answer at all).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// The kubelet's API client from `kubeconfig`: a plain one without
/// `endpoints`, else one that fails over across them.
pub async fn client(
    kubeconfig: Option<&Path>,
    endpoints: &[String],
) -> Result<kube::Client, Error> {
    let base = component_base::client::config(kubeconfig, None).await?;
    if endpoints.is_empty() {
        return component_base::client::from_config(base).map_err(|source| Error::Client {
            endpoint: "the kubeconfig's server".into(),
            source,
        });
    }
    let host = base
        .cluster_url
        .host()
        .unwrap_or_default()
        .trim_matches(|c| c == '[' || c == ']')
        .to_string();
    let mut clients = Vec::new();
    let mut first = base.clone();
    first.connect_timeout = Some(CONNECT_TIMEOUT);
    let own = base
        .cluster_url
        .authority()
        .map(|a| a.to_string())
        .unwrap_or_default();
    clients.push((own.clone(), first));
    for endpoint in endpoints.iter().filter(|e| **e != own) {
        let url = format!("https://{endpoint}")
            .parse::<http::Uri>()
            .ok()
            .filter(|u| u.port().is_some())
            .ok_or_else(|| Error::Endpoint {
                endpoint: endpoint.clone(),
            })?;
        let mut cfg = base.clone();
        cfg.cluster_url = url;
        cfg.tls_server_name.get_or_insert_with(|| host.clone());
        cfg.connect_timeout = Some(CONNECT_TIMEOUT);
        clients.push((endpoint.clone(), cfg));
    }
    let clients = clients
        .into_iter()
        .map(|(endpoint, cfg)| {
            component_base::client::from_config(cfg)
                .map(|c| (endpoint.clone(), c))
                .map_err(|source| Error::Client { endpoint, source })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let failover = Failover {
        clients: Arc::new(clients),
        current: Arc::new(AtomicUsize::new(0)),
    };
    let svc = tower::service_fn(move |req: http::Request<Body>| {
        let f = failover.clone();
        async move { f.send(req).await }
    });
    Ok(kube::Client::new(svc, base.default_namespace))
}

/// The clients, one per endpoint, and which one answered last.
#[derive(Clone)]
struct Failover {
    clients: Arc<Vec<(String, kube::Client)>>,
    current: Arc<AtomicUsize>,
}

impl Failover {
    async fn send(&self, req: http::Request<Body>) -> Result<http::Response<Body>, kube::Error> {
        let (parts, body) = req.into_parts();
        let body = body.collect_bytes().await?;
        let n = self.clients.len();
        let start = self.current.load(Ordering::Relaxed);
        for k in 0..n {
            let i = (start + k) % n;
            let (endpoint, client) = &self.clients[i];
            let mut req = http::Request::new(Body::from(body.clone()));
            *req.method_mut() = parts.method.clone();
            *req.uri_mut() = parts.uri.clone();
            *req.version_mut() = parts.version;
            *req.headers_mut() = parts.headers.clone();
            match client.send(req).await {
                Ok(resp) => {
                    if i != start {
                        self.current.store(i, Ordering::Relaxed);
                        tracing::info!(%endpoint, "talking to the API through another apiserver");
                    }
                    return Ok(resp);
                }
                Err(e) if k + 1 == n => return Err(e),
                Err(e) => {
                    tracing::warn!(%endpoint, error = %e, "apiserver unreachable; trying the next");
                }
            }
        }
        Err(kube::Error::Service("no apiserver endpoint".into()))
    }
}
