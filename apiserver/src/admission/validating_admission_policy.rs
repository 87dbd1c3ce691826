//! ValidatingAdmissionPolicies: CEL rules the cluster's administrators
//! write as objects, applied by ValidatingAdmissionPolicyBindings, checked
//! in the validating phase of admission just before the validating webhooks
//! ([`crate::admission::webhook`]), as upstream's plug-in is.
//!
//! For each binding whose policy exists: the policy's `matchConstraints`
//! (resource rules, minus `excludeResourceRules`, `resourceNames`, the
//! namespace and object selectors, the same predicates as webhooks'), then
//! the binding's `matchResources` when it has some, then the policy's
//! `matchConditions`. Each of the policy's `validations` is then evaluated
//! with `object`, `oldObject`, `request`, `params` (the object the
//! binding's `paramRef` names, of the policy's `paramKind`),
//! `namespaceObject` and `variables` (the policy's `variables`, in order).
//! A false expression fails with its `message` (or `messageExpression`, or
//! `failed expression: <expr>`) and `reason` (`Invalid` by default); an
//! expression that cannot be evaluated fails only with `failurePolicy:
//! Fail`. What a failure does is the binding's `validationActions`: `Deny`
//! refuses the request (`ValidatingAdmissionPolicy '<p>' with binding '<b>'
//! denied request: <message>`), `Warn` sends a warning, `Audit` has no
//! effect here (there is no audit log).

use cel::{Context, Program, Value as CelValue};
use http::StatusCode;
use serde_json::{json, Value};

use super::webhook::{predicates, Attributes, Kind};
use crate::errors::{ApiError, Target};
use crate::ApiServer;

/// The plug-in's name (for `--disable-admission-plugins`).
pub const PLUGIN_NAME: &str = "ValidatingAdmissionPolicy";

/// One failed validation.
struct Failure {
    message: String,
    reason: String,
}

fn text<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

/// Checks the request against every binding that applies; `warnings` gets
/// the `Warn` actions' messages.
pub async fn validate(
    server: &ApiServer,
    attrs: &Attributes<'_>,
    object: Option<&Value>,
    old: Option<&Value>,
    warnings: &mut Vec<String>,
) -> Result<(), ApiError> {
    if super::webhook::exempt(attrs.resource) || server.config.admission.disabled(PLUGIN_NAME) {
        return Ok(());
    }
    let bindings = server
        .webhooks
        .list(server, Kind::ValidatingPolicyBinding)
        .await?;
    if bindings.is_empty() {
        return Ok(());
    }
    let policies = server.webhooks.list(server, Kind::ValidatingPolicy).await?;
    let mut request = None;
    for binding in bindings.iter() {
        let policy_name = text(binding, "/spec/policyName");
        let Some(policy) = policies
            .iter()
            .find(|p| text(p, "/metadata/name") == policy_name)
        else {
            continue;
        };
        let spec = policy.get("spec").cloned().unwrap_or(Value::Null);
        if !resources_match(
            server,
            spec.get("matchConstraints"),
            true,
            attrs,
            object,
            old,
        )
        .await?
        {
            continue;
        }
        if let Some(mr) = binding
            .pointer("/spec/matchResources")
            .filter(|m| m.is_object())
        {
            if !resources_match(server, Some(mr), false, attrs, object, old).await? {
                continue;
            }
        }
        let request = request.get_or_insert_with(|| {
            super::webhook::review::request(&uuid::Uuid::new_v4().to_string(), attrs, object, old)
        });
        let fail_closed = text(&spec, "/failurePolicy") != "Ignore";
        let failures = match evaluate(server, &spec, binding, attrs, request).await {
            Ok(f) => f,
            Err(message) if fail_closed => vec![Failure {
                message,
                reason: "Invalid".into(),
            }],
            Err(_) => Vec::new(),
        };
        let binding_name = text(binding, "/metadata/name");
        let actions: Vec<&str> = binding
            .pointer("/spec/validationActions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        for f in failures {
            if actions.contains(&"Warn") {
                warnings.push(format!(
                    "Validation failed for ValidatingAdmissionPolicy '{policy_name}' with binding '{binding_name}': {}",
                    f.message
                ));
            }
            if actions.contains(&"Deny") {
                return Err(denied(attrs, policy_name, binding_name, f));
            }
        }
    }
    Ok(())
}

/// A denial as upstream's: a Forbidden message with the failure's reason
/// and the code that goes with it.
fn denied(attrs: &Attributes<'_>, policy: &str, binding: &str, f: Failure) -> ApiError {
    let target = Target::new(attrs.resource, attrs.name.clone());
    let resource = if target.group.is_empty() {
        target.resource.clone()
    } else {
        format!("{}.{}", target.resource, target.group)
    };
    let code = match f.reason.as_str() {
        "Forbidden" => StatusCode::FORBIDDEN,
        "Invalid" => StatusCode::UNPROCESSABLE_ENTITY,
        "RequestEntityTooLarge" => StatusCode::PAYLOAD_TOO_LARGE,
        _ => StatusCode::BAD_REQUEST,
    };
    ApiError::Rejected {
        code,
        reason: f.reason,
        message: format!(
            "{resource} {:?} is forbidden: ValidatingAdmissionPolicy '{policy}' with binding '{binding}' denied request: {}",
            attrs.name, f.message
        ),
    }
}

/// `matchConstraints` or `matchResources`: rules (and exclusions), names
/// and selectors. No constraints match nothing, as upstream; a binding's
/// `matchResources` without `resourceRules` (`rules_required` false) leaves
/// the resources to its policy.
async fn resources_match(
    server: &ApiServer,
    constraints: Option<&Value>,
    rules_required: bool,
    attrs: &Attributes<'_>,
    object: Option<&Value>,
    old: Option<&Value>,
) -> Result<bool, ApiError> {
    let Some(c) = constraints.filter(|c| c.is_object()) else {
        return Ok(false);
    };
    let rules = |key: &str| {
        c.get(key)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let matches_rule = |rule: &Value| {
        let names: Vec<&str> = rule
            .get("resourceNames")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        predicates::rules_match(&json!({"rules": [rule]}), attrs)
            && (names.is_empty() || names.contains(&attrs.name.as_str()))
    };
    let include = rules("resourceRules");
    if (rules_required || !include.is_empty()) && !include.iter().any(matches_rule) {
        return Ok(false);
    }
    if rules("excludeResourceRules").iter().any(matches_rule) {
        return Ok(false);
    }
    if !predicates::namespace_matches(server, c, attrs, object).await? {
        return Ok(false);
    }
    predicates::object_matches(c, object, old)
}

/// Runs a policy's conditions and validations for one binding; `Err` is an
/// evaluation that failed (the policy's `failurePolicy` decides).
async fn evaluate(
    server: &ApiServer,
    spec: &Value,
    binding: &Value,
    attrs: &Attributes<'_>,
    request: &Value,
) -> Result<Vec<Failure>, String> {
    let params = params(server, spec, binding, attrs).await?;
    let Some(params) = params else {
        return Ok(Vec::new());
    };
    let namespace = namespace_object(server, attrs).await;
    let mut ctx = Context::default();
    let bind = |ctx: &mut Context, name: &str, v: &Value| -> Result<(), String> {
        ctx.add_variable_from_value(name, crate::apiextensions::cel::json_to_cel(v));
        Ok(())
    };
    bind(&mut ctx, "object", &request["object"])?;
    bind(&mut ctx, "oldObject", &request["oldObject"])?;
    bind(&mut ctx, "request", request)?;
    bind(&mut ctx, "params", &params)?;
    bind(&mut ctx, "namespaceObject", &namespace)?;
    let run = |ctx: &Context, expr: &str| -> Result<CelValue, String> {
        Program::compile(expr)
            .map_err(|e| format!("compilation failed: {e}"))?
            .execute(ctx)
            .map_err(|e| format!("expression '{expr}' resulted in error: {e}"))
    };
    // Each variable sees the ones before it.
    let mut variables: std::collections::HashMap<String, CelValue> = Default::default();
    ctx.add_variable_from_value("variables", CelValue::from(variables.clone()));
    for var in spec
        .get("variables")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let value = run(&ctx, text(var, "/expression"))?;
        variables.insert(text(var, "/name").to_string(), value);
        ctx.add_variable_from_value("variables", CelValue::from(variables.clone()));
    }
    if !predicates::conditions_match(spec, request).map_err(|e| e.0)? {
        return Ok(Vec::new());
    }
    let mut failures = Vec::new();
    for v in spec
        .get("validations")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let expr = text(v, "/expression").trim();
        match run(&ctx, expr)? {
            CelValue::Bool(true) => continue,
            CelValue::Bool(false) => {}
            other => {
                return Err(format!(
                    "expression '{expr}' did not evaluate to a bool: {other:?}"
                ))
            }
        }
        let from_expression = match text(v, "/messageExpression") {
            "" => None,
            m => match run(&ctx, m) {
                Ok(CelValue::String(s)) => Some(s.trim().to_string()),
                _ => None,
            },
        }
        .filter(|m| !m.is_empty() && !m.contains('\n'));
        let message = from_expression
            .or_else(|| Some(text(v, "/message").trim().to_string()).filter(|m| !m.is_empty()))
            .unwrap_or_else(|| format!("failed expression: {expr}"));
        let reason = match text(v, "/reason") {
            "" => "Invalid".to_string(),
            r => r.to_string(),
        };
        failures.push(Failure { message, reason });
    }
    Ok(failures)
}

/// The request's namespace as an object (null for cluster-scoped requests
/// and for Namespaces themselves).
async fn namespace_object(server: &ApiServer, attrs: &Attributes<'_>) -> Value {
    let is_namespace = attrs.resource.group.is_empty() && attrs.resource.plural == "namespaces";
    if attrs.namespace.is_empty() || is_namespace {
        return Value::Null;
    }
    match server.lookup("", "namespaces", "", &attrs.namespace).await {
        Ok(Some(ns)) => (*ns.object).clone(),
        _ => Value::Null,
    }
}

/// The binding's parameters: `Some(Null)` for a policy without
/// `paramKind`; `None` when the binding applies no parameters
/// (`parameterNotFoundAction: Allow` and none found).
async fn params(
    server: &ApiServer,
    spec: &Value,
    binding: &Value,
    attrs: &Attributes<'_>,
) -> Result<Option<Value>, String> {
    let Some(kind) = spec.get("paramKind").filter(|k| k.is_object()) else {
        return Ok(Some(Value::Null));
    };
    let (api_version, kind_name) = (text(kind, "/apiVersion"), text(kind, "/kind"));
    let resource = apimachinery::resources::find_by_kind(api_version, kind_name)
        .or_else(|| crate::apiextensions::find_by_kind(api_version, kind_name))
        .ok_or_else(|| format!("failed to find resource referenced by paramKind: '{api_version}, Kind={kind_name}'"))?;
    let Some(param_ref) = binding.pointer("/spec/paramRef").filter(|r| r.is_object()) else {
        return Err(format!(
            "policy '{}' has paramKind, but its binding has no paramRef",
            text(spec, "/name")
        ));
    };
    let mut ns = text(param_ref, "/namespace").to_string();
    if ns.is_empty() && resource.namespaced {
        ns = attrs.namespace.clone();
    }
    let ns = resource.namespaced.then_some(ns.as_str());
    let name = text(param_ref, "/name");
    let found = if !name.is_empty() {
        let key = server.store.key(resource.storage_name(), ns, name);
        server
            .store
            .get(&key)
            .await
            .map_err(|e| e.to_string())?
            .map(|s| s.object)
    } else {
        let selector = apimachinery::labels::Selector::from_label_selector_json(
            param_ref.get("selector").unwrap_or(&Value::Null),
        )
        .map_err(|e| e.to_string())?;
        let prefix = server.store.collection_prefix(resource.storage_name(), ns);
        let page = server
            .store
            .list(&prefix, None, 0, 0)
            .await
            .map_err(|e| e.to_string())?;
        // Several matching parameter objects would each be evaluated
        // upstream; the first one in key order is used here.
        page.items.into_iter().map(|(_, s)| s.object).find(|o| {
            let labels = o
                .pointer("/metadata/labels")
                .and_then(Value::as_object)
                .map(|m| {
                    m.iter()
                        .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                        .collect()
                })
                .unwrap_or_default();
            selector.matches(&labels)
        })
    };
    match found {
        Some(p) => Ok(Some(p)),
        None if text(param_ref, "/parameterNotFoundAction") == "Deny" => Err(
            "no params found for policy binding with `Deny` parameterNotFoundAction".to_string(),
        ),
        None => Ok(None),
    }
}
