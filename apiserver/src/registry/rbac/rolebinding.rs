//! RoleBindings and ClusterRoleBindings: grant a role to subjects. The
//! role reference must name a Role or ClusterRole of the RBAC group (a
//! ClusterRoleBinding only a ClusterRole) and can never change; subjects are
//! ServiceAccounts (with a namespace), Users or Groups. User and Group
//! subjects default their API group, as upstream.

use k8s_openapi::api::rbac::v1::{ClusterRoleBinding, RoleBinding};
use serde_json::{json, Value};

use crate::printers::*;
use crate::registry::generic::Typed;
use crate::validation::rules::{field_path, items, one_of, require_nonempty, unchanged};
use crate::validation::{forbidden, not_supported, FieldError, NameRule::PathSegment};

/// The RBAC API group.
pub const GROUP: &str = "rbac.authorization.k8s.io";

/// The RoleBinding strategy.
pub const ROLE_BINDING: Typed<RoleBinding> = Typed::new(COLUMNS, cells)
    .names(PathSegment)
    .defaults(defaults)
    .rules(role_binding_rules)
    .update_rules(update_rules);
/// The ClusterRoleBinding strategy.
pub const CLUSTER_ROLE_BINDING: Typed<ClusterRoleBinding> = Typed::new(COLUMNS, cells)
    .names(PathSegment)
    .defaults(defaults)
    .rules(cluster_role_binding_rules)
    .update_rules(update_rules);

fn defaults(obj: &mut Value) {
    if obj
        .pointer("/roleRef/apiGroup")
        .and_then(Value::as_str)
        .unwrap_or("")
        .is_empty()
    {
        if let Some(r) = obj.get_mut("roleRef").and_then(Value::as_object_mut) {
            r.insert("apiGroup".into(), json!(GROUP));
        }
    }
    let Some(subjects) = obj.get_mut("subjects").and_then(Value::as_array_mut) else {
        return;
    };
    for subject in subjects.iter_mut().filter_map(Value::as_object_mut) {
        let kind = subject.get("kind").and_then(Value::as_str).unwrap_or("");
        let unset = subject
            .get("apiGroup")
            .and_then(Value::as_str)
            .unwrap_or("")
            .is_empty();
        if unset && (kind == "User" || kind == "Group") {
            subject.insert("apiGroup".into(), json!(GROUP));
        }
    }
}

fn role_binding_rules(obj: &Value, errs: &mut Vec<FieldError>) {
    binding_rules(obj, &["Role", "ClusterRole"], false, errs);
}

fn cluster_role_binding_rules(obj: &Value, errs: &mut Vec<FieldError>) {
    binding_rules(obj, &["ClusterRole"], true, errs);
}

fn binding_rules(obj: &Value, kinds: &[&str], cluster: bool, errs: &mut Vec<FieldError>) {
    let group = obj
        .pointer("/roleRef/apiGroup")
        .cloned()
        .unwrap_or(json!(""));
    if group != json!(GROUP) {
        errs.push(not_supported("roleRef.apiGroup", &group, &[GROUP]));
    }
    require_nonempty(obj, "/roleRef/kind", errs);
    one_of(obj, "/roleRef/kind", kinds, errs);
    require_nonempty(obj, "/roleRef/name", errs);
    for (p, subject) in items(obj, "/subjects") {
        require_nonempty(obj, &format!("{p}/name"), errs);
        let kind = subject.get("kind").and_then(Value::as_str).unwrap_or("");
        let api_group = subject
            .get("apiGroup")
            .and_then(Value::as_str)
            .unwrap_or("");
        match kind {
            "ServiceAccount" => {
                if !api_group.is_empty() {
                    errs.push(not_supported(
                        field_path(&format!("{p}/apiGroup")),
                        &json!(api_group),
                        &[""],
                    ));
                }
                if cluster {
                    require_nonempty(obj, &format!("{p}/namespace"), errs);
                }
            }
            "User" | "Group" => {
                if api_group != GROUP {
                    errs.push(not_supported(
                        field_path(&format!("{p}/apiGroup")),
                        &json!(api_group),
                        &[GROUP],
                    ));
                }
            }
            _ => errs.push(not_supported(
                field_path(&format!("{p}/kind")),
                &json!(kind),
                &["ServiceAccount", "User", "Group"],
            )),
        }
    }
}

fn update_rules(new: &Value, old: &Value, errs: &mut Vec<FieldError>) {
    let mut changed = Vec::new();
    unchanged(new, old, &["/roleRef"], &mut changed);
    if !changed.is_empty() {
        errs.push(forbidden("roleRef", "cannot change roleRef"));
    }
}

#[rustfmt::skip]
const COLUMNS: &[Column] = &[
    NAME,
    col("Role", "string", 0, "RoleRef can reference a Role in the current namespace or a ClusterRole in the global namespace."),
    AGE,
    col("Users", "string", 1, "Users in the roleBinding"),
    col("Groups", "string", 1, "Groups in the roleBinding"),
    col("ServiceAccounts", "string", 1, "ServiceAccounts in the roleBinding"),
];

fn cells(obj: &Value) -> Vec<Value> {
    let (mut users, mut groups, mut sas) = (Vec::new(), Vec::new(), Vec::new());
    for subject in arr(obj, "/subjects") {
        let name = s(subject, "/name");
        match s(subject, "/kind") {
            "User" => users.push(name.to_string()),
            "Group" => groups.push(name.to_string()),
            "ServiceAccount" => sas.push(format!("{}/{name}", s(subject, "/namespace"))),
            _ => {}
        }
    }
    vec![
        json!(s(obj, "/metadata/name")),
        json!(format!(
            "{}/{}",
            s(obj, "/roleRef/kind"),
            s(obj, "/roleRef/name")
        )),
        json!(age(obj)),
        json!(users.join(", ")),
        json!(groups.join(", ")),
        json!(sas.join(", ")),
    ]
}
