//! The Deployment controller: rolls a pod template out through ReplicaSets.
//!
//! Each version of `spec.template` gets its own ReplicaSet, named
//! `<deployment>-<pod-template-hash>`; the controller moves replicas from the
//! old ones to the new one. reconcile(ns/name):
//!
//! 1. claim ReplicaSets (adopt orphans matching the selector, release
//!    those that stopped matching);
//! 2. paused, or a change of `replicas` alone: only **scale**
//!    ([`sync::scale`], proportionally across ReplicaSets mid-rollout);
//! 3. otherwise **roll out** with the strategy ([`rollout`]): RollingUpdate
//!    (never more than replicas + maxSurge pods, never fewer than
//!    replicas - maxUnavailable available) or Recreate (old pods gone
//!    first);
//! 4. write **status** and the Available / Progressing conditions
//!    ([`progress`]), which `kubectl rollout status` reads.
//!
//! Rollback (`kubectl rollout undo`) needs nothing here: kubectl copies the
//! old ReplicaSet's template back into the Deployment, which makes that
//! ReplicaSet the new one again, with the next revision number.

pub mod progress;
pub mod rollout;
pub mod sync;

use std::borrow::Cow;
use std::sync::Arc;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::api::{Api, Patch, PatchParams};

use super::{Context, Started};
use crate::events::{Recorder, WARNING};
use crate::machinery::controller::{
    is_conflict, is_not_found, Action, Context as _, Reconciler, Result,
};
use crate::machinery::controller_ref::{owners_selecting, recheck_owner, ControllerRefManager};
use crate::machinery::informer::{key_of, Store};
use crate::machinery::owner_client::{ApiOwnerClient, OwnerClient};
use crate::machinery::queue::Queue;
use crate::machinery::{controller_ref, meta};

/// Annotation: the revision of a ReplicaSet, and of the Deployment (its
/// newest ReplicaSet's).
pub const REVISION: &str = "deployment.kubernetes.io/revision";
/// Annotation: earlier revisions a ReplicaSet held (after rollbacks).
pub const REVISION_HISTORY: &str = "deployment.kubernetes.io/revision-history";
/// Annotation: the Deployment's replicas when the ReplicaSet was last scaled.
pub const DESIRED_REPLICAS: &str = "deployment.kubernetes.io/desired-replicas";
/// Annotation: replicas + maxSurge when the ReplicaSet was last scaled.
pub const MAX_REPLICAS: &str = "deployment.kubernetes.io/max-replicas";

/// Registers handlers and returns the workers.
pub fn start(ctx: &Context) -> Started {
    let deployments = ctx.factory.informer::<Deployment>();
    let sets = ctx.factory.informer::<ReplicaSet>();
    let pods = ctx.factory.informer::<Pod>();
    let queue = Queue::new("deployment");
    let dc = Arc::new(DeploymentController {
        client: ctx.client.clone(),
        deployments: deployments.store(),
        sets: sets.store(),
        pods: pods.store(),
        recorder: ctx.recorder("deployment-controller"),
    });

    let q = Arc::clone(&queue);
    deployments.add_handler(move |old, new| {
        if let Some(d) = new.or(old) {
            q.add(key_of(&**d));
        }
    });

    let (q, dstore) = (Arc::clone(&queue), deployments.store());
    sets.add_handler(move |old, new| {
        for rs in [old, new].into_iter().flatten() {
            let ns = rs.metadata.namespace.as_deref().unwrap_or("");
            match controller_ref::controller_of(&rs.metadata) {
                Some(r) if r.kind == "Deployment" => q.add(format!("{ns}/{}", r.name)),
                Some(_) => {}
                None => {
                    // An orphan: any Deployment that selects it may adopt it.
                    let labels = meta::labels(&rs.metadata);
                    for k in owners_selecting(&dstore, ns, &labels, deployment_selector) {
                        q.add(k);
                    }
                }
            }
        }
    });

    // Recreate waits for the old pods to be gone: their deletion is news.
    let (q, sstore) = (Arc::clone(&queue), sets.store());
    pods.add_handler(move |old, new| {
        let (Some(pod), None) = (old, new) else {
            return;
        };
        let ns = pod.metadata.namespace.as_deref().unwrap_or("");
        let Some(r) = controller_ref::controller_of(&pod.metadata) else {
            return;
        };
        if let Some(rs) = sstore.get(&format!("{ns}/{}", r.name)) {
            if let Some(owner) = controller_ref::controller_of(&rs.metadata) {
                q.add(format!("{ns}/{}", owner.name));
            }
        }
    });
    ctx.workers(dc, queue)
}

fn deployment_selector(d: &Deployment) -> Option<Cow<'_, LabelSelector>> {
    d.spec.as_ref().map(|s| Cow::Borrowed(&s.selector))
}

/// The controller's state.
pub struct DeploymentController {
    client: kube::Client,
    deployments: Store<Deployment>,
    sets: Store<ReplicaSet>,
    pods: Store<Pod>,
    recorder: Recorder,
}

impl Reconciler for DeploymentController {
    fn name(&self) -> &'static str {
        "deployment"
    }

    async fn reconcile(&self, key: &str) -> Result<Action> {
        let Some(d) = self.deployments.get(key) else {
            return Ok(Action::Done);
        };
        let d = (*d).clone();
        let spec = d.spec.clone().unwrap_or_default();
        let selector = meta::selector(Some(&spec.selector))?;
        if selector.is_empty() {
            self.recorder.event(
                &d,
                WARNING,
                "SelectingAll",
                "This deployment is selecting all pods. A non-empty selector is required.".into(),
            );
            return Ok(Action::Done);
        }
        let sets = self.claim_replica_sets(&d, &selector).await?;
        if d.metadata.deletion_timestamp.is_some() {
            // Only report; the garbage collector removes what it owns.
            return self.sync_status_only(&d, sets).await;
        }
        let ctx = sync::Rollout::new(self, d)?;
        let result = if spec.paused == Some(true) {
            ctx.sync(sets, true).await
        } else if ctx.is_scaling_event(&sets) {
            ctx.sync(sets, false).await
        } else if rollout::is_recreate(&ctx.d) {
            ctx.rollout_recreate(sets).await
        } else {
            ctx.rollout_rolling(sets).await
        };
        match result {
            Err(crate::machinery::controller::Error::Api { source, .. })
                if is_not_found(&source) =>
            {
                Ok(Action::Done)
            }
            Err(crate::machinery::controller::Error::Api { source, context })
                if is_conflict(&source) =>
            {
                tracing::debug!(%context, "conflict; the cache catches up and we look again");
                Ok(Action::RequeueAfter(std::time::Duration::from_millis(50)))
            }
            other => other,
        }
    }
}

impl DeploymentController {
    /// The ReplicaSets this Deployment controls, after adopting orphans
    /// and releasing those that no longer match.
    async fn claim_replica_sets(
        &self,
        d: &Deployment,
        selector: &apimachinery::labels::Selector,
    ) -> Result<Vec<ReplicaSet>> {
        let ns = d.metadata.namespace.as_deref().unwrap_or("");
        let name = d.metadata.name.as_deref().unwrap_or("");
        let api: Api<ReplicaSet> = Api::namespaced(self.client.clone(), ns);
        let owners = ApiOwnerClient::<Deployment>::new(self.client.clone());
        let recheck = || async {
            let fresh = owners
                .get(ns, name)
                .await
                .context(|| format!("reading deployment {ns}/{name} before adopting"))?;
            recheck_owner(d, fresh.as_ref())
        };
        let patch = |rs: Arc<ReplicaSet>, p: serde_json::Value| {
            let api = api.clone();
            async move {
                let name = rs.metadata.name.clone().unwrap_or_default();
                api.patch(&name, &PatchParams::default(), &Patch::Merge(&p))
                    .await
                    .map(|stored| Some(Arc::new(stored)))
            }
        };
        let owned = ControllerRefManager::new(d, selector)
            .claim(self.sets.list_namespace(ns), recheck, patch)
            .await?;
        Ok(owned.into_iter().map(|rs| (*rs).clone()).collect())
    }

    async fn sync_status_only(&self, d: &Deployment, sets: Vec<ReplicaSet>) -> Result<Action> {
        let ctx = sync::Rollout::new(self, d.clone())?;
        let (new_rs, old) = ctx.split(sets);
        ctx.sync_deployment_status(&old, new_rs.as_ref()).await?;
        Ok(Action::Done)
    }
}
