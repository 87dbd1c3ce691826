//! Two workload benchmarks on a real lab, each against a reference measured
//! in the same run:
//!
//! 1. **Persistent storage.** A StatefulSet of one replica whose pod mounts a
//!    claim from its `volumeClaimTemplates` (the lab's default `local-path`
//!    class, `WaitForFirstConsumer`: the claim is provisioned on the node the
//!    scheduler picks), against a plain pod with an `emptyDir`, interleaved
//!    for `--rounds` rounds. Reported per kind: the time from the pod's first
//!    appearance on a watch to the watch showing it Running, and from the
//!    `kubectl apply` to Running; then the ratio of the medians. The extra
//!    time of the claim is its wait for the scheduler's pick, provisioning,
//!    binding and the scheduler's second attempt once the claim is bound.
//! 2. **Autoscaling.** A Deployment under an HPA (50 % of a 100m request,
//!    up to 3 replicas), idle until its metrics are in; then its pods start
//!    burning CPU. Reported: from the load start to the HPA raising the
//!    replicas, and to all 3 replicas Ready; beside the two periods that bound
//!    it (the apiserver's 15 s metrics scrape and the controller's 15 s sync:
//!    upstream's defaults), and the restart that starting the load needs.
//!
//! It never fails on slowness; it fails only when something never happens.
//!
//! ```text
//! hack/bench-workloads.sh [--rounds 5] [--skip-hpa]
//! ```

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use clap::Parser;
use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::runtime::watcher::Event;
use tests::bench::{lab_client, pod_ready, pod_watch, pre_pull};
use tests::lab::{wait_until, Lab};

#[derive(Debug, Parser)]
struct Args {
    /// Rounds of the storage comparison (one pod of each kind per round).
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// Measure only the storage comparison.
    #[arg(long)]
    skip_hpa: bool,
}

fn stateful(round: usize) -> String {
    format!(
        r#"
apiVersion: apps/v1
kind: StatefulSet
metadata: {{name: pvc-{round}}}
spec:
  serviceName: pvc-{round}
  replicas: 1
  selector: {{matchLabels: {{bench: pvc-{round}}}}}
  template:
    metadata: {{labels: {{bench: pvc-{round}}}}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: c
        image: busybox:1.36
        imagePullPolicy: IfNotPresent
        command: ["sleep", "3600"]
        volumeMounts:
        - {{name: data, mountPath: /data}}
  volumeClaimTemplates:
  - metadata: {{name: data}}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {{requests: {{storage: 16Mi}}}}
"#
    )
}

fn empty_dir(round: usize) -> String {
    format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: empty-{round}, labels: {{bench: empty-{round}}}}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: busybox:1.36
    imagePullPolicy: IfNotPresent
    command: ["sleep", "3600"]
    volumeMounts:
    - {{name: data, mountPath: /data}}
  volumes:
  - {{name: data, emptyDir: {{}}}}
"#
    )
}

/// A Deployment whose pods idle, under an HPA aiming at 50 % of a 100m
/// request; the load starts by switching the command to a busy loop.
const AUTOSCALED: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: hpa}
spec:
  replicas: 1
  selector: {matchLabels: {bench: hpa}}
  template:
    metadata: {labels: {bench: hpa}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: c
        image: busybox:1.36
        imagePullPolicy: IfNotPresent
        command: ["sleep", "3600"]
        resources:
          requests: {cpu: 100m}
          limits: {cpu: 200m}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: hpa}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: hpa}
  minReplicas: 1
  maxReplicas: 3
  metrics:
  - type: Resource
    resource: {name: cpu, target: {type: Utilization, averageUtilization: 50}}
"#;

const BURN: &str = r#"[{"op": "replace", "path": "/spec/template/spec/containers/0/command", "value": ["sh", "-c", "while :; do :; done"]}]"#;

fn phase(p: &Pod) -> &str {
    p.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("")
}

/// Times for one pod: first seen on the watch -> Running, and apply -> Running.
struct Startup {
    seen_to_running: Duration,
    apply_to_running: Duration,
}

/// Applies `yaml` and follows the watch until one pod of it is Running.
async fn time_to_running(
    lab: &Lab,
    client: &kube::Client,
    selector: &str,
    yaml: &str,
) -> anyhow::Result<Startup> {
    let mut events = pod_watch(client, selector).await?;
    let applied = Instant::now();
    lab.apply(yaml);
    let mut seen: HashMap<String, Instant> = HashMap::new();
    let deadline = applied + Duration::from_secs(120);
    loop {
        let pod = match tokio::time::timeout_at(deadline.into(), events.next()).await {
            Err(_) => bail!("no pod of {selector} Running after 120 s"),
            Ok(None) => bail!("the watch of {selector} ended"),
            Ok(Some(ev)) => match ev? {
                Event::Apply(p) | Event::InitApply(p) => p,
                _ => continue,
            },
        };
        let name = pod.metadata.name.clone().unwrap_or_default();
        let first = *seen.entry(name).or_insert_with(Instant::now);
        if phase(&pod) == "Running" {
            return Ok(Startup {
                seen_to_running: first.elapsed(),
                apply_to_running: applied.elapsed(),
            });
        }
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

async fn storage(lab: &Lab, client: &kube::Client, rounds: usize) -> anyhow::Result<()> {
    let mut pvc = Vec::new();
    let mut empty = Vec::new();
    for round in 0..rounds {
        // Alternate which goes first so neither always meets a warmer node.
        let order = if round % 2 == 0 {
            [true, false]
        } else {
            [false, true]
        };
        for claim in order {
            if claim {
                let sel = format!("bench=pvc-{round}");
                pvc.push(time_to_running(lab, client, &sel, &stateful(round)).await?);
            } else {
                let sel = format!("bench=empty-{round}");
                empty.push(time_to_running(lab, client, &sel, &empty_dir(round)).await?);
            }
        }
    }
    let row = |name: &str, v: &[Startup]| {
        let seen = median(v.iter().map(|s| s.seen_to_running).collect());
        let apply = median(v.iter().map(|s| s.apply_to_running).collect());
        println!("| {name} | {:.0} ms | {:.0} ms |", ms(seen), ms(apply));
        (seen, apply)
    };
    println!("{rounds} rounds, medians, images on the nodes");
    println!("| pod | created -> Running | apply -> Running |");
    println!("|---|---|---|");
    let (pvc_seen, pvc_apply) = row("StatefulSet pod with a local-path claim", &pvc);
    let (empty_seen, empty_apply) = row("pod with an emptyDir (reference)", &empty);
    println!(
        "| ratio | {:.1}x | {:.1}x |",
        pvc_seen.as_secs_f64() / empty_seen.as_secs_f64().max(1e-9),
        pvc_apply.as_secs_f64() / empty_apply.as_secs_f64().max(1e-9)
    );
    for round in 0..rounds {
        let _ = lab.kubectl(&[
            "delete",
            "statefulset",
            &format!("pvc-{round}"),
            "--wait=false",
        ]);
        let _ = lab.kubectl(&["delete", "pod", &format!("empty-{round}"), "--wait=false"]);
    }
    Ok(())
}

async fn autoscaling(lab: &Lab, client: &kube::Client) -> anyhow::Result<()> {
    lab.apply(AUTOSCALED);
    // Idle with its metrics in: the HPA reports a current utilization.
    let idle = wait_until(Duration::from_secs(120), || {
        let hpa = lab.get_json(&["hpa", "hpa"]);
        let current = &hpa["status"]["currentMetrics"][0]["resource"]["current"];
        current["averageUtilization"].as_i64().map(|_| ())
    });
    if idle.is_none() {
        bail!(
            "the HPA never reported a utilization: {}",
            lab.kubectl_ok(&["describe", "hpa", "hpa"])
        );
    }
    let mut events = pod_watch(client, "bench=hpa").await?;
    let load_start = Instant::now();
    lab.kubectl_ok(&["patch", "deployment", "hpa", "--type=json", "-p", BURN]);
    // The restarted (burning) pod Ready: the part of the reaction that is
    // only the rollout, not the autoscaler.
    let template_hash = |p: &Pod| {
        p.metadata
            .labels
            .as_ref()
            .and_then(|l| l.get("pod-template-hash").cloned())
    };
    let first_hash = loop {
        let rs = lab.get_json(&["replicasets", "-l", "bench=hpa"]);
        let newest = rs["items"].as_array().and_then(|items| {
            items
                .iter()
                .find(|r| r["spec"]["template"]["spec"]["containers"][0]["command"][0] == "sh")
                .and_then(|r| r["metadata"]["labels"]["pod-template-hash"].as_str())
                .map(str::to_string)
        });
        if let Some(h) = newest {
            break h;
        }
        if load_start.elapsed() > Duration::from_secs(60) {
            bail!("the burning ReplicaSet never appeared");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let mut ready: HashMap<String, Duration> = HashMap::new();
    let mut burning_ready = None;
    let mut scaled_up = None;
    let mut burning: std::collections::HashSet<String> = Default::default();
    let deadline = load_start + Duration::from_secs(300);
    while ready.len() < 3 {
        let next = tokio::time::timeout_at(deadline.into(), events.next()).await;
        let pod = match next {
            Err(_) => bail!(
                "only {} of 3 burning pods Ready after 300 s: {}",
                ready.len(),
                lab.kubectl_ok(&["describe", "hpa", "hpa"])
            ),
            Ok(None) => bail!("the watch ended"),
            Ok(Some(ev)) => match ev? {
                Event::Apply(p) | Event::InitApply(p) => p,
                _ => continue,
            },
        };
        if template_hash(&pod).as_deref() != Some(first_hash.as_str())
            || pod.metadata.deletion_timestamp.is_some()
        {
            continue;
        }
        // The third burning pod appears when the HPA has raised the
        // replicas (the Deployment and ReplicaSet controllers add a few ms).
        burning.insert(pod.metadata.name.clone().unwrap_or_default());
        if scaled_up.is_none() && burning.len() >= 3 {
            scaled_up = Some(load_start.elapsed());
        }
        if pod_ready(&pod) {
            let name = pod.metadata.name.clone().unwrap_or_default();
            ready.entry(name).or_insert_with(|| load_start.elapsed());
            burning_ready.get_or_insert_with(|| load_start.elapsed());
        }
    }
    let all_ready = load_start.elapsed();
    let scaled_up = scaled_up.unwrap_or(all_ready);
    println!("HPA: 50 % of a 100m request, pods burning up to their 200m limit, 1 -> 3 replicas");
    println!("| step | from load start |");
    println!("|---|---|");
    println!(
        "| restarted burning pod Ready (the rollout alone: reference) | {:.2} s |",
        burning_ready.unwrap_or_default().as_secs_f64()
    );
    println!(
        "| HPA raises the replicas to 3 (the third pod appears) | {:.2} s |",
        scaled_up.as_secs_f64()
    );
    println!(
        "| all 3 replicas Ready | {:.2} s |",
        all_ready.as_secs_f64()
    );
    println!(
        "| new replicas Ready after the HPA's decision | {:.2} s |",
        all_ready.saturating_sub(scaled_up).as_secs_f64()
    );
    println!("bounds: metrics scraped every 15 s over a 15 s window, HPA sync every 15 s (upstream's defaults)");
    let _ = lab.kubectl(&["delete", "hpa", "hpa", "--wait=false"]);
    let _ = lab.kubectl(&["delete", "deployment", "hpa", "--wait=false"]);
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let lab = Lab::up("bench-workloads", 2).context("the lab cannot run here")?;
    pre_pull(&lab, 2, "busybox:1.36")?;
    let client = lab_client(&lab).await?;
    storage(&lab, &client, args.rounds).await?;
    if !args.skip_hpa {
        autoscaling(&lab, &client).await?;
    }
    Ok(())
}
