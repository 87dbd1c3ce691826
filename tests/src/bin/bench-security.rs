//! `bench-security`: what authentication and RBAC cost, in one run.
//!
//! Starts the apiserver binary next to this one (build it and this bench in
//! the same profile; `hack/bench-apiserver.sh security` uses release) twice per round,
//! each time on a fresh etcd, serving TLS on its secure port with a static
//! token file:
//!
//! - **RBAC**: `--authorization-mode=Node,RBAC`; the client is `bench`, a
//!   user in no group but `system:authenticated`, bound by a RoleBinding to
//!   a Role that allows pods in one namespace (the bootstrap policy's
//!   bindings are all there, so RBAC walks them as on a real cluster);
//! - **AlwaysAllow**: the same server with `--authorization-mode=AlwaysAllow`,
//!   the same client and token.
//!
//! Both go through TLS and token authentication, so the difference is the
//! authorizer. For each it measures pod creates/s at concurrency 16 and,
//! with 10 watchers on the namespace, the delivery delay of pods created at
//! a steady 100/s (p50/p99 from the create's send). Rounds alternate the two
//! modes, so drift on a shared machine hits both; the best round of each
//! counts, and each round's own creates ratio is printed too. It prints a
//! table with the ratios (target: RBAC >= 0.8x) and the machine's load
//! average; it only reports, never fails on a slow machine.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, PostParams, WatchEvent, WatchParams};
use serde_json::json;
use tests::harness::{free_port, ApiServer, Etcd};
use tokio::sync::Semaphore;

const CREATES: usize = 1000;
const CONCURRENCY: usize = 16;
const PACED: usize = 500;
const PACED_RATE: f64 = 100.0;
const WATCHERS: usize = 10;
const ROUNDS: usize = 3;
const TOKEN: &str = "bench-token-0123456789";
const NS: &str = "bench";

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Rbac,
    AlwaysAllow,
}

impl Mode {
    fn flag(self) -> &'static str {
        match self {
            Mode::Rbac => "Node,RBAC",
            Mode::AlwaysAllow => "AlwaysAllow",
        }
    }
}

/// One mode's figures in one round.
#[derive(Clone, Copy, Default)]
struct Figures {
    creates_per_s: f64,
    p50: Duration,
    p99: Duration,
}

fn pod(name: &str) -> Pod {
    serde_json::from_value(json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": "bench"}},
        "spec": {"containers": [{"name": "web", "image": "busybox:1.36",
            "command": ["sh", "-c", "httpd -f -p 8080"],
            "resources": {"requests": {"cpu": "50m", "memory": "16Mi"}}}]}}))
    .unwrap_or_default()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

/// The bench user's client: the secure port, the token, the server's
/// self-signed certificate taken as is.
async fn client(dir: &std::path::Path, url: &str) -> anyhow::Result<kube::Client> {
    let path = dir.join("bench.kubeconfig");
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {{server: {url}, insecure-skip-tls-verify: true}}\n\
             users:\n- name: u\n  user: {{token: {TOKEN}}}\ncontexts:\n- name: x\n  context: {{cluster: c, user: u, namespace: {NS}}}\ncurrent-context: x\n"
        ),
    )?;
    Ok(component_base::client::client(Some(&path), None).await?)
}

/// Starts etcd and the apiserver in `mode`, sets up the namespace and the
/// bench user's Role, and measures.
async fn measure(mode: Mode) -> anyhow::Result<Figures> {
    let dir = tempfile::tempdir()?;
    let tokens = dir.path().join("tokens.csv");
    std::fs::write(&tokens, format!("{TOKEN},bench,uid-bench\n"))?;
    let port = free_port();
    let etcd = Etcd::start().await.context("etcd")?;
    let certs = dir.path().join("certs");
    let api = ApiServer::start_with(
        &etcd,
        &[
            "--secure-port",
            &port.to_string(),
            "--cert-dir",
            certs.to_str().unwrap_or_default(),
            "--token-auth-file",
            tokens.to_str().unwrap_or_default(),
            "--authorization-mode",
            mode.flag(),
        ],
    )
    .await
    .context("apiserver")?;
    // Set-up as the administrator on the harness's plain port.
    let admin = api.http();
    for (path, body) in [
        ("/api/v1/namespaces", json!({"metadata": {"name": NS}})),
        (
            "/apis/rbac.authorization.k8s.io/v1/namespaces/bench/roles",
            json!({"metadata": {"name": "pods"}, "rules": [{"apiGroups": [""],
                "resources": ["pods"], "verbs": ["create", "get", "list", "watch", "delete"]}]}),
        ),
        (
            "/apis/rbac.authorization.k8s.io/v1/namespaces/bench/rolebindings",
            json!({"metadata": {"name": "bench"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "pods"},
                "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "bench"}]}),
        ),
    ] {
        let r = admin.post(path, &body).await?;
        anyhow::ensure!(r.status == 201, "{path}: {} {}", r.status, r.body);
    }
    let client = client(dir.path(), &format!("https://127.0.0.1:{port}")).await?;
    let pods: Api<Pod> = Api::namespaced(client, NS);
    // The user may do exactly this (and RBAC has seen the binding).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match pods.create(&PostParams::default(), &pod("warm-up")).await {
            Ok(_) => break,
            Err(e) if Instant::now() < deadline => {
                tracing::debug!(error = %e, "waiting for the binding");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => return Err(e).context("the bench user cannot create pods"),
        }
    }

    // Creates at concurrency 16.
    let sem = Arc::new(Semaphore::new(CONCURRENCY));
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(CREATES);
    for i in 0..CREATES {
        let permit = Arc::clone(&sem).acquire_owned().await?;
        let pods = pods.clone();
        tasks.push(tokio::spawn(async move {
            let r = pods
                .create(&PostParams::default(), &pod(&format!("c-{i}")))
                .await;
            drop(permit);
            r
        }));
    }
    for t in tasks {
        t.await??;
    }
    let creates_per_s = CREATES as f64 / start.elapsed().as_secs_f64();

    // Watch delivery at a steady pace.
    let rv = pods
        .list_metadata(&Default::default())
        .await?
        .metadata
        .resource_version
        .unwrap_or_default();
    let mut streams = Vec::new();
    for _ in 0..WATCHERS {
        streams.push(pods.watch(&WatchParams::default(), &rv).await?.boxed());
    }
    let sent: Arc<std::sync::Mutex<Vec<Option<Instant>>>> =
        Arc::new(std::sync::Mutex::new(vec![None; PACED]));
    let receivers: Vec<_> = streams
        .into_iter()
        .map(|mut s| {
            let sent = Arc::clone(&sent);
            tokio::spawn(async move {
                let mut delays = Vec::with_capacity(PACED);
                while delays.len() < PACED {
                    let next = tokio::time::timeout(Duration::from_secs(30), s.try_next()).await;
                    let Ok(Ok(Some(ev))) = next else { break };
                    let now = Instant::now();
                    let WatchEvent::Added(p) = ev else { continue };
                    let idx = p
                        .metadata
                        .name
                        .as_deref()
                        .and_then(|n| n.strip_prefix("w-"))
                        .and_then(|n| n.parse::<usize>().ok());
                    let at = idx.and_then(|i| sent.lock().ok().and_then(|s| s.get(i).copied()));
                    if let Some(Some(at)) = at {
                        delays.push(now.saturating_duration_since(at));
                    }
                }
                delays
            })
        })
        .collect();
    let start = tokio::time::Instant::now();
    let mut writes = Vec::with_capacity(PACED);
    for i in 0..PACED {
        tokio::time::sleep_until(start + Duration::from_secs_f64(i as f64 / PACED_RATE)).await;
        let pods = pods.clone();
        let sent = Arc::clone(&sent);
        writes.push(tokio::spawn(async move {
            if let Ok(mut s) = sent.lock() {
                s[i] = Some(Instant::now());
            }
            pods.create(&PostParams::default(), &pod(&format!("w-{i}")))
                .await
        }));
    }
    for w in writes {
        w.await??;
    }
    let mut delays = Vec::new();
    for r in receivers {
        delays.extend(r.await?);
    }
    delays.sort();
    anyhow::ensure!(
        delays.len() == PACED * WATCHERS,
        "{} of {} watch events arrived",
        delays.len(),
        PACED * WATCHERS
    );
    drop(api);
    drop(etcd);
    Ok(Figures {
        creates_per_s,
        p50: percentile(&delays, 0.5),
        p99: percentile(&delays, 0.99),
    })
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let load_before = load_average();
    let mut rbac = Vec::new();
    let mut allow = Vec::new();
    for round in 0..ROUNDS {
        // Alternate which goes first.
        let order = if round % 2 == 0 {
            [Mode::Rbac, Mode::AlwaysAllow]
        } else {
            [Mode::AlwaysAllow, Mode::Rbac]
        };
        for mode in order {
            let f = measure(mode).await?;
            eprintln!(
                "round {round} {}: {:.0} creates/s, watch p50 {:.2} ms p99 {:.2} ms",
                mode.flag(),
                f.creates_per_s,
                f.p50.as_secs_f64() * 1e3,
                f.p99.as_secs_f64() * 1e3
            );
            match mode {
                Mode::Rbac => rbac.push(f),
                Mode::AlwaysAllow => allow.push(f),
            }
        }
    }
    let best = |v: &[Figures]| Figures {
        creates_per_s: v.iter().map(|f| f.creates_per_s).fold(0.0, f64::max),
        p50: v.iter().map(|f| f.p50).min().unwrap_or_default(),
        p99: v.iter().map(|f| f.p99).min().unwrap_or_default(),
    };
    let (r, a) = (best(&rbac), best(&allow));
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "security benchmark: TLS + token, {CREATES} creates at concurrency {CONCURRENCY}, {PACED} paced creates at {PACED_RATE:.0}/s to {WATCHERS} watchers, best of {ROUNDS} rounds; load average before {load_before}, after {}",
        load_average()
    );
    println!("| measure | Node,RBAC (user bound to a Role) | AlwaysAllow | RBAC / AlwaysAllow |");
    println!("| --- | --- | --- | --- |");
    println!(
        "| creates/s | {:.0} | {:.0} | **{:.2}x** (target >= 0.8x) |",
        r.creates_per_s,
        a.creates_per_s,
        r.creates_per_s / a.creates_per_s.max(1e-9)
    );
    println!(
        "| watch delivery p50 | {:.2} ms | {:.2} ms | {:.2}x |",
        ms(r.p50),
        ms(a.p50),
        ms(r.p50) / ms(a.p50).max(1e-9)
    );
    println!(
        "| watch delivery p99 | {:.2} ms | {:.2} ms | {:.2}x |",
        ms(r.p99),
        ms(a.p99),
        ms(r.p99) / ms(a.p99).max(1e-9)
    );
    // The two modes of one round ran back to back, so their ratio shows
    // how much of the spread is the machine's.
    let per_round: Vec<String> = rbac
        .iter()
        .zip(&allow)
        .map(|(r, a)| format!("{:.2}x", r.creates_per_s / a.creates_per_s.max(1e-9)))
        .collect();
    println!("creates/s ratio per round: {}", per_round.join(", "));
    Ok(())
}
