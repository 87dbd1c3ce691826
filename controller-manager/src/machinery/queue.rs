//! A work queue of object keys (`namespace/name`), like client-go's
//! `workqueue.RateLimitingInterface`.
//!
//! - **dirty**: keys waiting to be processed; adding a key that is already
//!   dirty does nothing, so a burst of events costs one reconcile.
//! - **processing**: keys a worker holds; a key added while processing is
//!   queued again only when the worker calls [`Queue::done`], so one key is
//!   never reconciled by two workers at once.
//! - **rate limiting**: [`Queue::add_rate_limited`] re-adds after an
//!   exponential per-key backoff (5 ms doubling up to 1000 s) until
//!   [`Queue::forget`] resets it.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;

#[derive(Default)]
struct State {
    queue: VecDeque<String>,
    dirty: HashSet<String>,
    processing: HashSet<String>,
    failures: HashMap<String, u32>,
    shutdown: bool,
}

/// A de-duplicating, rate-limited work queue.
pub struct Queue {
    name: &'static str,
    state: Mutex<State>,
    notify: Notify,
    base_delay: Duration,
    max_delay: Duration,
}

impl Queue {
    /// An empty queue.
    pub fn new(name: &'static str) -> Arc<Queue> {
        Arc::new(Queue {
            name,
            state: Mutex::new(State::default()),
            notify: Notify::new(),
            base_delay: Duration::from_millis(5),
            max_delay: Duration::from_secs(1000),
        })
    }

    /// The queue's (controller's) name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Marks `key` as needing processing.
    pub fn add(&self, key: impl Into<String>) {
        let key = key.into();
        let mut s = self.lock();
        if s.shutdown || s.dirty.contains(&key) {
            return;
        }
        s.dirty.insert(key.clone());
        if !s.processing.contains(&key) {
            s.queue.push_back(key);
            drop(s);
            self.notify.notify_one();
        }
    }

    /// Adds `key` after `delay`.
    pub fn add_after(self: &Arc<Self>, key: impl Into<String>, delay: Duration) {
        let key = key.into();
        if delay.is_zero() {
            self.add(key);
            return;
        }
        let q = Arc::clone(self);
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            q.add(key);
        });
    }

    /// Adds `key` after its exponential backoff, and counts a failure.
    pub fn add_rate_limited(self: &Arc<Self>, key: &str) {
        let n = {
            let mut s = self.lock();
            let n = s.failures.entry(key.to_string()).or_insert(0);
            *n += 1;
            *n
        };
        let factor = 2u64.saturating_pow(n.saturating_sub(1).min(40));
        let delay = self
            .base_delay
            .saturating_mul(factor.min(u32::MAX as u64) as u32)
            .min(self.max_delay);
        self.add_after(key.to_string(), delay);
    }

    /// How many times `key` failed in a row.
    pub fn failures(&self, key: &str) -> u32 {
        self.lock().failures.get(key).copied().unwrap_or(0)
    }

    /// Resets `key`'s backoff.
    pub fn forget(&self, key: &str) {
        self.lock().failures.remove(key);
    }

    /// Waits for the next key; `None` once shut down.
    pub async fn get(&self) -> Option<String> {
        loop {
            {
                let mut s = self.lock();
                if s.shutdown {
                    return None;
                }
                if let Some(key) = s.queue.pop_front() {
                    s.dirty.remove(&key);
                    s.processing.insert(key.clone());
                    return Some(key);
                }
            }
            self.notify.notified().await;
        }
    }

    /// The worker finished `key`; if it was added meanwhile, queue it again.
    pub fn done(&self, key: &str) {
        let mut s = self.lock();
        s.processing.remove(key);
        if s.dirty.contains(key) {
            s.queue.push_back(key.to_string());
            drop(s);
            self.notify.notify_one();
        }
    }

    /// Keys waiting.
    pub fn len(&self) -> usize {
        self.lock().queue.len()
    }

    /// Whether no key waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Stops handing out keys.
    pub fn shutdown(&self) {
        self.lock().shutdown = true;
        self.notify.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn dedups_and_never_hands_a_key_out_twice() {
        let q = Queue::new("t");
        q.add("a");
        q.add("a");
        q.add("b");
        assert_eq!(q.len(), 2);
        let k = q.get().await.unwrap();
        assert_eq!(k, "a");
        // Added while processing: waits for done().
        q.add("a");
        assert_eq!(q.get().await.unwrap(), "b");
        assert!(q.is_empty());
        q.done("a");
        assert_eq!(q.get().await.unwrap(), "a");
    }

    #[tokio::test]
    async fn rate_limited_backoff_grows_and_forget_resets() {
        let q = Queue::new("t");
        q.add_rate_limited("x");
        q.add_rate_limited("x");
        assert_eq!(q.failures("x"), 2);
        let k = tokio::time::timeout(Duration::from_secs(1), q.get())
            .await
            .unwrap();
        assert_eq!(k.as_deref(), Some("x"));
        q.forget("x");
        assert_eq!(q.failures("x"), 0);
    }
}
