//! `kubeadm reset`: undoes `init` or `join` on this machine: stops what
//! kubeadm started (systemd units or the supervisor and its processes),
//! removes the pods' containers (they outlive their kubelet by design) with
//! `kubelet ctl rmp`, as upstream's reset does through crictl, unmounts
//! what the kubelet mounted under `/var/lib/kubelet`, and removes
//! the units, `/etc/kubernetes` (PKI and kubeconfigs), `/var/lib/etcd` and
//! `/var/lib/kubelet` (with the kubelet's CNI configuration).
//!
//! Like upstream it does not touch iptables rules (each kubelet's service
//! proxy owns its chains) or the node object in the cluster (`kubectl
//! delete node` does that).

use std::path::{Path, PathBuf};

use crate::paths::Paths;
use crate::{controlplane, init, supervisor};

/// What reset removed.
#[derive(Debug, Default)]
pub struct Report {
    /// Files and directories removed.
    pub removed: Vec<PathBuf>,
    /// Mount points unmounted.
    pub unmounted: Vec<PathBuf>,
}

/// Mount points below `dir`, deepest first (not `dir` itself: a machine
/// may keep `/var/lib/kubelet` on a disk of its own, which stays mounted).
fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    let Ok(text) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return vec![];
    };
    let mut found: Vec<PathBuf> = text
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|p| PathBuf::from(p.replace("\\040", " ")))
        .filter(|p| p.starts_with(dir) && p != dir)
        .collect();
    found.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    found.dedup();
    found
}

/// The value of `--NAME=` in `unit`'s command line.
fn flag<'a>(unit: &'a controlplane::Unit, name: &str) -> Option<&'a str> {
    let prefix = format!("--{name}=");
    unit.exec
        .iter()
        .find_map(|a| a.strip_prefix(prefix.as_str()))
}

/// On a control-plane node of several: removes its etcd member through
/// the others and drops it from `ClusterStatus`, as upstream's reset does
/// (else the cluster counts a dead member against its quorum).
async fn leave_etcd(paths: &Paths, etcd: &controlplane::Unit) -> Result<bool, crate::Error> {
    let (Some(peer), Some(own)) = (
        flag(etcd, "initial-advertise-peer-urls"),
        flag(etcd, "advertise-client-urls"),
    ) else {
        return Ok(false);
    };
    let admin = crate::apiclient::from_file(&paths.kubeconfig("admin.conf")).await?;
    let all = crate::etcd::endpoints(&admin).await?;
    let others: Vec<String> = all.iter().filter(|e| *e != own).cloned().collect();
    if others.is_empty() {
        return Ok(false);
    }
    let removed = crate::etcd::remove_member(
        &paths.pki_dir(),
        &others,
        peer,
        std::time::Duration::from_secs(30),
    )
    .await?;
    crate::etcd::record_endpoints(&admin, &others).await?;
    Ok(removed)
}

/// Removes every pod sandbox (with its containers) of the kubelet `unit`
/// ran, through `kubelet ctl` on the same state directory and config; the
/// number removed. Best effort: a kubelet that never ran has none.
fn remove_pods(unit: &controlplane::Unit) -> usize {
    let Some(binary) = unit.exec.first() else {
        return 0;
    };
    let mut global = Vec::new();
    for name in ["root-dir", "config"] {
        if let Some(v) = flag(unit, name) {
            global.push(format!("--{name}={v}"));
        }
    }
    let ctl = |args: &[&str]| {
        std::process::Command::new(binary)
            .arg("ctl")
            .args(&global)
            .args(args)
            .output()
    };
    let Ok(out) = ctl(&["pods", "-q"]) else {
        return 0;
    };
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let ids: Vec<&str> = text.split_whitespace().collect();
    if ids.is_empty() {
        return 0;
    }
    let mut args = vec!["rmp"];
    args.extend(&ids);
    match ctl(&args) {
        Ok(o) if o.status.success() => ids.len(),
        Ok(o) => {
            eprintln!(
                "[reset] Could not remove the pods: {}",
                String::from_utf8_lossy(&o.stderr).trim()
            );
            0
        }
        Err(e) => {
            eprintln!("[reset] Could not run {binary} ctl: {e}");
            0
        }
    }
}

/// Removes the `kubepods` cgroup tree the kubelet made below its
/// `cgroupRoot`, in every cgroup hierarchy, once `remove_pods` emptied it
/// (`rmdir` only removes empty cgroups: one still in use stays).
fn remove_pod_cgroups(unit: &controlplane::Unit) -> Vec<PathBuf> {
    let root = flag(unit, "config")
        .and_then(|c| std::fs::read_to_string(c).ok())
        .and_then(|text| serde_yaml_ng::from_str::<serde_json::Value>(&text).ok())
        .and_then(|doc| doc["cgroupRoot"].as_str().map(String::from))
        .unwrap_or_default();
    let Ok(mounts) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return vec![];
    };
    let mut removed = Vec::new();
    for line in mounts.lines() {
        let (fields, fstype) = match line.split_once(" - ") {
            Some((f, rest)) => (f, rest.split_whitespace().next().unwrap_or("")),
            None => continue,
        };
        if fstype != "cgroup" && fstype != "cgroup2" {
            continue;
        }
        let Some(mount_point) = fields.split_whitespace().nth(4) else {
            continue;
        };
        let top = Path::new(mount_point)
            .join(root.trim_start_matches('/'))
            .join("kubepods");
        if top.is_dir() && rmdir_tree(&top) {
            removed.push(top);
        }
    }
    removed
}

/// `rmdir` of `dir`'s cgroups, deepest first; whether `dir` is gone.
fn rmdir_tree(dir: &Path) -> bool {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                rmdir_tree(&entry.path());
            }
        }
    }
    std::fs::remove_dir(dir).is_ok()
}

/// Removes `dir` with everything in it; a `dir` that is a mount point
/// (a disk of its own) is emptied and stays, as upstream's reset cleans
/// such directories.
fn remove_dir(dir: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() && !path.is_symlink() {
            std::fs::remove_dir_all(&path)?;
        } else {
            std::fs::remove_file(&path)?;
        }
    }
    match std::fs::remove_dir(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::ResourceBusy => Ok(()),
        other => other,
    }
}

/// Runs `reset`.
pub async fn run(paths: &Paths) -> Report {
    let mut report = Report::default();
    let units = controlplane::written(&paths.units_dir());
    if let Some(etcd) = units.iter().find(|u| u.name == "etcd") {
        let leave =
            tokio::time::timeout(std::time::Duration::from_secs(40), leave_etcd(paths, etcd));
        match leave.await {
            Ok(Ok(true)) => println!("[reset] Removed this node's member from the etcd cluster"),
            Ok(Ok(false)) => {}
            Ok(Err(e)) => eprintln!("[reset] Could not remove this node's etcd member: {e}"),
            Err(_) => eprintln!("[reset] Could not remove this node's etcd member: timed out"),
        }
    }
    if supervisor::stop(paths) {
        println!("[reset] Stopped the supervised processes (kubeadm supervise)");
    }
    let systemd = paths.is_host() && !units.is_empty() && Path::new("/run/systemd/system").exists();
    if systemd {
        let names: Vec<String> = units
            .iter()
            .map(|u| format!("{}.service", u.name))
            .collect();
        let mut args = vec!["disable", "--now"];
        args.extend(names.iter().map(String::as_str));
        if let Err(e) = init::systemctl(&args) {
            eprintln!("[reset] {e}");
        }
        println!("[reset] Stopped {}", names.join(", "));
    }
    if let Some(kubelet) = units.iter().find(|u| u.name == "kubelet") {
        let removed = remove_pods(kubelet);
        if removed > 0 {
            println!("[reset] Removed {removed} pod sandbox(es) and their containers");
        }
        // On a machine the kubelet's pods' cgroups are the machine's
        // (a lab's or test's are below a cgroupRoot of their own).
        if systemd {
            for dir in remove_pod_cgroups(kubelet) {
                println!("[reset] Deleted cgroup {:?}", dir.display().to_string());
            }
        }
    }
    for dir in [paths.kubelet_dir(), paths.etcd_data_dir()] {
        for mount in mounts_under(&dir) {
            let ok = std::process::Command::new("umount")
                .arg("-l")
                .arg(&mount)
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            if ok {
                report.unmounted.push(mount);
            }
        }
    }
    let mut doomed: Vec<PathBuf> = units.iter().map(|u| u.path(&paths.units_dir())).collect();
    doomed.extend([
        paths.kubernetes_dir(),
        paths.etcd_data_dir(),
        paths.kubelet_dir(),
        paths.run_dir(),
        paths.log_dir(),
    ]);
    for path in doomed {
        let gone = if path.is_dir() {
            remove_dir(&path)
        } else {
            std::fs::remove_file(&path)
        };
        if gone.is_ok() {
            println!("[reset] Deleted {:?}", path.display().to_string());
            report.removed.push(path);
        }
    }
    if systemd {
        let _ = init::systemctl(&["daemon-reload"]);
    }
    println!("\nThe reset process does not reset or clean up iptables rules or IPVS tables.");
    println!("The kubelet's service proxy chains (KUBE-*) can be removed with iptables -F/-X.\n");
    println!(
        "The reset process does not clean your kubeconfig files and you must remove them manually."
    );
    println!("Please, check the contents of the $HOME/.kube/config file.");
    report
}
