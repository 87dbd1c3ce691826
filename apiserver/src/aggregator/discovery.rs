//! Discovery of aggregated group/versions: `/apis` lists the groups of the
//! APIServices that point at a Service beside the groups served here, and
//! aggregated discovery (apidiscovery v2) carries their resources as the
//! backend's own `/apis/G/V` listed them at the last availability check
//! ([`super::available`]), marked `Stale` while the backend is down.
//! Groups sort by `groupPriorityMinimum` and their versions by
//! `versionPriority` (then by Kubernetes version order), highest first.

use std::sync::Arc;

use serde_json::{json, Value};

/// One APIService as the availability controller last saw it.
#[derive(Debug, Clone)]
pub struct Registered {
    /// Its API group.
    pub group: String,
    /// Its version.
    pub version: String,
    /// `spec.groupPriorityMinimum`.
    pub group_priority: i64,
    /// `spec.versionPriority`.
    pub version_priority: i64,
    /// Whether a Service serves it (else it is Local).
    pub remote: bool,
    /// Whether it is Available.
    pub available: bool,
    /// The backend's `APIResourceList`, once read.
    pub resources: Option<Value>,
    /// The APIService itself.
    pub object: Arc<Value>,
}

impl Registered {
    /// What an APIService object says.
    pub fn of(obj: &Arc<Value>) -> Registered {
        let spec = &obj["spec"];
        Registered {
            group: spec["group"].as_str().unwrap_or("").to_string(),
            version: spec["version"].as_str().unwrap_or("").to_string(),
            group_priority: spec["groupPriorityMinimum"].as_i64().unwrap_or(0),
            version_priority: spec["versionPriority"].as_i64().unwrap_or(0),
            remote: super::ServiceRef::of(obj).is_some(),
            available: super::is_available(obj),
            resources: None,
            object: Arc::clone(obj),
        }
    }
}

/// Kubernetes' version order (`v2` > `v1` > `v1beta2` > `v1beta1` >
/// `v1alpha1` > anything else, which sorts by name) as a sort key,
/// highest first when sorted descending.
fn version_key(v: &str) -> (u8, u64, u64, std::cmp::Reverse<String>) {
    let kube = v.strip_prefix('v').and_then(|rest| {
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        let major: u64 = digits.parse().ok()?;
        let tail = &rest[digits.len()..];
        if tail.is_empty() {
            return Some((3, major, 0));
        }
        for (word, rank) in [("beta", 2), ("alpha", 1)] {
            if let Some(n) = tail.strip_prefix(word) {
                return Some((rank, major, n.parse().ok()?));
            }
        }
        None
    });
    match kube {
        Some((rank, major, minor)) => (rank, major, minor, std::cmp::Reverse(String::new())),
        None => (0, 0, 0, std::cmp::Reverse(v.to_string())),
    }
}

/// The remote groups with their versions, in priority order.
pub fn remote_groups(all: &[Registered]) -> Vec<(String, Vec<&Registered>)> {
    let mut groups: Vec<(String, Vec<&Registered>)> = Vec::new();
    for r in all.iter().filter(|r| r.remote) {
        match groups.iter_mut().find(|(g, _)| *g == r.group) {
            Some((_, vs)) => vs.push(r),
            None => groups.push((r.group.clone(), vec![r])),
        }
    }
    for (_, vs) in &mut groups {
        vs.sort_by(|a, b| {
            b.version_priority
                .cmp(&a.version_priority)
                .then_with(|| version_key(&b.version).cmp(&version_key(&a.version)))
        });
    }
    let top = |vs: &[&Registered]| vs.iter().map(|r| r.group_priority).max().unwrap_or(0);
    groups.sort_by(|(ga, a), (gb, b)| top(b).cmp(&top(a)).then_with(|| ga.cmp(gb)));
    groups
}

/// One aggregated group/version as `APIVersionDiscovery`: the backend's
/// resources in aggregated form.
pub fn version_discovery(r: &Registered) -> Option<Value> {
    let list = r.resources.as_ref()?;
    let entries = list["resources"].as_array().cloned().unwrap_or_default();
    let mut out: Vec<Value> = Vec::new();
    for e in entries.iter() {
        let name = e["name"].as_str().unwrap_or("");
        if name.contains('/') {
            continue;
        }
        let kind = |e: &Value| {
            json!({
                "group": e["group"].as_str().unwrap_or(&r.group),
                "version": e["version"].as_str().unwrap_or(&r.version),
                "kind": e["kind"],
            })
        };
        let mut d = json!({
            "resource": name,
            "responseKind": kind(e),
            "scope": if e["namespaced"] == true { "Namespaced" } else { "Cluster" },
            "singularResource": e["singularName"],
            "verbs": e["verbs"],
        });
        for (from, to) in [("shortNames", "shortNames"), ("categories", "categories")] {
            if e.get(from)
                .is_some_and(|v| v.as_array().is_some_and(|a| !a.is_empty()))
            {
                d[to] = e[from].clone();
            }
        }
        let prefix = format!("{name}/");
        let subs: Vec<Value> = entries
            .iter()
            .filter_map(|s| {
                let sub = s["name"].as_str()?.strip_prefix(&prefix)?;
                Some(json!({"subresource": sub, "responseKind": kind(s), "verbs": s["verbs"]}))
            })
            .collect();
        if !subs.is_empty() {
            d["subresources"] = json!(subs);
        }
        out.push(d);
    }
    Some(json!({
        "version": r.version,
        "resources": out,
        "freshness": if r.available { "Current" } else { "Stale" },
    }))
}

/// The aggregated discovery entries (`APIGroupDiscovery`) of the remote
/// groups, each with the versions whose backends were read at least once.
pub fn aggregated(all: &[Registered]) -> Vec<Value> {
    remote_groups(all)
        .into_iter()
        .filter_map(|(g, vs)| {
            let versions: Vec<Value> = vs.iter().filter_map(|r| version_discovery(r)).collect();
            (!versions.is_empty()).then(|| {
                json!({"metadata": {"name": g, "creationTimestamp": null}, "versions": versions})
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reg(group: &str, version: &str, gp: i64, vp: i64) -> Registered {
        Registered {
            group: group.into(),
            version: version.into(),
            group_priority: gp,
            version_priority: vp,
            remote: true,
            available: true,
            resources: None,
            object: Arc::new(Value::Null),
        }
    }

    #[test]
    fn groups_and_versions_sort_by_priority_then_version() {
        let all = vec![
            reg("b.example.com", "v1", 100, 10),
            reg("a.example.com", "v1alpha1", 2000, 10),
            reg("a.example.com", "v1", 2000, 10),
            reg("a.example.com", "v2beta1", 2000, 10),
            reg("a.example.com", "zz", 2000, 50),
        ];
        let groups = remote_groups(&all);
        let names: Vec<_> = groups.iter().map(|(g, _)| g.as_str()).collect();
        assert_eq!(names, ["a.example.com", "b.example.com"]);
        let versions: Vec<_> = groups[0].1.iter().map(|r| r.version.as_str()).collect();
        assert_eq!(versions, ["zz", "v1", "v2beta1", "v1alpha1"]);
    }

    #[test]
    fn a_resource_list_becomes_aggregated_discovery() {
        let mut r = reg("wardle.example.com", "v1alpha1", 2000, 200);
        r.resources = Some(json!({"resources": [
            {"name": "flunders", "singularName": "flunder", "namespaced": true, "kind": "Flunder",
             "verbs": ["get", "list"], "shortNames": ["fl"]},
            {"name": "flunders/status", "singularName": "", "namespaced": true, "kind": "Flunder", "verbs": ["get"]},
        ]}));
        let v = version_discovery(&r).unwrap_or_default();
        assert_eq!(v["resources"][0]["resource"], "flunders");
        assert_eq!(v["resources"][0]["scope"], "Namespaced");
        assert_eq!(
            v["resources"][0]["responseKind"]["group"],
            "wardle.example.com"
        );
        assert_eq!(v["resources"][0]["shortNames"][0], "fl");
        assert_eq!(
            v["resources"][0]["subresources"][0]["subresource"],
            "status"
        );
        assert_eq!(v["freshness"], "Current");
    }
}
