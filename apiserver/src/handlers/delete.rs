//! `delete` and `deletecollection`.
//!
//! Deleting is not always removing. An object goes away at once only when
//! nothing needs to see it go:
//!
//! - with finalizers (`metadata.finalizers`, or what the kind's strategy says
//!   blocks removal, such as a namespace's `spec.finalizers`), it only gets a
//!   `deletionTimestamp`; whoever owns a finalizer cleans up and removes it,
//!   and the last removal deletes the object (see `guaranteed_update`);
//! - `propagationPolicy: Foreground` adds the `foregroundDeletion` finalizer
//!   (the garbage collector deletes the dependents first), `Orphan` adds
//!   `orphan` (the garbage collector releases them);
//! - an object the kind's strategy deletes gracefully (a pod bound to a node)
//!   gets a `deletionTimestamp` and `deletionGracePeriodSeconds`; whoever runs
//!   it (the pod's kubelet) stops it within the grace period and then deletes
//!   it with grace 0, which removes it. Unbound and finished pods have nothing
//!   to stop and go at once.

use axum::response::Response;
use http::StatusCode;
use serde_json::{json, Value};

use super::read::list_objects;
use super::{json, Ctx};
use crate::errors::{ApiError, Result};
use crate::registry::{self, finalizers, meta_mut};
use crate::storage::StorageError;

/// The parts of `DeleteOptions` we honour.
#[derive(Debug, Default, Clone)]
struct DeleteOptions {
    grace_period_seconds: Option<i64>,
    propagation_policy: Option<String>,
    precondition_uid: Option<String>,
    precondition_rv: Option<i64>,
    dry_run: bool,
}

fn delete_options(ctx: &Ctx) -> Result<DeleteOptions> {
    let mut opts = DeleteOptions {
        grace_period_seconds: ctx.query.grace_period_seconds,
        propagation_policy: ctx.query.propagation_policy.clone(),
        dry_run: ctx.query.dry_run,
        ..Default::default()
    };
    if ctx.body.iter().all(|b| b.is_ascii_whitespace()) {
        return Ok(opts);
    }
    let body = ctx.object_body()?;
    if let Some(kind) = body.get("kind").and_then(Value::as_str) {
        if kind != "DeleteOptions" {
            return Err(ApiError::BadRequest(format!(
                "the body of a delete request must be DeleteOptions, not {kind}"
            )));
        }
    }
    if let Some(g) = body.get("gracePeriodSeconds").filter(|v| !v.is_null()) {
        opts.grace_period_seconds =
            Some(g.as_i64().ok_or_else(|| {
                ApiError::BadRequest("gracePeriodSeconds must be an integer".into())
            })?);
    }
    match body.get("propagationPolicy") {
        Some(Value::String(p)) => opts.propagation_policy = Some(p.clone()),
        Some(Value::Null) | None => {}
        Some(_) => {
            return Err(ApiError::BadRequest(
                "propagationPolicy must be a string".into(),
            ))
        }
    }
    if body.get("orphanDependents").and_then(Value::as_bool) == Some(true)
        && opts.propagation_policy.is_none()
    {
        opts.propagation_policy = Some("Orphan".into());
    }
    if let Some(uid) = body.pointer("/preconditions/uid").and_then(Value::as_str) {
        opts.precondition_uid = Some(uid.to_string());
    }
    if let Some(rv) = body
        .pointer("/preconditions/resourceVersion")
        .and_then(Value::as_str)
    {
        opts.precondition_rv = Some(
            rv.parse()
                .map_err(|_| ApiError::BadRequest(format!("invalid resourceVersion {rv:?}")))?,
        );
    }
    if let Some(dry) = body.get("dryRun").and_then(Value::as_array) {
        opts.dry_run |= dry.iter().any(|d| d.as_str() == Some("All"));
    }
    match opts.propagation_policy.as_deref() {
        None | Some("Background") | Some("Foreground") | Some("Orphan") => {}
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "unsupported propagationPolicy {other:?}: Background, Foreground or Orphan"
            )))
        }
    }
    Ok(opts)
}

pub(super) async fn delete(ctx: Ctx) -> Result<Response> {
    let opts = delete_options(&ctx)?;
    let key = ctx.key();
    let (object, _) = delete_key(&ctx, &key, &opts).await?;
    Ok(json(StatusCode::OK, &object))
}

/// Deletes (or starts deleting) one key; returns the object as it now is and
/// whether it is gone.
async fn delete_key(ctx: &Ctx, key: &str, opts: &DeleteOptions) -> Result<(Value, bool)> {
    let store = &ctx.server.store;
    let strategy = registry::strategy_for(ctx.info.resource);
    for _ in 0..16 {
        let current = match store.get(key).await {
            Ok(Some(c)) => c,
            Ok(None) => return Err(ApiError::NotFound(target_of(ctx, key))),
            Err(e) => return Err(ApiError::from_storage(e, target_of(ctx, key))),
        };
        let obj = &current.object;
        // A custom resource that cannot be read in the version asked for
        // is not deleted (upstream reads it through its converter first).
        crate::conversion::to_request(&ctx.server, ctx.info.resource, obj).await?;
        if let Some(uid) = &opts.precondition_uid {
            let have = registry::meta_str(obj, "uid").unwrap_or("");
            if uid != have {
                return Err(ApiError::Conflict(
                    target_of(ctx, key),
                    format!("Precondition failed: UID in precondition: {uid}, UID in object meta: {have}"),
                ));
            }
        }
        if let Some(rv) = opts.precondition_rv {
            if rv != current.mod_revision {
                return Err(ApiError::Conflict(
                    target_of(ctx, key),
                    format!(
                        "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
                        current.mod_revision
                    ),
                ));
            }
        }

        crate::authorization::node::admit_volume(&ctx.user, ctx.info.resource, obj)?;
        super::webhooks::admit_delete(ctx, obj, opts.dry_run).await?;

        let grace = strategy
            .graceful_deletion(obj, opts.grace_period_seconds)
            .unwrap_or(0);
        let mut new_finalizers = finalizers(obj);
        let already_deleting = obj.pointer("/metadata/deletionTimestamp").is_some();
        if !already_deleting {
            let add = match opts.propagation_policy.as_deref() {
                Some("Foreground") => Some("foregroundDeletion"),
                Some("Orphan") => Some("orphan"),
                _ => None,
            };
            if let Some(f) = add {
                if !new_finalizers.iter().any(|x| x == f) {
                    new_finalizers.push(f.into());
                }
            }
        }
        let blocked = strategy.removal_blocked(obj);

        let remove_now = new_finalizers.is_empty() && !blocked && grace == 0;
        if remove_now {
            if opts.dry_run {
                return Ok((current.object, true));
            }
            match store.delete(key, current.mod_revision).await {
                Ok(_) => {
                    strategy.release(&ctx.server, obj).await;
                    strategy.after_write(&ctx.server, obj);
                    return Ok((current.object, true));
                }
                Err(StorageError::Conflict) => continue,
                Err(e) => return Err(ApiError::from_storage(e, target_of(ctx, key))),
            }
        }

        // Mark for deletion (or shorten a running graceful deletion).
        let mut updated = current.object.clone();
        {
            let meta = meta_mut(&mut updated);
            let current_grace = meta
                .get("deletionGracePeriodSeconds")
                .and_then(Value::as_i64);
            // A deletion under way may only be shortened (as upstream's
            // BeforeDelete): the kubelet's confirming delete of a pod that
            // has finished is grace 0, even while finalizers keep the pod,
            // so that removing the last finalizer removes the pod.
            let shorten = current_grace.is_some_and(|g| g > 0 && grace < g);
            if !already_deleting || shorten {
                meta.insert("deletionTimestamp".into(), json!(registry::now_plus(grace)));
                meta.insert("deletionGracePeriodSeconds".into(), json!(grace));
            }
            // Being deleted changes what controllers of the object should
            // do, so the first mark bumps a set generation (as upstream).
            if !already_deleting {
                if let Some(g) = meta
                    .get("generation")
                    .and_then(Value::as_i64)
                    .filter(|g| *g > 0)
                {
                    meta.insert("generation".into(), json!(g + 1));
                }
            }
            if new_finalizers.is_empty() {
                meta.remove("finalizers");
            } else {
                meta.insert("finalizers".into(), json!(new_finalizers));
            }
        }
        strategy.prepare_for_delete(&mut updated);
        if updated == current.object {
            return Ok((current.object, false));
        }
        if opts.dry_run {
            return Ok((updated, false));
        }
        match store.update(key, &updated, current.mod_revision).await {
            Ok(rev) => {
                crate::storage::etcd::set_resource_version(&mut updated, rev);
                strategy.after_write(&ctx.server, obj);
                return Ok((updated, false));
            }
            Err(StorageError::Conflict) => continue,
            Err(e) => return Err(ApiError::from_storage(e, target_of(ctx, key))),
        }
    }
    Err(ApiError::from_storage(
        StorageError::Conflict,
        target_of(ctx, key),
    ))
}

fn target_of(ctx: &Ctx, key: &str) -> crate::errors::Target {
    let name = key.rsplit('/').next().unwrap_or("").to_string();
    crate::errors::Target::new(ctx.info.resource, name)
}

pub(super) async fn delete_collection(ctx: Ctx) -> Result<Response> {
    let opts = delete_options(&ctx)?;
    let (items, meta) = list_objects(&ctx).await?;
    let store = &ctx.server.store;
    let mut deleted = Vec::new();
    for item in items {
        let name = registry::meta_str(&item, "name").unwrap_or("").to_string();
        let ns = registry::meta_str(&item, "namespace").map(str::to_string);
        let key = store.key(ctx.info.resource.storage_name(), ns.as_deref(), &name);
        match delete_key(&ctx, &key, &opts).await {
            Ok((obj, _)) => deleted.push(obj),
            // Gone in the meantime: that is what we wanted.
            Err(ApiError::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
    }
    let resource = ctx.info.resource;
    let body = json!({
        "kind": format!("{}List", resource.kind),
        "apiVersion": resource.api_version(),
        "metadata": meta,
        "items": deleted,
    });
    Ok(json(StatusCode::OK, &body))
}
