//! Defaulting: the values the API fills in when a client leaves a field out,
//! the helpers shared by the kinds' strategies (each kind's own defaults live
//! in its file under [`crate::registry`]).
//!
//! A manifest with just a container name and image becomes a Pod with
//! `restartPolicy: Always`, `dnsPolicy: ClusterFirst`, a 30 s termination grace
//! period, an image pull policy derived from the tag, and so on — the same
//! values upstream's defaulters set, so `kubectl get -o yaml` shows what a
//! Kubernetes user expects and controllers never meet a missing field.
//!
//! Defaults run after the kind's strategy decoded the object into its
//! `k8s-openapi` type and back (see `registry::Strategy::normalize`), so they
//! work on well-typed JSON.

use serde_json::{json, Value};

pub mod pod_spec;

pub use pod_spec::{pod_spec, pull_policy};

/// Sets `path` to `value` when it is missing or null, creating parent maps.
pub fn set_default(obj: &mut Value, path: &[&str], value: Value) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut cur = obj;
    for p in parents {
        if !cur.is_object() {
            return;
        }
        let next = cur
            .as_object_mut()
            .map(|m| m.entry(p.to_string()).or_insert_with(|| json!({})));
        match next {
            Some(n) if n.is_object() => cur = n,
            Some(n) if n.is_null() => {
                *n = json!({});
                cur = n;
            }
            _ => return,
        }
    }
    if let Some(m) = cur.as_object_mut() {
        match m.get(*last) {
            None | Some(Value::Null) => {
                m.insert(last.to_string(), value);
            }
            _ => {}
        }
    }
}

/// A workload's update strategy (`spec.<field>`): the type defaults to
/// `RollingUpdate`, and a rolling update gets `rolling` (upstream's
/// per-kind defaults) under `rollingUpdate`.
pub fn rolling_update(obj: &mut Value, field: &str, rolling: &[(&str, Value)]) {
    set_default(obj, &["spec", field, "type"], Value::from("RollingUpdate"));
    let ty = obj
        .get("spec")
        .and_then(|s| s.get(field))
        .and_then(|s| s.get("type"));
    if ty.and_then(Value::as_str) == Some("RollingUpdate") {
        for (name, value) in rolling {
            set_default(obj, &["spec", field, "rollingUpdate", name], value.clone());
        }
    }
}

/// Defaults of the PodSpec found at `path` (a workload's pod template).
pub fn template(obj: &mut Value, path: &[&str]) {
    let mut cur = obj;
    for p in path {
        match cur.get_mut(*p) {
            Some(n) => cur = n,
            None => return,
        }
    }
    pod_spec(cur);
}
