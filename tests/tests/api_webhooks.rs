//! Admission webhooks against a real etcd and apiserver, with the webhooks
//! served by this test over HTTPS (a test CA signs their certificate; the
//! configurations carry the CA as `caBundle`): a validating webhook denies a
//! ConfigMap (and the real kubectl prints the denial and the webhook's
//! warning), a mutating webhook patches one and a reinvoked webhook runs
//! again, a Service reference with a `namespaceSelector`, `failurePolicy`
//! against an unreachable webhook, `timeoutSeconds`, dry runs and
//! `sideEffects`, custom resources, and the configurations' own validation.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{json, Value};
use tests::harness::{eventually, free_port, kubectl, ApiServer, Etcd, Http};
use tests::pki;
use tests::webhook_server::WebhookServer;

const VALIDATING: &str = "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations";
const MUTATING: &str = "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations";
const CONFIGMAPS: &str = "/api/v1/namespaces/default/configmaps";

/// What the webhooks were asked: (path, AdmissionReview request).
type Seen = Arc<Mutex<Vec<(String, Value)>>>;

/// The test's webhook server: several webhooks, one per path.
struct Webhooks {
    server: WebhookServer,
    addr: SocketAddr,
    /// The CA, base64 as in a configuration's `caBundle`.
    ca_bundle: String,
    seen: Seen,
}

impl Webhooks {
    async fn start() -> Webhooks {
        let seen: Seen = Arc::default();
        let seen_in = Arc::clone(&seen);
        let server = WebhookServer::start(move |path, review| {
            let seen = Arc::clone(&seen_in);
            async move { serve(path, review, seen).await }
        })
        .await;
        Webhooks {
            addr: server.addr,
            ca_bundle: server.ca_bundle.clone(),
            server,
            seen,
        }
    }

    fn url(&self, path: &str) -> Value {
        self.server.url(path)
    }

    /// The requests `path` got for objects named `name`.
    fn requests(&self, path: &str, name: &str) -> Vec<Value> {
        self.seen
            .lock()
            .expect("lock")
            .iter()
            .filter(|(p, r)| p == path && r["name"] == name)
            .map(|(_, r)| r.clone())
            .collect()
    }
}

fn patch_response(uid: &Value, patch: Value) -> Value {
    let encoded = base64::engine::general_purpose::STANDARD.encode(patch.to_string());
    json!({"uid": uid, "allowed": true, "patchType": "JSONPatch", "patch": encoded})
}

/// The webhooks, by path.
async fn serve(path: String, review: Value, seen: Seen) -> Value {
    let request = review["request"].clone();
    seen.lock()
        .expect("lock")
        .push((path.clone(), request.clone()));
    let uid = &request["uid"];
    let object = &request["object"];
    let response = match path.as_str() {
        // Denies ConfigMaps holding the key `webhook-e2e-test`.
        "/deny-key" => {
            if object["data"].get("webhook-e2e-test").is_some() {
                json!({"uid": uid, "allowed": false, "warnings": ["deny-key looked at this"],
                       "status": {"message": "the configmap contains unwanted key and value"}})
            } else {
                json!({"uid": uid, "allowed": true, "warnings": ["deny-key looked at this"]})
            }
        }
        "/deny-all" => json!({"uid": uid, "allowed": false,
                              "status": {"code": 403, "reason": "Forbidden", "message": "nothing passes"}}),
        "/allow" => json!({"uid": uid, "allowed": true}),
        // Adds `data.mutation-stage-1`.
        "/mutate" => {
            let patch = if object["data"].is_object() {
                json!([{"op": "add", "path": "/data/mutation-stage-1", "value": "yes"}])
            } else {
                json!([{"op": "add", "path": "/data", "value": {"mutation-stage-1": "yes"}}])
            };
            patch_response(uid, patch)
        }
        // Counts its calls in `data.a-calls`; then `/second` adds `data.b`.
        "/first" => {
            let calls = object["data"]["a-calls"].as_str().unwrap_or("").len() + 1;
            patch_response(
                uid,
                json!([{"op": "add", "path": "/data/a-calls", "value": "x".repeat(calls)}]),
            )
        }
        "/second" => patch_response(
            uid,
            json!([{"op": "add", "path": "/data/b", "value": "yes"}]),
        ),
        // Widgets: red ones are refused, the rest get a label.
        "/widgets" => {
            if object["spec"]["color"] == "red" {
                json!({"uid": uid, "allowed": false, "status": {"message": "no red widgets"}})
            } else {
                patch_response(
                    uid,
                    json!([{"op": "add", "path": "/metadata/labels/checked", "value": "yes"}]),
                )
            }
        }
        "/slow" => {
            tokio::time::sleep(Duration::from_secs(4)).await;
            json!({"uid": uid, "allowed": true})
        }
        _ => json!({"uid": uid, "allowed": false, "status": {"message": "unknown webhook path"}}),
    };
    json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": response})
}

async fn cluster() -> (Etcd, ApiServer, Http, Webhooks) {
    let etcd = Etcd::start().await.expect("etcd");
    let api = ApiServer::start(&etcd).await.expect("apiserver");
    let http = api.http();
    let hooks = Webhooks::start().await;
    (etcd, api, http, hooks)
}

/// One webhook configuration of `kind` ("Validating" or "Mutating").
fn configuration(kind: &str, name: &str, hook: Value) -> Value {
    json!({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": format!("{kind}WebhookConfiguration"),
        "metadata": {"name": name},
        "webhooks": [hook],
    })
}

fn hook(name: &str, client_config: Value, rules: Value) -> Value {
    json!({
        "name": name,
        "clientConfig": client_config,
        "rules": rules,
        "sideEffects": "None",
        "admissionReviewVersions": ["v1"],
    })
}

fn configmap_rules() -> Value {
    json!([{"operations": ["CREATE", "UPDATE"], "apiGroups": [""], "apiVersions": ["v1"],
            "resources": ["configmaps"]}])
}

fn configmap(name: &str, data: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data})
}

/// Creates objects until one gets `status` (a configuration applies once
/// its watch event reached the apiserver's cache); returns that answer.
async fn until_status(
    http: &Http,
    path: &str,
    status: u16,
    make: impl Fn(usize) -> Value,
) -> Value {
    let tries = std::sync::atomic::AtomicUsize::new(0);
    eventually(Duration::from_secs(15), || {
        let i = tries.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let body = make(i);
        async move {
            let r = http.post(path, &body).await.ok()?;
            (r.status == status).then_some(r.body)
        }
    })
    .await
    .unwrap_or_else(|| panic!("never got {status} creating under {path}"))
}

#[tokio::test]
async fn a_validating_webhook_denies_and_kubectl_prints_why() {
    let (_etcd, api, http, hooks) = cluster().await;
    let cfg = configuration(
        "Validating",
        "deny-key",
        hook(
            "deny-key.webhooks.test",
            hooks.url("/deny-key"),
            configmap_rules(),
        ),
    );
    assert_eq!(http.post(VALIDATING, &cfg).await.unwrap().status, 201);

    let denied = until_status(&http, CONFIGMAPS, 400, |i| {
        configmap(
            &format!("bad-{i}"),
            json!({"webhook-e2e-test": "webhook-disallow"}),
        )
    })
    .await;
    assert_eq!(
        denied["message"],
        "admission webhook \"deny-key.webhooks.test\" denied the request: the configmap contains unwanted key and value"
    );
    assert_eq!(denied["code"], 400);
    assert_eq!(denied["status"], "Failure");

    // An allowed object is stored, and the webhook saw who sent it and how.
    let ok = http
        .post(CONFIGMAPS, &configmap("good", json!({"fine": "yes"})))
        .await
        .unwrap();
    assert_eq!(ok.status, 201, "{}", ok.body);
    let seen = hooks.requests("/deny-key", "good");
    let req = &seen[0];
    assert_eq!(req["operation"], "CREATE");
    assert_eq!(req["namespace"], "default");
    assert_eq!(
        req["kind"],
        json!({"group": "", "version": "v1", "kind": "ConfigMap"})
    );
    assert_eq!(
        req["resource"],
        json!({"group": "", "version": "v1", "resource": "configmaps"})
    );
    assert_eq!(req["object"]["data"]["fine"], "yes");
    assert_eq!(req["oldObject"], Value::Null);
    assert_eq!(req["dryRun"], false);
    assert_eq!(req["options"]["kind"], "CreateOptions");
    assert!(req["userInfo"]["username"].is_string());

    // An update that adds the key is denied too, with the old object sent.
    let mut bad = ok.body.clone();
    bad["data"]["webhook-e2e-test"] = json!("webhook-disallow");
    let r = http.put(&format!("{CONFIGMAPS}/good"), &bad).await.unwrap();
    assert_eq!(r.status, 400, "{}", r.body);
    let update = hooks
        .requests("/deny-key", "good")
        .into_iter()
        .find(|r| r["operation"] == "UPDATE")
        .expect("the update was sent");
    assert_eq!(update["oldObject"]["data"], json!({"fine": "yes"}));
    let stored = http.get(&format!("{CONFIGMAPS}/good")).await.unwrap();
    assert!(stored.body["data"].get("webhook-e2e-test").is_none());

    // The real kubectl shows the denial and the webhook's warning. (It runs
    // off the runtime: the webhooks are served on it.)
    let run = |args: &'static [&'static str]| {
        let url = api.url.clone();
        tokio::task::spawn_blocking(move || kubectl(&url, args).expect("kubectl"))
    };
    let out = run(&[
        "create",
        "configmap",
        "via-kubectl",
        "--from-literal=webhook-e2e-test=webhook-disallow",
    ])
    .await
    .unwrap();
    assert!(!out.success);
    assert!(
        out.stderr.contains(
            "error: failed to create configmap: admission webhook \"deny-key.webhooks.test\" denied the request: the configmap contains unwanted key and value"
        ),
        "{}",
        out.stderr
    );
    let out = run(&[
        "create",
        "configmap",
        "fine-via-kubectl",
        "--from-literal=a=b",
    ])
    .await
    .unwrap();
    assert!(out.success, "{}", out.stderr);
    assert!(
        out.stderr.contains("Warning: deny-key looked at this"),
        "{}",
        out.stderr
    );
}

#[tokio::test]
async fn a_mutating_webhook_patches_and_if_needed_reruns() {
    let (_etcd, _api, http, hooks) = cluster().await;
    let cfg = configuration(
        "Mutating",
        "mutate",
        hook(
            "mutate.webhooks.test",
            hooks.url("/mutate"),
            configmap_rules(),
        ),
    );
    assert_eq!(http.post(MUTATING, &cfg).await.unwrap().status, 201);
    let created = eventually(Duration::from_secs(15), || {
        let http = http.clone();
        async move {
            let name = tests::harness::unique("mutated");
            let r = http
                .post(CONFIGMAPS, &configmap(&name, json!({"x": "y"})))
                .await
                .ok()?;
            (r.body["data"]["mutation-stage-1"] == "yes").then_some(r.body)
        }
    })
    .await
    .expect("the webhook's patch is applied");
    assert_eq!(created["data"]["x"], "y");
    // Stored as patched.
    let name = created["metadata"]["name"].as_str().unwrap();
    let stored = http.get(&format!("{CONFIGMAPS}/{name}")).await.unwrap();
    assert_eq!(stored.body["data"]["mutation-stage-1"], "yes");
    // A ConfigMap without data gets the map.
    let r = http
        .post(
            CONFIGMAPS,
            &json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "empty"}}),
        )
        .await
        .unwrap();
    assert_eq!(
        r.body["data"],
        json!({"mutation-stage-1": "yes"}),
        "{}",
        r.body
    );

    // Reinvocation: `first` (IfNeeded) runs before `second` (names sort),
    // and `second` changes the object after it, so `first` runs again.
    let mut first = hook(
        "first.webhooks.test",
        hooks.url("/first"),
        configmap_rules(),
    );
    first["reinvocationPolicy"] = json!("IfNeeded");
    let second = hook(
        "second.webhooks.test",
        hooks.url("/second"),
        configmap_rules(),
    );
    for (name, h) in [("a-first", first), ("b-second", second)] {
        let r = http
            .post(MUTATING, &configuration("Mutating", name, h))
            .await
            .unwrap();
        assert_eq!(r.status, 201, "{}", r.body);
    }
    let body = eventually(Duration::from_secs(15), || {
        let http = http.clone();
        async move {
            let name = tests::harness::unique("reinvoked");
            let r = http
                .post(CONFIGMAPS, &configmap(&name, json!({})))
                .await
                .ok()?;
            (r.body["data"]["b"] == "yes" && r.body["data"]["a-calls"].is_string())
                .then_some(r.body)
        }
    })
    .await
    .expect("both webhooks ran");
    assert_eq!(body["data"]["a-calls"], "xx", "first ran twice: {body}");
    let name = body["metadata"]["name"].as_str().unwrap();
    assert_eq!(hooks.requests("/first", name).len(), 2);
    assert_eq!(hooks.requests("/second", name).len(), 1);
}

#[tokio::test]
async fn a_service_webhook_for_pods_honours_its_namespace_selector() {
    let (_etcd, _api, http, hooks) = cluster().await;
    for (ns, labels) in [
        ("hooks", json!({})),
        ("guarded", json!({"webhook": "on"})),
        ("open", json!({})),
    ] {
        let r = http
            .post(
                "/api/v1/namespaces",
                &json!({"apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": ns, "labels": labels}}),
            )
            .await
            .unwrap();
        assert_eq!(r.status, 201, "{}", r.body);
    }
    // The webhook behind a Service whose Endpoints point at this test.
    let port = hooks.addr.port();
    let r = http
        .post(
            "/api/v1/namespaces/hooks/services",
            &json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "e2e-webhook"},
            "spec": {"ports": [{"name": "https", "port": 8443, "targetPort": port}]}}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 201, "{}", r.body);
    let r = http
        .post(
            "/api/v1/namespaces/hooks/endpoints",
            &json!({"apiVersion": "v1", "kind": "Endpoints",
            "metadata": {"name": "e2e-webhook"},
            "subsets": [{"addresses": [{"ip": "127.0.0.1"}],
                         "ports": [{"name": "https", "port": port}]}]}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 201, "{}", r.body);
    let mut h = hook(
        "pods.webhooks.test",
        json!({"service": {"namespace": "hooks", "name": "e2e-webhook", "path": "/deny-all", "port": 8443},
               "caBundle": hooks.ca_bundle}),
        json!([{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"]}]),
    );
    h["namespaceSelector"] = json!({"matchLabels": {"webhook": "on"}});
    let r = http
        .post(VALIDATING, &configuration("Validating", "pods", h))
        .await
        .unwrap();
    assert_eq!(r.status, 201, "{}", r.body);
    let pod = |name: String| {
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
               "spec": {"containers": [{"name": "c", "image": "busybox"}]}})
    };
    let denied = until_status(&http, "/api/v1/namespaces/guarded/pods", 403, |i| {
        pod(format!("p-{i}"))
    })
    .await;
    assert_eq!(
        denied["message"],
        "admission webhook \"pods.webhooks.test\" denied the request: nothing passes"
    );
    assert_eq!(denied["reason"], "Forbidden");
    let r = http
        .post("/api/v1/namespaces/open/pods", &pod("free".into()))
        .await
        .unwrap();
    assert_eq!(r.status, 201, "{}", r.body);
    assert!(hooks.requests("/deny-all", "free").is_empty());
}

#[tokio::test]
async fn failure_policy_decides_about_an_unreachable_webhook() {
    let (_etcd, _api, http, hooks) = cluster().await;
    let closed = free_port();
    let unreachable =
        json!({"url": format!("https://127.0.0.1:{closed}/nowhere"), "caBundle": hooks.ca_bundle});
    let cfg = configuration(
        "Validating",
        "unreachable",
        hook("unreachable.webhooks.test", unreachable, configmap_rules()),
    );
    let created = http.post(VALIDATING, &cfg).await.unwrap();
    assert_eq!(created.status, 201, "{}", created.body);
    let failed = until_status(&http, CONFIGMAPS, 500, |i| {
        configmap(&format!("c-{i}"), json!({}))
    })
    .await;
    let message = failed["message"].as_str().unwrap();
    let expected = format!(
        "Internal error occurred: failed calling webhook \"unreachable.webhooks.test\": failed to call webhook: Post \"https://127.0.0.1:{closed}/nowhere?timeout=10s\": dial tcp 127.0.0.1:{closed}: "
    );
    assert!(message.starts_with(&expected), "{message}");
    assert_eq!(failed["reason"], "InternalError");

    // The same webhook failing open.
    let mut ignoring = created.body.clone();
    ignoring["webhooks"][0]["failurePolicy"] = json!("Ignore");
    let r = http
        .put(&format!("{VALIDATING}/unreachable"), &ignoring)
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    until_status(&http, CONFIGMAPS, 201, |i| {
        configmap(&format!("d-{i}"), json!({}))
    })
    .await;
}

#[tokio::test]
async fn a_webhook_slower_than_its_timeout_fails_or_is_ignored() {
    let (_etcd, _api, http, hooks) = cluster().await;
    let mut h = hook("slow.webhooks.test", hooks.url("/slow"), configmap_rules());
    h["timeoutSeconds"] = json!(1);
    let created = http
        .post(VALIDATING, &configuration("Validating", "slow", h))
        .await
        .unwrap();
    assert_eq!(created.status, 201, "{}", created.body);
    let failed = until_status(&http, CONFIGMAPS, 500, |i| {
        configmap(&format!("s-{i}"), json!({}))
    })
    .await;
    let message = failed["message"].as_str().unwrap();
    assert!(
        message.contains("failed calling webhook \"slow.webhooks.test\""),
        "{message}"
    );
    assert!(
        message.ends_with("?timeout=1s\": context deadline exceeded"),
        "{message}"
    );

    let mut ignoring = created.body.clone();
    ignoring["webhooks"][0]["failurePolicy"] = json!("Ignore");
    let r = http
        .put(&format!("{VALIDATING}/slow"), &ignoring)
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    until_status(&http, CONFIGMAPS, 201, |i| {
        configmap(&format!("t-{i}"), json!({}))
    })
    .await;
    // Ignored after its timeout, not after the webhook's 4 s.
    let start = Instant::now();
    let r = http
        .post(CONFIGMAPS, &configmap("timed", json!({})))
        .await
        .unwrap();
    assert_eq!(r.status, 201, "{}", r.body);
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(3),
        "{took:?}"
    );
}

#[tokio::test]
async fn dry_run_skips_no_webhook_and_refuses_side_effects() {
    let (etcd, _api, http, hooks) = cluster().await;
    // A webhook safe on dry runs sees `dryRun: true`.
    let mut safe = hook("safe.webhooks.test", hooks.url("/allow"), configmap_rules());
    safe["sideEffects"] = json!("NoneOnDryRun");
    let r = http
        .post(VALIDATING, &configuration("Validating", "safe", safe))
        .await
        .unwrap();
    assert_eq!(r.status, 201, "{}", r.body);
    let name = eventually(Duration::from_secs(15), || {
        let http = http.clone();
        let hooks = &hooks;
        async move {
            let name = tests::harness::unique("dry");
            let r = http
                .post(
                    &format!("{CONFIGMAPS}?dryRun=All"),
                    &configmap(&name, json!({})),
                )
                .await
                .ok()?;
            (r.status == 201 && !hooks.requests("/allow", &name).is_empty()).then_some(name)
        }
    })
    .await
    .expect("the webhook is called on a dry run");
    let req = &hooks.requests("/allow", &name)[0];
    assert_eq!(req["dryRun"], true);
    assert_eq!(req["options"]["dryRun"], json!(["All"]));
    assert_eq!(
        http.get(&format!("{CONFIGMAPS}/{name}"))
            .await
            .unwrap()
            .status,
        404
    );

    // v1 refuses `sideEffects: Some`; a configuration stored by an older
    // version can still have it. A dry run that would call it is refused.
    let mut risky = hook(
        "risky.webhooks.test",
        hooks.url("/allow"),
        configmap_rules(),
    );
    risky["sideEffects"] = json!("Some");
    let refused = http
        .post(
            VALIDATING,
            &configuration("Validating", "risky", risky.clone()),
        )
        .await
        .unwrap();
    assert_eq!(refused.status, 422, "{}", refused.body);
    let mut stored = configuration("Validating", "risky", risky);
    stored["metadata"]["uid"] = json!("8d4c1c1a-0000-4000-8000-000000000001");
    stored["metadata"]["creationTimestamp"] = json!("2026-01-01T00:00:00Z");
    etcd.put_raw(
        "/registry/validatingwebhookconfigurations/risky",
        &stored.to_string(),
    )
    .await
    .unwrap();
    let refused = until_status(&http, &format!("{CONFIGMAPS}?dryRun=All"), 400, |i| {
        configmap(&format!("r-{i}"), json!({}))
    })
    .await;
    assert_eq!(
        refused["message"],
        "admission webhook \"risky.webhooks.test\" does not support dry run"
    );
    // Without dryRun it is called.
    let r = http
        .post(CONFIGMAPS, &configmap("wet", json!({})))
        .await
        .unwrap();
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(hooks.requests("/allow", "wet").len(), 2);
}

#[tokio::test]
async fn webhooks_see_custom_resources() {
    let (_etcd, _api, http, hooks) = cluster().await;
    let crd = json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.hooks.test"},
        "spec": {"group": "hooks.test", "scope": "Namespaced",
                 "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
                 "versions": [{"name": "v1", "served": true, "storage": true,
                     "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                         "spec": {"type": "object", "properties": {"color": {"type": "string"}}}}}}}]}
    });
    let r = http
        .post(
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
            &crd,
        )
        .await
        .unwrap();
    assert_eq!(r.status, 201, "{}", r.body);
    let rules = json!([{"operations": ["CREATE"], "apiGroups": ["hooks.test"], "apiVersions": ["*"],
                        "resources": ["widgets"], "scope": "Namespaced"}]);
    let r = http
        .post(
            MUTATING,
            &configuration(
                "Mutating",
                "widgets",
                hook("widgets.webhooks.test", hooks.url("/widgets"), rules),
            ),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 201, "{}", r.body);
    let widgets = "/apis/hooks.test/v1/namespaces/default/widgets";
    let widget = |name: String, color: &str| {
        json!({"apiVersion": "hooks.test/v1", "kind": "Widget",
               "metadata": {"name": name, "labels": {"size": "s"}}, "spec": {"color": color}})
    };
    let denied = until_status(&http, widgets, 400, |i| widget(format!("red-{i}"), "red")).await;
    assert_eq!(
        denied["message"],
        "admission webhook \"widgets.webhooks.test\" denied the request: no red widgets"
    );
    let r = http
        .post(widgets, &widget("blue".into(), "blue"))
        .await
        .unwrap();
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(
        r.body["metadata"]["labels"],
        json!({"size": "s", "checked": "yes"})
    );
    let req = &hooks.requests("/widgets", "blue")[0];
    assert_eq!(
        req["kind"],
        json!({"group": "hooks.test", "version": "v1", "kind": "Widget"})
    );
}

#[tokio::test]
async fn configurations_are_validated_and_never_sent_to_webhooks() {
    let (_etcd, _api, http, hooks) = cluster().await;
    let bad = |mutate: &dyn Fn(&mut Value)| {
        let mut h = hook("x.webhooks.test", hooks.url("/allow"), configmap_rules());
        mutate(&mut h);
        configuration("Validating", "bad", h)
    };
    let cases: Vec<(Value, &str)> = vec![
        (
            bad(&|h| h["clientConfig"]["url"] = json!("http://127.0.0.1/x")),
            "webhooks[0].clientConfig.url",
        ),
        (
            bad(&|h| {
                h.as_object_mut().unwrap().remove("sideEffects");
            }),
            "webhooks[0].sideEffects",
        ),
        (
            bad(&|h| h["admissionReviewVersions"] = json!(["v2"])),
            "webhooks[0].admissionReviewVersions",
        ),
        (
            bad(&|h| h["matchConditions"] = json!([{"name": "c", "expression": "object.("}])),
            "webhooks[0].matchConditions[0].expression",
        ),
    ];
    for (cfg, field) in cases {
        let r = http.post(VALIDATING, &cfg).await.unwrap();
        assert_eq!(r.status, 422, "{}", r.body);
        let causes = r.body["details"]["causes"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert!(
            causes.iter().any(|c| c["field"] == field),
            "{field}: {}",
            r.body
        );
    }
    // A webhook that denies everything does not stop its own removal.
    let all = json!([{"operations": ["*"], "apiGroups": ["*"], "apiVersions": ["*"], "resources": ["*/*"]}]);
    let r = http
        .post(
            VALIDATING,
            &configuration(
                "Validating",
                "deny-all",
                hook("all.webhooks.test", hooks.url("/deny-all"), all),
            ),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 201, "{}", r.body);
    until_status(&http, CONFIGMAPS, 403, |i| {
        configmap(&format!("n-{i}"), json!({}))
    })
    .await;
    let r = http
        .delete(&format!("{VALIDATING}/deny-all"), None)
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    until_status(&http, CONFIGMAPS, 201, |i| {
        configmap(&format!("m-{i}"), json!({}))
    })
    .await;
}

#[tokio::test]
async fn a_webhook_can_deny_attaching_to_a_pod() {
    let (_etcd, _api, http, hooks) = cluster().await;
    let rules = json!([{"operations": ["CONNECT"], "apiGroups": [""], "apiVersions": ["v1"],
                        "resources": ["pods/attach"]}]);
    let r = http
        .post(
            VALIDATING,
            &configuration(
                "Validating",
                "attach",
                hook("attach.webhooks.test", hooks.url("/deny-all"), rules),
            ),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 201, "{}", r.body);
    let denied = eventually(Duration::from_secs(15), || {
        let http = http.clone();
        async move {
            let r = http
                .raw(
                    "POST",
                    "/api/v1/namespaces/default/pods/to-be-attached/attach?container=c&stdin=true&stdout=true",
                    None,
                    Vec::new(),
                )
                .await
                .ok()?;
            (r.status == 403).then_some(r.body)
        }
    })
    .await
    .expect("the attach is denied");
    assert_eq!(
        denied["message"],
        "admission webhook \"attach.webhooks.test\" denied the request: nothing passes"
    );
    let req = &hooks.requests("/deny-all", "to-be-attached")[0];
    assert_eq!(req["operation"], "CONNECT");
    assert_eq!(req["subResource"], "attach");
    assert_eq!(
        req["object"],
        json!({"apiVersion": "v1", "kind": "PodAttachOptions", "container": "c", "stdin": true, "stdout": true})
    );
    // Other subresources are not covered by the rule.
    let r = http
        .raw(
            "POST",
            "/api/v1/namespaces/default/pods/to-be-attached/exec?command=ls&container=c",
            None,
            Vec::new(),
        )
        .await
        .unwrap();
    assert_ne!(r.status, 403, "{}", r.body);
}

#[tokio::test]
async fn a_webhook_is_trusted_only_with_its_ca_bundle() {
    let (_etcd, _api, http, hooks) = cluster().await;
    // Another CA than the one that signed the webhook's certificate.
    let other = tempfile::tempdir().expect("temp dir");
    let other_ca = std::fs::read(pki::self_signed_ca(other.path())).expect("CA");
    let wrong = json!({"url": format!("https://{}/allow", hooks.addr),
                       "caBundle": base64::engine::general_purpose::STANDARD.encode(other_ca)});
    let r = http
        .post(
            VALIDATING,
            &configuration(
                "Validating",
                "untrusted",
                hook("untrusted.webhooks.test", wrong, configmap_rules()),
            ),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 201, "{}", r.body);
    let failed = until_status(&http, CONFIGMAPS, 500, |i| {
        configmap(&format!("u-{i}"), json!({}))
    })
    .await;
    let message = failed["message"].as_str().unwrap();
    assert!(
        message.contains("failed calling webhook \"untrusted.webhooks.test\"")
            && message.contains("tls: "),
        "{message}"
    );
    let sent = hooks.seen.lock().expect("lock").len();
    assert_eq!(sent, 0, "nothing reached the webhook");
}

#[tokio::test]
async fn disabled_plugins_call_no_webhooks() {
    let etcd = Etcd::start().await.expect("etcd");
    let api = ApiServer::start_with(
        &etcd,
        &["--disable-admission-plugins", "ValidatingAdmissionWebhook"],
    )
    .await
    .expect("apiserver");
    let http = api.http();
    let hooks = Webhooks::start().await;
    let deny = hook(
        "deny-key.webhooks.test",
        hooks.url("/deny-key"),
        configmap_rules(),
    );
    let mutate = hook(
        "mutate.webhooks.test",
        hooks.url("/mutate"),
        configmap_rules(),
    );
    let r = http
        .post(VALIDATING, &configuration("Validating", "deny-key", deny))
        .await
        .unwrap();
    assert_eq!(r.status, 201, "{}", r.body);
    let r = http
        .post(MUTATING, &configuration("Mutating", "mutate", mutate))
        .await
        .unwrap();
    assert_eq!(r.status, 201, "{}", r.body);
    // The mutating webhook runs: both configurations are in force.
    let created = eventually(Duration::from_secs(15), || {
        let http = http.clone();
        async move {
            let name = tests::harness::unique("unchecked");
            let r = http
                .post(
                    CONFIGMAPS,
                    &configmap(&name, json!({"webhook-e2e-test": "webhook-disallow"})),
                )
                .await
                .ok()?;
            (r.body["data"]["mutation-stage-1"] == "yes").then_some(r)
        }
    })
    .await
    .expect("the mutating webhook runs");
    assert_eq!(created.status, 201, "{}", created.body);
    assert!(hooks
        .seen
        .lock()
        .expect("lock")
        .iter()
        .all(|(p, _)| p == "/mutate"));
}

#[tokio::test]
async fn a_webhook_can_refuse_a_deletion() {
    let (_etcd, _api, http, hooks) = cluster().await;
    let r = http
        .post(CONFIGMAPS, &configmap("kept", json!({"a": "b"})))
        .await
        .unwrap();
    assert_eq!(r.status, 201, "{}", r.body);
    let rules = json!([{"operations": ["DELETE"], "apiGroups": [""], "apiVersions": ["v1"],
                        "resources": ["configmaps"]}]);
    let mut h = hook("no-delete.webhooks.test", hooks.url("/deny-all"), rules);
    h["objectSelector"] =
        json!({"matchExpressions": [{"key": "deletable", "operator": "DoesNotExist"}]});
    let r = http
        .post(VALIDATING, &configuration("Validating", "no-delete", h))
        .await
        .unwrap();
    assert_eq!(r.status, 201, "{}", r.body);
    let denied = eventually(Duration::from_secs(15), || {
        let http = http.clone();
        async move {
            let r = http
                .delete(&format!("{CONFIGMAPS}/kept"), None)
                .await
                .ok()?;
            (r.status == 403).then_some(r.body)
        }
    })
    .await
    .expect("the deletion is refused");
    assert_eq!(
        denied["message"],
        "admission webhook \"no-delete.webhooks.test\" denied the request: nothing passes"
    );
    let req = &hooks.requests("/deny-all", "kept")[0];
    assert_eq!(req["operation"], "DELETE");
    assert_eq!(req["object"], Value::Null);
    assert_eq!(req["oldObject"]["data"], json!({"a": "b"}));
    assert_eq!(req["options"]["kind"], "DeleteOptions");
    assert_eq!(
        http.get(&format!("{CONFIGMAPS}/kept"))
            .await
            .unwrap()
            .status,
        200
    );
    // The object selector lets labelled objects go.
    let mut labelled = http.get(&format!("{CONFIGMAPS}/kept")).await.unwrap().body;
    labelled["metadata"]["labels"] = json!({"deletable": "yes"});
    assert_eq!(
        http.put(&format!("{CONFIGMAPS}/kept"), &labelled)
            .await
            .unwrap()
            .status,
        200
    );
    let r = http
        .delete(&format!("{CONFIGMAPS}/kept"), None)
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
}

#[tokio::test]
async fn an_eviction_is_admitted_as_its_own_create() {
    let (_etcd, _api, http, hooks) = cluster().await;
    let pods = "/api/v1/namespaces/default/pods";
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "evictee"},
                     "spec": {"containers": [{"name": "c", "image": "busybox"}]}});
    assert_eq!(http.post(pods, &pod).await.unwrap().status, 201);
    let rules = json!([{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"],
                        "resources": ["pods/eviction"]}]);
    let r = http
        .post(
            VALIDATING,
            &configuration(
                "Validating",
                "evictions",
                hook("evictions.webhooks.test", hooks.url("/deny-all"), rules),
            ),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 201, "{}", r.body);
    // The configuration reaches admission through a watch, a moment after
    // the write: wait for it with evictions of a pod that does not exist
    // (admitted before the pod is looked up), so the real pod is evicted
    // only once the webhook is in place.
    let probe = json!({"apiVersion": "policy/v1", "kind": "Eviction",
                       "metadata": {"name": "nobody", "namespace": "default"}});
    eventually(Duration::from_secs(15), || {
        let http = http.clone();
        let probe = probe.clone();
        async move {
            let r = http
                .post(&format!("{pods}/nobody/eviction"), &probe)
                .await
                .ok()?;
            (r.status == 403).then_some(())
        }
    })
    .await
    .expect("the webhook is in place");
    let eviction = json!({"apiVersion": "policy/v1", "kind": "Eviction",
                          "metadata": {"name": "evictee", "namespace": "default"}});
    let r = http
        .post(&format!("{pods}/evictee/eviction"), &eviction)
        .await
        .unwrap();
    assert_eq!(r.status, 403, "the eviction is refused: {}", r.body);
    let denied = r.body;
    assert_eq!(
        denied["message"],
        "admission webhook \"evictions.webhooks.test\" denied the request: nothing passes"
    );
    let req = &hooks.requests("/deny-all", "evictee")[0];
    assert_eq!(req["operation"], "CREATE");
    assert_eq!(req["subResource"], "eviction");
    assert_eq!(
        req["kind"],
        json!({"group": "policy", "version": "v1", "kind": "Eviction"})
    );
    assert_eq!(
        req["resource"],
        json!({"group": "", "version": "v1", "resource": "pods"})
    );
    assert_eq!(
        http.get(&format!("{pods}/evictee")).await.unwrap().status,
        200
    );
}
