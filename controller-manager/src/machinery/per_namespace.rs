//! Objects a controller keeps in every namespace (upstream's ServiceAccounts
//! controller and root CA publisher): the `default` ServiceAccount, the
//! `kube-root-ca.crt` ConfigMap.
//!
//! Such a controller's key is a namespace's name. [`register`] enqueues it
//! when the namespace appears or changes, and when the kept object (found
//! by its `name`) is changed or deleted in it, so a deleted or edited copy
//! is put back at once. The reconcile then compares the cached object with
//! the wanted one and writes through an [`ObjectWriter`]: the apiserver
//! ([`ApiOwnerClient`]) or, in unit tests, a [`FakeObjectWriter`] that
//! records what it was asked to write.

use std::fmt::Debug;
use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use futures::FutureExt;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, PostParams};
use kube::Resource;
use serde::de::DeserializeOwned;

use super::informer::{Informer, Store};
use super::meta::NamespacedKind;
use super::owner_client::ApiOwnerClient;
use super::queue::Queue;

/// Whether objects may be created in the namespace: it exists and is not
/// being deleted (upstream checks the `Active` phase; a namespace whose
/// deletion started is `Terminating`).
pub fn active(namespaces: &Store<Namespace>, name: &str) -> bool {
    namespaces.get(name).is_some_and(|ns| {
        ns.metadata.deletion_timestamp.is_none()
            && ns.status.as_ref().and_then(|s| s.phase.as_deref()) != Some("Terminating")
    })
}

/// Enqueues a namespace's name on every event of the namespace, and on the
/// update or deletion of an object called `name` in it.
pub fn register<K>(
    queue: &Arc<Queue>,
    namespaces: &Informer<Namespace>,
    objects: &Informer<K>,
    name: &'static str,
) where
    K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    let q = Arc::clone(queue);
    namespaces.add_handler(move |_, new| {
        if let Some(ns) = new.and_then(|ns| ns.metadata.name.clone()) {
            q.add(ns);
        }
    });
    let q = Arc::clone(queue);
    objects.add_handler(move |old, new| {
        let Some(obj) = new.or(old) else { return };
        if obj.meta().name.as_deref() == Some(name) {
            if let Some(ns) = obj.meta().namespace.clone() {
                q.add(ns);
            }
        }
    });
}

/// The writes of a per-namespace controller.
pub trait ObjectWriter<K>: Send + Sync {
    /// Creates `obj` in `namespace`.
    fn create<'a>(&'a self, namespace: &'a str, obj: &'a K) -> BoxFuture<'a, kube::Result<()>>;
    /// Replaces `obj` (guarded by its resourceVersion).
    fn replace<'a>(&'a self, namespace: &'a str, obj: &'a K) -> BoxFuture<'a, kube::Result<()>>;
}

/// The apiserver's side: the same handle on one kind's API that reads
/// and writes owners.
impl<K: NamespacedKind> ObjectWriter<K> for ApiOwnerClient<K> {
    fn create<'a>(&'a self, namespace: &'a str, obj: &'a K) -> BoxFuture<'a, kube::Result<()>> {
        async move {
            Api::<K>::namespaced(self.client().clone(), namespace)
                .create(&PostParams::default(), obj)
                .await
                .map(|_| ())
        }
        .boxed()
    }

    fn replace<'a>(&'a self, namespace: &'a str, obj: &'a K) -> BoxFuture<'a, kube::Result<()>> {
        async move {
            let name = obj.meta().name.clone().unwrap_or_default();
            Api::<K>::namespaced(self.client().clone(), namespace)
                .replace(&name, &PostParams::default(), obj)
                .await
                .map(|_| ())
        }
        .boxed()
    }
}

/// One write a [`FakeObjectWriter`] saw.
#[derive(Debug, Clone, PartialEq)]
pub enum Write<K> {
    /// A create in a namespace.
    Create(String, K),
    /// A replace in a namespace.
    Replace(String, K),
}

/// An [`ObjectWriter`] for unit tests: records every write; creates fail
/// with 409 AlreadyExists when asked to (a cache that lags behind).
pub struct FakeObjectWriter<K> {
    writes: Mutex<Vec<Write<K>>>,
    already_exists: Mutex<bool>,
}

impl<K> Default for FakeObjectWriter<K> {
    fn default() -> Self {
        FakeObjectWriter {
            writes: Mutex::new(Vec::new()),
            already_exists: Mutex::new(false),
        }
    }
}

impl<K: Clone> FakeObjectWriter<K> {
    /// Every write so far, in order.
    pub fn writes(&self) -> Vec<Write<K>> {
        self.writes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// From now on creates answer 409 AlreadyExists.
    pub fn answer_already_exists(&self) {
        *self
            .already_exists
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = true;
    }

    fn record(&self, w: Write<K>) {
        self.writes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(w);
    }
}

impl<K: Clone + Send + Sync> ObjectWriter<K> for FakeObjectWriter<K> {
    fn create<'a>(&'a self, namespace: &'a str, obj: &'a K) -> BoxFuture<'a, kube::Result<()>> {
        let exists = *self
            .already_exists
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let result = if exists {
            Err(kube::Error::Api(
                kube::core::Status::failure("already exists", "AlreadyExists")
                    .with_code(409)
                    .boxed(),
            ))
        } else {
            self.record(Write::Create(namespace.to_string(), obj.clone()));
            Ok(())
        };
        async move { result }.boxed()
    }

    fn replace<'a>(&'a self, namespace: &'a str, obj: &'a K) -> BoxFuture<'a, kube::Result<()>> {
        self.record(Write::Replace(namespace.to_string(), obj.clone()));
        async move { Ok(()) }.boxed()
    }
}
