//! The runtime's memory is the filesystem, not the kubelet process.
//!
//! Every sandbox and container has a directory with JSON records; the monitor
//! process of a container updates `state.json` when the container starts and
//! when it exits. A freshly started kubelet (or `kubelet ctl`) rebuilds its whole
//! picture by reading these directories and checking that the recorded
//! processes still exist (a pid plus its start time from `/proc/<pid>/stat`, so
//! a recycled pid is not mistaken for our process).
//!
//! ```text
//! <root-dir>/run/sandboxes/<id>/sandbox.json   the pod sandbox
//! <root-dir>/run/containers/<id>/spec.json     the resolved container spec
//! <root-dir>/run/containers/<id>/state.json    created / running / exited, pid, exit code
//! <root-dir>/containers/<id>/{upper,work}      the writable layer (on disk)
//! ```
//!
//! `<root-dir>/run` is a tmpfs ([`crate::run_dir`]): a restarted kubelet
//! finds the records there, a rebooted machine starts without them.

use serde::{de::DeserializeOwned, Deserialize, Serialize};
use std::fs;
use std::path::Path;

/// Lifecycle of a container (CRI's `ContainerState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Status {
    /// Created, not started.
    Created,
    /// The process runs.
    Running,
    /// The process exited (exit code recorded).
    Exited,
    /// The monitor vanished without recording an exit.
    Unknown,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Created => "Created",
            Status::Running => "Running",
            Status::Exited => "Exited",
            Status::Unknown => "Unknown",
        })
    }
}

/// The mutable state of a container (`state.json`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ContainerState {
    /// Lifecycle.
    pub status: Status,
    /// Host pid of the container's first process.
    #[serde(default)]
    pub pid: i32,
    /// Its start time (clock ticks since boot) for identity checks.
    #[serde(default)]
    pub pid_start: u64,
    /// Host pid of the monitor.
    #[serde(default)]
    pub monitor_pid: i32,
    /// Start time of the monitor.
    #[serde(default)]
    pub monitor_start: u64,
    /// RFC 3339 times.
    pub created_at: String,
    /// When the process started.
    #[serde(default)]
    pub started_at: String,
    /// When it exited.
    #[serde(default)]
    pub finished_at: String,
    /// Exit code (128+signal for signals).
    #[serde(default)]
    pub exit_code: i32,
    /// `Completed`, `Error`, `OOMKilled`, `StartError`, ...
    #[serde(default)]
    pub reason: String,
    /// Human-readable detail.
    #[serde(default)]
    pub message: String,
}

impl ContainerState {
    /// A fresh `Created` state.
    pub fn created() -> Self {
        ContainerState {
            status: Status::Created,
            pid: 0,
            pid_start: 0,
            monitor_pid: 0,
            monitor_start: 0,
            created_at: now(),
            started_at: String::new(),
            finished_at: String::new(),
            exit_code: 0,
            reason: String::new(),
            message: String::new(),
        }
    }
}

/// Now as RFC 3339 with nanoseconds, UTC.
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// Reads a JSON record.
pub fn read_json<T: DeserializeOwned>(path: &Path) -> std::io::Result<T> {
    let bytes = fs::read(path)?;
    serde_json::from_slice(&bytes)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

/// Writes a JSON record atomically (write to a temp file, then rename), so a
/// reader never sees half a record even if the writer is killed.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> std::io::Result<()> {
    let bytes = serde_json::to_vec_pretty(value).map_err(std::io::Error::other)?;
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    fs::write(&tmp, bytes)?;
    fs::rename(&tmp, path)
}

/// What `/proc/<pid>/stat` holds after the command name (which may contain
/// spaces and parentheses), from the state field on; `None` if there is no
/// such process.
fn stat_after_comm(pid: i32) -> Option<String> {
    use std::io::Read;
    if pid <= 0 {
        return None;
    }
    let mut file = fs::File::open(format!("/proc/{pid}/stat")).ok()?;
    // One read of the whole line (a few hundred bytes): procfs reports a
    // size of 0, so read_to_string would grow its buffer from 32 bytes in
    // six reads, on every check of every container.
    let mut buf = [0u8; 4096];
    let n = file.read(&mut buf).ok()?;
    let stat = std::str::from_utf8(&buf[..n]).ok()?;
    Some(stat[stat.rfind(')')? + 2..].to_string())
}

/// Field 22 (start time) out of [`stat_after_comm`]'s text.
fn start_time_of(after_comm: &str) -> Option<u64> {
    after_comm.split(' ').nth(19)?.parse().ok()
}

/// Start time of a process in clock ticks since boot (field 22 of
/// `/proc/<pid>/stat`), `None` if it does not exist.
pub fn proc_start_time(pid: i32) -> Option<u64> {
    start_time_of(&stat_after_comm(pid)?)
}

/// Whether `pid` is still the process that had `start` as start time (and is
/// not a zombie).
pub fn alive(pid: i32, start: u64) -> bool {
    stat_after_comm(pid).is_some_and(|rest| {
        start_time_of(&rest) == Some(start) && !(rest.starts_with('Z') || rest.starts_with('X'))
    })
}

/// Resident set size of a process in KiB.
pub fn rss_kib(pid: i32) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| {
        l.strip_prefix("VmRSS:")
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_own_process_is_alive() {
        let me = std::process::id() as i32;
        let start = proc_start_time(me).unwrap();
        assert!(alive(me, start));
        assert!(!alive(me, start + 1));
        assert!(rss_kib(me).unwrap() > 0);
    }

    #[test]
    fn an_exited_unreaped_child_is_not_alive() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id() as i32;
        let start = proc_start_time(pid).unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while alive(pid, start) {
            assert!(std::time::Instant::now() < deadline, "true never exited");
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        // Not reaped yet: the pid is a zombie with the same start time.
        assert_eq!(proc_start_time(pid), Some(start));
        child.wait().unwrap();
        assert_eq!(proc_start_time(pid), None);
    }

    #[test]
    fn json_roundtrip() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("s.json");
        let s = ContainerState::created();
        write_json(&p, &s).unwrap();
        let back: ContainerState = read_json(&p).unwrap();
        assert_eq!(back, s);
    }
}
