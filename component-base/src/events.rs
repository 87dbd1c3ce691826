//! The event recorder: `core/v1` Events a user reads in `kubectl describe`
//! (ScalingReplicaSet, SuccessfulCreate, SuccessfulDelete, NodeNotReady...).
//!
//! Recording never blocks a reconcile: events go through a channel to one
//! sender task. Repeats of the same (object, reason, message) bump `count`
//! and `lastTimestamp` of the first Event instead of writing a new one, as
//! client-go's correlator does.

use std::collections::HashMap;

use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::Resource;
use tokio::sync::mpsc;

/// `Normal` events.
pub const NORMAL: &str = "Normal";
/// `Warning` events.
pub const WARNING: &str = "Warning";

struct Pending {
    object: ObjectReference,
    type_: String,
    reason: String,
    message: String,
}

/// Records events for one component; cheap to clone.
#[derive(Clone)]
pub struct Recorder {
    tx: Option<mpsc::UnboundedSender<Pending>>,
}

/// A reference to `obj` for `involvedObject`.
pub fn object_reference<K: Resource<DynamicType = ()>>(obj: &K) -> ObjectReference {
    let m = obj.meta();
    ObjectReference {
        api_version: Some(K::api_version(&()).into_owned()),
        kind: Some(K::kind(&()).into_owned()),
        name: m.name.clone(),
        namespace: m.namespace.clone(),
        uid: m.uid.clone(),
        resource_version: m.resource_version.clone(),
        ..Default::default()
    }
}

impl Recorder {
    /// A recorder that drops everything (unit tests).
    pub fn disabled() -> Recorder {
        Recorder { tx: None }
    }

    /// A recorder writing as `component` (`deployment-controller`, ...).
    pub fn new(client: kube::Client, component: &str) -> Recorder {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_default();
        Recorder::with_host(client, component, host)
    }

    /// A recorder writing as `component` on `host` (the kubelet's node
    /// name: `kubectl describe` shows `kubelet, <node>` as the source).
    pub fn with_host(client: kube::Client, component: &str, host: String) -> Recorder {
        let (tx, mut rx) = mpsc::unbounded_channel::<Pending>();
        let component = component.to_string();
        tokio::spawn(async move {
            // (uid, reason, message) -> (namespace, event name, count)
            let mut seen: HashMap<(String, String, String), (String, String, i32)> = HashMap::new();
            while let Some(p) = rx.recv().await {
                let ns = p
                    .object
                    .namespace
                    .clone()
                    .filter(|n| !n.is_empty())
                    .unwrap_or_else(|| "default".into());
                let api: Api<Event> = Api::namespaced(client.clone(), &ns);
                let now = Time(k8s_openapi::jiff::Timestamp::now());
                let id = (
                    p.object.uid.clone().unwrap_or_default(),
                    p.reason.clone(),
                    p.message.clone(),
                );
                if let Some((ens, name, count)) = seen.get_mut(&id) {
                    *count += 1;
                    let patch = serde_json::json!({"count": *count, "lastTimestamp": now});
                    let api: Api<Event> = Api::namespaced(client.clone(), ens);
                    if api
                        .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
                        .await
                        .is_ok()
                    {
                        continue;
                    }
                }
                let name = format!(
                    "{}.{:x}",
                    p.object.name.clone().unwrap_or_default(),
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map(|d| d.as_nanos())
                        .unwrap_or(0)
                );
                let ev = Event {
                    metadata: ObjectMeta {
                        name: Some(name.clone()),
                        namespace: Some(ns.clone()),
                        ..Default::default()
                    },
                    involved_object: p.object,
                    reason: Some(p.reason),
                    message: Some(p.message),
                    type_: Some(p.type_),
                    source: Some(EventSource {
                        component: Some(component.clone()),
                        host: (component == "kubelet").then(|| host.clone()),
                    }),
                    first_timestamp: Some(now.clone()),
                    last_timestamp: Some(now),
                    count: Some(1),
                    reporting_component: Some(component.clone()),
                    reporting_instance: Some(host.clone()),
                    ..Default::default()
                };
                match api.create(&PostParams::default(), &ev).await {
                    Ok(_) => {
                        if seen.len() > 4096 {
                            seen.clear();
                        }
                        seen.insert(id, (ns, name, 1));
                    }
                    Err(e) => tracing::debug!(error = %e, "could not write event"),
                }
            }
        });
        Recorder { tx: Some(tx) }
    }

    /// Records an event about `obj`.
    pub fn event<K: Resource<DynamicType = ()>>(
        &self,
        obj: &K,
        type_: &str,
        reason: &str,
        message: String,
    ) {
        self.event_ref(object_reference(obj), type_, reason, message);
    }

    /// Records an event about a referenced object.
    pub fn event_ref(&self, object: ObjectReference, type_: &str, reason: &str, message: String) {
        tracing::info!(
            object = %format!("{}/{}", object.namespace.clone().unwrap_or_default(), object.name.clone().unwrap_or_default()),
            kind = %object.kind.clone().unwrap_or_default(),
            reason,
            "{message}"
        );
        if let Some(tx) = &self.tx {
            let _ = tx.send(Pending {
                object,
                type_: type_.to_string(),
                reason: reason.to_string(),
                message,
            });
        }
    }
}
