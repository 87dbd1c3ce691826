//! Pieces the lab benchmarks (`src/bin/bench-pods.rs`,
//! `src/bin/bench-workloads.rs`) share: a kube client for the lab, images
//! pulled on every node first, and a pod watch that is already listening.

use anyhow::{bail, Context as _};
use futures::stream::BoxStream;
use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::api::Api;
use kube::runtime::watcher::{self, watcher, Event};

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
