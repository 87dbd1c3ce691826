//! The loop inside the apiserver that turns stored CRDs into served kinds
//! (upstream runs the same jobs as four controllers: naming, establishing,
//! finalizer, and the handler that installs the REST endpoints).
//!
//! Each pass reads every CRD from etcd and, level-triggered:
//!
//! 1. **names**: a CRD may have the plural, singular, short names, kind and
//!    list kind it asks for unless another CRD of the same group already
//!    has them accepted (the older CRD wins). The outcome goes into
//!    `status.acceptedNames` and the `NamesAccepted` condition (`True`
//!    `NoConflicts`, or `False` with `PluralConflict`, `KindConflict`, ...
//!    and `"<name>" is already in use`).
//! 2. **establishing**: once its names are accepted the CRD is `Established`
//!    (and stays so), and each served version is installed in the runtime
//!    resource table ([`super::install`]) with its own strategy, and its
//!    watch cache is started: from then on it is served like a built-in
//!    kind.
//! 3. **cleanup**: a CRD being deleted carries the
//!    `customresourcecleanup.apiextensions.k8s.io` finalizer (added by its
//!    strategy on the first delete) and the `Terminating` condition; the
//!    loop deletes its objects (objects with finalizers of their own get a
//!    `deletionTimestamp` and are waited for), then drops the finalizer,
//!    which deletes the CRD, and the kind is no longer served.
//!
//! A pass runs when the CRDs' watch cache reports a change, and every
//! second (to retry cleanups and conflicts), so a new CRD is served within
//! a few milliseconds of being stored.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use apimachinery::resources::{ResourceInfo, Subresource, VERBS};
use serde_json::{json, Value};

use super::conversion::Converter;
use super::{
    intern, intern_list, intern_resource, version_priority, CustomResourceStrategy, Served,
    CLEANUP_FINALIZER,
};
use crate::registry::{finalizers, meta_str, now};
use crate::storage::StorageError;
use crate::ApiServer;

/// The CustomResourceDefinition resource.
fn crd_resource() -> Option<&'static ResourceInfo> {
    apimachinery::resources::find("apiextensions.k8s.io", "v1", "customresourcedefinitions")
}

/// Runs the loop until the server stops.
pub async fn run(server: Arc<ApiServer>) {
    let Some(crds) = crd_resource() else { return };
    let cache = server.cache(crds);
    let mut stopping = server.stopping.subscribe();
    loop {
        if *stopping.borrow() {
            return;
        }
        if cache.wait_ready(Duration::from_secs(5)).await.is_err() {
            continue;
        }
        let Ok(mut sub) = cache.subscribe(cache.current_rev()) else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        loop {
            if let Err(e) = reconcile(&server).await {
                tracing::debug!(error = %e, "reconciling CustomResourceDefinitions failed; retrying");
            }
            tokio::select! {
                ev = sub.live.recv() => {
                    if matches!(ev, Err(tokio::sync::broadcast::error::RecvError::Closed)) {
                        break;
                    }
                    // Take the burst of events that came with it.
                    while sub.live.try_recv().is_ok() {}
                }
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = stopping.changed() => return,
            }
        }
    }
}

/// One CRD as read from etcd.
struct Stored {
    key: String,
    rev: i64,
    object: Value,
}

/// One pass over every CRD.
pub async fn reconcile(server: &ApiServer) -> Result<(), StorageError> {
    let Some(crds) = crd_resource() else {
        return Ok(());
    };
    let prefix = server.store.collection_prefix(crds.storage_name(), None);
    let page = server.store.list(&prefix, None, 0, 0).await?;
    let mut all: Vec<Stored> = page
        .items
        .into_iter()
        .map(|(key, s)| Stored {
            key,
            rev: s.mod_revision,
            object: s.object,
        })
        .collect();
    // The older CRD keeps contested names.
    all.sort_by(|a, b| {
        let ts = |o: &Value| meta_str(o, "creationTimestamp").unwrap_or("").to_string();
        ts(&a.object)
            .cmp(&ts(&b.object))
            .then_with(|| meta_str(&a.object, "name").cmp(&meta_str(&b.object, "name")))
    });
    // Accepted names per group, as they stand (updated as the pass goes).
    let mut accepted: HashMap<String, Value> = all
        .iter()
        .map(|s| {
            (
                meta_str(&s.object, "name").unwrap_or("").to_string(),
                s.object
                    .pointer("/status/acceptedNames")
                    .cloned()
                    .unwrap_or_else(|| json!({})),
            )
        })
        .collect();
    let mut present = HashSet::new();
    for stored in &all {
        let name = meta_str(&stored.object, "name").unwrap_or("").to_string();
        present.insert(name.clone());
        let mut crd = stored.object.clone();
        let group = s(&crd, "/spec/group").to_string();
        let others: Vec<&Value> = all
            .iter()
            .filter(|o| meta_str(&o.object, "name") != Some(name.as_str()))
            .filter(|o| s(&o.object, "/spec/group") == group)
            .filter_map(|o| accepted.get(meta_str(&o.object, "name").unwrap_or("")))
            .collect();
        let (names, condition) = accept_names(&crd, &others);
        accepted.insert(name.clone(), names.clone());
        set_status(&mut crd, names, condition);
        let deleting = crd.pointer("/metadata/deletionTimestamp").is_some();
        if deleting && finalizers(&crd).iter().any(|f| f == CLEANUP_FINALIZER) {
            set_condition(
                &mut crd,
                "Terminating",
                "True",
                "InstanceDeletionInProgress",
                "CustomResource deletion is in progress",
            );
        }
        let established = condition_true(&crd, "Established");
        if established {
            install_crd(server, &name, &crd, deleting);
        } else {
            super::install(&name, Vec::new());
        }
        if crd != stored.object {
            match server.store.update(&stored.key, &crd, stored.rev).await {
                Ok(_) | Err(StorageError::Conflict) => {}
                Err(e) => return Err(e),
            }
            // The next pass (the update's event) goes on from the new state.
            continue;
        }
        if deleting && finalizers(&crd).iter().any(|f| f == CLEANUP_FINALIZER) {
            cleanup(server, stored, &crd).await?;
        }
    }
    for gone in super::served_crds().difference(&present) {
        super::install(gone, Vec::new());
    }
    Ok(())
}

fn s<'a>(obj: &'a Value, pointer: &str) -> &'a str {
    obj.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

fn strings(obj: &Value, pointer: &str) -> Vec<String> {
    obj.pointer(pointer)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// The names a CRD may have given the names `others` (the other CRDs of
/// its group) already have, and its `NamesAccepted` condition as
/// (status, reason, message).
fn accept_names(crd: &Value, others: &[&Value]) -> (Value, (String, String, String)) {
    let mut resources: HashSet<String> = HashSet::new();
    let mut kinds: HashSet<String> = HashSet::new();
    for o in others {
        for p in ["/plural", "/singular"] {
            resources.insert(s(o, p).to_string());
        }
        resources.extend(strings(o, "/shortNames"));
        for p in ["/kind", "/listKind"] {
            kinds.insert(s(o, p).to_string());
        }
    }
    resources.remove("");
    kinds.remove("");
    let requested = crd
        .pointer("/spec/names")
        .cloned()
        .unwrap_or_else(|| json!({}));
    let current = crd
        .pointer("/status/acceptedNames")
        .cloned()
        .unwrap_or_else(|| json!({}));
    let mut names = current.as_object().cloned().unwrap_or_default();
    let mut condition = None;
    let taken = |want: &str, have: &str, used: &HashSet<String>| -> Option<String> {
        (want != have && used.contains(want)).then(|| format!("{want:?} is already in use"))
    };
    let kind_default = s(&requested, "/kind").to_string();
    let want = |field: &str| -> String {
        let v = s(&requested, &format!("/{field}")).to_string();
        match (field, v.is_empty()) {
            ("singular", true) => kind_default.to_lowercase(),
            ("listKind", true) if !kind_default.is_empty() => format!("{kind_default}List"),
            _ => v,
        }
    };
    for (field, reason, used) in [
        ("plural", "PluralConflict", &resources),
        ("singular", "SingularConflict", &resources),
        ("kind", "KindConflict", &kinds),
        ("listKind", "ListKindConflict", &kinds),
    ] {
        let w = want(field);
        match taken(&w, s(&current, &format!("/{field}")), used) {
            Some(msg) => condition = Some((reason, msg)),
            None => {
                names.insert(field.into(), json!(w));
            }
        }
    }
    let wanted_short = strings(&requested, "/shortNames");
    let have_short = strings(&current, "/shortNames");
    let short_conflicts: Vec<String> = wanted_short
        .iter()
        .filter(|n| !have_short.contains(n) && resources.contains(*n))
        .map(|n| format!("{n:?} is already in use"))
        .collect();
    if short_conflicts.is_empty() {
        if wanted_short.is_empty() {
            names.remove("shortNames");
        } else {
            names.insert("shortNames".into(), json!(wanted_short));
        }
    } else {
        condition = Some(("ShortNamesConflict", short_conflicts.join(", ")));
    }
    let categories = strings(&requested, "/categories");
    if categories.is_empty() {
        names.remove("categories");
    } else {
        names.insert("categories".into(), json!(categories));
    }
    let condition = match condition {
        Some((reason, msg)) => ("False".into(), reason.into(), msg),
        None => (
            "True".into(),
            "NoConflicts".into(),
            "no conflicts found".into(),
        ),
    };
    (Value::Object(names), condition)
}

fn condition_true(crd: &Value, ty: &str) -> bool {
    crd.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| cs.iter().any(|c| c["type"] == ty && c["status"] == "True"))
}

/// Sets one condition, keeping its `lastTransitionTime` when its status
/// does not change.
fn set_condition(crd: &mut Value, ty: &str, status: &str, reason: &str, message: &str) {
    let Some(map) = crd.as_object_mut() else {
        return;
    };
    let st = map.entry("status").or_insert_with(|| json!({}));
    if !st.is_object() {
        *st = json!({});
    }
    let Some(st) = st.as_object_mut() else { return };
    let conditions = st.entry("conditions").or_insert_with(|| json!([]));
    if !conditions.is_array() {
        *conditions = json!([]);
    }
    let Some(list) = conditions.as_array_mut() else {
        return;
    };
    let new = |time: Value| {
        json!({"type": ty, "status": status, "lastTransitionTime": time,
               "reason": reason, "message": message})
    };
    match list.iter_mut().find(|c| c["type"] == ty) {
        Some(c) => {
            if c["status"] == status && c["reason"] == reason && c["message"] == message {
                return;
            }
            let time = if c["status"] == status {
                c["lastTransitionTime"].clone()
            } else {
                json!(now())
            };
            *c = new(time);
        }
        None => list.push(new(json!(now()))),
    }
}

/// Writes the names and the `NamesAccepted`/`Established` conditions.
fn set_status(crd: &mut Value, names: Value, (status, reason, message): (String, String, String)) {
    if let Some(map) = crd.as_object_mut() {
        let st = map.entry("status").or_insert_with(|| json!({}));
        if let Some(st) = st.as_object_mut() {
            st.insert("acceptedNames".into(), names);
            st.entry("storedVersions").or_insert_with(|| json!([]));
        }
    }
    set_condition(crd, "NamesAccepted", &status, &reason, &message);
    // The storage version is recorded as soon as objects may be written in it.
    let storage = storage_version(crd);
    if let Some(list) = crd
        .pointer_mut("/status/storedVersions")
        .and_then(Value::as_array_mut)
    {
        if !storage.is_empty() && !list.iter().any(|v| v == storage.as_str()) {
            list.push(json!(storage));
        }
    }
    if condition_true(crd, "Established") {
        return;
    }
    if status == "True" {
        set_condition(
            crd,
            "Established",
            "True",
            "InitialNamesAccepted",
            "the initial names have been accepted",
        );
    } else {
        set_condition(
            crd,
            "Established",
            "False",
            "NotAccepted",
            "not all names are accepted",
        );
    }
}

fn storage_version(crd: &Value) -> String {
    crd.pointer("/spec/versions")
        .and_then(Value::as_array)
        .and_then(|vs| vs.iter().find(|v| v["storage"] == true))
        .and_then(|v| v["name"].as_str())
        .unwrap_or("")
        .to_string()
}

/// Installs the served versions of an established CRD.
fn install_crd(server: &ApiServer, name: &str, crd: &Value, terminating: bool) {
    let names = crd
        .pointer("/status/acceptedNames")
        .cloned()
        .unwrap_or_default();
    let fingerprint = json!([crd.get("spec"), names, terminating]).to_string();
    let current = super::served_of(name);
    if !current.is_empty() && current.iter().all(|s| s.fingerprint == fingerprint) {
        return;
    }
    let group = intern(s(crd, "/spec/group"));
    let plural = intern(s(&names, "/plural"));
    let kind = intern(s(&names, "/kind"));
    if plural.is_empty() || kind.is_empty() {
        super::install(name, Vec::new());
        return;
    }
    let singular = intern(s(&names, "/singular"));
    let namespaced = s(crd, "/spec/scope") != "Cluster";
    let short = intern_list(&strings(&names, "/shortNames"));
    let categories = intern_list(&strings(&names, "/categories"));
    let storage = intern(&format!("{group}/{plural}"));
    let storage_version = storage_version(crd);
    let mut versions: Vec<&Value> = crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .map(|vs| vs.iter().filter(|v| v["served"] == true).collect())
        .unwrap_or_default();
    versions.sort_by(|a, b| version_priority(s(a, "/name"), s(b, "/name")));
    let multi_version = versions.len() > 1;
    let conversion = Arc::new(Converter::for_crd(crd));
    let mut rows = Vec::new();
    for v in versions {
        let subresources: &'static [Subresource] = match (
            v.pointer("/subresources/status").is_some(),
            v.pointer("/subresources/scale").is_some(),
        ) {
            (true, true) => &[Subresource::Status, Subresource::Scale],
            (true, false) => &[Subresource::Status],
            (false, true) => &[Subresource::Scale],
            (false, false) => &[],
        };
        let row = ResourceInfo::new(group, kind, plural, singular, namespaced)
            .at(intern(s(v, "/name")))
            .short(short)
            .in_categories(categories)
            .with(subresources)
            .only(VERBS)
            .stored_as(storage);
        let resource = intern_resource(row);
        let mut strategy = CustomResourceStrategy::new(group, kind, v, &storage_version);
        strategy.terminating = terminating;
        strategy.multi_version = multi_version;
        strategy.conversion = Arc::clone(&conversion);
        rows.push(Served {
            crd: name.to_string(),
            resource,
            strategy: Arc::new(strategy),
            fingerprint: fingerprint.clone(),
        });
    }
    if let Some(first) = rows.first() {
        // Watches of the kind start from a cache, as for built-in kinds.
        server.cache(first.resource);
    }
    super::install(name, rows);
}

/// Deletes the objects of a CRD being deleted; once none is left, drops the
/// cleanup finalizer (and the CRD with it, when it was the last one).
async fn cleanup(server: &ApiServer, stored: &Stored, crd: &Value) -> Result<(), StorageError> {
    let group = s(crd, "/spec/group");
    let plural = s(crd, "/status/acceptedNames/plural");
    let mut remaining = 0;
    if !plural.is_empty() {
        let prefix = server
            .store
            .collection_prefix(&format!("{group}/{plural}"), None);
        let page = server.store.list(&prefix, None, 0, 0).await?;
        for (key, obj) in page.items {
            if finalizers(&obj.object).is_empty() {
                match server.store.delete(&key, obj.mod_revision).await {
                    Ok(_) | Err(StorageError::Conflict) | Err(StorageError::NotFound) => {}
                    Err(e) => return Err(e),
                }
            } else {
                remaining += 1;
                if obj.object.pointer("/metadata/deletionTimestamp").is_none() {
                    let mut marked = obj.object.clone();
                    crate::registry::meta_mut(&mut marked)
                        .insert("deletionTimestamp".into(), json!(now()));
                    crate::registry::meta_mut(&mut marked)
                        .insert("deletionGracePeriodSeconds".into(), json!(0));
                    match server.store.update(&key, &marked, obj.mod_revision).await {
                        Ok(_) | Err(StorageError::Conflict) => {}
                        Err(e) => return Err(e),
                    }
                }
            }
        }
    }
    if remaining > 0 {
        return Ok(());
    }
    let mut done = crd.clone();
    let left: Vec<String> = finalizers(crd)
        .into_iter()
        .filter(|f| f != CLEANUP_FINALIZER)
        .collect();
    if left.is_empty() {
        match server.store.delete(&stored.key, stored.rev).await {
            Ok(_) | Err(StorageError::Conflict) | Err(StorageError::NotFound) => {}
            Err(e) => return Err(e),
        }
        super::install(meta_str(crd, "name").unwrap_or(""), Vec::new());
        return Ok(());
    }
    crate::registry::meta_mut(&mut done).insert("finalizers".into(), json!(left));
    set_condition(
        &mut done,
        "Terminating",
        "True",
        "InstanceDeletionCompleted",
        "removed all instances",
    );
    match server.store.update(&stored.key, &done, stored.rev).await {
        Ok(_) | Err(StorageError::Conflict) => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crd(plural: &str, kind: &str, short: &[&str]) -> Value {
        json!({"metadata": {"name": format!("{plural}.x.test")},
               "spec": {"group": "x.test", "names": {"plural": plural, "kind": kind, "shortNames": short}}})
    }

    #[test]
    fn a_fresh_crd_gets_its_names() {
        let (names, (status, reason, _)) = accept_names(&crd("widgets", "Widget", &["wd"]), &[]);
        assert_eq!(status, "True");
        assert_eq!(reason, "NoConflicts");
        assert_eq!(names["plural"], "widgets");
        assert_eq!(names["singular"], "widget");
        assert_eq!(names["listKind"], "WidgetList");
        assert_eq!(names["shortNames"], json!(["wd"]));
    }

    #[test]
    fn a_taken_plural_is_a_conflict() {
        let (theirs, _) = accept_names(&crd("widgets", "Widget", &[]), &[]);
        let (names, (status, reason, message)) =
            accept_names(&crd("widgets", "Gadget", &[]), &[&theirs]);
        assert_eq!(status, "False");
        assert_eq!(reason, "PluralConflict");
        assert_eq!(message, "\"widgets\" is already in use");
        assert!(names.get("plural").is_none());
        assert_eq!(names["kind"], "Gadget");
    }
}
