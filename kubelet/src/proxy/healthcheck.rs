//! Health check node ports: how a load balancer in front of the nodes
//! learns which nodes to send a Service's traffic to.
//!
//! A `LoadBalancer` Service with `externalTrafficPolicy: Local` is answered
//! only by nodes with one of its endpoints ([`super::rules`]), and the
//! apiserver gives it a `healthCheckNodePort`. Every node's proxy serves HTTP
//! on that port, as kube-proxy does: `200` with the number of local
//! endpoints when the node has some, `503` when it has none, so a load
//! balancer's health checks take the other nodes out of rotation.
//!
//! ```text
//! GET http://<node>:<healthCheckNodePort>/
//! 200 {"service":{"namespace":"default","name":"web"},"localEndpoints":1,"serviceProxyHealthy":true}
//! ```
//!
//! After each sync the proxy hands [`HealthChecks::update`] the service
//! ports; a listener starts for each new port and stops when its Service no
//! longer needs one.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tokio::sync::watch;

use super::rules::ServicePort;

/// What one health check port reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    /// The Service's namespace.
    pub namespace: String,
    /// The Service's name.
    pub name: String,
    /// Its ready endpoints on this node.
    pub local_endpoints: usize,
}

/// The health check ports this node serves, each with its listener.
#[derive(Default)]
pub struct HealthChecks {
    served: BTreeMap<u16, (watch::Sender<Health>, tokio::task::JoinHandle<()>)>,
}

/// What the ports should report: every Service with a health check port and
/// `externalTrafficPolicy: Local`, with its local endpoints (counted once
/// per endpoint address, over all its ports).
pub fn wanted(ports: &[ServicePort], node: &str) -> BTreeMap<u16, Health> {
    let mut out: BTreeMap<u16, (Health, std::collections::BTreeSet<Ipv4Addr>)> = BTreeMap::new();
    for sp in ports.iter().filter(|sp| sp.external_local) {
        let Some(port) = sp.health_check_node_port else {
            continue;
        };
        let entry = out.entry(port).or_insert_with(|| {
            (
                Health {
                    namespace: sp.namespace.clone(),
                    name: sp.name.clone(),
                    local_endpoints: 0,
                },
                Default::default(),
            )
        });
        entry
            .1
            .extend(sp.local_endpoints(node).iter().map(|e| *e.ip()));
    }
    out.into_iter()
        .map(|(port, (mut h, ips))| {
            h.local_endpoints = ips.len();
            (port, h)
        })
        .collect()
}

impl HealthChecks {
    /// Serves exactly the ports `ports` call for on this node.
    pub fn update(&mut self, ports: &[ServicePort], node: &str) {
        let wanted = wanted(ports, node);
        self.served.retain(|port, (_, task)| {
            let keep = wanted.contains_key(port);
            if !keep {
                task.abort();
                tracing::info!(port, "health check node port closed");
            }
            keep
        });
        for (port, health) in wanted {
            if let Some((tx, _)) = self.served.get(&port) {
                tx.send_if_modified(|h| {
                    let changed = *h != health;
                    *h = health.clone();
                    changed
                });
                continue;
            }
            let (tx, rx) = watch::channel(health);
            let task = tokio::spawn(serve(port, rx));
            self.served.insert(port, (tx, task));
        }
    }
}

impl Drop for HealthChecks {
    fn drop(&mut self) {
        for (_, task) in self.served.values() {
            task.abort();
        }
    }
}

async fn serve(port: u16, health: watch::Receiver<Health>) {
    let addr = SocketAddr::from(([0, 0, 0, 0], port));
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(port, error = %e, "cannot serve the health check node port");
            return;
        }
    };
    tracing::info!(port, "serving a health check node port");
    let app = axum::Router::new()
        .fallback(answer)
        .with_state(Arc::new(health));
    if let Err(e) = axum::serve(listener, app).await {
        tracing::warn!(port, error = %e, "health check node port stopped");
    }
}

async fn answer(State(health): State<Arc<watch::Receiver<Health>>>) -> Response {
    let h = health.borrow().clone();
    let status = if h.local_endpoints > 0 {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "service": {"namespace": h.namespace, "name": h.name},
        "localEndpoints": h.local_endpoints,
        "serviceProxyHealthy": true,
    });
    (
        status,
        [
            (header::CONTENT_TYPE, "application/json".to_string()),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_string()),
            (
                header::HeaderName::from_static("x-load-balancing-endpoint-weight"),
                h.local_endpoints.to_string(),
            ),
        ],
        body.to_string(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddrV4;

    fn port(name: &str, hc: Option<u16>, eps: &[(&str, &str)]) -> ServicePort {
        let endpoints: Vec<SocketAddrV4> = eps
            .iter()
            .map(|(ip, _)| SocketAddrV4::new(ip.parse().expect("ip"), 8080))
            .collect();
        ServicePort {
            namespace: "default".into(),
            name: name.into(),
            port_name: String::new(),
            protocol: super::super::rules::Protocol::Tcp,
            cluster_ip: Ipv4Addr::new(10, 96, 0, 9),
            port: 80,
            node_port: Some(30080),
            load_balancer_ips: vec![],
            affinity_seconds: None,
            endpoint_nodes: endpoints
                .iter()
                .zip(eps)
                .map(|(e, (_, node))| (*e, node.to_string()))
                .collect(),
            endpoints,
            internal_local: false,
            external_local: hc.is_some(),
            health_check_node_port: hc,
        }
    }

    #[test]
    fn each_port_reports_its_services_local_endpoints() {
        let ports = [
            port(
                "web",
                Some(31000),
                &[
                    ("10.244.1.2", "n1"),
                    ("10.244.2.2", "n2"),
                    ("10.244.1.3", "n1"),
                ],
            ),
            port("db", Some(31001), &[("10.244.2.5", "n2")]),
            port("plain", None, &[("10.244.1.7", "n1")]),
        ];
        let on_n1 = wanted(&ports, "n1");
        assert_eq!(on_n1.len(), 2);
        assert_eq!(on_n1[&31000].local_endpoints, 2);
        assert_eq!(on_n1[&31000].name, "web");
        assert_eq!(on_n1[&31001].local_endpoints, 0);
    }

    #[tokio::test]
    async fn a_node_without_local_endpoints_answers_503() {
        let (tx, rx) = watch::channel(Health {
            namespace: "default".into(),
            name: "web".into(),
            local_endpoints: 0,
        });
        let rx = Arc::new(rx);
        let r = answer(State(Arc::clone(&rx))).await;
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        tx.send_modify(|h| h.local_endpoints = 2);
        let r = answer(State(rx)).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()["x-load-balancing-endpoint-weight"], "2");
    }
}
