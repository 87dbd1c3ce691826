//! VolumeBinding: a pod goes only where its PersistentVolumeClaims can be
//! used, and the scheduler finishes binding the claims that waited for it
//! (upstream's `volumebinding` plugin).
//!
//! - **PreFilter**: a pod without claims skips the plugin. A missing claim,
//!   one being deleted, or one whose volume is lost, rejects the pod; so do
//!   unbound claims of a class that binds immediately ("pod has unbound
//!   immediate PersistentVolumeClaims": the PV controller binds them, and
//!   their binding brings the pod back).
//! - **Filter** per node: a bound claim's volume must allow the node (its
//!   `nodeAffinity`: a local volume lives on one node). A claim that waits
//!   for its first consumer (`WaitForFirstConsumer`) needs, on this node,
//!   either a free volume that fits it ([`storage::find_matching_volume`]
//!   with the node), or a class whose provisioner can make one; a claim
//!   whose node was already selected fits only that node.
//! - **PreBind** (in the binding cycle, before `pods/binding`): for the
//!   chosen node, a claim with a matching free volume gets it (the volume's
//!   `claimRef`, which the PV controller completes), a claim to provision
//!   gets `volume.kubernetes.io/selected-node`; then it waits until every
//!   claim is bound (the provisioner of that node creates the volume), so
//!   the pod is bound only once its storage exists. A failure sends the pod
//!   back to the queue.
//!
//! The claims, volumes and classes come from the scheduler's watches
//! ([`Volumes`], filled by `crate::informers`).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use component_base::storage::{
    self, claim_class, selected_node, MatchNode, ANN_BOUND_BY_CONTROLLER, ANN_SELECTED_NODE,
    NO_PROVISIONER,
};
use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};
use k8s_openapi::api::storage::v1::StorageClass;
use kube::api::{Api, Patch, PatchParams};

use crate::cache::{NodeInfo, PodInfo, Snapshot};
use crate::framework::{
    ClusterEvent, CycleState, FilterPlugin, Plugin, PreBindPlugin, PreFilterPlugin, Status,
};

/// The plugin's name.
pub const NAME: &str = "VolumeBinding";
/// An unbound claim that does not wait for its consumer.
pub const REASON_UNBOUND_IMMEDIATE: &str = "pod has unbound immediate PersistentVolumeClaims";
/// No free volume and no provisioner for a waiting claim on this node.
pub const REASON_BIND_CONFLICT: &str = "node(s) didn't find available persistent volumes to bind";
/// A bound volume does not allow the node.
pub const REASON_NODE_CONFLICT: &str = "node(s) didn't match PersistentVolume's node affinity";
/// A bound claim's volume does not exist.
pub const REASON_PV_NOT_EXIST: &str =
    "node(s) unavailable due to one or more pvc(s) bound to non-existent pv(s)";
/// How long PreBind waits for the claims to be bound (upstream's
/// `bindTimeoutSeconds` default).
pub const BIND_TIMEOUT: Duration = Duration::from_secs(600);

const STATE_KEY: &str = "VolumeBinding";

/// The scheduler's view of claims (`ns/name`), volumes and classes.
#[derive(Debug, Default)]
pub struct Volumes {
    claims: RwLock<HashMap<String, Arc<PersistentVolumeClaim>>>,
    volumes: RwLock<HashMap<String, Arc<PersistentVolume>>>,
    classes: RwLock<HashMap<String, Arc<StorageClass>>>,
}

fn ns_name(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> String {
    format!(
        "{}/{}",
        meta.namespace.as_deref().unwrap_or_default(),
        meta.name.as_deref().unwrap_or_default()
    )
}

impl Volumes {
    /// Stores (or replaces) a claim.
    pub fn upsert_claim(&self, c: PersistentVolumeClaim) {
        if let Ok(mut m) = self.claims.write() {
            m.insert(ns_name(&c.metadata), Arc::new(c));
        }
    }
    /// Forgets a claim.
    pub fn remove_claim(&self, key: &str) {
        if let Ok(mut m) = self.claims.write() {
            m.remove(key);
        }
    }
    /// Stores (or replaces) a volume.
    pub fn upsert_volume(&self, v: PersistentVolume) {
        if let Ok(mut m) = self.volumes.write() {
            m.insert(v.metadata.name.clone().unwrap_or_default(), Arc::new(v));
        }
    }
    /// Forgets a volume.
    pub fn remove_volume(&self, name: &str) {
        if let Ok(mut m) = self.volumes.write() {
            m.remove(name);
        }
    }
    /// Stores (or replaces) a class.
    pub fn upsert_class(&self, c: StorageClass) {
        if let Ok(mut m) = self.classes.write() {
            m.insert(c.metadata.name.clone().unwrap_or_default(), Arc::new(c));
        }
    }
    /// Forgets a class.
    pub fn remove_class(&self, name: &str) {
        if let Ok(mut m) = self.classes.write() {
            m.remove(name);
        }
    }
    /// The keys (`ns/name`) of every claim, volume name and class name.
    pub fn keys(&self) -> (Vec<String>, Vec<String>, Vec<String>) {
        (keys(&self.claims), keys(&self.volumes), keys(&self.classes))
    }
    fn claim(&self, key: &str) -> Option<Arc<PersistentVolumeClaim>> {
        self.claims.read().ok()?.get(key).cloned()
    }
    fn volume(&self, name: &str) -> Option<Arc<PersistentVolume>> {
        self.volumes.read().ok()?.get(name).cloned()
    }
    fn class(&self, name: &str) -> Option<Arc<StorageClass>> {
        self.classes.read().ok()?.get(name).cloned()
    }
    fn all_volumes(&self) -> Vec<Arc<PersistentVolume>> {
        self.volumes
            .read()
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }
}

fn keys<T>(m: &RwLock<HashMap<String, T>>) -> Vec<String> {
    m.read()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

/// The pod's claims, sorted out in PreFilter.
#[derive(Debug, Default, Clone)]
struct PodClaims {
    /// Bound claims and their volume's name.
    bound: Vec<(Arc<PersistentVolumeClaim>, String)>,
    /// Unbound claims whose class waits for the first consumer.
    delayed: Vec<Arc<PersistentVolumeClaim>>,
}

/// What PreBind does for one claim on the chosen node.
#[derive(Debug, Clone, PartialEq)]
enum Decision {
    /// Bind this free volume to it.
    Static(String),
    /// Have it provisioned on the node.
    Provision,
}

/// See the module docs.
#[derive(Debug, Clone)]
pub struct VolumeBinding {
    volumes: Arc<Volumes>,
    bind_timeout: Duration,
}

impl VolumeBinding {
    /// The plugin over the scheduler's view of volumes.
    pub fn new(volumes: Arc<Volumes>) -> VolumeBinding {
        VolumeBinding {
            volumes,
            bind_timeout: BIND_TIMEOUT,
        }
    }

    /// Sorts the pod's claims (PreFilter's work), or says why it cannot
    /// be scheduled.
    fn pod_claims(&self, pod: &PodInfo) -> Result<Option<PodClaims>, Status> {
        let names: Vec<&str> = storage::pod_claim_names(&pod.pod).collect();
        if names.is_empty() {
            return Ok(None);
        }
        let mut out = PodClaims::default();
        let mut immediate = false;
        for name in names {
            let Some(claim) = self.volumes.claim(&format!("{}/{name}", pod.namespace)) else {
                return Err(Status::unresolvable(format!(
                    "persistentvolumeclaim \"{name}\" not found"
                )));
            };
            let volume = claim
                .spec
                .as_ref()
                .and_then(|s| s.volume_name.clone())
                .unwrap_or_default();
            if claim.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Lost") {
                return Err(Status::unresolvable(format!(
                    "persistentvolumeclaim \"{name}\" bound to non-existent persistentvolume \"{volume}\""
                )));
            }
            if claim.metadata.deletion_timestamp.is_some() {
                return Err(Status::unresolvable(format!(
                    "persistentvolumeclaim \"{name}\" is being deleted"
                )));
            }
            if self.is_bound(&claim) {
                out.bound.push((claim, volume));
                continue;
            }
            let class = self.volumes.class(claim_class(&claim));
            if storage::is_delay_binding(class.as_deref()) {
                out.delayed.push(claim);
            } else {
                immediate = true;
            }
        }
        if immediate {
            return Err(Status::unresolvable(REASON_UNBOUND_IMMEDIATE));
        }
        Ok(Some(out))
    }

    /// A claim is bound when it names a volume whose `claimRef` is it
    /// (upstream's `isPVCFullyBound`; a claim pre-bound by a user to a
    /// volume counts as unbound).
    fn is_bound(&self, claim: &PersistentVolumeClaim) -> bool {
        let Some(name) = claim
            .spec
            .as_ref()
            .and_then(|s| s.volume_name.as_deref())
            .filter(|n| !n.is_empty())
        else {
            return false;
        };
        match self.volumes.volume(name) {
            Some(v) => storage::is_volume_bound_to_claim(&v, claim),
            // A bound claim whose volume vanished: Filter says so.
            None => storage::has_annotation(&claim.metadata, storage::ANN_BIND_COMPLETED),
        }
    }

    /// What to do with each waiting claim on `node`, or why it cannot be.
    fn decide(
        &self,
        claims: &PodClaims,
        node_name: &str,
        labels: &BTreeMap<String, String>,
    ) -> Result<Vec<(Arc<PersistentVolumeClaim>, Decision)>, Status> {
        for (_, volume) in &claims.bound {
            let Some(v) = self.volumes.volume(volume) else {
                return Err(Status::unresolvable(REASON_PV_NOT_EXIST));
            };
            if !storage::node_affinity_allows(&v, node_name, labels) {
                return Err(Status::unresolvable(REASON_NODE_CONFLICT));
            }
        }
        let all = self.volumes.all_volumes();
        let mut chosen: Vec<String> = Vec::new();
        let mut out = Vec::new();
        let node = MatchNode {
            name: node_name,
            labels,
        };
        for claim in &claims.delayed {
            if let Some(selected) = selected_node(claim) {
                if selected != node_name {
                    return Err(Status::unresolvable(REASON_BIND_CONFLICT));
                }
                out.push((Arc::clone(claim), Decision::Provision));
                continue;
            }
            let found = storage::find_matching_volume(
                claim,
                all.iter().map(|v| &**v),
                Some(&node),
                &chosen,
                true,
            );
            if let Some(v) = found {
                let name = v.metadata.name.clone().unwrap_or_default();
                chosen.push(name.clone());
                out.push((Arc::clone(claim), Decision::Static(name)));
                continue;
            }
            let class = self.volumes.class(claim_class(claim));
            let provisionable = class
                .as_deref()
                .is_some_and(|c| c.provisioner != NO_PROVISIONER && topology_allows(c, labels));
            if !provisionable {
                return Err(Status::unresolvable(REASON_BIND_CONFLICT));
            }
            out.push((Arc::clone(claim), Decision::Provision));
        }
        Ok(out)
    }

    async fn bind_claims(
        &self,
        client: &kube::Client,
        pod: &PodInfo,
        node_name: &str,
        labels: &BTreeMap<String, String>,
    ) -> Result<(), String> {
        let claims = match self.pod_claims(pod) {
            Ok(Some(c)) => c,
            Ok(None) => return Ok(()),
            Err(s) => return Err(s.reasons.join(", ")),
        };
        let decisions = self
            .decide(&claims, node_name, labels)
            .map_err(|s| s.reasons.join(", "))?;
        for (claim, decision) in &decisions {
            let name = claim.metadata.name.clone().unwrap_or_default();
            match decision {
                Decision::Static(volume) => {
                    // Reserve the volume for the claim; the PV controller
                    // completes the binding.
                    let api: Api<PersistentVolume> = Api::all(client.clone());
                    let patch = serde_json::json!({
                        "metadata": {"annotations": {ANN_BOUND_BY_CONTROLLER: "yes"}},
                        "spec": {"claimRef": storage::claim_ref(claim)}
                    });
                    api.patch(volume, &PatchParams::default(), &Patch::Merge(&patch))
                        .await
                        .map_err(|e| format!("binding volume {volume} to claim {name}: {e}"))?;
                }
                Decision::Provision => {
                    if selected_node(claim) == Some(node_name) {
                        continue;
                    }
                    let api: Api<PersistentVolumeClaim> =
                        Api::namespaced(client.clone(), &pod.namespace);
                    let patch = serde_json::json!({
                        "metadata": {"annotations": {ANN_SELECTED_NODE: node_name}}
                    });
                    api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                        .await
                        .map_err(|e| format!("selecting node for claim {name}: {e}"))?;
                }
            }
        }
        // Wait until every claim is bound.
        let start = Instant::now();
        let keys: Vec<String> = decisions
            .iter()
            .map(|(c, _)| ns_name(&c.metadata))
            .collect();
        loop {
            let mut pending = Vec::new();
            for key in &keys {
                match self.volumes.claim(key) {
                    Some(c) if self.is_bound(&c) => {}
                    Some(c) if c.metadata.deletion_timestamp.is_some() => {
                        return Err(format!("persistentvolumeclaim \"{key}\" is being deleted"))
                    }
                    Some(_) => pending.push(key.clone()),
                    None => return Err(format!("persistentvolumeclaim \"{key}\" not found")),
                }
            }
            if pending.is_empty() {
                return Ok(());
            }
            if start.elapsed() > self.bind_timeout {
                return Err(format!(
                    "binding volumes: timed out waiting for the condition (claims {})",
                    pending.join(", ")
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Whether a class's `allowedTopologies` (if any) allow the node.
fn topology_allows(class: &StorageClass, labels: &BTreeMap<String, String>) -> bool {
    let Some(terms) = class.allowed_topologies.as_ref().filter(|t| !t.is_empty()) else {
        return true;
    };
    terms.iter().any(|term| {
        term.match_label_expressions
            .iter()
            .flatten()
            .all(|e| labels.get(&e.key).is_some_and(|v| e.values.contains(v)))
    })
}

impl Plugin for VolumeBinding {
    fn name(&self) -> &'static str {
        NAME
    }
    fn events_to_register(&self) -> &'static [ClusterEvent] {
        &[
            ClusterEvent::NodeAdd,
            ClusterEvent::NodeUpdate,
            ClusterEvent::PvcChange,
            ClusterEvent::PvChange,
            ClusterEvent::StorageClassChange,
        ]
    }
}

impl PreFilterPlugin for VolumeBinding {
    fn pre_filter(&self, state: &mut CycleState, pod: &PodInfo, _: &Snapshot) -> Status {
        match self.pod_claims(pod) {
            Ok(None) => Status::skip(),
            Ok(Some(claims)) => {
                state.write(STATE_KEY, claims);
                Status::success()
            }
            Err(s) => s,
        }
    }
}

impl FilterPlugin for VolumeBinding {
    fn filter(&self, state: &CycleState, _pod: &PodInfo, node: &NodeInfo) -> Status {
        let Some(claims) = state.read::<PodClaims>(STATE_KEY) else {
            return Status::success();
        };
        match self.decide(claims, &node.name, node.labels()) {
            Ok(_) => Status::success(),
            Err(s) => s,
        }
    }
}

impl PreBindPlugin for VolumeBinding {
    fn pre_bind<'a>(
        &'a self,
        client: &'a kube::Client,
        pod: &'a PodInfo,
        node: &'a NodeInfo,
    ) -> BoxFuture<'a, Status> {
        Box::pin(async move {
            match self
                .bind_claims(client, pod, &node.name, node.labels())
                .await
            {
                Ok(()) => Status::success(),
                Err(e) => Status::error(e),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testing::*;
    use serde_json::json;

    fn claim(name: &str, class: &str, extra: serde_json::Value) -> PersistentVolumeClaim {
        let mut v = json!({
            "metadata": {"name": name, "namespace": "default", "uid": format!("uid-{name}")},
            "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": class,
                     "resources": {"requests": {"storage": "1Gi"}}}
        });
        if let (Some(m), serde_json::Value::Object(e)) = (v.as_object_mut(), extra) {
            for (k, x) in e {
                if let (Some(dst), Some(src)) =
                    (m.get_mut(&k).and_then(|d| d.as_object_mut()), x.as_object())
                {
                    dst.extend(src.clone());
                } else {
                    m.insert(k, x);
                }
            }
        }
        serde_json::from_value(v).expect("claim")
    }

    fn local_pv(name: &str, node: &str, claim_ref: Option<&str>, class: &str) -> PersistentVolume {
        let mut spec = json!({
            "capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
            "storageClassName": class, "hostPath": {"path": "/d"},
            "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                {"key": "kubernetes.io/hostname", "operator": "In", "values": [node]}]}]}}
        });
        if let Some(c) = claim_ref {
            spec["claimRef"] =
                json!({"namespace": "default", "name": c, "uid": format!("uid-{c}")});
        }
        serde_json::from_value(json!({"metadata": {"name": name}, "spec": spec,
            "status": {"phase": if claim_ref.is_some() { "Bound" } else { "Available" }}}))
        .expect("pv")
    }

    fn class(name: &str, mode: &str, provisioner: &str) -> StorageClass {
        serde_json::from_value(
            json!({"metadata": {"name": name}, "provisioner": provisioner,
            "volumeBindingMode": mode}),
        )
        .expect("class")
    }

    fn pod_with(claims: &[&str]) -> PodInfo {
        let vols: Vec<_> = claims
            .iter()
            .map(|c| json!({"name": c, "persistentVolumeClaim": {"claimName": c}}))
            .collect();
        pod("p", json!({}), json!({"volumes": vols}))
    }

    fn run(plugin: &VolumeBinding, pod: &PodInfo, nodes: &[&str]) -> Result<Vec<String>, Status> {
        let mut state = CycleState::default();
        let s = plugin.pre_filter(&mut state, pod, &Snapshot::default());
        if s.is_rejected() {
            return Err(s);
        }
        Ok(nodes
            .iter()
            .filter(|n| plugin.filter(&state, pod, &plain_node(n)).is_success())
            .map(|n| n.to_string())
            .collect())
    }

    #[test]
    fn pods_without_claims_skip_the_plugin() {
        let plugin = VolumeBinding::new(Arc::default());
        let mut state = CycleState::default();
        let s = plugin.pre_filter(
            &mut state,
            &pod("p", json!({}), json!({})),
            &Snapshot::default(),
        );
        assert_eq!(s.code, crate::framework::Code::Skip);
    }

    #[test]
    fn missing_and_immediate_unbound_claims_are_unresolvable() {
        let volumes = Arc::new(Volumes::default());
        let plugin = VolumeBinding::new(Arc::clone(&volumes));
        let err = run(&plugin, &pod_with(&["data"]), &["n1"]).expect_err("missing");
        assert_eq!(err.reasons, ["persistentvolumeclaim \"data\" not found"]);
        volumes.upsert_class(class("fast", "Immediate", "p"));
        volumes.upsert_claim(claim("data", "fast", json!({})));
        let err = run(&plugin, &pod_with(&["data"]), &["n1"]).expect_err("immediate");
        assert_eq!(err.reasons, [REASON_UNBOUND_IMMEDIATE]);
        // A class that does not exist binds immediately too.
        volumes.upsert_claim(claim("data", "nope", json!({})));
        assert!(run(&plugin, &pod_with(&["data"]), &["n1"]).is_err());
    }

    #[test]
    fn a_bound_local_volume_keeps_the_pod_on_its_node() {
        let volumes = Arc::new(Volumes::default());
        let plugin = VolumeBinding::new(Arc::clone(&volumes));
        volumes.upsert_claim(claim(
            "data",
            "",
            json!({"spec": {"volumeName": "pv1"},
                   "metadata": {"annotations": {storage::ANN_BIND_COMPLETED: "yes"}}}),
        ));
        volumes.upsert_volume(local_pv("pv1", "n2", Some("data"), ""));
        assert_eq!(
            run(&plugin, &pod_with(&["data"]), &["n1", "n2", "n3"]).expect("fits"),
            ["n2"]
        );
        volumes.remove_volume("pv1");
        assert_eq!(
            run(&plugin, &pod_with(&["data"]), &["n1", "n2"]).expect("ran"),
            Vec::<String>::new()
        );
    }

    #[test]
    fn a_waiting_claim_takes_a_free_local_volume_or_a_provisioner() {
        let volumes = Arc::new(Volumes::default());
        let plugin = VolumeBinding::new(Arc::clone(&volumes));
        volumes.upsert_class(class("local", "WaitForFirstConsumer", NO_PROVISIONER));
        volumes.upsert_claim(claim("data", "local", json!({})));
        volumes.upsert_volume(local_pv("pv-n3", "n3", None, "local"));
        assert_eq!(
            run(&plugin, &pod_with(&["data"]), &["n1", "n2", "n3"]).expect("fits"),
            ["n3"]
        );
        // A provisioning class fits every node ...
        volumes.upsert_class(class("lp", "WaitForFirstConsumer", "minik8s.io/local-path"));
        volumes.upsert_claim(claim("data", "lp", json!({})));
        assert_eq!(
            run(&plugin, &pod_with(&["data"]), &["n1", "n2"]).expect("fits"),
            ["n1", "n2"]
        );
        // ... until a node is selected.
        volumes.upsert_claim(claim(
            "data",
            "lp",
            json!({"metadata": {"annotations": {ANN_SELECTED_NODE: "n2"}}}),
        ));
        assert_eq!(
            run(&plugin, &pod_with(&["data"]), &["n1", "n2"]).expect("fits"),
            ["n2"]
        );
    }
}
