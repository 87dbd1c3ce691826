//! The event recorder: `core/v1` Events a user reads in `kubectl describe`
//! (ScalingReplicaSet, SuccessfulCreate, SuccessfulDelete, NodeNotReady...).
//!
//! Recording never blocks a reconcile: events go through a channel to one
//! sender task, which correlates them as client-go's recorder does
//! ([`Correlator`]): repeats of the same (object, reason, message) bump
//! `count` and `lastTimestamp` of the first Event instead of writing a new
//! one; from the tenth different message of one (object, type, reason)
//! within ten minutes they are combined into one Event (`(combined from
//! similar events): ...`); and one object's events from this recorder pass a
//! token bucket (25 at once, then one per five minutes), so that the
//! `SuccessfulCreate` Events of a ReplicaSet of a thousand replicas are 25
//! writes, not a thousand.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

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
            let mut correlator = Correlator::default();
            while let Some(p) = rx.recv().await {
                let ns = p
                    .object
                    .namespace
                    .clone()
                    .filter(|n| !n.is_empty())
                    .unwrap_or_else(|| "default".into());
                let now = Time(k8s_openapi::jiff::Timestamp::now());
                let (key, message) = match correlator.correlate(&p, Instant::now()) {
                    Correlated::Dropped => {
                        tracing::debug!(reason = %p.reason, "event dropped by the spam filter");
                        continue;
                    }
                    Correlated::Write { key, message } => (key, message),
                };
                if let Some((ens, name, count)) = correlator.written.get_mut(&key) {
                    *count += 1;
                    let patch = serde_json::json!({
                        "count": *count, "lastTimestamp": now, "message": message,
                    });
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
                    message: Some(message),
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
                let api: Api<Event> = Api::namespaced(client.clone(), &ns);
                match api.create(&PostParams::default(), &ev).await {
                    Ok(_) => correlator.remember(key, ns, name),
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

/// Events of one object (and type) that pass at once, then one per
/// [`SPAM_REFILL`] (client-go's `defaultSpamBurst` and `defaultSpamQPS`).
const SPAM_BURST: f64 = 25.0;
/// How long the spam filter takes to earn one more event.
const SPAM_REFILL: Duration = Duration::from_secs(300);
/// Different messages of one (object, type, reason) written apart before
/// they are combined (client-go's `defaultAggregateMaxEvents`).
const AGGREGATE_MAX: usize = 10;
/// How long different messages count as similar
/// (`defaultAggregateIntervalInSeconds`).
const AGGREGATE_INTERVAL: Duration = Duration::from_secs(600);
/// Keys kept per cache before it starts over (client-go's LRU size).
const CACHE_SIZE: usize = 4096;
/// The prefix of a combined Event's message.
const COMBINED: &str = "(combined from similar events):";

/// What becomes of one recorded event.
#[derive(Debug, PartialEq)]
enum Correlated {
    /// The object's events came too fast: not written.
    Dropped,
    /// Written under `key` (a new Event, or a count bump of the one
    /// already written under it) with this message.
    Write { key: String, message: String },
}

/// A token bucket of the spam filter.
#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The messages seen for one (object, type, reason).
#[derive(Debug)]
struct Similar {
    messages: HashSet<String>,
    last: Instant,
}

/// client-go's `EventCorrelator`: spam filter, aggregator and the Events
/// already written (to bump their count).
#[derive(Debug, Default)]
struct Correlator {
    spam: HashMap<String, Bucket>,
    similar: HashMap<String, Similar>,
    /// Event key -> (namespace, name, count) of the Event written for it.
    written: HashMap<String, (String, String, i32)>,
}

fn bounded<V>(map: &mut HashMap<String, V>) {
    if map.len() >= CACHE_SIZE {
        map.clear();
    }
}

impl Correlator {
    fn correlate(&mut self, p: &Pending, now: Instant) -> Correlated {
        let o = &p.object;
        let object = [
            o.kind.as_deref(),
            o.namespace.as_deref(),
            o.name.as_deref(),
            o.uid.as_deref(),
            o.api_version.as_deref(),
        ]
        .map(Option::unwrap_or_default)
        .join("\u{1f}");
        let spam_key = format!("{object}\u{1f}{}", p.type_);
        bounded(&mut self.spam);
        let bucket = self.spam.entry(spam_key.clone()).or_insert(Bucket {
            tokens: SPAM_BURST,
            at: now,
        });
        let earned =
            now.saturating_duration_since(bucket.at).as_secs_f64() / SPAM_REFILL.as_secs_f64();
        bucket.tokens = (bucket.tokens + earned).min(SPAM_BURST);
        bucket.at = now;
        if bucket.tokens < 1.0 {
            return Correlated::Dropped;
        }
        bucket.tokens -= 1.0;

        let aggregate_key = format!("{spam_key}\u{1f}{}", p.reason);
        bounded(&mut self.similar);
        let similar = self
            .similar
            .entry(aggregate_key.clone())
            .or_insert_with(|| Similar {
                messages: HashSet::new(),
                last: now,
            });
        if now.saturating_duration_since(similar.last) > AGGREGATE_INTERVAL {
            similar.messages.clear();
        }
        similar.last = now;
        similar.messages.insert(p.message.clone());
        if similar.messages.len() < AGGREGATE_MAX {
            return Correlated::Write {
                key: format!("{aggregate_key}\u{1f}{}", p.message),
                message: p.message.clone(),
            };
        }
        // Keep the set at its size: the next different message is combined
        // too.
        similar.messages.remove(&p.message);
        Correlated::Write {
            key: aggregate_key,
            message: format!("{COMBINED} {}", p.message),
        }
    }

    fn remember(&mut self, key: String, namespace: String, name: String) {
        bounded(&mut self.written);
        self.written.insert(key, (namespace, name, 1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(name: &str, reason: &str, message: &str) -> Pending {
        Pending {
            object: ObjectReference {
                kind: Some("ReplicaSet".into()),
                namespace: Some("default".into()),
                name: Some(name.into()),
                uid: Some(format!("uid-{name}")),
                ..Default::default()
            },
            type_: NORMAL.into(),
            reason: reason.into(),
            message: message.into(),
        }
    }

    fn written(c: &mut Correlator, p: &Pending, now: Instant) -> Option<(String, String)> {
        match c.correlate(p, now) {
            Correlated::Dropped => None,
            Correlated::Write { key, message } => Some((key, message)),
        }
    }

    #[test]
    fn similar_messages_are_combined_from_the_tenth_on() {
        let mut c = Correlator::default();
        let now = Instant::now();
        let mut keys = Vec::new();
        for i in 0..12 {
            let p = pending("web", "SuccessfulCreate", &format!("Created pod: web-{i}"));
            let (key, message) = written(&mut c, &p, now).expect("within the burst");
            if i < 9 {
                assert_eq!(message, format!("Created pod: web-{i}"));
            } else {
                assert_eq!(message, format!("{COMBINED} Created pod: web-{i}"));
            }
            keys.push(key);
        }
        // Nine Events of their own, then one combined Event bumped.
        let distinct: HashSet<&String> = keys.iter().collect();
        assert_eq!(distinct.len(), 10);
        assert_eq!(keys[9], keys[11]);
        // The same message again is the same Event (a count bump).
        let again = written(
            &mut c,
            &pending("web", "SuccessfulCreate", "Created pod: web-0"),
            now,
        );
        assert_eq!(again.map(|(k, _)| k).as_ref(), Some(&keys[0]));
        // Another reason, or another object, is counted apart.
        let other = written(
            &mut c,
            &pending("web", "SuccessfulDelete", "Deleted pod: web-0"),
            now,
        );
        assert_eq!(other.map(|(_, m)| m).as_deref(), Some("Deleted pod: web-0"));
        let later = now + AGGREGATE_INTERVAL + Duration::from_secs(1);
        let fresh = written(
            &mut c,
            &pending("web", "SuccessfulCreate", "Created pod: web-99"),
            later,
        );
        assert_eq!(
            fresh.map(|(_, m)| m).as_deref(),
            Some("Created pod: web-99")
        );
    }

    #[test]
    fn one_object_writes_a_burst_then_one_event_per_five_minutes() {
        let mut c = Correlator::default();
        let now = Instant::now();
        let passed = (0..100)
            .filter(|i| {
                let p = pending("web", "SuccessfulCreate", &format!("Created pod: web-{i}"));
                written(&mut c, &p, now).is_some()
            })
            .count();
        assert_eq!(passed, SPAM_BURST as usize);
        // Other objects have buckets of their own.
        assert!(written(&mut c, &pending("db", "SuccessfulCreate", "x"), now).is_some());
        let p = pending("web", "SuccessfulCreate", "Created pod: web-100");
        assert!(written(&mut c, &p, now + SPAM_REFILL / 2).is_none());
        assert!(written(&mut c, &p, now + SPAM_REFILL + Duration::from_secs(1)).is_some());
        assert!(written(&mut c, &p, now + SPAM_REFILL + Duration::from_secs(2)).is_none());
    }
}
