//! `kubeadm`: the command line (upstream's commands and flags, plus a few
//! of ours for tests and network-namespace machines, marked so); the work
//! is in the library.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use kubeadm::bootstraptoken::{self, Token};
use kubeadm::config::{Config, Runner};
use kubeadm::paths::Paths;

/// Bootstraps a Kubernetes cluster: `init` on the first control-plane
/// node, then the printed `join` on every other machine.
#[derive(Debug, Parser)]
#[command(name = "kubeadm", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// `init` carries its flags twice (itself and `init phase`); parsed once.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
enum Command {
    /// Run this command in order to set up the Kubernetes control plane.
    Init(InitCommand),
    /// Run this on any machine you wish to join an existing cluster.
    Join(JoinFlags),
    /// Manage bootstrap tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Commands related to handling kubernetes certificates.
    #[command(subcommand)]
    Certs(CertsCommand),
    /// Upgrade your cluster smoothly to a newer version with this command
    /// (here: restart this node's control plane and kubelet on new
    /// binaries).
    #[command(subcommand)]
    Upgrade(UpgradeCommand),
    /// Performs a best effort revert of changes made to this host by
    /// 'kubeadm init' or 'kubeadm join'.
    Reset(ResetFlags),
    /// (ours) Runs the units kubeadm wrote as supervised processes; started
    /// by init/join with --control-plane-runner processes.
    #[command(hide = true)]
    Supervise(RootFlag),
}

#[derive(Debug, Args)]
struct RootFlag {
    /// (ours) Every path kubeadm reads or writes (/etc/kubernetes,
    /// /var/lib/etcd, /var/lib/kubelet, /etc/systemd/system, ...) is taken
    /// under this directory, so a test or a network-namespace machine
    /// installs into a directory of its own.
    #[arg(long, default_value = "/")]
    host_root: PathBuf,
}

/// Flags of a machine that `init` and `join` share.
#[derive(Debug, Args)]
struct MachineFlags {
    #[command(flatten)]
    root: RootFlag,
    /// Specify the node name.
    #[arg(long)]
    node_name: Option<String>,
    /// The IP address the API Server will advertise it's listening on
    /// (and this node's address). Default: the default route's interface.
    #[arg(long = "apiserver-advertise-address")]
    advertise_address: Option<IpAddr>,
    /// Port for the API Server to bind to.
    #[arg(long = "apiserver-bind-port", default_value_t = 6443)]
    bind_port: u16,
    /// (ours) How the control plane and the kubelet run: systemd units, or
    /// the same command lines as processes kubeadm supervises (tests,
    /// network-namespace machines, no systemd).
    #[arg(long, value_enum, default_value = "systemd")]
    control_plane_runner: Runner,
    /// (ours) Where the apiserver, controller-manager, scheduler and
    /// kubelet binaries are.
    #[arg(long, default_value = "/usr/local/bin")]
    binaries_dir: PathBuf,
    /// (ours) etcd's client port.
    #[arg(long, default_value_t = 2379)]
    etcd_client_port: u16,
    /// (ours) etcd's peer port.
    #[arg(long, default_value_t = 2380)]
    etcd_peer_port: u16,
    /// (ours) The scheduler's secure port.
    #[arg(long, default_value_t = 10259)]
    scheduler_port: u16,
    /// (ours) The controller-manager's secure port.
    #[arg(long, default_value_t = 10257)]
    controller_manager_port: u16,
    /// (ours) The kubelet's port.
    #[arg(long, default_value_t = 10250)]
    kubelet_port: u16,
    /// List of phases to be skipped.
    #[arg(long, value_delimiter = ',')]
    skip_phases: Vec<String>,
    /// Path to a directory that contains files named
    /// "target[suffix][+patchtype].extension" patching this node's
    /// configuration; the target here is "kubeletconfiguration", the patch
    /// type "strategic" (default), "merge" or "json".
    #[arg(long)]
    patches: Option<PathBuf>,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
struct InitCommand {
    #[command(subcommand)]
    sub: Option<InitSub>,
    #[command(flatten)]
    flags: InitFlags,
}

#[derive(Debug, Subcommand)]
enum InitSub {
    /// Use this command to invoke single phase of the init workflow:
    /// preflight, certs, kubeconfig, etcd, control-plane, kubelet-start,
    /// wait-control-plane, upload-config, mark-control-plane,
    /// bootstrap-token, upload-certs, addon, show-join-command.
    Phase(PhaseFlags),
}

#[derive(Debug, Args)]
struct PhaseFlags {
    /// The phase (upstream's names).
    phase: String,
    /// Its part, or `all` (certs, kubeconfig, etcd, control-plane,
    /// upload-config).
    part: Option<String>,
    #[command(flatten)]
    flags: InitFlags,
}

#[derive(Debug, Args)]
struct InitFlags {
    #[command(flatten)]
    machine: MachineFlags,
    /// Specify a stable IP address or DNS name for the control plane.
    #[arg(long)]
    control_plane_endpoint: Option<String>,
    /// Specify range of IP addresses for the pod network.
    #[arg(long)]
    pod_network_cidr: Option<String>,
    /// Use alternative range of IP address for service VIPs.
    #[arg(long, default_value = "10.96.0.0/12")]
    service_cidr: String,
    /// Use alternative domain for services.
    #[arg(long, default_value = "cluster.local")]
    service_dns_domain: String,
    /// Optional extra Subject Alternative Names for the API Server serving
    /// certificate.
    #[arg(long, value_delimiter = ',')]
    apiserver_cert_extra_sans: Vec<String>,
    /// The token to use for establishing bidirectional trust between nodes
    /// and control-plane nodes.
    #[arg(long)]
    token: Option<String>,
    /// The duration before the token is automatically deleted (0: never).
    #[arg(long, default_value = "24h0m0s")]
    token_ttl: String,
    /// Upload control-plane certificates to the kubeadm-certs Secret.
    #[arg(long)]
    upload_certs: bool,
    /// Key used to encrypt the control-plane certificates in the
    /// kubeadm-certs Secret (64 hex characters; default: a new one).
    #[arg(long)]
    certificate_key: Option<String>,
    /// Path to a kubeadm configuration file: InitConfiguration,
    /// ClusterConfiguration (kubeadm.k8s.io/v1beta4; extraArgs of each
    /// component) and KubeletConfiguration documents (docs/install.md).
    #[arg(long)]
    config: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct JoinFlags {
    /// The control-plane endpoint, HOST:PORT (with --config: the
    /// JoinConfiguration's discovery.bootstrapToken.apiServerEndpoint).
    endpoint: Option<String>,
    #[command(flatten)]
    machine: MachineFlags,
    /// Use this token for both discovery-token and tls-bootstrap-token.
    #[arg(long)]
    token: Option<String>,
    /// For token-based discovery, the token used to validate cluster
    /// information fetched from the API server.
    #[arg(long)]
    discovery_token: Option<String>,
    /// Specify the token used to temporarily authenticate with the
    /// Kubernetes Control Plane while joining the node.
    #[arg(long)]
    tls_bootstrap_token: Option<String>,
    /// For token-based discovery, validate that the root CA public key
    /// matches this hash (format: "sha256:<hex>").
    #[arg(long, value_delimiter = ',')]
    discovery_token_ca_cert_hash: Vec<String>,
    /// For token-based discovery, allow joining without
    /// --discovery-token-ca-cert-hash pinning.
    #[arg(long)]
    discovery_token_unsafe_skip_ca_verification: bool,
    /// Create a new control plane instance on this node (the shared keys
    /// copied to /etc/kubernetes/pki first, docs/install.md).
    #[arg(long)]
    control_plane: bool,
    /// Use this key to decrypt the certificate secrets uploaded by init
    /// (with --control-plane).
    #[arg(long)]
    certificate_key: Option<String>,
    /// How long discovery and the TLS bootstrap may take.
    #[arg(long, default_value = "5m0s")]
    timeout: String,
    /// Path to a kubeadm configuration file with a JoinConfiguration
    /// (kubeadm.k8s.io/v1beta4; docs/install.md).
    #[arg(long)]
    config: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Create bootstrap tokens on the server.
    Create(TokenCreateFlags),
    /// List bootstrap tokens on the server.
    List(KubeconfigFlag),
    /// Delete bootstrap tokens on the server.
    Delete {
        /// Token ids or whole tokens.
        #[arg(required = true)]
        tokens: Vec<String>,
        #[command(flatten)]
        kubeconfig: KubeconfigFlag,
    },
}

#[derive(Debug, Args)]
struct KubeconfigFlag {
    #[command(flatten)]
    root: RootFlag,
    /// The kubeconfig file to use when talking to the cluster (default:
    /// /etc/kubernetes/admin.conf under --host-root).
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
}

impl KubeconfigFlag {
    fn path(&self) -> PathBuf {
        self.kubeconfig
            .clone()
            .unwrap_or_else(|| Paths::new(&self.root.host_root).kubeconfig("admin.conf"))
    }
}

#[derive(Debug, Args)]
struct TokenCreateFlags {
    /// The token to create (default: a random one).
    token: Option<String>,
    #[command(flatten)]
    kubeconfig: KubeconfigFlag,
    /// Instead of printing only the token, print the full 'kubeadm join'
    /// flag needed to join the cluster using the token.
    #[arg(long)]
    print_join_command: bool,
    /// The duration before the token is automatically deleted (0: never).
    #[arg(long, default_value = "24h0m0s")]
    ttl: String,
    /// A human friendly description of how this token is used.
    #[arg(long, default_value = "")]
    description: String,
    /// Describes the ways in which this token can be used.
    #[arg(long, value_delimiter = ',', default_value = "signing,authentication")]
    usages: Vec<String>,
    /// Extra groups that this token will authenticate as.
    #[arg(long, value_delimiter = ',', default_value = bootstraptoken::NODE_TOKEN_GROUP)]
    groups: Vec<String>,
}

#[derive(Debug, Subcommand)]
enum CertsCommand {
    /// Check certificates expiration for a Kubernetes cluster.
    CheckExpiration(RootFlag),
    /// Renew certificates for a Kubernetes cluster.
    Renew {
        /// all, or one of: admin.conf, super-admin.conf,
        /// controller-manager.conf, scheduler.conf, apiserver,
        /// apiserver-kubelet-client, front-proxy-client, etcd-server,
        /// etcd-peer, etcd-healthcheck-client, apiserver-etcd-client.
        name: String,
        #[command(flatten)]
        root: RootFlag,
    },
}

#[derive(Debug, Subcommand)]
enum UpgradeCommand {
    /// Upgrade the Kubernetes control plane on this (first) control-plane
    /// node to the binaries of --binaries-dir.
    Apply(UpgradeFlags),
    /// Upgrade commands for a node in the cluster (another control-plane
    /// node or a worker): the same restart on new binaries.
    Node(UpgradeFlags),
}

#[derive(Debug, Args)]
struct UpgradeFlags {
    /// The version upgraded to, as upstream's apply takes it (shown only:
    /// the binaries are those of --binaries-dir).
    version: Option<String>,
    #[command(flatten)]
    root: RootFlag,
    /// (ours) The directory of the new binaries.
    #[arg(long)]
    binaries_dir: PathBuf,
    /// How long the restarted API server may take to be healthy.
    #[arg(long, default_value = "4m0s")]
    timeout: String,
}

#[derive(Debug, Args)]
struct ResetFlags {
    #[command(flatten)]
    root: RootFlag,
    /// Reset the node without prompting for confirmation.
    #[arg(short, long)]
    force: bool,
}

fn ttl(text: &str) -> anyhow::Result<Option<Duration>> {
    let d = parse_duration(text).with_context(|| format!("invalid duration {text:?}"))?;
    Ok((!d.is_zero()).then_some(d))
}

/// Go durations: `24h0m0s`, `90s`, `1h30m`, `0`.
fn parse_duration(text: &str) -> anyhow::Result<Duration> {
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    let mut total = 0f64;
    let mut num = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            num.push(c);
            continue;
        }
        let mut unit = c.to_string();
        if c == 'm' && chars.peek() == Some(&'s') {
            unit.push('s');
            chars.next();
        }
        let n: f64 = num.parse().context("a number before each unit")?;
        num.clear();
        total += n * match unit.as_str() {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 0.001,
            u => anyhow::bail!("unknown unit {u:?}"),
        };
    }
    anyhow::ensure!(num.is_empty(), "a unit after {num}");
    Ok(Duration::from_secs_f64(total))
}

fn machine_config(m: &MachineFlags) -> anyhow::Result<Config> {
    let advertise_address = match m.advertise_address {
        Some(a) => a,
        None => kubeadm::config::default_address()
            .context("no default route: give --apiserver-advertise-address")?,
    };
    Ok(Config {
        paths: Paths::new(&m.root.host_root),
        node_name: m
            .node_name
            .clone()
            .unwrap_or_else(kubeadm::config::hostname),
        advertise_address,
        bind_port: m.bind_port,
        control_plane_endpoint: None,
        service_cidr: "10.96.0.0/12".into(),
        pod_network_cidr: None,
        dns_domain: "cluster.local".into(),
        extra_sans: vec![],
        binaries_dir: m.binaries_dir.clone(),
        etcd_client_port: m.etcd_client_port,
        etcd_peer_port: m.etcd_peer_port,
        scheduler_port: m.scheduler_port,
        controller_manager_port: m.controller_manager_port,
        kubelet_port: m.kubelet_port,
        runner: m.control_plane_runner,
        kubelet_config: None,
        extra_args: Default::default(),
        taints: None,
        patches_dir: m.patches.clone(),
    })
}

/// The flags of `init` that set what an InitConfiguration or
/// ClusterConfiguration sets: upstream refuses them beside such a file
/// ("can not mix '--config' with arguments"), so no setting has two values.
const INIT_NOT_WITH_CONFIG: [(&str, &str); 10] = [
    ("patches", "patches"),
    ("control_plane_endpoint", "control-plane-endpoint"),
    ("pod_network_cidr", "pod-network-cidr"),
    ("service_cidr", "service-cidr"),
    ("service_dns_domain", "service-dns-domain"),
    ("apiserver_cert_extra_sans", "apiserver-cert-extra-sans"),
    ("advertise_address", "apiserver-advertise-address"),
    ("bind_port", "apiserver-bind-port"),
    ("token", "token"),
    ("token_ttl", "token-ttl"),
];

/// The flags (and the endpoint argument) of `join` that set what a
/// JoinConfiguration sets; `--node-name` and `--skip-phases` mix, as
/// upstream's.
const JOIN_NOT_WITH_CONFIG: [(&str, &str); 11] = [
    ("endpoint", "endpoint"),
    ("patches", "patches"),
    ("token", "token"),
    ("discovery_token", "discovery-token"),
    ("tls_bootstrap_token", "tls-bootstrap-token"),
    (
        "discovery_token_ca_cert_hash",
        "discovery-token-ca-cert-hash",
    ),
    (
        "discovery_token_unsafe_skip_ca_verification",
        "discovery-token-unsafe-skip-ca-verification",
    ),
    ("control_plane", "control-plane"),
    ("certificate_key", "certificate-key"),
    ("advertise_address", "apiserver-advertise-address"),
    ("bind_port", "apiserver-bind-port"),
];

fn refuse_mixing(
    command: Option<&clap::ArgMatches>,
    flags: &[(&str, &str)],
    kinds: &str,
) -> anyhow::Result<()> {
    let Some(m) = command else { return Ok(()) };
    let given: Vec<&str> = flags
        .iter()
        .filter(|(id, _)| m.value_source(id) == Some(clap::parser::ValueSource::CommandLine))
        .map(|(_, flag)| *flag)
        .collect();
    anyhow::ensure!(
        given.is_empty(),
        "can not mix '--config' with arguments [{}]: set them in the {kinds}",
        given.join(" ")
    );
    Ok(())
}

/// Reads `--config`, warning of the documents the other command reads.
fn read_config(
    path: Option<&std::path::Path>,
    command: &str,
) -> anyhow::Result<Option<kubeadm::configfile::File>> {
    let Some(path) = path else { return Ok(None) };
    let file = kubeadm::configfile::read(path)?;
    for kind in file.ignored_by(command) {
        eprintln!("[config] WARNING: Ignored configuration document with kind {kind:?}: \"kubeadm {command}\" does not read it");
    }
    Ok(Some(file))
}

/// The node and the options of a `join`, from its flags or from the
/// JoinConfiguration of `--config` (the same node either way).
fn join_settings(
    mut f: JoinFlags,
    matches: Option<&clap::ArgMatches>,
) -> anyhow::Result<(Config, kubeadm::join::Options)> {
    let timeout = parse_duration(&f.timeout)?;
    let join = match read_config(f.config.as_deref(), "join")? {
        Some(file) => {
            let join = file
                .join
                .context("--config: the file has no JoinConfiguration")?;
            refuse_mixing(matches, &JOIN_NOT_WITH_CONFIG, "JoinConfiguration")?;
            Some(join)
        }
        None => None,
    };
    let s = match &join {
        Some(join) => join.settings().map_err(anyhow::Error::msg)?,
        None => {
            let endpoint = f
                .endpoint
                .context("the control-plane endpoint HOST:PORT (or --config) is required")?;
            let discovery = f
                .discovery_token
                .or(f.token.clone())
                .context("--token or --discovery-token is required")?;
            let tls = f
                .tls_bootstrap_token
                .or(f.token)
                .unwrap_or_else(|| discovery.clone());
            kubeadm::configfile::JoinSettings {
                endpoint,
                discovery_token: discovery,
                tls_bootstrap_token: tls,
                ca_hashes: f.discovery_token_ca_cert_hash,
                skip_ca_verification: f.discovery_token_unsafe_skip_ca_verification,
                control_plane: f.control_plane,
                certificate_key: f.certificate_key,
                // Those of the flags are the machine's, below.
                skip_phases: Vec::new(),
                address: f.machine.advertise_address,
            }
        }
    };
    f.machine.advertise_address = s.address;
    let mut cfg = machine_config(&f.machine)?;
    cfg.control_plane_endpoint = Some(s.endpoint.clone());
    if let Some(join) = &join {
        join.apply(&mut cfg);
    }
    let mut skip_phases = f.machine.skip_phases;
    skip_phases.extend(s.skip_phases);
    let opts = kubeadm::join::Options {
        endpoint: s.endpoint,
        token: Token::parse(&s.discovery_token)?,
        tls_bootstrap_token: Token::parse(&s.tls_bootstrap_token)?,
        ca_hashes: s.ca_hashes,
        skip_ca_verification: s.skip_ca_verification,
        skip_phases,
        control_plane: s.control_plane,
        certificate_key: s.certificate_key,
        timeout,
    };
    Ok((cfg, opts))
}

/// The node and the options of an `init` (or one of its phases), from
/// its flags and `--config`.
fn init_settings(
    mut f: InitFlags,
    matches: Option<&clap::ArgMatches>,
) -> anyhow::Result<(Config, kubeadm::init::Options)> {
    let file = read_config(f.config.as_deref(), "init")?;
    if let Some(file) = file.as_ref().filter(|f| f.has_init_kinds()) {
        refuse_mixing(
            matches,
            &INIT_NOT_WITH_CONFIG,
            "InitConfiguration or ClusterConfiguration",
        )?;
        // The file may say the address (no default route needed).
        if let Some(init) = &file.init {
            f.machine.advertise_address = f
                .machine
                .advertise_address
                .or(init.local_api_endpoint.advertise_address);
        }
    }
    let mut cfg = machine_config(&f.machine)?;
    cfg.control_plane_endpoint = f.control_plane_endpoint;
    cfg.pod_network_cidr = f.pod_network_cidr;
    cfg.service_cidr = f.service_cidr;
    cfg.dns_domain = f.service_dns_domain;
    cfg.extra_sans = f.apiserver_cert_extra_sans;
    if let Some(file) = &file {
        file.apply(&mut cfg);
    }
    let opts = kubeadm::init::Options {
        token: f.token.as_deref().map(Token::parse).transpose()?,
        token_ttl: ttl(&f.token_ttl)?,
        skip_phases: f.machine.skip_phases,
        timeout: Duration::from_secs(240),
        certificate_key: f.upload_certs.then(|| {
            f.certificate_key
                .clone()
                .unwrap_or_else(kubeadm::copycerts::generate_key)
        }),
    };
    Ok((cfg, opts))
}

async fn run(cli: Cli, matches: &clap::ArgMatches) -> anyhow::Result<()> {
    match cli.command {
        Command::Init(InitCommand { sub: None, flags }) => {
            let (cfg, opts) = init_settings(flags, matches.subcommand_matches("init"))?;
            kubeadm::init::run(&cfg, &opts).await?;
        }
        Command::Init(InitCommand {
            sub: Some(InitSub::Phase(p)),
            ..
        }) => {
            let m = matches
                .subcommand_matches("init")
                .and_then(|m| m.subcommand_matches("phase"));
            let (cfg, opts) = init_settings(p.flags, m)?;
            kubeadm::init::run_phase(&cfg, &opts, &p.phase, p.part.as_deref()).await?;
        }
        Command::Join(f) => {
            let (cfg, opts) = join_settings(f, matches.subcommand_matches("join"))?;
            kubeadm::join::run(&cfg, &opts).await?;
        }
        Command::Token(TokenCommand::Create(f)) => {
            let opts = bootstraptoken::Options {
                ttl: ttl(&f.ttl)?,
                usages: f.usages,
                groups: f.groups,
                description: f.description,
            };
            let token = f.token.as_deref().map(Token::parse).transpose()?;
            let out =
                kubeadm::token::create(&f.kubeconfig.path(), token, &opts, f.print_join_command)
                    .await?;
            println!("{out}");
        }
        Command::Token(TokenCommand::List(k)) => {
            print!("{}", kubeadm::token::list(&k.path()).await?)
        }
        Command::Token(TokenCommand::Delete { tokens, kubeconfig }) => {
            for line in kubeadm::token::delete(&kubeconfig.path(), &tokens).await? {
                println!("{line}");
            }
        }
        Command::Certs(CertsCommand::CheckExpiration(r)) => {
            let paths = Paths::new(&r.host_root);
            println!(
                "[check-expiration] Reading configuration from the files in {:?}",
                paths.kubernetes_dir().display().to_string()
            );
            println!();
            print!(
                "{}",
                kubeadm::certs::check_expiration(&paths, chrono::Utc::now())?
            );
        }
        Command::Certs(CertsCommand::Renew { name, root }) => {
            let paths = Paths::new(&root.host_root);
            for line in kubeadm::certs::renew(&paths, &name)? {
                println!("{line}");
            }
            println!("\nDone renewing certificates. You must restart the kube-apiserver, kube-controller-manager, kube-scheduler and etcd, so that they can use the new certificates.");
        }
        Command::Upgrade(UpgradeCommand::Apply(f) | UpgradeCommand::Node(f)) => {
            if let Some(v) = &f.version {
                println!(
                    "[upgrade] Upgrading to {v:?} with the binaries of {}",
                    f.binaries_dir.display()
                );
            }
            kubeadm::upgrade::run(
                &Paths::new(&f.root.host_root),
                &f.binaries_dir,
                parse_duration(&f.timeout)?,
            )
            .await?;
        }
        Command::Reset(f) => {
            if !f.force {
                use std::io::{BufRead, Write};
                print!("[reset] Are you sure you want to proceed? [y/N]: ");
                std::io::stdout().flush()?;
                let mut answer = String::new();
                std::io::stdin().lock().read_line(&mut answer)?;
                anyhow::ensure!(
                    answer.trim().eq_ignore_ascii_case("y"),
                    "aborted reset operation"
                );
            }
            kubeadm::reset::run(&Paths::new(&f.root.host_root)).await;
        }
        Command::Supervise(r) => kubeadm::supervisor::run(&Paths::new(&r.host_root)).await?,
    }
    Ok(())
}

#[tokio::main]
async fn main() {
    let matches = Cli::command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    if let Err(e) = run(cli, &matches).await {
        // Our errors' messages already hold their causes; add the rest.
        let mut text = e.to_string();
        for cause in e.chain().skip(1) {
            let c = cause.to_string();
            if !text.contains(&c) {
                text = format!("{text}: {c}");
            }
        }
        eprintln!("error execution phase: {text}");
        std::process::exit(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "abcdef.0123456789abcdef";

    /// The node and options of `kubeadm join ARGS`.
    fn join(args: &[&str]) -> anyhow::Result<(Config, kubeadm::join::Options)> {
        let mut all = vec!["kubeadm", "join"];
        all.extend_from_slice(args);
        let matches = Cli::command().try_get_matches_from(all)?;
        let Command::Join(f) = Cli::from_arg_matches(&matches)?.command else {
            panic!("not a join");
        };
        join_settings(f, matches.subcommand_matches("join"))
    }

    /// Config and options compared whole; the kubelet's flags as a set
    /// (a kubeletExtraArgs flag comes after kubeadm's).
    fn same_node(a: &(Config, kubeadm::join::Options), b: &(Config, kubeadm::join::Options)) {
        let flags = |c: &Config, worker: bool| {
            let mut f = kubeadm::kubelet::unit(c, worker).exec;
            f.sort();
            f
        };
        assert_eq!(flags(&a.0, true), flags(&b.0, true));
        let (mut ca, mut cb) = (a.0.clone(), b.0.clone());
        ca.extra_args.kubelet.clear();
        cb.extra_args.kubelet.clear();
        assert_eq!(format!("{ca:?}"), format!("{cb:?}"));
        assert_eq!(format!("{:?}", a.1), format!("{:?}", b.1));
    }

    #[test]
    fn join_configuration_gives_the_node_the_flags_give() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("join.yaml");
        std::fs::write(
            &file,
            format!(
                "apiVersion: kubeadm.k8s.io/v1beta4
kind: JoinConfiguration
nodeRegistration:
  name: w1
  kubeletExtraArgs: [{{name: node-ip, value: 10.0.0.2}}]
discovery:
  bootstrapToken:
    token: {TOKEN}
    apiServerEndpoint: 10.0.0.1:6443
    caCertHashes: [sha256:aa]
skipPhases: [preflight]
patches: {{directory: /etc/kubeadm/patches}}
"
            ),
        )
        .unwrap();
        let by_flags = join(&[
            "10.0.0.1:6443",
            "--token",
            TOKEN,
            "--discovery-token-ca-cert-hash",
            "sha256:aa",
            "--node-name",
            "w1",
            "--apiserver-advertise-address",
            "10.0.0.2",
            "--patches",
            "/etc/kubeadm/patches",
            "--skip-phases",
            "preflight",
        ])
        .unwrap();
        let by_file = join(&["--config", file.to_str().unwrap()]).unwrap();
        same_node(&by_flags, &by_file);
        assert!(by_file.0.node_taints(false).is_empty());

        // A control plane, and a separate TLS bootstrap token.
        std::fs::write(
            &file,
            format!(
                "apiVersion: kubeadm.k8s.io/v1beta4
kind: JoinConfiguration
discovery:
  bootstrapToken: {{token: {TOKEN}, apiServerEndpoint: 'cp:6443', unsafeSkipCAVerification: true}}
  tlsBootstrapToken: 123456.0123456789abcdef
controlPlane:
  localAPIEndpoint: {{advertiseAddress: 10.0.0.3, bindPort: 7443}}
  certificateKey: 'k1'
nodeRegistration:
  taints: [{{key: dedicated, value: infra, effect: NoExecute}}]
"
            ),
        )
        .unwrap();
        let by_file = join(&["--config", file.to_str().unwrap(), "--node-name", "cp2"]).unwrap();
        let by_flags = join(&[
            "cp:6443",
            "--discovery-token",
            TOKEN,
            "--tls-bootstrap-token",
            "123456.0123456789abcdef",
            "--discovery-token-unsafe-skip-ca-verification",
            "--control-plane",
            "--certificate-key",
            "k1",
            "--apiserver-advertise-address",
            "10.0.0.3",
            "--apiserver-bind-port",
            "7443",
            "--node-name",
            "cp2",
        ])
        .unwrap();
        assert_eq!(by_file.0.bind_port, 7443);
        assert!(by_file.1.control_plane);
        assert_eq!(
            by_file.0.node_taints(true)[0].effect,
            "NoExecute",
            "the file's taints replace the control-plane taint"
        );
        let kubelet = kubeadm::kubelet::unit(&by_file.0, false).exec;
        assert!(
            kubelet.contains(&"--register-with-taints=dedicated=infra:NoExecute".to_string()),
            "{kubelet:?}"
        );
        let mut untainted = by_file.clone();
        untainted.0.taints = None;
        same_node(&by_flags, &untainted);
    }

    #[test]
    fn join_config_does_not_mix_with_the_flags_it_sets() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("join.yaml");
        std::fs::write(&file, format!("apiVersion: kubeadm.k8s.io/v1beta4\nkind: JoinConfiguration\ndiscovery:\n  bootstrapToken: {{token: {TOKEN}, apiServerEndpoint: 'cp:6443'}}\n")).unwrap();
        let path = file.to_str().unwrap();
        let err = join(&[
            "cp:6443",
            "--config",
            path,
            "--token",
            TOKEN,
            "--control-plane",
        ])
        .unwrap_err()
        .to_string();
        assert_eq!(err, "can not mix '--config' with arguments [endpoint token control-plane]: set them in the JoinConfiguration");
        // Upstream's allowed ones mix.
        let err = join(&[
            "--config",
            path,
            "--apiserver-advertise-address",
            "10.0.0.9",
        ])
        .unwrap_err()
        .to_string();
        assert!(err.contains("[apiserver-advertise-address]"), "{err}");
        let (cfg, opts) = join(&[
            "--config",
            path,
            "--node-name",
            "n9",
            "--skip-phases",
            "kubelet-start",
        ])
        .unwrap();
        assert_eq!(cfg.node_name, "n9");
        assert_eq!(opts.skip_phases, ["kubelet-start"]);
        assert_eq!(opts.tls_bootstrap_token.to_string(), TOKEN);

        std::fs::write(
            &file,
            "apiVersion: kubeadm.k8s.io/v1beta4\nkind: JoinConfiguration\ndiscovery: {}\n",
        )
        .unwrap();
        let err = join(&["--config", path]).unwrap_err().to_string();
        assert!(
            err.contains("discovery.bootstrapToken is required"),
            "{err}"
        );
        std::fs::write(
            &file,
            "apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\n",
        )
        .unwrap();
        let err = join(&["--config", path]).unwrap_err().to_string();
        assert!(err.contains("no JoinConfiguration"), "{err}");
    }
}
