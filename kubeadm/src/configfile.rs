//! `kubeadm init --config FILE`: upstream's configuration file, a YAML
//! stream of documents each with its `apiVersion` and `kind`.
//!
//! Of upstream's kinds we read `KubeletConfiguration`
//! (`kubelet.config.k8s.io/v1beta1`): its fields go over the configuration
//! kubeadm renders for every kubelet ([`crate::kubelet::configuration`]),
//! which `init` publishes in `kube-system/kubelet-config`, so joining nodes
//! get it too; this is upstream's way to set, say, a registry mirror for the
//! whole cluster. `InitConfiguration`, `ClusterConfiguration` and
//! `JoinConfiguration` are refused with a clear message: their settings are
//! flags here (docs/install.md), and silently ignoring a file's settings
//! would surprise.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

/// Why a configuration file was refused.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file could not be read.
    #[error("unable to read config from {path:?}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A document is not YAML, or has no kind.
    #[error("{path:?}: {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// The API version of the KubeletConfiguration kubeadm writes and reads.
pub const KUBELET_API_VERSION: &str = "kubelet.config.k8s.io/v1beta1";

/// The KubeletConfiguration fields of the file at `path` (without
/// `apiVersion` and `kind`), `None` when it has no such document.
pub fn kubelet_configuration(path: &Path) -> Result<Option<Value>, Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&text).map_err(|reason| Error::Invalid {
        path: path.to_path_buf(),
        reason,
    })
}

fn parse(text: &str) -> Result<Option<Value>, String> {
    let mut kubelet: Option<Value> = None;
    for doc in serde_yaml_ng::Deserializer::from_str(text) {
        let value = Value::deserialize(doc).map_err(|e| e.to_string())?;
        if value.is_null() {
            continue;
        }
        let kind = value.get("kind").and_then(Value::as_str).unwrap_or("");
        let version = value
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or("");
        match kind {
            "KubeletConfiguration" => {
                if version != KUBELET_API_VERSION {
                    return Err(format!(
                        "KubeletConfiguration of apiVersion {version:?}: only {KUBELET_API_VERSION} is known"
                    ));
                }
                let mut fields = value;
                if let Some(map) = fields.as_object_mut() {
                    map.remove("apiVersion");
                    map.remove("kind");
                }
                kubelet = Some(match kubelet {
                    Some(before) => apimachinery::patch::apply_merge_patch(&before, &fields),
                    None => fields,
                });
            }
            "InitConfiguration" | "ClusterConfiguration" | "JoinConfiguration" => {
                return Err(format!(
                    "{kind} is not read by this kubeadm: give its settings as flags (docs/install.md); only KubeletConfiguration documents are"
                ))
            }
            "" => return Err("a document without \"kind\"".into()),
            other => return Err(format!("unknown kind {other:?}")),
        }
    }
    Ok(kubelet)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubelet_configuration_documents_are_merged() {
        let text = "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nregistryMirrors:\n  docker.io: [\"http://10.0.0.1:5000\"]\nmaxPods: 50\n---\n---\napiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nmaxPods: 60\n";
        let got = parse(text).unwrap().unwrap();
        assert_eq!(got["maxPods"], 60);
        assert_eq!(
            got["registryMirrors"]["docker.io"][0],
            "http://10.0.0.1:5000"
        );
        assert!(got.get("kind").is_none());
    }

    #[test]
    fn other_kinds_are_refused_by_name() {
        let err =
            parse("apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\n").unwrap_err();
        assert!(err.contains("ClusterConfiguration is not read"), "{err}");
        assert!(parse("maxPods: 3\n")
            .unwrap_err()
            .contains("without \"kind\""));
        assert_eq!(parse("").unwrap(), None);
    }
}
