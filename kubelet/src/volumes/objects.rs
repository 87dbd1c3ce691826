//! The ConfigMaps and Secrets that pods' volumes show, read through a
//! cache: upstream's `Cache` change-detection strategy
//! (`configMapAndSecretChangeDetectionStrategy` in the kubelet's config).
//!
//! [`super::prepare`] runs on every pod sync (each second, and on every
//! change of the pod) so that updates reach the files of running
//! containers. Asking the apiserver each time cost one GET per volume
//! source per pod per second: 5 GETs per pod while a Deployment of 100
//! pods started on one node, and 100 GETs a second with those pods idle,
//! all through the node authorizer, for a `kube-root-ca.crt` that never
//! changes. Here a fetched object is used again while it is younger than
//! the TTL, so an update still reaches the volume within the TTL plus one
//! sync (upstream: within the pod sync period, about a minute).
//!
//! As upstream, a newly started pod never sees an object fetched before it
//! was registered ([`ObjectCaches::for_pod`] takes the worker's start):
//! someone who updates a ConfigMap and then creates a pod gets the update.
//! Pods that arrive together share one fetch: requests for one object wait
//! on each other, and a fetch that *started* after a pod was registered
//! serves it. A missing object is remembered like a present one (an
//! optional source must not cost a GET per sync); errors are not.
//!
//! `Get` turns the cache off (a fetch on every sync, as before).

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use k8s_openapi::NamespaceResourceScope;
use kube::api::Api;
use kube::Resource;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// How long a fetched object serves later syncs.
pub const CACHE_TTL: Duration = Duration::from_secs(10);

/// `configMapAndSecretChangeDetectionStrategy`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Strategy {
    /// Ask the apiserver on every sync.
    Get,
    /// Reuse what was fetched for [`CACHE_TTL`] (the default here).
    #[default]
    Cache,
    /// Upstream's default, a watch per referenced object: served by the
    /// cache here (updates arrive within the TTL instead of at once).
    Watch,
}

impl Strategy {
    fn ttl(self) -> Duration {
        match self {
            Strategy::Get => Duration::ZERO,
            Strategy::Cache | Strategy::Watch => CACHE_TTL,
        }
    }
}

/// One object's last fetch: when it started, and what it found.
type Fetched<K> = Option<(Instant, Option<Arc<K>>)>;

/// An object's fetch, behind the lock its requests wait on each other at.
type Slot<K> = Arc<tokio::sync::Mutex<Fetched<K>>>;

/// Objects of one kind by namespace and name.
pub struct ObjectCache<K> {
    client: kube::Client,
    ttl: Duration,
    slots: Mutex<HashMap<(String, String), Slot<K>>>,
}

impl<K> ObjectCache<K>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + Clone
        + Debug
        + DeserializeOwned,
{
    /// A cache that keeps objects for `ttl` (zero: not at all).
    pub fn new(client: kube::Client, ttl: Duration) -> Self {
        ObjectCache {
            client,
            ttl,
            slots: Mutex::new(HashMap::new()),
        }
    }

    /// The object `ns/name` (`None`: it does not exist), from a fetch that
    /// started at or after `fresh_since` and is younger than the TTL.
    pub async fn get(
        &self,
        ns: &str,
        name: &str,
        fresh_since: Instant,
    ) -> Result<Option<Arc<K>>, kube::Error> {
        let slot = self.slot(ns, name);
        let mut fetched = slot.lock().await;
        if let Some((started, object)) = fetched.as_ref() {
            if *started >= fresh_since && started.elapsed() < self.ttl {
                return Ok(object.clone());
            }
        }
        let started = Instant::now();
        let api: Api<K> = Api::namespaced(self.client.clone(), ns);
        let object = api.get_opt(name).await?.map(Arc::new);
        *fetched = Some((started, object.clone()));
        Ok(object)
    }

    /// The slot of `ns/name`; entries nobody waits on and that are past
    /// their TTL are dropped on the way, so the map holds what pods
    /// referenced lately, not everything they ever did.
    fn slot(&self, ns: &str, name: &str) -> Slot<K> {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        let key = (ns.to_string(), name.to_string());
        if let Some(s) = slots.get(&key) {
            return s.clone();
        }
        let ttl = self.ttl;
        slots.retain(|_, s| {
            Arc::strong_count(s) > 1
                || s.try_lock()
                    .map(|f| f.as_ref().is_some_and(|(at, _)| at.elapsed() < ttl))
                    .unwrap_or(true)
        });
        slots.entry(key).or_default().clone()
    }

    /// How many objects are held.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.slots.lock().map(|s| s.len()).unwrap_or(0)
    }
}

/// The node's ConfigMap and Secret caches.
pub struct ObjectCaches {
    /// ConfigMaps.
    pub config_maps: ObjectCache<ConfigMap>,
    /// Secrets (kept in memory only, as upstream's kubelet does).
    pub secrets: ObjectCache<Secret>,
}

impl ObjectCaches {
    /// Caches reading through `client` with `strategy`'s TTL.
    pub fn new(client: kube::Client, strategy: Strategy) -> Self {
        ObjectCaches {
            config_maps: ObjectCache::new(client.clone(), strategy.ttl()),
            secrets: ObjectCache::new(client, strategy.ttl()),
        }
    }

    /// The view a pod registered at `fresh_since` reads through.
    pub fn for_pod(&self, fresh_since: Instant) -> PodObjects<'_> {
        PodObjects {
            caches: self,
            fresh_since,
        }
    }
}

/// [`ObjectCaches`] as one pod sees them.
#[derive(Clone, Copy)]
pub struct PodObjects<'a> {
    caches: &'a ObjectCaches,
    fresh_since: Instant,
}

impl PodObjects<'_> {
    /// The ConfigMap `ns/name`.
    pub async fn config_map(
        &self,
        ns: &str,
        name: &str,
    ) -> Result<Option<Arc<ConfigMap>>, kube::Error> {
        self.caches
            .config_maps
            .get(ns, name, self.fresh_since)
            .await
    }

    /// The Secret `ns/name`.
    pub async fn secret(&self, ns: &str, name: &str) -> Result<Option<Arc<Secret>>, kube::Error> {
        self.caches.secrets.get(ns, name, self.fresh_since).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A client whose apiserver answers every GET with a ConfigMap `cm`
    /// (data `n` = how many GETs it has served) and counts them; `missing`
    /// is not found.
    fn counting_client() -> (kube::Client, Arc<AtomicUsize>) {
        let gets = Arc::new(AtomicUsize::new(0));
        let seen = gets.clone();
        let svc = tower::service_fn(move |req: http::Request<kube::client::Body>| {
            let n = seen.fetch_add(1, Ordering::SeqCst) + 1;
            let path = req.uri().path().to_string();
            async move {
                let (status, body) = if path.ends_with("/missing") {
                    (
                        404,
                        serde_json::json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404}),
                    )
                } else {
                    (
                        200,
                        serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap",
                        "metadata": {"name": "cm", "namespace": "ns"}, "data": {"n": n.to_string()}}),
                    )
                };
                http::Response::builder()
                    .status(status)
                    .header("content-type", "application/json")
                    .body(kube::client::Body::from(body.to_string().into_bytes()))
                    .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)
            }
        });
        (kube::Client::new(svc, "default"), gets)
    }

    fn n(cm: Option<Arc<ConfigMap>>) -> String {
        cm.and_then(|c| c.data.as_ref().and_then(|d| d.get("n").cloned()))
            .unwrap_or_default()
    }

    #[tokio::test]
    async fn a_fetch_serves_later_syncs_but_never_a_pod_registered_after_it() {
        let (client, gets) = counting_client();
        let caches = ObjectCaches::new(client, Strategy::Cache);
        let first = caches.for_pod(Instant::now());
        assert_eq!(n(first.config_map("ns", "cm").await.unwrap()), "1");
        // The same pod's next syncs: no request.
        for _ in 0..5 {
            assert_eq!(n(first.config_map("ns", "cm").await.unwrap()), "1");
        }
        assert_eq!(gets.load(Ordering::SeqCst), 1);
        // A pod registered now must not see the older fetch ...
        let later = caches.for_pod(Instant::now());
        assert_eq!(n(later.config_map("ns", "cm").await.unwrap()), "2");
        // ... and its fetch serves the first pod too.
        assert_eq!(n(first.config_map("ns", "cm").await.unwrap()), "2");
        // Not found is remembered as well.
        assert!(first.config_map("ns", "missing").await.unwrap().is_none());
        assert!(first.config_map("ns", "missing").await.unwrap().is_none());
        assert_eq!(gets.load(Ordering::SeqCst), 3);
        assert_eq!(caches.config_maps.len(), 2);
    }

    #[tokio::test]
    async fn pods_registered_together_share_one_fetch() {
        let (client, gets) = counting_client();
        let caches = ObjectCaches::new(client, Strategy::Cache);
        let since = Instant::now();
        let pods: Vec<_> = (0..20).map(|_| caches.for_pod(since)).collect();
        let got = futures::future::join_all(pods.iter().map(|p| p.config_map("ns", "cm"))).await;
        assert!(got.into_iter().all(|r| n(r.unwrap()) == "1"));
        assert_eq!(gets.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn get_asks_every_time() {
        let (client, gets) = counting_client();
        let caches = ObjectCaches::new(client, Strategy::Get);
        let pod = caches.for_pod(Instant::now());
        for _ in 0..3 {
            pod.config_map("ns", "cm").await.unwrap();
        }
        assert_eq!(gets.load(Ordering::SeqCst), 3);
    }
}
