//! The plugins, one file per rule. Each file holds the plugin's name, its
//! extension points and the cluster events that could make a pod it rejected
//! fit again, plus its own unit tests. Shared rule helpers (tolerations, node
//! selector terms) are below.

pub mod image_locality;
pub mod inter_pod_affinity;
pub mod node_affinity;
pub mod node_name;
pub mod node_ports;
pub mod node_ready;
pub mod node_resources_balanced;
pub mod node_resources_fit;
pub mod node_unschedulable;
pub mod pod_topology_spread;
pub mod taint_toleration;
pub mod volume_binding;

pub use component_base::tolerations::tolerated;
use k8s_openapi::api::core::v1::{NodeSelectorTerm, Pod, Toleration};

use crate::cache::NodeInfo;

/// The pod's tolerations.
pub fn tolerations(pod: &Pod) -> &[Toleration] {
    pod.spec
        .as_ref()
        .and_then(|s| s.tolerations.as_deref())
        .unwrap_or(&[])
}

/// Whether a node-selector term (all of its expressions and fields) holds.
/// An empty term matches nothing, as upstream. The rule is the one the
/// volume binder uses for a volume's node affinity
/// ([`component_base::storage::term_matches`]).
pub fn term_matches(term: &NodeSelectorTerm, node: &NodeInfo) -> bool {
    component_base::storage::term_matches(term, &node.name, node.labels())
}

/// Whether a node passes the pod's `nodeSelector` and required node
/// affinity (the NodeAffinity filter; PodTopologySpread reuses it).
pub fn node_matches_pod_selectors(pod: &Pod, node: &NodeInfo) -> bool {
    let Some(spec) = pod.spec.as_ref() else {
        return true;
    };
    if let Some(sel) = &spec.node_selector {
        let labels = node.labels();
        if !sel.iter().all(|(k, v)| labels.get(k) == Some(v)) {
            return false;
        }
    }
    let required = spec
        .affinity
        .as_ref()
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|a| {
            a.required_during_scheduling_ignored_during_execution
                .as_ref()
        });
    match required {
        Some(r) => r.node_selector_terms.iter().any(|t| term_matches(t, node)),
        None => true,
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! Builders for plugin tests.
    use std::sync::Arc;

    use serde_json::{json, Value};

    use crate::cache::{NodeInfo, PodInfo};

    /// A pod from a JSON spec.
    pub fn pod(name: &str, labels: Value, spec: Value) -> PodInfo {
        let mut spec = spec;
        if spec.get("containers").is_none() {
            spec["containers"] = json!([{"name": "c"}]);
        }
        PodInfo::new(Arc::new(
            serde_json::from_value(json!({
                "metadata": {"name": name, "namespace": "default", "labels": labels},
                "spec": spec
            }))
            .expect("pod"),
        ))
    }

    /// A pod requesting this much CPU and memory.
    pub fn pod_req(name: &str, cpu: &str, mem: &str) -> PodInfo {
        pod(
            name,
            json!({}),
            json!({"containers": [{"name": "c", "resources": {"requests": {"cpu": cpu, "memory": mem}}}]}),
        )
    }

    /// A Ready node with labels, capacity and a node spec.
    pub fn node(name: &str, labels: Value, cpu: &str, mem: &str, spec: Value) -> NodeInfo {
        let mut labels = labels;
        labels["kubernetes.io/hostname"] = json!(name);
        NodeInfo::new(Arc::new(
            serde_json::from_value(json!({
                "metadata": {"name": name, "labels": labels},
                "spec": spec,
                "status": {
                    "allocatable": {"cpu": cpu, "memory": mem, "pods": "110"},
                    "conditions": [{"type": "Ready", "status": "True"}]
                }
            }))
            .expect("node"),
        ))
    }

    /// A simple node.
    pub fn plain_node(name: &str) -> NodeInfo {
        node(name, json!({}), "4", "8Gi", json!({}))
    }

    /// Places a pod (as bound) on a node.
    pub fn with_pod(mut node: NodeInfo, pod: PodInfo) -> NodeInfo {
        node.add_pod(Arc::new(pod));
        node
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn selector_terms() {
        let n = testing::node(
            "n1",
            json!({"zone": "a", "gen": "5"}),
            "1",
            "1Gi",
            json!({}),
        );
        let term = |v: serde_json::Value| serde_json::from_value::<NodeSelectorTerm>(v).unwrap();
        assert!(term_matches(
            &term(
                json!({"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a", "b"]}]})
            ),
            &n
        ));
        assert!(term_matches(
            &term(json!({"matchExpressions": [{"key": "gen", "operator": "Gt", "values": ["4"]}]})),
            &n
        ));
        assert!(!term_matches(
            &term(json!({"matchExpressions": [{"key": "zone", "operator": "DoesNotExist"}]})),
            &n
        ));
        assert!(term_matches(
            &term(
                json!({"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1"]}]})
            ),
            &n
        ));
        assert!(!term_matches(&term(json!({})), &n));
    }
}
