//! `runAsUser` (restricted): containers may not set `runAsUser: 0`. v1.23+:
//! on the pod and each container; v1.35+: any value for a pod in a user
//! namespace (`spec.hostUsers: false`).

use serde_json::Value;

use super::{containers, containers_named, in_user_namespace, name, Check, Versioned, Violation};
use crate::admission::pod_security::Level;

/// The check.
pub const CHECK: Check = Check {
    id: "runAsUser",
    level: Level::Restricted,
    versions: &[
        Versioned {
            since: 23,
            check: run_as_user_1_23,
            overrides: &[],
        },
        Versioned {
            since: 35,
            check: run_as_user_1_35,
            overrides: &[],
        },
    ],
};

fn is_root(v: &Value) -> bool {
    v.pointer("/securityContext/runAsUser")
        .and_then(Value::as_i64)
        == Some(0)
}

fn run_as_user_1_23(_meta: &Value, spec: &Value) -> Option<Violation> {
    let mut setters = Vec::new();
    if is_root(spec) {
        setters.push("pod".to_string());
    }
    let bad: Vec<String> = containers(spec).filter(|c| is_root(c)).map(name).collect();
    if !bad.is_empty() {
        setters.push(containers_named(&bad));
    }
    if setters.is_empty() {
        return None;
    }
    Violation::new(
        "runAsUser=0",
        format!("{} must not set runAsUser=0", setters.join(" and ")),
    )
}

fn run_as_user_1_35(meta: &Value, spec: &Value) -> Option<Violation> {
    if in_user_namespace(spec) {
        return None;
    }
    run_as_user_1_23(meta, spec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admission::pod_security::checks::test_pods::{meta, with_container_sc};
    use serde_json::json;

    #[test]
    fn root_user_is_refused() {
        let mut spec = with_container_sc(json!({"runAsUser": 0}));
        spec["securityContext"] = json!({"runAsUser": 0});
        let v = run_as_user_1_35(&meta(), &spec).expect("violation");
        assert_eq!(v.detail, "pod and container \"c\" must not set runAsUser=0");
        spec["hostUsers"] = json!(false);
        assert_eq!(run_as_user_1_35(&meta(), &spec), None);
        let ok = with_container_sc(json!({"runAsUser": 1000}));
        assert_eq!(run_as_user_1_23(&meta(), &ok), None);
    }
}
