//! Writable layers are deleted in the background, not while a pod waits.
//!
//! Removing a container deletes what it wrote: its writable layer on disk,
//! a handful of directories and whatever files it made. On a file system
//! that discards freed blocks at once (ext4 mounted `discard` without a
//! journal, as some VM images are) every directory freed waits for the
//! disk, and a large layer takes long whatever the file system. Nobody
//! waits for that deletion: the container is gone as soon as its layer is
//! out of the way. So [`Trash::throw`] renames the layer into
//! `<root-dir>/trash/` (one `rename` on the same file system) and one
//! background thread deletes what lands there, as containerd's overlay
//! snapshotter renames a removed snapshot and deletes it in its cleanup.
//!
//! The thread starts with the first layer thrown away (or at once when a
//! runtime finds layers an earlier process left in the trash) and empties
//! the whole trash directory first. Dropping the [`Trash`] (the runtime)
//! waits until everything thrown away is deleted, so a short-lived
//! `kubelet ctl run --rm` leaves nothing behind.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{channel, Sender};
use std::sync::Mutex;
use std::thread::JoinHandle;

/// The trash directory's name below the runtime's root dir.
pub const TRASH: &str = "trash";

/// The trash directory and, once started, its deleting thread.
pub(crate) struct Trash {
    dir: PathBuf,
    worker: Mutex<Option<(Sender<PathBuf>, JoinHandle<()>)>>,
}

impl Trash {
    /// The trash at `dir` (created); starts deleting at once when an
    /// earlier process left something in it.
    pub fn open(dir: PathBuf) -> std::io::Result<Trash> {
        std::fs::create_dir_all(&dir)?;
        let trash = Trash {
            dir,
            worker: Mutex::new(None),
        };
        if std::fs::read_dir(&trash.dir)?.next().is_some() {
            trash.queue();
        }
        Ok(trash)
    }

    /// Moves `path` (a directory named by the unique `name`) into the trash
    /// to be deleted there. Deletes it in place when it cannot be moved
    /// (another file system); a `path` that does not exist is fine.
    pub fn throw(&self, path: &Path, name: &str) -> std::io::Result<()> {
        let dest = self.dir.join(name);
        match std::fs::rename(path, &dest) {
            Ok(()) => {
                if let Some(tx) = self.queue() {
                    let _ = tx.send(dest);
                }
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(_) => delete(path),
        }
    }

    /// The worker's queue, starting the worker first if it is not running
    /// (it empties the whole directory before its queue). `None` when no
    /// thread could be started: then the directory was emptied here.
    fn queue(&self) -> Option<Sender<PathBuf>> {
        let mut worker = self.worker.lock().ok()?;
        if worker.is_none() {
            let (tx, rx) = channel::<PathBuf>();
            let dir = self.dir.clone();
            let spawned = std::thread::Builder::new()
                .name("trash".into())
                .spawn(move || {
                    empty(&dir);
                    for path in rx {
                        report(&path, delete(&path));
                    }
                });
            match spawned {
                Ok(handle) => *worker = Some((tx, handle)),
                Err(e) => {
                    tracing::warn!(error = %e, "starting the trash thread failed");
                    empty(&self.dir);
                    return None;
                }
            }
        }
        worker.as_ref().map(|(tx, _)| tx.clone())
    }
}

impl Drop for Trash {
    fn drop(&mut self) {
        // Closing the queue ends the thread once it deleted everything.
        let worker = self.worker.get_mut().ok().and_then(Option::take);
        if let Some((tx, handle)) = worker {
            drop(tx);
            let _ = handle.join();
        }
    }
}

/// Deletes everything in the trash directory `dir`.
fn empty(dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            report(&e.path(), delete(&e.path()));
        }
    }
}

/// Deletes the directory tree `path`; already gone is fine.
fn delete(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_dir_all(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

fn report(path: &Path, res: std::io::Result<()>) {
    if let Err(e) = res {
        tracing::warn!(path = %path.display(), error = %e, "deleting a writable layer failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("trash-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("temp dir");
        d
    }

    #[test]
    fn a_thrown_layer_is_gone_at_once_and_deleted_by_the_time_the_trash_drops() {
        let root = tmp("throw");
        let layer = root.join("containers/c1");
        std::fs::create_dir_all(layer.join("upper/etc")).expect("layer");
        std::fs::write(layer.join("upper/etc/file"), b"data").expect("file");
        // Left by an earlier process that was killed before deleting it.
        std::fs::create_dir_all(root.join("trash/old/upper")).expect("leftover");
        let trash = Trash::open(root.join(TRASH)).expect("trash");
        trash.throw(&layer, "c1").expect("throw");
        assert!(!layer.exists(), "moved out of the way at once");
        trash
            .throw(&root.join("containers/none"), "none")
            .expect("a missing layer is fine");
        drop(trash);
        let left: Vec<_> = std::fs::read_dir(root.join(TRASH))
            .expect("trash dir")
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert!(left.is_empty(), "deleted, leftovers included: {left:?}");
        let _ = std::fs::remove_dir_all(&root);
    }
}
