//! `kubectl logs`: streams `pods/log` (following with `-f`), for a pod or
//! for the first pod a workload's selector matches.

use std::io::Write;

use futures::StreamExt;
use http::Method;
use serde_json::Value;

use crate::cli::LogsArgs;
use crate::client::{q, Rest};
use crate::discovery::Resolver;
use crate::error::{Error, Result};

/// Runs `kubectl logs`.
pub async fn run(rest: &Rest, a: LogsArgs) -> Result<i32> {
    let ns = rest.namespace.clone();
    let pod_name = match a.target.split_once('/') {
        None => a.target.clone(),
        Some((ty, name)) => {
            let mut resolver = Resolver::new(rest).await?;
            let r = resolver.resolve(ty).await?;
            if r.kind == "Pod" {
                name.to_string()
            } else {
                let obj = rest.get(&r.object_path(Some(&ns), name)).await?;
                first_pod(rest, &ns, &obj).await?
            }
        }
    };
    let pod = match rest
        .get(&format!("/api/v1/namespaces/{ns}/pods/{pod_name}"))
        .await
    {
        Ok(p) => p,
        // Upstream words a missing pod its own way here.
        Err(e) if e.is_not_found() => {
            return Err(Error::usage(format!(
                "error from server (NotFound): pods \"{pod_name}\" not found in namespace \"{ns}\""
            )))
        }
        Err(e) => return Err(e),
    };
    let names: Vec<String> = pod["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["name"].as_str().map(str::to_string))
        .collect();
    let container = match a.container.clone().or(a.container_arg.clone()) {
        Some(c) => c,
        None => {
            let default = pod["metadata"]["annotations"]["kubectl.kubernetes.io/default-container"]
                .as_str()
                .map(str::to_string);
            match default {
                Some(d) => d,
                None => {
                    let first = names.first().cloned().unwrap_or_default();
                    if names.len() > 1 {
                        eprintln!(
                            "Defaulted container \"{first}\" out of: {}",
                            names.join(", ")
                        );
                    }
                    first
                }
            }
        }
    };
    let mut qs = vec![format!("container={}", q(&container))];
    if a.follow {
        qs.push("follow=true".into());
    }
    if a.previous {
        qs.push("previous=true".into());
    }
    if a.tail >= 0 {
        qs.push(format!("tailLines={}", a.tail));
    }
    if a.timestamps {
        qs.push("timestamps=true".into());
    }
    if let Some(s) = &a.since {
        let d = crate::delete::parse_duration(s).ok_or_else(|| {
            Error::usage(format!("invalid argument \"{s}\" for \"--since\" flag"))
        })?;
        qs.push(format!("sinceSeconds={}", d.as_secs().max(1)));
    }
    let path = format!(
        "/api/v1/namespaces/{ns}/pods/{pod_name}/log?{}",
        qs.join("&")
    );
    let resp = rest
        .send(Method::GET, &path, &[("accept", "*/*")], None)
        .await?;
    let mut body = http_body_util::BodyStream::new(resp.into_body());
    let mut out = std::io::stdout();
    while let Some(frame) = body.next().await {
        let frame = frame.map_err(|e| rest.transport(e))?;
        if let Ok(data) = frame.into_data() {
            out.write_all(&data)?;
            out.flush()?;
        }
    }
    Ok(0)
}

/// The first pod matching a workload's selector (by name, like upstream's pick is stable).
async fn first_pod(rest: &Rest, ns: &str, obj: &Value) -> Result<String> {
    let sel = crate::target::pod_selector(obj)
        .ok_or_else(|| Error::usage("cannot find the pods of this object: it has no selector"))?;
    let mut names: Vec<String> = crate::target::selected_pods(rest, ns, sel)
        .await?
        .iter()
        .filter_map(|p| p["metadata"]["name"].as_str().map(str::to_string))
        .collect();
    names.sort();
    names
        .into_iter()
        .next()
        .ok_or_else(|| Error::usage("timed out waiting for the condition"))
}
