//! v2 `cpu` controller: `cpu.weight` (1..10000, converted from v1 shares) and
//! `cpu.max` (`"<quota> <period>"` or `"max <period>"`); usage in `cpu.stat`.

use crate::cgroups::{read_key, shares_to_weight, write, Resources, Result, DEFAULT_CPU_PERIOD_US};
use std::path::Path;

/// Writes weight and bandwidth.
pub fn apply(dir: &Path, res: &Resources) -> Result<()> {
    if let Some(shares) = res.cpu_shares {
        write(
            &dir.join("cpu.weight"),
            &shares_to_weight(shares).to_string(),
        )?;
    }
    if let Some(quota) = res.cpu_quota_us {
        let period = res.cpu_period_us.unwrap_or(DEFAULT_CPU_PERIOD_US);
        let q = if quota <= 0 {
            "max".to_string()
        } else {
            quota.to_string()
        };
        write(&dir.join("cpu.max"), &format!("{q} {period}"))?;
    }
    Ok(())
}

/// CPU time in nanoseconds (`cpu.stat` counts microseconds).
pub fn usage_ns(dir: &Path) -> Result<u64> {
    Ok(read_key(&dir.join("cpu.stat"), "usage_usec")? * 1000)
}
