//! Encryption at rest with the real etcd and apiserver binary: a Secret
//! written through the API is ciphertext in etcd with upstream's prefix
//! (`aescbc`, `aesgcm`, `secretbox`) yet reads back and watches as plain,
//! a ConfigMap stays JSON, keys rotate by re-writing with the real
//! kubectl, `identity` first still reads encrypted data, and a bad
//! configuration stops the apiserver with upstream's message.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};
use tests::harness::{binary, kubectl, unique, ApiServer, Etcd};

/// 32-byte keys, base64 (any 32 bytes do for AES-256 and secretbox).
const KEY1: &str = "dGhpcnR5LXR3by1ieXRlLWtleS1mb3ItdGVzdHMhISE=";
const KEY2: &str = "YW5vdGhlci0zMi1ieXRlLWtleS1mb3Itcm90YXRpb24=";

/// An EncryptionConfiguration for secrets with these provider entries.
fn config(dir: &tempfile::TempDir, name: &str, providers: &str) -> String {
    let path = dir.path().join(name);
    let text = format!(
        "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n  - resources: [secrets]\n    providers:\n{providers}"
    );
    std::fs::write(&path, text).expect("config file");
    path.to_string_lossy().into_owned()
}

fn provider(kind: &str, keys: &[(&str, &str)]) -> String {
    let keys: Vec<String> = keys
        .iter()
        .map(|(n, s)| format!("{{name: {n}, secret: {s}}}"))
        .collect();
    format!("      - {kind}:\n          keys: [{}]\n", keys.join(", "))
}

/// The raw bytes etcd holds at `key`.
async fn raw(etcd: &Etcd, key: &str) -> Vec<u8> {
    let mut client = etcd.client().await.expect("etcd client");
    let resp = client.get(key, None).await.expect("etcd get");
    resp.kvs()
        .first()
        .map(|kv| kv.value().to_vec())
        .unwrap_or_default()
}

fn secret(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name},
           "data": {"password": "aHVudGVyMg=="}})
}

async fn create_secret(api: &ApiServer, name: &str) {
    let r = api
        .http()
        .post("/api/v1/namespaces/default/secrets", &secret(name))
        .await
        .expect("create");
    assert_eq!(r.status, 201, "{}", r.body);
}

async fn read_password(api: &ApiServer, name: &str) -> Value {
    let r = api
        .http()
        .get(&format!("/api/v1/namespaces/default/secrets/{name}"))
        .await
        .expect("get");
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["data"]["password"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_provider_encrypts_secrets_only() {
    let dir = tempfile::tempdir().expect("temp dir");
    for (kind, prefix) in [
        ("aescbc", "k8s:enc:aescbc:v1:key1:"),
        ("aesgcm", "k8s:enc:aesgcm:v1:key1:"),
        ("secretbox", "k8s:enc:secretbox:v1:key1:"),
    ] {
        let etcd = Etcd::start().await.expect("etcd");
        let path = config(&dir, kind, &provider(kind, &[("key1", KEY1)]));
        let api = ApiServer::start_with(&etcd, &["--encryption-provider-config", &path])
            .await
            .expect("apiserver");
        let name = unique("s");
        create_secret(&api, &name).await;
        let stored = raw(&etcd, &format!("/registry/secrets/default/{name}")).await;
        assert!(
            stored.starts_with(prefix.as_bytes()),
            "{kind}: {}",
            String::from_utf8_lossy(&stored[..stored.len().min(40)])
        );
        assert!(
            !String::from_utf8_lossy(&stored).contains("aHVudGVyMg"),
            "{kind}"
        );
        // "hunter2", base64.
        assert_eq!(
            read_password(&api, &name).await,
            json!("aHVudGVyMg=="),
            "{kind}"
        );
        // Lists decrypt too.
        let list = api
            .http()
            .get("/api/v1/namespaces/default/secrets")
            .await
            .expect("list");
        assert_eq!(
            list.body["items"][0]["data"]["password"],
            json!("aHVudGVyMg==")
        );
        // ConfigMaps stay readable JSON.
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "plain"}, "data": {"k": "v"}});
        let r = api
            .http()
            .post("/api/v1/namespaces/default/configmaps", &cm)
            .await
            .expect("create cm");
        assert_eq!(r.status, 201);
        let stored = raw(&etcd, "/registry/configmaps/default/plain").await;
        let value: Value = serde_json::from_slice(&stored).expect("plain JSON");
        assert_eq!(value["data"]["k"], json!("v"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_rotate_by_rewriting_and_identity_reads_encrypted_data() {
    let dir = tempfile::tempdir().expect("temp dir");
    let etcd = Etcd::start().await.expect("etcd");
    let key = "/registry/secrets/default/rotated";
    let first = config(&dir, "one", &provider("aescbc", &[("key1", KEY1)]));
    {
        let api = ApiServer::start_with(&etcd, &["--encryption-provider-config", &first])
            .await
            .expect("apiserver");
        create_secret(&api, "rotated").await;
    }
    assert!(raw(&etcd, key)
        .await
        .starts_with(b"k8s:enc:aescbc:v1:key1:"));
    // key2 first, key1 still listed: old data reads, a re-write moves it to key2.
    let both = config(
        &dir,
        "two",
        &provider("aescbc", &[("key2", KEY2), ("key1", KEY1)]),
    );
    {
        let api = ApiServer::start_with(&etcd, &["--encryption-provider-config", &both])
            .await
            .expect("apiserver");
        assert_eq!(read_password(&api, "rotated").await, json!("aHVudGVyMg=="));
        // The whole List, as docs/security.md tells operators to do it:
        // kubectl checks its items against /openapi/v2 (protobuf) itself.
        let all = kubectl(&api.url, &["get", "secrets", "-A", "-o", "json"]).expect("kubectl get");
        assert!(all.success, "{}", all.stderr);
        let mut replace = Command::new("/usr/bin/kubectl")
            .args(["--server", &api.url, "replace", "-f", "-", "--cache-dir"])
            .arg(dir.path().join("kubectl-cache"))
            .env("KUBECONFIG", "/dev/null")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kubectl replace");
        replace
            .stdin
            .take()
            .expect("stdin")
            .write_all(all.stdout.as_bytes())
            .expect("write");
        let out = replace.wait_with_output().expect("kubectl replace");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(raw(&etcd, key)
        .await
        .starts_with(b"k8s:enc:aescbc:v1:key2:"));
    // Only key1 left: the rotated value has no matching key any more.
    {
        let api = ApiServer::start_with(&etcd, &["--encryption-provider-config", &first])
            .await
            .expect("apiserver");
        let r = api
            .http()
            .get("/api/v1/namespaces/default/secrets/rotated")
            .await
            .expect("get");
        assert_eq!(r.status, 500, "{}", r.body);
    }
    // identity first: new writes are plain, encrypted ones still read.
    let identity = config(
        &dir,
        "identity",
        &format!(
            "      - identity: {{}}\n{}",
            provider("aescbc", &[("key2", KEY2)])
        ),
    );
    let api = ApiServer::start_with(&etcd, &["--encryption-provider-config", &identity])
        .await
        .expect("apiserver");
    assert_eq!(read_password(&api, "rotated").await, json!("aHVudGVyMg=="));
    create_secret(&api, "plain").await;
    let stored = raw(&etcd, "/registry/secrets/default/plain").await;
    assert!(serde_json::from_slice::<Value>(&stored).is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watches_deliver_decrypted_secrets() {
    let dir = tempfile::tempdir().expect("temp dir");
    let etcd = Etcd::start().await.expect("etcd");
    let path = config(&dir, "gcm", &provider("aesgcm", &[("key1", KEY1)]));
    let api = ApiServer::start_with(&etcd, &["--encryption-provider-config", &path])
        .await
        .expect("apiserver");
    let mut watch = api
        .http()
        .watch("/api/v1/namespaces/default/secrets?watch=true")
        .await
        .expect("watch");
    create_secret(&api, "watched").await;
    let event = watch.next(Duration::from_secs(10)).await.expect("an event");
    assert_eq!(event["type"], json!("ADDED"));
    assert_eq!(event["object"]["metadata"]["name"], json!("watched"));
    assert_eq!(event["object"]["data"]["password"], json!("aHVudGVyMg=="));
    let r = api
        .http()
        .delete("/api/v1/namespaces/default/secrets/watched", None)
        .await
        .expect("delete");
    assert_eq!(r.status, 200);
    let event = watch.next(Duration::from_secs(10)).await.expect("an event");
    assert_eq!(event["type"], json!("DELETED"));
    assert_eq!(event["object"]["data"]["password"], json!("aHVudGVyMg=="));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_configuration_refuses_to_start() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = config(&dir, "short", &provider("aescbc", &[("key1", "c2hvcnQ=")]));
    let bin = binary("apiserver").expect("cargo build -p apiserver");
    let out = Command::new(bin)
        .args([
            "--etcd-servers",
            "http://127.0.0.1:1",
            "--secure-port",
            "0",
            "--port",
            "0",
            "--encryption-provider-config",
            &path,
        ])
        .output()
        .expect("apiserver");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("resources[0].providers[0].aescbc.keys[0].secret: Invalid value: \"REDACTED\": secret is not of the expected length, got 5, expected one of [16 24 32]"),
        "{stderr}"
    );
}
