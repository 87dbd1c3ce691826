//! The CronJob controller: creates a Job from `spec.jobTemplate` at each
//! time of `spec.schedule`, as upstream's `cronjob_controllerv2.go`.
//!
//! reconcile(ns/name):
//! 1. **children**: the Jobs we control. A finished one leaves
//!    `status.active` (`SawCompletedJob`) and may advance
//!    `lastSuccessfulTime`; an active entry whose Job vanished is dropped.
//! 2. **the due time**: the most recent schedule time after
//!    `lastScheduleTime` (or the CronJob's creation), not older than
//!    `startingDeadlineSeconds` (`MissSchedule` when it is). None due: come
//!    back at the next schedule time.
//! 3. **concurrency**: `Forbid` skips while a Job is active (the time stays
//!    due, so it runs as soon as the Job finishes, as upstream);
//!    `Replace` deletes the active Jobs first; `Allow` just creates.
//! 4. **create** `<cronjob>-<scheduled unix time in minutes>` (so a time is
//!    never run twice) with the annotation
//!    `batch.kubernetes.io/cronjob-scheduled-timestamp`; record it in
//!    `status.active` and `lastScheduleTime`.
//! 5. **history**: delete the oldest finished Jobs beyond
//!    `successfulJobsHistoryLimit` / `failedJobsHistoryLimit`.
//!
//! Time zones: only UTC is known (`spec.timeZone` unset, `UTC`, `Etc/UTC`,
//! `Etc/GMT`, `GMT`); any other zone gets an `UnknownTimeZone` warning Event
//! and no Jobs, as upstream does for a zone missing from its database. The
//! controller reads the time from a [`Clock`] that tests can move forward.

pub mod schedule;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::batch::v1::{CronJob, CronJobStatus, Job};
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, PostParams, PropagationPolicy};

use self::schedule::Schedule;
use super::{Context, Started};
use crate::events::{Recorder, NORMAL, WARNING};
use crate::machinery::controller::{is_not_found, Action, Context as _, Reconciler, Result};
use crate::machinery::informer::{key_of, split_key, Store};
use crate::machinery::job_status::finished;
use crate::machinery::pod_control::api_message;
use crate::machinery::queue::Queue;
use crate::machinery::{controller_ref, meta};

/// The annotation with the time a Job was scheduled for (RFC 3339).
pub const SCHEDULED_TIMESTAMP: &str = "batch.kubernetes.io/cronjob-scheduled-timestamp";
/// Missed times beyond which upstream warns (`TooManyMissedTimes`).
const MAX_MISSED: usize = 100;

/// The controller's time: the real clock plus an offset that only tests
/// change ([`Clock::advance`] also wakes the controller, so a test need not
/// wait a minute for `* * * * *`). There is one per process, [`clock`]:
/// the in-process test harness builds its controller-manager from the same
/// `Config` as `main.rs`, which has no place for a clock.
#[derive(Debug, Clone)]
pub struct Clock {
    offset_ms: Arc<AtomicI64>,
    moved: Arc<tokio::sync::watch::Sender<i64>>,
}

impl Default for Clock {
    fn default() -> Clock {
        Clock {
            offset_ms: Arc::default(),
            moved: Arc::new(tokio::sync::watch::channel(0).0),
        }
    }
}

impl Clock {
    /// Now, in milliseconds since the epoch.
    pub fn now_millis(&self) -> i64 {
        meta::now_millis() + self.offset_ms.load(Ordering::SeqCst)
    }

    /// Moves time forward by `d` and has every CronJob looked at again.
    pub fn advance(&self, d: Duration) {
        let ms = self
            .offset_ms
            .fetch_add(d.as_millis() as i64, Ordering::SeqCst);
        self.moved.send_replace(ms);
    }
}

/// The process's CronJob clock (offset zero unless a test moved it).
pub fn clock() -> &'static Clock {
    static CLOCK: std::sync::OnceLock<Clock> = std::sync::OnceLock::new();
    CLOCK.get_or_init(Clock::default)
}

/// Registers handlers and returns the workers.
pub fn start(ctx: &Context) -> Started {
    let jobs = ctx.factory.informer::<Job>();
    let cronjobs = ctx.factory.informer::<CronJob>();
    let queue = Queue::new("cronjob");
    let clock = clock().clone();
    let cc = Arc::new(CronJobController {
        client: ctx.client.clone(),
        jobs: jobs.store(),
        cronjobs: cronjobs.store(),
        recorder: ctx.recorder("cronjob-controller"),
        clock: clock.clone(),
    });

    let q = Arc::clone(&queue);
    cronjobs.add_handler(move |old, new| {
        if let Some(cj) = new.or(old) {
            q.add(key_of(&**cj));
        }
    });
    let q = Arc::clone(&queue);
    jobs.add_handler(move |old, new| {
        if let Some(j) = new.or(old) {
            if let Some(r) =
                controller_ref::controller_of(&j.metadata).filter(|r| r.kind == "CronJob")
            {
                q.add(format!(
                    "{}/{}",
                    j.metadata.namespace.as_deref().unwrap_or(""),
                    r.name
                ));
            }
        }
    });
    let (q, store) = (Arc::clone(&queue), cronjobs.store());
    let mut moved = clock.moved.subscribe();
    tokio::spawn(async move {
        while moved.changed().await.is_ok() {
            for cj in store.list() {
                q.add(key_of(&*cj));
            }
        }
    });
    ctx.workers(cc, queue)
}

/// The controller's state.
pub struct CronJobController {
    client: kube::Client,
    jobs: Store<Job>,
    cronjobs: Store<CronJob>,
    recorder: Recorder,
    clock: Clock,
}

fn time_of(ms: i64) -> Time {
    Time(Timestamp::from_millisecond(ms).unwrap_or(Timestamp::UNIX_EPOCH))
}

fn reference(job: &Job) -> ObjectReference {
    ObjectReference {
        api_version: Some("batch/v1".into()),
        kind: Some("Job".into()),
        name: job.metadata.name.clone(),
        namespace: job.metadata.namespace.clone(),
        uid: job.metadata.uid.clone(),
        resource_version: job.metadata.resource_version.clone(),
        ..Default::default()
    }
}

/// Whether the Job finished with `Complete` (else `Failed`).
fn succeeded(job: &Job) -> bool {
    job.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| c.type_ == "Complete" && c.status == "True")
        })
}

/// The Job name for a scheduled time: `<cronjob>-<unix minutes>`.
pub fn job_name(cronjob: &str, scheduled_secs: i64) -> String {
    format!("{cronjob}-{}", scheduled_secs.div_euclid(60))
}

/// The schedule times in `(earliest, now]`: the most recent and how many.
pub fn most_recent(schedule: &Schedule, earliest: i64, now: i64) -> (Option<i64>, usize) {
    let mut t = earliest;
    let mut last = None;
    let mut n = 0;
    while let Some(next) = schedule.next_after(t).filter(|&x| x <= now) {
        last = Some(next);
        n += 1;
        t = next;
        // Far behind: jump close to now instead of walking every minute.
        if n > MAX_MISSED {
            let from = now - 60 * 60 * 24 * 366;
            if t < from {
                t = from;
            }
        }
        if n > 100_000 {
            break;
        }
    }
    (last, n)
}

impl Reconciler for CronJobController {
    fn name(&self) -> &'static str {
        "cronjob"
    }

    async fn reconcile(&self, key: &str) -> Result<Action> {
        let Some(cj) = self.cronjobs.get(key) else {
            return Ok(Action::Done);
        };
        let (ns, name) = split_key(key);
        let ns = ns.unwrap_or_default();
        let uid = cj.metadata.uid.clone().unwrap_or_default();
        let jobs: Vec<Arc<Job>> = self
            .jobs
            .list_namespace(ns)
            .into_iter()
            .filter(|j| controller_ref::controller_of(&j.metadata).is_some_and(|r| r.uid == uid))
            .collect();
        let job_api: Api<Job> = Api::namespaced(self.client.clone(), ns);
        let old_status = cj.status.clone().unwrap_or_default();
        let mut status = old_status.clone();
        let mut active = status.active.clone().unwrap_or_default();

        // 1. Children.
        let uids: BTreeSet<String> = jobs.iter().filter_map(|j| j.metadata.uid.clone()).collect();
        for j in &jobs {
            let juid = j.metadata.uid.as_deref().unwrap_or_default();
            let listed = active.iter().any(|r| r.uid.as_deref() == Some(juid));
            let jname = j.metadata.name.clone().unwrap_or_default();
            if finished(j) {
                if listed {
                    active.retain(|r| r.uid.as_deref() != Some(juid));
                    let cond = if succeeded(j) { "Complete" } else { "Failed" };
                    self.recorder.event(
                        &*cj,
                        NORMAL,
                        "SawCompletedJob",
                        format!("Saw completed job: {jname}, condition: {cond}"),
                    );
                }
                if succeeded(j) {
                    let done = j.status.as_ref().and_then(|s| s.completion_time.clone());
                    let later = match (&done, &status.last_successful_time) {
                        (Some(d), Some(l)) => meta::millis(d) > meta::millis(l),
                        (Some(_), None) => true,
                        _ => false,
                    };
                    if later {
                        status.last_successful_time = done;
                    }
                }
            } else if !listed {
                // Created by us and not yet recorded (a crash between the
                // create and the status write): track it.
                active.push(reference(j));
            }
        }
        active.retain(|r| {
            let known = r.uid.as_ref().is_some_and(|u| uids.contains(u));
            if !known {
                self.recorder.event(
                    &*cj,
                    NORMAL,
                    "MissingJob",
                    format!(
                        "Active job went missing: {}",
                        r.name.as_deref().unwrap_or_default()
                    ),
                );
            }
            known
        });
        status.active = (!active.is_empty()).then_some(active.clone());

        if cj.metadata.deletion_timestamp.is_some() {
            self.write_status(&cj, &old_status, status).await?;
            return Ok(Action::Done);
        }

        // 5 (first, as upstream: it only looks at finished Jobs).
        self.clean_history(&cj, &jobs, &job_api).await?;

        let spec = cj.spec.clone();
        if let Some(tz) = spec.time_zone.as_deref() {
            if !matches!(
                tz,
                "UTC"
                    | "Etc/UTC"
                    | "Etc/GMT"
                    | "GMT"
                    | "Etc/Universal"
                    | "Universal"
                    | "Etc/Zulu"
                    | "Zulu"
            ) {
                self.recorder.event(
                    &*cj,
                    WARNING,
                    "UnknownTimeZone",
                    format!("invalid timeZone: {tz:?}: only UTC is supported by this controller-manager"),
                );
                self.write_status(&cj, &old_status, status).await?;
                return Ok(Action::Done);
            }
        }
        let schedule: Schedule = match spec.schedule.parse() {
            Ok(s) => s,
            Err(e) => {
                self.recorder.event(
                    &*cj,
                    WARNING,
                    "UnparseableSchedule",
                    format!("unparseable schedule: {:?} : {e}", spec.schedule),
                );
                self.write_status(&cj, &old_status, status).await?;
                return Ok(Action::Done);
            }
        };
        if spec.suspend == Some(true) {
            self.write_status(&cj, &old_status, status).await?;
            return Ok(Action::Done);
        }

        // 2. The due time.
        let now_ms = self.clock.now_millis();
        let now = now_ms.div_euclid(1000);
        let next_wake = |from: i64| -> Action {
            match schedule.next_after(from) {
                // Upstream adds 100 ms so the wake-up lands after the time.
                Some(t) => Action::RequeueAfter(Duration::from_millis(
                    (t * 1000 - now_ms).max(0) as u64 + 100,
                )),
                None => Action::Done,
            }
        };
        let mut earliest = status
            .last_schedule_time
            .as_ref()
            .or(cj.metadata.creation_timestamp.as_ref())
            .map(|t| meta::millis(t).div_euclid(1000))
            .unwrap_or(now);
        if let Some(sds) = spec.starting_deadline_seconds {
            earliest = earliest.max(now - sds);
        }
        let (due, missed) = most_recent(&schedule, earliest, now);
        let Some(due) = due else {
            self.write_status(&cj, &old_status, status).await?;
            return Ok(next_wake(now));
        };
        if missed > MAX_MISSED {
            self.recorder.event(
                &*cj,
                WARNING,
                "TooManyMissedTimes",
                format!("too many missed start times: {missed}. Set or decrease .spec.startingDeadlineSeconds or check clock skew"),
            );
        }
        if let Some(sds) = spec.starting_deadline_seconds {
            if due + sds < now {
                self.recorder.event(
                    &*cj,
                    WARNING,
                    "MissSchedule",
                    format!(
                        "Missed scheduled time to start a job: {}",
                        time_of(due * 1000).0
                    ),
                );
                self.write_status(&cj, &old_status, status).await?;
                return Ok(next_wake(now));
            }
        }
        let jname = job_name(name, due);
        if jobs
            .iter()
            .any(|j| j.metadata.name.as_deref() == Some(&jname))
        {
            self.write_status(&cj, &old_status, status).await?;
            return Ok(next_wake(now));
        }

        // 3. Concurrency.
        match spec.concurrency_policy.as_deref() {
            Some("Forbid") if !active.is_empty() => {
                tracing::debug!(
                    "not starting a job: the previous one runs and the policy is Forbid"
                );
                self.recorder.event(
                    &*cj,
                    NORMAL,
                    "JobAlreadyActive",
                    "Not starting job because prior execution is running and concurrency policy is Forbid".into(),
                );
                self.write_status(&cj, &old_status, status).await?;
                return Ok(next_wake(now));
            }
            Some("Replace") => {
                for r in std::mem::take(&mut active) {
                    let rname = r.name.clone().unwrap_or_default();
                    let dp = DeleteParams {
                        propagation_policy: Some(PropagationPolicy::Background),
                        ..Default::default()
                    };
                    match job_api.delete(&rname, &dp).await {
                        Ok(_) => self.recorder.event(
                            &*cj,
                            NORMAL,
                            "SuccessfulDelete",
                            format!("Deleted job {rname}"),
                        ),
                        Err(e) if is_not_found(&e) => {}
                        Err(e) => {
                            self.recorder.event(
                                &*cj,
                                WARNING,
                                "FailedDelete",
                                format!("Deleted job: {}", api_message(&e)),
                            );
                            return Err(e).context(|| format!("deleting job {rname}"));
                        }
                    }
                }
            }
            _ => {}
        }

        // 4. Create.
        let job = job_from_template(&cj, &jname, due);
        match job_api.create(&PostParams::default(), &job).await {
            Ok(created) => {
                self.recorder.event(
                    &*cj,
                    NORMAL,
                    "SuccessfulCreate",
                    format!("Created job {jname}"),
                );
                active.push(reference(&created));
            }
            // Created before (our cache lags): the time is taken care of.
            Err(kube::Error::Api(s)) if s.code == 409 => {}
            Err(e) => {
                self.recorder.event(
                    &*cj,
                    WARNING,
                    "FailedCreate",
                    format!("Error creating job: {}", api_message(&e)),
                );
                return Err(e).context(|| format!("creating job {jname}"));
            }
        }
        status.active = (!active.is_empty()).then_some(active);
        status.last_schedule_time = Some(time_of(due * 1000));
        self.write_status(&cj, &old_status, status).await?;
        Ok(next_wake(now))
    }
}

impl CronJobController {
    async fn write_status(
        &self,
        cj: &CronJob,
        old: &CronJobStatus,
        status: CronJobStatus,
    ) -> Result<()> {
        if &status == old {
            return Ok(());
        }
        let ns = cj.metadata.namespace.as_deref().unwrap_or_default();
        let name = cj.metadata.name.clone().unwrap_or_default();
        let api: Api<CronJob> = Api::namespaced(self.client.clone(), ns);
        let mut c = cj.clone();
        c.status = Some(status);
        match api.replace_status(&name, &PostParams::default(), &c).await {
            Ok(_) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(e).context(|| format!("updating status of cronjob {ns}/{name}")),
        }
    }

    /// Deletes the oldest finished Jobs beyond the history limits.
    async fn clean_history(&self, cj: &CronJob, jobs: &[Arc<Job>], api: &Api<Job>) -> Result<()> {
        let spec = cj.spec.clone();
        let started = |j: &Job| {
            j.status
                .as_ref()
                .and_then(|s| s.start_time.as_ref())
                .or(j.metadata.creation_timestamp.as_ref())
                .map(meta::millis)
                .unwrap_or(0)
        };
        for (ok, limit) in [
            (true, spec.successful_jobs_history_limit),
            (false, spec.failed_jobs_history_limit),
        ] {
            let Some(limit) = limit else { continue };
            let mut done: Vec<&Arc<Job>> = jobs
                .iter()
                .filter(|j| {
                    finished(j) && succeeded(j) == ok && j.metadata.deletion_timestamp.is_none()
                })
                .collect();
            if done.len() <= limit.max(0) as usize {
                continue;
            }
            done.sort_by_key(|j| started(j));
            let extra = done.len() - limit.max(0) as usize;
            for j in done.into_iter().take(extra) {
                let jname = j.metadata.name.clone().unwrap_or_default();
                let dp = DeleteParams {
                    propagation_policy: Some(PropagationPolicy::Background),
                    ..Default::default()
                };
                match api.delete(&jname, &dp).await {
                    Ok(_) => self.recorder.event(
                        cj,
                        NORMAL,
                        "SuccessfulDelete",
                        format!("Deleted job {jname}"),
                    ),
                    Err(e) if is_not_found(&e) => {}
                    Err(e) => return Err(e).context(|| format!("deleting old job {jname}")),
                }
            }
        }
        Ok(())
    }
}

/// A Job for the time `scheduled` (unix seconds): the template's labels,
/// annotations and spec, our controller reference and the scheduled time.
fn job_from_template(cj: &CronJob, name: &str, scheduled: i64) -> Job {
    let tmpl = cj.spec.job_template.clone();
    let tm = tmpl.metadata.unwrap_or_default();
    let mut annotations = tm.annotations.unwrap_or_default();
    annotations.insert(
        SCHEDULED_TIMESTAMP.into(),
        time_of(scheduled * 1000).0.to_string(),
    );
    Job {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            namespace: cj.metadata.namespace.clone(),
            labels: tm.labels,
            annotations: Some(annotations),
            owner_references: Some(vec![controller_ref::controller_ref(cj)]),
            ..Default::default()
        },
        spec: tmpl.spec,
        status: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_due_times() {
        assert_eq!(job_name("hello", 1_700_000_040), "hello-28333334");
        let every: Schedule = "* * * * *".parse().expect("schedule");
        // Created at :30, now is three minutes and ten seconds later.
        let (last, n) = most_recent(&every, 1_700_000_010, 1_700_000_200);
        assert_eq!((last, n), (Some(1_700_000_160), 3));
        assert_eq!(most_recent(&every, 1_700_000_040, 1_700_000_050), (None, 0));
    }

    #[test]
    fn the_clock_moves_only_forward_when_told() {
        let c = Clock::default();
        let a = c.now_millis();
        c.advance(Duration::from_secs(60));
        assert!(c.now_millis() - a >= 60_000);
    }
}
