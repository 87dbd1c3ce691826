//! Watches that feed the cache and the queue (upstream `eventhandlers.go`).
//!
//! - Nodes -> cache; a new or changed node may let unschedulable pods fit.
//! - Pods with a node -> cache (confirming assumed pods); their deletion
//!   frees room. Pods without a node, for this scheduler -> queue.
//! - Namespaces (labels, for affinity `namespaceSelector`) and
//!   PriorityClasses (fallback when a pod lacks `spec.priority`).
//! - PersistentVolumeClaims, PersistentVolumes and StorageClasses -> the
//!   VolumeBinding plugin's [`Volumes`]; a change may let a pod waiting for
//!   its storage fit.
//!
//! Each uses kube-runtime's `watcher`, which lists, watches, and re-lists
//! after a 410; a re-list (Init .. InitDone) drops what disappeared.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, Node, PersistentVolume, PersistentVolumeClaim, Pod};
use k8s_openapi::api::scheduling::v1::PriorityClass;
use k8s_openapi::api::storage::v1::StorageClass;
use kube::api::Api;
use kube::runtime::watcher::{self, Event};
use kube::runtime::WatchStreamExt;
use tokio::sync::watch as signal;

use crate::cache::{pod_key, PodInfo};
use crate::framework::ClusterEvent;
use crate::plugins::volume_binding::Volumes;
use crate::scheduler::Scheduler;

/// PriorityClass name -> value, and the global default.
#[derive(Debug, Default)]
pub struct Priorities {
    classes: RwLock<(HashMap<String, i32>, Option<i32>)>,
}

impl Priorities {
    fn set(&self, pc: &PriorityClass) {
        if let Ok(mut g) = self.classes.write() {
            let name = pc.metadata.name.clone().unwrap_or_default();
            // The apiserver requires a value; the type leaves it optional.
            let value = pc.value.unwrap_or_default();
            g.0.insert(name, value);
            if pc.global_default == Some(true) {
                g.1 = Some(value);
            }
        }
    }

    /// The priority of a pod that lacks `spec.priority`.
    pub fn of(&self, pod: &Pod) -> Option<i32> {
        let g = self.classes.read().ok()?;
        match pod
            .spec
            .as_ref()
            .and_then(|s| s.priority_class_name.as_deref())
        {
            Some(name) => g.0.get(name).copied(),
            None => g.1,
        }
    }
}

/// Runs a watcher, calling `apply`/`delete` per object and `relisted` with
/// the keys seen after each complete list; flags `synced` after the first.
async fn run_watch<K, FA, FD, FR>(
    api: Api<K>,
    synced: signal::Sender<bool>,
    mut apply: FA,
    mut delete: FD,
    mut relisted: FR,
) where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + 'static,
    FA: FnMut(K),
    FD: FnMut(K),
    FR: FnMut(HashSet<String>),
{
    let mut stream = watcher::watcher(api, watcher::Config::default().any_semantic())
        .default_backoff()
        .boxed();
    let mut seen: HashSet<String> = HashSet::new();
    while let Some(ev) = stream.next().await {
        match ev {
            Ok(Event::Init) => seen.clear(),
            Ok(Event::InitApply(o)) => {
                seen.insert(format!(
                    "{}/{}",
                    o.meta().namespace.as_deref().unwrap_or(""),
                    o.meta().name.as_deref().unwrap_or("")
                ));
                apply(o);
            }
            Ok(Event::InitDone) => {
                relisted(std::mem::take(&mut seen));
                let _ = synced.send(true);
            }
            Ok(Event::Apply(o)) => apply(o),
            Ok(Event::Delete(o)) => delete(o),
            Err(e) => tracing::warn!(error = %e, "watch"),
        }
    }
}

fn node_changed_meaningfully(old: &Node, new: &Node) -> bool {
    let facts = |n: &Node| {
        let st = n.status.as_ref();
        let conds: Vec<(String, String)> = st
            .and_then(|s| s.conditions.as_ref())
            .map(|cs| {
                cs.iter()
                    .map(|c| (c.type_.clone(), c.status.clone()))
                    .collect()
            })
            .unwrap_or_default();
        (st.and_then(|s| s.allocatable.clone()), conds)
    };
    old.metadata.labels != new.metadata.labels || old.spec != new.spec || facts(old) != facts(new)
}

/// Starts the watches on `set`; returns one receiver per watch that turns
/// true once it has listed.
pub fn start(
    sched: &Arc<Scheduler>,
    priorities: &Arc<Priorities>,
    volumes: &Arc<Volumes>,
    set: &mut tokio::task::JoinSet<()>,
) -> Vec<signal::Receiver<bool>> {
    let mut ready = Vec::new();
    let client = sched.client.clone();

    // Nodes.
    let (tx, rx) = signal::channel(false);
    ready.push(rx);
    let s = Arc::clone(sched);
    let s2 = Arc::clone(sched);
    let s3 = Arc::clone(sched);
    let known: Arc<std::sync::Mutex<HashMap<String, Node>>> = Arc::default();
    let k2 = Arc::clone(&known);
    set.spawn(run_watch(
        Api::<Node>::all(client.clone()),
        tx,
        move |node: Node| {
            let name = node.metadata.name.clone().unwrap_or_default();
            let old = known
                .lock()
                .ok()
                .and_then(|mut m| m.insert(name, node.clone()));
            let event = match &old {
                None => Some(ClusterEvent::NodeAdd),
                Some(o) if node_changed_meaningfully(o, &node) => Some(ClusterEvent::NodeUpdate),
                Some(_) => None,
            };
            s.cache.upsert_node(node);
            if let Some(e) = event {
                s.queue.move_on_event(e);
            }
        },
        move |node: Node| {
            let name = node.metadata.name.clone().unwrap_or_default();
            if let Ok(mut m) = k2.lock() {
                m.remove(&name);
            }
            s2.cache.remove_node(&name);
        },
        move |seen: HashSet<String>| {
            for name in s3.cache.node_names() {
                if !seen.contains(&format!("/{name}")) {
                    s3.cache.remove_node(&name);
                }
            }
        },
    ));

    // Pods.
    let (tx, rx) = signal::channel(false);
    ready.push(rx);
    let s = Arc::clone(sched);
    let s2 = Arc::clone(sched);
    let s3 = Arc::clone(sched);
    let prios = Arc::clone(priorities);
    set.spawn(run_watch(
        Api::<Pod>::all(client.clone()),
        tx,
        move |pod: Pod| on_pod(&s, &prios, pod),
        move |pod: Pod| on_pod_delete(&s2, &pod_key(&pod)),
        move |seen: HashSet<String>| {
            for key in s3.cache.pod_keys() {
                if !seen.contains(&key) {
                    on_pod_delete(&s3, &key);
                }
            }
        },
    ));

    // Namespaces.
    let (tx, rx) = signal::channel(false);
    ready.push(rx);
    let s = Arc::clone(sched);
    let s2 = Arc::clone(sched);
    set.spawn(run_watch(
        Api::<Namespace>::all(client.clone()),
        tx,
        move |ns: Namespace| {
            s.cache.upsert_namespace(&ns);
            s.queue.move_on_event(ClusterEvent::NamespaceUpdate);
        },
        move |ns: Namespace| {
            s2.cache
                .remove_namespace(ns.metadata.name.as_deref().unwrap_or(""))
        },
        |_| {},
    ));

    // Claims, volumes and classes.
    ready.push(watch_volumes(
        set,
        sched,
        volumes,
        Api::<PersistentVolumeClaim>::all(client.clone()),
        ClusterEvent::PvcChange,
        Volumes::upsert_claim,
        Volumes::remove_claim,
        |v| v.keys().0,
    ));
    ready.push(watch_volumes(
        set,
        sched,
        volumes,
        Api::<PersistentVolume>::all(client.clone()),
        ClusterEvent::PvChange,
        Volumes::upsert_volume,
        Volumes::remove_volume,
        |v| v.keys().1,
    ));
    ready.push(watch_volumes(
        set,
        sched,
        volumes,
        Api::<StorageClass>::all(client.clone()),
        ClusterEvent::StorageClassChange,
        Volumes::upsert_class,
        Volumes::remove_class,
        |v| v.keys().2,
    ));

    // PriorityClasses (not needed for readiness).
    let (tx, _rx) = signal::channel(false);
    let p = Arc::clone(priorities);
    set.spawn(run_watch(
        Api::<PriorityClass>::all(client),
        tx,
        move |pc: PriorityClass| p.set(&pc),
        |_| {},
        |_| {},
    ));
    ready
}

/// Feeds one kind of the VolumeBinding plugin's [`Volumes`] (claims by
/// `ns/name`, volumes and classes by name) from a watch; every change may
/// let a pod waiting for its storage fit (`event`).
#[allow(clippy::too_many_arguments)]
fn watch_volumes<K>(
    set: &mut tokio::task::JoinSet<()>,
    sched: &Arc<Scheduler>,
    volumes: &Arc<Volumes>,
    api: Api<K>,
    event: ClusterEvent,
    upsert: fn(&Volumes, K),
    remove: fn(&Volumes, &str),
    known: fn(&Volumes) -> Vec<String>,
) -> signal::Receiver<bool>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + 'static,
{
    let (tx, rx) = signal::channel(false);
    let key = |o: &K| match o.meta().namespace.as_deref() {
        Some(ns) => format!("{ns}/{}", o.meta().name.as_deref().unwrap_or("")),
        None => o.meta().name.clone().unwrap_or_default(),
    };
    let (v, v2, v3, s) = (
        Arc::clone(volumes),
        Arc::clone(volumes),
        Arc::clone(volumes),
        Arc::clone(sched),
    );
    set.spawn(run_watch(
        api,
        tx,
        move |o: K| {
            upsert(&v, o);
            s.queue.move_on_event(event);
        },
        move |o: K| remove(&v2, &key(&o)),
        move |seen: HashSet<String>| {
            for k in known(&v3) {
                // The seen keys are `ns/name`, `/name` when cluster-scoped.
                let seen_as = if k.contains('/') {
                    k.clone()
                } else {
                    format!("/{k}")
                };
                if !seen.contains(&seen_as) {
                    remove(&v3, &k);
                }
            }
        },
    ));
    rx
}

fn on_pod(s: &Arc<Scheduler>, prios: &Priorities, pod: Pod) {
    let key = pod_key(&pod);
    let phase = pod.status.as_ref().and_then(|st| st.phase.as_deref());
    if matches!(phase, Some("Succeeded" | "Failed")) {
        on_pod_delete(s, &key);
        return;
    }
    let bound = pod
        .spec
        .as_ref()
        .and_then(|sp| sp.node_name.as_deref())
        .is_some_and(|n| !n.is_empty());
    if bound {
        s.queue.delete(&key);
        s.nominator.remove(&key);
        let labels = pod.metadata.labels.clone();
        match s.cache.upsert_bound_pod(Arc::new(pod)) {
            None => s.queue.move_on_event(ClusterEvent::AssignedPodAdd),
            Some(old) if old.pod.metadata.labels != labels => {
                s.queue.move_on_event(ClusterEvent::AssignedPodUpdate)
            }
            Some(_) => {}
        }
        return;
    }
    let ours = pod
        .spec
        .as_ref()
        .and_then(|sp| sp.scheduler_name.as_deref())
        .unwrap_or(crate::config::DEFAULT_SCHEDULER_NAME)
        == s.config.scheduler_name;
    if !ours || pod.metadata.deletion_timestamp.is_some() {
        s.queue.delete(&key);
        return;
    }
    if s.cache.is_assumed(&key) {
        // Binding in flight; the watch will report the node soon.
        return;
    }
    let mut info = PodInfo::new(Arc::new(pod));
    if info.pod.spec.as_ref().and_then(|sp| sp.priority).is_none() {
        if let Some(p) = prios.of(&info.pod) {
            info.priority = p;
        }
    }
    s.queue.add(Arc::new(info));
}

fn on_pod_delete(s: &Arc<Scheduler>, key: &str) {
    s.queue.delete(key);
    s.nominator.remove(key);
    if s.cache.remove_pod(key).is_some() {
        s.queue.move_on_event(ClusterEvent::AssignedPodDelete);
    }
}
