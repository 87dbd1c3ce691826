//! What to run: the container as Kubernetes describes it ([`ContainerConfig`]),
//! merged with the image's defaults into the fully resolved [`ContainerSpec`]
//! that the monitor and the init process read from `spec.json`.
//!
//! The merge follows Kubernetes' rules: `command` replaces the image's
//! `ENTRYPOINT` (and then the image's `CMD` is ignored), `args` replace `CMD`;
//! environment variables of the container override the image's by name; the
//! working dir and user fall back to the image's.

use crate::cgroups::Resources;
use oci_spec::image::Config;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Mount propagation of a volume (Kubernetes' `mountPropagation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Propagation {
    /// `None`: private, no events either way.
    #[default]
    Private,
    /// `HostToContainer`: rslave, host mounts appear inside.
    HostToContainer,
    /// `Bidirectional`: rshared (privileged containers only).
    Bidirectional,
}

/// A bind mount of a host path (a volume) into the container, or, with
/// `image` set, an image's filesystem mounted read-only (an image volume).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Mount {
    /// Source on the host.
    pub host_path: PathBuf,
    /// Target inside the container.
    pub container_path: PathBuf,
    /// Mount read-only.
    #[serde(default)]
    pub read_only: bool,
    /// Propagation mode.
    #[serde(default)]
    pub propagation: Propagation,
    /// An image in the store (reference or id) whose filesystem is mounted
    /// here read-only instead of `host_path` (Kubernetes' image volumes,
    /// CRI's `Mount.image`); the caller pulls it first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
}

/// An image volume resolved at create time: where it goes and the image's
/// layers (as [`ContainerSpec::lower`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageMount {
    /// Target inside the container.
    pub container_path: PathBuf,
    /// The image's id (kept from garbage collection while mounted).
    pub image_id: String,
    /// Layer directory names (relative to `layers_dir`), top-most first.
    pub lower: Vec<String>,
}

/// The security knobs of a container (`securityContext`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecurityContext {
    /// `runAsUser`.
    pub run_as_user: Option<u32>,
    /// `runAsGroup`.
    pub run_as_group: Option<u32>,
    /// `runAsNonRoot`: refuse to start as uid 0.
    #[serde(default)]
    pub run_as_non_root: bool,
    /// `supplementalGroups` (pod level in Kubernetes).
    #[serde(default)]
    pub supplemental_groups: Vec<u32>,
    /// `privileged`: all capabilities, all devices, writable /sys, no masks.
    #[serde(default)]
    pub privileged: bool,
    /// `readOnlyRootFilesystem`.
    #[serde(default)]
    pub read_only_root_filesystem: bool,
    /// `allowPrivilegeEscalation` (default true, as in Kubernetes); false sets
    /// `no_new_privs`.
    pub allow_privilege_escalation: Option<bool>,
    /// `capabilities.add` (`NET_ADMIN` or `CAP_NET_ADMIN`, `ALL`).
    #[serde(default)]
    pub capabilities_add: Vec<String>,
    /// `capabilities.drop`.
    #[serde(default)]
    pub capabilities_drop: Vec<String>,
}

/// Resources as Kubernetes states them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceRequirements {
    /// `requests.cpu` in millicores.
    pub cpu_request_milli: Option<u64>,
    /// `limits.cpu` in millicores.
    pub cpu_limit_milli: Option<u64>,
    /// `requests.memory` in bytes.
    pub memory_request_bytes: Option<i64>,
    /// `limits.memory` in bytes.
    pub memory_limit_bytes: Option<i64>,
    /// Maximum processes (kubelet's `podPidsLimit`).
    pub pids_limit: Option<i64>,
}

impl ResourceRequirements {
    /// Translates to cgroup values. No cpu request and no limit gets the
    /// fewest shares (2), as the kubelet gives such containers, so a
    /// container without a request yields to every one with a request.
    pub fn to_cgroup(&self) -> Resources {
        let request = self.cpu_request_milli.or(self.cpu_limit_milli).or(Some(0));
        let mut r = Resources::from_millicpu(request, self.cpu_limit_milli);
        r.memory_limit_bytes = self.memory_limit_bytes;
        r.pids_limit = self.pids_limit;
        r
    }
}

/// A container as the kubelet (or `kubelet ctl run`) asks for it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerConfig {
    /// Container name, unique in the pod.
    pub name: String,
    /// Image reference.
    pub image: String,
    /// `command` (replaces ENTRYPOINT).
    pub command: Option<Vec<String>>,
    /// `args` (replace CMD).
    pub args: Option<Vec<String>>,
    /// `env`, in order.
    #[serde(default)]
    pub env: Vec<(String, String)>,
    /// `workingDir`.
    pub working_dir: Option<String>,
    /// Volume mounts.
    #[serde(default)]
    pub mounts: Vec<Mount>,
    /// Requests and limits.
    #[serde(default)]
    pub resources: ResourceRequirements,
    /// `securityContext`.
    #[serde(default)]
    pub security: SecurityContext,
    /// Keep a stdin open (`stdin: true`) that `attach` can write to.
    #[serde(default)]
    pub stdin: bool,
    /// Allocate a terminal.
    #[serde(default)]
    pub tty: bool,
    /// Restart count; selects the log file `<attempt>.log`.
    #[serde(default)]
    pub attempt: u32,
    /// Free-form labels.
    #[serde(default)]
    pub labels: std::collections::BTreeMap<String, String>,
    /// Share the pid namespace of this (running) container of the same pod,
    /// as an ephemeral container with `targetContainerName` does.
    #[serde(default)]
    pub target_container_id: Option<String>,
}

/// How the container's pid namespace is obtained.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PidMode {
    /// A new pid namespace: the container's process is pid 1.
    New,
    /// Join this pid namespace (the pod's, for `shareProcessNamespace`).
    Join(PathBuf),
    /// The host's (`hostPID`).
    Host,
}

/// Everything the monitor and init need, resolved (`spec.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerSpec {
    /// Container id.
    pub id: String,
    /// Sandbox id.
    pub sandbox_id: String,
    /// The config it came from.
    pub config: ContainerConfig,
    /// Image id.
    pub image_id: String,
    /// argv.
    pub args: Vec<String>,
    /// `KEY=value`.
    pub env: Vec<String>,
    /// Working directory.
    pub cwd: String,
    /// User as the image states it (`uid[:gid]` or `name[:group]`), resolved by
    /// init against the container's `/etc/passwd`.
    pub user: String,
    /// Layer directory names (relative to `layers_dir`), top-most first.
    pub lower: Vec<String>,
    /// The image store's layer directory.
    pub layers_dir: PathBuf,
    /// The container's record directory (`spec.json`, `state.json`, the
    /// `rootfs/` mount point), in memory ([`crate::run_dir`]).
    pub dir: PathBuf,
    /// The container's writable layer (overlayfs `upper/` and `work/`), on
    /// disk. Empty in the specs of a runtime from before the records moved
    /// into memory, which kept the layer in `dir` ([`ContainerSpec::writable`]).
    #[serde(default)]
    pub writable_dir: PathBuf,
    /// Namespaces to join (`/proc/<holder>/ns/<kind>` by kind).
    pub join_namespaces: Vec<(String, PathBuf)>,
    /// Pid namespace mode.
    pub pid_mode: PidMode,
    /// Hostname of the pod (already set on the shared uts namespace).
    pub hostname: String,
    /// The runtime's mount template to unshare from
    /// ([`crate::mount_template`]), if it has one.
    #[serde(default)]
    pub mount_template: Option<PathBuf>,
    /// Files to bind into `/etc` (hosts, hostname, resolv.conf) from the sandbox.
    pub etc_files: Vec<(PathBuf, String)>,
    /// The image volumes, resolved from the `image` mounts of the config.
    #[serde(default)]
    pub image_mounts: Vec<ImageMount>,
    /// cgroup path relative to the hierarchy root.
    pub cgroup_path: String,
    /// `cgroup.procs` files init writes itself into.
    pub cgroup_procs: Vec<PathBuf>,
    /// cgroup filesystems to mount below `/sys/fs/cgroup` (read-only unless
    /// privileged), showing the container its own cgroup as the root.
    #[serde(default)]
    pub cgroup_mounts: Vec<crate::cgroups::FsMount>,
    /// Effective capability names (`CAP_...`).
    pub capabilities: Vec<String>,
    /// Set `no_new_privs`.
    pub no_new_privs: bool,
    /// CRI log file.
    pub log_path: PathBuf,
    /// Rotate the log above this size.
    pub log_max_size: u64,
    /// Keep this many log files.
    pub log_max_files: usize,
}

impl ContainerSpec {
    /// Where the writable layer's `upper/` and `work/` are.
    pub fn writable(&self) -> &Path {
        if self.writable_dir.as_os_str().is_empty() {
            &self.dir
        } else {
            &self.writable_dir
        }
    }
}

/// Why a spec could not be built.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// No command at all: neither the pod nor the image says what to run.
    #[error(
        "no command specified: the image has no ENTRYPOINT/CMD and the container no command/args"
    )]
    NoCommand,
    /// An unknown capability name.
    #[error("unknown capability {0:?}")]
    Capability(String),
}

/// Merges argv the Kubernetes way.
pub fn merge_args(
    command: Option<&[String]>,
    args: Option<&[String]>,
    image: &Config,
) -> Result<Vec<String>, Error> {
    let entry: Vec<String> = match command {
        Some(c) if !c.is_empty() => c.to_vec(),
        _ => image.entrypoint().clone().unwrap_or_default(),
    };
    let cmd_overridden = command.is_some_and(|c| !c.is_empty());
    let rest: Vec<String> = match args {
        Some(a) if !a.is_empty() => a.to_vec(),
        _ if cmd_overridden => Vec::new(),
        _ => image.cmd().clone().unwrap_or_default(),
    };
    let all: Vec<String> = entry.into_iter().chain(rest).collect();
    if all.is_empty() {
        return Err(Error::NoCommand);
    }
    Ok(all)
}

/// Merges environment variables: image first, container overrides by name;
/// `PATH` gets a default if nobody set it.
pub fn merge_env(image: &Config, env: &[(String, String)], hostname: &str) -> Vec<String> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut set = |k: &str, v: &str| {
        if let Some(e) = out.iter_mut().find(|(ek, _)| ek == k) {
            e.1 = v.to_string();
        } else {
            out.push((k.to_string(), v.to_string()));
        }
    };
    set(
        "PATH",
        "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    );
    set("HOSTNAME", hostname);
    for kv in image.env().iter().flatten() {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        set(k, v);
    }
    for (k, v) in env {
        set(k, v);
    }
    out.into_iter().map(|(k, v)| format!("{k}={v}")).collect()
}

/// Docker's default capability set, which Kubernetes inherits from the runtime.
pub const DEFAULT_CAPABILITIES: [&str; 14] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Normalizes `net_admin` / `NET_ADMIN` / `CAP_NET_ADMIN` to `CAP_NET_ADMIN`.
pub fn normalize_cap(name: &str) -> String {
    let up = name.trim().to_ascii_uppercase();
    if up.starts_with("CAP_") || up == "ALL" {
        up
    } else {
        format!("CAP_{up}")
    }
}

/// Every capability the kernel headers we know of define.
pub fn all_capabilities() -> Vec<String> {
    rustix::thread::CapabilitySet::all()
        .iter_names()
        .map(|(n, _)| format!("CAP_{n}"))
        .collect()
}

/// The capabilities a container can be given: every one the kernel headers
/// define that this process holds itself. A privileged container (or `add:
/// [ALL]`) gets these, as containerd grants "all current capabilities": a
/// host that withholds one from the runtime (this development machine keeps
/// `CAP_SYS_RESOURCE` out of our bounding set) would otherwise fail every
/// privileged container with EPERM from `capset`.
pub fn grantable_capabilities() -> Vec<String> {
    let all = rustix::thread::CapabilitySet::all();
    let held = rustix::thread::capabilities(None)
        .map(|s| s.permitted)
        .unwrap_or(all);
    (all & held)
        .iter_names()
        .map(|(n, _)| format!("CAP_{n}"))
        .collect()
}

/// Default set, then `add`, then `drop` (`ALL` works in both); privileged gets
/// every grantable one.
pub fn capabilities(sec: &SecurityContext) -> Result<Vec<String>, Error> {
    let all = grantable_capabilities();
    let known = all_capabilities();
    if sec.privileged {
        return Ok(all);
    }
    let mut caps: Vec<String> = DEFAULT_CAPABILITIES.iter().map(|s| s.to_string()).collect();
    for a in &sec.capabilities_add {
        let a = normalize_cap(a);
        if a == "ALL" {
            caps = all.clone();
        } else if !known.contains(&a) {
            return Err(Error::Capability(a));
        } else if !caps.contains(&a) {
            caps.push(a);
        }
    }
    for d in &sec.capabilities_drop {
        let d = normalize_cap(d);
        if d == "ALL" {
            caps.clear();
        } else {
            caps.retain(|c| *c != d);
        }
    }
    Ok(caps)
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::image::ConfigBuilder;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn argv_merge_follows_kubernetes() {
        let img = ConfigBuilder::default()
            .entrypoint(v(&["/entry"]))
            .cmd(v(&["default"]))
            .build()
            .unwrap();
        assert_eq!(
            merge_args(None, None, &img).unwrap(),
            v(&["/entry", "default"])
        );
        assert_eq!(
            merge_args(None, Some(&v(&["x"])), &img).unwrap(),
            v(&["/entry", "x"])
        );
        assert_eq!(
            merge_args(Some(&v(&["/bin/sh"])), None, &img).unwrap(),
            v(&["/bin/sh"])
        );
        assert_eq!(
            merge_args(Some(&v(&["/bin/sh"])), Some(&v(&["-c", "true"])), &img).unwrap(),
            v(&["/bin/sh", "-c", "true"])
        );
        assert_eq!(
            merge_args(None, None, &Config::default()),
            Err(Error::NoCommand)
        );
    }

    #[test]
    fn env_merge_overrides_by_name() {
        let img = ConfigBuilder::default()
            .env(v(&["PATH=/bin", "A=1", "B=2"]))
            .build()
            .unwrap();
        let env = merge_env(
            &img,
            &[("B".into(), "3".into()), ("C".into(), "4".into())],
            "pod",
        );
        assert_eq!(env, v(&["PATH=/bin", "HOSTNAME=pod", "A=1", "B=3", "C=4"]));
    }

    #[test]
    fn capability_add_and_drop() {
        let sec = SecurityContext {
            capabilities_add: v(&["net_admin"]),
            capabilities_drop: v(&["CAP_KILL", "chown"]),
            ..Default::default()
        };
        let caps = capabilities(&sec).unwrap();
        assert!(caps.contains(&"CAP_NET_ADMIN".to_string()));
        assert!(!caps.contains(&"CAP_KILL".to_string()));
        assert!(!caps.contains(&"CAP_CHOWN".to_string()));
        assert_eq!(caps.len(), 13);
        let drop_all = SecurityContext {
            capabilities_drop: v(&["ALL"]),
            capabilities_add: v(&["NET_BIND_SERVICE"]),
            ..Default::default()
        };
        assert!(
            capabilities(&drop_all).unwrap().is_empty(),
            "drop applies after add"
        );
        let bad = SecurityContext {
            capabilities_add: v(&["FLY"]),
            ..Default::default()
        };
        assert_eq!(capabilities(&bad), Err(Error::Capability("CAP_FLY".into())));
        let p = SecurityContext {
            privileged: true,
            ..Default::default()
        };
        assert!(capabilities(&p)
            .unwrap()
            .contains(&"CAP_SYS_ADMIN".to_string()));
    }
}
