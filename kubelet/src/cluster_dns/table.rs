//! The names the cluster DNS server answers for, computed from Services and
//! EndpointSlices: pure, rebuilt whole after every change and swapped in.
//!
//! ```text
//! <svc>.<ns>.svc.<domain>                A     the ClusterIP, or (headless) every ready endpoint IP
//! <host>.<svc>.<ns>.svc.<domain>         A     one headless endpoint: its `hostname`, else its IP with dashes
//! _<port>._<proto>.<svc>.<ns>.svc.<d>    SRV   a named port: ClusterIP -> <svc>...:port;
//!                                              headless -> one per endpoint, <host>.<svc>...:targetPort
//! <svc>.<ns>.svc.<domain>                SRV   all the named ports' SRV records together
//! <svc>.<ns>.svc.<domain>                CNAME an ExternalName Service's externalName
//! <a-b-c-d>.<ns>.pod.<domain>            A     a.b.c.d (any pod address, as CoreDNS' `pods insecure`)
//! <d.c.b.a>.in-addr.arpa                 PTR   a ClusterIP -> <svc>.<ns>.svc.<domain>;
//!                                              a headless endpoint -> <host>.<svc>.<ns>.svc.<domain>
//! ```
//!
//! Every proper suffix of those names down to the domain (`<ns>.svc.<d>`,
//! `svc.<d>`, `<d>`) exists without records: NOERROR with no answers, as
//! for a known name asked with another type (AAAA: the cluster is IPv4
//! only). Any other name inside the domain does not exist (NXDOMAIN);
//! names outside it are not ours ([`Lookup::NotOurs`]: the server forwards
//! them), but for the reverse names of the table's addresses.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::net::Ipv4Addr;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;

use hickory_proto::rr::rdata::{A, CNAME, PTR, SOA, SRV};
use hickory_proto::rr::{Name, RData, Record, RecordType};

use super::message::{self, key};
use crate::proxy::rules::SERVICE_NAME_LABEL;

/// The TTL of every answer: short, since Services and endpoints change
/// (CoreDNS' kubernetes plugin uses the same 5 s).
pub const TTL: u32 = 5;

/// What one name has.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Entry {
    a: BTreeSet<Ipv4Addr>,
    /// (port, target name): priority 0, weights equal.
    srv: BTreeSet<(u16, String)>,
    /// An ExternalName Service's target.
    cname: Option<String>,
}

/// The answer to one question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// The records (answer section) and the A records of SRV targets
    /// (additional section).
    Found {
        /// Answers, owned by the name as asked.
        answers: Vec<Record>,
        /// Glue for SRV targets.
        additionals: Vec<Record>,
    },
    /// The name exists but has no record of that type.
    NoData,
    /// The name is inside the cluster domain and does not exist.
    NxDomain,
    /// The name is outside the cluster domain.
    NotOurs,
}

/// All the names of the cluster domain.
#[derive(Debug, Clone, Default)]
pub struct Table {
    domain: String,
    entries: HashMap<String, Entry>,
    /// Every name with records and every suffix of one inside the domain.
    names: HashSet<String>,
    /// Reverse names (`4.3.2.1.in-addr.arpa`) of the table's addresses.
    ptr: HashMap<String, BTreeSet<String>>,
    /// The zone's serial: when the table was built (Unix seconds), so a
    /// resolver can tell that the zone changed, as CoreDNS does.
    serial: u32,
}

impl Table {
    /// The SOA record of the cluster domain, with CoreDNS's values: `ns.dns`
    /// and `hostmaster` in the zone, refresh 7200, retry 1800, expire 86400,
    /// and the record TTL as the negative-caching time, so a resolver keeps
    /// an NXDOMAIN no longer than a positive answer. It goes in the
    /// authority section of NXDOMAIN and NODATA answers (RFC 2308) and
    /// answers an SOA query for the zone apex.
    pub fn soa(&self) -> Option<Record> {
        let zone = Name::from_ascii(format!("{}.", self.domain)).ok()?;
        let mname = Name::from_ascii(format!("ns.dns.{}.", self.domain)).ok()?;
        let rname = Name::from_ascii(format!("hostmaster.{}.", self.domain)).ok()?;
        let soa = SOA::new(mname, rname, self.serial, 7200, 1800, 86400, TTL);
        Some(Record::from_rdata(zone, TTL, RData::SOA(soa)))
    }

    /// Whether `name` is the zone apex (`cluster.local.`).
    pub fn is_apex(&self, name: &Name) -> bool {
        name.to_ascii()
            .trim_end_matches('.')
            .eq_ignore_ascii_case(&self.domain)
    }
}

/// The reverse name of an IPv4 address.
fn reverse_name(ip: Ipv4Addr) -> String {
    let [a, b, c, d] = ip.octets();
    format!("{d}.{c}.{b}.{a}.in-addr.arpa")
}

/// The address of a pod name `a-b-c-d.<ns>.pod.<domain>`.
fn pod_address(key: &str, domain: &str) -> Option<Ipv4Addr> {
    let head = key.strip_suffix(domain)?.strip_suffix(".pod.")?;
    let (ip, ns) = head.split_once('.')?;
    if ns.contains('.') || !is_label(ns) {
        return None;
    }
    ip.replace('-', ".").parse().ok()
}

fn proto(p: Option<&str>) -> Option<&'static str> {
    match p.unwrap_or("TCP") {
        "TCP" => Some("tcp"),
        "UDP" => Some("udp"),
        "SCTP" => Some("sctp"),
        _ => None,
    }
}

/// A ready endpoint of a headless Service.
struct Endpoint {
    ip: Ipv4Addr,
    host: String,
    /// (port name, protocol) -> the port on the pod.
    ports: BTreeMap<(String, &'static str), u16>,
}

fn ready_endpoints(slices: &[&EndpointSlice]) -> Vec<Endpoint> {
    let mut out: Vec<Endpoint> = Vec::new();
    for s in slices {
        if s.address_type != "IPv4" {
            continue;
        }
        let ports: BTreeMap<(String, &'static str), u16> = s
            .ports
            .iter()
            .flatten()
            .filter_map(|p| {
                let n = u16::try_from(p.port?).ok().filter(|n| *n != 0)?;
                Some((
                    (
                        p.name.clone().unwrap_or_default(),
                        proto(p.protocol.as_deref())?,
                    ),
                    n,
                ))
            })
            .collect();
        for ep in s.endpoints.iter().flatten() {
            // An unset `ready` means "unknown", which consumers treat as ready.
            if !ep.conditions.as_ref().and_then(|c| c.ready).unwrap_or(true) {
                continue;
            }
            let Some(ip) = ep
                .addresses
                .first()
                .and_then(|a| a.parse::<Ipv4Addr>().ok())
            else {
                continue;
            };
            let host = ep
                .hostname
                .clone()
                .filter(|h| is_label(h))
                .unwrap_or_else(|| ip.to_string().replace('.', "-"));
            match out.iter_mut().find(|e| e.ip == ip) {
                Some(e) => e.ports.extend(ports.clone()),
                None => out.push(Endpoint {
                    ip,
                    host,
                    ports: ports.clone(),
                }),
            }
        }
    }
    out.sort_by_key(|e| e.ip);
    out
}

/// A name Kubernetes would accept as one DNS label.
fn is_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

impl Table {
    /// The table for `domain` (`cluster.local`) from the objects.
    pub fn build(domain: &str, services: &[&Service], slices: &[&EndpointSlice]) -> Table {
        let domain = domain.trim_matches('.').to_ascii_lowercase();
        let mut by_service: BTreeMap<(&str, &str), Vec<&EndpointSlice>> = BTreeMap::new();
        for s in slices {
            if let Some(svc) = s
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(SERVICE_NAME_LABEL))
            {
                let ns = s.metadata.namespace.as_deref().unwrap_or("default");
                by_service.entry((ns, svc.as_str())).or_default().push(s);
            }
        }
        let serial = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX));
        let mut t = Table {
            domain,
            serial,
            ..Table::default()
        };
        for svc in services {
            let (Some(name), Some(spec)) = (svc.metadata.name.as_deref(), svc.spec.as_ref()) else {
                continue;
            };
            let ns = svc.metadata.namespace.as_deref().unwrap_or("default");
            if !is_label(name) || !is_label(ns) {
                continue;
            }
            let fqdn = format!("{name}.{ns}.svc.{}", t.domain);
            if spec.type_.as_deref() == Some("ExternalName") {
                if let Some(target) = spec.external_name.as_deref().filter(|n| !n.is_empty()) {
                    t.entry(&fqdn).cname = Some(target.trim_end_matches('.').to_ascii_lowercase());
                }
                continue;
            }
            let named_ports: Vec<(String, &'static str, u16)> = spec
                .ports
                .iter()
                .flatten()
                .filter_map(|p| {
                    let pname = p.name.clone().filter(|n| is_label(n))?;
                    let port = u16::try_from(p.port).ok()?;
                    Some((pname, proto(p.protocol.as_deref())?, port))
                })
                .collect();
            match spec.cluster_ip.as_deref() {
                Some("None") => {
                    let slices = by_service
                        .get(&(ns, name))
                        .map(Vec::as_slice)
                        .unwrap_or_default();
                    let eps = ready_endpoints(slices);
                    t.entry(&fqdn); // exists even with no ready endpoint
                    for ep in &eps {
                        let host = format!("{}.{fqdn}", ep.host);
                        t.entry(&fqdn).a.insert(ep.ip);
                        t.entry(&host).a.insert(ep.ip);
                        t.ptr
                            .entry(reverse_name(ep.ip))
                            .or_default()
                            .insert(host.clone());
                        for (pname, p, _) in &named_ports {
                            if let Some(target) = ep.ports.get(&(pname.clone(), *p)) {
                                let srv = format!("_{pname}._{p}.{fqdn}");
                                t.entry(&srv).srv.insert((*target, host.clone()));
                                t.entry(&fqdn).srv.insert((*target, host.clone()));
                            }
                        }
                    }
                }
                Some(ip) => {
                    let Ok(ip) = ip.parse::<Ipv4Addr>() else {
                        continue; // not allocated yet, or IPv6
                    };
                    t.entry(&fqdn).a.insert(ip);
                    t.ptr
                        .entry(reverse_name(ip))
                        .or_default()
                        .insert(fqdn.clone());
                    for (pname, p, port) in &named_ports {
                        let srv = format!("_{pname}._{p}.{fqdn}");
                        t.entry(&srv).srv.insert((*port, fqdn.clone()));
                        t.entry(&fqdn).srv.insert((*port, fqdn.clone()));
                    }
                }
                None => continue,
            }
        }
        let names: Vec<String> = t.entries.keys().cloned().collect();
        for n in names {
            let mut rest = n.as_str();
            loop {
                t.names.insert(rest.to_string());
                if rest == t.domain {
                    break;
                }
                match rest.split_once('.') {
                    Some((_, r)) => rest = r,
                    None => break,
                }
            }
        }
        t.names.insert(t.domain.clone());
        t
    }

    fn entry(&mut self, name: &str) -> &mut Entry {
        self.entries.entry(name.to_string()).or_default()
    }

    /// The cluster domain, lower-cased.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// Whether `name` is the cluster domain or below it.
    pub fn in_domain(&self, name: &Name) -> bool {
        in_domain(&self.domain, name)
    }

    /// The answer for `name` and `qtype`.
    pub fn lookup(&self, name: &Name, qtype: RecordType) -> Lookup {
        if !self.in_domain(name) {
            return Lookup::NotOurs;
        }
        let key = key(name);
        let Some(entry) = self.entries.get(&key) else {
            if let Some(ip) = pod_address(&key, &self.domain) {
                if qtype == RecordType::A || qtype == RecordType::ANY {
                    return Lookup::Found {
                        answers: vec![a_record(name, ip)],
                        additionals: Vec::new(),
                    };
                }
                return Lookup::NoData;
            }
            return if self.names.contains(&key) {
                Lookup::NoData
            } else {
                Lookup::NxDomain
            };
        };
        let mut answers = Vec::new();
        let mut additionals = Vec::new();
        // A CNAME answers every type; its target's records follow when the
        // target is ours.
        if let Some(target) = &entry.cname {
            let Ok(t) = message::name(target) else {
                return Lookup::NoData;
            };
            answers.push(Record::from_rdata(
                name.clone(),
                TTL,
                RData::CNAME(CNAME(t.clone())),
            ));
            if qtype != RecordType::CNAME {
                if let Lookup::Found { answers: more, .. } = self.lookup(&t, qtype) {
                    answers.extend(more);
                }
            }
            return Lookup::Found {
                answers,
                additionals,
            };
        }
        if qtype == RecordType::A || qtype == RecordType::ANY {
            answers.extend(entry.a.iter().map(|ip| a_record(name, *ip)));
        }
        if qtype == RecordType::SRV || qtype == RecordType::ANY {
            let weight = u16::try_from(100 / entry.srv.len().max(1))
                .unwrap_or(1)
                .max(1);
            let mut glue = BTreeSet::new();
            for (port, target) in &entry.srv {
                let Ok(t) = message::name(target) else {
                    continue;
                };
                answers.push(Record::from_rdata(
                    name.clone(),
                    TTL,
                    RData::SRV(SRV::new(0, weight, *port, t.clone())),
                ));
                if glue.insert(target.clone()) {
                    if let Some(e) = self.entries.get(target) {
                        additionals.extend(e.a.iter().map(|ip| a_record(&t, *ip)));
                    }
                }
            }
        }
        if answers.is_empty() {
            return Lookup::NoData;
        }
        Lookup::Found {
            answers,
            additionals,
        }
    }

    /// The answer for a reverse name of one of the table's addresses;
    /// `None` for any other name (not ours to answer).
    pub fn reverse(&self, name: &Name, qtype: RecordType) -> Option<Lookup> {
        let targets = self.ptr.get(&key(name))?;
        if qtype != RecordType::PTR && qtype != RecordType::ANY {
            return Some(Lookup::NoData);
        }
        let answers = targets
            .iter()
            .filter_map(|t| message::name(t).ok())
            .map(|t| Record::from_rdata(name.clone(), TTL, RData::PTR(PTR(t))))
            .collect();
        Some(Lookup::Found {
            answers,
            additionals: Vec::new(),
        })
    }

    /// How many names have records (for the log).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no name has records.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// An `IN A` record of `name` with our TTL.
fn a_record(name: &Name, ip: Ipv4Addr) -> Record {
    Record::from_rdata(name.clone(), TTL, RData::A(A(ip)))
}

/// Whether `name` is `domain` or below it (`domain` lower-cased, no dots
/// around it).
pub fn in_domain(domain: &str, name: &Name) -> bool {
    let key = key(name);
    key == domain
        || key
            .strip_suffix(domain)
            .is_some_and(|head| head.ends_with('.'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn svc(ns: &str, name: &str, ip: &str, ports: serde_json::Value) -> Service {
        serde_json::from_value(json!({
            "metadata": {"namespace": ns, "name": name},
            "spec": {"clusterIP": ip, "ports": ports}
        }))
        .unwrap()
    }

    fn slice(
        ns: &str,
        svc: &str,
        eps: serde_json::Value,
        ports: serde_json::Value,
    ) -> EndpointSlice {
        serde_json::from_value(json!({
            "metadata": {"namespace": ns, "name": format!("{svc}-abc"),
                         "labels": {"kubernetes.io/service-name": svc}},
            "addressType": "IPv4",
            "endpoints": eps,
            "ports": ports
        }))
        .unwrap()
    }

    fn table() -> Table {
        let services = [
            svc(
                "default",
                "web",
                "10.96.0.20",
                json!([{"name": "http", "port": 80}]),
            ),
            svc(
                "default",
                "kubernetes",
                "10.96.0.1",
                json!([{"name": "https", "port": 443}]),
            ),
            svc(
                "default",
                "db",
                "None",
                json!([{"name": "pg", "port": 5432}]),
            ),
            svc("default", "empty", "None", json!([{"port": 1}])),
            svc(
                "other",
                "web",
                "10.96.0.30",
                json!([{"port": 80, "protocol": "UDP", "name": "dns"}]),
            ),
        ];
        let ext: Service = serde_json::from_value(json!({
            "metadata": {"namespace": "default", "name": "ext"},
            "spec": {"type": "ExternalName", "externalName": "example.com"}
        }))
        .unwrap();
        let slices = [slice(
            "default",
            "db",
            json!([
                {"addresses": ["10.244.1.5"], "conditions": {"ready": true}, "hostname": "db-0"},
                {"addresses": ["10.244.2.7"]},
                {"addresses": ["10.244.2.9"], "conditions": {"ready": false}}
            ]),
            json!([{"name": "pg", "port": 15432, "protocol": "TCP"}]),
        )];
        let mut refs: Vec<&Service> = services.iter().collect();
        refs.push(&ext);
        Table::build("cluster.local.", &refs, &slices.iter().collect::<Vec<_>>())
    }

    fn n(s: &str) -> Name {
        message::name(s).unwrap()
    }

    fn a_of(l: &Lookup) -> Vec<String> {
        match l {
            Lookup::Found { answers, .. } => answers
                .iter()
                .filter_map(|r| match &r.data {
                    RData::A(A(ip)) => Some(ip.to_string()),
                    _ => None,
                })
                .collect(),
            other => panic!("no answers: {other:?}"),
        }
    }

    #[test]
    fn cluster_ip_services_resolve_to_their_cluster_ip() {
        let t = table();
        assert_eq!(
            a_of(&t.lookup(&n("web.default.svc.cluster.local"), RecordType::A)),
            ["10.96.0.20"]
        );
        assert_eq!(
            a_of(&t.lookup(&n("WEB.Default.SVC.cluster.local."), RecordType::A)),
            ["10.96.0.20"]
        );
        assert_eq!(
            a_of(&t.lookup(&n("web.other.svc.cluster.local"), RecordType::A)),
            ["10.96.0.30"]
        );
        assert_eq!(
            a_of(&t.lookup(&n("kubernetes.default.svc.cluster.local"), RecordType::A)),
            ["10.96.0.1"]
        );
        // The owner is the name as asked.
        let Lookup::Found { answers, .. } =
            t.lookup(&n("WEB.default.svc.cluster.local"), RecordType::A)
        else {
            panic!()
        };
        assert_eq!(answers[0].name.iter().next(), Some(&b"WEB"[..]));
        assert_eq!(answers[0].ttl, TTL);
    }

    #[test]
    fn headless_services_resolve_to_ready_endpoints() {
        let t = table();
        assert_eq!(
            a_of(&t.lookup(&n("db.default.svc.cluster.local"), RecordType::A)),
            ["10.244.1.5", "10.244.2.7"]
        );
        assert_eq!(
            a_of(&t.lookup(&n("db-0.db.default.svc.cluster.local"), RecordType::A)),
            ["10.244.1.5"]
        );
        assert_eq!(
            a_of(&t.lookup(&n("10-244-2-7.db.default.svc.cluster.local"), RecordType::A)),
            ["10.244.2.7"]
        );
        assert_eq!(
            t.lookup(&n("10-244-2-9.db.default.svc.cluster.local"), RecordType::A),
            Lookup::NxDomain
        );
        // A headless Service without ready endpoints exists, with no address.
        assert_eq!(
            t.lookup(&n("empty.default.svc.cluster.local"), RecordType::A),
            Lookup::NoData
        );
    }

    #[test]
    fn srv_for_named_ports() {
        let t = table();
        let Lookup::Found {
            answers,
            additionals,
        } = t.lookup(
            &n("_http._tcp.web.default.svc.cluster.local"),
            RecordType::SRV,
        )
        else {
            panic!()
        };
        assert_eq!(answers.len(), 1);
        assert_eq!(
            answers[0].data,
            RData::SRV(SRV::new(0, 100, 80, n("web.default.svc.cluster.local")))
        );
        assert_eq!(
            additionals,
            [a_record(
                &n("web.default.svc.cluster.local"),
                "10.96.0.20".parse().unwrap()
            )]
        );
        assert_eq!(additionals[0].ttl, TTL);
        let Lookup::Found {
            answers,
            additionals,
        } = t.lookup(&n("_pg._tcp.db.default.svc.cluster.local"), RecordType::SRV)
        else {
            panic!()
        };
        let ports: Vec<_> = answers
            .iter()
            .map(|r| match &r.data {
                RData::SRV(s) => (s.port, key(&s.target), s.weight),
                _ => panic!(),
            })
            .collect();
        assert_eq!(
            ports,
            [
                (
                    15432,
                    "10-244-2-7.db.default.svc.cluster.local".to_string(),
                    50
                ),
                (15432, "db-0.db.default.svc.cluster.local".to_string(), 50)
            ]
        );
        assert_eq!(additionals.len(), 2);
        assert!(matches!(
            t.lookup(&n("_dns._udp.web.other.svc.cluster.local"), RecordType::ANY),
            Lookup::Found { .. }
        ));
        assert_eq!(
            t.lookup(&n("_dns._tcp.web.other.svc.cluster.local"), RecordType::SRV),
            Lookup::NxDomain
        );
        // A, SRV of the service name itself.
        assert!(matches!(
            t.lookup(&n("web.default.svc.cluster.local"), RecordType::SRV),
            Lookup::Found { .. }
        ));
    }

    #[test]
    fn nodata_nxdomain_and_foreign_names() {
        let t = table();
        assert_eq!(
            t.lookup(&n("web.default.svc.cluster.local"), RecordType::AAAA),
            Lookup::NoData
        );
        for existing in [
            "default.svc.cluster.local",
            "svc.cluster.local",
            "cluster.local",
            "_tcp.web.default.svc.cluster.local",
        ] {
            assert_eq!(
                t.lookup(&n(existing), RecordType::A),
                Lookup::NoData,
                "{existing}"
            );
        }
        for missing in [
            "nosuch.default.svc.cluster.local",
            "web.nosuch.svc.cluster.local",
            "web.default.svc.cluster.local.default.svc.cluster.local",
            "x.cluster.local",
            "10-244-1-5.a.b.pod.cluster.local",
        ] {
            assert_eq!(
                t.lookup(&n(missing), RecordType::A),
                Lookup::NxDomain,
                "{missing}"
            );
        }
        for foreign in ["example.com", "local", "notcluster.local", "web"] {
            assert_eq!(
                t.lookup(&n(foreign), RecordType::A),
                Lookup::NotOurs,
                "{foreign}"
            );
        }
        assert!(Table::default().is_empty() && !t.is_empty());
    }

    #[test]
    fn external_names_pods_and_reverse_names() {
        let t = table();
        // ExternalName: a CNAME, whatever is asked.
        for qtype in [RecordType::A, RecordType::CNAME, RecordType::AAAA] {
            let Lookup::Found { answers, .. } =
                t.lookup(&n("ext.default.svc.cluster.local"), qtype)
            else {
                panic!("ext answers {qtype}")
            };
            assert_eq!(answers.len(), 1);
            assert_eq!(answers[0].record_type(), RecordType::CNAME);
            assert_eq!(answers[0].data, RData::CNAME(CNAME(n("example.com"))));
        }
        // Pod names: any address, as CoreDNS' `pods insecure`.
        assert_eq!(
            a_of(&t.lookup(&n("10-244-1-5.default.pod.cluster.local"), RecordType::A)),
            ["10.244.1.5"]
        );
        // Reverse names of ClusterIPs and headless endpoints; others are
        // not ours.
        let ptr = |name: &str| match t.reverse(&n(name), RecordType::PTR) {
            Some(Lookup::Found { answers, .. }) => answers
                .iter()
                .map(|r| match &r.data {
                    RData::PTR(PTR(t)) => key(t),
                    other => panic!("{other:?}"),
                })
                .collect::<Vec<_>>(),
            other => panic!("{name}: {other:?}"),
        };
        assert_eq!(
            ptr("20.0.96.10.in-addr.arpa"),
            ["web.default.svc.cluster.local"]
        );
        assert_eq!(
            ptr("5.1.244.10.in-addr.arpa"),
            ["db-0.db.default.svc.cluster.local"]
        );
        assert_eq!(t.reverse(&n("9.9.9.9.in-addr.arpa"), RecordType::PTR), None);
        assert_eq!(
            t.reverse(&n("20.0.96.10.in-addr.arpa"), RecordType::A),
            Some(Lookup::NoData)
        );
    }
}
