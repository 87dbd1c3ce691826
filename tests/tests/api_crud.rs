//! The apiserver's verbs against a real etcd: create (server-set fields,
//! generateName), get, list (label and field selectors, pagination,
//! all-namespace lists), update with optimistic concurrency, delete with
//! finalizers and graceful pod deletion, deletecollection, the status, scale
//! and binding subresources, namespaces, defaulting and validation.

use std::time::Duration;

use serde_json::{json, Value};
use tests::harness::{eventually, ApiServer, Etcd, Http};

async fn cluster() -> (Etcd, ApiServer, Http) {
    let etcd = Etcd::start().await.expect("etcd");
    let api = ApiServer::start(&etcd).await.expect("apiserver");
    let http = api.http();
    (etcd, api, http)
}

fn cm(name: &str, labels: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "labels": labels}, "data": {"k": "v"}})
}

fn pod(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
        "spec": {"containers": [{"name": "c", "image": "busybox:1.36"}]}})
}

fn names(list: &Value) -> Vec<String> {
    let mut n: Vec<String> = list["items"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|i| i["metadata"]["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    n.sort();
    n
}

/// A stale update is a 409 even when comparing the client's old copy with
/// the stored object would also be invalid: the Node lifecycle conformance
/// spec updates a node (with client-go's RetryOnConflict) while the node
/// IPAM controller sets its podCIDR, which may change only from "".
#[tokio::test]
async fn a_stale_update_is_a_conflict_before_it_is_invalid() {
    let (_etcd, _api, http) = cluster().await;
    let node = json!({"apiVersion": "v1", "kind": "Node",
        "metadata": {"name": "stale"}, "spec": {"unschedulable": true}});
    let created = http.post("/api/v1/nodes", &node).await.expect("create");
    assert_eq!(created.status, 201, "{}", created.body);
    let mut cidr = created.body.clone();
    cidr["spec"]["podCIDR"] = json!("10.244.7.0/24");
    cidr["spec"]["podCIDRs"] = json!(["10.244.7.0/24"]);
    let set = http.put("/api/v1/nodes/stale", &cidr).await.expect("put");
    assert_eq!(set.status, 200, "{}", set.body);

    let mut old = created.body.clone();
    old["metadata"]["labels"] = json!({"updated": "yes"});
    let stale = http.put("/api/v1/nodes/stale", &old).await.expect("put");
    assert_eq!(stale.status, 409, "{}", stale.body);
    assert_eq!(stale.body["reason"], "Conflict");
    // The same change on the current object is fine.
    let mut fresh = set.body.clone();
    fresh["metadata"]["labels"] = json!({"updated": "yes"});
    let ok = http.put("/api/v1/nodes/stale", &fresh).await.expect("put");
    assert_eq!(ok.status, 200, "{}", ok.body);
    // Without a resourceVersion there is nothing to be stale against: the
    // podCIDR rule speaks.
    let mut blind = old.clone();
    blind["metadata"]
        .as_object_mut()
        .map(|m| m.remove("resourceVersion"));
    let invalid = http.put("/api/v1/nodes/stale", &blind).await.expect("put");
    assert_eq!(invalid.status, 422, "{}", invalid.body);
}

#[tokio::test]
async fn create_get_update_and_server_owned_fields() {
    let (_etcd, _api, http) = cluster().await;
    let created = http
        .post(
            "/api/v1/namespaces/default/configmaps",
            &cm("a", json!({"app": "web"})),
        )
        .await
        .expect("create");
    assert_eq!(created.status, 201, "{}", created.body);
    let meta = &created.body["metadata"];
    assert!(meta["uid"].as_str().is_some_and(|u| u.len() == 36));
    assert!(meta["creationTimestamp"]
        .as_str()
        .is_some_and(|t| t.ends_with('Z')));
    // ConfigMaps carry no generation (upstream sets one only on the kinds
    // whose controllers report an observedGeneration).
    assert!(meta.get("generation").is_none(), "{meta}");
    let rv = meta["resourceVersion"].as_str().expect("rv").to_string();

    let again = http
        .post("/api/v1/namespaces/default/configmaps", &cm("a", json!({})))
        .await
        .expect("create again");
    assert_eq!(again.status, 409);
    assert_eq!(again.body["reason"], "AlreadyExists");

    let got = http
        .get("/api/v1/namespaces/default/configmaps/a")
        .await
        .expect("get");
    assert_eq!(got.status, 200);
    assert_eq!(got.body["metadata"]["resourceVersion"], rv.as_str());

    // Update with the current resourceVersion works, with a stale one is 409.
    let mut upd = got.body.clone();
    upd["data"]["k"] = json!("v2");
    let ok = http
        .put("/api/v1/namespaces/default/configmaps/a", &upd)
        .await
        .expect("put");
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert!(ok.body["metadata"].get("generation").is_none());
    assert_eq!(ok.body["metadata"]["uid"], meta["uid"]);
    let stale = http
        .put("/api/v1/namespaces/default/configmaps/a", &upd)
        .await
        .expect("put");
    assert_eq!(stale.status, 409);
    assert_eq!(stale.body["reason"], "Conflict");

    // An unchanged write does not bump the resourceVersion.
    let same = http
        .put("/api/v1/namespaces/default/configmaps/a", &ok.body)
        .await
        .expect("put same");
    assert_eq!(
        same.body["metadata"]["resourceVersion"],
        ok.body["metadata"]["resourceVersion"]
    );

    // generateName.
    let gen =
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"generateName": "web-"}});
    let g = http
        .post("/api/v1/namespaces/default/configmaps", &gen)
        .await
        .expect("gen");
    assert_eq!(g.status, 201);
    let name = g.body["metadata"]["name"].as_str().expect("name");
    assert!(name.starts_with("web-") && name.len() == 9, "{name}");
}

#[tokio::test]
async fn namespaces_carry_their_name_as_a_label() {
    let (_etcd, _api, http) = cluster().await;
    let r = http
        .post(
            "/api/v1/namespaces",
            &json!({"metadata": {"generateName": "named-", "labels": {"team": "a"}}}),
        )
        .await
        .expect("create");
    assert_eq!(r.status, 201, "{}", r.body);
    let name = r.body["metadata"]["name"]
        .as_str()
        .expect("name")
        .to_string();
    assert_eq!(
        r.body["metadata"]["labels"]["kubernetes.io/metadata.name"],
        name.as_str()
    );
    assert_eq!(r.body["metadata"]["labels"]["team"], "a");
    // A client cannot take it away or change it.
    let mut ns = r.body.clone();
    ns["metadata"]["labels"] = json!({"kubernetes.io/metadata.name": "other"});
    let r = http
        .put(&format!("/api/v1/namespaces/{name}"), &ns)
        .await
        .expect("update");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body["metadata"]["labels"],
        json!({"kubernetes.io/metadata.name": name})
    );
    let r = http
        .get("/api/v1/namespaces?labelSelector=kubernetes.io/metadata.name=default")
        .await
        .expect("list");
    assert_eq!(names(&r.body), ["default"]);
}

#[tokio::test]
async fn lists_selectors_and_pages() {
    let (etcd, _api, http) = cluster().await;
    for ns in ["l1", "l2"] {
        let r = http
            .post("/api/v1/namespaces", &json!({"metadata": {"name": ns}}))
            .await
            .expect("ns");
        assert_eq!(r.status, 201);
    }
    let labels = [
        json!({"app": "web", "tier": "fe"}),
        json!({"app": "web", "tier": "be"}),
        json!({"app": "db"}),
        json!({}),
    ];
    for (i, l) in labels.iter().enumerate() {
        let r = http
            .post(
                "/api/v1/namespaces/l1/configmaps",
                &cm(&format!("c{i}"), l.clone()),
            )
            .await
            .expect("create");
        assert_eq!(r.status, 201);
    }
    http.post(
        "/api/v1/namespaces/l2/configmaps",
        &cm("other", json!({"app": "web"})),
    )
    .await
    .expect("create");

    let cases = [
        ("app=web", vec!["c0", "c1"]),
        ("app==web", vec!["c0", "c1"]),
        ("app!=web", vec!["c2", "c3"]),
        ("tier in (fe,x)", vec!["c0"]),
        ("app notin (web)", vec!["c2", "c3"]),
        ("tier", vec!["c0", "c1"]),
        ("!tier", vec!["c2", "c3"]),
        ("app=web,tier=be", vec!["c1"]),
    ];
    for (sel, want) in cases {
        let q = url_escape(sel);
        let r = http
            .get(&format!(
                "/api/v1/namespaces/l1/configmaps?labelSelector={q}"
            ))
            .await
            .expect("list");
        assert_eq!(r.status, 200, "{sel}: {}", r.body);
        assert_eq!(names(&r.body), want, "selector {sel}");
    }
    let bad = http
        .get("/api/v1/namespaces/l1/configmaps?labelSelector=a%20b")
        .await
        .expect("list");
    assert_eq!(bad.status, 400);

    // Field selectors, and all-namespace lists.
    let r = http
        .get("/api/v1/configmaps?fieldSelector=metadata.name%3Dother")
        .await
        .expect("list");
    assert_eq!(names(&r.body), vec!["other"]);
    let r = http
        .get("/api/v1/configmaps?fieldSelector=metadata.namespace%3Dl2")
        .await
        .expect("list");
    assert!(names(&r.body).contains(&"other".to_string()));
    let r = http
        .get("/api/v1/configmaps?fieldSelector=spec.nodeName%3Dx")
        .await
        .expect("list");
    assert_eq!(r.status, 400, "configmaps have no spec.nodeName");
    let all = http
        .get("/api/v1/configmaps?labelSelector=app%3Dweb")
        .await
        .expect("all");
    assert_eq!(names(&all.body), vec!["c0", "c1", "other"]);

    // Pagination: pages of 3 over every ConfigMap (ours and the apiserver's
    // own in kube-system), one consistent snapshot. The apiserver's own are
    // written in the background at start: wait for the last of them.
    for _ in 0..100 {
        let r = http
            .get("/api/v1/namespaces/kube-system/configmaps/extension-apiserver-authentication")
            .await
            .expect("get");
        if r.status == 200 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let whole = http.get("/api/v1/configmaps").await.expect("whole list");
    let total = names(&whole.body).len();
    assert!(total > 3, "{total} ConfigMaps");
    let first = http
        .get("/api/v1/configmaps?limit=3")
        .await
        .expect("page 1");
    assert_eq!(first.body["items"].as_array().map(Vec::len), Some(3));
    let mut token = first.body["metadata"]["continue"]
        .as_str()
        .expect("continue")
        .to_string();
    assert_eq!(first.body["metadata"]["remainingItemCount"], total - 3);
    // A write between pages does not show up in the snapshot.
    http.post(
        "/api/v1/namespaces/l2/configmaps",
        &cm("zzz-late", json!({})),
    )
    .await
    .expect("create");
    let mut together = names(&first.body);
    loop {
        let page = http
            .get(&format!("/api/v1/configmaps?limit=3&continue={token}"))
            .await
            .expect("next page");
        assert!(page.body["items"].as_array().map_or(0, Vec::len) <= 3);
        assert_eq!(
            page.body["metadata"]["resourceVersion"],
            first.body["metadata"]["resourceVersion"]
        );
        together.extend(names(&page.body));
        match page.body["metadata"]["continue"].as_str() {
            Some(next) => token = next.to_string(),
            None => break,
        }
    }
    together.sort();
    assert_eq!(together, names(&whole.body), "the pages add up to the list");
    assert!(!together.contains(&"zzz-late".to_string()));
    let bad = http
        .get("/api/v1/configmaps?limit=3&continue=garbage")
        .await
        .expect("bad");
    assert_eq!(bad.status, 400);

    // The snapshot compacted away: 410 with a token that goes on from the
    // same key at the newest revision (an inconsistent list, as upstream's).
    let first = http
        .get("/api/v1/configmaps?limit=2")
        .await
        .expect("page 1");
    let token = first.body["metadata"]["continue"]
        .as_str()
        .expect("continue")
        .to_string();
    http.post(
        "/api/v1/namespaces/l2/configmaps",
        &cm("zzz-later", json!({})),
    )
    .await
    .expect("create");
    etcd.compact().await.expect("compact");
    let gone = http
        .get(&format!("/api/v1/configmaps?limit=2&continue={token}"))
        .await
        .expect("expired page");
    assert_eq!(gone.status, 410, "{}", gone.body);
    assert_eq!(gone.body["reason"], "Expired");
    let inconsistent = gone.body["metadata"]["continue"]
        .as_str()
        .expect("an inconsistent continue token")
        .to_string();
    let mut rest = names(&first.body);
    let mut next = Some(inconsistent);
    while let Some(token) = next {
        let page = http
            .get(&format!("/api/v1/configmaps?limit=2&continue={token}"))
            .await
            .expect("page");
        assert_eq!(page.status, 200, "{}", page.body);
        assert_ne!(
            page.body["metadata"]["resourceVersion"],
            first.body["metadata"]["resourceVersion"]
        );
        rest.extend(names(&page.body));
        next = page.body["metadata"]["continue"].as_str().map(String::from);
    }
    rest.sort();
    let mut want = names(&whole.body);
    want.extend(["zzz-late".to_string(), "zzz-later".to_string()]);
    want.sort();
    assert_eq!(rest, want, "every key once, the later writes included");
}

#[tokio::test]
async fn field_selectors_on_pods_and_events() {
    let (_etcd, _api, http) = cluster().await;
    let base = "/api/v1/namespaces/default/pods";
    for n in ["p1", "p2"] {
        assert_eq!(http.post(base, &pod(n)).await.expect("pod").status, 201);
    }
    let bind = json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "p1"},
        "target": {"kind": "Node", "name": "node-1"}});
    let r = http
        .post(&format!("{base}/p1/binding"), &bind)
        .await
        .expect("bind");
    assert_eq!(r.status, 201, "{}", r.body);
    let r = http
        .get("/api/v1/pods?fieldSelector=spec.nodeName%3Dnode-1")
        .await
        .expect("list");
    assert_eq!(names(&r.body), vec!["p1"]);
    let r = http
        .get("/api/v1/pods?fieldSelector=spec.nodeName%3D")
        .await
        .expect("list");
    assert_eq!(names(&r.body), vec!["p2"]);
    let r = http
        .get("/api/v1/pods?fieldSelector=status.phase%3DPending")
        .await
        .expect("list");
    assert_eq!(names(&r.body), vec!["p1", "p2"]);

    let ev = json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e1"},
        "involvedObject": {"kind": "Pod", "name": "p1", "namespace": "default", "uid": "u1"},
        "reason": "Scheduled", "message": "m", "type": "Normal"});
    assert_eq!(
        http.post("/api/v1/namespaces/default/events", &ev)
            .await
            .expect("event")
            .status,
        201
    );
    let mut other = ev.clone();
    other["metadata"]["name"] = json!("e2");
    other["involvedObject"]["name"] = json!("p2");
    http.post("/api/v1/namespaces/default/events", &other)
        .await
        .expect("event");
    let r = http
        .get("/api/v1/namespaces/default/events?fieldSelector=involvedObject.name%3Dp1,involvedObject.kind%3DPod,involvedObject.uid%3Du1")
        .await
        .expect("events");
    assert_eq!(names(&r.body), vec!["e1"]);
}

#[tokio::test]
async fn deletion_finalizers_graceful_pods_and_collections() {
    let (_etcd, _api, http) = cluster().await;
    let base = "/api/v1/namespaces/default/configmaps";
    let mut fin = cm("fin", json!({}));
    fin["metadata"]["finalizers"] = json!(["example.com/hold"]);
    http.post(base, &fin).await.expect("create");
    let del = http
        .delete(&format!("{base}/fin"), Some(&json!({"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"})))
        .await
        .expect("delete");
    assert_eq!(del.status, 200);
    assert!(del.body["metadata"]["deletionTimestamp"].is_string());
    let still = http.get(&format!("{base}/fin")).await.expect("get");
    assert_eq!(still.status, 200, "kept while a finalizer remains");
    let patch = json!({"metadata": {"finalizers": null}});
    let r = http
        .patch(
            &format!("{base}/fin"),
            "application/merge-patch+json",
            &patch,
        )
        .await
        .expect("patch");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        http.get(&format!("{base}/fin")).await.expect("get").status,
        404
    );

    // Foreground deletion leaves the foregroundDeletion finalizer for the GC.
    http.post(base, &cm("fg", json!({}))).await.expect("create");
    let r = http
        .delete(
            &format!("{base}/fg"),
            Some(&json!({"propagationPolicy": "Foreground"})),
        )
        .await
        .expect("delete");
    assert_eq!(
        r.body["metadata"]["finalizers"],
        json!(["foregroundDeletion"])
    );

    // Preconditions.
    http.post(base, &cm("pre", json!({})))
        .await
        .expect("create");
    let r = http
        .delete(
            &format!("{base}/pre"),
            Some(&json!({"preconditions": {"uid": "nope"}})),
        )
        .await
        .expect("delete");
    assert_eq!(r.status, 409);

    // A bound pod is deleted gracefully: it stays until a delete with grace 0.
    let pods = "/api/v1/namespaces/default/pods";
    http.post(pods, &pod("bound")).await.expect("pod");
    let bind = json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "bound"},
        "target": {"kind": "Node", "name": "n1"}});
    http.post(&format!("{pods}/bound/binding"), &bind)
        .await
        .expect("bind");
    let r = http
        .delete(&format!("{pods}/bound"), None)
        .await
        .expect("delete");
    assert_eq!(r.status, 200);
    assert_eq!(r.body["metadata"]["deletionGracePeriodSeconds"], 30);
    // Being deleted bumps the generation (once), as upstream.
    assert_eq!(
        r.body["metadata"]["generation"], 2,
        "{}",
        r.body["metadata"]
    );
    let again = http
        .delete(&format!("{pods}/bound"), None)
        .await
        .expect("delete again");
    assert_eq!(again.body["metadata"]["generation"], 2);
    assert_eq!(
        http.get(&format!("{pods}/bound"))
            .await
            .expect("get")
            .status,
        200
    );
    let r = http
        .delete(
            &format!("{pods}/bound"),
            Some(&json!({"gracePeriodSeconds": 0})),
        )
        .await
        .expect("final delete");
    assert_eq!(r.status, 200);
    assert_eq!(
        http.get(&format!("{pods}/bound"))
            .await
            .expect("get")
            .status,
        404
    );
    // A finished pod that a finalizer keeps (a Job's tracking finalizer):
    // the kubelet's confirming delete (grace 0) shortens the deletion, so
    // the pod goes when the finalizer does.
    let mut held = pod("held");
    held["metadata"]["finalizers"] = json!(["batch.kubernetes.io/job-tracking"]);
    http.post(pods, &held).await.expect("pod");
    let bind = json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "held"},
        "target": {"kind": "Node", "name": "n1"}});
    http.post(&format!("{pods}/held/binding"), &bind)
        .await
        .expect("bind");
    let r = http
        .delete(&format!("{pods}/held"), None)
        .await
        .expect("delete");
    assert_eq!(r.body["metadata"]["deletionGracePeriodSeconds"], 30);
    let mut failed = r.body.clone();
    failed["status"]["phase"] = json!("Failed");
    let r = http
        .put(&format!("{pods}/held/status"), &failed)
        .await
        .expect("status");
    assert_eq!(r.status, 200, "{}", r.body);
    let r = http
        .delete(
            &format!("{pods}/held"),
            Some(&json!({"gracePeriodSeconds": 0})),
        )
        .await
        .expect("confirming delete");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body["metadata"]["deletionGracePeriodSeconds"], 0,
        "{}",
        r.body
    );
    let r = http
        .patch(
            &format!("{pods}/held"),
            "application/merge-patch+json",
            &json!({"metadata": {"finalizers": null}}),
        )
        .await
        .expect("drop the finalizer");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        http.get(&format!("{pods}/held")).await.expect("get").status,
        404
    );

    // An unbound pod goes at once.
    http.post(pods, &pod("unbound")).await.expect("pod");
    http.delete(&format!("{pods}/unbound"), None)
        .await
        .expect("delete");
    assert_eq!(
        http.get(&format!("{pods}/unbound"))
            .await
            .expect("get")
            .status,
        404
    );

    // deletecollection with a selector.
    for (n, app) in [("d1", "x"), ("d2", "x"), ("d3", "y")] {
        http.post(base, &cm(n, json!({"app": app})))
            .await
            .expect("create");
    }
    let r = http
        .delete(&format!("{base}?labelSelector=app%3Dx"), None)
        .await
        .expect("dc");
    assert_eq!(r.status, 200);
    let left = http
        .get(&format!("{base}?labelSelector=app"))
        .await
        .expect("list");
    assert_eq!(names(&left.body), vec!["d3"]);
}

#[tokio::test]
async fn status_scale_binding_and_generation() {
    let (_etcd, _api, http) = cluster().await;
    let base = "/apis/apps/v1/namespaces/default/deployments";
    let dep = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "nginx"}]}}}});
    let r = http.post(base, &dep).await.expect("create");
    assert_eq!(r.status, 201, "{}", r.body);
    // Defaults.
    let d = &r.body;
    assert_eq!(d["spec"]["replicas"], 1);
    assert_eq!(d["spec"]["strategy"]["type"], "RollingUpdate");
    assert_eq!(d["spec"]["strategy"]["rollingUpdate"]["maxSurge"], "25%");
    assert_eq!(
        d["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"],
        "25%"
    );
    assert_eq!(d["spec"]["revisionHistoryLimit"], 10);
    assert_eq!(d["spec"]["progressDeadlineSeconds"], 600);
    let ps = &d["spec"]["template"]["spec"];
    assert_eq!(ps["restartPolicy"], "Always");
    assert_eq!(ps["dnsPolicy"], "ClusterFirst");
    assert_eq!(ps["terminationGracePeriodSeconds"], 30);
    assert_eq!(ps["containers"][0]["imagePullPolicy"], "Always");

    // Status through /status only changes status.
    let mut st = r.body.clone();
    st["status"] = json!({"replicas": 1, "observedGeneration": 1});
    st["spec"]["replicas"] = json!(9);
    let r = http
        .put(&format!("{base}/web/status"), &st)
        .await
        .expect("status");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["status"]["replicas"], 1);
    assert_eq!(
        r.body["spec"]["replicas"], 1,
        "spec unchanged through /status"
    );
    assert_eq!(r.body["metadata"]["generation"], 1);
    // ...and the main resource keeps status as it was.
    let mut main = r.body.clone();
    main["status"] = json!({"replicas": 42});
    main["metadata"]["labels"] = json!({"x": "y"});
    let r = http.put(&format!("{base}/web"), &main).await.expect("put");
    assert_eq!(r.body["status"]["replicas"], 1);
    assert_eq!(r.body["metadata"]["generation"], 1, "metadata-only change");

    // A status patch may carry labels and annotations (upstream's status
    // strategies reset spec only), never the system's fields.
    let r = http
        .patch(
            &format!("{base}/web/status"),
            "application/merge-patch+json",
            &json!({"metadata": {"annotations": {"patchedstatus": "true"}, "generation": 7},
                "status": {"replicas": 2}}),
        )
        .await
        .expect("status patch");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["metadata"]["annotations"]["patchedstatus"], "true");
    assert_eq!(r.body["metadata"]["labels"]["x"], "y");
    assert_eq!(r.body["metadata"]["generation"], 1);
    assert_eq!(r.body["status"]["replicas"], 2);

    // Scale.
    let s = http.get(&format!("{base}/web/scale")).await.expect("scale");
    assert_eq!(s.body["kind"], "Scale");
    assert_eq!(s.body["apiVersion"], "autoscaling/v1");
    assert_eq!(s.body["spec"]["replicas"], 1);
    assert_eq!(s.body["status"]["selector"], "app=web");
    let r = http
        .patch(
            &format!("{base}/web/scale"),
            "application/merge-patch+json",
            &json!({"spec": {"replicas": 3}}),
        )
        .await
        .expect("patch scale");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["spec"]["replicas"], 3);
    let mut put = r.body.clone();
    put["spec"]["replicas"] = json!(4);
    let r = http
        .put(&format!("{base}/web/scale"), &put)
        .await
        .expect("put scale");
    assert_eq!(r.body["spec"]["replicas"], 4);
    let d = http.get(&format!("{base}/web")).await.expect("get");
    assert_eq!(d.body["spec"]["replicas"], 4);
    assert_eq!(d.body["metadata"]["generation"], 3);

    // Binding sets nodeName once.
    let pods = "/api/v1/namespaces/default/pods";
    http.post(pods, &pod("b")).await.expect("pod");
    let bind = |node: &str| {
        json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "b"},
            "target": {"kind": "Node", "name": node}})
    };
    assert_eq!(
        http.post(&format!("{pods}/b/binding"), &bind("n1"))
            .await
            .expect("bind")
            .status,
        201
    );
    let r = http
        .post(&format!("{pods}/b/binding"), &bind("n2"))
        .await
        .expect("rebind");
    assert_eq!(r.status, 409);
    let p = http.get(&format!("{pods}/b")).await.expect("get");
    assert_eq!(p.body["spec"]["nodeName"], "n1");
    assert_eq!(p.body["status"]["conditions"][0]["type"], "PodScheduled");

    // pods/status never changes owner references (old kubelets broke them).
    let r = http
        .patch(
            &format!("{pods}/b/status"),
            "application/merge-patch+json",
            &json!({"metadata": {"labels": {"seen": "yes"}, "ownerReferences": [{"apiVersion": "v1",
                "kind": "ReplicationController", "name": "x", "uid": "u1"}]},
                "status": {"message": "hi"}}),
        )
        .await
        .expect("pod status patch");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["metadata"]["labels"]["seen"], "yes");
    assert!(
        r.body["metadata"].get("ownerReferences").is_none(),
        "{}",
        r.body
    );
    assert_eq!(r.body["status"]["message"], "hi");
}

#[tokio::test]
async fn namespaces_lifecycle_and_validation() {
    let (_etcd, _api, http) = cluster().await;
    let list = eventually(Duration::from_secs(10), || {
        let http = http.clone();
        async move {
            let r = http.get("/api/v1/namespaces").await.ok()?;
            (names(&r.body).len() >= 4).then_some(r)
        }
    })
    .await
    .expect("system namespaces");
    for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        assert!(names(&list.body).contains(&ns.to_string()), "{ns}");
    }
    let r = http
        .post("/api/v1/namespaces/missing/configmaps", &cm("x", json!({})))
        .await
        .expect("create");
    assert_eq!(r.status, 404);
    assert_eq!(r.body["details"]["kind"], "namespaces");

    http.post(
        "/api/v1/namespaces",
        &json!({"metadata": {"name": "doomed"}}),
    )
    .await
    .expect("ns");
    let r = http
        .delete("/api/v1/namespaces/doomed", None)
        .await
        .expect("delete");
    assert_eq!(r.body["status"]["phase"], "Terminating");
    let r = eventually(Duration::from_secs(5), || {
        let http = http.clone();
        async move {
            let r = http
                .post("/api/v1/namespaces/doomed/configmaps", &cm("x", json!({})))
                .await
                .ok()?;
            (r.status == 403).then_some(r)
        }
    })
    .await
    .expect("403 in a terminating namespace");
    assert_eq!(r.body["reason"], "Forbidden");
    // Finalizing removes it.
    let mut ns = http
        .get("/api/v1/namespaces/doomed")
        .await
        .expect("get")
        .body;
    ns["spec"]["finalizers"] = json!([]);
    let r = http
        .put("/api/v1/namespaces/doomed/finalize", &ns)
        .await
        .expect("finalize");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        http.get("/api/v1/namespaces/doomed")
            .await
            .expect("get")
            .status,
        404
    );

    // Validation: 422 with the field paths.
    let bad = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "Bad_Name"},
        "spec": {"selector": {"matchLabels": {"app": "a"}},
            "template": {"metadata": {"labels": {"app": "b"}}, "spec": {"containers": []}}}});
    let r = http
        .post("/apis/apps/v1/namespaces/default/deployments", &bad)
        .await
        .expect("bad");
    assert_eq!(r.status, 422);
    assert_eq!(r.body["reason"], "Invalid");
    let fields: Vec<&str> = r.body["details"]["causes"]
        .as_array()
        .map(|c| c.iter().filter_map(|c| c["field"].as_str()).collect())
        .unwrap_or_default();
    for f in [
        "metadata.name",
        "spec.template.metadata.labels",
        "spec.template.spec.containers",
    ] {
        assert!(fields.contains(&f), "{f} in {fields:?}");
    }
    // Immutable selector.
    let good = json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "rs"},
        "spec": {"selector": {"matchLabels": {"app": "a"}},
            "template": {"metadata": {"labels": {"app": "a", "b": "c"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}}});
    let r = http
        .post("/apis/apps/v1/namespaces/default/replicasets", &good)
        .await
        .expect("rs");
    assert_eq!(r.status, 201, "{}", r.body);
    let patch = json!({"spec": {"selector": {"matchLabels": {"app": "a", "b": "c"}}}});
    let r = http
        .patch(
            "/apis/apps/v1/namespaces/default/replicasets/rs",
            "application/merge-patch+json",
            &patch,
        )
        .await
        .expect("patch");
    assert_eq!(r.status, 422);
    assert_eq!(r.body["details"]["causes"][0]["field"], "spec.selector");
}

fn url_escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn services_get_unique_cluster_ips_given_back_on_delete() {
    let (etcd, _api, http) = cluster().await;
    let base = "/api/v1/namespaces/default/services";
    let svc = |name: &str, ip: Option<&str>| {
        let mut s = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"selector": {"app": name}, "ports": [{"port": 80}]}});
        if let Some(ip) = ip {
            s["spec"]["clusterIP"] = json!(ip);
        }
        s
    };
    let mut ips = Vec::new();
    for i in 0..5 {
        let r = http
            .post(base, &svc(&format!("s{i}"), None))
            .await
            .expect("create");
        assert_eq!(r.status, 201, "{}", r.body);
        let ip = r.body["spec"]["clusterIP"]
            .as_str()
            .expect("an IP")
            .to_string();
        assert!(ip.starts_with("10."), "{ip}");
        assert_eq!(r.body["spec"]["clusterIPs"], json!([ip]));
        assert!(!ips.contains(&ip));
        ips.push(ip);
    }
    let r = http
        .post(base, &svc("fixed", Some("10.96.0.77")))
        .await
        .expect("create");
    assert_eq!(r.body["spec"]["clusterIP"], "10.96.0.77");
    let r = http
        .post(base, &svc("clash", Some("10.96.0.77")))
        .await
        .expect("create");
    assert_eq!(r.status, 422, "{}", r.body);
    let r = http
        .post(base, &svc("outside", Some("192.168.0.1")))
        .await
        .expect("create");
    assert_eq!(r.status, 422);
    let mut headless = svc("headless", Some("None"));
    headless["spec"]["ports"] = json!([]);
    let r = http.post(base, &headless).await.expect("create");
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["spec"]["clusterIP"], "None");

    http.delete(&format!("{base}/fixed"), None)
        .await
        .expect("delete");
    let key = "/registry/ranges/serviceips/10.96.0.77";
    assert!(etcd.get_raw(key).await.expect("etcd").is_none(), "released");
    let r = http
        .post(base, &svc("again", Some("10.96.0.77")))
        .await
        .expect("create");
    assert_eq!(r.status, 201, "the IP can be used again: {}", r.body);
}

/// The apiserver compacts etcd on its interval (`--etcd-compaction-interval`),
/// always keeping one interval of history: a paged list older than that
/// gets 410 with an inconsistent continue token, an exact read of an old
/// revision 410, and the shared `compact_rev_key` records the rounds.
#[tokio::test]
async fn the_apiserver_compacts_etcd_history_on_its_interval() {
    let etcd = Etcd::start().await.expect("etcd");
    let api = ApiServer::start_with(&etcd, &["--etcd-compaction-interval", "1s"])
        .await
        .expect("apiserver");
    let http = api.http();
    for name in ["a", "b", "c"] {
        let r = http
            .post(
                "/api/v1/namespaces/default/configmaps",
                &cm(name, json!({})),
            )
            .await
            .expect("create");
        assert_eq!(r.status, 201, "{}", r.body);
    }
    let first = http
        .get("/api/v1/namespaces/default/configmaps?limit=1")
        .await
        .expect("page 1");
    let rv = first.body["metadata"]["resourceVersion"]
        .as_str()
        .expect("rv")
        .to_string();
    let token = first.body["metadata"]["continue"]
        .as_str()
        .expect("continue")
        .to_string();
    // A write after the snapshot, so the store moves past it.
    http.post("/api/v1/namespaces/default/configmaps", &cm("d", json!({})))
        .await
        .expect("create");
    let expired = eventually(Duration::from_secs(20), || async {
        let r = http
            .get(&format!(
                "/api/v1/namespaces/default/configmaps?limit=1&continue={token}"
            ))
            .await
            .ok()?;
        (r.status == 410).then_some(r.body)
    })
    .await
    .expect("the snapshot is compacted away within a few intervals");
    assert!(expired["metadata"]["continue"].is_string(), "{expired}");
    let exact = http
        .get(&format!(
            "/api/v1/namespaces/default/configmaps?resourceVersion={rv}&resourceVersionMatch=Exact"
        ))
        .await
        .expect("exact");
    assert_eq!(exact.status, 410, "{}", exact.body);
    let (recorded, _) = etcd
        .get_raw("compact_rev_key")
        .await
        .expect("etcd")
        .expect("the schedule's key");
    assert!(recorded
        .as_i64()
        .is_some_and(|r| r >= rv.parse::<i64>().unwrap_or(0)));
    // The current state is all there.
    let all = http
        .get("/api/v1/namespaces/default/configmaps")
        .await
        .expect("list");
    assert_eq!(names(&all.body), vec!["a", "b", "c", "d"]);
}

/// A list bigger than gRPC's default 4 MiB message (every Event of a busy
/// cluster, in the conformance suite) comes back whole, from etcd and from
/// a watch that replays it.
#[tokio::test]
async fn lists_larger_than_four_mebibytes() {
    let (_etcd, _api, http) = cluster().await;
    let big = "x".repeat(900 * 1024);
    for i in 0..6 {
        let r = http
            .post(
                "/api/v1/namespaces/default/configmaps",
                &json!({"metadata": {"name": format!("big-{i}")}, "data": {"blob": big}}),
            )
            .await
            .expect("create");
        assert_eq!(r.status, 201, "{}", r.body);
    }
    for path in [
        "/api/v1/configmaps",
        "/api/v1/namespaces/default/configmaps?resourceVersion=0",
        "/api/v1/namespaces/default/configmaps",
    ] {
        let r = http.get(path).await.expect("list");
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        let big_ones = r.body["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter(|i| {
                i["metadata"]["name"]
                    .as_str()
                    .is_some_and(|n| n.starts_with("big-"))
            })
            .count();
        assert_eq!(big_ones, 6, "{path}");
    }
}

#[tokio::test]
async fn secret_string_data_is_written_into_data_and_never_stored() {
    let (etcd, _api, http) = cluster().await;
    let path = "/api/v1/namespaces/default/secrets";
    let r = http
        .post(
            path,
            &json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "plain"},
                "data": {"user": "b2xk", "kept": "eA=="},
                "stringData": {"user": "admin", "password": "hunter2"}}),
        )
        .await
        .expect("create");
    assert_eq!(r.status, 201, "{}", r.body);
    // stringData wins over data for the same key; neither the answer, a
    // read nor etcd shows stringData.
    let want = json!({"user": "YWRtaW4=", "password": "aHVudGVyMg==", "kept": "eA=="});
    assert_eq!(r.body["data"], want, "{}", r.body);
    assert!(r.body.get("stringData").is_none(), "{}", r.body);
    let got = http.get(&format!("{path}/plain")).await.expect("get");
    assert_eq!(got.body["data"], want);
    assert!(got.body.get("stringData").is_none(), "{}", got.body);
    let (stored, _) = etcd
        .get_raw("/registry/secrets/default/plain")
        .await
        .expect("etcd")
        .expect("stored");
    assert_eq!(stored["data"], want);
    assert!(stored.get("stringData").is_none(), "{stored}");

    // An update and a merge patch fold it the same way.
    let mut update = got.body.clone();
    update["stringData"] = json!({"password": "s3cret"});
    let r = http
        .put(&format!("{path}/plain"), &update)
        .await
        .expect("update");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["data"]["password"], "czNjcmV0");
    assert!(r.body.get("stringData").is_none(), "{}", r.body);
    let r = http
        .patch(
            &format!("{path}/plain"),
            "application/merge-patch+json",
            &json!({"stringData": {"token": "abc"}}),
        )
        .await
        .expect("patch");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["data"]["token"], "YWJj");
    assert_eq!(r.body["data"]["user"], "YWRtaW4=");
    assert!(r.body.get("stringData").is_none(), "{}", r.body);

    // A key that is no file name is refused, as in `data`.
    let r = http
        .post(
            path,
            &json!({"metadata": {"name": "bad"}, "stringData": {"a/b": "x"}}),
        )
        .await
        .expect("create bad");
    assert_eq!(r.status, 422, "{}", r.body);
}

#[tokio::test]
async fn writes_to_busy_resources_start_from_memory_and_lose_nothing_written_behind_their_back() {
    let (etcd, _api, http) = cluster().await;
    let leases = "/apis/coordination.k8s.io/v1/namespaces/default/leases";
    let lease = json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": "busy"}, "spec": {"holderIdentity": "a", "leaseDurationSeconds": 1}});
    assert_eq!(http.post(leases, &lease).await.expect("create").status, 201);
    let path = format!("{leases}/busy");
    let merge = "application/merge-patch+json";

    // Once the apiserver holds the lease in memory, a renewal is one etcd
    // request (the compare-and-swap), not a read and a write.
    let mut duration = 1;
    let read_free = eventually(Duration::from_secs(10), || {
        duration += 1;
        let (http, path) = (http.clone(), path.clone());
        let body = json!({"spec": {"leaseDurationSeconds": duration}});
        async move {
            let before = tests::bench::etcd_gets(&http).await;
            let r = http.patch(&path, merge, &body).await.ok()?;
            assert_eq!(r.status, 200, "{}", r.body);
            (tests::bench::etcd_gets(&http).await == before).then_some(())
        }
    })
    .await;
    assert!(read_free.is_some(), "every renewal still read etcd first");

    // Writes straight into etcd, each followed at once by a patch through
    // the apiserver, whose copy may not have seen it yet: the patch lands
    // on the newest object every time.
    let key = "/registry/leases/default/busy";
    for i in 0..20 {
        let (mut stored, _) = etcd.get_raw(key).await.expect("etcd").expect("the lease");
        stored["spec"]["holderIdentity"] = json!(format!("behind-{i}"));
        etcd.put_raw(key, &stored.to_string()).await.expect("put");
        let body = json!({"spec": {"leaseDurationSeconds": 100 + i}});
        let r = http.patch(&path, merge, &body).await.expect("patch");
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["spec"]["holderIdentity"], format!("behind-{i}"));
        let (stored, _) = etcd.get_raw(key).await.expect("etcd").expect("the lease");
        assert_eq!(stored["spec"]["holderIdentity"], format!("behind-{i}"));
        assert_eq!(stored["spec"]["leaseDurationSeconds"], 100 + i);
    }
}
