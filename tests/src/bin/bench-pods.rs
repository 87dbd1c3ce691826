//! Pod startup on a real lab: `kubectl apply` of a Deployment of N replicas
//! (30 by default) on 3 nodes, images already on the nodes, until every pod
//! is Ready.
//!
//! Reported: time from the apply to all pods Ready; per-pod startup latency
//! (from the pod's first appearance on a watch to the watch showing it
//! Ready, which is how upstream's density test measures its SLO of p99
//! under 5 s) as p50/p90/p99; and each kubelet's RSS with the pods running.
//!
//! Where the time goes: each kubelet's startup traces (`/startup` on its
//! API, through the apiserver's node proxy) give every pod's steps, from
//! the kubelet's watch event to its Ready status write; the bench adds the
//! time before (pod first on the bench's watch -> the kubelet's watch
//! event: scheduling, binding, delivery) and after (Ready written -> Ready
//! on the bench's watch). Printed as mean / p50 / p99 per stage.
//!
//! Requests: how many of each verb and resource the apiserver served per
//! pod in the same window (its `apiserver_request_total`), and how many
//! requests it sent etcd: counts, unlike times, do not move with the load
//! of a shared machine.
//!
//! CPU: the time every lab process (by component) and the whole machine
//! spent between the apply and the last pod Ready, per pod
//! ([`tests::cpu`]), since on a small machine a start at density is bound
//! by CPU.
//!
//! The reference, measured in the same run on node 1 of the same lab: one
//! container started straight through the runtime (`kubelet ctl run -d`),
//! so the ratio says what the control plane and the kubelet's sync add to
//! the bare cost of making a container. It never fails on slowness.
//!
//! ```text
//! hack/bench-pods.sh [--replicas 30] [--nodes 3] [--lab-root DIR]
//! ```

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{bail, Context as _};
use clap::Parser;
use futures::StreamExt;
use kube::runtime::watcher::Event;
use tests::bench::{lab_client, pod_ready, pod_watch, pre_pull};
use tests::harness::proc_status_kib;
use tests::lab::Lab;

#[derive(Debug, Parser)]
struct Args {
    /// Replicas of the Deployment.
    #[arg(long, default_value_t = 30)]
    replicas: usize,
    /// Nodes of the lab.
    #[arg(long, default_value_t = 3)]
    nodes: usize,
    /// Containers started through the runtime alone, for the reference.
    #[arg(long, default_value_t = 10)]
    reference_runs: usize,
    /// Wait for a line on stdin before the apply (and say so on stdout),
    /// so that a profiler can be attached to the running lab first.
    #[arg(long)]
    pause_before_apply: bool,
    /// Where the lab's node directories live (default /var/tmp): a tmpfs
    /// here separates the filesystem's share from ours.
    #[arg(long)]
    lab_root: Option<std::path::PathBuf>,
}

fn manifest(replicas: usize) -> String {
    format!(
        r#"
apiVersion: apps/v1
kind: Deployment
metadata: {{name: bench}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: bench}}}}
  template:
    metadata: {{labels: {{app: bench}}}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: c
        image: busybox:1.36
        imagePullPolicy: IfNotPresent
        command: ["sleep", "3600"]
        resources:
          requests: {{cpu: 10m, memory: 8Mi}}
"#
    )
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

/// One container through the runtime alone, `runs` times: the mean.
fn reference(lab: &Lab, runs: usize) -> anyhow::Result<Duration> {
    let mut total = Duration::ZERO;
    for i in 0..runs {
        let name = format!("bench-ref-{i}");
        let start = Instant::now();
        let (code, out) = lab.ctl(
            1,
            &[
                "run",
                "-d",
                "--name",
                &name,
                "busybox:1.36",
                "--",
                "sleep",
                "60",
            ],
        );
        total += start.elapsed();
        if code != 0 {
            bail!("kubelet ctl run failed: {out}");
        }
        let _ = lab.ctl(1, &["rm", "-f", &name]);
    }
    Ok(total / runs.max(1) as u32)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if let Some(root) = &args.lab_root {
        std::env::set_var("MINIK8S_LAB_ROOT", root);
    }
    let lab = Lab::up("bench-pods", args.nodes).context("the lab cannot run here")?;
    pre_pull(&lab, args.nodes, "busybox:1.36")?;
    let per_container = reference(&lab, args.reference_runs)?;

    let client = lab_client(&lab).await?;
    let mut events = pod_watch(&client, "app=bench").await?;

    if args.pause_before_apply {
        println!("lab {} ready: press enter to apply", lab.dir().display());
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
    }
    let requests_before = request_totals(&lab);
    let cpu_before = tests::cpu::Sample::take(lab.dir());
    let applied = Instant::now();
    lab.apply(&manifest(args.replicas));
    let mut seen: HashMap<String, Instant> = HashMap::new();
    let mut seen_wall: HashMap<String, SystemTime> = HashMap::new();
    let mut latency: HashMap<String, Duration> = HashMap::new();
    let deadline = applied + Duration::from_secs(300);
    while latency.len() < args.replicas {
        let next = tokio::time::timeout_at(deadline.into(), events.next()).await;
        let pod = match next {
            Err(_) => bail!(
                "only {} of {} pods Ready after 300 s",
                latency.len(),
                args.replicas
            ),
            Ok(None) => bail!("the watch ended"),
            Ok(Some(ev)) => match ev? {
                Event::Apply(p) | Event::InitApply(p) => p,
                _ => continue,
            },
        };
        let name = pod.metadata.name.clone().unwrap_or_default();
        seen_wall
            .entry(name.clone())
            .or_insert_with(SystemTime::now);
        let first = *seen.entry(name.clone()).or_insert_with(Instant::now);
        if pod_ready(&pod) && !latency.contains_key(&name) {
            latency.insert(name, first.elapsed());
        }
    }
    let all_ready = applied.elapsed();
    let cpu = tests::cpu::Sample::take(lab.dir()).since(&cpu_before);
    let mut requests = request_totals(&lab);
    for (key, n) in &requests_before {
        if let Some(after) = requests.get_mut(key) {
            *after -= n;
        }
    }

    let stages = breakdown(&lab, args.nodes, &seen_wall, &latency);
    let mut lat: Vec<Duration> = latency.into_values().collect();
    lat.sort();
    let (p50, p90, p99) = (
        percentile(&lat, 0.5),
        percentile(&lat, 0.9),
        percentile(&lat, 0.99),
    );
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{} replicas on {} nodes, images on the nodes",
        args.replicas, args.nodes
    );
    println!(
        "reference: one container through the runtime (kubelet ctl run -d): {:.0} ms",
        ms(per_container)
    );
    println!(
        "apply -> all {} pods Ready: {:.2} s",
        args.replicas,
        all_ready.as_secs_f64()
    );
    // Before a pod's own latency starts: the apply, the Deployment and
    // ReplicaSet controllers making the pods.
    if let (Some(first), Some(last)) = (seen.values().min(), seen.values().max()) {
        println!(
            "apply -> first pod on the watch: {:.0} ms, -> last: {:.0} ms",
            ms(first.duration_since(applied)),
            ms(last.duration_since(applied))
        );
    }
    println!(
        "pod startup latency: p50 {:.0} ms, p90 {:.0} ms, p99 {:.0} ms (upstream SLO: p99 < 5 s)",
        ms(p50),
        ms(p90),
        ms(p99)
    );
    println!(
        "p50 / runtime reference: {:.1}x",
        p50.as_secs_f64() / per_container.as_secs_f64().max(1e-9)
    );
    println!("\nwhere a pod's startup goes (ms; kubelet steps from its startup traces)");
    println!("{:<44} {:>8} {:>8} {:>8}", "stage", "mean", "p50", "p99");
    for (stage, mut v) in stages {
        v.sort_by(f64::total_cmp);
        let mean = v.iter().sum::<f64>() / v.len().max(1) as f64;
        let pick = |q: f64| {
            let i = ((v.len() as f64 * q).ceil() as usize).clamp(1, v.len().max(1)) - 1;
            v.get(i).copied().unwrap_or(0.0)
        };
        println!(
            "{:<44} {:>8.1} {:>8.1} {:>8.1}",
            stage,
            mean,
            pick(0.5),
            pick(0.99)
        );
    }
    println!("\nCPU per pod (ms), apply -> all Ready; \"machine\" is every busy core");
    for (component, ms) in &cpu {
        println!(
            "{:<44} {:>8.1}",
            component,
            ms / args.replicas.max(1) as f64
        );
    }
    println!("\napiserver and etcd requests and watch events sent per pod, apply -> all Ready (at least 0.1)");
    for (key, n) in &requests {
        let per_pod = *n / args.replicas.max(1) as f64;
        if per_pod >= 0.1 {
            println!("{key:<44} {per_pod:>8.2}");
        }
    }
    for node in 1..=args.nodes {
        let rss = lab
            .kubelet_pid(node)
            .map_or(0, |pid| proc_status_kib(pid as u32, "VmRSS"));
        let pods = lab.get_json(&[
            "pods",
            "-l",
            "app=bench",
            "--field-selector",
            &format!("spec.nodeName=node-{node}"),
        ])["items"]
            .as_array()
            .map_or(0, Vec::len);
        println!(
            "kubelet node-{node}: {pods} pods, RSS {:.1} MiB",
            rss as f64 / 1024.0
        );
    }
    Ok(())
}

/// `apiserver_request_total` summed over response codes, by verb and
/// resource (`PATCH pods/status`), and the apiserver's requests to etcd by
/// operation (`etcd get`), from the apiserver's `/metrics`.
fn request_totals(lab: &Lab) -> BTreeMap<String, f64> {
    let text = lab.kubectl_ok(&["get", "--raw", "/metrics"]);
    let mut totals: BTreeMap<String, f64> = tests::bench::etcd_requests(&text)
        .into_iter()
        .map(|(op, n)| (format!("etcd {op}"), n))
        .collect();
    // `name{labels} value` lines: the value of one label, and the value.
    let label = |labels: &str, name: &str| {
        labels
            .split(',')
            .find_map(|kv| kv.strip_prefix(name)?.strip_prefix("=\""))
            .map(|v| v.trim_end_matches('"').to_string())
            .unwrap_or_default()
    };
    for line in text.lines() {
        let Some((name, rest)) = line.split_once('{') else {
            continue;
        };
        let Some((labels, value)) = rest.split_once("} ") else {
            continue;
        };
        let key = match name {
            // Watch events sent, by kind: the fan-out every pod change costs.
            "apiserver_watch_events_total" => format!("watch events {}", label(labels, "kind")),
            "apiserver_request_total" => format!(
                "{} {}",
                label(labels, "verb").to_uppercase(),
                label(labels, "resource")
            ),
            _ => continue,
        };
        *totals.entry(key).or_default() += value.trim().parse::<f64>().unwrap_or(0.0);
    }
    totals
}

/// The stages of every bench pod's startup, in order: before the kubelet,
/// the gaps between the kubelet's trace steps, and after its Ready write.
fn breakdown(
    lab: &Lab,
    nodes: usize,
    seen: &HashMap<String, SystemTime>,
    latency: &HashMap<String, Duration>,
) -> Vec<(String, Vec<f64>)> {
    let mut stages: Vec<(String, Vec<f64>)> = Vec::new();
    let mut add = |name: String, v: f64| match stages.iter_mut().find(|(n, _)| *n == name) {
        Some((_, all)) => all.push(v),
        None => stages.push((name, vec![v])),
    };
    for node in 1..=nodes {
        let raw = lab.kubectl_ok(&[
            "get",
            "--raw",
            &format!("/api/v1/nodes/node-{node}/proxy/startup"),
        ]);
        let list: serde_json::Value = serde_json::from_str(&raw).unwrap_or_default();
        for t in list["items"].as_array().into_iter().flatten() {
            let name = t["name"].as_str().unwrap_or_default();
            let (Some(first), Some(total)) = (seen.get(name), latency.get(name)) else {
                continue;
            };
            let watched = t["watchedAt"]
                .as_str()
                .and_then(|w| w.parse::<k8s_openapi::jiff::Timestamp>().ok())
                .map(SystemTime::from);
            let Some(before) = watched.and_then(|w| w.duration_since(*first).ok()) else {
                continue;
            };
            let before = before.as_secs_f64() * 1000.0;
            add("first on the watch -> kubelet watch event".into(), before);
            let mut steps: BTreeMap<usize, (String, f64)> = BTreeMap::new();
            for (i, e) in t["events"].as_array().into_iter().flatten().enumerate() {
                let step = e["step"].as_str().unwrap_or_default().to_string();
                steps.insert(i, (step, e["atMs"].as_f64().unwrap_or(0.0)));
            }
            let mut prev: Option<&(String, f64)> = None;
            for s in steps.values() {
                if let Some(p) = prev {
                    add(format!("kubelet {} -> {}", p.0, s.0), s.1 - p.1);
                }
                prev = Some(s);
            }
            if let Some(ready) = steps.values().find(|s| s.0 == "ready") {
                add("kubelet watch -> Ready written".into(), ready.1);
                add(
                    "Ready written -> Ready on the watch".into(),
                    total.as_secs_f64() * 1000.0 - before - ready.1,
                );
            }
            add(
                "total (first on the watch -> Ready)".into(),
                total.as_secs_f64() * 1000.0,
            );
        }
    }
    stages
}
