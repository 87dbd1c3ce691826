//! The webhook configurations (and admission policies with their bindings)
//! in force, kept in memory from the watch cache
//! so that admitting a write reads no configuration from etcd.
//!
//! Each of the two kinds gets a [`Source`], started by the first write that
//! asks for it: one list of the kind from etcd, then the kind's watch cache
//! ([`crate::storage::watch_cache`]) from the list's revision on, each event
//! replacing or removing one configuration. When the follower falls behind
//! the cache (or the cache resets) it lists again. Like upstream's informer
//! this is eventually consistent: a configuration written a moment ago
//! applies as soon as its watch event arrived (milliseconds here).

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

use apimachinery::resources::{self, ResourceInfo};
use serde_json::Value;
use tokio::sync::{broadcast, OnceCell};

use crate::errors::{ApiError, Target};
use crate::storage::watch_cache::{EventType, WatchCache};
use crate::storage::Store;
use crate::ApiServer;

/// How long a first use waits for the kind's watch cache to start.
const CACHE_START: Duration = Duration::from_secs(10);

/// Which webhooks a configuration holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `MutatingWebhookConfiguration`.
    Mutating,
    /// `ValidatingWebhookConfiguration`.
    Validating,
    /// `ValidatingAdmissionPolicy` (see
    /// [`crate::admission::validating_admission_policy`]).
    ValidatingPolicy,
    /// `ValidatingAdmissionPolicyBinding`.
    ValidatingPolicyBinding,
    /// `MutatingAdmissionPolicy` (see
    /// [`crate::admission::mutating_admission_policy`]).
    MutatingPolicy,
    /// `MutatingAdmissionPolicyBinding`.
    MutatingPolicyBinding,
}

impl Kind {
    const ALL: [Kind; 6] = [
        Kind::Mutating,
        Kind::Validating,
        Kind::ValidatingPolicy,
        Kind::ValidatingPolicyBinding,
        Kind::MutatingPolicy,
        Kind::MutatingPolicyBinding,
    ];

    fn plural(self) -> &'static str {
        match self {
            Kind::Mutating => "mutatingwebhookconfigurations",
            Kind::Validating => "validatingwebhookconfigurations",
            Kind::ValidatingPolicy => "validatingadmissionpolicies",
            Kind::ValidatingPolicyBinding => "validatingadmissionpolicybindings",
            Kind::MutatingPolicy => "mutatingadmissionpolicies",
            Kind::MutatingPolicyBinding => "mutatingadmissionpolicybindings",
        }
    }
}

/// The configurations of every kind (one per server).
///
/// A server started with [`crate::start`] follows them from its start
/// ([`Configurations::start`]); a request that comes before a kind's first
/// list waits for it. Server state that was never started (unit tests that
/// drive the handlers with an unreachable etcd) has no dynamic admission.
#[derive(Debug, Default)]
pub struct Configurations {
    started: std::sync::atomic::AtomicBool,
    mutating: OnceCell<Arc<Source>>,
    validating: OnceCell<Arc<Source>>,
    policies: OnceCell<Arc<Source>>,
    policy_bindings: OnceCell<Arc<Source>>,
    mutating_policies: OnceCell<Arc<Source>>,
    mutating_policy_bindings: OnceCell<Arc<Source>>,
}

impl Configurations {
    /// Starts following every kind in the background.
    pub fn start(&self, server: &Arc<ApiServer>) {
        self.started
            .store(true, std::sync::atomic::Ordering::Release);
        let server = Arc::downgrade(server);
        tokio::spawn(async move {
            for kind in Kind::ALL {
                // Retried until etcd answers; requests meanwhile wait (or
                // start the list themselves).
                loop {
                    let Some(s) = server.upgrade() else { return };
                    match s.webhooks.source(&s, kind).await {
                        Ok(_) => break,
                        Err(e) => {
                            tracing::warn!(error = %e, ?kind, "starting admission configurations");
                            drop(s);
                            tokio::time::sleep(Duration::from_secs(1)).await;
                        }
                    }
                }
            }
        });
    }

    /// Every configuration of `kind`, sorted by name (the order upstream
    /// calls them in).
    pub async fn list(&self, server: &ApiServer, kind: Kind) -> Result<Arc<Vec<Value>>, ApiError> {
        if !self.started.load(std::sync::atomic::Ordering::Acquire) {
            return Ok(Arc::default());
        }
        Ok(self.source(server, kind).await?.snapshot())
    }

    async fn source(&self, server: &ApiServer, kind: Kind) -> Result<&Arc<Source>, ApiError> {
        let cell = match kind {
            Kind::Mutating => &self.mutating,
            Kind::Validating => &self.validating,
            Kind::ValidatingPolicy => &self.policies,
            Kind::ValidatingPolicyBinding => &self.policy_bindings,
            Kind::MutatingPolicy => &self.mutating_policies,
            Kind::MutatingPolicyBinding => &self.mutating_policy_bindings,
        };
        cell.get_or_try_init(|| Source::start(server, kind)).await
    }
}

/// The configurations of one kind, as of the last watch event.
#[derive(Debug)]
struct Source {
    objects: RwLock<Held>,
}

/// The configurations by name, and the same as the list handed out (built
/// once per change, shared by every request until the next).
#[derive(Debug, Default)]
struct Held {
    by_name: BTreeMap<String, Value>,
    list: Arc<Vec<Value>>,
}

impl Source {
    async fn start(server: &ApiServer, kind: Kind) -> Result<Arc<Source>, ApiError> {
        let resource: &'static ResourceInfo =
            resources::find("admissionregistration.k8s.io", "v1", kind.plural())
                .ok_or_else(|| ApiError::Internal(format!("{} are not served", kind.plural())))?;
        let cache = server.cache(resource);
        cache.wait_ready(CACHE_START).await?;
        let store = server.store.clone();
        let prefix = store.collection_prefix(resource.storage_name(), None);
        let (objects, rev) = list(&store, &prefix).await?;
        let source = Arc::new(Source {
            objects: RwLock::new(Held::default()),
        });
        source.replace(objects);
        tokio::spawn(follow(Arc::downgrade(&source), cache, store, prefix, rev));
        Ok(source)
    }

    fn snapshot(&self) -> Arc<Vec<Value>> {
        match self.objects.read() {
            Ok(g) => Arc::clone(&g.list),
            Err(poisoned) => Arc::clone(&poisoned.into_inner().list),
        }
    }

    fn edit(&self, f: impl FnOnce(&mut BTreeMap<String, Value>)) {
        let mut guard = match self.objects.write() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        f(&mut guard.by_name);
        guard.list = Arc::new(guard.by_name.values().cloned().collect());
    }

    fn replace(&self, objects: BTreeMap<String, Value>) {
        self.edit(|map| *map = objects);
    }
}

fn name_of(obj: &Value) -> String {
    obj.pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

async fn list(store: &Store, prefix: &str) -> Result<(BTreeMap<String, Value>, i64), ApiError> {
    let page = store
        .list(prefix, None, 0, 0)
        .await
        .map_err(|e| ApiError::from_storage(e, Target::default()))?;
    let objects = page
        .items
        .into_iter()
        .map(|(_, s)| (name_of(&s.object), s.object))
        .collect();
    Ok((objects, page.revision))
}

/// Applies the cache's events to `source` until the source is dropped.
async fn follow(
    source: Weak<Source>,
    cache: Arc<WatchCache>,
    store: Store,
    prefix: String,
    mut rev: i64,
) {
    loop {
        let Ok(mut sub) = cache.subscribe(rev) else {
            // Older than the cache's window: start over from a fresh list.
            let Some(s) = source.upgrade() else { return };
            match list(&store, &prefix).await {
                Ok((objects, at)) => {
                    s.replace(objects);
                    rev = at;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "listing webhook configurations");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
            continue;
        };
        for ev in sub.backlog.drain(..) {
            let Some(s) = source.upgrade() else { return };
            apply(&s, ev.kind, &ev.object);
            rev = ev.rev;
        }
        loop {
            tokio::select! {
                ev = sub.live.recv() => match ev {
                    Ok(ev) => {
                        let Some(s) = source.upgrade() else { return };
                        apply(&s, ev.kind, &ev.object);
                        rev = ev.rev;
                    }
                    // Fell behind: resubscribe from the last event applied
                    // (served from the cache's window).
                    Err(broadcast::error::RecvError::Lagged(_)) => break,
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                changed = sub.reset.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    // The cache lost history: what we hold may be stale.
                    rev = 0;
                    break;
                }
            }
        }
    }
}

fn apply(source: &Source, kind: EventType, obj: &Value) {
    let name = name_of(obj);
    source.edit(|map| match kind {
        EventType::Deleted => {
            map.remove(&name);
        }
        EventType::Added | EventType::Modified => {
            map.insert(name, obj.clone());
        }
    });
}
