//! Informers: list + watch one resource type into a [`Store`], then tell
//! event handlers what changed.
//!
//! The watch itself is kube-runtime's [`watcher`] (it lists, watches, and
//! relists on 410 Gone). This module adds what client-go's informer gives a
//! controller: a shared cache keyed by `namespace/name`, and handlers called
//! with `(old, new)` after the cache is updated: `(None, Some)` for an add,
//! `(Some, Some)` for an update, `(Some, None)` for a delete. A relist swaps
//! the whole cache at once and reports the differences, so handlers see
//! deletions that happened while the watch was down.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::{Arc, Mutex, RwLock};

use futures::StreamExt;
use kube::api::Api;
use kube::runtime::watcher::{self, watcher, Event};
use kube::runtime::WatchStreamExt;
use kube::{Resource, ResourceExt};
use serde::de::DeserializeOwned;

/// The cache key of an object: `namespace/name`, or `name` when
/// cluster-scoped.
pub fn key_of<K: Resource>(obj: &K) -> String {
    let m = obj.meta();
    let name = m.name.clone().unwrap_or_default();
    match m.namespace.as_deref() {
        Some(ns) if !ns.is_empty() => format!("{ns}/{name}"),
        _ => name,
    }
}

/// Splits a key into (namespace, name).
pub fn split_key(key: &str) -> (Option<&str>, &str) {
    match key.split_once('/') {
        Some((ns, name)) => (Some(ns), name),
        None => (None, key),
    }
}

/// An event handler: `(old, new)`.
pub type Handler<K> = Arc<dyn Fn(Option<&Arc<K>>, Option<&Arc<K>>) + Send + Sync>;

/// The cache of one resource type; cheap to clone, many readers.
pub struct Store<K> {
    map: Arc<RwLock<HashMap<String, Arc<K>>>>,
}

impl<K> Clone for Store<K> {
    fn clone(&self) -> Self {
        Store {
            map: Arc::clone(&self.map),
        }
    }
}

impl<K> Default for Store<K> {
    fn default() -> Self {
        Store {
            map: Arc::new(RwLock::new(HashMap::new())),
        }
    }
}

impl<K: Resource> Store<K> {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Arc<K>>> {
        self.map.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Arc<K>>> {
        self.map.write().unwrap_or_else(|p| p.into_inner())
    }

    /// The object with this key.
    pub fn get(&self, key: &str) -> Option<Arc<K>> {
        self.read().get(key).cloned()
    }

    /// Every object.
    pub fn list(&self) -> Vec<Arc<K>> {
        self.read().values().cloned().collect()
    }

    /// Every object in `namespace`.
    pub fn list_namespace(&self, namespace: &str) -> Vec<Arc<K>> {
        self.read()
            .values()
            .filter(|o| o.meta().namespace.as_deref() == Some(namespace))
            .cloned()
            .collect()
    }

    /// Objects for which `f` holds.
    pub fn filter(&self, f: impl Fn(&K) -> bool) -> Vec<Arc<K>> {
        self.read().values().filter(|o| f(o)).cloned().collect()
    }

    /// How many objects.
    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// Whether empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Puts an object in (tests feed stores directly, as upstream's do).
    pub fn insert(&self, obj: K) {
        self.write().insert(key_of(&obj), Arc::new(obj));
    }

    /// Removes an object.
    pub fn remove(&self, key: &str) -> Option<Arc<K>> {
        self.write().remove(key)
    }
}

/// One resource type's informer.
pub struct Informer<K> {
    api: Api<K>,
    config: watcher::Config,
    store: Store<K>,
    handlers: Mutex<Vec<Handler<K>>>,
    synced: tokio::sync::watch::Sender<bool>,
}

impl<K> Informer<K>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    /// An informer over `api` (not yet running).
    pub fn new(api: Api<K>, config: watcher::Config) -> Arc<Informer<K>> {
        Arc::new(Informer {
            api,
            config,
            store: Store::default(),
            handlers: Mutex::new(Vec::new()),
            synced: tokio::sync::watch::channel(false).0,
        })
    }

    /// Its cache.
    pub fn store(&self) -> Store<K> {
        self.store.clone()
    }

    /// Registers a handler (before [`Informer::run`] to see the first list).
    pub fn add_handler(
        &self,
        f: impl Fn(Option<&Arc<K>>, Option<&Arc<K>>) + Send + Sync + 'static,
    ) {
        self.handlers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Arc::new(f));
    }

    fn notify(&self, old: Option<&Arc<K>>, new: Option<&Arc<K>>) {
        let handlers = self
            .handlers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        for h in handlers {
            h(old, new);
        }
    }

    /// Whether the first list has been stored.
    pub fn has_synced(&self) -> bool {
        *self.synced.borrow()
    }

    /// Waits for the first list.
    pub async fn wait_synced(&self) {
        let mut rx = self.synced.subscribe();
        let _ = rx.wait_for(|s| *s).await;
    }

    /// Lists and watches forever.
    pub async fn run(self: Arc<Self>) {
        let mut stream = watcher(self.api.clone(), self.config.clone())
            .default_backoff()
            .boxed();
        let mut buffer: Option<HashMap<String, Arc<K>>> = None;
        while let Some(event) = stream.next().await {
            match event {
                Ok(Event::Apply(obj)) => {
                    let new = Arc::new(obj);
                    let old = self.store.write().insert(key_of(&*new), Arc::clone(&new));
                    self.notify(old.as_ref(), Some(&new));
                }
                Ok(Event::Delete(obj)) => {
                    let key = key_of(&obj);
                    let old = self
                        .store
                        .write()
                        .remove(&key)
                        .unwrap_or_else(|| Arc::new(obj));
                    self.notify(Some(&old), None);
                }
                Ok(Event::Init) => buffer = Some(HashMap::new()),
                Ok(Event::InitApply(obj)) => {
                    buffer
                        .get_or_insert_with(HashMap::new)
                        .insert(key_of(&obj), Arc::new(obj));
                }
                Ok(Event::InitDone) => {
                    let fresh = buffer.take().unwrap_or_default();
                    let old = std::mem::replace(&mut *self.store.write(), fresh.clone());
                    for (k, new) in &fresh {
                        let prev = old.get(k);
                        // Unchanged objects are re-announced too: a relist
                        // doubles as client-go's periodic resync.
                        self.notify(prev, Some(new));
                    }
                    for (k, gone) in &old {
                        if !fresh.contains_key(k) {
                            self.notify(Some(gone), None);
                        }
                    }
                    self.synced.send_replace(true);
                }
                Err(e) => {
                    tracing::warn!(resource = std::any::type_name::<K>(), error = %e, "watch failed; retrying");
                }
            }
        }
    }
}

/// A set of informers shared by every controller, one per resource type
/// (client-go's `SharedInformerFactory`).
pub struct Factory {
    client: kube::Client,
    informers: Mutex<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>,
    started: Mutex<usize>,
    waiters: Mutex<Vec<Arc<dyn Syncable>>>,
}

trait Syncable: Send + Sync {
    fn synced(&self) -> bool;
    fn start(self: Arc<Self>);
}

impl<K> Syncable for Informer<K>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    K::DynamicType: Default,
{
    fn synced(&self) -> bool {
        self.has_synced()
    }
    fn start(self: Arc<Self>) {
        tokio::spawn(self.run());
    }
}

impl Factory {
    /// A factory for this client.
    pub fn new(client: kube::Client) -> Arc<Factory> {
        Arc::new(Factory {
            client,
            informers: Mutex::new(HashMap::new()),
            started: Mutex::new(0),
            waiters: Mutex::new(Vec::new()),
        })
    }

    /// The informer for `K` across all namespaces (created on first use).
    pub fn informer<K>(&self) -> Arc<Informer<K>>
    where
        K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
        K::DynamicType: Default,
    {
        let mut map = self.informers.lock().unwrap_or_else(|p| p.into_inner());
        let entry = map.entry(TypeId::of::<K>()).or_insert_with(|| {
            let inf = Informer::<K>::new(
                Api::all(self.client.clone()),
                watcher::Config::default().page_size(500),
            );
            self.waiters
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(inf.clone());
            inf
        });
        Arc::clone(entry)
            .downcast::<Informer<K>>()
            .unwrap_or_else(|_| unreachable!("one informer per type id"))
    }

    /// Starts every informer not yet running.
    pub fn start(&self) {
        let mut started = self.started.lock().unwrap_or_else(|p| p.into_inner());
        let waiters = self.waiters.lock().unwrap_or_else(|p| p.into_inner());
        for w in waiters.iter().skip(*started) {
            Arc::clone(w).start();
        }
        *started = waiters.len();
    }

    /// Waits until every informer has listed once.
    pub async fn wait_synced(&self) {
        loop {
            let all = self
                .waiters
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
                .all(|w| w.synced());
            if all {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
}

/// The namespace and name of an object as one key (for logs).
pub fn describe<K: Resource>(obj: &K) -> String {
    key_of(obj)
}

/// Whether the object has a deletionTimestamp.
pub fn is_deleting<K: Resource>(obj: &K) -> bool {
    obj.meta().deletion_timestamp.is_some()
}

/// The object's uid (empty when missing).
pub fn uid_of<K: Resource>(obj: &K) -> String {
    obj.uid().unwrap_or_default()
}
