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

/// A watch whose resourceVersion is older than the watch cache (listed from
/// the apiserver process before this one) reads etcd's history first; an
/// etcd restart must not turn that watch into an `ERROR` either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_older_than_the_cache_survives_an_etcd_restart() {
    let mut etcd = Etcd::start().await.expect("etcd");
    let mut api = ApiServer::start(&etcd).await.expect("apiserver");
    let http = api.http();
    let base = "/api/v1/namespaces/default/configmaps";
    let old = list_rv(&http, base).await;
    let r = http.post(base, &configmap("before")).await.expect("create");
    assert_eq!(r.status, 201, "{}", r.body);
    // A new apiserver process starts its caches after "before": a watch
    // from `old` must be served from etcd's history.
    api.restart().await.expect("apiserver restarted");
    let mut w = http
        .watch(&format!(
            "{base}?watch=1&resourceVersion={old}&allowWatchBookmarks=true"
        ))
        .await
        .expect("watch");
    let ev = next_change(&mut w).await.expect("replayed event");
    assert_eq!(ev["type"], "ADDED");
    assert_eq!(ev["object"]["metadata"]["name"], "before");

    etcd.restart().await.expect("etcd restarted");
    wait_ready(&http).await;
    let r = http.post(base, &configmap("after")).await.expect("create");
    assert_eq!(r.status, 201, "{}", r.body);
    let ev = next_change(&mut w).await;
    if ev.is_none() {
        eprintln!(
            "{}",
            std::fs::read_to_string(api.log_path()).unwrap_or_default()
        );
    }
    let ev = ev.expect("the watch goes on");
    assert_eq!(ev["type"], "ADDED", "{ev}");
    assert_eq!(ev["object"]["metadata"]["name"], "after");
}

/// Writes go on while etcd is killed and restarted; every watcher, whether
/// it follows the watch cache or etcd's history, sees every acknowledged
/// write exactly once, in resourceVersion order, and no `ERROR`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_watches_see_every_write_exactly_once_across_an_etcd_restart() {
    let mut etcd = Etcd::start().await.expect("etcd");
    let mut api = ApiServer::start(&etcd).await.expect("apiserver");
    let http = api.http();
    let base = "/api/v1/namespaces/default/configmaps";
    // `start` predates the caches of the restarted apiserver, so watches
    // from it follow etcd's history; watches from `fresh` follow the cache.
    let start = list_rv(&http, base).await;
    api.restart().await.expect("apiserver restarted");
    let fresh = list_rv(&http, base).await;
    let mut watches = Vec::new();
    for rv in [&start, &fresh] {
        watches.push(
            http.watch(&format!("{base}?watch=1&resourceVersion={rv}"))
                .await
                .expect("watch"),
        );
    }

    // acked: (name, resourceVersion) answered 201; maybe: failed requests,
    // which may or may not have reached etcd before it died.
    let acked: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let maybe: Arc<Mutex<Vec<String>>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..4 {
        let (http, acked, maybe, stop) = (
            http.clone(),
            Arc::clone(&acked),
            Arc::clone(&maybe),
            Arc::clone(&stop),
        );
        writers.push(tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let name = format!("w{w}-{i}");
                i += 1;
                match http.post(base, &configmap(&name)).await {
                    Ok(r) if r.status == 201 => {
                        let rv = r.body["metadata"]["resourceVersion"]
                            .as_str()
                            .unwrap_or("")
                            .to_string();
                        if let Ok(mut a) = acked.lock() {
                            a.push((name, rv));
                        }
                    }
                    _ => {
                        if let Ok(mut m) = maybe.lock() {
                            m.push(name);
                        }
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }));
    }
    let acked_count = || acked.lock().map(|a| a.len()).unwrap_or(0);
    let wait_for = |n: usize| {
        let acked = Arc::clone(&acked);
        eventually(Duration::from_secs(60), move || {
            let acked = Arc::clone(&acked);
            async move { (acked.lock().map(|a| a.len()).unwrap_or(0) >= n).then_some(()) }
        })
    };
    wait_for(40).await.expect("writes before the outage");
    // Watchers opened in the middle of the writes see the same history.
    for rv in [&start, &fresh] {
        watches.push(
            http.watch(&format!("{base}?watch=1&resourceVersion={rv}"))
                .await
                .expect("watch"),
        );
    }
    etcd.stop();
    tokio::time::sleep(Duration::from_secs(1)).await;
    etcd.restart().await.expect("etcd restarted");
    let after_restart = acked_count();
    wait_for(after_restart + 40)
        .await
        .expect("writes after the outage");
    // And so do watchers opened after the outage, from before it.
    for rv in [&start, &fresh] {
        watches.push(
            http.watch(&format!("{base}?watch=1&resourceVersion={rv}"))
                .await
                .expect("watch"),
        );
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for w in writers {
        let _ = w.await;
    }
    let acked = acked.lock().map(|a| a.clone()).unwrap_or_default();
    let maybe: std::collections::HashSet<String> = maybe
        .lock()
        .map(|m| m.iter().cloned().collect())
        .unwrap_or_default();
    let want: std::collections::HashMap<String, String> = acked.into_iter().collect();

    for (i, w) in watches.iter_mut().enumerate() {
        let mut seen: std::collections::HashMap<String, String> = Default::default();
        let mut last_rv = 0i64;
        let deadline = Instant::now() + Duration::from_secs(30);
        while want.keys().any(|k| !seen.contains_key(k)) {
            let left = deadline.saturating_duration_since(Instant::now());
            let ev = w.next(left).await.unwrap_or_else(|| {
                let missing: Vec<_> = want.keys().filter(|k| !seen.contains_key(*k)).collect();
                panic!("watcher {i}: ended or timed out; missing {missing:?}")
            });
            assert_ne!(ev["type"], "ERROR", "watcher {i}: {ev}");
            if ev["type"] == "BOOKMARK" {
                continue;
            }
            assert_eq!(ev["type"], "ADDED", "watcher {i}: {ev}");
            let name = ev["object"]["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let rv_text = ev["object"]["metadata"]["resourceVersion"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let rv: i64 = rv_text.parse().expect("numeric resourceVersion");
            assert!(rv > last_rv, "watcher {i}: {name} at {rv} after {last_rv}");
            last_rv = rv;
            match want.get(&name) {
                Some(acked_rv) => assert_eq!(*acked_rv, rv_text, "watcher {i}: {name}"),
                None => assert!(maybe.contains(&name), "watcher {i}: unknown {name}"),
            }
            assert!(
                seen.insert(name.clone(), rv_text).is_none(),
                "watcher {i}: {name} delivered twice"
            );
        }
    }
}

fn configmap(name: &str) -> serde_json::Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}})
}

async fn list_rv(http: &tests::harness::Http, path: &str) -> String {
    http.get(path).await.expect("list").body["metadata"]["resourceVersion"]
        .as_str()
        .expect("list resourceVersion")
        .to_string()
}

async fn wait_ready(http: &tests::harness::Http) {
    eventually(Duration::from_secs(20), || {
        let http = http.clone();
        async move { matches!(http.get_text("/readyz").await, Ok((200, _))).then_some(()) }
    })
    .await
    .expect("ready again");
}

/// The next event that is not a bookmark, within 15 seconds.
async fn next_change(w: &mut tests::harness::Watch) -> Option<serde_json::Value> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let ev = w
            .next(deadline.saturating_duration_since(Instant::now()))
            .await?;
        if ev["type"] != "BOOKMARK" {
            return Some(ev);
        }
    }
}
