//! The scheduling queue: which pod to try next.
//!
//! Three places a pending pod can be (upstream `PriorityQueue`):
//!
//! - **active**: ready to be tried, highest `spec.priority` first, then the
//!   oldest;
//! - **backoff**: failed recently; waits `initial * 2^(attempts-1)` (capped)
//!   before going back to active, so one unschedulable pod cannot hog the
//!   scheduler;
//! - **unschedulable**: no node fits and nothing has changed since. It stays
//!   until a cluster event that one of the plugins which rejected it cares
//!   about (a node added, a pod deleted...) moves it to backoff or active, or
//!   until it has waited five minutes.
//!
//! A pod being scheduled is *in flight*. If a move event arrives meanwhile
//! and the attempt then fails, the pod goes to backoff rather than
//! unschedulable: the event may have been the one it was waiting for.

pub mod nominator;

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use crate::cache::PodInfo;
use crate::framework::ClusterEvent;

/// How long a pod may stay unschedulable without any event.
pub const MAX_UNSCHEDULABLE_DURATION: Duration = Duration::from_secs(300);

/// A pod in the queue, with its scheduling history.
#[derive(Debug, Clone)]
pub struct QueuedPod {
    /// The pod.
    pub info: Arc<PodInfo>,
    /// Scheduling attempts so far.
    pub attempts: u32,
    /// When it first entered the queue.
    pub initial_timestamp: Instant,
    /// When it last entered a queue.
    pub timestamp: Instant,
    /// Plugins that rejected it in its last attempt.
    pub unschedulable_plugins: HashSet<&'static str>,
}

/// Where a queued pod is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// Ready to be popped.
    Active,
    /// Waiting out its backoff.
    Backoff,
    /// Waiting for a cluster event.
    Unschedulable,
    /// Being scheduled.
    InFlight,
}

#[derive(Debug)]
struct Entry {
    pod: QueuedPod,
    place: Place,
    /// Bumped on every move, so stale heap entries are recognized.
    seq: u64,
    /// The scheduling cycle that popped it (in flight).
    cycle: u64,
}

#[derive(Debug, PartialEq, Eq)]
struct ActiveItem {
    priority: i32,
    timestamp: Instant,
    seq: u64,
    key: String,
}

impl Ord for ActiveItem {
    fn cmp(&self, other: &Self) -> Ordering {
        self.priority
            .cmp(&other.priority)
            .then_with(|| other.timestamp.cmp(&self.timestamp))
            .then_with(|| other.seq.cmp(&self.seq))
    }
}

impl PartialOrd for ActiveItem {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Queue tuning.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    /// First backoff.
    pub initial: Duration,
    /// Longest backoff.
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Backoff {
        Backoff {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(10),
        }
    }
}

impl Backoff {
    /// Backoff after `attempts` failed attempts.
    pub fn duration(&self, attempts: u32) -> Duration {
        let shift = attempts.saturating_sub(1).min(20);
        self.initial.saturating_mul(1 << shift).min(self.max)
    }
}

#[derive(Debug, Default)]
struct Inner {
    entries: HashMap<String, Entry>,
    active: BinaryHeap<ActiveItem>,
    backoff: BinaryHeap<Reverse<(Instant, u64, String)>>,
    next_seq: u64,
    cycle: u64,
    move_request_cycle: u64,
    closed: bool,
    last_leftover_flush: Option<Instant>,
}

/// Counts per place, for metrics.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pending {
    /// Active.
    pub active: usize,
    /// Backoff.
    pub backoff: usize,
    /// Unschedulable.
    pub unschedulable: usize,
}

/// The queue (cheap to clone).
#[derive(Clone)]
pub struct SchedulingQueue {
    inner: Arc<Mutex<Inner>>,
    notify: Arc<Notify>,
    backoff: Backoff,
    events: Arc<HashMap<&'static str, HashSet<ClusterEvent>>>,
}

impl Inner {
    fn push_active(&mut self, key: &str) {
        self.next_seq += 1;
        let seq = self.next_seq;
        if let Some(e) = self.entries.get_mut(key) {
            e.place = Place::Active;
            e.seq = seq;
            self.active.push(ActiveItem {
                priority: e.pod.info.priority,
                timestamp: e.pod.timestamp,
                seq,
                key: key.to_string(),
            });
        }
    }

    fn push_backoff(&mut self, key: &str, until: Instant) {
        self.next_seq += 1;
        let seq = self.next_seq;
        if let Some(e) = self.entries.get_mut(key) {
            e.place = Place::Backoff;
            e.seq = seq;
            self.backoff.push(Reverse((until, seq, key.to_string())));
        }
    }

    fn flush_backoff(&mut self, now: Instant) {
        while let Some(Reverse((until, seq, _))) = self.backoff.peek() {
            if *until > now {
                break;
            }
            let (seq, key) = (*seq, self.backoff.pop().map(|r| r.0 .2).unwrap_or_default());
            if self
                .entries
                .get(&key)
                .is_some_and(|e| e.seq == seq && e.place == Place::Backoff)
            {
                self.push_active(&key);
            }
        }
    }
}

impl SchedulingQueue {
    /// A queue with these backoffs and the events each plugin registered.
    pub fn new(backoff: Backoff, events: HashMap<&'static str, HashSet<ClusterEvent>>) -> Self {
        SchedulingQueue {
            inner: Arc::default(),
            notify: Arc::new(Notify::new()),
            backoff,
            events: Arc::new(events),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a new pending pod (or updates it if known).
    pub fn add(&self, info: Arc<PodInfo>) {
        let mut g = self.lock();
        if g.entries.contains_key(&info.key) {
            drop(g);
            self.update(info);
            return;
        }
        let now = Instant::now();
        let key = info.key.clone();
        g.entries.insert(
            key.clone(),
            Entry {
                pod: QueuedPod {
                    info,
                    attempts: 0,
                    initial_timestamp: now,
                    timestamp: now,
                    unschedulable_plugins: HashSet::new(),
                },
                place: Place::Active,
                seq: 0,
                cycle: 0,
            },
        );
        g.push_active(&key);
        drop(g);
        self.notify.notify_one();
    }

    /// A pending pod changed. If it was unschedulable and its spec or labels
    /// changed, it gets another chance.
    pub fn update(&self, info: Arc<PodInfo>) {
        let mut g = self.lock();
        let Some(e) = g.entries.get_mut(&info.key) else {
            drop(g);
            self.add(info);
            return;
        };
        let changed = e.pod.info.pod.spec != info.pod.spec
            || e.pod.info.pod.metadata.labels != info.pod.metadata.labels;
        e.pod.info = info;
        if changed && e.place == Place::Unschedulable {
            let (key, attempts, ts) = (e.pod.info.key.clone(), e.pod.attempts, e.pod.timestamp);
            let until = ts + self.backoff.duration(attempts);
            if until > Instant::now() {
                g.push_backoff(&key, until);
            } else {
                g.push_active(&key);
            }
            drop(g);
            self.notify.notify_one();
        }
    }

    /// Forgets a pod (deleted, or bound by someone).
    pub fn delete(&self, key: &str) {
        self.lock().entries.remove(key);
    }

    /// Whether the pod is known (any place).
    pub fn contains(&self, key: &str) -> bool {
        self.lock().entries.contains_key(key)
    }

    /// Where a pod is.
    pub fn place(&self, key: &str) -> Option<Place> {
        self.lock().entries.get(key).map(|e| e.place)
    }

    /// Waits for the next pod to schedule; `None` once closed. Returns the
    /// pod and the scheduling cycle number.
    pub async fn pop(&self) -> Option<(QueuedPod, u64)> {
        loop {
            let wait_until = {
                let mut g = self.lock();
                if g.closed {
                    return None;
                }
                let now = Instant::now();
                g.flush_backoff(now);
                if g.last_leftover_flush
                    .is_none_or(|t| now - t > Duration::from_secs(30))
                {
                    g.last_leftover_flush = Some(now);
                    let stale: Vec<String> = g
                        .entries
                        .iter()
                        .filter(|(_, e)| {
                            e.place == Place::Unschedulable
                                && now - e.pod.timestamp > MAX_UNSCHEDULABLE_DURATION
                        })
                        .map(|(k, _)| k.clone())
                        .collect();
                    for k in stale {
                        g.push_active(&k);
                    }
                }
                while let Some(item) = g.active.pop() {
                    let cycle = g.cycle + 1;
                    let Some(e) = g.entries.get_mut(&item.key) else {
                        continue;
                    };
                    if e.seq != item.seq || e.place != Place::Active {
                        continue;
                    }
                    e.place = Place::InFlight;
                    e.pod.attempts += 1;
                    e.cycle = cycle;
                    let pod = e.pod.clone();
                    g.cycle = cycle;
                    return Some((pod, cycle));
                }
                g.backoff.peek().map(|r| r.0 .0)
            };
            let notified = self.notify.notified();
            match wait_until {
                Some(t) => {
                    let _ = tokio::time::timeout_at(t.into(), notified).await;
                }
                None => {
                    let _ = tokio::time::timeout(Duration::from_secs(30), notified).await;
                }
            }
        }
    }

    /// The attempt succeeded (the pod is assumed and binding): drop it.
    pub fn done(&self, key: &str) {
        let mut g = self.lock();
        if g.entries
            .get(key)
            .is_some_and(|e| e.place == Place::InFlight)
        {
            g.entries.remove(key);
        }
    }

    /// The attempt failed. With `plugins` (the rejecting plugins) the pod
    /// waits for a relevant event, unless one arrived while it was in
    /// flight; without, it goes to backoff (errors, failed bindings).
    pub fn requeue(&self, key: &str, plugins: Option<HashSet<&'static str>>) {
        let mut g = self.lock();
        let move_cycle = g.move_request_cycle;
        let Some(e) = g.entries.get_mut(key) else {
            // Deleted while in flight: nothing to do. A pod re-added after
            // a failed binding is re-created below by `add_after_failure`.
            return;
        };
        let now = Instant::now();
        e.pod.timestamp = now;
        let cycle = e.cycle;
        let attempts = e.pod.attempts;
        match plugins {
            Some(p) if move_cycle < cycle => {
                e.pod.unschedulable_plugins = p;
                self.next_seq_unschedulable(&mut g, key);
            }
            other => {
                if let Some(p) = other {
                    e.pod.unschedulable_plugins = p;
                }
                let until = now + self.backoff.duration(attempts);
                g.push_backoff(key, until);
                drop(g);
                self.notify.notify_one();
            }
        }
    }

    fn next_seq_unschedulable(&self, g: &mut Inner, key: &str) {
        g.next_seq += 1;
        let seq = g.next_seq;
        if let Some(e) = g.entries.get_mut(key) {
            e.place = Place::Unschedulable;
            e.seq = seq;
        }
    }

    /// A binding failed after [`SchedulingQueue::done`]: back into backoff.
    pub fn add_after_failure(&self, pod: QueuedPod) {
        let mut g = self.lock();
        let key = pod.info.key.clone();
        let until = Instant::now() + self.backoff.duration(pod.attempts);
        g.entries.insert(
            key.clone(),
            Entry {
                pod,
                place: Place::Backoff,
                seq: 0,
                cycle: 0,
            },
        );
        g.push_backoff(&key, until);
        drop(g);
        self.notify.notify_one();
    }

    /// A cluster event happened: unschedulable pods rejected by a plugin
    /// that registered it move to backoff (if still backing off) or active.
    pub fn move_on_event(&self, event: ClusterEvent) {
        let mut g = self.lock();
        g.move_request_cycle = g.cycle;
        let now = Instant::now();
        let movers: Vec<(String, Instant)> = g
            .entries
            .iter()
            .filter(|(_, e)| e.place == Place::Unschedulable)
            .filter(|(_, e)| {
                e.pod.unschedulable_plugins.is_empty()
                    || e.pod
                        .unschedulable_plugins
                        .iter()
                        .any(|p| self.events.get(p).is_none_or(|evs| evs.contains(&event)))
            })
            .map(|(k, e)| {
                (
                    k.clone(),
                    e.pod.timestamp + self.backoff.duration(e.pod.attempts),
                )
            })
            .collect();
        if movers.is_empty() {
            return;
        }
        for (k, until) in movers {
            if until > now {
                g.push_backoff(&k, until);
            } else {
                g.push_active(&k);
            }
        }
        drop(g);
        self.notify.notify_one();
    }

    /// Counts per place.
    pub fn pending(&self) -> Pending {
        let g = self.lock();
        let mut p = Pending::default();
        for e in g.entries.values() {
            match e.place {
                Place::Active => p.active += 1,
                Place::Backoff => p.backoff += 1,
                Place::Unschedulable => p.unschedulable += 1,
                Place::InFlight => {}
            }
        }
        p
    }

    /// Stops `pop`.
    pub fn close(&self) {
        self.lock().closed = true;
        self.notify.notify_waiters();
        self.notify.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(name: &str, prio: i32) -> Arc<PodInfo> {
        Arc::new(PodInfo::new(Arc::new(
            serde_json::from_value(json!({
                "metadata": {"name": name, "namespace": "default"},
                "spec": {"priority": prio, "containers": [{"name": "c"}]}
            }))
            .unwrap(),
        )))
    }

    fn queue(initial_ms: u64) -> SchedulingQueue {
        let mut events = HashMap::new();
        events.insert(
            "NodeResourcesFit",
            [ClusterEvent::NodeAdd, ClusterEvent::AssignedPodDelete]
                .into_iter()
                .collect(),
        );
        SchedulingQueue::new(
            Backoff {
                initial: Duration::from_millis(initial_ms),
                max: Duration::from_millis(initial_ms * 4),
            },
            events,
        )
    }

    #[tokio::test]
    async fn priority_then_fifo() {
        let q = queue(10);
        q.add(pod("low", 0));
        q.add(pod("high", 100));
        q.add(pod("low2", 0));
        let order: Vec<String> = [q.pop().await, q.pop().await, q.pop().await]
            .into_iter()
            .map(|p| p.unwrap().0.info.name.clone())
            .collect();
        assert_eq!(order, vec!["high", "low", "low2"]);
    }

    #[tokio::test]
    async fn unschedulable_waits_for_a_relevant_event() {
        let q = queue(10);
        q.add(pod("p", 0));
        let (p, _) = q.pop().await.unwrap();
        q.requeue(
            &p.info.key,
            Some(["NodeResourcesFit"].into_iter().collect()),
        );
        assert_eq!(q.place("default/p"), Some(Place::Unschedulable));
        q.move_on_event(ClusterEvent::NodeUpdate);
        assert_eq!(q.place("default/p"), Some(Place::Unschedulable));
        q.move_on_event(ClusterEvent::AssignedPodDelete);
        assert_ne!(q.place("default/p"), Some(Place::Unschedulable));
        let (p, _) = tokio::time::timeout(Duration::from_secs(2), q.pop())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(p.attempts, 2);
    }

    #[tokio::test]
    async fn event_during_flight_sends_to_backoff() {
        let q = queue(10);
        q.add(pod("p", 0));
        let (p, _) = q.pop().await.unwrap();
        q.move_on_event(ClusterEvent::NodeAdd);
        q.requeue(
            &p.info.key,
            Some(["NodeResourcesFit"].into_iter().collect()),
        );
        assert_eq!(q.place("default/p"), Some(Place::Backoff));
    }

    #[tokio::test]
    async fn backoff_grows_and_expires() {
        let b = Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_millis(300),
        };
        assert_eq!(b.duration(1), Duration::from_millis(100));
        assert_eq!(b.duration(2), Duration::from_millis(200));
        assert_eq!(b.duration(5), Duration::from_millis(300));
        let q = queue(50);
        q.add(pod("p", 0));
        let (p, _) = q.pop().await.unwrap();
        let t = Instant::now();
        q.requeue(&p.info.key, None);
        assert_eq!(q.pending().backoff, 1);
        q.pop().await.unwrap();
        assert!(t.elapsed() >= Duration::from_millis(45));
    }

    #[tokio::test]
    async fn deleted_in_flight_is_not_requeued() {
        let q = queue(10);
        q.add(pod("p", 0));
        let (p, _) = q.pop().await.unwrap();
        q.delete(&p.info.key);
        q.requeue(&p.info.key, None);
        assert!(!q.contains("default/p"));
        assert_eq!(q.pending(), Pending::default());
    }
}
