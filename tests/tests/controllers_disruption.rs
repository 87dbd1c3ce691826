//! PodDisruptionBudgets end to end against a real apiserver and etcd: the
//! disruption controller keeps the budget's status, and the eviction
//! subresource charges it or refuses with 429 until the budget allows.

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;
use tests::controllers::{set_pod_status, ControlPlane, ControllerManager};
use tests::harness::eventually;

const T: Duration = Duration::from_secs(30);

async fn evict(c: &ControlPlane, ns: &str, pod: &str) -> (u16, serde_json::Value) {
    let http = c.api.http();
    let body = json!({"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": pod}});
    let r = http
        .post(
            &format!("/api/v1/namespaces/{ns}/pods/{pod}/eviction"),
            &body,
        )
        .await
        .expect("eviction");
    (r.status, r.body)
}

/// Waits until the budget's status has observed its generation and allows
/// `allowed` disruptions; returns the status.
async fn wait_allowed(pdbs: &Api<PodDisruptionBudget>, allowed: i32) -> serde_json::Value {
    let got = eventually(T, || async {
        let p = pdbs.get("db").await.ok()?;
        let st = p.status.clone()?;
        (st.observed_generation == p.metadata.generation && st.disruptions_allowed == Some(allowed))
            .then(|| serde_json::to_value(st).unwrap_or_default())
    })
    .await;
    match got {
        Some(st) => st,
        None => panic!(
            "the budget never allowed {allowed}: {:?}",
            pdbs.get("db").await.ok().and_then(|p| p.status)
        ),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evictions_respect_the_budget() {
    let c = ControlPlane::start().await;
    let _cm = ControllerManager::start(&c.url, &["disruption"], |_| {}).await;
    let ns = c.namespace("pdb");
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), &ns);
    for i in 0..3 {
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": format!("db-{i}"), "labels": {"app": "db"}},
            "spec": {"containers": [{"name": "c", "image": "busybox:1.36"}]}
        }))
        .expect("pod");
        pods.create(&PostParams::default(), &pod)
            .await
            .expect("pod");
        set_pod_status(&c.client, &ns, &format!("db-{i}"), "Running", true)
            .await
            .expect("ready");
    }
    let pdbs: Api<PodDisruptionBudget> = Api::namespaced(c.client.clone(), &ns);
    let pdb: PodDisruptionBudget = serde_json::from_value(json!({
        "metadata": {"name": "db"},
        "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "db"}}}
    }))
    .expect("pdb");
    pdbs.create(&PostParams::default(), &pdb)
        .await
        .expect("pdb");

    let st = wait_allowed(&pdbs, 1).await;
    assert_eq!(st["expectedPods"], 3);
    assert_eq!(st["currentHealthy"], 3);
    assert_eq!(st["desiredHealthy"], 2);
    let cond = &st["conditions"][0];
    assert_eq!(cond["type"], "DisruptionAllowed");
    assert_eq!(cond["reason"], "SufficientPods");

    // One may go; the next would break the budget.
    let (code, body) = evict(&c, &ns, "db-0").await;
    assert_eq!(code, 201, "{body}");
    let (code, body) = evict(&c, &ns, "db-1").await;
    assert_eq!(code, 429, "{body}");
    assert_eq!(body["reason"], "TooManyRequests");
    assert_eq!(
        body["message"],
        "Cannot evict pod as it would violate the pod's disruption budget."
    );
    assert!(
        pods.get("db-1").await.is_ok(),
        "a refused eviction deletes nothing"
    );
    let st = wait_allowed(&pdbs, 0).await;
    assert_eq!(st["currentHealthy"], 2);
    assert_eq!(st["conditions"][0]["reason"], "InsufficientPods");

    // Lowering the budget lets the eviction through once it is observed.
    pdbs.patch(
        "db",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"minAvailable": 1}})),
    )
    .await
    .expect("patch");
    wait_allowed(&pdbs, 1).await;
    let (code, body) = evict(&c, &ns, "db-1").await;
    assert_eq!(code, 201, "{body}");
}
