//! `pods/eviction`: a polite delete (`kubectl drain`). A pod that still
//! runs first gets the `DisruptionTarget` condition (so a Job's pod failure
//! policy can tell an eviction from a crash), then it is deleted gracefully,
//! with the grace period the Eviction's `deleteOptions` ask for.

use serde_json::{json, Value};

/// The `apiVersion` of an Eviction.
pub const API_VERSION: &str = "policy/v1";
/// The `kind` of an Eviction.
pub const KIND: &str = "Eviction";

/// The grace period an Eviction body asks for, if any.
pub fn grace_period(eviction: &Value) -> Option<i64> {
    eviction
        .pointer("/deleteOptions/gracePeriodSeconds")
        .and_then(Value::as_i64)
}

/// The pod with the `DisruptionTarget` condition an eviction sets; `None`
/// when the pod has already finished (nothing is disrupted).
pub fn with_disruption_target(pod: &Value, now: &str) -> Option<Value> {
    let phase = pod.pointer("/status/phase").and_then(Value::as_str);
    if matches!(phase, Some("Succeeded" | "Failed")) {
        return None;
    }
    let mut pod = pod.clone();
    let status = pod
        .as_object_mut()?
        .entry("status")
        .or_insert_with(|| json!({}));
    let conditions = status
        .as_object_mut()?
        .entry("conditions")
        .or_insert_with(|| json!([]));
    let list = conditions.as_array_mut()?;
    let condition = json!({
        "type": "DisruptionTarget",
        "status": "True",
        "reason": "EvictionByEvictionAPI",
        "message": "Eviction API: evicting",
        "lastTransitionTime": now,
    });
    match list
        .iter_mut()
        .find(|c| c.get("type").and_then(Value::as_str) == Some("DisruptionTarget"))
    {
        Some(existing) => *existing = condition,
        None => list.push(condition),
    }
    Some(pod)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_running_pod_gets_the_condition_a_finished_one_does_not() {
        let running = json!({"status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}});
        let out = with_disruption_target(&running, "2026-01-01T00:00:00Z").expect("running");
        assert_eq!(out["status"]["conditions"][1]["type"], "DisruptionTarget");
        assert_eq!(
            out["status"]["conditions"][1]["reason"],
            "EvictionByEvictionAPI"
        );
        let done = json!({"status": {"phase": "Succeeded"}});
        assert!(with_disruption_target(&done, "2026-01-01T00:00:00Z").is_none());
    }
}
