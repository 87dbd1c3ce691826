//! A node with the pods on it (bound or assumed) and their running totals:
//! the unit every filter and score plugin looks at.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, Taint};

use super::pod_info::{HostPort, PodInfo};
use super::resources::Resource;

static NO_LABELS: BTreeMap<String, String> = BTreeMap::new();

/// One node and what is placed on it.
#[derive(Debug, Clone)]
pub struct NodeInfo {
    /// The Node object.
    pub node: Arc<Node>,
    /// Its name.
    pub name: String,
    /// `status.allocatable` (or `capacity` when missing).
    pub allocatable: Resource,
    /// Sum of the requests of its pods.
    pub requested: Resource,
    /// Sum of CPU / memory of its pods counting defaults for missing requests.
    pub non_zero_requested: (i64, i64),
    /// Its pods.
    pub pods: Vec<Arc<PodInfo>>,
    /// How many of them have pod (anti-)affinity terms.
    pub pods_with_affinity: usize,
    /// How many of them have required anti-affinity terms.
    pub pods_with_required_anti_affinity: usize,
    /// Host ports in use.
    pub used_ports: Vec<HostPort>,
    /// Images present (every name and tag) and their size in bytes.
    pub images: Arc<HashMap<String, i64>>,
    /// `Ready` condition is `True`.
    pub ready: bool,
}

impl NodeInfo {
    /// A node with no pods.
    pub fn new(node: Arc<Node>) -> NodeInfo {
        let mut info = NodeInfo {
            name: node.metadata.name.clone().unwrap_or_default(),
            node: Arc::clone(&node),
            allocatable: Resource::default(),
            requested: Resource::default(),
            non_zero_requested: (0, 0),
            pods: Vec::new(),
            pods_with_affinity: 0,
            pods_with_required_anti_affinity: 0,
            used_ports: Vec::new(),
            images: Arc::new(HashMap::new()),
            ready: false,
        };
        info.set_node(node);
        info
    }

    /// Replaces the Node object (keeps the pods).
    pub fn set_node(&mut self, node: Arc<Node>) {
        let status = node.status.as_ref();
        self.allocatable = Resource::from_list(
            status
                .and_then(|s| s.allocatable.as_ref().or(s.capacity.as_ref()))
                .filter(|l| !l.is_empty()),
        );
        self.ready = status
            .and_then(|s| s.conditions.as_ref())
            .and_then(|cs| cs.iter().find(|c| c.type_ == "Ready"))
            .is_some_and(|c| c.status == "True");
        let mut images = HashMap::new();
        for img in status.and_then(|s| s.images.as_ref()).into_iter().flatten() {
            let size = img.size_bytes.unwrap_or(0);
            for name in img.names.iter().flatten() {
                images.insert(normalize_image(name), size);
            }
        }
        if images != *self.images {
            self.images = Arc::new(images);
        }
        self.node = node;
    }

    /// The node's labels.
    pub fn labels(&self) -> &BTreeMap<String, String> {
        self.node.metadata.labels.as_ref().unwrap_or(&NO_LABELS)
    }

    /// The node's taints.
    pub fn taints(&self) -> &[Taint] {
        self.node
            .spec
            .as_ref()
            .and_then(|s| s.taints.as_deref())
            .unwrap_or(&[])
    }

    /// `spec.unschedulable` (cordoned).
    pub fn unschedulable(&self) -> bool {
        self.node
            .spec
            .as_ref()
            .and_then(|s| s.unschedulable)
            .unwrap_or(false)
    }

    /// Places a pod on the node.
    pub fn add_pod(&mut self, pod: Arc<PodInfo>) {
        self.requested.add(&pod.requests);
        self.non_zero_requested.0 += pod.non_zero.0;
        self.non_zero_requested.1 += pod.non_zero.1;
        self.used_ports.extend(pod.host_ports.iter().cloned());
        if pod.has_affinity() {
            self.pods_with_affinity += 1;
        }
        if !pod.required_anti_affinity.is_empty() {
            self.pods_with_required_anti_affinity += 1;
        }
        self.pods.push(pod);
    }

    /// Removes a pod by key; returns it if it was there.
    pub fn remove_pod(&mut self, key: &str) -> Option<Arc<PodInfo>> {
        let i = self.pods.iter().position(|p| p.key == key)?;
        let pod = self.pods.swap_remove(i);
        self.requested.sub(&pod.requests);
        self.non_zero_requested.0 -= pod.non_zero.0;
        self.non_zero_requested.1 -= pod.non_zero.1;
        for hp in &pod.host_ports {
            if let Some(j) = self.used_ports.iter().position(|u| u == hp) {
                self.used_ports.swap_remove(j);
            }
        }
        if pod.has_affinity() {
            self.pods_with_affinity -= 1;
        }
        if !pod.required_anti_affinity.is_empty() {
            self.pods_with_required_anti_affinity -= 1;
        }
        Some(pod)
    }

    /// `pods` capacity, 110 if the node does not say (kubelet's default).
    pub fn allowed_pods(&self) -> i64 {
        if self.allocatable.pods > 0 {
            self.allocatable.pods
        } else {
            110
        }
    }
}

/// Normalizes an image name the way upstream's image locality does:
/// `busybox` -> `docker.io/library/busybox:latest`.
pub fn normalize_image(name: &str) -> String {
    let mut name = name.to_string();
    let last = name.rsplit('/').next().unwrap_or("");
    if !last.contains(':') && !name.contains('@') {
        name.push_str(":latest");
    }
    let first = name.split('/').next().unwrap_or("");
    let has_registry =
        name.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost");
    if !has_registry {
        if name.contains('/') {
            name = format!("docker.io/{name}");
        } else {
            name = format!("docker.io/library/{name}");
        }
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_names() {
        assert_eq!(
            normalize_image("busybox"),
            "docker.io/library/busybox:latest"
        );
        assert_eq!(
            normalize_image("nginx:1.25"),
            "docker.io/library/nginx:1.25"
        );
        assert_eq!(normalize_image("me/app:v1"), "docker.io/me/app:v1");
        assert_eq!(normalize_image("reg.io:5000/app"), "reg.io:5000/app:latest");
    }
}
