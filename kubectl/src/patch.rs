//! `kubectl patch` with the three patch formats the API knows.

use http::Method;
use serde_json::Value;

use crate::apply::DryRun;
use crate::cli::PatchArgs;
use crate::client::Rest;
use crate::discovery::Resolver;
use crate::error::{Error, Result};
use crate::get::{print_object, Output};
use crate::target;

/// Runs `kubectl patch`.
pub async fn run(rest: &Rest, a: PatchArgs) -> Result<i32> {
    let dry = DryRun::parse(a.dry_run.as_deref())?;
    let content_type = match a.patch_type.as_str() {
        "strategic" => "application/strategic-merge-patch+json",
        "merge" => "application/merge-patch+json",
        "json" => "application/json-patch+json",
        other => {
            return Err(Error::usage(format!(
                "--type must be one of [json merge strategic], not {other:?}"
            )))
        }
    };
    let patch_text = match (&a.patch, &a.patch_file) {
        (Some(p), _) => p.clone(),
        (None, Some(f)) => std::fs::read_to_string(f)?,
        (None, None) => {
            return Err(Error::usage(
                "must specify --patch or --patch-file containing the contents of the patch",
            ))
        }
    };
    // YAML is accepted like upstream; it is sent as JSON.
    let patch: Value = serde_yaml_ng::from_str(&patch_text)
        .map_err(|e| Error::usage(format!("unable to parse \"{patch_text}\": {e}")))?;
    let output = match a.output.as_deref() {
        None => None,
        o => Some(Output::parse(o)?),
    };
    let mut resolver = Resolver::new(rest).await?;
    let parsed = target::parse(&mut resolver, &a.args).await?;
    let mut errors = Vec::new();
    for t in parsed.targets {
        let r = t.resource;
        let ns = r.namespaced.then(|| rest.namespace.clone());
        if t.names.is_empty() {
            return Err(Error::usage(
                "resource(s) were provided, but no name was specified",
            ));
        }
        for name in t.names {
            let mut path = r.object_path(ns.as_deref(), &name);
            if let Some(s) = &a.subresource {
                path = format!("{path}/{s}");
            }
            let before = match rest.get(&path).await {
                Ok(b) => b,
                Err(e) => {
                    errors.push(e);
                    continue;
                }
            };
            if dry == DryRun::Client {
                println!("{}/{name} patched{}", r.kind_prefix(), dry.suffix());
                continue;
            }
            let mut url = format!("{path}?fieldManager=kubectl-patch");
            if let Some(d) = dry.query() {
                url = format!("{url}&{d}");
            }
            match rest
                .call(
                    Method::PATCH,
                    &url,
                    Some(content_type),
                    Some(serde_json::to_vec(&patch)?),
                )
                .await
            {
                Ok(after) => match &output {
                    Some(o) => print!("{}", print_object(o, &r, &after)),
                    None => {
                        let note = if after == before { " (no change)" } else { "" };
                        println!("{}/{name} patched{note}{}", r.kind_prefix(), dry.suffix());
                    }
                },
                Err(e) => errors.push(e),
            }
        }
    }
    Ok(crate::error::report(errors))
}
