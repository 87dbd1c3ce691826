//! The chaos run behind `hack/chaos.sh`: a lab under steady load while its
//! components are killed with SIGKILL, one at a time, at random moments.
//!
//! The flow:
//!
//! ```text
//! workloads::deploy ──▶ watchers::spawn (50 raw watches + a kube-rs reflector)
//!        │                         │ every event, with its resourceVersion
//!        ▼                         ▼
//! load::spawn (creates/updates at a fixed rate, every acknowledged write kept)
//!        │           workloads::roll (a Deployment rolling back and forth)
//!        ▼
//! faults::cycle (kill -9, restart, time to recover, in turn, for the duration)
//!        ▼
//! report::check: lost writes, missed/duplicated/out-of-order events, the
//! reflector against a fresh list, container restarts, pods not Running.
//! ```
//!
//! Everything runs against the lab through its kubeconfig; the lab script
//! (`hack/local-up-cluster.sh kill|restart COMPONENT`) does the killing, so a
//! fault here is exactly what an operator's `kill -9` would be.

pub mod faults;
pub mod load;
pub mod report;
pub mod watchers;
pub mod workloads;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, ListParams, PostParams};
use tokio::sync::watch;

/// The namespace every object of the run lives in.
pub const NAMESPACE: &str = "chaos";
/// The label of the ConfigMaps the load writes (and the watchers watch).
pub const LOAD_LABEL: &str = "chaos=load";

/// What to run against.
#[derive(Debug, Clone)]
pub struct Options {
    /// The lab's name (`hack/local-up-cluster.sh --name`).
    pub lab_name: String,
    /// The lab's directory (its kubeconfig).
    pub lab_dir: PathBuf,
    /// The repository root (where `hack/local-up-cluster.sh` is).
    pub repo: PathBuf,
    /// How long faults are injected.
    pub duration: Duration,
    /// Acknowledged-or-not writes per second, over all writers.
    pub writes_per_second: u32,
    /// Raw watchers of the load.
    pub watchers: usize,
    /// Nodes in the lab.
    pub nodes: usize,
    /// Seed of the fault schedule (printed, so a run can be repeated).
    pub seed: u64,
}

/// A client for the lab, from its admin kubeconfig (the server, the
/// cluster CA and the admin's client certificate: the lab is HTTPS only).
pub async fn client(opts: &Options) -> anyhow::Result<kube::Client> {
    let path = opts.lab_dir.join("kubeconfig");
    let kubeconfig = kube::config::Kubeconfig::read_from(&path)
        .with_context(|| format!("reading {}", path.display()))?;
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .context("the lab's kubeconfig")?;
    Ok(kube::Client::try_from(config)?)
}

/// Runs the whole chaos scenario and returns its report.
pub async fn run(opts: Options) -> anyhow::Result<report::Report> {
    let client = client(&opts).await?;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace = serde_json::from_value(serde_json::json!({
        "metadata": {"name": NAMESPACE}
    }))?;
    match namespaces.create(&PostParams::default(), &ns).await {
        Ok(_) => {}
        Err(kube::Error::Api(e)) if e.code == 409 => {}
        Err(e) => return Err(e).context("creating the chaos namespace"),
    }

    println!(">>> deploying the steady and rolling Deployments");
    workloads::deploy(&client, opts.nodes).await?;

    // The load stops when the faults do; the watchers only once they have
    // caught up with the last write.
    let (stop_tx, stop_rx) = watch::channel(false);
    let (stop_watch_tx, stop_watch_rx) = watch::channel(false);
    println!(">>> starting {} watchers and a reflector", opts.watchers);
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), NAMESPACE);
    let logs = watchers::spawn(&cms, opts.watchers, stop_watch_rx.clone()).await?;
    let reflector = watchers::spawn_reflector(cms.clone(), stop_watch_rx);

    println!(
        ">>> load: {} writes/s; faults for {:?} (seed {})",
        opts.writes_per_second, opts.duration, opts.seed
    );
    let load = load::spawn(cms.clone(), opts.writes_per_second, stop_rx.clone());
    let roller = tokio::spawn(workloads::roll(client.clone(), stop_rx.clone()));

    let started = Instant::now();
    let recoveries = faults::cycle(&opts, &client, opts.duration).await;
    let _ = stop_tx.send(true);
    let load = load.await.context("the load task")?;
    let rollouts = roller.await.context("the roller task")?;
    println!(
        ">>> faults done after {:.0?}; letting the cluster settle",
        started.elapsed()
    );

    let settle = workloads::settle(&client, Duration::from_secs(240)).await;
    let sentinel = load::sentinel(&cms).await?;
    let caught_up = watchers::wait_for(&logs, sentinel, Duration::from_secs(60)).await;
    let final_list = cms
        .list(&ListParams::default().labels(LOAD_LABEL))
        .await
        .context("the final list")?;
    let reflected = reflector
        .state_when(sentinel, Duration::from_secs(60))
        .await;
    reflector.stop();
    let _ = stop_watch_tx.send(true);
    let pods = workloads::pod_health(&client).await?;
    Ok(report::check(report::Inputs {
        load,
        watchers: logs.iter().map(Arc::clone).collect(),
        caught_up,
        final_list: final_list.items,
        reflected,
        recoveries,
        rollouts,
        settle,
        pods,
    }))
}
