//! Node lifecycle: notices nodes whose kubelet went silent, marks them,
//! taints them, and evicts their pods so controllers recreate them on
//! healthy nodes.
//!
//! A kubelet proves it is alive by renewing its Lease in `kube-node-lease`
//! and by posting node status. reconcile(node), every
//! `--node-monitor-period`:
//! 1. **health**: when the lease renewTime or the Ready heartbeat last
//!    changed, by *our* clock (node clocks may be skewed); silent for more
//!    than `--node-monitor-grace-period` (`--node-startup-grace-period` if
//!    it never reported) -> Ready, MemoryPressure, DiskPressure and
//!    PIDPressure become Unknown, its pods are marked not ready, and a
//!    NodeNotReady Event is written;
//! 2. **taints**: Ready=Unknown -> `node.kubernetes.io/unreachable`,
//!    Ready=False -> `node.kubernetes.io/not-ready`, both NoSchedule and
//!    NoExecute; removed when Ready again. And, as upstream's
//!    TaintNodesByCondition, MemoryPressure / DiskPressure / PIDPressure
//!    True -> `node.kubernetes.io/{memory,disk,pid}-pressure:NoSchedule`
//!    (the kubelet's eviction manager sets those conditions), removed when
//!    the condition is no longer True;
//! 3. **eviction**: each pod on a node with NoExecute taints is deleted when
//!    its toleration runs out (`tolerationSeconds` from the taint's
//!    timeAdded; no toleration at all: at once; pods without their own
//!    not-ready/unreachable toleration get `--pod-eviction-timeout`, which is
//!    what upstream's DefaultTolerationSeconds admission gives them).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, NodeCondition, Pod, Taint, Toleration};
use kube::api::{Api, DeleteParams, Patch, PatchParams};

use component_base::tolerations::tolerates;

use super::{Context, Started};
use crate::events::{Recorder, NORMAL};
use crate::machinery::controller::{is_not_found, Action, Context as _, Reconciler, Result};
use crate::machinery::informer::Store;
use crate::machinery::queue::Queue;
use crate::machinery::{meta, pods};

/// Taint of a node whose Ready condition is Unknown.
pub const UNREACHABLE: &str = "node.kubernetes.io/unreachable";
/// Taint of a node whose Ready condition is False.
pub const NOT_READY: &str = "node.kubernetes.io/not-ready";
/// The namespace of node heartbeat Leases.
pub const LEASE_NAMESPACE: &str = "kube-node-lease";
const CONDITIONS: &[&str] = &["Ready", "MemoryPressure", "DiskPressure", "PIDPressure"];
/// NoSchedule taints that mirror a pressure condition being True.
pub const PRESSURE_TAINTS: &[(&str, &str)] = &[
    ("MemoryPressure", "node.kubernetes.io/memory-pressure"),
    ("DiskPressure", "node.kubernetes.io/disk-pressure"),
    ("PIDPressure", "node.kubernetes.io/pid-pressure"),
];

/// Registers handlers and returns the workers.
pub fn start(ctx: &Context) -> Started {
    let nodes = ctx.factory.informer::<Node>();
    let pods = ctx.factory.informer::<Pod>();
    let leases = ctx.factory.informer::<Lease>();
    let queue = Queue::new("nodelifecycle");
    let q = Arc::clone(&queue);
    nodes.add_handler(move |old, new| {
        // New nodes start the periodic check; status changes are looked at
        // at once (a Ready=False must taint without waiting a period).
        if let Some(n) = new {
            let changed = old.map(|o| o.status.as_ref().map(|s| &s.conditions))
                != Some(n.status.as_ref().map(|s| &s.conditions));
            if old.is_none() || changed {
                q.add(n.metadata.name.clone().unwrap_or_default());
            }
        }
    });
    let c = Arc::new(NodeLifecycleController {
        client: ctx.client.clone(),
        nodes: nodes.store(),
        pods: pods.store(),
        leases: leases.store(),
        period: ctx.config.node_monitor_period,
        grace: ctx.config.node_monitor_grace_period,
        startup_grace: ctx.config.node_startup_grace_period,
        eviction_timeout: ctx.config.pod_eviction_timeout,
        seen: Mutex::new(HashMap::new()),
        recorder: ctx.recorder("node-controller"),
    });
    ctx.workers(c, queue)
}

/// The last heartbeat values seen for a node and when we saw them change.
#[derive(Debug, Clone)]
struct Probe {
    heartbeat: Option<String>,
    lease: Option<String>,
    at: Instant,
}

/// The controller's state.
pub struct NodeLifecycleController {
    client: kube::Client,
    nodes: Store<Node>,
    pods: Store<Pod>,
    leases: Store<Lease>,
    period: Duration,
    grace: Duration,
    startup_grace: Duration,
    eviction_timeout: Duration,
    seen: Mutex<HashMap<String, Probe>>,
    recorder: Recorder,
}

fn condition<'a>(node: &'a Node, type_: &str) -> Option<&'a NodeCondition> {
    node.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_)
}

/// The node's taints as its conditions want them: the taints others set
/// are kept, ours (not-ready, unreachable, the pressure ones) follow the
/// conditions; a taint already there keeps its `timeAdded`.
pub fn desired_taints(node: &Node) -> Vec<Taint> {
    let taints = node
        .spec
        .as_ref()
        .and_then(|s| s.taints.clone())
        .unwrap_or_default();
    let ours = |t: &Taint| {
        t.key == UNREACHABLE
            || t.key == NOT_READY
            || PRESSURE_TAINTS.iter().any(|(_, k)| t.key == *k)
    };
    let mut want: Vec<(&str, &str)> = Vec::new();
    match condition(node, "Ready").map(|c| c.status.as_str()) {
        Some("Unknown") => want.extend([(UNREACHABLE, "NoSchedule"), (UNREACHABLE, "NoExecute")]),
        Some("False") => want.extend([(NOT_READY, "NoSchedule"), (NOT_READY, "NoExecute")]),
        _ => {}
    }
    for (cond, key) in PRESSURE_TAINTS {
        if condition(node, cond).is_some_and(|c| c.status == "True") {
            want.push((key, "NoSchedule"));
        }
    }
    let mut next: Vec<Taint> = taints.iter().filter(|t| !ours(t)).cloned().collect();
    for (key, effect) in want {
        let existing = taints
            .iter()
            .find(|t| t.key == key && t.effect == effect)
            .cloned();
        next.push(existing.unwrap_or_else(|| Taint {
            key: key.into(),
            effect: effect.into(),
            value: None,
            time_added: (effect == "NoExecute").then(meta::now),
        }));
    }
    next
}

/// When a pod must leave a node with these NoExecute taints, counted from
/// each taint's timeAdded: `Some(ms)` an instant, `None` never.
pub fn eviction_time(pod: &Pod, taints: &[Taint], default_seconds: i64) -> Option<i64> {
    let tolerations = pod
        .spec
        .as_ref()
        .and_then(|s| s.tolerations.clone())
        .unwrap_or_default();
    let mut when: Option<i64> = None;
    for taint in taints.iter().filter(|t| t.effect == "NoExecute") {
        let added = taint
            .time_added
            .as_ref()
            .map(meta::millis)
            .unwrap_or_else(meta::now_millis);
        let matching: Vec<&Toleration> =
            tolerations.iter().filter(|t| tolerates(t, taint)).collect();
        let seconds = if matching.is_empty() {
            // DefaultTolerationSeconds: not-ready and unreachable get a
            // grace period even without a toleration.
            if taint.key == NOT_READY || taint.key == UNREACHABLE {
                Some(default_seconds)
            } else {
                Some(0)
            }
        } else {
            // The smallest bound wins; any unbounded toleration alone means
            // never for this taint only if all are unbounded.
            matching
                .iter()
                .filter_map(|t| t.toleration_seconds)
                .min()
                .map(|s| s.max(0))
        };
        if let Some(s) = seconds {
            let t = added + s * 1000;
            when = Some(when.map_or(t, |w| w.min(t)));
        }
    }
    when
}

impl Reconciler for NodeLifecycleController {
    fn name(&self) -> &'static str {
        "nodelifecycle"
    }

    async fn reconcile(&self, name: &str) -> Result<Action> {
        let Some(node) = self.nodes.get(name) else {
            self.seen
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(name);
            return Ok(Action::Done);
        };
        let mut node = (*node).clone();
        // 1. Health.
        let heartbeat = condition(&node, "Ready")
            .and_then(|c| c.last_heartbeat_time.as_ref())
            .map(|t| t.0.to_string());
        let lease = self
            .leases
            .get(&format!("{LEASE_NAMESPACE}/{name}"))
            .and_then(|l| {
                l.spec
                    .as_ref()?
                    .renew_time
                    .as_ref()
                    .map(|t| t.0.to_string())
            });
        let silent_for = {
            let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
            let probe = seen.entry(name.to_string()).or_insert_with(|| Probe {
                heartbeat: heartbeat.clone(),
                lease: lease.clone(),
                at: Instant::now(),
            });
            if probe.heartbeat != heartbeat || probe.lease != lease {
                *probe = Probe {
                    heartbeat,
                    lease,
                    at: Instant::now(),
                };
            }
            probe.at.elapsed()
        };
        let ever_ready = condition(&node, "Ready").is_some();
        let grace = if ever_ready {
            self.grace
        } else {
            self.startup_grace
        };
        if silent_for > grace
            && condition(&node, "Ready").map(|c| c.status.as_str()) != Some("Unknown")
        {
            node = self.mark_unknown(&node, ever_ready).await?;
        }
        // 2. Taints.
        node = self.sync_taints(&node).await?;
        // 3. Eviction.
        let next = self.evict(&node).await?;
        let mut wait = self.period;
        if let Some(ms) = next {
            wait = wait.min(Duration::from_millis(ms.max(10) as u64));
        }
        Ok(Action::RequeueAfter(wait))
    }
}

impl NodeLifecycleController {
    async fn mark_unknown(&self, node: &Node, ever_ready: bool) -> Result<Node> {
        let name = node.metadata.name.clone().unwrap_or_default();
        let now = meta::now();
        let mut conds = node
            .status
            .as_ref()
            .and_then(|s| s.conditions.clone())
            .unwrap_or_default();
        for t in CONDITIONS {
            let (reason, message) = if ever_ready {
                ("NodeStatusUnknown", "Kubelet stopped posting node status.")
            } else {
                (
                    "NodeStatusNeverUpdated",
                    "Kubelet never posted node status.",
                )
            };
            match conds.iter_mut().find(|c| c.type_ == *t) {
                Some(c) if c.status == "Unknown" => {}
                Some(c) => {
                    c.status = "Unknown".into();
                    c.reason = Some(reason.into());
                    c.message = Some(message.into());
                    c.last_transition_time = Some(now.clone());
                }
                None => conds.push(NodeCondition {
                    type_: t.to_string(),
                    status: "Unknown".into(),
                    reason: Some(reason.into()),
                    message: Some(message.into()),
                    last_transition_time: Some(now.clone()),
                    last_heartbeat_time: None,
                }),
            }
        }
        let api: Api<Node> = Api::all(self.client.clone());
        let patch = serde_json::json!({"status": {"conditions": conds}});
        let updated = api
            .patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .context(|| format!("marking node {name} Unknown"))?;
        self.recorder.event(
            node,
            NORMAL,
            "NodeNotReady",
            format!("Node {name} status is now: NodeNotReady"),
        );
        tracing::warn!(node = %name, "kubelet stopped posting status; node marked Unknown");
        // Its pods can no longer be trusted to serve.
        for pod in self.pods_on(&name) {
            if !pods::pod_ready(&pod) {
                continue;
            }
            let mut pconds = pod
                .status
                .as_ref()
                .and_then(|s| s.conditions.clone())
                .unwrap_or_default();
            for c in pconds.iter_mut().filter(|c| c.type_ == "Ready") {
                c.status = "False".into();
                c.last_transition_time = Some(now.clone());
            }
            let papi: Api<Pod> = Api::namespaced(
                self.client.clone(),
                pod.metadata.namespace.as_deref().unwrap_or(""),
            );
            let patch = serde_json::json!({"status": {"conditions": pconds}});
            let pname = pod.metadata.name.clone().unwrap_or_default();
            match papi
                .patch_status(&pname, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                Ok(_) => {}
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(e).context(|| format!("marking pod {pname} not ready")),
            }
        }
        Ok(updated)
    }

    fn pods_on(&self, node: &str) -> Vec<Arc<Pod>> {
        self.pods
            .filter(|p| p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(node))
    }

    async fn sync_taints(&self, node: &Node) -> Result<Node> {
        let taints = node
            .spec
            .as_ref()
            .and_then(|s| s.taints.clone())
            .unwrap_or_default();
        let next = desired_taints(node);
        if next == taints {
            return Ok(node.clone());
        }
        let name = node.metadata.name.clone().unwrap_or_default();
        let api: Api<Node> = Api::all(self.client.clone());
        let patch = serde_json::json!({"spec": {"taints": next}, "metadata": {"resourceVersion": node.metadata.resource_version}});
        let keys: Vec<&str> = next.iter().map(|t| t.key.as_str()).collect();
        tracing::info!(node = %name, taints = ?keys, "updating node taints");
        api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .context(|| format!("updating taints of node {name}"))
    }

    /// Deletes pods whose toleration ran out; returns ms until the next.
    async fn evict(&self, node: &Node) -> Result<Option<i64>> {
        let taints: Vec<Taint> = node
            .spec
            .as_ref()
            .and_then(|s| s.taints.clone())
            .unwrap_or_default()
            .into_iter()
            .filter(|t| t.effect == "NoExecute")
            .collect();
        if taints.is_empty() {
            return Ok(None);
        }
        let name = node.metadata.name.clone().unwrap_or_default();
        let now = meta::now_millis();
        let default = self.eviction_timeout.as_secs() as i64;
        let mut next: Option<i64> = None;
        for pod in self.pods_on(&name) {
            if pod.metadata.deletion_timestamp.is_some() || pods::pod_terminal(&pod) {
                continue;
            }
            let Some(when) = eviction_time(&pod, &taints, default) else {
                continue;
            };
            if when > now {
                next = Some(next.map_or(when - now, |n| n.min(when - now)));
                continue;
            }
            let ns = pod.metadata.namespace.clone().unwrap_or_default();
            let pname = pod.metadata.name.clone().unwrap_or_default();
            let api: Api<Pod> = Api::namespaced(self.client.clone(), &ns);
            match api.delete(&pname, &DeleteParams::default()).await {
                Ok(_) => self.recorder.event(
                    &*pod,
                    NORMAL,
                    "TaintManagerEviction",
                    format!("Marking for deletion Pod {ns}/{pname}"),
                ),
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(e).context(|| format!("evicting pod {ns}/{pname}")),
            }
        }
        tracing::debug!(node = %name, next_ms = ?next, "eviction pass");
        Ok(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::PodSpec;

    fn taint(key: &str) -> Taint {
        Taint {
            key: key.into(),
            effect: "NoExecute".into(),
            value: None,
            time_added: Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                k8s_openapi::jiff::Timestamp::from_millisecond(1_000_000).unwrap(),
            )),
        }
    }

    fn pod(tolerations: Vec<Toleration>) -> Pod {
        Pod {
            spec: Some(PodSpec {
                tolerations: Some(tolerations),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn toleration_seconds_decide_eviction_time() {
        let t = [taint(UNREACHABLE)];
        // No toleration: the default grace.
        assert_eq!(eviction_time(&pod(vec![]), &t, 300), Some(1_300_000));
        // Tolerated for 5 s.
        let tol = Toleration {
            key: Some(UNREACHABLE.into()),
            operator: Some("Exists".into()),
            effect: Some("NoExecute".into()),
            toleration_seconds: Some(5),
            value: None,
        };
        assert_eq!(
            eviction_time(&pod(vec![tol.clone()]), &t, 300),
            Some(1_005_000)
        );
        // Tolerated forever.
        let forever = Toleration {
            toleration_seconds: None,
            ..tol
        };
        assert_eq!(eviction_time(&pod(vec![forever]), &t, 300), None);
        // Another taint nobody tolerates: at once.
        assert_eq!(
            eviction_time(&pod(vec![]), &[taint("example.com/x")], 300),
            Some(1_000_000)
        );
    }

    fn node(conditions: &[(&str, &str)], taints: Vec<Taint>) -> Node {
        let conditions = conditions
            .iter()
            .map(|(t, s)| serde_json::json!({"type": t, "status": s}))
            .collect::<Vec<_>>();
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "n"},
            "spec": {"taints": taints},
            "status": {"conditions": conditions}
        }))
        .expect("node")
    }

    fn keys(taints: &[Taint]) -> Vec<(String, String)> {
        taints
            .iter()
            .map(|t| (t.key.clone(), t.effect.clone()))
            .collect()
    }

    #[test]
    fn pressure_conditions_become_no_schedule_taints_and_go_again() {
        let other = Taint {
            key: "example.com/dedicated".into(),
            effect: "NoSchedule".into(),
            value: Some("x".into()),
            time_added: None,
        };
        let pressed = node(
            &[
                ("Ready", "True"),
                ("MemoryPressure", "True"),
                ("DiskPressure", "False"),
                ("PIDPressure", "True"),
            ],
            vec![other.clone()],
        );
        let want = desired_taints(&pressed);
        assert_eq!(
            keys(&want),
            [
                (
                    "example.com/dedicated".to_string(),
                    "NoSchedule".to_string()
                ),
                (
                    "node.kubernetes.io/memory-pressure".to_string(),
                    "NoSchedule".to_string()
                ),
                (
                    "node.kubernetes.io/pid-pressure".to_string(),
                    "NoSchedule".to_string()
                ),
            ]
        );
        assert!(want.iter().all(|t| t.time_added.is_none()));
        // Relieved (or Unknown, as a silent node's are): the pressure taints go,
        // the not-ready/unreachable logic is unchanged.
        let relieved = node(
            &[
                ("Ready", "True"),
                ("MemoryPressure", "False"),
                ("PIDPressure", "Unknown"),
            ],
            want.clone(),
        );
        assert_eq!(desired_taints(&relieved), vec![other.clone()]);
        let silent = node(&[("Ready", "Unknown"), ("MemoryPressure", "Unknown")], want);
        assert_eq!(
            keys(&desired_taints(&silent)),
            [
                (
                    "example.com/dedicated".to_string(),
                    "NoSchedule".to_string()
                ),
                (UNREACHABLE.to_string(), "NoSchedule".to_string()),
                (UNREACHABLE.to_string(), "NoExecute".to_string()),
            ]
        );
        // Unchanged conditions, unchanged taints: no write.
        let again = node(
            &[("Ready", "True"), ("MemoryPressure", "True")],
            desired_taints(&node(&[("MemoryPressure", "True")], vec![])),
        );
        assert_eq!(
            desired_taints(&again),
            again.spec.and_then(|s| s.taints).unwrap_or_default()
        );
    }
}
