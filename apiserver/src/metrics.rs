//! `/metrics` in the Prometheus text format.
//!
//! A few counters and histograms, kept in one process-wide registry:
//! requests by verb, resource and code, request latency by verb, open watches
//! by resource, etcd latency and errors by operation, and the process's
//! resident memory. Small on purpose: no metrics crate, just what an operator
//! of this server looks at first.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use axum::response::{IntoResponse, Response};
use http::StatusCode;

/// Histogram bucket upper bounds, in seconds.
const BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Default, Clone)]
struct Histogram {
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, secs: f64) {
        if self.counts.is_empty() {
            self.counts = vec![0; BUCKETS.len()];
        }
        for (i, b) in BUCKETS.iter().enumerate() {
            if secs <= *b {
                self.counts[i] += 1;
            }
        }
        self.sum += secs;
        self.count += 1;
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        for (i, b) in BUCKETS.iter().enumerate() {
            let c = self.counts.get(i).copied().unwrap_or(0);
            let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{b}\"}} {c}");
        }
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {}", self.count);
        let _ = writeln!(out, "{name}_sum{{{labels}}} {}", self.sum);
        let _ = writeln!(out, "{name}_count{{{labels}}} {}", self.count);
    }
}

#[derive(Default)]
struct Inner {
    requests: BTreeMap<(String, String, u16), u64>,
    latency: BTreeMap<String, Histogram>,
    watches: BTreeMap<String, i64>,
    etcd_latency: BTreeMap<String, Histogram>,
    etcd_errors: BTreeMap<String, u64>,
}

/// The registry.
#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

static GLOBAL: OnceLock<Metrics> = OnceLock::new();

/// The process-wide registry.
pub fn global() -> &'static Metrics {
    GLOBAL.get_or_init(Metrics::default)
}

impl Metrics {
    fn with<F: FnOnce(&mut Inner)>(&self, f: F) {
        let mut guard = match self.inner.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        f(&mut guard);
    }

    /// Records one answered request.
    pub fn observe_request(&self, verb: &str, resource: &str, code: u16, took: Duration) {
        self.with(|m| {
            *m.requests
                .entry((verb.to_string(), resource.to_string(), code))
                .or_default() += 1;
            m.latency
                .entry(verb.to_string())
                .or_default()
                .observe(took.as_secs_f64());
        });
    }

    /// Records one etcd call.
    pub fn observe_etcd(&self, op: &str, took: Duration, ok: bool) {
        self.with(|m| {
            m.etcd_latency
                .entry(op.to_string())
                .or_default()
                .observe(took.as_secs_f64());
            if !ok {
                *m.etcd_errors.entry(op.to_string()).or_default() += 1;
            }
        });
    }

    /// A watch was opened.
    pub fn watch_opened(&self, resource: &str) {
        self.with(|m| *m.watches.entry(resource.to_string()).or_default() += 1);
    }

    fn watch_closed(&self, resource: &str) {
        self.with(|m| *m.watches.entry(resource.to_string()).or_default() -= 1);
    }

    /// The text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        self.with(|m| {
            out.push_str("# HELP apiserver_request_total Requests answered, by verb, resource and HTTP code.\n# TYPE apiserver_request_total counter\n");
            for ((verb, res, code), n) in &m.requests {
                let _ = writeln!(
                    out,
                    "apiserver_request_total{{verb=\"{verb}\",resource=\"{res}\",code=\"{code}\"}} {n}"
                );
            }
            out.push_str("# HELP apiserver_request_duration_seconds Time to answer (to the first byte for watches).\n# TYPE apiserver_request_duration_seconds histogram\n");
            for (verb, h) in &m.latency {
                h.render(&mut out, "apiserver_request_duration_seconds", &format!("verb=\"{verb}\""));
            }
            out.push_str("# HELP apiserver_registered_watchers Open watches, by resource.\n# TYPE apiserver_registered_watchers gauge\n");
            for (res, n) in &m.watches {
                let _ = writeln!(out, "apiserver_registered_watchers{{resource=\"{res}\"}} {n}");
            }
            out.push_str("# HELP etcd_request_duration_seconds etcd call latency, by operation.\n# TYPE etcd_request_duration_seconds histogram\n");
            for (op, h) in &m.etcd_latency {
                h.render(&mut out, "etcd_request_duration_seconds", &format!("operation=\"{op}\""));
            }
            out.push_str("# HELP etcd_request_errors_total Failed etcd calls, by operation.\n# TYPE etcd_request_errors_total counter\n");
            for (op, n) in &m.etcd_errors {
                let _ = writeln!(out, "etcd_request_errors_total{{operation=\"{op}\"}} {n}");
            }
        });
        if let Some(rss) = resident_memory_bytes() {
            out.push_str("# HELP process_resident_memory_bytes Resident memory size in bytes.\n# TYPE process_resident_memory_bytes gauge\n");
            let _ = writeln!(out, "process_resident_memory_bytes {rss}");
        }
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
        [(http::header::CONTENT_TYPE, "text/plain; version=0.0.4")],
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
        let text = m.render();
        assert!(
            text.contains("apiserver_request_total{verb=\"get\",resource=\"pods\",code=\"200\"} 1")
        );
        assert!(
            text.contains("apiserver_request_duration_seconds_bucket{verb=\"get\",le=\"0.005\"} 1")
        );
        assert!(text.contains("etcd_request_errors_total{operation=\"get\"} 1"));
        assert!(text.contains("apiserver_registered_watchers{resource=\"pods\"} 1"));
    }
}
