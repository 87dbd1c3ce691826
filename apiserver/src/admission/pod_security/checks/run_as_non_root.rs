//! `runAsNonRoot` (restricted): containers must run as non-root users.
//! v1.0+: `runAsNonRoot` must be `true` on the pod or on every container,
//! and `false` nowhere; v1.35+: any value for a pod in a user namespace
//! (`spec.hostUsers: false`).

use serde_json::Value;

use super::{
    bool_at, containers, containers_named, in_user_namespace, name, Check, Versioned, Violation,
};
use crate::admission::pod_security::Level;

/// The check.
pub const CHECK: Check = Check {
    id: "runAsNonRoot",
    level: Level::Restricted,
    versions: &[
        Versioned {
            since: 0,
            check: run_as_non_root_1_0,
            overrides: &[],
        },
        Versioned {
            since: 35,
            check: run_as_non_root_1_35,
            overrides: &[],
        },
    ],
};

const FIELD: &str = "/securityContext/runAsNonRoot";

fn run_as_non_root_1_0(_meta: &Value, spec: &Value) -> Option<Violation> {
    let mut setters = Vec::new();
    let pod = bool_at(spec, FIELD);
    if pod == Some(false) {
        setters.push("pod".to_string());
    }
    let mut explicit = Vec::new();
    let mut implicit = Vec::new();
    for c in containers(spec) {
        match bool_at(c, FIELD) {
            Some(false) => explicit.push(name(c)),
            Some(true) => {}
            None if pod != Some(true) => implicit.push(name(c)),
            None => {}
        }
    }
    if !explicit.is_empty() {
        setters.push(containers_named(&explicit));
    }
    if !setters.is_empty() {
        return Violation::new(
            "runAsNonRoot != true",
            format!(
                "{} must not set securityContext.runAsNonRoot=false",
                setters.join(" and ")
            ),
        );
    }
    if !implicit.is_empty() {
        return Violation::new(
            "runAsNonRoot != true",
            format!(
                "pod or {} must set securityContext.runAsNonRoot=true",
                containers_named(&implicit)
            ),
        );
    }
    None
}

fn run_as_non_root_1_35(meta: &Value, spec: &Value) -> Option<Violation> {
    if in_user_namespace(spec) {
        return None;
    }
    run_as_non_root_1_0(meta, spec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admission::pod_security::checks::test_pods::{meta, with_container_sc};
    use serde_json::json;

    #[test]
    fn non_root_on_the_pod_or_every_container() {
        let v = run_as_non_root_1_35(&meta(), &with_container_sc(json!({}))).expect("violation");
        assert_eq!(
            v.detail,
            "pod or container \"c\" must set securityContext.runAsNonRoot=true"
        );
        let mut pod_level = with_container_sc(json!({}));
        pod_level["securityContext"] = json!({"runAsNonRoot": true});
        assert_eq!(run_as_non_root_1_35(&meta(), &pod_level), None);
        let mut explicit = with_container_sc(json!({"runAsNonRoot": false}));
        explicit["securityContext"] = json!({"runAsNonRoot": false});
        let v = run_as_non_root_1_35(&meta(), &explicit).expect("violation");
        assert_eq!(
            v.detail,
            "pod and container \"c\" must not set securityContext.runAsNonRoot=false"
        );
        explicit["hostUsers"] = json!(false);
        assert_eq!(run_as_non_root_1_35(&meta(), &explicit), None);
    }
}
