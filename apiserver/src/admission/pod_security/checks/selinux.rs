//! `seLinuxOptions` (baseline): the SELinux type may only be a container
//! type, and a custom SELinux user or role is forbidden.
//!
//! Restricted fields: `seLinuxOptions.type` of the pod's and each
//! container's `securityContext` (allowed: undefined/empty, `container_t`,
//! `container_init_t`, `container_kvm_t`, and from v1.31
//! `container_engine_t`); `seLinuxOptions.user` and `.role` (allowed:
//! undefined/empty).

use std::collections::BTreeSet;

use serde_json::Value;

use super::{
    containers, containers_named, join_quote, name, pluralize, str_at, Check, Versioned, Violation,
};
use crate::admission::pod_security::Level;

/// The check.
pub const CHECK: Check = Check {
    id: "seLinuxOptions",
    level: Level::Baseline,
    versions: &[
        Versioned {
            since: 0,
            check: selinux_1_0,
            overrides: &[],
        },
        Versioned {
            since: 31,
            check: selinux_1_31,
            overrides: &[],
        },
    ],
};

const TYPES_1_0: &[&str] = &["", "container_t", "container_init_t", "container_kvm_t"];
const TYPES_1_31: &[&str] = &[
    "",
    "container_t",
    "container_init_t",
    "container_kvm_t",
    "container_engine_t",
];

fn selinux_1_0(meta: &Value, spec: &Value) -> Option<Violation> {
    selinux(meta, spec, TYPES_1_0)
}

fn selinux_1_31(meta: &Value, spec: &Value) -> Option<Violation> {
    selinux(meta, spec, TYPES_1_31)
}

#[derive(Default)]
struct Found {
    types: BTreeSet<String>,
    user: bool,
    role: bool,
}

impl Found {
    /// Whether `security_context`'s options are allowed, noting what is not.
    fn valid(&mut self, security_context: Option<&Value>, allowed: &[&str]) -> bool {
        let Some(opts) = security_context
            .and_then(|sc| sc.get("seLinuxOptions"))
            .filter(|o| !o.is_null())
        else {
            return true;
        };
        let mut valid = true;
        let t = str_at(opts, "/type");
        if !allowed.contains(&t) {
            valid = false;
            self.types.insert(t.to_string());
        }
        if !str_at(opts, "/user").is_empty() {
            valid = false;
            self.user = true;
        }
        if !str_at(opts, "/role").is_empty() {
            valid = false;
            self.role = true;
        }
        valid
    }
}

fn selinux(_meta: &Value, spec: &Value, allowed: &[&str]) -> Option<Violation> {
    let mut found = Found::default();
    let mut setters = Vec::new();
    if !found.valid(spec.get("securityContext"), allowed) {
        setters.push("pod".to_string());
    }
    let bad: Vec<String> = containers(spec)
        .filter(|c| !found.valid(c.get("securityContext"), allowed))
        .map(name)
        .collect();
    if !bad.is_empty() {
        setters.push(containers_named(&bad));
    }
    if setters.is_empty() {
        return None;
    }
    let mut data = Vec::new();
    if !found.types.is_empty() {
        data.push(format!(
            "{} {}",
            pluralize("type", "types", found.types.len()),
            join_quote(&found.types)
        ));
    }
    if found.user {
        data.push("user may not be set".to_string());
    }
    if found.role {
        data.push("role may not be set".to_string());
    }
    Violation::new(
        "seLinuxOptions",
        format!(
            "{} set forbidden securityContext.seLinuxOptions: {}",
            setters.join(" and "),
            data.join("; ")
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admission::pod_security::checks::test_pods::{meta, with_container_sc};
    use serde_json::json;

    #[test]
    fn only_container_types_and_no_user_or_role() {
        let ok =
            with_container_sc(json!({"seLinuxOptions": {"type": "container_t", "level": "s0"}}));
        assert_eq!(selinux_1_0(&meta(), &ok), None);
        let mut bad = with_container_sc(json!({"seLinuxOptions": {"type": "spc_t", "role": "r"}}));
        bad["securityContext"] = json!({"seLinuxOptions": {"user": "u"}});
        let v = selinux_1_0(&meta(), &bad).expect("violation");
        assert_eq!(
            v.detail,
            "pod and container \"c\" set forbidden securityContext.seLinuxOptions: type \"spc_t\"; user may not be set; role may not be set"
        );
        let engine = with_container_sc(json!({"seLinuxOptions": {"type": "container_engine_t"}}));
        assert!(selinux_1_0(&meta(), &engine).is_some());
        assert_eq!(selinux_1_31(&meta(), &engine), None);
    }
}
