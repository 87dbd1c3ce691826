//! `exec`: run another process inside a running container.
//!
//! There is nothing to "enter" but namespaces and a cgroup. The runtime starts
//! `kubelet __exec <container-dir> [--tty] -- CMD...`, a helper that
//!
//! 1. writes itself into the container's cgroup (so the new process is
//!    limited and accounted like the container);
//! 2. opens `/proc/<container-pid>/ns/{cgroup,ipc,uts,net,pid}` and
//!    `setns`es into each;
//! 3. starts `kubelet __exec-child` - as a *child*, because joining a pid
//!    namespace only applies to children. The child joins the mount
//!    namespace last, itself: once there, paths are the container's, and
//!    the container's `/proc` has no entry for the helper (it is not in the
//!    container's pid namespace), so the helper could not even re-execute
//!    itself through `/proc/self/exe` any more. The child then becomes a
//!    session leader with the terminal (for `--tty`), resolves the user,
//!    drops capabilities like the container's init did, and `execve`s the
//!    command;
//! 4. relays the terminal (for `--tty`) and exits with the command's exit code.
//!
//! Without a TTY the command simply inherits the helper's stdin, stdout and
//! stderr, so whatever the caller wires there (a terminal, pipes of a
//! streaming server) is what the command talks to.

use super::container::spec::ContainerSpec;
use super::container::{process, user};
use super::state::{self, read_json, ContainerState, Status};
use super::{namespaces, Error, Result, Runtime};
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// What the exec child needs (passed as one JSON argument, since the child
/// can no longer see the host's files).
#[derive(Debug, Serialize, Deserialize)]
struct ChildSpec {
    /// `/proc/<container-pid>/ns/mnt` (a host path, opened before joining).
    mnt_ns: std::path::PathBuf,
    args: Vec<String>,
    env: Vec<String>,
    cwd: String,
    user: String,
    run_as_user: Option<u32>,
    run_as_group: Option<u32>,
    supplemental_groups: Vec<u32>,
    capabilities: Vec<String>,
    no_new_privs: bool,
    tty: bool,
}

impl Runtime {
    /// A command that runs `cmd` in the container when spawned; wire its stdio
    /// as needed. Its exit status is the command's.
    pub fn exec_command(&self, id: &str, cmd: &[String], tty: bool) -> Result<Command> {
        let info = self.container(id)?;
        if info.state.status != Status::Running {
            return Err(Error::State(format!(
                "container {} is not running ({})",
                info.spec.id, info.state.status
            )));
        }
        if cmd.is_empty() {
            return Err(Error::State("exec needs a command".into()));
        }
        let mut c = Command::new(&self.cfg.binary);
        c.arg("__exec").arg(&info.spec.dir);
        if tty {
            c.arg("--tty");
        }
        c.arg("--").args(cmd);
        Ok(c)
    }

    /// Runs `cmd` in the container to its end and returns its output and
    /// exit code (CRI's `ExecSync`, what exec probes and lifecycle hooks
    /// use). Past `timeout` the exec helper is killed and the call fails
    /// with [`Error::ExecTimeout`].
    pub fn exec_sync(
        &self,
        id: &str,
        cmd: &[String],
        timeout: Option<Duration>,
    ) -> Result<ExecSyncResponse> {
        let mut command = self.exec_command(id, cmd, false)?;
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().map_err(|e| Error::Spawn {
            what: format!("exec helper {}", self.cfg.binary.display()),
            reason: e.to_string(),
        })?;
        let deadline = timeout.map(|t| Instant::now() + t);
        let timed_out = |child: &mut std::process::Child| {
            let _ = child.kill();
            let _ = child.wait();
            Error::ExecTimeout {
                id: id.to_string(),
                timeout: timeout.unwrap_or_default(),
            }
        };
        // Both pipes are drained on threads (a full stderr pipe must not
        // block a command that is still writing stdout), and collected
        // with the deadline: a process the command left behind may keep
        // them open after the command itself exited.
        let drain = |pipe: Option<Box<dyn Read + Send>>| {
            let (tx, rx) = mpsc::channel();
            if let Some(mut pipe) = pipe {
                std::thread::spawn(move || {
                    let mut buf = Vec::new();
                    let _ = pipe.read_to_end(&mut buf);
                    let _ = tx.send(buf);
                });
            } else {
                let _ = tx.send(Vec::new());
            }
            rx
        };
        let out = drain(
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        );
        let err = drain(
            child
                .stderr
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        );
        let collect = |rx: mpsc::Receiver<Vec<u8>>| match deadline {
            Some(d) => rx
                .recv_timeout(d.saturating_duration_since(Instant::now()))
                .ok(),
            None => rx.recv().ok(),
        };
        let (Some(stdout), Some(stderr)) = (collect(out), collect(err)) else {
            return Err(timed_out(&mut child));
        };
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if deadline.is_some_and(|d| Instant::now() >= d) => {
                    return Err(timed_out(&mut child));
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(2)),
                Err(e) => {
                    return Err(Error::Spawn {
                        what: "exec helper".into(),
                        reason: e.to_string(),
                    })
                }
            }
        };
        Ok(ExecSyncResponse {
            stdout,
            stderr,
            exit_code: status.code().unwrap_or(-1),
        })
    }
}

/// The result of [`Runtime::exec_sync`] (CRI's `ExecSyncResponse`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecSyncResponse {
    /// Everything the command wrote to stdout.
    pub stdout: Vec<u8>,
    /// Everything it wrote to stderr.
    pub stderr: Vec<u8>,
    /// Its exit code (-1 when the exec helper was killed by a signal).
    pub exit_code: i32,
}

/// Entry point of `kubelet __exec <dir> [--tty] -- CMD...`.
pub fn helper_main(dir: &Path, tty: bool, cmd: Vec<String>) -> i32 {
    match helper(dir, tty, cmd) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("exec: {e}");
            126
        }
    }
}

fn helper(dir: &Path, tty: bool, cmd: Vec<String>) -> Result<i32, String> {
    let spec: ContainerSpec =
        read_json(&dir.join("spec.json")).map_err(|e| format!("reading spec: {e}"))?;
    let st: ContainerState =
        read_json(&dir.join("state.json")).map_err(|e| format!("reading state: {e}"))?;
    if st.status != Status::Running || !state::alive(st.pid, st.pid_start) {
        return Err(format!("container {} is not running", spec.id));
    }
    crate::cgroups::join_self(&spec.cgroup_procs)
        .map_err(|e| format!("joining the cgroup: {e}"))?;
    let pty = if tty {
        let size = rustix::termios::tcgetwinsize(std::io::stdin()).ok();
        let p = nix::pty::openpty(None, None).map_err(|e| format!("openpty: {e}"))?;
        if let Some(ws) = size {
            let _ = rustix::termios::tcsetwinsize(&p.slave, ws);
        }
        Some(p)
    } else {
        None
    };
    let mut handles = Vec::new();
    for (kind, _) in namespaces::JOIN_ORDER {
        if kind == "mnt" {
            continue;
        }
        let path = namespaces::ns_path(st.pid, kind);
        if !namespaces::is_current(&path, kind) {
            handles.push(namespaces::open(&path, kind).map_err(|e| e.to_string())?);
        }
    }
    for h in &handles {
        h.join().map_err(|e| e.to_string())?;
    }
    let sec = &spec.config.security;
    let child_spec = ChildSpec {
        mnt_ns: namespaces::ns_path(st.pid, "mnt"),
        args: cmd,
        env: spec.env.clone(),
        cwd: spec.cwd.clone(),
        user: spec.user.clone(),
        run_as_user: sec.run_as_user,
        run_as_group: sec.run_as_group,
        supplemental_groups: sec.supplemental_groups.clone(),
        capabilities: spec.capabilities.clone(),
        no_new_privs: spec.no_new_privs,
        tty,
    };
    let arg = serde_json::to_string(&child_spec).map_err(|e| e.to_string())?;
    let mut c = Command::new("/proc/self/exe");
    c.arg("__exec-child").arg(arg);
    let status = match pty {
        None => c
            .status()
            .map_err(|e| format!("starting exec child: {e}"))?,
        Some(p) => {
            let slave = std::fs::File::from(p.slave);
            c.stdin(Stdio::from(slave.try_clone().map_err(|e| e.to_string())?))
                .stdout(Stdio::from(slave.try_clone().map_err(|e| e.to_string())?))
                .stderr(Stdio::from(slave));
            let mut child = c.spawn().map_err(|e| format!("starting exec child: {e}"))?;
            // The slave copies went to the child; drop ours so EOF/EIO arrives.
            drop(c);
            let master = std::fs::File::from(p.master);
            let mut to_master = master.try_clone().map_err(|e| e.to_string())?;
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                let mut stdin = std::io::stdin();
                while let Ok(n) = stdin.read(&mut buf) {
                    if n == 0 || to_master.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            });
            let mut from = master;
            let mut out = std::io::stdout();
            let mut buf = [0u8; 4096];
            while let Ok(n) = from.read(&mut buf) {
                if n == 0 || out.write_all(&buf[..n]).is_err() {
                    break;
                }
                let _ = out.flush();
            }
            child.wait().map_err(|e| e.to_string())?
        }
    };
    Ok(status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0)))
}

/// Entry point of `kubelet __exec-child <json>`: already inside every namespace.
pub fn child_main(arg: &str) -> i32 {
    let spec: ChildSpec = match serde_json::from_str(arg) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("exec: bad child spec: {e}");
            return 126;
        }
    };
    let joined = namespaces::open(&spec.mnt_ns, "mnt").and_then(|h| h.join());
    if let Err(e) = joined {
        eprintln!("exec: {e}");
        return 126;
    }
    if spec.tty {
        let _ = nix::unistd::setsid();
        if let Err(e) = rustix::process::ioctl_tiocsctty(std::io::stdin()) {
            eprintln!("exec: TIOCSCTTY: {e}");
        }
    }
    let root = Path::new("/");
    let id = match user::resolve(
        &spec.user,
        &user::read_etc(root, "passwd"),
        &user::read_etc(root, "group"),
        spec.run_as_user,
        spec.run_as_group,
        &spec.supplemental_groups,
    ) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("exec: {e}");
            return 126;
        }
    };
    if let Err(e) = process::become_user(&id, &spec.capabilities, spec.no_new_privs) {
        eprintln!("exec: {e}");
        return 126;
    }
    let Some(program) = spec.args.first() else {
        return 126;
    };
    let mut cmd = Command::new(program);
    cmd.args(&spec.args[1..]).env_clear();
    let mut has_home = false;
    for kv in &spec.env {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        has_home |= k == "HOME";
        cmd.env(k, v);
    }
    if !has_home {
        cmd.env("HOME", &id.home);
    }
    if Path::new(&spec.cwd).is_dir() {
        cmd.current_dir(&spec.cwd);
    }
    let err = cmd.exec();
    eprintln!("exec: {program}: {err}");
    if err.kind() == std::io::ErrorKind::NotFound {
        127
    } else {
        126
    }
}
