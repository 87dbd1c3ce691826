//! The availability controller: keeps every APIService's `Available`
//! condition true to what its backend does, as upstream's local and
//! remote availability controllers do.
//!
//! - A Local APIService (no `spec.service`) is always `True`, reason
//!   `Local`.
//! - Otherwise the Service must exist (`ServiceNotFound`), have the port
//!   (`ServicePortError`), EndpointSlices (`EndpointsNotFound`) with a ready
//!   address on that port (`MissingEndpoints`), and the backend must answer
//!   `GET /apis/G/V` with a 2xx within 5 s, asked as
//!   `system:kube-aggregator` in `system:masters` over the proxy's TLS
//!   (`FailedDiscoveryCheck`, with the error); then `True`, `Passed`, "all
//!   checks passed". The answer is the backend's resource list, kept for
//!   discovery ([`super::discovery`]).
//!
//! Each second the controller looks at every APIService: one whose spec,
//! Service or EndpointSlices changed is checked at once; others again
//! after 30 s (upstream's resync), or sooner, backing off from 1 s, while
//! they fail. A condition's `lastTransitionTime` moves only when its
//! status does.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};

use super::discovery::Registered;
use super::ServiceRef;
use crate::ApiServer;

/// How often every APIService is looked at.
const TICK: Duration = Duration::from_secs(1);
/// How often a passing APIService is checked again.
const RESYNC: Duration = Duration::from_secs(30);
/// How long the discovery check may take.
const CHECK_TIMEOUT: Duration = Duration::from_secs(5);
/// The largest discovery document read.
const MAX_DISCOVERY: usize = 4 << 20;

/// The `Available` condition the controller sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    /// `True`, `False` or `Unknown`.
    pub status: &'static str,
    /// Why, in one word.
    pub reason: String,
    /// Why, for people.
    pub message: String,
}

/// What the controller remembers of one APIService between ticks.
#[derive(Debug)]
struct Track {
    fingerprint: String,
    next: Instant,
    backoff: Duration,
    resources: Option<Value>,
}

/// Runs until the server stops.
pub async fn run(server: Arc<ApiServer>) {
    let mut stopping = server.stopping.subscribe();
    let mut tracks: HashMap<String, Track> = HashMap::new();
    loop {
        sync(&server, &mut tracks).await;
        tokio::select! {
            _ = tokio::time::sleep(TICK) => {}
            _ = stopping.wait_for(|s| *s) => return,
        }
    }
}

async fn sync(server: &ApiServer, tracks: &mut HashMap<String, Track>) {
    let Ok(all) = server
        .list_cached("apiregistration.k8s.io", "apiservices", None)
        .await
    else {
        return;
    };
    let mut registered = Vec::new();
    let mut seen = Vec::new();
    for cached in all {
        let obj = &*cached.object;
        let name = obj["metadata"]["name"].as_str().unwrap_or("").to_string();
        seen.push(name.clone());
        let mut reg = Registered::of(&cached.object);
        let Some(svc) = ServiceRef::of(obj) else {
            let local = Condition {
                status: "True",
                reason: "Local".into(),
                message: "Local APIServices are always available".into(),
            };
            // Read from the cache first: most looks change nothing, and
            // should cost no etcd read.
            if !has_condition(obj, &local) {
                if let Err(e) = set_condition(server, &name, &local).await {
                    tracing::debug!(apiservice = %name, error = %e, "writing the Local condition");
                }
            }
            tracks.remove(&name);
            registered.push(reg);
            continue;
        };
        let fingerprint = fingerprint(server, obj, &svc).await;
        let now = Instant::now();
        let track = tracks.entry(name.clone()).or_insert_with(|| Track {
            fingerprint: String::new(),
            next: now,
            backoff: Duration::ZERO,
            resources: None,
        });
        if track.fingerprint != fingerprint || now >= track.next {
            let (condition, resources) = check(server, obj, &svc).await;
            let passed = condition.status == "True";
            if passed {
                track.resources = resources;
                track.backoff = Duration::ZERO;
                track.next = now + RESYNC;
            } else {
                track.backoff = (track.backoff * 2).clamp(TICK, RESYNC);
                track.next = now + track.backoff;
            }
            track.fingerprint = fingerprint;
            reg.available = passed;
            if let Err(e) = set_condition(server, &name, &condition).await {
                tracing::debug!(apiservice = %name, error = %e, "writing the Available condition");
                // Try again at the next tick.
                track.fingerprint.clear();
            }
        }
        reg.resources = track.resources.clone();
        registered.push(reg);
    }
    tracks.retain(|name, _| seen.contains(name));
    server.aggregator.set_registered(registered);
}

/// What, when it changes, makes the APIService worth checking at once: its
/// spec and the versions of its Service and EndpointSlices.
async fn fingerprint(server: &ApiServer, obj: &Value, svc: &ServiceRef) -> String {
    let rv = |o: &Value| {
        o.pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    // Lists, not gets: a get that misses the cache asks etcd, and a
    // missing Service would be asked for every second.
    let service = server
        .list_cached("", "services", Some(&svc.namespace))
        .await
        .unwrap_or_default()
        .iter()
        .find(|c| c.object["metadata"]["name"] == svc.name.as_str())
        .map(|c| rv(&c.object))
        .unwrap_or_default();
    let mut slices: Vec<String> = server
        .list_cached("discovery.k8s.io", "endpointslices", Some(&svc.namespace))
        .await
        .unwrap_or_default()
        .iter()
        .filter(|c| {
            c.object
                .pointer("/metadata/labels/kubernetes.io~1service-name")
                .and_then(Value::as_str)
                == Some(&svc.name)
        })
        .map(|c| rv(&c.object))
        .collect();
    slices.sort();
    format!("{}|{service}|{}", obj["spec"], slices.join(","))
}

/// Checks one APIService with a Service: its condition, and the backend's
/// resource list when it passed.
pub async fn check(
    server: &ApiServer,
    obj: &Value,
    svc: &ServiceRef,
) -> (Condition, Option<Value>) {
    let addr = match super::resolver::resolve(server, svc).await {
        Ok(a) => a,
        Err(e) => {
            let status = if matches!(e, super::resolver::Unresolved::AccessError { .. }) {
                "Unknown"
            } else {
                "False"
            };
            let condition = Condition {
                status,
                reason: e.reason().into(),
                message: e.to_string(),
            };
            return (condition, None);
        }
    };
    let group = obj["spec"]["group"].as_str().unwrap_or("");
    let version = obj["spec"]["version"].as_str().unwrap_or("");
    let url = format!("https://{addr}/apis/{group}/{version}");
    let fetched = tokio::time::timeout(
        CHECK_TIMEOUT,
        fetch_discovery(server, obj, svc, &addr, group, version),
    )
    .await;
    match fetched {
        Ok(Ok(list)) => (
            Condition {
                status: "True",
                reason: "Passed".into(),
                message: "all checks passed".into(),
            },
            Some(list),
        ),
        Ok(Err(e)) => (
            Condition {
                status: "False",
                reason: "FailedDiscoveryCheck".into(),
                message: format!("failing or missing response from {url}: {e}"),
            },
            None,
        ),
        Err(_) => (
            Condition {
                status: "False",
                reason: "FailedDiscoveryCheck".into(),
                message: format!("timed out waiting for {url}"),
            },
            None,
        ),
    }
}

/// `GET /apis/G/V` from the backend at `addr`, as the aggregator itself.
async fn fetch_discovery(
    server: &ApiServer,
    obj: &Value,
    svc: &ServiceRef,
    addr: &str,
    group: &str,
    version: &str,
) -> Result<Value, String> {
    let path = format!("/apis/{group}/{version}");
    let url = format!("https://{addr}{path}");
    let failed = |e: String| format!("Get {url:?}: {e}");
    let stream = super::proxy::dial(server, obj, svc, addr)
        .await
        .map_err(failed)?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake::<_, Empty<bytes::Bytes>>(TokioIo::new(stream))
            .await
            .map_err(|e| failed(e.to_string()))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let mut req = http::Request::get(&path)
        .header(http::header::HOST, addr)
        .header(http::header::ACCEPT, "application/json")
        .body(Empty::new())
        .map_err(|e| failed(e.to_string()))?;
    let aggregator = crate::authentication::UserInfo {
        username: "system:kube-aggregator".into(),
        groups: vec![crate::authentication::MASTERS.into()],
        ..Default::default()
    };
    super::proxy::set_user_headers(req.headers_mut(), &aggregator);
    let resp = sender
        .send_request(req)
        .await
        .map_err(|e| failed(e.to_string()))?;
    let status = resp.status();
    if !status.is_success() {
        return Err(format!("bad status from {url}: {}", status.as_u16()));
    }
    let body = Limited::new(resp.into_body(), MAX_DISCOVERY)
        .collect()
        .await
        .map_err(|e| failed(e.to_string()))?
        .to_bytes();
    // A backend that answers but not with a resource list still passes (as
    // upstream's check only looks at the status); discovery then has
    // nothing to list for it.
    Ok(serde_json::from_slice(&body).unwrap_or(Value::Null))
}

/// Whether `obj` already has `condition` as its `Available` condition.
fn has_condition(obj: &Value, condition: &Condition) -> bool {
    obj.pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|c| {
            c["type"] == "Available"
                && c["status"] == condition.status
                && c["reason"] == condition.reason.as_str()
                && c["message"] == condition.message.as_str()
        })
}

/// Sets the `Available` condition of the APIService `name` (others are
/// left alone); writes only when something changed.
pub async fn set_condition(
    server: &ApiServer,
    name: &str,
    condition: &Condition,
) -> Result<(), String> {
    let Some(res) = apimachinery::resources::find("apiregistration.k8s.io", "v1", "apiservices")
    else {
        return Ok(());
    };
    let key = server.store.key(res.storage_name(), None, name);
    for _ in 0..3 {
        let Some(current) = server.store.get(&key).await.map_err(|e| e.to_string())? else {
            return Ok(());
        };
        let mut obj = current.object;
        if !apply_condition(&mut obj, condition, &crate::meta::now()) {
            return Ok(());
        }
        match server.store.update(&key, &obj, current.mod_revision).await {
            Ok(_) => {
                tracing::info!(apiservice = name, status = condition.status, reason = %condition.reason, message = %condition.message, "APIService availability changed");
                return Ok(());
            }
            Err(crate::storage::StorageError::Conflict) => continue,
            Err(e) => return Err(e.to_string()),
        }
    }
    Err("conflicting writes".into())
}

/// Puts `condition` into `obj`'s conditions as upstream's helper does: the
/// transition time moves only with the status. Returns whether anything
/// changed.
fn apply_condition(obj: &mut Value, condition: &Condition, now: &str) -> bool {
    if !obj["status"].is_object() {
        obj["status"] = json!({});
    }
    if !obj["status"]["conditions"].is_array() {
        obj["status"]["conditions"] = json!([]);
    }
    let Some(conditions) = obj["status"]["conditions"].as_array_mut() else {
        return false;
    };
    let fresh = json!({
        "type": "Available",
        "status": condition.status,
        "lastTransitionTime": now,
        "reason": condition.reason,
        "message": condition.message,
    });
    match conditions.iter_mut().find(|c| c["type"] == "Available") {
        None => {
            conditions.push(fresh);
            true
        }
        Some(c) => {
            let before = c.clone();
            if c["status"] != condition.status {
                c["status"] = json!(condition.status);
                c["lastTransitionTime"] = json!(now);
            }
            c["reason"] = json!(condition.reason);
            c["message"] = json!(condition.message);
            *c != before
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_transition_time_moves_only_with_the_status() {
        let mut obj = json!({"status": {"conditions": [
            {"type": "StatusUpdated", "status": "True"},
        ]}});
        let down = Condition {
            status: "False",
            reason: "MissingEndpoints".into(),
            message: "gone".into(),
        };
        assert!(apply_condition(&mut obj, &down, "t1"));
        assert!(!apply_condition(&mut obj, &down, "t2"), "nothing changed");
        let other = Condition {
            reason: "ServiceNotFound".into(),
            ..down.clone()
        };
        assert!(apply_condition(&mut obj, &other, "t3"));
        assert_eq!(obj["status"]["conditions"][1]["lastTransitionTime"], "t1");
        let up = Condition {
            status: "True",
            reason: "Passed".into(),
            message: "all checks passed".into(),
        };
        assert!(apply_condition(&mut obj, &up, "t4"));
        assert_eq!(obj["status"]["conditions"][1]["lastTransitionTime"], "t4");
        assert_eq!(obj["status"]["conditions"][0]["type"], "StatusUpdated");
    }
}
