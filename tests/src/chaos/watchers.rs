//! The watchers whose streams the report checks: raw watches that resume
//! from the last resourceVersion they saw, exactly as an informer does, and
//! one kube-rs reflector (the informer every controller here is built on).
//!
//! A raw watcher keeps every event's resourceVersion. A `410 Gone` makes it
//! re-list (the list's resourceVersion is kept: a re-list covers every write
//! at or before it, which is how a correct client recovers from compaction);
//! any other ERROR event is counted, because a watch must never turn into an
//! error when etcd or the apiserver restarts.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams, WatchEvent, WatchParams};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{watcher, WatchStreamExt};
use tokio::sync::watch;

use super::LOAD_LABEL;

/// What one raw watcher saw.
#[derive(Debug, Default)]
pub struct WatcherLog {
    /// resourceVersions of ADDED/MODIFIED/DELETED events, in arrival order.
    pub events: Vec<u64>,
    /// resourceVersions of the lists (the first one and every re-list).
    pub lists: Vec<u64>,
    /// Events whose resourceVersion had been delivered before.
    pub duplicates: u64,
    /// Events not newer than the one before (or than the list before).
    pub out_of_order: u64,
    /// `410 Gone` answers (each followed by a re-list).
    pub gone: u64,
    /// ERROR events other than 410.
    pub errors: u64,
    /// Watch streams that ended or failed and were opened again.
    pub reconnects: u64,
    /// The newest resourceVersion known (events, bookmarks, lists).
    pub newest: u64,
    seen: HashSet<u64>,
}

impl WatcherLog {
    fn event(&mut self, rv: u64) {
        if !self.seen.insert(rv) {
            self.duplicates += 1;
        } else if rv <= self.newest_event_or_list() {
            self.out_of_order += 1;
        }
        self.events.push(rv);
        self.newest = self.newest.max(rv);
    }

    fn newest_event_or_list(&self) -> u64 {
        let e = self.events.last().copied().unwrap_or(0);
        let l = self.lists.last().copied().unwrap_or(0);
        e.max(l)
    }

    /// Whether a write at `rv` reached this watcher: as an event, or
    /// inside a list taken at or after it.
    pub fn covers(&self, rv: u64) -> bool {
        self.seen.contains(&rv) || self.lists.iter().any(|l| *l >= rv)
    }
}

/// A shared, growing log.
pub type SharedLog = Arc<Mutex<WatcherLog>>;

fn rv(s: Option<&str>) -> u64 {
    s.and_then(|v| v.parse().ok()).unwrap_or(0)
}

async fn list_rv(api: &Api<ConfigMap>, stop: &watch::Receiver<bool>) -> Option<u64> {
    loop {
        if *stop.borrow() {
            return None;
        }
        match api.list(&ListParams::default().labels(LOAD_LABEL)).await {
            Ok(list) => return Some(rv(list.metadata.resource_version.as_deref())),
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

/// Starts `n` raw watchers; each has listed before this returns.
pub async fn spawn(
    api: &Api<ConfigMap>,
    n: usize,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<Vec<SharedLog>> {
    let mut logs = Vec::with_capacity(n);
    for _ in 0..n {
        let log: SharedLog = Arc::default();
        let start = list_rv(api, &stop)
            .await
            .ok_or_else(|| anyhow::anyhow!("stopped before the first list"))?;
        {
            let mut l = log.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
            l.lists.push(start);
            l.newest = start;
        }
        tokio::spawn(run_one(api.clone(), Arc::clone(&log), start, stop.clone()));
        logs.push(log);
    }
    Ok(logs)
}

async fn run_one(
    api: Api<ConfigMap>,
    log: SharedLog,
    mut from: u64,
    mut stop: watch::Receiver<bool>,
) {
    let params = WatchParams::default().labels(LOAD_LABEL).timeout(60);
    'watch: loop {
        if *stop.borrow() {
            return;
        }
        let stream = match api.watch(&params, &from.to_string()).await {
            Ok(s) => s,
            Err(_) => {
                if let Ok(mut l) = log.lock() {
                    l.reconnects += 1;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        let mut stream = std::pin::pin!(stream);
        loop {
            let item = tokio::select! {
                item = stream.next() => item,
                _ = stop.changed() => return,
            };
            let Some(item) = item else {
                // The server ended the watch (its timeout, or a restart).
                if let Ok(mut l) = log.lock() {
                    l.reconnects += 1;
                }
                continue 'watch;
            };
            // What to do next is decided under the lock; the waiting happens
            // after it is released.
            enum Next {
                Continue,
                Relist,
                Rewatch,
                Reconnect,
            }
            let next = {
                let Ok(mut l) = log.lock() else { return };
                match item {
                    Ok(WatchEvent::Added(o) | WatchEvent::Modified(o) | WatchEvent::Deleted(o)) => {
                        let r = rv(o.metadata.resource_version.as_deref());
                        l.event(r);
                        from = r;
                        Next::Continue
                    }
                    Ok(WatchEvent::Bookmark(b)) => {
                        let r = rv(Some(&b.metadata.resource_version));
                        l.newest = l.newest.max(r);
                        from = from.max(r);
                        Next::Continue
                    }
                    Ok(WatchEvent::Error(status)) if status.code == 410 => {
                        l.gone += 1;
                        Next::Relist
                    }
                    Ok(WatchEvent::Error(_)) => {
                        l.errors += 1;
                        l.reconnects += 1;
                        Next::Rewatch
                    }
                    Err(_) => {
                        l.reconnects += 1;
                        Next::Reconnect
                    }
                }
            };
            match next {
                Next::Continue => {}
                Next::Rewatch => continue 'watch,
                Next::Reconnect => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue 'watch;
                }
                Next::Relist => {
                    let Some(at) = list_rv(&api, &stop).await else {
                        return;
                    };
                    let Ok(mut l) = log.lock() else { return };
                    l.lists.push(at);
                    l.newest = l.newest.max(at);
                    from = at;
                    continue 'watch;
                }
            }
        }
    }
}

/// Waits until every watcher has seen `rv` (or listed past it); returns how
/// many had not within `timeout`.
pub async fn wait_for(logs: &[SharedLog], rv: u64, timeout: Duration) -> usize {
    let deadline = Instant::now() + timeout;
    loop {
        let behind = logs
            .iter()
            .filter(|l| l.lock().map(|l| !l.covers(rv)).unwrap_or(true))
            .count();
        if behind == 0 || Instant::now() > deadline {
            return behind;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The kube-rs reflector of the load.
pub struct Reflector {
    store: Store<ConfigMap>,
    task: tokio::task::JoinHandle<()>,
}

/// Starts a kube-rs reflector (with its default backoff) on the load.
pub fn spawn_reflector(api: Api<ConfigMap>, mut stop: watch::Receiver<bool>) -> Reflector {
    let (store, writer) = reflector::store();
    let task = tokio::spawn(async move {
        let stream = reflector::reflector(
            writer,
            watcher(api, watcher::Config::default().labels(LOAD_LABEL)).default_backoff(),
        )
        .applied_objects();
        let mut stream = std::pin::pin!(stream);
        loop {
            tokio::select! {
                item = stream.next() => if item.is_none() { return },
                _ = stop.changed() => return,
            }
        }
    });
    Reflector { store, task }
}

impl Reflector {
    /// The reflector's copy (name -> resourceVersion) once it holds an
    /// object at `rv` or newer, or whatever it holds after `timeout`.
    pub async fn state_when(&self, rv: u64, timeout: Duration) -> BTreeMap<String, u64> {
        let deadline = Instant::now() + timeout;
        loop {
            let state: BTreeMap<String, u64> = self
                .store
                .state()
                .iter()
                .map(|o| {
                    (
                        o.metadata.name.clone().unwrap_or_default(),
                        self::rv(o.metadata.resource_version.as_deref()),
                    )
                })
                .collect();
            if state.values().any(|r| *r >= rv) || Instant::now() > deadline {
                return state;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Stops the reflector.
    pub fn stop(self) {
        self.task.abort();
    }
}
