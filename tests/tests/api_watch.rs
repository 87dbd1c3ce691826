//! Watch semantics: events strictly after the requested resourceVersion, in
//! order; synthetic ADDED events for `resourceVersion=0`; selectors that turn
//! updates into ADDED/DELETED when an object starts/stops matching; bookmarks;
//! `timeoutSeconds`; and a too-old resourceVersion (compacted in etcd) as an
//! ERROR event carrying a 410 Status inside a 200 stream.

use std::time::Duration;

use futures::StreamExt;
use serde_json::{json, Value};
use tests::harness::{ApiServer, Etcd, Http, Watch};

const T: Duration = Duration::from_secs(10);

async fn cluster() -> (Etcd, ApiServer, Http) {
    let etcd = Etcd::start().await.expect("etcd");
    let api = ApiServer::start(&etcd).await.expect("apiserver");
    let http = api.http();
    (etcd, api, http)
}

fn cm(name: &str, app: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "labels": {"app": app}}, "data": {"v": "0"}})
}

async fn next(w: &mut Watch) -> (String, String, String) {
    let ev = w.next(T).await.expect("an event in time");
    (
        ev["type"].as_str().unwrap_or("").to_string(),
        ev["object"]["metadata"]["name"]
            .as_str()
            .unwrap_or("")
            .to_string(),
        ev["object"]["metadata"]["resourceVersion"]
            .as_str()
            .unwrap_or("")
            .to_string(),
    )
}

#[tokio::test]
async fn watch_from_list_rv_sees_exactly_the_later_events_in_order() {
    let (_etcd, _api, http) = cluster().await;
    let base = "/api/v1/namespaces/default/configmaps";
    http.post(base, &cm("before", "a")).await.expect("create");
    let list = http.get(base).await.expect("list");
    let rv = list.body["metadata"]["resourceVersion"]
        .as_str()
        .expect("rv")
        .to_string();
    let mut w = http
        .watch(&format!("{base}?watch=true&resourceVersion={rv}"))
        .await
        .expect("watch");
    assert_eq!(w.status, 200);
    http.post(base, &cm("x", "a")).await.expect("create");
    http.patch(
        &format!("{base}/x"),
        "application/merge-patch+json",
        &json!({"data": {"v": "1"}}),
    )
    .await
    .expect("patch");
    http.delete(&format!("{base}/x"), None)
        .await
        .expect("delete");
    let mut last = rv.parse::<i64>().expect("number");
    for want in ["ADDED", "MODIFIED", "DELETED"] {
        let (ty, name, ev_rv) = next(&mut w).await;
        assert_eq!((ty.as_str(), name.as_str()), (want, "x"));
        let ev_rv: i64 = ev_rv.parse().expect("event rv");
        assert!(ev_rv > last, "resourceVersions increase");
        last = ev_rv;
    }
    assert!(
        w.next(Duration::from_millis(300)).await.is_none(),
        "nothing else"
    );

    // Resuming from the middle replays only what came after.
    let mut w2 = http
        .watch(&format!("{base}?watch=true&resourceVersion={rv}"))
        .await
        .expect("watch");
    let (ty, _, _) = next(&mut w2).await;
    assert_eq!(ty, "ADDED");
}

#[tokio::test]
async fn rv0_initial_events_selectors_and_single_object_watch() {
    let (_etcd, _api, http) = cluster().await;
    let base = "/api/v1/namespaces/default/configmaps";
    http.post(base, &cm("web1", "web")).await.expect("create");
    http.post(base, &cm("db1", "db")).await.expect("create");
    let mut w = http
        .watch(&format!(
            "{base}?watch=1&resourceVersion=0&labelSelector=app%3Dweb"
        ))
        .await
        .expect("watch");
    let (ty, name, _) = next(&mut w).await;
    assert_eq!((ty.as_str(), name.as_str()), ("ADDED", "web1"));
    // db1 starts matching: ADDED; web1 stops matching: DELETED.
    http.patch(
        &format!("{base}/db1"),
        "application/merge-patch+json",
        &json!({"metadata": {"labels": {"app": "web"}}}),
    )
    .await
    .expect("patch");
    let (ty, name, _) = next(&mut w).await;
    assert_eq!((ty.as_str(), name.as_str()), ("ADDED", "db1"));
    http.patch(
        &format!("{base}/web1"),
        "application/merge-patch+json",
        &json!({"metadata": {"labels": {"app": "other"}}}),
    )
    .await
    .expect("patch");
    let (ty, name, _) = next(&mut w).await;
    assert_eq!((ty.as_str(), name.as_str()), ("DELETED", "web1"));

    // kubectl get <kind> <name> -w: a name field selector and RV 0.
    let mut one = http
        .watch(&format!(
            "{base}?watch=1&resourceVersion=0&fieldSelector=metadata.name%3Ddb1"
        ))
        .await
        .expect("watch one");
    let (ty, name, _) = next(&mut one).await;
    assert_eq!((ty.as_str(), name.as_str()), ("ADDED", "db1"));
    http.patch(
        &format!("{base}/web1"),
        "application/merge-patch+json",
        &json!({"data": {"v": "9"}}),
    )
    .await
    .expect("patch other");
    http.patch(
        &format!("{base}/db1"),
        "application/merge-patch+json",
        &json!({"data": {"v": "9"}}),
    )
    .await
    .expect("patch");
    let (ty, name, _) = next(&mut one).await;
    assert_eq!((ty.as_str(), name.as_str()), ("MODIFIED", "db1"));
}

#[tokio::test]
async fn bookmarks_and_timeouts() {
    let (_etcd, _api, http) = cluster().await;
    let base = "/api/v1/namespaces/default/configmaps";
    let rv = http.get(base).await.expect("list").body["metadata"]["resourceVersion"]
        .as_str()
        .expect("rv")
        .to_string();
    let mut w = http
        .watch(&format!(
            "{base}?watch=1&resourceVersion={rv}&allowWatchBookmarks=true&timeoutSeconds=30"
        ))
        .await
        .expect("watch");
    let ev = w.next(Duration::from_secs(12)).await.expect("a bookmark");
    assert_eq!(ev["type"], "BOOKMARK");
    assert_eq!(ev["object"]["kind"], "ConfigMap");
    let brv: i64 = ev["object"]["metadata"]["resourceVersion"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("bookmark rv");
    assert!(brv >= rv.parse::<i64>().expect("rv"));

    let mut short = http
        .watch(&format!(
            "{base}?watch=1&resourceVersion={rv}&timeoutSeconds=1"
        ))
        .await
        .expect("watch");
    assert!(
        short.ended(Duration::from_secs(5)).await,
        "timeoutSeconds ends the stream"
    );
}

#[tokio::test]
async fn too_old_resource_version_is_a_410_error_event() {
    let (etcd, mut api, http) = cluster().await;
    let base = "/api/v1/namespaces/default/configmaps";
    http.post(base, &cm("a", "x")).await.expect("create");
    let old = http.get(base).await.expect("list").body["metadata"]["resourceVersion"]
        .as_str()
        .expect("rv")
        .to_string();
    for i in 0..3 {
        http.patch(
            &format!("{base}/a"),
            "application/merge-patch+json",
            &json!({"data": {"v": i.to_string()}}),
        )
        .await
        .expect("patch");
    }
    etcd.compact().await.expect("compact");
    // A new apiserver process's caches start after the compaction: the old
    // revision could only come from etcd's history, which is gone.
    api.restart().await.expect("apiserver restarted");
    let mut w = http
        .watch(&format!("{base}?watch=1&resourceVersion={old}"))
        .await
        .expect("watch");
    assert_eq!(w.status, 200, "the 410 travels inside a 200 stream");
    let ev = w.next(T).await.expect("an error event");
    assert_eq!(ev["type"], "ERROR");
    assert_eq!(ev["object"]["kind"], "Status");
    assert_eq!(ev["object"]["code"], 410);
    assert_eq!(ev["object"]["reason"], "Expired");
    assert!(w.ended(T).await);
}

/// A bookmark tells the client "everything up to here was delivered": it
/// must never overtake events still queued for a slow watcher, or a client
/// that resumes from the bookmark (every informer does) silently loses them.
#[tokio::test]
async fn a_bookmark_never_overtakes_events_queued_for_a_slow_watcher() {
    use http_body_util::BodyExt;
    let (_etcd, api, http) = cluster().await;
    let base = "/api/v1/namespaces/default/configmaps";
    let rv = http.get(base).await.expect("list").body["metadata"]["resourceVersion"]
        .as_str()
        .expect("rv")
        .to_string();
    // A watch whose body is not read for a while: the socket buffers fill,
    // and the server's events for it queue up behind them.
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Full<bytes::Bytes>>();
    let req = http::Request::get(format!(
        "{}{base}?watch=1&resourceVersion={rv}&allowWatchBookmarks=true&timeoutSeconds=60",
        api.url
    ))
    .body(http_body_util::Full::new(bytes::Bytes::new()))
    .expect("request");
    let resp = client.request(req).await.expect("watch");
    assert_eq!(resp.status(), 200);
    let mut body = resp.into_body();

    // 1,000 ConfigMaps of 16 KiB: far more than the socket buffers hold,
    // fewer than the cache's per-watcher queue.
    let big = "x".repeat(16 * 1024);
    let writes = futures::stream::iter(0..1000)
        .map(|i| {
            let http = http.clone();
            let big = big.clone();
            async move {
                let obj = json!({"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": format!("big-{i}")}, "data": {"v": big}});
                http.post(base, &obj).await.expect("create").status
            }
        })
        .buffer_unordered(8);
    let statuses: Vec<u16> = futures::StreamExt::collect(writes).await;
    assert!(statuses.iter().all(|s| *s == 201));
    // Past the bookmark interval (5 s) with events still queued.
    tokio::time::sleep(Duration::from_secs(6)).await;

    let mut buf: Vec<u8> = Vec::new();
    let mut bookmark = 0i64;
    let mut events = 0;
    let mut overtaken = Vec::new();
    while events < 1000 {
        let frame = tokio::time::timeout(T, body.frame())
            .await
            .expect("the stream goes on")
            .expect("a frame")
            .expect("no body error");
        let Ok(data) = frame.into_data() else {
            continue;
        };
        buf.extend_from_slice(&data);
        while let Some(pos) = buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buf.drain(..=pos).collect();
            let ev: Value = serde_json::from_slice(&line).expect("a JSON event");
            let rv: i64 = ev["object"]["metadata"]["resourceVersion"]
                .as_str()
                .and_then(|s| s.parse().ok())
                .expect("an rv");
            if ev["type"] == "BOOKMARK" {
                bookmark = bookmark.max(rv);
            } else {
                events += 1;
                if rv <= bookmark {
                    overtaken.push((rv, bookmark));
                }
            }
        }
    }
    assert!(
        overtaken.is_empty(),
        "events delivered after a bookmark at or past them (rv, bookmark): {:?}",
        &overtaken[..overtaken.len().min(5)]
    );
}

/// The apiserver's count of open watches of `resource`.
async fn open_watches(http: &Http, resource: &str) -> Option<u64> {
    let (_, text) = http.get_text("/metrics").await.ok()?;
    let line = format!("apiserver_registered_watchers{{resource=\"{resource}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(line.as_str()))
        .and_then(|v| v.trim().parse().ok())
}

#[tokio::test]
async fn a_watch_ends_when_its_client_goes_away_even_without_events() {
    let (_etcd, _api, http) = cluster().await;
    let base = "/api/v1/namespaces/default/configmaps";
    let w = http
        .watch(&format!("{base}?watch=true"))
        .await
        .expect("watch");
    assert_eq!(w.status, 200);
    assert_eq!(open_watches(&http, "configmaps").await, Some(1));
    // No event and no bookmark will come: only the closed connection
    // tells the server (else the watch would live to its timeout).
    drop(w);
    let closed = tests::harness::eventually(Duration::from_secs(3), || async {
        (open_watches(&http, "configmaps").await == Some(0)).then_some(())
    })
    .await;
    assert!(
        closed.is_some(),
        "the watch of a client that went away is still open: {:?}",
        open_watches(&http, "configmaps").await
    );
}
