//! The secure port with the real kubectl (/usr/bin/kubectl): TLS against
//! the right and a wrong CA, client certificates, static tokens, bootstrap
//! tokens, ServiceAccount tokens from TokenRequest (dead once their pod is),
//! anonymous requests, RBAC with upstream's 403 messages, `auth can-i`,
//! `auth whoami`, impersonation with `--as`, and escalation refused.
//!
//! Each test starts etcd and an apiserver with `--authorization-mode=RBAC`
//! (the plain port stays for the harness's readiness check only) and
//! writes its own CA, certificates and kubeconfigs into a temp dir.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use tests::harness::{eventually, free_port, ApiServer, Etcd, KubectlOutput};
use tests::pki;

/// The issuer of ServiceAccount tokens in these tests.
const ISSUER: &str = "https://kubernetes.default.svc.cluster.local";

/// A secured apiserver and what it takes to talk to it.
struct Secured {
    _etcd: Etcd,
    api: ApiServer,
    dir: tempfile::TempDir,
    /// `https://127.0.0.1:<secure port>`.
    url: String,
    /// The client CA (also signs the test users' certificates).
    ca_dir: PathBuf,
    /// The serving certificate's CA file (self-signed in --cert-dir).
    serving_ca: PathBuf,
}

/// Who a kubeconfig authenticates as.
enum Creds<'a> {
    /// A client certificate and key.
    Cert(&'a Path, &'a Path),
    /// A bearer token.
    Token(&'a str),
}

impl Secured {
    async fn start(extra: &[&str]) -> Secured {
        let dir = tempfile::tempdir().expect("temp dir");
        let ca_dir = dir.path().join("ca");
        std::fs::create_dir_all(&ca_dir).expect("ca dir");
        pki::self_signed_ca(&ca_dir);
        let tokens = dir.path().join("tokens.csv");
        std::fs::write(&tokens, "tok-bob-0123456789,bob,uid-bob,\"viewers,ops\"\n")
            .expect("token file");
        let sa_key = pki::ec_private_key(dir.path(), "sa.key");
        let cert_dir = dir.path().join("serving");
        let port = free_port();
        let port_s = port.to_string();
        let ca_file = ca_dir.join("ca.crt");
        let mut args: Vec<String> = [
            "--secure-port",
            &port_s,
            "--cert-dir",
            cert_dir.to_str().expect("utf-8"),
            "--client-ca-file",
            ca_file.to_str().expect("utf-8"),
            "--token-auth-file",
            tokens.to_str().expect("utf-8"),
            "--service-account-signing-key-file",
            sa_key.to_str().expect("utf-8"),
            "--service-account-key-file",
            sa_key.to_str().expect("utf-8"),
            "--service-account-issuer",
            ISSUER,
            "--enable-bootstrap-token-auth",
            "--authorization-mode",
            "Node,RBAC",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(extra.iter().map(|s| s.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let etcd = Etcd::start().await.expect("etcd");
        let api = ApiServer::start_with(&etcd, &args)
            .await
            .expect("apiserver");
        Secured {
            _etcd: etcd,
            api,
            url: format!("https://127.0.0.1:{port}"),
            serving_ca: cert_dir.join("apiserver.crt"),
            ca_dir,
            dir,
        }
    }

    /// A client certificate for `cn` in `orgs`, signed by the client CA.
    fn cert(&self, name: &str, cn: &str, orgs: &[&str]) -> (PathBuf, PathBuf) {
        pki::client_cert(self.dir.path(), &self.ca_dir, name, cn, orgs)
    }

    /// Writes a kubeconfig trusting `ca` and authenticating with `creds`.
    fn kubeconfig(&self, name: &str, ca: &Path, creds: Creds<'_>) -> PathBuf {
        let user = match creds {
            Creds::Cert(crt, key) => format!(
                "{{client-certificate: {}, client-key: {}}}",
                crt.display(),
                key.display()
            ),
            Creds::Token(t) => format!("{{token: {t}}}"),
        };
        let text = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {{server: {}, certificate-authority: {}}}\n\
             users:\n- name: u\n  user: {user}\ncontexts:\n- name: x\n  context: {{cluster: c, user: u, namespace: default}}\n\
             current-context: x\n",
            self.url,
            ca.display()
        );
        let path = self.dir.path().join(format!("{name}.kubeconfig"));
        std::fs::write(&path, text).expect("kubeconfig");
        path
    }

    /// `GET path` with curl, trusting the serving CA, with an optional
    /// bearer token: the status code and the body (JSON, or a JSON string
    /// for a text body).
    fn curl(&self, path: &str, token: Option<&str>) -> (u16, serde_json::Value) {
        let mut cmd = Command::new("curl");
        cmd.args([
            "-sS",
            "--max-time",
            "10",
            "-w",
            "\n%{http_code}",
            "--cacert",
        ])
        .arg(&self.serving_ca);
        if let Some(t) = token {
            cmd.args(["-H", &format!("Authorization: Bearer {t}")]);
        }
        let out = cmd
            .arg(format!("{}{path}", self.url))
            .output()
            .expect("curl runs");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
        let body = serde_json::from_str(body).unwrap_or_else(|_| serde_json::json!(body));
        (code.trim().parse().unwrap_or(0), body)
    }

    /// An admin (system:masters) kubeconfig.
    fn admin(&self) -> PathBuf {
        let (crt, key) = self.cert("admin", "kubernetes-admin", &["system:masters"]);
        self.kubeconfig("admin", &self.serving_ca, Creds::Cert(&crt, &key))
    }
}

/// What kubectl says when the server answers 401.
const LOGIN: &str = "You must be logged in to the server";

/// Runs the real kubectl with a kubeconfig (and its own discovery cache).
fn kubectl(kubeconfig: &Path, args: &[&str]) -> KubectlOutput {
    let cache = kubeconfig.with_extension("cache");
    let out = Command::new("/usr/bin/kubectl")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .arg("--cache-dir")
        .arg(&cache)
        .arg("--request-timeout=10s")
        .args(args)
        .output()
        .expect("kubectl runs");
    KubectlOutput {
        success: out.status.success(),
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Retries `args` until they succeed (RBAC changes reach the authorizer
/// through a watch, a moment after the write).
async fn until_ok(kubeconfig: &Path, args: &[&str]) -> KubectlOutput {
    let found = eventually(Duration::from_secs(10), || {
        let out = kubectl(kubeconfig, args);
        async move { out.success.then_some(out) }
    })
    .await;
    match found {
        Some(out) => out,
        None => {
            let last = kubectl(kubeconfig, args);
            panic!("kubectl {args:?} never succeeded: {}", last.stderr)
        }
    }
}

/// Retries `args` until they fail (a revoked grant or token).
async fn until_refused(kubeconfig: &Path, args: &[&str]) -> KubectlOutput {
    let found = eventually(Duration::from_secs(10), || {
        let out = kubectl(kubeconfig, args);
        async move { (!out.success).then_some(out) }
    })
    .await;
    found.unwrap_or_else(|| panic!("kubectl {args:?} kept succeeding"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_is_trusted_only_with_the_right_ca() {
    let s = Secured::start(&[]).await;
    let admin = s.admin();
    let out = kubectl(&admin, &["get", "--raw", "/version"]);
    assert!(out.success, "{}", out.stderr);
    assert!(out.stdout.contains("gitVersion"), "{}", out.stdout);

    // ALPN offers HTTP/2 and HTTP/1.1.
    for (flag, want) in [("--http2", "2"), ("--http1.1", "1.1")] {
        let out = Command::new("curl")
            .args([
                "-sS",
                "-o",
                "/dev/null",
                "-w",
                "%{http_version}",
                flag,
                "--cacert",
            ])
            .arg(&s.serving_ca)
            .arg(format!("{}/healthz", s.url))
            .output()
            .expect("curl runs");
        assert_eq!(String::from_utf8_lossy(&out.stdout), want, "{flag}");
    }

    // The server records the authenticated requester of a CSR, whatever
    // the client wrote.
    let csr = s.dir.path().join("csr.yaml");
    std::fs::write(
        &csr,
        "apiVersion: certificates.k8s.io/v1\nkind: CertificateSigningRequest\nmetadata: {name: mine}\n\
         spec: {request: TFMwdExTMUNSVWRKVGlCRFJWSlVTVVpKUTBGVVJTQlNSVkZWUlZOVUxTMHRMUzBL, signerName: example.com/signer, usages: [client auth], username: mallory}\n",
    )
    .expect("write");
    let out = kubectl(&admin, &["create", "-f", csr.to_str().expect("utf-8")]);
    assert!(out.success, "{}", out.stderr);
    let out = kubectl(
        &admin,
        &[
            "get",
            "csr",
            "mine",
            "-o",
            "jsonpath={.spec.username} {.spec.groups}",
        ],
    );
    assert_eq!(
        out.stdout.trim(),
        r#"kubernetes-admin ["system:masters","system:authenticated"]"#,
        "{}",
        out.stderr
    );

    // A CA that did not sign the serving certificate.
    let other = s.dir.path().join("other-ca");
    std::fs::create_dir_all(&other).expect("dir");
    let other_ca = pki::self_signed_ca(&other);
    let (crt, key) = s.cert("admin2", "kubernetes-admin", &["system:masters"]);
    let wrong = s.kubeconfig("wrong-ca", &other_ca, Creds::Cert(&crt, &key));
    let out = kubectl(&wrong, &["get", "--raw", "/version"]);
    assert!(!out.success);
    assert!(
        out.stderr
            .contains("certificate signed by unknown authority"),
        "{}",
        out.stderr
    );

    // A client certificate from a CA the server does not trust fails the
    // handshake: no request is served.
    let (crt, key) = pki::client_cert(
        s.dir.path(),
        &other,
        "mallory",
        "mallory",
        &["system:masters"],
    );
    let forged = s.kubeconfig("forged", &s.serving_ca, Creds::Cert(&crt, &key));
    let out = kubectl(&forged, &["get", "pods"]);
    assert!(
        !out.success,
        "a forged certificate was accepted: {}",
        out.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_user_needs_rbac_and_gets_upstreams_messages() {
    let s = Secured::start(&[]).await;
    let admin = s.admin();
    let (crt, key) = s.cert("jane", "jane", &["dev-team", "ops"]);
    let jane = s.kubeconfig("jane", &s.serving_ca, Creds::Cert(&crt, &key));
    let out = kubectl(&admin, &["create", "namespace", "dev"]);
    assert!(out.success, "{}", out.stderr);

    // Who am I: the certificate's CN and Os.
    let out = kubectl(
        &jane,
        &["auth", "whoami", "-o", "jsonpath={.status.userInfo}"],
    );
    assert!(out.success, "{}", out.stderr);
    let info: serde_json::Value = serde_json::from_str(&out.stdout).expect("json");
    assert_eq!(info["username"], "jane");
    assert_eq!(
        info["groups"],
        serde_json::json!(["dev-team", "ops", "system:authenticated"])
    );

    // No binding: upstream's exact refusal.
    let out = kubectl(&jane, &["get", "pods", "-n", "dev"]);
    assert!(!out.success);
    assert_eq!(
        out.stderr.trim(),
        r#"Error from server (Forbidden): pods is forbidden: User "jane" cannot list resource "pods" in API group "" in the namespace "dev""#
    );
    let out = kubectl(&jane, &["auth", "can-i", "list", "pods", "-n", "dev"]);
    assert_eq!(out.stdout.trim(), "no");

    // A RoleBinding to `view` (aggregated from system:aggregate-to-view by
    // the aggregation controller) in dev only.
    let out = kubectl(
        &admin,
        &[
            "create",
            "rolebinding",
            "jane-view",
            "--clusterrole=view",
            "--user=jane",
            "-n",
            "dev",
        ],
    );
    assert!(out.success, "{}", out.stderr);
    let out = until_ok(&jane, &["get", "pods", "-n", "dev"]).await;
    assert!(out.stderr.contains("No resources found"), "{}", out.stderr);
    let out = kubectl(&jane, &["get", "pods", "-n", "default"]);
    assert!(
        out.stderr.contains(
            r#"User "jane" cannot list resource "pods" in API group "" in the namespace "default""#
        ),
        "{}",
        out.stderr
    );
    let out = kubectl(&jane, &["delete", "pod", "web", "-n", "dev"]);
    assert!(
        out.stderr.contains(r#"pods "web" is forbidden: User "jane" cannot delete resource "pods" in API group "" in the namespace "dev""#),
        "{}",
        out.stderr
    );
    let out = kubectl(&jane, &["get", "nodes"]);
    assert!(out.stderr.contains(r#"nodes is forbidden: User "jane" cannot list resource "nodes" in API group "" at the cluster scope"#), "{}", out.stderr);

    // The resource metrics come with view (system:aggregated-metrics-reader),
    // in dev only, and are authorized like any resource.
    let out = until_ok(&jane, &["get", "pods.metrics.k8s.io", "-n", "dev"]).await;
    assert!(out.stderr.contains("No resources found"), "{}", out.stderr);
    let out = kubectl(&jane, &["get", "pods.metrics.k8s.io", "-n", "default"]);
    assert!(
        out.stderr.contains(
            r#"pods.metrics.k8s.io is forbidden: User "jane" cannot list resource "pods" in API group "metrics.k8s.io" in the namespace "default""#
        ),
        "{}",
        out.stderr
    );

    // can-i answers what the server enforces.
    let out = kubectl(&jane, &["auth", "can-i", "list", "pods", "-n", "dev"]);
    assert_eq!(out.stdout.trim(), "yes", "{}", out.stderr);
    let out = kubectl(
        &jane,
        &["auth", "can-i", "create", "deployments", "-n", "dev"],
    );
    assert_eq!(out.stdout.trim(), "no");
    let out = kubectl(&jane, &["auth", "can-i", "--list", "-n", "dev"]);
    assert!(out.success, "{}", out.stderr);
    assert!(out.stdout.contains("pods "), "{}", out.stdout);
    assert!(
        out.stdout
            .contains("selfsubjectaccessreviews.authorization.k8s.io"),
        "{}",
        out.stdout
    );
    assert!(
        !out.stdout.contains("secrets "),
        "view has no secrets: {}",
        out.stdout
    );
    // An admin asks about someone else (SubjectAccessReview).
    let out = kubectl(
        &admin,
        &["auth", "can-i", "list", "pods", "-n", "dev", "--as", "jane"],
    );
    assert_eq!(out.stdout.trim(), "yes");

    // Impersonation: jane may not, the admin may.
    let out = kubectl(&jane, &["get", "pods", "-n", "dev", "--as", "bob"]);
    assert_eq!(
        out.stderr.trim(),
        r#"Error from server (Forbidden): users "bob" is forbidden: User "jane" cannot impersonate resource "users" in API group "" at the cluster scope"#
    );
    let out = kubectl(
        &admin,
        &[
            "auth",
            "whoami",
            "--as",
            "jane",
            "--as-group",
            "qa",
            "-o",
            "jsonpath={.status.userInfo.username} {.status.userInfo.groups}",
        ],
    );
    assert_eq!(
        out.stdout.trim(),
        r#"jane ["qa","system:authenticated"]"#,
        "{}",
        out.stderr
    );
    let out = kubectl(&admin, &["get", "pods", "-n", "default", "--as", "jane"]);
    assert!(
        out.stderr
            .contains(r#"User "jane" cannot list resource "pods""#),
        "{}",
        out.stderr
    );

    // Escalation: as `admin` of dev, jane may hand out what she holds, not more.
    let out = kubectl(
        &admin,
        &[
            "create",
            "rolebinding",
            "jane-admin",
            "--clusterrole=admin",
            "--user=jane",
            "-n",
            "dev",
        ],
    );
    assert!(out.success, "{}", out.stderr);
    until_ok(&jane, &["get", "roles", "-n", "dev"]).await;
    let out = kubectl(
        &jane,
        &[
            "create",
            "role",
            "reader",
            "--verb=get",
            "--resource=pods",
            "-n",
            "dev",
        ],
    );
    assert!(
        out.success,
        "a held permission may be granted: {}",
        out.stderr
    );
    let out = kubectl(
        &jane,
        &[
            "create",
            "role",
            "nodes",
            "--verb=*",
            "--resource=nodes",
            "-n",
            "dev",
        ],
    );
    assert!(!out.success);
    assert!(
        out.stderr.contains(r#"roles.rbac.authorization.k8s.io "nodes" is forbidden: user "jane" (groups=["dev-team" "ops" "system:authenticated"]) is attempting to grant RBAC permissions not currently held"#),
        "{}",
        out.stderr
    );
    let out = kubectl(
        &jane,
        &[
            "create",
            "rolebinding",
            "mine",
            "--clusterrole=cluster-admin",
            "--user=jane",
            "-n",
            "dev",
        ],
    );
    assert!(!out.success);
    assert!(
        out.stderr
            .contains("is attempting to grant RBAC permissions not currently held"),
        "{}",
        out.stderr
    );

    // A role holding more than jane does (made by the admin) may still be
    // labelled by her: that grants nothing. Changing its rules would.
    let out = kubectl(
        &admin,
        &[
            "create",
            "role",
            "big",
            "--verb=*",
            "--resource=nodes",
            "-n",
            "dev",
        ],
    );
    assert!(out.success, "{}", out.stderr);
    let out = kubectl(&jane, &["label", "role", "big", "team=dev", "-n", "dev"]);
    assert!(out.success, "a label grants nothing: {}", out.stderr);
    let more = r#"[{"op":"add","path":"/rules/-","value":{"apiGroups":[""],"resources":["secrets"],"verbs":["get"]}}]"#;
    let out = kubectl(
        &jane,
        &[
            "patch",
            "role",
            "big",
            "-n",
            "dev",
            "--type=json",
            "-p",
            more,
        ],
    );
    assert!(
        out.stderr
            .contains("is attempting to grant RBAC permissions not currently held"),
        "{}",
        out.stderr
    );

    // Taking the bindings away takes the access away.
    for b in ["jane-view", "jane-admin"] {
        let out = kubectl(&admin, &["delete", "rolebinding", b, "-n", "dev"]);
        assert!(out.success, "{}", out.stderr);
    }
    until_refused(&jane, &["get", "pods", "-n", "dev"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_static_bootstrap_and_service_account() {
    let s = Secured::start(&[]).await;
    let admin = s.admin();

    // The token file's user and groups.
    let bob = s.kubeconfig("bob", &s.serving_ca, Creds::Token("tok-bob-0123456789"));
    let out = kubectl(
        &bob,
        &[
            "auth",
            "whoami",
            "-o",
            "jsonpath={.status.userInfo.username} {.status.userInfo.groups}",
        ],
    );
    assert_eq!(
        out.stdout.trim(),
        r#"bob ["viewers","ops","system:authenticated"]"#,
        "{}",
        out.stderr
    );
    // A token nobody issued, and a JWT with `alg: none`: 401.
    let nobody = s.kubeconfig("nobody", &s.serving_ca, Creds::Token("not-a-token"));
    let out = kubectl(&nobody, &["get", "pods"]);
    assert!(
        out.stderr
            .contains("error: You must be logged in to the server"),
        "{}",
        out.stderr
    );
    // Upstream's 401 Status, which says nothing more.
    let (code, body) = s.curl("/api/v1/namespaces/default/pods", Some("not-a-token"));
    assert_eq!(code, 401);
    assert_eq!(
        body,
        serde_json::json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                           "message": "Unauthorized", "reason": "Unauthorized", "code": 401})
    );
    let none_jwt = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJpc3MiOiJodHRwczovL2t1YmVybmV0ZXMuZGVmYXVsdC5zdmMuY2x1c3Rlci5sb2NhbCIsInN1YiI6InN5c3RlbTpzZXJ2aWNlYWNjb3VudDpkZWZhdWx0OmRlZmF1bHQiLCJhdWQiOlsiaHR0cHM6Ly9rdWJlcm5ldGVzLmRlZmF1bHQuc3ZjLmNsdXN0ZXIubG9jYWwiXSwiZXhwIjo0MTAyNDQ0ODAwfQ.";
    let forged = s.kubeconfig("alg-none", &s.serving_ca, Creds::Token(none_jwt));
    let out = kubectl(&forged, &["get", "pods"]);
    assert!(out.stderr.contains(LOGIN), "{}", out.stderr);

    // Bootstrap tokens: good until their expiration.
    let later = (chrono_like_now() + 3600).to_string();
    let secret = |id: &str, expiration: &str| {
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata: {{name: bootstrap-token-{id}, namespace: kube-system}}\n\
             type: bootstrap.kubernetes.io/token\nstringData:\n  token-id: {id}\n  token-secret: 0123456789abcdef\n\
             \x20 usage-bootstrap-authentication: \"true\"\n  expiration: \"{expiration}\"\n"
        )
    };
    let file = s.dir.path().join("bootstrap.yaml");
    std::fs::write(
        &file,
        format!(
            "{}---\n{}",
            secret("abcdef", &rfc3339(later.parse().expect("number"))),
            secret("expird", "2020-01-01T00:00:00Z")
        ),
    )
    .expect("write");
    let out = kubectl(&admin, &["create", "-f", file.to_str().expect("utf-8")]);
    assert!(out.success, "{}", out.stderr);
    let boot = s.kubeconfig(
        "boot",
        &s.serving_ca,
        Creds::Token("abcdef.0123456789abcdef"),
    );
    let out = kubectl(
        &boot,
        &[
            "auth",
            "whoami",
            "-o",
            "jsonpath={.status.userInfo.username} {.status.userInfo.groups}",
        ],
    );
    assert_eq!(
        out.stdout.trim(),
        r#"system:bootstrap:abcdef ["system:bootstrappers","system:authenticated"]"#,
        "{}",
        out.stderr
    );
    let expired = s.kubeconfig(
        "expired",
        &s.serving_ca,
        Creds::Token("expird.0123456789abcdef"),
    );
    let out = kubectl(&expired, &["auth", "whoami"]);
    assert!(
        out.stderr.contains(LOGIN),
        "an expired bootstrap token: {}",
        out.stderr
    );

    // TokenRequest: a token bound to a pod, good while the pod lives.
    let manifest = s.dir.path().join("robot.yaml");
    std::fs::write(
        &manifest,
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: apps}\n---\n\
         apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: robot, namespace: apps}\n---\n\
         apiVersion: v1\nkind: Pod\nmetadata: {name: worker, namespace: apps}\n\
         spec: {serviceAccountName: robot, containers: [{name: c, image: busybox:1.36}]}\n",
    )
    .expect("write");
    let out = kubectl(&admin, &["create", "-f", manifest.to_str().expect("utf-8")]);
    assert!(out.success, "{}", out.stderr);
    let out = kubectl(
        &admin,
        &[
            "create",
            "token",
            "robot",
            "-n",
            "apps",
            "--bound-object-kind",
            "Pod",
            "--bound-object-name",
            "worker",
            "--duration",
            "1h",
        ],
    );
    assert!(out.success, "{}", out.stderr);
    let token = out.stdout.trim().to_string();
    assert_eq!(token.split('.').count(), 3, "a JWT: {token}");
    let robot = s.kubeconfig("robot", &s.serving_ca, Creds::Token(&token));
    let out = kubectl(
        &robot,
        &[
            "auth",
            "whoami",
            "-o",
            "jsonpath={.status.userInfo.username}",
        ],
    );
    assert_eq!(
        out.stdout.trim(),
        "system:serviceaccount:apps:robot",
        "{}",
        out.stderr
    );
    let out = kubectl(&robot, &["get", "pods", "-n", "apps"]);
    assert!(
        out.stderr
            .contains(r#"User "system:serviceaccount:apps:robot" cannot list resource "pods""#),
        "{}",
        out.stderr
    );
    let out = kubectl(
        &admin,
        &[
            "create",
            "rolebinding",
            "robot-view",
            "--clusterrole=view",
            "--serviceaccount=apps:robot",
            "-n",
            "apps",
        ],
    );
    assert!(out.success, "{}", out.stderr);
    let out = until_ok(&robot, &["get", "pods", "-n", "apps", "-o", "name"]).await;
    assert_eq!(out.stdout.trim(), "pod/worker");

    // A TokenReview by the admin says whose the token is.
    let review = s.dir.path().join("review.yaml");
    std::fs::write(
        &review,
        format!(
            "apiVersion: authentication.k8s.io/v1\nkind: TokenReview\nspec: {{token: {token}}}\n"
        ),
    )
    .expect("write");
    // (--validate=false: the server publishes no OpenAPI for the review
    // kinds, which are never stored.)
    let out = kubectl(&admin, &["create", "--validate=false", "-f", review.to_str().expect("utf-8"), "-o", "jsonpath={.status.authenticated} {.status.user.username} {.status.user.extra.authentication\\.kubernetes\\.io/pod-name}"]);
    assert_eq!(
        out.stdout.trim(),
        r#"true system:serviceaccount:apps:robot ["worker"]"#,
        "{}",
        out.stderr
    );

    // The pod goes: so does the token.
    let out = kubectl(
        &admin,
        &[
            "delete",
            "pod",
            "worker",
            "-n",
            "apps",
            "--grace-period=0",
            "--force",
        ],
    );
    assert!(out.success, "{}", out.stderr);
    let out = until_refused(&robot, &["get", "pods", "-n", "apps"]).await;
    assert!(out.stderr.contains(LOGIN), "{}", out.stderr);
    // A token for a pod that does not exist is not issued.
    let out = kubectl(
        &admin,
        &[
            "create",
            "token",
            "robot",
            "-n",
            "apps",
            "--bound-object-kind",
            "Pod",
            "--bound-object-name",
            "worker",
        ],
    );
    assert!(
        out.stderr.contains(r#"pods "worker" not found"#),
        "{}",
        out.stderr
    );
}

// kubectl prompts for a password when a kubeconfig has no credentials, so
// anonymous requests go through curl.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_gets_health_and_version_only() {
    let s = Secured::start(&[]).await;
    let (code, body) = s.curl("/healthz", None);
    assert_eq!((code, body), (200, serde_json::json!("ok")));
    let (code, body) = s.curl("/version", None);
    assert_eq!(code, 200);
    assert!(body["gitVersion"].is_string(), "{body}");
    let (code, body) = s.curl("/api/v1/namespaces/default/pods", None);
    assert_eq!(code, 403);
    assert_eq!(
        body["message"],
        r#"pods is forbidden: User "system:anonymous" cannot list resource "pods" in API group "" in the namespace "default""#
    );
    assert_eq!(body["reason"], "Forbidden");
    assert_eq!(
        body["details"],
        serde_json::json!({"kind": "pods", "name": ""})
    );
    let (code, body) = s.curl("/metrics", None);
    assert_eq!(code, 403);
    assert_eq!(
        body["message"],
        r#"forbidden: User "system:anonymous" cannot get path "/metrics""#
    );

    // With --anonymous-auth=false nobody without credentials gets anything.
    let closed = Secured::start(&["--anonymous-auth=false"]).await;
    let (code, body) = closed.curl("/healthz", None);
    assert_eq!(code, 401);
    assert_eq!(body["reason"], "Unauthorized");
}

/// Seconds since the epoch.
fn chrono_like_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// RFC 3339 of seconds since the epoch, by `date` (no date crate here).
fn rfc3339(secs: i64) -> String {
    let out = Command::new("date")
        .args(["-u", "-d", &format!("@{secs}"), "+%Y-%m-%dT%H:%M:%SZ"])
        .output()
        .expect("date runs");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kubelet_reads_only_its_pods_secrets_and_changes_only_its_node() {
    let s = Secured::start(&[]).await;
    let admin = s.admin();
    let objects = s.dir.path().join("nodes.yaml");
    std::fs::write(
        &objects,
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: dev}\n---\n\
         apiVersion: v1\nkind: Node\nmetadata: {name: n1}\n---\n\
         apiVersion: v1\nkind: Node\nmetadata: {name: n2}\n---\n\
         apiVersion: v1\nkind: Secret\nmetadata: {name: s1, namespace: dev}\nstringData: {a: b}\n---\n\
         apiVersion: v1\nkind: Secret\nmetadata: {name: s2, namespace: dev}\nstringData: {a: b}\n---\n\
         apiVersion: v1\nkind: Pod\nmetadata: {name: web, namespace: dev}\n\
         spec: {nodeName: n1, containers: [{name: c, image: busybox:1.36}], volumes: [{name: s, secret: {secretName: s1}}]}\n---\n\
         apiVersion: v1\nkind: Pod\nmetadata: {name: db, namespace: dev}\n\
         spec: {nodeName: n2, containers: [{name: c, image: busybox:1.36}], volumes: [{name: s, secret: {secretName: s2}}]}\n",
    )
    .expect("write");
    let out = kubectl(&admin, &["create", "-f", objects.to_str().expect("utf-8")]);
    assert!(out.success, "{}", out.stderr);
    let (crt, key) = s.cert("n1", "system:node:n1", &["system:nodes"]);
    let n1 = s.kubeconfig("n1", &s.serving_ca, Creds::Cert(&crt, &key));

    until_ok(&n1, &["get", "secret", "s1", "-n", "dev", "-o", "name"]).await;
    let out = kubectl(&n1, &["get", "secret", "s2", "-n", "dev"]);
    assert_eq!(
        out.stderr.trim(),
        r#"Error from server (Forbidden): secrets "s2" is forbidden: User "system:node:n1" cannot get resource "secrets" in API group "" in the namespace "dev": no relationship found between node 'n1' and this object"#
    );
    let out = kubectl(&n1, &["get", "secrets", "-n", "dev"]);
    assert!(!out.success, "a node may not list secrets");

    let patch = r#"{"metadata":{"labels":{"touched":"yes"}}}"#;
    let out = kubectl(&n1, &["patch", "node", "n1", "-p", patch]);
    assert!(out.success, "its own node: {}", out.stderr);
    let out = kubectl(&n1, &["patch", "node", "n2", "-p", patch]);
    assert!(
        out.stderr.contains(r#"nodes "n2" is forbidden: User "system:node:n1" cannot patch resource "nodes" in API group "" at the cluster scope: node 'n1' cannot modify node 'n2'"#),
        "{}",
        out.stderr
    );
    let out = kubectl(&n1, &["delete", "pod", "db", "-n", "dev"]);
    assert!(
        out.stderr
            .contains("node 'n1' can only change pods bound to it"),
        "{}",
        out.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bootstrap_policy_is_restored_unless_autoupdate_is_false() {
    let mut s = Secured::start(&[]).await;
    let admin = s.admin();
    let rules = |role: &str| {
        kubectl(
            &admin,
            &[
                "get",
                "clusterrole",
                role,
                "-o",
                "jsonpath={.rules[*].verbs}",
            ],
        )
        .stdout
        .trim()
        .to_string()
    };
    assert_eq!(rules("system:basic-user"), r#"["create"] ["create"]"#);
    let empty = r#"[{"op":"replace","path":"/rules","value":[]}]"#;
    for role in ["system:discovery", "system:basic-user"] {
        let out = kubectl(
            &admin,
            &["patch", "clusterrole", role, "--type=json", "-p", empty],
        );
        assert!(out.success, "{}", out.stderr);
    }
    let out = kubectl(
        &admin,
        &[
            "annotate",
            "--overwrite",
            "clusterrole",
            "system:basic-user",
            "rbac.authorization.kubernetes.io/autoupdate=false",
        ],
    );
    assert!(out.success, "{}", out.stderr);
    s.api.restart().await.expect("restart");
    // Restored at start (readyz waits for it) ...
    assert_eq!(rules("system:discovery"), r#"["get"]"#);
    // ... except where the user said not to.
    assert_eq!(rules("system:basic-user"), "");
}
