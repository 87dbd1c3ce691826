//! `kubectl rollout status|history|undo|restart|pause|resume` for
//! Deployments: status follows the Deployment's own conditions and counts
//! (the messages upstream prints), history and undo read the ReplicaSets the
//! Deployment owns (their `deployment.kubernetes.io/revision` annotations).

use std::time::{Duration, Instant};

use http::Method;
use serde_json::{json, Value};

use crate::cli::RolloutCommand;
use crate::client::{q, Rest};
use crate::delete::parse_duration;
use crate::discovery::{Resolver, Resource};
use crate::error::{Error, Result};
use crate::target;

const REVISION: &str = "deployment.kubernetes.io/revision";
const CHANGE_CAUSE: &str = "kubernetes.io/change-cause";

/// Runs a rollout subcommand.
pub async fn run(rest: &Rest, cmd: RolloutCommand) -> Result<i32> {
    let args = match &cmd {
        RolloutCommand::Status { args, .. }
        | RolloutCommand::History { args, .. }
        | RolloutCommand::Undo { args, .. }
        | RolloutCommand::Restart { args }
        | RolloutCommand::Pause { args }
        | RolloutCommand::Resume { args } => args.clone(),
    };
    let mut resolver = Resolver::new(rest).await?;
    let parsed = target::parse(&mut resolver, &args).await?;
    let ns = rest.namespace.clone();
    let mut errors = Vec::new();
    for t in parsed.targets {
        if t.names.is_empty() {
            return Err(Error::usage("required resource not specified"));
        }
        for name in &t.names {
            let res = match &cmd {
                RolloutCommand::Status { watch, timeout, .. } => {
                    status(
                        rest,
                        &t.resource,
                        &ns,
                        name,
                        watch != "false",
                        timeout.as_deref(),
                    )
                    .await
                }
                RolloutCommand::History { revision, .. } => {
                    history(rest, &t.resource, &ns, name, *revision).await
                }
                RolloutCommand::Undo { to_revision, .. } => {
                    undo(rest, &t.resource, &ns, name, *to_revision).await
                }
                RolloutCommand::Restart { .. } => restart(rest, &t.resource, &ns, name).await,
                RolloutCommand::Pause { .. } => pause(rest, &t.resource, &ns, name, true).await,
                RolloutCommand::Resume { .. } => pause(rest, &t.resource, &ns, name, false).await,
            };
            if let Err(e) = res {
                errors.push(e);
            }
        }
    }
    Ok(crate::error::report(errors))
}

fn deployment_only(r: &Resource) -> Result<()> {
    if r.kind == "Deployment" {
        Ok(())
    } else {
        Err(Error::usage(format!(
            "no rollout support for kind {:?} (only Deployments)",
            r.kind
        )))
    }
}

/// Upstream's status message for a Deployment and whether it is done.
pub fn deployment_status(d: &Value) -> Result<(String, bool)> {
    let name = d["metadata"]["name"].as_str().unwrap_or("");
    let generation = d["metadata"]["generation"].as_i64().unwrap_or(0);
    let st = &d["status"];
    if generation > st["observedGeneration"].as_i64().unwrap_or(0) {
        return Ok((
            "Waiting for deployment spec update to be observed...".into(),
            false,
        ));
    }
    let progressing = st["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["type"] == "Progressing");
    if progressing.is_some_and(|c| c["reason"] == "ProgressDeadlineExceeded") {
        return Err(Error::usage(format!(
            "deployment {name:?} exceeded its progress deadline"
        )));
    }
    let want = d["spec"]["replicas"].as_i64().unwrap_or(1);
    let updated = st["updatedReplicas"].as_i64().unwrap_or(0);
    let replicas = st["replicas"].as_i64().unwrap_or(0);
    let available = st["availableReplicas"].as_i64().unwrap_or(0);
    if updated < want {
        return Ok((format!("Waiting for deployment {name:?} rollout to finish: {updated} out of {want} new replicas have been updated..."), false));
    }
    if replicas > updated {
        return Ok((format!("Waiting for deployment {name:?} rollout to finish: {} old replicas are pending termination...", replicas - updated), false));
    }
    if available < updated {
        return Ok((format!("Waiting for deployment {name:?} rollout to finish: {available} of {updated} updated replicas are available..."), false));
    }
    Ok((format!("deployment {name:?} successfully rolled out"), true))
}

async fn status(
    rest: &Rest,
    r: &Resource,
    ns: &str,
    name: &str,
    watch: bool,
    timeout: Option<&str>,
) -> Result<()> {
    deployment_only(r)?;
    let timeout = timeout.and_then(parse_duration).filter(|d| !d.is_zero());
    let start = Instant::now();
    let mut last = String::new();
    loop {
        let d = rest.get(&r.object_path(Some(ns), name)).await?;
        let (msg, done) = deployment_status(&d)?;
        if msg != last {
            println!("{msg}");
            last = msg;
        }
        if done || !watch {
            return Ok(());
        }
        if timeout.is_some_and(|t| start.elapsed() > t) {
            return Err(Error::usage("timed out waiting for the condition"));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The ReplicaSets a Deployment owns, with their revisions.
async fn owned_replicasets(rest: &Rest, ns: &str, d: &Value) -> Result<Vec<(i64, Value)>> {
    let uid = d["metadata"]["uid"].as_str().unwrap_or("");
    let sel: Vec<String> = d["spec"]["selector"]["matchLabels"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| v.as_str().map(|v| format!("{k}={v}")))
        .collect();
    let list = rest
        .get(&format!(
            "/apis/apps/v1/namespaces/{ns}/replicasets?labelSelector={}",
            q(&sel.join(","))
        ))
        .await?;
    let mut out: Vec<(i64, Value)> = list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|rs| {
            rs["metadata"]["ownerReferences"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|o| o["uid"] == uid && o["controller"] == true)
        })
        .map(|rs| {
            let rev = rs["metadata"]["annotations"][REVISION]
                .as_str()
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            (rev, rs.clone())
        })
        .collect();
    out.sort_by_key(|(rev, _)| *rev);
    Ok(out)
}

async fn history(
    rest: &Rest,
    r: &Resource,
    ns: &str,
    name: &str,
    revision: Option<i64>,
) -> Result<()> {
    deployment_only(r)?;
    let d = rest.get(&r.object_path(Some(ns), name)).await?;
    let sets = owned_replicasets(rest, ns, &d).await?;
    if let Some(rev) = revision {
        let Some((_, rs)) = sets.iter().find(|(r, _)| *r == rev) else {
            return Err(Error::usage("unable to find the specified revision"));
        };
        println!("{}/{name} with revision #{rev}", r.kind_prefix());
        let mut tpl = rs["spec"]["template"].clone();
        if let Some(m) = tpl["metadata"]["labels"].as_object_mut() {
            m.remove("pod-template-hash");
        }
        print!("{}", crate::describe::template_text(&tpl));
        return Ok(());
    }
    println!("{}/{name} ", r.kind_prefix());
    if sets.is_empty() {
        println!("No rollout history found.");
        return Ok(());
    }
    let mut rows = vec![vec!["REVISION".to_string(), "CHANGE-CAUSE".to_string()]];
    for (rev, rs) in &sets {
        let cause = rs["metadata"]["annotations"][CHANGE_CAUSE]
            .as_str()
            .unwrap_or("<none>");
        rows.push(vec![rev.to_string(), cause.to_string()]);
    }
    // Upstream's history table pads with two spaces.
    let width = rows.iter().map(|r| r[0].len()).max().unwrap_or(0) + 2;
    for row in rows {
        println!("{:<width$}{}", row[0], row[1]);
    }
    println!();
    Ok(())
}

async fn undo(rest: &Rest, r: &Resource, ns: &str, name: &str, to: i64) -> Result<()> {
    deployment_only(r)?;
    let d = rest.get(&r.object_path(Some(ns), name)).await?;
    let sets = owned_replicasets(rest, ns, &d).await?;
    if sets.is_empty() {
        return Err(Error::usage(format!(
            "no rollout history found for deployment {name:?}"
        )));
    }
    let target = if to == 0 {
        // The previous revision: the highest one below the current.
        let current = sets.last().map(|(r, _)| *r).unwrap_or(0);
        sets.iter().rev().find(|(r, _)| *r < current)
    } else {
        sets.iter().find(|(r, _)| *r == to)
    };
    let Some((rev, rs)) = target else {
        return Err(Error::usage(if to == 0 {
            "no revision found for deployment".to_string()
        } else {
            format!("unable to find specified revision {to} in history")
        }));
    };
    let mut tpl = rs["spec"]["template"].clone();
    if let Some(m) = tpl["metadata"]["labels"].as_object_mut() {
        m.remove("pod-template-hash");
    }
    if tpl == d["spec"]["template"] {
        println!(
            "{}/{name} skipped rollback (current template already matches revision {rev})",
            r.kind_prefix()
        );
        return Ok(());
    }
    let patch = json!([{"op": "replace", "path": "/spec/template", "value": tpl}]);
    rest.call(
        Method::PATCH,
        &r.object_path(Some(ns), name),
        Some("application/json-patch+json"),
        Some(serde_json::to_vec(&patch)?),
    )
    .await?;
    println!("{}/{name} rolled back", r.kind_prefix());
    Ok(())
}

async fn restart(rest: &Rest, r: &Resource, ns: &str, name: &str) -> Result<()> {
    let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let patch = json!({"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": now}}}}});
    rest.call(
        Method::PATCH,
        &format!(
            "{}?fieldManager=kubectl-rollout",
            r.object_path(Some(ns), name)
        ),
        Some("application/strategic-merge-patch+json"),
        Some(serde_json::to_vec(&patch)?),
    )
    .await?;
    println!("{}/{name} restarted", r.kind_prefix());
    Ok(())
}

async fn pause(rest: &Rest, r: &Resource, ns: &str, name: &str, paused: bool) -> Result<()> {
    deployment_only(r)?;
    let d = rest.get(&r.object_path(Some(ns), name)).await?;
    if d["spec"]["paused"].as_bool().unwrap_or(false) == paused {
        return Err(Error::usage(format!(
            "{} {name:?} is {}",
            r.group_resource(),
            if paused {
                "already paused"
            } else {
                "not paused"
            }
        )));
    }
    let patch = json!({"spec": {"paused": if paused { json!(true) } else { Value::Null }}});
    rest.call(
        Method::PATCH,
        &format!(
            "{}?fieldManager=kubectl-rollout",
            r.object_path(Some(ns), name)
        ),
        Some("application/merge-patch+json"),
        Some(serde_json::to_vec(&patch)?),
    )
    .await?;
    println!(
        "{}/{name} {}",
        r.kind_prefix(),
        if paused { "paused" } else { "resumed" }
    );
    Ok(())
}
