//! `/portForward/{ns}/{pod}`: TCP connections into a pod's network
//! namespace, multiplexed over one upgraded connection with [`spdy`].
//!
//! kubectl 1.32 first asks for a WebSocket with the subprotocol
//! `SPDY/3.1+portforward.k8s.io`: SPDY frames travel as a byte stream inside
//! binary WebSocket messages. If that upgrade fails it falls back to plain
//! SPDY (`Upgrade: SPDY/3.1`, `X-Stream-Protocol-Version:
//! portforward.k8s.io`). Both are served here; after the upgrade they are
//! the same byte stream, fed to [`session`]. A WebSocket client asking for
//! `v4.channel.k8s.io` (kube-rs, our kubectl) gets upstream's websocket
//! channel protocol instead ([`channel_session`]): the ports in the query,
//! a data and an error channel per port.
//!
//! For every local connection kubectl opens two SPDY streams that share a
//! `requestID` header: an `error` stream (kubectl reads a message from it if
//! forwarding fails) and a `data` stream (the TCP bytes), both naming the
//! `port`. When both have arrived we connect to `127.0.0.1:<port>` *inside
//! the pod's network namespace* and copy bytes both ways.
//!
//! Entering the namespace: `setns` changes the namespace of the calling
//! thread only, and a socket stays in the namespace it was created in. So a
//! short-lived std thread joins the pod's netns, creates and connects the
//! socket, and hands it to tokio; no tokio worker ever changes namespace.

use std::collections::HashMap;
use std::io;
use std::path::PathBuf;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{Message, WebSocketUpgrade};
use axum::extract::{Path, Request, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

use super::spdy::{self, Codec, Frame, FLAG_FIN};
use super::{find_sandbox, Error};
use container_runtime::sandbox::PodSandboxState;

/// The WebSocket subprotocol of SPDY tunnelled in WebSocket.
pub const TUNNEL_PROTOCOL: &str = "SPDY/3.1+portforward.k8s.io";
/// The stream protocol negotiated on a plain SPDY upgrade.
pub const PORT_FORWARD_PROTOCOL: &str = "portforward.k8s.io";
/// The WebSocket channel protocol (upstream's websocket port-forward, what
/// kube-rs and our kubectl speak): the ports come in the query, port `i`
/// has data channel `2i` and error channel `2i+1`, and each channel's
/// first message is its port number (2 bytes, little-endian).
pub const CHANNEL_PROTOCOL: &str = "v4.channel.k8s.io";

/// The `ports` of the request's query (`?ports=80,8080` or repeated).
fn requested_ports(req: &Request) -> Result<Vec<u16>, Error> {
    let query = req.uri().query().unwrap_or("");
    let mut ports = Vec::new();
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        if k != "ports" && k != "port" {
            continue;
        }
        for p in v.split(',').filter(|p| !p.is_empty()) {
            let port = p
                .trim()
                .parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| Error::BadRequest(format!("invalid port {p:?}")))?;
            ports.push(port);
        }
    }
    if ports.is_empty() {
        return Err(Error::BadRequest("port-forward needs ?ports=".into()));
    }
    Ok(ports)
}

/// Serves the channel protocol on an upgraded WebSocket: one connection
/// into the pod per requested port, for as long as the client keeps the
/// WebSocket open.
async fn channel_session(socket: axum::extract::ws::WebSocket, ports: Vec<u16>, target: Target) {
    let (mut sink, mut stream) = socket.split();
    let (out_tx, mut out_rx) = mpsc::channel::<Vec<u8>>(64);
    let writer = tokio::spawn(async move {
        while let Some(m) = out_rx.recv().await {
            if sink.send(Message::Binary(Bytes::from(m))).await.is_err() {
                break;
            }
        }
        let _ = sink.close().await;
    });
    let mut to_pod: Vec<Option<mpsc::Sender<Bytes>>> = Vec::new();
    for (i, port) in ports.iter().enumerate() {
        let (data, error) = ((2 * i) as u8, (2 * i + 1) as u8);
        let [lo, hi] = port.to_le_bytes();
        let _ = out_tx.send(vec![data, lo, hi]).await;
        let _ = out_tx.send(vec![error, lo, hi]).await;
        let (tx, rx) = mpsc::channel::<Bytes>(32);
        to_pod.push(Some(tx));
        let out = out_tx.clone();
        let target = target.clone();
        let port = *port;
        tokio::spawn(async move {
            let sock = match connect(target.netns.clone(), port).await {
                Ok(s) => s,
                Err(e) => {
                    let msg = format!(
                        "error forwarding port {port} to pod {}, uid {}: {e}",
                        target.pod, target.uid
                    );
                    let mut m = vec![error];
                    m.extend_from_slice(msg.as_bytes());
                    let _ = out.send(m).await;
                    return;
                }
            };
            pump(sock, rx, out, move |bytes| {
                let mut m = Vec::with_capacity(bytes.len() + 1);
                m.push(data);
                m.extend_from_slice(bytes);
                m
            })
            .await;
        });
    }
    drop(out_tx);
    while let Some(Ok(m)) = stream.next().await {
        let data = match m {
            Message::Binary(b) => b,
            Message::Close(_) => break,
            _ => continue,
        };
        let Some((&ch, body)) = data.split_first() else {
            continue;
        };
        // Even channels carry data to port ch/2; v5's close (255) and the
        // error channels carry nothing for the pod.
        if ch % 2 == 0 {
            if let Some(Some(tx)) = to_pod.get((ch / 2) as usize) {
                let _ = tx.send(Bytes::copy_from_slice(body)).await;
            }
        }
    }
    to_pod.clear();
    let _ = writer.await;
}

/// `/portForward/{ns}/{pod}`.
pub async fn port_forward(
    st: State<super::State>,
    Path((ns, pod)): Path<(String, String)>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
    req: Request,
) -> Result<Response, Error> {
    forward_in(st, ns, pod, None, ws, req).await
}

/// `/portForward/{ns}/{pod}/{uid}`.
pub async fn port_forward_uid(
    st: State<super::State>,
    Path((ns, pod, uid)): Path<(String, String, String)>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
    req: Request,
) -> Result<Response, Error> {
    forward_in(st, ns, pod, Some(uid), ws, req).await
}

async fn forward_in(
    State(st): State<super::State>,
    ns: String,
    pod: String,
    uid: Option<String>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
    req: Request,
) -> Result<Response, Error> {
    let sandbox = find_sandbox(&st.runtime, &ns, &pod, uid.as_deref())?;
    if sandbox.state != PodSandboxState::Ready {
        return Err(Error::BadRequest(format!("pod {ns}/{pod} is not running")));
    }
    let netns = sandbox.ns("net");
    let target = Target {
        pod: format!("{ns}/{pod}"),
        uid: sandbox.config.uid.clone(),
        netns,
    };
    tracing::info!(pod = %target.pod, "port-forward");
    upgrade(ws, req, target)
}

/// Answers a port-forward upgrade request (WebSocket-tunnelled or plain
/// SPDY) and serves the connection, forwarding into `target`. Public so a
/// test can stand in for the kubelet without a runtime.
pub fn upgrade(
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
    mut req: Request,
    target: Target,
) -> Result<Response, Error> {
    if let Ok(ws) = ws {
        let channels = ws.requested_protocols().any(|p| p == CHANNEL_PROTOCOL);
        if channels {
            let ports = requested_ports(&req)?;
            return Ok(ws
                .protocols([CHANNEL_PROTOCOL])
                .on_upgrade(move |socket| channel_session(socket, ports, target)));
        }
        if !ws.requested_protocols().any(|p| p == TUNNEL_PROTOCOL) {
            return Err(Error::BadRequest(format!(
                "port-forward over WebSocket needs the subprotocol {TUNNEL_PROTOCOL}"
            )));
        }
        return Ok(ws
            .protocols([TUNNEL_PROTOCOL])
            .on_upgrade(move |socket| async move {
                let (mut sink, mut stream) = socket.split();
                let (in_tx, in_rx) = mpsc::channel::<Bytes>(32);
                let (out_tx, mut out_rx) = mpsc::channel::<Vec<u8>>(64);
                tokio::spawn(async move {
                    while let Some(f) = out_rx.recv().await {
                        if sink.send(Message::Binary(Bytes::from(f))).await.is_err() {
                            break;
                        }
                    }
                    let _ = sink.close().await;
                });
                tokio::spawn(async move {
                    while let Some(Ok(m)) = stream.next().await {
                        match m {
                            Message::Binary(b) => {
                                if in_tx.send(b).await.is_err() {
                                    break;
                                }
                            }
                            Message::Close(_) => break,
                            _ => {}
                        }
                    }
                });
                session(in_rx, out_tx, target).await;
            }));
    }
    let wants_spdy = req
        .headers()
        .get(http::header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("SPDY/3.1"));
    if !wants_spdy {
        return Err(Error::BadRequest(
            "port-forward needs an upgrade to WebSocket (SPDY/3.1+portforward.k8s.io) or SPDY/3.1"
                .into(),
        ));
    }
    let upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        let Ok(upgraded) = upgrade.await else { return };
        let io = hyper_util::rt::TokioIo::new(upgraded);
        let (mut r, mut w) = tokio::io::split(io);
        let (in_tx, in_rx) = mpsc::channel::<Bytes>(32);
        let (out_tx, mut out_rx) = mpsc::channel::<Vec<u8>>(64);
        tokio::spawn(async move {
            while let Some(f) = out_rx.recv().await {
                if w.write_all(&f).await.is_err() {
                    break;
                }
            }
            let _ = w.shutdown().await;
        });
        tokio::spawn(async move {
            let mut buf = vec![0u8; 32 * 1024];
            while let Ok(n) = r.read(&mut buf).await {
                if n == 0 || in_tx.send(Bytes::copy_from_slice(&buf[..n])).await.is_err() {
                    break;
                }
            }
        });
        session(in_rx, out_tx, target).await;
    });
    Ok(Response::builder()
        .status(http::StatusCode::SWITCHING_PROTOCOLS)
        .header(http::header::CONNECTION, "Upgrade")
        .header(http::header::UPGRADE, "SPDY/3.1")
        .header("X-Stream-Protocol-Version", PORT_FORWARD_PROTOCOL)
        .body(Body::empty())
        .unwrap_or_else(|_| http::StatusCode::INTERNAL_SERVER_ERROR.into_response()))
}

/// Where the connections go.
#[derive(Debug, Clone)]
pub struct Target {
    /// `namespace/name`, for messages.
    pub pod: String,
    /// The pod's uid, for messages.
    pub uid: String,
    /// The pod's network namespace (`None`: the host's, `hostNetwork` pods).
    pub netns: Option<PathBuf>,
}

/// The two streams of one forwarded connection, as they arrive.
#[derive(Default)]
struct Pair {
    error: Option<u32>,
    data: Option<u32>,
    port: Option<String>,
}

/// Runs the SPDY side of a connection until the client goes away.
async fn session(mut incoming: mpsc::Receiver<Bytes>, out: mpsc::Sender<Vec<u8>>, target: Target) {
    let mut codec = Codec::new();
    let mut buf: Vec<u8> = Vec::new();
    // Client -> pod bytes for each live data stream.
    let mut to_pod: HashMap<u32, mpsc::Sender<Bytes>> = HashMap::new();
    let mut pairs: HashMap<String, Pair> = HashMap::new();
    let mut last_stream = 0;
    'conn: while let Some(chunk) = incoming.recv().await {
        buf.extend_from_slice(&chunk);
        loop {
            let frame = match codec.decode(&mut buf) {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(e) => {
                    tracing::debug!(error = %e, "port-forward: protocol error");
                    let _ = out.send(spdy::goaway(last_stream)).await;
                    break 'conn;
                }
            };
            match frame {
                Frame::SynStream {
                    stream, headers, ..
                } => {
                    last_stream = stream;
                    if out.send(codec.syn_reply(stream, 0)).await.is_err() {
                        break 'conn;
                    }
                    let get =
                        |k: &str| headers.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
                    let kind = get("streamtype").unwrap_or_default();
                    // Old clients send no requestID; pair by stream ids as
                    // upstream does (error = n, data = n + 2).
                    let request = get("requestid").unwrap_or_else(|| match kind.as_str() {
                        "data" => stream.saturating_sub(2).to_string(),
                        _ => stream.to_string(),
                    });
                    let pair = pairs.entry(request.clone()).or_default();
                    match kind.as_str() {
                        "error" => pair.error = Some(stream),
                        "data" => pair.data = Some(stream),
                        _ => {
                            let _ = out.send(spdy::rst_stream(stream, 1)).await;
                            continue;
                        }
                    }
                    if let Some(p) = get("port") {
                        pair.port = Some(p);
                    }
                    if let (Some(error), Some(data)) = (pair.error, pair.data) {
                        let port = pair.port.clone().unwrap_or_default();
                        pairs.remove(&request);
                        let (tx, rx) = mpsc::channel::<Bytes>(16);
                        to_pod.insert(data, tx);
                        tokio::spawn(forward(target.clone(), port, error, data, out.clone(), rx));
                    }
                }
                Frame::Data {
                    stream,
                    flags,
                    data,
                } => {
                    if let Some(tx) = to_pod.get(&stream) {
                        if !data.is_empty() && tx.send(Bytes::from(data)).await.is_err() {
                            to_pod.remove(&stream);
                        }
                    }
                    if flags & FLAG_FIN != 0 {
                        // Dropping the sender half-closes the pod socket.
                        to_pod.remove(&stream);
                    }
                }
                Frame::RstStream { stream, .. } => {
                    to_pod.remove(&stream);
                }
                Frame::Ping(id) => {
                    if out.send(spdy::ping(id)).await.is_err() {
                        break 'conn;
                    }
                }
                Frame::GoAway => break 'conn,
                Frame::SynReply { .. } | Frame::Headers { .. } | Frame::Other(_) => {}
            }
        }
    }
}

/// Forwards one connection: pod socket <-> SPDY data stream.
async fn forward(
    target: Target,
    port: String,
    error_stream: u32,
    data_stream: u32,
    out: mpsc::Sender<Vec<u8>>,
    from_client: mpsc::Receiver<Bytes>,
) {
    let result = match port.parse::<u16>() {
        Ok(p) if p > 0 => connect(target.netns.clone(), p).await,
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("invalid port {port:?}"),
        )),
    };
    let sock = match result {
        Ok(s) => s,
        Err(e) => {
            let msg = format!(
                "error forwarding port {port} to pod {}, uid {}: {e}",
                target.pod, target.uid
            );
            tracing::info!("{msg}");
            let _ = out.send(spdy::data(error_stream, 0, msg.as_bytes())).await;
            let _ = out.send(spdy::data(error_stream, FLAG_FIN, &[])).await;
            let _ = out.send(spdy::data(data_stream, FLAG_FIN, &[])).await;
            return;
        }
    };
    pump(sock, from_client, out.clone(), move |bytes| {
        spdy::data(data_stream, 0, bytes)
    })
    .await;
    let _ = out.send(spdy::data(data_stream, FLAG_FIN, &[])).await;
    let _ = out.send(spdy::data(error_stream, FLAG_FIN, &[])).await;
}

/// Copies bytes both ways between a connection into the pod and the
/// client until either side ends: the client's bytes arrive on
/// `from_client`; the pod's are framed for the client's protocol by
/// `frame` and queued on `out`.
async fn pump(
    sock: tokio::net::TcpStream,
    mut from_client: mpsc::Receiver<Bytes>,
    out: mpsc::Sender<Vec<u8>>,
    frame: impl Fn(&[u8]) -> Vec<u8>,
) {
    let (mut r, mut w) = sock.into_split();
    let up = async move {
        while let Some(b) = from_client.recv().await {
            if w.write_all(&b).await.is_err() {
                break;
            }
        }
        let _ = w.shutdown().await;
    };
    let down = async move {
        let mut buf = vec![0u8; 32 * 1024];
        while let Ok(n) = r.read(&mut buf).await {
            if n == 0 || out.send(frame(&buf[..n])).await.is_err() {
                break;
            }
        }
    };
    tokio::pin!(up);
    tokio::pin!(down);
    tokio::select! {
        _ = &mut down => {}
        _ = &mut up => down.await,
    }
}

/// Connects to `127.0.0.1:port` in the network namespace `netns` (the
/// host's when `None`).
pub async fn connect(netns: Option<PathBuf>, port: u16) -> io::Result<tokio::net::TcpStream> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("portforward-connect".into())
        .spawn(move || {
            let r = (|| -> io::Result<std::net::TcpStream> {
                if let Some(path) = &netns {
                    let f = std::fs::File::open(path)?;
                    nix::sched::setns(&f, nix::sched::CloneFlags::CLONE_NEWNET)
                        .map_err(io::Error::from)?;
                }
                let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
                let s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
                s.set_nonblocking(true)?;
                Ok(s)
            })();
            let _ = tx.send(r);
        })?;
    let s = rx
        .await
        .map_err(|_| io::Error::other("connect thread ended"))??;
    tokio::net::TcpStream::from_std(s)
}
