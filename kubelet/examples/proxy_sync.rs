//! The service proxy at scale: how long one sync of the iptables rules
//! takes with many Services and endpoints (`hack/bench-proxy.sh` runs it
//! inside a network namespace of its own).
//!
//! Measured, each the median of `--rounds` runs:
//! - the first sync (a full one: `iptables-save`, every chain written), a
//!   sync after one endpoint changed and one with nothing changed (partial:
//!   only the changed Service's chains and the top chains written), through
//!   the proxy's own [`Syncer`];
//! - the reference, in the same run: a bare `iptables-restore --noflush`
//!   of the very text the sync wrote, i.e. what the kernel and
//!   iptables-restore alone cost for that rule set.
//!
//! Prints the figures and the ratio sync / reference.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kubelet::proxy::rules::{self, Options, Protocol, ServicePort};
use kubelet::proxy::{Iptables, Syncer, SystemIptables};

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `services` Services of `per_service` endpoints each, the endpoints spread
/// over 10.244.0.0/16, one endpoint `shift` moved to another address.
fn ports(services: usize, per_service: usize, shift: u32) -> Vec<ServicePort> {
    (0..services)
        .map(|s| {
            let endpoints: Vec<SocketAddrV4> = (0..per_service)
                .map(|e| {
                    let n = (s * per_service + e) as u32 + if s == 0 && e == 0 { shift } else { 0 };
                    SocketAddrV4::new(Ipv4Addr::from(0x0af4_0000 + 2 + n), 8080)
                })
                .collect();
            ServicePort {
                namespace: "bench".into(),
                name: format!("svc-{s}"),
                port_name: "http".into(),
                protocol: Protocol::Tcp,
                cluster_ip: Ipv4Addr::from(0x0a60_0000 + 10 + s as u32),
                port: 80,
                node_port: None,
                load_balancer_ips: Vec::new(),
                affinity_seconds: None,
                endpoint_nodes: BTreeMap::new(),
                endpoints,
                internal_local: false,
                external_local: false,
                health_check_node_port: None,
            }
        })
        .collect()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn bare_restore(text: &str) -> Duration {
    use std::io::Write as _;
    let t = Instant::now();
    let mut child = Command::new("iptables-restore")
        .args(["--noflush", "-w", "5"])
        .stdin(Stdio::piped())
        .spawn()
        .expect("iptables-restore runs");
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(text.as_bytes()).expect("writes the rules");
    }
    assert!(child.wait().expect("iptables-restore ends").success());
    t.elapsed()
}

fn flush_ours() {
    // Empty our chains and delete them, so the next first sync starts clean.
    let nat = SystemIptables.save("nat").expect("iptables-save");
    let stale = rules::stale_chains(&nat, &Default::default());
    let text = rules::render(&[], &stale, &Options::default());
    SystemIptables.restore(&text).expect("clean up");
}

fn main() {
    let services = arg("--services", 1000);
    let per_service = arg("--endpoints-per-service", 10);
    let rounds = arg("--rounds", 5);
    let base = ports(services, per_service, 0);
    let moved = ports(services, per_service, 1_000_000);
    let (mut first, mut changed, mut same, mut reference) = (vec![], vec![], vec![], vec![]);
    let text = rules::render(&base, &[], &Options::default());
    for _ in 0..rounds {
        flush_ours();
        // A new proxy each round: its first sync is a full one.
        let syncer = Syncer::new(SystemIptables, Options::default());
        let t = Instant::now();
        syncer.sync(&base).expect("first sync");
        first.push(t.elapsed());
        let t = Instant::now();
        syncer.sync(&moved).expect("sync after one endpoint moved");
        changed.push(t.elapsed());
        let t = Instant::now();
        syncer.sync(&moved).expect("sync without changes");
        same.push(t.elapsed());
        flush_ours();
        reference.push(bare_restore(&text));
    }
    flush_ours();
    let (first, changed, same, reference) = (
        median(first),
        median(changed),
        median(same),
        median(reference),
    );
    let lines = text.lines().filter(|l| l.starts_with("-A")).count();
    println!(
        "services={services} endpoints={} rules={lines}",
        services * per_service
    );
    println!(
        "first sync:                 {:>8.1} ms",
        first.as_secs_f64() * 1e3
    );
    println!(
        "one endpoint changed:       {:>8.1} ms",
        changed.as_secs_f64() * 1e3
    );
    println!(
        "nothing changed:            {:>8.1} ms",
        same.as_secs_f64() * 1e3
    );
    println!(
        "reference (bare restore):   {:>8.1} ms",
        reference.as_secs_f64() * 1e3
    );
    println!(
        "ratio first sync / reference: {:.2}x; changed sync / reference: {:.2}x",
        first.as_secs_f64() / reference.as_secs_f64(),
        changed.as_secs_f64() / reference.as_secs_f64()
    );
}
