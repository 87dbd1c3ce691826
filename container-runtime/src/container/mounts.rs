//! The mounts that make a directory look like a Linux system to the process:
//! `/proc` (a fresh procfs showing only the container's pid namespace), `/dev` (a
//! small tmpfs with the harmless device nodes, a private `devpts` for terminals,
//! `/dev/shm`, `/dev/mqueue`), `/sys` (read-only), volumes (bind mounts), and the
//! pod's `/etc/hosts`, `/etc/hostname`. After `pivot_root`, sensitive `/proc`
//! files are masked (a `/dev/null` or empty read-only tmpfs mounted over them)
//! and some are made read-only, the same lists Docker and runc use.

use super::spec::{ContainerSpec, Propagation};
use nix::mount::{mount, MsFlags};
use nix::sys::stat::{makedev, mknod, Mode, SFlag};
use std::fs;
use std::os::fd::OwnedFd;
use std::path::{Component, Path, PathBuf};

/// A mount or filesystem operation that failed, with what it was doing.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `mount(2)` failed.
    #[error("mount {source_name} on {target} (type {fstype}, flags {flags}): {errno}")]
    Mount {
        /// What was mounted.
        source_name: String,
        /// Where.
        target: PathBuf,
        /// Filesystem type.
        fstype: String,
        /// Flags.
        flags: String,
        /// The error.
        #[source]
        errno: nix::Error,
    },
    /// Creating a mount point, node or link failed.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// OS error.
        #[source]
        source: std::io::Error,
    },
}

type Result<T, E = Error> = std::result::Result<T, E>;

/// `/proc` paths hidden from unprivileged containers.
pub const MASKED_PATHS: [&str; 11] = [
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Paths made read-only in unprivileged containers.
pub const READONLY_PATHS: [&str; 5] = [
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// The device nodes of an unprivileged container: (name, major, minor).
pub const DEVICES: [(&str, u64, u64); 6] = [
    ("null", 1, 3),
    ("zero", 1, 5),
    ("full", 1, 7),
    ("random", 1, 8),
    ("urandom", 1, 9),
    ("tty", 5, 0),
];

/// `mount(2)` with an error that says what was attempted.
pub fn mnt(
    src: Option<&str>,
    target: &Path,
    fstype: Option<&str>,
    flags: MsFlags,
    data: Option<&str>,
) -> Result<()> {
    mount(src, target, fstype, flags, data).map_err(|errno| Error::Mount {
        source_name: src.unwrap_or("none").to_string(),
        target: target.to_path_buf(),
        fstype: fstype.unwrap_or("none").to_string(),
        flags: format!("{flags:?}"),
        errno,
    })
}

fn mkdir(p: &Path) -> Result<()> {
    fs::create_dir_all(p).map_err(|source| Error::Io {
        path: p.to_path_buf(),
        source,
    })
}

/// Joins a container path onto the rootfs, dropping `..` so it stays inside.
pub fn inside(rootfs: &Path, path: &Path) -> PathBuf {
    let mut out = rootfs.to_path_buf();
    for c in path.components() {
        if let Component::Normal(n) = c {
            out.push(n);
        }
    }
    out
}

/// Makes sure a mount point of the right kind (file or directory) exists.
fn ensure_mount_point(target: &Path, is_dir: bool) -> Result<()> {
    if target.exists() {
        return Ok(());
    }
    if is_dir {
        mkdir(target)
    } else {
        if let Some(p) = target.parent() {
            mkdir(p)?;
        }
        fs::File::create(target)
            .map(|_| ())
            .map_err(|source| Error::Io {
                path: target.to_path_buf(),
                source,
            })
    }
}

/// Bind-mount sources cloned from the node's mount namespace with
/// `open_tree(OPEN_TREE_CLONE)`, for a container that makes its mount
/// namespace from the runtime's template ([`crate::mount_template`]): its
/// volumes (the config's mounts that are not image volumes, in order) and
/// its `/etc` files. Without a template there are none and the sources are
/// bound by path, in a copy of the node's namespace where they all are.
#[derive(Debug, Default)]
pub struct Binds {
    volumes: Vec<OwnedFd>,
    etc_files: Vec<OwnedFd>,
}

impl Binds {
    /// Clones every source of `spec` (in the node's namespace).
    pub fn clone_from_node(spec: &ContainerSpec) -> Result<Binds> {
        Ok(Binds {
            volumes: spec
                .config
                .mounts
                .iter()
                .filter(|m| m.image.is_none())
                .map(|m| clone_tree(&m.host_path, true))
                .collect::<Result<_>>()?,
            etc_files: spec
                .etc_files
                .iter()
                .map(|(src, _)| clone_tree(src, false))
                .collect::<Result<_>>()?,
        })
    }
}

/// A detached copy of the mount at `path` (with the mounts below it when
/// `recursive`), as a bind mount of it would be.
fn clone_tree(path: &Path, recursive: bool) -> Result<OwnedFd> {
    use rustix::mount::OpenTreeFlags;
    let mut flags = OpenTreeFlags::OPEN_TREE_CLONE | OpenTreeFlags::OPEN_TREE_CLOEXEC;
    if recursive {
        flags |= OpenTreeFlags::AT_RECURSIVE;
    }
    rustix::mount::open_tree(rustix::fs::CWD, path, flags).map_err(|e| Error::Io {
        path: path.to_path_buf(),
        source: std::io::Error::other(format!("open_tree: {e}")),
    })
}

/// Binds `src` on `target`: the clone made of it on the node when there is
/// one (attached with `move_mount`), else by path.
fn bind(src: &Path, clone: Option<OwnedFd>, target: &Path, flags: MsFlags) -> Result<()> {
    match clone {
        Some(tree) => rustix::mount::move_mount(
            &tree,
            "",
            rustix::fs::CWD,
            target,
            rustix::mount::MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH,
        )
        .map_err(|e| Error::Mount {
            source_name: src.display().to_string(),
            target: target.to_path_buf(),
            fstype: "none".into(),
            flags: "move_mount".into(),
            errno: nix::Error::from_raw(e.raw_os_error()),
        }),
        None => mnt(Some(&src.to_string_lossy()), target, None, flags, None),
    }
}

/// Whether the bind source is a directory (asked of the clone when there is
/// one: in the template, a source inside a pod's tmpfs is not there by path).
fn source_is_dir(src: &Path, clone: Option<&OwnedFd>) -> Result<bool> {
    let io = |source| Error::Io {
        path: src.to_path_buf(),
        source,
    };
    match clone {
        Some(fd) => rustix::fs::fstat(fd)
            .map(|st| rustix::fs::FileType::from_raw_mode(st.st_mode).is_dir())
            .map_err(|e| io(e.into())),
        None => fs::metadata(src).map(|m| m.is_dir()).map_err(io),
    }
}

/// Mounts /proc, /dev, /sys, volumes and /etc files below `rootfs` (before
/// `pivot_root`); bind sources come from `binds` when it has them.
pub fn setup(spec: &ContainerSpec, rootfs: &Path, binds: Binds) -> Result<()> {
    let mut volume_clones = binds.volumes.into_iter();
    let mut etc_clones = binds.etc_files.into_iter();
    let privileged = spec.config.security.privileged;
    let nosuid_nodev_noexec = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;

    let proc_dir = rootfs.join("proc");
    mkdir(&proc_dir)?;
    mnt(
        Some("proc"),
        &proc_dir,
        Some("proc"),
        nosuid_nodev_noexec,
        None,
    )?;

    let dev = rootfs.join("dev");
    mkdir(&dev)?;
    if privileged {
        mnt(
            Some("/dev"),
            &dev,
            None,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None,
        )?;
    } else {
        mnt(
            Some("tmpfs"),
            &dev,
            Some("tmpfs"),
            MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME,
            Some("mode=755,size=65536k"),
        )?;
        for (name, major, minor) in DEVICES {
            let p = dev.join(name);
            mknod(
                &p,
                SFlag::S_IFCHR,
                Mode::from_bits_truncate(0o666),
                makedev(major, minor),
            )
            .map_err(|e| Error::Io {
                path: p.clone(),
                source: e.into(),
            })?;
            // mknod honours the umask; set the mode explicitly.
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&p, fs::Permissions::from_mode(0o666)).map_err(|source| {
                Error::Io {
                    path: p.clone(),
                    source,
                }
            })?;
        }
        for (link, target) in [
            ("fd", "/proc/self/fd"),
            ("stdin", "/proc/self/fd/0"),
            ("stdout", "/proc/self/fd/1"),
            ("stderr", "/proc/self/fd/2"),
            ("ptmx", "pts/ptmx"),
            ("core", "/proc/kcore"),
        ] {
            let p = dev.join(link);
            std::os::unix::fs::symlink(target, &p)
                .map_err(|source| Error::Io { path: p, source })?;
        }
        let pts = dev.join("pts");
        mkdir(&pts)?;
        mnt(
            Some("devpts"),
            &pts,
            Some("devpts"),
            MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
            Some("newinstance,ptmxmode=0666,mode=0620,gid=5"),
        )?;
        let shm = dev.join("shm");
        mkdir(&shm)?;
        mnt(
            Some("shm"),
            &shm,
            Some("tmpfs"),
            nosuid_nodev_noexec,
            Some("mode=1777,size=65536k"),
        )?;
        let mq = dev.join("mqueue");
        mkdir(&mq)?;
        mnt(
            Some("mqueue"),
            &mq,
            Some("mqueue"),
            nosuid_nodev_noexec,
            None,
        )?;
    }

    let sys = rootfs.join("sys");
    mkdir(&sys)?;
    let sys_flags = if privileged {
        nosuid_nodev_noexec
    } else {
        nosuid_nodev_noexec | MsFlags::MS_RDONLY
    };
    if mnt(Some("sysfs"), &sys, Some("sysfs"), sys_flags, None).is_err() {
        // Without our own network namespace (hostNetwork) the kernel may refuse
        // a new sysfs; bind the host's read-only instead.
        mnt(
            Some("/sys"),
            &sys,
            None,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None,
        )?;
        if !privileged {
            mnt(
                None,
                &sys,
                None,
                MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
                None,
            )?;
        }
    }

    cgroup_fs(spec, &sys.join("fs/cgroup"))?;

    for m in spec.config.mounts.iter().filter(|m| m.image.is_none()) {
        let target = inside(rootfs, &m.container_path);
        let clone = volume_clones.next();
        ensure_mount_point(&target, source_is_dir(&m.host_path, clone.as_ref())?)?;
        bind(
            &m.host_path,
            clone,
            &target,
            MsFlags::MS_BIND | MsFlags::MS_REC,
        )?;
        if m.read_only {
            mnt(
                None,
                &target,
                None,
                MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
                None,
            )?;
        }
        let prop = match m.propagation {
            Propagation::Private => MsFlags::MS_PRIVATE,
            Propagation::HostToContainer => MsFlags::MS_SLAVE,
            Propagation::Bidirectional => MsFlags::MS_SHARED,
        };
        mnt(None, &target, None, prop | MsFlags::MS_REC, None)?;
    }

    for im in &spec.image_mounts {
        let target = inside(rootfs, &im.container_path);
        ensure_mount_point(&target, true)?;
        image(&spec.layers_dir, &im.lower, &target)?;
    }

    for (src, name) in &spec.etc_files {
        let target = rootfs.join("etc").join(name);
        ensure_mount_point(&target, false)?;
        bind(src, etc_clones.next(), &target, MsFlags::MS_BIND)?;
    }
    Ok(())
}

/// Mounts an image's layers read-only on `target` (an image volume): an
/// overlay of the layers without an upper dir, or a read-only bind of the
/// only layer (overlayfs needs two lower dirs when it has no upper one).
/// Runs in the container's mount namespace, which takes the mount away
/// with it.
fn image(layers_dir: &Path, lower: &[String], target: &Path) -> Result<()> {
    let ro = MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
    if let [only] = lower {
        let src = layers_dir.join(only);
        let src = src.to_string_lossy();
        mnt(
            Some(&src),
            target,
            None,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None,
        )?;
        return mnt(
            None,
            target,
            None,
            MsFlags::MS_BIND | MsFlags::MS_REMOUNT | ro,
            None,
        );
    }
    // Relative layer paths, as for the root filesystem, so that many layers
    // fit in the one page of mount options.
    let options = format!("lowerdir={}", lower.join(":"));
    let cwd = std::env::current_dir().ok();
    std::env::set_current_dir(layers_dir).map_err(|source| Error::Io {
        path: layers_dir.to_path_buf(),
        source,
    })?;
    let res = mnt(Some("overlay"), target, Some("overlay"), ro, Some(&options));
    if let Some(c) = cwd {
        let _ = std::env::set_current_dir(c);
    }
    res
}

/// Mounts the container's view of its cgroups on `<rootfs>/sys/fs/cgroup`:
/// for v1 a small tmpfs with one directory per hierarchy, for v2 the unified
/// tree itself. The caller is already in its own cgroup namespace, so each
/// mount's root is the container's cgroup and the host's tree stays hidden.
fn cgroup_fs(spec: &ContainerSpec, target: &Path) -> Result<()> {
    if spec.cgroup_mounts.is_empty() || !target.is_dir() {
        return Ok(());
    }
    let privileged = spec.config.security.privileged;
    let mut flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    if !privileged {
        flags |= MsFlags::MS_RDONLY;
    }
    let v1 = spec.cgroup_mounts.iter().any(|m| !m.target.is_empty());
    if v1 {
        mnt(
            Some("tmpfs"),
            target,
            Some("tmpfs"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
            Some("mode=755,size=64k"),
        )?;
    }
    for m in &spec.cgroup_mounts {
        let dir = if m.target.is_empty() {
            target.to_path_buf()
        } else {
            target.join(&m.target)
        };
        mkdir(&dir)?;
        let data = (!m.data.is_empty()).then_some(m.data.as_str());
        mnt(Some(&m.fstype), &dir, Some(&m.fstype), flags, data)?;
        // `cpu,cpuacct` co-mounted: also reachable as `cpu` and `cpuacct`.
        if m.target.contains(',') {
            for name in m.target.split(',') {
                let link = target.join(name);
                if !link.exists() {
                    std::os::unix::fs::symlink(&m.target, &link)
                        .map_err(|source| Error::Io { path: link, source })?;
                }
            }
        }
    }
    if v1 && !privileged {
        mnt(
            None,
            target,
            None,
            MsFlags::MS_REMOUNT
                | MsFlags::MS_RDONLY
                | MsFlags::MS_NOSUID
                | MsFlags::MS_NODEV
                | MsFlags::MS_NOEXEC,
            Some("mode=755,size=64k"),
        )?;
    }
    Ok(())
}

/// Masks and read-only paths, and the read-only root (after `pivot_root`).
pub fn finish(spec: &ContainerSpec) -> Result<()> {
    let sec = &spec.config.security;
    if !sec.privileged {
        for p in MASKED_PATHS {
            let path = Path::new(p);
            match fs::metadata(path) {
                Ok(m) if m.is_dir() => {
                    mnt(Some("tmpfs"), path, Some("tmpfs"), MsFlags::MS_RDONLY, None)?
                }
                Ok(_) => mnt(Some("/dev/null"), path, None, MsFlags::MS_BIND, None)?,
                Err(_) => {}
            }
        }
        for p in READONLY_PATHS {
            let path = Path::new(p);
            if path.exists() {
                mnt(
                    Some(p),
                    path,
                    None,
                    MsFlags::MS_BIND | MsFlags::MS_REC,
                    None,
                )?;
                mnt(
                    None,
                    path,
                    None,
                    MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | MsFlags::MS_REC,
                    None,
                )?;
            }
        }
    }
    if sec.read_only_root_filesystem {
        mnt(
            None,
            Path::new("/"),
            None,
            MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
            None,
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inside_never_leaves_the_root() {
        let r = Path::new("/run/c/rootfs");
        assert_eq!(
            inside(r, Path::new("/data")),
            Path::new("/run/c/rootfs/data")
        );
        assert_eq!(
            inside(r, Path::new("../../etc")),
            Path::new("/run/c/rootfs/etc")
        );
    }
}
