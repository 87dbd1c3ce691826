//! The scheduler's cache: every node and every pod placed on one, fed by
//! watches, plus the pods the scheduler *assumed* onto a node before the
//! apiserver confirmed the binding.
//!
//! Binding is a network round trip; the next pod is scheduled meanwhile. If the
//! cache waited for the watch to report `spec.nodeName`, two pods could both be
//! put on a node with room for one. So the scheduling cycle **assumes** the pod
//! (adds it to its node here at once), the binding runs in the background, and
//! then either the watch **confirms** it (the assumed copy is replaced by the
//! real object) or the binding fails and the pod is **forgotten** (removed).
//!
//! Readers get a [`Snapshot`]: the nodes as `Arc<NodeInfo>`, copied on write,
//! so taking one costs a vector of pointer copies, not a deep clone.

pub mod node_info;
pub mod pod_info;
pub mod resources;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use k8s_openapi::api::core::v1::{Namespace, Node, Pod};

pub use node_info::NodeInfo;
pub use pod_info::{pod_key, AffinityTerm, HostPort, NamespaceLabels, PodInfo};
pub use resources::Resource;

/// What the cache knows about a pod.
#[derive(Debug, Clone)]
struct PodState {
    info: Arc<PodInfo>,
    node: String,
    assumed: bool,
}

#[derive(Debug, Default)]
struct Inner {
    /// Nodes in a stable order (for round-robin filtering).
    nodes: Vec<Arc<NodeInfo>>,
    /// Node name -> position in `nodes`.
    index: Arc<HashMap<String, usize>>,
    /// Pods whose node is not (yet) known, by node name.
    orphans: HashMap<String, Vec<Arc<PodInfo>>>,
    pods: HashMap<String, PodState>,
    namespaces: Arc<NamespaceLabels>,
    /// Image name -> how many nodes have it.
    image_nodes: Arc<HashMap<String, usize>>,
}

/// A consistent view for one scheduling cycle.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Every node, in the cache's order.
    pub nodes: Vec<Arc<NodeInfo>>,
    /// Node name -> position.
    pub index: Arc<HashMap<String, usize>>,
    /// Namespace labels.
    pub namespaces: Arc<NamespaceLabels>,
    /// Image -> number of nodes that have it.
    pub image_nodes: Arc<HashMap<String, usize>>,
}

impl Snapshot {
    /// A snapshot of these nodes (tests and simulations).
    pub fn from_nodes(nodes: Vec<NodeInfo>) -> Snapshot {
        let mut s = Snapshot::default();
        let mut index = HashMap::new();
        let mut images: HashMap<String, usize> = HashMap::new();
        for (i, n) in nodes.into_iter().enumerate() {
            index.insert(n.name.clone(), i);
            for img in n.images.keys() {
                *images.entry(img.clone()).or_default() += 1;
            }
            s.nodes.push(Arc::new(n));
        }
        s.index = Arc::new(index);
        s.image_nodes = Arc::new(images);
        s
    }

    /// A node by name.
    pub fn get(&self, name: &str) -> Option<&Arc<NodeInfo>> {
        self.index.get(name).and_then(|i| self.nodes.get(*i))
    }
}

/// The cache; cheap to share (`Arc` inside).
#[derive(Debug, Clone, Default)]
pub struct Cache {
    inner: Arc<Mutex<Inner>>,
}

impl Inner {
    fn node_mut(&mut self, name: &str) -> Option<&mut NodeInfo> {
        let i = *self.index.get(name)?;
        Some(Arc::make_mut(&mut self.nodes[i]))
    }

    fn place(&mut self, node: &str, pod: Arc<PodInfo>) {
        match self.node_mut(node) {
            Some(n) => n.add_pod(pod),
            None => self.orphans.entry(node.to_string()).or_default().push(pod),
        }
    }

    fn unplace(&mut self, node: &str, key: &str) {
        if let Some(n) = self.node_mut(node) {
            n.remove_pod(key);
        } else if let Some(list) = self.orphans.get_mut(node) {
            list.retain(|p| p.key != key);
            if list.is_empty() {
                self.orphans.remove(node);
            }
        }
    }

    fn count_images(&mut self, info: &NodeInfo, delta: isize) {
        let map = Arc::make_mut(&mut self.image_nodes);
        for img in info.images.keys() {
            let e = map.entry(img.clone()).or_default();
            *e = e.saturating_add_signed(delta);
            if *e == 0 {
                map.remove(img);
            }
        }
    }
}

impl Cache {
    /// An empty cache.
    pub fn new() -> Cache {
        Cache::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A snapshot for a scheduling cycle.
    pub fn snapshot(&self) -> Snapshot {
        let g = self.lock();
        Snapshot {
            nodes: g.nodes.clone(),
            index: Arc::clone(&g.index),
            namespaces: Arc::clone(&g.namespaces),
            image_nodes: Arc::clone(&g.image_nodes),
        }
    }

    /// One node, as it is now.
    pub fn node(&self, name: &str) -> Option<Arc<NodeInfo>> {
        let g = self.lock();
        g.index.get(name).map(|&i| Arc::clone(&g.nodes[i]))
    }

    /// Number of nodes.
    pub fn node_count(&self) -> usize {
        self.lock().nodes.len()
    }

    /// Adds or updates a node.
    pub fn upsert_node(&self, node: Node) {
        let node = Arc::new(node);
        let name = node.metadata.name.clone().unwrap_or_default();
        let mut g = self.lock();
        if let Some(&i) = g.index.get(&name) {
            let old = Arc::clone(&g.nodes[i]);
            let info = Arc::make_mut(&mut g.nodes[i]);
            info.set_node(node);
            if !Arc::ptr_eq(&old.images, &info.images) {
                let new = g.nodes[i].clone();
                g.count_images(&old, -1);
                g.count_images(&new, 1);
            }
            return;
        }
        let mut info = NodeInfo::new(node);
        for pod in g.orphans.remove(&name).unwrap_or_default() {
            info.add_pod(pod);
        }
        g.count_images(&info, 1);
        let i = g.nodes.len();
        g.nodes.push(Arc::new(info));
        Arc::make_mut(&mut g.index).insert(name, i);
    }

    /// Removes a node; its pods are kept aside in case it comes back.
    pub fn remove_node(&self, name: &str) {
        let mut g = self.lock();
        let Some(i) = g.index.get(name).copied() else {
            return;
        };
        let info = g.nodes.swap_remove(i);
        g.count_images(&info, -1);
        let index = Arc::make_mut(&mut g.index);
        index.remove(name);
        if let Some(moved) = g.nodes.get(i).map(|n| n.name.clone()) {
            Arc::make_mut(&mut g.index).insert(moved, i);
        }
        if !info.pods.is_empty() {
            g.orphans.insert(name.to_string(), info.pods.clone());
        }
    }

    /// Sets a namespace's labels.
    pub fn upsert_namespace(&self, ns: &Namespace) {
        let name = ns.metadata.name.clone().unwrap_or_default();
        let labels = ns.metadata.labels.clone().unwrap_or_default();
        let mut g = self.lock();
        if g.namespaces.get(&name) != Some(&labels) {
            Arc::make_mut(&mut g.namespaces).insert(name, labels);
        }
    }

    /// Forgets a namespace.
    pub fn remove_namespace(&self, name: &str) {
        let mut g = self.lock();
        if g.namespaces.contains_key(name) {
            Arc::make_mut(&mut g.namespaces).remove(name);
        }
    }

    /// Records a scheduling decision before the binding is confirmed.
    /// `pod` must carry the chosen `spec.nodeName`.
    pub fn assume(&self, pod: Arc<PodInfo>) {
        let Some(node) = pod.node_name().map(str::to_string) else {
            return;
        };
        let mut g = self.lock();
        if let Some(old) = g.pods.remove(&pod.key) {
            g.unplace(&old.node, &old.info.key);
        }
        g.place(&node, Arc::clone(&pod));
        g.pods.insert(
            pod.key.clone(),
            PodState {
                info: pod,
                node,
                assumed: true,
            },
        );
    }

    /// Undoes [`Cache::assume`] after a failed binding.
    pub fn forget(&self, key: &str) {
        let mut g = self.lock();
        if g.pods.get(key).is_some_and(|s| s.assumed) {
            if let Some(s) = g.pods.remove(key) {
                g.unplace(&s.node, key);
            }
        }
    }

    /// Whether the pod is assumed (bound by us, not yet confirmed).
    pub fn is_assumed(&self, key: &str) -> bool {
        self.lock().pods.get(key).is_some_and(|s| s.assumed)
    }

    /// Whether the cache has the pod placed on a node (assumed or bound).
    pub fn has_pod(&self, key: &str) -> bool {
        self.lock().pods.contains_key(key)
    }

    /// Adds or updates a pod that is bound to a node (from the watch); this
    /// confirms an assumed pod. Returns the previous info, if any.
    pub fn upsert_bound_pod(&self, pod: Arc<Pod>) -> Option<Arc<PodInfo>> {
        let info = Arc::new(PodInfo::new(pod));
        let node = info.node_name()?.to_string();
        let mut g = self.lock();
        let old = g.pods.remove(&info.key);
        if let Some(old) = &old {
            g.unplace(&old.node, &old.info.key);
        }
        g.place(&node, Arc::clone(&info));
        g.pods.insert(
            info.key.clone(),
            PodState {
                info,
                node,
                assumed: false,
            },
        );
        old.map(|s| s.info)
    }

    /// Removes a pod (deleted, or finished). Returns what was cached.
    pub fn remove_pod(&self, key: &str) -> Option<Arc<PodInfo>> {
        let mut g = self.lock();
        let s = g.pods.remove(key)?;
        g.unplace(&s.node, key);
        Some(s.info)
    }

    /// Number of pods placed (assumed or bound).
    pub fn pod_count(&self) -> usize {
        self.lock().pods.len()
    }

    /// Keys of every cached pod (for relist reconciliation).
    pub fn pod_keys(&self) -> Vec<String> {
        self.lock().pods.keys().cloned().collect()
    }

    /// Names of every node (for relist reconciliation).
    pub fn node_names(&self) -> Vec<String> {
        self.lock().index.keys().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(name: &str, cpu: &str) -> Node {
        serde_json::from_value(json!({
            "metadata": {"name": name},
            "status": {"allocatable": {"cpu": cpu, "memory": "1Gi", "pods": "10"}}
        }))
        .unwrap()
    }

    fn pod(name: &str, node: &str, cpu: &str) -> Arc<PodInfo> {
        Arc::new(PodInfo::new(Arc::new(
            serde_json::from_value(json!({
                "metadata": {"name": name, "namespace": "default"},
                "spec": {"nodeName": node, "containers": [
                    {"name": "c", "resources": {"requests": {"cpu": cpu}}}
                ]}
            }))
            .unwrap(),
        )))
    }

    #[test]
    fn assume_confirm_forget() {
        let cache = Cache::new();
        cache.upsert_node(node("n1", "1"));
        cache.assume(pod("a", "n1", "300m"));
        let snap = cache.snapshot();
        assert_eq!(snap.get("n1").unwrap().requested.milli_cpu, 300);
        assert!(cache.is_assumed("default/a"));
        // The watch confirms: no double counting.
        cache.upsert_bound_pod(Arc::clone(&pod("a", "n1", "300m").pod));
        assert!(!cache.is_assumed("default/a"));
        assert_eq!(cache.snapshot().get("n1").unwrap().requested.milli_cpu, 300);
        // The old snapshot is unchanged (copy on write).
        assert_eq!(snap.get("n1").unwrap().pods.len(), 1);
        cache.assume(pod("b", "n1", "200m"));
        cache.forget("default/b");
        assert_eq!(cache.snapshot().get("n1").unwrap().requested.milli_cpu, 300);
        // Forget never drops a confirmed pod.
        cache.forget("default/a");
        assert_eq!(cache.pod_count(), 1);
        cache.remove_pod("default/a");
        assert_eq!(cache.snapshot().get("n1").unwrap().requested.milli_cpu, 0);
    }

    #[test]
    fn pods_before_their_node_and_node_removal() {
        let cache = Cache::new();
        cache.upsert_bound_pod(Arc::clone(&pod("a", "n2", "100m").pod));
        cache.upsert_node(node("n1", "1"));
        cache.upsert_node(node("n2", "1"));
        assert_eq!(cache.snapshot().get("n2").unwrap().pods.len(), 1);
        cache.remove_node("n1");
        let snap = cache.snapshot();
        assert_eq!(snap.nodes.len(), 1);
        assert_eq!(snap.get("n2").unwrap().requested.milli_cpu, 100);
    }
}
