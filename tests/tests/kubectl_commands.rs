//! The real kubectl's everyday commands that need no node, each checked on
//! kubectl's output and on the stored object: api-resources, label, annotate,
//! scale, patch (strategic and json), edit, diff, server-side dry run,
//! describe (with events found by field selector), rollout restart/pause/
//! resume/history/undo, cordon/uncordon, get all, explain, field validation,
//! server-side apply with conflicts.

use std::io::Write;

use serde_json::json;
use tests::harness::{kubectl, ApiServer, Etcd, KubectlOutput};

fn ok(out: KubectlOutput, what: &str) -> String {
    assert!(out.success, "{what}: {}", out.stderr);
    out.stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn everyday_commands() {
    let etcd = Etcd::start().await.expect("etcd");
    let api = ApiServer::start(&etcd).await.expect("apiserver");
    let http = api.http();
    let k = |args: &[&str]| kubectl(&api.url, args).expect("kubectl runs");
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("app.yaml");
    let mut f = std::fs::File::create(&path).expect("manifest");
    f.write_all(
        b"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 2\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec:\n      containers: [{name: web, image: 'busybox:1.36'}]\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {greeting: hello}\n",
    )
    .expect("write");
    let manifest = path.display().to_string();
    ok(k(&["apply", "-f", &manifest]), "apply");

    let out = ok(k(&["api-resources"]), "api-resources");
    for want in ["deployments", "deploy", "apps/v1", "pods", "po"] {
        assert!(out.contains(want), "{want} in api-resources");
    }

    let out = ok(k(&["explain", "deployment.spec.strategy"]), "explain");
    assert!(
        out.contains("rollingUpdate") && out.contains("DeploymentStrategy"),
        "{out}"
    );

    // fieldValidation: Warn reports unknown fields, Strict refuses them and
    // duplicates.
    let typo = dir.path().join("typo.yaml");
    std::fs::write(
        &typo,
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: typo}\ndata: {a: b}\ndatta: {c: d}\n",
    )
    .expect("write");
    let typo = typo.display().to_string();
    let out = ok(k(&["apply", "-f", &typo, "--validate=warn"]), "apply warn");
    assert!(out.contains("configmap/typo created"));
    let out = k(&["create", "-f", &typo, "--validate=warn", "--dry-run=server"]);
    assert!(
        out.stderr.contains("unknown field \"datta\""),
        "{}",
        out.stderr
    );
    let dup = br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"dup","name":"dup2"}}"#;
    let r = http
        .raw(
            "POST",
            "/api/v1/namespaces/default/configmaps?fieldValidation=Strict",
            Some("application/json"),
            dup.to_vec(),
        )
        .await
        .expect("post");
    assert_eq!(r.status, 400);
    assert!(
        r.body["message"]
            .as_str()
            .unwrap_or("")
            .contains("duplicate field \"metadata.name\""),
        "{}",
        r.body
    );

    ok(k(&["label", "configmap", "settings", "team=blue"]), "label");
    ok(
        k(&["annotate", "configmap", "settings", "note=hi"]),
        "annotate",
    );
    let cm = http
        .get("/api/v1/namespaces/default/configmaps/settings")
        .await
        .expect("get")
        .body;
    assert_eq!(cm["metadata"]["labels"]["team"], "blue");
    assert_eq!(cm["metadata"]["annotations"]["note"], "hi");
    ok(k(&["label", "configmap", "settings", "team-"]), "unlabel");

    ok(k(&["scale", "deployment", "web", "--replicas=5"]), "scale");
    ok(
        k(&[
            "patch",
            "deployment",
            "web",
            "-p",
            r#"{"spec":{"minReadySeconds":3}}"#,
        ]),
        "patch",
    );
    ok(
        k(&[
            "patch",
            "deployment",
            "web",
            "--type=json",
            "-p",
            r#"[{"op":"replace","path":"/spec/replicas","value":4}]"#,
        ]),
        "json patch",
    );
    let d = http
        .get("/apis/apps/v1/namespaces/default/deployments/web")
        .await
        .expect("get")
        .body;
    assert_eq!(
        (
            d["spec"]["replicas"].clone(),
            d["spec"]["minReadySeconds"].clone()
        ),
        (json!(4), json!(3))
    );

    // diff shows the drift from the manifest (exit code 1 = differences).
    let out = k(&["diff", "-f", &manifest]);
    assert!(
        out.stdout.contains("replicas: 4") || out.stdout.contains("-  replicas: 4"),
        "{}",
        out.stdout
    );

    // Server-side dry run changes nothing.
    let out = ok(
        k(&["delete", "configmap", "settings", "--dry-run=server"]),
        "dry-run delete",
    );
    assert!(out.contains("(server dry run)"));
    assert_eq!(
        http.get("/api/v1/namespaces/default/configmaps/settings")
            .await
            .expect("get")
            .status,
        200
    );

    // edit through an editor command.
    let edit = kubectl_with_editor(
        &api.url,
        "sed -i s/greeting:.hello/greeting:\\ edited/",
        &["edit", "configmap", "settings"],
    );
    assert!(edit.success, "edit: {}", edit.stderr);
    let cm = http
        .get("/api/v1/namespaces/default/configmaps/settings")
        .await
        .expect("get")
        .body;
    assert_eq!(cm["data"]["greeting"], "edited");

    // describe finds the object's events by field selector, and only them.
    let uid = d["metadata"]["uid"].as_str().expect("uid").to_string();
    for (name, obj_name, obj_uid) in [("mine", "web", uid.as_str()), ("other", "elsewhere", "x")] {
        let ev = json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": name},
            "involvedObject": {"kind": "Deployment", "name": obj_name, "namespace": "default", "uid": obj_uid, "apiVersion": "apps/v1"},
            "reason": format!("Reason-{name}"), "message": "something happened", "type": "Normal",
            "firstTimestamp": "2026-01-01T00:00:00Z", "lastTimestamp": "2026-01-01T00:00:00Z", "count": 1,
            "source": {"component": "test"}});
        let r = http
            .post("/api/v1/namespaces/default/events", &ev)
            .await
            .expect("event");
        assert_eq!(r.status, 201, "{}", r.body);
    }
    let out = ok(k(&["describe", "deployment", "web"]), "describe");
    assert!(
        out.contains("Replicas:") && out.contains("RollingUpdateStrategy:"),
        "{out}"
    );
    assert!(out.contains("Reason-mine"), "{out}");
    assert!(
        !out.contains("Reason-other"),
        "only this object's events: {out}"
    );

    // rollout restart / pause / resume are patches of the deployment.
    ok(k(&["rollout", "restart", "deployment", "web"]), "restart");
    ok(k(&["rollout", "pause", "deployment", "web"]), "pause");
    let d = http
        .get("/apis/apps/v1/namespaces/default/deployments/web")
        .await
        .expect("get")
        .body;
    assert!(
        d["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"]
            .is_string()
    );
    assert_eq!(d["spec"]["paused"], true);
    ok(k(&["rollout", "resume", "deployment", "web"]), "resume");

    // rollout history/undo read the Deployment's ReplicaSets (made here by
    // hand, as the deployment controller would) and undo is a json-patch.
    let d = http
        .get("/apis/apps/v1/namespaces/default/deployments/web")
        .await
        .expect("get")
        .body;
    let old_rs = json!({"apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": "web-old", "labels": {"app": "web"},
            "annotations": {"deployment.kubernetes.io/revision": "1"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web",
                "uid": d["metadata"]["uid"], "controller": true}]},
        "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "busybox:1.35"}]}}}});
    let r = http
        .post("/apis/apps/v1/namespaces/default/replicasets", &old_rs)
        .await
        .expect("rs");
    assert_eq!(r.status, 201, "{}", r.body);
    ok(
        k(&[
            "annotate",
            "deployment",
            "web",
            "deployment.kubernetes.io/revision=2",
            "--overwrite",
        ]),
        "annotate rev",
    );
    let out = ok(k(&["rollout", "history", "deployment", "web"]), "history");
    assert!(out.contains("REVISION") && out.contains('1'), "{out}");
    ok(
        k(&["rollout", "undo", "deployment", "web", "--to-revision=1"]),
        "undo",
    );
    let d = http
        .get("/apis/apps/v1/namespaces/default/deployments/web")
        .await
        .expect("get")
        .body;
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["image"],
        "busybox:1.35"
    );

    // cordon / uncordon patch spec.unschedulable.
    let node = json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-a"}});
    http.post("/api/v1/nodes", &node).await.expect("node");
    ok(k(&["cordon", "node-a"]), "cordon");
    let out = ok(k(&["get", "nodes"]), "get nodes");
    assert!(out.contains("SchedulingDisabled"), "{out}");
    ok(k(&["uncordon", "node-a"]), "uncordon");
    let n = http.get("/api/v1/nodes/node-a").await.expect("get").body;
    assert_ne!(n["spec"]["unschedulable"], true);

    let out = ok(k(&["get", "all"]), "get all");
    assert!(out.contains("deployment.apps/web"), "{out}");

    // Server-side apply: conflicts with the client-side owner of replicas,
    // then forced.
    let ssa = dir.path().join("ssa.yaml");
    std::fs::write(
        &ssa,
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 7\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec:\n      containers: [{name: web, image: 'busybox:1.36'}]\n",
    )
    .expect("write");
    let ssa = ssa.display().to_string();
    let out = k(&["apply", "--server-side", "-f", &ssa]);
    assert!(
        !out.success && out.stderr.contains("conflict"),
        "{}",
        out.stderr
    );
    ok(
        k(&["apply", "--server-side", "--force-conflicts", "-f", &ssa]),
        "forced SSA",
    );
    let d = http
        .get("/apis/apps/v1/namespaces/default/deployments/web")
        .await
        .expect("get")
        .body;
    assert_eq!(d["spec"]["replicas"], 7);
    let managers: Vec<&str> = d["metadata"]["managedFields"]
        .as_array()
        .map(|m| m.iter().filter_map(|e| e["manager"].as_str()).collect())
        .unwrap_or_default();
    assert!(managers.contains(&"kubectl"), "{managers:?}");

    // Deleting with --cascade=orphan leaves the orphan finalizer for the GC.
    let out = ok(
        k(&[
            "delete",
            "deployment",
            "web",
            "--cascade=orphan",
            "--wait=false",
        ]),
        "delete",
    );
    assert!(out.contains("deleted"));
    let d = http
        .get("/apis/apps/v1/namespaces/default/deployments/web")
        .await
        .expect("get")
        .body;
    assert_eq!(d["metadata"]["finalizers"], json!(["orphan"]));
}

fn kubectl_with_editor(server: &str, editor: &str, args: &[&str]) -> KubectlOutput {
    let cache = tempfile::tempdir().expect("cache");
    let out = std::process::Command::new("/usr/bin/kubectl")
        .args(["--server", server, "--cache-dir"])
        .arg(cache.path())
        .args(args)
        .env("KUBECONFIG", "/dev/null")
        .env("KUBE_EDITOR", editor)
        .output()
        .expect("kubectl runs");
    KubectlOutput {
        success: out.status.success(),
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}
