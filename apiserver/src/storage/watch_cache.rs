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
//! no event is lost or doubled in between). The apiserver starts the cache of
//! every built-in resource before it reports ready, so a resourceVersion a
//! client listed at is inside the window; a watch from an older revision (one
//! listed from an earlier apiserver process) is served by a private etcd watch
//! ([`history`]) while etcd still keeps that history; once etcd has compacted
//! it, the watcher gets an `ERROR` event with a 410 `Expired` Status and
//! re-lists, exactly as informers expect.
//!
//! Where etcd answers progress requests correctly ([`Store::watch_progress_reliable`]),
//! the feeder asks for a progress notification every second, so `current_rev`
//! advances even when nothing of this resource changes (the revision sent in
//! `BOOKMARK` events), and a history reader learns when it has caught up and
//! moves over to the cache. With an older etcd both go without: bookmarks
//! carry the revision of the last event, and a history reader stays on its
//! private watch until the watch ends.
//!
//! Both the feeder and history readers follow etcd the same way ([`follow`]):
//! when the etcd watch breaks (etcd restarted, the connection dropped), they
//! watch again from the revision after the last one delivered, so no watcher
//! notices anything. Only if that history is gone (compacted while etcd was
//! unreachable) does the cache reset: every open watcher gets its 410 and
//! re-lists.

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
    pub fn from_etcd(store: &Store, ev: &etcd_client::Event) -> Option<CacheEvent> {
        let kv = ev.kv()?;
        let prev = ev
            .prev_kv()
            .and_then(|p| store.decode(p.key(), p.value(), p.mod_revision()).ok())
            .map(|s| s.object);
        let rev = kv.mod_revision();
        let (kind, object) = match ev.event_type() {
            EtcdEventType::Put => {
                let kind = if kv.create_revision() == kv.mod_revision() {
                    EventType::Added
                } else {
                    EventType::Modified
                };
                match store.decode(kv.key(), kv.value(), rev) {
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

    /// Whether the cache has its starting revision.
    pub fn is_ready(&self) -> bool {
        *self.ready.borrow()
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

    /// The feeder: follows etcd from the cache's revision, forever.
    async fn feed(self: Arc<Self>) {
        let mut rev = self.revision_now().await;
        self.restart_window(rev, false);
        tracing::debug!(cache = %self.name, rev, "watch cache started");
        loop {
            let mut sink = FeederSink(&self);
            match follow(&self.store, &self.prefix, &self.name, rev + 1, &mut sink).await {
                Ok(()) => return,
                Err(compacted) => {
                    // Changes were compacted away while etcd was unreachable:
                    // nobody can tell what they were, so every watcher (whose
                    // resourceVersion is now compacted too) gets its 410.
                    tracing::warn!(cache = %self.name, error = %compacted, "watch history compacted; resetting watchers");
                    rev = self.revision_now().await;
                    self.restart_window(rev, true);
                }
            }
        }
    }

    /// etcd's current revision, waiting for etcd as long as it takes.
    async fn revision_now(&self) -> i64 {
        let mut backoff = Backoff::new();
        loop {
            match self.store.current_revision().await {
                Ok(rev) => return rev,
                Err(e) => {
                    tracing::debug!(cache = %self.name, error = %e, "watch cache waiting for etcd");
                    backoff.wait().await;
                }
            }
        }
    }
}

/// Where [`follow`] delivers what etcd reports.
trait Sink {
    /// One change; false when the consumer is gone.
    async fn event(&mut self, ev: CacheEvent) -> bool;
    /// Every change up to `rev` has been delivered; false when the consumer is gone.
    async fn progress(&mut self, rev: i64) -> bool;
    /// Resolves when the consumer is gone.
    async fn closed(&self);
}

/// The feeder's sink: the cache's window and broadcast.
struct FeederSink<'a>(&'a WatchCache);

impl Sink for FeederSink<'_> {
    async fn event(&mut self, ev: CacheEvent) -> bool {
        self.0.push(ev);
        true
    }

    async fn progress(&mut self, rev: i64) -> bool {
        self.0.current_rev.fetch_max(rev, Ordering::AcqRel);
        true
    }

    async fn closed(&self) {
        std::future::pending::<()>().await
    }
}

/// Doubling waits between attempts to reach etcd: 100 ms up to 2 s.
struct Backoff(Duration);

impl Backoff {
    fn new() -> Backoff {
        Backoff(Duration::from_millis(100))
    }

    async fn wait(&mut self) {
        tokio::time::sleep(self.0).await;
        self.0 = (self.0 * 2).min(Duration::from_secs(2));
    }
}

/// Why one etcd watch session ended.
enum SessionEnd {
    /// The consumer went away.
    Closed,
    /// etcd no longer has the history asked for.
    Compacted(StorageError),
    /// etcd went away or refused; watching again from `next` is safe.
    Broken(StorageError),
}

/// Follows every change under `prefix` from revision `from` on, as one etcd
/// watch that is opened again after every failure (an etcd restart, a lost
/// connection) from the revision after the last one delivered, so the sink
/// sees each change exactly once and in order. Ends with `Ok` when the sink's
/// consumer is gone, and with `Compacted` only when etcd really no longer
/// has the changes that are still to deliver.
async fn follow(
    store: &Store,
    prefix: &str,
    name: &str,
    from: i64,
    sink: &mut impl Sink,
) -> Result<()> {
    let mut next = from;
    let mut backoff = Backoff::new();
    loop {
        match watch_session(store, prefix, &mut next, &mut backoff, sink).await {
            SessionEnd::Closed => return Ok(()),
            SessionEnd::Compacted(e) => return Err(e),
            SessionEnd::Broken(e) => {
                tracing::debug!(cache = %name, next, error = %e, "etcd watch broke; watching again");
                tokio::select! {
                    _ = backoff.wait() => {}
                    _ = sink.closed() => return Ok(()),
                }
            }
        }
    }
}

/// One etcd watch from `*next` until it breaks; advances `*next` past every
/// change delivered and every progress notification.
async fn watch_session(
    store: &Store,
    prefix: &str,
    next: &mut i64,
    backoff: &mut Backoff,
    sink: &mut impl Sink,
) -> SessionEnd {
    let requested = *next;
    // Without trustworthy progress answers the session only reports events;
    // BOOKMARKs then carry the last event's revision.
    let ask_progress = store.watch_progress_reliable().await;
    let mut client = store.watch_client();
    let opts = WatchOptions::new()
        .with_range(prefix_end(prefix))
        .with_start_revision(requested)
        .with_prev_key()
        .with_progress_notify();
    let opened = tokio::select! {
        r = tokio::time::timeout(Duration::from_secs(5), client.watch(prefix.to_string(), Some(opts))) => r,
        _ = sink.closed() => return SessionEnd::Closed,
    };
    let stream = match opened {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => return SessionEnd::Broken(StorageError::Unavailable(e.to_string())),
        Err(_) => return SessionEnd::Broken(StorageError::Timeout),
    };
    let (mut sender, mut responses) = stream.split();
    // Progress notifications move `current_rev` on while nothing of this
    // resource changes (the revision of BOOKMARKs) and tell a history reader
    // when it has caught up.
    let mut progress = tokio::time::interval(Duration::from_secs(1));
    loop {
        let msg = tokio::select! {
            _ = progress.tick(), if ask_progress => {
                if sender.request_progress().await.is_err() {
                    return SessionEnd::Broken(StorageError::Unavailable("watch request stream closed".into()));
                }
                continue;
            }
            _ = sink.closed() => return SessionEnd::Closed,
            msg = responses.message() => msg,
        };
        let resp = match msg {
            Ok(Some(resp)) => resp,
            Ok(None) => return SessionEnd::Broken(StorageError::Unavailable("watch ended".into())),
            Err(e) => return SessionEnd::Broken(StorageError::Unavailable(e.to_string())),
        };
        if resp.compact_revision() > 0 {
            return SessionEnd::Compacted(StorageError::Compacted {
                requested,
                compacted: resp.compact_revision(),
            });
        }
        if resp.canceled() {
            return SessionEnd::Broken(StorageError::Unavailable(format!(
                "watch canceled: {}",
                resp.cancel_reason()
            )));
        }
        if resp.created() {
            // etcd answers again: the next failure starts a fresh backoff.
            *backoff = Backoff::new();
            continue;
        }
        for ev in resp.events() {
            let rev = ev.kv().map(|kv| kv.mod_revision()).unwrap_or(*next);
            *next = (*next).max(rev + 1);
            if let Some(ev) = CacheEvent::from_etcd(store, ev) {
                if !sink.event(ev).await {
                    return SessionEnd::Closed;
                }
            }
        }
        // A response without events is a progress notification: everything
        // up to its header revision has been delivered.
        if resp.events().is_empty() {
            if let Some(h) = resp.header() {
                *next = (*next).max(h.revision() + 1);
                if !sink.progress(h.revision()).await {
                    return SessionEnd::Closed;
                }
            }
        }
    }
}

/// What a history reader receives.
#[derive(Debug)]
pub enum HistoryItem {
    /// One change, in revision order.
    Event(Arc<CacheEvent>),
    /// Every change up to this revision has been sent.
    Progress(i64),
}

/// The history reader's sink: a channel to one HTTP watcher.
struct ChannelSink(mpsc::Sender<Result<HistoryItem>>);

impl Sink for ChannelSink {
    async fn event(&mut self, ev: CacheEvent) -> bool {
        self.0
            .send(Ok(HistoryItem::Event(Arc::new(ev))))
            .await
            .is_ok()
    }

    async fn progress(&mut self, rev: i64) -> bool {
        self.0.send(Ok(HistoryItem::Progress(rev))).await.is_ok()
    }

    async fn closed(&self) {
        self.0.closed().await
    }
}

/// A private etcd watch over `prefix` from revision `from + 1`, for watchers
/// whose resourceVersion is older than the cache's window. It survives etcd
/// restarts as the cache's own watch does; the only error it sends is
/// `Compacted`, when that history is gone (the watcher's 410). `Progress`
/// items let the watcher move over to the cache once it has caught up.
pub fn history(store: &Store, prefix: String, from: i64) -> mpsc::Receiver<Result<HistoryItem>> {
    let (tx, rx) = mpsc::channel(256);
    let store = store.clone();
    tokio::spawn(async move {
        let mut sink = ChannelSink(tx);
        if let Err(e) = follow(&store, &prefix, "history", from + 1, &mut sink).await {
            let _ = sink.0.send(Err(e)).await;
        }
    });
    rx
}
