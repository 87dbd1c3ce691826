//! cgroup v1: one hierarchy per controller. A container's cgroup is the same
//! relative path created in each of them (`cpu/`, `cpuacct/`, `memory/`,
//! `pids/`), and a process joins by writing its pid into every
//! `cgroup.procs`.

mod cpu;
mod cpuacct;
pub(super) mod memory;
mod pids;

use super::{CgroupManager, CgroupMount, Error, FsMount, Resources, Result, Stats, Version};
use std::path::PathBuf;

/// The v1 manager: a mount point per controller.
#[derive(Debug, Clone)]
pub struct Manager {
    cpu: PathBuf,
    cpuacct: PathBuf,
    memory: PathBuf,
    pids: PathBuf,
    /// The hierarchies as containers mount them (controllers as mount data).
    fs: Vec<FsMount>,
}

fn find_mount<'a>(mounts: &'a [CgroupMount], controller: &'static str) -> Result<&'a CgroupMount> {
    mounts
        .iter()
        .find(|m| m.fstype == "cgroup" && m.options.iter().any(|o| o == controller))
        .ok_or_else(|| Error::MissingController {
            controller,
            version: "cgroup v1",
            hint: format!(
                "no cgroup hierarchy with the {controller} controller is mounted; if the kernel \
                 command line has cgroup_disable={controller}, remove it (or add \
                 cgroup_enable={controller}) and reboot"
            ),
        })
}

impl Manager {
    /// Finds the hierarchies of cpu, cpuacct, memory and pids.
    pub fn from_mounts(mounts: &[CgroupMount]) -> Result<Self> {
        let found = [
            find_mount(mounts, "cpu")?,
            find_mount(mounts, "cpuacct")?,
            find_mount(mounts, "memory")?,
            find_mount(mounts, "pids")?,
        ];
        let mut fs: Vec<FsMount> = Vec::new();
        for m in found {
            let target = m
                .mount_point
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let data = m
                .options
                .iter()
                .filter(|o| *o != "rw" && *o != "ro")
                .cloned()
                .collect::<Vec<_>>()
                .join(",");
            if !target.is_empty() && !fs.iter().any(|f| f.target == target) {
                fs.push(FsMount {
                    target,
                    fstype: "cgroup".into(),
                    data,
                });
            }
        }
        let [cpu, cpuacct, memory, pids] = found.map(|m| m.mount_point.clone());
        Ok(Manager {
            cpu,
            cpuacct,
            memory,
            pids,
            fs,
        })
    }

    /// A manager over explicit directories (tests use temp dirs).
    pub fn with_roots(cpu: PathBuf, cpuacct: PathBuf, memory: PathBuf, pids: PathBuf) -> Self {
        Manager {
            cpu,
            cpuacct,
            memory,
            pids,
            fs: Vec::new(),
        }
    }

    fn dirs(&self, path: &str) -> Vec<PathBuf> {
        let mut v = vec![
            self.cpu.join(path),
            self.cpuacct.join(path),
            self.memory.join(path),
            self.pids.join(path),
        ];
        // cpu and cpuacct are often co-mounted at the same place.
        v.dedup();
        v
    }
}

impl CgroupManager for Manager {
    fn version(&self) -> Version {
        Version::V1
    }

    fn create(&self, path: &str, res: &Resources) -> Result<()> {
        for d in self.dirs(path) {
            super::mkdir(&d)?;
        }
        self.apply(path, res)
    }

    fn apply(&self, path: &str, res: &Resources) -> Result<()> {
        cpu::apply(&self.cpu.join(path), res)?;
        memory::apply(&self.memory.join(path), res)?;
        pids::apply(&self.pids.join(path), res)
    }

    fn container_mounts(&self) -> Vec<FsMount> {
        self.fs.clone()
    }

    fn procs_files(&self, path: &str) -> Vec<PathBuf> {
        self.dirs(path)
            .into_iter()
            .map(|d| d.join("cgroup.procs"))
            .collect()
    }

    fn stats(&self, path: &str) -> Result<Stats> {
        let mut s = Stats {
            cpu_usage_ns: cpuacct::usage_ns(&self.cpuacct.join(path))?,
            pids: pids::current(&self.pids.join(path))?,
            ..Default::default()
        };
        memory::stats(&self.memory.join(path), &mut s)?;
        Ok(s)
    }

    fn pids(&self, path: &str) -> Result<Vec<i32>> {
        let mut out = Vec::new();
        super::collect_pids(&self.pids.join(path), &mut out);
        Ok(out)
    }

    fn remove(&self, path: &str) -> Result<()> {
        // The pids hierarchy sees every process, so kill through it first.
        let pids = self.pids.join(path);
        super::remove_tree(&pids)?;
        for d in self.dirs(path).into_iter().filter(|d| *d != pids) {
            super::remove_tree(&d)?;
        }
        Ok(())
    }
}
