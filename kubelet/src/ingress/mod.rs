//! The ingress proxy: what makes `curl -H 'Host: foo.example' http://<node IP>/`
//! from outside the cluster reach a pod of the Service an Ingress routes
//! `foo.example` to, as k3s's bundled Traefik does.
//!
//! Where it runs, and why: in every kubelet, as its own module beside the
//! service proxy ([`crate::proxy`]). Like the service proxy it is node
//! plumbing that must be there before any pod (including one that would
//! run an ingress controller) can be reached from outside, and it reads
//! the same Service and EndpointSlice watches ([`crate::services`]), so a
//! node keeps no second copy of them. A DaemonSet of a separate binary
//! would need an image, a ServiceAccount and host networking to do the
//! same; k3s makes the same choice the other way round (Traefik as a
//! pod) because it ships a third-party proxy.
//!
//! ```text
//! watch Ingresses, IngressClasses
//!   + the node's Services/EndpointSlices view
//!       └─ on change (debounced) and every 30 s: routes::Table of our
//!          Ingresses, the ready endpoints of each backend, the TLS keys of
//!          the Secrets spec.tls names (each read by name) ─▶ Routing
//! listen on <node IP>:80 (HTTP) and :443 (HTTPS, certificate by SNI)
//!   request ─▶ Table::route(host, path) ─▶ forward (round-robin over
//!              ready endpoints, X-Forwarded-*, upgrades) | 404 | 503
//! ```
//!
//! Which Ingresses are ours: those whose IngressClass has
//! `spec.controller: minik8s.io/ingress`
//! ([`apimachinery::ingress_class::CONTROLLER`]); an Ingress that names no
//! class is ours when our class is the cluster's default
//! (`ingressclass.kubernetes.io/is-default-class: "true"`). Other classes
//! are left to their controllers. `status.loadBalancer` of our Ingresses is
//! written by one writer, the controller-manager's `ingress-status`
//! controller, not by every kubelet.
//!
//! The TLS Secrets are read one by one, by name, at every rebuild: the Node
//! authorizer lets every node read exactly the Secrets that `spec.tls` of
//! an Ingress of our class names, and nothing else (no RBAC grant on
//! Secrets, no watch of the cluster's Secrets on every node). A renewed
//! certificate is therefore served from the next rebuild, at most 30 s
//! later.
//!
//! The ports are `ingressHTTPPort` and `ingressHTTPSPort` of the kubelet
//! config (80 and 443; `ingressProxy: false` turns the proxy off). A port
//! that cannot be bound is logged and skipped; the rest keeps working.

pub mod certificates;
pub mod forward;
pub mod routes;

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr, SocketAddrV4};
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use apimachinery::ingress_class::{handled_by, CONTROLLER};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::networking::v1::{Ingress, IngressClass};
use kube::runtime::reflector::Store;
use kube::runtime::watcher::{self};
use tokio::sync::watch;

use crate::proxy::rules::{self, Protocol, ServicePort};
use crate::services::{reflect, ServiceView};
use routes::{Backend, PortRef, SecretRef, Table};

/// How long to wait after a change for more before rebuilding the routes.
const DEBOUNCE: Duration = Duration::from_millis(100);
/// Every how long the routes are rebuilt even without a change.
const RESYNC: Duration = Duration::from_secs(30);

/// The ingress proxy's settings (from the kubelet config).
#[derive(Debug, Clone)]
pub struct IngressConfig {
    /// `ingressProxy`.
    pub enabled: bool,
    /// The addresses to listen on (the node's).
    pub addresses: Vec<IpAddr>,
    /// `ingressHTTPPort`.
    pub http_port: u16,
    /// `ingressHTTPSPort`.
    pub https_port: u16,
}

/// What the proxy routes by, rebuilt on every change and swapped whole.
#[derive(Default)]
pub struct Routing {
    /// The merged rules of our Ingresses.
    pub table: Table,
    /// The ready endpoints of every backend of the table.
    pub endpoints: BTreeMap<Backend, Vec<SocketAddrV4>>,
    /// The TLS keys of the Secrets the table names.
    pub certificates: BTreeMap<SecretRef, Arc<rustls::sign::CertifiedKey>>,
    /// Round-robin positions, per backend.
    next: BTreeMap<Backend, AtomicUsize>,
}

impl Routing {
    /// The routing for `table` (of the Ingresses of our class), with
    /// endpoints from `ports` and keys from `secrets`; also returns why
    /// some Secrets could not be used.
    pub fn build(
        table: Table,
        ports: &[ServicePort],
        secrets: &[Arc<Secret>],
    ) -> (Routing, Vec<certificates::Error>) {
        let endpoints: BTreeMap<Backend, Vec<SocketAddrV4>> = table
            .backends()
            .into_iter()
            .map(|b| (b.clone(), endpoints_of(b, ports)))
            .collect();
        let next = endpoints
            .keys()
            .map(|b| (b.clone(), AtomicUsize::new(0)))
            .collect();
        let (certificates, errors) = certificates::load(&table.tls_secrets(), secrets);
        (
            Routing {
                table,
                endpoints,
                certificates,
                next,
            },
            errors,
        )
    }

    /// The ready endpoints of `backend`, starting at the next one in
    /// round-robin order (the caller tries them in this order).
    pub fn pick(&self, backend: &Backend) -> Vec<SocketAddrV4> {
        let Some(eps) = self.endpoints.get(backend).filter(|e| !e.is_empty()) else {
            return Vec::new();
        };
        let start = self
            .next
            .get(backend)
            .map(|n| n.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
            .unwrap_or(0)
            % eps.len();
        eps[start..].iter().chain(&eps[..start]).copied().collect()
    }
}

/// The ready endpoints of a backend: the Service port it names (by number
/// or by name), TCP only.
fn endpoints_of(b: &Backend, ports: &[ServicePort]) -> Vec<SocketAddrV4> {
    ports
        .iter()
        .find(|p| {
            p.namespace == b.namespace
                && p.name == b.service
                && p.protocol == Protocol::Tcp
                && match &b.port {
                    PortRef::Number(n) => p.port == *n,
                    PortRef::Name(n) => p.port_name == *n,
                }
        })
        .map(|p| p.endpoints.clone())
        .unwrap_or_default()
}

/// The routing the listeners read, shared with every connection.
#[derive(Default)]
pub struct Shared {
    routing: RwLock<Arc<Routing>>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ingress::Shared")
    }
}

impl Shared {
    /// The routing now (a snapshot: a request keeps the one it started
    /// with).
    pub fn current(&self) -> Arc<Routing> {
        self.routing
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Replaces the routing.
    pub fn set(&self, routing: Routing) {
        *self.routing.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(routing);
    }
}

/// The Ingresses among `ingresses` that our class serves.
pub fn ours<'a>(ingresses: &'a [Arc<Ingress>], classes: &[Arc<IngressClass>]) -> Vec<&'a Ingress> {
    let classes: Vec<serde_json::Value> = classes
        .iter()
        .filter_map(|c| serde_json::to_value(&**c).ok())
        .collect();
    let class_refs: Vec<&serde_json::Value> = classes.iter().collect();
    ingresses
        .iter()
        .filter(|i| {
            serde_json::to_value(&***i).is_ok_and(|v| handled_by(&v, &class_refs, CONTROLLER))
        })
        .map(|i| &**i)
        .collect()
}

/// Runs the ingress proxy until the process ends (returns at once when it
/// is disabled).
pub async fn run(client: kube::Client, view: Arc<ServiceView>, cfg: IngressConfig) {
    if !cfg.enabled {
        tracing::info!("ingress proxy disabled (ingressProxy: false)");
        return;
    }
    let (tx, mut changes) = watch::channel(0u64);
    let tx = Arc::new(tx);
    let all = watcher::Config::default;
    let (ingresses, _) = reflect::<Ingress>(client.clone(), all(), "ingresses", &tx);
    let (classes, _) = reflect::<IngressClass>(client.clone(), all(), "ingressclasses", &tx);
    let shared = Arc::new(Shared::default());
    let tls = match forward::tls_config(shared.clone()) {
        Ok(tls) => Some(tls),
        Err(e) => {
            tracing::warn!(error = %e, "ingress proxy: no HTTPS (TLS settings)");
            None
        }
    };
    for addr in &cfg.addresses {
        tokio::spawn(forward::listen(
            SocketAddr::new(*addr, cfg.http_port),
            None,
            shared.clone(),
        ));
        if let Some(tls) = &tls {
            tokio::spawn(forward::listen(
                SocketAddr::new(*addr, cfg.https_port),
                Some(tls.clone()),
                shared.clone(),
            ));
        }
    }
    let ready = async {
        ingresses.wait_until_ready().await.is_ok()
            && classes.wait_until_ready().await.is_ok()
            && view.ready().await
    };
    if !ready.await {
        tracing::warn!("ingress proxy: the watches ended before their first list");
        return;
    }
    tracing::info!(addresses = ?cfg.addresses, cfg.http_port, cfg.https_port, "ingress proxy routing");
    let mut services = view.changes();
    let mut last_errors = Vec::new();
    let mut secrets = TlsSecrets::default();
    // Only a change of Ingresses or IngressClasses, or the resync, reads
    // the TLS Secrets again; endpoint churn reuses the last ones (unless it
    // changed which Secrets are wanted, which it cannot).
    let mut reread = true;
    loop {
        let errors = sync(
            &client,
            &shared,
            &ingresses,
            &classes,
            &view,
            &mut secrets,
            reread,
        )
        .await;
        if errors != last_errors {
            for e in &errors {
                tracing::warn!(error = %e, "ingress proxy: a TLS Secret cannot be used");
            }
            last_errors = errors;
        }
        let (changed, ours_changed) = tokio::select! {
            c = changes.changed() => (c.is_ok(), true),
            c = services.changed() => (c.is_ok(), false),
            _ = tokio::time::sleep(RESYNC) => (true, true),
        };
        if !changed {
            tracing::warn!("ingress proxy: the watches ended");
            return;
        }
        tokio::time::sleep(DEBOUNCE).await;
        reread = ours_changed || changes.has_changed().unwrap_or(false);
        changes.borrow_and_update();
        services.borrow_and_update();
    }
}

/// The TLS Secrets last read, and the references they were read for.
#[derive(Default)]
struct TlsSecrets {
    wanted: Vec<SecretRef>,
    found: Vec<Arc<Secret>>,
}

/// One rebuild of the routing from the stores and the TLS Secrets the
/// Ingresses name (read again when `reread` or when other ones are
/// wanted); the Secret errors as text.
async fn sync(
    client: &kube::Client,
    shared: &Shared,
    ingresses: &Store<Ingress>,
    classes: &Store<IngressClass>,
    view: &ServiceView,
    secrets: &mut TlsSecrets,
    reread: bool,
) -> Vec<String> {
    let all = ingresses.state();
    let ours = ours(&all, &classes.state());
    let table = Table::build(&ours);
    let wanted = table.tls_secrets();
    if reread || !wanted.iter().copied().eq(secrets.wanted.iter()) {
        secrets.found = tls_secrets(client, &wanted).await;
        secrets.wanted = wanted.into_iter().cloned().collect();
    }
    let svcs = view.services.state();
    let eps = view.slices.state();
    let svc_refs: Vec<_> = svcs.iter().map(Arc::as_ref).collect();
    let ep_refs: Vec<_> = eps.iter().map(Arc::as_ref).collect();
    let ports = rules::service_ports(&svc_refs, &ep_refs);
    let (routing, errors) = Routing::build(table, &ports, &secrets.found);
    shared.set(routing);
    errors.iter().map(ToString::to_string).collect()
}

/// Reads each Secret in `wanted` by name. One that is missing or refused
/// is left out (the routing then reports it missing and serves that host
/// without TLS); a refusal is logged, as it means the Node authorizer does
/// not see the Ingress yet or at all.
async fn tls_secrets(client: &kube::Client, wanted: &[&SecretRef]) -> Vec<Arc<Secret>> {
    let mut found = Vec::new();
    for r in wanted {
        let api: kube::Api<Secret> = kube::Api::namespaced(client.clone(), &r.namespace);
        match api.get_opt(&r.name).await {
            Ok(Some(secret)) => found.push(Arc::new(secret)),
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(namespace = %r.namespace, name = %r.name, error = %e,
                    "ingress proxy: cannot read a TLS Secret")
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The Service port `ns/web` 80 (`http`) with two ready endpoints.
    pub(super) fn service_port() -> ServicePort {
        ServicePort {
            namespace: "ns".into(),
            name: "web".into(),
            port_name: "http".into(),
            protocol: Protocol::Tcp,
            cluster_ip: "10.96.0.20".parse().expect("ip"),
            port: 80,
            node_port: None,
            load_balancer_ips: Vec::new(),
            affinity_seconds: None,
            endpoints: vec![
                "10.244.1.5:8080".parse().expect("ep"),
                "10.244.2.7:8080".parse().expect("ep"),
            ],
            endpoint_nodes: Default::default(),
            internal_local: false,
            external_local: false,
            health_check_node_port: None,
        }
    }

    #[test]
    fn backends_resolve_by_port_number_or_name_and_rotate() {
        let ing: Ingress = serde_json::from_value(json!({
            "metadata": {"name": "i", "namespace": "ns"},
            "spec": {"rules": [{"http": {"paths": [
                {"path": "/a", "pathType": "Prefix", "backend": {"service": {"name": "web", "port": {"number": 80}}}},
                {"path": "/b", "pathType": "Prefix", "backend": {"service": {"name": "web", "port": {"name": "http"}}}},
                {"path": "/c", "pathType": "Prefix", "backend": {"service": {"name": "gone", "port": {"number": 80}}}},
            ]}}]},
        }))
        .expect("ingress");
        let port = service_port();
        let (routing, errors) = Routing::build(Table::build(&[&ing]), &[port], &[]);
        assert!(errors.is_empty());
        let a = routing.table.route("x", "/a").expect("a").clone();
        let b = routing.table.route("x", "/b").expect("b").clone();
        assert_eq!(routing.endpoints[&a], routing.endpoints[&b]);
        let first = routing.pick(&a);
        let second = routing.pick(&a);
        assert_eq!(first.len(), 2);
        assert_ne!(first[0], second[0], "round robin");
        let c = routing.table.route("x", "/c").expect("c").clone();
        assert!(
            routing.pick(&c).is_empty(),
            "no Service: no endpoints (503)"
        );
    }
}
