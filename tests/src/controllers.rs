//! What controller tests share: a control plane (etcd + apiserver + a
//! client), the controller-manager in-process, `kubectl apply` of JSON, and
//! a stand-in kubelet for tests that run without nodes, playing the two
//! parts of a kubelet the controllers react to:
//!
//! - pods bound or not, once older than `ready_after`, get status Running,
//!   Ready=True and a pod IP (through the status subresource, as a kubelet
//!   writes it);
//! - pods marked for deletion are finally deleted with grace period 0, as a
//!   kubelet does once their containers stopped.
//!
//! `pause()` stops both, so a test can hold a rollout in the middle.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};

/// A running fake kubelet for one namespace; stops when dropped.
pub struct FakeKubelet {
    task: tokio::task::JoinHandle<()>,
    paused: Arc<AtomicBool>,
    not_ready: Arc<Mutex<HashSet<String>>>,
}

impl FakeKubelet {
    /// Starts acting on the pods of `namespace`.
    pub fn start(client: kube::Client, namespace: &str, ready_after: Duration) -> FakeKubelet {
        let paused = Arc::new(AtomicBool::new(false));
        let not_ready: Arc<Mutex<HashSet<String>>> = Arc::default();
        let api: Api<Pod> = Api::namespaced(client, namespace);
        let (p, nr) = (Arc::clone(&paused), Arc::clone(&not_ready));
        let task = tokio::spawn(async move {
            let ip = AtomicU32::new(1);
            loop {
                tokio::time::sleep(Duration::from_millis(50)).await;
                if p.load(Ordering::SeqCst) {
                    continue;
                }
                let Ok(list) = api.list(&ListParams::default()).await else {
                    continue;
                };
                let now = k8s_openapi::jiff::Timestamp::now();
                for pod in list.items {
                    let name = pod.metadata.name.clone().unwrap_or_default();
                    if pod.metadata.deletion_timestamp.is_some() {
                        let _ = api
                            .delete(&name, &DeleteParams::default().grace_period(0))
                            .await;
                        continue;
                    }
                    if nr.lock().map(|s| s.contains(&name)).unwrap_or(false) {
                        continue;
                    }
                    let ready = pod
                        .status
                        .as_ref()
                        .and_then(|s| s.conditions.as_ref())
                        .is_some_and(|c| {
                            c.iter().any(|c| c.type_ == "Ready" && c.status == "True")
                        });
                    let age = pod
                        .metadata
                        .creation_timestamp
                        .as_ref()
                        .map(|t| now.as_millisecond() - t.0.as_millisecond())
                        .unwrap_or(0);
                    if ready || age < ready_after.as_millis() as i64 {
                        continue;
                    }
                    let n = ip.fetch_add(1, Ordering::Relaxed);
                    let status = serde_json::json!({"status": {
                        "phase": "Running",
                        "podIP": format!("10.244.{}.{}", n / 250, n % 250 + 2),
                        "startTime": now,
                        "conditions": [
                            {"type": "Ready", "status": "True", "lastTransitionTime": now},
                            {"type": "ContainersReady", "status": "True", "lastTransitionTime": now},
                        ],
                    }});
                    let _ = api
                        .patch_status(&name, &PatchParams::default(), &Patch::Merge(&status))
                        .await;
                }
            }
        });
        FakeKubelet {
            task,
            paused,
            not_ready,
        }
    }

    /// Stops acting until [`FakeKubelet::resume`].
    pub fn pause(&self) {
        self.paused.store(true, Ordering::SeqCst);
    }

    /// Acts again.
    pub fn resume(&self) {
        self.paused.store(false, Ordering::SeqCst);
    }

    /// Never makes this pod ready.
    pub fn keep_not_ready(&self, pod: &str) {
        if let Ok(mut s) = self.not_ready.lock() {
            s.insert(pod.to_string());
        }
    }
}

impl Drop for FakeKubelet {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A controller-manager running in-process until dropped.
pub struct ControllerManager(tokio::task::JoinHandle<anyhow::Result<()>>);

impl ControllerManager {
    /// Starts the named controllers (`*` for all) against `url`.
    pub async fn start(
        url: &str,
        controllers: &[&str],
        tweak: impl FnOnce(&mut controller_manager::Config),
    ) -> ControllerManager {
        let mut cfg = controller_manager::Config {
            controllers: controllers.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        };
        tweak(&mut cfg);
        let client = match controller_manager::config::client(None, Some(url)).await {
            Ok(c) => c,
            Err(e) => panic!("client: {e}"),
        };
        ControllerManager(tokio::spawn(controller_manager::run(client, cfg)))
    }

    /// Whether it stopped (lost leadership or failed).
    pub fn finished(&self) -> bool {
        self.0.is_finished()
    }
}

impl Drop for ControllerManager {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// etcd, the apiserver and a client.
pub struct ControlPlane {
    /// etcd (kept for its lifetime).
    pub etcd: crate::harness::Etcd,
    /// The apiserver.
    pub api: crate::harness::ApiServer,
    /// Its URL.
    pub url: String,
    /// A client.
    pub client: kube::Client,
}

impl ControlPlane {
    /// Starts etcd and the apiserver.
    pub async fn start() -> ControlPlane {
        ControlPlane::start_with(&[]).await
    }

    /// Starts etcd and the apiserver with extra flags.
    pub async fn start_with(apiserver_args: &[&str]) -> ControlPlane {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        let etcd = crate::harness::Etcd::start().await.expect("etcd");
        let api = crate::harness::ApiServer::start_with(&etcd, apiserver_args)
            .await
            .expect("apiserver");
        let url = api.url.clone();
        let client = match controller_manager::config::client(None, Some(&url)).await {
            Ok(c) => c,
            Err(e) => panic!("client: {e}"),
        };
        ControlPlane {
            etcd,
            api,
            url,
            client,
        }
    }

    /// Runs the real kubectl against this apiserver.
    pub fn kubectl(&self, args: &[&str]) -> crate::harness::KubectlOutput {
        crate::harness::kubectl(&self.url, args).expect("kubectl runs")
    }

    /// `kubectl apply -f` of a JSON manifest; panics on failure.
    pub fn apply(&self, manifest: &serde_json::Value) {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("m.json");
        std::fs::write(&p, manifest.to_string()).expect("write");
        let out = self.kubectl(&["apply", "-f", p.to_str().unwrap_or_default()]);
        assert!(out.success, "apply: {}{}", out.stdout, out.stderr);
    }

    /// A new namespace with a unique name.
    pub fn namespace(&self, prefix: &str) -> String {
        let ns = crate::harness::unique(prefix);
        let out = self.kubectl(&["create", "namespace", &ns]);
        assert!(out.success, "{}", out.stderr);
        ns
    }
}

/// Creates a Node named `name` with `labels` and `taints` (JSON arrays of
/// core/v1 Taints), Ready, as a kubelet would register it; panics on
/// failure.
pub async fn create_node(
    client: &kube::Client,
    name: &str,
    labels: serde_json::Value,
    taints: serde_json::Value,
) {
    let nodes: Api<k8s_openapi::api::core::v1::Node> = Api::all(client.clone());
    let node = serde_json::from_value(serde_json::json!({
        "metadata": {"name": name, "labels": labels},
        "spec": {"taints": taints},
    }))
    .expect("node");
    if let Err(e) = nodes.create(&Default::default(), &node).await {
        panic!("creating node {name}: {e}");
    }
    let status = serde_json::json!({"status": {"conditions": [
        {"type": "Ready", "status": "True", "reason": "KubeletReady",
         "lastHeartbeatTime": k8s_openapi::jiff::Timestamp::now()}]}});
    let _ = nodes
        .patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
        .await;
}

/// Writes a pod's phase and Ready condition through the status
/// subresource, as the kubelet does; `Err` with the apiserver's message.
pub async fn set_pod_status(
    client: &kube::Client,
    namespace: &str,
    pod: &str,
    phase: &str,
    ready: bool,
) -> Result<(), String> {
    let api: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let now = k8s_openapi::jiff::Timestamp::now();
    let r = if ready { "True" } else { "False" };
    let status = serde_json::json!({"status": {
        "phase": phase,
        "startTime": now,
        "conditions": [
            {"type": "Ready", "status": r, "lastTransitionTime": now},
            {"type": "ContainersReady", "status": r, "lastTransitionTime": now},
        ],
    }});
    api.patch_status(pod, &PatchParams::default(), &Patch::Merge(&status))
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}
