//! The pods that must ride out the faults: `steady` (one pod per node, never
//! changed: a kubelet restart must not restart its containers) and `roller`
//! (its template flips between two versions every few seconds, so a rollout
//! is always under way when something is killed).

use std::time::{Duration, Instant};

use anyhow::Context;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use tokio::sync::watch;

use super::NAMESPACE;

/// How often `roller`'s template flips.
const ROLL_EVERY: Duration = Duration::from_secs(20);

fn deployment(name: &str, replicas: usize, spread: bool) -> anyhow::Result<Deployment> {
    let mut spec = serde_json::json!({
        "terminationGracePeriodSeconds": 1,
        "containers": [{
            "name": "main",
            "image": "busybox:1.36",
            "command": ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"],
            "readinessProbe": {"exec": {"command": ["true"]}, "periodSeconds": 2}
        }]
    });
    if spread {
        spec["topologySpreadConstraints"] = serde_json::json!([{
            "maxSkew": 1,
            "topologyKey": "kubernetes.io/hostname",
            "whenUnsatisfiable": "DoNotSchedule",
            "labelSelector": {"matchLabels": {"app": name}}
        }]);
    }
    Ok(serde_json::from_value(serde_json::json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name, "chaos": "workload"}},
                "spec": spec
            }
        }
    }))?)
}

/// Creates both Deployments and waits until they are available.
pub async fn deploy(client: &kube::Client, nodes: usize) -> anyhow::Result<()> {
    let api: Api<Deployment> = Api::namespaced(client.clone(), NAMESPACE);
    for d in [
        deployment("steady", nodes, true)?,
        deployment("roller", nodes, false)?,
    ] {
        match api.create(&PostParams::default(), &d).await {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 409 => {}
            Err(e) => return Err(e).context("creating a Deployment"),
        }
    }
    if !wait_available(&api, Duration::from_secs(180)).await {
        anyhow::bail!("the chaos Deployments did not become available");
    }
    Ok(())
}

async fn wait_available(api: &Api<Deployment>, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(list) = api.list(&ListParams::default()).await {
            let done = list.items.iter().all(|d| {
                let want = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
                let st = d.status.clone().unwrap_or_default();
                st.observed_generation >= d.metadata.generation
                    && st.updated_replicas == Some(want)
                    && st.available_replicas == Some(want)
                    && st.replicas == Some(want)
            });
            if done && !list.items.is_empty() {
                return true;
            }
        }
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Flips `roller`'s template until `stop`; returns the rollouts started.
pub async fn roll(client: kube::Client, mut stop: watch::Receiver<bool>) -> u64 {
    let api: Api<Deployment> = Api::namespaced(client, NAMESPACE);
    let mut started = 0u64;
    let mut version = 0u64;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(ROLL_EVERY) => {}
            _ = stop.changed() => return started,
        }
        version += 1;
        let patch = serde_json::json!({"spec": {"template": {"metadata": {
            "annotations": {"chaos/version": (version % 2).to_string()}}}}});
        if api
            .patch("roller", &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .is_ok()
        {
            started += 1;
        }
    }
}

/// How the cluster settled after the faults.
#[derive(Debug, Clone)]
pub struct Settle {
    /// Whether both Deployments were complete and available.
    pub available: bool,
    /// How long that took after the last fault.
    pub took: Duration,
}

/// Waits until both Deployments are complete again.
pub async fn settle(client: &kube::Client, timeout: Duration) -> Settle {
    let api: Api<Deployment> = Api::namespaced(client.clone(), NAMESPACE);
    let start = Instant::now();
    let available = wait_available(&api, timeout).await;
    Settle {
        available,
        took: start.elapsed(),
    }
}

/// The workload pods at the end.
#[derive(Debug, Clone, Default)]
pub struct PodHealth {
    /// Workload pods.
    pub total: usize,
    /// Of those, not Running and Ready (or being deleted).
    pub not_running: Vec<String>,
    /// Container restarts summed over the workload pods.
    pub restarts: i32,
}

/// Counts the workload pods that are not Running, and container restarts.
pub async fn pod_health(client: &kube::Client) -> anyhow::Result<PodHealth> {
    let api: Api<Pod> = Api::namespaced(client.clone(), NAMESPACE);
    let pods = api
        .list(&ListParams::default().labels("chaos=workload"))
        .await
        .context("listing the workload pods")?;
    let mut health = PodHealth::default();
    for p in pods.items {
        health.total += 1;
        let name = p.metadata.name.clone().unwrap_or_default();
        let status = p.status.clone().unwrap_or_default();
        let ready = status
            .conditions
            .iter()
            .flatten()
            .any(|c| c.type_ == "Ready" && c.status == "True");
        if p.metadata.deletion_timestamp.is_some()
            || status.phase.as_deref() != Some("Running")
            || !ready
        {
            health.not_running.push(name);
        }
        health.restarts += status
            .container_statuses
            .iter()
            .flatten()
            .map(|c| c.restart_count)
            .sum::<i32>();
    }
    Ok(health)
}
