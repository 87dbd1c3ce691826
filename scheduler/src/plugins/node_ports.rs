//! NodePorts: two pods cannot bind the same `hostPort` (same protocol, and
//! the same host IP or one of them `0.0.0.0`) on one node.

use crate::cache::{NodeInfo, PodInfo, Snapshot};
use crate::framework::{ClusterEvent, CycleState, FilterPlugin, Plugin, PreFilterPlugin, Status};

/// The plugin's name.
pub const NAME: &str = "NodePorts";
/// Why a node was rejected.
pub const REASON: &str = "node(s) didn't have free ports for the requested pod ports";

/// See the module docs.
#[derive(Debug, Default)]
pub struct NodePorts;

impl Plugin for NodePorts {
    fn name(&self) -> &'static str {
        NAME
    }
    fn events_to_register(&self) -> &'static [ClusterEvent] {
        &[ClusterEvent::NodeAdd, ClusterEvent::AssignedPodDelete]
    }
}

impl PreFilterPlugin for NodePorts {
    fn pre_filter(&self, _: &mut CycleState, pod: &PodInfo, _: &Snapshot) -> Status {
        if pod.host_ports.is_empty() {
            Status::skip()
        } else {
            Status::success()
        }
    }
}

impl FilterPlugin for NodePorts {
    fn filter(&self, _: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        let clash = pod
            .host_ports
            .iter()
            .any(|want| node.used_ports.iter().any(|used| used.conflicts(want)));
        if clash {
            Status::unschedulable(REASON)
        } else {
            Status::success()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testing::*;
    use serde_json::json;

    fn with_port(name: &str, port: i32, ip: Option<&str>, proto: &str) -> PodInfo {
        let mut p = json!({"containerPort": 80, "hostPort": port, "protocol": proto});
        if let Some(ip) = ip {
            p["hostIP"] = json!(ip);
        }
        pod(
            name,
            json!({}),
            json!({"containers": [{"name": "c", "ports": [p]}]}),
        )
    }

    #[test]
    fn ports_clash() {
        let st = CycleState::default();
        let n = with_pod(plain_node("n1"), with_port("a", 8080, None, "TCP"));
        assert_eq!(
            NodePorts
                .filter(&st, &with_port("b", 8080, Some("10.0.0.1"), "TCP"), &n)
                .reasons,
            vec![REASON]
        );
        assert!(NodePorts
            .filter(&st, &with_port("c", 8080, None, "UDP"), &n)
            .is_success());
        assert!(NodePorts
            .filter(&st, &with_port("d", 8081, None, "TCP"), &n)
            .is_success());
        let n2 = with_pod(
            plain_node("n2"),
            with_port("a", 53, Some("10.0.0.1"), "UDP"),
        );
        assert!(NodePorts
            .filter(&st, &with_port("e", 53, Some("10.0.0.2"), "UDP"), &n2)
            .is_success());
        let mut s = CycleState::default();
        let snap = Snapshot::default();
        assert_eq!(
            NodePorts
                .pre_filter(&mut s, &pod("f", json!({}), json!({})), &snap)
                .code,
            crate::framework::Code::Skip
        );
    }
}
