//! `kubectl apply --prune`: after every object of the manifests is applied,
//! objects that an earlier apply created but these manifests no longer hold
//! are deleted (upstream's allowlist-based alpha, not ApplySets).
//!
//! What is a candidate: an object of an allowlisted kind (upstream's
//! default list, or `--prune-allowlist group/version/Kind`), in a namespace
//! the manifests touched (cluster-scoped kinds: everywhere), matching `-l`
//! (or every one with `--all`), carrying the last-applied annotation (so
//! only objects `apply` or `create --save-config` made), and not one of the
//! objects just applied (by uid).

use std::collections::BTreeSet;

use http::Method;
use serde_json::{json, Value};

use super::{DryRun, LAST_APPLIED};
use crate::client::{q, Rest};
use crate::discovery::{Resolver, Resource};
use crate::error::{Error, Result};
use crate::get::{print_object, Output};

/// Upstream's default allowlist: group, version, kind, namespaced (in its order).
const DEFAULT_ALLOWLIST: &[(&str, &str, &str, bool)] = &[
    ("", "v1", "ConfigMap", true),
    ("", "v1", "Endpoints", true),
    ("", "v1", "PersistentVolumeClaim", true),
    ("", "v1", "Pod", true),
    ("", "v1", "ReplicationController", true),
    ("", "v1", "Secret", true),
    ("", "v1", "Service", true),
    ("batch", "v1", "Job", true),
    ("batch", "v1", "CronJob", true),
    ("networking.k8s.io", "v1", "Ingress", true),
    ("apps", "v1", "DaemonSet", true),
    ("apps", "v1", "Deployment", true),
    ("apps", "v1", "ReplicaSet", true),
    ("apps", "v1", "StatefulSet", true),
    ("", "v1", "Namespace", false),
    ("", "v1", "PersistentVolume", false),
];

fn api_version(group: &str, version: &str) -> String {
    if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    }
}

/// The kinds to prune: `--prune-allowlist` entries (`core` for the core
/// group), or upstream's default list when there are none. Upstream checks
/// the flag's entries before applying anything, and the default list only
/// when it prunes.
pub async fn allowlist(resolver: &mut Resolver<'_>, entries: &[String]) -> Result<Vec<Resource>> {
    let mut out = Vec::new();
    for entry in entries {
        let parts: Vec<&str> = entry.split('/').collect();
        let [group, version, kind] = parts.as_slice() else {
            return Err(Error::usage(format!(
                "invalid GroupVersionKind format: {entry}, please follow <group/version/kind>"
            )));
        };
        let group = if *group == "core" { "" } else { group };
        let av = api_version(group, version);
        match resolver.discovery.for_kind(&av, kind) {
            Some(r) => out.push(r.clone()),
            None => {
                return Err(Error::usage(format!(
                    "no matches for kind \"{kind}\" in version \"{av}\""
                )))
            }
        }
    }
    Ok(out)
}

/// Upstream's default list as served resources. Upstream warns (through
/// klog) whenever it falls back to it, since a namespace is always set.
pub fn default_allowlist(resolver: &Resolver<'_>) -> Result<Vec<Resource>> {
    crate::klog::warning("prune.go:71", "Deprecated: kubectl apply will no longer prune non-namespaced resources by default when used with the --namespace flag in a future release. To preserve the current behaviour, list the resources you want to target explicitly in the --prune-allowlist flag.");
    DEFAULT_ALLOWLIST
        .iter()
        .map(|(group, version, kind, namespaced)| {
            let av = api_version(group, version);
            resolver.discovery.for_kind(&av, kind).cloned().ok_or_else(|| {
                Error::usage(format!(
                    "error retrieving RESTMappings to prune: invalid resource {group}/{version}, Kind={kind}, Namespaced={namespaced}: no matches for kind \"{kind}\" in version \"{av}\""
                ))
            })
        })
        .collect()
}

/// What was applied, for telling the objects to keep from the ones to prune.
#[derive(Debug, Default)]
pub struct Visited {
    /// Uids of the objects just applied.
    pub uids: BTreeSet<String>,
    /// Namespaces the applied objects live in (and `-n` when given).
    pub namespaces: BTreeSet<String>,
}

/// How to prune.
pub struct Pruner<'a> {
    /// The client.
    pub rest: &'a Rest,
    /// `-l` (empty with `--all`).
    pub selector: &'a str,
    /// `--dry-run`.
    pub dry: DryRun,
    /// `-o`, if given: pruned objects print in it instead of by name.
    pub output: Option<&'a Output>,
}

impl Pruner<'_> {
    /// Prunes the namespaced kinds in each visited namespace, then the
    /// cluster-scoped kinds, printing each object as it goes.
    pub async fn prune_all(&self, kinds: &[Resource], visited: &Visited) -> Result<()> {
        for ns in &visited.namespaces {
            for r in kinds.iter().filter(|r| r.namespaced) {
                self.prune(r, Some(ns), visited).await.map_err(|e| {
                    Error::usage(format!(
                        "error pruning namespaced object {}/{}, Kind={}: {}",
                        r.group,
                        r.version,
                        r.kind,
                        bare(&e)
                    ))
                })?;
            }
        }
        for r in kinds.iter().filter(|r| !r.namespaced) {
            self.prune(r, None, visited).await.map_err(|e| {
                Error::usage(format!(
                    "error pruning nonNamespaced object {}/{}, Kind={}: {}",
                    r.group,
                    r.version,
                    r.kind,
                    bare(&e)
                ))
            })?;
        }
        Ok(())
    }

    async fn prune(&self, r: &Resource, ns: Option<&str>, visited: &Visited) -> Result<()> {
        let mut path = r.path(ns);
        if !self.selector.is_empty() {
            path.push_str(&format!("?labelSelector={}", q(self.selector)));
        }
        let list = self.rest.get(&path).await?;
        for obj in list["items"].as_array().into_iter().flatten() {
            let meta = &obj["metadata"];
            if meta["annotations"].get(LAST_APPLIED).is_none() {
                continue;
            }
            if meta["uid"]
                .as_str()
                .is_some_and(|u| visited.uids.contains(u))
            {
                continue;
            }
            let name = meta["name"].as_str().unwrap_or_default();
            if self.dry != DryRun::Client {
                self.delete(r, ns, name).await?;
            }
            match self.output {
                Some(o) => print!("{}", print_object(o, r, obj)),
                None => println!("{}/{name} pruned{}", r.kind_prefix(), self.dry.suffix()),
            }
        }
        Ok(())
    }

    /// Deletes in the background (upstream's default cascade), as a dry run
    /// on the server with `--dry-run=server`.
    async fn delete(&self, r: &Resource, ns: Option<&str>, name: &str) -> Result<()> {
        let mut body = json!({"propagationPolicy": "Background"});
        if self.dry == DryRun::Server {
            body["dryRun"] = json!(["All"]);
        }
        self.rest
            .call(
                Method::DELETE,
                &r.object_path(ns, name),
                Some("application/json"),
                Some(serde_json::to_vec(&body)?),
            )
            .await
            .map(|_: Value| ())
    }
}

/// An error's own text, as Go's `%v` of it inside another message (a
/// server's error is its Status message, without `Error from server`).
fn bare(e: &Error) -> String {
    match e {
        Error::Usage(m) => m.clone(),
        Error::Api { status, .. } => status["message"].as_str().unwrap_or_default().to_string(),
        other => other.render(),
    }
}
