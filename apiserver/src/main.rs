//! `apiserver`: parses flags and runs the library.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{ArgAction, Parser};

// The apiserver allocates and frees many small JSON values per request;
// mimalloc handles that pattern markedly better than glibc's malloc
// (see docs/benchmarks.md; the crate's options are in the workspace's
// Cargo.toml).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The Kubernetes API server of this cluster: REST and watch on etcd.
#[derive(Debug, Parser)]
#[command(name = "apiserver", version)]
struct Flags {
    /// Comma-separated etcd endpoints.
    #[arg(
        long = "etcd-servers",
        value_delimiter = ',',
        default_value = "http://127.0.0.1:2379"
    )]
    etcd_servers: Vec<String>,
    /// Key prefix of every object in etcd.
    #[arg(long = "etcd-prefix", default_value = "/registry")]
    etcd_prefix: String,
    /// SSL Certificate Authority file used to secure etcd communication.
    #[arg(long = "etcd-cafile")]
    etcd_cafile: Option<PathBuf>,
    /// SSL certification file used to secure etcd communication.
    #[arg(long = "etcd-certfile")]
    etcd_certfile: Option<PathBuf>,
    /// SSL key file used to secure etcd communication.
    #[arg(long = "etcd-keyfile")]
    etcd_keyfile: Option<PathBuf>,
    /// Address to serve on.
    #[arg(long = "bind-address", default_value = "127.0.0.1")]
    bind_address: IpAddr,
    /// Port to serve plain, unauthenticated HTTP on (0: pick a free port
    /// and log it); off unless given. Its requests act as a cluster
    /// administrator: keep it on loopback.
    #[arg(long = "port", alias = "insecure-port")]
    port: Option<u16>,
    /// Port to serve HTTPS on, authenticated and authorized (0: off).
    #[arg(long = "secure-port", default_value_t = 6443)]
    secure_port: u16,
    /// The serving certificate (with its chain), PEM.
    #[arg(long = "tls-cert-file")]
    tls_cert_file: Option<PathBuf>,
    /// The serving certificate's private key, PEM.
    #[arg(long = "tls-private-key-file")]
    tls_private_key_file: Option<PathBuf>,
    /// Where a self-signed serving pair is made when no --tls-cert-file is
    /// given (`apiserver.crt`, `apiserver.key`).
    #[arg(long = "cert-dir", default_value = "/var/run/kubernetes")]
    cert_dir: PathBuf,
    /// Client certificates signed by this CA authenticate as their
    /// CommonName, in the groups of their Organizations.
    #[arg(long = "client-ca-file")]
    client_ca_file: Option<PathBuf>,
    /// Requests without credentials are `system:anonymous` (else 401).
    #[arg(long = "anonymous-auth", default_value_t = true, action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    anonymous_auth: bool,
    /// Static bearer tokens, CSV `token,user,uid,"group1,group2"`.
    #[arg(long = "token-auth-file")]
    token_auth_file: Option<PathBuf>,
    /// Accept bootstrap tokens (Secrets of type bootstrap.kubernetes.io/token
    /// in kube-system).
    #[arg(long = "enable-bootstrap-token-auth", default_value_t = false, action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    enable_bootstrap_token_auth: bool,
    /// The private key ServiceAccount tokens are signed with (TokenRequest).
    #[arg(long = "service-account-signing-key-file")]
    service_account_signing_key_file: Option<PathBuf>,
    /// Keys ServiceAccount tokens are checked with (repeatable).
    #[arg(long = "service-account-key-file")]
    service_account_key_file: Vec<PathBuf>,
    /// The issuer of ServiceAccount tokens (repeatable; the first is
    /// written into new tokens).
    #[arg(long = "service-account-issuer")]
    service_account_issuer: Vec<String>,
    /// What a token must be meant for to authenticate (default: the issuer).
    #[arg(long = "api-audiences", value_delimiter = ',')]
    api_audiences: Vec<String>,
    /// The keys' URL in the issuer discovery document (default: this
    /// server's /openid/v1/jwks at the advertised address).
    #[arg(long = "service-account-jwks-uri")]
    service_account_jwks_uri: Option<String>,
    /// Authorizers tried in order: AlwaysAllow, AlwaysDeny, Node, RBAC.
    #[arg(long = "authorization-mode", default_value = "AlwaysAllow")]
    authorization_mode: String,
    /// Seconds an etcd request may take before the API answers 504.
    #[arg(long = "etcd-request-timeout", default_value_t = 4)]
    etcd_request_timeout: u64,
    /// How often etcd's history is compacted (`5m0s`); 0: never.
    #[arg(long = "etcd-compaction-interval", default_value = "5m0s", value_parser = component_base::duration::parse)]
    etcd_compaction_interval: Duration,
    /// Largest accepted request body in bytes.
    #[arg(long = "max-request-bytes", default_value_t = 3 * 1024 * 1024)]
    max_request_bytes: usize,
    /// How long a client may take to send a request body (`60s`, `1m0s`).
    #[arg(long = "request-timeout", default_value = "1m0s", value_parser = component_base::duration::parse)]
    request_timeout: Duration,
    /// How long a client may take to send a request's head (`32s`).
    #[arg(long = "request-header-timeout", default_value = "32s", value_parser = component_base::duration::parse)]
    request_header_timeout: Duration,
    /// How long Events are kept after their last write (`1h0m0s`).
    #[arg(long = "event-ttl", default_value = "1h0m0s", value_parser = component_base::duration::parse)]
    event_ttl: Duration,
    /// Requests and watches one HTTP/2 connection may carry at once.
    #[arg(long = "http2-max-streams-per-connection", default_value_t = 1000)]
    http2_max_streams_per_connection: u32,
    /// Open watches one client (address and User-Agent) may hold; 0: no limit.
    #[arg(long = "max-watches-per-client", default_value_t = 1000)]
    max_watches_per_client: usize,
    /// Classify and queue requests by API Priority and Fairness.
    #[arg(long = "enable-priority-and-fairness", default_value_t = true, action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    enable_priority_and_fairness: bool,
    /// With --max-mutating-requests-inflight: the seats API Priority and
    /// Fairness shares among the priority levels.
    #[arg(long = "max-requests-inflight", default_value_t = apiserver::flowcontrol::DEFAULT_MAX_REQUESTS_INFLIGHT)]
    max_requests_inflight: u32,
    /// See --max-requests-inflight.
    #[arg(long = "max-mutating-requests-inflight", default_value_t = apiserver::flowcontrol::DEFAULT_MAX_MUTATING_REQUESTS_INFLIGHT)]
    max_mutating_requests_inflight: u32,
    /// CIDR range Services' cluster IPs are allocated from.
    #[arg(long = "service-cluster-ip-range", default_value = "10.96.0.0/12")]
    service_cluster_ip_range: String,
    /// The address the cluster reaches this apiserver at, published as the
    /// endpoint of the `kubernetes` Service (default: --bind-address, or the
    /// default route's interface address when that is 0.0.0.0).
    #[arg(long = "advertise-address")]
    advertise_address: Option<IpAddr>,
    /// Ports NodePort Services are given on every node.
    #[arg(long = "service-node-port-range", default_value = "30000-32767")]
    service_node_port_range: String,
    /// Admission plug-ins to run besides the default ones (those that run
    /// anyway may be named too).
    #[arg(long = "enable-admission-plugins", value_delimiter = ',')]
    enable_admission_plugins: Vec<String>,
    /// Admission plug-ins on by default to switch off (ServiceAccount: for
    /// a cluster without a controller-manager to make `default` accounts).
    #[arg(long = "disable-admission-plugins", value_delimiter = ',')]
    disable_admission_plugins: Vec<String>,
    /// The admission plug-ins' configuration (an `AdmissionConfiguration`;
    /// PodSecurity's defaults and exemptions).
    #[arg(long = "admission-control-config-file")]
    admission_control_config_file: Option<PathBuf>,
    /// Reach kubelets over TLS (off only for tests with a plain-HTTP
    /// stand-in kubelet).
    #[arg(long = "kubelet-https", default_value_t = true, action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    kubelet_https: bool,
    /// The client certificate the apiserver presents to kubelets.
    #[arg(long = "kubelet-client-certificate")]
    kubelet_client_certificate: Option<PathBuf>,
    /// Its key.
    #[arg(long = "kubelet-client-key")]
    kubelet_client_key: Option<PathBuf>,
    /// The CA kubelets' serving certificates must chain to (unchecked
    /// without it).
    #[arg(long = "kubelet-certificate-authority")]
    kubelet_certificate_authority: Option<PathBuf>,
    /// An `EncryptionConfiguration` (apiserver.config.k8s.io/v1): which
    /// resources are encrypted in etcd and with which keys.
    #[arg(long = "encryption-provider-config")]
    encryption_provider_config: Option<PathBuf>,
    /// The audit policy (audit.k8s.io/v1 Policy); without it nothing is
    /// audited.
    #[arg(long = "audit-policy-file")]
    audit_policy_file: Option<PathBuf>,
    /// Where audit events go, one JSON line each; `-` is standard output.
    #[arg(long = "audit-log-path", default_value = "")]
    audit_log_path: String,
    /// Megabytes of audit log before it is rotated (0: never).
    #[arg(long = "audit-log-maxsize", default_value_t = 0)]
    audit_log_maxsize: u64,
    /// Rotated audit logs kept (0: all).
    #[arg(long = "audit-log-maxbackup", default_value_t = 0)]
    audit_log_maxbackup: usize,
    /// Days a rotated audit log is kept (0: forever).
    #[arg(long = "audit-log-maxage", default_value_t = 0)]
    audit_log_maxage: u64,
    /// How often kubelets are scraped for the resource metrics API
    /// (metrics-server's flag, served here by the apiserver itself); 0: never.
    #[arg(long = "metric-resolution", default_value = "15s", value_parser = component_base::duration::parse)]
    metric_resolution: Duration,
    /// The client certificate this server presents to extension apiservers
    /// it proxies to (the front proxy's identity).
    #[arg(long = "proxy-client-cert-file")]
    proxy_client_cert_file: Option<PathBuf>,
    /// Its key.
    #[arg(long = "proxy-client-key-file")]
    proxy_client_key_file: Option<PathBuf>,
    /// The CA front-proxy client certificates chain to; published for
    /// extension apiservers in kube-system/extension-apiserver-authentication.
    #[arg(long = "requestheader-client-ca-file")]
    requestheader_client_ca_file: Option<PathBuf>,
    /// CommonNames a front-proxy client certificate may have (empty: any).
    #[arg(long = "requestheader-allowed-names", value_delimiter = ',')]
    requestheader_allowed_names: Vec<String>,
    /// Request headers that carry the user name (e.g. X-Remote-User).
    #[arg(long = "requestheader-username-headers", value_delimiter = ',')]
    requestheader_username_headers: Vec<String>,
    /// Request headers that carry the user's uid (e.g. X-Remote-Uid).
    #[arg(long = "requestheader-uid-headers", value_delimiter = ',')]
    requestheader_uid_headers: Vec<String>,
    /// Request headers that carry the groups (e.g. X-Remote-Group).
    #[arg(long = "requestheader-group-headers", value_delimiter = ',')]
    requestheader_group_headers: Vec<String>,
    /// Prefixes of request headers that carry extra user info (e.g. X-Remote-Extra-).
    #[arg(long = "requestheader-extra-headers-prefix", value_delimiter = ',')]
    requestheader_extra_headers_prefix: Vec<String>,
    /// Log filter (RUST_LOG syntax), e.g. `info,apiserver=debug`.
    #[arg(long = "v-filter", env = "RUST_LOG", default_value = "info")]
    log_filter: String,
}

/// Worker threads get 8 MiB of stack: a request's chain of futures
/// (handlers, admission, storage) is deep, and far larger in a debug build.
const WORKER_STACK: usize = 8 << 20;

fn main() -> anyhow::Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(WORKER_STACK)
        .build()?
        .block_on(run())
}

async fn run() -> anyhow::Result<()> {
    let flags = Flags::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(&flags.log_filter))
        .with_target(false)
        .init();
    let config = apiserver::Config {
        etcd_servers: flags.etcd_servers,
        etcd_prefix: flags.etcd_prefix,
        etcd_tls: (flags.etcd_cafile.is_some() || flags.etcd_certfile.is_some()).then_some(
            apiserver::storage::etcd::EtcdTls {
                ca_file: flags.etcd_cafile,
                cert_file: flags.etcd_certfile,
                key_file: flags.etcd_keyfile,
            },
        ),
        bind_address: flags.bind_address,
        port: flags.port,
        secure_port: (flags.secure_port != 0).then_some(flags.secure_port),
        tls: apiserver::serve::tls::TlsOptions {
            cert_file: flags.tls_cert_file,
            key_file: flags.tls_private_key_file,
            cert_dir: flags.cert_dir,
            client_ca_file: flags.client_ca_file,
            requestheader_client_ca_file: flags.requestheader_client_ca_file.clone(),
            alternate_names: Vec::new(),
        },
        authentication: apiserver::authentication::Options {
            anonymous: flags.anonymous_auth,
            token_auth_file: flags.token_auth_file,
            bootstrap_tokens: flags.enable_bootstrap_token_auth,
            service_accounts: apiserver::authentication::service_account::Options {
                signing_key_file: flags.service_account_signing_key_file,
                key_files: flags.service_account_key_file,
                issuers: flags.service_account_issuer,
                api_audiences: flags.api_audiences,
                jwks_uri: flags.service_account_jwks_uri,
            },
        },
        authorization_modes: apiserver::authorization::Mode::parse_list(&flags.authorization_mode)
            .map_err(|e| anyhow::anyhow!("--authorization-mode: {e}"))?,
        etcd_timeout: Duration::from_secs(flags.etcd_request_timeout),
        etcd_compaction_interval: flags.etcd_compaction_interval,
        max_body_bytes: flags.max_request_bytes,
        request_timeout: flags.request_timeout,
        max_watches_per_client: flags.max_watches_per_client,
        enable_priority_and_fairness: flags.enable_priority_and_fairness,
        max_requests_inflight: flags
            .max_requests_inflight
            .saturating_add(flags.max_mutating_requests_inflight),
        header_read_timeout: flags.request_header_timeout,
        http2_max_streams_per_connection: flags.http2_max_streams_per_connection,
        event_ttl: flags.event_ttl,
        service_node_port_range: apiserver::admission::service_node_port::PortRange::parse(
            &flags.service_node_port_range,
        )
        .with_context(|| {
            format!(
                "--service-node-port-range={} is not a port range like 30000-32767",
                flags.service_node_port_range
            )
        })?,
        service_cluster_ip_range: apiserver::admission::service_ip::Ipv4Range::parse(
            &flags.service_cluster_ip_range,
        )
        .with_context(|| {
            format!(
                "--service-cluster-ip-range={} is not an IPv4 CIDR between /8 and /30",
                flags.service_cluster_ip_range
            )
        })?,
        advertise_address: flags.advertise_address,
        admission: apiserver::admission::Plugins::from_flags(
            &flags.enable_admission_plugins,
            &flags.disable_admission_plugins,
        )?,
        pod_security: match &flags.admission_control_config_file {
            Some(path) => apiserver::admission::pod_security::Configuration::load(path)
                .context("--admission-control-config-file")?,
            None => Default::default(),
        },
        kubelet: apiserver::kubelet_client::Options {
            https: flags.kubelet_https,
            client_certificate: flags.kubelet_client_certificate,
            client_key: flags.kubelet_client_key,
            certificate_authority: flags.kubelet_certificate_authority,
        },
        encryption_provider_config: flags.encryption_provider_config,
        audit: apiserver::audit::Options {
            policy_file: flags.audit_policy_file,
            log: apiserver::audit::backend::LogOptions {
                path: flags.audit_log_path,
                max_size_mb: flags.audit_log_maxsize,
                max_backup: flags.audit_log_maxbackup,
                max_age_days: flags.audit_log_maxage,
            },
        },
        metric_resolution: flags.metric_resolution,
        aggregator: apiserver::aggregator::Options {
            proxy_client_cert_file: flags.proxy_client_cert_file,
            proxy_client_key_file: flags.proxy_client_key_file,
            requestheader: apiserver::aggregator::RequestHeaderOptions {
                client_ca_file: flags.requestheader_client_ca_file,
                allowed_names: flags.requestheader_allowed_names,
                username_headers: flags.requestheader_username_headers,
                uid_headers: flags.requestheader_uid_headers,
                group_headers: flags.requestheader_group_headers,
                extra_headers_prefix: flags.requestheader_extra_headers_prefix,
            },
        },
    };
    let shutdown = async {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    };
    let server = apiserver::start(config, shutdown)
        .await
        .context("starting the apiserver")?;
    if let Some(addr) = server.secure_addr() {
        println!("apiserver serving on https://{addr}");
    }
    if let Some(addr) = server.plain_addr() {
        println!("apiserver serving on http://{addr}");
    }
    server.wait().await.context("serving")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    /// clap checks a flag definition only when it parses (a name or group
    /// used twice panics at start-up): check it in the tests instead.
    #[test]
    fn flags_are_well_formed() {
        <super::Flags as clap::CommandFactory>::command().debug_assert();
    }
}
