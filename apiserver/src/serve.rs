//! The HTTP server under the router: accepting connections, the limits on
//! what one client may hold, and draining on shutdown.
//!
//! ```text
//! TcpListener --accept--> one task per connection: [TLS handshake (secure
//!                          port, [`tls`])] then HTTP/1.1 or h2, upgrades
//!                          for exec/attach/port-forward --> router (lib.rs)
//! ```
//!
//! The same loop serves the secure port and, when asked for, the plain one;
//! the limits below hold on both (the TLS handshake itself must also finish
//! within `header_read_timeout`).
//!
//! - A client must send its request head within `header_read_timeout`; a
//!   connection that dribbles bytes (or sends nothing) is closed, so idle or
//!   slow clients cannot hold sockets forever. Bodies are bounded in time and
//!   size by the handlers ([`crate::handlers`]).
//! - An HTTP/2 connection carries up to `http2_max_streams` requests and
//!   watches at once (upstream's `--http2-max-streams-per-connection`,
//!   1000): the components put all of theirs on one connection, and a
//!   controller-manager holds a watch per resource it follows.
//! - Each request carries the peer address ([`ClientAddr`]), which port it
//!   came in on ([`Transport`]) and the client certificates TLS verified
//!   ([`tls::PeerCertificates`]); per-client limits such as [`WatchLimiter`]
//!   key on the authenticated user, or the address for anonymous clients.
//! - On shutdown the listener closes, open watches end (the `stopping`
//!   signal in [`crate::ApiServer`]) and the server waits for in-flight
//!   requests to finish.

pub mod tls;

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// The address a request came from, as a request extension.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub SocketAddr);

/// Which port a request came in on, as a request extension: requests on
/// the plain port are not authenticated ([`crate::filters`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// The plain-HTTP port.
    Plain,
    /// The secure port.
    Tls,
}

/// What one connection may do ([module docs](self)).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Time to send a request's head (and finish the TLS handshake).
    pub header_read_timeout: Duration,
    /// Requests and watches at once on one HTTP/2 connection.
    pub http2_max_streams: u32,
}

/// Serves `app` on `listener` (over TLS when `tls` is given) until
/// `shutdown` resolves, then waits for the open connections to finish.
pub async fn serve(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    app: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    let header_read_timeout = limits.header_read_timeout;
    let graceful = GracefulShutdown::new();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(limits.http2_max_streams);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // Out of file descriptors, or a connection reset before
                    // accept: wait a moment rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let builder = builder.clone();
        let watcher = graceful.watcher();
        let tls = tls.clone();
        tokio::spawn(async move {
            let Some(tls) = tls else {
                return serve_connection(
                    builder,
                    watcher,
                    stream,
                    peer,
                    None,
                    Transport::Plain,
                    app,
                )
                .await;
            };
            // A client that opens a socket and never finishes the handshake
            // holds it no longer than one that never sends a request head.
            match tokio::time::timeout(header_read_timeout, tls.accept(stream)).await {
                Ok(Ok(stream)) => {
                    let certs = stream.get_ref().1.peer_certificates().map(|c| {
                        tls::PeerCertificates(Arc::new(
                            c.iter().map(|c| c.clone().into_owned()).collect(),
                        ))
                    });
                    serve_connection(builder, watcher, stream, peer, certs, Transport::Tls, app)
                        .await
                }
                Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// Serves HTTP on one accepted (and, on the secure port, decrypted)
/// connection; every request carries the peer's address and certificates.
async fn serve_connection<S>(
    builder: auto::Builder<TokioExecutor>,
    watcher: hyper_util::server::graceful::Watcher,
    stream: S,
    peer: SocketAddr,
    certs: Option<tls::PeerCertificates>,
    transport: Transport,
    app: Router,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service =
        hyper::service::service_fn(move |mut req: http::Request<hyper::body::Incoming>| {
            req.extensions_mut().insert(ClientAddr(peer));
            req.extensions_mut().insert(transport);
            if let Some(certs) = &certs {
                req.extensions_mut().insert(certs.clone());
            }
            tower::ServiceExt::oneshot(app.clone(), req)
        });
    let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
    if let Err(e) = watcher.watch(conn.into_owned()).await {
        tracing::debug!(%peer, error = %e, "connection ended with an error");
    }
}

/// Counts each client's open watches and refuses more than `max` at once:
/// one misbehaving client (a controller that leaks watches) cannot take the
/// memory every other client needs.
#[derive(Debug)]
pub struct WatchLimiter {
    max: usize,
    open: Mutex<HashMap<String, usize>>,
}

/// One open watch, counted until it is dropped.
#[derive(Debug)]
pub struct WatchSlot {
    limiter: Arc<WatchLimiter>,
    client: String,
}

impl WatchLimiter {
    /// A limiter allowing `max` open watches per client (0: no limit).
    pub fn new(max: usize) -> Arc<WatchLimiter> {
        Arc::new(WatchLimiter {
            max,
            open: Mutex::new(HashMap::new()),
        })
    }

    /// Takes a slot for `client`, or says how many it already holds.
    pub fn acquire(self: &Arc<Self>, client: &str) -> Result<WatchSlot, usize> {
        let mut open = match self.open.lock() {
            Ok(o) => o,
            Err(poisoned) => poisoned.into_inner(),
        };
        let count = open.entry(client.to_string()).or_insert(0);
        if self.max > 0 && *count >= self.max {
            return Err(*count);
        }
        *count += 1;
        Ok(WatchSlot {
            limiter: Arc::clone(self),
            client: client.to_string(),
        })
    }

    /// The per-client limit.
    pub fn max(&self) -> usize {
        self.max
    }
}

impl Drop for WatchSlot {
    fn drop(&mut self) {
        let mut open = match self.limiter.open.lock() {
            Ok(o) => o,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(count) = open.get_mut(&self.client) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.client);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watch_slots_are_counted_per_client_and_given_back() {
        let limiter = WatchLimiter::new(2);
        let a1 = limiter.acquire("a").expect("first");
        let _a2 = limiter.acquire("a").expect("second");
        assert_eq!(limiter.acquire("a").err(), Some(2));
        let _b = limiter.acquire("b").expect("another client");
        drop(a1);
        assert!(
            limiter.acquire("a").is_ok(),
            "a slot comes back when a watch ends"
        );
    }

    #[test]
    fn zero_means_unlimited() {
        let limiter = WatchLimiter::new(0);
        let slots: Vec<_> = (0..100).map(|_| limiter.acquire("a")).collect();
        assert!(slots.iter().all(Result::is_ok));
    }
}
