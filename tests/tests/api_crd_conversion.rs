//! CustomResourceDefinition conversion webhooks against a real etcd and
//! apiserver, with the webhook served by this test over HTTPS behind a
//! Service (its Endpoints point at the test) and converting as agnhost's
//! `crd-conversion-webhook` of the conformance suite does: v1's `hostPort`
//! is v2's `host` and `port`.
//!
//! Objects are created in v1 and in v2 and read in both; a list in v2 of
//! objects stored in both versions (after the storage version changed)
//! takes one ConversionReview; a watch in v2 sees v1 objects in v2; a
//! webhook that cannot be reached fails the request with upstream's 500
//! and nothing is stored; the CRD's `spec.conversion` is validated.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use tests::harness::{eventually, free_port, kubectl, ApiServer, Etcd, Http};
use tests::webhook_server::WebhookServer;

const CRDS: &str = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions";
const V1: &str = "/apis/stable.example.com/v1/namespaces/default/hostports";
const V2: &str = "/apis/stable.example.com/v2/namespaces/default/hostports";

/// What the webhook was asked: the ConversionReviews it got.
type Reviews = Arc<Mutex<Vec<Value>>>;

/// One object converted as agnhost's example converter does.
fn convert(obj: &Value, desired: &str) -> Result<Value, String> {
    let mut out = obj.clone();
    let from = obj["apiVersion"].as_str().unwrap_or("");
    let fields = out
        .as_object_mut()
        .ok_or_else(|| "not an object".to_string())?;
    match (from, desired) {
        ("stable.example.com/v1", "stable.example.com/v2") => {
            if let Some(hp) = fields.remove("hostPort") {
                let hp = hp.as_str().unwrap_or("").to_string();
                let (host, port) = hp
                    .split_once(':')
                    .ok_or_else(|| format!("invalid hostPort value `{hp}`"))?;
                fields.insert("host".into(), json!(host));
                fields.insert("port".into(), json!(port));
            }
        }
        ("stable.example.com/v2", "stable.example.com/v1") => {
            let host = fields.remove("host");
            let port = fields.remove("port");
            if host.is_some() || port.is_some() {
                let s = |v: Option<Value>| v.and_then(|v| v.as_str().map(str::to_string));
                let joined = format!(
                    "{}:{}",
                    s(host).unwrap_or_default(),
                    s(port).unwrap_or_default()
                );
                fields.insert("hostPort".into(), json!(joined));
            }
        }
        _ => {
            return Err(format!(
                "unexpected conversion from {from:?} to {desired:?}"
            ))
        }
    }
    fields.insert("apiVersion".into(), json!(desired));
    Ok(out)
}

/// The webhook: answers a ConversionReview in the version it came in.
async fn review(review: Value, seen: Reviews) -> Value {
    seen.lock().expect("lock").push(review.clone());
    let request = &review["request"];
    let desired = request["desiredAPIVersion"].as_str().unwrap_or("");
    let converted: Result<Vec<Value>, String> = request["objects"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|o| convert(o, desired))
        .collect();
    let response = match converted {
        Ok(objects) => json!({"uid": request["uid"], "result": {"status": "Success"},
                              "convertedObjects": objects}),
        Err(message) => json!({"uid": request["uid"],
                               "result": {"status": "Failure", "message": message}}),
    };
    json!({"apiVersion": review["apiVersion"], "kind": "ConversionReview", "response": response})
}

fn crd(client_config: Value) -> Value {
    let version = |name: &str, storage: bool, props: Value, fields: Value| {
        json!({"name": name, "served": true, "storage": storage,
               "schema": {"openAPIV3Schema": {"type": "object", "properties": props}},
               "selectableFields": fields})
    };
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "hostports.stable.example.com"},
        "spec": {
            "group": "stable.example.com",
            "scope": "Namespaced",
            "names": {"plural": "hostports", "singular": "hostport", "kind": "HostPort"},
            "versions": [
                version("v1", true, json!({"hostPort": {"type": "string"}}),
                        json!([{"jsonPath": ".hostPort"}])),
                version("v2", false, json!({"host": {"type": "string"}, "port": {"type": "string"}}),
                        json!([{"jsonPath": ".host"}, {"jsonPath": ".port"}])),
            ],
            "conversion": {"strategy": "Webhook", "webhook": {
                "clientConfig": client_config,
                "conversionReviewVersions": ["v1", "v1beta1"]}},
        }
    })
}

fn v1_object(name: &str, host_port: &str) -> Value {
    json!({"apiVersion": "stable.example.com/v1", "kind": "HostPort",
           "metadata": {"name": name}, "hostPort": host_port})
}

fn v2_object(name: &str, host: &str, port: &str) -> Value {
    json!({"apiVersion": "stable.example.com/v2", "kind": "HostPort",
           "metadata": {"name": name}, "host": host, "port": port})
}

fn key(name: &str) -> String {
    format!("/registry/stable.example.com/hostports/default/{name}")
}

/// The object `name` as etcd holds it.
async fn in_etcd(etcd: &Etcd, name: &str) -> Value {
    let (object, _) = etcd
        .get_raw(&key(name))
        .await
        .expect("etcd")
        .expect("stored");
    object
}

/// The webhook behind Service `hooks/e2e-webhook` port 9443.
async fn webhook_service(http: &Http, hooks: &WebhookServer) {
    let port = hooks.addr.port();
    for (path, body) in [
        (
            "/api/v1/namespaces",
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "hooks"}}),
        ),
        (
            "/api/v1/namespaces/hooks/services",
            json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "e2e-webhook"},
                   "spec": {"ports": [{"port": 9443, "targetPort": port}]}}),
        ),
        (
            "/api/v1/namespaces/hooks/endpoints",
            json!({"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "e2e-webhook"},
                   "subsets": [{"addresses": [{"ip": "127.0.0.1"}], "ports": [{"port": port}]}]}),
        ),
    ] {
        let r = http.post(path, &body).await.expect("create");
        assert_eq!(r.status, 201, "{}", r.body);
    }
}

/// Creates the CRD and waits until objects can be created in v2 (which
/// needs the webhook), as the conformance test's setup does.
async fn establish(http: &Http, crd: &Value) {
    let r = http.post(CRDS, crd).await.expect("create crd");
    assert_eq!(r.status, 201, "{}", r.body);
    let ready = eventually(Duration::from_secs(15), || async {
        let r = http.post(V2, &v2_object("probe", "h", "1")).await.ok()?;
        (r.status == 201).then_some(())
    })
    .await;
    assert!(ready.is_some(), "conversion never worked");
    let r = http
        .delete(&format!("{V2}/probe"), None)
        .await
        .expect("delete");
    assert_eq!(r.status, 200, "{}", r.body);
}

fn names(list: &Value) -> Vec<&str> {
    let mut n: Vec<&str> = list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i["metadata"]["name"].as_str())
        .collect();
    n.sort_unstable();
    n
}

#[tokio::test]
async fn a_webhook_converts_custom_resources_everywhere_they_cross_versions() {
    let etcd = Etcd::start().await.expect("etcd");
    let api = ApiServer::start(&etcd).await.expect("apiserver");
    let http = api.http();
    let seen: Reviews = Arc::default();
    let seen_in = Arc::clone(&seen);
    let hooks = WebhookServer::start(move |path, body| {
        let seen = Arc::clone(&seen_in);
        async move {
            match path.as_str() {
                "/crdconvert" => review(body, seen).await,
                _ => json!({}),
            }
        }
    })
    .await;
    webhook_service(&http, &hooks).await;
    let service = json!({"service": {"namespace": "hooks", "name": "e2e-webhook",
                                     "path": "/crdconvert", "port": 9443},
                         "caBundle": hooks.ca_bundle});
    establish(&http, &crd(service)).await;

    // A watch in v2 from now on.
    let rv = http.get(V2).await.expect("list").body["metadata"]["resourceVersion"]
        .as_str()
        .unwrap_or("0")
        .to_string();
    let mut watch = http
        .watch(&format!("{V2}?watch=true&resourceVersion={rv}"))
        .await
        .expect("watch");
    // And one selecting on a field only v2 has.
    let mut port_watch = http
        .watch(&format!(
            "{V2}?watch=true&resourceVersion={rv}&fieldSelector=port%3D8080"
        ))
        .await
        .expect("watch");

    // Created in v1 (the storage version: no conversion to store it).
    let created = http
        .post(V1, &v1_object("cr-instance-1", "localhost:8080"))
        .await
        .expect("create");
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body["hostPort"], "localhost:8080");
    let stored = in_etcd(&etcd, "cr-instance-1").await;
    assert_eq!(stored["apiVersion"], "stable.example.com/v1");
    assert_eq!(stored["hostPort"], "localhost:8080");

    // The watcher in v2 sees it in v2.
    let ev = watch.next(Duration::from_secs(5)).await.expect("event");
    assert_eq!(ev["type"], "ADDED");
    assert_eq!(ev["object"]["apiVersion"], "stable.example.com/v2");
    assert_eq!(ev["object"]["host"], "localhost");
    assert_eq!(ev["object"]["port"], "8080");
    assert_eq!(ev["object"]["metadata"]["name"], "cr-instance-1");

    let ev = port_watch
        .next(Duration::from_secs(5))
        .await
        .expect("event");
    assert_eq!(ev["type"], "ADDED");
    assert_eq!(ev["object"]["metadata"]["name"], "cr-instance-1");
    assert_eq!(ev["object"]["port"], "8080");

    // Read in v2: converted by the webhook, metadata untouched.
    seen.lock().expect("lock").clear();
    let v2 = http
        .get(&format!("{V2}/cr-instance-1"))
        .await
        .expect("get v2");
    assert_eq!(v2.status, 200, "{}", v2.body);
    assert_eq!(v2.body["apiVersion"], "stable.example.com/v2");
    assert_eq!(v2.body["host"], "localhost");
    assert_eq!(v2.body["port"], "8080");
    assert!(v2.body.get("hostPort").is_none());
    assert_eq!(v2.body["metadata"], created.body["metadata"]);
    {
        let reviews = seen.lock().expect("lock");
        assert_eq!(reviews.len(), 1, "{reviews:?}");
        assert_eq!(reviews[0]["apiVersion"], "apiextensions.k8s.io/v1");
        assert_eq!(
            reviews[0]["request"]["desiredAPIVersion"],
            "stable.example.com/v2"
        );
        assert_eq!(
            reviews[0]["request"]["objects"][0]["hostPort"],
            "localhost:8080"
        );
    }
    // And in v1, as stored.
    let v1 = http
        .get(&format!("{V1}/cr-instance-1"))
        .await
        .expect("get v1");
    assert_eq!(v1.body["hostPort"], "localhost:8080");
    assert!(v1.body.get("host").is_none());

    // Created in v2: converted to v1 to be stored, answered in v2.
    let created = http
        .post(V2, &v2_object("from-v2", "example", "80"))
        .await
        .expect("create v2");
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body["apiVersion"], "stable.example.com/v2");
    assert_eq!(created.body["host"], "example");
    let stored = in_etcd(&etcd, "from-v2").await;
    assert_eq!(stored["apiVersion"], "stable.example.com/v1");
    assert_eq!(stored["hostPort"], "example:80");
    assert!(stored.get("host").is_none());
    let ev = watch.next(Duration::from_secs(5)).await.expect("event");
    assert_eq!(ev["type"], "ADDED");
    assert_eq!(ev["object"]["metadata"]["name"], "from-v2");
    assert_eq!(ev["object"]["port"], "80");

    // A patch in v2 of an object stored in v1: changed in v2, stored in v1.
    let patched = http
        .patch(
            &format!("{V2}/from-v2"),
            "application/merge-patch+json",
            &json!({"port": "81"}),
        )
        .await
        .expect("patch");
    assert_eq!(patched.status, 200, "{}", patched.body);
    assert_eq!(patched.body["port"], "81");
    let stored = in_etcd(&etcd, "from-v2").await;
    assert_eq!(stored["hostPort"], "example:81");

    // v2 becomes the storage version; new objects are stored in v2.
    let mut crd_now = http
        .get(&format!("{CRDS}/hostports.stable.example.com"))
        .await
        .expect("crd")
        .body;
    crd_now["spec"]["versions"][0]["storage"] = json!(false);
    crd_now["spec"]["versions"][1]["storage"] = json!(true);
    let r = http
        .put(&format!("{CRDS}/hostports.stable.example.com"), &crd_now)
        .await
        .expect("update crd");
    assert_eq!(r.status, 200, "{}", r.body);
    let in_v2 = eventually(Duration::from_secs(10), || async {
        let r = http
            .post(V1, &v1_object("cr-instance-2", "localhost:8080"))
            .await
            .ok()?;
        if r.status != 201 {
            return None;
        }
        let (stored, _) = etcd.get_raw(&key("cr-instance-2")).await.ok()??;
        if stored["apiVersion"] == "stable.example.com/v2" {
            return Some(stored);
        }
        // Stored before the change took effect: again.
        http.delete(&format!("{V1}/cr-instance-2"), None)
            .await
            .ok()?;
        None
    })
    .await
    .expect("stored in v2");
    assert_eq!(in_v2["host"], "localhost");
    assert_eq!(in_v2["port"], "8080");

    // A list in v2 of objects stored in v1 and v2: one review for the two
    // stored in v1.
    seen.lock().expect("lock").clear();
    let list = http.get(V2).await.expect("list v2");
    assert_eq!(list.status, 200, "{}", list.body);
    assert_eq!(
        names(&list.body),
        vec!["cr-instance-1", "cr-instance-2", "from-v2"]
    );
    for item in list.body["items"].as_array().into_iter().flatten() {
        assert_eq!(item["apiVersion"], "stable.example.com/v2");
        assert!(item.get("hostPort").is_none(), "{item}");
        assert!(
            item["host"].is_string() && item["port"].is_string(),
            "{item}"
        );
    }
    // (The watcher may convert events of its own meanwhile: the reviews
    // that carry these objects are the list's.)
    let carrying = |name: &str, desired: &str| -> Vec<Vec<String>> {
        seen.lock()
            .expect("lock")
            .iter()
            .filter(|r| r["request"]["desiredAPIVersion"] == desired)
            .map(|r| {
                let mut n: Vec<String> = r["request"]["objects"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|o| o["metadata"]["name"].as_str().map(str::to_string))
                    .collect();
                n.sort();
                n
            })
            .filter(|objects| objects.iter().any(|o| o == name))
            .collect()
    };
    assert_eq!(
        carrying("cr-instance-1", "stable.example.com/v2"),
        vec![vec!["cr-instance-1".to_string(), "from-v2".to_string()]]
    );
    // v2's selectable fields select among objects stored in v1 and v2.
    let selected = http
        .get(&format!("{V2}?fieldSelector=host%3Dlocalhost,port%3D8080"))
        .await
        .expect("selected list");
    assert_eq!(selected.status, 200, "{}", selected.body);
    assert_eq!(
        names(&selected.body),
        vec!["cr-instance-1", "cr-instance-2"]
    );
    let selected = http
        .get(&format!("{V1}?fieldSelector=hostPort%3Dexample:81"))
        .await
        .expect("selected list");
    assert_eq!(names(&selected.body), vec!["from-v2"]);
    // The patch moved from-v2 to port 81: the port watcher never saw it,
    // and a patch back to 8080 shows it there.
    let r = http
        .patch(
            &format!("{V1}/from-v2"),
            "application/merge-patch+json",
            &json!({"hostPort": "example:8080"}),
        )
        .await
        .expect("patch v1");
    assert_eq!(r.status, 200, "{}", r.body);
    let mut seen_by_port: Vec<(String, String)> = Vec::new();
    while let Some(ev) = port_watch.next(Duration::from_secs(2)).await {
        let name = ev["object"]["metadata"]["name"].as_str().unwrap_or("");
        seen_by_port.push((ev["type"].as_str().unwrap_or("").into(), name.into()));
        if name == "from-v2" {
            break;
        }
    }
    assert!(
        seen_by_port.contains(&("ADDED".into(), "from-v2".into())),
        "{seen_by_port:?}"
    );
    assert!(
        !seen_by_port.iter().any(|(_, n)| n == "probe"),
        "{seen_by_port:?}"
    );

    // And in v1: the two now stored in v2 (from-v2 was patched since) go
    // together.
    seen.lock().expect("lock").clear();
    let list = http.get(V1).await.expect("list v1");
    assert_eq!(list.status, 200, "{}", list.body);
    for item in list.body["items"].as_array().into_iter().flatten() {
        assert_eq!(item["apiVersion"], "stable.example.com/v1");
        assert!(item["hostPort"].is_string(), "{item}");
    }
    assert_eq!(
        carrying("cr-instance-2", "stable.example.com/v1"),
        vec![vec!["cr-instance-2".to_string(), "from-v2".to_string()]]
    );
    drop(api);
}

#[tokio::test]
async fn an_unreachable_webhook_fails_the_request_and_stores_nothing() {
    let etcd = Etcd::start().await.expect("etcd");
    let api = ApiServer::start(&etcd).await.expect("apiserver");
    let http = api.http();
    let closed = free_port();
    let r = http
        .post(
            CRDS,
            &crd(json!({"url": format!("https://127.0.0.1:{closed}/crdconvert")})),
        )
        .await
        .expect("create crd");
    assert_eq!(r.status, 201, "{}", r.body);
    let refused = eventually(Duration::from_secs(10), || async {
        let r = http.post(V2, &v2_object("never", "h", "1")).await.ok()?;
        (r.status == 500).then_some(r.body)
    })
    .await
    .expect("a 500");
    let message = refused["message"].as_str().unwrap_or("");
    let expected = format!(
        "conversion webhook for stable.example.com/v2, Kind=HostPort failed: Post \"https://127.0.0.1:{closed}/crdconvert\": dial tcp 127.0.0.1:{closed}: "
    );
    assert!(message.starts_with(&expected), "{message}");
    assert_eq!(refused["code"], 500);
    assert!(refused.get("reason").is_none(), "{refused}");
    assert!(etcd.get_raw(&key("never")).await.expect("etcd").is_none());

    // In the storage version nothing needs the webhook.
    let r = http
        .post(V1, &v1_object("stored", "localhost:1"))
        .await
        .expect("create v1");
    assert_eq!(r.status, 201, "{}", r.body);
    let r = http.get(V1).await.expect("list v1");
    assert_eq!(names(&r.body), vec!["stored"]);
    // Reading it in v2 fails, a list names the list's kind.
    let r = http.get(V2).await.expect("list v2");
    assert_eq!(r.status, 500, "{}", r.body);
    let message = r.body["message"].as_str().unwrap_or("");
    assert!(
        message.starts_with(
            "conversion webhook for stable.example.com/v2, Kind=HostPortList failed: Post "
        ),
        "{message}"
    );
    // An update in v2 stores nothing either.
    let before = etcd.get_raw(&key("stored")).await.expect("etcd");
    let r = http
        .patch(
            &format!("{V2}/stored"),
            "application/merge-patch+json",
            &json!({"port": "2"}),
        )
        .await
        .expect("patch");
    assert_eq!(r.status, 500, "{}", r.body);
    assert_eq!(etcd.get_raw(&key("stored")).await.expect("etcd"), before);
    // Nor is it deleted through v2.
    let r = http
        .delete(&format!("{V2}/stored"), None)
        .await
        .expect("delete");
    assert_eq!(r.status, 500, "{}", r.body);
    assert_eq!(etcd.get_raw(&key("stored")).await.expect("etcd"), before);

    // The real kubectl prints upstream's message.
    let url = api.url.clone();
    let out = tokio::task::spawn_blocking(move || {
        kubectl(
            &url,
            &[
                "get",
                "hostports.v2.stable.example.com",
                "stored",
                "-o",
                "name",
            ],
        )
        .expect("kubectl")
    })
    .await
    .expect("kubectl ran");
    assert!(!out.success);
    assert!(
        out.stderr.contains(
            "Error from server: conversion webhook for stable.example.com/v1, Kind=HostPort failed: Post"
        ),
        "{}",
        out.stderr
    );
}

#[tokio::test]
async fn conversion_settings_are_validated_and_defaulted() {
    let etcd = Etcd::start().await.expect("etcd");
    let api = ApiServer::start(&etcd).await.expect("apiserver");
    let http = api.http();
    let causes = |body: &Value| -> Vec<String> {
        body["details"]["causes"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| {
                format!(
                    "{}: {}",
                    c["field"].as_str().unwrap_or(""),
                    c["message"].as_str().unwrap_or("")
                )
            })
            .collect()
    };
    let attempt = |conversion: Value| {
        let mut c = crd(json!({}));
        c["spec"]["conversion"] = conversion;
        let http = http.clone();
        async move {
            let r = http.post(CRDS, &c).await.expect("post");
            assert_eq!(r.status, 422, "{}", r.body);
            causes(&r.body)
        }
    };
    assert_eq!(
        attempt(json!({"strategy": "Webhook"})).await,
        vec![
            "spec.conversion.webhookClientConfig: Required value: required when strategy is set to Webhook",
            "spec.conversion.conversionReviewVersions: Required value",
        ]
    );
    assert_eq!(
        attempt(json!({"strategy": "Webhook", "webhook": {
            "clientConfig": {"url": "http://127.0.0.1/convert"},
            "conversionReviewVersions": ["v3"]}}))
        .await,
        vec![
            "spec.conversion.webhookClientConfig.url: Invalid value: \"http\": 'https' is the only allowed URL scheme; desired format: https://host[/path]",
            "spec.conversion.conversionReviewVersions: Invalid value: []string{\"v3\"}: must include at least one of v1, v1beta1",
        ]
    );
    assert_eq!(
        attempt(json!({"strategy": "Webhook", "webhook": {
            "clientConfig": {"url": "https://h/c", "service": {"namespace": "a", "name": "b"}},
            "conversionReviewVersions": ["v1"]}}))
        .await,
        vec!["spec.conversion.webhookClientConfig: Required value: exactly one of url or service is required"]
    );
    assert_eq!(
        attempt(json!({"strategy": "None", "webhook": {
            "clientConfig": {"url": "https://h/c"}, "conversionReviewVersions": ["v1"]}}))
        .await,
        vec![
            "spec.conversion.webhookClientConfig: Forbidden: should not be set when strategy is not set to Webhook",
            "spec.conversion.conversionReviewVersions: Forbidden: should not be set when strategy is not set to Webhook",
        ]
    );
    // A Service reference without a port gets 443.
    let created = http
        .post(
            CRDS,
            &crd(json!({"service": {"namespace": "hooks", "name": "e2e-webhook"}})),
        )
        .await
        .expect("create");
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(
        created.body["spec"]["conversion"]["webhook"]["clientConfig"]["service"]["port"],
        443
    );
    // No conversion given: None.
    let mut plain = crd(json!({}));
    plain["metadata"]["name"] = json!("others.stable.example.com");
    plain["spec"]["names"] = json!({"plural": "others", "kind": "Other"});
    if let Some(spec) = plain["spec"].as_object_mut() {
        spec.remove("conversion");
    }
    let created = http.post(CRDS, &plain).await.expect("create");
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(
        created.body["spec"]["conversion"],
        json!({"strategy": "None"})
    );
}
