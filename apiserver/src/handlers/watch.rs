//! `watch`: a long-lived HTTP response with one JSON event per line.
//!
//! ```text
//! {"type":"ADDED","object":{...}}
//! {"type":"MODIFIED","object":{...}}
//! {"type":"BOOKMARK","object":{"kind":"Pod","apiVersion":"v1","metadata":{"resourceVersion":"812"}}}
//! {"type":"ERROR","object":{"kind":"Status","code":410,"reason":"Expired",...}}
//! ```
//!
//! Where the watch starts depends on `resourceVersion`:
//! - unset or `"0"`: synthetic `ADDED` events for everything that exists now,
//!   then every change after that;
//! - `n`: every change after revision `n` (from the watch cache's window, or
//!   from etcd's history when older), or an `ERROR` event with a 410 Status
//!   when that history is gone, which makes informers re-list. The 410 goes
//!   *inside* a 200 stream: an HTTP 410 makes some clients retry forever.
//!
//! Selectors are applied per watcher, with upstream's twist: an object that
//! *starts* matching arrives as `ADDED`, one that *stops* matching as
//! `DELETED`, so a watcher's view is always "the set of matching objects".

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::response::Response;
use bytes::{BufMut, Bytes, BytesMut};
use serde_json::{json, Value};
use tokio::sync::{broadcast, mpsc};
use tokio_stream::wrappers::ReceiverStream;

use super::read::{list_objects, Filter};
use super::Ctx;
use crate::errors::{ApiError, Result};
use crate::storage::watch_cache::{self, CacheEvent, EventType, HistoryItem, Subscription};
use crate::storage::StorageError;

/// How long a watch lasts when the client sets no `timeoutSeconds`
/// (upstream picks a random time between 30 and 60 minutes).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1800);
/// How often an idle watcher that asked for bookmarks gets one.
const BOOKMARK_EVERY: Duration = Duration::from_secs(5);

fn line(kind: &str, object_json: &[u8]) -> Bytes {
    let mut b = BytesMut::with_capacity(object_json.len() + 32);
    b.put_slice(b"{\"type\":\"");
    b.put_slice(kind.as_bytes());
    b.put_slice(b"\",\"object\":");
    b.put_slice(object_json);
    b.put_slice(b"}\n");
    b.freeze()
}

fn error_line(err: &ApiError) -> Bytes {
    line(
        "ERROR",
        &serde_json::to_vec(&err.status()).unwrap_or_default(),
    )
}

struct Watcher {
    filter: Filter,
    /// kubectl get -w: every event object is a Table row.
    table: Option<(
        &'static apimachinery::resources::ResourceInfo,
        crate::tables::IncludeObject,
    )>,
    columns_sent: bool,
    namespace_prefix: Option<String>,
    tx: mpsc::Sender<Bytes>,
    last_rev: i64,
    kind: &'static str,
    api_version: String,
    /// `apiserver_watch_events_total` of this kind.
    events_sent: prometheus_client::metrics::counter::Counter,
    /// A custom resource's row: its objects are converted to the version
    /// watched and defaulted as they leave.
    custom: Option<&'static apimachinery::resources::ResourceInfo>,
    /// For conversion webhooks (a Service's endpoints are read from it).
    server: Arc<crate::ApiServer>,
}

impl Watcher {
    /// Sends the event if this watcher should see it; false once the client is gone.
    async fn deliver(&mut self, ev: &CacheEvent) -> bool {
        if ev.rev <= self.last_rev {
            return true;
        }
        self.last_rev = ev.rev;
        if let Some(ns) = &self.namespace_prefix {
            let obj_ns = ev
                .object
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .unwrap_or("");
            if obj_ns != ns {
                return true;
            }
        }
        // A selector on a custom resource's own fields matches the object
        // (and its previous state) in the version watched.
        let mut converted = None;
        if let Some(resource) = self.custom.filter(|_| self.filter.reads_custom_fields()) {
            let mut object = ev.object.clone();
            let mut prev = ev.prev.clone();
            let mut both: Vec<&mut Value> =
                std::iter::once(&mut object).chain(prev.as_mut()).collect();
            if !self.convert(resource, &mut both).await {
                return false;
            }
            converted = Some((object, prev));
        }
        let (object, prev) = match &converted {
            Some((o, p)) => (o, p.as_ref()),
            None => (&ev.object, ev.prev.as_ref()),
        };
        let now = self.filter.matches(object);
        let before = prev.is_some_and(|p| self.filter.matches(p));
        let kind = match ev.kind {
            EventType::Added if now => "ADDED",
            EventType::Modified if now && before => "MODIFIED",
            EventType::Modified if now => "ADDED",
            EventType::Modified if before => "DELETED",
            EventType::Deleted if before || now => "DELETED",
            _ => return true,
        };
        match &converted {
            Some((object, _)) => {
                let bytes = serde_json::to_vec(object).unwrap_or_default();
                self.send(kind, object, &bytes).await
            }
            None => self.send(kind, &ev.object, &ev.object_json).await,
        }
    }

    /// Converts custom objects to the version watched; false (the watch
    /// ends, as upstream's watch server stops when it cannot encode an
    /// event) when the conversion fails.
    async fn convert(
        &self,
        resource: &'static apimachinery::resources::ResourceInfo,
        objects: &mut [&mut Value],
    ) -> bool {
        match crate::conversion::read_objects(&self.server, resource, objects).await {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(resource = resource.plural, error = %e, "watch ended: conversion failed");
                false
            }
        }
    }

    /// Sends one event, as the object itself or as a Table of it.
    async fn send(&mut self, kind: &str, object: &Value, object_json: &[u8]) -> bool {
        // A custom resource stored in another of its versions leaves in the
        // version watched.
        let mut converted = None;
        if let Some(resource) = self.custom {
            let mut copy = object.clone();
            if !self.convert(resource, &mut [&mut copy]).await {
                return false;
            }
            if &copy != object {
                converted = Some(copy);
            }
        }
        let converted_json;
        let (object, object_json) = match &converted {
            Some(c) => {
                converted_json = serde_json::to_vec(c).unwrap_or_default();
                (c, converted_json.as_slice())
            }
            None => (object, object_json),
        };
        let sent = match self.table {
            Some((resource, include)) => {
                let table =
                    crate::tables::table_for_object(resource, object, include, !self.columns_sent);
                self.columns_sent = true;
                let bytes = serde_json::to_vec(&table).unwrap_or_default();
                self.tx.send(line(kind, &bytes)).await.is_ok()
            }
            None => self.tx.send(line(kind, object_json)).await.is_ok(),
        };
        if sent {
            self.events_sent.inc();
        }
        sent
    }

    async fn bookmark(&mut self, rev: i64, initial_events_end: bool) -> bool {
        let mut meta = json!({ "resourceVersion": rev.max(self.last_rev).to_string() });
        if initial_events_end {
            meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        let obj = json!({"kind": self.kind, "apiVersion": self.api_version, "metadata": meta});
        self.tx
            .send(line(
                "BOOKMARK",
                &serde_json::to_vec(&obj).unwrap_or_default(),
            ))
            .await
            .is_ok()
    }
}

/// Where a watcher's events come from.
enum Source {
    /// The shared watch cache (the usual case).
    Cache(Subscription),
    /// A private read of etcd's history, for a resourceVersion older than the
    /// cache's window; it hands over to the cache once caught up.
    History(mpsc::Receiver<crate::storage::Result<HistoryItem>>),
}

pub(super) async fn watch(ctx: Ctx) -> Result<Response> {
    let resource = ctx.info.resource;
    // Validate selectors before answering 200, so bad ones are a plain 400.
    let filter = Filter::from_ctx(&ctx)?;
    let requested = ctx.query.resource_version_number()?;
    let cache = ctx.server.cache(resource);
    cache
        .wait_ready(Duration::from_secs(5))
        .await
        .map_err(|e| ApiError::from_storage(e, ctx.target()))?;

    // A watch on one object (`.../pods/web?watch=1`) is a watch on the
    // collection with a name selector.
    let mut filter = filter;
    if let Some(name) = &ctx.info.name {
        let sel = format!("metadata.name={name}");
        let combined = match ctx.query.field_selector.as_deref() {
            Some(s) if !s.is_empty() => format!("{s},{sel}"),
            _ => sel,
        };
        let mut q = ctx.query.clone();
        q.field_selector = Some(combined);
        let c2 = Ctx {
            server: Arc::clone(&ctx.server),
            info: ctx.info.clone(),
            query: q,
            headers: ctx.headers.clone(),
            body: Bytes::new(),
            warnings: Arc::clone(&ctx.warnings),
            audit_annotations: Arc::clone(&ctx.audit_annotations),
            user: ctx.user.clone(),
        };
        filter = Filter::from_ctx(&c2)?;
    }

    let send_initial = match requested {
        None | Some(0) => ctx.query.send_initial_events.unwrap_or(true),
        Some(_) => ctx.query.send_initial_events.unwrap_or(false),
    };
    // Initial state: a list at a revision, then the watch from that revision.
    let (initial, from) = if send_initial {
        let mut list_ctx_query = ctx.query.clone();
        list_ctx_query.limit = None;
        list_ctx_query.continue_token = None;
        list_ctx_query.resource_version = None;
        if let Some(name) = &ctx.info.name {
            let sel = format!("metadata.name={name}");
            list_ctx_query.field_selector = Some(match ctx.query.field_selector.as_deref() {
                Some(s) if !s.is_empty() => format!("{s},{sel}"),
                _ => sel,
            });
        }
        let mut list_info = ctx.info.clone();
        list_info.name = None;
        let list_ctx = Ctx {
            server: Arc::clone(&ctx.server),
            info: list_info,
            query: list_ctx_query,
            headers: ctx.headers.clone(),
            body: Bytes::new(),
            warnings: Arc::clone(&ctx.warnings),
            audit_annotations: Arc::clone(&ctx.audit_annotations),
            user: ctx.user.clone(),
        };
        let (mut items, meta) = list_objects(&list_ctx).await?;
        // The initial objects in the version watched, one conversion for all.
        crate::conversion::read_list(&ctx.server, resource, &mut items).await?;
        let rev = meta["resourceVersion"]
            .as_str()
            .and_then(|s| s.parse::<i64>().ok())
            .unwrap_or(0);
        (items, rev)
    } else {
        (Vec::new(), requested.unwrap_or(0))
    };

    let timeout = ctx
        .query
        .timeout_seconds
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_TIMEOUT);
    let (tx, rx) = mpsc::channel::<Bytes>(128);
    let api_version = resource.api_version();
    let mut watcher = Watcher {
        filter,
        table: ctx.table().map(|include| (resource, include)),
        columns_sent: false,
        namespace_prefix: ctx.info.namespace.clone(),
        tx,
        last_rev: from,
        custom: crate::conversion::needed(resource).then_some(resource),
        server: Arc::clone(&ctx.server),
        kind: resource.kind,
        events_sent: crate::metrics::global().watch_events(&api_version, resource.kind),
        api_version,
    };
    let bookmarks = ctx.query.allow_watch_bookmarks;
    let initial_end_bookmark = ctx.query.send_initial_events == Some(true) && bookmarks;
    let subscription = cache.subscribe(from);
    let server = Arc::clone(&ctx.server);
    let prefix = server
        .store
        .collection_prefix(resource.storage_name(), None);
    crate::metrics::global().watch_opened(resource.plural);
    let plural = resource.plural;

    tokio::spawn(async move {
        let _guard = crate::metrics::WatchGuard(plural);
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        let mut stopping = server.stopping.subscribe();
        for obj in initial {
            let bytes = serde_json::to_vec(&obj).unwrap_or_default();
            if !watcher.send("ADDED", &obj, &bytes).await {
                return;
            }
        }
        if initial_end_bookmark && !watcher.bookmark(from, true).await {
            return;
        }
        let mut ticker = tokio::time::interval(BOOKMARK_EVERY);
        ticker.tick().await;
        let mut source = match subscription {
            Ok(sub) => Source::Cache(sub),
            // Older than the cache's window: read etcd's history until it
            // has caught up with the cache.
            Err(watch_cache::TooOld) => {
                Source::History(watch_cache::history(&server.store, prefix, from))
            }
        };
        loop {
            let step = match &mut source {
                Source::Cache(sub) => {
                    for ev in std::mem::take(&mut sub.backlog) {
                        if !watcher.deliver(&ev).await {
                            return;
                        }
                    }
                    tokio::select! {
                        _ = &mut deadline => return,
                        _ = stopping.changed() => return,
                        // The client went away: end now, not at the next
                        // event or bookmark, which for a quiet resource
                        // may be the timeout half an hour later.
                        _ = watcher.tx.closed() => return,
                        _ = sub.reset.changed() => {
                            // The cache lost etcd's history (compacted while
                            // etcd was away), and with it this watcher's place:
                            // a 410 makes the client re-list.
                            let e = ApiError::Expired("the watch cache was reset; please re-list".into());
                            let _ = watcher.tx.send(error_line(&e)).await;
                            return;
                        }
                        _ = ticker.tick(), if bookmarks => {
                            // A bookmark promises that everything up to its
                            // revision was delivered, and a client resumes
                            // from it. The cache's revision qualifies only
                            // when none of its events wait in this watcher's
                            // queue (the cache sends before it moves its
                            // revision, so read the revision first).
                            let current = cache.current_rev();
                            let rev = if sub.live.is_empty() {
                                current
                            } else {
                                watcher.last_rev
                            };
                            watcher.bookmark(rev, false).await
                        }
                        ev = sub.live.recv() => match ev {
                            Ok(ev) => watcher.deliver(&ev).await,
                            // Too slow to keep up: end the stream; the client
                            // resumes from its last resourceVersion.
                            Err(broadcast::error::RecvError::Lagged(_)) => return,
                            Err(broadcast::error::RecvError::Closed) => return,
                        },
                    }
                }
                Source::History(history) => tokio::select! {
                    _ = &mut deadline => return,
                    _ = stopping.changed() => return,
                    _ = watcher.tx.closed() => return,
                    _ = ticker.tick(), if bookmarks => watcher.bookmark(watcher.last_rev, false).await,
                    item = history.recv() => match item {
                        Some(Ok(HistoryItem::Event(ev))) => watcher.deliver(&ev).await,
                        Some(Ok(HistoryItem::Progress(rev))) => {
                            // Everything up to `rev` is delivered: from there
                            // on the shared cache serves this watcher, if its
                            // window reaches back that far.
                            if let Ok(sub) = cache.subscribe(rev.max(watcher.last_rev)) {
                                watcher.last_rev = rev.max(watcher.last_rev);
                                source = Source::Cache(sub);
                            }
                            true
                        }
                        Some(Err(StorageError::Compacted { compacted, .. })) => {
                            let e = ApiError::Expired(format!(
                                "too old resource version: {from} ({compacted})"
                            ));
                            let _ = watcher.tx.send(error_line(&e)).await;
                            return;
                        }
                        Some(Err(e)) => {
                            let e = ApiError::from_storage(e, crate::errors::Target::default());
                            let _ = watcher.tx.send(error_line(&e)).await;
                            return;
                        }
                        None => return,
                    },
                },
            };
            if !step {
                return;
            }
        }
    });

    let stream = ReceiverStream::new(rx);
    let body = Body::from_stream(futures::StreamExt::map(
        stream,
        Ok::<_, std::convert::Infallible>,
    ));
    Response::builder()
        .status(200)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(body)
        .map_err(|e| ApiError::Internal(e.to_string()))
}
