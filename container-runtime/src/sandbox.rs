//! The pod sandbox: the namespaces a pod's containers share.
//!
//! Kubernetes keeps a pod's network, IPC and UTS namespaces alive with a
//! "pause" container, so that containers can come and go (crash, restart)
//! without the pod losing its IP address or hostname. Ours needs no process
//! at all: a namespace lives as long as something refers to it, and a bind
//! mount of its `/proc/.../ns/<kind>` handle onto a file is such a reference
//! (what `ip netns add` and CRI-O's `pinns` do). A short-lived thread of the
//! runtime `unshare`s the pod's namespaces, brings up `lo`, sets the
//! hostname and the pod's sysctls, bind-mounts its own handles onto
//! `<sandbox dir>/ns/{net,uts,ipc}` and ends; containers join the pinned
//! files, CNI gets `ns/net` as the pod's netns path, and stopping the sandbox
//! unmounts them. A pod then costs no process, no exec and no cgroup
//! migration, and the pins survive a kubelet restart (they live in the host's
//! mount namespace; a kubelet started in a private mount namespace, as by
//! `ip netns exec`, would not see them again after a restart).
//!
//! `hostNetwork` (host net and uts), `hostIPC` and `hostPID` skip the
//! corresponding namespaces. A pid namespace cannot be pinned (it dies with
//! its pid 1), so with `shareProcessNamespace` a *holder* process
//! (`kubelet __sandbox`) joins the pinned namespaces, creates a pid
//! namespace and starts `kubelet __pause` as its pid 1, which only reaps
//! orphans; every container joins that pid namespace.

use super::cgroups::{self, Qos};
use super::state::{self, read_json, write_json};
use super::{io_err, namespaces, Error, Result, Runtime};
use nix::sched::CloneFlags;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A pod as the runtime needs to know it (CRI's `PodSandboxConfig`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodSandboxConfig {
    /// Pod name.
    pub name: String,
    /// Pod namespace.
    pub namespace: String,
    /// Pod uid.
    pub uid: String,
    /// Hostname (defaults to the pod name).
    pub hostname: Option<String>,
    /// `hostNetwork`.
    #[serde(default)]
    pub host_network: bool,
    /// `hostPID`.
    #[serde(default)]
    pub host_pid: bool,
    /// `hostIPC`.
    #[serde(default)]
    pub host_ipc: bool,
    /// `shareProcessNamespace`.
    #[serde(default)]
    pub share_process_namespace: bool,
    /// QoS class (decides the cgroup parent).
    pub qos: Option<Qos>,
    /// Labels.
    #[serde(default)]
    pub labels: std::collections::BTreeMap<String, String>,
    /// Namespaced kernel parameters (`securityContext.sysctls`), set in
    /// the pod's network and IPC namespaces when the sandbox starts.
    #[serde(default)]
    pub sysctls: std::collections::BTreeMap<String, String>,
}

/// The `/proc/sys` file of a sysctl: dots separate its segments, unless it
/// uses slashes (then dots belong to a segment, as in
/// `net/ipv4/conf/eth0.100/rp_filter`).
pub fn sysctl_path(name: &str) -> PathBuf {
    let rel = if name.contains('/') {
        name.to_string()
    } else {
        name.replace('.', "/")
    };
    Path::new("/proc/sys").join(rel.trim_start_matches('/'))
}

/// Writes the pod's sysctls from inside its new namespaces. A parameter of
/// a namespace the pod shares with the host is refused: it would change the
/// whole node.
fn apply_sysctls(c: &PodSandboxConfig) -> Result<(), String> {
    for (name, value) in &c.sysctls {
        let dotted = name.replace('/', ".");
        let ipc = ["kernel.shm", "kernel.msg", "kernel.sem", "fs.mqueue."];
        if (c.host_network && dotted.starts_with("net."))
            || (c.host_ipc && ipc.iter().any(|p| dotted.starts_with(p)))
        {
            return Err(format!(
                "sysctl {name:?} is not allowed in a pod sharing the host's namespace"
            ));
        }
        let path = sysctl_path(name);
        if path
            .components()
            .any(|c| c == std::path::Component::ParentDir)
        {
            return Err(format!("invalid sysctl name {name:?}"));
        }
        std::fs::write(&path, value)
            .map_err(|e| format!("setting sysctl {name}={value:?}: {e}"))?;
    }
    Ok(())
}

/// Sandbox lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PodSandboxState {
    /// Namespaces held.
    Ready,
    /// Holder gone or stopped.
    NotReady,
}

/// `sandbox.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodSandbox {
    /// Sandbox id.
    pub id: String,
    /// The pod.
    pub config: PodSandboxConfig,
    /// The directory holding the pinned namespaces (`<sandbox dir>/ns`);
    /// `None` in a record written before namespaces were pinned, whose
    /// containers join the holder's `/proc/<pid>/ns/*` instead.
    #[serde(default)]
    pub pins: Option<PathBuf>,
    /// Host pid of the holder: the pid-1 process of a shared pid namespace
    /// (0 when the pod has none, or when stopped).
    pub holder_pid: i32,
    /// Its start time.
    pub holder_start: u64,
    /// Recorded state (refreshed against the pins and the holder when read).
    pub state: PodSandboxState,
    /// RFC 3339 creation time.
    pub created_at: String,
    /// The pod's cgroup (relative path).
    pub cgroup_path: String,
    /// `/var/log/pods/<ns>_<name>_<uid>`.
    pub log_dir: PathBuf,
    /// Hostname.
    pub hostname: String,
}

impl PodSandbox {
    /// The handle of the pod's own namespace of `kind` (a pinned file, or
    /// the holder's `/proc/<pid>/ns/<kind>`), when the pod has its own.
    pub fn ns(&self, kind: &str) -> Option<PathBuf> {
        if !self.owns(kind) {
            return None;
        }
        match (&self.pins, kind) {
            (Some(dir), "net" | "uts" | "ipc") => Some(dir.join(kind)),
            _ if self.holder_pid > 0 => Some(namespaces::ns_path(self.holder_pid, kind)),
            _ => None,
        }
    }

    /// Whether the pod has its own namespace of `kind` (not the host's).
    fn owns(&self, kind: &str) -> bool {
        match kind {
            "net" | "uts" => !self.config.host_network,
            "ipc" => !self.config.host_ipc,
            "pid" => self.config.share_process_namespace && !self.config.host_pid,
            _ => false,
        }
    }

    /// The namespaces of this pod that are pinned (net, uts, ipc it owns).
    fn pinned_kinds(&self) -> Vec<&'static str> {
        PINNED.into_iter().filter(|k| self.owns(k)).collect()
    }

    /// Whether everything that keeps the pod's namespaces is still there:
    /// each pin is a mounted namespace handle, and the holder (when the pod
    /// has one) runs.
    fn alive(&self) -> bool {
        let pins_ok = match &self.pins {
            Some(dir) => self.pinned_kinds().iter().all(|k| is_pinned(&dir.join(k))),
            None => true,
        };
        let needs_holder = self.pins.is_none() || self.owns("pid");
        pins_ok && (!needs_holder || state::alive(self.holder_pid, self.holder_start))
    }
}

/// Which sandboxes a listing returns (CRI's `PodSandboxFilter`, with the
/// pod's uid, which CRI keeps in the sandbox's metadata): all by default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodSandboxFilter {
    /// Only the sandboxes of this pod.
    pub pod_uid: Option<String>,
}

impl PodSandboxFilter {
    /// The sandboxes of the pod `uid`.
    pub fn pod(uid: &str) -> PodSandboxFilter {
        PodSandboxFilter {
            pod_uid: Some(uid.to_string()),
        }
    }

    fn matches(&self, rec: &PodSandbox) -> bool {
        self.pod_uid.as_ref().is_none_or(|u| *u == rec.config.uid)
    }
}

/// The namespaces a sandbox pins (the pid namespace needs a process).
const PINNED: [&str; 3] = ["net", "uts", "ipc"];

/// `NSFS_MAGIC`: the filesystem type of a namespace handle.
const NSFS_MAGIC: u64 = 0x6e73_6673;

/// Whether `path` is a bind-mounted namespace handle (an unmounted pin is
/// the empty file it was mounted on).
fn is_pinned(path: &Path) -> bool {
    nix::sys::statfs::statfs(path)
        .map(|st| st.filesystem_type().0 as u64 == NSFS_MAGIC)
        .unwrap_or(false)
}

/// Creates the pod's namespaces in a thread of its own and pins them under
/// `pins`. Namespaces of net, uts and ipc belong to a thread, not to the
/// whole process, so the thread's `unshare` leaves the rest of the runtime
/// where it was; the bind mounts land in the process' (shared) mount
/// namespace and keep the namespaces after the thread ends.
fn pin_namespaces(rec: &PodSandbox, pins: &Path) -> Result<(), String> {
    let kinds = rec.pinned_kinds();
    if kinds.is_empty() {
        return Ok(());
    }
    std::fs::create_dir_all(pins).map_err(|e| format!("creating {}: {e}", pins.display()))?;
    let (config, hostname, pins) = (rec.config.clone(), rec.hostname.clone(), pins.to_path_buf());
    std::thread::Builder::new()
        .name("sandbox-ns".into())
        .spawn(move || {
            let mut flags = CloneFlags::empty();
            for k in &kinds {
                flags |= namespaces::flag(k).unwrap_or(CloneFlags::empty());
            }
            namespaces::unshare(flags).map_err(|e| e.to_string())?;
            if !config.host_network {
                namespaces::loopback_up().map_err(|e| e.to_string())?;
                nix::unistd::sethostname(&hostname)
                    .map_err(|e| format!("sethostname {hostname:?}: {e}"))?;
            }
            apply_sysctls(&config)?;
            for k in kinds {
                let pin = pins.join(k);
                std::fs::File::create(&pin)
                    .map_err(|e| format!("creating {}: {e}", pin.display()))?;
                let handle = format!("/proc/thread-self/ns/{k}");
                nix::mount::mount(
                    Some(handle.as_str()),
                    &pin,
                    None::<&str>,
                    nix::mount::MsFlags::MS_BIND,
                    None::<&str>,
                )
                .map_err(|e| format!("pinning {handle} on {}: {e}", pin.display()))?;
            }
            Ok(())
        })
        .map_err(|e| format!("starting the namespace thread: {e}"))?
        .join()
        .map_err(|_| "the namespace thread panicked".to_string())?
}

/// Unmounts every pin under `pins` (a missing or unmounted one is fine),
/// which lets the namespaces go once no process is left in them.
fn unpin_namespaces(pins: &Path) {
    for k in PINNED {
        let pin = pins.join(k);
        if is_pinned(&pin) {
            if let Err(e) = nix::mount::umount2(&pin, nix::mount::MntFlags::MNT_DETACH) {
                tracing::warn!(pin = %pin.display(), error = %e, "unpinning a namespace failed");
            }
        }
    }
}

/// Unmounts every mount below `dir` (pinned namespaces of sandboxes whose
/// records are gone, e.g. the state of a killed run), deepest first, so the
/// directory can be removed.
pub fn unmount_below(dir: &Path) {
    let _ = unmount_below_matching(dir, |_, _| true);
}

/// Unmounts the mounts strictly below `dir` that `matches` takes (by mount
/// point and filesystem type), deepest first (a mount stacked on another is
/// unmounted once per layer), as the calling thread's mount namespace shows
/// them: a thread may have one of its own ([`crate::mount_template`]).
pub(crate) fn unmount_below_matching(
    dir: &Path,
    matches: impl Fn(&Path, &str) -> bool,
) -> std::io::Result<()> {
    let info = std::fs::read_to_string("/proc/thread-self/mountinfo")?;
    let mut points: Vec<PathBuf> = info
        .lines()
        .filter_map(|l| {
            let point = Path::new(l.split(' ').nth(4)?);
            let kind = l.split(" - ").nth(1)?.split(' ').next()?;
            (point.starts_with(dir) && point != dir && matches(point, kind))
                .then(|| point.to_path_buf())
        })
        .collect();
    points.sort_by(|a, b| b.cmp(a));
    for p in points {
        // One already gone with its parent fails: nothing left to do.
        let _ = nix::mount::umount2(&p, nix::mount::MntFlags::MNT_DETACH);
    }
    Ok(())
}

/// The header of a host-network pod's `/etc/hosts`, as upstream's kubelet
/// writes it (the e2e specs tell a managed file by the header without
/// "(host network)").
pub const HOST_NETWORK_HOSTS_HEADER: &str = "# Kubernetes-managed hosts file (host network).\n";

/// `/etc/hosts` of a pod on the host's network: the node's own file (a node
/// without one gives an empty file) after upstream's header, then `extra`
/// (the kubelet's HostAliases entries).
pub fn host_network_hosts_file(extra: &str) -> String {
    let node = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
    let mut out = String::from(HOST_NETWORK_HOSTS_HEADER);
    out.push_str(&node);
    if !node.is_empty() && !node.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(extra);
    out
}

/// `/etc/hosts` of a pod.
pub fn hosts_file(hostname: &str) -> String {
    format!(
        "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n127.0.1.1\t{hostname}\n"
    )
}

impl Runtime {
    pub(crate) fn sandbox_dir(&self, id: &str) -> PathBuf {
        self.sandboxes_dir().join(id)
    }

    /// Creates a pod sandbox and starts its holder; returns the sandbox id.
    pub fn run_sandbox(&self, config: PodSandboxConfig) -> Result<String> {
        self.prepare_run_dir();
        let id = super::new_id();
        let dir = self.sandbox_dir(&id);
        std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        let hostname = config
            .hostname
            .clone()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| config.name.clone());
        let qos = config.qos.unwrap_or(Qos::BestEffort);
        let uid = if config.uid.is_empty() {
            id.clone()
        } else {
            config.uid.clone()
        };
        let cgroup_path = cgroups::pod_path(&self.cfg.cgroup_root, qos, &uid);
        let log_dir = self
            .cfg
            .pod_logs_dir
            .join(format!("{}_{}_{}", config.namespace, config.name, uid));
        let mut rec = PodSandbox {
            id: id.clone(),
            config,
            pins: Some(dir.join("ns")),
            holder_pid: 0,
            holder_start: 0,
            state: PodSandboxState::NotReady,
            created_at: state::now(),
            cgroup_path,
            log_dir,
            hostname,
        };
        let result = (|| {
            let hosts = if rec.config.host_network {
                host_network_hosts_file("")
            } else {
                hosts_file(&rec.hostname)
            };
            std::fs::write(dir.join("hosts"), hosts).map_err(io_err(&dir))?;
            std::fs::write(dir.join("hostname"), format!("{}\n", rec.hostname))
                .map_err(io_err(&dir))?;
            let resolv = std::fs::read("/etc/resolv.conf").unwrap_or_default();
            std::fs::write(dir.join("resolv.conf"), resolv).map_err(io_err(&dir))?;
            // Recorded first, so a failure below is undone by remove_sandbox.
            write_json(&dir.join("sandbox.json"), &rec).map_err(io_err(&dir))?;
            pin_namespaces(&rec, &dir.join("ns")).map_err(Error::Namespaces)?;
            if !rec.owns("pid") {
                // Containers make their cgroups below the pod's.
                self.cgroups
                    .create(&rec.cgroup_path, &cgroups::Resources::default())?;
                rec.state = PodSandboxState::Ready;
                return write_json(&dir.join("sandbox.json"), &rec).map_err(io_err(&dir));
            }
            self.cgroups.create(
                &format!("{}/sandbox", rec.cgroup_path),
                &cgroups::Resources::default(),
            )?;
            // The holder reads the record written above (pins included).
            let pid = self.start_holder(&dir)?;
            rec.holder_pid = pid;
            rec.holder_start = state::proc_start_time(pid).unwrap_or(0);
            rec.state = PodSandboxState::Ready;
            write_json(&dir.join("sandbox.json"), &rec).map_err(io_err(&dir))?;
            Ok(())
        })();
        if let Err(e) = result {
            let _ = self.remove_sandbox(&id);
            return Err(e);
        }
        tracing::info!(sandbox = %id, pod = %rec.config.name, pid = rec.holder_pid, "sandbox ready");
        Ok(id)
    }

    /// Starts the holder of a shared pid namespace (`__sandbox`), which
    /// answers with the pid of its pid-1 process.
    fn start_holder(&self, dir: &Path) -> Result<i32> {
        let (mut child, line) =
            self.spawn_helper("__sandbox", "sandbox holder", dir, Stdio::null())?;
        // The setup process exits once it has started the pid-1 process.
        let answer = line.strip_prefix("ok ").map(str::parse::<i32>);
        if answer.is_none() {
            let _ = child.kill();
        }
        let _ = child.wait();
        match answer {
            Some(Ok(pid)) => Ok(pid),
            _ => Err(Error::Spawn {
                what: "sandbox holder".into(),
                reason: line.trim_start_matches("error: ").to_string(),
            }),
        }
    }

    /// Reads a sandbox record (by id or unique prefix), refreshing its state.
    pub fn sandbox(&self, id: &str) -> Result<PodSandbox> {
        let id = Self::resolve_id(&self.sandboxes_dir(), "sandbox", id)?;
        let rec = self.sandbox_record(&id)?;
        Ok(Self::checked(&rec))
    }

    /// The record of sandbox `id` (a full id) as last written.
    fn sandbox_record(&self, id: &str) -> Result<std::sync::Arc<PodSandbox>> {
        let path = self.sandbox_dir(id).join("sandbox.json");
        self.sandbox_records
            .read(&path)
            .map_err(|_| Error::NotFound {
                kind: "sandbox",
                id: id.to_string(),
            })
    }

    /// The record with its state checked against the pins and the holder.
    fn checked(rec: &PodSandbox) -> PodSandbox {
        let mut rec = rec.clone();
        if rec.state == PodSandboxState::Ready && !rec.alive() {
            rec.state = PodSandboxState::NotReady;
        }
        rec
    }

    /// Every sandbox, oldest first.
    pub fn list_sandboxes(&self) -> Result<Vec<PodSandbox>> {
        self.list_sandboxes_filtered(&PodSandboxFilter::default())
    }

    /// The sandboxes `filter` selects, oldest first; only they are checked
    /// against their pins and holders.
    pub fn list_sandboxes_filtered(&self, filter: &PodSandboxFilter) -> Result<Vec<PodSandbox>> {
        let dir = self.sandboxes_dir();
        let (selected, _) = self
            .sandbox_records
            .select_in(&dir, "sandbox.json", |rec| filter.matches(rec))
            .map_err(io_err(&dir))?;
        let mut out: Vec<PodSandbox> = selected.iter().map(|rec| Self::checked(rec)).collect();
        out.sort_by(|a, b| a.created_at.cmp(&b.created_at));
        Ok(out)
    }

    /// Stops every container of the sandbox and its holder, and unpins its
    /// namespaces (CNI DEL, which needs the network namespace, comes first).
    pub fn stop_sandbox(&self, id: &str, grace: std::time::Duration) -> Result<()> {
        let mut rec = self.sandbox(id)?;
        let containers = self.sandbox_containers(&rec.id)?;
        self.stop_sandbox_contents(&rec, &containers, grace)?;
        rec.state = PodSandboxState::NotReady;
        let path = self.sandbox_dir(&rec.id).join("sandbox.json");
        write_json(&path, &rec).map_err(io_err(&path))
    }

    /// The containers of sandbox `id`.
    fn sandbox_containers(&self, id: &str) -> Result<Vec<crate::container::ContainerInfo>> {
        self.list_containers_filtered(&crate::container::ContainerFilter {
            pod_sandbox_id: Some(id.to_string()),
            ..Default::default()
        })
    }

    /// Stops what runs in the sandbox (its `containers`, its holder) and
    /// unpins its namespaces; the caller records the outcome.
    fn stop_sandbox_contents(
        &self,
        rec: &PodSandbox,
        containers: &[crate::container::ContainerInfo],
        grace: std::time::Duration,
    ) -> Result<()> {
        for c in containers {
            if c.state.status == state::Status::Running {
                self.stop_container(&c.spec.id, grace)?;
            }
        }
        if state::alive(rec.holder_pid, rec.holder_start) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(rec.holder_pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        if let Ok(mut ch) = self.children.lock() {
            if let Some(mut c) = ch.remove(&format!("sandbox-{}", rec.id)) {
                let _ = c.wait();
            }
        }
        if let Some(pins) = &rec.pins {
            unpin_namespaces(pins);
        }
        Ok(())
    }

    /// Stops and removes the sandbox, its containers, cgroups and logs.
    pub fn remove_sandbox(&self, id: &str) -> Result<()> {
        let rec = match self.sandbox(id) {
            Ok(r) => r,
            Err(Error::NotFound { .. }) => {
                // A half-created sandbox: just remove its directory.
                let dir = self.sandbox_dir(id);
                if dir.is_dir() {
                    unmount_below(&dir);
                    std::fs::remove_dir_all(&dir).map_err(io_err(&dir))?;
                }
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        // Stopped without recording it: the record goes with the directory.
        let containers = self.sandbox_containers(&rec.id)?;
        self.stop_sandbox_contents(&rec, &containers, std::time::Duration::ZERO)?;
        for c in &containers {
            self.remove_container(&c.spec.id)?;
        }
        self.cgroups.remove(&rec.cgroup_path)?;
        if rec.log_dir.starts_with(&self.cfg.pod_logs_dir) && rec.log_dir.is_dir() {
            let _ = std::fs::remove_dir_all(&rec.log_dir);
        }
        let dir = self.sandbox_dir(&rec.id);
        std::fs::remove_dir_all(&dir).map_err(io_err(&dir))?;
        Ok(())
    }
}

/// Entry point of `kubelet __sandbox <dir>`: start the pid-1 process of the
/// pod's shared pid namespace, answer `ok <its pid>` and exit.
pub fn holder_main(dir: &Path) -> i32 {
    let mut out = std::io::stdout();
    match holder_setup(dir) {
        Ok(pid) => {
            let _ = writeln!(out, "ok {pid}");
            0
        }
        Err(e) => {
            let _ = writeln!(out, "error: {e}");
            1
        }
    }
}

/// Entry point of `kubelet __pause`: pid 1 of a shared pid namespace.
pub fn pause_main() -> i32 {
    hold()
}

/// Joins the pod's cgroup and pinned namespaces (so that what the
/// containers see of their pid 1, like `/proc/1/net`, is the pod's), then
/// makes the pid namespace whose first process is `__pause`.
fn holder_setup(dir: &Path) -> Result<u32, String> {
    let rec: PodSandbox =
        read_json(&dir.join("sandbox.json")).map_err(|e| format!("reading sandbox.json: {e}"))?;
    super::timing("holder start");
    nix::unistd::setsid().map_err(|e| format!("setsid: {e}"))?;
    if let Ok(mgr) = cgroups::detect() {
        mgr.add_task(
            &format!("{}/sandbox", rec.cgroup_path),
            std::process::id() as i32,
        )
        .map_err(|e| e.to_string())?;
    }
    for kind in PINNED {
        if let Some(path) = rec.ns(kind) {
            namespaces::open(&path, kind)
                .and_then(|h| h.join())
                .map_err(|e| e.to_string())?;
        }
    }
    namespaces::unshare(CloneFlags::CLONE_NEWPID).map_err(|e| e.to_string())?;
    let child = Command::new("/proc/self/exe")
        .arg("__pause")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("starting pause: {e}"))?;
    Ok(child.id())
}

/// Sleeps forever, reaping any process that gets re-parented to us.
fn hold() -> i32 {
    loop {
        match nix::sys::wait::waitpid(None, None) {
            Ok(_) => {}
            Err(_) => std::thread::sleep(std::time::Duration::from_secs(1)),
        }
    }
}
