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
//! Before any of that, [`filters`] find who a request comes from
//! ([`authentication`]: client certificates, tokens, ServiceAccount JWTs)
//! and whether they may do it ([`authorization`]: RBAC, Node); the access
//! reviews answer from the same two. [`serve`] accepts connections, over
//! TLS on the secure port; [`audit`] records who did what when a policy
//! asks for it. [`resource_metrics`] scrapes the kubelets for
//! `metrics.k8s.io` (what metrics-server does upstream). Errors anywhere become a `Status` ([`errors`]); [`meta`] reads and writes
//! `metadata` for every layer, [`response`] writes JSON answers. [`discovery`] tells clients
//! what is served, [`health`] and [`metrics`] tell operators how it is going.
//! The kinds that CustomResourceDefinitions define are served through the
//! same path: [`apiextensions`] adds their rows and strategies at runtime.
//! Group/versions that an APIService hands to another server (an extension
//! apiserver) are proxied there instead, by the [`aggregator`].
//! Besides serving, the apiserver keeps a few objects of its own: the system
//! namespaces ([`bootstrap`]) and the `kubernetes` Service with its
//! endpoints ([`kubernetes_service`]).

pub mod admission;
pub mod aggregator;
pub mod apiextensions;
pub mod audit;
pub mod authentication;
pub mod authorization;
pub mod bootstrap;
pub mod conversion;
pub mod defaults;
pub mod discovery;
pub mod errors;
pub mod fieldmanager;
pub mod filters;
pub mod flowcontrol;
pub mod handlers;
pub mod health;
pub mod kubelet_client;
pub mod kubernetes_service;
pub mod meta;
pub mod metrics;
pub mod openapi;
pub mod openapi_protobuf;
pub mod printers;
pub mod registry;
pub mod request;
pub mod resource_metrics;
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
    /// The client side of TLS to etcd (`https://` endpoints).
    pub etcd_tls: Option<storage::etcd::EtcdTls>,
    /// Address to listen on.
    pub bind_address: IpAddr,
    /// Plain-HTTP port, served only when given (0 picks a free one; see
    /// [`Server::local_addr`]). Its requests are not authenticated.
    pub port: Option<u16>,
    /// Secure (TLS) port (0 picks a free one); `None`: no secure port.
    pub secure_port: Option<u16>,
    /// The secure port's certificates.
    pub tls: serve::tls::TlsOptions,
    /// How requests are authenticated.
    pub authentication: authentication::Options,
    /// `--authorization-mode`.
    pub authorization_modes: Vec<authorization::Mode>,
    /// How long one etcd request may take before the API answers 504.
    pub etcd_timeout: Duration,
    /// How often etcd's history is compacted ([`storage::compactor`]);
    /// zero: never.
    pub etcd_compaction_interval: Duration,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// How long a client may take to send a request body.
    pub request_timeout: Duration,
    /// How long a client may take to send a request's head.
    pub header_read_timeout: Duration,
    /// Requests and watches at once on one HTTP/2 connection.
    pub http2_max_streams_per_connection: u32,
    /// How long an Event is kept after its last write (`--event-ttl`;
    /// zero: forever).
    pub event_ttl: Duration,
    /// Open watches one client may hold (0: no limit).
    pub max_watches_per_client: usize,
    /// `--enable-priority-and-fairness`: classify and queue requests by
    /// the FlowSchemas ([`flowcontrol`]).
    pub enable_priority_and_fairness: bool,
    /// `--max-requests-inflight` plus `--max-mutating-requests-inflight`:
    /// the seats API Priority and Fairness shares out.
    pub max_requests_inflight: u32,
    /// Where Services' cluster IPs come from.
    pub service_cluster_ip_range: admission::service_ip::Ipv4Range,
    /// The address other members of the cluster reach this apiserver at,
    /// published as the `kubernetes` Service's endpoint; `None`: see
    /// [`kubernetes_service::default_advertise_address`].
    pub advertise_address: Option<IpAddr>,
    /// Where NodePort Services' ports come from.
    pub service_node_port_range: admission::service_node_port::PortRange,
    /// Admission plug-ins switched off (`--disable-admission-plugins`).
    pub admission: admission::Plugins,
    /// PodSecurity's defaults and exemptions (`--admission-control-config-file`).
    pub pod_security: admission::pod_security::Configuration,
    /// How kubelets are reached (`--kubelet-*`).
    pub kubelet: kubelet_client::Options,
    /// `--encryption-provider-config`: an `EncryptionConfiguration` saying
    /// which resources are encrypted in etcd, and how.
    pub encryption_provider_config: Option<std::path::PathBuf>,
    /// `--audit-policy-file` and `--audit-log-*`.
    pub audit: audit::Options,
    /// `--metric-resolution`: how often kubelets are scraped for the
    /// resource metrics API ([`resource_metrics`]); zero: never.
    pub metric_resolution: Duration,
    /// The aggregator's `--proxy-client-*` and `--requestheader-*` flags.
    pub aggregator: aggregator::Options,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            etcd_servers: vec!["http://127.0.0.1:2379".into()],
            etcd_prefix: "/registry".into(),
            etcd_tls: None,
            bind_address: IpAddr::from([127, 0, 0, 1]),
            port: None,
            secure_port: Some(6443),
            tls: serve::tls::TlsOptions {
                cert_dir: "/var/run/kubernetes".into(),
                ..Default::default()
            },
            authentication: authentication::Options::default(),
            authorization_modes: vec![authorization::Mode::AlwaysAllow],
            etcd_timeout: Duration::from_secs(4),
            etcd_compaction_interval: Duration::from_secs(300),
            max_body_bytes: 3 * 1024 * 1024,
            request_timeout: Duration::from_secs(60),
            header_read_timeout: Duration::from_secs(32),
            http2_max_streams_per_connection: 1000,
            event_ttl: Duration::from_secs(3600),
            max_watches_per_client: 1000,
            enable_priority_and_fairness: true,
            max_requests_inflight: flowcontrol::DEFAULT_MAX_REQUESTS_INFLIGHT
                + flowcontrol::DEFAULT_MAX_MUTATING_REQUESTS_INFLIGHT,
            service_cluster_ip_range: admission::service_ip::Ipv4Range::parse("10.96.0.0/12")
                .unwrap_or_else(|| unreachable!("the default range parses")),
            advertise_address: None,
            service_node_port_range: admission::service_node_port::PortRange::parse("30000-32767")
                .unwrap_or_else(|| unreachable!("the default port range parses")),
            admission: admission::Plugins::default(),
            pod_security: admission::pod_security::Configuration::default(),
            kubelet: kubelet_client::Options::default(),
            encryption_provider_config: None,
            audit: audit::Options::default(),
            metric_resolution: Duration::from_secs(15),
            aggregator: aggregator::Options::default(),
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
    /// The secure port's TLS set-up failed.
    #[error("TLS: {0}")]
    Tls(#[from] serve::tls::TlsError),
    /// The `--proxy-client-*` certificate could not be read.
    #[error("proxy client certificate: {0}")]
    ProxyClient(#[source] component_base::tls::TlsError),
    /// The `--kubelet-*` certificates could not be read.
    #[error("kubelet client: {0}")]
    KubeletClient(#[source] component_base::tls::TlsError),
    /// The authenticators could not be set up (token file, keys).
    #[error("authentication: {0}")]
    Authentication(#[from] authentication::Error),
    /// The `--encryption-provider-config` file is unusable.
    #[error("failed to load the encryption provider configuration: {0}")]
    Encryption(#[from] storage::value::config::Error),
    /// The audit policy or log is unusable.
    #[error("audit: {0}")]
    Audit(#[from] audit::Error),
    /// Neither a plain nor a secure port is configured.
    #[error("nothing to serve: give --secure-port or --port")]
    NoPort,
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
    informers: Mutex<HashMap<&'static str, Arc<storage::informer::Informer>>>,
    /// Namespace lifecycle admission.
    pub namespaces: admission::NamespaceLifecycle,
    /// Flips to true when the server is shutting down, so watches end.
    pub stopping: tokio::sync::watch::Sender<bool>,
    /// Whether the cluster's own objects are in place (the system
    /// namespaces and PriorityClasses, the `kubernetes` Service): `/readyz`
    /// waits for it, as upstream's waits for its post-start hooks, so
    /// clients never race the server's own first writes.
    pub bootstrapped: std::sync::atomic::AtomicBool,
    /// Open watches per client.
    pub watch_limiter: Arc<serve::WatchLimiter>,
    /// The admission webhook configurations, from the watch cache.
    pub webhooks: admission::webhook::Configurations,
    /// Who requests come from.
    pub authenticator: authentication::Authenticator,
    /// What they may do.
    pub authorizer: authorization::Authorizer,
    /// How kubelets are dialed.
    pub kubelet: kubelet_client::KubeletClient,
    /// The advertised address and served port (the secure one when there
    /// is one), once bound: where clients outside reach this server, as
    /// the `kubernetes` Service's endpoint and the issuer discovery's key
    /// URL.
    pub external_address: std::sync::OnceLock<SocketAddr>,
    /// Where requests are recorded (`None`: no auditing).
    pub audit: Option<audit::Auditor>,
    /// The kubelets' last CPU and memory samples, for `metrics.k8s.io`.
    pub resource_metrics: resource_metrics::Storage,
    /// API Priority and Fairness.
    pub flow_control: flowcontrol::FlowControl,
    /// The APIServices and how their backends are reached.
    pub aggregator: aggregator::Aggregator,
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
        let mut store = Store::connect(
            &config.etcd_servers,
            &config.etcd_prefix,
            config.etcd_timeout,
            config.etcd_tls.as_ref(),
        )
        .await?;
        if let Some(path) = &config.encryption_provider_config {
            let transformers = storage::value::config::load(&path.to_string_lossy())?;
            tracing::info!(path = %path.display(), "encrypting resources at rest as configured");
            store = store.with_transformers(transformers);
        }
        if !config.event_ttl.is_zero() {
            store = store.with_ttl("events", config.event_ttl);
        }
        let authenticator = authentication::Authenticator::new(&config.authentication)?
            .with_request_header(
                config.tls.client_ca_file.as_deref(),
                &config.aggregator.requestheader,
            )?;
        let audit = audit::Auditor::new(&config.audit).await?;
        let authorizer = authorization::Authorizer::new(config.authorization_modes.clone());
        let kubelet = kubelet_client::KubeletClient::new(&config.kubelet)
            .map_err(ServeError::KubeletClient)?;
        let config_limit = config.max_requests_inflight;
        let aggregator =
            aggregator::Aggregator::new(&config.aggregator).map_err(ServeError::ProxyClient)?;
        Ok(Arc::new(ApiServer {
            kubelet,
            watch_limiter: serve::WatchLimiter::new(config.max_watches_per_client),
            authenticator,
            authorizer,
            config,
            store,
            caches: Mutex::new(HashMap::new()),
            informers: Mutex::new(HashMap::new()),
            namespaces: admission::NamespaceLifecycle,
            webhooks: Default::default(),
            stopping: tokio::sync::watch::channel(false).0,
            bootstrapped: std::sync::atomic::AtomicBool::new(false),
            external_address: std::sync::OnceLock::new(),
            audit,
            resource_metrics: resource_metrics::Storage::default(),
            flow_control: flowcontrol::FlowControl::new(config_limit),
            aggregator,
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

    /// The in-memory view of a resource for reads on the request path
    /// (admission), started on first use. See [`storage::informer`].
    pub fn informer(&self, resource: &'static ResourceInfo) -> Arc<storage::informer::Informer> {
        let mut informers = match self.informers.lock() {
            Ok(i) => i,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(i) = informers.get(resource.storage_name()) {
            return Arc::clone(i);
        }
        let informer = storage::informer::Informer::start(
            self.store.clone(),
            self.cache(resource),
            self.stopping.subscribe(),
            resource,
        );
        informers.insert(resource.storage_name(), Arc::clone(&informer));
        informer
    }

    /// One object of a built-in `group/v1` resource (`namespace` empty when
    /// cluster-scoped), read through its informer.
    pub async fn lookup(
        &self,
        group: &str,
        plural: &str,
        namespace: &str,
        name: &str,
    ) -> Result<Option<storage::informer::Cached>, storage::StorageError> {
        match apimachinery::resources::find(group, "v1", plural) {
            // Boxed: admission runs deep inside the request's future, and
            // debug builds put every nested future on the worker's stack.
            Some(r) => Box::pin(self.informer(r).get(namespace, name)).await,
            None => Ok(None),
        }
    }

    /// The objects of a built-in `group/v1` resource in `namespace` (all
    /// of them when `None`), read through its informer.
    pub async fn list_cached(
        &self,
        group: &str,
        plural: &str,
        namespace: Option<&str>,
    ) -> Result<Vec<storage::informer::Cached>, storage::StorageError> {
        match apimachinery::resources::find(group, "v1", plural) {
            Some(r) => Box::pin(self.informer(r).list(namespace)).await,
            None => Ok(Vec::new()),
        }
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
        .route(
            authentication::issuer_discovery::OPENID_CONFIGURATION_PATH,
            get(authentication::issuer_discovery::serve_configuration),
        )
        .route(
            authentication::issuer_discovery::JWKS_PATH,
            get(authentication::issuer_discovery::serve_jwks),
        )
        .route(
            "/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token",
            axum::routing::post(authentication::token_request::create),
        )
        .fallback(handlers::dispatch)
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state),
            filters::authenticate_and_authorize,
        ))
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state),
            audit::filter,
        ))
        .with_state(state)
}

/// A running server.
pub struct Server {
    plain: Option<SocketAddr>,
    secure: Option<SocketAddr>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Server {
    /// The address actually bound (useful with port 0): the plain port's
    /// when there is one, else the secure port's.
    pub fn local_addr(&self) -> SocketAddr {
        self.plain
            .or(self.secure)
            .unwrap_or_else(|| unreachable!("start refuses to serve no port"))
    }

    /// The plain-HTTP port's address, if served.
    pub fn plain_addr(&self) -> Option<SocketAddr> {
        self.plain
    }

    /// The secure port's address, if served.
    pub fn secure_addr(&self) -> Option<SocketAddr> {
        self.secure
    }

    /// Waits for the server to stop.
    pub async fn wait(self) -> Result<(), ServeError> {
        for task in self.tasks {
            task.await
                .map_err(|e| ServeError::Serve(std::io::Error::other(e)))?;
        }
        Ok(())
    }
}

async fn bind(ip: IpAddr, port: u16) -> Result<(tokio::net::TcpListener, SocketAddr), ServeError> {
    let addr = SocketAddr::new(ip, port);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Bind { addr, source })?;
    let addr = listener
        .local_addr()
        .map_err(|source| ServeError::Bind { addr, source })?;
    Ok((listener, addr))
}

/// Starts the apiserver; it stops (letting open watches end) when `shutdown`
/// resolves.
pub async fn start(
    config: Config,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<Server, ServeError> {
    if config.port.is_none() && config.secure_port.is_none() {
        return Err(ServeError::NoPort);
    }
    let tls = match config.secure_port {
        Some(_) => {
            let mut opts = config.tls.clone();
            opts.alternate_names.push(config.bind_address.to_string());
            if let Some(a) = config.advertise_address {
                opts.alternate_names.push(a.to_string());
            }
            for name in [
                "kubernetes",
                "kubernetes.default",
                "kubernetes.default.svc",
                "kubernetes.default.svc.cluster.local",
            ] {
                opts.alternate_names.push(name.into());
            }
            opts.alternate_names
                .push(config.service_cluster_ip_range.nth(1).to_string());
            Some(tokio_rustls::TlsAcceptor::from(serve::tls::server_config(
                &opts,
            )?))
        }
        None => None,
    };
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
    // Dynamic admission follows its configurations from now on.
    state.webhooks.start(&state);
    let ip = state.config.bind_address;
    let secure = match state.config.secure_port {
        Some(port) => Some(bind(ip, port).await?),
        None => None,
    };
    let plain = match state.config.port {
        Some(port) => Some(bind(ip, port).await?),
        None => None,
    };
    if let Some((_, addr)) = &secure {
        tracing::info!(%addr, "apiserver serving securely (TLS)");
    }
    if let Some((_, addr)) = &plain {
        tracing::info!(%addr, "apiserver serving plain HTTP (unauthenticated: keep it on loopback)");
    }
    // The `kubernetes` Service points at the secure port when there is one.
    let Some(addr) = secure.as_ref().or(plain.as_ref()).map(|(_, a)| *a) else {
        return Err(ServeError::NoPort);
    };
    if state.authorizer.has(authorization::Mode::Rbac) {
        authorization::rbac::start(&state);
        tokio::spawn(authorization::bootstrap_policy::reconcile(Arc::clone(
            &state,
        )));
        tokio::spawn(authorization::clusterrole_aggregation::run(Arc::clone(
            &state,
        )));
    } else {
        state.authorizer.rbac.mark_unused();
    }
    if state.config.enable_priority_and_fairness {
        flowcontrol::start(&state);
    }
    if state.authorizer.has(authorization::Mode::Node) {
        authorization::node::start(&state);
    } else {
        state.authorizer.nodes.mark_unused();
    }
    let advertise = state
        .config
        .advertise_address
        .unwrap_or_else(|| kubernetes_service::default_advertise_address(addr.ip()));
    let endpoint = SocketAddr::new(advertise, addr.port());
    let _ = state.external_address.set(endpoint);
    // Bootstrap objects (the four system namespaces) are ensured in the
    // background: the server must come up and report not-ready while etcd is
    // down, then finish bootstrapping when etcd appears. The `kubernetes`
    // Service goes into `default` once that exists; `/readyz` waits for both.
    tokio::spawn(apiextensions::controller::run(Arc::clone(&state)));
    aggregator::start(&state);
    if !state.config.etcd_compaction_interval.is_zero() {
        tokio::spawn(storage::compactor::run(
            Arc::clone(&state),
            state.config.etcd_compaction_interval,
        ));
    }
    if !state.config.metric_resolution.is_zero() {
        tokio::spawn(resource_metrics::scraper::run(
            Arc::clone(&state),
            state.config.metric_resolution,
        ));
    }
    let own = Arc::clone(&state);
    tokio::spawn(async move {
        bootstrap::ensure_system_namespaces(Arc::clone(&own)).await;
        kubernetes_service::run(own, endpoint).await;
    });
    let app = router(Arc::clone(&state));
    let limits = serve::Limits {
        header_read_timeout: state.config.header_read_timeout,
        http2_max_streams: state.config.http2_max_streams_per_connection,
    };
    // Both listeners stop together: the first shutdown signal ends the
    // watches and closes both.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopping_state = Arc::clone(&state);
    tokio::spawn(async move {
        shutdown.await;
        tracing::info!("shutting down: ending watches");
        stopping_state.stopping.send_replace(true);
        stop_tx.send_replace(true);
    });
    let stopped = move || {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    };
    let mut tasks = Vec::new();
    let (mut plain_addr, mut secure_addr) = (None, None);
    if let Some((listener, a)) = secure {
        secure_addr = Some(a);
        let (app, stop) = (app.clone(), stopped());
        tasks.push(tokio::spawn(async move {
            serve::serve(listener, tls, app, limits, stop).await;
        }));
    }
    if let Some((listener, a)) = plain {
        plain_addr = Some(a);
        let stop = stopped();
        tasks.push(tokio::spawn(async move {
            serve::serve(listener, None, app, limits, stop).await;
        }));
    }
    Ok(Server {
        plain: plain_addr,
        secure: secure_addr,
        tasks,
    })
}
