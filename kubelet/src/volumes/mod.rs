//! Pod volumes: each volume of a pod becomes a directory on the node under
//! `<root-dir>/pods/<uid>/volumes/<plugin>/<name>`, which the runtime bind
//! mounts into the containers at their `volumeMounts`.
//!
//! | volume | on the node |
//! | --- | --- |
//! | `emptyDir` | a directory; `medium: Memory` is a tmpfs (`sizeLimit` as its size) |
//! | `hostPath` | the host path itself, checked or created per `type` |
//! | `configMap`, `secret`, `downwardAPI`, `projected` | files written by [`atomic`]; secrets on a tmpfs so they never touch the disk |
//!
//! [`prepare`] is idempotent and also refreshes the files of configMap,
//! secret, downwardAPI and projected volumes, so calling it on every pod
//! sync propagates updates into running containers (the runtime mounts the
//! directory, and [`atomic`] swaps the files in with one rename).
//! [`teardown`] unmounts and removes everything of a pod.

pub mod atomic;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::{ConfigMap, KeyToPath, Pod, Secret, Volume};
use kube::api::Api;
use nix::mount::{mount, umount2, MntFlags, MsFlags};

/// Why a volume could not be set up (reported as a FailedMount Event).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// File trouble.
    #[error("volume {volume}: {path}: {source}")]
    Io {
        /// The volume.
        volume: String,
        /// The path.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A referenced object or key is missing, or a hostPath has the wrong type.
    #[error("MountVolume.SetUp failed for volume \"{volume}\" : {message}")]
    SetUp {
        /// The volume.
        volume: String,
        /// Why.
        message: String,
    },
    /// The apiserver could not be asked.
    #[error("volume {volume}: {source}")]
    Api {
        /// The volume.
        volume: String,
        /// Why.
        #[source]
        source: kube::Error,
    },
}

fn io(volume: &str, path: &Path) -> impl FnOnce(std::io::Error) -> Error {
    let (volume, path) = (volume.to_string(), path.to_path_buf());
    move |source| Error::Io {
        volume,
        path,
        source,
    }
}

/// The directory holding a pod's volumes.
pub fn pod_dir(root: &Path, uid: &str) -> PathBuf {
    root.join("pods").join(uid)
}

fn is_mount_point(path: &Path) -> bool {
    let Ok(mounts) = std::fs::read_to_string("/proc/self/mounts") else {
        return false;
    };
    let p = path.to_string_lossy();
    mounts
        .lines()
        .any(|l| l.split_whitespace().nth(1) == Some(&*p))
}

fn mount_tmpfs(volume: &str, dir: &Path, size: Option<i64>) -> Result<(), Error> {
    if is_mount_point(dir) {
        return Ok(());
    }
    let opts = match size {
        Some(s) if s > 0 => format!("mode=0755,size={s}"),
        _ => "mode=0755".to_string(),
    };
    mount(
        Some("tmpfs"),
        dir,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some(opts.as_str()),
    )
    .map_err(|e| Error::SetUp {
        volume: volume.to_string(),
        message: format!("mounting tmpfs on {}: {e}", dir.display()),
    })
}

/// Sets up (or refreshes) every volume of `pod`; returns volume name ->
/// host path.
pub async fn prepare(
    client: &kube::Client,
    root: &Path,
    pod: &Pod,
    pod_ip: &str,
    host_ip: &str,
) -> Result<BTreeMap<String, PathBuf>, Error> {
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    let ns = pod.metadata.namespace.clone().unwrap_or_default();
    let base = pod_dir(root, &uid).join("volumes");
    let mut out = BTreeMap::new();
    for v in pod
        .spec
        .as_ref()
        .and_then(|s| s.volumes.clone())
        .unwrap_or_default()
    {
        let path = prepare_one(client, &base, &ns, pod, &v, pod_ip, host_ip).await?;
        out.insert(v.name.clone(), path);
    }
    Ok(out)
}

async fn prepare_one(
    client: &kube::Client,
    base: &Path,
    ns: &str,
    pod: &Pod,
    v: &Volume,
    pod_ip: &str,
    host_ip: &str,
) -> Result<PathBuf, Error> {
    let name = v.name.as_str();
    let dir_for = |plugin: &str| base.join(plugin).join(name);
    if let Some(h) = &v.host_path {
        return host_path(name, Path::new(&h.path), h.type_.as_deref().unwrap_or(""));
    }
    if let Some(e) = &v.empty_dir {
        let dir = dir_for("kubernetes.io~empty-dir");
        std::fs::create_dir_all(&dir).map_err(io(name, &dir))?;
        if e.medium.as_deref() == Some("Memory") {
            let size = e
                .size_limit
                .as_ref()
                .and_then(|q| apimachinery::quantity::value(&q.0).ok())
                .filter(|b| *b >= 0);
            mount_tmpfs(name, &dir, size)?;
        }
        return Ok(dir);
    }
    let mut files: BTreeMap<String, (Vec<u8>, u32)> = BTreeMap::new();
    let (plugin, tmpfs) = if let Some(c) = &v.config_map {
        let data = config_map(client, ns, name, &c.name, c.optional == Some(true)).await?;
        add_items(
            name,
            &mut files,
            &data,
            c.items.as_deref(),
            c.default_mode.unwrap_or(0o644),
        )?;
        ("kubernetes.io~configmap", false)
    } else if let Some(s) = &v.secret {
        let sname = s.secret_name.clone().unwrap_or_default();
        let data = secret(client, ns, name, &sname, s.optional == Some(true)).await?;
        add_items(
            name,
            &mut files,
            &data,
            s.items.as_deref(),
            s.default_mode.unwrap_or(0o644),
        )?;
        ("kubernetes.io~secret", true)
    } else if let Some(d) = &v.downward_api {
        for f in d.items.iter().flatten() {
            let mode = f.mode.or(d.default_mode).unwrap_or(0o644) as u32;
            files.insert(
                f.path.clone(),
                (
                    downward_value(name, pod, f, pod_ip, host_ip)?.into_bytes(),
                    mode,
                ),
            );
        }
        ("kubernetes.io~downward-api", false)
    } else if let Some(p) = &v.projected {
        let default = p.default_mode.unwrap_or(0o644);
        for src in p.sources.iter().flatten() {
            if let Some(c) = &src.config_map {
                let data = config_map(client, ns, name, &c.name, c.optional == Some(true)).await?;
                add_items(name, &mut files, &data, c.items.as_deref(), default)?;
            }
            if let Some(s) = &src.secret {
                let data = secret(client, ns, name, &s.name, s.optional == Some(true)).await?;
                add_items(name, &mut files, &data, s.items.as_deref(), default)?;
            }
            if let Some(d) = &src.downward_api {
                for f in d.items.iter().flatten() {
                    let mode = f.mode.unwrap_or(default) as u32;
                    files.insert(
                        f.path.clone(),
                        (
                            downward_value(name, pod, f, pod_ip, host_ip)?.into_bytes(),
                            mode,
                        ),
                    );
                }
            }
        }
        ("kubernetes.io~projected", true)
    } else {
        return Err(Error::SetUp {
            volume: name.to_string(),
            message: "unsupported volume type (supported: emptyDir, hostPath, configMap, secret, downwardAPI, projected)"
                .into(),
        });
    };
    let dir = dir_for(plugin);
    std::fs::create_dir_all(&dir).map_err(io(name, &dir))?;
    if tmpfs {
        mount_tmpfs(name, &dir, None)?;
    }
    atomic::write(&dir, &files).map_err(io(name, &dir))?;
    Ok(dir)
}

fn downward_value(
    volume: &str,
    pod: &Pod,
    f: &k8s_openapi::api::core::v1::DownwardAPIVolumeFile,
    pod_ip: &str,
    host_ip: &str,
) -> Result<String, Error> {
    if let Some(r) = &f.field_ref {
        return crate::pod::env::field_value(pod, &r.field_path, pod_ip, host_ip).map_err(|e| {
            Error::SetUp {
                volume: volume.to_string(),
                message: e.to_string(),
            }
        });
    }
    if let Some(r) = &f.resource_field_ref {
        let spec = pod.spec.as_ref();
        let c = spec.and_then(|s| {
            s.containers
                .iter()
                .find(|c| Some(c.name.as_str()) == r.container_name.as_deref())
        });
        if let Some(c) = c {
            let divisor = r.divisor.as_ref().map(|d| d.0.as_str());
            return crate::pod::env::resource_value(
                c,
                &r.resource,
                divisor,
                crate::node::machine::cpus() as i64 * 1000,
                crate::node::machine::memory_total() as i64,
            )
            .map_err(|e| Error::SetUp {
                volume: volume.to_string(),
                message: e.to_string(),
            });
        }
    }
    Ok(String::new())
}

fn add_items(
    volume: &str,
    files: &mut BTreeMap<String, (Vec<u8>, u32)>,
    data: &BTreeMap<String, Vec<u8>>,
    items: Option<&[KeyToPath]>,
    default_mode: i32,
) -> Result<(), Error> {
    match items {
        None => {
            for (k, v) in data {
                files.insert(k.clone(), (v.clone(), default_mode as u32));
            }
        }
        Some(items) => {
            for it in items {
                let Some(v) = data.get(&it.key) else {
                    return Err(Error::SetUp {
                        volume: volume.to_string(),
                        message: format!(
                            "configmap or secret references non-existent key {}",
                            it.key
                        ),
                    });
                };
                files.insert(
                    it.path.clone(),
                    (v.clone(), it.mode.unwrap_or(default_mode) as u32),
                );
            }
        }
    }
    Ok(())
}

async fn config_map(
    client: &kube::Client,
    ns: &str,
    volume: &str,
    name: &str,
    optional: bool,
) -> Result<BTreeMap<String, Vec<u8>>, Error> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
    match api.get_opt(name).await.map_err(|source| Error::Api {
        volume: volume.to_string(),
        source,
    })? {
        Some(cm) => {
            let mut m: BTreeMap<String, Vec<u8>> = cm
                .data
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k, v.into_bytes()))
                .collect();
            m.extend(
                cm.binary_data
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(k, v)| (k, v.0)),
            );
            Ok(m)
        }
        None if optional => Ok(BTreeMap::new()),
        None => Err(Error::SetUp {
            volume: volume.to_string(),
            message: format!("configmap \"{name}\" not found"),
        }),
    }
}

async fn secret(
    client: &kube::Client,
    ns: &str,
    volume: &str,
    name: &str,
    optional: bool,
) -> Result<BTreeMap<String, Vec<u8>>, Error> {
    let api: Api<Secret> = Api::namespaced(client.clone(), ns);
    match api.get_opt(name).await.map_err(|source| Error::Api {
        volume: volume.to_string(),
        source,
    })? {
        Some(s) => {
            let mut m: BTreeMap<String, Vec<u8>> = s
                .data
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k, v.0))
                .collect();
            m.extend(
                s.string_data
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(k, v)| (k, v.into_bytes())),
            );
            Ok(m)
        }
        None if optional => Ok(BTreeMap::new()),
        None => Err(Error::SetUp {
            volume: volume.to_string(),
            message: format!("secret \"{name}\" not found"),
        }),
    }
}

/// A hostPath volume: checked or created according to its `type`.
fn host_path(volume: &str, path: &Path, type_: &str) -> Result<PathBuf, Error> {
    let fail = |message: String| Error::SetUp {
        volume: volume.to_string(),
        message,
    };
    let meta = std::fs::metadata(path);
    match type_ {
        "" => {}
        "DirectoryOrCreate" => {
            if meta.is_err() {
                std::fs::create_dir_all(path).map_err(io(volume, path))?;
            }
        }
        "FileOrCreate" => {
            if meta.is_err() {
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent).map_err(io(volume, path))?;
                }
                std::fs::write(path, b"").map_err(io(volume, path))?;
            }
        }
        "Directory" => {
            if !meta.as_ref().is_ok_and(|m| m.is_dir()) {
                return Err(fail(format!(
                    "hostPath type check failed: {} is not a directory",
                    path.display()
                )));
            }
        }
        "File" => {
            if !meta.as_ref().is_ok_and(|m| m.is_file()) {
                return Err(fail(format!(
                    "hostPath type check failed: {} is not a file",
                    path.display()
                )));
            }
        }
        "Socket" | "CharDevice" | "BlockDevice" => {
            use std::os::unix::fs::FileTypeExt;
            let ok = meta.as_ref().is_ok_and(|m| {
                let t = m.file_type();
                match type_ {
                    "Socket" => t.is_socket(),
                    "CharDevice" => t.is_char_device(),
                    _ => t.is_block_device(),
                }
            });
            if !ok {
                return Err(fail(format!(
                    "hostPath type check failed: {} is not a {}",
                    path.display(),
                    type_.to_lowercase()
                )));
            }
        }
        other => return Err(fail(format!("unknown hostPath type {other:?}"))),
    }
    Ok(path.to_path_buf())
}

/// Unmounts and removes every volume directory of the pod `uid`.
pub fn teardown(root: &Path, uid: &str) -> Result<(), std::io::Error> {
    let dir = pod_dir(root, uid);
    if !dir.exists() {
        return Ok(());
    }
    // Deepest mounts first.
    let prefix = format!("{}/", dir.display());
    let mut mounts: Vec<String> = std::fs::read_to_string("/proc/self/mounts")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1).map(String::from))
        .filter(|m| m.starts_with(&prefix))
        .collect();
    mounts.sort_by_key(|m| std::cmp::Reverse(m.len()));
    for m in mounts {
        if let Err(e) = umount2(Path::new(&m), MntFlags::MNT_DETACH) {
            tracing::warn!(mount = %m, error = %e, "unmounting a volume failed");
        }
    }
    std::fs::remove_dir_all(&dir)
}
