//! What the kubelet remembers about each pod's attachment, one JSON file per
//! sandbox under `<state_dir>/results/`.
//!
//! The CNI specification makes the runtime responsible for two things only it
//! can know: the result of `ADD`, which `CHECK` and `DEL` must be given back
//! as `prevResult`, and the configuration the attachment was made with, which
//! `DEL` must use even if the file on disk changed since. So the record holds
//! both, plus the port mappings (portmap needs them again on `DEL`) and the
//! identity of the network namespace, so that a later `DEL` never acts on a
//! namespace that merely reuses the old `/proc/<pid>/ns/net` path.
//!
//! The record is written *before* `ADD` (without a result): if the kubelet
//! dies in the middle, the next setup or teardown of that sandbox finds it
//! and runs `DEL` first, so no address is leaked.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Error, PodRef, PortMapping};

/// One pod's attachment to the network.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attachment {
    /// `CNI_CONTAINERID`.
    pub container_id: String,
    /// `CNI_IFNAME`.
    pub ifname: String,
    /// The netns path given at setup.
    pub netns: String,
    /// (device, inode) of that namespace at setup.
    pub netns_id: Option<(u64, u64)>,
    /// The pod, for CNI_ARGS.
    pub pod: PodRef,
    /// The pod's host ports.
    pub port_mappings: Vec<PortMapping>,
    /// The configuration list used for ADD.
    pub list: Value,
    /// The result of ADD; `None` while ADD has not completed.
    pub result: Option<Value>,
    /// Attached by the built-in path ([`super::kubenet`]) rather than by
    /// the list's plugins: DEL must go the same way.
    #[serde(default)]
    pub builtin: bool,
}

/// The directory of records.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

impl Store {
    /// Records live in `dir`.
    pub fn new(dir: PathBuf) -> Store {
        Store { dir }
    }

    fn path(&self, id: &str) -> Result<PathBuf, Error> {
        check_id(id)?;
        Ok(self.dir.join(format!("{id}.json")))
    }

    /// The record of a sandbox, if any. An unreadable record is an error
    /// rather than "none": acting as if nothing was set up could leak the
    /// address it holds.
    pub fn load(&self, id: &str) -> Result<Option<Attachment>, Error> {
        let path = self.path(id)?;
        let text = match std::fs::read(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(Error::Io { path, source }),
        };
        serde_json::from_slice(&text)
            .map(Some)
            .map_err(|e| Error::BadConfig {
                path,
                reason: e.to_string(),
            })
    }

    /// Writes a record atomically (temporary file + rename), so a crash
    /// leaves either the old or the new one.
    pub fn save(&self, a: &Attachment) -> Result<(), Error> {
        let path = self.path(&a.container_id)?;
        let text = serde_json::to_vec_pretty(a).map_err(|e| Error::BadConfig {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        write_atomic(&path, &text)
    }

    /// Forgets a sandbox.
    pub fn remove(&self, id: &str) -> Result<(), Error> {
        let path = self.path(id)?;
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(Error::Io { path, source }),
        }
    }
}

/// Sandbox ids become file names (here and in host-local's store), so only
/// plain names are accepted.
pub fn check_id(id: &str) -> Result<(), Error> {
    let ok = !id.is_empty()
        && id.len() <= 200
        && !id.starts_with('.')
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(Error::BadSandboxId(id.to_string()))
    }
}

/// Writes `data` to `path` through a temporary file in the same directory,
/// creating the directory if needed.
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<(), Error> {
    let io = |p: &Path| {
        let p = p.to_path_buf();
        move |source| Error::Io { path: p, source }
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    std::fs::write(&tmp, data).map_err(io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(|source| {
        let _ = std::fs::remove_file(&tmp);
        Error::Io {
            path: path.to_path_buf(),
            source,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        for ok in ["abc", "0123abcdef", "pod_1-x.y"] {
            check_id(ok).unwrap();
        }
        for bad in ["", ".", "..", "a/b", "../x", ".hidden", "a b"] {
            assert!(check_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::new(dir.path().join("results"));
        assert!(s.load("sb1").unwrap().is_none());
        let a = Attachment {
            container_id: "sb1".into(),
            ifname: "eth0".into(),
            netns: "/proc/1/ns/net".into(),
            netns_id: Some((4, 4026531840)),
            pod: PodRef {
                namespace: "default".into(),
                name: "web".into(),
                uid: "u".into(),
            },
            port_mappings: vec![PortMapping {
                container_port: 80,
                host_port: 8080,
                protocol: "tcp".into(),
                host_ip: String::new(),
            }],
            list: serde_json::json!({"name": "n"}),
            result: None,
            builtin: false,
        };
        s.save(&a).unwrap();
        let b = s.load("sb1").unwrap().unwrap();
        assert_eq!(b.netns_id, a.netns_id);
        assert_eq!(b.port_mappings, a.port_mappings);
        s.remove("sb1").unwrap();
        s.remove("sb1").unwrap();
        assert!(s.load("sb1").unwrap().is_none());
        std::fs::write(dir.path().join("results/bad.json"), "{").unwrap();
        assert!(s.load("bad").is_err());
    }
}
