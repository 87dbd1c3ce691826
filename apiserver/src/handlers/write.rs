//! `update` (PUT) and `patch` (PATCH), on the main resource and on the
//! `/status`, `/finalize`, `/approval` and `/resize` subresources.
//!
//! Both go through [`guaranteed_update`]: read the stored object, compute the
//! new one from it, write it with a compare-and-swap on the stored
//! `mod_revision`, and on a lost race start over from a fresh read. A client
//! that named a `resourceVersion` asked for optimistic concurrency: then a lost
//! race is its 409 Conflict instead of a retry.

use apimachinery::patch::{self, PatchType};
use apimachinery::resources::Subresource;
use axum::response::Response;
use http::StatusCode;
use serde_json::Value;

use super::create::{admit, create_object};
use super::{body_resource_version, check_type_meta, json, Ctx};
use crate::errors::{ApiError, Result};
use crate::registry::{self, finalizers};
use crate::storage::{StorageError, StoredObject};

/// How often a write is retried after losing a race it did not ask to lose.
const MAX_RETRIES: usize = 16;

/// What a mutation decided.
pub(crate) struct Mutation {
    /// The object to store.
    pub object: Value,
    /// The resourceVersion the client required, if any.
    pub precondition: Option<i64>,
}

/// Resources whose objects are rewritten all the time (bindings and status
/// writes of pods, node heartbeats and leases, controllers' status): their
/// updates start from the apiserver's in-memory copy instead of a read from
/// etcd. Others (and every retry) read etcd first.
const UPDATED_FROM_MEMORY: &[(&str, &str)] = &[
    ("", "pods"),
    ("", "nodes"),
    ("apps", "replicasets"),
    ("apps", "deployments"),
    ("apps", "statefulsets"),
    ("apps", "daemonsets"),
    ("batch", "jobs"),
    ("coordination.k8s.io", "leases"),
];

/// The first attempt's idea of the stored object, from the resource's
/// informer ([`crate::storage::informer`]), without waiting for it to catch
/// up. As upstream's cacher hands `GuaranteedUpdate` the watch cache's
/// object, this saves the read of a write: the compare-and-swap on its
/// `mod_revision` is what proves it current.
fn remembered(ctx: &Ctx) -> Option<StoredObject> {
    let resource = ctx.info.resource;
    if ctx.query.dry_run || !UPDATED_FROM_MEMORY.contains(&(resource.group, resource.plural)) {
        return None;
    }
    let name = ctx.info.name.as_deref()?;
    let namespace = ctx.info.namespace.as_deref().unwrap_or("");
    let hit = ctx.server.informer(resource).peek(namespace, name)?;
    Some(hit.to_stored())
}

/// What one attempt of [`guaranteed_update`] decided, before the write.
enum Attempt {
    /// The object would not change: answer it as stored.
    Unchanged(Value),
    /// `dryRun`: the object as it would be stored.
    DryRun(Value),
    /// Write `object` (or delete, when `finished`).
    Write {
        object: Value,
        precondition: Option<i64>,
        finished: bool,
    },
}

/// Mutates `current` and runs everything a write checks, short of writing.
async fn attempt<F>(ctx: &Ctx, current: &StoredObject, mutate: &mut F) -> Result<Attempt>
where
    F: FnMut(&StoredObject) -> Result<Mutation>,
{
    // An object of a kind served at several versions is changed
    // (patched, defaulted, validated) in the version the request speaks
    // and stored in its storage version.
    let resource = ctx.info.resource;
    let view = crate::conversion::to_request(&ctx.server, resource, &current.object).await?;
    let Mutation {
        mut object,
        precondition,
    } = match &view {
        Some(view) => mutate(&StoredObject {
            object: view.clone(),
            mod_revision: current.mod_revision,
            stale: current.stale,
        })?,
        None => mutate(current)?,
    };
    // Admission webhooks see both objects in the request's version.
    super::webhooks::admit_update(ctx, &mut object, view.as_ref().unwrap_or(&current.object))
        .await?;
    crate::conversion::to_storage(&ctx.server, resource, &mut object).await?;
    crate::authorization::escalation::admit(
        &ctx.server.authorizer,
        &ctx.user,
        ctx.info.resource,
        ctx.info.namespace.as_deref().unwrap_or(""),
        &object,
        Some(&current.object),
    )?;
    if let Some(rv) = precondition {
        if rv != current.mod_revision {
            return Err(ApiError::from_storage(StorageError::Conflict, ctx.target()));
        }
    }
    crate::storage::etcd::set_resource_version(&mut object, current.mod_revision);
    if object == current.object && !current.stale {
        // Nothing changed: no write, no new resourceVersion, no event
        // (unless the stored value is under an old encryption key).
        return Ok(Attempt::Unchanged(current.object.clone()));
    }
    if ctx.query.dry_run {
        return Ok(Attempt::DryRun(object));
    }
    // The last finalizer of an object being deleted is gone: delete it.
    let strategy = registry::strategy_for(ctx.info.resource);
    let finished = object.pointer("/metadata/deletionTimestamp").is_some()
        && finalizers(&object).is_empty()
        && !strategy.removal_blocked(&object)
        && !graceful_deletion_pending(&object);
    Ok(Attempt::Write {
        object,
        precondition,
        finished,
    })
}

/// Reads, mutates and compare-and-swaps until it sticks (see module docs).
/// Returns the object as stored (or as it would be, with `dryRun`).
///
/// The first attempt may start from the object in memory
/// ([`remembered`]); whatever that attempt would answer other than a
/// successful write (an error, "unchanged", a failed precondition) is
/// decided again on a read from etcd, so the copy in memory only ever
/// saves a read, never changes an outcome.
pub(crate) async fn guaranteed_update<F>(ctx: &Ctx, mut mutate: F) -> Result<Value>
where
    F: FnMut(&StoredObject) -> Result<Mutation>,
{
    let key = ctx.key();
    let store = &ctx.server.store;
    let mut suggestion = remembered(ctx);
    for _ in 0..MAX_RETRIES {
        let from_memory = suggestion.is_some();
        let current = match suggestion.take() {
            Some(c) => c,
            None => match store.get(&key).await {
                Ok(Some(c)) => c,
                Ok(None) => return Err(ApiError::NotFound(ctx.target())),
                Err(e) => return Err(ApiError::from_storage(e, ctx.target())),
            },
        };
        let (mut object, precondition, finished) = match attempt(ctx, &current, &mut mutate).await {
            Err(_) | Ok(Attempt::Unchanged(_)) if from_memory => continue,
            Err(e) => return Err(e),
            Ok(Attempt::Unchanged(object) | Attempt::DryRun(object)) => return Ok(object),
            Ok(Attempt::Write {
                object,
                precondition,
                finished,
            }) => (object, precondition, finished),
        };
        let strategy = registry::strategy_for(ctx.info.resource);
        let result = if finished {
            store.delete(&key, current.mod_revision).await
        } else {
            strategy
                .before_update(&ctx.server, &mut object, &current.object)
                .await?;
            store.update(&key, &object, current.mod_revision).await
        };
        match result {
            Ok(rev) => {
                if finished {
                    strategy.release(&ctx.server, &current.object).await;
                } else {
                    strategy
                        .release_unneeded(&ctx.server, &current.object, &object)
                        .await;
                }
                crate::storage::etcd::set_resource_version(&mut object, rev);
                strategy.after_write(&ctx.server, &object);
                return Ok(object);
            }
            Err(e) => {
                if !finished {
                    strategy
                        .release_unneeded(&ctx.server, &object, &current.object)
                        .await;
                }
                match e {
                    StorageError::Conflict if precondition.is_none() || from_memory => continue,
                    e => return Err(ApiError::from_storage(e, ctx.target())),
                }
            }
        }
    }
    Err(ApiError::from_storage(StorageError::Conflict, ctx.target()))
}

/// An object in a graceful deletion (a bound pod, see `delete`) stays until
/// whoever runs it confirms with a delete of grace period 0. Only kinds whose
/// strategy deletes gracefully ever get a grace period above 0.
fn graceful_deletion_pending(obj: &Value) -> bool {
    obj.pointer("/metadata/deletionGracePeriodSeconds")
        .and_then(Value::as_i64)
        .is_some_and(|g| g > 0)
}

/// Turns the requested new object into the one to store, per subresource.
fn prepare(ctx: &Ctx, mut new: Value, current: &Value) -> Result<Value> {
    let resource = ctx.info.resource;
    registry::validate_identity(resource, &new, current)?;
    let manager = ctx.manager();
    let api_version = resource.api_version();
    match ctx.info.subresource {
        Some(Subresource::Status) => {
            let mut merged = registry::prepare_for_status_write(resource, &new, current);
            if resource.plural == "certificatesigningrequests" {
                if let Some(why) = crate::admission::certificates::check_signing(
                    &ctx.server.authorizer,
                    &ctx.user,
                    &merged,
                    current,
                ) {
                    return Err(ApiError::Forbidden(ctx.target(), why));
                }
            }
            admit(ctx, resource, &mut merged, Some(current))?;
            crate::fieldmanager::record_update(
                &manager,
                Some("status"),
                &api_version,
                Some(current),
                &mut merged,
            );
            Ok(merged)
        }
        Some(Subresource::Approval) => {
            let mut merged = registry::prepare_for_approval_update(&new, current);
            if let Some(why) = crate::admission::certificates::check_approval(
                &ctx.server.authorizer,
                &ctx.user,
                &merged,
            ) {
                return Err(ApiError::Forbidden(ctx.target(), why));
            }
            admit(ctx, resource, &mut merged, Some(current))?;
            crate::fieldmanager::record_update(
                &manager,
                Some("approval"),
                &api_version,
                Some(current),
                &mut merged,
            );
            Ok(merged)
        }
        Some(Subresource::EphemeralContainers) => {
            let mut merged = registry::core::pod::ephemeral_containers::merge(&new, current);
            admit(ctx, resource, &mut merged, Some(current))?;
            crate::fieldmanager::record_update(
                &manager,
                Some("ephemeralcontainers"),
                &api_version,
                Some(current),
                &mut merged,
            );
            Ok(merged)
        }
        Some(Subresource::Finalize) => {
            let mut merged = registry::prepare_for_finalize(&new, current);
            admit(ctx, resource, &mut merged, Some(current))?;
            Ok(merged)
        }
        Some(Subresource::Resize) => {
            let mut merged = registry::core::pod::resize::prepare(&new, current);
            admit(ctx, resource, &mut merged, Some(current))?;
            crate::fieldmanager::record_update(
                &manager,
                Some("resize"),
                &api_version,
                Some(current),
                &mut merged,
            );
            Ok(merged)
        }
        _ => {
            if let Some(ns) = &ctx.info.namespace {
                registry::meta_mut(&mut new).insert("namespace".into(), Value::String(ns.clone()));
            }
            registry::prepare_for_update(resource, &mut new, current);
            admit(ctx, resource, &mut new, Some(current))?;
            crate::fieldmanager::record_update(
                &manager,
                None,
                &api_version,
                Some(current),
                &mut new,
            );
            Ok(new)
        }
    }
}

/// 409 Conflict when the client named a resourceVersion that is not the
/// stored one.
fn check_precondition(
    ctx: &Ctx,
    resource_version: Option<i64>,
    current: &StoredObject,
) -> Result<()> {
    match resource_version {
        Some(rv) if rv != current.mod_revision => {
            Err(ApiError::from_storage(StorageError::Conflict, ctx.target()))
        }
        _ => Ok(()),
    }
}

pub(super) async fn update(ctx: Ctx) -> Result<Response> {
    let resource = ctx.info.resource;
    let mut body = ctx.object_body()?;
    check_type_meta(&mut body, &resource.api_version(), resource.kind)?;
    let precondition = body_resource_version(&body)?;
    let name = ctx.info.name.clone().unwrap_or_default();
    match registry::meta_str(&body, "name") {
        Some(n) if n != name => {
            return Err(ApiError::BadRequest(format!(
                "the name of the object ({n}) does not match the name on the URL ({name})"
            )))
        }
        _ => {}
    }
    let object = guaranteed_update(&ctx, |current| {
        // A stale object is a conflict before it is anything else: a
        // client that retries on conflict (client-go's RetryOnConflict)
        // must not get a 422 from comparing its old copy with a newer one.
        check_precondition(&ctx, precondition, current)?;
        Ok(Mutation {
            object: prepare(&ctx, body.clone(), &current.object)?,
            precondition,
        })
    })
    .await?;
    Ok(json(StatusCode::OK, &object))
}

pub(super) async fn patch(ctx: Ctx) -> Result<Response> {
    let content_type = crate::request::content_type(&ctx.headers);
    let patch_type = PatchType::from_content_type(&content_type).ok_or_else(|| {
        ApiError::UnsupportedMediaType(format!(
            "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json (got {content_type:?})"
        ))
    })?;
    let format = match patch_type {
        PatchType::Apply => crate::request::BodyFormat::Yaml,
        _ => crate::request::BodyFormat::Json,
    };
    let patch_body = crate::request::decode_body(&ctx.body, format)?;
    if matches!(patch_type, PatchType::Apply) {
        // An applied configuration repeating a key: refused with Strict,
        // a warning with Warn (the default), as upstream's apply patcher.
        if let Some(problem) = crate::request::yaml_duplicate_key(&ctx.body) {
            match ctx.query.field_validation.as_deref().unwrap_or("Warn") {
                "Strict" => {
                    return Err(ApiError::BadRequest(format!(
                        "error strict decoding YAML: {problem}"
                    )))
                }
                "Warn" => ctx.warn(problem),
                _ => {}
            }
        }
        return apply(ctx, patch_body).await;
    }
    let resource = ctx.info.resource;
    let object = guaranteed_update(&ctx, |current| {
        let patched = apply_patch(patch_type, &current.object, &patch_body, resource)?;
        // A resourceVersion in the patch is a precondition (kubectl apply
        // sends none; `kubectl patch` users sometimes do).
        check_precondition(&ctx, body_resource_version(&patched)?, current)?;
        let mut patched = patched;
        check_type_meta(&mut patched, &resource.api_version(), resource.kind)?;
        Ok(Mutation {
            object: prepare(&ctx, patched, &current.object)?,
            precondition: None,
        })
    })
    .await?;
    Ok(json(StatusCode::OK, &object))
}

/// Applies one patch document to the stored object.
pub(crate) fn apply_patch(
    patch_type: PatchType,
    current: &Value,
    patch_body: &Value,
    resource: &apimachinery::resources::ResourceInfo,
) -> Result<Value> {
    let result = match patch_type {
        PatchType::Json => patch::apply_json_patch(current, patch_body),
        PatchType::Merge => {
            if !patch_body.is_object() {
                return Err(ApiError::BadRequest(
                    "a merge patch must be a JSON object".into(),
                ));
            }
            Ok(patch::apply_merge_patch(current, patch_body))
        }
        PatchType::Strategic => {
            if !patch_body.is_object() {
                return Err(ApiError::BadRequest(
                    "a strategic merge patch must be a JSON object".into(),
                ));
            }
            patch::apply_strategic_merge_patch(
                current,
                patch_body,
                &resource.api_version(),
                resource.kind,
            )
        }
        PatchType::Apply => Ok(patch::apply_merge_patch(current, patch_body)),
    };
    let patched = result.map_err(|e| match e {
        patch::Error::TestFailed { .. } => ApiError::Invalid {
            kind: resource.kind.into(),
            group: resource.group.into(),
            name: registry::meta_str(current, "name").unwrap_or("").into(),
            causes: vec![crate::validation::FieldError {
                kind: crate::validation::FieldErrorKind::Invalid,
                field: String::new(),
                message: e.to_string(),
            }],
        },
        other => ApiError::BadRequest(format!("the patch could not be applied: {other}")),
    })?;
    if !patched.is_object() {
        return Err(ApiError::BadRequest(
            "the patch turned the object into something that is not an object".into(),
        ));
    }
    Ok(patched)
}

/// Server-side apply: the applied configuration is merged into the live
/// object with field ownership (see `crate::fieldmanager`), creating the
/// object when it does not exist.
async fn apply(ctx: Ctx, config: Value) -> Result<Response> {
    let resource = ctx.info.resource;
    let manager = match ctx.query.field_manager.as_deref() {
        Some(m) if !m.is_empty() => m.to_string(),
        _ => {
            return Err(ApiError::BadRequest(
                "PATCH requests with the apply content type require fieldManager to be set".into(),
            ))
        }
    };
    let mut config = config;
    if !config.is_object() {
        return Err(ApiError::BadRequest(
            "the applied configuration must be an object".into(),
        ));
    }
    check_type_meta(&mut config, &resource.api_version(), resource.kind)?;
    let name = ctx.info.name.clone().unwrap_or_default();
    match registry::meta_str(&config, "name") {
        Some(n) if n != name => {
            return Err(ApiError::BadRequest(format!(
                "the name of the object ({n}) does not match the name on the URL ({name})"
            )))
        }
        _ => {}
    }
    let api_version = resource.api_version();
    let force = ctx.query.force;
    let result = guaranteed_update(&ctx, |current| {
        let merged = crate::fieldmanager::apply(
            &manager,
            force,
            &api_version,
            Some(&current.object),
            &config,
        )
        .map_err(ApiError::ApplyConflict)?;
        let mut new = merged;
        registry::validate_identity(resource, &new, &current.object)?;
        if ctx.info.subresource.is_none() {
            registry::prepare_for_update(resource, &mut new, &current.object);
        } else if ctx.info.subresource == Some(Subresource::Resize) {
            new = registry::core::pod::resize::prepare(&new, &current.object);
        } else {
            new = registry::prepare_for_status_write(resource, &new, &current.object);
        }
        admit(&ctx, resource, &mut new, Some(&current.object))?;
        Ok(Mutation {
            object: new,
            precondition: None,
        })
    })
    .await;
    match result {
        Ok(object) => Ok(json(StatusCode::OK, &object)),
        Err(ApiError::NotFound(_)) if ctx.info.subresource.is_none() => {
            registry::meta_mut(&mut config).insert("name".into(), Value::String(name));
            let created = crate::fieldmanager::apply(&manager, force, &api_version, None, &config)
                .map_err(ApiError::ApplyConflict)?;
            let object = create_object(&ctx, created).await?;
            Ok(json(StatusCode::CREATED, &object))
        }
        Err(e) => Err(e),
    }
}
