//! The built-in pod network (`networkPlugin: kubenet`): what the CNI
//! `loopback`, `bridge` and `host-local` plugins do for a pod, done by the
//! kubelet itself, named after upstream's old built-in plugin of the same
//! shape (a bridge, a veth per pod, host-local addresses).
//!
//! Why: with the standard plugins every pod's sandbox costs three or four
//! executions of Go binaries for ADD (and again for DEL); on a loaded node
//! that was the largest stage of a pod's startup (`docs/benchmarks.md`).
//! Here it costs two runs of `ip -batch` (iproute2, a small C program): one
//! in the node's namespace, one in the pod's, entered by a short-lived
//! thread with `setns(2)` so the kubelet itself never leaves the node's.
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

use std::fs::File;
use std::io::Write as _;
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::state::Attachment;
use super::{Error, NetworkConfig};
use ipam::{Store, Subnet};

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

/// `ip -batch -` of `commands` in the calling thread's network namespace.
fn ip_batch(commands: &str) -> Result<(), Error> {
    let bin = super::routes::ip_binary();
    let mut child = Command::new(bin)
        .args(["-batch", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| Error::Exec {
            path: bin.into(),
            source,
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(commands.as_bytes())
            .map_err(|source| Error::Exec {
                path: bin.into(),
                source,
            })?;
    }
    let out = child.wait_with_output().map_err(|source| Error::Exec {
        path: bin.into(),
        source,
    })?;
    if !out.status.success() {
        return Err(Error::Command {
            command: format!("{bin} -batch: {}", commands.trim().replace('\n', "; ")),
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(())
}

/// [`ip_batch`] inside the network namespace at `netns`: a thread of its
/// own enters it (a network namespace is per thread) and ends with it.
fn ip_batch_in(netns: &Path, commands: String) -> Result<(), Error> {
    let file = File::open(netns).map_err(|source| Error::Io {
        path: netns.to_path_buf(),
        source,
    })?;
    let path = netns.to_path_buf();
    std::thread::spawn(move || {
        nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET).map_err(|e| Error::Io {
            path,
            source: e.into(),
        })?;
        ip_batch(&commands)
    })
    .join()
    .unwrap_or_else(|_| {
        Err(Error::BadResult {
            plugin: "kubenet".into(),
            reason: "the thread configuring the pod's namespace panicked".into(),
        })
    })
}

/// Whether the calling thread's network namespace has a device `dev`.
/// `/sys/class/net` would show the namespace sysfs was mounted in (the
/// host's, for a kubelet started by `nsenter --net`); this file follows
/// the thread.
fn link_exists(dev: &str) -> bool {
    std::fs::read_to_string("/proc/thread-self/net/dev")
        .map(|t| {
            t.lines()
                .filter_map(|l| l.split_once(':'))
                .any(|(name, _)| name.trim() == dev)
        })
        .unwrap_or(false)
}

/// `ip` commands that give the bridge its gateway address and bring it up;
/// idempotent, so every ADD repeats them (in the batch it runs anyway)
/// and a bridge someone reset is repaired by the next pod.
fn bridge_setup(cfg: &NetworkConfig, subnet: &Subnet) -> String {
    format!(
        "addr replace {gw}/{prefix} dev {br}\nlink set {br} mtu {mtu} up\n",
        gw = subnet.gateway(),
        prefix = subnet.prefix,
        br = cfg.bridge,
        mtu = cfg.mtu,
    )
}

/// Makes the bridge when it is missing (the first pod, or after someone
/// deleted it).
fn ensure_bridge(cfg: &NetworkConfig) -> Result<(), Error> {
    if link_exists(&cfg.bridge) {
        return Ok(());
    }
    match ip_batch(&format!("link add name {} type bridge\n", cfg.bridge)) {
        // Another pod's setup made it between the check and ours.
        Err(Error::Command { stderr, .. }) if stderr.contains("File exists") => Ok(()),
        r => r,
    }
}

/// ADD: an address, the veth pair on the bridge, the pod's side configured.
/// Returns a result in the CNI plugins' shape. On error the caller runs
/// [`del`], which undoes whatever part was done.
pub fn add(cfg: &NetworkConfig, a: &Attachment) -> Result<Value, Error> {
    let subnet = subnet_of(&a.list)?;
    let store = Store::new(&cfg.state_dir.join("ipam"), &cfg.network_name);
    ensure_bridge(cfg)?;
    let ip = store.allocate(&subnet, &a.container_id, &a.ifname)?;
    let gw = subnet.gateway();
    let veth = host_veth(&a.container_id);
    if link_exists(&veth) {
        // Left by an earlier attempt for this sandbox.
        ip_batch(&format!("link del {veth}\n"))?;
    }
    let hairpin = if cfg.hairpin_mode { "on" } else { "off" };
    ip_batch(&format!(
        "{bridge_setup}\
         link add {veth} mtu {mtu} type veth peer name {ifname} mtu {mtu} netns {netns}\n\
         link set {veth} master {bridge}\n\
         link set dev {veth} type bridge_slave hairpin {hairpin}\n\
         link set {veth} up\n",
        bridge_setup = bridge_setup(cfg, &subnet),
        mtu = cfg.mtu,
        ifname = a.ifname,
        netns = a.netns,
        bridge = cfg.bridge,
    ))?;
    ip_batch_in(
        Path::new(&a.netns),
        format!(
            "link set lo up\naddr add {ip}/{prefix} dev {ifname}\nlink set {ifname} up\nroute add default via {gw} dev {ifname}\n",
            prefix = subnet.prefix,
            ifname = a.ifname,
        ),
    )?;
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
/// the address. Idempotent; works when the namespace is gone.
pub fn del(cfg: &NetworkConfig, a: &Attachment) -> Result<(), Error> {
    let veth = host_veth(&a.container_id);
    if link_exists(&veth) {
        if let Err(e) = ip_batch(&format!("link del {veth}\n")) {
            // Gone in between (the namespace went): nothing left to do.
            if link_exists(&veth) {
                return Err(e);
            }
        }
    }
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
