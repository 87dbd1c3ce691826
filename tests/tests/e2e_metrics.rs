//! Resource metrics and autoscaling on a real lab: real containers burn
//! CPU inside their cgroups, the kubelet reports the counters, the
//! apiserver scrapes them (every 15 s) and serves `metrics.k8s.io`; checked
//! with the real `/usr/bin/kubectl top` (and ours, which must print the
//! same) and an HPA scaling a Deployment on that CPU.

use std::time::Duration;

use tests::lab::{wait_until, Lab};

/// A pod spinning in a shell loop, held to 200m by its CPU limit.
const BUSY: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: busy, labels: {app: busy}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: spin
    image: busybox:1.36
    command: ["sh", "-c", "while :; do :; done"]
    resources:
      requests: {cpu: 100m, memory: 16Mi}
      limits: {cpu: 200m, memory: 32Mi}
"#;

/// A Deployment of one spinning pod (request 100m, limit 200m) and an HPA
/// aiming at 50 % of the request, scaling down after a 10 s window.
const AUTOSCALED: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: burn}
spec:
  replicas: 1
  selector: {matchLabels: {app: burn}}
  template:
    metadata: {labels: {app: burn}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: spin
        image: busybox:1.36
        command: ["sh", "-c", "while :; do :; done"]
        resources:
          requests: {cpu: 100m}
          limits: {cpu: 200m}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: burn}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: burn}
  minReplicas: 1
  maxReplicas: 3
  metrics:
  - type: Resource
    resource: {name: cpu, target: {type: Utilization, averageUtilization: 50}}
  behavior:
    scaleDown: {stabilizationWindowSeconds: 10}
"#;

/// Millicores of a `kubectl top` CPU cell (`187m`, `1`).
fn millicores(cell: &str) -> Option<u64> {
    match cell.strip_suffix('m') {
        Some(m) => m.parse().ok(),
        None => cell.parse::<u64>().ok().map(|c| c * 1000),
    }
}

fn replicas(lab: &Lab) -> i64 {
    lab.get_json(&["deployment", "burn"])["spec"]["replicas"]
        .as_i64()
        .unwrap_or(-1)
}

#[test]
fn kubectl_top_and_an_hpa_on_real_cpu() {
    let Some(lab) = Lab::up("e2e-metrics", 1) else {
        return;
    };
    lab.apply(BUSY);
    lab.kubectl_ok(&[
        "wait",
        "--for=condition=Ready",
        "pod/busy",
        "--timeout=120s",
    ]);
    // Two scrapes after it runs, the busy pod uses about its limit.
    let cpu = wait_until(Duration::from_secs(90), || {
        let (code, out, _) = lab.kubectl(&["top", "pod", "busy", "--no-headers"]);
        if code != 0 {
            return None;
        }
        let cells: Vec<&str> = out.split_whitespace().collect();
        cells.get(1).and_then(|c| millicores(c))
    })
    .expect("kubectl top pod busy shows the pod");
    assert!((140..=230).contains(&cpu), "busy pod at {cpu}m, limit 200m");
    eprintln!("kubectl top pod busy: {cpu}m (limit 200m)");
    let nodes = lab.kubectl_ok(&["top", "nodes", "--no-headers"]);
    let node_cpu = nodes
        .split_whitespace()
        .nth(1)
        .and_then(millicores)
        .unwrap_or(0);
    assert!(
        node_cpu >= cpu,
        "the node ({node_cpu}m) carries the pod ({cpu}m): {nodes}"
    );
    // Our kubectl prints what the real one prints, from the same scrape
    // (the metrics change every 15 s: compared until two runs agree).
    for args in [
        &["top", "nodes"][..],
        &["top", "pod"],
        &["top", "pod", "busy", "--containers"],
        &["top", "pods", "-A", "--sort-by=cpu", "--sum"],
    ] {
        let same = wait_until(Duration::from_secs(40), || {
            let (code, theirs, _) = lab.kubectl(args);
            let (ours_code, ours, err) = lab.our_kubectl(args);
            assert_eq!(ours_code, code, "{args:?}: {err}");
            (ours == theirs).then_some(())
        });
        if same.is_none() {
            let (_, theirs, _) = lab.kubectl(args);
            let (_, ours, _) = lab.our_kubectl(args);
            panic!("kubectl {args:?} differs:\n--- upstream\n{theirs}--- ours\n{ours}");
        }
    }
    lab.kubectl_ok(&["delete", "pod", "busy", "--wait=false"]);

    // 200m of 100m requested is 400 % of a 50 % target: up to the max of 3.
    let load_start = std::time::Instant::now();
    lab.apply(AUTOSCALED);
    let up = wait_until(Duration::from_secs(150), || {
        (replicas(&lab) == 3).then_some(())
    });
    if up.is_none() {
        lab.dump_logs();
    }
    assert!(
        up.is_some(),
        "scaled up to 3: {}",
        lab.kubectl_ok(&["describe", "hpa", "burn"])
    );
    eprintln!(
        "HPA: from load start to 3 replicas in {:?}",
        load_start.elapsed()
    );
    let described = lab.kubectl_ok(&["describe", "hpa", "burn"]);
    assert!(
        described.contains("reason: cpu resource utilization (percentage of request) above target"),
        "{described}"
    );
    // The load stops (the pods sleep instead): down to 1 after the window.
    let load_end = std::time::Instant::now();
    lab.kubectl_ok(&[
        "patch", "deployment", "burn", "--type=json", "-p",
        r#"[{"op": "replace", "path": "/spec/template/spec/containers/0/command", "value": ["sleep", "3600"]}]"#,
    ]);
    let down = wait_until(Duration::from_secs(180), || {
        (replicas(&lab) == 1).then_some(())
    });
    assert!(
        down.is_some(),
        "scaled down to 1: {}",
        lab.kubectl_ok(&["describe", "hpa", "burn"])
    );
    eprintln!(
        "HPA: from load end to 1 replica in {:?}",
        load_end.elapsed()
    );
    let described = lab.kubectl_ok(&["describe", "hpa", "burn"]);
    assert!(
        described.contains("reason: All metrics below target"),
        "{described}"
    );
}
