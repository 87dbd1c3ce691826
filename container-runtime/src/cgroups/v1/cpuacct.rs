//! v1 `cpuacct` controller: CPU time accounting (`cpuacct.usage`, nanoseconds).

use crate::cgroups::{read_u64, Result};
use std::path::Path;

/// Total CPU time of the cgroup in nanoseconds.
pub fn usage_ns(dir: &Path) -> Result<u64> {
    read_u64(&dir.join("cpuacct.usage"))
}
