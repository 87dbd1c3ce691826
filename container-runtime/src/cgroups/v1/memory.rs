//! v1 `memory` controller: `memory.limit_in_bytes` is the hard limit; when the
//! group cannot reclaim enough below it the kernel's OOM killer kills a process
//! inside the group and counts it in `memory.oom_control` (`oom_kill N`).

use crate::cgroups::{read_key, read_u64, write, Resources, Result, Stats};
use std::path::Path;

/// Sets the memory limit (-1: none) and the memory+swap limit, so the
/// group can't swap its way around the limit, when the kernel has swap
/// accounting. The kernel keeps the memory limit at or below the
/// memory+swap one, so a raised limit writes memory+swap first and a
/// lowered one last.
pub fn apply(dir: &Path, res: &Resources) -> Result<()> {
    if let Some(limit) = res.memory_limit_bytes {
        let mem = dir.join("memory.limit_in_bytes");
        let memsw = dir.join("memory.memsw.limit_in_bytes");
        if !memsw.exists() {
            return write(&mem, &limit.to_string());
        }
        let current = read_u64(&mem).unwrap_or(u64::MAX);
        let raising = limit < 0 || limit as u64 > current;
        if raising {
            write(&memsw, &limit.to_string())?;
            write(&mem, &limit.to_string())?;
        } else {
            write(&mem, &limit.to_string())?;
            write(&memsw, &limit.to_string())?;
        }
    }
    Ok(())
}

/// Usage, working set and OOM kills.
pub fn stats(dir: &Path, s: &mut Stats) -> Result<()> {
    s.memory_usage_bytes = read_u64(&dir.join("memory.usage_in_bytes"))?;
    let inactive = read_key(&dir.join("memory.stat"), "total_inactive_file")?;
    s.memory_working_set_bytes = s.memory_usage_bytes.saturating_sub(inactive);
    s.oom_kills = oom_kills(dir)?;
    Ok(())
}

/// How many processes of the cgroup at `dir` the OOM killer killed.
pub fn oom_kills(dir: &Path) -> Result<u64> {
    read_key(&dir.join("memory.oom_control"), "oom_kill")
}
