//! Where the write handlers call the admission webhooks
//! ([`crate::admission::webhook`]): the request's attributes from the
//! [`Ctx`], the webhooks' warnings into the response, and validation again
//! when a mutating webhook changed the object. The validating phase opens
//! with Pod Security ([`crate::admission::pod_security`]), as upstream's
//! plug-in order has it.

use apimachinery::resources::Subresource;
use serde_json::Value;

use super::Ctx;
use crate::admission::webhook::{self, Attributes, Operation};
use crate::errors::{ApiError, Result};
use crate::registry::{self, meta_str};

/// Whether the request's object is the resource's own (the object itself,
/// `status`, `finalize`, `approval`, `resize`): those go to webhooks as an UPDATE of
/// the object. A binding or an eviction is another kind of object, sent as
/// its own CREATE ([`admit_subresource_create`]); a `scale` (upstream sends
/// a Scale) is not sent.
fn sends_object(ctx: &Ctx) -> bool {
    matches!(
        ctx.info.subresource,
        None | Some(Subresource::Status)
            | Some(Subresource::Finalize)
            | Some(Subresource::Approval)
            | Some(Subresource::Resize)
            | Some(Subresource::EphemeralContainers)
    )
}

fn attributes<'a>(ctx: &'a Ctx, operation: Operation, name: &str) -> Attributes<'a> {
    let resource = ctx.info.resource;
    // A Namespace's requests (other than its create) carry its own name as
    // their namespace, as upstream's do.
    let namespace = if resource.group.is_empty() && resource.plural == "namespaces" {
        if operation == Operation::Create {
            String::new()
        } else {
            name.to_string()
        }
    } else {
        ctx.info.namespace.clone().unwrap_or_default()
    };
    Attributes::new(
        resource,
        ctx.info.subresource.map(Subresource::name).unwrap_or(""),
        operation,
        namespace,
        name.to_string(),
        &ctx.user,
        ctx.query.dry_run,
        ctx.query.field_manager.as_deref(),
    )
}

fn pass_warnings(ctx: &Ctx, warnings: Vec<String>) {
    for w in warnings {
        ctx.warn(w);
    }
}

/// Mutating webhooks on a new object, before its defaults and validation.
pub(super) async fn mutate_create(ctx: &Ctx, obj: &mut Value) -> Result<()> {
    if !sends_object(ctx) {
        return Ok(());
    }
    let name = meta_str(obj, "name").unwrap_or("").to_string();
    let attrs = attributes(ctx, Operation::Create, &name);
    let mut warnings = Vec::new();
    let out = mutate_both(&ctx.server, &attrs, Some(obj), None, &mut warnings).await;
    pass_warnings(ctx, warnings);
    out.map(|_| ())
}

/// The mutating phase: admission policies, then mutating webhooks.
/// Returns whether the object changed.
async fn mutate_both(
    server: &crate::ApiServer,
    attrs: &Attributes<'_>,
    mut obj: Option<&mut Value>,
    old: Option<&Value>,
    warnings: &mut Vec<String>,
) -> Result<bool> {
    // Boxed: the admission futures are large, and a request's whole chain
    // of them would otherwise sit on one worker thread's stack.
    let by_policies = Box::pin(crate::admission::mutating_admission_policy::mutate(
        server,
        attrs,
        obj.as_deref_mut(),
        old,
    ))
    .await?;
    let by_webhooks = Box::pin(webhook::mutate(server, attrs, obj, old, warnings)).await?;
    Ok(by_policies || by_webhooks)
}

/// Pod Security on the object the request writes: its warnings and audit
/// annotations go to the request.
async fn pod_security(
    ctx: &Ctx,
    attrs: &Attributes<'_>,
    obj: &Value,
    old: Option<&Value>,
) -> Result<()> {
    let outcome = crate::admission::pod_security::validate(&ctx.server, attrs, obj, old).await?;
    pass_warnings(ctx, outcome.warnings);
    for (key, value) in outcome.annotations {
        ctx.annotate(key, value);
    }
    Ok(())
}

/// Validating webhooks on a new object, after its validation.
pub(super) async fn validate_create(ctx: &Ctx, obj: &Value) -> Result<()> {
    if !sends_object(ctx) {
        return Ok(());
    }
    let name = meta_str(obj, "name").unwrap_or("").to_string();
    let attrs = attributes(ctx, Operation::Create, &name);
    pod_security(ctx, &attrs, obj, None).await?;
    let mut warnings = Vec::new();
    let out = validate_both(&ctx.server, &attrs, Some(obj), None, &mut warnings).await;
    pass_warnings(ctx, warnings);
    out
}

/// The validating phase: admission policies, then validating webhooks.
async fn validate_both(
    server: &crate::ApiServer,
    attrs: &Attributes<'_>,
    obj: Option<&Value>,
    old: Option<&Value>,
    warnings: &mut Vec<String>,
) -> Result<()> {
    Box::pin(crate::admission::validating_admission_policy::validate(
        server, attrs, obj, old, warnings,
    ))
    .await?;
    Box::pin(webhook::validate(server, attrs, obj, old, warnings)).await
}

/// Both kinds of webhooks on the create of a subresource that is an object
/// of its own (a pod's Binding or Eviction, `body`), named after the pod;
/// a mutating webhook's patch changes `body`.
pub(super) async fn admit_subresource_create(ctx: &Ctx, body: &mut Value) -> Result<()> {
    let name = ctx.info.name.clone().unwrap_or_default();
    let attrs = attributes(ctx, Operation::Create, &name);
    let mut warnings = Vec::new();
    let mut out = mutate_both(&ctx.server, &attrs, Some(body), None, &mut warnings)
        .await
        .map(|_| ());
    if out.is_ok() {
        out = validate_both(&ctx.server, &attrs, Some(body), None, &mut warnings).await;
    }
    pass_warnings(ctx, warnings);
    out
}

/// Both kinds of webhooks on an update whose new object was already
/// defaulted and validated: a mutating webhook's change is defaulted and
/// validated again before the validating webhooks see the result.
pub(super) async fn admit_update(ctx: &Ctx, obj: &mut Value, old: &Value) -> Result<()> {
    if !sends_object(ctx) {
        return Ok(());
    }
    let resource = ctx.info.resource;
    let name = ctx.info.name.clone().unwrap_or_default();
    let attrs = attributes(ctx, Operation::Update, &name);
    let mut warnings = Vec::new();
    let mutated = mutate_both(&ctx.server, &attrs, Some(obj), Some(old), &mut warnings).await;
    let out = match mutated {
        Ok(true) => revalidate(resource, obj, old),
        Ok(false) => Ok(()),
        Err(e) => Err(e),
    };
    let out = match out {
        Ok(()) => pod_security(ctx, &attrs, obj, Some(old)).await,
        Err(e) => Err(e),
    };
    let out = match out {
        Ok(()) => validate_both(&ctx.server, &attrs, Some(obj), Some(old), &mut warnings).await,
        Err(e) => Err(e),
    };
    pass_warnings(ctx, warnings);
    out
}

fn revalidate(
    resource: &'static apimachinery::resources::ResourceInfo,
    obj: &mut Value,
    old: &Value,
) -> Result<()> {
    registry::apply_defaults(resource, obj).map_err(|e| {
        ApiError::BadRequest(format!(
            "the object a mutating webhook returned does not decode as a {}: {e}",
            resource.kind
        ))
    })?;
    let causes = registry::validate_update(resource, obj, old);
    if causes.is_empty() {
        return Ok(());
    }
    Err(ApiError::Invalid {
        kind: resource.kind.into(),
        group: resource.group.into(),
        name: meta_str(obj, "name").unwrap_or("").into(),
        causes,
    })
}

/// Both kinds of webhooks on a delete: they see the object as `oldObject`
/// (a mutating webhook has nothing to change). `dry_run` also counts the
/// DeleteOptions body's.
pub(super) async fn admit_delete(ctx: &Ctx, old: &Value, dry_run: bool) -> Result<()> {
    // An eviction was admitted as the create of its Eviction; the deletion
    // it makes is not admitted again (upstream's eviction deletes the pod
    // without admission).
    if ctx.info.subresource == Some(Subresource::Eviction) {
        return Ok(());
    }
    let name = meta_str(old, "name").unwrap_or("").to_string();
    let mut attrs = attributes(ctx, Operation::Delete, &name);
    if dry_run && !attrs.dry_run {
        attrs.dry_run = true;
        attrs.options["dryRun"] = serde_json::json!(["All"]);
    }
    let mut warnings = Vec::new();
    let mut out = webhook::mutate(&ctx.server, &attrs, None, Some(old), &mut warnings)
        .await
        .map(|_| ());
    if out.is_ok() {
        out = validate_both(&ctx.server, &attrs, None, Some(old), &mut warnings).await;
    }
    pass_warnings(ctx, warnings);
    out
}

/// The options object a connect request is admitted with (upstream's
/// `PodAttachOptions`, `PodExecOptions`, ...), from its query; `None` for a
/// subresource that is read rather than connected to (`pods/log`).
fn connect_options(sub: Subresource, plural: &str, query: Option<&str>) -> Option<Value> {
    let kind = match (plural, sub) {
        ("pods", Subresource::Attach) => "PodAttachOptions",
        ("pods", Subresource::Exec) => "PodExecOptions",
        ("pods", Subresource::PortForward) => "PodPortForwardOptions",
        ("pods", Subresource::Proxy) => "PodProxyOptions",
        ("services", Subresource::Proxy) => "ServiceProxyOptions",
        ("nodes", Subresource::Proxy) => "NodeProxyOptions",
        _ => return None,
    };
    let mut options = serde_json::json!({"apiVersion": "v1", "kind": kind});
    let mut command = Vec::new();
    let mut ports = Vec::new();
    for (k, v) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        match k.as_ref() {
            "stdin" | "stdout" | "stderr" | "tty" => {
                options[k.as_ref()] = Value::Bool(matches!(v.as_ref(), "true" | "1"));
            }
            "container" | "path" => options[k.as_ref()] = Value::String(v.into_owned()),
            "command" => command.push(Value::String(v.into_owned())),
            "ports" => {
                if let Ok(p) = v.parse::<i64>() {
                    ports.push(Value::from(p));
                }
            }
            _ => {}
        }
    }
    if !command.is_empty() {
        options["command"] = Value::Array(command);
    }
    if !ports.is_empty() {
        options["ports"] = Value::Array(ports);
    }
    Some(options)
}

/// Both kinds of webhooks on a connect subresource (`pods/attach`,
/// `pods/exec`, ...), before the connection is made: the object they see is
/// the request's options.
pub async fn admit_connect(
    server: &crate::ApiServer,
    info: &crate::request::RequestInfo,
    query: Option<&str>,
    user: &crate::authentication::UserInfo,
) -> Result<()> {
    let Some(sub) = info.subresource else {
        return Ok(());
    };
    let Some(mut options) = connect_options(sub, info.resource.plural, query) else {
        return Ok(());
    };
    let attrs = Attributes::new(
        info.resource,
        sub.name(),
        Operation::Connect,
        info.namespace.clone().unwrap_or_default(),
        info.name.clone().unwrap_or_default(),
        user,
        false,
        None,
    );
    // Warnings have nowhere to go on an upgraded connection.
    let mut warnings = Vec::new();
    webhook::mutate(server, &attrs, Some(&mut options), None, &mut warnings).await?;
    validate_both(server, &attrs, Some(&options), None, &mut warnings).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_options_come_from_the_query() {
        let o = connect_options(
            Subresource::Exec,
            "pods",
            Some("container=c&command=ls&command=-l&stdin=true&tty=false"),
        )
        .unwrap();
        assert_eq!(
            o,
            serde_json::json!({"apiVersion": "v1", "kind": "PodExecOptions", "container": "c",
                "command": ["ls", "-l"], "stdin": true, "tty": false})
        );
        assert!(connect_options(Subresource::Log, "pods", None).is_none());
    }
}
