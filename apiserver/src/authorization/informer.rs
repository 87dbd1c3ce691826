//! An informer inside the apiserver: the authorizers' in-memory views of
//! RBAC objects and pods are kept current the way a controller's would be,
//! a list at a revision, then the resource's watch cache from that
//! revision; a relist when the cache resets or the follower lags behind.
//! Nothing here reads etcd per request.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::storage::watch_cache::EventType;
use crate::ApiServer;

/// Follows `group/v1/plural` until the server stops: `on_list` gets every
/// object after each (re)list, `on_event` each change after it.
pub async fn follow(
    server: Arc<ApiServer>,
    group: &str,
    plural: &str,
    on_list: impl Fn(&[Value]),
    on_event: impl Fn(EventType, &Value),
) {
    let Some(resource) = apimachinery::resources::find(group, "v1", plural) else {
        tracing::error!(plural, "resource missing from the resource table");
        return;
    };
    let mut stopping = server.stopping.subscribe();
    let retry = Duration::from_millis(200);
    loop {
        if *stopping.borrow() {
            return;
        }
        let cache = server.cache(resource);
        if cache.wait_ready(Duration::from_secs(5)).await.is_err() {
            tokio::time::sleep(retry).await;
            continue;
        }
        let prefix = server
            .store
            .collection_prefix(resource.storage_name(), None);
        let page = match server.store.list(&prefix, None, 0, 0).await {
            Ok(p) => p,
            Err(e) => {
                tracing::debug!(plural, error = %e, "informer list failed; retrying");
                tokio::time::sleep(retry).await;
                continue;
            }
        };
        let Ok(sub) = cache.subscribe(page.revision) else {
            tokio::time::sleep(retry).await;
            continue;
        };
        let objects: Vec<Value> = page.items.into_iter().map(|(_, o)| o.object).collect();
        on_list(&objects);
        for ev in &sub.backlog {
            on_event(ev.kind, &ev.object);
        }
        let (mut live, mut reset) = (sub.live, sub.reset);
        loop {
            tokio::select! {
                ev = live.recv() => match ev {
                    Ok(ev) if ev.rev > page.revision => on_event(ev.kind, &ev.object),
                    Ok(_) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => break,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                },
                _ = reset.changed() => break,
                _ = stopping.changed() => return,
            }
        }
    }
}
