//! The PV protection controller (upstream's `pv-protection`,
//! `pkg/controller/volume/pvprotection`): a volume bound to a claim is not
//! removed under it.
//!
//! Admission gives every new volume the `kubernetes.io/pv-protection`
//! finalizer. reconcile(name): a volume not being deleted without the
//! finalizer gets it; a volume being deleted loses it once it is no
//! longer `Bound` (its claim is gone and the PV controller released it),
//! and the apiserver removes it.

use std::sync::Arc;

use component_base::storage::PV_PROTECTION_FINALIZER;
use k8s_openapi::api::core::v1::PersistentVolume;
use kube::api::{Api, Patch, PatchParams};

use super::{Context, Started};
use crate::machinery::controller::{is_not_found, Action, Context as _, Reconciler, Result};
use crate::machinery::informer::{key_of, Store};
use crate::machinery::meta;
use crate::machinery::queue::Queue;

/// Registers handlers and returns the workers.
pub fn start(ctx: &Context) -> Started {
    let volumes = ctx.factory.informer::<PersistentVolume>();
    let queue = Queue::new("pv-protection");
    let q = Arc::clone(&queue);
    volumes.add_handler(move |_, new| {
        if let Some(v) = new {
            q.add(key_of(&**v));
        }
    });
    let c = Arc::new(PvProtectionController {
        client: ctx.client.clone(),
        volumes: volumes.store(),
    });
    ctx.workers(c, queue)
}

/// Whether the volume is in use: bound to a claim.
pub fn in_use(volume: &PersistentVolume) -> bool {
    volume.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Bound")
}

/// The controller's state.
pub struct PvProtectionController {
    client: kube::Client,
    volumes: Store<PersistentVolume>,
}

impl Reconciler for PvProtectionController {
    fn name(&self) -> &'static str {
        "pv-protection"
    }

    async fn reconcile(&self, key: &str) -> Result<Action> {
        let Some(volume) = self.volumes.get(key) else {
            return Ok(Action::Done);
        };
        let deleting = volume.metadata.deletion_timestamp.is_some();
        if deleting && in_use(&volume) {
            return Ok(Action::Done);
        }
        let Some(patch) =
            meta::finalizer_patch(&volume.metadata, PV_PROTECTION_FINALIZER, !deleting)
        else {
            return Ok(Action::Done);
        };
        let api: Api<PersistentVolume> = Api::all(self.client.clone());
        match api
            .patch(key, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => Ok(Action::Done),
            Err(e) if is_not_found(&e) => Ok(Action::Done),
            Err(e) => Err(e).context(|| format!("updating the finalizers of volume {key}")),
        }
    }
}
