//! The service proxy: what makes `wget http://<clusterIP>:<port>/` from a
//! pod reach one of the Service's ready pods, as kube-proxy's iptables mode
//! does.
//!
//! A ClusterIP is on no interface anywhere. A pod's packet to it leaves the
//! pod by its default route, the bridge address of its node (the ClusterIP is
//! not on-link), so it is *routed* in the node's network namespace and passes
//! the nat table's `PREROUTING` there. That is where the proxy's rules pick
//! an endpoint and rewrite the destination (DNAT); conntrack remembers the
//! choice, so the rest of the connection and its replies follow without the
//! rules, and the reply's source is turned back into the ClusterIP. The pod
//! may be on another node: after the DNAT the packet is an ordinary
//! pod-to-pod packet, routed over the host-gw routes ([`crate::network`]).
//! Processes of the node itself go through the nat `OUTPUT` chain the same
//! way (when the node has a route covering the ClusterIPs).
//!
//! Where it sits: the agent starts [`run`] once the node has its podCIDR,
//! next to the route keeper. It watches Services and EndpointSlices (the
//! controller-manager keeps the slices: one endpoint per pod, `ready` from the
//! pod's readiness), and on every change (debounced by [`DEBOUNCE`]) and every
//! [`RESYNC`] recomputes *all* the rules ([`rules`], pure and unit-tested) and
//! writes them with one `iptables-restore --noflush`: only our chains are
//! replaced, atomically, and everything else in the tables (the CNI portmap
//! plugin's `hostPort` chains, the admin's rules) is left alone. Level
//! triggered: a sync does not depend on what the previous one did, so a
//! flushed table or a missed event is repaired by the next one. Chains of
//! Services or endpoints that went away are deleted in the same commit.
//!
//! A Service port without a ready endpoint is rejected in the filter table
//! (`REJECT`, ICMP port unreachable), so clients fail at once instead of
//! timing out; in the lab the node has no route for ClusterIPs at all, and
//! the kernel answers "unreachable" before the filter table is reached,
//! which the client sees the same way.
//!
//! The host's own network namespace: the rules would make the machine a NAT
//! router for ClusterIPs, which the project never does on a host it does not
//! own (the lab and tests run every kubelet in a node namespace). The proxy
//! refuses to start there ([`crate::network::forwarding::in_root_netns`])
//! unless the config says `serviceProxyInRootNetns: true`, as a real node
//! install would.

pub mod healthcheck;
pub mod rules;

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::runtime::reflector::Store;

use crate::network::config::Cidr;
use crate::services::ServiceView;
use rules::{Options, ServicePort};

/// How long the proxy waits after a change for more changes before syncing
/// (a rollout changes a slice several times in a row).
pub const DEBOUNCE: Duration = Duration::from_millis(200);
/// Every how long the rules are rewritten even without a change.
pub const RESYNC: Duration = Duration::from_secs(30);
/// How long to wait before retrying a failed sync.
pub const RETRY: Duration = Duration::from_secs(5);
/// Where the kernel says whether bridged frames pass iptables.
pub const BRIDGE_NF_CALL_IPTABLES: &str = "/proc/sys/net/bridge/bridge-nf-call-iptables";

/// Errors of the service proxy.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An iptables command could not be started.
    #[error("running {cmd}: {source}")]
    Spawn {
        /// The command.
        cmd: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// An iptables command failed.
    #[error("{cmd} failed ({status}): {stderr}")]
    Failed {
        /// The command.
        cmd: String,
        /// Its exit status.
        status: String,
        /// What it printed on stderr.
        stderr: String,
    },
    /// The network namespaces could not be compared.
    #[error("checking the network namespace: {0}")]
    Netns(#[source] crate::network::Error),
    /// The kubelet runs in the host's network namespace and the config does
    /// not allow the proxy there.
    #[error("the kubelet runs in the host's root network namespace; the service proxy programs iptables only there with serviceProxyInRootNetns: true")]
    RootNetns,
}

/// Results of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The proxy's settings.
#[derive(Debug, Clone, Default)]
pub struct ProxyConfig {
    /// `serviceProxy` of the kubelet config.
    pub enabled: bool,
    /// `serviceProxyInRootNetns`: program iptables even in the host's
    /// root network namespace.
    pub allow_root_netns: bool,
    /// This node's podCIDR (for the masquerade of same-bridge clients when
    /// bridged traffic skips iptables).
    pub pod_cidr: Option<Cidr>,
    /// Addresses this node answers on itself (the cluster DNS server's,
    /// [`crate::cluster_dns`]): a Service with one of them as its ClusterIP is left
    /// out of the rules, so neither a DNAT nor a REJECT takes its traffic.
    pub node_local_ips: Vec<std::net::Ipv4Addr>,
    /// This node's name (which endpoints are local, for the traffic
    /// policies).
    pub node_name: String,
}

/// The boundary with the kernel's packet filter, so the sync logic is
/// tested with a recording fake.
pub trait Iptables: Send + Sync {
    /// `iptables-save -t <table>`.
    fn save(&self, table: &str) -> Result<String>;
    /// `iptables-restore --noflush` of `input`.
    fn restore(&self, input: &str) -> Result<()>;
    /// Inserts `rule` first in `table`/`chain` unless it is there already;
    /// `true` when it was inserted.
    fn ensure_first(&self, table: &str, chain: &str, rule: &[&str]) -> Result<bool>;
}

/// The real thing: the `iptables` commands of `$PATH`, acting in the
/// calling thread's network namespace (the node's).
#[derive(Debug, Default, Clone)]
pub struct SystemIptables;

/// `-w 5`: wait for the xtables lock (held by the CNI portmap plugin at
/// times) instead of failing.
const WAIT: [&str; 2] = ["-w", "5"];

fn run_cmd(cmd: &mut Command, input: Option<&str>) -> Result<std::process::Output> {
    use std::io::Write as _;
    let shown = format!("{cmd:?}");
    let mut child = cmd
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| Error::Spawn {
            cmd: shown.clone(),
            source,
        })?;
    if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
        stdin
            .write_all(text.as_bytes())
            .map_err(|source| Error::Spawn {
                cmd: shown.clone(),
                source,
            })?;
    }
    child
        .wait_with_output()
        .map_err(|source| Error::Spawn { cmd: shown, source })
}

fn failed(cmd: &str, out: &std::process::Output) -> Error {
    Error::Failed {
        cmd: cmd.to_string(),
        status: out.status.to_string(),
        stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
    }
}

impl Iptables for SystemIptables {
    fn save(&self, table: &str) -> Result<String> {
        let out = run_cmd(Command::new("iptables-save").args(["-t", table]), None)?;
        if !out.status.success() {
            return Err(failed("iptables-save", &out));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    fn restore(&self, input: &str) -> Result<()> {
        let out = run_cmd(
            Command::new("iptables-restore").arg("--noflush").args(WAIT),
            Some(input),
        )?;
        if !out.status.success() {
            return Err(failed("iptables-restore --noflush", &out));
        }
        Ok(())
    }

    fn ensure_first(&self, table: &str, chain: &str, rule: &[&str]) -> Result<bool> {
        let check = run_cmd(
            Command::new("iptables")
                .args(WAIT)
                .args(["-t", table, "-C", chain])
                .args(rule),
            None,
        )?;
        if check.status.success() {
            return Ok(false);
        }
        let insert = run_cmd(
            Command::new("iptables")
                .args(WAIT)
                .args(["-t", table, "-I", chain, "1"])
                .args(rule),
            None,
        )?;
        if !insert.status.success() {
            return Err(failed(&format!("iptables -t {table} -I {chain}"), &insert));
        }
        Ok(true)
    }
}

/// How often a sync writes every chain even when little changed (and reads
/// the table back to find chains it does not know about).
pub const FULL_SYNC_PERIOD: Duration = Duration::from_secs(300);

/// Writes the rules for a set of service ports: one sync.
///
/// A sync writes the top chains whole, and of the per-service chains only
/// those whose rules differ from what it wrote last time; the chains of
/// Services that went away are deleted. A full sync (the first, one after a
/// failure, and one every [`FULL_SYNC_PERIOD`]) reads the table back with
/// `iptables-save` and writes every chain, repairing whatever someone
/// changed behind our back. With 1,000 Services a change of one endpoint
/// then costs one Service's chains instead of all of them.
pub struct Syncer<I> {
    iptables: I,
    opts: Options,
    written: std::sync::Mutex<Written>,
}

/// What the last sync wrote.
#[derive(Default)]
struct Written {
    /// Per-service chains and the fingerprints of their rules.
    chains: std::collections::BTreeMap<String, u64>,
    /// When the last full sync succeeded (`None`: the next one is full).
    last_full: Option<std::time::Instant>,
}

impl<I: Iptables> Syncer<I> {
    /// A syncer writing through `iptables` with `opts`.
    pub fn new(iptables: I, opts: Options) -> Self {
        Syncer {
            iptables,
            opts,
            written: Default::default(),
        }
    }

    /// Brings our chains to the rules for `ports`, deletes the chains no
    /// longer needed, and makes sure the built-in chains jump to ours.
    /// Returns the number of stale chains removed.
    pub fn sync(&self, ports: &[ServicePort]) -> Result<usize> {
        let mut written = self.written.lock().unwrap_or_else(|p| p.into_inner());
        let due = written
            .last_full
            .is_none_or(|t| t.elapsed() >= FULL_SYNC_PERIOD);
        let removed = if due {
            self.full_sync(ports, &mut written)?
        } else {
            match self.partial_sync(ports, &mut written) {
                Ok(n) => n,
                Err(e) => {
                    // A chain we thought was there may be gone: write all.
                    tracing::warn!(error = %e, "partial service proxy sync failed; writing every chain");
                    self.full_sync(ports, &mut written)?
                }
            }
        };
        for (table, chain, rule) in rules::jumps() {
            if self.iptables.ensure_first(table, chain, &rule)? {
                tracing::info!(
                    table,
                    chain,
                    "inserted the jump into the service proxy's chains"
                );
            }
        }
        Ok(removed)
    }

    fn full_sync(&self, ports: &[ServicePort], written: &mut Written) -> Result<usize> {
        written.last_full = None;
        let nat = self.iptables.save("nat")?;
        let stale = rules::stale_chains(&nat, &rules::chains_of(ports, &self.opts.node_name));
        let text = rules::render(ports, &stale, &self.opts);
        self.iptables.restore(&text)?;
        written.chains = rules::fingerprints(&text);
        written.last_full = Some(std::time::Instant::now());
        Ok(stale.len())
    }

    fn partial_sync(&self, ports: &[ServicePort], written: &mut Written) -> Result<usize> {
        let wanted = rules::chains_of(ports, &self.opts.node_name);
        let stale: Vec<String> = written
            .chains
            .keys()
            .filter(|c| !wanted.contains(*c))
            .cloned()
            .collect();
        let text = rules::render(ports, &stale, &self.opts);
        let now = rules::fingerprints(&text);
        let unchanged = now
            .iter()
            .filter(|(c, fp)| written.chains.get(*c) == Some(fp))
            .map(|(c, _)| c.clone())
            .collect();
        self.iptables.restore(&rules::minimize(&text, &unchanged))?;
        written.chains = now;
        Ok(stale.len())
    }
}

/// Whether this namespace's bridges hand their frames to iptables
/// (`br_netfilter` loaded and `bridge-nf-call-iptables=1`).
pub fn bridged_traffic_hits_iptables() -> bool {
    std::fs::read_to_string(BRIDGE_NF_CALL_IPTABLES)
        .map(|s| s.trim() == "1")
        .unwrap_or(false)
}

/// Runs a blocking iptables job on tokio's blocking pool; a job that
/// panicked or was cancelled reads as a failure like any other.
pub async fn blocking<T: Send + 'static>(
    job: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T, String> {
    match tokio::task::spawn_blocking(job).await {
        Ok(r) => r.map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    }
}

/// Checks that the proxy may program this network namespace.
pub fn check_netns(allow_root_netns: bool) -> Result<()> {
    let root = crate::network::forwarding::in_root_netns().map_err(Error::Netns)?;
    if root && !allow_root_netns {
        return Err(Error::RootNetns);
    }
    Ok(())
}

/// The service ports the stores describe now, minus those on a
/// node-local address.
fn current(
    services: &Store<Service>,
    slices: &Store<EndpointSlice>,
    node_local: &[std::net::Ipv4Addr],
) -> Vec<ServicePort> {
    let svcs = services.state();
    let eps = slices.state();
    let svc_refs: Vec<&Service> = svcs.iter().map(Arc::as_ref).collect();
    let ep_refs: Vec<&EndpointSlice> = eps.iter().map(Arc::as_ref).collect();
    without_node_local(rules::service_ports(&svc_refs, &ep_refs), node_local)
}

/// `ports` minus those whose ClusterIP this node serves itself.
fn without_node_local(
    mut ports: Vec<ServicePort>,
    node_local: &[std::net::Ipv4Addr],
) -> Vec<ServicePort> {
    ports.retain(|p| !node_local.contains(&p.cluster_ip));
    ports
}

/// Runs the service proxy until the process ends. Returns at once (after
/// saying why in the log) when it is disabled or may not touch this
/// network namespace.
pub async fn run(view: Arc<ServiceView>, cfg: ProxyConfig) {
    if !cfg.enabled {
        tracing::info!("service proxy disabled (serviceProxy: false)");
        return;
    }
    let allow = cfg.allow_root_netns;
    if let Err(e) = blocking(move || check_netns(allow)).await {
        tracing::warn!(error = %e, "service proxy not started: ClusterIPs will not answer on this node");
        return;
    }
    let opts = Options {
        masquerade_pod_cidr: if bridged_traffic_hits_iptables() {
            None
        } else {
            tracing::info!(
                "bridged traffic bypasses iptables here (no br_netfilter, or bridge-nf-call-iptables=0): same-node clients of a Service are masqueraded"
            );
            cfg.pod_cidr
        },
        node_name: cfg.node_name.clone(),
        pod_cidr: cfg.pod_cidr,
    };
    let mut health_checks = healthcheck::HealthChecks::default();
    let syncer = Arc::new(Syncer::new(SystemIptables, opts));

    let mut changes = view.changes();
    // Never write rules from a half-listed cluster: that would drop every
    // Service the list had not reached yet.
    if !view.ready().await {
        tracing::warn!("service proxy: the watches ended before their first list");
        return;
    }
    tracing::info!("service proxy: Services and EndpointSlices listed; syncing iptables");

    let mut last: Option<Vec<ServicePort>> = None;
    loop {
        let ports = current(&view.services, &view.slices, &cfg.node_local_ips);
        let changed = last.as_ref() != Some(&ports);
        let s = syncer.clone();
        let p = ports.clone();
        let wait = match blocking(move || s.sync(&p)).await {
            Ok(stale) => {
                if changed {
                    let with_eps = ports.iter().filter(|p| !p.endpoints.is_empty()).count();
                    let endpoints: usize = ports.iter().map(|p| p.endpoints.len()).sum();
                    tracing::info!(
                        service_ports = ports.len(),
                        with_endpoints = with_eps,
                        endpoints,
                        stale_chains_removed = stale,
                        "service proxy rules synced"
                    );
                }
                health_checks.update(&ports, &cfg.node_name);
                last = Some(ports);
                RESYNC
            }
            Err(e) => {
                tracing::warn!(error = %e, "service proxy sync failed; retrying");
                last = None;
                RETRY
            }
        };
        match tokio::time::timeout(wait, changes.changed()).await {
            Ok(Err(_)) => {
                tracing::warn!("service proxy: the watches ended");
                return;
            }
            Ok(Ok(())) => {
                tokio::time::sleep(DEBOUNCE).await;
                changes.borrow_and_update();
            }
            Err(_) => {} // periodic resync
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// Records every call; `save` returns what the last restore declared.
    #[derive(Default)]
    struct Fake {
        calls: Mutex<Vec<String>>,
        nat: Mutex<String>,
        input: Mutex<String>,
        present: Mutex<Vec<String>>,
    }

    impl Iptables for &Fake {
        fn save(&self, table: &str) -> Result<String> {
            self.calls.lock().unwrap().push(format!("save {table}"));
            Ok(self.nat.lock().unwrap().clone())
        }
        fn restore(&self, input: &str) -> Result<()> {
            self.calls.lock().unwrap().push("restore".into());
            *self.input.lock().unwrap() = input.to_string();
            // What iptables-save would show next: the chains there were,
            // plus the declared ones, minus the deleted ones (a chain the
            // input does not mention stays as it was, as under --noflush).
            let nat_input = input.split("COMMIT").next().unwrap_or_default();
            let deleted: Vec<&str> = nat_input
                .lines()
                .filter_map(|l| l.strip_prefix("-X "))
                .collect();
            let mut chains: std::collections::BTreeSet<String> =
                self.nat.lock().unwrap().lines().map(String::from).collect();
            chains.extend(
                nat_input
                    .lines()
                    .filter(|l| l.starts_with(':'))
                    .map(String::from),
            );
            chains.retain(|l| !deleted.iter().any(|d| l.starts_with(&format!(":{d} "))));
            *self.nat.lock().unwrap() = chains.into_iter().map(|l| format!("{l}\n")).collect();
            Ok(())
        }
        fn ensure_first(&self, table: &str, chain: &str, rule: &[&str]) -> Result<bool> {
            let key = format!("{table} {chain} {}", rule.join(" "));
            let mut present = self.present.lock().unwrap();
            if present.contains(&key) {
                return Ok(false);
            }
            present.push(key.clone());
            self.calls.lock().unwrap().push(format!("insert {key}"));
            Ok(true)
        }
    }

    fn port(eps: &[&str]) -> ServicePort {
        ServicePort {
            namespace: "default".into(),
            name: "web".into(),
            port_name: "http".into(),
            protocol: rules::Protocol::Tcp,
            cluster_ip: "10.96.0.20".parse().unwrap(),
            port: 80,
            node_port: None,
            load_balancer_ips: Vec::new(),
            affinity_seconds: None,
            endpoints: eps.iter().map(|e| e.parse().unwrap()).collect(),
            endpoint_nodes: Default::default(),
            internal_local: false,
            external_local: false,
            health_check_node_port: None,
        }
    }

    #[test]
    fn sync_restores_inserts_jumps_once_and_removes_stale_chains() {
        let fake = Fake::default();
        let syncer = Syncer::new(&fake, Options::default());
        let two = [port(&["10.244.1.5:8080", "10.244.2.7:8080"])];
        assert_eq!(syncer.sync(&two).unwrap(), 0);
        let calls = fake.calls.lock().unwrap().clone();
        assert_eq!(calls[0], "save nat");
        assert_eq!(calls[1], "restore");
        assert_eq!(calls.iter().filter(|c| c.starts_with("insert")).count(), 5);
        assert!(calls.contains(
            &"insert nat PREROUTING -m comment --comment kubernetes service portals -j KUBE-SERVICES".to_string()
        ));
        fake.calls.lock().unwrap().clear();

        // One endpoint gone: a partial sync (no save) deletes its chain,
        // rewrites the service chain and leaves the other endpoint's chain
        // alone; the jumps are not re-inserted.
        let one = [port(&["10.244.2.7:8080"])];
        assert_eq!(syncer.sync(&one).unwrap(), 1);
        let calls = fake.calls.lock().unwrap().clone();
        assert_eq!(calls, ["restore"]);
        let written = fake.input.lock().unwrap().clone();
        let gone = two[0].sep_chain(&"10.244.1.5:8080".parse().unwrap());
        let kept = two[0].sep_chain(&"10.244.2.7:8080".parse().unwrap());
        assert!(written.contains(&format!("-X {gone}")), "{written}");
        assert!(
            written.contains(&format!(":{} ", two[0].svc_chain())),
            "{written}"
        );
        assert!(
            !written.contains(&format!(":{kept} ")) && !written.contains(&format!("-A {kept} ")),
            "an unchanged chain is not written: {written}"
        );
        assert!(!fake.nat.lock().unwrap().contains(&gone));
        assert!(fake.nat.lock().unwrap().contains(&kept));

        // No endpoints: the service chain goes too; a resync then removes nothing.
        assert_eq!(syncer.sync(&[port(&[])]).unwrap(), 2);
        assert_eq!(syncer.sync(&[port(&[])]).unwrap(), 0);
        let nat = fake.nat.lock().unwrap().clone();
        assert!(
            !nat.contains("KUBE-SVC-") && !nat.contains("KUBE-SEP-"),
            "{nat}"
        );
        assert!(nat.contains(":KUBE-SERVICES "));
    }

    #[test]
    fn node_local_addresses_get_no_rules() {
        // A Service on the cluster DNS address, without endpoints, would
        // otherwise be REJECTed in the filter table.
        let mut dns = port(&[]);
        dns.name = "kube-dns".into();
        dns.cluster_ip = "10.96.0.10".parse().unwrap();
        let ports = vec![port(&["10.244.1.5:8080"]), dns];
        let kept = without_node_local(ports.clone(), &["10.96.0.10".parse().unwrap()]);
        assert_eq!(kept, ports[..1]);
        assert_eq!(without_node_local(ports.clone(), &[]), ports);
        let text = rules::render(&kept, &[], &Options::default());
        assert!(!text.contains("10.96.0.10"), "{text}");
    }

    #[test]
    fn refuses_the_root_netns_unless_allowed() {
        // Whichever namespace the test runs in, allowing it always passes,
        // and refusing it passes exactly when this is not the root netns.
        assert!(check_netns(true).is_ok());
        let root = crate::network::forwarding::in_root_netns().unwrap();
        assert_eq!(matches!(check_netns(false), Err(Error::RootNetns)), root);
    }
}
