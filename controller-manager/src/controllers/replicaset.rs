//! The ReplicaSet controller: keeps `spec.replicas` pods matching the
//! selector alive.
//!
//! reconcile(ns/name):
//! 1. **claim** pods: adopt orphans that match the selector (add our
//!    controller reference), release owned pods that no longer match;
//! 2. if the **expectations** of earlier creates/deletes are met (the pod
//!    cache has caught up), compare active pods with `replicas` and create
//!    in slow-start batches (1, 2, 4, ...; a failing batch stops the rest) or
//!    delete the least valuable pods first;
//! 3. write `status` (replicas, fullyLabeled, ready, available after
//!    minReadySeconds, observedGeneration, the ReplicaFailure condition).

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetCondition, ReplicaSetStatus};
use k8s_openapi::api::core::v1::{Pod, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};

use super::{Context, Started};
use crate::events::{Recorder, NORMAL, WARNING};
use crate::runtime::controller::{is_not_found, Action, Context as _, Reconciler, Result};
use crate::runtime::expectations::Expectations;
use crate::runtime::informer::{key_of, split_key, Store};
use crate::runtime::queue::Queue;
use crate::util;

/// Most pods created or deleted in one reconcile (upstream `burstReplicas`).
pub const BURST_REPLICAS: usize = 500;

/// Registers handlers and returns the workers.
pub fn start(ctx: &Context) -> Started {
    let pods = ctx.factory.informer::<Pod>();
    let sets = ctx.factory.informer::<ReplicaSet>();
    let queue = Queue::new("replicaset");
    let rc = Arc::new(ReplicaSetController {
        client: ctx.client.clone(),
        pods: pods.store(),
        sets: sets.store(),
        expectations: Arc::new(Expectations::new()),
        recorder: ctx.recorder("replicaset-controller"),
    });

    let (q, exp) = (Arc::clone(&queue), Arc::clone(&rc.expectations));
    sets.add_handler(move |old, new| match (old, new) {
        (_, Some(rs)) => q.add(key_of(&**rs)),
        (Some(rs), None) => {
            exp.delete(&key_of(&**rs));
            q.add(key_of(&**rs));
        }
        (None, None) => {}
    });

    let (q, exp, set_store) = (
        Arc::clone(&queue),
        Arc::clone(&rc.expectations),
        sets.store(),
    );
    pods.add_handler(move |old, new| {
        pod_event(&q, &exp, &set_store, old.map(|p| &**p), new.map(|p| &**p));
    });
    ctx.workers(rc, queue)
}

/// Maps a pod event to the ReplicaSets to look at, and records what the
/// expectations wait for.
fn pod_event(
    q: &Arc<Queue>,
    exp: &Expectations,
    sets: &Store<ReplicaSet>,
    old: Option<&Pod>,
    new: Option<&Pod>,
) {
    let owner_key = |p: &Pod| -> Option<String> {
        let r = util::controller_of(&p.metadata)?;
        (r.kind == "ReplicaSet").then(|| {
            format!(
                "{}/{}",
                p.metadata.namespace.as_deref().unwrap_or(""),
                r.name
            )
        })
    };
    match (old, new) {
        (None, Some(pod)) => {
            if let Some(k) = owner_key(pod) {
                if pod.metadata.deletion_timestamp.is_some() {
                    exp.deletion_observed(&k, &key_of(pod));
                } else {
                    exp.creation_observed(&k);
                }
                q.add(k);
            } else {
                enqueue_matching(q, sets, pod);
            }
        }
        (Some(old), Some(pod)) => {
            let (ok, nk) = (owner_key(old), owner_key(pod));
            if pod.metadata.deletion_timestamp.is_some()
                && old.metadata.deletion_timestamp.is_none()
            {
                if let Some(k) = &nk {
                    exp.deletion_observed(k, &key_of(pod));
                }
            }
            if ok != nk {
                if let Some(k) = ok {
                    q.add(k);
                }
            }
            match nk {
                Some(k) => {
                    // A pod turning ready counts as available only after
                    // minReadySeconds: look again then.
                    if !util::pod_ready(old) && util::pod_ready(pod) {
                        if let Some(rs) = sets.get(&k) {
                            let min = rs
                                .spec
                                .as_ref()
                                .and_then(|s| s.min_ready_seconds)
                                .unwrap_or(0);
                            if min > 0 {
                                q.add_after(k.clone(), Duration::from_secs(min as u64 + 1));
                            }
                        }
                    }
                    q.add(k)
                }
                None if old.metadata.labels != pod.metadata.labels => {
                    enqueue_matching(q, sets, pod)
                }
                None => {}
            }
        }
        (Some(pod), None) => {
            if let Some(k) = owner_key(pod) {
                exp.deletion_observed(&k, &key_of(pod));
                q.add(k);
            }
        }
        (None, None) => {}
    }
}

/// An orphan pod: every ReplicaSet in its namespace whose selector matches
/// may adopt it.
fn enqueue_matching(q: &Queue, sets: &Store<ReplicaSet>, pod: &Pod) {
    let ns = pod.metadata.namespace.as_deref().unwrap_or("");
    let labels = util::labels(&pod.metadata);
    for rs in sets.list_namespace(ns) {
        let sel = rs.spec.as_ref().map(|s| &s.selector);
        if let Ok(sel) = util::selector(sel) {
            if !sel.is_empty() && sel.matches(&labels) {
                q.add(key_of(&*rs));
            }
        }
    }
}

/// The controller's state: caches, expectations, the apiserver.
pub struct ReplicaSetController {
    client: kube::Client,
    pods: Store<Pod>,
    sets: Store<ReplicaSet>,
    expectations: Arc<Expectations>,
    recorder: Recorder,
}

impl Reconciler for ReplicaSetController {
    fn name(&self) -> &'static str {
        "replicaset"
    }

    async fn reconcile(&self, key: &str) -> Result<Action> {
        let Some(rs) = self.sets.get(key) else {
            self.expectations.delete(key);
            return Ok(Action::Done);
        };
        let (ns, name) = split_key(key);
        let ns = ns.unwrap_or_default();
        let spec = rs.spec.clone().unwrap_or_default();
        let selector = util::selector(Some(&spec.selector))?;
        let uid = rs.metadata.uid.clone().unwrap_or_default();
        let pod_api: Api<Pod> = Api::namespaced(self.client.clone(), ns);

        // 1. Claim: the pods we control, after adopting and releasing.
        let mut owned = Vec::new();
        for pod in self.pods.list_namespace(ns) {
            if !util::pod_active(&pod) {
                continue;
            }
            let matches = selector.matches(&util::labels(&pod.metadata));
            match util::controller_of(&pod.metadata) {
                Some(r) if r.uid == uid => {
                    if matches {
                        owned.push(pod);
                    } else if rs.metadata.deletion_timestamp.is_none() {
                        release(&pod_api, &pod, &uid).await?;
                    }
                }
                Some(_) => {}
                None if matches
                    && !selector.is_empty()
                    && rs.metadata.deletion_timestamp.is_none() =>
                {
                    if adopt(&pod_api, &pod, &rs).await? {
                        owned.push(pod);
                    }
                }
                None => {}
            }
        }

        // 2. Manage replicas, but only on a cache that has seen our last acts.
        let mut failure = None;
        if self.expectations.satisfied(key) && rs.metadata.deletion_timestamp.is_none() {
            let want = spec.replicas.unwrap_or(1).max(0) as usize;
            if let Err(e) = self.manage(key, &rs, &owned, want, &pod_api).await {
                failure = Some(e.to_string());
                self.update_status(&rs, &owned, failure.as_deref()).await?;
                return Err(e);
            }
        }

        // 3. Status.
        self.update_status(&rs, &owned, failure.as_deref()).await?;
        let min_ready = spec.min_ready_seconds.unwrap_or(0);
        if min_ready > 0 && owned.iter().any(|p| util::pod_ready(p)) {
            let now = util::now_millis();
            if owned
                .iter()
                .any(|p| util::pod_ready(p) && !util::pod_available(p, min_ready, now))
            {
                return Ok(Action::RequeueAfter(Duration::from_secs(min_ready as u64)));
            }
        }
        let _ = name;
        Ok(Action::Done)
    }
}

impl ReplicaSetController {
    async fn manage(
        &self,
        key: &str,
        rs: &ReplicaSet,
        owned: &[Arc<Pod>],
        want: usize,
        api: &Api<Pod>,
    ) -> Result<()> {
        let have = owned.len();
        if have < want {
            let n = (want - have).min(BURST_REPLICAS);
            self.expectations.expect_creations(key, n);
            let template = rs
                .spec
                .as_ref()
                .and_then(|s| s.template.clone())
                .unwrap_or_default();
            let pod = pod_from_template(&template, &rs.metadata, util::controller_ref(rs));
            let (created, err) = slow_start_batch(n, 1, || {
                let pod = pod.clone();
                async move { api.create(&PostParams::default(), &pod).await }
            })
            .await;
            for p in &created {
                self.recorder.event(
                    rs,
                    NORMAL,
                    "SuccessfulCreate",
                    format!("Created pod: {}", p.metadata.name.as_deref().unwrap_or("")),
                );
            }
            // Creations that never happened will never be observed.
            for _ in created.len()..n {
                self.expectations.creation_observed(key);
            }
            if let Some(e) = err {
                self.recorder.event(
                    rs,
                    WARNING,
                    "FailedCreate",
                    format!("Error creating: {}", api_message(&e)),
                );
                return Err(e).context(|| format!("creating pods for {key}"));
            }
        } else if have > want {
            let n = (have - want).min(BURST_REPLICAS);
            let victims = pods_to_delete(owned, n);
            self.expectations
                .expect_deletions(key, victims.iter().map(|p| key_of(&***p)));
            for pod in victims {
                let pname = pod.metadata.name.clone().unwrap_or_default();
                match api.delete(&pname, &DeleteParams::default()).await {
                    Ok(_) => self.recorder.event(
                        rs,
                        NORMAL,
                        "SuccessfulDelete",
                        format!("Deleted pod: {pname}"),
                    ),
                    Err(e) if is_not_found(&e) => {
                        self.expectations.deletion_observed(key, &key_of(&**pod))
                    }
                    Err(e) => {
                        self.expectations.deletion_observed(key, &key_of(&**pod));
                        self.recorder.event(
                            rs,
                            WARNING,
                            "FailedDelete",
                            format!("Error deleting: {}", api_message(&e)),
                        );
                        return Err(e).context(|| format!("deleting pod {pname}"));
                    }
                }
            }
        }
        Ok(())
    }

    async fn update_status(
        &self,
        rs: &ReplicaSet,
        owned: &[Arc<Pod>],
        failure: Option<&str>,
    ) -> Result<()> {
        let spec = rs.spec.clone().unwrap_or_default();
        let template_labels = spec
            .template
            .as_ref()
            .and_then(|t| t.metadata.as_ref())
            .map(util::labels)
            .unwrap_or_default();
        let now = util::now_millis();
        let min_ready = spec.min_ready_seconds.unwrap_or(0);
        let old = rs.status.clone().unwrap_or_default();
        let mut conditions: Vec<ReplicaSetCondition> = old
            .conditions
            .clone()
            .unwrap_or_default()
            .into_iter()
            .filter(|c| c.type_ != "ReplicaFailure")
            .collect();
        if let Some(msg) = failure {
            conditions.push(ReplicaSetCondition {
                type_: "ReplicaFailure".into(),
                status: "True".into(),
                reason: Some("FailedCreate".into()),
                message: Some(msg.to_string()),
                last_transition_time: Some(util::now()),
            });
        } else if let Some(c) = old
            .conditions
            .as_ref()
            .and_then(|cs| cs.iter().find(|c| c.type_ == "ReplicaFailure"))
        {
            // Keep a failure until the replica count is met again.
            if (owned.len() as i32) < spec.replicas.unwrap_or(1) {
                conditions.push(c.clone());
            }
        }
        let status = ReplicaSetStatus {
            replicas: owned.len() as i32,
            fully_labeled_replicas: Some(
                owned
                    .iter()
                    .filter(|p| {
                        let l = util::labels(&p.metadata);
                        template_labels.iter().all(|(k, v)| l.get(k) == Some(v))
                    })
                    .count() as i32,
            ),
            ready_replicas: Some(owned.iter().filter(|p| util::pod_ready(p)).count() as i32),
            available_replicas: Some(
                owned
                    .iter()
                    .filter(|p| util::pod_available(p, min_ready, now))
                    .count() as i32,
            ),
            observed_generation: rs.metadata.generation,
            conditions: (!conditions.is_empty()).then_some(conditions),
            terminating_replicas: None,
        };
        if normalized(&status) == normalized(&old) {
            return Ok(());
        }
        let api: Api<ReplicaSet> = Api::namespaced(
            self.client.clone(),
            rs.metadata.namespace.as_deref().unwrap_or(""),
        );
        let name = rs.metadata.name.clone().unwrap_or_default();
        let patch = serde_json::json!({"status": status});
        match api
            .patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(e).context(|| format!("updating status of replicaset {name}")),
        }
    }
}

/// A status with zero counts written as absent, as the apiserver returns it.
fn normalized(s: &ReplicaSetStatus) -> serde_json::Value {
    let mut v = serde_json::to_value(s).unwrap_or_default();
    if let Some(m) = v.as_object_mut() {
        m.retain(|k, v| !(v.is_null() || (v == &serde_json::json!(0) && k != "replicas")));
    }
    v
}

/// The message of an apiserver error, for Events.
pub fn api_message(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => s.message.clone(),
        other => other.to_string(),
    }
}

/// A new pod from a template (upstream `GetPodFromTemplate`): the template's
/// labels, annotations, finalizers and spec, named `<owner>-<random>`.
pub fn pod_from_template(
    template: &PodTemplateSpec,
    owner: &ObjectMeta,
    controller: OwnerReference,
) -> Pod {
    let tm = template.metadata.clone().unwrap_or_default();
    Pod {
        metadata: ObjectMeta {
            generate_name: Some(format!("{}-", owner.name.as_deref().unwrap_or(""))),
            namespace: owner.namespace.clone(),
            labels: tm.labels,
            annotations: tm.annotations,
            finalizers: tm.finalizers,
            owner_references: Some(vec![controller]),
            ..Default::default()
        },
        spec: template.spec.clone(),
        status: None,
    }
}

/// Runs `n` calls of `f` in batches of 1, 2, 4, ... (upstream
/// `slowStartBatch`): a quota or admission failure costs one request, not
/// five hundred. Returns what was created and the first error.
pub async fn slow_start_batch<T, F, Fut>(
    n: usize,
    initial: usize,
    f: F,
) -> (Vec<T>, Option<kube::Error>)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<T, kube::Error>>,
{
    let mut done = Vec::with_capacity(n);
    let mut batch = initial.max(1).min(n);
    let mut remaining = n;
    while remaining > 0 {
        let results = futures::future::join_all((0..batch).map(|_| f())).await;
        let mut err = None;
        for r in results {
            match r {
                Ok(v) => done.push(v),
                Err(e) => err = Some(e),
            }
        }
        if err.is_some() {
            return (done, err);
        }
        remaining -= batch;
        batch = (batch * 2).min(remaining);
    }
    (done, None)
}

/// The `n` pods to delete, least valuable first (upstream
/// `ActivePodsWithRanks`): unscheduled before scheduled, Pending before
/// Unknown before Running, not ready before ready, ready for less time
/// first, more restarts first, newer first.
pub fn pods_to_delete(pods: &[Arc<Pod>], n: usize) -> Vec<&Arc<Pod>> {
    let mut v: Vec<&Arc<Pod>> = pods.iter().collect();
    v.sort_by(|a, b| delete_order(a, b));
    v.truncate(n);
    v
}

fn delete_order(a: &Pod, b: &Pod) -> Ordering {
    let assigned = |p: &Pod| {
        p.spec
            .as_ref()
            .and_then(|s| s.node_name.as_deref())
            .is_some_and(|n| !n.is_empty())
    };
    let phase_rank = |p: &Pod| match util::pod_phase(p) {
        "Pending" => 0,
        "Unknown" => 1,
        "Running" => 2,
        _ => 3,
    };
    let created = |p: &Pod| {
        p.metadata
            .creation_timestamp
            .as_ref()
            .map(util::millis)
            .unwrap_or(0)
    };
    assigned(a)
        .cmp(&assigned(b))
        .then(phase_rank(a).cmp(&phase_rank(b)))
        .then(util::pod_ready(a).cmp(&util::pod_ready(b)))
        // Both ready: the more recently ready goes first.
        .then_with(|| {
            match (
                util::ready_condition_since(a),
                util::ready_condition_since(b),
            ) {
                (Some(x), Some(y)) => y.cmp(&x),
                _ => Ordering::Equal,
            }
        })
        .then(util::restarts(b).cmp(&util::restarts(a)))
        .then(created(b).cmp(&created(a)))
}

/// Makes `owner` the controller of an orphan pod; `false` if the pod changed
/// under us (it was adopted by someone else or deleted).
async fn adopt(api: &Api<Pod>, pod: &Pod, owner: &ReplicaSet) -> Result<bool> {
    let name = pod.metadata.name.clone().unwrap_or_default();
    let mut refs = pod.metadata.owner_references.clone().unwrap_or_default();
    refs.push(util::controller_ref(owner));
    // The uid and resourceVersion guard against adopting a pod that was
    // replaced or changed since our cache saw it.
    let patch = serde_json::json!({
        "metadata": {
            "ownerReferences": refs,
            "uid": pod.metadata.uid,
            "resourceVersion": pod.metadata.resource_version,
        }
    });
    match api
        .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        Ok(_) => Ok(true),
        Err(e) if is_not_found(&e) || crate::runtime::controller::is_conflict(&e) => Ok(false),
        Err(e) => Err(e).context(|| format!("adopting pod {name}")),
    }
}

/// Drops our controller reference from a pod that no longer matches.
async fn release(api: &Api<Pod>, pod: &Pod, uid: &str) -> Result<()> {
    let name = pod.metadata.name.clone().unwrap_or_default();
    let refs: Vec<OwnerReference> = pod
        .metadata
        .owner_references
        .clone()
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r.uid != uid)
        .collect();
    let patch = serde_json::json!({
        "metadata": {"ownerReferences": refs, "uid": pod.metadata.uid, "resourceVersion": pod.metadata.resource_version}
    });
    match api
        .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) || crate::runtime::controller::is_conflict(&e) => Ok(()),
        Err(e) => Err(e).context(|| format!("releasing pod {name}")),
    }
}

/// Pods per ReplicaSet in one namespace, for the Deployment controller.
pub fn pods_by_owner(pods: &Store<Pod>, ns: &str) -> BTreeMap<String, Vec<Arc<Pod>>> {
    let mut m: BTreeMap<String, Vec<Arc<Pod>>> = BTreeMap::new();
    for p in pods.list_namespace(ns) {
        if let Some(r) = util::controller_of(&p.metadata) {
            m.entry(r.uid.clone()).or_default().push(p);
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{PodCondition, PodSpec, PodStatus};

    fn pod(name: &str, node: Option<&str>, phase: &str, ready: bool, restarts: i32) -> Arc<Pod> {
        let _ = restarts;
        Arc::new(Pod {
            metadata: ObjectMeta {
                name: Some(name.into()),
                ..Default::default()
            },
            spec: Some(PodSpec {
                node_name: node.map(String::from),
                ..Default::default()
            }),
            status: Some(PodStatus {
                phase: Some(phase.into()),
                conditions: Some(vec![PodCondition {
                    type_: "Ready".into(),
                    status: if ready { "True" } else { "False" }.into(),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
        })
    }

    #[test]
    fn least_valuable_pods_go_first() {
        let pods = vec![
            pod("running-ready", Some("n1"), "Running", true, 0),
            pod("unscheduled", None, "Pending", false, 0),
            pod("running-not-ready", Some("n1"), "Running", false, 0),
            pod("pending", Some("n1"), "Pending", false, 0),
        ];
        let order: Vec<_> = pods_to_delete(&pods, 4)
            .iter()
            .map(|p| p.metadata.name.clone().unwrap())
            .collect();
        assert_eq!(
            order,
            [
                "unscheduled",
                "pending",
                "running-not-ready",
                "running-ready"
            ]
        );
    }

    #[tokio::test]
    async fn slow_start_stops_at_the_first_failing_batch() {
        let calls = std::sync::atomic::AtomicUsize::new(0);
        let (ok, err) = slow_start_batch(10, 1, || {
            let n = calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async move {
                if n >= 3 {
                    Err(kube::Error::LinesCodecMaxLineLengthExceeded)
                } else {
                    Ok(n)
                }
            }
        })
        .await;
        // Batches 1 and 2 succeed (3 calls); the batch of 4 fails as a whole.
        assert_eq!(ok.len(), 3);
        assert!(err.is_some());
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 7);
    }
}
