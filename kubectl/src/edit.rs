//! `kubectl edit TYPE NAME`: the object as YAML in `$KUBE_EDITOR` (else
//! `$EDITOR`, else `vi`), then a merge patch of what changed.

use http::Method;
use serde_json::Value;

use crate::apply::three_way;
use crate::client::Rest;
use crate::discovery::Resolver;
use crate::error::{Error, Result};
use crate::get::strip_managed_fields;
use crate::printers::yaml;
use crate::target;

const HEADER: &str = "# Please edit the object below. Lines beginning with a '#' will be ignored,
# and an empty file will abort the edit. If an error occurs while saving this file will be
# reopened with the relevant failures.
#
";

/// Runs `kubectl edit`.
pub async fn run(rest: &Rest, args: &[String]) -> Result<i32> {
    let mut resolver = Resolver::new(rest).await?;
    let parsed = target::parse(&mut resolver, args).await?;
    let mut errors = Vec::new();
    for t in parsed.targets {
        let r = t.resource;
        let ns = r.namespaced.then_some(rest.namespace.as_str());
        for name in t.names {
            let path = r.object_path(ns, &name);
            let mut original = match rest.get(&path).await {
                Ok(o) => o,
                Err(e) => {
                    errors.push(e);
                    continue;
                }
            };
            strip_managed_fields(&mut original);
            let file = std::env::temp_dir()
                .join(format!("kubectl-edit-{}-{name}.yaml", std::process::id()));
            std::fs::write(&file, format!("{HEADER}{}", yaml::to_string(&original)))?;
            let editor = std::env::var("KUBE_EDITOR")
                .or_else(|_| std::env::var("EDITOR"))
                .unwrap_or_else(|_| "vi".into());
            // Like upstream, the editor command is run by the shell.
            let status = std::process::Command::new("sh")
                .arg("-c")
                .arg(format!("{editor} \"$1\""))
                .arg("sh")
                .arg(&file)
                .status()?;
            let text = std::fs::read_to_string(&file)?;
            let _ = std::fs::remove_file(&file);
            if !status.success() {
                return Err(Error::usage(format!(
                    "there was a problem with the editor \"{editor}\""
                )));
            }
            let body: String = text
                .lines()
                .filter(|l| !l.trim_start().starts_with('#'))
                .collect::<Vec<_>>()
                .join("\n");
            if body.trim().is_empty() {
                eprintln!("Edit cancelled, saved file was empty.");
                continue;
            }
            let edited: Value = serde_yaml_ng::from_str(&body)
                .map_err(|e| Error::usage(format!("error parsing edited object: {e}")))?;
            let patch = three_way(&original, &edited, &original);
            if patch.is_empty() {
                eprintln!("Edit cancelled, no changes made.");
                continue;
            }
            match rest
                .call(
                    Method::PATCH,
                    &format!("{path}?fieldManager=kubectl-edit"),
                    Some("application/merge-patch+json"),
                    Some(serde_json::to_vec(&Value::Object(patch))?),
                )
                .await
            {
                Ok(_) => println!("{}/{name} edited", r.kind_prefix()),
                Err(e) => errors.push(e),
            }
        }
    }
    Ok(crate::error::report(errors))
}
