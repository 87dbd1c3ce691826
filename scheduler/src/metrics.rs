//! The scheduler's Prometheus metrics, with upstream metric names where they
//! exist, and its readiness (informers synced); served with `/healthz` and
//! `/livez` by the shared [`component_base::health_server`].

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use component_base::health_server::{
    counter, counter_family, gauge_family, leader_gauge, seconds_histogram, Collector,
    DescriptorEncoder, Endpoints,
};

use crate::queue::SchedulingQueue;

/// Counters, updated lock-free by the scheduling loop and binding tasks.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Attempts that found a node.
    pub scheduled: AtomicU64,
    /// Attempts where no node fit.
    pub unschedulable: AtomicU64,
    /// Attempts that hit an internal error.
    pub errors: AtomicU64,
    /// Time spent in the scheduling algorithm (filter + score), in µs.
    pub algorithm_micros: AtomicU64,
    /// Number of algorithm runs.
    pub algorithm_runs: AtomicU64,
    /// Time in whole scheduling cycles (snapshot, algorithm, assume), in µs.
    pub cycle_micros: AtomicU64,
    /// Successful bindings.
    pub bindings: AtomicU64,
    /// Failed bindings.
    pub binding_errors: AtomicU64,
    /// Binding round trips, in µs.
    pub binding_micros: AtomicU64,
    /// Preemption attempts.
    pub preemption_attempts: AtomicU64,
    /// Pods evicted by preemption.
    pub preemption_victims: AtomicU64,
    /// Whether the informers have synced (readiness).
    pub synced: AtomicBool,
    /// Whether this instance leads (or runs without election).
    pub leader: AtomicBool,
}

/// Adds a duration in µs.
pub fn add_micros(counter: &AtomicU64, d: Duration) {
    counter.fetch_add(d.as_micros() as u64, Ordering::Relaxed);
}

impl Metrics {
    /// The endpoints serving these metrics and the queue's depth; ready once
    /// the informers have synced.
    pub fn endpoints(self: &Arc<Self>, queue: Option<SchedulingQueue>) -> Endpoints {
        let ready = Arc::clone(self);
        Endpoints::new(
            Collected {
                metrics: Arc::clone(self),
                queue,
            },
            Arc::new(move || {
                if ready.synced.load(Ordering::Relaxed) {
                    Ok(())
                } else {
                    Err("informers not synced".into())
                }
            }),
        )
    }
}

/// The metrics as a `prometheus-client` collector: reads the counters (and
/// the queue) at scrape time.
struct Collected {
    metrics: Arc<Metrics>,
    queue: Option<SchedulingQueue>,
}

impl std::fmt::Debug for Collected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("scheduler metrics")
    }
}

impl Collector for Collected {
    fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let m = &self.metrics;
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let profile = ("profile", "default-scheduler");
        counter_family(
            &mut enc,
            "scheduler_schedule_attempts",
            "Number of attempts to schedule pods, by result.",
            &[
                ([profile, ("result", "scheduled")], g(&m.scheduled)),
                ([profile, ("result", "unschedulable")], g(&m.unschedulable)),
                ([profile, ("result", "error")], g(&m.errors)),
            ],
        )?;
        seconds_histogram(
            &mut enc,
            "scheduler_scheduling_algorithm_duration_seconds",
            "Scheduling algorithm latency (filter and score).",
            g(&m.algorithm_micros),
            g(&m.algorithm_runs),
        )?;
        seconds_histogram(
            &mut enc,
            "scheduler_scheduling_cycle_duration_seconds",
            "Whole scheduling cycles (snapshot, algorithm, assume).",
            g(&m.cycle_micros),
            g(&m.algorithm_runs),
        )?;
        seconds_histogram(
            &mut enc,
            "scheduler_binding_duration_seconds",
            "Binding round trips.",
            g(&m.binding_micros),
            g(&m.bindings),
        )?;
        counter(
            &mut enc,
            "scheduler_binding_errors",
            "Failed bindings.",
            g(&m.binding_errors),
        )?;
        counter(
            &mut enc,
            "scheduler_preemption_attempts",
            "Preemption attempts.",
            g(&m.preemption_attempts),
        )?;
        counter(
            &mut enc,
            "scheduler_preemption_victims",
            "Pods evicted by preemption.",
            g(&m.preemption_victims),
        )?;
        if let Some(q) = &self.queue {
            let p = q.pending();
            gauge_family(
                &mut enc,
                "scheduler_pending_pods",
                "Number of pending pods, by the queue type.",
                &[
                    ([("queue", "active")], p.active as i64),
                    ([("queue", "backoff")], p.backoff as i64),
                    ([("queue", "unschedulable")], p.unschedulable as i64),
                ],
            )?;
        }
        leader_gauge(&mut enc, "kube-scheduler", m.leader.load(Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_names_and_readiness() {
        let m = Arc::new(Metrics::default());
        m.scheduled.store(3, Ordering::Relaxed);
        add_micros(&m.algorithm_micros, Duration::from_millis(1500));
        m.algorithm_runs.store(3, Ordering::Relaxed);
        m.leader.store(true, Ordering::Relaxed);
        let endpoints = m.endpoints(None);
        let text = endpoints.render();
        for line in [
            "scheduler_schedule_attempts_total{profile=\"default-scheduler\",result=\"scheduled\"} 3",
            "scheduler_scheduling_algorithm_duration_seconds_sum 1.5",
            "scheduler_scheduling_algorithm_duration_seconds_count 3",
            "scheduler_binding_errors_total 0",
            "leader_election_master_status{name=\"kube-scheduler\"} 1",
        ] {
            assert!(text.lines().any(|l| l == line), "{line:?} missing from:\n{text}");
        }
    }
}
