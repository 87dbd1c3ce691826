//! Pods bound to this node: the pod manager and one worker per pod.
//!
//! ```text
//! watch pods (spec.nodeName=<node>) ──▶ manager ──▶ worker per pod uid ──▶ runtime
//!                                         │            (worker.rs: sync loop)
//!                                         └── housekeeping: sandboxes of pods that
//!                                             no longer exist are torn down
//! ```
//!
//! A worker's sync is split as upstream's kuberuntime manager is: the state
//! machine ([`worker`]), image pulls with their policy, back-off and events
//! ([`images`]), and the pure translation of a Pod's container into the
//! runtime's `ContainerConfig` ([`container_config`]). Workers reach the
//! runtime only through its CRI-like traits
//! ([`container_runtime::cri::RuntimeService`] and
//! [`container_runtime::cri::ImageService`]), never the concrete runtime.
//!
//! The manager hands each worker the newest version of its pod through a
//! `watch` channel (a worker never queues stale versions: it only ever
//! looks at the latest) and closes the channel when the pod object is gone.
//! A restarted kubelet starts a worker for every pod it finds, and each
//! worker finds its sandbox and containers again in the runtime: nothing is
//! restarted.

pub mod admission;
pub mod backoff;
pub mod container_config;
pub mod env;
pub mod images;
pub mod probes;
pub mod resize;
pub mod service_env;
pub mod startup_trace;
pub mod status;
pub mod termination_message;
pub mod worker;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use component_base::events::Recorder;
use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::api::Api;
use kube::runtime::watcher::{self, watcher, Event};
use kube::runtime::WatchStreamExt;
use tokio::sync::watch;

use crate::config::Config;
use crate::network::{Network, PodRef};
use container_runtime::cri::{ContainerFilter, ImageService, PodSandbox, RuntimeService};

/// Failures of a pod sync.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The runtime failed.
    #[error(transparent)]
    Runtime(#[from] container_runtime::Error),
    /// The network could not be set up.
    #[error("network: {0}")]
    Network(String),
    /// An apiserver request failed.
    #[error("{what}: {source}")]
    Api {
        /// What we were doing.
        what: String,
        /// Why.
        #[source]
        source: kube::Error,
    },
    /// Writing the pod's files (hosts, resolv.conf) failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// What every worker shares.
pub struct Context {
    /// The apiserver.
    pub client: kube::Client,
    /// The container runtime's sandboxes and containers.
    pub runtime: Arc<dyn RuntimeService>,
    /// The container runtime's images.
    pub images: Arc<dyn ImageService>,
    /// Settings.
    pub config: Arc<Config>,
    /// The node's IP (hostIP of its pods).
    pub node_ip: String,
    /// CNI.
    pub network: Arc<Network>,
    /// Events (`kubelet, <node>`).
    pub recorder: Recorder,
    /// The newest version of every pod bound here, by uid (for the kubelet
    /// API's `/pods`).
    pub pods: std::sync::RwLock<HashMap<String, Arc<Pod>>>,
    /// The pods' ServiceAccount tokens (projected volumes).
    pub tokens: crate::volumes::service_account_token::TokenManager,
    /// The ConfigMaps and Secrets pods' volumes show.
    pub objects: crate::volumes::objects::ObjectCaches,
    /// The cluster's Services (for the containers' Service variables).
    pub services: Arc<crate::services::ServiceView>,
    /// Node pressure and the pods the eviction manager wants gone.
    pub eviction: Arc<crate::eviction::Shared>,
    /// When each step of every pod's start happened ([`startup_trace`]).
    pub startup: startup_trace::Traces,
}

/// Runs a blocking runtime call on tokio's blocking pool (the runtime
/// forks, mounts and reads files); a panic in it resumes here.
pub(crate) async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::task::spawn_blocking(f).await {
        Ok(v) => v,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

fn pod_ref(pod: &Pod) -> PodRef {
    PodRef {
        namespace: pod.metadata.namespace.clone().unwrap_or_default(),
        name: pod.metadata.name.clone().unwrap_or_default(),
        uid: pod.metadata.uid.clone().unwrap_or_default(),
    }
}

/// The pod's host ports, for the portmap plugin.
fn port_mappings(pod: &Pod) -> Vec<crate::network::PortMapping> {
    pod.spec
        .iter()
        .flat_map(|s| s.containers.iter())
        .flat_map(|c| c.ports.iter().flatten())
        .filter_map(|p| {
            let host_port = p.host_port.filter(|h| *h > 0)?;
            Some(crate::network::PortMapping {
                container_port: p.container_port as u16,
                host_port: host_port as u16,
                protocol: p
                    .protocol
                    .clone()
                    .unwrap_or_else(|| "TCP".into())
                    .to_lowercase(),
                host_ip: p.host_ip.clone().unwrap_or_default(),
            })
        })
        .collect()
}

impl Context {
    /// The pods bound to this node, as last seen.
    pub fn known_pods(&self) -> Vec<Arc<Pod>> {
        match self.pods.read() {
            Ok(p) => p.values().cloned().collect(),
            Err(_) => Vec::new(),
        }
    }

    fn remember(&self, uid: &str, pod: Option<Arc<Pod>>) {
        if let Ok(mut p) = self.pods.write() {
            match pod {
                Some(pod) => p.insert(uid.to_string(), pod),
                None => p.remove(uid),
            };
        }
    }

    /// Records an Event about the pod.
    pub fn event(&self, pod: &Pod, type_: &str, reason: &str, message: String) {
        self.recorder.event(pod, type_, reason, message);
    }

    fn sandbox_dir(&self, id: &str) -> PathBuf {
        self.runtime.pod_sandbox_dir(id)
    }

    /// The pod IP recorded for a sandbox.
    pub fn network_ip(&self, sandbox_id: &str) -> Option<String> {
        std::fs::read_to_string(self.sandbox_dir(sandbox_id).join("pod-ip"))
            .ok()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
    }

    /// CNI ADD for a new sandbox; records the IP next to it.
    pub async fn setup_network(&self, pod: &Pod, sb: &PodSandbox) -> Result<String, Error> {
        let netns = sb
            .ns("net")
            .ok_or_else(|| Error::Network("the sandbox has no network namespace".into()))?;
        let net = self.network.clone();
        let (pref, id, ports) = (pod_ref(pod), sb.id.clone(), port_mappings(pod));
        let result = tokio::task::spawn_blocking(move || net.setup_pod(&netns, &pref, &id, &ports))
            .await
            .map_err(|e| Error::Network(e.to_string()))?
            .map_err(|e| Error::Network(e.to_string()))?;
        let ip = result.ip.to_string();
        let path = self.sandbox_dir(&sb.id).join("pod-ip");
        std::fs::write(&path, &ip).map_err(|source| Error::Io { path, source })?;
        Ok(ip)
    }

    /// Writes the pod's /etc/hosts and /etc/resolv.conf into the sandbox
    /// directory, from which the runtime binds them into every container.
    pub fn write_pod_files(&self, pod: &Pod, sb: &PodSandbox, ip: &str) -> Result<(), Error> {
        let dir = self.sandbox_dir(&sb.id);
        let hosts = crate::network::hosts_file(pod, ip, &self.config.file.cluster_domain);
        let resolv = crate::network::resolv_conf(
            pod,
            &self.config.file.cluster_dns,
            &self.config.file.cluster_domain,
        );
        let write = |name: &str, text: &str| {
            let path = dir.join(name);
            std::fs::write(&path, text).map_err(|source| Error::Io { path, source })
        };
        write("hosts", &hosts)?;
        write("resolv.conf", &resolv)
    }

    /// Stops and removes a sandbox, its containers and its network.
    pub async fn teardown_sandbox(&self, uid: &str, sandbox_id: &str, pod: &Pod) {
        let rt = self.runtime.clone();
        let net = self.network.clone();
        let uid = uid.to_string();
        let id = sandbox_id.to_string();
        let pref = PodRef {
            uid: uid.clone(),
            ..pod_ref(pod)
        };
        let ports = port_mappings(pod);
        let _ = tokio::task::spawn_blocking(move || {
            let of_sandbox = ContainerFilter {
                pod_sandbox_id: Some(id.clone()),
                ..ContainerFilter::default()
            };
            for c in rt.list_containers_filtered(&of_sandbox).unwrap_or_default() {
                let _ = rt.stop_container(&c.spec.id, Duration::from_secs(0));
                if let Err(e) = rt.remove_container(&c.spec.id) {
                    tracing::warn!(container = %c.spec.id, error = %e, "removing a container failed");
                }
            }
            let netns = rt.pod_sandbox_status(&id).ok().and_then(|s| s.ns("net"));
            let host_network = rt
                .pod_sandbox_status(&id)
                .map(|s| s.config.host_network)
                .unwrap_or(false);
            if !host_network {
                if let Err(e) = net.teardown_pod(netns.as_deref(), &pref, &id, &ports) {
                    tracing::warn!(sandbox = %id, error = %e, "network teardown failed");
                }
            }
            let _ = rt.stop_pod_sandbox(&id, Duration::from_secs(0));
            if let Err(e) = rt.remove_pod_sandbox(&id) {
                tracing::warn!(sandbox = %id, error = %e, "removing the sandbox failed");
            }
        })
        .await;
    }
}

/// Watches the pods bound to this node and keeps one worker per pod.
pub async fn run(ctx: Arc<Context>) {
    let api: Api<Pod> = Api::all(ctx.client.clone());
    let cfg = watcher::Config::default().fields(&format!("spec.nodeName={}", ctx.config.node_name));
    let mut stream = watcher(api, cfg).default_backoff().boxed();
    let mut workers: HashMap<String, watch::Sender<Option<Arc<Pod>>>> = HashMap::new();
    let mut listing: Option<Vec<String>> = None;
    let mut housekeeping = tokio::time::interval(Duration::from_secs(30));
    loop {
        tokio::select! {
            ev = stream.next() => {
                let Some(ev) = ev else { return };
                match ev {
                    Ok(Event::Apply(pod)) | Ok(Event::InitApply(pod)) => {
                        let uid = pod.metadata.uid.clone().unwrap_or_default();
                        if let Some(l) = listing.as_mut() {
                            l.push(uid.clone());
                        }
                        deliver(&ctx, &mut workers, uid, pod);
                    }
                    Ok(Event::Delete(pod)) => {
                        let uid = pod.metadata.uid.clone().unwrap_or_default();
                        ctx.remember(&uid, None);
                        if let Some(tx) = workers.remove(&uid) {
                            let _ = tx.send(None);
                        }
                    }
                    Ok(Event::Init) => listing = Some(Vec::new()),
                    Ok(Event::InitDone) => {
                        // Pods that vanished while we were not watching.
                        let seen = listing.take().unwrap_or_default();
                        workers.retain(|uid, tx| {
                            let keep = seen.contains(uid);
                            if !keep {
                                ctx.remember(uid, None);
                                let _ = tx.send(None);
                            }
                            keep
                        });
                        cleanup_orphans(&ctx, &seen).await;
                    }
                    Err(e) => tracing::warn!(error = %e, "watching pods failed; retrying"),
                }
            }
            _ = housekeeping.tick() => {
                workers.retain(|_, tx| !tx.is_closed());
                let known: Vec<String> = workers.keys().cloned().collect();
                if listing.is_none() {
                    cleanup_orphans(&ctx, &known).await;
                }
            }
        }
    }
}

fn deliver(
    ctx: &Arc<Context>,
    workers: &mut HashMap<String, watch::Sender<Option<Arc<Pod>>>>,
    uid: String,
    pod: Pod,
) {
    ctx.startup.watched(&pod);
    let pod = Arc::new(pod);
    ctx.remember(&uid, Some(pod.clone()));
    if let Some(tx) = workers.get(&uid) {
        if tx.send(Some(pod.clone())).is_ok() {
            return;
        }
        // The worker ended (pod finished deleting); a new object with the
        // same uid cannot exist, so nothing more to do.
        workers.remove(&uid);
        if pod.metadata.deletion_timestamp.is_some() {
            return;
        }
    }
    let (tx, rx) = watch::channel(Some(pod));
    workers.insert(uid.clone(), tx);
    let w = worker::Worker::new(ctx.clone(), uid);
    tokio::spawn(w.run(rx));
}

/// Tears down sandboxes whose pod is not among `known` (deleted while the
/// kubelet was down, or force-deleted).
async fn cleanup_orphans(ctx: &Arc<Context>, known: &[String]) {
    let rt = ctx.runtime.clone();
    let sandboxes =
        tokio::task::spawn_blocking(move || rt.list_pod_sandboxes().unwrap_or_default())
            .await
            .unwrap_or_default();
    for sb in sandboxes {
        if !known.contains(&sb.config.uid) {
            tracing::info!(pod = %format!("{}/{}", sb.config.namespace, sb.config.name), "removing the sandbox of a pod that no longer exists");
            let pod = Pod {
                metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
                    name: Some(sb.config.name.clone()),
                    namespace: Some(sb.config.namespace.clone()),
                    uid: Some(sb.config.uid.clone()),
                    ..Default::default()
                },
                ..Default::default()
            };
            ctx.teardown_sandbox(&sb.config.uid, &sb.id, &pod).await;
            let root = ctx.config.root_dir.clone();
            let uid = sb.config.uid.clone();
            let _ =
                tokio::task::spawn_blocking(move || crate::volumes::teardown(&root, &uid)).await;
        }
    }
}
