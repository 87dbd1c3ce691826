//! NodeReady: only nodes whose `Ready` condition is `True` take new pods.
//!
//! Upstream gets the same effect indirectly: the node lifecycle controller
//! taints a not-ready node with `node.kubernetes.io/not-ready` and the
//! TaintToleration plugin rejects it. Checking the condition directly makes
//! the rule visible and works without that controller; a pod that tolerates
//! the not-ready taint (as DaemonSet pods do) is let through, as upstream.

use k8s_openapi::api::core::v1::Taint;

use super::{tolerated, tolerations};
use crate::cache::{NodeInfo, PodInfo};
use crate::framework::{ClusterEvent, CycleState, FilterPlugin, Plugin, Status};

/// The plugin's name.
pub const NAME: &str = "NodeReady";
/// Why a node was rejected.
pub const REASON: &str = "node(s) were not ready";
/// The taint a not-ready node carries upstream.
pub const TAINT_KEY: &str = "node.kubernetes.io/not-ready";

/// See the module docs.
#[derive(Debug, Default)]
pub struct NodeReady;

impl Plugin for NodeReady {
    fn name(&self) -> &'static str {
        NAME
    }
    fn events_to_register(&self) -> &'static [ClusterEvent] {
        &[ClusterEvent::NodeAdd, ClusterEvent::NodeUpdate]
    }
}

impl FilterPlugin for NodeReady {
    fn filter(&self, _: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        if node.ready {
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
    use std::sync::Arc;

    #[test]
    fn not_ready_nodes_reject() {
        let st = CycleState::default();
        let p = pod("p", json!({}), json!({}));
        assert!(NodeReady.filter(&st, &p, &plain_node("n1")).is_success());
        let n = crate::cache::NodeInfo::new(Arc::new(
            serde_json::from_value(json!({"metadata": {"name": "n2"},
                "status": {"conditions": [{"type": "Ready", "status": "False"}]}}))
            .unwrap(),
        ));
        assert_eq!(NodeReady.filter(&st, &p, &n).reasons, vec![REASON]);
        let tol = pod(
            "t",
            json!({}),
            json!({"tolerations": [{"key": TAINT_KEY, "operator": "Exists"}]}),
        );
        assert!(NodeReady.filter(&st, &tol, &n).is_success());
    }
}
