//! ResourceQuota admission: a create is refused when it would take a
//! namespace over one of its quotas, and otherwise charged to the quotas
//! before the object is stored (upstream's `ResourceQuota` plug-in).
//!
//! For a new object in a namespace with quotas:
//! 1. every quota that applies to it ([`apimachinery::quota::matches`]: it
//!    limits something the object uses, and the object is in its scopes)
//!    must know its usage (`status.used` for each resource it limits, which
//!    the quota controller fills in), and a pod must state in each
//!    container the cpu/memory resources the quota limits;
//! 2. the object's usage ([`apimachinery::quota::usage`]) added to each
//!    quota's `status.used` must stay within `status.hard`, or the create
//!    is a 403 `exceeded quota: <name>, requested: ..., used: ...,
//!    limited: ...`;
//! 3. each quota's `status.used` is raised by a compare-and-swap on its
//!    etcd revision; when another create got there first, the quota is
//!    read and judged again. So two creates racing for the last unit
//!    cannot both pass.
//!
//! A create that fails after it was charged leaves the quota
//! over-charged until the quota controller recomputes the usage, as
//! upstream. Updates are not charged here.

use apimachinery::quota::{self, ResourceList};
use apimachinery::resources::ResourceInfo;
use serde_json::Value;

use crate::errors::{ApiError, Target};
use crate::storage::StorageError;
use crate::ApiServer;

/// Resources quota does not apply to (upstream's ignored resources: events
/// would make every controller's bookkeeping subject to quota).
const IGNORED: &[(&str, &str)] = &[("", "events"), ("events.k8s.io", "events")];

/// How often a quota whose revision moved under us is judged again.
const ATTEMPTS: usize = 10;

fn now_millis() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// `list` restricted to `names`.
fn mask(list: &ResourceList, names: &[String]) -> ResourceList {
    list.iter()
        .filter(|(k, _)| names.contains(k))
        .map(|(k, v)| (k.clone(), *v))
        .collect()
}

/// Judges one quota for `obj`: `Ok(None)` when it does not apply or the
/// object uses nothing it limits, `Ok(Some(new used))` when the object
/// fits, the refusal otherwise.
fn judge(
    quota: &Value,
    resource: &ResourceInfo,
    obj: &Value,
    usage: &ResourceList,
    target: &Target,
) -> Result<Option<ResourceList>, ApiError> {
    let (group, plural) = (resource.group, resource.plural);
    if !quota::matches(quota, group, plural, obj) {
        return Ok(None);
    }
    let name = quota
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let forbidden = |msg: String| target.admission_forbidden(msg);
    let restricted = quota::restricted(quota, group, plural);
    if group.is_empty() && plural == "pods" {
        quota::pod_constraints(&restricted, obj)
            .map_err(|e| forbidden(format!("failed quota: {name}: {e}")))?;
    }
    let hard = quota::parse_list(quota.pointer("/status/hard"));
    let used = quota::parse_list(quota.pointer("/status/used"));
    let mut unknown: Vec<&String> = restricted
        .iter()
        .filter(|r| !used.contains_key(*r))
        .collect();
    if !unknown.is_empty() {
        unknown.sort();
        let names: Vec<&str> = unknown.iter().map(|s| s.as_str()).collect();
        return Err(forbidden(format!(
            "status unknown for quota: {name}, resources: {}",
            names.join(",")
        )));
    }
    let hard_names: Vec<String> = hard.keys().cloned().collect();
    let requested = mask(usage, &hard_names);
    if requested.is_empty() {
        return Ok(None);
    }
    let new_used = quota::sum(&used, &requested);
    let exceeded: Vec<String> = requested
        .keys()
        .filter(|k| match (new_used.get(*k), hard.get(*k)) {
            (Some(u), Some(h)) => u > h,
            _ => false,
        })
        .cloned()
        .collect();
    if !exceeded.is_empty() {
        return Err(forbidden(format!(
            "exceeded quota: {name}, requested: {}, used: {}, limited: {}",
            quota::pretty(&mask(&requested, &exceeded)),
            quota::pretty(&mask(&used, &exceeded)),
            quota::pretty(&mask(&hard, &exceeded)),
        )));
    }
    Ok(Some(new_used))
}

/// Checks a new object against its namespace's quotas and, with `charge`
/// (not a dry run), charges them (see the module docs); `obj` is the object
/// about to be stored.
pub async fn admit_create(
    server: &ApiServer,
    resource: &ResourceInfo,
    obj: &Value,
    charge: bool,
) -> Result<(), ApiError> {
    if !resource.namespaced || IGNORED.contains(&(resource.group, resource.plural)) {
        return Ok(());
    }
    let Some(ns) = obj.pointer("/metadata/namespace").and_then(Value::as_str) else {
        return Ok(());
    };
    let Some(rq) = apimachinery::resources::find("", "v1", "resourcequotas") else {
        return Ok(());
    };
    let target = Target::new(
        resource,
        obj.pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or(""),
    );
    // The quotas come from the informer (which has applied every write this
    // apiserver made to them, the charges included); a charge that meets a
    // newer quota re-reads it from etcd below.
    let quotas = server
        .list_cached("", "resourcequotas", Some(ns))
        .await
        .map_err(|e| ApiError::from_storage(e, target.clone()))?;
    if quotas.is_empty() {
        return Ok(());
    }
    let usage: ResourceList = quota::usage(resource.group, resource.plural, obj, now_millis())
        .into_iter()
        .filter(|(_, q)| !q.is_zero())
        .collect();
    // Judge every quota before charging any, so a refusal charges nothing.
    let mut charges = Vec::new();
    for cached in quotas {
        if let Some(new_used) = judge(&cached.object, resource, obj, &usage, &target)? {
            let name = cached
                .object
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let key = server.store.key(rq.storage_name(), Some(ns), name);
            charges.push((key, cached.to_stored(), new_used));
        }
    }
    if !charge {
        return Ok(());
    }
    for (key, mut stored, mut new_used) in charges {
        let mut attempt = 0;
        loop {
            let mut updated = stored.object.clone();
            if let Some(status) = updated.get_mut("status").and_then(Value::as_object_mut) {
                status.insert("used".into(), quota::to_json(&new_used));
            }
            match server
                .store
                .update(&key, &updated, stored.mod_revision)
                .await
            {
                Ok(_) => break,
                Err(StorageError::Conflict) if attempt + 1 < ATTEMPTS => {
                    attempt += 1;
                    let fresh = server
                        .store
                        .get(&key)
                        .await
                        .map_err(|e| ApiError::from_storage(e, target.clone()))?;
                    // A quota deleted meanwhile no longer limits anything.
                    let Some(fresh) = fresh else { break };
                    match judge(&fresh.object, resource, obj, &usage, &target)? {
                        Some(u) => {
                            new_used = u;
                            stored = fresh;
                        }
                        None => break,
                    }
                }
                Err(StorageError::Conflict) => {
                    return Err(ApiError::Internal(
                        "resource quota evaluation timed out".into(),
                    ))
                }
                Err(e) => return Err(ApiError::from_storage(e, target.clone())),
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pods() -> &'static ResourceInfo {
        apimachinery::resources::find("", "v1", "pods").expect("pods")
    }

    fn quota(hard: Value, used: Value) -> Value {
        json!({"metadata": {"name": "q"}, "spec": {"hard": hard},
               "status": {"hard": hard, "used": used}})
    }

    fn pod(resources: Value) -> Value {
        json!({"metadata": {"name": "p3", "namespace": "ns"},
               "spec": {"containers": [{"name": "c", "resources": resources}]}})
    }

    fn run(q: &Value, p: &Value) -> Result<Option<ResourceList>, ApiError> {
        let usage = quota::usage("", "pods", p, 0);
        judge(q, pods(), p, &usage, &Target::new(pods(), "p3"))
    }

    /// The reason of a refusal, after `pods "p3" is forbidden: `.
    fn message(e: ApiError) -> String {
        match e {
            ApiError::Forbidden(_, m) => m
                .strip_prefix("pods \"p3\" is forbidden: ")
                .unwrap_or(&m)
                .to_string(),
            other => panic!("not forbidden: {other:?}"),
        }
    }

    #[test]
    fn the_third_pod_exceeds_a_quota_of_two() {
        let q = quota(json!({"pods": "2"}), json!({"pods": "2"}));
        let err = run(&q, &pod(json!({}))).expect_err("refused");
        assert_eq!(
            message(err),
            "exceeded quota: q, requested: pods=1, used: pods=2, limited: pods=2"
        );
        let q = quota(json!({"pods": "2"}), json!({"pods": "1"}));
        let used = run(&q, &pod(json!({}))).expect("fits").expect("charged");
        assert_eq!(quota::pretty(&used), "pods=2");
    }

    #[test]
    fn a_quota_without_usage_refuses_until_the_controller_fills_it() {
        let q = json!({"metadata": {"name": "q"}, "status": {"hard": {"pods": "2"}}});
        let err = run(&q, &pod(json!({}))).expect_err("refused");
        assert_eq!(message(err), "status unknown for quota: q, resources: pods");
    }

    #[test]
    fn a_cpu_quota_needs_containers_to_state_cpu() {
        let q = quota(json!({"limits.cpu": "2"}), json!({"limits.cpu": "0"}));
        let err = run(&q, &pod(json!({}))).expect_err("refused");
        assert_eq!(
            message(err),
            "failed quota: q: must specify limits.cpu for: c"
        );
        let used = run(&q, &pod(json!({"limits": {"cpu": "500m"}})))
            .expect("fits")
            .expect("charged");
        assert_eq!(quota::pretty(&used), "limits.cpu=500m");
    }
}
