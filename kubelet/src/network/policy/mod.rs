//! NetworkPolicy enforcement: each kubelet filters the traffic of its own
//! pods as the cluster's `networking.k8s.io/v1` NetworkPolicies say, the
//! job upstream leaves to the network plugin (Calico, Cilium, kube-router).
//!
//! Where packets are caught: every pod packet that leaves or enters a pod
//! of this node crosses the node's filter `FORWARD` chain, whether it is
//! routed to another node (host-gw) or bridged to a neighbour on the same
//! bridge (`br_netfilter` hands bridged frames to iptables; the service
//! proxy checks the same switch). A Service's ClusterIP is already
//! translated to a pod's address there (nat `PREROUTING` comes first), so
//! policies see pods, as upstream requires. Each node programs only the
//! chains of its own pods; a packet between two nodes is checked for egress
//! on the sender's node and for ingress on the receiver's.
//!
//! What is not filtered: traffic between a pod and its own node (the
//! kubelet's probes, the node-local cluster DNS server of
//! [`crate::cluster_dns`], which answers on the node itself and so stays
//! reachable under a default-deny egress policy: upstream's usual "allow
//! DNS to kube-dns pods" rule has no pods to name here), and `hostNetwork`
//! pods, which have no address of their own.
//!
//! The flow: [`PolicyView`] keeps a reflector of NetworkPolicies and, while
//! at least one exists, of Pods and Namespaces (a cluster without policies
//! isolates no pod, and every kubelet decoding every pod event of the
//! cluster for nothing was a tenth of its work while pods started by the
//! dozen); on every change (debounced) the loop recomputes every pod's
//! rules ([`rules`], pure and unit-tested); when they differ from what it
//! wrote last, and every [`crate::proxy::RESYNC`], it writes our chains with
//! one `iptables-restore --noflush`, deleting the chains of pods that are gone:
//! level-triggered, like the service proxy. Like the proxy it programs only
//! a node's own network namespace, or the host's with
//! `serviceProxyInRootNetns: true`.

pub mod rules;

use std::sync::Arc;

use k8s_openapi::api::core::v1::{Namespace, Pod};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::runtime::reflector::Store;
use kube::runtime::watcher;
use tokio::sync::watch;
use tokio::task::AbortHandle;

use crate::proxy::{blocking, Iptables, Result, SystemIptables, DEBOUNCE, RESYNC, RETRY};
use crate::services::reflect;
use rules::Firewall;

/// NetworkPolicies of the cluster as last seen, and the pods and
/// namespaces they may select while there are any.
pub struct PolicyView {
    /// Every NetworkPolicy.
    pub policies: Store<NetworkPolicy>,
    /// Every pod and namespace, watched only while a policy exists.
    peers: Option<Peers>,
    client: kube::Client,
    tx: Arc<watch::Sender<u64>>,
    changes: watch::Receiver<u64>,
}

/// The watches of every pod (peers may be anywhere in the cluster) and
/// every namespace (for `namespaceSelector`); dropping them stops both.
struct Peers {
    pods: Store<Pod>,
    namespaces: Store<Namespace>,
    tasks: [AbortHandle; 2],
}

impl Drop for Peers {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl PolicyView {
    /// Starts the policies' reflector on the tokio runtime.
    pub fn start(client: kube::Client) -> PolicyView {
        let (tx, changes) = watch::channel(0u64);
        let tx = Arc::new(tx);
        let (policies, _) = reflect(
            client.clone(),
            watcher::Config::default(),
            "networkpolicies",
            &tx,
        );
        PolicyView {
            policies,
            peers: None,
            client,
            tx,
            changes,
        }
    }

    /// Waits until the policies are listed; `false` if the watch ended
    /// before.
    pub async fn ready(&self) -> bool {
        self.policies.wait_until_ready().await.is_ok()
    }

    /// Watches pods and namespaces exactly while a policy exists; `false`
    /// if their watches ended before their first lists (rules from half a
    /// list would cut allowed traffic).
    pub async fn follow_peers(&mut self) -> bool {
        let wanted = !self.policies.state().is_empty();
        if wanted && self.peers.is_none() {
            tracing::info!("network policy: a policy exists; watching pods and namespaces");
            let all = watcher::Config::default;
            let (pods, p) = reflect(self.client.clone(), all(), "pods", &self.tx);
            let (namespaces, n) = reflect(self.client.clone(), all(), "namespaces", &self.tx);
            let peers = Peers {
                pods,
                namespaces,
                tasks: [p, n],
            };
            if peers.pods.wait_until_ready().await.is_err()
                || peers.namespaces.wait_until_ready().await.is_err()
            {
                return false;
            }
            self.peers = Some(peers);
        } else if !wanted && self.peers.is_some() {
            tracing::info!("network policy: no policy left; pods and namespaces no longer watched");
            self.peers = None;
        }
        true
    }

    /// The firewalls of `node`'s pods as the stores say now (none without
    /// a policy: no pod is isolated).
    pub fn firewalls(&self, node: &str) -> Vec<Firewall> {
        let Some(peers) = &self.peers else {
            return Vec::new();
        };
        let (policies, pods, namespaces) = (
            self.policies.state(),
            peers.pods.state(),
            peers.namespaces.state(),
        );
        let policies: Vec<&NetworkPolicy> = policies.iter().map(Arc::as_ref).collect();
        let pods: Vec<&Pod> = pods.iter().map(Arc::as_ref).collect();
        let namespaces: Vec<&Namespace> = namespaces.iter().map(Arc::as_ref).collect();
        rules::firewalls(&policies, &pods, &namespaces, node)
    }
}

/// Writes the firewalls: our chains replaced, the stale ones deleted, the
/// jump from `FORWARD` in place. Returns the number of chains deleted.
pub fn sync(iptables: &impl Iptables, fws: &[Firewall]) -> Result<usize> {
    let filter = iptables.save("filter")?;
    let stale = rules::stale_chains(&filter, &rules::chains_of(fws));
    iptables.restore(&rules::render(fws, &stale))?;
    if iptables.ensure_first("filter", "FORWARD", &rules::jump())? {
        tracing::info!("inserted the jump into the network policy chains");
    }
    Ok(stale.len())
}

/// Runs NetworkPolicy enforcement for `node` until the process ends;
/// returns at once when this network namespace may not be programmed
/// (see the module doc).
pub async fn run(client: kube::Client, node: String, allow_root_netns: bool) {
    if let Err(e) = blocking(move || crate::proxy::check_netns(allow_root_netns)).await {
        tracing::warn!(error = %e, "network policies not enforced on this node");
        return;
    }
    let mut view = PolicyView::start(client);
    let mut changes = view.changes.clone();
    if !view.ready().await {
        tracing::warn!("network policy: the watch ended before its first list");
        return;
    }
    tracing::info!("network policy: policies listed; syncing iptables");
    let mut last: Option<Vec<Firewall>> = None;
    // A watch change that leaves every firewall as it was (a pod of another
    // node, a status update, a label no policy selects) writes nothing:
    // pods starting by the dozen would otherwise cost three iptables execs
    // each. The periodic resync still rewrites the chains, which repairs
    // rules someone else removed.
    let mut resync_due = true;
    loop {
        if !view.follow_peers().await {
            tracing::warn!(
                "network policy: the pod or namespace watch ended before its first list"
            );
            return;
        }
        let fws = view.firewalls(&node);
        let changed = last.as_ref() != Some(&fws);
        let mut wait = RESYNC;
        if changed || resync_due {
            let f = fws.clone();
            match blocking(move || sync(&SystemIptables, &f)).await {
                Ok(stale) => {
                    if changed {
                        tracing::info!(
                            isolated = fws.len(),
                            allows = fws.iter().map(|f| f.allows.len()).sum::<usize>(),
                            stale_chains_removed = stale,
                            "network policy rules synced"
                        );
                    }
                    last = Some(fws);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "network policy sync failed; retrying");
                    last = None;
                    wait = RETRY;
                }
            }
        }
        resync_due = match tokio::time::timeout(wait, changes.changed()).await {
            Ok(Err(_)) => {
                tracing::warn!("network policy: the watches ended");
                return;
            }
            Ok(Ok(())) => {
                tokio::time::sleep(DEBOUNCE).await;
                changes.borrow_and_update();
                false
            }
            Err(_) => true,
        };
    }
}
