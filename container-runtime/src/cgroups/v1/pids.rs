//! v1 `pids` controller: `pids.max` caps the number of tasks (fork bombs stop
//! here with EAGAIN); `pids.current` counts them.

use crate::cgroups::{read_u64, write, Resources, Result};
use std::path::Path;

/// Sets `pids.max`.
pub fn apply(dir: &Path, res: &Resources) -> Result<()> {
    if let Some(max) = res.pids_limit {
        let v = if max <= 0 {
            "max".to_string()
        } else {
            max.to_string()
        };
        write(&dir.join("pids.max"), &v)?;
    }
    Ok(())
}

/// Number of tasks now.
pub fn current(dir: &Path) -> Result<u64> {
    read_u64(&dir.join("pids.current"))
}
