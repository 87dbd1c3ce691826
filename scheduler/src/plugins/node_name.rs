//! NodeName: a pod that names its node (`spec.nodeName`) fits only there.
//! (Pods that already carry a node name never reach the queue; the rule is
//! kept for completeness and for preemption simulations.)

use crate::cache::{NodeInfo, PodInfo};
use crate::framework::{ClusterEvent, CycleState, FilterPlugin, Plugin, Status};

/// The plugin's name.
pub const NAME: &str = "NodeName";
/// Why a node was rejected.
pub const REASON: &str = "node(s) didn't match the requested node name";

/// See the module docs.
#[derive(Debug, Default)]
pub struct NodeName;

impl Plugin for NodeName {
    fn name(&self) -> &'static str {
        NAME
    }
    fn events_to_register(&self) -> &'static [ClusterEvent] {
        &[ClusterEvent::NodeAdd]
    }
}

impl FilterPlugin for NodeName {
    fn filter(&self, _: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        match pod.node_name() {
            Some(n) if n != node.name => Status::unresolvable(REASON),
            _ => Status::success(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testing::*;
    use serde_json::json;

    #[test]
    fn only_the_named_node() {
        let p = pod("p", json!({}), json!({"nodeName": "n1"}));
        let st = CycleState::default();
        assert!(NodeName.filter(&st, &p, &plain_node("n1")).is_success());
        assert_eq!(
            NodeName.filter(&st, &p, &plain_node("n2")).reasons,
            vec![REASON]
        );
        let free = pod("q", json!({}), json!({}));
        assert!(NodeName.filter(&st, &free, &plain_node("n2")).is_success());
    }
}
