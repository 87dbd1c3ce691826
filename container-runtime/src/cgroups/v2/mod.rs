//! cgroup v2: one unified tree. A controller only works in a cgroup if every
//! ancestor lists it in `cgroup.subtree_control`, so creating
//! `kubepods/burstable/pod1/c1` first writes `+cpu +memory +pids` into the
//! `subtree_control` of the root, `kubepods`, `kubepods/burstable` and `pod1`.
//! Processes may only live in leaves ("no internal processes" rule), which the
//! pod/container layout respects.

mod cpu;
pub(super) mod memory;
mod pids;

use super::{
    read, write, CgroupManager, Error, FsMount, Resources, Result, Stats, Version, CONTROLLERS,
};
use std::path::{Path, PathBuf};

/// The v2 manager: the unified mount point.
#[derive(Debug, Clone)]
pub struct Manager {
    root: PathBuf,
}

impl Manager {
    /// Checks that cpu, memory and pids are available at `root`.
    pub fn new(root: PathBuf) -> Result<Self> {
        let available = read(&root.join("cgroup.controllers"))?;
        for c in CONTROLLERS {
            if !available.split_whitespace().any(|a| a == c) {
                return Err(Error::MissingController {
                    controller: c,
                    version: "cgroup v2",
                    hint: format!(
                        "{}/cgroup.controllers lists only {:?}; if the kernel command line has \
                         cgroup_disable={c}, remove it and reboot (on hybrid hosts the controller \
                         may be bound to a v1 hierarchy instead)",
                        root.display(),
                        available.trim()
                    ),
                });
            }
        }
        Ok(Manager { root })
    }

    /// A manager over a directory without checking (tests use temp dirs).
    pub fn unchecked(root: PathBuf) -> Self {
        Manager { root }
    }

    fn enable_controllers(&self, path: &str) -> Result<()> {
        let mut dir = self.root.clone();
        let value = CONTROLLERS.map(|c| format!("+{c}")).join(" ");
        let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
        for (i, part) in parts.iter().enumerate() {
            let control = dir.join("cgroup.subtree_control");
            let current = read(&control).unwrap_or_default();
            if !CONTROLLERS
                .iter()
                .all(|c| current.split_whitespace().any(|x| x == *c))
            {
                write(&control, &value)?;
            }
            dir.push(part);
            if !dir.exists() {
                super::mkdir(&dir)?;
            }
            let _ = i;
        }
        Ok(())
    }

    fn dir(&self, path: &str) -> PathBuf {
        self.root.join(path)
    }
}

impl CgroupManager for Manager {
    fn version(&self) -> Version {
        Version::V2
    }

    fn create(&self, path: &str, res: &Resources) -> Result<()> {
        self.enable_controllers(path)?;
        self.apply(path, res)
    }

    fn apply(&self, path: &str, res: &Resources) -> Result<()> {
        let d = self.dir(path);
        cpu::apply(&d, res)?;
        memory::apply(&d, res)?;
        pids::apply(&d, res)
    }

    fn container_mounts(&self) -> Vec<FsMount> {
        vec![FsMount {
            target: String::new(),
            fstype: "cgroup2".into(),
            data: String::new(),
        }]
    }

    fn procs_files(&self, path: &str) -> Vec<PathBuf> {
        vec![self.dir(path).join("cgroup.procs")]
    }

    fn stats(&self, path: &str) -> Result<Stats> {
        let d = self.dir(path);
        let mut s = Stats {
            cpu_usage_ns: cpu::usage_ns(&d)?,
            pids: pids::current(&d)?,
            ..Default::default()
        };
        memory::stats(&d, &mut s)?;
        Ok(s)
    }

    fn pids(&self, path: &str) -> Result<Vec<i32>> {
        let mut out = Vec::new();
        super::collect_pids(&self.dir(path), &mut out);
        Ok(out)
    }

    fn remove(&self, path: &str) -> Result<()> {
        let d = self.dir(path);
        if super::removed_at_once(&d) {
            return Ok(());
        }
        // cgroup.kill (Linux 5.14) kills the whole subtree at once.
        let kill = d.join("cgroup.kill");
        if kill.exists() {
            let _ = write(&kill, "1");
        }
        super::remove_tree(&d)
    }
}

/// Whether `dir` is a v2 cgroup directory (has `cgroup.controllers`).
pub fn is_cgroup_dir(dir: &Path) -> bool {
    dir.join("cgroup.controllers").exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_limits_and_enables_controllers_on_ancestors() {
        let tmp = tempfile::tempdir().unwrap();
        let m = Manager::unchecked(tmp.path().to_path_buf());
        let res = Resources {
            cpu_shares: Some(512),
            cpu_quota_us: Some(50_000),
            cpu_period_us: Some(100_000),
            memory_limit_bytes: Some(64 << 20),
            pids_limit: Some(100),
        };
        m.create("kubepods/burstable/pod1/c1", &res).unwrap();
        let root = tmp.path();
        for d in [
            "",
            "kubepods",
            "kubepods/burstable",
            "kubepods/burstable/pod1",
        ] {
            assert_eq!(
                std::fs::read_to_string(root.join(d).join("cgroup.subtree_control")).unwrap(),
                "+cpu +memory +pids"
            );
        }
        let c = root.join("kubepods/burstable/pod1/c1");
        let r = |f: &str| std::fs::read_to_string(c.join(f)).unwrap();
        assert_eq!(r("cpu.max"), "50000 100000");
        assert_eq!(
            r("cpu.weight"),
            crate::cgroups::shares_to_weight(512).to_string()
        );
        assert_eq!(r("memory.max"), (64 << 20).to_string());
        assert_eq!(r("pids.max"), "100");
        assert_eq!(
            m.procs_files("kubepods/burstable/pod1/c1"),
            vec![c.join("cgroup.procs")]
        );
        std::fs::write(
            c.join("memory.events"),
            "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n",
        )
        .unwrap();
        std::fs::write(c.join("memory.current"), "1000\n").unwrap();
        std::fs::write(c.join("memory.stat"), "anon 10\ninactive_file 300\n").unwrap();
        std::fs::write(c.join("cpu.stat"), "usage_usec 7\nuser_usec 5\n").unwrap();
        std::fs::write(c.join("pids.current"), "3\n").unwrap();
        let s = m.stats("kubepods/burstable/pod1/c1").unwrap();
        assert_eq!(s.oom_kills, 1);
        assert_eq!(s.memory_working_set_bytes, 700);
        assert_eq!(s.cpu_usage_ns, 7000);
        assert_eq!(s.pids, 3);
    }

    #[test]
    fn write_errors_carry_path_and_value() {
        let m = Manager::unchecked("/nonexistent-cgroup-root".into());
        let err = m
            .apply(
                "x",
                &Resources {
                    pids_limit: Some(5),
                    ..Default::default()
                },
            )
            .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("/nonexistent-cgroup-root/x/pids.max") && msg.contains("\"5\""),
            "{msg}"
        );
    }
}
