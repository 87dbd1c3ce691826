//! Where kubeadm keeps what it makes: upstream's fixed paths
//! (`/etc/kubernetes`, `/etc/kubernetes/pki`, `/var/lib/etcd`,
//! `/var/lib/kubelet`, the systemd units in `/etc/systemd/system`), all
//! under one root directory.
//!
//! The root is `/` on a real machine. `--host-root DIR` (ours: upstream has
//! no such flag) moves every path under `DIR`, so a test or a network
//! namespace "machine" installs into a directory of its own.

use std::path::{Path, PathBuf};

/// The directory layout of one machine.
#[derive(Debug, Clone)]
pub struct Paths {
    root: PathBuf,
}

impl Paths {
    /// The layout under `root` (`/` on a real machine).
    pub fn new(root: impl Into<PathBuf>) -> Paths {
        Paths { root: root.into() }
    }

    /// The root every other path is under.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn at(&self, path: &str) -> PathBuf {
        self.root.join(path.trim_start_matches('/'))
    }

    /// `/etc/kubernetes`: the kubeconfigs.
    pub fn kubernetes_dir(&self) -> PathBuf {
        self.at("/etc/kubernetes")
    }

    /// `/etc/kubernetes/pki`: certificates and keys.
    pub fn pki_dir(&self) -> PathBuf {
        self.kubernetes_dir().join("pki")
    }

    /// `/etc/kubernetes/<name>`, e.g. `admin.conf`.
    pub fn kubeconfig(&self, name: &str) -> PathBuf {
        self.kubernetes_dir().join(name)
    }

    /// `/var/lib/etcd`: etcd's data.
    pub fn etcd_data_dir(&self) -> PathBuf {
        self.at("/var/lib/etcd")
    }

    /// `/var/lib/kubelet`: the kubelet's state and `config.yaml`.
    pub fn kubelet_dir(&self) -> PathBuf {
        self.at("/var/lib/kubelet")
    }

    /// `/etc/systemd/system`: the units kubeadm writes.
    pub fn units_dir(&self) -> PathBuf {
        self.at("/etc/systemd/system")
    }

    /// `/etc/cni/net.d`: the pod network's configuration on the node.
    pub fn cni_conf_dir(&self) -> PathBuf {
        self.at("/etc/cni/net.d")
    }

    /// `/run/kubeadm`: the supervisor's pid file (processes mode).
    pub fn run_dir(&self) -> PathBuf {
        self.at("/run/kubeadm")
    }

    /// `/var/log/kubeadm`: each supervised process's log (processes mode).
    pub fn log_dir(&self) -> PathBuf {
        self.at("/var/log/kubeadm")
    }

    /// Whether this is the real root (units go to systemd).
    pub fn is_host(&self) -> bool {
        self.root == Path::new("/")
    }
}
