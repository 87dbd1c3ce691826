//! `kubectl config`: view the merged kubeconfig (secrets redacted like
//! upstream), list contexts, and switch or edit contexts in the file that
//! owns them. Edits rewrite only the file they belong to, keeping the rest of
//! the chain of `KUBECONFIG` files untouched.

use std::path::PathBuf;

use serde_json::{json, Value};

use crate::cli::ConfigCommand;
use crate::error::{Error, Result};
use crate::kubeconfig::{self, entry, Flags};
use crate::printers::tabwriter::align;
use crate::printers::{json as pjson, yaml};

/// Runs a `kubectl config` subcommand.
pub fn run(flags: &Flags, cmd: ConfigCommand) -> Result<i32> {
    match cmd {
        ConfigCommand::View {
            minify,
            raw,
            output,
        } => view(flags, minify, raw, output.as_deref()),
        ConfigCommand::GetContexts {
            names,
            output,
            no_headers,
        } => get_contexts(flags, &names, output.as_deref(), no_headers),
        ConfigCommand::CurrentContext => {
            let merged = kubeconfig::merge(&kubeconfig::read_files(flags)?);
            match merged["current-context"].as_str() {
                Some(c) if !c.is_empty() => {
                    println!("{c}");
                    Ok(0)
                }
                _ => Err(Error::usage("current-context is not set")),
            }
        }
        ConfigCommand::UseContext { name } => use_context(flags, &name),
        ConfigCommand::SetContext { name, current } => set_context(
            flags,
            name,
            current,
            flags.namespace.clone(),
            flags.cluster.clone(),
            flags.user.clone(),
        ),
    }
}

fn view(flags: &Flags, minify: bool, raw: bool, output: Option<&str>) -> Result<i32> {
    let files = kubeconfig::read_files(flags)?;
    let mut merged = kubeconfig::merge(&files);
    if minify {
        let ctx = flags
            .context
            .clone()
            .or_else(|| merged["current-context"].as_str().map(str::to_string))
            .unwrap_or_default();
        if ctx.is_empty() {
            return Err(Error::usage(
                "current-context must exist in order to minify",
            ));
        }
        let c = entry(&merged, "contexts", &ctx)
            .cloned()
            .ok_or_else(|| Error::usage(format!("cannot locate context {ctx}")))?;
        let cluster = c["context"]["cluster"].as_str().unwrap_or("").to_string();
        let user = c["context"]["user"].as_str().unwrap_or("").to_string();
        let keep = |section: &str, name: &str| -> Value {
            entry(&merged, section, name)
                .cloned()
                .map(|e| json!([e]))
                .unwrap_or(json!([]))
        };
        let clusters = keep("clusters", &cluster);
        let users = keep("users", &user);
        merged["clusters"] = clusters;
        merged["users"] = users;
        merged["contexts"] = json!([c]);
        merged["current-context"] = json!(ctx);
    }
    normalize(&mut merged, raw);
    match output.unwrap_or("yaml") {
        "json" => print!("{}", ordered_json(&merged, 0)),
        "yaml" => print!("{}", yaml::to_string(&merged)),
        other => return Err(Error::usage(format!("unable to match a printer suitable for the output format \"{other}\", allowed formats are: json,yaml"))),
    }
    Ok(0)
}

/// Field order of upstream's typed kubeconfig structs (JSON output keeps it,
/// unlike YAML output, whose keys are sorted).
fn field_rank(key: &str) -> usize {
    const ORDER: &[&[&str]] = &[
        &["name", "kind", "server", "client-certificate"],
        &[
            "apiVersion",
            "cluster",
            "context",
            "tls-server-name",
            "client-certificate-data",
        ],
        &[
            "preferences",
            "user",
            "insecure-skip-tls-verify",
            "client-key",
        ],
        &[
            "clusters",
            "namespace",
            "certificate-authority",
            "client-key-data",
        ],
        &["users", "certificate-authority-data", "token"],
        &["contexts", "proxy-url", "tokenFile"],
        &["current-context", "disable-compression", "as"],
        &["as-uid"],
        &["as-groups"],
        &["as-user-extra"],
        &["username"],
        &["password"],
        &["auth-provider"],
        &["exec"],
    ];
    ORDER
        .iter()
        .position(|keys| keys.contains(&key))
        .unwrap_or(100)
}

/// Pretty JSON (four spaces, Go's escaping) with keys in [`field_rank`] order.
fn ordered_json(v: &Value, indent: usize) -> String {
    let pad = |n: usize| " ".repeat(n * 4);
    let mut out = match v {
        Value::Object(m) if !m.is_empty() => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort_by_key(|k| (field_rank(k), k.as_str()));
            let body: Vec<String> = keys
                .iter()
                .map(|k| {
                    format!(
                        "{}{}: {}",
                        pad(indent + 1),
                        pjson::to_string(&json!(k)).trim_end(),
                        ordered_json(&m[k.as_str()], indent + 1).trim_end()
                    )
                })
                .collect();
            format!("{{\n{}\n{}}}", body.join(",\n"), pad(indent))
        }
        Value::Array(a) if !a.is_empty() => {
            let body: Vec<String> = a
                .iter()
                .map(|x| {
                    format!(
                        "{}{}",
                        pad(indent + 1),
                        ordered_json(x, indent + 1).trim_end()
                    )
                })
                .collect();
            format!("[\n{}\n{}]", body.join(",\n"), pad(indent))
        }
        other => pjson::to_string(other).trim_end().to_string(),
    };
    if indent == 0 {
        out.push('\n');
    }
    out
}

/// The shape upstream's Config type serializes to, secrets redacted.
fn normalize(doc: &mut Value, raw: bool) {
    for section in ["clusters", "users", "contexts"] {
        let empty = doc[section].as_array().map(Vec::is_empty).unwrap_or(true);
        if empty {
            doc[section] = Value::Null;
        }
    }
    for c in doc["clusters"].as_array_mut().into_iter().flatten() {
        let cl = &mut c["cluster"];
        if !cl.is_object() {
            *cl = json!({});
        }
        if cl.get("server").is_none() {
            cl["server"] = json!("");
        }
        if !raw && cl.get("certificate-authority-data").is_some() {
            cl["certificate-authority-data"] = json!("DATA+OMITTED");
        }
    }
    for c in doc["contexts"].as_array_mut().into_iter().flatten() {
        let cx = &mut c["context"];
        if !cx.is_object() {
            *cx = json!({});
        }
        for k in ["cluster", "user"] {
            if cx.get(k).is_none() {
                cx[k] = json!("");
            }
        }
    }
    for u in doc["users"].as_array_mut().into_iter().flatten() {
        let us = &mut u["user"];
        if !us.is_object() {
            *us = json!({});
        }
        if raw {
            continue;
        }
        for k in ["client-certificate-data", "client-key-data"] {
            if us.get(k).is_some() {
                us[k] = json!("DATA+OMITTED");
            }
        }
        for k in ["token", "password"] {
            if us.get(k).is_some() {
                us[k] = json!("REDACTED");
            }
        }
    }
}

fn get_contexts(
    flags: &Flags,
    names: &[String],
    output: Option<&str>,
    no_headers: bool,
) -> Result<i32> {
    let merged = kubeconfig::merge(&kubeconfig::read_files(flags)?);
    let current = merged["current-context"].as_str().unwrap_or("").to_string();
    let mut contexts: Vec<&Value> = merged["contexts"]
        .as_array()
        .into_iter()
        .flatten()
        .collect();
    contexts.sort_by_key(|c| c["name"].as_str().unwrap_or("").to_string());
    let mut missing = Vec::new();
    if !names.is_empty() {
        for n in names {
            if !contexts
                .iter()
                .any(|c| c["name"].as_str() == Some(n.as_str()))
            {
                missing.push(n.clone());
            }
        }
        contexts.retain(|c| names.iter().any(|n| c["name"].as_str() == Some(n.as_str())));
    }
    if output == Some("name") {
        for c in &contexts {
            println!("{}", c["name"].as_str().unwrap_or(""));
        }
    } else {
        let mut rows = Vec::new();
        if !no_headers {
            rows.push(
                ["CURRENT", "NAME", "CLUSTER", "AUTHINFO", "NAMESPACE"]
                    .map(String::from)
                    .to_vec(),
            );
        }
        for c in &contexts {
            let name = c["name"].as_str().unwrap_or("");
            let s = |k: &str| c["context"][k].as_str().unwrap_or("").to_string();
            rows.push(vec![
                if name == current {
                    "*".into()
                } else {
                    String::new()
                },
                name.to_string(),
                s("cluster"),
                s("user"),
                s("namespace"),
            ]);
        }
        print!("{}", align(&rows));
    }
    if !missing.is_empty() {
        return Err(Error::usage(format!(
            "context {} not found",
            missing.join(", ")
        )));
    }
    Ok(0)
}

/// Raw files (paths not rewritten), for editing.
fn raw_files(flags: &Flags) -> Result<Vec<(PathBuf, Value)>> {
    let mut out = Vec::new();
    for path in kubeconfig::paths(flags) {
        let doc = match std::fs::read_to_string(&path) {
            Ok(t) if t.trim().is_empty() => json!({}),
            Ok(t) => serde_yaml_ng::from_str(&t).map_err(|e| {
                Error::usage(format!(
                    "error loading config file \"{}\": {e}",
                    path.display()
                ))
            })?,
            Err(_) => continue,
        };
        out.push((path, doc));
    }
    if out.is_empty() {
        if let Some(p) = kubeconfig::paths(flags).into_iter().next() {
            out.push((p, json!({"apiVersion": "v1", "kind": "Config"})));
        }
    }
    Ok(out)
}

fn write(path: &PathBuf, doc: &Value) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    // Upstream writes its typed Config, which always has preferences.
    let mut doc = doc.clone();
    if doc.get("preferences").is_none_or(Value::is_null) {
        doc["preferences"] = json!({});
    }
    std::fs::write(path, yaml::to_string(&doc))?;
    Ok(())
}

fn use_context(flags: &Flags, name: &str) -> Result<i32> {
    let mut files = raw_files(flags)?;
    let exists = files
        .iter()
        .any(|(_, d)| entry(d, "contexts", name).is_some());
    if !exists {
        return Err(Error::usage(format!(
            "no context exists with the name: \"{name}\""
        )));
    }
    // The file that already holds current-context, else the first one.
    let idx = files
        .iter()
        .position(|(_, d)| {
            d.get("current-context")
                .and_then(Value::as_str)
                .is_some_and(|s| !s.is_empty())
        })
        .unwrap_or(0);
    let (path, doc) = &mut files[idx];
    doc["current-context"] = json!(name);
    write(path, doc)?;
    println!("Switched to context \"{name}\".");
    Ok(0)
}

fn set_context(
    flags: &Flags,
    name: Option<String>,
    current: bool,
    namespace: Option<String>,
    cluster: Option<String>,
    user: Option<String>,
) -> Result<i32> {
    let mut files = raw_files(flags)?;
    let merged_current = files.iter().find_map(|(_, d)| {
        d.get("current-context")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    });
    let name = match (name, current) {
        (Some(_), true) => {
            return Err(Error::usage(
                "you cannot specify both a context name and --current",
            ))
        }
        (Some(n), false) => n,
        (None, true) => merged_current.ok_or_else(|| Error::usage("no current context is set"))?,
        (None, false) => {
            return Err(Error::usage(
                "you must specify a non-empty context name or --current",
            ))
        }
    };
    let idx = files
        .iter()
        .position(|(_, d)| entry(d, "contexts", &name).is_some());
    let created = idx.is_none();
    let idx = idx.unwrap_or(0);
    let (path, doc) = &mut files[idx];
    if !doc["contexts"].is_array() {
        doc["contexts"] = json!([]);
    }
    let list = doc["contexts"]
        .as_array_mut()
        .ok_or_else(|| Error::usage("contexts is not a list"))?;
    let pos = match list
        .iter()
        .position(|c| c["name"].as_str() == Some(name.as_str()))
    {
        Some(p) => p,
        None => {
            list.push(json!({"name": name, "context": {}}));
            list.len() - 1
        }
    };
    let ctx = &mut list[pos]["context"];
    if !ctx.is_object() {
        *ctx = json!({});
    }
    if let Some(n) = namespace {
        ctx["namespace"] = json!(n);
    }
    if let Some(c) = cluster {
        ctx["cluster"] = json!(c);
    }
    if let Some(u) = user {
        ctx["user"] = json!(u);
    }
    write(path, doc)?;
    println!(
        "Context \"{name}\" {}.",
        if created { "created" } else { "modified" }
    );
    Ok(0)
}
