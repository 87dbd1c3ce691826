//! `create`: POST to a collection.
//!
//! decode body -> check kind and namespace -> name from `generateName` ->
//! namespace admission -> the kind's admission -> mutating webhooks ->
//! server-owned fields -> defaults -> validation -> LimitRanger (a pod's
//! default resources, and bounds) -> admission policies and validating
//! webhooks -> ResourceQuota (checked and charged) -> the kind's
//! version conversion -> `before_create` (e.g. a Service's cluster IP) -> one etcd transaction
//! ("key absent and namespace present") -> 201. What is particular to a kind comes from its strategy
//! ([`crate::registry::Strategy`]).

use apimachinery::resources::{ResourceInfo, Subresource};
use axum::response::Response;
use http::StatusCode;
use rand::Rng;
use serde_json::Value;

use super::{check_type_meta, json, Ctx};
use crate::admission::namespace_lifecycle::{namespace_target, NamespaceLifecycle};
use crate::errors::{ApiError, Result, Target};
use crate::registry::{self, meta_mut, meta_str};
use crate::storage::StorageError;
use crate::validation::{FieldError, FieldErrorKind};

/// Characters upstream uses for generated name suffixes (no vowels, no
/// look-alikes, so a random suffix never spells a word).
const SUFFIX_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// Five random characters, upstream's suffix of generated names.
pub(crate) fn random_suffix() -> String {
    let mut rng = rand::thread_rng();
    (0..5)
        .map(|_| SUFFIX_ALPHABET[rng.gen_range(0..SUFFIX_ALPHABET.len())] as char)
        .collect()
}

/// `unknown field "spec.x"` or `duplicate field "metadata.name"`, as
/// upstream words them.
fn field_problem(f: &str) -> String {
    match f.strip_suffix(" (duplicate)") {
        Some(d) => format!("duplicate field \"{}\"", d.trim_start_matches('.')),
        None => format!("unknown field \"{}\"", f.trim_start_matches('.')),
    }
}

/// The 422 upstream's patcher gives when the patched object has fields the
/// kind does not (with `fieldValidation=Strict`): `"" is invalid: patch:
/// Invalid value: "<the patched object>": strict decoding error: ...`.
fn strict_patch_error(patched: &Value, problem: &str) -> ApiError {
    ApiError::Invalid {
        kind: String::new(),
        group: String::new(),
        name: String::new(),
        causes: vec![crate::validation::invalid(
            "patch",
            &Value::String(patched.to_string()),
            problem,
        )],
    }
}

/// Whether the request is a server-side apply.
fn is_apply(ctx: &Ctx) -> bool {
    ctx.headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/apply-patch"))
}

/// Defaults and validates an object; on update `old` is the stored object.
/// With `?fieldValidation=Strict`, fields the kind does not have are a 400
/// instead of being dropped.
pub(crate) fn admit(
    ctx: &Ctx,
    resource: &ResourceInfo,
    obj: &mut Value,
    old: Option<&Value>,
) -> Result<()> {
    // Strict rejects unknown fields, Warn (the default) reports them in a
    // Warning header, Ignore drops them silently.
    let mode = ctx.query.field_validation.as_deref().unwrap_or("Warn");
    let strict = mode == "Strict";
    let sent = (mode != "Ignore").then(|| obj.clone());
    registry::apply_defaults(resource, obj).map_err(|e| {
        ApiError::BadRequest(format!(
            "the body of the request does not decode as a {}: {e}",
            resource.kind
        ))
    })?;
    if let Some(sent) = sent {
        let mut unknown = crate::openapi::unknown_fields(&sent, obj);
        // JSON bodies (also those sent with no content type) may repeat a
        // key, which the decoded object no longer shows.
        if matches!(
            crate::request::object_body_format(&ctx.headers),
            Ok(crate::request::BodyFormat::Json)
        ) {
            unknown.extend(
                crate::openapi::duplicate_fields(&ctx.body)
                    .into_iter()
                    .map(|f| format!("{f} (duplicate)")),
            );
        }
        if !unknown.is_empty() && !strict {
            for f in &unknown {
                ctx.warn(field_problem(f));
            }
        }
        if !unknown.is_empty() && strict && is_apply(ctx) {
            // Server-side apply reads the patch through the kind's schema
            // first, and fails as upstream's structured merge does.
            let paths: Vec<String> = unknown
                .iter()
                .map(|f| {
                    format!(
                        "{}: field not declared in schema",
                        f.trim_end_matches(" (duplicate)")
                    )
                })
                .collect();
            let errors = match paths.as_slice() {
                [one] => one.clone(),
                many => format!("errors:\n  {}", many.join("\n  ")),
            };
            return Err(ApiError::BadRequest(format!(
                "failed to create typed patch object ({}/{}; {}/{}, Kind={}): {errors}",
                meta_str(obj, "namespace").unwrap_or(""),
                meta_str(obj, "name").unwrap_or(""),
                resource.group,
                resource.version,
                resource.kind,
            )));
        }
        if !unknown.is_empty() && strict {
            let list: Vec<String> = unknown.iter().map(|f| field_problem(f)).collect();
            let problem = format!("strict decoding error: {}", list.join(", "));
            if ctx.info.verb == crate::request::Verb::Patch {
                // Upstream's patcher decodes the patched object and reports
                // it as an invalid `patch` of no particular kind (a 422).
                return Err(strict_patch_error(&sent, &problem));
            }
            return Err(ApiError::BadRequest(format!(
                "{kind} in version \"{version}\" cannot be handled as a {kind}: {problem}",
                kind = resource.kind,
                version = resource.version,
            )));
        }
    }
    let causes = match (old, ctx.info.subresource) {
        (None, _) => registry::validate_create(resource, obj),
        (Some(old), Some(sub)) => registry::validate_subresource_update(resource, sub, obj, old)
            .unwrap_or_else(|| registry::validate_update(resource, obj, old)),
        (Some(old), None) => registry::validate_update(resource, obj, old),
    };
    if causes.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Invalid {
            kind: resource.kind.into(),
            group: resource.group.into(),
            name: meta_str(obj, "name").unwrap_or("").into(),
            causes,
        })
    }
}

pub(super) async fn create(ctx: Ctx) -> Result<Response> {
    let resource = ctx.info.resource;
    let mut obj = ctx.object_body()?;
    check_type_meta(&mut obj, &resource.api_version(), resource.kind)?;
    if let Some((target, sub)) = registry::strategy_for(resource).creates_as() {
        return Box::pin(create_as(ctx, &obj, target, sub)).await;
    }
    let object = create_object(&ctx, obj).await?;
    // Asked for a Table (as for a get), the new object comes back as one.
    let body = match ctx.table() {
        Some(include) => crate::tables::table_for_object(resource, &object, include, true),
        None => object,
    };
    Ok(json(StatusCode::CREATED, &body))
}

/// A create of a kind that is served as `sub` of the `target` object the
/// body names (see [`registry::Strategy::creates_as`]): the request goes on
/// as that subresource's, with the same body.
async fn create_as(
    mut ctx: Ctx,
    obj: &Value,
    target: &'static ResourceInfo,
    sub: Subresource,
) -> Result<Response> {
    let name = meta_str(obj, "name").unwrap_or_default().to_string();
    if name.is_empty() {
        return Err(ApiError::Invalid {
            kind: ctx.info.resource.kind.into(),
            group: ctx.info.resource.group.into(),
            name,
            causes: vec![crate::validation::required("metadata.name")],
        });
    }
    ctx.info.resource = target;
    ctx.info.name = Some(name);
    ctx.info.subresource = Some(sub);
    super::route(ctx).await
}

/// `create` of a kind that is answered, not stored (a TokenReview, a
/// SubjectAccessReview, ...): decode, default and validate the posted
/// object as any other, let the kind's strategy fill in the answer, and send
/// it back; nothing is written.
pub(super) async fn review(ctx: Ctx) -> Result<Response> {
    let resource = ctx.info.resource;
    // An answer is no stored object: it has no Table form (upstream's
    // negotiation refuses it before anything is decoded).
    if ctx.table().is_some() {
        return Err(ApiError::NotAcceptable(
            "only the following media types are accepted: application/json, application/yaml, application/vnd.kubernetes.protobuf".into(),
        ));
    }
    let mut obj = ctx.object_body()?;
    check_type_meta(&mut obj, &resource.api_version(), resource.kind)?;
    if let Some(url_ns) = &ctx.info.namespace {
        match meta_str(&obj, "namespace") {
            Some(ns) if !ns.is_empty() && ns != url_ns => {
                return Err(ApiError::BadRequest(format!(
                    "the namespace of the provided object ({ns}) does not match the namespace sent on the request ({url_ns})"
                )))
            }
            _ => {
                meta_mut(&mut obj).insert("namespace".into(), Value::String(url_ns.clone()));
            }
        }
    }
    registry::apply_defaults(resource, &mut obj).map_err(|e| {
        ApiError::BadRequest(format!(
            "the body of the request does not decode as a {}: {e}",
            resource.kind
        ))
    })?;
    let strategy = registry::strategy_for(resource);
    let causes = strategy.validate(&obj);
    if !causes.is_empty() {
        return Err(ApiError::Invalid {
            kind: resource.kind.into(),
            group: resource.group.into(),
            name: meta_str(&obj, "name").unwrap_or("").into(),
            causes,
        });
    }
    strategy.review(&ctx.server, &ctx.user, &mut obj).await?;
    Ok(json(StatusCode::CREATED, &obj))
}

/// The create pipeline, shared with server-side apply's create-on-missing.
pub(crate) async fn create_object(ctx: &Ctx, mut obj: Value) -> Result<Value> {
    let resource = ctx.info.resource;
    // Namespace: from the URL; a body naming another one is an error.
    let namespace = if resource.namespaced {
        let url_ns = ctx.info.namespace.clone().ok_or_else(|| {
            ApiError::BadRequest(format!(
                "{} are namespaced: create them under /namespaces/<namespace>/",
                resource.plural
            ))
        })?;
        match meta_str(&obj, "namespace") {
            Some(ns) if !ns.is_empty() && ns != url_ns => {
                return Err(ApiError::BadRequest(format!(
                    "the namespace of the provided object ({ns}) does not match the namespace sent on the request ({url_ns})"
                )))
            }
            _ => {}
        }
        meta_mut(&mut obj).insert("namespace".into(), Value::String(url_ns.clone()));
        Some(url_ns)
    } else {
        meta_mut(&mut obj).remove("namespace");
        None
    };

    let explicit_name = meta_str(&obj, "name").unwrap_or("").to_string();
    let generate_name = meta_str(&obj, "generateName").unwrap_or("").to_string();
    if explicit_name.is_empty() && generate_name.is_empty() {
        return Err(ApiError::Invalid {
            kind: resource.kind.into(),
            group: resource.group.into(),
            name: String::new(),
            causes: vec![FieldError {
                kind: FieldErrorKind::Required,
                field: "metadata.name".into(),
                message: "name or generateName is required".into(),
            }],
        });
    }

    if let Some(ns) = &namespace {
        ctx.server.namespaces.admit_create(&ctx.server, ns).await?;
    }
    let strategy = registry::strategy_for(resource);
    strategy.admit_create(&ctx.server, &mut obj).await?;
    crate::authorization::escalation::admit(
        &ctx.server.authorizer,
        &ctx.user,
        resource,
        namespace.as_deref().unwrap_or(""),
        &obj,
        None,
    )?;
    crate::authorization::node::admit_volume(&ctx.user, resource, &obj)?;
    super::webhooks::mutate_create(ctx, &mut obj).await?;

    let uid = uuid::Uuid::new_v4().to_string();
    // A generated name can collide; upstream then returns AlreadyExists and the
    // client retries. We retry a few times ourselves first.
    let attempts = if explicit_name.is_empty() { 5 } else { 1 };
    let mut last_err = None;
    for _ in 0..attempts {
        let name = if explicit_name.is_empty() {
            // Upstream truncates the prefix so prefix + suffix fits 63 chars.
            let mut prefix = generate_name.clone();
            prefix.truncate(58);
            format!("{prefix}{}", random_suffix())
        } else {
            explicit_name.clone()
        };
        let mut candidate = obj.clone();
        meta_mut(&mut candidate).insert("name".into(), Value::String(name.clone()));
        registry::prepare_for_create(resource, &mut candidate, &uid);
        strategy.record_creator(&ctx.user, &mut candidate);
        admit(ctx, resource, &mut candidate, None)?;
        crate::admission::limit_ranger::admit_create(&ctx.server, resource, &mut candidate).await?;
        super::webhooks::validate_create(ctx, &candidate).await?;
        let has_managed_fields = candidate
            .pointer("/metadata/managedFields")
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty());
        if !has_managed_fields {
            crate::fieldmanager::record_update(
                &ctx.manager(),
                None,
                &resource.api_version(),
                None,
                &mut candidate,
            );
        }
        // A dry run is judged against the quotas too, but charges nothing.
        crate::admission::resource_quota::admit_create(
            &ctx.server,
            resource,
            &candidate,
            !ctx.query.dry_run,
        )
        .await?;
        if ctx.query.dry_run {
            return Ok(candidate);
        }
        // Stored in the kind's storage version (the answer is converted
        // back to the request's, see `route`).
        crate::conversion::to_storage(&ctx.server, resource, &mut candidate).await?;
        strategy.before_create(&ctx.server, &mut candidate).await?;
        let key = ctx
            .server
            .store
            .key(resource.storage_name(), namespace.as_deref(), &name);
        let ns_key = namespace
            .as_deref()
            .map(|ns| NamespaceLifecycle::key(&ctx.server, ns));
        let result = ctx
            .server
            .store
            .create(&key, &candidate, ns_key.as_deref())
            .await;
        if result.is_err() {
            strategy.release(&ctx.server, &candidate).await;
        }
        match result {
            Ok(rev) => {
                crate::storage::etcd::set_resource_version(&mut candidate, rev);
                strategy.after_write(&ctx.server, &candidate);
                tracing::debug!(name = %name, rev, "created");
                return Ok(candidate);
            }
            Err(StorageError::AlreadyExists) => {
                last_err = Some(ApiError::AlreadyExists(Target::new(resource, name)));
            }
            Err(StorageError::NotFound) => {
                // The namespace compare failed: it vanished under us.
                return Err(ApiError::NotFound(namespace_target(
                    namespace.as_deref().unwrap_or_default(),
                )));
            }
            Err(e) => return Err(ApiError::from_storage(e, Target::new(resource, name))),
        }
    }
    Err(last_err.unwrap_or_else(|| ApiError::Internal("create gave up".into())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_strict_patch_error_reads_as_upstreams() {
        let patched = serde_json::json!({"kind": "WebApp", "spec": {"replicaz": 1}});
        let err = strict_patch_error(
            &patched,
            "strict decoding error: unknown field \"spec.replicaz\"",
        );
        assert_eq!(err.code(), http::StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            err.to_string(),
            r#" "" is invalid: patch: Invalid value: "{\"kind\":\"WebApp\",\"spec\":{\"replicaz\":1}}": strict decoding error: unknown field "spec.replicaz""#
        );
        let status = err.status();
        assert_eq!(status["reason"], "Invalid");
        assert_eq!(status["details"]["causes"][0]["field"], "patch");
        assert_eq!(
            status["details"]["causes"][0]["reason"],
            "FieldValueInvalid"
        );
    }
}
