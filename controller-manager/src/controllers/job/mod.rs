//! The Job controller: runs pods until `completions` of them succeeded, at
//! most `parallelism` at a time, and gives up after `backoffLimit` failures
//! or `activeDeadlineSeconds`; and (upstream's separate `ttlafterfinished`
//! controller, folded in here) deletes finished Jobs after
//! `ttlSecondsAfterFinished`.
//!
//! reconcile(ns/name), as upstream's `syncJob`:
//! 1. **count** finished pods without ever counting one twice: every pod we
//!    create carries the `batch.kubernetes.io/job-tracking` finalizer, so it
//!    cannot vanish before it is counted. A pod that finished (or is being
//!    deleted) goes first into `status.uncountedTerminatedPods`, then loses
//!    its finalizer, then moves into `succeeded`/`failed`. A crash between
//!    two steps leaves enough in the status to finish the job later.
//! 2. **decide**: too many failures (`BackoffLimitExceeded`), past the
//!    deadline (`DeadlineExceeded`) or enough successes: write the
//!    `FailureTarget` or `SuccessCriteriaMet` condition, delete the pods still
//!    running, and once none is left write `Failed` or `Complete`
//!    (upstream 1.31+ writes the interim conditions first, too).
//! 3. otherwise **manage** pods: `suspend` deletes them all; else create or
//!    delete so `min(parallelism, completions - succeeded)` run. In `Indexed`
//!    mode each pod gets an index (annotation and label
//!    `batch.kubernetes.io/job-completion-index`, env `JOB_COMPLETION_INDEX`,
//!    hostname `<job>-<index>`) and the lowest missing indexes are created.
//! 4. write `status` (active, ready, terminating, succeeded, failed,
//!    completedIndexes, startTime, completionTime, conditions) with the
//!    Job's resourceVersion, so a stale cache can never overwrite counts.
//!
//! A failed pod counts against `backoffLimit` unless `podFailurePolicy`
//! says otherwise ([`pod_failure_policy`]: ignore it, fail the Job, fail its
//! index). An Indexed Job may instead limit failures per index
//! (`backoffLimitPerIndex`: the failures so far ride on each replacement pod
//! in the `batch.kubernetes.io/job-index-failure-count` annotation; an index
//! over its limit lands in `status.failedIndexes` and is not retried, and
//! more than `maxFailedIndexes` of them fail the Job), and succeed early
//! through `successPolicy` ([`success_policy`]).
//!
//! Simplification: a failed pod is replaced at once, without upstream's
//! 10 s exponential back-off between failures.

pub mod pod_failure_policy;
pub mod success_policy;

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::batch::v1::{Job, JobCondition, JobStatus, UncountedTerminatedPods};
use k8s_openapi::api::core::v1::{EnvVar, EnvVarSource, ObjectFieldSelector, Pod};

use self::pod_failure_policy::Verdict;
use super::{Context, Started};
use crate::events::{Recorder, NORMAL, WARNING};
use crate::machinery::controller::{is_not_found, Action, Context as _, Reconciler, Result};
use crate::machinery::controller_ref::{ControllerRefManager, PodEvents};
use crate::machinery::expectations::Expectations;
use crate::machinery::informer::{key_of, Store};
use crate::machinery::job_status::{condition, condition_true, finished};
use crate::machinery::owner_client::{ApiOwnerClient, OwnerClient};
use crate::machinery::pod_control::{pod_from_template, PodControl};
use crate::machinery::pods::pods_to_delete;
use crate::machinery::queue::Queue;
use crate::machinery::{controller_ref, meta, pods};

/// The finalizer that keeps a Job's pod until the Job counted it.
pub const TRACKING_FINALIZER: &str = "batch.kubernetes.io/job-tracking";
/// Annotation and label with an Indexed Job pod's index.
pub const COMPLETION_INDEX: &str = "batch.kubernetes.io/job-completion-index";
/// Annotation with the failures of an index before this pod.
pub const INDEX_FAILURE_COUNT: &str = "batch.kubernetes.io/job-index-failure-count";
/// Most pods created or deleted in one reconcile.
const BURST: usize = 500;

/// Registers handlers and returns the workers.
pub fn start(ctx: &Context) -> Started {
    let pods = ctx.factory.informer::<Pod>();
    let jobs = ctx.factory.informer::<Job>();
    let queue = Queue::new("job");
    let jc = Arc::new(JobController::new(
        pods.store(),
        jobs.store(),
        ctx.pod_control("job-controller"),
        Arc::new(ApiOwnerClient::new(ctx.client.clone())),
        ctx.recorder("job-controller"),
    ));

    let (q, exp) = (Arc::clone(&queue), Arc::clone(&jc.expectations));
    jobs.add_handler(move |old, new| match (old, new) {
        (_, Some(j)) => q.add(key_of(&**j)),
        (Some(j), None) => {
            exp.delete(&key_of(&**j));
            q.add(key_of(&**j));
        }
        (None, None) => {}
    });

    PodEvents {
        kind: "Job",
        queue: Arc::clone(&queue),
        expectations: Some(Arc::clone(&jc.expectations)),
        owners: jobs.store(),
        selector_of: |j: &Job| {
            j.spec
                .as_ref()
                .and_then(|s| s.selector.as_ref())
                .map(Cow::Borrowed)
        },
        // A Job does not wait for pods to be available.
        min_ready_seconds_of: |_: &Job| None,
    }
    .register(&pods);
    ctx.workers(jc, queue)
}

/// The controller's state.
pub struct JobController {
    pods: Store<Pod>,
    jobs: Store<Job>,
    expectations: Arc<Expectations>,
    /// Pod uids (per Job key) whose finalizer we removed and whose update
    /// the cache has not shown yet: counting them again would count twice.
    finalizers_removed: Mutex<HashMap<String, HashSet<String>>>,
    pod_control: PodControl,
    owners: Arc<dyn OwnerClient<Job>>,
    recorder: Recorder,
}

/// Sets (or replaces) a condition, keeping its transition time when the
/// status does not change.
fn set_condition(status: &mut JobStatus, type_: &str, cstatus: &str, reason: &str, message: &str) {
    let conds = status.conditions.get_or_insert_with(Vec::new);
    let now = meta::now();
    if let Some(c) = conds.iter_mut().find(|c| c.type_ == type_) {
        if c.status != cstatus {
            c.last_transition_time = Some(now.clone());
        }
        c.status = cstatus.into();
        c.reason = Some(reason.into());
        c.message = Some(message.into());
        c.last_probe_time = Some(now);
        return;
    }
    conds.push(JobCondition {
        type_: type_.into(),
        status: cstatus.into(),
        reason: Some(reason.into()),
        message: Some(message.into()),
        last_probe_time: Some(now.clone()),
        last_transition_time: Some(now),
    });
}

fn has_finalizer(pod: &Pod) -> bool {
    pod.metadata
        .finalizers
        .as_ref()
        .is_some_and(|f| f.iter().any(|f| f == TRACKING_FINALIZER))
}

/// The completion index of an Indexed Job's pod.
pub fn pod_index(pod: &Pod) -> Option<i32> {
    pod.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(COMPLETION_INDEX))
        .or_else(|| pod.metadata.labels.as_ref()?.get(COMPLETION_INDEX))
        .and_then(|v| v.parse().ok())
}

/// Parses `completedIndexes` (`"1,3-5,7"`).
pub fn parse_indexes(s: &str) -> BTreeSet<i32> {
    let mut out = BTreeSet::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.parse::<i32>(), b.parse::<i32>()) {
                    out.extend(a..=b);
                }
            }
            None => {
                if let Ok(i) = part.parse() {
                    out.insert(i);
                }
            }
        }
    }
    out
}

/// Formats indexes as `completedIndexes` does: ascending, runs as ranges.
pub fn format_indexes(set: &BTreeSet<i32>) -> String {
    let mut parts = Vec::new();
    let mut it = set.iter().copied().peekable();
    while let Some(start) = it.next() {
        let mut end = start;
        while it.peek() == Some(&(end + 1)) {
            end += 1;
            it.next();
        }
        // Upstream writes a run of two as "a,b" and only longer runs as "a-b".
        parts.push(if start == end {
            start.to_string()
        } else if end == start + 1 {
            format!("{start},{end}")
        } else {
            format!("{start}-{end}")
        })
    }
    parts.join(",")
}

impl Reconciler for JobController {
    fn name(&self) -> &'static str {
        "job"
    }

    async fn reconcile(&self, key: &str) -> Result<Action> {
        let Some(cached) = self.jobs.get(key) else {
            // The Job is gone without waiting for its pods (a background
            // delete): none of them may keep our finalizer, or the garbage
            // collector's delete could never finish.
            self.expectations.delete(key);
            let (ns, name) = crate::machinery::informer::split_key(key);
            let orphans: Vec<Arc<Pod>> = self
                .pods
                .list_namespace(ns.unwrap_or_default())
                .into_iter()
                .filter(|p| {
                    has_finalizer(p)
                        && controller_ref::controller_of(&p.metadata)
                            .is_some_and(|r| r.kind == "Job" && r.name == name)
                })
                .collect();
            let held: Vec<&Arc<Pod>> = orphans.iter().collect();
            self.remove_finalizers(key, &held).await?;
            self.lock_removed().remove(key);
            return Ok(Action::Done);
        };
        let mut job = (*cached).clone();
        let ns = job.metadata.namespace.clone().unwrap_or_default();
        let uid = job.metadata.uid.clone().unwrap_or_default();
        let done = finished(&job) || job.metadata.deletion_timestamp.is_some();
        let in_namespace = self.pods.list_namespace(&ns);
        let pods: Vec<Arc<Pod>> = if done {
            // A finished Job adopts nothing more; it only lets its pods go.
            in_namespace
                .into_iter()
                .filter(|p| {
                    controller_ref::controller_of(&p.metadata).is_some_and(|r| r.uid == uid)
                })
                .collect()
        } else {
            let selector = meta::selector(job.spec.as_ref().and_then(|s| s.selector.as_ref()))?;
            ControllerRefManager::new(&*cached, &selector)
                .with_finalizers(&[TRACKING_FINALIZER])
                .claim_pods(in_namespace, &*self.owners, &self.pod_control)
                .await?
        };
        self.prune_removed(key, &pods);

        if done {
            // Nothing left to count: let every pod go.
            let holding: Vec<&Arc<Pod>> = pods.iter().filter(|p| has_finalizer(p)).collect();
            self.remove_finalizers(key, &holding).await?;
            if job.metadata.deletion_timestamp.is_some() {
                return Ok(Action::Done);
            }
            return self.ttl_after_finished(&job).await;
        }

        // 1. Count finished pods, through uncountedTerminatedPods.
        let spec = job.spec.clone().unwrap_or_default();
        let indexed = spec.completion_mode.as_deref() == Some("Indexed");
        let status = job.status.clone().unwrap_or_default();
        let unc = status.uncounted_terminated_pods.clone().unwrap_or_default();
        let mut unc_s: BTreeSet<String> = unc.succeeded.unwrap_or_default().into_iter().collect();
        let mut unc_f: BTreeSet<String> = unc.failed.unwrap_or_default().into_iter().collect();
        let only_failed_count = spec.pod_failure_policy.is_some()
            || spec.pod_replacement_policy.as_deref() == Some("Failed");
        let per_index_limit = spec.backoff_limit_per_index.filter(|_| indexed);
        let removed = self.removed_for(key);
        let mut newly = false;
        for pod in &pods {
            let puid = pod.metadata.uid.clone().unwrap_or_default();
            if !has_finalizer(pod)
                || removed.contains(&puid)
                || unc_s.contains(&puid)
                || unc_f.contains(&puid)
            {
                continue;
            }
            match pods::pod_phase(pod) {
                "Succeeded" => {
                    unc_s.insert(puid);
                    newly = true;
                }
                // A pod deleted before it finished counts as failed.
                "Failed" => {
                    unc_f.insert(puid);
                    newly = true;
                }
                // Unless only a Failed phase counts (a pod failure policy
                // needs the pod's final state).
                _ if pod.metadata.deletion_timestamp.is_some() && !only_failed_count => {
                    unc_f.insert(puid);
                    newly = true;
                }
                _ => {}
            }
        }
        if newly {
            let mut st = job.status.clone().unwrap_or_default();
            st.uncounted_terminated_pods = Some(uncounted(&unc_s, &unc_f));
            job = self.write_status(&job, st).await?;
        }
        let to_release: Vec<&Arc<Pod>> = pods
            .iter()
            .filter(|p| {
                let u = p.metadata.uid.clone().unwrap_or_default();
                has_finalizer(p) && (unc_s.contains(&u) || unc_f.contains(&u))
            })
            .collect();
        self.remove_finalizers(key, &to_release).await?;

        let mut st = job.status.clone().unwrap_or_default();
        let mut completed = parse_indexes(st.completed_indexes.as_deref().unwrap_or(""));
        let mut failed_indexes = parse_indexes(st.failed_indexes.as_deref().unwrap_or(""));
        let mut policy_failure: Option<String> = None;
        let completions = spec.completions;
        if !unc_s.is_empty() || !unc_f.is_empty() {
            if indexed {
                for pod in pods
                    .iter()
                    .filter(|p| unc_s.contains(p.metadata.uid.as_deref().unwrap_or_default()))
                {
                    if let Some(i) = pod_index(pod) {
                        if completions.is_none_or(|c| i < c) {
                            completed.insert(i);
                        }
                    }
                }
                st.succeeded = Some(completed.len() as i32);
                st.completed_indexes = Some(format_indexes(&completed));
            } else {
                st.succeeded = Some(st.succeeded.unwrap_or(0) + unc_s.len() as i32);
            }
            // What each failure means: the pod failure policy decides, and
            // an index over its own limit fails for good.
            let mut counted = 0;
            for puid in &unc_f {
                let pod = pods
                    .iter()
                    .find(|p| p.metadata.uid.as_deref() == Some(puid));
                let verdict = pod.map_or(Verdict::Count, |p| {
                    pod_failure_policy::evaluate(spec.pod_failure_policy.as_ref(), p)
                });
                let index = pod.and_then(|p| pod_index(p));
                match verdict {
                    Verdict::Ignore => continue,
                    Verdict::FailJob(msg) => {
                        policy_failure.get_or_insert(msg);
                    }
                    Verdict::FailIndex => {
                        if let (Some(i), Some(_)) = (index, per_index_limit) {
                            failed_indexes.insert(i);
                        }
                    }
                    Verdict::Count => {
                        if let (Some(i), Some(limit), Some(p)) = (index, per_index_limit, pod) {
                            if index_failure_count(p) >= limit {
                                failed_indexes.insert(i);
                            }
                        }
                    }
                }
                counted += 1;
            }
            st.failed = Some(st.failed.unwrap_or(0) + counted);
            if per_index_limit.is_some() {
                st.failed_indexes = Some(format_indexes(&failed_indexes));
            }
        }
        st.uncounted_terminated_pods = Some(UncountedTerminatedPods::default());

        // 2. Decide.
        let now = meta::now_millis();
        let active: Vec<Arc<Pod>> = pods
            .iter()
            .filter(|p| pods::pod_active(p))
            .cloned()
            .collect();
        let succeeded = st.succeeded.unwrap_or(0);
        let failed = st.failed.unwrap_or(0);
        let suspended = spec.suspend == Some(true);
        let mut requeue = None;
        if !suspended && st.start_time.is_none() {
            st.start_time = Some(meta::now());
        }
        let target = [("FailureTarget"), ("SuccessCriteriaMet")]
            .into_iter()
            .find(|t| condition_true(&job, t));
        let target = match target {
            Some(t) => condition(&job, t).map(|c| {
                (
                    t.to_string(),
                    c.reason.clone().unwrap_or_default(),
                    c.message.clone().unwrap_or_default(),
                )
            }),
            None if policy_failure.is_some() => Some((
                "FailureTarget".into(),
                "PodFailurePolicy".into(),
                policy_failure.clone().unwrap_or_default(),
            )),
            None if spec
                .max_failed_indexes
                .is_some_and(|m| failed_indexes.len() > m.max(0) as usize) =>
            {
                Some((
                    "FailureTarget".into(),
                    "MaxFailedIndexesExceeded".into(),
                    "Job has exceeded the specified maximal number of failed indexes".into(),
                ))
            }
            None => {
                let restarts: i32 = if spec
                    .template
                    .spec
                    .as_ref()
                    .and_then(|s| s.restart_policy.as_deref())
                    == Some("OnFailure")
                {
                    active.iter().map(|p| pods::restarts(p)).sum()
                } else {
                    0
                };
                let deadline = spec
                    .active_deadline_seconds
                    .zip(st.start_time.as_ref())
                    .map(|(s, t)| meta::millis(t) + s * 1000);
                let complete = match completions {
                    Some(c) => succeeded >= c,
                    None => succeeded > 0 && active.is_empty(),
                };
                if failed + restarts > spec.backoff_limit.unwrap_or(6) {
                    Some((
                        "FailureTarget".into(),
                        "BackoffLimitExceeded".into(),
                        "Job has reached the specified backoff limit".into(),
                    ))
                } else if !failed_indexes.is_empty()
                    && completions.is_some_and(|c| {
                        (0..c).all(|i| completed.contains(&i) || failed_indexes.contains(&i))
                    })
                {
                    Some((
                        "FailureTarget".into(),
                        "FailedIndexes".into(),
                        "Job has failed indexes".into(),
                    ))
                } else if let Some(rule) = indexed
                    .then(|| success_policy::matched_rule(spec.success_policy.as_ref(), &completed))
                    .flatten()
                {
                    Some((
                        "SuccessCriteriaMet".into(),
                        "SuccessPolicy".into(),
                        format!("Matched rules at index {rule}"),
                    ))
                } else if complete {
                    Some((
                        "SuccessCriteriaMet".into(),
                        "CompletionsReached".into(),
                        "Reached expected number of succeeded pods".into(),
                    ))
                } else if !suspended && deadline.is_some_and(|d| d <= now) {
                    Some((
                        "FailureTarget".into(),
                        "DeadlineExceeded".into(),
                        "Job was active longer than specified deadline".into(),
                    ))
                } else {
                    if let Some(d) = deadline.filter(|_| !suspended) {
                        requeue = Some(Duration::from_millis((d - now).max(0) as u64 + 10));
                    }
                    None
                }
            }
        };

        match &target {
            Some((t, reason, message)) => {
                set_condition(&mut st, t, "True", reason, message);
                self.delete_pods(key, &job, &active.iter().collect::<Vec<_>>())
                    .await?;
                // The terminal condition waits until no pod runs or is held.
                let settled = pods.iter().all(|p| {
                    let released = !has_finalizer(p)
                        || removed.contains(p.metadata.uid.as_deref().unwrap_or_default());
                    pods::pod_terminal(p) && released
                });
                if settled {
                    if t == "FailureTarget" {
                        set_condition(&mut st, "Failed", "True", reason, message);
                        self.recorder.event(&job, WARNING, reason, message.clone());
                    } else {
                        set_condition(&mut st, "Complete", "True", reason, message);
                        st.completion_time = Some(meta::now());
                        self.recorder
                            .event(&job, NORMAL, "Completed", "Job completed".into());
                    }
                }
            }
            None if suspended => {
                self.delete_pods(key, &job, &active.iter().collect::<Vec<_>>())
                    .await?;
                if !condition_true(&job, "Suspended") {
                    set_condition(
                        &mut st,
                        "Suspended",
                        "True",
                        "JobSuspended",
                        "Job suspended",
                    );
                    self.recorder
                        .event(&job, NORMAL, "Suspended", "Job suspended".into());
                }
                // The deadline clock restarts when the Job is resumed.
                st.start_time = None;
            }
            None => {
                if condition_true(&job, "Suspended") {
                    set_condition(&mut st, "Suspended", "False", "JobResumed", "Job resumed");
                    self.recorder
                        .event(&job, NORMAL, "Resumed", "Job resumed".into());
                }
                if self.expectations.satisfied(key) {
                    let parallelism = spec.parallelism.unwrap_or(1).max(0);
                    if indexed {
                        let skip: BTreeSet<i32> =
                            completed.union(&failed_indexes).copied().collect();
                        let failures = per_index_limit
                            .map(|_| failures_per_index(&pods, spec.pod_failure_policy.as_ref()));
                        self.manage_indexed(key, &job, &active, &skip, failures, parallelism)
                            .await?;
                    } else {
                        let want = match completions {
                            Some(c) => (c - succeeded).clamp(0, parallelism),
                            None if succeeded > 0 => active.len() as i32,
                            None => parallelism,
                        } as usize;
                        self.manage(key, &job, &active, want).await?;
                    }
                }
            }
        }

        // 4. Status.
        st.active = Some(active.len() as i32);
        st.ready = Some(active.iter().filter(|p| pods::pod_ready(p)).count() as i32);
        st.terminating = Some(
            pods.iter()
                .filter(|p| p.metadata.deletion_timestamp.is_some() && !pods::pod_terminal(p))
                .count() as i32,
        );
        st.succeeded = Some(succeeded);
        st.failed = Some(failed);
        if serde_json::to_value(&st).ok()
            != serde_json::to_value(job.status.clone().unwrap_or_default()).ok()
        {
            self.write_status(&job, st).await?;
        }
        Ok(requeue.map_or(Action::Done, Action::RequeueAfter))
    }
}

fn uncounted(s: &BTreeSet<String>, f: &BTreeSet<String>) -> UncountedTerminatedPods {
    UncountedTerminatedPods {
        succeeded: (!s.is_empty()).then(|| s.iter().cloned().collect()),
        failed: (!f.is_empty()).then(|| f.iter().cloned().collect()),
    }
}

impl JobController {
    /// A controller over these caches, writing through `pod_control` and
    /// `owners` (the apiserver, or fakes in tests).
    pub fn new(
        pods: Store<Pod>,
        jobs: Store<Job>,
        pod_control: PodControl,
        owners: Arc<dyn OwnerClient<Job>>,
        recorder: Recorder,
    ) -> JobController {
        JobController {
            pods,
            jobs,
            expectations: Arc::new(Expectations::new()),
            finalizers_removed: Mutex::default(),
            pod_control,
            owners,
            recorder,
        }
    }

    fn lock_removed(&self) -> std::sync::MutexGuard<'_, HashMap<String, HashSet<String>>> {
        self.finalizers_removed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    fn removed_for(&self, key: &str) -> HashSet<String> {
        self.lock_removed().get(key).cloned().unwrap_or_default()
    }

    /// Forgets removals the cache has caught up with.
    fn prune_removed(&self, key: &str, pods: &[Arc<Pod>]) {
        let mut m = self.lock_removed();
        if let Some(set) = m.get_mut(key) {
            let holding: HashSet<&str> = pods
                .iter()
                .filter(|p| has_finalizer(p))
                .filter_map(|p| p.metadata.uid.as_deref())
                .collect();
            set.retain(|u| holding.contains(u.as_str()));
            if set.is_empty() {
                m.remove(key);
            }
        }
    }

    /// Writes the status with the Job's resourceVersion (409 on a stale
    /// cache) and returns the stored Job.
    async fn write_status(&self, job: &Job, status: JobStatus) -> Result<Job> {
        let mut j = job.clone();
        j.status = Some(status);
        self.owners
            .replace_status(&j)
            .await
            .context(|| format!("updating status of job {}", key_of(job)))
    }

    async fn remove_finalizers(&self, key: &str, pods: &[&Arc<Pod>]) -> Result<()> {
        for pod in pods {
            let ns = pod.metadata.namespace.clone().unwrap_or_default();
            let name = pod.metadata.name.clone().unwrap_or_default();
            let rest: Vec<String> = pod
                .metadata
                .finalizers
                .clone()
                .unwrap_or_default()
                .into_iter()
                .filter(|f| f != TRACKING_FINALIZER)
                .collect();
            let patch = serde_json::json!({"metadata": {"finalizers": rest}});
            match self.pod_control.client().patch(&ns, &name, &patch).await {
                Ok(()) => {}
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(e).context(|| format!("removing finalizer of pod {name}")),
            }
            if let Some(u) = &pod.metadata.uid {
                self.lock_removed()
                    .entry(key.to_string())
                    .or_default()
                    .insert(u.clone());
            }
        }
        Ok(())
    }

    async fn delete_pods(&self, key: &str, job: &Job, pods: &[&Arc<Pod>]) -> Result<()> {
        self.pod_control
            .delete_pods(&self.expectations, key, job, pods)
            .await
    }

    /// NonIndexed: `want` running pods.
    async fn manage(&self, key: &str, job: &Job, active: &[Arc<Pod>], want: usize) -> Result<()> {
        if active.len() > want {
            let victims = pods_to_delete(active, active.len() - want);
            return self.delete_pods(key, job, &victims).await;
        }
        let n = (want - active.len()).min(BURST);
        let pods: Vec<Pod> = (0..n).map(|_| job_pod(job, None)).collect();
        self.create_pods(key, job, pods).await
    }

    /// Indexed: one pod per missing index, lowest first, `parallelism` at
    /// most; duplicates and completed indexes are deleted.
    async fn manage_indexed(
        &self,
        key: &str,
        job: &Job,
        active: &[Arc<Pod>],
        completed: &BTreeSet<i32>,
        failures: Option<HashMap<i32, i32>>,
        parallelism: i32,
    ) -> Result<()> {
        let completions = job.spec.as_ref().and_then(|s| s.completions).unwrap_or(0);
        let mut running = BTreeSet::new();
        let mut extra = Vec::new();
        for p in active {
            match pod_index(p) {
                Some(i) if i < completions && !completed.contains(&i) && running.insert(i) => {}
                _ => extra.push(p),
            }
        }
        let keep = running.len();
        if keep > parallelism as usize {
            // Highest indexes go first.
            let mut by_index: Vec<&Arc<Pod>> = active
                .iter()
                .filter(|p| !extra.iter().any(|e| Arc::ptr_eq(e, p)))
                .collect();
            by_index.sort_by_key(|p| std::cmp::Reverse(pod_index(p)));
            extra.extend(by_index.into_iter().take(keep - parallelism as usize));
        }
        if !extra.is_empty() {
            return self.delete_pods(key, job, &extra).await;
        }
        let room = (parallelism as usize).saturating_sub(keep).min(BURST);
        let pods: Vec<Pod> = (0..completions)
            .filter(|i| !completed.contains(i) && !running.contains(i))
            .take(room)
            .map(|i| {
                let mut pod = job_pod(job, Some(i));
                if let Some(f) = &failures {
                    pod.metadata
                        .annotations
                        .get_or_insert_with(Default::default)
                        .insert(
                            INDEX_FAILURE_COUNT.into(),
                            f.get(&i).copied().unwrap_or(0).to_string(),
                        );
                }
                pod
            })
            .collect();
        self.create_pods(key, job, pods).await
    }

    async fn create_pods(&self, key: &str, job: &Job, pods: Vec<Pod>) -> Result<()> {
        self.pod_control
            .create_pods(&self.expectations, key, job, pods)
            .await
            .map(|_| ())
    }

    /// Deletes a finished Job once `ttlSecondsAfterFinished` passed
    /// (upstream's TTL-after-finished controller), dependents first.
    async fn ttl_after_finished(&self, job: &Job) -> Result<Action> {
        let Some(ttl) = job.spec.as_ref().and_then(|s| s.ttl_seconds_after_finished) else {
            return Ok(Action::Done);
        };
        let st = job.status.clone().unwrap_or_default();
        let finished_at = st
            .completion_time
            .as_ref()
            .or_else(|| condition(job, "Failed").and_then(|c| c.last_transition_time.as_ref()))
            .map(meta::millis)
            .unwrap_or_else(meta::now_millis);
        let expires = finished_at + i64::from(ttl) * 1000;
        let now = meta::now_millis();
        if expires > now {
            return Ok(Action::RequeueAfter(Duration::from_millis(
                (expires - now) as u64 + 10,
            )));
        }
        let name = job.metadata.name.clone().unwrap_or_default();
        tracing::info!(job = %name, "deleting job after ttlSecondsAfterFinished");
        match self.owners.delete(job).await {
            Ok(()) => Ok(Action::Done),
            Err(e) if is_not_found(&e) => Ok(Action::Done),
            Err(e) => Err(e).context(|| format!("deleting finished job {}", key_of(job))),
        }
    }
}

/// A pod for `job` (upstream: the template, the tracking finalizer, the
/// controller reference; in Indexed mode the index and hostname).
/// The failures of this pod's index before it (its annotation).
fn index_failure_count(pod: &Pod) -> i32 {
    pod.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(INDEX_FAILURE_COUNT))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Counted failures per index so far: the newest failed pod of an index
/// carries the count before it, plus itself unless the policy ignores it.
fn failures_per_index(
    pods: &[Arc<Pod>],
    policy: Option<&k8s_openapi::api::batch::v1::PodFailurePolicy>,
) -> HashMap<i32, i32> {
    let mut out: HashMap<i32, i32> = HashMap::new();
    for p in pods.iter().filter(|p| pods::pod_phase(p) == "Failed") {
        let Some(i) = pod_index(p) else { continue };
        let own = match pod_failure_policy::evaluate(policy, p) {
            Verdict::Ignore => 0,
            _ => 1,
        };
        let n = index_failure_count(p) + own;
        let e = out.entry(i).or_insert(0);
        *e = (*e).max(n);
    }
    out
}

fn job_pod(job: &Job, index: Option<i32>) -> Pod {
    let template = job
        .spec
        .as_ref()
        .map(|s| s.template.clone())
        .unwrap_or_default();
    let mut pod = pod_from_template(
        &template,
        &job.metadata,
        controller_ref::controller_ref(job),
    );
    pod.metadata
        .finalizers
        .get_or_insert_with(Vec::new)
        .push(TRACKING_FINALIZER.into());
    let name = job.metadata.name.clone().unwrap_or_default();
    if let Some(i) = index {
        pod.metadata.generate_name = Some(format!("{name}-{i}-"));
        pod.metadata
            .annotations
            .get_or_insert_with(Default::default)
            .insert(COMPLETION_INDEX.into(), i.to_string());
        pod.metadata
            .labels
            .get_or_insert_with(Default::default)
            .insert(COMPLETION_INDEX.into(), i.to_string());
        if let Some(spec) = pod.spec.as_mut() {
            if spec.hostname.is_none() {
                spec.hostname = Some(format!("{name}-{i}"));
            }
            for c in spec
                .containers
                .iter_mut()
                .chain(spec.init_containers.iter_mut().flatten())
            {
                c.env.get_or_insert_with(Vec::new).push(EnvVar {
                    name: "JOB_COMPLETION_INDEX".into(),
                    value: None,
                    value_from: Some(EnvVarSource {
                        field_ref: Some(ObjectFieldSelector {
                            api_version: None,
                            field_path: format!("metadata.labels['{COMPLETION_INDEX}']"),
                        }),
                        ..Default::default()
                    }),
                });
            }
        }
    }
    pod
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::machinery::owner_client::FakeOwnerClient;
    use crate::machinery::pod_control::FakePodClient;
    use serde_json::json;

    const SELECTOR_LABEL: &str = "batch.kubernetes.io/controller-uid";

    /// A Job as the apiserver defaults it: selector and template labels on
    /// its uid.
    fn job(parallelism: i32, completions: i32) -> Job {
        serde_json::from_value(json!({
            "metadata": {"name": "pi", "namespace": "ns", "uid": "job-uid"},
            "spec": {
                "parallelism": parallelism,
                "completions": completions,
                "selector": {"matchLabels": {SELECTOR_LABEL: "job-uid"}},
                "template": {
                    "metadata": {"labels": {SELECTOR_LABEL: "job-uid"}},
                    "spec": {"restartPolicy": "Never",
                             "containers": [{"name": "c", "image": "busybox"}]}
                }
            }
        }))
        .expect("job")
    }

    fn running_pod(name: &str, labels: serde_json::Value) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "ns", "uid": format!("{name}-uid"),
                         "resourceVersion": "3", "labels": labels},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]},
            "status": {"phase": "Running"}
        }))
        .expect("pod")
    }

    fn fixture(
        j: Job,
        pods: Vec<Pod>,
    ) -> (JobController, Arc<FakePodClient>, Arc<FakeOwnerClient<Job>>) {
        let (pod_store, jobs) = (Store::default(), Store::default());
        for p in pods {
            pod_store.insert(p);
        }
        jobs.insert(j.clone());
        let fake = FakePodClient::new();
        let owners = Arc::new(FakeOwnerClient::default());
        owners.set(j);
        let jc = JobController::new(
            pod_store,
            jobs,
            PodControl::new(fake.clone(), Recorder::disabled()),
            owners.clone(),
            Recorder::disabled(),
        );
        (jc, fake, owners)
    }

    #[tokio::test]
    async fn creates_up_to_parallelism_tracked_pods() {
        let (jc, fake, owners) = fixture(job(2, 5), vec![]);
        jc.reconcile("ns/pi").await.expect("reconcile");
        let created = fake.creates();
        assert_eq!(created.len(), 2);
        for p in &created {
            assert!(has_finalizer(p));
            let r = controller_ref::controller_of(&p.metadata).expect("controller");
            assert_eq!((r.kind.as_str(), r.uid.as_str()), ("Job", "job-uid"));
        }
        let status = owners.statuses().last().cloned().expect("status");
        assert_eq!(status["active"], 0);
        assert!(status["startTime"].is_string());
    }

    #[tokio::test]
    async fn an_orphan_with_the_jobs_labels_is_adopted() {
        let (jc, fake, owners) = fixture(
            job(2, 5),
            vec![
                running_pod("orphan", json!({SELECTOR_LABEL: "job-uid"})),
                running_pod("unrelated", json!({"app": "x"})),
            ],
        );
        jc.reconcile("ns/pi").await.expect("reconcile");
        let patches = fake.patches();
        assert_eq!(patches.len(), 1, "{patches:?}");
        assert_eq!(patches[0].0, "ns/orphan");
        let refs = &patches[0].1["metadata"]["ownerReferences"];
        assert_eq!(refs[0]["kind"], "Job");
        assert_eq!(refs[0]["uid"], "job-uid");
        // Adopted pods are tracked like created ones.
        assert_eq!(
            patches[0].1["metadata"]["finalizers"],
            json!([TRACKING_FINALIZER])
        );
        assert_eq!(fake.creates().len(), 1, "the orphan runs as one of two");
        assert_eq!(owners.statuses().last().expect("status")["active"], 1);
    }

    #[tokio::test]
    async fn a_finished_job_adopts_nothing() {
        let mut j = job(2, 2);
        j.status = Some(JobStatus {
            conditions: Some(vec![JobCondition {
                type_: "Complete".into(),
                status: "True".into(),
                ..Default::default()
            }]),
            ..Default::default()
        });
        let (jc, fake, _) = fixture(
            j,
            vec![running_pod("orphan", json!({SELECTOR_LABEL: "job-uid"}))],
        );
        jc.reconcile("ns/pi").await.expect("reconcile");
        assert!(fake.calls().is_empty(), "{:?}", fake.calls());
    }

    #[test]
    fn completed_indexes_round_trip() {
        let s = parse_indexes("0,2-4,7");
        assert_eq!(s.iter().copied().collect::<Vec<_>>(), [0, 2, 3, 4, 7]);
        assert_eq!(format_indexes(&s), "0,2-4,7");
        assert_eq!(format_indexes(&BTreeSet::new()), "");
        assert_eq!(format_indexes(&parse_indexes("1-2,5,6,7")), "1,2,5-7");
        assert!(parse_indexes("x,1-").is_empty());
    }

    #[test]
    fn indexed_pods_carry_their_index() {
        let job: Job = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "j", "namespace": "ns", "uid": "u"},
            "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "i"}]}}}
        }))
        .expect("job");
        let pod = job_pod(&job, Some(2));
        assert_eq!(pod_index(&pod), Some(2));
        assert_eq!(pod.metadata.generate_name.as_deref(), Some("j-2-"));
        let spec = pod.spec.expect("spec");
        assert_eq!(spec.hostname.as_deref(), Some("j-2"));
        assert!(has_finalizer(&Pod {
            metadata: pod.metadata,
            ..Default::default()
        }));
    }
}
