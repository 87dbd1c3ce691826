//! The apiserver: the Kubernetes API on etcd.
//!
//! Every other component (scheduler, controllers, kubelets, kubectl) is a
//! client of this server, and this server is the only one that talks to etcd.
//! A request goes through:
//!
//! 1. [`request`]: the URL becomes a resource, namespace, name, subresource and verb;
//! 2. [`handlers`]: the verb's generic logic (create, get, list, watch, update,
//!    patch, delete) on JSON objects;
//! 3. [`registry`]: what differs per kind, one [`registry::Strategy`] per kind
//!    (defaults, validation, status/spec split, printer columns, hooks), built
//!    from the shared [`defaults`], [`validation`] and [`printers`] helpers;
//! 4. [`admission`]: cluster-wide policy (no objects in missing or terminating namespaces);
//! 5. [`storage`]: etcd transactions, and the watch cache that fans changes out.
//!
//! Who a request comes from and what it may do are [`authentication`] and
//! [`authorization`] (anonymous and AlwaysAllow for now; the access reviews
//! answer from them). Errors anywhere become a `Status` ([`errors`]); [`meta`] reads and writes
//! `metadata` for every layer, [`response`] writes JSON answers. [`discovery`] tells clients
//! what is served, [`health`] and [`metrics`] tell operators how it is going.
//! The kinds that CustomResourceDefinitions define are served through the
//! same path: [`apiextensions`] adds their rows and strategies at runtime.
//! Besides serving, the apiserver keeps a few objects of its own: the system
//! namespaces ([`bootstrap`]) and the `kubernetes` Service with its
//! endpoints ([`kubernetes_service`]).

pub mod admission;
pub mod apiextensions;
pub mod authentication;
pub mod authorization;
pub mod bootstrap;
pub mod defaults;
pub mod discovery;
pub mod errors;
pub mod fieldmanager;
pub mod handlers;
pub mod health;
pub mod kubernetes_service;
pub mod meta;
pub mod metrics;
pub mod openapi;
pub mod printers;
pub mod registry;
pub mod request;
pub mod response;
pub mod serve;
pub mod storage;
pub mod tables;
pub mod validation;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use apimachinery::resources::ResourceInfo;
use axum::routing::get;
use axum::Router;

use crate::storage::watch_cache::WatchCache;
use crate::storage::Store;

/// How the apiserver is run (the command line, as a struct).
#[derive(Debug, Clone)]
pub struct Config {
    /// etcd endpoints, e.g. `http://127.0.0.1:2379`.
    pub etcd_servers: Vec<String>,
    /// Key prefix in etcd, `/registry` by default.
    pub etcd_prefix: String,
    /// Address to listen on.
    pub bind_address: IpAddr,
    /// Port to listen on (0 picks a free one; see [`Server::local_addr`]).
    pub port: u16,
    /// How long one etcd request may take before the API answers 504.
    pub etcd_timeout: Duration,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// How long a client may take to send a request body.
    pub request_timeout: Duration,
    /// How long a client may take to send a request's head.
    pub header_read_timeout: Duration,
    /// Open watches one client may hold (0: no limit).
    pub max_watches_per_client: usize,
    /// Where Services' cluster IPs come from.
    pub service_cluster_ip_range: admission::service_ip::Ipv4Range,
    /// The address other members of the cluster reach this apiserver at,
    /// published as the `kubernetes` Service's endpoint; `None`: see
    /// [`kubernetes_service::default_advertise_address`].
    pub advertise_address: Option<IpAddr>,
    /// Where NodePort Services' ports come from.
    pub service_node_port_range: admission::service_node_port::PortRange,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            etcd_servers: vec!["http://127.0.0.1:2379".into()],
            etcd_prefix: "/registry".into(),
            bind_address: IpAddr::from([127, 0, 0, 1]),
            port: 8080,
            etcd_timeout: Duration::from_secs(4),
            max_body_bytes: 3 * 1024 * 1024,
            request_timeout: Duration::from_secs(60),
            header_read_timeout: Duration::from_secs(32),
            max_watches_per_client: 1000,
            service_cluster_ip_range: admission::service_ip::Ipv4Range::parse("10.96.0.0/12")
                .unwrap_or_else(|| unreachable!("the default range parses")),
            advertise_address: None,
            service_node_port_range: admission::service_node_port::PortRange::parse("30000-32767")
                .unwrap_or_else(|| unreachable!("the default port range parses")),
        }
    }
}

/// Failures that stop the server from starting or serving.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The listening socket could not be opened.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address we tried.
        addr: SocketAddr,
        /// Why it failed.
        #[source]
        source: std::io::Error,
    },
    /// The etcd client could not be created (bad endpoint URL).
    #[error("cannot set up the etcd client: {0}")]
    Etcd(#[from] storage::StorageError),
    /// The HTTP server failed.
    #[error("serving HTTP failed: {0}")]
    Serve(#[source] std::io::Error),
}

/// Shared state of one apiserver.
pub struct ApiServer {
    /// The configuration it runs with.
    pub config: Config,
    /// etcd.
    pub store: Store,
    caches: Mutex<HashMap<&'static str, Arc<WatchCache>>>,
    /// Namespace lifecycle admission.
    pub namespaces: admission::NamespaceLifecycle,
    /// Priority admission's view of the PriorityClasses.
    pub priority_classes: admission::priority::PriorityCache,
    /// Flips to true when the server is shutting down, so watches end.
    pub stopping: tokio::sync::watch::Sender<bool>,
    /// Whether the cluster's own objects are in place (the system
    /// namespaces and PriorityClasses, the `kubernetes` Service): `/readyz`
    /// waits for it, as upstream's waits for its post-start hooks, so
    /// clients never race the server's own first writes.
    pub bootstrapped: std::sync::atomic::AtomicBool,
    /// Open watches per client.
    pub watch_limiter: Arc<serve::WatchLimiter>,
}

impl std::fmt::Debug for ApiServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiServer")
            .field("config", &self.config)
            .finish()
    }
}

impl ApiServer {
    /// Connects to etcd (lazily) and builds the state.
    pub async fn new(config: Config) -> Result<Arc<ApiServer>, ServeError> {
        let store = Store::connect(
            &config.etcd_servers,
            &config.etcd_prefix,
            config.etcd_timeout,
        )
        .await?;
        Ok(Arc::new(ApiServer {
            watch_limiter: serve::WatchLimiter::new(config.max_watches_per_client),
            config,
            store,
            caches: Mutex::new(HashMap::new()),
            namespaces: admission::NamespaceLifecycle::default(),
            priority_classes: Default::default(),
            stopping: tokio::sync::watch::channel(false).0,
            bootstrapped: std::sync::atomic::AtomicBool::new(false),
        }))
    }

    /// Whether every watch cache started so far knows its starting revision.
    pub fn caches_ready(&self) -> bool {
        let caches = match self.caches.lock() {
            Ok(c) => c,
            Err(poisoned) => poisoned.into_inner(),
        };
        caches.values().all(|c| c.is_ready())
    }

    /// The watch cache of a resource, started on first use.
    pub fn cache(&self, resource: &'static ResourceInfo) -> Arc<WatchCache> {
        let mut caches = match self.caches.lock() {
            Ok(c) => c,
            Err(poisoned) => poisoned.into_inner(),
        };
        caches
            .entry(resource.storage_name())
            .or_insert_with(|| {
                let prefix = self.store.collection_prefix(resource.storage_name(), None);
                WatchCache::start(resource.plural, self.store.clone(), prefix)
            })
            .clone()
    }
}

/// The HTTP routes. Tests call this with `tower::ServiceExt::oneshot`.
pub fn router(state: Arc<ApiServer>) -> Router {
    Router::new()
        .route("/version", get(discovery::version))
        .route("/api", get(discovery::core_versions))
        .route("/api/", get(discovery::core_versions))
        .route("/apis", get(discovery::group_list))
        .route("/apis/", get(discovery::group_list))
        .route("/healthz", get(health::healthz))
        .route("/livez", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics::serve))
        .fallback(handlers::dispatch)
        .with_state(state)
}

/// A running server.
pub struct Server {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<Result<(), ServeError>>,
}

impl Server {
    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Waits for the server to stop.
    pub async fn wait(self) -> Result<(), ServeError> {
        match self.task.await {
            Ok(r) => r,
            Err(e) => Err(ServeError::Serve(std::io::Error::other(e))),
        }
    }
}

/// Starts the apiserver; it stops (letting open watches end) when `shutdown`
/// resolves.
pub async fn start(
    config: Config,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<Server, ServeError> {
    let addr = SocketAddr::new(config.bind_address, config.port);
    let state = ApiServer::new(config).await?;
    // Every built-in resource's watch cache starts now, as upstream's cacher
    // does: a resourceVersion a client lists at after `/readyz` is then
    // always inside the cache's window, and watches never need etcd's history.
    // (Resources that store nothing, such as `bindings` and the reviews,
    // have no cache.)
    for resource in apimachinery::resources::RESOURCES
        .iter()
        .filter(|r| r.is_stored())
    {
        state.cache(resource);
    }
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Bind { addr, source })?;
    let addr = listener
        .local_addr()
        .map_err(|source| ServeError::Bind { addr, source })?;
    tracing::info!(%addr, "apiserver listening");
    let advertise = state
        .config
        .advertise_address
        .unwrap_or_else(|| kubernetes_service::default_advertise_address(addr.ip()));
    let endpoint = SocketAddr::new(advertise, addr.port());
    // Bootstrap objects (the four system namespaces) are ensured in the
    // background: the server must come up and report not-ready while etcd is
    // down, then finish bootstrapping when etcd appears. The `kubernetes`
    // Service goes into `default` once that exists; `/readyz` waits for both.
    tokio::spawn(apiextensions::controller::run(Arc::clone(&state)));
    let own = Arc::clone(&state);
    tokio::spawn(async move {
        bootstrap::ensure_system_namespaces(Arc::clone(&own)).await;
        kubernetes_service::run(own, endpoint).await;
    });
    let app = router(Arc::clone(&state));
    let header_read_timeout = state.config.header_read_timeout;
    let stopping = async move {
        shutdown.await;
        tracing::info!("shutting down: ending watches");
        state.stopping.send_replace(true);
    };
    let task = tokio::spawn(async move {
        serve::serve(listener, app, header_read_timeout, stopping).await;
        Ok(())
    });
    Ok(Server { addr, task })
}
