//! Every component an authenticated TLS client, and the kubelet's API
//! locked, against an apiserver with `--authorization-mode=Node,RBAC` and a
//! client CA (the lab's set-up, without the lab):
//!
//! - the scheduler and the controller-manager, in-process, each with an
//!   https kubeconfig holding its own client certificate
//!   (`system:kube-scheduler`, `system:kube-controller-manager`): a
//!   Deployment gets its ReplicaSet and its pod is bound to the node;
//! - a kubelet API (the kubelet's real guard and TLS serving in front of
//!   stand-in handlers) with the kubelet's own identity asking the
//!   apiserver: no credentials 401, a user without rights 403, an admin
//!   (certificate or token) 200;
//! - `kubectl logs` through the apiserver, which dials that kubelet over TLS
//!   as `--kubelet-client-certificate`: refused by the kubelet until that
//!   user is bound to `system:kubelet-api-admin`
//!   (`manifests/cluster/kubelet-api-admin.yaml`), then served;
//! - a kubelet whose serving certificate `--kubelet-certificate-authority`
//!   did not sign is not dialed at all.
//!
//! The harness's plain port serves only its readiness check and the test's
//! own set-up writes (it acts as an administrator).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::Path as UrlPath;
use axum::routing::get;
use axum::Router;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};
use serde_json::json;
use tests::harness::{eventually, free_port, ApiServer, Etcd, Http};
use tests::pki;

/// An apiserver with a client CA and Node,RBAC, and what it takes to talk
/// to it.
struct Secured {
    _etcd: Etcd,
    api: ApiServer,
    dir: tempfile::TempDir,
    /// `https://127.0.0.1:<secure port>`.
    url: String,
    /// The CA that signs every certificate of the test.
    ca_dir: PathBuf,
}

impl Secured {
    /// A temp dir with the test CA in `ca/` (made before the apiserver, so
    /// flags can name certificates it signed).
    fn pki() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().expect("temp dir");
        let ca_dir = dir.path().join("ca");
        std::fs::create_dir_all(&ca_dir).expect("ca dir");
        pki::self_signed_ca(&ca_dir);
        (dir, ca_dir)
    }

    /// Starts etcd and the apiserver with `extra` flags; the test CA signs
    /// the apiserver's serving certificate and checks client certificates.
    async fn start(dir: tempfile::TempDir, ca_dir: PathBuf, extra: &[String]) -> Secured {
        let tokens = dir.path().join("tokens.csv");
        std::fs::write(
            &tokens,
            "tok-root-0123456789,root,uid-root,system:masters\n",
        )
        .expect("token file");
        let port = free_port();
        let s = |p: &Path| p.to_str().expect("utf-8").to_string();
        let mut args = pki::apiserver_tls_flags(dir.path(), &ca_dir, port);
        args.extend([
            "--token-auth-file".into(),
            s(&tokens),
            "--authorization-mode".into(),
            "Node,RBAC".into(),
        ]);
        args.extend(extra.iter().cloned());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let etcd = Etcd::start().await.expect("etcd");
        let api = ApiServer::start_with(&etcd, &args)
            .await
            .expect("apiserver");
        Secured {
            _etcd: etcd,
            api,
            url: format!("https://127.0.0.1:{port}"),
            ca_dir,
            dir,
        }
    }

    /// A client certificate for `cn` in `orgs`, signed by the test CA.
    fn cert(&self, name: &str, cn: &str, orgs: &[&str]) -> (PathBuf, PathBuf) {
        pki::client_cert(self.dir.path(), &self.ca_dir, name, cn, orgs)
    }

    fn ca(&self) -> PathBuf {
        self.ca_dir.join("ca.crt")
    }

    /// An https kubeconfig authenticating as `cn` in `orgs`.
    fn kubeconfig(&self, name: &str, cn: &str, orgs: &[&str]) -> PathBuf {
        let (crt, key) = self.cert(name, cn, orgs);
        let text = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {{server: {}, certificate-authority: {}}}\n\
             users:\n- name: u\n  user: {{client-certificate: {}, client-key: {}}}\n\
             contexts:\n- name: x\n  context: {{cluster: c, user: u, namespace: default}}\ncurrent-context: x\n",
            self.url,
            self.ca().display(),
            crt.display(),
            key.display()
        );
        let path = self.dir.path().join(format!("{name}.kubeconfig"));
        std::fs::write(&path, text).expect("kubeconfig");
        path
    }

    /// A kube client from [`Secured::kubeconfig`], as the components make
    /// theirs.
    async fn client(&self, name: &str, cn: &str, orgs: &[&str]) -> kube::Client {
        let path = self.kubeconfig(name, cn, orgs);
        component_base::client::client(Some(&path), None)
            .await
            .expect("a client from an https kubeconfig")
    }

    /// The harness's administrator on the plain port (set-up only).
    fn admin_http(&self) -> Http {
        self.api.http()
    }
}

/// Applies a YAML file through the plain port with the real kubectl.
fn apply_file(server: &str, file: &Path) {
    let out = Command::new("/usr/bin/kubectl")
        .args(["--server", server, "apply", "-f"])
        .arg(file)
        .env("KUBECONFIG", "/dev/null")
        .output()
        .expect("kubectl runs");
    assert!(
        out.status.success(),
        "kubectl apply {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn repo_file(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace root")
        .join(rel)
}

/// Creates a Ready node `name` whose kubelet is at 127.0.0.1:`port`.
async fn create_node(http: &Http, name: &str, port: u16) {
    let r = http
        .post(
            "/api/v1/nodes",
            &json!({"apiVersion": "v1", "kind": "Node",
                "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}}}),
        )
        .await
        .expect("create node");
    assert_eq!(r.status, 201, "{}", r.body);
    let status = json!({"status": {
        "capacity": {"cpu": "4", "memory": "8Gi", "pods": "110"},
        "allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"},
        "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}],
        "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": port}},
    }});
    let r = http
        .patch(
            &format!("/api/v1/nodes/{name}/status"),
            "application/merge-patch+json",
            &status,
        )
        .await
        .expect("node status");
    assert_eq!(r.status, 200, "{}", r.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduler_and_controller_manager_work_as_their_own_users() {
    let (dir, ca_dir) = Secured::pki();
    let c = Secured::start(dir, ca_dir, &[]).await;
    let http = c.admin_http();
    // The lab's binding for the controller-manager (see the file).
    apply_file(
        &c.api.url,
        &repo_file("manifests/cluster/controller-manager.yaml"),
    );
    create_node(&http, "n1", 1).await;

    let sched_client = c.client("scheduler", "system:kube-scheduler", &[]).await;
    let scheduler = tokio::spawn(scheduler::run(
        sched_client,
        scheduler::Config {
            leader_election: None,
            ..Default::default()
        },
    ));
    let cm_client = c
        .client("controller-manager", "system:kube-controller-manager", &[])
        .await;
    let cm = tokio::spawn(controller_manager::run(
        cm_client,
        controller_manager::Config {
            controllers: vec!["deployment".into(), "replicaset".into()],
            allocate_node_cidrs: false,
            ..Default::default()
        },
    ));

    let deploy = json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}});
    let r = http
        .post("/apis/apps/v1/namespaces/default/deployments", &deploy)
        .await
        .expect("create deployment");
    assert_eq!(r.status, 201, "{}", r.body);

    // Read back as the admin over TLS with a certificate, too.
    let admin = c
        .client("admin", "kubernetes-admin", &["system:masters"])
        .await;
    let rs_api: Api<ReplicaSet> = Api::namespaced(admin.clone(), "default");
    let rs = eventually(Duration::from_secs(20), || {
        let rs_api = rs_api.clone();
        async move {
            let list = rs_api.list(&ListParams::default()).await.ok()?;
            list.items.into_iter().find(|rs| {
                rs.metadata
                    .owner_references
                    .iter()
                    .flatten()
                    .any(|o| o.kind == "Deployment" && o.name == "web")
            })
        }
    })
    .await;
    assert!(
        rs.is_some(),
        "the controller-manager (as system:kube-controller-manager) made no ReplicaSet; log: {}",
        c.api.log_path().display()
    );
    let pods: Api<Pod> = Api::namespaced(admin, "default");
    let node = eventually(Duration::from_secs(20), || {
        let pods = pods.clone();
        async move {
            let list = pods
                .list(&ListParams::default().labels("app=web"))
                .await
                .ok()?;
            list.items
                .into_iter()
                .find_map(|p| p.spec.and_then(|s| s.node_name))
        }
    })
    .await;
    assert_eq!(
        node.as_deref(),
        Some("n1"),
        "the scheduler (as system:kube-scheduler) bound no pod"
    );
    assert!(!scheduler.is_finished() && !cm.is_finished());
    scheduler.abort();
    cm.abort();
}

/// What the stand-in kubelet serves behind the real guard.
fn kubelet_routes() -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/pods",
            get(|| async { r#"{"kind":"PodList","apiVersion":"v1","items":[]}"# }),
        )
        .route(
            "/containerLogs/{ns}/{pod}/{c}",
            get(
                |UrlPath((ns, pod, c)): UrlPath<(String, String, String)>| async move {
                    format!("log of {ns}/{pod}/{c}\n")
                },
            ),
        )
}

/// `curl` of the kubelet at `port`, trusting the test CA, with an optional
/// client certificate or bearer token: the status and the body.
fn curl(
    ca: &Path,
    port: u16,
    path: &str,
    cert: Option<&(PathBuf, PathBuf)>,
    token: Option<&str>,
) -> (u16, String) {
    let mut cmd = Command::new("curl");
    cmd.args([
        "-sS",
        "--max-time",
        "10",
        "-w",
        "\n%{http_code}",
        "--cacert",
    ])
    .arg(ca);
    if let Some((crt, key)) = cert {
        cmd.arg("--cert").arg(crt).arg("--key").arg(key);
    }
    if let Some(t) = token {
        cmd.args(["-H", &format!("Authorization: Bearer {t}")]);
    }
    let out = cmd
        .arg(format!("https://127.0.0.1:{port}{path}"))
        .output()
        .expect("curl runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kubelet_api_is_locked_and_the_apiserver_gets_in_with_its_certificate() {
    // The apiserver's identity towards kubelets, made before it starts.
    let (dir, ca_dir) = Secured::pki();
    let (crt, key) = pki::client_cert(
        dir.path(),
        &ca_dir,
        "apiserver-kubelet-client",
        "kube-apiserver-kubelet-client",
        &[],
    );
    let s = |p: &Path| p.to_str().expect("utf-8").to_string();
    let flags = [
        "--kubelet-client-certificate".to_string(),
        s(&crt),
        "--kubelet-client-key".into(),
        s(&key),
        "--kubelet-certificate-authority".into(),
        s(&ca_dir.join("ca.crt")),
    ];
    let c = Secured::start(dir, ca_dir, &flags).await;

    // The kubelet: a serving certificate of the cluster CA, the same CA for
    // its clients, and its own identity (system:node:n1) to ask the
    // apiserver about them.
    let (serving_crt, serving_key) =
        pki::serving_cert(c.dir.path(), &c.ca_dir, "kubelet", "n1", "IP:127.0.0.1");
    let tls = component_base::tls::server_config(&component_base::tls::ServingOptions {
        cert_file: Some(serving_crt),
        key_file: Some(serving_key),
        client_ca_file: Some(c.ca()),
        ..Default::default()
    })
    .expect("kubelet TLS");
    let node_client = c
        .client("kubelet-n1", "system:node:n1", &["system:nodes"])
        .await;
    // Upstream's defaults, except that a refusal is not remembered: the
    // test grants access below and wants it used at once.
    let options = kubelet::server::auth::AuthOptions {
        denied_ttl: Duration::ZERO,
        ..Default::default()
    };
    let guard = kubelet::server::auth::Guard::new(options, "n1", Some(node_client));
    let app = kubelet_routes().layer(axum::middleware::from_fn_with_state(
        Arc::new(guard),
        kubelet::server::auth::guard,
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(component_base::tls::serve(
        listener,
        tls,
        app,
        std::future::pending(),
    ));

    let kubelet_ca = c.ca();
    // No credentials: 401.
    let (code, body) = curl(&kubelet_ca, port, "/pods", None, None);
    assert_eq!((code, body.as_str()), (401, "Unauthorized"));
    // A user the apiserver knows but RBAC grants nothing on nodes: 403.
    let jane = c.cert("jane", "jane", &["dev"]);
    let (code, body) = curl(&kubelet_ca, port, "/pods", Some(&jane), None);
    assert_eq!(code, 403, "{body}");
    assert_eq!(
        body,
        "Forbidden (user=jane, verb=get, resource=nodes, subresource(s)=[pods proxy])\n"
    );
    let (code, _) = curl(&kubelet_ca, port, "/exec/default/p/c", Some(&jane), None);
    assert_eq!(code, 403);
    // An administrator's certificate, and an administrator's token
    // (checked by TokenReview): 200.
    let admin = c.cert("admin", "kubernetes-admin", &["system:masters"]);
    let (code, body) = curl(&kubelet_ca, port, "/pods", Some(&admin), None);
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("PodList"), "{body}");
    let (code, body) = curl(&kubelet_ca, port, "/healthz", Some(&admin), None);
    assert_eq!((code, body.as_str()), (200, "ok"));
    let (code, _) = curl(
        &kubelet_ca,
        port,
        "/pods",
        None,
        Some("tok-root-0123456789"),
    );
    assert_eq!(code, 200);
    let (code, _) = curl(&kubelet_ca, port, "/pods", None, Some("not-a-token"));
    assert_eq!(code, 401);

    // Through the apiserver: a pod on n1 and `kubectl logs` as the admin.
    let http = c.admin_http();
    create_node(&http, "n1", port).await;
    let r = http
        .post(
            "/api/v1/namespaces/default/pods",
            &json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "busybox"}]}}),
        )
        .await
        .expect("create pod");
    assert_eq!(r.status, 201, "{}", r.body);
    let admin_kc = c.kubeconfig("admin-kc", "kubernetes-admin", &["system:masters"]);
    let logs = || {
        Command::new("/usr/bin/kubectl")
            .arg("--kubeconfig")
            .arg(&admin_kc)
            .args(["logs", "p", "--request-timeout=10s"])
            .output()
            .expect("kubectl runs")
    };
    // The kubelet does not yet let the apiserver's user in.
    let out = logs();
    assert!(!out.status.success(), "logs before the binding");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("kube-apiserver-kubelet-client"),
        "the kubelet's refusal names the apiserver's user: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    apply_file(
        &c.api.url,
        &repo_file("manifests/cluster/kubelet-api-admin.yaml"),
    );
    let served = eventually(Duration::from_secs(10), || {
        let out = logs();
        async move { out.status.success().then_some(out) }
    })
    .await
    .expect("kubectl logs works once the apiserver's user is bound to system:kubelet-api-admin");
    assert_eq!(
        String::from_utf8_lossy(&served.stdout),
        "log of default/p/c\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_apiserver_refuses_a_kubelet_its_ca_did_not_sign() {
    // --kubelet-certificate-authority names a CA that signed nothing here.
    let (dir, ca_dir) = Secured::pki();
    let other = dir.path().join("other-ca");
    std::fs::create_dir_all(&other).expect("dir");
    let other_ca = pki::self_signed_ca(&other);
    let flags = [
        "--kubelet-certificate-authority".to_string(),
        other_ca.to_str().expect("utf-8").to_string(),
    ];
    let c = Secured::start(dir, ca_dir, &flags).await;
    // A kubelet with a certificate of the cluster CA that lets anyone in.
    let (crt, key) = pki::serving_cert(c.dir.path(), &c.ca_dir, "kubelet", "n1", "IP:127.0.0.1");
    let tls = component_base::tls::server_config(&component_base::tls::ServingOptions {
        cert_file: Some(crt),
        key_file: Some(key),
        ..Default::default()
    })
    .expect("kubelet TLS");
    let open = kubelet::server::auth::AuthOptions {
        anonymous: true,
        webhook: false,
        mode: kubelet::server::auth::AuthorizationMode::AlwaysAllow,
        ..Default::default()
    };
    let app = kubelet_routes().layer(axum::middleware::from_fn_with_state(
        Arc::new(kubelet::server::auth::Guard::new(open, "n1", None)),
        kubelet::server::auth::guard,
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(component_base::tls::serve(
        listener,
        tls,
        app,
        std::future::pending(),
    ));
    // The kubelet itself answers anyone (AlwaysAllow, anonymous on).
    assert_eq!(
        curl(&c.ca(), port, "/healthz", None, None),
        (200, "ok".into())
    );

    let http = c.admin_http();
    create_node(&http, "n1", port).await;
    let r = http
        .post(
            "/api/v1/namespaces/default/pods",
            &json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "busybox"}]}}),
        )
        .await
        .expect("create pod");
    assert_eq!(r.status, 201, "{}", r.body);
    let r = http
        .get("/api/v1/namespaces/default/pods/p/log")
        .await
        .expect("logs");
    assert_eq!(r.status, 500, "{}", r.body);
    let message = r.body["message"].as_str().unwrap_or_default();
    assert!(
        message.starts_with(&format!("error dialing the kubelet at 127.0.0.1:{port}")),
        "{message}"
    );
}

/// Audit events of creates of ReplicaSets and Pods, the writes the
/// deployment and replicaset controllers make.
const CONTROLLER_AUDIT_POLICY: &str = r#"apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: Metadata
    verbs: [create]
    resources:
      - group: apps
        resources: [replicasets]
      - group: ""
        resources: [pods]
"#;

/// The audit events so far whose user is `user` creating `resource`.
fn creates_by(log: &Path, user: &str, resource: &str) -> Vec<serde_json::Value> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| {
            e["user"]["username"] == json!(user)
                && e["verb"] == json!("create")
                && e["objectRef"]["resource"] == json!(resource)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controllers_act_as_their_own_service_accounts() {
    let (dir, ca_dir) = Secured::pki();
    let key = pki::ec_private_key(dir.path(), "sa.key");
    let policy = dir.path().join("audit-policy.yaml");
    std::fs::write(&policy, CONTROLLER_AUDIT_POLICY).expect("audit policy");
    let log = dir.path().join("audit.log");
    let s = |p: &Path| p.to_str().expect("utf-8").to_string();
    let c = Secured::start(
        dir,
        ca_dir,
        &[
            "--service-account-signing-key-file".into(),
            s(&key),
            "--service-account-key-file".into(),
            s(&key),
            "--service-account-issuer".into(),
            "https://kubernetes.default.svc.cluster.local".into(),
            "--audit-policy-file".into(),
            s(&policy),
            "--audit-log-path".into(),
            s(&log),
        ],
    )
    .await;
    let http = c.admin_http();
    // No cluster-admin binding for the manager this time: only upstream's
    // system:kube-controller-manager role, which lets it make the accounts
    // and their tokens, and the controllers' own roles.
    let kubeconfig = c.kubeconfig("controller-manager", "system:kube-controller-manager", &[]);
    let config = component_base::client::config(Some(&kubeconfig), None)
        .await
        .expect("controller-manager connection settings");
    let cm_client = kube::Client::try_from(config.clone()).expect("client");
    let cm = tokio::spawn(controller_manager::run(
        cm_client,
        controller_manager::Config {
            controllers: vec!["deployment".into(), "replicaset".into()],
            allocate_node_cidrs: false,
            service_account_credentials: Some(config),
            ..Default::default()
        },
    ));

    let deployment = |name: &str| {
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                "template": {"metadata": {"labels": {"app": name}},
                    "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}})
    };
    let r = http
        .post(
            "/apis/apps/v1/namespaces/default/deployments",
            &deployment("web"),
        )
        .await
        .expect("create deployment");
    assert_eq!(r.status, 201, "{}", r.body);

    // The ReplicaSet was made by the deployment controller's account, its
    // pod by the replicaset controller's.
    let deployment_controller = "system:serviceaccount:kube-system:deployment-controller";
    let replicaset_controller = "system:serviceaccount:kube-system:replicaset-controller";
    let made = eventually(Duration::from_secs(30), || {
        let log = log.clone();
        async move {
            let rs = creates_by(&log, deployment_controller, "replicasets");
            let pods = creates_by(&log, replicaset_controller, "pods");
            (!rs.is_empty() && !pods.is_empty()).then_some((rs, pods))
        }
    })
    .await;
    let Some((rs, pods)) = made else {
        panic!(
            "no ReplicaSet and pod created by the controllers' own accounts; audit log:\n{}\napiserver log: {}",
            std::fs::read_to_string(&log).unwrap_or_default(),
            c.api.log_path().display()
        );
    };
    assert_eq!(rs[0]["responseStatus"]["code"], json!(201), "{rs:?}");
    assert_eq!(pods[0]["responseStatus"]["code"], json!(201), "{pods:?}");
    assert!(
        creates_by(&log, "system:kube-controller-manager", "replicasets").is_empty(),
        "the manager's own user made a ReplicaSet"
    );
    // The accounts exist in kube-system, made by the manager.
    for account in ["deployment-controller", "replicaset-controller"] {
        let r = http
            .get(&format!(
                "/api/v1/namespaces/kube-system/serviceaccounts/{account}"
            ))
            .await
            .expect("get account");
        assert_eq!(r.status, 200, "{account}: {}", r.body);
    }

    // Without its role's binding the deployment controller is refused.
    let r = http
        .delete(
            "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/system:controller:deployment-controller",
            None,
        )
        .await
        .expect("delete binding");
    assert_eq!(r.status, 200, "{}", r.body);
    let r = http
        .post(
            "/apis/apps/v1/namespaces/default/deployments",
            &deployment("refused"),
        )
        .await
        .expect("create deployment");
    assert_eq!(r.status, 201, "{}", r.body);
    let refused = eventually(Duration::from_secs(30), || {
        let log = log.clone();
        async move {
            creates_by(&log, deployment_controller, "replicasets")
                .into_iter()
                .find(|e| e["responseStatus"]["code"] == json!(403))
        }
    })
    .await;
    assert!(
        refused.is_some(),
        "the deployment controller was not refused without its role; audit log:\n{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    let r = http
        .get("/apis/apps/v1/namespaces/default/replicasets?labelSelector=app%3Drefused")
        .await
        .expect("list");
    assert_eq!(r.body["items"], json!([]), "{}", r.body);
    assert!(!cm.is_finished());
    cm.abort();
}

/// TCP connections of this process to `port` (the client's side).
fn connections_to(port: u16) -> usize {
    let table = std::fs::read_to_string("/proc/self/net/tcp").unwrap_or_default();
    table
        .lines()
        .skip(1)
        .filter(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            // remote address "7F000001:PORT" in hex, state 01 = ESTABLISHED
            f.len() > 3
                && f[3] == "01"
                && f[2]
                    .rsplit_once(':')
                    .is_some_and(|(_, p)| u16::from_str_radix(p, 16) == Ok(port))
        })
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_component_puts_its_requests_and_watches_on_one_http2_connection() {
    let (dir, ca_dir) = Secured::pki();
    let c = Secured::start(dir, ca_dir, &[]).await;
    let port: u16 = c
        .url
        .rsplit_once(':')
        .and_then(|(_, p)| p.parse().ok())
        .expect("port");
    let admin = c
        .client("admin", "kubernetes-admin", &["system:masters"])
        .await;
    // Three watches held open, as a component's informers hold theirs ...
    let wp = kube::api::WatchParams::default().timeout(60);
    let pods: Api<Pod> = Api::namespaced(admin.clone(), "default");
    let maps: Api<k8s_openapi::api::core::v1::ConfigMap> =
        Api::namespaced(admin.clone(), "default");
    let secrets: Api<k8s_openapi::api::core::v1::Secret> =
        Api::namespaced(admin.clone(), "default");
    let watches = (
        pods.watch(&wp, "0").await.expect("a watch of pods"),
        maps.watch(&wp, "0").await.expect("a watch of configmaps"),
        secrets.watch(&wp, "0").await.expect("a watch of secrets"),
    );
    // ... and a burst of 40 requests at once beside them.
    let lists = (0..40).map(|_| {
        let pods: Api<Pod> = Api::namespaced(admin.clone(), "default");
        async move { pods.list(&ListParams::default()).await }
    });
    for r in futures::future::join_all(lists).await {
        r.expect("a list over the shared connection");
    }
    assert_eq!(
        connections_to(port),
        1,
        "HTTP/2: every request and watch on one connection"
    );
    drop(watches);
}
