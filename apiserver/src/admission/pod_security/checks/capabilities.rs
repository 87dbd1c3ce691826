//! Capabilities, at two levels.
//!
//! - `capabilities_baseline` (baseline, v1.0+): adding capabilities beyond
//!   the container runtime's default set (or `NET_RAW`) is disallowed.
//!   Restricted fields: `securityContext.capabilities.add` of every
//!   container; allowed: undefined/empty, or values from
//!   [`BASELINE_ALLOWED`].
//! - `capabilities_restricted` (restricted, v1.22+; Windows pods exempt
//!   from v1.25): containers must drop `ALL` and may add only
//!   `NET_BIND_SERVICE`. Replaces the baseline check.

use std::collections::BTreeSet;

use serde_json::Value;

use super::{
    containers, containers_named, is_windows, join_quote, list, name, Check, Versioned, Violation,
};
use crate::admission::pod_security::Level;

/// The capabilities a baseline container may add (the runtime's defaults).
pub const BASELINE_ALLOWED: &[&str] = &[
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
];

const BASELINE_ID: &str = "capabilities_baseline";

/// The baseline check.
pub const BASELINE: Check = Check {
    id: BASELINE_ID,
    level: Level::Baseline,
    versions: &[Versioned {
        since: 0,
        check: baseline_1_0,
        overrides: &[],
    }],
};

/// The restricted check.
pub const RESTRICTED: Check = Check {
    id: "capabilities_restricted",
    level: Level::Restricted,
    versions: &[
        Versioned {
            since: 22,
            check: restricted_1_22,
            overrides: &[BASELINE_ID],
        },
        Versioned {
            since: 25,
            check: restricted_1_25,
            overrides: &[BASELINE_ID],
        },
    ],
};

fn added(container: &Value) -> impl Iterator<Item = &str> {
    list(container.pointer("/securityContext/capabilities/add")).filter_map(Value::as_str)
}

fn baseline_1_0(_meta: &Value, spec: &Value) -> Option<Violation> {
    let mut bad = Vec::new();
    let mut caps = BTreeSet::new();
    for c in containers(spec) {
        let extra: Vec<&str> = added(c).filter(|a| !BASELINE_ALLOWED.contains(a)).collect();
        if !extra.is_empty() {
            bad.push(name(c));
            caps.extend(extra);
        }
    }
    if bad.is_empty() {
        return None;
    }
    Violation::new(
        "non-default capabilities",
        format!(
            "{} must not include {} in securityContext.capabilities.add",
            containers_named(&bad),
            join_quote(caps)
        ),
    )
}

fn restricted_1_22(_meta: &Value, spec: &Value) -> Option<Violation> {
    let mut missing_drop_all = Vec::new();
    let mut adding = Vec::new();
    let mut caps = BTreeSet::new();
    for c in containers(spec) {
        let Some(capabilities) = c
            .pointer("/securityContext/capabilities")
            .filter(|v| !v.is_null())
        else {
            missing_drop_all.push(name(c));
            continue;
        };
        if !list(capabilities.get("drop")).any(|d| d.as_str() == Some("ALL")) {
            missing_drop_all.push(name(c));
        }
        let extra: Vec<&str> = added(c).filter(|a| *a != "NET_BIND_SERVICE").collect();
        if !extra.is_empty() {
            adding.push(name(c));
            caps.extend(extra);
        }
    }
    let mut details = Vec::new();
    if !missing_drop_all.is_empty() {
        details.push(format!(
            "{} must set securityContext.capabilities.drop=[\"ALL\"]",
            containers_named(&missing_drop_all)
        ));
    }
    if !adding.is_empty() {
        details.push(format!(
            "{} must not include {} in securityContext.capabilities.add",
            containers_named(&adding),
            join_quote(caps)
        ));
    }
    if details.is_empty() {
        return None;
    }
    Violation::new("unrestricted capabilities", details.join("; "))
}

fn restricted_1_25(meta: &Value, spec: &Value) -> Option<Violation> {
    if is_windows(spec) {
        return None;
    }
    restricted_1_22(meta, spec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admission::pod_security::checks::test_pods::{meta, with_container_sc};
    use serde_json::json;

    #[test]
    fn baseline_allows_only_the_default_set() {
        let ok = with_container_sc(json!({"capabilities": {"add": ["CHOWN", "KILL"]}}));
        assert_eq!(baseline_1_0(&meta(), &ok), None);
        let bad =
            with_container_sc(json!({"capabilities": {"add": ["SYS_ADMIN", "NET_RAW", "KILL"]}}));
        let v = baseline_1_0(&meta(), &bad).expect("violation");
        assert_eq!(v.reason, "non-default capabilities");
        assert_eq!(
            v.detail,
            "container \"c\" must not include \"NET_RAW\", \"SYS_ADMIN\" in securityContext.capabilities.add"
        );
    }

    #[test]
    fn restricted_requires_drop_all_and_at_most_net_bind_service() {
        let ok = with_container_sc(
            json!({"capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}}),
        );
        assert_eq!(restricted_1_25(&meta(), &ok), None);
        let v = restricted_1_25(&meta(), &with_container_sc(json!({}))).expect("violation");
        assert_eq!(v.reason, "unrestricted capabilities");
        assert_eq!(
            v.detail,
            "container \"c\" must set securityContext.capabilities.drop=[\"ALL\"]"
        );
        let bad = with_container_sc(json!({"capabilities": {"add": ["CHOWN"]}}));
        let v = restricted_1_25(&meta(), &bad).expect("violation");
        assert_eq!(
            v.detail,
            "container \"c\" must set securityContext.capabilities.drop=[\"ALL\"]; container \"c\" must not include \"CHOWN\" in securityContext.capabilities.add"
        );
        let mut windows = with_container_sc(json!({}));
        windows["os"] = json!({"name": "windows"});
        assert_eq!(restricted_1_25(&meta(), &windows), None);
        assert!(restricted_1_22(&meta(), &windows).is_some());
    }
}
