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
//! applied, so `init` can run again after a failure. `init` is this list
//! run in order ([`run`]); `init phase <phase> [all|<part>]` runs one
//! ([`run_phase`]) with the same code. The units the `etcd`,
//! `control-plane` and `kubelet-start` phases write are started before the
//! first phase that needs the apiserver (or at the end of a lone phase).

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{ConfigMap, Node};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

use crate::bootstraptoken::{self, Token};
use crate::config::{Config, Runner};
use crate::{apiclient, controlplane, discovery, kubeconfig, kubelet, pki, supervisor, Error};

/// The phases of `init`, in order, with the parts each can run alone
/// (`init phase <phase> all|<part>`; none: the phase is one step).
pub const PHASES: [(&str, &[&str]); 13] = [
    ("preflight", &[]),
    ("certs", &pki::PHASE_NAMES),
    (
        "kubeconfig",
        &[
            "admin",
            "super-admin",
            "kubelet",
            "controller-manager",
            "scheduler",
        ],
    ),
    ("etcd", &["local"]),
    (
        "control-plane",
        &["apiserver", "controller-manager", "scheduler"],
    ),
    ("kubelet-start", &[]),
    ("wait-control-plane", &[]),
    ("upload-config", &["kubeadm", "kubelet"]),
    ("mark-control-plane", &[]),
    ("bootstrap-token", &[]),
    ("upload-certs", &[]),
    ("addon", &[]),
    ("show-join-command", &[]),
];

/// The first phase that talks to the apiserver: the units written before
/// it are started before it runs.
const FIRST_API_PHASE: &str = "wait-control-plane";

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

/// Why a phase name was refused.
fn unknown_phase(phase: &str, part: Option<&str>) -> Error {
    let names = |list: &[&str]| list.join(", ");
    let text = match PHASES.iter().find(|(p, _)| *p == phase) {
        None => format!(
            "unknown phase {phase:?}: one of {}",
            names(&PHASES.map(|(p, _)| p))
        ),
        Some((_, [])) => format!("phase {phase:?} has no parts (given {part:?})"),
        Some((_, parts)) => format!(
            "phase {phase:?} runs one of: all, {} (given {})",
            names(parts),
            part.map(|p| format!("{p:?}"))
                .unwrap_or_else(|| "none".into())
        ),
    };
    Error::Preflight(text)
}

/// Runs `init`: every phase in order, but those skipped.
pub async fn run(cfg: &Config, opts: &Options) -> Result<Outcome, Error> {
    let mut run = Run::new(cfg, opts);
    for (phase, _) in PHASES {
        if run.skip(phase) {
            continue;
        }
        run.phase(phase, &|_| true).await?;
    }
    run.start_written()?;
    run.outcome()
}

/// `init phase <phase> [all|<part>]`: the one phase (or part) of `init`,
/// as `init` runs it; units it writes are started.
pub async fn run_phase(
    cfg: &Config,
    opts: &Options,
    phase: &str,
    part: Option<&str>,
) -> Result<(), Error> {
    let parts = PHASES
        .iter()
        .find(|(p, _)| *p == phase)
        .map(|(_, parts)| *parts)
        .ok_or_else(|| unknown_phase(phase, part))?;
    let ok = match part {
        None => parts.is_empty(),
        Some("all") => !parts.is_empty(),
        Some(p) => parts.contains(&p),
    };
    if !ok {
        return Err(unknown_phase(phase, part));
    }
    let mut run = Run::new(cfg, opts);
    let want = |p: &str| part.is_none_or(|x| x == "all" || x == p);
    run.phase(phase, &want).await?;
    run.start_written()
}

/// What the phases of one run share.
struct Run<'a> {
    cfg: &'a Config,
    opts: &'a Options,
    /// Units written and not started yet.
    written: Vec<String>,
    /// When the control plane was started.
    started: Option<Instant>,
    client: Option<kube::Client>,
    token: Token,
    healthy_after: Option<Duration>,
}

impl<'a> Run<'a> {
    fn new(cfg: &'a Config, opts: &'a Options) -> Run<'a> {
        Run {
            cfg,
            opts,
            written: Vec::new(),
            started: None,
            client: None,
            token: opts.token.clone().unwrap_or_else(Token::generate),
            healthy_after: None,
        }
    }

    fn skip(&self, phase: &str) -> bool {
        self.opts
            .skip_phases
            .iter()
            .any(|p| p == phase || p == "all")
    }

    /// Whether the part `part` of `phase` runs: selected, and not skipped
    /// as `phase/part` (upstream's syntax).
    fn part(&self, want: &dyn Fn(&str) -> bool, phase: &str, part: &str) -> bool {
        want(part) && !self.skip(&format!("{phase}/{part}"))
    }

    /// Starts the units written so far.
    fn start_written(&mut self) -> Result<(), Error> {
        if self.written.is_empty() {
            return Ok(());
        }
        println!(
            "[kubelet-start] Starting {} ({})",
            self.written.join(", "),
            match self.cfg.runner {
                Runner::Systemd => "systemd units",
                Runner::Processes => "supervised processes",
            }
        );
        start(self.cfg, &self.written)?;
        self.written.clear();
        self.started.get_or_insert_with(Instant::now);
        Ok(())
    }

    /// Until the kubeadm:cluster-admins binding exists only
    /// super-admin.conf may do everything (as upstream).
    async fn client(&mut self) -> Result<kube::Client, Error> {
        if let Some(c) = &self.client {
            return Ok(c.clone());
        }
        let c = apiclient::from_file(&self.cfg.paths.kubeconfig("super-admin.conf")).await?;
        self.client = Some(c.clone());
        Ok(c)
    }

    fn ca_pem(&self) -> Result<String, Error> {
        let path = self.cfg.paths.pki_dir().join("ca.crt");
        Ok(std::fs::read_to_string(&path).map_err(|source| pki::Error::Io { path, source })?)
    }

    fn write_unit(&mut self, unit: controlplane::Unit) -> Result<(), Error> {
        controlplane::write(&self.cfg.paths.units_dir(), &unit)?;
        self.written.push(unit.name);
        Ok(())
    }

    /// The upload-certs key, when this run uploads.
    fn certificate_key(&self) -> Option<&'a str> {
        self.opts
            .certificate_key
            .as_deref()
            .filter(|_| !self.skip("upload-certs"))
    }

    fn outcome(&self) -> Result<Outcome, Error> {
        let ca_hash = discovery::ca_cert_hash(&self.ca_pem()?).unwrap_or_default();
        Ok(Outcome {
            token: self.token.clone(),
            join_command: join_command(&self.cfg.endpoint(), &self.token, &ca_hash, true),
            ca_hash,
            apiserver_healthy_after: self.healthy_after,
        })
    }

    /// Runs `phase`, its parts that `want` names.
    async fn phase(&mut self, phase: &str, want: &dyn Fn(&str) -> bool) -> Result<(), Error> {
        let cfg = self.cfg;
        let paths = &cfg.paths;
        let at = |name: &str| PHASES.iter().position(|(p, _)| *p == name);
        if at(phase).is_some() && at(phase) >= at(FIRST_API_PHASE) {
            self.start_written()?;
        }
        match phase {
            "preflight" => preflight(cfg)?,
            "certs" => {
                let pki_dir = paths.pki_dir();
                println!(
                    "[certs] Using certificateDir folder {:?}",
                    pki_dir.display().to_string()
                );
                let want = |p: &str| self.part(want, phase, p);
                for done in pki::write_selected(&pki_dir, &cfg.identity(), &want)? {
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
            "kubeconfig" => {
                println!(
                    "[kubeconfig] Using kubeconfig folder {:?}",
                    paths.kubernetes_dir().display().to_string()
                );
                let want = |p: &str| self.part(want, phase, p);
                for (file, written) in kubeconfig::write_missing_selected(cfg, &want)? {
                    if written {
                        println!("[kubeconfig] Writing {file:?} kubeconfig file");
                    } else {
                        let path = paths.kubeconfig(file).display().to_string();
                        println!("[kubeconfig] Using existing kubeconfig file: {path:?}");
                    }
                }
            }
            "etcd" => {
                println!(
                    "[etcd] Creating the unit for local etcd in {:?}",
                    paths.units_dir().display().to_string()
                );
                let unit = controlplane::etcd(cfg, &controlplane::etcd_member(cfg), "new");
                self.write_unit(unit)?;
            }
            "control-plane" => {
                println!(
                    "[control-plane] Using unit folder {:?}",
                    paths.units_dir().display().to_string()
                );
                for (part, unit) in [
                    ("apiserver", controlplane::apiserver(cfg)),
                    ("controller-manager", controlplane::controller_manager(cfg)),
                    ("scheduler", controlplane::scheduler(cfg)),
                ] {
                    if self.part(want, phase, part) {
                        println!("[control-plane] Creating unit for {:?}", unit.name);
                        self.write_unit(unit)?;
                    }
                }
            }
            "kubelet-start" => {
                let config = paths.kubelet_dir().join("config.yaml");
                println!(
                    "[kubelet-start] Writing kubelet configuration to file {:?}",
                    config.display().to_string()
                );
                let local = kubelet::local_configuration(cfg, &kubelet::configuration(cfg))?;
                pki::write_file(&config, local.as_bytes(), false)?;
                self.write_unit(kubelet::unit(cfg, false))?;
            }
            "wait-control-plane" => {
                println!(
                    "[api-check] Waiting for a healthy API server. This can take up to {:?}",
                    self.opts.timeout
                );
                let client = self.client().await?;
                let server = format!("https://{}", cfg.endpoint());
                let took = apiclient::wait_healthy(&client, &server, self.opts.timeout).await?;
                let since_start = self.started.map(|s| s.elapsed()).unwrap_or(took);
                println!("[api-check] The API server is healthy after {took:?} (control plane started {since_start:?} ago)");
                self.healthy_after = Some(since_start);
            }
            "upload-config" => {
                let client = self.client().await?;
                if self.part(want, phase, "kubeadm") {
                    println!("[upload-config] Storing the configuration used in ConfigMap \"kubeadm-config\" in the \"kube-system\" Namespace");
                    upload_config(&client, cfg).await?;
                    crate::etcd::record_endpoints(&client, &[controlplane::etcd_client_url(cfg)])
                        .await?;
                }
                if self.part(want, phase, "kubelet") {
                    println!("[kubelet] Creating a ConfigMap \"kubelet-config\" in namespace kube-system with the configuration for the kubelets in the cluster");
                    kubelet::upload(&client, cfg).await?;
                }
            }
            // Without a kubelet no Node registers to be marked.
            "mark-control-plane" if !self.skip("kubelet-start") => {
                let client = self.client().await?;
                mark_control_plane(&client, cfg, self.opts.timeout).await?;
            }
            "mark-control-plane" => {}
            "bootstrap-token" => {
                let client = self.client().await?;
                let token = self.token.clone();
                println!("[bootstrap-token] Using token: {token}");
                println!("[bootstrap-token] Configuring bootstrap tokens, cluster-info ConfigMap, RBAC Roles");
                let topts = bootstraptoken::Options {
                    ttl: self.opts.token_ttl,
                    description: bootstraptoken::INIT_DESCRIPTION.into(),
                    ..bootstraptoken::Options::default()
                };
                bootstraptoken::create(&client, &token, &topts).await?;
                println!("[bootstrap-token] Configured RBAC rules to allow Node Bootstrap tokens to get nodes");
                println!("[bootstrap-token] Configured RBAC rules to allow Node Bootstrap tokens to post CSRs in order for nodes to get long term certificate credentials");
                println!("[bootstrap-token] Configured RBAC rules to allow the csrapprover controller automatically approve CSRs from a Node Bootstrap Token");
                println!("[bootstrap-token] Configured RBAC rules to allow certificate rotation for all node client certificates in the cluster");
                bootstraptoken::apply_rbac(&client, &bootstraptoken::node_bootstrap_rbac()).await?;
                println!("[bootstrap-token] Creating the \"cluster-info\" ConfigMap in the \"kube-public\" namespace");
                let server = format!("https://{}", cfg.endpoint());
                create_cluster_info(&client, &server, &self.ca_pem()?).await?;
            }
            "upload-certs" => {
                if let Some(key) = self.certificate_key() {
                    let client = self.client().await?;
                    println!("[upload-certs] Storing the certificates in Secret \"kubeadm-certs\" in the \"kube-system\" Namespace");
                    crate::copycerts::upload(&client, &paths.pki_dir(), key).await?;
                    println!("[upload-certs] Using certificate key:\n{key}");
                }
            }
            "addon" => {
                let client = self.client().await?;
                for name in crate::addons::apply(&client, cfg).await? {
                    println!("[addons] Applied essential addon: {name}");
                }
            }
            "show-join-command" => {
                let join = self.outcome()?.join_command;
                print!("{}", success_message(cfg, &join, self.certificate_key()));
            }
            other => return Err(unknown_phase(other, None)),
        }
        Ok(())
    }
}

/// The `preflight` phase: the binaries are there, no control plane of
/// ours runs here.
fn preflight(cfg: &Config) -> Result<(), Error> {
    println!("[preflight] Running pre-flight checks");
    for bin in ["apiserver", "controller-manager", "scheduler"] {
        if !cfg.binary(bin).exists() {
            return Err(Error::Preflight(format!(
                "{} is missing (--binaries-dir)",
                cfg.binary(bin).display()
            )));
        }
    }
    if supervisor::running(&cfg.paths) {
        return Err(Error::Preflight(
            "a control plane started by kubeadm is running here; run \"kubeadm reset\" first"
                .into(),
        ));
    }
    Ok(())
}

/// Starts `units` as `cfg.runner` says.
pub fn start(cfg: &Config, units: &[String]) -> Result<(), Error> {
    match cfg.runner {
        Runner::Processes => {
            if supervisor::running(&cfg.paths) {
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

/// The `mark-control-plane` phase (of `init`, and of `join
/// --control-plane`): labels this node as control plane and adds its
/// taints (InitConfiguration's `nodeRegistration.taints`, by default the
/// control-plane taint; `[]` adds none), once its kubelet registered it.
pub(crate) async fn mark_control_plane(
    client: &kube::Client,
    cfg: &Config,
    timeout: Duration,
) -> Result<(), Error> {
    let node = cfg.node_name.as_str();
    println!("[mark-control-plane] Marking the node {node} as control-plane by adding the labels: [node-role.kubernetes.io/control-plane node.kubernetes.io/exclude-from-external-load-balancers]");
    let want = cfg.node_taints(true);
    let shown: Vec<String> = want.iter().map(crate::config::taint_text).collect();
    println!(
        "[mark-control-plane] Marking the node {node} as control-plane by adding the taints [{}]",
        shown.join(" ")
    );
    let api: Api<Node> = Api::all(client.clone());
    let start = Instant::now();
    loop {
        match api.get_opt(node).await? {
            Some(n) => {
                let mut taints = n.spec.and_then(|s| s.taints).unwrap_or_default();
                for t in &want {
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
