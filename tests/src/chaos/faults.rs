//! The faults: each component in turn is killed with SIGKILL at a random
//! moment, left down for a moment, started again with its own command line
//! (`hack/local-up-cluster.sh kill|restart`), and timed until it does its
//! job again. What "its job" is differs per component:
//!
//! | component          | recovered when                                           |
//! |--------------------|----------------------------------------------------------|
//! | etcd               | a write through the apiserver succeeds                    |
//! | apiserver          | `/readyz` answers ok                                      |
//! | scheduler          | a new pod is bound (after the old leader's Lease expires) |
//! | controller-manager | a new ReplicaSet gets its pod                             |
//! | kubelet on node-N  | the node's Lease is renewed after the restart             |

use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use super::{Options, NAMESPACE};

/// How long a component may take to recover before the run says it did not.
const RECOVERY_TIMEOUT: Duration = Duration::from_secs(180);

/// A component of the lab that can be killed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Component {
    /// The (single-member) etcd.
    Etcd,
    /// The apiserver.
    ApiServer,
    /// The scheduler.
    Scheduler,
    /// The controller-manager.
    ControllerManager,
    /// Node N's kubelet (1-based).
    Kubelet(usize),
}

impl Component {
    /// The lab script's name for it.
    pub fn lab_name(&self) -> String {
        match self {
            Component::Etcd => "etcd".into(),
            Component::ApiServer => "apiserver".into(),
            Component::Scheduler => "scheduler".into(),
            Component::ControllerManager => "controller-manager".into(),
            Component::Kubelet(i) => format!("kubelet-node-{i}"),
        }
    }
}

/// One kill and its recovery.
#[derive(Debug, Clone)]
pub struct Recovery {
    /// What was killed.
    pub component: Component,
    /// How long it was down before the restart.
    pub down: Duration,
    /// Restart to recovered; `None` when it did not recover in time.
    pub recovered_in: Option<Duration>,
}

async fn lab_script(opts: &Options, action: &str, comp: Component) -> anyhow::Result<()> {
    let out = tokio::process::Command::new("bash")
        .arg(opts.repo.join("hack/local-up-cluster.sh"))
        .args(["--name", &opts.lab_name, action, &comp.lab_name()])
        .env("LAB_DIR", &opts.lab_dir)
        .output()
        .await?;
    if !out.status.success() {
        anyhow::bail!(
            "{action} {}: {}",
            comp.lab_name(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// Kills and restarts components in turn, at random moments, until
/// `duration` has passed; returns every recovery.
pub async fn cycle(opts: &Options, client: &kube::Client, duration: Duration) -> Vec<Recovery> {
    let mut rng = StdRng::seed_from_u64(opts.seed);
    let start = Instant::now();
    let mut recoveries = Vec::new();
    let mut probe = 0u64;
    'run: loop {
        let mut order = vec![
            Component::Etcd,
            Component::ApiServer,
            Component::Scheduler,
            Component::ControllerManager,
            Component::Kubelet(rng.gen_range(1..=opts.nodes.max(1))),
        ];
        order.shuffle(&mut rng);
        for comp in order {
            let wait = Duration::from_millis(rng.gen_range(3_000..12_000));
            if start.elapsed() + wait > duration {
                break 'run;
            }
            tokio::time::sleep(wait).await;
            let down = Duration::from_millis(rng.gen_range(300..3_000));
            println!("    kill -9 {} (down {:.1?})", comp.lab_name(), down);
            if let Err(e) = lab_script(opts, "kill", comp).await {
                println!("    {e}");
                continue;
            }
            tokio::time::sleep(down).await;
            let restarted = Instant::now();
            let wall = k8s_openapi::jiff::Timestamp::now();
            if let Err(e) = lab_script(opts, "restart", comp).await {
                println!("    {e}");
            }
            probe += 1;
            let ok = recovered(client, comp, wall, probe).await;
            let recovered_in = ok.then(|| restarted.elapsed());
            match recovered_in {
                Some(d) => println!("      {} recovered in {:.2?}", comp.lab_name(), d),
                None => println!("      {} did NOT recover", comp.lab_name()),
            }
            recoveries.push(Recovery {
                component: comp,
                down,
                recovered_in,
            });
        }
    }
    recoveries
}

/// Polls `f` every 100 ms until it is true or the recovery timeout passes.
async fn until<F, Fut>(mut f: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + RECOVERY_TIMEOUT;
    while Instant::now() < deadline {
        if f().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

async fn recovered(
    client: &kube::Client,
    comp: Component,
    restarted: k8s_openapi::jiff::Timestamp,
    probe: u64,
) -> bool {
    match comp {
        Component::Etcd => {
            let api: Api<ConfigMap> = Api::namespaced(client.clone(), NAMESPACE);
            let patch = serde_json::json!({
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "probe-etcd", "labels": {"chaos": "probe"}},
                "data": {"probe": probe.to_string()}
            });
            let pp = PatchParams::apply("chaos").force();
            until(|| async {
                api.patch("probe-etcd", &pp, &Patch::Apply(&patch))
                    .await
                    .is_ok()
            })
            .await
        }
        Component::ApiServer => {
            until(|| async {
                let req = http::Request::get("/readyz").body(Vec::new());
                match req {
                    Ok(r) => client
                        .request_text(r)
                        .await
                        .map(|t| t == "ok")
                        .unwrap_or(false),
                    Err(_) => false,
                }
            })
            .await
        }
        Component::Scheduler => {
            let api: Api<Pod> = Api::namespaced(client.clone(), NAMESPACE);
            let name = format!("probe-sched-{probe}");
            let pod: Pod = match serde_json::from_value(serde_json::json!({
                "metadata": {"name": name, "labels": {"chaos": "probe"}},
                "spec": {"terminationGracePeriodSeconds": 0,
                    "containers": [{"name": "main", "image": "busybox:1.36",
                        "command": ["sleep", "3600"]}]}
            })) {
                Ok(p) => p,
                Err(_) => return false,
            };
            if api.create(&PostParams::default(), &pod).await.is_err() {
                return false;
            }
            let bound = until(|| async {
                api.get(&name)
                    .await
                    .map(|p| p.spec.and_then(|s| s.node_name).is_some())
                    .unwrap_or(false)
            })
            .await;
            let _ = api
                .delete(&name, &DeleteParams::default().grace_period(0))
                .await;
            bound
        }
        Component::ControllerManager => {
            let rs_api: Api<ReplicaSet> = Api::namespaced(client.clone(), NAMESPACE);
            let pods: Api<Pod> = Api::namespaced(client.clone(), NAMESPACE);
            let name = format!("probe-cm-{probe}");
            // The pod never schedules (no node has the label): only the
            // controller-manager's part is timed.
            let rs: ReplicaSet = match serde_json::from_value(serde_json::json!({
                "metadata": {"name": name, "labels": {"chaos": "probe"}},
                "spec": {"replicas": 1,
                    "selector": {"matchLabels": {"probe": name}},
                    "template": {
                        "metadata": {"labels": {"probe": name, "chaos": "probe"}},
                        "spec": {"nodeSelector": {"chaos/nowhere": "true"},
                            "containers": [{"name": "main", "image": "busybox:1.36"}]}}}
            })) {
                Ok(r) => r,
                Err(_) => return false,
            };
            if rs_api.create(&PostParams::default(), &rs).await.is_err() {
                return false;
            }
            let selector = format!("probe={name}");
            let made = until(|| async {
                pods.list(&ListParams::default().labels(&selector))
                    .await
                    .map(|l| !l.items.is_empty())
                    .unwrap_or(false)
            })
            .await;
            let _ = rs_api.delete(&name, &DeleteParams::background()).await;
            made
        }
        Component::Kubelet(i) => {
            let api: Api<Lease> = Api::namespaced(client.clone(), "kube-node-lease");
            let node = format!("node-{i}");
            until(|| async {
                api.get(&node)
                    .await
                    .ok()
                    .and_then(|l| l.spec.and_then(|s| s.renew_time))
                    .map(|t| t.0 > restarted)
                    .unwrap_or(false)
            })
            .await
        }
    }
}
