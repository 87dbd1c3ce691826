//! The container's root filesystem: an overlayfs mount.
//!
//! overlayfs merges directories: the image layers are stacked read-only
//! (`lowerdir=top:...:bottom`), and everything the container writes goes to its
//! own `upperdir` (copy-up on first write; deletions become whiteouts there).
//! `workdir` is scratch space overlayfs needs on the same filesystem as the upper
//! dir. So starting a container copies nothing, and removing it is deleting its
//! upper dir.
//!
//! The mount is made by the container's init process *inside its own mount
//! namespace*: the host never sees it, and it disappears by itself when the
//! last process of the container exits.

use super::container::spec::ContainerSpec;
use nix::mount::{mount, MsFlags};
use std::fs;
use std::path::{Path, PathBuf};

/// Errors preparing or mounting the rootfs.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A directory could not be created or removed.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// OS error.
        #[source]
        source: std::io::Error,
    },
    /// The overlay mount failed.
    #[error("mounting overlay on {target} (options {options}): {source}")]
    Mount {
        /// Mount point.
        target: PathBuf,
        /// The mount options (layer list).
        options: String,
        /// OS error.
        #[source]
        source: nix::Error,
    },
    /// The image has no layers.
    #[error("image has no layers")]
    NoLayers,
}

/// The overlayfs `upper/` and `work/` directories in a container's
/// writable layer directory ([`ContainerSpec::writable`]).
pub fn layer_dirs(writable: &Path) -> [PathBuf; 2] {
    [writable.join("upper"), writable.join("work")]
}

/// Creates a container's writable layer (`upper/`, `work/` in `writable`,
/// on disk) and its `rootfs/` mount point in its record directory `dir`.
pub fn prepare(writable: &Path, dir: &Path) -> Result<(), Error> {
    let [upper, work] = layer_dirs(writable);
    for d in [upper, work, dir.join("rootfs")] {
        fs::create_dir_all(&d).map_err(|source| Error::Io {
            path: d.clone(),
            source,
        })?;
    }
    Ok(())
}

/// Builds the overlay mount options. Layer paths are given relative to the
/// layer directory (the caller `chdir`s there first) so that many layers fit in
/// the one page the kernel accepts for mount options.
pub fn overlay_options(spec: &ContainerSpec) -> Result<String, Error> {
    if spec.lower.is_empty() {
        return Err(Error::NoLayers);
    }
    let [upper, work] = layer_dirs(spec.writable());
    Ok(format!(
        "lowerdir={},upperdir={},workdir={}",
        spec.lower.join(":"),
        upper.display(),
        work.display()
    ))
}

/// Mounts the overlay on `<dir>/rootfs` and returns that path. Must run in the
/// container's mount namespace.
pub fn mount_overlay(spec: &ContainerSpec) -> Result<PathBuf, Error> {
    let options = overlay_options(spec)?;
    let target = spec.dir.join("rootfs");
    let cwd = std::env::current_dir().ok();
    std::env::set_current_dir(&spec.layers_dir).map_err(|source| Error::Io {
        path: spec.layers_dir.clone(),
        source,
    })?;
    // `volatile`: the overlay never syncs the upper dir's file system. Without
    // it, the overlay's last unmount (init's exit, when its mount namespace
    // goes) syncs the whole upper file system and flushes the disk's cache,
    // a quarter of a millisecond or more on the path of every exit. A
    // writable layer is mounted once and thrown away with its container, and
    // after a crash of the node the runtime deletes the layers it finds
    // (`run_dir`), so there is nothing that sync would keep. Kernels before
    // 5.10 do not know the option: mount without it there.
    let res = mount(
        Some("overlay"),
        &target,
        Some("overlay"),
        MsFlags::empty(),
        Some(format!("{options},volatile").as_str()),
    )
    .or_else(|_| {
        mount(
            Some("overlay"),
            &target,
            Some("overlay"),
            MsFlags::empty(),
            Some(options.as_str()),
        )
    });
    if let Some(c) = cwd {
        let _ = std::env::set_current_dir(c);
    }
    res.map_err(|source| Error::Mount {
        target: target.clone(),
        options,
        source,
    })?;
    Ok(target)
}

/// Deletes the container's writable layer (what it wrote).
pub fn remove(writable: &Path) -> Result<(), Error> {
    match fs::remove_dir_all(writable) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(Error::Io {
            path: writable.to_path_buf(),
            source,
        }),
    }
}
