//! One pod's worker: a level-triggered sync loop, run on every change of
//! the pod object and every [`RESYNC`] (to notice exits and run probes).
//!
//! sync(pod):
//! 1. being deleted -> stop the containers (preStop, SIGTERM, grace, then
//!    SIGKILL), tear down sandbox, network and volumes, then delete the pod
//!    object for good (grace 0): the worker ends;
//! 2. evicted by the eviction manager ([`crate::eviction`]) -> kill
//!    everything with the grace it gives, phase Failed, reason Evicted,
//!    `DisruptionTarget`; past `activeDeadlineSeconds` -> kill everything,
//!    phase Failed;
//! 3. sandbox and network ensured (a restarted kubelet finds both again
//!    and keeps them) while the volumes are set up beside them
//!    (configMaps/secrets refreshed; a volume that shows the pod's IP waits
//!    for the network);
//! 4. init containers one at a time in order, each to a successful exit
//!    (a sidecar, `restartPolicy: Always`, only until it has started: it
//!    keeps running beside the app containers and stops after them);
//! 5. in-place resizes allocated and applied ([`super::resize`]);
//!    app containers started; exited ones restarted per `restartPolicy`
//!    with CrashLoopBackOff; liveness failures restart, readiness sets
//!    `ready`;
//! 6. status written when it changed.
//!
//! Starting one container is three steps, each in its own module: make its
//! image present ([`super::images`]), build its environment ([`super::env`])
//! and translate it into the runtime's config ([`super::container_config`]),
//! then create and start it here. The runtime is reached only through its
//! CRI-like [`RuntimeService`](container_runtime::cri::RuntimeService) and
//! [`ImageService`](container_runtime::cri::ImageService) traits; all their
//! calls block (they fork, mount, read files), so they run on tokio's
//! blocking pool.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Container, Pod, PodStatus};
use kube::api::{Api, DeleteParams, Patch, PatchParams, Preconditions};
use tokio::sync::watch;
use tracing::Instrument;

use super::backoff::Backoff;
use super::container_config::{self, LABEL_UID};
use super::images::ImageManager;
use super::probes::{self, ProbeKind, Prober};
use super::startup_trace::Step;
use super::status::{self, ContainerView, Inputs, Waiting};
use super::termination_message;
use super::{blocking, env, Context};
use container_runtime::cri::{
    ContainerFilter, ContainerInfo, PodSandbox, PodSandboxFilter, PodSandboxState, RuntimeService,
    Status,
};

/// How often a worker looks at its pod without news.
pub const RESYNC: Duration = Duration::from_secs(1);

/// What one sync concluded.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Keep going.
    Continue,
    /// The pod is gone for good; the worker ends.
    Finished,
}

/// The worker's memory between syncs.
pub struct Worker {
    ctx: Arc<Context>,
    uid: String,
    backoff: Backoff,
    images: ImageManager,
    waiting: HashMap<String, Waiting>,
    prober: Prober,
    last_status: Option<PodStatus>,
    failed: Option<(String, String)>,
    /// Deleted and stopped: the next status written is terminal.
    terminal: bool,
    /// Passed the node's admission (checked once, before the sandbox).
    admitted: bool,
    /// Termination messages of exited attempts, read once.
    messages: termination_message::Messages,
    /// In-place resize: the allocation and the resize conditions.
    resize: super::resize::Tracker,
    /// Evicted for node pressure: the `DisruptionTarget` message.
    evicted: Option<String>,
    /// When the pod came to this kubelet: its volumes show no ConfigMap or
    /// Secret fetched before ([`crate::volumes::objects`]).
    registered: std::time::Instant,
}

/// The pod's ephemeral containers as containers (the fields they may not
/// set are absent, and `targetContainerName` is read where it matters).
pub fn ephemeral_containers(spec: &k8s_openapi::api::core::v1::PodSpec) -> Vec<Container> {
    spec.ephemeral_containers
        .iter()
        .flatten()
        .filter_map(|e| {
            let mut v = serde_json::to_value(e).ok()?;
            if let Some(m) = v.as_object_mut() {
                m.remove("targetContainerName");
            }
            serde_json::from_value(v).ok()
        })
        .collect()
}

/// An init container that keeps running beside the app containers.
pub fn is_sidecar(c: &Container) -> bool {
    c.restart_policy.as_deref() == Some("Always")
}

/// The image volumes container `c` mounts, as containers of their image
/// and pull policy (what the image manager pulls by).
fn image_volumes_of(pod: &Pod, c: &Container) -> Vec<Container> {
    let mounted: Vec<&str> = c
        .volume_mounts
        .iter()
        .flatten()
        .map(|m| m.name.as_str())
        .collect();
    pod.spec
        .iter()
        .flat_map(|s| s.volumes.iter().flatten())
        .filter(|v| mounted.contains(&v.name.as_str()))
        .filter_map(|v| {
            let image = v.image.as_ref()?;
            Some(Container {
                name: c.name.clone(),
                image: image.reference.clone(),
                image_pull_policy: image.pull_policy.clone(),
                ..Default::default()
            })
        })
        .collect()
}

/// The pod `uid`'s sandboxes, oldest first (the current one last).
fn pod_sandboxes(rt: &dyn RuntimeService, uid: &str) -> Vec<PodSandbox> {
    rt.list_pod_sandboxes_filtered(&PodSandboxFilter::pod(uid))
        .unwrap_or_default()
}

/// Every container (all attempts) of the pod `uid`, oldest first.
fn pod_containers(rt: &dyn RuntimeService, uid: &str) -> Vec<ContainerInfo> {
    rt.list_containers_filtered(&ContainerFilter::label(LABEL_UID, uid))
        .unwrap_or_default()
}

fn key(pod: &Pod) -> String {
    format!(
        "{}/{}",
        pod.metadata.namespace.as_deref().unwrap_or(""),
        pod.metadata.name.as_deref().unwrap_or("")
    )
}

impl Worker {
    /// A worker for the pod `uid`.
    pub fn new(ctx: Arc<Context>, uid: String) -> Worker {
        Worker {
            ctx,
            uid,
            backoff: Backoff::default(),
            images: ImageManager::default(),
            waiting: HashMap::new(),
            prober: Prober::default(),
            last_status: None,
            failed: None,
            terminal: false,
            admitted: false,
            messages: Default::default(),
            resize: Default::default(),
            evicted: None,
            registered: std::time::Instant::now(),
        }
    }

    /// Runs until the pod is gone: syncs on every new version of the pod
    /// and every [`RESYNC`].
    pub async fn run(mut self, mut rx: watch::Receiver<Option<Arc<Pod>>>) {
        loop {
            let pod = rx.borrow_and_update().clone();
            let outcome = match pod {
                Some(pod) => {
                    let span = tracing::info_span!("pod", pod = %key(&pod));
                    match self.sync(&pod).instrument(span).await {
                        Ok(o) => o,
                        Err(e) => {
                            tracing::warn!(pod = %key(&pod), error = %e, "sync failed; retrying");
                            Outcome::Continue
                        }
                    }
                }
                // The object vanished from the apiserver (force delete):
                // clean up what is left on the node.
                None => {
                    self.teardown(None, Duration::from_secs(2)).await;
                    Outcome::Finished
                }
            };
            if outcome == Outcome::Finished {
                return;
            }
            tokio::select! {
                changed = rx.changed() => if changed.is_err() {
                    self.teardown(None, Duration::from_secs(2)).await;
                    return;
                },
                _ = tokio::time::sleep(RESYNC) => {}
            }
        }
    }

    /// Records a step of the pod's startup trace.
    fn trace(&self, step: Step, container: Option<&str>) {
        self.ctx.startup.record(&self.uid, step, container);
    }

    /// Records Running and Ready in the startup trace once the apiserver
    /// holds a status that says so.
    fn trace_status(&self, status: &PodStatus) {
        if status.phase.as_deref() == Some("Running") {
            self.trace(Step::Running, None);
        }
        let ready = status
            .conditions
            .iter()
            .flatten()
            .any(|c| c.type_ == "Ready" && c.status == "True");
        if ready {
            self.trace(Step::Ready, None);
        }
    }

    /// This pod's sandboxes, oldest first, read on the blocking pool.
    async fn sandboxes(&self) -> Vec<PodSandbox> {
        let (rt, uid) = (self.ctx.runtime.clone(), self.uid.clone());
        blocking(move || pod_sandboxes(rt.as_ref(), &uid)).await
    }

    /// Every container (all attempts) of this pod, read on the blocking pool.
    async fn containers(&self) -> Vec<ContainerInfo> {
        let (rt, uid) = (self.ctx.runtime.clone(), self.uid.clone());
        blocking(move || pod_containers(rt.as_ref(), &uid)).await
    }

    /// (current, previous) attempts of container `name`.
    fn attempts(
        all: &[ContainerInfo],
        name: &str,
    ) -> (Option<ContainerInfo>, Option<ContainerInfo>) {
        let mut v: Vec<&ContainerInfo> =
            all.iter().filter(|c| c.spec.config.name == name).collect();
        v.sort_by_key(|c| c.spec.config.attempt);
        let cur = v.pop().cloned();
        let prev = v.pop().cloned();
        (cur, prev)
    }

    /// One sync of the pod.
    pub async fn sync(&mut self, pod: &Pod) -> Result<Outcome, super::Error> {
        let spec = pod.spec.clone().unwrap_or_default();
        if pod.metadata.deletion_timestamp.is_some() {
            let grace = pod
                .metadata
                .deletion_grace_period_seconds
                .or(spec.termination_grace_period_seconds)
                .unwrap_or(30)
                .max(0) as u64;
            // A finalizer (a Job's tracking one) keeps the object after our
            // delete: its owner then reads the final phase, Failed or
            // Succeeded, as upstream's kubelet writes it. Without finalizers
            // the object goes at once and the extra write is skipped.
            let held = pod
                .metadata
                .finalizers
                .as_ref()
                .is_some_and(|f| !f.is_empty());
            let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
            if held && !matches!(phase, Some("Succeeded" | "Failed")) {
                self.stop_all(pod, Duration::from_secs(grace)).await;
                self.terminal = true;
                if let Err(e) = self.write_status(pod, None, false).await {
                    tracing::warn!(pod = %key(pod), error = %e, "writing the final status failed");
                }
            }
            self.teardown(Some(pod), Duration::from_secs(grace)).await;
            self.final_delete(pod).await?;
            return Ok(Outcome::Finished);
        }
        self.trace(Step::Sync, None);
        let phase = pod
            .status
            .as_ref()
            .and_then(|s| s.phase.clone())
            .unwrap_or_default();
        if phase == "Succeeded" || phase == "Failed" {
            // Finished pods keep their record; their processes are gone.
            self.stop_all(pod, Duration::from_secs(0)).await;
            return Ok(Outcome::Continue);
        }
        if self.failed.is_none() {
            if let Some(ev) = self.ctx.eviction.take(&self.uid) {
                // Node pressure (crate::eviction): stop everything now (a
                // hard threshold gives no grace) and fail the pod for good.
                tracing::warn!(grace = ?ev.grace, message = %ev.message, "evicting the pod");
                self.failed = Some((crate::eviction::REASON.into(), ev.message.clone()));
                self.evicted = Some(ev.message);
                self.stop_all(pod, ev.grace).await;
            }
        }
        if let (Some(deadline), Some(start)) = (
            spec.active_deadline_seconds,
            pod.status.as_ref().and_then(|s| s.start_time.as_ref()),
        ) {
            let elapsed = k8s_openapi::jiff::Timestamp::now().as_second() - start.0.as_second();
            if elapsed >= deadline && self.failed.is_none() {
                self.ctx.event(
                    pod,
                    "Normal",
                    "DeadlineExceeded",
                    "Pod was active on the node longer than the specified deadline".into(),
                );
                self.failed = Some((
                    "DeadlineExceeded".into(),
                    "Pod was active on the node longer than the specified deadline".to_string(),
                ));
                self.stop_all(
                    pod,
                    Duration::from_secs(
                        spec.termination_grace_period_seconds.unwrap_or(30).max(0) as u64
                    ),
                )
                .await;
            }
        }
        if !self.admitted && self.failed.is_none() {
            // Only a pod that has not started yet can be turned away: after
            // a kubelet restart the running ones keep their ports.
            let has_sandbox = !self.sandboxes().await.is_empty();
            let unstarted = pod
                .status
                .as_ref()
                .and_then(|s| s.start_time.as_ref())
                .is_none();
            let rejected = if has_sandbox || !unstarted {
                None
            } else if let Some(m) =
                super::admission::node_pressure(pod, &self.ctx.eviction.conditions())
            {
                Some((crate::eviction::REASON, m))
            } else if super::admission::host_port_conflict(
                pod,
                self.ctx.known_pods().iter().map(|p| &**p),
            ) {
                Some((
                    super::admission::REASON,
                    super::admission::MESSAGE.to_string(),
                ))
            } else {
                super::admission::forbidden_sysctl(
                    pod,
                    &self.ctx.config.file.allowed_unsafe_sysctls,
                )
                .map(|m| (super::admission::SYSCTL_REASON, m))
            };
            match rejected {
                Some((reason, message)) => {
                    self.ctx.event(pod, "Warning", reason, message.clone());
                    self.failed = Some((reason.into(), message));
                }
                None => {
                    self.admitted = true;
                    self.trace(Step::Admitted, None);
                }
            }
        }
        if self.failed.is_some() {
            self.write_status(pod, None, false).await?;
            return Ok(Outcome::Continue);
        }

        // Sandbox and network, and the volumes beside them: a volume
        // waits for neither (its API round trips and file writes overlap
        // the network setup), unless it shows the pod's IP.
        let early_volumes = (!crate::volumes::needs_pod_ip(pod)).then(|| {
            let (ctx, uid, pod) = (self.ctx.clone(), self.uid.clone(), pod.clone());
            let since = self.registered;
            async move { prepare_volumes(&ctx, &uid, &pod, "", since).await }
        });
        let (sandbox, early_volumes) = match early_volumes {
            Some(volumes) => {
                let (sandbox, volumes) = tokio::join!(self.ensure_sandbox(pod), volumes);
                (sandbox, Some(volumes))
            }
            None => (self.ensure_sandbox(pod).await, None),
        };
        let (sandbox, pod_ip) = match sandbox {
            Ok(v) => v,
            Err(e) => {
                self.ctx.event(
                    pod,
                    "Warning",
                    "FailedCreatePodSandBox",
                    format!("Failed to create pod sandbox: {e}"),
                );
                self.write_status(pod, None, false).await?;
                return Err(e);
            }
        };
        let prepared = match early_volumes {
            Some(v) => v,
            None => prepare_volumes(&self.ctx, &self.uid, pod, &pod_ip, self.registered).await,
        };
        let volumes = match prepared {
            Ok(v) => v,
            Err(e) => {
                self.ctx.event(pod, "Warning", "FailedMount", e.to_string());
                self.write_status(pod, Some(pod_ip), true).await?;
                return Ok(Outcome::Continue);
            }
        };

        // In-place resize: containers run with the allocated resources.
        let spec = self.resize.sync(&self.ctx, pod, &self.uid).await;
        let all = self.containers().await;
        let restart_policy = spec
            .restart_policy
            .clone()
            .unwrap_or_else(|| "Always".into());

        // Init containers, one at a time. A sidecar (an init container with
        // `restartPolicy: Always`) lets the next one start once it has
        // started, and keeps running (restarted whenever it exits) beside
        // the app containers. Once an app container was created the pod is
        // initialized for good: an exiting sidecar no longer holds it back.
        let initialized = spec
            .containers
            .iter()
            .any(|c| Self::attempts(&all, &c.name).0.is_some());
        // Every app container finished for good: the sidecars are stopped
        // (and not restarted) so the pod can complete.
        let apps_done = !spec.containers.is_empty()
            && spec.containers.iter().all(|c| {
                Self::attempts(&all, &c.name).0.is_some_and(|x| {
                    matches!(x.state.status, Status::Exited | Status::Unknown)
                        && match restart_policy.as_str() {
                            "Never" => true,
                            "OnFailure" => x.state.exit_code == 0,
                            _ => false,
                        }
                })
            });
        let mut init_done = true;
        for c in spec.init_containers.iter().flatten() {
            let (cur, _) = Self::attempts(&all, &c.name);
            if is_sidecar(c) && apps_done {
                if let Some(x) = cur.filter(|x| x.state.status == Status::Running) {
                    let grace = spec.termination_grace_period_seconds.unwrap_or(30).max(0) as u64;
                    let rt = self.ctx.runtime.clone();
                    let id = x.spec.id.clone();
                    let _ =
                        blocking(move || rt.stop_container(&id, Duration::from_secs(grace))).await;
                }
                self.waiting.remove(&c.name);
                continue;
            }
            if is_sidecar(c) {
                match cur.as_ref().map(|x| x.state.status) {
                    Some(Status::Running) => {
                        self.waiting.remove(&c.name);
                        if let Some(info) = cur.as_ref() {
                            self.probe(pod, c, info, &pod_ip).await;
                        }
                        if self.prober.started(c) || initialized {
                            continue;
                        }
                    }
                    Some(Status::Created) => {}
                    _ => {
                        self.start_or_back_off(pod, c, cur.as_ref(), &sandbox, &pod_ip, &volumes)
                            .await;
                        if initialized {
                            continue;
                        }
                    }
                }
                init_done = false;
                break;
            }
            match cur.as_ref().map(|c| (c.state.status, c.state.exit_code)) {
                Some((Status::Exited, 0)) => continue,
                Some((Status::Running, _)) | Some((Status::Created, _)) => {
                    init_done = false;
                    break;
                }
                Some((_, _)) if restart_policy == "Never" => {
                    self.failed =
                        Some(("Failed".into(), format!("Init container {} failed", c.name)));
                    init_done = false;
                    break;
                }
                _ => {
                    init_done = false;
                    self.start_or_back_off(pod, c, cur.as_ref(), &sandbox, &pod_ip, &volumes)
                        .await;
                    break;
                }
            }
        }

        // App containers.
        if init_done {
            for c in &spec.containers {
                let (cur, _) = Self::attempts(&all, &c.name);
                match cur.as_ref().map(|x| x.state.status) {
                    Some(Status::Running) => {
                        self.waiting.remove(&c.name);
                        if let Some(info) = cur.as_ref() {
                            self.probe(pod, c, info, &pod_ip).await;
                        }
                    }
                    Some(Status::Created) => {}
                    Some(Status::Exited) | Some(Status::Unknown) => {
                        let code = cur.as_ref().map(|x| x.state.exit_code).unwrap_or(0);
                        let restart = match restart_policy.as_str() {
                            "Never" => false,
                            "OnFailure" => code != 0,
                            _ => true,
                        };
                        if restart {
                            self.start_or_back_off(
                                pod,
                                c,
                                cur.as_ref(),
                                &sandbox,
                                &pod_ip,
                                &volumes,
                            )
                            .await;
                        } else {
                            self.waiting.remove(&c.name);
                        }
                    }
                    // Never started (or its config/image failed before):
                    // start_or_back_off applies the back-off either way.
                    None => {
                        self.start_or_back_off(pod, c, None, &sandbox, &pod_ip, &volumes)
                            .await
                    }
                }
            }
            // Ephemeral containers (`kubectl debug`): started once, never
            // restarted.
            for c in ephemeral_containers(&spec) {
                if Self::attempts(&all, &c.name).0.is_none() {
                    self.start_or_back_off(pod, &c, None, &sandbox, &pod_ip, &volumes)
                        .await;
                }
            }
        } else {
            for c in &spec.containers {
                self.waiting.insert(
                    c.name.clone(),
                    Waiting {
                        reason: "PodInitializing".into(),
                        message: None,
                    },
                );
            }
        }
        self.write_status(pod, Some(pod_ip), true).await?;
        Ok(Outcome::Continue)
    }

    /// The sandbox (new or found again) and the pod IP.
    async fn ensure_sandbox(&mut self, pod: &Pod) -> Result<(PodSandbox, String), super::Error> {
        let spec = pod.spec.clone().unwrap_or_default();
        let host_network = spec.host_network.unwrap_or(false);
        let existing = self.sandboxes().await;
        if let Some(sb) = existing
            .iter()
            .rev()
            .find(|s| s.state == PodSandboxState::Ready)
        {
            let ip = if host_network {
                Some(self.ctx.node_ip.clone())
            } else {
                self.ctx.network_ip(&sb.id)
            };
            if let Some(ip) = ip {
                return Ok((sb.clone(), ip));
            }
        }
        // A dead sandbox (its namespaces gone after a reboot) is replaced,
        // and with it every container: they shared its namespaces.
        for old in existing {
            self.ctx.event(
                pod,
                "Normal",
                "SandboxChanged",
                "Pod sandbox changed, it will be killed and re-created.".into(),
            );
            let me = self.ctx.clone();
            let uid = self.uid.clone();
            let id = old.id.clone();
            me.teardown_sandbox(&uid, &id, pod).await;
        }
        let cfg = container_config::pod_sandbox_config(pod, &self.uid, &self.ctx.config.node_name);
        let rt = self.ctx.runtime.clone();
        let id = blocking(move || rt.run_pod_sandbox(cfg)).await?;
        let rt = self.ctx.runtime.clone();
        let sid = id.clone();
        let sb = blocking(move || rt.pod_sandbox_status(&sid)).await?;
        self.trace(Step::Sandbox, None);
        let ip = if host_network {
            self.ctx.node_ip.clone()
        } else {
            match self.ctx.setup_network(pod, &sb).await {
                Ok(ip) => ip,
                Err(e) => {
                    let rt = self.ctx.runtime.clone();
                    let _ = blocking(move || {
                        let _ = rt.stop_pod_sandbox(&id, Duration::from_secs(0));
                        rt.remove_pod_sandbox(&id)
                    })
                    .await;
                    return Err(e);
                }
            }
        };
        self.trace(Step::Network, None);
        self.ctx.write_pod_files(pod, &sb, &ip)?;
        Ok((sb, ip))
    }

    /// Starts container `c` unless it must wait (back-off, pull back-off).
    async fn start_or_back_off(
        &mut self,
        pod: &Pod,
        c: &Container,
        cur: Option<&ContainerInfo>,
        sandbox: &PodSandbox,
        pod_ip: &str,
        volumes: &std::collections::BTreeMap<String, PathBuf>,
    ) {
        let now = k8s_openapi::jiff::Timestamp::now().as_millisecond();
        if let Some(prev) =
            cur.filter(|p| matches!(p.state.status, Status::Exited | Status::Unknown))
        {
            let ts = |s: &str| {
                s.parse::<k8s_openapi::jiff::Timestamp>()
                    .map(|t| t.as_millisecond())
                    .unwrap_or(0)
            };
            let finished = ts(&prev.state.finished_at);
            let ran = Duration::from_millis((finished - ts(&prev.state.started_at)).max(0) as u64);
            if let Some(left) = self.backoff.remaining(&c.name, finished, ran, now) {
                let delay = self.backoff.current(&c.name);
                let msg = format!(
                    "back-off {}s restarting failed container={} pod={}_{}({})",
                    delay.as_secs(),
                    c.name,
                    pod.metadata.name.as_deref().unwrap_or(""),
                    pod.metadata.namespace.as_deref().unwrap_or(""),
                    self.uid
                );
                if self.waiting.get(&c.name).map(|w| w.reason.as_str()) != Some("CrashLoopBackOff")
                {
                    self.ctx.event(
                        pod,
                        "Warning",
                        "BackOff",
                        format!(
                            "Back-off restarting failed container {} in pod {}",
                            c.name,
                            key(pod)
                        ),
                    );
                }
                let _ = left;
                self.waiting.insert(
                    c.name.clone(),
                    Waiting {
                        reason: "CrashLoopBackOff".into(),
                        message: Some(msg),
                    },
                );
                return;
            }
        }
        let attempt = cur.map(|p| p.spec.config.attempt + 1).unwrap_or(0);
        match self.start(pod, c, attempt, sandbox, pod_ip, volumes).await {
            Ok(()) => {
                if cur.is_some() {
                    self.backoff.restarted(&c.name);
                }
                self.waiting.remove(&c.name);
                self.prober.reset(&c.name);
                // Keep one finished attempt for `logs --previous`.
                let me = self.ctx.clone();
                let uid = self.uid.clone();
                let name = c.name.clone();
                blocking(move || {
                    let mut olds: Vec<ContainerInfo> = pod_containers(me.runtime.as_ref(), &uid)
                        .into_iter()
                        .filter(|x| x.spec.config.name == name)
                        .collect();
                    olds.sort_by_key(|x| x.spec.config.attempt);
                    olds.pop();
                    olds.pop();
                    for o in olds {
                        let _ = me.runtime.remove_container(&o.spec.id);
                    }
                })
                .await;
            }
            Err(w) => {
                self.waiting.insert(c.name.clone(), w);
            }
        }
    }

    async fn start(
        &mut self,
        pod: &Pod,
        c: &Container,
        attempt: u32,
        sandbox: &PodSandbox,
        pod_ip: &str,
        volumes: &std::collections::BTreeMap<String, PathBuf>,
    ) -> Result<(), Waiting> {
        let last = self.waiting.get(&c.name).map(|w| w.reason.clone());
        self.images
            .ensure_image_exists(&self.ctx, pod, c, last.as_deref())
            .await?;
        // The images of the image volumes it mounts, each by its volume's
        // pull policy, with the same events and back-off.
        for v in image_volumes_of(pod, c) {
            self.images
                .ensure_image_exists(&self.ctx, pod, &v, last.as_deref())
                .await?;
        }
        self.trace(Step::Image, Some(&c.name));
        // Environment, command and args. The Service variables need the
        // Services listed once (right after the kubelet starts they may not
        // be yet): wait a little, then fail as upstream does rather than
        // start a container with some of them missing.
        let listed = self.ctx.services.synced()
            || tokio::time::timeout(
                std::time::Duration::from_secs(10),
                self.ctx.services.ready(),
            )
            .await
            .unwrap_or(false);
        if !listed {
            return Err(Waiting {
                reason: "CreateContainerConfigError".into(),
                message: Some(
                    "services have not yet been read at least once, cannot construct envvars"
                        .into(),
                ),
            });
        }
        let services = self.ctx.services.services.state();
        let service_env = super::service_env::for_pod(&services, pod);
        let ectx = env::Context {
            client: &self.ctx.client,
            pod,
            pod_ip,
            host_ip: &self.ctx.node_ip,
            node_milli_cpu: crate::node::machine::cpus() as i64 * 1000,
            node_memory: crate::node::machine::memory_total() as i64,
            service_env: &service_env,
        };
        let envs = match env::build(&ectx, c).await {
            Ok(e) => e,
            Err(e) => {
                self.ctx
                    .event(pod, "Warning", "Failed", format!("Error: {e}"));
                return Err(Waiting {
                    reason: "CreateContainerConfigError".into(),
                    message: Some(e.to_string()),
                });
            }
        };
        // The runtime's config: a pure translation of the spec.
        let log =
            termination_message::host_path(&self.ctx.config.root_dir, &self.uid, &c.name, attempt);
        if let Err(e) = termination_message::prepare(&log) {
            return Err(Waiting {
                reason: "CreateContainerConfigError".into(),
                message: Some(format!("creating {}: {e}", log.display())),
            });
        }
        let generated =
            container_config::generate(pod, &self.uid, c, attempt, envs, volumes, Some(log))
                .map_err(|e| Waiting {
                    reason: "CreateContainerConfigError".into(),
                    message: Some(e.to_string()),
                })?;
        for dir in &generated.sub_paths {
            if !dir.exists() {
                let _ = std::fs::create_dir_all(dir);
            }
        }
        let mut config = generated.config;
        // An ephemeral container aimed at another container shares its
        // process namespace (to debug it).
        let target = pod
            .spec
            .iter()
            .flat_map(|s| s.ephemeral_containers.iter().flatten())
            .find(|e| e.name == c.name)
            .and_then(|e| e.target_container_name.clone());
        if let Some(target) = target {
            let me = self.ctx.clone();
            let uid = self.uid.clone();
            config.target_container_id = blocking(move || {
                pod_containers(me.runtime.as_ref(), &uid)
                    .into_iter()
                    .find(|x| x.spec.config.name == target && x.state.status == Status::Running)
                    .map(|x| x.spec.id)
            })
            .await;
        }
        let rt = self.ctx.runtime.clone();
        let sid = sandbox.id.clone();
        let created = blocking(move || rt.create_container(&sid, config)).await;
        let id = match created {
            Ok(id) => id,
            Err(e) => {
                self.ctx
                    .event(pod, "Warning", "Failed", format!("Error: {e}"));
                return Err(Waiting {
                    reason: "CreateContainerError".into(),
                    message: Some(e.to_string()),
                });
            }
        };
        self.trace(Step::Created, Some(&c.name));
        self.ctx.event(
            pod,
            "Normal",
            "Created",
            format!("Created container: {}", c.name),
        );
        let rt = self.ctx.runtime.clone();
        let cid = id.clone();
        if let Err(e) = blocking(move || rt.start_container(&cid)).await {
            self.ctx
                .event(pod, "Warning", "Failed", format!("Error: {e}"));
            return Err(Waiting {
                reason: "RunContainerError".into(),
                message: Some(e.to_string()),
            });
        }
        self.trace(Step::Started, Some(&c.name));
        self.ctx.event(
            pod,
            "Normal",
            "Started",
            format!("Started container {}", c.name),
        );
        if let Some(h) = c.lifecycle.as_ref().and_then(|l| l.post_start.as_ref()) {
            if let Err(msg) = probes::run_handler(&self.ctx, &id, h, pod_ip, None).await {
                self.ctx
                    .event(pod, "Warning", "FailedPostStartHook", msg.clone());
                let rt = self.ctx.runtime.clone();
                let _ = blocking(move || rt.stop_container(&id, Duration::from_secs(2))).await;
                return Err(Waiting {
                    reason: "PostStartHookError".into(),
                    message: Some(msg),
                });
            }
        }
        Ok(())
    }

    /// Runs the container's probes that are due; a failed liveness or
    /// startup probe kills the container (the next sync restarts it).
    async fn probe(&mut self, pod: &Pod, c: &Container, info: &ContainerInfo, pod_ip: &str) {
        let started_at = info
            .state
            .started_at
            .parse::<k8s_openapi::jiff::Timestamp>()
            .map(|t| t.as_millisecond())
            .unwrap_or(0);
        let results = self
            .prober
            .run_due(&self.ctx, c, &info.spec.id, started_at, pod_ip)
            .await;
        for (kind, failure) in results {
            let what = match kind {
                ProbeKind::Liveness => "Liveness",
                ProbeKind::Readiness => "Readiness",
                ProbeKind::Startup => "Startup",
            };
            if let Some(msg) = &failure.message {
                self.ctx.event(
                    pod,
                    "Warning",
                    "Unhealthy",
                    format!("{what} probe failed: {msg}"),
                );
            }
            if failure.kill {
                self.ctx.event(
                    pod,
                    "Normal",
                    "Killing",
                    format!(
                        "Container {} failed {} probe, will be restarted",
                        c.name,
                        what.to_lowercase()
                    ),
                );
                let grace = failure
                    .grace_seconds
                    .or_else(|| {
                        pod.spec
                            .as_ref()
                            .and_then(|s| s.termination_grace_period_seconds)
                    })
                    .unwrap_or(30)
                    .max(0) as u64;
                let rt = self.ctx.runtime.clone();
                let id = info.spec.id.clone();
                let _ = blocking(move || rt.stop_container(&id, Duration::from_secs(grace))).await;
            }
        }
    }

    async fn write_status(
        &mut self,
        pod: &Pod,
        pod_ip: Option<String>,
        sandbox_ready: bool,
    ) -> Result<(), super::Error> {
        let spec = pod.spec.clone().unwrap_or_default();
        let all = self.containers().await;
        self.messages.retain(&all);
        let messages = &mut self.messages;
        let mut view = |c: &Container, is_init: bool| -> ContainerView {
            let (mut cur, mut prev) = Self::attempts(&all, &c.name);
            for info in cur.iter_mut().chain(prev.iter_mut()) {
                messages.enrich(c, info);
            }
            let running = cur
                .as_ref()
                .is_some_and(|x| x.state.status == Status::Running);
            let image_id = cur
                .as_ref()
                .map(|x| x.spec.image_id.clone())
                .unwrap_or_default();
            let waiting = self.waiting.get(&c.name).cloned().filter(|_| !running);
            let sidecar = is_init && is_sidecar(c);
            ContainerView {
                name: c.name.clone(),
                image: c.image.clone().unwrap_or_default(),
                current: cur,
                previous: prev,
                waiting,
                sidecar,
                ready: (!is_init || sidecar) && running && self.prober.ready(c),
                started: running && self.prober.started(c),
                image_id,
            }
        };
        let init: Vec<ContainerView> = spec
            .init_containers
            .iter()
            .flatten()
            .map(|c| view(c, true))
            .collect();
        let app: Vec<ContainerView> = spec.containers.iter().map(|c| view(c, false)).collect();
        let ephemeral: Vec<ContainerView> = ephemeral_containers(&spec)
            .iter()
            .map(|c| ContainerView {
                ready: false,
                ..view(c, false)
            })
            .collect();
        let inputs = Inputs {
            old: pod.status.as_ref(),
            init: &init,
            app: &app,
            ephemeral: &ephemeral,
            restart_policy: spec.restart_policy.as_deref().unwrap_or("Always"),
            pod_ip,
            host_ip: Some(self.ctx.node_ip.clone()),
            sandbox_ready,
            failed: self.failed.clone(),
            terminal: self.terminal,
            qos: container_config::qos_name(container_config::qos(pod)),
            generation: pod.metadata.generation,
        };
        let mut new = status::compute(&inputs);
        self.resize.decorate(&mut new, &spec, &all);
        if let Some(message) = &self.evicted {
            status::set_disruption_target(
                &mut new,
                crate::eviction::DISRUPTION_REASON,
                message,
                pod.metadata.generation,
            );
        }
        let unchanged = self
            .last_status
            .as_ref()
            .is_some_and(|s| status::same(s, &new))
            || pod.status.as_ref().is_some_and(|s| status::same(s, &new));
        if unchanged {
            self.trace_status(&new);
            return Ok(());
        }
        let api: Api<Pod> = Api::namespaced(
            self.ctx.client.clone(),
            pod.metadata.namespace.as_deref().unwrap_or(""),
        );
        let name = pod.metadata.name.clone().unwrap_or_default();
        let patch = serde_json::json!({"status": new});
        match api
            .patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => {
                self.trace_status(&new);
                self.last_status = Some(new);
                Ok(())
            }
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
            Err(e) => Err(super::Error::Api {
                what: format!("writing status of {}", key(pod)),
                source: e,
            }),
        }
    }

    /// Stops every container of the pod, in upstream's order: the app
    /// containers together (each: its preStop hook, then the signal and
    /// what is left of the grace period), then the sidecars (init
    /// containers with `restartPolicy: Always`) one by one in reverse
    /// order, with what is left of the pod's grace period. A sidecar thus
    /// still serves while the app containers' hooks run (a preStop hook
    /// may well go through it, as the lifecycle hook conformance specs'
    /// do).
    async fn stop_all(&mut self, pod: &Pod, grace: Duration) {
        let spec = pod.spec.as_ref();
        let sidecars: Vec<&str> = spec
            .and_then(|s| s.init_containers.as_ref())
            .into_iter()
            .flatten()
            .filter(|c| c.restart_policy.as_deref() == Some("Always"))
            .map(|c| c.name.as_str())
            .collect();
        let sidecar_index = |c: &ContainerInfo| {
            sidecars
                .iter()
                .position(|s| *s == c.spec.config.name.as_str())
        };
        let (mut side, apps): (Vec<ContainerInfo>, Vec<ContainerInfo>) = self
            .containers()
            .await
            .into_iter()
            .filter(|c| c.state.status == Status::Running)
            .partition(|c| sidecar_index(c).is_some());
        let start = Instant::now();
        self.stop_together(pod, apps, grace).await;
        side.sort_by_key(|c| std::cmp::Reverse(sidecar_index(c)));
        for sidecar in side {
            // Like every container, at least 2 s unless the pod is being
            // killed at once.
            let left = if grace.is_zero() {
                grace
            } else {
                grace
                    .saturating_sub(start.elapsed())
                    .max(Duration::from_secs(2))
            };
            self.stop_together(pod, vec![sidecar], left).await;
        }
    }

    /// Stops `containers` at the same time (each: its preStop hook, app
    /// container or sidecar, then the signal) and waits for all of them.
    async fn stop_together(&self, pod: &Pod, containers: Vec<ContainerInfo>, grace: Duration) {
        let spec = pod.spec.as_ref();
        let pre_stop = |name: &str| {
            spec.into_iter()
                .flat_map(|s| {
                    s.containers
                        .iter()
                        .chain(s.init_containers.iter().flatten())
                })
                .find(|x| x.name == name)
                .and_then(|x| x.lifecycle.as_ref())
                .and_then(|l| l.pre_stop.clone())
        };
        let mut tasks = Vec::new();
        for c in containers {
            let name = c.spec.config.name.clone();
            let hook = pre_stop(&name);
            self.ctx.event(
                pod,
                "Normal",
                "Killing",
                format!("Stopping container {name}"),
            );
            let ctx = self.ctx.clone();
            let ip = ctx.network_ip(&c.spec.sandbox_id).unwrap_or_default();
            tasks.push(tokio::spawn(async move {
                let start = Instant::now();
                if let Some(h) = hook {
                    let _ = tokio::time::timeout(
                        grace,
                        probes::run_handler(&ctx, &c.spec.id, &h, &ip, Some(grace)),
                    )
                    .await;
                }
                let left = grace
                    .saturating_sub(start.elapsed())
                    .max(Duration::from_secs(if grace.is_zero() { 0 } else { 2 }));
                let rt = ctx.runtime.clone();
                let id = c.spec.id.clone();
                let _ = blocking(move || rt.stop_container(&id, left)).await;
            }));
        }
        for t in tasks {
            let _ = t.await;
        }
    }

    /// Stops and removes everything of the pod on this node.
    async fn teardown(&mut self, pod: Option<&Pod>, grace: Duration) {
        if let Some(pod) = pod {
            self.stop_all(pod, grace).await;
        }
        let sandboxes: Vec<String> = {
            let me = self.ctx.clone();
            let uid = self.uid.clone();
            blocking(move || {
                pod_sandboxes(me.runtime.as_ref(), &uid)
                    .into_iter()
                    .map(|s| s.id)
                    .collect()
            })
            .await
        };
        let empty = Pod::default();
        for id in sandboxes {
            self.ctx
                .teardown_sandbox(&self.uid, &id, pod.unwrap_or(&empty))
                .await;
        }
        self.ctx.tokens.forget_pod(&self.uid);
        let root = self.ctx.config.root_dir.clone();
        let uid = self.uid.clone();
        if let Err(e) = blocking(move || crate::volumes::teardown(&root, &uid)).await {
            tracing::warn!(uid = %self.uid, error = %e, "removing pod volumes failed");
        }
    }

    async fn final_delete(&self, pod: &Pod) -> Result<(), super::Error> {
        let api: Api<Pod> = Api::namespaced(
            self.ctx.client.clone(),
            pod.metadata.namespace.as_deref().unwrap_or(""),
        );
        let name = pod.metadata.name.clone().unwrap_or_default();
        let dp = DeleteParams {
            grace_period_seconds: Some(0),
            preconditions: Some(Preconditions {
                uid: Some(self.uid.clone()),
                resource_version: None,
            }),
            ..Default::default()
        };
        match api.delete(&name, &dp).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => Ok(()),
            Err(e) => Err(super::Error::Api {
                what: format!("deleting {}", key(pod)),
                source: e,
            }),
        }
    }
}

/// Sets up (or refreshes) the volumes of `pod` (uid `uid`) showing
/// `pod_ip`, and records the startup trace's `volumes` step once they are.
async fn prepare_volumes(
    ctx: &Context,
    uid: &str,
    pod: &Pod,
    pod_ip: &str,
    registered: std::time::Instant,
) -> Result<std::collections::BTreeMap<String, PathBuf>, crate::volumes::Error> {
    let prepared = crate::volumes::prepare(
        &ctx.client,
        &ctx.tokens,
        ctx.objects.for_pod(registered),
        &ctx.config.root_dir,
        pod,
        pod_ip,
        &ctx.node_ip,
    )
    .await;
    if prepared.is_ok() {
        ctx.startup.record(uid, Step::Volumes, None);
    }
    prepared
}
