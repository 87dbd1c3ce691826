//! The scrape loop: every `--metric-resolution`, each Ready node's kubelet
//! is asked for its summary (all at once, each within the resolution or
//! 10 s, whichever is shorter: metrics-server's `--kubelet-request-timeout`
//! default), and the round's answers replace the
//! [`Storage`](super::Storage)'s. A kubelet that fails is logged and left
//! out of the round, so its node and pods stop being served until it
//! answers twice again, as with metrics-server.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::{summary, NodeScrape};
use crate::ApiServer;

/// The path scraped (upstream's parameter keeps the kubelet from
/// computing network and filesystem figures nobody reads here).
pub const SUMMARY_PATH: &str = "/stats/summary?only_cpu_and_memory=true";

/// The largest summary accepted.
const MAX_SUMMARY_BYTES: usize = 16 * 1024 * 1024;

/// Why one kubelet gave no samples.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The Node has no address to reach its kubelet at.
    #[error("node {0} has no address to reach its kubelet")]
    NoAddress(String),
    /// The kubelet could not be reached or the connection broke.
    #[error("unable to fetch metrics from node {node}: {source}")]
    Unreachable {
        /// The node.
        node: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// It took longer than the request timeout.
    #[error("unable to fetch metrics from node {0}: timed out")]
    Timeout(String),
    /// It answered something other than 200.
    #[error("unable to fetch metrics from node {node}: request failed, status: {status}")]
    Status {
        /// The node.
        node: String,
        /// What it answered.
        status: http::StatusCode,
    },
    /// The answer was not a summary.
    #[error("unable to fetch metrics from node {node}: {source}")]
    Decode {
        /// The node.
        node: String,
        /// Why.
        #[source]
        source: summary::Error,
    },
}

/// Whether a Node object reports `Ready=True`.
pub fn node_ready(node: &Value) -> bool {
    node.pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|c| {
            c.get("type").and_then(Value::as_str) == Some("Ready")
                && c.get("status").and_then(Value::as_str) == Some("True")
        })
}

/// Scrapes one node's kubelet.
pub async fn scrape(
    server: &ApiServer,
    node: &Value,
    timeout: Duration,
) -> Result<NodeScrape, Error> {
    let name = node
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let addr = crate::registry::core::pod::proxy::kubelet_address_of(node)
        .ok_or_else(|| Error::NoAddress(name.clone()))?;
    let fetch = server.kubelet.get(&addr, SUMMARY_PATH, MAX_SUMMARY_BYTES);
    let (status, body) = match tokio::time::timeout(timeout, fetch).await {
        Err(_) => return Err(Error::Timeout(name)),
        Ok(Err(source)) => return Err(Error::Unreachable { node: name, source }),
        Ok(Ok(r)) => r,
    };
    if status != http::StatusCode::OK {
        return Err(Error::Status { node: name, status });
    }
    summary::decode(&body).map_err(|source| Error::Decode { node: name, source })
}

/// One round: every Ready node, concurrently.
pub async fn scrape_all(server: &ApiServer, timeout: Duration) -> BTreeMap<String, NodeScrape> {
    let Some(nodes) = apimachinery::resources::find("", "v1", "nodes") else {
        return BTreeMap::new();
    };
    let prefix = server.store.collection_prefix(nodes.storage_name(), None);
    let page = match server.store.list(&prefix, None, 0, 0).await {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(error = %e, "resource metrics: cannot list nodes");
            return BTreeMap::new();
        }
    };
    let ready: Vec<Value> = page
        .items
        .into_iter()
        .map(|(_, o)| o.object)
        .filter(node_ready)
        .collect();
    let rounds = ready.iter().map(|node| async move {
        let name = node
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        (name, scrape(server, node, timeout).await)
    });
    let mut out = BTreeMap::new();
    for (name, result) in futures::future::join_all(rounds).await {
        match result {
            Ok(s) => {
                out.insert(name, s);
            }
            Err(e) => tracing::warn!(node = %name, error = %e, "resource metrics: scrape failed"),
        }
    }
    out
}

/// Scrapes every `resolution` until the server stops.
pub async fn run(server: Arc<ApiServer>, resolution: Duration) {
    let timeout = resolution.min(Duration::from_secs(10));
    let mut stopping = server.stopping.subscribe();
    let mut tick = tokio::time::interval(resolution);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stopping.wait_for(|s| *s) => return,
        }
        let round = scrape_all(&server, timeout).await;
        tracing::debug!(nodes = round.len(), "resource metrics scraped");
        server.resource_metrics.store(&round);
    }
}
