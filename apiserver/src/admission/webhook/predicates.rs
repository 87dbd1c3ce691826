//! Whether a webhook is called for a request: its `rules` (operation,
//! group, version, resource with subresource, scope), then its
//! `namespaceSelector` and `objectSelector`, then its `matchConditions`
//! (CEL), in upstream's order.
//!
//! `matchPolicy: Equivalent` asks upstream to also match the same objects
//! served under another group or version (a Deployment in `extensions/v1beta1`)
//! and convert the request. Every built-in kind is served in one version
//! here, so only custom resources with several versions could differ; for
//! them the request is matched as sent, as with `Exact`.

use std::collections::BTreeMap;

use apimachinery::labels::Selector;
use cel::{Context, Program, Value as CelValue};
use serde_json::Value;

use super::{Attributes, Operation};
use crate::errors::ApiError;
use crate::ApiServer;

fn strings(v: &Value, key: &str) -> Vec<String> {
    v.get(key)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect()
}

fn listed(list: &[String], want: &str) -> bool {
    list.iter().any(|x| x == "*" || x == want)
}

/// Whether one of the webhook's `rules` names the request.
pub fn rules_match(hook: &Value, attrs: &Attributes<'_>) -> bool {
    hook.get("rules")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|rule| rule_matches(rule, attrs))
}

fn rule_matches(rule: &Value, attrs: &Attributes<'_>) -> bool {
    let r = attrs.resource;
    listed(&strings(rule, "operations"), attrs.operation.as_str())
        && listed(&strings(rule, "apiGroups"), r.group)
        && listed(&strings(rule, "apiVersions"), r.version)
        && resource_matches(&strings(rule, "resources"), r.plural, attrs.subresource)
        && scope_matches(rule, attrs)
}

/// `pods` names the main resource only, `pods/status` one subresource,
/// `pods/*` the resource and all its subresources, `*` every main resource
/// and `*/*` everything.
fn resource_matches(list: &[String], plural: &str, sub: &str) -> bool {
    list.iter().any(|entry| {
        let (res, want_sub) = entry.split_once('/').unwrap_or((entry, ""));
        (res == "*" || res == plural) && (want_sub == "*" || want_sub == sub)
    })
}

/// A Namespace object is cluster-scoped even though its requests carry its
/// own name as their namespace.
fn scope_matches(rule: &Value, attrs: &Attributes<'_>) -> bool {
    let is_namespace = attrs.resource.group.is_empty() && attrs.resource.plural == "namespaces";
    match rule.get("scope").and_then(Value::as_str).unwrap_or("*") {
        "*" => true,
        "Namespaced" => !is_namespace && !attrs.namespace.is_empty(),
        "Cluster" => is_namespace || attrs.namespace.is_empty(),
        _ => false,
    }
}

fn selector(hook: &Value, key: &str) -> Result<Option<Selector>, ApiError> {
    match hook.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(s) if s.as_object().is_some_and(|o| o.is_empty()) => Ok(None),
        Some(s) => Selector::from_label_selector_json(s)
            .map(Some)
            .map_err(|e| ApiError::Internal(format!("Internal error occurred: {e}"))),
    }
}

fn labels_of(obj: Option<&Value>) -> BTreeMap<String, String> {
    obj.and_then(|o| o.pointer("/metadata/labels"))
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

/// The webhook's `namespaceSelector` against the labels of the request's
/// namespace; a Namespace being created or updated is judged by its own
/// new labels. Cluster-scoped objects always match.
pub async fn namespace_matches(
    server: &ApiServer,
    hook: &Value,
    attrs: &Attributes<'_>,
    object: Option<&Value>,
) -> Result<bool, ApiError> {
    let is_namespace = attrs.resource.group.is_empty() && attrs.resource.plural == "namespaces";
    if attrs.namespace.is_empty() && !is_namespace {
        return Ok(true);
    }
    let Some(sel) = selector(hook, "namespaceSelector")? else {
        return Ok(true);
    };
    let labels = if is_namespace
        && attrs.subresource.is_empty()
        && matches!(attrs.operation, Operation::Create | Operation::Update)
    {
        labels_of(object)
    } else {
        let ns = crate::admission::namespace_lifecycle::namespace_target(&attrs.namespace);
        match server.lookup("", "namespaces", "", &attrs.namespace).await {
            Ok(Some(stored)) => labels_of(Some(&*stored.object)),
            Ok(None) => return Err(ApiError::NotFound(ns)),
            Err(e) => return Err(ApiError::from_storage(e, ns)),
        }
    };
    Ok(sel.matches(&labels))
}

/// The webhook's `objectSelector` against the new or the old object's
/// labels (either matching is enough).
pub fn object_matches(
    hook: &Value,
    object: Option<&Value>,
    old: Option<&Value>,
) -> Result<bool, ApiError> {
    let Some(sel) = selector(hook, "objectSelector")? else {
        return Ok(true);
    };
    Ok((object.is_some() && sel.matches(&labels_of(object)))
        || (old.is_some() && sel.matches(&labels_of(old))))
}

/// Why `matchConditions` could not decide.
#[derive(Debug)]
pub struct ConditionError(pub String);

/// Every `matchConditions` expression, with `object`, `oldObject` and
/// `request` bound (null where the request has none): `Ok(false)` as soon
/// as one is false. An expression that fails or is not a bool is an error
/// (its webhook's `failurePolicy` decides what that means), unless another
/// one is false.
pub fn conditions_match(hook: &Value, request: &Value) -> Result<bool, ConditionError> {
    let Some(conditions) = hook.get("matchConditions").and_then(Value::as_array) else {
        return Ok(true);
    };
    if conditions.is_empty() {
        return Ok(true);
    }
    let mut ctx = Context::default();
    for (var, field) in [("object", "object"), ("oldObject", "oldObject")] {
        let v = request.get(field).cloned().unwrap_or(Value::Null);
        ctx.add_variable_from_value(var, crate::apiextensions::cel::json_to_cel(&v));
    }
    ctx.add_variable_from_value("request", crate::apiextensions::cel::json_to_cel(request));
    let mut first_error = None;
    for c in conditions {
        let name = c.get("name").and_then(Value::as_str).unwrap_or("");
        let expr = c.get("expression").and_then(Value::as_str).unwrap_or("");
        let outcome = Program::compile(expr)
            .map_err(|e| e.to_string())
            .and_then(|p| p.execute(&ctx).map_err(|e| e.to_string()));
        match outcome {
            Ok(CelValue::Bool(true)) => {}
            Ok(CelValue::Bool(false)) => return Ok(false),
            Ok(other) => {
                first_error.get_or_insert(format!(
                    "matchCondition {name:?} did not evaluate to a bool: {other:?}"
                ));
            }
            Err(e) => {
                first_error.get_or_insert(format!("matchCondition {name:?}: {e}"));
            }
        }
    }
    match first_error {
        Some(e) => Err(ConditionError(e)),
        None => Ok(true),
    }
}

/// Whether `expression` compiles (a configuration with one that does not is
/// refused).
pub fn compile_error(expression: &str) -> Option<String> {
    Program::compile(expression).err().map(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authentication::UserInfo;
    use serde_json::json;

    fn attrs<'a>(
        user: &'a UserInfo,
        plural: &str,
        sub: &'static str,
        op: Operation,
        ns: &str,
    ) -> Attributes<'a> {
        let resource = apimachinery::resources::RESOURCES
            .iter()
            .find(|r| r.plural == plural)
            .expect("a built-in resource");
        Attributes {
            resource,
            subresource: sub,
            operation: op,
            namespace: ns.into(),
            name: "x".into(),
            user,
            dry_run: false,
            options: Value::Null,
        }
    }

    #[test]
    fn resources_and_subresources_match_as_upstream() {
        let list = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(resource_matches(&list(&["pods"]), "pods", ""));
        assert!(!resource_matches(&list(&["pods"]), "pods", "status"));
        assert!(resource_matches(&list(&["pods/status"]), "pods", "status"));
        assert!(resource_matches(&list(&["pods/*"]), "pods", ""));
        assert!(resource_matches(&list(&["pods/*"]), "pods", "exec"));
        assert!(resource_matches(&list(&["*"]), "configmaps", ""));
        assert!(!resource_matches(&list(&["*"]), "pods", "status"));
        assert!(resource_matches(&list(&["*/*"]), "pods", "status"));
        assert!(resource_matches(
            &list(&["*/status"]),
            "deployments",
            "status"
        ));
        assert!(!resource_matches(&list(&["configmaps"]), "secrets", ""));
    }

    #[test]
    fn rules_check_operation_group_version_and_scope() {
        let user = UserInfo::anonymous();
        let hook = json!({"rules": [{
            "operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"],
            "resources": ["configmaps"], "scope": "Namespaced",
        }]});
        assert!(rules_match(
            &hook,
            &attrs(&user, "configmaps", "", Operation::Create, "a")
        ));
        assert!(!rules_match(
            &hook,
            &attrs(&user, "configmaps", "", Operation::Update, "a")
        ));
        assert!(!rules_match(
            &hook,
            &attrs(&user, "secrets", "", Operation::Create, "a")
        ));
        let cluster = json!({"rules": [{
            "operations": ["*"], "apiGroups": ["*"], "apiVersions": ["*"],
            "resources": ["*"], "scope": "Cluster",
        }]});
        assert!(!rules_match(
            &cluster,
            &attrs(&user, "configmaps", "", Operation::Create, "a")
        ));
        // A namespace's requests carry its name but it is cluster-scoped.
        assert!(rules_match(
            &cluster,
            &attrs(&user, "namespaces", "", Operation::Update, "a")
        ));
        assert!(rules_match(
            &cluster,
            &attrs(&user, "nodes", "", Operation::Delete, "")
        ));
    }

    #[test]
    fn object_selector_matches_new_or_old_labels() {
        let hook = json!({"objectSelector": {"matchLabels": {"a": "b"}}});
        let with = json!({"metadata": {"labels": {"a": "b"}}});
        let without = json!({"metadata": {}});
        assert!(object_matches(&hook, Some(&with), None).unwrap());
        assert!(object_matches(&hook, Some(&without), Some(&with)).unwrap());
        assert!(!object_matches(&hook, Some(&without), None).unwrap());
        let all = json!({"objectSelector": {}});
        assert!(object_matches(&all, Some(&without), None).unwrap());
    }

    #[test]
    fn match_conditions_are_cel_over_the_request() {
        let request = json!({"operation": "CREATE", "object": {"metadata": {"name": "keep"}}, "oldObject": null});
        let hook = |expr: &str| json!({"matchConditions": [{"name": "c", "expression": expr}]});
        assert!(conditions_match(&hook("object.metadata.name == 'keep'"), &request).unwrap());
        assert!(!conditions_match(&hook("object.metadata.name == 'other'"), &request).unwrap());
        assert!(conditions_match(&hook("request.operation == 'CREATE'"), &request).unwrap());
        assert!(conditions_match(&hook("object.nope.deeper"), &request).is_err());
    }
}
