//! HorizontalPodAutoscalers served at `autoscaling/v2` (stored) and
//! `autoscaling/v1` (converted), against a real etcd and apiserver, with
//! the real kubectl: `kubectl autoscale` (which posts v1) creates one that
//! v2 reads with a cpu metric; a memory metric set in v2 travels through
//! v1 in its annotation and survives a v1 update and v1 patches; server-side
//! apply and `/status` work at v1; a watch at v1 sees v1 objects; discovery
//! lists both versions with v2 preferred; a bad v1 object is a 422 Status;
//! `kubectl explain` and validation read v1's own schema.

use std::time::Duration;

use serde_json::{json, Value};
use tests::harness::{kubectl, ApiServer, Etcd};

const V1: &str = "/apis/autoscaling/v1/namespaces/default/horizontalpodautoscalers";
const V2: &str = "/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers";
const METRICS: &str = "autoscaling.alpha.kubernetes.io/metrics";

fn deployment(name: &str) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}})
}

fn memory_metric() -> Value {
    json!({"type": "Resource", "resource": {"name": "memory",
        "target": {"type": "AverageValue", "averageValue": "100Mi"}}})
}

#[tokio::test]
async fn autoscaling_v1_and_v2_serve_the_same_objects() {
    let etcd = Etcd::start().await.expect("etcd");
    let api = ApiServer::start(&etcd).await.expect("apiserver");
    let http = api.http();
    let k = |args: &[&str]| kubectl(&api.url, args).expect("kubectl runs");

    // Discovery: both versions, v2 preferred; kubectl sees both.
    let group = http.get("/apis/autoscaling").await.expect("group");
    assert_eq!(group.status, 200, "{}", group.body);
    assert_eq!(group.body["preferredVersion"]["version"], "v2");
    let versions: Vec<&str> = group.body["versions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v["version"].as_str())
        .collect();
    assert_eq!(versions, vec!["v2", "v1"]);
    let v1_list = http
        .get("/apis/autoscaling/v1")
        .await
        .expect("v1 resources");
    let hpa = v1_list.body["resources"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["name"] == "horizontalpodautoscalers")
        .cloned()
        .unwrap_or_else(|| panic!("no hpa in autoscaling/v1: {}", v1_list.body));
    assert_eq!(hpa["kind"], "HorizontalPodAutoscaler");
    assert!(hpa["shortNames"].to_string().contains("hpa"), "{hpa}");
    let api_versions = k(&["api-versions"]);
    assert!(
        api_versions.stdout.contains("autoscaling/v1"),
        "{api_versions:?}"
    );
    assert!(
        api_versions.stdout.contains("autoscaling/v2"),
        "{api_versions:?}"
    );
    let resources = k(&["api-resources", "--api-group=autoscaling"]);
    assert!(
        resources.success && resources.stdout.contains("autoscaling/v2"),
        "{resources:?}"
    );

    // `kubectl autoscale` posts autoscaling/v1.
    let r = http
        .post(
            "/apis/apps/v1/namespaces/default/deployments",
            &deployment("web"),
        )
        .await
        .expect("deployment");
    assert_eq!(r.status, 201, "{}", r.body);
    let out = k(&[
        "autoscale",
        "deployment",
        "web",
        "--min=1",
        "--max=3",
        "--cpu-percent=50",
    ]);
    assert!(out.success, "{out:?}");
    // Stored in v2.
    let (stored, _) = etcd
        .get_raw("/registry/horizontalpodautoscalers/default/web")
        .await
        .expect("etcd")
        .expect("stored");
    assert_eq!(stored["apiVersion"], "autoscaling/v2", "{stored}");
    // `kubectl get -o yaml` reads the preferred v2: a cpu metric.
    let yaml = k(&["get", "hpa", "web", "-o", "yaml"]);
    assert!(yaml.success, "{yaml:?}");
    assert!(
        yaml.stdout.contains("apiVersion: autoscaling/v2"),
        "{}",
        yaml.stdout
    );
    assert!(
        yaml.stdout.contains("averageUtilization: 50"),
        "{}",
        yaml.stdout
    );
    assert!(yaml.stdout.contains("name: cpu"), "{}", yaml.stdout);
    // The v1 view.
    let v1 = http.get(&format!("{V1}/web")).await.expect("get v1");
    assert_eq!(v1.status, 200, "{}", v1.body);
    assert_eq!(v1.body["apiVersion"], "autoscaling/v1");
    assert_eq!(v1.body["spec"]["targetCPUUtilizationPercentage"], 50);
    assert_eq!(v1.body["spec"]["minReplicas"], 1);
    assert!(v1.body["spec"].get("metrics").is_none(), "{}", v1.body);
    // Same columns at both versions.
    let table = k(&["get", "horizontalpodautoscalers.v1.autoscaling", "web"]);
    assert!(table.success, "{table:?}");
    assert!(
        table.stdout.contains("REFERENCE") && table.stdout.contains("cpu: <unknown>/50%"),
        "{}",
        table.stdout
    );
    assert!(table.stdout.contains("Deployment/web"), "{}", table.stdout);

    // A watch at v1 from now on.
    let rv = http.get(V1).await.expect("list v1").body["metadata"]["resourceVersion"]
        .as_str()
        .unwrap_or("0")
        .to_string();
    let mut watch = http
        .watch(&format!("{V1}?watch=true&resourceVersion={rv}"))
        .await
        .expect("watch");
    assert_eq!(watch.status, 200);

    // A v2 object with a memory metric besides cpu.
    let created = http
        .post(
            V2,
            &json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
                "metadata": {"name": "mem"},
                "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                    "minReplicas": 1, "maxReplicas": 4,
                    "metrics": [memory_metric(), {"type": "Resource", "resource": {"name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": 70}}}]}}),
        )
        .await
        .expect("create v2");
    assert_eq!(created.status, 201, "{}", created.body);
    let event = watch
        .next(Duration::from_secs(10))
        .await
        .expect("an event at v1");
    assert_eq!(event["type"], "ADDED", "{event}");
    assert_eq!(event["object"]["apiVersion"], "autoscaling/v1", "{event}");
    assert_eq!(
        event["object"]["spec"]["targetCPUUtilizationPercentage"],
        70
    );
    // Read at v1: the memory metric is in the annotation.
    let mut v1 = http.get(&format!("{V1}/mem")).await.expect("get v1").body;
    let annotation = v1["metadata"]["annotations"][METRICS]
        .as_str()
        .unwrap_or_else(|| panic!("no {METRICS} annotation: {v1}"))
        .to_string();
    assert!(annotation.contains("memory"), "{annotation}");
    assert_eq!(v1["spec"]["targetCPUUtilizationPercentage"], 70);
    // Written back at v1 with another cpu target: the memory metric stays.
    v1["spec"]["targetCPUUtilizationPercentage"] = json!(60);
    let put = http.put(&format!("{V1}/mem"), &v1).await.expect("put v1");
    assert_eq!(put.status, 200, "{}", put.body);
    assert_eq!(put.body["apiVersion"], "autoscaling/v1");
    assert_eq!(put.body["spec"]["targetCPUUtilizationPercentage"], 60);
    let v2 = http.get(&format!("{V2}/mem")).await.expect("get v2").body;
    assert_eq!(
        v2["spec"]["metrics"],
        json!([memory_metric(), {"type": "Resource", "resource": {"name": "cpu",
            "target": {"type": "Utilization", "averageUtilization": 60}}}]),
        "{v2}"
    );
    assert!(v2["metadata"]["annotations"].get(METRICS).is_none(), "{v2}");
    let event = watch
        .next(Duration::from_secs(10))
        .await
        .expect("a MODIFIED at v1");
    assert_eq!(event["type"], "MODIFIED", "{event}");
    assert_eq!(event["object"]["apiVersion"], "autoscaling/v1");
    assert_eq!(
        event["object"]["spec"]["targetCPUUtilizationPercentage"],
        60
    );

    // Patches apply to the v1 object: merge, json and strategic.
    for (content_type, patch, want) in [
        (
            "application/merge-patch+json",
            json!({"spec": {"maxReplicas": 5}}),
            5,
        ),
        (
            "application/json-patch+json",
            json!([{"op": "replace", "path": "/spec/maxReplicas", "value": 6}]),
            6,
        ),
        (
            "application/strategic-merge-patch+json",
            json!({"spec": {"maxReplicas": 7}}),
            7,
        ),
    ] {
        let r = http
            .patch(&format!("{V1}/mem"), content_type, &patch)
            .await
            .expect("patch v1");
        assert_eq!(r.status, 200, "{content_type}: {}", r.body);
        assert_eq!(r.body["apiVersion"], "autoscaling/v1");
        assert_eq!(r.body["spec"]["maxReplicas"], want);
    }
    let v2 = http.get(&format!("{V2}/mem")).await.expect("get v2").body;
    assert_eq!(v2["spec"]["maxReplicas"], 7);
    assert_eq!(v2["spec"]["metrics"][0], memory_metric(), "{v2}");
    // A json patch naming a field only v2 has fails: the patch is applied
    // to the v1 object.
    let r = http
        .patch(
            &format!("{V1}/mem"),
            "application/json-patch+json",
            &json!([{"op": "replace", "path": "/spec/metrics/0/type", "value": "Pods"}]),
        )
        .await
        .expect("patch v1");
    assert_ne!(r.status, 200, "{}", r.body);

    // Server-side apply at v1.
    let applied = http
        .patch(
            &format!("{V1}/applied?fieldManager=test"),
            "application/apply-patch+yaml",
            &json!({"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler",
                "metadata": {"name": "applied"},
                "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                    "maxReplicas": 2, "targetCPUUtilizationPercentage": 40}}),
        )
        .await
        .expect("apply v1");
    assert_eq!(applied.status, 201, "{}", applied.body);
    assert_eq!(applied.body["apiVersion"], "autoscaling/v1");
    let v2 = http
        .get(&format!("{V2}/applied"))
        .await
        .expect("get v2")
        .body;
    assert_eq!(
        v2["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"],
        40
    );

    // A status written at v1 (as an old controller would): v2 reads the
    // percentage as the cpu metric's current utilization.
    let mut v1 = http
        .get(&format!("{V1}/applied"))
        .await
        .expect("get v1")
        .body;
    v1["status"] = json!({"currentReplicas": 1, "desiredReplicas": 2,
        "currentCPUUtilizationPercentage": 33});
    let r = http
        .put(&format!("{V1}/applied/status"), &v1)
        .await
        .expect("put status v1");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["status"]["currentCPUUtilizationPercentage"], 33);
    let v2 = http
        .get(&format!("{V2}/applied"))
        .await
        .expect("get v2")
        .body;
    assert_eq!(v2["status"]["desiredReplicas"], 2, "{v2}");
    assert_eq!(
        v2["status"]["currentMetrics"][0]["resource"]["current"]["averageUtilization"], 33,
        "{v2}"
    );

    // A bad v1 object: 422 with the field named.
    let bad = http
        .post(
            V1,
            &json!({"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler",
                "metadata": {"name": "bad"},
                "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "maxReplicas": 0}}),
        )
        .await
        .expect("post bad");
    assert_eq!(bad.status, 422, "{}", bad.body);
    assert_eq!(bad.body["kind"], "Status");
    assert_eq!(bad.body["reason"], "Invalid");
    assert_eq!(
        bad.body["details"]["causes"][0]["field"], "spec.maxReplicas",
        "{}",
        bad.body
    );

    // Lists at v1 are v1; deletes answer in v1.
    let list = http.get(V1).await.expect("list v1").body;
    assert_eq!(list["kind"], "HorizontalPodAutoscalerList");
    assert_eq!(list["apiVersion"], "autoscaling/v1");
    for item in list["items"].as_array().into_iter().flatten() {
        assert!(item["spec"].get("metrics").is_none(), "{item}");
    }
    let deleted = http
        .delete(&format!("{V1}/mem"), None)
        .await
        .expect("delete v1");
    assert_eq!(deleted.status, 200, "{}", deleted.body);
    assert_eq!(
        deleted.body["apiVersion"], "autoscaling/v1",
        "{}",
        deleted.body
    );
    let event = watch.next(Duration::from_secs(10)).await;
    // The delete may follow the MODIFIED events of the patches.
    let mut last = event;
    while let Some(e) = &last {
        if e["type"] == "DELETED" {
            break;
        }
        assert_eq!(e["object"]["apiVersion"], "autoscaling/v1", "{e}");
        last = watch.next(Duration::from_secs(10)).await;
    }
    let e = last.expect("a DELETED at v1");
    assert_eq!(e["object"]["apiVersion"], "autoscaling/v1", "{e}");
}

#[tokio::test]
async fn kubectl_explains_and_validates_autoscaling_v1() {
    let etcd = Etcd::start().await.expect("etcd");
    let api = ApiServer::start(&etcd).await.expect("apiserver");
    let k = |args: &[&str]| kubectl(&api.url, args).expect("kubectl runs");
    let explain = k(&["explain", "hpa.spec", "--api-version=autoscaling/v1"]);
    assert!(explain.success, "{explain:?}");
    assert!(
        explain.stdout.contains("targetCPUUtilizationPercentage"),
        "{}",
        explain.stdout
    );
    let explain = k(&["explain", "hpa.spec"]);
    assert!(explain.stdout.contains("metrics"), "{}", explain.stdout);
    // Client-side validation of a v1 manifest (kubectl's default
    // --validate=strict reads the v1 schema).
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("hpa.yaml");
    std::fs::write(
        &path,
        "apiVersion: autoscaling/v1\nkind: HorizontalPodAutoscaler\nmetadata: {name: x}\nspec:\n  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}\n  maxReplicas: 3\n  targetCPUUtilizationPercentage: 50\n  bogus: 1\n",
    )
    .expect("write");
    let file = path.to_string_lossy().to_string();
    let refused = k(&["apply", "-f", &file]);
    assert!(!refused.success, "{refused:?}");
    assert!(refused.stderr.contains("bogus"), "{}", refused.stderr);
    std::fs::write(
        &path,
        "apiVersion: autoscaling/v1\nkind: HorizontalPodAutoscaler\nmetadata: {name: x}\nspec:\n  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}\n  maxReplicas: 3\n  targetCPUUtilizationPercentage: 50\n",
    )
    .expect("write");
    let applied = k(&["apply", "-f", &file]);
    assert!(applied.success, "{applied:?}");
    let again = k(&["apply", "-f", &file]);
    assert!(
        again.success && again.stdout.contains("unchanged"),
        "{again:?}"
    );
}
