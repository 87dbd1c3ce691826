//! The PVC protection controller (upstream's `pvc-protection`,
//! `pkg/controller/volume/pvcprotection`): a claim a pod still uses is not
//! removed under it.
//!
//! Admission gives every new claim the `kubernetes.io/pvc-protection`
//! finalizer, so deleting a claim only marks it. reconcile(ns/name):
//! - a claim not being deleted without the finalizer (made before
//!   admission added it) gets it;
//! - a claim being deleted keeps it while a pod that has not finished
//!   mounts it (the informer first, then a fresh list of the namespace's
//!   pods, so a pod created a moment ago is not missed); once none does,
//!   the finalizer goes and the apiserver removes the claim.
//!
//! A pod's change or deletion enqueues the claims it mounts.

use std::sync::Arc;

use component_base::storage::{pod_claim_names, PVC_PROTECTION_FINALIZER};
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
use kube::api::{Api, ListParams, Patch, PatchParams};

use super::{Context, Started};
use crate::machinery::controller::{is_not_found, Action, Context as _, Reconciler, Result};
use crate::machinery::informer::{key_of, split_key, Store};
use crate::machinery::queue::Queue;
use crate::machinery::{meta, pods};

/// Registers handlers and returns the workers.
pub fn start(ctx: &Context) -> Started {
    let claims = ctx.factory.informer::<PersistentVolumeClaim>();
    let pod_informer = ctx.factory.informer::<Pod>();
    let queue = Queue::new("pvc-protection");
    let q = Arc::clone(&queue);
    claims.add_handler(move |_, new| {
        if let Some(c) = new {
            q.add(key_of(&**c));
        }
    });
    let q = Arc::clone(&queue);
    pod_informer.add_handler(move |old, new| {
        for p in [old, new].into_iter().flatten() {
            let ns = p.metadata.namespace.as_deref().unwrap_or_default();
            for claim in pod_claim_names(p) {
                q.add(format!("{ns}/{claim}"));
            }
        }
    });
    let c = Arc::new(PvcProtectionController {
        client: ctx.client.clone(),
        claims: claims.store(),
        pods: pod_informer.store(),
    });
    ctx.workers(c, queue)
}

/// Whether a pod that has not finished mounts the claim.
pub fn uses(pod: &Pod, claim: &str) -> bool {
    !pods::pod_terminal(pod) && pod_claim_names(pod).any(|c| c == claim)
}

/// The controller's state.
pub struct PvcProtectionController {
    client: kube::Client,
    claims: Store<PersistentVolumeClaim>,
    pods: Store<Pod>,
}

impl Reconciler for PvcProtectionController {
    fn name(&self) -> &'static str {
        "pvc-protection"
    }

    async fn reconcile(&self, key: &str) -> Result<Action> {
        let Some(claim) = self.claims.get(key) else {
            return Ok(Action::Done);
        };
        let (ns, name) = split_key(key);
        let ns = ns.unwrap_or_default();
        let deleting = claim.metadata.deletion_timestamp.is_some();
        let add = !deleting;
        if deleting {
            let cached = self.pods.list_namespace(ns).iter().any(|p| uses(p, name));
            if cached {
                return Ok(Action::Done);
            }
            let api: Api<Pod> = Api::namespaced(self.client.clone(), ns);
            let live = api
                .list(&ListParams::default())
                .await
                .context(|| format!("listing the pods of {ns}"))?;
            if live.items.iter().any(|p| uses(p, name)) {
                return Ok(Action::Done);
            }
        }
        let Some(patch) = meta::finalizer_patch(&claim.metadata, PVC_PROTECTION_FINALIZER, add)
        else {
            return Ok(Action::Done);
        };
        let api: Api<PersistentVolumeClaim> = Api::namespaced(self.client.clone(), ns);
        match api
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => {
                tracing::info!(claim = %key, added = add, "pvc-protection finalizer");
                Ok(Action::Done)
            }
            Err(e) if is_not_found(&e) => Ok(Action::Done),
            Err(e) => Err(e).context(|| format!("updating the finalizers of claim {key}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_unfinished_pods_mounting_the_claim_use_it() {
        let pod = |phase: &str| -> Pod {
            serde_json::from_value(json!({
                "metadata": {"name": "p", "namespace": "ns"},
                "spec": {"containers": [], "volumes": [
                    {"name": "v", "persistentVolumeClaim": {"claimName": "data"}}]},
                "status": {"phase": phase}
            }))
            .expect("pod")
        };
        assert!(uses(&pod("Running"), "data"));
        assert!(uses(&pod("Pending"), "data"));
        assert!(!uses(&pod("Running"), "other"));
        assert!(!uses(&pod("Succeeded"), "data"));
    }
}
