//! `kubelet ctl ps | pods | run | exec | logs | stop | rm | rmp | inspect`.

use super::{table, CTL_POD_LABEL};
use anyhow::{anyhow, bail, Context};
use apimachinery::quantity;
use container_runtime::cgroups::Qos;
use container_runtime::container::spec::{
    ContainerConfig, Mount, Propagation, ResourceRequirements, SecurityContext,
};
use container_runtime::images::PullPolicy;
use container_runtime::logs::{self, Stream};
use container_runtime::sandbox::PodSandboxConfig;
use container_runtime::state::{self, Status};
use container_runtime::{Error, Runtime};
use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

/// `ps` flags.
#[derive(Debug, clap::Args)]
pub struct PsArgs {
    /// Show exited containers too.
    #[arg(short, long)]
    pub all: bool,
    /// Only print container ids.
    #[arg(short, long)]
    pub quiet: bool,
    /// Only containers of this pod sandbox (id or prefix).
    #[arg(long)]
    pub pod: Option<String>,
}

/// `pods` flags.
#[derive(Debug, clap::Args)]
pub struct PodsArgs {
    /// Only print sandbox ids.
    #[arg(short, long)]
    pub quiet: bool,
}

/// `run` flags.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Remove the container (and the pod made for it) when it exits.
    #[arg(long)]
    pub rm: bool,
    /// Print the container id and return instead of streaming its output.
    #[arg(short, long)]
    pub detach: bool,
    /// Container name (and pod name, when a pod is made); default `run-<random>`.
    #[arg(long)]
    pub name: Option<String>,
    /// Run in this existing pod sandbox (id or prefix) instead of a new one.
    #[arg(long)]
    pub pod: Option<String>,
    /// Pod hostname (default: the name).
    #[arg(long)]
    pub hostname: Option<String>,
    /// Environment variable `KEY=value` (repeatable).
    #[arg(short, long = "env")]
    pub env: Vec<String>,
    /// Working directory.
    #[arg(short, long)]
    pub workdir: Option<String>,
    /// `uid[:gid]` to run as.
    #[arg(short, long)]
    pub user: Option<String>,
    /// Memory limit (`64Mi`, `100M`, bytes).
    #[arg(short, long)]
    pub memory: Option<String>,
    /// CPU limit in CPUs (`0.5`, `500m`), kept as millicores.
    #[arg(long, value_parser = milli_cpus)]
    pub cpus: Option<u64>,
    /// CPU request in CPUs (cpu shares), kept as millicores.
    #[arg(long, value_parser = milli_cpus)]
    pub cpu_request: Option<u64>,
    /// Maximum number of processes.
    #[arg(long)]
    pub pids_limit: Option<i64>,
    /// Bind mount `HOST:CONTAINER[:ro]` (repeatable).
    #[arg(short, long = "volume")]
    pub volumes: Vec<String>,
    /// Use the host's network and UTS namespaces.
    #[arg(long)]
    pub host_network: bool,
    /// Use the host's pid namespace.
    #[arg(long)]
    pub host_pid: bool,
    /// Use the host's IPC namespace.
    #[arg(long)]
    pub host_ipc: bool,
    /// All capabilities and devices, no masked paths.
    #[arg(long)]
    pub privileged: bool,
    /// Mount the root filesystem read-only.
    #[arg(long)]
    pub read_only: bool,
    /// Add a capability (repeatable).
    #[arg(long)]
    pub cap_add: Vec<String>,
    /// Drop a capability (repeatable).
    #[arg(long)]
    pub cap_drop: Vec<String>,
    /// `Always`, `IfNotPresent` or `Never` (default: Kubernetes' rule).
    #[arg(long)]
    pub pull: Option<String>,
    /// The image.
    pub image: String,
    /// The command (replaces the image's ENTRYPOINT and CMD, like a pod's
    /// `command`); default: the image's.
    #[arg(last = true)]
    pub command: Vec<String>,
}

/// `exec` flags.
#[derive(Debug, clap::Args)]
pub struct ExecArgs {
    /// Allocate a terminal.
    #[arg(short, long)]
    pub tty: bool,
    /// Keep stdin open (always on: stdin is passed through).
    #[arg(short, long)]
    pub interactive: bool,
    /// Container (id, prefix or name).
    pub container: String,
    /// The command.
    #[arg(last = true, required = true)]
    pub command: Vec<String>,
}

/// `logs` flags.
#[derive(Debug, clap::Args)]
pub struct LogsArgs {
    /// Keep printing new lines until the container exits.
    #[arg(short, long)]
    pub follow: bool,
    /// Only the last N lines.
    #[arg(long)]
    pub tail: Option<usize>,
    /// Only lines newer than a duration (`10s`, `5m`, `1h`) or an RFC 3339 time.
    #[arg(long)]
    pub since: Option<String>,
    /// The previous attempt's log.
    #[arg(short, long)]
    pub previous: bool,
    /// Prefix each line with its time.
    #[arg(short, long)]
    pub timestamps: bool,
    /// Container (id, prefix or name).
    pub container: String,
}

/// `stop` flags.
#[derive(Debug, clap::Args)]
pub struct StopArgs {
    /// Seconds to wait after the stop signal before SIGKILL.
    #[arg(short, long, default_value_t = 10)]
    pub timeout: u64,
    /// Containers.
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// `rm` flags.
#[derive(Debug, clap::Args)]
pub struct RmArgs {
    /// Kill running containers first.
    #[arg(short, long)]
    pub force: bool,
    /// Containers.
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// `rmp` flags.
#[derive(Debug, clap::Args)]
pub struct RmpArgs {
    /// Pod sandboxes (id or prefix).
    #[arg(required = true)]
    pub pods: Vec<String>,
}

/// `inspect` flags.
#[derive(Debug, clap::Args)]
pub struct InspectArgs {
    /// Container, pod sandbox or image.
    pub id: String,
}

/// Finds a container by id, id prefix or (unique) name.
fn find_container(rt: &Runtime, key: &str) -> anyhow::Result<String> {
    match rt.container(key) {
        Ok(c) => return Ok(c.spec.id),
        Err(Error::NotFound { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    let named: Vec<_> = rt
        .list_containers()?
        .into_iter()
        .filter(|c| c.spec.config.name == key)
        .collect();
    match named.as_slice() {
        [one] => Ok(one.spec.id.clone()),
        [] => bail!("container {key:?} not found"),
        _ => bail!("several containers are named {key:?}; use an id"),
    }
}

fn status_text(st: &state::ContainerState) -> String {
    match st.status {
        Status::Exited if !st.reason.is_empty() => {
            format!("Exited ({}, {})", st.exit_code, st.reason)
        }
        Status::Exited => format!("Exited ({})", st.exit_code),
        s => s.to_string(),
    }
}

pub(super) fn ps(rt: &Runtime, a: &PsArgs) -> anyhow::Result<i32> {
    let pods: HashMap<String, String> = rt
        .list_sandboxes()?
        .into_iter()
        .map(|s| (s.id, s.config.name))
        .collect();
    let pod_filter = a
        .pod
        .as_deref()
        .map(|p| rt.sandbox(p).map(|s| s.id))
        .transpose()?;
    let list: Vec<_> = rt
        .list_containers()?
        .into_iter()
        .filter(|c| a.all || c.state.status == Status::Running)
        .filter(|c| pod_filter.as_ref().is_none_or(|p| *p == c.spec.sandbox_id))
        .collect();
    if a.quiet {
        for c in &list {
            outln!("{}", c.spec.id);
        }
        return Ok(0);
    }
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|c| {
            vec![
                table::short(&c.spec.id).to_string(),
                c.spec.config.image.clone(),
                table::age(&c.state.created_at),
                status_text(&c.state),
                c.spec.config.name.clone(),
                c.spec.config.attempt.to_string(),
                table::short(&c.spec.sandbox_id).to_string(),
                pods.get(&c.spec.sandbox_id).cloned().unwrap_or_default(),
            ]
        })
        .collect();
    out!(
        "{}",
        table::render(
            &[
                "CONTAINER",
                "IMAGE",
                "CREATED",
                "STATE",
                "NAME",
                "ATTEMPT",
                "POD ID",
                "POD"
            ],
            &rows
        )
    );
    Ok(0)
}

pub(super) fn pods(rt: &Runtime, a: &PodsArgs) -> anyhow::Result<i32> {
    let list = rt.list_sandboxes()?;
    if a.quiet {
        for s in &list {
            outln!("{}", s.id);
        }
        return Ok(0);
    }
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|s| {
            vec![
                table::short(&s.id).to_string(),
                table::age(&s.created_at),
                format!("{:?}", s.state),
                s.config.name.clone(),
                s.config.namespace.clone(),
                match (s.holder_pid, &s.pins) {
                    (0, Some(_)) => "pinned".to_string(),
                    (0, None) => "-".to_string(),
                    (pid, Some(_)) => format!("pinned, pid 1: {pid}"),
                    (pid, None) => format!("holder {pid}"),
                },
            ]
        })
        .collect();
    out!(
        "{}",
        table::render(
            &[
                "POD ID",
                "CREATED",
                "STATE",
                "NAME",
                "NAMESPACE",
                "NAMESPACES"
            ],
            &rows
        )
    );
    Ok(0)
}

fn parse_volume(v: &str) -> anyhow::Result<Mount> {
    let parts: Vec<&str> = v.split(':').collect();
    let (host, ctr, ro) = match parts.as_slice() {
        [h, c] => (h, c, false),
        [h, c, "ro"] => (h, c, true),
        [h, c, "rw"] => (h, c, false),
        _ => bail!("volume {v:?} is not HOST:CONTAINER[:ro]"),
    };
    let host_path = std::fs::canonicalize(host).with_context(|| format!("volume source {host}"))?;
    Ok(Mount {
        host_path,
        container_path: PathBuf::from(ctr),
        read_only: ro,
        propagation: Propagation::Private,
        image: None,
    })
}

fn parse_user(u: &str) -> anyhow::Result<(u32, Option<u32>)> {
    let (uid, gid) = match u.split_once(':') {
        Some((a, b)) => (a, Some(b)),
        None => (u, None),
    };
    let uid = uid
        .parse()
        .map_err(|_| anyhow!("--user {u:?}: only numeric uid[:gid] is supported"))?;
    let gid = gid
        .map(|g| {
            g.parse()
                .map_err(|_| anyhow!("--user {u:?}: gid must be numeric"))
        })
        .transpose()?;
    Ok((uid, gid))
}

/// A `--cpus` value (`0.5`, `500m`) in millicores, at least 1.
fn milli_cpus(s: &str) -> Result<u64, String> {
    let m = quantity::milli_value(s).map_err(|e| e.to_string())?;
    u64::try_from(m)
        .map(|m| m.max(1))
        .map_err(|_| format!("{s:?} is negative"))
}

fn container_config(a: &RunArgs, name: &str) -> anyhow::Result<ContainerConfig> {
    let env = a
        .env
        .iter()
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (kv.clone(), std::env::var(kv).unwrap_or_default()),
        })
        .collect();
    let memory_limit_bytes = a
        .memory
        .as_deref()
        .map(|m| {
            quantity::value(m)
                .ok()
                .filter(|b| *b >= 0)
                .ok_or_else(|| anyhow!("--memory {m:?} is not a quantity"))
        })
        .transpose()?;
    let (run_as_user, run_as_group) = match a.user.as_deref().map(parse_user).transpose()? {
        Some((u, g)) => (Some(u), g),
        None => (None, None),
    };
    Ok(ContainerConfig {
        name: name.to_string(),
        image: a.image.clone(),
        command: (!a.command.is_empty()).then(|| a.command.clone()),
        args: None,
        env,
        working_dir: a.workdir.clone(),
        mounts: a
            .volumes
            .iter()
            .map(|v| parse_volume(v))
            .collect::<anyhow::Result<_>>()?,
        resources: ResourceRequirements {
            cpu_request_milli: a.cpu_request,
            cpu_limit_milli: a.cpus,
            memory_request_bytes: None,
            memory_limit_bytes,
            pids_limit: a.pids_limit,
        },
        security: SecurityContext {
            run_as_user,
            run_as_group,
            privileged: a.privileged,
            read_only_root_filesystem: a.read_only,
            capabilities_add: a.cap_add.clone(),
            capabilities_drop: a.cap_drop.clone(),
            ..Default::default()
        },
        ..Default::default()
    })
}

pub(super) fn run(rt: &Runtime, a: &RunArgs) -> anyhow::Result<i32> {
    if a.rm && a.detach {
        bail!("--rm and --detach cannot be combined");
    }
    let policy = a
        .pull
        .as_deref()
        .map(|p| {
            PullPolicy::parse(p)
                .ok_or_else(|| anyhow!("--pull {p:?}: use Always, IfNotPresent or Never"))
        })
        .transpose()?;
    let name = a
        .name
        .clone()
        .unwrap_or_else(|| format!("run-{}", &container_runtime::new_id()[..8]));
    let config = container_config(a, &name)?;
    rt.ensure_image(&a.image, policy)?;
    container_runtime::timing("image ensured");
    let (sandbox_id, own_pod) = match &a.pod {
        Some(p) => (rt.sandbox(p)?.id, false),
        None => {
            let r = &config.resources;
            let limited = r.cpu_limit_milli.is_some()
                || r.memory_limit_bytes.is_some()
                || r.cpu_request_milli.is_some();
            let sb = PodSandboxConfig {
                name: name.clone(),
                namespace: "default".into(),
                uid: uuid::Uuid::new_v4().to_string(),
                hostname: a.hostname.clone(),
                host_network: a.host_network,
                host_pid: a.host_pid,
                host_ipc: a.host_ipc,
                share_process_namespace: false,
                qos: Some(if limited {
                    Qos::Burstable
                } else {
                    Qos::BestEffort
                }),
                labels: [(CTL_POD_LABEL.to_string(), "true".to_string())].into(),
                sysctls: Default::default(),
            };
            (rt.run_sandbox(sb)?, true)
        }
    };
    container_runtime::timing("sandbox ready");
    let result = run_in_pod(rt, a, &sandbox_id, config);
    let remove_pod = own_pod && (a.rm || result.is_err());
    if remove_pod {
        if let Err(e) = rt.remove_sandbox(&sandbox_id) {
            eprintln!("kubelet ctl: removing pod {sandbox_id}: {e}");
        }
    }
    container_runtime::timing("pod removed");
    result
}

fn run_in_pod(
    rt: &Runtime,
    a: &RunArgs,
    sandbox_id: &str,
    config: ContainerConfig,
) -> anyhow::Result<i32> {
    let id = rt.create_container(sandbox_id, config)?;
    container_runtime::timing("container created");
    if let Err(e) = rt.start_container(&id) {
        if a.rm {
            let _ = rt.remove_container(&id);
        }
        return Err(e.into());
    }
    container_runtime::timing("container started");
    if a.detach {
        outln!("{id}");
        return Ok(0);
    }
    let path = rt.container(&id)?.spec.log_path;
    let opts = logs::Options {
        follow: true,
        ..Default::default()
    };
    let mut done = || {
        rt.wait_container(&id, Some(Duration::from_millis(50)))
            .map(|s| s.status != Status::Running)
            .unwrap_or(true)
    };
    print_stream(&path, &opts, &mut done)?;
    let st = rt.wait_container(&id, None)?;
    container_runtime::timing("container exited");
    if st.reason == "StartError" || st.reason == "MonitorLost" {
        eprintln!("kubelet ctl: container {id}: {}: {}", st.reason, st.message);
    }
    if a.rm {
        rt.remove_container(&id)?;
    }
    container_runtime::timing("container removed");
    Ok(match st.status {
        Status::Exited => st.exit_code,
        _ => 255,
    })
}

fn print_stream(
    path: &std::path::Path,
    opts: &logs::Options,
    done: &mut dyn FnMut() -> bool,
) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout();
    let mut stderr = std::io::stderr();
    logs::read(path, opts, done, &mut |stream, bytes| {
        let _ = match stream {
            Stream::Stdout => stdout.write_all(bytes).and_then(|_| stdout.flush()),
            Stream::Stderr => stderr.write_all(bytes),
        };
    })
    .with_context(|| format!("reading {}", path.display()))
}

pub(super) fn exec(rt: &Runtime, a: &ExecArgs) -> anyhow::Result<i32> {
    let id = find_container(rt, &a.container)?;
    let status = rt
        .exec_command(&id, &a.command, a.tty)?
        .status()
        .context("starting the exec helper")?;
    use std::os::unix::process::ExitStatusExt;
    Ok(status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0)))
}

/// Parses `10s`, `5m`, `2h`, `1d` or an RFC 3339 time into an instant.
fn parse_since(s: &str) -> anyhow::Result<chrono::DateTime<chrono::Utc>> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&chrono::Utc));
    }
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: i64 = num
        .parse()
        .map_err(|_| anyhow!("--since {s:?}: use 10s, 5m, 1h or an RFC 3339 time"))?;
    let secs = match unit {
        "s" | "" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86400,
        _ => bail!("--since {s:?}: unknown unit {unit:?}"),
    };
    Ok(chrono::Utc::now() - chrono::Duration::seconds(secs))
}

pub(super) fn logs(rt: &Runtime, a: &LogsArgs) -> anyhow::Result<i32> {
    let id = find_container(rt, &a.container)?;
    let opts = logs::Options {
        tail: a.tail,
        since: a.since.as_deref().map(parse_since).transpose()?,
        follow: a.follow && !a.previous,
        timestamps: a.timestamps,
    };
    let mut stdout = std::io::stdout();
    let mut stderr = std::io::stderr();
    rt.container_logs(&id, a.previous, &opts, &mut |stream, bytes| {
        let _ = match stream {
            Stream::Stdout => stdout.write_all(bytes).and_then(|_| stdout.flush()),
            Stream::Stderr => stderr.write_all(bytes),
        };
    })?;
    Ok(0)
}

pub(super) fn stop(rt: &Runtime, a: &StopArgs) -> anyhow::Result<i32> {
    for c in &a.containers {
        let id = find_container(rt, c)?;
        let st = rt.stop_container(&id, Duration::from_secs(a.timeout))?;
        outln!("{id} {}", status_text(&st));
    }
    Ok(0)
}

/// Removes a container, and the pod `run` made for it once it is empty.
pub(super) fn rm(rt: &Runtime, a: &RmArgs) -> anyhow::Result<i32> {
    let mut code = 0;
    for c in &a.containers {
        let id = find_container(rt, c)?;
        let info = rt.container(&id)?;
        if info.state.status == Status::Running && !a.force {
            eprintln!("kubelet ctl: container {id} is running; stop it first or use --force");
            code = 1;
            continue;
        }
        rt.remove_container(&id)?;
        if let Ok(sb) = rt.sandbox(&info.spec.sandbox_id) {
            let empty = !rt
                .list_containers()?
                .iter()
                .any(|c| c.spec.sandbox_id == sb.id);
            if empty && sb.config.labels.contains_key(CTL_POD_LABEL) {
                rt.remove_sandbox(&sb.id)?;
            }
        }
        outln!("{id}");
    }
    Ok(code)
}

pub(super) fn rmp(rt: &Runtime, a: &RmpArgs) -> anyhow::Result<i32> {
    for p in &a.pods {
        let sb = rt.sandbox(p)?;
        rt.remove_sandbox(&sb.id)?;
        outln!("{}", sb.id);
    }
    Ok(0)
}

pub(super) fn inspect(rt: &Runtime, a: &InspectArgs) -> anyhow::Result<i32> {
    let value = if let Ok(id) = find_container(rt, &a.id) {
        let c = rt.container(&id)?;
        let stats = rt.container_stats(&id).ok();
        let running = c.state.status == Status::Running;
        serde_json::json!({
            "kind": "container",
            "spec": c.spec,
            "state": c.state,
            "stats": stats,
            "monitorRssKiB": running.then(|| state::rss_kib(c.state.monitor_pid)).flatten(),
        })
    } else if let Ok(sb) = rt.sandbox(&a.id) {
        serde_json::json!({ "kind": "pod", "sandbox": sb })
    } else if let Some(img) = rt.images().get(&a.id)? {
        serde_json::json!({ "kind": "image", "image": img })
    } else {
        bail!("no container, pod or image {:?}", a.id);
    };
    outln!("{}", serde_json::to_string_pretty(&value)?);
    Ok(0)
}
