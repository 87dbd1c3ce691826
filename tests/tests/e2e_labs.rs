//! The hands-on labs of `docs/labs/`, run as written: one lab cluster
//! (`hack/local-up-cluster.sh`, two nodes) and the exercises in the order
//! the docs give them, each checking what its page says the learner sees.
//! A page that drifts from the cluster's behaviour fails here.
//!
//! 1. etcd: a watch on `/registry/pods/default/` while a Deployment rolls
//!    out shows each pod written first without a node, then bound, then
//!    Running (01-etcd-watch.md).
//! 2. `kubectl trace` tells the same pod's life (02-trace.md).
//! 3. The container is a process on the host, in its own namespaces and in
//!    the pod's cgroup (03-container-process.md).
//! 4. A failing readiness probe takes the pod out of the Service's
//!    Endpoints, a passing one puts it back (04-readiness-endpoints.md).
//! 5. Without the scheduler a new pod stays Pending with no node; with it
//!    back the pod is bound (05-scheduler.md).
//! 6. A node whose kubelet dies goes Unknown and gets the unreachable
//!    taint; with the kubelet back it is Ready again (06-node-lifecycle.md).

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use tests::lab::{wait_until, Lab};

/// `docs/labs/hello.yaml`, the manifest every exercise uses.
const HELLO: &str = include_str!("../../docs/labs/hello.yaml");

fn hello_pods(lab: &Lab) -> Vec<Value> {
    lab.get_json(&["pods", "-l", "app=hello"])["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn text(v: &Value, path: &[&str]) -> String {
    let mut cur = v;
    for p in path {
        cur = &cur[*p];
    }
    cur.as_str().unwrap_or_default().to_string()
}

/// The Ready addresses and the not-ready ones of the Service's Endpoints.
fn endpoints(lab: &Lab) -> (Vec<String>, Vec<String>) {
    let ep = lab.get_json(&["endpoints", "hello"]);
    let ips = |key: &str| -> Vec<String> {
        ep["subsets"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|s| s[key].as_array().cloned().unwrap_or_default())
            .map(|a| text(&a, &["ip"]))
            .collect()
    };
    (ips("addresses"), ips("notReadyAddresses"))
}

/// `etcdctl watch` output (`PUT`, the key, the value, per event): the
/// key and value of each PUT.
fn puts(watch: &str) -> Vec<(String, Value)> {
    let lines: Vec<&str> = watch.lines().collect();
    lines
        .windows(3)
        .filter(|w| w[0] == "PUT")
        .map(|w| {
            (
                w[1].to_string(),
                serde_json::from_str(w[2]).unwrap_or(Value::Null),
            )
        })
        .collect()
}

fn node_ready(lab: &Lab, node: &str) -> (String, String) {
    let n = lab.get_json(&["node", node]);
    let ready = n["status"]["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == "Ready").cloned())
        .unwrap_or(Value::Null);
    (text(&ready, &["status"]), text(&ready, &["reason"]))
}

fn taints(lab: &Lab, node: &str) -> Vec<String> {
    lab.get_json(&["node", node])["spec"]["taints"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| format!("{}:{}", text(t, &["key"]), text(t, &["effect"])))
        .collect()
}

#[test]
fn the_labs_run_as_written() {
    let Some(lab) = Lab::up("labs", 2) else {
        return;
    };

    // 1. Watch etcd while the Deployment rolls out.
    let mut watch = lab
        .etcdctl()
        .args(["watch", "--prefix", "/registry/pods/default/"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("etcdctl runs");
    // The watch is in place before the first write.
    std::thread::sleep(Duration::from_millis(500));
    lab.apply(HELLO);
    let (code, out, err) =
        lab.kubectl(&["rollout", "status", "deployment/hello", "--timeout=120s"]);
    assert_eq!(code, 0, "{out}{err}");
    std::thread::sleep(Duration::from_millis(500));
    let _ = watch.kill();
    let mut written = String::new();
    if let Some(mut o) = watch.stdout.take() {
        let _ = o.read_to_string(&mut written);
    }
    let _ = watch.wait();
    let events = puts(&written);
    let pods = hello_pods(&lab);
    assert_eq!(pods.len(), 2, "two replicas");
    for pod in &pods {
        let name = text(pod, &["metadata", "name"]);
        let key = format!("/registry/pods/default/{name}");
        let mine: Vec<&Value> = events
            .iter()
            .filter(|(k, _)| *k == key)
            .map(|(_, v)| v)
            .collect();
        assert!(mine.len() >= 3, "{key}: {} writes\n{written}", mine.len());
        assert_eq!(
            text(mine[0], &["spec", "nodeName"]),
            "",
            "created without a node"
        );
        assert_eq!(
            mine[0]["metadata"]["ownerReferences"][0]["kind"],
            "ReplicaSet"
        );
        let bound = mine
            .iter()
            .position(|v| !text(v, &["spec", "nodeName"]).is_empty())
            .expect("a write binds the pod");
        assert!(bound >= 1);
        assert!(
            mine[bound..]
                .iter()
                .any(|v| text(v, &["status", "phase"]) == "Running"),
            "a later write has the pod Running"
        );
        // The last write has the pod Ready.
        let last = mine[mine.len() - 1];
        assert!(
            last["status"]["conditions"].as_array().is_some_and(|cs| cs
                .iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")),
            "the last write has Ready=True: {last}"
        );
        // etcd's revision is the resourceVersion: the stored object has none.
        assert!(
            mine.iter()
                .all(|v| v["metadata"].get("resourceVersion").is_none()),
            "no resourceVersion is stored"
        );
    }

    // 2. The same pod's life through `kubectl trace`.
    let first = text(&pods[0], &["metadata", "name"]);
    let node = text(&pods[0], &["spec", "nodeName"]);
    let (code, out, err) = lab.our_kubectl(&["trace", "pod", &first]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with(&format!("Pod default/{first}\n")), "{out}");
    assert!(out.contains(", owned by ReplicaSet/hello-"), "{out}");
    assert!(
        out.contains("  scheduled ") && out.contains(&format!(" to {node}")),
        "{out}"
    );
    assert!(out.lines().any(|l| l.starts_with("  ready ")), "{out}");
    assert!(out.contains("Conditions (last transition):"), "{out}");

    // 3. The container as a process of its node.
    let i: usize = node.trim_start_matches("node-").parse().expect("node-N");
    let (code, ps) = lab.ctl(i, &["ps"]);
    assert_eq!(code, 0, "{ps}");
    let id = ps
        .lines()
        .find(|l| l.split_whitespace().last() == Some(first.as_str()))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("{first} in kubelet ctl ps:\n{ps}"))
        .to_string();
    let (code, inspect) = lab.ctl(i, &["inspect", &id]);
    assert_eq!(code, 0, "{inspect}");
    let inspect: Value = serde_json::from_str(&inspect).expect("inspect prints JSON");
    let pid = inspect["state"]["pid"]
        .as_i64()
        .expect("a running container has a pid");
    let link = |pid: &str, ns: &str| {
        std::fs::read_link(format!("/proc/{pid}/ns/{ns}"))
            .map(|p| p.display().to_string())
            .unwrap_or_default()
    };
    for ns in ["pid", "mnt", "uts", "net", "ipc"] {
        let (theirs, ours) = (link(&pid.to_string(), ns), link("self", ns));
        assert!(
            !theirs.is_empty() && theirs != ours,
            "{ns}: {theirs} vs {ours}"
        );
    }
    let cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).expect("its cgroup");
    let uid = text(&pods[0], &["metadata", "uid"]);
    assert!(cgroup.contains(&lab.node_cgroup_root(i)), "{cgroup}");
    assert!(
        cgroup.contains(&uid) || cgroup.contains(&uid.replace('-', "_")),
        "{uid}: {cgroup}"
    );
    let hostname = Command::new("nsenter")
        .args(["-t", &pid.to_string(), "-u", "hostname"])
        .output()
        .expect("nsenter runs");
    assert_eq!(String::from_utf8_lossy(&hostname.stdout).trim(), first);

    // 4. Readiness and the Endpoints.
    let ip = text(&pods[0], &["status", "podIP"]);
    let both = wait_until(Duration::from_secs(30), || {
        let (ready, _) = endpoints(&lab);
        (ready.len() == 2).then_some(())
    });
    assert!(both.is_some(), "two ready endpoints: {:?}", endpoints(&lab));
    lab.kubectl_ok(&["exec", &first, "--", "rm", "/tmp/ready"]);
    let out_of_service = wait_until(Duration::from_secs(30), || {
        let (ready, not_ready) = endpoints(&lab);
        (!ready.contains(&ip) && not_ready.contains(&ip) && ready.len() == 1).then_some(())
    });
    assert!(
        out_of_service.is_some(),
        "{ip} not ready: {:?}",
        endpoints(&lab)
    );
    let get = lab.kubectl_ok(&["get", "pod", &first]);
    assert!(get.contains(" 0/1 ") && get.contains("Running"), "{get}");
    lab.kubectl_ok(&["exec", &first, "--", "touch", "/tmp/ready"]);
    let back = wait_until(Duration::from_secs(30), || {
        let (ready, _) = endpoints(&lab);
        (ready.contains(&ip) && ready.len() == 2).then_some(())
    });
    assert!(back.is_some(), "{ip} back: {:?}", endpoints(&lab));

    // 5. No scheduler: a new pod stays Pending.
    lab.component("kill", "scheduler");
    lab.kubectl_ok(&["scale", "deployment/hello", "--replicas=3"]);
    let known: Vec<String> = pods
        .iter()
        .map(|p| text(p, &["metadata", "name"]))
        .collect();
    let new = wait_until(Duration::from_secs(20), || {
        hello_pods(&lab)
            .into_iter()
            .find(|p| !known.contains(&text(p, &["metadata", "name"])))
    })
    .expect("the ReplicaSet makes a third pod");
    let new_name = text(&new, &["metadata", "name"]);
    std::thread::sleep(Duration::from_secs(5));
    let pending = lab.get_json(&["pod", &new_name]);
    assert_eq!(text(&pending, &["status", "phase"]), "Pending");
    assert_eq!(text(&pending, &["spec", "nodeName"]), "");
    let wide = lab.kubectl_ok(&["get", "pod", &new_name, "-o", "wide"]);
    assert!(
        wide.contains("Pending") && wide.contains("<none>"),
        "{wide}"
    );
    lab.component("restart", "scheduler");
    let bound = wait_until(Duration::from_secs(60), || {
        let p = lab.get_json(&["pod", &new_name]);
        (text(&p, &["status", "phase"]) == "Running").then(|| text(&p, &["spec", "nodeName"]))
    });
    assert!(
        bound.is_some_and(|n| n.starts_with("node-")),
        "the pod is bound and runs"
    );
    let events = lab.kubectl_ok(&[
        "get",
        "events",
        "--field-selector",
        &format!("involvedObject.name={new_name},reason=Scheduled"),
    ]);
    assert!(events.contains("Successfully assigned"), "{events}");

    // 6. A node loses its kubelet. (The test's lab notices after 12 s:
    // LAB_CONTROLLER_MANAGER_FLAGS, as the page says.)
    assert_eq!(node_ready(&lab, "node-2").0, "True");
    lab.component("kill", "kubelet-node-2");
    let unknown = wait_until(Duration::from_secs(60), || {
        let (status, reason) = node_ready(&lab, "node-2");
        (status == "Unknown").then_some(reason)
    });
    assert_eq!(unknown.as_deref(), Some("NodeStatusUnknown"));
    let tainted = wait_until(Duration::from_secs(20), || {
        taints(&lab, "node-2")
            .contains(&"node.kubernetes.io/unreachable:NoExecute".to_string())
            .then_some(())
    });
    assert!(tainted.is_some(), "{:?}", taints(&lab, "node-2"));
    let nodes = lab.kubectl_ok(&["get", "nodes"]);
    assert!(nodes.contains("NotReady"), "{nodes}");
    lab.component("restart", "kubelet-node-2");
    let ready = wait_until(Duration::from_secs(60), || {
        (node_ready(&lab, "node-2").0 == "True"
            && !taints(&lab, "node-2")
                .iter()
                .any(|t| t.contains("unreachable")))
        .then_some(())
    });
    assert!(
        ready.is_some(),
        "node-2 Ready again: {:?}",
        taints(&lab, "node-2")
    );
}
