//! The Service environment variables every container starts with, as
//! upstream's kubelet sets them (its `envvars` package): for each Service of
//! the pod's namespace that has a cluster IP (unless the pod says
//! `enableServiceLinks: false`), and always for the `kubernetes` Service of
//! `default`, which is how in-cluster clients (kube-rs `Client::try_default`,
//! the Python client's `load_incluster_config`) find the apiserver:
//!
//! ```text
//! REDIS_PRIMARY_SERVICE_HOST=10.0.0.11        the cluster IP
//! REDIS_PRIMARY_SERVICE_PORT=6379             the first port
//! REDIS_PRIMARY_SERVICE_PORT_CLIENT=6379      each named port
//! REDIS_PRIMARY_PORT=tcp://10.0.0.11:6379     Docker links: the first port,
//! REDIS_PRIMARY_PORT_6379_TCP=tcp://10.0.0.11:6379    then every port with
//! REDIS_PRIMARY_PORT_6379_TCP_PROTO=tcp               its protocol, number
//! REDIS_PRIMARY_PORT_6379_TCP_PORT=6379               and address
//! REDIS_PRIMARY_PORT_6379_TCP_ADDR=10.0.0.11
//! ```
//!
//! A container's own `env` and `envFrom` win over these names and may refer
//! to them with `$(VAR)` ([`super::env`]).

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Pod, Service};

/// The namespace and name of the Services whose variables every pod gets.
const MASTER_SERVICE: (&str, &str) = ("default", "kubernetes");

/// The variables of the Services `pod` sees, sorted by name.
pub fn for_pod(services: &[Arc<Service>], pod: &Pod) -> Vec<(String, String)> {
    let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
    let links = pod
        .spec
        .as_ref()
        .and_then(|s| s.enable_service_links)
        .unwrap_or(true);
    // By name: a Service of the pod's own namespace shadows the master
    // Service of the same name, as upstream.
    let mut chosen: BTreeMap<&str, &Service> = BTreeMap::new();
    for svc in services {
        let (Some(name), Some(svc_ns)) = (
            svc.metadata.name.as_deref(),
            svc.metadata.namespace.as_deref(),
        ) else {
            continue;
        };
        if !cluster_ip_set(svc) {
            continue;
        }
        if (svc_ns, name) == MASTER_SERVICE {
            chosen.entry(name).or_insert(svc);
        } else if svc_ns == ns && links {
            chosen.insert(name, svc);
        }
    }
    let mut vars = BTreeMap::new();
    for svc in chosen.values() {
        for (k, v) in variables(svc) {
            vars.insert(k, v);
        }
    }
    vars.into_iter().collect()
}

fn cluster_ip_set(svc: &Service) -> bool {
    let ip = svc
        .spec
        .as_ref()
        .and_then(|s| s.cluster_ip.as_deref())
        .unwrap_or("");
    !ip.is_empty() && ip != "None"
}

/// `redis-primary` -> `REDIS_PRIMARY`.
fn var_name(s: &str) -> String {
    s.replace('-', "_").to_uppercase()
}

/// One Service's variables, in upstream's order.
fn variables(svc: &Service) -> Vec<(String, String)> {
    let Some(spec) = svc.spec.as_ref() else {
        return Vec::new();
    };
    let ports = spec.ports.as_deref().unwrap_or_default();
    let (Some(ip), Some(first)) = (spec.cluster_ip.as_deref(), ports.first()) else {
        return Vec::new();
    };
    let prefix = var_name(svc.metadata.name.as_deref().unwrap_or_default());
    let mut out = vec![
        (format!("{prefix}_SERVICE_HOST"), ip.to_string()),
        (format!("{prefix}_SERVICE_PORT"), first.port.to_string()),
    ];
    for p in ports {
        if let Some(name) = p.name.as_deref().filter(|n| !n.is_empty()) {
            out.push((
                format!("{prefix}_SERVICE_PORT_{}", var_name(name)),
                p.port.to_string(),
            ));
        }
    }
    // An IPv6 cluster IP is bracketed in a URL.
    let host = if ip.contains(':') {
        format!("[{ip}]")
    } else {
        ip.to_string()
    };
    for (i, p) in ports.iter().enumerate() {
        let proto = p.protocol.as_deref().unwrap_or("TCP");
        let url = format!("{}://{host}:{}", proto.to_lowercase(), p.port);
        if i == 0 {
            out.push((format!("{prefix}_PORT"), url.clone()));
        }
        let pp = format!("{prefix}_PORT_{}_{}", p.port, proto.to_uppercase());
        out.push((format!("{pp}_PROTO"), proto.to_lowercase()));
        out.push((format!("{pp}_PORT"), p.port.to_string()));
        out.push((format!("{pp}_ADDR"), ip.to_string()));
        out.push((pp, url));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn svc(ns: &str, name: &str, ip: &str, ports: serde_json::Value) -> Arc<Service> {
        Arc::new(
            serde_json::from_value(json!({
                "metadata": {"namespace": ns, "name": name},
                "spec": {"clusterIP": ip, "ports": ports},
            }))
            .expect("a Service"),
        )
    }

    fn pod(ns: &str, links: Option<bool>) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"namespace": ns, "name": "p"},
            "spec": {"containers": [], "enableServiceLinks": links},
        }))
        .expect("a Pod")
    }

    fn get<'a>(vars: &'a [(String, String)], k: &str) -> Option<&'a str> {
        vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
    }

    #[test]
    fn a_service_gets_upstream_names_and_docker_links() {
        let s = svc(
            "apps",
            "redis-primary",
            "10.0.0.11",
            json!([{"port": 6379, "name": "client"}, {"port": 53, "name": "dns", "protocol": "UDP"}]),
        );
        let vars = for_pod(&[s], &pod("apps", None));
        let want = [
            ("REDIS_PRIMARY_SERVICE_HOST", "10.0.0.11"),
            ("REDIS_PRIMARY_SERVICE_PORT", "6379"),
            ("REDIS_PRIMARY_SERVICE_PORT_CLIENT", "6379"),
            ("REDIS_PRIMARY_SERVICE_PORT_DNS", "53"),
            ("REDIS_PRIMARY_PORT", "tcp://10.0.0.11:6379"),
            ("REDIS_PRIMARY_PORT_6379_TCP", "tcp://10.0.0.11:6379"),
            ("REDIS_PRIMARY_PORT_6379_TCP_PROTO", "tcp"),
            ("REDIS_PRIMARY_PORT_6379_TCP_PORT", "6379"),
            ("REDIS_PRIMARY_PORT_6379_TCP_ADDR", "10.0.0.11"),
            ("REDIS_PRIMARY_PORT_53_UDP", "udp://10.0.0.11:53"),
            ("REDIS_PRIMARY_PORT_53_UDP_PROTO", "udp"),
        ];
        for (k, v) in want {
            assert_eq!(get(&vars, k), Some(v), "{k} in {vars:?}");
        }
        assert_eq!(vars.len(), 13);
    }

    #[test]
    fn only_own_namespace_and_the_master_service_and_links_can_be_turned_off() {
        let all = [
            svc(
                "default",
                "kubernetes",
                "10.0.0.1",
                json!([{"port": 443, "name": "https"}]),
            ),
            svc("apps", "web", "10.0.0.20", json!([{"port": 80}])),
            svc("other", "db", "10.0.0.30", json!([{"port": 5432}])),
            svc("apps", "headless", "None", json!([{"port": 80}])),
        ];
        let vars = for_pod(&all, &pod("apps", None));
        assert_eq!(get(&vars, "KUBERNETES_SERVICE_HOST"), Some("10.0.0.1"));
        assert_eq!(get(&vars, "KUBERNETES_SERVICE_PORT"), Some("443"));
        assert_eq!(get(&vars, "KUBERNETES_SERVICE_PORT_HTTPS"), Some("443"));
        assert_eq!(get(&vars, "WEB_SERVICE_HOST"), Some("10.0.0.20"));
        assert_eq!(get(&vars, "DB_SERVICE_HOST"), None);
        assert_eq!(get(&vars, "HEADLESS_SERVICE_HOST"), None);
        let off = for_pod(&all, &pod("apps", Some(false)));
        assert_eq!(get(&off, "KUBERNETES_SERVICE_HOST"), Some("10.0.0.1"));
        assert_eq!(get(&off, "WEB_SERVICE_HOST"), None);
    }

    #[test]
    fn a_namespace_service_shadows_the_master_one_of_the_same_name() {
        let all = [
            svc("default", "kubernetes", "10.0.0.1", json!([{"port": 443}])),
            svc("apps", "kubernetes", "10.0.0.9", json!([{"port": 8443}])),
        ];
        let vars = for_pod(&all, &pod("apps", None));
        assert_eq!(get(&vars, "KUBERNETES_SERVICE_HOST"), Some("10.0.0.9"));
        let vars = for_pod(&all, &pod("apps", Some(false)));
        assert_eq!(get(&vars, "KUBERNETES_SERVICE_HOST"), Some("10.0.0.1"));
    }
}
