//! The ingress proxy's listeners and its forwarding of one request: the
//! route by Host and path ([`super::routes`]), a ready endpoint of the
//! backend in round-robin order (the next one when a connect fails), the
//! request passed on over HTTP/1.1 with `X-Forwarded-For`/`-Proto`/
//! `-Host`/`-Port` and `X-Real-IP` set from what the proxy saw (a
//! client's own values are not trusted, as Traefik and ingress-nginx do by
//! default), and the answer passed back. An upgrade (WebSocket) is passed
//! on as such, and once the endpoint answers 101 both connections are
//! spliced together. No route: 404; no ready endpoint: 503; no endpoint
//! reachable or a broken answer: 502.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Request, Response, StatusCode};
use http_body_util::{Either, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};

use super::Shared;

/// How long a connect to an endpoint may take before the next is tried.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How many endpoints a request tries before it answers 502.
const CONNECT_ATTEMPTS: usize = 3;

/// What the proxy answers with: the endpoint's body, or its own text.
pub type Body = Either<Incoming, Full<Bytes>>;

/// The TLS settings of the HTTPS listener: the certificate by SNI from the
/// current routing, HTTP/1.1 only.
pub fn tls_config(shared: Arc<Shared>) -> Result<Arc<rustls::ServerConfig>, rustls::Error> {
    let mut config = rustls::ServerConfig::builder_with_provider(component_base::tls::provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(super::certificates::Resolver(shared)));
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Serves `addr` until the process ends (HTTPS when `tls` is given); a
/// port that cannot be bound is logged and given up.
pub async fn listen(addr: SocketAddr, tls: Option<Arc<rustls::ServerConfig>>, shared: Arc<Shared>) {
    let listener = match TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(%addr, error = %e, "ingress proxy cannot listen here");
            return;
        }
    };
    tracing::info!(%addr, https = tls.is_some(), "ingress proxy listening");
    serve_listener(listener, tls, shared).await;
}

/// Accepts connections on `listener` until the process ends.
async fn serve_listener(
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    shared: Arc<Shared>,
) {
    let Ok(addr) = listener.local_addr() else {
        return;
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(%addr, error = %e, "ingress proxy accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let shared = shared.clone();
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let seen = Seen {
                peer: peer.ip(),
                scheme,
                port: addr.port(),
            };
            match acceptor {
                None => serve(TokioIo::new(stream), shared, seen).await,
                Some(acceptor) => match acceptor.accept(stream).await {
                    Ok(tls) => serve(TokioIo::new(tls), shared, seen).await,
                    Err(e) => tracing::debug!(%peer, error = %e, "ingress TLS handshake failed"),
                },
            }
        });
    }
}

/// What the proxy saw of a connection (for the `X-Forwarded-*` headers).
#[derive(Debug, Clone, Copy)]
struct Seen {
    peer: IpAddr,
    scheme: &'static str,
    port: u16,
}

async fn serve<I>(io: I, shared: Arc<Shared>, seen: Seen)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let service = service_fn(move |req| {
        let shared = shared.clone();
        async move { Ok::<_, Infallible>(handle(req, &shared, seen).await) }
    });
    if let Err(e) = hyper::server::conn::http1::Builder::new()
        .serve_connection(io, service)
        .with_upgrades()
        .await
    {
        tracing::debug!(error = %e, "ingress connection ended");
    }
}

fn text(status: StatusCode, body: &str) -> Response<Body> {
    let mut resp = Response::new(Either::Right(Full::new(Bytes::from(format!("{body}\n")))));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

/// The host a request asked for: its Host header, else the authority of
/// an absolute URI.
fn host_of(req: &Request<Incoming>) -> String {
    req.headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(String::from)
        .or_else(|| req.uri().authority().map(|a| a.to_string()))
        .unwrap_or_default()
}

/// Whether the request asks to switch protocols (`Connection: upgrade`
/// with an `Upgrade` header).
fn is_upgrade(headers: &HeaderMap) -> bool {
    headers.contains_key(header::UPGRADE)
        && headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
}

/// Removes the hop-by-hop headers (those of RFC 9110 7.6.1 and whatever
/// `Connection` names); an upgrade keeps `Connection: upgrade` and
/// `Upgrade`, which must reach the endpoint.
fn strip_hop_by_hop(headers: &mut HeaderMap, upgrade: bool) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
        .collect();
    for h in named {
        if !(upgrade && h == header::UPGRADE) {
            headers.remove(h);
        }
    }
    for h in [
        header::TE,
        header::TRAILER,
        header::TRANSFER_ENCODING,
        header::PROXY_AUTHORIZATION,
        HeaderName::from_static("keep-alive"),
        HeaderName::from_static("proxy-connection"),
    ] {
        headers.remove(h);
    }
    headers.remove(header::CONNECTION);
    if upgrade {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    } else {
        headers.remove(header::UPGRADE);
    }
}

/// Sets the `X-Forwarded-*` headers from what the proxy saw.
fn set_forwarded(headers: &mut HeaderMap, seen: Seen, host: &str) {
    let put = |headers: &mut HeaderMap, name: &'static str, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            headers.insert(HeaderName::from_static(name), v);
        }
    };
    put(headers, "x-forwarded-for", &seen.peer.to_string());
    put(headers, "x-real-ip", &seen.peer.to_string());
    put(headers, "x-forwarded-proto", seen.scheme);
    put(headers, "x-forwarded-host", host);
    put(headers, "x-forwarded-port", &seen.port.to_string());
}

async fn connect(endpoints: &[std::net::SocketAddrV4]) -> Option<TcpStream> {
    for ep in endpoints.iter().take(CONNECT_ATTEMPTS) {
        match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(ep)).await {
            Ok(Ok(s)) => return Some(s),
            Ok(Err(e)) => {
                tracing::debug!(endpoint = %ep, error = %e, "ingress backend connect failed")
            }
            Err(_) => tracing::debug!(endpoint = %ep, "ingress backend connect timed out"),
        }
    }
    None
}

/// One request: route, forward, answer.
async fn handle(mut req: Request<Incoming>, shared: &Shared, seen: Seen) -> Response<Body> {
    let routing = shared.current();
    let host = host_of(&req);
    let Some(backend) = routing.table.route(&host, req.uri().path()) else {
        return text(StatusCode::NOT_FOUND, "404 page not found");
    };
    let endpoints = routing.pick(backend);
    if endpoints.is_empty() {
        return text(
            StatusCode::SERVICE_UNAVAILABLE,
            &format!(
                "no ready endpoints for service {}/{}",
                backend.namespace, backend.service
            ),
        );
    }
    let Some(stream) = connect(&endpoints).await else {
        return text(StatusCode::BAD_GATEWAY, "no endpoint could be reached");
    };
    let upgrade = is_upgrade(req.headers());
    let client_side = upgrade.then(|| hyper::upgrade::on(&mut req));
    strip_hop_by_hop(req.headers_mut(), upgrade);
    set_forwarded(req.headers_mut(), seen, &host);
    // The endpoint gets an origin-form target, as from any client.
    if let Some(pq) = req.uri().path_and_query().cloned() {
        if let Ok(uri) = http::Uri::builder().path_and_query(pq).build() {
            *req.uri_mut() = uri;
        }
    }
    let (mut sender, conn) = match hyper::client::conn::http1::handshake(TokioIo::new(stream)).await
    {
        Ok(pair) => pair,
        Err(e) => return text(StatusCode::BAD_GATEWAY, &format!("backend: {e}")),
    };
    tokio::spawn(async move {
        if let Err(e) = conn.with_upgrades().await {
            tracing::debug!(error = %e, "ingress backend connection ended");
        }
    });
    let mut resp = match sender.send_request(req).await {
        Ok(r) => r,
        Err(e) => return text(StatusCode::BAD_GATEWAY, &format!("backend: {e}")),
    };
    if resp.status() == StatusCode::SWITCHING_PROTOCOLS {
        if let Some(client_side) = client_side {
            let backend_side = hyper::upgrade::on(&mut resp);
            tokio::spawn(async move {
                match tokio::try_join!(client_side, backend_side) {
                    Ok((c, b)) => {
                        let (mut c, mut b) = (TokioIo::new(c), TokioIo::new(b));
                        let _ = tokio::io::copy_bidirectional(&mut c, &mut b).await;
                    }
                    Err(e) => tracing::debug!(error = %e, "ingress upgrade failed"),
                }
            });
        }
    } else {
        strip_hop_by_hop(resp.headers_mut(), false);
    }
    resp.map(Either::Left)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Reads from `s` up to the end of an HTTP head.
    async fn head<S: tokio::io::AsyncRead + Unpin>(s: &mut S) -> String {
        let mut buf = Vec::new();
        let mut byte = [0u8; 1];
        while !buf.ends_with(b"\r\n\r\n") {
            match s.read(&mut byte).await {
                Ok(1) => buf.push(byte[0]),
                _ => break,
            }
        }
        String::from_utf8_lossy(&buf).into_owned()
    }

    /// A WebSocket-style upgrade through the proxy on loopback: the
    /// endpoint sees the upgrade request with the forwarded headers,
    /// answers 101, and then the bytes flow both ways.
    #[tokio::test]
    async fn an_upgrade_is_spliced_through() {
        let backend = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let backend_addr = match backend.local_addr().expect("addr") {
            SocketAddr::V4(a) => a,
            SocketAddr::V6(_) => unreachable!("bound to 127.0.0.1"),
        };
        let endpoint = tokio::spawn(async move {
            let (mut s, _) = backend.accept().await.expect("accept");
            let request = head(&mut s).await;
            s.write_all(b"HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n")
                .await
                .expect("write");
            let mut word = [0u8; 5];
            s.read_exact(&mut word).await.expect("read");
            word.reverse();
            s.write_all(&word).await.expect("write");
            request
        });
        let ingress: k8s_openapi::api::networking::v1::Ingress =
            serde_json::from_value(serde_json::json!({
                "metadata": {"name": "i", "namespace": "ns"},
                "spec": {"defaultBackend": {"service": {"name": "echo", "port": {"number": 80}}}},
            }))
            .expect("ingress");
        let mut port = super::super::tests::service_port();
        port.name = "echo".into();
        port.endpoints = vec![backend_addr];
        let (routing, _) =
            super::super::Routing::build(super::super::Table::build(&[&ingress]), &[port], &[]);
        let shared = Arc::new(Shared::default());
        shared.set(routing);
        let proxy = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let proxy_addr = proxy.local_addr().expect("addr");
        tokio::spawn(serve_listener(proxy, None, shared));

        let mut client = TcpStream::connect(proxy_addr).await.expect("connect");
        client
            .write_all(b"GET /ws HTTP/1.1\r\nHost: chat.example\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
            .await
            .expect("write");
        let answer = head(&mut client).await;
        assert!(answer.starts_with("HTTP/1.1 101"), "{answer}");
        client.write_all(b"hello").await.expect("write");
        let mut echoed = [0u8; 5];
        client.read_exact(&mut echoed).await.expect("read");
        assert_eq!(&echoed, b"olleh");
        let request = endpoint.await.expect("endpoint").to_ascii_lowercase();
        assert!(request.starts_with("get /ws http/1.1"), "{request}");
        for want in [
            "upgrade: websocket",
            "connection: upgrade",
            "x-forwarded-for: 127.0.0.1",
            "host: chat.example",
        ] {
            assert!(request.contains(want), "{want} in {request}");
        }
    }

    #[test]
    fn hop_by_hop_headers_go_but_an_upgrade_keeps_its_own() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, x-secret"),
        );
        h.insert("x-secret", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        h.insert("x-kept", HeaderValue::from_static("1"));
        let mut plain = h.clone();
        strip_hop_by_hop(&mut plain, false);
        assert_eq!(plain.len(), 1, "{plain:?}");
        assert!(plain.contains_key("x-kept"));

        let mut up = h.clone();
        up.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        assert!(is_upgrade(&up));
        assert!(!is_upgrade(&plain));
        strip_hop_by_hop(&mut up, true);
        assert_eq!(
            up.get(header::CONNECTION).map(|v| v.as_bytes()),
            Some(&b"upgrade"[..])
        );
        assert!(up.contains_key(header::UPGRADE));
    }

    #[test]
    fn forwarded_headers_say_what_the_proxy_saw() {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_static("6.6.6.6"));
        let seen = Seen {
            peer: "10.200.1.200".parse().expect("ip"),
            scheme: "https",
            port: 443,
        };
        set_forwarded(&mut h, seen, "app.example");
        assert_eq!(h["x-forwarded-for"], "10.200.1.200");
        assert_eq!(h["x-forwarded-proto"], "https");
        assert_eq!(h["x-forwarded-host"], "app.example");
        assert_eq!(h["x-forwarded-port"], "443");
    }
}
