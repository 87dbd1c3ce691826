//! Pod-specific rules the generic handlers need: is a pod bound to a node,
//! has it finished, and its QoS class (which decides its cgroup on the node
//! and its eviction order).

use serde_json::Value;

/// Whether the scheduler has assigned the pod to a node.
pub fn is_bound(pod: &Value) -> bool {
    pod.pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .is_some_and(|n| !n.is_empty())
}

/// Whether the pod has finished for good (`Succeeded` or `Failed`).
pub fn is_terminal(pod: &Value) -> bool {
    matches!(
        pod.pointer("/status/phase").and_then(Value::as_str),
        Some("Succeeded") | Some("Failed")
    )
}

/// The QoS class upstream computes from requests and limits:
/// `Guaranteed` when every container limits cpu and memory with requests equal
/// to the limits, `BestEffort` when nothing is requested or limited at all,
/// `Burstable` otherwise.
pub fn qos_class(pod: &Value) -> &'static str {
    let containers = ["containers", "initContainers"]
        .iter()
        .filter_map(|f| pod.pointer(&format!("/spec/{f}")).and_then(Value::as_array))
        .flatten();
    let mut any = false;
    let mut guaranteed = true;
    for c in containers {
        let requests = c.pointer("/resources/requests").and_then(Value::as_object);
        let limits = c.pointer("/resources/limits").and_then(Value::as_object);
        let has = |m: Option<&serde_json::Map<String, Value>>, k: &str| {
            m.and_then(|m| m.get(k)).is_some()
        };
        for res in ["cpu", "memory"] {
            if has(requests, res) || has(limits, res) {
                any = true;
            }
            if !has(limits, res) {
                guaranteed = false;
            }
            if let (Some(r), Some(l)) = (
                requests.and_then(|m| m.get(res)),
                limits.and_then(|m| m.get(res)),
            ) {
                if r != l {
                    guaranteed = false;
                }
            }
        }
    }
    if !any {
        "BestEffort"
    } else if guaranteed {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn qos() {
        let best = json!({"spec": {"containers": [{"name": "a"}]}});
        assert_eq!(qos_class(&best), "BestEffort");
        let g = json!({"spec": {"containers": [{"name": "a", "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}]}});
        assert_eq!(qos_class(&g), "Guaranteed");
        let b = json!({"spec": {"containers": [{"name": "a", "resources": {"requests": {"cpu": "1"}}}]}});
        assert_eq!(qos_class(&b), "Burstable");
    }

    #[test]
    fn bound_and_terminal() {
        assert!(is_bound(&json!({"spec": {"nodeName": "n"}})));
        assert!(!is_bound(&json!({"spec": {"nodeName": ""}})));
        assert!(is_terminal(&json!({"status": {"phase": "Failed"}})));
        assert!(!is_terminal(&json!({"status": {"phase": "Running"}})));
    }
}
