//! `kubectl label` and `kubectl annotate`: `key=value` sets, `key-` removes,
//! an existing different value needs `--overwrite`, exactly as upstream.

use http::Method;
use serde_json::{json, Map, Value};

use crate::apply::DryRun;
use crate::cli::MetaArgs;
use crate::client::{q, Rest};
use crate::discovery::Resolver;
use crate::error::{Error, Result};
use crate::get::{print_object, Output};
use crate::target;

/// Which metadata map is edited.
#[derive(Debug, Clone, Copy)]
pub enum Field {
    /// `metadata.labels`.
    Labels,
    /// `metadata.annotations`.
    Annotations,
}

impl Field {
    fn key(self) -> &'static str {
        match self {
            Field::Labels => "labels",
            Field::Annotations => "annotations",
        }
    }
    fn done(self) -> &'static str {
        match self {
            Field::Labels => "labeled",
            Field::Annotations => "annotated",
        }
    }
    fn not_done(self) -> &'static str {
        match self {
            Field::Labels => "not labeled",
            Field::Annotations => "not annotated",
        }
    }
}

/// Runs `kubectl label` / `kubectl annotate`.
pub async fn run(rest: &Rest, a: MetaArgs, field: Field) -> Result<i32> {
    let dry = DryRun::parse(a.dry_run.as_deref())?;
    let output = match a.output.as_deref() {
        None => None,
        o => Some(Output::parse(o)?),
    };
    // Split resource arguments from key=value / key- arguments.
    let is_change = |s: &str| s.contains('=') || (s.ends_with('-') && !s.contains('/'));
    let first_change = a
        .args
        .iter()
        .position(|s| is_change(s))
        .unwrap_or(a.args.len());
    let (res_args, changes) = a.args.split_at(first_change);
    if changes.is_empty() {
        return Err(Error::usage(format!(
            "at least one {} update is required",
            match field {
                Field::Labels => "label",
                Field::Annotations => "annotation",
            }
        )));
    }
    let mut set: Vec<(String, String)> = Vec::new();
    let mut remove: Vec<String> = Vec::new();
    for c in changes {
        if let Some((k, v)) = c.split_once('=') {
            set.push((k.to_string(), v.to_string()));
        } else if let Some(k) = c.strip_suffix('-') {
            remove.push(k.to_string());
        }
    }
    let mut resolver = Resolver::new(rest).await?;
    let parsed = target::parse(&mut resolver, res_args).await?;
    let mut errors = Vec::new();
    for t in parsed.targets {
        let r = t.resource;
        let ns = r.namespaced.then(|| rest.namespace.clone());
        let mut objects: Vec<Value> = Vec::new();
        if t.names.is_empty() {
            if a.selector.is_none() && !a.all {
                return Err(Error::usage(
                    "resource(s) were provided, but no name was specified",
                ));
            }
            let mut path = r.path(ns.as_deref());
            if let Some(l) = &a.selector {
                path = format!("{path}?labelSelector={}", q(l));
            }
            let list = rest.get(&path).await?;
            objects.extend(list["items"].as_array().cloned().unwrap_or_default());
        } else {
            for n in &t.names {
                match rest.get(&r.object_path(ns.as_deref(), n)).await {
                    Ok(o) => objects.push(o),
                    Err(e) => errors.push(e),
                }
            }
        }
        for obj in objects {
            let name = obj["metadata"]["name"].as_str().unwrap_or("").to_string();
            let current: Map<String, Value> = obj["metadata"][field.key()]
                .as_object()
                .cloned()
                .unwrap_or_default();
            let mut patch_map = Map::new();
            for (k, v) in &set {
                if let Some(old) = current.get(k).and_then(Value::as_str) {
                    if old != v && !a.overwrite {
                        return Err(Error::usage(format!(
                            "'{k}' already has a value ({old}), and --overwrite is false"
                        )));
                    }
                    if old == v {
                        continue;
                    }
                }
                patch_map.insert(k.clone(), json!(v));
            }
            for k in &remove {
                if current.contains_key(k) {
                    patch_map.insert(k.clone(), Value::Null);
                } else if matches!(field, Field::Labels) {
                    // Upstream notes a missing label (not annotation) on stdout.
                    println!("label \"{k}\" not found.");
                }
            }
            // Upstream's verdict: annotate always says "annotated"; label
            // says "not labeled" without a change, "unlabeled" when the
            // object got shorter (without --overwrite), else "labeled".
            let mut after_map = current.clone();
            for (k, v) in &patch_map {
                if v.is_null() {
                    after_map.remove(k);
                } else {
                    after_map.insert(k.clone(), v.clone());
                }
            }
            let verdict = match field {
                Field::Annotations => field.done(),
                Field::Labels if patch_map.is_empty() => field.not_done(),
                Field::Labels => {
                    let len = |m: &Map<String, Value>| {
                        serde_json::to_string(m).map(|s| s.len()).unwrap_or(0)
                    };
                    if !a.overwrite && len(&after_map) < len(&current) {
                        "unlabeled"
                    } else {
                        field.done()
                    }
                }
            };
            if patch_map.is_empty() {
                println!("{}/{name} {verdict}", r.kind_prefix());
                continue;
            }
            if dry == DryRun::Client {
                println!("{}/{name} {verdict}{}", r.kind_prefix(), dry.suffix());
                continue;
            }
            let patch = json!({"metadata": {field.key(): patch_map}});
            let mut url = format!(
                "{}?fieldManager=kubectl-{}",
                r.object_path(ns.as_deref(), &name),
                match field {
                    Field::Labels => "label",
                    Field::Annotations => "annotate",
                }
            );
            if let Some(d) = dry.query() {
                url = format!("{url}&{d}");
            }
            match rest
                .call(
                    Method::PATCH,
                    &url,
                    Some("application/merge-patch+json"),
                    Some(serde_json::to_vec(&patch)?),
                )
                .await
            {
                Ok(after) => match &output {
                    Some(o) => print!("{}", print_object(o, &r, &after)),
                    None => println!("{}/{name} {verdict}{}", r.kind_prefix(), dry.suffix()),
                },
                Err(e) => errors.push(e),
            }
        }
    }
    Ok(crate::error::report(errors))
}
