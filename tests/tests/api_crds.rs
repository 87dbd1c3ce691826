//! CustomResourceDefinitions against a real etcd and apiserver: a CRD's kind
//! is served (every verb, selectors, watch, status and scale subresources,
//! printer columns, discovery), the CRD's own status says so, its schema
//! validates, prunes and defaults, names conflict as upstream's do, and
//! deleting the CRD deletes its objects and its discovery entry. The real
//! kubectl drives a CRD too (printer columns, short names, `scale`).

use std::time::Duration;

use serde_json::{json, Value};
use tests::harness::{eventually, kubectl_cached, ApiServer, Etcd, Http};

async fn cluster() -> (Etcd, ApiServer, Http) {
    let etcd = Etcd::start().await.expect("etcd");
    let api = ApiServer::start(&etcd).await.expect("apiserver");
    let http = api.http();
    (etcd, api, http)
}

const CRDS: &str = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions";
const WIDGETS: &str = "/apis/crd.test/v1/namespaces/default/widgets";

/// A namespaced CRD with a schema, status and scale subresources, a
/// selectable field and printer columns.
fn widget_crd() -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.crd.test"},
        "spec": {
            "group": "crd.test",
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget",
                      "shortNames": ["wd"], "categories": ["all"]},
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object", "required": ["color"], "properties": {
                        "color": {"type": "string", "enum": ["red", "green", "blue"]},
                        "replicas": {"type": "integer", "minimum": 0, "default": 1},
                        "size": {"type": "string", "default": "medium", "maxLength": 8},
                        "port": {"x-kubernetes-int-or-string": true},
                        "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}},
                    "status": {"type": "object", "properties": {
                        "replicas": {"type": "integer"},
                        "selector": {"type": "string"},
                        "phase": {"type": "string"}}}}}},
                "subresources": {"status": {}, "scale": {
                    "specReplicasPath": ".spec.replicas",
                    "statusReplicasPath": ".status.replicas",
                    "labelSelectorPath": ".status.selector"}},
                "selectableFields": [{"jsonPath": ".spec.color"}],
                "additionalPrinterColumns": [
                    {"name": "Color", "type": "string", "jsonPath": ".spec.color"},
                    {"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"},
                    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}]
            }]
        }
    })
}

fn widget(name: &str, color: &str) -> Value {
    json!({"apiVersion": "crd.test/v1", "kind": "Widget",
           "metadata": {"name": name, "labels": {"color": color}},
           "spec": {"color": color}})
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

/// GET as a Table (what kubectl asks for).
async fn get_table(base: &str, path: &str) -> (u16, Value) {
    use http_body_util::BodyExt;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Full<bytes::Bytes>>();
    let req = http::Request::builder()
        .uri(format!("{base}{path}"))
        .header("accept", "application/json;as=Table;v=v1;g=meta.k8s.io")
        .body(http_body_util::Full::new(bytes::Bytes::new()))
        .expect("request");
    let resp = client.request(req).await.expect("table request");
    let status = resp.status().as_u16();
    let body = resp
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

fn condition<'a>(crd: &'a Value, ty: &str) -> &'a Value {
    crd["status"]["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == ty))
        .unwrap_or(&Value::Null)
}

/// Creates a CRD and waits until it is Established and its kind is served.
async fn establish(http: &Http, crd: &Value, probe: &str) -> Value {
    let created = http.post(CRDS, crd).await.expect("create crd");
    assert_eq!(created.status, 201, "{}", created.body);
    let name = crd["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let started = std::time::Instant::now();
    let served = eventually(Duration::from_secs(5), || async {
        let r = http.get(probe).await.ok()?;
        (r.status == 200).then_some(())
    })
    .await;
    assert!(served.is_some(), "{probe} never served");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "served after {:?}",
        started.elapsed()
    );
    eventually(Duration::from_secs(5), || async {
        let r = http.get(&format!("{CRDS}/{name}")).await.ok()?;
        (condition(&r.body, "Established")["status"] == "True").then_some(r.body)
    })
    .await
    .expect("established")
}

#[tokio::test]
async fn a_crd_is_served_with_every_verb_and_its_status() {
    let (_etcd, api, http) = cluster().await;
    let crd = establish(&http, &widget_crd(), WIDGETS).await;
    assert_eq!(condition(&crd, "NamesAccepted")["status"], "True");
    assert_eq!(condition(&crd, "NamesAccepted")["reason"], "NoConflicts");
    assert_eq!(
        condition(&crd, "Established")["reason"],
        "InitialNamesAccepted"
    );
    assert_eq!(crd["status"]["acceptedNames"]["plural"], "widgets");
    assert_eq!(crd["status"]["acceptedNames"]["listKind"], "WidgetList");
    assert_eq!(crd["status"]["acceptedNames"]["shortNames"], json!(["wd"]));
    assert_eq!(crd["status"]["storedVersions"], json!(["v1"]));

    // Discovery.
    let groups = http.get("/apis").await.expect("apis").body;
    let group = groups["groups"]
        .as_array()
        .and_then(|g| g.iter().find(|g| g["name"] == "crd.test"))
        .cloned()
        .expect("group listed");
    assert_eq!(group["preferredVersion"]["groupVersion"], "crd.test/v1");
    assert_eq!(http.get("/apis/crd.test").await.expect("group").status, 200);
    let list = http.get("/apis/crd.test/v1").await.expect("rl").body;
    let entry = |name: &str| {
        list["resources"]
            .as_array()
            .and_then(|r| r.iter().find(|e| e["name"] == name))
            .cloned()
            .unwrap_or(Value::Null)
    };
    assert_eq!(entry("widgets")["kind"], "Widget");
    assert_eq!(entry("widgets")["namespaced"], true);
    assert_eq!(entry("widgets")["singularName"], "widget");
    assert_eq!(entry("widgets")["shortNames"], json!(["wd"]));
    assert_eq!(entry("widgets")["categories"], json!(["all"]));
    assert_eq!(
        entry("widgets/status")["verbs"],
        json!(["get", "patch", "update"])
    );
    assert_eq!(entry("widgets/scale")["group"], "autoscaling");

    // Create, with server-owned fields, and get.
    let a = http
        .post(WIDGETS, &widget("a", "red"))
        .await
        .expect("create a");
    assert_eq!(a.status, 201, "{}", a.body);
    assert_eq!(a.body["metadata"]["generation"], 1);
    assert!(a.body["metadata"]["uid"].is_string());
    assert_eq!(a.body["spec"]["replicas"], 1, "defaulted: {}", a.body);
    let b = http
        .post(WIDGETS, &widget("b", "blue"))
        .await
        .expect("create b");
    assert_eq!(b.status, 201, "{}", b.body);
    let dup = http.post(WIDGETS, &widget("a", "red")).await.expect("dup");
    assert_eq!(dup.status, 409);
    let got = http.get(&format!("{WIDGETS}/a")).await.expect("get");
    assert_eq!(got.status, 200);
    assert_eq!(got.body["kind"], "Widget");

    // Lists: all, by label, by field (name and a selectable field), and
    // across namespaces.
    let all = http.get(WIDGETS).await.expect("list").body;
    assert_eq!(all["kind"], "WidgetList");
    assert_eq!(names(&all), vec!["a", "b"]);
    let red = http
        .get(&format!("{WIDGETS}?labelSelector=color%3Dred"))
        .await
        .expect("labels");
    assert_eq!(names(&red.body), vec!["a"]);
    let by_name = http
        .get(&format!("{WIDGETS}?fieldSelector=metadata.name%3Db"))
        .await
        .expect("name");
    assert_eq!(names(&by_name.body), vec!["b"]);
    let by_color = http
        .get(&format!("{WIDGETS}?fieldSelector=spec.color%3Dred"))
        .await
        .expect("color");
    assert_eq!(names(&by_color.body), vec!["a"]);
    let unsupported = http
        .get(&format!("{WIDGETS}?fieldSelector=spec.size%3Dx"))
        .await
        .expect("unsupported");
    assert_eq!(unsupported.status, 400);
    assert_eq!(
        unsupported.body["message"],
        "field label not supported: spec.size"
    );
    let everywhere = http.get("/apis/crd.test/v1/widgets").await.expect("all ns");
    assert_eq!(names(&everywhere.body), vec!["a", "b"]);

    // Update, merge patch, JSON patch, server-side apply.
    let mut upd = got.body.clone();
    upd["spec"]["color"] = json!("green");
    let put = http.put(&format!("{WIDGETS}/a"), &upd).await.expect("put");
    assert_eq!(put.status, 200, "{}", put.body);
    assert_eq!(put.body["metadata"]["generation"], 2);
    let merged = http
        .patch(
            &format!("{WIDGETS}/a"),
            "application/merge-patch+json",
            &json!({"spec": {"replicas": 3}}),
        )
        .await
        .expect("merge");
    assert_eq!(merged.status, 200, "{}", merged.body);
    assert_eq!(merged.body["spec"]["replicas"], 3);
    let patched = http
        .patch(
            &format!("{WIDGETS}/a"),
            "application/json-patch+json",
            &json!([{"op": "replace", "path": "/spec/size", "value": "large"}]),
        )
        .await
        .expect("json patch");
    assert_eq!(patched.status, 200, "{}", patched.body);
    assert_eq!(patched.body["spec"]["size"], "large");
    let applied = http
        .send(
            "PATCH",
            "/apis/crd.test/v1/namespaces/default/widgets/c?fieldManager=test",
            Some("application/apply-patch+yaml"),
            b"apiVersion: crd.test/v1\nkind: Widget\nmetadata:\n  name: c\nspec:\n  color: blue\n  replicas: 2\n".to_vec(),
        )
        .await
        .expect("apply");
    assert_eq!(applied.0, 201, "{}", String::from_utf8_lossy(&applied.1));
    let c = http.get(&format!("{WIDGETS}/c")).await.expect("get c").body;
    assert_eq!(c["spec"]["replicas"], 2);
    assert_eq!(c["metadata"]["managedFields"][0]["manager"], "test");

    // The status subresource ignores spec, the main resource ignores status.
    let mut st = http.get(&format!("{WIDGETS}/a")).await.expect("a").body;
    st["status"] = json!({"phase": "Ready", "replicas": 3, "selector": "color=red"});
    st["spec"]["color"] = json!("blue");
    let put_status = http
        .put(&format!("{WIDGETS}/a/status"), &st)
        .await
        .expect("status");
    assert_eq!(put_status.status, 200, "{}", put_status.body);
    assert_eq!(put_status.body["status"]["phase"], "Ready");
    assert_eq!(put_status.body["spec"]["color"], "green");
    let main = http
        .patch(
            &format!("{WIDGETS}/a"),
            "application/merge-patch+json",
            &json!({"status": {"phase": "Hacked"}}),
        )
        .await
        .expect("main");
    assert_eq!(main.body["status"]["phase"], "Ready");

    // Scale.
    let scale = http
        .get(&format!("{WIDGETS}/a/scale"))
        .await
        .expect("scale");
    assert_eq!(scale.status, 200, "{}", scale.body);
    assert_eq!(scale.body["kind"], "Scale");
    assert_eq!(scale.body["spec"]["replicas"], 3);
    assert_eq!(scale.body["status"]["selector"], "color=red");
    let scaled = http
        .patch(
            &format!("{WIDGETS}/a/scale"),
            "application/merge-patch+json",
            &json!({"spec": {"replicas": 5}}),
        )
        .await
        .expect("scale patch");
    assert_eq!(scaled.status, 200, "{}", scaled.body);
    let a = http.get(&format!("{WIDGETS}/a")).await.expect("a").body;
    assert_eq!(a["spec"]["replicas"], 5);

    // A Table with the printer columns.
    let (status, table) = get_table(&api.url, &format!("{WIDGETS}/a")).await;
    assert_eq!(status, 200);
    let cols: Vec<&str> = table["columnDefinitions"]
        .as_array()
        .map(|c| c.iter().filter_map(|c| c["name"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(cols, vec!["Name", "Color", "Replicas", "Age"]);
    assert_eq!(table["rows"][0]["cells"][1], "green");
    assert_eq!(table["rows"][0]["cells"][2], 5);

    // Delete and deletecollection.
    let del = http
        .delete(&format!("{WIDGETS}/b"), None)
        .await
        .expect("delete");
    assert_eq!(del.status, 200);
    let gone = http.get(&format!("{WIDGETS}/b")).await.expect("gone");
    assert_eq!(gone.status, 404);
    assert_eq!(gone.body["details"]["group"], "crd.test");
    let dc = http.delete(WIDGETS, None).await.expect("deletecollection");
    assert_eq!(dc.status, 200);
    assert!(names(&http.get(WIDGETS).await.expect("list").body).is_empty());
}

#[tokio::test]
async fn watch_sees_custom_resource_events() {
    let (_etcd, _api, http) = cluster().await;
    establish(&http, &widget_crd(), WIDGETS).await;
    let list = http.get(WIDGETS).await.expect("list").body;
    let rv = list["metadata"]["resourceVersion"]
        .as_str()
        .unwrap_or("0")
        .to_string();
    let mut w = http
        .watch(&format!(
            "{WIDGETS}?watch=true&resourceVersion={rv}&labelSelector=color%3Dred"
        ))
        .await
        .expect("watch");
    assert_eq!(w.status, 200);
    http.post(WIDGETS, &widget("w1", "red")).await.expect("w1");
    http.post(WIDGETS, &widget("w2", "blue")).await.expect("w2");
    http.patch(
        &format!("{WIDGETS}/w1"),
        "application/merge-patch+json",
        &json!({"spec": {"replicas": 4}}),
    )
    .await
    .expect("patch");
    http.delete(&format!("{WIDGETS}/w1"), None)
        .await
        .expect("delete");
    let mut seen = Vec::new();
    for _ in 0..3 {
        let ev = w.next(Duration::from_secs(5)).await.expect("event");
        seen.push((
            ev["type"].as_str().unwrap_or("").to_string(),
            ev["object"]["metadata"]["name"]
                .as_str()
                .unwrap_or("")
                .to_string(),
        ));
        assert_eq!(ev["object"]["kind"], "Widget");
    }
    let expect = |t: &str| (t.to_string(), "w1".to_string());
    assert_eq!(
        seen,
        vec![expect("ADDED"), expect("MODIFIED"), expect("DELETED")]
    );
}

#[tokio::test]
async fn the_schema_validates_prunes_and_defaults() {
    let (_etcd, _api, http) = cluster().await;
    establish(&http, &widget_crd(), WIDGETS).await;
    let bad = http
        .post(
            WIDGETS,
            &json!({"apiVersion": "crd.test/v1", "kind": "Widget",
                    "metadata": {"name": "bad"},
                    "spec": {"color": "purple", "replicas": "two", "size": "enormously"}}),
        )
        .await
        .expect("bad");
    assert_eq!(bad.status, 422, "{}", bad.body);
    assert_eq!(bad.body["reason"], "Invalid");
    let causes: Vec<(String, String, String)> = bad.body["details"]["causes"]
        .as_array()
        .map(|c| {
            c.iter()
                .map(|c| {
                    (
                        c["reason"].as_str().unwrap_or("").to_string(),
                        c["field"].as_str().unwrap_or("").to_string(),
                        c["message"].as_str().unwrap_or("").to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let expected = [
        (
            "FieldValueNotSupported",
            "spec.color",
            "Unsupported value: \"purple\": supported values: \"red\", \"green\", \"blue\"",
        ),
        (
            "FieldValueTypeInvalid",
            "spec.replicas",
            "Invalid value: \"string\": spec.replicas in body must be of type integer: \"string\"",
        ),
        (
            "FieldValueTooLong",
            "spec.size",
            "Too long: may not be more than 8 bytes",
        ),
    ];
    for (reason, field, message) in expected {
        assert!(
            causes
                .iter()
                .any(|c| c.0 == reason && c.1 == field && c.2 == message),
            "missing {field}: {message} in {causes:?}"
        );
    }
    let missing = http
        .post(
            WIDGETS,
            &json!({"apiVersion": "crd.test/v1", "kind": "Widget",
                    "metadata": {"name": "Bad_Name"}, "spec": {}}),
        )
        .await
        .expect("missing");
    assert_eq!(missing.status, 422);
    let msg = missing.body["message"].as_str().unwrap_or("");
    assert!(msg.contains("spec.color: Required value"), "{msg}");
    assert!(
        msg.contains("metadata.name: Invalid value: \"Bad_Name\""),
        "{msg}"
    );

    // Unknown fields are pruned (kept under preserve-unknown-fields), and
    // defaults appear.
    let ok = http
        .post(
            WIDGETS,
            &json!({"apiVersion": "crd.test/v1", "kind": "Widget",
                    "metadata": {"name": "ok"}, "junk": 1,
                    "spec": {"color": "red", "port": "http", "typo": true,
                             "extra": {"anything": {"goes": [1]}}}}),
        )
        .await
        .expect("ok");
    assert_eq!(ok.status, 201, "{}", ok.body);
    let stored = http.get(&format!("{WIDGETS}/ok")).await.expect("get").body;
    assert!(stored.get("junk").is_none(), "{stored}");
    assert!(stored["spec"].get("typo").is_none(), "{stored}");
    assert_eq!(stored["spec"]["extra"], json!({"anything": {"goes": [1]}}));
    assert_eq!(stored["spec"]["replicas"], 1);
    assert_eq!(stored["spec"]["size"], "medium");
    assert_eq!(stored["spec"]["port"], "http");
    // Strict field validation refuses the unknown field instead.
    let strict = http
        .post(
            &format!("{WIDGETS}?fieldValidation=Strict"),
            &json!({"apiVersion": "crd.test/v1", "kind": "Widget",
                    "metadata": {"name": "strict"}, "spec": {"color": "red", "typo": 1}}),
        )
        .await
        .expect("strict");
    assert_eq!(strict.status, 400, "{}", strict.body);
    assert!(strict.body["message"]
        .as_str()
        .unwrap_or("")
        .contains("unknown field \"spec.typo\""));
}

#[tokio::test]
async fn conflicting_names_are_not_accepted() {
    let (_etcd, _api, http) = cluster().await;
    establish(&http, &widget_crd(), WIDGETS).await;
    // Another CRD of the group whose singular is the first one's plural.
    let mut other = widget_crd();
    other["metadata"]["name"] = json!("gadgets.crd.test");
    other["spec"]["names"] = json!({"plural": "gadgets", "singular": "widgets", "kind": "Gadget"});
    let created = http.post(CRDS, &other).await.expect("create");
    assert_eq!(created.status, 201, "{}", created.body);
    let crd = eventually(Duration::from_secs(5), || async {
        let r = http.get(&format!("{CRDS}/gadgets.crd.test")).await.ok()?;
        (condition(&r.body, "NamesAccepted")["status"] == "False").then_some(r.body)
    })
    .await
    .expect("names refused");
    assert_eq!(
        condition(&crd, "NamesAccepted")["reason"],
        "SingularConflict"
    );
    assert_eq!(
        condition(&crd, "NamesAccepted")["message"],
        "\"widgets\" is already in use"
    );
    assert_eq!(condition(&crd, "Established")["status"], "False");
    let served = http
        .get("/apis/crd.test/v1/namespaces/default/gadgets")
        .await
        .expect("gadgets");
    assert_eq!(served.status, 404);
}

#[tokio::test]
async fn deleting_a_crd_deletes_its_objects_and_its_discovery() {
    let (_etcd, _api, http) = cluster().await;
    // Cluster scoped this time.
    let mut crd = widget_crd();
    crd["spec"]["scope"] = json!("Cluster");
    let cluster_widgets = "/apis/crd.test/v1/widgets";
    establish(&http, &crd, cluster_widgets).await;
    for n in ["x", "y"] {
        let mut w = widget(n, "red");
        w["metadata"]["finalizers"] = if n == "y" {
            json!(["test.minik8s.io/hold"])
        } else {
            json!([])
        };
        let r = http.post(cluster_widgets, &w).await.expect("create");
        assert_eq!(r.status, 201, "{}", r.body);
    }
    let in_ns = http.post(WIDGETS, &widget("z", "red")).await.expect("ns");
    assert_eq!(in_ns.status, 404, "cluster scoped: {}", in_ns.body);

    let del = http
        .delete(&format!("{CRDS}/widgets.crd.test"), None)
        .await
        .expect("delete crd");
    assert_eq!(del.status, 200, "{}", del.body);
    assert_eq!(
        del.body["metadata"]["finalizers"],
        json!(["customresourcecleanup.apiextensions.k8s.io"])
    );
    // x goes at once; y waits for its finalizer, and so does the CRD.
    let y = eventually(Duration::from_secs(5), || async {
        let x = http.get(&format!("{cluster_widgets}/x")).await.ok()?;
        let y = http.get(&format!("{cluster_widgets}/y")).await.ok()?;
        (x.status == 404 && y.body["metadata"]["deletionTimestamp"].is_string()).then_some(y.body)
    })
    .await
    .expect("x deleted, y terminating");
    let terminating = http
        .get(&format!("{CRDS}/widgets.crd.test"))
        .await
        .expect("crd");
    assert_eq!(
        condition(&terminating.body, "Terminating")["status"],
        "True"
    );
    let refused = http
        .post(cluster_widgets, &widget("late", "red"))
        .await
        .expect("late");
    assert_eq!(refused.status, 405, "{}", refused.body);
    let mut release = y.clone();
    release["metadata"]["finalizers"] = json!([]);
    let r = http
        .put(&format!("{cluster_widgets}/y"), &release)
        .await
        .expect("release");
    assert_eq!(r.status, 200, "{}", r.body);
    let gone = eventually(Duration::from_secs(5), || async {
        let crd = http.get(&format!("{CRDS}/widgets.crd.test")).await.ok()?;
        let group = http.get("/apis/crd.test").await.ok()?;
        let kind = http.get(cluster_widgets).await.ok()?;
        (crd.status == 404 && group.status == 404 && kind.status == 404).then_some(())
    })
    .await;
    assert!(gone.is_some(), "CRD, group and kind should be gone");
    let groups = http.get("/apis").await.expect("apis").body;
    assert!(!groups.to_string().contains("crd.test"));
}

#[tokio::test]
async fn kubectl_uses_a_crd() {
    let (_etcd, api, http) = cluster().await;
    let dir = tempfile::tempdir().expect("tmp");
    let cache = dir.path().join("cache");
    let k = |args: &[&str]| kubectl_cached(&api.url, &cache, args).expect("kubectl runs");
    let crd_file = dir.path().join("crd.json");
    std::fs::write(&crd_file, widget_crd().to_string()).expect("write");
    let out = k(&["apply", "-f", crd_file.to_str().unwrap_or_default()]);
    assert!(out.success, "{}", out.stderr);
    let out = k(&[
        "wait",
        "--for=condition=Established",
        "crd/widgets.crd.test",
        "--timeout=10s",
    ]);
    assert!(out.success, "{}", out.stderr);
    let cr_file = dir.path().join("cr.yaml");
    std::fs::write(
        &cr_file,
        "apiVersion: crd.test/v1\nkind: Widget\nmetadata:\n  name: k1\n  namespace: default\nspec:\n  color: blue\n  replicas: 2\n",
    )
    .expect("write");
    let out = k(&["apply", "-f", cr_file.to_str().unwrap_or_default()]);
    assert!(out.success, "{}", out.stderr);
    assert!(
        out.stdout.contains("widget.crd.test/k1 created"),
        "{}",
        out.stdout
    );

    let out = k(&["get", "widgets"]);
    assert!(out.success, "{}", out.stderr);
    let header: Vec<&str> = out
        .stdout
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    assert_eq!(header, vec!["NAME", "COLOR", "REPLICAS", "AGE"]);
    let row: Vec<&str> = out
        .stdout
        .lines()
        .nth(1)
        .unwrap_or("")
        .split_whitespace()
        .collect();
    assert_eq!(row[..3], ["k1", "blue", "2"]);

    let out = k(&["get", "wd", "k1", "-o", "jsonpath={.spec.size}"]);
    assert!(out.success, "{}", out.stderr);
    assert_eq!(out.stdout, "medium");

    let out = k(&["scale", "widget/k1", "--replicas=4"]);
    assert!(out.success, "{}", out.stderr);
    let w = http.get(&format!("{WIDGETS}/k1")).await.expect("k1").body;
    assert_eq!(w["spec"]["replicas"], 4);

    // A schema violation comes back with upstream's message.
    std::fs::write(
        &cr_file,
        "apiVersion: crd.test/v1\nkind: Widget\nmetadata:\n  name: k2\n  namespace: default\nspec:\n  color: pink\n",
    )
    .expect("write");
    let out = k(&["apply", "-f", cr_file.to_str().unwrap_or_default()]);
    assert!(!out.success);
    assert!(
        out.stderr
            .contains("spec.color: Unsupported value: \"pink\": supported values: \"red\", \"green\", \"blue\""),
        "{}",
        out.stderr
    );

    // kubectl explain reads the CR's schema from the OpenAPI v3 document.
    let out = k(&["explain", "widgets.spec"]);
    assert!(out.success, "{}", out.stderr);
    assert!(out.stdout.contains("KIND:       Widget"), "{}", out.stdout);
    assert!(out.stdout.contains("color\t<string>"), "{}", out.stdout);
    assert!(out.stdout.contains("replicas\t<integer>"), "{}", out.stdout);
    // Strict validation (kubectl's default) refuses a misspelt field.
    std::fs::write(
        &cr_file,
        "apiVersion: crd.test/v1\nkind: Widget\nmetadata:\n  name: k3\n  namespace: default\nspec:\n  color: red\n  colour: red\n",
    )
    .expect("write");
    let out = k(&["apply", "-f", cr_file.to_str().unwrap_or_default()]);
    assert!(!out.success);
    assert!(
        out.stderr
            .contains("strict decoding error: unknown field \"spec.colour\""),
        "{}",
        out.stderr
    );
    // Server-side apply reads the patch through the schema first and fails
    // as upstream's structured merge does.
    let out = k(&[
        "apply",
        "--server-side",
        "-f",
        cr_file.to_str().unwrap_or_default(),
    ]);
    assert!(!out.success);
    assert!(
        out.stderr.contains(
            "failed to create typed patch object (default/k3; crd.test/v1, Kind=Widget): .spec.colour: field not declared in schema"
        ),
        "{}",
        out.stderr
    );

    let out = k(&["delete", "crd", "widgets.crd.test", "--timeout=20s"]);
    assert!(out.success, "{}", out.stderr);
    let out = k(&["api-resources", "--api-group=crd.test"]);
    assert!(!out.stdout.contains("widgets"), "{}", out.stdout);
}

#[tokio::test]
async fn several_versions_share_one_storage() {
    let (etcd, _api, http) = cluster().await;
    let mut crd = widget_crd();
    let v1 = crd["spec"]["versions"][0].clone();
    let mut beta = v1.clone();
    beta["name"] = json!("v1beta1");
    beta["storage"] = json!(false);
    let mut alpha = v1.clone();
    alpha["name"] = json!("v1alpha1");
    alpha["storage"] = json!(false);
    alpha["served"] = json!(false);
    crd["spec"]["versions"] = json!([beta, v1, alpha]);
    crd["spec"]["conversion"] = json!({"strategy": "None"});
    let beta_widgets = "/apis/crd.test/v1beta1/namespaces/default/widgets";
    establish(&http, &crd, beta_widgets).await;

    let group = http.get("/apis/crd.test").await.expect("group").body;
    assert_eq!(group["preferredVersion"]["version"], "v1");
    let versions: Vec<&str> = group["versions"]
        .as_array()
        .map(|v| v.iter().filter_map(|v| v["version"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(versions, vec!["v1", "v1beta1"]);
    let alpha = http
        .get("/apis/crd.test/v1alpha1/namespaces/default/widgets")
        .await
        .expect("alpha");
    assert_eq!(alpha.status, 404);

    let rv = http.get(beta_widgets).await.expect("list").body["metadata"]["resourceVersion"]
        .as_str()
        .unwrap_or("0")
        .to_string();
    let mut w = http
        .watch(&format!("{beta_widgets}?watch=true&resourceVersion={rv}"))
        .await
        .expect("watch");
    let mut obj = widget("m", "red");
    obj["apiVersion"] = json!("crd.test/v1beta1");
    let created = http.post(beta_widgets, &obj).await.expect("create");
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body["apiVersion"], "crd.test/v1beta1");
    // Stored in the storage version.
    let (stored, _) = etcd
        .get_raw("/registry/crd.test/widgets/default/m")
        .await
        .expect("etcd")
        .expect("stored");
    assert_eq!(stored["apiVersion"], "crd.test/v1");
    // Read in either version.
    let as_v1 = http.get(&format!("{WIDGETS}/m")).await.expect("v1").body;
    assert_eq!(as_v1["apiVersion"], "crd.test/v1");
    let as_beta = http
        .get(&format!("{beta_widgets}/m"))
        .await
        .expect("beta")
        .body;
    assert_eq!(as_beta["apiVersion"], "crd.test/v1beta1");
    let list = http.get(beta_widgets).await.expect("list").body;
    assert_eq!(list["apiVersion"], "crd.test/v1beta1");
    assert_eq!(list["items"][0]["apiVersion"], "crd.test/v1beta1");
    let ev = w.next(Duration::from_secs(5)).await.expect("event");
    assert_eq!(ev["type"], "ADDED");
    assert_eq!(ev["object"]["apiVersion"], "crd.test/v1beta1");
    // An update through v1 is seen by the v1beta1 watcher in v1beta1.
    let patched = http
        .patch(
            &format!("{WIDGETS}/m"),
            "application/merge-patch+json",
            &json!({"spec": {"replicas": 7}}),
        )
        .await
        .expect("patch");
    assert_eq!(patched.body["apiVersion"], "crd.test/v1");
    let ev = w.next(Duration::from_secs(5)).await.expect("event");
    assert_eq!(ev["type"], "MODIFIED");
    assert_eq!(ev["object"]["apiVersion"], "crd.test/v1beta1");
    assert_eq!(ev["object"]["spec"]["replicas"], 7);
    // A patch through v1beta1 that changes nothing writes nothing.
    let rv = ev["object"]["metadata"]["resourceVersion"].clone();
    let same = http
        .patch(
            &format!("{beta_widgets}/m"),
            "application/merge-patch+json",
            &json!({"spec": {"replicas": 7}}),
        )
        .await
        .expect("no-op patch");
    assert_eq!(same.status, 200, "{}", same.body);
    assert_eq!(same.body["apiVersion"], "crd.test/v1beta1");
    assert_eq!(same.body["metadata"]["resourceVersion"], rv);
}

/// The kube-rs side: a kind written as a Rust struct.
mod gizmo {
    use kube::CustomResource;
    use schemars::JsonSchema;
    use serde::{Deserialize, Serialize};

    /// A Gizmo's desired state.
    #[derive(CustomResource, Deserialize, Serialize, Clone, Debug, JsonSchema)]
    #[kube(
        group = "kube.test",
        version = "v1",
        kind = "Gizmo",
        namespaced,
        status = "GizmoStatus",
        shortname = "gz",
        printcolumn = r#"{"name":"Size","type":"integer","jsonPath":".spec.size"}"#
    )]
    pub struct GizmoSpec {
        /// How big.
        pub size: i32,
        /// An optional label.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub label: Option<String>,
    }

    /// A Gizmo's observed state.
    #[derive(Deserialize, Serialize, Clone, Debug, Default, JsonSchema)]
    pub struct GizmoStatus {
        /// Whether it is ready.
        pub ready: bool,
    }
}

#[tokio::test]
async fn kube_rs_derives_a_crd_and_uses_its_kind() {
    use futures::StreamExt;
    use gizmo::{Gizmo, GizmoSpec};
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
    use kube::runtime::{wait, watcher, WatchStreamExt};
    use kube::CustomResourceExt;

    let (_etcd, api, _http) = cluster().await;
    let config = kube::Config::new(api.url.parse().expect("a valid URL"));
    let client = kube::Client::try_from(config).expect("client");
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.create(&PostParams::default(), &Gizmo::crd())
        .await
        .expect("create the CRD");
    let established = wait::await_condition(
        crds.clone(),
        "gizmos.kube.test",
        wait::conditions::is_crd_established(),
    );
    tokio::time::timeout(Duration::from_secs(5), established)
        .await
        .expect("established in time")
        .expect("watching the CRD");

    let gizmos: Api<Gizmo> = Api::namespaced(client, "default");
    let mut events = watcher(gizmos.clone(), watcher::Config::default())
        .applied_objects()
        .boxed();
    let created = gizmos
        .create(
            &PostParams::default(),
            &Gizmo::new(
                "g1",
                GizmoSpec {
                    size: 3,
                    label: None,
                },
            ),
        )
        .await
        .expect("create");
    assert_eq!(created.spec.size, 3);
    assert!(created.status.is_none());
    let seen = tokio::time::timeout(Duration::from_secs(5), events.next())
        .await
        .expect("an event in time")
        .expect("an event")
        .expect("no watch error");
    assert_eq!(seen.metadata.name.as_deref(), Some("g1"));

    let list = gizmos.list(&ListParams::default()).await.expect("list");
    assert_eq!(list.items.len(), 1);

    let status = serde_json::json!({"status": {"ready": true}});
    let patched = gizmos
        .patch_status("g1", &PatchParams::default(), &Patch::Merge(&status))
        .await
        .expect("patch status");
    assert!(patched.status.as_ref().is_some_and(|s| s.ready));
    let seen = tokio::time::timeout(Duration::from_secs(5), events.next())
        .await
        .expect("an event in time")
        .expect("an event")
        .expect("no watch error");
    assert!(seen.status.is_some_and(|s| s.ready));
    // The main resource leaves status alone.
    let spec = serde_json::json!({"spec": {"size": 5}, "status": {"ready": false}});
    let patched = gizmos
        .patch("g1", &PatchParams::default(), &Patch::Merge(&spec))
        .await
        .expect("patch spec");
    assert_eq!(patched.spec.size, 5);
    assert!(patched.status.is_some_and(|s| s.ready));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_namespace_deletes_its_custom_resources() {
    use tests::controllers::{ControlPlane, ControllerManager};
    let c = ControlPlane::start().await;
    let _cm = ControllerManager::start(&c.url, &["namespace"], |_| {}).await;
    let http = c.api.http();
    establish(&http, &widget_crd(), WIDGETS).await;
    let ns = c.namespace("crs");
    let in_ns = format!("/apis/crd.test/v1/namespaces/{ns}/widgets");
    let r = http
        .post(&in_ns, &widget("n1", "red"))
        .await
        .expect("create");
    assert_eq!(r.status, 201, "{}", r.body);
    let out = c.kubectl(&["delete", "namespace", &ns, "--wait=false"]);
    assert!(out.success, "{}", out.stderr);
    let gone = eventually(Duration::from_secs(20), || async {
        let w = http.get(&format!("{in_ns}/n1")).await.ok()?;
        let n = http.get(&format!("/api/v1/namespaces/{ns}")).await.ok()?;
        (w.status == 404 && n.status == 404).then_some(())
    })
    .await;
    assert!(gone.is_some(), "the widget and then the namespace go");
}

#[tokio::test]
async fn cel_rules_validate_custom_resources() {
    let (_etcd, _api, http) = cluster().await;
    let mut crd = widget_crd();
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
        ["x-kubernetes-validations"] = json!([
        {"rule": "self.replicas <= 10 || self.size == 'large'",
         "message": "more than 10 replicas need size large"},
        {"rule": "self.color == oldSelf.color", "message": "color is immutable"}
    ]);
    // A rule that does not compile refuses the CRD.
    let mut broken = crd.clone();
    broken["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
        ["x-kubernetes-validations"] = json!([{"rule": "self.replicas <="}]);
    let refused = http.post(CRDS, &broken).await.expect("broken");
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(refused.body["message"].as_str().unwrap_or("").contains(
        "spec.versions[0].schema.openAPIV3Schema.properties[spec].x-kubernetes-validations[0].rule"
    ));

    establish(&http, &crd, WIDGETS).await;
    let mut big = widget("big", "red");
    big["spec"]["replicas"] = json!(11);
    let r = http.post(WIDGETS, &big).await.expect("big");
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(r.body["details"]["causes"][0]["field"], "spec");
    assert_eq!(
        r.body["details"]["causes"][0]["message"],
        "Invalid value: \"object\": more than 10 replicas need size large"
    );
    big["spec"]["size"] = json!("large");
    let r = http.post(WIDGETS, &big).await.expect("big large");
    assert_eq!(r.status, 201, "{}", r.body);
    // The transition rule: color may not change, other fields may.
    let r = http
        .patch(
            &format!("{WIDGETS}/big"),
            "application/merge-patch+json",
            &json!({"spec": {"color": "blue"}}),
        )
        .await
        .expect("recolor");
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body["message"]
        .as_str()
        .unwrap_or("")
        .contains("spec: Invalid value: \"object\": color is immutable"));
    let r = http
        .patch(
            &format!("{WIDGETS}/big"),
            "application/merge-patch+json",
            &json!({"spec": {"replicas": 12}}),
        )
        .await
        .expect("rescale");
    assert_eq!(r.status, 200, "{}", r.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_garbage_collector_knows_custom_owners() {
    use tests::controllers::{ControlPlane, ControllerManager};
    let c = ControlPlane::start().await;
    let _cm = ControllerManager::start(&c.url, &["garbagecollector"], |_| {}).await;
    let http = c.api.http();
    establish(&http, &widget_crd(), WIDGETS).await;
    let owner = http
        .post(WIDGETS, &widget("owner", "red"))
        .await
        .expect("owner");
    assert_eq!(owner.status, 201, "{}", owner.body);
    let uid = owner.body["metadata"]["uid"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let owned_by = |name: &str, uid: &str| {
        json!({"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": name, "ownerReferences": [{
                   "apiVersion": "crd.test/v1", "kind": "Widget", "name": name, "uid": uid}]}})
    };
    let mut alive = owned_by("owner", &uid);
    alive["metadata"]["name"] = json!("of-owner");
    let r = http
        .post("/api/v1/namespaces/default/configmaps", &alive)
        .await
        .expect("alive");
    assert_eq!(r.status, 201, "{}", r.body);
    // A dependent of a widget that does not exist is collected ...
    let orphan = owned_by("ghost", "00000000-0000-0000-0000-000000000000");
    let r = http
        .post("/api/v1/namespaces/default/configmaps", &orphan)
        .await
        .expect("orphan");
    assert_eq!(r.status, 201, "{}", r.body);
    let collected = eventually(Duration::from_secs(20), || async {
        let r = http
            .get("/api/v1/namespaces/default/configmaps/ghost")
            .await
            .ok()?;
        (r.status == 404).then_some(())
    })
    .await;
    assert!(collected.is_some(), "the dangling dependent is collected");
    // ... while the dependent of a live widget stays.
    let r = http
        .get("/api/v1/namespaces/default/configmaps/of-owner")
        .await
        .expect("of-owner");
    assert_eq!(r.status, 200, "a live custom owner keeps its dependent");

    // Deleting the widget cascades to its dependent, and a widget owned by
    // a ConfigMap goes with the ConfigMap.
    let r = http
        .delete(&format!("{WIDGETS}/owner"), None)
        .await
        .expect("delete owner");
    assert_eq!(r.status, 200, "{}", r.body);
    let cfg = http
        .post(
            "/api/v1/namespaces/default/configmaps",
            &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "parent"}}),
        )
        .await
        .expect("parent");
    let cfg_uid = cfg.body["metadata"]["uid"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let mut child = widget("child", "blue");
    child["metadata"]["ownerReferences"] = json!([{
        "apiVersion": "v1", "kind": "ConfigMap", "name": "parent", "uid": cfg_uid}]);
    let r = http.post(WIDGETS, &child).await.expect("child");
    assert_eq!(r.status, 201, "{}", r.body);
    // No waiting for the collector to see the widgets: it must be right
    // also when the owner goes before its kind's informer has listed it.
    let r = http
        .delete("/api/v1/namespaces/default/configmaps/parent", None)
        .await
        .expect("delete parent");
    assert_eq!(r.status, 200, "{}", r.body);
    let cascaded = eventually(Duration::from_secs(20), || async {
        let dep = http
            .get("/api/v1/namespaces/default/configmaps/of-owner")
            .await
            .ok()?;
        let child = http.get(&format!("{WIDGETS}/child")).await.ok()?;
        (dep.status == 404 && child.status == 404).then_some(())
    })
    .await;
    assert!(
        cascaded.is_some(),
        "dependents of deleted owners are collected"
    );
}

/// A default added to a schema shows on objects stored before it, on every
/// read (get, list, watch), as upstream defaults custom objects it reads
/// from etcd; what is stored is not rewritten.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_schema_default_shows_on_objects_stored_before() {
    let (etcd, _api, http) = cluster().await;
    establish(&http, &widget_crd(), WIDGETS).await;
    let r = http
        .post(WIDGETS, &widget("old", "red"))
        .await
        .expect("create");
    assert_eq!(r.status, 201, "{}", r.body);
    assert!(r.body["spec"].get("shape").is_none());
    let patch = json!([{"op": "add",
        "path": "/spec/versions/0/schema/openAPIV3Schema/properties/spec/properties/shape",
        "value": {"type": "string", "default": "round"}}]);
    let r = http
        .patch(
            &format!("{CRDS}/widgets.crd.test"),
            "application/json-patch+json",
            &patch,
        )
        .await
        .expect("patch crd");
    assert_eq!(r.status, 200, "{}", r.body);
    let defaulted = eventually(Duration::from_secs(10), || async {
        let r = http.get(&format!("{WIDGETS}/old")).await.ok()?;
        (r.body["spec"]["shape"] == "round").then_some(r.body)
    })
    .await
    .expect("the default shows on get");
    assert_eq!(defaulted["spec"]["color"], "red");
    let list = http.get(WIDGETS).await.expect("list");
    assert_eq!(
        list.body["items"][0]["spec"]["shape"], "round",
        "{}",
        list.body
    );
    let mut watch = http
        .watch(&format!("{WIDGETS}?watch=true"))
        .await
        .expect("watch");
    let ev = watch.next(Duration::from_secs(5)).await.expect("an event");
    assert_eq!(ev["object"]["spec"]["shape"], "round", "{ev}");
    // etcd still holds the object as it was written.
    let (stored, _) = etcd
        .get_raw("/registry/crd.test/widgets/default/old")
        .await
        .expect("etcd")
        .expect("stored");
    assert!(stored["spec"].get("shape").is_none(), "{stored}");
}

/// `/openapi/v2` (Swagger 2.0) holds every kind's schema, the CRDs' too,
/// with references into `definitions`, and honours its ETag.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_v2_publishes_builtin_and_custom_schemas() {
    let (_etcd, _api, http) = cluster().await;
    establish(&http, &widget_crd(), WIDGETS).await;
    let (status, _, body) = http
        .get_accepting("/openapi/v2", "application/json")
        .await
        .expect("GET");
    assert_eq!(status, 200);
    let doc: Value = serde_json::from_slice(&body).expect("JSON");
    assert_eq!(doc["swagger"], "2.0");
    let widget = &doc["definitions"]["test.crd.v1.Widget"];
    assert_eq!(
        widget["properties"]["spec"]["properties"]["color"]["enum"],
        json!(["red", "green", "blue"]),
        "{widget}"
    );
    assert_eq!(
        widget["x-kubernetes-group-version-kind"][0]["kind"],
        "Widget"
    );
    assert!(doc["definitions"]
        .as_object()
        .expect("definitions")
        .keys()
        .any(|k| k.ends_with(".Deployment")));
    // As upstream, a kind keeping unknown fields at its root is a bare
    // object in v2 (else an older kubectl would refuse every field).
    let mut open = widget_crd();
    open["metadata"]["name"] = json!("gadgets.crd.test");
    open["spec"]["names"] = json!({"plural": "gadgets", "singular": "gadget", "kind": "Gadget"});
    open["spec"]["versions"][0]["schema"]["openAPIV3Schema"] =
        json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true});
    open["spec"]["versions"][0]
        .as_object_mut()
        .map(|v| v.remove("selectableFields"));
    establish(&http, &open, "/apis/crd.test/v1/namespaces/default/gadgets").await;
    let doc = eventually(Duration::from_secs(5), || async {
        let (_, _, body) = http
            .get_accepting("/openapi/v2", "application/json")
            .await
            .ok()?;
        let doc: Value = serde_json::from_slice(&body).ok()?;
        doc["definitions"]
            .get("test.crd.v1.Gadget")
            .is_some()
            .then_some(doc)
    })
    .await
    .expect("the Gadget definition");
    assert_eq!(
        doc["definitions"]["test.crd.v1.Gadget"],
        json!({"type": "object", "x-kubernetes-group-version-kind":
            [{"group": "crd.test", "version": "v1", "kind": "Gadget"}]})
    );
    let text = doc.to_string();
    assert!(!text.contains("#/components/"), "v3 references left");
    assert!(doc["paths"]["/apis/crd.test/v1/namespaces/{namespace}/widgets"]["get"].is_object());
    // The ETag answers a repeated download with 304.
    let (_, headers, _) = http
        .request("GET", "/openapi/v2", &[], Vec::new())
        .await
        .expect("GET");
    let etag = headers
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .expect("an ETag")
        .to_string();
    let (status, _, _) = http
        .request(
            "GET",
            "/openapi/v2",
            &[("if-none-match", etag.as_str())],
            Vec::new(),
        )
        .await
        .expect("GET");
    assert_eq!(status, 304);
    // The protobuf form kubectl asks for first (gnostic's Document), with
    // the same definitions.
    let (status, content_type, body) = http
        .get_accepting(
            "/openapi/v2",
            "application/com.github.proto-openapi.spec.v2@v1.0+protobuf",
        )
        .await
        .expect("GET");
    assert_eq!(status, 200);
    assert_eq!(
        content_type,
        "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
    );
    let text = String::from_utf8_lossy(&body);
    assert!(
        text.contains("io.k8s.api.core.v1.Pod") && text.contains("x-kubernetes-group-version-kind")
    );
    // Neither JSON nor protobuf: 406.
    let (status, _, _) = http
        .get_accepting("/openapi/v2", "application/yaml")
        .await
        .expect("GET");
    assert_eq!(status, 406);
}
