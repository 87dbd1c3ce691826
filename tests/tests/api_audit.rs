//! Auditing with the real apiserver binary and the real kubectl: a policy
//! with Metadata for ConfigMaps, RequestResponse for Secrets and None for
//! one user gives one `audit.k8s.io/v1` Event line per request, with the
//! fields of its level, and nothing for the excluded user; a watch gets
//! ResponseStarted and ResponseComplete.

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};
use tests::harness::{eventually, free_port, kubectl, ApiServer, Etcd};

const POLICY: &str = r#"apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: None
    users: [skipper]
  - level: RequestResponse
    resources:
      - group: ""
        resources: [secrets]
  - level: Metadata
    resources:
      - group: ""
        resources: [configmaps]
"#;

/// The complete lines of the audit log: the apiserver appends while the test
/// reads, so text after the last newline may be an event still being written.
fn events(log: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let complete = text.rfind('\n').map_or("", |end| &text[..end]);
    complete
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_policy_decides_what_each_request_leaves_in_the_log() {
    let dir = tempfile::tempdir().expect("temp dir");
    let policy = dir.path().join("policy.yaml");
    std::fs::write(&policy, POLICY).expect("policy");
    let tokens = dir.path().join("tokens.csv");
    std::fs::write(
        &tokens,
        "tok-alice-0123456789,alice,uid-alice,devs\ntok-skip-0123456789,skipper,uid-skip,\n",
    )
    .expect("tokens");
    let log = dir.path().join("audit").join("audit.log");
    let port = free_port();
    let etcd = Etcd::start().await.expect("etcd");
    let api = ApiServer::start_with(
        &etcd,
        &[
            "--secure-port",
            &port.to_string(),
            "--cert-dir",
            dir.path().join("certs").to_str().expect("utf-8"),
            "--token-auth-file",
            tokens.to_str().expect("utf-8"),
            "--authorization-mode",
            "AlwaysAllow",
            "--audit-policy-file",
            policy.to_str().expect("utf-8"),
            "--audit-log-path",
            log.to_str().expect("utf-8"),
        ],
    )
    .await
    .expect("apiserver");
    let url = format!("https://127.0.0.1:{port}");
    let as_user = |token: &str, args: &[&str]| {
        let mut all = vec![
            "--token",
            token,
            "--insecure-skip-tls-verify",
            "-n",
            "default",
        ];
        all.extend_from_slice(args);
        let out = kubectl(&url, &all).expect("kubectl");
        assert!(out.success, "{args:?}: {}", out.stderr);
    };
    let alice = "tok-alice-0123456789";
    let skipper = "tok-skip-0123456789";
    as_user(
        alice,
        &["create", "configmap", "audited", "--from-literal", "k=v"],
    );
    as_user(alice, &["get", "configmap", "audited", "-o", "json"]);
    as_user(
        alice,
        &[
            "create",
            "secret",
            "generic",
            "pw",
            "--from-literal",
            "p=hunter2",
        ],
    );
    as_user(skipper, &["get", "configmap", "audited"]);
    as_user(skipper, &["get", "secret", "pw"]);
    // A watch on the plain port (its requests act as an administrator).
    let mut watch = api
        .http()
        .watch("/api/v1/namespaces/default/configmaps?watch=true&timeoutSeconds=1")
        .await
        .expect("watch");
    assert!(watch.next(Duration::from_secs(5)).await.is_some());
    assert!(watch.ended(Duration::from_secs(10)).await);

    let found = eventually(Duration::from_secs(10), || {
        let all = events(&log);
        async move { (all.len() >= 5).then_some(all) }
    })
    .await
    .expect("five events in the audit log");
    // Give a straggler the chance to show up before counting.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let all = events(&log);
    assert_eq!(all.len(), found.len().max(5), "{all:#?}");
    assert!(
        all.iter()
            .all(|e| e["user"]["username"] != json!("skipper")),
        "{all:#?}"
    );
    for e in &all {
        assert_eq!(e["kind"], json!("Event"));
        assert_eq!(e["apiVersion"], json!("audit.k8s.io/v1"));
        assert!(e["auditID"].as_str().is_some_and(|id| !id.is_empty()));
        assert!(e["requestReceivedTimestamp"].as_str().is_some());
        assert!(e["stageTimestamp"].as_str().is_some());
        assert!(e["sourceIPs"][0].as_str().is_some());
    }
    let alice_events: Vec<&Value> = all
        .iter()
        .filter(|e| e["user"]["username"] == json!("alice"))
        .collect();
    assert_eq!(alice_events.len(), 3, "{all:#?}");
    let create_cm = alice_events[0];
    assert_eq!(create_cm["verb"], json!("create"));
    assert_eq!(create_cm["level"], json!("Metadata"));
    assert_eq!(create_cm["stage"], json!("ResponseComplete"));
    assert_eq!(create_cm["objectRef"]["resource"], json!("configmaps"));
    assert_eq!(create_cm["objectRef"]["namespace"], json!("default"));
    assert_eq!(create_cm["responseStatus"]["code"], json!(201));
    assert_eq!(
        create_cm["annotations"]["authorization.k8s.io/decision"],
        json!("allow")
    );
    assert!(create_cm["user"]["groups"]
        .as_array()
        .is_some_and(|g| g.contains(&json!("devs"))));
    assert!(create_cm["userAgent"]
        .as_str()
        .is_some_and(|a| a.starts_with("kubectl")));
    assert!(create_cm.get("requestObject").is_none());
    assert!(create_cm.get("responseObject").is_none());
    let get_cm = alice_events[1];
    assert_eq!(get_cm["verb"], json!("get"));
    assert_eq!(get_cm["objectRef"]["name"], json!("audited"));
    assert!(get_cm.get("responseObject").is_none());
    let secret = alice_events[2];
    assert_eq!(secret["level"], json!("RequestResponse"));
    assert_eq!(secret["objectRef"]["resource"], json!("secrets"));
    assert_eq!(secret["requestObject"]["kind"], json!("Secret"));
    assert_eq!(secret["responseObject"]["metadata"]["name"], json!("pw"));
    assert!(secret["responseObject"]["metadata"]["uid"]
        .as_str()
        .is_some());
    // The watch: started, then complete, one auditID.
    let watch_events: Vec<&Value> = all.iter().filter(|e| e["verb"] == json!("watch")).collect();
    assert_eq!(watch_events.len(), 2, "{all:#?}");
    assert_eq!(watch_events[0]["stage"], json!("ResponseStarted"));
    assert_eq!(watch_events[1]["stage"], json!("ResponseComplete"));
    assert_eq!(watch_events[0]["auditID"], watch_events[1]["auditID"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_without_rules_refuses_to_start() {
    let dir = tempfile::tempdir().expect("temp dir");
    let policy = dir.path().join("empty.yaml");
    std::fs::write(
        &policy,
        "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: []\n",
    )
    .expect("policy");
    let bin = tests::harness::binary("apiserver").expect("cargo build -p apiserver");
    let out = std::process::Command::new(bin)
        .args([
            "--etcd-servers",
            "http://127.0.0.1:1",
            "--secure-port",
            "0",
            "--port",
            "0",
        ])
        .args([
            "--audit-policy-file",
            policy.to_str().expect("utf-8"),
            "--audit-log-path",
            "-",
        ])
        .output()
        .expect("apiserver");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("loaded illegal policy with 0 rules from file"),
        "{stderr}"
    );
}
