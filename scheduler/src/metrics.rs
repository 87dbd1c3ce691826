//! Prometheus metrics and health endpoints (`/metrics`, `/healthz`,
//! `/readyz`, `/livez`), with upstream metric names where they exist.

use std::fmt::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::routing::get;
use axum::Router;

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
    /// The Prometheus text exposition.
    pub fn render(&self, queue: Option<&SchedulingQueue>) -> String {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let secs = |c: &AtomicU64| g(c) as f64 / 1e6;
        let mut s = String::new();
        let _ = writeln!(s, "# HELP scheduler_schedule_attempts_total Number of attempts to schedule pods, by result.");
        let _ = writeln!(s, "# TYPE scheduler_schedule_attempts_total counter");
        for (r, c) in [
            ("scheduled", &self.scheduled),
            ("unschedulable", &self.unschedulable),
            ("error", &self.errors),
        ] {
            let _ = writeln!(s, "scheduler_schedule_attempts_total{{profile=\"default-scheduler\",result=\"{r}\"}} {}", g(c));
        }
        let _ = writeln!(s, "# HELP scheduler_scheduling_algorithm_duration_seconds Scheduling algorithm latency (filter and score).");
        let _ = writeln!(
            s,
            "# TYPE scheduler_scheduling_algorithm_duration_seconds summary"
        );
        let _ = writeln!(
            s,
            "scheduler_scheduling_algorithm_duration_seconds_sum {}",
            secs(&self.algorithm_micros)
        );
        let _ = writeln!(
            s,
            "scheduler_scheduling_algorithm_duration_seconds_count {}",
            g(&self.algorithm_runs)
        );
        let _ = writeln!(s, "# HELP scheduler_scheduling_cycle_duration_seconds Whole scheduling cycles (snapshot, algorithm, assume).");
        let _ = writeln!(
            s,
            "# TYPE scheduler_scheduling_cycle_duration_seconds summary"
        );
        let _ = writeln!(
            s,
            "scheduler_scheduling_cycle_duration_seconds_sum {}",
            secs(&self.cycle_micros)
        );
        let _ = writeln!(
            s,
            "scheduler_scheduling_cycle_duration_seconds_count {}",
            g(&self.algorithm_runs)
        );
        let _ = writeln!(
            s,
            "# HELP scheduler_binding_duration_seconds Binding round trips."
        );
        let _ = writeln!(s, "# TYPE scheduler_binding_duration_seconds summary");
        let _ = writeln!(
            s,
            "scheduler_binding_duration_seconds_sum {}",
            secs(&self.binding_micros)
        );
        let _ = writeln!(
            s,
            "scheduler_binding_duration_seconds_count {}",
            g(&self.bindings)
        );
        let _ = writeln!(s, "# TYPE scheduler_binding_errors_total counter");
        let _ = writeln!(
            s,
            "scheduler_binding_errors_total {}",
            g(&self.binding_errors)
        );
        let _ = writeln!(s, "# TYPE scheduler_preemption_attempts_total counter");
        let _ = writeln!(
            s,
            "scheduler_preemption_attempts_total {}",
            g(&self.preemption_attempts)
        );
        let _ = writeln!(s, "# TYPE scheduler_preemption_victims_total counter");
        let _ = writeln!(
            s,
            "scheduler_preemption_victims_total {}",
            g(&self.preemption_victims)
        );
        if let Some(q) = queue {
            let p = q.pending();
            let _ = writeln!(
                s,
                "# HELP scheduler_pending_pods Number of pending pods, by the queue type."
            );
            let _ = writeln!(s, "# TYPE scheduler_pending_pods gauge");
            for (name, n) in [
                ("active", p.active),
                ("backoff", p.backoff),
                ("unschedulable", p.unschedulable),
            ] {
                let _ = writeln!(s, "scheduler_pending_pods{{queue=\"{name}\"}} {n}");
            }
        }
        let _ = writeln!(s, "# TYPE leader_election_master_status gauge");
        let _ = writeln!(
            s,
            "leader_election_master_status{{name=\"kube-scheduler\"}} {}",
            u8::from(self.leader.load(Ordering::Relaxed))
        );
        s
    }
}

/// Serves metrics and health until the future is dropped.
pub async fn serve(
    addr: SocketAddr,
    metrics: Arc<Metrics>,
    queue: SchedulingQueue,
) -> std::io::Result<()> {
    let m = Arc::clone(&metrics);
    let ready = Arc::clone(&metrics);
    let app = Router::new()
        .route(
            "/metrics",
            get(move || {
                let m = Arc::clone(&m);
                let q = queue.clone();
                async move { m.render(Some(&q)) }
            }),
        )
        .route("/healthz", get(|| async { "ok" }))
        .route("/livez", get(|| async { "ok" }))
        .route(
            "/readyz",
            get(move || {
                let ok = ready.synced.load(Ordering::Relaxed);
                async move {
                    if ok {
                        (http::StatusCode::OK, "ok")
                    } else {
                        (
                            http::StatusCode::SERVICE_UNAVAILABLE,
                            "informers not synced",
                        )
                    }
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind(addr).await?;
    axum::serve(listener, app).await
}
