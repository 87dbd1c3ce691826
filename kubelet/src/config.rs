//! The kubelet's settings: flags (upstream names) plus a
//! KubeletConfiguration-like YAML file (`--config`).
//!
//! ```yaml
//! maxPods: 110
//! allowedUnsafeSysctls: ["kernel.msg*"] # beyond the safe sysctls
//! cgroupDriver: cgroupfs            # the built-in runtime writes cgroupfs paths
//! clusterDNS: ["10.96.0.10"]
//! clusterDomain: cluster.local
//! cniBinDir: /usr/lib/cni
//! cniConfDir: /var/lib/kubelet/cni/net.d
//! nodeStatusUpdateFrequency: 10s
//! evictionHard: {memory.available: 100Mi, nodefs.available: 10%, pid.available: 5%}
//! evictionSoft: {memory.available: 1Gi}          # evict only after ...
//! evictionSoftGracePeriod: {memory.available: 1m} # ... this long below it
//! evictionMaxPodGracePeriod: 30                   # soft evictions' grace cap (s)
//! evictionMinimumReclaim: {memory.available: 0Mi} # reclaim this much beyond
//! evictionPressureTransitionPeriod: 5m            # conditions stay this long
//! evictionMonitoringPeriod: 10s     # how often signals are read (crate::eviction)
//! registryMirrors: {docker.io: ["http://10.200.0.1:5000"]}
//! insecureRegistries: ["10.200.0.1:5000"]
//! serviceProxy: true                # iptables rules for ClusterIPs (crate::proxy)
//! serviceProxyInRootNetns: false    # ... even in the host's own network namespace
//! masqueradeEgress: true            # pods' traffic beyond the pod network leaves
//!                                   # with the node's address (crate::network::egress)
//! ingressProxy: true                # serve Ingresses of our class (crate::ingress)
//! ingressHTTPPort: 80               # ... on the node's address, HTTP
//! ingressHTTPSPort: 443             # ... and HTTPS (certificates by SNI)
//! clusterDNSServer: true            # answer DNS on the clusterDNS IP (crate::cluster_dns)
//! clusterDNSServerInRootNetns: false # ... even in the host's own network namespace
//! imageGCHighThresholdPercent: 85    # image GC above this disk usage ...
//! imageGCLowThresholdPercent: 80     # ... down to this
//! apiServerEndpoints: ["10.0.0.11:6443", "10.0.0.12:6443"] # every apiserver, for
//!                                   # client-side failover (crate::failover)
//! tlsCertFile: /var/lib/kubelet/pki/kubelet.crt   # :10250's pair (default:
//! tlsPrivateKeyFile: /var/lib/kubelet/pki/kubelet.key # self-signed in <root>/pki)
//! serverTLSBootstrap: true          # instead: the pair through a CSR, renewed
//!                                   # (crate::certificate::serving)
//! authentication:                   # who may call :10250 (crate::server::auth)
//!   x509: {clientCAFile: /etc/kubernetes/pki/ca.crt}
//!   webhook: {enabled: true, cacheTTL: 2m}  # bearer tokens by TokenReview
//!   anonymous: {enabled: false}     # no credentials: 401
//! authorization:                    # SubjectAccessReview (or AlwaysAllow)
//!   mode: Webhook
//!   webhook: {cacheAuthorizedTTL: 5m, cacheUnauthorizedTTL: 30s}
//! ```
//! Everything the runtime needs (mirrors, log sizes) comes from the same
//! file into the runtime's own [`container_runtime::Config`]
//! ([`load_runtime_config`]); the runtime takes plain numbers, so its
//! quantities (`containerLogMaxSize: 10Mi`) are parsed here.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// Errors reading the configuration.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid.
    #[error("{path}: {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// The YAML file's fields (camelCase as upstream's KubeletConfiguration).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct FileConfig {
    /// Most pods on this node.
    pub max_pods: u32,
    /// Sysctls (names, or prefixes ending in `*`) pods may set beyond the
    /// safe ones.
    pub allowed_unsafe_sysctls: Vec<String>,
    /// `cgroupfs` (the only driver of the built-in runtime; `systemd` is
    /// refused with a clear message).
    pub cgroup_driver: String,
    /// Cluster DNS server IPs written into pods' resolv.conf.
    #[serde(rename = "clusterDNS")]
    pub cluster_dns: Vec<String>,
    /// The cluster domain.
    pub cluster_domain: String,
    /// Where the CNI plugins are.
    pub cni_bin_dir: Option<PathBuf>,
    /// Where the kubelet writes its CNI conflist.
    pub cni_conf_dir: Option<PathBuf>,
    /// Who attaches pods: `cni` (the plugins of the list) or `kubenet` (the
    /// kubelet itself, [`crate::network::kubenet`]).
    pub network_plugin: crate::network::NetworkPlugin,
    /// How often node status is computed (posted when it changed).
    #[serde(with = "go_duration")]
    pub node_status_update_frequency: Duration,
    /// How the ConfigMaps and Secrets of pods' volumes are kept current:
    /// `Cache` (the default here; `Watch`, upstream's, is served by it) or
    /// `Get` ([`crate::volumes::objects`]).
    pub config_map_and_secret_change_detection_strategy: crate::volumes::objects::Strategy,
    /// Hard eviction thresholds (`memory.available`, `nodefs.available`,
    /// `imagefs.available`, `pid.available`: a quantity or a percentage of
    /// the capacity); see [`crate::eviction`].
    pub eviction_hard: BTreeMap<String, String>,
    /// Soft eviction thresholds: met for longer than their
    /// `evictionSoftGracePeriod` before the kubelet evicts.
    pub eviction_soft: BTreeMap<String, String>,
    /// How long each soft threshold must be met (Go durations).
    pub eviction_soft_grace_period: BTreeMap<String, String>,
    /// The longest grace period (seconds) a pod evicted for a soft
    /// threshold gets; 0 leaves the pod's own.
    pub eviction_max_pod_grace_period: i64,
    /// How much beyond a threshold must be free again before its pressure
    /// counts as relieved.
    pub eviction_minimum_reclaim: BTreeMap<String, String>,
    /// How long a pressure condition stays True after its signal cleared
    /// (upstream: 5m), so the node does not flap.
    #[serde(with = "go_duration")]
    pub eviction_pressure_transition_period: Duration,
    /// How often the eviction manager reads the signals (upstream's
    /// housekeeping interval, 10 s; not an upstream field: tests shorten it).
    #[serde(with = "go_duration")]
    pub eviction_monitoring_period: Duration,
    /// Taints the Node is created with (upstream's `registerWithTaints`;
    /// `--register-with-taints` overrides): set at registration, since a
    /// node may not change its own taints afterwards.
    pub register_with_taints: Vec<k8s_openapi::api::core::v1::Taint>,
    /// Run the service proxy ([`crate::proxy`]).
    pub service_proxy: bool,
    /// Let the service proxy program iptables when the kubelet runs in the
    /// host's root network namespace (a real node install). Off: the proxy
    /// refuses there, so a kubelet started on a developer's machine never
    /// NATs its traffic.
    pub service_proxy_in_root_netns: bool,
    /// Masquerade what pods send beyond the cluster's podCIDRs
    /// ([`crate::network::egress`]); in the root network namespace only
    /// with `serviceProxyInRootNetns`.
    pub masquerade_egress: bool,
    /// Enforce NetworkPolicies on this node's pods
    /// ([`crate::network::policy`]); in the root network namespace only with
    /// `serviceProxyInRootNetns`.
    pub network_policy: bool,
    /// Serve cluster DNS ([`crate::cluster_dns`]) on the first `clusterDNS` address,
    /// on this node (it has no effect without `clusterDNS`).
    #[serde(rename = "clusterDNSServer")]
    pub cluster_dns_server: bool,
    /// Let the DNS server add its address and listen when the kubelet runs
    /// in the host's root network namespace. Off: it refuses there.
    #[serde(rename = "clusterDNSServerInRootNetns")]
    pub cluster_dns_server_in_root_netns: bool,
    /// Run the ingress proxy ([`crate::ingress`]) for the Ingresses of the
    /// `minik8s.io/ingress` class (not an upstream field).
    pub ingress_proxy: bool,
    /// The ingress proxy's HTTP port on the node's address.
    #[serde(rename = "ingressHTTPPort")]
    pub ingress_http_port: u16,
    /// The ingress proxy's HTTPS port on the node's address.
    #[serde(rename = "ingressHTTPSPort")]
    pub ingress_https_port: u16,
    /// Image GC starts when the image store's disk is fuller than this
    /// (percent; 100 turns it off).
    #[serde(rename = "imageGCHighThresholdPercent")]
    pub image_gc_high_threshold_percent: u8,
    /// ... and removes unused images, least recently used first, until
    /// usage is below this.
    #[serde(rename = "imageGCLowThresholdPercent")]
    pub image_gc_low_threshold_percent: u8,
    /// `host:port` of every apiserver of an HA control plane (not an
    /// upstream field): requests fail over across them when the
    /// kubeconfig's server does not answer ([`crate::failover`]).
    pub api_server_endpoints: Vec<String>,
    /// The kubelet API's serving certificate (PEM); with the key, else a
    /// self-signed pair is made in `<root-dir>/pki`.
    pub tls_cert_file: Option<PathBuf>,
    /// Renew the client certificate through the CSR API before it expires
    /// ([`crate::certificate::rotation`]); `--rotate-certificates`.
    pub rotate_certificates: bool,
    /// Get the kubelet API's serving certificate through the CSR API
    /// (signer `kubernetes.io/kubelet-serving`) and renew it before it
    /// expires ([`crate::certificate::serving`]); wins over `tlsCertFile`.
    #[serde(rename = "serverTLSBootstrap")]
    pub server_tls_bootstrap: bool,
    /// Its private key.
    pub tls_private_key_file: Option<PathBuf>,
    /// How callers of the kubelet API are authenticated.
    pub authentication: Authentication,
    /// How they are authorized.
    pub authorization: Authorization,
}

/// `authentication` (upstream's KubeletAuthentication).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Authentication {
    /// Client certificates.
    pub x509: X509Authentication,
    /// Bearer tokens by TokenReview.
    pub webhook: AuthenticationWebhook,
    /// Callers without credentials.
    pub anonymous: Enabled,
}

impl Default for Authentication {
    fn default() -> Self {
        Authentication {
            x509: X509Authentication::default(),
            webhook: AuthenticationWebhook::default(),
            anonymous: Enabled { enabled: false },
        }
    }
}

/// `authentication.x509`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct X509Authentication {
    /// Client certificates signed by this CA authenticate as their
    /// CommonName in the groups of their Organizations.
    #[serde(rename = "clientCAFile")]
    pub client_ca_file: Option<PathBuf>,
}

/// `authentication.webhook`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AuthenticationWebhook {
    /// Whether bearer tokens are checked by TokenReview.
    pub enabled: bool,
    /// How long a token's answer is remembered (upstream: 2m).
    #[serde(rename = "cacheTTL", with = "go_duration")]
    pub cache_ttl: Duration,
}

impl Default for AuthenticationWebhook {
    fn default() -> Self {
        AuthenticationWebhook {
            enabled: true,
            cache_ttl: Duration::from_secs(120),
        }
    }
}

/// An `{enabled: bool}` switch.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Enabled {
    /// Whether it is on.
    pub enabled: bool,
}

/// `authorization` (upstream's KubeletAuthorization).
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct Authorization {
    /// `Webhook` (SubjectAccessReview) or `AlwaysAllow`.
    pub mode: String,
    /// How long answers are remembered.
    pub webhook: AuthorizationWebhook,
}

impl Default for Authorization {
    fn default() -> Self {
        Authorization {
            mode: "Webhook".into(),
            webhook: AuthorizationWebhook::default(),
        }
    }
}

/// `authorization.webhook`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AuthorizationWebhook {
    /// How long an allowed access is remembered (upstream: 5m).
    #[serde(rename = "cacheAuthorizedTTL", with = "go_duration")]
    pub cache_authorized_ttl: Duration,
    /// How long a denied access is remembered (upstream: 30s).
    #[serde(rename = "cacheUnauthorizedTTL", with = "go_duration")]
    pub cache_unauthorized_ttl: Duration,
}

impl Default for AuthorizationWebhook {
    fn default() -> Self {
        AuthorizationWebhook {
            cache_authorized_ttl: Duration::from_secs(300),
            cache_unauthorized_ttl: Duration::from_secs(30),
        }
    }
}

impl Default for FileConfig {
    fn default() -> Self {
        FileConfig {
            max_pods: 110,
            allowed_unsafe_sysctls: Vec::new(),
            cgroup_driver: "cgroupfs".into(),
            cluster_dns: Vec::new(),
            cluster_domain: "cluster.local".into(),
            cni_bin_dir: None,
            cni_conf_dir: None,
            network_plugin: crate::network::NetworkPlugin::Cni,
            node_status_update_frequency: Duration::from_secs(10),
            config_map_and_secret_change_detection_strategy: Default::default(),
            eviction_hard: [
                ("memory.available".to_string(), "100Mi".to_string()),
                ("nodefs.available".to_string(), "10%".to_string()),
                ("pid.available".to_string(), "5%".to_string()),
            ]
            .into(),
            eviction_soft: BTreeMap::new(),
            eviction_soft_grace_period: BTreeMap::new(),
            eviction_max_pod_grace_period: 0,
            eviction_minimum_reclaim: BTreeMap::new(),
            eviction_pressure_transition_period: Duration::from_secs(300),
            eviction_monitoring_period: Duration::from_secs(10),
            register_with_taints: Vec::new(),
            service_proxy: true,
            service_proxy_in_root_netns: false,
            masquerade_egress: true,
            network_policy: true,
            cluster_dns_server: true,
            ingress_proxy: true,
            ingress_http_port: 80,
            ingress_https_port: 443,
            cluster_dns_server_in_root_netns: false,
            image_gc_high_threshold_percent: 85,
            image_gc_low_threshold_percent: 80,
            api_server_endpoints: Vec::new(),
            tls_cert_file: None,
            rotate_certificates: false,
            server_tls_bootstrap: false,
            tls_private_key_file: None,
            authentication: Authentication::default(),
            authorization: Authorization::default(),
        }
    }
}

mod go_duration {
    use serde::{Deserialize, Deserializer};
    use std::time::Duration;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let v = serde_json::Value::deserialize(d)?;
        match v {
            serde_json::Value::Number(n) => Ok(Duration::from_secs(n.as_u64().unwrap_or(0))),
            serde_json::Value::String(s) => {
                component_base::duration::parse(&s).map_err(serde::de::Error::custom)
            }
            _ => Err(serde::de::Error::custom("a duration like 10s")),
        }
    }
}

/// One taint of `--register-with-taints`: `key=value:Effect` or
/// `key:Effect` (upstream's syntax, as `kubectl taint` writes it).
pub fn parse_taint(text: &str) -> Result<k8s_openapi::api::core::v1::Taint, String> {
    let (kv, effect) = text
        .rsplit_once(':')
        .ok_or_else(|| format!("invalid taint {text:?}: want key=value:Effect"))?;
    if !["NoSchedule", "PreferNoSchedule", "NoExecute"].contains(&effect) {
        return Err(format!(
            "invalid taint effect {effect:?} in {text:?}: NoSchedule, PreferNoSchedule or NoExecute"
        ));
    }
    let (key, value) = match kv.split_once('=') {
        Some((k, v)) => (k, Some(v.to_string())),
        None => (kv, None),
    };
    if key.is_empty() {
        return Err(format!("invalid taint {text:?}: no key"));
    }
    Ok(k8s_openapi::api::core::v1::Taint {
        key: key.to_string(),
        value,
        effect: effect.to_string(),
        ..Default::default()
    })
}

/// Everything the node agent runs with.
#[derive(Debug, Clone)]
pub struct Config {
    /// The Node's name.
    pub node_name: String,
    /// The InternalIP to report (else found from the route to the apiserver).
    pub node_ip: Option<IpAddr>,
    /// State, pods' volumes, images.
    pub root_dir: PathBuf,
    /// The streaming/health API port.
    pub port: u16,
    /// The file settings.
    pub file: FileConfig,
    /// The `--config` file, if any (the runtime reads its part too).
    pub config_path: Option<PathBuf>,
    /// The apiserver's `host:port`, to find our InternalIP by route.
    pub apiserver: Option<String>,
    /// How the kubelet API serves TLS (the file's `tlsCertFile`,
    /// `tlsPrivateKeyFile`, `authentication.x509.clientCAFile`, or flags).
    pub tls: component_base::tls::ServingOptions,
    /// Who may use the kubelet API.
    pub auth: crate::server::auth::AuthOptions,
}

impl FileConfig {
    /// Reads the YAML file.
    pub fn load(path: &Path) -> Result<FileConfig, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let c: FileConfig = serde_yaml_ng::from_str(&text).map_err(|e| Error::Invalid {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        if c.cgroup_driver != "cgroupfs" {
            return Err(Error::Invalid {
                path: path.to_path_buf(),
                reason: format!(
                    "cgroupDriver {:?} is not supported: the built-in runtime manages cgroupfs paths itself",
                    c.cgroup_driver
                ),
            });
        }
        if let Err(e) = crate::eviction::thresholds::parse(&c) {
            return Err(Error::Invalid {
                path: path.to_path_buf(),
                reason: e.to_string(),
            });
        }
        if c.eviction_monitoring_period.is_zero() {
            return Err(Error::Invalid {
                path: path.to_path_buf(),
                reason: "evictionMonitoringPeriod must be positive".into(),
            });
        }
        if let Err(reason) = c
            .authorization
            .mode
            .parse::<crate::server::auth::AuthorizationMode>()
        {
            return Err(Error::Invalid {
                path: path.to_path_buf(),
                reason: format!("authorization.mode: {reason}"),
            });
        }
        Ok(c)
    }
}

/// Fields of the runtime's part of the file written as quantities of bytes.
const RUNTIME_BYTE_QUANTITIES: &[&str] = &["containerLogMaxSize"];

/// Reads the runtime's part of the config file: the same YAML, with the
/// byte quantities ([`RUNTIME_BYTE_QUANTITIES`]) turned into numbers.
pub fn load_runtime_config(path: &Path) -> Result<container_runtime::Config, Error> {
    let invalid = |reason: String| Error::Invalid {
        path: path.to_path_buf(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let mut doc: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&text).map_err(|e| invalid(e.to_string()))?;
    if let Some(map) = doc.as_mapping_mut() {
        for key in RUNTIME_BYTE_QUANTITIES {
            let Some(v) = map.get_mut(*key) else { continue };
            let Some(text) = v.as_str() else { continue };
            let bytes = apimachinery::quantity::value(text)
                .ok()
                .and_then(|b| u64::try_from(b).ok())
                .ok_or_else(|| invalid(format!("{key}: {text:?} is not a quantity of bytes")))?;
            *v = serde_yaml_ng::Value::from(bytes);
        }
    }
    serde_yaml_ng::from_value(doc).map_err(|e| invalid(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn register_with_taints_syntax() {
        let t = parse_taint("dedicated=infra:NoSchedule").unwrap();
        assert_eq!(
            (t.key.as_str(), t.value.as_deref(), t.effect.as_str()),
            ("dedicated", Some("infra"), "NoSchedule")
        );
        let t = parse_taint("node-role.kubernetes.io/control-plane:NoSchedule").unwrap();
        assert_eq!(t.value, None);
        assert!(parse_taint("a=b").is_err());
        assert!(parse_taint("a=b:Sometimes").is_err());
        assert!(parse_taint(":NoExecute").is_err());
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("k.yaml");
        std::fs::write(
            &p,
            "registerWithTaints: [{key: a, value: b, effect: NoExecute}]\n",
        )
        .unwrap();
        assert_eq!(
            FileConfig::load(&p).unwrap().register_with_taints[0].effect,
            "NoExecute"
        );
    }

    #[test]
    fn file_defaults_and_durations() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("k.yaml");
        std::fs::write(&p, "maxPods: 20\nclusterDNS: [10.96.0.10]\nnodeStatusUpdateFrequency: 2s\nregistryMirrors: {}\n").unwrap();
        let c = FileConfig::load(&p).unwrap();
        assert_eq!(c.max_pods, 20);
        assert_eq!(c.cluster_dns, vec!["10.96.0.10"]);
        assert_eq!(c.node_status_update_frequency, Duration::from_secs(2));
        assert_eq!(c.cluster_domain, "cluster.local");
        assert!(c.service_proxy && !c.service_proxy_in_root_netns);
        assert!(c.cluster_dns_server && !c.cluster_dns_server_in_root_netns);
        assert!(c.ingress_proxy && c.ingress_http_port == 80 && c.ingress_https_port == 443);
        std::fs::write(&p, "serviceProxy: false\nserviceProxyInRootNetns: true\nclusterDNSServer: false\nclusterDNSServerInRootNetns: true\n").unwrap();
        let c = FileConfig::load(&p).unwrap();
        assert!(!c.service_proxy && c.service_proxy_in_root_netns);
        assert!(!c.cluster_dns_server && c.cluster_dns_server_in_root_netns);
        assert!(!c.authentication.anonymous.enabled && c.authentication.webhook.enabled);
        assert_eq!(c.authorization.mode, "Webhook");
        std::fs::write(
            &p,
            "authentication: {x509: {clientCAFile: /ca.crt}, anonymous: {enabled: true}}\nauthorization: {mode: AlwaysAllow}\ntlsCertFile: /k.crt\nserverTLSBootstrap: true\n",
        )
        .unwrap();
        let c = FileConfig::load(&p).unwrap();
        assert_eq!(
            c.authentication.x509.client_ca_file.as_deref(),
            Some(Path::new("/ca.crt"))
        );
        assert!(c.authentication.anonymous.enabled && c.authentication.webhook.enabled);
        assert_eq!(c.authorization.mode, "AlwaysAllow");
        assert_eq!(c.tls_cert_file.as_deref(), Some(Path::new("/k.crt")));
        assert!(c.server_tls_bootstrap);
        assert_eq!(
            c.authorization.webhook.cache_unauthorized_ttl,
            Duration::from_secs(30)
        );
        std::fs::write(
            &p,
            "authorization: {webhook: {cacheUnauthorizedTTL: 0s}}\nauthentication: {webhook: {cacheTTL: 1m}}\n",
        )
        .unwrap();
        let c = FileConfig::load(&p).unwrap();
        assert_eq!(
            c.authorization.webhook.cache_unauthorized_ttl,
            Duration::ZERO
        );
        assert_eq!(c.authentication.webhook.cache_ttl, Duration::from_secs(60));
        std::fs::write(&p, "authorization: {mode: RBAC}\n").unwrap();
        assert!(matches!(FileConfig::load(&p), Err(Error::Invalid { .. })));
        std::fs::write(&p, "cgroupDriver: systemd\n").unwrap();
        assert!(matches!(FileConfig::load(&p), Err(Error::Invalid { .. })));
    }

    #[test]
    fn eviction_settings_are_read_and_checked() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("k.yaml");
        let c = FileConfig::load(&p).err();
        assert!(c.is_some(), "a missing file is an error");
        std::fs::write(&p, "{}\n").unwrap();
        let c = FileConfig::load(&p).unwrap();
        assert_eq!(
            c.eviction_pressure_transition_period,
            Duration::from_secs(300)
        );
        assert_eq!(c.eviction_monitoring_period, Duration::from_secs(10));
        assert_eq!(
            c.eviction_hard.get("memory.available").map(String::as_str),
            Some("100Mi")
        );
        std::fs::write(
            &p,
            "evictionSoft: {memory.available: 1Gi}\nevictionSoftGracePeriod: {memory.available: 30s}\n\
             evictionPressureTransitionPeriod: 5s\nevictionMonitoringPeriod: 1s\nevictionMaxPodGracePeriod: 20\n",
        )
        .unwrap();
        let c = FileConfig::load(&p).unwrap();
        assert_eq!(
            c.eviction_pressure_transition_period,
            Duration::from_secs(5)
        );
        assert_eq!(c.eviction_monitoring_period, Duration::from_secs(1));
        assert_eq!(c.eviction_max_pod_grace_period, 20);
        std::fs::write(&p, "evictionSoft: {memory.available: 1Gi}\n").unwrap();
        let e = FileConfig::load(&p).unwrap_err().to_string();
        assert!(e.contains("no evictionSoftGracePeriod"), "{e}");
        std::fs::write(&p, "evictionMonitoringPeriod: 0s\n").unwrap();
        assert!(FileConfig::load(&p).is_err());
    }

    #[test]
    fn runtime_part_with_mirrors_and_quantities() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("kubelet.yaml");
        std::fs::write(
            &p,
            "rootDir: /tmp/x\nregistryMirrors:\n  docker.io: [\"http://127.0.0.1:5000\"]\ncontainerLogMaxSize: 1Mi\n",
        )
        .unwrap();
        let c = load_runtime_config(&p).unwrap();
        assert_eq!(c.root_dir, Path::new("/tmp/x"));
        assert_eq!(c.pod_logs_dir, Path::new("/var/log/pods"));
        assert_eq!(c.container_log_max_size, 1 << 20);
        assert_eq!(
            c.registry.registry_mirrors["docker.io"],
            vec!["http://127.0.0.1:5000"]
        );
        assert_eq!(c.binary, container_runtime::Config::default().binary);
        // A number is bytes already.
        std::fs::write(&p, "containerLogMaxSize: 4096\n").unwrap();
        assert_eq!(
            load_runtime_config(&p).unwrap().container_log_max_size,
            4096
        );
        for bad in [
            "rootDir: [",
            "containerLogMaxSize: 1X\n",
            "containerLogMaxSize: -1Mi\n",
        ] {
            std::fs::write(&p, bad).unwrap();
            assert!(
                matches!(load_runtime_config(&p), Err(Error::Invalid { .. })),
                "{bad}"
            );
        }
    }
}
