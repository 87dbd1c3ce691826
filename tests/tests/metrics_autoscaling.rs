//! The resource metrics API and the HorizontalPodAutoscaler end to end,
//! against a real etcd and apiserver and with the real kubectl.
//!
//! No real kubelet runs here: a stand-in serves `GET /stats/summary` (the
//! apiserver reaches it as it reaches any kubelet, through the Node's
//! InternalIP and `daemonEndpoints`, with `--kubelet-https=false`), with CPU
//! counters that grow at a rate the test sets. So the whole chain is the
//! real one, scrape -> two samples -> rate -> `metrics.k8s.io` -> `kubectl
//! top` or the HPA controller -> `/scale`, with numbers the test knows.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::routing::get;
use axum::Json;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use serde_json::{json, Value};
use tests::controllers::{
    create_node, set_pod_status, ControlPlane, ControllerManager, FakeKubelet,
};
use tests::harness::eventually;

const T: Duration = Duration::from_secs(60);
const GI: u64 = 1024 * 1024 * 1024;

/// A kubelet's `/stats/summary` for the Running pods of one namespace:
/// every container burns `nanocores` and holds `memory` bytes; the node
/// burns two cores and holds 1 GiB. Counters are integrated over time, so
/// a changed rate never makes them go down.
struct StatsKubelet {
    client: kube::Client,
    namespace: String,
    nanocores: AtomicU64,
    memory: u64,
    started_ms: i64,
    /// Per container (pod uid/container): (last reading ms, counter ns).
    counters: Mutex<HashMap<String, (i64, u64)>>,
}

fn ts(ms: i64) -> String {
    k8s_openapi::jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

async fn summary(State(k): State<Arc<StatsKubelet>>) -> Json<Value> {
    let now = k8s_openapi::jiff::Timestamp::now().as_millisecond();
    let rate = k.nanocores.load(Ordering::SeqCst);
    let api: Api<Pod> = Api::namespaced(k.client.clone(), &k.namespace);
    let pods = api
        .list(&ListParams::default())
        .await
        .map(|l| l.items)
        .unwrap_or_default();
    let mut out = Vec::new();
    let mut counters = k.counters.lock().unwrap_or_else(|p| p.into_inner());
    for pod in pods {
        let running = pod.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running");
        if !running {
            continue;
        }
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        let mut containers = Vec::new();
        for c in pod.spec.iter().flat_map(|s| s.containers.iter()) {
            let entry = counters
                .entry(format!("{uid}/{}", c.name))
                .or_insert((now, 0));
            entry.1 += rate * (now - entry.0).max(0) as u64 / 1000;
            entry.0 = now;
            containers.push(json!({
                "name": c.name,
                "startTime": ts(k.started_ms - 1000),
                "cpu": {"time": ts(now), "usageCoreNanoSeconds": entry.1},
                "memory": {"time": ts(now), "workingSetBytes": k.memory},
            }));
        }
        out.push(json!({
            "podRef": {"name": pod.metadata.name, "namespace": k.namespace, "uid": uid},
            "containers": containers,
        }));
    }
    let node_ns = 2_000_000_000u64 * (now - k.started_ms).max(0) as u64 / 1000;
    Json(json!({
        "node": {
            "nodeName": "n1",
            "startTime": ts(k.started_ms - 1000),
            "cpu": {"time": ts(now), "usageCoreNanoSeconds": node_ns},
            "memory": {"time": ts(now), "workingSetBytes": GI},
        },
        "pods": out,
    }))
}

/// Starts the stand-in kubelet and registers node `n1` pointing at it.
async fn stats_kubelet(
    c: &ControlPlane,
    ns: &str,
    nanocores: u64,
    memory: u64,
) -> Arc<StatsKubelet> {
    let k = Arc::new(StatsKubelet {
        client: c.client.clone(),
        namespace: ns.to_string(),
        nanocores: AtomicU64::new(nanocores),
        memory,
        started_ms: k8s_openapi::jiff::Timestamp::now().as_millisecond(),
        counters: Mutex::default(),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let app = axum::Router::new()
        .route("/stats/summary", get(summary))
        .with_state(Arc::clone(&k));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    create_node(&c.client, "n1", json!({"disk": "ssd"}), json!([])).await;
    let nodes: Api<Node> = Api::all(c.client.clone());
    let status = json!({"status": {
        "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": port}},
        "capacity": {"cpu": "4", "memory": "8Gi", "pods": "110"},
        "allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"},
    }});
    nodes
        .patch_status("n1", &PatchParams::default(), &Patch::Merge(&status))
        .await
        .expect("node status");
    k
}

/// Deployment `web` of `replicas` pods requesting 100m of cpu each.
fn deployment(ns: &str, replicas: i32) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": ns},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "main", "image": "busybox",
                    "resources": {"requests": {"cpu": "100m"}}}]},
            },
        },
    })
}

/// HPA `name` on Deployment `web`: a cpu utilization target.
fn cpu_hpa(name: &str, ns: &str, min: i32, max: i32, utilization: i32) -> Value {
    json!({
        "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "minReplicas": min, "maxReplicas": max,
            "metrics": [{"type": "Resource", "resource": {"name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": utilization}}}],
        },
    })
}

/// The cells of the rows of a kubectl table, header first.
fn rows(out: &str) -> Vec<Vec<String>> {
    out.lines()
        .map(|l| l.split_whitespace().map(str::to_string).collect())
        .filter(|r: &Vec<String>| !r.is_empty())
        .collect()
}

#[tokio::test]
async fn kubectl_top_shows_the_rates_the_kubelet_reports() {
    let c = ControlPlane::start_with(&["--kubelet-https=false", "--metric-resolution", "1s"]).await;
    let ns = c.namespace("top");
    // 250m and 10Mi per container.
    let _kubelet = stats_kubelet(&c, &ns, 250_000_000, 10 * 1024 * 1024).await;
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), &ns);
    for (name, app) in [("busy", "web"), ("idle", "db")] {
        let pod = serde_json::from_value(json!({
            "metadata": {"name": name, "labels": {"app": app}},
            "spec": {"nodeName": "n1", "containers": [
                {"name": "main", "image": "busybox"}, {"name": "side", "image": "busybox"}]},
        }))
        .expect("pod");
        pods.create(&PostParams::default(), &pod)
            .await
            .expect("create pod");
        set_pod_status(&c.client, &ns, name, "Running", true)
            .await
            .expect("pod status");
    }
    // Two scrapes later the rates are served.
    let top = eventually(T, || async {
        let out = c.kubectl(&["top", "pods", "-n", &ns]);
        (out.success && out.stdout.contains("busy")).then_some(out.stdout)
    })
    .await
    .expect("kubectl top pods shows the pods");
    let r = rows(&top);
    assert_eq!(r[0], ["NAME", "CPU(cores)", "MEMORY(bytes)"]);
    assert!(
        r.contains(&vec!["busy".into(), "500m".into(), "20Mi".into()]),
        "{top}"
    );
    // Per container, and by label selector.
    let out = c.kubectl(&["top", "pods", "-n", &ns, "-l", "app=web", "--containers"]);
    assert!(out.success, "{}", out.stderr);
    let r = rows(&out.stdout);
    assert_eq!(r[0], ["POD", "NAME", "CPU(cores)", "MEMORY(bytes)"]);
    assert_eq!(
        r[1..],
        [
            ["busy", "main", "250m", "10Mi"],
            ["busy", "side", "250m", "10Mi"]
        ],
        "{}",
        out.stdout
    );
    // The node: 2 cores of 4 allocatable, 1 GiB of 8.
    let out = c.kubectl(&["top", "nodes"]);
    assert!(out.success, "{}", out.stderr);
    let r = rows(&out.stdout);
    assert_eq!(
        r[1],
        ["n1", "2000m", "50%", "1024Mi", "12%"],
        "{}",
        out.stdout
    );
    // The objects themselves: labels, window, and the Table kubectl get prints.
    let http = c.api.http();
    let path = format!("/apis/metrics.k8s.io/v1beta1/namespaces/{ns}/pods/busy");
    let m = eventually(T, || async {
        let m = http.get(&path).await.expect("get podmetrics");
        (m.status == 200).then_some(m)
    })
    .await
    .expect("podmetrics of busy");
    assert_eq!(m.body["kind"], "PodMetrics");
    assert_eq!(m.body["metadata"]["labels"]["app"], "web");
    assert_eq!(m.body["containers"][0]["usage"]["cpu"], "250m");
    assert!(m.body["window"].as_str().is_some_and(|w| w.ends_with('s')));
    // A scrape that times out on a loaded machine drops the node's pods
    // until the next one (as metrics-server does): read until it is back.
    let out = eventually(T, || async {
        let out = c.kubectl(&["get", "podmetrics.metrics.k8s.io", "-n", &ns, "busy"]);
        out.success.then_some(out.stdout)
    })
    .await
    .expect("kubectl get podmetrics");
    assert_eq!(rows(&out)[0], ["NAME", "CPU", "MEMORY", "WINDOW"]);
    // Read-only: anything else is refused.
    let del = http
        .delete(
            &format!("/apis/metrics.k8s.io/v1beta1/namespaces/{ns}/pods/busy"),
            None,
        )
        .await
        .expect("delete");
    assert_eq!(del.status, 405, "{}", del.body);
    // In discovery, legacy and aggregated.
    let groups = http.get("/apis").await.expect("discovery");
    assert!(
        groups.body["groups"]
            .as_array()
            .is_some_and(|g| g.iter().any(|g| g["name"] == "metrics.k8s.io")),
        "{}",
        groups.body
    );
    let (code, _, body) = http
        .get_accepting(
            "/apis",
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList",
        )
        .await
        .expect("aggregated discovery");
    assert_eq!(code, 200);
    let body: Value = serde_json::from_slice(&body).expect("json");
    let metrics_group = body["items"]
        .as_array()
        .and_then(|g| g.iter().find(|g| g["metadata"]["name"] == "metrics.k8s.io"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(metrics_group["versions"][0]["version"], "v1beta1", "{body}");
    // A pod that does not exist has no metrics.
    let missing = http
        .get(&format!(
            "/apis/metrics.k8s.io/v1beta1/namespaces/{ns}/pods/nope"
        ))
        .await
        .expect("get");
    assert_eq!(missing.status, 404);
}

#[tokio::test]
async fn hpa_scales_a_deployment_up_under_load_and_down_after_the_window() {
    let c = ControlPlane::start_with(&["--kubelet-https=false", "--metric-resolution", "1s"]).await;
    let ns = c.namespace("hpa");
    // Under load: 200m per pod, against a request of 100m and a target of 50%.
    let kubelet = stats_kubelet(&c, &ns, 200_000_000, 64 * 1024 * 1024).await;
    let _fake = FakeKubelet::start(c.client.clone(), &ns, Duration::ZERO);
    let _cm = ControllerManager::start(
        &c.url,
        &["deployment", "replicaset", "horizontalpodautoscaling"],
        |cfg| {
            cfg.hpa.sync_period = Duration::from_secs(1);
            cfg.hpa.downscale_stabilization = Duration::from_secs(5);
        },
    )
    .await;
    c.apply(&deployment(&ns, 1));
    c.apply(&cpu_hpa("web", &ns, 1, 5, 50));
    let deployments: Api<Deployment> = Api::namespaced(c.client.clone(), &ns);
    let replicas = |want: i32| {
        let d = deployments.clone();
        async move {
            eventually(T, || async {
                let got = d.get("web").await.ok()?.spec?.replicas?;
                (got == want).then_some(())
            })
            .await
        }
    };
    // 400% of the target: 1 -> 4 (at most max(2 x 1, 4) at once), then the
    // new pods are as busy: 5, the maximum.
    assert!(replicas(4).await.is_some(), "scaled up to 4");
    assert!(replicas(5).await.is_some(), "scaled up to 5");
    let out = c.kubectl(&["describe", "hpa", "web", "-n", &ns]);
    assert!(out.success, "{}", out.stderr);
    assert!(
        out.stdout.contains(
            "New size: 4; reason: cpu resource utilization (percentage of request) above target"
        ),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("SuccessfulRescale"), "{}", out.stdout);
    assert!(out.stdout.contains("ScalingLimited"), "{}", out.stdout);
    // The load stops: after the stabilization window, back to the minimum.
    kubelet.nanocores.store(0, Ordering::SeqCst);
    assert!(replicas(1).await.is_some(), "scaled down to 1");
    let hpas: Api<k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler> =
        Api::namespaced(c.client.clone(), &ns);
    let status = eventually(T, || async {
        let st = hpas.get("web").await.ok()?.status?;
        (st.desired_replicas == 1 && st.current_replicas == Some(1)).then_some(st)
    })
    .await
    .expect("status follows");
    assert!(status.last_scale_time.is_some());
    let metric = &status.current_metrics.unwrap_or_default()[0];
    assert_eq!(
        metric
            .resource
            .as_ref()
            .map(|r| r.current.average_utilization),
        Some(Some(0))
    );
    let out = c.kubectl(&["describe", "hpa", "web", "-n", &ns]);
    assert!(
        out.stdout.contains("reason: All metrics below target"),
        "{}",
        out.stdout
    );
    let out = c.kubectl(&["get", "hpa", "web", "-n", &ns]);
    assert!(out.stdout.contains("cpu: 0%/50%"), "{}", out.stdout);
}

#[tokio::test]
async fn hpa_reports_a_target_without_metrics() {
    let c = ControlPlane::start_with(&["--metric-resolution", "0s"]).await;
    let ns = c.namespace("nometrics");
    let _fake = FakeKubelet::start(c.client.clone(), &ns, Duration::ZERO);
    let _cm = ControllerManager::start(
        &c.url,
        &["deployment", "replicaset", "horizontalpodautoscaling"],
        |cfg| cfg.hpa.sync_period = Duration::from_secs(1),
    )
    .await;
    c.apply(&deployment(&ns, 2));
    c.apply(&cpu_hpa("web", &ns, 1, 3, 60));
    let hpas: Api<k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler> =
        Api::namespaced(c.client.clone(), &ns);
    let cond = eventually(T, || async {
        let st = hpas.get("web").await.ok()?.status?;
        st.conditions?
            .into_iter()
            .find(|c| c.type_ == "ScalingActive" && c.status == "False")
    })
    .await
    .expect("ScalingActive=False");
    assert_eq!(cond.reason.as_deref(), Some("FailedGetResourceMetric"));
    assert_eq!(
        cond.message.as_deref(),
        Some("the HPA was unable to compute the replica count: failed to get cpu utilization: unable to get metrics for resource cpu: no metrics returned from resource metrics API")
    );
    // Nothing was scaled.
    let d: Api<Deployment> = Api::namespaced(c.client.clone(), &ns);
    assert_eq!(
        d.get("web")
            .await
            .expect("deployment")
            .spec
            .and_then(|s| s.replicas),
        Some(2)
    );
    let out = c.kubectl(&["describe", "hpa", "web", "-n", &ns]);
    assert!(
        out.stdout.contains("FailedGetResourceMetric"),
        "{}",
        out.stdout
    );
    // A second HPA on the same pods: both stop, as upstream's do.
    c.apply(&cpu_hpa("web2", &ns, 1, 3, 60));
    let want =
        format!("pods by selector app=web are controlled by multiple HPAs: [{ns}/web {ns}/web2]");
    let cond = eventually(T, || async {
        let st = hpas.get("web2").await.ok()?.status?;
        st.conditions?.into_iter().find(|c| {
            c.type_ == "ScalingActive" && c.reason.as_deref() == Some("AmbiguousSelector")
        })
    })
    .await
    .expect("AmbiguousSelector");
    assert_eq!(cond.message.as_deref(), Some(want.as_str()));
}
