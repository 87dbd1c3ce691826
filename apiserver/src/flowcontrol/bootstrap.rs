//! The configuration every cluster starts with, and its upkeep.
//!
//! Two kinds of objects, as upstream's:
//! - **mandatory** (`exempt` and `catch-all`, both kinds): always there and
//!   always as defined here; a user's edit to their spec is put back;
//! - **suggested** (`system`, `node-high`, `leader-election`,
//!   `workload-high`, `workload-low`, `global-default` levels and the
//!   schemas that lead to them): created when missing, kept up to date only
//!   while their `apf.kubernetes.io/autoupdate-spec` annotation says `true`,
//!   so an operator who sets it to `false` can tune them for good.
//!
//! The apiserver runs [`ensure`] at start and again every minute.

use std::sync::Arc;
use std::time::Duration;

use apimachinery::resources::ResourceInfo;
use serde_json::{json, Value};

use crate::storage::StorageError;
use crate::ApiServer;

/// The annotation saying whether the apiserver keeps an object's spec.
pub const AUTO_UPDATE: &str = "apf.kubernetes.io/autoupdate-spec";

const GROUP: &str = "flowcontrol.apiserver.k8s.io";

/// How often the configuration is checked again.
const RESYNC: Duration = Duration::from_secs(60);

fn queued(shares: u32, lendable: u32, queues: u32, hand: u32) -> Value {
    json!({"type": "Limited", "limited": {
        "nominalConcurrencyShares": shares,
        "lendablePercent": lendable,
        "limitResponse": {"type": "Queue", "queuing": {
            "queues": queues, "handSize": hand, "queueLengthLimit": 50}},
    }})
}

/// The mandatory priority levels: `(name, spec)`.
pub fn mandatory_levels() -> Vec<(&'static str, Value)> {
    vec![
        (
            "exempt",
            json!({"type": "Exempt", "exempt": {"nominalConcurrencyShares": 0, "lendablePercent": 0}}),
        ),
        (
            "catch-all",
            json!({"type": "Limited", "limited": {
                "nominalConcurrencyShares": 5, "lendablePercent": 0,
                "limitResponse": {"type": "Reject"}}}),
        ),
    ]
}

/// The suggested priority levels: `(name, spec)`.
pub fn suggested_levels() -> Vec<(&'static str, Value)> {
    vec![
        ("system", queued(30, 33, 64, 6)),
        ("node-high", queued(40, 25, 64, 6)),
        ("leader-election", queued(10, 0, 16, 4)),
        ("workload-high", queued(40, 50, 128, 6)),
        ("workload-low", queued(100, 90, 128, 6)),
        ("global-default", queued(20, 50, 128, 6)),
    ]
}

fn groups(names: &[&str]) -> Vec<Value> {
    names
        .iter()
        .map(|n| json!({"kind": "Group", "group": {"name": n}}))
        .collect()
}

fn users(names: &[&str]) -> Vec<Value> {
    names
        .iter()
        .map(|n| json!({"kind": "User", "user": {"name": n}}))
        .collect()
}

fn kube_system_service_accounts() -> Vec<Value> {
    vec![
        json!({"kind": "ServiceAccount", "serviceAccount": {"namespace": "kube-system", "name": "*"}}),
    ]
}

/// A rule over everything: every verb, group, resource and namespace,
/// cluster scope included, and every non-resource path.
fn everything(subjects: Vec<Value>) -> Value {
    json!([{
        "subjects": subjects,
        "resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"],
                           "namespaces": ["*"], "clusterScope": true}],
        "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
    }])
}

fn schema(level: &str, precedence: u32, distinguisher: Option<&str>, rules: Value) -> Value {
    let mut spec = json!({
        "priorityLevelConfiguration": {"name": level},
        "matchingPrecedence": precedence,
        "rules": rules,
    });
    if let Some(d) = distinguisher {
        spec["distinguisherMethod"] = json!({"type": d});
    }
    spec
}

/// The mandatory FlowSchemas: `(name, spec)`.
pub fn mandatory_schemas() -> Vec<(&'static str, Value)> {
    vec![
        (
            "exempt",
            schema("exempt", 1, None, everything(groups(&["system:masters"]))),
        ),
        (
            "catch-all",
            schema(
                "catch-all",
                10000,
                Some("ByUser"),
                everything(groups(&["system:unauthenticated", "system:authenticated"])),
            ),
        ),
    ]
}

/// The suggested FlowSchemas: `(name, spec)`.
pub fn suggested_schemas() -> Vec<(&'static str, Value)> {
    let leases = |verbs: &[&str]| {
        json!({"verbs": verbs, "apiGroups": ["coordination.k8s.io"], "resources": ["leases"],
               "namespaces": ["*"]})
    };
    let mut leader_election_subjects =
        users(&["system:kube-controller-manager", "system:kube-scheduler"]);
    leader_election_subjects.extend(kube_system_service_accounts());
    vec![
        (
            "system-nodes",
            schema(
                "system",
                500,
                Some("ByUser"),
                everything(groups(&["system:nodes"])),
            ),
        ),
        (
            "system-node-high",
            schema(
                "node-high",
                400,
                Some("ByUser"),
                json!([{
                    "subjects": groups(&["system:nodes"]),
                    "resourceRules": [
                        {"verbs": ["*"], "apiGroups": [""], "resources": ["nodes", "nodes/status"],
                         "namespaces": ["*"], "clusterScope": true},
                        leases(&["*"]),
                    ],
                }]),
            ),
        ),
        (
            "probes",
            schema(
                "exempt",
                2,
                None,
                json!([{
                    "subjects": groups(&["system:unauthenticated", "system:authenticated"]),
                    "nonResourceRules": [{"verbs": ["get"],
                                          "nonResourceURLs": ["/healthz", "/readyz", "/livez"]}],
                }]),
            ),
        ),
        (
            "system-leader-election",
            schema(
                "leader-election",
                100,
                Some("ByUser"),
                json!([{
                    "subjects": leader_election_subjects,
                    "resourceRules": [leases(&["get", "create", "update"])],
                }]),
            ),
        ),
        (
            "kube-controller-manager",
            schema(
                "workload-high",
                800,
                Some("ByNamespace"),
                everything(users(&["system:kube-controller-manager"])),
            ),
        ),
        (
            "kube-scheduler",
            schema(
                "workload-high",
                800,
                Some("ByNamespace"),
                everything(users(&["system:kube-scheduler"])),
            ),
        ),
        (
            "kube-system-service-accounts",
            schema(
                "workload-high",
                900,
                Some("ByNamespace"),
                everything(kube_system_service_accounts()),
            ),
        ),
        (
            "service-accounts",
            schema(
                "workload-low",
                9000,
                Some("ByUser"),
                everything(groups(&["system:serviceaccounts"])),
            ),
        ),
        (
            "global-default",
            schema(
                "global-default",
                9900,
                Some("ByUser"),
                everything(groups(&["system:unauthenticated", "system:authenticated"])),
            ),
        ),
    ]
}

/// The mandatory objects as stored objects (with defaults), for a
/// configuration that lacks them: `(priority levels, flow schemas)`.
pub fn mandatory_objects() -> (Vec<Value>, Vec<Value>) {
    let build = |plural: &str, kind: &str, list: Vec<(&str, Value)>| -> Vec<Value> {
        let Some(res) = apimachinery::resources::find(GROUP, "v1", plural) else {
            return Vec::new();
        };
        list.into_iter()
            .map(|(name, spec)| object(res, kind, name, spec))
            .collect()
    };
    (
        build(
            "prioritylevelconfigurations",
            "PriorityLevelConfiguration",
            mandatory_levels(),
        ),
        build("flowschemas", "FlowSchema", mandatory_schemas()),
    )
}

fn object(res: &ResourceInfo, kind: &str, name: &str, spec: Value) -> Value {
    let mut obj = json!({
        "apiVersion": format!("{GROUP}/v1"),
        "kind": kind,
        "metadata": {"name": name, "annotations": {AUTO_UPDATE: "true"}},
        "spec": spec,
    });
    crate::registry::strategy_for(res).default(&mut obj);
    obj
}

/// Keeps the bootstrap configuration in place: now (retrying until etcd
/// answers) and every [`RESYNC`] after, until the server stops.
pub async fn run(server: Arc<ApiServer>) {
    let mut stopping = server.stopping.subscribe();
    let mut delay = Duration::from_millis(100);
    loop {
        let wait = match ensure(&server).await {
            Ok(()) => {
                delay = Duration::from_millis(100);
                RESYNC
            }
            Err(e) => {
                tracing::debug!(error = %e, "waiting for etcd to ensure the flow-control configuration");
                delay = (delay * 2).min(Duration::from_secs(5));
                delay
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stopping.wait_for(|s| *s) => return,
        }
    }
}

/// One pass over every bootstrap object of both kinds.
pub async fn ensure(server: &ApiServer) -> Result<(), StorageError> {
    let kinds = [
        (
            "prioritylevelconfigurations",
            "PriorityLevelConfiguration",
            mandatory_levels(),
            suggested_levels(),
        ),
        (
            "flowschemas",
            "FlowSchema",
            mandatory_schemas(),
            suggested_schemas(),
        ),
    ];
    for (plural, kind, mandatory, suggested) in kinds {
        let Some(res) = apimachinery::resources::find(GROUP, "v1", plural) else {
            continue;
        };
        let all = mandatory
            .into_iter()
            .map(|o| (o, true))
            .chain(suggested.into_iter().map(|o| (o, false)));
        for ((name, spec), always) in all {
            ensure_one(server, res, object(res, kind, name, spec), always).await?;
        }
    }
    Ok(())
}

/// Whether the apiserver may rewrite `current`'s spec: always for a
/// mandatory object; for a suggested one as its annotation says, or, with
/// no readable annotation, only while nobody has changed it (generation 1).
fn auto_updates(current: &Value, always: bool) -> bool {
    if always {
        return true;
    }
    match current
        .pointer(&format!(
            "/metadata/annotations/{}",
            AUTO_UPDATE.replace('/', "~1")
        ))
        .and_then(Value::as_str)
        .and_then(|v| v.parse::<bool>().ok())
    {
        Some(v) => v,
        None => {
            current
                .pointer("/metadata/generation")
                .and_then(Value::as_i64)
                == Some(1)
        }
    }
}

/// The revised object, if `current` needs one to match the bootstrap
/// object `want` (spec and annotation).
pub fn revise(current: &Value, want: &Value, always: bool) -> Option<Value> {
    let update_spec = auto_updates(current, always);
    let annotation = current
        .pointer(&format!(
            "/metadata/annotations/{}",
            AUTO_UPDATE.replace('/', "~1")
        ))
        .and_then(Value::as_str);
    let fix_annotation = annotation.and_then(|v| v.parse::<bool>().ok()) != Some(update_spec);
    let fix_spec = update_spec && current.get("spec") != want.get("spec");
    if !fix_annotation && !fix_spec {
        return None;
    }
    let mut revised = current.clone();
    if fix_spec {
        revised["spec"] = want["spec"].clone();
    }
    if fix_annotation {
        let meta = crate::registry::meta_mut(&mut revised);
        let annotations = meta.entry("annotations").or_insert_with(|| json!({}));
        if !annotations.is_object() {
            *annotations = json!({});
        }
        annotations[AUTO_UPDATE] = json!(update_spec.to_string());
    }
    Some(revised)
}

async fn ensure_one(
    server: &ApiServer,
    res: &'static ResourceInfo,
    mut want: Value,
    always: bool,
) -> Result<(), StorageError> {
    let name = want
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let key = server.store.key(res.storage_name(), None, &name);
    match server.store.get(&key).await? {
        None => {
            crate::registry::prepare_for_create(res, &mut want, &uuid::Uuid::new_v4().to_string());
            match server.store.create(&key, &want, None).await {
                Ok(_) => {
                    tracing::info!(kind = res.kind, name, "created flow-control configuration");
                    Ok(())
                }
                Err(StorageError::AlreadyExists) => Ok(()),
                Err(e) => Err(e),
            }
        }
        Some(stored) => {
            let Some(mut revised) = revise(&stored.object, &want, always) else {
                return Ok(());
            };
            crate::registry::prepare_for_update(res, &mut revised, &stored.object);
            match server
                .store
                .update(&key, &revised, stored.mod_revision)
                .await
            {
                Ok(_) => {
                    tracing::info!(kind = res.kind, name, "restored flow-control configuration");
                    Ok(())
                }
                // Changed meanwhile: the next pass looks again.
                Err(StorageError::Conflict) | Err(StorageError::NotFound) => Ok(()),
                Err(e) => Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(spec: Value, annotation: Option<&str>, generation: i64) -> Value {
        let mut o = json!({"metadata": {"name": "x", "generation": generation}, "spec": spec});
        if let Some(a) = annotation {
            o["metadata"]["annotations"] = json!({AUTO_UPDATE: a});
        }
        o
    }

    #[test]
    fn a_mandatory_spec_is_always_put_back() {
        let want = stored(json!({"a": 1}), Some("true"), 1);
        let edited = stored(json!({"a": 2}), Some("false"), 3);
        let revised = revise(&edited, &want, true).expect("revised");
        assert_eq!(revised["spec"], json!({"a": 1}));
        assert_eq!(revised["metadata"]["annotations"][AUTO_UPDATE], "true");
    }

    #[test]
    fn a_suggested_spec_follows_its_annotation() {
        let want = stored(json!({"a": 1}), Some("true"), 1);
        let kept = stored(json!({"a": 2}), Some("false"), 3);
        assert!(revise(&kept, &want, false).is_none());
        let updating = stored(json!({"a": 2}), Some("true"), 3);
        assert_eq!(
            revise(&updating, &want, false).expect("revised")["spec"],
            json!({"a": 1})
        );
        // No annotation: changed by someone (generation > 1) means hands off,
        // and the annotation says so from then on.
        let edited = stored(json!({"a": 2}), None, 2);
        let revised = revise(&edited, &want, false).expect("annotated");
        assert_eq!(revised["spec"], json!({"a": 2}));
        assert_eq!(revised["metadata"]["annotations"][AUTO_UPDATE], "false");
        assert!(revise(&want, &want, false).is_none());
    }

    #[test]
    fn every_schema_names_a_bootstrap_level() {
        let levels: Vec<&str> = mandatory_levels()
            .into_iter()
            .chain(suggested_levels())
            .map(|(n, _)| n)
            .collect();
        for (name, spec) in mandatory_schemas().into_iter().chain(suggested_schemas()) {
            let level = spec["priorityLevelConfiguration"]["name"]
                .as_str()
                .unwrap_or("");
            assert!(levels.contains(&level), "{name} -> {level}");
        }
        assert_eq!(levels.len(), 8);
        assert_eq!(suggested_schemas().len() + mandatory_schemas().len(), 11);
    }
}
