//! The two strategies.
//!
//! **RollingUpdate** moves in steps bounded on both sides: the new
//! ReplicaSet grows while all pods stay within replicas + maxSurge, and old
//! ReplicaSets shrink while available pods stay at least replicas -
//! maxUnavailable. Unhealthy old pods go first: they cost no availability.
//!
//! **Recreate** scales every old ReplicaSet to zero, waits until none of
//! their pods is left running, then creates the new one at full size.

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};

use super::sync::{available, available_within_spec, replicas, sort_oldest_first, Rollout};
use crate::machinery::controller::{Action, Result};
use crate::machinery::{controller_ref, pods};

/// Whether the strategy is Recreate.
pub fn is_recreate(d: &Deployment) -> bool {
    d.spec
        .as_ref()
        .and_then(|s| s.strategy.as_ref())
        .and_then(|s| s.type_.as_deref())
        == Some("Recreate")
}

impl Rollout<'_> {
    /// One step of a RollingUpdate.
    pub async fn rollout_rolling(mut self, sets: Vec<ReplicaSet>) -> Result<Action> {
        let (new_rs, mut old) = self.get_all(sets, true).await?;
        let Some(mut new_rs) = new_rs else {
            return self.finish(&old, None).await;
        };
        // Grow the new ReplicaSet.
        let all: Vec<ReplicaSet> = old.iter().cloned().chain([new_rs.clone()]).collect();
        let want = self.replicas();
        if replicas(&new_rs) > want {
            new_rs = self.scale_rs(&new_rs, want).await?.1;
            return self.finish(&old, Some(&new_rs)).await;
        }
        if replicas(&new_rs) < want {
            let to = self.new_rs_new_replicas(&all, &new_rs)?;
            let (scaled, rs) = self.scale_rs(&new_rs, to).await?;
            new_rs = rs;
            if scaled {
                return self.finish(&old, Some(&new_rs)).await;
            }
        }
        // Shrink the old ones.
        if self.reconcile_old(&mut old, &new_rs).await? {
            return self.finish(&old, Some(&new_rs)).await;
        }
        if self.complete_with(&old, &new_rs) {
            self.cleanup(&mut old).await?;
        }
        self.finish(&old, Some(&new_rs)).await
    }

    fn complete_with(&self, old: &[ReplicaSet], new_rs: &ReplicaSet) -> bool {
        super::progress::calculate(self, old, Some(new_rs))
            .is_ok_and(|s| super::progress::is_complete(&s, self.replicas()))
    }

    /// Scales old ReplicaSets down as far as availability allows (upstream
    /// `reconcileOldReplicaSets`). Returns whether anything was scaled.
    async fn reconcile_old(&self, old: &mut [ReplicaSet], new_rs: &ReplicaSet) -> Result<bool> {
        let old_pods: i32 = old.iter().map(replicas).sum();
        if old_pods == 0 {
            return Ok(false);
        }
        let all_pods = old_pods + replicas(new_rs);
        let min_available = self.replicas() - self.max_unavailable()?;
        let new_unavailable = replicas(new_rs) - available(new_rs);
        let max_scaled_down = all_pods - min_available - new_unavailable;
        if max_scaled_down <= 0 {
            return Ok(false);
        }
        sort_oldest_first(old);
        // First the unhealthy old pods: removing them costs no availability.
        let mut cleaned = 0;
        for rs in old.iter_mut() {
            if cleaned >= max_scaled_down {
                break;
            }
            let unhealthy = replicas(rs) - available(rs);
            if replicas(rs) == 0 || unhealthy <= 0 {
                continue;
            }
            let down = (max_scaled_down - cleaned).min(unhealthy);
            let to = replicas(rs) - down;
            *rs = self.scale_rs(rs, to).await?.1;
            cleaned += down;
        }
        // Then healthy ones, keeping minAvailable. An old ReplicaSet just
        // scaled down may still report the pods it is about to delete as
        // available (its controller has not synced yet); counting them would
        // scale down again on the same pods and dip below minAvailable, so
        // no set counts more available pods than it is asked to keep.
        let available_total: i32 =
            old.iter().map(available_within_spec).sum::<i32>() + available_within_spec(new_rs);
        let mut scaled = 0;
        if available_total > min_available {
            let total_down = available_total - min_available;
            for rs in old.iter_mut() {
                if scaled >= total_down {
                    break;
                }
                if replicas(rs) == 0 {
                    continue;
                }
                let down = replicas(rs).min(total_down - scaled);
                let to = replicas(rs) - down;
                *rs = self.scale_rs(rs, to).await?.1;
                scaled += down;
            }
        }
        Ok(cleaned + scaled > 0)
    }

    /// One step of a Recreate rollout.
    pub async fn rollout_recreate(mut self, sets: Vec<ReplicaSet>) -> Result<Action> {
        let (mut new_rs, mut old) = self.get_all(sets, false).await?;
        let mut scaled_down = false;
        for rs in old.iter_mut() {
            if replicas(rs) > 0 {
                *rs = self.scale_rs(rs, 0).await?.1;
                scaled_down = true;
            }
        }
        if scaled_down || self.old_pods_running(&old) {
            return self.finish(&old, new_rs.as_ref()).await;
        }
        if new_rs.is_none() {
            let all: Vec<ReplicaSet> = old.clone();
            let (n, o) = self.get_all(all, true).await?;
            new_rs = n;
            old = o;
        }
        if let Some(rs) = new_rs.as_mut() {
            let want = self.replicas();
            *rs = self.scale_rs(rs, want).await?.1;
            if self.complete_with(&old, rs) {
                self.cleanup(&mut old).await?;
            }
        }
        self.finish(&old, new_rs.as_ref()).await
    }

    /// Whether any pod of an old ReplicaSet may still be running
    /// (terminating pods count: Recreate promises no overlap).
    fn old_pods_running(&self, old: &[ReplicaSet]) -> bool {
        if old
            .iter()
            .any(|rs| rs.status.as_ref().map(|s| s.replicas).unwrap_or(0) > 0)
        {
            return true;
        }
        let uids: Vec<&str> = old
            .iter()
            .filter_map(|rs| rs.metadata.uid.as_deref())
            .collect();
        self.dc.pods.list_namespace(&self.ns()).iter().any(|p| {
            controller_ref::controller_of(&p.metadata)
                .is_some_and(|r| uids.contains(&r.uid.as_str()))
                && !pods::pod_terminal(p)
        })
    }

    async fn finish(mut self, old: &[ReplicaSet], new_rs: Option<&ReplicaSet>) -> Result<Action> {
        self.sync_rollout_status(old, new_rs).await
    }
}
