//! Where the write handlers call the admission webhooks
//! ([`crate::admission::webhook`]): the request's attributes from the
//! [`Ctx`], the webhooks' warnings into the response, and validation again
//! when a mutating webhook changed the object.

use apimachinery::resources::Subresource;
use serde_json::Value;

use super::Ctx;
use crate::admission::webhook::{self, Attributes, Operation};
use crate::errors::{ApiError, Result};
use crate::registry::{self, meta_str};

/// Whether the request's object is the resource's own (the object itself,
/// `status`, `finalize`, `approval`): those go to webhooks as an UPDATE of
/// the object. A `scale`, a binding or an eviction is another kind of object
/// (upstream sends a Scale, a Binding, an Eviction); they are not sent.
fn sends_object(ctx: &Ctx) -> bool {
    matches!(
        ctx.info.subresource,
        None | Some(Subresource::Status)
            | Some(Subresource::Finalize)
            | Some(Subresource::Approval)
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
    let out = webhook::mutate(&ctx.server, &attrs, Some(obj), None, &mut warnings).await;
    pass_warnings(ctx, warnings);
    out.map(|_| ())
}

/// Validating webhooks on a new object, after its validation.
pub(super) async fn validate_create(ctx: &Ctx, obj: &Value) -> Result<()> {
    if !sends_object(ctx) {
        return Ok(());
    }
    let name = meta_str(obj, "name").unwrap_or("").to_string();
    let attrs = attributes(ctx, Operation::Create, &name);
    let mut warnings = Vec::new();
    let out = webhook::validate(&ctx.server, &attrs, Some(obj), None, &mut warnings).await;
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
    let mutated = webhook::mutate(&ctx.server, &attrs, Some(obj), Some(old), &mut warnings).await;
    let out = match mutated {
        Ok(true) => revalidate(resource, obj, old),
        Ok(false) => Ok(()),
        Err(e) => Err(e),
    };
    let out = match out {
        Ok(()) => webhook::validate(&ctx.server, &attrs, Some(obj), Some(old), &mut warnings).await,
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
        out = webhook::validate(&ctx.server, &attrs, None, Some(old), &mut warnings).await;
    }
    pass_warnings(ctx, warnings);
    out
}
