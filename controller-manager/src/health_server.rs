//! `/healthz`, `/readyz`, `/livez` and `/metrics` (Prometheus text) on a
//! plain TCP listener: a tiny HTTP/1.1 responder, enough for probes and
//! scrapers.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

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

    /// The Prometheus text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let list = self.controllers.lock().unwrap_or_else(|p| p.into_inner());
        let _ = writeln!(
            out,
            "# HELP controller_reconcile_total Reconciles run per controller."
        );
        let _ = writeln!(out, "# TYPE controller_reconcile_total counter");
        for (n, s, _) in list.iter() {
            let _ = writeln!(
                out,
                "controller_reconcile_total{{controller=\"{n}\"}} {}",
                s.reconciles.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP controller_reconcile_errors_total Failed reconciles per controller."
        );
        let _ = writeln!(out, "# TYPE controller_reconcile_errors_total counter");
        for (n, s, _) in list.iter() {
            let _ = writeln!(
                out,
                "controller_reconcile_errors_total{{controller=\"{n}\"}} {}",
                s.errors.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP controller_reconcile_seconds_total Time spent reconciling."
        );
        let _ = writeln!(out, "# TYPE controller_reconcile_seconds_total counter");
        for (n, s, _) in list.iter() {
            let _ = writeln!(
                out,
                "controller_reconcile_seconds_total{{controller=\"{n}\"}} {:.6}",
                s.micros.load(Ordering::Relaxed) as f64 / 1e6
            );
        }
        let _ = writeln!(
            out,
            "# HELP workqueue_depth Keys waiting per controller queue."
        );
        let _ = writeln!(out, "# TYPE workqueue_depth gauge");
        for (n, _, q) in list.iter() {
            let _ = writeln!(out, "workqueue_depth{{name=\"{n}\"}} {}", q.len());
        }
        let _ = writeln!(
            out,
            "# HELP leader_election_master_status 1 when this replica leads."
        );
        let _ = writeln!(out, "# TYPE leader_election_master_status gauge");
        let _ = writeln!(
            out,
            "leader_election_master_status{{name=\"kube-controller-manager\"}} {}",
            u8::from(self.leader.load(Ordering::Relaxed))
        );
        out
    }
}

/// Serves until the listener fails.
pub async fn serve(listener: TcpListener, metrics: Arc<Metrics>) {
    loop {
        let Ok((mut sock, _)) = listener.accept().await else {
            continue;
        };
        let metrics = Arc::clone(&metrics);
        tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            let mut n = 0;
            while n < buf.len() {
                match sock.read(&mut buf[n..]).await {
                    Ok(0) | Err(_) => break,
                    Ok(m) => n += m,
                }
                if buf[..n].windows(4).any(|w| w == b"\r\n\r\n") {
                    break;
                }
            }
            let head = String::from_utf8_lossy(&buf[..n]);
            let path = head.split_whitespace().nth(1).unwrap_or("/");
            let path = path.split('?').next().unwrap_or("/");
            let (status, ctype, body) = match path {
                "/healthz" | "/livez" | "/readyz" => ("200 OK", "text/plain", "ok".to_string()),
                "/metrics" => ("200 OK", "text/plain; version=0.0.4", metrics.render()),
                _ => ("404 Not Found", "text/plain", "not found".to_string()),
            };
            let resp = format!(
                "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = sock.write_all(resp.as_bytes()).await;
        });
    }
}

/// Binds `addr` and serves in the background; returns the bound address.
pub async fn start(addr: SocketAddr, metrics: Arc<Metrics>) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    tokio::spawn(serve(listener, metrics));
    Ok(local)
}
