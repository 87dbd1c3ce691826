//! The real kubectl (v1.32, /usr/bin/kubectl) against our apiserver: create,
//! list with `-l`, watch with `get -w`, delete — namespaces, configmaps, pods.
//! (`--validate=false`: the OpenAPI documents kubectl validates against come
//! with the kubectl-compatibility work.)

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
    let out = k(&["create", "-f", &objects, "--validate=false"]);
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
    assert!(k(&["create", "-f", &late, "--validate=false"]).success);
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

    // Errors come back readable.
    let out = k(&["get", "configmap", "nope", "-n", "default"]);
    assert!(!out.success);
    assert!(
        out.stderr.contains("configmaps \"nope\" not found"),
        "{}",
        out.stderr
    );
}
