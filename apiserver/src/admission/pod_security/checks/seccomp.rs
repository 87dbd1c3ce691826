//! Seccomp profiles, at two levels.
//!
//! - `seccompProfile_baseline` (baseline): a set profile must be the
//!   runtime's default or one loaded on the node. v1.0–v1.18: the
//!   annotations `seccomp.security.alpha.kubernetes.io/pod` and
//!   `container.seccomp.security.alpha.kubernetes.io/<name>` (allowed:
//!   `runtime/default`, `docker/default`, `localhost/*`, undefined); v1.19+:
//!   `securityContext.seccompProfile.type` of the pod and each container
//!   (allowed: `RuntimeDefault`, `Localhost`, undefined).
//! - `seccompProfile_restricted` (restricted, v1.19+; Windows pods exempt
//!   from v1.25): the profile must be set, on the pod or on every
//!   container, to `RuntimeDefault` or `Localhost`. Replaces the baseline
//!   check.

use std::collections::BTreeSet;

use serde_json::Value;

use super::{
    containers, containers_named, is_windows, join_quote, name, pluralize, str_at, Check,
    Versioned, Violation,
};
use crate::admission::pod_security::Level;

const BASELINE_ID: &str = "seccompProfile_baseline";
const POD_ANNOTATION: &str = "seccomp.security.alpha.kubernetes.io/pod";
const CONTAINER_ANNOTATION_PREFIX: &str = "container.seccomp.security.alpha.kubernetes.io/";

/// The baseline check.
pub const BASELINE: Check = Check {
    id: BASELINE_ID,
    level: Level::Baseline,
    versions: &[
        Versioned {
            since: 0,
            check: baseline_1_0,
            overrides: &[],
        },
        Versioned {
            since: 19,
            check: baseline_1_19,
            overrides: &[],
        },
    ],
};

/// The restricted check.
pub const RESTRICTED: Check = Check {
    id: "seccompProfile_restricted",
    level: Level::Restricted,
    versions: &[
        Versioned {
            since: 19,
            check: restricted_1_19,
            overrides: &[BASELINE_ID],
        },
        Versioned {
            since: 25,
            check: restricted_1_25,
            overrides: &[BASELINE_ID],
        },
    ],
};

fn valid_type(t: &str) -> bool {
    matches!(t, "Localhost" | "RuntimeDefault")
}

fn valid_annotation(v: &str) -> bool {
    v == "runtime/default" || v == "docker/default" || v.starts_with("localhost/")
}

/// The profile type a security context sets, if it sets a profile.
fn profile_type(security_context: Option<&Value>) -> Option<&str> {
    let profile = security_context?
        .get("seccompProfile")
        .filter(|p| !p.is_null())?;
    Some(str_at(profile, "/type"))
}

fn baseline_1_0(meta: &Value, spec: &Value) -> Option<Violation> {
    let annotation = |key: &str| {
        meta.get("annotations")
            .and_then(|a| a.get(key))
            .map(|v| v.as_str().unwrap_or(""))
    };
    let mut forbidden = BTreeSet::new();
    if let Some(v) = annotation(POD_ANNOTATION).filter(|v| !valid_annotation(v)) {
        forbidden.insert(format!("{POD_ANNOTATION}=\"{v}\""));
    }
    for c in containers(spec) {
        let key = format!("{CONTAINER_ANNOTATION_PREFIX}{}", name(c));
        if let Some(v) = annotation(&key).filter(|v| !valid_annotation(v)) {
            forbidden.insert(format!("{key}=\"{v}\""));
        }
    }
    if forbidden.is_empty() {
        return None;
    }
    Violation::new(
        "seccompProfile",
        format!(
            "forbidden {} {}",
            pluralize("annotation", "annotations", forbidden.len()),
            forbidden.into_iter().collect::<Vec<_>>().join(", ")
        ),
    )
}

/// What the pod and its containers set: the explicitly bad setters, their
/// bad values, and the containers that set nothing.
struct Profiles {
    setters: Vec<String>,
    values: BTreeSet<String>,
    pod_valid: bool,
    unset: Vec<String>,
}

fn profiles(spec: &Value) -> Profiles {
    let mut p = Profiles {
        setters: Vec::new(),
        values: BTreeSet::new(),
        pod_valid: false,
        unset: Vec::new(),
    };
    match profile_type(spec.get("securityContext")) {
        Some(t) if !valid_type(t) => {
            p.setters.push("pod".into());
            p.values.insert(t.into());
        }
        Some(_) => p.pod_valid = true,
        None => {}
    }
    let mut bad = Vec::new();
    for c in containers(spec) {
        match profile_type(c.get("securityContext")) {
            Some(t) if !valid_type(t) => {
                bad.push(name(c));
                p.values.insert(t.into());
            }
            Some(_) => {}
            None => p.unset.push(name(c)),
        }
    }
    if !bad.is_empty() {
        p.setters.push(containers_named(&bad));
    }
    p
}

fn explicitly_bad(p: &Profiles) -> Option<Violation> {
    if p.setters.is_empty() {
        return None;
    }
    Violation::new(
        "seccompProfile",
        format!(
            "{} must not set securityContext.seccompProfile.type to {}",
            p.setters.join(" and "),
            join_quote(&p.values)
        ),
    )
}

fn baseline_1_19(_meta: &Value, spec: &Value) -> Option<Violation> {
    explicitly_bad(&profiles(spec))
}

fn restricted_1_19(_meta: &Value, spec: &Value) -> Option<Violation> {
    let p = profiles(spec);
    if let Some(v) = explicitly_bad(&p) {
        return Some(v);
    }
    if p.pod_valid || p.unset.is_empty() {
        return None;
    }
    Violation::new(
        "seccompProfile",
        format!(
            "pod or {} must set securityContext.seccompProfile.type to \"RuntimeDefault\" or \"Localhost\"",
            containers_named(&p.unset)
        ),
    )
}

fn restricted_1_25(meta: &Value, spec: &Value) -> Option<Violation> {
    if is_windows(spec) {
        return None;
    }
    restricted_1_19(meta, spec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admission::pod_security::checks::test_pods::{meta, with_container_sc};
    use serde_json::json;

    #[test]
    fn baseline_refuses_unconfined_but_not_unset() {
        assert_eq!(baseline_1_19(&meta(), &with_container_sc(json!({}))), None);
        let mut bad = with_container_sc(json!({"seccompProfile": {"type": "Unconfined"}}));
        bad["securityContext"] = json!({"seccompProfile": {"type": "Unconfined"}});
        let v = baseline_1_19(&meta(), &bad).expect("violation");
        assert_eq!(
            v.detail,
            "pod and container \"c\" must not set securityContext.seccompProfile.type to \"Unconfined\""
        );
    }

    #[test]
    fn baseline_before_1_19_reads_the_annotations() {
        let meta = json!({"annotations": {
            "seccomp.security.alpha.kubernetes.io/pod": "unconfined",
            "container.seccomp.security.alpha.kubernetes.io/c": "docker/default"}});
        let v = baseline_1_0(&meta, &with_container_sc(json!({}))).expect("violation");
        assert_eq!(
            v.detail,
            "forbidden annotation seccomp.security.alpha.kubernetes.io/pod=\"unconfined\""
        );
    }

    #[test]
    fn restricted_requires_a_profile_on_the_pod_or_every_container() {
        let v = restricted_1_25(&meta(), &with_container_sc(json!({}))).expect("violation");
        assert_eq!(
            v.detail,
            "pod or container \"c\" must set securityContext.seccompProfile.type to \"RuntimeDefault\" or \"Localhost\""
        );
        let mut ok = with_container_sc(json!({}));
        ok["securityContext"] = json!({"seccompProfile": {"type": "RuntimeDefault"}});
        assert_eq!(restricted_1_25(&meta(), &ok), None);
        let ok = with_container_sc(
            json!({"seccompProfile": {"type": "Localhost", "localhostProfile": "p"}}),
        );
        assert_eq!(restricted_1_25(&meta(), &ok), None);
    }
}
