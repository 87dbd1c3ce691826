//! NodeResourcesFit: the pod's requests (CPU, memory, ephemeral storage,
//! extended resources, and one pod slot) must fit in the node's allocatable
//! minus what its pods already request.
//!
//! As a score plugin it implements upstream's default `LeastAllocated`
//! strategy: prefer nodes with the most room left, averaged over CPU and
//! memory (weight 1 each), counting pods without requests at 100m / 200Mi so
//! they still spread.

use crate::cache::{NodeInfo, PodInfo};
use crate::framework::{
    ClusterEvent, CycleState, FilterPlugin, Plugin, ScorePlugin, Status, MAX_NODE_SCORE,
};

/// The plugin's name.
pub const NAME: &str = "NodeResourcesFit";

/// See the module docs.
#[derive(Debug, Default)]
pub struct NodeResourcesFit;

impl Plugin for NodeResourcesFit {
    fn name(&self) -> &'static str {
        NAME
    }
    fn events_to_register(&self) -> &'static [ClusterEvent] {
        &[
            ClusterEvent::NodeAdd,
            ClusterEvent::NodeUpdate,
            ClusterEvent::AssignedPodDelete,
        ]
    }
}

/// The reasons a pod does not fit a node (empty if it fits).
pub fn insufficient(pod: &PodInfo, node: &NodeInfo) -> Vec<String> {
    let mut reasons = Vec::new();
    let (req, used, alloc) = (&pod.requests, &node.requested, &node.allocatable);
    if used.pods + 1 > node.allowed_pods() {
        reasons.push("Too many pods".to_string());
    }
    if req.milli_cpu > 0 && req.milli_cpu > alloc.milli_cpu - used.milli_cpu {
        reasons.push("Insufficient cpu".to_string());
    }
    if req.memory > 0 && req.memory > alloc.memory - used.memory {
        reasons.push("Insufficient memory".to_string());
    }
    if req.ephemeral_storage > 0
        && req.ephemeral_storage > alloc.ephemeral_storage - used.ephemeral_storage
    {
        reasons.push("Insufficient ephemeral-storage".to_string());
    }
    for (name, want) in &req.scalar {
        if *want == 0 {
            continue;
        }
        let have = alloc.scalar.get(name).copied().unwrap_or(0)
            - used.scalar.get(name).copied().unwrap_or(0);
        if *want > have {
            reasons.push(format!("Insufficient {name}"));
        }
    }
    reasons
}

impl FilterPlugin for NodeResourcesFit {
    fn filter(&self, _: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        let reasons = insufficient(pod, node);
        if reasons.is_empty() {
            Status::success()
        } else {
            Status {
                code: crate::framework::Code::Unschedulable,
                reasons,
                plugin: NAME,
            }
        }
    }
}

/// `(capacity - requested) * 100 / capacity`, 0 when over capacity.
fn least_allocated(requested: i64, capacity: i64) -> i64 {
    if capacity <= 0 || requested > capacity {
        return 0;
    }
    (capacity - requested) * MAX_NODE_SCORE / capacity
}

impl ScorePlugin for NodeResourcesFit {
    fn score(&self, _: &CycleState, pod: &PodInfo, node: &NodeInfo) -> i64 {
        let cpu = least_allocated(
            node.non_zero_requested.0 + pod.non_zero.0,
            node.allocatable.milli_cpu,
        );
        let mem = least_allocated(
            node.non_zero_requested.1 + pod.non_zero.1,
            node.allocatable.memory,
        );
        (cpu + mem) / 2
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testing::*;
    use serde_json::json;

    #[test]
    fn fits_and_reasons() {
        let st = CycleState::default();
        let n = with_pod(
            node("n1", json!({}), "2", "2Gi", json!({})),
            pod_req("a", "1500m", "1Gi"),
        );
        assert!(NodeResourcesFit
            .filter(&st, &pod_req("b", "500m", "1Gi"), &n)
            .is_success());
        assert_eq!(
            NodeResourcesFit
                .filter(&st, &pod_req("c", "600m", "2Gi"), &n)
                .reasons,
            vec!["Insufficient cpu", "Insufficient memory"]
        );
        let tiny = node("n2", json!({}), "2", "2Gi", json!({}));
        let mut full = tiny.clone();
        full.allocatable.pods = 1;
        full.add_pod(std::sync::Arc::new(pod_req("x", "1m", "1Mi")));
        assert_eq!(
            NodeResourcesFit
                .filter(&st, &pod_req("d", "1m", "1Mi"), &full)
                .reasons,
            vec!["Too many pods"]
        );
        let gpu = pod(
            "g",
            json!({}),
            json!({"containers": [{"name": "c", "resources": {"limits": {"example.com/gpu": "1"}}}]}),
        );
        assert_eq!(
            NodeResourcesFit.filter(&st, &gpu, &tiny).reasons,
            vec!["Insufficient example.com/gpu"]
        );
    }

    #[test]
    fn least_allocated_prefers_emptier_nodes() {
        let st = CycleState::default();
        let empty = node("n1", json!({}), "4", "4Gi", json!({}));
        let busy = with_pod(empty.clone(), pod_req("a", "2", "2Gi"));
        let p = pod_req("b", "1", "1Gi");
        let (se, sb) = (
            NodeResourcesFit.score(&st, &p, &empty),
            NodeResourcesFit.score(&st, &p, &busy),
        );
        assert_eq!(se, 75);
        assert_eq!(sb, 25);
    }
}
