//! The state of a pod as controllers judge it (upstream `podutil` and the
//! pod ranking of `controller_utils.go`): active, terminal, ready,
//! available after `minReadySeconds`, and which pods to delete first when
//! scaling down.

use std::cmp::Ordering;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;

use super::meta::millis;

/// Whether the pod has not finished (not Succeeded or Failed) and is not
/// being deleted (upstream `IsPodActive`).
pub fn pod_active(pod: &Pod) -> bool {
    !pod_terminal(pod) && pod.metadata.deletion_timestamp.is_none()
}

/// Whether the pod's phase is Succeeded or Failed.
pub fn pod_terminal(pod: &Pod) -> bool {
    matches!(
        pod.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Succeeded") | Some("Failed")
    )
}

/// The pod's phase (`Pending` when unset).
pub fn pod_phase(pod: &Pod) -> &str {
    pod.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("Pending")
}

/// Whether the pod's Ready condition is True.
pub fn pod_ready(pod: &Pod) -> bool {
    ready_condition_since(pod).is_some()
}

/// When the pod became Ready (its Ready condition's lastTransitionTime),
/// if it is Ready; the epoch when the time is missing.
pub fn ready_condition_since(pod: &Pod) -> Option<i64> {
    let c = pod
        .status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Ready")?;
    (c.status == "True").then(|| c.last_transition_time.as_ref().map(millis).unwrap_or(0))
}

/// Whether the pod has been Ready for at least `min_ready_seconds`
/// (upstream `IsPodAvailable`).
pub fn pod_available(pod: &Pod, min_ready_seconds: i32, now_ms: i64) -> bool {
    match ready_condition_since(pod) {
        None => false,
        Some(_) if min_ready_seconds <= 0 => true,
        Some(since) => since + i64::from(min_ready_seconds) * 1000 <= now_ms,
    }
}

/// The total restarts of the pod's containers.
pub fn restarts(pod: &Pod) -> i32 {
    pod.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .map(|cs| cs.iter().map(|c| c.restart_count).sum())
        .unwrap_or(0)
}

/// The `n` pods to delete, least valuable first (upstream
/// `ActivePodsWithRanks`): unscheduled before scheduled, Pending before
/// Unknown before Running, not ready before ready, ready for less time
/// first, more restarts first, newer first.
pub fn pods_to_delete(pods: &[Arc<Pod>], n: usize) -> Vec<&Arc<Pod>> {
    let mut v: Vec<&Arc<Pod>> = pods.iter().collect();
    v.sort_by(|a, b| delete_order(a, b));
    v.truncate(n);
    v
}

fn delete_order(a: &Pod, b: &Pod) -> Ordering {
    let assigned = |p: &Pod| {
        p.spec
            .as_ref()
            .and_then(|s| s.node_name.as_deref())
            .is_some_and(|n| !n.is_empty())
    };
    let phase_rank = |p: &Pod| match pod_phase(p) {
        "Pending" => 0,
        "Unknown" => 1,
        "Running" => 2,
        _ => 3,
    };
    let created = |p: &Pod| {
        p.metadata
            .creation_timestamp
            .as_ref()
            .map(millis)
            .unwrap_or(0)
    };
    assigned(a)
        .cmp(&assigned(b))
        .then(phase_rank(a).cmp(&phase_rank(b)))
        .then(pod_ready(a).cmp(&pod_ready(b)))
        // Both ready: the more recently ready goes first.
        .then_with(
            || match (ready_condition_since(a), ready_condition_since(b)) {
                (Some(x), Some(y)) => y.cmp(&x),
                _ => Ordering::Equal,
            },
        )
        .then(restarts(b).cmp(&restarts(a)))
        .then(created(b).cmp(&created(a)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{PodCondition, PodSpec, PodStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn pod(name: &str, node: Option<&str>, phase: &str, ready: bool, restarts: i32) -> Arc<Pod> {
        let _ = restarts;
        Arc::new(Pod {
            metadata: ObjectMeta {
                name: Some(name.into()),
                ..Default::default()
            },
            spec: Some(PodSpec {
                node_name: node.map(String::from),
                ..Default::default()
            }),
            status: Some(PodStatus {
                phase: Some(phase.into()),
                conditions: Some(vec![PodCondition {
                    type_: "Ready".into(),
                    status: if ready { "True" } else { "False" }.into(),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
        })
    }

    #[test]
    fn least_valuable_pods_go_first() {
        let pods = vec![
            pod("running-ready", Some("n1"), "Running", true, 0),
            pod("unscheduled", None, "Pending", false, 0),
            pod("running-not-ready", Some("n1"), "Running", false, 0),
            pod("pending", Some("n1"), "Pending", false, 0),
        ];
        let order: Vec<_> = pods_to_delete(&pods, 4)
            .iter()
            .map(|p| p.metadata.name.clone().unwrap())
            .collect();
        assert_eq!(
            order,
            [
                "unscheduled",
                "pending",
                "running-not-ready",
                "running-ready"
            ]
        );
    }
}
