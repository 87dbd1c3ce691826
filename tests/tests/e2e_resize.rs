//! In-place pod resize on a real lab: the real `/usr/bin/kubectl patch
//! --subresource resize` changes a running pod's cpu and memory, and the
//! kubelet applies them to the containers' cgroups (read from inside the
//! containers, as upstream's conformance tests do) without restarting a
//! container whose `resizePolicy` does not ask for it, restarts the one
//! whose policy does, reports `resources` and `allocatedResources` in the
//! status, marks a resize that can never fit `Infeasible`, and keeps its
//! allocation across a kubelet restart.

use std::time::Duration;

use serde_json::Value;
use tests::lab::{wait_until, Lab};

const POD: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: grow}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: inplace
    image: busybox:1.36
    command: ["sleep", "3600"]
    resources:
      requests: {cpu: 100m, memory: 32Mi}
      limits: {cpu: 200m, memory: 64Mi}
  - name: restarts
    image: busybox:1.36
    command: ["sleep", "3600"]
    resizePolicy:
    - {resourceName: memory, restartPolicy: RestartContainer}
    resources:
      requests: {cpu: 50m, memory: 32Mi}
      limits: {memory: 64Mi}
"#;

fn status_of<'a>(pod: &'a Value, name: &str) -> &'a Value {
    pod["status"]["containerStatuses"]
        .as_array()
        .and_then(|s| s.iter().find(|c| c["name"] == name))
        .unwrap_or(&Value::Null)
}

fn resize_conditions(pod: &Value) -> Vec<Value> {
    pod["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["type"] == "PodResizePending" || c["type"] == "PodResizeInProgress")
        .cloned()
        .collect()
}

#[test]
fn running_containers_are_resized_in_place_or_restarted_per_policy() {
    let Some(lab) = Lab::up("e2e-resize", 1) else {
        return;
    };
    lab.apply(POD);
    let (code, out, err) =
        lab.kubectl(&["wait", "--for=condition=Ready", "pod/grow", "--timeout=90s"]);
    assert_eq!(code, 0, "{out}{err}");
    let cat = |container: &str, v1: &str, v2: &str| {
        let script = format!("if [ -f /sys/fs/cgroup/cgroup.controllers ]; then head -n1 /sys/fs/cgroup/{v2}; else head -n1 /sys/fs/cgroup/{v1}; fi");
        lab.kubectl_ok(&["exec", "grow", "-c", container, "--", "sh", "-c", &script])
            .trim()
            .to_string()
    };
    let resize = |patch: &str| {
        lab.kubectl_ok(&[
            "patch",
            "pod",
            "grow",
            "--subresource",
            "resize",
            "--patch",
            patch,
        ])
    };
    let v2 =
        lab.kubectl(&[
            "exec",
            "grow",
            "-c",
            "inplace",
            "--",
            "test",
            "-f",
            "/sys/fs/cgroup/cgroup.controllers",
        ])
        .0 == 0;
    let quota = |c: &str| cat(c, "cpu/cpu.cfs_quota_us", "cpu.max");
    let memory = |c: &str| cat(c, "memory/memory.limit_in_bytes", "memory.max");
    let (q200, q300) = if v2 {
        ("20000 100000", "30000 100000")
    } else {
        ("20000", "30000")
    };
    assert_eq!(quota("inplace"), q200);
    assert_eq!(memory("inplace"), (64u64 << 20).to_string());
    let before = lab.get_json(&["pod", "grow"]);
    assert_eq!(before["metadata"]["generation"], 1);
    let st = status_of(&before, "inplace");
    assert_eq!(st["allocatedResources"]["cpu"], "100m", "{st}");
    assert_eq!(st["resources"]["limits"]["memory"], "64Mi", "{st}");

    // Grow both containers' limits through the resize subresource.
    let out = resize(
        r#"{"spec":{"containers":[
            {"name":"inplace","resources":{"requests":{"cpu":"150m"},"limits":{"cpu":"300m","memory":"96Mi"}}},
            {"name":"restarts","resources":{"limits":{"memory":"80Mi"}}}]}}"#,
    );
    assert!(out.contains("pod/grow patched"), "{out}");
    let done = wait_until(Duration::from_secs(60), || {
        let p = lab.get_json(&["pod", "grow"]);
        let caught_up = p["status"]["observedGeneration"] == p["metadata"]["generation"];
        let applied = status_of(&p, "inplace")["resources"]["limits"]["cpu"] == "300m"
            && status_of(&p, "restarts")["resources"]["limits"]["memory"] == "80Mi"
            && status_of(&p, "restarts")["ready"] == true;
        (caught_up && applied && resize_conditions(&p).is_empty()).then_some(p)
    })
    .unwrap_or_else(|| panic!("the resize is applied: {}", lab.get_json(&["pod", "grow"])));
    assert_eq!(done["metadata"]["generation"], 2);
    let inplace = status_of(&done, "inplace");
    assert_eq!(inplace["restartCount"], 0, "{inplace}");
    assert_eq!(inplace["allocatedResources"]["cpu"], "150m", "{inplace}");
    assert_eq!(inplace["resources"]["requests"]["cpu"], "150m", "{inplace}");
    assert_eq!(
        inplace["resources"]["limits"]["memory"], "96Mi",
        "{inplace}"
    );
    assert_eq!(status_of(&done, "restarts")["restartCount"], 1);
    // The cgroups inside the containers say the same.
    assert_eq!(quota("inplace"), q300);
    assert_eq!(memory("inplace"), (96u64 << 20).to_string());
    assert_eq!(memory("restarts"), (80u64 << 20).to_string());

    // A request beyond what the node has can never be allocated.
    resize(
        r#"{"spec":{"containers":[{"name":"inplace","resources":{"requests":{"cpu":"100"},"limits":{"cpu":"100"}}}]}}"#,
    );
    let pending = wait_until(Duration::from_secs(60), || {
        let p = lab.get_json(&["pod", "grow"]);
        resize_conditions(&p)
            .into_iter()
            .find(|c| c["type"] == "PodResizePending" && c["observedGeneration"] == 3)
    })
    .expect("the resize is pending");
    assert_eq!(pending["reason"], "Infeasible", "{pending}");
    assert!(
        pending["message"].as_str().is_some_and(
            |m| m.starts_with("Node didn't have enough capacity: cpu, requested: 100050")
        ),
        "{pending}"
    );
    // Nothing changed on the node.
    assert_eq!(quota("inplace"), q300);
    let p = lab.get_json(&["pod", "grow"]);
    assert_eq!(
        status_of(&p, "inplace")["allocatedResources"]["cpu"],
        "150m"
    );

    // A restarted kubelet keeps the allocation it recorded: the pending
    // resize stays pending (a kubelet that forgot would take the spec as
    // the allocation and report 100 CPUs allocated).
    let uid = p["metadata"]["uid"].as_str().expect("uid");
    let record = lab
        .node_root(1)
        .join("pods")
        .join(uid)
        .join("allocated_resources.json");
    assert!(record.exists(), "{}", record.display());
    lab.kill_kubelet(1);
    lab.start_kubelet(1);
    std::thread::sleep(Duration::from_secs(10));
    let p = lab.get_json(&["pod", "grow"]);
    assert_eq!(
        status_of(&p, "inplace")["allocatedResources"]["cpu"],
        "150m",
        "{p}"
    );
    assert_eq!(status_of(&p, "inplace")["restartCount"], 0);
    assert_eq!(resize_conditions(&p).len(), 1, "{p}");
    // ... and applies the next resize that fits, in place.
    resize(
        r#"{"spec":{"containers":[{"name":"inplace","resources":{"requests":{"cpu":"250m"},"limits":{"cpu":"400m"}}}]}}"#,
    );
    let p = wait_until(Duration::from_secs(60), || {
        let p = lab.get_json(&["pod", "grow"]);
        (p["status"]["observedGeneration"] == 4
            && resize_conditions(&p).is_empty()
            && status_of(&p, "inplace")["resources"]["limits"]["cpu"] == "400m")
            .then_some(p)
    })
    .unwrap_or_else(|| {
        panic!(
            "the last resize is applied: {}",
            lab.get_json(&["pod", "grow"])
        )
    });
    assert_eq!(status_of(&p, "inplace")["restartCount"], 0);
    assert_eq!(quota("inplace"), if v2 { "40000 100000" } else { "40000" });
}
