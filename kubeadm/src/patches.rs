//! `--patches DIR` (upstream's flag, and `patches.directory` of an
//! InitConfiguration): files in `DIR` that patch what kubeadm writes on
//! this node only, named `TARGET[SUFFIX][+PATCHTYPE].{json,yaml}`.
//!
//! The target here is `kubeletconfiguration`: the node's
//! `/var/lib/kubelet/config.yaml`, after the cluster's KubeletConfiguration
//! (what `init` publishes and `join` downloads) and before the kubelet
//! starts. That is upstream's way to give one node a kubelet setting the
//! others do not share (its own `cgroupRoot`, say). `PATCHTYPE` is
//! `strategic` (the default), `merge` or `json`; the files of the target
//! apply in the order of their names (`SUFFIX` orders them).
//!
//! Upstream's other targets patch static Pod manifests; the control plane
//! here runs as units, whose flags `extraArgs` sets ([`crate::configfile`]),
//! so those files are refused by name. Files of no known target are
//! skipped with a message, as upstream does.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

/// The node's kubelet configuration.
pub const KUBELET_CONFIGURATION: &str = "kubeletconfiguration";

/// Upstream's targets that patch static Pod manifests or the CoreDNS
/// Deployment (none exists here). Longer names first: `kube-apiserver`
/// must not read as a suffix of another.
const UNSUPPORTED: [&str; 5] = [
    "kube-controller-manager",
    "kube-scheduler",
    "kube-apiserver",
    "corednsdeployment",
    "etcd",
];

/// Why a patch was not applied.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The directory or a file could not be read.
    #[error("[patches] could not read {path:?}: {source}")]
    Read {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file is not a patch of its type, or does not apply.
    #[error("[patches] {path:?}: {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A target of upstream's this kubeadm has nothing to patch for.
    #[error("[patches] {path:?}: the {target} target patches a static Pod manifest upstream; the control plane runs as units here: set its flags with the ClusterConfiguration's extraArgs")]
    Unsupported {
        /// The file.
        path: PathBuf,
        /// Its target.
        target: String,
    },
}

/// How a file patches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PatchType {
    Strategic,
    Merge,
    Json,
}

/// (target, patch type) of a file name; `None` for a file that is no
/// patch (another extension).
fn parse_name(name: &str) -> Option<(&str, Option<PatchType>)> {
    let stem = name
        .strip_suffix(".yaml")
        .or_else(|| name.strip_suffix(".json"))?;
    let (base, kind) = match stem.rsplit_once('+') {
        Some((base, "strategic")) => (base, Some(PatchType::Strategic)),
        Some((base, "merge")) => (base, Some(PatchType::Merge)),
        Some((base, "json")) => (base, Some(PatchType::Json)),
        Some((base, _)) => (base, None),
        None => (stem, Some(PatchType::Strategic)),
    };
    Some((base, kind))
}

/// `doc` (a KubeletConfiguration) with the `kubeletconfiguration` patches
/// of `dir` applied in the order of their file names.
pub fn kubelet_configuration(dir: &Path, doc: &Value) -> Result<Value, Error> {
    let entries = std::fs::read_dir(dir).map_err(|source| Error::Read {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut names: Vec<String> = entries
        .flatten()
        .filter(|e| e.path().is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut out = doc.clone();
    for name in names {
        let path = dir.join(&name);
        let Some((base, kind)) = parse_name(&name) else {
            continue;
        };
        if let Some(target) = UNSUPPORTED.iter().find(|t| base.starts_with(*t)) {
            return Err(Error::Unsupported {
                path,
                target: target.to_string(),
            });
        }
        if !base.starts_with(KUBELET_CONFIGURATION) {
            println!("[patches] Ignoring file {name:?}: unknown target, must be one of [{KUBELET_CONFIGURATION}]");
            continue;
        }
        let invalid = |reason: String| Error::Invalid {
            path: path.clone(),
            reason,
        };
        let kind = kind.ok_or_else(|| {
            invalid("unknown patch type: must be one of strategic, merge, json".into())
        })?;
        let text = std::fs::read_to_string(&path).map_err(|source| Error::Read {
            path: path.clone(),
            source,
        })?;
        let patch = serde_yaml_ng::Deserializer::from_str(&text)
            .next()
            .map(Value::deserialize)
            .transpose()
            .map_err(|e| invalid(e.to_string()))?
            .unwrap_or(Value::Null);
        out = match kind {
            PatchType::Merge => apimachinery::patch::apply_merge_patch(&out, &patch),
            PatchType::Json => apimachinery::patch::apply_json_patch(&out, &patch)
                .map_err(|e| invalid(e.to_string()))?,
            PatchType::Strategic => apimachinery::patch::apply_strategic_merge_patch(
                &out,
                &patch,
                crate::configfile::KUBELET_API_VERSION,
                "KubeletConfiguration",
            )
            .map_err(|e| invalid(e.to_string()))?,
        };
        println!("[patches] Applied patch of type {kind:?} to target \"{KUBELET_CONFIGURATION}\" from {name:?}");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn file_names_read_as_upstreams() {
        assert_eq!(
            parse_name("kubeletconfiguration.yaml"),
            Some(("kubeletconfiguration", Some(PatchType::Strategic)))
        );
        assert_eq!(
            parse_name("kubeletconfiguration1+merge.json"),
            Some(("kubeletconfiguration1", Some(PatchType::Merge)))
        );
        assert_eq!(
            parse_name("kubeletconfiguration+json.yaml"),
            Some(("kubeletconfiguration", Some(PatchType::Json)))
        );
        assert_eq!(
            parse_name("kubeletconfiguration+xml.yaml"),
            Some(("kubeletconfiguration", None))
        );
        assert_eq!(parse_name("README.md"), None);
    }

    #[test]
    fn kubelet_patches_apply_in_name_order_and_others_are_refused_or_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let write = |n: &str, t: &str| std::fs::write(dir.path().join(n), t).unwrap();
        write(
            "kubeletconfiguration0+merge.yaml",
            "cgroupRoot: lab-node-2\nmaxPods: 50\n",
        );
        write("kubeletconfiguration1.yaml", "maxPods: 60\n");
        write(
            "kubeletconfiguration2+json.json",
            r#"[{"op": "add", "path": "/podLogsDir", "value": "/var/tmp/logs"}]"#,
        );
        write("notes.txt", "not a patch");
        write("something+merge.yaml", "a: b\n");
        let doc = json!({"clusterDomain": "cluster.local", "maxPods": 110});
        let got = kubelet_configuration(dir.path(), &doc).unwrap();
        assert_eq!(
            got,
            json!({"clusterDomain": "cluster.local", "maxPods": 60, "cgroupRoot": "lab-node-2", "podLogsDir": "/var/tmp/logs"})
        );

        write("kube-apiserver+merge.yaml", "x: y\n");
        let err = kubelet_configuration(dir.path(), &doc).unwrap_err();
        assert!(err.to_string().contains("extraArgs"), "{err}");
        std::fs::remove_file(dir.path().join("kube-apiserver+merge.yaml")).unwrap();

        write("kubeletconfiguration3+json.yaml", "{not: a list}\n");
        let err = kubelet_configuration(dir.path(), &doc).unwrap_err();
        assert!(
            err.to_string().contains("kubeletconfiguration3+json.yaml"),
            "{err}"
        );

        let missing = kubelet_configuration(&dir.path().join("nope"), &doc).unwrap_err();
        assert!(matches!(missing, Error::Read { .. }), "{missing}");
    }
}
