//! PodTopologySpread: keep the pods of a group evenly spread over topology
//! domains (zones, hosts...).
//!
//! For each constraint, count the pods matching its `labelSelector` (in the
//! pod's namespace) per domain, over the nodes that pass the pod's node
//! selector/affinity (`nodeAffinityPolicy: Honor`) and carry the
//! `topologyKey`. The *skew* of placing the pod in a domain is
//! `count(domain) + 1 - min(count over domains)` (the `+1` only if the pod
//! itself matches the selector).
//!
//! - `whenUnsatisfiable: DoNotSchedule` (filter): skew must not exceed
//!   `maxSkew`; with `minDomains` and fewer domains than that, the minimum
//!   counts as 0.
//! - `ScheduleAnyway` (score): fewer matching pods in the node's domains is
//!   better, each constraint weighted by `log(number of domains + 2)`.

use std::collections::HashMap;
use std::sync::Arc;

use apimachinery::labels::Selector;

use super::node_matches_pod_selectors;
use crate::cache::{NodeInfo, PodInfo, Snapshot};
use crate::framework::{
    ClusterEvent, CycleState, FilterPlugin, Plugin, PreFilterPlugin, ScorePlugin, Status,
    MAX_NODE_SCORE,
};

/// The plugin's name.
pub const NAME: &str = "PodTopologySpread";
const SCORE_KEY: &str = "PodTopologySpread/score";
/// Rejected: the skew would be too big.
pub const REASON: &str = "node(s) didn't match pod topology spread constraints";
/// Rejected: the node lacks a topology key.
pub const REASON_MISSING: &str =
    "node(s) didn't match pod topology spread constraints (missing required label)";

/// See the module docs.
#[derive(Debug, Default)]
pub struct PodTopologySpread;

#[derive(Debug, Clone)]
struct Constraint {
    max_skew: i64,
    key: String,
    selector: Selector,
    min_domains: i64,
    hard: bool,
    /// The incoming pod matches its own selector.
    self_match: i64,
}

fn constraints(pod: &PodInfo, hard: bool) -> Vec<Constraint> {
    let Some(list) = pod
        .pod
        .spec
        .as_ref()
        .and_then(|s| s.topology_spread_constraints.as_ref())
    else {
        return Vec::new();
    };
    list.iter()
        .filter(|c| (c.when_unsatisfiable == "DoNotSchedule") == hard)
        .map(|c| {
            let mut selector = c
                .label_selector
                .as_ref()
                .and_then(|s| serde_json::to_value(s).ok())
                .and_then(|v| Selector::from_label_selector_json(&v).ok())
                .unwrap_or_else(Selector::nothing);
            // matchLabelKeys: the pod's own values for these keys join the selector.
            for key in c.match_label_keys.iter().flatten() {
                if let Some(v) = pod.labels().get(key) {
                    if let Ok(r) = apimachinery::labels::Requirement::new(
                        key,
                        apimachinery::labels::Operator::Equals,
                        [v.as_str()],
                    ) {
                        selector = selector.and(r);
                    }
                }
            }
            let self_match = i64::from(selector.matches(pod.labels()));
            Constraint {
                max_skew: i64::from(c.max_skew),
                key: c.topology_key.clone(),
                selector,
                min_domains: i64::from(c.min_domains.unwrap_or(1)),
                hard,
                self_match,
            }
        })
        .collect()
}

/// Matching pods on a node for one constraint.
fn count_on(node: &NodeInfo, c: &Constraint, namespace: &str) -> i64 {
    node.pods
        .iter()
        .filter(|p| p.namespace == namespace && !p.terminating() && c.selector.matches(p.labels()))
        .count() as i64
}

fn eligible(pod: &PodInfo, node: &NodeInfo, cs: &[Constraint]) -> bool {
    cs.iter().all(|c| node.labels().contains_key(&c.key))
        && node_matches_pod_selectors(&pod.pod, node)
}

#[derive(Debug)]
struct FilterState {
    constraints: Vec<Constraint>,
    /// Per constraint: domain value -> matching pods.
    counts: Vec<HashMap<String, i64>>,
    /// Per constraint: the minimum over domains (0 if under minDomains).
    min: Vec<i64>,
}

impl Plugin for PodTopologySpread {
    fn name(&self) -> &'static str {
        NAME
    }
    fn events_to_register(&self) -> &'static [ClusterEvent] {
        &[
            ClusterEvent::NodeAdd,
            ClusterEvent::NodeUpdate,
            ClusterEvent::AssignedPodAdd,
            ClusterEvent::AssignedPodUpdate,
            ClusterEvent::AssignedPodDelete,
        ]
    }
}

impl PreFilterPlugin for PodTopologySpread {
    fn pre_filter(&self, state: &mut CycleState, pod: &PodInfo, snap: &Snapshot) -> Status {
        let cs = constraints(pod, true);
        if cs.is_empty() {
            return Status::skip();
        }
        let mut counts: Vec<HashMap<String, i64>> = vec![HashMap::new(); cs.len()];
        for node in &snap.nodes {
            if !eligible(pod, node, &cs) {
                continue;
            }
            for (i, c) in cs.iter().enumerate() {
                let v = node.labels()[&c.key].clone();
                *counts[i].entry(v).or_default() += count_on(node, c, &pod.namespace);
            }
        }
        let min = cs
            .iter()
            .zip(&counts)
            .map(|(c, m)| {
                if (m.len() as i64) < c.min_domains {
                    0
                } else {
                    m.values().copied().min().unwrap_or(0)
                }
            })
            .collect();
        state.write(
            NAME,
            FilterState {
                constraints: cs,
                counts,
                min,
            },
        );
        Status::success()
    }
}

impl FilterPlugin for PodTopologySpread {
    fn filter(&self, state: &CycleState, _: &PodInfo, node: &NodeInfo) -> Status {
        let Some(st) = state.read::<FilterState>(NAME) else {
            return Status::success();
        };
        for (i, c) in st.constraints.iter().enumerate() {
            debug_assert!(c.hard);
            let Some(v) = node.labels().get(&c.key) else {
                return Status::unresolvable(REASON_MISSING);
            };
            let here = st.counts[i].get(v).copied().unwrap_or(0);
            if here + c.self_match - st.min[i] > c.max_skew {
                return Status::unschedulable(REASON);
            }
        }
        Status::success()
    }
}

#[derive(Debug)]
struct ScoreState {
    constraints: Vec<Constraint>,
    counts: Vec<HashMap<String, i64>>,
    weights: Vec<f64>,
}

impl ScorePlugin for PodTopologySpread {
    fn pre_score(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        snap: &Snapshot,
        feasible: &[Arc<NodeInfo>],
    ) -> Status {
        let cs = constraints(pod, false);
        if cs.is_empty() {
            return Status::skip();
        }
        // Domains come from the feasible nodes; counts from every eligible node.
        let mut counts: Vec<HashMap<String, i64>> = vec![HashMap::new(); cs.len()];
        for node in feasible {
            for (i, c) in cs.iter().enumerate() {
                if let Some(v) = node.labels().get(&c.key) {
                    counts[i].entry(v.clone()).or_default();
                }
            }
        }
        for node in &snap.nodes {
            if !eligible(pod, node, &cs) {
                continue;
            }
            for (i, c) in cs.iter().enumerate() {
                let v = &node.labels()[&c.key];
                if let Some(n) = counts[i].get_mut(v) {
                    *n += count_on(node, c, &pod.namespace);
                }
            }
        }
        let weights = counts.iter().map(|m| ((m.len() + 2) as f64).ln()).collect();
        state.write(
            SCORE_KEY,
            ScoreState {
                constraints: cs,
                counts,
                weights,
            },
        );
        Status::success()
    }

    fn score(&self, state: &CycleState, _: &PodInfo, node: &NodeInfo) -> i64 {
        let Some(st) = state.read::<ScoreState>(SCORE_KEY) else {
            return 0;
        };
        let mut score = 0.0;
        for (i, c) in st.constraints.iter().enumerate() {
            let Some(v) = node.labels().get(&c.key) else {
                // Upstream gives nodes without the key the lowest score.
                return -1;
            };
            let n = st.counts[i].get(v).copied().unwrap_or(0);
            score += (n as f64) * st.weights[i] + (c.max_skew - 1) as f64;
        }
        score.round() as i64
    }

    fn normalize(&self, state: &CycleState, _: &PodInfo, scores: &mut [i64]) {
        if state.read::<ScoreState>(SCORE_KEY).is_none() {
            return;
        }
        let valid = scores.iter().copied().filter(|s| *s >= 0);
        let (min, max) = valid.fold((i64::MAX, i64::MIN), |(lo, hi), s| (lo.min(s), hi.max(s)));
        for s in scores.iter_mut() {
            *s = if *s < 0 {
                0
            } else if max <= 0 {
                MAX_NODE_SCORE
            } else {
                MAX_NODE_SCORE * (max + min - *s) / max
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::Code;
    use crate::plugins::testing::*;
    use serde_json::json;

    fn spread(key: &str, when: &str, skew: i32) -> serde_json::Value {
        json!({"topologySpreadConstraints": [{"maxSkew": skew, "topologyKey": key,
            "whenUnsatisfiable": when, "labelSelector": {"matchLabels": {"app": "web"}}}]})
    }

    fn web(name: &str) -> PodInfo {
        pod(name, json!({"app": "web"}), json!({}))
    }

    fn zn(name: &str, zone: &str) -> NodeInfo {
        node(name, json!({"zone": zone}), "4", "8Gi", json!({}))
    }

    #[test]
    fn do_not_schedule_respects_max_skew() {
        let nodes = vec![
            with_pod(with_pod(zn("n1", "a"), web("w1")), web("w2")),
            with_pod(zn("n2", "b"), web("w3")),
            plain_node("nokey"),
        ];
        let snap = Snapshot::from_nodes(nodes);
        let p = pod(
            "p",
            json!({"app": "web"}),
            spread("zone", "DoNotSchedule", 1),
        );
        let mut st = CycleState::default();
        assert!(PodTopologySpread
            .pre_filter(&mut st, &p, &snap)
            .is_success());
        let r: Vec<Status> = snap
            .nodes
            .iter()
            .map(|n| PodTopologySpread.filter(&st, &p, n))
            .collect();
        assert_eq!(r[0].reasons, vec![REASON]);
        assert!(r[1].is_success());
        assert_eq!(r[2].reasons, vec![REASON_MISSING]);
        assert_eq!(r[2].code, Code::UnschedulableAndUnresolvable);
    }

    #[test]
    fn min_domains_treats_missing_domains_as_empty() {
        let snap = Snapshot::from_nodes(vec![with_pod(zn("n1", "a"), web("w1"))]);
        let mut spec = spread("zone", "DoNotSchedule", 1);
        spec["topologySpreadConstraints"][0]["minDomains"] = json!(2);
        let p = pod("p", json!({"app": "web"}), spec);
        let mut st = CycleState::default();
        PodTopologySpread.pre_filter(&mut st, &p, &snap);
        assert_eq!(
            PodTopologySpread.filter(&st, &p, &snap.nodes[0]).reasons,
            vec![REASON]
        );
    }

    #[test]
    fn schedule_anyway_scores_emptier_domains_higher() {
        let nodes = vec![
            with_pod(with_pod(zn("n1", "a"), web("w1")), web("w2")),
            zn("n2", "b"),
        ];
        let snap = Snapshot::from_nodes(nodes);
        let p = pod(
            "p",
            json!({"app": "web"}),
            spread("zone", "ScheduleAnyway", 1),
        );
        let mut st = CycleState::default();
        assert!(PodTopologySpread
            .pre_score(&mut st, &p, &snap, &snap.nodes)
            .is_success());
        let mut s: Vec<i64> = snap
            .nodes
            .iter()
            .map(|n| PodTopologySpread.score(&st, &p, n))
            .collect();
        PodTopologySpread.normalize(&st, &p, &mut s);
        assert!(s[1] > s[0], "{s:?}");
        assert_eq!(s[1], 100);
    }
}
