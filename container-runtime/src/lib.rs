//! The kubelet's built-in container runtime, as a crate of its own.
//!
//! It depends on no Kubernetes API crate: the kubelet translates a Pod into
//! the runtime's plain CRI-like types ([`cri`]) and drives it through the
//! [`cri::RuntimeService`] and [`cri::ImageService`] traits, as upstream's
//! kubelet drives containerd or CRI-O over gRPC.
//!
//! "A container is just a process": a process started in new namespaces (what
//! it can see, [`namespaces`]), inside a cgroup (what it can use, [`cgroups`]),
//! with an overlayfs of image layers as its root ([`images`], [`rootfs`]). A pod
//! is a group of such processes sharing network, IPC and UTS namespaces, kept
//! by bind mounts in the pod's *sandbox* directory ([`sandbox`]).
//!
//! Each container is owned by a small *monitor* process ([`monitor`]), not by the
//! kubelet: the monitor starts the container's init ([`container::init`]), copies
//! its output into CRI log files ([`logs`]) and records its exit code in the
//! container's state directory ([`state`]). So the kubelet can crash, restart, or
//! be a short-lived `kubelet ctl` command: the containers keep running, and the
//! next [`Runtime`] finds them again by reading the state directory.
//!
//! The processes of one container:
//!
//! ```text
//! kubelet (or kubelet ctl)                 <- this library
//!  └─ container-runtime __launcher <root>  one per runtime, forks the monitors
//!      └─ (fork) monitor <dir>             setsid; joins the pod's namespaces; unshare(pid)
//!          └─ (fork) init  ==execve==>     the container's command (pid 1 inside)
//! ```
//!
//! The launcher is the binary [`Config::binary`] executed once with a
//! hidden first argument ([`helper`]): this crate's small `container-runtime`
//! binary beside the kubelet, else the kubelet itself. A monitor is a fork of
//! the launcher ([`launcher`]), init a fork of the monitor
//! ([`single_threaded_fork`]): no container start executes a binary of ours.

pub mod cgroups;
pub mod container;
pub mod cri;
pub mod exec;
pub mod helper;
pub mod images;
pub mod launcher;
pub mod logs;
pub mod monitor;
pub mod mount_template;
pub mod namespaces;
pub mod records;
pub mod rootfs;
pub mod run_dir;
pub mod sandbox;
pub mod state;
pub mod trash;

use images::pull::RegistryConfig;
use images::{ImageRecord, ImageStore, PullPolicy};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::Mutex;

/// Errors of runtime operations.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Image trouble.
    #[error(transparent)]
    Image(#[from] images::Error),
    /// cgroup trouble.
    #[error(transparent)]
    Cgroup(#[from] cgroups::Error),
    /// Rootfs trouble.
    #[error(transparent)]
    Rootfs(#[from] rootfs::Error),
    /// Spec merge trouble.
    #[error(transparent)]
    Spec(#[from] container::spec::Error),
    /// No such sandbox or container.
    #[error("{kind} {id:?} not found")]
    NotFound {
        /// `sandbox` or `container`.
        kind: &'static str,
        /// The id asked for.
        id: String,
    },
    /// An id prefix matches several objects.
    #[error("{kind} id prefix {id:?} is ambiguous")]
    Ambiguous {
        /// `sandbox` or `container`.
        kind: &'static str,
        /// The prefix.
        id: String,
    },
    /// The operation does not fit the object's state.
    #[error("{0}")]
    State(String),
    /// Starting a helper process (monitor, holder, exec) failed.
    #[error("starting {what}: {reason}")]
    Spawn {
        /// Which helper.
        what: String,
        /// Why.
        reason: String,
    },
    /// Creating or pinning a pod's namespaces failed.
    #[error("pod namespaces: {0}")]
    Namespaces(String),
    /// An exec'd command did not finish in time (it was killed).
    #[error("timeout: command in container {id} did not finish within {timeout:?}")]
    ExecTimeout {
        /// Container id.
        id: String,
        /// The time it had.
        timeout: std::time::Duration,
    },
    /// The container failed to start (its init reported an error).
    #[error("container {id} failed to start: {message}")]
    StartFailed {
        /// Container id.
        id: String,
        /// The init's message.
        message: String,
    },
    /// File trouble in the state directory.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// OS error.
        #[source]
        source: std::io::Error,
    },
}

/// Result with the runtime error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

pub(crate) fn io_err(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.into();
    move |source| Error::Io { path, source }
}

/// Opens (creating it) the lock file `path` and holds an exclusive `flock`
/// on it until the guard drops: how processes sharing a root dir (the
/// kubelet, `kubelet ctl`) take turns.
pub(crate) fn lock_file(path: &Path) -> std::io::Result<nix::fcntl::Flock<std::fs::File>> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)?;
    nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive).map_err(|(_, e)| e.into())
}

/// Runtime settings (the runtime part of the kubelet config file, which the
/// kubelet reads: `kubelet::config::load_runtime_config`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Config {
    /// State and images: `/var/lib/kubelet`.
    pub root_dir: PathBuf,
    /// CRI logs: `/var/log/pods`.
    pub pod_logs_dir: PathBuf,
    /// The top cgroup of all pods (`kubepods`).
    pub cgroup_root: String,
    /// Mirrors and plain-HTTP registries.
    #[serde(flatten)]
    pub registry: RegistryConfig,
    /// Rotate a container log above this many bytes (a plain number: the
    /// kubelet turns its file's `10Mi` into bytes before the runtime sees it).
    pub container_log_max_size: u64,
    /// Keep at most this many log files per container.
    pub container_log_max_files: usize,
    /// The binary started as monitor, holder and exec helper: one whose
    /// `main` hands its arguments to [`helper::dispatch`] (the kubelet, or
    /// this crate's `container-runtime`).
    #[serde(skip)]
    pub binary: PathBuf,
    /// Whether containers make their mount namespaces from the runtime's
    /// small template instead of the node's namespace
    /// ([`mount_template`]): on for a long-running runtime (the kubelet);
    /// a one-shot command would pay for the template without reusing it.
    #[serde(skip)]
    pub mount_template: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            root_dir: "/var/lib/kubelet".into(),
            pod_logs_dir: "/var/log/pods".into(),
            cgroup_root: "kubepods".into(),
            registry: RegistryConfig::default(),
            container_log_max_size: 10 << 20,
            container_log_max_files: 5,
            binary: default_binary(),
            mount_template: true,
        }
    }
}

/// This build of the runtime (a hash of its sources, see `build.rs`).
pub const BUILD_ID: &str = env!("RUNTIME_BUILD_ID");

/// How [`BUILD_ID`] appears in the bytes of every binary that links this
/// crate (`__build-id` prints it from here, which keeps it in the binary):
/// another binary's build is read from its file, not by running it.
const BUILD_MARKER: &str = concat!(
    "\nminik8s-container-runtime-build-id=",
    env!("RUNTIME_BUILD_ID"),
    "\n"
);

/// [`BUILD_ID`], read from [`BUILD_MARKER`].
pub(crate) fn build_id_from_marker() -> &'static str {
    BUILD_MARKER.trim().rsplit('=').next().unwrap_or(BUILD_ID)
}

/// The name of the small helper binary (this crate's own `main`).
pub const HELPER_BINARY: &str = "container-runtime";

/// The binary the helpers are exec'd from: `$KUBELET_BINARY` if set; else
/// the `container-runtime` helper binary beside the running one, if it is
/// the same build ([`helper_of_same_build`]); else the running binary.
///
/// Each running container keeps one monitor, so what it costs matters: the
/// 1.5 MB helper starts faster than the 30 MB kubelet and keeps a quarter of
/// its private memory (0.22 against 0.92 MiB).
/// Decided once per process.
fn default_binary() -> PathBuf {
    static CHOSEN: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    CHOSEN
        .get_or_init(|| {
            if let Some(b) = std::env::var_os("KUBELET_BINARY") {
                return PathBuf::from(b);
            }
            let exe = std::env::current_exe().ok();
            exe.as_deref()
                .and_then(|e| e.parent())
                .map(|dir| dir.join(HELPER_BINARY))
                .filter(|h| helper_of_same_build(h))
                .or(exe)
                .unwrap_or_else(|| "/proc/self/exe".into())
        })
        .clone()
}

/// Whether `path` is a helper binary built from the same runtime sources:
/// an executable ELF file that holds our [`BUILD_MARKER`]. Helpers of
/// another build could read the state files differently.
///
/// The file is searched rather than asked (`__build-id`): every `kubelet
/// ctl` command decides this afresh, and an exec costs about 1 ms there
/// against 0.1 ms to read the 1.5 MB helper from the page cache.
pub fn helper_of_same_build(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    /// Larger files are no helper of ours (the helper is about 1.5 MB).
    const MAX_HELPER_SIZE: u64 = 256 << 20;
    let Ok(meta) = std::fs::metadata(path) else {
        return false;
    };
    if !meta.is_file() || meta.permissions().mode() & 0o111 == 0 || meta.len() > MAX_HELPER_SIZE {
        return false;
    }
    std::fs::File::open(path).is_ok_and(|f| holds_marker(f).unwrap_or(false))
}

/// Whether `file` is an ELF file holding [`BUILD_MARKER`]. Read in chunks
/// through one small buffer: a buffer for the whole file would be a page
/// fault per 4 KiB, more than the reading.
fn holds_marker(mut file: std::fs::File) -> std::io::Result<bool> {
    use std::io::Read;
    let marker = BUILD_MARKER.as_bytes();
    let finder = memchr::memmem::Finder::new(marker);
    let mut buf = vec![0u8; 64 << 10];
    // Bytes kept from the previous chunk, so a marker across two is found.
    let mut kept = 0;
    let mut first = true;
    loop {
        let n = file.read(&mut buf[kept..])?;
        if n == 0 {
            return Ok(false);
        }
        let filled = kept + n;
        if first && !buf[..filled].starts_with(b"\x7fELF") {
            return Ok(false);
        }
        first = false;
        if finder.find(&buf[..filled]).is_some() {
            return Ok(true);
        }
        kept = filled.min(marker.len() - 1);
        buf.copy_within(filled - kept..filled, 0);
    }
}

/// The runtime: image store, cgroup manager and the state directory.
pub struct Runtime {
    cfg: Config,
    images: ImageStore,
    cgroups: Box<dyn cgroups::CgroupManager>,
    /// Sandbox holders we started and have not reaped yet.
    children: Mutex<HashMap<String, Child>>,
    /// The process that forks the monitors, started with the first
    /// container ([`launcher`]).
    launcher: Mutex<Option<launcher::Launcher>>,
    /// The report pipes of the monitors this runtime started, by container:
    /// each reaches EOF when its monitor has recorded the exit.
    exits: Mutex<HashMap<String, std::fs::File>>,
    /// Where removed containers' writable layers are deleted ([`trash`]).
    trash: trash::Trash,
    /// Parsed `spec.json`, `state.json` and `sandbox.json` records.
    specs: records::RecordCache<container::spec::ContainerSpec>,
    states: records::RecordCache<state::ContainerState>,
    sandbox_records: records::RecordCache<sandbox::PodSandbox>,
    /// The mount template, made when the first container is created
    /// (`None` inside when it could not be made: containers then unshare
    /// from the node's namespace, as without one).
    mount_template: std::sync::OnceLock<Option<mount_template::MountTemplate>>,
    /// Set once the records are in memory, or known to stay on disk
    /// ([`Runtime::prepare_run_dir`]).
    run_dir: std::sync::OnceLock<()>,
    /// Where the `sandboxes/` and `containers/` records are
    /// ([`run_dir::records_root`]).
    records: PathBuf,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime").field("cfg", &self.cfg).finish()
    }
}

impl Runtime {
    /// Opens the runtime: creates the directories, detects cgroups (failing
    /// with a clear message when a controller is missing).
    pub fn new(cfg: Config) -> Result<Self> {
        let cgroups = cgroups::detect()?;
        Self::with_cgroups(cfg, cgroups)
    }

    /// Opens the runtime with a given cgroup manager.
    pub fn with_cgroups(cfg: Config, cgroups: Box<dyn cgroups::CgroupManager>) -> Result<Self> {
        // The record directories exist from the start (listings find them
        // empty); the first pod moves them into memory (`run_dir`).
        let records = run_dir::records_root(&cfg.root_dir);
        for d in [
            records.join(run_dir::SANDBOXES),
            records.join(run_dir::CONTAINERS),
            cfg.root_dir.join(run_dir::CONTAINERS),
        ] {
            std::fs::create_dir_all(&d).map_err(io_err(&d))?;
        }
        let images = ImageStore::open(cfg.root_dir.join("images"))?;
        let trash_dir = cfg.root_dir.join(trash::TRASH);
        let trash = trash::Trash::open(trash_dir.clone()).map_err(io_err(trash_dir))?;
        Ok(Runtime {
            cfg,
            images,
            cgroups,
            children: Mutex::new(HashMap::new()),
            launcher: Mutex::new(None),
            exits: Mutex::new(HashMap::new()),
            trash,
            specs: Default::default(),
            states: Default::default(),
            sandbox_records: Default::default(),
            mount_template: std::sync::OnceLock::new(),
            run_dir: std::sync::OnceLock::new(),
            records,
        })
    }

    /// Puts the records in memory before the first pod or container is
    /// made ([`run_dir`]), once per runtime.
    pub(crate) fn prepare_run_dir(&self) {
        self.run_dir.get_or_init(|| {
            if self.records != self.cfg.root_dir.join(run_dir::RUN_DIR) {
                // An earlier runtime's pods are recorded on disk: stay there.
                return;
            }
            match run_dir::prepare(&self.cfg.root_dir) {
                Ok(run_dir::Prepared::Mounted { orphans_removed }) => {
                    tracing::info!(orphans_removed, "runtime records on a new tmpfs")
                }
                Ok(run_dir::Prepared::InMemory) => {}
                Ok(run_dir::Prepared::OnDisk(why)) => {
                    tracing::warn!(reason = %why, "runtime records stay on disk")
                }
                Err(e) => tracing::warn!(error = %e, "runtime records stay on disk"),
            }
        });
    }

    /// Where a container's init finds the mount template (made now if this
    /// is the first container), or `None` without one.
    pub(crate) fn mount_template_path(&self) -> Option<PathBuf> {
        if !self.cfg.mount_template {
            return None;
        }
        self.mount_template
            .get_or_init(
                || match mount_template::MountTemplate::create(&self.cfg.root_dir) {
                    Ok(t) => Some(t),
                    Err(e) => {
                        tracing::warn!(error = %e, "no mount template; containers unshare from the node's mount namespace");
                        None
                    }
                },
            )
            .as_ref()
            .map(mount_template::MountTemplate::path_for_a_container)
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// The image store.
    pub fn images(&self) -> &ImageStore {
        &self.images
    }

    /// The cgroup manager.
    pub fn cgroups(&self) -> &dyn cgroups::CgroupManager {
        self.cgroups.as_ref()
    }

    /// Makes an image present according to the pull policy.
    pub fn ensure_image(&self, reference: &str, policy: Option<PullPolicy>) -> Result<ImageRecord> {
        Ok(self.images.ensure(reference, policy, &self.cfg.registry)?)
    }

    /// Ids of images used by any container, as its image or an image volume.
    pub fn images_in_use(&self) -> Result<std::collections::HashSet<String>> {
        Ok(self
            .list_containers()?
            .into_iter()
            .flat_map(|c| {
                let volumes = c.spec.image_mounts.into_iter().map(|m| m.image_id);
                std::iter::once(c.spec.image_id).chain(volumes)
            })
            .collect())
    }

    /// Removes an image unless a container uses it.
    pub fn remove_image(&self, name: &str) -> Result<ImageRecord> {
        let img = self.images.get(name)?.ok_or_else(|| Error::NotFound {
            kind: "image",
            id: name.to_string(),
        })?;
        if let Some(c) = self.list_containers()?.into_iter().find(|c| {
            c.spec.image_id == img.id || c.spec.image_mounts.iter().any(|m| m.image_id == img.id)
        }) {
            return Err(images::Error::InUse {
                image: name.to_string(),
                container: c.spec.id,
            }
            .into());
        }
        self.images.remove_record(&img.id)?;
        self.images.prune_layers()?;
        Ok(img)
    }

    /// Image garbage collection (all unused images with `None`).
    pub fn gc_images(&self, policy: Option<images::gc::GcPolicy>) -> Result<images::gc::GcReport> {
        let used = self.images_in_use()?;
        Ok(self.images.gc(&used, policy)?)
    }

    fn sandboxes_dir(&self) -> PathBuf {
        self.records.join(run_dir::SANDBOXES)
    }

    fn containers_dir(&self) -> PathBuf {
        self.records.join(run_dir::CONTAINERS)
    }

    /// Where container `id`'s writable layer (overlayfs `upper/` and
    /// `work/`) is made: on disk, unlike its records.
    pub fn writable_layer_dir(&self, id: &str) -> PathBuf {
        self.cfg.root_dir.join(run_dir::CONTAINERS).join(id)
    }

    /// Reaps helper processes that have exited (they are our children until
    /// then, and would stay zombies otherwise).
    pub fn reap(&self) {
        if let Ok(mut ch) = self.children.lock() {
            ch.retain(|_, c| !matches!(c.try_wait(), Ok(Some(_))));
        }
    }

    fn resolve_id(dir: &Path, kind: &'static str, id: &str) -> Result<String> {
        if id.is_empty() {
            return Err(Error::NotFound {
                kind,
                id: id.into(),
            });
        }
        if dir.join(id).is_dir() {
            return Ok(id.to_string());
        }
        let matches: Vec<String> = std::fs::read_dir(dir)
            .map_err(io_err(dir))?
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(id))
            .collect();
        match matches.len() {
            1 => Ok(matches[0].clone()),
            0 => Err(Error::NotFound {
                kind,
                id: id.into(),
            }),
            _ => Err(Error::Ambiguous {
                kind,
                id: id.into(),
            }),
        }
    }
}

/// A new random id (32 hex digits).
pub fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Debug aid: appends `<µs since epoch> <pid> <what>` to the file named by
/// `$KUBELET_TIMING` (used to see where container start-up time goes).
pub fn timing(what: &str) {
    if let Some(p) = std::env::var_os("KUBELET_TIMING") {
        let us = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_micros())
            .unwrap_or(0);
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
        {
            use std::io::Write;
            // One write, so lines of concurrent processes never interleave.
            let line = format!("{us} {} {what}\n", std::process::id());
            let _ = f.write_all(line.as_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_config_read_from_a_file_keeps_the_defaults_it_cannot_say() {
        // The kubelet reads its runtime settings from its config file,
        // which has no say in the helper binary or the mount template.
        let cfg: Config =
            serde_json::from_str(r#"{"rootDir": "/srv/kubelet", "mountTemplate": false}"#)
                .expect("a runtime config");
        assert_eq!(cfg.root_dir, Path::new("/srv/kubelet"));
        assert!(cfg.mount_template);
        assert_eq!(cfg.binary, default_binary());
    }
}
