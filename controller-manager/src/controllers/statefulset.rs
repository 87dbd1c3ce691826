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
//! Not here, because our apiserver does not serve the resources:
//! `controllerrevisions` (a revision is `<name>-<template hash>`, kept only
//! in the `controller-revision-hash` label and the status, so a pod below
//! the partition that is deleted comes back at the *update* revision, and
//! `kubectl rollout undo/history sts` do not work) and
//! `persistentvolumeclaims` (volumeClaimTemplates are ignored).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{StatefulSet, StatefulSetStatus};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};

use super::deployment::hash;
use super::replicaset::api_message;
use super::{Context, Started};
use crate::events::{Recorder, NORMAL, WARNING};
use crate::runtime::controller::{is_not_found, Action, Context as _, Reconciler, Result};
use crate::runtime::informer::{key_of, split_key, Store};
use crate::runtime::queue::Queue;
use crate::util;

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
    let queue = Queue::new("statefulset");
    let sc = Arc::new(StatefulSetController {
        client: ctx.client.clone(),
        pods: pods.store(),
        sets: sets.store(),
        recorder: ctx.recorder("statefulset-controller"),
    });
    let q = Arc::clone(&queue);
    sets.add_handler(move |old, new| {
        if let Some(s) = new.or(old) {
            q.add(key_of(&**s));
        }
    });
    let (q, set_store) = (Arc::clone(&queue), sets.store());
    pods.add_handler(move |old, new| {
        let Some(p) = new.or(old) else { return };
        let Some(r) = util::controller_of(&p.metadata).filter(|r| r.kind == "StatefulSet") else {
            return;
        };
        let k = format!(
            "{}/{}",
            p.metadata.namespace.as_deref().unwrap_or(""),
            r.name
        );
        if let (Some(o), Some(n)) = (old, new) {
            if !util::pod_ready(o) && util::pod_ready(n) {
                if let Some(min) = set_store
                    .get(&k)
                    .and_then(|s| s.spec.as_ref().and_then(|s| s.min_ready_seconds))
                    .filter(|m| *m > 0)
                {
                    q.add_after(k.clone(), Duration::from_secs(min as u64 + 1));
                }
            }
        }
        q.add(k);
    });
    ctx.workers(sc, queue)
}

/// The controller's state.
pub struct StatefulSetController {
    client: kube::Client,
    pods: Store<Pod>,
    sets: Store<StatefulSet>,
    recorder: Recorder,
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
    util::pod_phase(pod) == "Running" && util::pod_ready(pod)
}

/// The pod for ordinal `i` (upstream `newVersionedStatefulSetPod`).
pub fn new_pod(set: &StatefulSet, i: i32, revision: &str) -> Pod {
    let spec = set.spec.clone().unwrap_or_default();
    let name = set.metadata.name.clone().unwrap_or_default();
    let pod_name = format!("{name}-{i}");
    let tm = spec.template.metadata.clone().unwrap_or_default();
    let mut labels = tm.labels.unwrap_or_default();
    labels.insert(POD_NAME_LABEL.into(), pod_name.clone());
    labels.insert(POD_INDEX_LABEL.into(), i.to_string());
    labels.insert(REVISION_LABEL.into(), revision.to_string());
    let mut pod_spec = spec.template.spec.clone().unwrap_or_default();
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
            owner_references: Some(vec![util::controller_ref(set)]),
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
        let uid = set.metadata.uid.clone().unwrap_or_default();
        let status = set.status.clone().unwrap_or_default();
        let update_rev = format!(
            "{name}-{}",
            hash::compute(&spec.template, status.collision_count)
        );
        let current_rev = status
            .current_revision
            .clone()
            .filter(|r| !r.is_empty())
            .unwrap_or_else(|| update_rev.clone());
        let replicas = spec.replicas.unwrap_or(1).max(0);
        let min_ready = spec.min_ready_seconds.unwrap_or(0);
        let now = util::now_millis();
        let healthy = |p: &Pod| {
            running_and_ready(p) && !terminating(p) && util::pod_available(p, min_ready, now)
        };
        let monotonic = spec.pod_management_policy.as_deref() != Some("Parallel");

        // 1. Ordinals.
        let mut slots: BTreeMap<i32, Arc<Pod>> = BTreeMap::new();
        let mut all: Vec<Arc<Pod>> = Vec::new();
        for pod in self.pods.list_namespace(ns) {
            if util::controller_of(&pod.metadata).is_none_or(|r| r.uid != uid) {
                continue;
            }
            if let Some(i) = pod.metadata.name.as_deref().and_then(|n| ordinal(name, n)) {
                slots.insert(i, Arc::clone(&pod));
            }
            all.push(pod);
        }
        let api: Api<Pod> = Api::namespaced(self.client.clone(), ns);
        if set.metadata.deletion_timestamp.is_none() {
            self.act(
                &set,
                &api,
                &slots,
                replicas,
                &update_rev,
                monotonic,
                &healthy,
            )
            .await?;
        }

        // 5. Status.
        let mut st = StatefulSetStatus {
            observed_generation: set.metadata.generation,
            collision_count: status.collision_count,
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
                if util::pod_available(p, min_ready, now) {
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
        // The rollout is complete once every pod runs the update revision.
        if updated == st.replicas && ready == st.replicas && st.replicas == replicas {
            st.current_revision = Some(update_rev.clone());
            st.current_replicas = Some(updated);
        }
        self.write_status(&set, st).await?;
        if min_ready > 0
            && all
                .iter()
                .any(|p| running_and_ready(p) && !util::pod_available(p, min_ready, now))
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
        api: &Api<Pod>,
        slots: &BTreeMap<i32, Arc<Pod>>,
        replicas: i32,
        update_rev: &str,
        monotonic: bool,
        healthy: &(dyn Fn(&Pod) -> bool + Sync),
    ) -> Result<()> {
        let spec = set.spec.clone().unwrap_or_default();
        // 2. Replicas, upwards.
        let mut first_unhealthy: Option<i32> = None;
        for i in 0..replicas {
            match slots.get(&i) {
                None => {
                    self.create(set, api, i, update_rev).await?;
                    if monotonic {
                        return Ok(());
                    }
                    first_unhealthy.get_or_insert(i);
                }
                Some(p)
                    if matches!(util::pod_phase(p), "Failed" | "Succeeded") && !terminating(p) =>
                {
                    // A finished pod is deleted and recreated under its name.
                    self.delete(set, api, p).await?;
                    if monotonic {
                        return Ok(());
                    }
                    first_unhealthy.get_or_insert(i);
                }
                Some(p) if !healthy(p) => {
                    if monotonic {
                        return Ok(());
                    }
                    first_unhealthy.get_or_insert(i);
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
            // Only the first unhealthy pod may go while others are unhealthy.
            if monotonic && first_unhealthy.is_some_and(|u| u != i) {
                return Ok(());
            }
            self.delete(set, api, p).await?;
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
                self.delete(set, api, p).await?;
                return Ok(());
            }
            if !healthy(p) {
                return Ok(());
            }
        }
        Ok(())
    }

    async fn create(&self, set: &StatefulSet, api: &Api<Pod>, i: i32, rev: &str) -> Result<()> {
        let pod = new_pod(set, i, rev);
        let pname = pod.metadata.name.clone().unwrap_or_default();
        let sname = set.metadata.name.as_deref().unwrap_or_default();
        match api.create(&PostParams::default(), &pod).await {
            Ok(_) => {
                self.recorder.event(
                    set,
                    NORMAL,
                    "SuccessfulCreate",
                    format!("create Pod {pname} in StatefulSet {sname} successful"),
                );
                Ok(())
            }
            // Our cache is behind: it exists.
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
            Err(e) => {
                self.recorder.event(
                    set,
                    WARNING,
                    "FailedCreate",
                    format!(
                        "create Pod {pname} in StatefulSet {sname} failed error: {}",
                        api_message(&e)
                    ),
                );
                Err(e).context(|| format!("creating pod {pname}"))
            }
        }
    }

    async fn delete(&self, set: &StatefulSet, api: &Api<Pod>, pod: &Pod) -> Result<()> {
        let pname = pod.metadata.name.clone().unwrap_or_default();
        let sname = set.metadata.name.as_deref().unwrap_or_default();
        // The uid precondition keeps a lagging cache from deleting the
        // pod's successor of the same name.
        let dp = DeleteParams {
            preconditions: Some(kube::api::Preconditions {
                uid: pod.metadata.uid.clone(),
                resource_version: None,
            }),
            ..Default::default()
        };
        match api.delete(&pname, &dp).await {
            Ok(_) => {
                self.recorder.event(
                    set,
                    NORMAL,
                    "SuccessfulDelete",
                    format!("delete Pod {pname} in StatefulSet {sname} successful"),
                );
                Ok(())
            }
            Err(e) if is_not_found(&e) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
            Err(e) => {
                self.recorder.event(
                    set,
                    WARNING,
                    "FailedDelete",
                    format!(
                        "delete Pod {pname} in StatefulSet {sname} failed error: {}",
                        api_message(&e)
                    ),
                );
                Err(e).context(|| format!("deleting pod {pname}"))
            }
        }
    }

    async fn write_status(&self, set: &StatefulSet, st: StatefulSetStatus) -> Result<()> {
        let old = set.status.clone().unwrap_or_default();
        if normalized(&st) == normalized(&old) {
            return Ok(());
        }
        let ns = set.metadata.namespace.as_deref().unwrap_or_default();
        let name = set.metadata.name.clone().unwrap_or_default();
        let api: Api<StatefulSet> = Api::namespaced(self.client.clone(), ns);
        let patch = serde_json::json!({ "status": st });
        match api
            .patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(e).context(|| format!("updating status of statefulset {ns}/{name}")),
        }
    }
}

fn normalized(s: &StatefulSetStatus) -> serde_json::Value {
    let mut v = serde_json::to_value(s).unwrap_or_default();
    if let Some(m) = v.as_object_mut() {
        m.retain(|_, v| !(v.is_null() || v == &serde_json::json!(0)));
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

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
