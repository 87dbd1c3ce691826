//! A pod's status, computed from what the runtime shows (sandbox,
//! containers, exit codes) and what the worker knows (waiting reasons,
//! back-off, probe results), shaped as upstream's kubelet writes it so
//! `kubectl get pods` (STATUS, READY, RESTARTS) and `kubectl describe pod`
//! read the same.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    ContainerState, ContainerStateRunning, ContainerStateTerminated, ContainerStateWaiting,
    ContainerStatus, HostIP, PodCondition, PodIP, PodStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use container_runtime::cri::{ContainerInfo, Status};

/// Why a container is not running, as the worker last saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting {
    /// `ContainerCreating`, `ErrImagePull`, `ImagePullBackOff`,
    /// `CrashLoopBackOff`, `CreateContainerConfigError`, `PodInitializing`...
    pub reason: String,
    /// Detail.
    pub message: Option<String>,
}

/// One container as status needs it.
#[derive(Debug, Clone)]
pub struct ContainerView {
    /// Its name in the pod spec.
    pub name: String,
    /// The image as the spec names it.
    pub image: String,
    /// The current attempt, if any was created.
    pub current: Option<ContainerInfo>,
    /// The attempt before it (for `lastState`).
    pub previous: Option<ContainerInfo>,
    /// Set when the worker decided it is not (re)started now.
    pub waiting: Option<Waiting>,
    /// An init container with `restartPolicy: Always`, running beside the
    /// app containers: done initializing once started, ready by its probe.
    pub sidecar: bool,
    /// Readiness (probe result, or running when there is no probe).
    pub ready: bool,
    /// Startup probe passed (or none).
    pub started: bool,
    /// `repo@sha256:...` of its image.
    pub image_id: String,
}

fn time(rfc3339: &str) -> Option<Time> {
    rfc3339
        .parse::<k8s_openapi::jiff::Timestamp>()
        .ok()
        .map(Time)
}

fn terminated(info: &ContainerInfo) -> ContainerStateTerminated {
    let s = &info.state;
    let reason = if !s.reason.is_empty() {
        s.reason.clone()
    } else if s.exit_code == 0 {
        "Completed".into()
    } else {
        "Error".into()
    };
    ContainerStateTerminated {
        exit_code: s.exit_code,
        reason: Some(reason),
        message: (!s.message.is_empty()).then(|| s.message.clone()),
        started_at: time(&s.started_at),
        finished_at: time(&s.finished_at),
        container_id: Some(container_id(&info.spec.id)),
        signal: None,
    }
}

/// The `containerID` as status shows it.
pub fn container_id(id: &str) -> String {
    format!("minik8s://{id}")
}

/// A container's status entry. `default_waiting` is the reason shown
/// before the container exists: `ContainerCreating`, or `PodInitializing`
/// in a pod with init containers (as upstream's kubelet).
pub fn container_status(v: &ContainerView, default_waiting: &str) -> ContainerStatus {
    let restart_count = v
        .current
        .as_ref()
        .map(|c| c.spec.config.attempt as i32)
        .unwrap_or(0);
    let state = match (&v.current, &v.waiting) {
        (_, Some(w)) => ContainerState {
            waiting: Some(ContainerStateWaiting {
                reason: Some(w.reason.clone()),
                message: w.message.clone(),
            }),
            ..Default::default()
        },
        (Some(c), None) => match c.state.status {
            Status::Running => ContainerState {
                running: Some(ContainerStateRunning {
                    started_at: time(&c.state.started_at),
                }),
                ..Default::default()
            },
            Status::Exited | Status::Unknown => ContainerState {
                terminated: Some(terminated(c)),
                ..Default::default()
            },
            Status::Created => ContainerState {
                waiting: Some(ContainerStateWaiting {
                    reason: Some(default_waiting.into()),
                    message: None,
                }),
                ..Default::default()
            },
        },
        (None, None) => ContainerState {
            waiting: Some(ContainerStateWaiting {
                reason: Some(default_waiting.into()),
                message: None,
            }),
            ..Default::default()
        },
    };
    // lastState: the previous attempt, or the current one when it is no
    // longer shown (waiting for its restart).
    let last = match (&v.current, &v.waiting) {
        (Some(c), Some(_)) if matches!(c.state.status, Status::Exited | Status::Unknown) => {
            Some(terminated(c))
        }
        _ => v
            .previous
            .as_ref()
            .filter(|p| matches!(p.state.status, Status::Exited | Status::Unknown))
            .map(terminated),
    };
    let running = state.running.is_some();
    ContainerStatus {
        name: v.name.clone(),
        image: v.image.clone(),
        image_id: v.image_id.clone(),
        container_id: v.current.as_ref().map(|c| container_id(&c.spec.id)),
        ready: running && v.ready,
        started: Some(running && v.started),
        restart_count,
        state: Some(state),
        last_state: last.map(|t| ContainerState {
            terminated: Some(t),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Everything [`compute`] combines.
pub struct Inputs<'a> {
    /// The status as stored (for transition times and startTime).
    pub old: Option<&'a PodStatus>,
    /// Init containers, in order.
    pub init: &'a [ContainerView],
    /// App containers.
    pub app: &'a [ContainerView],
    /// Ephemeral containers (never ready, never part of the phase).
    pub ephemeral: &'a [ContainerView],
    /// `spec.restartPolicy`.
    pub restart_policy: &'a str,
    /// Pod IP, once the network is set up.
    pub pod_ip: Option<String>,
    /// The node's IP.
    pub host_ip: Option<String>,
    /// Whether the sandbox (and network) is ready.
    pub sandbox_ready: bool,
    /// `Some((reason, message))` when the pod failed as a whole
    /// (DeadlineExceeded, an init container failed with Never).
    pub failed: Option<(String, String)>,
    /// The pod was deleted and its containers are stopped: it will never run
    /// again, so the phase is terminal (upstream's `podIsTerminal`).
    pub terminal: bool,
    /// QoS class.
    pub qos: &'a str,
    /// The pod's `metadata.generation`: the spec this status was made for
    /// (`status.observedGeneration` and the kubelet's conditions').
    pub generation: Option<i64>,
}

fn finished(v: &ContainerView) -> Option<i32> {
    if v.waiting.is_some() {
        return None;
    }
    let c = v.current.as_ref()?;
    matches!(c.state.status, Status::Exited | Status::Unknown).then_some(c.state.exit_code)
}

/// Whether init container `v` no longer holds the app containers back: it
/// exited 0, or it is a sidecar that started (or the app containers already
/// exist, so the pod was initialized before).
fn init_complete(v: &ContainerView, apps_created: bool) -> bool {
    if !v.sidecar {
        return finished(v) == Some(0);
    }
    let running = v
        .current
        .as_ref()
        .is_some_and(|c| c.state.status == Status::Running);
    (running && v.started) || (apps_created && v.current.is_some())
}

fn apps_created(inp: &Inputs<'_>) -> bool {
    inp.app.iter().any(|v| v.current.is_some())
}

/// The phase (upstream `getPhase`).
pub fn phase(inp: &Inputs<'_>) -> &'static str {
    if inp.failed.is_some() {
        return "Failed";
    }
    if inp.terminal {
        // Stopped for good: it succeeded only if every app container did.
        let ok = !inp.app.is_empty() && inp.app.iter().all(|v| finished(v) == Some(0));
        return if ok { "Succeeded" } else { "Failed" };
    }
    let created = apps_created(inp);
    let init_done = inp.init.iter().all(|v| init_complete(v, created));
    if !init_done {
        return "Pending";
    }
    // A sidecar still running keeps the pod Running (it is stopped once the
    // app containers are done).
    let running = inp
        .app
        .iter()
        .chain(inp.init.iter().filter(|v| v.sidecar))
        .filter(|v| {
            v.current
                .as_ref()
                .is_some_and(|c| c.state.status == Status::Running)
        })
        .count();
    let exits: Vec<Option<i32>> = inp.app.iter().map(finished).collect();
    let all_finished = exits.iter().all(Option::is_some);
    let restarting = inp.app.iter().any(|v| {
        v.waiting
            .as_ref()
            .is_some_and(|w| w.reason == "CrashLoopBackOff")
    });
    if running > 0 || restarting {
        return "Running";
    }
    if all_finished && !inp.app.is_empty() {
        let ok = exits.iter().all(|e| *e == Some(0));
        return match (inp.restart_policy, ok) {
            ("Always", _) => "Running",
            (_, true) => "Succeeded",
            ("OnFailure", false) => "Running",
            _ => "Failed",
        };
    }
    if exits.iter().any(Option::is_some) {
        return "Running";
    }
    "Pending"
}

fn condition(
    old: Option<&PodStatus>,
    type_: &str,
    ok: bool,
    reason: Option<&str>,
    message: Option<String>,
) -> PodCondition {
    let status = if ok { "True" } else { "False" };
    let prev = old
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == type_));
    let now = Time(k8s_openapi::jiff::Timestamp::now());
    PodCondition {
        type_: type_.into(),
        status: status.into(),
        reason: reason.map(String::from),
        message,
        last_probe_time: None,
        last_transition_time: Some(match prev {
            Some(p) if p.status == status => p.last_transition_time.clone().unwrap_or(now),
            _ => now,
        }),
        observed_generation: None,
    }
}

/// The pod status to write.
pub fn compute(inp: &Inputs<'_>) -> PodStatus {
    let phase = phase(inp);
    // An init container is Ready once it has completed (upstream's prober
    // manager marks a terminated, exit 0, init container ready).
    let default_waiting = if inp.init.is_empty() {
        "ContainerCreating"
    } else {
        "PodInitializing"
    };
    let init_statuses: Vec<ContainerStatus> = inp
        .init
        .iter()
        .map(|v| ContainerStatus {
            ready: if v.sidecar {
                v.ready
            } else {
                finished(v) == Some(0)
            },
            ..container_status(v, default_waiting)
        })
        .collect();
    let statuses: Vec<ContainerStatus> = inp
        .app
        .iter()
        .map(|v| container_status(v, default_waiting))
        .collect();
    let created = apps_created(inp);
    let initialized = inp.init.iter().all(|v| init_complete(v, created));
    // Sidecars count for readiness like app containers (upstream lists
    // them first).
    let not_ready: Vec<&str> = inp
        .init
        .iter()
        .zip(&init_statuses)
        .filter(|(v, s)| v.sidecar && !s.ready)
        .map(|(_, s)| s.name.as_str())
        .chain(
            statuses
                .iter()
                .filter(|s| !s.ready)
                .map(|s| s.name.as_str()),
        )
        .collect();
    let containers_ready = not_ready.is_empty() && phase != "Succeeded" && phase != "Failed";
    let unready_msg = (!not_ready.is_empty())
        .then(|| format!("containers with unready status: [{}]", not_ready.join(" ")));
    let pending_init: Vec<&str> = inp
        .init
        .iter()
        .filter(|v| !init_complete(v, created))
        .map(|v| v.name.as_str())
        .collect();
    let mut conditions = vec![
        condition(
            inp.old,
            "PodReadyToStartContainers",
            inp.sandbox_ready,
            None,
            None,
        ),
        condition(
            inp.old,
            "Initialized",
            initialized,
            (!initialized).then_some("ContainersNotInitialized"),
            (!initialized).then(|| {
                format!(
                    "containers with incomplete status: [{}]",
                    pending_init.join(" ")
                )
            }),
        ),
        condition(
            inp.old,
            "Ready",
            containers_ready,
            (!containers_ready).then_some(if phase == "Succeeded" || phase == "Failed" {
                "PodCompleted"
            } else {
                "ContainersNotReady"
            }),
            if containers_ready {
                None
            } else {
                unready_msg.clone()
            },
        ),
        condition(
            inp.old,
            "ContainersReady",
            containers_ready,
            (!containers_ready).then_some(if phase == "Succeeded" || phase == "Failed" {
                "PodCompleted"
            } else {
                "ContainersNotReady"
            }),
            if containers_ready { None } else { unready_msg },
        ),
    ];
    for c in &mut conditions {
        c.observed_generation = inp.generation;
    }
    // PodScheduled (and anything else others wrote) stays as it was.
    for c in inp
        .old
        .and_then(|s| s.conditions.clone())
        .unwrap_or_default()
    {
        if !conditions.iter().any(|x| x.type_ == c.type_) {
            conditions.push(c);
        }
    }
    let order: BTreeMap<&str, usize> = [
        ("PodReadyToStartContainers", 0),
        ("Initialized", 1),
        ("Ready", 2),
        ("ContainersReady", 3),
        ("PodScheduled", 4),
    ]
    .into();
    conditions.sort_by_key(|c| order.get(c.type_.as_str()).copied().unwrap_or(9));
    let start_time = inp
        .old
        .and_then(|s| s.start_time.clone())
        .or_else(|| Some(Time(k8s_openapi::jiff::Timestamp::now())));
    PodStatus {
        phase: Some(phase.into()),
        conditions: Some(conditions),
        host_ip: inp.host_ip.clone(),
        host_ips: inp.host_ip.clone().map(|ip| vec![HostIP { ip }]),
        pod_ip: inp.pod_ip.clone(),
        pod_ips: inp.pod_ip.clone().map(|ip| vec![PodIP { ip }]),
        start_time,
        init_container_statuses: (!init_statuses.is_empty()).then_some(init_statuses),
        container_statuses: Some(statuses),
        ephemeral_container_statuses: (!inp.ephemeral.is_empty()).then(|| {
            inp.ephemeral
                .iter()
                .map(|v| container_status(v, "ContainerCreating"))
                .collect()
        }),
        qos_class: Some(inp.qos.into()),
        reason: inp.failed.as_ref().map(|f| f.0.clone()),
        message: inp.failed.as_ref().map(|f| f.1.clone()),
        observed_generation: inp.generation,
        ..Default::default()
    }
}

/// Adds (or keeps) the `DisruptionTarget` condition: the kubelet is
/// terminating the pod for `reason` (upstream's `TerminationByKubelet` for a
/// node-pressure eviction), which a Job's `podFailurePolicy` can match.
pub fn set_disruption_target(
    status: &mut PodStatus,
    reason: &str,
    message: &str,
    generation: Option<i64>,
) {
    let conditions = status.conditions.get_or_insert_with(Vec::new);
    let keep = conditions
        .iter()
        .find(|c| {
            c.type_ == "DisruptionTarget"
                && c.status == "True"
                && c.reason.as_deref() == Some(reason)
        })
        .and_then(|c| c.last_transition_time.clone());
    conditions.retain(|c| c.type_ != "DisruptionTarget");
    conditions.push(PodCondition {
        type_: "DisruptionTarget".into(),
        status: "True".into(),
        reason: Some(reason.into()),
        message: Some(message.into()),
        last_probe_time: None,
        last_transition_time: Some(
            keep.unwrap_or_else(|| Time(k8s_openapi::jiff::Timestamp::now())),
        ),
        observed_generation: generation,
    });
}

/// Whether two statuses differ only in condition timestamps we refresh.
pub fn same(a: &PodStatus, b: &PodStatus) -> bool {
    let norm = |s: &PodStatus| {
        let mut s = s.clone();
        for c in s.conditions.iter_mut().flatten() {
            c.last_transition_time = None;
            c.last_probe_time = None;
        }
        serde_json::to_value(&s).unwrap_or_default()
    };
    norm(a) == norm(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(name: &str, status: Status, exit_code: i32) -> ContainerView {
        let config = container_runtime::cri::ContainerConfig {
            name: name.to_string(),
            ..Default::default()
        };
        let spec = serde_json::json!({
            "id": format!("{name}-id"), "sandboxId": "sb", "config": config, "imageId": "",
            "args": [], "env": [], "cwd": "/", "user": "", "lower": [], "layersDir": "/l",
            "dir": "/d", "writableDir": "/w", "joinNamespaces": [], "pidMode": "New", "hostname": "h",
            "etcFiles": [], "cgroupPath": "", "cgroupProcs": [], "capabilities": [],
            "noNewPrivs": false, "logPath": "/log", "logMaxSize": 0, "logMaxFiles": 0,
        });
        let state = serde_json::json!({
            "status": status, "createdAt": "2026-01-01T00:00:00Z",
            "startedAt": "2026-01-01T00:00:01Z", "exitCode": exit_code,
        });
        ContainerView {
            name: name.to_string(),
            image: "busybox".into(),
            current: Some(ContainerInfo {
                spec: serde_json::from_value(spec).expect("spec"),
                state: serde_json::from_value(state).expect("state"),
            }),
            previous: None,
            waiting: None,
            sidecar: false,
            ready: true,
            started: true,
            image_id: String::new(),
        }
    }

    #[test]
    fn completed_init_containers_are_ready_and_failed_ones_are_not() {
        let init = [
            view("init-1", Status::Exited, 0),
            view("init-2", Status::Exited, 1),
            view("init-3", Status::Running, 0),
        ];
        let app = [view("run-1", Status::Running, 0)];
        let st = compute(&Inputs {
            old: None,
            init: &init,
            app: &app,
            ephemeral: &[],
            restart_policy: "Always",
            pod_ip: None,
            host_ip: None,
            sandbox_ready: true,
            failed: None,
            terminal: false,
            qos: "BestEffort",
            generation: Some(2),
        });
        let ready: Vec<(String, bool)> = st
            .init_container_statuses
            .clone()
            .unwrap_or_default()
            .into_iter()
            .map(|s| (s.name, s.ready))
            .collect();
        assert_eq!(
            ready,
            [
                ("init-1".to_string(), true),
                ("init-2".to_string(), false),
                ("init-3".to_string(), false)
            ]
        );
        let app_ready = st.container_statuses.unwrap_or_default()[0].ready;
        assert!(app_ready, "a running app container with no probe is ready");
        // The status says which spec it was made for, and so do the
        // kubelet's conditions.
        assert_eq!(st.observed_generation, Some(2));
        let conditions = st.conditions.unwrap_or_default();
        assert!(!conditions.is_empty());
        assert!(conditions.iter().all(|c| c.observed_generation == Some(2)));
    }

    #[test]
    fn a_started_sidecar_initializes_the_pod_and_counts_for_readiness() {
        let sidecar = |started: bool, ready: bool| ContainerView {
            sidecar: true,
            started,
            ready,
            ..view("side", Status::Running, 0)
        };
        let not_created = ContainerView {
            current: None,
            ..view("app", Status::Running, 0)
        };
        let inputs = |init: &[ContainerView], app: &[ContainerView]| {
            compute(&Inputs {
                old: None,
                init,
                app,
                ephemeral: &[],
                restart_policy: "Always",
                pod_ip: None,
                host_ip: None,
                sandbox_ready: true,
                failed: None,
                terminal: false,
                qos: "BestEffort",
                generation: None,
            })
        };
        let cond = |st: &PodStatus, t: &str| {
            st.conditions
                .iter()
                .flatten()
                .find(|c| c.type_ == t)
                .map(|c| (c.status.clone(), c.message.clone()))
        };
        // Not started yet: the pod is still initializing.
        let st = inputs(&[sidecar(false, false)], std::slice::from_ref(&not_created));
        assert_eq!(st.phase.as_deref(), Some("Pending"));
        assert_eq!(cond(&st, "Initialized").map(|c| c.0), Some("False".into()));
        // Started: initialized; while it is unready, so are the containers.
        let st = inputs(&[sidecar(true, false)], &[view("app", Status::Running, 0)]);
        assert_eq!(st.phase.as_deref(), Some("Running"));
        assert_eq!(cond(&st, "Initialized").map(|c| c.0), Some("True".into()));
        assert_eq!(
            cond(&st, "ContainersReady"),
            Some((
                "False".into(),
                Some("containers with unready status: [side]".into())
            ))
        );
        let st = inputs(&[sidecar(true, true)], &[view("app", Status::Running, 0)]);
        assert_eq!(cond(&st, "Ready").map(|c| c.0), Some("True".into()));
        assert!(st.init_container_statuses.unwrap_or_default()[0].ready);
    }

    #[test]
    fn a_deleted_pod_ends_failed_unless_every_container_succeeded() {
        let phase_of = |app: &[ContainerView]| {
            phase(&Inputs {
                old: None,
                init: &[],
                app,
                ephemeral: &[],
                restart_policy: "Always",
                pod_ip: None,
                host_ip: None,
                sandbox_ready: false,
                failed: None,
                terminal: true,
                qos: "BestEffort",
                generation: Some(2),
            })
        };
        // Killed by the deletion (137): Failed, even with restartPolicy Always.
        assert_eq!(phase_of(&[view("c", Status::Exited, 137)]), "Failed");
        assert_eq!(phase_of(&[view("c", Status::Exited, 0)]), "Succeeded");
    }

    #[test]
    fn containers_not_created_yet_wait_for_the_pod_to_initialize() {
        let not_created = |name: &str| ContainerView {
            current: None,
            ..view(name, Status::Running, 0)
        };
        let reasons = |init: &[ContainerView], app: &[ContainerView]| -> Vec<String> {
            let st = compute(&Inputs {
                old: None,
                init,
                app,
                ephemeral: &[],
                restart_policy: "Always",
                pod_ip: None,
                host_ip: None,
                sandbox_ready: true,
                failed: None,
                terminal: false,
                qos: "BestEffort",
                generation: Some(2),
            });
            st.init_container_statuses
                .unwrap_or_default()
                .into_iter()
                .chain(st.container_statuses.unwrap_or_default())
                .map(|s| {
                    s.state
                        .and_then(|s| s.waiting)
                        .and_then(|w| w.reason)
                        .unwrap_or_else(|| "-".into())
                })
                .collect()
        };
        assert_eq!(
            reasons(
                &[view("init1", Status::Running, 0), not_created("init2")],
                &[not_created("run1")]
            ),
            ["-", "PodInitializing", "PodInitializing"]
        );
        assert_eq!(reasons(&[], &[not_created("run1")]), ["ContainerCreating"]);
    }
}
