//! Expectations (upstream `controller_utils.go`): what a controller asked
//! the apiserver to do and has not yet seen in its informer.
//!
//! A ReplicaSet that created 3 pods must not create them again because its
//! pod cache is a few events behind. Before creating it records "expect 3
//! creations"; each pod add event lowers the count; only when the count is
//! zero (or the record is older than [`EXPECTATIONS_TIMEOUT`]) may it compute
//! a new diff. Deletions are tracked by pod key, so a pod seen going away
//! twice (deletionTimestamp, then the delete event) counts once.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// After this long, a record no longer blocks syncing (a lost event must
/// not wedge a controller forever).
pub const EXPECTATIONS_TIMEOUT: Duration = Duration::from_secs(300);

#[derive(Debug)]
struct Record {
    adds: i64,
    deletes: HashSet<String>,
    at: Instant,
}

/// Expectations of one controller, by controller key.
#[derive(Debug, Default)]
pub struct Expectations {
    map: Mutex<HashMap<String, Record>>,
}

impl Expectations {
    /// Empty.
    pub fn new() -> Expectations {
        Expectations::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Record>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether the controller may compute a new diff for `key`.
    pub fn satisfied(&self, key: &str) -> bool {
        match self.lock().get(key) {
            None => true,
            Some(r) => {
                (r.adds <= 0 && r.deletes.is_empty()) || r.at.elapsed() > EXPECTATIONS_TIMEOUT
            }
        }
    }

    /// About to create `n` objects for `key`.
    pub fn expect_creations(&self, key: &str, n: usize) {
        self.lock().insert(
            key.to_string(),
            Record {
                adds: n as i64,
                deletes: HashSet::new(),
                at: Instant::now(),
            },
        );
    }

    /// About to delete these objects (by key) for `key`.
    pub fn expect_deletions(&self, key: &str, objects: impl IntoIterator<Item = String>) {
        self.lock().insert(
            key.to_string(),
            Record {
                adds: 0,
                deletes: objects.into_iter().collect(),
                at: Instant::now(),
            },
        );
    }

    /// One creation seen (or given up on).
    pub fn creation_observed(&self, key: &str) {
        if let Some(r) = self.lock().get_mut(key) {
            r.adds -= 1;
        }
    }

    /// One deletion seen (or given up on).
    pub fn deletion_observed(&self, key: &str, object: &str) {
        if let Some(r) = self.lock().get_mut(key) {
            r.deletes.remove(object);
        }
    }

    /// Forgets `key` (its owner is gone).
    pub fn delete(&self, key: &str) {
        self.lock().remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creations_and_deletions_are_counted_once() {
        let e = Expectations::new();
        assert!(e.satisfied("ns/rs"));
        e.expect_creations("ns/rs", 2);
        assert!(!e.satisfied("ns/rs"));
        e.creation_observed("ns/rs");
        assert!(!e.satisfied("ns/rs"));
        e.creation_observed("ns/rs");
        assert!(e.satisfied("ns/rs"));
        e.expect_deletions("ns/rs", ["ns/p1".to_string()]);
        e.deletion_observed("ns/rs", "ns/p1");
        e.deletion_observed("ns/rs", "ns/p1");
        assert!(e.satisfied("ns/rs"));
    }
}
