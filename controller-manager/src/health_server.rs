//! What the controller-manager reports on `/metrics`: per controller its
//! reconciles, failures, time and queue depth, and whether this replica
//! leads. Served by the shared [`component_base::health_server`] (also
//! `/healthz`, `/livez`, `/readyz`), encoded by `prometheus-client`.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use component_base::health_server::{
    self, counter_family, gauge_family, leader_gauge, Collector, DescriptorEncoder, Endpoints,
};

use crate::machinery::controller::Stats;
use crate::machinery::queue::Queue;

/// A controller's name, counters and queue.
type Registered = (&'static str, Arc<Stats>, Arc<Queue>);

/// What `/metrics` reports.
#[derive(Default)]
pub struct Metrics {
    controllers: Mutex<Vec<Registered>>,
    /// Whether this replica leads (or runs without election).
    pub leader: AtomicBool,
}

impl Metrics {
    /// Registers a controller's counters and queue.
    pub fn register(&self, name: &'static str, stats: Arc<Stats>, queue: Arc<Queue>) {
        self.controllers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((name, stats, queue));
    }

    /// The endpoints serving these metrics.
    pub fn endpoints(self: &Arc<Self>) -> Endpoints {
        Endpoints::new(Collected(Arc::clone(self)), always_ready())
    }
}

/// The metrics as a `prometheus-client` collector: reads the counters at
/// scrape time.
struct Collected(Arc<Metrics>);

impl std::fmt::Debug for Collected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("controller-manager metrics")
    }
}

impl Collector for Collected {
    fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let list = self.0.controllers.lock().unwrap_or_else(|p| p.into_inner());
        let per = |f: &dyn Fn(&Stats) -> u64| -> Vec<([(&str, &str); 1], u64)> {
            list.iter()
                .map(|(n, s, _)| ([("controller", *n)], f(s)))
                .collect()
        };
        counter_family(
            &mut enc,
            "controller_reconcile",
            "Reconciles run per controller.",
            &per(&|s| s.reconciles.load(Ordering::Relaxed)),
        )?;
        counter_family(
            &mut enc,
            "controller_reconcile_errors",
            "Failed reconciles per controller.",
            &per(&|s| s.errors.load(Ordering::Relaxed)),
        )?;
        let seconds: Vec<_> = list
            .iter()
            .map(|(n, s, _)| {
                let micros = s.micros.load(Ordering::Relaxed);
                ([("controller", *n)], micros as f64 / 1e6)
            })
            .collect();
        counter_family(
            &mut enc,
            "controller_reconcile_seconds",
            "Time spent reconciling.",
            &seconds,
        )?;
        let depth: Vec<_> = list
            .iter()
            .map(|(n, _, q)| ([("name", *n)], q.len() as i64))
            .collect();
        gauge_family(
            &mut enc,
            "workqueue_depth",
            "Keys waiting per controller queue.",
            &depth,
        )?;
        leader_gauge(
            &mut enc,
            "kube-controller-manager",
            self.0.leader.load(Ordering::Relaxed),
        )
    }
}

/// The controller-manager is ready as soon as it serves (a standby too).
fn always_ready() -> health_server::Readiness {
    Arc::new(|| Ok(()))
}

/// Binds `addr` and serves in the background; returns the bound address.
pub async fn start(addr: SocketAddr, metrics: Arc<Metrics>) -> std::io::Result<SocketAddr> {
    health_server::start(addr, Arc::new(metrics.endpoints())).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_each_controller_and_leadership() {
        let metrics = Arc::new(Metrics::default());
        let stats = Arc::new(Stats::default());
        stats.reconciles.store(4, Ordering::Relaxed);
        stats.errors.store(1, Ordering::Relaxed);
        stats.micros.store(2_500_000, Ordering::Relaxed);
        metrics.register("replicaset", stats, Queue::new("replicaset"));
        metrics.leader.store(true, Ordering::Relaxed);
        let text = metrics.endpoints().render();
        for line in [
            "controller_reconcile_total{controller=\"replicaset\"} 4",
            "controller_reconcile_errors_total{controller=\"replicaset\"} 1",
            "controller_reconcile_seconds_total{controller=\"replicaset\"} 2.5",
            "workqueue_depth{name=\"replicaset\"} 0",
            "leader_election_master_status{name=\"kube-controller-manager\"} 1",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "{line:?} missing from:\n{text}"
            );
        }
    }
}
