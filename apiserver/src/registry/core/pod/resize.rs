//! `pods/resize`: in-place pod resize (KEP-1287).
//!
//! A running pod's containers get new cpu and memory requests and limits
//! without being recreated: a user writes them through this subresource
//! (`kubectl patch pod x --subresource resize --patch ...`), the pod's
//! `metadata.generation` goes up, and the kubelet of its node checks that the
//! new values fit, records them as allocated and applies them to the
//! containers' cgroups (or restarts a container whose `resizePolicy` asks
//! for it), reporting progress in the `PodResizePending` and
//! `PodResizeInProgress` conditions.
//!
//! Like upstream's `podResizeStrategy`, a write here takes only the
//! containers' `resources` and `resizePolicy` from the request (of app
//! containers and sidecars); everything else, status and metadata included,
//! stays as stored ([`prepare`]). [`validate`] then applies upstream's
//! `ValidatePodResize`: the QoS class may not change, requests and limits
//! may not be removed, only cpu and memory may change (a changed
//! `resizePolicy` is refused too: upstream compares everything else of the
//! container), and non-sidecar init containers keep their resources. A
//! memory limit may go down: the kubelet applies it. The main resource's update still
//! refuses any change of resources: this subresource is the only way.

use serde_json::{json, Map, Value};

use crate::validation::{forbidden, invalid, FieldError};

/// The annotation that marks a kubelet's mirror of a static pod.
const MIRROR_POD_ANNOTATION: &str = "kubernetes.io/config.mirror";

/// The resources a resize may change.
const RESIZABLE: [&str; 2] = ["cpu", "memory"];

fn containers<'a>(pod: &'a Value, list: &str) -> &'a [Value] {
    pod.pointer(&format!("/spec/{list}"))
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

fn name(c: &Value) -> &str {
    c.get("name").and_then(Value::as_str).unwrap_or("")
}

/// Whether an init container is a sidecar (`restartPolicy: Always`).
fn is_sidecar(c: &Value) -> bool {
    c.get("restartPolicy").and_then(Value::as_str) == Some("Always")
}

/// The object a resize write stores: `old` with the containers' `resources`
/// and `resizePolicy` of `new` (upstream's `dropNonResizeUpdates`). When
/// containers were added, removed, renamed or reordered the requested
/// containers are kept as sent, so that [`validate`] reports it.
pub fn prepare(new: &Value, old: &Value) -> Value {
    let mut merged = old.clone();
    let mut spec = old.get("spec").cloned().unwrap_or_else(|| json!({}));
    for list in ["containers", "initContainers"] {
        let (n, o) = (containers(new, list), containers(old, list));
        let same_shape = n.len() == o.len() && n.iter().zip(o).all(|(a, b)| name(a) == name(b));
        let merged_list: Vec<Value> = if !same_shape {
            n.to_vec()
        } else {
            n.iter()
                .zip(o)
                .map(|(nc, oc)| {
                    let mut c = oc.clone();
                    if let Some(map) = c.as_object_mut() {
                        for field in ["resources", "resizePolicy"] {
                            match nc.get(field) {
                                Some(v) => {
                                    map.insert(field.into(), v.clone());
                                }
                                None => {
                                    map.remove(field);
                                }
                            }
                        }
                    }
                    c
                })
                .collect()
        };
        if let Some(map) = spec.as_object_mut() {
            if merged_list.is_empty() && !map.contains_key(list) {
                continue;
            }
            map.insert(list.into(), Value::Array(merged_list));
        }
    }
    let changed = Some(&spec) != old.get("spec");
    if let Some(map) = merged.as_object_mut() {
        map.insert("spec".into(), spec);
    }
    if changed {
        let generation = old
            .pointer("/metadata/generation")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        crate::registry::meta_mut(&mut merged).insert("generation".into(), json!(generation + 1));
    }
    merged
}

/// The names of a resource list (`requests` or `limits`) of a container.
fn list<'a>(c: &'a Value, which: &str) -> Option<&'a Map<String, Value>> {
    c.pointer(&format!("/resources/{which}"))
        .and_then(Value::as_object)
}

/// Whether `new` lacks a resource that `old` has.
fn removed(new: Option<&Map<String, Value>>, old: Option<&Map<String, Value>>) -> bool {
    old.into_iter()
        .flatten()
        .any(|(k, _)| !new.is_some_and(|n| n.contains_key(k)))
}

/// `c` with its cpu and memory requests and limits replaced by `old`'s (and
/// empty lists dropped): what must equal `old` when only cpu and memory
/// changed (upstream's `dropCPUMemoryResourcesFromContainer`).
fn masked(c: &Value, old: &Value) -> Value {
    let mut c = c.clone();
    let mut resources = Map::new();
    for which in ["limits", "requests"] {
        let mut l = list(&c, which).cloned().unwrap_or_default();
        for r in RESIZABLE {
            match list(old, which).and_then(|o| o.get(r)) {
                Some(v) => {
                    l.insert(r.into(), v.clone());
                }
                None => {
                    l.remove(r);
                }
            }
        }
        if !l.is_empty() {
            resources.insert(which.into(), Value::Object(l));
        }
    }
    if let Some(claims) = c.pointer("/resources/claims").cloned() {
        resources.insert("claims".into(), claims);
    }
    if let Some(map) = c.as_object_mut() {
        map.insert("resources".into(), Value::Object(resources));
    }
    c
}

/// A container with empty resource lists dropped, so `{}` and a missing
/// list compare equal (Go's semantic equality).
fn normalized(c: &Value) -> Value {
    let mut c = c.clone();
    if let Some(res) = c.get_mut("resources").and_then(Value::as_object_mut) {
        res.retain(|_, v| !(v.is_null() || v.as_object().is_some_and(Map::is_empty)));
    }
    c
}

fn qos_of_stored(old: &Value) -> String {
    old.pointer("/status/qosClass")
        .and_then(Value::as_str)
        .filter(|q| !q.is_empty())
        .map(str::to_string)
        .unwrap_or_else(|| super::qos_class(old).to_string())
}

/// Whether the node runs a kubelet that resizes: a running container
/// reports its `resources` (upstream's version-skew check). Without running
/// containers nothing tells, and the resize is allowed.
fn node_supports_resize(old: &Value) -> bool {
    old.pointer("/status/containerStatuses")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|s| s.pointer("/state/running").is_some_and(|r| !r.is_null()))
        .is_none_or(|s| s.get("resources").is_some_and(|r| !r.is_null()))
}

/// Upstream's `ValidatePodResize`, on a resize already [`prepare`]d.
pub fn validate(new: &Value, old: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if old
        .pointer("/metadata/annotations")
        .and_then(Value::as_object)
        .is_some_and(|a| a.contains_key(MIRROR_POD_ANNOTATION))
    {
        return vec![forbidden("", "static pods cannot be resized")];
    }
    if old.pointer("/spec/os/name").and_then(Value::as_str) == Some("windows") {
        return vec![forbidden("", "windows pods cannot be resized")];
    }
    let old_qos = qos_of_stored(old);
    if old_qos != super::qos_class(new) {
        let shown = new
            .pointer("/status/qosClass")
            .cloned()
            .unwrap_or(json!(""));
        errs.push(invalid(
            "spec",
            &shown,
            "Pod QOS Class may not change as a result of resizing",
        ));
    }
    if !node_supports_resize(old) {
        errs.push(forbidden(
            "spec",
            "Pod running on node without support for resize",
        ));
    }
    let pod_level = |p: &Value| {
        ["requests", "limits"].iter().any(|w| {
            p.pointer(&format!("/spec/resources/{w}"))
                .and_then(Value::as_object)
                .is_some_and(|m| !m.is_empty())
        })
    };
    if pod_level(old) || pod_level(new) {
        errs.push(forbidden(
            "",
            "resize of pods with pod-level resources is forbidden when InPlacePodLevelResourcesVerticalScalingEnabled feature gate is disabled",
        ));
        return errs;
    }

    // Containers may not be added, removed, renamed or reordered.
    let mut order = Vec::new();
    for (list_name, what) in [
        ("containers", "containers"),
        ("initContainers", "initContainers"),
    ] {
        let (n, o) = (containers(new, list_name), containers(old, list_name));
        if n.len() != o.len() {
            order.push(forbidden(
                format!("spec.{list_name}"),
                &format!("{what} may not be added or removed on resize"),
            ));
            continue;
        }
        for (i, (a, b)) in n.iter().zip(o).enumerate() {
            if name(a) != name(b) {
                order.push(forbidden(
                    format!("spec.{list_name}[{i}].name"),
                    &format!("{what} may not be renamed or reordered on resize"),
                ));
            }
        }
    }
    if !order.is_empty() {
        errs.extend(order);
        return errs;
    }

    let (new_init, old_init) = (
        containers(new, "initContainers"),
        containers(old, "initContainers"),
    );
    let (new_apps, old_apps) = (containers(new, "containers"), containers(old, "containers"));
    // Requests and limits may not be removed.
    let removal = |list_name: &str, i: usize, n: &Value, o: &Value, errs: &mut Vec<FieldError>| {
        let path = format!("spec.{list_name}[{i}].resources");
        if removed(list(n, "requests"), list(o, "requests")) {
            errs.push(forbidden(
                format!("{path}.requests"),
                "resource requests cannot be removed",
            ));
        }
        if removed(list(n, "limits"), list(o, "limits")) {
            errs.push(forbidden(
                format!("{path}.limits"),
                "resource limits cannot be removed",
            ));
        }
    };
    for (i, (n, o)) in new_init.iter().zip(old_init).enumerate() {
        if is_sidecar(o) {
            removal("initContainers", i, n, o, &mut errs);
        }
    }
    for (i, (n, o)) in new_apps.iter().zip(old_apps).enumerate() {
        removal("containers", i, n, o, &mut errs);
    }
    // Only cpu and memory may change.
    for (n, o) in new_apps.iter().zip(old_apps) {
        if normalized(&masked(n, o)) != normalized(o) {
            errs.push(forbidden(
                "spec",
                "only cpu and memory resources are mutable",
            ));
        }
    }
    for (i, (n, o)) in new_init.iter().zip(old_init).enumerate() {
        if is_sidecar(n) {
            if normalized(&masked(n, o)) != normalized(o) {
                errs.push(forbidden(
                    format!("spec.initContainers[{i}]"),
                    "only cpu and memory resources for init or sidecar containers are mutable",
                ));
            }
        } else if normalized(n) != normalized(o) {
            errs.push(forbidden(
                "spec",
                "resources for non-sidecar init containers are immutable",
            ));
        }
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(containers: Value) -> Value {
        json!({
            "metadata": {"name": "p", "generation": 1, "labels": {"a": "b"}},
            "spec": {"containers": containers, "restartPolicy": "Always"},
            "status": {"qosClass": "Burstable", "phase": "Running"}
        })
    }

    fn messages(errs: &[FieldError]) -> Vec<String> {
        errs.iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect()
    }

    #[test]
    fn only_resources_are_taken_and_generation_goes_up() {
        let old = pod(json!([{"name": "c", "image": "a",
            "resources": {"requests": {"cpu": "100m"}}}]));
        let mut new = pod(json!([{"name": "c", "image": "b",
            "resources": {"requests": {"cpu": "200m"}}}]));
        new["metadata"]["labels"] = json!({"x": "y"});
        new["status"]["phase"] = json!("Failed");
        let merged = prepare(&new, &old);
        assert_eq!(merged["spec"]["containers"][0]["image"], "a");
        assert_eq!(
            merged["spec"]["containers"][0]["resources"]["requests"]["cpu"],
            "200m"
        );
        assert_eq!(merged["metadata"]["labels"], json!({"a": "b"}));
        assert_eq!(merged["status"]["phase"], "Running");
        assert_eq!(merged["metadata"]["generation"], 2);
        assert!(validate(&merged, &old).is_empty());
        // Nothing changed: the generation stays.
        assert_eq!(prepare(&old, &old)["metadata"]["generation"], 1);
        // A new resizePolicy is taken, then refused like any field but cpu
        // and memory (upstream compares the rest of the container).
        new["spec"]["containers"][0]["resizePolicy"] =
            json!([{"resourceName": "cpu", "restartPolicy": "RestartContainer"}]);
        let merged = prepare(&new, &old);
        assert_eq!(
            merged["spec"]["containers"][0]["resizePolicy"][0]["resourceName"],
            "cpu"
        );
        assert_eq!(
            messages(&validate(&merged, &old)),
            ["spec: Forbidden: only cpu and memory resources are mutable"]
        );
    }

    #[test]
    fn refused_changes_carry_upstreams_messages() {
        let old = pod(json!([{"name": "c", "image": "a",
            "resources": {"requests": {"cpu": "100m", "memory": "10Mi"}}}]));
        // Removing a request.
        let new = prepare(
            &pod(json!([{"name": "c", "resources": {"requests": {"cpu": "200m"}}}])),
            &old,
        );
        assert_eq!(
            messages(&validate(&new, &old)),
            ["spec.containers[0].resources.requests: Forbidden: resource requests cannot be removed"]
        );
        // A resource other than cpu and memory.
        let new = prepare(
            &pod(
                json!([{"name": "c", "resources": {"requests": {"cpu": "100m", "memory": "10Mi", "ephemeral-storage": "1Gi"}}}]),
            ),
            &old,
        );
        assert_eq!(
            messages(&validate(&new, &old)),
            ["spec: Forbidden: only cpu and memory resources are mutable"]
        );
        // A QoS change (Burstable -> Guaranteed).
        let new = prepare(
            &pod(json!([{"name": "c", "resources": {
                "requests": {"cpu": "100m", "memory": "10Mi"},
                "limits": {"cpu": "100m", "memory": "10Mi"}}}])),
            &old,
        );
        assert_eq!(
            messages(&validate(&new, &old)),
            ["spec: Invalid value: \"Burstable\": Pod QOS Class may not change as a result of resizing"]
        );
        // A renamed container.
        let new = prepare(&pod(json!([{"name": "d"}])), &old);
        assert_eq!(
            messages(&validate(&new, &old)),
            [
                "spec: Invalid value: \"Burstable\": Pod QOS Class may not change as a result of resizing",
                "spec.containers[0].name: Forbidden: containers may not be renamed or reordered on resize"
            ]
        );
    }

    #[test]
    fn non_sidecar_init_containers_keep_their_resources() {
        let mut old = pod(json!([{"name": "c", "resources": {"requests": {"cpu": "100m"}}}]));
        old["spec"]["initContainers"] = json!([
            {"name": "i", "resources": {"requests": {"cpu": "100m"}}},
            {"name": "s", "restartPolicy": "Always", "resources": {"requests": {"cpu": "100m"}}}
        ]);
        let mut new = old.clone();
        new["spec"]["initContainers"][1]["resources"]["requests"]["cpu"] = json!("300m");
        let merged = prepare(&new, &old);
        assert!(validate(&merged, &old).is_empty());
        new["spec"]["initContainers"][0]["resources"]["requests"]["cpu"] = json!("300m");
        let merged = prepare(&new, &old);
        assert_eq!(
            messages(&validate(&merged, &old)),
            ["spec: Forbidden: resources for non-sidecar init containers are immutable"]
        );
    }

    #[test]
    fn static_pods_and_old_kubelets() {
        let mut old = pod(json!([{"name": "c", "resources": {"requests": {"cpu": "100m"}}}]));
        old["status"]["containerStatuses"] = json!([{"name": "c", "state": {"running": {}}}]);
        let mut new = old.clone();
        new["spec"]["containers"][0]["resources"]["requests"]["cpu"] = json!("200m");
        let merged = prepare(&new, &old);
        assert_eq!(
            messages(&validate(&merged, &old)),
            ["spec: Forbidden: Pod running on node without support for resize"]
        );
        old["metadata"]["annotations"] = json!({MIRROR_POD_ANNOTATION: "x"});
        assert_eq!(
            messages(&validate(&merged, &old)),
            [": Forbidden: static pods cannot be resized"]
        );
    }
}
