//! Pod garbage collection: removes pods no kubelet will ever finish.
//!
//! One key (`podgc`), looked at every [`CHECK_PERIOD`] and whenever a Node
//! is deleted:
//! - pods bound to a Node that no longer exists are force-deleted (grace 0):
//!   there is no kubelet left to confirm their end;
//! - terminating pods that were never scheduled are force-deleted;
//! - terminating pods on a node tainted `node.kubernetes.io/out-of-service`
//!   are force-deleted (the operator declared the node dead);
//! - finished pods (Succeeded/Failed) above `--terminated-pod-gc-threshold`
//!   are deleted, oldest first.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, DeleteParams};

use super::{Context, Started};
use crate::machinery::controller::{is_not_found, Action, Context as _, Reconciler, Result};
use crate::machinery::informer::Store;
use crate::machinery::queue::Queue;
use crate::machinery::{meta, pods};

/// How often the collector looks (upstream `gcCheckPeriod`).
pub const CHECK_PERIOD: Duration = Duration::from_secs(20);
const KEY: &str = "podgc";
const OUT_OF_SERVICE: &str = "node.kubernetes.io/out-of-service";

/// Registers handlers and returns the workers.
pub fn start(ctx: &Context) -> Started {
    let nodes = ctx.factory.informer::<Node>();
    let pods = ctx.factory.informer::<Pod>();
    let queue = Queue::new("podgc");
    queue.add(KEY);
    let q = Arc::clone(&queue);
    nodes.add_handler(move |old, new| {
        if old.is_some() && new.is_none() {
            q.add(KEY);
        }
    });
    let c = Arc::new(PodGcController {
        client: ctx.client.clone(),
        nodes: nodes.store(),
        pods: pods.store(),
        threshold: ctx.config.terminated_pod_gc_threshold,
    });
    ctx.workers(c, queue)
}

/// The controller's state.
pub struct PodGcController {
    client: kube::Client,
    nodes: Store<Node>,
    pods: Store<Pod>,
    threshold: usize,
}

impl Reconciler for PodGcController {
    fn name(&self) -> &'static str {
        "podgc"
    }

    async fn reconcile(&self, _key: &str) -> Result<Action> {
        let pods = self.pods.list();
        let node_api: Api<Node> = Api::all(self.client.clone());
        for pod in &pods {
            let node = pod
                .spec
                .as_ref()
                .and_then(|s| s.node_name.clone())
                .filter(|n| !n.is_empty());
            let deleting = pod.metadata.deletion_timestamp.is_some();
            let force = match &node {
                None => deleting,
                Some(n) => match self.nodes.get(n) {
                    Some(node) => {
                        deleting
                            && node
                                .spec
                                .as_ref()
                                .and_then(|s| s.taints.as_ref())
                                .is_some_and(|t| {
                                    t.iter()
                                        .any(|t| t.key == OUT_OF_SERVICE && t.effect == "NoExecute")
                                })
                    }
                    // Not in the cache: confirm with the apiserver first.
                    None => match node_api.get_opt(n).await {
                        Ok(found) => found.is_none(),
                        Err(e) => return Err(e).context(|| format!("looking up node {n}")),
                    },
                },
            };
            if force {
                tracing::info!(pod = %crate::machinery::informer::key_of(&**pod), node = ?node, "force-deleting orphaned pod");
                self.delete(pod, Some(0)).await?;
            }
        }
        // Finished pods above the threshold, oldest first.
        let mut done: Vec<&Arc<Pod>> = pods
            .iter()
            .filter(|p| pods::pod_terminal(p) && p.metadata.deletion_timestamp.is_none())
            .collect();
        if self.threshold > 0 && done.len() > self.threshold {
            done.sort_by_key(|p| {
                p.metadata
                    .creation_timestamp
                    .as_ref()
                    .map(meta::millis)
                    .unwrap_or(0)
            });
            let n = done.len() - self.threshold;
            for pod in done.into_iter().take(n) {
                self.delete(pod, None).await?;
            }
        }
        Ok(Action::RequeueAfter(CHECK_PERIOD))
    }
}

impl PodGcController {
    async fn delete(&self, pod: &Pod, grace: Option<u32>) -> Result<()> {
        let ns = pod.metadata.namespace.clone().unwrap_or_default();
        let name = pod.metadata.name.clone().unwrap_or_default();
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &ns);
        let mut dp = DeleteParams::default();
        if let Some(g) = grace {
            dp = dp.grace_period(g);
        }
        match api.delete(&name, &dp).await {
            Ok(_) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(e).context(|| format!("deleting pod {ns}/{name}")),
        }
    }
}
