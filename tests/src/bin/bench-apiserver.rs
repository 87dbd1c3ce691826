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
//! - watch delivery under a steady pace (300 pod creates/s, 10 watchers),
//!   from the create's send and from its response, against etcd's own
//!   put -> watch delivery at the same pace;
//! - the apiserver's resident memory at idle and after the load.
//!
//! It only reports: a slow machine gives smaller numbers, never a failure.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::StreamExt;
use serde_json::{json, Value};
use tests::bench::percentile;
use tests::bench::{rate, watch_delivery};
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

    // Delivery under a steady pace, against etcd's own put -> watch path
    // (first, on a fresh server, as apiload measured upstream).
    let paced_ours = paced_apiserver(&api.url).await?;
    let paced_floor = paced_etcd(&etcd).await?;

    // The reference: raw etcd puts of the same JSON a create stores.
    let client = etcd.client().await?;
    let value = serde_json::to_vec(&pod(0))?;
    let etcd_rate = {
        let client = client.clone();
        let value = value.clone();
        rate(N, CONCURRENCY, move |i| {
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
        rate(N, CONCURRENCY, move |i| {
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
        rate(N, CONCURRENCY, move |i| {
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
        rate(N, CONCURRENCY, move |i| {
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
    let (cms, _) = fresh_collection(&http, "bench-watch", "configmaps").await?;
    let latencies = watch_delivery(&api.url, &cms, WATCHERS, WATCH_EVENTS, |i| {
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": format!("w-{i}")}})
    })
    .await?;
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
        "{}",
        paced_ours.row(
            &format!(
                "paced watch ({PACED_RATE:.0} pod creates/s, {PACED_IN_FLIGHT} in flight, {PACED_WATCHERS} watchers)"
            ),
            &paced_floor
        )
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

/// The paced watch measurement: `PACED_COUNT` pods created at `PACED_RATE`
/// per second with up to `PACED_IN_FLIGHT` requests open, while
/// `PACED_WATCHERS` watchers follow the namespace (the shape of
/// `apiload.py --rate 300 --concurrency 64 --count 1500 --watchers 10`, which
/// measured upstream v1.36 here at p50 2.6 ms, p99 10 ms after the send and
/// 0.24 ms p50 after the response).
const PACED_RATE: f64 = 300.0;
const PACED_COUNT: usize = 1500;
const PACED_IN_FLIGHT: usize = 64;
const PACED_WATCHERS: usize = 10;

/// When each watcher received each index.
type Arrivals = Vec<(usize, Instant)>;

/// When each write was sent and answered, by index.
type Timeline = Arc<std::sync::Mutex<Vec<(Option<Instant>, Option<Instant>)>>>;

/// Delivery delays of one paced run, sorted.
struct Delivery {
    after_send: Vec<Duration>,
    after_response: Vec<Duration>,
    received: usize,
}

impl Delivery {
    fn from(timeline: &Timeline, arrivals: Vec<(usize, Instant)>) -> Delivery {
        let times = timeline.lock().map(|t| t.clone()).unwrap_or_default();
        let mut after_send = Vec::new();
        let mut after_response = Vec::new();
        let received = arrivals.len();
        for (i, at) in arrivals {
            if let Some((Some(sent), answered)) = times.get(i) {
                after_send.push(at.saturating_duration_since(*sent));
                // Negative when the event beat the response: counted as 0.
                if let Some(answered) = answered {
                    after_response.push(at.saturating_duration_since(*answered));
                }
            }
        }
        after_send.sort();
        after_response.sort();
        Delivery {
            after_send,
            after_response,
            received,
        }
    }

    fn row(&self, what: &str, reference: &Delivery) -> String {
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        format!(
            "| {what}: p50 / p99 after the send | {:.2} / {:.2} ms | raw etcd put -> etcd watch: {:.2} / {:.2} ms; upstream v1.36 here (apiload): 2.6 / 10 ms |\n\
             | {what}: p50 / p99 after the response | {:.2} / {:.2} ms | raw etcd: {:.2} / {:.2} ms; upstream v1.36: 0.24 ms p50 |\n\
             | {what}: events received | {} of {} | |",
            ms(percentile(&self.after_send, 0.5)),
            ms(percentile(&self.after_send, 0.99)),
            ms(percentile(&reference.after_send, 0.5)),
            ms(percentile(&reference.after_send, 0.99)),
            ms(percentile(&self.after_response, 0.5)),
            ms(percentile(&self.after_response, 0.99)),
            ms(percentile(&reference.after_response, 0.5)),
            ms(percentile(&reference.after_response, 0.99)),
            self.received,
            PACED_COUNT * PACED_WATCHERS,
        )
    }
}

/// Runs `write(i)` for every index at `PACED_RATE`, at most
/// `PACED_IN_FLIGHT` at once, recording when each was sent and answered.
async fn paced<F, Fut>(write: F) -> anyhow::Result<Timeline>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send,
{
    let timeline: Timeline = Arc::new(std::sync::Mutex::new(vec![(None, None); PACED_COUNT]));
    let write = Arc::new(write);
    let sem = Arc::new(Semaphore::new(PACED_IN_FLIGHT));
    let start = tokio::time::Instant::now();
    let mut tasks = Vec::with_capacity(PACED_COUNT);
    for i in 0..PACED_COUNT {
        tokio::time::sleep_until(start + Duration::from_secs_f64(i as f64 / PACED_RATE)).await;
        let permit = Arc::clone(&sem).acquire_owned().await?;
        let write = Arc::clone(&write);
        let timeline = Arc::clone(&timeline);
        tasks.push(tokio::spawn(async move {
            let sent = Instant::now();
            let r = write(i).await;
            let answered = Instant::now();
            if let Ok(mut t) = timeline.lock() {
                t[i] = (Some(sent), Some(answered));
            }
            drop(permit);
            r
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(timeline)
}

/// Starts `PACED_WATCHERS` receivers on a thread of their own (as apiload
/// runs its watchers in a separate process, so their timestamps do not wait
/// for the writer), each collecting `(index, arrival)` for `PACED_COUNT`
/// events; returns once all are listening.
fn receivers<S, Fut>(
    subscribe: S,
) -> anyhow::Result<std::thread::JoinHandle<anyhow::Result<Arrivals>>>
where
    S: Fn() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = anyhow::Result<futures::stream::BoxStream<'static, usize>>>,
{
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<anyhow::Result<()>>();
    let handle = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        rt.block_on(async move {
            let mut streams = Vec::new();
            for _ in 0..PACED_WATCHERS {
                match subscribe().await {
                    Ok(s) => streams.push(s),
                    Err(e) => {
                        let _ = ready_tx.send(Err(anyhow::anyhow!("{e}")));
                        return Err(e);
                    }
                }
            }
            let _ = ready_tx.send(Ok(()));
            let collect = streams.into_iter().map(|mut s| async move {
                let mut got = Vec::with_capacity(PACED_COUNT);
                while got.len() < PACED_COUNT {
                    match tokio::time::timeout(Duration::from_secs(30), s.next()).await {
                        Ok(Some(i)) => got.push((i, Instant::now())),
                        _ => break,
                    }
                }
                got
            });
            Ok(futures::future::join_all(collect)
                .await
                .into_iter()
                .flatten()
                .collect())
        })
    });
    ready_rx.recv()??;
    Ok(handle)
}

/// Creates namespace `ns`; returns the path of its collection `plural` and
/// the resourceVersion to watch it from.
async fn fresh_collection(http: &Http, ns: &str, plural: &str) -> anyhow::Result<(String, String)> {
    http.post("/api/v1/namespaces", &json!({"metadata": {"name": ns}}))
        .await?;
    let path = format!("/api/v1/namespaces/{ns}/{plural}");
    let rv = http.get(&path).await?.body["metadata"]["resourceVersion"]
        .as_str()
        .unwrap_or("0")
        .to_string();
    Ok((path, rv))
}

/// The index in a name `p-<i>`.
fn index_of(name: &str) -> Option<usize> {
    name.strip_prefix("p-")?.parse().ok()
}

/// Paced creates through the apiserver, watched through the apiserver.
async fn paced_apiserver(url: &str) -> anyhow::Result<Delivery> {
    let http = Http::new(url);
    let (pods, rv) = fresh_collection(&http, "bench-paced", "pods").await?;
    let watch_url = url.to_string();
    let watch_path = format!("{pods}?watch=1&resourceVersion={rv}");
    let handle = receivers(move || {
        let http = Http::new(&watch_url);
        let path = watch_path.clone();
        async move {
            let w = http.watch(&path).await?;
            let stream = futures::stream::unfold(w, |mut w| async move {
                loop {
                    let ev = w.next(Duration::from_secs(30)).await?;
                    if ev["type"] != "ADDED" {
                        continue;
                    }
                    if let Some(i) = ev["object"]["metadata"]["name"].as_str().and_then(index_of) {
                        return Some((i, w));
                    }
                }
            });
            Ok(stream.boxed())
        }
    })?;
    let writer = http.clone();
    let timeline = paced(move |i| {
        let http = writer.clone();
        let pods = pods.clone();
        async move {
            let mut body = pod(i);
            body["metadata"]["name"] = json!(format!("p-{i}"));
            let (status, _) = http
                .send(
                    "POST",
                    &pods,
                    Some("application/json"),
                    serde_json::to_vec(&body)?,
                )
                .await?;
            anyhow::ensure!(status == 201, "paced create {i}: {status}");
            Ok(())
        }
    })
    .await?;
    let arrivals = handle
        .join()
        .map_err(|_| anyhow::anyhow!("the watch thread panicked"))??;
    Ok(Delivery::from(&timeline, arrivals))
}

/// The floor: the same puts straight to etcd, watched straight from etcd.
async fn paced_etcd(etcd: &Etcd) -> anyhow::Result<Delivery> {
    let client = etcd.client().await?;
    let url = etcd.url.clone();
    let handle = receivers(move || {
        let url = url.clone();
        async move {
            let mut client = etcd_client::Client::connect([url.as_str()], None).await?;
            let stream = client
                .watch(
                    "/bench-paced/",
                    Some(etcd_client::WatchOptions::new().with_prefix()),
                )
                .await?;
            let events = stream
                .filter_map(|r| async move { r.ok() })
                .flat_map(|resp| {
                    let found: Vec<usize> = resp
                        .events()
                        .iter()
                        .filter_map(|e| {
                            e.kv()?
                                .key_str()
                                .ok()?
                                .strip_prefix("/bench-paced/")
                                .and_then(index_of)
                        })
                        .collect();
                    futures::stream::iter(found)
                });
            Ok(events.boxed())
        }
    })?;
    let timeline = paced(move |i| {
        let mut kv = client.kv_client();
        async move {
            let value = serde_json::to_vec(&pod(i))?;
            kv.put(format!("/bench-paced/p-{i}"), value, None).await?;
            Ok(())
        }
    })
    .await?;
    let arrivals = handle
        .join()
        .map_err(|_| anyhow::anyhow!("the watch thread panicked"))??;
    Ok(Delivery::from(&timeline, arrivals))
}

fn num_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
