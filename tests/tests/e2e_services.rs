//! Services end to end on a real lab: the kubelets' service proxy
//! (`kubelet/src/proxy/`) turns a ClusterIP into iptables NAT rules in each
//! node's network namespace, so a pod's `wget http://<clusterIP>/` reaches
//! the Service's ready pods, on its own node and on the other one, a pod
//! reaches itself through a Service (hairpin), same-node clients still
//! work where bridged traffic skips iptables, and a Service without
//! endpoints stops answering until it has some again; and the apiserver's
//! `pods/proxy`, `services/proxy` and `nodes/proxy` reach the same pods.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde_json::Value;
use tests::lab::{wait_until, ExternalHost, Lab, SPREAD_WEB};

/// Beside [`SPREAD_WEB`] (two web pods, one per node, and the Service
/// `web`): a `self` Service for the pod labelled `hairpin=yes` only, and a
/// client pod.
const APP: &str = r#"
apiVersion: v1
kind: Service
metadata:
  name: self
spec:
  selector: {app: web, hairpin: "yes"}
  ports:
  - {port: 8081, targetPort: 8080}
---
apiVersion: v1
kind: Pod
metadata:
  name: client
spec:
  containers:
  - name: c
    image: busybox:1.36
    command: ["sleep", "3600"]
---
apiVersion: v1
kind: Pod
metadata:
  name: linker
spec:
  containers:
  - name: c
    image: busybox:1.36
    command: ["sh", "-c", "mkdir -p /www && echo '<a href=\"/rewriteme\">test</a>' > /www/index.html && exec httpd -f -p 8090 -h /www"]
"#;

fn cluster_ip(lab: &Lab, svc: &str) -> String {
    let ip = lab.get_json(&["service", svc])["spec"]["clusterIP"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(ip.starts_with("10."), "service {svc} has clusterIP {ip:?}");
    ip
}

fn web_pods(lab: &Lab) -> Vec<Value> {
    lab.get_json(&["pods", "-l", "app=web"])["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    path.iter()
        .fold(v, |v, k| &v[*k])
        .as_str()
        .unwrap_or_default()
}

fn node_nat(lab: &Lab, node: usize) -> String {
    let out = lab.in_node(node, &["iptables-save", "-t", "nat"]);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn cluster_ip_load_balances_hairpins_and_follows_endpoints() {
    let Some(lab) = Lab::up("e2e-svc", 2) else {
        return;
    };
    let start = Instant::now();
    lab.apply(SPREAD_WEB);
    lab.apply(APP);
    let (code, out, err) = lab.kubectl(&["rollout", "status", "deployment/web", "--timeout=90s"]);
    assert_eq!(code, 0, "rollout status: {out}\n{err}");
    lab.kubectl_ok(&[
        "wait",
        "--for=condition=Ready",
        "pod/client",
        "--timeout=60s",
    ]);
    let web = web_pods(&lab);
    assert_eq!(web.len(), 2);
    let names: BTreeSet<String> = web
        .iter()
        .map(|p| str_at(p, &["metadata", "name"]).to_string())
        .collect();
    let nodes: BTreeSet<&str> = web
        .iter()
        .map(|p| str_at(p, &["spec", "nodeName"]))
        .collect();
    assert_eq!(nodes.len(), 2, "one web pod per node: {nodes:?}");
    let ip = cluster_ip(&lab, "web");
    let url = format!("http://{ip}/");

    // The client started after `web` existed, so its environment names it,
    // as it names the apiserver's `kubernetes` Service (how in-cluster
    // clients find the API).
    let env = lab.kubectl_ok(&["exec", "client", "--", "env"]);
    let has = |line: String| env.lines().any(|l| l == line);
    assert!(has(format!("WEB_SERVICE_HOST={ip}")), "{env}");
    assert!(has(format!("WEB_PORT=tcp://{ip}:80")), "{env}");
    let api_ip = lab.kubectl_ok(&[
        "get",
        "service",
        "kubernetes",
        "-n",
        "default",
        "-o",
        "jsonpath={.spec.clusterIP}",
    ]);
    assert!(
        has(format!("KUBERNETES_SERVICE_HOST={}", api_ip.trim())),
        "{env}"
    );
    assert!(has("KUBERNETES_SERVICE_PORT=443".into()), "{env}");

    // Both backends answer through the ClusterIP: one on the client's own
    // node (the reply crosses only the bridge), one on the other node.
    let mut seen = BTreeSet::new();
    for _ in 0..30 {
        if let Some(page) = lab.wget("client", &url, 10) {
            seen.insert(page);
        }
        if seen == names {
            break;
        }
    }
    assert_eq!(seen, names, "pages seen through {url}");

    // The apiserver's proxy subresources reach the same pages from outside
    // the cluster (through each pod's kubelet): a pod by name and port, the
    // Service by its port name, and a node's kubelet API.
    for name in &names {
        let page = lab.kubectl_ok(&[
            "get",
            "--raw",
            &format!("/api/v1/namespaces/default/pods/{name}:8080/proxy/"),
        ]);
        assert_eq!(page.trim(), name, "pods/{name}:8080/proxy/");
    }
    let page = lab.kubectl_ok(&[
        "get",
        "--raw",
        "/api/v1/namespaces/default/services/web:http/proxy/index.html",
    ]);
    assert!(
        names.contains(page.trim()),
        "services/web:http/proxy/: {page}"
    );
    // Links in an HTML page stay behind the proxy.
    let (code, out, err) = lab.kubectl(&[
        "wait",
        "--for=condition=Ready",
        "pod/linker",
        "--timeout=60s",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let linked = "/api/v1/namespaces/default/pods/linker:8090/proxy";
    let page = wait_until(Duration::from_secs(30), || {
        let (code, out, _) = lab.kubectl(&["get", "--raw", &format!("{linked}/index.html")]);
        (code == 0).then_some(out)
    })
    .expect("the linker page through pods/proxy");
    assert_eq!(
        page.trim(),
        format!("<a href=\"{linked}/rewriteme\">test</a>")
    );
    // Every method reaches the pod: HEAD and OPTIONS too (busybox httpd
    // answers OPTIONS with its own 501, where the apiserver would say 405),
    // and the proxy root without its slash moves to it, query and all.
    let server = lab.kubectl_ok(&[
        "config",
        "view",
        "--minify",
        "-o",
        "jsonpath={.clusters[0].cluster.server}",
    ]);
    let raw = |method: &str, path: &str| {
        let pki = lab.dir().join("pki");
        let out = std::process::Command::new("curl")
            .args([
                "-s",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code} %{redirect_url}",
            ])
            .arg("--cacert")
            .arg(lab.ca_cert())
            .arg("--cert")
            .arg(pki.join("admin.crt"))
            .arg("--key")
            .arg(pki.join("admin.key"))
            // `-X HEAD` would wait for the body the headers announce.
            .args(if method == "HEAD" {
                vec!["-I"]
            } else {
                vec!["-X", method]
            })
            .arg(format!("{}{path}", server.trim()))
            .output()
            .expect("curl runs");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    assert_eq!(raw("HEAD", &format!("{linked}/index.html")), "200");
    assert_eq!(raw("OPTIONS", &format!("{linked}/index.html")), "501");
    assert_eq!(
        raw("GET", &format!("{linked}?a=b")),
        format!("301 {}{linked}/?a=b", server.trim())
    );
    let healthz = lab.kubectl_ok(&["get", "--raw", "/api/v1/nodes/node-1/proxy/healthz"]);
    assert_eq!(healthz.trim(), "ok");
    let (code, _, err) = lab.kubectl(&[
        "get",
        "--raw",
        "/api/v1/namespaces/default/services/web:nosuchport/proxy/",
    ]);
    assert_ne!(code, 0);
    assert!(err.contains("no service port"), "{err}");
    let nat = node_nat(&lab, 1);
    assert!(
        nat.contains("default/web:http cluster IP") && nat.contains("-j KUBE-SVC-"),
        "node-1's nat table:\n{nat}"
    );

    // Hairpin: a pod reaches itself through a Service that has only it
    // (the web pod on the client's node).
    let client_node = str_at(&lab.get_json(&["pod", "client"]), &["spec", "nodeName"]).to_string();
    let me = web
        .iter()
        .find(|p| str_at(p, &["spec", "nodeName"]) == client_node)
        .map(|p| str_at(p, &["metadata", "name"]).to_string())
        .expect("a web pod on the client's node");
    lab.kubectl_ok(&["label", "pod", &me, "hairpin=yes"]);
    let self_url = format!("http://{}:8081/", cluster_ip(&lab, "self"));
    let page = wait_until(Duration::from_secs(20), || lab.wget(&me, &self_url, 5));
    assert_eq!(
        page.as_deref(),
        Some(me.as_str()),
        "hairpin through {self_url}"
    );

    // A node whose bridge does not hand frames to iptables (no
    // br_netfilter): the same-node backend's reply would skip conntrack and
    // never be un-DNATed. The restarted kubelet sees it and masquerades
    // same-bridge clients, and the client reaches its node's pod again.
    let n: usize = client_node
        .trim_start_matches("node-")
        .parse()
        .expect("lab nodes are node-<i>");
    let off = lab.in_node(
        n,
        &[
            "sh",
            "-c",
            "echo 0 > /proc/sys/net/bridge/bridge-nf-call-iptables",
        ],
    );
    assert!(
        off.status.success(),
        "setting bridge-nf-call-iptables=0 in node-{n}"
    );
    assert_eq!(
        lab.wget("client", &self_url, 3),
        None,
        "without br_netfilter and without masquerade a same-node reply is lost"
    );
    lab.kill_kubelet(n);
    lab.start_kubelet(n);
    // The restarted kubelet lists nodes, pods, Services and EndpointSlices
    // again before its proxy writes the masquerade; with every lab of the
    // suite on 2 cores that took over 30 s once.
    let page = wait_until(Duration::from_secs(60), || lab.wget("client", &self_url, 3));
    assert_eq!(
        page.as_deref(),
        Some(me.as_str()),
        "same-node client through {self_url} with bridge-nf-call-iptables=0"
    );

    // No endpoints: the ClusterIP stops answering (fast: rejected, not
    // timed out), and the rules of the gone endpoints are removed.
    lab.kubectl_ok(&["scale", "deployment/web", "--replicas=0"]);
    wait_until(Duration::from_secs(60), || {
        web_pods(&lab).is_empty().then_some(())
    })
    .expect("web pods gone after scaling to 0");
    let down = wait_until(Duration::from_secs(10), || {
        let t = Instant::now();
        lab.wget("client", &url, 10).is_none().then(|| t.elapsed())
    })
    .expect("the ClusterIP stops answering without endpoints");
    assert!(down < Duration::from_secs(5), "failing took {down:?}");
    // (The `kubernetes` Service keeps its own endpoint chain.)
    let web_endpoint_rules = |nat: &str| {
        nat.lines()
            .any(|l| l.starts_with("-A KUBE-SEP-") && l.contains("default/web:"))
    };
    for node in 1..=lab.nodes {
        let gone = wait_until(Duration::from_secs(10), || {
            (!web_endpoint_rules(&node_nat(&lab, node))).then_some(())
        });
        assert!(
            gone.is_some(),
            "node-{node} keeps endpoint chains:\n{}",
            node_nat(&lab, node)
        );
    }

    // Back to 2: reachable again within seconds of the pods being Ready.
    lab.kubectl_ok(&["scale", "deployment/web", "--replicas=2"]);
    let (code, out, err) = lab.kubectl(&["rollout", "status", "deployment/web", "--timeout=60s"]);
    assert_eq!(code, 0, "{out}{err}");
    let ready_at = Instant::now();
    let page = wait_until(Duration::from_secs(10), || lab.wget("client", &url, 5));
    assert!(
        page.is_some_and(|p| p.starts_with("web-")),
        "the ClusterIP answers again"
    );
    eprintln!(
        "reachable {:?} after the rollout finished; test body {:?}",
        ready_at.elapsed(),
        start.elapsed()
    );

    // The host's own tables were never touched (the lab runs every kubelet
    // in its node's network namespace).
    let host = std::process::Command::new("iptables-save")
        .args(["-t", "nat"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    assert!(
        !host.contains("KUBE-SVC-") && !host.contains("KUBE-SERVICES"),
        "the host's nat table has service proxy rules:\n{host}"
    );
}

/// `GET /` of `ip:port` from the test's own network namespace, which sits
/// outside the lab's nodes (its veth into the lab's switch): the page, or
/// `None`.
fn http_get(ip: &str, port: u16) -> Option<String> {
    http_request(ip, port, "/")
        .filter(|(status, _)| *status == 200)
        .map(|(_, body)| body)
}

/// `GET path` of `ip:port` from the test's own network namespace: the
/// status and the body, or `None` when nothing answers.
fn http_request(ip: &str, port: u16, path: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let addr: std::net::SocketAddr = format!("{ip}:{port}").parse().ok()?;
    let mut conn = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(3)).ok()?;
    conn.set_read_timeout(Some(Duration::from_secs(3))).ok()?;
    conn.write_all(format!("GET {path} HTTP/1.0\r\nHost: {ip}\r\n\r\n").as_bytes())
        .ok()?;
    let mut answer = String::new();
    conn.read_to_string(&mut answer).ok()?;
    let (head, body) = answer.split_once("\r\n\r\n")?;
    let status = head
        .strip_prefix("HTTP/1.")?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some((status, body.trim().to_string()))
}

/// Egress: a pod on each node fetches a page from a host outside the
/// cluster (which has no route to any podCIDR), and that host sees the
/// request come from the pod's node: the node masquerades what its pods
/// send beyond the pod network.
fn pods_reach_an_outside_host_through_their_node(lab: &Lab) {
    let host = ExternalHost::start(lab);
    let node_ips = lab.node_internal_ips();
    let url = format!("http://{}:8080/cgi-bin/peer", host.ip);
    for pod in web_pods(lab) {
        let name = str_at(&pod, &["metadata", "name"]).to_string();
        let want = node_ips
            .get(str_at(&pod, &["spec", "nodeName"]))
            .cloned()
            .unwrap_or_default();
        let seen = wait_until(Duration::from_secs(30), || lab.wget(&name, &url, 5));
        assert_eq!(
            seen.as_deref(),
            Some(want.as_str()),
            "{name} fetching {url}: the outside host should see the node's address"
        );
    }
    // Pod-to-pod traffic keeps the pods' own addresses (no masquerade
    // inside the pod network): checked by the Service tests above, whose
    // pages come from the web pods by pod IP.
}

/// A Service of type LoadBalancer on a 2-node lab: the built-in service
/// load balancer gives it both nodes' addresses, each node answers the
/// Service's port on its own address to a client outside the cluster (the
/// test itself, reaching the nodes through the lab's switch), and the
/// real kubectl shows the addresses as EXTERNAL-IP instead of `<pending>`.
#[test]
fn a_load_balancer_service_is_answered_on_every_nodes_address() {
    let Some(lab) = Lab::up("e2e-lb", 2) else {
        return;
    };
    lab.apply(SPREAD_WEB);
    lab.apply(
        r#"
apiVersion: v1
kind: Service
metadata:
  name: web-lb
spec:
  type: LoadBalancer
  selector: {app: web}
  ports:
  - {port: 8099, targetPort: 8080}
"#,
    );
    let ips = wait_until(Duration::from_secs(60), || {
        let svc = lab.get_json(&["service", "web-lb"]);
        let ips: Vec<String> = svc["status"]["loadBalancer"]["ingress"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|i| i["ip"].as_str().map(String::from))
            .collect();
        (ips.len() == 2).then_some(ips)
    })
    .expect("the Service gets both nodes' addresses");
    let node_ips: BTreeSet<String> = lab.node_internal_ips().into_values().collect();
    assert_eq!(ips.iter().cloned().collect::<BTreeSet<_>>(), node_ips);
    let table = lab.kubectl_ok(&["get", "service", "web-lb"]);
    assert!(table.contains(&ips.join(",")), "{table}");
    let pods: BTreeSet<String> = web_pods(&lab)
        .iter()
        .filter_map(|p| p["metadata"]["name"].as_str().map(String::from))
        .collect();
    // Each node's address, from outside: a web pod answers.
    for ip in &ips {
        let page = wait_until(Duration::from_secs(60), || {
            http_get(ip, 8099).filter(|page| pods.contains(page))
        });
        assert!(page.is_some(), "http://{ip}:8099/ from outside the nodes");
    }
    let events = lab.kubectl_ok(&[
        "get",
        "events",
        "--field-selector",
        "involvedObject.name=web-lb",
    ]);
    assert!(events.contains("EnsuredLoadBalancer"), "{events}");
    pods_reach_an_outside_host_through_their_node(&lab);
    local_traffic_policy_keeps_to_nodes_with_endpoints(&lab);
}

/// A pod on node-1 only, answering with the address it was reached from.
const PEER: &str = r#"
apiVersion: v1
kind: Pod
metadata:
  name: peer
  labels: {app: peer}
spec:
  nodeName: node-1
  containers:
  - name: c
    image: busybox:1.36
    command:
    - sh
    - -c
    - |
      mkdir -p /www/cgi-bin
      echo '#!/bin/sh' > /www/cgi-bin/peer
      echo 'printf "Content-Type: text/plain\r\n\r\n%s\n" "$REMOTE_ADDR"' >> /www/cgi-bin/peer
      chmod +x /www/cgi-bin/peer
      exec httpd -f -p 0.0.0.0:8080 -h /www
---
apiVersion: v1
kind: Service
metadata:
  name: peer-local
spec:
  type: LoadBalancer
  externalTrafficPolicy: Local
  selector: {app: peer}
  ports:
  - {port: 8098, targetPort: 8080}
"#;

/// `externalTrafficPolicy: Local`: only the node with the Service's pod
/// answers its node port, the pod sees the outside client's own address
/// (not the node's), and the health check node port says 200 on that node
/// and 503 on the other.
fn local_traffic_policy_keeps_to_nodes_with_endpoints(lab: &Lab) {
    lab.apply(PEER);
    let ips = lab.node_internal_ips();
    let (with, without) = (ips["node-1"].clone(), ips["node-2"].clone());
    let svc = wait_until(Duration::from_secs(60), || {
        let svc = lab.get_json(&["service", "peer-local"]);
        let ready = svc["spec"]["healthCheckNodePort"].is_u64()
            && svc["spec"]["ports"][0]["nodePort"].is_u64();
        ready.then_some(svc)
    })
    .expect("the Service gets a node port and a health check port");
    let node_port = svc["spec"]["ports"][0]["nodePort"].as_u64().unwrap_or(0) as u16;
    let health = svc["spec"]["healthCheckNodePort"].as_u64().unwrap_or(0) as u16;
    let client = format!("10.200.{}.1", lab.subnet());
    let seen = wait_until(Duration::from_secs(60), || {
        http_request(&with, node_port, "/cgi-bin/peer").filter(|(s, _)| *s == 200)
    });
    assert_eq!(
        seen.map(|(_, peer)| peer),
        Some(client),
        "the pod should see the outside client's address through node-1's node port"
    );
    assert_eq!(
        http_request(&without, node_port, "/cgi-bin/peer"),
        None,
        "node-2 has no endpoint of peer-local and must not answer its node port"
    );
    let (status, body) = wait_until(Duration::from_secs(30), || {
        http_request(&with, health, "/").filter(|(s, _)| *s == 200)
    })
    .expect("node-1's health check port answers 200");
    assert_eq!(status, 200);
    let body: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(body["localEndpoints"], 1, "{body}");
    assert_eq!(body["service"]["name"], "peer-local");
    let (status, _) = wait_until(Duration::from_secs(30), || {
        http_request(&without, health, "/")
    })
    .expect("node-2's health check port answers");
    assert_eq!(status, 503, "node-2 has no local endpoint");
}
