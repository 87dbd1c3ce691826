//! ServiceAccounts in pods: ServiceAccount admission on a real apiserver
//! (on a real etcd), and the kubelet's projected token volume filled in
//! from that apiserver by the kubelet's own volume code.
//!
//! - admission: the `default` account, refusal of a missing account with
//!   upstream's 403, the `kube-api-access-*` volume and its mounts,
//!   `automountServiceAccountToken` of the pod and of the account, the
//!   account's imagePullSecrets, enforced mountable secrets, mirror pods,
//!   no account change on update, and no token volume from an apiserver
//!   that cannot issue tokens;
//! - the volume: [`kubelet::volumes::prepare`] writes `token` (a JWT the
//!   apiserver's TokenReview accepts as the pod's account), `ca.crt` and
//!   `namespace`; a resync reuses the token, a later one (the kubelet's
//!   clock moved past 80% of the token's life) swaps a new one in, and the
//!   token dies with its pod; a pod whose containers all run as one user
//!   gets the token as that user's, mode 0600. A TokenRequest failure is upstream's
//!   `MountVolume.SetUp failed for volume ...`.
//!
//! No controller-manager runs: the tests make the `default` accounts and
//! the `kube-root-ca.crt` ConfigMap themselves. The volume test mounts a
//! tmpfs (root, as the kubelet's volume unit tests).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;
use kubelet::volumes::objects::{ObjectCaches, Strategy};
use kubelet::volumes::service_account_token::{ManualClock, TokenManager};
use serde_json::{json, Value};
use tests::harness::{ApiServer, Etcd, Http};
use tests::pki;

const MOUNT_PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// etcd and an apiserver with ServiceAccount admission on and a token
/// signing key (so TokenRequest works).
async fn start(dir: &Path) -> (Etcd, ApiServer) {
    let key = pki::ec_private_key(dir, "sa.key");
    let key = key.to_str().expect("utf-8").to_string();
    let etcd = Etcd::start().await.expect("etcd");
    let api = ApiServer::start_with(
        &etcd,
        &[
            "--enable-admission-plugins",
            "ServiceAccount",
            "--service-account-signing-key-file",
            &key,
            "--service-account-key-file",
            &key,
            "--service-account-issuer",
            "https://kubernetes.default.svc.cluster.local",
        ],
    )
    .await
    .expect("apiserver");
    (etcd, api)
}

async fn create(http: &Http, path: &str, body: Value) -> Value {
    let r = http.post(path, &body).await.expect("POST");
    assert_eq!(r.status, 201, "POST {path}: {}", r.body);
    r.body
}

async fn namespace_with_default_account(http: &Http, ns: &str) {
    create(
        http,
        "/api/v1/namespaces",
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
    )
    .await;
    create(
        http,
        &format!("/api/v1/namespaces/{ns}/serviceaccounts"),
        json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default"}}),
    )
    .await;
}

fn pod(name: &str, spec_extra: Value) -> Value {
    let mut spec = json!({
        "initContainers": [{"name": "init", "image": "busybox:1.36", "command": ["true"]}],
        "containers": [
            {"name": "a", "image": "busybox:1.36"},
            {"name": "b", "image": "busybox:1.36"},
        ],
    });
    if let (Some(s), Some(extra)) = (spec.as_object_mut(), spec_extra.as_object()) {
        s.extend(extra.clone());
    }
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec})
}

/// The names of the pod's `kube-api-access-*` volumes.
fn token_volumes(pod: &Value) -> Vec<String> {
    pod["spec"]["volumes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v["name"].as_str())
        .filter(|n| n.starts_with("kube-api-access-"))
        .map(String::from)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admission_defaults_the_account_and_mounts_its_token() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (etcd, api) = start(dir.path()).await;
    let http = api.http();

    // A namespace whose `default` account does not exist (yet): refused,
    // with upstream's message.
    create(
        &http,
        "/api/v1/namespaces",
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "bare"}}),
    )
    .await;
    let r = http
        .post("/api/v1/namespaces/bare/pods", &pod("p", json!({})))
        .await
        .expect("POST");
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(r.body["reason"], "Forbidden");
    assert_eq!(
        r.body["message"],
        "pods \"p\" is forbidden: error looking up service account bare/default: serviceaccount \"default\" not found"
    );

    namespace_with_default_account(&http, "apps").await;
    let pods = "/api/v1/namespaces/apps/pods";

    // The default account, the volume, a read-only mount everywhere.
    let p = create(&http, pods, pod("plain", json!({}))).await;
    assert_eq!(p["spec"]["serviceAccountName"], "default");
    let vols = token_volumes(&p);
    assert_eq!(vols.len(), 1, "{p}");
    let name = &vols[0];
    assert_eq!(name.len(), "kube-api-access-".len() + 5);
    let volume = p["spec"]["volumes"]
        .as_array()
        .and_then(|v| v.iter().find(|v| v["name"] == json!(name)))
        .cloned()
        .expect("the volume");
    assert_eq!(
        volume["projected"],
        json!({
            "defaultMode": 420,
            "sources": [
                {"serviceAccountToken": {"path": "token", "expirationSeconds": 3607}},
                {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}},
            ],
        })
    );
    let mount = json!({"name": name, "readOnly": true, "mountPath": MOUNT_PATH});
    for c in ["initContainers", "containers"] {
        for container in p["spec"][c].as_array().expect("containers") {
            assert!(
                container["volumeMounts"]
                    .as_array()
                    .is_some_and(|m| m.contains(&mount)),
                "{container}"
            );
        }
    }

    // A container mounting something of its own there keeps it.
    let p = create(
        &http,
        pods,
        pod(
            "own-mount",
            json!({
                "containers": [
                    {"name": "a", "image": "busybox:1.36",
                     "volumeMounts": [{"name": "mine", "mountPath": MOUNT_PATH}]},
                ],
                "initContainers": [],
                "volumes": [{"name": "mine", "emptyDir": {}}],
            }),
        ),
    )
    .await;
    assert!(token_volumes(&p).is_empty(), "{p}");
    assert_eq!(
        p["spec"]["containers"][0]["volumeMounts"],
        json!([{"name": "mine", "mountPath": MOUNT_PATH}])
    );

    // automountServiceAccountToken: the pod's false, the account's false
    // (the account's imagePullSecrets come along), the pod's true wins.
    let p = create(
        &http,
        pods,
        pod("no-token", json!({"automountServiceAccountToken": false})),
    )
    .await;
    assert!(token_volumes(&p).is_empty(), "{p}");
    assert!(
        p["spec"]["containers"][0].get("volumeMounts").is_none(),
        "{p}"
    );
    create(
        &http,
        "/api/v1/namespaces/apps/serviceaccounts",
        json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "robot"},
               "automountServiceAccountToken": false, "imagePullSecrets": [{"name": "regcred"}]}),
    )
    .await;
    let p = create(
        &http,
        pods,
        pod("robot-pod", json!({"serviceAccountName": "robot"})),
    )
    .await;
    assert!(token_volumes(&p).is_empty(), "{p}");
    assert_eq!(p["spec"]["imagePullSecrets"], json!([{"name": "regcred"}]));
    let p = create(
        &http,
        pods,
        pod(
            "robot-token",
            json!({"serviceAccountName": "robot", "automountServiceAccountToken": true,
                   "imagePullSecrets": [{"name": "mine"}]}),
        ),
    )
    .await;
    assert_eq!(token_volumes(&p).len(), 1, "{p}");
    assert_eq!(
        p["spec"]["imagePullSecrets"],
        json!([{"name": "mine"}]),
        "the pod's own pull secrets stay"
    );

    // A named account that does not exist.
    let r = http
        .post(pods, &pod("ghost", json!({"serviceAccountName": "ghost"})))
        .await
        .expect("POST");
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(
        r.body["message"],
        "pods \"ghost\" is forbidden: error looking up service account apps/ghost: serviceaccount \"ghost\" not found"
    );

    // An account that enforces its mountable secrets.
    create(
        &http,
        "/api/v1/namespaces/apps/serviceaccounts",
        json!({"apiVersion": "v1", "kind": "ServiceAccount",
               "metadata": {"name": "strict", "annotations": {"kubernetes.io/enforce-mountable-secrets": "true"}},
               "secrets": [{"name": "allowed"}]}),
    )
    .await;
    let with_secret = |name: &str, secret: &str| {
        pod(
            name,
            json!({"serviceAccountName": "strict",
                   "volumes": [{"name": "s", "secret": {"secretName": secret}}]}),
        )
    };
    create(&http, pods, with_secret("strict-ok", "allowed")).await;
    let r = http
        .post(pods, &with_secret("strict-no", "other"))
        .await
        .expect("POST");
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(
        r.body["message"],
        "pods \"strict-no\" is forbidden: volume with secret.secretName=\"other\" is not allowed because service account strict does not reference that secret"
    );

    // Mirror pods are left alone but may not name an account.
    let mirror = |name: &str, extra: Value| {
        let mut p = pod(name, extra);
        p["metadata"]["annotations"] = json!({"kubernetes.io/config.mirror": "hash"});
        p
    };
    let p = create(&http, pods, mirror("static-web", json!({}))).await;
    assert!(p["spec"].get("serviceAccountName").is_none(), "{p}");
    assert!(token_volumes(&p).is_empty());
    let r = http
        .post(
            pods,
            &mirror("static-sa", json!({"serviceAccountName": "default"})),
        )
        .await
        .expect("POST");
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(
        r.body["message"],
        "pods \"static-sa\" is forbidden: a mirror pod may not reference service accounts"
    );

    // An update may not change the account.
    let mut changed = http
        .get("/api/v1/namespaces/apps/pods/plain")
        .await
        .expect("GET")
        .body;
    changed["spec"]["serviceAccountName"] = json!("robot");
    let r = http
        .put("/api/v1/namespaces/apps/pods/plain", &changed)
        .await
        .expect("PUT");
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(
        r.body["message"]
            .as_str()
            .is_some_and(|m| m.contains("pod updates may not change fields")),
        "{}",
        r.body
    );

    // An apiserver that cannot issue tokens (no signing key) still gives
    // pods their account but mounts no token nobody could fill in.
    let keyless = ApiServer::start_with(&etcd, &["--enable-admission-plugins", "ServiceAccount"])
        .await
        .expect("second apiserver");
    let p = create(&keyless.http(), pods, pod("keyless", json!({}))).await;
    assert_eq!(p["spec"]["serviceAccountName"], "default");
    assert!(token_volumes(&p).is_empty(), "{p}");
}

/// A TokenReview of `token` on the (admin) plain port: `(authenticated,
/// username)`.
async fn review(http: &Http, token: &str) -> (bool, String) {
    let r = create(
        http,
        "/apis/authentication.k8s.io/v1/tokenreviews",
        json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": token}}),
    )
    .await;
    (
        r["status"]["authenticated"].as_bool().unwrap_or(false),
        r["status"]["user"]["username"]
            .as_str()
            .unwrap_or("")
            .to_string(),
    )
}

fn read(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kubelet_fills_the_token_volume_and_refreshes_the_token() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (_etcd, api) = start(dir.path()).await;
    let http = api.http();
    namespace_with_default_account(&http, "apps").await;
    create(
        &http,
        "/api/v1/namespaces/apps/configmaps",
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "kube-root-ca.crt"},
               "data": {"ca.crt": "-----BEGIN CERTIFICATE-----\ntest\n-----END CERTIFICATE-----\n"}}),
    )
    .await;
    create(&http, "/api/v1/namespaces/apps/pods", pod("web", json!({}))).await;

    // The kubelet's view: its client, its token manager on a clock the
    // test moves.
    let client =
        kube::Client::try_from(kube::Config::new(api.url.parse().expect("url"))).expect("client");
    let clock = Arc::new(ManualClock::starting_now());
    let tokens = TokenManager::with(Arc::new(client.clone()), clock.clone());
    let objects = ObjectCaches::new(client.clone(), Strategy::Cache);
    let objects = objects.for_pod(std::time::Instant::now());
    let pods: kube::Api<Pod> = kube::Api::namespaced(client.clone(), "apps");
    let web = pods.get("web").await.expect("the pod");
    let root = tempfile::tempdir().expect("root dir");
    let uid = web.metadata.uid.clone().expect("uid");
    let _unmount = Unmount(root.path(), uid.clone());

    // One pod sync's volume set-up, as the kubelet runs it.
    let prepare = || {
        kubelet::volumes::prepare(
            &client,
            &tokens,
            objects,
            root.path(),
            &web,
            "10.0.0.2",
            "10.0.0.1",
        )
    };
    let volumes = prepare().await.expect("the volumes are set up");
    {
        let (name, vdir) = volumes
            .iter()
            .find(|(n, _)| n.starts_with("kube-api-access-"))
            .expect("the token volume");
        assert!(
            vdir.ends_with(format!("kubernetes.io~projected/{name}")),
            "{}",
            vdir.display()
        );
        let token = read(vdir, "token");
        assert_eq!(token.split('.').count(), 3, "a JWT: {token}");
        assert_eq!(read(vdir, "namespace"), "apps");
        assert!(read(vdir, "ca.crt").starts_with("-----BEGIN CERTIFICATE-----"));
        let mode = std::fs::metadata(vdir.join("token"))
            .expect("token file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o644, "defaultMode 420");
        assert_eq!(
            review(&http, &token).await,
            (true, "system:serviceaccount:apps:default".to_string())
        );

        // A resync: the cached token, no new request.
        prepare().await.expect("resync");
        assert_eq!(read(vdir, "token"), token);
        assert_eq!(tokens.len(), 1);

        // 81% of its 3607 s later (the kubelet's clock): a new token, swapped in.
        clock.advance(std::time::Duration::from_secs(3607 * 81 / 100));
        prepare().await.expect("refresh");
        let fresh = read(vdir, "token");
        assert_ne!(fresh, token, "the token was refreshed");
        assert_eq!(
            review(&http, &fresh).await,
            (true, "system:serviceaccount:apps:default".to_string())
        );

        // The pod goes: its tokens are refused.
        let r = http
            .delete(
                "/api/v1/namespaces/apps/pods/web",
                Some(&json!({"gracePeriodSeconds": 0})),
            )
            .await
            .expect("DELETE");
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(!review(&http, &fresh).await.0, "bound to a deleted pod");
        tokens.forget_pod(&uid);
        assert!(tokens.is_empty());

        // Every container runs as user 1000: the token is that user's
        // alone (0600), the other files stay 0644.
        create(
            &http,
            "/api/v1/namespaces/apps/pods",
            pod("runner", json!({"securityContext": {"runAsUser": 1000}})),
        )
        .await;
        let runner = pods.get("runner").await.expect("the pod");
        let runner_uid = runner.metadata.uid.clone().expect("uid");
        let _unmount_runner = Unmount(root.path(), runner_uid);
        let volumes = kubelet::volumes::prepare(
            &client,
            &tokens,
            objects,
            root.path(),
            &runner,
            "10.0.0.3",
            "10.0.0.1",
        )
        .await
        .expect("the runner's volumes");
        let (_, rdir) = volumes
            .iter()
            .find(|(n, _)| n.starts_with("kube-api-access-"))
            .expect("the token volume");
        let meta = |f: &str| std::fs::metadata(rdir.join(f)).expect("a file");
        use std::os::unix::fs::MetadataExt;
        assert_eq!(
            (
                meta("token").uid(),
                meta("token").permissions().mode() & 0o777
            ),
            (1000, 0o600)
        );
        assert_eq!(meta("ca.crt").permissions().mode() & 0o777, 0o644);

        // A token that cannot be had: upstream's mount failure.
        let mut orphan = web.clone();
        orphan.metadata.name = Some("orphan".into());
        if let Some(spec) = orphan.spec.as_mut() {
            spec.service_account_name = Some("gone".into());
        }
        let err = kubelet::volumes::prepare(
            &client,
            &tokens,
            objects,
            root.path(),
            &orphan,
            "10.0.0.2",
            "10.0.0.1",
        )
        .await
        .expect_err("no such account");
        assert_eq!(
            err.to_string(),
            format!("MountVolume.SetUp failed for volume \"{name}\" : failed to fetch token: serviceaccounts \"gone\" not found")
        );
    }
}

/// Unmounts the pod's volumes (a tmpfs) also when the test fails.
struct Unmount<'a>(&'a Path, String);

impl Drop for Unmount<'_> {
    fn drop(&mut self) {
        let _ = kubelet::volumes::teardown(self.0, &self.1);
    }
}

/// ServiceAccount issuer discovery: the OIDC document names the issuer and
/// the key URL, and a relying party that knows nothing but the published
/// JSON Web Keys can check a token the apiserver issued (the signing EC key
/// and an extra RSA verifying key are both published, with upstream's
/// `kid`). An issuer that is not an https URL publishes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_issuer_publishes_its_keys_for_oidc_discovery() {
    let dir = tempfile::tempdir().expect("dir");
    let signing = pki::ec_private_key(dir.path(), "sa.key");
    let rsa = pki::rsa_public_key(dir.path(), "extra");
    let etcd = Etcd::start().await.expect("etcd");
    let issuer = "https://kubernetes.default.svc.cluster.local";
    let api = ApiServer::start_with(
        &etcd,
        &[
            "--service-account-signing-key-file",
            signing.to_str().expect("utf-8"),
            "--service-account-key-file",
            rsa.to_str().expect("utf-8"),
            "--service-account-issuer",
            issuer,
        ],
    )
    .await
    .expect("apiserver");
    let http = Http::new(&api.url);
    namespace_with_default_account(&http, "oidc").await;

    let config = http
        .get("/.well-known/openid-configuration")
        .await
        .expect("GET");
    assert_eq!(config.status, 200, "{}", config.body);
    assert_eq!(config.body["issuer"], issuer);
    let jwks_uri = config.body["jwks_uri"].as_str().expect("jwks_uri");
    assert!(
        jwks_uri.starts_with("https://127.0.0.1:") && jwks_uri.ends_with("/openid/v1/jwks"),
        "{jwks_uri}"
    );
    assert_eq!(
        config.body["id_token_signing_alg_values_supported"],
        json!(["ES256", "RS256"])
    );
    assert_eq!(config.body["response_types_supported"], json!(["id_token"]));

    let keys = http.get("/openid/v1/jwks").await.expect("GET");
    assert_eq!(keys.status, 200, "{}", keys.body);
    let set: jsonwebtoken::jwk::JwkSet =
        serde_json::from_value(keys.body.clone()).expect("a JWK set");
    assert_eq!(set.keys.len(), 2, "{}", keys.body);

    let token = create(
        &http,
        "/api/v1/namespaces/oidc/serviceaccounts/default/token",
        json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
               "spec": {"audiences": ["oidc-discovery-test"], "expirationSeconds": 600}}),
    )
    .await["status"]["token"]
        .as_str()
        .expect("token")
        .to_string();
    let header = jsonwebtoken::decode_header(&token).expect("a JWT");
    let kid = header.kid.expect("the token names its key");
    let jwk = set.find(&kid).expect("the token's key is published");
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).expect("a usable key");
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    validation.set_issuer(&[issuer]);
    validation.set_audience(&["oidc-discovery-test"]);
    let claims = jsonwebtoken::decode::<Value>(&token, &key, &validation)
        .expect("the published key checks the token")
        .claims;
    assert_eq!(claims["sub"], "system:serviceaccount:oidc:default");
    // The RSA key is there with its modulus and exponent.
    let rsa_jwk = keys.body["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .find(|k| k["kty"] == "RSA")
        .expect("the RSA key")
        .clone();
    assert_eq!(rsa_jwk["alg"], "RS256");
    assert_eq!(rsa_jwk["e"], "AQAB");
    assert_eq!(rsa_jwk["use"], "sig");

    // A token bound to a pod names the pod and the node it runs on, and a
    // TokenReview reports both as extra (upstream's pod node info).
    let node = create(
        &http,
        "/api/v1/nodes",
        json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-7"}}),
    )
    .await;
    let bound_pod = create(
        &http,
        "/api/v1/namespaces/oidc/pods",
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"},
               "spec": {"nodeName": "node-7", "automountServiceAccountToken": false,
                        "containers": [{"name": "c", "image": "busybox"}]}}),
    )
    .await;
    let token = create(
        &http,
        "/api/v1/namespaces/oidc/serviceaccounts/default/token",
        json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
               "spec": {"boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "web"}}}),
    )
    .await["status"]["token"]
        .as_str()
        .expect("token")
        .to_string();
    let reviewed = create(
        &http,
        "/apis/authentication.k8s.io/v1/tokenreviews",
        json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": token}}),
    )
    .await;
    let extra = &reviewed["status"]["user"]["extra"];
    assert_eq!(
        extra["authentication.kubernetes.io/pod-name"],
        json!(["web"]),
        "{reviewed}"
    );
    assert_eq!(
        extra["authentication.kubernetes.io/pod-uid"],
        json!([bound_pod["metadata"]["uid"]])
    );
    assert_eq!(
        extra["authentication.kubernetes.io/node-name"],
        json!(["node-7"]),
        "{reviewed}"
    );
    assert_eq!(
        extra["authentication.kubernetes.io/node-uid"],
        json!([node["metadata"]["uid"]])
    );

    // Not an https issuer: nothing is published.
    let plain = ApiServer::start_with(
        &etcd,
        &[
            "--service-account-key-file",
            rsa.to_str().expect("utf-8"),
            "--service-account-issuer",
            "http://issuer.example",
        ],
    )
    .await
    .expect("apiserver");
    let plain_http = Http::new(&plain.url);
    for path in ["/.well-known/openid-configuration", "/openid/v1/jwks"] {
        let r = plain_http.get(path).await.expect("GET");
        assert_eq!(r.status, 404, "{path}: {}", r.body);
    }
}

/// A kubelet asks a token bound to each pod it starts: the account, the pod
/// and its node come from the apiserver's memory once it holds them, and
/// the pod's uid is still checked against the pod that exists (a pod
/// deleted and made again under its name gets tokens for its new uid only,
/// at once).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_bound_to_pods_read_no_etcd_and_name_the_live_pod() {
    let dir = tempfile::tempdir().expect("dir");
    let (_etcd, api) = start(dir.path()).await;
    let http = Http::new(&api.url);
    namespace_with_default_account(&http, "bound").await;
    create(
        &http,
        "/api/v1/nodes",
        json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-b"}}),
    )
    .await;
    let pods = "/api/v1/namespaces/bound/pods";
    let web = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"},
        "spec": {"nodeName": "node-b", "automountServiceAccountToken": false,
                 "containers": [{"name": "c", "image": "busybox"}]}});
    let first = create(&http, pods, web.clone()).await;
    let uid = first["metadata"]["uid"].as_str().expect("uid").to_string();
    let tokens = "/api/v1/namespaces/bound/serviceaccounts/default/token";
    let request = |uid: &str| {
        json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
               "spec": {"boundObjectRef": {"kind": "Pod", "apiVersion": "v1",
                                           "name": "web", "uid": uid}}})
    };

    let read_free = tests::harness::eventually(std::time::Duration::from_secs(10), || {
        let (http, body) = (http.clone(), request(&uid));
        async move {
            let before = tests::bench::etcd_gets(&http).await;
            let r = http.post(tokens, &body).await.ok()?;
            assert_eq!(r.status, 201, "{}", r.body);
            (tests::bench::etcd_gets(&http).await == before).then_some(())
        }
    })
    .await;
    assert!(read_free.is_some(), "every TokenRequest still read etcd");

    let r = http
        .post(tokens, &request("not-the-uid"))
        .await
        .expect("POST");
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(
        r.body["message"]
            .as_str()
            .is_some_and(|m| m.contains("does not match the UID in record")),
        "{}",
        r.body
    );

    // Made again under its name: the new uid is good at once (whatever the
    // apiserver's copy holds yet), the old one no more.
    let r = http
        .delete(
            &format!("{pods}/web"),
            Some(&json!({"gracePeriodSeconds": 0})),
        )
        .await
        .expect("DELETE");
    assert_eq!(r.status, 200, "{}", r.body);
    let second = create(&http, pods, web).await;
    let new_uid = second["metadata"]["uid"].as_str().expect("uid").to_string();
    assert_ne!(new_uid, uid);
    let r = http.post(tokens, &request(&new_uid)).await.expect("POST");
    assert_eq!(r.status, 201, "{}", r.body);
    let r = http.post(tokens, &request(&uid)).await.expect("POST");
    assert_eq!(r.status, 409, "{}", r.body);

    let r = http
        .post(
            "/api/v1/namespaces/bound/serviceaccounts/nobody/token",
            &request(&new_uid),
        )
        .await
        .expect("POST");
    assert_eq!(r.status, 404, "{}", r.body);
    let (_, metrics) = http.get_text("/metrics").await.expect("metrics");
    assert!(
        metrics.lines().any(|l| l.starts_with(
            "apiserver_request_total{verb=\"create\",resource=\"serviceaccounts/token\",code=\"201\"}"
        )),
        "TokenRequests are counted"
    );
}
