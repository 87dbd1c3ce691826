//! A StatefulSet's PersistentVolumeClaims (upstream's
//! `stateful_pod_control.go` and `stateful_set_utils.go`): each pod gets
//! its own claim per `volumeClaimTemplates` entry, named
//! `<template>-<set>-<ordinal>`, created before the pod and never deleted
//! with it, so a pod that comes back (recreated, or scaled down and up
//! again) finds its own data.
//!
//! - [`claims_for`]: the claims of one ordinal (the template, its name,
//!   the set's namespace, the selector's labels; with
//!   `persistentVolumeClaimRetentionPolicy.whenDeleted: Delete` an owner
//!   reference to the set, so the garbage collector removes them with it);
//! - [`update_storage`]: the pod's volumes named after the templates point
//!   to those claims;
//! - [`ClaimClient`]: the apiserver behind a small trait, with
//!   [`ApiClaimClient`] and, for unit tests, [`FakeClaimClient`].

use std::collections::BTreeMap;
use std::sync::Mutex;

use futures::future::BoxFuture;
use futures::FutureExt;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{
    PersistentVolumeClaim, PersistentVolumeClaimVolumeSource, PodSpec, Volume,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, PostParams};

use crate::machinery::controller_ref;

/// The name of ordinal `i`'s claim from template `template`.
pub fn claim_name(template: &str, set: &str, i: i32) -> String {
    format!("{template}-{set}-{i}")
}

/// The claims ordinal `i`'s pod needs, one per template.
pub fn claims_for(set: &StatefulSet, i: i32) -> Vec<PersistentVolumeClaim> {
    let Some(spec) = set.spec.as_ref() else {
        return Vec::new();
    };
    let name = set.metadata.name.clone().unwrap_or_default();
    let delete_with_set = spec
        .persistent_volume_claim_retention_policy
        .as_ref()
        .and_then(|p| p.when_deleted.as_deref())
        == Some("Delete");
    let selector_labels = spec.selector.match_labels.clone().unwrap_or_default();
    spec.volume_claim_templates
        .iter()
        .flatten()
        .map(|t| {
            let tm = t.metadata.clone();
            let template = tm.name.clone().unwrap_or_default();
            let mut labels = tm.labels.clone().unwrap_or_default();
            labels.extend(selector_labels.clone());
            let owner = delete_with_set.then(|| vec![controller_ref::controller_ref(set)]);
            PersistentVolumeClaim {
                metadata: ObjectMeta {
                    name: Some(claim_name(&template, &name, i)),
                    namespace: set.metadata.namespace.clone(),
                    labels: Some(labels),
                    annotations: tm.annotations.clone(),
                    owner_references: owner,
                    ..Default::default()
                },
                spec: t.spec.clone(),
                status: None,
            }
        })
        .collect()
}

/// Points the pod's volumes at ordinal `i`'s claims: a volume named like a
/// template is replaced, a missing one added (upstream `updateStorage`).
pub fn update_storage(set: &StatefulSet, pod: &mut PodSpec, i: i32) {
    let name = set.metadata.name.clone().unwrap_or_default();
    let templates = set
        .spec
        .as_ref()
        .and_then(|s| s.volume_claim_templates.as_ref());
    let Some(templates) = templates.filter(|t| !t.is_empty()) else {
        return;
    };
    let mut volumes: BTreeMap<String, Volume> = BTreeMap::new();
    let mut order = Vec::new();
    for v in pod.volumes.take().unwrap_or_default() {
        order.push(v.name.clone());
        volumes.insert(v.name.clone(), v);
    }
    for t in templates {
        let template = t.metadata.name.clone().unwrap_or_default();
        if !volumes.contains_key(&template) {
            order.push(template.clone());
        }
        volumes.insert(
            template.clone(),
            Volume {
                name: template.clone(),
                persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                    claim_name: claim_name(&template, &name, i),
                    read_only: Some(false),
                }),
                ..Default::default()
            },
        );
    }
    pod.volumes = Some(order.iter().filter_map(|n| volumes.remove(n)).collect());
}

/// The claims' reads and creates.
pub trait ClaimClient: Send + Sync {
    /// The claim as the apiserver has it (`None` when missing).
    fn get<'a>(
        &'a self,
        namespace: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, kube::Result<Option<PersistentVolumeClaim>>>;
    /// Creates a claim.
    fn create<'a>(&'a self, claim: &'a PersistentVolumeClaim) -> BoxFuture<'a, kube::Result<()>>;
}

/// [`ClaimClient`] over the apiserver.
pub struct ApiClaimClient {
    client: kube::Client,
}

impl ApiClaimClient {
    /// Reads and creates through `client`.
    pub fn new(client: kube::Client) -> ApiClaimClient {
        ApiClaimClient { client }
    }
}

impl ClaimClient for ApiClaimClient {
    fn get<'a>(
        &'a self,
        namespace: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, kube::Result<Option<PersistentVolumeClaim>>> {
        async move {
            Api::<PersistentVolumeClaim>::namespaced(self.client.clone(), namespace)
                .get_opt(name)
                .await
        }
        .boxed()
    }

    fn create<'a>(&'a self, claim: &'a PersistentVolumeClaim) -> BoxFuture<'a, kube::Result<()>> {
        async move {
            let ns = claim.metadata.namespace.as_deref().unwrap_or_default();
            Api::<PersistentVolumeClaim>::namespaced(self.client.clone(), ns)
                .create(&PostParams::default(), claim)
                .await
                .map(|_| ())
        }
        .boxed()
    }
}

/// A [`ClaimClient`] over an in-memory map that records creates.
#[derive(Default)]
pub struct FakeClaimClient {
    /// The claims, by `ns/name`.
    pub claims: Mutex<BTreeMap<String, PersistentVolumeClaim>>,
    /// The names created, in order.
    pub created: Mutex<Vec<String>>,
}

impl ClaimClient for FakeClaimClient {
    fn get<'a>(
        &'a self,
        namespace: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, kube::Result<Option<PersistentVolumeClaim>>> {
        let found = self
            .claims
            .lock()
            .ok()
            .and_then(|m| m.get(&format!("{namespace}/{name}")).cloned());
        async move { Ok(found) }.boxed()
    }

    fn create<'a>(&'a self, claim: &'a PersistentVolumeClaim) -> BoxFuture<'a, kube::Result<()>> {
        let key = format!(
            "{}/{}",
            claim.metadata.namespace.as_deref().unwrap_or_default(),
            claim.metadata.name.as_deref().unwrap_or_default()
        );
        if let Ok(mut m) = self.claims.lock() {
            m.insert(key.clone(), claim.clone());
        }
        if let Ok(mut c) = self.created.lock() {
            c.push(key);
        }
        async { Ok(()) }.boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn set(policy: serde_json::Value) -> StatefulSet {
        serde_json::from_value(json!({
            "metadata": {"name": "db", "namespace": "ns", "uid": "u"},
            "spec": {"selector": {"matchLabels": {"app": "db"}},
                "persistentVolumeClaimRetentionPolicy": policy,
                "template": {"spec": {"containers": [], "volumes": [
                    {"name": "data", "emptyDir": {}}, {"name": "conf", "emptyDir": {}}]}},
                "volumeClaimTemplates": [
                    {"metadata": {"name": "data", "labels": {"tier": "db"}},
                     "spec": {"accessModes": ["ReadWriteOnce"],
                              "resources": {"requests": {"storage": "1Gi"}}}},
                    {"metadata": {"name": "logs"},
                     "spec": {"accessModes": ["ReadWriteOnce"],
                              "resources": {"requests": {"storage": "1Gi"}}}}]}
        }))
        .expect("set")
    }

    #[test]
    fn each_ordinal_gets_its_own_claims() {
        let claims = claims_for(&set(json!({})), 1);
        let names: Vec<_> = claims
            .iter()
            .map(|c| c.metadata.name.clone().unwrap_or_default())
            .collect();
        assert_eq!(names, ["data-db-1", "logs-db-1"]);
        let labels = claims[0].metadata.labels.clone().unwrap_or_default();
        assert_eq!(labels.get("app").map(String::as_str), Some("db"));
        assert_eq!(labels.get("tier").map(String::as_str), Some("db"));
        assert!(claims[0].metadata.owner_references.is_none());
        let owned = claims_for(&set(json!({"whenDeleted": "Delete"})), 0);
        assert_eq!(
            owned[0]
                .metadata
                .owner_references
                .as_ref()
                .map(|o| o[0].uid.as_str()),
            Some("u")
        );
    }

    #[test]
    fn template_volumes_point_to_the_claims() {
        let s = set(json!({}));
        let mut spec = s
            .spec
            .as_ref()
            .and_then(|sp| sp.template.spec.clone())
            .expect("spec");
        update_storage(&s, &mut spec, 2);
        let vols: Vec<(String, Option<String>)> = spec
            .volumes
            .unwrap_or_default()
            .into_iter()
            .map(|v| (v.name, v.persistent_volume_claim.map(|c| c.claim_name)))
            .collect();
        assert_eq!(
            vols,
            [
                ("data".to_string(), Some("data-db-2".to_string())),
                ("conf".to_string(), None),
                ("logs".to_string(), Some("logs-db-2".to_string())),
            ]
        );
    }
}
