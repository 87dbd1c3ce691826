//! Runs the extension points of a profile over one pod.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::{
    ClusterEvent, Code, CycleState, FilterPlugin, PreBindPlugin, PreFilterPlugin, ScorePlugin,
    Status,
};
use crate::cache::{NodeInfo, PodInfo, Snapshot};

/// A profile: the plugins enabled at each extension point.
#[derive(Default, Clone)]
pub struct Framework {
    /// PreFilter plugins, in order.
    pub pre_filter: Vec<Arc<dyn PreFilterPlugin>>,
    /// Filter plugins, in order.
    pub filter: Vec<Arc<dyn FilterPlugin>>,
    /// Score plugins with their weights.
    pub score: Vec<(Arc<dyn ScorePlugin>, i64)>,
    /// PreBind plugins, in order.
    pub pre_bind: Vec<Arc<dyn PreBindPlugin>>,
}

impl Framework {
    /// Runs every PreFilter. A rejection is returned tagged with its plugin.
    pub fn run_pre_filter(&self, state: &mut CycleState, pod: &PodInfo, snap: &Snapshot) -> Status {
        for p in &self.pre_filter {
            let s = p.pre_filter(state, pod, snap);
            match s.code {
                Code::Success => {}
                Code::Skip => state.skip_filter.push(p.name()),
                _ => return s.with_plugin(p.name()),
            }
        }
        Status::success()
    }

    /// Runs the filters on one node; the first non-success wins.
    pub fn run_filter(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        for p in &self.filter {
            if state.skip_filter.contains(&p.name()) {
                continue;
            }
            let s = p.filter(state, pod, node);
            if !s.is_success() {
                return s.with_plugin(p.name());
            }
        }
        Status::success()
    }

    /// Runs PreScore, Score and NormalizeScore; returns the weighted total
    /// per node (same order as `nodes`).
    pub fn run_score(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        snap: &Snapshot,
        nodes: &[Arc<NodeInfo>],
    ) -> Vec<i64> {
        let mut total = vec![0i64; nodes.len()];
        let mut scores = vec![0i64; nodes.len()];
        for (p, weight) in &self.score {
            let s = p.pre_score(state, pod, snap, nodes);
            if s.code == Code::Skip || !s.is_success() {
                continue;
            }
            for (i, n) in nodes.iter().enumerate() {
                scores[i] = p.score(state, pod, n);
            }
            p.normalize(state, pod, &mut scores);
            for (t, s) in total.iter_mut().zip(&scores) {
                *t += s * weight;
            }
        }
        total
    }

    /// Runs every PreBind for the chosen node; the first failure wins.
    pub async fn run_pre_bind(
        &self,
        client: &kube::Client,
        pod: &PodInfo,
        node: &NodeInfo,
    ) -> Status {
        for p in &self.pre_bind {
            let s = p.pre_bind(client, pod, node).await;
            if !s.is_success() {
                return s.with_plugin(p.name());
            }
        }
        Status::success()
    }

    /// Which plugins care about which events (for the queue).
    pub fn events_by_plugin(&self) -> HashMap<&'static str, HashSet<ClusterEvent>> {
        let mut out: HashMap<&'static str, HashSet<ClusterEvent>> = HashMap::new();
        for p in &self.pre_filter {
            out.entry(p.name())
                .or_default()
                .extend(p.events_to_register().iter().copied());
        }
        for p in &self.filter {
            out.entry(p.name())
                .or_default()
                .extend(p.events_to_register().iter().copied());
        }
        out
    }
}
