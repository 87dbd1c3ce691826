//! Pod control (upstream `controller_utils.go`'s `PodControl`): how the
//! workload controllers create and delete their pods.
//!
//! Every workload controller (ReplicaSet, Job, DaemonSet, StatefulSet) ends
//! a reconcile the same way: create the missing pods and delete the extra
//! ones, record a `SuccessfulCreate`/`FailedCreate`/`SuccessfulDelete`/
//! `FailedDelete` Event on the owner for each, and tell the
//! [`Expectations`] what the informer is about to show, so the next
//! reconcile does not act twice on a cache that lags behind. [`PodControl`]
//! does that once for all of them.
//!
//! The apiserver itself sits behind the small [`PodClient`] trait:
//! [`ApiPodClient`] talks to it through `kube`, [`FakePodClient`] records
//! the calls, so a controller's whole reconcile runs in a unit test that
//! feeds objects into its caches and counts what the fake was asked to do
//! (as upstream's `FakePodControl`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use futures::FutureExt;
use k8s_openapi::api::core::v1::{Pod, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, Preconditions};
use kube::Resource;

use super::controller::{is_conflict, is_not_found, Context as _, Result};
use super::expectations::Expectations;
use super::informer::key_of;
use crate::events::{Recorder, NORMAL, WARNING};

/// The pod writes of a controller: the seam between the controllers and
/// the apiserver that unit tests replace with [`FakePodClient`].
pub trait PodClient: Send + Sync {
    /// Creates `pod` (POST); the apiserver's copy comes back.
    fn create<'a>(&'a self, namespace: &'a str, pod: &'a Pod) -> BoxFuture<'a, kube::Result<Pod>>;
    /// Deletes a pod; with `uid`, only if the pod still has that uid (a
    /// lagging cache must not delete a successor of the same name).
    fn delete<'a>(
        &'a self,
        namespace: &'a str,
        name: &'a str,
        uid: Option<&'a str>,
    ) -> BoxFuture<'a, kube::Result<()>>;
    /// Applies a JSON merge patch to a pod.
    fn patch<'a>(
        &'a self,
        namespace: &'a str,
        name: &'a str,
        patch: &'a serde_json::Value,
    ) -> BoxFuture<'a, kube::Result<()>>;
}

/// [`PodClient`] over the apiserver.
pub struct ApiPodClient {
    client: kube::Client,
}

impl ApiPodClient {
    /// Writes through `client`.
    pub fn new(client: kube::Client) -> ApiPodClient {
        ApiPodClient { client }
    }

    fn api(&self, namespace: &str) -> Api<Pod> {
        Api::namespaced(self.client.clone(), namespace)
    }
}

impl PodClient for ApiPodClient {
    fn create<'a>(&'a self, namespace: &'a str, pod: &'a Pod) -> BoxFuture<'a, kube::Result<Pod>> {
        async move {
            self.api(namespace)
                .create(&PostParams::default(), pod)
                .await
        }
        .boxed()
    }

    fn delete<'a>(
        &'a self,
        namespace: &'a str,
        name: &'a str,
        uid: Option<&'a str>,
    ) -> BoxFuture<'a, kube::Result<()>> {
        async move {
            let dp = DeleteParams {
                preconditions: uid.map(|u| Preconditions {
                    uid: Some(u.to_string()),
                    resource_version: None,
                }),
                ..Default::default()
            };
            self.api(namespace).delete(name, &dp).await.map(|_| ())
        }
        .boxed()
    }

    fn patch<'a>(
        &'a self,
        namespace: &'a str,
        name: &'a str,
        patch: &'a serde_json::Value,
    ) -> BoxFuture<'a, kube::Result<()>> {
        async move {
            self.api(namespace)
                .patch(name, &PatchParams::default(), &Patch::Merge(patch))
                .await
                .map(|_| ())
        }
        .boxed()
    }
}

/// One call a [`FakePodClient`] saw.
#[derive(Debug, Clone, PartialEq)]
pub enum PodCall {
    /// A create, with the pod as sent.
    Create(Box<Pod>),
    /// A delete of `namespace/name`.
    Delete(String),
    /// A merge patch of `namespace/name`.
    Patch(String, serde_json::Value),
}

/// A [`PodClient`] that records every call and answers it without an
/// apiserver: creates succeed (the pod gets a name and uid) until
/// [`FakePodClient::fail_creates_after`] is reached.
#[derive(Default)]
pub struct FakePodClient {
    calls: Mutex<Vec<PodCall>>,
    created: AtomicUsize,
    fail_creates_after: Mutex<Option<usize>>,
}

impl FakePodClient {
    /// A fake that accepts everything.
    pub fn new() -> Arc<FakePodClient> {
        Arc::new(FakePodClient::default())
    }

    /// From now on, creates after the first `n` successful ones fail with
    /// a 403 (as a quota would).
    pub fn fail_creates_after(&self, n: usize) {
        *self
            .fail_creates_after
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(n);
    }

    /// Every call so far, in order.
    pub fn calls(&self) -> Vec<PodCall> {
        self.calls.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The pods created so far.
    pub fn creates(&self) -> Vec<Pod> {
        self.calls()
            .into_iter()
            .filter_map(|c| match c {
                PodCall::Create(p) => Some(*p),
                _ => None,
            })
            .collect()
    }

    /// The `namespace/name` of the pods deleted so far.
    pub fn deletes(&self) -> Vec<String> {
        self.calls()
            .into_iter()
            .filter_map(|c| match c {
                PodCall::Delete(k) => Some(k),
                _ => None,
            })
            .collect()
    }

    /// The patches sent so far, by `namespace/name`.
    pub fn patches(&self) -> Vec<(String, serde_json::Value)> {
        self.calls()
            .into_iter()
            .filter_map(|c| match c {
                PodCall::Patch(k, p) => Some((k, p)),
                _ => None,
            })
            .collect()
    }

    fn record(&self, call: PodCall) {
        self.calls
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(call);
    }
}

impl PodClient for FakePodClient {
    fn create<'a>(&'a self, namespace: &'a str, pod: &'a Pod) -> BoxFuture<'a, kube::Result<Pod>> {
        async move {
            let limit = *self
                .fail_creates_after
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            let n = self.created.load(Ordering::SeqCst);
            if limit.is_some_and(|l| n >= l) {
                return Err(kube::Error::Api(
                    kube::core::Status::failure("exceeded quota", "Forbidden")
                        .with_code(403)
                        .boxed(),
                ));
            }
            self.created.fetch_add(1, Ordering::SeqCst);
            self.record(PodCall::Create(Box::new(pod.clone())));
            let mut made = pod.clone();
            if made.metadata.name.is_none() {
                made.metadata.name = Some(format!(
                    "{}{n}",
                    made.metadata.generate_name.as_deref().unwrap_or("pod-")
                ));
            }
            made.metadata.namespace = Some(namespace.to_string());
            made.metadata.uid = Some(format!("fake-uid-{n}"));
            Ok(made)
        }
        .boxed()
    }

    fn delete<'a>(
        &'a self,
        namespace: &'a str,
        name: &'a str,
        _uid: Option<&'a str>,
    ) -> BoxFuture<'a, kube::Result<()>> {
        async move {
            self.record(PodCall::Delete(format!("{namespace}/{name}")));
            Ok(())
        }
        .boxed()
    }

    fn patch<'a>(
        &'a self,
        namespace: &'a str,
        name: &'a str,
        patch: &'a serde_json::Value,
    ) -> BoxFuture<'a, kube::Result<()>> {
        async move {
            self.record(PodCall::Patch(format!("{namespace}/{name}"), patch.clone()));
            Ok(())
        }
        .boxed()
    }
}

/// Creates and deletes a controller's pods with Events and expectations.
#[derive(Clone)]
pub struct PodControl {
    client: Arc<dyn PodClient>,
    recorder: Recorder,
}

impl PodControl {
    /// Pod control over `client`, recording Events with `recorder`.
    pub fn new(client: Arc<dyn PodClient>, recorder: Recorder) -> PodControl {
        PodControl { client, recorder }
    }

    /// The pod writes underneath (for patches that are not about owners,
    /// such as the Job's finalizer removal).
    pub fn client(&self) -> &dyn PodClient {
        &*self.client
    }

    /// Creates `pods` for `owner`, whose queue key is `key`, in slow-start
    /// batches (1, 2, 4, ...; a failing batch stops the rest). Before the
    /// first request it expects all of them; each one that was never
    /// created is marked observed at once, since no watch event will come
    /// for it. A `SuccessfulCreate` Event per pod made, a `FailedCreate`
    /// for the failure, which is returned.
    pub async fn create_pods<K: Resource<DynamicType = ()>>(
        &self,
        expectations: &Expectations,
        key: &str,
        owner: &K,
        pods: Vec<Pod>,
    ) -> Result<usize> {
        let n = pods.len();
        if n == 0 {
            return Ok(0);
        }
        let namespace = owner.meta().namespace.clone().unwrap_or_default();
        expectations.expect_creations(key, n);
        let (created, err) = slow_start_batch(pods, 1, |pod| {
            let (client, namespace) = (&self.client, &namespace);
            async move { client.create(namespace, &pod).await }
        })
        .await;
        for p in &created {
            self.recorder.event(
                owner,
                NORMAL,
                "SuccessfulCreate",
                format!("Created pod: {}", p.metadata.name.as_deref().unwrap_or("")),
            );
        }
        for _ in created.len()..n {
            expectations.creation_observed(key);
        }
        match err {
            Some(e) => {
                self.recorder.event(
                    owner,
                    WARNING,
                    "FailedCreate",
                    format!("Error creating: {}", api_message(&e)),
                );
                Err(e).context(|| format!("creating pods for {key}"))
            }
            None => Ok(created.len()),
        }
    }

    /// Deletes `pods` of `owner`, expecting each deletion under `key`; a
    /// pod already gone counts as deleted. Stops at the first error.
    pub async fn delete_pods<K: Resource<DynamicType = ()>>(
        &self,
        expectations: &Expectations,
        key: &str,
        owner: &K,
        pods: &[&Arc<Pod>],
    ) -> Result<()> {
        if pods.is_empty() {
            return Ok(());
        }
        expectations.expect_deletions(key, pods.iter().map(|p| key_of(&***p)));
        for pod in pods {
            match self.delete_pod(owner, pod, None).await {
                Ok(true) => {}
                // No watch event will come for a pod that was not there.
                Ok(false) => expectations.deletion_observed(key, &key_of(&***pod)),
                Err(e) => {
                    expectations.deletion_observed(key, &key_of(&***pod));
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    /// Creates one named pod of `owner` (no expectations: the StatefulSet
    /// knows its pods by name). A pod of that name that already exists is
    /// not an error: the cache is behind. Returns whether it was created.
    pub async fn create_pod<K: Resource<DynamicType = ()>>(
        &self,
        owner: &K,
        pod: &Pod,
    ) -> Result<bool> {
        let namespace = owner.meta().namespace.clone().unwrap_or_default();
        let name = pod.metadata.name.clone().unwrap_or_default();
        match self.client.create(&namespace, pod).await {
            Ok(p) => {
                self.recorder.event(
                    owner,
                    NORMAL,
                    "SuccessfulCreate",
                    format!("Created pod: {}", p.metadata.name.as_deref().unwrap_or("")),
                );
                Ok(true)
            }
            Err(e) if is_conflict(&e) => Ok(false),
            Err(e) => {
                self.recorder.event(
                    owner,
                    WARNING,
                    "FailedCreate",
                    format!("Error creating: {}", api_message(&e)),
                );
                Err(e).context(|| format!("creating pod {name}"))
            }
        }
    }

    /// Deletes one pod of `owner`, with `uid` as a precondition when given;
    /// a pod already gone (or replaced, with `uid`) is not an error.
    /// Returns whether this call deleted it.
    pub async fn delete_pod<K: Resource<DynamicType = ()>>(
        &self,
        owner: &K,
        pod: &Pod,
        uid: Option<&str>,
    ) -> Result<bool> {
        let namespace = pod.metadata.namespace.clone().unwrap_or_default();
        let name = pod.metadata.name.clone().unwrap_or_default();
        match self.client.delete(&namespace, &name, uid).await {
            Ok(()) => {
                self.recorder.event(
                    owner,
                    NORMAL,
                    "SuccessfulDelete",
                    format!("Deleted pod: {name}"),
                );
                Ok(true)
            }
            Err(e) if is_not_found(&e) => Ok(false),
            Err(e) if uid.is_some() && is_conflict(&e) => Ok(false),
            Err(e) => {
                self.recorder.event(
                    owner,
                    WARNING,
                    "FailedDelete",
                    format!("Error deleting: {}", api_message(&e)),
                );
                Err(e).context(|| format!("deleting pod {name}"))
            }
        }
    }
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

/// Calls `f` on each item in batches of 1, 2, 4, ... (upstream
/// `slowStartBatch`): a quota or admission failure costs one request, not
/// five hundred. Returns what was created and the first error.
pub async fn slow_start_batch<I, T, F, Fut>(
    items: Vec<I>,
    initial: usize,
    f: F,
) -> (Vec<T>, Option<kube::Error>)
where
    F: Fn(I) -> Fut,
    Fut: std::future::Future<Output = Result<T, kube::Error>>,
{
    let n = items.len();
    let mut items = items.into_iter();
    let mut done = Vec::with_capacity(n);
    let mut batch = initial.max(1).min(n);
    let mut remaining = n;
    while remaining > 0 {
        let results = futures::future::join_all(items.by_ref().take(batch).map(&f)).await;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn slow_start_stops_at_the_first_failing_batch() {
        let calls = std::sync::atomic::AtomicUsize::new(0);
        let (ok, err) = slow_start_batch((0..10).collect(), 1, |_: i32| {
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
