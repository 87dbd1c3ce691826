//! v1 `cpu` controller: `cpu.shares` (relative weight when CPUs are contended,
//! from the request) and CFS bandwidth `cpu.cfs_quota_us` / `cpu.cfs_period_us`
//! (a hard cap, from the limit: quota 50000 per 100000 period = half a CPU).

use crate::cgroups::{write, Resources, Result};
use std::path::Path;

/// Writes shares, period and quota (period first: the kernel checks quota
/// against the current period).
pub fn apply(dir: &Path, res: &Resources) -> Result<()> {
    if let Some(shares) = res.cpu_shares {
        write(&dir.join("cpu.shares"), &shares.to_string())?;
    }
    if let Some(period) = res.cpu_period_us {
        write(&dir.join("cpu.cfs_period_us"), &period.to_string())?;
    }
    if let Some(quota) = res.cpu_quota_us {
        write(&dir.join("cpu.cfs_quota_us"), &quota.to_string())?;
    }
    Ok(())
}
