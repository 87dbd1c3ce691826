//! One printer per kind: its columns and how an object fills them, the same
//! columns and the same cell logic as upstream's
//! `pkg/printers/internalversion` (what `kubectl get` prints against a real
//! cluster).
//!
//! The server always fills every column, `-o wide` ones included (priority
//! 1); kubectl hides the wide ones unless asked. Cells are strings, integers
//! or booleans, as upstream: kubectl prints them as they come.

use apimachinery::resources::ResourceInfo;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::Column;

const fn col(
    name: &'static str,
    kind: &'static str,
    priority: u8,
    description: &'static str,
) -> Column {
    Column {
        name,
        kind,
        format: "",
        priority,
        description,
    }
}

const NAME_DOC: &str = "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated.";
const AGE_DOC: &str = "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.";

const NAME: Column = Column {
    name: "Name",
    kind: "string",
    format: "name",
    priority: 0,
    description: NAME_DOC,
};
const AGE: Column = col("Age", "string", 0, AGE_DOC);
const CONTAINERS: Column = col(
    "Containers",
    "string",
    1,
    "Names of each container in the template.",
);
const IMAGES: Column = col(
    "Images",
    "string",
    1,
    "Images referenced by each container in the template.",
);
const SELECTOR: Column = col(
    "Selector",
    "string",
    1,
    "A label query over pods that should match the replica count.",
);

#[rustfmt::skip]
const POD: &[Column] = &[
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
#[rustfmt::skip]
const DEPLOYMENT: &[Column] = &[
    NAME,
    col("Ready", "string", 0, "Number of the pod with ready state"),
    col("Up-to-date", "string", 0, "Total number of non-terminated pods targeted by this deployment that have the desired template spec."),
    col("Available", "string", 0, "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment."),
    AGE,
    CONTAINERS,
    IMAGES,
    SELECTOR,
];
#[rustfmt::skip]
const REPLICASET: &[Column] = &[
    NAME,
    col("Desired", "integer", 0, "Replicas is the number of desired replicas."),
    col("Current", "integer", 0, "Replicas is the most recently observed number of replicas."),
    col("Ready", "integer", 0, "The number of ready replicas for this replica set."),
    AGE,
    CONTAINERS,
    IMAGES,
    SELECTOR,
];
#[rustfmt::skip]
const STATEFULSET: &[Column] = &[
    NAME,
    col("Ready", "string", 0, "Number of the pod with ready state"),
    AGE,
    CONTAINERS,
    IMAGES,
];
#[rustfmt::skip]
const DAEMONSET: &[Column] = &[
    NAME,
    col("Desired", "integer", 0, "The total number of nodes that should be running the daemon pod (including nodes correctly running the daemon pod)."),
    col("Current", "integer", 0, "The number of nodes that are running at least 1 daemon pod and are supposed to run the daemon pod."),
    col("Ready", "integer", 0, "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and ready."),
    col("Up-to-date", "integer", 0, "The total number of nodes that are running updated daemon pod."),
    col("Available", "integer", 0, "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and available (ready for at least minReadySeconds)."),
    col("Node Selector", "string", 0, "NodeSelector is a selector which must be true for the pod to fit on a node."),
    AGE,
    CONTAINERS,
    IMAGES,
    SELECTOR,
];
#[rustfmt::skip]
const JOB: &[Column] = &[
    NAME,
    col("Status", "string", 0, "Status of the job."),
    col("Completions", "string", 0, "The number of pods which reached phase Succeeded."),
    col("Duration", "string", 0, "Time required to complete the job."),
    AGE,
    CONTAINERS,
    IMAGES,
    SELECTOR,
];
#[rustfmt::skip]
const CRONJOB: &[Column] = &[
    NAME,
    col("Schedule", "string", 0, "The schedule in Cron format."),
    col("Timezone", "string", 0, "The time zone name for the given schedule."),
    col("Suspend", "boolean", 0, "This flag tells the controller to suspend subsequent executions."),
    col("Active", "integer", 0, "A list of pointers to currently running jobs."),
    col("Last Schedule", "string", 0, "Information when was the last time the job was successfully scheduled."),
    AGE,
    CONTAINERS,
    IMAGES,
    SELECTOR,
];
#[rustfmt::skip]
const SERVICE: &[Column] = &[
    NAME,
    col("Type", "string", 0, "type determines how the Service is exposed."),
    col("Cluster-IP", "string", 0, "clusterIP is the IP address of the service and is usually assigned randomly."),
    col("External-IP", "string", 0, "externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service."),
    col("Port(s)", "string", 0, "The list of ports that are exposed by this service."),
    AGE,
    col("Selector", "string", 1, "Route service traffic to pods with label keys and values matching this selector."),
];
#[rustfmt::skip]
const ENDPOINTS: &[Column] = &[
    NAME,
    col("Endpoints", "string", 0, "The set of all endpoints is the union of all subsets."),
    AGE,
];
#[rustfmt::skip]
const ENDPOINTSLICE: &[Column] = &[
    NAME,
    col("AddressType", "string", 0, "addressType specifies the type of address carried by this EndpointSlice."),
    col("Ports", "string", 0, "ports specifies the list of network ports exposed by each endpoint in this slice."),
    col("Endpoints", "string", 0, "endpoints is a list of unique endpoints in this slice."),
    AGE,
];
#[rustfmt::skip]
const NODE: &[Column] = &[
    NAME,
    col("Status", "string", 0, "The status of the node"),
    col("Roles", "string", 0, "The roles of the node"),
    AGE,
    col("Version", "string", 0, "Kubelet Version reported by the node."),
    col("Internal-IP", "string", 1, "List of addresses reachable to the node."),
    col("External-IP", "string", 1, "List of addresses reachable to the node."),
    col("OS-Image", "string", 1, "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy))."),
    col("Kernel-Version", "string", 1, "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64)."),
    col("Container-Runtime", "string", 1, "ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2)."),
];
#[rustfmt::skip]
const NAMESPACE: &[Column] = &[
    NAME,
    col("Status", "string", 0, "The status of the namespace"),
    AGE,
];
#[rustfmt::skip]
const CONFIGMAP: &[Column] = &[
    NAME,
    col("Data", "string", 0, "Data contains the configuration data."),
    AGE,
];
#[rustfmt::skip]
const SECRET: &[Column] = &[
    NAME,
    col("Type", "string", 0, "Used to facilitate programmatic handling of secret data."),
    col("Data", "string", 0, "Data contains the secret data."),
    AGE,
];
#[rustfmt::skip]
const EVENT: &[Column] = &[
    col("Last Seen", "string", 0, "The time at which the most recent occurrence of this event was recorded."),
    col("Type", "string", 0, "Type of this event (Normal, Warning), new types could be added in the future"),
    col("Reason", "string", 0, "This should be a short, machine understandable string that gives the reason for the transition into the object's current status."),
    col("Object", "string", 0, "The object that this event is about."),
    col("Subobject", "string", 1, "If referring to a piece of an object instead of an entire object, this string should contain a valid JSON/Go field access statement."),
    col("Source", "string", 1, "The component reporting this event."),
    col("Message", "string", 0, "A human-readable description of the status of this operation."),
    col("First Seen", "string", 1, "The time at which the event was first recorded."),
    col("Count", "string", 1, "The number of times this event has occurred."),
    Column {
        name: "Name",
        kind: "string",
        format: "name",
        priority: 1,
        description: NAME_DOC,
    },
];
#[rustfmt::skip]
const SERVICEACCOUNT: &[Column] = &[
    NAME,
    col("Secrets", "string", 0, "Secrets is a list of the secrets in the same namespace that pods running using this ServiceAccount are allowed to use."),
    AGE,
];
#[rustfmt::skip]
const LEASE: &[Column] = &[
    NAME,
    col("Holder", "string", 0, "holderIdentity contains the identity of the holder of a current lease."),
    AGE,
];
#[rustfmt::skip]
const PRIORITYCLASS: &[Column] = &[
    NAME,
    col("Value", "integer", 0, "value represents the integer value of this priority class."),
    col("Global-Default", "boolean", 0, "globalDefault specifies whether this PriorityClass should be considered as the default priority for pods that do not have any priority class."),
    AGE,
    col("PreemptionPolicy", "string", 0, "preemptionPolicy is the Policy for preempting pods with lower priority."),
];
const DEFAULT: &[Column] = &[NAME, AGE];

/// The columns of a kind (Name and Age for kinds without a printer).
pub fn columns(resource: &ResourceInfo) -> &'static [Column] {
    match resource.plural {
        "pods" => POD,
        "deployments" => DEPLOYMENT,
        "replicasets" => REPLICASET,
        "statefulsets" => STATEFULSET,
        "daemonsets" => DAEMONSET,
        "jobs" => JOB,
        "cronjobs" => CRONJOB,
        "services" => SERVICE,
        "endpoints" => ENDPOINTS,
        "endpointslices" => ENDPOINTSLICE,
        "nodes" => NODE,
        "namespaces" => NAMESPACE,
        "configmaps" => CONFIGMAP,
        "secrets" => SECRET,
        "events" => EVENT,
        "serviceaccounts" => SERVICEACCOUNT,
        "leases" => LEASE,
        "priorityclasses" => PRIORITYCLASS,
        _ => DEFAULT,
    }
}

/// The cells of one object, one per column of [`columns`].
pub fn cells(resource: &ResourceInfo, obj: &Value) -> Vec<Value> {
    let name = json!(s(obj, "/metadata/name"));
    match resource.plural {
        "pods" => pod_cells(obj),
        "deployments" => {
            let (c, i) = container_cells(obj, "/spec/template");
            vec![
                name,
                json!(format!(
                    "{}/{}",
                    n(obj, "/status/readyReplicas"),
                    n(obj, "/spec/replicas")
                )),
                json!(n(obj, "/status/updatedReplicas")),
                json!(n(obj, "/status/availableReplicas")),
                json!(age(obj)),
                json!(c),
                json!(i),
                // Upstream prints the selector as is here (empty: nothing).
                json!(label_selector(obj.pointer("/spec/selector")).unwrap_or_default()),
            ]
        }
        "replicasets" => {
            let (c, i) = container_cells(obj, "/spec/template");
            vec![
                name,
                json!(n(obj, "/spec/replicas")),
                json!(n(obj, "/status/replicas")),
                json!(n(obj, "/status/readyReplicas")),
                json!(age(obj)),
                json!(c),
                json!(i),
                json!(format_label_selector(obj.pointer("/spec/selector"))),
            ]
        }
        "statefulsets" => {
            let (c, i) = container_cells(obj, "/spec/template");
            vec![
                name,
                json!(format!(
                    "{}/{}",
                    n(obj, "/status/readyReplicas"),
                    n(obj, "/spec/replicas")
                )),
                json!(age(obj)),
                json!(c),
                json!(i),
            ]
        }
        "daemonsets" => {
            let (c, i) = container_cells(obj, "/spec/template");
            vec![
                name,
                json!(n(obj, "/status/desiredNumberScheduled")),
                json!(n(obj, "/status/currentNumberScheduled")),
                json!(n(obj, "/status/numberReady")),
                json!(n(obj, "/status/updatedNumberScheduled")),
                json!(n(obj, "/status/numberAvailable")),
                json!(format_labels(
                    obj.pointer("/spec/template/spec/nodeSelector")
                )),
                json!(age(obj)),
                json!(c),
                json!(i),
                json!(format_label_selector(obj.pointer("/spec/selector"))),
            ]
        }
        "jobs" => job_cells(obj),
        "cronjobs" => {
            let (c, i) = container_cells(obj, "/spec/jobTemplate/spec/template");
            let last = match obj.pointer("/status/lastScheduleTime") {
                Some(t) if !t.is_null() => since(t.as_str().unwrap_or("")),
                _ => "<none>".into(),
            };
            let suspend = match obj.pointer("/spec/suspend").and_then(Value::as_bool) {
                Some(true) => "True",
                Some(false) => "False",
                None => "<unset>",
            };
            vec![
                name,
                json!(s(obj, "/spec/schedule")),
                json!(or(s(obj, "/spec/timeZone"), "<none>")),
                json!(suspend),
                json!(len_of(obj, "/status/active")),
                json!(last),
                json!(age(obj)),
                json!(c),
                json!(i),
                json!(format_label_selector(
                    obj.pointer("/spec/jobTemplate/spec/selector")
                )),
            ]
        }
        "services" => service_cells(obj),
        "endpoints" => vec![name, json!(format_endpoints(obj)), json!(age(obj))],
        "endpointslices" => endpoint_slice_cells(obj),
        "nodes" => node_cells(obj),
        "namespaces" => vec![name, json!(s(obj, "/status/phase")), json!(age(obj))],
        "configmaps" => vec![
            name,
            json!(len_of(obj, "/data") + len_of(obj, "/binaryData")),
            json!(age(obj)),
        ],
        "secrets" => vec![
            name,
            json!(s(obj, "/type")),
            json!(len_of(obj, "/data")),
            json!(age(obj)),
        ],
        "events" => event_cells(obj),
        "serviceaccounts" => vec![name, json!(len_of(obj, "/secrets")), json!(age(obj))],
        "leases" => vec![name, json!(s(obj, "/spec/holderIdentity")), json!(age(obj))],
        "priorityclasses" => vec![
            name,
            json!(n(obj, "/value")),
            json!(obj
                .get("globalDefault")
                .and_then(Value::as_bool)
                .unwrap_or(false)),
            json!(age(obj)),
            json!(s(obj, "/preemptionPolicy")),
        ],
        _ => vec![name, json!(age(obj))],
    }
}

/// Row conditions: upstream marks the rows of finished pods `Completed`
/// (kubectl can use this to tell finished rows apart).
pub fn row_conditions(resource: &ResourceInfo, obj: &Value) -> Option<Value> {
    if resource.plural != "pods" {
        return None;
    }
    let (reason, message) = match s(obj, "/status/phase") {
        "Succeeded" => ("Succeeded", "The pod has completed successfully."),
        "Failed" => ("Failed", "The pod failed."),
        _ => return None,
    };
    Some(json!([{"type": "Completed", "status": "True", "reason": reason, "message": message}]))
}

// ---------------------------------------------------------------------------
// Small readers over JSON: absent or mistyped fields read as zero values,
// so no input can make a printer fail.

fn s<'a>(obj: &'a Value, pointer: &str) -> &'a str {
    obj.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

fn n(obj: &Value, pointer: &str) -> i64 {
    obj.pointer(pointer).and_then(Value::as_i64).unwrap_or(0)
}

fn b(obj: &Value, pointer: &str) -> bool {
    obj.pointer(pointer)
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

fn arr<'a>(obj: &'a Value, pointer: &str) -> &'a [Value] {
    obj.pointer(pointer)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

fn or<'a>(v: &'a str, default: &'a str) -> &'a str {
    if v.is_empty() {
        default
    } else {
        v
    }
}

fn len_of(obj: &Value, pointer: &str) -> usize {
    match obj.pointer(pointer) {
        Some(Value::Object(m)) => m.len(),
        Some(Value::Array(a)) => a.len(),
        _ => 0,
    }
}

fn has_condition(obj: &Value, pointer: &str, ty: &str) -> bool {
    arr(obj, pointer)
        .iter()
        .any(|c| s(c, "/type") == ty && s(c, "/status") == "True")
}

// ---------------------------------------------------------------------------
// Time.

fn parse_time(ts: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(ts)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Upstream's `duration.HumanDuration` of a number of seconds: `45s`,
/// `3m20s`, `25m`, `5h2m`, `30h`, `3d2h`, `100d`, `2y10d`... A time more than
/// a second in the future is `<invalid>` (clock skew up to a second is "now").
pub fn human_duration(secs: i64) -> String {
    if secs < -1 {
        return "<invalid>".into();
    }
    if secs < 0 {
        return "0s".into();
    }
    if secs < 120 {
        return format!("{secs}s");
    }
    let minutes = secs / 60;
    if minutes < 10 {
        return match secs % 60 {
            0 => format!("{minutes}m"),
            rest => format!("{minutes}m{rest}s"),
        };
    }
    if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = secs / 3600;
    if hours < 8 {
        return match minutes % 60 {
            0 => format!("{hours}h"),
            rest => format!("{hours}h{rest}m"),
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        return match hours % 24 {
            0 => format!("{}d", hours / 24),
            rest => format!("{}d{rest}h", hours / 24),
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        return match (hours / 24) % 365 {
            0 => format!("{}y", hours / 24 / 365),
            rest => format!("{}y{rest}d", hours / 24 / 365),
        };
    }
    format!("{}y", hours / 24 / 365)
}

/// Upstream's `translateTimestampSince`: the age of a timestamp, or
/// `<unknown>` when there is none.
fn since(ts: &str) -> String {
    match parse_time(ts) {
        Some(t) => human_duration((Utc::now() - t).num_seconds()),
        None => "<unknown>".into(),
    }
}

fn age(obj: &Value) -> String {
    since(s(obj, "/metadata/creationTimestamp"))
}

// ---------------------------------------------------------------------------
// Shared cell formats.

/// Container names and images of a pod template, comma separated.
fn container_cells(obj: &Value, template: &str) -> (String, String) {
    let containers = arr(obj, &format!("{template}/spec/containers"));
    let names: Vec<&str> = containers.iter().map(|c| s(c, "/name")).collect();
    let images: Vec<&str> = containers.iter().map(|c| s(c, "/image")).collect();
    (names.join(","), images.join(","))
}

/// A `LabelSelector` as selector text; `None` when it cannot be parsed.
fn label_selector(sel: Option<&Value>) -> Option<String> {
    match sel {
        None | Some(Value::Null) => Some(String::new()),
        Some(sel) => apimachinery::labels::Selector::from_label_selector_json(sel)
            .ok()
            .map(|s| s.to_string()),
    }
}

/// Upstream's `metav1.FormatLabelSelector`: `<none>` when empty.
fn format_label_selector(sel: Option<&Value>) -> String {
    match label_selector(sel) {
        None => "<error>".into(),
        Some(s) if s.is_empty() => "<none>".into(),
        Some(s) => s,
    }
}

/// Upstream's `labels.FormatLabels`: `k=v,k2=v2` sorted by key, `<none>`
/// when empty.
fn format_labels(map: Option<&Value>) -> String {
    let pairs: Vec<String> = map
        .and_then(Value::as_object)
        .map(|m| {
            // serde_json's map is ordered by key.
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect()
        })
        .unwrap_or_default();
    if pairs.is_empty() {
        "<none>".into()
    } else {
        pairs.join(",")
    }
}

/// `a,b,c + 4 more...`, or `<unset>` for nothing (upstream's
/// `listWithMoreString`).
fn list_with_more(list: &[String], count: usize, max: usize) -> String {
    let shown = list.join(",");
    if count > max {
        format!("{shown} + {} more...", count - max)
    } else if shown.is_empty() {
        "<unset>".into()
    } else {
        shown
    }
}

/// `ip:port`, with brackets for IPv6 (Go's `net.JoinHostPort`).
fn join_host_port(host: &str, port: i64) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

// ---------------------------------------------------------------------------
// Pods.

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

fn pod_cells(pod: &Value) -> Vec<Value> {
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

// ---------------------------------------------------------------------------
// Workloads, services, nodes, events.

fn job_cells(obj: &Value) -> Vec<Value> {
    let (c, i) = container_cells(obj, "/spec/template");
    let succeeded = n(obj, "/status/succeeded");
    let completions = match obj.pointer("/spec/completions").and_then(Value::as_i64) {
        Some(want) => format!("{succeeded}/{want}"),
        None => match n(obj, "/spec/parallelism") {
            p if p > 1 => format!("{succeeded}/1 of {p}"),
            _ => format!("{succeeded}/1"),
        },
    };
    let start = parse_time(s(obj, "/status/startTime"));
    let end = parse_time(s(obj, "/status/completionTime"));
    let duration = match (start, end) {
        (None, _) => String::new(),
        (Some(start), None) => human_duration((Utc::now() - start).num_seconds()),
        (Some(start), Some(end)) => human_duration((end - start).num_seconds()),
    };
    // Upstream looks at the first condition of each type only.
    let condition = |ty: &str| {
        arr(obj, "/status/conditions")
            .iter()
            .find(|c| s(c, "/type") == ty)
            .is_some_and(|c| s(c, "/status") == "True")
    };
    let status = if condition("Complete") {
        "Complete"
    } else if condition("Failed") {
        "Failed"
    } else if obj
        .pointer("/metadata/deletionTimestamp")
        .is_some_and(|d| !d.is_null())
    {
        "Terminating"
    } else if condition("Suspended") {
        "Suspended"
    } else if condition("FailureTarget") {
        "FailureTarget"
    } else {
        "Running"
    };
    vec![
        json!(s(obj, "/metadata/name")),
        json!(status),
        json!(completions),
        json!(duration),
        json!(age(obj)),
        json!(c),
        json!(i),
        json!(format_label_selector(obj.pointer("/spec/selector"))),
    ]
}

fn service_cells(obj: &Value) -> Vec<Value> {
    let ty = s(obj, "/spec/type");
    let cluster_ip = arr(obj, "/spec/clusterIPs")
        .first()
        .and_then(Value::as_str)
        .unwrap_or("<none>");
    let external_ips: Vec<&str> = arr(obj, "/spec/externalIPs")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let external = match ty {
        "ClusterIP" | "NodePort" if !external_ips.is_empty() => external_ips.join(","),
        "ClusterIP" | "NodePort" => "<none>".into(),
        "LoadBalancer" => {
            // Sorted and deduplicated, as upstream's string set.
            let mut lb: Vec<&str> = arr(obj, "/status/loadBalancer/ingress")
                .iter()
                .map(|i| or(s(i, "/ip"), s(i, "/hostname")))
                .filter(|a| !a.is_empty())
                .collect();
            lb.sort_unstable();
            lb.dedup();
            lb.extend(external_ips.iter().copied());
            if lb.is_empty() {
                "<pending>".into()
            } else {
                lb.join(",")
            }
        }
        "ExternalName" => s(obj, "/spec/externalName").to_string(),
        _ => "<unknown>".into(),
    };
    let ports: Vec<String> = arr(obj, "/spec/ports")
        .iter()
        .map(|p| match n(p, "/nodePort") {
            np if np > 0 => format!("{}:{np}/{}", n(p, "/port"), s(p, "/protocol")),
            _ => format!("{}/{}", n(p, "/port"), s(p, "/protocol")),
        })
        .collect();
    vec![
        json!(s(obj, "/metadata/name")),
        json!(ty),
        json!(cluster_ip),
        json!(external),
        json!(or(&ports.join(","), "<none>")),
        json!(age(obj)),
        json!(format_labels(obj.pointer("/spec/selector"))),
    ]
}

/// Upstream's `formatEndpoints`: the first three `ip:port`, then `+ N more...`.
fn format_endpoints(obj: &Value) -> String {
    const MAX: usize = 3;
    let subsets = arr(obj, "/subsets");
    if subsets.is_empty() {
        return "<none>".into();
    }
    let mut list: Vec<String> = Vec::new();
    let mut count = 0;
    for subset in subsets {
        let addresses = arr(subset, "/addresses");
        let ports = arr(subset, "/ports");
        if ports.is_empty() {
            // Headless services without ports.
            count += addresses.len();
            for a in addresses {
                if list.len() < MAX {
                    list.push(s(a, "/ip").to_string());
                }
            }
            continue;
        }
        for p in ports {
            count += addresses.len();
            for a in addresses {
                if list.len() < MAX {
                    list.push(join_host_port(s(a, "/ip"), n(p, "/port")));
                }
            }
        }
    }
    let shown = list.join(",");
    if count > MAX {
        format!("{shown} + {} more...", count - MAX)
    } else {
        shown
    }
}

fn endpoint_slice_cells(obj: &Value) -> Vec<Value> {
    const MAX: usize = 3;
    let ports_all = arr(obj, "/ports");
    let ports: Vec<String> = ports_all
        .iter()
        .take(MAX)
        .map(|p| match p.get("port").and_then(Value::as_i64) {
            Some(port) => port.to_string(),
            None => or(s(p, "/name"), "*").to_string(),
        })
        .collect();
    let addresses: Vec<&str> = arr(obj, "/endpoints")
        .iter()
        .flat_map(|e| arr(e, "/addresses").iter().filter_map(Value::as_str))
        .collect();
    let shown: Vec<String> = addresses.iter().take(MAX).map(|a| a.to_string()).collect();
    vec![
        json!(s(obj, "/metadata/name")),
        json!(s(obj, "/addressType")),
        json!(list_with_more(&ports, ports_all.len(), MAX)),
        json!(list_with_more(&shown, addresses.len(), MAX)),
        json!(age(obj)),
    ]
}

fn node_cells(node: &Value) -> Vec<Value> {
    // Only the Ready condition is summarised, as upstream.
    let mut status: Vec<&str> = Vec::new();
    if let Some(c) = arr(node, "/status/conditions")
        .iter()
        .rev()
        .find(|c| s(c, "/type") == "Ready")
    {
        status.push(if s(c, "/status") == "True" {
            "Ready"
        } else {
            "NotReady"
        });
    }
    if status.is_empty() {
        status.push("Unknown");
    }
    if b(node, "/spec/unschedulable") {
        status.push("SchedulingDisabled");
    }
    let mut roles: Vec<String> = node
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .map(|labels| {
            labels
                .iter()
                .filter_map(|(k, v)| match k.strip_prefix("node-role.kubernetes.io/") {
                    Some(role) if !role.is_empty() => Some(role.to_string()),
                    Some(_) => None,
                    None if k == "kubernetes.io/role" => {
                        v.as_str().filter(|v| !v.is_empty()).map(str::to_string)
                    }
                    None => None,
                })
                .collect()
        })
        .unwrap_or_default();
    roles.sort();
    roles.dedup();
    let address = |t: &str| -> String {
        arr(node, "/status/addresses")
            .iter()
            .find(|a| s(a, "/type") == t)
            .map(|a| s(a, "/address").to_string())
            .unwrap_or_else(|| "<none>".into())
    };
    let info = |field: &str| or(s(node, &format!("/status/nodeInfo/{field}")), "<unknown>");
    vec![
        json!(s(node, "/metadata/name")),
        json!(status.join(",")),
        json!(if roles.is_empty() {
            "<none>".to_string()
        } else {
            roles.join(",")
        }),
        json!(age(node)),
        json!(s(node, "/status/nodeInfo/kubeletVersion")),
        json!(address("InternalIP")),
        json!(address("ExternalIP")),
        json!(info("osImage")),
        json!(info("kernelVersion")),
        json!(info("containerRuntimeVersion")),
    ]
}

fn event_cells(ev: &Value) -> Vec<Value> {
    let first = if parse_time(s(ev, "/firstTimestamp")).is_some() {
        since(s(ev, "/firstTimestamp"))
    } else {
        since(s(ev, "/eventTime"))
    };
    let mut last = if parse_time(s(ev, "/lastTimestamp")).is_some() {
        since(s(ev, "/lastTimestamp"))
    } else {
        first.clone()
    };
    let mut count = n(ev, "/count");
    if let Some(series) = ev.get("series").filter(|v| v.is_object()) {
        last = since(s(series, "/lastObservedTime"));
        count = n(series, "/count");
    } else if count == 0 {
        // Singleton events of the new API carry no count.
        count = 1;
    }
    let kind = s(ev, "/involvedObject/kind").to_lowercase();
    let target = match s(ev, "/involvedObject/name") {
        "" => kind,
        name => format!("{kind}/{name}"),
    };
    let component = or(s(ev, "/source/component"), s(ev, "/reportingComponent"));
    let host = or(s(ev, "/source/host"), s(ev, "/reportingInstance"));
    let source = if host.is_empty() {
        component.to_string()
    } else {
        format!("{component}, {host}")
    };
    vec![
        json!(last),
        json!(s(ev, "/type")),
        json!(s(ev, "/reason")),
        json!(target),
        json!(s(ev, "/involvedObject/fieldPath")),
        json!(source),
        json!(s(ev, "/message").trim()),
        json!(first),
        json!(count),
        json!(s(ev, "/metadata/name")),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(plural: &str) -> &'static ResourceInfo {
        apimachinery::resources::RESOURCES
            .iter()
            .find(|r| r.plural == plural)
            .unwrap_or_else(|| panic!("{plural} is served"))
    }

    /// An RFC 3339 time `secs` seconds ago.
    fn ago(secs: i64) -> String {
        (Utc::now() - chrono::Duration::seconds(secs))
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string()
    }

    fn names(plural: &str) -> Vec<&'static str> {
        columns(res(plural)).iter().map(|c| c.name).collect()
    }

    #[test]
    fn durations_like_upstream() {
        for (secs, want) in [
            (-5, "<invalid>"),
            (-1, "0s"),
            (0, "0s"),
            (45, "45s"),
            (119, "119s"),
            (120, "2m"),
            (200, "3m20s"),
            (1500, "25m"),
            (3 * 3600 - 60, "179m"),
            (3 * 3600, "3h"),
            (5 * 3600 + 120, "5h2m"),
            (30 * 3600, "30h"),
            (3 * 86400 + 7200, "3d2h"),
            (4 * 86400, "4d"),
            (100 * 86400, "100d"),
            (3 * 365 * 86400 + 10 * 86400, "3y10d"),
            (9 * 365 * 86400, "9y"),
        ] {
            assert_eq!(human_duration(secs), want, "{secs}s");
        }
        assert_eq!(since(""), "<unknown>");
        assert_eq!(since(&ago(200)), "3m20s");
    }

    #[test]
    fn every_kind_has_as_many_cells_as_columns_on_any_input() {
        for r in apimachinery::resources::RESOURCES {
            for obj in [
                json!({}),
                json!(null),
                json!({"metadata": {"name": "x"}, "spec": 3, "status": []}),
                json!({"metadata": {"name": 1, "creationTimestamp": "garbage"},
                    "spec": {"containers": "x", "ports": [1, {"port": "a"}], "selector": {"matchLabels": 4}},
                    "status": {"conditions": [null, 1], "containerStatuses": [{"state": null}]}}),
            ] {
                let cells = cells(r, &obj);
                assert_eq!(cells.len(), columns(r).len(), "{}", r.plural);
            }
            let cols = columns(r);
            assert_eq!(
                cols.iter().filter(|c| c.format == "name").count(),
                1,
                "{}: one name column",
                r.plural
            );
        }
    }

    #[test]
    fn pods() {
        assert_eq!(
            names("pods"),
            [
                "Name",
                "Ready",
                "Status",
                "Restarts",
                "Age",
                "IP",
                "Node",
                "Nominated Node",
                "Readiness Gates"
            ]
        );
        let running = json!({
            "metadata": {"name": "web", "creationTimestamp": ago(90)},
            "spec": {"containers": [{"name": "a"}, {"name": "b"}], "nodeName": "n1",
                "readinessGates": [{"conditionType": "x/y"}]},
            "status": {"phase": "Running", "podIP": "10.0.0.5", "podIPs": [{"ip": "10.0.0.5"}],
                "conditions": [{"type": "Ready", "status": "True"}, {"type": "x/y", "status": "True"}],
                "containerStatuses": [
                    {"name": "a", "ready": true, "restartCount": 2, "state": {"running": {}},
                     "lastState": {"terminated": {"exitCode": 1, "finishedAt": ago(300)}}},
                    {"name": "b", "ready": false, "restartCount": 0, "state": {"running": {}}}]}});
        let c = cells(res("pods"), &running);
        assert_eq!(
            c,
            vec![
                json!("web"),
                json!("1/2"),
                json!("Running"),
                json!("2 (5m ago)"),
                json!("90s"),
                json!("10.0.0.5"),
                json!("n1"),
                json!("<none>"),
                json!("1/1")
            ]
        );

        let status = |status: Value| {
            pod_status(&json!({"spec": {"containers": [{"name": "a"}],
                "initContainers": [{"name": "i"}, {"name": "j"}]}, "status": status}))
        };
        assert_eq!(status(json!({"phase": "Pending"})), "Pending");
        assert_eq!(
            status(
                json!({"phase": "Pending", "containerStatuses": [{"state": {"waiting": {"reason": "ContainerCreating"}}}]})
            ),
            "ContainerCreating"
        );
        assert_eq!(
            status(
                json!({"phase": "Running", "containerStatuses": [{"restartCount": 4, "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]})
            ),
            "CrashLoopBackOff"
        );
        assert_eq!(
            status(
                json!({"phase": "Pending", "containerStatuses": [{"state": {"waiting": {"reason": "ErrImagePull"}}}]})
            ),
            "ErrImagePull"
        );
        assert_eq!(
            status(
                json!({"phase": "Succeeded", "containerStatuses": [{"state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]})
            ),
            "Completed"
        );
        assert_eq!(
            status(
                json!({"phase": "Failed", "containerStatuses": [{"state": {"terminated": {"exitCode": 3}}}]})
            ),
            "ExitCode:3"
        );
        assert_eq!(
            status(
                json!({"phase": "Failed", "containerStatuses": [{"state": {"terminated": {"exitCode": 137, "signal": 9}}}]})
            ),
            "Signal:9"
        );
        assert_eq!(
            status(json!({"phase": "Pending", "initContainerStatuses": [
                {"name": "i", "state": {"terminated": {"exitCode": 0}}},
                {"name": "j", "state": {"running": {}}}]})),
            "Init:1/2"
        );
        assert_eq!(
            status(json!({"phase": "Pending", "initContainerStatuses": [
                {"name": "i", "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]})),
            "Init:CrashLoopBackOff"
        );
        assert_eq!(
            status(json!({"phase": "Pending", "initContainerStatuses": [
                {"name": "i", "state": {"terminated": {"exitCode": 2}}}]})),
            "Init:ExitCode:2"
        );
        assert_eq!(
            status(
                json!({"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]})
            ),
            "SchedulingGated"
        );
        let deleting = |phase: &str, reason: &str| {
            pod_status(&json!({"metadata": {"deletionTimestamp": ago(1)},
                "status": {"phase": phase, "reason": reason}}))
        };
        assert_eq!(deleting("Running", ""), "Terminating");
        assert_eq!(deleting("Succeeded", ""), "Succeeded");
        assert_eq!(deleting("Running", "NodeLost"), "Unknown");
        // A finished sidecar-less pod where one container still runs.
        let mixed = json!({"spec": {"containers": [{"name": "a"}, {"name": "b"}]},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "False"}],
                "containerStatuses": [
                    {"name": "a", "ready": false, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}},
                    {"name": "b", "ready": true, "state": {"running": {}}}]}});
        // Upstream walks the statuses backwards: `a` is looked at last.
        assert_eq!(pod_status(&mixed), "NotReady");
        // Sidecars count as containers.
        let sidecar = json!({"spec": {"containers": [{"name": "a"}],
                "initContainers": [{"name": "s", "restartPolicy": "Always"}]},
            "status": {"phase": "Running", "conditions": [{"type": "Initialized", "status": "True"}],
                "initContainerStatuses": [{"name": "s", "started": true, "ready": true, "restartCount": 1, "state": {"running": {}}}],
                "containerStatuses": [{"name": "a", "ready": true, "state": {"running": {}}}]}});
        let c = cells(res("pods"), &sidecar);
        assert_eq!(c[1], "2/2");
        assert_eq!(c[2], "Running");
        assert_eq!(c[3], "1");
        assert_eq!(
            row_conditions(res("pods"), &json!({"status": {"phase": "Succeeded"}}))
                .and_then(|c| c[0]["type"].as_str().map(str::to_string)),
            Some("Completed".to_string())
        );
        assert!(row_conditions(res("pods"), &running).is_none());
    }

    #[test]
    fn deployments_replicasets_statefulsets_daemonsets() {
        assert_eq!(
            names("deployments"),
            [
                "Name",
                "Ready",
                "Up-to-date",
                "Available",
                "Age",
                "Containers",
                "Images",
                "Selector"
            ]
        );
        let template = json!({"spec": {"containers": [{"name": "a", "image": "nginx"}, {"name": "b", "image": "busybox"}]}});
        let d = json!({"metadata": {"name": "web", "creationTimestamp": ago(30)},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}}, "template": template},
            "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}});
        assert_eq!(
            cells(res("deployments"), &d),
            vec![
                json!("web"),
                json!("2/3"),
                json!(3),
                json!(2),
                json!("30s"),
                json!("a,b"),
                json!("nginx,busybox"),
                json!("app=web")
            ]
        );
        assert_eq!(
            names("replicasets"),
            [
                "Name",
                "Desired",
                "Current",
                "Ready",
                "Age",
                "Containers",
                "Images",
                "Selector"
            ]
        );
        let rs = json!({"metadata": {"name": "web-1"}, "spec": {"replicas": 3, "template": template},
            "status": {"replicas": 2, "readyReplicas": 1}});
        let c = cells(res("replicasets"), &rs);
        assert_eq!(&c[..4], &[json!("web-1"), json!(3), json!(2), json!(1)]);
        assert_eq!(c[4], "<unknown>");
        assert_eq!(c[7], "<none>");
        assert_eq!(
            names("statefulsets"),
            ["Name", "Ready", "Age", "Containers", "Images"]
        );
        let sts = json!({"metadata": {"name": "db"}, "spec": {"replicas": 2, "template": template}, "status": {"readyReplicas": 1}});
        assert_eq!(cells(res("statefulsets"), &sts)[1], "1/2");
        assert_eq!(
            names("daemonsets"),
            [
                "Name",
                "Desired",
                "Current",
                "Ready",
                "Up-to-date",
                "Available",
                "Node Selector",
                "Age",
                "Containers",
                "Images",
                "Selector"
            ]
        );
        let ds = json!({"metadata": {"name": "agent"},
            "spec": {"selector": {"matchLabels": {"app": "agent"}},
                "template": {"spec": {"nodeSelector": {"zone": "a", "disk": "ssd"}, "containers": []}}},
            "status": {"desiredNumberScheduled": 3, "currentNumberScheduled": 3, "numberReady": 2, "updatedNumberScheduled": 3, "numberAvailable": 2}});
        let c = cells(res("daemonsets"), &ds);
        assert_eq!(
            &c[1..6],
            &[json!(3), json!(3), json!(2), json!(3), json!(2)]
        );
        assert_eq!(c[6], "disk=ssd,zone=a");
        assert_eq!(c[10], "app=agent");
    }

    #[test]
    fn jobs_and_cronjobs() {
        assert_eq!(
            names("jobs"),
            [
                "Name",
                "Status",
                "Completions",
                "Duration",
                "Age",
                "Containers",
                "Images",
                "Selector"
            ]
        );
        let job = |spec: Value, status: Value| {
            cells(
                res("jobs"),
                &json!({"metadata": {"name": "j"}, "spec": spec, "status": status}),
            )
        };
        let done = job(
            json!({"completions": 1, "parallelism": 1}),
            json!({"succeeded": 1, "startTime": ago(100), "completionTime": ago(40),
                "conditions": [{"type": "Complete", "status": "True"}]}),
        );
        assert_eq!(
            &done[1..4],
            &[json!("Complete"), json!("1/1"), json!("60s")]
        );
        let running = job(json!({"parallelism": 3}), json!({"startTime": ago(10)}));
        assert_eq!(
            &running[1..4],
            &[json!("Running"), json!("0/1 of 3"), json!("10s")]
        );
        let pending = job(json!({"parallelism": 1}), json!({}));
        assert_eq!(&pending[1..4], &[json!("Running"), json!("0/1"), json!("")]);
        let failed = job(
            json!({"completions": 2}),
            json!({"conditions": [{"type": "Failed", "status": "True"}]}),
        );
        assert_eq!(failed[1], "Failed");
        let suspended = job(
            json!({}),
            json!({"conditions": [{"type": "Suspended", "status": "True"}]}),
        );
        assert_eq!(suspended[1], "Suspended");

        assert_eq!(
            names("cronjobs"),
            [
                "Name",
                "Schedule",
                "Timezone",
                "Suspend",
                "Active",
                "Last Schedule",
                "Age",
                "Containers",
                "Images",
                "Selector"
            ]
        );
        let cj = json!({"metadata": {"name": "cj"},
            "spec": {"schedule": "*/5 * * * *", "suspend": false,
                "jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}},
            "status": {"active": [{"name": "cj-1"}], "lastScheduleTime": ago(65)}});
        let c = cells(res("cronjobs"), &cj);
        assert_eq!(
            &c[..8],
            &[
                json!("cj"),
                json!("*/5 * * * *"),
                json!("<none>"),
                json!("False"),
                json!(1),
                json!("65s"),
                json!("<unknown>"),
                json!("c")
            ]
        );
        let never = cells(res("cronjobs"), &json!({"spec": {"timeZone": "Etc/UTC"}}));
        assert_eq!(
            &never[2..6],
            &[
                json!("Etc/UTC"),
                json!("<unset>"),
                json!(0),
                json!("<none>")
            ]
        );
    }

    #[test]
    fn services_endpoints_slices() {
        assert_eq!(
            names("services"),
            [
                "Name",
                "Type",
                "Cluster-IP",
                "External-IP",
                "Port(s)",
                "Age",
                "Selector"
            ]
        );
        let svc = |spec: Value, status: Value| {
            cells(
                res("services"),
                &json!({"metadata": {"name": "s"}, "spec": spec, "status": status}),
            )
        };
        let c = svc(
            json!({"type": "ClusterIP", "clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"],
                "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}], "selector": {"k8s-app": "dns"}}),
            json!({}),
        );
        assert_eq!(
            &c[1..5],
            &[
                json!("ClusterIP"),
                json!("10.96.0.10"),
                json!("<none>"),
                json!("53/UDP,53/TCP")
            ]
        );
        assert_eq!(c[6], "k8s-app=dns");
        let np = svc(
            json!({"type": "NodePort", "clusterIPs": ["10.96.1.1"], "externalIPs": ["1.2.3.4"],
                "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"}]}),
            json!({}),
        );
        assert_eq!(&np[3..5], &[json!("1.2.3.4"), json!("80:30080/TCP")]);
        assert_eq!(np[6], "<none>");
        let lb = svc(
            json!({"type": "LoadBalancer", "clusterIPs": ["10.96.1.2"]}),
            json!({}),
        );
        assert_eq!(&lb[3..5], &[json!("<pending>"), json!("<none>")]);
        let lb = svc(
            json!({"type": "LoadBalancer"}),
            json!({"loadBalancer": {"ingress": [{"ip": "5.6.7.8"}, {"hostname": "lb.example"}]}}),
        );
        assert_eq!(&lb[2..4], &[json!("<none>"), json!("5.6.7.8,lb.example")]);
        let headless = svc(
            json!({"type": "ClusterIP", "clusterIP": "None", "clusterIPs": ["None"]}),
            json!({}),
        );
        assert_eq!(headless[2], "None");
        let ext = svc(
            json!({"type": "ExternalName", "externalName": "example.com"}),
            json!({}),
        );
        assert_eq!(&ext[2..4], &[json!("<none>"), json!("example.com")]);

        assert_eq!(names("endpoints"), ["Name", "Endpoints", "Age"]);
        let ep = json!({"metadata": {"name": "kube-dns"}, "subsets": [
            {"addresses": [{"ip": "10.1.0.20"}, {"ip": "10.1.0.21"}],
             "ports": [{"port": 53, "name": "dns"}, {"port": 9153, "name": "metrics"}, {"port": 53, "name": "tcp"}]}]});
        assert_eq!(
            cells(res("endpoints"), &ep)[1],
            "10.1.0.20:53,10.1.0.21:53,10.1.0.20:9153 + 3 more..."
        );
        let v6 = json!({"subsets": [{"addresses": [{"ip": "fd00::1"}], "ports": [{"port": 80}]}]});
        assert_eq!(cells(res("endpoints"), &v6)[1], "[fd00::1]:80");
        assert_eq!(cells(res("endpoints"), &json!({}))[1], "<none>");
        let headless = json!({"subsets": [{"addresses": [{"ip": "10.0.0.1"}]}]});
        assert_eq!(cells(res("endpoints"), &headless)[1], "10.0.0.1");

        assert_eq!(
            names("endpointslices"),
            ["Name", "AddressType", "Ports", "Endpoints", "Age"]
        );
        let slice = json!({"metadata": {"name": "web-abc"}, "addressType": "IPv4",
            "ports": [{"port": 80}, {"name": "http"}, {}],
            "endpoints": [{"addresses": ["10.0.0.1"]}, {"addresses": ["10.0.0.2"]}, {"addresses": ["10.0.0.3"]}, {"addresses": ["10.0.0.4"]}]});
        let c = cells(res("endpointslices"), &slice);
        assert_eq!(
            &c[1..4],
            &[
                json!("IPv4"),
                json!("80,http,*"),
                json!("10.0.0.1,10.0.0.2,10.0.0.3 + 1 more...")
            ]
        );
        let empty = cells(res("endpointslices"), &json!({"addressType": "IPv4"}));
        assert_eq!(&empty[2..4], &[json!("<unset>"), json!("<unset>")]);
    }

    #[test]
    fn nodes() {
        assert_eq!(
            names("nodes"),
            [
                "Name",
                "Status",
                "Roles",
                "Age",
                "Version",
                "Internal-IP",
                "External-IP",
                "OS-Image",
                "Kernel-Version",
                "Container-Runtime"
            ]
        );
        let node = json!({"metadata": {"name": "n1", "labels": {
                "node-role.kubernetes.io/control-plane": "", "kubernetes.io/role": "worker", "node-role.kubernetes.io/": ""}},
            "spec": {"unschedulable": true},
            "status": {"conditions": [{"type": "MemoryPressure", "status": "False"}, {"type": "Ready", "status": "True"}],
                "addresses": [{"type": "InternalIP", "address": "10.0.0.1"}, {"type": "Hostname", "address": "n1"}],
                "nodeInfo": {"kubeletVersion": "v1.32.0", "osImage": "Debian", "kernelVersion": "6.1", "containerRuntimeVersion": "builtin://0.1"}}});
        assert_eq!(
            cells(res("nodes"), &node),
            vec![
                json!("n1"),
                json!("Ready,SchedulingDisabled"),
                json!("control-plane,worker"),
                json!("<unknown>"),
                json!("v1.32.0"),
                json!("10.0.0.1"),
                json!("<none>"),
                json!("Debian"),
                json!("6.1"),
                json!("builtin://0.1")
            ]
        );
        let not_ready = json!({"status": {"conditions": [{"type": "Ready", "status": "Unknown"}]}});
        let c = cells(res("nodes"), &not_ready);
        assert_eq!(&c[1..3], &[json!("NotReady"), json!("<none>")]);
        assert_eq!(c[7], "<unknown>");
        assert_eq!(cells(res("nodes"), &json!({}))[1], "Unknown");
    }

    #[test]
    fn namespaces_configmaps_secrets_serviceaccounts() {
        assert_eq!(names("namespaces"), ["Name", "Status", "Age"]);
        let ns = json!({"metadata": {"name": "dev", "creationTimestamp": ago(3 * 86400 + 7200)}, "status": {"phase": "Terminating"}});
        assert_eq!(
            cells(res("namespaces"), &ns),
            vec![json!("dev"), json!("Terminating"), json!("3d2h")]
        );
        assert_eq!(names("configmaps"), ["Name", "Data", "Age"]);
        let cm =
            json!({"metadata": {"name": "c"}, "data": {"a": "1"}, "binaryData": {"b": "AA=="}});
        assert_eq!(cells(res("configmaps"), &cm)[1], 2);
        assert_eq!(names("secrets"), ["Name", "Type", "Data", "Age"]);
        let secret = json!({"metadata": {"name": "s"}, "type": "Opaque", "data": {"pw": "eA=="}});
        assert_eq!(
            &cells(res("secrets"), &secret)[..3],
            &[json!("s"), json!("Opaque"), json!(1)]
        );
        assert_eq!(names("serviceaccounts"), ["Name", "Secrets", "Age"]);
        let sa = json!({"metadata": {"name": "default"}});
        assert_eq!(cells(res("serviceaccounts"), &sa)[1], 0);
    }

    #[test]
    fn events() {
        assert_eq!(
            names("events"),
            [
                "Last Seen",
                "Type",
                "Reason",
                "Object",
                "Subobject",
                "Source",
                "Message",
                "First Seen",
                "Count",
                "Name"
            ]
        );
        let ev = json!({"metadata": {"name": "web.1"}, "type": "Normal", "reason": "Scheduled",
            "involvedObject": {"kind": "Pod", "name": "web", "fieldPath": "spec.containers{c}"},
            "source": {"component": "default-scheduler", "host": "n1"},
            "message": "Successfully assigned default/web to n1\n",
            "firstTimestamp": ago(600), "lastTimestamp": ago(30), "count": 3});
        assert_eq!(
            cells(res("events"), &ev),
            vec![
                json!("30s"),
                json!("Normal"),
                json!("Scheduled"),
                json!("pod/web"),
                json!("spec.containers{c}"),
                json!("default-scheduler, n1"),
                json!("Successfully assigned default/web to n1"),
                json!("10m"),
                json!(3),
                json!("web.1")
            ]
        );
        // The events.k8s.io style: eventTime, series, reporting controller.
        let new_style = json!({"metadata": {"name": "e"}, "type": "Warning", "reason": "BackOff",
            "involvedObject": {"kind": "Node"}, "reportingComponent": "kubelet",
            "eventTime": "2020-01-01T00:00:00.000000Z",
            "series": {"count": 7, "lastObservedTime": ago(5)}});
        let c = cells(res("events"), &new_style);
        assert_eq!(c[0], "5s");
        assert_eq!(c[3], "node");
        assert_eq!(c[5], "kubelet");
        assert_eq!(c[8], 7);
        let single = json!({"firstTimestamp": ago(20)});
        let c = cells(res("events"), &single);
        assert_eq!(
            (c[0].clone(), c[7].clone(), c[8].clone()),
            (json!("20s"), json!("20s"), json!(1))
        );
    }

    #[test]
    fn leases_and_priorityclasses() {
        assert_eq!(names("leases"), ["Name", "Holder", "Age"]);
        let lease =
            json!({"metadata": {"name": "kube-scheduler"}, "spec": {"holderIdentity": "sched-1"}});
        assert_eq!(cells(res("leases"), &lease)[1], "sched-1");
        assert_eq!(
            names("priorityclasses"),
            ["Name", "Value", "Global-Default", "Age", "PreemptionPolicy"]
        );
        let pc = json!({"metadata": {"name": "high"}, "value": 1000, "globalDefault": true, "preemptionPolicy": "Never"});
        let c = cells(res("priorityclasses"), &pc);
        assert_eq!(
            (c[1].clone(), c[2].clone(), c[4].clone()),
            (json!(1000), json!(true), json!("Never"))
        );
    }
}
