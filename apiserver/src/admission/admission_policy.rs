//! What the two admission policy plug-ins share
//! ([`super::validating_admission_policy`],
//! [`super::mutating_admission_policy`]): which bindings apply to a request
//! (their policy's `matchConstraints`, then their own `matchResources`), the
//! parameters a binding hands its policy, the request's namespace as
//! `namespaceObject`, and the CEL variables every expression sees.

use std::collections::HashMap;

use cel::{Context, Program, Value as CelValue};
use serde_json::{json, Value};

use super::webhook::{predicates, Attributes, Kind};
use crate::errors::ApiError;
use crate::ApiServer;

/// The string at `pointer`, empty when absent.
pub(super) fn text<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

/// The bindings of `binding_kind` that apply to the request, each with its
/// policy (of `policy_kind`): the policy exists, its `matchConstraints`
/// match and so does the binding's `matchResources` (when it has some).
pub(super) async fn applicable(
    server: &ApiServer,
    policy_kind: Kind,
    binding_kind: Kind,
    attrs: &Attributes<'_>,
    object: Option<&Value>,
    old: Option<&Value>,
) -> Result<Vec<(Value, Value)>, ApiError> {
    let bindings = server.webhooks.list(server, binding_kind).await?;
    if bindings.is_empty() {
        return Ok(Vec::new());
    }
    let policies = server.webhooks.list(server, policy_kind).await?;
    let mut out = Vec::new();
    for binding in bindings.iter() {
        let policy_name = text(binding, "/spec/policyName");
        let Some(policy) = policies
            .iter()
            .find(|p| text(p, "/metadata/name") == policy_name)
        else {
            continue;
        };
        let spec = policy.get("spec").unwrap_or(&Value::Null);
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
        out.push((policy.clone(), binding.clone()));
    }
    Ok(out)
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

/// The CEL context of a policy's expressions for one binding: `object`,
/// `oldObject`, `request`, `params`, `namespaceObject`, then the policy's
/// `variables` in order (each sees the ones before it). `None` when the
/// binding applies no parameters (`parameterNotFoundAction: Allow` and none
/// found); `Err` is an evaluation that failed.
pub(super) async fn context<'a>(
    server: &ApiServer,
    mut ctx: Context<'a, 'a>,
    spec: &Value,
    binding: &Value,
    attrs: &Attributes<'_>,
    request: &Value,
) -> Result<Option<Context<'a, 'a>>, String> {
    let Some(params) = params(server, spec, binding, attrs).await? else {
        return Ok(None);
    };
    let namespace = namespace_object(server, attrs).await;
    let bind = |ctx: &mut Context, name: &str, v: &Value| {
        ctx.add_variable_from_value(name, crate::apiextensions::cel::json_to_cel(v));
    };
    bind(&mut ctx, "object", &request["object"]);
    bind(&mut ctx, "oldObject", &request["oldObject"]);
    bind(&mut ctx, "request", request);
    bind(&mut ctx, "params", &params);
    bind(&mut ctx, "namespaceObject", &namespace);
    let mut variables: HashMap<String, CelValue> = HashMap::new();
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
    Ok(Some(ctx))
}

/// Compiles and runs one expression in `ctx` (with the context's own
/// environment: a mutating policy's has the `Object` types).
pub(super) fn run(ctx: &Context, expr: &str) -> Result<CelValue, String> {
    let program = match ctx {
        Context::Root { env, .. } => env.compile(expr),
        Context::Child { .. } => Program::compile(expr),
    };
    program
        .map_err(|e| format!("compilation failed: {e}"))?
        .execute(ctx)
        .map_err(|e| format!("expression '{expr}' resulted in error: {e}"))
}

/// The request's namespace as an object (null for cluster-scoped requests
/// and for Namespaces themselves).
pub(super) async fn namespace_object(server: &ApiServer, attrs: &Attributes<'_>) -> Value {
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
pub(super) async fn params(
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
