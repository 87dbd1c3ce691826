//! Loading kubeconfig the way upstream does, and turning it plus the global
//! flags into a client configuration.
//!
//! The files come from `--kubeconfig`, else every file of `KUBECONFIG`
//! (colon-separated, missing ones skipped), else `~/.kube/config`. They are
//! merged like upstream: for clusters, users and contexts the first file that
//! names an entry wins, and the first non-empty `current-context` wins. The
//! merged document stays a JSON value so `config view` can print it as
//! upstream does; `kube` then builds the TLS/auth stack from it. `--server`,
//! `--token`, `--insecure-skip-tls-verify` and `--as` override the result.

use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value};

use crate::error::{Error, Result};

/// The global connection flags (upstream's names).
#[derive(Debug, Clone, Default)]
pub struct Flags {
    /// `--kubeconfig`.
    pub kubeconfig: Option<PathBuf>,
    /// `--context`.
    pub context: Option<String>,
    /// `--cluster`.
    pub cluster: Option<String>,
    /// `--user`.
    pub user: Option<String>,
    /// `-n/--namespace`.
    pub namespace: Option<String>,
    /// `-s/--server`.
    pub server: Option<String>,
    /// `--token`.
    pub token: Option<String>,
    /// `--insecure-skip-tls-verify`.
    pub insecure_skip_tls_verify: bool,
    /// `--as`.
    pub as_user: Option<String>,
    /// `--as-group`.
    pub as_group: Vec<String>,
    /// `--cache-dir` (default `~/.kube/cache`).
    pub cache_dir: Option<PathBuf>,
}

/// One kubeconfig file as read from disk.
#[derive(Debug, Clone)]
pub struct File {
    /// Where it was read from (and where edits go back).
    pub path: PathBuf,
    /// Its content (an empty config when the file does not exist yet).
    pub doc: Value,
}

/// The files upstream would read, in precedence order.
pub fn paths(flags: &Flags) -> Vec<PathBuf> {
    if let Some(p) = &flags.kubeconfig {
        return vec![p.clone()];
    }
    if let Ok(list) = std::env::var("KUBECONFIG") {
        let list: Vec<PathBuf> = list
            .split(':')
            .filter(|s| !s.is_empty())
            .map(PathBuf::from)
            .collect();
        if !list.is_empty() {
            return list;
        }
    }
    home_kube_dir()
        .map(|d| vec![d.join("config")])
        .unwrap_or_default()
}

/// `~/.kube`.
pub fn home_kube_dir() -> Option<PathBuf> {
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".kube"))
}

/// Reads the files (missing ones are skipped, except an explicit `--kubeconfig`).
pub fn read_files(flags: &Flags) -> Result<Vec<File>> {
    let mut out = Vec::new();
    for path in paths(flags) {
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let doc: Value = if text.trim().is_empty() {
                    json!({})
                } else {
                    serde_yaml_ng::from_str(&text).map_err(|e| {
                        Error::usage(format!(
                            "error loading config file \"{}\": {e}",
                            path.display()
                        ))
                    })?
                };
                let doc = absolutize(doc, path.parent().unwrap_or(Path::new(".")));
                out.push(File { path, doc });
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if flags.kubeconfig.is_some() {
                    return Err(Error::usage(format!(
                        "stat {}: no such file or directory",
                        path.display()
                    )));
                }
            }
            Err(e) => return Err(Error::usage(format!("{}: {e}", path.display()))),
        }
    }
    Ok(out)
}

/// File references in a kubeconfig are relative to the file itself.
fn absolutize(mut doc: Value, dir: &Path) -> Value {
    let fix = |v: &mut Value, keys: &[&str]| {
        for k in keys {
            if let Some(Value::String(s)) = v.get_mut(*k) {
                if !s.is_empty() && !Path::new(s.as_str()).is_absolute() {
                    *s = dir.join(&*s).display().to_string();
                }
            }
        }
    };
    if let Some(list) = doc.get_mut("clusters").and_then(Value::as_array_mut) {
        for c in list {
            if let Some(c) = c.get_mut("cluster") {
                fix(c, &["certificate-authority"]);
            }
        }
    }
    if let Some(list) = doc.get_mut("users").and_then(Value::as_array_mut) {
        for u in list {
            if let Some(u) = u.get_mut("user") {
                fix(u, &["client-certificate", "client-key", "tokenFile"]);
            }
        }
    }
    doc
}

/// Merges files with upstream's precedence (first definition wins).
pub fn merge(files: &[File]) -> Value {
    let mut merged = Map::new();
    let mut current = None;
    let mut preferences = None;
    for section in ["clusters", "users", "contexts"] {
        let mut seen = std::collections::BTreeSet::new();
        let mut entries = Vec::new();
        for f in files {
            for e in f
                .doc
                .get(section)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let name = e.get("name").and_then(Value::as_str).unwrap_or("");
                if seen.insert(name.to_string()) {
                    entries.push(e.clone());
                }
            }
        }
        merged.insert(section.into(), Value::Array(entries));
    }
    for f in files {
        if current.is_none() {
            current = f
                .doc
                .get("current-context")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_string);
        }
        if preferences.is_none() {
            preferences = f.doc.get("preferences").cloned();
        }
    }
    merged.insert("apiVersion".into(), json!("v1"));
    merged.insert("kind".into(), json!("Config"));
    merged.insert("current-context".into(), json!(current.unwrap_or_default()));
    merged.insert(
        "preferences".into(),
        preferences.filter(|p| !p.is_null()).unwrap_or(json!({})),
    );
    Value::Object(merged)
}

/// Finds a named entry (`clusters`, `users`, `contexts`).
pub fn entry<'a>(doc: &'a Value, section: &str, name: &str) -> Option<&'a Value> {
    doc.get(section)?
        .as_array()?
        .iter()
        .find(|e| e.get("name").and_then(Value::as_str) == Some(name))
}

/// What the client talks to, after flags were applied.
pub struct Resolved {
    /// The `kube` client configuration.
    pub config: kube::Config,
    /// The namespace commands default to.
    pub namespace: String,
    /// Whether `-n` was given explicitly.
    pub namespace_explicit: bool,
}

/// Builds the client configuration from kubeconfig and flags.
pub async fn resolve(flags: &Flags) -> Result<Resolved> {
    let files = read_files(flags)?;
    let merged = merge(&files);
    let context_name = flags.context.clone().unwrap_or_else(|| {
        merged["current-context"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    });
    let context = if context_name.is_empty() {
        None
    } else {
        match entry(&merged, "contexts", &context_name) {
            Some(c) => Some(c.get("context").cloned().unwrap_or(json!({}))),
            None if flags.context.is_some() => {
                return Err(Error::Raw(format!(
                    "Error in configuration: context was not found for specified context: {context_name}"
                )))
            }
            None => None,
        }
    };
    let ctx_str = |k: &str| {
        context
            .as_ref()
            .and_then(|c| c.get(k))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let cluster_name = flags.cluster.clone().or_else(|| ctx_str("cluster"));
    let user_name = flags.user.clone().or_else(|| ctx_str("user"));
    if let Some(c) = &flags.cluster {
        if entry(&merged, "clusters", c).is_none() {
            return Err(Error::usage(format!("no server found for cluster \"{c}\"")));
        }
    }
    if let Some(u) = &flags.user {
        if entry(&merged, "users", u).is_none() {
            return Err(Error::usage(format!("auth info \"{u}\" does not exist")));
        }
    }
    let cluster = cluster_name
        .as_deref()
        .and_then(|n| entry(&merged, "clusters", n))
        .and_then(|c| c.get("cluster"))
        .cloned()
        .unwrap_or(json!({}));
    let user = user_name
        .as_deref()
        .and_then(|n| entry(&merged, "users", n))
        .and_then(|u| u.get("user"))
        .cloned()
        .unwrap_or(json!({}));

    // One synthetic context holding exactly what was selected, so kube's
    // loader (certificates, tokens, exec plugins) sees upstream's choice.
    let mut cluster = cluster;
    if let Some(s) = &flags.server {
        cluster["server"] = json!(s);
    }
    if cluster
        .get("server")
        .and_then(Value::as_str)
        .unwrap_or("")
        .is_empty()
    {
        cluster["server"] = json!("http://localhost:8080");
    }
    // A server without a scheme (`-s localhost:8080`): HTTPS when the
    // cluster has TLS settings, else plain HTTP (client-go's
    // DefaultServerURL).
    let server = cluster["server"].as_str().unwrap_or("").to_string();
    if !server.contains("://") {
        let tls = [
            "certificate-authority",
            "certificate-authority-data",
            "insecure-skip-tls-verify",
        ]
        .iter()
        .any(|k| cluster.get(*k).is_some_and(|v| !v.is_null()))
            || flags.insecure_skip_tls_verify;
        let scheme = if tls { "https" } else { "http" };
        cluster["server"] = json!(format!("{scheme}://{server}"));
    }
    if flags.insecure_skip_tls_verify {
        cluster["insecure-skip-tls-verify"] = json!(true);
        if let Some(m) = cluster.as_object_mut() {
            m.remove("certificate-authority");
            m.remove("certificate-authority-data");
        }
    }
    let mut user = user;
    if let Some(t) = &flags.token {
        user = json!({"token": t});
    }
    let synthetic = json!({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "c", "cluster": cluster}],
        "users": [{"name": "u", "user": user}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "x",
    });
    let kc: kube::config::Kubeconfig = serde_json::from_value(synthetic)
        .map_err(|e| Error::usage(format!("invalid configuration: {e}")))?;
    let options = kube::config::KubeConfigOptions {
        context: Some("x".into()),
        cluster: None,
        user: None,
    };
    let mut config = kube::Config::from_custom_kubeconfig(kc, &options)
        .await
        .map_err(|e| Error::usage(format!("invalid configuration: {e}")))?;
    if let Some(a) = &flags.as_user {
        push_header(&mut config, "impersonate-user", a)?;
    }
    for g in &flags.as_group {
        push_header(&mut config, "impersonate-group", g)?;
    }
    // Upstream kubectl retries nothing on its own; neither do we.
    config.default_retry = false;
    let (namespace, explicit) = match &flags.namespace {
        Some(n) => (n.clone(), true),
        None => (
            ctx_str("namespace").unwrap_or_else(|| "default".into()),
            false,
        ),
    };
    Ok(Resolved {
        config,
        namespace,
        namespace_explicit: explicit,
    })
}

fn push_header(config: &mut kube::Config, name: &'static str, value: &str) -> Result<()> {
    let v = http::HeaderValue::from_str(value)
        .map_err(|e| Error::usage(format!("invalid --as value: {e}")))?;
    config
        .headers
        .push((http::HeaderName::from_static(name), v));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(doc: Value) -> File {
        File {
            path: PathBuf::from("/x"),
            doc,
        }
    }

    #[test]
    fn first_file_wins() {
        let a = file(
            json!({"current-context": "a", "clusters": [{"name": "c", "cluster": {"server": "http://a"}}]}),
        );
        let b = file(
            json!({"current-context": "b", "clusters": [{"name": "c", "cluster": {"server": "http://b"}}, {"name": "d", "cluster": {"server": "http://d"}}]}),
        );
        let m = merge(&[a, b]);
        assert_eq!(m["current-context"], "a");
        assert_eq!(m["clusters"].as_array().map(Vec::len), Some(2));
        assert_eq!(
            entry(&m, "clusters", "c").unwrap()["cluster"]["server"],
            "http://a"
        );
    }

    #[test]
    fn relative_paths_follow_the_file() {
        let doc = absolutize(
            json!({"users": [{"name": "u", "user": {"client-key": "k.pem"}}]}),
            Path::new("/etc/kube"),
        );
        assert_eq!(doc["users"][0]["user"]["client-key"], "/etc/kube/k.pem");
    }
}
