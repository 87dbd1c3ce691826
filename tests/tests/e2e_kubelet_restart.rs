//! A kubelet killed with `kill -9` while it runs pods at density, and
//! started again: every container keeps running (the same container, the
//! same process, no restart counted), none is lost, and the restarted
//! kubelet goes on syncing (a deleted pod is replaced and Ready on its node).
//!
//! The containers outlive their kubelet because each is owned by its monitor
//! process, not by the kubelet; the restarted kubelet finds them in the
//! runtime's records and adopts them instead of starting new ones.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;
use tests::lab::{wait_until, Lab};

const REPLICAS: usize = 30;

fn deployment() -> String {
    format!(
        r#"
apiVersion: apps/v1
kind: Deployment
metadata: {{name: dense}}
spec:
  replicas: {REPLICAS}
  selector: {{matchLabels: {{app: dense}}}}
  template:
    metadata: {{labels: {{app: dense}}}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: c
        image: busybox:1.36
        command: ["sleep", "3600"]
"#
    )
}

/// What identifies a running container from the API: its id, when it
/// started and how often it restarted.
#[derive(Debug, PartialEq, Eq, Clone)]
struct Seen {
    node: String,
    container_id: String,
    started_at: String,
    restarts: i64,
    ready: bool,
}

fn seen(lab: &Lab) -> BTreeMap<String, Seen> {
    let list = lab.get_json(&["pods", "-l", "app=dense"]);
    list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
        .map(|p| {
            let cs = &p["status"]["containerStatuses"][0];
            let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
            (
                text(&p["metadata"]["name"]),
                Seen {
                    node: text(&p["spec"]["nodeName"]),
                    container_id: text(&cs["containerID"]),
                    started_at: text(&cs["state"]["running"]["startedAt"]),
                    restarts: cs["restartCount"].as_i64().unwrap_or(-1),
                    ready: cs["ready"].as_bool().unwrap_or(false),
                },
            )
        })
        .collect()
}

fn all_ready(lab: &Lab) -> Option<BTreeMap<String, Seen>> {
    let s = seen(lab);
    (s.len() == REPLICAS && s.values().all(|c| c.ready && !c.container_id.is_empty())).then_some(s)
}

/// The runtime's view of node `i`: container id -> its process id, for
/// every running container.
fn processes(lab: &Lab, i: usize) -> BTreeMap<String, i64> {
    let (code, ps) = lab.ctl(i, &["ps", "-q"]);
    assert_eq!(code, 0, "kubelet ctl ps on node {i}: {ps}");
    ps.split_whitespace()
        .map(|id| {
            let (code, inspect) = lab.ctl(i, &["inspect", id]);
            assert_eq!(code, 0, "{inspect}");
            let v: Value = serde_json::from_str(&inspect).expect("inspect prints JSON");
            (id.to_string(), v["state"]["pid"].as_i64().unwrap_or(0))
        })
        .collect()
}

#[test]
fn a_killed_kubelet_restarts_no_container_of_its_thirty_pods() {
    let Some(lab) = Lab::up("e2e-kubelet-restart", 3) else {
        return;
    };
    lab.apply(&deployment());
    let before = wait_until(Duration::from_secs(180), || all_ready(&lab))
        .unwrap_or_else(|| panic!("{REPLICAS} pods Ready: {:?}", seen(&lab)));
    let procs_before: Vec<_> = (1..=lab.nodes).map(|i| processes(&lab, i)).collect();
    let running: usize = procs_before.iter().map(|p| p.len()).sum();
    assert_eq!(running, REPLICAS, "{procs_before:?}");

    for i in 1..=lab.nodes {
        lab.kill_kubelet(i);
    }
    for i in 1..=lab.nodes {
        lab.start_kubelet(i);
    }
    // Long enough for each restarted kubelet to list its pods, sync every
    // one (its resync is a second) and write any status it would change.
    std::thread::sleep(Duration::from_secs(8));
    let after = all_ready(&lab).unwrap_or_else(|| panic!("all Ready after: {:?}", seen(&lab)));
    assert_eq!(before, after, "no container restarted, none lost");
    let procs_after: Vec<_> = (1..=lab.nodes).map(|i| processes(&lab, i)).collect();
    assert_eq!(
        procs_before, procs_after,
        "the same processes run on every node"
    );

    // The restarted kubelets go on working: a deleted pod is stopped and its
    // replacement started.
    let victim = before.keys().next().expect("a pod").clone();
    lab.kubectl_ok(&["delete", "pod", &victim, "--wait=true"]);
    let replaced = wait_until(Duration::from_secs(60), || {
        all_ready(&lab).filter(|s| !s.contains_key(&victim))
    })
    .unwrap_or_else(|| panic!("the deleted pod is replaced: {:?}", seen(&lab)));
    let kept = replaced
        .iter()
        .filter(|(n, s)| before.get(*n) == Some(s))
        .count();
    assert_eq!(kept, REPLICAS - 1, "only the deleted pod changed");
}
