//! NetworkPolicies end to end on a real two-node lab whose kubelets attach
//! pods with their built-in bridge (`networkPlugin: kubenet`), with the real
//! kubectl:
//! the kubelets' policy enforcement (`kubelet/src/network/policy/`) turns
//! the cluster's policies into filter rules in each node's network
//! namespace. A default-deny policy stops new connections to pods on both
//! nodes while a connection made before keeps flowing; an allow rule for a
//! label (by named port) opens the way again for that label only, on the
//! same node and across nodes; an egress rule with an `ipBlock` exception
//! refuses the excepted outside host and nothing else; deleting the
//! policies removes every chain; and a malformed policy is refused with
//! upstream's messages.

use std::io::{BufRead, BufReader};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tests::lab::{wait_until, ExternalHost, Lab, SPREAD_WEB};

/// Beside [`SPREAD_WEB`] (a web pod on each node): two clients told apart
/// by a label, and a pod that streams a line a second to whoever connects
/// to its port 9000.
const PODS: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: client, labels: {role: client}}
spec:
  containers:
  - {name: c, image: "busybox:1.36", command: ["sleep", "3600"]}
---
apiVersion: v1
kind: Pod
metadata: {name: stranger}
spec:
  containers:
  - {name: c, image: "busybox:1.36", command: ["sleep", "3600"]}
---
apiVersion: v1
kind: Pod
metadata: {name: talker, labels: {app: talker}}
spec:
  containers:
  - name: c
    image: busybox:1.36
    command: ["nc", "-l", "-p", "9000", "-e", "sh", "-c", "while true; do echo tick; sleep 1; done"]
"#;

const DENY_ALL_INGRESS: &str = r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: default-deny}
spec:
  podSelector: {}
  policyTypes: [Ingress]
"#;

const ALLOW_CLIENTS: &str = r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-from-clients}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - from: [{podSelector: {matchLabels: {role: client}}}]
    ports: [{port: http}]
"#;

const MALFORMED: &str = r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: malformed}
spec:
  podSelector: {}
  ingress:
  - ports: [{port: 80, endPort: 70}, {port: "no_such-", protocol: TCP}]
    from: [{ipBlock: {cidr: 10.0.0.0/8, except: [192.168.0.0/16]}, podSelector: {}}, {}]
"#;

fn pod_ip(lab: &Lab, pod: &str) -> String {
    let ip = lab.kubectl_ok(&["get", "pod", pod, "-o", "jsonpath={.status.podIP}"]);
    assert!(!ip.trim().is_empty(), "{pod} has no IP");
    ip.trim().to_string()
}

/// Which of `urls` `pod` can fetch now (3 s each).
fn reachable(lab: &Lab, pod: &str, urls: &[String]) -> Vec<bool> {
    urls.iter().map(|u| lab.wget(pod, u, 3).is_some()).collect()
}

/// Our per-pod chains in node `i`'s filter table.
fn policy_chains(lab: &Lab, i: usize) -> Vec<String> {
    let out = lab.in_node(i, &["iptables-save", "-t", "filter"]);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with(":KUBE-NWP-") && !l.starts_with(":KUBE-NWP-FORWARD "))
        .map(str::to_string)
        .collect()
}

/// How often node `i`'s kubelet said `what` in its log.
fn kubelet_said(lab: &Lab, i: usize, what: &str) -> usize {
    let log = lab.dir().join(format!("logs/kubelet-node-{i}.log"));
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .matches(what)
        .count()
}

/// The kubelets' log lines when they start and stop watching every pod.
const WATCHING: &str = "a policy exists; watching pods and namespaces";
const UNWATCHED: &str = "no policy left; pods and namespaces no longer watched";

#[test]
fn policies_deny_allow_by_label_and_fence_egress_across_nodes() {
    // The nodes attach pods with the kubelet's built-in bridge (kubenet):
    // the policies must hold whichever way pods are attached, and this is
    // the lab test of that path (the others use the CNI plugins).
    let Some(lab) = Lab::up_with("e2e-netpol", 2, &[("LAB_NETWORK_PLUGIN", "kubenet")]) else {
        return;
    };
    let start = Instant::now();

    // Bad input first: the real kubectl shows upstream's reasons, and
    // nothing is stored.
    let out = lab.try_apply(MALFORMED);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a malformed policy was accepted");
    for want in [
        "spec.ingress[0].ports[0].endPort: Invalid value: 80: must be greater than or equal to `port`",
        "spec.ingress[0].ports[1].port: Invalid value: \"no_such-\": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)",
        "must not begin or end with a hyphen",
        "spec.ingress[0].from[0].ipBlock.except[0]: Invalid value: \"192.168.0.0/16\": must be a strict subset of `cidr`",
        "spec.ingress[0].from[0]: Forbidden: may not specify both ipBlock and another peer",
        "spec.ingress[0].from[1]: Required value: must specify a peer",
    ] {
        assert!(err.contains(want), "missing {want:?} in:\n{err}");
    }
    let (code, _, _) = lab.kubectl(&["get", "networkpolicy", "malformed"]);
    assert_ne!(code, 0, "the malformed policy was stored");

    lab.apply(SPREAD_WEB);
    lab.apply(PODS);
    let (code, out, err) = lab.kubectl(&["rollout", "status", "deployment/web", "--timeout=90s"]);
    assert_eq!(code, 0, "rollout status: {out}\n{err}");
    for pod in ["client", "stranger", "talker"] {
        lab.kubectl_ok(&[
            "wait",
            "--for=condition=Ready",
            &format!("pod/{pod}"),
            "--timeout=60s",
        ]);
    }
    let web = lab.get_json(&["pods", "-l", "app=web"]);
    let web: Vec<(String, String)> = web["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            (
                p["spec"]["nodeName"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                format!(
                    "http://{}:8080/",
                    p["status"]["podIP"].as_str().unwrap_or_default()
                ),
            )
        })
        .collect();
    assert_eq!(web.len(), 2, "{web:?}");
    assert_ne!(web[0].0, web[1].0, "one web pod per node: {web:?}");
    let urls: Vec<String> = web.iter().map(|(_, u)| u.clone()).collect();
    let everything = vec![true, true];
    let nothing = vec![false, false];
    for pod in ["client", "stranger"] {
        let open = wait_until(Duration::from_secs(30), || {
            let r = reachable(&lab, pod, &urls);
            (r == everything).then_some(())
        });
        assert!(
            open.is_some(),
            "{pod} cannot reach the web pods without policies"
        );
    }

    // A connection opened before the policy: lines keep arriving after.
    let talker = pod_ip(&lab, "talker");
    let mut stream = lab.kubectl_spawn(&["exec", "client", "--", "nc", &talker, "9000"]);
    let lines = Arc::new(AtomicUsize::new(0));
    let reader = {
        let lines = lines.clone();
        let out = stream.stdout.take().expect("exec stdout");
        std::thread::spawn(move || {
            for _ in BufReader::new(out).lines().map_while(Result::ok) {
                lines.fetch_add(1, Ordering::SeqCst);
            }
        })
    };
    let flowing = wait_until(Duration::from_secs(20), || {
        (lines.load(Ordering::SeqCst) >= 2).then_some(())
    });
    assert!(flowing.is_some(), "no lines from the talker");

    // Without a policy no kubelet watches the cluster's pods (nothing to
    // isolate); with one, each does (peers may be on any node).
    for i in 1..=2 {
        assert_eq!(
            kubelet_said(&lab, i, WATCHING),
            0,
            "node {i} watched pods without a policy"
        );
    }

    // Default deny: new connections fail on both nodes, for both clients.
    let applied = Instant::now();
    lab.apply(DENY_ALL_INGRESS);
    let denied = wait_until(Duration::from_secs(30), || {
        (reachable(&lab, "client", &urls) == nothing
            && reachable(&lab, "stranger", &urls) == nothing)
            .then(|| applied.elapsed())
    })
    .expect("default-deny did not stop new connections to the web pods");
    for i in 1..=2 {
        assert_eq!(
            kubelet_said(&lab, i, WATCHING),
            1,
            "node {i} enforced a policy without watching pods"
        );
    }
    let before = lines.load(Ordering::SeqCst);
    std::thread::sleep(Duration::from_secs(3));
    let after = lines.load(Ordering::SeqCst);
    assert!(
        after > before,
        "the connection made before the policy stopped ({before} lines, then {after})"
    );
    let _ = stream.kill();
    let _ = stream.wait();
    let _ = reader.join();

    // An allow rule for a label, by the web pods' named port.
    let applied = Instant::now();
    lab.apply(ALLOW_CLIENTS);
    let allowed = wait_until(Duration::from_secs(30), || {
        (reachable(&lab, "client", &urls) == everything).then(|| applied.elapsed())
    })
    .expect("the allow rule did not let the client through");
    assert_eq!(
        reachable(&lab, "stranger", &urls),
        nothing,
        "the allow rule let an unlabelled pod through"
    );

    // Egress: everywhere but one outside host.
    let host = ExternalHost::start(&lab);
    let outside = format!("http://{}:8080/cgi-bin/peer", host.ip);
    let out_reach = wait_until(Duration::from_secs(30), || lab.wget("client", &outside, 5));
    assert!(
        out_reach.is_some(),
        "the client cannot reach the outside host"
    );
    lab.apply(&format!(
        r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {{name: client-egress}}
spec:
  podSelector: {{matchLabels: {{role: client}}}}
  policyTypes: [Egress]
  egress:
  - to: [{{ipBlock: {{cidr: 0.0.0.0/0, except: ["{}/32"]}}}}]
"#,
        host.ip
    ));
    let fenced = wait_until(Duration::from_secs(30), || {
        lab.wget("client", &outside, 3).is_none().then_some(())
    });
    assert!(
        fenced.is_some(),
        "the egress exception did not refuse the outside host"
    );
    assert_eq!(
        reachable(&lab, "client", &urls),
        everything,
        "the egress block (all but the outside host) cut the web pods"
    );
    assert!(
        lab.wget("stranger", &outside, 5).is_some(),
        "the egress policy fenced a pod it does not select"
    );

    // Without policies, everything is open and no chain is left.
    lab.kubectl_ok(&["delete", "networkpolicy", "--all"]);
    let open = wait_until(Duration::from_secs(30), || {
        (reachable(&lab, "stranger", &urls) == everything).then_some(())
    });
    assert!(
        open.is_some(),
        "deleting the policies did not open the web pods"
    );
    for i in 1..=2 {
        let left = wait_until(Duration::from_secs(10), || {
            let c = policy_chains(&lab, i);
            c.is_empty().then_some(())
        });
        assert!(
            left.is_some(),
            "node {i} kept policy chains: {:?}",
            policy_chains(&lab, i)
        );
    }
    for i in 1..=2 {
        let unwatched = wait_until(Duration::from_secs(10), || {
            (kubelet_said(&lab, i, UNWATCHED) == 1).then_some(())
        });
        assert!(
            unwatched.is_some(),
            "node {i} still watches every pod without a policy"
        );
    }
    eprintln!(
        "network policy: default-deny enforced on both nodes {} ms after apply (as seen by wget probes), allow rule {} ms; test took {:?}",
        denied.as_millis(),
        allowed.as_millis(),
        start.elapsed()
    );
}
