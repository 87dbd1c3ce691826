//! v1 `memory` controller: `memory.limit_in_bytes` is the hard limit; when the
//! group cannot reclaim enough below it the kernel's OOM killer kills a process
//! inside the group and counts it in `memory.oom_control` (`oom_kill N`).

use crate::cgroups::{read_key, read_u64, write, Resources, Result, Stats};
use std::path::Path;

/// Sets the memory limit (and the memory+swap limit, so the group can't swap
/// its way around the limit, when the kernel has swap accounting).
pub fn apply(dir: &Path, res: &Resources) -> Result<()> {
    if let Some(limit) = res.memory_limit_bytes {
        write(&dir.join("memory.limit_in_bytes"), &limit.to_string())?;
        let memsw = dir.join("memory.memsw.limit_in_bytes");
        if memsw.exists() {
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
    s.oom_kills = read_key(&dir.join("memory.oom_control"), "oom_kill")?;
    Ok(())
}
