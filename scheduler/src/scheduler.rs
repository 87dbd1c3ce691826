//! The scheduling cycle and the binding cycle (upstream `schedule_one.go`).
//!
//! One loop pops a pod, takes a cache snapshot and runs the algorithm:
//! PreFilter, Filter over the nodes (round-robin start, stopping once
//! enough feasible nodes are found), Score, pick the best (ties broken at
//! random). It then *assumes* the pod on the node in the cache and hands the
//! binding to a background task, so the next pod is scheduled while the
//! apiserver is still writing the last one. A pod that fits nowhere gets a
//! `PodScheduled=False` condition, a FailedScheduling event, a preemption
//! attempt, and goes back to the queue.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use k8s_openapi::api::core::v1::{Binding, ObjectReference, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, Preconditions};
use rand::Rng;
use serde_json::json;
use tokio::sync::Semaphore;
use tracing::{debug, info, info_span, warn};

use crate::cache::{Cache, NodeInfo, PodInfo, Snapshot};
use crate::config::Config;
use crate::events::Recorder;
use crate::framework::runtime::Framework;
use crate::framework::{Code, CycleState, Status};
use crate::metrics::{add_micros, Metrics};
use crate::preemption;
use crate::queue::nominator::Nominator;
use crate::queue::{QueuedPod, SchedulingQueue};

/// Below this many nodes, every node is filtered.
const MIN_FEASIBLE_NODES_TO_FIND: usize = 100;
/// Lower bound of the adaptive percentage.
const MIN_FEASIBLE_NODES_PERCENTAGE: usize = 5;

/// Why no node was found.
#[derive(Debug, Clone)]
pub struct FitError {
    /// Nodes in the snapshot.
    pub num_nodes: usize,
    /// Per rejected node, the status of the filter that rejected it.
    pub diagnosis: HashMap<String, Status>,
    /// A PreFilter rejection (applies to every node).
    pub pre_filter: Option<Status>,
    /// Plugins that rejected the pod somewhere.
    pub plugins: HashSet<&'static str>,
}

impl FitError {
    /// The upstream-style message:
    /// `0/3 nodes are available: 1 node(s) had untolerated taint {k: v}, 2 Insufficient cpu.`
    pub fn message(&self) -> String {
        if self.num_nodes == 0 {
            return "no nodes available to schedule pods".into();
        }
        let mut msg = format!("0/{} nodes are available:", self.num_nodes);
        if let Some(s) = &self.pre_filter {
            msg.push_str(&format!(" {}.", s.reasons.join(", ")));
            return msg;
        }
        let mut hist: HashMap<&str, usize> = HashMap::new();
        for s in self.diagnosis.values() {
            for r in &s.reasons {
                *hist.entry(r.as_str()).or_default() += 1;
            }
        }
        let mut parts: Vec<String> = hist.iter().map(|(r, n)| format!("{n} {r}")).collect();
        parts.sort();
        if !parts.is_empty() {
            msg.push_str(&format!(" {}.", parts.join(", ")));
        }
        msg
    }
}

/// The algorithm's result.
#[derive(Debug)]
pub enum Outcome {
    /// Bind here.
    Node(String),
    /// No node fits.
    Unfit(FitError),
    /// Something broke.
    Error(String),
}

/// How many feasible nodes to find before scoring (upstream
/// `numFeasibleNodesToFind`).
pub fn num_feasible_nodes_to_find(percentage: u32, n: usize) -> usize {
    if n < MIN_FEASIBLE_NODES_TO_FIND || percentage >= 100 {
        return n;
    }
    let pct = if percentage == 0 {
        (50usize.saturating_sub(n / 125)).max(MIN_FEASIBLE_NODES_PERCENTAGE)
    } else {
        percentage as usize
    };
    (n * pct / 100).max(MIN_FEASIBLE_NODES_TO_FIND)
}

/// Everything the loop and the binding tasks share.
pub struct Scheduler {
    /// API client.
    pub client: kube::Client,
    /// Settings.
    pub config: Config,
    /// Nodes and placed pods.
    pub cache: Cache,
    /// Pending pods.
    pub queue: SchedulingQueue,
    /// Preemptors waiting for room.
    pub nominator: Nominator,
    /// The plugins.
    pub framework: Framework,
    /// Events.
    pub recorder: Recorder,
    /// Counters.
    pub metrics: Arc<Metrics>,
    next_start: AtomicUsize,
    binds: Arc<Semaphore>,
}

impl Scheduler {
    /// Assembles a scheduler.
    pub fn new(
        client: kube::Client,
        config: Config,
        framework: Framework,
        recorder: Recorder,
        metrics: Arc<Metrics>,
    ) -> Scheduler {
        let queue = SchedulingQueue::new(config.backoff, framework.events_by_plugin());
        Scheduler {
            binds: Arc::new(Semaphore::new(config.bind_concurrency.max(1))),
            client,
            config,
            cache: Cache::new(),
            queue,
            nominator: Nominator::default(),
            framework,
            recorder,
            metrics,
            next_start: AtomicUsize::new(0),
        }
    }

    /// The node as filters should see it: with the pods nominated to it
    /// that are at least as important as `pod`.
    fn with_nominated<'a>(
        &self,
        pod: &PodInfo,
        node: &'a Arc<NodeInfo>,
    ) -> std::borrow::Cow<'a, NodeInfo> {
        if self.nominator.is_empty() {
            return std::borrow::Cow::Borrowed(node);
        }
        let extra = self
            .nominator
            .nominated_for(&node.name, pod.priority, &pod.key);
        if extra.is_empty() {
            return std::borrow::Cow::Borrowed(node);
        }
        let mut n = NodeInfo::clone(node);
        for p in extra {
            n.add_pod(p);
        }
        std::borrow::Cow::Owned(n)
    }

    /// The algorithm: PreFilter, Filter, Score, select.
    pub fn schedule_pod(&self, pod: &PodInfo, state: &mut CycleState, snap: &Snapshot) -> Outcome {
        let n = snap.nodes.len();
        if n == 0 {
            return Outcome::Unfit(FitError {
                num_nodes: 0,
                diagnosis: HashMap::new(),
                pre_filter: None,
                plugins: HashSet::new(),
            });
        }
        let pre = self.framework.run_pre_filter(state, pod, snap);
        if pre.code == Code::Error {
            return Outcome::Error(pre.reasons.join(", "));
        }
        if pre.is_rejected() {
            return Outcome::Unfit(FitError {
                num_nodes: n,
                diagnosis: snap
                    .nodes
                    .iter()
                    .map(|node| (node.name.clone(), pre.clone()))
                    .collect(),
                plugins: [pre.plugin].into_iter().collect(),
                pre_filter: Some(pre),
            });
        }
        // A nominated pod tries its nominated node first.
        if let Some(nominated) = pod
            .pod
            .status
            .as_ref()
            .and_then(|s| s.nominated_node_name.as_deref())
            .and_then(|name| snap.get(name))
        {
            let node = self.with_nominated(pod, nominated);
            if self.framework.run_filter(state, pod, &node).is_success() {
                return Outcome::Node(nominated.name.clone());
            }
        }
        let want = num_feasible_nodes_to_find(self.config.percentage_of_nodes_to_score, n);
        let start = self.next_start.load(Ordering::Relaxed) % n;
        let mut feasible: Vec<Arc<NodeInfo>> = Vec::with_capacity(want.min(n));
        let mut diagnosis = HashMap::new();
        let mut processed = 0;
        for i in 0..n {
            let node = &snap.nodes[(start + i) % n];
            processed += 1;
            let view = self.with_nominated(pod, node);
            let s = self.framework.run_filter(state, pod, &view);
            if s.is_success() {
                feasible.push(Arc::clone(node));
                if feasible.len() >= want {
                    break;
                }
            } else if s.code == Code::Error {
                return Outcome::Error(s.reasons.join(", "));
            } else {
                diagnosis.insert(node.name.clone(), s);
            }
        }
        self.next_start
            .store((start + processed) % n, Ordering::Relaxed);
        if feasible.is_empty() {
            let plugins = diagnosis.values().map(|s| s.plugin).collect();
            return Outcome::Unfit(FitError {
                num_nodes: n,
                diagnosis,
                pre_filter: None,
                plugins,
            });
        }
        if feasible.len() == 1 {
            return Outcome::Node(feasible[0].name.clone());
        }
        let scores = self.framework.run_score(state, pod, snap, &feasible);
        Outcome::Node(select_host(&feasible, &scores))
    }

    /// One scheduling cycle for a popped pod.
    pub fn schedule_one(self: &Arc<Self>, qp: QueuedPod) {
        let pod = Arc::clone(&qp.info);
        let span = info_span!("schedule", pod = %pod.key);
        let _g = span.enter();
        let cycle_start = Instant::now();
        let snap = self.cache.snapshot();
        let mut state = CycleState::default();
        let algo_start = Instant::now();
        let outcome = self.schedule_pod(&pod, &mut state, &snap);
        add_micros(&self.metrics.algorithm_micros, algo_start.elapsed());
        self.metrics.algorithm_runs.fetch_add(1, Ordering::Relaxed);
        match outcome {
            Outcome::Node(node) => {
                self.metrics.scheduled.fetch_add(1, Ordering::Relaxed);
                let mut obj = Pod::clone(&pod.pod);
                if let Some(spec) = obj.spec.as_mut() {
                    spec.node_name = Some(node.clone());
                }
                let assumed = Arc::new(PodInfo {
                    pod: Arc::new(obj),
                    ..PodInfo::clone(&pod)
                });
                // Reserve: the cache counts the pod on the node from now on.
                self.cache.assume(assumed);
                self.queue.done(&pod.key);
                self.nominator.remove(&pod.key);
                add_micros(&self.metrics.cycle_micros, cycle_start.elapsed());
                debug!(node = %node, "assumed");
                let this = Arc::clone(self);
                tokio::spawn(async move { this.bind(qp, node).await });
            }
            Outcome::Unfit(fit) => {
                self.metrics.unschedulable.fetch_add(1, Ordering::Relaxed);
                let mut message = fit.message();
                let mut nominated = None;
                if fit.num_nodes > 0 {
                    match preemption::find_candidate(
                        &self.framework,
                        &state,
                        &pod,
                        &snap,
                        &fit.diagnosis,
                        &self.nominator,
                    ) {
                        Ok(c) => {
                            self.metrics
                                .preemption_attempts
                                .fetch_add(1, Ordering::Relaxed);
                            self.nominator.add(Arc::clone(&pod), &c.node);
                            nominated = Some(c.node.clone());
                            let this = Arc::clone(self);
                            let p = Arc::clone(&pod);
                            tokio::spawn(async move { this.evict(p, c).await });
                        }
                        Err(why) => {
                            if fit.pre_filter.is_none() {
                                message = format!("{message} {why}");
                            }
                        }
                    }
                }
                info!(message = %message, "unschedulable");
                add_micros(&self.metrics.cycle_micros, cycle_start.elapsed());
                self.queue.requeue(&pod.key, Some(fit.plugins));
                let this = Arc::clone(self);
                tokio::spawn(
                    async move { this.report_unschedulable(pod, message, nominated).await },
                );
            }
            Outcome::Error(e) => {
                self.metrics.errors.fetch_add(1, Ordering::Relaxed);
                warn!(error = %e, "scheduling error");
                self.queue.requeue(&pod.key, None);
            }
        }
    }

    /// The binding cycle: POST `pods/binding`, then confirm or forget.
    async fn bind(self: Arc<Self>, qp: QueuedPod, node: String) {
        let pod = Arc::clone(&qp.info);
        let start = Instant::now();
        // PreBind (the pod's volumes, which may wait for a provisioner:
        // outside the binding permits), then Bind.
        if !self.framework.pre_bind.is_empty() {
            let status = match self.cache.node(&node) {
                Some(info) => self.framework.run_pre_bind(&self.client, &pod, &info).await,
                None => Status::error(format!("node {node} is gone")),
            };
            if !status.is_success() {
                self.metrics.binding_errors.fetch_add(1, Ordering::Relaxed);
                self.cache.forget(&pod.key);
                let message = format!(
                    "running PreBind plugin {:?}: {}",
                    status.plugin,
                    status.reasons.join(", ")
                );
                warn!(pod = %pod.key, node = %node, error = %message, "pre-bind failed");
                self.recorder
                    .pod_event(&pod.pod, "Warning", "FailedScheduling", message);
                self.queue.add_after_failure(qp);
                return;
            }
        }
        let _permit = self.binds.acquire().await;
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &pod.namespace);
        let binding = Binding {
            metadata: ObjectMeta {
                name: Some(pod.name.clone()),
                namespace: Some(pod.namespace.clone()),
                uid: pod.pod.metadata.uid.clone(),
                ..Default::default()
            },
            target: ObjectReference {
                api_version: Some("v1".into()),
                kind: Some("Node".into()),
                name: Some(node.clone()),
                ..Default::default()
            },
        };
        let res: Result<serde_json::Value, kube::Error> = api
            .create_subresource("binding", &pod.name, &PostParams::default(), &binding)
            .await;
        match res {
            Ok(_) => {
                add_micros(&self.metrics.binding_micros, start.elapsed());
                self.metrics.bindings.fetch_add(1, Ordering::Relaxed);
                debug!(pod = %pod.key, node = %node, "bound");
                self.recorder.pod_event(
                    &pod.pod,
                    "Normal",
                    "Scheduled",
                    format!("Successfully assigned {} to {}", pod.key, node),
                );
            }
            Err(e) => {
                self.metrics.binding_errors.fetch_add(1, Ordering::Relaxed);
                self.cache.forget(&pod.key);
                let code = match &e {
                    kube::Error::Api(s) => s.code,
                    _ => 0,
                };
                if code == 404 || code == 409 {
                    // Deleted, or bound by someone else: the watch tells the rest.
                    debug!(pod = %pod.key, error = %e, "binding not needed any more");
                    return;
                }
                warn!(pod = %pod.key, node = %node, error = %e, "binding failed");
                self.recorder.pod_event(
                    &pod.pod,
                    "Warning",
                    "FailedScheduling",
                    format!("Binding rejected: {e}"),
                );
                self.queue.add_after_failure(qp);
            }
        }
    }

    /// Writes `PodScheduled=False` (and the nomination) and the event.
    async fn report_unschedulable(
        self: Arc<Self>,
        pod: Arc<PodInfo>,
        message: String,
        nominated: Option<String>,
    ) {
        self.recorder
            .pod_event(&pod.pod, "Warning", "FailedScheduling", message.clone());
        let status = pod.pod.status.as_ref();
        let same = status
            .and_then(|s| s.conditions.as_ref())
            .and_then(|cs| cs.iter().find(|c| c.type_ == "PodScheduled"))
            .is_some_and(|c| {
                c.status == "False"
                    && c.reason.as_deref() == Some("Unschedulable")
                    && c.message.as_deref() == Some(message.as_str())
            });
        let current_nomination = status.and_then(|s| s.nominated_node_name.clone());
        if same && (nominated.is_none() || nominated == current_nomination) {
            return;
        }
        let mut patch = json!({"status": {"conditions": [{
            "type": "PodScheduled",
            "status": "False",
            "reason": "Unschedulable",
            "message": message,
            "lastTransitionTime": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        }]}});
        if let Some(n) = &nominated {
            patch["status"]["nominatedNodeName"] = json!(n);
        }
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &pod.namespace);
        if let Err(e) = api
            .patch_status(
                &pod.name,
                &PatchParams::default(),
                &Patch::Strategic(&patch),
            )
            .await
        {
            debug!(pod = %pod.key, error = %e, "updating pod status");
        }
    }

    /// Deletes the victims of a preemption, each first marked with upstream's
    /// `DisruptionTarget` condition (reason `PreemptionByScheduler`), which
    /// a Job's pod failure policy or a user reading the pod's status can
    /// tell from other failures.
    async fn evict(self: Arc<Self>, preemptor: Arc<PodInfo>, c: preemption::Candidate) {
        let scheduler = preemptor
            .pod
            .spec
            .as_ref()
            .and_then(|s| s.scheduler_name.clone())
            .unwrap_or_else(|| "default-scheduler".into());
        for v in &c.victims {
            self.metrics
                .preemption_victims
                .fetch_add(1, Ordering::Relaxed);
            info!(preemptor = %preemptor.key, victim = %v.key, node = %c.node, "preempting");
            self.recorder.pod_event(
                &v.pod,
                "Normal",
                "Preempted",
                format!("Preempted by pod {} on node {}", preemptor.key, c.node),
            );
            let api: Api<Pod> = Api::namespaced(self.client.clone(), &v.namespace);
            let condition = json!({"status": {"conditions": [{
                "type": "DisruptionTarget",
                "status": "True",
                "reason": "PreemptionByScheduler",
                "message": format!("{scheduler}: preempting to accommodate a higher priority pod"),
                "lastTransitionTime": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            }]}});
            if let Err(e) = api
                .patch_status(
                    &v.name,
                    &PatchParams::default(),
                    &Patch::Strategic(&condition),
                )
                .await
            {
                warn!(victim = %v.key, error = %e, "marking preemption victim");
            }
            let dp = DeleteParams {
                preconditions: Some(Preconditions {
                    uid: Some(v.uid.clone()),
                    resource_version: None,
                }),
                ..Default::default()
            };
            if let Err(e) = api.delete(&v.name, &dp).await {
                warn!(victim = %v.key, error = %e, "deleting preemption victim");
            }
        }
    }

    /// The scheduling loop: runs until the queue is closed.
    pub async fn run_loop(self: Arc<Self>) {
        while let Some((qp, _cycle)) = self.queue.pop().await {
            // A pod deleted or bound while queued is skipped.
            if self.cache.has_pod(&qp.info.key) {
                self.queue.done(&qp.info.key);
                continue;
            }
            self.schedule_one(qp);
            // Let watch and binding tasks run between cycles.
            tokio::task::yield_now().await;
        }
    }
}

/// The highest total wins; ties are broken uniformly at random (reservoir
/// sampling, as upstream's `selectHost`).
pub fn select_host(nodes: &[Arc<NodeInfo>], scores: &[i64]) -> String {
    let mut rng = rand::thread_rng();
    let mut best = 0;
    let mut ties = 0u32;
    for (i, s) in scores.iter().enumerate() {
        if i == 0 || *s > scores[best] {
            best = i;
            ties = 1;
        } else if *s == scores[best] {
            ties += 1;
            if rng.gen_range(0..ties) == 0 {
                best = i;
            }
        }
    }
    nodes[best].name.clone()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testing::*;

    #[test]
    fn feasible_node_counts() {
        assert_eq!(num_feasible_nodes_to_find(0, 50), 50);
        assert_eq!(num_feasible_nodes_to_find(0, 1000), 420);
        assert_eq!(num_feasible_nodes_to_find(0, 5000), 500);
        assert_eq!(num_feasible_nodes_to_find(0, 200), 100);
        assert_eq!(num_feasible_nodes_to_find(100, 5000), 5000);
    }

    #[test]
    fn fit_error_message_like_upstream() {
        let mut diagnosis = HashMap::new();
        diagnosis.insert("a".to_string(), Status::unschedulable("Insufficient cpu"));
        diagnosis.insert("b".to_string(), Status::unschedulable("Insufficient cpu"));
        diagnosis.insert(
            "c".to_string(),
            Status::unresolvable("node(s) had untolerated taint {k: v}"),
        );
        let e = FitError {
            num_nodes: 3,
            diagnosis,
            pre_filter: None,
            plugins: HashSet::new(),
        };
        assert_eq!(
            e.message(),
            "0/3 nodes are available: 1 node(s) had untolerated taint {k: v}, 2 Insufficient cpu."
        );
    }

    #[test]
    fn ties_are_broken_randomly() {
        let nodes: Vec<Arc<NodeInfo>> = ["a", "b", "c"]
            .iter()
            .map(|n| Arc::new(plain_node(n)))
            .collect();
        let mut seen = HashSet::new();
        for _ in 0..200 {
            seen.insert(select_host(&nodes, &[5, 7, 7]));
        }
        assert_eq!(
            seen,
            ["b".to_string(), "c".to_string()].into_iter().collect()
        );
    }
}
