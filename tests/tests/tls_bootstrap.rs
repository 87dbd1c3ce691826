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

/// A task aborted when the test ends.
struct Aborting(tokio::task::JoinHandle<anyhow::Result<()>>);

impl Drop for Aborting {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The subject of a PEM certificate, as openssl prints it.
fn subject(pem: &[u8]) -> String {
    let dir = tempfile::tempdir().expect("dir");
    let f = dir.path().join("c.pem");
    std::fs::write(&f, pem).expect("write");
    let out = Command::new("openssl")
        .args(["x509", "-noout", "-subject", "-nameopt", "compat", "-in"])
        .arg(&f)
        .output()
        .expect("openssl");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
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
    let ca_dir = dir.path().join("ca");
    std::fs::create_dir_all(&ca_dir).expect("ca dir");
    let ca = pki::self_signed_ca(&ca_dir);
    let port = free_port();
    let s = |p: &Path| p.to_str().expect("utf-8").to_string();
    let mut args = pki::apiserver_tls_flags(dir.path(), &ca_dir, port);
    let sa_key = pki::ec_private_key(dir.path(), "sa.key");
    args.extend([
        "--authorization-mode".into(),
        "Node,RBAC".into(),
        "--enable-bootstrap-token-auth".into(),
        "--service-account-signing-key-file".into(),
        s(&sa_key),
        "--service-account-key-file".into(),
        s(&sa_key),
        "--service-account-issuer".into(),
        "https://kubernetes.default.svc.cluster.local".into(),
    ]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let etcd = Etcd::start().await.expect("etcd");
    let api = ApiServer::start_with(&etcd, &args)
        .await
        .expect("apiserver");
    let https = format!("https://127.0.0.1:{port}");
    let admin = controller_manager::config::client(None, Some(&api.url))
        .await
        .expect("admin client");
    // The controller-manager as kubeadm runs it: over TLS as
    // system:kube-controller-manager, each controller with its own
    // ServiceAccount's token (so their roles are what is tested).
    let (kcm_crt, kcm_key) = pki::client_cert(
        dir.path(),
        &ca_dir,
        "kcm",
        "system:kube-controller-manager",
        &[],
    );
    let kcm_conf = dir.path().join("controller-manager.conf");
    kubeconfig(
        &kcm_conf,
        &https,
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
        controllers: [
            "csrapproving",
            "csrsigning",
            "bootstrapsigner",
            "tokencleaner",
        ]
        .map(String::from)
        .to_vec(),
        cluster_signing: Some(controller_manager::controllers::csrsigning::Settings {
            cert_file: ca.clone(),
            key_file: ca_dir.join("ca.key"),
            duration: Duration::from_secs(60),
        }),
        service_account_credentials: Some(kcm_config.clone()),
        ..Default::default()
    };
    let _cm = Aborting(tokio::spawn(controller_manager::run(
        kube::Client::try_from(kcm_config).expect("controller-manager client"),
        cm_config,
    )));
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
    let cgroup_root = unique("tlsboot");
    let config = dir.path().join("kubelet.yaml");
    std::fs::write(
        &config,
        format!(
            "cgroupDriver: cgroupfs\ncgroupRoot: {cgroup_root}\nserviceProxy: false\nclusterDNSServer: false\n\
             rotateCertificates: true\nevictionHard: {{memory.available: 1Mi, nodefs.available: \"0%\", imagefs.available: \"0%\"}}\n"
        ),
    )
    .expect("kubelet config");
    let log = std::fs::File::create(dir.path().join("kubelet.log")).expect("log");
    let child = Command::new(&kubelet_bin)
        .arg("--bootstrap-kubeconfig")
        .arg(&bootstrap)
        .arg("--kubeconfig")
        .arg(&kubelet_conf)
        .arg("--cert-dir")
        .arg(&cert_dir)
        .arg("--root-dir")
        .arg(&root)
        .arg("--config")
        .arg(&config)
        .args([
            "--hostname-override",
            &node,
            "--node-ip",
            "127.0.0.1",
            "--port",
            &free_port().to_string(),
        ])
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .spawn()
        .expect("kubelet starts");
    let _kubelet = Kubelet {
        child,
        cgroup: PathBuf::from("/sys/fs/cgroup").join(&cgroup_root),
    };
    let log_text = || std::fs::read_to_string(dir.path().join("kubelet.log")).unwrap_or_default();

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
