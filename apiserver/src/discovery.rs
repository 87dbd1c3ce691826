//! Discovery: how clients learn what this server serves.
//!
//! kubectl starts every command by reading `/api` and `/apis` (which groups
//! and versions exist) and then `/api/v1` and `/apis/<group>/<version>` (the
//! resources in each: names, kinds, verbs, short names like `deploy`, and
//! categories like `all` for `kubectl get all`). Clients that can (kubectl,
//! client-go) ask `/api` and `/apis` for the *aggregated* form instead
//! (`Accept: application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList`):
//! every group, version and resource in one answer, so discovery costs two
//! requests instead of one per group version. All of it is generated from
//! the resource table in `apimachinery::resources`, plus the kinds of the
//! established CustomResourceDefinitions ([`crate::apiextensions`]), so
//! discovery changes as CRDs come and go, and from the APIServices that
//! hand a group/version to an extension apiserver
//! ([`crate::aggregator::discovery`]): those groups follow ours in `/apis`,
//! and their resources are what the extension server last listed.

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, Method, StatusCode};
use serde_json::{json, Value};

use crate::aggregator::discovery::Registered;
use crate::response::json;
use crate::ApiServer;

/// The Kubernetes version we speak (kubectl warns beyond one minor of skew).
pub const MAJOR: &str = "1";
/// Minor version.
pub const MINOR: &str = "32";

/// `GET /version`.
pub async fn version() -> Response {
    json(
        StatusCode::OK,
        &json!({
            "major": MAJOR,
            "minor": MINOR,
            "gitVersion": format!("v{MAJOR}.{MINOR}.0-minik8s.{}", env!("CARGO_PKG_VERSION")),
            "gitCommit": "",
            "gitTreeState": "clean",
            "buildDate": "",
            "goVersion": "rust",
            "compiler": "rustc",
            "platform": "linux/amd64",
        }),
    )
}

/// The media type of aggregated discovery, by version.
const AGGREGATED: [(&str, &str); 2] = [
    (
        "v2",
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList",
    ),
    (
        "v2beta1",
        "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList",
    ),
];

/// The aggregated discovery version the client accepts first (its Accept
/// header lists media types in its order of preference), if any.
fn aggregated_version(headers: &HeaderMap) -> Option<(&'static str, &'static str)> {
    let accept = headers.get(http::header::ACCEPT)?.to_str().ok()?;
    for media in accept.split(',') {
        let mut parts = media.split(';').map(str::trim);
        let base = parts.next().unwrap_or("");
        if base != "application/json" {
            continue;
        }
        let params: Vec<(&str, &str)> = parts.filter_map(|p| p.split_once('=')).collect();
        let param = |k: &str| params.iter().find(|(n, _)| *n == k).map(|(_, v)| *v);
        if param("g") != Some("apidiscovery.k8s.io") || param("as") != Some("APIGroupDiscoveryList")
        {
            continue;
        }
        if let Some(found) = AGGREGATED.iter().find(|(v, _)| Some(*v) == param("v")) {
            return Some(*found);
        }
    }
    None
}

/// One resource in aggregated form (an `APIResourceDiscovery`).
fn resource_discovery(r: &apimachinery::resources::ResourceInfo) -> Value {
    let kind = |g: &str, v: &str, k: &str| json!({"group": g, "version": v, "kind": k});
    let mut entry = json!({
        "resource": r.plural,
        "responseKind": kind(r.group, r.version, r.kind),
        "scope": if r.namespaced { "Namespaced" } else { "Cluster" },
        "singularResource": r.singular,
        "verbs": r.verbs,
    });
    if !r.short_names.is_empty() {
        entry["shortNames"] = json!(r.short_names);
    }
    if !r.categories.is_empty() {
        entry["categories"] = json!(r.categories);
    }
    let subs: Vec<Value> = r
        .subresources
        .iter()
        .map(|sub| {
            let (g, v, k) = sub.kind().unwrap_or((r.group, r.version, r.kind));
            json!({"subresource": sub.name(), "responseKind": kind(g, v, k), "verbs": sub.verbs()})
        })
        .collect();
    if !subs.is_empty() {
        entry["subresources"] = json!(subs);
    }
    entry
}

/// Whether an APIService hands `group/version` to another server.
fn is_remote(registered: &[Registered], group: &str, version: &str) -> bool {
    registered
        .iter()
        .any(|r| r.remote && r.group == group && r.version == version)
}

/// The groups served here with their versions, less those an APIService
/// hands to another server.
fn local_groups(registered: &[Registered]) -> Vec<(&'static str, Vec<&'static str>)> {
    crate::apiextensions::groups()
        .into_iter()
        .map(|(g, vs)| {
            let vs: Vec<&str> = vs
                .into_iter()
                .filter(|v| !is_remote(registered, g, v))
                .collect();
            (g, vs)
        })
        .filter(|(_, vs)| !vs.is_empty())
        .collect()
}

/// The `APIGroupDiscoveryList` of the core group (`core`) or of the named
/// groups, with `apiVersion` of the asked version.
fn aggregated(registered: &[Registered], core: bool, version: &str) -> Value {
    let mut items: Vec<Value> = local_groups(registered)
        .into_iter()
        .filter(|(g, _)| g.is_empty() == core)
        .map(|(g, versions)| {
            let versions: Vec<Value> = versions
                .iter()
                .map(|v| {
                    let resources: Vec<Value> = crate::apiextensions::in_group_version(g, v)
                        .into_iter()
                        .map(resource_discovery)
                        .collect();
                    json!({"version": v, "resources": resources, "freshness": "Current"})
                })
                .collect();
            let mut metadata = json!({"creationTimestamp": null});
            if !g.is_empty() {
                metadata["name"] = json!(g);
            }
            json!({"metadata": metadata, "versions": versions})
        })
        .collect();
    if !core {
        items.extend(crate::aggregator::discovery::aggregated(registered));
    }
    json!({
        "kind": "APIGroupDiscoveryList",
        "apiVersion": format!("apidiscovery.k8s.io/{version}"),
        "metadata": {},
        "items": items,
    })
}

/// The aggregated answer, when the client asked for it.
fn serve_aggregated(server: &ApiServer, headers: &HeaderMap, core: bool) -> Option<Response> {
    let (version, media_type) = aggregated_version(headers)?;
    let body = aggregated(&server.aggregator.registered(), core, version).to_string();
    Some(
        (
            StatusCode::OK,
            [
                (http::header::CONTENT_TYPE, media_type),
                (http::header::VARY, "Accept"),
            ],
            body,
        )
            .into_response(),
    )
}

/// `GET /api`.
pub async fn core_versions(State(s): State<Arc<ApiServer>>, headers: HeaderMap) -> Response {
    if let Some(resp) = serve_aggregated(&s, &headers, true) {
        return resp;
    }
    json(
        StatusCode::OK,
        &json!({
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": ""}],
        }),
    )
}

fn group_doc<S: AsRef<str>>(name: &str, versions: &[S]) -> Value {
    let vs: Vec<Value> = versions
        .iter()
        .map(|v| {
            let v = v.as_ref();
            json!({"groupVersion": format!("{name}/{v}"), "version": v})
        })
        .collect();
    json!({
        "name": name,
        "versions": vs,
        "preferredVersion": vs.first().cloned().unwrap_or(Value::Null),
    })
}

/// `GET /apis`.
pub async fn group_list(State(s): State<Arc<ApiServer>>, headers: HeaderMap) -> Response {
    if let Some(resp) = serve_aggregated(&s, &headers, false) {
        return resp;
    }
    let groups: Vec<Value> = all_groups(&s.aggregator.registered())
        .into_iter()
        .filter(|(g, _)| !g.is_empty())
        .map(|(g, vs)| group_doc(&g, &vs))
        .collect();
    json(
        StatusCode::OK,
        &json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}),
    )
}

/// Every group with its versions: ours, then those of APIServices with a
/// Service, in their priority order (a version of ours an APIService hands
/// elsewhere is listed with the others of its group).
fn all_groups(registered: &[Registered]) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = local_groups(registered)
        .into_iter()
        .map(|(g, vs)| (g.to_string(), vs.into_iter().map(String::from).collect()))
        .collect();
    for (g, remote) in crate::aggregator::discovery::remote_groups(registered) {
        let versions = remote.iter().map(|r| r.version.clone());
        match out.iter_mut().find(|(name, _)| *name == g) {
            Some((_, vs)) => vs.extend(versions),
            None => out.push((g, versions.collect())),
        }
    }
    out
}

/// The APIResourceList of one group/version.
pub fn resource_list(group: &str, version: &str) -> Option<Value> {
    let mut out = Vec::new();
    for r in crate::apiextensions::in_group_version(group, version) {
        let mut entry = json!({
            "name": r.plural,
            "singularName": r.singular,
            "namespaced": r.namespaced,
            "kind": r.kind,
            "verbs": r.verbs,
        });
        if !r.short_names.is_empty() {
            entry["shortNames"] = json!(r.short_names);
        }
        if !r.categories.is_empty() {
            entry["categories"] = json!(r.categories);
        }
        out.push(entry);
        for sub in r.subresources {
            let mut e = json!({
                "name": format!("{}/{}", r.plural, sub.name()),
                "singularName": "",
                "namespaced": r.namespaced,
                "kind": r.kind,
                "verbs": sub.verbs(),
            });
            if let Some((g, v, k)) = sub.kind() {
                e["kind"] = json!(k);
                if g != group || v != version {
                    e["group"] = json!(g);
                    e["version"] = json!(v);
                }
            }
            out.push(e);
        }
    }
    if out.is_empty() {
        return None;
    }
    let gv = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    Some(json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": gv,
        "resources": out,
    }))
}

/// Serves `/api/v1`, `/apis/<group>` and `/apis/<group>/<version>`; `None`
/// for any other path.
pub fn serve_path(server: &ApiServer, method: &Method, path: &str) -> Option<Response> {
    if method != Method::GET {
        return None;
    }
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    match parts.as_slice() {
        ["api", version] => Some(match resource_list("", version) {
            Some(doc) => json(StatusCode::OK, &doc),
            None => not_found(path),
        }),
        ["apis", group] => {
            let found = all_groups(&server.aggregator.registered())
                .into_iter()
                .find(|(g, _)| g == group);
            Some(match found {
                Some((g, vs)) => {
                    let mut doc = group_doc(&g, &vs);
                    doc["kind"] = json!("APIGroup");
                    doc["apiVersion"] = json!("v1");
                    json(StatusCode::OK, &doc)
                }
                None => not_found(path),
            })
        }
        ["apis", group, version] => Some(match resource_list(group, version) {
            Some(doc) => json(StatusCode::OK, &doc),
            None => not_found(path),
        }),
        _ => None,
    }
}

fn not_found(path: &str) -> Response {
    crate::errors::ApiError::NotFoundPath(format!(
        "the server could not find the requested resource ({path})"
    ))
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_list_has_pods_and_subresources() {
        let doc = resource_list("", "v1").unwrap_or_default();
        let names: Vec<&str> = doc["resources"]
            .as_array()
            .map(|a| a.iter().filter_map(|r| r["name"].as_str()).collect())
            .unwrap_or_default();
        assert!(names.contains(&"pods"));
        assert!(names.contains(&"pods/status"));
        let eviction = doc["resources"]
            .as_array()
            .and_then(|a| a.iter().find(|r| r["name"] == "pods/eviction"))
            .cloned()
            .unwrap_or_default();
        assert_eq!(eviction["group"], "policy");
        assert_eq!(eviction["kind"], "Eviction");
    }

    #[test]
    fn apps_scale_is_autoscaling() {
        let doc = resource_list("apps", "v1").unwrap_or_default();
        let scale = doc["resources"]
            .as_array()
            .and_then(|a| a.iter().find(|r| r["name"] == "deployments/scale"))
            .cloned()
            .unwrap_or_default();
        assert_eq!(scale["group"], "autoscaling");
        assert_eq!(scale["kind"], "Scale");
        assert!(resource_list("apps", "v2").is_none());
    }
}
