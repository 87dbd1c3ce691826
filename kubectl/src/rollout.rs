//! `kubectl rollout status|history|undo|restart|pause|resume`: status
//! follows the workload's own conditions and counts (the messages upstream
//! prints for Deployments, DaemonSets and StatefulSets); history and undo
//! read a Deployment's ReplicaSets (their `deployment.kubernetes.io/revision`
//! annotations) or a DaemonSet's or StatefulSet's ControllerRevisions (their
//! `revision` numbers; undo sends the revision's patch back, as upstream).
//! Pause and resume are for Deployments only.

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

/// One revision of a workload's template.
struct Revision {
    number: i64,
    /// The pod template it restores.
    template: Value,
    /// Its `kubernetes.io/change-cause`.
    cause: Option<String>,
    /// A ControllerRevision's data: the strategic merge patch that restores
    /// it (`None` for a Deployment's ReplicaSet).
    patch: Option<Value>,
}

fn rollback_kind(r: &Resource) -> Result<()> {
    if matches!(r.kind.as_str(), "Deployment" | "DaemonSet" | "StatefulSet") {
        Ok(())
    } else {
        Err(Error::usage(format!(
            "no rollout support for kind {:?} (only Deployments, DaemonSets and StatefulSets)",
            r.kind
        )))
    }
}

/// The workload's revisions, oldest first.
async fn revisions(rest: &Rest, r: &Resource, ns: &str, obj: &Value) -> Result<Vec<Revision>> {
    if r.kind == "Deployment" {
        return Ok(owned_replicasets(rest, ns, obj)
            .await?
            .into_iter()
            .map(|(number, rs)| {
                let mut template = rs["spec"]["template"].clone();
                if let Some(m) = template["metadata"]["labels"].as_object_mut() {
                    m.remove("pod-template-hash");
                }
                Revision {
                    number,
                    template,
                    cause: rs["metadata"]["annotations"][CHANGE_CAUSE]
                        .as_str()
                        .map(str::to_string),
                    patch: None,
                }
            })
            .collect());
    }
    let list = owned(rest, ns, obj, "controllerrevisions").await?;
    let mut out: Vec<Revision> = list
        .into_iter()
        .map(|cr| {
            let mut template = cr["data"]["spec"]["template"].clone();
            if let Some(m) = template.as_object_mut() {
                m.remove("$patch");
            }
            Revision {
                number: cr["revision"].as_i64().unwrap_or(0),
                template,
                cause: cr["metadata"]["annotations"][CHANGE_CAUSE]
                    .as_str()
                    .map(str::to_string),
                patch: Some(cr["data"].clone()),
            }
        })
        .collect();
    out.sort_by_key(|r| r.number);
    Ok(out)
}

/// The apps/v1 objects of `plural` in `ns` that `owner` controls and its
/// `matchLabels` select.
async fn owned(rest: &Rest, ns: &str, owner: &Value, plural: &str) -> Result<Vec<Value>> {
    let uid = owner["metadata"]["uid"].as_str().unwrap_or("");
    let sel: Vec<String> = owner["spec"]["selector"]["matchLabels"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| v.as_str().map(|v| format!("{k}={v}")))
        .collect();
    let list = rest
        .get(&format!(
            "/apis/apps/v1/namespaces/{ns}/{plural}?labelSelector={}",
            q(&sel.join(","))
        ))
        .await?;
    Ok(list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|o| {
            o["metadata"]["ownerReferences"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|o| o["uid"] == uid && o["controller"] == true)
        })
        .cloned()
        .collect())
}

/// A template without the empty values clients write or leave out alike.
fn pruned(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), pruned(v)))
                .filter(|(_, v)| !is_empty(v))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(pruned).collect()),
        other => other.clone(),
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

/// Upstream's status message for a DaemonSet and whether it is done.
pub fn daemonset_status(d: &Value) -> Result<(String, bool)> {
    if d["spec"]["updateStrategy"]["type"]
        .as_str()
        .unwrap_or("RollingUpdate")
        != "RollingUpdate"
    {
        return Err(Error::usage(
            "rollout status is only available for RollingUpdate strategy type",
        ));
    }
    let name = d["metadata"]["name"].as_str().unwrap_or("");
    let st = &d["status"];
    if d["metadata"]["generation"].as_i64().unwrap_or(0)
        > st["observedGeneration"].as_i64().unwrap_or(0)
    {
        return Ok((
            "Waiting for daemon set spec update to be observed...".into(),
            false,
        ));
    }
    let desired = st["desiredNumberScheduled"].as_i64().unwrap_or(0);
    let updated = st["updatedNumberScheduled"].as_i64().unwrap_or(0);
    let available = st["numberAvailable"].as_i64().unwrap_or(0);
    if updated < desired {
        return Ok((format!("Waiting for daemon set {name:?} rollout to finish: {updated} out of {desired} new pods have been updated..."), false));
    }
    if available < desired {
        return Ok((format!("Waiting for daemon set {name:?} rollout to finish: {available} of {desired} updated pods are available..."), false));
    }
    Ok((format!("daemon set {name:?} successfully rolled out"), true))
}

/// Upstream's status message for a StatefulSet and whether it is done.
pub fn statefulset_status(s: &Value) -> Result<(String, bool)> {
    let strategy = &s["spec"]["updateStrategy"];
    if strategy["type"].as_str().unwrap_or("RollingUpdate") != "RollingUpdate" {
        return Err(Error::usage(
            "rollout status is only available for RollingUpdate strategy type",
        ));
    }
    let st = &s["status"];
    let observed = st["observedGeneration"].as_i64().unwrap_or(0);
    if observed == 0 || s["metadata"]["generation"].as_i64().unwrap_or(0) > observed {
        return Ok((
            "Waiting for statefulset spec update to be observed...".into(),
            false,
        ));
    }
    let replicas = s["spec"]["replicas"].as_i64().unwrap_or(1);
    let ready = st["readyReplicas"].as_i64().unwrap_or(0);
    if ready < replicas {
        return Ok((
            format!("Waiting for {} pods to be ready...", replicas - ready),
            false,
        ));
    }
    let updated = st["updatedReplicas"].as_i64().unwrap_or(0);
    // As upstream: any `rollingUpdate` (even partition 0) is reported as a
    // partitioned roll out.
    if strategy["rollingUpdate"].is_object() {
        if let Some(partition) = strategy["rollingUpdate"]["partition"].as_i64() {
            let want = replicas - partition;
            if updated < want {
                return Ok((format!("Waiting for partitioned roll out to finish: {updated} out of {want} new pods have been updated..."), false));
            }
        }
        return Ok((
            format!("partitioned roll out complete: {updated} new pods have been updated..."),
            true,
        ));
    }
    let update_rev = st["updateRevision"].as_str().unwrap_or("");
    let current_rev = st["currentRevision"].as_str().unwrap_or("");
    if update_rev != current_rev {
        return Ok((format!("waiting for statefulset rolling update to complete {updated} pods at revision {update_rev}..."), false));
    }
    let current = st["currentReplicas"].as_i64().unwrap_or(0);
    Ok((
        format!("statefulset rolling update complete {current} pods at revision {current_rev}..."),
        true,
    ))
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
    rollback_kind(r)?;
    let timeout = timeout.and_then(parse_duration).filter(|d| !d.is_zero());
    let start = Instant::now();
    let mut last = String::new();
    loop {
        let d = rest.get(&r.object_path(Some(ns), name)).await?;
        let (msg, done) = match r.kind.as_str() {
            "DaemonSet" => daemonset_status(&d)?,
            "StatefulSet" => statefulset_status(&d)?,
            _ => deployment_status(&d)?,
        };
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
    let mut out: Vec<(i64, Value)> = owned(rest, ns, d, "replicasets")
        .await?
        .into_iter()
        .map(|rs| {
            let rev = rs["metadata"]["annotations"][REVISION]
                .as_str()
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            (rev, rs)
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
    rollback_kind(r)?;
    let d = rest.get(&r.object_path(Some(ns), name)).await?;
    let sets = revisions(rest, r, ns, &d).await?;
    if let Some(rev) = revision {
        let Some(found) = sets.iter().find(|r| r.number == rev) else {
            return Err(Error::usage("unable to find the specified revision"));
        };
        println!("{}/{name} with revision #{rev}", r.kind_prefix());
        print!("{}", crate::describe::template_text(&found.template));
        return Ok(());
    }
    println!("{}/{name} ", r.kind_prefix());
    if sets.is_empty() {
        println!("No rollout history found.");
        return Ok(());
    }
    let mut rows = vec![vec!["REVISION".to_string(), "CHANGE-CAUSE".to_string()]];
    for rev in &sets {
        let cause = rev.cause.as_deref().unwrap_or("<none>");
        rows.push(vec![rev.number.to_string(), cause.to_string()]);
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
    rollback_kind(r)?;
    let d = rest.get(&r.object_path(Some(ns), name)).await?;
    let sets = revisions(rest, r, ns, &d).await?;
    let kind = r.kind.to_lowercase();
    if sets.is_empty() {
        return Err(Error::usage(format!(
            "no rollout history found for {kind} {name:?}"
        )));
    }
    let target = if to == 0 {
        // The previous revision: the highest one below the current.
        let current = sets.last().map(|r| r.number).unwrap_or(0);
        sets.iter().rev().find(|r| r.number < current)
    } else {
        sets.iter().find(|r| r.number == to)
    };
    let Some(target) = target else {
        return Err(Error::usage(if to == 0 {
            format!("no revision found for {kind}")
        } else {
            format!("unable to find specified revision {to} in history")
        }));
    };
    let same = match target.patch {
        None => target.template == d["spec"]["template"],
        Some(_) => pruned(&target.template) == pruned(&d["spec"]["template"]),
    };
    if same {
        println!(
            "{}/{name} skipped rollback (current template already matches revision {})",
            r.kind_prefix(),
            target.number
        );
        return Ok(());
    }
    let (content_type, patch) = match &target.patch {
        // A ControllerRevision's data is the patch that restores it.
        Some(p) => ("application/strategic-merge-patch+json", p.clone()),
        None => (
            "application/json-patch+json",
            json!([{"op": "replace", "path": "/spec/template", "value": target.template}]),
        ),
    };
    rest.call(
        Method::PATCH,
        &r.object_path(Some(ns), name),
        Some(content_type),
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
