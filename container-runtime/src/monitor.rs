//! The monitor: one small process per container that owns it.
//!
//! Forked by the runtime's launcher ([`crate::launcher`]) for a container's
//! directory, with a pipe to the runtime as its stdout, it
//!
//! 1. calls `setsid()` so it belongs to no terminal or kubelet process group
//!    (killing the kubelet does not kill it);
//! 2. joins the pod's namespaces and prepares the pid namespace (`unshare`
//!    with `CLONE_NEWPID`: the next child it starts is pid 1 there);
//! 3. forks the container's init ([`Init`]) with pipes as stdout/stderr and a
//!    sync pipe as stdin, and reads the sync pipe: EOF means `execve`
//!    succeeded;
//! 4. reports `ok <pid>` (or `error: ...`) on its stdout to whoever started it,
//!    then never writes there again;
//! 5. copies the container's output into the CRI log until the pipes close,
//!    reaps the container and writes its exit code, finish time and reason
//!    (`Completed`, `Error`, `OOMKilled` when the cgroup saw an OOM kill) into
//!    `state.json`, and lets go of its stdout: the runtime that started it
//!    waits for that EOF ([`crate::Runtime::wait_container`]), not for the
//!    monitor's own exit.
//!
//! It is single-threaded and allocates little: its resident size is what each
//! running container costs on top of itself.

use super::container::init;
use super::container::spec::{ContainerSpec, PidMode};
use super::logs::{Stream, Writer};
use super::state::{self, read_json, write_json, ContainerState, Status};
use super::{cgroups, namespaces};
use nix::fcntl::OFlag;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sched::CloneFlags;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{pipe2, Pid};
use single_threaded_fork::Forked;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

fn report(msg: &str) {
    let mut out = std::io::stdout();
    let _ = writeln!(out, "{msg}");
    let _ = out.flush();
}

/// A monitor's work, in the launcher's forked child; returns its exit code.
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
    let mut child = match Init::start(dir, sync_w) {
        Ok(c) => c,
        Err(e) => return fail(&mut st, "StartError", format!("starting init: {e}")),
    };
    super::timing("monitor spawned init");
    // Our copy of the write end was closed by `Init::start`.
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
    let pid = child.pid.as_raw();
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
    let (code, signaled) = child.wait();
    let _ = log.flush();
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
    // /dev/null over stdout closes the report pipe (fd 1 stays valid).
    if let Ok(null) = File::open("/dev/null") {
        let _ = nix::unistd::dup2_stdout(&null);
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

/// The container's init: forked from the monitor, it makes the container
/// ([`init::main`]) and becomes its command.
struct Init {
    pid: Pid,
    stdout: Option<File>,
    stderr: Option<File>,
    /// Exit code (128 + signal when a signal ended it) and whether a signal
    /// did, once reaped.
    status: Option<(i32, bool)>,
}

impl Init {
    /// Forks init with `sync` (the sync pipe's write end) as its stdin and
    /// new pipes as its stdout and stderr. A fork, not an exec of the
    /// runtime's binary: the monitor has one thread, and the child needs
    /// no program of its own to run init's code ([`single_threaded_fork`]).
    fn start(dir: &Path, sync: OwnedFd) -> Result<Init, String> {
        let (out_r, out_w) = pipe2(OFlag::O_CLOEXEC).map_err(|e| format!("pipe: {e}"))?;
        let (err_r, err_w) = pipe2(OFlag::O_CLOEXEC).map_err(|e| format!("pipe: {e}"))?;
        match single_threaded_fork::fork().map_err(|e| e.to_string())? {
            Forked::Child => {
                // The copies on 0, 1 and 2 stay open across init's execve
                // (dup2 clears close-on-exec); the originals close there.
                let code = match nix::unistd::dup2_stdin(&sync)
                    .and_then(|_| nix::unistd::dup2_stdout(&out_w))
                    .and_then(|_| nix::unistd::dup2_stderr(&err_w))
                {
                    Ok(()) => {
                        drop((sync, out_w, err_w, out_r, err_r));
                        init::main(dir)
                    }
                    Err(_) => 125,
                };
                // Only on failure: nothing of the monitor's is buffered to
                // flush (it flushes each report), so a plain exit.
                std::process::exit(code)
            }
            Forked::Parent(pid) => Ok(Init {
                pid,
                stdout: Some(File::from(out_r)),
                stderr: Some(File::from(err_r)),
                status: None,
            }),
        }
    }

    /// Reaps init if it has exited.
    fn try_wait(&mut self) -> Option<(i32, bool)> {
        if self.status.is_none() {
            self.status = match waitpid(self.pid, Some(WaitPidFlag::WNOHANG)) {
                Ok(s) => exit_of(s),
                // Not our child any more (reaped elsewhere): it is gone.
                Err(nix::errno::Errno::ECHILD) => Some((255, false)),
                Err(_) => None,
            };
        }
        self.status
    }

    /// Waits for init's exit.
    fn wait(&mut self) -> (i32, bool) {
        while self.status.is_none() {
            self.status = match waitpid(self.pid, None) {
                Ok(s) => exit_of(s),
                Err(nix::errno::Errno::EINTR) => None,
                Err(_) => Some((255, false)),
            };
        }
        self.status.unwrap_or((255, false))
    }
}

/// A container's exit code as a shell reports it (128 + signal number),
/// and whether a signal ended it; `None` while it runs.
fn exit_of(status: WaitStatus) -> Option<(i32, bool)> {
    match status {
        WaitStatus::Exited(_, code) => Some((code, false)),
        WaitStatus::Signaled(_, sig, _) => Some((128 + sig as i32, true)),
        _ => None,
    }
}

/// Copies stdout and stderr of the child into the log until both close.
/// With `hostPID` a leftover grandchild could keep a pipe open after the
/// container exited, so the child's exit is checked on every idle second.
fn copy_output(child: &mut Init, log: &mut Writer) {
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
            if child.try_wait().is_some() {
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
