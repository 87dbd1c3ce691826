//! `scheduler`: flags in, [`scheduler::run`] out.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use clap::Parser;

// mimalloc: fewer cycles than glibc's malloc for the many small
// allocations of decoding and copying API objects (docs/benchmarks.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Binds pending pods to nodes.
#[derive(Debug, Parser)]
#[command(name = "scheduler", version)]
struct Flags {
    /// Kubeconfig with the apiserver address.
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// The apiserver URL (overrides the kubeconfig's server).
    #[arg(long)]
    master: Option<String>,
    /// `--leader-elect` and its settings (the Lease `kube-system/kube-scheduler`).
    #[command(flatten)]
    leader_election: component_base::leader_election::Flags,
    /// Only pods with this spec.schedulerName are scheduled.
    #[arg(long, default_value = scheduler::config::DEFAULT_SCHEDULER_NAME)]
    scheduler_name: String,
    /// Address for /metrics and /healthz.
    #[arg(long, default_value = "0.0.0.0")]
    bind_address: IpAddr,
    /// Port for /metrics and /healthz over plain HTTP (0, the default,
    /// disables it; tests and benchmarks scrape it).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// `--secure-port` (default 10259) and its certificate.
    #[command(flatten)]
    secure: component_base::health_server::SecureFlags,
    /// Percentage of nodes to score (0 = adaptive).
    #[arg(long, default_value_t = 0)]
    percentage_of_nodes_to_score: u32,
    /// Do not write Events.
    #[arg(long, default_value_t = false)]
    no_events: bool,
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
    let client = scheduler::config::client(f.kubeconfig.as_deref(), f.master.as_deref()).await?;
    let mut config = scheduler::Config {
        scheduler_name: f.scheduler_name,
        percentage_of_nodes_to_score: f.percentage_of_nodes_to_score,
        metrics_addr: (f.port != 0).then(|| SocketAddr::new(f.bind_address, f.port)),
        secure_serving: f.secure.serving(f.bind_address, 10259, "kube-scheduler")?,
        emit_events: !f.no_events,
        ..Default::default()
    };
    if f.leader_election.leader_elect {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "scheduler".into());
        let identity = format!("{host}_{:08x}", rand::random::<u32>());
        config.leader_election = f.leader_election.config("kube-scheduler", identity);
    }
    scheduler::run(client, config).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    /// clap checks a flag definition only when it parses (a name or group
    /// used twice panics at start-up): check it in the tests instead.
    #[test]
    fn flags_are_well_formed() {
        <super::Flags as clap::CommandFactory>::command().debug_assert();
    }
}
