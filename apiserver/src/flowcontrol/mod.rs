//! API Priority and Fairness: how the apiserver shares its capacity
//! between clients, so one client's flood cannot starve the others.
//!
//! Every request, once its user is known (after authentication and
//! impersonation, before authorization), is
//! 1. **classified** ([`classifier`]) by the FlowSchemas into a priority
//!    level and a flow (a user, or a namespace);
//! 2. **admitted** by its level: an `Exempt` level (`system:masters`,
//!    health probes) lets it through; a `Limited` level has a share of the
//!    server's seats (`--max-requests-inflight` plus
//!    `--max-mutating-requests-inflight`, split by `nominalConcurrencyShares`)
//!    and makes the excess wait in fair queues ([`queueset`]) or rejects it;
//! 3. answered with `X-Kubernetes-PF-FlowSchema-UID` and
//!    `X-Kubernetes-PF-PriorityLevel-UID`, or with 429 and `Retry-After`
//!    when the level has no room.
//!
//! The configuration lives in the API (`flowcontrol.apiserver.k8s.io/v1`)
//! and is followed from the watch cache; the apiserver keeps its own
//! defaults there ([`bootstrap`]) and marks each FlowSchema `Dangling` when
//! its level is missing. Long-running requests other than watches (exec,
//! attach, port-forward, proxy, logs) are not held: they would pin seats for
//! their whole life. A watch holds its seat until its response starts.
//!
//! Not done here: borrowing between levels (`lendablePercent`,
//! `borrowingLimitPercent`) and width estimates for big LISTs; every
//! request takes one seat of its level's nominal share.

pub mod bootstrap;
pub mod classifier;
pub mod queueset;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use serde_json::{json, Value};

use crate::authorization::Attributes;
use crate::storage::watch_cache::EventType;
use crate::storage::StorageError;
use crate::ApiServer;
use classifier::FlowSchema;
use queueset::{QueueSet, Queuing, Rejection, Seat};

/// The response header naming the matched FlowSchema's UID.
pub const FLOW_SCHEMA_UID_HEADER: &str = "X-Kubernetes-PF-FlowSchema-UID";
/// The response header naming the matched priority level's UID.
pub const PRIORITY_LEVEL_UID_HEADER: &str = "X-Kubernetes-PF-PriorityLevel-UID";

/// Upstream's `--max-requests-inflight` default.
pub const DEFAULT_MAX_REQUESTS_INFLIGHT: u32 = 400;
/// Upstream's `--max-mutating-requests-inflight` default.
pub const DEFAULT_MAX_MUTATING_REQUESTS_INFLIGHT: u32 = 200;

const GROUP: &str = "flowcontrol.apiserver.k8s.io";

/// A priority level as the dispatcher holds it.
#[derive(Debug, Clone)]
pub struct Level {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.uid` (empty for a mandatory level missing from the API).
    pub uid: String,
    /// Seats it may use at once (0 for an exempt level).
    pub nominal_limit: u32,
    seats: Option<Arc<QueueSet>>,
}

/// Where a request goes: its schema, level and flow.
#[derive(Debug, Clone)]
pub struct Classification {
    /// The matching FlowSchema.
    pub schema: Arc<FlowSchema>,
    /// Its priority level.
    pub level: Arc<Level>,
    flow: u64,
}

/// Why a request gets 429.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rejected(pub Rejection);

/// The digested configuration: schemas in matching order, levels by name.
#[derive(Debug, Default)]
struct Digest {
    schemas: Vec<Arc<FlowSchema>>,
    levels: HashMap<String, Arc<Level>>,
}

/// The apiserver's flow control.
#[derive(Debug)]
pub struct FlowControl {
    server_limit: u32,
    digest: RwLock<Arc<Digest>>,
    /// The objects as last seen, by kind then name.
    objects: Mutex<Objects>,
    /// Rings when the FlowSchemas' `Dangling` conditions may need writing.
    status_due: tokio::sync::Notify,
}

#[derive(Debug, Default)]
struct Objects {
    schemas: BTreeMap<String, Value>,
    levels: BTreeMap<String, Value>,
}

impl FlowControl {
    /// Flow control over `server_limit` seats, starting from the mandatory
    /// configuration alone (until the API's is read).
    pub fn new(server_limit: u32) -> FlowControl {
        let fc = FlowControl {
            server_limit: server_limit.max(1),
            digest: RwLock::new(Arc::new(Digest::default())),
            objects: Mutex::new(Objects::default()),
            status_due: tokio::sync::Notify::new(),
        };
        fc.rebuild();
        fc
    }

    fn objects(&self) -> std::sync::MutexGuard<'_, Objects> {
        match self.objects.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    fn digest(&self) -> Arc<Digest> {
        match self.digest.read() {
            Ok(d) => Arc::clone(&d),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// The first FlowSchema (by precedence) matching the request whose
    /// level exists.
    pub fn classify(&self, attrs: &Attributes) -> Option<Classification> {
        let digest = self.digest();
        digest.schemas.iter().find_map(|schema| {
            let level = digest.levels.get(&schema.priority_level)?;
            schema.matches(attrs).then(|| Classification {
                flow: schema.flow_of(attrs),
                schema: Arc::clone(schema),
                level: Arc::clone(level),
            })
        })
    }

    /// Admits a classified request, waiting up to `wait_limit`; `Ok(None)`
    /// for an exempt level (nothing to give back).
    pub async fn admit(
        &self,
        c: &Classification,
        wait_limit: Duration,
    ) -> Result<Option<Seat>, Rejected> {
        let metrics = crate::metrics::global();
        let (schema, level) = (c.schema.name.as_str(), c.level.name.as_str());
        let Some(set) = &c.level.seats else {
            metrics.flowcontrol_dispatched(schema, level, Duration::ZERO);
            return Ok(None);
        };
        metrics.flowcontrol_queued(schema, level, 1);
        let admitted = set.acquire(c.flow, 1, wait_limit).await;
        metrics.flowcontrol_queued(schema, level, -1);
        match admitted {
            Ok(seat) => {
                metrics.flowcontrol_dispatched(schema, level, seat.waited());
                Ok(Some(seat))
            }
            Err(why) => {
                metrics.flowcontrol_rejected(schema, level, why.reason());
                tracing::info!(
                    flow_schema = schema,
                    priority_level = level,
                    reason = why.reason(),
                    "request rejected by API Priority and Fairness"
                );
                Err(Rejected(why))
            }
        }
    }

    /// A level's current counts (`None` for exempt or unknown levels).
    pub fn level_counts(&self, name: &str) -> Option<queueset::Counts> {
        let digest = self.digest();
        let set = digest.levels.get(name)?.seats.clone()?;
        Some(set.counts())
    }

    /// Takes in a list of one kind (`flowschemas` or
    /// `prioritylevelconfigurations`).
    fn replace(&self, plural: &str, objects: &[Value]) {
        {
            let mut all = self.objects();
            let map = objects
                .iter()
                .map(|o| (name_of(o), o.clone()))
                .collect::<BTreeMap<_, _>>();
            match plural {
                "flowschemas" => all.schemas = map,
                _ => all.levels = map,
            }
        }
        self.rebuild();
    }

    /// Takes in one change of one kind.
    fn apply(&self, plural: &str, event: EventType, obj: &Value) {
        {
            let mut all = self.objects();
            let map = match plural {
                "flowschemas" => &mut all.schemas,
                _ => &mut all.levels,
            };
            match event {
                EventType::Deleted => {
                    map.remove(&name_of(obj));
                }
                EventType::Added | EventType::Modified => {
                    map.insert(name_of(obj), obj.clone());
                }
            }
        }
        self.rebuild();
    }

    /// Digests the objects into schemas and levels; levels that stay keep
    /// their queues (and whoever waits in them).
    fn rebuild(&self) {
        let (mandatory_levels, mandatory_schemas) = bootstrap::mandatory_objects();
        let (mut level_objects, mut schema_objects) = {
            let all = self.objects();
            (all.levels.clone(), all.schemas.clone())
        };
        // A mandatory object missing from the API is imagined, as upstream
        // does, so requests always have somewhere to go.
        for o in mandatory_levels {
            level_objects.entry(name_of(&o)).or_insert(o);
        }
        for o in mandatory_schemas {
            schema_objects.entry(name_of(&o)).or_insert(o);
        }
        let share = |o: &Value| {
            o.pointer("/spec/limited/nominalConcurrencyShares")
                .or_else(|| o.pointer("/spec/exempt/nominalConcurrencyShares"))
                .and_then(Value::as_u64)
                .unwrap_or(0)
        };
        let share_sum: u64 = level_objects.values().map(share).sum::<u64>().max(1);
        let old = self.digest();
        let mut levels = HashMap::new();
        for (name, o) in &level_objects {
            let exempt = o.pointer("/spec/type").and_then(Value::as_str) == Some("Exempt");
            let nominal_limit = if exempt {
                0
            } else {
                // Rounded up, as upstream: the levels' limits may sum to a
                // little more than the server's.
                let limit = (u64::from(self.server_limit) * share(o)).div_ceil(share_sum);
                u32::try_from(limit).unwrap_or(u32::MAX).max(1)
            };
            let seats = (!exempt).then(|| {
                let queuing = queuing_of(o);
                match old.levels.get(name).and_then(|l| l.seats.clone()) {
                    Some(set) => {
                        set.reconfigure(nominal_limit, queuing);
                        set
                    }
                    None => QueueSet::new(nominal_limit, queuing),
                }
            });
            levels.insert(
                name.clone(),
                Arc::new(Level {
                    name: name.clone(),
                    uid: uid_of(o),
                    nominal_limit,
                    seats,
                }),
            );
        }
        let mut schemas: Vec<FlowSchema> = schema_objects
            .values()
            .filter_map(FlowSchema::from_object)
            .collect();
        classifier::sort(&mut schemas);
        let metrics = crate::metrics::global();
        for level in old.levels.keys().filter(|n| !levels.contains_key(*n)) {
            metrics.flowcontrol_level_gone(level);
        }
        for level in levels.values() {
            metrics.flowcontrol_nominal_limit(&level.name, level.nominal_limit);
        }
        let digest = Arc::new(Digest {
            schemas: schemas.into_iter().map(Arc::new).collect(),
            levels,
        });
        match self.digest.write() {
            Ok(mut d) => *d = digest,
            Err(poisoned) => *poisoned.into_inner() = digest,
        }
        self.status_due.notify_one();
    }

    /// The FlowSchemas whose `Dangling` condition is not what it should
    /// be, with the condition they should have.
    fn dangling_updates(&self) -> Vec<(String, Value)> {
        let all = self.objects();
        let mandatory: Vec<String> = bootstrap::mandatory_levels()
            .into_iter()
            .map(|(n, _)| n.to_string())
            .collect();
        all.schemas
            .iter()
            .filter_map(|(name, fs)| {
                let level = fs
                    .pointer("/spec/priorityLevelConfiguration/name")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let found = all.levels.contains_key(level) || mandatory.iter().any(|m| m == level);
                let (status, reason, message) = if found {
                    ("False", "Found", format!("This FlowSchema references the PriorityLevelConfiguration object named {level:?} and it exists"))
                } else {
                    ("True", "NotFound", format!("This FlowSchema references the PriorityLevelConfiguration object named {level:?} but there is no such object"))
                };
                let current = fs
                    .pointer("/status/conditions")
                    .and_then(Value::as_array)
                    .and_then(|cs| cs.iter().find(|c| c["type"] == "Dangling"));
                let same = current.is_some_and(|c| {
                    c["status"] == status && c["reason"] == reason && c["message"] == message
                });
                (!same).then(|| {
                    (
                        name.clone(),
                        json!({"type": "Dangling", "status": status, "reason": reason,
                               "message": message, "lastTransitionTime": crate::registry::now()}),
                    )
                })
            })
            .collect()
    }
}

fn name_of(o: &Value) -> String {
    o.pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn uid_of(o: &Value) -> String {
    o.pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn queuing_of(o: &Value) -> Option<Queuing> {
    let response = o.pointer("/spec/limited/limitResponse")?;
    if response.get("type").and_then(Value::as_str) != Some("Queue") {
        return None;
    }
    let field = |f: &str, default: u64| {
        response
            .pointer(&format!("/queuing/{f}"))
            .and_then(Value::as_u64)
            .unwrap_or(default) as usize
    };
    Some(Queuing {
        queues: field("queues", 64).max(1),
        hand_size: field("handSize", 8).max(1),
        queue_length_limit: field("queueLengthLimit", 50).max(1),
    })
}

/// Starts following both kinds, keeping the bootstrap configuration and
/// the FlowSchemas' `Dangling` conditions.
pub fn start(server: &Arc<ApiServer>) {
    for plural in ["flowschemas", "prioritylevelconfigurations"] {
        let Some(resource) = apimachinery::resources::find(GROUP, "v1", plural) else {
            tracing::error!(plural, "resource missing from the resource table");
            continue;
        };
        let (on_list, on_event) = (Arc::clone(server), Arc::clone(server));
        tokio::spawn(crate::storage::informer::follow(
            server.store.clone(),
            server.cache(resource),
            server.stopping.subscribe(),
            resource,
            move |objects, _| on_list.flow_control.replace(plural, objects),
            move |event, obj, _| on_event.flow_control.apply(plural, event, obj),
        ));
    }
    tokio::spawn(bootstrap::run(Arc::clone(server)));
    tokio::spawn(keep_dangling_conditions(Arc::clone(server)));
}

/// Writes each FlowSchema's `Dangling` condition when it changes.
async fn keep_dangling_conditions(server: Arc<ApiServer>) {
    let Some(res) = apimachinery::resources::find(GROUP, "v1", "flowschemas") else {
        return;
    };
    let mut stopping = server.stopping.subscribe();
    loop {
        tokio::select! {
            _ = server.flow_control.status_due.notified() => {}
            _ = stopping.wait_for(|s| *s) => return,
        }
        for (name, condition) in server.flow_control.dangling_updates() {
            if let Err(e) = write_condition(&server, res, &name, condition).await {
                tracing::debug!(flow_schema = name, error = %e, "FlowSchema status not written; retrying");
                let retry = Arc::clone(&server);
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    retry.flow_control.status_due.notify_one();
                });
            }
        }
    }
}

async fn write_condition(
    server: &ApiServer,
    res: &'static apimachinery::resources::ResourceInfo,
    name: &str,
    condition: Value,
) -> Result<(), StorageError> {
    let key = server.store.key(res.storage_name(), None, name);
    let Some(stored) = server.store.get(&key).await? else {
        return Ok(());
    };
    let mut fs = stored.object;
    let conditions = fs
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut conditions: Vec<Value> = conditions
        .into_iter()
        .filter(|c| c["type"] != "Dangling")
        .collect();
    conditions.push(condition);
    if !fs.get("status").is_some_and(Value::is_object) {
        fs["status"] = json!({});
    }
    fs["status"]["conditions"] = Value::Array(conditions);
    match server.store.update(&key, &fs, stored.mod_revision).await {
        // A conflict brings an event, and with it another pass.
        Ok(_) | Err(StorageError::Conflict) | Err(StorageError::NotFound) => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authentication::UserInfo;
    use http::Method;

    fn attrs(user: UserInfo, path: &str) -> Attributes {
        Attributes::from_request(user, &Method::GET, path, false)
    }

    fn with_suggested() -> FlowControl {
        let fc = FlowControl::new(600);
        let objects = |list: Vec<(&str, Value)>| -> Vec<Value> {
            list.into_iter()
                .map(|(name, spec)| json!({"metadata": {"name": name, "uid": format!("uid-{name}")}, "spec": spec}))
                .collect()
        };
        let mut levels = objects(bootstrap::mandatory_levels());
        levels.extend(objects(bootstrap::suggested_levels()));
        let mut schemas = objects(bootstrap::mandatory_schemas());
        schemas.extend(objects(bootstrap::suggested_schemas()));
        fc.replace("prioritylevelconfigurations", &levels);
        fc.replace("flowschemas", &schemas);
        fc
    }

    fn classified(fc: &FlowControl, user: UserInfo, path: &str) -> (String, String) {
        let c = fc.classify(&attrs(user, path)).expect("classified");
        (c.schema.name.clone(), c.level.name.clone())
    }

    #[test]
    fn the_default_configuration_classifies_as_upstream() {
        let fc = with_suggested();
        let pair = |a: &str, b: &str| (a.to_string(), b.to_string());
        let admin = UserInfo::authenticated("admin", vec!["system:masters".into()]);
        assert_eq!(
            classified(&fc, admin, "/api/v1/pods"),
            pair("exempt", "exempt")
        );
        let jane = || UserInfo::authenticated("jane", vec![]);
        assert_eq!(classified(&fc, jane(), "/readyz"), pair("probes", "exempt"));
        assert_eq!(
            classified(&fc, jane(), "/api/v1/namespaces/a/pods"),
            pair("global-default", "global-default")
        );
        let node = UserInfo::authenticated("system:node:n1", vec!["system:nodes".into()]);
        assert_eq!(
            classified(&fc, node.clone(), "/api/v1/nodes/n1/status"),
            pair("system-node-high", "node-high")
        );
        assert_eq!(
            classified(&fc, node, "/api/v1/namespaces/a/pods"),
            pair("system-nodes", "system")
        );
        let cm = UserInfo::authenticated("system:kube-controller-manager", vec![]);
        assert_eq!(
            classified(
                &fc,
                cm,
                "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/x"
            ),
            pair("system-leader-election", "leader-election")
        );
        let sa = UserInfo::authenticated(
            "system:serviceaccount:default:app",
            vec!["system:serviceaccounts".into()],
        );
        assert_eq!(
            classified(&fc, sa, "/api/v1/namespaces/default/pods"),
            pair("service-accounts", "workload-low")
        );
    }

    #[test]
    fn limits_split_the_server_by_shares_rounding_up() {
        let fc = with_suggested();
        let digest = fc.digest();
        // Shares: catch-all 5, system 30, node-high 40, leader-election 10,
        // workload-high 40, workload-low 100, global-default 20: 245.
        let limit = |n: &str| digest.levels[n].nominal_limit;
        assert_eq!(limit("global-default"), 49);
        assert_eq!(limit("workload-low"), 245);
        assert_eq!(limit("catch-all"), 13);
        assert_eq!(limit("exempt"), 0);
    }

    #[test]
    fn without_any_objects_the_mandatory_ones_are_imagined() {
        let fc = FlowControl::new(600);
        let jane = UserInfo::authenticated("jane", vec![]);
        let c = fc.classify(&attrs(jane, "/version")).expect("classified");
        assert_eq!(c.schema.name, "catch-all");
        assert_eq!(c.level.nominal_limit, 600);
    }

    #[test]
    fn a_schema_whose_level_is_missing_is_skipped_and_dangling() {
        let fc = with_suggested();
        let fs = json!({"metadata": {"name": "mine", "uid": "u"}, "spec": {
            "priorityLevelConfiguration": {"name": "nope"}, "matchingPrecedence": 10,
            "rules": [{"subjects": [{"kind": "User", "user": {"name": "jane"}}],
                       "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}]}]}});
        fc.apply("flowschemas", EventType::Added, &fs);
        let jane = UserInfo::authenticated("jane", vec![]);
        assert_eq!(classified(&fc, jane, "/version").0, "global-default");
        let updates = fc.dangling_updates();
        let mine = updates.iter().find(|(n, _)| n == "mine").expect("mine");
        assert_eq!(mine.1["status"], "True");
        assert_eq!(mine.1["reason"], "NotFound");
        assert!(updates
            .iter()
            .any(|(n, c)| n == "global-default" && c["status"] == "False"));
    }
}
