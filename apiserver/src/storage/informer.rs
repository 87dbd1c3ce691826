//! Informers inside the apiserver: in-memory views of one resource, kept
//! current the way a controller's informer is (a list at a revision, then the
//! resource's [watch cache](super::watch_cache) from that revision; a relist
//! when the cache resets or the follower lags behind).
//!
//! Users:
//! - the authorizers ([`follow`] with their own callbacks: RBAC's rules, the
//!   node graph of pods);
//! - admission, through an [`Informer`]: the namespaces, quotas, limit
//!   ranges, priority classes, ServiceAccounts, storage and runtime classes
//!   that a create consults. Upstream's admission plugins read these from
//!   shared informers too; reading them from etcd made every pod create wait
//!   for half a dozen extra etcd round trips and decodes;
//! - the write path: an update of a busy resource (pods, nodes, leases, the
//!   workload controllers' objects) starts from the informer's copy
//!   ([`Informer::peek`]) and lets etcd's compare-and-swap tell whether it
//!   was current, saving a read per write.
//!
//! An informer is only as fresh as its watch, and a client that has just
//! labelled a namespace expects the next pod create to see the label. So an
//! [`Informer`] answers only once it has applied every write to its resource
//! that this apiserver has acknowledged ([`Store::write_mark`]); until then,
//! or if it cannot catch up within [`CATCH_UP`], the read goes to etcd. A
//! `get` that finds nothing asks etcd too (the object may have been written
//! through another apiserver a moment ago), as upstream's NamespaceLifecycle
//! does with its live lookups.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use apimachinery::resources::ResourceInfo;
use serde_json::Value;
use tokio::sync::watch;

use super::watch_cache::{EventType, WatchCache};
use super::{Result, Store, StoredObject};

/// How long a read waits for the informer to apply this apiserver's latest
/// write before it asks etcd instead.
pub const CATCH_UP: Duration = Duration::from_secs(1);

/// Follows `resource` until `stopping` turns true: `on_list` gets every
/// object (and the list's revision) after each (re)list, `on_event` each
/// change after it (with its revision).
pub async fn follow(
    store: Store,
    cache: Arc<WatchCache>,
    mut stopping: watch::Receiver<bool>,
    resource: &'static ResourceInfo,
    on_list: impl Fn(&[Value], i64),
    on_event: impl Fn(EventType, &Value, i64),
) {
    let retry = Duration::from_millis(200);
    let prefix = store.collection_prefix(resource.storage_name(), None);
    loop {
        if *stopping.borrow() {
            return;
        }
        if cache.wait_ready(Duration::from_secs(5)).await.is_err() {
            tokio::time::sleep(retry).await;
            continue;
        }
        let page = match store.list(&prefix, None, 0, 0).await {
            Ok(p) => p,
            Err(e) => {
                tracing::debug!(resource = resource.plural, error = %e, "informer list failed; retrying");
                tokio::time::sleep(retry).await;
                continue;
            }
        };
        let Ok(sub) = cache.subscribe(page.revision) else {
            tokio::time::sleep(retry).await;
            continue;
        };
        let objects: Vec<Value> = page.items.into_iter().map(|(_, o)| o.object).collect();
        on_list(&objects, page.revision);
        for ev in &sub.backlog {
            on_event(ev.kind, &ev.object, ev.rev);
        }
        let (mut live, mut reset) = (sub.live, sub.reset);
        loop {
            tokio::select! {
                ev = live.recv() => match ev {
                    Ok(ev) if ev.rev > page.revision => on_event(ev.kind, &ev.object, ev.rev),
                    Ok(_) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => break,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                },
                _ = reset.changed() => break,
                _ = stopping.changed() => return,
            }
        }
    }
}

/// `(namespace, name)`: the namespace is empty for cluster-scoped objects.
type ObjectKey = (String, String);

fn key_of(obj: &Value) -> ObjectKey {
    let field = |f: &str| {
        obj.pointer(f)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    (field("/metadata/namespace"), field("/metadata/name"))
}

/// An object as the informer holds it.
#[derive(Debug, Clone)]
pub struct Cached {
    /// The object, `metadata.resourceVersion` set.
    pub object: Arc<Value>,
    /// Its revision (the key's `mod_revision`).
    pub mod_revision: i64,
}

impl From<StoredObject> for Cached {
    fn from(s: StoredObject) -> Cached {
        Cached {
            mod_revision: s.mod_revision,
            object: Arc::new(s.object),
        }
    }
}

impl Cached {
    /// A copy in the shape of an etcd read.
    pub fn to_stored(&self) -> StoredObject {
        StoredObject {
            object: (*self.object).clone(),
            mod_revision: self.mod_revision,
            stale: false,
        }
    }
}

/// One resource's objects in memory, for reads on the request path.
#[derive(Debug)]
pub struct Informer {
    resource: &'static ResourceInfo,
    store: Store,
    objects: RwLock<BTreeMap<ObjectKey, Cached>>,
    /// The revision everything in `objects` is current up to (0 until the
    /// first list).
    applied: watch::Sender<i64>,
    /// The revision of this apiserver's newest write to the resource.
    written: Arc<AtomicI64>,
}

impl Informer {
    /// Starts following `resource` through its watch cache.
    pub fn start(
        store: Store,
        cache: Arc<WatchCache>,
        stopping: watch::Receiver<bool>,
        resource: &'static ResourceInfo,
    ) -> Arc<Informer> {
        let prefix = store.collection_prefix(resource.storage_name(), None);
        let informer = Arc::new(Informer {
            resource,
            written: store.write_mark(&prefix),
            store: store.clone(),
            objects: RwLock::new(BTreeMap::new()),
            applied: watch::channel(0).0,
        });
        let (on_list, on_event) = (Arc::downgrade(&informer), Arc::downgrade(&informer));
        tokio::spawn(follow(
            store,
            cache,
            stopping,
            resource,
            move |objects, rev| {
                if let Some(i) = on_list.upgrade() {
                    i.replace(objects, rev);
                }
            },
            move |kind, obj, rev| {
                if let Some(i) = on_event.upgrade() {
                    i.apply(kind, obj, rev);
                }
            },
        ));
        informer
    }

    fn replace(&self, objects: &[Value], rev: i64) {
        let map = objects
            .iter()
            .map(|o| {
                let mod_revision = super::etcd::resource_version_of(o).unwrap_or(rev);
                (
                    key_of(o),
                    Cached {
                        object: Arc::new(o.clone()),
                        mod_revision,
                    },
                )
            })
            .collect();
        match self.objects.write() {
            Ok(mut g) => *g = map,
            Err(poisoned) => *poisoned.into_inner() = map,
        }
        self.applied.send_replace(rev);
    }

    fn apply(&self, kind: EventType, obj: &Value, rev: i64) {
        {
            let mut g = match self.objects.write() {
                Ok(g) => g,
                Err(poisoned) => poisoned.into_inner(),
            };
            match kind {
                EventType::Deleted => {
                    g.remove(&key_of(obj));
                }
                EventType::Added | EventType::Modified => {
                    g.insert(
                        key_of(obj),
                        Cached {
                            object: Arc::new(obj.clone()),
                            mod_revision: rev,
                        },
                    );
                }
            }
        }
        self.applied.send_if_modified(|a| {
            let newer = rev > *a;
            *a = (*a).max(rev);
            newer
        });
    }

    /// Waits until every write this apiserver made to the resource is
    /// applied; false if that takes longer than [`CATCH_UP`].
    async fn caught_up(&self) -> bool {
        let target = self.written.load(Ordering::Acquire).max(1);
        if *self.applied.borrow() >= target {
            return true;
        }
        let mut rx = self.applied.subscribe();
        let reached = tokio::time::timeout(CATCH_UP, rx.wait_for(|a| *a >= target))
            .await
            .is_ok_and(|r| r.is_ok());
        reached
    }

    /// The object `namespace/name` (namespace empty when cluster-scoped).
    pub async fn get(&self, namespace: &str, name: &str) -> Result<Option<Cached>> {
        if self.caught_up().await {
            let hit = self
                .objects
                .read()
                .ok()
                .and_then(|g| g.get(&(namespace.to_string(), name.to_string())).cloned());
            if hit.is_some() {
                return Ok(hit);
            }
        }
        let ns = (!namespace.is_empty()).then_some(namespace);
        let key = self.store.key(self.resource.storage_name(), ns, name);
        Ok(self.store.get(&key).await?.map(Cached::from))
    }

    /// The object as last applied, without waiting for the informer to
    /// catch up: only a suggestion, for a write whose compare-and-swap on
    /// the `mod_revision` proves it current or refuses it
    /// (`handlers::write::guaranteed_update`).
    pub fn peek(&self, namespace: &str, name: &str) -> Option<Cached> {
        self.objects
            .read()
            .ok()?
            .get(&(namespace.to_string(), name.to_string()))
            .cloned()
    }

    /// Every object in `namespace` (all of them when `None`), in key order.
    pub async fn list(&self, namespace: Option<&str>) -> Result<Vec<Cached>> {
        if self.caught_up().await {
            if let Ok(g) = self.objects.read() {
                return Ok(match namespace {
                    Some(ns) => g
                        .range((ns.to_string(), String::new())..)
                        .take_while(|((n, _), _)| n == ns)
                        .map(|(_, c)| c.clone())
                        .collect(),
                    None => g.values().cloned().collect(),
                });
            }
        }
        let prefix = self
            .store
            .collection_prefix(self.resource.storage_name(), namespace);
        let page = self.store.list(&prefix, None, 0, 0).await?;
        Ok(page.items.into_iter().map(|(_, s)| s.into()).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn objects_are_keyed_by_namespace_and_name() {
        let o = json!({"metadata": {"namespace": "a", "name": "x"}});
        assert_eq!(key_of(&o), ("a".to_string(), "x".to_string()));
        let c = json!({"metadata": {"name": "node-1"}});
        assert_eq!(key_of(&c), (String::new(), "node-1".to_string()));
    }
}
