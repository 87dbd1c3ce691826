//! InterPodAffinity: where a pod may go depends on the pods already placed.
//!
//! A topology domain is the set of nodes sharing a value of the term's
//! `topologyKey` label (one node for `kubernetes.io/hostname`, a zone for
//! `topology.kubernetes.io/zone`). Filter (required terms):
//!
//! - **existing anti-affinity**: a placed pod whose required anti-affinity
//!   selects the incoming pod keeps it out of that pod's domain;
//! - **affinity**: each of the pod's required affinity terms needs a
//!   matching pod in the node's domain; if no pod matches anywhere and the
//!   pod matches its own terms, it may go anywhere (the first pod of a group);
//! - **anti-affinity**: no pod selected by the pod's anti-affinity terms may
//!   be in the node's domain.
//!
//! Score (preferred terms, both directions: the incoming pod's preferences
//! about placed pods, and placed pods' preferences about it) sums weights
//! per domain, then scales min..max to 0..100.

use std::collections::HashMap;
use std::sync::Arc;

use crate::cache::{AffinityTerm, NamespaceLabels, NodeInfo, PodInfo, Snapshot};
use crate::framework::{
    ClusterEvent, CycleState, FilterPlugin, Plugin, PreFilterPlugin, ScorePlugin, Status,
    MAX_NODE_SCORE,
};

/// The plugin's name.
pub const NAME: &str = "InterPodAffinity";
const SCORE_KEY: &str = "InterPodAffinity/score";
/// Rejected: a placed pod's anti-affinity.
pub const REASON_EXISTING_ANTI: &str = "node(s) didn't satisfy existing pods anti-affinity rules";
/// Rejected: the pod's affinity.
pub const REASON_AFFINITY: &str = "node(s) didn't match pod affinity rules";
/// Rejected: the pod's anti-affinity.
pub const REASON_ANTI: &str = "node(s) didn't match pod anti-affinity rules";

/// A (topology key, value) pair.
type Domain = (String, String);

/// See the module docs.
#[derive(Debug, Default)]
pub struct InterPodAffinity;

#[derive(Debug, Default)]
struct FilterState {
    existing_anti: HashMap<Domain, i64>,
    affinity: HashMap<Domain, i64>,
    anti: HashMap<Domain, i64>,
}

impl Plugin for InterPodAffinity {
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
            ClusterEvent::NamespaceUpdate,
        ]
    }
}

fn domain_of(node: &NodeInfo, key: &str) -> Option<Domain> {
    node.labels().get(key).map(|v| (key.to_string(), v.clone()))
}

fn matches_all(terms: &[AffinityTerm], pod: &PodInfo, ns: &NamespaceLabels) -> bool {
    terms.iter().all(|t| t.matches(pod, ns))
}

impl PreFilterPlugin for InterPodAffinity {
    fn pre_filter(&self, state: &mut CycleState, pod: &PodInfo, snap: &Snapshot) -> Status {
        let has_own = !pod.required_affinity.is_empty() || !pod.required_anti_affinity.is_empty();
        let any_existing_anti = snap
            .nodes
            .iter()
            .any(|n| n.pods_with_required_anti_affinity > 0);
        if !has_own && !any_existing_anti {
            return Status::skip();
        }
        let mut st = FilterState::default();
        let ns = &snap.namespaces;
        for node in &snap.nodes {
            if node.pods_with_required_anti_affinity > 0 {
                for existing in node
                    .pods
                    .iter()
                    .filter(|p| !p.required_anti_affinity.is_empty())
                {
                    for term in &existing.required_anti_affinity {
                        if term.matches(pod, ns) {
                            if let Some(d) = domain_of(node, &term.topology_key) {
                                *st.existing_anti.entry(d).or_default() += 1;
                            }
                        }
                    }
                }
            }
            if !has_own {
                continue;
            }
            for existing in &node.pods {
                if !pod.required_affinity.is_empty()
                    && matches_all(&pod.required_affinity, existing, ns)
                {
                    for term in &pod.required_affinity {
                        if let Some(d) = domain_of(node, &term.topology_key) {
                            *st.affinity.entry(d).or_default() += 1;
                        }
                    }
                }
                for term in &pod.required_anti_affinity {
                    if term.matches(existing, ns) {
                        if let Some(d) = domain_of(node, &term.topology_key) {
                            *st.anti.entry(d).or_default() += 1;
                        }
                    }
                }
            }
        }
        // The first pod of a group that selects itself may go anywhere.
        let self_ok = st.affinity.is_empty() && matches_all(&pod.required_affinity, pod, ns);
        state.write(NAME, (st, self_ok));
        Status::success()
    }
}

impl FilterPlugin for InterPodAffinity {
    fn filter(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        let Some((st, self_ok)) = state.read::<(FilterState, bool)>(NAME) else {
            return Status::success();
        };
        if !pod.required_affinity.is_empty() && !self_ok {
            let ok = pod.required_affinity.iter().all(|t| {
                domain_of(node, &t.topology_key)
                    .and_then(|d| st.affinity.get(&d))
                    .is_some_and(|c| *c > 0)
            });
            if !ok {
                return Status::unresolvable(REASON_AFFINITY);
            }
        }
        if !pod.required_affinity.is_empty()
            && *self_ok
            && !pod
                .required_affinity
                .iter()
                .all(|t| node.labels().contains_key(&t.topology_key))
        {
            return Status::unresolvable(REASON_AFFINITY);
        }
        let anti_hit = pod.required_anti_affinity.iter().any(|t| {
            domain_of(node, &t.topology_key)
                .and_then(|d| st.anti.get(&d))
                .is_some_and(|c| *c > 0)
        });
        if anti_hit {
            return Status::unschedulable(REASON_ANTI);
        }
        if !st.existing_anti.is_empty() {
            let hit = node.labels().iter().any(|(k, v)| {
                st.existing_anti
                    .get(&(k.clone(), v.clone()))
                    .is_some_and(|c| *c > 0)
            });
            if hit {
                return Status::unschedulable(REASON_EXISTING_ANTI);
            }
        }
        Status::success()
    }
}

impl ScorePlugin for InterPodAffinity {
    fn pre_score(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        snap: &Snapshot,
        _: &[Arc<NodeInfo>],
    ) -> Status {
        let own = !pod.preferred_affinity.is_empty() || !pod.preferred_anti_affinity.is_empty();
        let others = snap.nodes.iter().any(|n| n.pods_with_affinity > 0);
        if !own && !others {
            return Status::skip();
        }
        let ns = &snap.namespaces;
        let mut scores: HashMap<Domain, i64> = HashMap::new();
        let mut add = |node: &NodeInfo, key: &str, w: i64| {
            if let Some(d) = domain_of(node, key) {
                *scores.entry(d).or_default() += w;
            }
        };
        for node in &snap.nodes {
            if !own && node.pods_with_affinity == 0 {
                continue;
            }
            for existing in &node.pods {
                for t in &pod.preferred_affinity {
                    if t.term.matches(existing, ns) {
                        add(node, &t.term.topology_key, t.weight);
                    }
                }
                for t in &pod.preferred_anti_affinity {
                    if t.term.matches(existing, ns) {
                        add(node, &t.term.topology_key, -t.weight);
                    }
                }
                if !existing.has_affinity() {
                    continue;
                }
                // Placed pods' wishes about the incoming pod; their required
                // affinity counts with the "hard pod affinity weight" 1.
                for t in &existing.required_affinity {
                    if t.matches(pod, ns) {
                        add(node, &t.topology_key, 1);
                    }
                }
                for t in &existing.preferred_affinity {
                    if t.term.matches(pod, ns) {
                        add(node, &t.term.topology_key, t.weight);
                    }
                }
                for t in &existing.preferred_anti_affinity {
                    if t.term.matches(pod, ns) {
                        add(node, &t.term.topology_key, -t.weight);
                    }
                }
            }
        }
        if scores.is_empty() {
            return Status::skip();
        }
        state.write(SCORE_KEY, scores);
        Status::success()
    }

    fn score(&self, state: &CycleState, _: &PodInfo, node: &NodeInfo) -> i64 {
        let Some(scores) = state.read::<HashMap<Domain, i64>>(SCORE_KEY) else {
            return 0;
        };
        node.labels()
            .iter()
            .filter_map(|(k, v)| scores.get(&(k.clone(), v.clone())))
            .sum()
    }

    fn normalize(&self, _: &CycleState, _: &PodInfo, scores: &mut [i64]) {
        let (Some(min), Some(max)) = (scores.iter().min().copied(), scores.iter().max().copied())
        else {
            return;
        };
        let diff = max - min;
        for s in scores.iter_mut() {
            *s = if diff > 0 {
                MAX_NODE_SCORE * (*s - min) / diff
            } else {
                0
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

    fn zone_node(name: &str, zone: &str) -> NodeInfo {
        node(name, json!({"zone": zone}), "4", "8Gi", json!({}))
    }

    fn run(pod: &PodInfo, nodes: Vec<NodeInfo>) -> Vec<Status> {
        let snap = Snapshot::from_nodes(nodes);
        let mut st = CycleState::default();
        let pre = InterPodAffinity.pre_filter(&mut st, pod, &snap);
        if pre.code == Code::Skip {
            return snap.nodes.iter().map(|_| Status::success()).collect();
        }
        snap.nodes
            .iter()
            .map(|n| InterPodAffinity.filter(&st, pod, n))
            .collect()
    }

    fn anti(app: &str, key: &str) -> serde_json::Value {
        json!({"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": {"matchLabels": {"app": app}}, "topologyKey": key}]}}})
    }

    #[test]
    fn anti_affinity_spreads_per_host() {
        let web = |n: &str| {
            pod(
                n,
                json!({"app": "web"}),
                anti("web", "kubernetes.io/hostname"),
            )
        };
        let nodes = vec![with_pod(plain_node("n1"), web("a")), plain_node("n2")];
        let st = run(&web("b"), nodes);
        assert_eq!(st[0].reasons, vec![REASON_ANTI]);
        assert!(st[1].is_success());
    }

    #[test]
    fn existing_pods_anti_affinity_blocks_newcomers() {
        let guard = pod("g", json!({}), anti("web", "zone"));
        let nodes = vec![
            with_pod(zone_node("n1", "a"), guard),
            zone_node("n2", "a"),
            zone_node("n3", "b"),
        ];
        let st = run(&pod("w", json!({"app": "web"}), json!({})), nodes);
        assert_eq!(st[0].reasons, vec![REASON_EXISTING_ANTI]);
        assert_eq!(st[1].reasons, vec![REASON_EXISTING_ANTI]);
        assert!(st[2].is_success());
    }

    #[test]
    fn affinity_follows_the_group_and_first_pod_goes_anywhere() {
        let spec = json!({"affinity": {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": {"matchLabels": {"app": "db"}}, "topologyKey": "zone"}]}}});
        let first = pod("first", json!({"app": "db"}), spec.clone());
        let st = run(&first, vec![zone_node("n1", "a"), zone_node("n2", "b")]);
        assert!(st.iter().all(Status::is_success));
        let db = pod("db", json!({"app": "db"}), json!({}));
        let st = run(
            &pod("cache", json!({}), spec),
            vec![
                with_pod(zone_node("n1", "a"), db),
                zone_node("n2", "a"),
                zone_node("n3", "b"),
            ],
        );
        assert!(st[0].is_success() && st[1].is_success());
        assert_eq!(st[2].reasons, vec![REASON_AFFINITY]);
    }

    #[test]
    fn preferred_anti_affinity_scores_lower() {
        let p = pod(
            "p",
            json!({"app": "web"}),
            json!({"affinity": {"podAntiAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 50, "podAffinityTerm":
                {"labelSelector": {"matchLabels": {"app": "web"}}, "topologyKey": "kubernetes.io/hostname"}}]}}}),
        );
        let busy = with_pod(plain_node("n1"), pod("w", json!({"app": "web"}), json!({})));
        let snap = Snapshot::from_nodes(vec![busy, plain_node("n2")]);
        let mut st = CycleState::default();
        assert!(InterPodAffinity
            .pre_score(&mut st, &p, &snap, &snap.nodes)
            .is_success());
        let mut s: Vec<i64> = snap
            .nodes
            .iter()
            .map(|n| InterPodAffinity.score(&st, &p, n))
            .collect();
        InterPodAffinity.normalize(&st, &p, &mut s);
        assert_eq!(s, vec![0, 100]);
    }
}
