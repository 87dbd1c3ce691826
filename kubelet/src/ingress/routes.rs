//! The routing table: every rule of the Ingresses of our class, merged,
//! and the lookup that picks a backend for a request's host and path.
//! Pure (no I/O), so the matching rules are unit-tested.
//!
//! Hosts, most specific first (a tier with no matching path falls through
//! to the next, as Traefik's rule priorities do, which is what k3s users
//! know):
//! 1. an exact host (`foo.bar.com`);
//! 2. a wildcard host (`*.bar.com`), which covers exactly one label
//!    (`foo.bar.com`, not `bar.com` nor `a.foo.bar.com`), as upstream;
//! 3. rules without a host (every host).
//!
//! Paths, within a host (upstream's rules for `pathType`):
//! - `Exact`: the request's path, case-sensitive, equals the rule's;
//! - `Prefix`: the rule's path, split on `/`, is an element-wise prefix of
//!   the request's path (`/foo/bar` matches `/foo/bar`, `/foo/bar/` and
//!   `/foo/bar/baz`, not `/foo/barbaz`; a trailing `/` is ignored; `/`
//!   matches everything);
//! - `ImplementationSpecific`: ours is `Prefix` (an empty path is `/`).
//!
//! The longest matching path wins; at equal length `Exact` beats `Prefix`;
//! then the older Ingress (creation time, then namespace/name) wins, so
//! two Ingresses claiming the same host and path do not flap. No rule: the
//! `defaultBackend` of the oldest Ingress that has one, else nothing (the
//! proxy answers 404).

use std::collections::BTreeMap;

use k8s_openapi::api::networking::v1::{Ingress, IngressBackend};

/// A Service port that requests are forwarded to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Backend {
    /// The Ingress's (and so the Service's) namespace.
    pub namespace: String,
    /// The Service.
    pub service: String,
    /// The Service's port, by number or name.
    pub port: PortRef,
}

/// How a backend names its Service port.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PortRef {
    /// `port.number`.
    Number(u16),
    /// `port.name`.
    Name(String),
}

/// How a path rule compares the request's path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathMatch {
    /// The same path.
    Exact,
    /// The same leading path elements.
    Prefix,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct PathRule {
    kind: PathMatch,
    path: String,
    backend: Backend,
}

impl PathRule {
    fn matches(&self, path: &str) -> bool {
        match self.kind {
            PathMatch::Exact => self.path == path,
            PathMatch::Prefix => prefix_matches(&self.path, path),
        }
    }
}

/// Upstream's `Prefix`: element-wise, ignoring a trailing `/` of either.
fn prefix_matches(rule: &str, path: &str) -> bool {
    let rule = rule.trim_end_matches('/');
    if rule.is_empty() {
        return true; // "/" matches every path
    }
    match path.strip_prefix(rule) {
        Some(rest) => rest.is_empty() || rest.starts_with('/'),
        None => false,
    }
}

/// Which Secret holds the certificate of a TLS host.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct SecretRef {
    /// The Ingress's namespace.
    pub namespace: String,
    /// `spec.tls[].secretName`.
    pub name: String,
}

/// The merged rules of every Ingress of our class.
#[derive(Debug, Default)]
pub struct Table {
    exact: BTreeMap<String, Vec<PathRule>>,
    /// By the domain a `*.` wildcard covers (`bar.com` for `*.bar.com`).
    wildcard: BTreeMap<String, Vec<PathRule>>,
    any_host: Vec<PathRule>,
    default_backend: Option<Backend>,
    /// TLS hosts (exact or `*.domain`) and their Secrets.
    tls: BTreeMap<String, SecretRef>,
    /// The Secret of a `spec.tls` entry without hosts: the certificate for
    /// a client whose SNI matches no TLS host.
    tls_fallback: Option<SecretRef>,
}

fn backend_of(namespace: &str, b: &IngressBackend) -> Option<Backend> {
    let svc = b.service.as_ref()?;
    let port = svc.port.as_ref()?;
    let port = match (port.number, port.name.as_deref()) {
        (Some(n), _) if n > 0 => PortRef::Number(u16::try_from(n).ok()?),
        (_, Some(name)) if !name.is_empty() => PortRef::Name(name.to_string()),
        _ => return None,
    };
    Some(Backend {
        namespace: namespace.to_string(),
        service: svc.name.clone(),
        port,
    })
}

/// The age order of Ingresses: older first, then by namespace/name.
fn age_key(i: &Ingress) -> (Option<k8s_openapi::jiff::Timestamp>, String, String) {
    (
        i.metadata.creation_timestamp.as_ref().map(|t| t.0),
        i.metadata.namespace.clone().unwrap_or_default(),
        i.metadata.name.clone().unwrap_or_default(),
    )
}

/// `host` lowercased, without a port (`Foo.com:8080` -> `foo.com`).
pub fn normalize_host(host: &str) -> String {
    let host = if host.starts_with('[') {
        host.split(']')
            .next()
            .map(|h| format!("{h}]"))
            .unwrap_or_default()
    } else {
        host.split(':').next().unwrap_or_default().to_string()
    };
    host.trim_end_matches('.').to_ascii_lowercase()
}

/// The domain a one-label wildcard must cover to match `host`
/// (`bar.com` for `foo.bar.com`), if `host` has more than one label.
fn parent_domain(host: &str) -> Option<&str> {
    let (first, rest) = host.split_once('.')?;
    (!first.is_empty() && !rest.is_empty()).then_some(rest)
}

impl Table {
    /// The table of `ingresses` (the caller passes only ours).
    pub fn build(ingresses: &[&Ingress]) -> Table {
        let mut sorted: Vec<&Ingress> = ingresses.to_vec();
        sorted.sort_by_key(|i| age_key(i));
        let mut t = Table::default();
        for ing in sorted {
            let ns = ing.metadata.namespace.as_deref().unwrap_or("default");
            let Some(spec) = ing.spec.as_ref() else {
                continue;
            };
            if t.default_backend.is_none() {
                t.default_backend = spec
                    .default_backend
                    .as_ref()
                    .and_then(|b| backend_of(ns, b));
            }
            for rule in spec.rules.iter().flatten() {
                let host = normalize_host(rule.host.as_deref().unwrap_or(""));
                let list = if host.is_empty() {
                    &mut t.any_host
                } else if let Some(domain) = host.strip_prefix("*.") {
                    t.wildcard.entry(domain.to_string()).or_default()
                } else {
                    t.exact.entry(host).or_default()
                };
                for p in rule.http.iter().flat_map(|h| &h.paths) {
                    let Some(backend) = backend_of(ns, &p.backend) else {
                        continue;
                    };
                    let kind = match p.path_type.as_str() {
                        "Exact" => PathMatch::Exact,
                        _ => PathMatch::Prefix,
                    };
                    let path = match p.path.as_deref() {
                        Some(path) if !path.is_empty() => path.to_string(),
                        _ => "/".to_string(),
                    };
                    // The older Ingress keeps a host+path+type both claim.
                    if !list.iter().any(|r| r.kind == kind && r.path == path) {
                        list.push(PathRule {
                            kind,
                            path,
                            backend,
                        });
                    }
                }
            }
            for tls in spec.tls.iter().flatten() {
                let Some(secret) = tls.secret_name.as_ref().filter(|s| !s.is_empty()) else {
                    continue;
                };
                let secret = SecretRef {
                    namespace: ns.to_string(),
                    name: secret.clone(),
                };
                let hosts = tls.hosts.as_deref().unwrap_or_default();
                if hosts.is_empty() && t.tls_fallback.is_none() {
                    t.tls_fallback = Some(secret.clone());
                }
                for h in hosts {
                    t.tls
                        .entry(normalize_host(h))
                        .or_insert_with(|| secret.clone());
                }
            }
        }
        t
    }

    /// The backend for a request to `host` (a Host header: any case, maybe
    /// with a port) and `path`; `None`: nothing matches (404).
    pub fn route(&self, host: &str, path: &str) -> Option<&Backend> {
        let host = normalize_host(host);
        let tiers = [
            self.exact.get(&host),
            parent_domain(&host).and_then(|d| self.wildcard.get(d)),
            Some(&self.any_host),
        ];
        tiers
            .into_iter()
            .flatten()
            .find_map(|rules| best_path(rules, path))
            .or(self.default_backend.as_ref())
    }

    /// The Secret whose certificate answers a TLS client that asked for
    /// `server_name` (SNI): an exact TLS host, else a wildcard covering it,
    /// else the fallback; `None` without SNI and fallback.
    pub fn tls_secret(&self, server_name: Option<&str>) -> Option<&SecretRef> {
        let by_name = server_name.map(normalize_host).and_then(|name| {
            self.tls
                .get(&name)
                .or_else(|| parent_domain(&name).and_then(|d| self.tls.get(&format!("*.{d}"))))
        });
        by_name.or(self.tls_fallback.as_ref())
    }

    /// Every Secret a TLS host or the fallback names.
    pub fn tls_secrets(&self) -> Vec<&SecretRef> {
        let mut all: Vec<&SecretRef> = self.tls.values().chain(&self.tls_fallback).collect();
        all.sort();
        all.dedup();
        all
    }

    /// Every backend of the table (to resolve their endpoints once per
    /// sync).
    pub fn backends(&self) -> Vec<&Backend> {
        let mut all: Vec<&Backend> = self
            .exact
            .values()
            .chain(self.wildcard.values())
            .flatten()
            .chain(&self.any_host)
            .map(|r| &r.backend)
            .chain(&self.default_backend)
            .collect();
        all.sort();
        all.dedup();
        all
    }
}

/// The best path rule for `path`: the longest, `Exact` before `Prefix` at
/// equal length, then the first (the older Ingress's).
fn best_path<'a>(rules: &'a [PathRule], path: &str) -> Option<&'a Backend> {
    let mut best: Option<&PathRule> = None;
    for r in rules.iter().filter(|r| r.matches(path)) {
        let better = match best {
            None => true,
            Some(b) => {
                let (rl, bl) = (
                    r.path.trim_end_matches('/').len(),
                    b.path.trim_end_matches('/').len(),
                );
                rl > bl || (rl == bl && r.kind == PathMatch::Exact && b.kind == PathMatch::Prefix)
            }
        };
        if better {
            best = Some(r);
        }
    }
    best.map(|r| &r.backend)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ingress(name: &str, created: &str, spec: serde_json::Value) -> Ingress {
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "ns", "creationTimestamp": created},
            "spec": spec,
        }))
        .expect("an Ingress")
    }

    fn path(kind: &str, p: &str, svc: &str) -> serde_json::Value {
        json!({"path": p, "pathType": kind,
               "backend": {"service": {"name": svc, "port": {"number": 80}}}})
    }

    fn svc(b: Option<&Backend>) -> Option<&str> {
        b.map(|b| b.service.as_str())
    }

    #[test]
    fn prefix_is_element_wise() {
        assert!(prefix_matches("/foo/bar", "/foo/bar"));
        assert!(prefix_matches("/foo/bar", "/foo/bar/"));
        assert!(prefix_matches("/foo/bar/", "/foo/bar"));
        assert!(prefix_matches("/foo/bar", "/foo/bar/baz"));
        assert!(!prefix_matches("/foo/bar", "/foo/barbaz"));
        assert!(!prefix_matches("/foo/bar", "/foo"));
        assert!(prefix_matches("/", "/anything"));
        assert!(prefix_matches("/aaa/bb", "/aaa/bb/ccc"));
        assert!(!prefix_matches("/aaa/bbb", "/aaa/bb"));
    }

    #[test]
    fn hosts_go_exact_then_one_label_wildcard_then_any_with_fall_through() {
        let a = ingress(
            "a",
            "2026-01-01T00:00:00Z",
            json!({"rules": [
                {"host": "foo.bar.com", "http": {"paths": [path("Prefix", "/api", "exact-host")]}},
                {"host": "*.bar.com", "http": {"paths": [path("Prefix", "/", "wild")]}},
                {"http": {"paths": [path("Prefix", "/", "any")]}},
            ]}),
        );
        let t = Table::build(&[&a]);
        assert_eq!(svc(t.route("foo.bar.com", "/api/x")), Some("exact-host"));
        assert_eq!(svc(t.route("FOO.bar.com:8080", "/api")), Some("exact-host"));
        // No path of the exact host matches: the wildcard tier answers.
        assert_eq!(svc(t.route("foo.bar.com", "/other")), Some("wild"));
        assert_eq!(svc(t.route("baz.bar.com", "/")), Some("wild"));
        // A wildcard covers exactly one label.
        assert_eq!(svc(t.route("bar.com", "/")), Some("any"));
        assert_eq!(svc(t.route("a.baz.bar.com", "/")), Some("any"));
    }

    #[test]
    fn longest_path_wins_and_exact_beats_prefix_at_equal_length() {
        let a = ingress(
            "a",
            "2026-01-01T00:00:00Z",
            json!({"rules": [{"host": "h.com", "http": {"paths": [
                path("Prefix", "/", "root"),
                path("Prefix", "/foo", "foo-prefix"),
                path("Exact", "/foo", "foo-exact"),
                path("ImplementationSpecific", "/foo/bar", "foo-bar"),
            ]}}]}),
        );
        let t = Table::build(&[&a]);
        assert_eq!(svc(t.route("h.com", "/foo")), Some("foo-exact"));
        assert_eq!(svc(t.route("h.com", "/foo/")), Some("foo-prefix"));
        assert_eq!(svc(t.route("h.com", "/foo/baz")), Some("foo-prefix"));
        assert_eq!(svc(t.route("h.com", "/foo/bar/1")), Some("foo-bar"));
        assert_eq!(svc(t.route("h.com", "/foobar")), Some("root"));
        // Nothing for another host, and no default backend: 404.
        assert_eq!(t.route("other.com", "/"), None);
    }

    #[test]
    fn the_older_ingress_keeps_a_shared_path_and_its_default_backend() {
        let old = ingress(
            "old",
            "2026-01-01T00:00:00Z",
            json!({"defaultBackend": {"service": {"name": "fallback", "port": {"name": "http"}}},
                   "rules": [{"host": "h.com", "http": {"paths": [path("Prefix", "/", "old")]}}]}),
        );
        let new = ingress(
            "new",
            "2026-02-01T00:00:00Z",
            json!({"defaultBackend": {"service": {"name": "later", "port": {"number": 80}}},
                   "rules": [{"host": "h.com", "http": {"paths": [path("Prefix", "/", "new")]}}]}),
        );
        let t = Table::build(&[&new, &old]);
        assert_eq!(svc(t.route("h.com", "/")), Some("old"));
        let fallback = t.route("nowhere.com", "/").expect("the default backend");
        assert_eq!(fallback.service, "fallback");
        assert_eq!(fallback.port, PortRef::Name("http".into()));
        // The newer one's path and default backend are not used at all.
        assert_eq!(t.backends().len(), 2);
    }

    #[test]
    fn tls_hosts_pick_their_secret_by_sni() {
        let a = ingress(
            "a",
            "2026-01-01T00:00:00Z",
            json!({"tls": [
                {"hosts": ["secure.com"], "secretName": "secure-tls"},
                {"hosts": ["*.wild.com"], "secretName": "wild-tls"},
                {"secretName": "fallback-tls"},
            ], "defaultBackend": {"service": {"name": "s", "port": {"number": 80}}}}),
        );
        let t = Table::build(&[&a]);
        let name = |sni| t.tls_secret(sni).map(|s| s.name.as_str());
        assert_eq!(name(Some("secure.com")), Some("secure-tls"));
        assert_eq!(name(Some("a.wild.com")), Some("wild-tls"));
        assert_eq!(name(Some("a.b.wild.com")), Some("fallback-tls"));
        assert_eq!(name(None), Some("fallback-tls"));
        assert_eq!(t.tls_secrets().len(), 3);
    }
}
