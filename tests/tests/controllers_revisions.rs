//! ControllerRevisions end to end against a real apiserver and etcd, with a
//! stand-in kubelet: a StatefulSet's partitioned (canary) and phased
//! rolling update, and the real kubectl's `rollout history` and `rollout
//! undo` for StatefulSets and DaemonSets.

use std::time::Duration;

use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet, StatefulSet};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;
use tests::controllers::{create_node, ControlPlane, ControllerManager, FakeKubelet};
use tests::harness::{eventually, kubectl_cached, our_kubectl_cached};

const T: Duration = Duration::from_secs(60);

/// Runs `args` with the real kubectl and ours; both must succeed with the
/// same stdout, which is returned.
fn both_kubectls(c: &ControlPlane, args: &[&str]) -> String {
    let cache = tempfile::tempdir().expect("tmp");
    let theirs = kubectl_cached(&c.url, cache.path(), args).expect("kubectl");
    let ours = our_kubectl_cached(&c.url, cache.path(), args).expect("our kubectl");
    assert!(theirs.success, "{args:?}: {}", theirs.stderr);
    assert!(ours.success, "{args:?} (ours): {}", ours.stderr);
    assert_eq!(ours.stdout, theirs.stdout, "{args:?}");
    theirs.stdout
}

fn image(p: &Pod) -> String {
    p.spec
        .as_ref()
        .and_then(|s| s.containers.first())
        .and_then(|c| c.image.clone())
        .unwrap_or_default()
}

fn revision_label(p: &Pod) -> String {
    p.metadata
        .labels
        .as_ref()
        .and_then(|l| l.get("controller-revision-hash"))
        .cloned()
        .unwrap_or_default()
}

/// The pods `name-0..n` as (image, revision label), once all exist, are
/// not being deleted and are Ready.
async fn members(pods: &Api<Pod>, name: &str, n: usize) -> Option<Vec<(String, String)>> {
    let mut out = Vec::new();
    for i in 0..n {
        let p = pods.get(&format!("{name}-{i}")).await.ok()?;
        let ready = p
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
        if p.metadata.deletion_timestamp.is_some() || !ready {
            return None;
        }
        out.push((image(&p), revision_label(&p)));
    }
    Some(out)
}

async fn set_partition(sets: &Api<StatefulSet>, partition: i32) {
    let patch = json!({"spec": {"updateStrategy": {"type": "RollingUpdate",
        "rollingUpdate": {"partition": partition}}}});
    sets.patch("web", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("partition");
}

/// The set's (currentRevision, updateRevision) once its status observed
/// its generation.
async fn revisions(sets: &Api<StatefulSet>) -> Option<(String, String)> {
    let s = sets.get("web").await.ok()?;
    let st = s.status.clone()?;
    (st.observed_generation == s.metadata.generation).then(|| {
        (
            st.current_revision.unwrap_or_default(),
            st.update_revision.unwrap_or_default(),
        )
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statefulset_canary_phased_rollout_and_undo() {
    let c = ControlPlane::start().await;
    let _cm = ControllerManager::start(&c.url, &["statefulset"], |_| {}).await;
    let ns = c.namespace("sts-rev");
    let _kubelet = FakeKubelet::start(c.client.clone(), &ns, Duration::ZERO);
    let sets: Api<StatefulSet> = Api::namespaced(c.client.clone(), &ns);
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), &ns);
    let set: StatefulSet = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {"replicas": 3, "serviceName": "web",
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "c", "image": "nginx:1"}]}}}
    }))
    .expect("set");
    sets.create(&PostParams::default(), &set)
        .await
        .expect("create");

    // Created: one revision, current == update, every pod labelled with it.
    let first = eventually(T, || async {
        let (cur, upd) = revisions(&sets).await?;
        let m = members(&pods, "web", 3).await?;
        (cur == upd && m.iter().all(|(i, r)| i == "nginx:1" && *r == cur)).then_some(cur)
    })
    .await
    .expect("the set never came up at one revision");
    assert!(first.starts_with("web-"), "{first}");

    // A new template with the partition at the replica count: a new update
    // revision, and no pod changes.
    let patch = json!({"spec": {
        "template": {"spec": {"containers": [{"name": "c", "image": "nginx:2"}]}},
        "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 3}}}});
    sets.patch("web", &PatchParams::default(), &Patch::Strategic(&patch))
        .await
        .expect("update");
    let (cur, update) = eventually(T, || async {
        revisions(&sets).await.filter(|(c, u)| c != u)
    })
    .await
    .expect("no new update revision");
    assert_eq!(cur, first);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let m = members(&pods, "web", 3).await.expect("pods");
    assert!(m.iter().all(|(i, _)| i == "nginx:1"), "{m:?}");

    // Canary: partition 2 updates web-2 only.
    set_partition(&sets, 2).await;
    let m = eventually(T, || async {
        let m = members(&pods, "web", 3).await?;
        (m[2] == ("nginx:2".to_string(), update.clone())).then_some(m)
    })
    .await
    .expect("web-2 never got the update");
    assert_eq!(m[0], ("nginx:1".to_string(), cur.clone()));
    assert_eq!(m[1], ("nginx:1".to_string(), cur.clone()));

    // A pod below the partition that is deleted comes back at the current
    // revision, with the old template.
    let old_uid = pods.get("web-0").await.expect("web-0").metadata.uid;
    pods.delete("web-0", &DeleteParams::default())
        .await
        .expect("delete");
    let m = eventually(T, || async {
        let p = pods.get("web-0").await.ok()?;
        if p.metadata.uid == old_uid {
            return None;
        }
        members(&pods, "web", 3).await
    })
    .await
    .expect("web-0 never came back");
    assert_eq!(m[0], ("nginx:1".to_string(), cur.clone()));

    // Phased: partition 0 updates the rest, and the update revision becomes
    // the current one.
    set_partition(&sets, 0).await;
    eventually(T, || async {
        let m = members(&pods, "web", 3).await?;
        let (c, u) = revisions(&sets).await?;
        (m.iter().all(|(i, r)| i == "nginx:2" && *r == update) && c == update && u == update)
            .then_some(())
    })
    .await
    .expect("the rollout never completed");

    let status = both_kubectls(
        &c,
        &[
            "rollout",
            "status",
            "statefulset/web",
            "-n",
            &ns,
            "--watch=false",
        ],
    );
    assert_eq!(
        status,
        "partitioned roll out complete: 3 new pods have been updated...\n"
    );
    both_kubectls(&c, &["rollout", "history", "statefulset/web", "-n", &ns]);

    let revs: Api<ControllerRevision> = Api::namespaced(c.client.clone(), &ns);
    let mut numbers: Vec<(String, i64)> = revs
        .list(&ListParams::default())
        .await
        .expect("revisions")
        .items
        .into_iter()
        .map(|r| (r.metadata.name.unwrap_or_default(), r.revision))
        .collect();
    numbers.sort_by_key(|(_, n)| *n);
    assert_eq!(numbers, [(first.clone(), 1), (update.clone(), 2)]);

    // The real kubectl: history lists both, undo goes back to nginx:1, whose
    // revision becomes number 3.
    let out = c.kubectl(&["rollout", "history", "statefulset/web", "-n", &ns]);
    assert!(out.success, "{}", out.stderr);
    let rows: Vec<&str> = out
        .stdout
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(rows.contains(&"1") && rows.contains(&"2"), "{}", out.stdout);
    let out = c.kubectl(&["rollout", "undo", "statefulset/web", "-n", &ns]);
    assert!(out.success, "{}{}", out.stdout, out.stderr);
    eventually(T, || async {
        let m = members(&pods, "web", 3).await?;
        m.iter()
            .all(|(i, r)| i == "nginx:1" && *r == first)
            .then_some(())
    })
    .await
    .expect("undo never brought nginx:1 back");
    let back = revs.get(&first).await.expect("first revision");
    assert_eq!(back.revision, 3);
    // Ours undoes too: back to revision 2's nginx:2.
    let cache = tempfile::tempdir().expect("tmp");
    let out = our_kubectl_cached(
        &c.url,
        cache.path(),
        &["rollout", "undo", "statefulset/web", "-n", &ns],
    )
    .expect("our kubectl");
    assert!(out.success, "{}", out.stderr);
    assert_eq!(out.stdout, "statefulset.apps/web rolled back\n");
    eventually(T, || async {
        let m = members(&pods, "web", 3).await?;
        m.iter()
            .all(|(i, r)| i == "nginx:2" && *r == update)
            .then_some(())
    })
    .await
    .expect("our undo never brought nginx:2 back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_rollout_undo_daemonset_restores_the_old_image() {
    let c = ControlPlane::start().await;
    let _cm = ControllerManager::start(&c.url, &["daemonset"], |_| {}).await;
    let ns = c.namespace("ds-rev");
    let _kubelet = FakeKubelet::start(c.client.clone(), &ns, Duration::ZERO);
    for n in ["rev-n1", "rev-n2"] {
        create_node(&c.client, n, json!({}), json!([])).await;
    }
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), &ns);
    let sets: Api<DaemonSet> = Api::namespaced(c.client.clone(), &ns);
    let revs: Api<ControllerRevision> = Api::namespaced(c.client.clone(), &ns);
    let manifest = |img: &str| {
        json!({"apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": {"name": "agent", "namespace": ns},
            "spec": {"selector": {"matchLabels": {"app": "agent"}},
                "template": {"metadata": {"labels": {"app": "agent"}},
                    "spec": {"containers": [{"name": "c", "image": img}]}}}})
    };
    // The daemon pods (ready and not being deleted), as (image, hash).
    let running = || async {
        let list = pods.list(&ListParams::default()).await.ok()?;
        let live: Vec<(String, String)> = list
            .items
            .iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
            .map(|p| (image(p), revision_label(p)))
            .collect();
        Some(live)
    };
    c.apply(&manifest("agent:1"));
    let first = eventually(T, || async {
        let live = running().await?;
        let ds = sets.get("agent").await.ok()?;
        let ready = ds.status.as_ref().map(|s| s.number_ready) == Some(2);
        (ready && live.len() == 2 && live.iter().all(|(i, _)| i == "agent:1"))
            .then(|| live[0].1.clone())
    })
    .await
    .expect("the daemon pods never came up");

    c.apply(&manifest("agent:2"));
    let second = eventually(T, || async {
        let live = running().await?;
        let ds = sets.get("agent").await.ok()?;
        let st = ds.status.clone()?;
        let done = st.updated_number_scheduled == Some(2) && st.number_ready == 2;
        (done && live.len() == 2 && live.iter().all(|(i, _)| i == "agent:2"))
            .then(|| live[0].1.clone())
    })
    .await
    .expect("the update never rolled out");
    assert_ne!(first, second);
    let list = revs.list(&ListParams::default()).await.expect("revisions");
    let mut numbers: Vec<(String, i64)> = list
        .items
        .iter()
        .map(|r| (r.metadata.name.clone().unwrap_or_default(), r.revision))
        .collect();
    numbers.sort_by_key(|(_, n)| *n);
    assert_eq!(
        numbers,
        [
            (format!("agent-{first}"), 1),
            (format!("agent-{second}"), 2)
        ]
    );

    let history = both_kubectls(&c, &["rollout", "history", "daemonset/agent", "-n", &ns]);
    assert!(history.contains("REVISION"), "{history}");
    let status = both_kubectls(
        &c,
        &[
            "rollout",
            "status",
            "daemonset/agent",
            "-n",
            &ns,
            "--watch=false",
        ],
    );
    assert_eq!(status, "daemon set \"agent\" successfully rolled out\n");
    let out = c.kubectl(&["rollout", "undo", "daemonset/agent", "-n", &ns]);
    assert!(out.success, "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("rolled back"), "{}", out.stdout);
    eventually(T, || async {
        let live = running().await?;
        (live.len() == 2 && live.iter().all(|(i, h)| i == "agent:1" && *h == first)).then_some(())
    })
    .await
    .expect("undo never brought agent:1 back");
    let back = revs
        .get(&format!("agent-{first}"))
        .await
        .expect("first revision");
    assert_eq!(back.revision, 3);
    // Ours: a revision that is already the template is skipped.
    let cache = tempfile::tempdir().expect("tmp");
    let out = our_kubectl_cached(
        &c.url,
        cache.path(),
        &[
            "rollout",
            "undo",
            "daemonset/agent",
            "--to-revision=3",
            "-n",
            &ns,
        ],
    )
    .expect("our kubectl");
    assert!(out.success, "{}", out.stderr);
    assert_eq!(
        out.stdout,
        "daemonset.apps/agent skipped rollback (current template already matches revision 3)\n"
    );
}
