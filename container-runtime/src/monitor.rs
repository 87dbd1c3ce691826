//! The monitor: one small process per container that owns it.
//!
//! Started by the runtime as `kubelet __monitor <container-dir>`, it
//!
//! 1. calls `setsid()` so it belongs to no terminal or kubelet process group
//!    (killing the kubelet does not kill it);
//! 2. joins the pod's namespaces and prepares the pid namespace (`unshare`
//!    with `CLONE_NEWPID`: the next child it starts is pid 1 there);
//! 3. starts `kubelet __init` with pipes as stdout/stderr and a sync pipe as
//!    stdin, and reads the sync pipe: EOF means `execve` succeeded;
//! 4. reports `ok <pid>` (or `error: ...`) on its stdout to whoever started it,
//!    then never writes there again;
//! 5. copies the container's output into the CRI log until the pipes close,
//!    reaps the container and writes its exit code, finish time and reason
//!    (`Completed`, `Error`, `OOMKilled` when the cgroup saw an OOM kill) into
//!    `state.json`, and exits.
//!
//! It is single-threaded and allocates little: its resident size is what each
//! running container costs on top of itself.

use super::container::spec::{ContainerSpec, PidMode};
use super::logs::{Stream, Writer};
use super::state::{self, read_json, write_json, ContainerState, Status};
use super::{cgroups, namespaces};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sched::CloneFlags;
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};

fn report(msg: &str) {
    let mut out = std::io::stdout();
    let _ = writeln!(out, "{msg}");
    let _ = out.flush();
}

/// Entry point of `kubelet __monitor <dir>`.
pub fn main(dir: &Path) -> i32 {
    super::timing("monitor start");
    let _ = nix::unistd::setsid();
    let spec: ContainerSpec = match read_json(&dir.join("spec.json")) {
        Ok(s) => s,
        Err(e) => {
            report(&format!("error: reading spec: {e}"));
            return 1;
        }
    };
    let state_path = dir.join("state.json");
    let mut st: ContainerState =
        read_json(&state_path).unwrap_or_else(|_| ContainerState::created());
    let fail = |st: &mut ContainerState, reason: &str, msg: String| {
        st.status = Status::Exited;
        st.exit_code = 128;
        st.reason = reason.into();
        st.message = msg.clone();
        st.finished_at = state::now();
        let _ = write_json(&state_path, st);
        report(&format!("error: {msg}"));
        1
    };
    let mut log = match Writer::open(&spec.log_path, spec.log_max_size, spec.log_max_files) {
        Ok(w) => w,
        Err(e) => {
            return fail(
                &mut st,
                "StartError",
                format!("opening log {}: {e}", spec.log_path.display()),
            )
        }
    };
    if let Err(e) = enter_namespaces(&spec) {
        return fail(&mut st, "StartError", e.to_string());
    }
    // Keep the stdin FIFO open read-write so the container never sees EOF
    // between two attaches.
    let _stdin_keeper = if spec.config.stdin {
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(dir.join("stdin"))
            .ok()
    } else {
        None
    };
    super::timing("monitor joined");
    let (sync_r, sync_w) = match nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC) {
        Ok(p) => p,
        Err(e) => return fail(&mut st, "StartError", format!("pipe: {e}")),
    };
    let mut child = match Command::new("/proc/self/exe")
        .arg("__init")
        .arg(dir)
        .stdin(Stdio::from(sync_w))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => return fail(&mut st, "StartError", format!("starting init: {e}")),
    };
    super::timing("monitor spawned init");
    // Our copy of the write end was moved into the Command and closed by now.
    let mut msg = String::new();
    let _ = std::fs::File::from(sync_r).read_to_string(&mut msg);
    if !msg.is_empty() {
        let _ = child.wait();
        let _ = log.write(
            Stream::Stderr,
            format!("failed to start container: {msg}\n").as_bytes(),
        );
        return fail(&mut st, "StartError", msg);
    }
    super::timing("monitor: exec ok");
    let pid = child.id() as i32;
    st.status = Status::Running;
    st.pid = pid;
    st.pid_start = state::proc_start_time(pid).unwrap_or(0);
    st.monitor_pid = std::process::id() as i32;
    st.monitor_start = state::proc_start_time(st.monitor_pid).unwrap_or(0);
    st.started_at = state::now();
    if let Err(e) = write_json(&state_path, &st) {
        eprintln!("monitor: writing state: {e}");
    }
    report(&format!("ok {pid}"));

    copy_output(&mut child, &mut log);
    super::timing("monitor: output closed");
    let status = child.wait();
    let _ = log.flush();
    let (code, signaled) = match status {
        Ok(s) => match (s.code(), s.signal()) {
            (Some(c), _) => (c, false),
            (None, Some(sig)) => (128 + sig, true),
            _ => (255, false),
        },
        Err(_) => (255, false),
    };
    // The OOM killer sends SIGKILL; only then is the cgroup worth asking.
    let oom = code == 128 + 9 && cgroups::oom_killed(&spec.cgroup_procs);
    st.status = Status::Exited;
    st.exit_code = code;
    st.finished_at = state::now();
    st.reason = if oom && (code == 137 || signaled) {
        "OOMKilled".into()
    } else if code == 0 {
        "Completed".into()
    } else {
        "Error".into()
    };
    if let Err(e) = write_json(&state_path, &st) {
        eprintln!("monitor: writing exit state: {e}");
    }
    super::timing("monitor: exit recorded");
    0
}

fn enter_namespaces(spec: &ContainerSpec) -> Result<(), namespaces::Error> {
    // Open every handle first, then join (the pod's handles are host paths).
    let mut handles = Vec::new();
    for (kind, path) in &spec.join_namespaces {
        if !namespaces::is_current(path, kind) {
            handles.push(namespaces::open(path, kind)?);
        }
    }
    let pid_handle = match &spec.pid_mode {
        PidMode::Join(p) => Some(namespaces::open(p, "pid")?),
        _ => None,
    };
    for h in &handles {
        h.join()?;
    }
    match (&spec.pid_mode, pid_handle) {
        (PidMode::New, _) => namespaces::unshare(CloneFlags::CLONE_NEWPID)?,
        (PidMode::Join(_), Some(h)) => h.join()?,
        _ => {}
    }
    Ok(())
}

/// Copies stdout and stderr of the child into the log until both close.
/// With `hostPID` a leftover grandchild could keep a pipe open after the
/// container exited, so the child's exit is checked on every idle second.
fn copy_output(child: &mut std::process::Child, log: &mut Writer) {
    let mut out = child.stdout.take();
    let mut err = child.stderr.take();
    let mut buf = vec![0u8; 64 * 1024];
    let mut exited_rounds = 0;
    while out.is_some() || err.is_some() {
        let mut fds = Vec::new();
        if let Some(o) = &out {
            fds.push(PollFd::new(o.as_fd(), PollFlags::POLLIN));
        }
        if let Some(e) = &err {
            fds.push(PollFd::new(e.as_fd(), PollFlags::POLLIN));
        }
        let n = poll(&mut fds, PollTimeout::from(1000u16)).unwrap_or(0);
        let ready: Vec<bool> = fds
            .iter()
            .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
            .collect();
        drop(fds);
        if n == 0 {
            if matches!(child.try_wait(), Ok(Some(_))) {
                exited_rounds += 1;
                if exited_rounds > 1 {
                    return;
                }
            }
            continue;
        }
        let mut idx = 0;
        if out.is_some() {
            if ready[idx] {
                if let Some(o) = out.as_mut() {
                    match o.read(&mut buf) {
                        Ok(0) | Err(_) => out = None,
                        Ok(k) => {
                            let _ = log.write(Stream::Stdout, &buf[..k]);
                        }
                    }
                }
            }
            idx += 1;
        }
        if err.is_some() && ready[idx] {
            if let Some(e) = err.as_mut() {
                match e.read(&mut buf) {
                    Ok(0) | Err(_) => err = None,
                    Ok(k) => {
                        let _ = log.write(Stream::Stderr, &buf[..k]);
                    }
                }
            }
        }
    }
}
