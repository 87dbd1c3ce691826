//! Pod startup traces: when each step of a pod's first start on this node
//! happened, from the watch event that brought it here to the status write
//! that reported it Ready.
//!
//! ```text
//! watch ─▶ sync ─▶ admitted ─▶ sandbox ─▶ network
//!                            └─▶ volumes (beside them, unless one shows the pod IP)
//!       ─▶ image c ─▶ created c ─▶ started c   (per container, init ones first)
//!       ─▶ running ─▶ ready                    (status writes the apiserver took)
//! ```
//!
//! Every step is recorded once, the first time it happens, as milliseconds
//! since the watch event; a trace is complete once the pod was reported
//! Ready, and is then logged as one line. Only pods that no kubelet has
//! started yet (no `status.startTime`) get a trace, so a restarted kubelet
//! that finds its pods running does not report them as new starts.
//!
//! This is what makes the time between "bound" and "Ready" visible: the
//! gaps between steps are queueing (the worker waiting for the blocking
//! pool, the runtime's lock, the apiserver), the steps themselves are work.
//! The kubelet API serves the newest [`KEEP`] traces at `/startup` and one
//! pod's at `/startup/{namespace}/{name}`; our `kubectl trace pod NAME`
//! reads them through the apiserver's `nodes/<node>/proxy`.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Instant, SystemTime};

use k8s_openapi::api::core::v1::Pod;
use serde::Serialize;

/// How many traces the kubelet keeps (oldest dropped first).
pub const KEEP: usize = 512;

/// The steps of a start, in the order they normally happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Step {
    /// The pod manager got the pod from its watch.
    Watch,
    /// The pod's worker began its first sync.
    Sync,
    /// The kubelet admitted the pod (ports, pressure, sysctls).
    Admitted,
    /// The runtime made the pod sandbox (pinned namespaces, cgroup).
    Sandbox,
    /// CNI ADD returned the pod's IP.
    Network,
    /// The pod's volumes were prepared.
    Volumes,
    /// A container's image is present (pulled if it was not).
    Image,
    /// A container was created.
    Created,
    /// A container was started.
    Started,
    /// A status with phase Running reached the apiserver.
    Running,
    /// A status with the Ready condition true reached the apiserver.
    Ready,
}

/// One recorded step.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// Which step.
    pub step: Step,
    /// The container, for the per-container steps.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    /// Milliseconds since the watch event.
    pub at_ms: f64,
}

/// The startup of one pod.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Trace {
    /// The pod's namespace.
    pub namespace: String,
    /// The pod's name.
    pub name: String,
    /// The pod's uid.
    pub uid: String,
    /// When the watch event arrived (RFC 3339, wall clock).
    pub watched_at: String,
    /// The steps so far.
    pub events: Vec<Event>,
    /// Whether the pod was reported Ready (nothing more is recorded).
    pub complete: bool,
    #[serde(skip)]
    start: Instant,
}

impl Trace {
    /// Milliseconds from the watch event to `step` (its first occurrence).
    pub fn at(&self, step: Step) -> Option<f64> {
        self.events.iter().find(|e| e.step == step).map(|e| e.at_ms)
    }

    /// One line for the log: each step with its time since the watch event.
    pub fn summary(&self) -> String {
        self.events
            .iter()
            .map(|e| match &e.container {
                Some(c) => format!("{:?}({c})={:.1}", e.step, e.at_ms),
                None => format!("{:?}={:.1}", e.step, e.at_ms),
            })
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase()
    }
}

/// The node's traces, newest last.
#[derive(Debug, Default)]
pub struct Traces {
    inner: Mutex<VecDeque<Trace>>,
}

impl Traces {
    /// Starts the trace of a pod the watch just brought, unless it has one
    /// already or some kubelet started it before (a restart).
    pub fn watched(&self, pod: &Pod) {
        let Some(uid) = pod.metadata.uid.as_deref() else {
            return;
        };
        let started = pod
            .status
            .as_ref()
            .and_then(|s| s.start_time.as_ref())
            .is_some();
        if started || pod.metadata.deletion_timestamp.is_some() {
            return;
        }
        let Ok(mut all) = self.inner.lock() else {
            return;
        };
        if all.iter().any(|t| t.uid == uid) {
            return;
        }
        if all.len() >= KEEP {
            all.pop_front();
        }
        all.push_back(Trace {
            namespace: pod.metadata.namespace.clone().unwrap_or_default(),
            name: pod.metadata.name.clone().unwrap_or_default(),
            uid: uid.to_string(),
            watched_at: k8s_openapi::jiff::Timestamp::try_from(SystemTime::now())
                .map(|t| format!("{t:.3}"))
                .unwrap_or_default(),
            events: vec![Event {
                step: Step::Watch,
                container: None,
                at_ms: 0.0,
            }],
            complete: false,
            start: Instant::now(),
        });
    }

    /// Records `step` for the pod `uid` (of `container`), the first time
    /// only; a pod without a trace or with a complete one is left alone.
    pub fn record(&self, uid: &str, step: Step, container: Option<&str>) {
        let Ok(mut all) = self.inner.lock() else {
            return;
        };
        let Some(t) = all.iter_mut().rev().find(|t| t.uid == uid) else {
            return;
        };
        if t.complete
            || t.events
                .iter()
                .any(|e| e.step == step && e.container.as_deref() == container)
        {
            return;
        }
        t.events.push(Event {
            step,
            container: container.map(str::to_string),
            at_ms: t.start.elapsed().as_secs_f64() * 1000.0,
        });
        if step == Step::Ready {
            t.complete = true;
            tracing::info!(
                pod = %format!("{}/{}", t.namespace, t.name),
                total_ms = format!("{:.1}", t.events.last().map_or(0.0, |e| e.at_ms)),
                steps = %t.summary(),
                "pod started"
            );
        }
    }

    /// Every trace kept, newest first.
    pub fn list(&self) -> Vec<Trace> {
        match self.inner.lock() {
            Ok(all) => all.iter().rev().cloned().collect(),
            Err(_) => Vec::new(),
        }
    }

    /// The newest trace of the pod `namespace/name`.
    pub fn get(&self, namespace: &str, name: &str) -> Option<Trace> {
        let all = self.inner.lock().ok()?;
        all.iter()
            .rev()
            .find(|t| t.namespace == namespace && t.name == name)
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(uid: &str, started: bool) -> Pod {
        let mut p: Pod = serde_json::from_value(json!({
            "metadata": {"namespace": "ns", "name": format!("p-{uid}"), "uid": uid},
        }))
        .unwrap();
        if started {
            p.status =
                Some(serde_json::from_value(json!({"startTime": "2026-12-04T00:00:00Z"})).unwrap());
        }
        p
    }

    #[test]
    fn steps_are_recorded_once_in_order_until_ready() {
        let t = Traces::default();
        t.watched(&pod("a", false));
        t.record("a", Step::Sync, None);
        t.record("a", Step::Sync, None);
        t.record("a", Step::Image, Some("c1"));
        t.record("a", Step::Image, Some("c2"));
        t.record("a", Step::Ready, None);
        t.record("a", Step::Running, None); // after Ready: ignored
        let got = t.get("ns", "p-a").unwrap();
        let steps: Vec<(Step, Option<&str>)> = got
            .events
            .iter()
            .map(|e| (e.step, e.container.as_deref()))
            .collect();
        assert_eq!(
            steps,
            vec![
                (Step::Watch, None),
                (Step::Sync, None),
                (Step::Image, Some("c1")),
                (Step::Image, Some("c2")),
                (Step::Ready, None)
            ]
        );
        assert!(got.complete);
        assert!(got.events.windows(2).all(|w| w[0].at_ms <= w[1].at_ms));
        assert_eq!(got.at(Step::Watch), Some(0.0));
        assert!(got.at(Step::Running).is_none());
        let v = serde_json::to_value(&got).unwrap();
        assert_eq!(v["events"][2]["step"], "image");
        assert_eq!(v["events"][2]["container"], "c1");
        assert!(v["events"][1].get("container").is_none());
        assert!(got.summary().starts_with("watch=0.0 sync="));
    }

    #[test]
    fn started_pods_and_unknown_uids_get_no_trace() {
        let t = Traces::default();
        t.watched(&pod("old", true));
        t.record("old", Step::Sync, None);
        t.record("nobody", Step::Sync, None);
        assert!(t.list().is_empty());
    }

    #[test]
    fn the_oldest_traces_are_dropped_first() {
        let t = Traces::default();
        for i in 0..KEEP + 3 {
            t.watched(&pod(&i.to_string(), false));
        }
        let all = t.list();
        assert_eq!(all.len(), KEEP);
        assert_eq!(all[0].uid, (KEEP + 2).to_string());
        assert!(t.get("ns", "p-0").is_none());
        assert!(t.get("ns", "p-3").is_some());
    }
}
