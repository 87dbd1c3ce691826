//! Observing the signals: how much of each resource the node has left, and
//! what every pod uses of it.
//!
//! - `memory.available`: memory capacity minus the working set (usage minus
//!   inactive file cache, which the kernel can drop) of the node's root
//!   cgroup, as upstream's cadvisor reports it: on cgroup v1 from the root
//!   `memory` cgroup; on v2, whose root cgroup has no `memory.current`, from
//!   `/proc/meminfo`;
//! - `nodefs.available` / `imagefs.available`: `statvfs` of the kubelet's
//!   root directory and of the runtime's image store;
//! - `pid.available`: `pid_max` minus the processes running.
//!
//! Per pod: the working set and process count of its cgroup, per container
//! the working set of the container's cgroup, and its ephemeral storage
//! (writable layers, logs, and the volumes under `<root>/pods/<uid>` that
//! live on the node's disk).
//!
//! [`Machine`] hides all of it so the manager's logic is tested with fakes.

use std::collections::{BTreeMap, HashMap};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::thresholds::Signal;
use crate::node::machine;

/// One signal's reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observation {
    /// What is left.
    pub available: u64,
    /// The total it is a share of (for percentage thresholds).
    pub capacity: u64,
}

/// Every signal read in one pass.
pub type Observations = BTreeMap<Signal, Observation>;

/// What one container uses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerUsage {
    /// Working set bytes.
    pub memory: u64,
    /// Writable layer plus logs, bytes.
    pub ephemeral: u64,
}

/// What one pod uses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodUsage {
    /// Working set bytes of the pod cgroup.
    pub memory: u64,
    /// Local disk bytes (containers' layers and logs, local volumes).
    pub ephemeral: u64,
    /// Processes in the pod cgroup.
    pub pids: u64,
    /// By container name.
    pub containers: BTreeMap<String, ContainerUsage>,
}

/// The node as the eviction manager sees it.
pub trait Machine: Send + Sync {
    /// Reads every signal.
    fn observe(&self) -> Observations;
    /// Usage of every pod with a sandbox here, by pod uid.
    fn pod_usage(&self) -> HashMap<String, PodUsage>;
    /// Frees disk without evicting (unused images), as upstream tries
    /// before evicting for disk pressure. Returns whether anything went.
    fn reclaim_disk(&self) -> bool;
}

/// The real node: the runtime's cgroups and directories.
pub struct NodeMachine {
    runtime: Arc<container_runtime::Runtime>,
    root_dir: PathBuf,
}

impl NodeMachine {
    /// Observes the node behind `runtime`, whose kubelet keeps its state in
    /// `root_dir`.
    pub fn new(runtime: Arc<container_runtime::Runtime>, root_dir: PathBuf) -> NodeMachine {
        NodeMachine { runtime, root_dir }
    }
}

fn key_of(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let mut f = l.split_whitespace();
        (f.next()? == key).then(|| f.next()?.parse().ok())?
    })
}

/// The working set of the root cgroup on cgroup v1: `memory.usage_in_bytes`
/// minus `total_inactive_file` of `memory.stat`.
pub fn working_set_v1(usage_in_bytes: &str, memory_stat: &str) -> Option<u64> {
    let usage: u64 = usage_in_bytes.trim().parse().ok()?;
    let inactive = key_of(memory_stat, "total_inactive_file").unwrap_or(0);
    Some(usage.saturating_sub(inactive))
}

/// The node's working set from `/proc/meminfo` (cgroup v2): used memory
/// (`MemTotal - MemFree`) minus the inactive file cache.
pub fn working_set_meminfo(meminfo: &str) -> Option<u64> {
    let kib = |k: &str| key_of(meminfo, k).map(|v| v * 1024);
    let used = kib("MemTotal:")?.saturating_sub(kib("MemFree:")?);
    Some(used.saturating_sub(kib("Inactive(file):").unwrap_or(0)))
}

/// `memory.available` as the eviction manager reads it: (available,
/// capacity) bytes.
pub fn memory() -> Observation {
    let capacity = machine::memory_total();
    let v2 = Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    let v1 = || {
        let usage = std::fs::read_to_string("/sys/fs/cgroup/memory/memory.usage_in_bytes").ok()?;
        let stat = std::fs::read_to_string("/sys/fs/cgroup/memory/memory.stat").ok()?;
        working_set_v1(&usage, &stat)
    };
    let from_meminfo = || {
        std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| working_set_meminfo(&m))
    };
    let working_set = if v2 { None } else { v1() }
        .or_else(from_meminfo)
        .unwrap_or(0);
    Observation {
        available: capacity.saturating_sub(working_set),
        capacity,
    }
}

fn filesystem(path: &Path) -> Observation {
    let (capacity, available) = machine::disk(path);
    Observation {
        available,
        capacity,
    }
}

/// Bytes of the files below `dir` on the same filesystem (tmpfs and bind
/// mounts below it are someone else's disk).
pub fn disk_usage(dir: &Path) -> u64 {
    let Ok(top) = std::fs::symlink_metadata(dir) else {
        return 0;
    };
    let dev = top.dev();
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let Ok(m) = e.metadata() else { continue };
            if m.dev() != dev {
                continue;
            }
            if m.is_dir() {
                stack.push(e.path());
            } else {
                // Allocated blocks, as `du` counts them.
                total += m.blocks() * 512;
            }
        }
    }
    total
}

impl Machine for NodeMachine {
    fn observe(&self) -> Observations {
        let (pid_max, running) = machine::pids();
        let image_dir = self.runtime.images().root().to_path_buf();
        [
            (Signal::MemoryAvailable, memory()),
            (Signal::NodeFsAvailable, filesystem(&self.root_dir)),
            (Signal::ImageFsAvailable, filesystem(&image_dir)),
            (
                Signal::PidAvailable,
                Observation {
                    available: pid_max.saturating_sub(running),
                    capacity: pid_max,
                },
            ),
        ]
        .into()
    }

    fn pod_usage(&self) -> HashMap<String, PodUsage> {
        let rt = &self.runtime;
        let containers = rt.list_containers().unwrap_or_default();
        let mut out = HashMap::new();
        for sb in rt.list_sandboxes().unwrap_or_default() {
            let stats = rt.cgroups().stats(&sb.cgroup_path).unwrap_or_default();
            let mut pod = PodUsage {
                memory: stats.memory_working_set_bytes,
                pids: stats.pids,
                ..Default::default()
            };
            for c in containers.iter().filter(|c| c.spec.sandbox_id == sb.id) {
                let name = c.spec.config.name.clone();
                let memory = if c.state.status == container_runtime::state::Status::Running {
                    rt.container_stats(&c.spec.id)
                        .map(|s| s.memory_working_set_bytes)
                        .unwrap_or(0)
                } else {
                    0
                };
                let layer = disk_usage(c.spec.writable());
                let logs = disk_usage(&sb.log_dir.join(&name));
                let entry: &mut ContainerUsage = pod.containers.entry(name).or_default();
                entry.memory += memory;
                entry.ephemeral += layer + logs;
                pod.ephemeral += layer + logs;
            }
            pod.ephemeral += disk_usage(&crate::volumes::pod_dir(&self.root_dir, &sb.config.uid));
            out.insert(sb.config.uid.clone(), pod);
        }
        out
    }

    fn reclaim_disk(&self) -> bool {
        match self.runtime.gc_images(None) {
            Ok(r) => {
                if !r.images.is_empty() {
                    tracing::info!(images = ?r.images, "disk pressure: removed unused images");
                }
                !r.images.is_empty()
            }
            Err(e) => {
                tracing::warn!(error = %e, "disk pressure: image GC failed");
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn working_sets_leave_out_inactive_file_cache() {
        let stat = "cache 500\ntotal_cache 900\ntotal_inactive_file 300\n";
        assert_eq!(working_set_v1("1000\n", stat), Some(700));
        assert_eq!(working_set_v1("junk", stat), None);
        let meminfo =
            "MemTotal:  1000 kB\nMemFree:  200 kB\nMemAvailable: 600 kB\nInactive(file): 100 kB\n";
        assert_eq!(working_set_meminfo(meminfo), Some(700 * 1024));
    }

    #[test]
    fn the_real_memory_signal_is_within_capacity() {
        let m = memory();
        assert!(m.capacity > 0 && m.available <= m.capacity, "{m:?}");
    }

    #[test]
    fn disk_usage_counts_files_below_a_directory() {
        let d = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(d.path().join("sub")).expect("mkdir");
        std::fs::write(d.path().join("sub/f"), vec![1u8; 64 * 1024]).expect("write");
        let used = disk_usage(d.path());
        assert!(used >= 64 * 1024, "{used}");
        assert_eq!(disk_usage(&d.path().join("missing")), 0);
    }
}
