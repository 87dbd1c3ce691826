//! Probes and lifecycle hooks: exec (a command in the container, exit 0 is
//! success), httpGet (a 2xx/3xx answer from the pod IP), tcpSocket (a
//! connection is accepted).
//!
//! Per container, the [`Prober`] keeps each probe's consecutive results and
//! when it last ran, honouring `initialDelaySeconds`, `periodSeconds`,
//! `timeoutSeconds`, `successThreshold` and `failureThreshold`. Liveness and
//! readiness wait until the startup probe (if any) has succeeded.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{
    Container, ExecAction, HTTPGetAction, LifecycleHandler, Probe, TCPSocketAction,
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
    if h.scheme.as_deref() == Some("HTTPS") {
        return Err("HTTPS probes are not supported".into());
    }
    let mut s = tokio::net::TcpStream::connect((host.as_str(), port))
        .await
        .map_err(|e| format!("Get \"http://{host}:{port}{path}\": {e}"))?;
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
