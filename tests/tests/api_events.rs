//! Events at `events.k8s.io/v1` and `core/v1`, against a real etcd and
//! apiserver with the real kubectl: one storage, two shapes. An Event
//! written in the new shape reads in the old one (and the other way), both
//! lists hold it, each version's field selectors use its own names, the
//! new API's strict rules refuse what upstream refuses (a 422 naming the
//! fields), an update may change only the series, a watch at the new
//! version sees the new shape, discovery lists the group, and
//! `kubectl get events.events.k8s.io` prints the events table. Events
//! carry no `metadata.generation` (upstream sets none), so an Event read
//! back after an update differs only where it was changed.

use std::time::Duration;

use serde_json::{json, Value};
use tests::harness::{kubectl, ApiServer, Etcd};

const NEW: &str = "/apis/events.k8s.io/v1/namespaces/default/events";
const CORE: &str = "/api/v1/namespaces/default/events";

fn new_event(name: &str) -> Value {
    json!({"apiVersion": "events.k8s.io/v1", "kind": "Event",
        "metadata": {"name": name, "labels": {"testevent": "true"}},
        "regarding": {"namespace": "default", "kind": "Pod", "name": "web-0"},
        "eventTime": "2017-09-19T13:49:16.000000Z", "note": format!("This is {name}"),
        "action": "Do", "reason": "Test", "type": "Normal",
        "reportingController": "test-controller", "reportingInstance": "test-node"})
}

fn names(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i["metadata"]["name"].as_str().map(String::from))
        .collect()
}

/// `obj` without what the server changes on every write.
fn without_version(obj: &Value) -> Value {
    let mut o = obj.clone();
    if let Some(meta) = o["metadata"].as_object_mut() {
        meta.remove("resourceVersion");
        meta.remove("managedFields");
    }
    o
}

#[tokio::test]
async fn events_k8s_io_serves_the_core_events_in_the_new_shape() {
    let etcd = Etcd::start().await.expect("etcd");
    let api = ApiServer::start(&etcd).await.expect("apiserver");
    let http = api.http();

    // Discovery: the group, its one version, the resource.
    let group = http.get("/apis/events.k8s.io").await.expect("group");
    assert_eq!(group.status, 200, "{}", group.body);
    assert_eq!(group.body["preferredVersion"]["version"], "v1");
    let resources = http.get("/apis/events.k8s.io/v1").await.expect("v1");
    let events = resources.body["resources"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["name"] == "events")
        .cloned()
        .unwrap_or_else(|| panic!("no events: {}", resources.body));
    assert_eq!(events["kind"], "Event");
    assert_eq!(events["namespaced"], true);

    // A watch at the new version, opened before anything is written.
    let mut watch = http
        .watch(&format!("{NEW}?watch=true"))
        .await
        .expect("watch");

    // Created in the new shape; read back in both.
    let created = http.post(NEW, &new_event("e1")).await.expect("create");
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body["apiVersion"], "events.k8s.io/v1");
    assert_eq!(created.body["regarding"]["name"], "web-0");
    assert!(created.body.get("involvedObject").is_none());
    assert!(
        created.body["metadata"].get("generation").is_none(),
        "{}",
        created.body
    );
    let core = http.get(&format!("{CORE}/e1")).await.expect("core get");
    assert_eq!(core.status, 200, "{}", core.body);
    assert_eq!(core.body["apiVersion"], "v1");
    assert_eq!(core.body["involvedObject"]["name"], "web-0");
    assert_eq!(core.body["message"], "This is e1");
    assert_eq!(core.body["reportingComponent"], "test-controller");
    let event = watch
        .next(Duration::from_secs(10))
        .await
        .expect("watch event");
    assert_eq!(event["type"], "ADDED");
    assert_eq!(event["object"]["apiVersion"], "events.k8s.io/v1");
    assert_eq!(event["object"]["note"], "This is e1");

    // A core Event written the old way reads in the new shape too.
    let old_style = json!({"apiVersion": "v1", "kind": "Event",
        "metadata": {"name": "old", "namespace": "default"},
        "involvedObject": {"namespace": "default", "kind": "Node", "name": "n1"},
        "reason": "Started", "message": "started", "source": {"component": "kubelet", "host": "n1"},
        "firstTimestamp": "2026-01-01T00:00:00Z", "lastTimestamp": "2026-01-01T00:00:01Z",
        "count": 2, "type": "Normal"});
    let r = http.post(CORE, &old_style).await.expect("core create");
    assert_eq!(r.status, 201, "{}", r.body);
    let r = http.get(&format!("{NEW}/old")).await.expect("new get");
    assert_eq!(r.body["deprecatedSource"]["component"], "kubelet");
    assert_eq!(r.body["deprecatedCount"], 2);
    assert_eq!(r.body["regarding"]["kind"], "Node");
    assert_eq!(r.body["note"], "started");

    // Both lists, cluster-wide and namespaced, hold both.
    for path in [NEW, CORE, "/apis/events.k8s.io/v1/events", "/api/v1/events"] {
        let list = http.get(path).await.expect("list");
        assert_eq!(list.status, 200, "{path}: {}", list.body);
        let got = names(&list.body);
        assert!(
            got.contains(&"e1".to_string()) && got.contains(&"old".to_string()),
            "{path}: {got:?}"
        );
    }

    // Field selectors in each version's own names.
    let by_source = http
        .get(&format!("{CORE}?fieldSelector=source%3Dtest-controller"))
        .await
        .expect("core by source");
    assert_eq!(names(&by_source.body), ["e1"], "{}", by_source.body);
    let by_controller = http
        .get(&format!(
            "{NEW}?fieldSelector=reportingController%3Dtest-controller"
        ))
        .await
        .expect("new by reportingController");
    assert_eq!(names(&by_controller.body), ["e1"], "{}", by_controller.body);
    let by_kind = http
        .get(&format!("{NEW}?fieldSelector=regarding.kind%3DNode"))
        .await
        .expect("new by regarding.kind");
    assert_eq!(names(&by_kind.body), ["old"], "{}", by_kind.body);
    let old_name = http
        .get(&format!("{NEW}?fieldSelector=involvedObject.kind%3DNode"))
        .await
        .expect("old name at new version");
    assert_eq!(old_name.status, 400, "{}", old_name.body);
    assert!(
        old_name.body["message"]
            .as_str()
            .is_some_and(|m| m.contains("field label not supported: involvedObject.kind")),
        "{}",
        old_name.body
    );

    // A strategic merge patch adds a series; nothing else changes.
    let before = http.get(&format!("{NEW}/e1")).await.expect("get");
    let series = json!({"count": 2, "lastObservedTime": "2017-09-19T13:49:11.000000Z"});
    let r = http
        .patch(
            &format!("{NEW}/e1"),
            "application/strategic-merge-patch+json",
            &json!({"series": series}),
        )
        .await
        .expect("patch");
    assert_eq!(r.status, 200, "{}", r.body);
    let after = http.get(&format!("{NEW}/e1")).await.expect("get");
    let mut expected = without_version(&before.body);
    expected["series"] = series.clone();
    assert_eq!(without_version(&after.body), expected);

    // An update may change the series, not the note.
    let mut update = after.body.clone();
    update["series"] = json!({"count": 100, "lastObservedTime": "2017-09-19T13:49:16.000000Z"});
    let r = http.put(&format!("{NEW}/e1"), &update).await.expect("put");
    assert_eq!(r.status, 200, "{}", r.body);
    let mut changed = r.body.clone();
    changed["note"] = json!("rewritten");
    let r = http.put(&format!("{NEW}/e1"), &changed).await.expect("put");
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(
        r.body["details"]["causes"][0]["field"], "message",
        "{}",
        r.body
    );

    // The strict rules of a new Event in this version.
    let mut bad = new_event("bad");
    bad["type"] = json!("Odd");
    bad["deprecatedCount"] = json!(3);
    bad["series"] = json!({"count": 1, "lastObservedTime": "2017-09-19T13:49:11.000000Z"});
    let r = http.post(NEW, &bad).await.expect("bad create");
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(r.body["reason"], "Invalid");
    let fields: Vec<&str> = r.body["details"]["causes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["field"].as_str())
        .collect();
    assert_eq!(fields, ["series.count", "type", "count"], "{}", r.body);
    let missing = http.get(&format!("{CORE}/bad")).await.expect("get bad");
    assert_eq!(missing.status, 404, "nothing half done: {}", missing.body);

    // The real kubectl prints the same table for both groups.
    let k = |args: &[&str]| kubectl(&api.url, args).expect("kubectl runs");
    let table = k(&["get", "events.events.k8s.io", "-o", "wide"]);
    assert!(table.success, "{table:?}");
    assert!(table.stdout.contains("pod/web-0"), "{}", table.stdout);
    assert!(
        table.stdout.contains("test-controller, test-node"),
        "{}",
        table.stdout
    );
    assert!(table.stdout.contains("kubelet, n1"), "{}", table.stdout);
    let versions = k(&["api-versions"]);
    assert!(versions.stdout.contains("events.k8s.io/v1"), "{versions:?}");

    // Deleting a collection in the new version removes them from both.
    let r = http
        .delete(&format!("{NEW}?labelSelector=testevent%3Dtrue"), None)
        .await
        .expect("delete collection");
    assert_eq!(r.status, 200, "{}", r.body);
    let left = http.get(CORE).await.expect("list");
    assert_eq!(names(&left.body), ["old"], "{}", left.body);
}

/// A core/v1 Event named `name`.
fn core_event(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Event",
        "metadata": {"name": name},
        "involvedObject": {"namespace": "default", "kind": "Pod", "name": "web-0"},
        "reason": "Test", "message": format!("This is {name}"), "type": "Normal", "count": 1})
}

#[tokio::test]
async fn events_expire_after_the_event_ttl_even_when_updated() {
    let etcd = Etcd::start().await.expect("etcd");
    let api = ApiServer::start_with(&etcd, &["--event-ttl", "3s"])
        .await
        .expect("apiserver");
    let http = api.http();
    let r = http.post(CORE, &core_event("short")).await.expect("create");
    assert_eq!(r.status, 201, "{}", r.body);
    // An update 1 s later (a repeated Event's count) keeps it expiring:
    // its lease comes along with every write.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut again = r.body.clone();
    again["count"] = json!(2);
    let u = http
        .put(&format!("{CORE}/short"), &again)
        .await
        .expect("update");
    assert_eq!(u.status, 200, "{}", u.body);
    let updated = std::time::Instant::now();
    // A ConfigMap next to it stays.
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "stays"}});
    let c = http
        .post("/api/v1/namespaces/default/configmaps", &cm)
        .await
        .expect("configmap");
    assert_eq!(c.status, 201, "{}", c.body);
    let mut gone = None;
    for _ in 0..100 {
        let g = http.get(&format!("{CORE}/short")).await.expect("get");
        if g.status == 404 {
            gone = Some(updated.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let gone = gone.expect("the Event was still there 10 s after its update with a 3 s TTL");
    assert!(
        gone >= Duration::from_millis(2900),
        "deleted before its TTL had passed since the update: {gone:?}"
    );
    let list = http.get(CORE).await.expect("list");
    assert!(!names(&list.body).contains(&"short".to_string()));
    let c = http
        .get("/api/v1/namespaces/default/configmaps/stays")
        .await
        .expect("configmap");
    assert_eq!(c.status, 200, "only Events expire");
}
