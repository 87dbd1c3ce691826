//! The container's root filesystem: an overlayfs mount.
//!
//! overlayfs merges directories: the image layers are stacked read-only
//! (`lowerdir=top:...:bottom`), and everything the container writes goes to its
//! own `upperdir` (copy-up on first write; deletions become whiteouts there).
//! `workdir` is scratch space overlayfs needs on the same filesystem as the upper
//! dir. So starting a container copies nothing, and removing it is deleting its
//! upper dir (in the background, [`crate::trash`]).
//!
//! The mount is made by the container's init process *inside its own mount
//! namespace*: the host never sees it, and it disappears by itself when the
//! last process of the container exits.
//!
//! Every container gets the pod's `/etc/hosts`, `/etc/hostname` and
//! `/etc/resolv.conf` bind-mounted over the image's, and a bind mount needs
//! its mount point to exist. Most images have none of these files, and
//! making them in the container's root would copy `/etc` up and write four
//! new inodes into every writable layer, on disk, for every container. So a
//! tiny read-only layer of empty mount points ([`mount_point_layer`]), made
//! once per kind of `/etc` and shared, is stacked on top of the image's
//! layers instead: the files exist before the container writes anything.

use super::container::spec::ContainerSpec;
use nix::mount::{mount, MsFlags};
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The directory of the mount-point layers, beside the image store's
/// `layers/` (so that `../mountpoints/<name>` names one in a `lowerdir`).
pub const MOUNT_POINTS: &str = "mountpoints";

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
    let overlay = |data: &str| {
        mount(
            Some("overlay"),
            &target,
            Some("overlay"),
            MsFlags::empty(),
            Some(data),
        )
    };
    let res = overlay(&format!("{options},volatile")).or_else(|_| overlay(&options));
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

/// The layer with empty files `/etc/<name>` for `files`, to stack on top of
/// an image's layers (`layers_dir` joined with `layers`, top-most first), as a
/// `lowerdir` entry relative to `layers_dir`. Its `/etc` has the owner and
/// mode of the image's, because the top-most layer decides those of a merged
/// directory; so there is one such layer per owner, mode and set of files,
/// made by the first container that needs it. `None` when the image has no
/// plain `/etc` directory (then the mount points are made in the container's
/// root, as any other).
pub fn mount_point_layer(
    layers_dir: &Path,
    layers: &[String],
    files: &[&str],
) -> Result<Option<String>, Error> {
    if files.is_empty() {
        return Ok(None);
    }
    // The top-most layer that has an `etc` entry decides what it is.
    let Some(etc) = layers
        .iter()
        .find_map(|l| fs::symlink_metadata(layers_dir.join(l).join("etc")).ok())
    else {
        return Ok(None);
    };
    if !etc.is_dir() {
        return Ok(None);
    }
    let mode = etc.mode() & 0o7777;
    let name = format!(
        "etc-{mode:o}-{}-{}-{}",
        etc.uid(),
        etc.gid(),
        files.join("+")
    );
    let root = layers_dir.with_file_name(MOUNT_POINTS);
    let layer = root.join(&name);
    let entry = format!("../{MOUNT_POINTS}/{name}");
    if layer.is_dir() {
        return Ok(Some(entry));
    }
    // Made aside and renamed into place, so a layer that exists is whole.
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| Error::Io { path, source }
    };
    let tmp = root.join(format!(".tmp-{}", crate::new_id()));
    let tmp_etc = tmp.join("etc");
    fs::create_dir_all(&tmp_etc).map_err(io(&tmp_etc))?;
    let made = (|| {
        for f in files {
            fs::File::create(tmp_etc.join(f)).map_err(io(&tmp_etc.join(f)))?;
        }
        std::os::unix::fs::chown(&tmp_etc, Some(etc.uid()), Some(etc.gid()))
            .map_err(io(&tmp_etc))?;
        fs::set_permissions(&tmp_etc, fs::Permissions::from_mode(mode)).map_err(io(&tmp_etc))?;
        match fs::rename(&tmp, &layer) {
            Ok(()) => Ok(()),
            // Another container made it first.
            Err(_) if layer.is_dir() => Ok(()),
            Err(e) => Err(io(&layer)(e)),
        }
    })();
    let _ = fs::remove_dir_all(&tmp);
    made.map(|()| Some(entry))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_mount_point_layer_per_kind_of_etc_and_none_without_a_plain_etc() {
        let base = std::env::temp_dir().join(format!("mount-points-{}", std::process::id()));
        let _ = fs::remove_dir_all(&base);
        let layers = base.join("layers");
        // top: no etc; middle: etc 0750; bottom: etc 0755 (hidden by the middle one).
        fs::create_dir_all(layers.join("top/usr")).unwrap();
        fs::create_dir_all(layers.join("mid/etc")).unwrap();
        fs::set_permissions(layers.join("mid/etc"), fs::Permissions::from_mode(0o750)).unwrap();
        fs::create_dir_all(layers.join("bottom/etc")).unwrap();
        let image: Vec<String> = ["top", "mid", "bottom"].map(String::from).to_vec();
        let files = ["hosts", "hostname", "resolv.conf"];

        let entry = mount_point_layer(&layers, &image, &files)
            .unwrap()
            .expect("a layer");
        assert_eq!(
            entry,
            "../mountpoints/etc-750-0-0-hosts+hostname+resolv.conf"
        );
        let etc = layers.join(&entry).join("etc");
        assert_eq!(fs::metadata(&etc).unwrap().mode() & 0o7777, 0o750);
        for f in files {
            assert!(etc.join(f).is_file(), "{f}");
        }
        // Made once: the second container finds it (and no temp dir is left).
        assert_eq!(
            mount_point_layer(&layers, &image, &files).unwrap(),
            Some(entry)
        );
        let names: Vec<_> = fs::read_dir(base.join(MOUNT_POINTS))
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
        // A host-network pod mounts no hostname: another set, another layer.
        assert_eq!(
            mount_point_layer(&layers, &image, &["hosts", "resolv.conf"]).unwrap(),
            Some("../mountpoints/etc-750-0-0-hosts+resolv.conf".to_string())
        );

        // /etc as a symlink, or no /etc at all: no layer.
        fs::create_dir_all(layers.join("linked")).unwrap();
        std::os::unix::fs::symlink("usr/etc", layers.join("linked/etc")).unwrap();
        let linked: Vec<String> = ["linked", "bottom"].map(String::from).to_vec();
        assert_eq!(mount_point_layer(&layers, &linked, &files).unwrap(), None);
        assert_eq!(
            mount_point_layer(&layers, &["top".to_string()], &files).unwrap(),
            None
        );
        fs::remove_dir_all(&base).unwrap();
    }
}
