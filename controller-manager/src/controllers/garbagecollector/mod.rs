//! The garbage collector: deletes objects whose owners are gone, and carries
//! out the three deletion propagation policies `kubectl delete
//! --cascade=background|foreground|orphan` asks for.
//!
//! It watches every resource type into an ownership [`graph`] and works on
//! object uids. reconcile(uid), level-triggered on the graph:
//!
//! - the object is being deleted with the **`orphan`** finalizer: remove
//!   its uid from every dependent's ownerReferences, then the finalizer;
//! - the object is being deleted with **`foregroundDeletion`**: delete its
//!   dependents; when none with `blockOwnerDeletion` is left, remove the
//!   finalizer so the apiserver removes the object;
//! - the object has owners: those gone (checked against the apiserver when
//!   the graph has not seen them: it may just be behind) are dangling.
//!   An owner that still exists (a "solid" one) keeps the object: the
//!   references to owners that are gone or being deleted in the foreground
//!   are dropped. Otherwise an owner in foreground deletion: delete the
//!   object too (in the foreground when it has dependents); all owners
//!   gone: delete it (**background** cascade). A dependent of an owner in
//!   foreground deletion that another owner keeps loses only its
//!   reference to the owner being deleted.

pub mod graph;

use std::sync::Arc;
use std::time::Duration;

use apimachinery::resources::{ResourceInfo, RESOURCES};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, Patch, PatchParams, Preconditions,
    PropagationPolicy,
};
use kube::runtime::watcher;

use self::graph::{Graph, Node};
use super::{Context, Started};
use crate::machinery::controller::{
    is_conflict, is_not_found, Action, Context as _, Reconciler, Result,
};
use crate::machinery::informer::Informer;
use crate::machinery::queue::Queue;

/// The finalizer of foreground deletion.
pub const FOREGROUND: &str = "foregroundDeletion";
/// The finalizer of orphaning deletion.
pub const ORPHAN: &str = "orphan";

/// Resources the collector ignores: Events are never owners and are many.
const IGNORED: &[&str] = &["events"];

/// The kube-rs description of a resource in our table.
pub fn api_resource(r: &ResourceInfo) -> ApiResource {
    ApiResource {
        group: r.group.into(),
        version: r.version.into(),
        api_version: r.api_version(),
        kind: r.kind.into(),
        plural: r.plural.into(),
    }
}

/// Registers handlers and returns the workers.
pub fn start(ctx: &Context) -> Started {
    let graph = Arc::new(Graph::default());
    let queue = Queue::new("garbagecollector");
    let mut informers = Vec::new();
    // Only stored kinds can be watched and own or be owned.
    for r in RESOURCES
        .iter()
        .filter(|r| r.is_stored() && r.is_storage_version() && !IGNORED.contains(&r.plural))
    {
        let api: Api<DynamicObject> = Api::all_with(ctx.client.clone(), &api_resource(r));
        let inf = Informer::new(api, watcher::Config::default().page_size(500));
        let (g, q) = (Arc::clone(&graph), Arc::clone(&queue));
        inf.add_handler(move |old, new| observe(&g, &q, r, old.map(|o| &**o), new.map(|o| &**o)));
        informers.push(inf);
    }
    let custom = watch_custom_kinds(ctx.client.clone(), Arc::clone(&graph), Arc::clone(&queue));
    let gc = Arc::new(GarbageCollector {
        client: ctx.client.clone(),
        graph,
    });
    let workers = ctx.workers(gc, queue);
    Box::pin(async move {
        for inf in &informers {
            tokio::spawn(Arc::clone(inf).run());
        }
        for inf in &informers {
            inf.wait_synced().await;
        }
        tracing::info!("garbage collector: graph synced");
        tokio::spawn(custom);
        workers.await
    })
}

/// How often the collector looks for new CustomResourceDefinitions.
const CRD_RESYNC: Duration = Duration::from_secs(2);

/// Adds the kinds of established CustomResourceDefinitions to the graph as
/// they appear (upstream's collector follows discovery the same way): one
/// informer per kind, so custom resources own and are owned like built-in
/// objects. A kind's row is leaked once: CRDs come at human speed.
async fn watch_custom_kinds(client: kube::Client, graph: Arc<Graph>, queue: Arc<Queue>) {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let mut started = std::collections::HashSet::new();
    loop {
        if let Ok(list) = crds.list(&kube::api::ListParams::default()).await {
            for crd in list.items {
                let established = crd
                    .status
                    .as_ref()
                    .and_then(|s| s.conditions.as_ref())
                    .is_some_and(|cs| {
                        cs.iter()
                            .any(|c| c.type_ == "Established" && c.status == "True")
                    });
                let mut served: Vec<_> = crd.spec.versions.iter().filter(|v| v.served).collect();
                served.sort_by_key(|v| !v.storage);
                let Some(version) = served.first() else {
                    continue;
                };
                let names = &crd.spec.names;
                let key = (crd.spec.group.clone(), names.plural.clone());
                if !established || started.contains(&key) {
                    continue;
                }
                let leak = |s: &str| -> &'static str { Box::leak(s.to_string().into_boxed_str()) };
                let row: &'static ResourceInfo = Box::leak(Box::new(
                    ResourceInfo::new(
                        leak(&crd.spec.group),
                        leak(&names.kind),
                        leak(&names.plural),
                        leak(names.singular.as_deref().unwrap_or("")),
                        crd.spec.scope == "Namespaced",
                    )
                    .at(leak(&version.name)),
                ));
                let api: Api<DynamicObject> = Api::all_with(client.clone(), &api_resource(row));
                let inf = Informer::new(api, watcher::Config::default().page_size(500));
                let (g, q) = (Arc::clone(&graph), Arc::clone(&queue));
                inf.add_handler(move |old, new| {
                    observe(&g, &q, row, old.map(|o| &**o), new.map(|o| &**o))
                });
                tokio::spawn(inf.run());
                tracing::info!(kind = %names.kind, group = %crd.spec.group, "garbage collector: watching a custom kind");
                started.insert(key);
            }
        }
        tokio::time::sleep(CRD_RESYNC).await;
    }
}

/// Updates the graph from an informer event and queues what to look at.
fn observe(
    g: &Graph,
    q: &Queue,
    r: &'static ResourceInfo,
    old: Option<&DynamicObject>,
    new: Option<&DynamicObject>,
) {
    match (old, new) {
        (_, Some(obj)) => {
            let Some(uid) = obj.metadata.uid.clone() else {
                return;
            };
            let node = Node {
                resource: r,
                namespace: obj.metadata.namespace.clone().unwrap_or_default(),
                name: obj.metadata.name.clone().unwrap_or_default(),
                owners: obj.metadata.owner_references.clone().unwrap_or_default(),
                deleting: obj.metadata.deletion_timestamp.is_some(),
                finalizers: obj.metadata.finalizers.clone().unwrap_or_default(),
                resource_version: obj.metadata.resource_version.clone().unwrap_or_default(),
            };
            let interesting = !node.owners.is_empty()
                || (node.deleting
                    && (node.has_finalizer(FOREGROUND) || node.has_finalizer(ORPHAN)));
            let deleting = node.deleting;
            g.upsert(&uid, node);
            if interesting {
                q.add(uid.clone());
            }
            // An owner entering foreground deletion: its dependents must act.
            if deleting {
                for (d, _) in g.dependents(&uid) {
                    q.add(d);
                }
            }
        }
        (Some(obj), None) => {
            let Some(uid) = obj.metadata.uid.as_deref() else {
                return;
            };
            // Its dependents may now be dangling; an owner waiting in the
            // foreground for it may now be free.
            let owners: Vec<String> = obj
                .metadata
                .owner_references
                .iter()
                .flatten()
                .map(|o| o.uid.clone())
                .collect();
            for d in g.remove(uid) {
                q.add(d);
            }
            for o in owners {
                q.add(o);
            }
        }
        (None, None) => {}
    }
}

/// The collector's state.
pub struct GarbageCollector {
    client: kube::Client,
    graph: Arc<Graph>,
}

/// How an owner reference stands.
enum OwnerState {
    /// The owner exists, and the graph has seen it: its deletion will
    /// requeue this dependent.
    Solid,
    /// The owner exists, but only the apiserver says so: the graph has not
    /// seen it yet (its kind's informer may not have started, as for a
    /// just-established CRD), so no event would tell us it went away.
    Unobserved,
    /// The owner exists and waits in the foreground for this dependent.
    Waiting,
    /// The owner is gone (or is another object with that name now).
    Dangling,
}

impl Reconciler for GarbageCollector {
    fn name(&self) -> &'static str {
        "garbagecollector"
    }

    async fn reconcile(&self, uid: &str) -> Result<Action> {
        let Some(node) = self.graph.get(uid) else {
            return Ok(Action::Done);
        };
        if node.deleting && node.has_finalizer(ORPHAN) {
            return self.orphan_dependents(uid, &node).await;
        }
        if node.deleting && node.has_finalizer(FOREGROUND) {
            return self.delete_dependents(uid, &node).await;
        }
        if node.owners.is_empty() || node.deleting {
            return Ok(Action::Done);
        }
        let mut dangling = Vec::new();
        let mut waiting = Vec::new();
        let mut solid = false;
        let mut unobserved = false;
        for o in &node.owners {
            match self.owner_state(&node, o).await? {
                OwnerState::Dangling => dangling.push(o.uid.clone()),
                OwnerState::Waiting => waiting.push(o.uid.clone()),
                OwnerState::Solid => solid = true,
                OwnerState::Unobserved => {
                    solid = true;
                    unobserved = true;
                }
            }
        }
        if solid {
            // An owner that still exists keeps the object (upstream's
            // "solid" owner): only the references to owners that are gone
            // or being deleted in the foreground go, so those owners are
            // not kept waiting on it.
            if !dangling.is_empty() || !waiting.is_empty() {
                let keep: Vec<&OwnerReference> = node
                    .owners
                    .iter()
                    .filter(|o| !dangling.contains(&o.uid) && !waiting.contains(&o.uid))
                    .collect();
                tracing::info!(object = %node.describe(), "dropping references to deleted owners; another owner keeps it");
                let patch = serde_json::json!({"metadata": {"ownerReferences": keep, "uid": uid}});
                self.patch(&node, &patch).await?;
            }
        } else if !waiting.is_empty() {
            tracing::info!(object = %node.describe(), "owner is deleted in the foreground; deleting");
            let policy = if self.graph.dependents(uid).is_empty() {
                PropagationPolicy::Background
            } else {
                PropagationPolicy::Foreground
            };
            self.delete(uid, &node, policy).await?;
        } else if !dangling.is_empty() {
            tracing::info!(object = %node.describe(), "all owners are gone; deleting");
            self.delete(uid, &node, PropagationPolicy::Background)
                .await?;
        }
        if unobserved {
            // Look again until the graph holds the owner (upstream's
            // virtual owner nodes): should it be deleted before its
            // informer lists it, only this lookup would notice.
            return Ok(Action::RequeueAfter(UNOBSERVED_OWNER_RECHECK));
        }
        Ok(Action::Done)
    }
}

/// How often a dependent whose owner the graph has not seen is checked.
const UNOBSERVED_OWNER_RECHECK: Duration = Duration::from_secs(5);

impl GarbageCollector {
    fn api(&self, node: &Node) -> Api<DynamicObject> {
        let ar = api_resource(node.resource);
        if node.resource.namespaced {
            Api::namespaced_with(self.client.clone(), &node.namespace, &ar)
        } else {
            Api::all_with(self.client.clone(), &ar)
        }
    }

    /// Whether an owner exists: from the graph, else from the apiserver
    /// (the owner may be newer than our watch).
    async fn owner_state(&self, node: &Node, o: &OwnerReference) -> Result<OwnerState> {
        if let Some(owner) = self.graph.get(&o.uid) {
            if owner.deleting && owner.has_finalizer(FOREGROUND) {
                return Ok(OwnerState::Waiting);
            }
            return Ok(OwnerState::Solid);
        }
        let (ar, namespaced) = match apimachinery::resources::find_by_kind(&o.api_version, &o.kind)
        {
            Some(r) => (api_resource(r), r.namespaced),
            // Not built in: maybe the kind of a CRD (an operator's object
            // owning a Deployment), which discovery knows.
            None => match self.served_kind(o).await? {
                Some(found) => found,
                // A kind nobody serves can never exist.
                None => return Ok(OwnerState::Dangling),
            },
        };
        let api: Api<DynamicObject> = if namespaced {
            Api::namespaced_with(self.client.clone(), &node.namespace, &ar)
        } else {
            Api::all_with(self.client.clone(), &ar)
        };
        match api.get(&o.name).await {
            Ok(obj) if obj.metadata.uid.as_deref() == Some(o.uid.as_str()) => {
                Ok(OwnerState::Unobserved)
            }
            Ok(_) => Ok(OwnerState::Dangling),
            Err(e) if is_not_found(&e) => Ok(OwnerState::Dangling),
            Err(e) => Err(e).context(|| format!("looking up owner {} {}", o.kind, o.name)),
        }
    }

    /// Whether `dep` has an owner other than `owner` that exists and is not
    /// itself being deleted in the foreground.
    async fn has_other_solid_owner(&self, dep: &Node, owner: &str) -> Result<bool> {
        for o in dep.owners.iter().filter(|o| o.uid != owner) {
            if matches!(
                self.owner_state(dep, o).await?,
                OwnerState::Solid | OwnerState::Unobserved
            ) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The resource serving an owner's kind, from discovery (the kinds of
    /// CustomResourceDefinitions), with whether it is namespaced; `None`
    /// when no served resource has that kind.
    async fn served_kind(&self, o: &OwnerReference) -> Result<Option<(ApiResource, bool)>> {
        let Some((group, version)) = o.api_version.split_once('/') else {
            return Ok(None);
        };
        let list = match self.client.list_api_group_resources(&o.api_version).await {
            Ok(l) => l,
            Err(e) if is_not_found(&e) => return Ok(None),
            Err(e) => return Err(e).context(|| format!("discovering {}", o.api_version)),
        };
        Ok(list
            .resources
            .into_iter()
            .find(|r| r.kind == o.kind && !r.name.contains('/'))
            .map(|r| {
                let ar = ApiResource {
                    group: group.into(),
                    version: version.into(),
                    api_version: o.api_version.clone(),
                    kind: o.kind.clone(),
                    plural: r.name,
                };
                (ar, r.namespaced)
            }))
    }

    async fn delete(&self, uid: &str, node: &Node, policy: PropagationPolicy) -> Result<()> {
        let dp = DeleteParams {
            propagation_policy: Some(policy),
            preconditions: Some(Preconditions {
                uid: Some(uid.to_string()),
                resource_version: None,
            }),
            ..Default::default()
        };
        match self.api(node).delete(&node.name, &dp).await {
            Ok(_) => Ok(()),
            Err(e) if is_not_found(&e) || is_conflict(&e) => Ok(()),
            Err(e) => Err(e).context(|| format!("deleting {}", node.describe())),
        }
    }

    async fn patch(&self, node: &Node, patch: &serde_json::Value) -> Result<()> {
        match self
            .api(node)
            .patch(&node.name, &PatchParams::default(), &Patch::Merge(patch))
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(e).context(|| format!("updating {}", node.describe())),
        }
    }

    async fn remove_finalizer(&self, node: &Node, finalizer: &str) -> Result<()> {
        let rest: Vec<&String> = node.finalizers.iter().filter(|f| *f != finalizer).collect();
        let patch = serde_json::json!({"metadata": {
            "finalizers": rest, "resourceVersion": node.resource_version}});
        self.patch(node, &patch).await
    }

    /// `--cascade=orphan`: dependents lose the reference and stay.
    async fn orphan_dependents(&self, uid: &str, node: &Node) -> Result<Action> {
        for (duid, dep) in self.graph.dependents(uid) {
            let keep: Vec<&OwnerReference> = dep.owners.iter().filter(|o| o.uid != uid).collect();
            let patch = serde_json::json!({"metadata": {"ownerReferences": keep, "uid": duid}});
            self.patch(&dep, &patch).await?;
        }
        tracing::info!(object = %node.describe(), "dependents orphaned");
        self.remove_finalizer(node, ORPHAN).await?;
        Ok(Action::Done)
    }

    /// `--cascade=foreground`: dependents first, then the owner.
    /// Whether `dep`, itself deleted in the foreground, has a dependent
    /// deleted in the foreground too (upstream's cheap circle test: it has
    /// false positives on long chains, never false negatives on circles).
    fn may_close_a_circle(&self, duid: &str, dep: &Node) -> bool {
        dep.deleting
            && dep.has_finalizer(FOREGROUND)
            && self
                .graph
                .dependents(duid)
                .iter()
                .any(|(_, d)| d.deleting && d.has_finalizer(FOREGROUND))
    }

    async fn delete_dependents(&self, uid: &str, node: &Node) -> Result<Action> {
        let deps = self.graph.dependents(uid);
        let mut blocking = 0;
        for (duid, dep) in &deps {
            let blocks = dep
                .owners
                .iter()
                .any(|o| o.uid == uid && o.block_owner_deletion == Some(true));
            if blocks && self.may_close_a_circle(duid, dep) {
                // Upstream's cycle breaker: a dependent that waits for its
                // own dependents, one of which waits for its dependents in
                // turn, may be waiting (round the circle) for us. It stops
                // blocking its owners, so the circle comes apart; it is
                // still deleted.
                tracing::info!(object = %dep.describe(), "unblocking its owners to break a possible dependency circle");
                let owners: Vec<OwnerReference> = dep
                    .owners
                    .iter()
                    .map(|o| OwnerReference {
                        block_owner_deletion: Some(false),
                        ..o.clone()
                    })
                    .collect();
                let patch =
                    serde_json::json!({"metadata": {"ownerReferences": owners, "uid": duid}});
                self.patch(dep, &patch).await?;
                continue;
            }
            if !dep.deleting && self.has_other_solid_owner(dep, uid).await? {
                // Another owner still keeps it: it loses only its reference
                // to us (upstream's attemptToDeleteItem with a solid owner).
                tracing::info!(object = %dep.describe(), "kept by another owner; dropping its reference to the owner being deleted");
                let owners: Vec<&OwnerReference> =
                    dep.owners.iter().filter(|o| o.uid != uid).collect();
                let patch =
                    serde_json::json!({"metadata": {"ownerReferences": owners, "uid": duid}});
                self.patch(dep, &patch).await?;
                continue;
            }
            if blocks {
                blocking += 1;
            }
            if !dep.deleting {
                // A dependent with dependents of its own empties itself
                // first, so the whole tree goes bottom-up.
                let policy = if self.graph.dependents(duid).is_empty() {
                    PropagationPolicy::Background
                } else {
                    PropagationPolicy::Foreground
                };
                self.delete(duid, dep, policy).await?;
            }
        }
        if blocking > 0 {
            // Their deletion events requeue us; the delay covers a missed one.
            return Ok(Action::RequeueAfter(Duration::from_secs(5)));
        }
        tracing::info!(object = %node.describe(), "no blocking dependents left");
        self.remove_finalizer(node, FOREGROUND).await?;
        Ok(Action::Done)
    }
}
