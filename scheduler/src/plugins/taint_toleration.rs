//! TaintToleration: a node's `NoSchedule` and `NoExecute` taints keep away
//! every pod that does not tolerate them (filter); each untolerated
//! `PreferNoSchedule` taint makes the node less attractive (score, reversed:
//! fewer such taints is better).

use super::{tolerated, tolerations};
use crate::cache::{NodeInfo, PodInfo};
use crate::framework::{
    default_normalize, ClusterEvent, CycleState, FilterPlugin, Plugin, ScorePlugin, Status,
};

/// The plugin's name.
pub const NAME: &str = "TaintToleration";

/// See the module docs.
#[derive(Debug, Default)]
pub struct TaintToleration;

impl Plugin for TaintToleration {
    fn name(&self) -> &'static str {
        NAME
    }
    fn events_to_register(&self) -> &'static [ClusterEvent] {
        &[ClusterEvent::NodeAdd, ClusterEvent::NodeUpdate]
    }
}

impl FilterPlugin for TaintToleration {
    fn filter(&self, _: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        let tols = tolerations(&pod.pod);
        let bad = node
            .taints()
            .iter()
            .find(|t| (t.effect == "NoSchedule" || t.effect == "NoExecute") && !tolerated(tols, t));
        match bad {
            None => Status::success(),
            Some(t) => Status::unresolvable(format!(
                "node(s) had untolerated taint {{{}: {}}}",
                t.key,
                t.value.as_deref().unwrap_or("")
            )),
        }
    }
}

impl ScorePlugin for TaintToleration {
    fn score(&self, _: &CycleState, pod: &PodInfo, node: &NodeInfo) -> i64 {
        // Only tolerations that apply to PreferNoSchedule count here.
        let tols: Vec<_> = tolerations(&pod.pod)
            .iter()
            .filter(|t| {
                t.effect
                    .as_deref()
                    .is_none_or(|e| e.is_empty() || e == "PreferNoSchedule")
            })
            .cloned()
            .collect();
        node.taints()
            .iter()
            .filter(|t| t.effect == "PreferNoSchedule" && !tolerated(&tols, t))
            .count() as i64
    }

    fn normalize(&self, _: &CycleState, _: &PodInfo, scores: &mut [i64]) {
        default_normalize(scores, true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testing::*;
    use serde_json::json;

    #[test]
    fn hard_taints_filter() {
        let st = CycleState::default();
        let n = node(
            "n1",
            json!({}),
            "1",
            "1Gi",
            json!({"taints": [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]}),
        );
        let p = pod("p", json!({}), json!({}));
        assert_eq!(
            TaintToleration.filter(&st, &p, &n).reasons,
            vec!["node(s) had untolerated taint {dedicated: gpu}"]
        );
        let t = pod(
            "t",
            json!({}),
            json!({"tolerations": [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]}),
        );
        assert!(TaintToleration.filter(&st, &t, &n).is_success());
        let soft = node(
            "n2",
            json!({}),
            "1",
            "1Gi",
            json!({"taints": [{"key": "k", "effect": "PreferNoSchedule"}]}),
        );
        assert!(TaintToleration.filter(&st, &p, &soft).is_success());
    }

    #[test]
    fn soft_taints_score() {
        let st = CycleState::default();
        let soft = node(
            "n1",
            json!({}),
            "1",
            "1Gi",
            json!({"taints": [{"key": "k", "effect": "PreferNoSchedule"}]}),
        );
        let clean = plain_node("n2");
        let p = pod("p", json!({}), json!({}));
        let mut s = vec![
            TaintToleration.score(&st, &p, &soft),
            TaintToleration.score(&st, &p, &clean),
        ];
        TaintToleration.normalize(&st, &p, &mut s);
        assert_eq!(s, vec![0, 100]);
        let t = pod(
            "t",
            json!({}),
            json!({"tolerations": [{"key": "k", "operator": "Exists"}]}),
        );
        assert_eq!(TaintToleration.score(&st, &t, &soft), 0);
    }
}
