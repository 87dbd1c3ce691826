//! `get` and `list`.
//!
//! A list is a range read of one etcd prefix (one namespace, or all of them),
//! filtered by label and field selectors, and paginated with `limit` and
//! `continue`. Every page of a paginated list is read at the revision of the
//! first page, so together the pages are one consistent snapshot; the
//! continue token carries that revision and the key to resume after. When etcd
//! has compacted that revision the token has expired: 410, start over.

use apimachinery::fields::FieldSelector;
use apimachinery::labels::Selector;
use axum::response::Response;
use base64::Engine;
use http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{json, Ctx};
use crate::errors::{ApiError, Result};
use crate::storage::StorageError;

pub(super) async fn get(ctx: Ctx) -> Result<Response> {
    let object = read_one(&ctx).await?;
    Ok(match ctx.table() {
        Some(include) => json(
            StatusCode::OK,
            &crate::tables::table_for_object(ctx.info.resource, &object, include, true),
        ),
        None => json(StatusCode::OK, &object),
    })
}

/// The object `ctx` names, as read in the version asked for (a custom
/// resource stored in another version is converted).
pub(super) async fn read_one(ctx: &Ctx) -> Result<Value> {
    let mut object = match ctx.server.store.get(&ctx.key()).await {
        Ok(Some(stored)) => stored.object,
        Ok(None) => return Err(ApiError::NotFound(ctx.target())),
        Err(e) => return Err(ApiError::from_storage(e, ctx.target())),
    };
    crate::conversion::read_object(&ctx.server, ctx.info.resource, &mut object).await?;
    Ok(object)
}

/// Every object of a computed kind (ComponentStatus, the resource
/// metrics) in the request's namespace (all, for a cluster-wide request):
/// the strategy makes them on each read.
async fn computed(ctx: &Ctx) -> Result<Vec<Value>> {
    let strategy = crate::registry::strategy_for(ctx.info.resource);
    let namespace = ctx.info.namespace.as_deref();
    let objects = match strategy.computed(&ctx.server, namespace) {
        Some(objects) => objects.await,
        None => {
            return Err(ApiError::Internal(format!(
                "{} is neither stored nor computed",
                ctx.info.resource.plural
            )))
        }
    };
    Ok(objects
        .into_iter()
        .filter(|o| {
            namespace.is_none_or(|ns| crate::registry::meta_str(o, "namespace") == Some(ns))
        })
        .collect())
}

/// `get` of a computed kind.
pub(super) async fn get_computed(ctx: Ctx) -> Result<Response> {
    let name = ctx.info.name.clone().unwrap_or_default();
    let found = computed(&ctx)
        .await?
        .into_iter()
        .find(|o| crate::registry::meta_str(o, "name") == Some(name.as_str()));
    let Some(object) = found else {
        return Err(ApiError::NotFound(ctx.target()));
    };
    Ok(match ctx.table() {
        Some(include) => json(
            StatusCode::OK,
            &crate::tables::table_for_object(ctx.info.resource, &object, include, true),
        ),
        None => json(StatusCode::OK, &object),
    })
}

/// `list` of a computed kind, filtered by the selectors.
pub(super) async fn list_computed(ctx: Ctx) -> Result<Response> {
    let filter = Filter::from_ctx(&ctx)?;
    let items: Vec<Value> = computed(&ctx)
        .await?
        .into_iter()
        .filter(|o| filter.matches(o))
        .collect();
    let resource = ctx.info.resource;
    let meta = json!({"resourceVersion": ""});
    if let Some(include) = ctx.table() {
        let table = crate::tables::table_for_list(resource, &items, &meta, include);
        return Ok(json(StatusCode::OK, &table));
    }
    Ok(json(
        StatusCode::OK,
        &json!({
            "kind": format!("{}List", resource.kind),
            "apiVersion": resource.api_version(),
            "metadata": meta,
            "items": items,
        }),
    ))
}

/// What a `continue` token holds.
#[derive(Serialize, Deserialize)]
struct ContinueToken {
    /// The revision the list is read at.
    rv: i64,
    /// The key to resume from (inclusive).
    start: String,
}

/// The `rv` of a continue token that reads on at the newest revision
/// (upstream's): handed out when the first pages' revision is compacted.
const INCONSISTENT: i64 = -1;

fn encode_continue(rv: i64, start: String) -> String {
    let raw = serde_json::to_vec(&ContinueToken { rv, start }).unwrap_or_default();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

fn decode_continue(token: &str, prefix: &str) -> Result<ContinueToken> {
    let bad = || ApiError::BadRequest(format!("invalid continue token {token:?}"));
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .map_err(|_| bad())?;
    let t: ContinueToken = serde_json::from_slice(&raw).map_err(|_| bad())?;
    // A token from another collection must not read outside this prefix.
    // (`rv` -1: an inconsistent continuation, read at the newest revision.)
    if !t.start.starts_with(prefix) || (t.rv <= 0 && t.rv != INCONSISTENT) {
        return Err(bad());
    }
    Ok(t)
}

/// Parsed selectors of a list or watch.
pub(crate) struct Filter {
    labels: Selector,
    fields: FieldSelector,
    plural: &'static str,
    /// The kind's strategy when it decides its selectable fields itself
    /// (a custom resource's `selectableFields`).
    custom_fields: Option<std::sync::Arc<dyn crate::registry::Strategy>>,
}

impl Filter {
    pub(crate) fn from_ctx(ctx: &Ctx) -> Result<Filter> {
        let labels = Selector::parse(ctx.query.label_selector.as_deref().unwrap_or(""))
            .map_err(|e| ApiError::BadRequest(format!("invalid label selector: {e}")))?;
        let fields = FieldSelector::parse(ctx.query.field_selector.as_deref().unwrap_or(""))
            .map_err(|e| ApiError::BadRequest(format!("invalid field selector: {e}")))?;
        let strategy = crate::registry::strategy_for(ctx.info.resource);
        // The request names fields in its version's shape; the objects
        // are matched in the stored one.
        let fields = FieldSelector::from_requirements(
            fields
                .requirements()
                .iter()
                .map(|r| {
                    let field = strategy
                        .field_label(&r.field)
                        .map_err(ApiError::BadRequest)?;
                    Ok(apimachinery::fields::Requirement { field, ..r.clone() })
                })
                .collect::<Result<Vec<_>>>()?,
        );
        let custom_fields = match strategy.selectable_fields() {
            Some(allowed) => {
                if let Some(r) = fields
                    .requirements()
                    .iter()
                    .find(|r| !allowed.contains(&r.field))
                {
                    return Err(ApiError::BadRequest(format!(
                        "field label not supported: {}",
                        r.field
                    )));
                }
                Some(strategy)
            }
            None => {
                fields
                    .validate_for(ctx.info.resource.plural)
                    .map_err(|e| ApiError::BadRequest(e.to_string()))?;
                None
            }
        };
        Ok(Filter {
            labels,
            fields,
            plural: ctx.info.resource.plural,
            custom_fields,
        })
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.labels.is_empty() && self.fields.is_empty()
    }

    /// Whether the field selector reads a custom resource's own
    /// `selectableFields`: those are paths of the version asked for, so
    /// objects stored in another version are converted before matching.
    pub(crate) fn reads_custom_fields(&self) -> bool {
        self.custom_fields.is_some()
            && self
                .fields
                .requirements()
                .iter()
                .any(|r| r.field != "metadata.name" && r.field != "metadata.namespace")
    }

    pub(crate) fn matches(&self, obj: &Value) -> bool {
        if !self.labels.matches_json(obj.pointer("/metadata/labels")) {
            return false;
        }
        match &self.custom_fields {
            Some(strategy) => self
                .fields
                .requirements()
                .iter()
                .all(|r| r.matches_value(&strategy.field_value(obj, &r.field))),
            None => self.fields.matches(self.plural, obj),
        }
    }
}

pub(super) async fn list(ctx: Ctx) -> Result<Response> {
    let (mut items, meta) = list_objects(&ctx).await?;
    let resource = ctx.info.resource;
    // Custom resources in the version asked for, one conversion for all.
    crate::conversion::read_list(&ctx.server, resource, &mut items).await?;
    if let Some(include) = ctx.table() {
        let table = crate::tables::table_for_list(resource, &items, &meta, include);
        return Ok(json(StatusCode::OK, &table));
    }
    let body = json!({
        "kind": format!("{}List", resource.kind),
        "apiVersion": resource.api_version(),
        "metadata": meta,
        "items": items,
    });
    Ok(json(StatusCode::OK, &body))
}

/// Reads the collection named by `ctx`: the matching objects (as stored,
/// unless a selector on a custom resource's fields needed them converted)
/// and the list metadata (`resourceVersion`, `continue`,
/// `remainingItemCount`).
pub(crate) async fn list_objects(ctx: &Ctx) -> Result<(Vec<Value>, Value)> {
    let filter = Filter::from_ctx(ctx)?;
    let resource = ctx.info.resource;
    // A selector on a custom resource's own fields matches the objects in
    // the version asked for (one conversion per page read).
    let convert_first = filter.reads_custom_fields() && crate::conversion::needed(resource);
    let store = &ctx.server.store;
    let prefix = store.collection_prefix(
        ctx.info.resource.storage_name(),
        ctx.info.namespace.as_deref(),
    );
    let limit = ctx.query.limit.unwrap_or(0);
    let (mut revision, mut start) = match &ctx.query.continue_token {
        Some(token) => {
            let t = decode_continue(token, &prefix)?;
            (t.rv.max(0), t.start)
        }
        None => {
            let rv = ctx.query.resource_version_number()?.unwrap_or(0);
            // resourceVersionMatch=Exact reads at that revision; anything else
            // is "not older than", which the latest state always satisfies.
            let exact = ctx.query.resource_version_match.as_deref() == Some("Exact");
            (if exact { rv } else { 0 }, prefix.clone())
        }
    };
    let mut items = Vec::new();
    let mut continue_token = None;
    let mut remaining = None;
    loop {
        let want = if limit > 0 {
            // With selectors, read ahead: most keys may not match.
            let missing = limit - items.len() as i64;
            if filter.is_empty() {
                missing
            } else {
                missing.max(100)
            }
        } else {
            0
        };
        let page = store
            .list(&prefix, Some(&start), want, revision)
            .await
            .map_err(|e| match e {
                StorageError::Compacted { .. } if ctx.query.continue_token.is_some() => {
                    ApiError::ExpiredContinue(
                        "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.".into(),
                        encode_continue(INCONSISTENT, start.clone()),
                    )
                }
                StorageError::Compacted { .. } => ApiError::Expired(format!(
                    "too old resource version: {revision}"
                )),
                other => ApiError::from_storage(other, ctx.target()),
            })?;
        revision = page.revision;
        let page_len = page.items.len();
        let mut page_items = page.items;
        if convert_first {
            let mut objects: Vec<&mut Value> =
                page_items.iter_mut().map(|(_, s)| &mut s.object).collect();
            crate::conversion::read_objects(&ctx.server, resource, &mut objects).await?;
        }
        let mut last_key = None;
        for (key, stored) in page_items {
            if limit > 0 && items.len() as i64 >= limit {
                // Read ahead past the limit: resume at this key next time.
                continue_token = Some(encode_continue(revision, key));
                break;
            }
            if filter.matches(&stored.object) {
                items.push(stored.object);
            }
            last_key = Some(key);
        }
        if continue_token.is_some() {
            break;
        }
        if !page.more || page_len == 0 {
            break;
        }
        let Some(last) = last_key else { break };
        start = format!("{last}\u{0}");
        if limit > 0 && items.len() as i64 >= limit {
            continue_token = Some(encode_continue(revision, start.clone()));
            if filter.is_empty() {
                remaining = Some(page.remaining);
            }
            break;
        }
    }
    let mut meta = json!({ "resourceVersion": revision.to_string() });
    if let Some(token) = continue_token {
        meta["continue"] = json!(token);
        if let Some(r) = remaining {
            meta["remainingItemCount"] = json!(r);
        }
    }
    Ok((items, meta))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continue_tokens_round_trip_and_stay_in_prefix() {
        let t = encode_continue(42, "/registry/pods/a/x".into());
        let back = decode_continue(&t, "/registry/pods/a/");
        assert_eq!(back.ok().map(|t| t.rv), Some(42));
        assert!(decode_continue(&t, "/registry/secrets/").is_err());
        assert!(decode_continue("!!!", "/registry/").is_err());
    }
}
