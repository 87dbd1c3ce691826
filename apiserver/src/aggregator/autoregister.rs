//! Local APIServices: one per group/version this server serves itself
//! (`v1.`, `v1.apps`, ..., and the versions of established
//! CustomResourceDefinitions), as upstream's autoregister and CRD
//! registration controllers make them, so `kubectl get apiservices` lists
//! every group/version with `Local` as its service.
//!
//! Built-in group/versions get upstream's priorities (the table below) and
//! the label `kube-aggregator.kubernetes.io/automanaged: onstart`; one
//! without a priority there gets no APIService, as upstream. CRD
//! group/versions get 1000 / 100 and `automanaged: true`, and are removed
//! when no CRD serves them any more. An APIService someone changed (say,
//! pointed at a Service) is left as it is.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use crate::storage::StorageError;
use crate::ApiServer;

/// The label on the APIServices this controller manages.
pub const AUTOMANAGED: &str = "kube-aggregator.kubernetes.io/automanaged";

/// How often the served group/versions are compared with the APIServices.
const PERIOD: Duration = Duration::from_secs(2);

/// Upstream's `groupPriorityMinimum` and `versionPriority` of the built-in
/// group/versions.
#[rustfmt::skip]
const PRIORITIES: &[(&str, &str, i64, i64)] = &[
    ("", "v1", 18000, 1),
    ("admissionregistration.k8s.io", "v1", 16700, 15),
    ("admissionregistration.k8s.io", "v1alpha1", 16700, 9),
    ("admissionregistration.k8s.io", "v1beta1", 16700, 12),
    ("apiextensions.k8s.io", "v1", 16700, 15),
    ("apps", "v1", 17800, 15),
    ("authentication.k8s.io", "v1", 17700, 15),
    ("authentication.k8s.io", "v1alpha1", 17700, 1),
    ("authentication.k8s.io", "v1beta1", 17700, 9),
    ("authorization.k8s.io", "v1", 17600, 15),
    ("autoscaling", "v1", 17500, 15),
    ("autoscaling", "v2", 17500, 30),
    ("autoscaling", "v2beta1", 17500, 9),
    ("autoscaling", "v2beta2", 17500, 1),
    ("batch", "v1", 17400, 15),
    ("batch", "v1beta1", 17400, 9),
    ("batch", "v2alpha1", 17400, 9),
    ("certificates.k8s.io", "v1", 17300, 15),
    ("certificates.k8s.io", "v1alpha1", 17300, 1),
    ("certificates.k8s.io", "v1beta1", 17300, 9),
    ("coordination.k8s.io", "v1", 16500, 15),
    ("coordination.k8s.io", "v1alpha2", 16500, 12),
    ("coordination.k8s.io", "v1beta1", 16500, 13),
    ("discovery.k8s.io", "v1", 16200, 15),
    ("discovery.k8s.io", "v1beta1", 16200, 12),
    ("events.k8s.io", "v1", 17750, 15),
    ("events.k8s.io", "v1beta1", 17750, 5),
    ("flowcontrol.apiserver.k8s.io", "v1", 16100, 21),
    ("flowcontrol.apiserver.k8s.io", "v1alpha1", 16100, 9),
    ("flowcontrol.apiserver.k8s.io", "v1beta1", 16100, 12),
    ("flowcontrol.apiserver.k8s.io", "v1beta2", 16100, 15),
    ("flowcontrol.apiserver.k8s.io", "v1beta3", 16100, 18),
    ("internal.apiserver.k8s.io", "v1alpha1", 16000, 9),
    ("networking.k8s.io", "v1", 17200, 15),
    ("networking.k8s.io", "v1beta1", 17200, 9),
    ("node.k8s.io", "v1", 16300, 15),
    ("node.k8s.io", "v1alpha1", 16300, 1),
    ("node.k8s.io", "v1beta1", 16300, 9),
    ("policy", "v1", 17100, 15),
    ("policy", "v1beta1", 17100, 9),
    ("rbac.authorization.k8s.io", "v1", 17000, 15),
    ("resource.k8s.io", "v1", 16200, 21),
    ("resource.k8s.io", "v1alpha3", 15900, 9),
    ("resource.k8s.io", "v1alpha3", 16200, 1),
    ("resource.k8s.io", "v1beta1", 16200, 9),
    ("resource.k8s.io", "v1beta2", 16200, 15),
    ("scheduling.k8s.io", "v1", 16600, 15),
    ("scheduling.k8s.io", "v1alpha2", 16600, 2),
    ("storage.k8s.io", "v1", 16800, 15),
    ("storage.k8s.io", "v1alpha1", 16800, 1),
    ("storage.k8s.io", "v1beta1", 16800, 9),
    ("storagemigration.k8s.io", "v1beta1", 15800, 9),
];

/// The priorities of a built-in group/version, if upstream has any.
pub fn priority(group: &str, version: &str) -> Option<(i64, i64)> {
    PRIORITIES
        .iter()
        .find(|(g, v, _, _)| *g == group && *v == version)
        .map(|(_, _, gp, vp)| (*gp, *vp))
}

/// Upstream's CRD registration priorities: below every built-in group,
/// versions ordered by Kubernetes version order among equals.
const CRD_PRIORITY: (i64, i64) = (1000, 100);

/// The APIService of a local group/version.
fn local(group: &str, version: &str, priorities: (i64, i64), managed: &str) -> Value {
    json!({
        "apiVersion": "apiregistration.k8s.io/v1",
        "kind": "APIService",
        "metadata": {"name": format!("{version}.{group}"), "labels": {AUTOMANAGED: managed}},
        "spec": {
            "group": group,
            "version": version,
            "groupPriorityMinimum": priorities.0,
            "versionPriority": priorities.1,
        },
    })
}

/// The APIServices that should exist now.
fn desired() -> Vec<Value> {
    let builtin = apimachinery::resources::groups();
    let mut out = Vec::new();
    for (group, versions) in crate::apiextensions::groups() {
        let is_builtin = builtin.iter().any(|(g, _)| *g == group);
        for version in versions {
            let known = builtin
                .iter()
                .any(|(g, vs)| *g == group && vs.contains(&version));
            if known {
                if let Some(p) = priority(group, version) {
                    out.push(local(group, version, p, "onstart"));
                }
            } else if !is_builtin || priority(group, version).is_none() {
                out.push(local(group, version, CRD_PRIORITY, "true"));
            }
        }
    }
    out
}

/// Runs until the server stops.
pub async fn run(server: Arc<ApiServer>) {
    super::periodically(server, PERIOD, |s| async move { sync(&s).await }).await;
}

async fn sync(server: &ApiServer) {
    let Some(res) = apimachinery::resources::find("apiregistration.k8s.io", "v1", "apiservices")
    else {
        return;
    };
    let Ok(existing) = server
        .list_cached("apiregistration.k8s.io", "apiservices", None)
        .await
    else {
        return;
    };
    let name_of = |o: &Value| o["metadata"]["name"].as_str().unwrap_or("").to_string();
    let want = desired();
    for obj in &want {
        let name = name_of(obj);
        if existing.iter().any(|c| name_of(&c.object) == name) {
            continue;
        }
        let mut obj = obj.clone();
        crate::registry::prepare_for_create(res, &mut obj, &uuid::Uuid::new_v4().to_string());
        let key = server.store.key(res.storage_name(), None, &name);
        match server.store.create(&key, &obj, None).await {
            Ok(_) => tracing::info!(apiservice = %name, "registered a local APIService"),
            Err(StorageError::AlreadyExists) => {}
            Err(e) => {
                tracing::debug!(apiservice = %name, error = %e, "registering a local APIService")
            }
        }
    }
    // A CRD's APIService goes with the last CRD serving its group/version.
    for cached in &existing {
        let obj = &*cached.object;
        let managed = obj
            .pointer("/metadata/labels")
            .and_then(|l| l.get(AUTOMANAGED))
            .and_then(Value::as_str);
        let name = name_of(obj);
        if managed != Some("true") || want.iter().any(|w| name_of(w) == name) {
            continue;
        }
        if super::ServiceRef::of(obj).is_some() {
            continue;
        }
        let key = server.store.key(res.storage_name(), None, &name);
        if server.store.delete(&key, cached.mod_revision).await.is_ok() {
            tracing::info!(apiservice = %name, "removed the APIService of a group/version no CRD serves");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_group_versions_get_upstreams_priorities() {
        assert_eq!(priority("", "v1"), Some((18000, 1)));
        assert_eq!(priority("apps", "v1"), Some((17800, 15)));
        let all = desired();
        let core = all.iter().find(|o| o["metadata"]["name"] == "v1.");
        assert_eq!(core.map(|o| o["spec"]["group"].clone()), Some(json!("")));
        assert!(all.iter().any(|o| o["metadata"]["name"] == "v1.apps"));
        assert!(all.iter().all(|o| o["spec"]["service"].is_null()));
    }
}
