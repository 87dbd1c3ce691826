//! The node agent: what `kubelet --kubeconfig=...` runs.
//!
//! ```text
//! open the runtime (state dir, cgroups, images)
//! register the Node ──▶ node::run      (status, Lease heartbeat, re-register)
//! wait for spec.podCIDR ──▶ CNI config  (from the node IPAM controller)
//! routes::run                           (host-gw routes to other nodes' podCIDRs)
//! proxy::run                            (iptables NAT for Services' ClusterIPs)
//! cluster_dns::run                      (cluster DNS on the clusterDNS IP)
//! network::policy::run                  (iptables filter for NetworkPolicies)
//! ingress::run                          (HTTP(S) ingress proxy on the node's address)
//! server::serve :10250                  (over TLS, callers checked: logs, exec, attach, ...;
//!                                        serverTLSBootstrap: certificate::serving)
//! eviction::manager::run                (node pressure: conditions, evict one pod a cycle)
//! pod::run                              (a worker per pod bound to this node)
//! ```

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Node;
use kube::api::Api;
use kube::runtime::watcher::{self, watcher};
use kube::runtime::WatchStreamExt;

use crate::config::{Config, FileConfig};
use crate::network::{Network, NetworkConfig};
use container_runtime::Runtime;

/// The node agent's command-line settings (upstream flag names).
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `--kubeconfig`.
    pub kubeconfig: Option<PathBuf>,
    /// `--bootstrap-kubeconfig`.
    pub bootstrap_kubeconfig: Option<PathBuf>,
    /// `--rotate-certificates` (overrides `rotateCertificates`).
    pub rotate_certificates: Option<bool>,
    /// `--hostname-override`.
    pub hostname_override: Option<String>,
    /// `--node-ip`.
    pub node_ip: Option<IpAddr>,
    /// `--root-dir` (overrides the file's `rootDir`).
    pub root_dir: Option<PathBuf>,
    /// `--config`.
    pub config: Option<PathBuf>,
    /// `--port`.
    pub port: u16,
    /// `--tls-cert-file`.
    pub tls_cert_file: Option<PathBuf>,
    /// `--tls-private-key-file`.
    pub tls_private_key_file: Option<PathBuf>,
    /// `--cert-dir`.
    pub cert_dir: Option<PathBuf>,
    /// `--client-ca-file`.
    pub client_ca_file: Option<PathBuf>,
    /// `--anonymous-auth`.
    pub anonymous_auth: Option<bool>,
    /// `--authorization-mode`.
    pub authorization_mode: Option<String>,
    /// `--register-with-taints` (overrides `registerWithTaints`).
    pub register_with_taints: Option<Vec<k8s_openapi::api::core::v1::Taint>>,
}

/// Builds the settings, the runtime and the client from the flags, then runs
/// the node agent on a tokio runtime until the process is stopped.
pub fn main(opts: Options) -> anyhow::Result<()> {
    let mut file = match &opts.config {
        Some(p) => FileConfig::load(p)?,
        None => FileConfig::default(),
    };
    if let Some(taints) = &opts.register_with_taints {
        file.register_with_taints = taints.clone();
    }
    let mut rt_cfg = match &opts.config {
        Some(p) => crate::config::load_runtime_config(p)?,
        None => container_runtime::Config::default(),
    };
    if let Some(dir) = &opts.root_dir {
        rt_cfg.root_dir = dir.clone();
    }
    let node_name = match &opts.hostname_override {
        Some(n) => n.trim().to_lowercase(),
        None => nix::unistd::gethostname()
            .context("reading the hostname")?
            .to_string_lossy()
            .trim()
            .to_lowercase(),
    };
    if node_name.is_empty() {
        anyhow::bail!("the node name is empty: pass --hostname-override");
    }
    if opts.bootstrap_kubeconfig.is_some() && opts.kubeconfig.is_none() {
        anyhow::bail!("--bootstrap-kubeconfig needs --kubeconfig (the file it writes)");
    }
    let apiserver = match opts
        .kubeconfig
        .as_ref()
        .filter(|p| p.exists())
        .or(opts.bootstrap_kubeconfig.as_ref())
    {
        Some(p) => kube::config::Kubeconfig::read_from(p)
            .ok()
            .and_then(|kc| kc.clusters.into_iter().next())
            .and_then(|c| c.cluster)
            .and_then(|c| c.server)
            .and_then(|s| s.parse::<http::Uri>().ok())
            .and_then(|u| Some(format!("{}:{}", u.host()?, u.port_u16().unwrap_or(443)))),
        None => None,
    };
    // Flags win over the file, as upstream's kubelet.
    let tls = component_base::tls::ServingOptions {
        cert_file: opts.tls_cert_file.clone().or(file.tls_cert_file.clone()),
        key_file: opts
            .tls_private_key_file
            .clone()
            .or(file.tls_private_key_file.clone()),
        cert_dir: opts
            .cert_dir
            .clone()
            .unwrap_or_else(|| rt_cfg.root_dir.join("pki")),
        pair_name: "kubelet".into(),
        client_ca_file: opts.client_ca_file.clone().or(file
            .authentication
            .x509
            .client_ca_file
            .clone()),
        alternate_names: opts
            .node_ip
            .map(|ip| ip.to_string())
            .into_iter()
            .chain([node_name.clone()])
            .collect(),
        extra_client_ca_files: Vec::new(),
    };
    let mode = opts
        .authorization_mode
        .as_deref()
        .unwrap_or(&file.authorization.mode);
    let auth = crate::server::auth::AuthOptions {
        anonymous: opts
            .anonymous_auth
            .unwrap_or(file.authentication.anonymous.enabled),
        webhook: file.authentication.webhook.enabled,
        mode: mode
            .parse()
            .map_err(|e| anyhow::anyhow!("--authorization-mode: {e}"))?,
        token_ttl: file.authentication.webhook.cache_ttl,
        allowed_ttl: file.authorization.webhook.cache_authorized_ttl,
        denied_ttl: file.authorization.webhook.cache_unauthorized_ttl,
    };
    let cfg = Config {
        tls,
        auth,
        node_name,
        node_ip: opts.node_ip,
        root_dir: rt_cfg.root_dir.clone(),
        port: opts.port,
        file,
        config_path: opts.config.clone(),
        apiserver,
    };
    std::fs::create_dir_all(&cfg.root_dir)
        .with_context(|| format!("creating {}", cfg.root_dir.display()))?;
    let runtime = Runtime::new(rt_cfg).context("opening the container runtime")?;
    tracing::info!(helpers = %runtime.config().binary.display(), "container runtime helpers");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting tokio")?;
    let rotate = opts
        .rotate_certificates
        .unwrap_or(cfg.file.rotate_certificates);
    rt.block_on(async move {
        let client = client(&opts, &cfg, rotate).await?;
        run(client, cfg, runtime).await
    })
}

/// The API client: after the TLS bootstrap when there is a bootstrap
/// kubeconfig, and following rotations of the client certificate when
/// rotation is on and the certificate is the kubelet's own
/// ([`crate::certificate`]).
async fn client(opts: &Options, cfg: &Config, rotate: bool) -> anyhow::Result<kube::Client> {
    let cert_dir = cfg.tls.cert_dir.clone();
    if let Some(kubeconfig) = &opts.kubeconfig {
        if opts.bootstrap_kubeconfig.is_some() {
            crate::certificate::bootstrap::load_client_config(
                &crate::certificate::bootstrap::Options {
                    kubeconfig: kubeconfig.clone(),
                    bootstrap_kubeconfig: opts.bootstrap_kubeconfig.clone(),
                    cert_dir: cert_dir.clone(),
                    node_name: cfg.node_name.clone(),
                },
            )
            .await
            .context("TLS bootstrap")?;
        }
    }
    let endpoints = &cfg.file.api_server_endpoints;
    let client = crate::failover::client(opts.kubeconfig.as_deref(), endpoints).await?;
    let current =
        crate::certificate::store::current_path(&cert_dir, crate::certificate::store::CLIENT);
    match &opts.kubeconfig {
        Some(kubeconfig) if rotate && current.exists() => {
            let rotating = crate::certificate::rotation::RotatingClient::new(client);
            tokio::spawn(crate::certificate::rotation::run(
                crate::certificate::rotation::Rotation {
                    kubeconfig: kubeconfig.clone(),
                    cert_dir,
                    node_name: cfg.node_name.clone(),
                    api_server_endpoints: endpoints.clone(),
                },
                rotating.clone(),
            ));
            Ok(rotating.client())
        }
        _ => Ok(client),
    }
}

/// Runs the kubelet until the process is stopped.
pub async fn run(client: kube::Client, cfg: Config, runtime: Runtime) -> anyhow::Result<()> {
    let cfg = Arc::new(cfg);
    let runtime = Arc::new(runtime);
    let thresholds = crate::eviction::thresholds::parse(&cfg.file)?;
    let eviction = Arc::new(crate::eviction::Shared::default());
    let node = crate::node::register(&client, &cfg, &runtime, &eviction).await?;
    let node_ip = node
        .status
        .as_ref()
        .and_then(|s| s.addresses.as_ref())
        .and_then(|a| a.iter().find(|a| a.type_ == "InternalIP"))
        .map(|a| a.address.clone())
        .unwrap_or_else(|| "127.0.0.1".into());
    let registered = node
        .status
        .as_ref()
        .and_then(|s| s.addresses.clone())
        .unwrap_or_default();
    let (addresses_tx, addresses) = tokio::sync::watch::channel(registered);
    tokio::spawn(crate::node::run(
        client.clone(),
        cfg.clone(),
        runtime.clone(),
        eviction.clone(),
        addresses_tx,
    ));
    // The serving certificate is asked for as soon as the Node has its
    // addresses, as upstream's kubelet, not when :10250 starts (after the
    // podCIDR): its approval may take a human.
    let serving_cert = cfg.file.server_tls_bootstrap.then(|| {
        crate::certificate::serving::start(crate::certificate::serving::Options {
            cert_dir: cfg.tls.cert_dir.clone(),
            node_name: cfg.node_name.clone(),
            client: client.clone(),
            addresses,
        })
    });

    let network = Arc::new(Network::new(NetworkConfig {
        cni_bin_dirs: cfg
            .file
            .cni_bin_dir
            .clone()
            .map(|d| vec![d])
            .unwrap_or_else(|| vec!["/usr/lib/cni".into(), "/opt/cni/bin".into()]),
        cni_conf_dir: cfg
            .file
            .cni_conf_dir
            .clone()
            .unwrap_or_else(|| cfg.root_dir.join("cni").join("net.d")),
        state_dir: cfg.root_dir.join("cni").join("state"),
        plugin: cfg.file.network_plugin,
        ..NetworkConfig::default()
    }));
    let pod_cidr = wait_for_pod_cidr(&client, &cfg.node_name).await;
    network.ensure_config(&pod_cidr)?;
    match crate::network::enable_forwarding_outside_root_netns() {
        Ok(true) => tracing::info!("IP forwarding enabled in the node's network namespace"),
        Ok(false) => tracing::info!(
            "running in the host's network namespace: forwarding left as the host has it"
        ),
        Err(e) => tracing::warn!(error = %e, "could not enable forwarding"),
    }
    // Masquerading pods' outbound traffic is NAT: like the service proxy,
    // only in a node's own network namespace unless the config allows it.
    let egress = pod_cidr.parse().ok().filter(|_| {
        cfg.file.masquerade_egress
            && (cfg.file.service_proxy_in_root_netns
                || !crate::network::forwarding::in_root_netns().unwrap_or(true))
    });
    tokio::spawn(routes(
        client.clone(),
        cfg.node_name.clone(),
        network.clone(),
        egress,
    ));
    let dns = crate::cluster_dns::DnsConfig::from_file(&cfg.file);
    let services = crate::services::ServiceView::start(client.clone());
    tokio::spawn(crate::proxy::run(
        services.clone(),
        crate::proxy::ProxyConfig {
            enabled: cfg.file.service_proxy,
            allow_root_netns: cfg.file.service_proxy_in_root_netns,
            pod_cidr: pod_cidr.parse().ok(),
            node_local_ips: dns.served_ip().into_iter().collect(),
            node_name: cfg.node_name.clone(),
        },
    ));
    tokio::spawn(crate::cluster_dns::run(services.clone(), dns));
    if cfg.file.network_policy {
        tokio::spawn(crate::network::policy::run(
            client.clone(),
            cfg.node_name.clone(),
            cfg.file.service_proxy_in_root_netns,
        ));
    }
    tokio::spawn(crate::ingress::run(
        client.clone(),
        services.clone(),
        crate::ingress::IngressConfig {
            enabled: cfg.file.ingress_proxy,
            addresses: node_ip.parse().ok().into_iter().collect(),
            http_port: cfg.file.ingress_http_port,
            https_port: cfg.file.ingress_https_port,
        },
    ));

    let recorder = component_base::events::Recorder::with_host(
        client.clone(),
        "kubelet",
        cfg.node_name.clone(),
    );
    tokio::spawn(crate::volumes::local_path::Provisioner::run(
        client.clone(),
        cfg.node_name.clone(),
        cfg.root_dir.clone(),
        recorder.clone(),
    ));
    let ctx = Arc::new(crate::pod::Context {
        client: client.clone(),
        runtime: runtime.clone(),
        images: runtime.clone(),
        config: cfg.clone(),
        node_ip,
        network,
        recorder,
        pods: Default::default(),
        tokens: crate::volumes::service_account_token::TokenManager::new(client.clone()),
        objects: crate::volumes::objects::ObjectCaches::new(
            client.clone(),
            cfg.file.config_map_and_secret_change_detection_strategy,
        ),
        services,
        eviction: eviction.clone(),
        startup: Default::default(),
    });
    let pods_ctx = ctx.clone();
    tokio::spawn(crate::eviction::manager::run(
        crate::eviction::manager::Manager::new(
            thresholds,
            cfg.file.eviction_pressure_transition_period,
        ),
        crate::eviction::manager::Deps {
            shared: eviction,
            machine: Arc::new(crate::eviction::signals::NodeMachine::new(
                runtime.clone(),
                cfg.root_dir.clone(),
            )),
            pods: Arc::new(move || {
                let pods = pods_ctx.known_pods();
                pods.iter()
                    .map(|p| k8s_openapi::api::core::v1::Pod::clone(p))
                    .collect()
            }),
            recorder: ctx.recorder.clone(),
            node_name: cfg.node_name.clone(),
            period: cfg.file.eviction_monitoring_period,
            max_pod_grace: cfg.file.eviction_max_pod_grace_period,
        },
    ));
    let addr = SocketAddr::new(IpAddr::from([0, 0, 0, 0]), cfg.port);
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let tls = match serving_cert {
        Some(cert) => component_base::tls::server_config_dynamic(&cfg.tls, cert),
        None => component_base::tls::server_config(&cfg.tls),
    };
    let serving = crate::server::Serving {
        tls: tls.context("the kubelet API's TLS settings")?,
        guard: crate::server::auth::Guard::new(
            cfg.auth.clone(),
            &cfg.node_name,
            Some(client.clone()),
        ),
    };
    tracing::info!(%addr, auth = ?cfg.auth, "serving the kubelet API over TLS");
    let server = crate::server::serve(listener, runtime.clone(), ctx.clone(), serving);
    tokio::spawn(server);
    let reaper = runtime.clone();
    tokio::spawn(async move {
        loop {
            reaper.reap();
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
    });
    tokio::spawn(image_gc(runtime.clone(), &cfg.file));
    crate::pod::run(ctx).await;
    Ok(())
}

/// Upstream's image GC: every 5 minutes, if the image store's disk is fuller
/// than the high threshold, unused images go, least recently used first.
fn image_gc(runtime: Arc<Runtime>, file: &FileConfig) -> impl std::future::Future<Output = ()> {
    let policy = container_runtime::images::gc::GcPolicy {
        high_threshold_percent: file.image_gc_high_threshold_percent,
        low_threshold_percent: file.image_gc_low_threshold_percent,
    };
    async move {
        if policy.high_threshold_percent >= 100 {
            return;
        }
        let mut every = tokio::time::interval(Duration::from_secs(300));
        every.tick().await;
        loop {
            every.tick().await;
            let rt = runtime.clone();
            match tokio::task::spawn_blocking(move || rt.gc_images(Some(policy))).await {
                Ok(Ok(r)) if !r.images.is_empty() => {
                    tracing::info!(images = ?r.images, layers = r.layers.len(), "image GC removed unused images")
                }
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "image GC failed"),
                Err(e) => tracing::warn!(error = %e, "image GC task failed"),
            }
        }
    }
}

/// Waits until the node IPAM controller gave us a podCIDR.
async fn wait_for_pod_cidr(client: &kube::Client, node: &str) -> String {
    let api: Api<Node> = Api::all(client.clone());
    let mut logged = false;
    loop {
        if let Ok(Some(n)) = api.get_opt(node).await {
            if let Some(c) = n.spec.and_then(|s| s.pod_cidr).filter(|c| !c.is_empty()) {
                tracing::info!(pod_cidr = %c, "podCIDR assigned");
                return c;
            }
        }
        if !logged {
            tracing::info!("waiting for a podCIDR (the controller-manager's nodeipam assigns it)");
            logged = true;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Keeps host-gw routes to every other node's podCIDR via its InternalIP,
/// and, given this node's podCIDR, the egress masquerade that spares every
/// podCIDR ([`crate::network::egress`]).
async fn routes(
    client: kube::Client,
    me: String,
    network: Arc<Network>,
    egress: Option<crate::network::config::Cidr>,
) {
    let api: Api<Node> = Api::all(client);
    let mut stream = watcher(api, watcher::Config::default())
        .default_backoff()
        .boxed();
    let mut nodes: std::collections::BTreeMap<String, (IpAddr, String)> = Default::default();
    // Level-triggered: a flushed table or a deleted route comes back at the
    // next resync even when no node changes.
    let mut resync = tokio::time::interval(crate::proxy::RESYNC);
    let mut synced_once = false;
    loop {
        let changed = tokio::select! {
            ev = stream.next() => match ev {
                Some(ev) => note_node(&mut nodes, &me, ev),
                None => return,
            },
            _ = resync.tick() => synced_once,
        };
        if changed {
            synced_once = true;
            let routes: Vec<(IpAddr, String)> = nodes.values().cloned().collect();
            let net = network.clone();
            let cidrs: Vec<crate::network::config::Cidr> =
                routes.iter().filter_map(|(_, c)| c.parse().ok()).collect();
            match tokio::task::spawn_blocking(move || net.sync_routes(&routes)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "syncing routes to other nodes failed"),
                Err(e) => tracing::warn!(error = %e, "route sync task failed"),
            }
            if let Some(own) = egress {
                let synced = tokio::task::spawn_blocking(move || {
                    crate::network::egress::sync(&crate::proxy::SystemIptables, &own, &cidrs)
                })
                .await;
                match synced {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => {
                        tracing::warn!(error = %e, "syncing the egress masquerade failed")
                    }
                    Err(e) => tracing::warn!(error = %e, "egress sync task failed"),
                }
            }
        }
    }
}

/// Takes one watch event into the other nodes' routes; true when they
/// changed (or the first list is complete).
fn note_node(
    nodes: &mut std::collections::BTreeMap<String, (IpAddr, String)>,
    me: &str,
    ev: Result<watcher::Event<Node>, watcher::Error>,
) -> bool {
    match ev {
        Ok(watcher::Event::Apply(n)) | Ok(watcher::Event::InitApply(n)) => {
            let name = n.metadata.name.clone().unwrap_or_default();
            match (name != me, node_route(&n)) {
                (true, Some(e)) => nodes.insert(name, e.clone()) != Some(e),
                _ => nodes.remove(&name).is_some(),
            }
        }
        Ok(watcher::Event::Delete(n)) => nodes
            .remove(n.metadata.name.as_deref().unwrap_or(""))
            .is_some(),
        Ok(watcher::Event::InitDone) => true,
        Ok(watcher::Event::Init) => false,
        Err(e) => {
            tracing::warn!(error = %e, "watching nodes failed; retrying");
            false
        }
    }
}

fn node_route(n: &Node) -> Option<(IpAddr, String)> {
    let cidr = n
        .spec
        .as_ref()?
        .pod_cidr
        .clone()
        .filter(|c| !c.is_empty())?;
    let ip = n
        .status
        .as_ref()?
        .addresses
        .as_ref()?
        .iter()
        .find(|a| a.type_ == "InternalIP")?
        .address
        .parse()
        .ok()?;
    Some((ip, cidr))
}

impl crate::server::PodSource for crate::pod::Context {
    fn pods(&self) -> Vec<k8s_openapi::api::core::v1::Pod> {
        let pods = self.known_pods();
        pods.iter()
            .map(|p| k8s_openapi::api::core::v1::Pod::clone(p))
            .collect()
    }

    fn startup_traces(&self) -> Vec<crate::pod::startup_trace::Trace> {
        self.startup.list()
    }
}
