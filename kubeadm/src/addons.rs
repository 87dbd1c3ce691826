//! The `addon` phase of `init`: the cluster objects every cluster of ours
//! has, read from the same files the lab applies (`manifests/cluster/`),
//! so a kubeadm cluster and a lab cluster start alike.
//!
//! Upstream's phase deploys CoreDNS and kube-proxy. Our kubelets answer
//! DNS and proxy Services themselves, so what is left is:
//! - `kube-dns.yaml`: the `kube-system/kube-dns` Service, which reserves
//!   the cluster DNS address (the tenth of the service range: its
//!   `clusterIP` is set from `--service-cidr`) and shows users where DNS is;
//! - `ingress.yaml`: the built-in ingress class and the RBAC of the
//!   kubelets' ingress proxy and of the ingress-status controller;
//! - `local-path-storageclass.yaml`: the default StorageClass, served by
//!   the kubelets' local-path provisioner.
//!
//! The lab's other two files bind users only the lab has (its
//! controller-manager and apiserver-kubelet-client certificates); kubeadm's
//! identities get their rights from the bootstrap policy and
//! `kubeadm:cluster-admins`.

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::networking::v1::IngressClass;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use k8s_openapi::api::storage::v1::StorageClass;
use kube::api::ApiResource;
use serde::Deserialize;
use serde_json::Value;

use crate::apiclient;
use crate::config::Config;

/// The files, by name, as built into this binary.
const MANIFESTS: [(&str, &str); 3] = [
    (
        "kube-dns.yaml",
        include_str!("../../manifests/cluster/kube-dns.yaml"),
    ),
    (
        "ingress.yaml",
        include_str!("../../manifests/cluster/ingress.yaml"),
    ),
    (
        "local-path-storageclass.yaml",
        include_str!("../../manifests/cluster/local-path-storageclass.yaml"),
    ),
];

/// The resource of a kind these files hold.
fn resource(kind: &str) -> Option<ApiResource> {
    Some(match kind {
        "Service" => ApiResource::erase::<Service>(&()),
        "IngressClass" => ApiResource::erase::<IngressClass>(&()),
        "ClusterRole" => ApiResource::erase::<ClusterRole>(&()),
        "ClusterRoleBinding" => ApiResource::erase::<ClusterRoleBinding>(&()),
        "StorageClass" => ApiResource::erase::<StorageClass>(&()),
        _ => return None,
    })
}

/// The objects of the files for this cluster (`kind/name` and the object);
/// without a cluster DNS address, no kube-dns Service.
pub fn objects(cfg: &Config) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for (_, text) in MANIFESTS {
        for doc in serde_yaml_ng::Deserializer::from_str(text) {
            let Ok(mut obj) = Value::deserialize(doc) else {
                continue;
            };
            let kind = obj["kind"].as_str().unwrap_or_default().to_string();
            let name = obj["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            if kind == "Service" && name == "kube-dns" {
                let Some(ip) = cfg.dns_ip() else {
                    continue;
                };
                obj["spec"]["clusterIP"] = Value::from(ip.to_string());
            }
            out.push((format!("{kind}/{name}"), obj));
        }
    }
    out
}

/// Applies [`objects`]; the names applied.
pub async fn apply(client: &kube::Client, cfg: &Config) -> Result<Vec<String>, apiclient::Error> {
    let mut applied = Vec::new();
    for (name, obj) in objects(cfg) {
        let Some(ar) = resource(obj["kind"].as_str().unwrap_or_default()) else {
            continue;
        };
        apiclient::apply_as(client, &obj, &ar).await?;
        applied.push(name);
    }
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_object_is_of_a_known_kind_and_dns_follows_the_service_range() {
        let mut cfg = crate::config::tests::defaults();
        cfg.service_cidr = "10.100.0.0/16".into();
        let objs = objects(&cfg);
        assert!(objs.len() >= 5, "{objs:?}");
        for (name, obj) in &objs {
            assert!(
                resource(obj["kind"].as_str().unwrap_or_default()).is_some(),
                "{name}"
            );
        }
        let (_, dns) = objs
            .iter()
            .find(|(n, _)| n == "Service/kube-dns")
            .expect("kube-dns");
        assert_eq!(dns["spec"]["clusterIP"], "10.100.0.10");
        assert!(objs.iter().any(|(n, _)| n == "IngressClass/minik8s"));
        assert!(objs.iter().any(|(n, _)| n == "StorageClass/local-path"));
    }
}
