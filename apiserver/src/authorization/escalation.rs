//! Privilege escalation prevention on RBAC writes (upstream's rule): with
//! RBAC on, a user may write a Role or ClusterRole only with rules they
//! already hold (or with the `escalate` verb on it), and a binding only to
//! a role whose rules they already hold (or with the `bind` verb on that
//! role). Otherwise anyone allowed to edit roles could grant themselves
//! everything.
//!
//! Called by the create and update paths of the generic handlers with the
//! object about to be stored; a no-op for every other resource.

use apimachinery::resources::ResourceInfo;
use k8s_openapi::api::rbac::v1::{PolicyRule, RoleRef};
use serde_json::Value;

use super::rbac::{rule_allows, GROUP};
use super::{Attributes, Authorizer, Mode};
use crate::authentication::UserInfo;
use crate::errors::{ApiError, Target};

/// The atoms of a rule: one question per verb, group, resource, name (or
/// per verb and URL).
fn atoms(user: &UserInfo, namespace: &str, rule: &PolicyRule) -> Vec<Attributes> {
    let mut out = Vec::new();
    for verb in &rule.verbs {
        for url in rule.non_resource_urls.as_deref().unwrap_or_default() {
            out.push(Attributes::path(user.clone(), verb, url));
        }
        for group in rule.api_groups.as_deref().unwrap_or_default() {
            for resource in rule.resources.as_deref().unwrap_or_default() {
                let (resource, sub) = resource.split_once('/').unwrap_or((resource, ""));
                let names = rule.resource_names.as_deref().unwrap_or_default();
                let names: Vec<&str> = if names.is_empty() {
                    vec![""]
                } else {
                    names.iter().map(String::as_str).collect()
                };
                for name in names {
                    let mut a =
                        Attributes::resource(user.clone(), verb, group, resource, namespace, name);
                    a.subresource = sub.into();
                    out.push(a);
                }
            }
        }
    }
    out
}

/// The rules of `wanted` that `held` does not cover.
pub fn not_covered(
    held: &[PolicyRule],
    wanted: &[PolicyRule],
    user: &UserInfo,
    namespace: &str,
) -> Vec<PolicyRule> {
    wanted
        .iter()
        .filter(|rule| {
            atoms(user, namespace, rule)
                .iter()
                .any(|atom| !held.iter().any(|h| rule_allows(h, atom)))
        })
        .cloned()
        .collect()
}

fn describe(rule: &PolicyRule) -> String {
    let list = |v: &Option<Vec<String>>| {
        v.as_deref()
            .unwrap_or_default()
            .iter()
            .map(|s| format!("{s:?}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut parts = Vec::new();
    if rule
        .non_resource_urls
        .as_ref()
        .is_some_and(|u| !u.is_empty())
    {
        parts.push(format!(
            "NonResourceURLs:[{}]",
            list(&rule.non_resource_urls)
        ));
    } else {
        parts.push(format!("APIGroups:[{}]", list(&rule.api_groups)));
        parts.push(format!("Resources:[{}]", list(&rule.resources)));
        if rule.resource_names.as_ref().is_some_and(|n| !n.is_empty()) {
            parts.push(format!("ResourceNames:[{}]", list(&rule.resource_names)));
        }
    }
    parts.push(format!("Verbs:[{}]", list(&Some(rule.verbs.clone()))));
    format!("{{{}}}", parts.join(", "))
}

/// The fields whose change can grant something: a role's rules, a
/// binding's role and subjects.
const GRANTING: &[&str] = &["rules", "aggregationRule", "roleRef", "subjects"];

/// Checks a Role, ClusterRole, RoleBinding or ClusterRoleBinding about to
/// be written by `user` (`old`: the stored object of an update); `Ok` for
/// anything else, when RBAC is off, or for an update that grants nothing
/// new (labels, finalizers the garbage collector removes, ...).
pub fn admit(
    authorizer: &Authorizer,
    user: &UserInfo,
    resource: &ResourceInfo,
    namespace: &str,
    obj: &Value,
    old: Option<&Value>,
) -> Result<(), ApiError> {
    if resource.group != GROUP || !authorizer.has(Mode::Rbac) {
        return Ok(());
    }
    if let Some(old) = old {
        if GRANTING.iter().all(|f| obj.get(*f) == old.get(*f)) {
            return Ok(());
        }
    }
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let forbidden = |message: String| {
        ApiError::Forbidden(
            Target {
                group: GROUP.into(),
                resource: resource.plural.into(),
                name: name.into(),
            },
            format!(
                "{}.{GROUP} {name:?} is forbidden: {message}",
                resource.plural
            ),
        )
    };
    // A cluster-wide object is checked against cluster-wide rules only.
    let scope = if resource.namespaced { namespace } else { "" };
    let allowed = |verb: &str, plural: &str, target: &str| {
        authorizer
            .authorize(&Attributes::resource(
                user.clone(),
                verb,
                GROUP,
                plural,
                scope,
                target,
            ))
            .allowed
    };
    let wanted: Vec<PolicyRule> = match resource.plural {
        "roles" | "clusterroles" => {
            if allowed("escalate", resource.plural, name) {
                return Ok(());
            }
            serde_json::from_value(obj.get("rules").cloned().unwrap_or(Value::Null))
                .unwrap_or_default()
        }
        "rolebindings" | "clusterrolebindings" => {
            let Ok(role_ref) = serde_json::from_value::<RoleRef>(
                obj.get("roleRef").cloned().unwrap_or(Value::Null),
            ) else {
                // Validation reports a missing roleRef.
                return Ok(());
            };
            let plural = if role_ref.kind == "Role" {
                "roles"
            } else {
                "clusterroles"
            };
            if allowed("bind", plural, &role_ref.name) {
                return Ok(());
            }
            authorizer.rbac.rules_of_ref(&role_ref, scope)
        }
        _ => return Ok(()),
    };
    if user
        .groups
        .iter()
        .any(|g| g == crate::authentication::MASTERS)
    {
        return Ok(());
    }
    let held = authorizer.rbac.rules_of(user, scope);
    let missing = not_covered(&held, &wanted, user, scope);
    if missing.is_empty() {
        return Ok(());
    }
    let lines: Vec<String> = missing.iter().map(describe).collect();
    // Go's `%q` of a list: `["a" "b"]`, as upstream prints the groups.
    let groups: Vec<String> = user.groups.iter().map(|g| format!("{g:?}")).collect();
    Err(forbidden(format!(
        "user {:?} (groups=[{}]) is attempting to grant RBAC permissions not currently held:\n{}",
        user.username,
        groups.join(" "),
        lines.join("\n")
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rules(v: Value) -> Vec<PolicyRule> {
        serde_json::from_value(v).expect("rules")
    }

    #[test]
    fn held_rules_cover_narrower_ones_only() {
        let user = UserInfo::authenticated("jane", vec![]);
        let held = rules(
            json!([{"verbs": ["get", "list"], "apiGroups": [""], "resources": ["pods", "pods/log"]}]),
        );
        let narrower = rules(
            json!([{"verbs": ["get"], "apiGroups": [""], "resources": ["pods"], "resourceNames": ["web"]}]),
        );
        assert!(not_covered(&held, &narrower, &user, "dev").is_empty());
        let wider = rules(json!([{"verbs": ["*"], "apiGroups": [""], "resources": ["pods"]}]));
        assert_eq!(not_covered(&held, &wider, &user, "dev").len(), 1);
        let other = rules(json!([{"verbs": ["get"], "apiGroups": [""], "resources": ["secrets"]}]));
        assert_eq!(not_covered(&held, &other, &user, "dev").len(), 1);
        let all = rules(json!([{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}]));
        assert!(not_covered(&all, &wider, &user, "dev").is_empty());
    }

    #[test]
    fn a_refusal_lists_the_missing_rules() {
        let r = rules(json!([{"verbs": ["get"], "apiGroups": [""], "resources": ["secrets"]}]));
        assert_eq!(
            describe(&r[0]),
            r#"{APIGroups:[""], Resources:["secrets"], Verbs:["get"]}"#
        );
    }
}
