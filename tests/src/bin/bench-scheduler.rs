//! Scheduler throughput, in the spirit of upstream's scheduler_perf.
//!
//! For each scenario: a fresh etcd + apiserver, N simulated nodes (Node
//! objects with capacity and a Ready condition, no kubelet), the `scheduler`
//! binary as a child process, then M pending pods created at once. Reports
//! pods/s from the first create to the last bind (seen on a watch), the
//! scheduler's own time per pod (from its /metrics), and its RSS.
//!
//! The reference, measured in the same run against the same apiserver: the
//! bench itself binds pods round-robin with no scheduling at all
//! ("create + bind ceiling"). It only reports; it never fails on slowness.
//!
//! ```text
//! cargo build --release -p apiserver -p scheduler -p tests
//! target/release/bench-scheduler                 # (100, 3000) x plain/anti/spread
//! target/release/bench-scheduler --large         # also (1000, 10000)
//! ```

use std::collections::HashSet;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use clap::Parser;
use futures::StreamExt;
use serde_json::{json, Value};
use tests::harness::{binary, eventually, free_port, proc_status_kib, ApiServer, Etcd, Http};

#[derive(Debug, Parser)]
struct Args {
    /// Also run (1000 nodes, 10000 pods).
    #[arg(long)]
    large: bool,
    /// Only this many nodes (with --pods).
    #[arg(long)]
    nodes: Option<usize>,
    /// Only this many pods (with --nodes).
    #[arg(long)]
    pods: Option<usize>,
    /// Scenarios to run: plain, anti, spread, reference.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "reference,plain,anti,spread"
    )]
    modes: Vec<String>,
    /// Concurrent create requests.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
}

const ZONES: usize = 10;

async fn create_nodes(http: &Http, n: usize, concurrency: usize) {
    futures::stream::iter(0..n)
        .for_each_concurrent(concurrency, |i| async move {
            let name = format!("node-{i}");
            let body = json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name,
                "labels": {"kubernetes.io/hostname": name,
                           "topology.kubernetes.io/zone": format!("zone-{}", i % ZONES)}}});
            let r = http
                .post("/api/v1/nodes", &body)
                .await
                .expect("create node");
            assert_eq!(r.status, 201, "{}", r.body);
            let status = json!({"status": {
                "capacity": {"cpu": "32", "memory": "128Gi", "pods": "110"},
                "allocatable": {"cpu": "32", "memory": "128Gi", "pods": "110"},
                "conditions": [{"type": "Ready", "status": "True"}]}});
            let r = http
                .patch(
                    &format!("/api/v1/nodes/{name}/status"),
                    "application/merge-patch+json",
                    &status,
                )
                .await
                .expect("node status");
            assert_eq!(r.status, 200, "{}", r.body);
        })
        .await;
}

fn pod(i: usize, mode: &str, group_size: usize) -> Value {
    let group = format!("g{}", i / group_size.max(1));
    let mut spec = json!({"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.9",
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}}]});
    match mode {
        "anti" => {
            spec["affinity"] = json!({"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
                {"labelSelector": {"matchLabels": {"group": group}}, "topologyKey": "kubernetes.io/hostname"}]}});
        }
        "spread" => {
            spec["topologySpreadConstraints"] = json!([{"maxSkew": 1,
                "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "DoNotSchedule",
                "labelSelector": {"matchLabels": {"group": group}}}]);
        }
        "reference" => spec["schedulerName"] = json!("nobody"),
        _ => {}
    }
    json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": format!("pod-{i}"), "namespace": "default", "labels": {"group": group}},
        "spec": spec})
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

struct Scheduler(Child);
impl Drop for Scheduler {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn scenario(nodes: usize, pods: usize, mode: &str, concurrency: usize) {
    let etcd = Etcd::start().await.expect("etcd");
    let api = ApiServer::start(&etcd).await.expect("apiserver");
    let http = api.http();
    create_nodes(&http, nodes, concurrency).await;

    let mut sched = None;
    let metrics_port = free_port();
    if mode != "reference" {
        let bin =
            binary("scheduler").expect("target/<profile>/scheduler: cargo build -p scheduler");
        let child = Command::new(bin)
            .args(["--master", &api.url, "--bind-address", "127.0.0.1"])
            .args(["--port", &metrics_port.to_string()])
            .args(["--secure-port", "0"])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("scheduler");
        sched = Some(Scheduler(child));
        let m = Http::new(&format!("http://127.0.0.1:{metrics_port}"));
        eventually(Duration::from_secs(30), || {
            let m = m.clone();
            async move { matches!(m.get_text("/readyz").await, Ok((200, _))).then_some(()) }
        })
        .await
        .expect("scheduler ready");
    }

    // Count binds on a watch, started before the first create.
    let mut watch = http
        .watch("/api/v1/namespaces/default/pods?watch=true&resourceVersion=0")
        .await
        .expect("watch");
    let group_size = match mode {
        "anti" => (nodes / 2).max(1),
        _ => (nodes * 3).max(1),
    };
    let t0 = Instant::now();
    let creator = {
        let http = http.clone();
        let mode = mode.to_string();
        tokio::spawn(async move {
            futures::stream::iter(0..pods)
                .for_each_concurrent(concurrency, |i| {
                    let http = http.clone();
                    let body = pod(i, &mode, group_size);
                    let reference = mode == "reference";
                    async move {
                        let r = http
                            .post("/api/v1/namespaces/default/pods", &body)
                            .await
                            .expect("create pod");
                        assert_eq!(r.status, 201, "{}", r.body);
                        if reference {
                            let b = json!({"apiVersion": "v1", "kind": "Binding",
                                "metadata": {"name": format!("pod-{i}")},
                                "target": {"kind": "Node", "name": format!("node-{}", i % nodes)}});
                            let r = http
                                .post(
                                    &format!("/api/v1/namespaces/default/pods/pod-{i}/binding"),
                                    &b,
                                )
                                .await
                                .expect("bind");
                            assert_eq!(r.status, 201, "{}", r.body);
                        }
                    }
                })
                .await;
            Instant::now()
        })
    };
    let mut bound = HashSet::new();
    let mut last = t0;
    let deadline = Instant::now() + Duration::from_secs(600);
    while bound.len() < pods && Instant::now() < deadline {
        let Some(ev) = watch.next(Duration::from_secs(30)).await else {
            break;
        };
        let obj = &ev["object"];
        if obj
            .pointer("/spec/nodeName")
            .and_then(Value::as_str)
            .is_some_and(|n| !n.is_empty())
        {
            if let Some(name) = obj.pointer("/metadata/name").and_then(Value::as_str) {
                if bound.insert(name.to_string()) {
                    last = Instant::now();
                }
            }
        }
    }
    let created_at = creator.await.expect("creator");
    let elapsed = last.duration_since(t0).as_secs_f64();
    let rate = bound.len() as f64 / elapsed.max(1e-9);
    let create_rate = pods as f64 / created_at.duration_since(t0).as_secs_f64().max(1e-9);
    let mut line = format!(
        "{mode:>9} nodes={nodes:>5} pods={pods:>6} bound={:>6} time={elapsed:>7.2}s  {rate:>8.0} pods/s  (creates alone: {create_rate:.0}/s)",
        bound.len()
    );
    if let Some(s) = &sched {
        let m = Http::new(&format!("http://127.0.0.1:{metrics_port}"));
        let text = m
            .get_text("/metrics")
            .await
            .map(|t| t.1)
            .unwrap_or_default();
        let runs = metric(
            &text,
            "scheduler_scheduling_algorithm_duration_seconds_count",
        );
        let algo = metric(&text, "scheduler_scheduling_algorithm_duration_seconds_sum");
        let cycle = metric(&text, "scheduler_scheduling_cycle_duration_seconds_sum");
        let (rss, hwm) = (
            proc_status_kib(s.0.id(), "VmRSS"),
            proc_status_kib(s.0.id(), "VmHWM"),
        );
        line.push_str(&format!(
            "  sched/pod: algorithm {:.0} µs, cycle {:.0} µs ({} attempts)  RSS {} MiB (peak {} MiB)",
            algo / runs.max(1.0) * 1e6,
            cycle / runs.max(1.0) * 1e6,
            runs,
            rss / 1024,
            hwm / 1024
        ));
    }
    println!("{line}");
    drop(sched);
    drop(api);
    drop(etcd);
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let sizes: Vec<(usize, usize)> = match (args.nodes, args.pods) {
        (Some(n), Some(p)) => vec![(n, p)],
        _ if args.large => vec![(100, 3000), (1000, 10000)],
        _ => vec![(100, 3000)],
    };
    for (n, p) in sizes {
        for mode in &args.modes {
            scenario(n, p, mode, args.concurrency).await;
        }
    }
}
