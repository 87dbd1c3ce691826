//! Nominated pods: a preemptor waits for its victims to go, with
//! `status.nominatedNodeName` pointing at the node. Until it is bound,
//! lower-or-equal priority pods must not take the room made for it, so the
//! scheduler adds nominated pods to a node before filtering it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::cache::PodInfo;

#[derive(Debug, Default)]
struct Inner {
    by_node: HashMap<String, Vec<Arc<PodInfo>>>,
    node_of: HashMap<String, String>,
}

/// The nominated pods by node (cheap to clone).
#[derive(Debug, Clone, Default)]
pub struct Nominator {
    inner: Arc<Mutex<Inner>>,
}

impl Nominator {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records that `pod` waits for `node` (replacing an earlier nomination).
    pub fn add(&self, pod: Arc<PodInfo>, node: &str) {
        self.remove(&pod.key);
        let mut g = self.lock();
        g.node_of.insert(pod.key.clone(), node.to_string());
        g.by_node.entry(node.to_string()).or_default().push(pod);
    }

    /// Forgets a pod's nomination.
    pub fn remove(&self, key: &str) {
        let mut g = self.lock();
        if let Some(node) = g.node_of.remove(key) {
            if let Some(list) = g.by_node.get_mut(&node) {
                list.retain(|p| p.key != key);
                if list.is_empty() {
                    g.by_node.remove(&node);
                }
            }
        }
    }

    /// Whether any pod is nominated anywhere (fast path).
    pub fn is_empty(&self) -> bool {
        self.lock().node_of.is_empty()
    }

    /// Pods nominated to `node` with at least `priority`, other than `except`.
    pub fn nominated_for(&self, node: &str, priority: i32, except: &str) -> Vec<Arc<PodInfo>> {
        self.lock()
            .by_node
            .get(node)
            .map(|l| {
                l.iter()
                    .filter(|p| p.priority >= priority && p.key != except)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The node a pod is nominated to.
    pub fn node_of(&self, key: &str) -> Option<String> {
        self.lock().node_of.get(key).cloned()
    }
}
