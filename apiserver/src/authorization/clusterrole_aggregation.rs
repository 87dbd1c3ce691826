//! The ClusterRole aggregation controller: a ClusterRole with an
//! `aggregationRule` gets, as its `rules`, every rule of the ClusterRoles
//! its selectors match (upstream's `clusterrole-aggregation` controller).
//! That is how `admin`, `edit` and `view` grow when a CRD's author labels a
//! role `rbac.authorization.k8s.io/aggregate-to-view: "true"`.
//!
//! It runs inside the apiserver on the RBAC state ([`super::rbac`]), woken
//! whenever a ClusterRole changes, and writes only when the rules differ
//! (its own write wakes it once more and then changes nothing).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use apimachinery::labels::Selector;
use k8s_openapi::api::rbac::v1::{ClusterRole, PolicyRule};
use serde_json::{json, Value};

use super::rbac::GROUP;
use crate::storage::StorageError;
use crate::ApiServer;

/// The rules each aggregated ClusterRole should have, by name.
pub fn desired_rules(roles: &[ClusterRole]) -> BTreeMap<String, Vec<PolicyRule>> {
    let mut out = BTreeMap::new();
    let mut sorted: Vec<&ClusterRole> = roles.iter().collect();
    // Upstream's order: source roles by name, so the result is stable.
    sorted.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    for role in &sorted {
        let Some(rule) = &role.aggregation_rule else {
            continue;
        };
        let selectors: Vec<Selector> = rule
            .cluster_role_selectors
            .as_deref()
            .unwrap_or_default()
            .iter()
            .filter_map(|s| serde_json::to_value(s).ok())
            .filter_map(|s| Selector::from_label_selector_json(&s).ok())
            .collect();
        let mut rules: Vec<PolicyRule> = Vec::new();
        for source in &sorted {
            if source.metadata.name == role.metadata.name {
                continue;
            }
            let labels = source.metadata.labels.clone().unwrap_or_default();
            if !selectors.iter().any(|s| s.matches(&labels)) {
                continue;
            }
            for r in source.rules.as_deref().unwrap_or_default() {
                if !rules.contains(r) {
                    rules.push(r.clone());
                }
            }
        }
        out.insert(role.metadata.name.clone().unwrap_or_default(), rules);
    }
    out
}

/// Runs the controller until the server stops.
pub async fn run(server: Arc<ApiServer>) {
    let rbac = Arc::clone(&server.authorizer.rbac);
    let Some(res) = apimachinery::resources::find(GROUP, "v1", "clusterroles") else {
        return;
    };
    let mut stopping = server.stopping.subscribe();
    loop {
        tokio::select! {
            _ = rbac.cluster_roles_changed.notified() => {}
            _ = stopping.changed() => return,
        }
        // Let a burst of changes (the bootstrap policy) settle first.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let roles = rbac.cluster_roles();
        for (name, rules) in desired_rules(&roles) {
            let current = roles
                .iter()
                .find(|r| r.metadata.name.as_deref() == Some(name.as_str()))
                .and_then(|r| r.rules.clone())
                .unwrap_or_default();
            if current == rules {
                continue;
            }
            let key = server.store.key(res.storage_name(), None, &name);
            let Ok(Some(stored)) = server.store.get(&key).await else {
                continue;
            };
            let mut obj = stored.object;
            obj["rules"] = json!(rules);
            match server.store.update(&key, &obj, stored.mod_revision).await {
                Ok(_) => {
                    tracing::info!(clusterrole = %name, rules = rules.len(), "aggregated rules")
                }
                // Changed meanwhile: the change wakes us again.
                Err(StorageError::Conflict) => rbac.cluster_roles_changed.notify_one(),
                Err(e) => {
                    tracing::debug!(clusterrole = %name, error = %e, "aggregation write failed; retrying");
                    rbac.cluster_roles_changed.notify_one();
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
    }
}

/// Decodes a ClusterRole (for tests and callers holding JSON).
pub fn parse(obj: &Value) -> Option<ClusterRole> {
    serde_json::from_value(obj.clone()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aggregated_roles_collect_the_rules_of_matching_roles() {
        let roles: Vec<ClusterRole> = [
            json!({"metadata": {"name": "view"}, "aggregationRule": {"clusterRoleSelectors": [
                {"matchLabels": {"rbac.authorization.k8s.io/aggregate-to-view": "true"}}]}}),
            json!({"metadata": {"name": "a", "labels": {"rbac.authorization.k8s.io/aggregate-to-view": "true"}},
                   "rules": [{"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}]}),
            json!({"metadata": {"name": "b", "labels": {"rbac.authorization.k8s.io/aggregate-to-view": "true"}},
                   "rules": [{"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]},
                             {"verbs": ["list"], "apiGroups": ["x.io"], "resources": ["widgets"]}]}),
            json!({"metadata": {"name": "c"}, "rules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}]}),
        ]
        .iter()
        .filter_map(parse)
        .collect();
        let desired = desired_rules(&roles);
        let view = &desired["view"];
        assert_eq!(view.len(), 2, "duplicates once, unlabelled roles never");
        assert_eq!(
            view[1].resources.as_deref(),
            Some(&["widgets".to_string()][..])
        );
        assert_eq!(desired.len(), 1);
    }
}
