//! The DaemonSet controller: one pod on every eligible node, as upstream's
//! `pkg/controller/daemon`.
//!
//! A node is eligible when the pod template's `nodeSelector` and required
//! node affinity match it and every `NoSchedule`/`NoExecute` taint is
//! tolerated, counting the tolerations upstream adds to every daemon pod
//! (`not-ready`/`unreachable` NoExecute, `disk-pressure`, `memory-pressure`,
//! `pid-pressure`, `unschedulable` NoSchedule, and `network-unavailable`
//! for host-network pods). A pod already running stays as long as only
//! NoSchedule taints are untolerated.
//!
//! Pods are not given `spec.nodeName`: as upstream, each gets a required
//! node affinity `matchFields metadata.name In [<node>]`, and the scheduler
//! binds it (so resources and ports are still checked).
//!
//! reconcile(ns/name):
//! 1. group the pods we control by target node;
//! 2. with the expectations met, **manage**: create a pod on each eligible
//!    node without one, delete pods on ineligible nodes, failed pods and
//!    duplicates;
//! 3. **update** (`RollingUpdate`): pods whose `controller-revision-hash`
//!    label differs from the template's hash are replaced: with
//!    `maxSurge = 0` delete at most `maxUnavailable` available old pods at a
//!    time (old pods that are unavailable anyway go at once); with
//!    `maxSurge > 0` start a new pod next to the old one on at most
//!    `maxSurge` nodes and delete the old pod when the new one is available.
//!    `OnDelete` only replaces pods someone deleted;
//! 4. **status**: desired/current/misscheduled/ready/available/updated
//!    numbers and observedGeneration, which `kubectl rollout status ds/x`
//!    waits on.
//!
//! Revisions (upstream `constructHistory`, see
//! [`crate::machinery::history`]): the template is kept as a
//! ControllerRevision `<name>-<hash>` labelled `controller-revision-hash:
//! <hash>` (the `pod-template-hash` computation with the DaemonSet's
//! `collisionCount`), the label its pods carry. The revision equal to the
//! template is the current one (an old one is renumbered as the newest
//! after `kubectl rollout undo ds/x`, which patches an old revision's data
//! back into the set); every other revision is old, and old ones no pod
//! runs are deleted beyond `revisionHistoryLimit`, oldest first. A name
//! taken by a revision with other data bumps `status.collisionCount` and
//! retries.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet, DaemonSetStatus};
use k8s_openapi::api::core::v1::{
    Affinity, Node, NodeAffinity, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, Pod,
    Toleration,
};

use component_base::tolerations::tolerated;

use super::{Context, Started};
use crate::events::{Recorder, WARNING};
use crate::machinery::controller::{Action, Context as _, Error, Reconciler, Result};
use crate::machinery::controller_ref::{ControllerRefManager, PodEvents};
use crate::machinery::expectations::Expectations;
use crate::machinery::history::{self, ApiRevisionClient, History};
use crate::machinery::informer::{key_of, split_key, Store};
use crate::machinery::owner_client::{update_status, ApiOwnerClient, OwnerClient};
use crate::machinery::pod_control::{pod_from_template, PodControl};
use crate::machinery::queue::Queue;
use crate::machinery::template_hash as hash;
use crate::machinery::{controller_ref, meta, pods};

/// The label with the pod template's revision hash.
pub const REVISION_LABEL: &str = "controller-revision-hash";

/// Registers handlers and returns the workers.
pub fn start(ctx: &Context) -> Started {
    let pods = ctx.factory.informer::<Pod>();
    let sets = ctx.factory.informer::<DaemonSet>();
    let nodes = ctx.factory.informer::<Node>();
    let revisions = ctx.factory.informer::<ControllerRevision>();
    let queue = Queue::new("daemonset");
    let dc = Arc::new(DaemonSetController::new(
        pods.store(),
        sets.store(),
        nodes.store(),
        ctx.pod_control("daemonset-controller"),
        Arc::new(ApiOwnerClient::new(ctx.client.clone())),
        ctx.recorder("daemonset-controller"),
        History::new(
            revisions.store(),
            Arc::new(ApiRevisionClient::new(ctx.client.clone())),
        ),
    ));
    // A revision changed by someone else (deleted, orphaned) is looked at
    // again by its DaemonSet (upstream's history event handlers).
    let q = Arc::clone(&queue);
    revisions.add_handler(move |old, new| {
        if let Some(r) = new.or(old) {
            if let Some(owner) = controller_ref::controller_of(&r.metadata)
                .filter(|o| o.kind == "DaemonSet" && o.api_version == "apps/v1")
            {
                let ns = r.metadata.namespace.as_deref().unwrap_or_default();
                q.add(format!("{ns}/{}", owner.name));
            }
        }
    });

    let (q, exp) = (Arc::clone(&queue), Arc::clone(&dc.expectations));
    sets.add_handler(move |old, new| match (old, new) {
        (_, Some(ds)) => q.add(key_of(&**ds)),
        (Some(ds), None) => {
            exp.delete(&key_of(&**ds));
            q.add(key_of(&**ds));
        }
        (None, None) => {}
    });

    PodEvents {
        kind: "DaemonSet",
        queue: Arc::clone(&queue),
        expectations: Some(Arc::clone(&dc.expectations)),
        owners: sets.store(),
        selector_of: |ds: &DaemonSet| ds.spec.as_ref().map(|s| Cow::Borrowed(&s.selector)),
        min_ready_seconds_of: |ds: &DaemonSet| ds.spec.as_ref().and_then(|s| s.min_ready_seconds),
    }
    .register(&pods);

    // A node appearing or changing labels, taints or conditions may change
    // where every DaemonSet should run.
    let (q, set_store) = (Arc::clone(&queue), sets.store());
    nodes.add_handler(move |old, new| {
        let relevant = match (old, new) {
            (Some(o), Some(n)) => {
                o.metadata.labels != n.metadata.labels
                    || o.spec.as_ref().map(|s| (&s.taints, s.unschedulable))
                        != n.spec.as_ref().map(|s| (&s.taints, s.unschedulable))
            }
            _ => true,
        };
        if relevant {
            for ds in set_store.list() {
                q.add(key_of(&*ds));
            }
        }
    });
    ctx.workers(dc, queue)
}

/// The controller's state.
pub struct DaemonSetController {
    pods: Store<Pod>,
    sets: Store<DaemonSet>,
    nodes: Store<Node>,
    expectations: Arc<Expectations>,
    pod_control: PodControl,
    owners: Arc<dyn OwnerClient<DaemonSet>>,
    recorder: Recorder,
    history: History,
}

/// The tolerations every daemon pod gets (upstream
/// `AddOrUpdateDaemonPodTolerations`), added to the template's.
pub fn daemon_tolerations(mut t: Vec<Toleration>, host_network: bool) -> Vec<Toleration> {
    let mut add = |key: &str, effect: &str| {
        if !t
            .iter()
            .any(|x| x.key.as_deref() == Some(key) && x.effect.as_deref() == Some(effect))
        {
            t.push(Toleration {
                key: Some(key.into()),
                operator: Some("Exists".into()),
                effect: Some(effect.into()),
                ..Default::default()
            });
        }
    };
    add("node.kubernetes.io/not-ready", "NoExecute");
    add("node.kubernetes.io/unreachable", "NoExecute");
    add("node.kubernetes.io/disk-pressure", "NoSchedule");
    add("node.kubernetes.io/memory-pressure", "NoSchedule");
    add("node.kubernetes.io/pid-pressure", "NoSchedule");
    add("node.kubernetes.io/unschedulable", "NoSchedule");
    if host_network {
        add("node.kubernetes.io/network-unavailable", "NoSchedule");
    }
    t
}

fn requirement_matches(r: &NodeSelectorRequirement, value: Option<&str>) -> bool {
    let values = r.values.as_deref().unwrap_or(&[]);
    match r.operator.as_str() {
        "In" => value.is_some_and(|v| values.iter().any(|x| x == v)),
        "NotIn" => !value.is_some_and(|v| values.iter().any(|x| x == v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        op @ ("Gt" | "Lt") => {
            let (Some(v), Some(bound)) = (
                value.and_then(|v| v.parse::<i64>().ok()),
                values.first().and_then(|b| b.parse::<i64>().ok()),
            ) else {
                return false;
            };
            if op == "Gt" {
                v > bound
            } else {
                v < bound
            }
        }
        _ => false,
    }
}

/// Whether a node selector term matches the node (an empty term matches
/// nothing, as upstream).
pub fn term_matches(term: &NodeSelectorTerm, node: &Node) -> bool {
    let exprs = term.match_expressions.as_deref().unwrap_or(&[]);
    let fields = term.match_fields.as_deref().unwrap_or(&[]);
    if exprs.is_empty() && fields.is_empty() {
        return false;
    }
    let labels = meta::labels(&node.metadata);
    exprs
        .iter()
        .all(|r| requirement_matches(r, labels.get(&r.key).map(String::as_str)))
        && fields.iter().all(|r| {
            let v = (r.key == "metadata.name").then(|| node.metadata.name.as_deref().unwrap_or(""));
            requirement_matches(r, v)
        })
}

/// (should run a new pod, may keep a running one) on `node` for a pod with
/// `template` (upstream `NodeShouldRunDaemonPod`).
pub fn node_should_run(pod: &Pod, node: &Node) -> (bool, bool) {
    let spec = pod.spec.clone().unwrap_or_default();
    let name = node.metadata.name.as_deref().unwrap_or("");
    if spec
        .node_name
        .as_deref()
        .is_some_and(|n| !n.is_empty() && n != name)
    {
        return (false, false);
    }
    let labels = meta::labels(&node.metadata);
    let selector_ok = spec
        .node_selector
        .as_ref()
        .is_none_or(|sel| sel.iter().all(|(k, v)| labels.get(k) == Some(v)));
    let affinity_ok = spec
        .affinity
        .as_ref()
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|na| {
            na.required_during_scheduling_ignored_during_execution
                .as_ref()
        })
        .is_none_or(|ns| ns.node_selector_terms.iter().any(|t| term_matches(t, node)));
    if !selector_ok || !affinity_ok {
        return (false, false);
    }
    let tolerations = daemon_tolerations(
        spec.tolerations.clone().unwrap_or_default(),
        spec.host_network == Some(true),
    );
    let mut run = true;
    let mut keep = true;
    for taint in node
        .spec
        .as_ref()
        .and_then(|s| s.taints.as_deref())
        .unwrap_or(&[])
    {
        if taint.effect == "PreferNoSchedule" || tolerated(&tolerations, taint) {
            continue;
        }
        run = false;
        if taint.effect == "NoExecute" {
            keep = false;
        }
    }
    (run, keep)
}

/// The node a daemon pod is for: its `nodeName`, or the node of its
/// `matchFields metadata.name` affinity (upstream `GetTargetNodeName`).
pub fn target_node(pod: &Pod) -> Option<String> {
    let spec = pod.spec.as_ref()?;
    if let Some(n) = spec.node_name.as_ref().filter(|n| !n.is_empty()) {
        return Some(n.clone());
    }
    let terms = &spec
        .affinity
        .as_ref()?
        .node_affinity
        .as_ref()?
        .required_during_scheduling_ignored_during_execution
        .as_ref()?
        .node_selector_terms;
    terms.iter().find_map(|t| {
        t.match_fields.as_ref()?.iter().find_map(|r| {
            (r.key == "metadata.name" && r.operator == "In")
                .then(|| r.values.as_ref()?.first().cloned())
                .flatten()
        })
    })
}

/// Pins a pod to `node` the upstream way: the required node affinity
/// becomes one term `matchFields metadata.name In [node]`.
fn pin_to_node(affinity: Option<Affinity>, node: &str) -> Affinity {
    let mut a = affinity.unwrap_or_default();
    let na = a.node_affinity.get_or_insert_with(NodeAffinity::default);
    na.required_during_scheduling_ignored_during_execution = Some(NodeSelector {
        node_selector_terms: vec![NodeSelectorTerm {
            match_fields: Some(vec![NodeSelectorRequirement {
                key: "metadata.name".into(),
                operator: "In".into(),
                values: Some(vec![node.to_string()]),
            }]),
            match_expressions: None,
        }],
    });
    a
}

fn revision(pod: &Pod) -> Option<&str> {
    pod.metadata
        .labels
        .as_ref()?
        .get(REVISION_LABEL)
        .map(String::as_str)
}

/// The hash a revision's pods carry: its `controller-revision-hash` label
/// (upstream falls back to the name for revisions made without it).
fn revision_hash(rev: &ControllerRevision) -> String {
    rev.metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(REVISION_LABEL))
        .or(rev.metadata.name.as_ref())
        .cloned()
        .unwrap_or_default()
}

fn created(pod: &Pod) -> i64 {
    pod.metadata
        .creation_timestamp
        .as_ref()
        .map(meta::millis)
        .unwrap_or(0)
}

/// What one node needs.
#[derive(Default)]
struct NodePlan {
    should_run: bool,
    keep: bool,
    pods: Vec<Arc<Pod>>,
}

impl Reconciler for DaemonSetController {
    fn name(&self) -> &'static str {
        "daemonset"
    }

    async fn reconcile(&self, key: &str) -> Result<Action> {
        let Some(ds) = self.sets.get(key) else {
            self.expectations.delete(key);
            return Ok(Action::Done);
        };
        let (ns, _) = split_key(key);
        let ns = ns.unwrap_or_default();
        let spec = ds.spec.clone().unwrap_or_default();
        let selector = meta::selector(Some(&spec.selector))?;
        // A DaemonSet being deleted gets no new history (upstream returns
        // before `constructHistory`); its pods are only counted.
        let (rev, old_revisions) = if ds.metadata.deletion_timestamp.is_some() {
            let collision_count = ds.status.as_ref().and_then(|s| s.collision_count);
            (hash::compute(&spec.template, collision_count), Vec::new())
        } else {
            let (cur, old) = self.construct_history(&ds, &selector).await?;
            (revision_hash(&cur), old)
        };
        let template_pod = Pod {
            metadata: spec.template.metadata.clone().unwrap_or_default(),
            spec: spec.template.spec.clone(),
            status: None,
        };
        let min_ready = spec.min_ready_seconds.unwrap_or(0);
        let now = meta::now_millis();

        // 1. Pods by node.
        let mut plan: BTreeMap<String, NodePlan> = BTreeMap::new();
        for node in self.nodes.list() {
            let (should_run, keep) = node_should_run(&template_pod, &node);
            plan.insert(
                node.metadata.name.clone().unwrap_or_default(),
                NodePlan {
                    should_run,
                    keep,
                    pods: Vec::new(),
                },
            );
        }
        let live: Vec<Arc<Pod>> = self
            .pods
            .list_namespace(ns)
            .into_iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
            .collect();
        let owned = ControllerRefManager::new(&*ds, &selector)
            .claim_pods(live, &*self.owners, &self.pod_control)
            .await?;
        for pod in owned {
            if let Some(n) = target_node(&pod) {
                // Pods of vanished nodes are left to the pod GC, as upstream.
                if let Some(p) = plan.get_mut(&n) {
                    p.pods.push(pod);
                }
            }
        }
        for p in plan.values_mut() {
            p.pods.sort_by_key(|p| created(p));
        }

        // 2 and 3. Manage and update.
        if self.expectations.satisfied(key) && ds.metadata.deletion_timestamp.is_none() {
            let rolling = spec
                .update_strategy
                .as_ref()
                .and_then(|s| s.type_.as_deref())
                .is_none_or(|t| t == "RollingUpdate");
            let desired = plan.values().filter(|p| p.should_run).count() as i32;
            let ru = spec
                .update_strategy
                .as_ref()
                .and_then(|s| s.rolling_update.as_ref());
            let max_surge = if rolling {
                meta::scaled_value(ru.and_then(|r| r.max_surge.as_ref()), desired, true, 0)?
            } else {
                0
            };
            let mut max_unavailable = meta::scaled_value(
                ru.and_then(|r| r.max_unavailable.as_ref()),
                desired,
                true,
                1,
            )?;
            if max_unavailable == 0 && max_surge == 0 {
                max_unavailable = 1;
            }
            let (create, delete) = self.diff(
                &ds,
                &plan,
                &rev,
                rolling,
                max_surge,
                max_unavailable,
                min_ready,
                now,
            );
            self.sync_nodes(key, &ds, &template_pod, &rev, create, delete)
                .await?;
            self.cleanup_history(&ds, &plan, &old_revisions).await?;
        }

        // 4. Status.
        self.update_status(&ds, &plan, &rev, min_ready, now).await?;
        if min_ready > 0
            && plan
                .values()
                .flat_map(|p| p.pods.iter())
                .any(|p| pods::pod_ready(p) && !pods::pod_available(p, min_ready, now))
        {
            return Ok(Action::RequeueAfter(Duration::from_secs(min_ready as u64)));
        }
        Ok(Action::Done)
    }
}

impl DaemonSetController {
    /// Nodes to create a pod on and pods to delete.
    #[allow(clippy::too_many_arguments)]
    fn diff(
        &self,
        ds: &DaemonSet,
        plan: &BTreeMap<String, NodePlan>,
        rev: &str,
        rolling: bool,
        max_surge: i32,
        max_unavailable: i32,
        min_ready: i32,
        now: i64,
    ) -> (Vec<String>, Vec<Arc<Pod>>) {
        let mut create = Vec::new();
        let mut delete: Vec<Arc<Pod>> = Vec::new();
        let available = |p: &Pod| pods::pod_available(p, min_ready, now);
        let is_new = |p: &Pod| revision(p) == Some(rev);
        // Manage.
        for (node, p) in plan {
            if !p.should_run {
                if !p.keep {
                    delete.extend(p.pods.iter().cloned());
                }
                continue;
            }
            let (failed, live): (Vec<_>, Vec<_>) = p
                .pods
                .iter()
                .cloned()
                .partition(|x| pods::pod_phase(x) == "Failed");
            for f in failed {
                self.recorder.event(
                    ds,
                    WARNING,
                    "FailedDaemonPod",
                    format!(
                        "Found failed daemon pod {}/{} on node {node}, will try to kill it",
                        f.metadata.namespace.as_deref().unwrap_or(""),
                        f.metadata.name.as_deref().unwrap_or("")
                    ),
                );
                delete.push(f);
            }
            if live.is_empty() {
                create.push(node.clone());
            } else if max_surge > 0 {
                // Surging: keep the oldest new and the oldest old pod.
                let first_new = live.iter().position(|x| is_new(x));
                let first_old = live.iter().position(|x| !is_new(x));
                for (i, x) in live.iter().enumerate() {
                    if Some(i) != first_new && Some(i) != first_old {
                        delete.push(x.clone());
                    }
                }
            } else {
                delete.extend(live.iter().skip(1).cloned());
            }
        }
        if !rolling {
            return (create, delete);
        }
        // Rolling update, over nodes that should run a pod and have exactly
        // the pods manage leaves.
        let mut num_unavailable = 0;
        let mut num_surge = 0;
        let mut replace_now = Vec::new();
        let mut candidates = Vec::new();
        let mut surge_now = Vec::new();
        let mut surge_candidates = Vec::new();
        for (node, p) in plan.iter().filter(|(_, p)| p.should_run) {
            let live: Vec<&Arc<Pod>> = p
                .pods
                .iter()
                .filter(|x| {
                    pods::pod_phase(x) != "Failed" && !delete.iter().any(|d| Arc::ptr_eq(d, x))
                })
                .collect();
            let new = live.iter().find(|x| is_new(x));
            let old = live.iter().find(|x| !is_new(x));
            if max_surge == 0 {
                match (new, old) {
                    (None, None) | (Some(_), Some(_)) => num_unavailable += 1,
                    (Some(n), None) => {
                        if !available(n) {
                            num_unavailable += 1;
                        }
                    }
                    (None, Some(o)) => {
                        if !available(o) {
                            replace_now.push((*o).clone());
                        } else {
                            candidates.push((*o).clone());
                        }
                    }
                }
            } else {
                match (new, old) {
                    (_, None) => {}
                    (None, Some(o)) => {
                        if !available(o) {
                            surge_now.push(node.clone());
                        } else {
                            surge_candidates.push(node.clone());
                        }
                    }
                    (Some(n), Some(o)) => {
                        if available(n) {
                            delete.push((*o).clone());
                        } else {
                            num_surge += 1;
                        }
                    }
                }
            }
        }
        if max_surge == 0 {
            let room = (max_unavailable - num_unavailable).max(0) as usize;
            delete.extend(replace_now);
            delete.extend(candidates.into_iter().take(room));
        } else {
            let room = (max_surge - num_surge).max(0) as usize;
            create.extend(surge_now);
            create.extend(surge_candidates.into_iter().take(room));
        }
        (create, delete)
    }

    /// A controller over these caches, writing through `pod_control` and
    /// `owners` (the apiserver, or fakes in tests).
    pub fn new(
        pods: Store<Pod>,
        sets: Store<DaemonSet>,
        nodes: Store<Node>,
        pod_control: PodControl,
        owners: Arc<dyn OwnerClient<DaemonSet>>,
        recorder: Recorder,
        history: History,
    ) -> DaemonSetController {
        DaemonSetController {
            pods,
            sets,
            nodes,
            expectations: Arc::new(Expectations::new()),
            pod_control,
            owners,
            recorder,
            history,
        }
    }

    /// The current revision (the one equal to the template, created or
    /// renumbered as the newest when needed) and the old ones, oldest
    /// first (upstream `constructHistory`).
    async fn construct_history(
        &self,
        ds: &DaemonSet,
        selector: &apimachinery::labels::Selector,
    ) -> Result<(ControllerRevision, Vec<Arc<ControllerRevision>>)> {
        let template = ds
            .spec
            .as_ref()
            .map(|s| s.template.clone())
            .unwrap_or_default();
        let probe = history::new_revision(ds, &template, 0);
        let (mut current, mut old): (Vec<_>, Vec<_>) = self
            .history
            .claim(ds, selector)
            .await?
            .into_iter()
            .partition(|r| history::equal_data(r, &probe));
        let next = history::next_revision(&old);
        // Duplicates of the current template (only the newest is kept as
        // current) age out with the old ones.
        let newest = current.pop();
        old.append(&mut current);
        history::sort(&mut old);
        let cur = match newest {
            None => self.snapshot(ds, &template, next).await?,
            Some(c) if c.revision < next => self.history.renumber(&c, next).await?,
            Some(c) => (*c).clone(),
        };
        Ok((cur, old))
    }

    /// Stores the template as revision number `revision` (upstream
    /// `snapshot`).
    async fn snapshot(
        &self,
        ds: &DaemonSet,
        template: &k8s_openapi::api::core::v1::PodTemplateSpec,
        revision: i64,
    ) -> Result<ControllerRevision> {
        let collision_count = ds.status.as_ref().and_then(|s| s.collision_count);
        let h = hash::compute(template, collision_count);
        let name = history::revision_name(ds.metadata.name.as_deref().unwrap_or_default(), &h);
        let mut rev = history::new_revision(ds, template, revision);
        rev.metadata.name = Some(name.clone());
        rev.metadata
            .labels
            .get_or_insert_with(Default::default)
            .insert(REVISION_LABEL.into(), h);
        match self.history.create_named(&rev).await {
            Ok(created) => Ok(created),
            Err(kube::Error::Api(s)) if s.code == 409 => {
                let ns = ds.metadata.namespace.as_deref().unwrap_or_default();
                if let Some(existing) = self.history.get(ns, &name).await? {
                    if history::equal_data(&existing, &rev) {
                        return Ok(existing);
                    }
                }
                // Another template holds the name: the next hash is taken
                // with a higher collision count.
                let bumped = collision_count.unwrap_or(0) + 1;
                let patch = serde_json::json!({"status": {"collisionCount": bumped}});
                self.owners
                    .patch_status(ns, ds.metadata.name.as_deref().unwrap_or_default(), &patch)
                    .await
                    .context(|| format!("raising the collision count of {}", key_of(ds)))?;
                Err(Error::Invalid(format!(
                    "revision name {ns}/{name} is taken by another template; collision count raised to {bumped}"
                )))
            }
            Err(e) => Err(e).context(|| format!("creating revision {name}")),
        }
    }

    /// Deletes old revisions no pod runs, oldest first, beyond
    /// `revisionHistoryLimit` (upstream `cleanupHistory`).
    async fn cleanup_history(
        &self,
        ds: &DaemonSet,
        plan: &BTreeMap<String, NodePlan>,
        old: &[Arc<ControllerRevision>],
    ) -> Result<()> {
        let live: HashSet<String> = plan
            .values()
            .flat_map(|p| p.pods.iter())
            .filter_map(|p| revision(p).map(str::to_string))
            .collect();
        let limit = ds
            .spec
            .as_ref()
            .and_then(|s| s.revision_history_limit)
            .unwrap_or(history::DEFAULT_HISTORY_LIMIT);
        for r in history::surplus(old, &live, revision_hash, limit) {
            self.history.delete(r).await?;
        }
        Ok(())
    }

    async fn sync_nodes(
        &self,
        key: &str,
        ds: &DaemonSet,
        template_pod: &Pod,
        rev: &str,
        create: Vec<String>,
        delete: Vec<Arc<Pod>>,
    ) -> Result<()> {
        let mut seen = HashSet::new();
        let delete: Vec<&Arc<Pod>> = delete
            .iter()
            .filter(|p| seen.insert(key_of(&***p)))
            .collect();
        self.pod_control
            .delete_pods(&self.expectations, key, ds, &delete)
            .await?;
        let spec = ds.spec.clone().unwrap_or_default();
        let host_network = template_pod.spec.as_ref().and_then(|t| t.host_network) == Some(true);
        let pods: Vec<Pod> = create
            .iter()
            .map(|node| {
                let mut pod = pod_from_template(
                    &spec.template,
                    &ds.metadata,
                    controller_ref::controller_ref(ds),
                );
                pod.metadata
                    .labels
                    .get_or_insert_with(Default::default)
                    .insert(REVISION_LABEL.into(), rev.to_string());
                if let Some(s) = pod.spec.as_mut() {
                    s.affinity = Some(pin_to_node(s.affinity.take(), node));
                    s.tolerations = Some(daemon_tolerations(
                        s.tolerations.take().unwrap_or_default(),
                        host_network,
                    ));
                }
                pod
            })
            .collect();
        self.pod_control
            .create_pods(&self.expectations, key, ds, pods)
            .await
            .map(|_| ())
    }

    async fn update_status(
        &self,
        ds: &DaemonSet,
        plan: &BTreeMap<String, NodePlan>,
        rev: &str,
        min_ready: i32,
        now: i64,
    ) -> Result<()> {
        let mut st = DaemonSetStatus {
            collision_count: ds.status.as_ref().and_then(|s| s.collision_count),
            conditions: ds.status.as_ref().and_then(|s| s.conditions.clone()),
            observed_generation: ds.metadata.generation,
            ..Default::default()
        };
        for p in plan.values() {
            let live: Vec<&Arc<Pod>> = p
                .pods
                .iter()
                .filter(|x| pods::pod_phase(x) != "Failed")
                .collect();
            if p.should_run {
                st.desired_number_scheduled += 1;
                if let Some(first) = live.first() {
                    st.current_number_scheduled += 1;
                    if pods::pod_ready(first) {
                        st.number_ready += 1;
                    }
                    if pods::pod_available(first, min_ready, now) {
                        *st.number_available.get_or_insert(0) += 1;
                    }
                }
                // As upstream, the oldest pod speaks for the node.
                if live.first().is_some_and(|x| revision(x) == Some(rev)) {
                    *st.updated_number_scheduled.get_or_insert(0) += 1;
                }
            } else if !live.is_empty() {
                st.number_misscheduled += 1;
            }
        }
        let unavailable = st.desired_number_scheduled - st.number_available.unwrap_or(0);
        st.number_unavailable = (unavailable > 0).then_some(unavailable);
        let old = ds.status.clone().unwrap_or_default();
        update_status(&*self.owners, ds, &old, &st).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::machinery::history::FakeRevisionClient;
    use crate::machinery::owner_client::FakeOwnerClient;
    use crate::machinery::pod_control::FakePodClient;
    use serde_json::json;

    fn daemon_set() -> DaemonSet {
        serde_json::from_value(json!({
            "metadata": {"name": "agent", "namespace": "ns", "uid": "ds-uid", "generation": 1},
            "spec": {
                "selector": {"matchLabels": {"app": "agent"}},
                "template": {
                    "metadata": {"labels": {"app": "agent"}},
                    "spec": {"containers": [{"name": "c", "image": "busybox"}]}
                }
            }
        }))
        .expect("daemonset")
    }

    /// A running pod labelled `app=agent`, pinned to `node` the way the
    /// controller pins its own, controlled by `owner` if given.
    fn daemon_pod(name: &str, node: &str, owner: Option<&str>) -> Pod {
        let refs = owner.map(|uid| {
            json!([{"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "agent",
                    "uid": uid, "controller": true}])
        });
        let mut p: Pod = serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "ns", "uid": format!("{name}-uid"),
                         "resourceVersion": "5", "labels": {"app": "agent"},
                         "ownerReferences": refs},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]},
            "status": {"phase": "Running"}
        }))
        .expect("pod");
        if let Some(s) = p.spec.as_mut() {
            s.affinity = Some(pin_to_node(None, node));
        }
        p
    }

    fn fixture(nodes: Vec<Node>, pods: Vec<Pod>) -> (DaemonSetController, Arc<FakePodClient>) {
        let (pod_store, sets, node_store) = (Store::default(), Store::default(), Store::default());
        for p in pods {
            pod_store.insert(p);
        }
        for n in nodes {
            node_store.insert(n);
        }
        sets.insert(daemon_set());
        let fake = FakePodClient::new();
        let owners = Arc::new(FakeOwnerClient::default());
        owners.set(daemon_set());
        let dc = DaemonSetController::new(
            pod_store,
            sets,
            node_store,
            PodControl::new(fake.clone(), Recorder::disabled()),
            owners,
            Recorder::disabled(),
            History::new(Store::default(), FakeRevisionClient::new()),
        );
        (dc, fake)
    }

    fn eligible_and_tainted() -> Vec<Node> {
        vec![
            node("n1", json!({}), json!([])),
            node("n2", json!({}), json!([])),
            node(
                "tainted",
                json!({}),
                json!([{"key": "dedicated", "effect": "NoSchedule"}]),
            ),
        ]
    }

    #[tokio::test]
    async fn one_pod_per_eligible_node() {
        let (dc, fake) = fixture(eligible_and_tainted(), vec![]);
        dc.reconcile("ns/agent").await.expect("reconcile");
        let mut targets: Vec<String> = fake.creates().iter().filter_map(target_node).collect();
        targets.sort();
        assert_eq!(targets, ["n1", "n2"]);
        for p in fake.creates() {
            let r = controller_ref::controller_of(&p.metadata).expect("controller");
            assert_eq!((r.kind.as_str(), r.uid.as_str()), ("DaemonSet", "ds-uid"));
            assert!(revision(&p).is_some());
        }
    }

    #[tokio::test]
    async fn the_template_is_kept_as_a_revision_its_pods_carry() {
        let revisions = FakeRevisionClient::new();
        let sets = Store::default();
        sets.insert(daemon_set());
        let nodes = Store::default();
        nodes.insert(node("n1", json!({}), json!([])));
        let fake = FakePodClient::new();
        let owners = Arc::new(FakeOwnerClient::default());
        owners.set(daemon_set());
        let dc = DaemonSetController::new(
            Store::default(),
            sets,
            nodes,
            PodControl::new(fake.clone(), Recorder::disabled()),
            owners,
            Recorder::disabled(),
            History::new(Store::default(), revisions.clone()),
        );
        dc.reconcile("ns/agent").await.expect("reconcile");
        let stored = revisions.revisions();
        assert_eq!(stored.len(), 1, "{stored:?}");
        let r = &stored[0];
        assert_eq!(r.revision, 1);
        let hash = r
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(REVISION_LABEL))
            .cloned();
        assert_eq!(r.metadata.name, hash.as_ref().map(|h| format!("agent-{h}")));
        assert_eq!(
            history::template_of(r),
            daemon_set().spec.map(|s| s.template)
        );
        let owner = controller_ref::controller_of(&r.metadata).expect("owner");
        assert_eq!(owner.uid, "ds-uid");
        // The pod it made carries the revision's hash.
        let created = fake.creates();
        assert_eq!(created.len(), 1);
        assert_eq!(revision(&created[0]).map(str::to_string), hash);
    }

    #[tokio::test]
    async fn an_orphan_on_a_node_is_adopted_and_that_node_gets_no_new_pod() {
        let (dc, fake) = fixture(
            eligible_and_tainted(),
            vec![daemon_pod("orphan", "n1", None)],
        );
        dc.reconcile("ns/agent").await.expect("reconcile");
        let patches = fake.patches();
        assert_eq!(patches.len(), 1, "{patches:?}");
        assert_eq!(patches[0].0, "ns/orphan");
        assert_eq!(
            patches[0].1["metadata"]["ownerReferences"][0]["uid"],
            "ds-uid"
        );
        let targets: Vec<String> = fake.creates().iter().filter_map(target_node).collect();
        assert_eq!(targets, ["n2"]);
    }

    #[tokio::test]
    async fn a_pod_on_a_node_that_evicts_it_is_deleted() {
        let nodes = vec![node(
            "n1",
            json!({}),
            json!([{"key": "k", "effect": "NoExecute"}]),
        )];
        let (dc, fake) = fixture(nodes, vec![daemon_pod("old", "n1", Some("ds-uid"))]);
        dc.reconcile("ns/agent").await.expect("reconcile");
        assert_eq!(fake.deletes(), ["ns/old"]);
        assert!(fake.creates().is_empty());
    }

    fn node(name: &str, labels: serde_json::Value, taints: serde_json::Value) -> Node {
        serde_json::from_value(json!({
            "metadata": {"name": name, "labels": labels},
            "spec": {"taints": taints}
        }))
        .expect("node")
    }

    fn pod(spec: serde_json::Value) -> Pod {
        serde_json::from_value(json!({"metadata": {"name": "p"}, "spec": spec})).expect("pod")
    }

    #[test]
    fn eligibility_follows_selectors_affinity_and_taints() {
        let plain = pod(json!({"containers": []}));
        let n = node("n1", json!({"disk": "ssd"}), json!([]));
        assert_eq!(node_should_run(&plain, &n), (true, true));
        let sel = pod(json!({"containers": [], "nodeSelector": {"disk": "hdd"}}));
        assert_eq!(node_should_run(&sel, &n), (false, false));
        let aff = pod(json!({"containers": [], "affinity": {"nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchExpressions": [{"key": "disk", "operator": "In", "values": ["ssd"]}]}]}}}}));
        assert_eq!(node_should_run(&aff, &n), (true, true));
        // A NoSchedule taint keeps running pods; NoExecute evicts them.
        let ns = node(
            "n2",
            json!({}),
            json!([{"key": "k", "value": "v", "effect": "NoSchedule"}]),
        );
        assert_eq!(node_should_run(&plain, &ns), (false, true));
        let ne = node(
            "n3",
            json!({}),
            json!([{"key": "k", "effect": "NoExecute"}]),
        );
        assert_eq!(node_should_run(&plain, &ne), (false, false));
        let tol =
            pod(json!({"containers": [], "tolerations": [{"key": "k", "operator": "Exists"}]}));
        assert_eq!(node_should_run(&tol, &ne), (true, true));
        // The default daemon tolerations cover these.
        let nr = node(
            "n4",
            json!({}),
            json!([
            {"key": "node.kubernetes.io/not-ready", "effect": "NoExecute"},
            {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}]),
        );
        assert_eq!(node_should_run(&plain, &nr), (true, true));
    }

    #[test]
    fn pods_are_pinned_with_match_fields() {
        let a = pin_to_node(None, "n7");
        let p = Pod {
            spec: Some(k8s_openapi::api::core::v1::PodSpec {
                affinity: Some(a),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(target_node(&p).as_deref(), Some("n7"));
        let n = node("n7", json!({}), json!([]));
        let terms = &p
            .spec
            .as_ref()
            .and_then(|s| s.affinity.as_ref())
            .and_then(|a| a.node_affinity.as_ref())
            .and_then(|n| {
                n.required_during_scheduling_ignored_during_execution
                    .as_ref()
            })
            .expect("terms")
            .node_selector_terms;
        assert!(term_matches(&terms[0], &n));
        assert!(!term_matches(&terms[0], &node("n8", json!({}), json!([]))));
    }
}
