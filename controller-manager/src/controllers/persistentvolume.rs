//! The PersistentVolume controller (upstream's "persistentvolume-binder",
//! `pkg/controller/volume/persistentvolume`): binds claims to volumes,
//! keeps both phases true, asks provisioners for new volumes and releases
//! volumes whose claim went away.
//!
//! Keys are `claim:<ns>/<name>` and `volume:<name>`; a change of either
//! kind enqueues it, and of a volume also its claim.
//!
//! sync claim (not yet `bind-completed`):
//! - with `spec.volumeName`: bind to that volume if it is free and fits
//!   (else `VolumeMismatch`), or finish a binding it already points to;
//!   a volume bound elsewhere -> `FailedBinding`;
//! - else the best match ([`storage::find_matching_volume`]: pre-bound,
//!   else the smallest Available fitting one) is bound; with no match:
//!   a class whose binding waits for the first consumer waits
//!   (`WaitForFirstConsumer` event) until the scheduler writes
//!   `volume.kubernetes.io/selected-node`; a class with a provisioner gets
//!   its provisioner named on the claim (`ExternalProvisioning`: the
//!   provisioner creates a volume pre-bound to the claim, which the next
//!   sync binds); a class that does not exist -> `ProvisioningFailed`; no
//!   class -> `FailedBinding`. The claim stays `Pending`.
//!
//! sync claim (bound): `Lost` if its volume is gone or bound elsewhere,
//! else the binding is re-asserted (idempotent).
//!
//! sync volume: no `claimRef` (or one without uid: pre-bound by a user)
//! -> `Available`; its claim gone -> `Released`, then the reclaim policy:
//! `Retain` keeps it; `Delete` is the provisioner's job for a provisioned
//! volume (it removes the storage, then the volume), and `Failed`
//! (`VolumeFailedDelete`) for one nobody provisioned; a claim that is
//! bound to it -> `Bound`.
//!
//! A binding writes, as upstream, in this order: the volume's `claimRef`
//! (+ `bound-by-controller`), the volume's phase, the claim's
//! `volumeName` (+ `bind-completed`, `bound-by-controller`), the claim's
//! phase, capacity and access modes. Every step is idempotent, so a sync
//! interrupted anywhere is finished by the next.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use component_base::storage::{
    self, claim_class, has_annotation, selected_node, ANN_BETA_STORAGE_PROVISIONER,
    ANN_BIND_COMPLETED, ANN_BOUND_BY_CONTROLLER, ANN_PROVISIONED_BY, ANN_STORAGE_PROVISIONER,
    NO_PROVISIONER,
};
use k8s_openapi::api::core::v1::{
    ObjectReference, PersistentVolume, PersistentVolumeClaim, PersistentVolumeClaimStatus,
    PersistentVolumeStatus, Pod,
};
use k8s_openapi::api::storage::v1::StorageClass;
use kube::api::{Api, PostParams};

use super::{Context, Started};
use crate::events::Recorder;
use crate::machinery::controller::{is_not_found, Action, Context as _, Reconciler, Result};
use crate::machinery::informer::{key_of, split_key, Store};
use crate::machinery::queue::Queue;

/// How often every claim and volume is looked at again without events
/// (upstream's `--pvclaimbinder-sync-period` is 15 s).
pub const RESYNC: Duration = Duration::from_secs(15);

const CLAIM: &str = "claim:";
const VOLUME: &str = "volume:";

/// Registers handlers and returns the workers.
pub fn start(ctx: &Context) -> Started {
    let volumes = ctx.factory.informer::<PersistentVolume>();
    let claims = ctx.factory.informer::<PersistentVolumeClaim>();
    let classes = ctx.factory.informer::<StorageClass>();
    let pods = ctx.factory.informer::<Pod>();
    let queue = Queue::new("persistentvolume");
    let q = Arc::clone(&queue);
    claims.add_handler(move |old, new| {
        if let Some(c) = new.or(old) {
            q.add(format!("{CLAIM}{}", key_of(&**c)));
        }
    });
    let q = Arc::clone(&queue);
    volumes.add_handler(move |old, new| {
        if let Some(v) = new.or(old) {
            q.add(format!("{VOLUME}{}", key_of(&**v)));
            if let Some(r) = v.spec.as_ref().and_then(|s| s.claim_ref.as_ref()) {
                q.add(format!("{CLAIM}{}", claim_ref_key(r)));
            }
        }
    });
    // A new class may let its Pending claims provision.
    let (q, claim_store) = (Arc::clone(&queue), claims.store());
    classes.add_handler(move |_, new| {
        if let Some(class) = new {
            let name = class.metadata.name.as_deref().unwrap_or_default();
            for c in claim_store.filter(|c| claim_class(c) == name) {
                q.add(format!("{CLAIM}{}", key_of(&*c)));
            }
        }
    });
    let c = Arc::new(PersistentVolumeController {
        client: ctx.client.clone(),
        volumes: volumes.store(),
        claims: claims.store(),
        classes: classes.store(),
        pods: pods.store(),
        recorder: ctx.recorder("persistentvolume-controller"),
    });
    ctx.workers(c, queue)
}

fn claim_ref_key(r: &ObjectReference) -> String {
    format!(
        "{}/{}",
        r.namespace.as_deref().unwrap_or_default(),
        r.name.as_deref().unwrap_or_default()
    )
}

/// The controller's state.
pub struct PersistentVolumeController {
    client: kube::Client,
    volumes: Store<PersistentVolume>,
    claims: Store<PersistentVolumeClaim>,
    classes: Store<StorageClass>,
    pods: Store<Pod>,
    recorder: Recorder,
}

impl Reconciler for PersistentVolumeController {
    fn name(&self) -> &'static str {
        "persistentvolume-binder"
    }

    async fn reconcile(&self, key: &str) -> Result<Action> {
        if let Some(claim_key) = key.strip_prefix(CLAIM) {
            let Some(claim) = self.claims.get(claim_key) else {
                return Ok(Action::Done);
            };
            if claim.metadata.deletion_timestamp.is_none() || is_bound_claim(&claim) {
                self.sync_claim(&claim).await?;
            }
        } else if let Some(name) = key.strip_prefix(VOLUME) {
            let Some(volume) = self.volumes.get(name) else {
                return Ok(Action::Done);
            };
            self.sync_volume(&volume).await?;
        }
        Ok(Action::RequeueAfter(RESYNC))
    }
}

fn is_bound_claim(claim: &PersistentVolumeClaim) -> bool {
    has_annotation(&claim.metadata, ANN_BIND_COMPLETED)
}

fn phase_of_claim(claim: &PersistentVolumeClaim) -> &str {
    claim
        .status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("")
}

fn phase_of_volume(volume: &PersistentVolume) -> &str {
    volume
        .status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("")
}

fn name_of<K: kube::Resource>(obj: &K) -> String {
    obj.meta().name.clone().unwrap_or_default()
}

fn annotate(
    meta: &mut k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    k: &str,
    v: &str,
) -> bool {
    let a = meta.annotations.get_or_insert_with(BTreeMap::new);
    if a.get(k).map(String::as_str) == Some(v) {
        return false;
    }
    a.insert(k.to_string(), v.to_string());
    true
}

impl PersistentVolumeController {
    fn claim_api(&self, claim: &PersistentVolumeClaim) -> Api<PersistentVolumeClaim> {
        Api::namespaced(
            self.client.clone(),
            claim.metadata.namespace.as_deref().unwrap_or_default(),
        )
    }

    fn volume_api(&self) -> Api<PersistentVolume> {
        Api::all(self.client.clone())
    }

    async fn sync_claim(&self, claim: &PersistentVolumeClaim) -> Result<()> {
        if is_bound_claim(claim) {
            self.sync_bound_claim(claim).await
        } else {
            self.sync_unbound_claim(claim).await
        }
    }

    async fn sync_unbound_claim(&self, claim: &PersistentVolumeClaim) -> Result<()> {
        let wanted = claim
            .spec
            .as_ref()
            .and_then(|s| s.volume_name.clone())
            .filter(|n| !n.is_empty());
        let Some(volume_name) = wanted else {
            let class_name = claim_class(claim);
            let class = self.classes.get(class_name);
            let delay = storage::is_delay_binding(class.as_deref());
            let volumes = self.volumes.list();
            let found = storage::find_matching_volume(
                claim,
                volumes.iter().map(|v| &**v),
                None,
                &[],
                delay,
            );
            if let Some(volume) = found {
                return self.bind(volume, claim).await;
            }
            if delay && selected_node(claim).is_none() {
                self.wait_for_first_consumer(claim);
            } else if !class_name.is_empty() {
                return self.provision(claim, class.as_deref()).await;
            } else {
                self.recorder.event(
                    claim,
                    "Normal",
                    "FailedBinding",
                    "no persistent volumes available for this claim and no storage class is set"
                        .into(),
                );
            }
            return self.set_claim_phase(claim, "Pending", None).await;
        };
        let Some(volume) = self.volumes.get(&volume_name) else {
            // Asked for a volume that does not exist (yet): retry later.
            return self.set_claim_phase(claim, "Pending", None).await;
        };
        let claim_ref = volume.spec.as_ref().and_then(|s| s.claim_ref.as_ref());
        if claim_ref.is_none() {
            if let Err(why) = storage::check_volume_satisfies_claim(&volume, claim) {
                self.recorder.event(
                    claim,
                    "Warning",
                    "VolumeMismatch",
                    format!("Cannot bind to requested volume \"{volume_name}\": {why}"),
                );
                return self.set_claim_phase(claim, "Pending", None).await;
            }
            return self.bind(&volume, claim).await;
        }
        if storage::is_volume_bound_to_claim(&volume, claim) {
            return self.bind(&volume, claim).await;
        }
        self.recorder.event(
            claim,
            "Warning",
            "FailedBinding",
            format!("volume \"{volume_name}\" already bound to a different claim."),
        );
        self.set_claim_phase(claim, "Pending", None).await
    }

    /// Tells the user why a claim waits (upstream's
    /// `emitEventForUnboundDelayBindingClaim`).
    fn wait_for_first_consumer(&self, claim: &PersistentVolumeClaim) {
        let name = name_of(claim);
        let ns = claim.metadata.namespace.as_deref().unwrap_or_default();
        let mut waiting: Vec<String> = self
            .pods
            .list_namespace(ns)
            .iter()
            .filter(|p| {
                let unscheduled = p
                    .spec
                    .as_ref()
                    .and_then(|s| s.node_name.as_deref())
                    .is_none_or(str::is_empty);
                unscheduled && storage::pod_claim_names(p).any(|c| c == name)
            })
            .map(|p| key_of(&**p))
            .collect();
        waiting.sort();
        let (reason, message) = match waiting.as_slice() {
            [] => (
                "WaitForFirstConsumer",
                "waiting for first consumer to be created before binding".to_string(),
            ),
            [one] => (
                "WaitForPodScheduled",
                format!("waiting for pod {one} to be scheduled"),
            ),
            many => (
                "WaitForPodScheduled",
                format!("waiting for pods {} to be scheduled", many.join(",")),
            ),
        };
        self.recorder.event(claim, "Normal", reason, message);
    }

    /// Names the class's provisioner on the claim so it creates a volume
    /// (upstream's `provisionClaimOperationExternal`: every provisioner
    /// here is external to this controller).
    async fn provision(
        &self,
        claim: &PersistentVolumeClaim,
        class: Option<&StorageClass>,
    ) -> Result<()> {
        let Some(class) = class else {
            self.recorder.event(
                claim,
                "Warning",
                "ProvisioningFailed",
                format!(
                    "storageclass.storage.k8s.io \"{}\" not found",
                    claim_class(claim)
                ),
            );
            return self.set_claim_phase(claim, "Pending", None).await;
        };
        if class.provisioner == NO_PROVISIONER {
            // Volumes of this class are made by hand: wait for one.
            return self.set_claim_phase(claim, "Pending", None).await;
        }
        let mut updated = claim.clone();
        let a = annotate(
            &mut updated.metadata,
            ANN_STORAGE_PROVISIONER,
            &class.provisioner,
        );
        let b = annotate(
            &mut updated.metadata,
            ANN_BETA_STORAGE_PROVISIONER,
            &class.provisioner,
        );
        let updated = if a || b {
            self.claim_api(claim)
                .replace(&name_of(claim), &PostParams::default(), &updated)
                .await
                .context(|| format!("naming the provisioner on claim {}", key_of(claim)))?
        } else {
            updated
        };
        self.recorder.event(
            &updated,
            "Normal",
            "ExternalProvisioning",
            format!(
                "Waiting for a volume to be created either by the external provisioner '{}' or manually by the system administrator. If volume creation is delayed, please verify that the provisioner is running and correctly registered.",
                class.provisioner
            ),
        );
        self.set_claim_phase(&updated, "Pending", None).await
    }

    async fn sync_bound_claim(&self, claim: &PersistentVolumeClaim) -> Result<()> {
        let volume_name = claim
            .spec
            .as_ref()
            .and_then(|s| s.volume_name.clone())
            .unwrap_or_default();
        if volume_name.is_empty() {
            return self
                .claim_lost(
                    claim,
                    "ClaimLost",
                    "Bound claim has lost reference to PersistentVolume. Data on the volume is lost!",
                )
                .await;
        }
        let Some(volume) = self.volumes.get(&volume_name) else {
            return self
                .claim_lost(
                    claim,
                    "ClaimLost",
                    "Bound claim has lost its PersistentVolume. Data on the volume is lost!",
                )
                .await;
        };
        let bound_uid = volume
            .spec
            .as_ref()
            .and_then(|s| s.claim_ref.as_ref())
            .map(|r| r.uid.clone().unwrap_or_default());
        match bound_uid {
            None => self.bind(&volume, claim).await,
            Some(uid) if Some(&uid) == claim.metadata.uid.as_ref() => {
                self.bind(&volume, claim).await
            }
            Some(_) => {
                self.claim_lost(
                    claim,
                    "ClaimMisbound",
                    "Two claims are bound to the same volume, this one is bound incorrectly",
                )
                .await
            }
        }
    }

    async fn claim_lost(
        &self,
        claim: &PersistentVolumeClaim,
        reason: &str,
        message: &str,
    ) -> Result<()> {
        if phase_of_claim(claim) != "Lost" {
            self.recorder
                .event(claim, "Warning", reason, message.to_string());
        }
        self.set_claim_phase(claim, "Lost", None).await
    }

    async fn sync_volume(&self, volume: &PersistentVolume) -> Result<()> {
        let Some(r) = volume.spec.as_ref().and_then(|s| s.claim_ref.as_ref()) else {
            return self.set_volume_phase(volume, "Available", None).await;
        };
        if r.uid.as_deref().unwrap_or("").is_empty() {
            // Pre-bound by a user: the claim's sync finishes it.
            return self.set_volume_phase(volume, "Available", None).await;
        }
        let key = claim_ref_key(r);
        let mut claim = self
            .claims
            .get(&key)
            .map(|c| PersistentVolumeClaim::clone(&c));
        let released = matches!(phase_of_volume(volume), "Released" | "Failed");
        if (claim.is_none() && !released) || claim.as_ref().is_some_and(|c| c.metadata.uid != r.uid)
        {
            // The cache may lag behind a claim just created: ask the
            // apiserver before releasing anything.
            let (ns, name) = split_key(&key);
            let api: Api<PersistentVolumeClaim> =
                Api::namespaced(self.client.clone(), ns.unwrap_or_default());
            claim = api
                .get_opt(name)
                .await
                .context(|| format!("reading claim {key}"))?;
        }
        let claim = claim.filter(|c| c.metadata.uid == r.uid);
        let Some(claim) = claim else {
            let volume = if released {
                volume.clone()
            } else {
                tracing::info!(volume = %name_of(volume), policy = ?volume.spec.as_ref().and_then(|s| s.persistent_volume_reclaim_policy.as_deref()), "volume is released");
                self.write_volume_phase(volume, "Released", None).await?
            };
            return self.reclaim(&volume).await;
        };
        let claim_volume = claim
            .spec
            .as_ref()
            .and_then(|s| s.volume_name.as_deref())
            .unwrap_or("");
        if claim_volume.is_empty() {
            // The claim's sync finishes the binding (a provisioned volume
            // arrives this way).
            return Ok(());
        }
        if claim_volume == name_of(volume) {
            return self.set_volume_phase(volume, "Bound", None).await;
        }
        // The claim got bound to another volume.
        let provisioned = has_annotation(&volume.metadata, ANN_PROVISIONED_BY);
        if provisioned && reclaim_policy(volume) == "Delete" {
            let volume = if released {
                volume.clone()
            } else {
                self.write_volume_phase(volume, "Released", None).await?
            };
            return self.reclaim(&volume).await;
        }
        if has_annotation(&volume.metadata, ANN_BOUND_BY_CONTROLLER) {
            return self.unbind_volume(volume).await;
        }
        // Pre-bound by the user: it stays reserved for the claim.
        self.set_volume_phase(volume, "Available", None).await
    }

    /// What the reclaim policy says to do with a released volume.
    async fn reclaim(&self, volume: &PersistentVolume) -> Result<()> {
        match reclaim_policy(volume) {
            "Retain" => Ok(()),
            "Delete" if has_annotation(&volume.metadata, ANN_PROVISIONED_BY) => {
                // The provisioner that made it deletes the storage, then
                // the volume.
                Ok(())
            }
            "Delete" => {
                let message = format!(
                    "error getting deleter volume plugin for volume \"{}\": no deletable volume plugin matched",
                    name_of(volume)
                );
                if phase_of_volume(volume) != "Failed" {
                    self.recorder
                        .event(volume, "Warning", "VolumeFailedDelete", message.clone());
                }
                self.set_volume_phase(volume, "Failed", Some(message)).await
            }
            other => {
                let message = format!("reclaim policy {other:?} is not supported");
                if phase_of_volume(volume) != "Failed" {
                    self.recorder.event(
                        volume,
                        "Warning",
                        "VolumeUnknownReclaimPolicy",
                        message.clone(),
                    );
                }
                self.set_volume_phase(volume, "Failed", Some(message)).await
            }
        }
    }

    /// Binds volume and claim (see the module docs for the order).
    async fn bind(&self, volume: &PersistentVolume, claim: &PersistentVolumeClaim) -> Result<()> {
        let volume_name = name_of(volume);
        let claim_key = key_of(claim);
        // 1. The volume points to the claim.
        let mut v = volume.clone();
        let want = storage::claim_ref(claim);
        let spec = v.spec.get_or_insert_with(Default::default);
        let same = spec.claim_ref.as_ref().is_some_and(|r| {
            r.name == want.name && r.namespace == want.namespace && r.uid == want.uid
        });
        let mut dirty = false;
        if !same {
            let by_controller = spec.claim_ref.is_none();
            spec.claim_ref = Some(want);
            if by_controller {
                annotate(&mut v.metadata, ANN_BOUND_BY_CONTROLLER, "yes");
            }
            dirty = true;
        }
        let v = if dirty {
            self.volume_api()
                .replace(&volume_name, &PostParams::default(), &v)
                .await
                .context(|| format!("binding volume {volume_name} to claim {claim_key}"))?
        } else {
            v
        };
        // 2. The volume's phase.
        let v = self.write_volume_phase(&v, "Bound", None).await?;
        // 3. The claim points to the volume.
        let mut c = claim.clone();
        let cspec = c.spec.get_or_insert_with(Default::default);
        let mut dirty = false;
        if cspec.volume_name.as_deref() != Some(volume_name.as_str()) {
            cspec.volume_name = Some(volume_name.clone());
            annotate(&mut c.metadata, ANN_BOUND_BY_CONTROLLER, "yes");
            dirty = true;
        }
        dirty |= annotate(&mut c.metadata, ANN_BIND_COMPLETED, "yes");
        let c = if dirty {
            self.claim_api(claim)
                .replace(&name_of(claim), &PostParams::default(), &c)
                .await
                .context(|| format!("binding claim {claim_key} to volume {volume_name}"))?
        } else {
            c
        };
        // 4. The claim's phase, capacity and access modes.
        self.set_claim_phase(&c, "Bound", Some(&v)).await?;
        tracing::info!(claim = %claim_key, volume = %volume_name, "bound");
        Ok(())
    }

    /// Frees a volume the controller reserved for a claim that got another.
    async fn unbind_volume(&self, volume: &PersistentVolume) -> Result<()> {
        let mut v = volume.clone();
        if let Some(spec) = v.spec.as_mut() {
            spec.claim_ref = None;
        }
        if let Some(a) = v.metadata.annotations.as_mut() {
            a.remove(ANN_BOUND_BY_CONTROLLER);
        }
        let name = name_of(volume);
        let v = self
            .volume_api()
            .replace(&name, &PostParams::default(), &v)
            .await
            .context(|| format!("unbinding volume {name}"))?;
        self.write_volume_phase(&v, "Available", None)
            .await
            .map(|_| ())
    }

    async fn set_volume_phase(
        &self,
        volume: &PersistentVolume,
        phase: &str,
        message: Option<String>,
    ) -> Result<()> {
        self.write_volume_phase(volume, phase, message)
            .await
            .map(|_| ())
    }

    /// Writes the volume's phase (and message) if it differs.
    async fn write_volume_phase(
        &self,
        volume: &PersistentVolume,
        phase: &str,
        message: Option<String>,
    ) -> Result<PersistentVolume> {
        let status = volume.status.clone().unwrap_or_default();
        if status.phase.as_deref() == Some(phase) && status.message == message {
            return Ok(volume.clone());
        }
        let mut v = volume.clone();
        v.status = Some(PersistentVolumeStatus {
            phase: Some(phase.into()),
            message,
            reason: None,
            last_phase_transition_time: if status.phase.as_deref() == Some(phase) {
                status.last_phase_transition_time
            } else {
                Some(crate::machinery::meta::now())
            },
        });
        let name = name_of(volume);
        match self
            .volume_api()
            .replace_status(&name, &PostParams::default(), &v)
            .await
        {
            Ok(v) => Ok(v),
            Err(e) if is_not_found(&e) => Ok(v),
            Err(e) => Err(e).context(|| format!("setting volume {name} {phase}")),
        }
    }

    /// Writes the claim's phase; `Bound` also copies the volume's capacity
    /// and access modes into the claim's status.
    async fn set_claim_phase(
        &self,
        claim: &PersistentVolumeClaim,
        phase: &str,
        volume: Option<&PersistentVolume>,
    ) -> Result<()> {
        let old = claim.status.clone().unwrap_or_default();
        let mut status = PersistentVolumeClaimStatus {
            phase: Some(phase.into()),
            ..old.clone()
        };
        match volume.and_then(|v| v.spec.as_ref()) {
            Some(spec) => {
                status.capacity = spec.capacity.clone();
                status.access_modes = spec.access_modes.clone();
            }
            None if phase != "Bound" => {
                status.capacity = None;
                status.access_modes = None;
            }
            None => {}
        }
        if status == old {
            return Ok(());
        }
        let mut c = claim.clone();
        c.status = Some(status);
        let key = key_of(claim);
        match self
            .claim_api(claim)
            .replace_status(&name_of(claim), &PostParams::default(), &c)
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(e).context(|| format!("setting claim {key} {phase}")),
        }
    }
}

fn reclaim_policy(volume: &PersistentVolume) -> &str {
    volume
        .spec
        .as_ref()
        .and_then(|s| s.persistent_volume_reclaim_policy.as_deref())
        .unwrap_or("Retain")
}
