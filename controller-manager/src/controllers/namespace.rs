//! The namespace controller: empties a namespace that is being deleted,
//! then lets the apiserver remove it.
//!
//! `kubectl delete namespace x` only marks the namespace Terminating: its
//! `spec.finalizers` holds `kubernetes`, which is this controller's promise
//! to delete the contents first. reconcile(name):
//! 1. delete every object of every namespaced resource in it (a
//!    deletecollection per resource, built-in kinds and those of the
//!    established CustomResourceDefinitions; pods terminate gracefully).
//!    Pods go first: while any is left, nothing else is deleted (a pod
//!    that is shutting down may still read its ConfigMaps and Secrets);
//! 2. count what is left and write the status conditions `kubectl describe
//!    namespace` shows (NamespaceContentRemaining, NamespaceFinalizersRemaining
//!    and the three failure conditions);
//! 3. when nothing is left, `PUT .../finalize` without `kubernetes`, and the
//!    apiserver deletes the namespace; otherwise look again shortly.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use apimachinery::resources::RESOURCES;
use k8s_openapi::api::core::v1::{Namespace, NamespaceCondition};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams,
};

use super::garbagecollector::api_resource;
use super::{Context, Started};
use crate::machinery::controller::{is_not_found, Action, Context as _, Reconciler, Result};
use crate::machinery::informer::Store;
use crate::machinery::meta;
use crate::machinery::queue::Queue;

/// The finalizer this controller owns.
pub const FINALIZER: &str = "kubernetes";

/// Registers handlers and returns the workers.
pub fn start(ctx: &Context) -> Started {
    let namespaces = ctx.factory.informer::<Namespace>();
    let queue = Queue::new("namespace");
    let q = Arc::clone(&queue);
    namespaces.add_handler(move |_, new| {
        if let Some(ns) = new {
            if ns.metadata.deletion_timestamp.is_some() {
                q.add(ns.metadata.name.clone().unwrap_or_default());
            }
        }
    });
    let nc = Arc::new(NamespaceController {
        client: ctx.client.clone(),
        namespaces: namespaces.store(),
    });
    ctx.workers(nc, queue)
}

/// The controller's state.
pub struct NamespaceController {
    client: kube::Client,
    namespaces: Store<Namespace>,
}

impl Reconciler for NamespaceController {
    fn name(&self) -> &'static str {
        "namespace"
    }

    async fn reconcile(&self, name: &str) -> Result<Action> {
        let Some(ns) = self.namespaces.get(name) else {
            return Ok(Action::Done);
        };
        let finalizers = ns
            .spec
            .as_ref()
            .and_then(|s| s.finalizers.clone())
            .unwrap_or_default();
        if ns.metadata.deletion_timestamp.is_none() || !finalizers.iter().any(|f| f == FINALIZER) {
            return Ok(Action::Done);
        }
        let mut failures = Vec::new();
        // Only what is stored can be left behind (a review is never stored);
        // the kinds of CRDs are emptied like built-in ones.
        let mut kinds: Vec<ApiResource> = RESOURCES
            .iter()
            .filter(|r| r.namespaced && r.serves("deletecollection") && r.is_storage_version())
            .map(api_resource)
            .collect();
        match self.custom_kinds().await {
            Ok(custom) => kinds.extend(custom),
            Err(e) => failures.push(format!("customresourcedefinitions: {e}")),
        }
        // Pods first, and nothing else while any is left: a terminating pod
        // may still need its ConfigMaps, Secrets and ServiceAccount token
        // (upstream's OrderedNamespaceDeletion).
        let (pods, others): (Vec<&ApiResource>, Vec<&ApiResource>) = kinds
            .iter()
            .partition(|r| r.group.is_empty() && r.plural == "pods");
        let mut content = Content::default();
        for r in pods {
            self.empty(name, r, &mut content).await;
        }
        if content.remaining.is_empty() {
            for r in others {
                self.empty(name, r, &mut content).await;
            }
        }
        failures.extend(content.failures);
        let (remaining, pending_finalizers) = (content.remaining, content.finalizers);
        self.write_conditions(&ns, &failures, &remaining, &pending_finalizers)
            .await?;
        if !failures.is_empty() || !remaining.is_empty() {
            tracing::info!(
                namespace = name,
                ?remaining,
                "waiting for content to be deleted"
            );
            return Ok(Action::RequeueAfter(Duration::from_secs(2)));
        }
        let mut done = (*ns).clone();
        if let Some(spec) = done.spec.as_mut() {
            spec.finalizers = Some(finalizers.into_iter().filter(|f| f != FINALIZER).collect());
        }
        let api: Api<Namespace> = Api::all(self.client.clone());
        match api
            .replace_subresource("finalize", name, &PostParams::default(), &done)
            .await
        {
            Ok(_) => {
                tracing::info!(namespace = name, "namespace emptied and finalized");
                Ok(Action::Done)
            }
            Err(e) if is_not_found(&e) => Ok(Action::Done),
            Err(e) => Err(e).context(|| format!("finalizing namespace {name}")),
        }
    }
}

/// What emptying a namespace found: failures, objects left per resource,
/// and the finalizers holding them.
#[derive(Default)]
struct Content {
    failures: Vec<String>,
    remaining: BTreeMap<String, usize>,
    finalizers: BTreeMap<String, usize>,
}

impl NamespaceController {
    /// Deletes every object of resource `r` in namespace `ns`, then counts
    /// what is left.
    async fn empty(&self, ns: &str, r: &ApiResource, content: &mut Content) {
        let api: Api<DynamicObject> = Api::namespaced_with(self.client.clone(), ns, r);
        if let Err(e) = api
            .delete_collection(&DeleteParams::background(), &ListParams::default())
            .await
        {
            if !is_not_found(&e) {
                content.failures.push(format!("{}: {e}", r.plural));
            }
            return;
        }
        match api.list(&ListParams::default()).await {
            Ok(list) if !list.items.is_empty() => {
                content.remaining.insert(r.plural.clone(), list.items.len());
                for obj in &list.items {
                    for f in obj.metadata.finalizers.iter().flatten() {
                        *content.finalizers.entry(f.clone()).or_default() += 1;
                    }
                }
            }
            Ok(_) => {}
            Err(e) => content.failures.push(format!("{}: {e}", r.plural)),
        }
    }

    /// The namespaced kinds of the established CRDs, each at a served
    /// version (the storage version when it is served).
    async fn custom_kinds(&self) -> std::result::Result<Vec<ApiResource>, kube::Error> {
        let crds: Api<CustomResourceDefinition> = Api::all(self.client.clone());
        let mut out = Vec::new();
        for crd in crds.list(&ListParams::default()).await?.items {
            let established = crd
                .status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|cs| {
                    cs.iter()
                        .any(|c| c.type_ == "Established" && c.status == "True")
                });
            if !established || crd.spec.scope != "Namespaced" {
                continue;
            }
            let mut served: Vec<_> = crd.spec.versions.iter().filter(|v| v.served).collect();
            served.sort_by_key(|v| !v.storage);
            let Some(version) = served.first() else {
                continue;
            };
            let group = crd.spec.group.clone();
            out.push(ApiResource {
                api_version: format!("{group}/{}", version.name),
                group,
                version: version.name.clone(),
                kind: crd.spec.names.kind.clone(),
                plural: crd.spec.names.plural.clone(),
            });
        }
        Ok(out)
    }

    async fn write_conditions(
        &self,
        ns: &Namespace,
        failures: &[String],
        remaining: &BTreeMap<String, usize>,
        finalizers: &BTreeMap<String, usize>,
    ) -> Result<()> {
        let cond = |type_: &str, ok_reason: &str, bad_reason: &str, bad: Option<String>| {
            let (status, reason, message) = match bad {
                Some(m) => ("True", bad_reason, m),
                None => (
                    "False",
                    ok_reason,
                    "All content successfully removed".to_string(),
                ),
            };
            NamespaceCondition {
                type_: type_.into(),
                status: status.into(),
                reason: Some(reason.into()),
                message: Some(message),
                last_transition_time: Some(meta::now()),
            }
        };
        let content = (!remaining.is_empty()).then(|| {
            let parts: Vec<String> = remaining
                .iter()
                .map(|(r, n)| format!("{r}. has {n} resource instances"))
                .collect();
            format!("Some resources are remaining: {}", parts.join(", "))
        });
        let fins = (!finalizers.is_empty()).then(|| {
            let parts: Vec<String> = finalizers
                .iter()
                .map(|(f, n)| format!("{f} in {n} resource instances"))
                .collect();
            format!(
                "Some content in the namespace has finalizers remaining: {}",
                parts.join(", ")
            )
        });
        let failed = (!failures.is_empty()).then(|| {
            format!(
                "Failed to delete all resource types: {}",
                failures.join("; ")
            )
        });
        let mut wanted = vec![
            cond(
                "NamespaceDeletionDiscoveryFailure",
                "ResourcesDiscovered",
                "DiscoveryFailed",
                None,
            ),
            cond(
                "NamespaceDeletionGroupVersionParsingFailure",
                "ParsedGroupVersions",
                "GroupVersionParsingFailed",
                None,
            ),
            cond(
                "NamespaceDeletionContentFailure",
                "ContentDeleted",
                "ContentDeletionFailed",
                failed,
            ),
            cond(
                "NamespaceContentRemaining",
                "ContentRemoved",
                "SomeResourcesRemain",
                content,
            ),
            cond(
                "NamespaceFinalizersRemaining",
                "ContentHasNoFinalizers",
                "SomeFinalizersRemain",
                fins,
            ),
        ];
        // Keep transition times of conditions whose status did not change.
        let old = ns
            .status
            .as_ref()
            .and_then(|s| s.conditions.clone())
            .unwrap_or_default();
        let mut changed = false;
        for c in wanted.iter_mut() {
            match old.iter().find(|o| o.type_ == c.type_) {
                Some(o)
                    if o.status == c.status && o.reason == c.reason && o.message == c.message =>
                {
                    c.last_transition_time = o.last_transition_time.clone();
                }
                _ => changed = true,
            }
        }
        if !changed {
            return Ok(());
        }
        let api: Api<Namespace> = Api::all(self.client.clone());
        let patch = serde_json::json!({"status": {"conditions": wanted}});
        let name = ns.metadata.name.clone().unwrap_or_default();
        match api
            .patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(e).context(|| format!("updating status of namespace {name}")),
        }
    }
}
