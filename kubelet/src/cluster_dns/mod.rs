//! Cluster DNS: a small DNS server inside the kubelet that answers pods'
//! questions about Services, so `wget http://web/` works in a pod.
//!
//! Where it sits: a `ClusterFirst` pod's `/etc/resolv.conf` (written by
//! [`network::resolv_conf`](mod@crate::network::resolv_conf)) names the
//! `clusterDNS` IP (the lab's is 10.96.0.10, inside the apiserver's service
//! range) with the search path `<ns>.svc.<domain> svc.<domain> <domain>`
//! and `ndots:5`. The agent starts [`run`] once the node has its podCIDR,
//! next to the service proxy. It puts
//! that IP on the node namespace's `lo` (`ip addr replace 10.96.0.10/32 dev
//! lo`) and binds UDP and TCP port 53 on it. No Service stands behind the IP:
//! every node answers on it by itself (node-local), and the service proxy
//! leaves any Service that has this ClusterIP out of its rules, so neither
//! its DNAT nor its REJECT can catch the traffic.
//!
//! A query's way:
//!
//! ```text
//! pod: wget http://web/  ->  resolver: "web.default.svc.cluster.local" A?  (search path, ndots:5)
//!   -> UDP to 10.96.0.10:53 -> the pod's gateway, the node's bridge -> local delivery (the IP is on lo)
//! kubelet: hickory-proto's Message::from_vec   malformed: FORMERR (or dropped without a header)
//!   -> respond(table, query)
//!        not a standard query: NOTIMP; not exactly one question: FORMERR
//!        inside the cluster domain: table::Table::lookup -> A / SRV, NOERROR without
//!          answers (AAAA, empty non-terminals), NXDOMAIN; SERVFAIL until the first list
//!        outside it: forward the query as it came to the node's nameservers
//!          (/etc/resolv.conf, 2 s each); none answers: SERVFAIL
//!   -> message::to_bytes(limit): 512 bytes over UDP (or the client's EDNS size, at most 1232),
//!      truncated with TC set so the client retries over TCP
//! ```
//!
//! The table ([`table`]) is rebuilt from kube-runtime reflectors of Services
//! and EndpointSlices after every change (debounced) and swapped in whole,
//! so a query sees one consistent state. The wire format is `hickory-proto`'s
//! (a maintained DNS protocol crate that reports malformed packets as
//! errors); [`message`] adds what is ours: the shape of a reply, the table's
//! name keys and the UDP size rule.
//!
//! The host's own network namespace: adding an address there and listening
//! on port 53 would change the machine's networking, so, like the proxy,
//! the server refuses to start there unless `clusterDNSServerInRootNetns:
//! true` ([`crate::network::forwarding::in_root_netns`]).

pub mod message;
pub mod table;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::Command;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::runtime::reflector::Store;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};

use hickory_proto::op::{Header, Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::{DNSClass, RecordType};
use hickory_proto::serialize::binary::BinDecodable;

use crate::services::ServiceView;
use message::{edns_udp_size, response_to, UDP_LIMIT};
use table::{Lookup, Table};

/// The DNS port.
pub const PORT: u16 = 53;
/// How long after a change the table waits for more before it is rebuilt.
pub const DEBOUNCE: Duration = Duration::from_millis(100);
/// How long one upstream nameserver gets to answer a forwarded query.
pub const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a TCP connection may stay idle between queries.
pub const TCP_IDLE: Duration = Duration::from_secs(10);
/// The largest UDP answer we send to a client that offers EDNS (the
/// common "no fragmentation" size).
pub const EDNS_LIMIT: u16 = 1232;
/// Where the node's resolvers are read from.
pub const HOST_RESOLV_CONF: &str = "/etc/resolv.conf";

/// Errors of the cluster DNS server.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The network namespaces could not be compared.
    #[error("checking the network namespace: {0}")]
    Netns(#[source] crate::network::Error),
    /// The kubelet runs in the host's network namespace and the config does
    /// not allow the server there.
    #[error("the kubelet runs in the host's root network namespace; the cluster DNS server listens there only with clusterDNSServerInRootNetns: true")]
    RootNetns,
    /// `ip` could not be run or failed.
    #[error("{cmd}: {reason}")]
    Ip {
        /// The command.
        cmd: String,
        /// Its error or stderr.
        reason: String,
    },
    /// A socket could not be bound.
    #[error("binding {proto} {addr}: {source}")]
    Bind {
        /// `udp` or `tcp`.
        proto: &'static str,
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// Results of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The server's settings.
#[derive(Debug, Clone)]
pub struct DnsConfig {
    /// `clusterDNSServer` of the kubelet config.
    pub enabled: bool,
    /// `clusterDNSServerInRootNetns`.
    pub allow_root_netns: bool,
    /// The address to serve on: the first IPv4 address of `clusterDNS`.
    pub listen: Option<Ipv4Addr>,
    /// `clusterDomain`.
    pub domain: String,
}

impl DnsConfig {
    /// The settings from the kubelet's config fields.
    pub fn from_file(file: &crate::config::FileConfig) -> DnsConfig {
        DnsConfig {
            enabled: file.cluster_dns_server,
            allow_root_netns: file.cluster_dns_server_in_root_netns,
            listen: file
                .cluster_dns
                .iter()
                .find_map(|s| s.parse::<Ipv4Addr>().ok()),
            domain: file.cluster_domain.clone(),
        }
    }

    /// The IP the server will own on this node, if it is to run at all
    /// (the service proxy leaves Services with this ClusterIP alone).
    pub fn served_ip(&self) -> Option<Ipv4Addr> {
        if self.enabled && !self.domain.trim_matches('.').is_empty() {
            self.listen
        } else {
            None
        }
    }
}

/// What to do with one incoming message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send this answer.
    Reply(Message),
    /// Not ours: relay the query's bytes to the node's resolvers; the
    /// parsed query is for the SERVFAIL if none answers.
    Forward(Message),
    /// Say nothing (a response, or bytes without even a header).
    Drop,
}

/// Decides the answer to `bytes` from `table` (`None`: not listed yet) in
/// `domain`. Pure: the server's whole policy, unit-tested.
pub fn respond(table: Option<&Table>, domain: &str, bytes: &[u8]) -> Action {
    let query = match Message::from_vec(bytes) {
        Ok(m) => m,
        Err(_) => {
            // Answer FORMERR when at least the header is there.
            return match Header::from_bytes(bytes) {
                Ok(h) if h.metadata.message_type == MessageType::Query => {
                    let mut shell = Message::new(h.metadata.id, MessageType::Query, OpCode::Query);
                    shell.metadata = h.metadata;
                    Action::Reply(response_to(&shell, ResponseCode::FormErr, EDNS_LIMIT))
                }
                _ => Action::Drop,
            };
        }
    };
    if query.metadata.message_type == MessageType::Response {
        return Action::Drop;
    }
    if query.metadata.op_code != OpCode::Query {
        return Action::Reply(reply(&query, ResponseCode::NotImp));
    }
    let [q] = query.queries.as_slice() else {
        return Action::Reply(reply(&query, ResponseCode::FormErr));
    };
    let domain = domain.trim_matches('.').to_ascii_lowercase();
    // Reverse names of Service and endpoint addresses are ours too.
    let reverse = table.and_then(|t| t.reverse(q.name(), q.query_type()));
    let is_reverse = reverse.is_some();
    if reverse.is_none() && !table::in_domain(&domain, q.name()) {
        return Action::Forward(query);
    }
    if q.query_class() != DNSClass::IN && q.query_class() != DNSClass::ANY {
        return Action::Reply(reply(&query, ResponseCode::Refused));
    }
    let Some(table) = table else {
        return Action::Reply(reply(&query, ResponseCode::ServFail));
    };
    if !is_reverse && q.query_type() == RecordType::SOA && table.is_apex(q.name()) {
        let mut r = reply(&query, ResponseCode::NoError);
        r.answers.extend(table.soa());
        r.metadata.authoritative = true;
        return Action::Reply(r);
    }
    let found = reverse.unwrap_or_else(|| table.lookup(q.name(), q.query_type()));
    // Negative answers inside the zone carry its SOA (RFC 2308), which
    // resolvers need to cache them; reverse names are not in our zone.
    let negative = !is_reverse && matches!(found, Lookup::NoData | Lookup::NxDomain);
    let mut r = match found {
        Lookup::Found {
            answers,
            additionals,
        } => {
            let mut r = reply(&query, ResponseCode::NoError);
            r.answers = answers;
            r.additionals = additionals;
            r
        }
        Lookup::NoData | Lookup::NotOurs => reply(&query, ResponseCode::NoError),
        Lookup::NxDomain => reply(&query, ResponseCode::NXDomain),
    };
    if negative {
        r.authorities.extend(table.soa());
    }
    r.metadata.authoritative = true;
    Action::Reply(r)
}

/// A response to `query` with `rcode`, answering EDNS with ours when the
/// query had it.
fn reply(query: &Message, rcode: ResponseCode) -> Message {
    response_to(query, rcode, EDNS_LIMIT)
}

/// The largest UDP answer for `query`.
fn udp_limit(query: &Message) -> usize {
    edns_udp_size(query)
        .map(|s| usize::from(s.min(EDNS_LIMIT)))
        .unwrap_or(UDP_LIMIT)
        .max(UDP_LIMIT)
}

/// The bytes of `r`, cut to `limit`; a message that cannot be written at
/// all (never one of ours in practice) is logged and not sent.
fn encode(r: &Message, limit: usize) -> Option<Vec<u8>> {
    message::to_bytes(r, limit)
        .inspect_err(|e| tracing::warn!(error = %e, "cluster DNS: cannot write the answer"))
        .ok()
}

/// The nameservers of a resolv.conf text, port 53, minus `own` (forwarding
/// to ourselves would loop).
pub fn upstreams(resolv_conf: &str, own: Option<Ipv4Addr>) -> Vec<SocketAddr> {
    resolv_conf
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            (w.next() == Some("nameserver")).then(|| w.next()).flatten()
        })
        .filter_map(|ip| ip.parse::<IpAddr>().ok())
        .filter(|ip| Some(*ip) != own.map(IpAddr::V4))
        .map(|ip| SocketAddr::new(ip, PORT))
        .collect()
}

/// The running server's shared state.
struct Server {
    domain: String,
    table: RwLock<Option<Arc<Table>>>,
    upstreams: Vec<SocketAddr>,
}

impl Server {
    fn table(&self) -> Option<Arc<Table>> {
        match self.table.read() {
            Ok(t) => t.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn set_table(&self, t: Table) {
        let t = Some(Arc::new(t));
        match self.table.write() {
            Ok(mut g) => *g = t,
            Err(poisoned) => *poisoned.into_inner() = t,
        }
    }

    /// The answer's bytes for one message from a client (`None`: say
    /// nothing); `tcp` lifts the UDP size limit.
    async fn answer(&self, bytes: &[u8], tcp: bool) -> Option<Vec<u8>> {
        let table = self.table();
        match respond(table.as_deref(), &self.domain, bytes) {
            Action::Drop => None,
            Action::Reply(r) => {
                let limit = if tcp { 65_535 } else { udp_limit(&r) };
                encode(&r, limit)
            }
            Action::Forward(q) => match forward(&self.upstreams, bytes, q.metadata.id).await {
                Some(answer) => Some(answer),
                None => {
                    let r = reply(&q, ResponseCode::ServFail);
                    let limit = if tcp { 65_535 } else { udp_limit(&q) };
                    encode(&r, limit)
                }
            },
        }
    }
}

/// Relays `query` to each upstream in turn over UDP; the first answer with
/// the query's id, as it came.
async fn forward(upstreams: &[SocketAddr], query: &[u8], id: u16) -> Option<Vec<u8>> {
    for up in upstreams {
        let local: SocketAddr = if up.is_ipv4() {
            (Ipv4Addr::UNSPECIFIED, 0).into()
        } else {
            (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let attempt = async {
            let sock = UdpSocket::bind(local).await.ok()?;
            // Connected: an unreachable upstream fails at once (ICMP or
            // no route) instead of timing out, and only its answers come in.
            sock.connect(up).await.ok()?;
            sock.send(query).await.ok()?;
            let mut buf = vec![0u8; 65_535];
            loop {
                let n = sock.recv(&mut buf).await.ok()?;
                if n >= 2 && buf[..2] == id.to_be_bytes() {
                    buf.truncate(n);
                    return Some(buf);
                }
            }
        };
        match tokio::time::timeout(UPSTREAM_TIMEOUT, attempt).await {
            Ok(Some(answer)) => return Some(answer),
            Ok(None) | Err(_) => {
                tracing::debug!(upstream = %up, "upstream nameserver did not answer")
            }
        }
    }
    None
}

/// Checks that the server may listen in this network namespace.
pub fn check_netns(allow_root_netns: bool) -> Result<()> {
    let root = crate::network::forwarding::in_root_netns().map_err(Error::Netns)?;
    if root && !allow_root_netns {
        return Err(Error::RootNetns);
    }
    Ok(())
}

fn ip_cmd(args: &[&str]) -> Result<()> {
    let shown = format!("ip {}", args.join(" "));
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| Error::Ip {
            cmd: shown.clone(),
            reason: e.to_string(),
        })?;
    if !out.status.success() {
        return Err(Error::Ip {
            cmd: shown,
            reason: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(())
}

/// Puts `ip/32` on this namespace's `lo` (idempotent), so packets to it are
/// delivered locally.
pub fn ensure_address(ip: Ipv4Addr) -> Result<()> {
    ip_cmd(&["link", "set", "lo", "up"])?;
    ip_cmd(&["addr", "replace", &format!("{ip}/32"), "dev", "lo"])
}

async fn serve_udp(sock: Arc<UdpSocket>, server: Arc<Server>) {
    let mut buf = vec![0u8; 65_535];
    loop {
        let (n, peer) = match sock.recv_from(&mut buf).await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(error = %e, "cluster DNS: receiving failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let query = buf[..n].to_vec();
        let (sock, server) = (sock.clone(), server.clone());
        tokio::spawn(async move {
            if let Some(answer) = server.answer(&query, false).await {
                if let Err(e) = sock.send_to(&answer, peer).await {
                    tracing::debug!(error = %e, %peer, "cluster DNS: sending the answer failed");
                }
            }
        });
    }
}

async fn serve_tcp(listener: TcpListener, server: Arc<Server>) {
    loop {
        match listener.accept().await {
            Ok((conn, _)) => {
                tokio::spawn(tcp_conn(conn, server.clone()));
            }
            Err(e) => {
                tracing::warn!(error = %e, "cluster DNS: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Queries on one TCP connection: each a 2-byte length and the message.
async fn tcp_conn(mut conn: TcpStream, server: Arc<Server>) {
    loop {
        let mut len = [0u8; 2];
        match tokio::time::timeout(TCP_IDLE, conn.read_exact(&mut len)).await {
            Ok(Ok(_)) => {}
            _ => return,
        }
        let mut query = vec![0u8; usize::from(u16::from_be_bytes(len))];
        match tokio::time::timeout(TCP_IDLE, conn.read_exact(&mut query)).await {
            Ok(Ok(_)) => {}
            _ => return,
        }
        let Some(answer) = server.answer(&query, true).await else {
            return;
        };
        let Ok(n) = u16::try_from(answer.len()) else {
            return;
        };
        let mut out = n.to_be_bytes().to_vec();
        out.extend_from_slice(&answer);
        if conn.write_all(&out).await.is_err() {
            return;
        }
    }
}

fn build(domain: &str, services: &Store<Service>, slices: &Store<EndpointSlice>) -> Table {
    let svcs = services.state();
    let eps = slices.state();
    let svc_refs: Vec<&Service> = svcs.iter().map(Arc::as_ref).collect();
    let ep_refs: Vec<&EndpointSlice> = eps.iter().map(Arc::as_ref).collect();
    Table::build(domain, &svc_refs, &ep_refs)
}

/// Binds UDP and TCP on `addr`, retrying every few seconds (the address
/// may still be settling).
async fn bind(addr: SocketAddr) -> (UdpSocket, TcpListener) {
    loop {
        let udp = UdpSocket::bind(addr).await.map_err(|source| Error::Bind {
            proto: "udp",
            addr,
            source,
        });
        let tcp = TcpListener::bind(addr).await.map_err(|source| Error::Bind {
            proto: "tcp",
            addr,
            source,
        });
        match (udp, tcp) {
            (Ok(u), Ok(t)) => return (u, t),
            (Err(e), _) | (_, Err(e)) => {
                tracing::warn!(error = %e, "cluster DNS: cannot listen yet; retrying in 5 s");
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
        }
    }
}

/// Runs the cluster DNS server until the process ends. Returns at once
/// (after saying why in the log) when it is disabled, has no address, or may
/// not touch this network namespace.
pub async fn run(view: Arc<ServiceView>, cfg: DnsConfig) {
    if !cfg.enabled {
        tracing::info!("cluster DNS server disabled (clusterDNSServer: false)");
        return;
    }
    let Some(ip) = cfg.served_ip() else {
        tracing::info!(
            "cluster DNS server not started: no IPv4 clusterDNS address (or no clusterDomain)"
        );
        return;
    };
    let allow = cfg.allow_root_netns;
    let prepared = tokio::task::spawn_blocking(move || {
        check_netns(allow)?;
        ensure_address(ip)
    })
    .await;
    match prepared {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "cluster DNS server not started: pods' names will not resolve on this node");
            return;
        }
        Err(e) => {
            tracing::warn!(error = %e, "cluster DNS server not started");
            return;
        }
    }
    let resolv = std::fs::read_to_string(HOST_RESOLV_CONF).unwrap_or_default();
    let server = Arc::new(Server {
        domain: cfg.domain.clone(),
        table: RwLock::new(None),
        upstreams: upstreams(&resolv, Some(ip)),
    });
    let addr = SocketAddr::new(IpAddr::V4(ip), PORT);
    let (udp, tcp) = bind(addr).await;
    tracing::info!(%addr, domain = %cfg.domain, upstreams = ?server.upstreams, "serving cluster DNS (UDP and TCP)");
    tokio::spawn(serve_udp(Arc::new(udp), server.clone()));
    tokio::spawn(serve_tcp(tcp, server.clone()));

    let mut changes = view.changes();
    // Until both lists are in, names of the cluster get SERVFAIL, never a
    // wrong NXDOMAIN.
    if !view.ready().await {
        tracing::warn!("cluster DNS: the watches ended before their first list");
        return;
    }
    let t = build(&cfg.domain, &view.services, &view.slices);
    tracing::info!(
        names = t.len(),
        "cluster DNS: Services and EndpointSlices listed"
    );
    server.set_table(t);
    while changes.changed().await.is_ok() {
        tokio::time::sleep(DEBOUNCE).await;
        changes.borrow_and_update();
        server.set_table(build(&cfg.domain, &view.services, &view.slices));
    }
    tracing::warn!("cluster DNS: the watches ended; answering from the last table");
}

#[cfg(test)]
mod tests {
    use super::message::{name, query, to_bytes};
    use super::*;
    use hickory_proto::op::Edns;
    use hickory_proto::rr::rdata::A;
    use hickory_proto::rr::RData;
    use serde_json::json;

    fn table() -> Table {
        let web: Service = serde_json::from_value(json!({
            "metadata": {"namespace": "default", "name": "web"},
            "spec": {"clusterIP": "10.96.0.20", "ports": [{"name": "http", "port": 80}]}
        }))
        .unwrap();
        Table::build("cluster.local", &[&web], &[])
    }

    fn bytes(m: &Message) -> Vec<u8> {
        to_bytes(m, UDP_LIMIT).unwrap()
    }

    fn ask(table: Option<&Table>, n: &str, qtype: RecordType) -> Action {
        let q = query(7, name(n).unwrap(), qtype);
        respond(table, "cluster.local", &bytes(&q))
    }

    fn rcode(a: &Action) -> ResponseCode {
        match a {
            Action::Reply(r) => r.metadata.response_code,
            other => panic!("not a reply: {other:?}"),
        }
    }

    #[test]
    fn answers_cluster_names_authoritatively() {
        let t = table();
        let Action::Reply(r) = ask(Some(&t), "web.default.svc.cluster.local", RecordType::A) else {
            panic!()
        };
        let m = &r.metadata;
        assert!(m.message_type == MessageType::Response && m.authoritative && m.recursion_desired);
        assert_eq!(m.id, 7);
        assert_eq!(m.response_code, ResponseCode::NoError);
        assert_eq!(
            r.answers[0].data,
            RData::A(A("10.96.0.20".parse().unwrap()))
        );
        assert_eq!(r.answers[0].ttl, table::TTL);
        assert_eq!(
            r.queries[0].name(),
            &name("web.default.svc.cluster.local").unwrap()
        );
        // What goes on the wire reads back the same.
        assert_eq!(Message::from_vec(&bytes(&r)).unwrap(), r);

        let aaaa = ask(Some(&t), "web.default.svc.cluster.local", RecordType::AAAA);
        assert_eq!(rcode(&aaaa), ResponseCode::NoError);
        assert!(matches!(&aaaa, Action::Reply(r) if r.answers.is_empty()));
        // Negative answers carry the zone's SOA for negative caching.
        let soa_of = |a: &Action| match a {
            Action::Reply(r) => r.authorities.iter().find_map(|rec| match &rec.data {
                RData::SOA(soa) => Some((rec.name.to_ascii(), soa.minimum)),
                _ => None,
            }),
            _ => None,
        };
        assert_eq!(soa_of(&aaaa), Some(("cluster.local.".to_string(), 5)));
        let missing = ask(Some(&t), "nosuch.default.svc.cluster.local", RecordType::A);
        assert_eq!(soa_of(&missing), Some(("cluster.local.".to_string(), 5)));
        let apex = ask(Some(&t), "cluster.local", RecordType::SOA);
        assert!(
            matches!(&apex, Action::Reply(r) if matches!(r.answers.first().map(|a| &a.data), Some(RData::SOA(_)))),
            "{apex:?}"
        );
        assert_eq!(
            rcode(&ask(
                Some(&t),
                "nosuch.default.svc.cluster.local",
                RecordType::A
            )),
            ResponseCode::NXDomain
        );
        assert_eq!(
            rcode(&ask(
                Some(&t),
                "web.default.svc.cluster.local.default.svc.cluster.local",
                RecordType::A
            )),
            ResponseCode::NXDomain
        );
        // Before the first list: SERVFAIL, not a wrong NXDOMAIN.
        assert_eq!(
            rcode(&ask(None, "web.default.svc.cluster.local", RecordType::A)),
            ResponseCode::ServFail
        );
        // Reverse names of ClusterIPs.
        let Action::Reply(r) = ask(Some(&t), "20.0.96.10.in-addr.arpa", RecordType::PTR) else {
            panic!()
        };
        assert_eq!(r.answers.len(), 1);
        assert!(r.metadata.authoritative);
    }

    #[test]
    fn forwards_other_names() {
        let t = table();
        assert!(
            matches!(ask(Some(&t), "example.com", RecordType::A), Action::Forward(q) if q.metadata.id == 7)
        );
        assert!(matches!(
            ask(Some(&t), "web", RecordType::A),
            Action::Forward(_)
        ));
        assert!(matches!(
            ask(None, "example.com", RecordType::A),
            Action::Forward(_)
        ));
    }

    #[test]
    fn odd_queries() {
        let t = table();
        let web = || name("web.default.svc.cluster.local").unwrap();
        // Garbage with a header: FORMERR with its id; without: nothing.
        let mut junk = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0];
        let a = respond(Some(&t), "cluster.local", &junk);
        assert!(
            matches!(&a, Action::Reply(r) if r.metadata.id == 0x1234 && r.metadata.response_code == ResponseCode::FormErr && r.queries.is_empty())
        );
        junk.truncate(5);
        assert_eq!(respond(Some(&t), "cluster.local", &junk), Action::Drop);
        // A response is never answered (no loops between servers).
        let mut q = query(1, web(), RecordType::A);
        q.metadata.message_type = MessageType::Response;
        assert_eq!(respond(Some(&t), "cluster.local", &bytes(&q)), Action::Drop);
        // Other opcodes, other question counts, other classes.
        let mut q = query(1, web(), RecordType::A);
        q.metadata.op_code = OpCode::Status;
        assert_eq!(
            rcode(&respond(Some(&t), "cluster.local", &bytes(&q))),
            ResponseCode::NotImp
        );
        let mut q = query(1, web(), RecordType::A);
        q.queries.clear();
        assert_eq!(
            rcode(&respond(Some(&t), "cluster.local", &bytes(&q))),
            ResponseCode::FormErr
        );
        let mut q = query(1, web(), RecordType::A);
        q.queries.push(q.queries[0].clone());
        assert_eq!(
            rcode(&respond(Some(&t), "cluster.local", &bytes(&q))),
            ResponseCode::FormErr
        );
        let mut q = query(1, web(), RecordType::A);
        q.queries[0].set_query_class(DNSClass::CH);
        assert_eq!(
            rcode(&respond(Some(&t), "cluster.local", &bytes(&q))),
            ResponseCode::Refused
        );
        // EDNS is answered with ours, and sets the UDP limit.
        let mut q = query(9, web(), RecordType::A);
        let mut edns = Edns::new();
        edns.set_max_payload(4096);
        q.set_edns(edns);
        assert_eq!(udp_limit(&q), usize::from(EDNS_LIMIT));
        let Action::Reply(r) = respond(Some(&t), "cluster.local", &bytes(&q)) else {
            panic!()
        };
        assert_eq!(edns_udp_size(&r), Some(EDNS_LIMIT));
        assert_eq!(udp_limit(&r), usize::from(EDNS_LIMIT));
        let plain = query(9, web(), RecordType::A);
        assert_eq!(udp_limit(&plain), UDP_LIMIT);
    }

    #[test]
    fn never_panics_on_mutations() {
        // Every single-byte change and every truncation of a query with
        // EDNS, and of a response with compression, must come back as an
        // action (the server's whole policy runs on it), and every reply
        // must be writable.
        let t = table();
        let mut q = query(
            3,
            name("web.default.svc.cluster.local").unwrap(),
            RecordType::SRV,
        );
        q.set_edns(Edns::new());
        let Action::Reply(r) = respond(Some(&t), "cluster.local", &bytes(&q)) else {
            panic!()
        };
        let check = |b: &[u8]| {
            if let Action::Reply(r) = respond(Some(&t), "cluster.local", b) {
                assert!(to_bytes(&r, UDP_LIMIT).is_ok());
            }
        };
        for base in [bytes(&q), bytes(&r)] {
            for i in 0..base.len() {
                for v in [0u8, 1, 0x3f, 0x40, 0x80, 0xc0, 0xff] {
                    let mut b = base.clone();
                    b[i] = v;
                    check(&b);
                    check(&b[..i]);
                }
            }
        }
        // And some pseudo-random junk behind a query header.
        let mut x: u32 = 12345;
        for _ in 0..2000 {
            let len = (x % 80) as usize;
            let mut junk = vec![0, 1, 0, 0, 0, 1, 0, 1, 0, 0, 0, 1];
            junk.extend((0..len).map(|_| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                (x >> 16) as u8
            }));
            check(&junk);
        }
    }

    #[test]
    fn upstreams_from_resolv_conf() {
        let text = "# x\nsearch lan\nnameserver 10.255.255.53\nnameserver 10.96.0.10\nnameserver ::1\nnameserver bogus\noptions ndots:1\n";
        let ups = upstreams(text, Some("10.96.0.10".parse().unwrap()));
        assert_eq!(
            ups,
            [
                "10.255.255.53:53".parse().unwrap(),
                "[::1]:53".parse().unwrap()
            ]
        );
    }

    #[tokio::test]
    async fn serves_udp_and_tcp_and_servfails_without_upstream() {
        // A real round trip on loopback (port 0), with an upstream that
        // refuses: cluster names answer, others get SERVFAIL quickly.
        let server = Arc::new(Server {
            domain: "cluster.local".into(),
            table: RwLock::new(Some(Arc::new(table()))),
            upstreams: vec!["127.0.0.1:9".parse().unwrap()],
        });
        let udp = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
        let addr = udp.local_addr().unwrap();
        let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let taddr = tcp.local_addr().unwrap();
        tokio::spawn(serve_udp(udp, server.clone()));
        tokio::spawn(serve_tcp(tcp, server));

        let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        client.connect(addr).await.unwrap();
        let mut buf = vec![0u8; 4096];
        for (n, want) in [
            ("web.default.svc.cluster.local", ResponseCode::NoError),
            ("nosuch.default.svc.cluster.local", ResponseCode::NXDomain),
            ("example.com", ResponseCode::ServFail),
        ] {
            let q = query(42, name(n).unwrap(), RecordType::A);
            client.send(&bytes(&q)).await.unwrap();
            let len = tokio::time::timeout(Duration::from_secs(3), client.recv(&mut buf))
                .await
                .expect("an answer in time")
                .unwrap();
            let r = Message::from_vec(&buf[..len]).unwrap();
            assert_eq!((r.metadata.id, r.metadata.response_code), (42, want), "{n}");
        }

        let mut conn = TcpStream::connect(taddr).await.unwrap();
        let q = bytes(&query(
            43,
            name("web.default.svc.cluster.local").unwrap(),
            RecordType::A,
        ));
        let mut out = u16::try_from(q.len()).unwrap().to_be_bytes().to_vec();
        out.extend_from_slice(&q);
        conn.write_all(&out).await.unwrap();
        let mut len = [0u8; 2];
        conn.read_exact(&mut len).await.unwrap();
        let mut answer = vec![0u8; usize::from(u16::from_be_bytes(len))];
        conn.read_exact(&mut answer).await.unwrap();
        let r = Message::from_vec(&answer).unwrap();
        assert_eq!(r.metadata.id, 43);
        assert_eq!(r.answers.len(), 1);
    }

    #[test]
    fn refuses_the_root_netns_unless_allowed() {
        assert!(check_netns(true).is_ok());
        let root = crate::network::forwarding::in_root_netns().unwrap();
        assert_eq!(matches!(check_netns(false), Err(Error::RootNetns)), root);
    }
}
