//! Which pod goes first: upstream's ranking functions.
//!
//! For memory (and for disk, with ephemeral storage in place of memory):
//! 1. pods whose usage exceeds their requests before those within them;
//! 2. then lower `spec.priority` before higher;
//! 3. then more usage above requests before less.
//!
//! A BestEffort pod requests nothing, so any usage exceeds its requests: it
//! goes before every pod within its requests, and a Guaranteed pod (usage
//! capped at its requests by its limits) never exceeds them. Among pods on
//! the same side, QoS itself plays no part: only priority and usage
//! relative to requests. For pids only
//! priority and then the process count matter.
//!
//! Critical pods (static or mirror pods, priority of `system-cluster-critical`
//! and above) are never evicted by the kubelet.

use std::cmp::Reverse;
use std::collections::HashMap;

use k8s_openapi::api::core::v1::{Container, Pod};

use super::signals::PodUsage;
use super::thresholds::Resource;

/// Priorities from here on are system-critical (upstream's
/// `SystemCriticalPriority`, 2 * 10^9).
pub const SYSTEM_CRITICAL_PRIORITY: i32 = 2_000_000_000;

/// Whether the kubelet must leave `pod` alone under pressure.
pub fn is_critical(pod: &Pod) -> bool {
    let annotations = pod.metadata.annotations.as_ref();
    let static_or_mirror = annotations.is_some_and(|a| {
        a.contains_key("kubernetes.io/config.mirror")
            || a.get("kubernetes.io/config.source")
                .is_some_and(|s| s != "api")
    });
    static_or_mirror || priority(pod) >= SYSTEM_CRITICAL_PRIORITY
}

fn priority(pod: &Pod) -> i32 {
    pod.spec.as_ref().and_then(|s| s.priority).unwrap_or(0)
}

/// A container's request of `resource` in bytes (0 when none).
pub fn container_request(c: &Container, resource: Resource) -> u64 {
    let name = resource.name();
    c.resources
        .as_ref()
        .and_then(|r| r.requests.as_ref())
        .and_then(|r| r.get(name))
        .and_then(|q| apimachinery::quantity::value(&q.0).ok())
        .and_then(|v| u64::try_from(v).ok())
        .unwrap_or(0)
}

/// The pod's request of `resource`: its app containers together, or its
/// largest init container when that is more (as the scheduler counts).
pub fn pod_request(pod: &Pod, resource: Resource) -> u64 {
    let Some(spec) = pod.spec.as_ref() else {
        return 0;
    };
    let apps: u64 = spec
        .containers
        .iter()
        .map(|c| container_request(c, resource))
        .sum();
    let init = spec
        .init_containers
        .iter()
        .flatten()
        .map(|c| container_request(c, resource))
        .max()
        .unwrap_or(0);
    apps.max(init)
}

/// The pod's usage of `resource` (0 without stats).
pub fn usage(u: Option<&PodUsage>, resource: Resource) -> u64 {
    u.map(|u| match resource {
        Resource::Memory => u.memory,
        Resource::EphemeralStorage => u.ephemeral,
        Resource::Pids => u.pids,
    })
    .unwrap_or(0)
}

/// Sorts `pods` so the first is the one to evict for pressure on
/// `resource`. `usage` is by pod uid.
pub fn rank(pods: &mut [Pod], resource: Resource, stats: &HashMap<String, PodUsage>) {
    let key = |p: &Pod| {
        let u = usage(
            p.metadata.uid.as_deref().and_then(|uid| stats.get(uid)),
            resource,
        );
        let request = pod_request(p, resource);
        (u, request, priority(p))
    };
    pods.sort_by(|a, b| {
        let (ua, ra, pa) = key(a);
        let (ub, rb, pb) = key(b);
        match resource {
            Resource::Pids => pa.cmp(&pb).then(Reverse(ua).cmp(&Reverse(ub))),
            Resource::Memory | Resource::EphemeralStorage => {
                // true (exceeds) sorts before false.
                let exceeds = Reverse(ua > ra).cmp(&Reverse(ub > rb));
                let above = |u: u64, r: u64| i128::from(u) - i128::from(r);
                exceeds
                    .then(pa.cmp(&pb))
                    .then(Reverse(above(ua, ra)).cmp(&Reverse(above(ub, rb))))
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(name: &str, resources: serde_json::Value, priority: i32) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": name, "uid": name},
            "spec": {"priority": priority, "containers": [
                {"name": "c", "image": "i", "resources": resources}]}
        }))
        .expect("pod")
    }

    fn used(list: &[(&str, u64, u64)]) -> HashMap<String, PodUsage> {
        list.iter()
            .map(|(uid, memory, pids)| {
                (
                    uid.to_string(),
                    PodUsage {
                        memory: *memory,
                        pids: *pids,
                        ephemeral: *memory,
                        ..Default::default()
                    },
                )
            })
            .collect()
    }

    fn names(pods: &[Pod]) -> Vec<&str> {
        pods.iter()
            .map(|p| p.metadata.name.as_deref().unwrap_or(""))
            .collect()
    }

    const MI: u64 = 1 << 20;

    #[test]
    fn best_effort_then_burstable_then_guaranteed() {
        let mut pods = vec![
            pod(
                "guaranteed",
                json!({"requests": {"memory": "100Mi"}, "limits": {"memory": "100Mi"}}),
                0,
            ),
            pod("burstable", json!({"requests": {"memory": "100Mi"}}), 0),
            pod("besteffort", json!({}), 0),
        ];
        // The guaranteed pod stays within its requests (its limits hold it
        // there); the other two use more than they asked for, the
        // BestEffort pod the most above its (zero) requests.
        let stats = used(&[
            ("guaranteed", 90 * MI, 1),
            ("burstable", 150 * MI, 1),
            ("besteffort", 60 * MI, 1),
        ]);
        rank(&mut pods, Resource::Memory, &stats);
        assert_eq!(names(&pods), ["besteffort", "burstable", "guaranteed"]);
        // Disk ranks by ephemeral storage: no pod requests any, so the
        // largest user goes first.
        rank(&mut pods, Resource::EphemeralStorage, &stats);
        assert_eq!(names(&pods), ["burstable", "guaranteed", "besteffort"]);
        // Nobody above requests (the idle BestEffort pod uses nothing):
        // usage relative to requests decides, QoS itself is no criterion
        // (upstream neither): 0 above, 10Mi below, 80Mi below.
        let within = used(&[
            ("guaranteed", 90 * MI, 1),
            ("burstable", 20 * MI, 1),
            ("besteffort", 0, 1),
        ]);
        rank(&mut pods, Resource::Memory, &within);
        assert_eq!(names(&pods), ["besteffort", "guaranteed", "burstable"]);
    }

    #[test]
    fn exceeding_requests_comes_before_priority_then_usage_above_requests() {
        let mut pods = vec![
            pod("within-low", json!({"requests": {"memory": "100Mi"}}), 0),
            pod("over-high", json!({"requests": {"memory": "10Mi"}}), 1000),
            pod(
                "over-low-little",
                json!({"requests": {"memory": "10Mi"}}),
                0,
            ),
            pod("over-low-much", json!({"requests": {"memory": "10Mi"}}), 0),
        ];
        let stats = used(&[
            ("within-low", 90 * MI, 1),
            ("over-high", 500 * MI, 1),
            ("over-low-little", 11 * MI, 1),
            ("over-low-much", 60 * MI, 1),
        ]);
        rank(&mut pods, Resource::Memory, &stats);
        assert_eq!(
            names(&pods),
            [
                "over-low-much",
                "over-low-little",
                "over-high",
                "within-low"
            ]
        );
    }

    #[test]
    fn pids_rank_by_priority_then_process_count() {
        let mut pods = vec![
            pod("few", json!({}), 0),
            pod("many-high", json!({}), 10),
            pod("many", json!({}), 0),
        ];
        let stats = used(&[("few", 0, 2), ("many-high", 0, 900), ("many", 0, 50)]);
        rank(&mut pods, Resource::Pids, &stats);
        assert_eq!(names(&pods), ["many", "few", "many-high"]);
    }

    #[test]
    fn critical_pods_are_recognised() {
        assert!(!is_critical(&pod("p", json!({}), 0)));
        assert!(is_critical(&pod("p", json!({}), SYSTEM_CRITICAL_PRIORITY)));
        let mut mirror = pod("m", json!({}), 0);
        mirror.metadata.annotations =
            Some([("kubernetes.io/config.mirror".to_string(), "x".to_string())].into());
        assert!(is_critical(&mirror));
    }
}
