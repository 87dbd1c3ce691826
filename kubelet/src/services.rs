//! The node's view of Services and their EndpointSlices: one pair of
//! kube-runtime reflectors that both the service proxy ([`crate::proxy`])
//! and the cluster DNS ([`crate::cluster_dns`]) read, so a node keeps two watches on
//! the apiserver, not one pair per consumer.
//!
//! ```text
//! watch Services ──────▶ reflector ──▶ Store<Service>       ─┐
//! watch EndpointSlices ─▶ reflector ──▶ Store<EndpointSlice> ─┼─▶ proxy: iptables rules
//!                          └── every change bumps a counter ──┘   dns: the name table
//! ```
//!
//! Consumers wait for [`ServiceView::ready`] (both first lists in) before
//! they act on the stores, then rebuild from them whenever
//! [`ServiceView::changes`] ticks: level-triggered, so a burst of events
//! costs one rebuild.

use std::sync::Arc;

use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::Api;
use kube::runtime::reflector::{self, Store};
use kube::runtime::watcher::{self, watcher};
use kube::runtime::WatchStreamExt;
use tokio::sync::watch;

/// Services and EndpointSlices as last seen, with a change signal.
pub struct ServiceView {
    /// Every Service of the cluster.
    pub services: Store<Service>,
    /// Every EndpointSlice of the cluster.
    pub slices: Store<EndpointSlice>,
    changes: watch::Receiver<u64>,
    ready: watch::Receiver<bool>,
}

impl ServiceView {
    /// Starts the two reflectors on the tokio runtime.
    pub fn start(client: kube::Client) -> Arc<ServiceView> {
        let (tx, changes) = watch::channel(0u64);
        let tx = Arc::new(tx);
        let all = watcher::Config::default;
        let (services, _) = reflect::<Service>(client.clone(), all(), "services", &tx);
        let (slices, _) = reflect::<EndpointSlice>(client, all(), "endpointslices", &tx);
        // One task awaits the stores' readiness and tells every consumer:
        // kube-runtime's `Store::wait_until_ready` wakes only the last of
        // several tasks waiting on it at once.
        let (ready_tx, ready) = watch::channel(false);
        let (s, e) = (services.clone(), slices.clone());
        tokio::spawn(async move {
            if s.wait_until_ready().await.is_ok() && e.wait_until_ready().await.is_ok() {
                ready_tx.send_replace(true);
            }
        });
        Arc::new(ServiceView {
            services,
            slices,
            changes,
            ready,
        })
    }

    /// Waits until both first lists are in; `false` if the watches ended
    /// before (a half-listed cluster must never be acted on: it would drop
    /// every Service the list had not reached yet).
    pub async fn ready(&self) -> bool {
        self.ready.clone().wait_for(|r| *r).await.is_ok()
    }

    /// Whether both first lists are in (without waiting).
    pub fn synced(&self) -> bool {
        *self.ready.borrow()
    }

    /// A receiver that ticks after every applied or deleted object (not
    /// during a relist's initial burst), and errors once both watches ended.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.changes.clone()
    }
}

/// Drives a reflector's stream, ticking `tx` after every applied or
/// deleted object (shared by the other node-side views).
pub(crate) async fn feed<S, T>(stream: S, what: &'static str, tx: Arc<watch::Sender<u64>>)
where
    S: Stream<Item = Result<watcher::Event<T>, watcher::Error>>,
{
    let mut stream = std::pin::pin!(stream);
    while let Some(ev) = stream.next().await {
        match ev {
            Ok(watcher::Event::Init) | Ok(watcher::Event::InitApply(_)) => {}
            Ok(_) => tx.send_modify(|n| *n = n.wrapping_add(1)),
            Err(e) => tracing::warn!(error = %e, what, "watch failed; retrying"),
        }
    }
}

/// A store of every `K` the watch `cfg` selects, kept by a reflector on the
/// tokio runtime that ticks `tx` after every change (the node-side views
/// all start theirs this way), and the handle that stops it (for a view
/// that needs the objects only for a while).
pub(crate) fn reflect<K>(
    client: kube::Client,
    cfg: watcher::Config,
    what: &'static str,
    tx: &Arc<watch::Sender<u64>>,
) -> (Store<K>, tokio::task::AbortHandle)
where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned
        + Send
        + Sync
        + 'static,
{
    let (store, writer) = reflector::store::<K>();
    let events = reflector::reflector(writer, watcher(Api::all(client), cfg).default_backoff());
    let task = tokio::spawn(feed(events, what, tx.clone()));
    (store, task.abort_handle())
}
