//! The ReplicaSet and Deployment controllers against a real apiserver and
//! etcd, with a fake kubelet marking pods ready, driven by the real kubectl:
//! rolling updates step by step within maxSurge/maxUnavailable, rollout
//! status/history/undo, pause/resume, scaling mid-rollout, Recreate.

use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};
use serde_json::json;
use tests::controllers::{ControlPlane, ControllerManager, FakeKubelet};
use tests::harness::eventually;

type Cluster = ControlPlane;

async fn cluster() -> Cluster {
    ControlPlane::start().await
}

fn k(c: &Cluster, args: &[&str]) -> tests::harness::KubectlOutput {
    c.kubectl(args)
}

fn apply(c: &Cluster, manifest: &serde_json::Value) {
    c.apply(manifest)
}

fn deployment(
    ns: &str,
    name: &str,
    replicas: i32,
    image: &str,
    strategy: serde_json::Value,
) -> serde_json::Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
            "strategy": strategy,
            "template": {"metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "c", "image": image}]}}}})
}

/// Sum of ReplicaSet spec.replicas and count of ready, not-terminating pods.
async fn snapshot(c: &Cluster, ns: &str) -> (i32, usize, usize) {
    let rs: Api<ReplicaSet> = Api::namespaced(c.client.clone(), ns);
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), ns);
    let sets = rs
        .list(&ListParams::default())
        .await
        .expect("list rs")
        .items;
    let total = sets
        .iter()
        .map(|r| r.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0))
        .sum();
    let pods = pods
        .list(&ListParams::default())
        .await
        .expect("list pods")
        .items;
    let live: Vec<&Pod> = pods
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .collect();
    let ready = live
        .iter()
        .filter(|p| {
            p.status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
        })
        .count();
    (total, live.len(), ready)
}

async fn create_ns(c: &Cluster) -> String {
    c.namespace("deploy")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_update_rollback_pause_and_scaling() {
    let c = cluster().await;
    let _cm = ControllerManager::start(&c.url, &["replicaset", "deployment"], |_| {}).await;
    let ns = create_ns(&c).await;
    let kubelet = FakeKubelet::start(c.client.clone(), &ns, Duration::from_millis(300));

    let strategy =
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 1}});
    apply(
        &c,
        &deployment(&ns, "web", 4, "busybox:1", strategy.clone()),
    );
    let out = k(
        &c,
        &[
            "rollout",
            "status",
            "deployment/web",
            "-n",
            &ns,
            "--timeout=60s",
        ],
    );
    assert!(out.success, "rollout status: {}{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("successfully rolled out"),
        "{}",
        out.stdout
    );
    let (total, live, ready) = snapshot(&c, &ns).await;
    assert_eq!((total, live, ready), (4, 4, 4));

    // A new image: watch every step stay within the bounds.
    apply(
        &c,
        &deployment(&ns, "web", 4, "busybox:2", strategy.clone()),
    );
    let watcher = {
        let (client, ns) = (c.client.clone(), ns.clone());
        tokio::spawn(async move {
            let c2 = Cluster2 { client };
            let mut worst = (0, usize::MAX);
            for _ in 0..40 {
                let (total, _, ready) = c2.snapshot(&ns).await;
                worst = (worst.0.max(total), worst.1.min(ready));
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            worst
        })
    };
    let out = k(
        &c,
        &[
            "rollout",
            "status",
            "deployment/web",
            "-n",
            &ns,
            "--timeout=60s",
        ],
    );
    assert!(out.success, "rollout status: {}{}", out.stdout, out.stderr);
    let (max_total, min_ready) = watcher.await.expect("watcher");
    assert!(
        max_total <= 5,
        "never more than replicas + maxSurge pods: saw {max_total}"
    );
    assert!(
        min_ready >= 3,
        "never fewer than replicas - maxUnavailable ready: saw {min_ready}"
    );
    let rs_api: Api<ReplicaSet> = Api::namespaced(c.client.clone(), &ns);
    let sets = rs_api.list(&ListParams::default()).await.expect("rs").items;
    assert_eq!(sets.len(), 2, "one ReplicaSet per template");
    for rs in &sets {
        let hash = rs
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get("pod-template-hash"))
            .expect("hash label");
        assert_eq!(
            rs.metadata.name.as_deref(),
            Some(format!("web-{hash}").as_str())
        );
    }
    let d_api: Api<Deployment> = Api::namespaced(c.client.clone(), &ns);
    let d = d_api.get("web").await.expect("deployment");
    assert_eq!(
        d.metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get("deployment.kubernetes.io/revision"))
            .map(String::as_str),
        Some("2")
    );
    let st = d.status.expect("status");
    assert_eq!(
        (st.replicas, st.updated_replicas, st.available_replicas),
        (Some(4), Some(4), Some(4))
    );

    // History and undo through the real kubectl.
    let out = k(&c, &["rollout", "history", "deployment/web", "-n", &ns]);
    assert!(out.success, "{}", out.stderr);
    assert!(
        out.stdout.contains("REVISION") && out.stdout.contains('1') && out.stdout.contains('2'),
        "{}",
        out.stdout
    );
    let out = k(&c, &["rollout", "undo", "deployment/web", "-n", &ns]);
    assert!(out.success, "undo: {}{}", out.stdout, out.stderr);
    let out = k(
        &c,
        &[
            "rollout",
            "status",
            "deployment/web",
            "-n",
            &ns,
            "--timeout=60s",
        ],
    );
    assert!(out.success, "{}{}", out.stdout, out.stderr);
    let d = d_api.get("web").await.expect("deployment");
    let image = d
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .map(|s| s.containers[0].image.clone());
    assert_eq!(image, Some(Some("busybox:1".to_string())));
    let sets = rs_api.list(&ListParams::default()).await.expect("rs").items;
    if sets.len() != 2 {
        for rs in &sets {
            eprintln!(
                "RS {:?}: {}",
                rs.metadata.name,
                serde_json::to_string(&rs.spec.as_ref().map(|s| &s.template)).unwrap_or_default()
            );
        }
        eprintln!(
            "D: {}",
            serde_json::to_string(&d.spec.as_ref().map(|s| &s.template)).unwrap_or_default()
        );
    }
    assert_eq!(sets.len(), 2, "undo reuses the old ReplicaSet");
    let rev = d
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get("deployment.kubernetes.io/revision"))
        .cloned();
    assert_eq!(rev.as_deref(), Some("3"));

    // Pause: a template change creates nothing until resumed.
    assert!(k(&c, &["rollout", "pause", "deployment/web", "-n", &ns]).success);
    assert!(
        k(
            &c,
            &["set", "image", "deployment/web", "c=busybox:3", "-n", &ns]
        )
        .success
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        rs_api
            .list(&ListParams::default())
            .await
            .expect("rs")
            .items
            .len(),
        2,
        "paused: no new ReplicaSet"
    );
    let d = d_api.get("web").await.expect("deployment");
    let progressing = d
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "Progressing").cloned());
    assert_eq!(
        progressing.and_then(|c| c.reason).as_deref(),
        Some("DeploymentPaused")
    );
    assert!(k(&c, &["rollout", "resume", "deployment/web", "-n", &ns]).success);
    let out = k(
        &c,
        &[
            "rollout",
            "status",
            "deployment/web",
            "-n",
            &ns,
            "--timeout=60s",
        ],
    );
    assert!(out.success, "{}{}", out.stdout, out.stderr);
    assert_eq!(
        rs_api
            .list(&ListParams::default())
            .await
            .expect("rs")
            .items
            .len(),
        3
    );

    // Scaling in the middle of a rollout: hold the pods not ready, start
    // a rollout, scale 4 -> 8: both ReplicaSets grow in proportion.
    kubelet.pause();
    assert!(
        k(
            &c,
            &["set", "image", "deployment/web", "c=busybox:4", "-n", &ns]
        )
        .success
    );
    let mid = eventually(Duration::from_secs(20), || async {
        let (total, _, _) = snapshot(&c, &ns).await;
        (total == 5).then_some(())
    })
    .await;
    assert!(
        mid.is_some(),
        "the rollout surged to 5 and stopped (no pod is ready)"
    );
    assert!(k(&c, &["scale", "deployment/web", "--replicas=8", "-n", &ns]).success);
    let sizes = eventually(Duration::from_secs(20), || async {
        let sets = rs_api.list(&ListParams::default()).await.ok()?.items;
        let mut sizes: Vec<i32> = sets
            .iter()
            .map(|r| r.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0))
            .filter(|n| *n > 0)
            .collect();
        sizes.sort();
        (sizes.len() == 2 && sizes.iter().sum::<i32>() == 9).then_some(sizes)
    })
    .await;
    // 8 + maxSurge 1 = 9 pods allowed, shared in proportion: both grow.
    let sizes = sizes.expect("proportional scale-up to 9 pods in two ReplicaSets");
    assert!(sizes[0] >= 2 && sizes[1] >= 5, "{sizes:?}");
    kubelet.resume();
    let out = k(
        &c,
        &[
            "rollout",
            "status",
            "deployment/web",
            "-n",
            &ns,
            "--timeout=60s",
        ],
    );
    assert!(out.success, "{}{}", out.stdout, out.stderr);
    let (total, live, ready) = snapshot(&c, &ns).await;
    assert_eq!((total, live, ready), (8, 8, 8));
    drop(c.api);
}

struct Cluster2 {
    client: kube::Client,
}

impl Cluster2 {
    async fn snapshot(&self, ns: &str) -> (i32, usize, usize) {
        let rs: Api<ReplicaSet> = Api::namespaced(self.client.clone(), ns);
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), ns);
        let Ok(sets) = rs.list(&ListParams::default()).await else {
            return (0, 0, usize::MAX);
        };
        let total = sets
            .items
            .iter()
            .map(|r| r.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0))
            .sum();
        let Ok(pods) = pods.list(&ListParams::default()).await else {
            return (0, 0, usize::MAX);
        };
        let ready = pods
            .items
            .iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
            .filter(|p| {
                p.status
                    .as_ref()
                    .and_then(|s| s.conditions.as_ref())
                    .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
            })
            .count();
        (total, pods.items.len(), ready)
    }
}
