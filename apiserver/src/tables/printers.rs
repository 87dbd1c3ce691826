//! One printer per kind: its columns and how an object fills them, as
//! upstream's `pkg/printers/internalversion` prints them.

use apimachinery::resources::ResourceInfo;
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

const NAME: Column = Column {
    name: "Name",
    kind: "string",
    format: "name",
    priority: 0,
    description: "Name must be unique within a namespace.",
};
const AGE: Column = col("Age", "string", 0, "Time since the object was created.");

const POD: &[Column] = &[
    NAME,
    col("Ready", "string", 0, "The aggregate readiness state of this pod for accepting traffic."),
    col("Status", "string", 0, "The aggregate status of the containers in this pod."),
    col("Restarts", "string", 0, "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted."),
    AGE,
    col("IP", "string", 1, "IP address allocated to the pod."),
    col("Node", "string", 1, "Name of the Node this pod is assigned to."),
    col("Nominated Node", "string", 1, "Name of the node that the scheduler nominated for this pod."),
    col("Readiness Gates", "string", 1, "Readiness gates of the pod."),
];
const DEPLOYMENT: &[Column] = &[
    NAME,
    col("Ready", "string", 0, "Number of the pod with ready state."),
    col("Up-to-date", "integer", 0, "Total number of non-terminated pods targeted by this deployment that have the desired template spec."),
    col("Available", "integer", 0, "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment."),
    AGE,
    col("Containers", "string", 1, "Names of each container in the template."),
    col("Images", "string", 1, "Images referenced by each container in the template."),
    col("Selector", "string", 1, "Label selector for pods."),
];
const REPLICASET: &[Column] = &[
    NAME,
    col("Desired", "integer", 0, "Number of desired pods."),
    col("Current", "integer", 0, "Number of actually running pods."),
    col("Ready", "integer", 0, "Number of ready pods."),
    AGE,
    col(
        "Containers",
        "string",
        1,
        "Names of each container in the template.",
    ),
    col(
        "Images",
        "string",
        1,
        "Images referenced by each container in the template.",
    ),
    col("Selector", "string", 1, "Label selector for pods."),
];
const STATEFULSET: &[Column] = &[
    NAME,
    col("Ready", "string", 0, "Number of the pod with ready state."),
    AGE,
    col(
        "Containers",
        "string",
        1,
        "Names of each container in the template.",
    ),
    col(
        "Images",
        "string",
        1,
        "Images referenced by each container in the template.",
    ),
];
const DAEMONSET: &[Column] = &[
    NAME,
    col("Desired", "integer", 0, "The total number of nodes that should be running the daemon pod."),
    col("Current", "integer", 0, "The number of nodes that are running at least 1 daemon pod."),
    col("Ready", "integer", 0, "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and ready."),
    col("Up-to-date", "integer", 0, "The total number of nodes that are running updated daemon pod."),
    col("Available", "integer", 0, "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and available."),
    col("Node Selector", "string", 0, "NodeSelector is a selector which must be true for the pod to fit on a node."),
    AGE,
    col("Containers", "string", 1, "Names of each container in the template."),
    col("Images", "string", 1, "Images referenced by each container in the template."),
    col("Selector", "string", 1, "Label selector for pods."),
];
const JOB: &[Column] = &[
    NAME,
    col("Status", "string", 0, "Status of the job."),
    col(
        "Completions",
        "string",
        0,
        "The desired number of successfully finished pods the job should be run with.",
    ),
    col(
        "Duration",
        "string",
        0,
        "Time required to complete the job.",
    ),
    AGE,
    col(
        "Containers",
        "string",
        1,
        "Names of each container in the template.",
    ),
    col(
        "Images",
        "string",
        1,
        "Images referenced by each container in the template.",
    ),
    col("Selector", "string", 1, "Label selector for pods."),
];
const CRONJOB: &[Column] = &[
    NAME,
    col("Schedule", "string", 0, "The schedule in Cron format."),
    col("Timezone", "string", 0, "The time zone of the schedule."),
    col(
        "Suspend",
        "boolean",
        0,
        "Whether subsequent executions are suspended.",
    ),
    col(
        "Active",
        "integer",
        0,
        "The number of currently running jobs.",
    ),
    col(
        "Last Schedule",
        "string",
        0,
        "When the job was last successfully scheduled.",
    ),
    AGE,
    col(
        "Containers",
        "string",
        1,
        "Names of each container in the template.",
    ),
    col(
        "Images",
        "string",
        1,
        "Images referenced by each container in the template.",
    ),
    col("Selector", "string", 1, "Label selector for pods."),
];
const SERVICE: &[Column] = &[
    NAME,
    col("Type", "string", 0, "How the service is exposed."),
    col(
        "Cluster-IP",
        "string",
        0,
        "The IP address of the service inside the cluster.",
    ),
    col("External-IP", "string", 0, "External IPs of the service."),
    col("Port(s)", "string", 0, "The ports exposed by the service."),
    AGE,
    col(
        "Selector",
        "string",
        1,
        "Route traffic to pods with label keys and values matching this selector.",
    ),
];
const ENDPOINTS: &[Column] = &[
    NAME,
    col("Endpoints", "string", 0, "Endpoints of the service."),
    AGE,
];
const ENDPOINTSLICE: &[Column] = &[
    NAME,
    col(
        "AddressType",
        "string",
        0,
        "The type of address in the slice.",
    ),
    col("Ports", "string", 0, "The ports of the slice."),
    col("Endpoints", "string", 0, "The addresses of the slice."),
    AGE,
];
const NODE: &[Column] = &[
    NAME,
    col("Status", "string", 0, "The status of the node."),
    col("Roles", "string", 0, "The roles of the node."),
    AGE,
    col(
        "Version",
        "string",
        0,
        "Kubelet version reported by the node.",
    ),
    col("Internal-IP", "string", 1, "The node's internal IP."),
    col("External-IP", "string", 1, "The node's external IP."),
    col("OS-Image", "string", 1, "OS image reported by the node."),
    col(
        "Kernel-Version",
        "string",
        1,
        "Kernel version reported by the node.",
    ),
    col(
        "Container-Runtime",
        "string",
        1,
        "Container runtime and version reported by the node.",
    ),
];
const NAMESPACE: &[Column] = &[
    NAME,
    col("Status", "string", 0, "The status of the namespace."),
    AGE,
];
const CONFIGMAP: &[Column] = &[
    NAME,
    col("Data", "integer", 0, "Number of keys in the data."),
    AGE,
];
const SECRET: &[Column] = &[
    NAME,
    col("Type", "string", 0, "The type of the secret."),
    col("Data", "integer", 0, "Number of keys in the data."),
    AGE,
];
const EVENT: &[Column] = &[
    col(
        "Last Seen",
        "string",
        0,
        "Time since the event was last seen.",
    ),
    col(
        "Type",
        "string",
        0,
        "Type of the event (Normal or Warning).",
    ),
    col("Reason", "string", 0, "Why the event happened."),
    col("Object", "string", 0, "The object the event is about."),
    col("Message", "string", 0, "What happened."),
    col(
        "Subobject",
        "string",
        1,
        "The part of the object the event is about.",
    ),
    col(
        "Source",
        "string",
        1,
        "The component that reported the event.",
    ),
    col(
        "First Seen",
        "string",
        1,
        "Time since the event was first seen.",
    ),
    col("Count", "string", 1, "How often the event happened."),
    Column {
        name: "Name",
        kind: "string",
        format: "name",
        priority: 1,
        description: "Name of the event.",
    },
];
const SERVICEACCOUNT: &[Column] = &[
    NAME,
    col(
        "Secrets",
        "string",
        0,
        "Number of secrets of the service account.",
    ),
    AGE,
];
const LEASE: &[Column] = &[
    NAME,
    col("Holder", "string", 0, "The holder of the lease."),
    AGE,
];
const PRIORITYCLASS: &[Column] = &[
    NAME,
    col("Value", "integer", 0, "The priority value."),
    col(
        "Global-Default",
        "boolean",
        0,
        "Whether this is the default class of pods without one.",
    ),
    AGE,
    col(
        "Preemption-Policy",
        "string",
        0,
        "Whether pods of this class may preempt others.",
    ),
];
const DEFAULT: &[Column] = &[NAME, AGE];

/// The columns of a kind.
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

fn s<'a>(obj: &'a Value, pointer: &str) -> &'a str {
    obj.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

fn n(obj: &Value, pointer: &str) -> i64 {
    obj.pointer(pointer).and_then(Value::as_i64).unwrap_or(0)
}

fn or_none(v: String) -> String {
    if v.is_empty() {
        "<none>".into()
    } else {
        v
    }
}

/// Seconds since an RFC 3339 timestamp (0 when absent or unparsable).
fn seconds_since(ts: &str) -> Option<i64> {
    let t = chrono::DateTime::parse_from_rfc3339(ts).ok()?;
    Some(
        (chrono::Utc::now() - t.with_timezone(&chrono::Utc))
            .num_seconds()
            .max(0),
    )
}

/// Upstream's `HumanDuration`: `45s`, `3m20s`, `12m`, `5h3m`, `2d4h`, `300d`...
pub fn human_duration(secs: i64) -> String {
    let (m, h, d) = (secs / 60, secs / 3600, secs / 86400);
    if secs < 120 {
        format!("{secs}s")
    } else if m < 10 {
        let rest = secs % 60;
        if rest == 0 {
            format!("{m}m")
        } else {
            format!("{m}m{rest}s")
        }
    } else if h < 3 {
        format!("{m}m")
    } else if h < 8 {
        let rest = m % 60;
        if rest == 0 {
            format!("{h}h")
        } else {
            format!("{h}h{rest}m")
        }
    } else if h < 48 {
        format!("{h}h")
    } else if h < 24 * 8 {
        let rest = h % 24;
        if rest == 0 {
            format!("{d}d")
        } else {
            format!("{d}d{rest}h")
        }
    } else if h < 24 * 365 * 2 {
        format!("{d}d")
    } else if h < 24 * 365 * 8 {
        let y = d / 365;
        let rest = d % 365;
        if rest == 0 {
            format!("{y}y")
        } else {
            format!("{y}y{rest}d")
        }
    } else {
        format!("{}y", d / 365)
    }
}

fn age(obj: &Value) -> String {
    match seconds_since(s(obj, "/metadata/creationTimestamp")) {
        Some(secs) => human_duration(secs),
        None => "<unknown>".into(),
    }
}

fn template_columns(obj: &Value, template: &str) -> (String, String) {
    let containers = obj
        .pointer(&format!("{template}/spec/containers"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let names: Vec<&str> = containers.iter().map(|c| s(c, "/name")).collect();
    let images: Vec<&str> = containers.iter().map(|c| s(c, "/image")).collect();
    (names.join(","), images.join(","))
}

fn selector(obj: &Value) -> String {
    obj.pointer("/spec/selector")
        .and_then(|sel| apimachinery::labels::Selector::from_label_selector_json(sel).ok())
        .map(|s| s.to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "<none>".into())
}

fn map_selector(obj: &Value, pointer: &str) -> String {
    let pairs: Vec<String> = obj
        .pointer(pointer)
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect()
        })
        .unwrap_or_default();
    or_none(pairs.join(","))
}

fn len_of(obj: &Value, pointer: &str) -> usize {
    match obj.pointer(pointer) {
        Some(Value::Object(m)) => m.len(),
        Some(Value::Array(a)) => a.len(),
        _ => 0,
    }
}

/// The cells of one object.
pub fn cells(resource: &ResourceInfo, obj: &Value) -> Vec<Value> {
    let name = json!(s(obj, "/metadata/name"));
    match resource.plural {
        "pods" => pod_cells(obj),
        "deployments" => {
            let (c, i) = template_columns(obj, "/spec/template");
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
                json!(selector(obj)),
            ]
        }
        "replicasets" => {
            let (c, i) = template_columns(obj, "/spec/template");
            vec![
                name,
                json!(n(obj, "/spec/replicas")),
                json!(n(obj, "/status/replicas")),
                json!(n(obj, "/status/readyReplicas")),
                json!(age(obj)),
                json!(c),
                json!(i),
                json!(selector(obj)),
            ]
        }
        "statefulsets" => {
            let (c, i) = template_columns(obj, "/spec/template");
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
            let (c, i) = template_columns(obj, "/spec/template");
            vec![
                name,
                json!(n(obj, "/status/desiredNumberScheduled")),
                json!(n(obj, "/status/currentNumberScheduled")),
                json!(n(obj, "/status/numberReady")),
                json!(n(obj, "/status/updatedNumberScheduled")),
                json!(n(obj, "/status/numberAvailable")),
                json!(map_selector(obj, "/spec/template/spec/nodeSelector")),
                json!(age(obj)),
                json!(c),
                json!(i),
                json!(selector(obj)),
            ]
        }
        "jobs" => {
            let (c, i) = template_columns(obj, "/spec/template");
            let completions = match obj.pointer("/spec/completions").and_then(Value::as_i64) {
                Some(want) => format!("{}/{want}", n(obj, "/status/succeeded")),
                None => format!(
                    "{}/1 of {}",
                    n(obj, "/status/succeeded"),
                    n(obj, "/spec/parallelism")
                ),
            };
            let conditions = obj.pointer("/status/conditions").and_then(Value::as_array);
            let has = |t: &str| {
                conditions.is_some_and(|cs| {
                    cs.iter()
                        .any(|c| s(c, "/type") == t && s(c, "/status") == "True")
                })
            };
            let status = if has("Complete") {
                "Complete"
            } else if has("Failed") {
                "Failed"
            } else if obj.pointer("/metadata/deletionTimestamp").is_some() {
                "Terminating"
            } else if has("Suspended") {
                "Suspended"
            } else {
                "Running"
            };
            let duration = match (
                seconds_since(s(obj, "/status/startTime")),
                seconds_since(s(obj, "/status/completionTime")),
            ) {
                (Some(start), Some(end)) => human_duration(start - end),
                (Some(start), None) => human_duration(start),
                _ => String::new(),
            };
            vec![
                name,
                json!(status),
                json!(completions),
                json!(duration),
                json!(age(obj)),
                json!(c),
                json!(i),
                json!(selector(obj)),
            ]
        }
        "cronjobs" => {
            let (c, i) = template_columns(obj, "/spec/jobTemplate/spec/template");
            let last = match seconds_since(s(obj, "/status/lastScheduleTime")) {
                Some(secs) => human_duration(secs),
                None => "<none>".into(),
            };
            vec![
                name,
                json!(s(obj, "/spec/schedule")),
                json!(or_none(s(obj, "/spec/timeZone").to_string())),
                json!(obj
                    .pointer("/spec/suspend")
                    .and_then(Value::as_bool)
                    .unwrap_or(false)),
                json!(len_of(obj, "/status/active")),
                json!(last),
                json!(age(obj)),
                json!(c),
                json!(i),
                json!(selector(obj)),
            ]
        }
        "services" => {
            let ports: Vec<String> = obj
                .pointer("/spec/ports")
                .and_then(Value::as_array)
                .map(|ps| {
                    ps.iter()
                        .map(|p| {
                            let node_port = p.get("nodePort").and_then(Value::as_i64);
                            match node_port {
                                Some(np) => format!("{}:{np}/{}", n(p, "/port"), s(p, "/protocol")),
                                None => format!("{}/{}", n(p, "/port"), s(p, "/protocol")),
                            }
                        })
                        .collect()
                })
                .unwrap_or_default();
            let external: Vec<String> = obj
                .pointer("/status/loadBalancer/ingress")
                .and_then(Value::as_array)
                .map(|i| i.iter().map(|x| s(x, "/ip").to_string()).collect())
                .unwrap_or_default();
            let ty = s(obj, "/spec/type");
            let external = if !external.is_empty() {
                external.join(",")
            } else if ty == "LoadBalancer" {
                "<pending>".into()
            } else if ty == "ExternalName" {
                s(obj, "/spec/externalName").to_string()
            } else {
                "<none>".into()
            };
            vec![
                name,
                json!(ty),
                json!(or_none(s(obj, "/spec/clusterIP").to_string())),
                json!(external),
                json!(or_none(ports.join(","))),
                json!(age(obj)),
                json!(map_selector(obj, "/spec/selector")),
            ]
        }
        "endpoints" => {
            let mut eps = Vec::new();
            for subset in obj
                .pointer("/subsets")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let ports: Vec<i64> = subset
                    .get("ports")
                    .and_then(Value::as_array)
                    .map(|p| p.iter().map(|p| n(p, "/port")).collect())
                    .unwrap_or_default();
                for a in subset
                    .get("addresses")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    if ports.is_empty() {
                        eps.push(s(a, "/ip").to_string());
                    }
                    for p in &ports {
                        eps.push(format!("{}:{p}", s(a, "/ip")));
                    }
                }
            }
            let shown = if eps.len() > 3 {
                format!("{} + {} more...", eps[..3].join(","), eps.len() - 3)
            } else {
                or_none(eps.join(","))
            };
            vec![name, json!(shown), json!(age(obj))]
        }
        "endpointslices" => {
            let ports: Vec<String> = obj
                .pointer("/ports")
                .and_then(Value::as_array)
                .map(|p| p.iter().map(|p| n(p, "/port").to_string()).collect())
                .unwrap_or_default();
            let addrs: Vec<String> = obj
                .pointer("/endpoints")
                .and_then(Value::as_array)
                .map(|e| {
                    e.iter()
                        .flat_map(|e| {
                            e.get("addresses")
                                .and_then(Value::as_array)
                                .cloned()
                                .unwrap_or_default()
                        })
                        .filter_map(|a| a.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            vec![
                name,
                json!(s(obj, "/addressType")),
                json!(if ports.is_empty() {
                    "<unset>".to_string()
                } else {
                    ports.join(",")
                }),
                json!(or_none(addrs.join(","))),
                json!(age(obj)),
            ]
        }
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
        "events" => {
            let last = if !s(obj, "/lastTimestamp").is_empty() {
                s(obj, "/lastTimestamp")
            } else if !s(obj, "/eventTime").is_empty() {
                s(obj, "/eventTime")
            } else {
                s(obj, "/metadata/creationTimestamp")
            };
            let first = if s(obj, "/firstTimestamp").is_empty() {
                last
            } else {
                s(obj, "/firstTimestamp")
            };
            let since = |t: &str| {
                seconds_since(t)
                    .map(human_duration)
                    .unwrap_or_else(|| "<unknown>".into())
            };
            let object = format!(
                "{}/{}",
                s(obj, "/involvedObject/kind").to_lowercase(),
                s(obj, "/involvedObject/name")
            );
            let source = if s(obj, "/source/component").is_empty() {
                s(obj, "/reportingComponent")
            } else {
                s(obj, "/source/component")
            };
            vec![
                json!(since(last)),
                json!(s(obj, "/type")),
                json!(s(obj, "/reason")),
                json!(object),
                json!(s(obj, "/message").trim()),
                json!(s(obj, "/involvedObject/fieldPath")),
                json!(source),
                json!(since(first)),
                json!(n(obj, "/count").max(1).to_string()),
                name,
            ]
        }
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

/// Upstream's pod STATUS logic: the most telling reason across init
/// containers, containers, and deletion.
pub fn pod_status(pod: &Value) -> String {
    let mut reason = if s(pod, "/status/reason").is_empty() {
        s(pod, "/status/phase").to_string()
    } else {
        s(pod, "/status/reason").to_string()
    };
    let init_specs = len_of(pod, "/spec/initContainers");
    let mut initializing = false;
    if let Some(statuses) = pod
        .pointer("/status/initContainerStatuses")
        .and_then(Value::as_array)
    {
        for (i, c) in statuses.iter().enumerate() {
            let term = c.pointer("/state/terminated");
            if let Some(t) = term {
                if n(t, "/exitCode") == 0 {
                    continue;
                }
                reason = if !s(t, "/reason").is_empty() {
                    format!("Init:{}", s(t, "/reason"))
                } else if n(t, "/signal") != 0 {
                    format!("Init:Signal:{}", n(t, "/signal"))
                } else {
                    format!("Init:ExitCode:{}", n(t, "/exitCode"))
                };
            } else if let Some(w) = c
                .pointer("/state/waiting")
                .filter(|w| !s(w, "/reason").is_empty() && s(w, "/reason") != "PodInitializing")
            {
                reason = format!("Init:{}", s(w, "/reason"));
            } else {
                reason = format!("Init:{i}/{init_specs}");
            }
            initializing = true;
            break;
        }
    }
    if !initializing {
        let mut has_running = false;
        if let Some(statuses) = pod
            .pointer("/status/containerStatuses")
            .and_then(Value::as_array)
        {
            for c in statuses.iter().rev() {
                if let Some(w) = c
                    .pointer("/state/waiting")
                    .filter(|w| !s(w, "/reason").is_empty())
                {
                    reason = s(w, "/reason").to_string();
                } else if let Some(t) = c.pointer("/state/terminated") {
                    reason = if !s(t, "/reason").is_empty() {
                        s(t, "/reason").to_string()
                    } else if n(t, "/signal") != 0 {
                        format!("Signal:{}", n(t, "/signal"))
                    } else {
                        format!("ExitCode:{}", n(t, "/exitCode"))
                    };
                } else if c.pointer("/state/running").is_some()
                    && c.get("ready").and_then(Value::as_bool) == Some(true)
                {
                    has_running = true;
                }
            }
        }
        if reason == "Completed" && has_running {
            let ready = pod
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .is_some_and(|cs| {
                    cs.iter()
                        .any(|c| s(c, "/type") == "Ready" && s(c, "/status") == "True")
                });
            reason = if ready { "Running" } else { "NotReady" }.into();
        }
    }
    if pod.pointer("/metadata/deletionTimestamp").is_some() {
        reason = if s(pod, "/status/reason") == "NodeLost" {
            "Unknown".into()
        } else {
            "Terminating".into()
        };
    }
    reason
}

fn pod_cells(pod: &Value) -> Vec<Value> {
    let total = len_of(pod, "/spec/containers");
    let statuses = pod
        .pointer("/status/containerStatuses")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let ready = statuses
        .iter()
        .filter(|c| c.get("ready").and_then(Value::as_bool) == Some(true))
        .count();
    let restarts: i64 = statuses.iter().map(|c| n(c, "/restartCount")).sum();
    let last_restart = statuses
        .iter()
        .filter_map(|c| seconds_since(s(c, "/lastState/terminated/finishedAt")))
        .min();
    let restarts = match last_restart {
        Some(secs) if restarts > 0 => format!("{restarts} ({} ago)", human_duration(secs)),
        _ => restarts.to_string(),
    };
    let gates = len_of(pod, "/spec/readinessGates");
    vec![
        json!(s(pod, "/metadata/name")),
        json!(format!("{ready}/{total}")),
        json!(pod_status(pod)),
        json!(restarts),
        json!(age(pod)),
        json!(or_none(s(pod, "/status/podIP").to_string())),
        json!(or_none(s(pod, "/spec/nodeName").to_string())),
        json!(or_none(s(pod, "/status/nominatedNodeName").to_string())),
        json!(if gates == 0 {
            "<none>".to_string()
        } else {
            format!("0/{gates}")
        }),
    ]
}

fn node_cells(node: &Value) -> Vec<Value> {
    let ready = node
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|cs| cs.iter().find(|c| s(c, "/type") == "Ready"))
        .map(|c| match s(c, "/status") {
            "True" => "Ready",
            "False" => "NotReady",
            _ => "Unknown",
        })
        .unwrap_or("Unknown");
    let mut status = ready.to_string();
    if node.pointer("/spec/unschedulable").and_then(Value::as_bool) == Some(true) {
        status.push_str(",SchedulingDisabled");
    }
    let mut roles: Vec<String> = node
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .map(|l| {
            l.keys()
                .filter_map(|k| {
                    k.strip_prefix("node-role.kubernetes.io/")
                        .map(str::to_string)
                })
                .collect()
        })
        .unwrap_or_default();
    roles.sort();
    let address = |t: &str| -> String {
        node.pointer("/status/addresses")
            .and_then(Value::as_array)
            .and_then(|a| a.iter().find(|x| s(x, "/type") == t))
            .map(|x| s(x, "/address").to_string())
            .unwrap_or_else(|| "<none>".into())
    };
    vec![
        json!(s(node, "/metadata/name")),
        json!(status),
        json!(or_none(roles.join(","))),
        json!(age(node)),
        json!(s(node, "/status/nodeInfo/kubeletVersion")),
        json!(address("InternalIP")),
        json!(address("ExternalIP")),
        json!(s(node, "/status/nodeInfo/osImage")),
        json!(s(node, "/status/nodeInfo/kernelVersion")),
        json!(s(node, "/status/nodeInfo/containerRuntimeVersion")),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_like_upstream() {
        assert_eq!(human_duration(45), "45s");
        assert_eq!(human_duration(200), "3m20s");
        assert_eq!(human_duration(1500), "25m");
        assert_eq!(human_duration(5 * 3600 + 120), "5h2m");
        assert_eq!(human_duration(30 * 3600), "30h");
        assert_eq!(human_duration(3 * 86400 + 7200), "3d2h");
        assert_eq!(human_duration(100 * 86400), "100d");
    }

    #[test]
    fn pod_statuses() {
        let running = json!({"spec": {"containers": [{"name": "a"}]},
            "status": {"phase": "Running", "containerStatuses": [{"ready": true, "restartCount": 0, "state": {"running": {}}}]}});
        assert_eq!(pod_status(&running), "Running");
        let crash = json!({"spec": {"containers": [{"name": "a"}]},
            "status": {"phase": "Running", "containerStatuses": [{"ready": false, "restartCount": 3, "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}});
        assert_eq!(pod_status(&crash), "CrashLoopBackOff");
        let init = json!({"spec": {"initContainers": [{"name": "i"}, {"name": "j"}], "containers": [{"name": "a"}]},
            "status": {"phase": "Pending", "initContainerStatuses": [{"state": {"terminated": {"exitCode": 0}}}, {"state": {"running": {}}}]}});
        assert_eq!(pod_status(&init), "Init:1/2");
        let deleting = json!({"metadata": {"deletionTimestamp": "2020-01-01T00:00:00Z"}, "status": {"phase": "Running"}});
        assert_eq!(pod_status(&deleting), "Terminating");
        let cells = pod_cells(&crash);
        assert_eq!(cells[1], "0/1");
        assert_eq!(cells[3], "3");
    }

    #[test]
    fn every_kind_has_as_many_cells_as_columns() {
        for r in apimachinery::resources::RESOURCES {
            for obj in [
                json!({}),
                json!({"metadata": {"name": "x"}, "spec": 3, "status": []}),
            ] {
                assert_eq!(cells(r, &obj).len(), columns(r).len(), "{}", r.plural);
            }
        }
    }
}
