//! The launcher: one process per runtime that starts every monitor by forking.
//!
//! Each container is owned by a monitor ([`crate::monitor`]), a process that
//! must outlive the kubelet. The kubelet has many threads and so cannot fork
//! safely; executing the runtime's binary for every monitor instead cost
//! about 0.7 ms of each container start (loading and relocating the binary,
//! the C and Rust start-up), the largest single step the runtime took in user
//! space. So the runtime executes its binary once, as `__launcher <root-dir>`, with one
//! end of a socket pair as its stdin, and for every container sends it one
//! message:
//!
//! ```text
//! data:        the container's directory
//! SCM_RIGHTS:  [report pipe (write end), monitor.log]
//! ```
//!
//! The launcher has one thread, so it may fork ([`single_threaded_fork`]);
//! the child puts the report pipe on its stdout and the log on its stderr and
//! becomes the container's monitor at once, which reports `ok <pid>` (or
//! `error: ...`) on that pipe as it always did. The launcher answers every
//! request on the socket once it has forked (the monitor's pid, 0 when the
//! fork failed and the error is on the report pipe), so the runtime can tell
//! a launcher that died before forking (no answer, nothing reported: ask a new
//! launcher) from a monitor that died (answered, nothing reported: an error).
//! A launcher that does not answer within seconds (stopped, hung) is killed
//! and replaced the same way.
//!
//! ```text
//! kubelet ══socket══> container-runtime __launcher      one per runtime
//!                      ├─ (fork) monitor <dir>           one per container
//!                      │   └─ (fork) init ==execve==> the container's command
//!                      └─ (fork) monitor <dir>
//! ```
//!
//! The launcher keeps no state: it reaps the monitors it forked (a `SIGCHLD`
//! signalfd) and exits when the runtime closes the socket, also when the
//! kubelet is killed. Its monitors then live on like any orphaned process
//! (they called `setsid`), and the next runtime starts a launcher of its own.
//! A runtime whose launcher died starts another one and asks again.

use std::ffi::OsStr;
use std::io::{IoSlice, IoSliceMut, Read, Write};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use rustix::net::{
    AddressFamily, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags, SocketFlags, SocketType,
};
use single_threaded_fork::Forked;

use crate::{Error, Result, Runtime};

/// The longest directory a request may name (Linux's `PATH_MAX`).
const MAX_REQUEST: usize = 4096;

/// How long the runtime waits for the launcher to fork one monitor (about
/// a quarter of a millisecond) before it takes the launcher for stuck
/// (stopped, or hung in the kernel), kills it and asks a new one: every
/// start waits on the launcher in turn, so one stuck launcher would stop
/// every container start of the node.
const ANSWER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// The runtime's side: the launcher process and our end of its socket.
pub(crate) struct Launcher {
    sock: OwnedFd,
    process: Child,
}

impl Launcher {
    /// Executes `binary __launcher <root_dir>` with the other end of a new
    /// socket pair as its stdin.
    fn spawn(binary: &Path, root_dir: &Path) -> std::io::Result<Launcher> {
        // Close-on-exec on both: no other helper the runtime starts may hold
        // an end, or the launcher would never see the runtime go.
        let (ours, theirs) = rustix::net::socketpair(
            AddressFamily::UNIX,
            SocketType::SEQPACKET,
            SocketFlags::CLOEXEC,
            None,
        )?;
        rustix::net::sockopt::set_socket_timeout(
            &ours,
            rustix::net::sockopt::Timeout::Recv,
            Some(ANSWER_TIMEOUT),
        )?;
        let process = Command::new(binary)
            .arg("__launcher")
            .arg(root_dir)
            .stdin(Stdio::from(theirs))
            .stdout(Stdio::null())
            .spawn()?;
        Ok(Launcher {
            sock: ours,
            process,
        })
    }

    /// Asks for a monitor of the container in `dir`, reporting on `report`
    /// and logging to `log`. Fails when the launcher is gone.
    fn request(&self, dir: &Path, report: BorrowedFd, log: BorrowedFd) -> std::io::Result<()> {
        let fds = [report, log];
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(2))];
        let mut control = SendAncillaryBuffer::new(&mut space);
        control.push(SendAncillaryMessage::ScmRights(&fds));
        // NOSIGNAL: a dead launcher is an error to handle, not a SIGPIPE.
        rustix::net::sendmsg(
            &self.sock,
            &[IoSlice::new(dir.as_os_str().as_bytes())],
            &mut control,
            SendFlags::NOSIGNAL,
        )?;
        Ok(())
    }

    /// Waits for the launcher's answer to the request just sent (it sends
    /// one once it has forked: the monitor's pid, or 0 if the fork failed;
    /// only its arrival matters here). False when the launcher went away
    /// before answering, or did not answer in [`ANSWER_TIMEOUT`] (it is
    /// killed then: it must not fork later a monitor nobody waits for).
    fn answered(&mut self) -> bool {
        let mut pid = [0u8; 4];
        loop {
            match rustix::net::recv(&self.sock, &mut pid, RecvFlags::empty()) {
                Ok((4, 4)) => return true,
                Err(rustix::io::Errno::INTR) => continue,
                Err(rustix::io::Errno::AGAIN) => {
                    tracing::warn!(
                        pid = self.process.id(),
                        "monitor launcher did not answer in {ANSWER_TIMEOUT:?}; killing it"
                    );
                    let _ = self.process.kill();
                    return false;
                }
                // 0 bytes: the launcher's end closed; anything else is not
                // our launcher speaking.
                _ => return false,
            }
        }
    }
}

impl Drop for Launcher {
    fn drop(&mut self) {
        // End of requests: the launcher exits (its monitors do not).
        let _ = rustix::net::shutdown(&self.sock, rustix::net::Shutdown::Both);
        let _ = self.process.wait();
    }
}

impl Runtime {
    /// Starts the monitor of the container in `dir` through the launcher
    /// (started on first use, and again if it died) and returns the one line
    /// the monitor reports (`ok <pid>` or `error: ...`; empty when it exited
    /// without one) and the pipe it reported on, which reaches EOF once the
    /// monitor has recorded the container's exit.
    pub(crate) fn launch_monitor(
        &self,
        dir: &Path,
        log: std::fs::File,
    ) -> Result<(String, std::fs::File)> {
        let spawn_err = |reason: String| Error::Spawn {
            what: format!("monitor launcher {}", self.cfg.binary.display()),
            reason,
        };
        let mut retried = false;
        loop {
            let (report_r, report_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
                .map_err(|e| spawn_err(format!("pipe: {e}")))?;
            let forked = {
                let mut launcher = self
                    .launcher
                    .lock()
                    .map_err(|_| spawn_err("a thread panicked while starting a monitor".into()))?;
                let mut current = match launcher.take() {
                    Some(l) => l,
                    None => Launcher::spawn(&self.cfg.binary, &self.cfg.root_dir)
                        .map_err(|e| spawn_err(e.to_string()))?,
                };
                // Sending fails on a launcher that is gone; a launcher killed
                // but not yet gone takes the request and never answers.
                let forked = current.request(dir, report_w.as_fd(), log.as_fd()).is_ok()
                    && current.answered();
                if forked {
                    *launcher = Some(current);
                }
                // Otherwise dropping `current` reaps the dead one.
                forked
            };
            // Only the monitor holds the write end now: EOF once it has
            // recorded the container's exit, or died.
            drop(report_w);
            let (line, report) = read_report(report_r);
            if !forked && line.is_empty() {
                // The launcher died before it forked (a monitor that got as far
                // as reporting is the answer even from a dying launcher).
                if retried {
                    return Err(spawn_err("the monitor launcher died twice".into()));
                }
                tracing::warn!("monitor launcher gone, starting another");
                retried = true;
                continue;
            }
            return Ok((line, report));
        }
    }
}

/// Reads the monitor's one-line report from the pipe's read end; the pipe is
/// returned to wait on for its EOF.
fn read_report(report_r: OwnedFd) -> (String, std::fs::File) {
    // Byte by byte up to the newline: nothing after it may be buffered
    // away, the rest of the pipe is its EOF.
    let mut report = std::fs::File::from(report_r);
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        match report.read(&mut byte) {
            Ok(1) if byte[0] == b'\n' => break,
            Ok(1) => line.push(byte[0]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            _ => break,
        }
    }
    (String::from_utf8_lossy(&line).trim().to_string(), report)
}

/// Entry point of `container-runtime __launcher <root-dir>` (its stdin is
/// the socket).
pub fn main() -> i32 {
    match serve(std::io::stdin().as_fd()) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("launcher: {e}");
            1
        }
    }
}

/// Forks a monitor for every request on `sock` until it closes.
fn serve(sock: BorrowedFd) -> std::result::Result<(), String> {
    // SIGCHLD arrives as a readable descriptor, not as a handler.
    let mut chld = SigSet::empty();
    chld.add(Signal::SIGCHLD);
    let old_mask = chld
        .thread_swap_mask(SigmaskHow::SIG_BLOCK)
        .map_err(|e| format!("blocking SIGCHLD: {e}"))?;
    let sigfd = SignalFd::with_flags(&chld, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
        .map_err(|e| format!("signalfd: {e}"))?;
    let mut buf = vec![0u8; MAX_REQUEST];
    loop {
        let mut fds = [
            PollFd::new(sock, PollFlags::POLLIN),
            PollFd::new(sigfd.as_fd(), PollFlags::POLLIN),
        ];
        match poll(&mut fds, PollTimeout::NONE) {
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(format!("poll: {e}")),
            Ok(_) => {}
        }
        let (request, reaping) = (
            fds[0].revents().is_some_and(|r| !r.is_empty()),
            fds[1].revents().is_some_and(|r| !r.is_empty()),
        );
        if reaping {
            while let Ok(Some(_)) = sigfd.read_signal() {}
            reap();
        }
        if !request {
            continue;
        }
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(2))];
        let mut control = RecvAncillaryBuffer::new(&mut space);
        let msg = match rustix::net::recvmsg(
            sock,
            &mut [IoSliceMut::new(&mut buf)],
            &mut control,
            RecvFlags::CMSG_CLOEXEC,
        ) {
            Ok(m) => m,
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(format!("receiving a request: {e}")),
        };
        let mut passed: Vec<OwnedFd> = Vec::new();
        for m in control.drain() {
            if let RecvAncillaryMessage::ScmRights(fds) = m {
                passed.extend(fds);
            }
        }
        if msg.bytes == 0 && passed.is_empty() {
            // The runtime closed its end.
            return Ok(());
        }
        let dir = PathBuf::from(OsStr::from_bytes(&buf[..msg.bytes.min(buf.len())]));
        let [report, log]: [OwnedFd; 2] = match passed.try_into() {
            Ok(fds) => fds,
            // Not a request of ours: dropping what came closes it, and a
            // report pipe among it reads as "exited without reporting".
            Err(_) => {
                answer(sock, 0);
                continue;
            }
        };
        crate::timing("launcher request");
        match single_threaded_fork::fork() {
            Ok(Forked::Child) => {
                crate::timing("launcher forked");
                std::process::exit(become_monitor(&dir, report, log, sigfd, old_mask))
            }
            Ok(Forked::Parent(pid)) => {
                drop((report, log));
                answer(sock, pid.as_raw());
            }
            Err(e) => {
                let msg = format!("error: forking the monitor: {e}\n");
                let _ = std::fs::File::from(report).write_all(msg.as_bytes());
                answer(sock, 0);
            }
        }
    }
}

/// In the forked child: the report pipe on stdout, the log on stderr,
/// `/dev/null` on stdin (closing our copy of the socket), the signal mask
/// the launcher started with, then the monitor.
fn become_monitor(dir: &Path, report: OwnedFd, log: OwnedFd, sigfd: SignalFd, mask: SigSet) -> i32 {
    drop(sigfd);
    // Init inherits the mask across its execve: a container must not start
    // with SIGCHLD blocked.
    if mask.thread_set_mask().is_err() {
        return 125;
    }
    let null = match std::fs::File::open("/dev/null") {
        Ok(f) => f,
        Err(_) => return 125,
    };
    if nix::unistd::dup2_stdin(&null)
        .and_then(|_| nix::unistd::dup2_stdout(&report))
        .and_then(|_| nix::unistd::dup2_stderr(&log))
        .is_err()
    {
        return 125;
    }
    drop((null, report, log));
    // `ps -o comm` tells the monitors from the launcher they are copies of.
    let _ = nix::sys::prctl::set_name(c"monitor");
    crate::monitor::main(dir)
}

/// Tells the runtime that its request was handled (see [`Launcher::answered`]).
fn answer(sock: BorrowedFd, pid: i32) {
    // A runtime that is gone finds out by itself; the next recv sees the end.
    let _ = rustix::net::send(sock, &pid.to_le_bytes(), SendFlags::NOSIGNAL);
}

/// Collects every monitor that has exited.
fn reap() {
    while let Ok(status) = waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
        if status == WaitStatus::StillAlive {
            break;
        }
    }
}
