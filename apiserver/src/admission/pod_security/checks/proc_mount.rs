//! `/proc` masks, at two levels.
//!
//! - `procMount` (baseline): the default `/proc` masks reduce the attack
//!   surface. v1.0+: a container's `securityContext.procMount` must be
//!   undefined or `Default`; v1.35+: any value is allowed for a pod in a
//!   user namespace (`spec.hostUsers: false`).
//! - `procMount_restricted` (restricted, v1.35+): the v1.0 rule, whatever
//!   the user namespace; replaces the baseline check.

use std::collections::BTreeSet;

use serde_json::Value;

use super::{
    containers, containers_named, in_user_namespace, join_quote, name, Check, Versioned, Violation,
};
use crate::admission::pod_security::Level;

const BASELINE_ID: &str = "procMount";

/// The baseline check.
pub const BASELINE: Check = Check {
    id: BASELINE_ID,
    level: Level::Baseline,
    versions: &[
        Versioned {
            since: 0,
            check: proc_mount_1_0,
            overrides: &[],
        },
        Versioned {
            since: 35,
            check: proc_mount_1_35_baseline,
            overrides: &[],
        },
    ],
};

/// The restricted check.
pub const RESTRICTED: Check = Check {
    id: "procMount_restricted",
    level: Level::Restricted,
    versions: &[Versioned {
        since: 35,
        check: proc_mount_1_0,
        overrides: &[BASELINE_ID],
    }],
};

fn proc_mount_1_0(_meta: &Value, spec: &Value) -> Option<Violation> {
    let mut bad = Vec::new();
    let mut types = BTreeSet::new();
    for c in containers(spec) {
        if let Some(t) = c
            .pointer("/securityContext/procMount")
            .and_then(Value::as_str)
        {
            if t != "Default" {
                bad.push(name(c));
                types.insert(t);
            }
        }
    }
    if bad.is_empty() {
        return None;
    }
    Violation::new(
        "procMount",
        format!(
            "{} must not set securityContext.procMount to {}",
            containers_named(&bad),
            join_quote(types)
        ),
    )
}

fn proc_mount_1_35_baseline(meta: &Value, spec: &Value) -> Option<Violation> {
    if in_user_namespace(spec) {
        return None;
    }
    proc_mount_1_0(meta, spec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admission::pod_security::checks::test_pods::{meta, with_container_sc};
    use serde_json::json;

    #[test]
    fn unmasked_proc_is_refused_outside_user_namespaces() {
        let mut spec = with_container_sc(json!({"procMount": "Unmasked"}));
        let v = proc_mount_1_35_baseline(&meta(), &spec).expect("violation");
        assert_eq!(
            v.detail,
            "container \"c\" must not set securityContext.procMount to \"Unmasked\""
        );
        spec["hostUsers"] = json!(false);
        assert_eq!(proc_mount_1_35_baseline(&meta(), &spec), None);
        assert!(proc_mount_1_0(&meta(), &spec).is_some());
        let ok = with_container_sc(json!({"procMount": "Default"}));
        assert_eq!(proc_mount_1_0(&meta(), &ok), None);
    }
}
