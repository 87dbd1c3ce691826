//! Pod networking: every pod gets an IP from its node's podCIDR, reachable
//! from every other pod of the cluster without NAT.
//!
//! Where it sits in the life of a pod: the agent waits for the Node's
//! `spec.podCIDR` (given by the controller-manager's node IPAM), writes the
//! CNI configuration ([`Network::ensure_config`]) and keeps host-gw routes to
//! the other nodes ([`Network::sync_routes`]). When a pod's sandbox (its
//! network namespace, held by the runtime) exists, [`Network::setup_pod`]
//! attaches it and returns its IP, which goes into `status.podIP` and the
//! pod's `/etc/hosts` ([`hosts_file`], [`resolv_conf`](fn@resolv_conf)); when the sandbox is
//! removed, [`Network::teardown_pod`] detaches it and frees the IP.
//!
//! The work is done by the standard CNI plugins (Debian's
//! `containernetworking-plugins`): `loopback`, then the list `bridge`
//! (+ `host-local` IPAM) and `portmap` for `hostPort`s. We are the CNI
//! *runtime*: we find and execute them per the specification ([`cni`]),
//! remember each attachment's result ([`state`]) and make the list from the
//! podCIDR ([`config`]).
//!
//! Namespaces: the plugins, `ip` and `iptables` run as children of the
//! calling thread, and the built-in network's netlink sockets are opened by
//! it, so all act in the kubelet's network namespace, which is the node's.
//! In the lab a node is a network namespace and its kubelet runs there
//! (`nsenter --net=/run/netns/<node> kubelet ...`), so the bridge,
//! the veths, the routes and portmap's rules all stay inside it; only the
//! filesystem is shared between kubelets, hence the per-kubelet
//! configuration and IPAM directories. The bridge plugin, as gateway, turns
//! on forwarding in the namespace it runs in: a kubelet in the host's own
//! network namespace (a VM install) makes that host a router, as upstream's
//! does; the project's lab and tests never do that (see [`forwarding`]).
//!
//! Blocking: everything here runs processes and waits for them; call it from
//! `tokio::task::spawn_blocking`. Calls for one sandbox must not overlap
//! (the pod worker serialises them); different sandboxes may run in
//! parallel, the plugins lock their own state.

pub mod cni;
pub mod config;
pub mod egress;
pub mod forwarding;
pub mod kubenet;
pub mod policy;
pub mod resolv_conf;
pub mod routes;
pub mod state;

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use cni::{Exec, Invocation, Op, ResultView};
use config::{Cidr, ListParams, CONFLIST_FILE};
use state::{Attachment, Store};

pub use forwarding::enable_forwarding_outside_root_netns;
pub use resolv_conf::{hosts_file, resolv_conf};

/// Errors of pod networking.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A plugin failed and said why (the spec's error object).
    #[error("CNI plugin {} {op} failed: {msg}{} (code {code}: {})", plugin.display(), details_suffix(details), cni::describe_code(*code))]
    Plugin {
        /// The executable.
        plugin: PathBuf,
        /// `ADD`, `DEL` or `CHECK`.
        op: &'static str,
        /// The error code: 0-99 are defined by the spec (11: try again later).
        code: u32,
        /// Short message.
        msg: String,
        /// Longer explanation, possibly empty.
        details: String,
    },
    /// A plugin failed without a usable error object.
    #[error("CNI plugin {} {op} exited with {status}: {output}", plugin.display())]
    PluginFailed {
        /// The executable.
        plugin: PathBuf,
        /// `ADD`, `DEL` or `CHECK`.
        op: &'static str,
        /// Exit status.
        status: String,
        /// What it printed (stdout and stderr, truncated).
        output: String,
    },
    /// No executable for a plugin type in the binary directories.
    #[error(
        "CNI plugin {plugin:?} not found in {dirs:?} (is containernetworking-plugins installed?)"
    )]
    PluginNotFound {
        /// The `type` asked for.
        plugin: String,
        /// Where we looked.
        dirs: Vec<PathBuf>,
    },
    /// A program could not be started or waited for.
    #[error("running {}: {source}", path.display())]
    Exec {
        /// The executable.
        path: PathBuf,
        /// OS error.
        #[source]
        source: std::io::Error,
    },
    /// A plugin ran too long and was killed.
    #[error("CNI plugin {} did not finish within {after:?} and was killed", plugin.display())]
    Timeout {
        /// The executable.
        plugin: PathBuf,
        /// The limit.
        after: Duration,
    },
    /// A plugin's result could not be used (not JSON, no IP).
    #[error("CNI plugin {plugin}: unusable result: {reason}")]
    BadResult {
        /// The plugin or network.
        plugin: String,
        /// What is wrong.
        reason: String,
    },
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// OS error.
        #[source]
        source: std::io::Error,
    },
    /// A CIDR (podCIDR, route destination) is malformed.
    #[error("invalid CIDR {cidr:?}: {reason}")]
    BadCidr {
        /// The text.
        cidr: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// The configuration list does not exist yet.
    #[error("no CNI configuration at {} (the node has no podCIDR yet?)", path.display())]
    NoConfig {
        /// Where it should be.
        path: PathBuf,
    },
    /// A configuration list or attachment record is malformed.
    #[error("{}: {reason}", path.display())]
    BadConfig {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A sandbox id that cannot be a file name.
    #[error("invalid sandbox id {0:?}")]
    BadSandboxId(String),
    /// A netns path that is not UTF-8 (CNI_NETNS is passed as text).
    #[error("network namespace path {} is not valid UTF-8", .0.display())]
    BadNetns(PathBuf),
    /// An `ip` command failed.
    #[error("`{command}` failed ({status}): {stderr}")]
    Command {
        /// The command line.
        command: String,
        /// Exit status.
        status: String,
        /// Its error output.
        stderr: String,
    },
    /// The kernel refused a netlink request of the built-in network
    /// ([`kubenet::netlink`]).
    #[error("{op}: {source}")]
    Netlink {
        /// The request, in the words of the `ip` command that does the same.
        op: String,
        /// The kernel's errno (or why its answer could not be read).
        #[source]
        source: std::io::Error,
    },
    /// Several independent changes failed (route sync).
    #[error("{} failures: {}", .0.len(), .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "))]
    Several(Vec<Error>),
}

fn details_suffix(d: &str) -> String {
    if d.is_empty() {
        String::new()
    } else {
        format!(": {d}")
    }
}

impl Error {
    /// The plugin asked to be called again later (CNI error code 11).
    pub fn is_try_again(&self) -> bool {
        matches!(self, Error::Plugin { code: 11, .. })
    }
}

/// Where the plugins and files are, and the shape of the pod network.
#[derive(Debug, Clone)]
pub struct NetworkConfig {
    /// Directories searched for plugin executables (and `CNI_PATH`).
    pub cni_bin_dirs: Vec<PathBuf>,
    /// Where the configuration list is written.
    pub cni_conf_dir: PathBuf,
    /// Our own state: attachment records (`results/`) and host-local's
    /// allocations (`ipam/<network name>/`).
    pub state_dir: PathBuf,
    /// The network name in the list (host-local's subdirectory, portmap's
    /// chain names).
    pub network_name: String,
    /// The bridge device in the node's netns.
    pub bridge: String,
    /// MTU of the bridge and the pods' interfaces.
    pub mtu: u32,
    /// Masquerade what pods send outside the podCIDR. Off: pod-to-pod
    /// traffic across nodes must keep its source address; turn it on only
    /// where pods need to reach networks that do not route the podCIDRs.
    pub ip_masq: bool,
    /// Hairpin mode on the bridge ports (a pod reaching itself through a
    /// Service VIP).
    pub hairpin_mode: bool,
    /// The interface name inside pods.
    pub ifname: String,
    /// The route protocol number marking our host-gw routes.
    pub route_protocol: u8,
    /// How long one plugin may run.
    pub plugin_timeout: Duration,
    /// Who attaches pods: the CNI plugins of the list, or the kubelet
    /// itself ([`kubenet`]).
    pub plugin: NetworkPlugin,
}

/// Who attaches pods to the network (`networkPlugin` in the config file).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NetworkPlugin {
    /// The standard CNI plugins of the configuration list, as executables.
    #[default]
    Cni,
    /// The kubelet's built-in bridge and host-local addresses ([`kubenet`]).
    Kubenet,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        NetworkConfig {
            cni_bin_dirs: vec!["/usr/lib/cni".into(), "/opt/cni/bin".into()],
            cni_conf_dir: "/etc/cni/net.d".into(),
            state_dir: "/var/lib/kubelet/cni".into(),
            network_name: "kubelet".into(),
            bridge: "cni0".into(),
            mtu: 1500,
            ip_masq: false,
            hairpin_mode: true,
            ifname: "eth0".into(),
            route_protocol: routes::DEFAULT_ROUTE_PROTOCOL,
            plugin_timeout: Duration::from_secs(60),
            plugin: NetworkPlugin::Cni,
        }
    }
}

/// Identifies the pod to the plugins (`CNI_ARGS`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodRef {
    /// `metadata.namespace`.
    pub namespace: String,
    /// `metadata.name`.
    pub name: String,
    /// `metadata.uid`.
    pub uid: String,
}

/// One `hostPort` of the pod.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortMapping {
    /// The port in the pod.
    pub container_port: u16,
    /// The port on the node.
    pub host_port: u16,
    /// `tcp`, `udp` or `sctp`.
    pub protocol: String,
    /// Node address to bind to; empty for all.
    pub host_ip: String,
}

/// What a pod got from the network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodNetwork {
    /// The pod IP (IPv4 if it has one).
    pub ip: IpAddr,
    /// All its addresses.
    pub ips: Vec<IpAddr>,
    /// Its default gateway (the node's bridge).
    pub gateway: Option<IpAddr>,
}

/// The kubelet's CNI runtime.
#[derive(Debug)]
pub struct Network {
    cfg: NetworkConfig,
    exec: Exec,
    store: Store,
    /// Route syncs read then change the table: two at once could undo each
    /// other.
    routes: Mutex<()>,
}

impl Network {
    /// A network runtime with the given directories; nothing is touched yet.
    pub fn new(cfg: NetworkConfig) -> Network {
        let exec = Exec {
            bin_dirs: cfg.cni_bin_dirs.clone(),
            timeout: cfg.plugin_timeout,
        };
        let store = Store::new(cfg.state_dir.join("results"));
        Network {
            cfg,
            exec,
            store,
            routes: Mutex::new(()),
        }
    }

    /// The configuration this runtime was made with.
    pub fn config(&self) -> &NetworkConfig {
        &self.cfg
    }

    /// The path of the configuration list.
    pub fn conflist_path(&self) -> PathBuf {
        self.cfg.cni_conf_dir.join(CONFLIST_FILE)
    }

    /// host-local's allocation directory for our network (one file per
    /// allocated IP).
    pub fn ipam_dir(&self) -> PathBuf {
        self.cfg.state_dir.join("ipam").join(&self.cfg.network_name)
    }

    /// Writes the configuration list for `pod_cidr` if it is absent or
    /// different. Idempotent.
    pub fn ensure_config(&self, pod_cidr: &str) -> Result<(), Error> {
        let cidr: Cidr = pod_cidr.parse()?;
        let data_dir = self.cfg.state_dir.join("ipam");
        let list = config::conflist(
            &cidr,
            &ListParams {
                name: &self.cfg.network_name,
                bridge: &self.cfg.bridge,
                mtu: self.cfg.mtu,
                ip_masq: self.cfg.ip_masq,
                hairpin_mode: self.cfg.hairpin_mode,
                ipam_data_dir: &data_dir,
            },
        );
        for dir in [&data_dir, &self.cfg.state_dir.join("results")] {
            std::fs::create_dir_all(dir).map_err(|source| Error::Io {
                path: dir.clone(),
                source,
            })?;
        }
        let mut text = serde_json::to_string_pretty(&list).map_err(|e| Error::BadConfig {
            path: self.conflist_path(),
            reason: e.to_string(),
        })?;
        text.push('\n');
        let path = self.conflist_path();
        if std::fs::read(&path).ok().as_deref() == Some(text.as_bytes()) {
            return Ok(());
        }
        state::write_atomic(&path, text.as_bytes())?;
        tracing::info!(path = %path.display(), pod_cidr = %cidr, "wrote the CNI configuration");
        Ok(())
    }

    /// The configuration list as on disk.
    fn load_list(&self) -> Result<Value, Error> {
        let path = self.conflist_path();
        let text = match std::fs::read(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::NoConfig { path })
            }
            Err(source) => return Err(Error::Io { path, source }),
        };
        let list: Value = serde_json::from_slice(&text).map_err(|e| Error::BadConfig {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        config::validate_list(&list).map_err(|reason| Error::BadConfig { path, reason })?;
        Ok(list)
    }

    /// Attaches the pod's network namespace: loopback up, then the list's
    /// ADD. Returns the pod's addresses.
    ///
    /// Idempotent per sandbox: if this sandbox is already attached in this
    /// namespace, CHECK runs and the recorded result is returned; any other
    /// earlier state (a half-done ADD, another namespace, other ports) is
    /// deleted first. If ADD fails, DEL runs before the error is returned, so a
    /// failure never leaks an address.
    pub fn setup_pod(
        &self,
        netns: &Path,
        pod: &PodRef,
        sandbox_id: &str,
        ports: &[PortMapping],
    ) -> Result<PodNetwork, Error> {
        state::check_id(sandbox_id)?;
        let netns_s = netns
            .to_str()
            .ok_or_else(|| Error::BadNetns(netns.to_path_buf()))?;
        let netns_id = forwarding::ns_identity(netns)?;
        if let Some(old) = self.store.load(sandbox_id)? {
            let same = old.netns == netns_s
                && old.netns_id == Some(netns_id)
                && old.port_mappings == ports;
            if let (true, Some(result)) = (same, &old.result) {
                // The pod already announced this IP (status, endpoints, its
                // /etc/hosts): while its namespace lives it keeps it. A
                // failing CHECK is reported, not repaired by a new ADD;
                // Debian's portmap 1.1 even fails CHECK on every IPv4-only
                // pod ("could not check ipv6 dnat").
                if let Err(e) = self.check(&old) {
                    tracing::warn!(sandbox = sandbox_id, error = %e, "CNI CHECK failed; keeping the pod's address");
                }
                return pod_network(result);
            }
            self.del(&old)?;
            self.store.remove(sandbox_id)?;
        }
        let mut att = Attachment {
            container_id: sandbox_id.to_string(),
            ifname: self.cfg.ifname.clone(),
            netns: netns_s.to_string(),
            netns_id: Some(netns_id),
            pod: pod.clone(),
            port_mappings: ports.to_vec(),
            list: self.load_list()?,
            result: None,
            builtin: self.cfg.plugin == NetworkPlugin::Kubenet,
        };
        self.store.save(&att)?;
        let added = self.add(&att).and_then(|r| {
            let net = pod_network(&r)?;
            att.result = Some(r);
            self.store.save(&att)?;
            Ok(net)
        });
        match added {
            Ok(net) => {
                tracing::info!(pod = %format!("{}/{}", pod.namespace, pod.name), sandbox = sandbox_id, ip = %net.ip, "pod attached");
                Ok(net)
            }
            Err(e) => {
                match self.del(&att) {
                    Ok(()) => {
                        if let Err(e) = self.store.remove(sandbox_id) {
                            tracing::warn!(sandbox = sandbox_id, error = %e, "forgetting a failed attachment");
                        }
                    }
                    // The record stays, so teardown_pod (or the next
                    // setup_pod) retries the DEL.
                    Err(del) => {
                        tracing::warn!(sandbox = sandbox_id, error = %del, "cleaning up a failed CNI ADD")
                    }
                }
                Err(e)
            }
        }
    }

    /// Detaches a pod and frees its IP. Works when the namespace is already
    /// gone (`None`, a missing path, or a path now naming another namespace):
    /// the plugins then get an empty `CNI_NETNS`, as the spec allows for DEL,
    /// and still release the address and the port rules. Idempotent.
    pub fn teardown_pod(
        &self,
        netns: Option<&Path>,
        pod: &PodRef,
        sandbox_id: &str,
        ports: &[PortMapping],
    ) -> Result<(), Error> {
        state::check_id(sandbox_id)?;
        let mut att = match self.store.load(sandbox_id)? {
            Some(a) => a,
            None => {
                // Nothing recorded: we never ran ADD for it (the record is
                // written first), but DEL by container id is harmless and
                // frees whatever an older kubelet may have left. The netns
                // is not passed: without a record we cannot tell that the
                // path still names the pod's namespace.
                let list = match self.load_list() {
                    Ok(l) => l,
                    Err(Error::NoConfig { .. }) => return Ok(()),
                    Err(e) => return Err(e),
                };
                Attachment {
                    container_id: sandbox_id.to_string(),
                    ifname: self.cfg.ifname.clone(),
                    netns: String::new(),
                    netns_id: None,
                    pod: pod.clone(),
                    port_mappings: ports.to_vec(),
                    list,
                    result: None,
                    builtin: false,
                }
            }
        };
        // The caller's path is used if it names the namespace we attached.
        if let Some(given) = netns.and_then(Path::to_str) {
            if att.netns_id.is_some()
                && forwarding::ns_identity(Path::new(given)).ok() == att.netns_id
            {
                att.netns = given.to_string();
            }
        }
        if att.port_mappings.is_empty() {
            att.port_mappings = ports.to_vec();
        }
        self.del(&att)?;
        self.store.remove(sandbox_id)?;
        tracing::info!(pod = %format!("{}/{}", pod.namespace, pod.name), sandbox = sandbox_id, "pod detached");
        Ok(())
    }

    /// The IP recorded for a sandbox, if it is attached.
    pub fn pod_ip(&self, sandbox_id: &str) -> Option<IpAddr> {
        let att = self.store.load(sandbox_id).ok()??;
        pod_network(att.result.as_ref()?).ok().map(|n| n.ip)
    }

    /// Makes the routing table hold exactly one route per other node: its
    /// podCIDR via its node IP. Only routes marked with our protocol number
    /// are ever changed or removed.
    pub fn sync_routes(&self, routes: &[(IpAddr, String)]) -> Result<(), Error> {
        let _guard = self.routes.lock().unwrap_or_else(|p| p.into_inner());
        routes::sync(self.cfg.route_protocol, routes)
    }

    fn args(&self, a: &Attachment) -> Vec<(String, String)> {
        cni::k8s_args(&a.pod.namespace, &a.pod.name, &a.container_id, &a.pod.uid)
    }

    fn add(&self, a: &Attachment) -> Result<Value, Error> {
        if a.builtin {
            let result = kubenet::add(&self.cfg, a)?;
            return match self.portmap(Op::Add, a, &result)? {
                Some(amended) => Ok(amended),
                None => Ok(result),
            };
        }
        let args = self.args(a);
        let inv = Invocation {
            container_id: &a.container_id,
            netns: &a.netns,
            ifname: &a.ifname,
            args: &args,
        };
        let lo_inv = Invocation {
            ifname: "lo",
            ..inv.clone()
        };
        self.exec.run(Op::Add, &lo_inv, &config::loopback())?;
        let name = a
            .list
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        self.exec
            .run_list(
                Op::Add,
                &a.list,
                &runtime_config(&a.port_mappings),
                None,
                &inv,
            )?
            .ok_or(Error::BadResult {
                plugin: name,
                reason: "ADD printed no result".into(),
            })
    }

    /// The list's `portmap` plugin alone, after the built-in path: only for
    /// a pod with host ports. ADD returns portmap's result.
    fn portmap(&self, op: Op, a: &Attachment, result: &Value) -> Result<Option<Value>, Error> {
        let Some(plugin) = a
            .list
            .get("plugins")
            .and_then(Value::as_array)
            .and_then(|p| p.iter().find(|p| p["type"] == "portmap"))
        else {
            return Ok(None);
        };
        if a.port_mappings.is_empty() {
            return Ok(None);
        }
        let args = self.args(a);
        let inv = Invocation {
            container_id: &a.container_id,
            netns: &a.netns,
            ifname: &a.ifname,
            args: &args,
        };
        let conf = cni::plugin_conf(
            &a.list,
            plugin,
            &runtime_config(&a.port_mappings),
            Some(result),
        );
        self.exec.run(op, &inv, &conf)
    }

    fn check(&self, a: &Attachment) -> Result<(), Error> {
        if a.builtin {
            return Ok(());
        }
        if a.list.get("disableCheck").and_then(Value::as_bool) == Some(true) {
            return Ok(());
        }
        self.run_recorded(Op::Check, a, &a.netns)
    }

    /// CHECK or DEL of an attachment's list, with its recorded ADD result,
    /// `netns` standing for its namespace.
    fn run_recorded(&self, op: Op, a: &Attachment, netns: &str) -> Result<(), Error> {
        let args = self.args(a);
        let inv = Invocation {
            container_id: &a.container_id,
            netns,
            ifname: &a.ifname,
            args: &args,
        };
        self.exec.run_list(
            op,
            &a.list,
            &runtime_config(&a.port_mappings),
            a.result.as_ref(),
            &inv,
        )?;
        Ok(())
    }

    /// DEL of the list (in reverse order, with the recorded result), then of
    /// loopback. The namespace is passed only while it is provably the one
    /// we attached.
    fn del(&self, a: &Attachment) -> Result<(), Error> {
        let alive = !a.netns.is_empty()
            && a.netns_id.is_some()
            && forwarding::ns_identity(Path::new(&a.netns)).ok() == a.netns_id;
        let netns = if alive { a.netns.as_str() } else { "" };
        if a.builtin {
            // Like a list's DEL: go on past portmap so the address is
            // released, and report the first failure.
            let ports = match &a.result {
                Some(r) => self.portmap(Op::Del, a, r).map(|_| ()),
                None => Ok(()),
            };
            kubenet::del(&self.cfg, a)?;
            return ports;
        }
        self.run_recorded(Op::Del, a, netns)?;
        if alive {
            // `lo` dies with the namespace; this only matters if the
            // namespace outlives the pod, so a failure is not worth failing
            // the teardown.
            let args = self.args(a);
            let lo_inv = Invocation {
                container_id: &a.container_id,
                netns,
                ifname: "lo",
                args: &args,
            };
            if let Err(e) = self.exec.run(Op::Del, &lo_inv, &config::loopback()) {
                tracing::debug!(error = %e, "loopback DEL");
            }
        }
        Ok(())
    }
}

/// `runtimeConfig` capabilities: `portMappings` in the shape portmap reads.
fn runtime_config(ports: &[PortMapping]) -> Map<String, Value> {
    let mut m = Map::new();
    let maps: Vec<Value> = ports
        .iter()
        .map(|p| {
            let mut v = json!({
                "hostPort": p.host_port,
                "containerPort": p.container_port,
                "protocol": p.protocol.to_lowercase(),
            });
            if !p.host_ip.is_empty() {
                v["hostIP"] = json!(p.host_ip);
            }
            v
        })
        .collect();
    m.insert("portMappings".into(), Value::Array(maps));
    m
}

/// The pod's addresses from an ADD result: those on interfaces inside the
/// sandbox (the bridge's own address is reported too, on the host side),
/// IPv4 first.
fn pod_network(result: &Value) -> Result<PodNetwork, Error> {
    let bad = |reason: String| Error::BadResult {
        plugin: "result".into(),
        reason,
    };
    let view: ResultView =
        serde_json::from_value(result.clone()).map_err(|e| bad(e.to_string()))?;
    let in_sandbox = |i: Option<usize>| match i {
        Some(i) => view
            .interfaces
            .get(i)
            .is_some_and(|itf| !itf.sandbox.is_empty()),
        // Without an interface index we cannot tell; an address is still
        // better than none.
        None => true,
    };
    let mut found: Vec<(IpAddr, Option<IpAddr>)> = Vec::new();
    for ip in view.ips.iter().filter(|ip| in_sandbox(ip.interface)) {
        let addr = ip.address.split('/').next().unwrap_or("");
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| bad(format!("address {:?} is not an IP", ip.address)))?;
        let gw = ip.gateway.as_deref().and_then(|g| g.parse().ok());
        found.push((addr, gw));
    }
    found.sort_by_key(|(a, _)| !a.is_ipv4());
    let (ip, gateway) = *found
        .first()
        .ok_or_else(|| bad(format!("no address for the pod in {result}")))?;
    Ok(PodNetwork {
        ip,
        ips: found.iter().map(|(a, _)| *a).collect(),
        gateway,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_ip_from_result() {
        let r = json!({
            "cniVersion": "1.0.0",
            "interfaces": [
                {"name": "cni0", "mac": "aa:bb:cc:dd:ee:ff"},
                {"name": "veth1", "mac": "aa:bb:cc:dd:ee:00"},
                {"name": "eth0", "mac": "aa:bb:cc:dd:ee:01", "sandbox": "/proc/42/ns/net"}
            ],
            "ips": [
                {"address": "fd00::5/64", "gateway": "fd00::1", "interface": 2},
                {"address": "10.244.1.5/24", "gateway": "10.244.1.1", "interface": 2}
            ]
        });
        let n = pod_network(&r).unwrap();
        assert_eq!(n.ip, "10.244.1.5".parse::<IpAddr>().unwrap());
        assert_eq!(n.gateway, Some("10.244.1.1".parse().unwrap()));
        assert_eq!(n.ips.len(), 2);
        assert!(pod_network(&json!({"cniVersion": "1.0.0"})).is_err());
        assert!(pod_network(&json!({"ips": [{"address": "10.0.0.1/24", "interface": 0}], "interfaces": [{"name": "cni0"}]})).is_err());
    }

    #[test]
    fn runtime_config_shape() {
        let rc = runtime_config(&[
            PortMapping {
                container_port: 80,
                host_port: 8080,
                protocol: "TCP".into(),
                host_ip: String::new(),
            },
            PortMapping {
                container_port: 53,
                host_port: 5353,
                protocol: "udp".into(),
                host_ip: "10.0.0.1".into(),
            },
        ]);
        assert_eq!(
            rc["portMappings"],
            json!([
                {"hostPort": 8080, "containerPort": 80, "protocol": "tcp"},
                {"hostPort": 5353, "containerPort": 53, "protocol": "udp", "hostIP": "10.0.0.1"}
            ])
        );
    }

    #[test]
    fn ensure_config_is_idempotent_and_follows_the_cidr() {
        let dir = tempfile::tempdir().unwrap();
        let net = Network::new(NetworkConfig {
            cni_conf_dir: dir.path().join("net.d"),
            state_dir: dir.path().join("state"),
            ..NetworkConfig::default()
        });
        assert!(matches!(net.load_list(), Err(Error::NoConfig { .. })));
        assert!(matches!(
            net.ensure_config("10.1.1.1/24"),
            Err(Error::BadCidr { .. })
        ));
        net.ensure_config("10.1.1.0/24").unwrap();
        let path = net.conflist_path();
        let before = std::fs::metadata(&path).unwrap().modified().unwrap();
        std::thread::sleep(Duration::from_millis(20));
        net.ensure_config("10.1.1.0/24").unwrap();
        assert_eq!(
            std::fs::metadata(&path).unwrap().modified().unwrap(),
            before
        );
        let list = net.load_list().unwrap();
        assert_eq!(
            list["plugins"][0]["ipam"]["ranges"][0][0]["subnet"],
            "10.1.1.0/24"
        );
        assert_eq!(
            list["plugins"][0]["ipam"]["dataDir"],
            dir.path().join("state/ipam").to_str().unwrap()
        );
        net.ensure_config("10.1.2.0/24").unwrap();
        assert_eq!(
            net.load_list().unwrap()["plugins"][0]["ipam"]["ranges"][0][0]["subnet"],
            "10.1.2.0/24"
        );
        assert!(dir.path().join("state/results").is_dir());
    }

    #[test]
    fn teardown_without_config_or_record_is_a_no_op() {
        let dir = tempfile::tempdir().unwrap();
        let net = Network::new(NetworkConfig {
            cni_conf_dir: dir.path().join("net.d"),
            state_dir: dir.path().join("state"),
            ..NetworkConfig::default()
        });
        net.teardown_pod(None, &PodRef::default(), "abc", &[])
            .unwrap();
        assert!(net
            .teardown_pod(None, &PodRef::default(), "../x", &[])
            .is_err());
    }
}
