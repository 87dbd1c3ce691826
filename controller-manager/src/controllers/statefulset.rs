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

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{StatefulSet, StatefulSetStatus};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::{Context, Started};
use crate::machinery::controller::{Action, Reconciler, Result};
use crate::machinery::controller_ref::{ControllerRefManager, PodEvents};
use crate::machinery::informer::{key_of, split_key, Store};
use crate::machinery::owner_client::{update_status, ApiOwnerClient, OwnerClient};
use crate::machinery::pod_control::PodControl;
use crate::machinery::queue::Queue;
use crate::machinery::template_hash as hash;
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
    let queue = Queue::new("statefulset");
    let sc = Arc::new(StatefulSetController {
        pods: pods.store(),
        sets: sets.store(),
        pod_control: ctx.pod_control("statefulset-controller"),
        owners: Arc::new(ApiOwnerClient::new(ctx.client.clone())),
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
    owners: Arc<dyn OwnerClient<StatefulSet>>,
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
        let now = meta::now_millis();
        let healthy = |p: &Pod| {
            running_and_ready(p) && !terminating(p) && pods::pod_available(p, min_ready, now)
        };
        let monotonic = spec.pod_management_policy.as_deref() != Some("Parallel");

        // 1. Ordinals.
        let mut slots: BTreeMap<i32, Arc<Pod>> = BTreeMap::new();
        let mut all: Vec<Arc<Pod>> = Vec::new();
        let selector = meta::selector(Some(&spec.selector))?;
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
            self.act(&set, &slots, replicas, &update_rev, monotonic, &healthy)
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
        // The rollout is complete once every pod runs the update revision.
        if updated == st.replicas && ready == st.replicas && st.replicas == replicas {
            st.current_revision = Some(update_rev.clone());
            st.current_replicas = Some(updated);
        }
        self.write_status(&set, st).await?;
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
        update_rev: &str,
        monotonic: bool,
        healthy: &(dyn Fn(&Pod) -> bool + Sync),
    ) -> Result<()> {
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
                    self.create(set, i, update_rev).await?;
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

    async fn create(&self, set: &StatefulSet, i: i32, rev: &str) -> Result<()> {
        // Already there (a lagging cache) is fine: the name is the identity.
        self.pod_control
            .create_pod(set, &new_pod(set, i, rev))
            .await
            .map(|_| ())
    }

    async fn delete(&self, set: &StatefulSet, pod: &Pod) -> Result<()> {
        // The uid precondition keeps a lagging cache from deleting the
        // pod's successor of the same name.
        self.pod_control
            .delete_pod(set, pod, pod.metadata.uid.as_deref())
            .await
            .map(|_| ())
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
    use crate::events::Recorder;
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
        let (pod_store, sets) = (Store::default(), Store::default());
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
            owners,
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
