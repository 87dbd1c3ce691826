//! The kubelet's service proxy alone, against an apiserver, the way
//! kube-proxy runs: what `hack/bench-proxy.sh --against KUBE_PROXY` starts
//! to compare the two on the same cluster (it runs both in a network
//! namespace of their own; this refuses the host's root namespace).
//!
//!   service_proxy --server http://127.0.0.1:8080 [--node NAME]

use std::sync::Arc;

use anyhow::Context as _;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args: Vec<String> = std::env::args().collect();
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let server = flag("--server").context("--server URL is required")?;
    let node = flag("--node").unwrap_or_else(|| "bench-node".into());
    let config = kube::Config::new(server.parse().context("--server is not a URL")?);
    let client = kube::Client::try_from(config)?;
    let view = kubelet::services::ServiceView::start(client);
    kubelet::proxy::run(
        Arc::clone(&view),
        kubelet::proxy::ProxyConfig {
            enabled: true,
            allow_root_netns: false,
            pod_cidr: None,
            node_local_ips: Vec::new(),
            node_name: node,
        },
    )
    .await;
    anyhow::bail!("the service proxy stopped (see the log)")
}
