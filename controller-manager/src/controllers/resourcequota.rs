//! The resource quota controller: keeps each ResourceQuota's status true,
//! as upstream's `pkg/controller/resourcequota`.
//!
//! Quota admission in the apiserver charges a new object to
//! `status.used` as it is created, but nothing there gives usage back when
//! an object goes, and a new quota starts with no status at all (admission
//! refuses what it would limit until the usage is known). This controller
//! closes the loop:
//!
//! reconcile(ns/name):
//! 1. `status.hard` = `spec.hard`;
//! 2. for each kind the hard limits charge (pods, services, claims,
//!    configmaps, secrets, replication controllers, quotas, and any
//!    `count/<resource>.<group>`), list the namespace's objects from the
//!    apiserver (the quota read first, then fresh lists rather than caches
//!    that may lag behind a charge admission just made), keep
//!    those the quota applies to (its scopes) and sum their usage with the
//!    rules admission uses ([`apimachinery::quota`]); every hard resource
//!    gets a value, zero when nothing uses it;
//! 3. write the status if it changed, guarded by the quota's
//!    resourceVersion, so a charge admission made meanwhile is not lost
//!    (the conflict requeues, and the next round counts the new object).
//!    A count lower than the usage the quota holds is taken again a moment
//!    later before it is written: admission charges a create before the
//!    object is stored, so the first count may have missed it.
//!
//! A quota is looked at again when it changes, when a pod or service in
//! its namespace changes (the deletion that frees usage), and every
//! [`RESYNC`] for the kinds without a watch here.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use apimachinery::quota::{self, ResourceList};
use apimachinery::resources::{ResourceInfo, RESOURCES};
use k8s_openapi::api::core::v1::{Pod, ResourceQuota, ResourceQuotaStatus, Service};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity as ApiQuantity;
use kube::api::{Api, ApiResource, DynamicObject, ListParams, PostParams};
use serde_json::Value;

use super::{Context, Started};
use crate::machinery::controller::{Action, Context as _, Reconciler, Result};
use crate::machinery::informer::{key_of, split_key, Store};
use crate::machinery::meta;
use crate::machinery::queue::Queue;

/// How often every quota is recomputed even without events (upstream's
/// `--resource-quota-sync-period` is 5 minutes; kinds listed from the
/// apiserver here have no watch, so this is shorter).
pub const RESYNC: Duration = Duration::from_secs(30);

/// How long after a count that would lower a quota's usage it is counted
/// again (see `reconcile`).
const RECOUNT_DELAY: Duration = Duration::from_millis(500);

/// Registers handlers and returns the workers.
pub fn start(ctx: &Context) -> Started {
    let quotas = ctx.factory.informer::<ResourceQuota>();
    let pods = ctx.factory.informer::<Pod>();
    let services = ctx.factory.informer::<Service>();
    let queue = Queue::new("resourcequota");
    let q = Arc::clone(&queue);
    quotas.add_handler(move |old, new| {
        if let Some(rq) = new.or(old) {
            q.add(key_of(&**rq));
        }
    });
    // Any pod or service change may change a quota of its namespace.
    let (q, store) = (Arc::clone(&queue), quotas.store());
    pods.add_handler(move |old, new| {
        if let Some(p) = new.or(old) {
            enqueue_namespace(&q, &store, p.metadata.namespace.as_deref());
        }
    });
    let (q, store) = (Arc::clone(&queue), quotas.store());
    services.add_handler(move |old, new| {
        if let Some(s) = new.or(old) {
            enqueue_namespace(&q, &store, s.metadata.namespace.as_deref());
        }
    });
    let rc = Arc::new(ResourceQuotaController {
        client: ctx.client.clone(),
        quotas: quotas.store(),
    });
    ctx.workers(rc, queue)
}

fn enqueue_namespace(q: &Queue, quotas: &Store<ResourceQuota>, ns: Option<&str>) {
    for rq in quotas.list_namespace(ns.unwrap_or_default()) {
        q.add(key_of(&*rq));
    }
}

/// The controller's state.
pub struct ResourceQuotaController {
    client: kube::Client,
    quotas: Store<ResourceQuota>,
}

/// The namespaced resources whose objects `hard` charges, from the table
/// of served resources.
pub fn charged_resources(hard: &[String]) -> Vec<&'static ResourceInfo> {
    let mut seen = BTreeSet::new();
    RESOURCES
        .iter()
        .filter(|r| r.namespaced && r.is_stored() && r.serves("list"))
        .filter(|r| hard.iter().any(|h| quota::charges(r.group, r.plural, h)))
        .filter(|r| seen.insert((r.group, r.plural)))
        .collect()
}

/// The usage `quota` (its `status.hard` already set) counts from `objects`
/// of `resource`, added to `used`.
pub fn add_usage(
    used: &mut ResourceList,
    quota_obj: &Value,
    resource: &ResourceInfo,
    objects: &[Value],
    now_millis: i64,
) {
    let hard: Vec<String> = quota::parse_list(quota_obj.pointer("/status/hard"))
        .into_keys()
        .collect();
    for obj in objects {
        if !quota::matches(quota_obj, resource.group, resource.plural, obj) {
            continue;
        }
        let usage: ResourceList = quota::usage(resource.group, resource.plural, obj, now_millis)
            .into_iter()
            .filter(|(k, _)| hard.contains(k))
            .collect();
        *used = quota::sum(used, &usage);
    }
}

impl ResourceQuotaController {
    /// The namespace's objects of `resource`, as JSON, read from the
    /// apiserver (not a cache: see the module docs).
    async fn objects(&self, ns: &str, resource: &ResourceInfo) -> Result<Vec<Value>> {
        let ar = ApiResource {
            group: resource.group.into(),
            version: resource.version.into(),
            api_version: resource.api_version(),
            kind: resource.kind.into(),
            plural: resource.plural.into(),
        };
        let api: Api<DynamicObject> = Api::namespaced_with(self.client.clone(), ns, &ar);
        let list = api
            .list(&ListParams::default())
            .await
            .context(|| format!("listing {} in {ns}", resource.plural))?;
        Ok(list
            .items
            .iter()
            .filter_map(|o| serde_json::to_value(o).ok())
            .collect())
    }
}

impl ResourceQuotaController {
    /// The usage of every resource in `names` (zero when unused) by the
    /// namespace's objects `quota_obj` applies to.
    async fn count(&self, ns: &str, quota_obj: &Value, names: &[String]) -> Result<ResourceList> {
        let mut used: ResourceList = names
            .iter()
            .map(|n| (n.clone(), apimachinery::quantity::Quantity::ZERO))
            .collect();
        let now = meta::now_millis();
        for resource in charged_resources(names) {
            let objects = self.objects(ns, resource).await?;
            add_usage(&mut used, quota_obj, resource, &objects, now);
        }
        Ok(used)
    }
}

impl Reconciler for ResourceQuotaController {
    fn name(&self) -> &'static str {
        "resourcequota"
    }

    async fn reconcile(&self, key: &str) -> Result<Action> {
        if self.quotas.get(key).is_none() {
            return Ok(Action::Done);
        }
        let (ns, name) = split_key(key);
        let ns = ns.unwrap_or_default();
        // Read the quota before the objects: a charge admission makes after
        // this read moves its resourceVersion, and our write then fails
        // instead of dropping the charge.
        let api: Api<ResourceQuota> = Api::namespaced(self.client.clone(), ns);
        let Some(rq) = api
            .get_opt(name)
            .await
            .context(|| format!("reading quota {key}"))?
        else {
            return Ok(Action::Done);
        };
        let hard = rq
            .spec
            .as_ref()
            .and_then(|s| s.hard.clone())
            .unwrap_or_default();
        let mut quota_obj = serde_json::to_value(&rq).unwrap_or_default();
        quota_obj["status"] = serde_json::json!({ "hard": hard });
        let names: Vec<String> = hard.keys().cloned().collect();
        let mut used = self.count(ns, &quota_obj, &names).await?;
        // Admission charges a create before the object is stored: a count
        // lower than what the quota holds may have missed one in flight.
        // Count again a moment later, when it is stored; a charge made
        // after our read of the quota fails the write instead.
        let held = quota::parse_list(
            serde_json::to_value(rq.status.as_ref().and_then(|s| s.used.clone()))
                .ok()
                .as_ref(),
        );
        if used.iter().any(|(k, v)| held.get(k).is_some_and(|h| v < h)) {
            tokio::time::sleep(RECOUNT_DELAY).await;
            used = self.count(ns, &quota_obj, &names).await?;
        }
        let status = ResourceQuotaStatus {
            hard: Some(hard),
            used: Some(
                used.iter()
                    .map(|(k, v)| (k.clone(), ApiQuantity(v.to_string())))
                    .collect(),
            ),
        };
        let current = rq.status.clone().unwrap_or_default();
        if !same(&current, &status) {
            let mut updated = rq.clone();
            updated.status = Some(status);
            api.replace_status(
                rq.metadata.name.as_deref().unwrap_or_default(),
                &PostParams::default(),
                &updated,
            )
            .await
            .context(|| format!("updating the status of quota {key}"))?;
        }
        Ok(Action::RequeueAfter(RESYNC))
    }
}

/// Whether two statuses hold the same amounts (`1000m` equals `1`).
fn same(a: &ResourceQuotaStatus, b: &ResourceQuotaStatus) -> bool {
    let amounts = |m: &Option<std::collections::BTreeMap<String, ApiQuantity>>| {
        let v = serde_json::to_value(m.clone().unwrap_or_default()).unwrap_or_default();
        quota::parse_list(Some(&v))
    };
    amounts(&a.hard) == amounts(&b.hard) && amounts(&a.used) == amounts(&b.used)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn find(group: &str, plural: &str) -> &'static ResourceInfo {
        RESOURCES
            .iter()
            .find(|r| r.group == group && r.plural == plural)
            .expect("resource")
    }

    #[test]
    fn the_kinds_to_count_follow_the_hard_limits() {
        let hard = vec![
            "pods".to_string(),
            "requests.cpu".into(),
            "count/deployments.apps".into(),
            "configmaps".into(),
        ];
        let mut got: Vec<(&str, &str)> = charged_resources(&hard)
            .iter()
            .map(|r| (r.group, r.plural))
            .collect();
        got.sort();
        assert_eq!(
            got,
            [("", "configmaps"), ("", "pods"), ("apps", "deployments")]
        );
    }

    #[test]
    fn usage_sums_the_pods_in_scope_and_skips_finished_ones() {
        let q = json!({"spec": {"scopes": ["NotBestEffort"]},
                       "status": {"hard": {"pods": "10", "requests.cpu": "4"}}});
        let pod = |cpu: Option<&str>, phase: &str| {
            let res = cpu.map_or(json!({}), |c| json!({"requests": {"cpu": c}}));
            json!({"spec": {"containers": [{"name": "c", "resources": res}]},
                   "status": {"phase": phase}})
        };
        let pods = vec![
            pod(Some("500m"), "Running"),
            pod(Some("1"), "Pending"),
            pod(None, "Running"),
            pod(Some("2"), "Succeeded"),
        ];
        let mut used = ResourceList::new();
        add_usage(&mut used, &q, find("", "pods"), &pods, 0);
        assert_eq!(quota::pretty(&used), "pods=2,requests.cpu=1500m");
    }

    #[test]
    fn equal_amounts_written_differently_are_the_same_status() {
        let st = |cpu: &str| ResourceQuotaStatus {
            hard: None,
            used: Some([("cpu".to_string(), ApiQuantity(cpu.into()))].into()),
        };
        assert!(same(&st("1"), &st("1000m")));
        assert!(!same(&st("1"), &st("2")));
    }
}
