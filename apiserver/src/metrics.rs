//! `/metrics`: the Prometheus exposition, written by `prometheus-client`.
//!
//! A few counters and histograms, kept in one process-wide registry:
//! requests by verb, resource and code, request latency by verb, open watches
//! by resource, etcd latency and errors by operation, and the process's
//! resident memory. Small on purpose: what an operator of this server looks
//! at first.

use std::sync::OnceLock;
use std::time::Duration;

use axum::response::{IntoResponse, Response};
use http::StatusCode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::{Family, MetricConstructor};
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Histogram bucket upper bounds, in seconds.
const BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Makes the latency histograms with [`BUCKETS`].
#[derive(Clone)]
struct Latency;

impl MetricConstructor<Histogram> for Latency {
    fn new_metric(&self) -> Histogram {
        Histogram::new(BUCKETS.iter().copied())
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    verb: String,
    resource: String,
    code: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VerbLabel {
    verb: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResourceLabel {
    resource: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    group: String,
    version: String,
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabel {
    operation: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PriorityLevelLabel {
    priority_level: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FlowLabels {
    flow_schema: String,
    priority_level: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RejectedLabels {
    flow_schema: String,
    priority_level: String,
    reason: String,
}

/// API Priority and Fairness's metrics, under upstream's names.
struct FlowControlMetrics {
    nominal_limit: Family<PriorityLevelLabel, Gauge>,
    in_queue: Family<FlowLabels, Gauge>,
    dispatched: Family<FlowLabels, Counter>,
    rejected: Family<RejectedLabels, Counter>,
    wait: Family<FlowLabels, Histogram, Latency>,
}

impl FlowControlMetrics {
    fn new(registry: &mut Registry) -> FlowControlMetrics {
        let m = FlowControlMetrics {
            nominal_limit: Family::default(),
            in_queue: Family::default(),
            dispatched: Family::default(),
            rejected: Family::default(),
            wait: Family::new_with_constructor(Latency),
        };
        registry.register(
            "apiserver_flowcontrol_nominal_limit_seats",
            "Nominal number of execution seats configured for each priority level.",
            m.nominal_limit.clone(),
        );
        registry.register(
            "apiserver_flowcontrol_current_inqueue_requests",
            "Requests waiting in the queues of API Priority and Fairness.",
            m.in_queue.clone(),
        );
        registry.register(
            "apiserver_flowcontrol_dispatched_requests",
            "Requests released by API Priority and Fairness to be served.",
            m.dispatched.clone(),
        );
        registry.register(
            "apiserver_flowcontrol_rejected_requests",
            "Requests rejected by API Priority and Fairness, by reason.",
            m.rejected.clone(),
        );
        registry.register(
            "apiserver_flowcontrol_request_wait_duration_seconds",
            "How long admitted requests waited in their queue.",
            m.wait.clone(),
        );
        m
    }
}

fn flow(schema: &str, level: &str) -> FlowLabels {
    FlowLabels {
        flow_schema: schema.to_string(),
        priority_level: level.to_string(),
    }
}

/// The registry and the metrics in it.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<VerbLabel, Histogram, Latency>,
    watches: Family<ResourceLabel, Gauge>,
    watch_events: Family<KindLabels, Counter>,
    etcd_latency: Family<OperationLabel, Histogram, Latency>,
    etcd_errors: Family<OperationLabel, Counter>,
    resident_memory: Gauge,
    flowcontrol: FlowControlMetrics,
}

impl Default for Metrics {
    fn default() -> Metrics {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::new_with_constructor(Latency);
        let watches = Family::<ResourceLabel, Gauge>::default();
        let watch_events = Family::<KindLabels, Counter>::default();
        let etcd_latency = Family::new_with_constructor(Latency);
        let etcd_errors = Family::<OperationLabel, Counter>::default();
        let resident_memory = Gauge::default();
        registry.register(
            "apiserver_request",
            "Requests answered, by verb, resource and HTTP code.",
            requests.clone(),
        );
        registry.register(
            "apiserver_request_duration_seconds",
            "Time to answer (to the first byte for watches).",
            latency.clone(),
        );
        registry.register(
            "apiserver_registered_watchers",
            "Open watches, by resource.",
            watches.clone(),
        );
        registry.register(
            "apiserver_watch_events",
            "Events sent to watchers, by group, version and kind (each watcher counts).",
            watch_events.clone(),
        );
        registry.register(
            "etcd_request_duration_seconds",
            "etcd call latency, by operation.",
            etcd_latency.clone(),
        );
        registry.register(
            "etcd_request_errors",
            "Failed etcd calls, by operation.",
            etcd_errors.clone(),
        );
        registry.register(
            "process_resident_memory_bytes",
            "Resident memory size in bytes.",
            resident_memory.clone(),
        );
        let flowcontrol = FlowControlMetrics::new(&mut registry);
        Metrics {
            registry,
            requests,
            latency,
            watches,
            watch_events,
            etcd_latency,
            etcd_errors,
            resident_memory,
            flowcontrol,
        }
    }
}

static GLOBAL: OnceLock<Metrics> = OnceLock::new();

/// The process-wide registry.
pub fn global() -> &'static Metrics {
    GLOBAL.get_or_init(Metrics::default)
}

impl Metrics {
    /// Records one answered request.
    pub fn observe_request(&self, verb: &str, resource: &str, code: u16, took: Duration) {
        self.requests
            .get_or_create(&RequestLabels {
                verb: verb.to_string(),
                resource: resource.to_string(),
                code,
            })
            .inc();
        self.latency
            .get_or_create(&VerbLabel {
                verb: verb.to_string(),
            })
            .observe(took.as_secs_f64());
    }

    /// Records one etcd call.
    pub fn observe_etcd(&self, op: &str, took: Duration, ok: bool) {
        let label = OperationLabel {
            operation: op.to_string(),
        };
        self.etcd_latency
            .get_or_create(&label)
            .observe(took.as_secs_f64());
        if !ok {
            self.etcd_errors.get_or_create(&label).inc();
        }
    }

    fn watches_of(&self, resource: &str) -> Gauge {
        self.watches
            .get_or_create(&ResourceLabel {
                resource: resource.to_string(),
            })
            .clone()
    }

    /// A watch was opened.
    pub fn watch_opened(&self, resource: &str) {
        self.watches_of(resource).inc();
    }

    /// The counter of events (not bookmarks) sent to watchers of
    /// `api_version`/`kind`: a watcher looks it up once and counts each
    /// event with an atomic add.
    pub fn watch_events(&self, api_version: &str, kind: &str) -> Counter {
        let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
        self.watch_events
            .get_or_create(&KindLabels {
                group: group.to_string(),
                version: version.to_string(),
                kind: kind.to_string(),
            })
            .clone()
    }

    fn watch_closed(&self, resource: &str) {
        self.watches_of(resource).dec();
    }

    /// A priority level's nominal seats.
    pub fn flowcontrol_nominal_limit(&self, level: &str, seats: u32) {
        self.flowcontrol
            .nominal_limit
            .get_or_create(&PriorityLevelLabel {
                priority_level: level.to_string(),
            })
            .set(i64::from(seats));
    }

    /// A priority level went away: its gauge goes too.
    pub fn flowcontrol_level_gone(&self, level: &str) {
        self.flowcontrol.nominal_limit.remove(&PriorityLevelLabel {
            priority_level: level.to_string(),
        });
    }

    /// A request joined (`1`) or left (`-1`) the queues.
    pub fn flowcontrol_queued(&self, schema: &str, level: &str, delta: i64) {
        self.flowcontrol
            .in_queue
            .get_or_create(&flow(schema, level))
            .inc_by(delta);
    }

    /// A request was admitted after waiting `waited`.
    pub fn flowcontrol_dispatched(&self, schema: &str, level: &str, waited: Duration) {
        let labels = flow(schema, level);
        self.flowcontrol.dispatched.get_or_create(&labels).inc();
        self.flowcontrol
            .wait
            .get_or_create(&labels)
            .observe(waited.as_secs_f64());
    }

    /// A request was rejected.
    pub fn flowcontrol_rejected(&self, schema: &str, level: &str, reason: &str) {
        self.flowcontrol
            .rejected
            .get_or_create(&RejectedLabels {
                flow_schema: schema.to_string(),
                priority_level: level.to_string(),
                reason: reason.to_string(),
            })
            .inc();
    }

    /// The exposition (OpenMetrics text), with the resident memory as of now.
    pub fn render(&self) -> String {
        if let Some(rss) = resident_memory_bytes() {
            self.resident_memory
                .set(i64::try_from(rss).unwrap_or(i64::MAX));
        }
        let mut out = String::new();
        // Writing to a String does not fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// Decrements the open-watch gauge when a watch ends, however it ends.
pub struct WatchGuard(pub &'static str);

impl Drop for WatchGuard {
    fn drop(&mut self) {
        global().watch_closed(self.0);
    }
}

/// This process's RSS from `/proc/self/status`.
pub fn resident_memory_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// `GET /metrics`.
pub async fn serve() -> Response {
    (
        StatusCode::OK,
        [(
            http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        global().render(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_histograms() {
        let m = Metrics::default();
        m.observe_request("get", "pods", 200, Duration::from_millis(3));
        m.observe_etcd("get", Duration::from_millis(1), false);
        m.watch_opened("pods");
        m.watch_events("v1", "Pod").inc();
        m.watch_events("apps/v1", "Deployment").inc();
        m.watch_events("apps/v1", "Deployment").inc();
        let text = m.render();
        assert!(
            text.contains("apiserver_watch_events_total{group=\"\",version=\"v1\",kind=\"Pod\"} 1")
        );
        assert!(text.contains(
            "apiserver_watch_events_total{group=\"apps\",version=\"v1\",kind=\"Deployment\"} 2"
        ));
        assert!(
            text.contains("apiserver_request_total{verb=\"get\",resource=\"pods\",code=\"200\"} 1")
        );
        // prometheus-client writes `le` before the family's labels (the
        // order of labels carries no meaning in the exposition).
        assert!(
            text.contains("apiserver_request_duration_seconds_bucket{le=\"0.005\",verb=\"get\"} 1"),
            "{text}"
        );
        assert!(text.contains("etcd_request_errors_total{operation=\"get\"} 1"));
        assert!(text.contains("apiserver_registered_watchers{resource=\"pods\"} 1"));
    }
}
