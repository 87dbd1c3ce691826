//! `bench-apiserver`: the apiserver measured against raw etcd, in one run.
//!
//! Starts its own etcd and apiserver (the binary next to this one: build with
//! `cargo build --release -p apiserver -p tests`, or run
//! `hack/bench-apiserver.sh`), then measures, on this machine:
//!
//! - raw etcd puts/s of a pod-sized value at concurrency 16 (the reference);
//! - apiserver creates/s, gets/s of 2,000 pods at concurrency 16;
//! - latency of listing the 2,000 pods;
//! - watch delivery latency (p50/p99) to 100 concurrent watchers;
//! - the apiserver's resident memory at idle and after the load.
//!
//! It only reports: a slow machine gives smaller numbers, never a failure.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::{json, Value};
use tests::harness::{proc_status_kib, ApiServer, Etcd, Http};
use tokio::sync::Semaphore;

const N: usize = 2000;
const CONCURRENCY: usize = 16;
const WATCHERS: usize = 100;
const WATCH_EVENTS: usize = 200;

fn pod(i: usize) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": format!("bench-{i}"), "labels": {"app": "bench", "shard": (i % 8).to_string()}},
        "spec": {"containers": [{"name": "web", "image": "busybox:1.36",
            "command": ["sh", "-c", "httpd -f -p 8080"],
            "ports": [{"containerPort": 8080, "name": "http"}],
            "resources": {"requests": {"cpu": "50m", "memory": "16Mi"}, "limits": {"memory": "64Mi"}},
            "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]}]}})
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

/// Runs `n` jobs at `CONCURRENCY` and returns jobs per second.
async fn rate<F, Fut>(n: usize, job: F) -> anyhow::Result<f64>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send,
{
    let job = Arc::new(job);
    let sem = Arc::new(Semaphore::new(CONCURRENCY));
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        let permit = Arc::clone(&sem).acquire_owned().await?;
        let job = Arc::clone(&job);
        tasks.push(tokio::spawn(async move {
            let r = job(i).await;
            drop(permit);
            r
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(n as f64 / start.elapsed().as_secs_f64())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let etcd = Etcd::start().await.context("starting etcd")?;
    let api = ApiServer::start(&etcd)
        .await
        .context("starting the apiserver")?;
    let pid = api.pid().context("apiserver pid")?;
    let http = api.http();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let idle_rss = proc_status_kib(pid, "VmRSS");

    // The reference: raw etcd puts of the same JSON a create stores.
    let client = etcd.client().await?;
    let value = serde_json::to_vec(&pod(0))?;
    let etcd_rate = {
        let client = client.clone();
        let value = value.clone();
        rate(N, move |i| {
            let mut kv = client.kv_client();
            let value = value.clone();
            async move {
                kv.put(format!("/bench-raw/{i}"), value, None).await?;
                Ok(())
            }
        })
        .await?
    };

    // The same etcd work a create does: one transaction "key absent and
    // namespace present, then put".
    let txn_rate = {
        let client = client.clone();
        let value = value.clone();
        rate(N, move |i| {
            let mut kv = client.kv_client();
            let value = value.clone();
            async move {
                use etcd_client::{Compare, CompareOp, Txn, TxnOp};
                let key = format!("/bench-txn/{i}");
                let txn = Txn::new()
                    .when(vec![
                        Compare::create_revision(key.clone(), CompareOp::Equal, 0),
                        Compare::create_revision(
                            "/registry/namespaces/default",
                            CompareOp::Greater,
                            0,
                        ),
                    ])
                    .and_then(vec![TxnOp::put(key, value, None)]);
                kv.txn(txn).await?;
                Ok(())
            }
        })
        .await?
    };

    let base = "/api/v1/namespaces/default/pods";
    let create_rate = {
        let http = http.clone();
        rate(N, move |i| {
            let http = http.clone();
            async move {
                // Status only: the server's throughput, not the client's JSON parser.
                let body = serde_json::to_vec(&pod(i))?;
                let (status, _) = http
                    .send("POST", base, Some("application/json"), body)
                    .await?;
                anyhow::ensure!(status == 201, "create {i}: {status}");
                Ok(())
            }
        })
        .await?
    };
    let get_rate = {
        let http = http.clone();
        rate(N, move |i| {
            let http = http.clone();
            async move {
                let (status, _) = http
                    .send("GET", &format!("{base}/bench-{i}"), None, Vec::new())
                    .await?;
                anyhow::ensure!(status == 200, "get {i}: {status}");
                Ok(())
            }
        })
        .await?
    };
    let mut lists = Vec::new();
    for _ in 0..7 {
        let start = Instant::now();
        let r = http.get(base).await?;
        anyhow::ensure!(
            r.body["items"].as_array().map(Vec::len) == Some(N),
            "list size"
        );
        lists.push(start.elapsed());
    }
    lists.sort();

    // Watch delivery: 100 watchers, events timed from the create request.
    let ns = "bench-watch";
    http.post("/api/v1/namespaces", &json!({"metadata": {"name": ns}}))
        .await?;
    let cms = format!("/api/v1/namespaces/{ns}/configmaps");
    let rv = http.get(&cms).await?.body["metadata"]["resourceVersion"]
        .as_str()
        .unwrap_or("0")
        .to_string();
    let mut watchers = Vec::new();
    for _ in 0..WATCHERS {
        watchers.push(
            http.watch(&format!("{cms}?watch=1&resourceVersion={rv}"))
                .await?,
        );
    }
    let sent: Arc<std::sync::Mutex<Vec<Instant>>> = Arc::default();
    let mut receivers = Vec::new();
    for mut w in watchers {
        let sent = Arc::clone(&sent);
        receivers.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(WATCH_EVENTS);
            while lat.len() < WATCH_EVENTS {
                let Some(ev) = w.next(Duration::from_secs(30)).await else {
                    break;
                };
                let now = Instant::now();
                let idx: usize = ev["object"]["metadata"]["name"]
                    .as_str()
                    .and_then(|n| n.strip_prefix("w-"))
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(usize::MAX);
                let at = sent.lock().ok().and_then(|s| s.get(idx).copied());
                if let Some(at) = at {
                    lat.push(now.saturating_duration_since(at));
                }
            }
            lat
        }));
    }
    let writer = Http::new(&api.url);
    for i in 0..WATCH_EVENTS {
        if let Ok(mut s) = sent.lock() {
            s.push(Instant::now());
        }
        let body = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": format!("w-{i}")}});
        writer.post(&cms, &body).await?;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut latencies = Vec::new();
    for r in receivers {
        latencies.extend(r.await?);
    }
    latencies.sort();
    let loaded_rss = proc_status_kib(pid, "VmRSS");

    let ratio = create_rate / etcd_rate;
    let p50 = percentile(&latencies, 0.50);
    let p99 = percentile(&latencies, 0.99);
    println!(
        "apiserver benchmark ({N} pods, concurrency {CONCURRENCY}, {} cores)",
        num_cpus()
    );
    println!("| measure | value | reference / target |");
    println!("| --- | --- | --- |");
    println!("| raw etcd puts/s | {etcd_rate:.0} | reference |");
    println!(
        "| raw etcd create transactions/s | {txn_rate:.0} | {:.2}x raw puts: etcd's share of a create |",
        txn_rate / etcd_rate
    );
    println!(
        "| apiserver creates/s | {create_rate:.0} | {ratio:.2}x raw etcd puts (target >= 0.5x), {:.2}x raw create transactions |",
        create_rate / txn_rate
    );
    println!(
        "| apiserver gets/s | {get_rate:.0} | {:.2}x raw etcd puts |",
        get_rate / etcd_rate
    );
    println!(
        "| list of {N} pods, p50 | {:.1} ms | min {:.1} ms, max {:.1} ms |",
        percentile(&lists, 0.5).as_secs_f64() * 1e3,
        lists.first().map_or(0.0, |d| d.as_secs_f64() * 1e3),
        lists.last().map_or(0.0, |d| d.as_secs_f64() * 1e3)
    );
    println!(
        "| watch delivery to {WATCHERS} watchers, p50 | {:.2} ms | {} events received of {} |",
        p50.as_secs_f64() * 1e3,
        latencies.len(),
        WATCHERS * WATCH_EVENTS
    );
    println!(
        "| watch delivery, p99 | {:.2} ms | target < 50 ms |",
        p99.as_secs_f64() * 1e3
    );
    println!(
        "| apiserver RSS idle | {:.1} MiB | target < 30 MiB |",
        idle_rss as f64 / 1024.0
    );
    println!(
        "| apiserver RSS after load | {:.1} MiB | {:.1}x idle |",
        loaded_rss as f64 / 1024.0,
        loaded_rss as f64 / idle_rss.max(1) as f64
    );
    Ok(())
}

fn num_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
