//! The eviction manager's loop (upstream's `managerImpl.synchronize`).
//!
//! Every `evictionMonitoringPeriod`:
//! 1. observe the signals ([`super::signals`]);
//! 2. [`Manager::step`]: which thresholds are met (a met one stays met
//!    until its minimum reclaim is free again), since when, which node
//!    conditions follow (kept for `evictionPressureTransitionPeriod` after
//!    the last time a threshold was met), and which thresholds *act*: hard
//!    ones at once, soft ones once met for longer than their grace period;
//! 3. publish the conditions ([`super::Shared`]): the node status loop posts
//!    them and pod admission reads them;
//! 4. for the first acting threshold (memory before disk before pids): for
//!    disk, first remove unused images; then rank the active pods
//!    ([`super::ranking`]) and evict the first that is not critical: ONE pod
//!    per cycle, then wait (up to 30 s) until it has stopped, so the next
//!    cycle sees what its eviction freed.
//!
//! Evicting asks the pod's worker to kill it ([`super::Shared::request`]):
//! the worker owns the pod's containers and status, as upstream's pod
//! workers do for the eviction manager's `killPodFunc`.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use tracing::Instrument;

use super::ranking;
use super::signals::{Machine, Observation, Observations, PodUsage};
use super::thresholds::{Resource, Signal, Threshold};
use super::{Request, Shared};
use apimachinery::quantity::{Format, Quantity};

/// How long the manager waits for an evicted pod to stop.
const CLEANUP_TIMEOUT: Duration = Duration::from_secs(30);

/// The manager's memory between cycles.
#[derive(Debug)]
pub struct Manager {
    thresholds: Vec<Threshold>,
    transition_period: Duration,
    /// When each met threshold was first seen met.
    first_observed: HashMap<(Signal, bool), Instant>,
    /// When each condition's threshold was last seen met.
    condition_seen: HashMap<&'static str, Instant>,
}

/// What one [`Manager::step`] concluded.
#[derive(Debug, Default, PartialEq)]
pub struct Step {
    /// The node conditions that are True.
    pub conditions: BTreeSet<&'static str>,
    /// Thresholds to act on now, the one to act on first first, each with
    /// its signal's observation.
    pub acting: Vec<(Threshold, Observation)>,
}

impl Manager {
    /// A manager for `thresholds`.
    pub fn new(thresholds: Vec<Threshold>, transition_period: Duration) -> Manager {
        Manager {
            thresholds,
            transition_period,
            first_observed: HashMap::new(),
            condition_seen: HashMap::new(),
        }
    }

    /// One cycle's decisions from the signals observed at `now`.
    pub fn step(&mut self, observed: &Observations, now: Instant) -> Step {
        let mut met = Vec::new();
        for t in &self.thresholds {
            let Some(o) = observed.get(&t.signal) else {
                continue;
            };
            let was_met = self.first_observed.contains_key(&t.key());
            if t.met(o.available, o.capacity, was_met) {
                met.push((t.clone(), *o));
            }
        }
        self.first_observed
            .retain(|k, _| met.iter().any(|(t, _)| t.key() == *k));
        for (t, _) in &met {
            self.first_observed.entry(t.key()).or_insert(now);
            // Conditions follow any met threshold, before its grace period.
            self.condition_seen.insert(t.signal.condition(), now);
        }
        let transition = self.transition_period;
        self.condition_seen
            .retain(|_, at| now.saturating_duration_since(*at) < transition || *at == now);
        let conditions = self.condition_seen.keys().copied().collect();
        let mut acting: Vec<(Threshold, Observation)> = met
            .into_iter()
            .filter(|(t, _)| {
                self.first_observed
                    .get(&t.key())
                    .is_some_and(|since| now.saturating_duration_since(*since) >= t.grace_period)
            })
            .collect();
        acting.sort_by_key(|(t, _)| (t.signal, !t.is_hard()));
        Step { conditions, acting }
    }
}

/// An amount as upstream prints it: bytes as a binary quantity (`512Mi`),
/// process counts as plain numbers.
fn amount(resource: Resource, n: u64) -> String {
    let n = i64::try_from(n).unwrap_or(i64::MAX);
    let format = match resource {
        Resource::Pids => Format::DecimalSI,
        Resource::Memory | Resource::EphemeralStorage => Format::BinarySI,
    };
    Quantity::new(n, 0, format).to_string()
}

/// The evicted pod's status message, in upstream's words: the resource,
/// the threshold and what was left, and every container using more than
/// it requested.
pub fn message(
    threshold: &Threshold,
    observed: &Observation,
    pod: &Pod,
    usage: Option<&PodUsage>,
) -> String {
    let resource = threshold.signal.resource();
    let mut msg = format!(
        "The node was low on resource: {}. Threshold quantity: {}, available: {}. ",
        resource.name(),
        amount(resource, threshold.value.resolve(observed.capacity)),
        amount(resource, observed.available),
    );
    if resource == Resource::Pids {
        return msg;
    }
    for c in pod.spec.iter().flat_map(|s| s.containers.iter()) {
        let Some(u) = usage.and_then(|u| u.containers.get(&c.name)) else {
            continue;
        };
        let used = match resource {
            Resource::Memory => u.memory,
            _ => u.ephemeral,
        };
        if used <= ranking::container_request(c, resource) {
            continue;
        }
        let request = c
            .resources
            .as_ref()
            .and_then(|r| r.requests.as_ref())
            .and_then(|r| r.get(resource.name()))
            .map(|q| q.0.clone())
            .unwrap_or_else(|| "0".into());
        msg.push_str(&format!(
            "Container {} was using {}, request is {}, has larger consumption of {}. ",
            c.name,
            amount(resource, used),
            request,
            resource.name()
        ));
    }
    msg
}

/// The grace period an evicted pod gets: none for a hard threshold; for a
/// soft one its own, capped at `evictionMaxPodGracePeriod` when that is set.
pub fn grace_period(threshold: &Threshold, pod: &Pod, max_pod_grace: i64) -> Duration {
    if threshold.is_hard() {
        return Duration::ZERO;
    }
    let own = pod
        .spec
        .as_ref()
        .and_then(|s| s.termination_grace_period_seconds)
        .unwrap_or(30)
        .max(0);
    let secs = if max_pod_grace > 0 {
        own.min(max_pod_grace)
    } else {
        own
    };
    Duration::from_secs(secs as u64)
}

fn terminal(pod: &Pod) -> bool {
    matches!(
        pod.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Succeeded" | "Failed")
    )
}

fn key(pod: &Pod) -> String {
    format!(
        "{}/{}",
        pod.metadata.namespace.as_deref().unwrap_or(""),
        pod.metadata.name.as_deref().unwrap_or("")
    )
}

/// The pod to evict for `resource`: the first ranked active pod that is
/// not critical and not already on its way out.
pub fn choose(
    pods: Vec<Pod>,
    resource: Resource,
    usage: &HashMap<String, PodUsage>,
    pending: &dyn Fn(&str) -> bool,
) -> Option<Pod> {
    let mut active: Vec<Pod> = pods
        .into_iter()
        .filter(|p| !terminal(p) && p.metadata.deletion_timestamp.is_none())
        .filter(|p| !pending(p.metadata.uid.as_deref().unwrap_or("")))
        .collect();
    ranking::rank(&mut active, resource, usage);
    active.into_iter().find(|p| {
        let critical = ranking::is_critical(p);
        if critical {
            tracing::info!(pod = %key(p), "not evicting a critical pod");
        }
        !critical
    })
}

/// Everything the loop needs from the kubelet.
pub struct Deps {
    /// The shared state (conditions, eviction requests).
    pub shared: Arc<Shared>,
    /// Signals and usage.
    pub machine: Arc<dyn Machine>,
    /// The pods bound here, as last seen.
    pub pods: Arc<dyn Fn() -> Vec<Pod> + Send + Sync>,
    /// Events.
    pub recorder: component_base::events::Recorder,
    /// This node's name (events about the node).
    pub node_name: String,
    /// How often to look.
    pub period: Duration,
    /// `evictionMaxPodGracePeriod`.
    pub max_pod_grace: i64,
}

fn node_ref(name: &str) -> Node {
    // Upstream's kubelet refers to its node with the name as uid.
    Node {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            uid: Some(name.to_string()),
            ..Default::default()
        },
        ..Default::default()
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    tokio::task::spawn_blocking(f).await.ok()
}

/// Runs the eviction manager until the kubelet stops: a cycle, then a
/// full period of rest (also after an eviction, so the signals settle
/// before the next pod is chosen).
pub async fn run(mut manager: Manager, deps: Deps) {
    loop {
        cycle(&mut manager, &deps)
            .instrument(tracing::debug_span!("eviction"))
            .await;
        tokio::time::sleep(deps.period).await;
    }
}

async fn cycle(manager: &mut Manager, deps: &Deps) {
    let machine = deps.machine.clone();
    let Some(observed) = blocking(move || machine.observe()).await else {
        return;
    };
    let mut step = manager.step(&observed, Instant::now());
    deps.shared.set_conditions(step.conditions.clone());
    let Some((threshold, _)) = step.acting.first().cloned() else {
        return;
    };
    let resource = threshold.signal.resource();
    deps.recorder.event(
        &node_ref(&deps.node_name),
        "Warning",
        "EvictionThresholdMet",
        format!("Attempting to reclaim {}", resource.name()),
    );
    if resource == Resource::EphemeralStorage {
        // Unused images first; evict only if that was not enough.
        let machine = deps.machine.clone();
        if blocking(move || machine.reclaim_disk()).await == Some(true) {
            let machine = deps.machine.clone();
            let Some(observed) = blocking(move || machine.observe()).await else {
                return;
            };
            step = manager.step(&observed, Instant::now());
            deps.shared.set_conditions(step.conditions.clone());
            if !step
                .acting
                .iter()
                .any(|(t, _)| t.signal.resource() == resource)
            {
                tracing::info!("disk pressure relieved by image GC");
                return;
            }
        }
    }
    let Some((threshold, observation)) = step.acting.first().cloned() else {
        return;
    };
    let resource = threshold.signal.resource();
    let machine = deps.machine.clone();
    let usage = blocking(move || machine.pod_usage())
        .await
        .unwrap_or_default();
    let pods = (deps.pods)();
    let known: Vec<&str> = pods
        .iter()
        .filter_map(|p| p.metadata.uid.as_deref())
        .collect();
    deps.shared.forget_missing(&known);
    let shared = deps.shared.clone();
    let pending = move |uid: &str| shared.pending(uid);
    let Some(pod) = choose(pods.clone(), resource, &usage, &pending) else {
        tracing::warn!(
            signal = threshold.signal.name(),
            "threshold met but no pod can be evicted"
        );
        return;
    };
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    let msg = message(&threshold, &observation, &pod, usage.get(&uid));
    let grace = grace_period(&threshold, &pod, deps.max_pod_grace);
    let span = tracing::info_span!("evict", pod = %key(&pod));
    async {
        tracing::warn!(signal = threshold.signal.name(), grace = ?grace, message = %msg, "evicting pod");
        deps.recorder
            .event(&pod, "Warning", super::REASON, msg.clone());
        deps.shared.request(
            &uid,
            Request {
                message: msg,
                grace,
            },
        );
        // Wait for it to stop, so the next cycle measures what it freed.
        let deadline = Instant::now() + grace + CLEANUP_TIMEOUT;
        while Instant::now() < deadline {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let gone = (deps.pods)()
                .iter()
                .find(|p| p.metadata.uid.as_deref() == Some(uid.as_str()))
                .is_none_or(terminal);
            if gone {
                tracing::info!("evicted pod has stopped");
                return;
            }
        }
        tracing::warn!("evicted pod has not stopped yet; going on");
    }
    .instrument(span)
    .await;
}

#[cfg(test)]
mod tests {
    use super::super::thresholds::Value;
    use super::*;
    use serde_json::json;

    const GI: u64 = 1 << 30;

    fn obs(signal: Signal, available: u64) -> Observations {
        [(
            signal,
            Observation {
                available,
                capacity: 8 * GI,
            },
        )]
        .into()
    }

    fn hard(signal: Signal, bytes: u64) -> Threshold {
        Threshold {
            signal,
            value: Value::Quantity(bytes),
            grace_period: Duration::ZERO,
            min_reclaim: None,
        }
    }

    #[test]
    fn a_hard_threshold_acts_at_once_and_its_condition_outlives_it() {
        let mut m = Manager::new(
            vec![hard(Signal::MemoryAvailable, GI)],
            Duration::from_secs(60),
        );
        let t0 = Instant::now();
        let s = m.step(&obs(Signal::MemoryAvailable, GI / 2), t0);
        assert_eq!(s.conditions, BTreeSet::from(["MemoryPressure"]));
        assert_eq!(s.acting.len(), 1);
        // Relieved: nothing to do, but the condition stays for the
        // transition period ...
        let s = m.step(
            &obs(Signal::MemoryAvailable, 2 * GI),
            t0 + Duration::from_secs(10),
        );
        assert!(s.acting.is_empty());
        assert_eq!(s.conditions, BTreeSet::from(["MemoryPressure"]));
        // ... and then clears.
        let s = m.step(
            &obs(Signal::MemoryAvailable, 2 * GI),
            t0 + Duration::from_secs(61),
        );
        assert_eq!(s, Step::default());
    }

    #[test]
    fn a_soft_threshold_acts_only_after_its_grace_period() {
        let soft = Threshold {
            grace_period: Duration::from_secs(30),
            ..hard(Signal::NodeFsAvailable, GI)
        };
        let mut m = Manager::new(vec![soft], Duration::ZERO);
        let t0 = Instant::now();
        let low = obs(Signal::NodeFsAvailable, GI - 1);
        let s = m.step(&low, t0);
        // The condition is set at once; eviction waits.
        assert_eq!(s.conditions, BTreeSet::from(["DiskPressure"]));
        assert!(s.acting.is_empty());
        assert!(m.step(&low, t0 + Duration::from_secs(29)).acting.is_empty());
        assert_eq!(m.step(&low, t0 + Duration::from_secs(30)).acting.len(), 1);
        // Relief restarts the clock.
        let s = m.step(
            &obs(Signal::NodeFsAvailable, GI),
            t0 + Duration::from_secs(31),
        );
        assert_eq!(s, Step::default(), "no transition period here");
        assert!(m.step(&low, t0 + Duration::from_secs(32)).acting.is_empty());
    }

    #[test]
    fn minimum_reclaim_keeps_a_met_threshold_met() {
        let t = Threshold {
            min_reclaim: Some(Value::Quantity(GI)),
            ..hard(Signal::MemoryAvailable, GI)
        };
        let mut m = Manager::new(vec![t], Duration::ZERO);
        let t0 = Instant::now();
        assert!(m
            .step(&obs(Signal::MemoryAvailable, GI + 1), t0)
            .acting
            .is_empty());
        assert_eq!(
            m.step(&obs(Signal::MemoryAvailable, GI - 1), t0)
                .acting
                .len(),
            1
        );
        // Above the threshold but not by the minimum reclaim: still acting.
        assert_eq!(
            m.step(&obs(Signal::MemoryAvailable, GI + GI / 2), t0)
                .acting
                .len(),
            1
        );
        assert!(m
            .step(&obs(Signal::MemoryAvailable, 2 * GI), t0)
            .acting
            .is_empty());
    }

    #[test]
    fn memory_acts_before_disk_and_pids() {
        let mut m = Manager::new(
            vec![
                hard(Signal::PidAvailable, 100),
                hard(Signal::NodeFsAvailable, GI),
                hard(Signal::MemoryAvailable, GI),
            ],
            Duration::ZERO,
        );
        let all: Observations = Signal::ALL
            .into_iter()
            .map(|s| {
                (
                    s,
                    Observation {
                        available: 1,
                        capacity: 8 * GI,
                    },
                )
            })
            .collect();
        let s = m.step(&all, Instant::now());
        let order: Vec<Signal> = s.acting.iter().map(|(t, _)| t.signal).collect();
        assert_eq!(
            order,
            [
                Signal::MemoryAvailable,
                Signal::NodeFsAvailable,
                Signal::PidAvailable
            ]
        );
        assert_eq!(
            s.conditions,
            BTreeSet::from(["DiskPressure", "MemoryPressure", "PIDPressure"])
        );
    }

    fn pod(name: &str, resources: serde_json::Value, phase: &str) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "ns", "uid": name},
            "spec": {"terminationGracePeriodSeconds": 60, "containers": [
                {"name": "app", "image": "i", "resources": resources}]},
            "status": {"phase": phase}
        }))
        .expect("pod")
    }

    fn usage(memory: u64) -> PodUsage {
        PodUsage {
            memory,
            containers: [(
                "app".to_string(),
                super::super::signals::ContainerUsage {
                    memory,
                    ephemeral: 0,
                },
            )]
            .into(),
            ..Default::default()
        }
    }

    #[test]
    fn the_message_names_the_threshold_and_the_greedy_containers() {
        let t = hard(Signal::MemoryAvailable, 100 << 20);
        let o = Observation {
            available: 50 << 20,
            capacity: 8 * GI,
        };
        let be = pod("be", json!({}), "Running");
        assert_eq!(
            message(&t, &o, &be, Some(&usage(3 << 20))),
            "The node was low on resource: memory. Threshold quantity: 100Mi, available: 50Mi. \
             Container app was using 3Mi, request is 0, has larger consumption of memory. "
        );
        let within = pod("b", json!({"requests": {"memory": "32Mi"}}), "Running");
        assert_eq!(
            message(&t, &o, &within, Some(&usage(3 << 20))),
            "The node was low on resource: memory. Threshold quantity: 100Mi, available: 50Mi. "
        );
        let over = message(&t, &o, &within, Some(&usage(40 << 20)));
        assert!(
            over.ends_with(
                "Container app was using 40Mi, request is 32Mi, has larger consumption of memory. "
            ),
            "{over}"
        );
    }

    #[test]
    fn choice_skips_finished_critical_and_pending_pods() {
        let stats: HashMap<String, PodUsage> = [
            ("done".to_string(), usage(GI)),
            ("crit".to_string(), usage(GI)),
            ("be".to_string(), usage(1)),
            ("burst".to_string(), usage(1)),
        ]
        .into();
        let mut crit = pod("crit", json!({}), "Running");
        if let Some(s) = crit.spec.as_mut() {
            s.priority = Some(ranking::SYSTEM_CRITICAL_PRIORITY);
        }
        let pods = vec![
            pod("done", json!({}), "Failed"),
            crit,
            pod("burst", json!({"requests": {"memory": "32Mi"}}), "Running"),
            pod("be", json!({}), "Running"),
        ];
        let none = |_: &str| false;
        let first = choose(pods.clone(), Resource::Memory, &stats, &none);
        assert_eq!(first.and_then(|p| p.metadata.name).as_deref(), Some("be"));
        let be_pending = |uid: &str| uid == "be";
        let next = choose(pods, Resource::Memory, &stats, &be_pending);
        assert_eq!(next.and_then(|p| p.metadata.name).as_deref(), Some("burst"));
    }

    #[test]
    fn hard_evictions_get_no_grace_soft_ones_a_capped_one() {
        let p = pod("p", json!({}), "Running");
        let h = hard(Signal::MemoryAvailable, GI);
        assert_eq!(grace_period(&h, &p, 10), Duration::ZERO);
        let s = Threshold {
            grace_period: Duration::from_secs(5),
            ..h
        };
        assert_eq!(grace_period(&s, &p, 10), Duration::from_secs(10));
        assert_eq!(grace_period(&s, &p, 0), Duration::from_secs(60));
        assert_eq!(grace_period(&s, &p, 120), Duration::from_secs(60));
    }
}
