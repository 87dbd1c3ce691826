//! The disruption controller: keeps each PodDisruptionBudget's status true,
//! so the eviction subresource can decide from it alone whether a pod may go.
//!
//! reconcile(ns/name):
//! 1. select the budget's pods (a null selector selects none, `{}` all);
//! 2. **expected pods**: with an integer `minAvailable`, the pods selected;
//!    with a percentage or `maxUnavailable`, the sum of the scales of the
//!    pods' controllers (a ReplicaSet's Deployment, a ReplicaSet, a
//!    ReplicationController, a StatefulSet), which counts pods not created
//!    yet as missing;
//! 3. **desired healthy**: `minAvailable` (a percentage of the expected
//!    pods, rounded up), or the expected pods minus `maxUnavailable`;
//! 4. **current healthy**: selected pods that are Ready and not being
//!    deleted, leaving out those the eviction subresource recorded in
//!    `disruptedPods` less than two minutes ago (evicted, deletion not yet
//!    seen); older records are dropped;
//! 5. write `disruptionsAllowed = max(0, current - desired)`, the counts,
//!    the `DisruptionAllowed` condition and `observedGeneration`, if they
//!    changed; requeue when the oldest `disruptedPods` record expires.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use apimachinery::labels::Selector;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::{Pod, ReplicationController};
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::api::{Api, PostParams};

use super::{Context, Started};
use crate::machinery::controller::{Action, Context as _, Reconciler, Result};
use crate::machinery::informer::{key_of, Store};
use crate::machinery::queue::Queue;
use crate::machinery::{controller_ref, meta, pods};

/// How long an eviction recorded in `disruptedPods` keeps its pod out of
/// the healthy count while the deletion has not been seen.
const DISRUPTED_POD_TIMEOUT: Duration = Duration::from_secs(120);

/// Registers handlers and returns the workers.
pub fn start(ctx: &Context) -> Started {
    let pdbs = ctx.factory.informer::<PodDisruptionBudget>();
    let pods = ctx.factory.informer::<Pod>();
    let queue = Queue::new("disruption");
    let q = Arc::clone(&queue);
    pdbs.add_handler(move |old, new| {
        if let Some(p) = new.or(old) {
            q.add(key_of(&**p));
        }
    });
    let (q, store) = (Arc::clone(&queue), pdbs.store());
    pods.add_handler(move |old, new| {
        for pod in [old, new].into_iter().flatten() {
            let ns = pod.metadata.namespace.clone().unwrap_or_default();
            for pdb in store.list_namespace(&ns) {
                if selects(&pdb, pod) {
                    q.add(key_of(&*pdb));
                }
            }
        }
    });
    let dc = Arc::new(DisruptionController {
        client: ctx.client.clone(),
        pdbs: pdbs.store(),
        pods: pods.store(),
        replicasets: ctx.factory.informer::<ReplicaSet>().store(),
        deployments: ctx.factory.informer::<Deployment>().store(),
        statefulsets: ctx.factory.informer::<StatefulSet>().store(),
        rcs: ctx.factory.informer::<ReplicationController>().store(),
    });
    ctx.workers(dc, queue)
}

fn selects(pdb: &PodDisruptionBudget, pod: &Pod) -> bool {
    let sel = pdb
        .spec
        .as_ref()
        .and_then(|s| s.selector.as_ref())
        .and_then(|s| serde_json::to_value(s).ok())
        .unwrap_or(serde_json::Value::Null);
    let labels = pod.metadata.labels.clone().unwrap_or_default();
    Selector::from_label_selector_json(&sel).is_ok_and(|s| s.matches(&labels))
}

/// `value` resolved against `total` (a percentage rounded up).
fn scaled(value: &IntOrString, total: i32) -> i32 {
    match value {
        IntOrString::Int(i) => *i,
        IntOrString::String(s) => {
            let pct: i64 = s.trim_end_matches('%').parse().unwrap_or(0);
            ((pct * i64::from(total) + 99) / 100) as i32
        }
    }
}

/// The controller's state.
pub struct DisruptionController {
    client: kube::Client,
    pdbs: Store<PodDisruptionBudget>,
    pods: Store<Pod>,
    replicasets: Store<ReplicaSet>,
    deployments: Store<Deployment>,
    statefulsets: Store<StatefulSet>,
    rcs: Store<ReplicationController>,
}

impl DisruptionController {
    /// The summed scale of the controllers of `pods` (each counted once).
    fn expected_from_controllers(&self, ns: &str, pods: &[Arc<Pod>]) -> i32 {
        let mut seen = HashSet::new();
        let mut total = 0;
        for pod in pods {
            let Some(owner) = controller_ref::controller_of(&pod.metadata) else {
                continue;
            };
            let key = format!("{ns}/{}", owner.name);
            let (uid, replicas) = match owner.kind.as_str() {
                "ReplicaSet" => {
                    let Some(rs) = self.replicasets.get(&key) else {
                        continue;
                    };
                    match controller_ref::controller_of(&rs.metadata)
                        .filter(|o| o.kind == "Deployment")
                        .and_then(|o| self.deployments.get(&format!("{ns}/{}", o.name)))
                    {
                        Some(d) => (
                            d.metadata.uid.clone(),
                            d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1),
                        ),
                        None => (
                            rs.metadata.uid.clone(),
                            rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1),
                        ),
                    }
                }
                "StatefulSet" => match self.statefulsets.get(&key) {
                    Some(s) => (
                        s.metadata.uid.clone(),
                        s.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1),
                    ),
                    None => continue,
                },
                "ReplicationController" => match self.rcs.get(&key) {
                    Some(r) => (
                        r.metadata.uid.clone(),
                        r.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1),
                    ),
                    None => continue,
                },
                _ => continue,
            };
            if seen.insert(uid) {
                total += replicas;
            }
        }
        total
    }
}

impl Reconciler for DisruptionController {
    fn name(&self) -> &'static str {
        "disruption"
    }

    async fn reconcile(&self, key: &str) -> Result<Action> {
        let Some(pdb) = self.pdbs.get(key) else {
            return Ok(Action::Done);
        };
        let ns = pdb.metadata.namespace.clone().unwrap_or_default();
        let spec = pdb.spec.clone().unwrap_or_default();
        // 1. Pods.
        let selected: Vec<Arc<Pod>> = self
            .pods
            .list_namespace(&ns)
            .into_iter()
            .filter(|p| selects(&pdb, p))
            .collect();
        // 2, 3. Expected and desired.
        let (expected, desired) = match (&spec.max_unavailable, &spec.min_available) {
            (Some(max), _) => {
                let expected = self.expected_from_controllers(&ns, &selected);
                (expected, (expected - scaled(max, expected)).max(0))
            }
            (None, Some(IntOrString::Int(min))) => (selected.len() as i32, *min),
            (None, Some(min)) => {
                let expected = self.expected_from_controllers(&ns, &selected);
                (expected, scaled(min, expected))
            }
            (None, None) => (selected.len() as i32, 0),
        };
        // 4. Healthy, minus recent evictions.
        let now = meta::now_millis();
        let old_status = pdb.status.clone().unwrap_or_default();
        let live: BTreeMap<String, &Arc<Pod>> = selected
            .iter()
            .map(|p| (p.metadata.name.clone().unwrap_or_default(), p))
            .collect();
        let mut disrupted: BTreeMap<String, Time> = BTreeMap::new();
        let mut next_expiry: Option<i64> = None;
        for (name, at) in old_status.disrupted_pods.clone().unwrap_or_default() {
            let expires = meta::millis(&at) + DISRUPTED_POD_TIMEOUT.as_millis() as i64;
            let still_there = live
                .get(&name)
                .is_some_and(|p| p.metadata.deletion_timestamp.is_none());
            if still_there && expires > now {
                next_expiry = Some(next_expiry.map_or(expires, |e| e.min(expires)));
                disrupted.insert(name, at);
            }
        }
        let healthy = selected
            .iter()
            .filter(|p| {
                p.metadata.deletion_timestamp.is_none()
                    && pods::pod_ready(p)
                    && !disrupted.contains_key(p.metadata.name.as_deref().unwrap_or_default())
            })
            .count() as i32;
        let allowed = (healthy - desired).max(0);
        // 5. Status.
        let (cstatus, reason) = if allowed > 0 {
            ("True", "SufficientPods")
        } else {
            ("False", "InsufficientPods")
        };
        let previous = old_status
            .conditions
            .iter()
            .flatten()
            .find(|c| c.type_ == "DisruptionAllowed");
        let condition = Condition {
            type_: "DisruptionAllowed".into(),
            status: cstatus.into(),
            reason: reason.into(),
            message: String::new(),
            observed_generation: pdb.metadata.generation,
            last_transition_time: match previous {
                Some(c) if c.status == cstatus => c.last_transition_time.clone(),
                _ => meta::now(),
            },
        };
        let mut conditions: Vec<Condition> = old_status
            .conditions
            .clone()
            .unwrap_or_default()
            .into_iter()
            .filter(|c| c.type_ != "DisruptionAllowed")
            .collect();
        conditions.push(condition);
        let status = PodDisruptionBudgetStatus {
            observed_generation: pdb.metadata.generation,
            current_healthy: Some(healthy),
            desired_healthy: Some(desired),
            expected_pods: Some(expected),
            disruptions_allowed: Some(allowed),
            disrupted_pods: (!disrupted.is_empty()).then_some(disrupted),
            conditions: Some(conditions),
        };
        let requeue = next_expiry.map(|e| Duration::from_millis((e - now).max(0) as u64 + 10));
        let unchanged =
            serde_json::to_value(&status).ok() == serde_json::to_value(&old_status).ok();
        if !unchanged {
            let mut updated = (*pdb).clone();
            updated.status = Some(status);
            let api: Api<PodDisruptionBudget> = Api::namespaced(self.client.clone(), &ns);
            let name = pdb.metadata.name.clone().unwrap_or_default();
            api.replace_status(&name, &PostParams::default(), &updated)
                .await
                .context(|| format!("updating status of poddisruptionbudget {key}"))?;
        }
        Ok(requeue.map_or(Action::Done, Action::RequeueAfter))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_round_up() {
        assert_eq!(scaled(&IntOrString::String("50%".into()), 3), 2);
        assert_eq!(scaled(&IntOrString::String("0%".into()), 3), 0);
        assert_eq!(scaled(&IntOrString::Int(2), 10), 2);
    }
}
