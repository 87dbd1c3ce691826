//! The one small HTTP server every client component runs beside its work:
//! `/healthz` and `/livez` (the process answers), `/readyz` (the component's
//! own readiness, e.g. informers synced) and `/metrics` (the Prometheus
//! exposition, OpenMetrics text written by the `prometheus-client` crate).
//!
//! A component keeps its counters where its hot paths update them (atomics)
//! and implements [`Collector`] to report them at scrape time with the
//! helpers below ([`counter`], [`gauge`], [`counter_family`],
//! [`seconds_histogram`]); no component writes exposition text by hand.
//!
//! The same routes are served on the component's secure port over TLS
//! ([`SecureServing`], upstream's `--secure-port` 10259/10257 with
//! `--tls-cert-file` or a self-signed pair) and, when asked for, on a
//! plain-HTTP `--port` (tests and benchmarks scrape that one).

use std::fmt::Error as FmtError;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
pub use prometheus_client::collector::Collector;
pub use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::encoding::{EncodeCounterValue, EncodeLabelSet, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;

/// Whether the component is ready (`/readyz`), and why not.
pub type Readiness = Arc<dyn Fn() -> Result<(), String> + Send + Sync>;

/// What the server exposes: a registry of collectors and a readiness check.
pub struct Endpoints {
    registry: Registry,
    ready: Readiness,
}

impl Endpoints {
    /// Endpoints with one collector of the component's metrics.
    pub fn new(collector: impl Collector, ready: Readiness) -> Endpoints {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(collector));
        Endpoints { registry, ready }
    }

    /// The OpenMetrics text of every registered metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing to a String does not fail; a collector's error leaves
        // what was written so far.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// The routes, for tests to call without a socket.
pub fn router(endpoints: Arc<Endpoints>) -> Router {
    let metrics = Arc::clone(&endpoints);
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/livez", get(|| async { "ok" }))
        .route(
            "/readyz",
            get(move || async move {
                match (endpoints.ready)() {
                    Ok(()) => (StatusCode::OK, "ok".to_string()),
                    Err(why) => (StatusCode::SERVICE_UNAVAILABLE, why),
                }
            }),
        )
        .route(
            "/metrics",
            get(move || async move {
                (
                    [(
                        header::CONTENT_TYPE,
                        "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    )],
                    metrics.render(),
                )
                    .into_response()
            }),
        )
}

/// Serves on `listener` until the future is dropped or the listener fails.
pub async fn serve(listener: TcpListener, endpoints: Arc<Endpoints>) -> std::io::Result<()> {
    axum::serve(listener, router(endpoints)).await
}

/// Binds `addr` and serves in the background for the life of the process;
/// returns the bound address (port 0 picks a free one).
pub async fn start(addr: SocketAddr, endpoints: Arc<Endpoints>) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    tokio::spawn(async move {
        if let Err(e) = serve(listener, endpoints).await {
            tracing::error!(error = %e, "health server stopped");
        }
    });
    Ok(local)
}

/// Where and how the endpoints are served over TLS.
#[derive(Debug, Clone)]
pub struct SecureServing {
    /// The address (port 0 picks a free one).
    pub addr: SocketAddr,
    /// The serving certificate ([`crate::tls::server_config`]).
    pub tls: Arc<rustls::ServerConfig>,
}

/// Binds `serving.addr` and serves over TLS in the background for the life
/// of the process; returns the bound address.
pub async fn start_tls(
    serving: &SecureServing,
    endpoints: Arc<Endpoints>,
) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(serving.addr).await?;
    let local = listener.local_addr()?;
    tokio::spawn(crate::tls::serve(
        listener,
        Arc::clone(&serving.tls),
        router(endpoints),
        std::future::pending(),
    ));
    Ok(local)
}

/// The `--secure-port`, `--tls-cert-file`, `--tls-private-key-file` and
/// `--cert-dir` flags of a component's health and metrics port.
#[derive(Debug, Clone, clap::Args)]
pub struct SecureFlags {
    /// Port for /healthz and /metrics over TLS (0 disables).
    #[arg(long = "secure-port")]
    pub secure_port: Option<u16>,
    /// The serving certificate of the secure port (PEM).
    #[arg(long = "tls-cert-file")]
    pub tls_cert_file: Option<std::path::PathBuf>,
    /// Its key.
    #[arg(long = "tls-private-key-file")]
    pub tls_private_key_file: Option<std::path::PathBuf>,
    /// Where a self-signed pair is made when no certificate is given.
    #[arg(long = "cert-dir", default_value = "/var/run/kubernetes")]
    pub cert_dir: std::path::PathBuf,
}

impl SecureFlags {
    /// The secure serving these flags ask for on `bind` (`default_port`
    /// when `--secure-port` is not given); `None` for port 0. `pair_name`
    /// names the self-signed pair's files.
    pub fn serving(
        &self,
        bind: std::net::IpAddr,
        default_port: u16,
        pair_name: &str,
    ) -> Result<Option<SecureServing>, crate::tls::TlsError> {
        let port = self.secure_port.unwrap_or(default_port);
        if port == 0 {
            return Ok(None);
        }
        let tls = crate::tls::server_config(&crate::tls::ServingOptions {
            cert_file: self.tls_cert_file.clone(),
            key_file: self.tls_private_key_file.clone(),
            cert_dir: self.cert_dir.clone(),
            pair_name: pair_name.into(),
            client_ca_file: None,
            extra_client_ca_files: Vec::new(),
            alternate_names: vec![bind.to_string()],
        })?;
        Ok(Some(SecureServing {
            addr: SocketAddr::new(bind, port),
            tls,
        }))
    }
}

/// A counter (`<name>_total` in the exposition).
pub fn counter(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: u64,
) -> Result<(), FmtError> {
    enc.encode_descriptor(name, help, None, MetricType::Counter)?
        .encode_counter::<NoLabelSet, _, u64>(&value, None)
}

/// A gauge.
pub fn gauge(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: i64,
) -> Result<(), FmtError> {
    enc.encode_descriptor(name, help, None, MetricType::Gauge)?
        .encode_gauge(&value)
}

/// A counter with one series per label set.
pub fn counter_family<S: EncodeLabelSet, V: EncodeCounterValue>(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    series: &[(S, V)],
) -> Result<(), FmtError> {
    let mut family = enc.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (labels, value) in series {
        family
            .encode_family(labels)?
            .encode_counter::<NoLabelSet, _, u64>(value, None)?;
    }
    Ok(())
}

/// A gauge with one series per label set.
pub fn gauge_family<S: EncodeLabelSet>(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    series: &[(S, i64)],
) -> Result<(), FmtError> {
    let mut family = enc.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for (labels, value) in series {
        family.encode_family(labels)?.encode_gauge(value)?;
    }
    Ok(())
}

/// `leader_election_master_status{name="<lease>"}`: 1 while this replica
/// leads (or runs without election), as upstream reports it.
pub fn leader_gauge(
    enc: &mut DescriptorEncoder,
    lease: &str,
    leading: bool,
) -> Result<(), FmtError> {
    gauge_family(
        enc,
        "leader_election_master_status",
        "1 when this replica leads.",
        &[([("name", lease)], i64::from(leading))],
    )
}

/// Time spent in `count` operations, as a histogram with only the `+Inf`
/// bucket: `<name>_sum` seconds and `<name>_count` (enough for a mean; the
/// components keep sums, not distributions).
pub fn seconds_histogram(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    micros: u64,
    count: u64,
) -> Result<(), FmtError> {
    enc.encode_descriptor(name, help, None, MetricType::Histogram)?
        .encode_histogram::<NoLabelSet>(micros as f64 / 1e6, count, &[(f64::INFINITY, count)], None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use std::sync::atomic::{AtomicBool, Ordering};
    use tower::ServiceExt;

    #[derive(Debug)]
    struct Sample;

    impl Collector for Sample {
        fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), FmtError> {
            counter(&mut enc, "things", "Things done.", 3)?;
            gauge(&mut enc, "depth", "Queue depth.", 2)?;
            counter_family(
                &mut enc,
                "attempts",
                "Attempts by result.",
                &[([("result", "ok")], 5u64), ([("result", "error")], 1)],
            )?;
            leader_gauge(&mut enc, "x", true)?;
            seconds_histogram(&mut enc, "work_seconds", "Work.", 1_500_000, 3)
        }
    }

    async fn get_text(app: Router, path: &str) -> (StatusCode, String) {
        let resp = app
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = resp.status();
        let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn serves_health_readiness_and_metrics() {
        let ready = Arc::new(AtomicBool::new(false));
        let r = Arc::clone(&ready);
        let endpoints = Arc::new(Endpoints::new(
            Sample,
            Arc::new(move || {
                if r.load(Ordering::Relaxed) {
                    Ok(())
                } else {
                    Err("informers not synced".into())
                }
            }),
        ));
        let app = router(endpoints);
        assert_eq!(
            get_text(app.clone(), "/healthz").await,
            (StatusCode::OK, "ok".into())
        );
        assert_eq!(
            get_text(app.clone(), "/readyz").await,
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "informers not synced".into()
            )
        );
        ready.store(true, Ordering::Relaxed);
        assert_eq!(get_text(app.clone(), "/readyz").await.0, StatusCode::OK);
        let (code, text) = get_text(app, "/metrics").await;
        assert_eq!(code, StatusCode::OK);
        for line in [
            "# TYPE things counter",
            "things_total 3",
            "depth 2",
            "attempts_total{result=\"ok\"} 5",
            "attempts_total{result=\"error\"} 1",
            "leader_election_master_status{name=\"x\"} 1",
            "# TYPE work_seconds histogram",
            "work_seconds_sum 1.5",
            "work_seconds_count 3",
            "# EOF",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "{line:?} missing from:\n{text}"
            );
        }
    }
}

#[cfg(test)]
mod secure_tests {
    use super::*;

    #[derive(Debug)]
    struct Nothing;

    impl Collector for Nothing {
        fn encode(&self, _enc: DescriptorEncoder) -> Result<(), FmtError> {
            Ok(())
        }
    }

    /// `--secure-port` serves the endpoints over TLS with a self-signed
    /// pair that a client trusting the pair's file accepts; port 0 is off.
    #[tokio::test]
    async fn the_secure_port_serves_over_tls() {
        let dir = tempfile::tempdir().expect("tempdir");
        let flags = SecureFlags {
            secure_port: Some(0),
            tls_cert_file: None,
            tls_private_key_file: None,
            cert_dir: dir.path().to_path_buf(),
        };
        let bind = std::net::IpAddr::from([127, 0, 0, 1]);
        assert!(flags.serving(bind, 10259, "x").expect("ok").is_none());
        let flags = SecureFlags {
            secure_port: None,
            ..flags
        };
        // The default port, but bound on a free one for the test.
        let mut serving = flags
            .serving(bind, 10259, "kube-scheduler")
            .expect("self-signed")
            .expect("on");
        assert_eq!(serving.addr.port(), 10259);
        serving.addr.set_port(0);
        let endpoints = Arc::new(Endpoints::new(Nothing, Arc::new(|| Ok(()))));
        let addr = start_tls(&serving, endpoints).await.expect("serving");
        let tls = crate::tls::client_config(Some(&dir.path().join("kube-scheduler.crt")), None)
            .expect("client");
        let stream = crate::tls::dial(
            &addr.to_string(),
            Some(&tls),
            std::time::Duration::from_secs(5),
        )
        .await
        .expect("a trusted handshake");
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .expect("http");
        tokio::spawn(conn);
        let resp = sender
            .send_request(
                http::Request::get("/healthz")
                    .header("host", "x")
                    .body(String::new())
                    .expect("request"),
            )
            .await
            .expect("answer");
        assert_eq!(resp.status(), StatusCode::OK);
    }
}
