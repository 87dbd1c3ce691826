//! RuntimeClass admission on a real apiserver: a pod that names a class gets
//! its overhead and scheduling, and one that names a missing class is
//! refused with upstream's message (conformance: "should schedule a Pod
//! requesting a RuntimeClass and initialize its Overhead", "should reject a
//! Pod requesting a non-existent RuntimeClass").

use serde_json::json;
use tests::harness::{ApiServer, Etcd};

#[tokio::test]
async fn a_pod_gets_its_runtime_class_overhead_and_scheduling() {
    let etcd = Etcd::start().await.expect("etcd");
    let api = ApiServer::start(&etcd).await.expect("apiserver");
    let http = api.http();
    let class = json!({
        "apiVersion": "node.k8s.io/v1", "kind": "RuntimeClass",
        "metadata": {"name": "sandboxed"}, "handler": "test-handler",
        "overhead": {"podFixed": {"cpu": "10m", "memory": "1Mi"}},
        "scheduling": {"nodeSelector": {"sandbox": "yes"},
                       "tolerations": [{"key": "sandbox", "operator": "Exists"}]},
    });
    let r = http
        .post("/apis/node.k8s.io/v1/runtimeclasses", &class)
        .await
        .expect("req");
    assert_eq!(r.status, 201, "{}", r.body);
    let pod = |name: &str, class: &str| {
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
               "spec": {"runtimeClassName": class,
                        "containers": [{"name": "c", "image": "busybox"}]}})
    };
    let pods = "/api/v1/namespaces/default/pods";
    let r = http.post(pods, &pod("p1", "sandboxed")).await.expect("req");
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(
        r.body["spec"]["overhead"],
        json!({"cpu": "10m", "memory": "1Mi"})
    );
    assert_eq!(r.body["spec"]["nodeSelector"], json!({"sandbox": "yes"}));
    assert_eq!(
        r.body["spec"]["tolerations"][0]["key"], "sandbox",
        "{}",
        r.body
    );

    let r = http.post(pods, &pod("p2", "nope")).await.expect("req");
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(
        r.body["message"],
        "pods \"p2\" is forbidden: pod rejected: RuntimeClass \"nope\" not found"
    );
    let mut own = pod("p3", "sandboxed");
    own["spec"]["overhead"] = json!({"cpu": "1"});
    let r = http.post(pods, &own).await.expect("req");
    assert_eq!(r.status, 403, "{}", r.body);
}
