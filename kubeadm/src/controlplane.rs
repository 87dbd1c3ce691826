//! The control plane's processes as systemd units (the `etcd` and
//! `control-plane` phases): etcd, the apiserver, the controller-manager and
//! the scheduler, each a `<name>.service` in `/etc/systemd/system` with the
//! command line upstream's static Pod manifests would hold (our binaries
//! take upstream's flag names). `Restart=always` brings a crashed
//! component back; `After=`/`Wants=` order etcd before the apiserver
//! before the rest.
//!
//! The same [`Unit`]s run as supervised processes with `--control-plane-
//! runner processes` ([`crate::supervisor`] reads them back), so a test
//! exercises exactly the command lines a machine runs.

use std::path::{Path, PathBuf};

use crate::config::Config;

/// A systemd service unit kubeadm writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unit {
    /// `<name>.service`.
    pub name: String,
    /// `Description=`.
    pub description: String,
    /// `ExecStart=`: the program and its arguments.
    pub exec: Vec<String>,
    /// Units started before this one (`After=` and `Wants=`).
    pub after: Vec<String>,
    /// `Delegate=yes`: the unit manages cgroups below its own (the kubelet).
    pub delegate: bool,
}

/// The first line of every unit kubeadm writes: `reset` and the
/// supervisor touch only these.
pub const MARKER: &str = "# Written by kubeadm; removed by kubeadm reset.";

fn quote(arg: &str) -> String {
    if arg.is_empty() || arg.contains(|c: char| c.is_whitespace() || c == '"' || c == '\\') {
        format!("\"{}\"", arg.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        arg.to_string()
    }
}

impl Unit {
    /// The unit file's text.
    pub fn render(&self) -> String {
        let mut s = format!("{MARKER}\n[Unit]\nDescription={}\n", self.description);
        s.push_str("Documentation=https://kubernetes.io/docs/reference/setup-tools/kubeadm/\n");
        if !self.after.is_empty() {
            let after: Vec<String> = self.after.iter().map(|a| format!("{a}.service")).collect();
            s.push_str(&format!(
                "After=network-online.target {}\n",
                after.join(" ")
            ));
            s.push_str(&format!(
                "Wants=network-online.target {}\n",
                after.join(" ")
            ));
        } else {
            s.push_str("After=network-online.target\nWants=network-online.target\n");
        }
        // Never give up restarting (the default gives up after 5 starts
        // in 10 s, e.g. while etcd is still coming up).
        s.push_str("StartLimitIntervalSec=0\n\n[Service]\n");
        let args: Vec<String> = self.exec.iter().map(|a| quote(a)).collect();
        s.push_str(&format!("ExecStart={}\n", args.join(" \\\n  ")));
        s.push_str("Restart=always\nRestartSec=1\nLimitNOFILE=1048576\n");
        if self.delegate {
            // The kubelet makes its pods' cgroups below its own; stopping
            // or restarting it must not kill the pods' processes.
            s.push_str("Delegate=yes\nKillMode=process\n");
        }
        s.push_str("\n[Install]\nWantedBy=multi-user.target\n");
        s
    }

    /// Reads back a unit [`Unit::render`] wrote (`None` for any other file).
    pub fn parse(name: &str, text: &str) -> Option<Unit> {
        if !text.starts_with(MARKER) {
            return None;
        }
        let joined = text.replace("\\\n", " ");
        let mut unit = Unit {
            name: name.to_string(),
            description: String::new(),
            exec: vec![],
            after: vec![],
            delegate: false,
        };
        for line in joined.lines() {
            if let Some(d) = line.strip_prefix("Description=") {
                unit.description = d.into();
            } else if let Some(a) = line.strip_prefix("After=") {
                unit.after = a
                    .split_whitespace()
                    .filter_map(|u| u.strip_suffix(".service"))
                    .map(String::from)
                    .collect();
            } else if let Some(e) = line.strip_prefix("ExecStart=") {
                unit.exec = split_args(e);
            } else if line == "Delegate=yes" {
                unit.delegate = true;
            }
        }
        Some(unit)
    }

    /// Its file under `units_dir`.
    pub fn path(&self, units_dir: &Path) -> PathBuf {
        units_dir.join(format!("{}.service", self.name))
    }
}

fn split_args(s: &str) -> Vec<String> {
    let mut args = Vec::new();
    let mut cur = String::new();
    let (mut quoted, mut escaped, mut any) = (false, false, false);
    for c in s.chars() {
        if escaped {
            cur.push(c);
            escaped = false;
        } else if c == '\\' && quoted {
            escaped = true;
        } else if c == '"' {
            quoted = !quoted;
            any = true;
        } else if c.is_whitespace() && !quoted {
            if any || !cur.is_empty() {
                args.push(std::mem::take(&mut cur));
                any = false;
            }
        } else {
            cur.push(c);
        }
    }
    if any || !cur.is_empty() {
        args.push(cur);
    }
    args
}

fn arg(name: &str, value: impl std::fmt::Display) -> String {
    format!("--{name}={value}")
}

/// `exec` with the ClusterConfiguration's `extraArgs` of its component,
/// as upstream's kubeadm builds a command: an extra argument replaces
/// kubeadm's own flag of the same name, one kubeadm does not set is
/// added, and one named twice is passed twice (in the file's order).
pub(crate) fn with_extra_args(exec: Vec<String>, extra: &[crate::config::Arg]) -> Vec<String> {
    let name_of = |a: &str| {
        a.strip_prefix("--")
            .map(|f| f.split_once('=').map(|(n, _)| n).unwrap_or(f).to_string())
    };
    let mut out: Vec<String> = exec
        .into_iter()
        .enumerate()
        .filter(|(i, a)| *i == 0 || !name_of(a).is_some_and(|n| extra.iter().any(|e| e.name == n)))
        .map(|(_, a)| a)
        .collect();
    out.extend(extra.iter().map(|e| arg(&e.name, &e.value)));
    out
}

fn etcd_binary(cfg: &Config) -> String {
    let ours = cfg.binary("etcd");
    if ours.exists() {
        return ours.display().to_string();
    }
    for dir in std::env::var("PATH").unwrap_or_default().split(':') {
        let p = Path::new(dir).join("etcd");
        if p.exists() {
            return p.display().to_string();
        }
    }
    "/usr/local/bin/etcd".into()
}

/// etcd with TLS for clients and peers, a single-member cluster named
/// after the node (`--initial-cluster` lists more for a joining control
/// plane).
pub fn etcd(cfg: &Config, initial_cluster: &str, state: &str) -> Unit {
    let pki = cfg.paths.pki_dir().join("etcd");
    let p = |f: &str| pki.join(f).display().to_string();
    let ip = cfg.advertise_address;
    let host = match ip {
        std::net::IpAddr::V6(v6) => format!("[{v6}]"),
        std::net::IpAddr::V4(v4) => v4.to_string(),
    };
    let client = format!("https://{host}:{}", cfg.etcd_client_port);
    let peer = format!("https://{host}:{}", cfg.etcd_peer_port);
    let mut listen = format!("https://127.0.0.1:{}", cfg.etcd_client_port);
    if !ip.is_loopback() {
        listen = format!("{listen},{client}");
    }
    let exec = vec![
        etcd_binary(cfg),
        arg("name", &cfg.node_name),
        arg("data-dir", cfg.paths.etcd_data_dir().display()),
        arg("advertise-client-urls", &client),
        arg("listen-client-urls", listen),
        arg("initial-advertise-peer-urls", &peer),
        arg("listen-peer-urls", &peer),
        arg("initial-cluster", initial_cluster),
        arg("initial-cluster-state", state),
        arg("cert-file", p("server.crt")),
        arg("key-file", p("server.key")),
        arg("trusted-ca-file", p("ca.crt")),
        arg("client-cert-auth", "true"),
        arg("peer-cert-file", p("peer.crt")),
        arg("peer-key-file", p("peer.key")),
        arg("peer-trusted-ca-file", p("ca.crt")),
        arg("peer-client-cert-auth", "true"),
        arg("snapshot-count", 10000),
        arg("max-request-bytes", 2097152),
    ];
    Unit {
        name: "etcd".into(),
        description: "etcd: the cluster's key-value store".into(),
        exec: with_extra_args(exec, &cfg.extra_args.etcd),
        after: vec![],
        delegate: false,
    }
}

fn host(cfg: &Config) -> String {
    match cfg.advertise_address {
        std::net::IpAddr::V6(v6) => format!("[{v6}]"),
        std::net::IpAddr::V4(v4) => v4.to_string(),
    }
}

/// This node's etcd peer URL.
pub fn etcd_peer_url(cfg: &Config) -> String {
    format!("https://{}:{}", host(cfg), cfg.etcd_peer_port)
}

/// This node's etcd client URL (what other nodes dial).
pub fn etcd_client_url(cfg: &Config) -> String {
    format!("https://{}:{}", host(cfg), cfg.etcd_client_port)
}

/// This node's etcd member in `--initial-cluster` form.
pub fn etcd_member(cfg: &Config) -> String {
    let host = match cfg.advertise_address {
        std::net::IpAddr::V6(v6) => format!("[{v6}]"),
        std::net::IpAddr::V4(v4) => v4.to_string(),
    };
    format!("{}=https://{host}:{}", cfg.node_name, cfg.etcd_peer_port)
}

/// The apiserver, with every flag upstream's kubeadm sets that ours takes.
pub fn apiserver(cfg: &Config) -> Unit {
    let pki = cfg.paths.pki_dir();
    let p = |f: &str| pki.join(f).display().to_string();
    let exec = vec![
        cfg.binary("apiserver").display().to_string(),
        arg("advertise-address", cfg.advertise_address),
        arg("bind-address", "0.0.0.0"),
        arg("secure-port", cfg.bind_port),
        arg("authorization-mode", "Node,RBAC"),
        arg("client-ca-file", p("ca.crt")),
        arg("enable-bootstrap-token-auth", "true"),
        arg(
            "etcd-servers",
            format!("https://127.0.0.1:{}", cfg.etcd_client_port),
        ),
        arg("etcd-cafile", p("etcd/ca.crt")),
        arg("etcd-certfile", p("apiserver-etcd-client.crt")),
        arg("etcd-keyfile", p("apiserver-etcd-client.key")),
        arg(
            "kubelet-client-certificate",
            p("apiserver-kubelet-client.crt"),
        ),
        arg("kubelet-client-key", p("apiserver-kubelet-client.key")),
        // Kubelets serve with certificates the cluster CA signed
        // (serverTLSBootstrap): check them.
        arg("kubelet-certificate-authority", p("ca.crt")),
        arg("proxy-client-cert-file", p("front-proxy-client.crt")),
        arg("proxy-client-key-file", p("front-proxy-client.key")),
        arg("requestheader-allowed-names", "front-proxy-client"),
        arg("requestheader-client-ca-file", p("front-proxy-ca.crt")),
        arg("requestheader-extra-headers-prefix", "X-Remote-Extra-"),
        arg("requestheader-group-headers", "X-Remote-Group"),
        arg("requestheader-username-headers", "X-Remote-User"),
        arg(
            "service-account-issuer",
            format!("https://kubernetes.default.svc.{}", cfg.dns_domain),
        ),
        arg("service-account-key-file", p("sa.pub")),
        arg("service-account-signing-key-file", p("sa.key")),
        arg("service-cluster-ip-range", &cfg.service_cidr),
        arg("tls-cert-file", p("apiserver.crt")),
        arg("tls-private-key-file", p("apiserver.key")),
    ];
    Unit {
        name: "kube-apiserver".into(),
        description: "kube-apiserver: the Kubernetes API".into(),
        exec: with_extra_args(exec, &cfg.extra_args.apiserver),
        after: vec!["etcd".into()],
        delegate: false,
    }
}

/// The controller-manager: the cluster CA signs the CSRs (the kubelets'
/// client certificates), and the bootstrap token controllers (off by
/// default, as upstream) sign `cluster-info` and remove expired tokens.
pub fn controller_manager(cfg: &Config) -> Unit {
    let pki = cfg.paths.pki_dir();
    let p = |f: &str| pki.join(f).display().to_string();
    let mut exec = leader_elected(cfg, "controller-manager", cfg.controller_manager_port);
    exec.push(arg("root-ca-file", p("ca.crt")));
    exec.push(arg("use-service-account-credentials", "true"));
    exec.push(arg("cluster-signing-cert-file", p("ca.crt")));
    exec.push(arg("cluster-signing-key-file", p("ca.key")));
    exec.push(arg(
        "controllers",
        "*,bootstrapsigner,tokencleaner,csrapproving-kubelet-serving",
    ));
    match &cfg.pod_network_cidr {
        Some(cidr) => {
            exec.push(arg("allocate-node-cidrs", "true"));
            exec.push(arg("cluster-cidr", cidr));
        }
        None => exec.push(arg("allocate-node-cidrs", "false")),
    }
    Unit {
        name: "kube-controller-manager".into(),
        description: "kube-controller-manager: the control loops".into(),
        exec: with_extra_args(exec, &cfg.extra_args.controller_manager),
        after: vec!["kube-apiserver".into()],
        delegate: false,
    }
}

/// The command line a leader-elected component (`controller-manager`,
/// `scheduler`) starts with: its kubeconfig (`<binary>.conf`), its
/// `/healthz` on loopback at `port` with a self-signed pair in
/// `/etc/kubernetes/<binary>`.
fn leader_elected(cfg: &Config, binary: &str, port: u16) -> Vec<String> {
    vec![
        cfg.binary(binary).display().to_string(),
        arg(
            "kubeconfig",
            cfg.paths.kubeconfig(&format!("{binary}.conf")).display(),
        ),
        arg("bind-address", "127.0.0.1"),
        arg("secure-port", port),
        arg(
            "cert-dir",
            cfg.paths.kubernetes_dir().join(binary).display(),
        ),
        arg("leader-elect", "true"),
    ]
}

/// The scheduler.
pub fn scheduler(cfg: &Config) -> Unit {
    let exec = leader_elected(cfg, "scheduler", cfg.scheduler_port);
    Unit {
        name: "kube-scheduler".into(),
        description: "kube-scheduler: binds pods to nodes".into(),
        exec: with_extra_args(exec, &cfg.extra_args.scheduler),
        after: vec!["kube-apiserver".into()],
        delegate: false,
    }
}

/// Writes `unit` to its file under `units_dir`.
pub fn write(units_dir: &Path, unit: &Unit) -> Result<(), crate::pki::Error> {
    crate::pki::write_file(&unit.path(units_dir), unit.render().as_bytes(), false)
}

/// Every unit kubeadm wrote under `units_dir`.
pub fn written(units_dir: &Path) -> Vec<Unit> {
    let Ok(entries) = std::fs::read_dir(units_dir) else {
        return vec![];
    };
    let mut units: Vec<Unit> = entries
        .flatten()
        .filter_map(|e| {
            let name = e
                .file_name()
                .to_string_lossy()
                .strip_suffix(".service")?
                .to_string();
            let text = std::fs::read_to_string(e.path()).ok()?;
            Unit::parse(&name, &text)
        })
        .collect();
    // Dependencies first.
    let order = [
        "etcd",
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
        "kubelet",
    ];
    units.sort_by_key(|u| {
        order
            .iter()
            .position(|o| *o == u.name)
            .unwrap_or(order.len())
    });
    units
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A machine with upstream's defaults.
    fn defaults(binaries_dir: &Path) -> Config {
        Config {
            binaries_dir: binaries_dir.into(),
            ..crate::config::tests::defaults()
        }
    }

    fn all_units(cfg: &Config) -> Vec<Unit> {
        let mut etcd = etcd(cfg, &etcd_member(cfg), "new");
        etcd.exec[0] = cfg.binary("etcd").display().to_string();
        vec![
            etcd,
            apiserver(cfg),
            controller_manager(cfg),
            scheduler(cfg),
            crate::kubelet::unit(cfg, true),
        ]
    }

    /// manifests/systemd/ holds what init renders with upstream's defaults
    /// (`UPDATE_MANIFESTS=1 cargo test -p kubeadm` rewrites them).
    #[test]
    fn the_manifests_are_what_init_renders() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../manifests/systemd");
        let cfg = defaults(Path::new("/usr/local/bin"));
        for unit in all_units(&cfg) {
            let path = unit.path(&dir);
            if std::env::var_os("UPDATE_MANIFESTS").is_some() {
                std::fs::create_dir_all(&dir).unwrap();
                std::fs::write(&path, unit.render()).unwrap();
            }
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            assert_eq!(
                text,
                unit.render(),
                "{} is stale: UPDATE_MANIFESTS=1",
                path.display()
            );
        }
    }

    /// The units pass `systemd-analyze verify` (with stand-in executables:
    /// it checks that ExecStart's program exists).
    #[test]
    fn the_units_pass_systemd_analyze_verify() {
        if !Path::new("/usr/bin/systemd-analyze").exists() {
            eprintln!("no systemd-analyze here");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let bins = dir.path().join("bin");
        std::fs::create_dir_all(&bins).unwrap();
        for b in [
            "etcd",
            "apiserver",
            "controller-manager",
            "scheduler",
            "kubelet",
        ] {
            use std::os::unix::fs::PermissionsExt;
            let p = bins.join(b);
            std::fs::write(&p, "#!/bin/sh\n").unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let cfg = defaults(&bins);
        let units = dir.path().join("units");
        let mut paths = Vec::new();
        for unit in all_units(&cfg) {
            write(&units, &unit).unwrap();
            paths.push(unit.path(&units));
        }
        let out = std::process::Command::new("systemd-analyze")
            .arg("verify")
            .args(&paths)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        // Only complaints about our units count (the host's own units may
        // have theirs).
        let ours: Vec<&str> = stderr
            .lines()
            .filter(|l| paths.iter().any(|p| l.contains(&*p.display().to_string())))
            .collect();
        assert!(out.status.success() && ours.is_empty(), "{stderr}");
    }

    /// ClusterConfiguration `extraArgs`: same name replaces kubeadm's flag,
    /// a new one is added, a repeated one passed twice; other components
    /// are untouched.
    #[test]
    fn extra_args_replace_or_add_flags() {
        let a = |name: &str, value: &str| crate::config::Arg {
            name: name.into(),
            value: value.into(),
        };
        let cfg = Config {
            extra_args: crate::config::ExtraArgs {
                controller_manager: vec![
                    a("cluster-cidr", "172.20.0.0/20"),
                    a("node-monitor-grace-period", "12s"),
                ],
                apiserver: vec![a("audit-log-path", "/a.log"), a("audit-log-path", "/b.log")],
                ..Default::default()
            },
            ..defaults(Path::new("/usr/local/bin"))
        };
        let cm = controller_manager(&cfg).exec;
        assert_eq!(cm[0], "/usr/local/bin/controller-manager");
        let cidrs: Vec<&String> = cm
            .iter()
            .filter(|f| f.starts_with("--cluster-cidr="))
            .collect();
        assert_eq!(cidrs, ["--cluster-cidr=172.20.0.0/20"]);
        assert!(cm.contains(&"--node-monitor-grace-period=12s".to_string()));
        assert!(cm.contains(&"--leader-elect=true".to_string()), "{cm:?}");
        let api = apiserver(&cfg).exec;
        let audit: Vec<&String> = api.iter().filter(|f| f.starts_with("--audit")).collect();
        assert_eq!(
            audit,
            ["--audit-log-path=/a.log", "--audit-log-path=/b.log"]
        );
        assert_eq!(
            scheduler(&cfg).exec,
            scheduler(&defaults(Path::new("/usr/local/bin"))).exec
        );
    }

    #[test]
    fn a_unit_reads_back_as_written() {
        let unit = Unit {
            name: "kubelet".into(),
            description: "kubelet".into(),
            exec: vec![
                "/bin/kubelet".into(),
                "--x=a b".into(),
                "--y=\"q\"".into(),
                "".into(),
            ],
            after: vec!["kube-apiserver".into()],
            delegate: true,
        };
        let text = unit.render();
        assert!(text.contains("Restart=always"));
        assert!(text.contains("Delegate=yes"));
        assert_eq!(Unit::parse("kubelet", &text), Some(unit));
        assert_eq!(Unit::parse("x", "[Unit]\n"), None, "not ours");
    }
}
