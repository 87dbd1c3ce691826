//! The node's mount template: a small mount namespace that containers
//! unshare from instead of the node's own.
//!
//! A container's init makes its mount namespace with `unshare(CLONE_NEWNS)`,
//! which copies every mount of the namespace it is in, and after
//! `pivot_root` it detaches the old root, which walks them all again. In the
//! node's namespace that is every pod's pinned namespaces and volume tmpfs
//! (four or more mounts per pod): at a hundred pods, each container start
//! copied and dropped some four hundred mounts it never uses, work that grew
//! with every pod on the node.
//!
//! The runtime therefore makes one namespace of its own when it first
//! creates a container: a copy of the node's without the pins and tmpfs
//! mounts below the runtime's directory. It is the node's *slave*: nothing
//! done in it reaches the node, and what the node mounts and unmounts later
//! reaches it (a disk the administrator unmounts is not kept busy by it).
//! The pods' new mounts reach it that way too, so every few containers it
//! is pruned again. The runtime holds it by a file descriptor, and each
//! container's spec names it as `/proc/<runtime pid>/fd/<n>`. Init then:
//!
//! 1. clones its bind-mount sources (volumes, the sandbox's `/etc` files)
//!    from the node's namespace with `open_tree(OPEN_TREE_CLONE)`: the
//!    sources stay exactly what they are on the node, mounts made after the
//!    template included, and keep their propagation peers;
//! 2. `setns` into the template, and checks that the directories its
//!    overlay needs (the image layers, the container's own directory) are the
//!    very ones it saw on the node (same device and inode), else goes back to
//!    the node's namespace and works as before (a template of an earlier
//!    runtime process, or one a later mount on the node made stale);
//! 3. unshares its own namespace from there and attaches the clones with
//!    `move_mount`.

use std::fs::File;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use nix::mount::{mount, MsFlags};
use nix::sched::{setns, CloneFlags};

/// The template, held open by the runtime that made it.
#[derive(Debug)]
pub struct MountTemplate {
    ns: OwnedFd,
    /// The runtime's directory, below which the pods' mounts are dropped.
    root_dir: PathBuf,
    /// Containers made from it since it was last pruned.
    uses: AtomicUsize,
}

/// Prune the template again after this many containers: the mounts of the
/// pods started meanwhile (about four each) are all a container copies
/// beyond the template's own.
const PRUNE_EVERY: usize = 16;

/// Whether a mount seen in the template is one the runtime made for a pod
/// (a pinned namespace or a volume's tmpfs) and so is dropped from it. The
/// tmpfs of the runtime's records (`run_dir`) stays: containers are made
/// from their record directories there.
fn is_pod_mount(root_dir: &Path, point: &Path, fstype: &str) -> bool {
    matches!(fstype, "nsfs" | "tmpfs") && point != root_dir.join(crate::run_dir::RUN_DIR)
}

/// Drops the pods' mounts below `root_dir` from the mount namespace the
/// calling thread is in (one of its own: the template).
fn prune_here(root_dir: &Path) -> Result<(), String> {
    crate::sandbox::unmount_below_matching(root_dir, |point, fstype| {
        is_pod_mount(root_dir, point, fstype)
    })
    .map_err(|e| format!("reading the template's mountinfo: {e}"))
}

impl MountTemplate {
    /// Makes the template: a thread unshares its mount namespace (threads
    /// of one process may each have their own), makes every mount a slave
    /// of the node's, drops the pods' mounts below `root_dir` and hands back
    /// a handle.
    pub fn create(root_dir: &Path) -> Result<MountTemplate, String> {
        let dir = root_dir.to_path_buf();
        let ns = std::thread::Builder::new()
            .name("mount-template".into())
            .spawn(move || -> Result<OwnedFd, String> {
                nix::sched::unshare(CloneFlags::CLONE_NEWNS)
                    .map_err(|e| format!("unshare(CLONE_NEWNS): {e}"))?;
                // Slave before anything is unmounted: the copies are peers
                // of the node's mounts, and an unmount would propagate.
                mount(
                    None::<&str>,
                    "/",
                    None::<&str>,
                    MsFlags::MS_REC | MsFlags::MS_SLAVE,
                    None::<&str>,
                )
                .map_err(|e| format!("making the template's mounts slaves: {e}"))?;
                prune_here(&dir)?;
                File::open("/proc/thread-self/ns/mnt")
                    .map(OwnedFd::from)
                    .map_err(|e| format!("opening the template's handle: {e}"))
            })
            .map_err(|e| format!("starting the mount-template thread: {e}"))?
            .join()
            .map_err(|_| "the mount-template thread panicked".to_string())??;
        Ok(MountTemplate {
            ns,
            root_dir: root_dir.to_path_buf(),
            uses: AtomicUsize::new(0),
        })
    }

    /// Drops the pods' mounts that reached the template since it was made
    /// or last pruned (a thread enters it to do so).
    pub fn prune(&self) -> Result<(), String> {
        std::thread::scope(|scope| {
            std::thread::Builder::new()
                .name("mount-template".into())
                .spawn_scoped(scope, || -> Result<(), String> {
                    nix::sched::unshare(CloneFlags::CLONE_FS)
                        .map_err(|e| format!("unshare(CLONE_FS): {e}"))?;
                    setns(&self.ns, CloneFlags::CLONE_NEWNS)
                        .map_err(|e| format!("entering the template: {e}"))?;
                    prune_here(&self.root_dir)
                })
                .map_err(|e| format!("starting the mount-template thread: {e}"))?
                .join()
                .map_err(|_| "the mount-template thread panicked".to_string())?
        })
    }

    /// How a container's init finds the template (this process'
    /// descriptor); every [`PRUNE_EVERY`] containers it is pruned first.
    pub fn path_for_a_container(&self) -> PathBuf {
        if self.uses.fetch_add(1, Ordering::Relaxed) % PRUNE_EVERY == PRUNE_EVERY - 1 {
            if let Err(e) = self.prune() {
                tracing::warn!(error = %e, "pruning the mount template failed");
            }
        }
        self.path()
    }

    /// How a container's init finds the template: this process' descriptor.
    pub fn path(&self) -> PathBuf {
        PathBuf::from(format!(
            "/proc/{}/fd/{}",
            std::process::id(),
            self.ns.as_raw_fd()
        ))
    }
}

/// Identity of a directory: (device, inode).
fn identity(p: &Path) -> Option<(u64, u64)> {
    std::fs::metadata(p).ok().map(|m| (m.dev(), m.ino()))
}

/// Enters the template at `path` if it is there and `needed` (directories
/// the caller will use by path) are the same ones there as here; otherwise
/// stays in (or returns to) the current namespace. Returns whether it
/// entered. For a single-threaded process (`setns` of a mount namespace
/// refuses others).
pub fn enter(path: &Path, needed: &[&Path]) -> Result<bool, String> {
    let Ok(template) = File::open(path) else {
        return Ok(false);
    };
    let here: Vec<Option<(u64, u64)>> = needed.iter().map(|p| identity(p)).collect();
    if here.iter().any(Option::is_none) {
        return Ok(false);
    }
    let node =
        File::open("/proc/self/ns/mnt").map_err(|e| format!("opening /proc/self/ns/mnt: {e}"))?;
    // Not a mount namespace (the descriptor of a later process that got
    // the same pid): setns fails and leaves us where we are.
    if setns(&template, CloneFlags::CLONE_NEWNS).is_err() {
        return Ok(false);
    }
    let there: Vec<Option<(u64, u64)>> = needed.iter().map(|p| identity(p)).collect();
    if there == here {
        return Ok(true);
    }
    setns(&node, CloneFlags::CLONE_NEWNS)
        .map_err(|e| format!("returning to the node's mount namespace: {e}"))?;
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::mount::{umount2, MntFlags};

    /// The mount namespace the calling thread is in.
    fn current() -> PathBuf {
        std::fs::read_link("/proc/thread-self/ns/mnt").unwrap()
    }

    /// Mount points of the calling thread's namespace.
    fn mount_points() -> Vec<PathBuf> {
        std::fs::read_to_string("/proc/thread-self/mountinfo")
            .unwrap()
            .lines()
            .filter_map(|l| l.split(' ').nth(4).map(PathBuf::from))
            .collect()
    }

    /// Unmounts what the test mounted on the node, even when it fails.
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = umount2(&self.0, MntFlags::MNT_DETACH);
        }
    }

    /// Mounts a tmpfs on `dir` (made first).
    fn tmpfs(dir: &Path) {
        std::fs::create_dir_all(dir).unwrap();
        mount(
            Some("tmpfs"),
            dir,
            Some("tmpfs"),
            MsFlags::empty(),
            None::<&str>,
        )
        .unwrap();
    }

    /// Runs `f` in a thread of its own file system context (as a
    /// single-threaded init is), so it may enter a mount namespace.
    fn in_thread(f: impl FnOnce() + Send + 'static) {
        std::thread::spawn(move || {
            nix::sched::unshare(CloneFlags::CLONE_FS).unwrap();
            f()
        })
        .join()
        .unwrap();
    }

    #[test]
    fn the_template_leaves_out_the_pods_mounts_follows_the_node_and_is_entered_only_where_paths_match(
    ) {
        if !prerequisites::is_root() {
            prerequisites::missing(
                "the_template_leaves_out_the_pods_mounts_follows_the_node_and_is_entered_only_where_paths_match",
                "needs root for mount namespaces",
            );
            return;
        }
        // A shared mount of the test's own, as `/` is on a systemd node, so
        // that mounts propagate whatever this host's `/` is.
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("node");
        tmpfs(&base);
        let _unmount = Unmount(base.clone());
        mount(
            None::<&str>,
            &base,
            None::<&str>,
            MsFlags::MS_SHARED,
            None::<&str>,
        )
        .unwrap();
        let root = base.join("kubelet");
        let layers = root.join("images/layers");
        std::fs::create_dir_all(&layers).unwrap();
        let (token1, token2) = (
            root.join("pods/p1/volumes/token"),
            root.join("pods/p2/volumes/token"),
        );
        tmpfs(&token1);
        let template = MountTemplate::create(&root).unwrap();
        assert!(mount_points().contains(&token1), "the node keeps its mount");

        // Mounted on the node after the template was made: they reach it.
        tmpfs(&token2);
        let disk = base.join("disk");
        tmpfs(&disk);
        let seen = |template: &MountTemplate| {
            let (node, path, layers) = (current(), template.path(), layers.clone());
            let (tx, rx) = std::sync::mpsc::channel();
            in_thread(move || {
                assert!(enter(&path, &[&layers]).unwrap());
                assert_ne!(current(), node, "in the template");
                tx.send(mount_points()).unwrap();
            });
            rx.recv().unwrap()
        };
        let points = seen(&template);
        assert!(!points.contains(&token1), "pruned when it was made");
        assert!(points.contains(&token2) && points.contains(&disk));
        template.prune().unwrap();
        let points = seen(&template);
        assert!(!points.contains(&token2), "pruned again");
        assert!(points.contains(&disk), "the node's other mounts stay");
        umount2(&disk, MntFlags::MNT_DETACH).unwrap();
        assert!(
            !seen(&template).contains(&disk),
            "an unmount on the node reaches the template"
        );

        let (node, path) = (current(), template.path());
        in_thread(move || {
            // The tmpfs root on the node is another directory than the one
            // under it that the template shows: not entered.
            assert!(!enter(&path, &[&layers, &token1]).unwrap());
            assert_eq!(current(), node, "back in the node's namespace");
            // A template that is gone, or a path that is no mount
            // namespace: not entered either.
            assert!(!enter(Path::new("/proc/self/fd/999999"), &[&layers]).unwrap());
            assert!(!enter(Path::new("/proc/self/ns/net"), &[&layers]).unwrap());
            assert!(!enter(&layers, &[&layers]).unwrap());
            assert_eq!(current(), node);
        });
    }
}
