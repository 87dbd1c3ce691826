//! `kubeadm supervise`: runs the units kubeadm wrote as child processes,
//! for machines where kubeadm may not use systemd (tests, network-
//! namespace "machines"). It behaves as systemd does with those units:
//! starts them in order, restarts any that exits after a second
//! (`Restart=always`, `RestartSec=1`), and on SIGTERM stops them all.
//!
//! `init`/`join` with `--control-plane-runner processes` start it detached
//! in its own process group (its pid in `/run/kubeadm/supervise.pid`, each
//! unit's output in `/var/log/kubeadm/<unit>.log`); `reset` stops it.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::Pid;

use crate::controlplane;
use crate::paths::Paths;

/// The supervisor's pid file.
pub fn pid_file(paths: &Paths) -> PathBuf {
    paths.run_dir().join("supervise.pid")
}

/// Starts `kubeadm supervise` (this same executable) detached.
pub fn spawn(paths: &Paths) -> std::io::Result<u32> {
    use std::os::unix::process::CommandExt;
    std::fs::create_dir_all(paths.log_dir())?;
    std::fs::create_dir_all(paths.run_dir())?;
    let log = std::fs::File::create(paths.log_dir().join("supervise.log"))?;
    let child = std::process::Command::new(std::env::current_exe()?)
        .arg("supervise")
        .arg("--host-root")
        .arg(paths.root())
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        // Its own group: it outlives `init`, and `reset` can stop the group.
        .process_group(0)
        .spawn()?;
    std::fs::write(pid_file(paths), child.id().to_string())?;
    Ok(child.id())
}

/// Runs the units under `paths` until SIGTERM or SIGINT.
pub async fn run(paths: &Paths) -> std::io::Result<()> {
    let units = controlplane::written(&paths.units_dir());
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut tasks = Vec::new();
    for unit in units {
        let log = paths.log_dir().join(format!("{}.log", unit.name));
        tasks.push(tokio::spawn(keep_running(unit, log, stop_rx.clone())));
        // etcd before the apiserver before the rest, as After= says.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    let _ = stop_tx.send(true);
    for t in tasks {
        let _ = t.await;
    }
    Ok(())
}

async fn keep_running(
    unit: controlplane::Unit,
    log: PathBuf,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let Some((program, args)) = unit.exec.split_first() else {
        return;
    };
    loop {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log);
        let (stdout, stderr) = match out.and_then(|f| Ok((f.try_clone()?, f))) {
            Ok((a, b)) => (Stdio::from(a), Stdio::from(b)),
            Err(_) => (Stdio::null(), Stdio::null()),
        };
        let child = tokio::process::Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn();
        match child {
            Ok(mut child) => {
                tokio::select! {
                    _ = child.wait() => {}
                    _ = stop.changed() => {
                        terminate(&mut child).await;
                        return;
                    }
                }
            }
            Err(e) => append(
                &log,
                &format!("kubeadm supervise: starting {program}: {e}\n"),
            ),
        }
        // Restart=always, RestartSec=1.
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = stop.changed() => return,
        }
    }
}

fn append(log: &Path, line: &str) {
    use std::io::Write;
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
    {
        let _ = f.write_all(line.as_bytes());
    }
}

async fn terminate(child: &mut tokio::process::Child) {
    if let Some(pid) = child.id().and_then(|p| i32::try_from(p).ok()) {
        let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
    }
    if tokio::time::timeout(Duration::from_secs(5), child.wait())
        .await
        .is_err()
    {
        let _ = child.kill().await;
    }
}

/// Stops the supervisor under `paths` (if running) and its children:
/// SIGTERM, then SIGKILL to the whole group after 10 s.
pub fn stop(paths: &Paths) -> bool {
    let Ok(text) = std::fs::read_to_string(pid_file(paths)) else {
        return false;
    };
    let Ok(pid) = text.trim().parse::<i32>() else {
        return false;
    };
    let pid = Pid::from_raw(pid);
    if kill(pid, Signal::SIGTERM).is_ok() {
        for _ in 0..100 {
            std::thread::sleep(Duration::from_millis(100));
            if kill(pid, None).is_err() || is_zombie(pid) {
                break;
            }
        }
    }
    // Whatever is left of the group (a child that ignored SIGTERM).
    let _ = killpg(pid, Signal::SIGKILL);
    let _ = std::fs::remove_file(pid_file(paths));
    true
}

fn is_zombie(pid: Pid) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            s.rsplit_once(") ")
                .map(|(_, r)| r.starts_with('Z'))
                .unwrap_or(false)
        })
        .unwrap_or(true)
}
