//! Egress: pods reaching addresses outside the pod network.
//!
//! Pod addresses are routed only inside the cluster (the host-gw routes of
//! [`super::routes`] live on the nodes). A host outside, the lab's fake
//! external host or a server on the VMs' LAN, has no route back to a
//! podCIDR, so a pod's packet to it would arrive but its answer would not.
//! The node therefore masquerades what its pods send beyond the pod network:
//! the packet leaves with the node's address, and conntrack turns the answer
//! back to the pod. Traffic to any podCIDR of the cluster keeps the pod's
//! source address, as the Kubernetes network model requires.
//!
//! This is what upstream clusters get from `ip-masq-agent` (or a CNI's
//! `ipMasq`), and the chain carries its name so `iptables-save` reads the
//! same:
//!
//! ```text
//! nat POSTROUTING  -s <this node's podCIDR> ! --dst-type LOCAL ─▶ IP-MASQ-AGENT
//! IP-MASQ-AGENT    -d <a podCIDR>  RETURN          one per node of the cluster
//!                  MASQUERADE                      everything else
//! ```
//!
//! The podCIDRs come from the Node objects the route keeper already follows;
//! each change rewrites the chain with one `iptables-restore --noflush`.
//! Like the service proxy, this never runs in the host's root network
//! namespace unless the config allows it ([`crate::proxy::ProxyConfig`]).

use std::fmt::Write as _;

use super::config::Cidr;
use crate::proxy::Iptables;

/// The chain of masquerade decisions (ip-masq-agent's name).
pub const CHAIN: &str = "IP-MASQ-AGENT";

/// The `iptables-restore --noflush` text that makes [`CHAIN`] keep every
/// podCIDR's traffic as it is and masquerade the rest. The chain line
/// flushes what the chain held, so a sync does not depend on the last one.
pub fn render(pod_cidrs: &[Cidr]) -> String {
    let mut cidrs: Vec<String> = pod_cidrs.iter().map(ToString::to_string).collect();
    cidrs.sort();
    cidrs.dedup();
    let mut out = String::new();
    let _ = writeln!(out, "*nat\n:{CHAIN} - [0:0]");
    for cidr in cidrs {
        let _ = writeln!(
            out,
            "-A {CHAIN} -d {cidr} -m comment --comment \"ip-masq-agent: pod network is not subject to MASQUERADE\" -j RETURN"
        );
    }
    let _ = writeln!(
        out,
        "-A {CHAIN} -m comment --comment \"ip-masq-agent: outbound traffic is subject to MASQUERADE (must be last in chain)\" -j MASQUERADE\nCOMMIT"
    );
    out
}

/// The rule in nat `POSTROUTING` that sends this node's pods' outbound
/// traffic through [`CHAIN`].
pub fn jump(own: &Cidr) -> Vec<String> {
    [
        "-s",
        &own.to_string(),
        "-m",
        "addrtype",
        "!",
        "--dst-type",
        "LOCAL",
        "-m",
        "comment",
        "--comment",
        "ip-masq-agent: outbound traffic of this node's pods",
        "-j",
        CHAIN,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// Writes the chain for the cluster's podCIDRs (this node's among them) and
/// makes sure `POSTROUTING` jumps to it.
pub fn sync(iptables: &impl Iptables, own: &Cidr, pod_cidrs: &[Cidr]) -> crate::proxy::Result<()> {
    let mut all = pod_cidrs.to_vec();
    all.push(*own);
    iptables.restore(&render(&all))?;
    let rule = jump(own);
    let rule: Vec<&str> = rule.iter().map(String::as_str).collect();
    if iptables.ensure_first("nat", "POSTROUTING", &rule)? {
        tracing::info!(pod_cidr = %own, "pods' traffic leaving the pod network is masqueraded");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cidr(s: &str) -> Cidr {
        s.parse().expect("cidr")
    }

    #[test]
    fn the_pod_network_returns_and_the_rest_is_masqueraded_last() {
        let text = render(&[
            cidr("10.244.1.0/24"),
            cidr("10.244.0.0/24"),
            cidr("10.244.1.0/24"),
        ]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "*nat");
        assert_eq!(lines[1], ":IP-MASQ-AGENT - [0:0]");
        assert!(
            lines[2].starts_with("-A IP-MASQ-AGENT -d 10.244.0.0/24 ")
                && lines[2].ends_with("-j RETURN")
        );
        assert!(
            lines[3].starts_with("-A IP-MASQ-AGENT -d 10.244.1.0/24 ")
                && lines[3].ends_with("-j RETURN")
        );
        assert!(lines[4].ends_with("-j MASQUERADE"), "{text}");
        assert_eq!(lines[5], "COMMIT");
        assert_eq!(lines.len(), 6, "duplicates collapse: {text}");
    }

    #[test]
    fn only_this_nodes_pods_going_off_node_jump() {
        let rule = jump(&cidr("10.244.3.0/24")).join(" ");
        assert!(
            rule.starts_with("-s 10.244.3.0/24 -m addrtype ! --dst-type LOCAL"),
            "{rule}"
        );
        assert!(rule.ends_with("-j IP-MASQ-AGENT"));
    }
}
