//! The container's init: the process that turns into the container.
//!
//! The monitor forks init (`monitor::Init`) after it has arranged a fresh pid
//! namespace (so the child is pid 1 there) and joined the pod's net/ipc/uts
//! namespaces. Init then, in this order:
//!
//! 1. joins its cgroup ([`crate::cgroups::join_self`]), so everything it
//!    becomes is limited and accounted from the first instruction;
//! 2. `unshare(CLONE_NEWNS | CLONE_NEWCGROUP)`: its own mount table and cgroup
//!    view - copied from the runtime's small mount template when there is
//!    one ([`crate::mount_template`]; the bind sources are cloned from the
//!    node's namespace first), else from the node's; marks `/` recursively
//!    *slave* so no mount made here ever propagates back to the host;
//! 3. mounts the overlay rootfs, `/proc`, `/dev`, `/sys`, volumes;
//! 4. `pivot_root` into the rootfs and detaches the old root - the host's
//!    files are now unreachable;
//! 5. masks `/proc` paths, resolves the user in the container's `/etc/passwd`,
//!    drops capabilities and switches uid/gid;
//! 6. `execve`s the container's command, which keeps pid 1.
//!
//! Errors before `execve` are written to the sync pipe the monitor gave us as
//! stdin (`close-on-exec`, so a successful `execve` shows up as EOF).

use super::spec::ContainerSpec;
use super::{mounts, process, user};
use crate::{mount_template, namespaces, rootfs, state};
use nix::mount::{umount2, MntFlags, MsFlags};
use nix::sched::CloneFlags;
use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

/// Everything that can stop a container from starting.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading the spec failed.
    #[error("reading {path}: {source}")]
    Spec {
        /// spec.json path.
        path: String,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// Joining the cgroup failed.
    #[error("joining the container's cgroup: {0}")]
    Cgroup(#[from] crate::cgroups::Error),
    /// Namespace setup failed.
    #[error(transparent)]
    Namespace(#[from] namespaces::Error),
    /// The rootfs could not be mounted.
    #[error(transparent)]
    Rootfs(#[from] rootfs::Error),
    /// A mount failed.
    #[error(transparent)]
    Mount(#[from] mounts::Error),
    /// `pivot_root` failed.
    #[error("pivot_root into {path}: {source}")]
    PivotRoot {
        /// New root.
        path: String,
        /// Cause.
        #[source]
        source: nix::Error,
    },
    /// The user could not be resolved.
    #[error(transparent)]
    User(#[from] user::Error),
    /// Entering the runtime's mount template failed half way.
    #[error("mount template: {0}")]
    Template(String),
    /// `runAsNonRoot` with a root user.
    #[error("container has runAsNonRoot and image will run as root")]
    RunsAsRoot,
    /// Privilege dropping failed.
    #[error(transparent)]
    Process(#[from] process::Error),
    /// Something else about files.
    #[error("{what}: {source}")]
    Io {
        /// What failed.
        what: String,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
}

/// Init's work, in the monitor's forked child. Only returns on failure
/// (the exit code).
pub fn main(container_dir: &Path) -> i32 {
    let mut sync = match OpenOptions::new().write(true).open("/proc/self/fd/0") {
        Ok(f) => f,
        Err(e) => {
            eprintln!("init: opening sync pipe: {e}");
            return 125;
        }
    };
    match setup(container_dir) {
        Ok(mut cmd) => {
            let err = cmd.exec();
            let _ = write!(sync, "exec {:?}: {err}", cmd.get_program());
            127
        }
        Err(e) => {
            let _ = write!(sync, "{e}");
            125
        }
    }
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let what = what.into();
    move |source| Error::Io { what, source }
}

fn setup(dir: &Path) -> Result<Command, Error> {
    crate::timing("init start");
    let spec_path = dir.join("spec.json");
    let spec: ContainerSpec = state::read_json(&spec_path).map_err(|source| Error::Spec {
        path: spec_path.display().to_string(),
        source,
    })?;

    // stdin: the attach FIFO when the container keeps stdin open, else /dev/null.
    let stdin_path = if spec.config.stdin {
        dir.join("stdin")
    } else {
        "/dev/null".into()
    };
    let stdin = OpenOptions::new()
        .read(true)
        .open(&stdin_path)
        .map_err(io(format!("opening {}", stdin_path.display())))?;
    nix::unistd::dup2_stdin(&stdin).map_err(|e| io("dup2 stdin")(e.into()))?;
    drop(stdin);

    crate::cgroups::join_self(&spec.cgroup_procs)?;

    crate::timing("init cgroup joined");
    // With the runtime's mount template, the bind sources are cloned here,
    // in the node's namespace, and the container's namespace is made from
    // the template's few mounts instead of the node's many.
    let mut binds = mounts::Binds::default();
    if let Some(template) = &spec.mount_template {
        let cloned = mounts::Binds::clone_from_node(&spec)?;
        if mount_template::enter(template, &[&spec.layers_dir, &spec.dir, spec.writable()])
            .map_err(Error::Template)?
        {
            binds = cloned;
        }
    }
    namespaces::unshare(CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_NEWCGROUP)?;
    mounts::mnt(
        None,
        Path::new("/"),
        None,
        MsFlags::MS_REC | MsFlags::MS_SLAVE,
        None,
    )?;

    let root = rootfs::mount_overlay(&spec)?;
    crate::timing("init overlay");
    mounts::setup(&spec, &root, binds)?;

    crate::timing("init mounts");
    std::env::set_current_dir(&root).map_err(io(format!("chdir {}", root.display())))?;
    nix::unistd::pivot_root(".", ".").map_err(|source| Error::PivotRoot {
        path: root.display().to_string(),
        source,
    })?;
    // The old root is now stacked under the new one at "."; detach it.
    umount2(".", MntFlags::MNT_DETACH).map_err(|e| io("detaching the old root")(e.into()))?;
    std::env::set_current_dir("/").map_err(io("chdir /"))?;

    crate::timing("init pivoted");
    mounts::finish(&spec)?;
    crate::timing("init masked");

    let sec = &spec.config.security;
    let root_path = Path::new("/");
    let id = user::resolve(
        &spec.user,
        &user::read_etc(root_path, "passwd"),
        &user::read_etc(root_path, "group"),
        sec.run_as_user,
        sec.run_as_group,
        &sec.supplemental_groups,
    )?;
    if sec.run_as_non_root && id.uid == 0 {
        return Err(Error::RunsAsRoot);
    }
    if !Path::new(&spec.cwd).exists() {
        std::fs::create_dir_all(&spec.cwd)
            .map_err(io(format!("creating working dir {}", spec.cwd)))?;
        let _ = std::os::unix::fs::chown(&spec.cwd, Some(id.uid), Some(id.gid));
    }
    process::become_user(&id, &spec.capabilities, spec.no_new_privs)?;

    crate::timing("init user");
    let mut cmd = Command::new(&spec.args[0]);
    cmd.args(&spec.args[1..]).env_clear().current_dir(&spec.cwd);
    let mut has_home = false;
    for kv in &spec.env {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        has_home |= k == "HOME";
        cmd.env(k, v);
    }
    if !has_home {
        cmd.env("HOME", &id.home);
    }
    Ok(cmd)
}
