//! Cluster DNS end to end on a real lab: every kubelet serves DNS on the
//! lab's `clusterDNS` address (10.96.0.10, on `lo` of its node's network
//! namespace, `kubelet/src/cluster_dns/`), so a pod on either node reaches a
//! Service by its short name and by its FQDN, a headless Service's name
//! gives its pods' IPs, an unknown name fails quickly, and the pods'
//! resolv.conf points at it.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use tests::lab::{wait_until, Lab, SPREAD_WEB};

const DNS_IP: &str = "10.96.0.10";

/// Beside [`SPREAD_WEB`]: a headless Service in front of the same pods, and
/// one client pod pinned to each node.
const APP: &str = r#"
apiVersion: v1
kind: Service
metadata:
  name: web-headless
spec:
  clusterIP: None
  selector: {app: web}
  ports:
  - {name: http, port: 8080, targetPort: http}
---
apiVersion: v1
kind: Pod
metadata:
  name: client-1
spec:
  nodeName: node-1
  containers:
  - name: c
    image: busybox:1.36
    command: ["sleep", "3600"]
---
apiVersion: v1
kind: Pod
metadata:
  name: client-2
spec:
  nodeName: node-2
  containers:
  - name: c
    image: busybox:1.36
    command: ["sleep", "3600"]
"#;

#[test]
fn pods_resolve_services_by_name() {
    let Some(lab) = Lab::up("e2e-dns", 2) else {
        return;
    };
    let start = Instant::now();

    // Each node has the address on its own lo (once its kubelet has a
    // podCIDR, a moment after the node turned Ready); the host does not.
    for node in 1..=lab.nodes {
        let lo = || {
            let out = lab.in_node(node, &["ip", "-4", "addr", "show", "dev", "lo"]);
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        let found = wait_until(Duration::from_secs(20), || {
            lo().contains(&format!("{DNS_IP}/32")).then_some(())
        });
        assert!(found.is_some(), "node-{node}'s lo:\n{}", lo());
    }
    let host = std::process::Command::new("ip")
        .args(["-4", "addr", "show"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    assert!(
        !host.contains(&format!("{DNS_IP}/32")),
        "the host got {DNS_IP}:\n{host}"
    );

    lab.apply(SPREAD_WEB);
    lab.apply(APP);
    let (code, out, err) = lab.kubectl(&["rollout", "status", "deployment/web", "--timeout=90s"]);
    assert_eq!(code, 0, "rollout status: {out}\n{err}");
    for c in ["client-1", "client-2"] {
        lab.kubectl_ok(&[
            "wait",
            "--for=condition=Ready",
            &format!("pod/{c}"),
            "--timeout=60s",
        ]);
    }
    let pods = lab.get_json(&["pods", "-l", "app=web"]);
    let items = pods["items"].as_array().cloned().unwrap_or_default();
    let names: BTreeSet<String> = items
        .iter()
        .filter_map(|p| p["metadata"]["name"].as_str().map(str::to_string))
        .collect();
    let ips: BTreeSet<String> = items
        .iter()
        .filter_map(|p| p["status"]["podIP"].as_str().map(str::to_string))
        .collect();
    assert_eq!(
        (names.len(), ips.len()),
        (2, 2),
        "two web pods: {names:?} {ips:?}"
    );

    // The pods' resolver configuration: the cluster DNS only, the cluster
    // search path, ndots:5.
    let resolv = lab.kubectl_ok(&["exec", "client-1", "--", "cat", "/etc/resolv.conf"]);
    assert!(
        resolv
            .lines()
            .any(|l| l
                .starts_with("search default.svc.cluster.local svc.cluster.local cluster.local")),
        "{resolv}"
    );
    assert!(
        resolv
            .lines()
            .any(|l| l.trim() == format!("nameserver {DNS_IP}")),
        "{resolv}"
    );
    assert_eq!(resolv.matches("nameserver").count(), 1, "{resolv}");
    assert!(
        resolv.lines().any(|l| l.trim() == "options ndots:5"),
        "{resolv}"
    );

    // Short name and FQDN, from a client on each node (each node's kubelet
    // answers for its own pods).
    for client in ["client-1", "client-2"] {
        for url in ["http://web/", "http://web.default.svc.cluster.local/"] {
            let page = wait_until(Duration::from_secs(20), || lab.wget(client, url, 10));
            assert!(
                page.as_ref().is_some_and(|p| names.contains(p)),
                "{client}: {url} gave {page:?}"
            );
        }
    }
    let resolved_at = start.elapsed();

    // Headless: the name is the pods' own addresses (port 8080 on the pod;
    // nothing listens on a ClusterIP for it).
    let page = lab.wget("client-1", "http://web-headless:8080/", 10);
    assert!(
        page.as_ref().is_some_and(|p| names.contains(p)),
        "web-headless gave {page:?}"
    );
    let (_, out, err) = lab.kubectl(&[
        "exec",
        "client-1",
        "--",
        "timeout",
        "10",
        "ping",
        "-c1",
        "-W2",
        "web-headless",
    ]);
    let addr = out
        .split_once('(')
        .and_then(|(_, rest)| rest.split_once(')'))
        .map(|(ip, _)| ip.to_string())
        .unwrap_or_default();
    assert!(
        ips.contains(&addr),
        "ping web-headless: {out}{err} (pod IPs {ips:?})"
    );

    // A pod name (`a-b-c-d.<ns>.pod`) is its address; a Service's
    // ClusterIP resolves back to its name; an ExternalName Service is a
    // CNAME.
    let web_ip = lab.get_json(&["service", "web"])["spec"]["clusterIP"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let nslookup = |args: &[&str]| {
        let mut cmd = vec!["exec", "client-1", "--", "timeout", "10", "nslookup"];
        cmd.extend_from_slice(args);
        let (_, out, err) = lab.kubectl(&cmd);
        format!("{out}{err}")
    };
    let reverse = nslookup(&[&web_ip, DNS_IP]);
    assert!(
        reverse.contains("web.default.svc.cluster.local"),
        "nslookup {web_ip}: {reverse}"
    );
    let pod_ip = ips.iter().next().cloned().unwrap_or_default();
    let pod_name = format!("{}.default.pod.cluster.local", pod_ip.replace('.', "-"));
    let by_pod = nslookup(&[&pod_name, DNS_IP]);
    assert!(by_pod.contains(&pod_ip), "nslookup {pod_name}: {by_pod}");
    lab.apply(
        r#"
apiVersion: v1
kind: Service
metadata:
  name: outside
spec:
  type: ExternalName
  externalName: db.example.org
"#,
    );
    let cname = wait_until(Duration::from_secs(15), || {
        let out = nslookup(&["-type=cname", "outside.default.svc.cluster.local", DNS_IP]);
        out.contains("db.example.org").then_some(out)
    });
    assert!(cname.is_some(), "outside is a CNAME to db.example.org");

    // A name nobody has fails, and quickly (NXDOMAIN in the cluster domain,
    // SERVFAIL from the unreachable upstream for the rest of the search).
    let t = Instant::now();
    assert_eq!(lab.wget("client-1", "http://nosuch/", 10), None);
    assert!(
        t.elapsed() < Duration::from_secs(8),
        "failing took {:?}",
        t.elapsed()
    );
    assert_eq!(
        lab.wget("client-2", "http://web.nosuch.svc.cluster.local/", 10),
        None
    );

    // A new Service is found within seconds of its creation.
    lab.apply(
        r#"
apiVersion: v1
kind: Service
metadata:
  name: late
spec:
  selector: {app: web}
  ports:
  - {port: 80, targetPort: http}
"#,
    );
    let page = wait_until(Duration::from_secs(15), || {
        lab.wget("client-2", "http://late/", 10)
    });
    assert!(
        page.is_some_and(|p| names.contains(&p)),
        "the new Service late"
    );
    eprintln!(
        "names resolved {resolved_at:?} after the lab was up; test body {:?}",
        start.elapsed()
    );
}
