//! The configuration of one `init` or `join`, from the command line (what
//! upstream keeps in its `InitConfiguration` and `ClusterConfiguration`),
//! with the defaults upstream uses.

use std::net::IpAddr;
use std::path::PathBuf;

use crate::paths::Paths;

/// How the control plane (and the kubelet) are run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Runner {
    /// systemd units in `/etc/systemd/system`, enabled and started.
    Systemd,
    /// The same units' command lines, run and restarted by a detached
    /// `kubeadm supervise` process (tests, network-namespace machines,
    /// machines without systemd).
    Processes,
}

/// Everything `init` and `join` need to know.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where files go.
    pub paths: Paths,
    /// This node's name.
    pub node_name: String,
    /// The address the apiserver advertises (and etcd listens on).
    pub advertise_address: IpAddr,
    /// The apiserver's port.
    pub bind_port: u16,
    /// `--control-plane-endpoint` (`host:port`), when given.
    pub control_plane_endpoint: Option<String>,
    /// `--service-cidr`.
    pub service_cidr: String,
    /// `--pod-network-cidr`, when given.
    pub pod_network_cidr: Option<String>,
    /// `--service-dns-domain`.
    pub dns_domain: String,
    /// `--apiserver-cert-extra-sans`.
    pub extra_sans: Vec<String>,
    /// Where `apiserver`, `scheduler`, `controller-manager` and `kubelet`
    /// are (`etcd` is looked up on `PATH` and here).
    pub binaries_dir: PathBuf,
    /// etcd's client port (2379).
    pub etcd_client_port: u16,
    /// etcd's peer port (2380).
    pub etcd_peer_port: u16,
    /// The scheduler's `--secure-port` (10259).
    pub scheduler_port: u16,
    /// The controller-manager's `--secure-port` (10257).
    pub controller_manager_port: u16,
    /// The kubelet's `--port` (10250).
    pub kubelet_port: u16,
    /// systemd or supervised processes.
    pub runner: Runner,
    /// KubeletConfiguration fields from `--config`, over kubeadm's own
    /// (`init` only: joining nodes read the published result).
    pub kubelet_config: Option<serde_json::Value>,
    /// The ClusterConfiguration's `extraArgs` of each component.
    pub extra_args: ExtraArgs,
    /// The InitConfiguration's `nodeRegistration.taints`: `None` is
    /// upstream's default (the control-plane taint), `Some(vec![])` a
    /// control-plane node that runs workloads too.
    pub taints: Option<Vec<k8s_openapi::api::core::v1::Taint>>,
    /// `--patches` (or the InitConfiguration's `patches.directory`): this
    /// node's patches ([`crate::patches`]).
    pub patches_dir: Option<PathBuf>,
}

/// One extra command-line flag of a control-plane component (upstream's
/// `Arg` of v1beta4: the flag's name without dashes, and its value).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Arg {
    /// The flag, e.g. `node-monitor-grace-period`.
    pub name: String,
    /// Its value.
    pub value: String,
}

/// The `extraArgs` of each component (ClusterConfiguration's `apiServer`,
/// `controllerManager`, `scheduler` and `etcd.local`, and the node's
/// kubelet).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExtraArgs {
    /// `apiServer.extraArgs`.
    pub apiserver: Vec<Arg>,
    /// `controllerManager.extraArgs`.
    pub controller_manager: Vec<Arg>,
    /// `scheduler.extraArgs`.
    pub scheduler: Vec<Arg>,
    /// `etcd.local.extraArgs`.
    pub etcd: Vec<Arg>,
    /// This node's kubelet: the InitConfiguration's
    /// `nodeRegistration.kubeletExtraArgs` (per node, where the
    /// KubeletConfiguration is the cluster's).
    pub kubelet: Vec<Arg>,
}

impl Config {
    /// `host:port` every node and admin dials: the control-plane endpoint,
    /// else this node's advertise address.
    pub fn endpoint(&self) -> String {
        self.control_plane_endpoint
            .clone()
            .unwrap_or_else(|| self.local_endpoint())
    }

    /// This node's apiserver, `host:port`.
    pub fn local_endpoint(&self) -> String {
        match self.advertise_address {
            IpAddr::V6(ip) => format!("[{ip}]:{}", self.bind_port),
            IpAddr::V4(ip) => format!("{ip}:{}", self.bind_port),
        }
    }

    /// The first address of the service range: the `kubernetes` Service.
    pub fn service_ip(&self) -> Option<IpAddr> {
        let (net, _) = self.service_cidr.split_once('/')?;
        match net.parse::<IpAddr>().ok()? {
            IpAddr::V4(v4) => Some(IpAddr::from(u32::from(v4).checked_add(1)?.to_be_bytes())),
            IpAddr::V6(v6) => Some(IpAddr::from(u128::from(v6).checked_add(1)?.to_be_bytes())),
        }
    }

    /// The tenth address of the service range: the cluster DNS Service
    /// (upstream's convention).
    pub fn dns_ip(&self) -> Option<IpAddr> {
        let (net, _) = self.service_cidr.split_once('/')?;
        match net.parse::<IpAddr>().ok()? {
            IpAddr::V4(v4) => Some(IpAddr::from(u32::from(v4).checked_add(10)?.to_be_bytes())),
            IpAddr::V6(v6) => Some(IpAddr::from(u128::from(v6).checked_add(10)?.to_be_bytes())),
        }
    }

    /// The taints this node is registered with: the configuration's
    /// `nodeRegistration.taints`, else upstream's default (the
    /// control-plane taint on a control-plane node, none on a worker).
    pub fn node_taints(&self, control_plane: bool) -> Vec<k8s_openapi::api::core::v1::Taint> {
        self.taints.clone().unwrap_or_else(|| {
            if control_plane {
                vec![control_plane_taint()]
            } else {
                vec![]
            }
        })
    }

    /// The path of one of our binaries.
    pub fn binary(&self, name: &str) -> PathBuf {
        self.binaries_dir.join(name)
    }

    /// The PKI's identity of this node.
    pub fn identity(&self) -> crate::pki::Identity {
        crate::pki::Identity {
            node_name: self.node_name.clone(),
            advertise_address: self.advertise_address,
            service_ip: self.service_ip().unwrap_or(IpAddr::from([10, 96, 0, 1])),
            dns_domain: self.dns_domain.clone(),
            control_plane_host: self.control_plane_endpoint.as_ref().map(|e| {
                e.rsplit_once(':')
                    .map(|(h, _)| h)
                    .unwrap_or(e)
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .to_string()
            }),
            extra_sans: self.extra_sans.clone(),
        }
    }
}

/// Upstream's taint of a control-plane node: no workloads but those that
/// tolerate it.
pub fn control_plane_taint() -> k8s_openapi::api::core::v1::Taint {
    k8s_openapi::api::core::v1::Taint {
        key: "node-role.kubernetes.io/control-plane".into(),
        effect: "NoSchedule".into(),
        ..Default::default()
    }
}

/// A taint as `kubectl taint` and `--register-with-taints` write it:
/// `key=value:Effect` or `key:Effect`.
pub fn taint_text(t: &k8s_openapi::api::core::v1::Taint) -> String {
    match &t.value {
        Some(v) => format!("{}={v}:{}", t.key, t.effect),
        None => format!("{}:{}", t.key, t.effect),
    }
}

/// This machine's hostname, lower-cased (upstream's default node name).
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_lowercase())
        .unwrap_or_else(|_| "localhost".into())
}

/// The address of the interface holding the default route (upstream's
/// default advertise address).
pub fn default_address() -> Option<IpAddr> {
    // Connecting a UDP socket sends nothing; it only picks the source
    // address the kernel would route from.
    let sock = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    sock.connect("192.0.2.1:9").ok()?;
    Some(sock.local_addr().ok()?.ip())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A machine with upstream's defaults (`cp-1`, 192.168.122.10).
    pub(crate) fn defaults() -> Config {
        Config {
            paths: Paths::new("/"),
            node_name: "cp-1".into(),
            advertise_address: "192.168.122.10".parse().unwrap(),
            bind_port: 6443,
            control_plane_endpoint: None,
            service_cidr: "10.96.0.0/12".into(),
            pod_network_cidr: Some("10.244.0.0/16".into()),
            dns_domain: "cluster.local".into(),
            extra_sans: vec![],
            binaries_dir: "/usr/local/bin".into(),
            etcd_client_port: 2379,
            etcd_peer_port: 2380,
            scheduler_port: 10259,
            controller_manager_port: 10257,
            kubelet_port: 10250,
            runner: Runner::Systemd,
            kubelet_config: None,
            extra_args: ExtraArgs::default(),
            taints: None,
            patches_dir: None,
        }
    }

    #[test]
    fn service_addresses_come_from_the_range() {
        let c = Config {
            advertise_address: "10.0.0.2".parse().unwrap(),
            control_plane_endpoint: Some("[fd00::1]:6443".into()),
            ..defaults()
        };
        assert_eq!(c.service_ip().unwrap().to_string(), "10.96.0.1");
        assert_eq!(c.dns_ip().unwrap().to_string(), "10.96.0.10");
        assert_eq!(c.identity().control_plane_host.as_deref(), Some("fd00::1"));
        assert_eq!(c.endpoint(), "[fd00::1]:6443");
        assert_eq!(c.local_endpoint(), "10.0.0.2:6443");
    }
}
