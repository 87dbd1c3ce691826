//! Subresources with their own object shape: `scale`, `binding`, `eviction`.
//! The shapes and their rules live in the registry
//! ([`crate::registry::scale`], [`crate::registry::core::pod::binding`],
//! [`crate::registry::core::pod::eviction`]); this module reads the request
//! and writes through the same optimistic-concurrency loop as `update`.
//!
//! - `<workload>/scale` shows `spec.replicas` as a Scale, and writes go back
//!   into the parent's `spec.replicas`.
//! - `pods/binding` is how the scheduler assigns a node: it sets
//!   `spec.nodeName` exactly once (409 when the pod is already bound), plus the
//!   `PodScheduled` condition.
//! - `pods/eviction` is a polite delete (`kubectl drain`): the pod is deleted
//!   gracefully.

use apimachinery::patch::PatchType;
use axum::response::Response;
use http::StatusCode;
use serde_json::Value;

use super::write::{apply_patch, guaranteed_update, Mutation};
use super::{body_resource_version, check_type_meta, json, Ctx};
use crate::errors::{ApiError, Result};
use crate::registry::core::pod::{binding, eviction};
use crate::registry::{self, scale};
use crate::response::success;

pub(super) async fn get_scale(ctx: Ctx) -> Result<Response> {
    // A custom resource's scale paths are those of the version asked for.
    let object = super::read::read_one(&ctx).await?;
    Ok(json(
        StatusCode::OK,
        &registry::strategy_for(ctx.info.resource).scale(&object),
    ))
}

/// Writes a new Scale back into the workload.
async fn write_scale<F>(ctx: &Ctx, mut new_scale: F) -> Result<Response>
where
    F: FnMut(&Value) -> Result<Value>,
{
    let resource = ctx.info.resource;
    let name = ctx.info.name.clone().unwrap_or_default();
    let strategy = registry::strategy_for(resource);
    let object = guaranteed_update(ctx, |current| {
        let scale = new_scale(&strategy.scale(&current.object))?;
        let precondition = body_resource_version(&scale)?;
        let mut updated = strategy.apply_scale(&current.object, &scale, &name)?;
        registry::prepare_for_update(resource, &mut updated, &current.object);
        super::create::admit(ctx, resource, &mut updated, Some(&current.object))?;
        Ok(Mutation {
            object: updated,
            precondition,
        })
    })
    .await?;
    Ok(json(StatusCode::OK, &strategy.scale(&object)))
}

pub(super) async fn update_scale(ctx: Ctx) -> Result<Response> {
    let mut body = ctx.object_body()?;
    check_type_meta(&mut body, scale::API_VERSION, scale::KIND)?;
    write_scale(&ctx, |_| Ok(body.clone())).await
}

pub(super) async fn patch_scale(ctx: Ctx) -> Result<Response> {
    let content_type = crate::request::content_type(&ctx.headers);
    let patch_type = PatchType::from_content_type(&content_type).ok_or_else(|| {
        ApiError::UnsupportedMediaType(format!("unsupported patch type {content_type:?}"))
    })?;
    let format = match patch_type {
        PatchType::Apply => crate::request::BodyFormat::Yaml,
        _ => crate::request::BodyFormat::Json,
    };
    let patch = crate::request::decode_body(&ctx.body, format)?;
    write_scale(&ctx, |current| {
        apply_patch(patch_type, current, &patch, &scale::RESOURCE)
    })
    .await
}

pub(super) async fn bind(ctx: Ctx) -> Result<Response> {
    let mut body = ctx.object_body()?;
    check_type_meta(&mut body, binding::API_VERSION, binding::KIND)?;
    super::webhooks::admit_subresource_create(&ctx, &mut body).await?;
    let pod_name = ctx.info.name.clone().unwrap_or_default();
    let binding = binding::Binding::from_body(&body, &pod_name)?;
    let target = ctx.target();
    guaranteed_update(&ctx, |current| {
        Ok(Mutation {
            object: binding.apply(&current.object, &target)?,
            precondition: None,
        })
    })
    .await?;
    Ok(success(StatusCode::CREATED))
}

pub(super) async fn evict(ctx: Ctx) -> Result<Response> {
    let mut body = ctx.object_body()?;
    check_type_meta(&mut body, eviction::API_VERSION, eviction::KIND)?;
    super::webhooks::admit_subresource_create(&ctx, &mut body).await?;
    let grace = eviction::grace_period(&body);
    let now = crate::meta::now();
    let key = ctx.server.store.key(
        ctx.info.resource.storage_name(),
        ctx.info.namespace.as_deref(),
        ctx.info.name.as_deref().unwrap_or_default(),
    );
    let pod = ctx
        .server
        .store
        .get(&key)
        .await
        .map_err(|e| ApiError::from_storage(e, ctx.target()))?
        .ok_or_else(|| ApiError::NotFound(ctx.target()))?;
    eviction::check_disruption_budget(&ctx.server, &pod.object, &now).await?;
    guaranteed_update(&ctx, |current| {
        Ok(Mutation {
            object: eviction::with_disruption_target(&current.object, &now)
                .unwrap_or_else(|| current.object.clone()),
            precondition: None,
        })
    })
    .await?;
    let mut ctx = ctx;
    ctx.query.grace_period_seconds = grace.or(ctx.query.grace_period_seconds);
    ctx.body = bytes::Bytes::new();
    super::delete::delete(ctx).await?;
    Ok(success(StatusCode::CREATED))
}
