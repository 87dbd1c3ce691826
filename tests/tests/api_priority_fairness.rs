//! API Priority and Fairness against a real apiserver and etcd.
//!
//! Clients are told apart the way upstream's e2e tests do it: the test
//! talks to the plain port (a `system:masters` identity) and impersonates
//! the user each request is from, so classification sees that user.
//!
//! The apiserver runs with `--max-requests-inflight 20
//! --max-mutating-requests-inflight 10`: 30 seats, of which the
//! `global-default` level gets 3, small enough for a test to overload.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use tests::harness::{eventually, unique, ApiServer, Etcd, Http};

const PF_SCHEMA: &str = "x-kubernetes-pf-flowschema-uid";
const PF_LEVEL: &str = "x-kubernetes-pf-prioritylevel-uid";
const FC: &str = "/apis/flowcontrol.apiserver.k8s.io/v1";

async fn start() -> (Etcd, ApiServer) {
    let etcd = Etcd::start().await.expect("etcd");
    let api = ApiServer::start_with(
        &etcd,
        &[
            "--max-requests-inflight",
            "20",
            "--max-mutating-requests-inflight",
            "10",
        ],
    )
    .await
    .expect("apiserver");
    (etcd, api)
}

/// An answer: status, the flow-control headers, `Retry-After`, the body.
struct Answer {
    status: u16,
    schema: String,
    level: String,
    retry_after: String,
    body: String,
}

/// `GET path` as `user` (in `system:authenticated`).
async fn get_as(http: &Http, user: &str, path: &str) -> Answer {
    let (status, headers, body) = http
        .request(
            "GET",
            path,
            &[
                ("Impersonate-User", user),
                ("Impersonate-Group", "system:authenticated"),
            ],
            Vec::new(),
        )
        .await
        .expect("request");
    let header = |h: &str| {
        headers
            .get(h)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    Answer {
        status,
        schema: header(PF_SCHEMA),
        level: header(PF_LEVEL),
        retry_after: header("retry-after"),
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

async fn uid_of(http: &Http, path: &str) -> String {
    let r = http.get(path).await.expect("get");
    assert_eq!(r.status, 200, "{path}: {}", r.body);
    r.body["metadata"]["uid"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Waits for the apiserver to have written its default configuration.
async fn default_configuration(http: &Http) {
    let ready = eventually(Duration::from_secs(30), || async {
        let r = http.get(&format!("{FC}/flowschemas")).await.ok()?;
        (r.body["items"].as_array().map_or(0, Vec::len) >= 11).then_some(())
    })
    .await;
    assert!(ready.is_some(), "the bootstrap FlowSchemas never appeared");
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[tokio::test]
async fn requests_are_classified_and_say_where_they_went() {
    let (_etcd, api) = start().await;
    let http = api.http();
    default_configuration(&http).await;
    let fs_uid = uid_of(&http, &format!("{FC}/flowschemas/global-default")).await;
    let pl_uid = uid_of(
        &http,
        &format!("{FC}/prioritylevelconfigurations/global-default"),
    )
    .await;
    let jane = unique("jane");
    let a = get_as(&http, &jane, "/version").await;
    assert_eq!(a.status, 200);
    assert_eq!(
        (a.schema, a.level),
        (fs_uid, pl_uid),
        "a user goes to global-default"
    );

    // A level and a schema of our own take over for that user.
    let name = unique("pf");
    let pl = json!({"apiVersion": "flowcontrol.apiserver.k8s.io/v1", "kind": "PriorityLevelConfiguration",
        "metadata": {"name": name},
        "spec": {"type": "Limited", "limited": {"nominalConcurrencyShares": 2,
                 "limitResponse": {"type": "Reject"}}}});
    let fs = json!({"apiVersion": "flowcontrol.apiserver.k8s.io/v1", "kind": "FlowSchema",
        "metadata": {"name": name},
        "spec": {"priorityLevelConfiguration": {"name": name}, "matchingPrecedence": 1000,
                 "distinguisherMethod": {"type": "ByUser"},
                 "rules": [{"subjects": [{"kind": "User", "user": {"name": jane}}],
                            "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}]}]}});
    let created = http
        .post(&format!("{FC}/flowschemas"), &fs)
        .await
        .expect("fs");
    assert_eq!(created.status, 201, "{}", created.body);
    // The schema names a level that does not exist yet: Dangling.
    let dangling = |want: &'static str| {
        let http = http.clone();
        let name = name.clone();
        async move {
            eventually(Duration::from_secs(20), || async {
                let r = http.get(&format!("{FC}/flowschemas/{name}")).await.ok()?;
                let c = r.body["status"]["conditions"]
                    .as_array()?
                    .iter()
                    .find(|c| c["type"] == "Dangling")?
                    .clone();
                (c["status"] == want).then_some(c)
            })
            .await
        }
    };
    let c = dangling("True").await.expect("Dangling=True");
    assert_eq!(c["reason"], "NotFound");
    assert_eq!(
        c["message"],
        format!("This FlowSchema references the PriorityLevelConfiguration object named \"{name}\" but there is no such object")
    );
    let created = http
        .post(&format!("{FC}/prioritylevelconfigurations"), &pl)
        .await
        .expect("pl");
    assert_eq!(created.status, 201, "{}", created.body);
    let c = dangling("False").await.expect("Dangling=False");
    assert_eq!(c["reason"], "Found");
    let (fs_uid, pl_uid) = (
        uid_of(&http, &format!("{FC}/flowschemas/{name}")).await,
        uid_of(&http, &format!("{FC}/prioritylevelconfigurations/{name}")).await,
    );
    let moved = eventually(Duration::from_secs(10), || async {
        let a = get_as(&http, &jane, "/version").await;
        (a.schema == fs_uid && a.level == pl_uid).then_some(())
    })
    .await;
    assert!(
        moved.is_some(),
        "jane's requests never reached her own level"
    );

    // The nominal seats are published as upstream's metric.
    let (_, metrics) = http.get_text("/metrics").await.expect("metrics");
    let line = metrics
        .lines()
        .find(|l| {
            l.starts_with("apiserver_flowcontrol_nominal_limit_seats")
                && l.contains(&format!("priority_level=\"{name}\""))
        })
        .unwrap_or_default();
    // 30 seats * 2 shares / (245 + 2), rounded up.
    assert!(line.ends_with(" 1"), "nominal seats line: {line:?}");

    // system:masters is exempt.
    let (_, headers, _) = http
        .request("GET", "/version", &[], Vec::new())
        .await
        .expect("version");
    let exempt_fs = uid_of(&http, &format!("{FC}/flowschemas/exempt")).await;
    assert_eq!(
        headers.get(PF_SCHEMA).and_then(|v| v.to_str().ok()),
        Some(exempt_fs.as_str())
    );
}

/// Runs `flooders` tasks, each listing ConfigMaps in `ns` as `flood` again
/// and again until `stop` (or once); returns every answer with its latency.
fn flood(
    http: &Http,
    user: &str,
    ns: &str,
    flooders: usize,
    stop: Arc<AtomicBool>,
    once: bool,
) -> Vec<tokio::task::JoinHandle<Vec<(Answer, Duration)>>> {
    (0..flooders)
        .map(|_| {
            let (http, user, stop) = (http.clone(), user.to_string(), Arc::clone(&stop));
            let path = format!("/api/v1/namespaces/{ns}/configmaps");
            tokio::spawn(async move {
                let mut seen = Vec::new();
                loop {
                    let t = Instant::now();
                    let answer = get_as(&http, &user, &path).await;
                    seen.push((answer, t.elapsed()));
                    if once || stop.load(Ordering::Relaxed) {
                        return seen;
                    }
                }
            })
        })
        .collect()
}

/// `n` GETs one after the other as `user`: their latencies, sorted.
async fn calm_gets(http: &Http, user: &str, path: &str, n: usize) -> Vec<Duration> {
    let mut took = Vec::new();
    for _ in 0..n {
        let t = Instant::now();
        let a = get_as(http, user, path).await;
        assert_eq!(a.status, 200, "the calm user's GET failed: {}", a.body);
        took.push(t.elapsed());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    took.sort();
    took
}

#[tokio::test]
async fn a_flood_from_one_user_does_not_starve_another() {
    let (_etcd, api) = start().await;
    let http = api.http();
    default_configuration(&http).await;
    let ns = unique("apf");
    let r = http
        .post(
            "/api/v1/namespaces",
            &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
        )
        .await
        .expect("namespace");
    assert_eq!(r.status, 201);
    let data: String = "x".repeat(200);
    for i in 0..300 {
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap",
                        "metadata": {"name": format!("cm-{i}")}, "data": {"d": data}});
        let r = http
            .post(&format!("/api/v1/namespaces/{ns}/configmaps"), &cm)
            .await
            .expect("configmap");
        assert_eq!(r.status, 201, "{}", r.body);
    }
    let flooder = unique("flood");
    let calm = unique("calm");
    let one = format!("/api/v1/namespaces/{ns}/configmaps/cm-0");

    // 1. Fairness inside one level: both users are in global-default (3
    // seats); 200 LISTs at a time from one of them queue up, and the other's
    // GETs overtake that backlog instead of waiting behind it.
    let stop = Arc::new(AtomicBool::new(false));
    let tasks = flood(&http, &flooder, &ns, 200, Arc::clone(&stop), false);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let calm_took = calm_gets(&http, &calm, &one, 40).await;
    stop.store(true, Ordering::Relaxed);
    let mut flood_took = Vec::new();
    let mut flood_rejected = 0;
    for t in tasks {
        for (answer, took) in t.await.expect("flooder") {
            match answer.status {
                200 => flood_took.push(took),
                429 => flood_rejected += 1,
                other => panic!("a flood LIST answered {other}"),
            }
        }
    }
    flood_took.sort();
    let (calm_p50, calm_p99) = (percentile(&calm_took, 0.5), percentile(&calm_took, 0.99));
    let flood_p50 = percentile(&flood_took, 0.5);
    eprintln!(
        "same level: calm GET p50 {calm_p50:?} p99 {calm_p99:?}; flood LIST p50 {flood_p50:?} \
         ({} answered, {flood_rejected} rejected)",
        flood_took.len()
    );
    assert!(
        calm_p99 < flood_p50,
        "the calm user waited behind the flood: calm p99 {calm_p99:?}, flood p50 {flood_p50:?}"
    );

    // 2. The flooder gets a level of its own with 1 seat and a single
    // queue of 10: most of a burst of 200 is refused with 429, and the
    // calm user, in another level, does not notice.
    let name = unique("flood-level");
    let pl = json!({"apiVersion": "flowcontrol.apiserver.k8s.io/v1", "kind": "PriorityLevelConfiguration",
        "metadata": {"name": name},
        "spec": {"type": "Limited", "limited": {"nominalConcurrencyShares": 1,
                 "limitResponse": {"type": "Queue",
                                   "queuing": {"queues": 1, "handSize": 1, "queueLengthLimit": 10}}}}});
    let fs = json!({"apiVersion": "flowcontrol.apiserver.k8s.io/v1", "kind": "FlowSchema",
        "metadata": {"name": name},
        "spec": {"priorityLevelConfiguration": {"name": name}, "matchingPrecedence": 100,
                 "rules": [{"subjects": [{"kind": "User", "user": {"name": flooder}}],
                            "resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"],
                                               "namespaces": ["*"], "clusterScope": true}]}]}});
    for (plural, obj) in [("prioritylevelconfigurations", &pl), ("flowschemas", &fs)] {
        let r = http
            .post(&format!("{FC}/{plural}"), obj)
            .await
            .expect("create");
        assert_eq!(r.status, 201, "{}", r.body);
    }
    let pl_uid = uid_of(&http, &format!("{FC}/prioritylevelconfigurations/{name}")).await;
    let moved = eventually(Duration::from_secs(10), || async {
        let a = get_as(&http, &flooder, &one).await;
        (a.level == pl_uid).then_some(())
    })
    .await;
    assert!(moved.is_some(), "the flooder never reached its own level");
    let stop = Arc::new(AtomicBool::new(false));
    let tasks = flood(&http, &flooder, &ns, 200, Arc::clone(&stop), true);
    let calm_took = calm_gets(&http, &calm, &one, 20).await;
    let (mut ok, mut rejected) = (0, 0);
    for t in tasks {
        for (answer, _) in t.await.expect("flooder") {
            match answer.status {
                200 => ok += 1,
                429 => {
                    rejected += 1;
                    assert_eq!(answer.body, "Too many requests, please try again later.\n");
                    assert_eq!(answer.retry_after, "1", "a refusal says when to come back");
                    assert_eq!(answer.level, pl_uid);
                }
                other => panic!("a flood LIST answered {other}"),
            }
        }
    }
    eprintln!(
        "own level: {ok} flood LISTs answered, {rejected} refused with 429; calm GET p50 {:?} p99 {:?}",
        percentile(&calm_took, 0.5),
        percentile(&calm_took, 0.99)
    );
    assert!(rejected > 0, "no flood request was refused");
    assert!(ok > 0, "every flood request was refused");
    let (_, metrics) = http.get_text("/metrics").await.expect("metrics");
    assert!(
        metrics.lines().any(
            |l| l.starts_with("apiserver_flowcontrol_rejected_requests_total")
                && l.contains(&format!("priority_level=\"{name}\""))
                && l.contains("reason=\"queue-full\"")
        ),
        "no queue-full rejection counted"
    );
}
