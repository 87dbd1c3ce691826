//! A workload controller's reads and writes of its own objects (the
//! owners: ReplicaSets, Jobs, DaemonSets, StatefulSets): a fresh read of
//! the owner before adopting (see [`super::controller_ref`]) and the
//! status write at the end of every reconcile.
//!
//! Like pods (see [`super::pod_control`]), the apiserver sits behind a
//! small trait, [`OwnerClient`], with [`ApiOwnerClient`] for the real
//! thing and [`FakeOwnerClient`] recording status writes for unit tests.
//! [`update_status`] is the one status write the controllers share: a
//! merge patch of `status`, skipped when nothing changed.

use std::marker::PhantomData;
use std::sync::Mutex;

use futures::future::BoxFuture;
use futures::FutureExt;
use kube::api::{
    Api, DeleteParams, Patch, PatchParams, PostParams, Preconditions, PropagationPolicy,
};
use kube::Resource;
use serde::Serialize;

use super::controller::{is_not_found, Context as _, Result};
use super::informer::key_of;
use super::meta::NamespacedKind;

/// Reads and status writes of one owner kind `K`.
pub trait OwnerClient<K>: Send + Sync {
    /// The owner as the apiserver has it now (`None` when gone).
    fn get<'a>(
        &'a self,
        namespace: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, kube::Result<Option<K>>>;
    /// Merge-patches the status subresource.
    fn patch_status<'a>(
        &'a self,
        namespace: &'a str,
        name: &'a str,
        patch: &'a serde_json::Value,
    ) -> BoxFuture<'a, kube::Result<()>>;
    /// Replaces the status subresource with `owner`'s, guarded by its
    /// resourceVersion; the stored object comes back.
    fn replace_status<'a>(&'a self, owner: &'a K) -> BoxFuture<'a, kube::Result<K>>;
    /// Deletes the owner in the foreground (dependents first), only if it
    /// still has `owner`'s uid.
    fn delete<'a>(&'a self, owner: &'a K) -> BoxFuture<'a, kube::Result<()>>;
}

/// [`OwnerClient`] over the apiserver.
pub struct ApiOwnerClient<K> {
    client: kube::Client,
    kind: PhantomData<fn() -> K>,
}

impl<K> ApiOwnerClient<K> {
    /// Reads and writes through `client`.
    pub fn new(client: kube::Client) -> ApiOwnerClient<K> {
        ApiOwnerClient {
            client,
            kind: PhantomData,
        }
    }

    /// The client it goes through.
    pub fn client(&self) -> &kube::Client {
        &self.client
    }
}

impl<K: NamespacedKind> OwnerClient<K> for ApiOwnerClient<K> {
    fn get<'a>(
        &'a self,
        namespace: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, kube::Result<Option<K>>> {
        async move {
            Api::<K>::namespaced(self.client.clone(), namespace)
                .get_opt(name)
                .await
        }
        .boxed()
    }

    fn patch_status<'a>(
        &'a self,
        namespace: &'a str,
        name: &'a str,
        patch: &'a serde_json::Value,
    ) -> BoxFuture<'a, kube::Result<()>> {
        async move {
            Api::<K>::namespaced(self.client.clone(), namespace)
                .patch_status(name, &PatchParams::default(), &Patch::Merge(patch))
                .await
                .map(|_| ())
        }
        .boxed()
    }

    fn replace_status<'a>(&'a self, owner: &'a K) -> BoxFuture<'a, kube::Result<K>> {
        async move {
            let m = owner.meta();
            let api = Api::<K>::namespaced(
                self.client.clone(),
                m.namespace.as_deref().unwrap_or_default(),
            );
            api.replace_status(
                m.name.as_deref().unwrap_or_default(),
                &PostParams::default(),
                owner,
            )
            .await
        }
        .boxed()
    }

    fn delete<'a>(&'a self, owner: &'a K) -> BoxFuture<'a, kube::Result<()>> {
        async move {
            let m = owner.meta();
            let api = Api::<K>::namespaced(
                self.client.clone(),
                m.namespace.as_deref().unwrap_or_default(),
            );
            let dp = DeleteParams {
                propagation_policy: Some(PropagationPolicy::Foreground),
                preconditions: Some(Preconditions {
                    uid: m.uid.clone(),
                    resource_version: None,
                }),
                ..Default::default()
            };
            api.delete(m.name.as_deref().unwrap_or_default(), &dp)
                .await
                .map(|_| ())
        }
        .boxed()
    }
}

/// An [`OwnerClient`] for unit tests: `get` answers from the objects
/// given to [`FakeOwnerClient::set`], status writes and deletes are
/// recorded (and `replace_status` returns the owner as sent).
pub struct FakeOwnerClient<K> {
    objects: Mutex<Vec<K>>,
    statuses: Mutex<Vec<serde_json::Value>>,
    deleted: Mutex<Vec<String>>,
}

impl<K> Default for FakeOwnerClient<K> {
    fn default() -> Self {
        FakeOwnerClient {
            objects: Mutex::new(Vec::new()),
            statuses: Mutex::new(Vec::new()),
            deleted: Mutex::new(Vec::new()),
        }
    }
}

impl<K: Resource + Clone + Serialize> FakeOwnerClient<K> {
    /// What a fresh `get` returns for this object's key from now on.
    pub fn set(&self, obj: K) {
        let mut v = self.objects.lock().unwrap_or_else(|p| p.into_inner());
        v.retain(|o| key_of(o) != key_of(&obj));
        v.push(obj);
    }

    /// Every status written so far (the patch's `status`, or the replaced
    /// object's), in order.
    pub fn statuses(&self) -> Vec<serde_json::Value> {
        self.statuses
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The keys of the owners deleted so far.
    pub fn deleted(&self) -> Vec<String> {
        self.deleted
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn record(&self, status: serde_json::Value) {
        self.statuses
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(status);
    }
}

impl<K: Resource + Clone + Serialize + Send + Sync> OwnerClient<K> for FakeOwnerClient<K> {
    fn get<'a>(
        &'a self,
        namespace: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, kube::Result<Option<K>>> {
        let key = format!("{namespace}/{name}");
        let found = self
            .objects
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .find(|o| key_of(*o) == key)
            .cloned();
        async move { Ok(found) }.boxed()
    }

    fn patch_status<'a>(
        &'a self,
        _namespace: &'a str,
        _name: &'a str,
        patch: &'a serde_json::Value,
    ) -> BoxFuture<'a, kube::Result<()>> {
        self.record(patch.get("status").cloned().unwrap_or_default());
        async move { Ok(()) }.boxed()
    }

    fn replace_status<'a>(&'a self, owner: &'a K) -> BoxFuture<'a, kube::Result<K>> {
        let status = serde_json::to_value(owner)
            .ok()
            .and_then(|v| v.get("status").cloned())
            .unwrap_or_default();
        self.record(status);
        async move { Ok(owner.clone()) }.boxed()
    }

    fn delete<'a>(&'a self, owner: &'a K) -> BoxFuture<'a, kube::Result<()>> {
        self.deleted
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(key_of(owner));
        async move { Ok(()) }.boxed()
    }
}

/// A status with absent fields and zero counts dropped, so a computed
/// status compares equal to the stored one that the apiserver returns
/// with zeros omitted.
fn normalized<S: Serialize>(s: &S) -> serde_json::Value {
    let mut v = serde_json::to_value(s).unwrap_or_default();
    if let Some(m) = v.as_object_mut() {
        m.retain(|_, v| !(v.is_null() || v == &serde_json::json!(0)));
    }
    v
}

/// Writes `new` as `owner`'s status (a merge patch) unless it equals
/// `old`; an owner deleted meanwhile is not an error. Returns whether it
/// wrote. A field `old` has and `new` leaves out is removed (a merge patch
/// that only omitted it would keep it: a `ReplicaFailure` condition would
/// never go).
pub async fn update_status<K: Resource, S: Serialize>(
    client: &dyn OwnerClient<K>,
    owner: &K,
    old: &S,
    new: &S,
) -> Result<bool> {
    if normalized(old) == normalized(new) {
        return Ok(false);
    }
    let m = owner.meta();
    let ns = m.namespace.as_deref().unwrap_or_default();
    let name = m.name.as_deref().unwrap_or_default();
    let mut status = serde_json::to_value(new).unwrap_or_default();
    if let (Some(fields), Some(old)) = (
        status.as_object_mut(),
        serde_json::to_value(old)
            .ok()
            .and_then(|o| o.as_object().cloned()),
    ) {
        for key in old.keys() {
            fields.entry(key.clone()).or_insert(serde_json::Value::Null);
        }
    }
    let patch = serde_json::json!({ "status": status });
    match client.patch_status(ns, name, &patch).await {
        Ok(()) => Ok(true),
        Err(e) if is_not_found(&e) => Ok(false),
        Err(e) => Err(e).context(|| format!("updating status of {}", key_of(owner))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetStatus};

    #[tokio::test]
    async fn an_unchanged_status_is_not_written() {
        let fake = FakeOwnerClient::<ReplicaSet>::default();
        let rs = ReplicaSet::default();
        let old = ReplicaSetStatus {
            replicas: 2,
            ready_replicas: None,
            ..Default::default()
        };
        let same = ReplicaSetStatus {
            replicas: 2,
            ready_replicas: Some(0),
            ..Default::default()
        };
        assert!(!update_status(&fake, &rs, &old, &same).await.unwrap());
        let more = ReplicaSetStatus {
            replicas: 3,
            ..Default::default()
        };
        assert!(update_status(&fake, &rs, &old, &more).await.unwrap());
        assert_eq!(fake.statuses(), [serde_json::json!({"replicas": 3})]);
    }

    #[tokio::test]
    async fn a_field_the_new_status_leaves_out_is_removed() {
        let fake = FakeOwnerClient::<ReplicaSet>::default();
        let rs = ReplicaSet::default();
        let old: ReplicaSetStatus = serde_json::from_value(serde_json::json!({
            "replicas": 2,
            "conditions": [{"type": "ReplicaFailure", "status": "True"}]
        }))
        .unwrap();
        let new = ReplicaSetStatus {
            replicas: 2,
            ..Default::default()
        };
        assert!(update_status(&fake, &rs, &old, &new).await.unwrap());
        assert_eq!(
            fake.statuses(),
            [serde_json::json!({"replicas": 2, "conditions": null})]
        );
    }
}
