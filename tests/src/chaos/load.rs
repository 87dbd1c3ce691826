//! The steady write load: ConfigMaps created and updated at a fixed rate.
//!
//! Several writers share the rate; each owns its own names and writes them
//! one at a time with an increasing `seq`, so "the final object has a `seq`
//! at least as new as the last acknowledged one" is exactly "no
//! acknowledged write was lost". A write is acknowledged when the apiserver
//! answered it with success; a write that failed or timed out is counted,
//! never assumed.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams, PostParams};
use rand::Rng;
use tokio::sync::watch;

use super::NAMESPACE;

/// Writers sharing the rate.
const WRITERS: usize = 4;
/// How long one write may take before it counts as failed.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// One acknowledged write.
#[derive(Debug, Clone)]
pub struct Ack {
    /// The ConfigMap's name.
    pub name: String,
    /// The `seq` it wrote.
    pub seq: u64,
    /// The resourceVersion the apiserver answered.
    pub rv: u64,
}

/// What the load did.
#[derive(Debug, Default)]
pub struct Load {
    /// Every acknowledged write.
    pub acked: Vec<Ack>,
    /// Writes refused or failed (apiserver or etcd down, timeouts).
    pub failed: u64,
}

fn rv_of(cm: &ConfigMap) -> u64 {
    cm.metadata
        .resource_version
        .as_deref()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn config_map(name: &str, seq: u64) -> ConfigMap {
    let mut cm = ConfigMap::default();
    cm.metadata.name = Some(name.to_string());
    cm.metadata.namespace = Some(NAMESPACE.to_string());
    cm.metadata.labels = Some([("chaos".to_string(), "load".to_string())].into());
    cm.data = Some([("seq".to_string(), seq.to_string())].into());
    cm
}

/// Starts the writers; the handle yields what they did once `stop` is set.
pub fn spawn(
    api: Api<ConfigMap>,
    per_second: u32,
    stop: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<Load> {
    tokio::spawn(async move {
        let period = Duration::from_secs_f64(WRITERS as f64 / f64::from(per_second.max(1)));
        let tasks: Vec<_> = (0..WRITERS)
            .map(|w| tokio::spawn(writer(api.clone(), w, period, stop.clone())))
            .collect();
        let mut load = Load::default();
        for t in tasks {
            if let Ok(part) = t.await {
                load.acked.extend(part.acked);
                load.failed += part.failed;
            }
        }
        load
    })
}

async fn writer(
    api: Api<ConfigMap>,
    w: usize,
    period: Duration,
    mut stop: watch::Receiver<bool>,
) -> Load {
    let mut load = Load::default();
    // Names this writer created (acknowledged), with the last seq it sent.
    let mut owned: Vec<(String, u64)> = Vec::new();
    let mut next_name = 0u64;
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => break,
        }
        if *stop.borrow() {
            break;
        }
        let create = owned.is_empty() || rand::thread_rng().gen_bool(0.3);
        let result = if create {
            let name = format!("load-{w}-{next_name}");
            next_name += 1;
            let res = tokio::time::timeout(
                WRITE_TIMEOUT,
                api.create(&PostParams::default(), &config_map(&name, 0)),
            )
            .await;
            match res {
                Ok(Ok(cm)) => {
                    owned.push((name.clone(), 0));
                    Some(Ack {
                        name,
                        seq: 0,
                        rv: rv_of(&cm),
                    })
                }
                _ => None,
            }
        } else {
            let i = rand::thread_rng().gen_range(0..owned.len());
            let (name, seq) = &mut owned[i];
            // The next seq is used even if this write fails: a write whose
            // outcome is unknown may have landed, and seqs must only grow.
            *seq += 1;
            let patch = serde_json::json!({"data": {"seq": seq.to_string()}});
            let res = tokio::time::timeout(
                WRITE_TIMEOUT,
                api.patch(name, &PatchParams::default(), &Patch::Merge(&patch)),
            )
            .await;
            match res {
                Ok(Ok(cm)) => Some(Ack {
                    name: name.clone(),
                    seq: *seq,
                    rv: rv_of(&cm),
                }),
                _ => None,
            }
        };
        match result {
            Some(ack) => load.acked.push(ack),
            None => load.failed += 1,
        }
    }
    load
}

/// Writes one last ConfigMap after the load stopped and returns its
/// resourceVersion: every watcher has seen everything once it has seen this.
pub async fn sentinel(api: &Api<ConfigMap>) -> anyhow::Result<u64> {
    let name = format!("sentinel-{}", std::process::id());
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match api
            .create(&PostParams::default(), &config_map(&name, 0))
            .await
        {
            Ok(cm) => return Ok(rv_of(&cm)),
            Err(e) if Instant::now() > deadline => {
                return Err(anyhow::anyhow!("the sentinel write failed: {e}"))
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
}
