//! The scheduler: binds every pending pod to the best node.
//!
//! Where it sits in the life of a pod: a user (or a ReplicaSet) creates a
//! pod without `spec.nodeName`; the scheduler sees it through its watch,
//! queues it ([`queue`]), picks a node by running filter and score
//! [`plugins`] over its [`cache`] of nodes and placed pods ([`framework`],
//! [`scheduler`]), and POSTs a `pods/binding`; the kubelet of that node then
//! sees the pod and runs it. If nothing fits, it may evict lower-priority
//! pods ([`preemption`]) and tells the user why ([`events`], the pod's
//! `PodScheduled` condition).
//!
//! [`run`] wires it together; `main.rs` only parses flags.

pub mod cache;
pub mod config;
pub mod events;
pub mod framework;
pub mod informers;
pub use component_base::leader_election;
pub mod metrics;
pub mod plugins;
pub mod preemption;
pub mod queue;
pub mod scheduler;

use std::sync::atomic::Ordering;
use std::sync::Arc;

pub use config::Config;
pub use metrics::Metrics;
pub use scheduler::Scheduler;

/// Why the scheduler stopped.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Leadership was lost; the process should exit and restart.
    #[error(transparent)]
    LeaderElection(#[from] leader_election::Error),
    /// The metrics server could not listen.
    #[error("serving metrics on {addr}: {source}")]
    Metrics {
        /// The address.
        addr: std::net::SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// Shorthand.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Runs a scheduler with the default plugins until leadership is lost (or
/// forever). Dropping the future stops everything it started.
pub async fn run(client: kube::Client, config: Config) -> Result<()> {
    run_with_metrics(client, config, Arc::new(Metrics::default())).await
}

/// [`run`], sharing the given metrics (tests and benchmarks read them).
pub async fn run_with_metrics(
    client: kube::Client,
    config: Config,
    metrics: Arc<Metrics>,
) -> Result<()> {
    let mut tasks = tokio::task::JoinSet::new();
    let recorder = if config.emit_events {
        let (r, writer) = events::Recorder::new(client.clone(), events::COMPONENT);
        tasks.spawn(writer);
        r
    } else {
        events::Recorder::disabled()
    };
    let volumes = Arc::new(plugins::volume_binding::Volumes::default());
    let sched = Arc::new(Scheduler::new(
        client.clone(),
        config.clone(),
        framework::registry::default_framework_with(Arc::clone(&volumes)),
        recorder,
        Arc::clone(&metrics),
    ));
    let endpoints = Arc::new(metrics.endpoints(Some(sched.queue.clone())));
    if let Some(serving) = &config.secure_serving {
        let bound = component_base::health_server::start_tls(serving, Arc::clone(&endpoints))
            .await
            .map_err(|source| Error::Metrics {
                addr: serving.addr,
                source,
            })?;
        tracing::info!(%bound, "serving /healthz and /metrics over TLS");
    }
    if let Some(addr) = config.metrics_addr {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| Error::Metrics { addr, source })?;
        tasks.spawn(async move {
            if let Err(e) = component_base::health_server::serve(listener, endpoints).await {
                tracing::error!(error = %e, "metrics server");
            }
        });
    }
    let priorities = Arc::new(informers::Priorities::default());
    let ready = informers::start(&sched, &priorities, &volumes, &mut tasks);
    for mut r in ready {
        let _ = r.wait_for(|v| *v).await;
    }
    metrics.synced.store(true, Ordering::Relaxed);
    tracing::info!(
        nodes = sched.cache.node_count(),
        pods = sched.cache.pod_count(),
        "caches synced"
    );
    let result = match config.leader_election.clone() {
        None => {
            metrics.leader.store(true, Ordering::Relaxed);
            Arc::clone(&sched).run_loop().await;
            Ok(())
        }
        Some(le) => {
            let mut elector = leader_election::Elector::new(client, le);
            elector.acquire().await;
            metrics.leader.store(true, Ordering::Relaxed);
            let lost = tokio::select! {
                e = elector.keep_renewing() => Err(Error::LeaderElection(e)),
                _ = Arc::clone(&sched).run_loop() => Ok(()),
            };
            metrics.leader.store(false, Ordering::Relaxed);
            lost
        }
    };
    sched.queue.close();
    tasks.abort_all();
    result
}
