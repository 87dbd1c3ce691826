//! Controller-manager throughput: a Deployment of N replicas (1,000 by
//! default) created and then rolled to a new image, with this bench marking
//! pods Ready in place of kubelets.
//!
//! The reference, measured first in the same run against the same
//! apiserver: the bench itself creates N pods from the same template as fast
//! as it can (64 in flight), which is the ceiling any controller can reach.
//! Reported: time to all N pods created, ratio of that rate to the
//! reference, time to the Deployment available, time to a completed rolling
//! update, and the controller-manager's RSS. It never fails on slowness.
//!
//! ```text
//! cargo build --release -p apiserver -p controller-manager -p tests
//! target/release/bench-controllers [--replicas 1000]
//! ```

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use clap::Parser;
use futures::StreamExt;
use serde_json::{json, Value};
use tests::harness::{binary, free_port, proc_status_kib, ApiServer, Etcd, Http};

#[derive(Debug, Parser)]
struct Args {
    /// Replicas of the Deployment.
    #[arg(long, default_value_t = 1000)]
    replicas: usize,
}

const NS: &str = "bench";

fn template(image: &str) -> Value {
    json!({"metadata": {"labels": {"app": "bench"}},
        "spec": {"containers": [{"name": "c", "image": image,
            "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}}]}})
}

async fn pods(http: &Http) -> Vec<Value> {
    match http.get(&format!("/api/v1/namespaces/{NS}/pods")).await {
        Ok(r) => r.body["items"].as_array().cloned().unwrap_or_default(),
        Err(_) => Vec::new(),
    }
}

fn ready(p: &Value) -> bool {
    p.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|c| {
            c.iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
}

/// Marks every not-ready pod Running and Ready, 64 requests in flight.
async fn mark_ready(http: &Http) -> usize {
    let todo: Vec<String> = pods(http)
        .await
        .iter()
        .filter(|p| !ready(p) && p.pointer("/metadata/deletionTimestamp").is_none())
        .filter_map(|p| {
            p.pointer("/metadata/name")
                .and_then(Value::as_str)
                .map(String::from)
        })
        .collect();
    let n = todo.len();
    futures::stream::iter(todo)
        .for_each_concurrent(64, |name| async move {
            let now = k8s_openapi::jiff::Timestamp::now().to_string();
            let st = json!({"status": {"phase": "Running", "podIP": "10.244.0.2",
                "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": now}]}});
            let _ = http
                .patch(
                    &format!("/api/v1/namespaces/{NS}/pods/{name}/status"),
                    "application/merge-patch+json",
                    &st,
                )
                .await;
        })
        .await;
    n
}

async fn deployment_status(http: &Http) -> Value {
    http.get(&format!("/apis/apps/v1/namespaces/{NS}/deployments/web"))
        .await
        .map(|r| r.body)
        .unwrap_or(Value::Null)
}

fn complete(d: &Value, n: usize) -> bool {
    let s = &d["status"];
    let n = n as u64;
    s["updatedReplicas"].as_u64() == Some(n)
        && s["availableReplicas"].as_u64() == Some(n)
        && s["replicas"].as_u64() == Some(n)
        && s["observedGeneration"].as_i64()
            >= d.pointer("/metadata/generation").and_then(Value::as_i64)
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let n = args.replicas;
    let etcd = Etcd::start().await?;
    let api = ApiServer::start(&etcd).await?;
    let http = api.http();
    http.post("/api/v1/namespaces", &json!({"metadata": {"name": NS}}))
        .await?;

    // Reference: the bench creates N pods itself.
    let t = Instant::now();
    futures::stream::iter(0..n)
        .for_each_concurrent(64, |i| {
            let http = &http;
            async move {
                let mut pod = template("busybox:1");
                pod["metadata"]["name"] = json!(format!("ref-{i}"));
                let _ = http
                    .post(&format!("/api/v1/namespaces/{NS}/pods"), &pod)
                    .await;
            }
        })
        .await;
    let reference = t.elapsed();
    http.delete(&format!("/api/v1/namespaces/{NS}/pods"), None)
        .await?;

    // The controller-manager as a child process.
    let bin = binary("controller-manager")
        .ok_or_else(|| anyhow::anyhow!("build controller-manager first"))?;
    let cm = Killed(
        Command::new(bin)
            .args([
                "--master",
                &api.url,
                "--controllers",
                "replicaset,deployment",
            ])
            .args(["--port", &free_port().to_string(), "--no-events"])
            .args(["--secure-port", "0"])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?,
    );
    tokio::time::sleep(Duration::from_millis(500)).await;

    let d = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": NS},
        "spec": {"replicas": n, "selector": {"matchLabels": {"app": "bench"}}, "template": template("busybox:1")}});
    // Pod creations are counted on a watch, so counting costs the
    // apiserver nothing while the controllers work.
    let rv = http
        .get(&format!("/api/v1/namespaces/{NS}/pods?limit=1"))
        .await?
        .body
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .unwrap_or("0")
        .to_string();
    let mut watch = http
        .watch(&format!(
            "/api/v1/namespaces/{NS}/pods?watch=true&resourceVersion={rv}"
        ))
        .await?;
    let t = Instant::now();
    http.post(&format!("/apis/apps/v1/namespaces/{NS}/deployments"), &d)
        .await?;
    let mut added = 0;
    while added < n {
        match watch.next(Duration::from_secs(60)).await {
            Some(ev) if ev["type"] == "ADDED" => added += 1,
            Some(_) => {}
            None => anyhow::bail!("only {added} pods created after 60 s of silence"),
        }
    }
    let created = t.elapsed();
    drop(watch);
    loop {
        mark_ready(&http).await;
        if complete(&deployment_status(&http).await, n) {
            break;
        }
        if t.elapsed() > Duration::from_secs(600) {
            anyhow::bail!("deployment did not become available in 10 minutes");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let available = t.elapsed();

    let t = Instant::now();
    let patch = json!({"spec": {"template": template("busybox:2")}});
    http.patch(
        &format!("/apis/apps/v1/namespaces/{NS}/deployments/web"),
        "application/strategic-merge-patch+json",
        &patch,
    )
    .await?;
    loop {
        mark_ready(&http).await;
        if complete(&deployment_status(&http).await, n) {
            break;
        }
        if t.elapsed() > Duration::from_secs(600) {
            anyhow::bail!("rolling update did not complete in 10 minutes");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let rollout = t.elapsed();
    let rss = proc_status_kib(cm.0.id(), "VmRSS");

    let ref_rate = n as f64 / reference.as_secs_f64();
    let cm_rate = n as f64 / created.as_secs_f64();
    println!(
        "controller-manager benchmark: Deployment of {n} replicas (pods marked Ready by the bench)"
    );
    println!("| measure | result |");
    println!("| --- | --- |");
    println!(
        "| reference: bench creates {n} pods (64 in flight) | {:.2} s = {ref_rate:.0} pods/s |",
        reference.as_secs_f64()
    );
    println!("| Deployment -> {n} pods created | {:.2} s = {cm_rate:.0} pods/s = **{:.2}x** the reference |", created.as_secs_f64(), cm_rate / ref_rate);
    println!(
        "| Deployment -> available ({n} ready) | {:.2} s |",
        available.as_secs_f64()
    );
    println!(
        "| rolling update (25% surge/unavailable) complete | {:.2} s |",
        rollout.as_secs_f64()
    );
    println!(
        "| controller-manager RSS after the rollout | {:.1} MiB |",
        rss as f64 / 1024.0
    );
    drop(cm);
    drop(api);
    drop(etcd);
    Ok(())
}
