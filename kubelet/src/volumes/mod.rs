//! Pod volumes: each volume of a pod becomes a directory on the node under
//! `<root-dir>/pods/<uid>/volumes/<plugin>/<name>`, which the runtime bind
//! mounts into the containers at their `volumeMounts`.
//!
//! | volume | on the node |
//! | --- | --- |
//! | `emptyDir` | a directory anyone may write (0777); `medium: Memory` is a tmpfs (root 1777, `sizeLimit` as its size) |
//! | `hostPath` | the host path itself, checked or created per `type` |
//! | `persistentVolumeClaim` | the path of the claim's volume (`hostPath` or `local`) once the claim is Bound; until then the pod waits (FailedMount) |
//! | `configMap`, `secret`, `downwardAPI`, `projected` | files written by [`atomic`]; secrets on a tmpfs so they never touch the disk |
//!
//! A `projected` volume gathers configMap, secret, downwardAPI and
//! `serviceAccountToken` sources into one directory. The last is a
//! TokenRequest token bound to the pod, kept fresh by the
//! [`service_account_token`] manager: this is how every pod gets the
//! `kube-api-access-*` volume ServiceAccount admission adds (`token`,
//! `ca.crt`, `namespace` at `/var/run/secrets/kubernetes.io/serviceaccount`).
//!
//! With a pod `fsGroup`, a new emptyDir and every file of the other
//! volumes belong to that group (directories setgid, files readable by the
//! group), and the containers run with the group as a supplementary one.
//!
//! [`prepare`] is idempotent and also refreshes the files of configMap,
//! secret, downwardAPI and projected volumes, so calling it on every pod
//! sync propagates updates into running containers (the runtime mounts the
//! directory, and [`atomic`] swaps the files in with one rename); a token
//! past 80% of its life is replaced the same way. ConfigMaps and Secrets
//! are read through [`objects`]' cache, so an update shows within its TTL.
//! [`teardown`] unmounts and removes everything of a pod.
//!
//! The node's [`local_path`] provisioner makes (and deletes) the
//! directories behind dynamically provisioned node-local volumes.

pub mod atomic;
pub mod local_path;
pub mod objects;
pub mod service_account_token;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::{KeyToPath, Pod, Volume};
use kube::api::Api;
use nix::mount::{mount, umount2, MntFlags, MsFlags};

use objects::PodObjects;
use service_account_token::{TokenKey, TokenManager};

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
    /// A `persistentVolumeClaim` volume whose claim cannot be used yet
    /// (missing, not bound, being deleted): the pod waits.
    #[error("Unable to attach or mount volumes: unmounted volumes=[{volume}], unattached volumes=[], failed to process volumes=[{volume}]: error processing PVC {claim}: {message}")]
    Claim {
        /// The volume.
        volume: String,
        /// The claim, `namespace/name`.
        claim: String,
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

/// Whether `path` is the root of a mount. Asks statx for the path alone
/// (Linux 5.8+) rather than reading the mount table, whose size grows with
/// every pod on the node; an older kernel falls back to the table.
fn is_mount_point(path: &Path) -> bool {
    use rustix::fs::{statx, AtFlags, StatxAttributes, StatxFlags, CWD};
    if let Ok(st) = statx(
        CWD,
        path,
        AtFlags::SYMLINK_NOFOLLOW,
        StatxFlags::BASIC_STATS,
    ) {
        if st.stx_attributes_mask.contains(StatxAttributes::MOUNT_ROOT) {
            return st.stx_attributes.contains(StatxAttributes::MOUNT_ROOT);
        }
    }
    let Ok(mounts) = std::fs::read_to_string("/proc/self/mounts") else {
        return false;
    };
    let p = path.to_string_lossy();
    mounts
        .lines()
        .any(|l| l.split_whitespace().nth(1) == Some(&*p))
}

/// Mounts a tmpfs with root directory `mode` on `dir` unless one is there;
/// returns whether it mounted one now.
fn mount_tmpfs(volume: &str, dir: &Path, size: Option<i64>, mode: u32) -> Result<bool, Error> {
    if is_mount_point(dir) {
        return Ok(false);
    }
    let opts = match size {
        Some(s) if s > 0 => format!("mode={mode:o},size={s}"),
        _ => format!("mode={mode:o}"),
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
    })?;
    Ok(true)
}

/// The pod's `fsGroup`, which owns its writable and projected volumes.
fn fs_group(pod: &Pod) -> Option<u32> {
    pod.spec
        .as_ref()?
        .security_context
        .as_ref()?
        .fs_group
        .and_then(|g| u32::try_from(g).ok())
}

/// The one user every container of the pod runs as (its `runAsUser`, or
/// the pod's), if there is one: `None` when a container leaves its user
/// to the image or two containers differ.
fn fs_user(pod: &Pod) -> Option<u32> {
    let spec = pod.spec.as_ref()?;
    let pod_user = spec.security_context.as_ref().and_then(|s| s.run_as_user);
    let own = |sc: Option<&k8s_openapi::api::core::v1::SecurityContext>| {
        sc.and_then(|s| s.run_as_user).or(pod_user)
    };
    let users = spec
        .init_containers
        .iter()
        .flatten()
        .chain(&spec.containers)
        .map(|c| own(c.security_context.as_ref()))
        .chain(
            spec.ephemeral_containers
                .iter()
                .flatten()
                .map(|c| own(c.security_context.as_ref())),
        );
    let mut one: Option<i64> = None;
    for u in users {
        let u = u?;
        match one {
            Some(prev) if prev != u => return None,
            _ => one = Some(u),
        }
    }
    one.and_then(|u| u32::try_from(u).ok())
}

/// A new emptyDir: writable by everyone (0777 on disk; a tmpfs keeps its
/// sticky 1777 root), and with an `fsGroup`, owned by that group with the
/// setgid bit so files created in it inherit the group (upstream's
/// `SetVolumeOwnership` for a writable volume).
fn empty_dir_ownership(dir: &Path, tmpfs: bool, group: Option<u32>) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mut mode = if tmpfs { 0o1777 } else { 0o777 };
    if let Some(g) = group {
        std::os::unix::fs::chown(dir, None, Some(g))?;
        mode |= 0o2000;
    }
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode))
}

/// Sets up (or refreshes) every volume of `pod`; returns volume name ->
/// host path. Tokens come from (and are cached in) `tokens`.
pub async fn prepare(
    client: &kube::Client,
    tokens: &TokenManager,
    objects: PodObjects<'_>,
    root: &Path,
    pod: &Pod,
    pod_ip: &str,
    host_ip: &str,
) -> Result<BTreeMap<String, PathBuf>, Error> {
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    let ns = pod.metadata.namespace.clone().unwrap_or_default();
    let base = pod_dir(root, &uid).join("volumes");
    let inputs = Inputs {
        client,
        tokens,
        objects,
        ns: &ns,
        pod,
        pod_ip,
        host_ip,
    };
    let mut out = BTreeMap::new();
    for v in pod
        .spec
        .as_ref()
        .and_then(|s| s.volumes.clone())
        .unwrap_or_default()
    {
        if v.image.is_some() {
            // Image volumes live in the image store; the runtime mounts
            // them (container_config::image_volumes).
            continue;
        }
        let path = prepare_one(&inputs, &base, &v).await?;
        out.insert(v.name.clone(), path);
    }
    Ok(out)
}

/// Whether a volume of `pod` shows the pod's IP (a downward API item of
/// `status.podIP`/`status.podIPs`): only those must wait for the network;
/// every other volume is prepared while the sandbox and network are made.
pub fn needs_pod_ip(pod: &Pod) -> bool {
    let shows_ip = |items: Option<&Vec<k8s_openapi::api::core::v1::DownwardAPIVolumeFile>>| {
        items.into_iter().flatten().any(|f| {
            f.field_ref
                .as_ref()
                .is_some_and(|r| r.field_path.starts_with("status.podIP"))
        })
    };
    pod.spec
        .iter()
        .flat_map(|s| s.volumes.iter().flatten())
        .any(|v| {
            v.downward_api
                .as_ref()
                .is_some_and(|d| shows_ip(d.items.as_ref()))
                || v.projected.as_ref().is_some_and(|p| {
                    p.sources
                        .iter()
                        .flatten()
                        .filter_map(|src| src.downward_api.as_ref())
                        .any(|d| shows_ip(d.items.as_ref()))
                })
        })
}

/// What every volume of one pod is made from.
#[derive(Clone, Copy)]
struct Inputs<'a> {
    client: &'a kube::Client,
    tokens: &'a TokenManager,
    objects: PodObjects<'a>,
    ns: &'a str,
    pod: &'a Pod,
    pod_ip: &'a str,
    host_ip: &'a str,
}

async fn prepare_one(inputs: &Inputs<'_>, base: &Path, v: &Volume) -> Result<PathBuf, Error> {
    let Inputs {
        client,
        tokens,
        objects,
        ns,
        pod,
        pod_ip,
        host_ip,
    } = *inputs;
    let name = v.name.as_str();
    let dir_for = |plugin: &str| base.join(plugin).join(name);
    if let Some(h) = &v.host_path {
        return host_path(name, Path::new(&h.path), h.type_.as_deref().unwrap_or(""));
    }
    if let Some(c) = &v.persistent_volume_claim {
        return claim_path(client, ns, name, &c.claim_name).await;
    }
    let group = fs_group(pod);
    if let Some(e) = &v.empty_dir {
        let dir = dir_for("kubernetes.io~empty-dir");
        let created = !dir.exists();
        std::fs::create_dir_all(&dir).map_err(io(name, &dir))?;
        let memory = e.medium.as_deref() == Some("Memory");
        let fresh = if memory {
            let size = e
                .size_limit
                .as_ref()
                .and_then(|q| apimachinery::quantity::value(&q.0).ok())
                .filter(|b| *b >= 0);
            mount_tmpfs(name, &dir, size, 0o1777)?
        } else {
            created
        };
        // Only when new: the pod may change its volume's mode afterwards.
        if fresh {
            empty_dir_ownership(&dir, memory, group).map_err(io(name, &dir))?;
        }
        return Ok(dir);
    }
    let mut files: BTreeMap<String, (Vec<u8>, u32)> = BTreeMap::new();
    let mut owners: BTreeMap<String, u32> = BTreeMap::new();
    let (plugin, tmpfs) = if let Some(c) = &v.config_map {
        let optional = c.optional == Some(true);
        let data = config_map(objects, ns, name, &c.name, optional).await?;
        add_items(
            name,
            &mut files,
            &data,
            c.items.as_deref(),
            c.default_mode.unwrap_or(0o644),
            optional,
        )?;
        ("kubernetes.io~configmap", false)
    } else if let Some(s) = &v.secret {
        let sname = s.secret_name.clone().unwrap_or_default();
        let optional = s.optional == Some(true);
        let data = secret(objects, ns, name, &sname, optional).await?;
        add_items(
            name,
            &mut files,
            &data,
            s.items.as_deref(),
            s.default_mode.unwrap_or(0o644),
            optional,
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
                let optional = c.optional == Some(true);
                let data = config_map(objects, ns, name, &c.name, optional).await?;
                add_items(
                    name,
                    &mut files,
                    &data,
                    c.items.as_deref(),
                    default,
                    optional,
                )?;
            }
            if let Some(s) = &src.secret {
                let optional = s.optional == Some(true);
                let data = secret(objects, ns, name, &s.name, optional).await?;
                add_items(
                    name,
                    &mut files,
                    &data,
                    s.items.as_deref(),
                    default,
                    optional,
                )?;
            }
            if let Some(t) = &src.service_account_token {
                // With an fsGroup the token is 0600 and the group gets
                // read access below (0640); when every container runs as
                // one user, it is that user's, 0600: never readable by
                // others (upstream's rule).
                let user = fs_user(pod);
                let mode = if group.is_some() || user.is_some() {
                    0o600
                } else {
                    default as u32
                };
                let token = service_account_token(tokens, pod, name, t).await?;
                files.insert(t.path.clone(), (token.into_bytes(), mode));
                if let Some(u) = user {
                    owners.insert(t.path.clone(), u);
                }
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
            message: "unsupported volume type (supported: emptyDir, hostPath, persistentVolumeClaim, configMap, secret, downwardAPI, projected, image)"
                .into(),
        });
    };
    let dir = dir_for(plugin);
    std::fs::create_dir_all(&dir).map_err(io(name, &dir))?;
    if tmpfs {
        mount_tmpfs(name, &dir, None, 0o755)?;
    }
    // These volumes are read-only to the pod: with an fsGroup, the group
    // may read every file (upstream's read-only ownership mask).
    if group.is_some() {
        for (_, mode) in files.values_mut() {
            *mode |= 0o440;
        }
    }
    atomic::write(&dir, &files, group, &owners).map_err(io(name, &dir))?;
    Ok(dir)
}

/// The token of a `serviceAccountToken` source: for the pod's account,
/// bound to the pod, for the source's audience (none: the apiserver's).
async fn service_account_token(
    tokens: &TokenManager,
    pod: &Pod,
    volume: &str,
    source: &k8s_openapi::api::core::v1::ServiceAccountTokenProjection,
) -> Result<String, Error> {
    let fail = |message: String| Error::SetUp {
        volume: volume.to_string(),
        message,
    };
    let account = pod
        .spec
        .as_ref()
        .and_then(|s| s.service_account_name.clone())
        .filter(|n| !n.is_empty())
        .ok_or_else(|| fail("the pod names no service account for its token".into()))?;
    let key = TokenKey {
        namespace: pod.metadata.namespace.clone().unwrap_or_default(),
        service_account: account,
        audiences: source
            .audience
            .iter()
            .filter(|a| !a.is_empty())
            .cloned()
            .collect(),
        expiration_seconds: source.expiration_seconds,
        pod_name: pod.metadata.name.clone().unwrap_or_default(),
        pod_uid: pod.metadata.uid.clone().unwrap_or_default(),
    };
    tokens.token(&key).await.map_err(|e| fail(e.to_string()))
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
    optional: bool,
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
                    // An optional source may lack the key (or be missing
                    // altogether): the file is simply absent.
                    if optional {
                        continue;
                    }
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
    objects: PodObjects<'_>,
    ns: &str,
    volume: &str,
    name: &str,
    optional: bool,
) -> Result<BTreeMap<String, Vec<u8>>, Error> {
    match objects
        .config_map(ns, name)
        .await
        .map_err(|source| Error::Api {
            volume: volume.to_string(),
            source,
        })? {
        Some(cm) => {
            let mut m: BTreeMap<String, Vec<u8>> = cm
                .data
                .iter()
                .flatten()
                .map(|(k, v)| (k.clone(), v.clone().into_bytes()))
                .collect();
            m.extend(
                cm.binary_data
                    .iter()
                    .flatten()
                    .map(|(k, v)| (k.clone(), v.0.clone())),
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
    objects: PodObjects<'_>,
    ns: &str,
    volume: &str,
    name: &str,
    optional: bool,
) -> Result<BTreeMap<String, Vec<u8>>, Error> {
    match objects
        .secret(ns, name)
        .await
        .map_err(|source| Error::Api {
            volume: volume.to_string(),
            source,
        })? {
        Some(s) => {
            let mut m: BTreeMap<String, Vec<u8>> = s
                .data
                .iter()
                .flatten()
                .map(|(k, v)| (k.clone(), v.0.clone()))
                .collect();
            m.extend(
                s.string_data
                    .iter()
                    .flatten()
                    .map(|(k, v)| (k.clone(), v.clone().into_bytes())),
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
/// The node path of a `persistentVolumeClaim` volume: the claim must be
/// Bound, and its volume a `hostPath` or `local` one (the node-local kinds
/// this kubelet mounts; the local-path provisioner makes `hostPath` ones).
async fn claim_path(
    client: &kube::Client,
    ns: &str,
    volume: &str,
    claim_name: &str,
) -> Result<PathBuf, Error> {
    use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};
    let fail = |message: String| Error::Claim {
        volume: volume.to_string(),
        claim: format!("{ns}/{claim_name}"),
        message,
    };
    let api: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), ns);
    let claim = match api.get_opt(claim_name).await {
        Ok(Some(c)) => c,
        Ok(None) => {
            return Err(fail(format!(
                "persistentvolumeclaims \"{claim_name}\" not found"
            )))
        }
        Err(source) => {
            return Err(Error::Api {
                volume: volume.to_string(),
                source,
            })
        }
    };
    if claim.metadata.deletion_timestamp.is_some() {
        return Err(fail("PVC is being deleted".into()));
    }
    let bound = claim.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Bound");
    let pv_name = claim
        .spec
        .as_ref()
        .and_then(|s| s.volume_name.clone())
        .filter(|n| !n.is_empty());
    let Some(pv_name) = pv_name.filter(|_| bound) else {
        return Err(fail("PVC is not bound".into()));
    };
    let pvs: Api<PersistentVolume> = Api::all(client.clone());
    let pv = match pvs.get_opt(&pv_name).await {
        Ok(Some(pv)) => pv,
        Ok(None) => return Err(fail(format!("persistentvolumes \"{pv_name}\" not found"))),
        Err(source) => {
            return Err(Error::Api {
                volume: volume.to_string(),
                source,
            })
        }
    };
    let spec = pv.spec.unwrap_or_default();
    if let Some(h) = &spec.host_path {
        return host_path(volume, Path::new(&h.path), h.type_.as_deref().unwrap_or(""));
    }
    if let Some(l) = &spec.local {
        // A local volume is a disk or directory someone prepared: it must
        // be there.
        return host_path(volume, Path::new(&l.path), "Directory");
    }
    Err(Error::SetUp {
        volume: volume.to_string(),
        message: format!(
            "persistent volume {pv_name} is of a type this kubelet cannot mount (supported: hostPath, local)"
        ),
    })
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    fn pod(spec: serde_json::Value) -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p", "namespace": "ns", "uid": "uid-1"},
            "spec": spec,
        }))
        .expect("pod")
    }

    #[test]
    fn only_a_volume_that_shows_the_pod_ip_waits_for_the_network() {
        let item = |path: &str| serde_json::json!({"path": "f", "fieldRef": {"fieldPath": path}});
        let containers = serde_json::json!([{"name": "c", "image": "i"}]);
        let plain = pod(serde_json::json!({"containers": containers, "volumes": [
            {"name": "d", "downwardAPI": {"items": [item("metadata.name"), item("status.hostIP")]}},
            {"name": "t", "projected": {"sources": [{"serviceAccountToken": {"path": "token"}}]}},
            {"name": "e", "emptyDir": {}}]}));
        assert!(!needs_pod_ip(&plain));
        let direct = pod(serde_json::json!({"containers": containers, "volumes": [
            {"name": "d", "downwardAPI": {"items": [item("status.podIP")]}}]}));
        assert!(needs_pod_ip(&direct));
        let projected = pod(serde_json::json!({"containers": containers, "volumes": [
            {"name": "p", "projected": {"sources": [{"downwardAPI": {"items": [item("status.podIPs")]}}]}}]}));
        assert!(needs_pod_ip(&projected));
    }

    /// A client that is never called: emptyDir needs no apiserver.
    fn client() -> kube::Client {
        let cfg = kube::Config::new("http://127.0.0.1:9".parse().expect("url"));
        kube::Client::try_from(cfg).expect("client")
    }

    #[test]
    fn a_mount_point_is_told_from_a_plain_directory() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("m");
        std::fs::create_dir(&dir).unwrap();
        assert!(!is_mount_point(&dir));
        assert!(mount_tmpfs("m", &dir, None, 0o755).unwrap());
        assert!(is_mount_point(&dir));
        assert!(!is_mount_point(root.path()));
        // A second call sees the mount and leaves it alone.
        assert!(!mount_tmpfs("m", &dir, None, 0o755).unwrap());
        nix::mount::umount(&dir).unwrap();
        assert!(!is_mount_point(&dir));
    }

    #[tokio::test]
    async fn empty_dirs_are_world_writable_and_memory_ones_are_tmpfs() {
        let root = tempfile::tempdir().unwrap();
        let p = pod(serde_json::json!({
            "securityContext": {"fsGroup": 123},
            "containers": [{"name": "c", "image": "busybox"}],
            "volumes": [
                {"name": "disk", "emptyDir": {}},
                {"name": "mem", "emptyDir": {"medium": "Memory", "sizeLimit": "8Mi"}},
            ],
        }));
        let tokens = TokenManager::new(client());
        let objects = objects::ObjectCaches::new(client(), objects::Strategy::Cache);
        let got = prepare(
            &client(),
            &tokens,
            objects.for_pod(std::time::Instant::now()),
            root.path(),
            &p,
            "10.0.0.2",
            "10.0.0.1",
        )
        .await
        .expect("prepare");
        let disk = std::fs::metadata(&got["disk"]).unwrap();
        assert_eq!(disk.permissions().mode() & 0o7777, 0o2777);
        assert_eq!(disk.gid(), 123);
        let mem = &got["mem"];
        let mode = std::fs::metadata(mem).map(|m| m.permissions().mode() & 0o7777);
        let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap();
        let line = mounts
            .lines()
            .find(|l| l.split_whitespace().nth(1) == Some(&*mem.to_string_lossy()))
            .map(String::from);
        teardown(root.path(), "uid-1").expect("teardown");
        let line = line.expect("the Memory emptyDir is a mount");
        assert!(line.starts_with("tmpfs "), "{line}");
        assert!(line.contains("size=8192k"), "{line}");
        let mode = mode.expect("mode");
        assert_eq!(
            mode, 0o3777,
            "a tmpfs root keeps its sticky bit, plus setgid"
        );
        assert!(!pod_dir(root.path(), "uid-1").exists());
    }

    #[test]
    fn the_token_belongs_to_the_one_user_all_containers_run_as() {
        let with = |pod_user: Option<i64>, users: &[Option<i64>]| {
            let containers: Vec<_> = users
                .iter()
                .enumerate()
                .map(|(i, u)| match u {
                    Some(u) => serde_json::json!({"name": format!("c{i}"), "securityContext": {"runAsUser": u}}),
                    None => serde_json::json!({"name": format!("c{i}")}),
                })
                .collect();
            let mut spec = serde_json::json!({"containers": containers});
            if let Some(u) = pod_user {
                spec["securityContext"] = serde_json::json!({"runAsUser": u});
            }
            fs_user(&pod(spec))
        };
        assert_eq!(with(None, &[Some(1000), Some(1000)]), Some(1000));
        assert_eq!(with(Some(1000), &[None, Some(1000)]), Some(1000));
        assert_eq!(
            with(None, &[Some(1000), None]),
            None,
            "one is the image's user"
        );
        assert_eq!(with(None, &[Some(1000), Some(1001)]), None, "two users");
        assert_eq!(with(Some(0), &[None]), Some(0));
    }

    #[test]
    fn optional_sources_may_lack_keys_and_modes_follow_items() {
        let mut data = BTreeMap::new();
        data.insert("data-1".to_string(), b"value-1".to_vec());
        data.insert("data-2".to_string(), b"value-2".to_vec());
        let mut files = BTreeMap::new();
        add_items("v", &mut files, &data, None, 0o400, false).unwrap();
        assert_eq!(files.len(), 2, "no items: every key");
        assert_eq!(files["data-1"], (b"value-1".to_vec(), 0o400));
        let items: Vec<KeyToPath> = serde_json::from_value(serde_json::json!([
            {"key": "data-2", "path": "path/to/data-2", "mode": 0o600},
            {"key": "missing", "path": "m"},
        ]))
        .unwrap();
        let mut files = BTreeMap::new();
        add_items("v", &mut files, &data, Some(&items), 0o644, true).unwrap();
        assert_eq!(
            files.into_iter().collect::<Vec<_>>(),
            [("path/to/data-2".to_string(), (b"value-2".to_vec(), 0o600))]
        );
        let mut files = BTreeMap::new();
        let err = add_items("v", &mut files, &data, Some(&items), 0o644, false)
            .expect_err("a required key is missing");
        assert!(
            err.to_string().contains("non-existent key missing"),
            "{err}"
        );
    }
}
