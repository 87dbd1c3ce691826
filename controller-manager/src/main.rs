//! `controller-manager`: flags in, [`controller_manager::run`] out.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use component_base::duration::parse as parse_duration;

// mimalloc: fewer cycles than glibc's malloc for the many small
// allocations of decoding and copying API objects (docs/benchmarks.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Runs the control loops.
#[derive(Debug, Parser)]
#[command(name = "controller-manager", version)]
struct Flags {
    /// Kubeconfig with the apiserver address.
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// The apiserver URL (overrides the kubeconfig's server).
    #[arg(long)]
    master: Option<String>,
    /// Controllers to run: `*` for all, `name` to enable, `-name` to disable.
    #[arg(long, value_delimiter = ',', default_value = "*")]
    controllers: Vec<String>,
    /// `--leader-elect` and its settings (the Lease
    /// `kube-system/kube-controller-manager`).
    #[command(flatten)]
    leader_election: component_base::leader_election::Flags,
    /// Give nodes a spec.podCIDR from --cluster-cidr.
    #[arg(long, default_value_t = true, num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    allocate_node_cidrs: bool,
    /// The pod network.
    #[arg(long, default_value = "10.244.0.0/16")]
    cluster_cidr: String,
    /// Prefix length of each node's podCIDR.
    #[arg(long, default_value_t = 24)]
    node_cidr_mask_size: u8,
    /// How often node health is checked.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    node_monitor_period: Duration,
    /// Silence after which a node is marked Unknown.
    #[arg(long, default_value = "40s", value_parser = parse_duration)]
    node_monitor_grace_period: Duration,
    /// The same for a node that never reported Ready.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    node_startup_grace_period: Duration,
    /// How long pods without their own not-ready/unreachable toleration stay
    /// on a failed node before eviction.
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    pod_eviction_timeout: Duration,
    /// Terminated pods kept before the pod GC deletes the oldest.
    #[arg(long, default_value_t = 12500)]
    terminated_pod_gc_threshold: usize,
    /// Workers per controller.
    #[arg(long, default_value_t = 5)]
    concurrent_syncs: usize,
    /// Address for /metrics and /healthz.
    #[arg(long, default_value = "0.0.0.0")]
    bind_address: IpAddr,
    /// Port for /metrics and /healthz over plain HTTP (0, the default,
    /// disables it; tests and benchmarks scrape it).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// `--secure-port` (default 10257) and its certificate.
    #[command(flatten)]
    secure: component_base::health_server::SecureFlags,
    /// Each controller talks to the apiserver as its own ServiceAccount in
    /// kube-system (with a token the controller-manager requests), not as
    /// the controller-manager. Given twice, the last wins (as upstream's
    /// flags), so a flag added to a command line can turn it off.
    #[arg(long, default_value_t = false, num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set, overrides_with = "use_service_account_credentials")]
    use_service_account_credentials: bool,
    /// Do not write Events.
    #[arg(long, default_value_t = false)]
    no_events: bool,
    /// The cluster CA certificate (PEM), published in every namespace as
    /// the ConfigMap kube-root-ca.crt.
    #[arg(long)]
    root_ca_file: Option<PathBuf>,
    /// How often each HorizontalPodAutoscaler is looked at.
    #[arg(long = "horizontal-pod-autoscaler-sync-period", default_value = "15s", value_parser = parse_duration)]
    hpa_sync_period: Duration,
    /// How long an HPA waits before scaling down (the highest
    /// recommendation of this window wins).
    #[arg(long = "horizontal-pod-autoscaler-downscale-stabilization", default_value = "5m0s", value_parser = parse_duration)]
    hpa_downscale_stabilization: Duration,
    /// How far from its target a metric may be before the count changes.
    #[arg(long = "horizontal-pod-autoscaler-tolerance", default_value_t = 0.1)]
    hpa_tolerance: f64,
    /// After a pod starts, how long its CPU samples are only taken once it
    /// is ready for a whole window.
    #[arg(long = "horizontal-pod-autoscaler-cpu-initialization-period", default_value = "5m0s", value_parser = parse_duration)]
    hpa_cpu_initialization_period: Duration,
    /// After a pod starts, how long a not-ready pod counts as never ready.
    #[arg(long = "horizontal-pod-autoscaler-initial-readiness-delay", default_value = "30s", value_parser = parse_duration)]
    hpa_initial_readiness_delay: Duration,
    /// The CA certificate (PEM) the CSR signer issues cluster-scoped
    /// certificates with (kubelet client and serving, apiserver client).
    #[arg(long)]
    cluster_signing_cert_file: Option<PathBuf>,
    /// Its private key (PEM).
    #[arg(long)]
    cluster_signing_key_file: Option<PathBuf>,
    /// The longest certificate the signer issues (`spec.expirationSeconds`
    /// may ask for less).
    #[arg(long, default_value = "8760h0m0s", value_parser = parse_duration)]
    cluster_signing_duration: Duration,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let f = Flags::parse();
    let kube_config =
        component_base::client::config(f.kubeconfig.as_deref(), f.master.as_deref()).await?;
    let client = component_base::client::from_config(kube_config.clone())?;
    let mut config = controller_manager::Config {
        controllers: f.controllers,
        allocate_node_cidrs: f.allocate_node_cidrs,
        cluster_cidr: f.cluster_cidr,
        node_cidr_mask_size: f.node_cidr_mask_size,
        node_monitor_period: f.node_monitor_period,
        node_monitor_grace_period: f.node_monitor_grace_period,
        node_startup_grace_period: f.node_startup_grace_period,
        pod_eviction_timeout: f.pod_eviction_timeout,
        terminated_pod_gc_threshold: f.terminated_pod_gc_threshold,
        workers: f.concurrent_syncs,
        metrics_addr: (f.port != 0).then(|| SocketAddr::new(f.bind_address, f.port)),
        secure_serving: f
            .secure
            .serving(f.bind_address, 10257, "kube-controller-manager")?,
        emit_events: !f.no_events,
        leader_election: None,
        root_ca_file: f.root_ca_file,
        hpa: controller_manager::controllers::horizontalpodautoscaler::Settings {
            sync_period: f.hpa_sync_period,
            downscale_stabilization: f.hpa_downscale_stabilization,
            tolerance: f.hpa_tolerance,
            cpu_initialization_period: f.hpa_cpu_initialization_period,
            initial_readiness_delay: f.hpa_initial_readiness_delay,
        },
        service_account_credentials: f.use_service_account_credentials.then_some(kube_config),
        cluster_signing: match (f.cluster_signing_cert_file, f.cluster_signing_key_file) {
            (Some(cert_file), Some(key_file)) => {
                Some(controller_manager::controllers::csrsigning::Settings {
                    cert_file,
                    key_file,
                    duration: f.cluster_signing_duration,
                })
            }
            (None, None) => None,
            _ => anyhow::bail!(
                "--cluster-signing-cert-file and --cluster-signing-key-file go together"
            ),
        },
    };
    if let Some(path) = &config.root_ca_file {
        let pem = std::fs::read_to_string(path)
            .with_context(|| format!("--root-ca-file: cannot read {}", path.display()))?;
        if !pem.contains("-----BEGIN CERTIFICATE-----") {
            anyhow::bail!(
                "--root-ca-file: {} holds no PEM certificate",
                path.display()
            );
        }
    }
    for c in &config.controllers {
        let name = c.trim().trim_start_matches('-');
        if name != "*" && !controller_manager::config::ALL_CONTROLLERS.contains(&name) {
            anyhow::bail!(
                "--controllers: unknown controller {name:?}; known: {}",
                controller_manager::config::ALL_CONTROLLERS.join(", ")
            );
        }
    }
    if f.leader_election.leader_elect {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "controller-manager".into());
        let identity = format!("{host}_{:08x}", rand::random::<u32>());
        config.leader_election = f
            .leader_election
            .config("kube-controller-manager", identity);
    }
    controller_manager::run(client, config).await
}

#[cfg(test)]
mod tests {
    /// clap checks a flag definition only when it parses (a name or group
    /// used twice panics at start-up): check it in the tests instead.
    #[test]
    fn flags_are_well_formed() {
        <super::Flags as clap::CommandFactory>::command().debug_assert();
    }

    #[test]
    fn the_last_use_service_account_credentials_wins() {
        use clap::Parser;
        let parse = |args: &[&str]| {
            super::Flags::try_parse_from(
                std::iter::once("controller-manager").chain(args.iter().copied()),
            )
            .map(|f| f.use_service_account_credentials)
            .ok()
        };
        assert_eq!(parse(&[]), Some(false));
        assert_eq!(parse(&["--use-service-account-credentials"]), Some(true));
        assert_eq!(
            parse(&[
                "--use-service-account-credentials",
                "--use-service-account-credentials=false"
            ]),
            Some(false)
        );
    }
}
