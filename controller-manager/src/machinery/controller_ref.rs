//! Controller references and the claim on objects (upstream
//! `controller_ref_manager.go` and the owner lookups of
//! `controller_utils.go`).
//!
//! An object has at most one *controller*: the owner reference with
//! `controller: true`. A workload controller acts only on the objects it
//! controls, and before each reconcile it **claims** them with a
//! [`ControllerRefManager`]:
//!
//! - an orphan (no controller) that matches the owner's selector is
//!   **adopted** (our reference added), but only while the owner is not
//!   being deleted, checked once per reconcile with a fresh read of the
//!   owner (upstream `RecheckDeletionTimestamp`): a cache that has not seen
//!   the deletion must not adopt pods the garbage collector then misses;
//! - an object we control that stopped matching is **released** (our
//!   reference removed), with the object's uid as a precondition;
//! - objects controlled by someone else, and orphans being deleted, are
//!   left alone.
//!
//! [`PodEvents`] is the other half: the pod event handler every workload
//! controller registers, which maps a pod to the key of its controller (or,
//! for an orphan, of every owner whose selector matches it, any of which may
//! adopt it) and tells the expectations what the informer saw.

use std::borrow::Cow;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use apimachinery::labels::Selector;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};
use kube::Resource;

use super::controller::{is_conflict, is_not_found, Context as _, Error, Result};
use super::expectations::Expectations;
use super::informer::{key_of, Store};
use super::meta::{labels, selector};
use super::owner_client::OwnerClient;
use super::pod_control::PodControl;
use super::pods::pod_ready;
use super::queue::Queue;

/// The owner reference with `controller: true`, if any.
pub fn controller_of(meta: &ObjectMeta) -> Option<&OwnerReference> {
    meta.owner_references
        .as_ref()?
        .iter()
        .find(|o| o.controller == Some(true))
}

/// A controller reference to `owner` (controller and blockOwnerDeletion set).
pub fn controller_ref<K: Resource<DynamicType = ()>>(owner: &K) -> OwnerReference {
    OwnerReference {
        api_version: K::api_version(&()).into_owned(),
        kind: K::kind(&()).into_owned(),
        name: owner.meta().name.clone().unwrap_or_default(),
        uid: owner.meta().uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// Fails unless `fresh` (the owner as the apiserver has it now) is the
/// same object as `owner` and not being deleted (upstream
/// `RecheckDeletionTimestamp`).
pub fn recheck_owner<K: Resource>(owner: &K, fresh: Option<&K>) -> Result<()> {
    let kind_name = key_of(owner);
    let Some(fresh) = fresh else {
        return Err(Error::Invalid(format!(
            "original {kind_name} is gone: cannot adopt"
        )));
    };
    if fresh.meta().uid != owner.meta().uid {
        return Err(Error::Invalid(format!(
            "original {kind_name} is gone: got uid {:?}, wanted {:?}",
            fresh.meta().uid,
            owner.meta().uid
        )));
    }
    if fresh.meta().deletion_timestamp.is_some() {
        return Err(Error::Invalid(format!(
            "{kind_name} has just been deleted: cannot adopt"
        )));
    }
    Ok(())
}

/// Claims the objects an owner controls (see the module doc).
pub struct ControllerRefManager<'a, O> {
    owner: &'a O,
    selector: &'a Selector,
    finalizers: &'a [&'a str],
}

impl<'a, O: Resource<DynamicType = ()>> ControllerRefManager<'a, O> {
    /// A manager for `owner`, whose `spec.selector` is `selector`.
    pub fn new(owner: &'a O, selector: &'a Selector) -> Self {
        ControllerRefManager {
            owner,
            selector,
            finalizers: &[],
        }
    }

    /// Also adds these finalizers on adoption and removes them on release
    /// (the Job's tracking finalizer: a pod it adopts must not vanish
    /// before it is counted either).
    pub fn with_finalizers(mut self, finalizers: &'a [&'a str]) -> Self {
        self.finalizers = finalizers;
        self
    }

    fn owner_uid(&self) -> &str {
        self.owner.meta().uid.as_deref().unwrap_or("")
    }

    fn owner_deleting(&self) -> bool {
        self.owner.meta().deletion_timestamp.is_some()
    }

    /// The objects among `children` that the owner controls after
    /// adopting and releasing. `recheck` reads the owner afresh (see
    /// [`recheck_owner`]) and is awaited at most once, before the first
    /// adoption; its error fails the claim. `patch(child, merge patch)`
    /// writes one child and returns the stored child when it has it,
    /// `None` to keep the cached one.
    pub async fn claim<C, R, RFut, P, PFut>(
        &self,
        children: Vec<Arc<C>>,
        recheck: R,
        patch: P,
    ) -> Result<Vec<Arc<C>>>
    where
        C: Resource,
        R: FnOnce() -> RFut,
        RFut: Future<Output = Result<()>>,
        P: Fn(Arc<C>, serde_json::Value) -> PFut,
        PFut: Future<Output = kube::Result<Option<Arc<C>>>>,
    {
        let mut recheck = Some(recheck);
        let mut claimed = Vec::new();
        for child in children {
            let matches = self.selector.matches(&labels(child.meta()));
            match controller_of(child.meta()) {
                Some(r) if r.uid == self.owner_uid() => {
                    if matches {
                        claimed.push(child);
                    } else if !self.owner_deleting() {
                        let p = self.release_patch(child.meta());
                        self.write(&*child, "releasing", patch(Arc::clone(&child), p).await)?;
                    }
                }
                Some(_) => {}
                None => {
                    if !matches
                        || self.selector.is_empty()
                        || self.owner_deleting()
                        || child.meta().deletion_timestamp.is_some()
                    {
                        continue;
                    }
                    if let Some(recheck) = recheck.take() {
                        recheck().await?;
                    }
                    let p = self.adopt_patch(child.meta());
                    let result = patch(Arc::clone(&child), p).await;
                    if let Some(stored) = self.write(&*child, "adopting", result)? {
                        claimed.push(stored.unwrap_or(child));
                    }
                }
            }
        }
        Ok(claimed)
    }

    /// [`ControllerRefManager::claim`] for pods: the fresh read through
    /// `owners`, the patches through `pod_control`.
    pub async fn claim_pods(
        &self,
        pods: Vec<Arc<Pod>>,
        owners: &dyn OwnerClient<O>,
        pod_control: &PodControl,
    ) -> Result<Vec<Arc<Pod>>> {
        let m = self.owner.meta();
        let (ns, name) = (
            m.namespace.as_deref().unwrap_or_default(),
            m.name.as_deref().unwrap_or_default(),
        );
        let recheck = || async move {
            let fresh = owners
                .get(ns, name)
                .await
                .context(|| format!("reading {ns}/{name} before adopting"))?;
            recheck_owner(self.owner, fresh.as_ref())
        };
        let patch = |pod: Arc<Pod>, p: serde_json::Value| async move {
            let pm = &pod.metadata;
            pod_control
                .client()
                .patch(
                    pm.namespace.as_deref().unwrap_or_default(),
                    pm.name.as_deref().unwrap_or_default(),
                    &p,
                )
                .await
                .map(|()| None)
        };
        self.claim(pods, recheck, patch).await
    }

    /// A patch's outcome: `Some` when it applied, `None` when the child
    /// is gone or changed under us (it is looked at again on its event).
    fn write<C: Resource>(
        &self,
        child: &C,
        doing: &str,
        result: kube::Result<Option<Arc<C>>>,
    ) -> Result<Option<Option<Arc<C>>>> {
        match result {
            Ok(stored) => Ok(Some(stored)),
            Err(e) if is_not_found(&e) || is_conflict(&e) => Ok(None),
            Err(e) => Err(e).context(|| format!("{doing} {}", key_of(child))),
        }
    }

    /// Adds our controller reference. The uid and resourceVersion guard
    /// against adopting an object replaced or changed since the cache saw it.
    fn adopt_patch(&self, child: &ObjectMeta) -> serde_json::Value {
        let mut refs = child.owner_references.clone().unwrap_or_default();
        refs.push(controller_ref(self.owner));
        let mut patch = serde_json::json!({"metadata": {
            "ownerReferences": refs,
            "uid": child.uid,
            "resourceVersion": child.resource_version,
        }});
        let mut finalizers = child.finalizers.clone().unwrap_or_default();
        let before = finalizers.len();
        for f in self.finalizers {
            if !finalizers.iter().any(|x| x == f) {
                finalizers.push(f.to_string());
            }
        }
        if finalizers.len() != before {
            patch["metadata"]["finalizers"] = serde_json::json!(finalizers);
        }
        patch
    }

    /// Removes our reference, with the child's uid (and resourceVersion,
    /// since a merge patch replaces the whole list) as preconditions.
    fn release_patch(&self, child: &ObjectMeta) -> serde_json::Value {
        let uid = self.owner_uid();
        let refs: Vec<OwnerReference> = child
            .owner_references
            .clone()
            .unwrap_or_default()
            .into_iter()
            .filter(|r| r.uid != uid)
            .collect();
        let mut patch = serde_json::json!({"metadata": {
            "ownerReferences": refs,
            "uid": child.uid,
            "resourceVersion": child.resource_version,
        }});
        let finalizers = child.finalizers.clone().unwrap_or_default();
        let kept: Vec<&String> = finalizers
            .iter()
            .filter(|f| !self.finalizers.contains(&f.as_str()))
            .collect();
        if kept.len() != finalizers.len() {
            patch["metadata"]["finalizers"] = serde_json::json!(kept);
        }
        patch
    }
}

/// The keys of the owners in `namespace` whose (non-empty) selector matches
/// `object_labels`: the candidates to adopt an orphan.
pub fn owners_selecting<O: Resource>(
    owners: &Store<O>,
    namespace: &str,
    object_labels: &std::collections::BTreeMap<String, String>,
    selector_of: SelectorOf<O>,
) -> Vec<String> {
    owners
        .list_namespace(namespace)
        .into_iter()
        .filter(|o| {
            selector(selector_of(o).as_deref())
                .is_ok_and(|s| !s.is_empty() && s.matches(object_labels))
        })
        .map(|o| key_of(&*o))
        .collect()
}

/// How to read an owner's `spec.selector`: borrowed from the owner, or
/// built from it (a ReplicationController's plain label map).
pub type SelectorOf<O> = for<'o> fn(&'o O) -> Option<Cow<'o, LabelSelector>>;

/// The pod event handler of a workload controller whose owners are `O`
/// (upstream's `addPod`/`updatePod`/`deletePod`, once for all of them).
pub struct PodEvents<O> {
    /// The owner kind (`ReplicaSet`, `Job`, ...).
    pub kind: &'static str,
    /// Where owner keys go.
    pub queue: Arc<Queue>,
    /// What the owner waits to see, if it counts creations and deletions.
    pub expectations: Option<Arc<Expectations>>,
    /// The owners, for orphans and minReadySeconds.
    pub owners: Store<O>,
    /// The owner's `spec.selector`.
    pub selector_of: SelectorOf<O>,
    /// The owner's `spec.minReadySeconds`.
    pub min_ready_seconds_of: fn(&O) -> Option<i32>,
}

impl<O: Resource + Send + Sync + 'static> PodEvents<O> {
    /// The key of the pod's controller when it is an `O`.
    fn owner_key(&self, pod: &Pod) -> Option<String> {
        let r = controller_of(&pod.metadata).filter(|r| r.kind == self.kind)?;
        Some(format!(
            "{}/{}",
            pod.metadata.namespace.as_deref().unwrap_or(""),
            r.name
        ))
    }

    fn enqueue_selecting(&self, pod: &Pod) {
        let ns = pod.metadata.namespace.as_deref().unwrap_or("");
        for k in owners_selecting(&self.owners, ns, &labels(&pod.metadata), self.selector_of) {
            self.queue.add(k);
        }
    }

    fn creation_observed(&self, key: &str) {
        if let Some(e) = &self.expectations {
            e.creation_observed(key);
        }
    }

    fn deletion_observed(&self, key: &str, pod: &Pod) {
        if let Some(e) = &self.expectations {
            e.deletion_observed(key, &key_of(pod));
        }
    }

    /// Handles one pod event (old, new).
    pub fn handle(&self, old: Option<&Pod>, new: Option<&Pod>) {
        match (old, new) {
            (None, Some(pod)) => match self.owner_key(pod) {
                Some(k) => {
                    // A pod that shows up already being deleted (after a
                    // relist) is a deletion to the expectations.
                    if pod.metadata.deletion_timestamp.is_some() {
                        self.deletion_observed(&k, pod);
                    } else {
                        self.creation_observed(&k);
                    }
                    self.queue.add(k);
                }
                None => self.enqueue_selecting(pod),
            },
            (Some(old), Some(pod)) => {
                let (ok, nk) = (self.owner_key(old), self.owner_key(pod));
                if pod.metadata.deletion_timestamp.is_some()
                    && old.metadata.deletion_timestamp.is_none()
                {
                    if let Some(k) = &nk {
                        self.deletion_observed(k, pod);
                    }
                }
                let owner_changed = ok != nk;
                if owner_changed {
                    if let Some(k) = ok {
                        self.queue.add(k);
                    }
                }
                match nk {
                    Some(k) => {
                        // A pod turning ready counts as available only after
                        // minReadySeconds: look again then.
                        if !pod_ready(old) && pod_ready(pod) {
                            let min = self
                                .owners
                                .get(&k)
                                .and_then(|o| (self.min_ready_seconds_of)(&o))
                                .unwrap_or(0);
                            if min > 0 {
                                self.queue
                                    .add_after(k.clone(), Duration::from_secs(min as u64 + 1));
                            }
                        }
                        self.queue.add(k);
                    }
                    None if owner_changed || old.metadata.labels != pod.metadata.labels => {
                        self.enqueue_selecting(pod)
                    }
                    None => {}
                }
            }
            (Some(pod), None) => {
                if let Some(k) = self.owner_key(pod) {
                    self.deletion_observed(&k, pod);
                    self.queue.add(k);
                }
            }
            (None, None) => {}
        }
    }

    /// Registers this handler on the pod informer.
    pub fn register(self, pods: &super::informer::Informer<Pod>) {
        pods.add_handler(move |old, new| self.handle(old.map(|p| &**p), new.map(|p| &**p)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::ReplicaSet;
    use serde_json::json;

    fn pod(labels: serde_json::Value, owner: Option<&str>) -> Pod {
        let refs = owner.map(|name| {
            json!([{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": name,
                    "uid": "u", "controller": true}])
        });
        serde_json::from_value(json!({"metadata": {"name": "p", "namespace": "ns",
            "labels": labels, "ownerReferences": refs}}))
        .expect("pod")
    }

    fn events() -> PodEvents<ReplicaSet> {
        let owners = Store::default();
        for (name, app) in [("a", "x"), ("b", "y")] {
            owners.insert(
                serde_json::from_value(json!({
                    "metadata": {"name": name, "namespace": "ns"},
                    "spec": {"selector": {"matchLabels": {"app": app}},
                             "template": {}}
                }))
                .expect("rs"),
            );
        }
        PodEvents {
            kind: "ReplicaSet",
            queue: Queue::new("test"),
            expectations: Some(Arc::new(Expectations::new())),
            owners,
            selector_of: |rs: &ReplicaSet| rs.spec.as_ref().map(|s| Cow::Borrowed(&s.selector)),
            min_ready_seconds_of: |_: &ReplicaSet| None,
        }
    }

    #[tokio::test]
    async fn a_pod_event_goes_to_its_controller_or_to_the_owners_selecting_an_orphan() {
        let h = events();
        let exp = h.expectations.clone().expect("expectations");
        exp.expect_creations("ns/a", 1);
        h.handle(None, Some(&pod(json!({"app": "x"}), Some("a"))));
        assert!(exp.satisfied("ns/a"), "the creation was observed");
        assert_eq!(h.queue.get().await.as_deref(), Some("ns/a"));

        // An orphan relabelled to app=y: owner b may adopt it.
        h.handle(
            Some(&pod(json!({"app": "z"}), None)),
            Some(&pod(json!({"app": "y"}), None)),
        );
        assert_eq!(h.queue.get().await.as_deref(), Some("ns/b"));
        assert_eq!(h.queue.len(), 0);
    }
}
