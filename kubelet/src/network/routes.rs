//! Host-gw routing: one route per other node, `<its podCIDR> via <its node
//! IP>`, in the main table of the kubelet's network namespace.
//!
//! With these routes every node forwards pod traffic straight to the node
//! that owns the destination podCIDR; the bridge plugin made this node the
//! gateway of its own pods, so a packet from a pod goes pod -> bridge ->
//! route -> other node -> its bridge -> pod, with no encapsulation and no
//! NAT. It needs the nodes on one L2 segment, which the lab's bridge is.
//!
//! Our routes carry their own protocol number (`proto 77` by default, see
//! [`DEFAULT_ROUTE_PROTOCOL`]), the field the kernel keeps for "who installed
//! this route" (`kernel`, `boot`, `static`, `dhcp`, `bird`...). Listing and
//! deleting filter on it, so a sync never removes or rewrites a route that
//! someone else added; a route of another owner for the same destination is
//! reported as a conflict, not replaced.
//!
//! We drive `ip` (iproute2) rather than speak rtnetlink ourselves: routes
//! change only when nodes come and go, so a process per change costs
//! nothing, the commands in the logs are exactly what an operator would type
//! to inspect or repair the state (`ip route show proto 77`), and the netlink
//! crates we could use are async-only or pull in a tree of packet crates for
//! four messages. `ip -json` gives a stable machine-readable listing.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::process::Command;

use serde::Deserialize;

use super::config::Cidr;
use super::Error;

/// The route protocol number that marks our routes. Unassigned in
/// `/etc/iproute2/rt_protos` (the kernel and the routing daemons use 0-19,
/// 42, 99, 186-192).
pub const DEFAULT_ROUTE_PROTOCOL: u8 = 77;

/// A route as `ip -json route` prints it; we only need these fields.
#[derive(Debug, Deserialize)]
struct IpRoute {
    dst: String,
    #[serde(default)]
    gateway: Option<String>,
}

/// The `ip` binary: an absolute path when one exists, since a kubelet under
/// systemd or nsenter may run with a PATH without the sbin directories.
pub(super) fn ip_binary() -> &'static str {
    ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"]
        .into_iter()
        .find(|p| std::path::Path::new(p).is_file())
        .unwrap_or("ip")
}

/// Runs `ip <args>`, returning stdout.
fn ip(args: &[&str]) -> Result<String, Error> {
    let bin = ip_binary();
    let command = format!("{bin} {}", args.join(" "));
    let out = Command::new(bin)
        .args(args)
        .output()
        .map_err(|source| Error::Exec {
            path: bin.into(),
            source,
        })?;
    if !out.status.success() {
        return Err(Error::Command {
            command,
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    tracing::debug!(%command, "ran");
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Our routes in the main table of the calling thread's netns:
/// destination -> gateway.
pub fn list(proto: u8) -> Result<BTreeMap<Cidr, Option<IpAddr>>, Error> {
    let proto = proto.to_string();
    let mut routes = BTreeMap::new();
    for family in ["-4", "-6"] {
        let text = ip(&[
            "-json", family, "route", "show", "table", "main", "proto", &proto,
        ])?;
        if text.trim().is_empty() {
            continue;
        }
        let parsed: Vec<IpRoute> = serde_json::from_str(&text).map_err(|e| Error::Command {
            command: format!("ip -json {family} route show proto {proto}"),
            status: "0".into(),
            stderr: format!("unexpected output ({e}): {}", text.trim()),
        })?;
        for r in parsed {
            // `default` cannot be ours (we only add podCIDRs), but a listing
            // must not fail because of what someone else did with our number.
            let Ok(dst) = r.dst.parse::<Cidr>() else {
                continue;
            };
            routes.insert(dst, r.gateway.and_then(|g| g.parse().ok()));
        }
    }
    Ok(routes)
}

/// Makes our routes exactly `desired` (podCIDR via node IP). Every change is
/// attempted; the failures come back together.
pub fn sync(proto: u8, desired: &[(IpAddr, String)]) -> Result<(), Error> {
    let mut failures = Vec::new();
    let mut want: BTreeMap<Cidr, IpAddr> = BTreeMap::new();
    for (via, cidr) in desired {
        match cidr.parse::<Cidr>() {
            Ok(c) => {
                want.insert(c, *via);
            }
            Err(e) => failures.push(e),
        }
    }
    let have = list(proto)?;
    let proto_s = proto.to_string();
    for (dst, gw) in &have {
        if !want.contains_key(dst) {
            let dst_s = dst.to_string();
            tracing::info!(dst = %dst_s, gateway = ?gw, "removing route to a node that is gone");
            if let Err(e) = ip(&["route", "del", &dst_s, "table", "main", "proto", &proto_s]) {
                failures.push(e);
            }
        }
    }
    for (dst, via) in &want {
        let (dst_s, via_s) = (dst.to_string(), via.to_string());
        let verb = match have.get(dst) {
            Some(Some(gw)) if gw == via => continue,
            // Ours but stale (the node's IP changed): replacing is safe.
            Some(_) => "replace",
            // `add`, not `replace`: if another owner has a route to this
            // destination, it fails with "File exists" instead of taking it.
            None => "add",
        };
        tracing::info!(dst = %dst_s, via = %via_s, "route to another node's pods");
        if let Err(e) = ip(&[
            "route", verb, &dst_s, "via", &via_s, "table", "main", "proto", &proto_s,
        ]) {
            failures.push(e);
        }
    }
    match failures.len() {
        0 => Ok(()),
        1 => Err(failures.remove(0)),
        _ => Err(Error::Several(failures)),
    }
}
