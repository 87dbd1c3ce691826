//! `kubeadm join`: a node joins with nothing but the endpoint, a bootstrap
//! token and the CA's hash, in upstream's phases:
//!
//! `preflight` → `discovery` (see [`crate::discovery`]: the CA, pinned) →
//! `kubelet-start` (writes `ca.crt`, `bootstrap-kubelet.conf` and the
//! kubelet's `config.yaml` read with the token, starts the kubelet, which
//! asks for its client certificate by CertificateSigningRequest and writes
//! `kubelet.conf`).

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{ConfigMap, Node};
use kube::api::Api;

use crate::bootstraptoken::Token;
use crate::config::Config;
use crate::{apiclient, controlplane, discovery, kubeconfig, kubelet, pki, Error};

/// What `join` needs besides the [`Config`].
#[derive(Debug, Clone)]
pub struct Options {
    /// The control-plane endpoint, `host:port`.
    pub endpoint: String,
    /// `--discovery-token` (or `--token`): checks the signed
    /// `cluster-info`.
    pub token: Token,
    /// `--tls-bootstrap-token` (or `--token`): the kubelet's credential in
    /// `bootstrap-kubelet.conf`, and this join's until the node has its
    /// own.
    pub tls_bootstrap_token: Token,
    /// `--discovery-token-ca-cert-hash`.
    pub ca_hashes: Vec<String>,
    /// `--discovery-token-unsafe-skip-ca-verification`.
    pub skip_ca_verification: bool,
    /// `--skip-phases`.
    pub skip_phases: Vec<String>,
    /// `--control-plane`: this node runs a control plane too (its etcd
    /// member joins the stacked etcd cluster).
    pub control_plane: bool,
    /// `--certificate-key`: download the shared keys `init --upload-certs`
    /// sealed with it, instead of finding them copied by hand.
    pub certificate_key: Option<String>,
    /// How long discovery retries and the TLS bootstrap may take.
    pub timeout: Duration,
}

/// Runs `join`.
pub async fn run(cfg: &Config, opts: &Options) -> Result<(), Error> {
    let skip = |phase: &str| opts.skip_phases.iter().any(|p| p == phase || p == "all");
    let paths = &cfg.paths;
    if !skip("preflight") {
        println!("[preflight] Running pre-flight checks");
        crate::kubelet::preflight(cfg)?;
        for file in ["kubelet.conf", "bootstrap-kubelet.conf"] {
            let path = paths.kubeconfig(file);
            if path.exists() {
                return Err(Error::Preflight(format!(
                    "{} already exists: this node has joined already (\"kubeadm reset\" undoes it)",
                    path.display()
                )));
            }
        }
    }

    if opts.control_plane && opts.certificate_key.is_none() && !skip("preflight") {
        let missing: Vec<&str> = SHARED_PKI
            .iter()
            .copied()
            .filter(|f| !paths.pki_dir().join(f).exists())
            .collect();
        if !missing.is_empty() {
            return Err(Error::Preflight(format!(
                "a control-plane node needs the cluster's shared keys in {}: {} are missing; copy them from the first control-plane node (docs/install.md)",
                paths.pki_dir().display(),
                missing.join(", ")
            )));
        }
    }

    let info = discovery::discover(
        &opts.endpoint,
        &opts.token,
        &opts.ca_hashes,
        opts.skip_ca_verification,
        opts.timeout,
    )
    .await?;
    println!(
        "[discovery] Cluster info signature and contents are valid and the CA is pinned; will use API Server {:?}",
        info.server
    );

    if opts.control_plane {
        let client = apiclient::from_text(
            &bootstrap_kubeconfig(&info, &opts.tls_bootstrap_token),
            "the bootstrap token",
        )
        .await?;
        if let Some(key) = &opts.certificate_key {
            println!("[download-certs] Downloading the certificates in Secret \"kubeadm-certs\" in the \"kube-system\" Namespace");
            crate::copycerts::download(&client, &paths.pki_dir(), key)
                .await
                .map_err(|e| match e {
                    crate::copycerts::Error::Api(apiclient::Error::Kube(k)) => {
                        refused(k, &opts.tls_bootstrap_token)
                    }
                    e => e.into(),
                })?;
        }
        let cfg = with_stored_configuration(cfg, &client)
            .await
            .map_err(|e| match e {
                Error::Api(apiclient::Error::Kube(k)) => refused(k, &opts.tls_bootstrap_token),
                e => e,
            })?;
        return join_control_plane(&cfg, opts, &info).await;
    }

    // From here on the token is the credential: the apiserver checks it.
    let bootstrap = bootstrap_kubeconfig(&info, &opts.tls_bootstrap_token);
    let client = apiclient::from_text(&bootstrap, "bootstrap-kubelet.conf").await?;
    println!("[preflight] Reading configuration from the \"kubelet-config\" ConfigMap in the kube-system namespace");
    let config = kubelet::download(&client)
        .await
        .map_err(|e| refused(e, &opts.tls_bootstrap_token))?;
    let nodes: Api<Node> = Api::all(client.clone());
    if let Some(node) = nodes
        .get_opt(&cfg.node_name)
        .await
        .map_err(|e| refused(e, &opts.tls_bootstrap_token))?
    {
        let ready = node
            .status
            .and_then(|s| s.conditions)
            .unwrap_or_default()
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True");
        if ready {
            return Err(Error::Preflight(format!(
                "a Node with name {:?} and status \"Ready\" already exists in the cluster. You must delete the existing Node or change the name of this new joining Node",
                cfg.node_name
            )));
        }
    }

    let pki_dir = paths.pki_dir();
    pki::write_file(&pki_dir.join("ca.crt"), info.ca_pem.as_bytes(), false)?;
    let bootstrap_path = paths.kubeconfig("bootstrap-kubelet.conf");
    pki::write_file(&bootstrap_path, bootstrap.as_bytes(), true)?;
    let config_path = paths.kubelet_dir().join("config.yaml");
    println!(
        "[kubelet-start] Writing kubelet configuration to file {:?}",
        config_path.display().to_string()
    );
    let local = kubelet::local_configuration(cfg, &localize(&config, cfg))?;
    pki::write_file(&config_path, local.as_bytes(), false)?;

    if skip("kubelet-start") {
        return Ok(());
    }
    let unit = kubelet::unit(cfg, true);
    controlplane::write(&paths.units_dir(), &unit)?;
    println!("[kubelet-start] Starting the kubelet");
    crate::init::start(cfg, std::slice::from_ref(&unit.name))?;
    println!("[kubelet-start] Waiting for the kubelet to perform the TLS Bootstrap");
    let start = Instant::now();
    let kubelet_conf = paths.kubeconfig("kubelet.conf");
    while !kubelet_conf.exists() {
        if start.elapsed() > opts.timeout {
            return Err(Error::Start(format!(
                "the kubelet did not write {} within {:?}: no signed CertificateSigningRequest (is the controller-manager's csrsigning running?)",
                kubelet_conf.display(),
                opts.timeout
            )));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!("\nThis node has joined the cluster:");
    println!("* Certificate signing request was sent to apiserver and a response was received.");
    println!("* The Kubelet was informed of the new secure connection details.\n");
    println!("Run 'kubectl get nodes' on the control-plane to see this node join the cluster.\n");
    Ok(())
}

/// The cluster's kubelet configuration with this machine's paths (the CA
/// under this node's `--host-root`).
fn localize(config: &str, cfg: &Config) -> String {
    let Ok(mut doc) = serde_yaml_ng::from_str::<serde_json::Value>(config) else {
        return config.to_string();
    };
    if let Some(x509) = doc.pointer_mut("/authentication/x509") {
        x509["clientCAFile"] = cfg
            .paths
            .pki_dir()
            .join("ca.crt")
            .display()
            .to_string()
            .into();
    }
    serde_yaml_ng::to_string(&doc).unwrap_or_else(|_| config.to_string())
}

/// `bootstrap-kubelet.conf`: the discovered cluster, the token as credential.
fn bootstrap_kubeconfig(info: &discovery::ClusterInfo, token: &Token) -> String {
    kubeconfig::render(
        &info.server,
        &info.ca_pem,
        Some((
            kubeconfig::BOOTSTRAP_USER,
            &kubeconfig::Credential::Token(token.to_string()),
        )),
    )
}

/// What the admin copies to a new control-plane node (upstream's "manual
/// certificate distribution"): the CAs' keys and the ServiceAccount keys.
pub const SHARED_PKI: [&str; 8] = [
    "ca.crt",
    "ca.key",
    "sa.key",
    "sa.pub",
    "front-proxy-ca.crt",
    "front-proxy-ca.key",
    "etcd/ca.crt",
    "etcd/ca.key",
];

/// `cfg` with the ClusterConfiguration `init` stored in
/// `kube-system/kubeadm-config` (the networks, the apiserver's names, the
/// components' `extraArgs`): every control-plane node runs the same flags,
/// as upstream's join reads the same ConfigMap. Nodes in the bootstrap
/// token's group may read it.
async fn with_stored_configuration(cfg: &Config, client: &kube::Client) -> Result<Config, Error> {
    println!("[preflight] Reading configuration from the \"kubeadm-config\" ConfigMap in the kube-system namespace");
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "kube-system");
    let stored = api
        .get("kubeadm-config")
        .await?
        .data
        .and_then(|d| d.get("ClusterConfiguration").cloned())
        .unwrap_or_default();
    let mut cfg = cfg.clone();
    crate::configfile::stored_cluster_configuration(&stored)?.apply(&mut cfg);
    Ok(cfg)
}

/// `join --control-plane`: this node's certificates and kubeconfigs from
/// the shared CAs, a new etcd member, and the control-plane units.
async fn join_control_plane(
    cfg: &Config,
    opts: &Options,
    info: &discovery::ClusterInfo,
) -> Result<(), Error> {
    let skip = |phase: &str| opts.skip_phases.iter().any(|p| p == phase || p == "all");
    let paths = &cfg.paths;
    let pki_dir = paths.pki_dir();
    let local_ca = std::fs::read_to_string(pki_dir.join("ca.crt")).unwrap_or_default();
    if local_ca.trim() != info.ca_pem.trim() {
        return Err(Error::Preflight(format!(
            "{} is not the cluster's CA (the one discovery pinned)",
            pki_dir.join("ca.crt").display()
        )));
    }
    println!(
        "[control-plane-prepare] Generating the certificates of this node from the shared CAs"
    );
    pki::write_all(&pki_dir, &cfg.identity())?;
    let local = format!("https://{}", cfg.local_endpoint());
    let done = kubeconfig::write_missing(cfg)?;
    for (file, _) in done.iter().filter(|(_, written)| *written) {
        println!("[control-plane-prepare] Writing {file:?} kubeconfig file");
    }

    let admin = apiclient::from_file(&paths.kubeconfig("admin.conf")).await?;
    let mut endpoints = crate::etcd::endpoints(&admin).await?;
    // Read before the new etcd member is added: until it runs, a cluster of
    // one member has lost its quorum and the apiserver cannot read.
    let kubelet_config = if skip("kubelet-start") {
        None
    } else {
        Some(kubelet::download(&admin).await?)
    };
    let peer_url = controlplane::etcd_peer_url(cfg);
    println!("[control-plane-join] Adding a new etcd member {peer_url} through {endpoints:?}");
    let initial = crate::etcd::add_member(
        &pki_dir,
        &endpoints,
        &cfg.node_name,
        &peer_url,
        opts.timeout,
    )
    .await?;
    let units_dir = paths.units_dir();
    let mut units = vec![
        controlplane::etcd(cfg, &initial, "existing"),
        controlplane::apiserver(cfg),
        controlplane::controller_manager(cfg),
        controlplane::scheduler(cfg),
    ];
    if let Some(config) = kubelet_config {
        let config_path = paths.kubelet_dir().join("config.yaml");
        let local = kubelet::local_configuration(cfg, &localize(&config, cfg))?;
        pki::write_file(&config_path, local.as_bytes(), false)?;
        units.push(kubelet::unit(cfg, false));
    }
    for unit in &units {
        println!("[control-plane-join] Creating unit for {:?}", unit.name);
        controlplane::write(&units_dir, unit)?;
    }
    let names: Vec<String> = units.iter().map(|u| u.name.clone()).collect();
    crate::init::start(cfg, &names)?;
    let probe = apiclient::anonymous(&local, Some(&info.ca_pem))?;
    let took = apiclient::wait_healthy(&probe, &local, opts.timeout).await?;
    println!("[control-plane-join] This node's API server is healthy after {took:?}");
    let own = controlplane::etcd_client_url(cfg);
    if !endpoints.contains(&own) {
        endpoints.push(own);
    }
    crate::etcd::record_endpoints(&admin, &endpoints).await?;
    if !skip("kubelet-start") && !skip("mark-control-plane") {
        crate::init::mark_control_plane(&admin, cfg, opts.timeout).await?;
    }
    println!("\nThis node has joined the cluster and a new control plane instance was created:\n");
    println!("* The Kubelet was informed of the new secure connection details.");
    println!("* Control plane label and taint were applied to the new node.");
    println!("* The Kubernetes control plane instances scaled up.");
    println!("* A new etcd member was added to the local/stacked etcd cluster.\n");
    Ok(())
}

fn refused(e: kube::Error, token: &Token) -> Error {
    match &e {
        kube::Error::Api(s) if s.code == 401 => Error::TokenRefused(token.id.clone()),
        _ => Error::Api(apiclient::Error::Kube(e)),
    }
}
