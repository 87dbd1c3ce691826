//! Containers: create (resolve the spec, prepare rootfs directories and the
//! cgroup), start (hand it to a monitor), stop (signal, grace period, SIGKILL),
//! remove (cgroup, upper dir, state), and the read side (status, list, stats).

pub mod init;
pub mod mounts;
pub mod process;
pub mod spec;
pub mod user;

use super::cgroups::Stats;
use super::sandbox::PodSandboxState;
use super::state::{self, write_json, ContainerState, Status};
use super::{io_err, rootfs, Error, Result, Runtime};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use spec::{ContainerConfig, ContainerSpec, PidMode};

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Which containers a listing returns (CRI's `ContainerFilter`): all of
/// them by default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerFilter {
    /// Only the containers of this sandbox.
    pub pod_sandbox_id: Option<String>,
    /// Only containers carrying every one of these labels.
    pub label_selector: std::collections::BTreeMap<String, String>,
}

impl ContainerFilter {
    /// The containers labelled `key=value`.
    pub fn label(key: &str, value: &str) -> ContainerFilter {
        ContainerFilter {
            label_selector: [(key.to_string(), value.to_string())].into(),
            ..ContainerFilter::default()
        }
    }

    fn matches(&self, spec: &ContainerSpec) -> bool {
        self.pod_sandbox_id
            .as_ref()
            .is_none_or(|id| *id == spec.sandbox_id)
            && self
                .label_selector
                .iter()
                .all(|(k, v)| spec.config.labels.get(k) == Some(v))
    }
}

/// A container as listed: its spec and its current state.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerInfo {
    /// The resolved spec.
    pub spec: ContainerSpec,
    /// The state, checked against the processes.
    pub state: ContainerState,
}

/// Sleeps until the process `pid` (started at `start`) exits or `timeout`
/// passes. A pidfd makes this exact: it becomes readable when the process
/// exits, whether or not it is our child. Without one, sleeps a little.
fn wait_for_exit(pid: i32, start: u64, timeout: Duration) {
    let fd = rustix::process::Pid::from_raw(pid)
        .and_then(|p| rustix::process::pidfd_open(p, rustix::process::PidfdFlags::empty()).ok());
    match fd {
        // Opened, and still the same process (not a recycled pid).
        Some(fd) if state::alive(pid, start) => {
            readable_within(&fd, Some(timeout.max(Duration::from_millis(1))));
        }
        Some(_) => {}
        None => std::thread::sleep(timeout.min(Duration::from_millis(5))),
    }
}

/// Whether `fd` (a pipe: data or EOF; a pidfd: the process exited) becomes
/// readable within `timeout` (`None`: however long it takes).
fn readable_within(fd: &impl std::os::fd::AsFd, timeout: Option<Duration>) -> bool {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    let deadline = timeout.map(|t| Instant::now() + t);
    loop {
        let wait = match deadline {
            None => PollTimeout::NONE,
            Some(d) => PollTimeout::try_from(d.saturating_duration_since(Instant::now()))
                .unwrap_or(PollTimeout::MAX),
        };
        let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, wait) {
            Ok(n) if n > 0 => return true,
            Ok(_) => return false,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return true,
        }
    }
}

/// Parses a signal name (`SIGTERM`, `TERM`, `15`).
pub fn parse_signal(s: &str) -> Option<Signal> {
    if let Ok(n) = s.parse::<i32>() {
        return Signal::try_from(n).ok();
    }
    let up = s.to_ascii_uppercase();
    let name = if up.starts_with("SIG") {
        up
    } else {
        format!("SIG{up}")
    };
    name.parse().ok()
}

impl Runtime {
    fn container_dir(&self, id: &str) -> PathBuf {
        self.containers_dir().join(id)
    }

    /// Creates a container in a sandbox. The image must be present (see
    /// [`Runtime::ensure_image`]).
    pub fn create_container(&self, sandbox_id: &str, config: ContainerConfig) -> Result<String> {
        let sb = self.sandbox(sandbox_id)?;
        if sb.state != PodSandboxState::Ready {
            return Err(Error::State(format!("sandbox {} is not ready", sb.id)));
        }
        let image = self
            .images
            .get(&config.image)?
            .ok_or_else(|| Error::Image(super::images::Error::NotPresent(config.image.clone())))?;
        let id = super::new_id();
        let dir = self.container_dir(&id);
        let writable = self.writable_layer_dir(&id);
        let result = (|| {
            std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;
            rootfs::prepare(&writable, &dir)?;
            let img = &image.config;
            let args = spec::merge_args(config.command.as_deref(), config.args.as_deref(), img)?;
            let env = spec::merge_env(img, &config.env, &sb.hostname);
            let cwd = config
                .working_dir
                .clone()
                .filter(|w| !w.is_empty())
                .or_else(|| img.working_dir().clone().filter(|w| !w.is_empty()))
                .unwrap_or_else(|| "/".into());
            let mut join_namespaces = Vec::new();
            for kind in ["ipc", "uts", "net"] {
                if let Some(p) = sb.ns(kind) {
                    join_namespaces.push((kind.to_string(), p));
                }
            }
            let target_pid = match &config.target_container_id {
                Some(target) => {
                    let t = self.container(target)?;
                    if t.spec.sandbox_id != sb.id || t.state.status != Status::Running {
                        return Err(Error::State(format!(
                            "target container {target} is not running in sandbox {}",
                            sb.id
                        )));
                    }
                    Some(super::namespaces::ns_path(t.state.pid, "pid"))
                }
                None => None,
            };
            let pid_mode = if sb.config.host_pid {
                PidMode::Host
            } else if let Some(p) = target_pid.or_else(|| sb.ns("pid")) {
                PidMode::Join(p)
            } else {
                PidMode::New
            };
            let cgroup_path = format!("{}/{}", sb.cgroup_path, id);
            self.cgroups
                .create(&cgroup_path, &config.resources.to_cgroup())?;
            let sec = &config.security;
            let sdir = self.sandbox_dir_path(&sb.id);
            // The sandbox's /etc files, unless the container mounts its own
            // file there (as upstream's kubelet, the user's wins). A pod on
            // the host's network keeps the image's /etc/hostname (it shares
            // the node's UTS namespace) and gets the node's hosts file.
            let etc_names: &[&str] = if sb.config.host_network {
                &["hosts", "resolv.conf"]
            } else {
                &["hosts", "hostname", "resolv.conf"]
            };
            let etc_files: Vec<(PathBuf, String)> = etc_names
                .iter()
                .filter(|name| {
                    let target = Path::new("/etc").join(name);
                    !config.mounts.iter().any(|m| m.container_path == target)
                })
                .map(|name| (sdir.join(name), name.to_string()))
                .collect();
            let mut lower = image.lower();
            // Their mount points, so the container's root need not make them.
            let names: Vec<&str> = etc_files.iter().map(|(_, n)| n.as_str()).collect();
            match rootfs::mount_point_layer(&self.images.layers_dir(), &lower, &names) {
                Ok(Some(top)) => lower.insert(0, top),
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(container = %id, error = %e, "no mount-point layer; the container's root gets the mount points")
                }
            }
            let mut image_mounts = Vec::new();
            for m in &config.mounts {
                let Some(reference) = &m.image else { continue };
                let img = self.images.get(reference)?.ok_or_else(|| {
                    Error::Image(super::images::Error::NotPresent(reference.clone()))
                })?;
                image_mounts.push(spec::ImageMount {
                    container_path: m.container_path.clone(),
                    image_id: img.id.clone(),
                    lower: img.lower(),
                });
            }
            let spec = ContainerSpec {
                id: id.clone(),
                sandbox_id: sb.id.clone(),
                image_id: image.id.clone(),
                args,
                env,
                cwd,
                user: img.user().clone().unwrap_or_default(),
                lower,
                layers_dir: self.images.layers_dir(),
                dir: dir.clone(),
                writable_dir: writable.clone(),
                join_namespaces,
                pid_mode,
                hostname: sb.hostname.clone(),
                mount_template: self.mount_template_path(),
                etc_files,
                image_mounts,
                cgroup_procs: self.cgroups.procs_files(&cgroup_path),
                cgroup_mounts: self.cgroups.container_mounts(),
                cgroup_path,
                capabilities: spec::capabilities(sec)?,
                no_new_privs: sec.allow_privilege_escalation == Some(false) && !sec.privileged,
                log_path: sb
                    .log_dir
                    .join(&config.name)
                    .join(format!("{}.log", config.attempt)),
                log_max_size: self.cfg.container_log_max_size,
                log_max_files: self.cfg.container_log_max_files,
                config,
            };
            if spec.config.stdin {
                nix::unistd::mkfifo(
                    &dir.join("stdin"),
                    nix::sys::stat::Mode::from_bits_truncate(0o600),
                )
                .map_err(|e| Error::Io {
                    path: dir.join("stdin"),
                    source: e.into(),
                })?;
            }
            write_json(&dir.join("spec.json"), &spec).map_err(io_err(&dir))?;
            write_json(&dir.join("state.json"), &ContainerState::created())
                .map_err(io_err(&dir))?;
            let _ = self.images.touch(&image.id);
            Ok(())
        })();
        if let Err(e) = result {
            let _ = self.cgroups.remove(&format!("{}/{}", sb.cgroup_path, id));
            let _ = std::fs::remove_dir_all(&dir);
            let _ = std::fs::remove_dir_all(&writable);
            return Err(e);
        }
        Ok(id)
    }

    fn sandbox_dir_path(&self, id: &str) -> PathBuf {
        self.sandboxes_dir().join(id)
    }

    /// Starts a created container: spawns its monitor and waits until the
    /// container's command was exec'd (or failed to be).
    pub fn start_container(&self, id: &str) -> Result<()> {
        let info = self.container(id)?;
        let id = info.spec.id.clone();
        if info.state.status != Status::Created {
            return Err(Error::State(format!(
                "container {id} is {}, not Created",
                info.state.status
            )));
        }
        let dir = self.container_dir(&id);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("monitor.log"))
            .map_err(io_err(dir.join("monitor.log")))?;
        let (line, report) = self.launch_monitor(&dir, log)?;
        if line.starts_with("ok") {
            if let Ok(mut exits) = self.exits.lock() {
                exits.insert(id, report);
            }
            return Ok(());
        }
        let message = match line.strip_prefix("error: ") {
            Some(m) => m.to_string(),
            None => {
                let log = std::fs::read_to_string(dir.join("monitor.log")).unwrap_or_default();
                format!("monitor exited without reporting: {}", log.trim())
            }
        };
        Err(Error::StartFailed { id, message })
    }

    /// Waits for a running container to exit (up to `timeout`) and returns its state.
    pub fn wait_container(&self, id: &str, timeout: Option<Duration>) -> Result<ContainerState> {
        let info = self.container(id)?;
        let report = self
            .exits
            .lock()
            .ok()
            .and_then(|mut e| e.remove(&info.spec.id));
        let deadline = timeout.map(|t| Instant::now() + t);
        if let Some(report) = report {
            // A monitor we started: its report pipe's EOF says the exit is
            // recorded. (A monitor killed mid-way closes it too, before it
            // is gone: then wait for the process below.)
            if !readable_within(&report, timeout) {
                if let Ok(mut e) = self.exits.lock() {
                    e.insert(info.spec.id.clone(), report);
                }
                return Ok(self.container(id)?.state);
            }
            let st = self.container(id)?.state;
            if st.status != Status::Running {
                return Ok(st);
            }
        }
        loop {
            self.reap();
            let st = self.container(id)?.state;
            if matches!(
                st.status,
                Status::Exited | Status::Unknown | Status::Created
            ) {
                return Ok(st);
            }
            let mut slice = Duration::from_millis(100);
            if let Some(d) = deadline {
                let left = d.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Ok(st);
                }
                slice = slice.min(left);
            }
            wait_for_exit(st.monitor_pid, st.monitor_start, slice);
        }
    }

    /// Sends the stop signal (the image's STOPSIGNAL or SIGTERM), waits up to
    /// `grace`, then SIGKILLs.
    pub fn stop_container(&self, id: &str, grace: Duration) -> Result<ContainerState> {
        let info = self.container(id)?;
        if info.state.status != Status::Running {
            return Ok(info.state);
        }
        let pid = Pid::from_raw(info.state.pid);
        let image_signal = self
            .images
            .get(&info.spec.image_id)
            .ok()
            .flatten()
            .and_then(|i| i.config.stop_signal().clone())
            .and_then(|s| parse_signal(&s));
        let sig = image_signal.unwrap_or(Signal::SIGTERM);
        if !grace.is_zero() && state::alive(info.state.pid, info.state.pid_start) {
            tracing::info!(container = %info.spec.id, signal = %sig, "stopping");
            let _ = kill(pid, sig);
            let st = self.wait_container(&info.spec.id, Some(grace))?;
            if st.status != Status::Running {
                monitor_gone(&info.state);
                return Ok(st);
            }
        }
        if state::alive(info.state.pid, info.state.pid_start) {
            let _ = kill(pid, Signal::SIGKILL);
        }
        let st = self.wait_container(&info.spec.id, Some(Duration::from_secs(10)))?;
        monitor_gone(&info.state);
        Ok(st)
    }

    /// Changes the cpu and memory of a created or running container in
    /// place (CRI's `UpdateContainerResources`, what an in-place pod resize
    /// comes down to): writes the container's cgroup, then records the new
    /// values in its spec, so [`Runtime::container`] reports what is
    /// applied. A limit the new values leave out becomes unlimited; the
    /// pids limit stays.
    pub fn update_container_resources(
        &self,
        id: &str,
        resources: &spec::ResourceRequirements,
    ) -> Result<()> {
        let mut info = self.container(id)?;
        if matches!(info.state.status, Status::Exited | Status::Unknown) {
            return Err(Error::State(format!(
                "container {} is {}, its resources cannot change",
                info.spec.id, info.state.status
            )));
        }
        let mut res = resources.to_cgroup();
        res.cpu_quota_us.get_or_insert(-1);
        res.memory_limit_bytes.get_or_insert(-1);
        res.pids_limit = None;
        self.cgroups.apply(&info.spec.cgroup_path, &res)?;
        let pids_limit = info.spec.config.resources.pids_limit;
        info.spec.config.resources = spec::ResourceRequirements {
            pids_limit,
            ..resources.clone()
        };
        let dir = self.container_dir(&info.spec.id);
        write_json(&dir.join("spec.json"), &info.spec).map_err(io_err(dir.join("spec.json")))?;
        tracing::info!(container = %info.spec.id, ?resources, "resources updated");
        Ok(())
    }

    /// Removes a container: stops it if needed, deletes its cgroup, upper
    /// dir and state (its logs stay until the pod goes).
    pub fn remove_container(&self, id: &str) -> Result<()> {
        let info = self.container(id)?;
        if info.state.status == Status::Running {
            self.stop_container(&info.spec.id, Duration::ZERO)?;
        }
        if let Ok(mut e) = self.exits.lock() {
            e.remove(&info.spec.id);
        }
        self.cgroups.remove(&info.spec.cgroup_path)?;
        let writable = info.spec.writable();
        self.trash
            .throw(writable, &info.spec.id)
            .map_err(io_err(writable))?;
        // Already gone with the layer when both are one directory (the
        // records layout of an earlier runtime, `run_dir::records_root`).
        let dir = self.container_dir(&info.spec.id);
        match std::fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io_err(&dir)(e)),
            _ => {}
        }
        Ok(())
    }

    /// One container (by id or unique prefix) with its state checked against
    /// the processes: a `Running` container whose monitor is gone becomes
    /// `Unknown`.
    pub fn container(&self, id: &str) -> Result<ContainerInfo> {
        let id = Self::resolve_id(&self.containers_dir(), "container", id)?;
        let spec = self.container_spec(&id)?;
        self.container_with(spec)
    }

    /// The spec of the container `id` (a full id).
    fn container_spec(&self, id: &str) -> Result<Arc<ContainerSpec>> {
        self.specs
            .read(&self.container_dir(id).join("spec.json"))
            .map_err(|_| Error::NotFound {
                kind: "container",
                id: id.to_string(),
            })
    }

    fn container_with(&self, spec: Arc<ContainerSpec>) -> Result<ContainerInfo> {
        let path = self.container_dir(&spec.id).join("state.json");
        let mut st = ContainerState::clone(&*self.states.read(&path).map_err(io_err(&path))?);
        if st.status == Status::Running && !state::alive(st.monitor_pid, st.monitor_start) {
            // The monitor may have written the exit just now.
            match self.states.read(&path).ok() {
                Some(a) if a.status != Status::Running => st = ContainerState::clone(&*a),
                _ => {
                    st.status = Status::Unknown;
                    st.reason = "MonitorLost".into();
                    st.message =
                        "the container's monitor exited without recording an exit code".into();
                }
            }
        }
        Ok(ContainerInfo {
            spec: ContainerSpec::clone(&spec),
            state: st,
        })
    }

    /// Every container, oldest first.
    pub fn list_containers(&self) -> Result<Vec<ContainerInfo>> {
        self.list_containers_filtered(&ContainerFilter::default())
    }

    /// The containers `filter` selects, oldest first. Only their states are
    /// read and checked against the processes; the others cost a look at
    /// their (cached) spec.
    pub fn list_containers_filtered(&self, filter: &ContainerFilter) -> Result<Vec<ContainerInfo>> {
        let dir = self.containers_dir();
        let (selected, present) = self
            .specs
            .select_in(&dir, "spec.json", |spec| filter.matches(spec))
            .map_err(io_err(&dir))?;
        self.states.retain_ids(&present);
        let mut out: Vec<ContainerInfo> = selected
            .into_iter()
            .filter_map(|spec| self.container_with(spec).ok())
            .collect();
        out.sort_by(|a, b| a.state.created_at.cmp(&b.state.created_at));
        Ok(out)
    }

    /// CPU and memory usage from the container's cgroup.
    pub fn container_stats(&self, id: &str) -> Result<Stats> {
        let info = self.container(id)?;
        Ok(self.cgroups.stats(&info.spec.cgroup_path)?)
    }

    /// Path of the FIFO that feeds the container's stdin (`stdin: true`).
    pub fn stdin_path(&self, id: &str) -> Result<PathBuf> {
        let info = self.container(id)?;
        if !info.spec.config.stdin {
            return Err(Error::State(format!(
                "container {} was not created with stdin",
                info.spec.id
            )));
        }
        Ok(self.container_dir(&info.spec.id).join("stdin"))
    }

    /// Reads a container's log; `previous` reads the prior attempt's file.
    pub fn container_logs(
        &self,
        id: &str,
        previous: bool,
        opts: &super::logs::Options,
        out: &mut dyn FnMut(super::logs::Stream, &[u8]),
    ) -> Result<()> {
        let info = self.container(id)?;
        let mut path = info.spec.log_path.clone();
        if previous {
            let attempt = info.spec.config.attempt;
            if attempt == 0 {
                return Err(Error::State(format!(
                    "previous terminated container {:?} not found",
                    info.spec.config.name
                )));
            }
            path.set_file_name(format!("{}.log", attempt - 1));
        }
        let cid = info.spec.id.clone();
        let mut done = || {
            !previous
                && self
                    .container(&cid)
                    .map(|c| c.state.status != Status::Running)
                    .unwrap_or(true)
        };
        let mut done_prev = || true;
        let done_fn: &mut dyn FnMut() -> bool = if previous { &mut done_prev } else { &mut done };
        super::logs::read(&path, opts, done_fn, out).map_err(io_err(&path))
    }
}

/// Waits (briefly) for a stopped container's monitor to exit: it records the
/// exit and then closes the log, so a caller that goes on to remove the
/// container does not pull its files away while it still writes them.
fn monitor_gone(st: &ContainerState) {
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    while state::alive(st.monitor_pid, st.monitor_start) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(2));
    }
}
