//! Persistent storage on a real lab with the real kubectl: the lab's
//! default `local-path` class, a claim that waits for its first pod, a
//! StatefulSet whose replicas write a file into their own volumes, are
//! deleted and recreated and find their own file again on the same node,
//! and a deleted claim whose directory goes with it. The replicas also
//! mount a ConfigMap: an update reaches the running pods' files through
//! the kubelet's object cache, and a pod created after it sees it at once.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;
use tests::lab::{wait_until, Lab};

const STATEFUL: &str = r#"
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
        command: ["sh", "-c", "[ -f /data/id ] || hostname > /data/id; sleep 3600"]
        volumeMounts:
        - {name: data, mountPath: /data}
        - {name: settings, mountPath: /etc/settings}
        readinessProbe:
          exec: {command: ["cat", "/data/id"]}
          periodSeconds: 1
      volumes:
      - name: settings
        configMap: {name: settings}
  volumeClaimTemplates:
  - metadata: {name: data}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {requests: {storage: 64Mi}}
"#;

const LONELY: &str = r#"
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: lonely}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Mi}}
"#;

fn node_index(lab_node: &str) -> usize {
    lab_node
        .trim_start_matches("node-")
        .parse()
        .expect("node-<i>")
}

#[test]
fn statefulset_replicas_find_their_own_files_after_recreation() {
    let Some(lab) = Lab::up("e2e-storage", 2) else {
        return;
    };
    // The default class.
    let classes = lab.kubectl_ok(&["get", "storageclass"]);
    let row = classes
        .lines()
        .find(|l| l.starts_with("local-path"))
        .unwrap_or_default()
        .split_whitespace()
        .collect::<Vec<_>>();
    assert_eq!(
        &row[..5],
        [
            "local-path",
            "(default)",
            "minik8s.io/local-path",
            "Delete",
            "WaitForFirstConsumer"
        ],
        "{classes}"
    );

    // A claim without a pod waits, with an event saying so.
    lab.apply(LONELY);
    let waiting = wait_until(Duration::from_secs(30), || {
        let ev = lab.kubectl_ok(&[
            "get",
            "events",
            "--field-selector",
            "involvedObject.name=lonely",
            "-o",
            "jsonpath={.items[*].reason}",
        ]);
        ev.contains("WaitForFirstConsumer").then_some(())
    });
    assert!(waiting.is_some(), "no WaitForFirstConsumer event");
    let claim = lab.get_json(&["pvc", "lonely"]);
    assert_eq!(claim["status"]["phase"], "Pending", "{claim}");
    assert_eq!(claim["spec"]["storageClassName"], "local-path");

    // Two replicas with a claim each, every pod writing its name once.
    lab.kubectl_ok(&[
        "create",
        "configmap",
        "settings",
        "--from-literal=mode=first",
    ]);
    lab.apply(STATEFUL);
    let (code, out, err) = lab.kubectl(&["rollout", "status", "statefulset/db", "--timeout=120s"]);
    if code != 0 {
        lab.dump_logs();
    }
    assert_eq!(code, 0, "{out}{err}");
    let mut placed = Vec::new();
    for i in 0..2 {
        let pod = format!("db-{i}");
        let id = lab.kubectl_ok(&["exec", &pod, "--", "cat", "/data/id"]);
        assert_eq!(id.trim(), pod);
        let node = lab.get_json(&["pod", &pod])["spec"]["nodeName"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let claim = lab.get_json(&["pvc", &format!("data-db-{i}")]);
        assert_eq!(claim["status"]["phase"], "Bound", "{claim}");
        assert_eq!(
            claim["metadata"]["annotations"]["volume.kubernetes.io/selected-node"],
            Value::String(node.clone())
        );
        let pv = lab.get_json(&[
            "pv",
            claim["spec"]["volumeName"].as_str().unwrap_or_default(),
        ]);
        let path = PathBuf::from(pv["spec"]["hostPath"]["path"].as_str().unwrap_or_default());
        assert!(
            path.starts_with(lab.node_root(node_index(&node)).join("local-path")),
            "{} is not on {node}",
            path.display()
        );
        assert_eq!(
            std::fs::read_to_string(path.join("id"))
                .unwrap_or_default()
                .trim(),
            pod
        );
        placed.push((node, path));
    }
    let pvc_table = lab.kubectl_ok(&["get", "pvc", "data-db-0"]);
    let header: Vec<&str> = pvc_table
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    assert_eq!(
        header,
        [
            "NAME",
            "STATUS",
            "VOLUME",
            "CAPACITY",
            "ACCESS",
            "MODES",
            "STORAGECLASS",
            "VOLUMEATTRIBUTESCLASS",
            "AGE"
        ]
    );

    // A ConfigMap update reaches the running pods' volume (within the
    // kubelet's cache TTL, 10 s, and a sync).
    let mode = |pod: &str| lab.kubectl_ok(&["exec", pod, "--", "cat", "/etc/settings/mode"]);
    assert_eq!(mode("db-0"), "first");
    let patch = r#"{"data":{"mode":"second"}}"#;
    lab.kubectl_ok(&["patch", "configmap", "settings", "-p", patch]);
    let updated = std::time::Instant::now();
    let seen = wait_until(Duration::from_secs(40), || {
        (mode("db-0") == "second" && mode("db-1") == "second").then_some(())
    });
    assert!(seen.is_some(), "the update did not reach the pods");
    eprintln!(
        "ConfigMap update in the pods' files after {:?}",
        updated.elapsed()
    );

    // Delete the set (its pods go, the claims stay), then recreate it.
    lab.kubectl_ok(&["delete", "statefulset", "db", "--wait=true"]);
    let no_pods = wait_until(Duration::from_secs(60), || {
        lab.kubectl_ok(&["get", "pods", "-l", "app=db", "-o", "name"])
            .trim()
            .is_empty()
            .then_some(())
    });
    assert!(no_pods.is_some(), "the set's pods stayed");
    for i in 0..2 {
        let claim = lab.get_json(&["pvc", &format!("data-db-{i}")]);
        assert_eq!(
            claim["status"]["phase"], "Bound",
            "claims outlive their set"
        );
    }
    lab.kubectl_ok(&[
        "patch",
        "configmap",
        "settings",
        "-p",
        r#"{"data":{"mode":"third"}}"#,
    ]);
    lab.apply(STATEFUL);
    let (code, out, err) = lab.kubectl(&["rollout", "status", "statefulset/db", "--timeout=120s"]);
    assert_eq!(code, 0, "{out}{err}");
    for i in 0..2 {
        // New pods never get an object fetched before they came.
        assert_eq!(mode(&format!("db-{i}")), "third");
    }
    for (i, (node, _)) in placed.iter().enumerate() {
        let pod = format!("db-{i}");
        let id = lab.kubectl_ok(&["exec", &pod, "--", "cat", "/data/id"]);
        assert_eq!(id.trim(), pod, "{pod} found another replica's file");
        let now = lab.get_json(&["pod", &pod])["spec"]["nodeName"].clone();
        assert_eq!(now, Value::String(node.clone()), "{pod} moved nodes");
    }

    // Deleting the set and a claim: the volume and its directory go.
    lab.kubectl_ok(&["delete", "statefulset", "db", "--wait=true"]);
    let no_pods = wait_until(Duration::from_secs(60), || {
        lab.kubectl_ok(&["get", "pods", "-l", "app=db", "-o", "name"])
            .trim()
            .is_empty()
            .then_some(())
    });
    assert!(no_pods.is_some(), "the set's pods stayed");
    let pv = lab.get_json(&["pvc", "data-db-1"])["spec"]["volumeName"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    lab.kubectl_ok(&["delete", "pvc", "data-db-1", "--wait=true"]);
    let removed = wait_until(Duration::from_secs(60), || {
        let (code, _, _) = lab.kubectl(&["get", "pv", &pv]);
        (code != 0 && !placed[1].1.exists()).then_some(())
    });
    assert!(
        removed.is_some(),
        "volume {pv} or {} still there",
        placed[1].1.display()
    );
    assert!(
        placed[0].1.exists(),
        "the other replica's directory went too"
    );
}
