//! The resource metrics API (`metrics.k8s.io/v1beta1`): the CPU and memory
//! that nodes and pods use now, what `kubectl top` shows and the
//! HorizontalPodAutoscaler scales on.
//!
//! Upstream serves this API from metrics-server, an extension apiserver
//! behind an `APIService`. This cluster has no API aggregation yet, so the
//! apiserver plays metrics-server's part itself, the same way:
//!
//! ```text
//!  every --metric-resolution (15 s):
//!    scraper ── GET /stats/summary ──► each Ready node's kubelet (TLS, as for logs)
//!       │  (cumulative CPU nanoseconds, memory working set, per node and container)
//!       ▼
//!    Storage: the last two samples of every node and container
//!       │  rate = (cpu₂ - cpu₁) / (t₂ - t₁), window = t₂ - t₁
//!       ▼
//!    NodeMetrics / PodMetrics, computed on each get or list
//!    (registry::metrics), with the node's or pod's labels for selectors
//! ```
//!
//! A kubelet reports CPU as a counter that only grows, so one sample says
//! nothing about the present: a rate needs two. As metrics-server does, a
//! container or node is served only once two samples of it exist, a sample
//! from before a restart (a start time later than the kept sample) is
//! dropped, and a pod is served only when every one of its containers has a
//! rate. Memory is the last working set. Nothing is stored in etcd: the
//! numbers are minutes old at most and a restarted apiserver starts over, as
//! a restarted metrics-server does.
//!
//! [`summary`] reads the kubelet's answer, [`scraper`] fetches it.

pub mod scraper;
pub mod summary;

use std::collections::{BTreeMap, HashMap};
use std::sync::RwLock;
use std::time::Duration;

use chrono::{DateTime, Utc};

/// One reading of a counter and a gauge: a node's or a container's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    /// When the node or container started (a later one than a kept
    /// sample's time means it restarted and its counter began again).
    pub start_time: Option<DateTime<Utc>>,
    /// When the kubelet read it.
    pub timestamp: DateTime<Utc>,
    /// CPU time used since start, in nanoseconds (all cores).
    pub cpu_ns: u64,
    /// Memory working set, in bytes.
    pub memory_bytes: u64,
}

/// What a node or container uses now: the rate between two samples.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Usage {
    /// The later sample's time.
    pub timestamp: DateTime<Utc>,
    /// The time between the two samples.
    pub window: Duration,
    /// CPU, in nanocores (1e9 is one core busy all the time).
    pub nanocores: u64,
    /// Memory working set, in bytes (the later sample's).
    pub memory_bytes: u64,
}

/// Why two samples give no rate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RateError {
    /// The counter went down: not the same run of the container.
    #[error("unexpected decrease in cumulative CPU usage value")]
    CounterDecreased,
    /// The samples are not in time order (or have the same time).
    #[error("the samples are not in time order")]
    NoWindow,
}

/// The usage between `prev` and `last` (metrics-server's `resourceUsage`):
/// CPU is the counter's growth over the time between them, memory the later
/// working set.
pub fn usage(prev: &Sample, last: &Sample) -> Result<Usage, RateError> {
    if last.cpu_ns < prev.cpu_ns {
        return Err(RateError::CounterDecreased);
    }
    let window = (last.timestamp - prev.timestamp)
        .to_std()
        .ok()
        .filter(|w| !w.is_zero())
        .ok_or(RateError::NoWindow)?;
    // Rounded, not truncated: a window that is a nanosecond off in floating
    // point must not turn 250m into 249999999n.
    let nanocores = (last.cpu_ns - prev.cpu_ns) as f64 / window.as_secs_f64();
    Ok(Usage {
        timestamp: last.timestamp,
        window,
        nanocores: nanocores.round() as u64,
        memory_bytes: last.memory_bytes,
    })
}

/// The sample to keep as the previous one when `new` arrives (metrics-server's
/// storage rule): the last one if `new` is later and the node or container
/// did not restart since; else the previous one if `new` repeats the last
/// reading and is still later than the previous one; else none.
fn previous_for(new: &Sample, last: Option<&Sample>, prev: Option<&Sample>) -> Option<Sample> {
    let last = last?;
    // Started after the kept sample was read: a new run, a new counter.
    if new.start_time.is_some_and(|s| s >= last.timestamp) {
        return None;
    }
    if new.timestamp > last.timestamp {
        return Some(last.clone());
    }
    prev.filter(|p| p.timestamp < new.timestamp).cloned()
}

/// One pod's samples from one scrape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodSample {
    /// The pod's namespace.
    pub namespace: String,
    /// The pod's name.
    pub name: String,
    /// The pod's uid (a pod recreated under the same name is another pod).
    pub uid: String,
    /// Each container's sample, by container name.
    pub containers: BTreeMap<String, Sample>,
}

/// What one scrape of one kubelet found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NodeScrape {
    /// The node's own sample, when the kubelet reported one.
    pub node: Option<Sample>,
    /// Its running pods.
    pub pods: Vec<PodSample>,
}

/// A pod's kept samples.
#[derive(Debug, Clone, Default)]
struct PodPoints {
    uid: String,
    containers: BTreeMap<String, Sample>,
}

#[derive(Debug, Default)]
struct State {
    nodes_last: HashMap<String, Sample>,
    nodes_prev: HashMap<String, Sample>,
    pods_last: HashMap<(String, String), PodPoints>,
    pods_prev: HashMap<(String, String), PodPoints>,
}

/// One pod's usage: each container's, with the pod's time and window (the
/// earliest of its containers').
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodUsage {
    /// The pod's uid.
    pub uid: String,
    /// The earliest container sample time.
    pub timestamp: DateTime<Utc>,
    /// The window of that container's rate.
    pub window: Duration,
    /// Each container's usage, by name.
    pub containers: Vec<(String, Usage)>,
}

/// The last two samples of every node and pod container, replaced by each
/// scrape (a node that did not answer drops out, as in metrics-server).
#[derive(Debug, Default)]
pub struct Storage {
    state: RwLock<State>,
}

impl Storage {
    /// Takes in one round of scrapes, by node name.
    pub fn store(&self, scrapes: &BTreeMap<String, NodeScrape>) {
        let mut state = match self.state.write() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        let mut nodes_last = HashMap::new();
        let mut nodes_prev = HashMap::new();
        let mut pods_last = HashMap::new();
        let mut pods_prev = HashMap::new();
        for (node, scrape) in scrapes {
            if let Some(sample) = &scrape.node {
                if let Some(prev) = previous_for(
                    sample,
                    state.nodes_last.get(node),
                    state.nodes_prev.get(node),
                ) {
                    nodes_prev.insert(node.clone(), prev);
                }
                nodes_last.insert(node.clone(), sample.clone());
            }
            for pod in &scrape.pods {
                let key = (pod.namespace.clone(), pod.name.clone());
                if pods_last.contains_key(&key) {
                    tracing::warn!(namespace = %pod.namespace, pod = %pod.name, "the same pod reported twice; keeping the first");
                    continue;
                }
                // A pod recreated under the same name starts afresh.
                let same = |p: &&PodPoints| p.uid == pod.uid;
                let last = state.pods_last.get(&key).filter(same);
                let prev = state.pods_prev.get(&key).filter(same);
                let mut kept = PodPoints {
                    uid: pod.uid.clone(),
                    containers: BTreeMap::new(),
                };
                for (name, sample) in &pod.containers {
                    if let Some(p) = previous_for(
                        sample,
                        last.and_then(|l| l.containers.get(name)),
                        prev.and_then(|p| p.containers.get(name)),
                    ) {
                        kept.containers.insert(name.clone(), p);
                    }
                }
                if !kept.containers.is_empty() {
                    pods_prev.insert(key.clone(), kept);
                }
                pods_last.insert(
                    key,
                    PodPoints {
                        uid: pod.uid.clone(),
                        containers: pod.containers.clone(),
                    },
                );
            }
        }
        *state = State {
            nodes_last,
            nodes_prev,
            pods_last,
            pods_prev,
        };
    }

    /// A node's usage, once two samples of it are kept.
    pub fn node(&self, name: &str) -> Option<Usage> {
        let state = self.state.read().unwrap_or_else(|p| p.into_inner());
        let last = state.nodes_last.get(name)?;
        let prev = state.nodes_prev.get(name)?;
        match usage(prev, last) {
            Ok(u) => Some(u),
            Err(e) => {
                tracing::debug!(node = name, error = %e, "no node usage");
                None
            }
        }
    }

    /// A pod's usage, once every container of it has two samples (the
    /// containers the kubelet last reported).
    pub fn pod(&self, namespace: &str, name: &str) -> Option<PodUsage> {
        let state = self.state.read().unwrap_or_else(|p| p.into_inner());
        let key = (namespace.to_string(), name.to_string());
        let last = state.pods_last.get(&key)?;
        let prev = state.pods_prev.get(&key)?;
        let mut containers = Vec::new();
        let mut earliest: Option<(DateTime<Utc>, Duration)> = None;
        for (container, l) in &last.containers {
            let p = prev.containers.get(container)?;
            match usage(p, l) {
                Ok(u) => {
                    if earliest.is_none_or(|(t, _)| u.timestamp < t) {
                        earliest = Some((u.timestamp, u.window));
                    }
                    containers.push((container.clone(), u));
                }
                Err(e) => {
                    tracing::debug!(namespace, pod = name, container, error = %e, "no container usage");
                }
            }
        }
        let (timestamp, window) = earliest?;
        Some(PodUsage {
            uid: last.uid.clone(),
            timestamp,
            window,
            containers,
        })
    }
}

/// A CPU rate as a quantity, in the form metrics-server writes (`12345n`,
/// `250m`, `2`).
pub fn cpu_quantity(nanocores: u64) -> String {
    apimachinery::quantity::Quantity::new(
        i64::try_from(nanocores).unwrap_or(i64::MAX),
        -9,
        apimachinery::quantity::Format::DecimalSI,
    )
    .to_string()
}

/// Bytes as a binary quantity (`1536Ki`, or plain bytes when not a whole
/// number of KiB).
pub fn memory_quantity(bytes: u64) -> String {
    apimachinery::quantity::Quantity::new(
        i64::try_from(bytes).unwrap_or(i64::MAX),
        0,
        apimachinery::quantity::Format::BinarySI,
    )
    .to_string()
}

/// A window as upstream's `metav1.Duration` writes it (`15s`, `14.998s`,
/// `1m0s`).
pub fn go_duration(d: Duration) -> String {
    let total_ms = d.as_millis();
    let (mins, ms) = (total_ms / 60_000, total_ms % 60_000);
    let secs = if ms % 1000 == 0 {
        format!("{}s", ms / 1000)
    } else {
        let s = format!("{}.{:03}", ms / 1000, ms % 1000);
        format!("{}s", s.trim_end_matches('0'))
    };
    if mins > 0 {
        format!("{mins}m{secs}")
    } else {
        secs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + secs, 0).unwrap()
    }

    fn sample(secs: i64, cpu_ns: u64, memory: u64) -> Sample {
        Sample {
            start_time: Some(at(-100)),
            timestamp: at(secs),
            cpu_ns,
            memory_bytes: memory,
        }
    }

    fn scrape(node: &str, node_sample: Sample, container: Sample) -> BTreeMap<String, NodeScrape> {
        let pod = PodSample {
            namespace: "default".into(),
            name: "busy".into(),
            uid: "u1".into(),
            containers: BTreeMap::from([("main".to_string(), container)]),
        };
        BTreeMap::from([(
            node.to_string(),
            NodeScrape {
                node: Some(node_sample),
                pods: vec![pod],
            },
        )])
    }

    #[test]
    fn two_samples_give_a_rate() {
        // 7.5 s of CPU in 15 s: half a core.
        let u = usage(
            &sample(0, 1_000_000_000, 10),
            &sample(15, 8_500_000_000, 20),
        )
        .unwrap();
        assert_eq!(u.nanocores, 500_000_000);
        assert_eq!(u.memory_bytes, 20);
        assert_eq!(u.window, Duration::from_secs(15));
        assert_eq!(u.timestamp, at(15));
        assert_eq!(cpu_quantity(u.nanocores), "500m");
        // 2 ns of CPU in 3 s is 0.67 nanocores: rounded, not cut to 0.
        let u = usage(&sample(0, 0, 0), &sample(3, 2, 0)).unwrap();
        assert_eq!(u.nanocores, 1);
        assert_eq!(
            usage(&sample(0, 5, 0), &sample(15, 4, 0)),
            Err(RateError::CounterDecreased)
        );
        assert_eq!(
            usage(&sample(15, 1, 0), &sample(15, 4, 0)),
            Err(RateError::NoWindow)
        );
    }

    #[test]
    fn storage_serves_after_the_second_scrape() {
        let s = Storage::default();
        s.store(&scrape("n1", sample(0, 0, 100), sample(0, 0, 1024)));
        assert_eq!(s.node("n1"), None, "one sample is no rate");
        assert_eq!(s.pod("default", "busy"), None);
        s.store(&scrape(
            "n1",
            sample(10, 20_000_000_000, 200),
            sample(10, 2_000_000_000, 2048),
        ));
        let node = s.node("n1").unwrap();
        assert_eq!(node.nanocores, 2_000_000_000);
        assert_eq!(node.memory_bytes, 200);
        let pod = s.pod("default", "busy").unwrap();
        assert_eq!(pod.containers.len(), 1);
        assert_eq!(pod.containers[0].1.nanocores, 200_000_000);
        assert_eq!(memory_quantity(pod.containers[0].1.memory_bytes), "2Ki");
        assert_eq!(pod.window, Duration::from_secs(10));
        // The same reading again keeps the previous sample: still served.
        s.store(&scrape(
            "n1",
            sample(10, 20_000_000_000, 200),
            sample(10, 2_000_000_000, 2048),
        ));
        assert_eq!(
            s.pod("default", "busy").unwrap().containers[0].1.nanocores,
            200_000_000
        );
        // A node that does not answer drops out.
        s.store(&BTreeMap::new());
        assert_eq!(s.node("n1"), None);
        assert_eq!(s.pod("default", "busy"), None);
    }

    #[test]
    fn a_restart_starts_over() {
        let s = Storage::default();
        s.store(&scrape("n1", sample(0, 0, 1), sample(0, 9_000_000_000, 1)));
        let mut restarted = sample(15, 1_000_000_000, 1);
        restarted.start_time = Some(at(5));
        s.store(&scrape("n1", sample(15, 1, 1), restarted));
        assert_eq!(s.pod("default", "busy"), None, "no rate across a restart");
        assert!(s.node("n1").is_some());
    }

    #[test]
    fn a_pod_with_a_container_lacking_a_rate_is_not_served() {
        let s = Storage::default();
        s.store(&scrape("n1", sample(0, 0, 1), sample(0, 0, 1)));
        let mut second = scrape("n1", sample(10, 1, 1), sample(10, 5, 1));
        second.get_mut("n1").unwrap().pods[0]
            .containers
            .insert("sidecar".into(), sample(10, 5, 1));
        s.store(&second);
        assert_eq!(s.pod("default", "busy"), None);
    }

    #[test]
    fn durations_as_go_writes_them() {
        assert_eq!(go_duration(Duration::from_secs(15)), "15s");
        assert_eq!(go_duration(Duration::from_millis(14_998)), "14.998s");
        assert_eq!(go_duration(Duration::from_millis(14_500)), "14.5s");
        assert_eq!(go_duration(Duration::from_secs(60)), "1m0s");
    }
}
