//! The pure half of the service proxy: Services + EndpointSlices in, the
//! text for `iptables-restore --noflush` out. Nothing here runs a process or
//! needs root, so every rule the node gets is unit-tested below.
//!
//! The chains (the names are upstream kube-proxy's, so `iptables-save` reads
//! the same on our nodes as on any cluster):
//!
//! ```text
//! nat PREROUTING, OUTPUT ─▶ KUBE-SERVICES
//!     -d <clusterIP> -p tcp --dport <port>        ─▶ KUBE-SVC-<hash>     one per service port
//!     -m addrtype --dst-type LOCAL (last rule)     ─▶ KUBE-NODEPORTS
//!         -p tcp --dport <nodePort>                ─▶ KUBE-MARK-MASQ, KUBE-SVC-<hash>
//! KUBE-SVC-<hash>   -m statistic --probability 1/n ─▶ KUBE-SEP-<hash>   one per ready endpoint
//!                   -m statistic --probability 1/(n-1) ...  (the last rule takes what is left)
//! KUBE-SEP-<hash>   -s <endpoint IP> ─▶ KUBE-MARK-MASQ                   (hairpin)
//!                   -p tcp -j DNAT --to-destination <endpoint IP>:<port>
//! KUBE-MARK-MASQ    -j MARK --or-mark 0x4000
//! nat POSTROUTING ─▶ KUBE-POSTROUTING
//!     not marked: RETURN; else clear the mark and MASQUERADE
//! filter FORWARD, OUTPUT (NEW connections) ─▶ KUBE-SERVICES
//!     -d <clusterIP> -p tcp --dport <port> -j REJECT   for a service port without ready endpoints
//! ```
//!
//! Traffic policies, as kube-proxy: with `internalTrafficPolicy: Local` the
//! ClusterIP goes to `KUBE-SVL-<hash>`, the same balancing over this node's
//! endpoints only (and is dropped in the filter table when the node has
//! none). With `externalTrafficPolicy: Local` the node port and load
//! balancer addresses go to `KUBE-EXT-<hash>` instead of being masqueraded:
//!
//! ```text
//! KUBE-EXT-<hash>  -s <this node's podCIDR>      ─▶ KUBE-SVC-<hash>    pods use every endpoint
//!                  --src-type LOCAL              ─▶ KUBE-MARK-MASQ, KUBE-SVC-<hash>   so does the node
//!                                                ─▶ KUBE-SVL-<hash>    outside clients: local ones, unmasqueraded
//! ```
//!
//! so an outside client reaches only nodes with an endpoint and the pod sees
//! the client's own address (the reply leaves through the same node, which
//! un-DNATs it). The load balancer learns which nodes those are from the
//! health check port ([`super::healthcheck`]).
//!
//! Picking an endpoint: rule `i` of `n` matches with probability `1/(n-i)`,
//! so each of the `n` endpoints gets `1/n` of the new connections; the DNAT
//! is recorded in conntrack, and every later packet of the connection (and
//! the replies, un-NATed) follows it without seeing these rules again.
//!
//! Masquerade only what we marked. A pod that reaches itself through its
//! Service (hairpin) would see a packet from its own address and answer it
//! over `lo`, past the node's conntrack; its source is rewritten to the
//! bridge address instead. The same holds for any pod of this node's bridge
//! when bridged frames skip iptables (no `br_netfilter`, or
//! `bridge-nf-call-iptables=0`): the backend's reply would go straight over
//! the bridge to the client and never be un-DNATed, so then every client of
//! the local podCIDR is marked for a local endpoint ([`Options::masquerade_pod_cidr`]).
//! NodePort traffic is always marked, since its reply must come back here.
//!
//! Chain names are stable: `KUBE-SVC-` / `KUBE-SEP-` plus 16 hex digits of
//! a SHA-256 of `namespace/name:port/protocol` (and the endpoint for a SEP),
//! so a resync that changes nothing writes the same text, and
//! `iptables-save` can be diffed between syncs.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddrV4};

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use sha2::{Digest, Sha256};

use crate::network::config::Cidr;

/// The label that ties an EndpointSlice to its Service.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";
/// The top chain of Service matching, in both nat and filter.
pub const SERVICES_CHAIN: &str = "KUBE-SERVICES";
/// NodePort matching, the last stop of `KUBE-SERVICES` for local addresses.
pub const NODEPORTS_CHAIN: &str = "KUBE-NODEPORTS";
/// Marks a packet for masquerade.
pub const MARK_MASQ_CHAIN: &str = "KUBE-MARK-MASQ";
/// Masquerades the marked packets.
pub const POSTROUTING_CHAIN: &str = "KUBE-POSTROUTING";
/// Prefix of the per-service-port chains.
pub const SVC_PREFIX: &str = "KUBE-SVC-";
/// Prefix of the per-endpoint chains.
pub const SEP_PREFIX: &str = "KUBE-SEP-";
/// Prefix of the per-service-port chains of local endpoints only.
pub const SVL_PREFIX: &str = "KUBE-SVL-";
/// Prefix of the per-service-port chains of external destinations under
/// `externalTrafficPolicy: Local`.
pub const EXT_PREFIX: &str = "KUBE-EXT-";
/// The mark bit of "masquerade this" (upstream's default; portmap uses 0x2000).
pub const MASQ_MARK: &str = "0x4000";
/// `sessionAffinity: ClientIP` without a timeout: 3 hours, as upstream.
pub const DEFAULT_AFFINITY_SECONDS: u32 = 10_800;

/// A transport protocol the proxy handles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Protocol {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

impl Protocol {
    /// From the API's `protocol` (default TCP); `None` for SCTP and unknowns.
    pub fn parse(p: Option<&str>) -> Option<Protocol> {
        match p.unwrap_or("TCP") {
            "TCP" => Some(Protocol::Tcp),
            "UDP" => Some(Protocol::Udp),
            _ => None,
        }
    }

    /// The name `iptables -p` takes.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }
}

/// One port of one Service with the endpoints that serve it: the unit the
/// rules are made of (upstream's `ServicePortName` plus its endpoints).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServicePort {
    /// The Service's namespace.
    pub namespace: String,
    /// The Service's name.
    pub name: String,
    /// The port's name (`""` for a single unnamed port).
    pub port_name: String,
    /// TCP or UDP.
    pub protocol: Protocol,
    /// The ClusterIP.
    pub cluster_ip: Ipv4Addr,
    /// The Service port.
    pub port: u16,
    /// The node port (type NodePort or LoadBalancer), if any.
    pub node_port: Option<u16>,
    /// The load balancer's addresses (`status.loadBalancer.ingress`), on
    /// which the Service's port is answered too.
    pub load_balancer_ips: Vec<Ipv4Addr>,
    /// `sessionAffinity: ClientIP`: how long a client sticks to its endpoint.
    pub affinity_seconds: Option<u32>,
    /// The ready endpoints (`conditions.ready`), sorted, without duplicates.
    pub endpoints: Vec<SocketAddrV4>,
    /// The node of each endpoint that names one (`nodeName`).
    pub endpoint_nodes: BTreeMap<SocketAddrV4, String>,
    /// `internalTrafficPolicy: Local`: the ClusterIP uses this node's
    /// endpoints only.
    pub internal_local: bool,
    /// `externalTrafficPolicy: Local`: node ports and load balancer
    /// addresses use this node's endpoints only, and keep the client's
    /// address.
    pub external_local: bool,
    /// `healthCheckNodePort`, served by [`super::healthcheck`].
    pub health_check_node_port: Option<u16>,
}

impl ServicePort {
    /// `namespace/name:port`, upstream's way of naming a service port in
    /// comments and logs (`namespace/name` for an unnamed port).
    pub fn display_name(&self) -> String {
        if self.port_name.is_empty() {
            format!("{}/{}", self.namespace, self.name)
        } else {
            format!("{}/{}:{}", self.namespace, self.name, self.port_name)
        }
    }

    fn key(&self) -> String {
        format!(
            "{}/{}:{}/{}",
            self.namespace,
            self.name,
            self.port_name,
            self.protocol.as_str()
        )
    }

    /// The `KUBE-SVC-*` chain of this service port.
    pub fn svc_chain(&self) -> String {
        format!("{SVC_PREFIX}{}", hash16(&self.key()))
    }

    /// The `KUBE-SVL-*` chain (local endpoints) of this service port.
    pub fn svl_chain(&self) -> String {
        format!("{SVL_PREFIX}{}", hash16(&self.key()))
    }

    /// The `KUBE-EXT-*` chain (external destinations) of this service port.
    pub fn ext_chain(&self) -> String {
        format!("{EXT_PREFIX}{}", hash16(&self.key()))
    }

    /// The endpoints on `node`.
    pub fn local_endpoints(&self, node: &str) -> Vec<SocketAddrV4> {
        self.endpoints
            .iter()
            .filter(|e| self.endpoint_nodes.get(e).is_some_and(|n| n == node))
            .copied()
            .collect()
    }

    /// Whether outside clients reach it on this node at all (a node port or
    /// a load balancer address).
    fn exposed(&self) -> bool {
        self.node_port.is_some() || !self.load_balancer_ips.is_empty()
    }

    /// The `KUBE-SEP-*` chain of one of its endpoints.
    pub fn sep_chain(&self, ep: &SocketAddrV4) -> String {
        format!("{SEP_PREFIX}{}", hash16(&format!("{}/{ep}", self.key())))
    }
}

/// 16 upper-case hex digits of the SHA-256 of `s` (64 bits: chain names stay
/// under iptables' 28 characters, and collisions are out of reach).
pub(crate) fn hash16(s: &str) -> String {
    let digest = Sha256::digest(s.as_bytes());
    digest[..8]
        .iter()
        .fold(String::with_capacity(16), |mut out, b| {
            let _ = write!(out, "{b:02X}");
            out
        })
}

/// What the rules depend on besides the objects.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// Masquerade every client of this podCIDR that reaches an endpoint in
    /// it: needed when bridged traffic bypasses iptables (see the module
    /// doc). `None`: only hairpin traffic is masqueraded, as upstream.
    pub masquerade_pod_cidr: Option<Cidr>,
    /// This node's name: which endpoints are local.
    pub node_name: String,
    /// This node's podCIDR: its pods' traffic to a Service's external
    /// addresses is not outside traffic.
    pub pod_cidr: Option<Cidr>,
}

/// The service ports of `services`, with their ready endpoints from
/// `slices`. Skipped: headless and ExternalName Services, ClusterIPs that
/// are not IPv4, SCTP ports, IPv6 and FQDN slices, endpoints not ready.
/// The result is sorted, so equal inputs give equal rules.
pub fn service_ports(services: &[&Service], slices: &[&EndpointSlice]) -> Vec<ServicePort> {
    // (namespace, service) -> its slices.
    let mut by_service: BTreeMap<(&str, &str), Vec<&EndpointSlice>> = BTreeMap::new();
    for s in slices {
        let Some(svc) = s
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(SERVICE_NAME_LABEL))
        else {
            continue;
        };
        if s.address_type != "IPv4" {
            continue;
        }
        let ns = s.metadata.namespace.as_deref().unwrap_or("default");
        by_service.entry((ns, svc.as_str())).or_default().push(s);
    }
    let mut out = Vec::new();
    for svc in services {
        let (Some(name), Some(spec)) = (svc.metadata.name.as_deref(), svc.spec.as_ref()) else {
            continue;
        };
        let namespace = svc.metadata.namespace.as_deref().unwrap_or("default");
        if spec.type_.as_deref() == Some("ExternalName") {
            continue;
        }
        let Some(cluster_ip) = spec
            .cluster_ip
            .as_deref()
            .and_then(|ip| ip.parse::<Ipv4Addr>().ok())
        else {
            continue; // headless ("None"), not allocated yet, or IPv6
        };
        let affinity_seconds = (spec.session_affinity.as_deref() == Some("ClientIP")).then(|| {
            spec.session_affinity_config
                .as_ref()
                .and_then(|c| c.client_ip.as_ref())
                .and_then(|c| c.timeout_seconds)
                .and_then(|t| u32::try_from(t).ok())
                .filter(|t| *t > 0)
                .unwrap_or(DEFAULT_AFFINITY_SECONDS)
        });
        let svc_slices = by_service
            .get(&(namespace, name))
            .map(Vec::as_slice)
            .unwrap_or_default();
        for sp in spec.ports.iter().flatten() {
            let Some(protocol) = Protocol::parse(sp.protocol.as_deref()) else {
                continue;
            };
            let Ok(port) = u16::try_from(sp.port) else {
                continue;
            };
            if port == 0 {
                continue;
            }
            let port_name = sp.name.clone().unwrap_or_default();
            let node_port = sp
                .node_port
                .and_then(|p| u16::try_from(p).ok())
                .filter(|p| *p != 0);
            let (endpoints, endpoint_nodes) = ready_endpoints(svc_slices, &port_name, protocol);
            let load_balancer_ips = if spec.type_.as_deref() == Some("LoadBalancer") {
                svc.status
                    .as_ref()
                    .and_then(|s| s.load_balancer.as_ref())
                    .and_then(|lb| lb.ingress.as_ref())
                    .into_iter()
                    .flatten()
                    .filter_map(|i| i.ip.as_deref()?.parse::<Ipv4Addr>().ok())
                    .collect()
            } else {
                Vec::new()
            };
            out.push(ServicePort {
                namespace: namespace.to_string(),
                name: name.to_string(),
                port_name,
                protocol,
                cluster_ip,
                port,
                node_port,
                load_balancer_ips,
                affinity_seconds,
                endpoints,
                endpoint_nodes,
                internal_local: spec.internal_traffic_policy.as_deref() == Some("Local"),
                external_local: spec.external_traffic_policy.as_deref() == Some("Local")
                    && matches!(spec.type_.as_deref(), Some("NodePort" | "LoadBalancer")),
                health_check_node_port: spec
                    .health_check_node_port
                    .and_then(|p| u16::try_from(p).ok())
                    .filter(|p| *p != 0),
            });
        }
    }
    out.sort_by_key(ServicePort::key);
    out
}

/// The ready endpoints of the slices for one port, matched by port name and
/// protocol (each slice says which number the name has on its pods), with
/// the nodes of those that name one.
fn ready_endpoints(
    slices: &[&EndpointSlice],
    port_name: &str,
    protocol: Protocol,
) -> (Vec<SocketAddrV4>, BTreeMap<SocketAddrV4, String>) {
    let mut eps = BTreeSet::new();
    let mut nodes = BTreeMap::new();
    for s in slices {
        let Some(target) = s.ports.iter().flatten().find_map(|p| {
            let same_name = p.name.as_deref().unwrap_or("") == port_name;
            let same_proto = Protocol::parse(p.protocol.as_deref()) == Some(protocol);
            (same_name && same_proto)
                .then_some(p.port)
                .flatten()
                .and_then(|n| u16::try_from(n).ok())
                .filter(|n| *n != 0)
        }) else {
            continue;
        };
        for ep in s.endpoints.iter().flatten() {
            // An unset `ready` means "unknown", which consumers treat as ready.
            let ready = ep.conditions.as_ref().and_then(|c| c.ready).unwrap_or(true);
            if !ready {
                continue;
            }
            // Upstream uses the first address only: the others are the same pod.
            if let Some(ip) = ep
                .addresses
                .first()
                .and_then(|a| a.parse::<Ipv4Addr>().ok())
            {
                let addr = SocketAddrV4::new(ip, target);
                eps.insert(addr);
                if let Some(node) = &ep.node_name {
                    nodes.insert(addr, node.clone());
                }
            }
        }
    }
    (eps.into_iter().collect(), nodes)
}

/// The chains of ours that the restore text declares (and so flushes) and
/// fills; the per-service ones are what [`stale_chains`] compares against.
pub fn chains_of(ports: &[ServicePort], node: &str) -> BTreeSet<String> {
    let mut chains = BTreeSet::new();
    for sp in ports.iter().filter(|sp| !sp.endpoints.is_empty()) {
        chains.insert(sp.svc_chain());
        for ep in &sp.endpoints {
            chains.insert(sp.sep_chain(ep));
        }
        if (sp.internal_local || sp.external_local) && !sp.local_endpoints(node).is_empty() {
            chains.insert(sp.svl_chain());
        }
        if sp.external_local && sp.exposed() {
            chains.insert(sp.ext_chain());
        }
    }
    chains
}

/// Our per-service chains (`KUBE-SVC-*`, `KUBE-SEP-*`, `KUBE-SVL-*`, `KUBE-EXT-*`) in the nat table (as
/// `iptables-save -t nat` prints it) that the new rules no longer have.
/// Nothing else is ever called stale: portmap's `CNI-*` chains and anyone
/// else's are not ours.
pub fn stale_chains(nat_save: &str, wanted: &BTreeSet<String>) -> Vec<String> {
    unwanted_chains(nat_save, wanted, is_per_service)
}

/// The chains declared in an `iptables-save` text that `ours` claims and
/// `wanted` does not have, sorted and without repeats.
pub fn unwanted_chains(
    save: &str,
    wanted: &BTreeSet<String>,
    ours: impl Fn(&str) -> bool,
) -> Vec<String> {
    save.lines()
        .filter_map(|l| l.strip_prefix(':'))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| ours(c) && !wanted.contains(*c))
        .map(str::to_string)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// Whether `chain` is one of the per-service chains (`KUBE-SVC-*`,
/// `KUBE-SEP-*`, `KUBE-SVL-*`, `KUBE-EXT-*`).
pub fn is_per_service(chain: &str) -> bool {
    [SVC_PREFIX, SEP_PREFIX, SVL_PREFIX, EXT_PREFIX]
        .iter()
        .any(|p| chain.starts_with(p))
}

/// A fingerprint of each per-service chain's rules in a [`render`]ed text,
/// so a later sync can tell which chains it need not write again.
pub fn fingerprints(text: &str) -> BTreeMap<String, u64> {
    use std::hash::{Hash, Hasher};
    let mut hashers: BTreeMap<&str, std::collections::hash_map::DefaultHasher> = BTreeMap::new();
    for line in text.lines() {
        let Some(chain) = line.strip_prefix("-A ").and_then(|l| l.split(' ').next()) else {
            continue;
        };
        if is_per_service(chain) {
            line.hash(hashers.entry(chain).or_default());
        }
    }
    hashers
        .into_iter()
        .map(|(c, h)| (c.to_string(), h.finish()))
        .collect()
}

/// `text` without the per-service chains in `unchanged`: neither declared
/// (which would flush them) nor filled. `iptables-restore --noflush` leaves
/// a chain it is not told about as it is, so only what changed is written
/// (upstream's `MinimizeIPTablesRestore`). The top chains (`KUBE-SERVICES`,
/// `KUBE-NODEPORTS`, ...) are always written whole.
pub fn minimize(text: &str, unchanged: &BTreeSet<String>) -> String {
    let skip = |line: &str| {
        let chain = line
            .strip_prefix(':')
            .or_else(|| line.strip_prefix("-A "))
            .and_then(|l| l.split(' ').next());
        chain.is_some_and(|c| unchanged.contains(c))
    };
    let mut out = String::with_capacity(text.len());
    for line in text.lines().filter(|l| !skip(l)) {
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// A comment safe inside double quotes on an `iptables-restore` line
/// (object names are DNS labels already; this is belt and braces).
pub(crate) fn comment(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "./:-_> ".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The rules of a chain that spreads new connections over `eps`
/// (`KUBE-SVC-*` over all endpoints, `KUBE-SVL-*` over local ones):
/// session affinity first, then rule `i` of `n` with probability `1/(n-i)`.
fn balance(
    out: &mut String,
    chain: &str,
    name: &Commenter,
    sp: &ServicePort,
    eps: &[SocketAddrV4],
) {
    if let Some(secs) = sp.affinity_seconds {
        for ep in eps {
            let sep = sp.sep_chain(ep);
            let _ = writeln!(
                out,
                "-A {chain}{} -m recent --name {sep} --rcheck --seconds {secs} --reap -j {sep}",
                name.to(ep)
            );
        }
    }
    let n = eps.len();
    for (i, ep) in eps.iter().enumerate() {
        let sep = sp.sep_chain(ep);
        let left = n - i;
        if left > 1 {
            let _ = writeln!(
                out,
                "-A {chain}{} -m statistic --mode random --probability {:.10} -j {sep}",
                name.to(ep),
                1.0 / left as f64
            );
        } else {
            let _ = writeln!(out, "-A {chain}{} -j {sep}", name.to(ep));
        }
    }
}

/// Above this many endpoints in all, the per-endpoint rules carry no
/// comment (kube-proxy's "large cluster mode", same threshold): with
/// 10,000 endpoints the comments are about a third of what
/// `iptables-restore` parses.
pub const LARGE_CLUSTER_ENDPOINTS: usize = 1000;

/// The comment of a Service port's per-endpoint rules, or none in a large
/// cluster.
struct Commenter {
    name: Option<String>,
}

impl Commenter {
    /// ` -m comment --comment "<name>"`, or nothing.
    fn plain(&self) -> String {
        self.name
            .as_ref()
            .map(|n| format!(" -m comment --comment \"{n}\""))
            .unwrap_or_default()
    }

    /// ` -m comment --comment "<name> -> <endpoint>"`, or nothing.
    fn to(&self, ep: &SocketAddrV4) -> String {
        self.name
            .as_ref()
            .map(|n| format!(" -m comment --comment \"{n} -> {ep}\""))
            .unwrap_or_default()
    }
}

/// The whole input of `iptables-restore --noflush`: the nat and filter
/// tables, our chains only. Declaring a chain (`:NAME - [0:0]`) flushes it
/// under `--noflush`, so every chain we own is rewritten whole; `stale`
/// chains are declared (flushed) and then deleted, after `KUBE-SERVICES`
/// stopped jumping to them, in the same atomic commit.
pub fn render(ports: &[ServicePort], stale: &[String], opts: &Options) -> String {
    let mut nat_chains = vec![
        SERVICES_CHAIN.to_string(),
        NODEPORTS_CHAIN.to_string(),
        MARK_MASQ_CHAIN.to_string(),
        POSTROUTING_CHAIN.to_string(),
    ];
    nat_chains.extend(chains_of(ports, &opts.node_name));
    nat_chains.extend(stale.iter().cloned());

    let mut nat = String::new();
    let mut services = String::new();
    let mut nodeports = String::new();
    let mut filter = String::new();
    let mut per_service = String::new();

    let _ = writeln!(nat, "-A {MARK_MASQ_CHAIN} -j MARK --or-mark {MASQ_MARK}");
    let _ = writeln!(
        nat,
        "-A {POSTROUTING_CHAIN} -m mark ! --mark {MASQ_MARK}/{MASQ_MARK} -j RETURN"
    );
    // Clear the mark so a packet that is routed again is not masqueraded twice.
    let _ = writeln!(nat, "-A {POSTROUTING_CHAIN} -j MARK --xor-mark {MASQ_MARK}");
    let _ = writeln!(
        nat,
        "-A {POSTROUTING_CHAIN} -m comment --comment \"service traffic requiring SNAT\" -j MASQUERADE"
    );

    let large = ports.iter().map(|p| p.endpoints.len()).sum::<usize>() > LARGE_CLUSTER_ENDPOINTS;
    for sp in ports {
        let name = comment(&sp.display_name());
        let per_endpoint = Commenter {
            name: (!large).then(|| name.clone()),
        };
        let proto = sp.protocol.as_str();
        if sp.endpoints.is_empty() {
            for ip in std::iter::once(&sp.cluster_ip).chain(&sp.load_balancer_ips) {
                let _ = writeln!(
                    filter,
                    "-A {SERVICES_CHAIN} -d {ip}/32 -p {proto} -m comment --comment \"{name} has no endpoints\" -m {proto} --dport {} -j REJECT",
                    sp.port
                );
            }
            continue;
        }
        let svc = sp.svc_chain();
        let local = sp.local_endpoints(&opts.node_name);
        let svl = (!local.is_empty()).then(|| sp.svl_chain());
        // The ClusterIP: every endpoint, or this node's under
        // internalTrafficPolicy Local (none here: dropped, as upstream).
        let internal = if sp.internal_local {
            svl.clone()
        } else {
            Some(svc.clone())
        };
        match internal {
            Some(target) => {
                let _ = writeln!(
                    services,
                    "-A {SERVICES_CHAIN} -d {}/32 -p {proto} -m comment --comment \"{name} cluster IP\" -m {proto} --dport {} -j {target}",
                    sp.cluster_ip, sp.port
                );
            }
            None => {
                let _ = writeln!(
                    filter,
                    "-A {SERVICES_CHAIN} -d {}/32 -p {proto} -m comment --comment \"{name} has no local endpoints\" -m {proto} --dport {} -j DROP",
                    sp.cluster_ip, sp.port
                );
            }
        }
        // External destinations (the load balancer's addresses, the node
        // port): under externalTrafficPolicy Cluster masqueraded to any
        // endpoint, so the reply comes back through this node; under Local
        // through KUBE-EXT.
        let ext = sp.ext_chain();
        let external: Vec<&str> = if sp.external_local {
            vec![ext.as_str()]
        } else {
            vec![MARK_MASQ_CHAIN, svc.as_str()]
        };
        for ip in &sp.load_balancer_ips {
            for target in &external {
                let _ = writeln!(
                    services,
                    "-A {SERVICES_CHAIN} -d {ip}/32 -p {proto} -m comment --comment \"{name} loadbalancer IP\" -m {proto} --dport {} -j {target}",
                    sp.port
                );
            }
        }
        if let Some(np) = sp.node_port {
            for target in &external {
                let _ = writeln!(
                    nodeports,
                    "-A {NODEPORTS_CHAIN} -p {proto} -m comment --comment \"{name} node port\" -m {proto} --dport {np} -j {target}"
                );
            }
        }
        if sp.external_local && sp.exposed() {
            if let Some(cidr) = opts.pod_cidr {
                let _ = writeln!(
                    per_service,
                    "-A {ext} -s {cidr} -m comment --comment \"pod traffic for {name} external destinations\" -j {svc}"
                );
            }
            let _ = writeln!(
                per_service,
                "-A {ext} -m comment --comment \"masquerade LOCAL traffic for {name} external destinations\" -m addrtype --src-type LOCAL -j {MARK_MASQ_CHAIN}"
            );
            let _ = writeln!(
                per_service,
                "-A {ext} -m comment --comment \"route LOCAL traffic for {name} external destinations\" -m addrtype --src-type LOCAL -j {svc}"
            );
            if let Some(svl) = &svl {
                let _ = writeln!(per_service, "-A {ext} -j {svl}");
            }
        }
        balance(&mut per_service, &svc, &per_endpoint, sp, &sp.endpoints);
        if let Some(svl) = svl
            .as_ref()
            .filter(|_| sp.internal_local || sp.external_local)
        {
            balance(&mut per_service, svl, &per_endpoint, sp, &local);
        }
        for ep in &sp.endpoints {
            let sep = sp.sep_chain(ep);
            let local = opts
                .masquerade_pod_cidr
                .filter(|c| c.contains(&std::net::IpAddr::V4(*ep.ip())));
            match local {
                Some(cidr) => {
                    let _ = writeln!(
                        per_service,
                        "-A {sep} -s {cidr}{} -j {MARK_MASQ_CHAIN}",
                        per_endpoint.plain()
                    );
                }
                None => {
                    let _ = writeln!(
                        per_service,
                        "-A {sep} -s {}/32{} -j {MARK_MASQ_CHAIN}",
                        ep.ip(),
                        per_endpoint.plain()
                    );
                }
            }
            let recent = if sp.affinity_seconds.is_some() {
                format!(" -m recent --name {sep} --set")
            } else {
                String::new()
            };
            let _ = writeln!(
                per_service,
                "-A {sep} -p {proto}{}{recent} -m {proto} -j DNAT --to-destination {ep}",
                per_endpoint.plain()
            );
        }
    }
    // NodePorts last: only what no ClusterIP rule took, addressed to this node.
    let _ = writeln!(
        services,
        "-A {SERVICES_CHAIN} -m comment --comment \"node ports; must be the last rule\" -m addrtype --dst-type LOCAL -j {NODEPORTS_CHAIN}"
    );

    let mut out = String::from("*nat\n");
    for c in &nat_chains {
        let _ = writeln!(out, ":{c} - [0:0]");
    }
    out.push_str(&nat);
    out.push_str(&services);
    out.push_str(&nodeports);
    out.push_str(&per_service);
    for c in stale {
        let _ = writeln!(out, "-X {c}");
    }
    out.push_str("COMMIT\n*filter\n");
    let _ = writeln!(out, ":{SERVICES_CHAIN} - [0:0]");
    out.push_str(&filter);
    out.push_str("COMMIT\n");
    out
}

/// A rule in a built-in chain that sends packets into ours: `(table, chain,
/// rule arguments)`. These are the only rules outside our chains; they are
/// inserted first in their chain once (checked with `iptables -C`).
pub type Jump = (&'static str, &'static str, Vec<&'static str>);

/// The jumps from the built-in chains into ours.
pub fn jumps() -> Vec<Jump> {
    let portals = vec![
        "-m",
        "comment",
        "--comment",
        "kubernetes service portals",
        "-j",
        SERVICES_CHAIN,
    ];
    let filter_portals = vec![
        "-m",
        "conntrack",
        "--ctstate",
        "NEW",
        "-m",
        "comment",
        "--comment",
        "kubernetes service portals",
        "-j",
        SERVICES_CHAIN,
    ];
    vec![
        ("nat", "PREROUTING", portals.clone()),
        ("nat", "OUTPUT", portals),
        (
            "nat",
            "POSTROUTING",
            vec![
                "-m",
                "comment",
                "--comment",
                "kubernetes postrouting rules",
                "-j",
                POSTROUTING_CHAIN,
            ],
        ),
        ("filter", "FORWARD", filter_portals.clone()),
        ("filter", "OUTPUT", filter_portals),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn svc(v: serde_json::Value) -> Service {
        serde_json::from_value(v).unwrap()
    }

    fn slice(v: serde_json::Value) -> EndpointSlice {
        serde_json::from_value(v).unwrap()
    }

    fn web() -> Service {
        svc(json!({
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"clusterIP": "10.96.0.20", "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}
        }))
    }

    fn web_slice(eps: serde_json::Value) -> EndpointSlice {
        slice(json!({
            "metadata": {"name": "web-abc", "namespace": "default",
                         "labels": {"kubernetes.io/service-name": "web"}},
            "addressType": "IPv4",
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
            "endpoints": eps
        }))
    }

    fn ep(ip: &str, ready: bool) -> serde_json::Value {
        json!({"addresses": [ip], "conditions": {"ready": ready}})
    }

    #[test]
    fn ready_endpoints_by_port_name() {
        let s = web();
        let sl = web_slice(json!([
            ep("10.244.2.7", true),
            ep("10.244.1.5", true),
            ep("10.244.1.9", false),
            {"addresses": ["10.244.3.3"]}
        ]));
        let other = slice(json!({
            "metadata": {"name": "x", "namespace": "other", "labels": {"kubernetes.io/service-name": "web"}},
            "addressType": "IPv4",
            "ports": [{"name": "http", "port": 9, "protocol": "TCP"}],
            "endpoints": [ep("10.244.9.9", true)]
        }));
        let ports = service_ports(&[&s], &[&sl, &other]);
        assert_eq!(ports.len(), 1);
        let p = &ports[0];
        assert_eq!(p.display_name(), "default/web:http");
        assert_eq!(p.protocol, Protocol::Tcp);
        assert_eq!(p.cluster_ip, Ipv4Addr::new(10, 96, 0, 20));
        assert_eq!(p.port, 80);
        let eps: Vec<String> = p.endpoints.iter().map(|e| e.to_string()).collect();
        // not ready left out, unknown readiness counted, sorted
        assert_eq!(
            eps,
            ["10.244.1.5:8080", "10.244.2.7:8080", "10.244.3.3:8080"]
        );
    }

    #[test]
    fn unnamed_and_udp_ports_and_skipped_services() {
        let dns = svc(json!({
            "metadata": {"name": "dns", "namespace": "kube-system"},
            "spec": {"clusterIP": "10.96.0.10", "ports": [
                {"name": "dns", "port": 53, "protocol": "UDP"},
                {"name": "dns-tcp", "port": 53, "protocol": "TCP"},
                {"name": "sctp", "port": 99, "protocol": "SCTP"}
            ]}
        }));
        let headless = svc(json!({
            "metadata": {"name": "h", "namespace": "default"},
            "spec": {"clusterIP": "None", "ports": [{"port": 80}]}
        }));
        let external = svc(json!({
            "metadata": {"name": "e", "namespace": "default"},
            "spec": {"type": "ExternalName", "externalName": "example.com"}
        }));
        let plain = svc(json!({
            "metadata": {"name": "plain", "namespace": "default"},
            "spec": {"clusterIP": "10.96.0.30", "ports": [{"port": 8080}]}
        }));
        let dns_slice = slice(json!({
            "metadata": {"name": "dns-1", "namespace": "kube-system", "labels": {"kubernetes.io/service-name": "dns"}},
            "addressType": "IPv4",
            "ports": [{"name": "dns", "port": 5353, "protocol": "UDP"}, {"name": "dns-tcp", "port": 5353, "protocol": "TCP"}],
            "endpoints": [ep("10.244.1.2", true)]
        }));
        let plain_slice = slice(json!({
            "metadata": {"name": "plain-1", "namespace": "default", "labels": {"kubernetes.io/service-name": "plain"}},
            "addressType": "IPv4",
            "ports": [{"name": "", "port": 8080, "protocol": "TCP"}],
            "endpoints": [ep("10.244.1.3", true)]
        }));
        let ports = service_ports(
            &[&dns, &headless, &external, &plain],
            &[&dns_slice, &plain_slice],
        );
        let names: Vec<String> = ports
            .iter()
            .map(|p| {
                format!(
                    "{} {} {:?}",
                    p.display_name(),
                    p.protocol.as_str(),
                    p.endpoints
                )
            })
            .collect();
        assert_eq!(
            names,
            [
                "default/plain tcp [10.244.1.3:8080]",
                "kube-system/dns:dns-tcp tcp [10.244.1.2:5353]",
                "kube-system/dns:dns udp [10.244.1.2:5353]",
            ]
        );
    }

    #[test]
    fn chain_names_are_stable_and_short() {
        let ports = service_ports(&[&web()], &[&web_slice(json!([ep("10.244.1.5", true)]))]);
        let p = &ports[0];
        let a = p.svc_chain();
        assert_eq!(a, ports[0].clone().svc_chain());
        assert!(a.starts_with("KUBE-SVC-") && a.len() == 25, "{a}");
        assert!(a.len() <= 28);
        let e = p.sep_chain(&p.endpoints[0]);
        assert!(e.starts_with("KUBE-SEP-") && e.len() == 25, "{e}");
        let mut other = p.clone();
        other.port_name = "https".into();
        assert_ne!(other.svc_chain(), a);
        let mut udp = p.clone();
        udp.protocol = Protocol::Udp;
        assert_ne!(udp.svc_chain(), a);
    }

    #[test]
    fn renders_load_balancing_dnat_and_hairpin() {
        let ports = service_ports(
            &[&web()],
            &[&web_slice(json!([
                ep("10.244.1.5", true),
                ep("10.244.2.7", true),
                ep("10.244.2.8", true)
            ]))],
        );
        let p = &ports[0];
        let svc = p.svc_chain();
        let seps: Vec<String> = p.endpoints.iter().map(|e| p.sep_chain(e)).collect();
        let text = render(&ports, &[], &Options::default());
        let want = format!(
            "*nat
:KUBE-SERVICES - [0:0]
:KUBE-NODEPORTS - [0:0]
:KUBE-MARK-MASQ - [0:0]
:KUBE-POSTROUTING - [0:0]
{chains}-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000
-A KUBE-POSTROUTING -m comment --comment \"service traffic requiring SNAT\" -j MASQUERADE
-A KUBE-SERVICES -d 10.96.0.20/32 -p tcp -m comment --comment \"default/web:http cluster IP\" -m tcp --dport 80 -j {svc}
-A KUBE-SERVICES -m comment --comment \"node ports; must be the last rule\" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS
-A {svc} -m comment --comment \"default/web:http -> 10.244.1.5:8080\" -m statistic --mode random --probability 0.3333333333 -j {s0}
-A {svc} -m comment --comment \"default/web:http -> 10.244.2.7:8080\" -m statistic --mode random --probability 0.5000000000 -j {s1}
-A {svc} -m comment --comment \"default/web:http -> 10.244.2.8:8080\" -j {s2}
-A {s0} -s 10.244.1.5/32 -m comment --comment \"default/web:http\" -j KUBE-MARK-MASQ
-A {s0} -p tcp -m comment --comment \"default/web:http\" -m tcp -j DNAT --to-destination 10.244.1.5:8080
-A {s1} -s 10.244.2.7/32 -m comment --comment \"default/web:http\" -j KUBE-MARK-MASQ
-A {s1} -p tcp -m comment --comment \"default/web:http\" -m tcp -j DNAT --to-destination 10.244.2.7:8080
-A {s2} -s 10.244.2.8/32 -m comment --comment \"default/web:http\" -j KUBE-MARK-MASQ
-A {s2} -p tcp -m comment --comment \"default/web:http\" -m tcp -j DNAT --to-destination 10.244.2.8:8080
COMMIT
*filter
:KUBE-SERVICES - [0:0]
COMMIT
",
            chains = chains_of(&ports, "")
                .iter()
                .map(|c| format!(":{c} - [0:0]\n"))
                .collect::<String>(),
            s0 = seps[0],
            s1 = seps[1],
            s2 = seps[2],
        );
        assert_eq!(text, want);
    }

    #[test]
    fn no_endpoints_rejects_in_filter_and_stale_chains_go() {
        let ports = service_ports(&[&web()], &[&web_slice(json!([ep("10.244.1.5", false)]))]);
        assert!(ports[0].endpoints.is_empty());
        let old = ServicePort {
            endpoints: vec!["10.244.1.5:8080".parse().unwrap()],
            ..ports[0].clone()
        };
        let save = format!(
            "*nat\n:PREROUTING ACCEPT [0:0]\n:KUBE-SERVICES - [0:0]\n:CNI-HOSTPORT-DNAT - [0:0]\n:{} - [0:0]\n:{} - [0:0]\nCOMMIT\n",
            old.svc_chain(),
            old.sep_chain(&old.endpoints[0])
        );
        let stale = stale_chains(&save, &chains_of(&ports, ""));
        let mut want = vec![old.svc_chain(), old.sep_chain(&old.endpoints[0])];
        want.sort();
        assert_eq!(stale, want);
        let text = render(&ports, &stale, &Options::default());
        assert!(!text.contains("-j KUBE-SVC-"), "{text}");
        for c in &stale {
            assert!(text.contains(&format!(":{c} - [0:0]\n")), "{text}");
            assert!(text.contains(&format!("-X {c}\n")), "{text}");
        }
        // -X only after the chain was flushed, and before COMMIT of nat
        let x = text.find("-X ").unwrap();
        assert!(x < text.find("COMMIT").unwrap());
        assert!(text.ends_with(
            "*filter\n:KUBE-SERVICES - [0:0]\n-A KUBE-SERVICES -d 10.96.0.20/32 -p tcp -m comment --comment \"default/web:http has no endpoints\" -m tcp --dport 80 -j REJECT\nCOMMIT\n"
        ), "{text}");
        // only our prefixes are ever stale
        assert!(stale_chains(&save, &BTreeSet::new())
            .iter()
            .all(|c| c.starts_with("KUBE-SVC-") || c.starts_with("KUBE-SEP-")));
    }

    #[test]
    fn load_balancer_addresses_are_answered_like_node_ports() {
        let s = svc(json!({
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"type": "LoadBalancer", "clusterIP": "10.96.0.20",
                     "ports": [{"name": "http", "port": 80, "nodePort": 30080, "protocol": "TCP"}]},
            "status": {"loadBalancer": {"ingress": [{"ip": "10.200.0.11"}, {"hostname": "lb.example"}]}}
        }));
        let ports = service_ports(&[&s], &[&web_slice(json!([ep("10.244.1.5", true)]))]);
        let p = &ports[0];
        assert_eq!(
            p.load_balancer_ips,
            ["10.200.0.11".parse::<Ipv4Addr>().unwrap()]
        );
        let text = render(&ports, &[], &Options::default());
        let svc = p.svc_chain();
        for line in [
            "-A KUBE-SERVICES -d 10.200.0.11/32 -p tcp -m comment --comment \"default/web:http loadbalancer IP\" -m tcp --dport 80 -j KUBE-MARK-MASQ".to_string(),
            format!("-A KUBE-SERVICES -d 10.200.0.11/32 -p tcp -m comment --comment \"default/web:http loadbalancer IP\" -m tcp --dport 80 -j {svc}"),
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line}\nin\n{text}");
        }
        // Without endpoints the address refuses, as the cluster IP does.
        let ports = service_ports(&[&s], &[]);
        let text = render(&ports, &[], &Options::default());
        assert!(text.contains("-A KUBE-SERVICES -d 10.200.0.11/32 -p tcp -m comment --comment \"default/web:http has no endpoints\" -m tcp --dport 80 -j REJECT"), "{text}");
    }

    #[test]
    fn affinity_node_port_and_bridge_masquerade() {
        let s = svc(json!({
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"type": "NodePort", "clusterIP": "10.96.0.20", "sessionAffinity": "ClientIP",
                     "ports": [{"name": "http", "port": 80, "nodePort": 30080, "protocol": "TCP"}]}
        }));
        let ports = service_ports(
            &[&s],
            &[&web_slice(json!([
                ep("10.244.1.5", true),
                ep("10.244.2.7", true)
            ]))],
        );
        let p = &ports[0];
        assert_eq!(p.affinity_seconds, Some(DEFAULT_AFFINITY_SECONDS));
        assert_eq!(p.node_port, Some(30080));
        let (local, remote) = (p.sep_chain(&p.endpoints[0]), p.sep_chain(&p.endpoints[1]));
        let opts = Options {
            masquerade_pod_cidr: Some("10.244.1.0/24".parse().unwrap()),
            ..Options::default()
        };
        let text = render(&ports, &[], &opts);
        let svc = p.svc_chain();
        for line in [
            "-A KUBE-NODEPORTS -p tcp -m comment --comment \"default/web:http node port\" -m tcp --dport 30080 -j KUBE-MARK-MASQ".to_string(),
            format!("-A KUBE-NODEPORTS -p tcp -m comment --comment \"default/web:http node port\" -m tcp --dport 30080 -j {svc}"),
            format!("-A {svc} -m comment --comment \"default/web:http -> 10.244.1.5:8080\" -m recent --name {local} --rcheck --seconds 10800 --reap -j {local}"),
            format!("-A {local} -s 10.244.1.0/24 -m comment --comment \"default/web:http\" -j KUBE-MARK-MASQ"),
            format!("-A {remote} -s 10.244.2.7/32 -m comment --comment \"default/web:http\" -j KUBE-MARK-MASQ"),
            format!("-A {local} -p tcp -m comment --comment \"default/web:http\" -m recent --name {local} --set -m tcp -j DNAT --to-destination 10.244.1.5:8080"),
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line}\nin\n{text}");
        }
        // affinity checks come before the random pick
        let check = text.find("--rcheck").unwrap();
        let pick = text.find("-m statistic").unwrap();
        assert!(check < pick);
    }

    #[test]
    fn comments_cannot_break_the_line() {
        assert_eq!(comment("a\"b\nc"), "a_b_c");
        assert_eq!(
            comment("default/web:http -> 10.0.0.1:80"),
            "default/web:http -> 10.0.0.1:80"
        );
    }

    #[test]
    fn jumps_target_our_chains() {
        let j = jumps();
        assert_eq!(j.len(), 5);
        assert!(j.iter().all(|(t, _, args)| {
            let target = args.last().copied().unwrap_or_default();
            (*t == "nat" || *t == "filter")
                && (target == SERVICES_CHAIN || target == POSTROUTING_CHAIN)
        }));
    }

    /// A NodePort Service with both traffic policies Local, one endpoint on
    /// n1 and one on n2, as each node renders it.
    fn local_policies() -> Vec<ServicePort> {
        let s = svc(json!({
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"type": "NodePort", "clusterIP": "10.96.0.20",
                     "externalTrafficPolicy": "Local", "internalTrafficPolicy": "Local",
                     "ports": [{"name": "http", "port": 80, "nodePort": 30080}]}
        }));
        let sl = web_slice(json!([
            {"addresses": ["10.244.1.5"], "conditions": {"ready": true}, "nodeName": "n1"},
            {"addresses": ["10.244.2.7"], "conditions": {"ready": true}, "nodeName": "n2"},
        ]));
        service_ports(&[&s], &[&sl])
    }

    fn on(node: &str) -> Options {
        Options {
            node_name: node.into(),
            pod_cidr: Some("10.244.1.0/24".parse().unwrap()),
            ..Options::default()
        }
    }

    #[test]
    fn local_traffic_policies_use_this_nodes_endpoints() {
        let ports = local_policies();
        let p = &ports[0];
        assert!(p.internal_local && p.external_local);
        let (svc, svl, ext) = (p.svc_chain(), p.svl_chain(), p.ext_chain());
        let local = p.sep_chain(&"10.244.1.5:8080".parse().unwrap());
        let remote = p.sep_chain(&"10.244.2.7:8080".parse().unwrap());
        let text = render(&ports, &[], &on("n1"));
        for line in [
            format!("-A KUBE-SERVICES -d 10.96.0.20/32 -p tcp -m comment --comment \"default/web:http cluster IP\" -m tcp --dport 80 -j {svl}"),
            format!("-A KUBE-NODEPORTS -p tcp -m comment --comment \"default/web:http node port\" -m tcp --dport 30080 -j {ext}"),
            format!("-A {ext} -s 10.244.1.0/24 -m comment --comment \"pod traffic for default/web:http external destinations\" -j {svc}"),
            format!("-A {ext} -m comment --comment \"masquerade LOCAL traffic for default/web:http external destinations\" -m addrtype --src-type LOCAL -j KUBE-MARK-MASQ"),
            format!("-A {ext} -m comment --comment \"route LOCAL traffic for default/web:http external destinations\" -m addrtype --src-type LOCAL -j {svc}"),
            format!("-A {ext} -j {svl}"),
            format!("-A {svl} -m comment --comment \"default/web:http -> 10.244.1.5:8080\" -j {local}"),
        ] {
            assert!(text.contains(&line), "missing {line}\n{text}");
        }
        // Outside clients are not masqueraded, and the local chain never
        // leads to the other node's endpoint.
        assert!(!text.contains("--dport 30080 -j KUBE-MARK-MASQ"), "{text}");
        assert!(!text.contains(&format!(
            "-A {svl} -m comment --comment \"default/web:http -> 10.244.2.7:8080\" -j {remote}"
        )));
        assert!(chains_of(&ports, "n1").contains(&svl));
    }

    #[test]
    fn a_node_without_local_endpoints_drops_the_cluster_ip_and_sends_outside_clients_nowhere() {
        let ports = local_policies();
        let p = &ports[0];
        let (svl, ext) = (p.svl_chain(), p.ext_chain());
        let text = render(&ports, &[], &on("n3"));
        assert!(text.contains("-A KUBE-SERVICES -d 10.96.0.20/32 -p tcp -m comment --comment \"default/web:http has no local endpoints\" -m tcp --dport 80 -j DROP"), "{text}");
        assert!(!text.contains(&svl), "{text}");
        assert!(!chains_of(&ports, "n3").contains(&svl));
        // Pods and the node itself still reach every endpoint.
        assert!(text.contains(&format!("-A {ext} -s 10.244.1.0/24")));
        assert!(!text.contains(&format!("-A {ext} -j ")), "{text}");
    }
}
