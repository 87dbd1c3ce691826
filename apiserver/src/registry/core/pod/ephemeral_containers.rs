//! `pods/ephemeralcontainers`: how `kubectl debug` adds a container to a
//! running pod. A write through it changes nothing but
//! `spec.ephemeralContainers`, and only by adding: an ephemeral container,
//! once there, may be neither removed nor changed (upstream's
//! `ValidatePodEphemeralContainersUpdate`). Adding one bumps the pod's
//! generation; the kubelet starts it once and never restarts it. The main
//! resource may not set them at all (not on create, not on update).

use serde_json::Value;

use crate::validation::{forbidden, FieldError};

fn list(pod: &Value) -> Vec<Value> {
    pod.pointer("/spec/ephemeralContainers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// The stored pod `current` with the ephemeral containers of `new`; its
/// generation goes up when they changed.
pub fn merge(new: &Value, current: &Value) -> Value {
    let mut merged = current.clone();
    let wanted = new.pointer("/spec/ephemeralContainers").cloned();
    if let Some(spec) = merged.get_mut("spec").and_then(Value::as_object_mut) {
        match wanted {
            Some(v) if !v.is_null() => {
                spec.insert("ephemeralContainers".into(), v);
            }
            _ => {
                spec.remove("ephemeralContainers");
            }
        }
    }
    if list(&merged) != list(current) {
        let generation = current
            .pointer("/metadata/generation")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        crate::registry::meta_mut(&mut merged)
            .insert("generation".into(), Value::from(generation + 1));
    }
    merged
}

/// Existing ephemeral containers stay as they are (after defaulting, so a
/// client re-sending one without its defaults still matches).
pub fn validate_update(new: &Value, old: &Value) -> Vec<FieldError> {
    let added = list(new);
    let mut errs = Vec::new();
    for before in list(old) {
        let name = before.get("name").and_then(Value::as_str).unwrap_or("");
        match added.iter().find(|c| c.get("name") == before.get("name")) {
            None => errs.push(forbidden(
                "spec.ephemeralContainers",
                &format!("existing ephemeral containers {name:?} may not be removed\n"),
            )),
            Some(after) if *after != before => errs.push(forbidden(
                "spec.ephemeralContainers",
                &format!("existing ephemeral containers {name:?} may not be changed\n"),
            )),
            Some(_) => {}
        }
    }
    errs
}

/// The main resource may not set ephemeral containers on create.
pub fn validate_create(pod: &Value) -> Vec<FieldError> {
    if list(pod).is_empty() {
        return Vec::new();
    }
    vec![forbidden(
        "spec.ephemeralContainers",
        "cannot be set on create",
    )]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(ephemeral: Value) -> Value {
        json!({"metadata": {"name": "p", "generation": 1},
            "spec": {"containers": [{"name": "c"}], "ephemeralContainers": ephemeral}})
    }

    #[test]
    fn only_additions_pass_and_bump_the_generation() {
        let old = pod(json!([{"name": "debugger", "image": "busybox"}]));
        let added = pod(json!([{"name": "debugger", "image": "busybox"},
            {"name": "second", "image": "busybox"}]));
        // The request may also try to change the containers: ignored.
        let mut request = added.clone();
        request["spec"]["containers"] = json!([{"name": "other"}]);
        let merged = merge(&request, &old);
        assert_eq!(merged["spec"]["containers"], old["spec"]["containers"]);
        assert_eq!(merged["metadata"]["generation"], 2);
        assert!(validate_update(&merged, &old).is_empty());
        assert_eq!(merge(&old, &old)["metadata"]["generation"], 1);

        let removed = merge(&pod(json!([])), &old);
        let errs = validate_update(&removed, &old);
        assert_eq!(
            errs[0].message,
            "Forbidden: existing ephemeral containers \"debugger\" may not be removed\n"
        );
        let changed = merge(&pod(json!([{"name": "debugger", "image": "nginx"}])), &old);
        assert!(validate_update(&changed, &old)[0]
            .message
            .contains("\"debugger\" may not be changed"));
        assert_eq!(
            validate_create(&old)[0].message,
            "Forbidden: cannot be set on create"
        );
    }
}
