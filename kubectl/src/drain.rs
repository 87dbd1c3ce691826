//! `kubectl drain`: cordon the node, then evict its pods through the
//! Eviction API (so PodDisruptionBudgets apply), refusing like upstream when
//! DaemonSet pods, unmanaged pods or emptyDir data would be lost without
//! the flag that accepts it, and wait until the evicted pods are gone.

use std::time::{Duration, Instant};

use http::Method;
use serde_json::json;

use crate::cli::DrainArgs;
use crate::client::{q, Rest};
use crate::error::{Error, Result};

/// Runs `kubectl drain`.
pub async fn run(rest: &Rest, a: DrainArgs) -> Result<i32> {
    crate::cordon::set(rest, &a.node, true).await?;
    let pods = rest
        .get(&format!(
            "/api/v1/pods?fieldSelector={}",
            q(&format!("spec.nodeName={}", a.node))
        ))
        .await?;
    let mut evict = Vec::new();
    let mut ignored_ds = Vec::new();
    let mut problems = Vec::new();
    for p in pods["items"].as_array().into_iter().flatten() {
        let ns = p["metadata"]["namespace"]
            .as_str()
            .unwrap_or("")
            .to_string();
        let name = p["metadata"]["name"].as_str().unwrap_or("").to_string();
        let phase = p["status"]["phase"].as_str().unwrap_or("");
        if p["metadata"]["annotations"]["kubernetes.io/config.mirror"].is_string() {
            continue;
        }
        let owner = p["metadata"]["ownerReferences"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|o| o["controller"] == true)
            .cloned();
        let finished = phase == "Succeeded" || phase == "Failed";
        if owner.as_ref().is_some_and(|o| o["kind"] == "DaemonSet") {
            if a.ignore_daemonsets {
                ignored_ds.push(format!("{ns}/{name}"));
            } else {
                problems.push((
                    "cannot delete DaemonSet-managed Pods (use --ignore-daemonsets to ignore)",
                    format!("{ns}/{name}"),
                ));
            }
            continue;
        }
        if owner.is_none() && !finished && !a.force {
            problems.push((
                "cannot delete Pods that declare no controller (use --force to override)",
                format!("{ns}/{name}"),
            ));
            continue;
        }
        let empty_dir = p["spec"]["volumes"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|v| v["emptyDir"].is_object());
        if empty_dir && !finished && !a.delete_emptydir_data {
            problems.push((
                "cannot delete Pods with local storage (use --delete-emptydir-data to override)",
                format!("{ns}/{name}"),
            ));
            continue;
        }
        evict.push((
            ns,
            name,
            p["metadata"]["uid"].as_str().unwrap_or("").to_string(),
        ));
    }
    if !problems.is_empty() {
        let mut by_reason: Vec<(&str, Vec<String>)> = Vec::new();
        for (reason, pod) in problems {
            match by_reason.iter_mut().find(|(r, _)| *r == reason) {
                Some((_, list)) => list.push(pod),
                None => by_reason.push((reason, vec![pod])),
            }
        }
        let text: Vec<String> = by_reason
            .iter()
            .map(|(r, pods)| format!("{r}: {}", pods.join(", ")))
            .collect();
        return Err(Error::Raw(format!(
            "error: unable to drain node {:?} due to error: {}, continuing command...\nThere are pending nodes to be drained:\n {}\nerror: {}",
            a.node,
            text.join(", "),
            a.node,
            text.join(", ")
        )));
    }
    if !ignored_ds.is_empty() {
        eprintln!(
            "Warning: ignoring DaemonSet-managed Pods: {}",
            ignored_ds.join(", ")
        );
    }
    for (ns, name, _) in &evict {
        println!("evicting pod {ns}/{name}");
        let mut body = json!({"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": name, "namespace": ns}});
        if a.grace_period >= 0 {
            body["deleteOptions"] = json!({"gracePeriodSeconds": a.grace_period});
        }
        // A 429 means a disruption budget forbids it for now: retry like upstream.
        loop {
            match rest
                .call(
                    Method::POST,
                    &format!("/api/v1/namespaces/{ns}/pods/{name}/eviction"),
                    Some("application/json"),
                    Some(serde_json::to_vec(&body)?),
                )
                .await
            {
                Ok(_) => break,
                Err(e) if e.is_not_found() => break,
                Err(e) if e.code() == Some(429) => {
                    eprintln!(
                        "error when evicting pods/{name:?} -n {ns:?} (will retry after 5s): {}",
                        match &e {
                            Error::Api { status, .. } =>
                                status["message"].as_str().unwrap_or("").to_string(),
                            o => o.render(),
                        }
                    );
                    tokio::time::sleep(Duration::from_secs(5)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }
    let timeout = a
        .timeout
        .as_deref()
        .and_then(crate::delete::parse_duration)
        .filter(|d| !d.is_zero());
    let start = Instant::now();
    for (ns, name, uid) in &evict {
        loop {
            match rest
                .get(&format!("/api/v1/namespaces/{ns}/pods/{name}"))
                .await
            {
                Err(e) if e.is_not_found() => break,
                Ok(p) if p["metadata"]["uid"].as_str() != Some(uid.as_str()) => break,
                Ok(_) => {}
                Err(e) => return Err(e),
            }
            if timeout.is_some_and(|t| start.elapsed() > t) {
                return Err(Error::usage(format!(
                    "unable to drain node {:?}: timed out waiting for pod {ns}/{name} to go",
                    a.node
                )));
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        println!("pod/{name} evicted");
    }
    println!("node/{} drained", a.node);
    Ok(0)
}
