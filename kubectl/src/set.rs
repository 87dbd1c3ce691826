//! `kubectl set image TYPE/NAME CONTAINER=IMAGE...` (`*` for every container).

use http::Method;
use serde_json::{json, Value};

use crate::client::Rest;
use crate::discovery::Resolver;
use crate::error::{Error, Result};
use crate::target;

/// Runs `kubectl set image`.
pub async fn image(rest: &Rest, args: &[String]) -> Result<i32> {
    let split = args
        .iter()
        .position(|a| a.contains('='))
        .unwrap_or(args.len());
    let (res_args, pairs) = args.split_at(split);
    if pairs.is_empty() {
        return Err(Error::usage("at least one image update is required"));
    }
    let pairs: Vec<(String, String)> = pairs
        .iter()
        .filter_map(|p| {
            p.split_once('=')
                .map(|(c, i)| (c.to_string(), i.to_string()))
        })
        .collect();
    let mut resolver = Resolver::new(rest).await?;
    let parsed = target::parse(&mut resolver, res_args).await?;
    let ns = rest.namespace.clone();
    let mut errors = Vec::new();
    for t in parsed.targets {
        let r = t.resource;
        for name in t.names {
            let path = r.object_path(r.namespaced.then_some(ns.as_str()), &name);
            let obj = match rest.get(&path).await {
                Ok(o) => o,
                Err(e) => {
                    errors.push(e);
                    continue;
                }
            };
            // Pods carry the spec themselves; workloads in their template.
            let spec_path: &[&str] = if r.kind == "Pod" {
                &["spec"]
            } else {
                &["spec", "template", "spec"]
            };
            let mut spec = obj.clone();
            for p in spec_path {
                spec = spec[*p].clone();
            }
            let mut changed = false;
            let mut found_all = true;
            for (c, img) in &pairs {
                let mut found = false;
                for key in ["initContainers", "containers"] {
                    if let Some(list) = spec[key].as_array_mut() {
                        for ctr in list.iter_mut() {
                            if c == "*" || ctr["name"].as_str() == Some(c.as_str()) {
                                found = true;
                                if ctr["image"].as_str() != Some(img.as_str()) {
                                    ctr["image"] = json!(img);
                                    changed = true;
                                }
                            }
                        }
                    }
                }
                if !found {
                    errors.push(Error::usage(format!(
                        "unable to find container named {c:?}"
                    )));
                    found_all = false;
                }
            }
            if !found_all {
                continue;
            }
            if !changed {
                continue;
            }
            let mut inner = serde_json::Map::new();
            for key in ["initContainers", "containers"] {
                if !spec[key].is_null() {
                    inner.insert(key.to_string(), spec[key].clone());
                }
            }
            let mut patch = Value::Object(inner);
            for p in spec_path.iter().rev() {
                patch = json!({ *p: patch });
            }
            match rest
                .call(
                    Method::PATCH,
                    &format!("{path}?fieldManager=kubectl-set"),
                    Some("application/merge-patch+json"),
                    Some(serde_json::to_vec(&patch)?),
                )
                .await
            {
                Ok(_) => println!("{}/{name} image updated", r.kind_prefix()),
                Err(e) => errors.push(e),
            }
        }
    }
    Ok(crate::error::report(errors))
}
