//! v2 `memory` controller: `memory.max` is the hard limit; `memory.events`
//! counts `oom_kill`s; `memory.swap.max = 0` keeps the group from swapping past
//! its limit (Kubernetes' default "no swap" behaviour).

use crate::cgroups::{read_key, read_u64, write, Resources, Result, Stats};
use std::path::Path;

/// Sets `memory.max` (a negative limit: `max`, none) and `memory.swap.max`
/// when swap accounting exists.
pub fn apply(dir: &Path, res: &Resources) -> Result<()> {
    if let Some(limit) = res.memory_limit_bytes {
        let value = if limit < 0 {
            "max".to_string()
        } else {
            limit.to_string()
        };
        write(&dir.join("memory.max"), &value)?;
        let swap = dir.join("memory.swap.max");
        if swap.exists() {
            write(&swap, "0")?;
        }
    }
    Ok(())
}

/// Usage, working set and OOM kills.
pub fn stats(dir: &Path, s: &mut Stats) -> Result<()> {
    s.memory_usage_bytes = read_u64(&dir.join("memory.current"))?;
    let inactive = read_key(&dir.join("memory.stat"), "inactive_file")?;
    s.memory_working_set_bytes = s.memory_usage_bytes.saturating_sub(inactive);
    s.oom_kills = oom_kills(dir)?;
    Ok(())
}

/// How many processes of the cgroup at `dir` the OOM killer killed.
pub fn oom_kills(dir: &Path) -> Result<u64> {
    read_key(&dir.join("memory.events"), "oom_kill")
}
