//! `appArmorProfile` (baseline, v1.0+): the default AppArmor profile may
//! not be overridden or disabled, only set to the runtime's default or a
//! profile loaded on the node.
//!
//! Restricted fields: `spec.securityContext.appArmorProfile.type` and each
//! container's `securityContext.appArmorProfile.type` (allowed:
//! `RuntimeDefault`, `Localhost`, undefined); the deprecated annotations
//! `container.apparmor.security.beta.kubernetes.io/*` (allowed:
//! `runtime/default`, `localhost/*`, empty, undefined).

use std::collections::BTreeSet;

use serde_json::Value;

use super::{
    containers, containers_named, join_quote, name, pluralize, str_at, Check, Versioned, Violation,
};
use crate::admission::pod_security::Level;

const ANNOTATION_PREFIX: &str = "container.apparmor.security.beta.kubernetes.io/";

/// The check.
pub const CHECK: Check = Check {
    id: "appArmorProfile",
    level: Level::Baseline,
    versions: &[Versioned {
        since: 0,
        check: app_armor_1_0,
        overrides: &[],
    }],
};

fn allowed_type(profile: &str) -> bool {
    matches!(profile, "RuntimeDefault" | "Localhost")
}

fn allowed_annotation(value: &str) -> bool {
    value.is_empty() || value == "runtime/default" || value.starts_with("localhost/")
}

/// The profile type a security context sets, if it sets a profile.
fn profile_type(security_context: Option<&Value>) -> Option<&str> {
    let profile = security_context?
        .get("appArmorProfile")
        .filter(|p| !p.is_null())?;
    Some(str_at(profile, "/type"))
}

fn app_armor_1_0(meta: &Value, spec: &Value) -> Option<Violation> {
    let mut setters = Vec::new();
    let mut values = BTreeSet::new();
    if let Some(t) = profile_type(spec.get("securityContext")).filter(|t| !allowed_type(t)) {
        setters.push("pod".to_string());
        values.insert(t.to_string());
    }
    let mut bad = Vec::new();
    for c in containers(spec) {
        if let Some(t) = profile_type(c.get("securityContext")).filter(|t| !allowed_type(t)) {
            bad.push(name(c));
            values.insert(t.to_string());
        }
    }
    if !bad.is_empty() {
        setters.push(containers_named(&bad));
    }
    let mut values: Vec<String> = values.into_iter().collect();
    let mut annotations: Vec<String> = meta
        .get("annotations")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter(|(k, _)| k.starts_with(ANNOTATION_PREFIX))
        .filter_map(|(k, v)| {
            let v = v.as_str().unwrap_or("");
            (!allowed_annotation(v)).then(|| format!("{k}=\"{v}\""))
        })
        .collect();
    if !annotations.is_empty() {
        annotations.sort();
        setters.push(pluralize("annotation", "annotations", annotations.len()).to_string());
        values.extend(annotations);
    }
    if setters.is_empty() {
        return None;
    }
    Violation::new(
        pluralize(
            "forbidden AppArmor profile",
            "forbidden AppArmor profiles",
            values.len(),
        ),
        format!(
            "{} must not set AppArmor profile type to {}",
            setters.join(" and "),
            join_quote(&values)
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admission::pod_security::checks::test_pods::{meta, with_container_sc};
    use serde_json::json;

    #[test]
    fn only_runtime_default_and_localhost_profiles() {
        let ok = with_container_sc(
            json!({"appArmorProfile": {"type": "Localhost", "localhostProfile": "x"}}),
        );
        assert_eq!(app_armor_1_0(&meta(), &ok), None);
        let mut bad = with_container_sc(json!({"appArmorProfile": {"type": "Unconfined"}}));
        bad["securityContext"] = json!({"appArmorProfile": {"type": "Unconfined"}});
        let v = app_armor_1_0(&meta(), &bad).expect("violation");
        assert_eq!(v.reason, "forbidden AppArmor profile");
        assert_eq!(
            v.detail,
            "pod and container \"c\" must not set AppArmor profile type to \"Unconfined\""
        );
    }

    #[test]
    fn annotations_are_checked_too() {
        let meta = json!({"annotations": {
            "container.apparmor.security.beta.kubernetes.io/c": "unconfined",
            "container.apparmor.security.beta.kubernetes.io/d": "localhost/x"}});
        let v = app_armor_1_0(&meta, &json!({"containers": []})).expect("violation");
        assert_eq!(
            v.detail,
            "annotation must not set AppArmor profile type to \"container.apparmor.security.beta.kubernetes.io/c=\"unconfined\"\""
        );
    }
}
