//! The controller-manager: the control loops that make the declarative API
//! real. Each controller watches some resources, compares what is desired
//! with what exists, and acts, again and again.
//!
//! - [`machinery`]: informers, the work queue, expectations and the worker
//!   loop (the one shape every controller has), and what the workload
//!   controllers share: pod control, controller references and adoption,
//!   status writes.
//! - [`controllers`]: one module per controller (replicaset, deployment,
//!   endpoints, endpointslice, garbagecollector, namespace, nodeipam,
//!   nodelifecycle, podgc, job, cronjob, daemonset, statefulset,
//!   serviceaccount, root-ca-cert-publisher, replicationcontroller, disruption,
//!   resourcequota, persistentvolume-binder, pvc-protection, pv-protection,
//!   csrapproving, csrsigning, bootstrapsigner, tokencleaner).
//! - [`client_builder`]: the identity each controller talks to the
//!   apiserver with (its own ServiceAccount with
//!   `--use-service-account-credentials`).
//! - [`events`]: the Event recorder; [`leader_election`] (from
//!   `component-base`): the Lease;
//!   [`health_server`]: `/healthz` and `/metrics`.
//!
//! `main.rs` only parses flags and calls [`run`], so tests run the whole
//! controller-manager in-process against a real apiserver.

pub mod client_builder;
pub mod config;
pub mod controllers;
pub use component_base::events;
pub use component_base::leader_election;
pub mod health_server;
pub mod machinery;

use std::sync::atomic::Ordering;
use std::sync::Arc;

pub use config::Config;

/// Runs the controller-manager until leadership is lost (an error) or
/// forever.
pub async fn run(client: kube::Client, config: Config) -> anyhow::Result<()> {
    let metrics = Arc::new(health_server::Metrics::default());
    if let Some(addr) = config.metrics_addr {
        let bound = health_server::start(addr, Arc::clone(&metrics)).await?;
        tracing::info!(%bound, "serving /healthz and /metrics");
    }
    if let Some(serving) = &config.secure_serving {
        let bound =
            component_base::health_server::start_tls(serving, Arc::new(metrics.endpoints()))
                .await?;
        tracing::info!(%bound, "serving /healthz and /metrics over TLS");
    }
    let clients = client_builder::ClientBuilder::new(
        client.clone(),
        config.service_account_credentials.clone(),
    )?;
    match config.leader_election.clone() {
        None => {
            metrics.leader.store(true, Ordering::Relaxed);
            controllers::run_all(client, &clients, Arc::new(config), metrics).await;
            Ok(())
        }
        Some(le) => {
            let mut elector = leader_election::Elector::new(client.clone(), le);
            tracing::info!(identity = %elector.identity(), "waiting for the lease");
            elector.acquire().await;
            metrics.leader.store(true, Ordering::Relaxed);
            tokio::select! {
                _ = controllers::run_all(client, &clients, Arc::new(config), Arc::clone(&metrics)) => Ok(()),
                lost = elector.keep_renewing() => {
                    metrics.leader.store(false, Ordering::Relaxed);
                    Err(lost.into())
                }
            }
        }
    }
}
