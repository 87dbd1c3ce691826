//! A whole cluster for end-to-end tests: `hack/local-up-cluster.sh` with a
//! unique name, the debug binaries cargo built, and no demo app. The script
//! installs it with `kubeadm init`/`join` into network-namespace machines
//! (node `i`'s files under `$LAB_DIR/nodes/node-i`, kubeadm's `--host-root`),
//! so the tests exercise the install users run. The lab is
//! secure as a user gets it (HTTPS only, client certificates, Node,RBAC);
//! the tests talk to it with the admin kubeconfig kubeadm wrote. The lab is
//! taken down (every process, container, mount, cgroup and namespace) when
//! the [`Lab`] is dropped, also when the test fails.
//!
//! The lab needs root and the packages `hack/test.sh` installs; [`Lab::up`]
//! returns `None` (and the test says it was skipped) when it cannot run here,
//! and panics instead under `hack/test.sh` (`MINIK8S_REQUIRE_ALL`, see the
//! `prerequisites` crate), so a green run there means the lab tests ran.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Two web pods spread one per node (by hostname), each serving its own
/// name on port 8080 (`http`) once Ready, behind the ClusterIP Service `web`
/// on port 80: the backends of the Service and DNS end-to-end tests.
pub const SPREAD_WEB: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      topologySpreadConstraints:
      - maxSkew: 1
        topologyKey: kubernetes.io/hostname
        whenUnsatisfiable: DoNotSchedule
        labelSelector:
          matchLabels: {app: web}
      containers:
      - name: web
        image: busybox:1.36
        command: ["sh", "-c", "mkdir -p /www && hostname > /www/index.html && httpd -f -p 8080 -h /www"]
        ports:
        - {containerPort: 8080, name: http}
        readinessProbe:
          httpGet: {path: /, port: http}
          periodSeconds: 1
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports:
  - {name: http, port: 80, targetPort: http}
"#;

/// [`SPREAD_WEB`] with three replicas that tolerate the control-plane
/// taint: one pod on every node of a three-node cluster.
pub fn spread_web_on_three_nodes() -> String {
    let yaml = SPREAD_WEB.replace("replicas: 2", "replicas: 3").replace(
        "    spec:\n      topologySpreadConstraints:",
        "    spec:\n      tolerations:\n      - {key: node-role.kubernetes.io/control-plane, operator: Exists, effect: NoSchedule}\n      topologySpreadConstraints:",
    );
    assert!(
        yaml.contains("replicas: 3") && yaml.contains("tolerations:"),
        "SPREAD_WEB changed: {yaml}"
    );
    yaml
}

/// kubectl's arguments printing the holder of the Lease `kube-system/NAME`
/// (the leading replica's identity, "HOSTNAME_SUFFIX").
pub fn lease_holder_args(name: &str) -> [&str; 7] {
    [
        "-n",
        "kube-system",
        "get",
        "lease",
        name,
        "-o",
        "jsonpath={.spec.holderIdentity}",
    ]
}

/// `kubectl get csr -o` this: one line per CSR, "USERNAME CONDITION
/// CERTIFICATE", for [`issued_bootstrap_csrs`].
pub const CSRS_JSONPATH: &str = "jsonpath={range .items[*]}{.spec.username} {.status.conditions[0].type} {.status.certificate}{\"\\n\"}{end}";

/// How many CSRs of [`CSRS_JSONPATH`]'s output a bootstrap token posted
/// (joining kubelets) that were approved and issued.
pub fn issued_bootstrap_csrs(lines: &str) -> usize {
    lines
        .lines()
        .filter(|l| l.starts_with("system:bootstrap:"))
        .filter(|l| l.contains(" Approved ") && l.split(' ').nth(2).is_some_and(|c| !c.is_empty()))
        .count()
}

/// kubectl's arguments listing [`SPREAD_WEB`]'s pods, one line per pod,
/// "NAME NODE IP READY", for [`ready_one_per_node`].
pub const WEB_PODS: [&str; 6] = [
    "get",
    "pods",
    "-l",
    "app=web",
    "-o",
    "jsonpath={range .items[*]}{.metadata.name} {.spec.nodeName} {.status.podIP} {.status.conditions[?(@.type==\"Ready\")].status}{\"\\n\"}{end}",
];

/// The Ready pods of [`WEB_PODS`]' output, name to (node, IP),
/// once there are `n` of them on `n` different nodes.
pub fn ready_one_per_node(
    lines: &str,
    n: usize,
) -> Option<std::collections::BTreeMap<String, (String, String)>> {
    let pods: std::collections::BTreeMap<String, (String, String)> = lines
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|r| r.len() == 4 && r[3] == "True")
        .map(|r| (r[0].to_string(), (r[1].to_string(), r[2].to_string())))
        .collect();
    let nodes: std::collections::BTreeSet<&String> = pods.values().map(|(node, _)| node).collect();
    (pods.len() == n && nodes.len() == n).then_some(pods)
}

/// Every pod of `pods` ([`ready_one_per_node`], [`SPREAD_WEB`]'s) fetches
/// every other one's page at `http://IP:8080/` with `wget(pod, url)` (a
/// `kubectl exec` of busybox's wget) and gets that pod's name back.
pub fn assert_pods_reach_each_other(
    pods: &std::collections::BTreeMap<String, (String, String)>,
    wget: impl Fn(&str, &str) -> Option<String>,
) {
    for (from, (node, _)) in pods {
        for (to, (other, ip)) in pods {
            if to != from {
                assert_eq!(
                    wget(from, &format!("http://{ip}:8080/")).as_deref(),
                    Some(to.as_str()),
                    "{from} on {node} reaches {to} on {other} at {ip}"
                );
            }
        }
    }
}

/// A running lab.
pub struct Lab {
    name: String,
    dir: PathBuf,
    repo: PathBuf,
    bin: PathBuf,
    /// Number of nodes (`node-1` ... `node-N`).
    pub nodes: usize,
}

fn repo_root() -> PathBuf {
    // tests/ is one level below the workspace root.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(".."))
}

/// Why a lab cannot run on this machine, if it cannot.
pub fn unavailable() -> Option<String> {
    if !prerequisites::is_root() {
        return Some("the lab needs root".into());
    }
    if crate::harness::binary("kubelet").is_none() {
        return Some("the kubelet binary is not built".into());
    }
    None
}

impl Lab {
    /// Starts a lab of `nodes` nodes named after `test` (plus the pid, so
    /// concurrent runs never collide). Panics if it does not come up.
    pub fn up(test: &str, nodes: usize) -> Option<Lab> {
        Lab::up_with(test, nodes, &[])
    }

    /// [`Lab::up`] with extra environment for the script (e.g.
    /// `LAB_NETWORK_PLUGIN=kubenet`).
    pub fn up_with(test: &str, nodes: usize, env: &[(&str, &str)]) -> Option<Lab> {
        if let Some(why) = unavailable() {
            prerequisites::missing(test, &why);
            return None;
        }
        let bin = crate::harness::binary("kubelet")
            .and_then(|p| p.parent().map(Path::to_path_buf))
            .expect("the kubelet binary is built (cargo build --workspace --bins)");
        let name = format!("{}-{}", test, std::process::id() % 100_000);
        // MINIK8S_LAB_ROOT moves the nodes' disks (e.g. onto a tmpfs, to
        // tell the filesystem's share of a benchmark from ours).
        let root = std::env::var_os("MINIK8S_LAB_ROOT").unwrap_or_else(|| "/var/tmp".into());
        let dir = PathBuf::from(root).join(format!("minik8s-{name}"));
        let lab = Lab {
            name,
            dir,
            repo: repo_root(),
            bin,
            nodes,
        };
        let out = lab
            .script_with(&["--nodes", &nodes.to_string(), "--no-demo", "up"], env)
            .expect("hack/local-up-cluster.sh runs");
        if !out.status.success() {
            lab.dump_logs();
            panic!(
                "the lab did not come up:\n{}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Some(lab)
    }

    fn script(&self, args: &[&str]) -> std::io::Result<Output> {
        self.script_with(args, &[])
    }

    fn script_with(&self, args: &[&str], env: &[(&str, &str)]) -> std::io::Result<Output> {
        Command::new("bash")
            .arg(self.repo.join("hack/local-up-cluster.sh"))
            .arg("--name")
            .arg(&self.name)
            .args(args)
            .env("LAB_BIN", &self.bin)
            .env("LAB_DIR", &self.dir)
            // A lost node is noticed after 12 s and its pods are evicted
            // 10 s later (upstream's defaults: 40 s and 300 s).
            .env(
                "LAB_CONTROLLER_MANAGER_FLAGS",
                "--node-monitor-grace-period=12s --pod-eviction-timeout=10s",
            )
            .envs(env.iter().copied())
            .current_dir(&self.repo)
            .stdin(Stdio::null())
            .output()
    }

    /// The lab's name (`--name` of `hack/local-up-cluster.sh`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `hack/local-up-cluster.sh --name NAME kill|restart COMPONENT`
    /// (`scheduler`, `kubelet-node-2`, ...): a killed component stays down
    /// (kubeadm's hold file) until restarted; panics if the script fails.
    pub fn component(&self, action: &str, component: &str) {
        let out = self
            .script(&[action, component])
            .expect("the lab script runs");
        assert!(
            out.status.success(),
            "{action} {component} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The lab's etcd client URL: kubeadm's etcd on node 1's address,
    /// TLS with client certificates ([`Lab::etcdctl`] brings them).
    pub fn etcd_url(&self) -> String {
        format!("https://10.200.{}.11:2379", self.subnet())
    }

    /// `etcdctl` for the lab's etcd: its endpoint, etcd's CA and the
    /// `healthcheck-client` pair kubeadm made on node 1 (as the labs in
    /// docs/labs/ do).
    pub fn etcdctl(&self) -> Command {
        let pki = self.node_dir(1).join("etc/kubernetes/pki/etcd");
        let mut c = Command::new("etcdctl");
        c.arg("--endpoints")
            .arg(self.etcd_url())
            .arg("--cacert")
            .arg(pki.join("ca.crt"))
            .arg("--cert")
            .arg(pki.join("healthcheck-client.crt"))
            .arg("--key")
            .arg(pki.join("healthcheck-client.key"));
        c
    }

    /// Node `i`'s machine directory: kubeadm's `--host-root` for it
    /// (`etc/kubernetes`, `var/lib/kubelet`, `run/kubeadm`, ...).
    pub fn node_dir(&self, i: usize) -> PathBuf {
        self.dir.join(format!("nodes/node-{i}"))
    }

    /// The lab's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The cluster CA certificate (`$LAB_DIR/pki/ca.crt`, a copy of
    /// kubeadm's): it signed every component's certificate (the
    /// apiserver's serving certificate too) and the controller-manager
    /// publishes it as `kube-root-ca.crt`.
    pub fn ca_cert(&self) -> PathBuf {
        self.dir.join("pki").join("ca.crt")
    }

    /// The admin kubeconfig the script prints (kubeadm's `admin.conf`):
    /// the apiserver's https URL, the cluster CA to trust it by, and a
    /// client certificate of `kubernetes-admin` (also in
    /// `$LAB_DIR/pki/admin.{crt,key}`).
    pub fn kubeconfig(&self) -> PathBuf {
        self.dir.join("kubeconfig")
    }

    /// A kubectl command for this lab (the real `/usr/bin/kubectl`).
    pub fn kubectl_cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new("kubectl");
        c.env("KUBECONFIG", self.kubeconfig())
            .arg("--cache-dir")
            .arg(self.dir.join("kube-cache"))
            .args(args)
            .stdin(Stdio::null());
        c
    }

    /// Runs kubectl; returns (exit code, stdout, stderr).
    pub fn kubectl(&self, args: &[&str]) -> (i32, String, String) {
        let out = self.kubectl_cmd(args).output().expect("kubectl runs");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Runs our kubectl (the workspace's binary) against the lab; returns
    /// (exit code, stdout, stderr).
    pub fn our_kubectl(&self, args: &[&str]) -> (i32, String, String) {
        let bin = crate::harness::binary("kubectl")
            .expect("our kubectl is built (cargo build -p kubectl)");
        let out = Command::new(bin)
            .env("KUBECONFIG", self.kubeconfig())
            .arg("--cache-dir")
            .arg(self.dir.join("kube-cache-ours"))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("our kubectl runs");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// kubectl that must succeed; returns stdout.
    pub fn kubectl_ok(&self, args: &[&str]) -> String {
        let (code, out, err) = self.kubectl(args);
        assert_eq!(code, 0, "kubectl {args:?} failed:\n{out}\n{err}");
        out
    }

    /// `kubectl get -o json` parsed.
    pub fn get_json(&self, args: &[&str]) -> Value {
        let mut a = vec!["get"];
        a.extend_from_slice(args);
        a.extend_from_slice(&["-o", "json"]);
        serde_json::from_str(&self.kubectl_ok(&a)).expect("kubectl prints JSON")
    }

    /// `kubectl apply -f -` of a YAML text.
    pub fn apply(&self, yaml: &str) {
        let out = self.try_apply(yaml);
        assert!(
            out.status.success(),
            "kubectl apply failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// `kubectl apply -f -` of `yaml`, succeeding or not.
    pub fn try_apply(&self, yaml: &str) -> Output {
        crate::harness::run_with_stdin(self.kubectl_cmd(&["apply", "-f", "-"]), yaml.as_bytes())
    }

    /// Starts a long-running kubectl (logs -f, port-forward).
    pub fn kubectl_spawn(&self, args: &[&str]) -> Child {
        self.kubectl_cmd(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kubectl runs")
    }

    /// Starts our long-running kubectl (port-forward).
    pub fn our_kubectl_spawn(&self, args: &[&str]) -> Child {
        let bin = crate::harness::binary("kubectl")
            .expect("our kubectl is built (cargo build -p kubectl)");
        Command::new(bin)
            .env("KUBECONFIG", self.kubeconfig())
            .arg("--cache-dir")
            .arg(self.dir.join("kube-cache-ours"))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("our kubectl runs")
    }

    /// The network namespace of node `i` (1-based).
    pub fn node_netns(&self, i: usize) -> String {
        format!("mk-{}-n{i}", self.name)
    }

    /// The network namespace of the lab's switch (the bridge every node
    /// and the host's leg plug into).
    pub fn switch_netns(&self) -> String {
        format!("mk-{}-sw", self.name)
    }

    /// `X` of the lab's network, 10.200.X.0/24.
    pub fn subnet(&self) -> u8 {
        std::fs::read_to_string(self.dir.join("subnet"))
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .expect("the lab records its subnet")
    }

    /// The kubelet state directory of node `i` (its `/var/lib/kubelet`).
    pub fn node_root(&self, i: usize) -> PathBuf {
        self.node_dir(i).join("var/lib/kubelet")
    }

    /// The kubelet configuration file of node `i` (kubeadm's
    /// `/var/lib/kubelet/config.yaml`: the cluster's with the node's
    /// patches); a restarted kubelet reads it again.
    pub fn kubelet_config(&self, i: usize) -> PathBuf {
        self.node_root(i).join("config.yaml")
    }

    /// The cgroup root name the kubelet of node `i` uses.
    pub fn node_cgroup_root(&self, i: usize) -> String {
        format!("mk-{}-node-{i}", self.name)
    }

    /// The pid of node `i`'s kubelet (kubeadm supervise's pid file).
    pub fn kubelet_pid(&self, i: usize) -> Option<i32> {
        std::fs::read_to_string(self.node_dir(i).join("run/kubeadm/kubelet.pid"))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// `kill -9` of node `i`'s kubelet (its containers keep running); it
    /// stays down until [`Lab::start_kubelet`].
    pub fn kill_kubelet(&self, i: usize) {
        self.component("kill", &format!("kubelet-node-{i}"));
    }

    /// Starts node `i`'s kubelet again.
    pub fn start_kubelet(&self, i: usize) {
        let out = self
            .script(&["start-kubelet", &i.to_string()])
            .expect("the lab script runs");
        assert!(out.status.success(), "start-kubelet failed");
    }

    /// `kubelet ctl` against node `i`'s state.
    pub fn ctl(&self, i: usize, args: &[&str]) -> (i32, String) {
        let out = Command::new(self.bin.join("kubelet"))
            .arg("ctl")
            .arg("--root-dir")
            .arg(self.node_root(i))
            .arg("--config")
            .arg(self.kubelet_config(i))
            .args(args)
            .output()
            .expect("kubelet ctl runs");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    }

    /// `wget -q -O - url` from inside `pod`; the page, or `None` when it
    /// fails. busybox 1.35's `wget -T` crashes (SIGSEGV); `timeout` bounds
    /// it instead.
    pub fn wget(&self, pod: &str, url: &str, secs: u32) -> Option<String> {
        let secs = secs.to_string();
        let (code, out, _) = self.kubectl(&[
            "exec", pod, "--", "timeout", &secs, "wget", "-q", "-O", "-", url,
        ]);
        (code == 0).then(|| out.trim().to_string())
    }

    /// Every node's InternalIP, by node name.
    pub fn node_internal_ips(&self) -> std::collections::BTreeMap<String, String> {
        let nodes = self.get_json(&["nodes"]);
        nodes["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|n| {
                let ip = n["status"]["addresses"]
                    .as_array()?
                    .iter()
                    .find(|a| a["type"] == "InternalIP")?["address"]
                    .as_str()?
                    .to_string();
                Some((n["metadata"]["name"].as_str()?.to_string(), ip))
            })
            .collect()
    }

    /// Runs a command inside node `i`'s network namespace.
    pub fn in_node(&self, i: usize, cmd: &[&str]) -> Output {
        Command::new("ip")
            .args(["netns", "exec", &self.node_netns(i)])
            .args(cmd)
            .output()
            .expect("ip netns exec runs")
    }

    /// Prints the component logs (for a failing test).
    pub fn dump_logs(&self) {
        let Ok(entries) = std::fs::read_dir(self.dir.join("logs")) else {
            return;
        };
        for e in entries.flatten() {
            let text = std::fs::read_to_string(e.path()).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(40).collect();
            eprintln!("==== {} (last lines)", e.path().display());
            for l in tail.into_iter().rev() {
                eprintln!("{l}");
            }
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.dump_logs();
        }
        match self.script(&["down"]) {
            Ok(o) if o.status.success() => {}
            Ok(o) => eprintln!("lab down failed: {}", String::from_utf8_lossy(&o.stderr)),
            Err(e) => eprintln!("lab down failed: {e}"),
        }
    }
}

/// A fake host outside the cluster: its own network namespace plugged
/// into the lab's switch at 10.200.X.200, with no route anywhere else, and
/// busybox httpd answering `/cgi-bin/peer` with the address the request
/// came from. Removed (server and namespace) on drop.
pub struct ExternalHost {
    /// Its network namespace.
    pub netns: String,
    /// Its address on the lab's network.
    pub ip: String,
    server: std::process::Child,
    _www: tempfile::TempDir,
}

impl ExternalHost {
    /// Makes the host and starts its server (panics if it cannot).
    pub fn start(lab: &Lab) -> ExternalHost {
        let netns = format!("mkext-{}", std::process::id());
        let ip = format!("10.200.{}.200", lab.subnet());
        let sw = lab.switch_netns();
        let run = |args: &[&str]| {
            let ok = Command::new("ip")
                .args(args)
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "ip {}", args.join(" "));
        };
        // A leftover of a killed run goes first.
        let _ = Command::new("ip").args(["netns", "del", &netns]).status();
        run(&["netns", "add", &netns]);
        run(&["-n", &netns, "link", "set", "lo", "up"]);
        run(&[
            "-n", &sw, "link", "add", "ext", "type", "veth", "peer", "name", "eth0", "netns",
            &netns,
        ]);
        run(&["-n", &sw, "link", "set", "ext", "master", "br0", "up"]);
        run(&[
            "-n",
            &netns,
            "addr",
            "add",
            &format!("{ip}/24"),
            "dev",
            "eth0",
        ]);
        run(&["-n", &netns, "link", "set", "eth0", "up"]);
        let www = tempfile::tempdir().expect("temp dir");
        let cgi = www.path().join("cgi-bin");
        std::fs::create_dir_all(&cgi).expect("cgi-bin");
        let script = cgi.join("peer");
        std::fs::write(
            &script,
            "#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\n%s\\n' \"$REMOTE_ADDR\"\n",
        )
        .expect("cgi script");
        std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .expect("chmod");
        let server = Command::new("ip")
            .args(["netns", "exec", &netns, "busybox", "httpd", "-f", "-p"])
            .arg(format!("{ip}:8080"))
            .arg("-h")
            .arg(www.path())
            .spawn()
            .expect("busybox httpd starts");
        ExternalHost {
            netns,
            ip,
            server,
            _www: www,
        }
    }
}

impl ExternalHost {
    /// Runs a command on the host (in its network namespace).
    pub fn run(&self, cmd: &[&str]) -> Output {
        Command::new("ip")
            .args(["netns", "exec", &self.netns])
            .args(cmd)
            .output()
            .expect("ip netns exec runs")
    }
}

impl Drop for ExternalHost {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
        let _ = Command::new("ip")
            .args(["netns", "del", &self.netns])
            .status();
    }
}

/// Polls `f` every 250 ms until it returns `Some` or `timeout` passes.
pub fn wait_until<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}
