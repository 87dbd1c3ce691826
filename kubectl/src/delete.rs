//! `kubectl delete`: by name, `TYPE/NAME`, `-f`, `-l` or `--all`, with the
//! grace period and cascade passed as `DeleteOptions`, and (like upstream's
//! default `--wait`) returning only once the objects are gone.

use std::time::{Duration, Instant};

use http::Method;
use serde_json::{json, Value};

use crate::apply::DryRun;
use crate::cli::DeleteArgs;
use crate::client::{q, Rest};
use crate::discovery::{Resolver, Resource};
use crate::error::{Error, Result};
use crate::manifest;
use crate::target;

/// Runs `kubectl delete`.
pub async fn run(rest: &Rest, a: DeleteArgs) -> Result<i32> {
    let dry = DryRun::parse(a.dry_run.as_deref())?;
    let mut resolver = Resolver::new(rest).await?;
    // (resource, namespace, name)
    let mut victims: Vec<(Resource, Option<String>, String)> = Vec::new();
    let mut errors: Vec<Error> = Vec::new();
    if !a.filename.is_empty() {
        for mut doc in manifest::read(&a.filename, a.recursive)? {
            let r = resolver.for_kind(&doc.api_version, &doc.kind).await?;
            let ns = crate::apply::place(rest, &r, &mut doc)?;
            victims.push((r, ns, doc.name));
        }
    } else {
        if a.args.is_empty() {
            return Err(Error::Raw("error: You must provide one or more resources by argument or filename.\nExample resource specifications include:\n   '-f rsrc.yaml'\n   '--filename=rsrc.json'\n   '<resource> <name>'\n   '<resource>'".into()));
        }
        let parsed = target::parse(&mut resolver, &a.args).await?;
        for t in parsed.targets {
            let ns = if t.resource.namespaced {
                (!a.all_namespaces).then(|| rest.namespace.clone())
            } else {
                None
            };
            if t.names.is_empty() {
                if a.selector.is_none() && a.field_selector.is_none() && !a.all {
                    return Err(Error::usage(
                        "resource(s) were provided, but no name was specified",
                    ));
                }
                let mut qs = Vec::new();
                if let Some(l) = &a.selector {
                    qs.push(format!("labelSelector={}", q(l)));
                }
                if let Some(f) = &a.field_selector {
                    qs.push(format!("fieldSelector={}", q(f)));
                }
                let path = format!("{}?{}", t.resource.path(ns.as_deref()), qs.join("&"));
                let list = rest.get(&path).await?;
                for item in list["items"].as_array().into_iter().flatten() {
                    let name = item["metadata"]["name"].as_str().unwrap_or("").to_string();
                    let ins = item["metadata"]["namespace"].as_str().map(str::to_string);
                    victims.push((t.resource.clone(), ins, name));
                }
            } else {
                for n in t.names {
                    victims.push((t.resource.clone(), ns.clone(), n));
                }
            }
        }
        if victims.is_empty() {
            // Upstream says this on stdout for delete.
            println!("No resources found");
            return Ok(0);
        }
    }
    let mut body = serde_json::Map::new();
    body.insert("kind".into(), json!("DeleteOptions"));
    body.insert("apiVersion".into(), json!("v1"));
    let mut grace = a.grace_period;
    if a.force && grace < 0 {
        grace = 0;
    }
    if a.force && grace == 0 {
        eprintln!("Warning: Immediate deletion does not wait for confirmation that the running resource has been terminated. The resource may continue to run on the cluster indefinitely.");
    }
    if grace >= 0 {
        // Upstream turns 0 without --force into 1 (a graceful minimum).
        let g = if grace == 0 && !a.force { 1 } else { grace };
        body.insert("gracePeriodSeconds".into(), json!(g));
    }
    let policy = match a.cascade.as_deref() {
        None | Some("background") | Some("true") => "Background",
        Some("foreground") => "Foreground",
        Some("orphan") | Some("false") => "Orphan",
        Some(other) => {
            return Err(Error::usage(format!(
                "invalid cascade value ({other}). Must be \"background\", \"foreground\", or \"orphan\""
            )))
        }
    };
    body.insert("propagationPolicy".into(), json!(policy));
    if dry == DryRun::Server {
        body.insert("dryRun".into(), json!(["All"]));
    }
    let body = serde_json::to_vec(&Value::Object(body))?;
    let mut deleted = Vec::new();
    for (r, ns, name) in victims {
        let path = r.object_path(ns.as_deref(), &name);
        if dry == DryRun::Client {
            println!("{} \"{name}\" deleted{}", r.kind_prefix(), dry.suffix());
            continue;
        }
        match rest
            .call(
                Method::DELETE,
                &path,
                Some("application/json"),
                Some(body.clone()),
            )
            .await
        {
            Ok(obj) => {
                if a.output.as_deref() == Some("name") {
                    println!("{}/{name}", r.kind_prefix());
                } else {
                    println!("{} \"{name}\" deleted{}", r.kind_prefix(), dry.suffix());
                }
                let uid = obj["metadata"]["uid"].as_str().map(str::to_string);
                deleted.push((path, uid));
            }
            Err(e) if e.is_not_found() && a.ignore_not_found => {}
            Err(e) => errors.push(e),
        }
    }
    let wait = a.wait != "false" && dry == DryRun::None;
    if wait {
        let timeout = a
            .timeout
            .as_deref()
            .and_then(parse_duration)
            .unwrap_or(Duration::from_secs(24 * 3600));
        let start = Instant::now();
        for (path, uid) in deleted {
            loop {
                match rest.get(&path).await {
                    Err(e) if e.is_not_found() => break,
                    Ok(o) if uid.is_some() && o["metadata"]["uid"].as_str() != uid.as_deref() => {
                        break
                    }
                    Ok(_) => {}
                    Err(e) => {
                        errors.push(e);
                        break;
                    }
                }
                if start.elapsed() > timeout {
                    errors.push(Error::usage(format!(
                        "timed out waiting for the condition on {path}"
                    )));
                    break;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    Ok(crate::error::report(errors))
}

/// Parses `30s`, `2m`, `1h`, `500ms` (a bare number is seconds).
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let (num, unit) = s.split_at(
        s.find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(s.len()),
    );
    let n: f64 = num.parse().ok()?;
    let secs = match unit {
        "" | "s" => n,
        "ms" => n / 1000.0,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return None,
    };
    Some(Duration::from_secs_f64(secs))
}
