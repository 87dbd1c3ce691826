//! Service cluster IPs: every Service (except `ExternalName` and headless
//! ones, `clusterIP: None`) gets a virtual IP from the service range
//! (`--service-cluster-ip-range`, 10.96.0.0/12 by default) that the service
//! proxy on each node routes to the Service's endpoints.
//!
//! An IP is taken by creating the key `<prefix>/ranges/serviceips/<ip>` in
//! etcd — a create fails if the key exists, so two Services can never get the
//! same IP, even from two apiservers — and given back when the Service is
//! deleted. The first address of the range is kept for the `kubernetes`
//! Service, as upstream does.

use std::net::Ipv4Addr;

use rand::Rng;
use serde_json::{json, Value};

use super::reservation;
use crate::errors::ApiError;
use crate::ApiServer;

/// An IPv4 CIDR range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Range {
    base: u32,
    bits: u8,
}

impl Ipv4Range {
    /// Parses `10.96.0.0/12`.
    pub fn parse(s: &str) -> Option<Ipv4Range> {
        let (ip, bits) = s.split_once('/')?;
        let ip: Ipv4Addr = ip.parse().ok()?;
        let bits: u8 = bits.parse().ok()?;
        if !(8..=30).contains(&bits) {
            return None;
        }
        let mask = u32::MAX << (32 - bits);
        Some(Ipv4Range {
            base: u32::from(ip) & mask,
            bits,
        })
    }

    fn size(&self) -> u32 {
        1u32 << (32 - self.bits)
    }

    /// Whether `ip` is a usable address of the range.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        let v = u32::from(ip);
        v > self.base && v < self.base + self.size() - 1
    }

    /// The `n`-th address of the range.
    pub fn nth(&self, n: u32) -> Ipv4Addr {
        Ipv4Addr::from(self.base + n)
    }
}

impl std::fmt::Display for Ipv4Range {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", Ipv4Addr::from(self.base), self.bits)
    }
}

/// The range name of cluster IP reservations.
const RANGE: &str = "serviceips";

/// Whether a Service needs a cluster IP (not ExternalName, not headless).
pub fn wants_ip(svc: &Value) -> bool {
    svc.pointer("/spec/type").and_then(Value::as_str) != Some("ExternalName")
        && svc.pointer("/spec/clusterIP").and_then(Value::as_str) != Some("None")
}

/// Gives a new Service its cluster IP (or reserves the one it asked for).
/// Returns the reserved IP, to release if the create fails afterwards.
pub async fn allocate(server: &ApiServer, svc: &mut Value) -> Result<Option<String>, ApiError> {
    if !wants_ip(svc) {
        return Ok(None);
    }
    let range = server.config.service_cluster_ip_range;
    let owner = reservation::owner(svc);
    let requested = svc
        .pointer("/spec/clusterIP")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    let invalid = |msg: String| reservation::invalid(svc, "spec.clusterIPs", msg);
    let candidates: Vec<String> = match &requested {
        Some(ip) => {
            let parsed: Ipv4Addr = ip.parse().map_err(|_| {
                invalid(format!("Invalid value: {ip:?}: must be a valid IP address"))
            })?;
            if !range.contains(parsed) {
                return Err(invalid(format!(
                    "Invalid value: {ip:?}: failed to allocate IP {ip}: the provided IP ({ip}) is not in the valid range"
                )));
            }
            vec![ip.clone()]
        }
        None => {
            let mut rng = rand::thread_rng();
            // Skip the network address and the first IP (kept for `kubernetes`).
            (0..32)
                .map(|_| range.nth(rng.gen_range(2..range.size() - 1)).to_string())
                .collect()
        }
    };
    for ip in candidates {
        if reservation::reserve(server, RANGE, &ip, &owner).await? {
            if let Some(spec) = svc.get_mut("spec").and_then(Value::as_object_mut) {
                spec.insert("clusterIP".into(), json!(ip));
                spec.insert("clusterIPs".into(), json!([ip]));
            }
            return Ok(Some(ip));
        }
        if requested.is_some() {
            return Err(invalid(format!(
                "Invalid value: {ip:?}: failed to allocate IP {ip}: provided IP is already allocated"
            )));
        }
    }
    Err(ApiError::Internal(
        "no free service IP found in the service range".into(),
    ))
}

/// Gives a cluster IP back (best effort: a leaked reservation only wastes an IP).
pub async fn release(server: &ApiServer, ip: &str) {
    reservation::release(server, RANGE, ip).await;
}

/// The cluster IP a stored Service holds.
pub fn held_ip(svc: &Value) -> Option<String> {
    if !wants_ip(svc) {
        return None;
    }
    svc.pointer("/spec/clusterIP")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        let r = Ipv4Range::parse("10.96.0.0/12").expect("range");
        assert!(r.contains("10.96.0.10".parse().expect("ip")));
        assert!(r.contains("10.111.255.254".parse().expect("ip")));
        assert!(!r.contains("10.112.0.1".parse().expect("ip")));
        assert!(!r.contains("10.96.0.0".parse().expect("ip")));
        assert_eq!(r.nth(1).to_string(), "10.96.0.1");
        assert!(Ipv4Range::parse("10.0.0.0/40").is_none());
        assert!(Ipv4Range::parse("nonsense").is_none());
    }
}
