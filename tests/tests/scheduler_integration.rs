//! The scheduler against a real apiserver and etcd: Node objects created
//! over the API (no kubelet), pods created over HTTP, the scheduler running
//! in-process from its library.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tests::harness::{eventually, unique, ApiServer, Etcd, Http};

struct Cluster {
    _etcd: Etcd,
    api: ApiServer,
    http: Http,
}

async fn cluster() -> Cluster {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let etcd = Etcd::start().await.expect("etcd");
    let api = ApiServer::start(&etcd).await.expect("apiserver");
    let http = api.http();
    Cluster {
        _etcd: etcd,
        api,
        http,
    }
}

fn config() -> scheduler::Config {
    scheduler::Config {
        backoff: scheduler::queue::Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_millis(500),
        },
        ..Default::default()
    }
}

async fn client(url: &str) -> kube::Client {
    scheduler::config::client(None, Some(url))
        .await
        .expect("client")
}

/// Runs a scheduler until the handle is dropped.
struct Running(tokio::task::JoinHandle<scheduler::Result<()>>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn start_scheduler(url: &str, cfg: scheduler::Config) -> (Running, Arc<scheduler::Metrics>) {
    let metrics = Arc::new(scheduler::Metrics::default());
    let c = client(url).await;
    let m = Arc::clone(&metrics);
    let h = tokio::spawn(async move { scheduler::run_with_metrics(c, cfg, m).await });
    (Running(h), metrics)
}

async fn create_node(http: &Http, name: &str, cpu: &str, labels: Value, spec: Value) {
    let mut labels = labels;
    labels["kubernetes.io/hostname"] = json!(name);
    let r = http
        .post(
            "/api/v1/nodes",
            &json!({"apiVersion": "v1", "kind": "Node",
                "metadata": {"name": name, "labels": labels}, "spec": spec}),
        )
        .await
        .expect("create node");
    assert_eq!(r.status, 201, "{}", r.body);
    let status = json!({"status": {
        "capacity": {"cpu": cpu, "memory": "8Gi", "pods": "110"},
        "allocatable": {"cpu": cpu, "memory": "8Gi", "pods": "110"},
        "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}]
    }});
    let r = http
        .patch(
            &format!("/api/v1/nodes/{name}/status"),
            "application/merge-patch+json",
            &status,
        )
        .await
        .expect("node status");
    assert_eq!(r.status, 200, "{}", r.body);
}

fn pod(name: &str, cpu: &str, labels: Value, extra: Value) -> Value {
    let mut spec = json!({"containers": [{"name": "c", "image": "busybox",
        "resources": {"requests": {"cpu": cpu, "memory": "64Mi"}}}]});
    if let Value::Object(m) = extra {
        for (k, v) in m {
            spec[k] = v;
        }
    }
    json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "labels": labels}, "spec": spec})
}

async fn create_pod(http: &Http, body: &Value) {
    let r = http
        .post("/api/v1/namespaces/default/pods", body)
        .await
        .expect("create pod");
    assert_eq!(r.status, 201, "{}", r.body);
}

async fn get_pod(http: &Http, name: &str) -> Value {
    http.get(&format!("/api/v1/namespaces/default/pods/{name}"))
        .await
        .expect("get pod")
        .body
}

async fn node_of(http: &Http, name: &str, timeout: Duration) -> Option<String> {
    eventually(timeout, || async {
        let p = get_pod(http, name).await;
        p.pointer("/spec/nodeName")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    })
    .await
}

async fn unschedulable_message(http: &Http, name: &str) -> Option<String> {
    eventually(Duration::from_secs(10), || async {
        let p = get_pod(http, name).await;
        p.pointer("/status/conditions")?
            .as_array()?
            .iter()
            .find(|c| c["type"] == "PodScheduled" && c["status"] == "False")
            .and_then(|c| c["message"].as_str().map(str::to_string))
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduler_binds_by_filters_and_explains_failures() {
    let c = cluster().await;
    let http = &c.http;
    create_node(http, "small", "1", json!({"zone": "a"}), json!({})).await;
    create_node(
        http,
        "tainted",
        "8",
        json!({"zone": "b"}),
        json!({"taints": [{"key": "dedicated", "value": "infra", "effect": "NoSchedule"}]}),
    )
    .await;
    create_node(
        http,
        "cordoned",
        "8",
        json!({"zone": "c"}),
        json!({"unschedulable": true}),
    )
    .await;
    let (_s, metrics) = start_scheduler(&c.api.url, config()).await;

    // Only "small" is possible.
    create_pod(http, &pod("fits", "500m", json!({}), json!({}))).await;
    assert_eq!(
        node_of(http, "fits", Duration::from_secs(10))
            .await
            .as_deref(),
        Some("small")
    );
    // The toleration opens "tainted"; the selector demands zone b.
    create_pod(
        http,
        &pod(
            "tolerates",
            "2",
            json!({}),
            json!({"tolerations": [{"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"}],
                   "nodeSelector": {"zone": "b"}}),
        ),
    )
    .await;
    assert_eq!(
        node_of(http, "tolerates", Duration::from_secs(10))
            .await
            .as_deref(),
        Some("tainted")
    );
    // Too big for small; the others are excluded for other reasons.
    create_pod(http, &pod("big", "2", json!({}), json!({}))).await;
    let msg = unschedulable_message(http, "big")
        .await
        .expect("PodScheduled=False");
    assert!(
        msg.starts_with("0/3 nodes are available: 1 Insufficient cpu, 1 node(s) had untolerated taint {dedicated: infra}, 1 node(s) were unschedulable."),
        "{msg}"
    );
    // Another scheduler's pod is left alone.
    create_pod(
        http,
        &pod(
            "other",
            "100m",
            json!({}),
            json!({"schedulerName": "someone-else"}),
        ),
    )
    .await;
    // A new node that fits: the unschedulable pod moves and binds.
    create_node(http, "big-node", "4", json!({"zone": "d"}), json!({})).await;
    assert_eq!(
        node_of(http, "big", Duration::from_secs(10))
            .await
            .as_deref(),
        Some("big-node")
    );
    assert_eq!(
        node_of(http, "other", Duration::from_millis(500)).await,
        None
    );

    // Users see why: events.
    let events = eventually(Duration::from_secs(10), || async {
        let r = http.get("/api/v1/namespaces/default/events").await.ok()?;
        let items = r.body["items"].as_array()?.clone();
        let has = |reason: &str, name: &str| {
            items
                .iter()
                .any(|e| e["reason"] == reason && e["involvedObject"]["name"] == name)
        };
        (has("Scheduled", "fits") && has("FailedScheduling", "big") && has("Scheduled", "big"))
            .then_some(items)
    })
    .await
    .expect("Scheduled and FailedScheduling events");
    let failed = events
        .iter()
        .find(|e| e["reason"] == "FailedScheduling")
        .expect("event");
    assert_eq!(failed["type"], "Warning");
    assert_eq!(failed["source"]["component"], "default-scheduler");
    let bound = get_pod(http, "big").await;
    let cond = bound["status"]["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == "PodScheduled").cloned())
        .expect("condition");
    assert_eq!(cond["status"], "True");
    assert!(metrics.bindings.load(std::sync::atomic::Ordering::Relaxed) >= 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduler_spreads_with_anti_affinity_and_topology_spread() {
    let c = cluster().await;
    let http = &c.http;
    for (i, zone) in ["a", "a", "b", "b"].iter().enumerate() {
        create_node(
            http,
            &format!("n{i}"),
            "8",
            json!({"topology.kubernetes.io/zone": zone}),
            json!({}),
        )
        .await;
    }
    let (_s, _) = start_scheduler(&c.api.url, config()).await;
    let anti = json!({"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"app": "db"}}, "topologyKey": "kubernetes.io/hostname"}]}}});
    for i in 0..5 {
        create_pod(
            http,
            &pod(
                &format!("db-{i}"),
                "100m",
                json!({"app": "db"}),
                anti.clone(),
            ),
        )
        .await;
    }
    let mut nodes = Vec::new();
    for i in 0..4 {
        nodes.push(
            node_of(http, &format!("db-{i}"), Duration::from_secs(10))
                .await
                .expect("bound"),
        );
    }
    nodes.sort();
    nodes.dedup();
    assert_eq!(nodes.len(), 4, "one db pod per node: {nodes:?}");
    let msg = unschedulable_message(http, "db-4")
        .await
        .expect("fifth db pod pending");
    assert!(
        msg.contains("4 node(s) didn't match pod anti-affinity rules"),
        "{msg}"
    );

    let spread = json!({"topologySpreadConstraints": [{"maxSkew": 1,
        "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "DoNotSchedule",
        "labelSelector": {"matchLabels": {"app": "web"}}}]});
    let mut per_zone = std::collections::HashMap::<String, usize>::new();
    for i in 0..6 {
        let name = format!("web-{i}");
        create_pod(
            http,
            &pod(&name, "100m", json!({"app": "web"}), spread.clone()),
        )
        .await;
        let node = node_of(http, &name, Duration::from_secs(10))
            .await
            .expect("bound");
        let idx: usize = node[1..].parse().expect("node index");
        *per_zone
            .entry(if idx < 2 { "a" } else { "b" }.into())
            .or_default() += 1;
    }
    assert_eq!(per_zone.get("a"), Some(&3), "{per_zone:?}");
    assert_eq!(per_zone.get("b"), Some(&3), "{per_zone:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduler_preempts_lower_priority_pods() {
    let c = cluster().await;
    let http = &c.http;
    let r = http
        .post(
            "/apis/scheduling.k8s.io/v1/priorityclasses",
            &json!({"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
                "metadata": {"name": "high"}, "value": 1000}),
        )
        .await
        .expect("priority class");
    assert_eq!(r.status, 201, "{}", r.body);
    create_node(http, "only", "2", json!({}), json!({})).await;
    let (_s, metrics) = start_scheduler(&c.api.url, config()).await;
    create_pod(http, &pod("low-a", "1", json!({}), json!({}))).await;
    create_pod(http, &pod("low-b", "1", json!({}), json!({}))).await;
    node_of(http, "low-a", Duration::from_secs(10))
        .await
        .expect("low-a bound");
    node_of(http, "low-b", Duration::from_secs(10))
        .await
        .expect("low-b bound");

    // A stand-in for the kubelet: pods marked for deletion go away (their
    // conditions noted first).
    let kubelet_http = http.clone();
    let confirmed = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = confirmed.clone();
    let fake_kubelet = tokio::spawn(async move {
        loop {
            if let Ok(r) = kubelet_http.get("/api/v1/namespaces/default/pods").await {
                for p in r.body["items"].as_array().cloned().unwrap_or_default() {
                    if p["metadata"]["deletionTimestamp"].is_string() {
                        if let Ok(mut v) = seen.lock() {
                            v.push(p["status"]["conditions"].clone());
                        }
                        let name = p["metadata"]["name"].as_str().unwrap_or("");
                        let _ = kubelet_http
                            .delete(
                                &format!("/api/v1/namespaces/default/pods/{name}"),
                                Some(&json!({"gracePeriodSeconds": 0})),
                            )
                            .await;
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });

    create_pod(
        http,
        &pod("vip", "1", json!({}), json!({"priorityClassName": "high"})),
    )
    .await;
    let node = node_of(http, "vip", Duration::from_secs(20)).await;
    fake_kubelet.abort();
    assert_eq!(node.as_deref(), Some("only"));
    let vip = get_pod(http, "vip").await;
    assert_eq!(vip["spec"]["priority"], 1000, "priority admission");
    let gone = |name: &'static str| async move {
        http.get(&format!("/api/v1/namespaces/default/pods/{name}"))
            .await
            .map(|r| r.status == 404)
            .unwrap_or(false)
    };
    // The fewest victims: exactly one of the two low pods was evicted.
    assert!(gone("low-a").await ^ gone("low-b").await);
    // Marked as a disruption before it was deleted, as upstream.
    let conditions = confirmed.lock().map(|v| v.clone()).unwrap_or_default();
    let marked = conditions
        .iter()
        .flat_map(|c| c.as_array().cloned().unwrap_or_default())
        .any(|c| {
            c["type"] == "DisruptionTarget"
                && c["status"] == "True"
                && c["reason"] == "PreemptionByScheduler"
                && c["message"]
                    == "default-scheduler: preempting to accommodate a higher priority pod"
        });
    assert!(marked, "{conditions:?}");
    let preempted = eventually(Duration::from_secs(10), || async {
        let r = http.get("/api/v1/namespaces/default/events").await.ok()?;
        r.body["items"]
            .as_array()?
            .iter()
            .find(|e| e["reason"] == "Preempted")
            .cloned()
    })
    .await
    .expect("Preempted event");
    assert_eq!(
        preempted["message"]
            .as_str()
            .map(|m| m.starts_with("Preempted by pod default/vip on node only")),
        Some(true),
        "{preempted}"
    );
    assert_eq!(
        metrics
            .preemption_victims
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduler_standby_takes_over_when_the_leader_dies() {
    let c = cluster().await;
    let http = &c.http;
    create_node(http, "n1", "4", json!({}), json!({})).await;
    let le = |id: &str| {
        let mut l = scheduler::leader_election::Config::new("kube-scheduler", id);
        l.lease_duration = Duration::from_secs(2);
        l.renew_deadline = Duration::from_millis(1500);
        l.retry_period = Duration::from_millis(300);
        l
    };
    let cfg = |id: &str| scheduler::Config {
        leader_election: Some(le(id)),
        ..config()
    };
    let (leader, lm) = start_scheduler(&c.api.url, cfg("first")).await;
    eventually(Duration::from_secs(10), || async {
        lm.leader
            .load(std::sync::atomic::Ordering::Relaxed)
            .then_some(())
    })
    .await
    .expect("first leads");
    let (_standby, sm) = start_scheduler(&c.api.url, cfg("second")).await;
    let name = unique("before");
    create_pod(http, &pod(&name, "100m", json!({}), json!({}))).await;
    node_of(http, &name, Duration::from_secs(10))
        .await
        .expect("leader schedules");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !sm.leader.load(std::sync::atomic::Ordering::Relaxed),
        "standby waits"
    );
    let lease = http
        .get("/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/kube-scheduler")
        .await
        .expect("lease");
    assert_eq!(lease.body["spec"]["holderIdentity"], "first");

    drop(leader);
    let t = std::time::Instant::now();
    let name = unique("after");
    create_pod(http, &pod(&name, "100m", json!({}), json!({}))).await;
    node_of(http, &name, Duration::from_secs(10))
        .await
        .expect("standby schedules");
    assert!(
        t.elapsed() < Duration::from_secs(8),
        "took {:?}",
        t.elapsed()
    );
    let lease = http
        .get("/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/kube-scheduler")
        .await
        .expect("lease");
    assert_eq!(lease.body["spec"]["holderIdentity"], "second");
    assert_eq!(lease.body["spec"]["leaseTransitions"], 1);
}
