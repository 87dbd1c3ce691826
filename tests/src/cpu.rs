//! CPU time of a lab's processes, by component, and of the whole machine:
//! what a benchmark costs, not only how long it takes.
//!
//! A [`Sample`] reads `utime + stime` of every process whose command line
//! names the lab's directory (etcd, the apiserver, the scheduler, the
//! controller-manager, kubelets, container monitors, kubeadm's supervisors)
//! and the busy time of the whole machine from `/proc/stat`. The difference
//! of two samples is the work done between them; a process that exited in
//! between (a container's init, a CNI plugin) counts only in the machine's
//! total.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// CPU ticks (`USER_HZ`, 100 per second on Linux) per process and in all.
#[derive(Debug, Clone, Default)]
pub struct Sample {
    machine: u64,
    processes: HashMap<u32, (String, u64)>,
}

/// Where a process of the lab belongs, from its command line.
fn component(argv: &[String]) -> String {
    let exe = argv
        .first()
        .and_then(|a| Path::new(a).file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    match exe.as_str() {
        // The monitors are forked by the runtime's launcher and keep its
        // command line (`__launcher <root-dir>`, which names the node); both
        // are the per-container overhead.
        "kubelet" | "container-runtime"
            if argv.iter().any(|a| a == "__monitor" || a == "__launcher") =>
        {
            "container monitors".into()
        }
        _ => exe,
    }
}

/// Busy ticks of the machine: every `/proc/stat` cpu column but idle and
/// iowait.
fn machine_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(line) = stat.lines().find(|l| l.starts_with("cpu ")) else {
        return 0;
    };
    line.split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse::<u64>().ok())
        .enumerate()
        // user nice system idle iowait irq softirq steal (guest columns are
        // already counted in user).
        .filter(|(i, _)| !matches!(i, 3 | 4) && *i < 8)
        .map(|(_, v)| v)
        .sum()
}

/// `utime + stime` of one process, from `/proc/PID/stat` (the fields after
/// the parenthesised command name, which may itself hold spaces).
fn process_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state): utime is field 14, stime 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

impl Sample {
    /// Reads the machine and every process whose command line mentions
    /// `dir`.
    pub fn take(dir: &Path) -> Sample {
        let needle = dir.to_string_lossy().into_owned();
        let mut processes = HashMap::new();
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            let Ok(raw) = std::fs::read(entry.path().join("cmdline")) else {
                continue;
            };
            let argv: Vec<String> = raw
                .split(|b| *b == 0)
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            if !argv.iter().any(|a| a.contains(&needle)) {
                continue;
            }
            if let Some(ticks) = process_ticks(pid) {
                processes.insert(pid, (component(&argv), ticks));
            }
        }
        Sample {
            machine: machine_ticks(),
            processes,
        }
    }

    /// Milliseconds of CPU spent since `earlier`, per component, plus
    /// `"machine"` for all of the machine's busy time.
    pub fn since(&self, earlier: &Sample) -> BTreeMap<String, f64> {
        let ms = |ticks: u64| ticks as f64 * 1000.0 / 100.0;
        let mut by: BTreeMap<String, f64> = BTreeMap::new();
        for (pid, (name, ticks)) in &self.processes {
            let before = earlier
                .processes
                .get(pid)
                .filter(|(n, _)| n == name)
                .map_or(0, |(_, t)| *t);
            *by.entry(name.clone()).or_default() += ms(ticks.saturating_sub(before));
        }
        by.insert(
            "machine".into(),
            ms(self.machine.saturating_sub(earlier.machine)),
        );
        by
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monitors_are_told_from_their_kubelet() {
        let argv = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            component(&argv(&["/x/target/release/kubelet", "__monitor", "/d"])),
            "container monitors"
        );
        assert_eq!(
            component(&argv(&[
                "/x/target/release/container-runtime",
                "__launcher",
                "/lab/node-1/var/lib/kubelet"
            ])),
            "container monitors"
        );
        assert_eq!(
            component(&argv(&["/x/target/release/kubelet", "--config", "/d"])),
            "kubelet"
        );
        assert_eq!(component(&argv(&["etcd", "--data-dir", "/d"])), "etcd");
    }

    #[test]
    fn this_process_burns_ticks_that_a_later_sample_sees() {
        let me = std::process::id();
        let before = process_ticks(me).expect("own stat");
        // Busy until the kernel has charged at least one tick (or give up
        // after 10 s of wall time, which fails below).
        let start = std::time::Instant::now();
        let mut x = 0u64;
        while process_ticks(me).is_some_and(|t| t == before)
            && start.elapsed() < std::time::Duration::from_secs(10)
        {
            for _ in 0..100_000 {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
            }
        }
        std::hint::black_box(x);
        let after = process_ticks(me).expect("own stat");
        assert!(after > before, "{before} -> {after}");
        assert!(machine_ticks() > 0);
    }
}
