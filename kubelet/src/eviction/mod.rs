//! Node-pressure eviction (upstream's `pkg/kubelet/eviction`): when the node
//! runs low on memory, disk or process ids, the kubelet fails pods itself
//! before the kernel's OOM killer or a full disk hurts everything on it.
//!
//! ```text
//! signals.rs    observe: memory.available, nodefs/imagefs.available, pid.available,
//!               and every pod's usage (cgroups, disk)
//! thresholds.rs evictionHard / evictionSoft (+ grace periods, minimum reclaim)
//! manager.rs    every evictionMonitoringPeriod: thresholds met -> node conditions
//!               (MemoryPressure, DiskPressure, PIDPressure) -> evict ONE pod
//! ranking.rs    which pod: usage above requests first, then low priority,
//!               then the most above requests
//! ```
//!
//! Where it fits in the life of a pod:
//! - the node status loop ([`crate::node`]) reports the conditions this
//!   manager publishes in [`Shared`]; the controller-manager's node lifecycle
//!   controller turns them into `node.kubernetes.io/*-pressure:NoSchedule`
//!   taints, so the scheduler stops sending pods here;
//! - pod admission ([`crate::pod::admission::node_pressure`]) turns away new
//!   BestEffort pods under MemoryPressure, and every new pod under disk or
//!   pid pressure;
//! - an evicted pod's worker ([`crate::pod::worker`]) takes the request from
//!   [`Shared`], kills the containers (grace 0 for a hard threshold), and
//!   writes `phase: Failed`, `reason: Evicted`, the message, and the
//!   `DisruptionTarget` condition (`TerminationByKubelet`). The pod object
//!   stays; its controller replaces it and pod GC removes it later.

pub mod manager;
pub mod ranking;
pub mod signals;
pub mod thresholds;

use std::collections::{BTreeSet, HashMap};
use std::sync::{Mutex, RwLock};
use std::time::Duration;

use tokio::sync::Notify;

/// The pod status reason (and event reason) of an evicted or refused pod.
pub const REASON: &str = "Evicted";
/// The reason of the `DisruptionTarget` condition the kubelet sets.
pub const DISRUPTION_REASON: &str = "TerminationByKubelet";
/// The pressure conditions, in the order the node and messages list them.
pub const CONDITIONS: [&str; 3] = ["MemoryPressure", "DiskPressure", "PIDPressure"];

/// A pod the manager wants gone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The status message (and `DisruptionTarget` message).
    pub message: String,
    /// How long its containers get to stop.
    pub grace: Duration,
}

/// What the eviction manager shares with the rest of the kubelet.
#[derive(Debug, Default)]
pub struct Shared {
    conditions: RwLock<BTreeSet<&'static str>>,
    requests: Mutex<HashMap<String, Request>>,
    changed: Notify,
}

impl Shared {
    /// The pressure conditions now True (`MemoryPressure`, ...).
    pub fn conditions(&self) -> BTreeSet<&'static str> {
        self.conditions
            .read()
            .map(|c| c.clone())
            .unwrap_or_default()
    }

    /// Publishes the conditions; wakes the node status loop when they
    /// changed.
    pub fn set_conditions(&self, next: BTreeSet<&'static str>) {
        let Ok(mut cur) = self.conditions.write() else {
            return;
        };
        if *cur != next {
            tracing::info!(conditions = ?next, was = ?*cur, "node pressure conditions changed");
            *cur = next;
            // One listener (the node status loop): a permit is kept if it is
            // busy posting right now.
            self.changed.notify_one();
        }
    }

    /// Resolves when the conditions change.
    pub async fn changed(&self) {
        self.changed.notified().await
    }

    /// Asks the worker of pod `uid` to evict it.
    pub fn request(&self, uid: &str, request: Request) {
        if let Ok(mut r) = self.requests.lock() {
            r.insert(uid.to_string(), request);
        }
    }

    /// Whether pod `uid` has an eviction not yet taken by its worker.
    pub fn pending(&self, uid: &str) -> bool {
        self.requests
            .lock()
            .map(|r| r.contains_key(uid))
            .unwrap_or(false)
    }

    /// Drops requests of pods that are gone (deleted before their worker
    /// took the request).
    pub fn forget_missing(&self, known: &[&str]) {
        if let Ok(mut r) = self.requests.lock() {
            r.retain(|uid, _| known.contains(&uid.as_str()));
        }
    }

    /// The eviction asked for pod `uid`, handed to its worker once.
    pub fn take(&self, uid: &str) -> Option<Request> {
        self.requests.lock().ok()?.remove(uid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn conditions_wake_the_status_loop_and_requests_are_taken_once() {
        let shared = Shared::default();
        shared.set_conditions(BTreeSet::from(["MemoryPressure"]));
        // The change left a permit: the status loop, busy at that moment,
        // still wakes.
        tokio::time::timeout(Duration::from_secs(1), shared.changed())
            .await
            .expect("woken by the change");
        assert_eq!(shared.conditions(), BTreeSet::from(["MemoryPressure"]));
        // The same conditions again are no change.
        shared.set_conditions(BTreeSet::from(["MemoryPressure"]));
        assert!(
            tokio::time::timeout(Duration::from_millis(50), shared.changed())
                .await
                .is_err()
        );

        let req = Request {
            message: "m".into(),
            grace: Duration::ZERO,
        };
        shared.request("a", req.clone());
        shared.request("gone", req.clone());
        assert!(shared.pending("a"));
        shared.forget_missing(&["a"]);
        assert!(!shared.pending("gone"));
        assert_eq!(shared.take("a"), Some(req));
        assert_eq!(shared.take("a"), None);
        assert!(!shared.pending("a"));
    }
}
