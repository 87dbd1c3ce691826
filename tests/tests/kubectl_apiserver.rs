//! The real kubectl (v1.32, /usr/bin/kubectl) against our apiserver: create,
//! list with `-l`, watch with `get -w`, delete — namespaces, configmaps, pods.
//! With kubectl's default `--validate=strict`: the server's OpenAPI documents
//! make kubectl leave validation to the server, which rejects unknown fields.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use tests::harness::{eventually, kubectl, ApiServer, Etcd};

fn manifest(dir: &tempfile::TempDir, name: &str, text: &str) -> String {
    let path = dir.path().join(name);
    let mut f = std::fs::File::create(&path).expect("manifest file");
    f.write_all(text.as_bytes()).expect("write manifest");
    path.display().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_creates_lists_watches_and_deletes() {
    let etcd = Etcd::start().await.expect("etcd");
    let api = ApiServer::start(&etcd).await.expect("apiserver");
    let k = |args: &[&str]| kubectl(&api.url, args).expect("kubectl runs");
    let dir = tempfile::tempdir().expect("dir");
    let objects = manifest(
        &dir,
        "objects.yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n---\n\
         apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: front\n  namespace: shop\n  labels: {tier: front}\ndata: {a: b}\n---\n\
         apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: back\n  namespace: shop\n  labels: {tier: back}\ndata: {c: d}\n---\n\
         apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n  namespace: shop\n  labels: {app: web}\nspec:\n  containers:\n  - name: web\n    image: busybox:1.36\n",
    );
    let out = k(&["create", "-f", &objects]);
    assert!(out.success, "create: {}", out.stderr);
    for want in [
        "namespace/shop created",
        "configmap/front created",
        "pod/web created",
    ] {
        assert!(out.stdout.contains(want), "{want} in {}", out.stdout);
    }

    let out = k(&[
        "get",
        "configmaps",
        "-n",
        "shop",
        "-l",
        "tier=front",
        "-o",
        "name",
    ]);
    assert!(out.success, "{}", out.stderr);
    assert_eq!(out.stdout.trim(), "configmap/front");
    let out = k(&[
        "get",
        "pods",
        "-A",
        "-l",
        "app=web",
        "-o",
        "jsonpath={.items[*].metadata.name}",
    ]);
    assert_eq!(out.stdout.trim(), "web");
    let out = k(&["get", "namespaces", "-o", "name"]);
    for ns in [
        "namespace/default",
        "namespace/kube-system",
        "namespace/shop",
    ] {
        assert!(out.stdout.contains(ns), "{ns}");
    }

    // `kubectl get -w` prints changes as they happen.
    let cache = tempfile::tempdir().expect("cache");
    let mut watch = Command::new("/usr/bin/kubectl")
        .args(["--server", &api.url, "--cache-dir"])
        .arg(cache.path())
        .args(["get", "configmaps", "-n", "shop", "-w", "-o", "name"])
        .env("KUBECONFIG", "/dev/null")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("kubectl get -w");
    let mut stdout = watch.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        let _ = std::io::Read::read_to_string(&mut stdout, &mut all);
        all
    });
    tokio::time::sleep(Duration::from_millis(800)).await;
    let late = manifest(
        &dir,
        "late.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: late\n  namespace: shop\n",
    );
    assert!(k(&["create", "-f", &late]).success);
    let seen = eventually(Duration::from_secs(10), || async {
        let out = k(&["get", "configmap", "late", "-n", "shop", "-o", "name"]);
        out.success.then_some(())
    })
    .await;
    assert!(seen.is_some());
    tokio::time::sleep(Duration::from_millis(800)).await;
    let _ = watch.kill();
    let _ = watch.wait();
    let printed = reader.join().unwrap_or_default();
    assert!(
        printed.contains("configmap/front"),
        "initial list: {printed}"
    );
    assert!(
        printed.contains("configmap/late"),
        "the new object arrives: {printed}"
    );

    // Deletes: configmap, pod (unbound: immediate), namespace (Terminating
    // until the namespace controller empties it).
    let out = k(&["delete", "configmap", "back", "-n", "shop"]);
    assert!(out.success, "{}", out.stderr);
    assert!(!k(&["get", "configmap", "back", "-n", "shop"]).success);
    let out = k(&["delete", "pod", "web", "-n", "shop"]);
    assert!(out.success, "{}", out.stderr);
    assert!(out.stdout.contains("pod \"web\" deleted"), "{}", out.stdout);
    let out = k(&["delete", "namespace", "shop", "--wait=false"]);
    assert!(out.success, "{}", out.stderr);
    let out = k(&["get", "namespace", "shop", "-o", "jsonpath={.status.phase}"]);
    assert_eq!(out.stdout.trim(), "Terminating");

    // apply: create, then a changed manifest is a strategic merge patch.
    let deploy = |replicas: u32, extra: &str| {
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: default\nspec:\n  replicas: {replicas}\n  selector: {{matchLabels: {{app: web}}}}\n  template:\n    metadata: {{labels: {{app: web}}}}\n    spec:\n      containers:\n      - name: web\n        image: busybox:1.36\n{extra}"
        )
    };
    let d1 = manifest(&dir, "d1.yaml", &deploy(2, ""));
    let out = k(&["apply", "-f", &d1]);
    assert!(
        out.success && out.stdout.contains("deployment.apps/web created"),
        "{} {}",
        out.stdout,
        out.stderr
    );
    let d2 = manifest(
        &dir,
        "d2.yaml",
        &deploy(3, "      - name: sidecar\n        image: busybox:1.36\n"),
    );
    let out = k(&["apply", "-f", &d2]);
    assert!(
        out.stdout.contains("deployment.apps/web configured"),
        "{} {}",
        out.stdout,
        out.stderr
    );
    let out = k(&[
        "get",
        "deploy",
        "web",
        "-o",
        "jsonpath={.spec.replicas} {.spec.template.spec.containers[*].name}",
    ]);
    assert_eq!(out.stdout.trim(), "3 web sidecar");
    let out = k(&["get", "deploy", "web"]);
    assert!(
        out.stdout
            .starts_with("NAME   READY   UP-TO-DATE   AVAILABLE   AGE"),
        "{}",
        out.stdout
    );
    let typo = manifest(
        &dir,
        "typo.yaml",
        &deploy(1, "        imagee: x\n")
            .replace("name: web\n  namespace", "name: typo\n  namespace"),
    );
    let out = k(&["apply", "-f", &typo]);
    assert!(!out.success);
    assert!(
        out.stderr.contains("strict decoding error: unknown field"),
        "{}",
        out.stderr
    );

    // Errors come back readable.
    let out = k(&["get", "configmap", "nope", "-n", "default"]);
    assert!(!out.success);
    assert!(
        out.stderr.contains("configmaps \"nope\" not found"),
        "{}",
        out.stderr
    );
}

/// `kubectl create <generator>` sends protobuf bodies (client-go's typed
/// clients); the server decodes them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_create_generators_send_protobuf() {
    let etcd = Etcd::start().await.expect("etcd");
    let api = ApiServer::start(&etcd).await.expect("apiserver");
    let k = |args: &[&str]| kubectl(&api.url, args).expect("kubectl runs");
    for args in [
        vec!["create", "namespace", "gen"],
        vec![
            "create",
            "configmap",
            "cfg",
            "-n",
            "gen",
            "--from-literal=a=b",
            "--from-literal=empty=",
        ],
        vec![
            "create",
            "secret",
            "generic",
            "pw",
            "-n",
            "gen",
            "--from-literal=pw=hunter2",
        ],
        vec![
            "create",
            "deployment",
            "web",
            "-n",
            "gen",
            "--image=busybox:1.36",
            "--replicas=0",
            "--port=80",
        ],
        vec![
            "create",
            "service",
            "clusterip",
            "web",
            "-n",
            "gen",
            "--tcp=80:8080",
        ],
        vec![
            "create",
            "job",
            "once",
            "-n",
            "gen",
            "--image=busybox",
            "--",
            "echo",
            "hi",
        ],
        vec![
            "create",
            "cronjob",
            "tick",
            "-n",
            "gen",
            "--image=busybox",
            "--schedule=*/5 * * * *",
            "--",
            "date",
        ],
        vec!["create", "serviceaccount", "robot", "-n", "gen"],
    ] {
        let out = k(&args);
        assert!(out.success, "{args:?}: {}", out.stderr);
        assert!(out.stdout.contains("created"), "{args:?}: {}", out.stdout);
    }
    let out = k(&[
        "get",
        "configmap",
        "cfg",
        "-n",
        "gen",
        "-o",
        "jsonpath={.data}",
    ]);
    assert_eq!(out.stdout.trim(), r#"{"a":"b","empty":""}"#);
    let out = k(&[
        "get",
        "secret",
        "pw",
        "-n",
        "gen",
        "-o",
        "jsonpath={.data.pw}",
    ]);
    assert_eq!(out.stdout.trim(), "aHVudGVyMg==");
    let out = k(&[
        "get",
        "deploy",
        "web",
        "-n",
        "gen",
        "-o",
        "jsonpath={.spec.replicas} {.spec.template.spec.containers[0].ports[0].containerPort}",
    ]);
    assert_eq!(
        out.stdout.trim(),
        "0 80",
        "an explicit 0 survives the decoding"
    );
    let out = k(&[
        "get",
        "svc",
        "web",
        "-n",
        "gen",
        "-o",
        "jsonpath={.spec.ports[0].targetPort} {.spec.clusterIP}",
    ]);
    assert!(out.stdout.starts_with("8080 10."), "{}", out.stdout);
    let out = k(&[
        "get",
        "cronjob",
        "tick",
        "-n",
        "gen",
        "-o",
        "jsonpath={.spec.schedule}",
    ]);
    assert_eq!(out.stdout.trim(), "*/5 * * * *");
}
