//! Bad input always gets a `Status` with the right code and reason, and no
//! input makes the server fail: malformed JSON/YAML, unknown resources,
//! mismatched kinds, oversized bodies, unknown patch types, garbage paths and
//! bodies. Plus discovery, health and metrics.

use serde_json::{json, Value};
use tests::harness::{ApiServer, Etcd};

#[tokio::test]
async fn bad_requests_get_statuses() {
    let etcd = Etcd::start().await.expect("etcd");
    let api = ApiServer::start(&etcd).await.expect("apiserver");
    let http = api.http();
    let base = "/api/v1/namespaces/default/configmaps";

    let r = http
        .raw(
            "POST",
            base,
            Some("application/json"),
            b"{not json".to_vec(),
        )
        .await
        .expect("req");
    assert_eq!(
        (r.status, r.body["reason"].as_str()),
        (400, Some("BadRequest"))
    );
    let r = http
        .raw(
            "POST",
            base,
            Some("application/yaml"),
            b"a: [unclosed".to_vec(),
        )
        .await
        .expect("req");
    assert_eq!(r.status, 400);
    let yaml = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-yaml\ndata:\n  a: b\n";
    let r = http
        .raw("POST", base, Some("application/yaml"), yaml.to_vec())
        .await
        .expect("req");
    assert_eq!(r.status, 201, "YAML bodies are accepted: {}", r.body);
    assert_eq!(r.body["data"]["a"], "b");

    let r = http.get("/api/v1/widgets").await.expect("req");
    assert_eq!((r.status, r.body["kind"].as_str()), (404, Some("Status")));
    let r = http
        .get("/apis/nope.example.com/v1/things")
        .await
        .expect("req");
    assert_eq!(r.status, 404);

    let wrong = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"}});
    let r = http.post(base, &wrong).await.expect("req");
    assert_eq!(r.status, 400, "kind must match the URL: {}", r.body);

    let big = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "big"},
        "data": {"a": "x".repeat(4 * 1024 * 1024)}});
    let r = http.post(base, &big).await.expect("req");
    assert_eq!(
        (r.status, r.body["reason"].as_str()),
        (413, Some("RequestEntityTooLarge"))
    );

    let r = http
        .patch(
            &format!("{base}/from-yaml"),
            "application/x-unknown-patch",
            &json!({}),
        )
        .await
        .expect("req");
    assert_eq!(
        (r.status, r.body["reason"].as_str()),
        (415, Some("UnsupportedMediaType"))
    );
    let r = http
        .patch(
            &format!("{base}/from-yaml"),
            "application/json-patch+json",
            &json!([{"op": "test", "path": "/data/a", "value": "nope"}]),
        )
        .await
        .expect("req");
    assert_eq!(r.status, 422, "a failed json-patch test: {}", r.body);

    // Garbage never gets a 5xx and never takes the server down.
    let bodies: Vec<&[u8]> = vec![
        b"",
        b"null",
        b"[]",
        b"42",
        b"\"s\"",
        b"{\"metadata\": 3}",
        b"{\"metadata\": {\"name\": []}}",
        b"{\"kind\": 1}",
        b"\xff\xfe",
        b"{\"spec\": {\"containers\": \"x\"}}",
    ];
    let paths = [
        base.to_string(),
        "/api/v1/namespaces/default/pods".into(),
        "/apis/apps/v1/namespaces/default/deployments".into(),
        "/api/v1/namespaces/default/pods/p/binding".into(),
        "/apis/apps/v1/namespaces/default/deployments/d/scale".into(),
        "/api/v1/namespaces/%00/pods".into(),
        "/api/v1/namespaces/default/pods/a/b/c/d".into(),
    ];
    for p in &paths {
        for b in &bodies {
            for m in ["POST", "PUT", "PATCH", "DELETE"] {
                let ct = if m == "PATCH" {
                    "application/merge-patch+json"
                } else {
                    "application/json"
                };
                let r = http.raw(m, p, Some(ct), b.to_vec()).await.expect("answer");
                assert!(
                    r.status < 500,
                    "{m} {p} {:?} -> {} {}",
                    String::from_utf8_lossy(b),
                    r.status,
                    r.body
                );
                if r.status >= 400 {
                    assert_eq!(r.body["kind"], "Status", "{m} {p}: {}", r.body);
                }
            }
        }
    }
    let (code, _) = http.get_text("/healthz").await.expect("alive");
    assert_eq!(code, 200);
}

#[tokio::test]
async fn discovery_health_and_metrics() {
    let etcd = Etcd::start().await.expect("etcd");
    let api = ApiServer::start(&etcd).await.expect("apiserver");
    let http = api.http();
    let v = http.get("/version").await.expect("version").body;
    assert_eq!(v["major"], "1");
    let apis = http.get("/apis").await.expect("apis").body;
    let groups: Vec<&str> = apis["groups"]
        .as_array()
        .map(|g| g.iter().filter_map(|g| g["name"].as_str()).collect())
        .unwrap_or_default();
    for g in ["apps", "batch", "coordination.k8s.io", "discovery.k8s.io"] {
        assert!(groups.contains(&g), "{g}");
    }
    let core = http.get("/api/v1").await.expect("core").body;
    let find = |doc: &Value, name: &str| -> Value {
        doc["resources"]
            .as_array()
            .and_then(|r| r.iter().find(|r| r["name"] == name))
            .cloned()
            .unwrap_or(Value::Null)
    };
    assert_eq!(find(&core, "pods")["shortNames"], json!(["po"]));
    assert_eq!(find(&core, "pods")["categories"], json!(["all"]));
    assert_eq!(find(&core, "services")["shortNames"], json!(["svc"]));
    assert_eq!(find(&core, "pods/eviction")["group"], "policy");
    let apps = http.get("/apis/apps/v1").await.expect("apps").body;
    assert_eq!(find(&apps, "deployments")["shortNames"], json!(["deploy"]));
    assert_eq!(find(&apps, "deployments/scale")["kind"], "Scale");

    http.get("/api/v1/namespaces").await.expect("list");
    let (code, text) = http.get_text("/readyz").await.expect("readyz");
    assert_eq!(code, 200, "{text}");
    let (_, metrics) = http.get_text("/metrics").await.expect("metrics");
    for want in [
        "apiserver_request_total{verb=\"list\",resource=\"namespaces\",code=\"200\"}",
        "apiserver_request_duration_seconds_bucket",
        "etcd_request_duration_seconds_bucket",
        "process_resident_memory_bytes",
    ] {
        assert!(metrics.contains(want), "{want} missing from /metrics");
    }
}

/// Strict field validation names unknown and repeated fields together, also
/// for a JSON body sent without a content type (conformance: "should detect
/// unknown and duplicate fields of a typed object").
#[tokio::test]
async fn strict_validation_names_unknown_and_duplicate_fields() {
    let etcd = Etcd::start().await.expect("etcd");
    let api = ApiServer::start(&etcd).await.expect("apiserver");
    let body = br#"{"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "my-dep", "labels": {"app": "nginx"}},
        "spec": {"unknownField": "foo", "replicas": 2, "replicas": 3,
          "selector": {"matchLabels": {"app": "nginx"}},
          "template": {"metadata": {"labels": {"app": "nginx"}},
            "spec": {"containers": [{"name": "nginx", "image": "nginx"}]}}}}"#;
    for content_type in [None, Some("application/json")] {
        let r = api
            .http()
            .raw(
                "POST",
                "/apis/apps/v1/namespaces/default/deployments?fieldValidation=Strict",
                content_type,
                body.to_vec(),
            )
            .await
            .expect("req");
        assert_eq!(r.status, 400, "{}", r.body);
        let msg = r.body["message"].as_str().unwrap_or_default();
        assert!(
            msg.contains(r#"strict decoding error: unknown field "spec.unknownField", duplicate field "spec.replicas""#),
            "{content_type:?}: {msg}"
        );
    }
}

/// A create asked for a Table answers with the new object's row; a review
/// (an answer, not a stored object) has no Table form: 406, as upstream.
#[tokio::test]
async fn tables_on_create_and_406_for_reviews() {
    let etcd = Etcd::start().await.expect("etcd");
    let api = ApiServer::start(&etcd).await.expect("apiserver");
    let http = api.http();
    const TABLE: &str = "application/json;as=Table;v=v1;g=meta.k8s.io";
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "t"},
        "data": {"a": "1"}});
    let (status, _, body) = http
        .request(
            "POST",
            "/api/v1/namespaces/default/configmaps",
            &[("accept", TABLE), ("content-type", "application/json")],
            cm.to_string().into_bytes(),
        )
        .await
        .expect("POST");
    assert_eq!(status, 201);
    let table: Value = serde_json::from_slice(&body).expect("JSON");
    assert_eq!(table["kind"], "Table", "{table}");
    assert_eq!(table["rows"][0]["cells"][0], "t", "{table}");
    let sar = json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
        "spec": {"nonResourceAttributes": {"path": "/", "verb": "get"}}});
    let (status, _, body) = http
        .request(
            "POST",
            "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
            &[("accept", TABLE), ("content-type", "application/json")],
            sar.to_string().into_bytes(),
        )
        .await
        .expect("POST");
    let status_doc: Value = serde_json::from_slice(&body).expect("JSON");
    assert_eq!(status, 406, "{status_doc}");
    assert_eq!(status_doc["reason"], "NotAcceptable");
    // As JSON, the same review is answered.
    let r = http
        .post(
            "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
            &sar,
        )
        .await
        .expect("POST");
    assert_eq!(r.status, 201, "{}", r.body);
}
