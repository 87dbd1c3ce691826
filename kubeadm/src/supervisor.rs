//! `kubeadm supervise`: runs the units kubeadm wrote as child processes,
//! for machines where kubeadm may not use systemd (tests, network-
//! namespace "machines"). It behaves as systemd does with those units:
//! starts them in order, restarts any that exits after a second
//! (`Restart=always`, `RestartSec=1`), and on SIGTERM stops them all.
//!
//! `init`/`join` with `--control-plane-runner processes` start it detached
//! in its own process group (its pid in `/run/kubeadm/supervise.pid`, each
//! unit's output in `/var/log/kubeadm/<unit>.log`); `reset` stops it.
//!
//! Each running unit's pid is in `/run/kubeadm/<unit>.pid`. A file
//! `/run/kubeadm/hold/<unit>` holds the unit down: it is not (re)started
//! while the file exists, and is started again within 0.2 s of its
//! removal (ours, what `systemctl stop`/`start` are to systemd: a test
//! kills a component and keeps it down, then brings it back).

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

/// The pid file of a running unit.
pub fn unit_pid_file(paths: &Paths, unit: &str) -> PathBuf {
    paths.run_dir().join(format!("{unit}.pid"))
}

/// The file that holds a unit down while it exists.
pub fn hold_file(paths: &Paths, unit: &str) -> PathBuf {
    paths.run_dir().join("hold").join(unit)
}

/// Whether the supervisor of `paths` runs.
pub fn running(paths: &Paths) -> bool {
    let Ok(text) = std::fs::read_to_string(pid_file(paths)) else {
        return false;
    };
    text.trim()
        .parse::<i32>()
        .map(|p| Path::new(&format!("/proc/{p}")).exists())
        .unwrap_or(false)
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
        tasks.push(tokio::spawn(keep_running(
            unit,
            paths.clone(),
            stop_rx.clone(),
        )));
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
    paths: Paths,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let Some((program, args)) = unit.exec.split_first() else {
        return;
    };
    let log = paths.log_dir().join(format!("{}.log", unit.name));
    let pid_file = unit_pid_file(&paths, &unit.name);
    let hold = hold_file(&paths, &unit.name);
    loop {
        while hold.exists() {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                _ = stop.changed() => return,
            }
        }
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
                if let Some(pid) = child.id() {
                    let _ = std::fs::write(&pid_file, pid.to_string());
                }
                tokio::select! {
                    _ = child.wait() => {}
                    _ = stop.changed() => {
                        terminate(&mut child).await;
                        let _ = std::fs::remove_file(&pid_file);
                        return;
                    }
                }
                let _ = std::fs::remove_file(&pid_file);
            }
            Err(e) => append(
                &log,
                &format!("kubeadm supervise: starting {program}: {e}\n"),
            ),
        }
        // Restart=always, RestartSec=1 (at once when it was held down:
        // it was stopped on purpose, and starting it again is asked for).
        if hold.exists() {
            continue;
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn pid_of(paths: &Paths, unit: &str) -> Option<i32> {
        std::fs::read_to_string(unit_pid_file(paths, unit))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    async fn wait_for(mut f: impl FnMut() -> bool) -> bool {
        for _ in 0..100 {
            if f() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    }

    /// A killed unit comes back with a new pid; a held one stays down
    /// until its hold file is removed; stopping removes the pid file.
    #[tokio::test]
    async fn units_restart_unless_held_down() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::new(dir.path());
        std::fs::create_dir_all(paths.run_dir().join("hold")).unwrap();
        std::fs::create_dir_all(paths.log_dir()).unwrap();
        let unit = controlplane::Unit {
            name: "kube-scheduler".into(),
            description: "a stand-in".into(),
            exec: vec!["sleep".into(), "600".into()],
            after: vec![],
            delegate: false,
        };
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(keep_running(unit, paths.clone(), stop_rx));
        assert!(wait_for(|| pid_of(&paths, "kube-scheduler").is_some()).await);
        let first = pid_of(&paths, "kube-scheduler").unwrap();

        // Held down, then killed: it stays down.
        std::fs::write(hold_file(&paths, "kube-scheduler"), "").unwrap();
        kill(Pid::from_raw(first), Signal::SIGKILL).unwrap();
        assert!(wait_for(|| pid_of(&paths, "kube-scheduler").is_none()).await);
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(pid_of(&paths, "kube-scheduler"), None, "held down");

        // Released: it runs again.
        std::fs::remove_file(hold_file(&paths, "kube-scheduler")).unwrap();
        assert!(wait_for(|| pid_of(&paths, "kube-scheduler").is_some()).await);
        let second = pid_of(&paths, "kube-scheduler").unwrap();
        assert_ne!(first, second);

        // Killed without a hold: restarted after RestartSec.
        kill(Pid::from_raw(second), Signal::SIGKILL).unwrap();
        assert!(wait_for(|| pid_of(&paths, "kube-scheduler").is_some_and(|p| p != second)).await);

        stop_tx.send(true).unwrap();
        task.await.unwrap();
        assert_eq!(pid_of(&paths, "kube-scheduler"), None);
    }
}
