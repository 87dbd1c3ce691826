//! Control groups: how the kernel limits and accounts the resources of a group
//! of processes.
//!
//! A cgroup is a directory in a special filesystem; writing a pid into its
//! `cgroup.procs` file moves that process (and its future children) into it, and
//! the other files are the knobs (`memory.max`, `cpu.max`, ...) and the meters
//! (`memory.current`, `cpu.stat`). The kubelet builds the same tree Kubernetes
//! does:
//!
//! ```text
//! kubepods/                       all pods
//!   pod<uid>/<container-id>       Guaranteed pods sit right below kubepods
//!   burstable/pod<uid>/<id>       Burstable pods
//!   besteffort/pod<uid>/<id>      BestEffort pods
//! ```
//!
//! There are two versions of the interface. **v1** has one tree per controller
//! (`/sys/fs/cgroup/memory/kubepods/...`, `/sys/fs/cgroup/cpu/kubepods/...`), **v2**
//! one unified tree where a parent must enable controllers for its children in
//! `cgroup.subtree_control`. Which one a host uses is detected from
//! `/proc/self/mountinfo` when the runtime starts; both implement
//! [`CgroupManager`], one file per controller.

pub mod v1;
pub mod v2;

use std::fs;
use std::path::{Path, PathBuf};

/// Errors of the cgroup layer; each carries the path (and value) involved.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Writing a cgroup file failed.
    #[error("writing {value:?} to {path}: {source}")]
    Write {
        /// File written.
        path: PathBuf,
        /// Value written.
        value: String,
        /// OS error.
        #[source]
        source: std::io::Error,
    },
    /// Reading a cgroup file failed.
    #[error("reading {path}: {source}")]
    Read {
        /// File read.
        path: PathBuf,
        /// OS error.
        #[source]
        source: std::io::Error,
    },
    /// Creating or removing a cgroup directory failed.
    #[error("{op} cgroup {path}: {source}")]
    Dir {
        /// `creating` or `removing`.
        op: &'static str,
        /// The directory.
        path: PathBuf,
        /// OS error.
        #[source]
        source: std::io::Error,
    },
    /// A controller the kubelet needs is not available on this host.
    #[error("the {controller} cgroup controller is not available ({version}): {hint}")]
    MissingController {
        /// Controller name.
        controller: &'static str,
        /// `cgroup v1` or `cgroup v2`.
        version: &'static str,
        /// What to do about it.
        hint: String,
    },
    /// No cgroup filesystem found at all.
    #[error("no cgroup filesystem mounted (looked in /proc/self/mountinfo)")]
    NotMounted,
}

/// Result with the cgroup error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The controllers the runtime uses.
pub const CONTROLLERS: [&str; 3] = ["cpu", "memory", "pids"];

/// Which cgroup interface the host uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Version {
    /// One hierarchy per controller.
    V1,
    /// The unified hierarchy.
    V2,
}

/// Limits for one cgroup, already translated from Kubernetes quantities.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Resources {
    /// CPU request as v1 shares (1024 = one CPU); v2 converts to a weight.
    pub cpu_shares: Option<u64>,
    /// CPU limit: microseconds of CPU time per period.
    pub cpu_quota_us: Option<i64>,
    /// CPU period in microseconds (100000 by default).
    pub cpu_period_us: Option<u64>,
    /// Memory limit in bytes.
    pub memory_limit_bytes: Option<i64>,
    /// Maximum number of processes.
    pub pids_limit: Option<i64>,
}

/// Default CFS period, as in Kubernetes.
pub const DEFAULT_CPU_PERIOD_US: u64 = 100_000;

impl Resources {
    /// Translates Kubernetes millicores: requests -> shares, limits -> quota.
    pub fn from_millicpu(request_milli: Option<u64>, limit_milli: Option<u64>) -> Self {
        let cpu_shares = request_milli
            .or(limit_milli)
            .map(|m| (m * 1024 / 1000).max(2));
        let cpu_quota_us =
            limit_milli.map(|m| ((m * DEFAULT_CPU_PERIOD_US / 1000) as i64).max(1000));
        Resources {
            cpu_shares,
            cpu_quota_us,
            cpu_period_us: cpu_quota_us.map(|_| DEFAULT_CPU_PERIOD_US),
            ..Default::default()
        }
    }
}

/// Converts v1 shares (2..262144) to a v2 weight (1..10000), the formula runc
/// and the kubelet use.
pub fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 100;
    }
    let s = shares.clamp(2, 262_144);
    1 + ((s - 2) * 9999) / 262_142
}

/// Usage of one cgroup.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    /// Total CPU time used, nanoseconds.
    pub cpu_usage_ns: u64,
    /// Memory charged, bytes.
    pub memory_usage_bytes: u64,
    /// Usage minus inactive file cache (what the kubelet evicts on).
    pub memory_working_set_bytes: u64,
    /// Number of processes.
    pub pids: u64,
    /// How many times the OOM killer killed a process in this cgroup.
    pub oom_kills: u64,
}

/// A cgroup filesystem a container gets below its `/sys/fs/cgroup`, so that
/// programs inside can read their own limits (`cpu.cfs_quota_us`,
/// `memory.max`). Mounted by the container's init after it entered its own
/// cgroup namespace, so the root of what it sees is its own cgroup.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FsMount {
    /// Directory below `/sys/fs/cgroup` (`memory`, or empty for the v2 tree).
    pub target: String,
    /// `cgroup` (v1) or `cgroup2`.
    pub fstype: String,
    /// Mount data: the v1 controllers of the hierarchy (`cpu`, `cpu,cpuacct`).
    pub data: String,
}

/// Kubernetes Quality of Service classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Qos {
    /// Every container has equal cpu and memory requests and limits.
    Guaranteed,
    /// Some requests or limits.
    Burstable,
    /// None at all.
    BestEffort,
}

/// The cgroup path of a pod, relative to the hierarchy root.
pub fn pod_path(root: &str, qos: Qos, pod_uid: &str) -> String {
    let uid = pod_uid.replace('-', "_");
    match qos {
        Qos::Guaranteed => format!("{root}/pod{uid}"),
        Qos::Burstable => format!("{root}/burstable/pod{uid}"),
        Qos::BestEffort => format!("{root}/besteffort/pod{uid}"),
    }
}

/// What every cgroup implementation offers (youki's `CgroupManager`, reduced to
/// what a kubelet needs). Paths are relative to the hierarchy root, like
/// `kubepods/burstable/pod123/abc`.
pub trait CgroupManager: Send + Sync + std::fmt::Debug {
    /// v1 or v2.
    fn version(&self) -> Version;
    /// Creates the cgroup (and parents) and applies the limits.
    fn create(&self, path: &str, res: &Resources) -> Result<()>;
    /// Changes the limits of an existing cgroup.
    fn apply(&self, path: &str, res: &Resources) -> Result<()>;
    /// The `cgroup.procs` files a process writes itself into to join.
    fn procs_files(&self, path: &str) -> Vec<PathBuf>;
    /// Current usage.
    fn stats(&self, path: &str) -> Result<Stats>;
    /// The pids in the cgroup and below.
    fn pids(&self, path: &str) -> Result<Vec<i32>>;
    /// Kills what is left inside and removes the cgroup and its children.
    fn remove(&self, path: &str) -> Result<()>;
    /// The cgroup filesystems a container should see at `/sys/fs/cgroup`.
    fn container_mounts(&self) -> Vec<FsMount> {
        Vec::new()
    }
    /// Moves a process in.
    fn add_task(&self, path: &str, pid: i32) -> Result<()> {
        for f in self.procs_files(path) {
            write(&f, &pid.to_string())?;
        }
        Ok(())
    }
}

/// Moves the calling process into the cgroups whose `cgroup.procs` files
/// are given.
///
/// Writing a pid to `cgroup.procs` takes the kernel's global
/// `cgroup_threadgroup_rwsem` for writing, and when nothing took it
/// recently, that waits for an RCU grace period: several milliseconds, the
/// largest single cost of starting a container on a cgroup v1 host. Writing
/// `0` to a v1 hierarchy's `tasks` file moves only the calling thread and
/// skips that lock (the kernel needs no thread-group stability to move
/// `current` alone); for a single-threaded process, such as a helper right
/// after its exec, moving its one thread moves the process. So that is done
/// where it can be (v1, one thread), and `cgroup.procs` everywhere else
/// (v2 has no `tasks` file and moves threads only within one domain).
pub fn join_self(procs_files: &[PathBuf]) -> Result<()> {
    let single_threaded = fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines()
                .any(|l| l.split_whitespace().eq(["Threads:", "1"]))
        })
        .unwrap_or(false);
    for procs in procs_files {
        let tasks = procs.with_file_name("tasks");
        if single_threaded && tasks.exists() {
            write(&tasks, "0")?;
        } else {
            write(procs, "0")?;
        }
    }
    Ok(())
}

/// Whether the kernel's OOM killer killed a process of the cgroup whose
/// `cgroup.procs` files these are (a container's `spec.cgroup_procs`): the
/// `oom_kill` count of v1's `memory.oom_control` in the memory hierarchy,
/// or of v2's `memory.events`. Asked by a monitor whose container died of
/// SIGKILL; going by the files it already has, instead of detecting the
/// hierarchies again, spares it a read of the node's whole mount table
/// (hundreds of lines on a node full of pods).
pub fn oom_killed(procs_files: &[PathBuf]) -> bool {
    procs_files.iter().filter_map(|p| p.parent()).any(|dir| {
        [v1::memory::oom_kills, v2::memory::oom_kills]
            .iter()
            .any(|kills| kills(dir).is_ok_and(|n| n > 0))
    })
}

/// Writes a value into a cgroup file.
pub(crate) fn write(path: &Path, value: &str) -> Result<()> {
    fs::write(path, value).map_err(|source| Error::Write {
        path: path.to_path_buf(),
        value: value.to_string(),
        source,
    })
}

/// Reads a cgroup file.
pub(crate) fn read(path: &Path) -> Result<String> {
    fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// Reads one `key value` line of a flat-keyed file (`memory.stat`, `cpu.stat`).
pub(crate) fn read_key(path: &Path, key: &str) -> Result<u64> {
    Ok(read(path)?
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(' ')?;
            (k == key).then(|| v.trim().parse().ok()).flatten()
        })
        .unwrap_or(0))
}

/// Reads a file holding one number (`max` reads as `u64::MAX`).
pub(crate) fn read_u64(path: &Path) -> Result<u64> {
    let s = read(path)?;
    let s = s.trim();
    if s == "max" {
        return Ok(u64::MAX);
    }
    Ok(s.parse().unwrap_or(0))
}

fn mkdir(path: &Path) -> Result<()> {
    fs::create_dir_all(path).map_err(|source| Error::Dir {
        op: "creating",
        path: path.to_path_buf(),
        source,
    })
}

/// Reads the pids of every `cgroup.procs` at and below `dir`.
fn collect_pids(dir: &Path, out: &mut Vec<i32>) {
    if let Ok(s) = fs::read_to_string(dir.join("cgroup.procs")) {
        out.extend(s.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
    }
    if let Ok(entries) = fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                collect_pids(&e.path(), out);
            }
        }
    }
}

/// Whether `dir` is gone after one `rmdir`: the usual case, a cgroup whose
/// processes have exited and that has no children. Listing a cgroupfs
/// directory (dozens of control files) costs more than the rest of a
/// removal, so that is tried only when this fails.
fn removed_at_once(dir: &Path) -> bool {
    match fs::remove_dir(dir) {
        Ok(()) => true,
        Err(e) => e.kind() == std::io::ErrorKind::NotFound,
    }
}

/// Kills every process at and below `dir` and removes the directories bottom-up.
/// A cgroup with dying processes refuses rmdir with EBUSY for a moment, so this
/// retries for up to a second.
fn remove_tree(dir: &Path) -> Result<()> {
    if removed_at_once(dir) {
        return Ok(());
    }
    for attempt in 0..100 {
        let mut pids = Vec::new();
        collect_pids(dir, &mut pids);
        for pid in &pids {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(*pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        match rmdir_bottom_up(dir) {
            Ok(()) => return Ok(()),
            Err(e) if attempt == 99 => {
                return Err(Error::Dir {
                    op: "removing",
                    path: dir.to_path_buf(),
                    source: e,
                })
            }
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(10)),
        }
    }
    Ok(())
}

fn rmdir_bottom_up(dir: &Path) -> std::io::Result<()> {
    if let Ok(entries) = fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                rmdir_bottom_up(&e.path())?;
            }
        }
    }
    match fs::remove_dir(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// One line of `/proc/self/mountinfo`, reduced to what detection needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupMount {
    /// Where it is mounted.
    pub mount_point: PathBuf,
    /// `cgroup` or `cgroup2`.
    pub fstype: String,
    /// Super options (`rw,memory` for a v1 memory hierarchy).
    pub options: Vec<String>,
}

/// Parses the cgroup mounts out of a mountinfo text.
pub fn parse_mountinfo(text: &str) -> Vec<CgroupMount> {
    text.lines()
        .filter_map(|line| {
            let (pre, post) = line.split_once(" - ")?;
            let mount_point = pre.split(' ').nth(4)?;
            let mut post = post.split(' ');
            let fstype = post.next()?;
            let _source = post.next()?;
            let opts = post.next().unwrap_or("");
            (fstype == "cgroup" || fstype == "cgroup2").then(|| CgroupMount {
                mount_point: PathBuf::from(mount_point.replace("\\040", " ")),
                fstype: fstype.to_string(),
                options: opts.split(',').map(str::to_string).collect(),
            })
        })
        .collect()
}

/// Detects the host's cgroup version and builds the matching manager. Fails
/// with a clear message when cpu, memory or pids is unavailable.
pub fn detect() -> Result<Box<dyn CgroupManager>> {
    let text = fs::read_to_string("/proc/self/mountinfo").map_err(|source| Error::Read {
        path: "/proc/self/mountinfo".into(),
        source,
    })?;
    from_mounts(&parse_mountinfo(&text))
}

/// Builds a manager from parsed mounts (v2 when `/sys/fs/cgroup` itself is
/// cgroup2, v1 otherwise, hybrid hosts included).
pub fn from_mounts(mounts: &[CgroupMount]) -> Result<Box<dyn CgroupManager>> {
    if let Some(m) = mounts
        .iter()
        .find(|m| m.fstype == "cgroup2" && m.mount_point == Path::new("/sys/fs/cgroup"))
    {
        return Ok(Box::new(v2::Manager::new(m.mount_point.clone())?));
    }
    if mounts.iter().any(|m| m.fstype == "cgroup") {
        return Ok(Box::new(v1::Manager::from_mounts(mounts)?));
    }
    if let Some(m) = mounts.iter().find(|m| m.fstype == "cgroup2") {
        return Ok(Box::new(v2::Manager::new(m.mount_point.clone())?));
    }
    Err(Error::NotMounted)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw";

    #[test]
    fn parses_hybrid_mountinfo() {
        let m = parse_mountinfo(HYBRID);
        assert_eq!(m.len(), 5);
        assert_eq!(m[2].mount_point, Path::new("/sys/fs/cgroup/memory"));
        assert!(m[2].options.contains(&"memory".to_string()));
        assert_eq!(m[4].fstype, "cgroup2");
    }

    #[test]
    fn missing_memory_controller_is_explained() {
        let text: String = HYBRID
            .lines()
            .filter(|l| !l.contains("memory"))
            .collect::<Vec<_>>()
            .join("\n");
        let err = from_mounts(&parse_mountinfo(&text)).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("memory cgroup controller is not available"),
            "{msg}"
        );
        assert!(msg.contains("cgroup_enable=memory"), "{msg}");
    }

    #[test]
    fn oom_kills_are_read_from_the_containers_own_cgroup_files() {
        let root = tempfile::tempdir().unwrap();
        let dir = |h: &str| {
            let d = root.path().join(h).join("pod/ctr");
            fs::create_dir_all(&d).unwrap();
            d
        };
        let (cpu, memory, pids) = (dir("cpu"), dir("memory"), dir("pids"));
        let procs: Vec<PathBuf> = [&cpu, &memory, &pids]
            .iter()
            .map(|d| d.join("cgroup.procs"))
            .collect();
        // v1: the memory hierarchy's memory.oom_control.
        let oom_control = memory.join("memory.oom_control");
        fs::write(
            &oom_control,
            "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n",
        )
        .unwrap();
        assert!(!oom_killed(&procs));
        fs::write(
            &oom_control,
            "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n",
        )
        .unwrap();
        assert!(oom_killed(&procs));
        // v2: one directory with memory.events.
        let unified = dir("unified");
        let events = unified.join("memory.events");
        fs::write(&events, "low 0\nhigh 0\nmax 1\noom 1\noom_kill 0\n").unwrap();
        let procs = vec![unified.join("cgroup.procs")];
        assert!(!oom_killed(&procs));
        fs::write(&events, "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n").unwrap();
        assert!(oom_killed(&procs));
        // A cgroup already removed: not OOM-killed, no error.
        fs::remove_file(&events).unwrap();
        assert!(!oom_killed(&procs));
    }

    #[test]
    fn conversions() {
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(262_144), 10_000);
        let r = Resources::from_millicpu(Some(250), Some(500));
        assert_eq!(r.cpu_shares, Some(256));
        assert_eq!(r.cpu_quota_us, Some(50_000));
        assert_eq!(r.cpu_period_us, Some(100_000));
        assert_eq!(
            pod_path("kubepods", Qos::Burstable, "a-b"),
            "kubepods/burstable/poda_b"
        );
        assert_eq!(pod_path("kubepods", Qos::Guaranteed, "x"), "kubepods/podx");
    }
}
