//! The Node object of this kubelet: registration, status and heartbeats.
//!
//! - [`register`]: create the Node (labels, capacity, addresses, nodeInfo,
//!   kubelet port) or adopt an existing one;
//! - [`status`]: capacity/allocatable from the machine, the Ready
//!   condition, the pressure conditions the eviction manager
//!   ([`crate::eviction`]) publishes, the images present;
//! - [`lease`]: the `kube-node-lease/<node>` Lease renewed every 10 s, the
//!   cheap heartbeat the node lifecycle controller watches.
//!
//! [`run`] keeps all three going: status is computed every
//! `nodeStatusUpdateFrequency` and posted when it changed (or every 5
//! minutes); a Node deleted under us is registered again.

pub mod lease;
pub mod machine;
pub mod status;

use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Node;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, Patch, PatchParams, PostParams};

use crate::config::Config;
use container_runtime::Runtime;

/// Failures talking to the apiserver about our Node.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An apiserver request failed.
    #[error("{what}: {source}")]
    Api {
        /// What we were doing.
        what: String,
        /// Why.
        #[source]
        source: kube::Error,
    },
}

fn api_err(what: impl Into<String>) -> impl FnOnce(kube::Error) -> Error {
    let what = what.into();
    move |source| Error::Api { what, source }
}

/// How long status may go unposted even when unchanged (upstream
/// `nodeStatusReportFrequency`).
const REPORT_FREQUENCY: Duration = Duration::from_secs(300);

/// The local address on the route to the apiserver: the InternalIP when
/// `--node-ip` is not given.
fn apiserver_route(cfg: &Config) -> Option<std::net::IpAddr> {
    cfg.apiserver.as_deref().and_then(machine::ip_towards)
}

/// Creates the Node, or takes over an existing one with our name.
pub async fn register(
    client: &kube::Client,
    cfg: &Config,
    runtime: &Runtime,
    eviction: &crate::eviction::Shared,
) -> Result<Node, Error> {
    let api: Api<Node> = Api::all(client.clone());
    let labels = [
        ("kubernetes.io/hostname".to_string(), cfg.node_name.clone()),
        ("kubernetes.io/os".to_string(), "linux".to_string()),
        (
            "kubernetes.io/arch".to_string(),
            machine::arch().to_string(),
        ),
        ("beta.kubernetes.io/os".to_string(), "linux".to_string()),
        (
            "beta.kubernetes.io/arch".to_string(),
            machine::arch().to_string(),
        ),
    ];
    let node = Node {
        metadata: ObjectMeta {
            name: Some(cfg.node_name.clone()),
            labels: Some(labels.into_iter().collect()),
            ..Default::default()
        },
        spec: (!cfg.file.register_with_taints.is_empty()).then(|| {
            k8s_openapi::api::core::v1::NodeSpec {
                taints: Some(cfg.file.register_with_taints.clone()),
                ..Default::default()
            }
        }),
        status: None,
    };
    let node = match api.create(&PostParams::default(), &node).await {
        Ok(n) => {
            tracing::info!(node = %cfg.node_name, "registered node");
            n
        }
        Err(kube::Error::Api(s)) if s.code == 409 => {
            tracing::info!(node = %cfg.node_name, "node already registered; taking it over");
            api.get(&cfg.node_name)
                .await
                .map_err(api_err("reading our node"))?
        }
        Err(e) => return Err(api_err("registering the node")(e)),
    };
    let status = status::compute(
        cfg,
        runtime,
        node.status.as_ref(),
        apiserver_route(cfg),
        &eviction.conditions(),
    );
    post_status(client, &cfg.node_name, &status).await
}

async fn post_status(
    client: &kube::Client,
    name: &str,
    status: &k8s_openapi::api::core::v1::NodeStatus,
) -> Result<Node, Error> {
    let api: Api<Node> = Api::all(client.clone());
    let patch = serde_json::json!({"status": status});
    api.patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(api_err("posting node status"))
}

/// Keeps the Node registered, its status current and its Lease renewed.
/// A change of the pressure conditions is posted at once; the node's
/// addresses are published on `addresses` each time they change.
pub async fn run(
    client: kube::Client,
    cfg: Arc<Config>,
    runtime: Arc<Runtime>,
    eviction: Arc<crate::eviction::Shared>,
    addresses: tokio::sync::watch::Sender<Vec<k8s_openapi::api::core::v1::NodeAddress>>,
) {
    let lease_task = tokio::spawn(lease::run(client.clone(), cfg.node_name.clone()));
    let mut last_posted: Option<(k8s_openapi::api::core::v1::NodeStatus, Instant)> = None;
    let api: Api<Node> = Api::all(client.clone());
    loop {
        let current = match api.get_opt(&cfg.node_name).await {
            Ok(Some(n)) => Some(n),
            Ok(None) => {
                // Deleted under us: register again, as upstream's kubelet.
                match register(&client, &cfg, &runtime, &eviction).await {
                    Ok(n) => Some(n),
                    Err(e) => {
                        tracing::warn!(error = %e, "re-registering the node failed");
                        None
                    }
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "reading our node failed");
                None
            }
        };
        if let Some(node) = current {
            let status = status::compute(
                &cfg,
                &runtime,
                node.status.as_ref(),
                apiserver_route(&cfg),
                &eviction.conditions(),
            );
            // The serving certificate manager compares them with its
            // certificate's names.
            let now = status.addresses.clone().unwrap_or_default();
            addresses.send_if_modified(|have| {
                let changed = *have != now;
                *have = now;
                changed
            });
            let due = last_posted.as_ref().is_none_or(|(s, at)| {
                !status::same_ignoring_heartbeats(s, &status) || at.elapsed() >= REPORT_FREQUENCY
            });
            if due {
                match post_status(&client, &cfg.node_name, &status).await {
                    Ok(_) => last_posted = Some((status, Instant::now())),
                    Err(e) => tracing::warn!(error = %e, "posting node status failed"),
                }
            }
        }
        if lease_task.is_finished() {
            tracing::error!("lease renewal stopped");
        }
        tokio::select! {
            _ = tokio::time::sleep(cfg.file.node_status_update_frequency) => {}
            _ = eviction.changed() => {}
        }
    }
}
