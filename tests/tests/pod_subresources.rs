//! `pods/log`, `pods/exec`, `pods/attach` and `pods/portforward` through the
//! real apiserver (on a real etcd), driven by the real `/usr/bin/kubectl`.
//!
//! No container runs here: a fake kubelet on 127.0.0.1 is registered as the
//! Node's InternalIP and kubelet port. It serves the kubelet paths with the
//! real kubelet's stream code (the channel protocol of exec, the SPDY
//! port-forward server with the host as the "pod" network), and records what
//! the apiserver asked, so the test checks both what kubectl prints and what
//! reached the kubelet.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Path, RawQuery, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use kubelet::server::channel::{self, Session};
use serde_json::json;
use tests::harness::{ApiServer, Etcd};

type Seen = Arc<Mutex<Vec<String>>>;

fn record(seen: &Seen, path: String, query: &Option<String>) {
    let line = match query {
        Some(q) => format!("{path}?{q}"),
        None => path,
    };
    seen.lock().expect("lock").push(line);
}

async fn fake_logs(
    State(seen): State<Seen>,
    Path((ns, pod, c)): Path<(String, String, String)>,
    RawQuery(q): RawQuery,
) -> Response {
    record(&seen, format!("/containerLogs/{ns}/{pod}/{c}"), &q);
    let follow = q.as_deref().unwrap_or("").contains("follow=true");
    let first = format!("log of {c}\n");
    let stream = async_stream_lines(first, follow);
    axum::body::Body::from_stream(stream).into_response()
}

/// "log of C", then (following) a second line 1.5 s later.
fn async_stream_lines(
    first: String,
    follow: bool,
) -> impl futures::Stream<Item = Result<bytes::Bytes, std::io::Error>> {
    futures::stream::unfold(0, move |i| {
        let first = first.clone();
        async move {
            match i {
                0 => Some((Ok(bytes::Bytes::from(first)), 1)),
                1 if follow => {
                    tokio::time::sleep(Duration::from_millis(1500)).await;
                    Some((Ok(bytes::Bytes::from_static(b"later line\n")), 2))
                }
                _ => None,
            }
        }
    })
}

async fn fake_exec(
    State(seen): State<Seen>,
    Path((ns, pod, c)): Path<(String, String, String)>,
    RawQuery(q): RawQuery,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    record(&seen, format!("/exec/{ns}/{pod}/{c}"), &q);
    let Ok(ws) = ws else {
        return (http::StatusCode::BAD_REQUEST, "websocket only").into_response();
    };
    let command: Vec<String> = kubelet::server::query_pairs(q.as_deref())
        .into_iter()
        .filter(|(k, _)| k == "command")
        .map(|(_, v)| v)
        .collect();
    ws.protocols(channel::PROTOCOLS)
        .on_upgrade(move |socket| async move {
            let s = Session::start(socket);
            let out = s.writer(channel::STDOUT);
            let err = s.writer(channel::STDERR);
            let code = match command.first().map(String::as_str) {
                Some("exit") => command.get(1).and_then(|c| c.parse().ok()).unwrap_or(1),
                Some("cat") => {
                    if let Some(mut rx) = s.take_stdin() {
                        while let Some(b) = rx.recv().await {
                            let _ = out.send(&b).await;
                        }
                    }
                    0
                }
                _ => {
                    let _ = out
                        .send(format!("{}\n", command.join(" ")).as_bytes())
                        .await;
                    let _ = err.send(b"to stderr\n").await;
                    0
                }
            };
            s.finish(channel::exit_status(code)).await;
        })
}

async fn fake_port_forward(
    Path((_ns, pod)): Path<(String, String)>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
    req: Request,
) -> Response {
    let target = kubelet::server::portforward::Target {
        pod,
        uid: String::new(),
        netns: None,
    };
    match kubelet::server::portforward::upgrade(ws, req, target) {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn start_fake_kubelet(seen: Seen) -> u16 {
    let app = Router::new()
        .route("/containerLogs/{ns}/{pod}/{c}", get(fake_logs))
        .route("/exec/{ns}/{pod}/{c}", get(fake_exec).post(fake_exec))
        .route(
            "/portForward/{ns}/{pod}",
            get(fake_port_forward).post(fake_port_forward),
        )
        .with_state(seen);
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = l.local_addr().expect("addr").port();
    tokio::spawn(async move { axum::serve(l, app).await });
    port
}

/// Runs the real kubectl; returns (exit code, stdout, stderr).
///
/// kubectl v1.32's WebSocket client starts reading before it has made its
/// streams, so output that arrives at once is sometimes dropped with
/// "Unknown stream id" (client-go waits for its streams since v1.33). Such
/// a run says nothing about the server and is made again.
fn kubectl(server: &str, args: &[&str], stdin: Option<&[u8]>) -> (i32, String, String) {
    let bin = std::path::Path::new("/usr/bin/kubectl");
    let mut out = run_kubectl(bin, server, args, stdin);
    for _ in 0..4 {
        if !out.2.contains("Unknown stream id") {
            break;
        }
        out = run_kubectl(bin, server, args, stdin);
    }
    out
}

/// Our kubectl (the workspace binary), run exactly like the real one.
fn our_kubectl(server: &str, args: &[&str], stdin: Option<&[u8]>) -> (i32, String, String) {
    let bin = tests::harness::binary("kubectl").expect("our kubectl is built");
    run_kubectl(&bin, server, args, stdin)
}

fn run_kubectl(
    bin: &std::path::Path,
    server: &str,
    args: &[&str],
    stdin: Option<&[u8]>,
) -> (i32, String, String) {
    let cache = tempfile::tempdir().expect("cache dir");
    let mut child = Command::new(bin)
        .arg("--server")
        .arg(server)
        .arg("--cache-dir")
        .arg(cache.path())
        .args(args)
        .env("KUBECONFIG", "/dev/null")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubectl");
    if let (Some(data), Some(mut w)) = (stdin, child.stdin.take()) {
        w.write_all(data).expect("stdin");
    }
    let out = child.wait_with_output().expect("kubectl output");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_exec_and_port_forward_go_through_the_kubelet() {
    let etcd = Etcd::start().await.expect("etcd");
    // The stand-in kubelet speaks plain HTTP (tests/secure_components.rs
    // has the TLS path with client certificates).
    let api = ApiServer::start_with(&etcd, &["--kubelet-https=false"])
        .await
        .expect("apiserver");
    let http = api.http();
    let seen: Seen = Arc::default();
    let kubelet_port = start_fake_kubelet(seen.clone()).await;

    // The node and where its kubelet listens.
    let r = http
        .post(
            "/api/v1/nodes",
            &json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}}),
        )
        .await
        .expect("create node");
    assert!(r.status < 300, "{:?}", r.body);
    let status = json!({"status": {
        "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}, {"type": "Hostname", "address": "n1"}],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": kubelet_port}},
    }});
    let r = http
        .patch(
            "/api/v1/nodes/n1/status",
            "application/merge-patch+json",
            &status,
        )
        .await
        .expect("node status");
    assert!(r.status < 300, "{:?}", r.body);

    let pod = |name: &str, containers: &[&str], node: Option<&str>| {
        let cs: Vec<_> = containers
            .iter()
            .map(|c| json!({"name": c, "image": "busybox:1.36"}))
            .collect();
        let mut p = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": {"containers": cs}});
        if let Some(n) = node {
            p["spec"]["nodeName"] = json!(n);
        }
        p
    };
    for (name, cs, node) in [
        ("one", &["main"][..], Some("n1")),
        ("two", &["a", "b"][..], Some("n1")),
        ("unscheduled", &["main"][..], None),
    ] {
        let r = http
            .post("/api/v1/namespaces/default/pods", &pod(name, cs, node))
            .await
            .expect("create pod");
        assert!(r.status < 300, "{:?}", r.body);
        let r = http
            .patch(
                &format!("/api/v1/namespaces/default/pods/{name}/status"),
                "application/merge-patch+json",
                &json!({"status": {"phase": if node.is_some() { "Running" } else { "Pending" }}}),
            )
            .await
            .expect("pod status");
        assert!(r.status < 300, "{:?}", r.body);
    }

    // Discovery lists the subresources with upstream's verbs.
    let r = http.get("/api/v1").await.expect("discovery");
    let verbs = |name: &str| {
        r.body["resources"]
            .as_array()
            .and_then(|a| a.iter().find(|x| x["name"] == name))
            .map(|x| x["verbs"].clone())
    };
    assert_eq!(verbs("pods/log"), Some(json!(["get"])));
    for sub in ["pods/exec", "pods/attach", "pods/portforward"] {
        assert_eq!(verbs(sub), Some(json!(["create", "get"])), "{sub}");
    }

    let server = api.url.clone();
    let k = move |args: Vec<&'static str>, stdin: Option<&'static [u8]>| {
        let server = server.clone();
        tokio::task::spawn_blocking(move || kubectl(&server, &args, stdin))
    };

    // logs: the one container is chosen; options reach the kubelet.
    let (code, out, err) = k(vec!["logs", "one", "--tail=5", "--timestamps"], None)
        .await
        .expect("join");
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "log of main\n");
    let last = seen
        .lock()
        .expect("lock")
        .last()
        .cloned()
        .unwrap_or_default();
    assert!(
        last.starts_with("/containerLogs/default/one/main?"),
        "{last}"
    );
    assert!(
        last.contains("tailLines=5") && last.contains("timestamps=true"),
        "{last}"
    );

    // logs -c on a two-container pod.
    let (code, out, err) = k(vec!["logs", "two", "-c", "b"], None).await.expect("join");
    assert_eq!((code, out.as_str()), (0, "log of b\n"), "{err}");

    // logs -f streams: the first line is printed long before the end.
    let server = api.url.clone();
    let follow = tokio::task::spawn_blocking(move || {
        let cache = tempfile::tempdir().expect("cache");
        let mut child = Command::new("/usr/bin/kubectl")
            .args(["--server", &server, "--cache-dir"])
            .arg(cache.path())
            .args(["logs", "-f", "one"])
            .env("KUBECONFIG", "/dev/null")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("kubectl logs -f");
        let mut stdout = child.stdout.take().expect("stdout");
        let mut first = Vec::new();
        let mut byte = [0u8; 1];
        while stdout.read(&mut byte).unwrap_or(0) == 1 && byte[0] != b'\n' {
            first.push(byte[0]);
        }
        let at_first = Instant::now();
        let mut rest = String::new();
        let _ = stdout.read_to_string(&mut rest);
        let status = child.wait().expect("wait");
        (
            String::from_utf8_lossy(&first).into_owned(),
            at_first.elapsed(),
            rest,
            status.success(),
        )
    });
    let (first, gap, rest, ok) = follow.await.expect("join");
    assert!(ok);
    assert_eq!(first, "log of main");
    assert_eq!(rest, "later line\n");
    assert!(
        gap >= Duration::from_millis(1000),
        "the first line came only at the end ({gap:?})"
    );
    let last = seen
        .lock()
        .expect("lock")
        .last()
        .cloned()
        .unwrap_or_default();
    assert!(last.contains("follow=true"), "{last}");

    // Errors as upstream words them.
    let (s, body) = http
        .get_text("/api/v1/namespaces/default/pods/two/log")
        .await
        .expect("log without container");
    assert_eq!(s, 400);
    assert!(
        body.contains("a container name must be specified for pod two, choose one of: [a b]"),
        "{body}"
    );
    let (s, body) = http
        .get_text("/api/v1/namespaces/default/pods/unscheduled/log")
        .await
        .expect("log of unscheduled pod");
    assert_eq!(s, 400, "{body}");
    assert!(
        body.contains("BadRequest") && body.contains("does not have a host assigned"),
        "{body}"
    );
    let (s, _) = http
        .get_text("/api/v1/namespaces/default/pods/nope/log")
        .await
        .expect("log of missing pod");
    assert_eq!(s, 404);

    // logs over a WebSocket (upstream's `binary.k8s.io` and
    // `base64.binary.k8s.io` stream protocols): the messages carry the log,
    // then the socket closes.
    for (protocol, base64) in [("binary.k8s.io", false), ("base64.binary.k8s.io", true)] {
        assert_eq!(
            websocket_log(
                &api.url,
                "/api/v1/namespaces/default/pods/two/log?container=b",
                protocol
            )
            .await,
            (protocol.to_string(), "log of b\n".to_string(), base64),
        );
    }
    // An error is answered before the upgrade, as plain HTTP.
    let url = api.url.replace("http://", "ws://") + "/api/v1/namespaces/default/pods/two/log";
    match tokio_tungstenite::connect_async(url).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            assert_eq!(resp.status(), 400)
        }
        other => panic!("a log without its container must fail: {other:?}"),
    }

    // exec: output channels and the exit code pass through.
    let (code, out, err) = k(vec!["exec", "one", "--", "echo", "hello", "world"], None)
        .await
        .expect("join");
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "echo hello world\n");
    assert!(err.contains("to stderr"), "{err}");
    let last = seen
        .lock()
        .expect("lock")
        .last()
        .cloned()
        .unwrap_or_default();
    assert!(last.starts_with("/exec/default/one/main?"), "{last}");
    let (code, _, err) = k(vec!["exec", "one", "--", "exit", "3"], None)
        .await
        .expect("join");
    assert_eq!(code, 3, "kubectl exits with the command's code: {err}");
    let (code, out, err) = k(
        vec!["exec", "-i", "one", "--", "cat"],
        Some(b"piped\nthrough\n"),
    )
    .await
    .expect("join");
    assert_eq!((code, out.as_str()), (0, "piped\nthrough\n"), "{err}");
    let (code, _, err) = k(vec!["exec", "two", "-c", "nope", "--", "true"], None)
        .await
        .expect("join");
    assert_ne!(code, 0);
    assert!(
        err.contains("container nope is not valid for pod two"),
        "{err}"
    );

    // port-forward: kubectl's SPDY (tunnelled in a WebSocket) to a TCP server.
    let echo = std::net::TcpListener::bind("127.0.0.1:0").expect("echo server");
    let echo_port = echo.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for conn in echo.incoming().flatten() {
            std::thread::spawn(move || {
                let mut c = conn;
                let mut buf = [0u8; 1024];
                while let Ok(n) = c.read(&mut buf) {
                    if n == 0 || c.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            });
        }
    });
    let local = tests::harness::free_port();
    let cache = tempfile::tempdir().expect("cache");
    let mut pf = Command::new("/usr/bin/kubectl")
        .args(["--server", &api.url, "--cache-dir"])
        .arg(cache.path())
        .args(["port-forward", "pod/one", &format!("{local}:{echo_port}")])
        .env("KUBECONFIG", "/dev/null")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubectl port-forward");
    let reply = tokio::task::spawn_blocking(move || {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut replies = Vec::new();
        // Two connections in a row: each gets its own stream pair.
        for msg in ["ping one", "ping two"] {
            let mut conn = loop {
                match std::net::TcpStream::connect(("127.0.0.1", local)) {
                    Ok(c) => break c,
                    Err(_) if Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(100))
                    }
                    Err(e) => return Err(format!("connect to the forwarded port: {e}")),
                }
            };
            conn.set_read_timeout(Some(Duration::from_secs(10)))
                .map_err(|e| e.to_string())?;
            conn.write_all(msg.as_bytes()).map_err(|e| e.to_string())?;
            let mut buf = vec![0u8; msg.len()];
            conn.read_exact(&mut buf)
                .map_err(|e| format!("read back: {e}"))?;
            replies.push(String::from_utf8_lossy(&buf).into_owned());
        }
        Ok(replies)
    })
    .await
    .expect("join");
    let _ = pf.kill();
    let out = pf.wait_with_output().expect("port-forward output");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        reply,
        Ok(vec!["ping one".to_string(), "ping two".to_string()]),
        "stdout: {} stderr: {stderr}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stdout)
        .contains(&format!("Forwarding from 127.0.0.1:{local}")));

    // Our kubectl's logs and exec print and exit exactly like the real one's.
    for (args, stdin) in [
        (vec!["logs", "one", "--tail=5", "--timestamps"], None),
        (vec!["logs", "two", "-c", "b"], None),
        (vec!["logs", "two"], None),
        (vec!["exec", "one", "--", "echo", "hello", "world"], None),
        (vec!["exec", "one", "--", "exit", "3"], None),
        (
            vec!["exec", "-i", "one", "--", "cat"],
            Some(&b"piped\nthrough\n"[..]),
        ),
        (vec!["exec", "two", "-c", "nope", "--", "true"], None),
        (vec!["exec", "nope", "--", "true"], None),
    ] {
        let server = api.url.clone();
        let a = args.clone();
        let real = tokio::task::spawn_blocking(move || kubectl(&server, &a, stdin))
            .await
            .expect("join");
        let server = api.url.clone();
        let a = args.clone();
        let ours = tokio::task::spawn_blocking(move || our_kubectl(&server, &a, stdin))
            .await
            .expect("join");
        assert_eq!(ours, real, "{args:?}");
    }
}

/// Reads a pod log over a WebSocket with `protocol`: the protocol the
/// server chose, the log, and whether it came as (base64) text messages.
async fn websocket_log(base: &str, path: &str, protocol: &str) -> (String, String, bool) {
    use base64::Engine;
    use futures::StreamExt;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    use tokio_tungstenite::tungstenite::Message;
    let mut req = format!("{}{path}", base.replace("http://", "ws://"))
        .into_client_request()
        .expect("a websocket request");
    req.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        protocol.parse().expect("a header value"),
    );
    let (mut socket, resp) = tokio_tungstenite::connect_async(req)
        .await
        .expect("the upgrade");
    let chosen = resp
        .headers()
        .get("Sec-WebSocket-Protocol")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let (mut log, mut text) = (Vec::new(), false);
    while let Some(msg) = socket.next().await {
        match msg.expect("a message") {
            Message::Binary(b) => log.extend_from_slice(&b),
            Message::Text(t) => {
                text = true;
                log.extend(
                    base64::engine::general_purpose::STANDARD
                        .decode(t.as_str())
                        .expect("base64"),
                );
            }
            Message::Close(_) => break,
            _ => {}
        }
    }
    (chosen, String::from_utf8(log).expect("utf-8"), text)
}
