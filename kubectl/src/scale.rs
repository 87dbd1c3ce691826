//! `kubectl scale`: sets `spec.replicas` through the `scale` subresource.

use http::Method;
use serde_json::json;

use crate::cli::ScaleArgs;
use crate::client::Rest;
use crate::discovery::Resolver;
use crate::error::{Error, Result};
use crate::target;

/// Runs `kubectl scale`.
pub async fn run(rest: &Rest, a: ScaleArgs) -> Result<i32> {
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
            let path = format!("{}/scale", r.object_path(ns.as_deref(), &name));
            if a.current_replicas >= 0 {
                match rest.get(&path).await {
                    Ok(s) if s["spec"]["replicas"].as_i64().unwrap_or(0) != a.current_replicas => {
                        errors.push(Error::usage(format!(
                            "Expected replicas to be {}, was {}",
                            a.current_replicas,
                            s["spec"]["replicas"].as_i64().unwrap_or(0)
                        )));
                        continue;
                    }
                    Ok(_) => {}
                    Err(e) => {
                        errors.push(e);
                        continue;
                    }
                }
            }
            let patch = json!({"spec": {"replicas": a.replicas}});
            match rest
                .call(
                    Method::PATCH,
                    &path,
                    Some("application/merge-patch+json"),
                    Some(serde_json::to_vec(&patch)?),
                )
                .await
            {
                Ok(_) => println!("{}/{name} scaled", r.kind_prefix()),
                // Upstream reports a missing target this way.
                Err(e) if e.is_not_found() => {
                    let msg = match &e {
                        Error::Api { status, .. } => {
                            status["message"].as_str().unwrap_or("").to_string()
                        }
                        other => other.render(),
                    };
                    errors.push(Error::usage(format!("no objects passed to scale {msg}")));
                }
                Err(e) => errors.push(e),
            }
        }
    }
    Ok(crate::error::report(errors))
}
