//! API aggregation against a real etcd and apiserver: a small extension
//! apiserver written here (axum over rustls) serves
//! `wardle.example.com/v1alpha1`. It trusts only the apiserver's
//! front-proxy client certificate (signed by the request-header CA, with
//! an allowed CommonName) and answers every list with a Flunder named after
//! the `X-Remote-User` the proxy sent. An APIService points at a
//! selectorless Service whose EndpointSlice names the extension server on
//! loopback.
//!
//! The real kubectl discovers and lists the extension's resource through the
//! apiserver as a token user; watches stream and upgrades pass through; the
//! APIService's `Available` condition follows the backend (MissingEndpoints,
//! ServiceNotFound, FailedDiscoveryCheck with a wrong `caBundle` and with
//! the backend stopped, Passed again in between), and the proxy answers 503
//! while it is not available; built-in group/versions have Local
//! APIServices; the `extension-apiserver-authentication` ConfigMap carries
//! the flags, and the apiserver itself believes that proxy's headers (and
//! nobody else's); the extension's OpenAPI document is listed and proxied.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, Request};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use base64::Engine;
use component_base::tls::PeerCertificates;
use futures::StreamExt;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::{json, Value};
use tests::harness::{eventually, free_port, kubectl, ApiServer, Etcd, Http};
use tests::pki;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const GROUP: &str = "wardle.example.com";
const VERSION: &str = "v1alpha1";
const APISERVICE: &str = "v1alpha1.wardle.example.com";
const APISERVICES: &str = "/apis/apiregistration.k8s.io/v1/apiservices";
/// The CommonName of the apiserver's front-proxy client certificate.
const PROXY_CN: &str = "front-proxy-client";
const TOKEN: &str = "tok-alice-0123456789";

/// The resource list the extension server publishes.
fn resource_list() -> Value {
    json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": format!("{GROUP}/{VERSION}"),
        "resources": [
            {"name": "flunders", "singularName": "flunder", "namespaced": true, "kind": "Flunder",
             "verbs": ["get", "list", "watch"], "shortNames": ["fl"]},
            {"name": "flunders/exec", "singularName": "", "namespaced": true, "kind": "Flunder",
             "verbs": ["get"]},
        ],
    })
}

/// Who the proxy says the user is, from upstream's request headers.
fn remote_user(req: &Request) -> (String, Vec<String>) {
    let h = req.headers();
    let user = h
        .get("x-remote-user")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let groups = h
        .get_all("x-remote-group")
        .iter()
        .filter_map(|v| v.to_str().ok().map(String::from))
        .collect();
    (user, groups)
}

fn flunder(ns: &str, user: &str, groups: &[String]) -> Value {
    json!({
        "apiVersion": format!("{GROUP}/{VERSION}"),
        "kind": "Flunder",
        "metadata": {"name": user.replace(':', "-"), "namespace": ns,
                     "annotations": {"seen-groups": groups.join(",")}},
    })
}

/// The request-header authentication an extension server does: the
/// client certificate (already verified against the request-header CA by
/// TLS) must name an allowed proxy, else the headers are not believed.
fn from_proxy(req: &Request) -> bool {
    req.extensions()
        .get::<PeerCertificates>()
        .and_then(|c| c.0.first().and_then(component_base::tls::user_of))
        .is_some_and(|(cn, _)| cn == PROXY_CN)
}

async fn list(Path(ns): Path<String>, req: Request) -> Response {
    if !from_proxy(&req) {
        return (http::StatusCode::UNAUTHORIZED, "not the front proxy").into_response();
    }
    let (user, groups) = remote_user(&req);
    let item = flunder(&ns, &user, &groups);
    let watching = req.uri().query().is_some_and(|q| q.contains("watch=true"));
    if watching {
        // One event, then the stream stays open: it can only reach the
        // client if the proxy streams.
        let event = format!("{}\n", json!({"type": "ADDED", "object": item}));
        let stream = futures::stream::once(async move { Ok::<_, std::io::Error>(event) })
            .chain(futures::stream::pending());
        return (
            [(http::header::CONTENT_TYPE, "application/json")],
            Body::from_stream(stream),
        )
            .into_response();
    }
    axum::Json(json!({
        "apiVersion": format!("{GROUP}/{VERSION}"),
        "kind": "FlunderList",
        "metadata": {"resourceVersion": "1"},
        "items": [item],
    }))
    .into_response()
}

/// An upgrade to a protocol that echoes what it is sent.
async fn echo(mut req: Request) -> Response {
    if !from_proxy(&req) {
        return (http::StatusCode::UNAUTHORIZED, "not the front proxy").into_response();
    }
    let upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        if let Ok(io) = upgrade.await {
            let mut io = hyper_util::rt::TokioIo::new(io);
            let mut buf = [0u8; 64];
            while let Ok(n) = io.read(&mut buf).await {
                if n == 0 || io.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
        }
    });
    Response::builder()
        .status(http::StatusCode::SWITCHING_PROTOCOLS)
        .header(http::header::CONNECTION, "upgrade")
        .header(http::header::UPGRADE, "echo")
        .body(Body::empty())
        .unwrap_or_default()
}

/// The extension apiserver: serving certificate for `<svc>.<ns>.svc`,
/// client certificates required and checked against the request-header CA.
/// It stops listening when the returned sender is used or dropped.
async fn start_extension(
    dir: &std::path::Path,
    serving_ca_dir: &std::path::Path,
    proxy_ca: &std::path::Path,
    host: &str,
) -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let (crt, key) = pki::serving_cert(dir, serving_ca_dir, "wardle", host, &format!("DNS:{host}"));
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&crt)
        .expect("certificate")
        .collect::<Result<_, _>>()
        .expect("certificate");
    let key = PrivateKeyDer::from_pem_file(&key).expect("key");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for ca in CertificateDer::pem_file_iter(proxy_ca).expect("CA") {
        roots.add(ca.expect("CA")).expect("CA");
    }
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .expect("verifier");
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocols")
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)
        .expect("server config");
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let prefix = format!("/apis/{GROUP}/{VERSION}");
    let app = Router::new()
        .route(&prefix, get(|| async { axum::Json(resource_list()) }))
        .route(
            &format!("/openapi/v3{prefix}"),
            get(|| async { axum::Json(json!({"openapi": "3.0.0", "info": {"title": "wardle"}})) }),
        )
        .route(&format!("{prefix}/namespaces/{{ns}}/flunders"), get(list))
        .route(
            &format!("{prefix}/namespaces/{{ns}}/flunders/{{name}}/exec"),
            get(echo),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(component_base::tls::serve(
        listener,
        Arc::new(config),
        app,
        async move {
            let _ = stop_rx.await;
        },
    ));
    (addr, stop)
}

async fn available(http: &Http) -> Option<(String, String, String)> {
    let reply = http
        .get(&format!("{APISERVICES}/{APISERVICE}"))
        .await
        .ok()?;
    let c = reply.body["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == "Available")?
        .clone();
    let text = |k: &str| c[k].as_str().unwrap_or("").to_string();
    Some((text("status"), text("reason"), text("message")))
}

/// Waits until the APIService's condition has `status` and `reason`;
/// returns its message.
async fn wait_for(http: &Http, status: &str, reason: &str) -> String {
    let found = eventually(Duration::from_secs(20), || async {
        available(http)
            .await
            .filter(|(s, r, _)| s == status && r == reason)
    })
    .await;
    match found {
        Some((_, _, message)) => message,
        None => panic!(
            "Available never became {status}/{reason}: {:?}",
            available(http).await
        ),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_apiservice_hands_its_group_version_to_an_extension_apiserver() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (proxy_ca_dir, serving_ca_dir, other_ca_dir) = (
        dir.path().join("front-proxy-ca"),
        dir.path().join("serving-ca"),
        dir.path().join("other-ca"),
    );
    for d in [&proxy_ca_dir, &serving_ca_dir, &other_ca_dir] {
        std::fs::create_dir_all(d).expect("dir");
    }
    let proxy_ca = pki::self_signed_ca(&proxy_ca_dir);
    let serving_ca = pki::self_signed_ca(&serving_ca_dir);
    let other_ca = pki::self_signed_ca(&other_ca_dir);
    let (proxy_crt, proxy_key) =
        pki::client_cert(dir.path(), &proxy_ca_dir, "proxy", PROXY_CN, &[]);
    let tokens = dir.path().join("tokens.csv");
    std::fs::write(&tokens, format!("{TOKEN},alice,uid-alice,wardlers\n")).expect("tokens");
    let ns = tests::harness::unique("wardle");
    let svc_name = "wardle-api";
    let (ext, stop_extension) = start_extension(
        dir.path(),
        &serving_ca_dir,
        &proxy_ca,
        &format!("{svc_name}.{ns}.svc"),
    )
    .await;

    let port = free_port();
    let path = |p: &std::path::Path| p.to_str().expect("utf-8").to_string();
    let etcd = Etcd::start().await.expect("etcd");
    let api = ApiServer::start_with(
        &etcd,
        &[
            "--secure-port",
            &port.to_string(),
            "--cert-dir",
            &path(&dir.path().join("certs")),
            "--token-auth-file",
            &path(&tokens),
            "--proxy-client-cert-file",
            &path(&proxy_crt),
            "--proxy-client-key-file",
            &path(&proxy_key),
            "--requestheader-client-ca-file",
            &path(&proxy_ca),
            "--requestheader-allowed-names",
            PROXY_CN,
            "--requestheader-username-headers",
            "X-Remote-User",
            "--requestheader-group-headers",
            "X-Remote-Group",
            "--requestheader-extra-headers-prefix",
            "X-Remote-Extra-",
        ],
    )
    .await
    .expect("apiserver");
    let http = api.http();
    let secure = format!("https://127.0.0.1:{port}");

    // The apiserver publishes what extension servers need to trust it.
    let auth = eventually(Duration::from_secs(20), || async {
        let r = http
            .get("/api/v1/namespaces/kube-system/configmaps/extension-apiserver-authentication")
            .await
            .ok()?;
        (r.status == 200).then_some(r.body)
    })
    .await
    .expect("the extension-apiserver-authentication ConfigMap");
    let proxy_ca_pem = std::fs::read_to_string(&proxy_ca).expect("CA");
    assert_eq!(auth["data"]["requestheader-client-ca-file"], proxy_ca_pem);
    assert_eq!(
        auth["data"]["requestheader-allowed-names"],
        format!("[\"{PROXY_CN}\"]")
    );
    assert_eq!(
        auth["data"]["requestheader-username-headers"],
        "[\"X-Remote-User\"]"
    );
    assert_eq!(
        auth["data"]["requestheader-extra-headers-prefix"],
        "[\"X-Remote-Extra-\"]"
    );

    // The apiserver believes the same front proxy's headers itself
    // (request-header authentication), and nobody else's.
    let (stranger_crt, stranger_key) =
        pki::client_cert(dir.path(), &proxy_ca_dir, "stranger", "stranger", &[]);
    let review = |crt: &std::path::Path, key: &std::path::Path, user: Option<&str>| {
        let mut cmd = std::process::Command::new("curl");
        cmd.args([
            "-sS",
            "-k",
            // Over h2 a 401 sent before the body was read resets the
            // stream, and curl reports a framing error instead of the 401.
            "--http1.1",
            "--max-time",
            "10",
            "-w",
            "\n%{http_code}",
            "-X",
            "POST",
        ])
        .args(["-H", "Content-Type: application/json"])
        .arg("--cert")
        .arg(crt)
        .arg("--key")
        .arg(key)
        .args([
            "-d",
            r#"{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}"#,
        ]);
        if let Some(u) = user {
            cmd.args(["-H", &format!("X-Remote-User: {u}")])
                .args(["-H", "X-Remote-Group: reviewers"]);
        }
        let out = cmd
            .arg(format!(
                "{secure}/apis/authentication.k8s.io/v1/selfsubjectreviews"
            ))
            .output()
            .expect("curl");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
        (
            code.trim().parse::<u16>().unwrap_or(0),
            serde_json::from_str::<Value>(body)
                .unwrap_or_else(|_| json!(String::from_utf8_lossy(&out.stderr))),
        )
    };
    let (code, body) = review(&proxy_crt, &proxy_key, Some("bob"));
    assert_eq!(code, 201, "{body}");
    assert_eq!(body["status"]["userInfo"]["username"], "bob");
    assert_eq!(
        body["status"]["userInfo"]["groups"],
        json!(["reviewers", "system:authenticated"])
    );
    let (code, body) = review(&proxy_crt, &proxy_key, None);
    assert_eq!(code, 401, "a proxy naming nobody: {body}");
    let (code, body) = review(&stranger_crt, &stranger_key, Some("bob"));
    assert_eq!(
        code, 401,
        "a certificate of the proxies' CA with a name not allowed: {body}"
    );

    // Built-in group/versions are Local APIServices.
    let local = eventually(Duration::from_secs(20), || async {
        let r = http.get(&format!("{APISERVICES}/v1.apps")).await.ok()?;
        let c = r.body["status"]["conditions"][0].clone();
        (c["reason"] == "Local").then_some(r.body)
    })
    .await
    .expect("v1.apps is a Local APIService");
    assert_eq!(local["spec"]["groupPriorityMinimum"], 17800);
    assert_eq!(local["status"]["conditions"][0]["status"], "True");
    let core = http.get(&format!("{APISERVICES}/v1.")).await.expect("v1.");
    assert_eq!(core.status, 200, "{:?}", core.body);

    // The extension server behind a selectorless Service and a hand-made
    // EndpointSlice on loopback.
    let created = http
        .post("/api/v1/namespaces", &json!({"metadata": {"name": ns}}))
        .await
        .expect("namespace");
    assert_eq!(created.status, 201, "{:?}", created.body);
    let service = json!({
        "metadata": {"name": svc_name, "namespace": ns},
        "spec": {"ports": [{"name": "https", "port": 443, "targetPort": ext.port()}]},
    });
    let services = format!("/api/v1/namespaces/{ns}/services");
    let created = http.post(&services, &service).await.expect("service");
    assert_eq!(created.status, 201, "{:?}", created.body);
    let slices = format!("/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices");
    let slice = |ready: bool| {
        json!({
            "metadata": {"name": format!("{svc_name}-1"), "namespace": ns,
                         "labels": {"kubernetes.io/service-name": svc_name}},
            "addressType": "IPv4",
            "ports": [{"name": "https", "port": ext.port(), "protocol": "TCP"}],
            "endpoints": [{"addresses": ["127.0.0.1"], "conditions": {"ready": ready}}],
        })
    };
    let created = http.post(&slices, &slice(true)).await.expect("slice");
    assert_eq!(created.status, 201, "{:?}", created.body);

    let b64 = |p: &std::path::Path| {
        base64::engine::general_purpose::STANDARD.encode(std::fs::read(p).expect("CA"))
    };
    let apiservice = |ca: &std::path::Path| {
        json!({
            "apiVersion": "apiregistration.k8s.io/v1",
            "kind": "APIService",
            "metadata": {"name": APISERVICE},
            "spec": {"group": GROUP, "version": VERSION, "caBundle": b64(ca),
                     "groupPriorityMinimum": 2000, "versionPriority": 200,
                     "service": {"namespace": ns, "name": svc_name}},
        })
    };
    let created = http
        .post(APISERVICES, &apiservice(&serving_ca))
        .await
        .expect("apiservice");
    assert_eq!(created.status, 201, "{:?}", created.body);
    assert_eq!(
        created.body["spec"]["service"]["port"], 443,
        "the port defaults to 443"
    );
    assert_eq!(wait_for(&http, "True", "Passed").await, "all checks passed");

    // The real kubectl discovers and lists the extension's resource, as a
    // token user the extension learns from the proxy's headers.
    let as_alice = |args: &[&str]| {
        let mut all = vec!["--token", TOKEN, "--insecure-skip-tls-verify"];
        all.extend_from_slice(args);
        kubectl(&secure, &all).expect("kubectl")
    };
    let resources = eventually(Duration::from_secs(10), || async {
        let out = as_alice(&["api-resources", "--api-group", GROUP]);
        (out.success && out.stdout.contains("flunders")).then_some(out.stdout)
    })
    .await
    .expect("kubectl api-resources lists flunders");
    assert!(
        resources.contains("fl ") && resources.contains("Flunder"),
        "{resources}"
    );
    let out = as_alice(&["get", "flunders", "-n", "default", "-o", "json"]);
    assert!(out.success, "{}", out.stderr);
    let listed: Value = serde_json::from_str(&out.stdout).expect("JSON");
    assert_eq!(listed["items"][0]["metadata"]["name"], "alice");
    let groups = listed["items"][0]["metadata"]["annotations"]["seen-groups"].clone();
    assert_eq!(groups, "wardlers,system:authenticated");
    let out = as_alice(&["get", "fl", "-n", "default", "-o", "name"]);
    assert!(out.success, "{}", out.stderr);
    assert_eq!(out.stdout.trim(), "flunder.wardle.example.com/alice");

    // Discovery: legacy and aggregated.
    let groups = http.get("/apis").await.expect("/apis");
    let listed = groups.body["groups"]
        .as_array()
        .map(|g| g.iter().any(|g| g["name"] == GROUP))
        .unwrap_or(false);
    assert!(listed, "{:?}", groups.body);
    let group = http.get(&format!("/apis/{GROUP}")).await.expect("group");
    assert_eq!(group.body["preferredVersion"]["version"], VERSION);
    let (status, _, body) = http
        .get_accepting(
            "/apis",
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList",
        )
        .await
        .expect("aggregated discovery");
    assert_eq!(status, 200);
    let doc: Value = serde_json::from_slice(&body).expect("JSON");
    let wardle = doc["items"]
        .as_array()
        .and_then(|i| i.iter().find(|g| g["metadata"]["name"] == GROUP))
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        wardle["versions"][0]["resources"][0]["resource"],
        "flunders"
    );
    assert_eq!(
        wardle["versions"][0]["resources"][0]["subresources"][0]["subresource"],
        "exec"
    );

    // The extension's OpenAPI document is its own, through the proxy.
    let index = http.get("/openapi/v3").await.expect("index");
    let url = index.body["paths"][format!("apis/{GROUP}/{VERSION}")]["serverRelativeURL"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        url.starts_with(&format!("/openapi/v3/apis/{GROUP}/{VERSION}?hash=")),
        "{url}"
    );
    let doc = http.get(&url).await.expect("document");
    assert_eq!(doc.body["info"]["title"], "wardle");

    // A watch streams through the proxy.
    let flunders = format!("/apis/{GROUP}/{VERSION}/namespaces/default/flunders");
    let mut watch = http
        .watch(&format!("{flunders}?watch=true"))
        .await
        .expect("watch");
    assert_eq!(watch.status, 200);
    let event = watch.next(Duration::from_secs(10)).await.expect("an event");
    assert_eq!(event["type"], "ADDED");
    drop(watch);

    // An upgrade is joined end to end.
    let mut conn = tokio::net::TcpStream::connect(api.url.trim_start_matches("http://"))
        .await
        .expect("connect");
    let head = format!(
        "GET {flunders}/x/exec HTTP/1.1\r\nHost: apiserver\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n"
    );
    conn.write_all(head.as_bytes()).await.expect("write");
    let mut buf = vec![0u8; 1024];
    let n = tokio::time::timeout(Duration::from_secs(10), conn.read(&mut buf))
        .await
        .expect("an answer in time")
        .expect("read");
    let answer = String::from_utf8_lossy(&buf[..n]).to_string();
    assert!(answer.starts_with("HTTP/1.1 101"), "{answer}");
    conn.write_all(b"ping").await.expect("write");
    let mut echoed = [0u8; 4];
    tokio::time::timeout(Duration::from_secs(10), conn.read_exact(&mut echoed))
        .await
        .expect("echo in time")
        .expect("echo");
    assert_eq!(&echoed, b"ping");
    drop(conn);

    // No ready endpoint: MissingEndpoints, and the proxy refuses.
    let slice_path = format!("{slices}/{svc_name}-1");
    let current = http.get(&slice_path).await.expect("slice");
    let mut unready = slice(false);
    unready["metadata"]["resourceVersion"] = current.body["metadata"]["resourceVersion"].clone();
    let put = http.put(&slice_path, &unready).await.expect("update slice");
    assert_eq!(put.status, 200, "{:?}", put.body);
    let message = wait_for(&http, "False", "MissingEndpoints").await;
    assert_eq!(
        message,
        format!("endpointslices for service/{svc_name} in \"{ns}\" have no addresses with port name \"https\"")
    );
    let (status, text) = http.get_text(&flunders).await.expect("proxied GET");
    assert_eq!((status, text.as_str()), (503, "service unavailable\n"));
    let out = as_alice(&["get", "--raw", &flunders]);
    assert!(!out.success);
    assert!(
        out.stderr.contains(
            "Error from server (ServiceUnavailable): the server is currently unable to handle the request"
        ),
        "{}",
        out.stderr
    );
    // Discovery marks the group/version stale, so kubectl knows no
    // flunders until the backend is back.
    let out = as_alice(&["get", "flunders", "-n", "default"]);
    assert!(!out.success);
    assert!(out.stderr.contains("flunders"), "{}", out.stderr);

    // Ready again: Passed.
    let current = http.get(&slice_path).await.expect("slice");
    let mut ready = slice(true);
    ready["metadata"]["resourceVersion"] = current.body["metadata"]["resourceVersion"].clone();
    let put = http.put(&slice_path, &ready).await.expect("update slice");
    assert_eq!(put.status, 200, "{:?}", put.body);
    wait_for(&http, "True", "Passed").await;

    // The Service gone: ServiceNotFound; back: Passed.
    let gone = http
        .delete(&format!("{services}/{svc_name}"), None)
        .await
        .expect("delete service");
    assert_eq!(gone.status, 200, "{:?}", gone.body);
    let message = wait_for(&http, "False", "ServiceNotFound").await;
    assert_eq!(
        message,
        format!("service/{svc_name} in \"{ns}\" is not present")
    );
    let created = http.post(&services, &service).await.expect("service");
    assert_eq!(created.status, 201, "{:?}", created.body);
    wait_for(&http, "True", "Passed").await;

    // A caBundle that did not sign the backend's certificate: the discovery
    // check fails with Go's error and the proxy answers 503.
    let current = http
        .get(&format!("{APISERVICES}/{APISERVICE}"))
        .await
        .expect("apiservice");
    let mut wrong = current.body.clone();
    wrong["spec"]["caBundle"] = json!(b64(&other_ca));
    let put = http
        .put(&format!("{APISERVICES}/{APISERVICE}"), &wrong)
        .await
        .expect("update apiservice");
    assert_eq!(put.status, 200, "{:?}", put.body);
    let message = wait_for(&http, "False", "FailedDiscoveryCheck").await;
    let url = format!("https://127.0.0.1:{}/apis/{GROUP}/{VERSION}", ext.port());
    assert_eq!(
        message,
        format!("failing or missing response from {url}: Get \"{url}\": tls: failed to verify certificate: x509: certificate signed by unknown authority")
    );
    let (status, text) = http.get_text(&flunders).await.expect("proxied GET");
    assert_eq!((status, text.as_str()), (503, "service unavailable\n"));
    let out = kubectl(
        &secure,
        &[
            "--token",
            TOKEN,
            "--insecure-skip-tls-verify",
            "get",
            "apiservice",
            APISERVICE,
        ],
    )
    .expect("kubectl");
    assert!(out.success, "{}", out.stderr);
    assert!(
        out.stdout.contains(&format!("{ns}/{svc_name}"))
            && out.stdout.contains("False (FailedDiscoveryCheck)"),
        "{}",
        out.stdout
    );

    // The backend gone: even with the right caBundle back, the check
    // cannot dial it.
    let _ = stop_extension.send(());
    let current = http
        .get(&format!("{APISERVICES}/{APISERVICE}"))
        .await
        .expect("apiservice");
    let mut right = current.body.clone();
    right["spec"]["caBundle"] = json!(b64(&serving_ca));
    let put = http
        .put(&format!("{APISERVICES}/{APISERVICE}"), &right)
        .await
        .expect("update apiservice");
    assert_eq!(put.status, 200, "{:?}", put.body);
    let message = eventually(Duration::from_secs(20), || async {
        available(&http)
            .await
            .filter(|(s, r, m)| {
                s == "False" && r == "FailedDiscoveryCheck" && m.contains("connect")
            })
            .map(|(_, _, m)| m)
    })
    .await
    .unwrap_or_default();
    assert!(
        message.ends_with(&format!(
            "dial tcp 127.0.0.1:{}: connect: connection refused",
            ext.port()
        )),
        "{message}"
    );

    // Deleting the APIService stops the proxying and the discovery.
    let gone = http
        .delete(&format!("{APISERVICES}/{APISERVICE}"), None)
        .await
        .expect("delete apiservice");
    assert_eq!(gone.status, 200, "{:?}", gone.body);
    let dropped = eventually(Duration::from_secs(10), || async {
        let r = http.get("/apis").await.ok()?;
        let still = r.body["groups"]
            .as_array()?
            .iter()
            .any(|g| g["name"] == GROUP);
        (!still).then_some(())
    })
    .await;
    assert!(dropped.is_some(), "the group left /apis");
    let reply = http.get(&flunders).await.expect("GET");
    assert_eq!(reply.status, 404, "{:?}", reply.body);
    let gone = http
        .delete(&format!("/api/v1/namespaces/{ns}"), None)
        .await
        .expect("delete namespace");
    assert_eq!(gone.status, 200, "{:?}", gone.body);
}
