//! `hostPorts` (baseline, v1.0+): host ports are forbidden.
//!
//! Restricted fields: `spec.{initContainers,containers,ephemeralContainers}[*]
//! .ports[*].hostPort`; allowed: undefined, `0`.

use std::collections::BTreeSet;

use serde_json::Value;

use super::{containers, containers_named, list, name, pluralize, Check, Versioned, Violation};
use crate::admission::pod_security::Level;

/// The check.
pub const CHECK: Check = Check {
    id: "hostPorts",
    level: Level::Baseline,
    versions: &[Versioned {
        since: 0,
        check: host_ports_1_0,
        overrides: &[],
    }],
};

fn host_ports_1_0(_meta: &Value, spec: &Value) -> Option<Violation> {
    let mut bad = Vec::new();
    // Sorted as strings, as upstream's string set sorts them.
    let mut ports = BTreeSet::new();
    for c in containers(spec) {
        let used: Vec<i64> = list(c.get("ports"))
            .filter_map(|p| p.get("hostPort").and_then(Value::as_i64))
            .filter(|p| *p != 0)
            .collect();
        if !used.is_empty() {
            bad.push(name(c));
            ports.extend(used.iter().map(i64::to_string));
        }
    }
    if bad.is_empty() {
        return None;
    }
    Violation::new(
        "hostPort",
        format!(
            "{} {} {} {}",
            containers_named(&bad),
            pluralize("uses", "use", bad.len()),
            pluralize("hostPort", "hostPorts", ports.len()),
            ports.into_iter().collect::<Vec<_>>().join(", ")
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn host_ports_are_refused() {
        let spec = json!({"containers": [
            {"name": "a", "ports": [{"containerPort": 80, "hostPort": 8080}, {"containerPort": 81, "hostPort": 0}]},
            {"name": "b", "ports": [{"containerPort": 80}]}]});
        let v = host_ports_1_0(&json!({}), &spec).expect("violation");
        assert_eq!(v.reason, "hostPort");
        assert_eq!(v.detail, "container \"a\" uses hostPort 8080");
        let spec = json!({"containers": [{"name": "b", "ports": [{"containerPort": 80}]}]});
        assert_eq!(host_ports_1_0(&json!({}), &spec), None);
    }
}
