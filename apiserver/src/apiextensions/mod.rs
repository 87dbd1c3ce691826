//! Serving the kinds that CustomResourceDefinitions define.
//!
//! The built-in resource table (`apimachinery::resources::RESOURCES`) is
//! fixed at compile time; this module is the second, runtime half of it. A
//! CRD is stored like any other object (its own strategy is in
//! [`crate::registry::apiextensions`]); the [`controller`] loop inside the
//! apiserver reads every CRD, decides which names it may have (upstream's
//! naming controller: `NamesAccepted`, `acceptedNames`), and installs one
//! row per served version here, each with a [`customresource`] strategy
//! built from that version's schema, printer columns, selectable fields and
//! scale paths; then it marks the CRD `Established`. From then on the
//! generic handlers serve the kind exactly like a built-in one: the request
//! parser, discovery, the strategy lookup and the watch caches all go
//! through [`find`], [`groups`], [`in_group_version`] and [`strategy_for`].
//!
//! Deleting a CRD first deletes every object of its kind (the
//! `customresourcecleanup.apiextensions.k8s.io` finalizer), then the CRD,
//! and the controller takes its rows away.
//!
//! What a custom object must look like comes from the version's structural
//! schema: [`schema`] validates it with upstream's messages, [`pruning`]
//! drops fields the schema does not know, [`defaulting`] fills in `default`s,
//! [`cel`] evaluates the `x-kubernetes-validations` rules,
//! and [`jsonpath`] reads the printer columns' values. A CRD with several
//! versions keeps its objects in the storage version and answers in the
//! version asked for, converting as its `spec.conversion` says (`None`, or
//! the CRD's conversion webhook: [`conversion`]).
//!
//! Rows are `&'static ResourceInfo` like the built-in ones, so the handlers
//! need no second code path: their strings are interned (each distinct
//! string is leaked once), and a row is leaked once per CRD change that
//! alters it, a bounded cost for a table that changes at human speed.

pub mod cel;
pub mod controller;
pub mod conversion;
pub mod customresource;
pub mod defaulting;
pub mod jsonpath;
pub mod pruning;
pub mod schema;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use apimachinery::resources::{self, ResourceInfo};

use crate::registry::Strategy;
pub use customresource::CustomResourceStrategy;

/// The finalizer that makes a CRD's deletion wait for its objects' deletion.
pub const CLEANUP_FINALIZER: &str = "customresourcecleanup.apiextensions.k8s.io";

/// One served version of a custom resource.
#[derive(Clone)]
pub struct Served {
    /// The CRD it comes from (`<plural>.<group>`).
    pub crd: String,
    /// Its row in the resource table.
    pub resource: &'static ResourceInfo,
    /// How its objects are validated, defaulted, pruned and printed.
    pub strategy: Arc<CustomResourceStrategy>,
    /// What the row was built from (the CRD's spec, accepted names and
    /// whether it is terminating): an unchanged CRD is not rebuilt.
    pub fingerprint: String,
}

fn served() -> &'static RwLock<Vec<Served>> {
    static SERVED: OnceLock<RwLock<Vec<Served>>> = OnceLock::new();
    SERVED.get_or_init(|| RwLock::new(Vec::new()))
}

fn read_served() -> std::sync::RwLockReadGuard<'static, Vec<Served>> {
    match served().read() {
        Ok(s) => s,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// Replaces the served versions of CRD `crd` with `versions` (none: the
/// kind is no longer served).
pub fn install(crd: &str, versions: Vec<Served>) {
    let mut s = match served().write() {
        Ok(s) => s,
        Err(poisoned) => poisoned.into_inner(),
    };
    s.retain(|v| v.crd != crd);
    s.extend(versions);
}

/// The CRDs currently served, by name.
pub fn served_crds() -> HashSet<String> {
    read_served().iter().map(|s| s.crd.clone()).collect()
}

/// The served version rows of one CRD.
pub fn served_of(crd: &str) -> Vec<Served> {
    read_served()
        .iter()
        .filter(|s| s.crd == crd)
        .cloned()
        .collect()
}

/// A string that lives as long as the server; each distinct string is
/// allocated once.
pub fn intern(s: &str) -> &'static str {
    static STRINGS: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    let mut set = match STRINGS.get_or_init(Default::default).lock() {
        Ok(s) => s,
        Err(poisoned) => poisoned.into_inner(),
    };
    if let Some(found) = set.get(s) {
        return found;
    }
    let leaked: &'static str = Box::leak(s.to_string().into_boxed_str());
    set.insert(leaked);
    leaked
}

/// A list of strings that lives as long as the server.
pub fn intern_list(items: &[String]) -> &'static [&'static str] {
    static LISTS: OnceLock<Mutex<HashMap<Vec<String>, &'static [&'static str]>>> = OnceLock::new();
    let mut lists = match LISTS.get_or_init(Default::default).lock() {
        Ok(l) => l,
        Err(poisoned) => poisoned.into_inner(),
    };
    if let Some(found) = lists.get(items) {
        return found;
    }
    let leaked: &'static [&'static str] = Box::leak(
        items
            .iter()
            .map(|s| intern(s))
            .collect::<Vec<_>>()
            .into_boxed_slice(),
    );
    lists.insert(items.to_vec(), leaked);
    leaked
}

/// A resource row that lives as long as the server; an unchanged row is
/// reused.
pub fn intern_resource(row: ResourceInfo) -> &'static ResourceInfo {
    static ROWS: OnceLock<Mutex<Vec<&'static ResourceInfo>>> = OnceLock::new();
    let mut rows = match ROWS.get_or_init(Default::default).lock() {
        Ok(r) => r,
        Err(poisoned) => poisoned.into_inner(),
    };
    if let Some(found) = rows.iter().find(|r| ***r == row) {
        return found;
    }
    let leaked: &'static ResourceInfo = Box::leak(Box::new(row));
    rows.push(leaked);
    leaked
}

/// Looks a resource up by group, version and plural (a URL's), built-in
/// first.
pub fn find(group: &str, version: &str, plural: &str) -> Option<&'static ResourceInfo> {
    resources::find(group, version, plural).or_else(|| {
        read_served()
            .iter()
            .find(|s| {
                s.resource.group == group
                    && s.resource.version == version
                    && s.resource.plural == plural
            })
            .map(|s| s.resource)
    })
}

/// Looks a resource up by `apiVersion` and `kind` (an object's), built-in
/// first.
pub fn find_by_kind(api_version: &str, kind: &str) -> Option<&'static ResourceInfo> {
    resources::find_by_kind(api_version, kind).or_else(|| {
        read_served()
            .iter()
            .find(|s| s.resource.kind == kind && s.resource.api_version() == api_version)
            .map(|s| s.resource)
    })
}

/// The custom strategy of a served custom resource.
pub fn custom_strategy(resource: &ResourceInfo) -> Option<Arc<CustomResourceStrategy>> {
    read_served()
        .iter()
        .find(|s| {
            s.resource.group == resource.group
                && s.resource.version == resource.version
                && s.resource.plural == resource.plural
        })
        .map(|s| Arc::clone(&s.strategy))
}

/// The strategy of a custom resource, as a [`Strategy`].
pub fn strategy_for(resource: &ResourceInfo) -> Option<Arc<dyn Strategy>> {
    custom_strategy(resource).map(|s| s as Arc<dyn Strategy>)
}

/// Upstream's version order: GA before beta before alpha, higher numbers
/// first, and anything that does not look like a Kubernetes version last,
/// alphabetically.
pub fn version_priority(a: &str, b: &str) -> std::cmp::Ordering {
    fn key(v: &str) -> (u8, i64, i64, String) {
        let parse = || -> Option<(u8, i64, i64)> {
            let rest = v.strip_prefix('v')?;
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            let major: i64 = digits.parse().ok()?;
            let tail = &rest[digits.len()..];
            if tail.is_empty() {
                return Some((0, -major, 0));
            }
            let (level, num) = if let Some(n) = tail.strip_prefix("beta") {
                (1, n)
            } else if let Some(n) = tail.strip_prefix("alpha") {
                (2, n)
            } else {
                return None;
            };
            let minor: i64 = num.parse().ok()?;
            Some((level, -major, -minor))
        };
        match parse() {
            Some((level, major, minor)) => (level, major, minor, String::new()),
            None => (3, 0, 0, v.to_string()),
        }
    }
    key(a).cmp(&key(b))
}

/// Every served API group with its versions (preferred first): the
/// built-in groups in their order, then the custom ones by name.
pub fn groups() -> Vec<(&'static str, Vec<&'static str>)> {
    let mut out = resources::groups();
    let mut custom: Vec<(&'static str, Vec<&'static str>)> = Vec::new();
    for s in read_served().iter() {
        let r = s.resource;
        let target = match out.iter_mut().find(|(g, _)| *g == r.group) {
            Some(found) => found,
            None => match custom.iter_mut().position(|(g, _)| *g == r.group) {
                Some(i) => &mut custom[i],
                None => {
                    custom.push((r.group, Vec::new()));
                    let last = custom.len() - 1;
                    &mut custom[last]
                }
            },
        };
        if !target.1.contains(&r.version) {
            target.1.push(r.version);
        }
    }
    for (_, versions) in custom.iter_mut() {
        versions.sort_by(|a, b| version_priority(a, b));
    }
    custom.sort_by(|a, b| a.0.cmp(b.0));
    out.extend(custom);
    out
}

/// Every served resource in one group/version, built-in ones first.
pub fn in_group_version(group: &str, version: &str) -> Vec<&'static ResourceInfo> {
    let mut out: Vec<&'static ResourceInfo> = resources::in_group_version(group, version).collect();
    let mut custom: Vec<&'static ResourceInfo> = read_served()
        .iter()
        .map(|s| s.resource)
        .filter(|r| r.group == group && r.version == version)
        .collect();
    custom.sort_by(|a, b| a.plural.cmp(b.plural));
    out.extend(custom);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_sort_as_upstream() {
        let mut v = vec!["v1alpha1", "v2", "foo", "v1beta2", "v1", "v1beta1", "v10"];
        v.sort_by(|a, b| version_priority(a, b));
        assert_eq!(
            v,
            vec!["v10", "v2", "v1", "v1beta2", "v1beta1", "v1alpha1", "foo"]
        );
    }

    #[test]
    fn interned_strings_and_rows_are_shared() {
        let a = intern("widgets.interning.test");
        let b = intern(&String::from("widgets.interning.test"));
        assert!(std::ptr::eq(a, b));
        let row = ResourceInfo::new("interning.test", "Widget", "widgets", "widget", true);
        assert!(std::ptr::eq(intern_resource(row), intern_resource(row)));
    }
}
