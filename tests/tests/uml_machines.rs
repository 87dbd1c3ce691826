//! `kubeadm` on three User-mode Linux VMs (`hack/uml-cluster.sh`): each
//! node a VM with its own kernel, systemd as init and cgroup v2, installed
//! exactly as on real machines: `kubeadm init` on VM 1 (the control plane
//! as the systemd units kubeadm writes, no `--host-root`), the printed
//! `kubeadm join` on the others. The host's real kubectl, with `admin.conf`
//! copied out of VM 1, talks to the cluster inside the cluster's network
//! namespace.
//!
//! Checked: three Ready nodes; etcd, the apiserver, the scheduler, the
//! controller-manager and the kubelet active as systemd units on VM 1;
//! cgroup v2 on every VM; the joined nodes' client certificates issued
//! through approved CSRs; a Deployment spread over the three VMs whose pods
//! reach each other by IP and the Service by its ClusterIP and DNS name
//! (the kubelets' service proxy and DNS server in the VMs' own network
//! namespaces); `kubeadm reset
//! -f` on a worker leaving no unit, file, mount or process behind; then, on
//! that reset VM, a `kubeadm join` with a wrong
//! `--discovery-token-ca-cert-hash` and one with an expired token
//! (`kubeadm token create --ttl 1s`) both refused with upstream's messages,
//! leaving no kubelet and no file.
//!
//! The second test makes the three VMs control planes
//! (`up --control-planes 3`: a 3-member etcd with TLS, every kubelet given
//! the three apiservers) and stops VM 1's etcd, apiserver, scheduler and
//! controller-manager: through VM 2's apiserver `kubectl get pods` works,
//! the scheduler's and controller-manager's Leases move to VM 2 or 3, and
//! a new Deployment gets its ReplicaSet and a Ready pod on each VM.
//!
//! Opt-in (`MINIK8S_UML=1`): the first run downloads Debian (debootstrap,
//! about 100 s), and three VMs plus a cluster take a few minutes on one
//! machine (docs/benchmarks.md, "kubeadm on UML VMs"), so it is not part of
//! hack/test.sh; tests/tests/kubeadm_machines.rs runs the same install in
//! network-namespace machines there. The two tests run one after the other
//! (.config/nextest.toml). Each cluster is named `t<pid>`; the script's
//! `up` removes a killed run's leftovers of the same name and `down` runs
//! when the test ends, passed or failed (a failed test keeps the logs in
//! `/var/tmp/minik8s-uml-t<pid>.logs`).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use tests::harness::{binary, output_text as text};

/// The cluster `hack/uml-cluster.sh` made; `down` on drop.
struct Cluster {
    name: String,
    script: PathBuf,
    run_dir: PathBuf,
}

impl Cluster {
    fn command(&self) -> Command {
        let mut c = Command::new("bash");
        c.arg(&self.script)
            .args(["--name", &self.name])
            .env("UML_RUN", &self.run_dir)
            .stdin(Stdio::null());
        c
    }

    /// `CMD` as root on VM `i`, through ssh.
    fn ssh(&self, i: usize, cmd: &str) -> Output {
        self.command()
            .args(["ssh", &i.to_string(), cmd])
            .output()
            .expect("run hack/uml-cluster.sh ssh")
    }

    fn ssh_ok(&self, i: usize, cmd: &str) -> String {
        let o = self.ssh(i, cmd);
        assert!(o.status.success(), "node-{i}: {cmd}: {}", text(&o));
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    }

    /// The real kubectl with admin.conf, inside the cluster's namespace.
    fn kubectl(&self, args: &[&str]) -> Output {
        self.command()
            .arg("kubectl")
            .args(args)
            .output()
            .expect("run hack/uml-cluster.sh kubectl")
    }

    fn kubectl_ok(&self, args: &[&str]) -> String {
        let o = self.kubectl(args);
        assert!(
            o.status.success(),
            "kubectl {}: {}",
            args.join(" "),
            text(&o)
        );
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    }

    fn apply(&self, yaml: &str) {
        let path = self.run_dir.join("test-manifest.yaml");
        std::fs::write(&path, yaml).expect("write a manifest");
        self.kubectl_ok(&["apply", "-f", &path.display().to_string()]);
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // `down` removes the run directory: a failed test keeps its logs
        // (VM consoles, kubeadm's output).
        if std::thread::panicking() {
            let kept = PathBuf::from(format!("/var/tmp/minik8s-uml-{}.logs", self.name));
            let _ = std::fs::remove_dir_all(&kept);
            let copied = Command::new("cp")
                .arg("-a")
                .arg(self.run_dir.join("logs"))
                .arg(&kept)
                .status();
            if copied.is_ok_and(|s| s.success()) {
                eprintln!("the cluster's logs are kept in {}", kept.display());
            }
        }
        let o = self.command().arg("down").output();
        if let Ok(o) = o {
            if !o.status.success() {
                eprintln!("hack/uml-cluster.sh down: {}", text(&o));
            }
        }
    }
}

fn skip_reason() -> Option<String> {
    if std::env::var("MINIK8S_UML").as_deref() != Ok("1") {
        return Some(
            "set MINIK8S_UML=1 to run it: it downloads Debian once and boots three UML VMs".into(),
        );
    }
    if !is_root() {
        return Some("needs root (network namespaces, tap devices)".into());
    }
    None
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

/// `hack/uml-cluster.sh up --nodes N --control-planes M` for the calling
/// test (the binaries of this worktree's target), or why it is skipped.
fn up(nodes: usize, control_planes: usize) -> Option<Cluster> {
    if let Some(why) = skip_reason() {
        eprintln!("skipped: {why}");
        return None;
    }
    let kubeadm = binary("kubeadm").expect("build the binaries first: cargo build --bins");
    let bin_dir = kubeadm.parent().expect("target dir").to_path_buf();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace")
        .to_path_buf();
    let name = format!("t{}", std::process::id());
    let cluster = Cluster {
        script: repo.join("hack/uml-cluster.sh"),
        run_dir: PathBuf::from(format!("/var/tmp/minik8s-uml-{name}")),
        name,
    };
    let started = Instant::now();
    let up = cluster
        .command()
        .args(["up", "--nodes", &nodes.to_string()])
        .args(["--control-planes", &control_planes.to_string()])
        .env("UML_BIN", &bin_dir)
        .output()
        .expect("run hack/uml-cluster.sh up");
    assert!(up.status.success(), "hack/uml-cluster.sh up: {}", text(&up));
    eprintln!(
        "up in {:?}:\n{}",
        started.elapsed(),
        std::fs::read_to_string(cluster.run_dir.join("timings")).unwrap_or_default()
    );
    Some(cluster)
}

#[test]
fn kubeadm_installs_three_uml_vms() {
    // 1. `up`: the image, three VMs, `kubeadm init`, two `kubeadm join`s.
    let Some(cluster) = up(3, 1) else {
        return;
    };

    // 2. Three Ready nodes, seen by the real kubectl with admin.conf.
    let nodes = cluster.kubectl_ok(&["get", "nodes", "--no-headers"]);
    let ready: BTreeSet<&str> = nodes
        .lines()
        .filter(|l| l.split_whitespace().nth(1) == Some("Ready"))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(
        ready,
        BTreeSet::from(["node-1", "node-2", "node-3"]),
        "{nodes}"
    );

    // 3. The control plane as systemd units on VM 1; cgroup v2 everywhere.
    assert_control_plane_active(&cluster, 1);
    for i in 1..=3 {
        assert_eq!(cluster.ssh_ok(i, "stat -fc %T /sys/fs/cgroup"), "cgroup2fs");
        assert_eq!(cluster.ssh_ok(i, "systemctl is-active kubelet"), "active");
        assert_eq!(cluster.ssh_ok(i, "ps -o comm= -p 1"), "systemd");
    }

    // 4. The joined nodes' client certificates came through approved CSRs.
    let csrs = cluster.kubectl_ok(&["get", "csr", "-o", tests::lab::CSRS_JSONPATH]);
    let issued = tests::lab::issued_bootstrap_csrs(&csrs);
    assert_eq!(issued, 2, "two bootstrap CSRs Approved and issued: {csrs}");

    // 5. A Deployment spread over the three VMs, and its Service.
    cluster.apply(&tests::lab::spread_web_on_three_nodes());
    let deadline = Instant::now() + Duration::from_secs(300);
    let pods = loop {
        let o = cluster.kubectl(&tests::lab::WEB_PODS);
        if let Some(rows) = tests::lab::ready_one_per_node(&String::from_utf8_lossy(&o.stdout), 3) {
            break rows;
        }
        assert!(
            Instant::now() < deadline,
            "three Ready web pods, one per node: {}",
            cluster.kubectl_ok(&["get", "pods", "-o", "wide", "-A"])
        );
        std::thread::sleep(Duration::from_secs(1));
    };
    let by_pod = pods;
    let wget = |pod: &str, url: &str| {
        let o = cluster.kubectl(&[
            "exec", pod, "--", "timeout", "5", "wget", "-q", "-O", "-", url,
        ]);
        o.status
            .success()
            .then(|| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    tests::lab::assert_pods_reach_each_other(&by_pod, wget);
    let cluster_ip = cluster.kubectl_ok(&["get", "svc", "web", "-o", "jsonpath={.spec.clusterIP}"]);
    for (from, (node, _)) in &by_pod {
        let got = (0..10).find_map(|_| wget(from, &format!("http://{cluster_ip}/")));
        assert!(
            got.as_ref().is_some_and(|n| by_pod.contains_key(n)),
            "{from} on {node} reaches the Service at {cluster_ip}: {got:?}"
        );
    }

    // ... and by its DNS name (the kubelets' cluster DNS on 10.96.0.10).
    let first = by_pod.keys().next().expect("a pod");
    let by_name = (0..20).find_map(|_| wget(first, "http://web.default.svc.cluster.local/"));
    assert!(
        by_name.as_ref().is_some_and(|n| by_pod.contains_key(n)),
        "the Service by its DNS name: {by_name:?}"
    );

    // 6. `kubeadm reset -f` on node-3 leaves nothing behind.
    // By command name (a `pgrep -f` would find the shell running it).
    let node_processes = "ps -eo pid=,comm= | grep -E ' (kubelet|container-run|httpd)' || true";
    let before = cluster.ssh_ok(3, node_processes);
    assert!(
        before.contains("kubelet") && before.contains("httpd"),
        "node-3 runs a kubelet and a web pod: {before}"
    );
    let reset = cluster.ssh(3, "kubeadm reset -f");
    assert!(reset.status.success(), "reset: {}", text(&reset));
    let units = cluster.ssh_ok(
        3,
        "systemctl list-units --all --no-legend 'kube*' 'etcd*'; ls /etc/systemd/system | grep -E 'kube|etcd' || true",
    );
    assert_eq!(units, "", "units left on node-3");
    let files = cluster.ssh_ok(
        3,
        "find /etc/kubernetes /var/lib/kubelet -mindepth 1 2>/dev/null || true",
    );
    assert_eq!(files, "", "files left on node-3");
    let mounts = cluster.ssh_ok(3, "grep -E 'kubelet|kubernetes' /proc/mounts || true");
    assert_eq!(mounts, "", "mounts left on node-3");
    let procs = cluster.ssh_ok(3, node_processes);
    assert_eq!(procs, "", "processes left on node-3");
    let cgroups = cluster.ssh_ok(3, "find /sys/fs/cgroup -name 'kubepods*' || true");
    assert_eq!(cgroups, "", "cgroups left on node-3");
    cluster.kubectl_ok(&["delete", "node", "node-3"]);

    // 7. Joins that must be refused, run on the reset node-3 as a user
    // would: a line whose CA hash is not the cluster's, and one whose
    // token has expired. Neither leaves a kubelet or a file behind.
    let line = cluster.ssh_ok(1, "kubeadm token create --print-join-command");
    let wrong_hash = line
        .split_whitespace()
        .map(|w| {
            if w.starts_with("sha256:") {
                format!("sha256:{}", "0".repeat(64))
            } else {
                w.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(" ");
    assert_ne!(wrong_hash, line, "the join line pins a hash: {line}");
    let refused = cluster.ssh(3, &format!("{wrong_hash} --node-name node-3"));
    assert!(!refused.status.success(), "joined with a wrong CA hash");
    assert!(
        text(&refused).contains("none of the public keys") && text(&refused).contains("are pinned"),
        "a wrong --discovery-token-ca-cert-hash is refused clearly: {}",
        text(&refused)
    );
    assert_nothing_joined(&cluster, 3);

    // An expired token: its signature goes from cluster-info when it
    // expires (the bootstrapsigner) and the apiserver refuses it. Join
    // retries discovery (a new token's signature comes a moment after it)
    // for --timeout, 5 minutes by default; a user in a hurry shortens it too.
    let line = cluster.ssh_ok(1, "kubeadm token create --ttl 1s --print-join-command");
    std::thread::sleep(Duration::from_secs(3));
    let started = Instant::now();
    let refused = cluster.ssh(3, &format!("{line} --node-name node-3 --timeout 15s"));
    assert!(!refused.status.success(), "joined with an expired token");
    assert!(
        text(&refused).contains("invalid for this cluster or it has expired")
            || text(&refused).contains("invalid or has expired"),
        "an expired token is refused clearly: {}",
        text(&refused)
    );
    eprintln!("expired token refused after {:?}", started.elapsed());
    assert_nothing_joined(&cluster, 3);
}

/// A refused `kubeadm join` on VM `i` started no kubelet and wrote nothing
/// under /etc/kubernetes or /var/lib/kubelet.
fn assert_nothing_joined(cluster: &Cluster, i: usize) {
    let kubelet = cluster.ssh(i, "systemctl is-active kubelet");
    assert_ne!(
        String::from_utf8_lossy(&kubelet.stdout).trim(),
        "active",
        "node-{i} runs a kubelet after a refused join"
    );
    let procs = cluster.ssh_ok(i, "ps -eo comm= | grep -x kubelet || true");
    assert_eq!(procs, "", "a kubelet process on node-{i}");
    let files = cluster.ssh_ok(
        i,
        "find /etc/kubernetes /var/lib/kubelet /etc/systemd/system -mindepth 1 2>/dev/null | grep -E 'kubernetes|kubelet' || true",
    );
    assert_eq!(files, "", "a refused join left files on node-{i}");
}

/// The holder of the Lease `kube-system/NAME`, asked through `server`.
fn lease_holder(cluster: &Cluster, server: &str, name: &str) -> String {
    let mut args = vec!["--server", server];
    args.extend(tests::lab::lease_holder_args(name));
    let o = cluster.kubectl(&args);
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// etcd, the control plane and the kubelet are active systemd units on
/// VM `i`.
fn assert_control_plane_active(cluster: &Cluster, i: usize) {
    let active = cluster.ssh_ok(
        i,
        "systemctl is-active etcd kube-apiserver kube-scheduler kube-controller-manager kubelet",
    );
    assert_eq!(
        active.lines().collect::<Vec<_>>(),
        vec!["active"; 5],
        "node-{i}: {active}"
    );
}

/// HA on three VMs, each a control plane (etcd, apiserver, scheduler,
/// controller-manager as systemd units) and a node; the control-plane
/// endpoint is VM 1's address, every kubelet knows the three apiservers.
/// With VM 1's control plane stopped, through VM 2's apiserver: pods are
/// listed, the scheduler's and the controller-manager's Leases move to
/// another VM, and a new Deployment gets its ReplicaSet and three Ready
/// pods, one per node (so every kubelet, VM 1's too, failed over).
#[test]
fn three_uml_control_planes_survive_losing_one() {
    let Some(cluster) = up(3, 3) else {
        return;
    };
    let vm1 = "https://10.201.0.11:6443";
    let vm2 = "https://10.201.0.12:6443";
    for i in 1..=3 {
        assert_control_plane_active(&cluster, i);
    }
    let members = cluster.ssh_ok(
        2,
        "etcdctl --endpoints https://127.0.0.1:2379 --cacert /etc/kubernetes/pki/etcd/ca.crt \
         --cert /etc/kubernetes/pki/etcd/healthcheck-client.crt \
         --key /etc/kubernetes/pki/etcd/healthcheck-client.key member list",
    );
    assert_eq!(members.lines().count(), 3, "three etcd members: {members}");

    // VM 1 started first: its scheduler and controller-manager lead.
    let leases = ["kube-scheduler", "kube-controller-manager"];
    for lease in leases {
        let holder = lease_holder(&cluster, vm1, lease);
        assert!(holder.starts_with("node-1_"), "{lease} held by {holder:?}");
    }

    // Stop VM 1's control plane (its kubelet keeps running).
    let t = Instant::now();
    cluster.ssh_ok(
        1,
        "systemctl stop kube-scheduler kube-controller-manager kube-apiserver etcd",
    );
    let on2 = |args: &[&str]| {
        let mut all = vec!["--server", vm2];
        all.extend_from_slice(args);
        cluster.kubectl(&all)
    };
    let pods = on2(&["get", "pods", "-A"]);
    assert!(
        pods.status.success(),
        "kubectl get pods through VM 2: {}",
        text(&pods)
    );
    assert!(
        !cluster.kubectl(&["get", "pods"]).status.success(),
        "VM 1's apiserver is down"
    );

    // The Leases move to VM 2's or VM 3's replica once VM 1's expire.
    for lease in leases {
        let deadline = Instant::now() + Duration::from_secs(90);
        let holder = loop {
            let holder = lease_holder(&cluster, vm2, lease);
            if holder.starts_with("node-2_") || holder.starts_with("node-3_") {
                break holder;
            }
            assert!(
                Instant::now() < deadline,
                "{lease} still held by {holder:?}"
            );
            std::thread::sleep(Duration::from_secs(1));
        };
        eprintln!("{lease}: {holder} after {:?}", t.elapsed());
    }

    // A new Deployment through VM 2: its ReplicaSet, three Ready pods.
    let path = cluster.run_dir.join("web.yaml");
    std::fs::write(&path, tests::lab::spread_web_on_three_nodes()).expect("write a manifest");
    let applied = on2(&["apply", "-f", &path.display().to_string()]);
    assert!(applied.status.success(), "apply: {}", text(&applied));
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let o = on2(&tests::lab::WEB_PODS);
        if tests::lab::ready_one_per_node(&String::from_utf8_lossy(&o.stdout), 3).is_some() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "three Ready web pods, one per node, with VM 1's control plane stopped: {}",
            text(&on2(&["get", "pods", "-o", "wide", "-A"]))
        );
        std::thread::sleep(Duration::from_secs(1));
    }
    eprintln!("a new Deployment Ready after {:?}", t.elapsed());
    let rs = on2(&["get", "rs", "-l", "app=web", "-o", "name"]);
    assert_eq!(
        String::from_utf8_lossy(&rs.stdout).lines().count(),
        1,
        "the Deployment's ReplicaSet: {}",
        text(&rs)
    );
    let nodes = on2(&["get", "nodes", "--no-headers"]);
    let ready = String::from_utf8_lossy(&nodes.stdout)
        .lines()
        .filter(|l| l.split_whitespace().nth(1) == Some("Ready"))
        .count();
    assert_eq!(ready, 3, "{}", text(&nodes));
}
