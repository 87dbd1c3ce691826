//! Failures: `kill -9` of the apiserver under a write load loses no
//! acknowledged write, and a restarted server serves the same objects and
//! resourceVersions and replays history to watchers; an etcd outage turns
//! requests into fast 503/504 Statuses and a failing `/readyz`, and
//! everything (open watches included) recovers when etcd returns, without
//! restarting the apiserver.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use tests::harness::{eventually, ApiServer, Etcd};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_under_load_loses_no_acknowledged_write() {
    let etcd = Etcd::start().await.expect("etcd");
    let mut api = ApiServer::start(&etcd).await.expect("apiserver");
    let http = api.http();
    let acked: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let mut writers = Vec::new();
    for w in 0..8 {
        let http = http.clone();
        let acked = Arc::clone(&acked);
        writers.push(tokio::spawn(async move {
            for i in 0..1000 {
                let name = format!("w{w}-{i}");
                let body =
                    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}});
                match http
                    .post("/api/v1/namespaces/default/configmaps", &body)
                    .await
                {
                    Ok(r) if r.status == 201 => {
                        let rv = r.body["metadata"]["resourceVersion"]
                            .as_str()
                            .unwrap_or("")
                            .to_string();
                        if let Ok(mut a) = acked.lock() {
                            a.push((name, rv));
                        }
                    }
                    // The server died under us: stop writing.
                    _ => return,
                }
            }
        }));
    }
    // Let the load run, then kill -9 in the middle of it.
    eventually(Duration::from_secs(20), || {
        let acked = Arc::clone(&acked);
        async move { (acked.lock().map(|a| a.len()).unwrap_or(0) > 200).then_some(()) }
    })
    .await
    .expect("writes are acknowledged");
    api.kill9();
    for w in writers {
        let _ = w.await;
    }
    let acked = acked.lock().map(|a| a.clone()).unwrap_or_default();
    assert!(!acked.is_empty());
    for (name, rv) in &acked {
        let stored = etcd
            .get_raw(&format!("/registry/configmaps/default/{name}"))
            .await
            .expect("etcd read");
        let (_, mod_rev) = stored.unwrap_or_else(|| panic!("acknowledged {name} is not in etcd"));
        assert_eq!(
            mod_rev.to_string(),
            *rv,
            "{name}: etcd revision is the resourceVersion"
        );
    }

    // Restarted, it serves the same objects and versions...
    api.restart().await.expect("restart");
    let http = api.http();
    for (name, rv) in acked.iter().take(50) {
        let r = http
            .get(&format!("/api/v1/namespaces/default/configmaps/{name}"))
            .await
            .expect("get");
        assert_eq!(r.body["metadata"]["resourceVersion"], rv.as_str());
    }
    // ...and a watch from an earlier resourceVersion replays the history.
    let (first_name, first_rv) = acked.first().cloned().expect("one write");
    let earlier: i64 = first_rv.parse::<i64>().expect("rv") - 1;
    let mut w = http
        .watch(&format!(
            "/api/v1/namespaces/default/configmaps?watch=1&resourceVersion={earlier}"
        ))
        .await
        .expect("watch");
    let ev = w
        .next(Duration::from_secs(10))
        .await
        .expect("replayed event");
    assert_eq!(ev["type"], "ADDED");
    assert_eq!(ev["object"]["metadata"]["name"], first_name.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_outage_fails_fast_and_recovers_without_restart() {
    let mut etcd = Etcd::start().await.expect("etcd");
    let api = ApiServer::start(&etcd).await.expect("apiserver");
    let http = api.http();
    let base = "/api/v1/namespaces/default/configmaps";
    let rv = http.get(base).await.expect("list").body["metadata"]["resourceVersion"]
        .as_str()
        .expect("rv")
        .to_string();
    let mut w = http
        .watch(&format!("{base}?watch=1&resourceVersion={rv}"))
        .await
        .expect("watch");

    etcd.stop();
    let start = Instant::now();
    let r = http.get(&format!("{base}/anything")).await.expect("answer");
    assert!(
        start.elapsed() < Duration::from_secs(8),
        "fails within a few seconds"
    );
    assert!(
        r.status == 503 || r.status == 504,
        "got {}: {}",
        r.status,
        r.body
    );
    assert_eq!(r.body["kind"], "Status");
    let r = http
        .post(
            base,
            &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "during"}}),
        )
        .await
        .expect("answer");
    assert!(r.status == 503 || r.status == 504, "got {}", r.status);
    let (code, _) = http.get_text("/readyz").await.expect("readyz");
    assert_ne!(code, 200, "not ready without etcd");
    let (code, _) = http.get_text("/healthz").await.expect("healthz");
    assert_eq!(code, 200, "still alive");

    etcd.restart().await.expect("etcd back");
    eventually(Duration::from_secs(20), || {
        let http = http.clone();
        async move { matches!(http.get_text("/readyz").await, Ok((200, _))).then_some(()) }
    })
    .await
    .expect("ready again");
    let r = http
        .post(
            base,
            &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "after"}}),
        )
        .await
        .expect("create");
    assert_eq!(r.status, 201, "{}", r.body);
    // The open watch resumed (or ended cleanly so a client re-lists).
    match w.next(Duration::from_secs(15)).await {
        Some(ev) => {
            assert_eq!(ev["type"], "ADDED");
            assert_eq!(ev["object"]["metadata"]["name"], "after");
        }
        None => assert!(w.ended(Duration::from_secs(1)).await),
    }
}
