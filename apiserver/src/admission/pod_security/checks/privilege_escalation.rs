//! `allowPrivilegeEscalation` (restricted, v1.8+; Windows pods exempt from
//! v1.25): privilege escalation (set-user-ID or set-group-ID binaries) must
//! be turned off.
//!
//! Restricted field: each container's
//! `securityContext.allowPrivilegeEscalation`; allowed: `false` only.

use serde_json::Value;

use super::{bool_at, containers, containers_named, is_windows, name, Check, Versioned, Violation};
use crate::admission::pod_security::Level;

/// The check.
pub const CHECK: Check = Check {
    id: "allowPrivilegeEscalation",
    level: Level::Restricted,
    versions: &[
        Versioned {
            since: 8,
            check: allow_privilege_escalation_1_8,
            overrides: &[],
        },
        Versioned {
            since: 25,
            check: allow_privilege_escalation_1_25,
            overrides: &[],
        },
    ],
};

fn allow_privilege_escalation_1_8(_meta: &Value, spec: &Value) -> Option<Violation> {
    let bad: Vec<String> = containers(spec)
        .filter(|c| bool_at(c, "/securityContext/allowPrivilegeEscalation") != Some(false))
        .map(name)
        .collect();
    if bad.is_empty() {
        return None;
    }
    Violation::new(
        "allowPrivilegeEscalation != false",
        format!(
            "{} must set securityContext.allowPrivilegeEscalation=false",
            containers_named(&bad)
        ),
    )
}

fn allow_privilege_escalation_1_25(meta: &Value, spec: &Value) -> Option<Violation> {
    if is_windows(spec) {
        return None;
    }
    allow_privilege_escalation_1_8(meta, spec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admission::pod_security::checks::test_pods::{meta, with_container_sc};
    use serde_json::json;

    #[test]
    fn escalation_must_be_turned_off() {
        let v = allow_privilege_escalation_1_25(&meta(), &with_container_sc(json!({})))
            .expect("violation");
        assert_eq!(
            v.to_owned().detail,
            "container \"c\" must set securityContext.allowPrivilegeEscalation=false"
        );
        let on = with_container_sc(json!({"allowPrivilegeEscalation": true}));
        assert!(allow_privilege_escalation_1_25(&meta(), &on).is_some());
        let off = with_container_sc(json!({"allowPrivilegeEscalation": false}));
        assert_eq!(allow_privilege_escalation_1_25(&meta(), &off), None);
        let mut windows = with_container_sc(json!({}));
        windows["os"] = json!({"name": "windows"});
        assert_eq!(allow_privilege_escalation_1_25(&meta(), &windows), None);
    }
}
