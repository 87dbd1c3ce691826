//! Node-pressure eviction on a real lab node. The kubelet is restarted with
//! a `memory.available` hard threshold above what the machine has free
//! (read from the same source the kubelet reads), so the node is under
//! memory pressure at once without anything really running out. Then, as
//! upstream's kubelet does:
//! - the BestEffort pod is evicted first (phase Failed, reason Evicted, the
//!   upstream message, `DisruptionTarget`/`TerminationByKubelet`, an
//!   `Evicted` event), one pod per monitoring period, while the Burstable
//!   pod within its requests still runs;
//! - the node reports MemoryPressure=True, gets an `EvictionThresholdMet`
//!   event, and the controller-manager taints it
//!   `node.kubernetes.io/memory-pressure:NoSchedule`;
//! - a new BestEffort pod bound to the node is refused by kubelet
//!   admission ("The node had condition: [MemoryPressure]. ");
//! - the pressure persisting, the Burstable pod goes next;
//! - the BestEffort pod's ReplicaSet makes a replacement, which the taint
//!   keeps Pending until the kubelet runs without the threshold again: the
//!   condition turns False, the taint goes and the replacement runs.

use std::time::Duration;

use serde_json::Value;
use tests::lab::{wait_until, Lab};

const PODS: &str = r#"
apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: besteffort}
spec:
  replicas: 1
  selector:
    matchLabels: {app: besteffort}
  template:
    metadata:
      labels: {app: besteffort}
    spec:
      terminationGracePeriodSeconds: 30
      containers:
      - {name: sleeper, image: "busybox:1.36", command: ["sleep", "3600"]}
---
apiVersion: v1
kind: Pod
metadata: {name: burstable}
spec:
  terminationGracePeriodSeconds: 30
  containers:
  - name: sleeper
    image: busybox:1.36
    command: ["sleep", "3600"]
    resources:
      requests: {cpu: 10m, memory: 64Mi}
"#;

const LATE: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: late}
spec:
  nodeName: node-1
  containers:
  - {name: sleeper, image: "busybox:1.36", command: ["sleep", "3600"]}
"#;

/// How far above the free memory the threshold is: enough that memory
/// freed by other work on the machine during the test does not end the
/// pressure.
const MARGIN: u64 = 4 << 30;

/// The pod called `name`, or the first one whose name starts with
/// `name-` (the ReplicaSet's).
fn pod<'a>(list: &'a Value, name: &str) -> &'a Value {
    let prefix = format!("{name}-");
    list["items"]
        .as_array()
        .and_then(|i| {
            i.iter().find(|p| {
                let n = p["metadata"]["name"].as_str().unwrap_or_default();
                n == name || n.starts_with(&prefix)
            })
        })
        .unwrap_or(&Value::Null)
}

fn memory_pressure_taint(lab: &Lab) -> bool {
    let node = lab.get_json(&["node", "node-1"]);
    node["spec"]["taints"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|t| t["key"] == "node.kubernetes.io/memory-pressure" && t["effect"] == "NoSchedule")
}

fn failed(p: &Value) -> bool {
    p["status"]["phase"] == "Failed"
}

fn node_condition(lab: &Lab, type_: &str) -> Value {
    let node = lab.get_json(&["node", "node-1"]);
    node["status"]["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == type_))
        .cloned()
        .unwrap_or(Value::Null)
}

fn events(lab: &Lab, reason: &str, object: &str) -> Vec<Value> {
    let all = lab.get_json(&["events", "-A"]);
    all["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["reason"] == reason && e["involvedObject"]["name"] == object)
        .cloned()
        .collect()
}

#[test]
fn memory_pressure_evicts_best_effort_first_and_refuses_new_best_effort_pods() {
    let Some(lab) = Lab::up("e2e-evict", 1) else {
        return;
    };
    lab.apply(PODS);
    let (code, out, err) = lab.kubectl(&[
        "wait",
        "--for=condition=Ready",
        "pod",
        "--all",
        "--timeout=90s",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let be_name = pod(&lab.get_json(&["pods"]), "besteffort")["metadata"]["name"]
        .as_str()
        .expect("the ReplicaSet's pod")
        .to_string();
    assert!(node_condition(&lab, "MemoryPressure")["status"] == "False");

    // Restart the kubelet (its pods keep running) with a threshold the node
    // is below right away.
    let free = kubelet::eviction::signals::memory();
    let threshold = free.available + MARGIN;
    lab.kill_kubelet(1);
    let config = lab.kubelet_config(1);
    let lab_config = std::fs::read_to_string(&config).expect("the lab's kubelet config");
    // Our evictionHard replaces the lab's.
    let mut doc: serde_json::Value =
        serde_yaml_ng::from_str(&lab_config).expect("the kubelet config is YAML");
    doc["evictionHard"] = serde_json::json!({"memory.available": threshold.to_string()});
    doc["evictionPressureTransitionPeriod"] = "5s".into();
    doc["evictionMonitoringPeriod"] = "4s".into();
    let text = serde_yaml_ng::to_string(&doc).expect("YAML");
    std::fs::write(&config, text).expect("writing the kubelet config");
    lab.start_kubelet(1);

    // The BestEffort pod goes first; the Burstable one still runs then.
    let first = wait_until(Duration::from_secs(90), || {
        let list = lab.get_json(&["pods"]);
        (failed(pod(&list, &be_name)) || failed(pod(&list, "burstable"))).then_some(list)
    })
    .expect("a pod is evicted under memory pressure");
    let be = pod(&first, &be_name);
    assert!(failed(be), "the BestEffort pod goes first: {first}");
    assert!(
        !failed(pod(&first, "burstable")),
        "one pod per cycle, the Burstable one after: {first}"
    );
    assert_eq!(be["status"]["reason"], "Evicted", "{be}");
    let msg = be["status"]["message"].as_str().unwrap_or_default();
    assert!(
        msg.starts_with("The node was low on resource: memory. Threshold quantity: ")
            && msg.contains(", available: ")
            && msg.contains("Container sleeper was using ")
            && msg.ends_with(", request is 0, has larger consumption of memory. "),
        "{msg}"
    );
    let disruption = be["status"]["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == "DisruptionTarget"))
        .cloned()
        .unwrap_or(Value::Null);
    assert_eq!(disruption["status"], "True", "{be}");
    assert_eq!(disruption["reason"], "TerminationByKubelet", "{be}");

    // The node condition, its taint, and the events.
    let pressure = wait_until(Duration::from_secs(30), || {
        let c = node_condition(&lab, "MemoryPressure");
        (c["status"] == "True").then_some(c)
    });
    assert!(pressure.is_some(), "MemoryPressure=True on the node");
    let tainted = wait_until(Duration::from_secs(30), || {
        memory_pressure_taint(&lab).then_some(())
    });
    assert!(tainted.is_some(), "the memory-pressure taint is added");
    let evicted = wait_until(Duration::from_secs(20), || {
        let e = events(&lab, "Evicted", &be_name);
        (!e.is_empty()).then_some(e)
    })
    .expect("an Evicted event on the pod");
    assert_eq!(evicted[0]["type"], "Warning");
    assert!(
        !events(&lab, "EvictionThresholdMet", "node-1").is_empty(),
        "an EvictionThresholdMet event on the node"
    );

    // A new BestEffort pod is refused by kubelet admission.
    lab.apply(LATE);
    let late = wait_until(Duration::from_secs(60), || {
        let p = lab.get_json(&["pod", "late"]);
        failed(&p).then_some(p)
    })
    .expect("the new BestEffort pod is refused");
    assert_eq!(late["status"]["reason"], "Evicted", "{late}");
    assert_eq!(
        late["status"]["message"], "The node had condition: [MemoryPressure]. ",
        "{late}"
    );

    // Still under pressure: the Burstable pod, within its requests, next.
    let burst = wait_until(Duration::from_secs(60), || {
        let p = lab.get_json(&["pod", "burstable"]);
        failed(&p).then_some(p)
    })
    .expect("the Burstable pod is evicted next");
    assert_eq!(burst["status"]["reason"], "Evicted", "{burst}");
    let msg = burst["status"]["message"].as_str().unwrap_or_default();
    assert!(
        msg.starts_with("The node was low on resource: memory. ") && !msg.contains("Container"),
        "within its requests, no container is named: {msg}"
    );

    // The ReplicaSet counts its Failed pod as gone and makes another, which
    // the taint keeps off the node.
    let replacement = |list: &Value| -> Option<Value> {
        list["items"]
            .as_array()?
            .iter()
            .find(|p| {
                let n = p["metadata"]["name"].as_str().unwrap_or_default();
                n.starts_with("besteffort-") && n != be_name && !failed(p)
            })
            .cloned()
    };
    let pending = wait_until(Duration::from_secs(30), || {
        replacement(&lab.get_json(&["pods"]))
    })
    .expect("the ReplicaSet replaces its evicted pod");
    assert!(
        pending["spec"]["nodeName"].is_null(),
        "not scheduled onto the tainted node: {pending}"
    );

    // Relief: the kubelet without the threshold. The condition and the
    // taint go, and the replacement runs.
    lab.kill_kubelet(1);
    std::fs::write(&config, &lab_config).expect("restoring the kubelet config");
    lab.start_kubelet(1);
    let relieved = wait_until(Duration::from_secs(60), || {
        (node_condition(&lab, "MemoryPressure")["status"] == "False"
            && !memory_pressure_taint(&lab))
        .then_some(())
    });
    assert!(
        relieved.is_some(),
        "MemoryPressure=False and no taint once relieved"
    );
    let running = wait_until(Duration::from_secs(60), || {
        let list = lab.get_json(&["pods"]);
        replacement(&list).filter(|p| p["status"]["phase"] == "Running")
    });
    assert!(
        running.is_some(),
        "the replacement runs once the taint is gone"
    );
}
