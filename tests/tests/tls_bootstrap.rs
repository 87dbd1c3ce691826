//! TLS bootstrap and the CSR API, end to end with real components: an
//! apiserver with `--enable-bootstrap-token-auth` and `Node,RBAC`, the
//! controller-manager's csrapproving, csrsigning, bootstrapsigner and
//! tokencleaner (in-process, with `--cluster-signing-*` of the test CA),
//! and a real kubelet started with only `--bootstrap-kubeconfig` (a
//! bootstrap token made in the test, bound as kubeadm binds its tokens).
//!
//! - the kubelet gets its client certificate through a CSR that the
//!   approver approved after a SubjectAccessReview (`nodeclient`), writes
//!   `kubelet-client-current.pem` and `--kubeconfig`, and registers its
//!   Node as `system:node:<name>`;
//! - with a 60 s `--cluster-signing-duration`, it renews the certificate
//!   as itself (`selfnodeclient`) and keeps working on the new one;
//! - a node asking for another node's certificate, and a bootstrap token
//!   not granted `nodeclient`, stay pending; a wrong or expired token is
//!   refused; the cleaner deletes the expired token;
//! - `cluster-info` gets the token's detached JWS (checked against
//!   `openssl dgst -hmac`);
//! - the real kubectl approves and denies hand-made CSRs; the signer issues
//!   only the approved one.
//!
//! Serving certificates (`serverTLSBootstrap`, a second test): the kubelet's
//! `kubernetes.io/kubelet-serving` CSR stays pending until the real kubectl
//! approves it (no TLS on :10250 meanwhile); the apiserver, pinning the CA
//! with `--kubelet-certificate-authority`, then reaches the kubelet and
//! refuses a self-signed one; the opt-in `csrapproving-kubelet-serving`
//! approves the renewals of the 60 s certificate, which the kubelet serves
//! without a restart, and leaves foreign-address and not-the-node requests
//! pending.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use base64::Engine;
use k8s_openapi::api::certificates::v1::CertificateSigningRequest;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Node, Secret};
use kube::api::{Api, ListParams, PostParams};
use serde_json::json;
use tests::harness::{
    binary, eventually, free_port, kubectl, our_kubectl_cached, unique, ApiServer, Etcd,
};
use tests::pki;

const TOKEN_GROUP: &str = "system:bootstrappers:kubeadm:default-node-token";

/// A bootstrap token id and secret of the right shape, unique per run.
fn token() -> (String, String) {
    let pick = |n: usize| -> String {
        (0..n)
            .map(|_| {
                let i = rand::random::<u8>() % 36;
                char::from_digit(u32::from(i), 36).unwrap_or('0')
            })
            .collect()
    };
    (pick(6), pick(16))
}

/// The Secret of token `id`.`secret`, expiring at `expiration`.
fn token_secret(id: &str, secret: &str, expiration: &str, groups: Option<&str>) -> Secret {
    let mut data = json!({
        "token-id": id,
        "token-secret": secret,
        "expiration": expiration,
        "usage-bootstrap-authentication": "true",
        "usage-bootstrap-signing": "true",
    });
    if let Some(g) = groups {
        data["auth-extra-groups"] = json!(g);
    }
    serde_json::from_value(json!({
        "metadata": {"name": format!("bootstrap-token-{id}"), "namespace": "kube-system"},
        "type": "bootstrap.kubernetes.io/token",
        "stringData": data,
    }))
    .expect("secret")
}

fn rfc3339(offset: chrono::Duration) -> String {
    (chrono::Utc::now() + offset).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// kubeadm's bindings for node bootstrap.
async fn kubeadm_rbac(client: &kube::Client) {
    let api: Api<k8s_openapi::api::rbac::v1::ClusterRoleBinding> = Api::all(client.clone());
    for (name, role, group) in [
        (
            "kubeadm:kubelet-bootstrap",
            "system:node-bootstrapper",
            TOKEN_GROUP,
        ),
        (
            "kubeadm:node-autoapprove-bootstrap",
            "system:certificates.k8s.io:certificatesigningrequests:nodeclient",
            TOKEN_GROUP,
        ),
        (
            "kubeadm:node-autoapprove-certificate-rotation",
            "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient",
            "system:nodes",
        ),
    ] {
        let b = serde_json::from_value(json!({
            "metadata": {"name": name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": group}],
        }))
        .expect("binding");
        api.create(&PostParams::default(), &b)
            .await
            .expect("binding");
    }
}

/// A kubeconfig for `server` (CA `ca`) authenticating with `user` (YAML).
fn kubeconfig(path: &Path, server: &str, ca: &Path, user: &str) {
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {{server: {server}, certificate-authority: {}}}\n\
         users:\n- name: u\n  user: {user}\ncontexts:\n- name: x\n  context: {{cluster: c, user: u}}\ncurrent-context: x\n",
        ca.display()
    );
    std::fs::write(path, text).expect("kubeconfig");
}

/// A kubelet process and what it leaves (its cgroup tree), removed on drop.
struct Kubelet {
    child: Child,
    cgroup: PathBuf,
}

impl Drop for Kubelet {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        remove_cgroup(&self.cgroup);
    }
}

fn remove_cgroup(dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                remove_cgroup(&e.path());
            }
        }
    }
    let _ = std::fs::remove_dir(dir);
}

/// A kubelet for `node` on 127.0.0.1 and a free port, with `config` added
/// to a minimal configuration (no service proxy, no DNS, no eviction) and
/// `args`; logs to `<dir>/<node>.log` (returned).
fn spawn_kubelet(
    bin: &Path,
    dir: &Path,
    node: &str,
    config: &str,
    args: &[&std::ffi::OsStr],
) -> (Kubelet, PathBuf) {
    let cgroup_root = unique("tlsboot");
    let file = dir.join(format!("{node}.yaml"));
    std::fs::write(
        &file,
        format!(
            "cgroupDriver: cgroupfs\ncgroupRoot: {cgroup_root}\nserviceProxy: false\nclusterDNSServer: false\n\
             evictionHard: {{memory.available: 1Mi, nodefs.available: \"0%\", imagefs.available: \"0%\"}}\n{config}"
        ),
    )
    .expect("kubelet config");
    let log = dir.join(format!("{node}.log"));
    let out = std::fs::File::create(&log).expect("log");
    let child = Command::new(bin)
        .args(args)
        .arg("--config")
        .arg(&file)
        .args([
            "--hostname-override",
            node,
            "--node-ip",
            "127.0.0.1",
            "--port",
            &free_port().to_string(),
        ])
        .stdout(out.try_clone().expect("log"))
        .stderr(out)
        .spawn()
        .expect("kubelet starts");
    let kubelet = Kubelet {
        child,
        cgroup: PathBuf::from("/sys/fs/cgroup").join(&cgroup_root),
    };
    (kubelet, log)
}

/// A task aborted when the test ends.
struct Aborting(tokio::task::JoinHandle<anyhow::Result<()>>);

impl Drop for Aborting {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// What `openssl <args> -in <pem>` prints (trimmed).
fn openssl_on(pem: &[u8], args: &[&str]) -> String {
    let dir = tempfile::tempdir().expect("dir");
    let f = dir.path().join("in.pem");
    std::fs::write(&f, pem).expect("write");
    let out = Command::new("openssl")
        .args(args)
        .arg("-in")
        .arg(&f)
        .output()
        .expect("openssl");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The subject of a PEM certificate, as openssl prints it.
fn subject(pem: &[u8]) -> String {
    openssl_on(pem, &["x509", "-noout", "-subject", "-nameopt", "compat"])
}

fn condition(c: &CertificateSigningRequest, ty: &str) -> Option<(String, String)> {
    c.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|x| x.type_ == ty)
        .map(|x| {
            (
                x.reason.clone().unwrap_or_default(),
                x.message.clone().unwrap_or_default(),
            )
        })
}

fn issued(c: &CertificateSigningRequest) -> Option<Vec<u8>> {
    c.status
        .as_ref()?
        .certificate
        .as_ref()
        .filter(|x| !x.0.is_empty())
        .map(|x| x.0.clone())
}

/// A PEM request for `subj` made with openssl.
fn openssl_request(dir: &Path, name: &str, subj: &str) -> Vec<u8> {
    let (key, csr) = (
        dir.join(format!("{name}.key")),
        dir.join(format!("{name}.csr")),
    );
    pki::key_and_request(&key, &csr, subj, "a request");
    std::fs::read(&csr).expect("the request")
}

fn csr(name: &str, request: &[u8], signer: &str, usages: &[&str]) -> CertificateSigningRequest {
    serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {
            "request": base64::engine::general_purpose::STANDARD.encode(request),
            "signerName": signer,
            "usages": usages,
        }
    }))
    .expect("csr")
}

/// etcd, and an apiserver serving TLS with a certificate of the CA in
/// `<dir>/ca`, authorizing with `Node,RBAC`, with ServiceAccount tokens
/// (the controllers' credentials) and the flags `extra` makes with the CA
/// directory: (etcd, the apiserver, its `https://127.0.0.1:<port>`, the CA
/// directory, the CA certificate, a client of the insecure port).
async fn control_plane(
    dir: &Path,
    extra: impl FnOnce(&Path) -> Vec<String>,
) -> (Etcd, ApiServer, String, PathBuf, PathBuf, kube::Client) {
    let ca_dir = dir.join("ca");
    std::fs::create_dir_all(&ca_dir).expect("ca dir");
    let ca = pki::self_signed_ca(&ca_dir);
    let port = free_port();
    let s = |p: &Path| p.to_str().expect("utf-8").to_string();
    let mut args = pki::apiserver_tls_flags(dir, &ca_dir, port);
    let sa_key = pki::ec_private_key(dir, "sa.key");
    args.extend([
        "--authorization-mode".into(),
        "Node,RBAC".into(),
        "--service-account-signing-key-file".into(),
        s(&sa_key),
        "--service-account-key-file".into(),
        s(&sa_key),
        "--service-account-issuer".into(),
        "https://kubernetes.default.svc.cluster.local".into(),
    ]);
    args.extend(extra(&ca_dir));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let etcd = Etcd::start().await.expect("etcd");
    let api = ApiServer::start_with(&etcd, &args)
        .await
        .expect("apiserver");
    let admin = controller_manager::config::client(None, Some(&api.url))
        .await
        .expect("admin client");
    (
        etcd,
        api,
        format!("https://127.0.0.1:{port}"),
        ca_dir,
        ca,
        admin,
    )
}

/// The controller-manager as kubeadm runs it, in-process, with only
/// `controllers`: over TLS as system:kube-controller-manager, each
/// controller with its own ServiceAccount's token (so their roles are what
/// is tested), signing with the CA in `ca_dir` for 60 s.
async fn controller_manager(
    dir: &Path,
    ca_dir: &Path,
    https: &str,
    controllers: &[&str],
) -> Aborting {
    let ca = ca_dir.join("ca.crt");
    let (kcm_crt, kcm_key) = pki::client_cert(
        dir,
        ca_dir,
        &unique("kcm"),
        "system:kube-controller-manager",
        &[],
    );
    let kcm_conf = dir.join(unique("controller-manager.conf"));
    kubeconfig(
        &kcm_conf,
        https,
        &ca,
        &format!(
            "{{client-certificate: {}, client-key: {}}}",
            kcm_crt.display(),
            kcm_key.display()
        ),
    );
    let kcm_config = component_base::client::config(Some(&kcm_conf), None)
        .await
        .expect("controller-manager config");
    let cm_config = controller_manager::Config {
        controllers: controllers.iter().map(|c| c.to_string()).collect(),
        cluster_signing: Some(controller_manager::controllers::csrsigning::Settings {
            cert_file: ca.clone(),
            key_file: ca_dir.join("ca.key"),
            duration: Duration::from_secs(60),
        }),
        service_account_credentials: Some(kcm_config.clone()),
        ..Default::default()
    };
    Aborting(tokio::spawn(controller_manager::run(
        kube::Client::try_from(kcm_config).expect("controller-manager client"),
        cm_config,
    )))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_kubelet_bootstraps_and_rotates_its_client_certificate() {
    let Some(kubelet_bin) = binary("kubelet") else {
        panic!("build the kubelet first: cargo build -p kubelet --bins");
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let dir = tempfile::tempdir().expect("dir");
    let (_etcd, api, https, ca_dir, ca, admin) =
        control_plane(dir.path(), |_| vec!["--enable-bootstrap-token-auth".into()]).await;
    let s = |p: &Path| p.to_str().expect("utf-8").to_string();
    let _cm = controller_manager(
        dir.path(),
        &ca_dir,
        &https,
        &[
            "csrapproving",
            "csrsigning",
            "bootstrapsigner",
            "tokencleaner",
        ],
    )
    .await;
    kubeadm_rbac(&admin).await;

    // The token, and cluster-info for the signer to sign.
    let (id, secret) = token();
    let secrets: Api<Secret> = Api::namespaced(admin.clone(), "kube-system");
    secrets
        .create(
            &PostParams::default(),
            &token_secret(
                &id,
                &secret,
                &rfc3339(chrono::Duration::hours(1)),
                Some(TOKEN_GROUP),
            ),
        )
        .await
        .expect("token");
    let cluster_info = "apiVersion: v1\nkind: Config\nclusters:\n- cluster: {server: https://127.0.0.1}\n  name: \"\"\n";
    let cms: Api<ConfigMap> = Api::namespaced(admin.clone(), "kube-public");
    let cm = serde_json::from_value(
        json!({"metadata": {"name": "cluster-info"}, "data": {"kubeconfig": cluster_info}}),
    )
    .expect("cm");
    cms.create(&PostParams::default(), &cm)
        .await
        .expect("cluster-info");

    // The kubelet, with only the bootstrap kubeconfig.
    let node = unique("boot");
    let root = dir.path().join("root");
    let cert_dir = dir.path().join("pki");
    let bootstrap = dir.path().join("bootstrap-kubelet.conf");
    let kubelet_conf = dir.path().join("kubelet.conf");
    kubeconfig(
        &bootstrap,
        &https,
        &ca,
        &format!("{{token: {id}.{secret}}}"),
    );
    let (_kubelet, log) = spawn_kubelet(
        &kubelet_bin,
        dir.path(),
        &node,
        "rotateCertificates: true\n",
        &[
            "--bootstrap-kubeconfig".as_ref(),
            bootstrap.as_os_str(),
            "--kubeconfig".as_ref(),
            kubelet_conf.as_os_str(),
            "--cert-dir".as_ref(),
            cert_dir.as_os_str(),
            "--root-dir".as_ref(),
            root.as_os_str(),
        ],
    );
    let log_text = || std::fs::read_to_string(&log).unwrap_or_default();

    // It registers its Node...
    let nodes: Api<Node> = Api::all(admin.clone());
    let registered = eventually(Duration::from_secs(60), || async {
        nodes.get_opt(&node).await.ok().flatten()
    })
    .await;
    assert!(
        registered.is_some(),
        "the node did not register; kubelet log:\n{}",
        log_text()
    );
    // ...with a certificate from an auto-approved bootstrap CSR.
    let csrs: Api<CertificateSigningRequest> = Api::all(admin.clone());
    let all = csrs.list(&ListParams::default()).await.expect("csrs").items;
    let first = all
        .iter()
        .find(|c| c.spec.username.as_deref() == Some(&format!("system:bootstrap:{id}")))
        .expect("a CSR made with the bootstrap token");
    assert!(first
        .metadata
        .name
        .as_deref()
        .is_some_and(|n| n.starts_with("node-csr-")));
    assert_eq!(
        first.spec.signer_name,
        "kubernetes.io/kube-apiserver-client-kubelet"
    );
    let (reason, message) = condition(first, "Approved").expect("approved");
    assert_eq!(reason, "AutoApproved");
    assert!(message.contains("kubelet client certificate"), "{message}");
    let cert = issued(first).expect("issued");
    let subj = subject(&cert);
    assert!(
        subj.contains(&format!("CN=system:node:{node}")) && subj.contains("O=system:nodes"),
        "{subj}"
    );
    let current = cert_dir.join("kubelet-client-current.pem");
    let target = std::fs::read_link(&current).expect("the -current symlink");
    assert!(
        target.to_string_lossy().starts_with("kubelet-client-2"),
        "{target:?}"
    );
    let written = std::fs::read_to_string(&kubelet_conf).expect("--kubeconfig written");
    assert!(
        written.contains(&current.display().to_string()),
        "{written}"
    );

    // The 60 s certificate is renewed by the node itself, and the kubelet
    // goes on (its Lease is renewed) after the first certificate expired.
    let self_csr = eventually(Duration::from_secs(60), || async {
        csrs.list(&ListParams::default())
            .await
            .ok()?
            .items
            .into_iter()
            .find(|c| {
                c.spec.username.as_deref() == Some(&format!("system:node:{node}"))
                    && issued(c).is_some()
            })
    })
    .await
    .unwrap_or_else(|| panic!("no renewal CSR; kubelet log:\n{}", log_text()));
    let (_, message) = condition(&self_csr, "Approved").expect("renewal approved");
    assert!(message.contains("self kubelet client"), "{message}");
    let moved = eventually(Duration::from_secs(30), || async {
        let t = std::fs::read_link(&current).ok()?;
        (t != target).then_some(t)
    })
    .await;
    assert!(
        moved.is_some(),
        "the symlink still points at the first pair"
    );
    tokio::time::sleep(Duration::from_secs(65)).await;
    let leases: Api<Lease> = Api::namespaced(admin.clone(), "kube-node-lease");
    let renewed = eventually(Duration::from_secs(30), || async {
        let l = leases.get(&node).await.ok()?;
        let t = l.spec?.renew_time?.0;
        (chrono::Utc::now().timestamp() - t.as_second() < 15).then_some(())
    })
    .await;
    assert!(
        renewed.is_some(),
        "the lease stopped being renewed after the first certificate expired; log:\n{}",
        log_text()
    );

    // A node asking for another node's certificate: not auto-approved.
    let as_node = kube::Client::try_from(
        kube::Config::from_custom_kubeconfig(
            kube::config::Kubeconfig::read_from(&kubelet_conf).expect("kubelet.conf"),
            &Default::default(),
        )
        .await
        .expect("config"),
    )
    .expect("client");
    let other = openssl_request(
        dir.path(),
        "other",
        "/O=system:nodes/CN=system:node:someone-else",
    );
    let usages = ["digital signature", "client auth"];
    Api::<CertificateSigningRequest>::all(as_node)
        .create(
            &PostParams::default(),
            &csr(
                "other-node",
                &other,
                "kubernetes.io/kube-apiserver-client-kubelet",
                &usages,
            ),
        )
        .await
        .expect("a node may create CSRs");
    // A token whose group has no nodeclient binding: not auto-approved.
    let (id2, secret2) = token();
    secrets
        .create(
            &PostParams::default(),
            &token_secret(&id2, &secret2, &rfc3339(chrono::Duration::hours(1)), None),
        )
        .await
        .expect("token 2");
    let node_bootstrapper = serde_json::from_value(json!({
        "metadata": {"name": unique("bootstrappers")},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "system:node-bootstrapper"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": format!("system:bootstrap:{id2}")}],
    }))
    .expect("binding");
    Api::<k8s_openapi::api::rbac::v1::ClusterRoleBinding>::all(admin.clone())
        .create(&PostParams::default(), &node_bootstrapper)
        .await
        .expect("binding");
    let token2_conf = dir.path().join("token2.conf");
    kubeconfig(
        &token2_conf,
        &https,
        &ca,
        &format!("{{token: {id2}.{secret2}}}"),
    );
    let as_token2 = component_base::client::client(Some(&token2_conf), None)
        .await
        .expect("client");
    let mine = openssl_request(dir.path(), "t2", "/O=system:nodes/CN=system:node:t2");
    Api::<CertificateSigningRequest>::all(as_token2)
        .create(
            &PostParams::default(),
            &csr(
                "unbound-token",
                &mine,
                "kubernetes.io/kube-apiserver-client-kubelet",
                &usages,
            ),
        )
        .await
        .expect("the token may create CSRs");
    tokio::time::sleep(Duration::from_secs(3)).await;
    for name in ["other-node", "unbound-token"] {
        let c = csrs.get(name).await.expect("csr");
        assert!(
            condition(&c, "Approved").is_none() && issued(&c).is_none(),
            "{name} was approved: {:?}",
            c.status
        );
    }

    // A wrong token and an expired one are refused; the cleaner deletes
    // the expired one.
    let (id3, secret3) = token();
    secrets
        .create(
            &PostParams::default(),
            &token_secret(
                &id3,
                &secret3,
                &rfc3339(chrono::Duration::seconds(-5)),
                Some(TOKEN_GROUP),
            ),
        )
        .await
        .expect("expired token");
    for (name, tok) in [
        ("wrong", format!("{id}.0000000000000000")),
        ("expired", format!("{id3}.{secret3}")),
    ] {
        let out = kubectl(
            &https,
            &[
                "--token",
                &tok,
                "--certificate-authority",
                &s(&ca),
                "get",
                "csr",
            ],
        )
        .expect("kubectl");
        assert!(
            !out.success
                && (out.stderr.contains("Unauthorized")
                    || out.stderr.contains("provide credentials")),
            "{name} token: {out:?}"
        );
    }
    let gone = eventually(Duration::from_secs(20), || async {
        secrets
            .get_opt(&format!("bootstrap-token-{id3}"))
            .await
            .ok()?
            .is_none()
            .then_some(())
    })
    .await;
    assert!(gone.is_some(), "the token cleaner left the expired token");

    // cluster-info carries the token's detached JWS, and only valid tokens'.
    let signed = eventually(Duration::from_secs(20), || async {
        let cm = cms.get("cluster-info").await.ok()?;
        cm.data?.get(&format!("jws-kubeconfig-{id}")).cloned()
    })
    .await
    .expect("cluster-info signed with the token");
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let header = b64.encode(format!(r#"{{"alg":"HS256","kid":"{id}"}}"#));
    let input = format!("{header}.{}", b64.encode(cluster_info));
    let out = Command::new("openssl")
        .args(["dgst", "-sha256", "-binary", "-hmac", &secret])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().expect("stdin").write_all(input.as_bytes())?;
            c.wait_with_output()
        })
        .expect("openssl dgst");
    assert_eq!(signed, format!("{header}..{}", b64.encode(out.stdout)));
    let cm = cms.get("cluster-info").await.expect("cluster-info");
    assert!(!cm
        .data
        .unwrap_or_default()
        .contains_key(&format!("jws-kubeconfig-{id3}")));

    // The real kubectl approves and denies; only the approved one is signed.
    let alice = openssl_request(dir.path(), "alice", "/CN=alice");
    let bob = openssl_request(dir.path(), "bob", "/CN=bob");
    let client_usages = ["digital signature", "client auth"];
    for (name, req) in [("alice", &alice), ("bob", &bob)] {
        csrs.create(
            &PostParams::default(),
            &csr(
                name,
                req,
                "kubernetes.io/kube-apiserver-client",
                &client_usages,
            ),
        )
        .await
        .expect("csr");
    }
    let out = kubectl(&api.url, &["certificate", "approve", "alice"]).expect("kubectl");
    assert!(out.success, "{out:?}");
    assert_eq!(
        out.stdout.trim(),
        "certificatesigningrequest.certificates.k8s.io/alice approved"
    );
    let out = kubectl(&api.url, &["certificate", "deny", "bob"]).expect("kubectl");
    assert!(out.success, "{out:?}");
    assert_eq!(
        out.stdout.trim(),
        "certificatesigningrequest.certificates.k8s.io/bob denied"
    );
    let alice_cert = eventually(Duration::from_secs(20), || async {
        issued(&csrs.get("alice").await.ok()?)
    })
    .await
    .expect("alice's certificate issued");
    assert!(subject(&alice_cert).contains("CN=alice"));
    let bob_csr = csrs.get("bob").await.expect("bob");
    assert_eq!(
        condition(&bob_csr, "Denied").map(|c| c.0).as_deref(),
        Some("KubectlDeny")
    );
    assert!(issued(&bob_csr).is_none());

    // Approving needs `approve` on the signer, not only the right to write
    // /approval (CertificateApproval admission).
    let rbac: Api<k8s_openapi::api::rbac::v1::ClusterRole> = Api::all(admin.clone());
    let bindings: Api<k8s_openapi::api::rbac::v1::ClusterRoleBinding> = Api::all(admin.clone());
    for (role, rules) in [
        (
            "csr-approval-writer",
            json!([{"apiGroups": ["certificates.k8s.io"], "resources": ["certificatesigningrequests", "certificatesigningrequests/approval"], "verbs": ["get", "update"]}]),
        ),
        (
            "client-signer-approver",
            json!([{"apiGroups": ["certificates.k8s.io"], "resources": ["signers"], "resourceNames": ["kubernetes.io/kube-apiserver-client"], "verbs": ["approve"]}]),
        ),
    ] {
        let r = serde_json::from_value(json!({"metadata": {"name": role}, "rules": rules}))
            .expect("role");
        rbac.create(&PostParams::default(), &r).await.expect("role");
    }
    let bind = |role: &str| {
        serde_json::from_value::<k8s_openapi::api::rbac::v1::ClusterRoleBinding>(json!({
            "metadata": {"name": role},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "carol"}],
        }))
        .expect("binding")
    };
    bindings
        .create(&PostParams::default(), &bind("csr-approval-writer"))
        .await
        .expect("binding");
    let carol = openssl_request(dir.path(), "carol-req", "/CN=dave");
    csrs.create(
        &PostParams::default(),
        &csr(
            "dave",
            &carol,
            "kubernetes.io/kube-apiserver-client",
            &client_usages,
        ),
    )
    .await
    .expect("csr");
    let (carol_crt, carol_key) = pki::client_cert(dir.path(), &ca_dir, "carol", "carol", &[]);
    let carol_conf = dir.path().join("carol.conf");
    kubeconfig(
        &carol_conf,
        &https,
        &ca,
        &format!(
            "{{client-certificate: {}, client-key: {}}}",
            carol_crt.display(),
            carol_key.display()
        ),
    );
    let as_carol = |args: &[&str]| {
        let mut all = vec!["--kubeconfig".to_string(), s(&carol_conf)];
        all.extend(args.iter().map(|a| a.to_string()));
        let out = Command::new("/usr/bin/kubectl")
            .args(&all)
            .env("KUBECONFIG", "/dev/null")
            .output()
            .expect("kubectl");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, err) = as_carol(&["certificate", "approve", "dave"]);
    assert!(
        !ok && err.contains("user not permitted to approve requests with signerName"),
        "{err}"
    );
    bindings
        .create(&PostParams::default(), &bind("client-signer-approver"))
        .await
        .expect("binding");
    let approved = eventually(Duration::from_secs(10), || async {
        let (ok, _) = as_carol(&["certificate", "approve", "dave"]);
        ok.then_some(())
    })
    .await;
    assert!(
        approved.is_some(),
        "carol may approve once she may approve for the signer"
    );
    // Ours prints the same and writes the same condition.
    let erin = openssl_request(dir.path(), "erin", "/CN=erin");
    csrs.create(
        &PostParams::default(),
        &csr(
            "erin",
            &erin,
            "kubernetes.io/kube-apiserver-client",
            &client_usages,
        ),
    )
    .await
    .expect("csr");
    let cache = dir.path().join("kubectl-cache");
    let ours = our_kubectl_cached(&api.url, &cache, &["certificate", "approve", "erin"])
        .expect("our kubectl");
    assert!(ours.success, "{ours:?}");
    assert_eq!(
        ours.stdout.trim(),
        "certificatesigningrequest.certificates.k8s.io/erin approved"
    );
    let erin_csr = csrs.get("erin").await.expect("erin");
    assert_eq!(
        condition(&erin_csr, "Approved").map(|c| c.0).as_deref(),
        Some("KubectlApprove")
    );
    let out = kubectl(&api.url, &["certificate", "approve", "bob"]).expect("kubectl");
    assert!(!out.success, "approving a denied CSR must fail: {out:?}");
}

/// The serial of the certificate a TLS server on 127.0.0.1:`port` presents
/// (`openssl s_client`), or of a PEM certificate file (`openssl x509`).
fn served_serial(port: i32) -> Option<String> {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "openssl s_client -connect 127.0.0.1:{port} </dev/null 2>/dev/null | openssl x509 -noout -serial"
        ))
        .output()
        .ok()?;
    let serial = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out.status.success() && serial.starts_with("serial=")).then_some(serial)
}

fn file_serial(pem: &Path) -> String {
    openssl_on(
        &std::fs::read(pem).unwrap_or_default(),
        &["x509", "-noout", "-serial"],
    )
}

/// What openssl reads from a PEM request.
fn request_text(pem: &[u8]) -> String {
    openssl_on(pem, &["req", "-noout", "-text", "-nameopt", "compat"])
}

/// The kubelet's serving CSRs from `node`, oldest first.
async fn serving_csrs(
    csrs: &Api<CertificateSigningRequest>,
    node: &str,
) -> Vec<CertificateSigningRequest> {
    let mut list: Vec<_> = csrs
        .list(&ListParams::default())
        .await
        .map(|l| l.items)
        .unwrap_or_default()
        .into_iter()
        .filter(|c| {
            c.spec.signer_name == "kubernetes.io/kubelet-serving"
                && c.spec.username.as_deref() == Some(&format!("system:node:{node}"))
        })
        .collect();
    list.sort_by_key(|c| c.metadata.creation_timestamp.clone().map(|t| t.0));
    list
}

/// `serverTLSBootstrap`, end to end: the kubelet asks for its serving
/// certificate through a CSR; nobody approves it by default and the kubelet
/// serves no TLS meanwhile; the real kubectl approves it and the apiserver,
/// pinning the cluster CA (`--kubelet-certificate-authority`), reaches the
/// kubelet through the node proxy; with `csrapproving-kubelet-serving` the
/// 60 s certificate's renewal is approved automatically and served without
/// a restart; requests for addresses the Node does not report, or from
/// someone else than the node, stay pending; a kubelet serving a
/// self-signed certificate is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_kubelet_gets_and_rotates_its_serving_certificate_through_csrs() {
    let Some(kubelet_bin) = binary("kubelet") else {
        panic!("build the kubelet first: cargo build -p kubelet --bins");
    };
    let dir = tempfile::tempdir().expect("dir");
    let s = |p: &Path| p.to_str().expect("utf-8").to_string();
    let (_etcd, api, https, ca_dir, ca, admin) = control_plane(dir.path(), |ca_dir| {
        // The apiserver checks kubelets against the cluster CA and shows
        // them a client certificate of its own.
        let (crt, key) = pki::client_cert(
            dir.path(),
            ca_dir,
            "apiserver-kubelet-client",
            "kube-apiserver-kubelet-client",
            &["system:masters"],
        );
        vec![
            "--kubelet-certificate-authority".into(),
            s(&ca_dir.join("ca.crt")),
            "--kubelet-client-certificate".into(),
            s(&crt),
            "--kubelet-client-key".into(),
            s(&key),
        ]
    })
    .await;
    let _cm =
        controller_manager(dir.path(), &ca_dir, &https, &["csrapproving", "csrsigning"]).await;

    // The kubelet, with node credentials and serverTLSBootstrap.
    let node = unique("serving");
    let (node_crt, node_key) = pki::client_cert(
        dir.path(),
        &ca_dir,
        &node,
        &format!("system:node:{node}"),
        &["system:nodes"],
    );
    let kubelet_conf = dir.path().join("kubelet.conf");
    let node_user = format!(
        "{{client-certificate: {}, client-key: {}}}",
        node_crt.display(),
        node_key.display()
    );
    kubeconfig(&kubelet_conf, &https, &ca, &node_user);
    let cert_dir = dir.path().join("pki");
    let (_kubelet, log) = spawn_kubelet(
        &kubelet_bin,
        dir.path(),
        &node,
        &format!(
            "serverTLSBootstrap: true\ningressProxy: false\nnetworkPolicy: false\nauthentication: {{x509: {{clientCAFile: {}}}, anonymous: {{enabled: false}}}}\nauthorization: {{mode: AlwaysAllow}}\n",
            ca.display()
        ),
        &[
            "--kubeconfig".as_ref(),
            kubelet_conf.as_os_str(),
            "--cert-dir".as_ref(),
            cert_dir.as_os_str(),
            "--root-dir".as_ref(),
            dir.path().join("root").as_os_str(),
        ],
    );
    let log_text = || std::fs::read_to_string(&log).unwrap_or_default();

    // Its serving CSR: the node's subject, names and usages.
    let csrs: Api<CertificateSigningRequest> = Api::all(admin.clone());
    let first = eventually(Duration::from_secs(60), || async {
        serving_csrs(&csrs, &node).await.into_iter().next()
    })
    .await
    .unwrap_or_else(|| panic!("no serving CSR; kubelet log:\n{}", log_text()));
    let first_name = first.metadata.name.clone().expect("name");
    assert!(first_name.starts_with("csr-"), "{first_name}");
    assert_eq!(
        first.spec.usages.clone().unwrap_or_default(),
        ["digital signature", "server auth"]
    );
    assert!(first
        .spec
        .groups
        .iter()
        .flatten()
        .any(|g| g == "system:nodes"));
    let text = request_text(&first.spec.request.0);
    assert!(
        text.contains(&format!("CN=system:node:{node}")) && text.contains("O=system:nodes"),
        "{text}"
    );
    assert!(
        text.contains(&format!("DNS:{node}")) && text.contains("IP Address:127.0.0.1"),
        "{text}"
    );
    // :10250 starts once the Node has a podCIDR (no nodeipam here).
    let nodes: Api<Node> = Api::all(admin.clone());
    nodes
        .patch(
            &node,
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(json!({"spec": {"podCIDR": "10.244.77.0/24"}})),
        )
        .await
        .expect("podCIDR");
    let port = nodes
        .get(&node)
        .await
        .expect("node")
        .status
        .and_then(|s| s.daemon_endpoints)
        .and_then(|d| d.kubelet_endpoint)
        .map(|e| e.port)
        .expect("kubelet port");

    // Nobody approves it by default; meanwhile the kubelet serves no TLS
    // and the apiserver cannot reach it.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let pending = csrs.get(&first_name).await.expect("csr");
    assert!(
        condition(&pending, "Approved").is_none() && issued(&pending).is_none(),
        "{:?}",
        pending.status
    );
    assert_eq!(
        served_serial(port),
        None,
        "TLS served without a certificate"
    );
    let healthz = format!("/api/v1/nodes/{node}/proxy/healthz");
    let out = kubectl(&api.url, &["get", "--raw", &healthz]).expect("kubectl");
    assert!(!out.success, "{out:?}");

    // The real kubectl approves it; the kubelet serves the issued
    // certificate, and the apiserver, checking it against the CA, gets
    // through.
    let out = kubectl(&api.url, &["certificate", "approve", &first_name]).expect("kubectl");
    assert!(out.success, "{out:?}");
    let current = cert_dir.join("kubelet-server-current.pem");
    let served = eventually(Duration::from_secs(30), || async {
        let serial = served_serial(port)?;
        (current.exists() && serial == file_serial(&current)).then_some(serial)
    })
    .await
    .unwrap_or_else(|| panic!("the issued certificate is not served; log:\n{}", log_text()));
    let first_expires = std::time::Instant::now() + Duration::from_secs(62);
    let target = std::fs::read_link(&current).expect("symlink");
    assert!(
        target.to_string_lossy().starts_with("kubelet-server-2"),
        "{target:?}"
    );
    let out = kubectl(&api.url, &["get", "--raw", &healthz]).expect("kubectl");
    assert!(out.success && out.stdout.trim() == "ok", "{out:?}");

    // Requests the approver must leave pending: an IP the Node does not
    // report (asked by the node itself), and the node's own names asked
    // by someone else.
    let _approver = controller_manager(
        dir.path(),
        &ca_dir,
        &https,
        &["csrapproving-kubelet-serving"],
    )
    .await;
    let as_node = component_base::client::client(Some(&kubelet_conf), None)
        .await
        .expect("node client");
    let usages = ["digital signature", "server auth"];
    for (name, sans, client) in [
        (
            "foreign-ip",
            format!("DNS:{node},IP:127.0.0.1,IP:10.255.255.1"),
            &as_node,
        ),
        ("not-the-node", format!("DNS:{node},IP:127.0.0.1"), &admin),
    ] {
        let key = dir.path().join(format!("{name}.key"));
        let req = dir.path().join(format!("{name}.csr"));
        let ok = Command::new("openssl")
            .args([
                "req",
                "-new",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
            ])
            .arg(&key)
            .arg("-out")
            .arg(&req)
            .args(["-subj", &format!("/O=system:nodes/CN=system:node:{node}")])
            .args(["-addext", &format!("subjectAltName={sans}")])
            .status()
            .expect("openssl");
        assert!(ok.success());
        Api::<CertificateSigningRequest>::all(client.clone())
            .create(
                &PostParams::default(),
                &csr(
                    name,
                    &std::fs::read(&req).expect("request"),
                    "kubernetes.io/kubelet-serving",
                    &usages,
                ),
            )
            .await
            .expect("csr");
    }

    // The 60 s certificate is renewed; the approver approves the renewal
    // (the node asks for what its Node reports), and the kubelet serves the
    // new certificate without a restart, also after the first expired.
    let renewal = eventually(Duration::from_secs(90), || async {
        serving_csrs(&csrs, &node)
            .await
            .into_iter()
            .find(|c| c.metadata.name.as_deref() != Some(&first_name) && issued(c).is_some())
    })
    .await
    .unwrap_or_else(|| panic!("no issued renewal; kubelet log:\n{}", log_text()));
    let (reason, message) = condition(&renewal, "Approved").expect("renewal approved");
    assert_eq!(reason, "AutoApproved");
    assert!(message.contains(&format!("node {node}")), "{message}");
    let rotated = eventually(Duration::from_secs(30), || async {
        let serial = served_serial(port)?;
        (serial != served && serial == file_serial(&current)).then_some(())
    })
    .await;
    assert!(
        rotated.is_some(),
        "the renewed certificate is not served; log:\n{}",
        log_text()
    );
    tokio::time::sleep_until(first_expires.into()).await;
    let ok = eventually(Duration::from_secs(30), || async {
        let out = kubectl(&api.url, &["get", "--raw", &healthz]).ok()?;
        (out.success && out.stdout.trim() == "ok").then_some(())
    })
    .await;
    assert!(
        ok.is_some(),
        "the apiserver lost the kubelet after the first certificate expired; log:\n{}",
        log_text()
    );
    for name in ["foreign-ip", "not-the-node"] {
        let c = csrs.get(name).await.expect("csr");
        assert!(
            condition(&c, "Approved").is_none()
                && condition(&c, "Denied").is_none()
                && issued(&c).is_none(),
            "{name}: {:?}",
            c.status
        );
    }
    let events: Api<k8s_openapi::api::core::v1::Event> = Api::all(admin.clone());
    let said = events
        .list(&ListParams::default())
        .await
        .expect("events")
        .items
        .into_iter()
        .filter(|e| e.involved_object.name.as_deref() == Some("foreign-ip"))
        .filter_map(|e| e.message)
        .collect::<Vec<_>>();
    assert!(
        said.iter()
            .any(|m| m.contains("IP 10.255.255.1 is not among")),
        "{said:?}"
    );

    // A kubelet serving a self-signed certificate: the apiserver refuses it.
    let fake = unique("selfsigned");
    let tls = component_base::tls::server_config(&component_base::tls::ServingOptions {
        cert_dir: dir.path().join("fake"),
        pair_name: "kubelet".into(),
        alternate_names: vec!["127.0.0.1".into()],
        ..Default::default()
    })
    .expect("self-signed");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let fake_port = listener.local_addr().expect("addr").port();
    let app = axum::Router::new().route("/healthz", axum::routing::get(|| async { "ok" }));
    let _fake_kubelet = Aborting(tokio::spawn(async move {
        component_base::tls::serve(listener, tls, app, std::future::pending()).await;
        Ok(())
    }));
    let n: Node = serde_json::from_value(json!({"metadata": {"name": fake}})).expect("node");
    nodes
        .create(&PostParams::default(), &n)
        .await
        .expect("node");
    let status = json!({"status": {
        "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": fake_port}},
    }});
    nodes
        .patch_status(
            &fake,
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(&status),
        )
        .await
        .expect("node status");
    let out = kubectl(
        &api.url,
        &[
            "get",
            "--raw",
            &format!("/api/v1/nodes/{fake}/proxy/healthz"),
        ],
    )
    .expect("kubectl");
    assert!(!out.success, "a self-signed kubelet was trusted: {out:?}");
    assert!(
        out.stderr.to_lowercase().contains("certificate") || out.stderr.contains("UnknownIssuer"),
        "{out:?}"
    );
    let _ = nodes.delete(&fake, &Default::default()).await;
}
