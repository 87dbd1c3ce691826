//! Dynamic admission: the webhooks of MutatingWebhookConfigurations and
//! ValidatingWebhookConfigurations, called on writes as upstream does.
//!
//! ```text
//! request ─► built-in admission ─► mutating webhooks ─► defaults + validation ─► validating webhooks ─► etcd
//!            (namespace lifecycle,   in name order,       (the kind's strategy)     all at once,
//!             priority, ...)         JSON patches,                                  any denial wins
//!                                    IfNeeded reruns once                           (after the
//!                                                                                   admission policies)
//! ```
//!
//! The handlers call [`mutate`] and [`validate`] with the request's
//! [`Attributes`] (create, update and patch of an object and of its
//! `status`, `finalize` and `approval`; delete; a pod's `binding` and
//! `eviction`, created as objects of their own; connect to `pods/attach`,
//! `exec`, `portforward` and the proxies, with the options object). For each
//! webhook, in
//! order, [`predicates`] decides whether it is called (rules, selectors,
//! `matchConditions`), [`review`] builds the `AdmissionReview` and checks the
//! answer, [`client`] delivers it over HTTPS. The configurations come from
//! memory, kept by [`configuration`] from the watch cache.
//!
//! What a webhook's answer means, as upstream:
//! - denied: the request fails with the webhook's Status (code 400 when it
//!   gives none below it), `admission webhook "<name>" denied the request:
//!   <message>`;
//! - it could not be called, timed out (`timeoutSeconds`) or answered
//!   nonsense: with `failurePolicy: Ignore` the webhook is skipped, with
//!   `Fail` the request fails with a 500 `failed calling webhook "<name>":
//!   ...`;
//! - `warnings` go to the client as `Warning` headers;
//! - a dry-run request never calls a webhook whose `sideEffects` are not
//!   `None` or `NoneOnDryRun`: it fails (400) instead.
//!
//! The configurations themselves (the whole `admissionregistration.k8s.io`
//! group) are never sent to webhooks, so a broken webhook can always be
//! removed.

pub mod client;
pub mod configuration;
pub mod predicates;
pub mod review;

use std::time::Duration;

use apimachinery::resources::ResourceInfo;
use http::StatusCode;
use serde_json::{json, Value};

pub use configuration::{Configurations, Kind};

use crate::authentication::UserInfo;
use crate::errors::ApiError;
use crate::ApiServer;

/// The plug-in name of the mutating webhooks (for
/// `--disable-admission-plugins`).
pub const MUTATING_PLUGIN_NAME: &str = "MutatingAdmissionWebhook";
/// The plug-in name of the validating webhooks.
pub const VALIDATING_PLUGIN_NAME: &str = "ValidatingAdmissionWebhook";

/// `timeoutSeconds` when a configuration has none (the defaults set it).
const DEFAULT_TIMEOUT: u64 = 10;

/// The admission operation of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// POST of a new object.
    Create,
    /// PUT or PATCH.
    Update,
    /// DELETE.
    Delete,
    /// A connect subresource (`pods/exec`, ...).
    Connect,
}

impl Operation {
    /// As written in rules and reviews.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Create => "CREATE",
            Operation::Update => "UPDATE",
            Operation::Delete => "DELETE",
            Operation::Connect => "CONNECT",
        }
    }

    fn options_kind(self) -> &'static str {
        match self {
            Operation::Create => "CreateOptions",
            Operation::Update => "UpdateOptions",
            Operation::Delete => "DeleteOptions",
            Operation::Connect => "",
        }
    }
}

/// What a request does, as webhooks are told.
#[derive(Debug, Clone)]
pub struct Attributes<'a> {
    /// The resource written.
    pub resource: &'static ResourceInfo,
    /// The subresource (`status`), empty for the object itself.
    pub subresource: &'static str,
    /// What is done.
    pub operation: Operation,
    /// The namespace; a Namespace's own name for its updates and deletes.
    pub namespace: String,
    /// The object's name (empty on a create with `generateName`).
    pub name: String,
    /// Who asks.
    pub user: &'a UserInfo,
    /// `dryRun=All`.
    pub dry_run: bool,
    /// The request's options object (`CreateOptions`, ...).
    pub options: Value,
}

impl<'a> Attributes<'a> {
    /// Attributes with the options object of `operation`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        resource: &'static ResourceInfo,
        subresource: &'static str,
        operation: Operation,
        namespace: String,
        name: String,
        user: &'a UserInfo,
        dry_run: bool,
        field_manager: Option<&str>,
    ) -> Attributes<'a> {
        let mut options = Value::Null;
        if operation != Operation::Connect {
            options = json!({"apiVersion": "meta.k8s.io/v1", "kind": operation.options_kind()});
            if dry_run {
                options["dryRun"] = json!(["All"]);
            }
            if let Some(m) = field_manager.filter(|m| !m.is_empty()) {
                if operation != Operation::Delete {
                    options["fieldManager"] = json!(m);
                }
            }
        }
        Attributes {
            resource,
            subresource,
            operation,
            namespace,
            name,
            user,
            dry_run,
            options,
        }
    }
}

/// Whether writes of `resource` skip webhooks: the admission configurations
/// themselves.
pub fn exempt(resource: &ResourceInfo) -> bool {
    resource.group == "admissionregistration.k8s.io"
}

/// One webhook of a configuration.
struct Hook<'v> {
    spec: &'v Value,
    name: &'v str,
}

impl Hook<'_> {
    fn ignores_failures(&self) -> bool {
        self.spec.get("failurePolicy").and_then(Value::as_str) == Some("Ignore")
    }

    fn reinvoked_if_needed(&self) -> bool {
        self.spec.get("reinvocationPolicy").and_then(Value::as_str) == Some("IfNeeded")
    }

    fn timeout(&self) -> u64 {
        self.spec
            .get("timeoutSeconds")
            .and_then(Value::as_u64)
            .filter(|t| *t > 0)
            .unwrap_or(DEFAULT_TIMEOUT)
    }
}

fn hooks(configs: &[Value]) -> Vec<Hook<'_>> {
    configs
        .iter()
        .flat_map(|c| {
            c.get("webhooks")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
        })
        .map(|spec| Hook {
            spec,
            name: spec.get("name").and_then(Value::as_str).unwrap_or(""),
        })
        .collect()
}

/// Why a call produced no answer (upstream's `ErrCallingWebhook`).
struct CallError(String);

/// Decides whether `hook` is called; `Some(request)` is the review request
/// to send.
async fn should_call(
    server: &ApiServer,
    hook: &Hook<'_>,
    attrs: &Attributes<'_>,
    object: Option<&Value>,
    old: Option<&Value>,
) -> Result<Option<Value>, ApiError> {
    if !predicates::rules_match(hook.spec, attrs) {
        return Ok(None);
    }
    if !predicates::namespace_matches(server, hook.spec, attrs, object).await? {
        return Ok(None);
    }
    if !predicates::object_matches(hook.spec, object, old)? {
        return Ok(None);
    }
    let uid = uuid::Uuid::new_v4().to_string();
    let request = review::request(&uid, attrs, object, old);
    match predicates::conditions_match(hook.spec, &request) {
        Ok(true) => Ok(Some(request)),
        Ok(false) => Ok(None),
        Err(_) if hook.ignores_failures() => Ok(None),
        Err(e) => Err(calling_failed(
            hook,
            &format!("failed to evaluate match conditions: {}", e.0),
        )),
    }
}

fn calling_failed(hook: &Hook<'_>, reason: &str) -> ApiError {
    ApiError::Internal(format!(
        "Internal error occurred: failed calling webhook {:?}: {reason}",
        hook.name
    ))
}

/// Sends one review and returns the answer.
async fn call(
    server: &ApiServer,
    hook: &Hook<'_>,
    attrs: &Attributes<'_>,
    request: &Value,
    mutating: bool,
) -> Result<review::Answer, ApiError> {
    if attrs.dry_run {
        let side_effects = hook.spec.get("sideEffects").and_then(Value::as_str);
        if !matches!(side_effects, Some("None") | Some("NoneOnDryRun")) {
            return Err(ApiError::BadRequest(format!(
                "admission webhook {:?} does not support dry run",
                hook.name
            )));
        }
    }
    match deliver(server, hook, request, mutating).await {
        Ok(answer) => Ok(answer),
        Err(CallError(reason)) => {
            if hook.ignores_failures() {
                tracing::warn!(webhook = hook.name, %reason, "failed calling webhook, failing open");
                Ok(review::Answer {
                    allowed: true,
                    ..Default::default()
                })
            } else {
                tracing::warn!(webhook = hook.name, %reason, "failed calling webhook, failing closed");
                Err(calling_failed(hook, &reason))
            }
        }
    }
}

async fn deliver(
    server: &ApiServer,
    hook: &Hook<'_>,
    request: &Value,
    mutating: bool,
) -> Result<review::Answer, CallError> {
    let Some(version) = review::version_for(hook.spec) else {
        return Err(CallError(
            "webhook does not accept v1 or v1beta1 AdmissionReview".into(),
        ));
    };
    let uid = request.get("uid").and_then(Value::as_str).unwrap_or("");
    let timeout = hook.timeout();
    let client_config = hook
        .spec
        .get("clientConfig")
        .cloned()
        .unwrap_or(Value::Null);
    let body = serde_json::to_vec(&review::review(version, request))
        .map_err(|e| CallError(format!("could not create admission objects: {e}")))?;
    let response = client::call(
        server,
        &client_config,
        Duration::from_secs(timeout),
        true,
        body,
    )
    .await
    .map_err(|e| CallError(format!("failed to call webhook: {e}")))?;
    review::answer(version, uid, &response, mutating)
        .map_err(|e| CallError(format!("received invalid webhook response: {e}")))
}

/// A denial as upstream words it.
fn denied(hook: &Hook<'_>, status: &Value) -> ApiError {
    let code = status
        .get("code")
        .and_then(Value::as_u64)
        .and_then(|c| u16::try_from(c).ok())
        .filter(|c| *c >= 400)
        .and_then(|c| StatusCode::from_u16(c).ok())
        .unwrap_or(StatusCode::BAD_REQUEST);
    let text = |k: &str| {
        status
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let (message, reason) = (text("message"), text("reason"));
    let by = format!("admission webhook {:?} denied the request", hook.name);
    let message = if !message.is_empty() {
        format!("{by}: {message}")
    } else if !reason.is_empty() {
        format!("{by}: {reason}")
    } else {
        format!("{by} without explanation")
    };
    ApiError::Rejected {
        code,
        reason,
        message,
    }
}

/// Runs the mutating webhooks on `object` (none for a delete or a
/// connect), in order, applying their patches; each webhook with
/// `reinvocationPolicy: IfNeeded` whose object a later one changed runs once
/// more. Returns whether the object changed; `warnings` gets the webhooks'
/// warnings.
pub async fn mutate(
    server: &ApiServer,
    attrs: &Attributes<'_>,
    mut object: Option<&mut Value>,
    old: Option<&Value>,
    warnings: &mut Vec<String>,
) -> Result<bool, ApiError> {
    if exempt(attrs.resource) || server.config.admission.disabled(MUTATING_PLUGIN_NAME) {
        return Ok(false);
    }
    let configs = server.webhooks.list(server, Kind::Mutating).await?;
    let hooks = hooks(&configs);
    if hooks.is_empty() {
        return Ok(false);
    }
    let mut changed = false;
    // Per webhook: called in the first round, and whether the object
    // changed after that call.
    let mut called = vec![false; hooks.len()];
    let mut rerun = vec![false; hooks.len()];
    for round in 0..2 {
        for (i, hook) in hooks.iter().enumerate() {
            if round == 1 && !rerun[i] {
                continue;
            }
            let Some(request) = should_call(server, hook, attrs, object.as_deref(), old).await?
            else {
                continue;
            };
            let answer = call(server, hook, attrs, &request, true).await?;
            warnings.extend(answer.warnings.iter().cloned());
            if !answer.allowed {
                return Err(denied(hook, &answer.status));
            }
            if round == 0 {
                called[i] = true;
            }
            let (Some(patch), Some(obj)) = (&answer.patch, object.as_deref_mut()) else {
                continue;
            };
            let patched = apimachinery::patch::apply_json_patch(obj, patch)
                .map_err(|e| ApiError::Internal(format!("Internal error occurred: {e}")))?;
            if patched != *obj {
                *obj = patched;
                changed = true;
                if round == 0 {
                    for j in 0..i {
                        if called[j] && hooks[j].reinvoked_if_needed() {
                            rerun[j] = true;
                        }
                    }
                }
            }
        }
        if !rerun.iter().any(|r| *r) {
            break;
        }
    }
    Ok(changed)
}

/// Runs the validating webhooks on the final `object`, all at once; the
/// first denial or failure (in webhook order) fails the request.
pub async fn validate(
    server: &ApiServer,
    attrs: &Attributes<'_>,
    object: Option<&Value>,
    old: Option<&Value>,
    warnings: &mut Vec<String>,
) -> Result<(), ApiError> {
    if exempt(attrs.resource) || server.config.admission.disabled(VALIDATING_PLUGIN_NAME) {
        return Ok(());
    }
    let configs = server.webhooks.list(server, Kind::Validating).await?;
    let hooks = hooks(&configs);
    if hooks.is_empty() {
        return Ok(());
    }
    let mut calls = Vec::new();
    for hook in &hooks {
        if let Some(request) = should_call(server, hook, attrs, object, old).await? {
            calls.push(async move {
                match call(server, hook, attrs, &request, false).await {
                    Ok(answer) if answer.allowed => (answer.warnings, Ok(())),
                    Ok(answer) => (answer.warnings, Err(denied(hook, &answer.status))),
                    Err(e) => (Vec::new(), Err(e)),
                }
            });
        }
    }
    let mut first_error = None;
    for (w, outcome) in futures::future::join_all(calls).await {
        warnings.extend(w);
        if let Err(e) = outcome {
            first_error.get_or_insert(e);
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(()),
    }
}
