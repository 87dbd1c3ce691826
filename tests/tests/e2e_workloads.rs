//! The workload controllers end to end on a real lab: Jobs, a CronJob, a
//! DaemonSet and a StatefulSet whose pods really run (and finish) on the
//! lab's kubelets, checked with the real `/usr/bin/kubectl`.

use std::time::Duration;

use serde_json::Value;
use tests::lab::{wait_until, Lab};

const WORKLOADS: &str = r#"
apiVersion: batch/v1
kind: CronJob
metadata: {name: tick}
spec:
  schedule: "* * * * *"
  successfulJobsHistoryLimit: 1
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          containers:
          - {name: c, image: busybox:1.36, command: ["echo", "tick"]}
---
apiVersion: batch/v1
kind: Job
metadata: {name: three}
spec:
  completions: 3
  parallelism: 2
  template:
    spec:
      restartPolicy: Never
      containers:
      - {name: c, image: busybox:1.36, command: ["sh", "-c", "echo done; sleep 1"]}
---
apiVersion: batch/v1
kind: Job
metadata: {name: doomed}
spec:
  backoffLimit: 1
  template:
    spec:
      restartPolicy: Never
      containers:
      - {name: c, image: busybox:1.36, command: ["sh", "-c", "exit 7"]}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - {name: c, image: busybox:1.36, command: ["sleep", "3600"]}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  serviceName: db
  replicas: 2
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: c
        image: busybox:1.36
        command: ["sh", "-c", "hostname > /tmp/me; sleep 3600"]
        readinessProbe:
          exec: {command: ["cat", "/tmp/me"]}
          periodSeconds: 1
---
apiVersion: v1
kind: Pod
metadata: {name: said}
spec:
  restartPolicy: Never
  securityContext:
    runAsUser: 1000
    sysctls: [{name: kernel.shm_rmid_forced, value: "1"}]
  containers:
  - {name: c, image: busybox:1.36, command: ["sh", "-c", "echo -n DONE $(cat /proc/sys/kernel/shm_rmid_forced) > /dev/termination-log"]}
---
apiVersion: v1
kind: Pod
metadata: {name: target}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - {name: app, image: busybox:1.36, command: ["sleep", "3600"]}
---
apiVersion: v1
kind: Pod
metadata: {name: greedy}
spec:
  securityContext:
    sysctls: [{name: kernel.msgmax, value: "65536"}]
  containers:
  - {name: c, image: busybox:1.36, command: ["sleep", "1"]}
---
apiVersion: v1
kind: Pod
metadata: {name: fell}
spec:
  restartPolicy: Never
  containers:
  - name: c
    image: busybox:1.36
    command: ["sh", "-c", "echo first; echo last; exit 3"]
    terminationMessagePolicy: FallbackToLogsOnError
---
apiVersion: v1
kind: Pod
metadata: {name: sidecar}
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 1
  volumes: [{name: shared, emptyDir: {}}]
  initContainers:
  - name: feeder
    image: busybox:1.36
    restartPolicy: Always
    command: ["sh", "-c", "echo fed > /shared/food; sleep 3600"]
    volumeMounts: [{name: shared, mountPath: /shared}]
    startupProbe:
      exec: {command: ["test", "-s", "/shared/food"]}
      periodSeconds: 1
  containers:
  - name: eater
    image: busybox:1.36
    command: ["cat", "/shared/food"]
    volumeMounts: [{name: shared, mountPath: /shared}]
---
apiVersion: v1
kind: Pod
metadata: {name: stopper}
spec:
  terminationGracePeriodSeconds: 20
  initContainers:
  - name: helper
    image: busybox:1.36
    restartPolicy: Always
    command: ["sleep", "3600"]
  containers:
  - name: app
    image: busybox:1.36
    command: ["sleep", "3600"]
    lifecycle:
      preStop:
        exec: {command: ["sleep", "3"]}
"#;

fn items(v: &Value) -> Vec<Value> {
    v["items"].as_array().cloned().unwrap_or_default()
}

fn condition(obj: &Value, kind: &str) -> Option<Value> {
    obj["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == kind && c["status"] == "True")
        .cloned()
}

#[test]
fn jobs_cronjob_daemonset_and_statefulset_run_real_pods() {
    let Some(lab) = Lab::up("e2e-work", 2) else {
        return;
    };
    lab.apply(WORKLOADS);

    // A Job of 3 completions, 2 at a time: Complete, with 3 Succeeded pods.
    let (code, out, err) = lab.kubectl(&[
        "wait",
        "--for=condition=complete",
        "job/three",
        "--timeout=90s",
    ]);
    assert_eq!(code, 0, "job/three: {out}{err}");
    let job = lab.get_json(&["job", "three"]);
    assert_eq!(job["status"]["succeeded"], 3, "{}", job["status"]);
    let succeeded = items(&lab.get_json(&["pods", "-l", "job-name=three"]))
        .iter()
        .filter(|p| p["status"]["phase"] == "Succeeded")
        .count();
    assert_eq!(succeeded, 3);
    let logs = lab.kubectl_ok(&["logs", "job/three"]);
    assert!(logs.contains("done"), "{logs:?}");

    // A Job whose pods exit 7, backoffLimit 1: two pods fail, then the Job.
    let failed = wait_until(Duration::from_secs(90), || {
        condition(&lab.get_json(&["job", "doomed"]), "Failed")
    })
    .expect("job/doomed fails");
    assert_eq!(failed["reason"], "BackoffLimitExceeded", "{failed}");
    let pods = items(&lab.get_json(&["pods", "-l", "job-name=doomed"]));
    assert_eq!(pods.len(), 2, "backoffLimit 1 means two tries");
    for p in &pods {
        assert_eq!(p["status"]["phase"], "Failed");
        assert_eq!(
            p["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"],
            7
        );
    }

    // Termination messages: the file a (non-root) container wrote, or with
    // FallbackToLogsOnError and nothing written, the tail of a failed log.
    let message = |pod: &str| {
        wait_until(Duration::from_secs(90), || {
            let p = lab.get_json(&["pod", pod]);
            let t = &p["status"]["containerStatuses"][0]["state"]["terminated"];
            t.is_object().then(|| t["message"].clone())
        })
        .unwrap_or_else(|| panic!("pod {pod} terminates"))
    };
    // ... and it saw its pod's (safe) sysctl; an unsafe one is refused.
    assert_eq!(message("said"), "DONE 1");
    let greedy = wait_until(Duration::from_secs(60), || {
        let p = lab.get_json(&["pod", "greedy"]);
        (p["status"]["phase"] == "Failed").then_some(p)
    })
    .expect("the unsafe sysctl pod is rejected");
    assert_eq!(greedy["status"]["reason"], "SysctlForbidden");
    assert_eq!(
        greedy["status"]["message"],
        "Pod was rejected: forbidden sysctl: \"kernel.msgmax\" not allowlisted"
    );
    assert_eq!(message("fell"), "first\nlast\n");

    // A sidecar (init container with restartPolicy Always) starts first and
    // runs beside the app container; when that one is done the sidecar is
    // stopped and the pod succeeds.
    let done = wait_until(Duration::from_secs(90), || {
        let p = lab.get_json(&["pod", "sidecar"]);
        (p["status"]["phase"] == "Succeeded").then_some(p)
    })
    .expect("the sidecar pod succeeds");
    assert_eq!(lab.kubectl_ok(&["logs", "sidecar", "-c", "eater"]), "fed\n");
    let feeder = &done["status"]["initContainerStatuses"][0];
    assert!(feeder["state"]["terminated"].is_object(), "{feeder}");

    // A pod being deleted stops its app containers first (their preStop
    // hooks included) and its sidecars after them, as upstream: the
    // sidecar's "Killing" event comes after the app's 3 s hook.
    lab.kubectl_ok(&[
        "wait",
        "--for=condition=Ready",
        "pod/stopper",
        "--timeout=60s",
    ]);
    lab.kubectl_ok(&["delete", "pod", "stopper", "--timeout=60s"]);
    let killing = |container: &str| -> chrono::DateTime<chrono::Utc> {
        let events = lab.get_json(&[
            "events",
            "--field-selector",
            "involvedObject.name=stopper,reason=Killing",
        ]);
        let want = format!("Stopping container {container}");
        let event = items(&events)
            .into_iter()
            .find(|e| e["message"] == want.as_str())
            .unwrap_or_else(|| panic!("no {want:?} event in {events}"));
        let at = event["eventTime"]
            .as_str()
            .or(event["firstTimestamp"].as_str())
            .unwrap_or_default();
        chrono::DateTime::parse_from_rfc3339(at)
            .unwrap_or_else(|e| panic!("{at:?}: {e}"))
            .with_timezone(&chrono::Utc)
    };
    let (app, helper) = (killing("app"), killing("helper"));
    assert!(
        helper - app >= chrono::Duration::milliseconds(2500),
        "the sidecar was stopped at {helper}, the app at {app}"
    );

    // `kubectl debug` adds an ephemeral container aimed at the app
    // container: it runs in the pod, sees the app's processes, and the
    // pod's generation went up.
    let (code, out, err) = lab.kubectl(&[
        "wait",
        "--for=condition=Ready",
        "pod/target",
        "--timeout=60s",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let out = lab.kubectl_ok(&[
        "debug",
        "pod/target",
        "--image=busybox:1.36",
        "--target=app",
        "--",
        "sh",
        "-c",
        "echo debugging; sleep 3600",
    ]);
    let debugger = lab.get_json(&["pod", "target"])["spec"]["ephemeralContainers"][0]["name"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| panic!("no ephemeral container after kubectl debug: {out}"));
    let running = wait_until(Duration::from_secs(60), || {
        let p = lab.get_json(&["pod", "target"]);
        let s = &p["status"]["ephemeralContainerStatuses"][0];
        s["state"]["running"].is_object().then_some(p)
    })
    .expect("the ephemeral container runs");
    assert_eq!(running["metadata"]["generation"], 2);
    let ps = lab.kubectl_ok(&["exec", "target", "-c", &debugger, "--", "ps", "-o", "args"]);
    // Its own sleep (sh execs the last command) and the app's.
    assert_eq!(ps.matches("sleep 3600\n").count(), 2, "{ps}");
    let logs = lab.kubectl_ok(&["logs", "target", "-c", &debugger]);
    assert_eq!(logs, "debugging\n");

    // A DaemonSet: one Running pod on each node.
    let (code, out, err) = lab.kubectl(&["rollout", "status", "daemonset/agent", "--timeout=60s"]);
    assert_eq!(code, 0, "{out}{err}");
    let mut nodes: Vec<String> = items(&lab.get_json(&["pods", "-l", "app=agent"]))
        .iter()
        .map(|p| {
            p["spec"]["nodeName"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    nodes.sort();
    assert_eq!(nodes, ["node-1", "node-2"]);

    // A StatefulSet: stable names, db-1 started only once db-0 was Ready,
    // and each pod's hostname is its name.
    let (code, out, err) = lab.kubectl(&["rollout", "status", "statefulset/db", "--timeout=90s"]);
    assert_eq!(code, 0, "{out}{err}");
    let db0 = lab.get_json(&["pod", "db-0"]);
    let db1 = lab.get_json(&["pod", "db-1"]);
    let ready0 = condition(&db0, "Ready").expect("db-0 Ready")["lastTransitionTime"].clone();
    let created1 = db1["metadata"]["creationTimestamp"].clone();
    assert!(
        created1.as_str() >= ready0.as_str(),
        "db-1 created at {created1} before db-0 was Ready at {ready0}"
    );
    let host = lab.kubectl_ok(&["exec", "db-1", "--", "cat", "/tmp/me"]);
    assert_eq!(host.trim(), "db-1");
    // Scaling down removes the highest ordinal first.
    lab.kubectl_ok(&["scale", "statefulset/db", "--replicas=1"]);
    wait_until(Duration::from_secs(60), || {
        let names: Vec<String> = items(&lab.get_json(&["pods", "-l", "app=db"]))
            .iter()
            .map(|p| {
                p["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            })
            .collect();
        (names == ["db-0"]).then_some(())
    })
    .expect("db-1 goes, db-0 stays");

    // The CronJob fires within its first minute and its Job completes.
    let fired = wait_until(Duration::from_secs(90), || {
        let jobs = items(&lab.get_json(&["jobs"]));
        jobs.iter()
            .find(|j| {
                j["metadata"]["ownerReferences"][0]["name"] == "tick"
                    && condition(j, "Complete").is_some()
            })
            .cloned()
    })
    .expect("the CronJob's Job completes");
    let job = fired["metadata"]["name"].as_str().unwrap_or_default();
    let logs = lab.kubectl_ok(&["logs", &format!("job/{job}")]);
    assert_eq!(logs.trim(), "tick");
    let cj = lab.get_json(&["cronjob", "tick"]);
    assert!(
        cj["status"]["lastScheduleTime"].is_string(),
        "{}",
        cj["status"]
    );

    // Node admission: a second pod put straight onto node-1 (no scheduler)
    // wanting a host port another pod there holds is rejected for good.
    let holder = |name: &str| {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  nodeName: node-1\n  \
             containers:\n  - name: c\n    image: busybox:1.36\n    command: [sleep, \"3600\"]\n    \
             ports: [{{containerPort: 8080, hostPort: 30555}}]\n"
        )
    };
    lab.apply(&holder("port-holder"));
    lab.kubectl_ok(&[
        "wait",
        "--for=condition=Ready",
        "pod/port-holder",
        "--timeout=60s",
    ]);
    lab.apply(&holder("port-latecomer"));
    let rejected = wait_until(Duration::from_secs(30), || {
        let p = lab.get_json(&["pod", "port-latecomer"]);
        (p["status"]["phase"] == "Failed").then_some(p)
    })
    .expect("the latecomer is rejected");
    assert_eq!(rejected["status"]["reason"], "NodePorts");
    let holder_pod = lab.get_json(&["pod", "port-holder"]);
    assert_eq!(holder_pod["status"]["phase"], "Running");
}
