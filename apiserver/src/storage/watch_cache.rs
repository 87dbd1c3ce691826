//! The watch cache: one etcd watch per resource, shared by every HTTP watcher.
//!
//! Clients (kubectl `get -w`, every controller's informer) open watches all the
//! time, most of them from a `resourceVersion` they just listed at. Opening an
//! etcd watch for each would put etcd's load in the hands of the clients, so
//! each resource gets one [`WatchCache`]:
//!
//! ```text
//!  etcd --watch(prefix, prev_kv)--> feeder task --> window (last N events)
//!                                              \--> broadcast --> watcher tasks --> HTTP
//! ```
//!
//! The window holds every event with a revision in `(start_rev, current_rev]`.
//! A watch from revision `n >= start_rev` replays the window's events after `n`
//! and then follows the broadcast, atomically (both happen under one lock, so
//! no event is lost or doubled in between). A watch from an older revision is
//! served by a private etcd watch ([`history`]) while etcd still keeps that
//! history; once etcd has compacted it, the watcher gets an `ERROR` event with
//! a 410 `Expired` Status and re-lists, exactly as informers expect.
//!
//! The feeder asks etcd for progress notifications every second, so
//! `current_rev` advances even when nothing of this resource changes; that is
//! the revision sent in `BOOKMARK` events.
//!
//! If the etcd watch breaks (etcd restarted), the feeder re-watches from
//! `current_rev + 1` and no watcher notices anything. If that history is gone
//! (compacted while etcd was unreachable), the cache resets: every open watcher
//! is ended cleanly and re-lists.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use etcd_client::{EventType as EtcdEventType, WatchOptions};
use serde_json::Value;
use tokio::sync::{broadcast, mpsc, watch};

use super::etcd::{prefix_end, Store};
use super::{Result, StorageError};

/// How many recent events each resource keeps for watchers that resume.
const WINDOW: usize = 4096;
/// How far a single watcher may fall behind before it is cut off (it then
/// re-watches from its last revision, served from the window).
const BROADCAST_CAPACITY: usize = 2048;

/// The type of a watch event, as written on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// The object appeared (or started matching the watcher's selectors).
    Added,
    /// The object changed.
    Modified,
    /// The object went away (or stopped matching).
    Deleted,
}

impl EventType {
    /// `ADDED`, `MODIFIED` or `DELETED`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One change of one object, decoded once and shared by all watchers.
#[derive(Debug)]
pub struct CacheEvent {
    /// The etcd revision of the change (the object's new resourceVersion).
    pub rev: i64,
    /// What happened.
    pub kind: EventType,
    /// The object after the change; for deletions, its last state stamped with
    /// the deletion revision.
    pub object: Value,
    /// The object before the change (none for creations).
    pub prev: Option<Value>,
    /// `object` serialized once, so 100 watchers do not serialize it 100 times.
    pub object_json: Bytes,
}

impl CacheEvent {
    /// Decodes one etcd event. `None` for values that are not JSON objects
    /// (logged: the cache skips what it cannot understand rather than dying).
    pub fn from_etcd(ev: &etcd_client::Event) -> Option<CacheEvent> {
        let kv = ev.kv()?;
        let prev = ev
            .prev_kv()
            .and_then(|p| Store::decode(p.key(), p.value(), p.mod_revision()).ok())
            .map(|s| s.object);
        let rev = kv.mod_revision();
        let (kind, object) = match ev.event_type() {
            EtcdEventType::Put => {
                let kind = if kv.create_revision() == kv.mod_revision() {
                    EventType::Added
                } else {
                    EventType::Modified
                };
                match Store::decode(kv.key(), kv.value(), rev) {
                    Ok(s) => (kind, s.object),
                    Err(e) => {
                        tracing::warn!(error = %e, "skipping undecodable watch event");
                        return None;
                    }
                }
            }
            EtcdEventType::Delete => {
                let mut last = prev.clone()?;
                super::etcd::set_resource_version(&mut last, rev);
                (EventType::Deleted, last)
            }
        };
        let object_json = Bytes::from(serde_json::to_vec(&object).ok()?);
        Some(CacheEvent {
            rev,
            kind,
            object,
            prev,
            object_json,
        })
    }
}

struct Window {
    events: VecDeque<Arc<CacheEvent>>,
    /// Every event with revision > start_rev is in `events` (or newer).
    start_rev: i64,
}

/// A live subscription: the backlog to replay first, then the live stream.
pub struct Subscription {
    /// Events after the requested revision that happened before subscribing.
    pub backlog: Vec<Arc<CacheEvent>>,
    /// Events from now on.
    pub live: broadcast::Receiver<Arc<CacheEvent>>,
    /// Changes when the cache resets; the watcher must end then.
    pub reset: watch::Receiver<u64>,
}

/// The cache of one resource.
pub struct WatchCache {
    name: String,
    store: Store,
    prefix: String,
    window: Mutex<Window>,
    current_rev: AtomicI64,
    tx: broadcast::Sender<Arc<CacheEvent>>,
    reset: watch::Sender<u64>,
    ready: watch::Sender<bool>,
}

impl std::fmt::Debug for WatchCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WatchCache")
            .field("name", &self.name)
            .finish()
    }
}

/// Too old for the cache: the caller should read history from etcd.
#[derive(Debug)]
pub struct TooOld;

impl WatchCache {
    /// Creates the cache for keys under `prefix` and starts its feeder task.
    pub fn start(name: &str, store: Store, prefix: String) -> Arc<WatchCache> {
        let (tx, _) = broadcast::channel(BROADCAST_CAPACITY);
        let (reset, _) = watch::channel(0);
        let (ready, _) = watch::channel(false);
        let cache = Arc::new(WatchCache {
            name: name.to_string(),
            store,
            prefix,
            window: Mutex::new(Window {
                events: VecDeque::new(),
                start_rev: i64::MAX,
            }),
            current_rev: AtomicI64::new(0),
            tx,
            reset,
            ready,
        });
        let feeder = Arc::clone(&cache);
        tokio::spawn(async move { feeder.feed().await });
        cache
    }

    /// The newest revision the cache is known to be complete up to.
    pub fn current_rev(&self) -> i64 {
        self.current_rev.load(Ordering::Acquire)
    }

    /// Waits until the cache has its starting revision (etcd answered once).
    pub async fn wait_ready(&self, timeout: Duration) -> Result<()> {
        let mut rx = self.ready.subscribe();
        let outcome = tokio::time::timeout(timeout, rx.wait_for(|r| *r))
            .await
            .map(|r| r.is_ok());
        match outcome {
            Ok(true) => Ok(()),
            Ok(false) => Err(StorageError::Unavailable("watch cache stopped".into())),
            Err(_) => Err(StorageError::Timeout),
        }
    }

    /// Subscribes to every event after revision `from`.
    pub fn subscribe(&self, from: i64) -> std::result::Result<Subscription, TooOld> {
        let window = self.window.lock().map_err(|_| TooOld)?;
        if from < window.start_rev {
            return Err(TooOld);
        }
        let live = self.tx.subscribe();
        // Events are in revision order: skip from the front.
        let backlog = window
            .events
            .iter()
            .filter(|e| e.rev > from)
            .cloned()
            .collect();
        Ok(Subscription {
            backlog,
            live,
            reset: self.reset.subscribe(),
        })
    }

    fn push(&self, ev: CacheEvent) {
        let ev = Arc::new(ev);
        let rev = ev.rev;
        if let Ok(mut window) = self.window.lock() {
            if window.events.len() >= WINDOW {
                if let Some(old) = window.events.pop_front() {
                    window.start_rev = old.rev;
                }
            }
            window.events.push_back(Arc::clone(&ev));
            // Sent under the lock so that subscribe() sees each event exactly
            // once: either in the backlog or on the live channel.
            let _ = self.tx.send(ev);
        }
        self.current_rev.fetch_max(rev, Ordering::AcqRel);
    }

    fn restart_window(&self, rev: i64, reset_watchers: bool) {
        if let Ok(mut window) = self.window.lock() {
            window.events.clear();
            window.start_rev = rev;
        }
        self.current_rev.store(rev, Ordering::Release);
        if reset_watchers {
            self.reset.send_modify(|g| *g += 1);
        }
        self.ready.send_replace(true);
    }

    /// The feeder: keeps one etcd watch open, forever.
    async fn feed(self: Arc<Self>) {
        let mut backoff = Duration::from_millis(100);
        let mut started = false;
        loop {
            if !started {
                match self.store.current_revision().await {
                    Ok(rev) => {
                        self.restart_window(rev, false);
                        started = true;
                        tracing::debug!(cache = %self.name, rev, "watch cache started");
                    }
                    Err(e) => {
                        tracing::debug!(cache = %self.name, error = %e, "watch cache waiting for etcd");
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(Duration::from_secs(2));
                        continue;
                    }
                }
            }
            match self.watch_once().await {
                Ok(()) => {}
                Err(StorageError::Compacted { .. }) => {
                    tracing::warn!(cache = %self.name, "watch history compacted; resetting watchers");
                    match self.store.current_revision().await {
                        Ok(rev) => self.restart_window(rev, true),
                        Err(_) => started = false,
                    }
                }
                Err(e) => {
                    tracing::debug!(cache = %self.name, error = %e, "etcd watch broke; re-watching");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                    continue;
                }
            }
            backoff = Duration::from_millis(100);
        }
    }

    /// One etcd watch from `current_rev + 1` until it breaks.
    async fn watch_once(&self) -> Result<()> {
        let from = self.current_rev() + 1;
        let mut client = self.store.client();
        let opts = WatchOptions::new()
            .with_range(prefix_end(&self.prefix))
            .with_start_revision(from)
            .with_prev_key()
            .with_progress_notify();
        let stream = tokio::time::timeout(
            Duration::from_secs(5),
            client.watch(self.prefix.clone(), Some(opts)),
        )
        .await
        .map_err(|_| StorageError::Timeout)?
        .map_err(|e| StorageError::Unavailable(e.to_string()))?;
        let (mut sender, mut responses) = stream.split();
        let mut progress = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = progress.tick() => {
                    if sender.request_progress().await.is_err() {
                        return Err(StorageError::Unavailable("watch request stream closed".into()));
                    }
                }
                msg = responses.message() => {
                    let resp = match msg {
                        Ok(Some(resp)) => resp,
                        Ok(None) => return Err(StorageError::Unavailable("watch ended".into())),
                        Err(e) => return Err(StorageError::Unavailable(e.to_string())),
                    };
                    if resp.compact_revision() > 0 {
                        return Err(StorageError::Compacted { requested: from, compacted: resp.compact_revision() });
                    }
                    if resp.canceled() {
                        return Err(StorageError::Unavailable(format!("watch canceled: {}", resp.cancel_reason())));
                    }
                    for ev in resp.events() {
                        if let Some(ev) = CacheEvent::from_etcd(ev) {
                            self.push(ev);
                        }
                    }
                    // A response without events is a progress notification:
                    // everything up to its header revision has been delivered.
                    if resp.events().is_empty() && !resp.created() {
                        if let Some(h) = resp.header() {
                            self.current_rev.fetch_max(h.revision(), Ordering::AcqRel);
                        }
                    }
                }
            }
        }
    }
}

/// A private etcd watch over `prefix` from revision `from + 1`, for watchers
/// whose resourceVersion is older than the cache's window. Events arrive on
/// the returned channel; a `Compacted` error means the history is gone (410).
pub fn history(
    store: &Store,
    prefix: String,
    from: i64,
) -> mpsc::Receiver<Result<Arc<CacheEvent>>> {
    let (tx, rx) = mpsc::channel(256);
    let mut client = store.client();
    tokio::spawn(async move {
        let opts = WatchOptions::new()
            .with_range(prefix_end(&prefix))
            .with_start_revision(from + 1)
            .with_prev_key();
        let stream = match tokio::time::timeout(
            Duration::from_secs(5),
            client.watch(prefix.clone(), Some(opts)),
        )
        .await
        {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                let _ = tx.send(Err(StorageError::Unavailable(e.to_string()))).await;
                return;
            }
            Err(_) => {
                let _ = tx.send(Err(StorageError::Timeout)).await;
                return;
            }
        };
        let (_sender, mut responses) = stream.split();
        loop {
            let resp = tokio::select! {
                _ = tx.closed() => return,
                msg = responses.message() => match msg {
                    Ok(Some(resp)) => resp,
                    Ok(None) => return,
                    Err(e) => {
                        let _ = tx.send(Err(StorageError::Unavailable(e.to_string()))).await;
                        return;
                    }
                },
            };
            if resp.compact_revision() > 0 {
                let _ = tx
                    .send(Err(StorageError::Compacted {
                        requested: from,
                        compacted: resp.compact_revision(),
                    }))
                    .await;
                return;
            }
            if resp.canceled() {
                return;
            }
            for ev in resp.events() {
                if let Some(ev) = CacheEvent::from_etcd(ev) {
                    if tx.send(Ok(Arc::new(ev))).await.is_err() {
                        return;
                    }
                }
            }
        }
    });
    rx
}
