//! `kubeadm upgrade apply` and `kubeadm upgrade node`: this node's
//! control plane and kubelet restarted on new binaries (the issue's
//! "upgrade-style restart"; upstream swaps the images of its static Pods).
//!
//! Each unit kubeadm wrote whose program has a namesake in the new
//! binaries directory gets that program, flags unchanged; then the units
//! restart in upstream's order, the apiserver first and healthy (its
//! `/readyz`, through the CA of `controller-manager.conf`) before the
//! controller-manager, the scheduler and the kubelet. Supervised processes
//! (`--control-plane-runner processes`) restart together with their
//! supervisor. Upstream's version skew checks and the stored
//! configuration's upgrade are not done: the binaries are whatever the
//! directory holds.

use std::path::Path;
use std::time::Duration;

use crate::controlplane::{self, Unit};
use crate::paths::Paths;
use crate::{apiclient, init, kubeconfig, supervisor, Error};

/// The order units restart in.
const ORDER: [&str; 5] = [
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubelet",
];

/// `unit` with its program taken from `dir` when `dir` has it; `None`
/// when it stays as it is.
pub fn with_binaries_from(unit: &Unit, dir: &Path) -> Option<Unit> {
    let program = Path::new(unit.exec.first()?);
    let new = dir.join(program.file_name()?);
    if new == program || !new.exists() {
        return None;
    }
    let mut moved = unit.clone();
    moved.exec[0] = new.display().to_string();
    Some(moved)
}

/// Moves this node's units to the binaries in `dir` and restarts them;
/// returns the units that moved.
pub async fn run(paths: &Paths, dir: &Path, timeout: Duration) -> Result<Vec<String>, Error> {
    let units_dir = paths.units_dir();
    let mut written = controlplane::written(&units_dir);
    if written.is_empty() {
        return Err(Error::Preflight(format!(
            "no unit written by kubeadm in {}: nothing to upgrade",
            units_dir.display()
        )));
    }
    written.sort_by_key(|u| ORDER.iter().position(|o| *o == u.name));
    let mut moved = Vec::new();
    for unit in &written {
        if let Some(new) = with_binaries_from(unit, dir) {
            println!(
                "[upgrade/units] {:?}: {} -> {}",
                unit.name, unit.exec[0], new.exec[0]
            );
            controlplane::write(&units_dir, &new)?;
            moved.push(new.name);
        }
    }
    if moved.is_empty() {
        println!(
            "[upgrade] No binary of {} is new: nothing restarted",
            dir.display()
        );
        return Ok(moved);
    }
    let health = written
        .iter()
        .any(|u| u.name == "kube-apiserver")
        .then(|| kubeconfig::read(&paths.kubeconfig("controller-manager.conf")))
        .transpose()?;
    if supervisor::running(paths) {
        println!("[upgrade] Restarting the supervised processes");
        supervisor::stop(paths);
        supervisor::spawn(paths).map_err(|e| Error::Start(format!("kubeadm supervise: {e}")))?;
        if let Some(local) = &health {
            wait(local, timeout).await?;
        }
    } else {
        if !paths.is_host() {
            return Err(Error::Start(
                "no supervised processes under --host-root, and systemd units outside / are not restarted".into(),
            ));
        }
        init::systemctl(&["daemon-reload"])?;
        for name in &moved {
            println!("[upgrade] Restarting {name}.service");
            init::systemctl(&["restart", &format!("{name}.service")])?;
            if name == "kube-apiserver" {
                if let Some(local) = &health {
                    wait(local, timeout).await?;
                }
            }
        }
    }
    println!(
        "\n[upgrade] SUCCESS! This node runs the binaries of {}.",
        dir.display()
    );
    Ok(moved)
}

async fn wait(local: &kubeconfig::Parsed, timeout: Duration) -> Result<(), Error> {
    let probe = apiclient::anonymous(&local.server, Some(&local.ca_pem))?;
    let took = apiclient::wait_healthy(&probe, &local.server, timeout).await?;
    println!("[upgrade] The API server is healthy after {took:?}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_unit_takes_the_new_directorys_namesake_only() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("apiserver"), "").unwrap();
        let unit = |program: &str| Unit {
            name: "kube-apiserver".into(),
            description: "d".into(),
            exec: vec![program.into(), "--secure-port=6443".into()],
            after: vec![],
            delegate: false,
        };
        let moved = with_binaries_from(&unit("/usr/local/bin/apiserver"), dir.path()).unwrap();
        assert_eq!(
            moved.exec[0],
            dir.path().join("apiserver").display().to_string()
        );
        assert_eq!(moved.exec[1], "--secure-port=6443");
        assert!(with_binaries_from(&unit("/usr/bin/etcd"), dir.path()).is_none());
        assert!(
            with_binaries_from(&moved, dir.path()).is_none(),
            "already there"
        );
    }
}
