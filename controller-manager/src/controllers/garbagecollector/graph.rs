//! The ownership graph: every object of every watched resource, by uid,
//! with its owner references, and the reverse index owner -> dependents.
//!
//! Informers of all resource types feed it; the collector reads it to find
//! an object's owners (are they still there?) and dependents (what must go,
//! or be orphaned, with it).

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard};

use apimachinery::resources::ResourceInfo;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

/// What the graph knows about one object.
#[derive(Debug, Clone)]
pub struct Node {
    /// Its resource.
    pub resource: &'static ResourceInfo,
    /// Namespace (empty for cluster-scoped objects).
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Its owner references.
    pub owners: Vec<OwnerReference>,
    /// Whether it has a deletionTimestamp.
    pub deleting: bool,
    /// Its finalizers.
    pub finalizers: Vec<String>,
    /// Its resourceVersion (a precondition for finalizer updates).
    pub resource_version: String,
}

impl Node {
    /// Whether a finalizer is set.
    pub fn has_finalizer(&self, f: &str) -> bool {
        self.finalizers.iter().any(|x| x == f)
    }

    /// `kind ns/name`, for logs and errors.
    pub fn describe(&self) -> String {
        if self.namespace.is_empty() {
            format!("{} {}", self.resource.kind, self.name)
        } else {
            format!("{} {}/{}", self.resource.kind, self.namespace, self.name)
        }
    }
}

#[derive(Default)]
struct Inner {
    nodes: HashMap<String, Node>,
    dependents: HashMap<String, HashSet<String>>,
}

/// The graph, shared by the informer handlers and the workers.
#[derive(Default)]
pub struct Graph {
    inner: Mutex<Inner>,
}

impl Graph {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds or replaces the object `uid`.
    pub fn upsert(&self, uid: &str, node: Node) {
        let mut g = self.lock();
        if let Some(old) = g.nodes.remove(uid) {
            for o in &old.owners {
                if let Some(set) = g.dependents.get_mut(&o.uid) {
                    set.remove(uid);
                    if set.is_empty() {
                        g.dependents.remove(&o.uid);
                    }
                }
            }
        }
        for o in &node.owners {
            g.dependents
                .entry(o.uid.clone())
                .or_default()
                .insert(uid.to_string());
        }
        g.nodes.insert(uid.to_string(), node);
    }

    /// Removes the object `uid`; returns its dependents.
    pub fn remove(&self, uid: &str) -> Vec<String> {
        let mut g = self.lock();
        if let Some(old) = g.nodes.remove(uid) {
            for o in &old.owners {
                if let Some(set) = g.dependents.get_mut(&o.uid) {
                    set.remove(uid);
                    if set.is_empty() {
                        g.dependents.remove(&o.uid);
                    }
                }
            }
        }
        g.dependents
            .get(uid)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// The object `uid`.
    pub fn get(&self, uid: &str) -> Option<Node> {
        self.lock().nodes.get(uid).cloned()
    }

    /// The objects naming `uid` as an owner, with their uids.
    pub fn dependents(&self, uid: &str) -> Vec<(String, Node)> {
        let g = self.lock();
        g.dependents
            .get(uid)
            .into_iter()
            .flatten()
            .filter_map(|d| g.nodes.get(d).map(|n| (d.clone(), n.clone())))
            .collect()
    }

    /// How many objects are known.
    pub fn len(&self) -> usize {
        self.lock().nodes.len()
    }

    /// Whether empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(owners: &[&str]) -> Node {
        Node {
            resource: &apimachinery::resources::RESOURCES[1],
            namespace: "ns".into(),
            name: "x".into(),
            owners: owners
                .iter()
                .map(|u| OwnerReference {
                    uid: u.to_string(),
                    ..Default::default()
                })
                .collect(),
            deleting: false,
            finalizers: vec![],
            resource_version: String::new(),
        }
    }

    #[test]
    fn dependents_follow_owner_reference_changes() {
        let g = Graph::default();
        g.upsert("a", node(&["o1"]));
        g.upsert("b", node(&["o1", "o2"]));
        assert_eq!(g.dependents("o1").len(), 2);
        g.upsert("b", node(&["o2"]));
        assert_eq!(g.dependents("o1").len(), 1);
        assert_eq!(g.dependents("o2").len(), 1);
        g.remove("a");
        assert!(g.dependents("o1").is_empty());
        let mut deps = g.remove("o2");
        deps.sort();
        assert_eq!(deps, vec!["b".to_string()]);
    }
}
