//! `pods/eviction`: a polite delete (`kubectl drain`). The pod's
//! PodDisruptionBudget must allow it ([`check_disruption_budget`]: the
//! budget's `disruptionsAllowed` is decremented and the pod recorded in its
//! `disruptedPods`, or the eviction is refused with 429 and the client
//! retries). A pod that still runs then gets the `DisruptionTarget`
//! condition (so a Job's pod failure policy can tell an eviction from a
//! crash), and it is deleted gracefully, with the grace period the
//! Eviction's `deleteOptions` ask for.

use std::collections::BTreeMap;

use apimachinery::labels::Selector;
use serde_json::{json, Value};

use crate::errors::{ApiError, Target};
use crate::ApiServer;

/// How many evicted-but-not-yet-deleted pods a budget may track; more means
/// its controller is not keeping up, and evictions are refused.
const MAX_DISRUPTED_PODS: usize = 2000;

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

fn labels_of(obj: &Value) -> BTreeMap<String, String> {
    obj.pointer("/metadata/labels")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

fn is_ready(pod: &Value) -> bool {
    pod.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter().any(|c| {
                c.get("type").and_then(Value::as_str) == Some("Ready")
                    && c.get("status").and_then(Value::as_str) == Some("True")
            })
        })
}

fn int(v: &Value, ptr: &str) -> i64 {
    v.pointer(ptr).and_then(Value::as_i64).unwrap_or(0)
}

/// Whether the PodDisruptionBudget covering `pod` lets it go now; if so,
/// the budget is charged (one disruption fewer, the pod in
/// `disruptedPods`) before the caller deletes the pod, as upstream does.
/// A finished pod needs no budget; an unready one may go while the budget
/// is healthy (`unhealthyPodEvictionPolicy: IfHealthyBudget`) or always
/// (`AlwaysAllow`).
pub async fn check_disruption_budget(
    server: &ApiServer,
    pod: &Value,
    now: &str,
) -> Result<(), ApiError> {
    if matches!(
        pod.pointer("/status/phase").and_then(Value::as_str),
        Some("Succeeded" | "Failed")
    ) {
        return Ok(());
    }
    let Some(resource) = apimachinery::resources::find("policy", "v1", "poddisruptionbudgets")
    else {
        return Ok(());
    };
    let ns = pod
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let pod_name = pod
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let storage = |e| ApiError::from_storage(e, Target::default());
    let prefix = server
        .store
        .collection_prefix(resource.storage_name(), Some(ns));
    let page = server
        .store
        .list(&prefix, None, 0, 0)
        .await
        .map_err(storage)?;
    let labels = labels_of(pod);
    let mut matching = page.items.into_iter().filter(|(_, stored)| {
        let sel = stored
            .object
            .pointer("/spec/selector")
            .unwrap_or(&Value::Null);
        Selector::from_label_selector_json(sel).is_ok_and(|s| s.matches(&labels))
    });
    let Some((key, stored)) = matching.next() else {
        return Ok(());
    };
    if matching.next().is_some() {
        return Err(ApiError::Internal(
            "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support."
                .into(),
        ));
    }
    let pdb = stored.object;
    let pdb_name = pdb
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let refuse = |why: String| {
        ApiError::TooManyRequestsBecause(
            "Cannot evict pod as it would violate the pod's disruption budget.".into(),
            vec![("DisruptionBudget".into(), why)],
        )
    };
    let short = || {
        format!(
            "The disruption budget {pdb_name} needs {} healthy pods and has {} currently",
            int(&pdb, "/status/desiredHealthy"),
            int(&pdb, "/status/currentHealthy")
        )
    };
    if !is_ready(pod) {
        let policy = pdb
            .pointer("/spec/unhealthyPodEvictionPolicy")
            .and_then(Value::as_str);
        let healthy_budget =
            int(&pdb, "/status/currentHealthy") >= int(&pdb, "/status/desiredHealthy");
        if policy == Some("AlwaysAllow") || healthy_budget {
            return Ok(());
        }
        return Err(refuse(short()));
    }
    if int(&pdb, "/status/observedGeneration") < int(&pdb, "/metadata/generation") {
        return Err(refuse(format!(
            "The disruption budget {pdb_name} is still being processed by the server."
        )));
    }
    if int(&pdb, "/status/disruptionsAllowed") <= 0 {
        return Err(refuse(short()));
    }
    let mut charged = pdb.clone();
    let Some(status) = charged.get_mut("status").and_then(Value::as_object_mut) else {
        return Err(refuse(short()));
    };
    let allowed = status
        .get("disruptionsAllowed")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    status.insert("disruptionsAllowed".into(), json!(allowed - 1));
    let disrupted = status.entry("disruptedPods").or_insert_with(|| json!({}));
    if !disrupted.is_object() {
        *disrupted = json!({});
    }
    if let Some(map) = disrupted.as_object_mut() {
        if map.len() >= MAX_DISRUPTED_PODS {
            return Err(ApiError::Forbidden(
                Target::default(),
                "DisruptedPods map too big - too many evictions not confirmed by PDB controller"
                    .into(),
            ));
        }
        map.insert(pod_name.to_string(), json!(now));
    }
    // Charged against the budget as read: a concurrent eviction that won
    // the race makes this a conflict, and the client retries.
    server
        .store
        .update(&key, &charged, stored.mod_revision)
        .await
        .map_err(storage)?;
    Ok(())
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
