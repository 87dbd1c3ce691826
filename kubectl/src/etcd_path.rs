//! `kubectl etcd-path TYPE NAME`: where an object lives in etcd, and the
//! writes to it that etcd still keeps. Ours only.
//!
//! The apiserver is the only component that talks to etcd, and it keeps
//! every object under one key: `<prefix>/<resource>/<namespace>/<name>`
//! (`<prefix>/<resource>/<name>` for a cluster-scoped kind), where the
//! prefix is the apiserver's `--etcd-prefix` (`/registry` by default) and
//! the resource is the plural of a built-in kind, or `<group>/<plural>` for
//! a custom resource. An object's `resourceVersion` is etcd's revision of
//! the last write to that key.
//!
//! etcd is a multi-version store: until it compacts them, the older
//! revisions of a key are still there, and a watch from an old
//! `resourceVersion` replays them. This command does that for the one
//! object (a watch from revision 1, or from the compaction point when the
//! apiserver answers that older revisions are gone) and shows, per write,
//! its revision, the event, which field manager wrote it (the
//! `managedFields` entry that changed) and which fields changed.
//!
//! ```text
//! kubectl etcd-path pod web-7d4b9-x2x8q
//! kubectl etcd-path deployment/web
//! ```

use std::collections::BTreeSet;

use serde_json::Value;

use crate::cli::EtcdPathArgs;
use crate::client::{q, Rest};
use crate::discovery::{Resolver, Resource};
use crate::error::{Error, Result};

/// The apiserver's default `--etcd-prefix`.
const PREFIX: &str = "/registry";

/// Runs `kubectl etcd-path`.
pub async fn run(rest: &Rest, a: EtcdPathArgs) -> Result<i32> {
    let (typed, name) = crate::tree::kind_and_name(&a.args, "etcd-path")?;
    let mut resolver = Resolver::new(rest).await?;
    let r = resolver.resolve(&typed).await?;
    let ns = r.namespaced.then_some(rest.namespace.as_str());
    let obj = rest.get(&r.object_path(ns, &name)).await?;
    let custom = !r.group.is_empty()
        && rest
            .get(&format!(
                "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{}.{}",
                r.plural, r.group
            ))
            .await
            .is_ok();
    let key = key(&r, custom, ns, &name);
    let rv = obj["metadata"]["resourceVersion"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let (from, events) = history(rest, &r, ns, &name, &rv).await?;
    print!("{}", render(&key, &rv, from, &events));
    Ok(0)
}

/// The etcd key of an object (with the default prefix).
fn key(r: &Resource, custom: bool, ns: Option<&str>, name: &str) -> String {
    let resource = if custom {
        format!("{}/{}", r.group, r.plural)
    } else {
        r.plural.clone()
    };
    match ns {
        Some(ns) => format!("{PREFIX}/{resource}/{ns}/{name}"),
        None => format!("{PREFIX}/{resource}/{name}"),
    }
}

/// The object's events still in etcd's history: from revision 1, or from
/// the compaction point the apiserver names when older ones are gone.
/// Returns the revision the history starts after, and the events up to the
/// current `resourceVersion`.
async fn history(
    rest: &Rest,
    r: &Resource,
    ns: Option<&str>,
    name: &str,
    current: &str,
) -> Result<(u64, Vec<Value>)> {
    let mut from = 1u64;
    for _ in 0..3 {
        let path = format!(
            "{}?watch=1&fieldSelector={}&resourceVersion={from}&timeoutSeconds=5",
            r.path(ns),
            q(&format!("metadata.name={name}"))
        );
        let mut events = Vec::new();
        let read = crate::get::read_events(rest, &path, "application/json", |ev| {
            events.push(ev.clone());
            ev["object"]["metadata"]["resourceVersion"] != current
        })
        .await;
        match read {
            Ok(()) => return Ok((from, events)),
            // 410: "too old resource version: 1 (1234)": start at 1234.
            Err(Error::Api {
                code: 410, status, ..
            }) => {
                let msg = status["message"].as_str().unwrap_or_default();
                match compacted_at(msg) {
                    Some(rev) if rev > from => from = rev,
                    _ => return Err(Error::Raw(format!("error: {msg}"))),
                }
            }
            Err(e) => return Err(e),
        }
    }
    Err(Error::Raw(
        "error: etcd kept compacting while the history was read".into(),
    ))
}

/// The revision in `too old resource version: 1 (1234)`.
fn compacted_at(msg: &str) -> Option<u64> {
    let open = msg.rfind('(')?;
    msg[open + 1..].trim_end_matches(')').trim().parse().ok()
}

/// Which field manager wrote `now`: the `managedFields` entry that is new or
/// whose time moved since `before`.
fn writer(before: Option<&Value>, now: &Value) -> String {
    let entries = |o: &Value| -> Vec<Value> {
        o["metadata"]["managedFields"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    };
    let old = before.map(entries).unwrap_or_default();
    let id = |e: &Value| {
        (
            e["manager"].clone(),
            e["operation"].clone(),
            e["subresource"].clone(),
        )
    };
    entries(now)
        .into_iter()
        .filter(|e| !old.iter().any(|o| id(o) == id(e) && o["time"] == e["time"]))
        .max_by(|a, b| a["time"].as_str().cmp(&b["time"].as_str()))
        .map(|e| {
            let sub = e["subresource"]
                .as_str()
                .map(|s| format!(" /{s}"))
                .unwrap_or_default();
            format!(
                "{} ({}{sub})",
                e["manager"].as_str().unwrap_or("?"),
                e["operation"].as_str().unwrap_or("?")
            )
        })
        .unwrap_or_else(|| "-".into())
}

/// The fields that differ between two versions, as paths two levels deep
/// (`spec.nodeName`, `status.conditions`), bookkeeping left out.
fn changed(before: &Value, now: &Value) -> Vec<String> {
    let mut out = BTreeSet::new();
    diff(before, now, "", 0, &mut out);
    for skip in ["metadata.resourceVersion", "metadata.managedFields"] {
        out.remove(skip);
    }
    out.into_iter().collect()
}

fn diff(a: &Value, b: &Value, path: &str, depth: usize, out: &mut BTreeSet<String>) {
    if a == b {
        return;
    }
    match (a, b) {
        (Value::Object(x), Value::Object(y)) if depth < 2 => {
            let keys: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                diff(
                    x.get(k).unwrap_or(&Value::Null),
                    y.get(k).unwrap_or(&Value::Null),
                    &p,
                    depth + 1,
                    out,
                );
            }
        }
        _ => {
            out.insert(path.to_string());
        }
    }
}

fn render(key: &str, rv: &str, from: u64, events: &[Value]) -> String {
    let mut out = format!("Key:       {key}   (with the apiserver's default --etcd-prefix)\n");
    out.push_str(&format!(
        "Revision:  {rv}   (the object's resourceVersion: etcd's revision of its last write)\n"
    ));
    if from > 1 {
        out.push_str(&format!(
            "History:   the writes etcd still keeps; revisions up to {from} were compacted\n"
        ));
    } else {
        out.push_str("History:   every write to the key since the object was created\n");
    }
    let mut rows = vec![[
        "REVISION".to_string(),
        "EVENT".to_string(),
        "WRITTEN BY".to_string(),
        "CHANGED".to_string(),
    ]];
    let mut before: Option<&Value> = None;
    for ev in events {
        let obj = &ev["object"];
        let kind = ev["type"].as_str().unwrap_or_default();
        let what = match (kind, before) {
            ("ADDED", _) => "(created)".to_string(),
            ("DELETED", _) => "(deleted)".to_string(),
            (_, None) => "(the version before was compacted)".to_string(),
            (_, Some(b)) => {
                let c = changed(b, obj);
                if c.is_empty() {
                    "-".into()
                } else {
                    c.join(", ")
                }
            }
        };
        rows.push([
            obj["metadata"]["resourceVersion"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            kind.to_string(),
            writer(if kind == "ADDED" { None } else { before }, obj),
            what,
        ]);
        before = if kind == "DELETED" { None } else { Some(obj) };
    }
    out.push('\n');
    let rows: Vec<Vec<String>> = rows.into_iter().map(Vec::from).collect();
    out.push_str(&crate::printers::tabwriter::align(&rows));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn res(group: &str, plural: &str, namespaced: bool) -> Resource {
        Resource {
            group: group.into(),
            version: "v1".into(),
            plural: plural.into(),
            singular: String::new(),
            kind: String::new(),
            namespaced,
            short_names: vec![],
            verbs: vec![],
            categories: vec![],
            preferred: true,
        }
    }

    #[test]
    fn keys_of_built_in_custom_and_cluster_scoped_objects() {
        assert_eq!(
            key(&res("", "pods", true), false, Some("default"), "web"),
            "/registry/pods/default/web"
        );
        assert_eq!(
            key(&res("apps", "deployments", true), false, Some("a"), "web"),
            "/registry/deployments/a/web"
        );
        assert_eq!(
            key(
                &res("stable.example.com", "crontabs", true),
                true,
                Some("a"),
                "x"
            ),
            "/registry/stable.example.com/crontabs/a/x"
        );
        assert_eq!(
            key(&res("", "nodes", false), false, None, "n1"),
            "/registry/nodes/n1"
        );
    }

    #[test]
    fn compaction_point_from_the_410_message() {
        assert_eq!(
            compacted_at("too old resource version: 1 (1234)"),
            Some(1234)
        );
        assert_eq!(compacted_at("too old resource version: 1"), None);
    }

    #[test]
    fn each_write_with_its_manager_and_changed_fields() {
        let mf = |entries: Value| entries;
        let v1 = json!({"metadata": {"resourceVersion": "10", "labels": {"a": "1"},
            "managedFields": mf(json!([{"manager": "kubectl", "operation": "Update", "time": "t1"}]))},
            "spec": {"containers": [1]}});
        let v2 = json!({"metadata": {"resourceVersion": "12", "labels": {"a": "1"},
            "managedFields": mf(json!([{"manager": "kubectl", "operation": "Update", "time": "t1"},
                                       {"manager": "scheduler", "operation": "Update", "subresource": "binding", "time": "t2"}]))},
            "spec": {"containers": [1], "nodeName": "n1"}});
        let v3 = json!({"metadata": {"resourceVersion": "15", "labels": {"a": "1"},
            "managedFields": mf(json!([{"manager": "kubectl", "operation": "Update", "time": "t1"},
                                       {"manager": "scheduler", "operation": "Update", "subresource": "binding", "time": "t2"},
                                       {"manager": "kubelet", "operation": "Update", "subresource": "status", "time": "t3"}]))},
            "spec": {"containers": [1], "nodeName": "n1"},
            "status": {"phase": "Running", "podIP": "10.0.0.2"}});
        let events = vec![
            json!({"type": "ADDED", "object": v1}),
            json!({"type": "MODIFIED", "object": v2}),
            json!({"type": "MODIFIED", "object": v3}),
            json!({"type": "DELETED", "object": v3}),
        ];
        let out = render("/registry/pods/default/web", "15", 1, &events);
        let rows: Vec<&str> = out.lines().skip(4).collect();
        assert!(rows[0].starts_with("REVISION"), "{out}");
        assert!(
            rows[1].starts_with("10")
                && rows[1].contains("kubectl (Update)")
                && rows[1].ends_with("(created)"),
            "{out}"
        );
        assert!(
            rows[2].contains("scheduler (Update /binding)") && rows[2].ends_with("spec.nodeName"),
            "{out}"
        );
        assert!(
            rows[3].contains("kubelet (Update /status)") && rows[3].ends_with(" status"),
            "{out}"
        );
        assert!(
            rows[4].contains("DELETED") && rows[4].ends_with("(deleted)"),
            "{out}"
        );
        assert!(out.contains("every write to the key"), "{out}");
        let out = render("/registry/pods/default/web", "15", 14, &events[2..3]);
        assert!(out.contains("revisions up to 14 were compacted"), "{out}");
    }
}
