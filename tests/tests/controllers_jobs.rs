//! The Job controller's failure and success rules against a real apiserver
//! and etcd (no kubelet: the test writes each pod's final status, as a
//! kubelet would): `backoffLimitPerIndex` with `failedIndexes`, a
//! `podFailurePolicy` that ignores an exit code, and `successPolicy`.

use std::time::Duration;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;
use tests::controllers::{ControlPlane, ControllerManager};
use tests::harness::eventually;

const T: Duration = Duration::from_secs(30);
const INDEX: &str = "batch.kubernetes.io/job-completion-index";
const FAILURES: &str = "batch.kubernetes.io/job-index-failure-count";

/// The live (not finished, not deleted) pod of an index.
async fn live_pod(pods: &Api<Pod>, job: &str, index: i32) -> Option<Pod> {
    let list = pods
        .list(&ListParams::default().labels(&format!("job-name={job},{INDEX}={index}")))
        .await
        .ok()?;
    list.items.into_iter().find(|p| {
        p.metadata.deletion_timestamp.is_none()
            && !matches!(
                p.status.as_ref().and_then(|s| s.phase.as_deref()),
                Some("Succeeded" | "Failed")
            )
    })
}

/// Ends a pod with `exit` as its container's exit code.
async fn finish(pods: &Api<Pod>, pod: &Pod, exit: i32) {
    let name = pod.metadata.name.clone().unwrap_or_default();
    let phase = if exit == 0 { "Succeeded" } else { "Failed" };
    let status = json!({"status": {"phase": phase, "containerStatuses": [{
        "name": "c", "image": "busybox:1.36", "imageID": "", "ready": false, "restartCount": 0,
        "state": {"terminated": {"exitCode": exit, "reason": if exit == 0 { "Completed" } else { "Error" }}}}]}});
    pods.patch_status(&name, &PatchParams::default(), &Patch::Merge(&status))
        .await
        .expect("pod status");
}

async fn wait_live(pods: &Api<Pod>, job: &str, index: i32) -> Pod {
    eventually(T, || async { live_pod(pods, job, index).await })
        .await
        .unwrap_or_else(|| panic!("no live pod for index {index}"))
}

fn job(name: &str, extra: serde_json::Value) -> Job {
    let mut spec = json!({
        "completionMode": "Indexed", "completions": 3, "parallelism": 3,
        "template": {"spec": {"restartPolicy": "Never",
            "containers": [{"name": "c", "image": "busybox:1.36"}]}}
    });
    if let (Some(s), Some(e)) = (spec.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            s.insert(k.clone(), v.clone());
        }
    }
    serde_json::from_value(json!({"metadata": {"name": name}, "spec": spec})).expect("job")
}

async fn wait_condition(jobs: &Api<Job>, name: &str, type_: &str) -> (String, String) {
    eventually(T, || async {
        let j = jobs.get(name).await.ok()?;
        j.status?
            .conditions?
            .into_iter()
            .find(|c| c.type_ == type_ && c.status == "True")
            .map(|c| (c.reason.unwrap_or_default(), c.message.unwrap_or_default()))
    })
    .await
    .unwrap_or_else(|| panic!("{name} never got {type_}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backoff_limit_per_index_and_an_ignored_exit_code() {
    let c = ControlPlane::start().await;
    let _cm = ControllerManager::start(&c.url, &["job"], |_| {}).await;
    let ns = c.namespace("jobs");
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), &ns);
    let jobs: Api<Job> = Api::namespaced(c.client.clone(), &ns);
    let spec = json!({"backoffLimitPerIndex": 1,
        "podFailurePolicy": {"rules": [
            {"action": "Ignore", "onExitCodes": {"operator": "In", "values": [42]}}]}});
    jobs.create(&PostParams::default(), &job("per-index", spec))
        .await
        .expect("job");
    let created = jobs.get("per-index").await.expect("get");
    assert_eq!(
        created.spec.and_then(|s| s.backoff_limit),
        Some(i32::MAX),
        "a per-index limit lifts the Job-wide default"
    );

    // Index 0 fails twice: once is allowed, the second time it is done for.
    let first = wait_live(&pods, "per-index", 0).await;
    finish(&pods, &first, 1).await;
    let second = eventually(T, || async {
        live_pod(&pods, "per-index", 0)
            .await
            .filter(|p| p.metadata.name != first.metadata.name)
    })
    .await
    .expect("index 0 is retried");
    let count = second
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(FAILURES).cloned());
    assert_eq!(count.as_deref(), Some("1"));
    finish(&pods, &second, 1).await;
    let failed_indexes = eventually(T, || async {
        jobs.get("per-index")
            .await
            .ok()?
            .status?
            .failed_indexes
            .filter(|f| !f.is_empty())
    })
    .await;
    assert_eq!(failed_indexes.as_deref(), Some("0"));

    // Index 1 exits 42: ignored, so retried without counting.
    let one = wait_live(&pods, "per-index", 1).await;
    finish(&pods, &one, 42).await;
    let again = eventually(T, || async {
        live_pod(&pods, "per-index", 1)
            .await
            .filter(|p| p.metadata.name != one.metadata.name)
    })
    .await
    .expect("index 1 is retried");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        live_pod(&pods, "per-index", 0).await.is_none(),
        "a failed index is not retried"
    );

    // The others succeed: every index is done, one failed, so the Job fails.
    finish(&pods, &again, 0).await;
    let two = wait_live(&pods, "per-index", 2).await;
    finish(&pods, &two, 0).await;
    let (reason, message) = wait_condition(&jobs, "per-index", "Failed").await;
    assert_eq!(reason, "FailedIndexes");
    assert_eq!(message, "Job has failed indexes");
    let status = jobs
        .get("per-index")
        .await
        .expect("get")
        .status
        .unwrap_or_default();
    assert_eq!(status.failed, Some(2), "the ignored failure is not counted");
    assert_eq!(status.completed_indexes.as_deref(), Some("1,2"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_success_policy_ends_the_job_early() {
    let c = ControlPlane::start().await;
    let _cm = ControllerManager::start(&c.url, &["job"], |_| {}).await;
    let ns = c.namespace("jobs");
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), &ns);
    let jobs: Api<Job> = Api::namespaced(c.client.clone(), &ns);
    let spec = json!({"successPolicy": {"rules": [{"succeededIndexes": "0"}]}});
    jobs.create(&PostParams::default(), &job("leader", spec))
        .await
        .expect("job");
    let zero = wait_live(&pods, "leader", 0).await;
    wait_live(&pods, "leader", 2).await;
    finish(&pods, &zero, 0).await;
    let (reason, message) = wait_condition(&jobs, "leader", "SuccessCriteriaMet").await;
    assert_eq!(reason, "SuccessPolicy");
    assert_eq!(message, "Matched rules at index 0");
    let (reason, _) = wait_condition(&jobs, "leader", "Complete").await;
    assert_eq!(reason, "SuccessPolicy");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_job_lets_go_of_its_pods() {
    let c = ControlPlane::start().await;
    let _cm = ControllerManager::start(&c.url, &["job"], |_| {}).await;
    let ns = c.namespace("jobs");
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), &ns);
    let jobs: Api<Job> = Api::namespaced(c.client.clone(), &ns);
    let j: Job = serde_json::from_value(json!({"metadata": {"name": "gone"},
        "spec": {"parallelism": 2, "completions": 4, "template": {"spec": {
            "restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox:1.36"}]}}}}))
    .expect("job");
    jobs.create(&PostParams::default(), &j).await.expect("job");
    let selector = "job-name=gone";
    eventually(T, || async {
        let l = pods
            .list(&ListParams::default().labels(selector))
            .await
            .ok()?;
        (l.items.len() == 2).then_some(())
    })
    .await
    .expect("two pods");
    jobs.delete("gone", &kube::api::DeleteParams::background())
        .await
        .expect("delete");
    // Without the Job, its tracking finalizer must come off every pod, or
    // the garbage collector's delete of them would never finish.
    let released = eventually(T, || async {
        let l = pods
            .list(&ListParams::default().labels(selector))
            .await
            .ok()?;
        l.items
            .iter()
            .all(|p| {
                !p.metadata
                    .finalizers
                    .iter()
                    .flatten()
                    .any(|f| f == "batch.kubernetes.io/job-tracking")
            })
            .then_some(())
    })
    .await;
    assert!(
        released.is_some(),
        "the pods kept the job-tracking finalizer"
    );
}
