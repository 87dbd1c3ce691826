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
//! -f` on a worker leaving no unit, file, mount or process behind.
//!
//! Opt-in (`MINIK8S_UML=1`): the first run downloads Debian (debootstrap,
//! about 100 s), and three VMs plus a cluster take a few minutes on one
//! machine (docs/benchmarks.md, "kubeadm on UML VMs"), so it is not part of
//! hack/test.sh; tests/tests/kubeadm_machines.rs runs the same install in
//! network-namespace machines there. The cluster is named `t<pid>`; the
//! script's `up` removes a killed run's leftovers of the same name and
//! `down` runs when the test ends, passed or failed.

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

#[test]
fn kubeadm_installs_three_uml_vms() {
    if let Some(why) = skip_reason() {
        eprintln!("skipped: {why}");
        return;
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

    // 1. `up`: the image, three VMs, `kubeadm init`, two `kubeadm join`s.
    let started = Instant::now();
    let up = cluster
        .command()
        .args(["up", "--nodes", "3"])
        .env("UML_BIN", &bin_dir)
        .output()
        .expect("run hack/uml-cluster.sh up");
    let logs = cluster.run_dir.join("logs");
    assert!(
        up.status.success(),
        "hack/uml-cluster.sh up: {}\nlogs in {}",
        text(&up),
        logs.display()
    );
    eprintln!(
        "up in {:?}:\n{}",
        started.elapsed(),
        std::fs::read_to_string(cluster.run_dir.join("timings")).unwrap_or_default()
    );

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
    let active = cluster.ssh_ok(
        1,
        "systemctl is-active etcd kube-apiserver kube-scheduler kube-controller-manager kubelet",
    );
    assert_eq!(
        active.lines().collect::<Vec<_>>(),
        vec!["active"; 5],
        "{active}"
    );
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
}
