//! Preemption (upstream `DefaultPreemption`, the PostFilter plugin): when no
//! node fits a pod, find the node where evicting the fewest, least important
//! pods would make it fit.
//!
//! 1. Only nodes whose rejection was `Unschedulable` (not *unresolvable*:
//!    evicting pods cannot fix a taint or a node selector) are candidates.
//! 2. On each, remove every pod of lower priority and run the filters; if
//!    the pod still does not fit, the node is no candidate.
//! 3. Add the removed pods back one by one, most important first, keeping
//!    each that still lets the pod fit ("reprieve"); the others are victims.
//! 4. Pick the node whose most important victim is least important, then
//!    the smallest sum of victim priorities, then the fewest victims.
//!
//! The preemptor is then *nominated* to the node (`status.nominatedNodeName`)
//! and the victims are deleted; it is bound once they are gone.

use std::collections::HashMap;
use std::sync::Arc;

use crate::cache::{NodeInfo, PodInfo, Snapshot};
use crate::framework::runtime::Framework;
use crate::framework::{Code, CycleState, Status};
use crate::queue::nominator::Nominator;

/// A node and the pods to evict there.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// The node.
    pub node: String,
    /// Pods to evict.
    pub victims: Vec<Arc<PodInfo>>,
}

/// Whether the pod may preempt at all; `Err` explains why not.
pub fn eligible(pod: &PodInfo, snap: &Snapshot) -> Result<(), String> {
    let spec = pod.pod.spec.as_ref();
    if spec.and_then(|s| s.preemption_policy.as_deref()) == Some("Never") {
        return Err("not eligible due to preemptionPolicy=Never.".into());
    }
    // Already nominated and victims are still terminating there: wait.
    let nominated = pod
        .pod
        .status
        .as_ref()
        .and_then(|s| s.nominated_node_name.as_deref())
        .filter(|n| !n.is_empty());
    if let Some(node) = nominated.and_then(|n| snap.get(n)) {
        if node
            .pods
            .iter()
            .any(|p| p.terminating() && p.priority < pod.priority)
        {
            return Err("not eligible due to a terminating pod on the nominated node.".into());
        }
    }
    Ok(())
}

fn fits(fw: &Framework, state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> bool {
    fw.run_filter(state, pod, node).is_success()
}

/// Victims on one node, or None if evicting cannot make room.
fn select_victims(
    fw: &Framework,
    state: &CycleState,
    pod: &PodInfo,
    node: &NodeInfo,
    nominator: &Nominator,
) -> Option<Vec<Arc<PodInfo>>> {
    let mut sim = node.clone();
    for p in nominator.nominated_for(&node.name, pod.priority, &pod.key) {
        sim.add_pod(p);
    }
    let mut lower: Vec<Arc<PodInfo>> = sim
        .pods
        .iter()
        .filter(|p| p.priority < pod.priority)
        .cloned()
        .collect();
    for p in &lower {
        sim.remove_pod(&p.key);
    }
    if !fits(fw, state, pod, &sim) {
        return None;
    }
    // Most important first; among equals, the newest goes first.
    lower.sort_by(|a, b| {
        b.priority.cmp(&a.priority).then_with(|| {
            let t = |p: &PodInfo| p.pod.metadata.creation_timestamp.clone().map(|t| t.0);
            t(a).cmp(&t(b))
        })
    });
    let mut victims = Vec::new();
    for p in lower {
        sim.add_pod(Arc::clone(&p));
        if !fits(fw, state, pod, &sim) {
            sim.remove_pod(&p.key);
            if !p.terminating() {
                victims.push(p);
            }
        }
    }
    Some(victims)
}

/// Finds the best candidate, or the "preemption: ..." message saying why
/// there is none.
pub fn find_candidate(
    fw: &Framework,
    state: &CycleState,
    pod: &PodInfo,
    snap: &Snapshot,
    diagnosis: &HashMap<String, Status>,
    nominator: &Nominator,
) -> Result<Candidate, String> {
    eligible(pod, snap).map_err(|e| format!("preemption: {e}"))?;
    let mut unhelpful = 0usize;
    let mut none_found = 0usize;
    let mut best: Option<((i32, i64, usize), Candidate)> = None;
    for node in &snap.nodes {
        let code = diagnosis.get(&node.name).map(|s| s.code);
        if code != Some(Code::Unschedulable) {
            unhelpful += 1;
            continue;
        }
        let Some(victims) = select_victims(fw, state, pod, node, nominator) else {
            none_found += 1;
            continue;
        };
        let key = (
            victims.iter().map(|v| v.priority).max().unwrap_or(i32::MIN),
            victims.iter().map(|v| i64::from(v.priority)).sum::<i64>(),
            victims.len(),
        );
        if best.as_ref().is_none_or(|(k, _)| key < *k) {
            best = Some((
                key,
                Candidate {
                    node: node.name.clone(),
                    victims,
                },
            ));
        }
    }
    if let Some((_, c)) = best {
        return Ok(c);
    }
    let mut parts = Vec::new();
    if none_found > 0 {
        parts.push(format!(
            "{none_found} No preemption victims found for incoming pod"
        ));
    }
    if unhelpful > 0 {
        parts.push(format!(
            "{unhelpful} Preemption is not helpful for scheduling"
        ));
    }
    parts.sort();
    Err(format!(
        "preemption: 0/{} nodes are available: {}.",
        snap.nodes.len(),
        parts.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::registry::default_framework;
    use crate::plugins::testing::*;
    use serde_json::json;

    fn prio_pod(name: &str, prio: i32, cpu: &str) -> PodInfo {
        pod(
            name,
            json!({}),
            json!({"priority": prio, "containers": [{"name": "c", "resources": {"requests": {"cpu": cpu}}}]}),
        )
    }

    fn diagnose(
        fw: &Framework,
        st: &CycleState,
        p: &PodInfo,
        snap: &Snapshot,
    ) -> HashMap<String, Status> {
        snap.nodes
            .iter()
            .map(|n| (n.name.clone(), fw.run_filter(st, p, n)))
            .collect()
    }

    #[test]
    fn picks_the_fewest_lowest_priority_victims() {
        let fw = default_framework();
        let n1 = with_pod(
            with_pod(
                node("n1", json!({}), "2", "4Gi", json!({})),
                prio_pod("a", 10, "1"),
            ),
            prio_pod("b", 10, "1"),
        );
        let n2 = with_pod(
            with_pod(
                node("n2", json!({}), "2", "4Gi", json!({})),
                prio_pod("c", 1, "1"),
            ),
            prio_pod("d", 1000, "1"),
        );
        let snap = Snapshot::from_nodes(vec![n1, n2]);
        let p = prio_pod("p", 100, "1");
        let mut st = CycleState::default();
        fw.run_pre_filter(&mut st, &p, &snap);
        let diag = diagnose(&fw, &st, &p, &snap);
        let c = find_candidate(&fw, &st, &p, &snap, &diag, &Nominator::default()).unwrap();
        assert_eq!(c.node, "n2");
        assert_eq!(c.victims.len(), 1);
        assert_eq!(c.victims[0].name, "c");
    }

    #[test]
    fn reprieves_pods_that_can_stay() {
        let fw = default_framework();
        let n1 = with_pod(
            with_pod(
                node("n1", json!({}), "3", "4Gi", json!({})),
                prio_pod("a", 5, "1"),
            ),
            prio_pod("b", 1, "2"),
        );
        let snap = Snapshot::from_nodes(vec![n1]);
        let p = prio_pod("p", 100, "2");
        let mut st = CycleState::default();
        fw.run_pre_filter(&mut st, &p, &snap);
        let diag = diagnose(&fw, &st, &p, &snap);
        let c = find_candidate(&fw, &st, &p, &snap, &diag, &Nominator::default()).unwrap();
        let names: Vec<_> = c.victims.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(names, vec!["b"]);
    }

    #[test]
    fn no_candidate_messages() {
        let fw = default_framework();
        let tainted = node(
            "n1",
            json!({}),
            "1",
            "1Gi",
            json!({"taints": [{"key": "k", "effect": "NoSchedule"}]}),
        );
        let busy = with_pod(
            node("n2", json!({}), "1", "1Gi", json!({})),
            prio_pod("a", 500, "1"),
        );
        let snap = Snapshot::from_nodes(vec![tainted, busy]);
        let p = prio_pod("p", 100, "1");
        let mut st = CycleState::default();
        fw.run_pre_filter(&mut st, &p, &snap);
        let diag = diagnose(&fw, &st, &p, &snap);
        let e = find_candidate(&fw, &st, &p, &snap, &diag, &Nominator::default()).unwrap_err();
        assert_eq!(
            e,
            "preemption: 0/2 nodes are available: 1 No preemption victims found for incoming pod, 1 Preemption is not helpful for scheduling."
        );
        let never = pod(
            "n",
            json!({}),
            json!({"priority": 100, "preemptionPolicy": "Never"}),
        );
        assert!(find_candidate(&fw, &st, &never, &snap, &diag, &Nominator::default()).is_err());
    }
}
