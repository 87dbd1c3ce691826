//! A pod's `/etc/resolv.conf` (and its sibling `/etc/hosts`), written the
//! way the upstream kubelet (and the CRI runtime that formats its DNS
//! config) writes them. This only writes the files that point a pod's
//! resolver somewhere; the DNS server they name for `ClusterFirst` is
//! [`crate::cluster_dns`].
//!
//! The kubelet writes both files into the sandbox directory once the pod IP
//! is known; the runtime bind-mounts them into every container of the pod,
//! so all containers see the same names.
//!
//! * hosts: a fixed header and localhost/IPv6 lines, then the pod's own name:
//!   `<ip>\t<hostname>`, or with `spec.subdomain` the FQDN
//!   `<ip>\t<hostname>.<subdomain>.<ns>.svc.<domain>\t<hostname>`, then the
//!   `spec.hostAliases`.
//! * resolv.conf, from `spec.dnsPolicy`:
//!   - `ClusterFirst` (the default): the cluster DNS servers only, the search
//!     path `<ns>.svc.<d> svc.<d> <d>` followed by the host's, `ndots:5`.
//!     Without a configured cluster DNS it falls back to `Default`, as
//!     upstream does (which also emits a `MissingClusterDNS` event).
//!     `ClusterFirst` on a hostNetwork pod also means `Default`.
//!   - `ClusterFirstWithHostNet`: `ClusterFirst`, also for hostNetwork pods.
//!   - `Default`: the node's resolver configuration (`/etc/resolv.conf`).
//!   - `None`: nothing but `spec.dnsConfig`.
//!
//!   `spec.dnsConfig` is then merged in (nameservers and searches appended
//!   without duplicates, options overriding by name), and the result cut to
//!   the resolver's limits (3 nameservers, 32 search domains of 2048
//!   characters in total).

use k8s_openapi::api::core::v1::{Pod, PodDNSConfig};

/// Where the node's resolver configuration is read from for `Default`.
pub const HOST_RESOLV_CONF: &str = "/etc/resolv.conf";

/// glibc's limits, which upstream enforces for the same reason: entries past
/// them are silently ignored by the resolver.
const MAX_NAMESERVERS: usize = 3;
const MAX_SEARCHES: usize = 32;
const MAX_SEARCH_CHARS: usize = 2048;

/// A hostname is a DNS label: at most 63 characters.
const MAX_HOSTNAME: usize = 63;

/// The pod's `/etc/hosts`.
pub fn hosts_file(pod: &Pod, ip: &str, cluster_domain: &str) -> String {
    let spec = pod.spec.clone().unwrap_or_default();
    if spec.host_network.unwrap_or(false) {
        return container_runtime::sandbox::host_network_hosts_file(&host_aliases(&spec));
    }
    let (hostname, domain) = hostname_and_domain(pod, cluster_domain);
    let mut out = String::from("# Kubernetes-managed hosts file.\n");
    out.push_str("127.0.0.1\tlocalhost\n");
    out.push_str("::1\tlocalhost ip6-localhost ip6-loopback\n");
    out.push_str("fe00::0\tip6-localnet\n");
    out.push_str("fe00::0\tip6-mcastprefix\n");
    out.push_str("fe00::1\tip6-allnodes\n");
    out.push_str("fe00::2\tip6-allrouters\n");
    if !ip.is_empty() {
        match domain {
            Some(d) => out.push_str(&format!("{ip}\t{hostname}.{d}\t{hostname}\n")),
            None => out.push_str(&format!("{ip}\t{hostname}\n")),
        }
    }
    out.push_str(&host_aliases(&spec));
    out
}

/// The HostAliases section of a pod's hosts file (empty without aliases).
fn host_aliases(spec: &k8s_openapi::api::core::v1::PodSpec) -> String {
    let mut out = String::new();
    let aliases = spec.host_aliases.clone().unwrap_or_default();
    if !aliases.is_empty() {
        out.push_str("\n# Entries added by HostAliases.\n");
        for a in aliases {
            let names = a.hostnames.unwrap_or_default();
            out.push_str(&format!("{}\t{}\n", a.ip, names.join("\t")));
        }
    }
    out
}

/// The pod's hostname and, with `spec.subdomain`, its domain
/// (`<subdomain>.<ns>.svc.<cluster domain>`).
pub fn hostname_and_domain(pod: &Pod, cluster_domain: &str) -> (String, Option<String>) {
    let spec = pod.spec.as_ref();
    let name = pod.metadata.name.clone().unwrap_or_default();
    let hostname = spec
        .and_then(|s| s.hostname.clone())
        .filter(|h| !h.is_empty())
        .unwrap_or(name);
    let hostname = truncate_hostname(&hostname);
    let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
    let domain = spec
        .and_then(|s| s.subdomain.as_deref())
        .filter(|s| !s.is_empty())
        .map(|sub| {
            if cluster_domain.is_empty() {
                format!("{sub}.{ns}.svc")
            } else {
                format!("{sub}.{ns}.svc.{cluster_domain}")
            }
        });
    (hostname, domain)
}

/// Long pod names are cut to a valid label, without a trailing `-` or `.`.
fn truncate_hostname(h: &str) -> String {
    if h.len() <= MAX_HOSTNAME {
        return h.to_string();
    }
    let mut end = MAX_HOSTNAME;
    while !h.is_char_boundary(end) {
        end -= 1;
    }
    h[..end].trim_end_matches(['-', '.']).to_string()
}

/// The pod's `/etc/resolv.conf`, with the node's resolver configuration read
/// from [`HOST_RESOLV_CONF`].
pub fn resolv_conf(pod: &Pod, cluster_dns: &[String], cluster_domain: &str) -> String {
    // A node without /etc/resolv.conf is a legal (if odd) setup: pods then
    // get no host nameservers, like a resolver with an empty file.
    let host = std::fs::read_to_string(HOST_RESOLV_CONF).unwrap_or_default();
    resolv_conf_with_host(pod, cluster_dns, cluster_domain, &host)
}

/// [`resolv_conf`] with the node's resolver configuration given as text.
pub fn resolv_conf_with_host(
    pod: &Pod,
    cluster_dns: &[String],
    cluster_domain: &str,
    host_resolv: &str,
) -> String {
    let spec = pod.spec.clone().unwrap_or_default();
    let host_network = spec.host_network.unwrap_or(false);
    let host = DnsConfig::parse(host_resolv);
    let mut cfg = match spec.dns_policy.as_deref().unwrap_or("ClusterFirst") {
        "None" => DnsConfig::default(),
        "Default" => host,
        "ClusterFirst" if host_network => host,
        // ClusterFirst, ClusterFirstWithHostNet and (as upstream does for an
        // invalid policy that got past validation) anything else.
        _ if cluster_dns.is_empty() => {
            tracing::warn!(
                pod = pod.metadata.name.as_deref().unwrap_or(""),
                "no cluster DNS configured: the pod gets the node's resolver configuration (dnsPolicy Default)"
            );
            host
        }
        _ => {
            let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
            let searches = if cluster_domain.is_empty() {
                host.searches
            } else {
                let mut s = vec![
                    format!("{ns}.svc.{cluster_domain}"),
                    format!("svc.{cluster_domain}"),
                    cluster_domain.to_string(),
                ];
                s.extend(host.searches);
                dedup(s)
            };
            DnsConfig {
                nameservers: cluster_dns.to_vec(),
                searches,
                options: vec!["ndots:5".into()],
            }
        }
    };
    if let Some(extra) = &spec.dns_config {
        cfg.merge(extra);
    }
    cfg.fit_limits();
    cfg.render()
}

/// Nameservers, search domains and options: what both a resolv.conf and a
/// pod's `dnsConfig` carry.
#[derive(Debug, Default, Clone, PartialEq)]
struct DnsConfig {
    nameservers: Vec<String>,
    searches: Vec<String>,
    options: Vec<String>,
}

impl DnsConfig {
    /// Reads a resolv.conf: every `nameserver`, the last `search` line (as
    /// the resolver does; trailing dots dropped so `a.` and `a` count once),
    /// and `options`, a later option replacing an earlier one of the same
    /// name.
    fn parse(text: &str) -> DnsConfig {
        let mut c = DnsConfig::default();
        for line in text.lines() {
            let line = line.trim();
            if line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            let mut fields = line.split_whitespace();
            match fields.next() {
                Some("nameserver") => {
                    if let Some(ns) = fields.next() {
                        c.nameservers.push(ns.to_string());
                    }
                }
                Some("search") => {
                    c.searches = fields
                        .filter(|s| *s != ".")
                        .map(|s| s.trim_end_matches('.').to_string())
                        .collect();
                }
                Some("options") => {
                    for o in fields {
                        set_option(&mut c.options, o.to_string());
                    }
                }
                _ => {}
            }
        }
        c
    }

    /// Merges a pod's `spec.dnsConfig`.
    fn merge(&mut self, extra: &PodDNSConfig) {
        self.nameservers
            .extend(extra.nameservers.iter().flatten().cloned());
        self.nameservers = dedup(std::mem::take(&mut self.nameservers));
        self.searches
            .extend(extra.searches.iter().flatten().cloned());
        self.searches = dedup(std::mem::take(&mut self.searches));
        for o in extra.options.iter().flatten() {
            let Some(name) = o.name.as_deref().filter(|n| !n.is_empty()) else {
                continue;
            };
            let opt = match o.value.as_deref() {
                Some(v) if !v.is_empty() => format!("{name}:{v}"),
                _ => name.to_string(),
            };
            set_option(&mut self.options, opt);
        }
    }

    fn fit_limits(&mut self) {
        if self.nameservers.len() > MAX_NAMESERVERS {
            tracing::warn!(dropped = ?&self.nameservers[MAX_NAMESERVERS..], "too many nameservers: some were omitted");
            self.nameservers.truncate(MAX_NAMESERVERS);
        }
        if self.searches.len() > MAX_SEARCHES {
            self.searches.truncate(MAX_SEARCHES);
        }
        while !self.searches.is_empty() && self.searches.join(" ").len() > MAX_SEARCH_CHARS {
            self.searches.pop();
        }
    }

    /// The file, in the order CRI runtimes write it.
    fn render(&self) -> String {
        let mut out = String::new();
        if !self.searches.is_empty() {
            out.push_str(&format!("search {}\n", self.searches.join(" ")));
        }
        for ns in &self.nameservers {
            out.push_str(&format!("nameserver {ns}\n"));
        }
        if !self.options.is_empty() {
            out.push_str(&format!("options {}\n", self.options.join(" ")));
        }
        out
    }
}

fn option_name(o: &str) -> &str {
    o.split_once(':').map(|(n, _)| n).unwrap_or(o)
}

/// Replaces an option of the same name in place (keeping the order stable,
/// so the file does not change between syncs), or appends it.
fn set_option(options: &mut Vec<String>, opt: String) {
    match options
        .iter_mut()
        .find(|o| option_name(o) == option_name(&opt))
    {
        Some(existing) => *existing = opt,
        None => options.push(opt),
    }
}

fn dedup(v: Vec<String>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    v.into_iter().filter(|s| seen.insert(s.clone())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{HostAlias, PodDNSConfigOption, PodSpec};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn pod(name: &str, spec: PodSpec) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("shop".into()),
                ..Default::default()
            },
            spec: Some(spec),
            ..Default::default()
        }
    }

    const HEADER: &str = "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n";

    #[test]
    fn hosts_plain() {
        let p = pod("web-1", PodSpec::default());
        assert_eq!(
            hosts_file(&p, "10.244.1.5", "cluster.local"),
            format!("{HEADER}10.244.1.5\tweb-1\n")
        );
    }

    #[test]
    fn hosts_with_hostname_subdomain_and_aliases() {
        let p = pod(
            "web-1",
            PodSpec {
                hostname: Some("db-0".into()),
                subdomain: Some("db".into()),
                host_aliases: Some(vec![
                    HostAlias {
                        ip: "10.1.2.3".into(),
                        hostnames: Some(vec!["foo.local".into(), "bar.local".into()]),
                    },
                    HostAlias {
                        ip: "10.1.2.4".into(),
                        hostnames: Some(vec!["baz".into()]),
                    },
                ]),
                ..Default::default()
            },
        );
        assert_eq!(
            hosts_file(&p, "10.244.1.5", "cluster.local"),
            format!(
                "{HEADER}10.244.1.5\tdb-0.db.shop.svc.cluster.local\tdb-0\n\n# Entries added by HostAliases.\n10.1.2.3\tfoo.local\tbar.local\n10.1.2.4\tbaz\n"
            )
        );
        // hostname without subdomain: no FQDN.
        let p = pod(
            "web-1",
            PodSpec {
                hostname: Some("db-0".into()),
                ..Default::default()
            },
        );
        assert!(hosts_file(&p, "10.244.1.5", "cluster.local").ends_with("\n10.244.1.5\tdb-0\n"));
    }

    #[test]
    fn a_host_network_pod_gets_the_nodes_hosts_file_and_its_aliases() {
        let p = pod(
            "web-1",
            PodSpec {
                host_network: Some(true),
                host_aliases: Some(vec![HostAlias {
                    ip: "10.1.2.3".into(),
                    hostnames: Some(vec!["foo.local".into()]),
                }]),
                ..Default::default()
            },
        );
        let node = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
        let got = hosts_file(&p, "10.0.0.1", "cluster.local");
        let rest = got
            .strip_prefix("# Kubernetes-managed hosts file (host network).\n")
            .expect("upstream's host-network header");
        assert!(rest.starts_with(&node), "{got}");
        assert!(
            got.ends_with("\n# Entries added by HostAliases.\n10.1.2.3\tfoo.local\n"),
            "{got}"
        );
        // Not the pod-network file: no pod IP line, no managed header.
        assert!(!got.contains("10.0.0.1\tweb-1"), "{got}");
        assert!(!got.starts_with("# Kubernetes-managed hosts file.\n"));
    }

    #[test]
    fn long_names_are_truncated() {
        let name = format!("{}-{}", "a".repeat(62), "b".repeat(10));
        let p = pod(&name, PodSpec::default());
        let (h, d) = hostname_and_domain(&p, "cluster.local");
        assert_eq!(h, "a".repeat(62));
        assert_eq!(d, None);
    }

    const HOST: &str = "# generated\nnameserver 192.0.2.53\nnameserver 192.0.2.54\nsearch example.com. lab.example.com\noptions timeout:2 edns0\n";

    #[test]
    fn cluster_first() {
        let p = pod("web", PodSpec::default());
        assert_eq!(
            resolv_conf_with_host(&p, &["10.96.0.10".into()], "cluster.local", HOST),
            "search shop.svc.cluster.local svc.cluster.local cluster.local example.com lab.example.com\nnameserver 10.96.0.10\noptions ndots:5\n"
        );
    }

    #[test]
    fn cluster_first_without_cluster_dns_and_on_host_network_is_default() {
        let host_default = "search example.com lab.example.com\nnameserver 192.0.2.53\nnameserver 192.0.2.54\noptions timeout:2 edns0\n";
        let p = pod("web", PodSpec::default());
        assert_eq!(
            resolv_conf_with_host(&p, &[], "cluster.local", HOST),
            host_default
        );
        let p = pod(
            "web",
            PodSpec {
                host_network: Some(true),
                dns_policy: Some("ClusterFirst".into()),
                ..Default::default()
            },
        );
        assert_eq!(
            resolv_conf_with_host(&p, &["10.96.0.10".into()], "cluster.local", HOST),
            host_default
        );
        let p = pod(
            "web",
            PodSpec {
                host_network: Some(true),
                dns_policy: Some("ClusterFirstWithHostNet".into()),
                ..Default::default()
            },
        );
        assert!(
            resolv_conf_with_host(&p, &["10.96.0.10".into()], "cluster.local", HOST)
                .contains("nameserver 10.96.0.10\n")
        );
        let p = pod(
            "web",
            PodSpec {
                dns_policy: Some("Default".into()),
                ..Default::default()
            },
        );
        assert_eq!(
            resolv_conf_with_host(&p, &["10.96.0.10".into()], "cluster.local", HOST),
            host_default
        );
    }

    #[test]
    fn none_with_dns_config() {
        let p = pod(
            "web",
            PodSpec {
                dns_policy: Some("None".into()),
                dns_config: Some(PodDNSConfig {
                    nameservers: Some(vec!["1.2.3.4".into()]),
                    searches: Some(vec![
                        "ns1.svc.cluster-domain.example".into(),
                        "my.dns.search.suffix".into(),
                    ]),
                    options: Some(vec![
                        PodDNSConfigOption {
                            name: Some("ndots".into()),
                            value: Some("2".into()),
                        },
                        PodDNSConfigOption {
                            name: Some("edns0".into()),
                            value: None,
                        },
                    ]),
                }),
                ..Default::default()
            },
        );
        assert_eq!(
            resolv_conf_with_host(&p, &["10.96.0.10".into()], "cluster.local", HOST),
            "search ns1.svc.cluster-domain.example my.dns.search.suffix\nnameserver 1.2.3.4\noptions ndots:2 edns0\n"
        );
    }

    #[test]
    fn dns_config_merges_into_cluster_first_and_limits_apply() {
        let p = pod(
            "web",
            PodSpec {
                dns_config: Some(PodDNSConfig {
                    nameservers: Some(vec![
                        "10.96.0.10".into(),
                        "1.1.1.1".into(),
                        "8.8.8.8".into(),
                        "9.9.9.9".into(),
                    ]),
                    searches: Some(vec!["cluster.local".into(), "extra.example".into()]),
                    options: Some(vec![PodDNSConfigOption {
                        name: Some("ndots".into()),
                        value: Some("1".into()),
                    }]),
                }),
                ..Default::default()
            },
        );
        assert_eq!(
            resolv_conf_with_host(&p, &["10.96.0.10".into()], "cluster.local", ""),
            "search shop.svc.cluster.local svc.cluster.local cluster.local extra.example\nnameserver 10.96.0.10\nnameserver 1.1.1.1\nnameserver 8.8.8.8\noptions ndots:1\n"
        );
    }

    #[test]
    fn parses_host_resolv_conf() {
        let c = DnsConfig::parse("search a b\nsearch c. .\nnameserver 1.1.1.1\nnameserver\noptions ndots:2\noptions ndots:3 rotate\n; x\n");
        assert_eq!(c.searches, vec!["c"]);
        assert_eq!(c.nameservers, vec!["1.1.1.1"]);
        assert_eq!(c.options, vec!["ndots:3", "rotate"]);
    }
}
