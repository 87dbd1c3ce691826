//! The node's local-path provisioner: dynamic PersistentVolumes that are
//! directories on this node (the model is k3s's local-path-provisioner,
//! under our own provisioner name [`LOCAL_PATH_PROVISIONER`]).
//!
//! Why the kubelet: a node-local volume is a directory on one node's disk,
//! and the kubelet is the one component that owns that node's filesystem
//! (on VMs, the control plane cannot reach it; k3s sends a helper pod to
//! the node instead). So each kubelet provisions and deletes only the
//! volumes of its own node:
//!
//! ```text
//! scheduler: claim.selected-node = me ─┐
//! PV controller: claim.storage-provisioner = minik8s.io/local-path ─┴─▶ provision:
//!     mkdir <root-dir>/local-path/pvc-<uid>_<ns>_<claim>  (0777)
//!     create PV pvc-<uid>: hostPath (DirectoryOrCreate), nodeAffinity
//!       kubernetes.io/hostname In [me], claimRef -> the claim,
//!       reclaim policy and mount options of the class, capacity = request
//!     (the PV controller then binds the claim to it)
//! PV controller: PV Released, policy Delete ─▶ delete: rm -r the directory,
//!     then delete the PV
//! ```
//!
//! Level-triggered: every change of a claim, volume or class (and every
//! [`RESYNC`]) looks at all of them again, so a kubelet restart picks up
//! where it stopped. A directory is only ever removed under this node's
//! base directory. Events on the claim are the external provisioners'
//! (`Provisioning`, `ProvisioningSucceeded`, `ProvisioningFailed`), on the
//! volume `VolumeFailedDelete`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use component_base::events::Recorder;
use component_base::storage::{
    claim_class, claim_ref, pinned_node, selected_node, ANN_PROVISIONED_BY,
    ANN_STORAGE_PROVISIONER, LOCAL_PATH_PROVISIONER,
};
use k8s_openapi::api::core::v1::{
    HostPathVolumeSource, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm,
    PersistentVolume, PersistentVolumeClaim, PersistentVolumeSpec, VolumeNodeAffinity,
};
use k8s_openapi::api::storage::v1::StorageClass;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, DeleteParams, PostParams};
use kube::runtime::reflector::{self, Store};
use kube::runtime::watcher::{self};
use tokio::sync::watch;

use crate::services::reflect;

/// How often everything is looked at again without events.
pub const RESYNC: Duration = Duration::from_secs(30);

/// Why one volume could not be provisioned or deleted.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The directory could not be made or removed.
    #[error("{path}: {source}")]
    Io {
        /// The directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The apiserver refused or could not be reached.
    #[error("{context}: {source}")]
    Api {
        /// What we were doing.
        context: String,
        /// Why.
        #[source]
        source: kube::Error,
    },
    /// A volume of ours points outside this node's base directory.
    #[error("refusing to delete {0}: not under this node's local-path directory")]
    Outside(PathBuf),
}

/// The provisioner of one node.
pub struct Provisioner {
    client: kube::Client,
    node: String,
    base: PathBuf,
    recorder: Recorder,
    claims: Store<PersistentVolumeClaim>,
    volumes: Store<PersistentVolume>,
    classes: Store<StorageClass>,
}

/// The directory of a node's local-path volumes under its root dir.
pub fn base_dir(root_dir: &Path) -> PathBuf {
    root_dir.join("local-path")
}

/// The name of the volume provisioned for a claim (upstream's
/// `pvc-<claim uid>`).
pub fn volume_name(claim: &PersistentVolumeClaim) -> String {
    format!("pvc-{}", claim.metadata.uid.as_deref().unwrap_or_default())
}

/// The directory of a claim's volume (k3s's `pvc-<uid>_<ns>_<name>`).
pub fn volume_dir(base: &Path, claim: &PersistentVolumeClaim) -> PathBuf {
    base.join(format!(
        "{}_{}_{}",
        volume_name(claim),
        claim.metadata.namespace.as_deref().unwrap_or_default(),
        claim.metadata.name.as_deref().unwrap_or_default()
    ))
}

/// Whether this node should provision a volume for the claim: ours to
/// make, for this node, not bound, not being deleted.
pub fn wants_volume(claim: &PersistentVolumeClaim, node: &str) -> bool {
    let asked = claim
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(ANN_STORAGE_PROVISIONER))
        .map(String::as_str)
        == Some(LOCAL_PATH_PROVISIONER);
    let unbound = claim
        .spec
        .as_ref()
        .and_then(|s| s.volume_name.as_deref())
        .is_none_or(str::is_empty);
    asked
        && unbound
        && selected_node(claim) == Some(node)
        && claim.metadata.deletion_timestamp.is_none()
}

/// Whether the volume is one of this node's that its policy says to delete
/// now (Released, `Delete`).
pub fn should_delete(volume: &PersistentVolume, node: &str) -> bool {
    let ours = volume
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(ANN_PROVISIONED_BY))
        .map(String::as_str)
        == Some(LOCAL_PATH_PROVISIONER);
    let spec = volume.spec.as_ref();
    ours && pinned_node(volume) == Some(node)
        && volume.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Released")
        && spec.and_then(|s| s.persistent_volume_reclaim_policy.as_deref()) == Some("Delete")
        && volume.metadata.deletion_timestamp.is_none()
}

/// The volume provisioned for `claim` on `node` at `dir`.
pub fn volume_for(
    claim: &PersistentVolumeClaim,
    class: &StorageClass,
    node: &str,
    dir: &Path,
) -> PersistentVolume {
    let spec = claim.spec.clone().unwrap_or_default();
    let capacity = spec
        .resources
        .as_ref()
        .and_then(|r| r.requests.as_ref())
        .and_then(|r| r.get("storage"))
        .cloned()
        .map(|q| BTreeMap::from([("storage".to_string(), q)]));
    PersistentVolume {
        metadata: ObjectMeta {
            name: Some(volume_name(claim)),
            annotations: Some(BTreeMap::from([(
                ANN_PROVISIONED_BY.to_string(),
                LOCAL_PATH_PROVISIONER.to_string(),
            )])),
            ..Default::default()
        },
        spec: Some(PersistentVolumeSpec {
            access_modes: spec.access_modes.clone(),
            capacity,
            claim_ref: Some(claim_ref(claim)),
            host_path: Some(HostPathVolumeSource {
                path: dir.to_string_lossy().into_owned(),
                type_: Some("DirectoryOrCreate".into()),
            }),
            node_affinity: Some(VolumeNodeAffinity {
                required: Some(NodeSelector {
                    node_selector_terms: vec![NodeSelectorTerm {
                        match_expressions: Some(vec![NodeSelectorRequirement {
                            key: "kubernetes.io/hostname".into(),
                            operator: "In".into(),
                            values: Some(vec![node.to_string()]),
                        }]),
                        match_fields: None,
                    }],
                }),
            }),
            persistent_volume_reclaim_policy: Some(
                class
                    .reclaim_policy
                    .clone()
                    .unwrap_or_else(|| "Delete".into()),
            ),
            mount_options: class.mount_options.clone(),
            storage_class_name: Some(claim_class(claim).to_string()),
            volume_mode: spec.volume_mode.clone(),
            ..Default::default()
        }),
        status: None,
    }
}

impl Provisioner {
    /// Starts the watches of claims, volumes and classes and runs the
    /// provisioner of `node` until the process ends.
    pub async fn run(client: kube::Client, node: String, root_dir: PathBuf, recorder: Recorder) {
        let (tx, mut changes) = watch::channel(0u64);
        let tx = Arc::new(tx);
        let cfg = watcher::Config::default;
        let (claims, _) =
            reflect::<PersistentVolumeClaim>(client.clone(), cfg(), "persistentvolumeclaims", &tx);
        let (volumes, _) =
            reflect::<PersistentVolume>(client.clone(), cfg(), "persistentvolumes", &tx);
        let (classes, _) = reflect::<StorageClass>(client.clone(), cfg(), "storageclasses", &tx);
        let p = Provisioner {
            client,
            node,
            base: base_dir(&root_dir),
            recorder,
            claims,
            volumes,
            classes,
        };
        let ready = async {
            p.claims.wait_until_ready().await.is_ok()
                && p.volumes.wait_until_ready().await.is_ok()
                && p.classes.wait_until_ready().await.is_ok()
        };
        if !ready.await {
            tracing::warn!("local-path provisioner: watches ended before their first list");
            return;
        }
        tracing::info!(base = %p.base.display(), "local-path provisioner running");
        loop {
            p.sync().await;
            tokio::select! {
                changed = changes.changed() => if changed.is_err() { return },
                _ = tokio::time::sleep(RESYNC) => {}
            }
        }
    }

    /// One pass over every claim and volume.
    async fn sync(&self) {
        for claim in self.claims.state() {
            if !wants_volume(&claim, &self.node)
                || self
                    .volumes
                    .get(&reflector::ObjectRef::new(&volume_name(&claim)))
                    .is_some()
            {
                continue;
            }
            let class = self
                .classes
                .get(&reflector::ObjectRef::new(claim_class(&claim)));
            let Some(class) = class.filter(|c| c.provisioner == LOCAL_PATH_PROVISIONER) else {
                continue;
            };
            let key = format!(
                "{}/{}",
                claim.metadata.namespace.as_deref().unwrap_or_default(),
                claim.metadata.name.as_deref().unwrap_or_default()
            );
            self.recorder.event(
                &*claim,
                "Normal",
                "Provisioning",
                format!("External provisioner is provisioning volume for claim \"{key}\""),
            );
            match self.provision(&claim, &class).await {
                Ok(name) => self.recorder.event(
                    &*claim,
                    "Normal",
                    "ProvisioningSucceeded",
                    format!("Successfully provisioned volume {name}"),
                ),
                Err(e) => {
                    tracing::warn!(claim = %key, error = %e, "provisioning failed");
                    self.recorder.event(
                        &*claim,
                        "Warning",
                        "ProvisioningFailed",
                        format!(
                            "failed to provision volume with StorageClass \"{}\": {e}",
                            claim_class(&claim)
                        ),
                    );
                }
            }
        }
        for volume in self.volumes.state() {
            if !should_delete(&volume, &self.node) {
                continue;
            }
            let name = volume.metadata.name.clone().unwrap_or_default();
            if let Err(e) = self.delete(&volume).await {
                tracing::warn!(volume = %name, error = %e, "deleting volume failed");
                self.recorder
                    .event(&*volume, "Warning", "VolumeFailedDelete", e.to_string());
            } else {
                tracing::info!(volume = %name, "deleted released volume and its directory");
            }
        }
    }

    async fn provision(
        &self,
        claim: &PersistentVolumeClaim,
        class: &StorageClass,
    ) -> Result<String, Error> {
        let dir = volume_dir(&self.base, claim);
        make_dir(&dir)?;
        let pv = volume_for(claim, class, &self.node, &dir);
        let name = volume_name(claim);
        let api: Api<PersistentVolume> = Api::all(self.client.clone());
        match api.create(&PostParams::default(), &pv).await {
            Ok(_) => Ok(name),
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(name),
            Err(source) => Err(Error::Api {
                context: format!("creating volume {name}"),
                source,
            }),
        }
    }

    async fn delete(&self, volume: &PersistentVolume) -> Result<(), Error> {
        let name = volume.metadata.name.clone().unwrap_or_default();
        if let Some(h) = volume.spec.as_ref().and_then(|s| s.host_path.as_ref()) {
            remove_dir(&self.base, Path::new(&h.path))?;
        }
        let api: Api<PersistentVolume> = Api::all(self.client.clone());
        match api.delete(&name, &DeleteParams::default()).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
            Err(source) => Err(Error::Api {
                context: format!("deleting volume {name}"),
                source,
            }),
        }
    }
}

/// Makes a volume's directory, writable by any user a pod runs as (as
/// k3s's provisioner does).
fn make_dir(dir: &Path) -> Result<(), Error> {
    use std::os::unix::fs::PermissionsExt;
    let io = |source| Error::Io {
        path: dir.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(io)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o777)).map_err(io)
}

/// Removes a volume's directory, which must lie directly under `base`.
fn remove_dir(base: &Path, dir: &Path) -> Result<(), Error> {
    if dir.parent() != Some(base) || dir.file_name().is_none() {
        return Err(Error::Outside(dir.to_path_buf()));
    }
    match std::fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(Error::Io {
            path: dir.to_path_buf(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claim(annotations: serde_json::Value) -> PersistentVolumeClaim {
        serde_json::from_value(json!({
            "metadata": {"name": "data", "namespace": "db", "uid": "1234", "annotations": annotations},
            "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "local-path",
                     "resources": {"requests": {"storage": "1Gi"}}}
        }))
        .expect("claim")
    }

    fn class() -> StorageClass {
        serde_json::from_value(json!({"metadata": {"name": "local-path"},
            "provisioner": LOCAL_PATH_PROVISIONER, "reclaimPolicy": "Delete"}))
        .expect("class")
    }

    #[test]
    fn only_claims_for_this_node_and_this_provisioner_are_provisioned() {
        let ours = json!({ANN_STORAGE_PROVISIONER: LOCAL_PATH_PROVISIONER,
                           "volume.kubernetes.io/selected-node": "n1"});
        assert!(wants_volume(&claim(ours.clone()), "n1"));
        assert!(!wants_volume(&claim(ours), "n2"));
        assert!(!wants_volume(
            &claim(json!({ANN_STORAGE_PROVISIONER: "other.io/x",
                          "volume.kubernetes.io/selected-node": "n1"})),
            "n1"
        ));
        assert!(!wants_volume(
            &claim(json!({ANN_STORAGE_PROVISIONER: LOCAL_PATH_PROVISIONER})),
            "n1"
        ));
    }

    #[test]
    fn the_volume_is_pinned_to_the_node_and_pre_bound_to_the_claim() {
        let c = claim(json!({}));
        let dir = volume_dir(Path::new("/var/lib/kubelet/local-path"), &c);
        assert_eq!(
            dir,
            Path::new("/var/lib/kubelet/local-path/pvc-1234_db_data")
        );
        let pv = volume_for(&c, &class(), "n1", &dir);
        assert_eq!(pv.metadata.name.as_deref(), Some("pvc-1234"));
        assert_eq!(pinned_node(&pv), Some("n1"));
        let spec = pv.spec.as_ref().expect("spec");
        assert_eq!(
            spec.claim_ref.as_ref().and_then(|r| r.uid.as_deref()),
            Some("1234")
        );
        assert_eq!(
            spec.persistent_volume_reclaim_policy.as_deref(),
            Some("Delete")
        );
        assert_eq!(
            spec.capacity.as_ref().map(|c| c["storage"].0.as_str()),
            Some("1Gi")
        );
        let mut released = pv.clone();
        released.status = Some(k8s_openapi::api::core::v1::PersistentVolumeStatus {
            phase: Some("Released".into()),
            ..Default::default()
        });
        assert!(!should_delete(&pv, "n1"));
        assert!(should_delete(&released, "n1"));
        assert!(!should_delete(&released, "n2"));
    }

    #[test]
    fn directories_are_made_and_removed_only_under_the_base() {
        let tmp = tempfile::tempdir().expect("tmp");
        let base = tmp.path().join("local-path");
        let dir = base.join("pvc-1_ns_c");
        make_dir(&dir).expect("mkdir");
        std::fs::write(dir.join("f"), b"x").expect("write");
        assert!(matches!(
            remove_dir(&base, tmp.path()),
            Err(Error::Outside(_))
        ));
        assert!(matches!(
            remove_dir(&base, &base.join("a/../../x")),
            Err(Error::Outside(_))
        ));
        remove_dir(&base, &dir).expect("rm");
        assert!(!dir.exists());
        remove_dir(&base, &dir).expect("gone already is fine");
    }
}
