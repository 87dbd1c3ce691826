//! The kubelet's serving certificate through the CSR API
//! (`serverTLSBootstrap: true`; upstream's kubelet server certificate
//! manager).
//!
//! ```text
//! start: <cert-dir>/kubelet-server-current.pem usable? ─▶ served at once
//! renewal (no pair: at once; else at 70-90% of its life, as the client's):
//!   GET the Node ─▶ template: CN system:node:<name>, O system:nodes,
//!   DNS names = its Hostname/InternalDNS/ExternalDNS addresses, IPs = its
//!   InternalIP/ExternalIP addresses (nothing is asked while it has no IP)
//!   ─▶ CSR, signer kubernetes.io/kubelet-serving, sent as the node ─▶
//!   wait for approval and signing ─▶ kubelet-server-<stamp>.pem, symlink
//!   moved ─▶ served from the next handshake on (no restart)
//! ```
//!
//! Until the first certificate is issued, :10250 accepts connections but
//! every TLS handshake fails, as upstream's kubelet ("no serving
//! certificate available for the kubelet"). We keep that rather than
//! serving a self-signed certificate meanwhile: an apiserver that pins the
//! cluster CA would refuse it anyway, one that does not would be taught to
//! trust a certificate nobody vouched for, and the kubelet's API
//! (logs/exec) is not needed for pods to run. Nobody approves serving
//! requests by default (upstream's csrapproving cannot prove that a node
//! owns the addresses it asks for): an administrator runs `kubectl
//! certificate approve`, or the controller-manager runs the opt-in
//! `csrapproving-kubelet-serving` controller.
//!
//! The renewal loop and its deadline are the client certificate's
//! ([`super::rotation::keep_fresh`]); only what a renewal does differs.

use std::path::PathBuf;
use std::sync::Arc;

use component_base::tls::DynamicServingCert;
use k8s_openapi::api::core::v1::Node;
use kube::api::Api;

use super::csr::{self, Naming, Template};
use super::store::{self, Pair};
use super::Error;

/// What the serving certificate manager needs.
#[derive(Clone)]
pub struct Options {
    /// `--cert-dir`.
    pub cert_dir: PathBuf,
    /// The node's name.
    pub node_name: String,
    /// The kubelet's API client (its node credentials).
    pub client: kube::Client,
}

/// The certificate to serve with: the stored one if it is still valid,
/// then every renewal's; the renewal loop runs in its own task.
pub fn start(opts: Options) -> Arc<DynamicServingCert> {
    let cert = Arc::new(DynamicServingCert::default());
    let current = store::current_path(&opts.cert_dir, store::SERVER);
    match Pair::load(&current) {
        Ok(pair) if pair.valid_at(chrono::Utc::now()) => {
            match cert.set(&pair.cert_pem, &pair.key_pem) {
                Ok(()) => {
                    tracing::info!(cert = %current.display(), "serving the stored kubelet serving certificate")
                }
                Err(e) => {
                    tracing::warn!(cert = %current.display(), error = %e, "the stored serving certificate is unusable")
                }
            }
        }
        _ => tracing::info!(
            "no kubelet serving certificate yet: the kubelet API refuses TLS handshakes until its CSR is approved and signed"
        ),
    }
    let served = Arc::clone(&cert);
    tokio::spawn(async move {
        super::rotation::keep_fresh("serving", &current, || renew(&opts, &served)).await
    });
    cert
}

/// One renewal: a CSR for the Node's current addresses, stored and served.
async fn renew(opts: &Options, cert: &DynamicServingCert) -> Result<Pair, Error> {
    let nodes: Api<Node> = Api::all(opts.client.clone());
    let node = nodes
        .get(&opts.node_name)
        .await
        .map_err(|source| Error::Api {
            context: format!("reading node {}", opts.node_name),
            source,
        })?;
    let addresses = node.status.and_then(|s| s.addresses).unwrap_or_default();
    let template = Template::serving(&opts.node_name, &addresses).ok_or_else(|| {
        Error::Invalid(format!(
            "node {} has no IP address yet: not asking for a serving certificate",
            opts.node_name
        ))
    })?;
    let pair = csr::request(
        &opts.client,
        &template,
        Naming::Generated,
        super::rotation::WAIT,
    )
    .await?;
    store::update(&opts.cert_dir, store::SERVER, &pair)?;
    cert.set(&pair.cert_pem, &pair.key_pem)
        .map_err(|e| Error::Invalid(format!("the issued serving certificate: {e}")))?;
    Ok(pair)
}
