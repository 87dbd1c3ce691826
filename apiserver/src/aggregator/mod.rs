//! API aggregation: what kube-aggregator does in front of upstream's
//! kube-apiserver. An `apiregistration.k8s.io/v1` APIService names a
//! group/version and either says it is served here (`Local`, no
//! `spec.service`) or points at a Service whose pods serve it (an
//! extension apiserver such as metrics-server or the sample-apiserver).
//!
//! ```text
//! client ─► /apis/G/V/... ─► authn, authz (filters) ─► handlers::dispatch
//!             APIService V.G with spec.service?  ── no ──► served here
//!                                    │ yes
//!                                    ▼
//!   proxy: Service ─► ready EndpointSlice address (resolver)
//!          HTTPS, verified with spec.caBundle as <svc>.<ns>.svc,
//!          presenting --proxy-client-cert-file (front-proxy client cert),
//!          the user in X-Remote-User / X-Remote-Group / X-Remote-Extra-*
//! ```
//!
//! Beside the proxy: [`available`] keeps each APIService's `Available`
//! condition true or false (Local, Passed, ServiceNotFound,
//! MissingEndpoints, FailedDiscoveryCheck, ...) by checking the backend's
//! `/apis/G/V`, and keeps what it read there for discovery
//! ([`discovery`]), so `/apis` and aggregated discovery list the
//! extension's resources; [`autoregister`] makes the Local APIServices of
//! the groups served here; [`authentication_trust`] publishes the
//! `extension-apiserver-authentication` ConfigMap extension servers read
//! to trust the proxy.

pub mod authentication_trust;
pub mod autoregister;
pub mod available;
pub mod discovery;
pub mod proxy;
pub mod resolver;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use component_base::tls::ClientPair;
use serde_json::Value;

use crate::ApiServer;

/// The request-header authentication flags (`--requestheader-*`): which
/// front proxy a server behind it trusts, and where that proxy puts the
/// user. Published for extension servers in `extension-apiserver-authentication`.
#[derive(Debug, Clone, Default)]
pub struct RequestHeaderOptions {
    /// `--requestheader-client-ca-file`: the CA of front-proxy client certificates.
    pub client_ca_file: Option<PathBuf>,
    /// `--requestheader-allowed-names`: the CommonNames a front proxy may
    /// have (empty: any the CA signed).
    pub allowed_names: Vec<String>,
    /// `--requestheader-username-headers` (e.g. `X-Remote-User`).
    pub username_headers: Vec<String>,
    /// `--requestheader-uid-headers` (e.g. `X-Remote-Uid`).
    pub uid_headers: Vec<String>,
    /// `--requestheader-group-headers` (e.g. `X-Remote-Group`).
    pub group_headers: Vec<String>,
    /// `--requestheader-extra-headers-prefix` (e.g. `X-Remote-Extra-`).
    pub extra_headers_prefix: Vec<String>,
}

/// The aggregator's flags.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `--proxy-client-cert-file`: who this server is to extension servers.
    pub proxy_client_cert_file: Option<PathBuf>,
    /// `--proxy-client-key-file`: its key.
    pub proxy_client_key_file: Option<PathBuf>,
    /// `--requestheader-*`.
    pub requestheader: RequestHeaderOptions,
}

/// The aggregator's state in the apiserver.
#[derive(Debug)]
pub struct Aggregator {
    /// The front-proxy client certificate, presented to every backend.
    pub(crate) proxy_client: Option<ClientPair>,
    /// Every APIService as last seen by [`available`], with what its
    /// backend's discovery said.
    registered: Mutex<Arc<Vec<discovery::Registered>>>,
}

impl Aggregator {
    /// Reads the proxy client certificate the options name.
    pub fn new(opts: &Options) -> Result<Aggregator, component_base::tls::TlsError> {
        let proxy_client = match (&opts.proxy_client_cert_file, &opts.proxy_client_key_file) {
            (Some(c), Some(k)) => Some(ClientPair::read(c, k)?),
            (None, None) => None,
            _ => return Err(component_base::tls::TlsError::HalfPair),
        };
        Ok(Aggregator {
            proxy_client,
            registered: Mutex::new(Arc::new(Vec::new())),
        })
    }

    /// The APIServices as last seen.
    pub fn registered(&self) -> Arc<Vec<discovery::Registered>> {
        match self.registered.lock() {
            Ok(r) => Arc::clone(&r),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    pub(crate) fn set_registered(&self, now: Vec<discovery::Registered>) {
        let mut r = match self.registered.lock() {
            Ok(r) => r,
            Err(poisoned) => poisoned.into_inner(),
        };
        *r = Arc::new(now);
    }
}

/// Runs `step` every `period` once the server's own objects are in place
/// (`kube-system` exists), until the server stops.
async fn periodically<F, Fut>(server: Arc<ApiServer>, period: std::time::Duration, mut step: F)
where
    F: FnMut(Arc<ApiServer>) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut stopping = server.stopping.subscribe();
    loop {
        // Until then, look again soon: the first round should follow the
        // bootstrap closely.
        let wait = if server
            .bootstrapped
            .load(std::sync::atomic::Ordering::Acquire)
        {
            step(Arc::clone(&server)).await;
            period
        } else {
            std::time::Duration::from_millis(200)
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stopping.wait_for(|s| *s) => return,
        }
    }
}

/// Starts the aggregator's controllers.
pub fn start(server: &Arc<ApiServer>) {
    tokio::spawn(available::run(Arc::clone(server)));
    tokio::spawn(autoregister::run(Arc::clone(server)));
    tokio::spawn(authentication_trust::run(Arc::clone(server)));
}

/// An APIService's `spec.service`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceRef {
    /// The Service's namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// The Service port (443 by default).
    pub port: i64,
}

impl ServiceRef {
    /// The reference of an APIService, `None` for a Local one.
    pub fn of(apiservice: &Value) -> Option<ServiceRef> {
        let svc = apiservice
            .pointer("/spec/service")
            .filter(|v| v.is_object())?;
        let text = |k: &str| svc.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        Some(ServiceRef {
            namespace: text("namespace"),
            name: text("name"),
            port: svc.get("port").and_then(Value::as_i64).unwrap_or(443),
        })
    }

    /// The name the backend's certificate must be valid for.
    pub fn server_name(&self) -> String {
        format!("{}.{}.svc", self.name, self.namespace)
    }
}

/// Whether an APIService's `Available` condition is `True`.
pub fn is_available(apiservice: &Value) -> bool {
    apiservice
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Available" && c["status"] == "True")
}

/// The APIService that serves `path` from a backend, if any: the one
/// named `V.G` for `/apis/G/V` and everything under it, when it has a
/// `spec.service`. Read from what the availability controller last saw
/// (at most a second old), so the many requests that are not aggregated
/// cost no more than a look through a short list.
pub fn remote_for(server: &ApiServer, path: &str) -> Option<discovery::Registered> {
    let rest = path.strip_prefix("/apis/")?;
    let mut parts = rest.splitn(3, '/');
    let group = parts.next().filter(|g| !g.is_empty())?;
    let version = parts.next().filter(|v| !v.is_empty())?;
    server
        .aggregator
        .registered()
        .iter()
        .find(|r| r.remote && r.group == group && r.version == version)
        .cloned()
}
