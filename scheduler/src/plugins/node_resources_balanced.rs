//! NodeResourcesBalancedAllocation: prefer nodes where CPU and memory would
//! be used in similar proportions after placing the pod, so neither resource
//! is stranded. Score = (1 - standard deviation of the used fractions) * 100.

use crate::cache::{NodeInfo, PodInfo};
use crate::framework::{CycleState, Plugin, ScorePlugin, MAX_NODE_SCORE};

/// The plugin's name.
pub const NAME: &str = "NodeResourcesBalancedAllocation";

/// See the module docs.
#[derive(Debug, Default)]
pub struct BalancedAllocation;

impl Plugin for BalancedAllocation {
    fn name(&self) -> &'static str {
        NAME
    }
}

fn fraction(requested: i64, capacity: i64) -> f64 {
    if capacity <= 0 {
        return 1.0;
    }
    (requested as f64 / capacity as f64).min(1.0)
}

impl ScorePlugin for BalancedAllocation {
    fn score(&self, _: &CycleState, pod: &PodInfo, node: &NodeInfo) -> i64 {
        let cpu = fraction(
            node.requested.milli_cpu + pod.requests.milli_cpu,
            node.allocatable.milli_cpu,
        );
        let mem = fraction(
            node.requested.memory + pod.requests.memory,
            node.allocatable.memory,
        );
        // For two values the standard deviation is half their distance.
        let std = (cpu - mem).abs() / 2.0;
        ((1.0 - std) * MAX_NODE_SCORE as f64) as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testing::*;
    use serde_json::json;

    #[test]
    fn balanced_beats_lopsided() {
        let st = CycleState::default();
        let cpu_heavy = with_pod(
            node("n1", json!({}), "4", "4Gi", json!({})),
            pod_req("a", "3", "100Mi"),
        );
        let even = node("n2", json!({}), "4", "4Gi", json!({}));
        let p = pod_req("b", "1", "1Gi");
        assert_eq!(BalancedAllocation.score(&st, &p, &even), 100);
        assert!(BalancedAllocation.score(&st, &p, &cpu_heavy) < 70);
    }
}
