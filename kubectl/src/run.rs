//! `kubectl run NAME --image=IMAGE`: one Pod, labelled `run=NAME` like upstream's.

use http::Method;
use serde_json::{json, Map, Value};

use crate::apply::DryRun;
use crate::cli::RunArgs;
use crate::client::Rest;
use crate::discovery::Resolver;
use crate::error::{Error, Result};
use crate::get::{print_object, Output};

/// Runs `kubectl run`.
pub async fn run(rest: &Rest, a: RunArgs) -> Result<i32> {
    let dry = DryRun::parse(a.dry_run.as_deref())?;
    let mut labels = Map::new();
    match &a.labels {
        Some(l) => {
            for kv in l.split(',') {
                let (k, v) = kv
                    .split_once('=')
                    .ok_or_else(|| Error::usage(format!("invalid label spec: {kv}")))?;
                labels.insert(k.into(), json!(v));
            }
        }
        None => {
            labels.insert("run".into(), json!(a.name));
        }
    }
    let mut c = json!({"image": a.image, "name": a.name, "resources": {}});
    if !a.args.is_empty() {
        c[if a.command { "command" } else { "args" }] = json!(a.args);
    }
    if let Some(p) = a.port {
        c["ports"] = json!([{"containerPort": p}]);
    }
    if !a.env.is_empty() {
        let env: Vec<Value> = a
            .env
            .iter()
            .filter_map(|e| {
                e.split_once('=')
                    .map(|(k, v)| json!({"name": k, "value": v}))
            })
            .collect();
        c["env"] = json!(env);
    }
    let pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"creationTimestamp": null, "labels": labels, "name": a.name},
        "spec": {"containers": [c], "dnsPolicy": "ClusterFirst", "restartPolicy": a.restart},
        "status": {}
    });
    let mut resolver = Resolver::new(rest).await?;
    let r = resolver.for_kind("v1", "Pod").await?;
    let out = match dry {
        DryRun::Client => pod,
        _ => {
            let mut url = format!("{}?fieldManager=kubectl-run", r.path(Some(&rest.namespace)));
            if let Some(d) = dry.query() {
                url = format!("{url}&{d}");
            }
            rest.call(
                Method::POST,
                &url,
                Some("application/json"),
                Some(serde_json::to_vec(&pod)?),
            )
            .await?
        }
    };
    match a.output.as_deref() {
        Some(o) => print!("{}", print_object(&Output::parse(Some(o))?, &r, &out)),
        None => println!("pod/{} created{}", a.name, dry.suffix()),
    }
    Ok(0)
}
