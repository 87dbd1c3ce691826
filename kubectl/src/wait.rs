//! `kubectl wait --for=condition=C[=V] | delete | jsonpath=EXPR=VALUE`.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::cli::WaitArgs;
use crate::client::{q, Rest};
use crate::delete::parse_duration;
use crate::discovery::Resolver;
use crate::error::{Error, Result};
use crate::printers::jsonpath::{relaxed, text, Template};
use crate::target;

enum Cond {
    Condition(String, String),
    Delete,
    JsonPath(Template, Option<String>),
}

fn met(c: &Cond, obj: &Value) -> bool {
    match c {
        Cond::Condition(ty, want) => obj["status"]["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|x| {
                x["type"]
                    .as_str()
                    .is_some_and(|t| t.eq_ignore_ascii_case(ty))
                    && x["status"]
                        .as_str()
                        .is_some_and(|s| s.eq_ignore_ascii_case(want))
            }),
        Cond::Delete => false,
        Cond::JsonPath(t, want) => {
            let vals = t.values(obj);
            match want {
                Some(w) => vals.first().is_some_and(|v| text(v) == *w),
                None => !vals.is_empty(),
            }
        }
    }
}

/// Runs `kubectl wait`.
pub async fn run(rest: &Rest, a: WaitArgs) -> Result<i32> {
    let cond = if let Some(c) = a.for_.strip_prefix("condition=") {
        match c.split_once('=') {
            Some((t, v)) => Cond::Condition(t.to_string(), v.to_string()),
            None => Cond::Condition(c.to_string(), "True".into()),
        }
    } else if a.for_ == "delete" {
        Cond::Delete
    } else if let Some(j) = a.for_.strip_prefix("jsonpath=") {
        let (expr, want) = match j.rfind('=') {
            Some(i)
                if !j[..i].ends_with('=') && j[..i].contains('}')
                    || !j.starts_with('{') && j.contains('=') =>
            {
                (j[..i].to_string(), Some(j[i + 1..].to_string()))
            }
            _ => (j.to_string(), None),
        };
        Cond::JsonPath(Template::parse(&relaxed(expr.trim_matches('\'')))?, want)
    } else {
        return Err(Error::usage(format!(
            "unrecognized condition: {:?}",
            a.for_
        )));
    };
    let timeout = parse_duration(&a.timeout).unwrap_or(Duration::from_secs(30));
    let mut resolver = Resolver::new(rest).await?;
    let parsed = target::parse(&mut resolver, &a.args).await?;
    let ns = rest.namespace.clone();
    let start = Instant::now();
    let mut errors = Vec::new();
    for t in parsed.targets {
        let r = t.resource;
        let rns = r.namespaced.then_some(ns.as_str());
        let mut names = t.names.clone();
        if names.is_empty() {
            let mut path = r.path(rns);
            if let Some(l) = &a.selector {
                path = format!("{path}?labelSelector={}", q(l));
            }
            let list = rest.get(&path).await?;
            names = list["items"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|o| o["metadata"]["name"].as_str().map(str::to_string))
                .collect();
            if names.is_empty() {
                return Err(Error::usage("no matching resources found"));
            }
        }
        for name in names {
            let mut seen = false;
            loop {
                match rest.get(&r.object_path(rns, &name)).await {
                    Err(e) if e.is_not_found() => {
                        if matches!(cond, Cond::Delete) {
                            // Upstream reports only a deletion it saw happen.
                            if seen {
                                println!("{}/{name} condition met", r.kind_prefix());
                            }
                        } else if start.elapsed() >= timeout {
                            errors.push(e);
                        } else {
                            tokio::time::sleep(Duration::from_millis(500)).await;
                            continue;
                        }
                        break;
                    }
                    Err(e) => {
                        errors.push(e);
                        break;
                    }
                    Ok(obj) => {
                        seen = true;
                        if met(&cond, &obj) {
                            println!("{}/{name} condition met", r.kind_prefix());
                            break;
                        }
                    }
                }
                if start.elapsed() >= timeout {
                    errors.push(Error::usage(format!(
                        "timed out waiting for the condition on {}/{name}",
                        r.plural
                    )));
                    break;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
    Ok(crate::error::report(errors))
}
