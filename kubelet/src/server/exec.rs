//! `/exec` and `/attach`: a process in a container, wired to a WebSocket.
//!
//! **exec** runs a new process: the runtime gives us a command for its
//! `__exec` helper (which joins the container's cgroup and namespaces, see
//! [`container_runtime::exec`]); we spawn it with pipes, or with a pseudo
//! terminal for `tty=true`, and copy its stdin/stdout/stderr to and from the
//! [`channel`](super::channel) streams. When it exits, its exit code goes
//! into the error channel, so `kubectl exec ... -- sh -c 'exit 3'` exits 3.
//!
//! **attach** joins the container's own main process: what it prints is
//! followed from its log file (the monitor writes every line there), and
//! stdin, when the container was created with `stdin: true`, is written into
//! the FIFO the monitor feeds the process from.
//!
//! Everything that can be checked (pod, container, running, command) is
//! checked before the upgrade, so mistakes come back as an HTTP Status that
//! kubectl prints, not as a closed socket.

use std::io::{Read, Write};
use std::process::Stdio;
use std::time::Duration;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

use super::channel::{self, ChannelWriter, Session, STDERR, STDOUT};
use super::{find_container, find_sandbox, query_flag, query_pairs, Error};
use container_runtime::state::Status;

/// Which streams the client wants.
#[derive(Debug, Clone, Copy, Default)]
pub struct Streams {
    /// Feed the process's stdin.
    pub stdin: bool,
    /// Send its stdout.
    pub stdout: bool,
    /// Send its stderr.
    pub stderr: bool,
    /// A terminal (stderr merges into stdout).
    pub tty: bool,
}

impl Streams {
    fn from_query(q: &[(String, String)]) -> Streams {
        let tty = query_flag(q, "tty");
        Streams {
            stdin: query_flag(q, "stdin") || query_flag(q, "input"),
            stdout: query_flag(q, "stdout") || query_flag(q, "output"),
            stderr: (query_flag(q, "stderr") || query_flag(q, "error")) && !tty,
            tty,
        }
    }
}

fn require_ws(
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<WebSocketUpgrade, Error> {
    ws.map_err(|e| {
        Error::BadRequest(format!(
            "this kubelet serves exec and attach over WebSocket ({}) only: {e}",
            channel::PROTOCOLS.join(", ")
        ))
    })
}

/// `/exec/{ns}/{pod}/{container}`.
pub async fn exec(
    st: State<super::State>,
    Path((ns, pod, container)): Path<(String, String, String)>,
    query: RawQuery,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, Error> {
    exec_in(st, ns, pod, None, container, query, ws).await
}

/// `/exec/{ns}/{pod}/{uid}/{container}`.
pub async fn exec_uid(
    st: State<super::State>,
    Path((ns, pod, uid, container)): Path<(String, String, String, String)>,
    query: RawQuery,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, Error> {
    exec_in(st, ns, pod, Some(uid), container, query, ws).await
}

async fn exec_in(
    State(st): State<super::State>,
    ns: String,
    pod: String,
    uid: Option<String>,
    container: String,
    RawQuery(query): RawQuery,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, Error> {
    let q = query_pairs(query.as_deref());
    let streams = Streams::from_query(&q);
    let command: Vec<String> = q
        .iter()
        .filter(|(k, _)| k == "command")
        .map(|(_, v)| v.clone())
        .collect();
    if command.is_empty() {
        return Err(Error::BadRequest(
            "you must specify at least one command for the container".into(),
        ));
    }
    let sandbox = find_sandbox(&st.runtime, &ns, &pod, uid.as_deref())?;
    let info = find_container(&st.runtime, &sandbox, &container, false)?;
    let cmd = st
        .runtime
        .exec_command(&info.spec.id, &command, streams.tty)?;
    let ws = require_ws(ws)?.protocols(channel::PROTOCOLS);
    tracing::info!(pod = %format!("{ns}/{pod}"), %container, ?command, tty = streams.tty, "exec");
    Ok(ws.on_upgrade(move |socket| async move {
        let session = Session::start(socket);
        let status = if streams.tty {
            run_tty(&session, cmd, streams).await
        } else {
            run_pipes(&session, cmd, streams).await
        };
        session.finish(status).await;
    }))
}

async fn pump<R: AsyncRead + Unpin>(mut r: R, w: ChannelWriter) {
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if w.send(&buf[..n]).await.is_err() {
                    break;
                }
            }
        }
    }
}

fn exit_code(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
}

/// Waits for the client to disconnect.
async fn client_gone(session: &Session) {
    let mut gone = session.gone.clone();
    let _ = gone.wait_for(|g| *g).await;
}

async fn run_pipes(session: &Session, cmd: std::process::Command, s: Streams) -> serde_json::Value {
    let mut cmd = tokio::process::Command::from(cmd);
    let pipe = |on: bool| if on { Stdio::piped() } else { Stdio::null() };
    cmd.stdin(pipe(s.stdin))
        .stdout(pipe(s.stdout))
        .stderr(pipe(s.stderr))
        .kill_on_drop(true);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return channel::error_status(&format!("starting the exec helper: {e}")),
    };
    if let (Some(mut w), Some(mut rx)) = (child.stdin.take(), session.take_stdin()) {
        tokio::spawn(async move {
            while let Some(b) = rx.recv().await {
                if w.write_all(&b).await.is_err() {
                    break;
                }
            }
            // Dropping `w` closes the pipe: the process sees EOF.
        });
    }
    let out = child
        .stdout
        .take()
        .map(|r| tokio::spawn(pump(r, session.writer(STDOUT))));
    let err = child
        .stderr
        .take()
        .map(|r| tokio::spawn(pump(r, session.writer(STDERR))));
    let status = tokio::select! {
        st = child.wait() => st,
        _ = client_gone(session) => {
            let _ = child.kill().await;
            return channel::exit_status(0);
        }
    };
    // All output is sent before the status, which ends the session.
    for t in [out, err].into_iter().flatten() {
        let _ = t.await;
    }
    match status {
        Ok(st) => channel::exit_status(exit_code(st)),
        Err(e) => channel::error_status(&format!("waiting for the exec helper: {e}")),
    }
}

async fn run_tty(session: &Session, cmd: std::process::Command, s: Streams) -> serde_json::Value {
    // kubectl sends the terminal size right after connecting; wait a moment
    // for it so the process starts with the right size (the exec helper
    // copies the size of its stdin terminal once, at start).
    let mut resize = session.take_resize();
    let mut size = None;
    if let Some(rx) = resize.as_mut() {
        if let Ok(Some(sz)) = tokio::time::timeout(Duration::from_millis(300), rx.recv()).await {
            size = Some(sz);
        }
    }
    let winsize = size.map(|sz| nix::pty::Winsize {
        ws_row: sz.height,
        ws_col: sz.width,
        ws_xpixel: 0,
        ws_ypixel: 0,
    });
    let pty = match nix::pty::openpty(winsize.as_ref(), None) {
        Ok(p) => p,
        Err(e) => return channel::error_status(&format!("openpty: {e}")),
    };
    // Raw: the helper runs the real terminal inside the container; this
    // outer one must pass bytes through untouched (no echo, no CR/LF games).
    if let Ok(mut t) = nix::sys::termios::tcgetattr(&pty.slave) {
        nix::sys::termios::cfmakeraw(&mut t);
        let _ = nix::sys::termios::tcsetattr(&pty.slave, nix::sys::termios::SetArg::TCSANOW, &t);
    }
    let slave = std::fs::File::from(pty.slave);
    let master = std::fs::File::from(pty.master);
    let stdio = || slave.try_clone().map(Stdio::from);
    let (Ok(i), Ok(o), Ok(e)) = (stdio(), stdio(), stdio()) else {
        return channel::error_status("duplicating the terminal");
    };
    let mut cmd = tokio::process::Command::from(cmd);
    cmd.stdin(i).stdout(o).stderr(e).kill_on_drop(true);
    let child = cmd.spawn();
    // Our copies of the slave must go, or reading the master never ends.
    drop(cmd);
    drop(slave);
    let mut child = match child {
        Ok(c) => c,
        Err(e) => return channel::error_status(&format!("starting the exec helper: {e}")),
    };
    let (Ok(mut to_master), Ok(resize_fd)) = (master.try_clone(), master.try_clone()) else {
        return channel::error_status("duplicating the terminal");
    };
    if let (true, Some(mut rx)) = (s.stdin, session.take_stdin()) {
        std::thread::spawn(move || {
            while let Some(b) = rx.blocking_recv() {
                if to_master.write_all(&b).is_err() {
                    break;
                }
            }
        });
    }
    if let Some(mut rx) = resize {
        tokio::spawn(async move {
            while let Some(sz) = rx.recv().await {
                let ws = rustix::termios::Winsize {
                    ws_row: sz.height,
                    ws_col: sz.width,
                    ws_xpixel: 0,
                    ws_ypixel: 0,
                };
                let _ = rustix::termios::tcsetwinsize(&resize_fd, ws);
            }
        });
    }
    let out = session.writer(STDOUT);
    let reader = tokio::task::spawn_blocking(move || {
        let mut master = master;
        let mut buf = vec![0u8; 32 * 1024];
        // EIO once the last slave holder exits.
        while let Ok(n) = master.read(&mut buf) {
            if n == 0 || out.blocking_send(&buf[..n]).is_err() {
                break;
            }
        }
    });
    let status = tokio::select! {
        st = child.wait() => st,
        _ = client_gone(session) => {
            let _ = child.kill().await;
            return channel::exit_status(0);
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(5), reader).await;
    match status {
        Ok(st) => channel::exit_status(exit_code(st)),
        Err(e) => channel::error_status(&format!("waiting for the exec helper: {e}")),
    }
}

/// `/attach/{ns}/{pod}/{container}`.
pub async fn attach(
    st: State<super::State>,
    Path((ns, pod, container)): Path<(String, String, String)>,
    query: RawQuery,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, Error> {
    attach_to(st, ns, pod, None, container, query, ws).await
}

/// `/attach/{ns}/{pod}/{uid}/{container}`.
pub async fn attach_uid(
    st: State<super::State>,
    Path((ns, pod, uid, container)): Path<(String, String, String, String)>,
    query: RawQuery,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, Error> {
    attach_to(st, ns, pod, Some(uid), container, query, ws).await
}

async fn attach_to(
    State(st): State<super::State>,
    ns: String,
    pod: String,
    uid: Option<String>,
    container: String,
    RawQuery(query): RawQuery,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, Error> {
    let q = query_pairs(query.as_deref());
    let mut streams = Streams::from_query(&q);
    let sandbox = find_sandbox(&st.runtime, &ns, &pod, uid.as_deref())?;
    let info = find_container(&st.runtime, &sandbox, &container, false)?;
    if info.state.status != Status::Running {
        return Err(Error::BadRequest(format!(
            "container {container} is not running ({})",
            info.state.status
        )));
    }
    let stdin_path = if streams.stdin {
        Some(st.runtime.stdin_path(&info.spec.id).map_err(|_| {
            Error::BadRequest(format!(
                "stdin is not enabled for container {container}; set stdin: true in the pod spec"
            ))
        })?)
    } else {
        None
    };
    streams.tty = streams.tty && info.spec.config.tty;
    let ws = require_ws(ws)?.protocols(channel::PROTOCOLS);
    let runtime = st.runtime.clone();
    let id = info.spec.id.clone();
    let log_path = info.spec.log_path.clone();
    tracing::info!(pod = %format!("{ns}/{pod}"), %container, "attach");
    Ok(ws.on_upgrade(move |socket| async move {
        let session = Session::start(socket);
        if let (Some(path), Some(mut rx)) = (stdin_path, session.take_stdin()) {
            std::thread::spawn(move || {
                // The monitor holds the FIFO's read end, so this open does
                // not block for long.
                let Ok(mut fifo) = std::fs::OpenOptions::new().write(true).open(&path) else {
                    return;
                };
                while let Some(b) = rx.blocking_recv() {
                    if fifo.write_all(&b).is_err() {
                        break;
                    }
                }
            });
        }
        let out = session.writer(STDOUT);
        let err = session.writer(if streams.tty { STDOUT } else { STDERR });
        let gone = session.gone.clone();
        let follower = tokio::task::spawn_blocking(move || {
            let opts = container_runtime::logs::Options {
                tail: Some(0),
                follow: true,
                ..Default::default()
            };
            let mut done = || {
                *gone.borrow()
                    || runtime
                        .container(&id)
                        .map(|c| c.state.status != Status::Running)
                        .unwrap_or(true)
            };
            let mut emit = |stream, data: &[u8]| {
                let w = match stream {
                    container_runtime::logs::Stream::Stdout => &out,
                    container_runtime::logs::Stream::Stderr => &err,
                };
                let wanted = match stream {
                    container_runtime::logs::Stream::Stdout => streams.stdout,
                    container_runtime::logs::Stream::Stderr => streams.stderr || streams.tty,
                };
                if wanted {
                    let _ = w.blocking_send(data);
                }
            };
            let _ = container_runtime::logs::read(&log_path, &opts, &mut done, &mut emit);
        });
        let _ = follower.await;
        session.finish(channel::exit_status(0)).await;
    }))
}
