//! `kubeadm` end to end, as a user runs it, with the control plane as
//! supervised processes (`--control-plane-runner processes`) under a
//! temporary `--host-root` and on free ports:
//!
//! - `init` brings up etcd (TLS, client certificates required), the
//!   apiserver, the controller-manager and the scheduler; `/readyz` is ok,
//!   `admin.conf` works with the real kubectl, both components hold their
//!   Leases; the time from init to a healthy apiserver is printed;
//! - `token create --print-join-command` prints the hash openssl computes
//!   from `ca.crt` (upstream's documented recipe);
//! - `join` (up to the kubelet) discovers the cluster, pins the CA, writes
//!   `bootstrap-kubelet.conf`, whose token the real kubectl uses to be a
//!   bootstrapper allowed to post CSRs;
//! - a wrong `--discovery-token-ca-cert-hash` and an expired token are
//!   refused with clear errors;
//! - `reset` stops every process and removes every file init made.
//!
//! `cluster-info` is signed by the controller-manager's bootstrapsigner;
//! `join_tls_bootstrap_end_to_end` goes on through the kubelet's CSR,
//! approved and signed by the controller-manager.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::Api;
use tests::harness::{binary, free_port, output_text as text};

/// A "machine": a host root of its own and its ports.
struct Machine {
    root: PathBuf,
    ports: [u16; 6],
}

const PREFIX: &str = "kubeadm-test-";

/// The files of upstream's layout under `/etc/kubernetes` that init makes.
const LAYOUT: [&str; 17] = [
    "pki/ca.key",
    "pki/apiserver.crt",
    "pki/apiserver-kubelet-client.crt",
    "pki/front-proxy-ca.crt",
    "pki/front-proxy-client.crt",
    "pki/etcd/ca.crt",
    "pki/etcd/server.crt",
    "pki/etcd/peer.crt",
    "pki/etcd/healthcheck-client.crt",
    "pki/apiserver-etcd-client.crt",
    "pki/sa.key",
    "pki/sa.pub",
    "admin.conf",
    "super-admin.conf",
    "controller-manager.conf",
    "scheduler.conf",
    "kubelet.conf",
];

impl Machine {
    fn new() -> Machine {
        let base = std::env::temp_dir();
        let root = tempfile::Builder::new()
            .prefix(&format!("{PREFIX}{}-", std::process::id()))
            .tempdir_in(&base)
            .expect("temp dir")
            .keep();
        Machine {
            root,
            ports: std::array::from_fn(|_| free_port()),
        }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.root.join(p.trim_start_matches('/'))
    }

    fn endpoint(&self) -> String {
        format!("127.0.0.1:{}", self.ports[0])
    }

    fn admin_conf(&self) -> PathBuf {
        self.path("/etc/kubernetes/admin.conf")
    }

    /// `kubeadm ARGS` with this machine's root, binaries and ports.
    fn kubeadm(&self, args: &[&str], machine_flags: bool) -> Output {
        self.kubeadm_with(args, machine_flags, true)
    }

    /// `kubeadm ARGS`; `address`: with `--apiserver-advertise-address`
    /// and `--apiserver-bind-port` (not beside a kubeadm `--config`).
    fn kubeadm_with(&self, args: &[&str], machine_flags: bool, address: bool) -> Output {
        let mut cmd = Command::new(kubeadm_bin());
        cmd.args(args).arg("--host-root").arg(&self.root);
        if machine_flags {
            let bins = kubeadm_bin().parent().expect("target dir").to_path_buf();
            cmd.arg("--binaries-dir").arg(bins);
            cmd.args(["--control-plane-runner", "processes"]);
            if address {
                cmd.args(["--apiserver-advertise-address", "127.0.0.1"]);
            }
            for (flag, port) in [
                "--apiserver-bind-port",
                "--etcd-client-port",
                "--etcd-peer-port",
                "--scheduler-port",
                "--controller-manager-port",
                "--kubelet-port",
            ]
            .iter()
            .zip(self.ports)
            .filter(|(f, _)| address || **f != "--apiserver-bind-port")
            {
                cmd.arg(flag).arg(port.to_string());
            }
        }
        cmd.output().expect("run kubeadm")
    }

    /// `init` as the first control-plane node `cp-1`, without a kubelet.
    fn init(&self, extra: &[&str]) -> Output {
        let mut args = vec![
            "init",
            "--node-name",
            "cp-1",
            "--skip-phases",
            "kubelet-start",
        ];
        args.extend_from_slice(extra);
        self.kubeadm(&args, true)
    }

    fn reset(&self) -> Output {
        self.kubeadm(&["reset", "--force"], false)
    }

    /// `reset`, which must succeed and stop every process of the machine.
    fn reset_leaving_nothing_running(&self) {
        let reset = self.reset();
        assert!(reset.status.success(), "{}", text(&reset));
        assert!(
            self.processes().is_empty(),
            "left running: {:?}",
            self.processes()
        );
    }

    /// Processes whose command line names this machine's root.
    fn processes(&self) -> Vec<String> {
        processes_naming(&self.root)
    }
}

impl Drop for Machine {
    fn drop(&mut self) {
        let _ = self.reset();
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

fn processes_naming(root: &Path) -> Vec<String> {
    pids_naming(root).into_iter().map(|(_, cmd)| cmd).collect()
}

/// Pids and command lines of the processes whose command line names `root`.
fn pids_naming(root: &Path) -> Vec<(u32, String)> {
    let needle = root.display().to_string();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if text.contains(&needle) {
            found.push((pid, text));
        }
    }
    found
}

fn kubeadm_bin() -> PathBuf {
    binary("kubeadm").expect("build the binaries first: cargo build --bins -p kubeadm -p apiserver -p scheduler -p controller-manager -p kubelet")
}

/// Resets the machines of killed runs (their test process is gone).
fn clean_leftovers() {
    for entry in std::fs::read_dir(std::env::temp_dir())
        .into_iter()
        .flatten()
        .flatten()
    {
        let name = entry.file_name().to_string_lossy().to_string();
        let Some(rest) = name.strip_prefix(PREFIX) else {
            continue;
        };
        let Some(pid) = rest.split('-').next() else {
            continue;
        };
        if Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        let _ = Command::new(kubeadm_bin())
            .args(["reset", "--force", "--host-root"])
            .arg(entry.path())
            .output();
        let _ = std::fs::remove_dir_all(entry.path());
    }
}

fn kubectl(kubeconfig: &Path, args: &[&str]) -> Output {
    Command::new("/usr/bin/kubectl")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .output()
        .expect("run kubectl")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Waits for the controller-manager's bootstrapsigner to sign
/// `cluster-info` with `token` (`jws-kubeconfig-<id>`); panics after 10 s.
async fn wait_for_signature(admin: &Path, token: &kubeadm::bootstraptoken::Token) {
    let client = kubeadm::apiclient::from_file(admin)
        .await
        .expect("admin client");
    let cms: Api<ConfigMap> = Api::namespaced(client, "kube-public");
    let key = format!("jws-kubeconfig-{}", token.id);
    for _ in 0..100 {
        let cm = cms.get("cluster-info").await.expect("cluster-info");
        if cm.data.as_ref().is_some_and(|d| d.contains_key(&key)) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "the bootstrapsigner did not sign cluster-info with token {} in 10 s",
        token.id
    );
}

/// The token and hash of a join line.
fn parse_join(line: &str) -> (String, String) {
    let words: Vec<&str> = line.split_whitespace().collect();
    let after = |flag: &str| {
        let i = words.iter().position(|w| *w == flag).expect(flag);
        words[i + 1].to_string()
    };
    (after("--token"), after("--discovery-token-ca-cert-hash"))
}

fn openssl_pin(ca: &Path) -> String {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "openssl x509 -pubkey -in {} | openssl pkey -pubin -outform der | openssl dgst -sha256 -hex | sed 's/^.* //'",
            ca.display()
        ))
        .output()
        .expect("openssl");
    format!("sha256:{}", String::from_utf8_lossy(&out.stdout).trim())
}

#[tokio::test(flavor = "multi_thread")]
async fn init_token_discovery_and_reset() {
    clean_leftovers();
    let cp = Machine::new();
    let start = Instant::now();
    let init = cp.init(&[]);
    let init_took = start.elapsed();
    assert!(init.status.success(), "init: {}", text(&init));
    let out = stdout(&init);
    assert!(
        out.contains("Your Kubernetes control-plane has initialized successfully!"),
        "{out}"
    );
    let healthy = out
        .lines()
        .find(|l| l.starts_with("[api-check] The API server is healthy after"))
        .expect("the api-check line");
    eprintln!("kubeadm init: {healthy}; whole init {init_took:?}");

    // The join line exactly as upstream prints it.
    let join_line = out
        .lines()
        .skip_while(|l| !l.starts_with("kubeadm join "))
        .take(2)
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        join_line.starts_with(&format!("kubeadm join {} --token ", cp.endpoint())),
        "{join_line}"
    );
    assert!(
        join_line.contains(" \\\n\t--discovery-token-ca-cert-hash sha256:"),
        "{join_line:?}"
    );
    let (token, hash) = parse_join(&join_line);
    let ca = cp.path("/etc/kubernetes/pki/ca.crt");
    assert_eq!(hash, openssl_pin(&ca), "init's hash is the CA's SPKI hash");

    // Every file of upstream's layout.
    for f in LAYOUT {
        assert!(cp.path("/etc/kubernetes").join(f).exists(), "{f}");
    }
    for unit in [
        "etcd",
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
    ] {
        let text = std::fs::read_to_string(cp.path(&format!("/etc/systemd/system/{unit}.service")))
            .expect("unit");
        assert!(text.contains("Restart=always"), "{unit}");
    }

    // admin.conf with the real kubectl: who, health, and writes.
    let admin = cp.admin_conf();
    let who = kubectl(
        &admin,
        &[
            "auth",
            "whoami",
            "-o",
            "jsonpath={.status.userInfo.username}",
        ],
    );
    assert_eq!(stdout(&who), "kubernetes-admin", "{}", text(&who));
    let ready = kubectl(&admin, &["get", "--raw", "/readyz"]);
    assert_eq!(stdout(&ready).trim(), "ok", "{}", text(&ready));
    let ns = kubectl(&admin, &["create", "namespace", "kubeadm-test"]);
    assert!(
        ns.status.success(),
        "cluster-admins may write: {}",
        text(&ns)
    );
    leases_held(&admin).await;

    // Restart=always: a killed apiserver comes back by itself.
    let apiserver = |root: &Path| {
        pids_naming(root)
            .into_iter()
            .find(|(_, cmd)| cmd.contains("apiserver --advertise-address"))
            .map(|(pid, _)| pid)
    };
    let first = apiserver(&cp.root).expect("the apiserver runs");
    let killed = Command::new("kill")
        .args(["-9", &first.to_string()])
        .status();
    assert!(killed.is_ok_and(|s| s.success()));
    let mut back = false;
    for _ in 0..150 {
        let ready = kubectl(&admin, &["get", "--raw", "/readyz"]);
        if stdout(&ready).trim() == "ok" && apiserver(&cp.root).is_some_and(|p| p != first) {
            back = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(back, "the supervisor restarted the killed apiserver");

    // etcd speaks TLS and wants a client certificate of its own CA.
    let etcd_url = format!("https://127.0.0.1:{}", cp.ports[1]);
    let pki = cp.path("/etc/kubernetes/pki/etcd");
    let no_cert = Command::new("etcdctl")
        .args(["--endpoints", &etcd_url, "--cacert"])
        .arg(pki.join("ca.crt"))
        .args(["--dial-timeout", "2s", "endpoint", "health"])
        .output()
        .expect("etcdctl");
    assert!(
        !no_cert.status.success(),
        "etcd without a client certificate: {}",
        text(&no_cert)
    );
    // With the health-check client's pair: health, and docs/install.md's backup.
    let etcdctl_as_client = |args: &[&str]| {
        Command::new("etcdctl")
            .env("ETCDCTL_API", "3")
            .args(["--endpoints", &etcd_url, "--cacert"])
            .arg(pki.join("ca.crt"))
            .arg("--cert")
            .arg(pki.join("healthcheck-client.crt"))
            .arg("--key")
            .arg(pki.join("healthcheck-client.key"))
            .args(args)
            .output()
            .expect("etcdctl")
    };
    let with_cert = etcdctl_as_client(&["endpoint", "health"]);
    assert!(with_cert.status.success(), "{}", text(&with_cert));
    let snapshot = cp.path("/etcd-backup.db");
    let snapshot_arg = snapshot.display().to_string();
    let backup = etcdctl_as_client(&["snapshot", "save", &snapshot_arg]);
    assert!(
        backup.status.success() && snapshot.exists(),
        "{}",
        text(&backup)
    );

    // token create --print-join-command: same endpoint and hash.
    let created = cp.kubeadm(&["token", "create", "--print-join-command"], false);
    assert!(created.status.success(), "{}", text(&created));
    let (token2, hash2) = parse_join(&stdout(&created));
    assert_eq!(hash2, hash);
    assert_ne!(token2, token);
    let list = cp.kubeadm(&["token", "list"], false);
    assert!(stdout(&list).contains(&token2), "{}", text(&list));

    let check = cp.kubeadm(&["certs", "check-expiration"], false);
    assert!(
        stdout(&check).contains("apiserver-etcd-client"),
        "{}",
        text(&check)
    );

    // Discovery with the right pin: the node gets its bootstrap kubeconfig.
    let token2 = kubeadm::bootstraptoken::Token::parse(&token2).expect("token");
    wait_for_signature(&admin, &token2).await;
    let node = Machine::new();
    let join = node.kubeadm(
        &[
            "join",
            &cp.endpoint(),
            "--token",
            &token2.to_string(),
            "--discovery-token-ca-cert-hash",
            &hash,
            "--node-name",
            "node-1",
            "--skip-phases",
            "kubelet-start",
            "--timeout",
            "20s",
        ],
        true,
    );
    assert!(join.status.success(), "join: {}", text(&join));
    assert_eq!(
        std::fs::read(node.path("/etc/kubernetes/pki/ca.crt")).expect("ca.crt"),
        std::fs::read(&ca).expect("ca.crt"),
    );
    let bootstrap = node.path("/etc/kubernetes/bootstrap-kubelet.conf");
    let who = kubectl(
        &bootstrap,
        &[
            "auth",
            "whoami",
            "-o",
            "jsonpath={.status.userInfo.username}",
        ],
    );
    assert_eq!(
        stdout(&who),
        format!("system:bootstrap:{}", token2.id),
        "{}",
        text(&who)
    );
    let can = kubectl(
        &bootstrap,
        &[
            "auth",
            "can-i",
            "create",
            "certificatesigningrequests.certificates.k8s.io",
        ],
    );
    assert_eq!(stdout(&can).trim(), "yes", "{}", text(&can));
    let config =
        std::fs::read_to_string(node.path("/var/lib/kubelet/config.yaml")).expect("kubelet config");
    assert!(config.contains("KubeletConfiguration"), "{config}");

    // A wrong pin is refused, naming the CA's real hash.
    let other = Machine::new();
    let wrong = format!("sha256:{}", "ab".repeat(32));
    let refused = other.kubeadm(
        &[
            "join",
            &cp.endpoint(),
            "--token",
            &token2.to_string(),
            "--discovery-token-ca-cert-hash",
            &wrong,
            "--skip-phases",
            "kubelet-start",
            "--timeout",
            "10s",
        ],
        true,
    );
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains(
            "cluster CA found in cluster-info ConfigMap is invalid: none of the public keys"
        ) && err.contains(&hash),
        "{}",
        text(&refused)
    );
    assert!(!other
        .path("/etc/kubernetes/bootstrap-kubelet.conf")
        .exists());

    // An expired token is refused.
    let short = cp.kubeadm(&["token", "create", "--ttl", "2s"], false);
    assert!(short.status.success(), "{}", text(&short));
    let short = kubeadm::bootstraptoken::Token::parse(stdout(&short).trim()).expect("token");
    wait_for_signature(&admin, &short).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let expired = other.kubeadm(
        &[
            "join",
            &cp.endpoint(),
            "--token",
            &short.to_string(),
            "--discovery-token-ca-cert-hash",
            &hash,
            "--skip-phases",
            "kubelet-start",
            "--timeout",
            "10s",
        ],
        true,
    );
    assert!(!expired.status.success());
    let err = String::from_utf8_lossy(&expired.stderr);
    assert!(
        err.contains("it is invalid or has expired")
            || err.contains("is invalid for this cluster or it has expired"),
        "{}",
        text(&expired)
    );
    assert!(!other
        .path("/etc/kubernetes/bootstrap-kubelet.conf")
        .exists());

    // reset: nothing left running, nothing left on disk.
    assert!(!cp.processes().is_empty(), "the control plane runs");
    cp.reset_leaving_nothing_running();
    for p in [
        "/etc/kubernetes",
        "/var/lib/etcd",
        "/var/lib/kubelet",
        "/etc/systemd/system/etcd.service",
        "/etc/systemd/system/kube-apiserver.service",
        "/run/kubeadm",
    ] {
        assert!(!cp.path(p).exists(), "{p} left behind");
    }
    let reset = node.reset();
    assert!(reset.status.success(), "{}", text(&reset));
    assert!(!node.path("/etc/kubernetes").exists());
}

/// `init` on `cp` (no kubelet, `extra` flags), then a new token's join
/// line: the token, the CA pin, and init's output.
fn first_control_plane(cp: &Machine, extra: &[&str]) -> (String, String, String) {
    let init = cp.init(extra);
    assert!(init.status.success(), "init: {}", text(&init));
    let created = cp.kubeadm(&["token", "create", "--print-join-command"], false);
    assert!(created.status.success(), "{}", text(&created));
    let (token, hash) = parse_join(&stdout(&created));
    (token, hash, stdout(&init))
}

/// The whole join of a worker: discovery, the kubelet started with
/// `bootstrap-kubelet.conf`, its CSR approved and signed by the
/// controller-manager (which also signs cluster-info), `kubelet.conf`
/// written, the Node registered; then `reset` leaves nothing behind.
#[tokio::test(flavor = "multi_thread")]
async fn join_tls_bootstrap_end_to_end() {
    clean_leftovers();
    let cp = Machine::new();
    let (token, hash, _) = first_control_plane(&cp, &[]);
    let admin = cp.admin_conf();

    let node = Machine::new();
    let start = Instant::now();
    let join = node.kubeadm(
        &[
            "join",
            &cp.endpoint(),
            "--token",
            &token,
            "--discovery-token-ca-cert-hash",
            &hash,
            "--node-name",
            "kubeadm-node-1",
            "--timeout",
            "60s",
        ],
        true,
    );
    let join_took = start.elapsed();
    assert!(join.status.success(), "join: {}", text(&join));
    assert!(node.path("/etc/kubernetes/kubelet.conf").exists());
    eprintln!("kubeadm join to a signed kubelet certificate: {join_took:?}");

    // The CSR of the bootstrap token's user, approved and issued.
    let id = token.split('.').next().unwrap_or_default();
    let csrs = kubectl(&admin, &["get", "csr", "-o", "jsonpath={range .items[*]}{.spec.username} {.status.conditions[0].type} {.status.certificate}{\"\\n\"}{end}"]);
    let line = stdout(&csrs)
        .lines()
        .find(|l| l.starts_with(&format!("system:bootstrap:{id} ")))
        .map(String::from)
        .unwrap_or_default();
    assert!(
        line.contains(" Approved ") && line.split(' ').nth(2).is_some_and(|c| !c.is_empty()),
        "{}",
        text(&csrs)
    );

    assert!(
        wait_ready(&admin, "kubeadm-node-1").await,
        "the joined node is Ready"
    );
    eprintln!("kubeadm join to a Ready node: {:?}", start.elapsed());
    let by_flags = node_facts(&admin, "kubeadm-node-1");

    node.reset_leaving_nothing_running();
    for p in [
        "/etc/kubernetes",
        "/var/lib/kubelet",
        "/etc/systemd/system/kubelet.service",
    ] {
        assert!(!node.path(p).exists(), "{p} left behind");
    }

    // The same join through a JoinConfiguration (the address as the
    // kubelet's node-ip, as upstream's workers set it), with a taint the
    // kubelet registers the Node with: the same node, tainted.
    let node = Machine::new();
    let file = node.root.join("join.yaml");
    std::fs::write(
        &file,
        format!(
            "apiVersion: kubeadm.k8s.io/v1beta4
kind: JoinConfiguration
nodeRegistration:
  name: kubeadm-node-2
  taints: [{{key: dedicated, value: infra, effect: NoSchedule}}]
  kubeletExtraArgs: [{{name: node-ip, value: 127.0.0.1}}]
discovery:
  bootstrapToken:
    token: {token}
    apiServerEndpoint: {}
    caCertHashes: [{hash}]
",
            cp.endpoint()
        ),
    )
    .expect("write the JoinConfiguration");
    let refused = node.kubeadm(
        &[
            "join",
            "--config",
            file.to_str().unwrap_or_default(),
            "--token",
            &token,
        ],
        false,
    );
    assert!(
        text(&refused).contains("can not mix '--config' with arguments [token]"),
        "{}",
        text(&refused)
    );
    let join = node.kubeadm_with(
        &[
            "join",
            "--config",
            file.to_str().unwrap_or_default(),
            "--timeout",
            "60s",
        ],
        true,
        false,
    );
    assert!(join.status.success(), "join --config: {}", text(&join));
    assert!(
        wait_ready(&admin, "kubeadm-node-2").await,
        "the node joined by --config is Ready"
    );
    let by_file = node_facts(&admin, "kubeadm-node-2");
    assert_eq!(
        by_file.0, by_flags.0,
        "labels (but the hostname) and addresses"
    );
    assert_eq!(by_flags.1, "", "no taint by default on a worker");
    assert_eq!(by_file.1, "dedicated=infra:NoSchedule");
}

/// Waits up to 20 s for the scheduler and the controller-manager to
/// hold their Leases; panics if one does not.
async fn leases_held(admin: &Path) {
    for lease in ["kube-scheduler", "kube-controller-manager"] {
        let mut held = false;
        for _ in 0..100 {
            let o = kubectl(
                admin,
                &[
                    "-n",
                    "kube-system",
                    "get",
                    "lease",
                    lease,
                    "-o",
                    "jsonpath={.spec.holderIdentity}",
                ],
            );
            if o.status.success() && !stdout(&o).is_empty() {
                held = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert!(held, "{lease} holds its Lease");
    }
}

/// Waits up to 60 s for the Node `name` to be Ready.
async fn wait_ready(admin: &Path, name: &str) -> bool {
    for _ in 0..300 {
        let o = kubectl(
            admin,
            &[
                "get",
                "node",
                name,
                "-o",
                "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}",
            ],
        );
        if stdout(&o) == "True" {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    false
}

/// A Node's labels and addresses (but its hostname), and its taints (but
/// the condition taints).
fn node_facts(admin: &Path, name: &str) -> (String, String) {
    let o = kubectl(admin, &["get", "node", name, "-o", "json"]);
    let node: serde_json::Value = serde_json::from_slice(&o.stdout).expect("a Node");
    let mut labels = node["metadata"]["labels"].clone();
    if let Some(l) = labels.as_object_mut() {
        l.remove("kubernetes.io/hostname");
    }
    let taints: Vec<String> = node["spec"]["taints"]
        .as_array()
        .into_iter()
        .flatten()
        // Not the node lifecycle controller's condition taints (a busy
        // host's disk pressure).
        .filter(|t| {
            !t["key"]
                .as_str()
                .unwrap_or("")
                .starts_with("node.kubernetes.io/")
        })
        .map(|t| {
            format!(
                "{}={}:{}",
                t["key"].as_str().unwrap_or(""),
                t["value"].as_str().unwrap_or(""),
                t["effect"].as_str().unwrap_or("")
            )
        })
        .collect();
    let addresses: Vec<&serde_json::Value> = node["status"]["addresses"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|a| a["type"] != "Hostname")
        .collect();
    (format!("{labels} {addresses:?}"), taints.join(","))
}

/// `kubeadm init phase ...` one phase at a time, as a user runs them by
/// hand, gives the control plane `init` gives: every file, healthy
/// components holding their Leases, the first node Ready with the
/// control-plane taint, the bootstrap token and a signed `cluster-info`;
/// a part runs alone (`certs ca` makes only the CA), and unknown phases
/// and parts are refused by name.
#[tokio::test(flavor = "multi_thread")]
async fn init_phase_by_phase() {
    clean_leftovers();
    let cp = Machine::new();
    let phase = |args: &[&str]| {
        let mut all = vec!["init", "phase"];
        all.extend_from_slice(args);
        all.extend(["--node-name", "cp-1", "--pod-network-cidr", "10.244.0.0/16"]);
        let out = cp.kubeadm(&all, true);
        assert!(out.status.success(), "init phase {args:?}: {}", text(&out));
        stdout(&out)
    };
    let refused = cp.kubeadm(&["init", "phase", "certs"], true);
    assert!(
        text(&refused).contains("phase \"certs\" runs one of: all, ca, apiserver"),
        "{}",
        text(&refused)
    );
    let refused = cp.kubeadm(&["init", "phase", "kube-proxy"], true);
    assert!(
        text(&refused).contains("unknown phase \"kube-proxy\""),
        "{}",
        text(&refused)
    );

    phase(&["preflight"]);
    phase(&["certs", "ca"]);
    let pki = cp.path("/etc/kubernetes/pki");
    assert!(pki.join("ca.crt").exists() && !pki.join("apiserver.crt").exists());
    phase(&["certs", "all"]);
    phase(&["kubeconfig", "all"]);
    phase(&["etcd", "local"]);
    phase(&["control-plane", "all"]);
    phase(&["kubelet-start"]);
    let out = phase(&["wait-control-plane"]);
    assert!(
        out.contains("[api-check] The API server is healthy"),
        "{out}"
    );
    phase(&["upload-config", "all"]);
    phase(&["mark-control-plane"]);
    let token = kubeadm::bootstraptoken::Token::generate();
    let out = phase(&["bootstrap-token", "--token", &token.to_string()]);
    assert!(out.contains(&format!("Using token: {token}")), "{out}");
    phase(&["addon"]);
    let out = phase(&["show-join-command", "--token", &token.to_string()]);
    assert!(out.contains(&format!("--token {token}")), "{out}");

    for f in LAYOUT {
        assert!(cp.path("/etc/kubernetes").join(f).exists(), "{f}");
    }
    let admin = cp.admin_conf();
    let ready = kubectl(&admin, &["get", "--raw", "/readyz"]);
    assert_eq!(stdout(&ready).trim(), "ok", "{}", text(&ready));
    leases_held(&admin).await;
    assert!(wait_ready(&admin, "cp-1").await, "the first node is Ready");
    let (_, taints) = node_facts(&admin, "cp-1");
    assert_eq!(taints, "node-role.kubernetes.io/control-plane=:NoSchedule");
    for cm in ["kube-system/kubeadm-config", "kube-system/kubelet-config"] {
        let (ns, name) = cm.split_once('/').unwrap_or_default();
        let o = kubectl(&admin, &["-n", ns, "get", "configmap", name]);
        assert!(o.status.success(), "{cm}: {}", text(&o));
    }
    let list = cp.kubeadm(&["token", "list"], false);
    assert!(stdout(&list).contains(&token.id), "{}", text(&list));
    wait_for_signature(&admin, &token).await;

    cp.reset_leaving_nothing_running();
}

/// `kubeadm upgrade apply` restarts the control plane on the binaries of
/// a new directory: the apiserver, controller-manager and scheduler run
/// from it afterwards, with the same flags, and the cluster answers and
/// writes; etcd, not in the directory, keeps its binary.
#[tokio::test(flavor = "multi_thread")]
async fn upgrade_restarts_the_control_plane_on_new_binaries() {
    clean_leftovers();
    let cp = Machine::new();
    let init = cp.init(&[]);
    assert!(init.status.success(), "init: {}", text(&init));
    let before = cp.processes();
    let new = cp.path("/opt/v2");
    std::fs::create_dir_all(&new).expect("mkdir");
    let bins = kubeadm_bin().parent().expect("target dir").to_path_buf();
    for b in ["apiserver", "controller-manager", "scheduler", "kubelet"] {
        std::fs::hard_link(bins.join(b), new.join(b)).expect("link a binary");
    }
    let up = cp.kubeadm(
        &[
            "upgrade",
            "apply",
            "v1.36.1",
            "--binaries-dir",
            new.to_str().unwrap_or_default(),
        ],
        false,
    );
    assert!(up.status.success(), "upgrade: {}", text(&up));
    assert!(stdout(&up).contains("[upgrade] SUCCESS!"), "{}", text(&up));
    let after = cp.processes();
    for b in ["apiserver", "controller-manager", "scheduler"] {
        let program = new.join(b).display().to_string();
        let running = after.iter().find(|c| c.starts_with(&format!("{program} ")));
        assert!(running.is_some(), "{b} runs from {program}: {after:#?}");
        let old = before
            .iter()
            .find(|c| c.starts_with(&format!("{} ", bins.join(b).display())))
            .expect("ran from the old directory");
        assert_eq!(
            running.map(|r| r.split_once(' ').map(|(_, f)| f.to_string())),
            Some(old.split_once(' ').map(|(_, f)| f.to_string())),
            "{b}'s flags are kept"
        );
    }
    let admin = cp.admin_conf();
    let ready = kubectl(&admin, &["get", "--raw", "/readyz"]);
    assert_eq!(stdout(&ready).trim(), "ok", "{}", text(&ready));
    let ns = kubectl(&admin, &["create", "namespace", "after-upgrade"]);
    assert!(ns.status.success(), "{}", text(&ns));
    leases_held(&admin).await;
    let again = cp.kubeadm(
        &[
            "upgrade",
            "node",
            "--binaries-dir",
            new.to_str().unwrap_or_default(),
        ],
        false,
    );
    assert!(
        stdout(&again).contains("nothing restarted"),
        "{}",
        text(&again)
    );
    cp.reset_leaving_nothing_running();
}

/// Copies what the admin copies to a new control-plane node.
fn copy_shared_pki(from: &Machine, to: &Machine) {
    for f in kubeadm::join::SHARED_PKI {
        let src = from.path("/etc/kubernetes/pki").join(f);
        let dst = to.path("/etc/kubernetes/pki").join(f);
        std::fs::create_dir_all(dst.parent().expect("a directory")).expect("mkdir");
        std::fs::copy(&src, &dst).expect("copy a shared key");
    }
}

/// Three control-plane nodes (stacked etcd, three members over TLS); with
/// the first one stopped, the others still serve, schedule and reconcile:
/// `kubectl get pods` and a new Deployment's ReplicaSet work through the
/// second node's apiserver, and the Leases move.
#[tokio::test(flavor = "multi_thread")]
async fn three_control_planes_survive_losing_one() {
    clean_leftovers();
    let cp1 = Machine::new();
    let (token, hash, init_out) = first_control_plane(&cp1, &["--upload-certs"]);
    let key = init_out
        .lines()
        .skip_while(|l| !l.starts_with("[upload-certs] Using certificate key:"))
        .nth(1)
        .expect("init prints the certificate key")
        .to_string();
    assert!(
        init_out.contains(&format!("--control-plane --certificate-key {key}")),
        "{init_out}"
    );
    let parsed = kubeadm::bootstraptoken::Token::parse(&token).expect("token");
    wait_for_signature(&cp1.admin_conf(), &parsed).await;

    let (cp2, cp3) = (Machine::new(), Machine::new());
    let endpoint = cp1.endpoint();
    let join_cp = |m: &Machine, name: &str, key: Option<&str>| {
        let mut args = vec!["join", &endpoint, "--control-plane", "--token", &token];
        args.extend(["--discovery-token-ca-cert-hash", &hash, "--node-name", name]);
        args.extend(["--skip-phases", "kubelet-start", "--timeout", "60s"]);
        if let Some(key) = key {
            args.extend(["--certificate-key", key]);
        }
        m.kubeadm(&args, true)
    };
    // cp-2 with the keys copied by hand; without them, a clear refusal.
    let refused = join_cp(&cp2, "cp-2", None);
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains("copy them from the first control-plane node"),
        "{}",
        text(&refused)
    );
    copy_shared_pki(&cp1, &cp2);
    let start = Instant::now();
    let join = join_cp(&cp2, "cp-2", None);
    assert!(join.status.success(), "join cp-2: {}", text(&join));
    eprintln!("kubeadm join --control-plane cp-2: {:?}", start.elapsed());
    // cp-3 with the keys init uploaded; a wrong key opens nothing.
    let wrong = join_cp(&cp3, "cp-3", Some(&"0".repeat(64)));
    assert!(!wrong.status.success());
    let err = String::from_utf8_lossy(&wrong.stderr);
    assert!(err.contains("could not decrypt"), "{}", text(&wrong));
    let _ = cp3.reset();
    let start = Instant::now();
    let join = join_cp(&cp3, "cp-3", Some(&key));
    assert!(join.status.success(), "join cp-3: {}", text(&join));
    eprintln!(
        "kubeadm join --control-plane --certificate-key cp-3: {:?}",
        start.elapsed()
    );

    // The started members, as cp-1's etcd lists them.
    let pki = cp1.path("/etc/kubernetes/pki");
    let etcd_url = format!("https://127.0.0.1:{}", cp1.ports[1]);
    let started_members = || {
        let list = Command::new("etcdctl")
            .env("ETCDCTL_API", "3")
            .args(["--endpoints", &etcd_url, "--cacert"])
            .arg(pki.join("etcd/ca.crt"))
            .arg("--cert")
            .arg(pki.join("apiserver-etcd-client.crt"))
            .arg("--key")
            .arg(pki.join("apiserver-etcd-client.key"))
            .args(["member", "list"])
            .output()
            .expect("etcdctl");
        stdout(&list)
            .lines()
            .filter(|l| l.contains(", started, "))
            .count()
    };
    assert_eq!(started_members(), 3);

    // reset on cp-3 takes its member out; cp-3 then joins again.
    let reset = cp3.reset();
    assert!(
        stdout(&reset).contains("Removed this node's member from the etcd cluster"),
        "{}",
        text(&reset)
    );
    assert_eq!(started_members(), 2);
    let rejoin = join_cp(&cp3, "cp-3", Some(&key));
    assert!(
        rejoin.status.success(),
        "join cp-3 again: {}",
        text(&rejoin)
    );
    assert_eq!(started_members(), 3);

    // Stop the first control plane (its supervisor and every process).
    let pid = std::fs::read_to_string(cp1.path("/run/kubeadm/supervise.pid")).expect("pid");
    let stopped = Command::new("kill").args(["-TERM", pid.trim()]).status();
    assert!(stopped.is_ok_and(|s| s.success()));
    for _ in 0..100 {
        if cp1.processes().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        cp1.processes().is_empty(),
        "cp-1 still runs: {:?}",
        cp1.processes()
    );

    // Through cp-2's apiserver: reads, writes, and the controllers.
    let admin2 = cp2.admin_conf();
    let server2 = format!("https://{}", cp2.endpoint());
    let on2 = |args: &[&str]| {
        let mut all = vec!["--server", server2.as_str()];
        all.extend_from_slice(args);
        kubectl(&admin2, &all)
    };
    let pods = on2(&["get", "pods", "-A"]);
    assert!(pods.status.success(), "{}", text(&pods));
    let deploy = on2(&["create", "deployment", "ha-web", "--image", "busybox"]);
    assert!(deploy.status.success(), "{}", text(&deploy));
    let mut replicaset = false;
    let mut holders = (String::new(), String::new());
    for _ in 0..300 {
        let rs = on2(&["get", "rs", "-l", "app=ha-web", "-o", "name"]);
        replicaset = !stdout(&rs).trim().is_empty();
        let lease = |name: &str| stdout(&on2(&tests::lab::lease_holder_args(name)));
        holders = (lease("kube-scheduler"), lease("kube-controller-manager"));
        if replicaset {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        replicaset,
        "a controller-manager on cp-2 or cp-3 took over (leases {holders:?})"
    );
    eprintln!("after losing cp-1: leases held by {holders:?}");
}
