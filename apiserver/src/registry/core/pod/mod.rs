//! Pods (`core/v1`): the unit everything else exists to run.
//!
//! Defaults fill in the PodSpec ([`crate::defaults::pod_spec()`]); validation
//! checks it ([`crate::validation::pod_spec`]) and allows an update to change
//! only images, tolerations, the active deadline and the grace period. A new
//! pod starts `Pending` with its QoS class (which decides its cgroup on the
//! node and its eviction order), after ServiceAccount admission gave it
//! its account and API token volume and priority admission resolved its
//! `priorityClassName`. A pod bound to a node is deleted gracefully: it keeps
//! running until its kubelet has stopped the containers and confirms with a
//! delete of grace period 0. Resources change only through `pods/resize`
//! ([`resize`]). The printer is upstream's `kubectl get pods`
//! (READY, STATUS, RESTARTS, ...).

pub mod binding;
pub mod ephemeral_containers;
pub mod eviction;
pub mod link_rewrite;
pub mod proxy;
pub mod resize;

use apimachinery::qos;
use apimachinery::resources::Subresource;
use axum::extract::Request;
use axum::response::Response;
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::schemars::generate::SchemaGenerator;
use serde_json::{json, Value};

use crate::errors::ApiError;
use crate::printers::*;
use crate::registry::strategy::{normalize, schema, Strategy};
use crate::request::RequestInfo;
use crate::validation::{forbidden, required, validate_pod_spec, FieldError};
use crate::ApiServer;

/// The Pod strategy.
pub struct PodStrategy;

impl Strategy for PodStrategy {
    fn normalize(&self, obj: &mut Value) -> Result<(), String> {
        normalize::<Pod>(obj)
    }

    fn prepare_for_status_update(&self, new: &mut Value, old: &Value) {
        // Old kubelets corrupted owner references through pods/status, so
        // upstream never lets a status write change them; the QoS class is
        // fixed at creation and backfilled when a writer dropped it.
        let meta = crate::registry::meta_mut(new);
        match old.pointer("/metadata/ownerReferences") {
            Some(refs) => {
                meta.insert("ownerReferences".into(), refs.clone());
            }
            None => {
                meta.remove("ownerReferences");
            }
        }
        let qos = old.pointer("/status/qosClass").cloned();
        if let (Some(qos), Some(status)) =
            (qos, new.get_mut("status").and_then(Value::as_object_mut))
        {
            status.entry("qosClass").or_insert(qos);
        }
    }

    fn schema(&self, gen: &mut SchemaGenerator) -> Option<String> {
        schema::<Pod>(gen)
    }

    fn default(&self, obj: &mut Value) {
        if let Some(spec) = obj.get_mut("spec") {
            crate::defaults::pod_spec(spec);
        }
    }

    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        let mut errs = Vec::new();
        match obj.get("spec") {
            Some(spec) => validate_pod_spec(spec, "spec", &mut errs),
            None => errs.push(required("spec")),
        }
        errs
    }

    fn validate_create(&self, obj: &Value) -> Vec<FieldError> {
        ephemeral_containers::validate_create(obj)
    }

    fn validate_subresource_update(
        &self,
        sub: Subresource,
        new: &Value,
        old: &Value,
    ) -> Option<Vec<FieldError>> {
        match sub {
            Subresource::EphemeralContainers => {
                Some(ephemeral_containers::validate_update(new, old))
            }
            // A resize is checked by its own rules (the main resource's
            // update refuses any change of resources).
            Subresource::Resize => Some(resize::validate(new, old)),
            _ => None,
        }
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        let strip = |v: &Value| -> Value {
            let mut spec = v.get("spec").cloned().unwrap_or(Value::Null);
            if let Some(m) = spec.as_object_mut() {
                for f in POD_MUTABLE {
                    m.remove(*f);
                }
                for list in ["containers", "initContainers"] {
                    if let Some(cs) = m.get_mut(list).and_then(Value::as_array_mut) {
                        for c in cs {
                            if let Some(c) = c.as_object_mut() {
                                c.remove("image");
                            }
                        }
                    }
                }
            }
            spec
        };
        let mut errs = Vec::new();
        let (new_spec, old_spec) = (strip(new), strip(old));
        if new_spec != old_spec {
            // Upstream appends a diff of the two specs; the paths that
            // differ tell the user (and us) what the update changed.
            let mut changed = Vec::new();
            differing_paths(&old_spec, &new_spec, "spec", &mut changed);
            errs.push(forbidden(
                "spec",
                &format!(
                    "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)\n  changed: {}",
                    changed.join(", ")
                ),
            ));
        }
        errs
    }

    fn prepare_for_create(&self, obj: &mut Value, _uid: &str) {
        let qos = qos_class(obj);
        if let Some(map) = obj.as_object_mut() {
            map.insert(
                "status".into(),
                json!({"phase": "Pending", "qosClass": qos}),
            );
        }
    }

    fn admit_create<'a>(
        &'a self,
        server: &'a ApiServer,
        obj: &'a mut Value,
    ) -> BoxFuture<'a, Result<(), ApiError>> {
        Box::pin(async move {
            // Upstream's order: the account before the priority.
            crate::admission::service_account::admit_pod(server, obj).await?;
            crate::admission::priority::admit_pod(server, obj).await?;
            crate::admission::runtime_class::admit_pod(server, obj).await
        })
    }

    fn connects(&self, sub: Subresource) -> bool {
        proxy::handles(sub)
    }

    fn connect<'a>(
        &'a self,
        server: &'a ApiServer,
        info: &'a RequestInfo,
        req: Request,
    ) -> BoxFuture<'a, Result<Response, ApiError>> {
        Box::pin(proxy::serve(server, info, req))
    }

    /// A bound pod that has not finished runs on its node until the kubelet
    /// stopped its containers; unbound and finished pods have nothing to stop.
    fn graceful_deletion(&self, obj: &Value, requested: Option<i64>) -> Option<i64> {
        (is_bound(obj) && !is_terminal(obj)).then(|| {
            requested
                .or_else(|| {
                    obj.pointer("/spec/terminationGracePeriodSeconds")
                        .and_then(Value::as_i64)
                })
                .unwrap_or(30)
                .max(0)
        })
    }

    fn columns(&self) -> &'static [Column] {
        COLUMNS
    }

    fn cells(&self, obj: &Value) -> Vec<Value> {
        cells(obj)
    }

    /// Upstream marks the rows of finished pods `Completed` (kubectl can use
    /// this to tell finished rows apart).
    fn row_conditions(&self, obj: &Value) -> Option<Value> {
        let (reason, message) = match s(obj, "/status/phase") {
            "Succeeded" => ("Succeeded", "The pod has completed successfully."),
            "Failed" => ("Failed", "The pod failed."),
            _ => return None,
        };
        Some(json!([{"type": "Completed", "status": "True", "reason": reason, "message": message}]))
    }
}

/// Fields of a pod's spec an update may change (upstream's list).
/// The paths (`spec.containers[0].ports`) where two values differ, down to
/// the first level that differs.
fn differing_paths(a: &Value, b: &Value, path: &str, out: &mut Vec<String>) {
    match (a, b) {
        _ if a == b => {}
        (Value::Object(x), Value::Object(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                let null = Value::Null;
                let (l, r) = (x.get(k).unwrap_or(&null), y.get(k).unwrap_or(&null));
                differing_paths(l, r, &format!("{path}.{k}"), out);
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (l, r)) in x.iter().zip(y).enumerate() {
                differing_paths(l, r, &format!("{path}[{i}]"), out);
            }
        }
        _ => out.push(path.to_string()),
    }
}

const POD_MUTABLE: &[&str] = &[
    "activeDeadlineSeconds",
    "tolerations",
    "terminationGracePeriodSeconds",
];

/// Whether the scheduler has assigned the pod to a node.
pub fn is_bound(pod: &Value) -> bool {
    pod.pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .is_some_and(|n| !n.is_empty())
}

/// Whether the pod has finished for good (`Succeeded` or `Failed`).
pub fn is_terminal(pod: &Value) -> bool {
    matches!(
        pod.pointer("/status/phase").and_then(Value::as_str),
        Some("Succeeded") | Some("Failed")
    )
}

fn borrowed(list: &[(String, String)]) -> Vec<(&str, &str)> {
    list.iter().map(|(n, q)| (n.as_str(), q.as_str())).collect()
}

/// The pod's QoS class for `status.qosClass`, by the one definition the
/// kubelet uses too ([`apimachinery::qos`]).
pub fn qos_class(pod: &Value) -> &'static str {
    let pairs = |c: &'_ Value, field: &str| -> Vec<(String, String)> {
        c.pointer(&format!("/resources/{field}"))
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .filter_map(|(name, q)| {
                let text = match q {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    _ => return None,
                };
                Some((name.clone(), text))
            })
            .collect()
    };
    let containers: Vec<_> = ["containers", "initContainers"]
        .iter()
        .filter_map(|f| pod.pointer(&format!("/spec/{f}")).and_then(Value::as_array))
        .flatten()
        .map(|c| (pairs(c, "requests"), pairs(c, "limits")))
        .collect();
    qos::pod_qos_class(containers.iter().map(|(r, l)| qos::ContainerResources {
        requests: borrowed(r),
        limits: borrowed(l),
    }))
    .as_str()
}

#[rustfmt::skip]
const COLUMNS: &[Column] = &[
    NAME,
    col("Ready", "string", 0, "The aggregate readiness state of this pod for accepting traffic."),
    col("Status", "string", 0, "The aggregate status of the containers in this pod."),
    col("Restarts", "string", 0, "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted."),
    AGE,
    col("IP", "string", 1, "podIP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated."),
    col("Node", "string", 1, "NodeName indicates in which node this pod is scheduled."),
    col("Nominated Node", "string", 1, "nominatedNodeName is set only when this pod preempts other pods on the node, but it cannot be scheduled right away as preemption victims receive their graceful termination periods."),
    col("Readiness Gates", "string", 1, "If specified, all readiness gates will be evaluated for pod readiness."),
];

// ---------------------------------------------------------------------------
// The printer.

/// Upstream's pod STATUS column: the phase, overridden by the most telling
/// reason of the init containers (`Init:1/2`, `Init:CrashLoopBackOff`), then
/// of the containers (`ContainerCreating`, `CrashLoopBackOff`, `Completed`,
/// `Error`, `ErrImagePull`...), then by deletion (`Terminating`).
pub fn pod_status(pod: &Value) -> String {
    pod_summary(pod).status
}

struct PodSummary {
    ready: usize,
    total: usize,
    status: String,
    restarts: i64,
    last_restart: Option<DateTime<Utc>>,
}

fn later(a: Option<DateTime<Utc>>, c: &Value) -> Option<DateTime<Utc>> {
    let finished = c
        .pointer("/lastState/terminated/finishedAt")
        .and_then(Value::as_str)
        .and_then(parse_time);
    match (a, finished) {
        (Some(a), Some(f)) => Some(a.max(f)),
        (a, f) => a.or(f),
    }
}

fn terminated_reason(t: &Value, prefix: &str) -> String {
    if !s(t, "/reason").is_empty() {
        format!("{prefix}{}", s(t, "/reason"))
    } else if n(t, "/signal") != 0 {
        format!("{prefix}Signal:{}", n(t, "/signal"))
    } else {
        format!("{prefix}ExitCode:{}", n(t, "/exitCode"))
    }
}

fn pod_summary(pod: &Value) -> PodSummary {
    let phase = s(pod, "/status/phase");
    let mut reason = or(s(pod, "/status/reason"), phase).to_string();
    if arr(pod, "/status/conditions")
        .iter()
        .any(|c| s(c, "/type") == "PodScheduled" && s(c, "/reason") == "SchedulingGated")
    {
        reason = "SchedulingGated".into();
    }

    // Sidecars (init containers with restartPolicy Always) count as
    // containers of the pod.
    let init_specs = arr(pod, "/spec/initContainers");
    let restartable = |name: &str| {
        init_specs
            .iter()
            .any(|c| s(c, "/name") == name && s(c, "/restartPolicy") == "Always")
    };
    let mut total = len_of(pod, "/spec/containers")
        + init_specs
            .iter()
            .filter(|c| s(c, "/restartPolicy") == "Always")
            .count();
    let mut ready = 0;
    let (mut restarts, mut sidecar_restarts) = (0i64, 0i64);
    let (mut last_restart, mut last_sidecar_restart) = (None, None);

    let mut initializing = false;
    for (i, c) in arr(pod, "/status/initContainerStatuses").iter().enumerate() {
        restarts += n(c, "/restartCount");
        last_restart = later(last_restart, c);
        let sidecar = restartable(s(c, "/name"));
        if sidecar {
            sidecar_restarts += n(c, "/restartCount");
            last_sidecar_restart = later(last_sidecar_restart, c);
        }
        let terminated = c.pointer("/state/terminated").filter(|t| !t.is_null());
        let waiting_reason = s(c, "/state/waiting/reason");
        if terminated.is_some_and(|t| n(t, "/exitCode") == 0) {
            continue;
        }
        if sidecar && b(c, "/started") {
            if b(c, "/ready") {
                ready += 1;
            }
            continue;
        }
        reason = if let Some(t) = terminated {
            terminated_reason(t, "Init:")
        } else if !waiting_reason.is_empty() && waiting_reason != "PodInitializing" {
            format!("Init:{waiting_reason}")
        } else {
            format!("Init:{i}/{}", init_specs.len())
        };
        initializing = true;
        break;
    }

    if !initializing || has_condition(pod, "/status/conditions", "Initialized") {
        restarts = sidecar_restarts;
        last_restart = last_sidecar_restart;
        let mut has_running = false;
        for c in arr(pod, "/status/containerStatuses").iter().rev() {
            restarts += n(c, "/restartCount");
            last_restart = later(last_restart, c);
            let terminated = c.pointer("/state/terminated").filter(|t| !t.is_null());
            let waiting_reason = s(c, "/state/waiting/reason");
            if !waiting_reason.is_empty() {
                reason = waiting_reason.to_string();
            } else if let Some(t) = terminated {
                reason = terminated_reason(t, "");
            } else if b(c, "/ready") && c.pointer("/state/running").is_some_and(|r| !r.is_null()) {
                has_running = true;
                ready += 1;
            }
        }
        // A pod whose last container completed but another still runs.
        if reason == "Completed" && has_running {
            reason = if has_condition(pod, "/status/conditions", "Ready") {
                "Running".into()
            } else {
                "NotReady".into()
            };
        }
    }

    let deleting = pod
        .pointer("/metadata/deletionTimestamp")
        .is_some_and(|d| !d.is_null());
    if deleting && s(pod, "/status/reason") == "NodeLost" {
        reason = "Unknown".into();
    } else if deleting && phase != "Succeeded" && phase != "Failed" {
        reason = "Terminating".into();
    }
    // Guard against more ready containers than declared ones on odd input.
    total = total.max(ready);
    PodSummary {
        ready,
        total,
        status: reason,
        restarts,
        last_restart,
    }
}

fn cells(pod: &Value) -> Vec<Value> {
    let sum = pod_summary(pod);
    let restarts = match sum.last_restart {
        Some(t) if sum.restarts != 0 => format!(
            "{} ({} ago)",
            sum.restarts,
            human_duration((Utc::now() - t).num_seconds())
        ),
        _ => sum.restarts.to_string(),
    };
    let ip = arr(pod, "/status/podIPs")
        .first()
        .map(|p| s(p, "/ip"))
        .filter(|ip| !ip.is_empty())
        .unwrap_or_else(|| s(pod, "/status/podIP"));
    let gates = arr(pod, "/spec/readinessGates");
    let readiness_gates = if gates.is_empty() {
        "<none>".to_string()
    } else {
        let conditions = arr(pod, "/status/conditions");
        let true_count = gates
            .iter()
            .filter(|g| {
                conditions
                    .iter()
                    .find(|c| s(c, "/type") == s(g, "/conditionType"))
                    .is_some_and(|c| s(c, "/status") == "True")
            })
            .count();
        format!("{true_count}/{}", gates.len())
    };
    vec![
        json!(s(pod, "/metadata/name")),
        json!(format!("{}/{}", sum.ready, sum.total)),
        json!(sum.status),
        json!(restarts),
        json!(age(pod)),
        json!(or(ip, "<none>")),
        json!(or(s(pod, "/spec/nodeName"), "<none>")),
        json!(or(s(pod, "/status/nominatedNodeName"), "<none>")),
        json!(readiness_gates),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_refused_spec_change_names_the_fields() {
        let old = json!({"spec": {"containers": [{"name": "c", "image": "a", "ports": [{"containerPort": 80}]}],
                                  "terminationGracePeriodSeconds": 0}});
        let mut new = old.clone();
        new["spec"]["containers"][0]["image"] = json!("b");
        assert!(
            PodStrategy.validate_update(&new, &old).is_empty(),
            "an image may change"
        );
        new["spec"]["containers"][0]["ports"][0]["hostPort"] = json!(0);
        new["spec"]["hostname"] = json!("");
        let errs = PodStrategy.validate_update(&new, &old);
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(
            errs[0]
                .message
                .ends_with("\n  changed: spec.containers[0].ports[0].hostPort, spec.hostname"),
            "{errs:?}"
        );
    }

    #[test]
    fn qos() {
        let best = json!({"spec": {"containers": [{"name": "a"}]}});
        assert_eq!(qos_class(&best), "BestEffort");
        let g = json!({"spec": {"containers": [{"name": "a", "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}]}});
        assert_eq!(qos_class(&g), "Guaranteed");
        let b = json!({"spec": {"containers": [{"name": "a", "resources": {"requests": {"cpu": "1"}}}]}});
        assert_eq!(qos_class(&b), "Burstable");
    }

    #[test]
    fn bound_and_terminal() {
        assert!(is_bound(&json!({"spec": {"nodeName": "n"}})));
        assert!(!is_bound(&json!({"spec": {"nodeName": ""}})));
        assert!(is_terminal(&json!({"status": {"phase": "Failed"}})));
        assert!(!is_terminal(&json!({"status": {"phase": "Running"}})));
    }
}
