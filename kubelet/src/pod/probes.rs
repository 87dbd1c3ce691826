//! Probes and lifecycle hooks: exec (a command in the container, exit 0 is
//! success), httpGet (a 2xx/3xx answer from the pod IP), tcpSocket (a
//! connection is accepted), grpc (the standard `grpc.health.v1.Health/Check`
//! answers `SERVING`).
//!
//! Per container, the [`Prober`] keeps each probe's consecutive results and
//! when it last ran, honouring `initialDelaySeconds`, `periodSeconds`,
//! `timeoutSeconds`, `successThreshold` and `failureThreshold`. Liveness and
//! readiness wait until the startup probe (if any) has succeeded.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{
    Container, ExecAction, GRPCAction, HTTPGetAction, LifecycleHandler, Probe, TCPSocketAction,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{blocking, Context};

/// Which probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProbeKind {
    /// Restart on failure.
    Liveness,
    /// Ready or not.
    Readiness,
    /// Gates the others; restart on failure.
    Startup,
}

/// What the worker must do after a probe ran.
#[derive(Debug)]
pub struct Failure {
    /// The failure message for the `Unhealthy` event (each failure).
    pub message: Option<String>,
    /// Whether the container must be killed (threshold reached).
    pub kill: bool,
    /// The probe's own `terminationGracePeriodSeconds`, which replaces the
    /// pod's for this kill.
    pub grace_seconds: Option<i64>,
}

#[derive(Debug, Default)]
struct State {
    last: Option<Instant>,
    successes: i32,
    failures: i32,
    /// The probe's current verdict.
    ok: bool,
}

/// Probe states of one pod, by (container, kind).
#[derive(Debug, Default)]
pub struct Prober {
    states: HashMap<(String, ProbeKind), State>,
}

fn port_of(p: &IntOrString, c: &Container) -> Option<u16> {
    match p {
        IntOrString::Int(n) => u16::try_from(*n).ok(),
        IntOrString::String(name) => c
            .ports
            .iter()
            .flatten()
            .find(|cp| cp.name.as_deref() == Some(name.as_str()))
            .and_then(|cp| u16::try_from(cp.container_port).ok()),
    }
}

impl Prober {
    /// Forgets a container's probe results (it was restarted).
    pub fn reset(&mut self, container: &str) {
        self.states.retain(|(c, _), _| c != container);
    }

    /// Whether the container counts as ready (no readiness probe: running
    /// is enough).
    pub fn ready(&self, c: &Container) -> bool {
        if !self.started(c) {
            return false;
        }
        match &c.readiness_probe {
            None => true,
            Some(_) => self
                .states
                .get(&(c.name.clone(), ProbeKind::Readiness))
                .is_some_and(|s| s.ok),
        }
    }

    /// Whether the startup probe passed (or there is none).
    pub fn started(&self, c: &Container) -> bool {
        match &c.startup_probe {
            None => true,
            Some(_) => self
                .states
                .get(&(c.name.clone(), ProbeKind::Startup))
                .is_some_and(|s| s.ok),
        }
    }

    /// Runs the probes of `c` that are due; returns the failures.
    pub async fn run_due(
        &mut self,
        ctx: &Context,
        c: &Container,
        container_id: &str,
        started_ms: i64,
        pod_ip: &str,
    ) -> Vec<(ProbeKind, Failure)> {
        let mut out = Vec::new();
        let started = self.started(c);
        let probes = [
            (ProbeKind::Startup, c.startup_probe.as_ref()),
            (
                ProbeKind::Liveness,
                c.liveness_probe.as_ref().filter(|_| started),
            ),
            (
                ProbeKind::Readiness,
                c.readiness_probe.as_ref().filter(|_| started),
            ),
        ];
        let now_ms = k8s_openapi::jiff::Timestamp::now().as_millisecond();
        for (kind, probe) in probes {
            let Some(p) = probe else { continue };
            if kind == ProbeKind::Startup && started {
                continue;
            }
            let initial = i64::from(p.initial_delay_seconds.unwrap_or(0)) * 1000;
            if now_ms - started_ms < initial {
                continue;
            }
            let period = Duration::from_secs(p.period_seconds.unwrap_or(10).max(1) as u64);
            let state = self.states.entry((c.name.clone(), kind)).or_default();
            if state.last.is_some_and(|l| l.elapsed() < period) {
                continue;
            }
            state.last = Some(Instant::now());
            let timeout = Duration::from_secs(p.timeout_seconds.unwrap_or(1).max(1) as u64);
            let result = run_probe(ctx, c, container_id, p, pod_ip, timeout).await;
            let success_threshold = p.success_threshold.unwrap_or(1).max(1);
            let failure_threshold = p.failure_threshold.unwrap_or(3).max(1);
            match result {
                Ok(()) => {
                    state.failures = 0;
                    state.successes += 1;
                    if state.successes >= success_threshold {
                        state.ok = true;
                    }
                }
                Err(msg) => {
                    state.successes = 0;
                    state.failures += 1;
                    let reached = state.failures >= failure_threshold;
                    if reached {
                        state.ok = false;
                    }
                    let kill = reached && kind != ProbeKind::Readiness;
                    if kill {
                        state.failures = 0;
                    }
                    out.push((
                        kind,
                        Failure {
                            message: Some(msg),
                            kill,
                            grace_seconds: p.termination_grace_period_seconds,
                        },
                    ));
                }
            }
        }
        out
    }
}

async fn run_probe(
    ctx: &Context,
    c: &Container,
    container_id: &str,
    p: &Probe,
    pod_ip: &str,
    timeout: Duration,
) -> Result<(), String> {
    let fut = async {
        if let Some(e) = &p.exec {
            return exec(ctx, container_id, e, Some(timeout)).await;
        }
        if let Some(h) = &p.http_get {
            return http_get(c, h, pod_ip).await;
        }
        if let Some(t) = &p.tcp_socket {
            return tcp(c, t, pod_ip).await;
        }
        if let Some(g) = &p.grpc {
            return grpc(g, pod_ip).await;
        }
        Err("probe has no handler".to_string())
    };
    match tokio::time::timeout(timeout, fut).await {
        Ok(r) => r,
        Err(_) => Err(format!(
            "timeout: probe did not answer within {}s",
            timeout.as_secs()
        )),
    }
}

/// Runs an exec action through the runtime's `ExecSync`; exit 0 is
/// success, otherwise the command's stdout (or its exit code) is the
/// failure message. Past `timeout` the runtime kills it.
async fn exec(
    ctx: &Context,
    container_id: &str,
    e: &ExecAction,
    timeout: Option<Duration>,
) -> Result<(), String> {
    let cmd = e.command.clone().unwrap_or_default();
    let rt = ctx.runtime.clone();
    let id = container_id.to_string();
    let argv = cmd.clone();
    let res = blocking(move || rt.exec_sync(&id, &argv, timeout))
        .await
        .map_err(|e| e.to_string())?;
    if res.exit_code == 0 {
        Ok(())
    } else {
        let text = String::from_utf8_lossy(&res.stdout).trim().to_string();
        Err(if text.is_empty() {
            format!("command {cmd:?} exited with {}", res.exit_code)
        } else {
            text
        })
    }
}

async fn http_get(c: &Container, h: &HTTPGetAction, pod_ip: &str) -> Result<(), String> {
    let port = port_of(&h.port, c).ok_or_else(|| format!("invalid port {:?}", h.port))?;
    let host = h
        .host
        .clone()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| pod_ip.to_string());
    let path = h.path.clone().unwrap_or_else(|| "/".into());
    // HTTPS probes check that the server answers, not who it is: like
    // upstream's kubelet, the certificate is not verified (a pod's serving
    // certificate is rarely issued for its IP).
    let (scheme, tls) = if h.scheme.as_deref() == Some("HTTPS") {
        let config = component_base::tls::client_config(None, None)
            .map_err(|e| format!("TLS client: {e}"))?;
        ("https", Some(config))
    } else {
        ("http", None)
    };
    let addr = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    // The caller's timeout bounds the whole probe; this one only has to be
    // longer.
    let mut s = component_base::tls::dial(&addr, tls.as_ref(), Duration::from_secs(3600))
        .await
        .map_err(|e| format!("Get \"{scheme}://{addr}{path}\": {e}"))?;
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: kube-probe/1.33\r\nAccept: */*\r\nConnection: close\r\n");
    for hh in h.http_headers.iter().flatten() {
        req.push_str(&format!("{}: {}\r\n", hh.name, hh.value));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; 1024];
    let n = s.read(&mut buf).await.map_err(|e| e.to_string())?;
    let head = String::from_utf8_lossy(&buf[..n]);
    let code: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| "malformed HTTP response".to_string())?;
    if (200..400).contains(&code) {
        Ok(())
    } else {
        Err(format!("HTTP probe failed with statuscode: {code}"))
    }
}

async fn tcp(c: &Container, t: &TCPSocketAction, pod_ip: &str) -> Result<(), String> {
    let port = port_of(&t.port, c).ok_or_else(|| format!("invalid port {:?}", t.port))?;
    let host = t
        .host
        .clone()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| pod_ip.to_string());
    tokio::net::TcpStream::connect((host.as_str(), port))
        .await
        .map(|_| ())
        .map_err(|e| format!("dial tcp {host}:{port}: {e}"))
}

/// The serialized `grpc.health.v1.HealthCheckRequest` for `service`, in
/// gRPC's length-prefixed framing (no compression).
fn health_check_request(service: &str) -> Vec<u8> {
    let mut msg = Vec::new();
    if !service.is_empty() {
        msg.push(0x0a); // field 1 (service), length-delimited
        let mut n = service.len();
        loop {
            let b = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                msg.push(b);
                break;
            }
            msg.push(b | 0x80);
        }
        msg.extend_from_slice(service.as_bytes());
    }
    let mut out = vec![0u8];
    out.extend_from_slice(&(msg.len() as u32).to_be_bytes());
    out.extend(msg);
    out
}

/// The `status` of a framed `grpc.health.v1.HealthCheckResponse`
/// (0 UNKNOWN, 1 SERVING, 2 NOT_SERVING, 3 SERVICE_UNKNOWN).
fn health_check_status(framed: &[u8]) -> Result<u64, String> {
    let msg = framed
        .get(5..)
        .ok_or_else(|| "malformed gRPC response".to_string())?;
    let mut i = 0;
    let mut status = 0;
    while i < msg.len() {
        let key = msg[i];
        i += 1;
        let mut v: u64 = 0;
        let mut shift = 0;
        let wire = key & 7;
        if wire == 0 {
            loop {
                let b = *msg.get(i).ok_or("malformed gRPC response")?;
                i += 1;
                v |= u64::from(b & 0x7f) << shift;
                shift += 7;
                if b & 0x80 == 0 || shift > 63 {
                    break;
                }
            }
            if key >> 3 == 1 {
                status = v;
            }
        } else {
            return Err("malformed gRPC response".into());
        }
    }
    Ok(status)
}

/// A gRPC health check on the pod IP over HTTP/2 without TLS, as
/// upstream's prober does it.
async fn grpc(g: &GRPCAction, pod_ip: &str) -> Result<(), String> {
    use http_body_util::BodyExt;
    let service = g.service.clone().unwrap_or_default();
    let addr = format!("{pod_ip}:{}", g.port);
    let stream = tokio::net::TcpStream::connect(addr.as_str())
        .await
        .map_err(|e| format!("failed to connect service {addr:?}: {e}"))?;
    let (mut sender, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .map_err(|e| format!("failed to connect service {addr:?}: {e}"))?;
    tokio::spawn(conn);
    let req = http::Request::post(format!("http://{addr}/grpc.health.v1.Health/Check"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(http_body_util::Full::new(bytes::Bytes::from(
            health_check_request(&service),
        )))
        .map_err(|e| e.to_string())?;
    let resp = sender
        .send_request(req)
        .await
        .map_err(|e| format!("health rpc did not complete: {e}"))?;
    let (parts, body) = resp.into_parts();
    let body = body
        .collect()
        .await
        .map_err(|e| format!("health rpc did not complete: {e}"))?;
    // A "trailers-only" answer carries grpc-status in its headers.
    let trailers = body.trailers().cloned().unwrap_or_default();
    let code = trailers
        .get("grpc-status")
        .or_else(|| parts.headers.get("grpc-status"))
        .and_then(|v| v.to_str().ok())
        .unwrap_or("0")
        .to_string();
    if code != "0" {
        let desc = trailers
            .get("grpc-message")
            .or_else(|| parts.headers.get("grpc-message"))
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        return Err(format!("rpc error: code = {code} desc = {desc}"));
    }
    match health_check_status(&body.to_bytes())? {
        1 => Ok(()),
        s => {
            let name = match s {
                0 => "UNKNOWN",
                2 => "NOT_SERVING",
                3 => "SERVICE_UNKNOWN",
                _ => "unrecognized",
            };
            Err(format!("service unhealthy (responded with {name:?})"))
        }
    }
}

/// Runs a postStart/preStop handler; an exec handler is killed past
/// `timeout` (preStop has the grace period, postStart no limit).
pub async fn run_handler(
    ctx: &Context,
    container_id: &str,
    h: &LifecycleHandler,
    pod_ip: &str,
    timeout: Option<Duration>,
) -> Result<(), String> {
    if let Some(e) = &h.exec {
        return exec(ctx, container_id, e, timeout).await;
    }
    if let Some(s) = &h.sleep {
        tokio::time::sleep(Duration::from_secs(s.seconds.max(0) as u64)).await;
        return Ok(());
    }
    let c = Container::default();
    if let Some(g) = &h.http_get {
        return http_get(&c, g, pod_ip).await;
    }
    if let Some(t) = &h.tcp_socket {
        return tcp(&c, t, pod_ip).await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A gRPC health server answering every Check with `status`.
    async fn health_server(status: u8) -> std::net::SocketAddr {
        use http_body_util::StreamBody;
        use hyper::body::Frame;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((s, _)) = listener.accept().await {
                let svc = hyper::service::service_fn(
                    move |req: http::Request<hyper::body::Incoming>| async move {
                        assert_eq!(req.uri().path(), "/grpc.health.v1.Health/Check");
                        let mut trailers = http::HeaderMap::new();
                        trailers.insert("grpc-status", http::HeaderValue::from_static("0"));
                        let frames: Vec<Result<Frame<bytes::Bytes>, std::convert::Infallible>> = vec![
                            Ok(Frame::data(bytes::Bytes::from(vec![
                                0, 0, 0, 0, 2, 0x08, status,
                            ]))),
                            Ok(Frame::trailers(trailers)),
                        ];
                        let body = StreamBody::new(futures::stream::iter(frames));
                        Ok::<_, std::convert::Infallible>(
                            http::Response::builder()
                                .header("content-type", "application/grpc")
                                .body(body)
                                .unwrap(),
                        )
                    },
                );
                tokio::spawn(
                    hyper::server::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
                        .serve_connection(hyper_util::rt::TokioIo::new(s), svc),
                );
            }
        });
        addr
    }

    #[tokio::test]
    async fn https_probes_talk_tls_without_checking_the_certificate() {
        use axum::http::StatusCode;
        use axum::routing::get;
        let dir = tempfile::tempdir().expect("tempdir");
        let config = component_base::tls::server_config(&component_base::tls::ServingOptions {
            cert_dir: dir.path().to_path_buf(),
            pair_name: "pod".into(),
            ..Default::default()
        })
        .expect("a self-signed serving pair");
        let app = axum::Router::new()
            .route("/readyz", get(|| async { "ok" }))
            .route("/sick", get(|| async { StatusCode::INTERNAL_SERVER_ERROR }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        tokio::spawn(component_base::tls::serve(
            listener,
            config,
            app,
            std::future::pending(),
        ));
        let action = |path: &str, scheme: &str| HTTPGetAction {
            path: Some(path.into()),
            port: IntOrString::Int(i32::from(port)),
            scheme: Some(scheme.into()),
            ..Default::default()
        };
        let c = Container::default();
        assert_eq!(
            http_get(&c, &action("/readyz", "HTTPS"), "127.0.0.1").await,
            Ok(())
        );
        assert_eq!(
            http_get(&c, &action("/sick", "HTTPS"), "127.0.0.1").await,
            Err("HTTP probe failed with statuscode: 500".to_string())
        );
        // Plain HTTP to a TLS port gets no HTTP answer.
        assert!(http_get(&c, &action("/readyz", "HTTP"), "127.0.0.1")
            .await
            .is_err());
    }

    #[test]
    fn health_check_messages() {
        assert_eq!(health_check_request(""), vec![0, 0, 0, 0, 0]);
        assert_eq!(
            health_check_request("liveness"),
            [&[0, 0, 0, 0, 10, 0x0a, 8][..], b"liveness"].concat()
        );
        assert_eq!(health_check_status(&[0, 0, 0, 0, 2, 0x08, 1]), Ok(1));
        assert_eq!(
            health_check_status(&[0, 0, 0, 0, 0]),
            Ok(0),
            "UNKNOWN is the default"
        );
        assert!(health_check_status(&[0, 0]).is_err());
    }

    #[tokio::test]
    async fn grpc_probe_needs_serving() {
        let serving = health_server(1).await;
        let action = |port: u16| GRPCAction {
            port: i32::from(port),
            service: None,
        };
        assert_eq!(grpc(&action(serving.port()), "127.0.0.1").await, Ok(()));
        let not_serving = health_server(2).await;
        assert_eq!(
            grpc(&action(not_serving.port()), "127.0.0.1").await,
            Err("service unhealthy (responded with \"NOT_SERVING\")".to_string())
        );
        // Nothing listens on the port the liveness spec uses to fail.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = closed.local_addr().unwrap().port();
        drop(closed);
        assert!(grpc(&action(port), "127.0.0.1").await.is_err());
    }
}
