//! The built-in pod network (`networkPlugin: kubenet`): what the CNI
//! `loopback`, `bridge` and `host-local` plugins do for a pod, done by the
//! kubelet itself, named after upstream's old built-in plugin of the same
//! shape (a bridge, a veth per pod, host-local addresses).
//!
//! Why: with the standard plugins every pod's sandbox costs three or four
//! executions of Go binaries for ADD (and again for DEL); on a loaded node
//! that was the largest stage of a pod's startup (`docs/benchmarks.md`).
//! Here it costs no process at all: the links, addresses and the route are
//! rtnetlink requests the kubelet sends itself ([`netlink`]). It first ran
//! two `ip -batch` per pod instead (plus `ip link del` for DEL), and with
//! 100 pods starting on one node those `ip` processes (exec, dynamic
//! linking, page faults, libc start-up) took about 10% of the whole
//! machine's CPU, more than the kernel's netlink work they asked for.
//! kubenet needs no `ip` binary any more (routes and policy still run
//! theirs). The pod's side is configured from a short-lived thread that
//! enters the pod's namespace with `setns(2)` and opens its socket there,
//! so the kubelet's own threads never leave the node's.
//!
//! ```text
//! node netns:  cni0 (gateway .1/24) ── veth<hash> ═══ eth0 (.N/24, default via .1)  :pod netns
//! ```
//!
//! The same things as the plugins, so the two paths are interchangeable per
//! pod: the bridge is the CNI list's (`cni0`), with the gateway address and
//! hairpin mode on its ports; the addresses are host-local's files
//! ([`ipam`]); the result recorded for the pod has the plugins' shape. Host
//! ports still go through the `portmap` plugin, run alone with our result
//! as its `prevResult`, and only for pods that have them.

pub mod ipam;
pub mod netlink;

use std::fs::File;
use std::net::Ipv4Addr;
use std::os::fd::AsFd as _;

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::state::Attachment;
use super::{Error, NetworkConfig};
use ipam::{Store, Subnet};
use netlink::AddressOp;

/// The subnet of the list's `host-local` range (the node's podCIDR).
pub fn subnet_of(list: &Value) -> Result<Subnet, Error> {
    let bad = |reason: &str| Error::BadResult {
        plugin: "kubenet".into(),
        reason: reason.to_string(),
    };
    let text = list
        .pointer("/plugins/0/ipam/ranges/0/0/subnet")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("the CNI list has no host-local subnet"))?;
    let (addr, prefix) = text
        .split_once('/')
        .ok_or_else(|| bad("the subnet is not a CIDR"))?;
    let network: Ipv4Addr = addr.parse().map_err(|_| bad("the subnet is not IPv4"))?;
    let prefix: u8 = prefix
        .parse()
        .ok()
        .filter(|p| *p <= 30)
        .ok_or_else(|| bad("the subnet's prefix is not 0-30"))?;
    Ok(Subnet { network, prefix })
}

/// The node-side end of a pod's veth pair: stable for the sandbox, at most
/// 15 characters (the kernel's limit).
pub fn host_veth(container_id: &str) -> String {
    let digest = Sha256::digest(container_id.as_bytes());
    let hex: String = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
    format!("veth{hex}")
}

/// Runs `work` in the network namespace of `netns` (opened by the
/// caller): a thread of its own enters it (a network namespace is per
/// thread) and ends with it, so whatever it opens (its netlink socket)
/// belongs to the pod's namespace and the caller's thread stays in the
/// node's.
fn in_netns(
    netns: File,
    path: &str,
    work: impl FnOnce() -> Result<(), Error> + Send + 'static,
) -> Result<(), Error> {
    let path = std::path::PathBuf::from(path);
    std::thread::spawn(move || {
        nix::sched::setns(&netns, nix::sched::CloneFlags::CLONE_NEWNET).map_err(|e| Error::Io {
            path,
            source: e.into(),
        })?;
        work()
    })
    .join()
    .unwrap_or_else(|_| {
        Err(Error::BadResult {
            plugin: "kubenet".into(),
            reason: "the thread configuring the pod's namespace panicked".into(),
        })
    })
}

/// The bridge's index, made first when it is missing (the first pod, or
/// after someone deleted it). Looked up through the socket rather than
/// `/sys/class/net`, which shows the namespace sysfs was mounted in (the
/// host's, for a kubelet started by `nsenter --net`): a netlink socket
/// follows the namespace of the thread that opened it.
fn ensure_bridge(nl: &mut netlink::Handle, cfg: &NetworkConfig) -> Result<u32, Error> {
    if let Some(index) = nl.link_index(&cfg.bridge)? {
        return Ok(index);
    }
    match nl.add_bridge(&cfg.bridge) {
        // Another pod's setup made it between the look-up and ours.
        Err(e) if netlink::is_exists(&e) => {}
        r => r?,
    }
    nl.link_index(&cfg.bridge)?.ok_or_else(|| Error::BadResult {
        plugin: "kubenet".into(),
        reason: format!("bridge {} vanished right after it was made", cfg.bridge),
    })
}

/// ADD: an address, the veth pair on the bridge, the pod's side configured.
/// Returns a result in the CNI plugins' shape. On error the caller runs
/// [`del`], which undoes whatever part was done.
pub fn add(cfg: &NetworkConfig, a: &Attachment) -> Result<Value, Error> {
    let subnet = subnet_of(&a.list)?;
    let store = Store::new(&cfg.state_dir.join("ipam"), &cfg.network_name);
    let netns = File::open(&a.netns).map_err(|source| Error::Io {
        path: a.netns.clone().into(),
        source,
    })?;
    let mut nl = netlink::Handle::open()?;
    let bridge = ensure_bridge(&mut nl, cfg)?;
    let ip = store.allocate(&subnet, &a.container_id, &a.ifname)?;
    let gw = subnet.gateway();
    let veth = host_veth(&a.container_id);
    // Left by an earlier attempt for this sandbox, if any.
    nl.del_link(&veth)?;
    // Idempotent, so every ADD repeats them: a bridge someone reset is
    // repaired by the next pod.
    nl.address(AddressOp::Replace, &cfg.bridge, bridge, gw, subnet.prefix)?;
    nl.set_up(&cfg.bridge, Some(cfg.mtu))?;
    nl.add_veth(&veth, &a.ifname, netns.as_fd(), &a.netns, cfg.mtu)?;
    nl.set_master(&veth, &cfg.bridge, bridge)?;
    nl.set_hairpin(&veth, cfg.hairpin_mode)?;
    nl.set_up(&veth, None)?;
    drop(nl);

    let (ifname, prefix) = (a.ifname.clone(), subnet.prefix);
    in_netns(netns, &a.netns, move || {
        let mut nl = netlink::Handle::open()?;
        nl.set_up("lo", None)?;
        let index = nl.link_index(&ifname)?.ok_or_else(|| Error::BadResult {
            plugin: "kubenet".into(),
            reason: format!("{ifname} is missing from the pod's namespace after its creation"),
        })?;
        nl.address(AddressOp::Add, &ifname, index, ip, prefix)?;
        nl.set_up(&ifname, None)?;
        nl.add_default_route(&ifname, index, gw)
    })?;
    Ok(json!({
        "cniVersion": super::config::CNI_VERSION,
        "interfaces": [
            {"name": cfg.bridge},
            {"name": veth},
            {"name": a.ifname, "sandbox": a.netns},
        ],
        "ips": [{"address": format!("{ip}/{}", subnet.prefix), "gateway": gw.to_string(), "interface": 2}],
        "routes": [{"dst": "0.0.0.0/0", "gw": gw.to_string()}],
        "dns": {},
    }))
}

/// DEL: the veth pair (deleting the node's end takes the pod's with it) and
/// the address. Idempotent; works when the namespace is gone (which took
/// the pair with it).
pub fn del(cfg: &NetworkConfig, a: &Attachment) -> Result<(), Error> {
    netlink::Handle::open()?.del_link(&host_veth(&a.container_id))?;
    Store::new(&cfg.state_dir.join("ipam"), &cfg.network_name).release(&a.container_id, &a.ifname)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnet_and_names() {
        let list = json!({"plugins": [{"type": "bridge", "ipam": {"ranges": [[{"subnet": "172.16.16.0/24"}]]}}]});
        let s = subnet_of(&list).unwrap();
        assert_eq!(s.network.to_string(), "172.16.16.0");
        assert_eq!(s.prefix, 24);
        assert!(subnet_of(&json!({"plugins": []})).is_err());
        let v = host_veth("0123456789abcdef");
        assert!(v.len() <= 15 && v.starts_with("veth"), "{v}");
        assert_eq!(v, host_veth("0123456789abcdef"));
        assert_ne!(v, host_veth("0123456789abcdeg"));
    }
}
