//! `kubeadm init`: the first control-plane node, phase by phase, with
//! upstream's phase names (each can be skipped with `--skip-phases`):
//!
//! `preflight` → `certs` → `kubeconfig` → `etcd` → `control-plane` →
//! `kubelet-start` → `wait-control-plane` → `upload-config` →
//! `mark-control-plane` → `bootstrap-token` → `upload-certs` (with
//! `--upload-certs`) → `addon` → `show-join-command`.
//!
//! The `addon` phase applies the cluster objects of [`crate::addons`]
//! (the kube-dns Service, the ingress class and its RBAC, the default
//! StorageClass): upstream deploys CoreDNS and kube-proxy there, our
//! kubelets answer DNS and proxy Services themselves.
//!
//! Every phase is idempotent: files that exist are kept and objects are
//! applied, so `init` can run again after a failure.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{ConfigMap, Node, Taint};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

use crate::bootstraptoken::{self, Token};
use crate::config::{Config, Runner};
use crate::{apiclient, controlplane, discovery, kubeconfig, kubelet, pki, supervisor, Error};

/// The phases of `init`, in order.
pub const PHASES: [&str; 13] = [
    "preflight",
    "certs",
    "kubeconfig",
    "etcd",
    "control-plane",
    "kubelet-start",
    "wait-control-plane",
    "upload-config",
    "mark-control-plane",
    "bootstrap-token",
    "upload-certs",
    "addon",
    "show-join-command",
];

/// What `init` needs besides the [`Config`].
#[derive(Debug, Clone)]
pub struct Options {
    /// `--token` (else a new one).
    pub token: Option<Token>,
    /// `--token-ttl`.
    pub token_ttl: Option<Duration>,
    /// `--skip-phases`.
    pub skip_phases: Vec<String>,
    /// How long to wait for a healthy apiserver.
    pub timeout: Duration,
    /// `--upload-certs`: the certificate key to seal the shared keys with.
    pub certificate_key: Option<String>,
}

/// What `init` made, for the caller to print or test.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The token it created.
    pub token: Token,
    /// `sha256:<hex>` of the CA.
    pub ca_hash: String,
    /// From starting the control plane to `/readyz` answering ok.
    pub apiserver_healthy_after: Option<Duration>,
    /// The join command.
    pub join_command: String,
}

/// The join command upstream prints, for `endpoint`, `token` and the pin.
pub fn join_command(endpoint: &str, token: &Token, ca_hash: &str, multiline: bool) -> String {
    if multiline {
        format!("kubeadm join {endpoint} --token {token} \\\n\t--discovery-token-ca-cert-hash {ca_hash} ")
    } else {
        format!("kubeadm join {endpoint} --token {token} --discovery-token-ca-cert-hash {ca_hash} ")
    }
}

/// Runs `init`.
pub async fn run(cfg: &Config, opts: &Options) -> Result<Outcome, Error> {
    let skip = |phase: &str| opts.skip_phases.iter().any(|p| p == phase || p == "all");
    let paths = &cfg.paths;
    let pki_dir = paths.pki_dir();

    if !skip("preflight") {
        println!("[preflight] Running pre-flight checks");
        for bin in ["apiserver", "controller-manager", "scheduler"] {
            if !cfg.binary(bin).exists() {
                return Err(Error::Preflight(format!(
                    "{} is missing (--binaries-dir)",
                    cfg.binary(bin).display()
                )));
            }
        }
        if supervisor_running(cfg) {
            return Err(Error::Preflight(
                "a control plane started by kubeadm is running here; run \"kubeadm reset\" first"
                    .into(),
            ));
        }
    }

    if !skip("certs") {
        println!(
            "[certs] Using certificateDir folder {:?}",
            pki_dir.display().to_string()
        );
        for done in pki::write_all(&pki_dir, &cfg.identity())? {
            match done {
                pki::Outcome::Generated(n) if n == "sa" => {
                    println!("[certs] Generating \"sa\" key and public key")
                }
                pki::Outcome::Generated(n) => {
                    println!("[certs] Generating {n:?} certificate and key")
                }
                pki::Outcome::Existing(n) => {
                    println!("[certs] Using existing {n} certificate and key on disk")
                }
            }
        }
    }

    let server = format!("https://{}", cfg.endpoint());
    if !skip("kubeconfig") {
        println!(
            "[kubeconfig] Using kubeconfig folder {:?}",
            paths.kubernetes_dir().display().to_string()
        );
        let done = kubeconfig::write_missing(cfg)?;
        for (file, written) in done {
            if written {
                println!("[kubeconfig] Writing {file:?} kubeconfig file");
            } else {
                let path = paths.kubeconfig(file).display().to_string();
                println!("[kubeconfig] Using existing kubeconfig file: {path:?}");
            }
        }
    }

    let units_dir = paths.units_dir();
    let mut units = Vec::new();
    if !skip("etcd") {
        println!(
            "[etcd] Creating the unit for local etcd in {:?}",
            units_dir.display().to_string()
        );
        let unit = controlplane::etcd(cfg, &controlplane::etcd_member(cfg), "new");
        controlplane::write(&units_dir, &unit)?;
        units.push(unit.name);
    }
    if !skip("control-plane") {
        println!(
            "[control-plane] Using unit folder {:?}",
            units_dir.display().to_string()
        );
        for unit in [
            controlplane::apiserver(cfg),
            controlplane::controller_manager(cfg),
            controlplane::scheduler(cfg),
        ] {
            println!("[control-plane] Creating unit for {:?}", unit.name);
            controlplane::write(&units_dir, &unit)?;
            units.push(unit.name);
        }
    }
    if !skip("kubelet-start") {
        let config = paths.kubelet_dir().join("config.yaml");
        println!(
            "[kubelet-start] Writing kubelet configuration to file {:?}",
            config.display().to_string()
        );
        let local = kubelet::local_configuration(cfg, &kubelet::configuration(cfg))?;
        pki::write_file(&config, local.as_bytes(), false)?;
        let unit = kubelet::unit(cfg, false);
        controlplane::write(&units_dir, &unit)?;
        units.push(unit.name);
    }

    let started = Instant::now();
    if !units.is_empty() {
        println!(
            "[kubelet-start] Starting the control plane ({})",
            match cfg.runner {
                Runner::Systemd => "systemd units",
                Runner::Processes => "supervised processes",
            }
        );
        start(cfg, &units)?;
    }

    // Until the kubeadm:cluster-admins binding exists only super-admin.conf
    // may do everything (as upstream).
    let client = apiclient::from_file(&paths.kubeconfig("super-admin.conf")).await?;
    let mut healthy_after = None;
    if !skip("wait-control-plane") {
        println!(
            "[api-check] Waiting for a healthy API server. This can take up to {:?}",
            opts.timeout
        );
        let took = apiclient::wait_healthy(&client, &server, opts.timeout).await?;
        let since_start = started.elapsed();
        println!("[api-check] The API server is healthy after {took:?} (control plane started {since_start:?} ago)");
        healthy_after = Some(since_start);
    }

    if !skip("upload-config") {
        println!("[upload-config] Storing the configuration used in ConfigMap \"kubeadm-config\" in the \"kube-system\" Namespace");
        upload_config(&client, cfg).await?;
        println!("[kubelet] Creating a ConfigMap \"kubelet-config\" in namespace kube-system with the configuration for the kubelets in the cluster");
        kubelet::upload(&client, cfg).await?;
        crate::etcd::record_endpoints(&client, &[controlplane::etcd_client_url(cfg)]).await?;
    }

    if !skip("mark-control-plane") && !skip("kubelet-start") {
        println!("[mark-control-plane] Marking the node {} as control-plane by adding the labels: [node-role.kubernetes.io/control-plane node.kubernetes.io/exclude-from-external-load-balancers]", cfg.node_name);
        let taints = cfg.node_taints(true);
        let shown: Vec<String> = taints.iter().map(crate::config::taint_text).collect();
        println!(
            "[mark-control-plane] Marking the node {} as control-plane by adding the taints [{}]",
            cfg.node_name,
            shown.join(" ")
        );
        mark_control_plane(&client, &cfg.node_name, &taints, opts.timeout).await?;
    }

    let token = opts.token.clone().unwrap_or_else(Token::generate);
    let ca_pem =
        std::fs::read_to_string(pki_dir.join("ca.crt")).map_err(|source| pki::Error::Io {
            path: pki_dir.join("ca.crt"),
            source,
        })?;
    if !skip("bootstrap-token") {
        println!("[bootstrap-token] Using token: {token}");
        println!(
            "[bootstrap-token] Configuring bootstrap tokens, cluster-info ConfigMap, RBAC Roles"
        );
        let topts = bootstraptoken::Options {
            ttl: opts.token_ttl,
            description: bootstraptoken::INIT_DESCRIPTION.into(),
            ..bootstraptoken::Options::default()
        };
        bootstraptoken::create(&client, &token, &topts).await?;
        println!(
            "[bootstrap-token] Configured RBAC rules to allow Node Bootstrap tokens to get nodes"
        );
        println!("[bootstrap-token] Configured RBAC rules to allow Node Bootstrap tokens to post CSRs in order for nodes to get long term certificate credentials");
        println!("[bootstrap-token] Configured RBAC rules to allow the csrapprover controller automatically approve CSRs from a Node Bootstrap Token");
        println!("[bootstrap-token] Configured RBAC rules to allow certificate rotation for all node client certificates in the cluster");
        bootstraptoken::apply_rbac(&client, &bootstraptoken::node_bootstrap_rbac()).await?;
        println!("[bootstrap-token] Creating the \"cluster-info\" ConfigMap in the \"kube-public\" namespace");
        create_cluster_info(&client, &server, &ca_pem).await?;
    }

    let upload = opts
        .certificate_key
        .as_ref()
        .filter(|_| !skip("upload-certs"));
    if let Some(key) = upload {
        println!("[upload-certs] Storing the certificates in Secret \"kubeadm-certs\" in the \"kube-system\" Namespace");
        crate::copycerts::upload(&client, &pki_dir, key).await?;
        println!("[upload-certs] Using certificate key:\n{key}");
    }

    if !skip("addon") {
        for name in crate::addons::apply(&client, cfg).await? {
            println!("[addons] Applied essential addon: {name}");
        }
    }

    let ca_hash = discovery::ca_cert_hash(&ca_pem).unwrap_or_default();
    let join = join_command(&cfg.endpoint(), &token, &ca_hash, true);
    if !skip("show-join-command") {
        print!(
            "{}",
            success_message(cfg, &join, upload.map(String::as_str))
        );
    }
    Ok(Outcome {
        token,
        ca_hash,
        apiserver_healthy_after: healthy_after,
        join_command: join,
    })
}

fn supervisor_running(cfg: &Config) -> bool {
    let Ok(text) = std::fs::read_to_string(supervisor::pid_file(&cfg.paths)) else {
        return false;
    };
    text.trim()
        .parse::<i32>()
        .map(|p| std::path::Path::new(&format!("/proc/{p}")).exists())
        .unwrap_or(false)
}

/// Starts `units` as `cfg.runner` says.
pub fn start(cfg: &Config, units: &[String]) -> Result<(), Error> {
    match cfg.runner {
        Runner::Processes => {
            if supervisor_running(cfg) {
                supervisor::stop(&cfg.paths);
            }
            supervisor::spawn(&cfg.paths)
                .map_err(|e| Error::Start(format!("kubeadm supervise: {e}")))?;
        }
        Runner::Systemd => {
            if !cfg.paths.is_host() {
                return Err(Error::Start(
                    "systemd units outside / are not started: use --control-plane-runner processes with --host-root".into(),
                ));
            }
            systemctl(&["daemon-reload"])?;
            let mut args = vec!["enable", "--now"];
            let names: Vec<String> = units.iter().map(|u| format!("{u}.service")).collect();
            args.extend(names.iter().map(String::as_str));
            systemctl(&args)?;
        }
    }
    Ok(())
}

/// Runs `systemctl ARGS`.
pub fn systemctl(args: &[&str]) -> Result<(), Error> {
    let out = std::process::Command::new("systemctl")
        .args(args)
        .output()
        .map_err(|e| Error::Start(format!("systemctl: {e}")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(Error::Start(format!(
            "systemctl {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

async fn upload_config(client: &kube::Client, cfg: &Config) -> Result<(), Error> {
    let mut networking = json!({
        "serviceSubnet": cfg.service_cidr,
        "dnsDomain": cfg.dns_domain,
    });
    if let Some(p) = &cfg.pod_network_cidr {
        networking["podSubnet"] = json!(p);
    }
    let extra = &cfg.extra_args;
    let cluster = json!({
        "apiVersion": crate::configfile::KUBEADM_API_VERSION,
        "kind": "ClusterConfiguration",
        "clusterName": kubeconfig::CLUSTER_NAME,
        "controlPlaneEndpoint": cfg.endpoint(),
        "certificatesDir": cfg.paths.pki_dir().display().to_string(),
        "networking": networking,
        "apiServer": {"certSANs": cfg.extra_sans, "extraArgs": extra.apiserver},
        "controllerManager": {"extraArgs": extra.controller_manager},
        "scheduler": {"extraArgs": extra.scheduler},
        "etcd": {"local": {"extraArgs": extra.etcd}},
    });
    apiclient::apply::<ConfigMap>(
        client,
        &json!({
            "metadata": {"name": "kubeadm-config", "namespace": "kube-system"},
            "data": {"ClusterConfiguration": serde_yaml_ng::to_string(&cluster).unwrap_or_default()},
        }),
    )
    .await?;
    apiclient::apply::<Role>(
        client,
        &json!({
            "metadata": {"name": "kubeadm:nodes-kubeadm-config", "namespace": "kube-system"},
            "rules": [{"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["kubeadm-config"], "verbs": ["get"]}],
        }),
    )
    .await?;
    apiclient::apply::<RoleBinding>(
        client,
        &json!({
            "metadata": {"name": "kubeadm:nodes-kubeadm-config", "namespace": "kube-system"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "kubeadm:nodes-kubeadm-config"},
            "subjects": [
                {"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": bootstraptoken::NODE_TOKEN_GROUP},
                {"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": "system:nodes"},
            ],
        }),
    )
    .await?;
    Ok(())
}

/// The `cluster-info` ConfigMap and the RBAC letting anonymous callers
/// read it (and only it).
pub async fn create_cluster_info(
    client: &kube::Client,
    server: &str,
    ca_pem: &str,
) -> Result<(), Error> {
    // Keep the signatures the bootstrapsigner already added: apply only
    // the kubeconfig key.
    apiclient::apply::<ConfigMap>(
        client,
        &json!({
            "metadata": {"name": discovery::CLUSTER_INFO, "namespace": discovery::NAMESPACE},
            "data": {discovery::KUBECONFIG_KEY: kubeconfig::render(server, ca_pem, None)},
        }),
    )
    .await?;
    apiclient::apply::<Role>(
        client,
        &json!({
            "metadata": {"name": "kubeadm:bootstrap-signer-clusterinfo", "namespace": discovery::NAMESPACE},
            "rules": [{"apiGroups": [""], "resources": ["configmaps"], "resourceNames": [discovery::CLUSTER_INFO], "verbs": ["get"]}],
        }),
    )
    .await?;
    apiclient::apply::<RoleBinding>(
        client,
        &json!({
            "metadata": {"name": "kubeadm:bootstrap-signer-clusterinfo", "namespace": discovery::NAMESPACE},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "kubeadm:bootstrap-signer-clusterinfo"},
            "subjects": [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "system:anonymous"}],
        }),
    )
    .await?;
    Ok(())
}

/// Labels the node as control plane and adds `want` to its taints
/// (InitConfiguration's `nodeRegistration.taints`, by default the
/// control-plane taint; `[]` adds none).
async fn mark_control_plane(
    client: &kube::Client,
    node: &str,
    want: &[Taint],
    timeout: Duration,
) -> Result<(), Error> {
    let api: Api<Node> = Api::all(client.clone());
    let start = Instant::now();
    loop {
        match api.get_opt(node).await? {
            Some(n) => {
                let mut taints = n.spec.and_then(|s| s.taints).unwrap_or_default();
                for t in want {
                    if !taints
                        .iter()
                        .any(|have| have.key == t.key && have.effect == t.effect)
                    {
                        taints.push(t.clone());
                    }
                }
                let patch = json!({
                    "metadata": {"labels": {
                        "node-role.kubernetes.io/control-plane": "",
                        "node.kubernetes.io/exclude-from-external-load-balancers": "",
                    }},
                    "spec": {"taints": taints},
                });
                api.patch(node, &PatchParams::default(), &Patch::Merge(&patch))
                    .await?;
                return Ok(());
            }
            None if start.elapsed() > timeout => {
                return Err(Error::Start(format!(
                    "the node {node:?} did not register within {timeout:?}; is the kubelet running?"
                )))
            }
            None => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    }
}

fn success_message(cfg: &Config, join: &str, certificate_key: Option<&str>) -> String {
    let admin = cfg.paths.kubeconfig("admin.conf").display().to_string();
    let mut s = String::from("\nYour Kubernetes control-plane has initialized successfully!\n\n");
    s.push_str("To start using your cluster, you need to run the following as a regular user:\n\n");
    s.push_str("  mkdir -p $HOME/.kube\n");
    s.push_str(&format!("  sudo cp -i {admin} $HOME/.kube/config\n"));
    s.push_str("  sudo chown $(id -u):$(id -g) $HOME/.kube/config\n\n");
    s.push_str("Alternatively, if you are the root user, you can run:\n\n");
    s.push_str(&format!("  export KUBECONFIG={admin}\n\n"));
    // Upstream asks for a pod network add-on here; our kubelets make the
    // pod network themselves (a CNI bridge per node from its podCIDR and
    // routes to the other nodes), given --pod-network-cidr.
    if cfg.pod_network_cidr.is_none() {
        s.push_str(
            "No --pod-network-cidr was given: nodes get no podCIDR, so pods have no network.\n",
        );
        s.push_str("Run \"kubeadm reset\" and \"kubeadm init --pod-network-cidr 10.244.0.0/16\" for one.\n\n");
    } else {
        s.push_str("Each kubelet makes the pod network itself (a bridge per node, routes to the others): no add-on is needed.\n\n");
    }
    if let Some(key) = certificate_key {
        s.push_str("You can now join any number of control-plane nodes running the following command on each as root:\n\n");
        s.push_str(&format!(
            "  {} \\\n\t--control-plane --certificate-key {key}\n\n",
            join.trim_end()
        ));
        s.push_str("Please note that the certificate-key gives access to cluster sensitive data, keep it secret!\n");
        s.push_str(
            "As a safeguard, uploaded-certs will be deleted in two hours; If necessary, run\n",
        );
        s.push_str("\"kubeadm init --upload-certs\" again (with --skip-phases for what exists) to reload certs afterward.\n\n");
    }
    s.push_str("Then you can join any number of worker nodes by running the following on each as root:\n\n");
    s.push_str(join);
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_join_line_is_upstreams() {
        let t = Token::parse("abcdef.0123456789abcdef").unwrap();
        assert_eq!(
            join_command("10.0.0.1:6443", &t, "sha256:ab", true),
            "kubeadm join 10.0.0.1:6443 --token abcdef.0123456789abcdef \\\n\t--discovery-token-ca-cert-hash sha256:ab "
        );
        assert_eq!(
            join_command("10.0.0.1:6443", &t, "sha256:ab", false),
            "kubeadm join 10.0.0.1:6443 --token abcdef.0123456789abcdef --discovery-token-ca-cert-hash sha256:ab "
        );
    }
}
