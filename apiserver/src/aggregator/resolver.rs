//! Where an APIService's Service is served: its port, then a ready address
//! of its EndpointSlices, dialled directly, as upstream's endpoint routing
//! (`--enable-aggregator-routing`) resolves it. Upstream's default dials
//! the cluster IP instead; here the node proxies, not the control plane,
//! forward cluster IPs, so the endpoints are what the apiserver can reach
//! (as for webhooks, [`crate::admission::webhook::client`]).
//!
//! The steps fail in upstream's order, each with the reason the
//! availability controller reports ([`crate::aggregator::available`]).

use serde_json::Value;

use super::ServiceRef;
use crate::ApiServer;

/// The label that ties an EndpointSlice to its Service.
const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// Why a Service resolves to no address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unresolved {
    /// The Service does not exist.
    #[error("service/{name} in {namespace:?} is not present")]
    ServiceNotFound {
        /// The Service's namespace.
        namespace: String,
        /// Its name.
        name: String,
    },
    /// The Service has no such port.
    #[error("service/{name} in {namespace:?} is not listening on port {port}")]
    ServicePortError {
        /// The Service's namespace.
        namespace: String,
        /// Its name.
        name: String,
        /// The port asked for.
        port: i64,
    },
    /// The Service has no EndpointSlices.
    #[error("cannot find endpointslices for service/{name} in {namespace:?}")]
    EndpointsNotFound {
        /// The Service's namespace.
        namespace: String,
        /// Its name.
        name: String,
    },
    /// No EndpointSlice has a ready address for the port.
    #[error("endpointslices for service/{name} in {namespace:?} have no addresses with port name {port_name:?}")]
    MissingEndpoints {
        /// The Service's namespace.
        namespace: String,
        /// Its name.
        name: String,
        /// The Service port's name.
        port_name: String,
    },
    /// The Service is of a type that has no endpoints to dial.
    #[error("unsupported service type {0:?}")]
    UnsupportedType(String),
    /// The objects could not be read.
    #[error("service/{name} in {namespace:?} cannot be checked due to: {message}")]
    AccessError {
        /// The Service's namespace.
        namespace: String,
        /// Its name.
        name: String,
        /// What went wrong.
        message: String,
    },
}

impl Unresolved {
    /// The `Available` condition's reason for it.
    pub fn reason(&self) -> &'static str {
        match self {
            Unresolved::ServiceNotFound { .. } => "ServiceNotFound",
            Unresolved::ServicePortError { .. } => "ServicePortError",
            Unresolved::EndpointsNotFound { .. } => "EndpointsNotFound",
            Unresolved::MissingEndpoints { .. } => "MissingEndpoints",
            Unresolved::UnsupportedType(_) => "FailedDiscoveryCheck",
            Unresolved::AccessError { .. } => "ServiceAccessError",
        }
    }
}

/// Resolves `svc` to `host:port` of one ready endpoint (picked at random
/// among the ready ones, as upstream spreads requests).
pub async fn resolve(server: &ApiServer, svc: &ServiceRef) -> Result<String, Unresolved> {
    let access = |e: crate::storage::StorageError| Unresolved::AccessError {
        namespace: svc.namespace.clone(),
        name: svc.name.clone(),
        message: e.to_string(),
    };
    let service = server
        .lookup("", "services", &svc.namespace, &svc.name)
        .await
        .map_err(access)?
        .ok_or_else(|| Unresolved::ServiceNotFound {
            namespace: svc.namespace.clone(),
            name: svc.name.clone(),
        })?;
    let service = &*service.object;
    let kind = service
        .pointer("/spec/type")
        .and_then(Value::as_str)
        .unwrap_or("ClusterIP");
    if !matches!(kind, "ClusterIP" | "NodePort" | "LoadBalancer") {
        return Err(Unresolved::UnsupportedType(kind.to_string()));
    }
    let port_name = service
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|p| p.get("port").and_then(Value::as_i64) == Some(svc.port))
        .map(|p| {
            p.get("name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        })
        .ok_or_else(|| Unresolved::ServicePortError {
            namespace: svc.namespace.clone(),
            name: svc.name.clone(),
            port: svc.port,
        })?;
    let slices: Vec<Value> = server
        .list_cached("discovery.k8s.io", "endpointslices", Some(&svc.namespace))
        .await
        .map_err(access)?
        .into_iter()
        .map(|c| Value::clone(&c.object))
        .filter(|s| {
            s.pointer("/metadata/labels")
                .and_then(|l| l.get(SERVICE_NAME_LABEL))
                .and_then(Value::as_str)
                == Some(&svc.name)
        })
        .collect();
    if slices.is_empty() {
        return Err(Unresolved::EndpointsNotFound {
            namespace: svc.namespace.clone(),
            name: svc.name.clone(),
        });
    }
    let ready = ready_addresses(&slices, &port_name);
    if ready.is_empty() {
        return Err(Unresolved::MissingEndpoints {
            namespace: svc.namespace.clone(),
            name: svc.name.clone(),
            port_name,
        });
    }
    let pick = rand::random::<usize>() % ready.len();
    Ok(ready[pick].clone())
}

/// `host:port` of every ready endpoint of `slices` with a port named
/// `port_name` (a port without a name matches none, as upstream).
fn ready_addresses(slices: &[Value], port_name: &str) -> Vec<String> {
    let mut out = Vec::new();
    for slice in slices {
        let ports = slice
            .get("ports")
            .and_then(Value::as_array)
            .into_iter()
            .flatten();
        for port in ports {
            if port.get("name").and_then(Value::as_str) != Some(port_name) {
                continue;
            }
            let Some(number) = port.get("port").and_then(Value::as_i64) else {
                continue;
            };
            let endpoints = slice
                .get("endpoints")
                .and_then(Value::as_array)
                .into_iter()
                .flatten();
            for ep in endpoints {
                let ready = ep.pointer("/conditions/ready").and_then(Value::as_bool);
                if ready == Some(false) {
                    continue;
                }
                let Some(ip) = ep.pointer("/addresses/0").and_then(Value::as_str) else {
                    continue;
                };
                out.push(if ip.contains(':') {
                    format!("[{ip}]:{number}")
                } else {
                    format!("{ip}:{number}")
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_ready_endpoints_on_the_named_port_count() {
        let slices = vec![json!({
            "ports": [{"name": "https", "port": 8443}, {"port": 9000}],
            "endpoints": [
                {"addresses": ["10.0.0.1"], "conditions": {"ready": false}},
                {"addresses": ["10.0.0.2"], "conditions": {}},
                {"addresses": ["fd00::3"]},
            ],
        })];
        assert_eq!(
            ready_addresses(&slices, "https"),
            vec!["10.0.0.2:8443", "[fd00::3]:8443"]
        );
        assert!(
            ready_addresses(&slices, "").is_empty(),
            "a port without a name matches none"
        );
    }
}
