//! The runtime's records live in memory: a tmpfs on `<root-dir>/run`.
//!
//! What the runtime writes about its pods and containers only means
//! something while the machine is up: after a reboot none of those
//! processes exists. So, as containerd keeps its task state in
//! `/run/containerd` and runc in `/run/runc`, the runtime keeps these
//! records on a tmpfs it mounts on `<root-dir>/run` when it makes its first
//! pod ([`prepare`]):
//!
//! ```text
//! <root-dir>/run/sandboxes/<id>/    sandbox.json, ns/ (pinned namespaces),
//!                                   hosts, hostname, resolv.conf
//! <root-dir>/run/containers/<id>/   spec.json, state.json, monitor.log,
//!                                   stdin (FIFO), rootfs/ (mount point)
//! <root-dir>/containers/<id>/       upper/, work/: the writable layer, on disk
//! <root-dir>/images/                the image store, on disk
//! ```
//!
//! Only what can be large stays on disk: the images and each container's
//! writable layer.
//!
//! Why in memory: a pod makes and deletes some twenty small files and
//! directories (records replaced by renaming a new file over them, the
//! namespace pins, the `/etc` files). On a disk file system each is an inode
//! allocated and soon freed, and ext4 without a journal even skips every
//! inode freed in the last minutes when it allocates one, so at a steady
//! pod churn each allocation scanned further: on this project's test
//! machine that was about 2.5 of the 8.5 ms a pod took from sandbox to
//! removal (`hack/bench-runtime.sh`).
//!
//! A freshly mounted tmpfs means no container of before exists (the machine
//! rebooted, or the mount was removed with everything it held), so writable
//! layers left on disk then belong to nobody and are deleted. The mount
//! outlives the runtime's process, as the pinned namespaces do: a restarted
//! kubelet finds its records again; `kubeadm reset` unmounts it. Where it
//! cannot be mounted (no `CAP_SYS_ADMIN`) or already holds records on
//! disk, the records stay on disk in the same place.
//!
//! A runtime from before this kept every record on disk, a container's
//! beside its writable layer in `<root-dir>/containers/<id>`. A kubelet
//! upgraded in place while such pods run keeps using that layout until
//! none of them is left ([`records_root`]), so it finds, runs and removes
//! them as before.

use crate::{io_err, Result};
use nix::mount::{mount, MsFlags};
use std::fs;
use std::path::{Path, PathBuf};

/// The directory below the runtime's root dir.
pub const RUN_DIR: &str = "run";

/// Record directories in it (and, for containers, the on-disk writable
/// layers' directory below the root dir).
pub const SANDBOXES: &str = "sandboxes";
/// See [`SANDBOXES`].
pub const CONTAINERS: &str = "containers";

/// Where a runtime opened on `root` keeps its `sandboxes/` and
/// `containers/` records: `<root>/run`, unless a runtime from before that
/// move still has pods recorded in `<root>/sandboxes` (with each
/// container's records beside its writable layer in `<root>/containers`).
/// Then there, as that runtime did, so a kubelet upgraded in place finds the
/// pods that kept running; once none is left, the next start moves to
/// `<root>/run`.
pub fn records_root(root: &Path) -> PathBuf {
    let earlier = root.join(SANDBOXES);
    if fs::read_dir(&earlier).is_ok_and(|mut d| d.next().is_some()) {
        root.to_path_buf()
    } else {
        root.join(RUN_DIR)
    }
}

/// What [`prepare`] found or did.
#[derive(Debug, PartialEq, Eq)]
pub enum Prepared {
    /// It mounted a new tmpfs; this many orphaned writable layers were
    /// deleted.
    Mounted {
        /// Writable layers without a container, removed.
        orphans_removed: usize,
    },
    /// Already a tmpfs (mounted before, or the root dir is in memory).
    InMemory,
    /// The records stay on disk: the directory holds some already, or the
    /// mount was refused (the reason).
    OnDisk(String),
}

/// Makes `<root>/run` a tmpfs unless it is one already, and its record
/// directories. Several processes may open the same root (the kubelet and
/// `kubelet ctl`): a lock file makes the check and the mount one step.
pub fn prepare(root: &Path) -> Result<Prepared> {
    let dir = root.join(RUN_DIR);
    fs::create_dir_all(&dir).map_err(io_err(&dir))?;
    let lock_path = root.join("run.lock");
    let _lock = crate::lock_file(&lock_path).map_err(io_err(&lock_path))?;
    let outcome = if is_tmpfs(&dir) {
        Prepared::InMemory
    } else if !holds_nothing(&dir) {
        Prepared::OnDisk(format!("{} already holds records", dir.display()))
    } else {
        match mount(
            Some("tmpfs"),
            &dir,
            Some("tmpfs"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            Some("mode=0755"),
        ) {
            Ok(()) => Prepared::Mounted {
                orphans_removed: remove_orphaned_layers(&root.join(CONTAINERS)),
            },
            Err(e) => Prepared::OnDisk(format!("mounting a tmpfs on {}: {e}", dir.display())),
        }
    };
    for sub in [SANDBOXES, CONTAINERS] {
        let d = dir.join(sub);
        fs::create_dir_all(&d).map_err(io_err(&d))?;
    }
    Ok(outcome)
}

fn is_tmpfs(dir: &Path) -> bool {
    nix::sys::statfs::statfs(dir)
        .map(|s| s.filesystem_type() == nix::sys::statfs::TMPFS_MAGIC)
        .unwrap_or(false)
}

/// Whether `dir` holds nothing but empty record directories (what
/// [`crate::Runtime::new`] makes before the first pod).
fn holds_nothing(dir: &Path) -> bool {
    let Ok(entries) = fs::read_dir(dir) else {
        return false;
    };
    entries.flatten().all(|e| {
        let name = e.file_name();
        (name == SANDBOXES || name == CONTAINERS)
            && fs::read_dir(e.path()).is_ok_and(|mut d| d.next().is_none())
    })
}

/// Deletes the writable layers in `dir` (`<root>/containers`): with a new,
/// empty run directory no container of theirs exists. A directory with a
/// `spec.json` is a container of a runtime that kept its records beside
/// the layer (before the run directory): it is left alone.
fn remove_orphaned_layers(dir: &Path) -> usize {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    let mut removed = 0;
    for e in entries.flatten() {
        let path = e.path();
        if path.join("spec.json").exists() {
            continue;
        }
        match fs::remove_dir_all(&path) {
            Ok(()) => removed += 1,
            Err(err) => {
                tracing::warn!(path = %path.display(), error = %err, "removing an orphaned writable layer")
            }
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root_tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("run-dir-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn empty_record_directories_hold_nothing_and_a_record_does() {
        let root = root_tmp("nothing");
        let run = root.join(RUN_DIR);
        fs::create_dir_all(run.join(SANDBOXES)).unwrap();
        fs::create_dir_all(run.join(CONTAINERS)).unwrap();
        assert!(holds_nothing(&run));
        fs::create_dir_all(run.join(CONTAINERS).join("abc")).unwrap();
        assert!(!holds_nothing(&run));
        fs::remove_dir_all(run.join(CONTAINERS).join("abc")).unwrap();
        fs::write(run.join("other"), "").unwrap();
        assert!(!holds_nothing(&run));
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn records_stay_where_an_earlier_runtime_has_pods_until_none_is_left() {
        let root = root_tmp("records");
        assert_eq!(records_root(&root), root.join(RUN_DIR));
        fs::create_dir_all(root.join(SANDBOXES)).unwrap();
        assert_eq!(records_root(&root), root.join(RUN_DIR), "an empty one");
        fs::create_dir_all(root.join(SANDBOXES).join("abc")).unwrap();
        assert_eq!(records_root(&root), root);
        fs::remove_dir_all(root.join(SANDBOXES).join("abc")).unwrap();
        assert_eq!(records_root(&root), root.join(RUN_DIR));
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn orphaned_layers_go_and_a_container_with_its_records_beside_stays() {
        let root = root_tmp("orphans");
        let layers = root.join(CONTAINERS);
        fs::create_dir_all(layers.join("orphan/upper/etc")).unwrap();
        fs::create_dir_all(layers.join("orphan/work")).unwrap();
        fs::create_dir_all(layers.join("older/upper")).unwrap();
        fs::write(layers.join("older/spec.json"), "{}").unwrap();
        assert_eq!(remove_orphaned_layers(&layers), 1);
        assert!(!layers.join("orphan").exists());
        assert!(layers.join("older/upper").is_dir());
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn prepare_mounts_once_and_a_second_open_finds_it_in_memory() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: mounting a tmpfs needs root");
            return;
        }
        let root = root_tmp("mount");
        if is_tmpfs(&root) {
            eprintln!("skipped: the temp dir is in memory already");
            fs::remove_dir_all(&root).unwrap();
            return;
        }
        fs::create_dir_all(root.join(CONTAINERS).join("left/upper")).unwrap();
        let first = prepare(&root).unwrap();
        let second = prepare(&root);
        let mounted = is_tmpfs(&root.join(RUN_DIR));
        let records = root.join(RUN_DIR).join(SANDBOXES).is_dir();
        let _ = nix::mount::umount2(&root.join(RUN_DIR), nix::mount::MntFlags::MNT_DETACH);
        let orphan_left = root.join(CONTAINERS).join("left").exists();
        fs::remove_dir_all(&root).unwrap();
        assert_eq!(first, Prepared::Mounted { orphans_removed: 1 });
        assert_eq!(second.unwrap(), Prepared::InMemory);
        assert!(mounted && records && !orphan_left);
    }
}
