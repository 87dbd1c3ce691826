//! Subresources with their own object shape: `scale`, `binding`, `eviction`.
//!
//! - `<workload>/scale` shows `spec.replicas` as an `autoscaling/v1 Scale`
//!   (what `kubectl scale` and autoscalers speak), and writes go back into the
//!   parent's `spec.replicas`.
//! - `pods/binding` is how the scheduler assigns a node: it sets
//!   `spec.nodeName` exactly once (409 when the pod is already bound), plus the
//!   `PodScheduled` condition.
//! - `pods/eviction` is a polite delete (`kubectl drain`): the pod is deleted
//!   gracefully.

use apimachinery::patch::PatchType;
use axum::response::Response;
use http::StatusCode;
use serde_json::{json, Value};

use super::write::{apply_patch, guaranteed_update, Mutation};
use super::{body_resource_version, check_type_meta, json, Ctx};
use crate::errors::{ApiError, Result};
use crate::registry::{self, meta_mut};

/// The Scale view of a workload.
fn scale_of(obj: &Value) -> Value {
    let meta = obj.get("metadata").cloned().unwrap_or_else(|| json!({}));
    let selector = obj
        .pointer("/spec/selector")
        .and_then(|s| apimachinery::labels::Selector::from_label_selector_json(s).ok())
        .map(|s| s.to_string())
        .unwrap_or_default();
    let mut status = json!({
        "replicas": obj.pointer("/status/replicas").and_then(Value::as_i64).unwrap_or(0),
    });
    if !selector.is_empty() {
        status["selector"] = json!(selector);
    }
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": meta.get("name"),
            "namespace": meta.get("namespace"),
            "uid": meta.get("uid"),
            "resourceVersion": meta.get("resourceVersion"),
            "creationTimestamp": meta.get("creationTimestamp"),
        },
        "spec": {"replicas": obj.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(0)},
        "status": status,
    })
}

pub(super) async fn get_scale(ctx: Ctx) -> Result<Response> {
    match ctx.server.store.get(&ctx.key()).await {
        Ok(Some(stored)) => Ok(json(StatusCode::OK, &scale_of(&stored.object))),
        Ok(None) => Err(ApiError::NotFound(ctx.target())),
        Err(e) => Err(ApiError::from_storage(e, ctx.target())),
    }
}

/// Writes a new Scale back into the workload.
async fn write_scale<F>(ctx: &Ctx, mut new_scale: F) -> Result<Response>
where
    F: FnMut(&Value) -> Result<Value>,
{
    let resource = ctx.info.resource;
    let object = guaranteed_update(ctx, |current| {
        let scale = new_scale(&scale_of(&current.object))?;
        let precondition = body_resource_version(&scale)?;
        let replicas = scale.pointer("/spec/replicas").and_then(Value::as_i64);
        let replicas = match replicas {
            Some(r) if r >= 0 => r,
            Some(r) => {
                return Err(ApiError::Invalid {
                    kind: "Scale".into(),
                    group: "autoscaling".into(),
                    name: ctx.info.name.clone().unwrap_or_default(),
                    causes: vec![crate::validation::FieldError {
                        kind: crate::validation::FieldErrorKind::Invalid,
                        field: "spec.replicas".into(),
                        message: format!("Invalid value: {r}: must be greater than or equal to 0"),
                    }],
                })
            }
            None => 0,
        };
        let mut updated = current.object.clone();
        if let Some(spec) = updated.get_mut("spec").and_then(Value::as_object_mut) {
            spec.insert("replicas".into(), json!(replicas));
        }
        registry::prepare_for_update(resource, &mut updated, &current.object);
        super::create::admit(ctx, resource, &mut updated, Some(&current.object))?;
        Ok(Mutation {
            object: updated,
            precondition,
        })
    })
    .await?;
    Ok(json(StatusCode::OK, &scale_of(&object)))
}

pub(super) async fn update_scale(ctx: Ctx) -> Result<Response> {
    let mut body = ctx.object_body()?;
    check_type_meta(&mut body, "autoscaling/v1", "Scale")?;
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
    let scale_resource = apimachinery::resources::ResourceInfo {
        group: "autoscaling",
        version: "v1",
        kind: "Scale",
        plural: "scale",
        singular: "scale",
        namespaced: true,
        short_names: &[],
        categories: &[],
        subresources: &[],
    };
    write_scale(&ctx, |scale| {
        apply_patch(patch_type, scale, &patch, &scale_resource)
    })
    .await
}

pub(super) async fn bind(ctx: Ctx) -> Result<Response> {
    let mut body = ctx.object_body()?;
    check_type_meta(&mut body, "v1", "Binding")?;
    let node = body
        .pointer("/target/name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiError::Invalid {
            kind: "Binding".into(),
            group: String::new(),
            name: ctx.info.name.clone().unwrap_or_default(),
            causes: vec![crate::validation::FieldError {
                kind: crate::validation::FieldErrorKind::Required,
                field: "target.name".into(),
                message: "Required value".into(),
            }],
        })?
        .to_string();
    let pod_name = ctx.info.name.clone().unwrap_or_default();
    let annotations = body.pointer("/metadata/annotations").cloned();
    let uid_precondition = body
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .map(str::to_string);
    guaranteed_update(&ctx, |current| {
        let pod = &current.object;
        if let Some(uid) = &uid_precondition {
            if registry::meta_str(pod, "uid") != Some(uid.as_str()) {
                return Err(ApiError::Conflict(
                    ctx.target(),
                    format!("the UID in the binding ({uid}) does not match the pod"),
                ));
            }
        }
        if pod.pointer("/metadata/deletionTimestamp").is_some() {
            return Err(ApiError::Conflict(
                ctx.target(),
                format!("pod {pod_name} is being deleted, cannot be assigned to a host"),
            ));
        }
        if let Some(existing) = pod
            .pointer("/spec/nodeName")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
        {
            return Err(ApiError::Conflict(
                ctx.target(),
                format!("pod {pod_name} is already assigned to node \"{existing}\""),
            ));
        }
        let mut updated = pod.clone();
        if let Some(spec) = updated.get_mut("spec").and_then(Value::as_object_mut) {
            spec.insert("nodeName".into(), json!(node));
        }
        if let Some(Value::Object(extra)) = &annotations {
            let meta = meta_mut(&mut updated);
            let ann = meta.entry("annotations").or_insert_with(|| json!({}));
            if let Some(ann) = ann.as_object_mut() {
                for (k, v) in extra {
                    ann.insert(k.clone(), v.clone());
                }
            }
        }
        set_condition(&mut updated, "PodScheduled", "True");
        Ok(Mutation {
            object: updated,
            precondition: None,
        })
    })
    .await?;
    Ok(json(
        StatusCode::CREATED,
        &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}),
    ))
}

fn set_condition(pod: &mut Value, kind: &str, status: &str) {
    let now = registry::now();
    let Some(obj) = pod.as_object_mut() else {
        return;
    };
    let st = obj.entry("status").or_insert_with(|| json!({}));
    let Some(st) = st.as_object_mut() else { return };
    let conds = st.entry("conditions").or_insert_with(|| json!([]));
    let Some(conds) = conds.as_array_mut() else {
        return;
    };
    let new =
        json!({"type": kind, "status": status, "lastProbeTime": null, "lastTransitionTime": now});
    match conds
        .iter_mut()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(kind))
    {
        Some(c) => *c = new,
        None => conds.push(new),
    }
}

pub(super) async fn evict(ctx: Ctx) -> Result<Response> {
    let mut body = ctx.object_body()?;
    check_type_meta(&mut body, "policy/v1", "Eviction")?;
    let grace = body
        .pointer("/deleteOptions/gracePeriodSeconds")
        .and_then(Value::as_i64);
    let mut ctx = ctx;
    ctx.query.grace_period_seconds = grace.or(ctx.query.grace_period_seconds);
    ctx.body = bytes::Bytes::new();
    super::delete::delete(ctx).await?;
    Ok(json(
        StatusCode::CREATED,
        &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}),
    ))
}
