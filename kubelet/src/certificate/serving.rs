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
//! And, as upstream's certificate manager, a certificate that stopped
//! fitting the node is renewed at once rather than at its deadline: each
//! time the node's addresses change (published by [`crate::node::run`]),
//! the current certificate's DNS names and IPs are compared with the
//! template of the new addresses ([`Template::satisfied_by`]); a node that
//! moved to a new IP asks for a certificate covering it within one status
//! update.

use std::path::PathBuf;
use std::sync::Arc;

use component_base::tls::DynamicServingCert;
use k8s_openapi::api::core::v1::{Node, NodeAddress};
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
    /// The node's addresses as its status last computed them.
    pub addresses: tokio::sync::watch::Receiver<Vec<NodeAddress>>,
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
    let early = Arc::new(tokio::sync::Notify::new());
    tokio::spawn(watch_addresses(
        opts.node_name.clone(),
        current.clone(),
        opts.addresses.clone(),
        Arc::clone(&early),
    ));
    tokio::spawn(async move {
        super::rotation::keep_fresh("serving", &current, &early, || renew(&opts, &served)).await
    });
    cert
}

/// Whether the pair at `current` no longer fits a node at `addresses`
/// (no pair, or no IP yet: nothing to compare, the renewal loop asks
/// anyway).
pub fn stale(node: &str, current: &std::path::Path, addresses: &[NodeAddress]) -> bool {
    let (Some(template), Ok(pair)) = (Template::serving(node, addresses), Pair::load(current))
    else {
        return false;
    };
    !template.satisfied_by(&pair)
}

/// Wakes the renewal loop when the node's addresses changed so that the
/// current certificate no longer covers them.
async fn watch_addresses(
    node: String,
    current: PathBuf,
    mut addresses: tokio::sync::watch::Receiver<Vec<NodeAddress>>,
    early: Arc<tokio::sync::Notify>,
) {
    // First the addresses the kubelet registered with (it may have been
    // restarted with a new --node-ip), then each change.
    loop {
        let now = addresses.borrow_and_update().clone();
        if stale(&node, &current, &now) {
            tracing::info!(node = %node, "the node's addresses changed: its serving certificate no longer covers them");
            early.notify_one();
        }
        if addresses.changed().await.is_err() {
            return;
        }
    }
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

#[cfg(test)]
mod tests {
    use super::super::csr::tests::address;
    use super::*;

    /// The renewal loop wakes within moments of the node's addresses
    /// leaving its certificate's, not at the certificate's deadline.
    #[tokio::test]
    async fn a_node_that_moved_renews_its_serving_certificate_at_once() {
        let dir = tempfile::tempdir().expect("dir");
        let key = rcgen::KeyPair::generate().expect("key");
        let params = rcgen::CertificateParams::new(vec!["n1".to_string(), "10.0.0.5".to_string()])
            .expect("params");
        let cert = params.self_signed(&key).expect("cert");
        let pair = Pair::new(cert.pem(), key.serialize_pem()).expect("pair");
        store::update(dir.path(), store::SERVER, &pair).expect("store");
        let current = store::current_path(dir.path(), store::SERVER);

        let here = vec![address("InternalIP", "10.0.0.5"), address("Hostname", "n1")];
        assert!(!stale("n1", &current, &here));
        assert!(
            !stale("n1", &current, &[address("Hostname", "n1")]),
            "no IP yet"
        );
        assert!(
            !stale("n1", &dir.path().join("none.pem"), &here),
            "no pair yet"
        );

        let (tx, rx) = tokio::sync::watch::channel(here);
        let early = Arc::new(tokio::sync::Notify::new());
        let renewals = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = Arc::clone(&renewals);
        let (loop_early, loop_current) = (Arc::clone(&early), current.clone());
        let renewing = tokio::spawn(async move {
            super::super::rotation::keep_fresh("serving", &loop_current, &loop_early, || {
                counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                std::future::ready(Err(super::super::Error::Invalid("test".into())))
            })
            .await
        });
        let watching = tokio::spawn(watch_addresses("n1".into(), current, rx, early));
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        assert_eq!(
            renewals.load(std::sync::atomic::Ordering::SeqCst),
            0,
            "a fitting certificate waits for its deadline (months away)"
        );
        let _ = tx.send(vec![
            address("InternalIP", "10.0.0.9"),
            address("Hostname", "n1"),
        ]);
        let mut renewed = false;
        for _ in 0..50 {
            if renewals.load(std::sync::atomic::Ordering::SeqCst) > 0 {
                renewed = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        renewing.abort();
        watching.abort();
        assert!(renewed, "the new address woke the renewal loop");

        // A kubelet restarted with a new --node-ip registers the new
        // address before the watcher starts: its first look wakes the loop.
        let moved = vec![address("InternalIP", "10.0.0.9"), address("Hostname", "n1")];
        let (_tx, rx) = tokio::sync::watch::channel(moved);
        let early = Arc::new(tokio::sync::Notify::new());
        let current = store::current_path(dir.path(), store::SERVER);
        let watching = tokio::spawn(watch_addresses(
            "n1".into(),
            current,
            rx,
            Arc::clone(&early),
        ));
        let woke = tokio::time::timeout(std::time::Duration::from_secs(2), early.notified()).await;
        watching.abort();
        assert!(woke.is_ok(), "the registered address woke the renewal loop");
    }
}
