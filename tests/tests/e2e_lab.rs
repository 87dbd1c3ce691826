//! End to end on a real lab (`hack/local-up-cluster.sh`): control plane,
//! kubelets in their own network namespaces, real containers, driven by the
//! real `/usr/bin/kubectl` exactly as a user would.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read};
use std::time::{Duration, Instant};

use serde_json::Value;
use tests::lab::{wait_until, Lab};

const WEB: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 4
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: busybox:1.36
        command: ["sh", "-c", "echo \"hello from $(hostname)\" > /www/index.html && echo started && httpd -f -p 8080 -h /www"]
        ports:
        - {containerPort: 8080, name: http}
        readinessProbe:
          httpGet: {path: /, port: http}
          periodSeconds: 1
        volumeMounts:
        - {name: www, mountPath: /www}
      volumes:
      - name: www
        emptyDir: {}
"#;

fn pods(lab: &Lab, selector: &str) -> Vec<Value> {
    lab.get_json(&["pods", "-l", selector])["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn name(p: &Value) -> String {
    p["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn ready(p: &Value) -> bool {
    p["status"]["conditions"]
        .as_array()
        .map(|cs| {
            cs.iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
        .unwrap_or(false)
}

fn restart_count(lab: &Lab, pod: &str) -> i64 {
    lab.get_json(&["pod", pod])["status"]["containerStatuses"][0]["restartCount"]
        .as_i64()
        .unwrap_or(0)
}

/// What is left of pods on a node: sandboxes, pod cgroups, overlay mounts.
fn leftovers(lab: &Lab, node: usize) -> Vec<String> {
    let mut left = Vec::new();
    let (_, sandboxes) = lab.ctl(node, &["pods", "-q"]);
    left.extend(
        sandboxes
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| format!("sandbox {l}")),
    );
    let root = lab.node_root(node);
    // The tmpfs of the runtime's records stays: it is the node's, not a
    // pod's (container-runtime's `run_dir`).
    let records = root.join("run");
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    left.extend(
        mounts
            .lines()
            .filter_map(|l| l.split_whitespace().nth(4))
            .filter(|m| m.starts_with(root.to_str().unwrap_or("/nonexistent")))
            .filter(|m| std::path::Path::new(m) != records)
            .map(|m| format!("mount {m}")),
    );
    let cg = lab.node_cgroup_root(node);
    for base in [
        "/sys/fs/cgroup/memory",
        "/sys/fs/cgroup/cpu",
        "/sys/fs/cgroup/pids",
        "/sys/fs/cgroup",
    ] {
        let dir = std::path::Path::new(base).join(&cg);
        if !dir.is_dir() {
            continue;
        }
        if let Ok(out) = std::process::Command::new("find")
            .arg(&dir)
            .args(["-type", "d", "-name", "pod*"])
            .output()
        {
            left.extend(
                String::from_utf8_lossy(&out.stdout)
                    .lines()
                    .map(|l| format!("cgroup {l}")),
            );
        }
    }
    left
}

#[test]
fn deployment_across_nodes_logs_exec_port_forward_and_pod_network() {
    let Some(lab) = Lab::up("e2e-web", 2) else {
        return;
    };
    lab.apply(WEB);
    let (code, out, err) = lab.kubectl(&["rollout", "status", "deployment/web", "--timeout=120s"]);
    assert_eq!(code, 0, "rollout status: {out}\n{err}");
    assert!(out.contains("successfully rolled out"), "{out}");

    // The lab's cluster CA is published in the namespaces, and the
    // apiserver keeps the `kubernetes` Service.
    let ca = std::fs::read_to_string(lab.ca_cert()).expect("the lab made a CA");
    assert!(ca.contains("BEGIN CERTIFICATE"), "{ca}");
    let cm = lab.get_json(&["configmap", "kube-root-ca.crt", "-n", "default"]);
    assert_eq!(cm["data"]["ca.crt"], ca.as_str());
    let svc = lab.get_json(&["service", "kubernetes", "-n", "default"]);
    assert_eq!(svc["spec"]["ports"][0]["port"], 443);

    let web = pods(&lab, "app=web");
    assert_eq!(web.len(), 4);
    let nodes: BTreeSet<String> = web
        .iter()
        .map(|p| {
            p["spec"]["nodeName"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    assert!(nodes.len() > 1, "pods on one node only: {nodes:?}");
    for p in &web {
        assert_eq!(p["status"]["phase"], "Running");
        assert!(p["status"]["podIP"]
            .as_str()
            .is_some_and(|ip| ip.starts_with("172.")));
        assert!(ready(p));
    }
    let wide = lab.kubectl_ok(&["get", "pods", "-o", "wide"]);
    assert!(wide.contains("Running") && wide.contains("node-"), "{wide}");

    // The kubelet's startup trace of a pod: every step once, in order,
    // through the apiserver's node proxy (the real kubectl) and our
    // `kubectl trace`.
    let first = name(&web[0]);
    let node = web[0]["spec"]["nodeName"].as_str().unwrap_or_default();
    let raw = lab.kubectl_ok(&[
        "get",
        "--raw",
        &format!("/api/v1/nodes/{node}/proxy/startup/default/{first}"),
    ]);
    let trace: Value = serde_json::from_str(&raw).expect("the trace is JSON");
    assert_eq!(trace["complete"], true, "{trace}");
    let mut steps: Vec<&str> = trace["events"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["step"].as_str())
        .collect();
    // A pod's volumes are prepared beside its sandbox and network (the
    // kubelet joins the two): they finish anywhere between admission and
    // the image, before the sandbox as well as after the network.
    let at_step = |step: &str| steps.iter().position(|s| *s == step);
    let volumes = at_step("volumes").expect("a volumes step");
    assert!(
        at_step("admitted").is_some_and(|a| a < volumes)
            && at_step("image").is_some_and(|i| volumes < i),
        "{trace}"
    );
    steps.remove(volumes);
    assert_eq!(
        steps,
        [
            "watch", "sync", "admitted", "sandbox", "network", "image", "created", "started",
            "running", "ready"
        ],
        "{trace}"
    );
    let at: Vec<f64> = trace["events"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["atMs"].as_f64())
        .collect();
    assert!(at.windows(2).all(|w| w[0] <= w[1]), "{trace}");
    let (code, out, err) = lab.our_kubectl(&["trace", "pod", &first]);
    assert_eq!(code, 0, "{out}{err}");
    // The story: the ReplicaSet's create, the scheduler's decision, the
    // kubelet's steps through Ready, the conditions.
    assert!(out.starts_with(&format!("Pod default/{first}\n")), "{out}");
    assert!(out.contains(", owned by ReplicaSet/web-"), "{out}");
    assert!(
        out.contains("  scheduled ") && out.contains(&format!(" to {node}")),
        "{out}"
    );
    assert!(out.contains("Kubelet, watch event at "), "{out}");
    assert!(out.lines().any(|l| l.starts_with("  ready ")), "{out}");
    assert!(out.contains("Conditions (last transition):"), "{out}");
    let (code, out, err) = lab.our_kubectl(&["trace", "node", node]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains(&first), "{out}");
    let (code, _, err) = lab.our_kubectl(&["trace", "pod", "no-such-pod"]);
    assert_eq!(code, 1);
    assert!(err.contains("not found"), "{err}");

    // Logs.
    let logs = lab.kubectl_ok(&["logs", &first]);
    assert!(logs.contains("started"), "logs: {logs:?}");

    // Exec: output and exit code pass through.
    let hostname = lab.kubectl_ok(&["exec", &first, "--", "cat", "/etc/hostname"]);
    assert_eq!(hostname.trim(), first);
    let (code, _, _) = lab.kubectl(&["exec", &first, "--", "sh", "-c", "exit 3"]);
    assert_eq!(code, 3, "kubectl exec passes the exit code");

    // cp, ours and the real one: a directory into the pod and back, a
    // file out of it; both leave the same files.
    let work = tempfile::tempdir().expect("dir");
    let local = work.path().join("site");
    std::fs::create_dir_all(local.join("sub")).expect("dirs");
    std::fs::write(local.join("index.html"), "<h1>copied</h1>\n").expect("file");
    std::fs::write(local.join("sub/data.txt"), "one\ntwo\n").expect("file");
    for (who, run) in [
        (
            "ours",
            &(|a: &[&str]| lab.our_kubectl(a)) as &dyn Fn(&[&str]) -> (i32, String, String),
        ),
        ("real", &|a: &[&str]| lab.kubectl(a)),
    ] {
        let remote = format!("{first}:/tmp/{who}");
        let (code, _, err) = run(&["cp", local.to_str().unwrap_or_default(), &remote]);
        assert_eq!(code, 0, "{who} cp to the pod: {err}");
        let listing = lab.kubectl_ok(&[
            "exec",
            &first,
            "--",
            "cat",
            &format!("/tmp/{who}/sub/data.txt"),
        ]);
        assert_eq!(listing, "one\ntwo\n", "{who}");
        let back = work.path().join(format!("back-{who}"));
        let (code, _, err) = run(&["cp", &remote, back.to_str().unwrap_or_default()]);
        assert_eq!(code, 0, "{who} cp from the pod: {err}");
        assert_eq!(
            std::fs::read_to_string(back.join("sub/data.txt")).unwrap_or_default(),
            "one\ntwo\n",
            "{who}"
        );
        let one = work.path().join(format!("hostname-{who}"));
        let (code, out, err) = run(&[
            "cp",
            &format!("{first}:/etc/hostname"),
            one.to_str().unwrap_or_default(),
        ]);
        assert_eq!(code, 0, "{who}: {err}");
        // tar's warning arrives on the pod's stderr stream as the first
        // output. The real kubectl 1.32 starts reading its WebSocket before
        // it has set up its streams and sometimes drops such early output
        // (fixed later in client-go); ours must always print it.
        let warning = "tar: removing leading '/' from member names\n";
        if who == "real" {
            assert!(out == warning || out.is_empty(), "{who}: {out:?}");
        } else {
            assert_eq!(out, warning, "{who}");
        }
        assert_eq!(
            std::fs::read_to_string(&one).unwrap_or_default().trim(),
            first
        );
    }
    let (code, _, err) = lab.our_kubectl(&["cp", "/no/such/path", &format!("{first}:/tmp")]);
    assert_eq!(
        (code, err.as_str()),
        (
            1,
            "error: /no/such/path doesn't exist in local filesystem\n"
        )
    );

    // Pod to pod across nodes, by IP.
    let a = &web[0];
    let b = web
        .iter()
        .find(|p| p["spec"]["nodeName"] != a["spec"]["nodeName"])
        .expect("a pod on another node");
    let url = format!(
        "http://{}:8080/",
        b["status"]["podIP"].as_str().unwrap_or_default()
    );
    let page = lab.kubectl_ok(&[
        "exec",
        &name(a),
        "--",
        // busybox 1.35's `wget -T` crashes (SIGSEGV); timeout bounds it instead.
        "timeout",
        "10",
        "wget",
        "-q",
        "-O",
        "-",
        &url,
    ]);
    assert_eq!(page.trim(), format!("hello from {}", name(b)));

    // logs -f streams new lines.
    lab.apply(
        r#"
apiVersion: v1
kind: Pod
metadata: {name: counter}
spec:
  containers:
  - name: c
    image: busybox:1.36
    command: ["sh", "-c", "i=0; while true; do echo line $i; i=$((i+1)); sleep 0.3; done"]
"#,
    );
    wait_until(Duration::from_secs(60), || {
        (lab.get_json(&["pod", "counter"])["status"]["phase"] == "Running").then_some(())
    })
    .expect("counter runs");
    let mut follow = lab.kubectl_spawn(&["logs", "-f", "counter"]);
    let stdout = follow.stdout.take().expect("piped stdout");
    let mut lines = BufReader::new(stdout).lines();
    let mut seen = Vec::new();
    let start = Instant::now();
    while seen.len() < 8 && start.elapsed() < Duration::from_secs(20) {
        match lines.next() {
            Some(Ok(l)) => seen.push(l),
            _ => break,
        }
    }
    let _ = follow.kill();
    let _ = follow.wait();
    assert!(seen.len() >= 8, "logs -f streamed {seen:?}");

    // port-forward to a pod, with the real kubectl and ours (to the pod,
    // and through its Deployment): the same lines, the same page.
    for (who, target, port) in [
        ("real", format!("pod/{first}"), ":8080"),
        ("ours", format!("pod/{first}"), ":8080"),
        ("ours", "deployment/web".to_string(), ":8080"),
    ] {
        let args = ["port-forward", target.as_str(), port];
        let mut pf = if who == "real" {
            lab.kubectl_spawn(&args)
        } else {
            lab.our_kubectl_spawn(&args)
        };
        let mut pf_out = BufReader::new(pf.stdout.take().expect("piped stdout"));
        let mut line = String::new();
        let _ = pf_out.read_line(&mut line);
        let port: u16 = line
            .strip_prefix("Forwarding from 127.0.0.1:")
            .and_then(|r| r.strip_suffix(" -> 8080\n"))
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| {
                let mut err = String::new();
                let _ = pf.stderr.take().map(|mut e| e.read_to_string(&mut err));
                panic!("{who} port-forward printed {line:?} {err}")
            });
        let mut second = String::new();
        let _ = pf_out.read_line(&mut second);
        assert_eq!(
            second,
            format!("Forwarding from [::1]:{port} -> 8080\n"),
            "{who}"
        );
        let body = http_get(port);
        let mut handled = String::new();
        let _ = pf_out.read_line(&mut handled);
        let _ = pf.kill();
        let _ = pf.wait();
        let mut err = String::new();
        let _ = pf.stderr.take().map(|mut e| e.read_to_string(&mut err));
        assert!(body.contains("hello from "), "{who} {target}: {body} {err}");
        if target.starts_with("pod/") {
            assert!(
                body.contains(&format!("hello from {first}")),
                "{who}: {body}"
            );
        }
        assert_eq!(
            handled,
            format!("Handling connection for {port}\n"),
            "{who}"
        );
    }

    // Scale to zero and back.
    lab.kubectl_ok(&["scale", "deployment/web", "--replicas=0"]);
    wait_until(Duration::from_secs(60), || {
        pods(&lab, "app=web").is_empty().then_some(())
    })
    .expect("all web pods gone after scaling to 0");
    lab.kubectl_ok(&["scale", "deployment/web", "--replicas=2"]);
    let (code, out, err) = lab.kubectl(&["rollout", "status", "deployment/web", "--timeout=90s"]);
    assert_eq!(code, 0, "{out}{err}");

    // Delete everything: nothing of a pod is left on the nodes.
    lab.kubectl_ok(&[
        "delete",
        "deployment/web",
        "pod/counter",
        "--wait=true",
        "--timeout=60s",
    ]);
    wait_until(Duration::from_secs(60), || {
        lab.get_json(&["pods"])["items"]
            .as_array()
            .is_some_and(|a| a.is_empty())
            .then_some(())
    })
    .expect("every pod deleted");
    for node in 1..=lab.nodes {
        let left = wait_until(Duration::from_secs(30), || {
            let l = leftovers(&lab, node);
            l.is_empty().then_some(())
        });
        assert!(
            left.is_some(),
            "node-{node} keeps {:?}",
            leftovers(&lab, node)
        );
    }
}

fn http_get(port: u16) -> String {
    use std::io::Write;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
            let _ = s.write_all(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n");
            let mut body = String::new();
            let _ = s.read_to_string(&mut body);
            if !body.is_empty() || Instant::now() > deadline {
                return body;
            }
        }
        if Instant::now() > deadline {
            return String::new();
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn crashloop_probes_oom_kubelet_restart_and_node_loss() {
    let Some(lab) = Lab::up("e2e-life", 2) else {
        return;
    };
    lab.apply(
        r#"
apiVersion: v1
kind: Pod
metadata: {name: crasher}
spec:
  containers:
  - name: c
    image: busybox:1.36
    command: ["sh", "-c", "echo bye; exit 1"]
---
apiVersion: v1
kind: Pod
metadata: {name: unhealthy}
spec:
  containers:
  - name: c
    image: busybox:1.36
    command: ["sh", "-c", "touch /tmp/ok; sleep 3; rm /tmp/ok; sleep 3600"]
    livenessProbe:
      exec: {command: ["cat", "/tmp/ok"]}
      periodSeconds: 1
      failureThreshold: 1
---
apiVersion: v1
kind: Pod
metadata: {name: hog}
spec:
  restartPolicy: Never
  containers:
  - name: c
    image: busybox:1.36
    command: ["sh", "-c", "dd if=/dev/zero of=/dev/null bs=200M count=1"]
    resources:
      limits: {memory: 32Mi}
---
apiVersion: v1
kind: Pod
metadata: {name: badimage}
spec:
  containers:
  - {name: c, image: "busybox:no-such-tag"}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: steady}
spec:
  replicas: 2
  selector: {matchLabels: {app: steady}}
  template:
    metadata: {labels: {app: steady}}
    spec:
      containers:
      - name: c
        image: busybox:1.36
        command: ["sleep", "3600"]
"#,
    );

    // CrashLoopBackOff with growing delays (10 s, 20 s, 40 s: watched from
    // the start, so the three restarts come within about 75 s).
    let mut restarts_at = Vec::new();
    let start = Instant::now();
    let mut last = restart_count(&lab, "crasher");
    let mut saw_backoff = false;
    while restarts_at.len() < 3 && start.elapsed() < Duration::from_secs(150) {
        let p = lab.get_json(&["pod", "crasher"]);
        let cs = &p["status"]["containerStatuses"][0];
        if cs["state"]["waiting"]["reason"] == "CrashLoopBackOff" {
            saw_backoff = true;
        }
        let n = cs["restartCount"].as_i64().unwrap_or(0);
        if n > last {
            restarts_at.push(start.elapsed());
            last = n;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    assert!(saw_backoff, "the crashing pod shows CrashLoopBackOff");
    assert!(restarts_at.len() >= 3, "restarts seen at {restarts_at:?}");
    let gap1 = restarts_at[1] - restarts_at[0];
    let gap2 = restarts_at[2] - restarts_at[1];
    assert!(
        gap2 > gap1 + Duration::from_secs(3),
        "back-off grows: {gap1:?} then {gap2:?}"
    );
    // Right after a restart the container runs for a moment (until its
    // `exit 1`), so `Running` is a true answer then; the crash-loop state
    // shows as soon as it exits again.
    let get = wait_until(Duration::from_secs(30), || {
        let get = lab.kubectl_ok(&["get", "pod", "crasher"]);
        (get.contains("CrashLoopBackOff") || get.contains("Error")).then_some(get)
    });
    assert!(
        get.is_some(),
        "{}",
        lab.kubectl_ok(&["get", "pod", "crasher"])
    );

    // OOMKilled.
    let oom = wait_until(Duration::from_secs(60), || {
        let p = lab.get_json(&["pod", "hog"]);
        let t = &p["status"]["containerStatuses"][0]["state"]["terminated"];
        t.is_object()
            .then(|| t["reason"].as_str().unwrap_or_default().to_string())
    })
    .expect("the memory hog terminates");
    assert_eq!(oom, "OOMKilled");
    assert_eq!(lab.get_json(&["pod", "hog"])["status"]["phase"], "Failed");

    // Liveness restarts the container, with an Unhealthy event.
    wait_until(Duration::from_secs(60), || {
        (restart_count(&lab, "unhealthy") >= 1).then_some(())
    })
    .expect("the failing liveness probe restarts the container");
    let describe = lab.kubectl_ok(&["describe", "pod", "unhealthy"]);
    assert!(
        describe.contains("Unhealthy") && describe.contains("Liveness probe failed"),
        "{describe}"
    );

    // An image that does not exist: ErrImagePull, then ImagePullBackOff.
    let waiting = wait_until(Duration::from_secs(30), || {
        let p = lab.get_json(&["pod", "badimage"]);
        let w = &p["status"]["containerStatuses"][0]["state"]["waiting"];
        (w["reason"] == "ImagePullBackOff").then(|| w.clone())
    })
    .expect("a missing image backs off");
    assert!(
        waiting["message"]
            .as_str()
            .is_some_and(|m| m.contains("Back-off pulling image")),
        "{waiting}"
    );
    let describe = lab.kubectl_ok(&["describe", "pod", "badimage"]);
    assert!(describe.contains("Error: ErrImagePull"), "{describe}");

    // kill -9 a kubelet and start it again: no container restarts.
    let (code, out, err) =
        lab.kubectl(&["rollout", "status", "deployment/steady", "--timeout=60s"]);
    assert_eq!(code, 0, "{out}{err}");
    // (pod, containerID, restartCount) of every steady pod.
    let containers = || -> Vec<(String, String, i64)> {
        pods(&lab, "app=steady")
            .iter()
            .map(|p| {
                let cs = &p["status"]["containerStatuses"][0];
                (
                    name(p),
                    cs["containerID"].as_str().unwrap_or_default().to_string(),
                    cs["restartCount"].as_i64().unwrap_or(0),
                )
            })
            .collect()
    };
    let before = containers();
    for node in 1..=lab.nodes {
        lab.kill_kubelet(node);
        lab.start_kubelet(node);
    }
    std::thread::sleep(Duration::from_secs(8));
    let after = containers();
    assert_eq!(before, after, "a kubelet restart restarts no container");

    // Stop the kubelet of a node that runs a steady pod: the node goes
    // NotReady, its pods are evicted and come back on the other node.
    let steady = pods(&lab, "app=steady");
    let node_of = |p: &Value| {
        p["spec"]["nodeName"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    let lost = node_of(&steady[0]);
    let (lost_i, survivor) = if lost == "node-1" {
        (1, "node-2")
    } else {
        (2, "node-1")
    };
    let victims: Vec<String> = steady
        .iter()
        .filter(|p| node_of(p) == lost)
        .map(name)
        .collect();
    lab.kill_kubelet(lost_i);
    wait_until(Duration::from_secs(60), || {
        let n = lab.get_json(&["node", &lost]);
        n["status"]["conditions"]
            .as_array()
            .and_then(|cs| cs.iter().find(|c| c["type"] == "Ready").cloned())
            .filter(|c| c["status"] != "True")
            .map(|_| ())
    })
    .expect("the node goes NotReady");
    let replaced = wait_until(Duration::from_secs(90), || {
        let ps = pods(&lab, "app=steady");
        let running_on_survivor = ps
            .iter()
            .filter(|p| node_of(p) == survivor && p["status"]["phase"] == "Running")
            .count();
        // The evicted pods stay Terminating (their kubelet cannot confirm)
        // but are no longer counted by their ReplicaSet.
        let victims_deleted = victims.iter().all(|v| {
            ps.iter()
                .filter(|p| &name(p) == v)
                .all(|p| p["metadata"]["deletionTimestamp"].is_string())
        });
        (running_on_survivor == 2 && victims_deleted).then_some(())
    });
    assert!(
        replaced.is_some(),
        "pods of the lost {lost} are recreated on {survivor}: {:?}",
        pods(&lab, "app=steady")
            .iter()
            .map(|p| (name(p), p["spec"]["nodeName"].clone()))
            .collect::<Vec<_>>()
    );
}
