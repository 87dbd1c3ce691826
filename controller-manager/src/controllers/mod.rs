//! One module per controller, each with the same shape:
//!
//! ```text
//! pub fn start(ctx: &Context) -> Started
//!     informers (shared)  ──handlers──▶  Queue  ──workers──▶  reconcile(key)
//! ```
//!
//! `start` registers event handlers on the shared informers and returns a
//! future that runs the workers; [`run_all`] starts the informers, waits for
//! their first list (a controller acting on a half-filled cache would
//! re-create everything) and only then polls the workers.
//!
//! No controller imports another: what two of them share lives in
//! [`crate::machinery`]. The one exception is upstream's too: the
//! [`replicationcontroller`] is the [`replicaset`] controller run over a
//! converted kind.

pub mod bootstrapsigner;
pub mod cronjob;
pub mod csrapproving;
pub mod csrapproving_kubelet_serving;
pub mod csrsigning;
pub mod daemonset;
pub mod deployment;
pub mod disruption;
pub mod endpoints;
pub mod endpointslice;
pub mod endpointslicemirroring;
pub mod garbagecollector;
pub mod horizontalpodautoscaler;
pub mod ingressstatus;
pub mod job;
pub mod namespace;
pub mod nodeipam;
pub mod nodelifecycle;
pub mod persistentvolume;
pub mod podgc;
pub mod pvcprotection;
pub mod pvprotection;
pub mod replicaset;
pub mod replicationcontroller;
pub mod resourcequota;
pub mod rootcacertpublisher;
pub mod serviceaccount;
pub mod servicelb;
pub mod statefulset;
pub mod tokencleaner;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::client_builder::ClientBuilder;
use crate::config::Config;
use crate::events::Recorder;
use crate::health_server::Metrics;
use crate::machinery::controller::{self, Reconciler, Stats};
use crate::machinery::informer::Factory;
use crate::machinery::pod_control::{ApiPodClient, PodControl};
use crate::machinery::queue::Queue;

/// The workers of a started controller.
pub type Started = Pin<Box<dyn Future<Output = ()> + Send>>;

/// What every controller gets: the client, the shared informers, settings.
#[derive(Clone)]
pub struct Context {
    /// The apiserver.
    pub client: kube::Client,
    /// Shared informers (one watch per resource type for all controllers).
    pub factory: Arc<Factory>,
    /// Settings.
    pub config: Arc<Config>,
    metrics: Arc<Metrics>,
}

impl Context {
    /// A context over `client`.
    pub fn new(client: kube::Client, config: Arc<Config>, metrics: Arc<Metrics>) -> Context {
        Context {
            factory: Factory::new(client.clone()),
            client,
            config,
            metrics,
        }
    }

    /// The same context for a controller with its own client.
    pub fn with_client(&self, client: kube::Client) -> Context {
        Context {
            client,
            ..self.clone()
        }
    }

    /// The event recorder for `component` (`replicaset-controller`, ...).
    pub fn recorder(&self, component: &str) -> Recorder {
        if self.config.emit_events {
            Recorder::new(self.client.clone(), component)
        } else {
            Recorder::disabled()
        }
    }

    /// Pod control for `component`: pod writes through the apiserver,
    /// Events by `component`.
    pub fn pod_control(&self, component: &str) -> PodControl {
        PodControl::new(
            Arc::new(ApiPodClient::new(self.client.clone())),
            self.recorder(component),
        )
    }

    /// The workers of reconciler `r` over `queue`, registered for metrics.
    pub fn workers<R: Reconciler>(&self, r: Arc<R>, queue: Arc<Queue>) -> Started {
        let stats = Arc::new(Stats::default());
        self.metrics
            .register(r.name(), Arc::clone(&stats), Arc::clone(&queue));
        let workers = self.config.workers;
        Box::pin(controller::run(r, queue, workers, stats))
    }
}

type StartFn = fn(&Context) -> Started;

/// Every controller by upstream name, with the name of its ServiceAccount
/// (`--use-service-account-credentials`) and its start function.
const CONTROLLERS: &[(&str, &str, StartFn)] = &[
    ("namespace", "namespace-controller", namespace::start),
    ("replicaset", "replicaset-controller", replicaset::start),
    ("deployment", "deployment-controller", deployment::start),
    (
        "garbagecollector",
        "generic-garbage-collector",
        garbagecollector::start,
    ),
    ("endpoint", "endpoint-controller", endpoints::start),
    (
        "endpointslice",
        "endpointslice-controller",
        endpointslice::start,
    ),
    (
        "endpointslice-mirroring",
        "endpointslicemirroring-controller",
        endpointslicemirroring::start,
    ),
    ("nodeipam", "node-controller", nodeipam::start),
    ("nodelifecycle", "node-controller", nodelifecycle::start),
    ("podgc", "pod-garbage-collector", podgc::start),
    ("job", "job-controller", job::start),
    ("cronjob", "cronjob-controller", cronjob::start),
    ("daemonset", "daemon-set-controller", daemonset::start),
    ("statefulset", "statefulset-controller", statefulset::start),
    (
        "serviceaccount",
        "service-account-controller",
        serviceaccount::start,
    ),
    ("service-lb", "service-controller", servicelb::start),
    (
        "ingress-status",
        "ingress-status-controller",
        ingressstatus::start,
    ),
    (
        "root-ca-cert-publisher",
        "root-ca-cert-publisher",
        rootcacertpublisher::start,
    ),
    (
        "replicationcontroller",
        "replication-controller",
        replicationcontroller::start,
    ),
    ("disruption", "disruption-controller", disruption::start),
    (
        "resourcequota",
        "resourcequota-controller",
        resourcequota::start,
    ),
    (
        "horizontalpodautoscaling",
        "horizontal-pod-autoscaler",
        horizontalpodautoscaler::start,
    ),
    (
        "persistentvolume-binder",
        "persistent-volume-binder",
        persistentvolume::start,
    ),
    (
        "pvc-protection",
        "pvc-protection-controller",
        pvcprotection::start,
    ),
    (
        "pv-protection",
        "pv-protection-controller",
        pvprotection::start,
    ),
    (
        "csrapproving",
        "certificate-controller",
        csrapproving::start,
    ),
    ("csrsigning", "certificate-controller", csrsigning::start),
    (
        csrapproving_kubelet_serving::NAME,
        "certificate-controller",
        csrapproving_kubelet_serving::start,
    ),
    (
        "bootstrapsigner",
        "bootstrap-signer",
        bootstrapsigner::start,
    ),
    ("tokencleaner", "token-cleaner", tokencleaner::start),
];

/// Starts the enabled controllers and runs them until the process ends.
/// Each controller gets its client from `clients` (its own ServiceAccount's
/// with `--use-service-account-credentials`); the informers all share the
/// manager's.
pub async fn run_all(
    client: kube::Client,
    clients: &ClientBuilder,
    config: Arc<Config>,
    metrics: Arc<Metrics>,
) {
    let ctx = Context::new(client, Arc::clone(&config), metrics);
    let mut workers = Vec::new();
    for (name, account, start) in CONTROLLERS {
        if config.enabled(name) {
            let client = controller_client(clients, account).await;
            tracing::info!(controller = name, "starting");
            workers.push(start(&ctx.with_client(client)));
        }
    }
    ctx.factory.start();
    ctx.factory.wait_synced().await;
    tracing::info!("caches synced; controllers running");
    futures::future::join_all(workers).await;
}

/// The client of the controller whose ServiceAccount is `account`, asked
/// for again until the apiserver gives it (a controller without one cannot
/// work at all).
async fn controller_client(clients: &ClientBuilder, account: &str) -> kube::Client {
    let mut delay = std::time::Duration::from_millis(200);
    loop {
        match clients.client(account).await {
            Ok(client) => return client,
            Err(e) => {
                tracing::warn!(%account, error = %e, "getting the controller's credentials");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(std::time::Duration::from_secs(10));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_known_controller_has_a_start_function() {
        let names: Vec<&str> = super::CONTROLLERS.iter().map(|(n, _, _)| *n).collect();
        assert_eq!(names, crate::config::ALL_CONTROLLERS);
    }
}
