//! The StatefulSet controller: pods with stable identities `<name>-0`,
//! `<name>-1`, ..., as upstream's `pkg/controller/statefulset`.
//!
//! Each pod is named by its ordinal, labelled
//! `statefulset.kubernetes.io/pod-name` and `apps.kubernetes.io/pod-index`,
//! and gets `hostname = <pod name>` and `subdomain = spec.serviceName`, so
//! a headless Service gives it a stable DNS name.
//!
//! reconcile(ns/name), as upstream's `updateStatefulSet`:
//! 1. sort our pods into the ordinals `0..replicas` and the **condemned**
//!    ones at or above `replicas`;
//! 2. for each ordinal upwards: create a missing pod, delete a failed one;
//!    with `podManagementPolicy: OrderedReady` stop at the first pod that is
//!    not Running and Ready (for `minReadySeconds`), so pods start strictly
//!    one after the other (`Parallel` does not wait);
//! 3. delete condemned pods from the highest ordinal down, one at a time
//!    and only when everything below is healthy (OrderedReady);
//! 4. `RollingUpdate`: from the highest ordinal down to `partition`, delete
//!    the first pod not at the update revision and wait for it to come back
//!    healthy before the next; `OnDelete` only replaces deleted pods;
//! 5. status: replicas/ready/available/current/updated counts,
//!    currentRevision/updateRevision (the current one becomes the update one
//!    when every pod runs it), observedGeneration; `kubectl rollout status
//!    sts/x` waits on these.
//!
//! Revisions (upstream `getStatefulSetRevisions`, see
//! [`crate::machinery::history`]): every distinct template is a
//! ControllerRevision `<name>-<hash>`; the **update revision** is the one
//! equal to the current template (created, or an old one renumbered as the
//! newest after `kubectl rollout undo`), the **current revision** the one
//! `status.currentRevision` names. A pod is made from the update revision,
//! except below the `partition`, where it is made from the current
//! revision's template (so a canary's untouched pods come back unchanged
//! when deleted). Pods carry the revision's name in
//! `controller-revision-hash`. Revisions no pod uses beyond
//! `revisionHistoryLimit` are deleted, oldest first.
//!
//! Storage ([`claims`]): before a pod is created, its claims from
//! `volumeClaimTemplates` (`<template>-<set>-<ordinal>`) are created if
//! missing (`SuccessfulCreate` / `FailedCreate` events, as upstream); a
//! claim being deleted holds the pod back. Claims are never deleted with
//! their pod, so a scale-down keeps them and a scale-up (or a recreated
//! set) reuses them; `persistentVolumeClaimRetentionPolicy.whenDeleted:
//! Delete` lets the garbage collector remove them with the set.

pub mod claims;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{ControllerRevision, StatefulSet, StatefulSetStatus};
use k8s_openapi::api::core::v1::{Pod, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use claims::{ApiClaimClient, ClaimClient};

use super::{Context, Started};
use crate::events::Recorder;
use crate::machinery::controller::{Action, Context as _, Error, Reconciler, Result};
use crate::machinery::controller_ref::{ControllerRefManager, PodEvents};
use crate::machinery::history::{self, ApiRevisionClient, History};
use crate::machinery::informer::{key_of, split_key, Store};
use crate::machinery::owner_client::{update_status, ApiOwnerClient, OwnerClient};
use crate::machinery::pod_control::PodControl;
use crate::machinery::queue::Queue;
use crate::machinery::{controller_ref, meta, pods};

/// The label with the pod's revision (`<name>-<hash>`).
pub const REVISION_LABEL: &str = "controller-revision-hash";
/// The label with the pod's name.
pub const POD_NAME_LABEL: &str = "statefulset.kubernetes.io/pod-name";
/// The label with the pod's ordinal.
pub const POD_INDEX_LABEL: &str = "apps.kubernetes.io/pod-index";

/// Registers handlers and returns the workers.
pub fn start(ctx: &Context) -> Started {
    let pods = ctx.factory.informer::<Pod>();
    let sets = ctx.factory.informer::<StatefulSet>();
    let revisions = ctx.factory.informer::<ControllerRevision>();
    let queue = Queue::new("statefulset");
    let sc = Arc::new(StatefulSetController {
        pods: pods.store(),
        sets: sets.store(),
        pod_control: ctx.pod_control("statefulset-controller"),
        claims: Arc::new(ApiClaimClient::new(ctx.client.clone())),
        recorder: ctx.recorder("statefulset-controller"),
        owners: Arc::new(ApiOwnerClient::new(ctx.client.clone())),
        history: History::new(
            revisions.store(),
            Arc::new(ApiRevisionClient::new(ctx.client.clone())),
        ),
    });
    // A revision changed by someone else (deleted, orphaned) is looked at
    // again by its set.
    let q = Arc::clone(&queue);
    revisions.add_handler(move |old, new| {
        if let Some(r) = new.or(old) {
            if let Some(owner) = controller_ref::controller_of(&r.metadata)
                .filter(|o| o.kind == "StatefulSet" && o.api_version == "apps/v1")
            {
                let ns = r.metadata.namespace.as_deref().unwrap_or_default();
                q.add(format!("{ns}/{}", owner.name));
            }
        }
    });
    let q = Arc::clone(&queue);
    sets.add_handler(move |old, new| {
        if let Some(s) = new.or(old) {
            q.add(key_of(&**s));
        }
    });
    // Pods are known by name, not counted: no expectations.
    PodEvents {
        kind: "StatefulSet",
        queue: Arc::clone(&queue),
        expectations: None,
        owners: sets.store(),
        selector_of: |s: &StatefulSet| s.spec.as_ref().map(|s| Cow::Borrowed(&s.selector)),
        min_ready_seconds_of: |s: &StatefulSet| s.spec.as_ref().and_then(|s| s.min_ready_seconds),
    }
    .register(&pods);
    ctx.workers(sc, queue)
}

/// The controller's state.
pub struct StatefulSetController {
    pods: Store<Pod>,
    sets: Store<StatefulSet>,
    pod_control: PodControl,
    claims: Arc<dyn ClaimClient>,
    recorder: Recorder,
    owners: Arc<dyn OwnerClient<StatefulSet>>,
    history: History,
}

/// The two revisions a reconcile works with, and the template of each.
struct Revisions {
    current: String,
    current_template: PodTemplateSpec,
    update: String,
    update_template: PodTemplateSpec,
}

impl Revisions {
    /// The revision (and its template) the pod of ordinal `i` is made from
    /// (upstream `newVersionedStatefulSetPod`): the current one below the
    /// partition (or, with a RollingUpdate strategy but no parameters, below
    /// the count of current replicas), the update one elsewhere.
    fn for_ordinal(&self, set: &StatefulSet, i: i32) -> (&str, &PodTemplateSpec) {
        let strategy = set
            .spec
            .as_ref()
            .and_then(|s| s.update_strategy.clone())
            .unwrap_or_default();
        let rolling = strategy.type_.as_deref().unwrap_or("RollingUpdate") == "RollingUpdate";
        let current_replicas = set
            .status
            .as_ref()
            .and_then(|s| s.current_replicas)
            .unwrap_or(0);
        let below = match &strategy.rolling_update {
            None => rolling && i < current_replicas,
            Some(r) => i < r.partition.unwrap_or(0),
        };
        if below {
            (&self.current, &self.current_template)
        } else {
            (&self.update, &self.update_template)
        }
    }
}

/// The ordinal of a pod named `<set>-<n>`.
pub fn ordinal(set: &str, pod: &str) -> Option<i32> {
    let n = pod.strip_prefix(set)?.strip_prefix('-')?;
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) || (n.len() > 1 && n.starts_with('0'))
    {
        return None;
    }
    n.parse().ok()
}

fn revision(pod: &Pod) -> &str {
    pod.metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(REVISION_LABEL))
        .map(String::as_str)
        .unwrap_or("")
}

fn terminating(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_some()
}

fn running_and_ready(pod: &Pod) -> bool {
    pods::pod_phase(pod) == "Running" && pods::pod_ready(pod)
}

/// The pod for ordinal `i` from the set's own template.
pub fn new_pod(set: &StatefulSet, i: i32, revision: &str) -> Pod {
    let template = set
        .spec
        .as_ref()
        .map(|s| s.template.clone())
        .unwrap_or_default();
    new_pod_from(set, &template, i, revision)
}

/// The pod for ordinal `i` made from `template` of `revision` (upstream
/// `newStatefulSetPod` over the set with the revision applied).
pub fn new_pod_from(set: &StatefulSet, template: &PodTemplateSpec, i: i32, revision: &str) -> Pod {
    let spec = set.spec.clone().unwrap_or_default();
    let name = set.metadata.name.clone().unwrap_or_default();
    let pod_name = format!("{name}-{i}");
    let tm = template.metadata.clone().unwrap_or_default();
    let mut labels = tm.labels.unwrap_or_default();
    labels.insert(POD_NAME_LABEL.into(), pod_name.clone());
    labels.insert(POD_INDEX_LABEL.into(), i.to_string());
    labels.insert(REVISION_LABEL.into(), revision.to_string());
    let mut pod_spec = template.spec.clone().unwrap_or_default();
    claims::update_storage(set, &mut pod_spec, i);
    pod_spec.hostname = Some(pod_name.clone());
    if let Some(svc) = spec.service_name.filter(|s| !s.is_empty()) {
        pod_spec.subdomain = Some(svc);
    }
    Pod {
        metadata: ObjectMeta {
            name: Some(pod_name),
            namespace: set.metadata.namespace.clone(),
            labels: Some(labels),
            annotations: tm.annotations,
            finalizers: tm.finalizers,
            owner_references: Some(vec![controller_ref::controller_ref(set)]),
            ..Default::default()
        },
        spec: Some(pod_spec),
        status: None,
    }
}

impl Reconciler for StatefulSetController {
    fn name(&self) -> &'static str {
        "statefulset"
    }

    async fn reconcile(&self, key: &str) -> Result<Action> {
        let Some(set) = self.sets.get(key) else {
            return Ok(Action::Done);
        };
        let (ns, name) = split_key(key);
        let ns = ns.unwrap_or_default();
        let spec = set.spec.clone().unwrap_or_default();
        let status = set.status.clone().unwrap_or_default();
        let replicas = spec.replicas.unwrap_or(1).max(0);
        let min_ready = spec.min_ready_seconds.unwrap_or(0);
        let now = meta::now_millis();
        let healthy = |p: &Pod| {
            running_and_ready(p) && !terminating(p) && pods::pod_available(p, min_ready, now)
        };
        let monotonic = spec.pod_management_policy.as_deref() != Some("Parallel");

        // 1. Ordinals.
        let mut slots: BTreeMap<i32, Arc<Pod>> = BTreeMap::new();
        let mut all: Vec<Arc<Pod>> = Vec::new();
        let selector = meta::selector(Some(&spec.selector))?;
        let history = self.history.claim(&*set, &selector).await?;
        let (revs, collision_count) = self.revisions(&set, &history).await?;
        let (current_rev, update_rev) = (revs.current.clone(), revs.update.clone());
        let owned = ControllerRefManager::new(&*set, &selector)
            .claim_pods(
                self.pods.list_namespace(ns),
                &*self.owners,
                &self.pod_control,
            )
            .await?;
        for pod in owned {
            if let Some(i) = pod.metadata.name.as_deref().and_then(|n| ordinal(name, n)) {
                slots.insert(i, Arc::clone(&pod));
            }
            all.push(pod);
        }
        if set.metadata.deletion_timestamp.is_none() {
            self.act(&set, &slots, replicas, &revs, monotonic, &healthy)
                .await?;
        }

        // 5. Status.
        let mut st = StatefulSetStatus {
            observed_generation: set.metadata.generation,
            collision_count: Some(collision_count),
            conditions: status.conditions.clone(),
            update_revision: Some(update_rev.clone()),
            current_revision: Some(current_rev.clone()),
            ..Default::default()
        };
        let (mut ready, mut available, mut current, mut updated) = (0, 0, 0, 0);
        for p in &all {
            st.replicas += 1;
            if running_and_ready(p) {
                ready += 1;
                if pods::pod_available(p, min_ready, now) {
                    available += 1;
                }
            }
            if !terminating(p) {
                if revision(p) == current_rev {
                    current += 1;
                }
                if revision(p) == update_rev {
                    updated += 1;
                }
            }
        }
        st.ready_replicas = Some(ready);
        st.available_replicas = Some(available);
        st.current_replicas = Some(current);
        st.updated_replicas = Some(updated);
        // A rolling update is complete once every pod runs the update
        // revision (upstream `completeRollingUpdate`; OnDelete keeps its
        // current revision).
        let on_delete = spec
            .update_strategy
            .as_ref()
            .and_then(|s| s.type_.as_deref())
            == Some("OnDelete");
        if !on_delete && updated == st.replicas && ready == st.replicas && st.replicas == replicas {
            st.current_revision = Some(update_rev.clone());
            st.current_replicas = Some(updated);
        }
        let final_current = st.current_revision.clone().unwrap_or_default();
        self.write_status(&set, st).await?;
        self.truncate_history(&set, &all, &history, &final_current, &update_rev)
            .await?;
        if min_ready > 0
            && all
                .iter()
                .any(|p| running_and_ready(p) && !pods::pod_available(p, min_ready, now))
        {
            return Ok(Action::RequeueAfter(Duration::from_secs(min_ready as u64)));
        }
        Ok(Action::Done)
    }
}

impl StatefulSetController {
    /// Steps 2 to 4; returns early wherever OrderedReady has to wait.
    #[allow(clippy::too_many_arguments)]
    async fn act(
        &self,
        set: &StatefulSet,
        slots: &BTreeMap<i32, Arc<Pod>>,
        replicas: i32,
        revs: &Revisions,
        monotonic: bool,
        healthy: &(dyn Fn(&Pod) -> bool + Sync),
    ) -> Result<()> {
        let update_rev = revs.update.as_str();
        let spec = set.spec.clone().unwrap_or_default();
        // The first unhealthy pod by ordinal, over the replicas (a missing one
        // counts) and then the condemned: under OrderedReady it is the only
        // unhealthy pod a scale-down may remove.
        let first_unhealthy: Option<i32> = (0..replicas)
            .find(|i| slots.get(i).is_none_or(|p| !healthy(p)))
            .or_else(|| {
                slots
                    .range(replicas..)
                    .find(|(_, p)| !healthy(p))
                    .map(|(i, _)| *i)
            });
        // 2. Replicas, upwards.
        for i in 0..replicas {
            match slots.get(&i) {
                None => {
                    let (rev, template) = revs.for_ordinal(set, i);
                    self.create(set, template, i, rev).await?;
                    if monotonic {
                        return Ok(());
                    }
                }
                Some(p)
                    if matches!(pods::pod_phase(p), "Failed" | "Succeeded") && !terminating(p) =>
                {
                    // A finished pod is deleted and recreated under its name.
                    self.delete(set, p).await?;
                    if monotonic {
                        return Ok(());
                    }
                }
                Some(p) if !healthy(p) => {
                    if monotonic {
                        return Ok(());
                    }
                }
                Some(_) => {}
            }
        }
        // 3. Condemned, downwards.
        for (&i, p) in slots.range(replicas..).rev() {
            if terminating(p) {
                if monotonic {
                    return Ok(());
                }
                continue;
            }
            // An unhealthy pod may go only if it is the first unhealthy one:
            // a scale-down halts while a lower pod is broken.
            if monotonic && !healthy(p) && first_unhealthy != Some(i) {
                return Ok(());
            }
            self.delete(set, p).await?;
            if monotonic {
                return Ok(());
            }
        }
        // 4. Rolling update.
        let strategy = spec.update_strategy.clone().unwrap_or_default();
        if strategy.type_.as_deref() == Some("OnDelete") {
            return Ok(());
        }
        let partition = strategy
            .rolling_update
            .and_then(|r| r.partition)
            .unwrap_or(0)
            .max(0);
        for i in (partition..replicas).rev() {
            let Some(p) = slots.get(&i) else {
                return Ok(());
            };
            if revision(p) != update_rev && !terminating(p) {
                self.delete(set, p).await?;
                return Ok(());
            }
            if !healthy(p) {
                return Ok(());
            }
        }
        Ok(())
    }

    async fn create(
        &self,
        set: &StatefulSet,
        template: &PodTemplateSpec,
        i: i32,
        rev: &str,
    ) -> Result<()> {
        self.create_claims(set, i).await?;
        // Already there (a lagging cache) is fine: the name is the identity.
        self.pod_control
            .create_pod(set, &new_pod_from(set, template, i, rev))
            .await
            .map(|_| ())
    }

    /// Creates ordinal `i`'s missing claims (upstream
    /// `createPersistentVolumeClaims`); an existing one is reused, one being
    /// deleted fails the pod's creation until it is gone.
    async fn create_claims(&self, set: &StatefulSet, i: i32) -> Result<()> {
        let set_name = set.metadata.name.clone().unwrap_or_default();
        let pod_name = format!("{set_name}-{i}");
        for claim in claims::claims_for(set, i) {
            let ns = claim.metadata.namespace.clone().unwrap_or_default();
            let name = claim.metadata.name.clone().unwrap_or_default();
            let found = self
                .claims
                .get(&ns, &name)
                .await
                .context(|| format!("reading claim {ns}/{name}"))?;
            match found {
                Some(c) if c.metadata.deletion_timestamp.is_some() => {
                    return Err(Error::Invalid(format!("pvc {name} is being deleted")));
                }
                Some(_) => {}
                None => match self.claims.create(&claim).await {
                    Ok(()) => self.recorder.event(
                        set,
                        "Normal",
                        "SuccessfulCreate",
                        format!(
                            "create Claim {name} Pod {pod_name} in StatefulSet {set_name} success"
                        ),
                    ),
                    Err(kube::Error::Api(s)) if s.code == 409 => {}
                    Err(e) => {
                        self.recorder.event(
                            set,
                            "Warning",
                            "FailedCreate",
                            format!("create Claim {name} for Pod {pod_name} in StatefulSet {set_name} failed error: {e}"),
                        );
                        return Err(e).context(|| format!("creating claim {ns}/{name}"));
                    }
                },
            }
        }
        Ok(())
    }

    async fn delete(&self, set: &StatefulSet, pod: &Pod) -> Result<()> {
        // The uid precondition keeps a lagging cache from deleting the
        // pod's successor of the same name.
        self.pod_control
            .delete_pod(set, pod, pod.metadata.uid.as_deref())
            .await
            .map(|_| ())
    }

    /// The current and update revisions (upstream
    /// `getStatefulSetRevisions`), creating or renumbering the update
    /// revision as needed, and the collision count used to name it.
    async fn revisions(
        &self,
        set: &StatefulSet,
        history: &[Arc<ControllerRevision>],
    ) -> Result<(Revisions, i32)> {
        let spec = set.spec.clone().unwrap_or_default();
        let status = set.status.clone().unwrap_or_default();
        let mut collision_count = status.collision_count.unwrap_or(0);
        let candidate = history::new_revision(set, &spec.template, history::next_revision(history));
        let equal = history
            .iter()
            .rev()
            .find(|r| history::equal_data(r, &candidate));
        let update = match equal {
            // The newest revision already holds this template.
            Some(e) if history.last().is_some_and(|l| Arc::ptr_eq(l, e)) => (**e).clone(),
            // An older one does (a rollback): it becomes the newest.
            Some(e) => self.history.renumber(e, candidate.revision).await?,
            None => {
                let name = set.metadata.name.as_deref().unwrap_or_default();
                self.history
                    .create(name, &candidate, &mut collision_count)
                    .await?
            }
        };
        let current = history
            .iter()
            .find(|r| r.metadata.name.is_some() && r.metadata.name == status.current_revision)
            .map(|r| (**r).clone())
            .unwrap_or_else(|| update.clone());
        let revs = Revisions {
            current: current.metadata.name.clone().unwrap_or_default(),
            current_template: history::template_of(&current)
                .unwrap_or_else(|| spec.template.clone()),
            update: update.metadata.name.clone().unwrap_or_default(),
            update_template: spec.template.clone(),
        };
        Ok((revs, collision_count))
    }

    /// Deletes the revisions no pod runs, oldest first, beyond
    /// `revisionHistoryLimit` (upstream `truncateHistory`).
    async fn truncate_history(
        &self,
        set: &StatefulSet,
        pods: &[Arc<Pod>],
        history: &[Arc<ControllerRevision>],
        current: &str,
        update: &str,
    ) -> Result<()> {
        let mut live: std::collections::HashSet<String> =
            pods.iter().map(|p| revision(p).to_string()).collect();
        live.insert(current.to_string());
        live.insert(update.to_string());
        let limit = set
            .spec
            .as_ref()
            .and_then(|s| s.revision_history_limit)
            .unwrap_or(history::DEFAULT_HISTORY_LIMIT);
        let name = |r: &ControllerRevision| r.metadata.name.clone().unwrap_or_default();
        for r in history::surplus(history, &live, name, limit) {
            self.history.delete(r).await?;
        }
        Ok(())
    }

    async fn write_status(&self, set: &StatefulSet, st: StatefulSetStatus) -> Result<()> {
        let old = set.status.clone().unwrap_or_default();
        update_status(&*self.owners, set, &old, &st).await?;
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

    fn web() -> StatefulSet {
        serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "ns", "uid": "sts-uid"},
            "spec": {"replicas": 3, "serviceName": "web",
                "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "c", "image": "i"}]}}}
        }))
        .expect("set")
    }

    fn fixture(pods: Vec<Pod>) -> (StatefulSetController, Arc<FakePodClient>) {
        fixture_with(web(), pods)
    }

    fn fixture_with(
        set: StatefulSet,
        pods: Vec<Pod>,
    ) -> (StatefulSetController, Arc<FakePodClient>) {
        fixture_with_history(set, pods, Vec::new())
    }

    fn fixture_with_history(
        set: StatefulSet,
        pods: Vec<Pod>,
        revisions: Vec<ControllerRevision>,
    ) -> (StatefulSetController, Arc<FakePodClient>) {
        let (pod_store, sets) = (Store::default(), Store::default());
        let revision_store = Store::default();
        for r in revisions {
            revision_store.insert(r);
        }
        for p in pods {
            pod_store.insert(p);
        }
        sets.insert(set.clone());
        let fake = FakePodClient::new();
        let owners = Arc::new(FakeOwnerClient::default());
        owners.set(set);
        let sc = StatefulSetController {
            pods: pod_store,
            sets,
            pod_control: PodControl::new(fake.clone(), Recorder::disabled()),
            claims: Arc::new(claims::FakeClaimClient::default()),
            recorder: Recorder::disabled(),
            owners,
            history: History::new(revision_store, FakeRevisionClient::new()),
        };
        (sc, fake)
    }

    /// A Running pod of `web`, Ready or not.
    fn member(i: i32, ready: bool) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": format!("web-{i}"), "namespace": "ns", "uid": format!("p{i}"),
                "resourceVersion": "1", "labels": {"app": "web"},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "StatefulSet",
                    "name": "web", "uid": "sts-uid", "controller": true}]},
            "spec": {"containers": [{"name": "c", "image": "i"}]},
            "status": {"phase": "Running", "conditions": [
                {"type": "Ready", "status": if ready { "True" } else { "False" }}]}
        }))
        .expect("pod")
    }

    fn scaled_to_zero() -> StatefulSet {
        let mut set = web();
        if let Some(spec) = set.spec.as_mut() {
            spec.replicas = Some(0);
        }
        set
    }

    #[tokio::test]
    async fn ordered_ready_scale_down_halts_while_a_lower_pod_is_unhealthy() {
        let pods = vec![member(0, false), member(1, false), member(2, false)];
        let (sc, fake) = fixture_with(scaled_to_zero(), pods);
        sc.reconcile("ns/web").await.expect("reconcile");
        assert!(fake.deletes().is_empty(), "deleted {:?}", fake.deletes());
    }

    #[tokio::test]
    async fn ordered_ready_scale_down_removes_the_highest_pod_first() {
        // web-2 is the only unhealthy pod, so it is also the first one.
        let pods = vec![member(0, true), member(1, true), member(2, false)];
        let (sc, fake) = fixture_with(scaled_to_zero(), pods);
        sc.reconcile("ns/web").await.expect("reconcile");
        assert_eq!(fake.deletes(), ["ns/web-2"]);
    }

    #[tokio::test]
    async fn ordered_ready_starts_with_ordinal_zero_only() {
        let (sc, fake) = fixture(vec![]);
        sc.reconcile("ns/web").await.expect("reconcile");
        let names: Vec<_> = fake
            .creates()
            .iter()
            .filter_map(|p| p.metadata.name.clone())
            .collect();
        assert_eq!(names, ["web-0"]);
    }

    #[tokio::test]
    async fn an_orphan_with_an_ordinal_name_is_adopted_not_recreated() {
        let orphan: Pod = serde_json::from_value(json!({
            "metadata": {"name": "web-0", "namespace": "ns", "uid": "p0",
                         "resourceVersion": "1", "labels": {"app": "web"}},
            "spec": {"containers": [{"name": "c", "image": "i"}]},
            "status": {"phase": "Pending"}
        }))
        .expect("pod");
        let (sc, fake) = fixture(vec![orphan]);
        sc.reconcile("ns/web").await.expect("reconcile");
        assert_eq!(fake.patches().len(), 1);
        assert_eq!(fake.patches()[0].0, "ns/web-0");
        // web-0 is not Ready yet: OrderedReady waits before web-1.
        assert!(fake.creates().is_empty());
    }

    /// `web` with image `image`, a rolling update partitioned at
    /// `partition`, and `current` as its current revision.
    fn web_at(image: &str, partition: i32, current: &str) -> StatefulSet {
        let mut set = web();
        if let Some(spec) = set.spec.as_mut() {
            if let Some(c) = spec
                .template
                .spec
                .as_mut()
                .and_then(|s| s.containers.first_mut())
            {
                c.image = Some(image.into());
            }
            spec.update_strategy = serde_json::from_value(json!(
                {"type": "RollingUpdate", "rollingUpdate": {"partition": partition}}))
            .ok();
        }
        set.status = Some(StatefulSetStatus {
            current_revision: Some(current.into()),
            current_replicas: Some(3),
            ..Default::default()
        });
        set
    }

    #[tokio::test]
    async fn below_the_partition_a_deleted_pod_comes_back_at_the_current_revision() {
        // Revision 1 holds image "old"; the template now says "new".
        let old_set = web_at("old", 2, "");
        let mut old_rev =
            history::new_revision(&old_set, &old_set.spec.clone().expect("spec").template, 1);
        old_rev.metadata.name = Some("web-old".into());
        old_rev.metadata.uid = Some("rev-uid".into());
        let set = web_at("new", 2, "web-old");
        // web-0 is gone; web-1 runs the old revision, web-2 the new one.
        let mut p1 = member(1, true);
        let mut p2 = member(2, true);
        let label = |p: &mut Pod, r: &str| {
            p.metadata
                .labels
                .get_or_insert_with(Default::default)
                .insert(REVISION_LABEL.into(), r.into());
        };
        label(&mut p1, "web-old");
        let (sc, fake) =
            fixture_with_history(set.clone(), vec![p1.clone(), p2.clone()], vec![old_rev]);
        // The update revision is created first; label web-2 with its name.
        let update_name = {
            let h = history::hash(
                &history::template_patch(&set.spec.clone().expect("spec").template),
                Some(0),
            );
            history::revision_name("web", &h)
        };
        label(&mut p2, &update_name);
        sc.pods.insert(p2);
        sc.reconcile("ns/web").await.expect("reconcile");
        let created = fake.creates();
        assert_eq!(created.len(), 1, "{created:?}");
        let p0 = &created[0];
        assert_eq!(p0.metadata.name.as_deref(), Some("web-0"));
        assert_eq!(revision(p0), "web-old");
        let image = p0.spec.as_ref().and_then(|s| s.containers[0].image.clone());
        assert_eq!(image.as_deref(), Some("old"));
        // web-1 is below the partition: not replaced.
        assert!(fake.deletes().is_empty(), "{:?}", fake.deletes());
    }

    #[test]
    fn ordinals_parse_only_our_names() {
        assert_eq!(ordinal("web", "web-0"), Some(0));
        assert_eq!(ordinal("web", "web-12"), Some(12));
        assert_eq!(ordinal("web", "web-01"), None);
        assert_eq!(ordinal("web", "web-x"), None);
        assert_eq!(ordinal("web", "webby-1"), None);
        assert_eq!(ordinal("web", "web-"), None);
    }

    #[test]
    fn pods_get_their_identity() {
        let set: StatefulSet = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web", "namespace": "ns", "uid": "u"},
            "spec": {"serviceName": "nginx", "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "c", "image": "i"}]}}}
        }))
        .expect("set");
        let p = new_pod(&set, 2, "web-abc");
        assert_eq!(p.metadata.name.as_deref(), Some("web-2"));
        let l = p.metadata.labels.clone().unwrap_or_default();
        assert_eq!(l.get(POD_NAME_LABEL).map(String::as_str), Some("web-2"));
        assert_eq!(l.get(POD_INDEX_LABEL).map(String::as_str), Some("2"));
        assert_eq!(l.get(REVISION_LABEL).map(String::as_str), Some("web-abc"));
        let s = p.spec.expect("spec");
        assert_eq!(
            (s.hostname.as_deref(), s.subdomain.as_deref()),
            (Some("web-2"), Some("nginx"))
        );
    }
}
