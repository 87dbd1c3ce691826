//! `spec.podFailurePolicy`: what a failed pod means for its Job. The rules
//! are tried in order against the pod's exit codes (`onExitCodes`, the first
//! terminated container with a non-zero code that matches) or its conditions
//! (`onPodConditions`, e.g. `DisruptionTarget` set by an eviction); the first
//! rule that matches decides, and a pod no rule matches counts as usual.

use k8s_openapi::api::batch::v1::{PodFailurePolicy, PodFailurePolicyOnExitCodesRequirement};
use k8s_openapi::api::core::v1::{ContainerStatus, Pod};

/// What a failed pod does to its Job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Counts against `backoffLimit` (or the index's `backoffLimitPerIndex`).
    Count,
    /// Does not count; the pod is replaced.
    Ignore,
    /// Fails the whole Job at once, with this message.
    FailJob(String),
    /// Fails the pod's index at once (with `backoffLimitPerIndex`).
    FailIndex,
}

/// The verdict of `policy` on the failed `pod`.
pub fn evaluate(policy: Option<&PodFailurePolicy>, pod: &Pod) -> Verdict {
    let Some(policy) = policy else {
        return Verdict::Count;
    };
    let ns = pod.metadata.namespace.as_deref().unwrap_or("");
    let name = pod.metadata.name.as_deref().unwrap_or("");
    let status = pod.status.clone().unwrap_or_default();
    for (index, rule) in policy.rules.iter().enumerate() {
        let matched: Option<String> = if let Some(req) = &rule.on_exit_codes {
            let containers = status
                .container_statuses
                .iter()
                .flatten()
                .chain(status.init_container_statuses.iter().flatten());
            matching_container(containers, req).map(|(c, code)| {
                format!(
                    "Container {c} for pod {ns}/{name} failed with exit code {code} matching {} rule at index {index}",
                    rule.action
                )
            })
        } else if let Some(patterns) = &rule.on_pod_conditions {
            status.conditions.iter().flatten().find_map(|cond| {
                patterns
                    .iter()
                    .any(|p| {
                        p.type_ == cond.type_
                            && p.status.as_deref().unwrap_or("True") == cond.status
                    })
                    .then(|| {
                        format!(
                            "Pod {ns}/{name} has condition {} matching {} rule at index {index}",
                            cond.type_, rule.action
                        )
                    })
            })
        } else {
            None
        };
        let Some(message) = matched else { continue };
        return match rule.action.as_str() {
            "Ignore" => Verdict::Ignore,
            "FailJob" => Verdict::FailJob(message),
            "FailIndex" => Verdict::FailIndex,
            _ => Verdict::Count,
        };
    }
    Verdict::Count
}

/// The first terminated container with a non-zero exit code the requirement
/// matches: its name and code.
fn matching_container<'a>(
    containers: impl Iterator<Item = &'a ContainerStatus>,
    req: &PodFailurePolicyOnExitCodesRequirement,
) -> Option<(String, i32)> {
    for c in containers {
        let Some(code) = c
            .state
            .as_ref()
            .and_then(|s| s.terminated.as_ref())
            .map(|t| t.exit_code)
        else {
            continue;
        };
        if code == 0 {
            continue;
        }
        if req.container_name.as_ref().is_some_and(|n| *n != c.name) {
            continue;
        }
        let listed = req.values.contains(&code);
        let hit = match req.operator.as_str() {
            "In" => listed,
            "NotIn" => !listed,
            _ => false,
        };
        if hit {
            return Some((c.name.clone(), code));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn policy(v: serde_json::Value) -> PodFailurePolicy {
        serde_json::from_value(v).expect("policy")
    }

    fn failed_pod(exit: i32, conditions: serde_json::Value) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "p", "namespace": "ns"},
            "status": {"phase": "Failed", "conditions": conditions,
                "containerStatuses": [{"name": "c", "image": "i", "imageID": "", "ready": false,
                    "restartCount": 0,
                    "state": {"terminated": {"exitCode": exit}}}]}
        }))
        .expect("pod")
    }

    #[test]
    fn no_policy_counts() {
        assert_eq!(evaluate(None, &failed_pod(1, json!([]))), Verdict::Count);
    }

    #[test]
    fn exit_codes_pick_the_first_matching_rule() {
        let p = policy(json!({"rules": [
            {"action": "Ignore", "onExitCodes": {"operator": "In", "values": [42]}},
            {"action": "FailJob", "onExitCodes": {"operator": "NotIn", "values": [0, 1]}}
        ]}));
        assert_eq!(
            evaluate(Some(&p), &failed_pod(42, json!([]))),
            Verdict::Ignore
        );
        assert_eq!(
            evaluate(Some(&p), &failed_pod(3, json!([]))),
            Verdict::FailJob(
                "Container c for pod ns/p failed with exit code 3 matching FailJob rule at index 1"
                    .into()
            )
        );
        assert_eq!(
            evaluate(Some(&p), &failed_pod(1, json!([]))),
            Verdict::Count
        );
    }

    #[test]
    fn pod_conditions_match_type_and_status() {
        let p = policy(json!({"rules": [
            {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]}
        ]}));
        let evicted = failed_pod(137, json!([{"type": "DisruptionTarget", "status": "True"}]));
        assert_eq!(evaluate(Some(&p), &evicted), Verdict::Ignore);
        let not = failed_pod(
            137,
            json!([{"type": "DisruptionTarget", "status": "False"}]),
        );
        assert_eq!(evaluate(Some(&p), &not), Verdict::Count);
    }
}
