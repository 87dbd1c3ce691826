//! `kubeadm init --config FILE`: upstream's configuration file, a YAML
//! stream of documents each with its `apiVersion` and `kind`.
//!
//! - `KubeletConfiguration` (`kubelet.config.k8s.io/v1beta1`): its fields go
//!   over the configuration kubeadm renders for every kubelet
//!   ([`crate::kubelet::configuration`]), which `init` publishes in
//!   `kube-system/kubelet-config`, so joining nodes get it too; this is
//!   upstream's way to set, say, a registry mirror for the whole cluster.
//! - `ClusterConfiguration` (`kubeadm.k8s.io/v1beta4`): the flags' settings
//!   (`controlPlaneEndpoint`, `networking`, `apiServer.certSANs`) and each
//!   component's `extraArgs` (`apiServer`, `controllerManager`,
//!   `scheduler`, `etcd.local`), which [`crate::controlplane`] puts on its
//!   command line.
//! - `InitConfiguration` (`kubeadm.k8s.io/v1beta4`): `nodeRegistration`'s
//!   `name`, `taints` (`[]`: the first node runs workloads too) and
//!   `kubeletExtraArgs` (this node's kubelet flags), `localAPIEndpoint` and
//!   `patches.directory` ([`crate::patches`]).
//!
//! - `JoinConfiguration` (`kubeadm.k8s.io/v1beta4`, `join --config`):
//!   `discovery.bootstrapToken` (`token`, `apiServerEndpoint`,
//!   `caCertHashes`, `unsafeSkipCAVerification`),
//!   `discovery.tlsBootstrapToken`, `nodeRegistration` (as above; a
//!   worker's address is its `node-ip` kubelet argument, as upstream),
//!   `controlPlane` (`localAPIEndpoint`, `certificateKey`), `skipPhases`
//!   and `patches.directory`: [`JoinConfiguration::settings`].
//!
//! A field this kubeadm does not implement is refused by name rather than
//! ignored (silently ignoring a file's settings would surprise). As
//! upstream, a file with a kubeadm kind does not mix with the flags that
//! set the same things (`main.rs` checks).

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use crate::config::{Arg, Config, ExtraArgs};

/// Why a configuration file was refused.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file could not be read.
    #[error("unable to read config from {path:?}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A document is not YAML, or has no kind.
    #[error("{path:?}: {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The ClusterConfiguration `init` stored is not readable.
    #[error("the ClusterConfiguration in kube-system/kubeadm-config: {0}")]
    Stored(String),
}

/// The API version of the KubeletConfiguration kubeadm writes and reads.
pub const KUBELET_API_VERSION: &str = "kubelet.config.k8s.io/v1beta1";

/// The API version of the kubeadm kinds read here.
pub const KUBEADM_API_VERSION: &str = "kubeadm.k8s.io/v1beta4";

/// What a `--config` file says.
#[derive(Debug, Clone, Default)]
pub struct File {
    /// The KubeletConfiguration fields (documents merged in order), without
    /// `apiVersion` and `kind`.
    pub kubelet: Option<Value>,
    /// The InitConfiguration, when the file has one.
    pub init: Option<InitConfiguration>,
    /// The ClusterConfiguration, when the file has one.
    pub cluster: Option<ClusterConfiguration>,
    /// The JoinConfiguration, when the file has one.
    pub join: Option<JoinConfiguration>,
}

/// Upstream's `JoinConfiguration`, the fields this kubeadm implements.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JoinConfiguration {
    /// This node's registration.
    #[serde(default)]
    pub node_registration: NodeRegistration,
    /// How the cluster is found and trusted.
    pub discovery: Discovery,
    /// Set: this node runs a control plane too (`--control-plane`).
    pub control_plane: Option<JoinControlPlane>,
    /// `--skip-phases`.
    #[serde(default)]
    pub skip_phases: Vec<String>,
    /// `--patches`.
    pub patches: Option<Patches>,
}

/// `discovery` (token discovery only: `file` is not implemented).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Discovery {
    /// Token discovery.
    pub bootstrap_token: Option<BootstrapTokenDiscovery>,
    /// `--tls-bootstrap-token` (default: the discovery token).
    pub tls_bootstrap_token: Option<String>,
}

/// `discovery.bootstrapToken`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BootstrapTokenDiscovery {
    /// `--discovery-token`.
    pub token: String,
    /// The endpoint argument of `join`.
    pub api_server_endpoint: Option<String>,
    /// `--discovery-token-ca-cert-hash`.
    #[serde(default)]
    pub ca_cert_hashes: Vec<String>,
    /// `--discovery-token-unsafe-skip-ca-verification`.
    #[serde(default, rename = "unsafeSkipCAVerification")]
    pub unsafe_skip_ca_verification: bool,
}

/// `controlPlane` of a JoinConfiguration.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JoinControlPlane {
    /// This node's apiserver.
    #[serde(default, rename = "localAPIEndpoint")]
    pub local_api_endpoint: ApiEndpoint,
    /// `--certificate-key`.
    pub certificate_key: Option<String>,
}

/// What a JoinConfiguration sets of a `join` (as its flags would).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinSettings {
    /// The control-plane endpoint.
    pub endpoint: String,
    /// The discovery token.
    pub discovery_token: String,
    /// The token of `bootstrap-kubelet.conf`.
    pub tls_bootstrap_token: String,
    /// The CA pins.
    pub ca_hashes: Vec<String>,
    /// No pin.
    pub skip_ca_verification: bool,
    /// `--control-plane`.
    pub control_plane: bool,
    /// `--certificate-key`.
    pub certificate_key: Option<String>,
    /// `--skip-phases`.
    pub skip_phases: Vec<String>,
    /// This node's address: the control plane's `advertiseAddress`, else
    /// the worker's `node-ip` kubelet argument; `None`: the default
    /// route's.
    pub address: Option<std::net::IpAddr>,
}

impl JoinConfiguration {
    /// The join's settings; token discovery is required.
    pub fn settings(&self) -> Result<JoinSettings, String> {
        let bt = self.discovery.bootstrap_token.as_ref().ok_or(
            "JoinConfiguration: discovery.bootstrapToken is required (file discovery is not implemented)",
        )?;
        let endpoint = bt
            .api_server_endpoint
            .clone()
            .ok_or("JoinConfiguration: discovery.bootstrapToken.apiServerEndpoint is required")?;
        let cp = self.control_plane.as_ref();
        let node_ip = self
            .node_registration
            .kubelet_extra_args
            .iter()
            .rev()
            .find(|a| a.name == "node-ip")
            .map(|a| {
                a.value.parse().map_err(|_| {
                    format!(
                        "JoinConfiguration: kubeletExtraArgs node-ip {:?} is not an IP address",
                        a.value
                    )
                })
            })
            .transpose()?;
        Ok(JoinSettings {
            endpoint,
            discovery_token: bt.token.clone(),
            tls_bootstrap_token: self
                .discovery
                .tls_bootstrap_token
                .clone()
                .unwrap_or_else(|| bt.token.clone()),
            ca_hashes: bt.ca_cert_hashes.clone(),
            skip_ca_verification: bt.unsafe_skip_ca_verification,
            control_plane: cp.is_some(),
            certificate_key: cp.and_then(|c| c.certificate_key.clone()),
            skip_phases: self.skip_phases.clone(),
            address: cp
                .and_then(|c| c.local_api_endpoint.advertise_address)
                .or(node_ip),
        })
    }

    /// Puts this node's settings into `cfg` (over its flags and defaults).
    pub fn apply(&self, cfg: &mut Config) {
        let local = self
            .control_plane
            .as_ref()
            .map(|c| c.local_api_endpoint.clone())
            .unwrap_or_default();
        self.node_registration
            .apply(cfg, &local, self.patches.as_ref());
    }
}

impl NodeRegistration {
    /// This node's settings (shared by init and join): its name, taints,
    /// kubelet arguments, apiserver endpoint and patches.
    fn apply(&self, cfg: &mut Config, local: &ApiEndpoint, patches: Option<&Patches>) {
        if let Some(name) = &self.name {
            cfg.node_name = name.clone();
        }
        if self.taints.is_some() {
            cfg.taints = self.taints.clone();
        }
        cfg.extra_args.kubelet = self.kubelet_extra_args.clone();
        if let Some(a) = local.advertise_address {
            cfg.advertise_address = a;
        }
        if let Some(p) = local.bind_port {
            cfg.bind_port = p;
        }
        if let Some(p) = patches {
            cfg.patches_dir = Some(p.directory.clone());
        }
    }
}

/// Upstream's `InitConfiguration`, the fields this kubeadm implements.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InitConfiguration {
    /// This node's registration.
    #[serde(default)]
    pub node_registration: NodeRegistration,
    /// This node's apiserver.
    #[serde(default, rename = "localAPIEndpoint")]
    pub local_api_endpoint: ApiEndpoint,
    /// `--patches`.
    pub patches: Option<Patches>,
}

/// `patches`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Patches {
    /// The directory of patch files ([`crate::patches`]).
    pub directory: PathBuf,
}

/// `nodeRegistration`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeRegistration {
    /// The node's name (`--node-name`).
    pub name: Option<String>,
    /// The node's taints: unset is the control-plane taint, `[]` none.
    pub taints: Option<Vec<k8s_openapi::api::core::v1::Taint>>,
    /// Flags over kubeadm's on this node's kubelet.
    #[serde(default)]
    pub kubelet_extra_args: Vec<Arg>,
}

/// `localAPIEndpoint`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApiEndpoint {
    /// `--apiserver-advertise-address`.
    pub advertise_address: Option<std::net::IpAddr>,
    /// `--apiserver-bind-port`.
    pub bind_port: Option<u16>,
}

/// Upstream's `ClusterConfiguration`, the fields this kubeadm implements.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClusterConfiguration {
    /// Accepted and not used: this kubeadm installs its own binaries.
    pub kubernetes_version: Option<String>,
    /// `--control-plane-endpoint`.
    pub control_plane_endpoint: Option<String>,
    /// The cluster's address ranges and DNS domain.
    #[serde(default)]
    pub networking: Networking,
    /// The apiserver.
    #[serde(default)]
    pub api_server: ApiServer,
    /// The controller-manager.
    #[serde(default)]
    pub controller_manager: Component,
    /// The scheduler.
    #[serde(default)]
    pub scheduler: Component,
    /// etcd (`local` only: stacked etcd).
    #[serde(default)]
    pub etcd: Etcd,
}

/// `networking`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Networking {
    /// `--service-cidr`.
    pub service_subnet: Option<String>,
    /// `--pod-network-cidr`.
    pub pod_subnet: Option<String>,
    /// `--service-dns-domain`.
    pub dns_domain: Option<String>,
}

/// `apiServer`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApiServer {
    /// Flags over kubeadm's.
    #[serde(default)]
    pub extra_args: Vec<Arg>,
    /// `--apiserver-cert-extra-sans`.
    #[serde(default, rename = "certSANs")]
    pub cert_sans: Vec<String>,
}

/// `controllerManager` and `scheduler`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Component {
    /// Flags over kubeadm's.
    #[serde(default)]
    pub extra_args: Vec<Arg>,
}

/// `etcd`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Etcd {
    /// The stacked etcd kubeadm runs.
    pub local: Option<Component>,
}

impl File {
    /// The kinds of the file that the other command reads (`join` for
    /// `init`, the rest for `join`), for a warning that they are ignored,
    /// as upstream warns: one file may serve both commands.
    pub fn ignored_by(&self, command: &str) -> Vec<&'static str> {
        let kinds = [
            ("InitConfiguration", self.init.is_some(), "init"),
            ("ClusterConfiguration", self.cluster.is_some(), "init"),
            ("KubeletConfiguration", self.kubelet.is_some(), "init"),
            ("JoinConfiguration", self.join.is_some(), "join"),
        ];
        kinds
            .into_iter()
            .filter(|(_, present, reader)| *present && *reader != command)
            .map(|(kind, _, _)| kind)
            .collect()
    }

    /// Whether the file holds the kubeadm kinds `init` reads (which do not
    /// mix with `init`'s flags setting the same things).
    pub fn has_init_kinds(&self) -> bool {
        self.init.is_some() || self.cluster.is_some()
    }

    /// Puts the file's settings for `init` into `cfg` (over its flags and
    /// defaults); `join` uses [`JoinConfiguration::apply`].
    pub fn apply(&self, cfg: &mut Config) {
        if let Some(c) = &self.cluster {
            if c.control_plane_endpoint.is_some() {
                cfg.control_plane_endpoint = c.control_plane_endpoint.clone();
            }
            c.apply(cfg);
        }
        if let Some(k) = &self.kubelet {
            cfg.kubelet_config = Some(k.clone());
        }
        if let Some(init) = &self.init {
            init.node_registration
                .apply(cfg, &init.local_api_endpoint, init.patches.as_ref());
        }
    }
}

impl ClusterConfiguration {
    /// Puts the cluster-wide settings every control-plane node runs with
    /// into `cfg`: the networks, the apiserver's names and the components'
    /// `extraArgs` (not the endpoint: a joining node keeps the one it
    /// joined through).
    pub fn apply(&self, cfg: &mut Config) {
        let n = &self.networking;
        if let Some(s) = &n.service_subnet {
            cfg.service_cidr = s.clone();
        }
        if n.pod_subnet.is_some() {
            cfg.pod_network_cidr = n.pod_subnet.clone();
        }
        if let Some(d) = &n.dns_domain {
            cfg.dns_domain = d.clone();
        }
        for san in &self.api_server.cert_sans {
            if !cfg.extra_sans.contains(san) {
                cfg.extra_sans.push(san.clone());
            }
        }
        cfg.extra_args = ExtraArgs {
            kubelet: std::mem::take(&mut cfg.extra_args.kubelet),
            apiserver: self.api_server.extra_args.clone(),
            controller_manager: self.controller_manager.extra_args.clone(),
            scheduler: self.scheduler.extra_args.clone(),
            etcd: self
                .etcd
                .local
                .as_ref()
                .map(|l| l.extra_args.clone())
                .unwrap_or_default(),
        };
    }
}

/// The ClusterConfiguration `init` stored in `kube-system/kubeadm-config`
/// (what it was given, plus the `clusterName` and `certificatesDir` it
/// records): a joining control plane runs with it, as upstream's does.
pub fn stored_cluster_configuration(text: &str) -> Result<ClusterConfiguration, Error> {
    let mut value: Value =
        serde_yaml_ng::from_str(text).map_err(|e| Error::Stored(e.to_string()))?;
    if let Some(map) = value.as_object_mut() {
        map.remove("clusterName");
        map.remove("certificatesDir");
    }
    let fields =
        fields(value, "ClusterConfiguration", KUBEADM_API_VERSION).map_err(Error::Stored)?;
    serde_json::from_value(fields).map_err(|e| Error::Stored(e.to_string()))
}

/// Reads the file at `path`.
pub fn read(path: &Path) -> Result<File, Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&text).map_err(|reason| Error::Invalid {
        path: path.to_path_buf(),
        reason,
    })
}

/// `value` without `apiVersion` and `kind`, after checking the version.
fn fields(mut value: Value, kind: &str, want: &str) -> Result<Value, String> {
    let version = value
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("");
    if version != want {
        return Err(format!(
            "{kind} of apiVersion {version:?}: only {want} is known"
        ));
    }
    if let Some(map) = value.as_object_mut() {
        map.remove("apiVersion");
        map.remove("kind");
    }
    Ok(value)
}

/// One kubeadm kind, once per file.
fn kubeadm_kind<T: serde::de::DeserializeOwned>(
    slot: &mut Option<T>,
    value: Value,
    kind: &str,
) -> Result<(), String> {
    if slot.is_some() {
        return Err(format!("more than one {kind}"));
    }
    let fields = fields(value, kind, KUBEADM_API_VERSION)?;
    *slot = Some(serde_json::from_value(fields).map_err(|e| format!("{kind}: {e}"))?);
    Ok(())
}

fn parse(text: &str) -> Result<File, String> {
    let mut file = File::default();
    for doc in serde_yaml_ng::Deserializer::from_str(text) {
        let value = Value::deserialize(doc).map_err(|e| e.to_string())?;
        if value.is_null() {
            continue;
        }
        let kind = value
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        match kind.as_str() {
            "KubeletConfiguration" => {
                let fields = fields(value, &kind, KUBELET_API_VERSION)?;
                file.kubelet = Some(match file.kubelet {
                    Some(before) => apimachinery::patch::apply_merge_patch(&before, &fields),
                    None => fields,
                });
            }
            "InitConfiguration" => kubeadm_kind(&mut file.init, value, &kind)?,
            "ClusterConfiguration" => kubeadm_kind(&mut file.cluster, value, &kind)?,
            "JoinConfiguration" => kubeadm_kind(&mut file.join, value, &kind)?,
            "" => return Err("a document without \"kind\"".into()),
            other => return Err(format!("unknown kind {other:?}")),
        }
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubelet_configuration_documents_are_merged() {
        let text = "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nregistryMirrors:\n  docker.io: [\"http://10.0.0.1:5000\"]\nmaxPods: 50\n---\n---\napiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nmaxPods: 60\n";
        let got = parse(text).unwrap().kubelet.unwrap();
        assert_eq!(got["maxPods"], 60);
        assert_eq!(
            got["registryMirrors"]["docker.io"][0],
            "http://10.0.0.1:5000"
        );
        assert!(got.get("kind").is_none());
    }

    #[test]
    fn other_kinds_and_unknown_fields_are_refused_by_name() {
        let err = parse("apiVersion: kubeadm.k8s.io/v1beta4\nkind: JoinConfiguration\ndiscovery:\n  file: {kubeConfigPath: /x}\n").unwrap_err();
        assert!(err.contains("unknown field `file`"), "{err}");
        let err = parse("apiVersion: kubeadm.k8s.io/v1beta4\nkind: JoinConfiguration\ndiscovery: {}\ncaCertPath: /x\n").unwrap_err();
        assert!(err.contains("unknown field `caCertPath`"), "{err}");
        assert!(parse("maxPods: 3\n")
            .unwrap_err()
            .contains("without \"kind\""));
        let err = parse("apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\ndns: {disabled: true}\n").unwrap_err();
        assert!(err.contains("unknown field `dns`"), "{err}");
        let err =
            parse("apiVersion: kubeadm.k8s.io/v1beta3\nkind: ClusterConfiguration\n").unwrap_err();
        assert!(err.contains("only kubeadm.k8s.io/v1beta4"), "{err}");
        // v1beta3's map form of extraArgs is not v1beta4's list.
        assert!(parse("apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nscheduler:\n  extraArgs: {v: \"2\"}\n").is_err());
        let empty = parse("").unwrap();
        assert!(empty.kubelet.is_none() && empty.join.is_none() && !empty.has_init_kinds());
    }

    /// Upstream's example file: every field we read lands in the Config.
    #[test]
    fn cluster_and_init_configuration_set_the_config() {
        let text = r#"
apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
nodeRegistration:
  name: node-1
  taints: []
  kubeletExtraArgs: [{name: rotate-certificates, value: "false"}]
localAPIEndpoint:
  advertiseAddress: 10.200.3.11
  bindPort: 7443
patches:
  directory: /etc/kubeadm/patches
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
kubernetesVersion: v1.36.0
controlPlaneEndpoint: k8s-api:7443
networking:
  podSubnet: 172.16.48.0/20
  serviceSubnet: 10.97.0.0/16
  dnsDomain: lab.local
apiServer:
  certSANs: [10.200.3.1]
  extraArgs:
  - {name: audit-log-path, value: /var/log/audit.log}
controllerManager:
  extraArgs:
  - name: node-monitor-grace-period
    value: 12s
scheduler:
  extraArgs: [{name: v, value: "2"}]
etcd:
  local:
    extraArgs: [{name: quota-backend-bytes, value: "8589934592"}]
---
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
cgroupRoot: lab-node
"#;
        let file = parse(text).unwrap();
        assert!(file.has_init_kinds());
        let mut cfg = crate::config::tests::defaults();
        file.apply(&mut cfg);
        assert_eq!(cfg.node_name, "node-1");
        assert_eq!(cfg.taints.as_deref(), Some(&[][..]));
        assert_eq!(cfg.advertise_address.to_string(), "10.200.3.11");
        assert_eq!(cfg.bind_port, 7443);
        assert_eq!(
            cfg.patches_dir.as_deref(),
            Some(Path::new("/etc/kubeadm/patches"))
        );
        assert_eq!(cfg.endpoint(), "k8s-api:7443");
        assert_eq!(cfg.pod_network_cidr.as_deref(), Some("172.16.48.0/20"));
        assert_eq!(cfg.service_cidr, "10.97.0.0/16");
        assert_eq!(cfg.dns_domain, "lab.local");
        assert_eq!(cfg.extra_sans, ["10.200.3.1"]);
        let arg = |n: &str, v: &str| Arg {
            name: n.into(),
            value: v.into(),
        };
        assert_eq!(
            cfg.extra_args,
            ExtraArgs {
                apiserver: vec![arg("audit-log-path", "/var/log/audit.log")],
                controller_manager: vec![arg("node-monitor-grace-period", "12s")],
                scheduler: vec![arg("v", "2")],
                etcd: vec![arg("quota-backend-bytes", "8589934592")],
                kubelet: vec![arg("rotate-certificates", "false")],
            }
        );
        assert_eq!(cfg.kubelet_config.unwrap()["cgroupRoot"], "lab-node");

        // What init stores reads back (a joining control plane's settings).
        let stored = "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nclusterName: kubernetes\ncertificatesDir: /etc/kubernetes/pki\ncontrolPlaneEndpoint: 10.0.0.1:6443\nnetworking: {podSubnet: 10.244.0.0/16, serviceSubnet: 10.96.0.0/12, dnsDomain: cluster.local}\napiServer: {certSANs: [], extraArgs: []}\ncontrollerManager:\n  extraArgs: [{name: node-monitor-grace-period, value: 12s}]\nscheduler: {extraArgs: []}\netcd: {local: {extraArgs: []}}\n";
        let mut joining = crate::config::tests::defaults();
        joining.pod_network_cidr = None;
        stored_cluster_configuration(stored)
            .unwrap()
            .apply(&mut joining);
        assert_eq!(joining.pod_network_cidr.as_deref(), Some("10.244.0.0/16"));
        assert_eq!(
            joining.extra_args.controller_manager,
            [arg("node-monitor-grace-period", "12s")]
        );
        assert_eq!(
            joining.control_plane_endpoint, None,
            "the endpoint is the join's"
        );
        assert!(stored_cluster_configuration("kind: ClusterConfiguration\n").is_err());

        // Unset taints keep upstream's default (the control-plane taint).
        let file = parse("apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\nnodeRegistration: {name: x}\n").unwrap();
        let mut cfg = crate::config::tests::defaults();
        file.apply(&mut cfg);
        assert_eq!(cfg.taints, None);
    }
}
