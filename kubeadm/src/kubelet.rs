//! The kubelet on a kubeadm node (the `kubelet-start` phase): its
//! configuration (kubeadm's defaults, with the KubeletConfiguration of
//! `init --config` over them), shared by every node through the
//! `kube-system/kubelet-config` ConfigMap (key `kubelet`) and written to
//! `/var/lib/kubelet/config.yaml`, and its unit.
//!
//! On the first control-plane node the kubelet gets `kubelet.conf` with a
//! certificate `init` signed. On a joining node it gets
//! `bootstrap-kubelet.conf` (the bootstrap token) as
//! `--bootstrap-kubeconfig`, and writes `kubelet.conf` itself once the
//! controller-manager signed its CertificateSigningRequest, keeping the
//! pair in `--cert-dir` (`/var/lib/kubelet/pki`).

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::Api;
use serde_json::json;

use crate::config::Config;
use crate::controlplane::Unit;

/// The ConfigMap holding the kubelet's configuration.
pub const CONFIG_MAP: &str = "kubelet-config";
/// Its key.
pub const CONFIG_KEY: &str = "kubelet";

/// Whether this is a node install proper (systemd units on the machine's
/// own `/`): there the kubelet owns the node's network as kube-proxy and
/// the DNS addon do upstream, so its service proxy and DNS server run in
/// the machine's root network namespace, where a VM's kubelet always is.
/// Installs under `--host-root` or as supervised processes (tests, the
/// lab) keep the kubelet's refusal there, so one started on a developer's
/// machine never NATs the machine's traffic.
pub fn owns_node_network(cfg: &Config) -> bool {
    cfg.paths.is_host() && cfg.runner == crate::config::Runner::Systemd
}

/// Upstream's preflight check of a node's kernel settings: pods on other
/// nodes are reached through this node's forwarding, which the kubelet
/// turns on itself only in a network namespace of its own.
pub fn preflight(cfg: &Config) -> Result<(), crate::Error> {
    if !owns_node_network(cfg) {
        return Ok(());
    }
    let path = "/proc/sys/net/ipv4/ip_forward";
    let value = std::fs::read_to_string(path).unwrap_or_default();
    if value.trim() != "1" {
        return Err(crate::Error::Preflight(format!(
            "[ERROR FileContent--proc-sys-net-ipv4-ip_forward]: {path} contents are not set to 1 (sysctl -w net.ipv4.ip_forward=1, and a file in /etc/sysctl.d to keep it)"
        )));
    }
    Ok(())
}

/// The cluster-wide KubeletConfiguration.
pub fn configuration(cfg: &Config) -> String {
    let ca = cfg.paths.pki_dir().join("ca.crt");
    let dns = cfg
        .dns_ip()
        .map(|ip| vec![ip.to_string()])
        .unwrap_or_default();
    let machine = owns_node_network(cfg);
    let doc = json!({
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "authentication": {
            "anonymous": {"enabled": false},
            "webhook": {"enabled": true},
            "x509": {"clientCAFile": ca.display().to_string()},
        },
        "authorization": {"mode": "Webhook"},
        // Our built-in runtime writes cgroupfs paths; under systemd the
        // unit's Delegate=yes hands it its subtree.
        "cgroupDriver": "cgroupfs",
        "clusterDNS": dns,
        "clusterDomain": cfg.dns_domain,
        "rotateCertificates": true,
        // :10250's certificate through a CSR signed by the cluster CA, so
        // the apiserver can check it (--kubelet-certificate-authority);
        // the controller-manager's csrapproving-kubelet-serving approves it.
        "serverTLSBootstrap": true,
        "serviceProxyInRootNetns": machine,
        "clusterDNSServerInRootNetns": machine,
    });
    let doc = match &cfg.kubelet_config {
        Some(fields) => apimachinery::patch::apply_merge_patch(&doc, fields),
        None => doc,
    };
    serde_yaml_ng::to_string(&doc).unwrap_or_default()
}

/// The configuration this node's kubelet runs with: the cluster's
/// (`yaml`) with this node's patches ([`crate::patches`]) over it.
pub fn local_configuration(cfg: &Config, yaml: &str) -> Result<String, crate::Error> {
    let Some(dir) = &cfg.patches_dir else {
        return Ok(yaml.to_string());
    };
    let doc: serde_json::Value = serde_yaml_ng::from_str(yaml).map_err(|e| {
        crate::Error::Preflight(format!(
            "the cluster's kubelet configuration is not YAML: {e}"
        ))
    })?;
    let patched = crate::patches::kubelet_configuration(dir, &doc)?;
    Ok(serde_yaml_ng::to_string(&patched).unwrap_or_else(|_| yaml.to_string()))
}

/// Publishes the configuration for joining nodes.
pub async fn upload(client: &kube::Client, cfg: &Config) -> Result<(), crate::apiclient::Error> {
    crate::apiclient::apply::<ConfigMap>(
        client,
        &json!({
            "metadata": {"name": CONFIG_MAP, "namespace": "kube-system"},
            "data": {CONFIG_KEY: configuration(cfg)},
        }),
    )
    .await
}

/// Reads the published configuration (a joining node, with its token).
pub async fn download(client: &kube::Client) -> Result<String, kube::Error> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "kube-system");
    let cm = api.get(CONFIG_MAP).await?;
    Ok(cm
        .data
        .and_then(|d| d.get(CONFIG_KEY).cloned())
        .unwrap_or_default())
}

/// The kubelet's unit; `bootstrap` adds `--bootstrap-kubeconfig`.
pub fn unit(cfg: &Config, bootstrap: bool) -> Unit {
    let dir = cfg.paths.kubelet_dir();
    let mut exec = vec![cfg.binary("kubelet").display().to_string()];
    if bootstrap {
        exec.push(format!(
            "--bootstrap-kubeconfig={}",
            cfg.paths.kubeconfig("bootstrap-kubelet.conf").display()
        ));
    }
    exec.extend([
        format!(
            "--kubeconfig={}",
            cfg.paths.kubeconfig("kubelet.conf").display()
        ),
        format!("--config={}", dir.join("config.yaml").display()),
        format!("--root-dir={}", dir.display()),
        format!("--cert-dir={}", dir.join("pki").display()),
        format!("--hostname-override={}", cfg.node_name),
        format!("--node-ip={}", cfg.advertise_address),
        format!("--port={}", cfg.kubelet_port),
    ]);
    // Set when the Node is created: a node may not change its own taints
    // later (upstream's kubeadm-flags.env carries the same flag).
    let taints = cfg.node_taints(!bootstrap);
    if !taints.is_empty() {
        let shown: Vec<String> = taints.iter().map(crate::config::taint_text).collect();
        exec.push(format!("--register-with-taints={}", shown.join(",")));
    }
    Unit {
        name: "kubelet".into(),
        description: "kubelet: the Kubernetes node agent".into(),
        exec: crate::controlplane::with_extra_args(exec, &cfg.extra_args.kubelet),
        after: vec![],
        delegate: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{tests::defaults, Runner};
    use crate::paths::Paths;

    fn in_root_netns(cfg: &Config) -> (bool, bool) {
        let doc: serde_json::Value = serde_yaml_ng::from_str(&configuration(cfg)).unwrap();
        (
            doc["serviceProxyInRootNetns"] == json!(true),
            doc["clusterDNSServerInRootNetns"] == json!(true),
        )
    }

    /// Only a node install proper lets the kubelet's proxy and DNS server
    /// work in the root network namespace.
    #[test]
    fn the_kubelet_owns_the_network_only_on_a_machine() {
        assert_eq!(in_root_netns(&defaults()), (true, true));
        let lab = Config {
            paths: Paths::new("/var/tmp/lab/node-1"),
            runner: Runner::Processes,
            ..defaults()
        };
        assert_eq!(in_root_netns(&lab), (false, false));
        let supervised = Config {
            runner: Runner::Processes,
            ..defaults()
        };
        assert_eq!(in_root_netns(&supervised), (false, false));
        let under_root = Config {
            paths: Paths::new("/tmp/x"),
            ..defaults()
        };
        assert_eq!(in_root_netns(&under_root), (false, false));
    }
}
