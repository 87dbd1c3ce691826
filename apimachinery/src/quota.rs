//! Resource quota accounting (upstream `pkg/quota/v1` and its evaluators):
//! what one object uses of a namespace's ResourceQuotas, and whether a quota
//! applies to it. The apiserver's quota admission charges a new object's
//! usage against `status.used`; the controller-manager's quota controller
//! sums the usage of every object to recompute `status.used`. Both need the
//! same answer, so the rules live here, over plain JSON objects.
//!
//! What an object uses ([`usage`]):
//! - every object: `count/<resource>[.<group>]` = 1;
//! - pods (not finished): `pods` = 1, and from the summed container
//!   requests and limits (init containers count as their maximum)
//!   `cpu`/`memory`/`ephemeral-storage` (the requests, under their bare
//!   names and `requests.*`) and `limits.*`;
//! - services: `services`, `services.nodeports` (ports of a NodePort or
//!   LoadBalancer service), `services.loadbalancers`;
//! - persistentvolumeclaims: `persistentvolumeclaims`, `requests.storage`
//!   and both per storage class
//!   (`<class>.storageclass.storage.k8s.io/requests.storage`);
//! - configmaps, secrets, replicationcontrollers, resourcequotas: their
//!   legacy count names.
//!
//! Scopes ([`matches`]) select pods only: `Terminating`/`NotTerminating`
//! (`activeDeadlineSeconds` set or not), `BestEffort`/`NotBestEffort` (QoS
//! class), `PriorityClass` (by `priorityClassName`, with `scopeSelector`
//! operators), `CrossNamespacePodAffinity`. A quota with a scope matches no
//! other kind, as upstream.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::qos::{pod_qos_class, ContainerResources, QosClass};
use crate::quantity::Quantity;

/// Resource names and amounts (`pods` -> 2, `requests.cpu` -> 500m).
pub type ResourceList = BTreeMap<String, Quantity>;

/// The names a pod's usage can have (besides hugepages).
const POD_RESOURCES: &[&str] = &[
    "count/pods",
    "cpu",
    "memory",
    "ephemeral-storage",
    "requests.cpu",
    "requests.memory",
    "requests.ephemeral-storage",
    "limits.cpu",
    "limits.memory",
    "limits.ephemeral-storage",
    "pods",
];

/// The resources a quota on cpu or memory makes every container state
/// (upstream's backward-compatible `validationSet`).
const MUST_SPECIFY: &[&str] = &[
    "cpu",
    "memory",
    "requests.cpu",
    "requests.memory",
    "limits.cpu",
    "limits.memory",
];

const STORAGE_CLASS_SUFFIX: &str = ".storageclass.storage.k8s.io/";

/// The object-count name of a resource: `count/pods`,
/// `count/deployments.apps`.
pub fn count_name(group: &str, resource: &str) -> String {
    if group.is_empty() {
        format!("count/{resource}")
    } else {
        format!("count/{resource}.{group}")
    }
}

/// Whether quota resource `name` is one an object of `group`/`resource`
/// can be charged for (upstream `MatchingResources`).
pub fn charges(group: &str, resource: &str, name: &str) -> bool {
    if name == count_name(group, resource) {
        return true;
    }
    match (group, resource) {
        ("", "pods") => {
            POD_RESOURCES.contains(&name)
                || name.starts_with("requests.hugepages-")
                || name.starts_with("hugepages-")
                || name.strip_prefix("requests.").is_some_and(is_extended)
        }
        ("", "services") => matches!(
            name,
            "services" | "services.nodeports" | "services.loadbalancers"
        ),
        ("", "persistentvolumeclaims") => {
            matches!(name, "persistentvolumeclaims" | "requests.storage")
                || name.ends_with(&format!("{STORAGE_CLASS_SUFFIX}requests.storage"))
                || name.ends_with(&format!("{STORAGE_CLASS_SUFFIX}persistentvolumeclaims"))
        }
        ("", "configmaps" | "secrets" | "replicationcontrollers" | "resourcequotas") => {
            name == resource
        }
        _ => false,
    }
}

fn one() -> Quantity {
    Quantity::new(1, 0, crate::quantity::Format::DecimalSI)
}

fn add(list: &mut ResourceList, name: &str, q: Quantity) {
    let sum = match list.get(name) {
        Some(old) => old.checked_add(&q).unwrap_or(*old),
        None => q,
    };
    list.insert(name.to_string(), sum);
}

/// `a + b`, resource by resource.
pub fn sum(a: &ResourceList, b: &ResourceList) -> ResourceList {
    let mut out = a.clone();
    for (k, v) in b {
        add(&mut out, k, *v);
    }
    out
}

fn quantities(v: Option<&Value>) -> ResourceList {
    v.and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, q)| Some((k.clone(), Quantity::parse(q.as_str()?).ok()?)))
                .collect()
        })
        .unwrap_or_default()
}

/// Whether a pod is finished (or stuck terminating past its grace period)
/// and so no longer charged for compute (upstream `QuotaV1Pod`).
fn pod_charged(pod: &Value, now_millis: i64) -> bool {
    let phase = pod.pointer("/status/phase").and_then(Value::as_str);
    if matches!(phase, Some("Failed" | "Succeeded")) {
        return false;
    }
    let deleted = pod
        .pointer("/metadata/deletionTimestamp")
        .and_then(Value::as_str)
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok());
    let grace = pod
        .pointer("/metadata/deletionGracePeriodSeconds")
        .and_then(Value::as_i64);
    if let (Some(at), Some(grace)) = (deleted, grace) {
        if now_millis > at.timestamp_millis() + grace * 1000 {
            return false;
        }
    }
    true
}

fn containers<'a>(pod: &'a Value, field: &str) -> Vec<&'a Value> {
    pod.pointer(&format!("/spec/{field}"))
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default()
}

/// The requests (`which` = `"requests"`) or limits (`"limits"`) of a pod:
/// containers summed, then each resource raised to what any init container
/// asks alone (upstream `PodRequests`/`PodLimits`, without sidecars and
/// overhead). LimitRange's `Pod` limits judge the same totals.
pub fn pod_resources(pod: &Value, which: &str) -> ResourceList {
    let mut total = ResourceList::new();
    for c in containers(pod, "containers") {
        for (k, v) in quantities(c.pointer(&format!("/resources/{which}"))) {
            add(&mut total, &k, v);
        }
    }
    for c in containers(pod, "initContainers") {
        for (k, v) in quantities(c.pointer(&format!("/resources/{which}"))) {
            if total.get(&k).is_none_or(|t| *t < v) {
                total.insert(k, v);
            }
        }
    }
    total
}

/// The usage names of one container's (or a pod's) requests and limits
/// (upstream `podComputeUsageHelper`).
fn compute_usage(requests: &ResourceList, limits: &ResourceList) -> ResourceList {
    let mut out = ResourceList::new();
    out.insert("pods".into(), one());
    for r in ["cpu", "memory", "ephemeral-storage"] {
        if let Some(q) = requests.get(r) {
            out.insert(r.into(), *q);
            out.insert(format!("requests.{r}"), *q);
        }
        if let Some(q) = limits.get(r) {
            out.insert(format!("limits.{r}"), *q);
        }
    }
    for (k, q) in requests {
        if k.starts_with("hugepages-") {
            out.insert(k.clone(), *q);
            out.insert(format!("requests.{k}"), *q);
        }
        // Extended resources (`example.com/dongle`) are quota'd by request
        // only (they cannot be overcommitted: limit equals request).
        if is_extended(k) {
            out.insert(format!("requests.{k}"), *q);
        }
    }
    out
}

/// An extended resource name (upstream `IsExtendedResourceName`): a
/// domain-prefixed name outside `kubernetes.io`, not itself a
/// `requests.` quota name.
fn is_extended(name: &str) -> bool {
    name.contains('/')
        && !name.starts_with("requests.")
        && !name.starts_with("kubernetes.io/")
        && !name
            .split_once('/')
            .is_some_and(|(domain, _)| domain.ends_with(".kubernetes.io"))
}

/// What `obj` (of `group`/`resource`) uses of a quota; `now_millis` decides
/// whether a terminating pod still counts.
pub fn usage(group: &str, resource: &str, obj: &Value, now_millis: i64) -> ResourceList {
    let mut out = ResourceList::new();
    out.insert(count_name(group, resource), one());
    if !group.is_empty() {
        return out;
    }
    match resource {
        "pods" => {
            if pod_charged(obj, now_millis) {
                let requests = pod_resources(obj, "requests");
                let limits = pod_resources(obj, "limits");
                out.extend(compute_usage(&requests, &limits));
            }
        }
        "services" => {
            out.insert("services".into(), one());
            let ports = obj
                .pointer("/spec/ports")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let n =
                |count: usize| Quantity::new(count as i64, 0, crate::quantity::Format::DecimalSI);
            match obj.pointer("/spec/type").and_then(Value::as_str) {
                Some("NodePort") => {
                    out.insert("services.nodeports".into(), n(ports.len()));
                }
                Some("LoadBalancer") => {
                    let allocate = obj
                        .pointer("/spec/allocateLoadBalancerNodePorts")
                        .and_then(Value::as_bool)
                        != Some(false);
                    let count = if allocate {
                        ports.len()
                    } else {
                        ports
                            .iter()
                            .filter(|p| p.get("nodePort").and_then(Value::as_i64).unwrap_or(0) != 0)
                            .count()
                    };
                    out.insert("services.nodeports".into(), n(count));
                    out.insert("services.loadbalancers".into(), one());
                }
                _ => {}
            }
        }
        "persistentvolumeclaims" => {
            out.insert("persistentvolumeclaims".into(), one());
            let class = obj
                .pointer("/spec/storageClassName")
                .and_then(Value::as_str)
                .filter(|c| !c.is_empty());
            if let Some(c) = class {
                out.insert(
                    format!("{c}{STORAGE_CLASS_SUFFIX}persistentvolumeclaims"),
                    one(),
                );
            }
            if let Some(q) = quantities(obj.pointer("/spec/resources/requests")).get("storage") {
                out.insert("requests.storage".into(), *q);
                if let Some(c) = class {
                    out.insert(format!("{c}{STORAGE_CLASS_SUFFIX}requests.storage"), *q);
                }
            }
        }
        "configmaps" | "secrets" | "replicationcontrollers" | "resourcequotas" => {
            out.insert(resource.into(), one());
        }
        _ => {}
    }
    out
}

/// The scope requirements of a quota: `spec.scopes` (each "exists") and
/// `spec.scopeSelector.matchExpressions`, as (scope, operator, values).
fn scope_selectors(quota: &Value) -> Vec<(String, String, Vec<String>)> {
    let mut out: Vec<(String, String, Vec<String>)> = quota
        .pointer("/spec/scopes")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(|s| (s.to_string(), "Exists".to_string(), Vec::new()))
                .collect()
        })
        .unwrap_or_default();
    for e in quota
        .pointer("/spec/scopeSelector/matchExpressions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let s = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let values = e
            .get("values")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        out.push((s("scopeName"), s("operator"), values));
    }
    out
}

/// A resource list as (name, quantity text) pairs.
type Pairs = Vec<(String, String)>;

fn pod_qos(pod: &Value) -> QosClass {
    let list = |c: &Value, which: &str| -> Pairs {
        c.pointer(&format!("/resources/{which}"))
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                    .collect()
            })
            .unwrap_or_default()
    };
    let all: Vec<(Pairs, Pairs)> = containers(pod, "containers")
        .into_iter()
        .chain(containers(pod, "initContainers"))
        .map(|c| (list(c, "requests"), list(c, "limits")))
        .collect();
    pod_qos_class(all.iter().map(|(r, l)| ContainerResources {
        requests: r.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect(),
        limits: l.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect(),
    }))
}

fn pod_in_scope(pod: &Value, scope: &str, operator: &str, values: &[String]) -> bool {
    match scope {
        "Terminating" | "NotTerminating" => {
            let terminating = pod
                .pointer("/spec/activeDeadlineSeconds")
                .and_then(Value::as_i64)
                .is_some_and(|s| s >= 0);
            terminating == (scope == "Terminating")
        }
        "BestEffort" => pod_qos(pod) == QosClass::BestEffort,
        "NotBestEffort" => pod_qos(pod) != QosClass::BestEffort,
        "PriorityClass" => {
            let class = pod
                .pointer("/spec/priorityClassName")
                .and_then(Value::as_str)
                .unwrap_or("");
            match operator {
                "Exists" => !class.is_empty(),
                "DoesNotExist" => class.is_empty(),
                "In" => values.iter().any(|v| v == class),
                "NotIn" => !values.iter().any(|v| v == class),
                _ => false,
            }
        }
        "CrossNamespacePodAffinity" => {
            let affinity = pod.pointer("/spec/affinity");
            ["podAffinity", "podAntiAffinity"].iter().any(|kind| {
                let Some(a) = affinity.and_then(|a| a.get(*kind)) else {
                    return false;
                };
                let required = a
                    .get("requiredDuringSchedulingIgnoredDuringExecution")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten();
                let preferred = a
                    .get("preferredDuringSchedulingIgnoredDuringExecution")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|w| w.get("podAffinityTerm"));
                required.chain(preferred).any(|t| {
                    t.get("namespaceSelector").is_some()
                        || t.get("namespaces")
                            .and_then(Value::as_array)
                            .is_some_and(|n| !n.is_empty())
                })
            })
        }
        _ => false,
    }
}

/// The resources of `quota`'s `status.hard` an object of `group`/`resource`
/// is charged for.
pub fn restricted(quota: &Value, group: &str, resource: &str) -> Vec<String> {
    quota
        .pointer("/status/hard")
        .and_then(Value::as_object)
        .map(|m| {
            m.keys()
                .filter(|k| charges(group, resource, k))
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

/// Whether `quota` applies to `obj`: it limits something the object is
/// charged for, and the object is in every one of its scopes (upstream
/// `Matches`).
pub fn matches(quota: &Value, group: &str, resource: &str, obj: &Value) -> bool {
    if restricted(quota, group, resource).is_empty() {
        return false;
    }
    scope_selectors(quota).iter().all(|(scope, op, values)| {
        group.is_empty() && resource == "pods" && pod_in_scope(obj, scope, op, values)
    })
}

/// A pod must state in every container each cpu/memory resource a quota
/// that applies to it limits (upstream's pod evaluator `Constraints`):
/// `Err("must specify limits.cpu for: c1; requests.memory for: c1,c2")`.
pub fn pod_constraints(required: &[String], pod: &Value) -> Result<(), String> {
    let required: BTreeSet<&str> = required
        .iter()
        .map(String::as_str)
        .filter(|r| MUST_SPECIFY.contains(r))
        .collect();
    if required.is_empty() {
        return Ok(());
    }
    let mut missing: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for c in containers(pod, "containers")
        .into_iter()
        .chain(containers(pod, "initContainers"))
    {
        let usage = compute_usage(
            &quantities(c.pointer("/resources/requests")),
            &quantities(c.pointer("/resources/limits")),
        );
        let name = c.get("name").and_then(Value::as_str).unwrap_or("");
        for r in &required {
            if !usage.contains_key(*r) {
                missing.entry(r).or_default().insert(name.to_string());
            }
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    let parts: Vec<String> = missing
        .iter()
        .map(|(r, names)| {
            format!(
                "{r} for: {}",
                names.iter().cloned().collect::<Vec<_>>().join(",")
            )
        })
        .collect();
    Err(format!("must specify {}", parts.join("; ")))
}

/// A list as upstream prints it in messages: `name=quantity`, sorted,
/// comma separated.
pub fn pretty(list: &ResourceList) -> String {
    list.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// The quantities of a JSON resource list (entries that are not quantities
/// are left out).
pub fn parse_list(v: Option<&Value>) -> ResourceList {
    quantities(v)
}

/// A list as JSON, each quantity in canonical form.
pub fn to_json(list: &ResourceList) -> Value {
    Value::Object(
        list.iter()
            .map(|(k, v)| (k.clone(), Value::String(v.to_string())))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(resources: Value) -> Value {
        json!({"metadata": {"name": "p"}, "spec": {"containers": [
            {"name": "c", "image": "i", "resources": resources}]}})
    }

    fn q(s: &str) -> Quantity {
        Quantity::parse(s).expect("quantity")
    }

    #[test]
    fn pod_usage_counts_requests_under_both_names_and_limits() {
        let p = pod(json!({"requests": {"cpu": "250m", "memory": "64Mi"},
                           "limits": {"cpu": "500m"}}));
        let u = usage("", "pods", &p, 0);
        assert_eq!(u["pods"], q("1"));
        assert_eq!(u["count/pods"], q("1"));
        assert_eq!(u["cpu"], q("250m"));
        assert_eq!(u["requests.cpu"], q("250m"));
        assert_eq!(u["requests.memory"], q("64Mi"));
        assert_eq!(u["limits.cpu"], q("500m"));
        assert!(!u.contains_key("limits.memory"));
        // A finished pod only counts as an object.
        let mut done = p.clone();
        done["status"] = json!({"phase": "Succeeded"});
        assert_eq!(
            usage("", "pods", &done, 0).keys().collect::<Vec<_>>(),
            ["count/pods"]
        );
    }

    #[test]
    fn extended_resources_are_charged_by_request() {
        let p = pod(json!({"requests": {"cpu": "1", "example.com/dongle": "2"},
                           "limits": {"example.com/dongle": "2"}}));
        let u = usage("", "pods", &p, 0);
        assert_eq!(u["requests.example.com/dongle"], q("2"));
        assert!(!u.contains_key("example.com/dongle"));
        assert!(!u.contains_key("limits.example.com/dongle"));
        assert!(charges("", "pods", "requests.example.com/dongle"));
        assert!(!charges("", "pods", "requests.kubernetes.io/thing"));
        assert!(!charges("", "configmaps", "requests.example.com/dongle"));
    }

    #[test]
    fn init_containers_count_as_their_maximum() {
        let p = json!({"spec": {
            "containers": [{"name": "a", "resources": {"requests": {"cpu": "100m"}}},
                           {"name": "b", "resources": {"requests": {"cpu": "100m"}}}],
            "initContainers": [{"name": "i", "resources": {"requests": {"cpu": "1"}}}]}});
        assert_eq!(usage("", "pods", &p, 0)["requests.cpu"], q("1"));
    }

    #[test]
    fn services_count_node_ports_and_load_balancers() {
        let s = json!({"spec": {"type": "LoadBalancer", "ports": [{"port": 80}, {"port": 443}]}});
        let u = usage("", "services", &s, 0);
        assert_eq!(u["services.nodeports"], q("2"));
        assert_eq!(u["services.loadbalancers"], q("1"));
        assert_eq!(
            usage("apps", "deployments", &json!({}), 0)
                .keys()
                .collect::<Vec<_>>(),
            ["count/deployments.apps"]
        );
    }

    #[test]
    fn scopes_select_pods_only() {
        let quota = |scopes: Value| json!({"spec": {"scopes": scopes}, "status": {"hard": {"pods": "5", "configmaps": "1"}}});
        let best_effort = pod(json!({}));
        let burstable = pod(json!({"requests": {"cpu": "1"}}));
        assert!(matches(
            &quota(json!(["BestEffort"])),
            "",
            "pods",
            &best_effort
        ));
        assert!(!matches(
            &quota(json!(["BestEffort"])),
            "",
            "pods",
            &burstable
        ));
        assert!(matches(
            &quota(json!(["NotBestEffort"])),
            "",
            "pods",
            &burstable
        ));
        assert!(!matches(
            &quota(json!(["BestEffort"])),
            "",
            "configmaps",
            &json!({})
        ));
        assert!(matches(&quota(json!([])), "", "configmaps", &json!({})));
        // A quota on nothing the object uses does not apply.
        assert!(!matches(&quota(json!([])), "", "secrets", &json!({})));
        let mut terminating = best_effort.clone();
        terminating["spec"]["activeDeadlineSeconds"] = json!(30);
        assert!(matches(
            &quota(json!(["Terminating"])),
            "",
            "pods",
            &terminating
        ));
        assert!(!matches(
            &quota(json!(["NotTerminating"])),
            "",
            "pods",
            &terminating
        ));
        let by_class = json!({"spec": {"scopeSelector": {"matchExpressions": [
            {"scopeName": "PriorityClass", "operator": "In", "values": ["high"]}]}},
            "status": {"hard": {"pods": "1"}}});
        let mut high = best_effort.clone();
        high["spec"]["priorityClassName"] = json!("high");
        assert!(matches(&by_class, "", "pods", &high));
        assert!(!matches(&by_class, "", "pods", &best_effort));
    }

    #[test]
    fn a_quota_on_cpu_makes_every_container_state_it() {
        let p = json!({"spec": {"containers": [
            {"name": "b", "resources": {"requests": {"cpu": "1"}}},
            {"name": "a", "resources": {}}]}});
        let required = vec![
            "limits.cpu".to_string(),
            "requests.cpu".into(),
            "pods".into(),
        ];
        assert_eq!(
            pod_constraints(&required, &p),
            Err("must specify limits.cpu for: a,b; requests.cpu for: a".into())
        );
        assert_eq!(pod_constraints(&["pods".to_string()], &p), Ok(()));
    }

    #[test]
    fn lists_print_sorted() {
        let list: ResourceList = [("pods".to_string(), q("1")), ("cpu".into(), q("500m"))].into();
        assert_eq!(pretty(&list), "cpu=500m,pods=1");
    }
}
