//! NodeUnschedulable: a cordoned node (`spec.unschedulable: true`) takes no
//! new pods, unless the pod tolerates the
//! `node.kubernetes.io/unschedulable:NoSchedule` taint (DaemonSet pods do).

use k8s_openapi::api::core::v1::Taint;

use super::{tolerated, tolerations};
use crate::cache::{NodeInfo, PodInfo};
use crate::framework::{ClusterEvent, CycleState, FilterPlugin, Plugin, Status};

/// The plugin's name.
pub const NAME: &str = "NodeUnschedulable";
/// Why a node was rejected.
pub const REASON: &str = "node(s) were unschedulable";
/// The taint a cordoned node implicitly has.
pub const TAINT_KEY: &str = "node.kubernetes.io/unschedulable";

/// See the module docs.
#[derive(Debug, Default)]
pub struct NodeUnschedulable;

impl Plugin for NodeUnschedulable {
    fn name(&self) -> &'static str {
        NAME
    }
    fn events_to_register(&self) -> &'static [ClusterEvent] {
        &[ClusterEvent::NodeAdd, ClusterEvent::NodeUpdate]
    }
}

impl FilterPlugin for NodeUnschedulable {
    fn filter(&self, _: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        if !node.unschedulable() {
            return Status::success();
        }
        let taint = Taint {
            key: TAINT_KEY.into(),
            effect: "NoSchedule".into(),
            ..Default::default()
        };
        if tolerated(tolerations(&pod.pod), &taint) {
            Status::success()
        } else {
            Status::unresolvable(REASON)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testing::*;
    use serde_json::json;

    #[test]
    fn cordoned_nodes_reject_unless_tolerated() {
        let n = node("n1", json!({}), "1", "1Gi", json!({"unschedulable": true}));
        let st = CycleState::default();
        let p = pod("p", json!({}), json!({}));
        assert_eq!(NodeUnschedulable.filter(&st, &p, &n).reasons, vec![REASON]);
        let tol = pod(
            "t",
            json!({}),
            json!({"tolerations": [{"key": TAINT_KEY, "operator": "Exists", "effect": "NoSchedule"}]}),
        );
        assert!(NodeUnschedulable.filter(&st, &tol, &n).is_success());
        assert!(NodeUnschedulable
            .filter(&st, &p, &plain_node("n2"))
            .is_success());
    }
}
