//! ControllerRevisions: the history of a DaemonSet's or StatefulSet's pod
//! template, as upstream's `pkg/controller/history`.
//!
//! A Deployment keeps its old templates in old ReplicaSets; the two
//! controllers that own pods directly keep them in `apps/v1`
//! ControllerRevisions instead. A revision holds a **patch** that puts the
//! template back (`{"spec":{"template":{..., "$patch":"replace"}}}`), a
//! `revision` number (the highest is the newest) and a controller reference
//! to its set. Pods carry the revision they were made from in the
//! `controller-revision-hash` label, which is how a rolling update tells
//! old pods from new ones.
//!
//! `kubectl rollout history ds/x` lists these revisions (their
//! `kubernetes.io/change-cause` annotation, copied from the set), and
//! `kubectl rollout undo ds/x` sends a revision's data back to the set as a
//! strategic merge patch; the controller then finds the template equal to
//! an old revision and renumbers that revision as the newest instead of
//! making a new one.
//!
//! [`History`] is the shared part: reading a set's revisions from the
//! informer cache (adopting orphans its selector matches, releasing ones it
//! no longer matches), creating a revision under a name derived from its
//! hash (with upstream's collision probe), renumbering and deleting. The
//! apiserver sits behind [`RevisionClient`] ([`ApiRevisionClient`], and
//! [`FakeRevisionClient`] for unit tests).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use apimachinery::labels::Selector;
use futures::future::BoxFuture;
use futures::FutureExt;
use k8s_openapi::api::apps::v1::ControllerRevision;
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use k8s_openapi::apimachinery::pkg::runtime::RawExtension;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, Preconditions};
use kube::Resource;

use super::controller::{is_not_found, Context as _, Error, Result};
use super::controller_ref::controller_of;
use super::informer::{key_of, Store};
use super::template_hash::semantic;

/// The label with a StatefulSet revision's hash (the DaemonSet's revisions
/// use `controller-revision-hash` instead, which its pods carry too).
pub const HASH_LABEL: &str = "controller.kubernetes.io/hash";

/// How many old revisions a set keeps when `revisionHistoryLimit` is unset.
pub const DEFAULT_HISTORY_LIMIT: i32 = 10;

/// The patch that restores `template` on a set: the template with the
/// strategic merge directive to replace it whole (upstream `getPatch`).
pub fn template_patch(template: &PodTemplateSpec) -> serde_json::Value {
    let mut t = serde_json::to_value(template).unwrap_or_default();
    if let Some(m) = t.as_object_mut() {
        m.insert("$patch".into(), "replace".into());
    }
    serde_json::json!({ "spec": { "template": t } })
}

/// The template a revision restores (the inverse of [`template_patch`]);
/// `None` when the data is not such a patch.
pub fn template_of(rev: &ControllerRevision) -> Option<PodTemplateSpec> {
    let mut t = rev.data.as_ref()?.0.pointer("/spec/template")?.clone();
    t.as_object_mut()?.remove("$patch");
    serde_json::from_value(t).ok()
}

/// Whether two revisions restore the same thing (upstream compares the
/// raw bytes; comparing the pruned JSON also ignores key order and the
/// empty values some clients write).
pub fn equal_data(a: &ControllerRevision, b: &ControllerRevision) -> bool {
    semantic(&a.data) == semantic(&b.data)
}

/// 32-bit FNV-1 (upstream hashes revisions with Go's `fnv.New32`, the
/// variant that multiplies before it mixes in each byte).
fn fnv1_32(bytes: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in bytes {
        h = h.wrapping_mul(0x0100_0193);
        h ^= u32::from(*b);
    }
    h
}

/// The hash naming a revision with `data`: FNV-1 of the JSON (keys sorted,
/// as Go writes a map) and of the collision count in decimal, spelled in
/// the vowel-free alphabet (upstream `HashControllerRevision`).
pub fn hash(data: &serde_json::Value, collision_count: Option<i32>) -> String {
    let mut bytes = serde_json::to_vec(data).unwrap_or_default();
    if let Some(c) = collision_count {
        bytes.extend_from_slice(c.to_string().as_bytes());
    }
    super::template_hash::encode(&fnv1_32(&bytes).to_string())
}

/// `<prefix>-<hash>`, the prefix cut so the name stays within 253 bytes.
pub fn revision_name(prefix: &str, hash: &str) -> String {
    let mut end = prefix.len().min(223);
    while !prefix.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}-{hash}", &prefix[..end])
}

/// A new revision of `owner` restoring `template` (not yet named: see
/// [`History::create`]): labels from the template, annotations from the
/// owner (so `kubernetes.io/change-cause` shows in `rollout history`).
pub fn new_revision<O: Resource<DynamicType = ()>>(
    owner: &O,
    template: &PodTemplateSpec,
    revision: i64,
) -> ControllerRevision {
    let m = owner.meta();
    let labels = template
        .metadata
        .as_ref()
        .and_then(|t| t.labels.clone())
        .unwrap_or_default();
    ControllerRevision {
        metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
            namespace: m.namespace.clone(),
            labels: Some(labels),
            annotations: m.annotations.clone(),
            owner_references: Some(vec![super::controller_ref::controller_ref(owner)]),
            ..Default::default()
        },
        data: Some(RawExtension(template_patch(template))),
        revision,
    }
}

/// Oldest first: by revision number, then creation time, then name
/// (upstream `SortControllerRevisions`).
pub fn sort(revs: &mut [Arc<ControllerRevision>]) {
    revs.sort_by(|a, b| {
        let created = |r: &ControllerRevision| {
            r.metadata
                .creation_timestamp
                .as_ref()
                .map(super::meta::millis)
                .unwrap_or(0)
        };
        (a.revision, created(a), a.metadata.name.as_deref()).cmp(&(
            b.revision,
            created(b),
            b.metadata.name.as_deref(),
        ))
    });
}

/// The number the next revision gets: one above the highest.
pub fn next_revision(revs: &[Arc<ControllerRevision>]) -> i64 {
    revs.iter().map(|r| r.revision).max().unwrap_or(0) + 1
}

/// The revisions no pod runs any more, oldest first, beyond `limit`: the
/// ones to delete. `live` holds the names (StatefulSet) or hashes
/// (DaemonSet) that are still in use, `id` picks that from a revision.
pub fn surplus<'a>(
    sorted: &'a [Arc<ControllerRevision>],
    live: &std::collections::HashSet<String>,
    id: impl Fn(&ControllerRevision) -> String,
    limit: i32,
) -> Vec<&'a Arc<ControllerRevision>> {
    let history: Vec<_> = sorted.iter().filter(|r| !live.contains(&id(r))).collect();
    let extra = history.len().saturating_sub(limit.max(0) as usize);
    history.into_iter().take(extra).collect()
}

/// Writes of ControllerRevisions.
pub trait RevisionClient: Send + Sync {
    /// Creates `rev`; the stored object comes back.
    fn create<'a>(
        &'a self,
        rev: &'a ControllerRevision,
    ) -> BoxFuture<'a, kube::Result<ControllerRevision>>;
    /// Reads one revision (`None` when gone).
    fn get<'a>(
        &'a self,
        namespace: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, kube::Result<Option<ControllerRevision>>>;
    /// Merge-patches `rev` (guarded by its uid).
    fn patch<'a>(
        &'a self,
        rev: &'a ControllerRevision,
        patch: &'a serde_json::Value,
    ) -> BoxFuture<'a, kube::Result<ControllerRevision>>;
    /// Deletes `rev` (guarded by its uid).
    fn delete<'a>(&'a self, rev: &'a ControllerRevision) -> BoxFuture<'a, kube::Result<()>>;
}

/// [`RevisionClient`] over the apiserver.
pub struct ApiRevisionClient {
    client: kube::Client,
}

impl ApiRevisionClient {
    /// Writes through `client`.
    pub fn new(client: kube::Client) -> ApiRevisionClient {
        ApiRevisionClient { client }
    }

    fn api(&self, rev: &ControllerRevision) -> Api<ControllerRevision> {
        Api::namespaced(
            self.client.clone(),
            rev.metadata.namespace.as_deref().unwrap_or_default(),
        )
    }
}

impl RevisionClient for ApiRevisionClient {
    fn create<'a>(
        &'a self,
        rev: &'a ControllerRevision,
    ) -> BoxFuture<'a, kube::Result<ControllerRevision>> {
        async move { self.api(rev).create(&PostParams::default(), rev).await }.boxed()
    }

    fn get<'a>(
        &'a self,
        namespace: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, kube::Result<Option<ControllerRevision>>> {
        async move {
            Api::<ControllerRevision>::namespaced(self.client.clone(), namespace)
                .get_opt(name)
                .await
        }
        .boxed()
    }

    fn patch<'a>(
        &'a self,
        rev: &'a ControllerRevision,
        patch: &'a serde_json::Value,
    ) -> BoxFuture<'a, kube::Result<ControllerRevision>> {
        async move {
            let mut p = patch.clone();
            // The uid precondition: a revision recreated under the same
            // name is not the one we looked at.
            if let Some(m) = p.as_object_mut() {
                let meta = m.entry("metadata").or_insert_with(|| serde_json::json!({}));
                if let Some(meta) = meta.as_object_mut() {
                    meta.insert("uid".into(), rev.metadata.uid.clone().into());
                }
            }
            self.api(rev)
                .patch(
                    rev.metadata.name.as_deref().unwrap_or_default(),
                    &PatchParams::default(),
                    &Patch::Merge(&p),
                )
                .await
        }
        .boxed()
    }

    fn delete<'a>(&'a self, rev: &'a ControllerRevision) -> BoxFuture<'a, kube::Result<()>> {
        async move {
            let dp = DeleteParams {
                preconditions: Some(Preconditions {
                    uid: rev.metadata.uid.clone(),
                    resource_version: None,
                }),
                ..Default::default()
            };
            self.api(rev)
                .delete(rev.metadata.name.as_deref().unwrap_or_default(), &dp)
                .await
                .map(|_| ())
        }
        .boxed()
    }
}

/// A [`RevisionClient`] for unit tests: an in-memory map of revisions by
/// `namespace/name`, recording every write.
#[derive(Default)]
pub struct FakeRevisionClient {
    objects: Mutex<BTreeMap<String, ControllerRevision>>,
    writes: Mutex<Vec<String>>,
}

impl FakeRevisionClient {
    /// A fake holding no revisions.
    pub fn new() -> Arc<FakeRevisionClient> {
        Arc::new(FakeRevisionClient::default())
    }

    /// Every revision it holds now.
    pub fn revisions(&self) -> Vec<ControllerRevision> {
        self.objects
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect()
    }

    /// The writes so far, as `create ns/name`, `patch ns/name`,
    /// `delete ns/name`.
    pub fn writes(&self) -> Vec<String> {
        self.writes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn record(&self, verb: &str, rev: &ControllerRevision) {
        self.writes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(format!("{verb} {}", key_of(rev)));
    }
}

fn api_error(code: u16, reason: &str) -> kube::Error {
    kube::Error::Api(
        kube::core::Status::failure(reason, reason)
            .with_code(code)
            .boxed(),
    )
}

impl RevisionClient for FakeRevisionClient {
    fn create<'a>(
        &'a self,
        rev: &'a ControllerRevision,
    ) -> BoxFuture<'a, kube::Result<ControllerRevision>> {
        self.record("create", rev);
        let mut objects = self.objects.lock().unwrap_or_else(|p| p.into_inner());
        let result = match objects.entry(key_of(rev)) {
            std::collections::btree_map::Entry::Occupied(_) => Err(api_error(409, "AlreadyExists")),
            std::collections::btree_map::Entry::Vacant(slot) => {
                let mut stored = rev.clone();
                stored.metadata.uid = Some(format!("uid-{}", key_of(rev)));
                slot.insert(stored.clone());
                Ok(stored)
            }
        };
        async move { result }.boxed()
    }

    fn get<'a>(
        &'a self,
        namespace: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, kube::Result<Option<ControllerRevision>>> {
        let found = self
            .objects
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&format!("{namespace}/{name}"))
            .cloned();
        async move { Ok(found) }.boxed()
    }

    fn patch<'a>(
        &'a self,
        rev: &'a ControllerRevision,
        patch: &'a serde_json::Value,
    ) -> BoxFuture<'a, kube::Result<ControllerRevision>> {
        self.record("patch", rev);
        let mut objects = self.objects.lock().unwrap_or_else(|p| p.into_inner());
        let base = objects
            .get(&key_of(rev))
            .cloned()
            .unwrap_or_else(|| rev.clone());
        let v = apimachinery::patch::apply_merge_patch(
            &serde_json::to_value(&base).unwrap_or_default(),
            patch,
        );
        let result = serde_json::from_value::<ControllerRevision>(v)
            .map_err(|e| api_error(422, &e.to_string()));
        if let Ok(r) = &result {
            objects.insert(key_of(rev), r.clone());
        }
        async move { result }.boxed()
    }

    fn delete<'a>(&'a self, rev: &'a ControllerRevision) -> BoxFuture<'a, kube::Result<()>> {
        self.record("delete", rev);
        self.objects
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&key_of(rev));
        async move { Ok(()) }.boxed()
    }
}

/// The revisions of one kind of set: the informer cache to read and the
/// client to write.
#[derive(Clone)]
pub struct History {
    store: Store<ControllerRevision>,
    client: Arc<dyn RevisionClient>,
}

impl History {
    /// History over the cache `store`, writing through `client`.
    pub fn new(store: Store<ControllerRevision>, client: Arc<dyn RevisionClient>) -> History {
        History { store, client }
    }

    /// `owner`'s revisions, oldest first (upstream
    /// `ClaimControllerRevisions`): the ones it controls and its selector
    /// matches, plus orphans in its namespace the selector matches, which
    /// it adopts; ones it controls but no longer selects are released.
    pub async fn claim<O: Resource<DynamicType = ()>>(
        &self,
        owner: &O,
        selector: &Selector,
    ) -> Result<Vec<Arc<ControllerRevision>>> {
        let m = owner.meta();
        let ns = m.namespace.as_deref().unwrap_or_default();
        let uid = m.uid.as_deref().unwrap_or_default();
        let mut claimed = Vec::new();
        for rev in self.store.list_namespace(ns) {
            let labels = rev.metadata.labels.clone().unwrap_or_default();
            let matches = selector.matches(&labels);
            match controller_of(&rev.metadata) {
                Some(r) if r.uid == uid => {
                    if matches {
                        claimed.push(rev);
                    } else if m.deletion_timestamp.is_none() {
                        self.release(&rev, uid).await?;
                    }
                }
                Some(_) => {}
                None if matches && m.deletion_timestamp.is_none() => {
                    if rev.metadata.deletion_timestamp.is_some() {
                        continue;
                    }
                    let adopted = self.adopt(owner, &rev).await?;
                    if let Some(a) = adopted {
                        claimed.push(Arc::new(a));
                    }
                }
                None => {}
            }
        }
        sort(&mut claimed);
        Ok(claimed)
    }

    async fn adopt<O: Resource<DynamicType = ()>>(
        &self,
        owner: &O,
        rev: &ControllerRevision,
    ) -> Result<Option<ControllerRevision>> {
        let mut refs: Vec<OwnerReference> =
            rev.metadata.owner_references.clone().unwrap_or_default();
        refs.push(super::controller_ref::controller_ref(owner));
        let patch = serde_json::json!({"metadata": {"ownerReferences": refs}});
        match self.client.patch(rev, &patch).await {
            Ok(r) => Ok(Some(r)),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(e).context(|| format!("adopting revision {}", key_of(rev))),
        }
    }

    async fn release(&self, rev: &ControllerRevision, uid: &str) -> Result<()> {
        let refs: Vec<OwnerReference> = rev
            .metadata
            .owner_references
            .clone()
            .unwrap_or_default()
            .into_iter()
            .filter(|r| r.uid != uid)
            .collect();
        let patch = serde_json::json!({"metadata": {"ownerReferences": refs}});
        match self.client.patch(rev, &patch).await {
            Ok(_) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(e).context(|| format!("releasing revision {}", key_of(rev))),
        }
    }

    /// Stores `rev` under `<owner>-<hash>`, bumping `collision_count` while
    /// the name is taken by a revision with other data (upstream
    /// `CreateControllerRevision`); a revision with the same data already
    /// under the name is returned as it is.
    pub async fn create(
        &self,
        owner_name: &str,
        rev: &ControllerRevision,
        collision_count: &mut i32,
    ) -> Result<ControllerRevision> {
        let data = rev.data.as_ref().map(|d| d.0.clone()).unwrap_or_default();
        // Bounded: each round only repeats when a different revision holds
        // the name, which a handful of collisions cannot keep up.
        for _ in 0..100 {
            let h = hash(&data, Some(*collision_count));
            let mut named = rev.clone();
            named.metadata.name = Some(revision_name(owner_name, &h));
            named
                .metadata
                .labels
                .get_or_insert_with(Default::default)
                .entry(HASH_LABEL.into())
                .or_insert(h);
            match self.client.create(&named).await {
                Ok(created) => return Ok(created),
                Err(kube::Error::Api(s)) if s.code == 409 => {
                    let ns = named.metadata.namespace.as_deref().unwrap_or_default();
                    let name = named.metadata.name.as_deref().unwrap_or_default();
                    let existing = self
                        .client
                        .get(ns, name)
                        .await
                        .context(|| format!("reading revision {ns}/{name}"))?;
                    match existing {
                        Some(e) if equal_data(&e, &named) => return Ok(e),
                        // Deleted in between: try the same name again.
                        None => continue,
                        Some(_) => *collision_count += 1,
                    }
                }
                Err(e) => {
                    return Err(e).context(|| format!("creating revision {}", key_of(&named)))
                }
            }
        }
        Err(Error::Invalid(format!(
            "no free revision name for {owner_name} after 100 collisions"
        )))
    }

    /// Stores `rev` as it is (named by the caller; the DaemonSet names its
    /// revisions after the template hash its pods carry).
    pub async fn create_named(&self, rev: &ControllerRevision) -> kube::Result<ControllerRevision> {
        self.client.create(rev).await
    }

    /// Reads one revision from the apiserver.
    pub async fn get(&self, namespace: &str, name: &str) -> Result<Option<ControllerRevision>> {
        self.client
            .get(namespace, name)
            .await
            .context(|| format!("reading revision {namespace}/{name}"))
    }

    /// Gives `rev` the number `revision` (a rollback to it makes it the
    /// newest).
    pub async fn renumber(
        &self,
        rev: &ControllerRevision,
        revision: i64,
    ) -> Result<ControllerRevision> {
        if rev.revision == revision {
            return Ok(rev.clone());
        }
        let patch = serde_json::json!({ "revision": revision });
        self.client
            .patch(rev, &patch)
            .await
            .context(|| format!("renumbering revision {}", key_of(rev)))
    }

    /// Deletes `rev` (already gone is fine).
    pub async fn delete(&self, rev: &ControllerRevision) -> Result<()> {
        match self.client.delete(rev).await {
            Ok(()) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(e).context(|| format!("deleting revision {}", key_of(rev))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn template(image: &str) -> PodTemplateSpec {
        serde_json::from_value(serde_json::json!({
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "c", "image": image}]}
        }))
        .expect("template")
    }

    fn rev(image: &str) -> ControllerRevision {
        ControllerRevision {
            metadata: ObjectMeta {
                namespace: Some("ns".into()),
                ..Default::default()
            },
            data: Some(RawExtension(template_patch(&template(image)))),
            revision: 1,
        }
    }

    #[test]
    fn fnv1_matches_the_reference_vectors() {
        // The published FNV-1 32-bit test vectors (not FNV-1a's).
        assert_eq!(fnv1_32(b""), 0x811c_9dc5);
        assert_eq!(fnv1_32(b"a"), 0x050c_5d7e);
        assert_eq!(fnv1_32(b"foobar"), 0x31f0_b262);
    }

    #[test]
    fn the_patch_restores_the_template() {
        let r = rev("nginx:1");
        assert_eq!(
            r.data.as_ref().expect("data").0["spec"]["template"]["$patch"],
            "replace"
        );
        assert_eq!(template_of(&r), Some(template("nginx:1")));
    }

    #[test]
    fn hashes_are_stable_and_differ_by_data_and_collision_count() {
        let d = |i: &str| rev(i).data.expect("data").0;
        assert_eq!(hash(&d("a"), Some(0)), hash(&d("a"), Some(0)));
        assert_ne!(hash(&d("a"), Some(0)), hash(&d("b"), Some(0)));
        assert_ne!(hash(&d("a"), Some(0)), hash(&d("a"), Some(1)));
        assert_eq!(revision_name(&"x".repeat(300), "h").len(), 225);
    }

    #[tokio::test]
    async fn a_taken_name_with_other_data_bumps_the_collision_count() {
        let fake = FakeRevisionClient::new();
        let history = History::new(Store::default(), fake.clone());
        let mut collisions = 0;
        let first = history
            .create("web", &rev("a"), &mut collisions)
            .await
            .expect("create");
        // Same data again: the stored one comes back, no collision.
        let again = history
            .create("web", &rev("a"), &mut collisions)
            .await
            .expect("create");
        assert_eq!(first.metadata.name, again.metadata.name);
        assert_eq!(collisions, 0);
        // Squat the name the next template would get with different data.
        let mut squatter = rev("other");
        let h = hash(&rev("b").data.expect("data").0, Some(0));
        squatter.metadata.name = Some(revision_name("web", &h));
        fake.create(&squatter).await.expect("squat");
        let b = history
            .create("web", &rev("b"), &mut collisions)
            .await
            .expect("create");
        assert_eq!(collisions, 1);
        assert_ne!(b.metadata.name, squatter.metadata.name);
    }

    #[test]
    fn surplus_keeps_live_and_newest_revisions() {
        let mk = |n: i64| {
            let mut r = rev("a");
            r.revision = n;
            r.metadata.name = Some(format!("web-{n}"));
            Arc::new(r)
        };
        let sorted: Vec<_> = (1..=5).map(mk).collect();
        let live: std::collections::HashSet<String> = ["web-1".to_string()].into();
        let name = |r: &ControllerRevision| r.metadata.name.clone().unwrap_or_default();
        let gone: Vec<_> = surplus(&sorted, &live, name, 2)
            .iter()
            .map(|r| r.revision)
            .collect();
        assert_eq!(gone, [2, 3]);
    }
}
