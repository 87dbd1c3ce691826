//! `bench-crd`: a custom resource against a ConfigMap on one apiserver, in
//! one run (`hack/bench-apiserver.sh crd`).
//!
//! Starts its own etcd and apiserver (the binary next to this one), defines
//! a CRD whose objects carry the same data as the ConfigMaps, and measures:
//!
//! - creates/s of ConfigMaps and of custom resources at concurrency 16, in
//!   alternating rounds so a drifting machine load hits both alike; the
//!   target is custom resources at >= 0.8x ConfigMaps;
//! - watch delivery (p50/p99, from the create's send) of each to 20
//!   watchers;
//! - the time from a CRD's create to the first successful create of its
//!   kind (and to its `Established` condition), over several new CRDs.
//!
//! It only reports: a slow machine gives smaller numbers, never a failure.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::{json, Value};
use tests::bench::{percentile, rate, watch_delivery};
use tests::harness::{ApiServer, Etcd, Http};

const N: usize = 1000;
const ROUNDS: usize = 3;
const CONCURRENCY: usize = 16;
const WATCHERS: usize = 20;
const WATCH_EVENTS: usize = 200;
const NEW_CRDS: usize = 5;
const CRDS: &str = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions";

/// The data both kinds carry: ten keys of configuration.
fn data(i: usize) -> Value {
    let mut d = serde_json::Map::new();
    for k in 0..10 {
        d.insert(
            format!("key-{k}"),
            json!(format!("value {k} of object {i}")),
        );
    }
    Value::Object(d)
}

fn config_map(name: &str, i: usize) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap",
           "metadata": {"name": name, "labels": {"app": "bench"}}, "data": data(i)})
}

fn custom(group: &str, kind: &str, name: &str, i: usize) -> Value {
    json!({"apiVersion": format!("{group}/v1"), "kind": kind,
           "metadata": {"name": name, "labels": {"app": "bench"}}, "spec": {"data": data(i)}})
}

/// A namespaced CRD `<plural>.<group>` whose `spec.data` is a string map.
fn crd(group: &str, plural: &str, kind: &str) -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("{plural}.{group}")},
        "spec": {"group": group, "scope": "Namespaced",
            "names": {"plural": plural, "singular": kind.to_lowercase(), "kind": kind},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object", "properties": {
                        "data": {"type": "object", "additionalProperties": {"type": "string"}}}},
                    "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}}}]}
    })
}

/// Creates `n` objects `body(i)` in `collection` at `CONCURRENCY`; per second.
async fn creates(
    http: &Http,
    collection: &str,
    n: usize,
    body: impl Fn(usize) -> Value + Send + Sync + 'static,
) -> anyhow::Result<f64> {
    let http = http.clone();
    let collection = collection.to_string();
    let body = Arc::new(body);
    rate(n, CONCURRENCY, move |i| {
        let http = http.clone();
        let collection = collection.clone();
        let bytes = serde_json::to_vec(&body(i));
        async move {
            // Status only: the server's throughput, not the client's parser.
            let (status, _) = http
                .send("POST", &collection, Some("application/json"), bytes?)
                .await?;
            anyhow::ensure!(status == 201, "create {i} in {collection}: {status}");
            Ok(())
        }
    })
    .await
}

/// Creates a new CRD and returns how long until its kind takes a create,
/// and until the CRD says Established.
async fn time_to_serve(http: &Http, n: usize) -> anyhow::Result<(Duration, Duration)> {
    let group = format!("g{n}.bench.test");
    let kind = format!("Probe{n}");
    let collection = format!("/apis/{group}/v1/namespaces/default/probes");
    let probe = serde_json::to_vec(&custom(&group, &kind, "first", 0))?;
    let start = Instant::now();
    let r = http.post(CRDS, &crd(&group, "probes", &kind)).await?;
    anyhow::ensure!(r.status == 201, "CRD {n}: {}", r.body);
    let served = loop {
        let (status, _) = http
            .send("POST", &collection, Some("application/json"), probe.clone())
            .await?;
        if status == 201 {
            break start.elapsed();
        }
        anyhow::ensure!(start.elapsed() < Duration::from_secs(30), "never served");
        tokio::time::sleep(Duration::from_millis(1)).await;
    };
    let established = loop {
        let c = http.get(&format!("{CRDS}/probes.{group}")).await?.body;
        let ok = c["status"]["conditions"].as_array().is_some_and(|cs| {
            cs.iter()
                .any(|c| c["type"] == "Established" && c["status"] == "True")
        });
        if ok {
            break start.elapsed();
        }
        anyhow::ensure!(
            start.elapsed() < Duration::from_secs(30),
            "never established"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    };
    Ok((served, established))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let etcd = Etcd::start().await.context("starting etcd")?;
    let api = ApiServer::start(&etcd)
        .await
        .context("starting the apiserver")?;
    let http = api.http();

    let mut to_serve = Vec::new();
    let mut to_establish = Vec::new();
    for n in 0..NEW_CRDS {
        let (served, established) = time_to_serve(&http, n).await?;
        to_serve.push(served);
        to_establish.push(established);
    }
    to_serve.sort();
    to_establish.sort();

    let group = "bench.test";
    let r = http.post(CRDS, &crd(group, "settings", "Setting")).await?;
    anyhow::ensure!(r.status == 201, "the CRD: {}", r.body);
    let cms = "/api/v1/namespaces/default/configmaps";
    let crs = format!("/apis/{group}/v1/namespaces/default/settings");
    // Wait until the kind is served before timing it.
    let probe = custom(group, "Setting", "probe", 0);
    for _ in 0..3000 {
        if http.post(&crs, &probe).await?.status == 201 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }

    let (mut cm_rates, mut cr_rates) = (Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        cm_rates.push(
            creates(&http, cms, N, move |i| {
                config_map(&format!("r{round}-{i}"), i)
            })
            .await?,
        );
        cr_rates.push(
            creates(&http, &crs, N, move |i| {
                custom("bench.test", "Setting", &format!("r{round}-{i}"), i)
            })
            .await?,
        );
    }
    let cm_rate = cm_rates.iter().sum::<f64>() / ROUNDS as f64;
    let cr_rate = cr_rates.iter().sum::<f64>() / ROUNDS as f64;

    for ns in ["watch-cm", "watch-cr"] {
        let r = http
            .post("/api/v1/namespaces", &json!({"metadata": {"name": ns}}))
            .await?;
        anyhow::ensure!(r.status == 201, "namespace {ns}: {}", r.body);
    }
    let cm_watch = watch_delivery(
        &api.url,
        "/api/v1/namespaces/watch-cm/configmaps",
        WATCHERS,
        WATCH_EVENTS,
        |i| config_map(&format!("w-{i}"), i),
    )
    .await?;
    let cr_watch = watch_delivery(
        &api.url,
        &format!("/apis/{group}/v1/namespaces/watch-cr/settings"),
        WATCHERS,
        WATCH_EVENTS,
        |i| custom("bench.test", "Setting", &format!("w-{i}"), i),
    )
    .await?;

    println!(
        "custom resources against ConfigMaps ({N} creates x {ROUNDS} rounds each, concurrency {CONCURRENCY})"
    );
    println!("| measure | ConfigMap | custom resource | CR / ConfigMap |");
    println!("| --- | --- | --- | --- |");
    println!(
        "| creates/s (mean of the rounds) | {cm_rate:.0} | {cr_rate:.0} | {:.2}x (target >= 0.8x) |",
        cr_rate / cm_rate
    );
    let rounds: Vec<String> = cm_rates
        .iter()
        .zip(&cr_rates)
        .map(|(cm, cr)| format!("{cr:.0} / {cm:.0} = {:.2}x", cr / cm))
        .collect();
    println!(
        "| creates/s by round (CR / ConfigMap) | | | {} |",
        rounds.join("; ")
    );
    for (what, p) in [("p50", 0.5), ("p99", 0.99)] {
        let (cm, cr) = (percentile(&cm_watch, p), percentile(&cr_watch, p));
        println!(
            "| watch delivery to {WATCHERS} watchers, {what} | {:.2} ms | {:.2} ms | {:.2}x |",
            ms(cm),
            ms(cr),
            ms(cr) / ms(cm).max(1e-3)
        );
    }
    println!(
        "| watch events received | {} | {} | of {} each |",
        cm_watch.len(),
        cr_watch.len(),
        WATCHERS * WATCH_EVENTS
    );
    println!(
        "| CRD create -> first create of its kind succeeds ({NEW_CRDS} new CRDs) | | p50 {:.1} ms, max {:.1} ms | |",
        ms(percentile(&to_serve, 0.5)),
        ms(to_serve.last().copied().unwrap_or_default())
    );
    println!(
        "| CRD create -> Established seen | | p50 {:.1} ms, max {:.1} ms | |",
        ms(percentile(&to_establish, 0.5)),
        ms(to_establish.last().copied().unwrap_or_default())
    );
    Ok(())
}
