//! Adoption and release of pods by the workload controllers (ReplicaSet,
//! Job, DaemonSet) against a real apiserver and etcd: the path through the
//! real pod client (the adoption patch with the pod's uid and
//! resourceVersion as preconditions, the fresh read of the owner) that the
//! unit tests replace with fakes.

use std::time::Duration;

use k8s_openapi::api::apps::v1::{DaemonSet, ReplicaSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;
use tests::controllers::{ControlPlane, ControllerManager};
use tests::harness::eventually;

const T: Duration = Duration::from_secs(30);

fn orphan(name: &str, labels: serde_json::Value, node: Option<&str>) -> Pod {
    let affinity = node.map(|n| {
        json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchFields": [
                {"key": "metadata.name", "operator": "In", "values": [n]}]}]}}})
    });
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": labels},
        "spec": {"containers": [{"name": "c", "image": "busybox:1.36"}],
                 "affinity": affinity}
    }))
    .expect("pod")
}

/// The (kind, uid) of the pod's controller, if it has one.
async fn controller_of(pods: &Api<Pod>, name: &str) -> Option<(String, String)> {
    let p = pods.get(name).await.ok()?;
    let r = p
        .metadata
        .owner_references?
        .into_iter()
        .find(|r| r.controller == Some(true))?;
    Some((r.kind, r.uid))
}

async fn count(pods: &Api<Pod>, selector: &str) -> usize {
    pods.list(&ListParams::default().labels(selector))
        .await
        .map(|l| l.items.len())
        .unwrap_or(usize::MAX)
}

/// Waits until `selector` selects `n` pods and `pod` is controlled by
/// (`kind`, `uid`); panics with what it saw otherwise.
async fn wait_adopted(pods: &Api<Pod>, selector: &str, n: usize, pod: &str, kind: &str, uid: &str) {
    let want = Some((kind.to_string(), uid.to_string()));
    let ok = eventually(T, || async {
        (count(pods, selector).await == n && controller_of(pods, pod).await == want).then_some(())
    })
    .await;
    if ok.is_none() {
        let list = pods
            .list(&ListParams::default().labels(selector))
            .await
            .map(|l| l.items)
            .unwrap_or_default();
        let seen: Vec<_> = list
            .iter()
            .map(|p| {
                (
                    p.metadata.name.clone(),
                    p.metadata.owner_references.clone(),
                    p.spec.as_ref().and_then(|s| s.affinity.clone()),
                )
            })
            .collect();
        panic!("{selector}: wanted {n} pods and {pod} controlled by {kind} {uid}; saw {seen:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicaset_job_and_daemonset_adopt_orphans_and_release_strays() {
    let c = ControlPlane::start().await;
    let _cm = ControllerManager::start(&c.url, &["replicaset", "job", "daemonset"], |_| {}).await;
    let ns = c.namespace("adopt");
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), &ns);
    let pp = PostParams::default();

    // ReplicaSet: the orphan is one of the two replicas.
    pods.create(&pp, &orphan("web-orphan", json!({"app": "web"}), None))
        .await
        .expect("orphan");
    let rs: ReplicaSet = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "c", "image": "busybox:1.36"}]}}}
    }))
    .expect("rs");
    let rs = Api::<ReplicaSet>::namespaced(c.client.clone(), &ns)
        .create(&pp, &rs)
        .await
        .expect("create rs");
    let rs_uid = rs.metadata.uid.clone().unwrap_or_default();
    wait_adopted(&pods, "app=web", 2, "web-orphan", "ReplicaSet", &rs_uid).await;

    // Relabelled away, it is released (its reference removed) and replaced.
    pods.patch(
        "web-orphan",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"app": "stray"}}})),
    )
    .await
    .expect("relabel");
    let released = eventually(T, || async {
        (controller_of(&pods, "web-orphan").await.is_none() && count(&pods, "app=web").await == 2)
            .then_some(())
    })
    .await;
    assert!(
        released.is_some(),
        "the stray pod was not released and replaced"
    );

    // Job (with a manual selector, so an orphan can match it): the orphan
    // runs as one of two in parallel.
    pods.create(&pp, &orphan("batch-orphan", json!({"app": "batch"}), None))
        .await
        .expect("orphan");
    let job: Job = serde_json::from_value(json!({
        "metadata": {"name": "batch"},
        "spec": {"parallelism": 2, "completions": 4, "manualSelector": true,
            "selector": {"matchLabels": {"app": "batch"}},
            "template": {"metadata": {"labels": {"app": "batch"}},
                "spec": {"restartPolicy": "Never",
                    "containers": [{"name": "c", "image": "busybox:1.36"}]}}}
    }))
    .expect("job");
    let job = Api::<Job>::namespaced(c.client.clone(), &ns)
        .create(&pp, &job)
        .await
        .expect("create job");
    let job_uid = job.metadata.uid.clone().unwrap_or_default();
    wait_adopted(&pods, "app=batch", 2, "batch-orphan", "Job", &job_uid).await;
    // Tracked like the Job's own pods, so its end is counted.
    let adopted = pods.get("batch-orphan").await.expect("orphan");
    assert_eq!(
        adopted.metadata.finalizers,
        Some(vec!["batch.kubernetes.io/job-tracking".to_string()])
    );

    // DaemonSet: the orphan pinned to n1 is n1's daemon pod; n2 gets one.
    // (OnDelete: a RollingUpdate would go on to replace the adopted pod,
    // which lacks the template's revision label.)
    let nodes: Api<Node> = Api::all(c.client.clone());
    for n in ["n1", "n2"] {
        let node: Node = serde_json::from_value(json!({"metadata": {"name": n}})).expect("node");
        nodes.create(&pp, &node).await.expect("node");
    }
    pods.create(
        &pp,
        &orphan("agent-orphan", json!({"app": "agent"}), Some("n1")),
    )
    .await
    .expect("orphan");
    let ds: DaemonSet = serde_json::from_value(json!({
        "metadata": {"name": "agent"},
        "spec": {"selector": {"matchLabels": {"app": "agent"}},
            "updateStrategy": {"type": "OnDelete"},
            "template": {"metadata": {"labels": {"app": "agent"}},
                "spec": {"containers": [{"name": "c", "image": "busybox:1.36"}]}}}
    }))
    .expect("ds");
    let ds = Api::<DaemonSet>::namespaced(c.client.clone(), &ns)
        .create(&pp, &ds)
        .await
        .expect("create ds");
    let ds_uid = ds.metadata.uid.clone().unwrap_or_default();
    wait_adopted(&pods, "app=agent", 2, "agent-orphan", "DaemonSet", &ds_uid).await;
    // Settled: still one pod per node.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(count(&pods, "app=agent").await, 2);
}
