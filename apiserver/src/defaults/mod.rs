//! Defaulting: the values the API fills in when a client leaves a field out.
//!
//! A manifest with just a container name and image becomes a Pod with
//! `restartPolicy: Always`, `dnsPolicy: ClusterFirst`, a 30 s termination grace
//! period, an image pull policy derived from the tag, and so on — the same
//! values upstream's defaulters set, so `kubectl get -o yaml` shows what a
//! Kubernetes user expects and controllers never meet a missing field.
//!
//! The object is first decoded into its `k8s-openapi` type and encoded back:
//! that checks every field's JSON type (a string where a number belongs is a
//! 400) and drops fields the kind does not have, as decoding into Go structs
//! does upstream. Then the defaults are applied on the JSON.

use apimachinery::resources::ResourceInfo;
use k8s_openapi::api::{apps, batch, coordination, core, discovery, scheduling};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Map, Value};

fn normalize<T: DeserializeOwned + Serialize>(obj: &Value) -> Result<Value, String> {
    let typed = T::deserialize(obj).map_err(|e| e.to_string())?;
    serde_json::to_value(typed).map_err(|e| e.to_string())
}

/// Applies the upstream defaults for the object's kind, in place (see the
/// module docs). `Err` is a message for a 400: the body does not decode as
/// that kind.
pub fn apply_defaults(resource: &ResourceInfo, obj: &mut Value) -> Result<(), String> {
    let normalized = match (resource.group, resource.kind) {
        ("", "Pod") => normalize::<core::v1::Pod>(obj),
        ("", "Namespace") => normalize::<core::v1::Namespace>(obj),
        ("", "Node") => normalize::<core::v1::Node>(obj),
        ("", "Service") => normalize::<core::v1::Service>(obj),
        ("", "Endpoints") => normalize::<core::v1::Endpoints>(obj),
        ("", "ConfigMap") => normalize::<core::v1::ConfigMap>(obj),
        ("", "Secret") => normalize::<core::v1::Secret>(obj),
        ("", "Event") => normalize::<core::v1::Event>(obj),
        ("", "ServiceAccount") => normalize::<core::v1::ServiceAccount>(obj),
        ("apps", "Deployment") => normalize::<apps::v1::Deployment>(obj),
        ("apps", "ReplicaSet") => normalize::<apps::v1::ReplicaSet>(obj),
        ("apps", "DaemonSet") => normalize::<apps::v1::DaemonSet>(obj),
        ("apps", "StatefulSet") => normalize::<apps::v1::StatefulSet>(obj),
        ("batch", "Job") => normalize::<batch::v1::Job>(obj),
        ("batch", "CronJob") => normalize::<batch::v1::CronJob>(obj),
        ("coordination.k8s.io", "Lease") => normalize::<coordination::v1::Lease>(obj),
        ("discovery.k8s.io", "EndpointSlice") => normalize::<discovery::v1::EndpointSlice>(obj),
        ("scheduling.k8s.io", "PriorityClass") => normalize::<scheduling::v1::PriorityClass>(obj),
        _ => Ok(obj.clone()),
    }?;
    *obj = normalized;
    match resource.kind {
        "Pod" => {
            if let Some(spec) = obj.get_mut("spec") {
                pod_spec(spec);
            }
        }
        "Deployment" => deployment(obj),
        "ReplicaSet" => {
            set_default(obj, &["spec", "replicas"], json!(1));
            template(obj, &["spec", "template", "spec"]);
        }
        "StatefulSet" => statefulset(obj),
        "DaemonSet" => daemonset(obj),
        "Job" => {
            job_spec(obj.get_mut("spec"));
            template(obj, &["spec", "template", "spec"]);
        }
        "CronJob" => cronjob(obj),
        "Service" => service(obj),
        "Namespace" => {
            set_default(obj, &["spec", "finalizers"], json!(["kubernetes"]));
        }
        "Secret" => set_default(obj, &["type"], json!("Opaque")),
        "PriorityClass" => set_default(obj, &["preemptionPolicy"], json!("PreemptLowerPriority")),
        _ => {}
    }
    Ok(())
}

/// Sets `path` to `value` when it is missing or null, creating parent maps.
fn set_default(obj: &mut Value, path: &[&str], value: Value) {
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

fn template(obj: &mut Value, path: &[&str]) {
    let mut cur = obj;
    for p in path {
        match cur.get_mut(*p) {
            Some(n) => cur = n,
            None => return,
        }
    }
    pod_spec(cur);
}

/// The image pull policy upstream derives from the image reference:
/// `Always` for `:latest` or no tag, `IfNotPresent` otherwise.
pub fn pull_policy(image: &str) -> &'static str {
    if image.contains('@') {
        return "IfNotPresent";
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.rsplit_once(':') {
        Some((_, tag)) if tag != "latest" => "IfNotPresent",
        _ => "Always",
    }
}

fn probe(p: &mut Value) {
    for (k, v) in [
        ("timeoutSeconds", 1),
        ("periodSeconds", 10),
        ("successThreshold", 1),
        ("failureThreshold", 3),
    ] {
        set_default(p, &[k], json!(v));
    }
}

fn container(c: &mut Value) {
    let image = c
        .get("image")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    set_default(c, &["imagePullPolicy"], json!(pull_policy(&image)));
    set_default(
        c,
        &["terminationMessagePath"],
        json!("/dev/termination-log"),
    );
    set_default(c, &["terminationMessagePolicy"], json!("File"));
    if let Some(ports) = c.get_mut("ports").and_then(Value::as_array_mut) {
        for p in ports {
            set_default(p, &["protocol"], json!("TCP"));
        }
    }
    for probe_name in ["livenessProbe", "readinessProbe", "startupProbe"] {
        if let Some(p) = c.get_mut(probe_name).filter(|p| p.is_object()) {
            probe(p);
        }
    }
    // Limits without requests: the request is the limit.
    let limits = c
        .pointer("/resources/limits")
        .and_then(Value::as_object)
        .cloned();
    if let Some(limits) = limits {
        for (res, q) in limits {
            set_default(c, &["resources", "requests", &res], q);
        }
    }
}

/// Defaults of a PodSpec (in a Pod or in a template).
pub fn pod_spec(spec: &mut Value) {
    if !spec.is_object() {
        return;
    }
    set_default(spec, &["restartPolicy"], json!("Always"));
    set_default(spec, &["dnsPolicy"], json!("ClusterFirst"));
    set_default(spec, &["terminationGracePeriodSeconds"], json!(30));
    set_default(spec, &["schedulerName"], json!("default-scheduler"));
    set_default(spec, &["securityContext"], json!({}));
    set_default(spec, &["enableServiceLinks"], json!(true));
    for list in ["containers", "initContainers"] {
        if let Some(cs) = spec.get_mut(list).and_then(Value::as_array_mut) {
            for c in cs {
                container(c);
            }
        }
    }
    if let Some(vols) = spec.get_mut("volumes").and_then(Value::as_array_mut) {
        for v in vols {
            let Some(m) = v.as_object_mut() else { continue };
            if m.len() == 1 && m.contains_key("name") {
                m.insert("emptyDir".into(), json!({}));
            }
            for source in ["configMap", "secret"] {
                if let Some(s) = m.get_mut(source).filter(|s| s.is_object()) {
                    set_default(s, &["defaultMode"], json!(420));
                }
            }
        }
    }
}

fn deployment(obj: &mut Value) {
    set_default(obj, &["spec", "replicas"], json!(1));
    set_default(obj, &["spec", "strategy", "type"], json!("RollingUpdate"));
    if obj.pointer("/spec/strategy/type").and_then(Value::as_str) == Some("RollingUpdate") {
        set_default(
            obj,
            &["spec", "strategy", "rollingUpdate", "maxUnavailable"],
            json!("25%"),
        );
        set_default(
            obj,
            &["spec", "strategy", "rollingUpdate", "maxSurge"],
            json!("25%"),
        );
    }
    set_default(obj, &["spec", "revisionHistoryLimit"], json!(10));
    set_default(obj, &["spec", "progressDeadlineSeconds"], json!(600));
    template(obj, &["spec", "template", "spec"]);
}

fn statefulset(obj: &mut Value) {
    set_default(obj, &["spec", "replicas"], json!(1));
    set_default(obj, &["spec", "podManagementPolicy"], json!("OrderedReady"));
    set_default(
        obj,
        &["spec", "updateStrategy", "type"],
        json!("RollingUpdate"),
    );
    if obj
        .pointer("/spec/updateStrategy/type")
        .and_then(Value::as_str)
        == Some("RollingUpdate")
    {
        set_default(
            obj,
            &["spec", "updateStrategy", "rollingUpdate", "partition"],
            json!(0),
        );
    }
    set_default(obj, &["spec", "revisionHistoryLimit"], json!(10));
    set_default(
        obj,
        &["spec", "persistentVolumeClaimRetentionPolicy"],
        json!({"whenDeleted": "Retain", "whenScaled": "Retain"}),
    );
    template(obj, &["spec", "template", "spec"]);
}

fn daemonset(obj: &mut Value) {
    set_default(
        obj,
        &["spec", "updateStrategy", "type"],
        json!("RollingUpdate"),
    );
    if obj
        .pointer("/spec/updateStrategy/type")
        .and_then(Value::as_str)
        == Some("RollingUpdate")
    {
        set_default(
            obj,
            &["spec", "updateStrategy", "rollingUpdate", "maxUnavailable"],
            json!(1),
        );
        set_default(
            obj,
            &["spec", "updateStrategy", "rollingUpdate", "maxSurge"],
            json!(0),
        );
    }
    set_default(obj, &["spec", "revisionHistoryLimit"], json!(10));
    template(obj, &["spec", "template", "spec"]);
}

fn job_spec(spec: Option<&mut Value>) {
    let Some(spec) = spec.filter(|s| s.is_object()) else {
        return;
    };
    let has_completions = spec.get("completions").is_some_and(|v| !v.is_null());
    let has_parallelism = spec.get("parallelism").is_some_and(|v| !v.is_null());
    if !has_completions && !has_parallelism {
        set_default(spec, &["completions"], json!(1));
    }
    set_default(spec, &["parallelism"], json!(1));
    set_default(spec, &["backoffLimit"], json!(6));
    set_default(spec, &["completionMode"], json!("NonIndexed"));
    set_default(spec, &["suspend"], json!(false));
}

fn cronjob(obj: &mut Value) {
    set_default(obj, &["spec", "concurrencyPolicy"], json!("Allow"));
    set_default(obj, &["spec", "suspend"], json!(false));
    set_default(obj, &["spec", "successfulJobsHistoryLimit"], json!(3));
    set_default(obj, &["spec", "failedJobsHistoryLimit"], json!(1));
    job_spec(obj.pointer_mut("/spec/jobTemplate/spec"));
    template(obj, &["spec", "jobTemplate", "spec", "template", "spec"]);
}

fn service(obj: &mut Value) {
    set_default(obj, &["spec", "type"], json!("ClusterIP"));
    let external_name = obj.pointer("/spec/type").and_then(Value::as_str) == Some("ExternalName");
    set_default(obj, &["spec", "sessionAffinity"], json!("None"));
    if !external_name {
        set_default(obj, &["spec", "ipFamilyPolicy"], json!("SingleStack"));
        set_default(obj, &["spec", "ipFamilies"], json!(["IPv4"]));
        set_default(obj, &["spec", "internalTrafficPolicy"], json!("Cluster"));
    }
    if let Some(ports) = obj.pointer_mut("/spec/ports").and_then(Value::as_array_mut) {
        for p in ports {
            set_default(p, &["protocol"], json!("TCP"));
            if let Some(port) = p.get("port").cloned() {
                set_default(p, &["targetPort"], port);
            }
        }
    }
}

/// Sets a Job's selector and pod labels from its uid (called once the uid is
/// known), unless the user chose `manualSelector`.
pub fn job_selector_and_labels(obj: &mut Value, uid: &str) {
    if obj.pointer("/spec/manualSelector").and_then(Value::as_bool) == Some(true) {
        return;
    }
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let labels: Map<String, Value> = [
        ("batch.kubernetes.io/controller-uid", uid),
        ("batch.kubernetes.io/job-name", name.as_str()),
        ("controller-uid", uid),
        ("job-name", name.as_str()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), json!(v)))
    .collect();
    if obj.pointer("/spec/selector").is_none() {
        set_default(
            obj,
            &["spec", "selector", "matchLabels"],
            json!({"batch.kubernetes.io/controller-uid": uid}),
        );
    }
    for (k, v) in labels {
        set_default(obj, &["spec", "template", "metadata", "labels", &k], v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use apimachinery::resources::find;

    fn res(group: &str, plural: &str) -> &'static ResourceInfo {
        find(group, "v1", plural).unwrap_or_else(|| panic!("{plural}"))
    }

    #[test]
    fn pull_policies() {
        assert_eq!(pull_policy("busybox"), "Always");
        assert_eq!(pull_policy("busybox:latest"), "Always");
        assert_eq!(pull_policy("busybox:1.36"), "IfNotPresent");
        assert_eq!(pull_policy("localhost:5000/busybox"), "Always");
        assert_eq!(pull_policy("busybox@sha256:abc"), "IfNotPresent");
    }

    #[test]
    fn deployment_defaults_are_upstreams_and_idempotent() {
        let mut d = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "creationTimestamp": null,
                "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{\"a\":  1}\n"}},
            "spec": {"selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "web", "image": "nginx:1.25",
                        "ports": [{"containerPort": 80}],
                        "resources": {"limits": {"memory": "64Mi"}}}]}}},
            "status": {"replicas": 2}});
        let deps = res("apps", "deployments");
        apply_defaults(deps, &mut d).expect("defaults");
        assert_eq!(d["spec"]["replicas"], 1);
        assert_eq!(d["spec"]["strategy"]["rollingUpdate"]["maxSurge"], "25%");
        assert_eq!(d["spec"]["revisionHistoryLimit"], 10);
        assert_eq!(d["spec"]["progressDeadlineSeconds"], 600);
        let pod = &d["spec"]["template"]["spec"];
        assert_eq!(pod["restartPolicy"], "Always");
        assert_eq!(pod["dnsPolicy"], "ClusterFirst");
        assert_eq!(pod["terminationGracePeriodSeconds"], 30);
        assert_eq!(pod["containers"][0]["imagePullPolicy"], "IfNotPresent");
        assert_eq!(pod["containers"][0]["ports"][0]["protocol"], "TCP");
        assert_eq!(
            pod["containers"][0]["resources"]["requests"]["memory"],
            "64Mi"
        );
        assert_eq!(
            d["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"],
            "{\"a\":  1}\n"
        );
        assert_eq!(d["status"]["replicas"], 2);
        let once = d.clone();
        apply_defaults(deps, &mut d).expect("defaults again");
        assert_eq!(d, once);
    }

    #[test]
    fn services_namespaces_jobs() {
        let mut s = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
            "spec": {"selector": {"a": "b"}, "ports": [{"port": 80}]}});
        apply_defaults(res("", "services"), &mut s).expect("service");
        assert_eq!(s["spec"]["type"], "ClusterIP");
        assert_eq!(s["spec"]["ports"][0]["targetPort"], 80);
        assert_eq!(s["spec"]["ports"][0]["protocol"], "TCP");

        let mut ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n"}});
        apply_defaults(res("", "namespaces"), &mut ns).expect("ns");
        assert_eq!(ns["spec"]["finalizers"], json!(["kubernetes"]));

        let mut job = json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j"},
            "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}}});
        apply_defaults(res("batch", "jobs"), &mut job).expect("job");
        assert_eq!(job["spec"]["completions"], 1);
        assert_eq!(job["spec"]["backoffLimit"], 6);
        job_selector_and_labels(&mut job, "u1");
        assert_eq!(
            job["spec"]["selector"]["matchLabels"]["batch.kubernetes.io/controller-uid"],
            "u1"
        );
        assert_eq!(
            job["spec"]["template"]["metadata"]["labels"]["job-name"],
            "j"
        );
    }

    #[test]
    fn wrong_types_are_errors_not_panics() {
        let pods = res("", "pods");
        for bad in [
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": 3}}),
            json!({"apiVersion": "v1", "kind": "Pod", "spec": {"containers": "x"}}),
            json!({"apiVersion": "v1", "kind": "Pod", "spec": {"containers": [{"name": "a", "ports": [{"containerPort": "80"}]}]}}),
            json!([1, 2]),
        ] {
            let mut v = bad.clone();
            assert!(apply_defaults(pods, &mut v).is_err(), "{bad}");
        }
    }
}
