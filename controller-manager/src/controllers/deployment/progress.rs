//! Deployment status and conditions, which `kubectl rollout status` and
//! `kubectl get deploy` read.
//!
//! - counts: sums over the ReplicaSets (updated = the new one's);
//! - `Available`: True when available >= replicas - maxUnavailable;
//! - `Progressing`: NewReplicaSetCreated / FoundNewReplicaSet /
//!   ReplicaSetUpdated (its lastUpdateTime moves whenever a count improves) /
//!   NewReplicaSetAvailable when complete / ProgressDeadlineExceeded (False)
//!   when nothing improved for progressDeadlineSeconds / DeploymentPaused
//!   and DeploymentResumed (Unknown).

use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentCondition, DeploymentStatus, ReplicaSet};

use super::sync::{replicas, Rollout};
use crate::machinery::controller::{Action, Result};
use crate::machinery::meta;

/// The condition of `type_`, if present.
pub fn condition<'d>(d: &'d Deployment, type_: &str) -> Option<&'d DeploymentCondition> {
    d.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_)
}

/// A condition stamped now.
pub fn new_condition(
    type_: &str,
    status: &str,
    reason: &str,
    message: String,
) -> DeploymentCondition {
    DeploymentCondition {
        type_: type_.into(),
        status: status.into(),
        reason: Some(reason.into()),
        message: Some(message),
        last_update_time: Some(meta::now()),
        last_transition_time: Some(meta::now()),
    }
}

/// Sets a condition as upstream's `SetDeploymentCondition`: same status and
/// reason is no change; same status keeps the transition time.
pub fn set_condition(status: &mut DeploymentStatus, mut c: DeploymentCondition) {
    let conds = status.conditions.get_or_insert_with(Vec::new);
    if let Some(cur) = conds.iter().find(|x| x.type_ == c.type_) {
        if cur.status == c.status && cur.reason == c.reason {
            return;
        }
        if cur.status == c.status {
            c.last_transition_time = cur.last_transition_time.clone();
        }
    }
    conds.retain(|x| x.type_ != c.type_);
    conds.push(c);
}

fn remove_condition(status: &mut DeploymentStatus, type_: &str) {
    if let Some(c) = status.conditions.as_mut() {
        c.retain(|x| x.type_ != type_);
    }
}

/// Whether the rollout is done: every replica updated and available, and
/// the controller has seen the latest spec.
pub fn is_complete(s: &DeploymentStatus, want: i32) -> bool {
    s.replicas.unwrap_or(0) == want
        && s.updated_replicas.unwrap_or(0) == want
        && s.available_replicas.unwrap_or(0) == want
}

/// The status the ReplicaSets imply (upstream `calculateStatus`).
pub fn calculate(
    r: &Rollout<'_>,
    old: &[ReplicaSet],
    new_rs: Option<&ReplicaSet>,
) -> Result<DeploymentStatus> {
    let all: Vec<&ReplicaSet> = old.iter().chain(new_rs).collect();
    let st = |rs: &ReplicaSet| rs.status.clone().unwrap_or_default();
    let available: i32 = all
        .iter()
        .map(|rs| st(rs).available_replicas.unwrap_or(0))
        .sum();
    let spec_total: i32 = all.iter().map(|rs| replicas(rs)).sum();
    let mut status = r.d.status.clone().unwrap_or_default();
    status.observed_generation = r.d.metadata.generation;
    status.replicas = Some(all.iter().map(|rs| st(rs).replicas).sum());
    status.updated_replicas = Some(new_rs.map(|rs| st(rs).replicas).unwrap_or(0));
    status.ready_replicas = Some(
        all.iter()
            .map(|rs| st(rs).ready_replicas.unwrap_or(0))
            .sum(),
    );
    status.available_replicas = Some(available);
    status.unavailable_replicas = Some((spec_total - available).max(0));
    let min = r.replicas() - r.max_unavailable()?;
    let c = if available >= min {
        new_condition(
            "Available",
            "True",
            "MinimumReplicasAvailable",
            "Deployment has minimum availability.".into(),
        )
    } else {
        new_condition(
            "Available",
            "False",
            "MinimumReplicasUnavailable",
            "Deployment does not have minimum availability.".into(),
        )
    };
    set_condition(&mut status, c);
    Ok(status)
}

/// Whether the new status shows progress over the stored one.
fn progressing(d: &Deployment, new: &DeploymentStatus) -> bool {
    let old = d.status.clone().unwrap_or_default();
    let old_old = old.replicas.unwrap_or(0) - old.updated_replicas.unwrap_or(0);
    let new_old = new.replicas.unwrap_or(0) - new.updated_replicas.unwrap_or(0);
    new.updated_replicas.unwrap_or(0) > old.updated_replicas.unwrap_or(0)
        || new_old < old_old
        || new.ready_replicas.unwrap_or(0) > old.ready_replicas.unwrap_or(0)
        || new.available_replicas.unwrap_or(0) > old.available_replicas.unwrap_or(0)
}

/// Time left before the progress deadline runs out, if it is running.
fn deadline_left(d: &Deployment, status: &DeploymentStatus) -> Option<Duration> {
    let secs = d.spec.as_ref()?.progress_deadline_seconds?;
    let c = status
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Progressing")?;
    if c.reason.as_deref() != Some("ReplicaSetUpdated")
        && c.reason.as_deref() != Some("NewReplicaSetCreated")
        && c.reason.as_deref() != Some("FoundNewReplicaSet")
    {
        return None;
    }
    let from = c.last_update_time.as_ref().map(meta::millis)?;
    let end = from + i64::from(secs) * 1000;
    Some(Duration::from_millis(
        (end - meta::now_millis()).max(0) as u64
    ))
}

impl Rollout<'_> {
    /// Status for a scale-only or paused sync (no progress accounting but
    /// the paused/resumed condition).
    pub async fn sync_deployment_status(
        &self,
        old: &[ReplicaSet],
        new_rs: Option<&ReplicaSet>,
    ) -> Result<()> {
        let mut status = calculate(self, old, new_rs)?;
        let paused = self.spec.paused == Some(true);
        let reason = condition(&self.d, "Progressing").and_then(|c| c.reason.as_deref());
        if paused && reason != Some("DeploymentPaused") {
            set_condition(
                &mut status,
                new_condition(
                    "Progressing",
                    "Unknown",
                    "DeploymentPaused",
                    "Deployment is paused".into(),
                ),
            );
        } else if !paused && reason == Some("DeploymentPaused") {
            set_condition(
                &mut status,
                new_condition(
                    "Progressing",
                    "Unknown",
                    "DeploymentResumed",
                    "Deployment is resumed".into(),
                ),
            );
        }
        if Some(&status) == self.d.status.as_ref() {
            return Ok(());
        }
        let mut me = Rollout::new(self.dc, self.d.clone())?;
        me.write_status(status).await
    }

    /// Status with progress accounting, after a rollout step (upstream
    /// `syncRolloutStatus`). Requeues for the progress deadline.
    pub async fn sync_rollout_status(
        &mut self,
        old: &[ReplicaSet],
        new_rs: Option<&ReplicaSet>,
    ) -> Result<Action> {
        let mut status = calculate(self, old, new_rs)?;
        let has_deadline = self
            .spec
            .progress_deadline_seconds
            .is_some_and(|s| s != i32::MAX);
        if !has_deadline {
            remove_condition(&mut status, "Progressing");
        }
        let current = condition(&self.d, "Progressing").cloned();
        let timed_out_already = current
            .as_ref()
            .is_some_and(|c| c.reason.as_deref() == Some("ProgressDeadlineExceeded"));
        let rs_name = new_rs.and_then(|rs| rs.metadata.name.clone());
        let complete = is_complete(&status, self.replicas())
            && status.observed_generation >= self.d.metadata.generation;
        if has_deadline && !timed_out_already {
            if complete {
                let msg = match &rs_name {
                    Some(n) => format!("ReplicaSet \"{n}\" has successfully progressed."),
                    None => format!(
                        "Deployment \"{}\" has successfully progressed.",
                        self.name()
                    ),
                };
                set_condition(
                    &mut status,
                    new_condition("Progressing", "True", "NewReplicaSetAvailable", msg),
                );
            } else if progressing(&self.d, &status) {
                let msg = match &rs_name {
                    Some(n) => format!("ReplicaSet \"{n}\" is progressing."),
                    None => format!("Deployment \"{}\" is progressing.", self.name()),
                };
                let mut c = new_condition("Progressing", "True", "ReplicaSetUpdated", msg);
                // Progress refreshes lastUpdateTime even with the same reason.
                if let Some(cur) = &current {
                    if cur.status == "True" {
                        c.last_transition_time = cur.last_transition_time.clone();
                    }
                    remove_condition(&mut status, "Progressing");
                }
                set_condition(&mut status, c);
            } else if deadline_left(&self.d, &status).is_some_and(|d| d.is_zero()) {
                let msg = match &rs_name {
                    Some(n) => format!("ReplicaSet \"{n}\" has timed out progressing."),
                    None => format!("Deployment \"{}\" has timed out progressing.", self.name()),
                };
                set_condition(
                    &mut status,
                    new_condition("Progressing", "False", "ProgressDeadlineExceeded", msg),
                );
                self.dc.recorder.event(
                    &self.d,
                    crate::events::WARNING,
                    "ProgressDeadlineExceeded",
                    format!("Deployment \"{}\" has timed out progressing.", self.name()),
                );
            }
        }
        // Copy a ReplicaFailure from any ReplicaSet (quota, admission...).
        let failure = old
            .iter()
            .chain(new_rs)
            .filter_map(|rs| {
                rs.status
                    .as_ref()?
                    .conditions
                    .as_ref()?
                    .iter()
                    .find(|c| c.type_ == "ReplicaFailure")
            })
            .find(|c| c.status == "True")
            .cloned();
        match failure {
            Some(f) => set_condition(
                &mut status,
                new_condition(
                    "ReplicaFailure",
                    "True",
                    f.reason.as_deref().unwrap_or("FailedCreate"),
                    f.message.unwrap_or_default(),
                ),
            ),
            None => remove_condition(&mut status, "ReplicaFailure"),
        }
        if Some(&status) != self.d.status.as_ref() {
            self.write_status(status.clone()).await?;
        }
        if complete || !has_deadline {
            return Ok(Action::Done);
        }
        // Look again when the deadline would pass without news.
        Ok(match deadline_left(&self.d, &status) {
            Some(left) if !left.is_zero() => {
                Action::RequeueAfter(left + Duration::from_millis(100))
            }
            _ => Action::Done,
        })
    }
}
