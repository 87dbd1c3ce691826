//! `kubectl tree KIND NAME`: an object and everything that hangs off it, as
//! a tree. Ours only (the `kubectl-tree` plugin's idea, built in).
//!
//! Ownership is what the garbage collector follows: every object names its
//! owners in `metadata.ownerReferences`, so a Deployment's ReplicaSets name
//! the Deployment and their Pods name the ReplicaSet. The tree is found the
//! other way round, the way the garbage collector's graph does it: list every
//! kind the server serves (in the object's namespace, or everywhere for a
//! cluster-scoped one) and link each object under the owners it names.
//!
//! One link is not ownership but is what a learner looks for under a
//! Service: an EndpointSlice's endpoints point at the Pods that serve it
//! (`endpoints[].targetRef`); those Pods are shown under the slice, marked
//! `(endpoint)`.
//!
//! ```text
//! NAMESPACE   NAME                          READY   REASON   AGE
//! default     Deployment/web                -                5m
//! default     └─ReplicaSet/web-7d4b9        -                5m
//! default       ├─Pod/web-7d4b9-x2x8q       True             5m
//! default       └─Pod/web-7d4b9-z9k2d       True             5m
//! ```

use std::collections::{BTreeMap, HashSet};

use futures::future::join_all;
use serde_json::Value;

use crate::cli::TreeArgs;
use crate::client::Rest;
use crate::discovery::{Resolver, Resource};
use crate::error::{Error, Result};

/// One object in the tree.
#[derive(Debug, Clone)]
struct Node {
    /// `Kind/name`.
    label: String,
    namespace: String,
    uid: String,
    ready: String,
    reason: String,
    created: String,
    /// Shown under an EndpointSlice: a Pod it points at, not one it owns.
    endpoint: bool,
}

/// Runs `kubectl tree`.
pub async fn run(rest: &Rest, a: TreeArgs) -> Result<i32> {
    let (typed, name) = kind_and_name(&a.args, "tree")?;
    let mut resolver = Resolver::new(rest).await?;
    let root_res = resolver.resolve(&typed).await?;
    let ns = rest.namespace.clone();
    let root = rest.get(&root_res.object_path(Some(&ns), &name)).await?;
    // A cluster-scoped owner (a Node, a ClusterRole) can own objects in any
    // namespace; a namespaced one only in its own.
    let scope = root_res.namespaced.then_some(ns.as_str());
    let kinds: Vec<&Resource> = preferred_listable(&resolver.discovery.resources);
    let paths: Vec<String> = kinds.iter().map(|r| r.path(scope)).collect();
    let lists = join_all(paths.iter().map(|p| rest.get(p))).await;
    let mut all = Vec::new();
    for (r, list) in kinds.iter().zip(lists) {
        // A kind we may not list (RBAC) or that fails is left out, not fatal:
        // the tree shows what the user can see.
        let Ok(list) = list else { continue };
        for item in list["items"].as_array().into_iter().flatten() {
            all.push((r.kind.clone(), item.clone()));
        }
    }
    print!("{}", render(&root_res.kind, &root, &all));
    Ok(0)
}

/// `KIND NAME` or `KIND/NAME`, for the commands that take one object.
pub(crate) fn kind_and_name(args: &[String], command: &str) -> Result<(String, String)> {
    let usage = || {
        Error::usage(format!(
            "you must specify a resource and a name: kubectl {command} KIND NAME (or KIND/NAME)"
        ))
    };
    match args {
        [one] => match one.split_once('/') {
            Some((k, n)) if !k.is_empty() && !n.is_empty() => Ok((k.to_string(), n.to_string())),
            _ => Err(usage()),
        },
        [k, n] => Ok((k.clone(), n.clone())),
        _ => Err(usage()),
    }
}

/// The preferred version of every kind that can be listed, once per kind
/// (a kind served by two groups, like Events, counts once per group).
fn preferred_listable(resources: &[Resource]) -> Vec<&Resource> {
    let mut seen = HashSet::new();
    resources
        .iter()
        .filter(|r| r.preferred && r.can("list") && !r.plural.contains('/'))
        // Events describe objects, they are not owned by them.
        .filter(|r| r.kind != "Event")
        .filter(|r| seen.insert((r.group.clone(), r.kind.clone())))
        .collect()
}

fn node(kind: &str, obj: &Value) -> Node {
    let meta = &obj["metadata"];
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let ready = obj["status"]["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == "Ready"));
    Node {
        label: format!("{kind}/{}", text(&meta["name"])),
        namespace: text(&meta["namespace"]),
        uid: text(&meta["uid"]),
        ready: ready
            .map(|c| text(&c["status"]))
            .unwrap_or_else(|| "-".into()),
        reason: ready.map(|c| text(&c["reason"])).unwrap_or_default(),
        created: text(&meta["creationTimestamp"]),
        endpoint: false,
    }
}

/// Builds and prints the tree under `root` from every listed object.
fn render(root_kind: &str, root: &Value, all: &[(String, Value)]) -> String {
    let mut children: BTreeMap<String, Vec<Node>> = BTreeMap::new();
    let mut pods_by_uid: BTreeMap<String, Node> = BTreeMap::new();
    for (kind, obj) in all {
        let n = node(kind, obj);
        if kind == "Pod" {
            pods_by_uid.insert(n.uid.clone(), n.clone());
        }
        for owner in obj["metadata"]["ownerReferences"]
            .as_array()
            .into_iter()
            .flatten()
        {
            if let Some(uid) = owner["uid"].as_str() {
                children.entry(uid.to_string()).or_default().push(n.clone());
            }
        }
    }
    // An EndpointSlice's endpoints, linked to the Pods they name.
    for (kind, obj) in all {
        if kind != "EndpointSlice" {
            continue;
        }
        let slice_uid = obj["metadata"]["uid"].as_str().unwrap_or_default();
        for ep in obj["endpoints"].as_array().into_iter().flatten() {
            let target = &ep["targetRef"];
            if target["kind"] != "Pod" {
                continue;
            }
            if let Some(pod) = target["uid"].as_str().and_then(|u| pods_by_uid.get(u)) {
                let mut pod = pod.clone();
                pod.endpoint = true;
                children.entry(slice_uid.to_string()).or_default().push(pod);
            }
        }
    }
    for list in children.values_mut() {
        list.sort_by(|a, b| a.label.cmp(&b.label));
    }
    let mut rows = vec![[
        "NAMESPACE".to_string(),
        "NAME".to_string(),
        "READY".to_string(),
        "REASON".to_string(),
        "AGE".to_string(),
    ]];
    let top = node(root_kind, root);
    let mut seen = HashSet::new();
    walk(&top, "", "", &children, &mut seen, &mut rows);
    let rows: Vec<Vec<String>> = rows.into_iter().map(Vec::from).collect();
    crate::printers::tabwriter::align(&rows)
}

/// Depth first; `seen` stops an ownership cycle (which the API allows).
fn walk(
    n: &Node,
    lead: &str,
    branch: &str,
    children: &BTreeMap<String, Vec<Node>>,
    seen: &mut HashSet<String>,
    rows: &mut Vec<[String; 5]>,
) {
    let mut label = format!("{lead}{branch}{}", n.label);
    if n.endpoint {
        label.push_str(" (endpoint)");
    }
    rows.push([
        if n.namespace.is_empty() {
            "-".into()
        } else {
            n.namespace.clone()
        },
        label,
        n.ready.clone(),
        n.reason.clone(),
        crate::describe::age(&n.created),
    ]);
    // A Pod under a slice is a reference: its own dependents belong under
    // its owner, not here.
    if n.endpoint || !seen.insert(n.uid.clone()) {
        return;
    }
    let kids = children.get(&n.uid).map(Vec::as_slice).unwrap_or_default();
    let next_lead = match branch {
        "" => lead.to_string(),
        "├─" => format!("{lead}│ "),
        _ => format!("{lead}  "),
    };
    for (i, k) in kids.iter().enumerate() {
        let b = if i + 1 == kids.len() {
            "└─"
        } else {
            "├─"
        };
        walk(k, &next_lead, b, children, seen, rows);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(
        kind: &str,
        name: &str,
        uid: &str,
        owner: Option<&str>,
        ready: Option<&str>,
    ) -> (String, Value) {
        let mut o = json!({
            "metadata": {"name": name, "namespace": "default", "uid": uid,
                         "creationTimestamp": "2020-01-01T00:00:00Z"},
        });
        if let Some(owner) = owner {
            o["metadata"]["ownerReferences"] = json!([{"uid": owner, "kind": "X", "name": "x"}]);
        }
        if let Some(r) = ready {
            o["status"] = json!({"conditions": [{"type": "Ready", "status": r, "reason": if r == "False" {"ContainersNotReady"} else {""}}]});
        }
        (kind.to_string(), o)
    }

    fn names(out: &str) -> Vec<String> {
        out.lines()
            .map(|l| {
                let cols: Vec<&str> = l.split("  ").filter(|c| !c.is_empty()).collect();
                cols[1].trim().to_string()
            })
            .collect()
    }

    #[test]
    fn deployment_replicasets_pods_and_a_service_with_its_endpoints() {
        let all = vec![
            obj("Deployment", "web", "d1", None, None),
            obj("ReplicaSet", "web-1", "rs1", Some("d1"), None),
            obj("ReplicaSet", "web-0", "rs0", Some("d1"), None),
            obj("Pod", "web-1-b", "p2", Some("rs1"), Some("False")),
            obj("Pod", "web-1-a", "p1", Some("rs1"), Some("True")),
            obj("Pod", "other", "p9", None, Some("True")),
            obj("Service", "web", "s1", None, None),
            {
                let (k, mut o) = obj("EndpointSlice", "web-abc", "e1", Some("s1"), None);
                o["endpoints"] = json!([
                    {"targetRef": {"kind": "Pod", "uid": "p1", "name": "web-1-a"}},
                    {"targetRef": {"kind": "Pod", "uid": "gone", "name": "gone"}},
                ]);
                (k, o)
            },
        ];
        let out = render("Deployment", &all[0].1, &all);
        assert_eq!(
            names(&out),
            [
                "NAME",
                "Deployment/web",
                "├─ReplicaSet/web-0",
                "└─ReplicaSet/web-1",
                "├─Pod/web-1-a",
                "└─Pod/web-1-b",
            ],
            "{out}"
        );
        assert!(
            out.lines()
                .nth(5)
                .is_some_and(|l| l.contains("False") && l.contains("ContainersNotReady")),
            "{out}"
        );
        assert!(
            out.contains("    └─Pod/web-1-b"),
            "nested under the second ReplicaSet: {out}"
        );

        let out = render("Service", &all[6].1, &all);
        assert_eq!(
            names(&out),
            [
                "NAME",
                "Service/web",
                "└─EndpointSlice/web-abc",
                "└─Pod/web-1-a (endpoint)"
            ],
            "{out}"
        );
    }

    #[test]
    fn an_ownership_cycle_ends() {
        let all = vec![
            obj("ConfigMap", "a", "a", Some("b"), None),
            obj("ConfigMap", "b", "b", Some("a"), None),
        ];
        let out = render("ConfigMap", &all[0].1, &all);
        assert_eq!(out.lines().count(), 4, "{out}");
    }

    #[test]
    fn one_kind_per_group_and_no_events() {
        let r = |group: &str, kind: &str, version: &str, preferred: bool| Resource {
            group: group.into(),
            version: version.into(),
            plural: format!("{}s", kind.to_lowercase()),
            singular: kind.to_lowercase(),
            kind: kind.into(),
            namespaced: true,
            short_names: vec![],
            verbs: vec!["list".into()],
            categories: vec![],
            preferred,
        };
        let all = vec![
            r("", "Pod", "v1", true),
            r("", "Event", "v1", true),
            r("autoscaling", "HorizontalPodAutoscaler", "v2", true),
            r("autoscaling", "HorizontalPodAutoscaler", "v1", false),
        ];
        let kinds: Vec<String> = preferred_listable(&all)
            .iter()
            .map(|r| format!("{}/{}", r.api_version(), r.kind))
            .collect();
        assert_eq!(kinds, ["v1/Pod", "autoscaling/v2/HorizontalPodAutoscaler"]);
    }
}
