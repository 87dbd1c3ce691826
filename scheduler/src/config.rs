//! What a scheduler instance is told: its name, queue backoffs, how many
//! nodes to look at per pod, leader election, where to serve metrics; and
//! how to reach the apiserver (`--kubeconfig` or `--master`).

use std::net::SocketAddr;

use crate::leader_election;
use crate::queue::Backoff;

/// The name pods use in `spec.schedulerName` to ask for this scheduler.
pub const DEFAULT_SCHEDULER_NAME: &str = "default-scheduler";

/// Scheduler settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// Only pods with this `spec.schedulerName` are scheduled.
    pub scheduler_name: String,
    /// Queue backoffs.
    pub backoff: Backoff,
    /// Percentage of nodes to find feasible before scoring (0 = upstream's
    /// adaptive default: 50% minus 1% per 125 nodes, at least 5%, and
    /// never fewer than 100 nodes).
    pub percentage_of_nodes_to_score: u32,
    /// Bindings in flight at once.
    pub bind_concurrency: usize,
    /// `Some` to run only while holding the Lease.
    pub leader_election: Option<leader_election::Config>,
    /// Where to serve `/metrics`, `/healthz`, `/readyz` over plain HTTP
    /// (None: nowhere).
    pub metrics_addr: Option<SocketAddr>,
    /// Where and how to serve them over TLS (`--secure-port`).
    pub secure_serving: Option<component_base::health_server::SecureServing>,
    /// Whether to write Events (Scheduled, FailedScheduling, Preempted).
    pub emit_events: bool,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            scheduler_name: DEFAULT_SCHEDULER_NAME.to_string(),
            backoff: Backoff::default(),
            percentage_of_nodes_to_score: 0,
            bind_concurrency: 64,
            leader_election: None,
            metrics_addr: None,
            secure_serving: None,
            emit_events: true,
        }
    }
}

pub use component_base::client::{client, ClientError};
