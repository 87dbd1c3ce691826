//! The scheduling framework: extension points as traits, the [`Status`] each
//! returns, the per-cycle [`CycleState`] plugins share, and the
//! [`ClusterEvent`]s that can make a rejected pod schedulable again.
//!
//! A scheduling cycle calls, for one pod:
//!
//! 1. **PreFilter** once: compute what the filters need (e.g. how many
//!    matching pods each topology domain holds), or reject the pod outright.
//! 2. **Filter** per node: may the pod run there? The first plugin that says
//!    no stops the node's evaluation; its reason goes into the
//!    "0/N nodes are available" message.
//! 3. **PreScore** once, **Score** per feasible node, **NormalizeScore** once
//!    per plugin (to 0..=100), then the weighted sum picks the node.
//! 4. **Reserve** (the cache assumes the pod), then off the scheduling
//!    thread **PreBind** (e.g. the pod's volumes are bound) and **Bind**
//!    (`pods/binding`).
//!
//! Plugins live in `crate::plugins`, one file each; [`registry`] wires the
//! default set with upstream's weights; [`runtime`] runs the extension points.

pub mod registry;
pub mod runtime;

use std::any::Any;
use std::collections::HashMap;
use std::sync::Arc;

use crate::cache::{NodeInfo, PodInfo, Snapshot};

/// Highest score a plugin may give a node (after normalization).
pub const MAX_NODE_SCORE: i64 = 100;

/// Outcome code of a plugin call (upstream `framework.Code`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Code {
    /// The pod passes.
    Success,
    /// Something broke (not the pod's fault); retry with backoff.
    Error,
    /// The pod does not fit, but preempting pods could change that.
    Unschedulable,
    /// The pod does not fit and preemption cannot help on this node.
    UnschedulableAndUnresolvable,
    /// PreFilter only: this plugin has nothing to check for this pod, so its
    /// Filter is skipped.
    Skip,
}

/// A plugin's verdict with human-readable reasons.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// The code.
    pub code: Code,
    /// Reasons, as counted in the FailedScheduling message.
    pub reasons: Vec<String>,
    /// The plugin that produced it (set by the runtime).
    pub plugin: &'static str,
}

impl Status {
    /// Success.
    pub fn success() -> Status {
        Status {
            code: Code::Success,
            reasons: Vec::new(),
            plugin: "",
        }
    }

    /// Skip (PreFilter).
    pub fn skip() -> Status {
        Status {
            code: Code::Skip,
            ..Status::success()
        }
    }

    /// A status with one reason.
    pub fn new(code: Code, reason: impl Into<String>) -> Status {
        Status {
            code,
            reasons: vec![reason.into()],
            plugin: "",
        }
    }

    /// Unschedulable with one reason.
    pub fn unschedulable(reason: impl Into<String>) -> Status {
        Status::new(Code::Unschedulable, reason)
    }

    /// UnschedulableAndUnresolvable with one reason.
    pub fn unresolvable(reason: impl Into<String>) -> Status {
        Status::new(Code::UnschedulableAndUnresolvable, reason)
    }

    /// An internal error.
    pub fn error(reason: impl Into<String>) -> Status {
        Status::new(Code::Error, reason)
    }

    /// Whether the code is Success.
    pub fn is_success(&self) -> bool {
        self.code == Code::Success
    }

    /// Whether the pod was rejected (either unschedulable code).
    pub fn is_rejected(&self) -> bool {
        matches!(
            self.code,
            Code::Unschedulable | Code::UnschedulableAndUnresolvable
        )
    }

    /// Tags the status with its plugin.
    pub fn with_plugin(mut self, plugin: &'static str) -> Status {
        self.plugin = plugin;
        self
    }
}

/// Data plugins computed in PreFilter/PreScore for this cycle, by key.
/// Cloning is cheap (values are shared), which preemption relies on.
#[derive(Default, Clone)]
pub struct CycleState {
    data: HashMap<&'static str, Arc<dyn Any + Send + Sync>>,
    /// Plugins whose PreFilter returned Skip.
    pub skip_filter: Vec<&'static str>,
    /// Plugins whose PreScore returned Skip.
    pub skip_score: Vec<&'static str>,
}

impl CycleState {
    /// Stores a value.
    pub fn write<T: Any + Send + Sync>(&mut self, key: &'static str, value: T) {
        self.data.insert(key, Arc::new(value));
    }

    /// Reads a value of the expected type.
    pub fn read<T: Any + Send + Sync>(&self, key: &'static str) -> Option<&T> {
        self.data.get(key).and_then(|v| v.downcast_ref::<T>())
    }
}

/// A kind of change in the cluster (upstream `ClusterEvent`), used to move
/// pods out of the unschedulable queue only when the change could help.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClusterEvent {
    /// A node appeared.
    NodeAdd,
    /// A node's labels, taints, allocatable, conditions or
    /// `spec.unschedulable` changed.
    NodeUpdate,
    /// A pod on a node went away (frees resources, ports, spread domains).
    AssignedPodDelete,
    /// A pod was placed on a node (may satisfy pod affinity).
    AssignedPodAdd,
    /// A pod on a node changed labels.
    AssignedPodUpdate,
    /// A namespace's labels changed.
    NamespaceUpdate,
    /// A PersistentVolumeClaim was added or changed (bound, node selected).
    PvcChange,
    /// A PersistentVolume was added or changed.
    PvChange,
    /// A StorageClass was added or changed.
    StorageClassChange,
}

/// Every plugin has a name and says which events may make a pod it rejected
/// schedulable again.
pub trait Plugin: Send + Sync {
    /// The plugin's upstream name (`NodeResourcesFit`, ...).
    fn name(&self) -> &'static str;
    /// Events after which a pod this plugin rejected deserves another try.
    fn events_to_register(&self) -> &'static [ClusterEvent] {
        &[ClusterEvent::NodeAdd, ClusterEvent::NodeUpdate]
    }
}

/// PreFilter: once per pod, before any node is filtered.
pub trait PreFilterPlugin: Plugin {
    /// Computes cycle state; a rejection fails every node.
    fn pre_filter(&self, state: &mut CycleState, pod: &PodInfo, snapshot: &Snapshot) -> Status;
}

/// Filter: may the pod run on this node?
pub trait FilterPlugin: Plugin {
    /// The verdict for one node.
    fn filter(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status;
}

/// PreBind: once the node is chosen, before `pods/binding`, in the binding
/// cycle (so it may wait on the apiserver): a failure sends the pod back to
/// the queue instead of binding it.
pub trait PreBindPlugin: Plugin {
    /// Prepares the pod's binding to `node`.
    fn pre_bind<'a>(
        &'a self,
        client: &'a kube::Client,
        pod: &'a PodInfo,
        node: &'a NodeInfo,
    ) -> futures::future::BoxFuture<'a, Status>;
}

/// Score: how good is this (feasible) node? Higher is better.
pub trait ScorePlugin: Plugin {
    /// Once per pod, with the feasible nodes.
    fn pre_score(
        &self,
        _state: &mut CycleState,
        _pod: &PodInfo,
        _snapshot: &Snapshot,
        _nodes: &[Arc<NodeInfo>],
    ) -> Status {
        Status::success()
    }
    /// The raw score of one node.
    fn score(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> i64;
    /// Rescales the raw scores (same order as the nodes) to 0..=100.
    fn normalize(&self, _state: &CycleState, _pod: &PodInfo, _scores: &mut [i64]) {}
}

/// Scales scores to 0..=MAX_NODE_SCORE by the highest one (upstream
/// `DefaultNormalizeScore`); `reverse` turns "more is worse" into a score.
pub fn default_normalize(scores: &mut [i64], reverse: bool) {
    let max = scores.iter().copied().max().unwrap_or(0);
    if max == 0 {
        if reverse {
            scores.iter_mut().for_each(|s| *s = MAX_NODE_SCORE);
        }
        return;
    }
    for s in scores.iter_mut() {
        *s = MAX_NODE_SCORE * *s / max;
        if reverse {
            *s = MAX_NODE_SCORE - *s;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize() {
        let mut s = vec![0, 5, 10];
        default_normalize(&mut s, false);
        assert_eq!(s, vec![0, 50, 100]);
        let mut s = vec![0, 5, 10];
        default_normalize(&mut s, true);
        assert_eq!(s, vec![100, 50, 0]);
        let mut s = vec![0, 0];
        default_normalize(&mut s, true);
        assert_eq!(s, vec![100, 100]);
    }

    #[test]
    fn cycle_state_round_trip() {
        let mut st = CycleState::default();
        st.write("k", 42u32);
        assert_eq!(st.read::<u32>("k"), Some(&42));
        assert_eq!(st.read::<i64>("k"), None);
    }
}
