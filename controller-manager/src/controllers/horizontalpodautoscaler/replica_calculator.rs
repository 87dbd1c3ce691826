//! The replica count one Resource metric asks for (upstream's
//! `replica_calculator.go`), as pure functions of the pods, their metrics
//! and the clock.
//!
//! ```text
//! ratio = current usage / target      (utilization: summed usage over summed requests)
//! within tolerance (0.9..=1.1)        -> keep the current count
//! else                                -> ceil(ratio * pods with metrics)
//! ```
//!
//! Which pods count is where the care is ([`group_pods`]): deleted and
//! failed pods are ignored; Pending pods, and for CPU pods not yet Ready or
//! still warming up, are *unready*; running pods without a metric are
//! *missing*. When such pods exist the ratio is recomputed with guesses
//! that damp the change: on a scale-down a missing pod counts as using its
//! whole request (or the target, if higher), on a scale-up missing and
//! unready pods count as using nothing; and a guess that flips the
//! direction of the change means no change.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;

/// One pod's metric: the value in milli-units (millicores, milli-bytes),
/// and the sample's time and window (epoch milliseconds, milliseconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PodMetric {
    /// Milli-units.
    pub value: i64,
    /// When it was sampled (epoch ms).
    pub timestamp_ms: i64,
    /// Over how long (ms).
    pub window_ms: i64,
}

/// Metrics by pod name.
pub type PodMetricsInfo = BTreeMap<String, PodMetric>;

/// How far from 1.0 the usage ratio may be before the count changes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tolerances {
    /// Below 1.0.
    pub scale_down: f64,
    /// Above 1.0.
    pub scale_up: f64,
}

impl Tolerances {
    /// The same tolerance both ways (`--horizontal-pod-autoscaler-tolerance`).
    pub fn both(t: f64) -> Tolerances {
        Tolerances {
            scale_down: t,
            scale_up: t,
        }
    }

    fn is_within(&self, ratio: f64) -> bool {
        (1.0 - self.scale_down) <= ratio && ratio <= (1.0 + self.scale_up)
    }
}

/// Why no replica count could be computed (upstream's messages).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The selector selects no pod.
    #[error("no pods returned by selector while calculating replica count")]
    NoPods,
    /// Every pod was left out.
    #[error("did not receive metrics for targeted pods (pods might be unready)")]
    NoMetricsForPods,
    /// A container has no request for the resource.
    #[error("missing request for {resource} in container {container} of Pod {pod}")]
    MissingRequest {
        /// cpu or memory.
        resource: String,
        /// The container.
        container: String,
        /// The pod.
        pod: String,
    },
    /// The named container is not in the pod.
    #[error("container {container} not found in Pod {pod}")]
    NoContainer {
        /// The container.
        container: String,
        /// The pod.
        pod: String,
    },
    /// No metric belongs to a pod with requests.
    #[error("no metrics returned matched known pods")]
    NoMatchingMetrics,
}

/// The clock and the warm-up settings.
#[derive(Debug, Clone, Copy)]
pub struct Calculator {
    /// `--horizontal-pod-autoscaler-cpu-initialization-period`.
    pub cpu_initialization_period: Duration,
    /// `--horizontal-pod-autoscaler-initial-readiness-delay`.
    pub delay_of_initial_readiness_status: Duration,
    /// Now (epoch ms).
    pub now_ms: i64,
}

/// The pods sorted: how many count, and which are unready, missing or
/// ignored.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Groups {
    /// Pods whose metric counts.
    pub ready: usize,
    /// Pending, or (CPU) not ready or warming up.
    pub unready: BTreeSet<String>,
    /// Running but without a metric.
    pub missing: BTreeSet<String>,
    /// Being deleted or failed.
    pub ignored: BTreeSet<String>,
}

fn ms(t: &k8s_openapi::apimachinery::pkg::apis::meta::v1::Time) -> i64 {
    t.0.as_millisecond()
}

/// Sorts pods as upstream's `groupPods` does.
pub fn group_pods(
    pods: &[&Pod],
    metrics: &PodMetricsInfo,
    resource: &str,
    calc: &Calculator,
) -> Groups {
    let mut g = Groups::default();
    for pod in pods {
        let name = pod.metadata.name.clone().unwrap_or_default();
        let status = pod.status.clone().unwrap_or_default();
        let phase = status.phase.as_deref().unwrap_or("");
        if pod.metadata.deletion_timestamp.is_some() || phase == "Failed" {
            g.ignored.insert(name);
            continue;
        }
        if phase == "Pending" {
            g.unready.insert(name);
            continue;
        }
        let Some(metric) = metrics.get(&name) else {
            g.missing.insert(name);
            continue;
        };
        if resource == "cpu" {
            let condition = status
                .conditions
                .iter()
                .flatten()
                .find(|c| c.type_ == "Ready");
            let unready = match (condition, status.start_time.as_ref()) {
                (Some(c), Some(start)) => {
                    let start = ms(start);
                    let transition = c.last_transition_time.as_ref().map(ms).unwrap_or(0);
                    let init = calc.cpu_initialization_period.as_millis() as i64;
                    if start + init > calc.now_ms {
                        // Warming up: unready, or no whole window since it became ready.
                        c.status == "False" || metric.timestamp_ms < transition + metric.window_ms
                    } else {
                        // Unready and never ready yet.
                        let delay = calc.delay_of_initial_readiness_status.as_millis() as i64;
                        c.status == "False" && start + delay > transition
                    }
                }
                _ => true,
            };
            if unready {
                g.unready.insert(name);
                continue;
            }
        }
        g.ready += 1;
    }
    g
}

/// Each pod's request for `resource` in milli-units: the named container's,
/// or the sum over its containers (and sidecars, init containers that keep
/// running).
pub fn requests(
    pods: &[&Pod],
    container: &str,
    resource: &str,
) -> Result<BTreeMap<String, i64>, Error> {
    let mut out = BTreeMap::new();
    for pod in pods {
        let name = pod.metadata.name.clone().unwrap_or_default();
        let spec = pod.spec.clone().unwrap_or_default();
        let sidecars = spec
            .init_containers
            .iter()
            .flatten()
            .filter(|c| c.restart_policy.as_deref() == Some("Always"));
        let mut total = 0i64;
        let mut found = false;
        for c in spec.containers.iter().chain(sidecars) {
            if !container.is_empty() && c.name != container {
                continue;
            }
            let request = c
                .resources
                .as_ref()
                .and_then(|r| r.requests.as_ref())
                .and_then(|r| r.get(resource))
                .and_then(|q| apimachinery::quantity::milli_value(&q.0).ok())
                .ok_or_else(|| Error::MissingRequest {
                    resource: resource.to_string(),
                    container: c.name.clone(),
                    pod: name.clone(),
                })?;
            total += request;
            found = true;
            if !container.is_empty() {
                break;
            }
        }
        if !container.is_empty() && !found {
            return Err(Error::NoContainer {
                container: container.to_string(),
                pod: name,
            });
        }
        out.insert(name, total);
    }
    Ok(out)
}

/// (usage ratio, utilization %, average raw value) of metrics against
/// requests (upstream's `GetResourceUtilizationRatio`).
pub fn utilization_ratio(
    metrics: &PodMetricsInfo,
    requests: &BTreeMap<String, i64>,
    target: i32,
) -> Result<(f64, i32, i64), Error> {
    let (mut used, mut requested, mut n) = (0i64, 0i64, 0i64);
    for (pod, m) in metrics {
        if let Some(r) = requests.get(pod) {
            used += m.value;
            requested += r;
            n += 1;
        }
    }
    if requested == 0 {
        return Err(Error::NoMatchingMetrics);
    }
    let utilization = ((used * 100) / requested) as i32;
    Ok((
        f64::from(utilization) / f64::from(target),
        utilization,
        used / n,
    ))
}

/// (usage ratio, average) of metrics against a target average value.
fn usage_ratio(metrics: &PodMetricsInfo, target: i64) -> (f64, i64) {
    let total: i64 = metrics.values().map(|m| m.value).sum();
    let average = total / (metrics.len().max(1) as i64);
    (average as f64 / target as f64, average)
}

/// The pods sorted, and the metrics of those that count; an error when no
/// pod or no metric is left.
fn counted(
    pods: &[&Pod],
    mut metrics: PodMetricsInfo,
    resource: &str,
    calc: &Calculator,
) -> Result<(Groups, PodMetricsInfo), Error> {
    if pods.is_empty() {
        return Err(Error::NoPods);
    }
    let g = group_pods(pods, &metrics, resource, calc);
    metrics.retain(|p, _| !g.ignored.contains(p) && !g.unready.contains(p));
    if metrics.is_empty() {
        return Err(Error::NoMetricsForPods);
    }
    Ok((g, metrics))
}

/// The count from the first `ratio` (of the pods that count), then, when
/// pods are missing or unready, from the ratio recomputed with the guesses:
/// on a scale-down a missing pod uses `scale_down_guess(pod)`, on a
/// scale-up missing and unready pods use nothing.
fn proposal(
    current: i32,
    ratio: f64,
    g: &Groups,
    mut metrics: PodMetricsInfo,
    tolerances: Tolerances,
    scale_down_guess: impl Fn(&str) -> i64,
    ratio_of: impl Fn(&PodMetricsInfo) -> Result<f64, Error>,
) -> Result<i32, Error> {
    let scale_up_with_unready = !g.unready.is_empty() && ratio > 1.0;
    if !scale_up_with_unready && g.missing.is_empty() {
        if tolerances.is_within(ratio) {
            return Ok(current);
        }
        return Ok((ratio * g.ready as f64).ceil() as i32);
    }
    if ratio < 1.0 {
        for pod in &g.missing {
            metrics.insert(pod.clone(), zero_metric(scale_down_guess(pod)));
        }
    } else if ratio > 1.0 {
        for pod in &g.missing {
            metrics.insert(pod.clone(), zero_metric(0));
        }
    }
    if scale_up_with_unready {
        for pod in &g.unready {
            metrics.insert(pod.clone(), zero_metric(0));
        }
    }
    let new_ratio = ratio_of(&metrics)?;
    Ok(damped(current, ratio, new_ratio, metrics.len(), tolerances))
}

/// What a Utilization target proposes: (replicas, utilization %, average
/// raw value).
#[allow(clippy::too_many_arguments)]
pub fn resource_replicas(
    current: i32,
    target_utilization: i32,
    resource: &str,
    container: &str,
    tolerances: Tolerances,
    pods: &[&Pod],
    metrics: PodMetricsInfo,
    calc: &Calculator,
) -> Result<(i32, i32, i64), Error> {
    let (g, metrics) = counted(pods, metrics, resource, calc)?;
    let requests = requests(pods, container, resource)?;
    let (ratio, utilization, raw) = utilization_ratio(&metrics, &requests, target_utilization)?;
    // A missing pod on the way down uses its whole request (or the target, if higher).
    let fallback = i64::from(target_utilization.max(100));
    let replicas = proposal(
        current,
        ratio,
        &g,
        metrics,
        tolerances,
        |pod| requests.get(pod).copied().unwrap_or(0) * fallback / 100,
        |m| utilization_ratio(m, &requests, target_utilization).map(|r| r.0),
    )?;
    Ok((replicas, utilization, raw))
}

/// What an AverageValue target proposes: (replicas, average raw value).
pub fn raw_resource_replicas(
    current: i32,
    target: i64,
    resource: &str,
    tolerances: Tolerances,
    pods: &[&Pod],
    metrics: PodMetricsInfo,
    calc: &Calculator,
) -> Result<(i32, i64), Error> {
    let (g, metrics) = counted(pods, metrics, resource, calc)?;
    let (ratio, usage) = usage_ratio(&metrics, target);
    // A missing pod on the way down uses exactly the target.
    let replicas = proposal(
        current,
        ratio,
        &g,
        metrics,
        tolerances,
        |_| target,
        |m| Ok(usage_ratio(m, target).0),
    )?;
    Ok((replicas, usage))
}

fn zero_metric(value: i64) -> PodMetric {
    PodMetric {
        value,
        timestamp_ms: 0,
        window_ms: 0,
    }
}

/// The count after the guesses: unchanged when within tolerance or when the
/// guesses flip the direction, else the ratio over every counted pod.
fn damped(current: i32, ratio: f64, new_ratio: f64, counted: usize, t: Tolerances) -> i32 {
    if t.is_within(new_ratio)
        || (ratio < 1.0 && new_ratio > 1.0)
        || (ratio > 1.0 && new_ratio < 1.0)
    {
        return current;
    }
    let proposed = (new_ratio * counted as f64).ceil() as i32;
    if (new_ratio < 1.0 && proposed > current) || (new_ratio > 1.0 && proposed < current) {
        return current;
    }
    proposed
}

#[cfg(test)]
mod tests {
    //! Cases after upstream's `replica_calculator_test.go` (where named,
    //! the same requests, usages and expected counts).
    use super::*;
    use serde_json::json;

    const NOW: i64 = 1_700_000_000_000;

    fn calc() -> Calculator {
        Calculator {
            cpu_initialization_period: Duration::from_secs(120),
            delay_of_initial_readiness_status: Duration::from_secs(10),
            now_ms: NOW,
        }
    }

    fn time(ms: i64) -> String {
        k8s_openapi::jiff::Timestamp::from_millisecond(ms)
            .unwrap()
            .to_string()
    }

    /// A running pod, ready since long ago (upstream's test pods start 10 minutes back).
    fn pod(name: &str, request: &str, resource: &str) -> Pod {
        pod_with(
            name,
            request,
            resource,
            "Running",
            "True",
            NOW - 600_000,
            NOW - 600_000,
        )
    }

    fn pod_with(
        name: &str,
        request: &str,
        resource: &str,
        phase: &str,
        ready: &str,
        start: i64,
        transition: i64,
    ) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "ns"},
            "spec": {"containers": [{"name": "c", "resources": {"requests": {resource: request}}}]},
            "status": {
                "phase": phase,
                "startTime": time(start),
                "conditions": [{"type": "Ready", "status": ready, "lastTransitionTime": time(transition)}],
            },
        }))
        .unwrap()
    }

    fn metrics(values: &[(&str, i64)]) -> PodMetricsInfo {
        values
            .iter()
            .map(|(n, v)| {
                (
                    n.to_string(),
                    PodMetric {
                        value: *v,
                        timestamp_ms: NOW - 1000,
                        window_ms: 30_000,
                    },
                )
            })
            .collect()
    }

    fn cpu(
        current: i32,
        pods: &[Pod],
        m: &[(&str, i64)],
        target: i32,
    ) -> Result<(i32, i32, i64), Error> {
        let refs: Vec<&Pod> = pods.iter().collect();
        resource_replicas(
            current,
            target,
            "cpu",
            "",
            Tolerances::both(0.1),
            &refs,
            metrics(m),
            &calc(),
        )
    }

    #[test]
    fn scale_up() {
        // TestReplicaCalcScaleUp: 3 pods at 1.0 cpu request, usage 300m, 500m, 700m, target 30%.
        let pods: Vec<Pod> = (0..3).map(|i| pod(&format!("p{i}"), "1", "cpu")).collect();
        let r = cpu(3, &pods, &[("p0", 300), ("p1", 500), ("p2", 700)], 30).unwrap();
        assert_eq!(r, (5, 50, 500));
    }

    #[test]
    fn scale_up_unready_less_scale() {
        // TestReplicaCalcScaleUpUnreadyLessScale: one pod unready (never ready), target 30%.
        let pods = vec![
            pod_with(
                "p0",
                "1",
                "cpu",
                "Running",
                "False",
                NOW - 600_000,
                NOW - 600_000,
            ),
            pod("p1", "1", "cpu"),
            pod("p2", "1", "cpu"),
        ];
        let r = cpu(3, &pods, &[("p0", 100), ("p1", 500), ("p2", 700)], 30).unwrap();
        assert_eq!(r, (4, 60, 600));
    }

    #[test]
    fn scale_up_with_pending_pods_that_would_flip_direction() {
        // Pending pods count as unready; 3 current, target 50%.
        let pods = vec![
            pod_with(
                "p0",
                "1",
                "cpu",
                "Pending",
                "False",
                NOW - 600_000,
                NOW - 600_000,
            ),
            pod("p1", "1", "cpu"),
            pod_with(
                "p2",
                "1",
                "cpu",
                "Pending",
                "False",
                NOW - 600_000,
                NOW - 600_000,
            ),
        ];
        let r = cpu(3, &pods, &[("p0", 100), ("p1", 1000), ("p2", 100)], 50).unwrap();
        // ratio 2.0 with the ready pod; unready pods count as 0: (1000)/(3000) -> 33% -> ratio 0.66
        // flips direction: no change.
        assert_eq!(r.0, 3);
    }

    #[test]
    fn scale_down() {
        // TestReplicaCalcScaleDown: 5 pods, usage 100..500m of 1.0, target 50%.
        let pods: Vec<Pod> = (0..5).map(|i| pod(&format!("p{i}"), "1", "cpu")).collect();
        let m = [
            ("p0", 100),
            ("p1", 300),
            ("p2", 500),
            ("p3", 250),
            ("p4", 250),
        ];
        assert_eq!(cpu(5, &pods, &m, 50).unwrap(), (3, 28, 280));
    }

    #[test]
    fn tolerance_keeps_the_count() {
        // TestReplicaCalcTolerance: requests 0.9, 1.0, 1.1 cpu, usage 1010m, 1030m, 1020m, target 100%.
        let pods = vec![
            pod("p0", "0.9", "cpu"),
            pod("p1", "1.0", "cpu"),
            pod("p2", "1.1", "cpu"),
        ];
        let r = cpu(3, &pods, &[("p0", 1010), ("p1", 1030), ("p2", 1020)], 100).unwrap();
        assert_eq!(r, (3, 102, 1020));
    }

    #[test]
    fn missing_metrics_on_scale_down_count_as_full_request() {
        // TestReplicaCalcMissingMetricsNoChangeLt: 2 pods, one missing, usage 1.9 of 2 -> target 100%.
        let pods = vec![pod("p0", "1", "cpu"), pod("p1", "1", "cpu")];
        let r = cpu(2, &pods, &[("p0", 400)], 100).unwrap();
        // ratio 0.4 alone; p1 counted as 100%: (400+1000)/2000 = 70% -> ceil(0.7*2) = 2.
        assert_eq!(r.0, 2);
        // TestReplicaCalcMissingMetricsScaleUp: ratio above 1 with a missing pod counted as 0.
        let pods = vec![
            pod("p0", "1", "cpu"),
            pod("p1", "1", "cpu"),
            pod("p2", "1", "cpu"),
        ];
        let r = cpu(3, &pods, &[("p0", 1900), ("p1", 1900)], 100).unwrap();
        // (1900+1900+0)/3000 = 126% -> ceil(1.26*3) = 4.
        assert_eq!(r.0, 4);
    }

    #[test]
    fn deleted_and_failed_pods_are_ignored() {
        let mut deleted = pod("p2", "1", "cpu");
        deleted.metadata.deletion_timestamp =
            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                k8s_openapi::jiff::Timestamp::from_millisecond(NOW).unwrap(),
            ));
        let failed = pod_with(
            "p3",
            "1",
            "cpu",
            "Failed",
            "False",
            NOW - 600_000,
            NOW - 600_000,
        );
        let pods = vec![
            pod("p0", "1", "cpu"),
            pod("p1", "1", "cpu"),
            deleted,
            failed,
        ];
        let r = cpu(
            4,
            &pods,
            &[("p0", 1000), ("p1", 1000), ("p2", 9000), ("p3", 9000)],
            50,
        )
        .unwrap();
        assert_eq!(r, (4, 100, 1000));
    }

    #[test]
    fn warming_up_pods_are_unready_for_cpu_only() {
        // Started 30 s ago, ready 5 s ago: no whole 30 s window since it became ready.
        let young = pod_with(
            "p1",
            "1",
            "cpu",
            "Running",
            "True",
            NOW - 30_000,
            NOW - 5_000,
        );
        let pods = [pod("p0", "1", "cpu"), young];
        let refs: Vec<&Pod> = pods.iter().collect();
        let g = group_pods(&refs, &metrics(&[("p0", 1), ("p1", 1)]), "cpu", &calc());
        assert_eq!(g.ready, 1);
        assert!(g.unready.contains("p1"));
        let g = group_pods(&refs, &metrics(&[("p0", 1), ("p1", 1)]), "memory", &calc());
        assert_eq!(g.ready, 2);
    }

    #[test]
    fn errors_carry_upstream_messages() {
        assert_eq!(
            cpu(1, &[], &[], 50).unwrap_err().to_string(),
            "no pods returned by selector while calculating replica count"
        );
        let pods = vec![pod("p0", "1", "cpu")];
        assert_eq!(
            cpu(1, &pods, &[], 50).unwrap_err().to_string(),
            "did not receive metrics for targeted pods (pods might be unready)"
        );
        let no_request = pod("p0", "1", "memory");
        assert_eq!(
            cpu(1, &[no_request], &[("p0", 5)], 50)
                .unwrap_err()
                .to_string(),
            "missing request for cpu in container c of Pod p0"
        );
    }

    #[test]
    fn average_value_targets() {
        // TestReplicaCalcScaleUpCMUnreadyLessScale-like, on a raw target: 3 pods using
        // 20, 10, 30 (milli) against a target of 10 -> average 20, ratio 2 -> 6.
        let pods: Vec<Pod> = (0..3)
            .map(|i| pod(&format!("p{i}"), "1", "memory"))
            .collect();
        let refs: Vec<&Pod> = pods.iter().collect();
        let m = metrics(&[("p0", 20), ("p1", 10), ("p2", 30)]);
        let r = raw_resource_replicas(3, 10, "memory", Tolerances::both(0.1), &refs, m, &calc())
            .unwrap();
        assert_eq!(r, (6, 20));
        // Within tolerance: unchanged.
        let m = metrics(&[("p0", 10), ("p1", 10), ("p2", 10)]);
        let r = raw_resource_replicas(3, 10, "memory", Tolerances::both(0.1), &refs, m, &calc())
            .unwrap();
        assert_eq!(r, (3, 10));
    }
}
