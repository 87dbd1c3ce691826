//! Pod networking on real namespaces and the real CNI plugins.
//!
//! Two "nodes" are network namespaces joined by a veth pair (node IPs
//! 10.X.0.1 and 10.X.0.2); each runs the [`Network`] API from a thread that
//! `setns()`'d into it, exactly like a lab kubelet under `nsenter --net`
//! (the plugins, `ip` and `iptables` it starts inherit the thread's
//! namespace). Each node gets a podCIDR (10.X.1.0/24, 10.X.2.0/24) and a pod
//! (a namespace from `ip netns add`). Checked: pod-to-pod ping across nodes
//! through the host-gw routes, a hostPort reaching a server in a pod from the
//! other node's pod, idempotent setup, no address leaked by a failed setup,
//! route sync leaving foreign routes alone, teardown freeing the address
//! with the namespace present or already deleted, forwarding never
//! touched in the root namespace, and the same links, addresses and routes
//! whether the plugins or the kubelet's own netlink requests made them.
//!
//! Everything lives in namespaces this test creates, named
//! `ktnet<pid>-...`; guards delete them, and leftovers of a killed run (whose
//! pid is gone) are deleted at the start. Needs root and the Debian packages
//! containernetworking-plugins, iproute2, iptables and busybox-static;
//! without them the test says so and passes (fails under `hack/test.sh`,
//! which sets `MINIK8S_REQUIRE_ALL`).

use std::fs::File;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use kubelet::network::kubenet::netlink::{self, AddressOp};
use kubelet::network::{self, Error, Network, NetworkConfig, NetworkPlugin, PodRef, PortMapping};

const PREFIX: &str = "ktnet";

fn run(cmd: &[&str]) -> Output {
    Command::new(cmd[0])
        .args(&cmd[1..])
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e}"))
}

fn must(cmd: &[&str]) -> String {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn missing_prerequisite() -> Option<String> {
    if !prerequisites::is_root() {
        return Some("not root".into());
    }
    for bin in [
        "/usr/lib/cni/bridge",
        "/usr/lib/cni/host-local",
        "/usr/lib/cni/loopback",
        "/usr/lib/cni/portmap",
    ] {
        if !Path::new(bin).exists() {
            return Some(format!(
                "{bin} is missing (Debian package containernetworking-plugins)"
            ));
        }
    }
    for (bin, pkg) in [
        ("ip", "iproute2"),
        ("iptables", "iptables"),
        ("busybox", "busybox-static"),
    ] {
        if Command::new(bin).arg("--version").output().is_err()
            && Command::new(bin).arg("--help").output().is_err()
        {
            return Some(format!("{bin} is missing (Debian package {pkg})"));
        }
    }
    None
}

/// A network namespace made by this test, deleted on drop.
struct Netns {
    name: String,
}

impl Netns {
    fn add(name: String) -> Netns {
        must(&["ip", "netns", "add", &name]);
        must(&["ip", "-n", &name, "link", "set", "lo", "up"]);
        Netns { name }
    }

    fn path(&self) -> PathBuf {
        PathBuf::from("/run/netns").join(&self.name)
    }

    /// `ip netns exec <ns> <cmd>`.
    fn exec(&self, cmd: &[&str]) -> Output {
        let mut full = vec!["ip", "netns", "exec", &self.name];
        full.extend_from_slice(cmd);
        run(&full)
    }

    /// Runs `f` on a thread inside this namespace.
    fn enter<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        let path = self.path();
        std::thread::scope(|s| {
            s.spawn(move || {
                let fd = File::open(&path).expect("opening the netns");
                nix::sched::setns(&fd, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
                f()
            })
            .join()
            .expect("netns thread panicked")
        })
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

/// A background process, killed on drop.
struct Bg(Child);

impl Drop for Bg {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Deletes namespaces and directories of earlier runs whose process is gone.
fn remove_leftovers() {
    let dead = |name: &str| -> bool {
        let Some(rest) = name.strip_prefix(PREFIX) else {
            return false;
        };
        let pid = rest.split('-').next().unwrap_or("");
        !pid.is_empty()
            && pid.chars().all(|c| c.is_ascii_digit())
            && !Path::new("/proc").join(pid).exists()
    };
    if let Ok(entries) = std::fs::read_dir("/run/netns") {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if dead(&name) {
                let _ = Command::new("ip").args(["netns", "del", &name]).output();
            }
        }
    }
    if let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) {
        for e in entries.flatten() {
            if dead(&e.file_name().to_string_lossy()) {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
}

fn pod(name: &str) -> PodRef {
    PodRef {
        namespace: "default".into(),
        name: name.into(),
        uid: format!("uid-{name}"),
    }
}

fn ip_forward() -> String {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap_or_default()
}

/// Retries a command a few times: the first packet may wait on ARP.
fn eventually(ns: &Netns, cmd: &[&str]) -> Output {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let out = ns.exec(cmd);
        if out.status.success() || Instant::now() > deadline {
            return out;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn forwarding_is_never_enabled_in_the_root_netns() {
    if let Some(why) = missing_prerequisite() {
        prerequisites::missing("forwarding_is_never_enabled_in_the_root_netns", &why);
        return;
    }
    let before = ip_forward();
    assert!(network::forwarding::in_root_netns().unwrap());
    assert!(!network::enable_forwarding_outside_root_netns().unwrap());
    assert_eq!(ip_forward(), before);
}

/// The built-in network's netlink requests against a real kernel: absent
/// links, "File exists" kept recognisable, and errors that read as the `ip`
/// command that does the same.
#[test]
fn netlink_requests_in_a_namespace() {
    if !prerequisites::is_root() {
        prerequisites::missing("netlink_requests_in_a_namespace", "not root");
        return;
    }
    remove_leftovers();
    let ns = Netns::add(format!("{PREFIX}{}-nl", std::process::id()));
    ns.enter(|| {
        let mut nl = netlink::Handle::open().unwrap();
        assert_eq!(nl.link_index("ktbr0").unwrap(), None);
        nl.add_bridge("ktbr0").unwrap();
        let index = nl.link_index("ktbr0").unwrap().expect("the bridge's index");
        let again = nl.add_bridge("ktbr0").unwrap_err();
        assert!(netlink::is_exists(&again), "{again}");
        assert!(
            again
                .to_string()
                .starts_with("ip link add name ktbr0 type bridge: File exists"),
            "{again}"
        );
        let gw = "10.9.9.1".parse().unwrap();
        nl.address(AddressOp::Replace, "ktbr0", index, gw, 24)
            .unwrap();
        nl.address(AddressOp::Replace, "ktbr0", index, gw, 24)
            .unwrap();
        let dup = nl
            .address(AddressOp::Add, "ktbr0", index, gw, 24)
            .unwrap_err();
        assert!(netlink::is_exists(&dup), "{dup}");
        nl.set_up("ktbr0", Some(1400)).unwrap();
        let missing = nl.set_up("ktnone", None).unwrap_err();
        assert!(
            missing
                .to_string()
                .starts_with("ip link set ktnone up: No such device"),
            "{missing}"
        );
        assert!(nl.del_link("ktbr0").unwrap());
        assert!(!nl.del_link("ktbr0").unwrap());
    });
    let left = must(&["ip", "-n", &ns.name, "link", "show"]);
    assert!(!left.contains("ktbr0"), "{left}");
}

#[test]
fn pods_on_two_nodes() {
    pods_on_two_nodes_with("pods_on_two_nodes", NetworkPlugin::Cni);
}

/// The same with the kubelet's built-in bridge and addresses (`kubenet`),
/// which must also share host-local's allocations with the plugins.
#[test]
fn pods_on_two_nodes_with_the_builtin_network() {
    pods_on_two_nodes_with(
        "pods_on_two_nodes_with_the_builtin_network",
        NetworkPlugin::Kubenet,
    );
}

fn pods_on_two_nodes_with(test: &str, plugin: NetworkPlugin) {
    if let Some(why) = missing_prerequisite() {
        prerequisites::missing(test, &why);
        return;
    }
    let started = Instant::now();
    remove_leftovers();
    let root_forward = ip_forward();
    let pid = std::process::id();
    let x = 100 + pid % 150;
    let name = |s: &str| format!("{PREFIX}{pid}-{s}");
    let dir = tempfile::Builder::new()
        .prefix(&format!("{PREFIX}{pid}-"))
        .tempdir()
        .unwrap();

    // Two nodes on one link.
    let n1 = Netns::add(name("n1"));
    let n2 = Netns::add(name("n2"));
    let (node1_ip, node2_ip) = (format!("10.{x}.0.1"), format!("10.{x}.0.2"));
    must(&[
        "ip", "-n", &n1.name, "link", "add", "eth1", "type", "veth", "peer", "name", "eth1",
        "netns", &n2.name,
    ]);
    for (n, ip) in [(&n1, &node1_ip), (&n2, &node2_ip)] {
        must(&[
            "ip",
            "-n",
            &n.name,
            "addr",
            "add",
            &format!("{ip}/24"),
            "dev",
            "eth1",
        ]);
        must(&["ip", "-n", &n.name, "link", "set", "eth1", "up"]);
    }
    let (cidr1, cidr2) = (format!("10.{x}.1.0/24"), format!("10.{x}.2.0/24"));
    let mk = |n: &str, plugin: NetworkPlugin| {
        Network::new(NetworkConfig {
            cni_conf_dir: dir.path().join(n).join("net.d"),
            state_dir: dir.path().join(n).join("state"),
            plugin,
            ..NetworkConfig::default()
        })
    };
    let (net1, net2) = (mk("n1", plugin), mk("n2", plugin));

    // A pod on each node; pod1 serves a hostPort.
    let p1 = Netns::add(name("p1"));
    let p2 = Netns::add(name("p2"));
    let host_port = PortMapping {
        container_port: 8080,
        host_port: 18080,
        protocol: "tcp".into(),
        host_ip: String::new(),
    };
    let ip1 = n1.enter(|| {
        net1.ensure_config(&cidr1).unwrap();
        net1.ensure_config(&cidr1).unwrap();
        assert!(
            network::enable_forwarding_outside_root_netns().unwrap(),
            "a node netns is not the root one"
        );
        net1.setup_pod(
            &p1.path(),
            &pod("web-1"),
            "sb1",
            std::slice::from_ref(&host_port),
        )
        .unwrap()
    });
    let ip2 = n2.enter(|| {
        net2.ensure_config(&cidr2).unwrap();
        assert!(network::enable_forwarding_outside_root_netns().unwrap());
        net2.setup_pod(&p2.path(), &pod("web-2"), "sb2", &[])
            .unwrap()
    });
    assert_eq!(
        ip_forward(),
        root_forward,
        "forwarding of the root netns must not change"
    );
    assert_eq!(
        String::from_utf8_lossy(&n1.exec(&["cat", "/proc/sys/net/ipv4/ip_forward"]).stdout).trim(),
        "1"
    );
    let (ip1, ip2) = (ip1.ip, ip2.ip);
    assert!(
        cidr1.starts_with(&format!("10.{x}.1."))
            && ip1.to_string().starts_with(&format!("10.{x}.1.")),
        "{ip1}"
    );
    assert!(ip2.to_string().starts_with(&format!("10.{x}.2.")), "{ip2}");
    assert!(
        net1.ipam_dir().join(ip1.to_string()).exists(),
        "host-local records the allocation"
    );
    assert_eq!(net1.pod_ip("sb1"), Some(ip1));
    let eth0 = must(&["ip", "-n", &p1.name, "-4", "addr", "show", "eth0"]);
    assert!(eth0.contains(&ip1.to_string()), "{eth0}");
    // Both ways leave the same links: the pod's node end on the bridge with
    // hairpin on, the bridge with the gateway, the pod's default route.
    let ports = must(&["ip", "-d", "-n", &n1.name, "link", "show", "master", "cni0"]);
    assert!(
        ports.contains("mtu 1500") && ports.contains("hairpin on") && ports.contains(",UP"),
        "{ports}"
    );
    let bridge = must(&["ip", "-n", &n1.name, "-4", "addr", "show", "cni0"]);
    assert!(bridge.contains(&format!("10.{x}.1.1/24")), "{bridge}");
    let default = must(&["ip", "-n", &p1.name, "route", "show", "default"]);
    assert_eq!(default.trim(), format!("default via 10.{x}.1.1 dev eth0"));

    // Setup again for the same sandbox: same address.
    let again = n1.enter(|| {
        net1.setup_pod(
            &p1.path(),
            &pod("web-1"),
            "sb1",
            std::slice::from_ref(&host_port),
        )
    });
    assert_eq!(again.unwrap().ip, ip1);

    // Routes: each node to the other's podCIDR; a route we did not add
    // survives every sync.
    let foreign = format!("10.{x}.9.0/24");
    must(&[
        "ip", "-n", &n1.name, "route", "add", &foreign, "via", &node2_ip,
    ]);
    let node2: IpAddr = node2_ip.parse().unwrap();
    let node1: IpAddr = node1_ip.parse().unwrap();
    n1.enter(|| net1.sync_routes(&[(node2, cidr2.clone())]))
        .unwrap();
    n1.enter(|| net1.sync_routes(&[(node2, cidr2.clone())]))
        .unwrap();
    n2.enter(|| net2.sync_routes(&[(node1, cidr1.clone())]))
        .unwrap();
    let ours = must(&["ip", "-n", &n1.name, "route", "show", "proto", "77"]);
    assert!(ours.contains(&format!("{cidr2} via {node2_ip}")), "{ours}");

    // Pod to pod across nodes, both ways.
    let ping = eventually(&p1, &["busybox", "ping", "-c1", "-W1", &ip2.to_string()]);
    assert!(
        ping.status.success(),
        "pod1 -> pod2: {}",
        String::from_utf8_lossy(&ping.stdout)
    );
    let ping = eventually(&p2, &["busybox", "ping", "-c1", "-W1", &ip1.to_string()]);
    assert!(
        ping.status.success(),
        "pod2 -> pod1: {}",
        String::from_utf8_lossy(&ping.stdout)
    );

    // hostPort: node1:18080 -> pod1:8080, from the pod on node2.
    let www = dir.path().join("www");
    std::fs::create_dir_all(&www).unwrap();
    std::fs::write(www.join("index.html"), "hello from pod1\n").unwrap();
    let _httpd = Bg(Command::new("ip")
        .args([
            "netns", "exec", &p1.name, "busybox", "httpd", "-f", "-p", "8080", "-h",
        ])
        .arg(&www)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap());
    let url = format!("http://{node1_ip}:18080/index.html");
    let got = eventually(
        &p2,
        &["timeout", "5", "busybox", "wget", "-q", "-O", "-", &url],
    );
    assert_eq!(
        String::from_utf8_lossy(&got.stdout),
        "hello from pod1\n",
        "hostPort: {}",
        String::from_utf8_lossy(&got.stderr)
    );

    // A setup that fails after IPAM (portmap rejects host port 0) must not
    // leak the address nor leave the interface behind.
    let p3 = Netns::add(name("p3"));
    let bad = PortMapping {
        host_port: 0,
        ..host_port.clone()
    };
    let allocated = |net: &Network| -> Vec<String> {
        std::fs::read_dir(net.ipam_dir())
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n.parse::<IpAddr>().is_ok())
                    .collect()
            })
            .unwrap_or_default()
    };
    let before = allocated(&net1);
    let err = n1
        .enter(|| net1.setup_pod(&p3.path(), &pod("bad"), "sb3", &[bad]))
        .unwrap_err();
    assert!(
        matches!(err, Error::Plugin { .. } | Error::PluginFailed { .. }),
        "{err}"
    );
    assert_eq!(
        allocated(&net1),
        before,
        "a failed setup leaked an address: {err}"
    );
    assert!(!run(&["ip", "-n", &p3.name, "link", "show", "eth0"])
        .status
        .success());
    assert_eq!(net1.pod_ip("sb3"), None);

    // The other way of attaching on the same node shares the addresses:
    // a pod attached by it gets a free one, and its DEL frees it.
    let other = match plugin {
        NetworkPlugin::Cni => NetworkPlugin::Kubenet,
        NetworkPlugin::Kubenet => NetworkPlugin::Cni,
    };
    let net1b = mk("n1", other);
    let p4 = Netns::add(name("p4"));
    let ip4 = n1
        .enter(|| net1b.setup_pod(&p4.path(), &pod("other"), "sb4", &[]))
        .unwrap()
        .ip;
    assert_ne!(ip4, ip1);
    assert!(net1.ipam_dir().join(ip4.to_string()).exists());
    let ping = eventually(&p4, &["busybox", "ping", "-c1", "-W1", &ip1.to_string()]);
    assert!(
        ping.status.success(),
        "{other:?} pod -> {plugin:?} pod on one node"
    );
    n1.enter(|| net1b.teardown_pod(Some(&p4.path()), &pod("other"), "sb4", &[]))
        .unwrap();
    assert!(!net1.ipam_dir().join(ip4.to_string()).exists());

    // Routes to a node that left are removed; the foreign one stays.
    n1.enter(|| net1.sync_routes(&[])).unwrap();
    assert_eq!(
        must(&["ip", "-n", &n1.name, "route", "show", "proto", "77"]).trim(),
        ""
    );
    assert!(must(&["ip", "-n", &n1.name, "route", "show"]).contains(&foreign));

    // Teardown with the namespace present: address, rules and record gone.
    let pref = pod("web-1");
    n1.enter(|| {
        net1.teardown_pod(
            Some(&p1.path()),
            &pref,
            "sb1",
            std::slice::from_ref(&host_port),
        )
    })
    .unwrap();
    assert!(!net1.ipam_dir().join(ip1.to_string()).exists());
    assert!(!run(&["ip", "-n", &p1.name, "link", "show", "eth0"])
        .status
        .success());
    let nat =
        String::from_utf8_lossy(&n1.exec(&["iptables", "-t", "nat", "-S"]).stdout).into_owned();
    assert!(!nat.contains("CNI-DN-"), "portmap rules left: {nat}");
    assert_eq!(net1.pod_ip("sb1"), None);

    // Teardown after the namespace is gone, then again (idempotent).
    let p2_path = p2.path();
    drop(p2);
    n2.enter(|| net2.teardown_pod(Some(&p2_path), &pod("web-2"), "sb2", &[]))
        .unwrap();
    assert!(!net2.ipam_dir().join(ip2.to_string()).exists());
    n2.enter(|| net2.teardown_pod(None, &pod("web-2"), "sb2", &[]))
        .unwrap();

    assert_eq!(ip_forward(), root_forward);
    eprintln!("network test ({plugin:?}) took {:?}", started.elapsed());
}
