//! Small helpers every controller uses: pod readiness and availability,
//! controller references, selectors, times and int-or-percent values.

use std::collections::BTreeMap;

use apimachinery::labels::Selector;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    LabelSelector, ObjectMeta, OwnerReference, Time,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::jiff::Timestamp;
use kube::Resource;

use crate::runtime::controller::{Error, Result};

/// Now, as an API time.
pub fn now() -> Time {
    Time(Timestamp::now())
}

/// Milliseconds since the epoch of an API time.
pub fn millis(t: &Time) -> i64 {
    t.0.as_millisecond()
}

/// Milliseconds since the epoch, now.
pub fn now_millis() -> i64 {
    Timestamp::now().as_millisecond()
}

/// The selector of a `spec.selector` (`None` selects nothing).
pub fn selector(ls: Option<&LabelSelector>) -> Result<Selector> {
    let v = match ls {
        Some(ls) => serde_json::to_value(ls).map_err(|source| Error::Json {
            context: "selector".into(),
            source,
        })?,
        None => serde_json::Value::Null,
    };
    Selector::from_label_selector_json(&v)
        .map_err(|e| Error::Invalid(format!("invalid selector: {e}")))
}

/// An object's labels (empty when none).
pub fn labels(meta: &ObjectMeta) -> BTreeMap<String, String> {
    meta.labels.clone().unwrap_or_default()
}

/// The owner reference with `controller: true`, if any.
pub fn controller_of(meta: &ObjectMeta) -> Option<&OwnerReference> {
    meta.owner_references
        .as_ref()?
        .iter()
        .find(|o| o.controller == Some(true))
}

/// A controller reference to `owner` (controller and blockOwnerDeletion set).
pub fn controller_ref<K: Resource<DynamicType = ()>>(owner: &K) -> OwnerReference {
    OwnerReference {
        api_version: K::api_version(&()).into_owned(),
        kind: K::kind(&()).into_owned(),
        name: owner.meta().name.clone().unwrap_or_default(),
        uid: owner.meta().uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

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

/// Resolves an int-or-percent against `total` (percent rounded up or down).
pub fn scaled_value(
    v: Option<&IntOrString>,
    total: i32,
    round_up: bool,
    default: i32,
) -> Result<i32> {
    match v {
        None => Ok(default),
        Some(IntOrString::Int(i)) => Ok(*i),
        Some(IntOrString::String(s)) => {
            let pct: i64 = s
                .strip_suffix('%')
                .and_then(|p| p.trim().parse().ok())
                .ok_or_else(|| {
                    Error::Invalid(format!(
                        "invalid value {s:?}: must be an integer or a percentage"
                    ))
                })?;
            let n = pct * i64::from(total);
            let r = if round_up {
                (n + 99).div_euclid(100)
            } else {
                n.div_euclid(100)
            };
            Ok(r as i32)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_round_as_upstream() {
        let p = IntOrString::String("25%".into());
        assert_eq!(scaled_value(Some(&p), 10, true, 0).unwrap(), 3);
        assert_eq!(scaled_value(Some(&p), 10, false, 0).unwrap(), 2);
        assert_eq!(
            scaled_value(Some(&IntOrString::Int(4)), 10, true, 0).unwrap(),
            4
        );
        assert_eq!(scaled_value(None, 10, true, 7).unwrap(), 7);
        assert!(scaled_value(Some(&IntOrString::String("x".into())), 10, true, 0).is_err());
    }
}
