//! The network configuration list (`10-kubelet.conflist`) the kubelet writes
//! from its Node's `spec.podCIDR`, and the separate loopback configuration.
//!
//! The list chains two plugins, run in order on ADD and in reverse on DEL:
//!
//! 1. `bridge`: a veth pair per pod, one end (`eth0`) in the pod, the other on
//!    the node's bridge (`cni0` by default). The bridge gets the first address
//!    of the podCIDR and is every pod's default gateway (`isGateway`,
//!    `isDefaultGateway`), which is what host-gw routing needs: a node
//!    forwards between its bridge and its uplink, and the other nodes hold a
//!    route to this podCIDR via this node's IP ([`super::routes`]).
//!    `ipMasq` is off by default: pod-to-pod traffic across nodes must keep the
//!    pod's source IP (the Kubernetes network model), and the plugin's
//!    masquerade rule would rewrite everything that leaves the podCIDR,
//!    including traffic to other nodes' pods. `hairpinMode` lets a pod reach
//!    itself through a Service VIP that the service proxy DNATs back to it.
//!    Its IPAM is `host-local` with the podCIDR as the only range and a
//!    `dataDir` under the kubelet's own state dir, so that several kubelets on
//!    one machine (the lab) never share allocation files.
//! 2. `portmap`: the `hostPort`s of the pod, passed at run time as the
//!    `portMappings` capability (iptables DNAT rules in the node's netns).
//!
//! Loopback is not in the list (as in upstream runtimes): it has no IPAM and
//! no result worth chaining, and it is brought up in its own ADD first.

use std::fmt;
use std::net::IpAddr;
use std::path::Path;
use std::str::FromStr;

use serde_json::{json, Value};

use super::Error;

/// The CNI specification version of everything we write. Debian's
/// `containernetworking-plugins` (1.1) support up to 1.0.0.
pub const CNI_VERSION: &str = "1.0.0";

/// File name of the list in the configuration directory. The `10-` prefix is
/// the usual ordering convention of `/etc/cni/net.d`.
pub const CONFLIST_FILE: &str = "10-kubelet.conflist";

/// An IP network in CIDR notation, e.g. `10.244.1.0/24`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cidr {
    /// The network address (host bits zero).
    pub addr: IpAddr,
    /// Prefix length.
    pub prefix: u8,
}

impl Cidr {
    fn max_prefix(addr: &IpAddr) -> u8 {
        if addr.is_ipv4() {
            32
        } else {
            128
        }
    }

    /// Whether the network contains `ip`.
    pub fn contains(&self, ip: &IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(*ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(*ip) & mask
            }
            _ => false,
        }
    }
}

impl FromStr for Cidr {
    type Err = Error;

    /// Parses `addr/prefix`; a bare address is a host route (`/32`, `/128`),
    /// which is how `ip -j route` prints them. Host bits must be zero, since a
    /// podCIDR with host bits set is a configuration mistake worth reporting.
    fn from_str(s: &str) -> Result<Self, Error> {
        let bad = |reason: &'static str| Error::BadCidr {
            cidr: s.to_string(),
            reason,
        };
        let (addr, prefix) = match s.trim().split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s.trim(), None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| bad("not an IP address"))?;
        let max = Cidr::max_prefix(&addr);
        let prefix = match prefix {
            Some(p) => p
                .parse::<u8>()
                .map_err(|_| bad("the prefix length is not a number"))?,
            None => max,
        };
        if prefix > max {
            return Err(bad("the prefix length is too long for the address family"));
        }
        let cidr = Cidr { addr, prefix };
        let network = match addr {
            IpAddr::V4(a) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
                IpAddr::from(std::net::Ipv4Addr::from(u32::from(a) & mask))
            }
            IpAddr::V6(a) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
                IpAddr::from(std::net::Ipv6Addr::from(u128::from(a) & mask))
            }
        };
        if network != addr {
            return Err(bad("host bits are set"));
        }
        Ok(cidr)
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// What the generated list depends on besides the podCIDR.
#[derive(Debug, Clone)]
pub struct ListParams<'a> {
    /// Network name (also host-local's sub-directory of `dataDir`).
    pub name: &'a str,
    /// Bridge device in the node's netns.
    pub bridge: &'a str,
    /// MTU of the bridge and the veths.
    pub mtu: u32,
    /// Masquerade traffic leaving the podCIDR.
    pub ip_masq: bool,
    /// Hairpin mode on the bridge ports.
    pub hairpin_mode: bool,
    /// host-local's `dataDir`.
    pub ipam_data_dir: &'a Path,
}

/// The network configuration list for `pod_cidr`.
pub fn conflist(pod_cidr: &Cidr, p: &ListParams<'_>) -> Value {
    json!({
        "cniVersion": CNI_VERSION,
        "name": p.name,
        "plugins": [
            {
                "type": "bridge",
                "bridge": p.bridge,
                "isGateway": true,
                "isDefaultGateway": true,
                "ipMasq": p.ip_masq,
                "hairpinMode": p.hairpin_mode,
                "mtu": p.mtu,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{ "subnet": pod_cidr.to_string() }]],
                    "dataDir": p.ipam_data_dir.to_string_lossy(),
                },
            },
            {
                "type": "portmap",
                "capabilities": { "portMappings": true },
                "snat": true,
            },
        ],
    })
}

/// The configuration of the loopback plugin (`lo` up in the pod's netns).
pub fn loopback() -> Value {
    json!({
        "cniVersion": CNI_VERSION,
        "name": "cni-loopback",
        "type": "loopback",
    })
}

/// Checks the shape of a list read back from disk: a name, a version and a
/// non-empty `plugins` array whose entries each have a `type`.
pub fn validate_list(list: &Value) -> Result<(), String> {
    let name = list.get("name").and_then(Value::as_str).unwrap_or("");
    if name.is_empty() {
        return Err("no \"name\"".into());
    }
    if list.get("cniVersion").and_then(Value::as_str).is_none() {
        return Err("no \"cniVersion\"".into());
    }
    let plugins = list
        .get("plugins")
        .and_then(Value::as_array)
        .filter(|p| !p.is_empty())
        .ok_or("no \"plugins\"")?;
    for (i, p) in plugins.iter().enumerate() {
        if p.get("type")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .is_none()
        {
            return Err(format!("plugin {i} has no \"type\""));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cidrs() {
        let c: Cidr = "10.244.1.0/24".parse().unwrap();
        assert_eq!(c.prefix, 24);
        assert_eq!(c.to_string(), "10.244.1.0/24");
        assert!(c.contains(&"10.244.1.77".parse().unwrap()));
        assert!(!c.contains(&"10.244.2.1".parse().unwrap()));
        assert_eq!("10.0.0.5".parse::<Cidr>().unwrap().prefix, 32);
        assert_eq!("0.0.0.0/0".parse::<Cidr>().unwrap().prefix, 0);
        assert!("0.0.0.0/0"
            .parse::<Cidr>()
            .unwrap()
            .contains(&"1.2.3.4".parse().unwrap()));
        assert_eq!("fd00:1::/64".parse::<Cidr>().unwrap().prefix, 64);
        for bad in ["10.244.1.1/24", "10.0.0.0/33", "nope/8", "10.0.0.0/x", ""] {
            assert!(
                matches!(bad.parse::<Cidr>(), Err(Error::BadCidr { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn conflist_shape() {
        let cidr: Cidr = "10.9.1.0/24".parse().unwrap();
        let dir = Path::new("/var/lib/kubelet/cni/state/ipam");
        let l = conflist(
            &cidr,
            &ListParams {
                name: "kubelet",
                bridge: "cni0",
                mtu: 1500,
                ip_masq: false,
                hairpin_mode: true,
                ipam_data_dir: dir,
            },
        );
        validate_list(&l).unwrap();
        assert_eq!(l["cniVersion"], CNI_VERSION);
        let bridge = &l["plugins"][0];
        assert_eq!(bridge["type"], "bridge");
        assert_eq!(bridge["bridge"], "cni0");
        assert_eq!(bridge["isGateway"], true);
        assert_eq!(bridge["ipMasq"], false);
        assert_eq!(bridge["ipam"]["type"], "host-local");
        assert_eq!(bridge["ipam"]["ranges"][0][0]["subnet"], "10.9.1.0/24");
        assert_eq!(bridge["ipam"]["dataDir"], "/var/lib/kubelet/cni/state/ipam");
        let portmap = &l["plugins"][1];
        assert_eq!(portmap["type"], "portmap");
        assert_eq!(portmap["capabilities"]["portMappings"], true);
        assert_eq!(loopback()["type"], "loopback");
    }

    #[test]
    fn rejects_bad_lists() {
        assert!(
            validate_list(&json!({"cniVersion": "1.0.0", "plugins": [{"type": "x"}]})).is_err()
        );
        assert!(
            validate_list(&json!({"name": "n", "cniVersion": "1.0.0", "plugins": []})).is_err()
        );
        assert!(
            validate_list(&json!({"name": "n", "cniVersion": "1.0.0", "plugins": [{}]})).is_err()
        );
    }
}
