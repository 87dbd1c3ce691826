//! The ReplicaSet controller: keeps `spec.replicas` pods matching the
//! selector alive.
//!
//! reconcile(ns/name):
//! 1. **claim** pods: adopt orphans that match the selector (add our
//!    controller reference), release owned pods that no longer match;
//! 2. if the **expectations** of earlier creates/deletes are met (the pod
//!    cache has caught up), compare active pods with `replicas` and create
//!    in slow-start batches (1, 2, 4, ...; a failing batch stops the rest) or
//!    delete the least valuable pods first;
//! 3. write `status` (replicas, fullyLabeled, ready, available after
//!    minReadySeconds, observedGeneration, the ReplicaFailure condition).

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetCondition, ReplicaSetStatus};
use k8s_openapi::api::core::v1::Pod;

use super::{Context, Started};
use crate::machinery::controller::{Action, Reconciler, Result};
use crate::machinery::controller_ref::{ControllerRefManager, PodEvents};
use crate::machinery::expectations::Expectations;
use crate::machinery::informer::{key_of, split_key, Store};
use crate::machinery::owner_client::{update_status, ApiOwnerClient, OwnerClient};
use crate::machinery::pod_control::{pod_from_template, PodControl};
use crate::machinery::queue::Queue;
use crate::machinery::{controller_ref, meta, pods};

/// Most pods created or deleted in one reconcile (upstream `burstReplicas`).
pub const BURST_REPLICAS: usize = 500;

/// Registers handlers and returns the workers.
pub fn start(ctx: &Context) -> Started {
    let pods = ctx.factory.informer::<Pod>();
    let sets = ctx.factory.informer::<ReplicaSet>();
    let queue = Queue::new("replicaset");
    let rc = Arc::new(ReplicaSetController::new(
        pods.store(),
        sets.store(),
        ctx.pod_control("replicaset-controller"),
        Arc::new(ApiOwnerClient::new(ctx.client.clone())),
    ));

    let (q, exp) = (Arc::clone(&queue), Arc::clone(&rc.expectations));
    sets.add_handler(move |old, new| match (old, new) {
        (_, Some(rs)) => q.add(key_of(&**rs)),
        (Some(rs), None) => {
            exp.delete(&key_of(&**rs));
            q.add(key_of(&**rs));
        }
        (None, None) => {}
    });

    PodEvents {
        kind: "ReplicaSet",
        queue: Arc::clone(&queue),
        expectations: Some(Arc::clone(&rc.expectations)),
        owners: sets.store(),
        selector_of: |rs: &ReplicaSet| rs.spec.as_ref().map(|s| &s.selector),
        min_ready_seconds_of: |rs: &ReplicaSet| rs.spec.as_ref().and_then(|s| s.min_ready_seconds),
    }
    .register(&pods);
    ctx.workers(rc, queue)
}

/// The controller's state: caches, expectations, pod control, the owner's
/// reads and status writes.
pub struct ReplicaSetController {
    pods: Store<Pod>,
    sets: Store<ReplicaSet>,
    expectations: Arc<Expectations>,
    pod_control: PodControl,
    owners: Arc<dyn OwnerClient<ReplicaSet>>,
}

impl Reconciler for ReplicaSetController {
    fn name(&self) -> &'static str {
        "replicaset"
    }

    async fn reconcile(&self, key: &str) -> Result<Action> {
        let Some(rs) = self.sets.get(key) else {
            self.expectations.delete(key);
            return Ok(Action::Done);
        };
        let (ns, _) = split_key(key);
        let ns = ns.unwrap_or_default();
        let spec = rs.spec.clone().unwrap_or_default();
        let selector = meta::selector(Some(&spec.selector))?;

        // 1. Claim: the pods we control, after adopting and releasing.
        let active: Vec<Arc<Pod>> = self
            .pods
            .list_namespace(ns)
            .into_iter()
            .filter(|p| pods::pod_active(p))
            .collect();
        let owned = ControllerRefManager::new(&*rs, &selector)
            .claim_pods(active, &*self.owners, &self.pod_control)
            .await?;

        // 2. Manage replicas, but only on a cache that has seen our last acts.
        let mut failure = None;
        if self.expectations.satisfied(key) && rs.metadata.deletion_timestamp.is_none() {
            let want = spec.replicas.unwrap_or(1).max(0) as usize;
            if let Err(e) = self.manage(key, &rs, &owned, want).await {
                failure = Some(e.to_string());
                self.update_status(&rs, &owned, failure.as_deref()).await?;
                return Err(e);
            }
        }

        // 3. Status.
        self.update_status(&rs, &owned, failure.as_deref()).await?;
        let min_ready = spec.min_ready_seconds.unwrap_or(0);
        if min_ready > 0 && owned.iter().any(|p| pods::pod_ready(p)) {
            let now = meta::now_millis();
            if owned
                .iter()
                .any(|p| pods::pod_ready(p) && !pods::pod_available(p, min_ready, now))
            {
                return Ok(Action::RequeueAfter(Duration::from_secs(min_ready as u64)));
            }
        }
        Ok(Action::Done)
    }
}

impl ReplicaSetController {
    /// A controller over these caches, writing through `pod_control`
    /// and `owners` (the apiserver, or fakes in tests).
    pub fn new(
        pods: Store<Pod>,
        sets: Store<ReplicaSet>,
        pod_control: PodControl,
        owners: Arc<dyn OwnerClient<ReplicaSet>>,
    ) -> ReplicaSetController {
        ReplicaSetController {
            pods,
            sets,
            expectations: Arc::new(Expectations::new()),
            pod_control,
            owners,
        }
    }

    /// Creates or deletes the difference between `owned` and `want`.
    async fn manage(
        &self,
        key: &str,
        rs: &ReplicaSet,
        owned: &[Arc<Pod>],
        want: usize,
    ) -> Result<()> {
        let have = owned.len();
        if have < want {
            let n = (want - have).min(BURST_REPLICAS);
            let template = rs
                .spec
                .as_ref()
                .and_then(|s| s.template.clone())
                .unwrap_or_default();
            let pod =
                pod_from_template(&template, &rs.metadata, controller_ref::controller_ref(rs));
            self.pod_control
                .create_pods(&self.expectations, key, rs, vec![pod; n])
                .await?;
        } else if have > want {
            let n = (have - want).min(BURST_REPLICAS);
            let victims = pods::pods_to_delete(owned, n);
            self.pod_control
                .delete_pods(&self.expectations, key, rs, &victims)
                .await?;
        }
        Ok(())
    }

    async fn update_status(
        &self,
        rs: &ReplicaSet,
        owned: &[Arc<Pod>],
        failure: Option<&str>,
    ) -> Result<()> {
        let spec = rs.spec.clone().unwrap_or_default();
        let template_labels = spec
            .template
            .as_ref()
            .and_then(|t| t.metadata.as_ref())
            .map(meta::labels)
            .unwrap_or_default();
        let now = meta::now_millis();
        let min_ready = spec.min_ready_seconds.unwrap_or(0);
        let old = rs.status.clone().unwrap_or_default();
        let mut conditions: Vec<ReplicaSetCondition> = old
            .conditions
            .clone()
            .unwrap_or_default()
            .into_iter()
            .filter(|c| c.type_ != "ReplicaFailure")
            .collect();
        if let Some(msg) = failure {
            conditions.push(ReplicaSetCondition {
                type_: "ReplicaFailure".into(),
                status: "True".into(),
                reason: Some("FailedCreate".into()),
                message: Some(msg.to_string()),
                last_transition_time: Some(meta::now()),
            });
        } else if let Some(c) = old
            .conditions
            .as_ref()
            .and_then(|cs| cs.iter().find(|c| c.type_ == "ReplicaFailure"))
        {
            // Keep a failure until the replica count is met again.
            if (owned.len() as i32) < spec.replicas.unwrap_or(1) {
                conditions.push(c.clone());
            }
        }
        let status = ReplicaSetStatus {
            replicas: owned.len() as i32,
            fully_labeled_replicas: Some(
                owned
                    .iter()
                    .filter(|p| {
                        let l = meta::labels(&p.metadata);
                        template_labels.iter().all(|(k, v)| l.get(k) == Some(v))
                    })
                    .count() as i32,
            ),
            ready_replicas: Some(owned.iter().filter(|p| pods::pod_ready(p)).count() as i32),
            available_replicas: Some(
                owned
                    .iter()
                    .filter(|p| pods::pod_available(p, min_ready, now))
                    .count() as i32,
            ),
            observed_generation: rs.metadata.generation,
            conditions: (!conditions.is_empty()).then_some(conditions),
            terminating_replicas: None,
        };
        update_status(&*self.owners, rs, &old, &status).await?;
        Ok(())
    }
}
