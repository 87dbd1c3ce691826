//! The default plugin set, in upstream's order, with upstream's score
//! weights (kube-scheduler's `v1` default profile).

use std::sync::Arc;

use super::runtime::Framework;
use crate::plugins::{
    image_locality::ImageLocality,
    inter_pod_affinity::InterPodAffinity,
    node_affinity::NodeAffinity,
    node_name::NodeName,
    node_ports::NodePorts,
    node_ready::NodeReady,
    node_resources_balanced::BalancedAllocation,
    node_resources_fit::NodeResourcesFit,
    node_unschedulable::NodeUnschedulable,
    pod_topology_spread::PodTopologySpread,
    taint_toleration::TaintToleration,
    volume_binding::{VolumeBinding, Volumes},
};

/// Builds the default profile, with a view of volumes nobody fills (for
/// tests of the other plugins).
pub fn default_framework() -> Framework {
    default_framework_with(Arc::default())
}

/// Builds the default profile over the scheduler's view of volumes.
pub fn default_framework_with(volumes: Arc<Volumes>) -> Framework {
    let node_affinity = Arc::new(NodeAffinity);
    let taints = Arc::new(TaintToleration);
    let ports = Arc::new(NodePorts);
    let fit = Arc::new(NodeResourcesFit);
    let spread = Arc::new(PodTopologySpread);
    let ipa = Arc::new(InterPodAffinity);
    let volume_binding = Arc::new(VolumeBinding::new(volumes));
    let mut fw = Framework::default();
    // PreFilter.
    fw.pre_filter.push(node_affinity.clone());
    fw.pre_filter.push(ports.clone());
    fw.pre_filter.push(volume_binding.clone());
    fw.pre_filter.push(spread.clone());
    fw.pre_filter.push(ipa.clone());
    // Filter: cheap and unresolvable rules first.
    fw.filter.push(Arc::new(NodeUnschedulable));
    fw.filter.push(Arc::new(NodeReady));
    fw.filter.push(Arc::new(NodeName));
    fw.filter.push(taints.clone());
    fw.filter.push(node_affinity.clone());
    fw.filter.push(ports);
    fw.filter.push(fit.clone());
    fw.filter.push(volume_binding.clone());
    fw.filter.push(spread.clone());
    fw.filter.push(ipa.clone());
    // PreBind.
    fw.pre_bind.push(volume_binding);
    // Score, with weights.
    fw.score.push((taints, 3));
    fw.score.push((node_affinity, 2));
    fw.score.push((spread, 2));
    fw.score.push((ipa, 2));
    fw.score.push((fit, 1));
    fw.score.push((Arc::new(BalancedAllocation), 1));
    fw.score.push((Arc::new(ImageLocality), 1));
    fw
}
