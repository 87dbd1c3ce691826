//! What every strategy shares: finding or creating the new ReplicaSet
//! (with revision annotations), scaling one ReplicaSet with its annotations
//! and Event, proportional scaling when `replicas` changes mid-rollout, and
//! the revisionHistoryLimit clean-up.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, ReplicaSet, ReplicaSetSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};

use super::{
    progress, DeploymentController, DESIRED_REPLICAS, MAX_REPLICAS, REVISION, REVISION_HISTORY,
};
use crate::events::NORMAL;
use crate::machinery::controller::{is_conflict, Action, Context as _, Error, Result};
use crate::machinery::template_hash::{self as hash, semantic};
use crate::machinery::{controller_ref, meta};

/// Deployment annotations that are not copied to its ReplicaSets.
const NOT_COPIED: &[&str] = &[
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION,
    REVISION_HISTORY,
    DESIRED_REPLICAS,
    MAX_REPLICAS,
    "deprecated.deployment.rollback.to",
];

/// One reconcile of one Deployment.
pub struct Rollout<'a> {
    pub(super) dc: &'a DeploymentController,
    /// The Deployment as this reconcile sees it (status updated in place).
    pub d: Deployment,
    pub(super) spec: DeploymentSpec,
    pub(super) rs_api: Api<ReplicaSet>,
}

/// The `spec.replicas` of a ReplicaSet.
pub fn replicas(rs: &ReplicaSet) -> i32 {
    rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
}

/// The available replicas of a ReplicaSet.
pub fn available(rs: &ReplicaSet) -> i32 {
    rs.status
        .as_ref()
        .and_then(|s| s.available_replicas)
        .unwrap_or(0)
}

/// The available replicas a ReplicaSet will still have once it reaches its
/// spec: its status, capped by `spec.replicas` (the status of a set that was
/// just scaled down lags behind and still counts the pods it deletes).
pub fn available_within_spec(rs: &ReplicaSet) -> i32 {
    available(rs).min(replicas(rs))
}

fn annotation_i32(rs: &ReplicaSet, key: &str) -> Option<i32> {
    rs.metadata.annotations.as_ref()?.get(key)?.parse().ok()
}

/// The revision of a ReplicaSet (0 when unset).
pub fn revision(rs: &ReplicaSet) -> i64 {
    rs.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(REVISION))
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

fn created(rs: &ReplicaSet) -> i64 {
    rs.metadata
        .creation_timestamp
        .as_ref()
        .map(meta::millis)
        .unwrap_or(0)
}

/// Oldest first (upstream `ReplicaSetsByCreationTimestamp`).
pub fn sort_oldest_first(v: &mut [ReplicaSet]) {
    v.sort_by(|a, b| {
        created(a)
            .cmp(&created(b))
            .then_with(|| a.metadata.name.cmp(&b.metadata.name))
    });
}

/// Whether a ReplicaSet's template is the Deployment's, ignoring the
/// pod-template-hash label (upstream `EqualIgnoreHash`).
pub fn same_template(rs: &ReplicaSet, d: &DeploymentSpec) -> bool {
    let Some(mut t) = rs.spec.as_ref().and_then(|s| s.template.clone()) else {
        return false;
    };
    let mut dt = d.template.clone();
    for meta in [t.metadata.as_mut(), dt.metadata.as_mut()]
        .into_iter()
        .flatten()
    {
        if let Some(l) = meta.labels.as_mut() {
            l.remove(hash::LABEL);
            if l.is_empty() {
                meta.labels = None;
            }
        }
    }
    semantic(&t) == semantic(&dt)
}

impl<'a> Rollout<'a> {
    /// Starts a reconcile of `d`.
    pub fn new(dc: &'a DeploymentController, d: Deployment) -> Result<Rollout<'a>> {
        let spec = d
            .spec
            .clone()
            .ok_or_else(|| Error::Invalid("deployment has no spec".into()))?;
        let rs_api = Api::namespaced(
            dc.client.clone(),
            d.metadata.namespace.as_deref().unwrap_or(""),
        );
        Ok(Rollout {
            dc,
            d,
            spec,
            rs_api,
        })
    }

    /// `spec.replicas`.
    pub fn replicas(&self) -> i32 {
        self.spec.replicas.unwrap_or(1)
    }

    /// (maxSurge, maxUnavailable) resolved against replicas; both zero
    /// would deadlock, so maxUnavailable becomes 1 then (upstream
    /// `ResolveFenceposts`).
    pub fn fenceposts(&self) -> Result<(i32, i32)> {
        let ru = self
            .spec
            .strategy
            .as_ref()
            .and_then(|s| s.rolling_update.clone())
            .unwrap_or_default();
        let pct25 = k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String("25%".into());
        let surge = meta::scaled_value(
            Some(ru.max_surge.as_ref().unwrap_or(&pct25)),
            self.replicas(),
            true,
            0,
        )?;
        let mut unavailable = meta::scaled_value(
            Some(ru.max_unavailable.as_ref().unwrap_or(&pct25)),
            self.replicas(),
            false,
            0,
        )?;
        if surge == 0 && unavailable == 0 {
            unavailable = 1;
        }
        Ok((surge, unavailable))
    }

    /// maxSurge for a RollingUpdate Deployment, 0 otherwise.
    pub fn max_surge(&self) -> Result<i32> {
        if super::rollout::is_recreate(&self.d) {
            return Ok(0);
        }
        Ok(self.fenceposts()?.0)
    }

    /// maxUnavailable, at most replicas (upstream `MaxUnavailable`).
    pub fn max_unavailable(&self) -> Result<i32> {
        if super::rollout::is_recreate(&self.d) || self.replicas() == 0 {
            return Ok(0);
        }
        Ok(self.fenceposts()?.1.min(self.replicas()))
    }

    /// (new ReplicaSet, old ones): the new one has the current template; of
    /// several, the oldest wins.
    pub fn split(&self, mut sets: Vec<ReplicaSet>) -> (Option<ReplicaSet>, Vec<ReplicaSet>) {
        sort_oldest_first(&mut sets);
        let idx = sets.iter().position(|rs| same_template(rs, &self.spec));
        let new = idx.map(|i| sets.remove(i));
        (new, sets)
    }

    /// Whether `replicas` changed since the active ReplicaSets were last
    /// scaled (their desired-replicas annotation says otherwise).
    pub fn is_scaling_event(&self, sets: &[ReplicaSet]) -> bool {
        sets.iter()
            .filter(|rs| replicas(rs) > 0)
            .any(|rs| annotation_i32(rs, DESIRED_REPLICAS).is_some_and(|d| d != self.replicas()))
    }

    /// Finds the new ReplicaSet (bringing its revision up to date) or, with
    /// `create`, makes it. Returns (new, old).
    pub async fn get_all(
        &mut self,
        sets: Vec<ReplicaSet>,
        create: bool,
    ) -> Result<(Option<ReplicaSet>, Vec<ReplicaSet>)> {
        let (existing, old) = self.split(sets);
        let max_old = old.iter().map(revision).max().unwrap_or(0);
        let new_revision = (max_old + 1).to_string();
        let new = match existing {
            Some(rs) => Some(self.sync_existing_new(rs, &new_revision).await?),
            None if create => Some(self.create_new(&old, &new_revision).await?),
            None => None,
        };
        if let Some(rs) = &new {
            let rev = rs
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(REVISION))
                .cloned();
            let mine = self
                .d
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(REVISION))
                .cloned();
            if rev.is_some() && rev != mine {
                let api: Api<Deployment> = Api::namespaced(self.dc.client.clone(), &self.ns());
                let patch = serde_json::json!({"metadata": {"annotations": {REVISION: rev}}});
                let d = api
                    .patch(&self.name(), &PatchParams::default(), &Patch::Merge(&patch))
                    .await
                    .context(|| format!("setting the revision of deployment {}", self.name()))?;
                self.d.metadata = d.metadata;
            }
        }
        Ok((new, old))
    }

    pub(super) fn ns(&self) -> String {
        self.d.metadata.namespace.clone().unwrap_or_default()
    }

    pub(super) fn name(&self) -> String {
        self.d.metadata.name.clone().unwrap_or_default()
    }

    /// The annotations a new ReplicaSet should carry: the Deployment's own
    /// (change-cause included), the revision, and the scale it was sized
    /// for. Returns whether anything changed.
    fn set_new_rs_annotations(
        &self,
        annotations: &mut BTreeMap<String, String>,
        new_revision: &str,
    ) -> Result<bool> {
        let before = annotations.clone();
        for (k, v) in self.d.metadata.annotations.iter().flatten() {
            if !NOT_COPIED.contains(&k.as_str()) {
                annotations.insert(k.clone(), v.clone());
            }
        }
        let old_rev: i64 = annotations
            .get(REVISION)
            .and_then(|r| r.parse().ok())
            .unwrap_or(0);
        let new_rev: i64 = new_revision.parse().unwrap_or(1);
        if old_rev < new_rev {
            if old_rev > 0 {
                // Rolled back to an earlier template: remember its revisions.
                let hist = match annotations.get(REVISION_HISTORY) {
                    Some(h) if !h.is_empty() => format!("{h},{old_rev}"),
                    _ => old_rev.to_string(),
                };
                annotations.insert(REVISION_HISTORY.into(), hist);
            }
            annotations.insert(REVISION.into(), new_revision.to_string());
        }
        let surge = self.max_surge()?;
        annotations
            .entry(DESIRED_REPLICAS.into())
            .or_insert_with(|| self.replicas().to_string());
        annotations
            .entry(MAX_REPLICAS.into())
            .or_insert_with(|| (self.replicas() + surge).to_string());
        Ok(*annotations != before)
    }

    async fn sync_existing_new(
        &mut self,
        rs: ReplicaSet,
        new_revision: &str,
    ) -> Result<ReplicaSet> {
        let mut annotations = rs.metadata.annotations.clone().unwrap_or_default();
        let changed = self.set_new_rs_annotations(&mut annotations, new_revision)?;
        let mut min_ready_changed = false;
        let rs = if changed
            || rs.spec.as_ref().and_then(|s| s.min_ready_seconds) != self.spec.min_ready_seconds
        {
            min_ready_changed = true;
            let patch = serde_json::json!({
                "metadata": {"annotations": annotations, "resourceVersion": rs.metadata.resource_version},
                "spec": {"minReadySeconds": self.spec.min_ready_seconds},
            });
            let name = rs.metadata.name.clone().unwrap_or_default();
            self.rs_api
                .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .context(|| format!("updating replicaset {name}"))?
        } else {
            rs
        };
        let _ = min_ready_changed;
        if progress::condition(&self.d, "Progressing").is_none() {
            let msg = format!(
                "Found new replica set \"{}\"",
                rs.metadata.name.as_deref().unwrap_or("")
            );
            let c = progress::new_condition("Progressing", "True", "FoundNewReplicaSet", msg);
            let mut status = self.d.status.clone().unwrap_or_default();
            progress::set_condition(&mut status, c);
            self.write_status(status).await?;
        }
        Ok(rs)
    }

    async fn create_new(&mut self, old: &[ReplicaSet], new_revision: &str) -> Result<ReplicaSet> {
        let collision = self.d.status.as_ref().and_then(|s| s.collision_count);
        let h = hash::compute(&self.spec.template, collision);
        let mut template = self.spec.template.clone();
        let tmeta = template.metadata.get_or_insert_with(Default::default);
        tmeta
            .labels
            .get_or_insert_with(Default::default)
            .insert(hash::LABEL.into(), h.clone());
        let mut selector = self.spec.selector.clone();
        selector
            .match_labels
            .get_or_insert_with(Default::default)
            .insert(hash::LABEL.into(), h.clone());
        let mut annotations = BTreeMap::new();
        self.set_new_rs_annotations(&mut annotations, new_revision)?;
        let name = format!("{}-{h}", self.name());
        let mut rs = ReplicaSet {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(self.ns()),
                labels: template.metadata.as_ref().and_then(|m| m.labels.clone()),
                annotations: Some(annotations),
                owner_references: Some(vec![controller_ref::controller_ref(&self.d)]),
                ..Default::default()
            },
            spec: Some(ReplicaSetSpec {
                replicas: Some(0),
                min_ready_seconds: self.spec.min_ready_seconds,
                selector,
                template: Some(template),
            }),
            status: None,
        };
        let all: Vec<ReplicaSet> = old.to_vec();
        let size = self.new_rs_new_replicas(&all, &rs)?;
        if let Some(s) = rs.spec.as_mut() {
            s.replicas = Some(size);
        }
        if let Some(a) = rs.metadata.annotations.as_mut() {
            a.insert(DESIRED_REPLICAS.into(), self.replicas().to_string());
            a.insert(
                MAX_REPLICAS.into(),
                (self.replicas() + self.max_surge()?).to_string(),
            );
        }
        match self.rs_api.create(&PostParams::default(), &rs).await {
            Ok(created) => {
                if size > 0 {
                    self.dc.recorder.event(
                        &self.d,
                        NORMAL,
                        "ScalingReplicaSet",
                        format!("Scaled up replica set {name} from 0 to {size}"),
                    );
                }
                let msg = format!("Created new replica set \"{name}\"");
                let c = progress::new_condition("Progressing", "True", "NewReplicaSetCreated", msg);
                let mut status = self.d.status.clone().unwrap_or_default();
                progress::set_condition(&mut status, c);
                self.write_status(status).await?;
                Ok(created)
            }
            Err(e) if is_conflict(&e) => {
                // The name is taken. Ours, seen late by the cache: use it.
                // Another template with the same hash: bump collisionCount
                // so the next attempt hashes differently.
                let existing = self
                    .rs_api
                    .get(&name)
                    .await
                    .context(|| format!("reading replicaset {name}"))?;
                let ours = controller_ref::controller_of(&existing.metadata)
                    .is_some_and(|r| Some(&r.uid) == self.d.metadata.uid.as_ref());
                if ours && same_template(&existing, &self.spec) {
                    return Ok(existing);
                }
                let mut status = self.d.status.clone().unwrap_or_default();
                status.collision_count = Some(collision.unwrap_or(0) + 1);
                self.write_status(status).await?;
                Err(Error::Invalid(format!(
                    "hash collision for replicaset {name}; retrying"
                )))
            }
            Err(e) => Err(e).context(|| format!("creating replicaset {name}")),
        }
    }

    /// The size the new ReplicaSet may grow to now (upstream
    /// `NewRSNewReplicas`).
    pub fn new_rs_new_replicas(&self, all: &[ReplicaSet], new_rs: &ReplicaSet) -> Result<i32> {
        if super::rollout::is_recreate(&self.d) {
            return Ok(self.replicas());
        }
        let surge = self.max_surge()?;
        let current: i32 = all.iter().map(replicas).sum::<i32>()
            + if all.iter().any(|r| r.metadata.name == new_rs.metadata.name) {
                0
            } else {
                replicas(new_rs)
            };
        let max_total = self.replicas() + surge;
        if current >= max_total {
            return Ok(replicas(new_rs));
        }
        let up = (max_total - current)
            .min(self.replicas() - replicas(new_rs))
            .max(0);
        Ok(replicas(new_rs) + up)
    }

    /// Scales one ReplicaSet (and refreshes its desired/max annotations),
    /// with a ScalingReplicaSet Event. Returns the updated object.
    pub async fn scale_rs(&self, rs: &ReplicaSet, to: i32) -> Result<(bool, ReplicaSet)> {
        let from = replicas(rs);
        let surge = self.max_surge()?;
        let desired = self.replicas().to_string();
        let max = (self.replicas() + surge).to_string();
        let ann = rs.metadata.annotations.clone().unwrap_or_default();
        let ann_ok =
            ann.get(DESIRED_REPLICAS) == Some(&desired) && ann.get(MAX_REPLICAS) == Some(&max);
        if from == to && ann_ok {
            return Ok((false, rs.clone()));
        }
        let name = rs.metadata.name.clone().unwrap_or_default();
        let patch = serde_json::json!({
            "metadata": {
                "annotations": {DESIRED_REPLICAS: desired, MAX_REPLICAS: max},
                "resourceVersion": rs.metadata.resource_version,
            },
            "spec": {"replicas": to},
        });
        let updated = self
            .rs_api
            .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .context(|| format!("scaling replicaset {name}"))?;
        if from != to {
            let dir = if to > from { "up" } else { "down" };
            self.dc.recorder.event(
                &self.d,
                NORMAL,
                "ScalingReplicaSet",
                format!("Scaled {dir} replica set {name} from {from} to {to}"),
            );
        }
        Ok((from != to, updated))
    }

    /// Scaling without a rollout (paused, or only `replicas` changed).
    pub async fn sync(mut self, sets: Vec<ReplicaSet>, paused: bool) -> Result<Action> {
        let (new_rs, old) = self.get_all(sets, false).await?;
        let (new_rs, mut old) = self.scale(new_rs, old).await?;
        if paused {
            self.cleanup(&mut old).await?;
        }
        self.sync_deployment_status(&old, new_rs.as_ref()).await?;
        Ok(Action::Done)
    }

    /// Brings the total to `replicas` (upstream `scale`): one active
    /// ReplicaSet takes it all; a saturated new ReplicaSet empties the old
    /// ones; mid-rollout, the change is spread in proportion to each
    /// ReplicaSet's size.
    async fn scale(
        &self,
        new_rs: Option<ReplicaSet>,
        old: Vec<ReplicaSet>,
    ) -> Result<(Option<ReplicaSet>, Vec<ReplicaSet>)> {
        let want = self.replicas();
        let mut all: Vec<ReplicaSet> = new_rs.iter().cloned().chain(old.iter().cloned()).collect();
        let active: Vec<usize> = (0..all.len()).filter(|&i| replicas(&all[i]) > 0).collect();
        let target = match active.len() {
            1 => Some(active[0]),
            0 => {
                // None active: the new one, or else the newest old one.
                if new_rs.is_some() {
                    Some(0)
                } else {
                    (0..all.len()).max_by_key(|&i| created(&all[i]))
                }
            }
            _ => None,
        };
        if let Some(i) = target {
            if replicas(&all[i]) != want {
                let (_, rs) = self.scale_rs(&all[i], want).await?;
                all[i] = rs;
            }
            return Ok(self.regroup(new_rs.is_some(), all));
        }
        let saturated = new_rs.as_ref().is_some_and(|rs| {
            replicas(rs) == want
                && annotation_i32(rs, DESIRED_REPLICAS) == Some(want)
                && available(rs) == want
        });
        if saturated {
            for rs in all.iter_mut().skip(1) {
                if replicas(rs) > 0 {
                    *rs = self.scale_rs(rs, 0).await?.1;
                }
            }
            return Ok(self.regroup(true, all));
        }
        if super::rollout::is_recreate(&self.d) {
            return Ok(self.regroup(new_rs.is_some(), all));
        }
        let surge = self.max_surge()?;
        let allowed = if want > 0 { want + surge } else { 0 };
        let total: i32 = active.iter().map(|&i| replicas(&all[i])).sum();
        let to_add = allowed - total;
        if to_add == 0 {
            return Ok(self.regroup(new_rs.is_some(), all));
        }
        let mut order = active.clone();
        // Growing: biggest (then newest) first; shrinking: biggest (then
        // oldest) first. The leftover from rounding goes to the first.
        order.sort_by(|&a, &b| {
            replicas(&all[b]).cmp(&replicas(&all[a])).then_with(|| {
                if to_add > 0 {
                    created(&all[b]).cmp(&created(&all[a]))
                } else {
                    created(&all[a]).cmp(&created(&all[b]))
                }
            })
        });
        let mut sizes: BTreeMap<usize, i32> = BTreeMap::new();
        let mut added = 0;
        for &i in &order {
            let p = self.proportion(&all[i], to_add, added, surge);
            sizes.insert(i, replicas(&all[i]) + p);
            added += p;
        }
        if let Some(&first) = order.first() {
            if let Some(s) = sizes.get_mut(&first) {
                *s = (*s + to_add - added).max(0);
            }
        }
        for (i, size) in sizes {
            all[i] = self.scale_rs(&all[i], size).await?.1;
        }
        Ok(self.regroup(new_rs.is_some(), all))
    }

    fn regroup(
        &self,
        has_new: bool,
        mut all: Vec<ReplicaSet>,
    ) -> (Option<ReplicaSet>, Vec<ReplicaSet>) {
        if has_new && !all.is_empty() {
            let n = all.remove(0);
            (Some(n), all)
        } else {
            (None, all)
        }
    }

    /// How many of `to_add` this ReplicaSet takes (upstream
    /// `getProportion`/`getReplicaSetFraction`).
    fn proportion(&self, rs: &ReplicaSet, to_add: i32, added: i32, surge: i32) -> i32 {
        if replicas(rs) == 0 || to_add == 0 || to_add == added {
            return 0;
        }
        let fraction = if self.replicas() == 0 {
            -replicas(rs)
        } else {
            let deployment_replicas = self.replicas() + surge;
            let annotated = annotation_i32(rs, MAX_REPLICAS)
                .filter(|v| *v > 0)
                .unwrap_or_else(|| {
                    self.d
                        .status
                        .as_ref()
                        .and_then(|s| s.replicas)
                        .unwrap_or(0)
                        .max(1)
                });
            let new_size = (f64::from(replicas(rs)) * f64::from(deployment_replicas)
                / f64::from(annotated))
            .round() as i32;
            new_size - replicas(rs)
        };
        let allowed = to_add - added;
        if to_add > 0 {
            fraction.min(allowed)
        } else {
            fraction.max(allowed)
        }
    }

    /// Deletes the oldest empty ReplicaSets beyond revisionHistoryLimit.
    pub async fn cleanup(&self, old: &mut Vec<ReplicaSet>) -> Result<()> {
        let Some(limit) = self.spec.revision_history_limit else {
            return Ok(());
        };
        let mut cleanable: Vec<&ReplicaSet> = old
            .iter()
            .filter(|rs| rs.metadata.deletion_timestamp.is_none())
            .collect();
        let diff = cleanable.len() as i64 - i64::from(limit);
        if diff <= 0 {
            return Ok(());
        }
        cleanable.sort_by_key(|rs| (revision(rs), created(rs)));
        let mut deleted = Vec::new();
        for rs in cleanable.into_iter().take(diff as usize) {
            let status = rs.status.clone().unwrap_or_default();
            if status.replicas != 0
                || replicas(rs) != 0
                || rs.metadata.generation > status.observed_generation
            {
                continue;
            }
            let name = rs.metadata.name.clone().unwrap_or_default();
            match self.rs_api.delete(&name, &DeleteParams::default()).await {
                Ok(_) => deleted.push(name),
                Err(e) if crate::machinery::controller::is_not_found(&e) => deleted.push(name),
                Err(e) => return Err(e).context(|| format!("deleting old replicaset {name}")),
            }
        }
        old.retain(|rs| !deleted.iter().any(|n| Some(n) == rs.metadata.name.as_ref()));
        Ok(())
    }

    /// Writes the Deployment's status (merge patch) and keeps our copy.
    pub async fn write_status(
        &mut self,
        status: k8s_openapi::api::apps::v1::DeploymentStatus,
    ) -> Result<()> {
        let api: Api<Deployment> = Api::namespaced(self.dc.client.clone(), &self.ns());
        let patch = serde_json::json!({"status": status});
        let d = api
            .patch_status(&self.name(), &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .context(|| format!("updating status of deployment {}", self.name()))?;
        self.d.status = d.status;
        self.d.metadata.resource_version = d.metadata.resource_version;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::{ReplicaSetSpec, ReplicaSetStatus};

    fn rs(spec: i32, available: i32) -> ReplicaSet {
        ReplicaSet {
            spec: Some(ReplicaSetSpec {
                replicas: Some(spec),
                ..Default::default()
            }),
            status: Some(ReplicaSetStatus {
                available_replicas: Some(available),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn a_set_scaled_down_counts_only_the_pods_it_keeps() {
        // Scaled 4 -> 3, status not synced yet: 3 will be left, not 4.
        assert_eq!(available_within_spec(&rs(3, 4)), 3);
        assert_eq!(available(&rs(3, 4)), 4);
        // Scaling up: only what is available already counts.
        assert_eq!(available_within_spec(&rs(5, 2)), 2);
    }
}
