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

use cel::{Context, Value as CelValue};
use http::StatusCode;
use serde_json::Value;

use super::admission_policy::{self as policy, run, text};
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
    let applicable = policy::applicable(
        server,
        Kind::ValidatingPolicy,
        Kind::ValidatingPolicyBinding,
        attrs,
        object,
        old,
    )
    .await?;
    let mut request = None;
    for (policy, binding) in &applicable {
        let policy_name = text(policy, "/metadata/name");
        let spec = policy.get("spec").unwrap_or(&Value::Null);
        let request = request.get_or_insert_with(|| {
            super::webhook::review::request(&uuid::Uuid::new_v4().to_string(), attrs, object, old)
        });
        let fail_closed = text(spec, "/failurePolicy") != "Ignore";
        let failures = match evaluate(server, spec, binding, attrs, request).await {
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
    let resource = Target::new(attrs.resource, attrs.name.clone()).qualified();
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

/// Runs a policy's conditions and validations for one binding; `Err` is an
/// evaluation that failed (the policy's `failurePolicy` decides).
async fn evaluate(
    server: &ApiServer,
    spec: &Value,
    binding: &Value,
    attrs: &Attributes<'_>,
    request: &Value,
) -> Result<Vec<Failure>, String> {
    let Some(ctx) =
        policy::context(server, Context::default(), spec, binding, attrs, request).await?
    else {
        return Ok(Vec::new());
    };
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
