//! NodeAffinity: `spec.nodeSelector` and `requiredDuringScheduling` node
//! affinity must hold (filter); `preferredDuringScheduling` terms add their
//! weight to every node they match (score, normalized to 0..=100).

use super::{node_matches_pod_selectors, term_matches};
use crate::cache::{NodeInfo, PodInfo, Snapshot};
use crate::framework::{
    default_normalize, ClusterEvent, CycleState, FilterPlugin, Plugin, PreFilterPlugin,
    ScorePlugin, Status,
};

/// The plugin's name.
pub const NAME: &str = "NodeAffinity";
/// Why a node was rejected.
pub const REASON: &str = "node(s) didn't match Pod's node affinity/selector";

/// See the module docs.
#[derive(Debug, Default)]
pub struct NodeAffinity;

impl Plugin for NodeAffinity {
    fn name(&self) -> &'static str {
        NAME
    }
    fn events_to_register(&self) -> &'static [ClusterEvent] {
        &[ClusterEvent::NodeAdd, ClusterEvent::NodeUpdate]
    }
}

impl PreFilterPlugin for NodeAffinity {
    fn pre_filter(&self, _: &mut CycleState, pod: &PodInfo, _: &Snapshot) -> Status {
        let spec = pod.pod.spec.as_ref();
        let has_selector = spec
            .and_then(|s| s.node_selector.as_ref())
            .is_some_and(|m| !m.is_empty());
        let has_required = spec
            .and_then(|s| s.affinity.as_ref())
            .and_then(|a| a.node_affinity.as_ref())
            .is_some_and(|a| {
                a.required_during_scheduling_ignored_during_execution
                    .is_some()
            });
        if has_selector || has_required {
            Status::success()
        } else {
            Status::skip()
        }
    }
}

impl FilterPlugin for NodeAffinity {
    fn filter(&self, _: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        if node_matches_pod_selectors(&pod.pod, node) {
            Status::success()
        } else {
            Status::unresolvable(REASON)
        }
    }
}

impl ScorePlugin for NodeAffinity {
    fn score(&self, _: &CycleState, pod: &PodInfo, node: &NodeInfo) -> i64 {
        let preferred = pod
            .pod
            .spec
            .as_ref()
            .and_then(|s| s.affinity.as_ref())
            .and_then(|a| a.node_affinity.as_ref())
            .and_then(|a| {
                a.preferred_during_scheduling_ignored_during_execution
                    .as_ref()
            });
        preferred
            .into_iter()
            .flatten()
            .filter(|t| t.weight != 0 && term_matches(&t.preference, node))
            .map(|t| i64::from(t.weight))
            .sum()
    }

    fn normalize(&self, _: &CycleState, _: &PodInfo, scores: &mut [i64]) {
        default_normalize(scores, false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testing::*;
    use serde_json::json;

    #[test]
    fn selector_and_required_affinity() {
        let st = CycleState::default();
        let ssd = node(
            "n1",
            json!({"disk": "ssd", "zone": "a"}),
            "1",
            "1Gi",
            json!({}),
        );
        let hdd = node(
            "n2",
            json!({"disk": "hdd", "zone": "b"}),
            "1",
            "1Gi",
            json!({}),
        );
        let p = pod("p", json!({}), json!({"nodeSelector": {"disk": "ssd"}}));
        assert!(NodeAffinity.filter(&st, &p, &ssd).is_success());
        assert_eq!(NodeAffinity.filter(&st, &p, &hdd).reasons, vec![REASON]);
        let a = pod(
            "a",
            json!({}),
            json!({"affinity": {"nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["x"]}]},
                {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["b"]}]}
            ]}}}}),
        );
        assert!(!NodeAffinity.filter(&st, &a, &ssd).is_success());
        assert!(NodeAffinity.filter(&st, &a, &hdd).is_success());
    }

    #[test]
    fn preferred_terms_score() {
        let st = CycleState::default();
        let ssd = node("n1", json!({"disk": "ssd"}), "1", "1Gi", json!({}));
        let hdd = node("n2", json!({"disk": "hdd"}), "1", "1Gi", json!({}));
        let p = pod(
            "p",
            json!({}),
            json!({"affinity": {"nodeAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": 20, "preference": {"matchExpressions": [{"key": "disk", "operator": "In", "values": ["ssd"]}]}},
                {"weight": 5, "preference": {"matchExpressions": [{"key": "disk", "operator": "Exists"}]}}
            ]}}}),
        );
        let mut scores = vec![
            NodeAffinity.score(&st, &p, &ssd),
            NodeAffinity.score(&st, &p, &hdd),
        ];
        assert_eq!(scores, vec![25, 5]);
        NodeAffinity.normalize(&st, &p, &mut scores);
        assert_eq!(scores, vec![100, 20]);
    }
}
