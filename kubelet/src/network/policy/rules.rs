//! From NetworkPolicies, pods and namespaces to the filter rules of one
//! node: pure, so every case of the API's semantics is unit-tested without a
//! kernel.
//!
//! Two steps. [`firewalls`] decides, for each pod of this node, whether it
//! is isolated for ingress and/or egress (some policy of its namespace
//! selects it with that policy type) and the list of [`Allow`]s that let
//! traffic through: each a peer (any address, one pod's IP, or a CIDR with
//! exceptions) and a port match, with named ports already resolved against
//! the pod that owns the port. [`render`] turns that into one
//! `iptables-restore --noflush` text:
//!
//! ```text
//! FORWARD           ─▶ KUBE-NWP-FORWARD
//! KUBE-NWP-FORWARD  -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN
//!                   -s <pod IP> ─▶ KUBE-NWP-EG-<hash>         egress-isolated pods here
//!                   -d <pod IP> ─▶ KUBE-NWP-IN-<hash>         ingress-isolated pods here
//! KUBE-NWP-IN-x     <peer> <port> -j RETURN                  one per Allow
//!                   -s <cidr> ─▶ KUBE-NWP-EX-<hash>           a CIDR with exceptions
//!                   -m mark --mark 0x10000/0x10000 -j RETURN
//!                   -j REJECT                                 nothing allowed it
//! KUBE-NWP-EX-y     -s <except> -j RETURN                     not this peer
//!                   <port> -j MARK --set-xmark 0x10000/0x10000
//! ```
//!
//! `RETURN` out of a pod's chain means "allowed": the packet goes on in
//! `KUBE-NWP-FORWARD`, so a packet between two pods of this node passes the
//! sender's egress chain and then the receiver's ingress chain. A CIDR with
//! exceptions needs a chain of its own ("in the CIDR and in none of the
//! exceptions" is no single rule), which can only say "allowed" through a
//! packet mark that the pod chain then reads. Replies and established
//! connections return at once, so changing a policy never cuts a
//! connection it had let through.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::net::Ipv4Addr;

use apimachinery::labels::Selector;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use k8s_openapi::api::networking::v1::{
    NetworkPolicy, NetworkPolicyPeer, NetworkPolicyPort, NetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::network::config::Cidr;
use crate::proxy::rules::{comment, hash16, unwanted_chains, Protocol};

/// The chain `FORWARD` jumps to.
pub const TOP_CHAIN: &str = "KUBE-NWP-FORWARD";
/// What every chain of ours starts with (iptables allows 28 characters:
/// the prefixes leave 16 for a hash).
pub const CHAIN_PREFIX: &str = "KUBE-NWP-";
/// Prefix of a pod's ingress chain.
pub const INGRESS_PREFIX: &str = "KUBE-NWP-IN-";
/// Prefix of a pod's egress chain.
pub const EGRESS_PREFIX: &str = "KUBE-NWP-EG-";
/// Prefix of the chain of a CIDR peer with exceptions.
pub const EXCEPT_PREFIX: &str = "KUBE-NWP-EX-";
/// The packet mark bit a CIDR chain sets for "allowed" (kube-proxy uses
/// 0x4000 and 0x8000).
pub const ALLOW_MARK: &str = "0x10000";

/// Which way a policy rule looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Direction {
    /// Traffic to the selected pod (`from` peers, the pod's own ports).
    Ingress,
    /// Traffic from the selected pod (`to` peers, the peers' ports).
    Egress,
}

/// Where allowed traffic may come from (ingress) or go to (egress).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Peer {
    /// Any address (a rule without peers).
    Any,
    /// One pod.
    Pod(Ipv4Addr),
    /// An `ipBlock`: the CIDR minus its exceptions.
    Block {
        /// The CIDR.
        cidr: Cidr,
        /// The `except` CIDRs.
        except: Vec<Cidr>,
    },
}

/// Which packets of a peer a rule lets through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum PortMatch {
    /// Every protocol and port (a rule without ports).
    All,
    /// Every port of one protocol (a port entry without `port`).
    Protocol(Protocol),
    /// A port, or a range `port..=end` (`endPort`).
    Ports(Protocol, u16, u16),
}

/// One thing a pod's chain lets through.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Allow {
    /// The other side.
    pub peer: Peer,
    /// The packets.
    pub ports: PortMatch,
}

/// The filter of one pod of this node in one direction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Firewall {
    /// `namespace/name` of the pod (for comments and logs).
    pub pod: String,
    /// The pod's UID (the chain name's seed: stable while the pod lives).
    pub uid: String,
    /// The pod's IP.
    pub ip: Ipv4Addr,
    /// Ingress or egress.
    pub direction: Direction,
    /// What the policies selecting the pod let through, deduplicated.
    pub allows: BTreeSet<Allow>,
}

impl Firewall {
    /// This firewall's chain.
    pub fn chain(&self) -> String {
        let prefix = match self.direction {
            Direction::Ingress => INGRESS_PREFIX,
            Direction::Egress => EGRESS_PREFIX,
        };
        format!("{prefix}{}", hash16(&self.uid))
    }
}

/// A pod as policies see it: its namespace, labels, IP and named ports.
struct PodInfo<'a> {
    pod: &'a Pod,
    namespace: &'a str,
    ip: Ipv4Addr,
}

impl PodInfo<'_> {
    fn labels(&self) -> BTreeMap<String, String> {
        self.pod.metadata.labels.clone().unwrap_or_default()
    }

    /// The number of the container port called `name` for `protocol`.
    fn named_port(&self, name: &str, protocol: Protocol) -> Option<u16> {
        let spec = self.pod.spec.as_ref()?;
        spec.containers
            .iter()
            .chain(spec.init_containers.iter().flatten())
            .flat_map(|c| c.ports.iter().flatten())
            .find(|p| {
                p.name.as_deref() == Some(name)
                    && Protocol::parse(p.protocol.as_deref()) == Some(protocol)
            })
            .and_then(|p| u16::try_from(p.container_port).ok())
    }
}

/// The pods policies apply to and select: with an IPv4 address, not on the
/// host's network (their address is the node's), not finished (their
/// address may already be another pod's).
fn pod_infos<'p>(pods: &[&'p Pod]) -> Vec<PodInfo<'p>> {
    pods.iter()
        .filter_map(|p| {
            let spec = p.spec.as_ref()?;
            if spec.host_network == Some(true) {
                return None;
            }
            let status = p.status.as_ref()?;
            if matches!(status.phase.as_deref(), Some("Succeeded" | "Failed")) {
                return None;
            }
            let ip = status.pod_ip.as_deref()?.parse().ok()?;
            Some(PodInfo {
                pod: p,
                namespace: p.metadata.namespace.as_deref()?,
                ip,
            })
        })
        .collect()
}

fn selector(s: Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector>) -> Selector {
    // A missing selector in a peer means "not restricted on this axis";
    // callers decide what that is. A selector that does not parse (the
    // apiserver validated it) matches nothing rather than everything.
    match s {
        Some(s) => serde_json::to_value(s)
            .ok()
            .and_then(|v| Selector::from_label_selector_json(&v).ok())
            .unwrap_or_else(Selector::nothing),
        None => Selector::everything(),
    }
}

/// The policy types of a policy: as written, or upstream's default when
/// empty (Ingress, plus Egress when it has egress rules).
pub fn policy_types(spec: &NetworkPolicySpec) -> BTreeSet<Direction> {
    match spec.policy_types.as_deref() {
        Some(types) if !types.is_empty() => types
            .iter()
            .filter_map(|t| match t.as_str() {
                "Ingress" => Some(Direction::Ingress),
                "Egress" => Some(Direction::Egress),
                _ => None,
            })
            .collect(),
        _ => {
            let mut d = BTreeSet::from([Direction::Ingress]);
            if spec.egress.as_ref().is_some_and(|e| !e.is_empty()) {
                d.insert(Direction::Egress);
            }
            d
        }
    }
}

/// What the policies, pods and namespaces of the cluster mean for the pods
/// of `node`: one [`Firewall`] per isolated pod and direction, in a stable
/// order.
pub fn firewalls(
    policies: &[&NetworkPolicy],
    pods: &[&Pod],
    namespaces: &[&Namespace],
    node: &str,
) -> Vec<Firewall> {
    let infos = pod_infos(pods);
    let ns_labels: BTreeMap<&str, BTreeMap<String, String>> = namespaces
        .iter()
        .filter_map(|n| {
            let name = n.metadata.name.as_deref()?;
            let mut labels = n.metadata.labels.clone().unwrap_or_default();
            // Set by the apiserver on every namespace; here too for one
            // created before that.
            labels
                .entry("kubernetes.io/metadata.name".into())
                .or_insert_with(|| name.to_string());
            Some((name, labels))
        })
        .collect();
    let mut out: BTreeMap<(String, Direction), Firewall> = BTreeMap::new();
    for policy in policies {
        let (Some(ns), Some(spec)) = (policy.metadata.namespace.as_deref(), policy.spec.as_ref())
        else {
            continue;
        };
        let selects = selector(spec.pod_selector.as_ref());
        let types = policy_types(spec);
        let targets = infos.iter().filter(|p| {
            p.namespace == ns
                && p.pod.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(node)
                && selects.matches(&p.labels())
        });
        for target in targets {
            let uid = target.pod.metadata.uid.clone().unwrap_or_default();
            for &direction in &types {
                let fw = out
                    .entry((uid.clone(), direction))
                    .or_insert_with(|| Firewall {
                        pod: format!(
                            "{ns}/{}",
                            target.pod.metadata.name.as_deref().unwrap_or_default()
                        ),
                        uid: uid.clone(),
                        ip: target.ip,
                        direction,
                        allows: BTreeSet::new(),
                    });
                let ctx = Context {
                    policy_ns: ns,
                    target,
                    pods: &infos,
                    ns_labels: &ns_labels,
                };
                match direction {
                    Direction::Ingress => {
                        for rule in spec.ingress.iter().flatten() {
                            fw.allows.extend(ctx.allows(
                                direction,
                                rule.from.as_deref(),
                                rule.ports.as_deref(),
                            ));
                        }
                    }
                    Direction::Egress => {
                        for rule in spec.egress.iter().flatten() {
                            fw.allows.extend(ctx.allows(
                                direction,
                                rule.to.as_deref(),
                                rule.ports.as_deref(),
                            ));
                        }
                    }
                }
            }
        }
    }
    out.into_values().collect()
}

/// What one rule is evaluated against.
struct Context<'a, 'p> {
    policy_ns: &'a str,
    target: &'a PodInfo<'p>,
    pods: &'a [PodInfo<'p>],
    ns_labels: &'a BTreeMap<&'a str, BTreeMap<String, String>>,
}

/// A peer before its pods are known: pods (by selectors) or a block.
enum Selected<'a> {
    Anywhere,
    Pods(Vec<&'a PodInfo<'a>>),
    Block(Cidr, Vec<Cidr>),
}

impl<'a, 'p> Context<'a, 'p> {
    /// The pods of `peer`'s selectors, or its block.
    fn select(&self, peer: &NetworkPolicyPeer) -> Option<Selected<'a>> {
        if let Some(block) = &peer.ip_block {
            // IPv6 blocks belong to ip6tables, which pods here do not use.
            let cidr = ipv4_block(&block.cidr)?;
            let except = block
                .except
                .iter()
                .flatten()
                .filter_map(|e| ipv4_block(e))
                .collect();
            return Some(Selected::Block(cidr, except));
        }
        let pods_sel = selector(peer.pod_selector.as_ref());
        let ns_sel = peer.namespace_selector.as_ref().map(|s| selector(Some(s)));
        let pods = self
            .pods
            .iter()
            .filter(|p| match &ns_sel {
                // podSelector alone: the policy's own namespace.
                None => p.namespace == self.policy_ns,
                Some(sel) => self
                    .ns_labels
                    .get(p.namespace)
                    .is_some_and(|labels| sel.matches(labels)),
            })
            .filter(|p| pods_sel.matches(&p.labels()))
            .collect();
        Some(Selected::Pods(pods))
    }

    /// The [`Allow`]s of one rule: every peer with every port.
    fn allows(
        &self,
        direction: Direction,
        peers: Option<&[NetworkPolicyPeer]>,
        ports: Option<&[NetworkPolicyPort]>,
    ) -> Vec<Allow> {
        let selected: Vec<Selected<'_>> = match peers {
            None | Some([]) => vec![Selected::Anywhere],
            Some(peers) => peers.iter().filter_map(|p| self.select(p)).collect(),
        };
        let ports: Vec<&NetworkPolicyPort> = ports.into_iter().flatten().collect();
        let mut out = Vec::new();
        for sel in &selected {
            if ports.is_empty() {
                out.extend(peers_of(sel).into_iter().map(|peer| Allow {
                    peer,
                    ports: PortMatch::All,
                }));
                continue;
            }
            for port in &ports {
                // SCTP has no rules here: a port entry for it opens nothing.
                let Some(protocol) = Protocol::parse(port.protocol.as_deref()) else {
                    continue;
                };
                match &port.port {
                    None => out.extend(peers_of(sel).into_iter().map(|peer| Allow {
                        peer,
                        ports: PortMatch::Protocol(protocol),
                    })),
                    Some(IntOrString::Int(n)) => {
                        let Ok(start) = u16::try_from(*n) else {
                            continue;
                        };
                        let end = port
                            .end_port
                            .and_then(|e| u16::try_from(e).ok())
                            .filter(|e| *e >= start)
                            .unwrap_or(start);
                        out.extend(peers_of(sel).into_iter().map(|peer| Allow {
                            peer,
                            ports: PortMatch::Ports(protocol, start, end),
                        }));
                    }
                    Some(IntOrString::String(name)) => {
                        out.extend(self.named(direction, sel, name, protocol));
                    }
                }
            }
        }
        out
    }

    /// A named port: on ingress the selected pod's own port of that name,
    /// open to every peer; on egress each destination pod's port of that
    /// name (so a block or "anywhere" narrows to the pods inside it that
    /// have such a port: a name means nothing on a host that is no pod).
    fn named(
        &self,
        direction: Direction,
        sel: &Selected<'_>,
        name: &str,
        protocol: Protocol,
    ) -> Vec<Allow> {
        match direction {
            Direction::Ingress => match self.target.named_port(name, protocol) {
                Some(n) => peers_of(sel)
                    .into_iter()
                    .map(|peer| Allow {
                        peer,
                        ports: PortMatch::Ports(protocol, n, n),
                    })
                    .collect(),
                None => Vec::new(),
            },
            Direction::Egress => {
                let inside = |p: &&PodInfo<'_>| match sel {
                    Selected::Anywhere => true,
                    Selected::Pods(pods) => pods.iter().any(|q| q.ip == p.ip),
                    Selected::Block(cidr, except) => {
                        let ip = std::net::IpAddr::V4(p.ip);
                        cidr.contains(&ip) && !except.iter().any(|e| e.contains(&ip))
                    }
                };
                self.pods
                    .iter()
                    .filter(inside)
                    .filter_map(|p| {
                        let n = p.named_port(name, protocol)?;
                        Some(Allow {
                            peer: Peer::Pod(p.ip),
                            ports: PortMatch::Ports(protocol, n, n),
                        })
                    })
                    .collect()
            }
        }
    }
}

/// An IPv4 CIDR of an `ipBlock`, host bits cleared (`10.0.0.1/24` is
/// the network `10.0.0.0/24`, as the kernel reads it); `None` for IPv6
/// (pods here use ip4 tables only) and for what does not parse.
fn ipv4_block(s: &str) -> Option<Cidr> {
    let (addr, prefix) = s.trim().split_once('/')?;
    let addr: Ipv4Addr = addr.parse().ok()?;
    let prefix: u8 = prefix.parse().ok().filter(|p| *p <= 32)?;
    let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
    Some(Cidr {
        addr: std::net::IpAddr::V4(Ipv4Addr::from(u32::from(addr) & mask)),
        prefix,
    })
}

fn peers_of(sel: &Selected<'_>) -> Vec<Peer> {
    match sel {
        Selected::Anywhere => vec![Peer::Any],
        Selected::Pods(pods) => pods.iter().map(|p| Peer::Pod(p.ip)).collect(),
        Selected::Block(cidr, except) => vec![Peer::Block {
            cidr: *cidr,
            except: except.clone(),
        }],
    }
}

/// Every chain the rules for `fws` use (the others of ours are stale).
pub fn chains_of(fws: &[Firewall]) -> BTreeSet<String> {
    let mut chains = BTreeSet::from([TOP_CHAIN.to_string()]);
    for fw in fws {
        chains.insert(fw.chain());
        for a in &fw.allows {
            if let Some(c) = except_chain(fw, a) {
                chains.insert(c);
            }
        }
    }
    chains
}

/// Our chains in a `iptables-save -t filter` text that are not in `wanted`.
pub fn stale_chains(filter_save: &str, wanted: &BTreeSet<String>) -> Vec<String> {
    unwanted_chains(filter_save, wanted, |c| c.starts_with(CHAIN_PREFIX))
}

/// The chain of a block peer with exceptions in `fw`, if `a` is one.
fn except_chain(fw: &Firewall, a: &Allow) -> Option<String> {
    match &a.peer {
        Peer::Block { except, .. } if !except.is_empty() => Some(format!(
            "{EXCEPT_PREFIX}{}",
            hash16(&format!("{}/{:?}", fw.chain(), a))
        )),
        _ => None,
    }
}

/// `-p tcp -m tcp --dport 80` and the like; empty for every packet.
fn port_args(ports: &PortMatch) -> String {
    match ports {
        PortMatch::All => String::new(),
        PortMatch::Protocol(p) => format!(" -p {}", p.as_str()),
        PortMatch::Ports(p, start, end) => {
            let p = p.as_str();
            if start == end {
                format!(" -p {p} -m {p} --dport {start}")
            } else {
                format!(" -p {p} -m {p} --dport {start}:{end}")
            }
        }
    }
}

/// The `iptables-restore --noflush` text for the filter table: our chains
/// as [`firewalls`] describes them, and the `stale` ones deleted.
pub fn render(fws: &[Firewall], stale: &[String]) -> String {
    let mut chains = String::new();
    let mut rules = String::new();
    let _ = writeln!(chains, ":{TOP_CHAIN} - [0:0]");
    let _ = writeln!(
        rules,
        "-A {TOP_CHAIN} -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN"
    );
    // Egress first: a packet between two pods here passes the sender's
    // chain, then the receiver's.
    for direction in [Direction::Egress, Direction::Ingress] {
        for fw in fws.iter().filter(|f| f.direction == direction) {
            let (addr, what) = match direction {
                Direction::Egress => ("-s", "egress"),
                Direction::Ingress => ("-d", "ingress"),
            };
            let _ = writeln!(
                rules,
                "-A {TOP_CHAIN} {addr} {}/32 -m comment --comment \"{} {what}\" -j {}",
                fw.ip,
                comment(&fw.pod),
                fw.chain()
            );
        }
    }
    for fw in fws {
        render_firewall(&mut chains, &mut rules, fw);
    }
    for c in stale {
        let _ = writeln!(rules, "-F {c}");
    }
    for c in stale {
        let _ = writeln!(rules, "-X {c}");
    }
    format!("*filter\n{chains}{rules}COMMIT\n")
}

fn render_firewall(chains: &mut String, rules: &mut String, fw: &Firewall) {
    let chain = fw.chain();
    let peer_flag = match fw.direction {
        Direction::Ingress => "-s",
        Direction::Egress => "-d",
    };
    let _ = writeln!(chains, ":{chain} - [0:0]");
    let mut marks = false;
    for a in &fw.allows {
        let ports = port_args(&a.ports);
        match &a.peer {
            Peer::Any => {
                let _ = writeln!(rules, "-A {chain}{ports} -j RETURN");
            }
            Peer::Pod(ip) => {
                let _ = writeln!(rules, "-A {chain} {peer_flag} {ip}/32{ports} -j RETURN");
            }
            Peer::Block { cidr, except } if except.is_empty() => {
                let _ = writeln!(rules, "-A {chain} {peer_flag} {cidr}{ports} -j RETURN");
            }
            Peer::Block { cidr, except } => {
                let Some(sub) = except_chain(fw, a) else {
                    continue;
                };
                if !marks {
                    // The mark says "a block allowed it" for this pod
                    // only: clear what an earlier chain left.
                    let _ = writeln!(rules, "-A {chain} -j MARK --set-xmark 0x0/{ALLOW_MARK}");
                    marks = true;
                }
                let _ = writeln!(chains, ":{sub} - [0:0]");
                let _ = writeln!(rules, "-A {chain} {peer_flag} {cidr} -j {sub}");
                for e in except {
                    let _ = writeln!(rules, "-A {sub} {peer_flag} {e} -j RETURN");
                }
                let _ = writeln!(
                    rules,
                    "-A {sub}{ports} -j MARK --set-xmark {ALLOW_MARK}/{ALLOW_MARK}"
                );
            }
        }
    }
    if marks {
        let _ = writeln!(
            rules,
            "-A {chain} -m mark --mark {ALLOW_MARK}/{ALLOW_MARK} -j RETURN"
        );
    }
    let what = match fw.direction {
        Direction::Ingress => "ingress",
        Direction::Egress => "egress",
    };
    let _ = writeln!(
        rules,
        "-A {chain} -m comment --comment \"{} {what} not allowed by any NetworkPolicy\" -j REJECT",
        comment(&fw.pod)
    );
}

/// The rule in the filter table's `FORWARD` chain that sends pods' traffic
/// through [`TOP_CHAIN`].
pub fn jump() -> Vec<&'static str> {
    vec![
        "-m",
        "comment",
        "--comment",
        "kubernetes network policies",
        "-j",
        TOP_CHAIN,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(ns: &str, name: &str, node: &str, ip: &str, labels: serde_json::Value) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"namespace": ns, "name": name, "uid": format!("uid-{ns}-{name}"), "labels": labels},
            "spec": {"nodeName": node, "containers": [{"name": "c", "ports": [
                {"name": "http", "containerPort": 8080},
                {"name": "dns", "containerPort": 53, "protocol": "UDP"}
            ]}]},
            "status": {"phase": "Running", "podIP": ip}
        }))
        .unwrap()
    }

    fn ns(name: &str, labels: serde_json::Value) -> Namespace {
        serde_json::from_value(json!({"metadata": {"name": name, "labels": labels}})).unwrap()
    }

    fn policy(ns: &str, spec: serde_json::Value) -> NetworkPolicy {
        serde_json::from_value(json!({"metadata": {"namespace": ns, "name": "p"}, "spec": spec}))
            .unwrap()
    }

    struct World {
        pods: Vec<Pod>,
        namespaces: Vec<Namespace>,
    }

    fn world() -> World {
        World {
            pods: vec![
                pod("default", "web", "n1", "10.244.1.2", json!({"app": "web"})),
                pod(
                    "default",
                    "client",
                    "n1",
                    "10.244.1.3",
                    json!({"role": "client"}),
                ),
                pod(
                    "default",
                    "other",
                    "n2",
                    "10.244.2.2",
                    json!({"app": "other"}),
                ),
                pod("prod", "api", "n2", "10.244.2.3", json!({"role": "client"})),
            ],
            namespaces: vec![ns("default", json!({})), ns("prod", json!({"env": "prod"}))],
        }
    }

    fn fws(w: &World, policies: &[NetworkPolicy], node: &str) -> Vec<Firewall> {
        let p: Vec<&NetworkPolicy> = policies.iter().collect();
        let pods: Vec<&Pod> = w.pods.iter().collect();
        let nss: Vec<&Namespace> = w.namespaces.iter().collect();
        firewalls(&p, &pods, &nss, node)
    }

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    #[test]
    fn default_deny_isolates_the_selected_pods_of_this_node_only() {
        let w = world();
        let deny = policy("default", json!({"podSelector": {}}));
        let on_n1 = fws(&w, std::slice::from_ref(&deny), "n1");
        assert_eq!(on_n1.len(), 2, "{on_n1:?}");
        assert!(on_n1
            .iter()
            .all(|f| f.direction == Direction::Ingress && f.allows.is_empty()));
        // n2's default pod is n2's business; prod has no policy.
        let on_n2 = fws(&w, &[deny], "n2");
        assert_eq!(on_n2.len(), 1);
        assert_eq!(on_n2[0].pod, "default/other");
        let text = render(&on_n1, &[]);
        assert!(text.contains("-j REJECT"), "{text}");
        assert!(
            text.contains(&format!(
                "-d 10.244.1.2/32 -m comment --comment \"default/web ingress\" -j {INGRESS_PREFIX}"
            )),
            "{text}"
        );
    }

    #[test]
    fn peers_by_pod_namespace_and_both_selectors() {
        let w = world();
        let p = policy(
            "default",
            json!({"podSelector": {"matchLabels": {"app": "web"}}, "ingress": [{"from": [
                {"podSelector": {"matchLabels": {"role": "client"}}},
                {"namespaceSelector": {"matchLabels": {"env": "prod"}}},
            ]}]}),
        );
        let f = fws(&w, &[p], "n1");
        assert_eq!(f.len(), 1);
        let peers: Vec<&Peer> = f[0].allows.iter().map(|a| &a.peer).collect();
        // client (same namespace, by label) and api (by its namespace);
        // api's role=client does not count through the podSelector alone.
        assert_eq!(
            peers,
            [&Peer::Pod(ip("10.244.1.3")), &Peer::Pod(ip("10.244.2.3"))]
        );
        let both = policy(
            "default",
            json!({"podSelector": {"matchLabels": {"app": "web"}}, "ingress": [{"from": [
                {"namespaceSelector": {}, "podSelector": {"matchLabels": {"role": "client"}}},
            ]}]}),
        );
        let f = fws(&w, &[both], "n1");
        assert_eq!(f[0].allows.len(), 2, "role=client in every namespace");
        let by_name = policy(
            "default",
            json!({"podSelector": {"matchLabels": {"app": "web"}}, "ingress": [{"from": [
                {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "prod"}}},
            ]}]}),
        );
        let f = fws(&w, &[by_name], "n1");
        assert_eq!(
            f[0].allows.iter().map(|a| &a.peer).collect::<Vec<_>>(),
            [&Peer::Pod(ip("10.244.2.3"))]
        );
    }

    #[test]
    fn ports_ranges_protocols_and_named_ports() {
        let w = world();
        let p = policy(
            "default",
            json!({"podSelector": {"matchLabels": {"app": "web"}}, "ingress": [{"ports": [
                {"port": 80},
                {"port": 8000, "endPort": 8100},
                {"protocol": "UDP"},
                {"port": "http"},
                {"port": "nope"},
            ]}]}),
        );
        let f = fws(&w, &[p], "n1");
        let ports: Vec<PortMatch> = f[0].allows.iter().map(|a| a.ports).collect();
        assert_eq!(
            ports,
            [
                PortMatch::Protocol(Protocol::Udp),
                PortMatch::Ports(Protocol::Tcp, 80, 80),
                PortMatch::Ports(Protocol::Tcp, 8000, 8100),
                PortMatch::Ports(Protocol::Tcp, 8080, 8080),
            ]
        );
        let text = render(&f, &[]);
        assert!(
            text.contains(" -p tcp -m tcp --dport 8000:8100 -j RETURN"),
            "{text}"
        );
        assert!(text.contains(" -p udp -j RETURN"), "{text}");
    }

    #[test]
    fn egress_named_ports_resolve_on_the_destination_pods() {
        let w = world();
        let p = policy(
            "default",
            json!({"podSelector": {"matchLabels": {"role": "client"}}, "policyTypes": ["Egress"],
                   "egress": [{"ports": [{"port": "dns", "protocol": "UDP"}]},
                              {"to": [{"ipBlock": {"cidr": "10.244.2.0/24"}}], "ports": [{"port": "http"}]}]}),
        );
        let f = fws(&w, &[p], "n1");
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].direction, Direction::Egress);
        let dns = f[0]
            .allows
            .iter()
            .filter(|a| a.ports == PortMatch::Ports(Protocol::Udp, 53, 53))
            .count();
        assert_eq!(dns, 4, "every pod's dns port: {:?}", f[0].allows);
        let http: Vec<&Peer> = f[0]
            .allows
            .iter()
            .filter(|a| a.ports == PortMatch::Ports(Protocol::Tcp, 8080, 8080))
            .map(|a| &a.peer)
            .collect();
        assert_eq!(
            http,
            [&Peer::Pod(ip("10.244.2.2")), &Peer::Pod(ip("10.244.2.3"))]
        );
    }

    #[test]
    fn blocks_with_exceptions_get_a_chain_and_a_mark() {
        let w = world();
        let p = policy(
            "default",
            json!({"podSelector": {"matchLabels": {"app": "web"}}, "policyTypes": ["Ingress", "Egress"],
                   "egress": [{"to": [{"ipBlock": {"cidr": "10.200.0.0/16", "except": ["10.200.1.0/24"]}},
                                      {"ipBlock": {"cidr": "192.168.0.0/16"}}]}]}),
        );
        let f = fws(&w, &[p], "n1");
        assert_eq!(f.len(), 2, "isolated both ways; ingress allows nothing");
        let eg = f.iter().find(|f| f.direction == Direction::Egress).unwrap();
        let text = render(&f, &[]);
        let sub = except_chain(eg, eg.allows.iter().next().unwrap()).unwrap();
        assert!(text.contains(&format!(":{sub} - [0:0]")), "{text}");
        assert!(
            text.contains(&format!("-A {} -d 10.200.0.0/16 -j {sub}", eg.chain())),
            "{text}"
        );
        assert!(
            text.contains(&format!("-A {sub} -d 10.200.1.0/24 -j RETURN")),
            "{text}"
        );
        assert!(
            text.contains(&format!(
                "-A {sub} -j MARK --set-xmark {ALLOW_MARK}/{ALLOW_MARK}"
            )),
            "{text}"
        );
        assert!(
            text.contains(&format!("-A {} -d 192.168.0.0/16 -j RETURN", eg.chain())),
            "{text}"
        );
        // The mark is cleared before the block chain and read after it.
        let own: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with(&format!("-A {} ", eg.chain())))
            .collect();
        assert!(own[0].contains("--set-xmark 0x0/"), "{own:?}");
        assert!(own[own.len() - 2].contains("-m mark --mark"), "{own:?}");
        assert!(own[own.len() - 1].ends_with("-j REJECT"), "{own:?}");
        let chains = chains_of(&f);
        assert_eq!(chains.len(), 4);
        assert!(
            chains.iter().all(|c| c.len() <= 28),
            "iptables' limit: {chains:?}"
        );
    }

    #[test]
    fn allow_all_rules_default_types_and_stale_chains() {
        let w = world();
        let all = policy(
            "default",
            json!({"podSelector": {}, "ingress": [{}], "egress": [{}]}),
        );
        let f = fws(&w, &[all], "n1");
        assert_eq!(f.len(), 4, "egress rules make it an egress policy too");
        assert!(f.iter().all(|f| f.allows.len() == 1
            && f.allows
                .iter()
                .all(|a| a.peer == Peer::Any && a.ports == PortMatch::All)));
        let save = format!(
            ":INPUT ACCEPT [0:0]\n:{TOP_CHAIN} - [0:0]\n:{INGRESS_PREFIX}0000000000000000 - [0:0]\n:CNI-FORWARD - [0:0]\n"
        );
        let stale = stale_chains(&save, &chains_of(&f));
        assert_eq!(stale, [format!("{INGRESS_PREFIX}0000000000000000")]);
        let text = render(&f, &stale);
        assert!(
            text.contains(&format!("-X {INGRESS_PREFIX}0000000000000000")),
            "{text}"
        );
        // Egress jumps come before ingress jumps.
        let top: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with(&format!("-A {TOP_CHAIN} ")))
            .collect();
        assert!(top[0].contains("ESTABLISHED"));
        assert!(
            top[1].contains(" -s ") && top[4].contains(" -d "),
            "{top:?}"
        );
    }

    #[test]
    fn host_network_finished_and_ipless_pods_are_left_out() {
        let mut w = world();
        let mut host = pod("default", "host", "n1", "10.200.0.1", json!({"app": "web"}));
        host.spec.as_mut().unwrap().host_network = Some(true);
        let mut done = pod("default", "done", "n1", "10.244.1.9", json!({"app": "web"}));
        done.status.as_mut().unwrap().phase = Some("Succeeded".into());
        let mut pending = pod("default", "pending", "n1", "", json!({"app": "web"}));
        pending.status.as_mut().unwrap().pod_ip = None;
        w.pods.extend([host, done, pending]);
        let deny = policy(
            "default",
            json!({"podSelector": {"matchLabels": {"app": "web"}}}),
        );
        let f = fws(&w, &[deny], "n1");
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].pod, "default/web");
    }
}
