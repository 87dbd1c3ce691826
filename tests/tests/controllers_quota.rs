//! ResourceQuota and LimitRange end to end against a real apiserver and
//! etcd: quota admission refuses and charges creates, the quota controller
//! recomputes the usage (and frees it on delete), and LimitRanger fills in
//! and bounds a pod's resources, with upstream's messages.

use std::time::Duration;

use k8s_openapi::api::core::v1::{Pod, ResourceQuota};
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use serde_json::{json, Value};
use tests::controllers::{ControlPlane, ControllerManager};
use tests::harness::eventually;

const T: Duration = Duration::from_secs(30);

fn pod(name: &str, resources: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
        "spec": {"containers": [{"name": "c", "image": "busybox:1.36", "resources": resources}]}})
}

/// `status.used[name]` of quota `q` once it equals `want`.
async fn wait_used(quotas: &Api<ResourceQuota>, q: &str, name: &str, want: &str) {
    let got = eventually(T, || async {
        let rq = quotas.get(q).await.ok()?;
        let used = rq.status?.used?;
        (used.get(name)?.0 == want).then_some(())
    })
    .await;
    if got.is_none() {
        panic!(
            "{q}: {name} never reached {want}: {:?}",
            quotas.get(q).await.ok().and_then(|r| r.status)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quota_of_two_pods_refuses_the_third_and_frees_on_delete() {
    let c = ControlPlane::start().await;
    let _cm = ControllerManager::start(&c.url, &["resourcequota"], |_| {}).await;
    let ns = c.namespace("quota");
    let http = c.api.http();
    let pods_url = format!("/api/v1/namespaces/{ns}/pods");
    let quotas_url = format!("/api/v1/namespaces/{ns}/resourcequotas");
    let quotas: Api<ResourceQuota> = Api::namespaced(c.client.clone(), &ns);

    // A malformed quantity is a 422.
    let bad = json!({"metadata": {"name": "bad"}, "spec": {"hard": {"pods": "two"}}});
    let r = http.post(&quotas_url, &bad).await.expect("post");
    assert_eq!(r.status, 422, "{}", r.body);

    let q = json!({"metadata": {"name": "q"}, "spec": {"hard": {"pods": "2", "configmaps": "1"}}});
    let r = http.post(&quotas_url, &q).await.expect("post");
    assert_eq!(r.status, 201, "{}", r.body);
    // The controller fills in the status.
    wait_used(&quotas, "q", "pods", "0").await;
    let rq = quotas.get("q").await.expect("quota");
    let hard = rq.status.and_then(|s| s.hard).unwrap_or_default();
    assert_eq!(hard.get("pods").map(|q| q.0.as_str()), Some("2"));

    for name in ["p1", "p2"] {
        let r = http
            .post(&pods_url, &pod(name, json!({})))
            .await
            .expect("post");
        assert_eq!(r.status, 201, "{}", r.body);
    }
    // Charged by admission, before the controller looks.
    let used = quotas
        .get("q")
        .await
        .expect("quota")
        .status
        .and_then(|s| s.used);
    assert_eq!(
        used.and_then(|u| u.get("pods").map(|q| q.0.clone()))
            .as_deref(),
        Some("2")
    );
    let r = http
        .post(&format!("{pods_url}?dryRun=All"), &pod("p3", json!({})))
        .await
        .expect("post");
    assert_eq!(r.status, 403, "a dry run is refused too: {}", r.body);
    let r = http
        .post(&pods_url, &pod("p3", json!({})))
        .await
        .expect("post");
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(r.body["reason"], "Forbidden");
    assert_eq!(
        r.body["message"],
        "pods \"p3\" is forbidden: exceeded quota: q, requested: pods=1, used: pods=2, limited: pods=2"
    );

    // Deleting a pod frees its share: the controller recomputes the usage.
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), &ns);
    pods.delete("p1", &DeleteParams::default().grace_period(0))
        .await
        .expect("delete");
    wait_used(&quotas, "q", "pods", "1").await;
    // A dry run is judged but charges nothing.
    let dry = format!("{pods_url}?dryRun=All");
    let r = http.post(&dry, &pod("dry", json!({}))).await.expect("post");
    assert_eq!(r.status, 201, "{}", r.body);
    let used = quotas
        .get("q")
        .await
        .expect("quota")
        .status
        .and_then(|s| s.used);
    assert_eq!(
        used.and_then(|u| u.get("pods").map(|q| q.0.clone()))
            .as_deref(),
        Some("1")
    );
    let r = http
        .post(&pods_url, &pod("p3", json!({})))
        .await
        .expect("post");
    assert_eq!(r.status, 201, "{}", r.body);

    // Object counts of other kinds: one configmap fits, the second does not.
    let cm = |n: &str| json!({"metadata": {"name": n}, "data": {"k": "v"}});
    let cms = format!("/api/v1/namespaces/{ns}/configmaps");
    let r = http.post(&cms, &cm("one")).await.expect("post");
    assert_eq!(r.status, 201, "{}", r.body);
    let r = http.post(&cms, &cm("two")).await.expect("post");
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(
        r.body["message"],
        "configmaps \"two\" is forbidden: exceeded quota: q, requested: configmaps=1, used: configmaps=1, limited: configmaps=1"
    );

    // A quota on cpu makes pods state it.
    let cpu = json!({"metadata": {"name": "cpu"}, "spec": {"hard": {"limits.cpu": "1"}}});
    let r = http.post(&quotas_url, &cpu).await.expect("post");
    assert_eq!(r.status, 201, "{}", r.body);
    wait_used(&quotas, "cpu", "limits.cpu", "0").await;
    // Raise the pod count so only cpu decides.
    quotas
        .patch(
            "q",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"hard": {"pods": "10"}}})),
        )
        .await
        .expect("raise");
    eventually(T, || async {
        let h = quotas.get("q").await.ok()?.status?.hard?;
        (h.get("pods")?.0 == "10").then_some(())
    })
    .await
    .expect("the controller never copied the new hard limit");
    let r = http
        .post(&pods_url, &pod("free", json!({})))
        .await
        .expect("post");
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(
        r.body["message"],
        "pods \"free\" is forbidden: failed quota: cpu: must specify limits.cpu for: c"
    );
    let r = http
        .post(&pods_url, &pod("small", json!({"limits": {"cpu": "600m"}})))
        .await
        .expect("post");
    assert_eq!(r.status, 201, "{}", r.body);
    let r = http
        .post(&pods_url, &pod("more", json!({"limits": {"cpu": "600m"}})))
        .await
        .expect("post");
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(
        r.body["message"],
        "pods \"more\" is forbidden: exceeded quota: cpu, requested: limits.cpu=600m, used: limits.cpu=600m, limited: limits.cpu=1"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_limit_range_defaults_and_bounds_container_resources() {
    let c = ControlPlane::start().await;
    let ns = c.namespace("limits");
    let http = c.api.http();
    let lr = json!({"metadata": {"name": "lr"}, "spec": {"limits": [{"type": "Container",
        "default": {"cpu": "500m", "memory": "128Mi"},
        "defaultRequest": {"cpu": "100m", "memory": "64Mi"},
        "max": {"cpu": "1"}}]}});
    let r = http
        .post(&format!("/api/v1/namespaces/{ns}/limitranges"), &lr)
        .await
        .expect("post");
    assert_eq!(r.status, 201, "{}", r.body);
    let pods_url = format!("/api/v1/namespaces/{ns}/pods");

    let r = http
        .post(&pods_url, &pod("plain", json!({})))
        .await
        .expect("post");
    assert_eq!(r.status, 201, "{}", r.body);
    let res = &r.body["spec"]["containers"][0]["resources"];
    assert_eq!(res["limits"], json!({"cpu": "500m", "memory": "128Mi"}));
    assert_eq!(res["requests"], json!({"cpu": "100m", "memory": "64Mi"}));
    assert_eq!(
        r.body["metadata"]["annotations"]["kubernetes.io/limit-ranger"],
        "LimitRanger plugin set: cpu, memory request for container c; cpu, memory limit for container c"
    );
    assert_eq!(r.body["status"]["qosClass"], "Burstable");

    let r = http
        .post(&pods_url, &pod("big", json!({"limits": {"cpu": "2"}})))
        .await
        .expect("post");
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(
        r.body["message"],
        "pods \"big\" is forbidden: maximum cpu usage per Container is 1, but limit is 2"
    );
    // The same through the real kubectl: the default shows in the pod.
    let out = c.kubectl(&[
        "get",
        "pod",
        "plain",
        "-n",
        &ns,
        "-o",
        "jsonpath={.spec.containers[0].resources.limits.cpu}",
    ]);
    assert!(out.success, "{}", out.stderr);
    assert_eq!(out.stdout, "500m");
}

/// Upstream's conformance spec "ReplicationController should surface a
/// failure condition on a common issue like exceeded quota": the quota's
/// status is synced, the refused creates show as `ReplicaFailure`, and the
/// condition goes once the controller fits the quota.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replication_controller_over_quota_reports_replica_failure() {
    let c = ControlPlane::start().await;
    let _cm =
        ControllerManager::start(&c.url, &["resourcequota", "replicationcontroller"], |_| {}).await;
    let ns = c.namespace("rc-quota");
    let http = c.api.http();
    let quotas: Api<ResourceQuota> = Api::namespaced(c.client.clone(), &ns);
    let q = json!({"metadata": {"name": "condition-test"}, "spec": {"hard": {"pods": "2"}}});
    let r = http
        .post(&format!("/api/v1/namespaces/{ns}/resourcequotas"), &q)
        .await
        .expect("post");
    assert_eq!(r.status, 201, "{}", r.body);
    wait_used(&quotas, "condition-test", "pods", "0").await;

    let rcs_url = format!("/api/v1/namespaces/{ns}/replicationcontrollers");
    let rc = json!({"metadata": {"name": "condition-test"}, "spec": {"replicas": 3,
        "selector": {"name": "condition-test"},
        "template": {"metadata": {"labels": {"name": "condition-test"}},
            "spec": {"containers": [{"name": "c", "image": "busybox:1.36"}]}}}});
    let r = http.post(&rcs_url, &rc).await.expect("post");
    assert_eq!(r.status, 201, "{}", r.body);
    let condition = |body: &Value| {
        body["status"]["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["type"] == "ReplicaFailure")
            .cloned()
    };
    let rc_url = format!("{rcs_url}/condition-test");
    let failure = eventually(T, || async {
        let r = http.get(&rc_url).await.ok()?;
        condition(&r.body)
    })
    .await
    .expect("no ReplicaFailure condition");
    assert_eq!(failure["reason"], "FailedCreate");
    let message = failure["message"].as_str().unwrap_or("");
    assert!(
        message.contains("exceeded quota: condition-test"),
        "{message}"
    );

    let r = http
        .patch(
            &rc_url,
            "application/merge-patch+json",
            &json!({"spec": {"replicas": 2}}),
        )
        .await
        .expect("scale");
    assert_eq!(r.status, 200, "{}", r.body);
    eventually(T, || async {
        let r = http.get(&rc_url).await.ok()?;
        let observed = r.body["status"]["observedGeneration"] == r.body["metadata"]["generation"];
        (observed && condition(&r.body).is_none()).then_some(())
    })
    .await
    .expect("the ReplicaFailure condition stayed");
}
