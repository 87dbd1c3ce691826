//! What one client may take from the apiserver: time to send a request,
//! bytes in a body, open watches; and what 10,000 open watches cost.
//!
//! These speak raw HTTP/1.1 over TCP where a well-behaved client library
//! would hide the behaviour under test (a head that never ends, a body that
//! stalls, thousands of idle streams).

use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use tests::harness::{eventually, proc_status_kib, ApiServer, Etcd};

/// Generous bound for "the server reacted": ten times the configured limit.
const PATIENCE: Duration = Duration::from_secs(20);

fn addr(api: &ApiServer) -> String {
    api.url.trim_start_matches("http://").to_string()
}

/// Reads until the peer closes or `within` passes; returns what arrived and
/// whether the peer closed.
async fn read_until_closed(stream: &mut TcpStream, within: Duration) -> (String, bool) {
    let deadline = Instant::now() + within;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (String::from_utf8_lossy(&got).into_owned(), true),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => return (String::from_utf8_lossy(&got).into_owned(), false),
        }
    }
}

/// Reads the status line and headers of one response.
async fn read_head(stream: &mut TcpStream) -> String {
    let mut got = Vec::new();
    let mut byte = [0u8; 1];
    while !got.ends_with(b"\r\n\r\n") {
        match tokio::time::timeout(PATIENCE, stream.read(&mut byte)).await {
            Ok(Ok(1)) => got.push(byte[0]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_finishes_its_request_is_cut_off() {
    let etcd = Etcd::start().await.expect("etcd");
    let api = ApiServer::start_with(
        &etcd,
        &["--request-header-timeout", "1s", "--request-timeout", "2s"],
    )
    .await
    .expect("apiserver");

    // A head that never ends: the connection is closed.
    let mut slow = TcpStream::connect(addr(&api)).await.expect("connect");
    slow.write_all(b"GET /api HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("write");
    let (_, closed) = read_until_closed(&mut slow, PATIENCE).await;
    assert!(closed, "an unfinished request head holds the connection");

    // A body that stops half way: 504, and nothing is created.
    let mut stalled = TcpStream::connect(addr(&api)).await.expect("connect");
    let body = br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"half"}}"#;
    let head = format!(
        "POST /api/v1/namespaces/default/configmaps HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stalled.write_all(head.as_bytes()).await.expect("write");
    stalled.write_all(&body[..10]).await.expect("write");
    let (answer, _) = read_until_closed(&mut stalled, PATIENCE).await;
    assert!(answer.starts_with("HTTP/1.1 504"), "{answer}");
    assert!(answer.contains("\"reason\":\"Timeout\""), "{answer}");
    let r = api
        .http()
        .get("/api/v1/namespaces/default/configmaps/half")
        .await
        .expect("get");
    assert_eq!(r.status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_object_is_stored_and_a_too_large_body_refused_unread() {
    let etcd = Etcd::start().await.expect("etcd");
    let api = ApiServer::start(&etcd).await.expect("apiserver");
    let http = api.http();

    // 1.5 MiB: stored and read back whole. (A Secret or ConfigMap would be
    // refused by its own 1 MiB rule; a Deployment's template has none.)
    let big = "x".repeat(1536 * 1024);
    let deploy = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "big"},
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": {"app": "big"}},
            "template": {
                "metadata": {"labels": {"app": "big"}},
                "spec": {"containers": [{"name": "c", "image": "busybox",
                    "env": [{"name": "BIG", "value": big}]}]}
            }
        }
    });
    let r = http
        .post("/apis/apps/v1/namespaces/default/deployments", &deploy)
        .await
        .expect("create");
    assert_eq!(r.status, 201, "{}", r.body);
    let r = http
        .get("/apis/apps/v1/namespaces/default/deployments/big")
        .await
        .expect("get");
    let value = r.body["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"]
        .as_str()
        .map(str::len);
    assert_eq!(value, Some(big.len()));

    // 3 MiB announced: 413 before a byte of the body is sent.
    let mut stream = TcpStream::connect(addr(&api)).await.expect("connect");
    let head = format!(
        "POST /api/v1/namespaces/default/configmaps HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        3 * 1024 * 1024 + 1
    );
    stream.write_all(head.as_bytes()).await.expect("write");
    let answer = read_head(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");

    // Streamed without a length: refused once it passes the limit.
    let r = http
        .post(
            "/api/v1/namespaces/default/configmaps",
            &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "huge"},
                    "data": {"k": "y".repeat(3 * 1024 * 1024)}}),
        )
        .await
        .expect("post");
    assert_eq!(r.status, 413, "{}", r.body);
    assert_eq!(r.body["reason"], "RequestEntityTooLarge", "{}", r.body);
}

/// Opens a watch as `agent`; returns the stream and the response head.
async fn open_watch(api: &ApiServer, agent: &str) -> (TcpStream, String) {
    let mut stream = TcpStream::connect(addr(api)).await.expect("connect");
    let req = format!(
        "GET /api/v1/namespaces/default/configmaps?watch=1 HTTP/1.1\r\nHost: x\r\nUser-Agent: {agent}\r\n\r\n"
    );
    stream.write_all(req.as_bytes()).await.expect("write");
    let head = read_head(&mut stream).await;
    (stream, head)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_client_gets_a_clear_429_past_its_watch_limit() {
    let etcd = Etcd::start().await.expect("etcd");
    let api = ApiServer::start_with(&etcd, &["--max-watches-per-client", "3"])
        .await
        .expect("apiserver");
    let mut held = Vec::new();
    for _ in 0..3 {
        let (stream, head) = open_watch(&api, "greedy").await;
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        held.push(stream);
    }
    let (mut refused, head) = open_watch(&api, "greedy").await;
    assert!(head.starts_with("HTTP/1.1 429"), "{head}");
    assert!(
        head.to_ascii_lowercase().contains("retry-after: 1"),
        "{head}"
    );
    let (body, _) = read_until_closed(&mut refused, Duration::from_secs(2)).await;
    assert!(body.contains("too many open watches"), "{body}");

    // Another client is not affected.
    let (_other, head) = open_watch(&api, "polite").await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");

    // A watch that ends gives its slot back.
    drop(held.pop());
    let reopened = eventually(PATIENCE, || {
        let api = &api;
        async move {
            let (stream, head) = open_watch(api, "greedy").await;
            head.starts_with("HTTP/1.1 200").then_some(stream)
        }
    })
    .await;
    assert!(
        reopened.is_some(),
        "the closed watch's slot never came back"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_open_watches_cost_bounded_memory() {
    const WATCHES: usize = 10_000;
    let etcd = Etcd::start().await.expect("etcd");
    let api = ApiServer::start_with(&etcd, &["--max-watches-per-client", "0"])
        .await
        .expect("apiserver");
    let pid = api.pid().expect("pid");
    // Warm up what every watch shares (the cache, the router).
    let (warm, _) = open_watch(&api, "warmup").await;
    drop(warm);
    let before = proc_status_kib(pid, "VmRSS");
    let mut streams = Vec::with_capacity(WATCHES);
    for _ in 0..WATCHES {
        let (stream, head) = open_watch(&api, "many").await;
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        streams.push(stream);
    }
    let after = proc_status_kib(pid, "VmRSS");
    let per_watch = after.saturating_sub(before) as f64 / WATCHES as f64;
    println!(
        "{WATCHES} open watches: RSS {before} KiB -> {after} KiB, {per_watch:.1} KiB per watch"
    );

    // They all still work: one write reaches every one of them.
    let r = api
        .http()
        .post(
            "/api/v1/namespaces/default/configmaps",
            &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ping"}}),
        )
        .await
        .expect("create");
    assert_eq!(r.status, 201, "{}", r.body);
    for stream in streams.iter_mut().step_by(500) {
        let mut buf = vec![0u8; 8192];
        let n = tokio::time::timeout(PATIENCE, stream.read(&mut buf))
            .await
            .expect("an event within the patience")
            .expect("read");
        let text = String::from_utf8_lossy(&buf[..n]);
        assert!(text.contains("\"ping\""), "{text}");
    }
    // Bounded: an idle watch is a socket, a task and a channel, not a copy
    // of anything. 64 KiB each would be 640 MiB for 10,000.
    assert!(per_watch < 64.0, "{per_watch:.1} KiB per open watch");
}
