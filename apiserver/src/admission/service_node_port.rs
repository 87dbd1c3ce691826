//! Service node ports: every port of a `NodePort` or `LoadBalancer` Service
//! gets a port from `--service-node-port-range` (30000-32767 by default) on
//! which every node's service proxy forwards to the Service's endpoints.
//!
//! A `LoadBalancer` Service with `externalTrafficPolicy: Local` also gets a
//! `healthCheckNodePort` from the same range, where each node's proxy says
//! whether it has local endpoints (so a load balancer sends only to those).
//!
//! As with cluster IPs ([`super::service_ip`]), a port is taken by creating
//! the key `<prefix>/ranges/servicenodeports/<port>` in etcd, so two Services
//! can never share one, and given back when the Service no longer uses it: it
//! is deleted, a port is removed, or its type becomes `ClusterIP`.

use rand::Rng;
use serde_json::{json, Value};

use super::reservation;
use crate::errors::ApiError;
use crate::ApiServer;

/// An inclusive range of ports, `30000-32767`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRange {
    first: u16,
    last: u16,
}

impl PortRange {
    /// Parses `30000-32767` (or a single port).
    pub fn parse(s: &str) -> Option<PortRange> {
        let (first, last) = match s.split_once('-') {
            Some((a, b)) => (a.trim().parse().ok()?, b.trim().parse().ok()?),
            None => {
                let p = s.trim().parse().ok()?;
                (p, p)
            }
        };
        (first > 0 && first <= last).then_some(PortRange { first, last })
    }

    /// Whether `port` is in the range.
    pub fn contains(&self, port: i64) -> bool {
        (i64::from(self.first)..=i64::from(self.last)).contains(&port)
    }

    fn size(&self) -> u32 {
        u32::from(self.last - self.first) + 1
    }
}

impl std::fmt::Display for PortRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.first, self.last)
    }
}

/// Whether the Service's ports are exposed on every node.
pub fn wants_node_ports(svc: &Value) -> bool {
    match svc.pointer("/spec/type").and_then(Value::as_str) {
        Some("NodePort") => true,
        Some("LoadBalancer") => {
            svc.pointer("/spec/allocateLoadBalancerNodePorts")
                .and_then(Value::as_bool)
                != Some(false)
        }
        _ => false,
    }
}

/// Whether the Service needs a `healthCheckNodePort`: a load balancer
/// whose external traffic stays on nodes with local endpoints.
pub fn wants_health_check_port(svc: &Value) -> bool {
    svc.pointer("/spec/type").and_then(Value::as_str) == Some("LoadBalancer")
        && svc
            .pointer("/spec/externalTrafficPolicy")
            .and_then(Value::as_str)
            == Some("Local")
}

/// The node ports a Service holds (each once; a TCP and a UDP port may
/// share one), its health check port among them.
pub fn held(svc: &Value) -> Vec<i64> {
    let health = wants_health_check_port(svc)
        .then(|| {
            svc.pointer("/spec/healthCheckNodePort")
                .and_then(Value::as_i64)
        })
        .flatten()
        .filter(|n| *n > 0);
    if !wants_node_ports(svc) {
        return health.into_iter().collect();
    }
    let mut ports: Vec<i64> = svc
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .map(|ports| {
            ports
                .iter()
                .filter_map(|p| p.get("nodePort").and_then(Value::as_i64))
                .filter(|n| *n > 0)
                .collect()
        })
        .unwrap_or_default();
    ports.extend(health);
    ports.sort_unstable();
    ports.dedup();
    ports
}

/// The range name of node port reservations.
const RANGE: &str = "servicenodeports";

/// Reserves one port; false when another Service has it.
async fn reserve(server: &ApiServer, port: i64, owner: &str) -> Result<bool, ApiError> {
    reservation::reserve(server, RANGE, &port.to_string(), owner).await
}

/// Gives every port of a Service that needs one a node port, and the
/// Service its health check port when it needs one: the ports asked for are
/// reserved (unless `already_held`, by the stored version of the same
/// Service), the others are picked at random. Returns the ports newly taken;
/// on failure nothing stays taken.
pub async fn allocate(
    server: &ApiServer,
    svc: &mut Value,
    already_held: &[i64],
) -> Result<Vec<i64>, ApiError> {
    let mut wanted: Vec<String> = Vec::new();
    if wants_node_ports(svc) {
        let count = svc
            .pointer("/spec/ports")
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        wanted.extend((0..count).map(|i| format!("/spec/ports/{i}/nodePort")));
    }
    if wants_health_check_port(svc) {
        wanted.push("/spec/healthCheckNodePort".into());
    }
    let mut taken: Vec<i64> = Vec::new();
    for pointer in wanted {
        match take(server, svc, &pointer, already_held, &taken).await {
            Ok(Some(port)) => taken.push(port),
            Ok(None) => {}
            Err(e) => {
                release(server, &taken).await;
                return Err(e);
            }
        }
    }
    Ok(taken)
}

/// Takes the port at `pointer` (e.g. `/spec/ports/0/nodePort`): the one
/// asked for, or a free one written there. `None` when it is held already.
async fn take(
    server: &ApiServer,
    svc: &mut Value,
    pointer: &str,
    already_held: &[i64],
    taken: &[i64],
) -> Result<Option<i64>, ApiError> {
    let range = server.config.service_node_port_range;
    let owner = reservation::owner(svc);
    let asked = svc
        .pointer(pointer)
        .and_then(Value::as_i64)
        .filter(|n| *n > 0);
    match asked {
        Some(port) if already_held.contains(&port) || taken.contains(&port) => Ok(None),
        Some(port) => {
            let field = crate::validation::rules::field_path(pointer);
            if !range.contains(port) {
                return Err(reservation::invalid(
                    svc,
                    &field,
                    format!("Invalid value: {port}: provided port is not in the valid range. The range of valid ports is {range}"),
                ));
            }
            if !reserve(server, port, &owner).await? {
                return Err(reservation::invalid(
                    svc,
                    &field,
                    format!("Invalid value: {port}: provided port is already allocated"),
                ));
            }
            Ok(Some(port))
        }
        None => {
            // Random picks first (cheap while the range is mostly free),
            // then every port in order.
            let random: Vec<i64> = {
                let mut rng = rand::thread_rng();
                (0..32)
                    .map(|_| i64::from(range.first) + i64::from(rng.gen_range(0..range.size())))
                    .collect()
            };
            let all = i64::from(range.first)..=i64::from(range.last);
            for candidate in random.into_iter().chain(all) {
                if already_held.contains(&candidate) || taken.contains(&candidate) {
                    continue;
                }
                if reserve(server, candidate, &owner).await? {
                    if let Some(slot) = svc.pointer_mut(pointer) {
                        *slot = json!(candidate);
                    } else if let Some((parent, key)) = pointer.rsplit_once('/') {
                        if let Some(obj) = svc.pointer_mut(parent).and_then(Value::as_object_mut) {
                            obj.insert(key.to_string(), json!(candidate));
                        }
                    }
                    return Ok(Some(candidate));
                }
            }
            Err(ApiError::Internal(format!(
                "no free node port left in the range {range}"
            )))
        }
    }
}

/// Gives node ports back (best effort: a leaked reservation only wastes a
/// port).
pub async fn release(server: &ApiServer, ports: &[i64]) {
    for port in ports {
        reservation::release(server, RANGE, &port.to_string()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_local_load_balancer_holds_its_health_check_port() {
        let svc = json!({"spec": {"type": "LoadBalancer", "externalTrafficPolicy": "Local",
            "healthCheckNodePort": 31000, "ports": [{"port": 80, "nodePort": 30080}]}});
        assert_eq!(held(&svc), vec![30080, 31000]);
        let cluster = json!({"spec": {"type": "LoadBalancer", "externalTrafficPolicy": "Cluster",
            "healthCheckNodePort": 31000, "ports": [{"port": 80, "nodePort": 30080}]}});
        assert_eq!(held(&cluster), vec![30080]);
    }

    #[test]
    fn ranges() {
        let r = PortRange::parse("30000-32767").expect("range");
        assert!(r.contains(30000) && r.contains(32767) && !r.contains(32768));
        assert_eq!(r.size(), 2768);
        assert_eq!(r.to_string(), "30000-32767");
        assert!(PortRange::parse("32767-30000").is_none());
        assert!(PortRange::parse("x").is_none());
        assert_eq!(PortRange::parse("31000").map(|r| r.size()), Some(1));
    }

    #[test]
    fn which_services_hold_node_ports() {
        let svc = |ty: &str| {
            json!({"spec": {"type": ty, "ports": [
            {"port": 53, "protocol": "TCP", "nodePort": 30053},
            {"port": 53, "protocol": "UDP", "nodePort": 30053},
            {"port": 80, "nodePort": 30080}]}})
        };
        assert!(wants_node_ports(&svc("NodePort")));
        assert!(wants_node_ports(&svc("LoadBalancer")));
        assert!(!wants_node_ports(&svc("ClusterIP")));
        assert_eq!(held(&svc("NodePort")), vec![30053, 30080]);
        let mut lb = svc("LoadBalancer");
        lb["spec"]["allocateLoadBalancerNodePorts"] = json!(false);
        assert!(!wants_node_ports(&lb));
    }
}
