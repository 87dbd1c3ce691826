//! The one shape of every controller: handlers enqueue keys, workers pop
//! them and call `reconcile(key)`, and the result decides what happens next.
//!
//! ```text
//!  informer events ──▶ handler(old,new) ──▶ Queue ──▶ worker ──▶ reconcile(key)
//!                                            ▲                       │
//!                                            └── Requeue / backoff ◀─┘
//! ```
//! Reconcile is level-triggered: it reads the cache, compares desired with
//! actual state and acts; it must be safe to call again at any time.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::Instrument;

use super::queue::Queue;

/// What to do with a key after a successful reconcile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Nothing until the next event.
    Done,
    /// Look again after this long (minReadySeconds, deadlines, schedules).
    RequeueAfter(Duration),
}

/// Reconcile failures: the key is retried with backoff.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An apiserver request failed.
    #[error("{context}: {source}")]
    Api {
        /// What we were doing.
        context: String,
        /// Why it failed.
        #[source]
        source: kube::Error,
    },
    /// Something in the object makes it impossible to act.
    #[error("{0}")]
    Invalid(String),
    /// (De)serialization failed.
    #[error("{context}: {source}")]
    Json {
        /// What we were doing.
        context: String,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
}

/// Shorthand.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Attaches context to apiserver errors.
pub trait Context<T> {
    /// Wraps the error with `context`.
    fn context(self, context: impl FnOnce() -> String) -> Result<T>;
}

impl<T> Context<T> for std::result::Result<T, kube::Error> {
    fn context(self, context: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| Error::Api {
            context: context(),
            source,
        })
    }
}

/// Whether an apiserver error is 404.
pub fn is_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}

/// Whether an apiserver error is 409.
pub fn is_conflict(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 409)
}

/// A controller's reconcile function.
pub trait Reconciler: Send + Sync + 'static {
    /// The controller's name (`replicaset`, `deployment`, ...).
    fn name(&self) -> &'static str;
    /// Brings the object with `key` to its desired state.
    fn reconcile(&self, key: &str) -> impl Future<Output = Result<Action>> + Send;
}

/// Counters per controller, for `/metrics`.
#[derive(Debug, Default)]
pub struct Stats {
    /// Reconciles run.
    pub reconciles: AtomicU64,
    /// Reconciles that failed.
    pub errors: AtomicU64,
    /// Total reconcile time in microseconds.
    pub micros: AtomicU64,
}

/// Runs `workers` workers over `queue` until the queue shuts down.
pub async fn run<R: Reconciler>(r: Arc<R>, queue: Arc<Queue>, workers: usize, stats: Arc<Stats>) {
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..workers.max(1) {
        let (r, queue, stats) = (Arc::clone(&r), Arc::clone(&queue), Arc::clone(&stats));
        set.spawn(async move {
            while let Some(key) = queue.get().await {
                let span = tracing::info_span!("reconcile", controller = r.name(), key = %key);
                let start = Instant::now();
                let result = r.reconcile(&key).instrument(span.clone()).await;
                stats.reconciles.fetch_add(1, Ordering::Relaxed);
                stats
                    .micros
                    .fetch_add(start.elapsed().as_micros() as u64, Ordering::Relaxed);
                match result {
                    Ok(Action::Done) => queue.forget(&key),
                    Ok(Action::RequeueAfter(d)) => {
                        queue.forget(&key);
                        queue.add_after(key.clone(), d);
                    }
                    Err(e) => {
                        stats.errors.fetch_add(1, Ordering::Relaxed);
                        let conflict =
                            matches!(&e, Error::Api { source, .. } if is_conflict(source));
                        if conflict {
                            span.in_scope(|| tracing::debug!(error = %e, "conflict; retrying"));
                        } else {
                            span.in_scope(
                                || tracing::warn!(error = %e, "reconcile failed; retrying"),
                            );
                        }
                        queue.add_rate_limited(&key);
                    }
                }
                queue.done(&key);
            }
        });
    }
    while set.join_next().await.is_some() {}
}
