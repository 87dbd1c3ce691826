//! What a controller-manager is told: which controllers run, their
//! settings, leader election and where to serve metrics; and how to reach
//! the apiserver (`--kubeconfig` or `--master`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Every controller, by its upstream name.
pub const ALL_CONTROLLERS: &[&str] = &[
    "namespace",
    "replicaset",
    "deployment",
    "garbagecollector",
    "endpoint",
    "endpointslice",
    "endpointslice-mirroring",
    "nodeipam",
    "nodelifecycle",
    "podgc",
    "job",
    "cronjob",
    "daemonset",
    "statefulset",
    "serviceaccount",
    "service-lb",
    "ingress-status",
    "root-ca-cert-publisher",
    "replicationcontroller",
    "disruption",
    "resourcequota",
    "horizontalpodautoscaling",
    "persistentvolume-binder",
    "pvc-protection",
    "pv-protection",
    "csrapproving",
    "csrsigning",
    "csrapproving-kubelet-serving",
    "bootstrapsigner",
    "tokencleaner",
];

/// Controllers `*` does not turn on; they run only when named (upstream's
/// `ControllersDisabledByDefault`; kubeadm passes
/// `--controllers=*,bootstrapsigner,tokencleaner,csrapproving-kubelet-serving`).
/// `csrapproving-kubelet-serving` is ours and off for upstream's reason:
/// approving serving certificates trusts what Nodes report.
pub const DISABLED_BY_DEFAULT: &[&str] = &[
    "bootstrapsigner",
    "tokencleaner",
    "csrapproving-kubelet-serving",
];

/// Controller-manager settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// `--controllers`: `*` (all), `name` (enable), `-name` (disable).
    pub controllers: Vec<String>,
    /// `--allocate-node-cidrs`.
    pub allocate_node_cidrs: bool,
    /// `--cluster-cidr`.
    pub cluster_cidr: String,
    /// `--node-cidr-mask-size`.
    pub node_cidr_mask_size: u8,
    /// `--node-monitor-period`: how often node health is checked.
    pub node_monitor_period: Duration,
    /// `--node-monitor-grace-period`: silence before a node is Unknown.
    pub node_monitor_grace_period: Duration,
    /// `--node-startup-grace-period`: the same for a node that never reported.
    pub node_startup_grace_period: Duration,
    /// `--pod-eviction-timeout`: how long pods without an explicit
    /// not-ready/unreachable toleration stay on a failed node (upstream's
    /// DefaultTolerationSeconds admission gives them 300 s).
    pub pod_eviction_timeout: Duration,
    /// `--terminated-pod-gc-threshold`.
    pub terminated_pod_gc_threshold: usize,
    /// Workers per controller (`--concurrent-*-syncs`).
    pub workers: usize,
    /// `Some` to act only while holding the Lease.
    pub leader_election: Option<crate::leader_election::Config>,
    /// Where to serve `/healthz` and `/metrics` over plain HTTP.
    pub metrics_addr: Option<SocketAddr>,
    /// Where and how to serve them over TLS (`--secure-port`).
    pub secure_serving: Option<component_base::health_server::SecureServing>,
    /// Whether to write Events.
    pub emit_events: bool,
    /// `--root-ca-file`: the cluster CA certificate (PEM) the root CA
    /// publisher puts in every namespace; `None` turns it off.
    pub root_ca_file: Option<PathBuf>,
    /// The HorizontalPodAutoscaler controller's `--horizontal-pod-autoscaler-*`.
    pub hpa: crate::controllers::horizontalpodautoscaler::Settings,
    /// `--use-service-account-credentials`: the manager's own connection
    /// settings, from which each controller's client is made with a token
    /// of its ServiceAccount instead ([`crate::client_builder`]); `None`:
    /// every controller uses the manager's client.
    pub service_account_credentials: Option<kube::Config>,
    /// `--cluster-signing-cert-file`, `--cluster-signing-key-file` and
    /// `--cluster-signing-duration` of the CSR signer; `None` (no CA given)
    /// turns it off.
    pub cluster_signing: Option<crate::controllers::csrsigning::Settings>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            controllers: vec!["*".into()],
            allocate_node_cidrs: true,
            cluster_cidr: "10.244.0.0/16".into(),
            node_cidr_mask_size: 24,
            node_monitor_period: Duration::from_secs(5),
            node_monitor_grace_period: Duration::from_secs(40),
            node_startup_grace_period: Duration::from_secs(60),
            pod_eviction_timeout: Duration::from_secs(300),
            terminated_pod_gc_threshold: 12500,
            workers: 5,
            leader_election: None,
            metrics_addr: None,
            secure_serving: None,
            emit_events: true,
            root_ca_file: None,
            hpa: Default::default(),
            service_account_credentials: None,
            cluster_signing: None,
        }
    }
}

impl Config {
    /// Whether controller `name` runs (upstream `IsControllerEnabled`).
    pub fn enabled(&self, name: &str) -> bool {
        let mut star = false;
        for c in &self.controllers {
            let c = c.trim();
            if c == name {
                return true;
            }
            if c.strip_prefix('-') == Some(name) {
                return false;
            }
            if c == "*" {
                star = true;
            }
        }
        star && !DISABLED_BY_DEFAULT.contains(&name)
    }
}

pub use component_base::client::{client, ClientError};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controller_selection_follows_upstream() {
        let mut c = Config::default();
        assert!(c.enabled("replicaset"));
        c.controllers = vec!["*".into(), "-nodeipam".into()];
        assert!(!c.enabled("nodeipam"));
        assert!(c.enabled("deployment"));
        c.controllers = vec!["replicaset".into()];
        assert!(c.enabled("replicaset"));
        assert!(!c.enabled("deployment"));
        c.controllers = vec!["*".into()];
        assert!(c.enabled("csrsigning"));
        assert!(!c.enabled("bootstrapsigner"), "off by default, as upstream");
        c.controllers = vec!["*".into(), "bootstrapsigner".into()];
        assert!(c.enabled("bootstrapsigner"));
        assert!(!c.enabled("csrapproving-kubelet-serving"), "off by default");
    }
}
