//! `kubectl expose TYPE NAME --port=P`: a Service selecting what the object selects.

use http::Method;
use serde_json::{json, Value};

use crate::apply::DryRun;
use crate::cli::ExposeArgs;
use crate::client::Rest;
use crate::discovery::Resolver;
use crate::error::{Error, Result};
use crate::get::{print_object, Output};
use crate::target;

/// Runs `kubectl expose`.
pub async fn run(rest: &Rest, a: ExposeArgs) -> Result<i32> {
    let dry = DryRun::parse(a.dry_run.as_deref())?;
    let mut resolver = Resolver::new(rest).await?;
    let parsed = target::parse(&mut resolver, &a.args).await?;
    let t = parsed
        .targets
        .first()
        .ok_or_else(|| Error::usage("You must provide the resource to expose"))?;
    let name = t
        .names
        .first()
        .ok_or_else(|| Error::usage("You must provide the name of the resource to expose"))?;
    let r = &t.resource;
    let obj = rest
        .get(&r.object_path(r.namespaced.then_some(rest.namespace.as_str()), name))
        .await?;
    let selector: Value = match r.kind.as_str() {
        "Pod" => obj["metadata"]["labels"].clone(),
        "Service" => obj["spec"]["selector"].clone(),
        _ => match obj["spec"]["selector"]["matchLabels"].as_object() {
            Some(m) => Value::Object(m.clone()),
            None => obj["spec"]["selector"].clone(),
        },
    };
    if !selector.is_object() {
        return Err(Error::usage(format!("couldn't retrieve selectors via --selector flag or introspection: the {} has no selector", r.kind)));
    }
    let port = match a.port {
        Some(p) => p,
        None => obj["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"]
            .as_i64()
            .or_else(|| obj["spec"]["containers"][0]["ports"][0]["containerPort"].as_i64())
            .ok_or_else(|| Error::usage("couldn't find port via --port flag or introspection"))?,
    };
    let target_port: Value = match &a.target_port {
        Some(tp) => tp.parse::<i64>().map(|n| json!(n)).unwrap_or(json!(tp)),
        None => json!(port),
    };
    let svc_name = a.name.clone().unwrap_or_else(|| name.clone());
    let mut svc = json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"creationTimestamp": null, "name": svc_name},
        "spec": {"ports": [{"port": port, "protocol": a.protocol, "targetPort": target_port}], "selector": selector},
        "status": {"loadBalancer": {}}
    });
    if let Some(l) = obj["metadata"]["labels"].as_object() {
        svc["metadata"]["labels"] = Value::Object(l.clone());
    }
    if let Some(ty) = &a.service_type {
        svc["spec"]["type"] = json!(ty);
    }
    let sr = resolver.for_kind("v1", "Service").await?;
    let out = match dry {
        DryRun::Client => svc,
        _ => {
            let mut url = format!(
                "{}?fieldManager=kubectl-expose",
                sr.path(Some(&rest.namespace))
            );
            if let Some(d) = dry.query() {
                url = format!("{url}&{d}");
            }
            rest.call(
                Method::POST,
                &url,
                Some("application/json"),
                Some(serde_json::to_vec(&svc)?),
            )
            .await?
        }
    };
    match a.output.as_deref() {
        Some(o) => print!("{}", print_object(&Output::parse(Some(o))?, &sr, &out)),
        None => println!("service/{svc_name} exposed{}", dry.suffix()),
    }
    Ok(0)
}
