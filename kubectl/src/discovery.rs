//! Discovery: which resources the server serves, and how a name the user
//! typed (`po`, `pods`, `Pod`, `deployments.apps`, `deploy.v1.apps`) maps to
//! one of them.
//!
//! Like upstream, the answers of `/api`, `/apis` and every group version are
//! cached on disk under `~/.kube/cache/discovery/<host_port>/` (upstream's
//! layout: `servergroups.json` and `<group>/<version>/serverresources.json`)
//! for six hours, so a warm `kubectl get pods` makes one request. A name
//! that does not resolve against the cache refreshes it once before failing.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use futures::future::join_all;
use serde_json::{json, Value};

use crate::client::Rest;
use crate::error::{Error, Result};

/// How long cached discovery is trusted (upstream's default).
const CACHE_TTL: Duration = Duration::from_secs(6 * 3600);

/// One served resource.
#[derive(Debug, Clone, PartialEq)]
pub struct Resource {
    /// API group (`""` for core).
    pub group: String,
    /// Version.
    pub version: String,
    /// Plural name (`deployments`).
    pub plural: String,
    /// Singular name.
    pub singular: String,
    /// Kind (`Deployment`).
    pub kind: String,
    /// Namespaced or cluster-scoped.
    pub namespaced: bool,
    /// Short names (`deploy`).
    pub short_names: Vec<String>,
    /// Verbs.
    pub verbs: Vec<String>,
    /// Categories (`all`).
    pub categories: Vec<String>,
    /// Whether this is the group's preferred version.
    pub preferred: bool,
}

impl Resource {
    /// `apps/v1` or `v1`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `pods` or `deployments.apps` (how upstream names a resource in messages).
    pub fn group_resource(&self) -> String {
        if self.group.is_empty() {
            self.plural.clone()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// `pod` or `deployment.apps` (the prefix of `-o name` and multi-kind tables).
    pub fn kind_prefix(&self) -> String {
        let k = self.kind.to_lowercase();
        if self.group.is_empty() {
            k
        } else {
            format!("{k}.{}", self.group)
        }
    }

    /// The collection path, namespaced when the resource is and `ns` is given.
    pub fn path(&self, ns: Option<&str>) -> String {
        let base = if self.group.is_empty() {
            format!("/api/{}", self.version)
        } else {
            format!("/apis/{}/{}", self.group, self.version)
        };
        match ns {
            Some(ns) if self.namespaced => format!("{base}/namespaces/{ns}/{}", self.plural),
            _ => format!("{base}/{}", self.plural),
        }
    }

    /// The path of one object.
    pub fn object_path(&self, ns: Option<&str>, name: &str) -> String {
        format!("{}/{}", self.path(ns), name)
    }

    /// Whether the resource supports a verb.
    pub fn can(&self, verb: &str) -> bool {
        self.verbs.iter().any(|v| v == verb)
    }
}

/// Everything the server serves.
#[derive(Debug, Clone, Default)]
pub struct Discovery {
    /// Resources in server order (core first), preferred versions first per group.
    pub resources: Vec<Resource>,
    /// Every `group/version` (`v1` for core), in server order.
    pub group_versions: Vec<String>,
}

fn cache_dir(rest: &Rest) -> Option<PathBuf> {
    let cache = rest.cache_dir.clone()?;
    let host: String = rest
        .server
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    Some(cache.join("discovery").join(host))
}

fn read_fresh(path: &PathBuf) -> Option<Value> {
    let meta = std::fs::metadata(path).ok()?;
    let age = SystemTime::now()
        .duration_since(meta.modified().ok()?)
        .unwrap_or_default();
    if age > CACHE_TTL {
        return None;
    }
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

fn write_cache(path: &PathBuf, v: &Value) {
    // The cache is an optimisation: failing to write it is not an error.
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    if let Ok(bytes) = serde_json::to_vec(v) {
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        if std::fs::write(&tmp, bytes).is_ok() {
            let _ = std::fs::rename(&tmp, path);
        }
    }
}

impl Discovery {
    /// Loads discovery, from the disk cache when it is fresh.
    pub async fn load(rest: &Rest) -> Result<Discovery> {
        Discovery::load_with(rest, false).await
    }

    /// Loads discovery, bypassing the cache when `refresh`.
    pub async fn load_with(rest: &Rest, refresh: bool) -> Result<Discovery> {
        let dir = cache_dir(rest);
        let groups_path = dir.as_ref().map(|d| d.join("servergroups.json"));
        let cached = if refresh {
            None
        } else {
            groups_path.as_ref().and_then(read_fresh)
        };
        let groups = match cached {
            Some(g) => g,
            None => {
                let core = rest.get("/api").await?;
                let apis = rest.get("/apis").await?;
                // servergroups.json is an APIGroupList with the core group first.
                let mut list = vec![json!({
                    "name": "",
                    "versions": core["versions"].as_array().cloned().unwrap_or_default().iter()
                        .map(|v| json!({"groupVersion": v, "version": v})).collect::<Vec<_>>(),
                    "preferredVersion": {"groupVersion": "v1", "version": "v1"},
                })];
                list.extend(apis["groups"].as_array().cloned().unwrap_or_default());
                let g = json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": list});
                if let Some(p) = &groups_path {
                    write_cache(p, &g);
                }
                g
            }
        };
        let mut gvs = Vec::new();
        for g in groups["groups"].as_array().into_iter().flatten() {
            let name = g["name"].as_str().unwrap_or("").to_string();
            let preferred = g["preferredVersion"]["version"]
                .as_str()
                .unwrap_or("")
                .to_string();
            for v in g["versions"].as_array().into_iter().flatten() {
                let version = v["version"].as_str().unwrap_or("").to_string();
                let is_pref = version == preferred;
                gvs.push((name.clone(), version, is_pref));
            }
        }
        let fetches = gvs.iter().map(|(g, v, _)| {
            let dir = dir.clone();
            async move {
                let path = if g.is_empty() {
                    format!("/api/{v}")
                } else {
                    format!("/apis/{g}/{v}")
                };
                let file = dir.map(|d| {
                    d.join(if g.is_empty() { "v1" } else { g })
                        .join(if g.is_empty() { "" } else { v })
                        .join("serverresources.json")
                });
                if !refresh {
                    if let Some(v) = file.as_ref().and_then(read_fresh) {
                        return Ok::<Value, Error>(v);
                    }
                }
                let list = rest.get(&path).await?;
                if let Some(f) = &file {
                    write_cache(f, &list);
                }
                Ok(list)
            }
        });
        let lists = join_all(fetches).await;
        let mut d = Discovery::default();
        // Preferred versions first so a bare name resolves to them.
        let mut ordered: Vec<(Resource, usize)> = Vec::new();
        for (i, ((group, version, preferred), list)) in gvs.iter().zip(lists).enumerate() {
            let list = match list {
                Ok(l) => l,
                // A broken aggregated group must not break every command.
                Err(_) => continue,
            };
            d.group_versions.push(if group.is_empty() {
                version.clone()
            } else {
                format!("{group}/{version}")
            });
            for r in list["resources"].as_array().into_iter().flatten() {
                let strs = |k: &str| -> Vec<String> {
                    r[k].as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                };
                let plural = r["name"].as_str().unwrap_or("").to_string();
                let kind = r["kind"].as_str().unwrap_or("").to_string();
                let singular = match r["singularName"].as_str() {
                    Some(s) if !s.is_empty() => s.to_string(),
                    _ => kind.to_lowercase(),
                };
                let res = Resource {
                    group: group.clone(),
                    version: version.clone(),
                    plural,
                    singular,
                    kind,
                    namespaced: r["namespaced"].as_bool().unwrap_or(false),
                    short_names: strs("shortNames"),
                    verbs: strs("verbs"),
                    categories: strs("categories"),
                    preferred: *preferred,
                };
                ordered.push((res, if *preferred { i } else { i + 100_000 }));
            }
        }
        ordered.sort_by_key(|(_, k)| *k);
        d.resources = ordered.into_iter().map(|(r, _)| r).collect();
        Ok(d)
    }

    /// Resolves what the user typed to a served resource (no subresources).
    pub fn resolve(&self, typed: &str) -> Option<&Resource> {
        let typed_l = typed.to_lowercase();
        let whole = |r: &&Resource| {
            !r.plural.contains('/')
                && (r.plural == typed_l
                    || r.singular == typed_l
                    || r.kind.to_lowercase() == typed_l
                    || r.short_names.contains(&typed_l))
        };
        if let Some(r) = self.resources.iter().filter(|r| r.preferred).find(whole) {
            return Some(r);
        }
        // `resource.group` or `resource.version.group`.
        let (name, rest) = typed_l.split_once('.')?;
        let matches_name = |r: &Resource| {
            !r.plural.contains('/')
                && (r.plural == name
                    || r.singular == name
                    || r.kind.to_lowercase() == name
                    || r.short_names.iter().any(|s| s == name))
        };
        let by_group = self
            .resources
            .iter()
            .find(|r| r.preferred && r.group == rest && matches_name(r));
        if by_group.is_some() {
            return by_group;
        }
        if let Some((version, group)) = rest.split_once('.') {
            return self
                .resources
                .iter()
                .find(|r| r.group == group && r.version == version && matches_name(r));
        }
        // `pods.v1` style for the core group.
        self.resources
            .iter()
            .find(|r| r.group.is_empty() && r.version == rest && matches_name(r))
    }

    /// Resolves a kind from a manifest (`apiVersion` + `kind`).
    pub fn for_kind(&self, api_version: &str, kind: &str) -> Option<&Resource> {
        let (group, version) = match api_version.split_once('/') {
            Some((g, v)) => (g, v),
            None => ("", api_version),
        };
        self.resources.iter().find(|r| {
            r.group == group && r.version == version && r.kind == kind && !r.plural.contains('/')
        })
    }

    /// Resources in a category (`all`), preferred versions only.
    pub fn category(&self, cat: &str) -> Vec<&Resource> {
        self.resources
            .iter()
            .filter(|r| r.preferred && r.categories.iter().any(|c| c == cat))
            .collect()
    }
}

/// Discovery that refreshes once when a name is unknown (a new CRD, say).
pub struct Resolver<'a> {
    rest: &'a Rest,
    /// The loaded discovery.
    pub discovery: Discovery,
    refreshed: bool,
}

impl<'a> Resolver<'a> {
    /// Loads discovery (cached).
    pub async fn new(rest: &'a Rest) -> Result<Resolver<'a>> {
        Ok(Resolver {
            rest,
            discovery: Discovery::load(rest).await?,
            refreshed: false,
        })
    }

    /// Resolves a typed resource name, refreshing the cache once on a miss.
    pub async fn resolve(&mut self, typed: &str) -> Result<Resource> {
        if let Some(r) = self.discovery.resolve(typed) {
            return Ok(r.clone());
        }
        if !self.refreshed {
            self.discovery = Discovery::load_with(self.rest, true).await?;
            self.refreshed = true;
            if let Some(r) = self.discovery.resolve(typed) {
                return Ok(r.clone());
            }
        }
        Err(Error::Raw(format!(
            "error: the server doesn't have a resource type \"{typed}\""
        )))
    }

    /// Resolves a manifest's kind, refreshing once on a miss.
    pub async fn for_kind(&mut self, api_version: &str, kind: &str) -> Result<Resource> {
        if let Some(r) = self.discovery.for_kind(api_version, kind) {
            return Ok(r.clone());
        }
        if !self.refreshed {
            self.discovery = Discovery::load_with(self.rest, true).await?;
            self.refreshed = true;
            if let Some(r) = self.discovery.for_kind(api_version, kind) {
                return Ok(r.clone());
            }
        }
        let group = api_version.split_once('/').map(|(g, _)| g).unwrap_or("");
        let version = api_version.rsplit('/').next().unwrap_or(api_version);
        Err(Error::Raw(format!(
            "error: resource mapping not found for kind \"{kind}\" in version \"{group}/{version}\"\nensure CRDs are installed first"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(group: &str, plural: &str, kind: &str, short: &[&str]) -> Resource {
        Resource {
            group: group.into(),
            version: "v1".into(),
            plural: plural.into(),
            singular: kind.to_lowercase(),
            kind: kind.into(),
            namespaced: true,
            short_names: short.iter().map(|s| s.to_string()).collect(),
            verbs: vec![],
            categories: vec![],
            preferred: true,
        }
    }

    #[test]
    fn resolves_every_spelling() {
        let d = Discovery {
            resources: vec![
                res("", "pods", "Pod", &["po"]),
                res("", "pods/log", "Pod", &[]),
                res("apps", "deployments", "Deployment", &["deploy"]),
            ],
            group_versions: vec![],
        };
        for typed in ["pods", "pod", "po", "Pod", "pods.v1"] {
            assert_eq!(
                d.resolve(typed).map(|r| r.plural.as_str()),
                Some("pods"),
                "{typed}"
            );
        }
        for typed in [
            "deploy",
            "deployments.apps",
            "deployment.v1.apps",
            "Deployment",
        ] {
            assert_eq!(
                d.resolve(typed).map(|r| r.plural.as_str()),
                Some("deployments"),
                "{typed}"
            );
        }
        assert!(d.resolve("deployments.batch").is_none());
        assert_eq!(
            d.resolve("deploy").map(|r| r.kind_prefix()),
            Some("deployment.apps".into())
        );
    }
}
