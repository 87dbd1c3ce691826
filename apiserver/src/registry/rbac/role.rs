//! Roles and ClusterRoles: lists of policy rules. Every rule names verbs;
//! a resource rule names API groups and resources, a non-resource rule URLs
//! (only in a ClusterRole), never both. An aggregated ClusterRole needs at
//! least one selector. Printed like upstream's default table.

use k8s_openapi::api::rbac::v1::{ClusterRole, Role};
use serde_json::Value;

use crate::printers::*;
use crate::registry::generic::Typed;
use crate::validation::rules::{field_path, items, require_nonempty};
use crate::validation::{invalid, required, FieldError, NameRule::PathSegment};

/// The Role strategy.
pub const ROLE: Typed<Role> = Typed::new(CREATED_AT, created_at_cells)
    .names(PathSegment)
    .rules(role_rules);
/// The ClusterRole strategy.
pub const CLUSTER_ROLE: Typed<ClusterRole> = Typed::new(CREATED_AT, created_at_cells)
    .names(PathSegment)
    .rules(cluster_role_rules);

fn role_rules(obj: &Value, errs: &mut Vec<FieldError>) {
    policy_rules(obj, false, errs);
}

fn cluster_role_rules(obj: &Value, errs: &mut Vec<FieldError>) {
    policy_rules(obj, true, errs);
    if obj
        .pointer("/aggregationRule")
        .is_some_and(|a| !a.is_null())
    {
        require_nonempty(obj, "/aggregationRule/clusterRoleSelectors", errs);
    }
}

fn count(rule: &Value, field: &str) -> usize {
    rule.get(field)
        .and_then(Value::as_array)
        .map_or(0, Vec::len)
}

/// Upstream's `ValidatePolicyRule` for each of `rules[]`.
fn policy_rules(obj: &Value, allow_urls: bool, errs: &mut Vec<FieldError>) {
    for (p, rule) in items(obj, "/rules") {
        require_nonempty(obj, &format!("{p}/verbs"), errs);
        let urls = count(rule, "nonResourceURLs");
        if urls > 0 {
            if !allow_urls {
                errs.push(invalid(
                    field_path(&format!("{p}/nonResourceURLs")),
                    &rule["nonResourceURLs"],
                    "namespaced rules cannot apply to non-resource URLs",
                ));
            }
            if count(rule, "apiGroups") > 0
                || count(rule, "resources") > 0
                || count(rule, "resourceNames") > 0
            {
                errs.push(invalid(
                    field_path(&format!("{p}/nonResourceURLs")),
                    &rule["nonResourceURLs"],
                    "rules cannot apply to both regular resources and non-resource URLs",
                ));
            }
            continue;
        }
        if count(rule, "apiGroups") == 0 {
            errs.push(FieldError {
                message: "Required value: resource rules must supply at least one api group".into(),
                ..required(field_path(&format!("{p}/apiGroups")))
            });
        }
        if count(rule, "resources") == 0 {
            errs.push(FieldError {
                message: "Required value: resource rules must supply at least one resource".into(),
                ..required(field_path(&format!("{p}/resources")))
            });
        }
    }
}
