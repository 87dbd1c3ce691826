//! The nodes' addresses that the built-in load balancers give out: the
//! service load balancer ([`crate::controllers::servicelb`]) and the
//! ingress status controller ([`crate::controllers::ingressstatus`]) both
//! list the `InternalIP` of every Ready node, since every node's kubelet
//! answers on its own address.

use k8s_openapi::api::core::v1::Node;

use super::informer::Store;

/// A node's Ready condition and InternalIP (what decides
/// whether its address is given out).
pub fn addresses(n: &Node) -> (bool, Option<String>) {
    let status = n.status.as_ref();
    let ready = status
        .and_then(|s| s.conditions.as_ref())
        .into_iter()
        .flatten()
        .any(|c| c.type_ == "Ready" && c.status == "True");
    let ip = status
        .and_then(|s| s.addresses.as_ref())
        .into_iter()
        .flatten()
        .find(|a| a.type_ == "InternalIP")
        .map(|a| a.address.clone());
    (ready, ip)
}

/// The InternalIP of every Ready node, sorted.
pub fn ready_node_ips(nodes: &Store<Node>) -> Vec<String> {
    let mut ips: Vec<String> = nodes
        .list()
        .iter()
        .filter_map(|n| match addresses(n) {
            (true, Some(ip)) => Some(ip),
            _ => None,
        })
        .collect();
    ips.sort();
    ips.dedup();
    ips
}
