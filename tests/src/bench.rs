//! Pieces the benchmarks in `src/bin/` share: a kube client for the lab,
//! images pulled on every node first, a pod watch that is already
//! listening, jobs run at a fixed concurrency, and percentiles.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use futures::stream::BoxStream;
use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::api::Api;
use kube::runtime::watcher::{self, watcher, Event};

use crate::harness::Http;
use crate::lab::Lab;

/// A kube-rs client with the lab's admin kubeconfig.
pub async fn lab_client(lab: &Lab) -> anyhow::Result<kube::Client> {
    let kubeconfig = kube::config::Kubeconfig::read_from(lab.kubeconfig())
        .context("reading the lab's kubeconfig")?;
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default()).await?;
    Ok(kube::Client::try_from(config)?)
}

/// Pulls `image` on nodes `1..=nodes`, so no timing includes a pull.
pub fn pre_pull(lab: &Lab, nodes: usize, image: &str) -> anyhow::Result<()> {
    for node in 1..=nodes {
        let (code, out) = lab.ctl(node, &["pull", image]);
        if code != 0 {
            bail!("pre-pulling {image} on node-{node}: {out}");
        }
    }
    Ok(())
}

/// Whether the pod's Ready condition is True.
pub fn pod_ready(p: &Pod) -> bool {
    p.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// A watch of the `default` namespace's pods matching `selector`, returned
/// once its initial list is done, so whatever is applied next is seen.
pub async fn pod_watch(
    client: &kube::Client,
    selector: &str,
) -> anyhow::Result<BoxStream<'static, Result<Event<Pod>, watcher::Error>>> {
    let api: Api<Pod> = Api::namespaced(client.clone(), "default");
    let mut events = watcher(api, watcher::Config::default().labels(selector)).boxed();
    while let Some(ev) = events.next().await {
        if matches!(ev?, Event::InitDone) {
            break;
        }
    }
    Ok(events)
}

/// The apiserver's requests to etcd so far, by operation (`get`, `create`,
/// `update`, ...), from the text of its `/metrics`
/// (`etcd_request_duration_seconds_count`).
pub fn etcd_requests(metrics: &str) -> std::collections::BTreeMap<String, f64> {
    let mut by_operation = std::collections::BTreeMap::new();
    for line in metrics.lines() {
        let Some(rest) = line.strip_prefix("etcd_request_duration_seconds_count{operation=\"")
        else {
            continue;
        };
        if let Some((op, value)) = rest.split_once("\"} ") {
            let n = value.trim().parse::<f64>().unwrap_or(0.0);
            *by_operation.entry(op.to_string()).or_default() += n;
        }
    }
    by_operation
}

/// `etcd_request_duration_seconds_count{operation="get"}`: the apiserver's
/// reads of single keys from etcd so far. Panics when `/metrics` cannot be
/// read: a test comparing two counts must not compare two failures.
pub async fn etcd_gets(http: &Http) -> u64 {
    let (_, text) = http
        .get_text("/metrics")
        .await
        .expect("the apiserver's /metrics");
    etcd_requests(&text).get("get").map_or(0, |n| *n as u64)
}

/// The `p` quantile (0..=1) of sorted durations (zero when empty).
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

/// Runs `job(0..n)` with at most `concurrency` at once; returns jobs per
/// second.
pub async fn rate<F, Fut>(n: usize, concurrency: usize, job: F) -> anyhow::Result<f64>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let job = Arc::new(job);
    let sem = Arc::new(tokio::sync::Semaphore::new(concurrency));
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

/// Watch delivery: `watchers` watches of `collection` from its current
/// resourceVersion, then `events` creates of `body(i)` (which must be named
/// `w-<i>`) 5 ms apart; the delays from each create's send to each
/// watcher's receipt, sorted.
pub async fn watch_delivery(
    url: &str,
    collection: &str,
    watchers: usize,
    events: usize,
    body: impl Fn(usize) -> serde_json::Value,
) -> anyhow::Result<Vec<Duration>> {
    let http = Http::new(url);
    let rv = http.get(collection).await?.body["metadata"]["resourceVersion"]
        .as_str()
        .unwrap_or("0")
        .to_string();
    let sent: Arc<std::sync::Mutex<Vec<Instant>>> = Arc::default();
    let mut receivers = Vec::new();
    for _ in 0..watchers {
        let mut w = http
            .watch(&format!("{collection}?watch=1&resourceVersion={rv}"))
            .await?;
        let sent = Arc::clone(&sent);
        receivers.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(events);
            while lat.len() < events {
                let Some(ev) = w.next(Duration::from_secs(30)).await else {
                    break;
                };
                let now = Instant::now();
                let idx = ev["object"]["metadata"]["name"]
                    .as_str()
                    .and_then(|n| n.strip_prefix("w-"))
                    .and_then(|n| n.parse::<usize>().ok());
                let at = idx.and_then(|i| sent.lock().ok().and_then(|s| s.get(i).copied()));
                if let Some(at) = at {
                    lat.push(now.saturating_duration_since(at));
                }
            }
            lat
        }));
    }
    let writer = Http::new(url);
    for i in 0..events {
        if let Ok(mut s) = sent.lock() {
            s.push(Instant::now());
        }
        let r = writer.post(collection, &body(i)).await?;
        anyhow::ensure!(r.status == 201, "watched create {i}: {}", r.body);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut latencies = Vec::new();
    for r in receivers {
        latencies.extend(r.await?);
    }
    latencies.sort();
    Ok(latencies)
}
