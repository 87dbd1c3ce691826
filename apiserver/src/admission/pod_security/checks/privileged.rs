//! `privileged` (baseline, v1.0+): privileged containers disable most
//! security mechanisms.
//!
//! Restricted fields: `spec.{initContainers,containers,ephemeralContainers}[*]
//! .securityContext.privileged`; allowed: undefined, `false`.

use serde_json::Value;

use super::{bool_at, containers, containers_named, name, Check, Versioned, Violation};
use crate::admission::pod_security::Level;

/// The check.
pub const CHECK: Check = Check {
    id: "privileged",
    level: Level::Baseline,
    versions: &[Versioned {
        since: 0,
        check: privileged_1_0,
        overrides: &[],
    }],
};

fn privileged_1_0(_meta: &Value, spec: &Value) -> Option<Violation> {
    let bad: Vec<String> = containers(spec)
        .filter(|c| bool_at(c, "/securityContext/privileged") == Some(true))
        .map(name)
        .collect();
    if bad.is_empty() {
        return None;
    }
    Violation::new(
        "privileged",
        format!(
            "{} must not set securityContext.privileged=true",
            containers_named(&bad)
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn privileged_containers_are_refused() {
        let meta = json!({});
        let spec = json!({"initContainers": [{"name": "i", "securityContext": {"privileged": true}}],
            "containers": [{"name": "a", "securityContext": {"privileged": false}},
                           {"name": "b", "securityContext": {"privileged": true}}]});
        let v = privileged_1_0(&meta, &spec).expect("violation");
        assert_eq!(
            v.detail,
            "containers \"i\", \"b\" must not set securityContext.privileged=true"
        );
        let spec = json!({"containers": [{"name": "a"}]});
        assert_eq!(privileged_1_0(&meta, &spec), None);
    }
}
