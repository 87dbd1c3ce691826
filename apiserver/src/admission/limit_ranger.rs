//! LimitRanger admission: a namespace's LimitRanges fill in the resources
//! a new pod's containers leave out, and bound what pods, containers and
//! claims may ask for (upstream's `LimitRanger` plug-in).
//!
//! For each LimitRange of the namespace, in turn:
//! - **defaults** (pods): every container and init container gets, for each
//!   resource it does not state, the `default` of the range's `Container`
//!   limits as its limit and the `defaultRequest` as its request; the pod
//!   is annotated `kubernetes.io/limit-ranger: LimitRanger plugin set: cpu
//!   request for container app; ...` so the change is visible;
//! - **bounds**: `Container` limits judge each container, `Pod` limits the
//!   pod's totals, `PersistentVolumeClaim` limits a claim's storage request,
//!   against `min` (the request and limit must be at least it), `max` (the
//!   limit, or a claim's request, must be stated and at most it) and
//!   `maxLimitRequestRatio`. A violation is a 403 with upstream's message
//!   (`maximum cpu usage per Container is 500m, but limit is 1`; several
//!   are listed in brackets).
//!
//! Runs on create, after the object's defaults and validation and before
//! quota admission, so quotas see the defaulted resources.

use std::collections::BTreeMap;

use apimachinery::quantity::Quantity;
use apimachinery::quota::pod_resources;
use apimachinery::resources::ResourceInfo;
use serde_json::{Map, Value};

use crate::errors::{ApiError, Target};
use crate::ApiServer;

/// The annotation naming what the plug-in filled in.
pub const ANNOTATION: &str = "kubernetes.io/limit-ranger";

type List = BTreeMap<String, Quantity>;

fn list(v: Option<&Value>) -> List {
    apimachinery::quota::parse_list(v)
}

/// Fills in one container's missing requests and limits; returns what it
/// set, as annotation phrases.
fn default_container(
    c: &mut Value,
    requests: &Map<String, Value>,
    limits: &Map<String, Value>,
    prefix: &str,
) -> Vec<String> {
    let name = c
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let Some(c) = c.as_object_mut() else {
        return Vec::new();
    };
    let resources = c
        .entry("resources")
        .or_insert_with(|| Value::Object(Map::new()));
    let Some(resources) = resources.as_object_mut() else {
        return Vec::new();
    };
    let mut fill = |field: &str, from: &Map<String, Value>| -> Vec<String> {
        let target = resources
            .entry(field)
            .or_insert_with(|| Value::Object(Map::new()));
        if target.is_null() {
            *target = Value::Object(Map::new());
        }
        let mut set = Vec::new();
        if let Some(target) = target.as_object_mut() {
            for (k, v) in from {
                if !target.contains_key(k) {
                    target.insert(k.clone(), v.clone());
                    set.push(k.clone());
                }
            }
        }
        set.sort();
        set
    };
    let set_limits = fill("limits", limits);
    let set_requests = fill("requests", requests);
    // Drop the empty maps we may have made, as a client would not send them.
    resources.retain(|_, v| v.as_object().is_none_or(|m| !m.is_empty()));
    let mut notes = Vec::new();
    if !set_requests.is_empty() {
        notes.push(format!(
            "{} request for {prefix} {name}",
            set_requests.join(", ")
        ));
    }
    if !set_limits.is_empty() {
        notes.push(format!(
            "{} limit for {prefix} {name}",
            set_limits.join(", ")
        ));
    }
    notes
}

/// Applies one LimitRange's container defaults to a pod (upstream
/// `PodMutateLimitFunc`).
fn default_pod(range: &Value, pod: &mut Value) {
    let mut requests = Map::new();
    let mut limits = Map::new();
    for l in items(range).filter(|l| kind(l) == "Container") {
        if let Some(m) = l.get("defaultRequest").and_then(Value::as_object) {
            requests.extend(m.clone());
        }
        if let Some(m) = l.get("default").and_then(Value::as_object) {
            limits.extend(m.clone());
        }
    }
    if requests.is_empty() && limits.is_empty() {
        return;
    }
    let mut notes = Vec::new();
    for (field, prefix) in [
        ("containers", "container"),
        ("initContainers", "init container"),
    ] {
        if let Some(cs) = pod
            .pointer_mut(&format!("/spec/{field}"))
            .and_then(Value::as_array_mut)
        {
            for c in cs {
                notes.extend(default_container(c, &requests, &limits, prefix));
            }
        }
    }
    if notes.is_empty() {
        return;
    }
    if let Some(meta) = pod.get_mut("metadata").and_then(Value::as_object_mut) {
        let annotations = meta
            .entry("annotations")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Some(a) = annotations.as_object_mut() {
            a.insert(
                ANNOTATION.into(),
                Value::String(format!("LimitRanger plugin set: {}", notes.join("; "))),
            );
        }
    }
}

fn items(range: &Value) -> impl Iterator<Item = &Value> {
    range
        .pointer("/spec/limits")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

fn kind(limit: &Value) -> &str {
    limit.get("type").and_then(Value::as_str).unwrap_or("")
}

/// `min`: the request must be stated and at least `enforced`, and so must
/// a stated limit.
fn min_constraint(
    kind: &str,
    r: &str,
    enforced: &Quantity,
    req: &List,
    lim: &List,
) -> Option<String> {
    let Some(q) = req.get(r) else {
        return Some(format!(
            "minimum {r} usage per {kind} is {enforced}.  No request is specified"
        ));
    };
    if q < enforced {
        return Some(format!(
            "minimum {r} usage per {kind} is {enforced}, but request is {q}"
        ));
    }
    match lim.get(r) {
        Some(l) if l < enforced => Some(format!(
            "minimum {r} usage per {kind} is {enforced}, but limit is {l}"
        )),
        _ => None,
    }
}

/// `max` for a claim: the request must be stated and at most `enforced`.
fn max_request_constraint(kind: &str, r: &str, enforced: &Quantity, req: &List) -> Option<String> {
    match req.get(r) {
        None => Some(format!(
            "maximum {r} usage per {kind} is {enforced}.  No request is specified"
        )),
        Some(q) if q > enforced => Some(format!(
            "maximum {r} usage per {kind} is {enforced}, but request is {q}"
        )),
        Some(_) => None,
    }
}

/// `max`: the limit must be stated and at most `enforced`, and so must a
/// stated request.
fn max_constraint(
    kind: &str,
    r: &str,
    enforced: &Quantity,
    req: &List,
    lim: &List,
) -> Option<String> {
    let Some(l) = lim.get(r) else {
        return Some(format!(
            "maximum {r} usage per {kind} is {enforced}.  No limit is specified"
        ));
    };
    if l > enforced {
        return Some(format!(
            "maximum {r} usage per {kind} is {enforced}, but limit is {l}"
        ));
    }
    match req.get(r) {
        Some(q) if q > enforced => Some(format!(
            "maximum {r} usage per {kind} is {enforced}, but request is {q}"
        )),
        _ => None,
    }
}

/// `maxLimitRequestRatio`: limit / request must be at most `enforced`.
fn ratio_constraint(
    kind: &str,
    r: &str,
    enforced: &Quantity,
    req: &List,
    lim: &List,
) -> Option<String> {
    let q = req.get(r).map(Quantity::milli_value).unwrap_or(0);
    if q == 0 {
        return Some(format!(
            "{r} max limit to request ratio per {kind} is {enforced}, but no request is specified or request is 0"
        ));
    }
    let l = lim.get(r).map(Quantity::milli_value).unwrap_or(0);
    if l == 0 {
        return Some(format!(
            "{r} max limit to request ratio per {kind} is {enforced}, but no limit is specified or limit is 0"
        ));
    }
    let observed = l as f64 / q as f64;
    // Compared in thousandths, as upstream, so `1.5` is exact.
    if observed * 1000.0 > enforced.milli_value() as f64 {
        return Some(format!(
            "{r} max limit to request ratio per {kind} is {enforced}, but provided ratio is {observed:.6}"
        ));
    }
    None
}

/// Every bound of `limit` over one set of requests and limits.
fn check(limit: &Value, kind: &str, req: &List, lim: &List, errs: &mut Vec<String>) {
    for (r, q) in list(limit.get("min")) {
        errs.extend(min_constraint(kind, &r, &q, req, lim));
    }
    for (r, q) in list(limit.get("max")) {
        errs.extend(max_constraint(kind, &r, &q, req, lim));
    }
    for (r, q) in list(limit.get("maxLimitRequestRatio")) {
        errs.extend(ratio_constraint(kind, &r, &q, req, lim));
    }
}

/// The violations of one LimitRange by a pod (upstream
/// `PodValidateLimitFunc`).
fn validate_pod(range: &Value, pod: &Value) -> Vec<String> {
    let mut errs = Vec::new();
    for limit in items(range) {
        match kind(limit) {
            "Container" => {
                for field in ["containers", "initContainers"] {
                    for c in pod
                        .pointer(&format!("/spec/{field}"))
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                    {
                        let req = list(c.pointer("/resources/requests"));
                        let lim = list(c.pointer("/resources/limits"));
                        check(limit, "Container", &req, &lim, &mut errs);
                    }
                }
            }
            "Pod" => {
                let req = pod_resources(pod, "requests");
                let lim = pod_resources(pod, "limits");
                check(limit, "Pod", &req, &lim, &mut errs);
            }
            _ => {}
        }
    }
    errs
}

/// The violations of one LimitRange by a claim (upstream
/// `PersistentVolumeClaimValidateLimitFunc`): only its requests count.
fn validate_claim(range: &Value, pvc: &Value) -> Vec<String> {
    let mut errs = Vec::new();
    let req = list(pvc.pointer("/spec/resources/requests"));
    for limit in items(range).filter(|l| kind(l) == "PersistentVolumeClaim") {
        for (r, q) in list(limit.get("min")) {
            errs.extend(min_constraint(
                "PersistentVolumeClaim",
                &r,
                &q,
                &req,
                &List::new(),
            ));
        }
        for (r, q) in list(limit.get("max")) {
            errs.extend(max_request_constraint(
                "PersistentVolumeClaim",
                &r,
                &q,
                &req,
            ));
        }
    }
    errs
}

/// Several errors read as upstream's aggregate: `[a, b]`.
fn aggregate(errs: &[String]) -> String {
    match errs {
        [one] => one.clone(),
        many => format!("[{}]", many.join(", ")),
    }
}

/// Applies the namespace's LimitRanges to a new pod or claim (see the
/// module docs); other kinds pass untouched.
pub async fn admit_create(
    server: &ApiServer,
    resource: &ResourceInfo,
    obj: &mut Value,
) -> Result<(), ApiError> {
    let is_pod = match (resource.group, resource.plural) {
        ("", "pods") => true,
        ("", "persistentvolumeclaims") => false,
        _ => return Ok(()),
    };
    let Some(ns) = obj
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .map(str::to_string)
    else {
        return Ok(());
    };
    let target = Target::new(
        resource,
        obj.pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or(""),
    );
    let ranges = server
        .list_cached("", "limitranges", Some(&ns))
        .await
        .map_err(|e| ApiError::from_storage(e, target.clone()))?;
    for cached in &ranges {
        let range = &*cached.object;
        let errs = if is_pod {
            default_pod(range, obj);
            // New requests and limits can change the pod's QoS class,
            // which creation already recorded.
            let qos = crate::registry::core::pod::qos_class(obj);
            if let Some(status) = obj.get_mut("status").and_then(Value::as_object_mut) {
                status.insert("qosClass".into(), Value::String(qos.into()));
            }
            validate_pod(range, obj)
        } else {
            validate_claim(range, obj)
        };
        if !errs.is_empty() {
            return Err(target.admission_forbidden(aggregate(&errs)));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn range(limits: Value) -> Value {
        json!({"metadata": {"name": "lr"}, "spec": {"limits": limits}})
    }

    #[test]
    fn defaults_fill_what_containers_leave_out_and_say_so() {
        let lr = range(json!([{"type": "Container",
            "default": {"cpu": "500m", "memory": "128Mi"},
            "defaultRequest": {"cpu": "100m"}}]));
        let mut pod = json!({"metadata": {"name": "p"}, "spec": {"containers": [
            {"name": "app", "resources": {"limits": {"memory": "64Mi"}}}]}});
        default_pod(&lr, &mut pod);
        let r = &pod["spec"]["containers"][0]["resources"];
        assert_eq!(r["limits"], json!({"cpu": "500m", "memory": "64Mi"}));
        assert_eq!(r["requests"], json!({"cpu": "100m"}));
        assert_eq!(
            pod["metadata"]["annotations"][ANNOTATION],
            "LimitRanger plugin set: cpu request for container app; cpu limit for container app"
        );
    }

    #[test]
    fn bounds_give_upstream_messages() {
        let lr = range(
            json!([{"type": "Container", "max": {"cpu": "500m"}, "min": {"memory": "10Mi"}}]),
        );
        let pod = |res: Value| json!({"spec": {"containers": [{"name": "c", "resources": res}]}});
        assert_eq!(
            validate_pod(
                &lr,
                &pod(json!({"limits": {"cpu": "1"}, "requests": {"memory": "20Mi"}}))
            ),
            ["maximum cpu usage per Container is 500m, but limit is 1"]
        );
        assert_eq!(
            validate_pod(&lr, &pod(json!({}))),
            // min before max, as upstream checks them.
            [
                "minimum memory usage per Container is 10Mi.  No request is specified",
                "maximum cpu usage per Container is 500m.  No limit is specified"
            ]
        );
        assert!(validate_pod(
            &lr,
            &pod(json!({"limits": {"cpu": "500m"}, "requests": {"memory": "10Mi"}}))
        )
        .is_empty());
        let ratio = range(json!([{"type": "Pod", "maxLimitRequestRatio": {"cpu": "2"}}]));
        assert_eq!(
            validate_pod(
                &ratio,
                &pod(json!({"limits": {"cpu": "3"}, "requests": {"cpu": "1"}}))
            ),
            ["cpu max limit to request ratio per Pod is 2, but provided ratio is 3.000000"]
        );
        assert_eq!(aggregate(&["a".into(), "b".into()]), "[a, b]");
    }

    #[test]
    fn claims_are_bounded_by_their_request() {
        let lr = range(json!([{"type": "PersistentVolumeClaim",
            "min": {"storage": "1Gi"}, "max": {"storage": "5Gi"}}]));
        let pvc = |s: &str| json!({"spec": {"resources": {"requests": {"storage": s}}}});
        assert_eq!(
            validate_claim(&lr, &pvc("10Gi")),
            ["maximum storage usage per PersistentVolumeClaim is 5Gi, but request is 10Gi"]
        );
        assert_eq!(
            validate_claim(&lr, &pvc("500Mi")),
            ["minimum storage usage per PersistentVolumeClaim is 1Gi, but request is 500Mi"]
        );
        assert!(validate_claim(&lr, &pvc("2Gi")).is_empty());
    }
}
