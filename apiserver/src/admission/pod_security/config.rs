//! The plug-in's configuration: a `PodSecurityConfiguration`
//! (`pod-security.admission.config.k8s.io/v1`) given, as upstream, in the
//! `PodSecurity` entry of the `--admission-control-config-file`'s
//! `AdmissionConfiguration` (`apiserver.config.k8s.io/v1`), inline under
//! `configuration` or in the file named by `path` (relative to the
//! admission configuration file):
//!
//! ```yaml
//! apiVersion: apiserver.config.k8s.io/v1
//! kind: AdmissionConfiguration
//! plugins:
//! - name: PodSecurity
//!   configuration:
//!     apiVersion: pod-security.admission.config.k8s.io/v1
//!     kind: PodSecurityConfiguration
//!     defaults: {enforce: baseline, enforce-version: latest, warn: restricted}
//!     exemptions: {usernames: [], runtimeClasses: [], namespaces: [kube-system]}
//! ```
//!
//! Without one, every mode defaults to `privileged:latest` and nothing is
//! exempt.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use super::policy::{Level, LevelVersion, Policy, Version};

/// The admission configuration's API versions we read.
const ADMISSION_API_VERSIONS: &[&str] = &[
    "apiserver.config.k8s.io/v1",
    "apiserver.config.k8s.io/v1alpha1",
    "apiserver.k8s.io/v1alpha1",
];

/// The plug-in configuration's API versions we read.
const POD_SECURITY_API_VERSIONS: &[&str] = &[
    "pod-security.admission.config.k8s.io/v1",
    "pod-security.admission.config.k8s.io/v1beta1",
    "pod-security.admission.config.k8s.io/v1alpha1",
];

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A file is not YAML/JSON of the expected shape.
    #[error("decoding {path}: {source}")]
    Decode {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: serde_yaml_ng::Error,
    },
    /// An `apiVersion`/`kind` we do not read.
    #[error("{path}: unsupported {what} {api_version:?} (kind {kind:?})")]
    Kind {
        /// The file.
        path: PathBuf,
        /// Which object.
        what: &'static str,
        /// Its apiVersion.
        api_version: String,
        /// Its kind.
        kind: String,
    },
    /// Invalid values, upstream's field errors.
    #[error("invalid PodSecurity configuration: {0}")]
    Invalid(String),
}

/// Who and what is never checked.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Exemptions {
    /// Requests by these users.
    #[serde(default)]
    pub usernames: Vec<String>,
    /// Pods in these namespaces.
    #[serde(default)]
    pub namespaces: Vec<String>,
    /// Pods with these `runtimeClassName`s.
    #[serde(default)]
    pub runtime_classes: Vec<String>,
}

/// The plug-in's configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Configuration {
    /// The policy of a namespace without labels.
    pub defaults: Policy,
    /// What is never checked.
    pub exemptions: Exemptions,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TypeMeta {
    #[serde(default)]
    api_version: String,
    #[serde(default)]
    kind: String,
}

#[derive(Deserialize)]
struct AdmissionConfiguration {
    #[serde(flatten)]
    type_meta: TypeMeta,
    #[serde(default)]
    plugins: Vec<PluginConfig>,
}

#[derive(Deserialize)]
struct PluginConfig {
    name: String,
    #[serde(default)]
    path: Option<PathBuf>,
    #[serde(default)]
    configuration: Option<Value>,
}

#[derive(Deserialize, Default)]
struct Defaults {
    #[serde(default)]
    enforce: Option<String>,
    #[serde(default, rename = "enforce-version")]
    enforce_version: Option<String>,
    #[serde(default)]
    audit: Option<String>,
    #[serde(default, rename = "audit-version")]
    audit_version: Option<String>,
    #[serde(default)]
    warn: Option<String>,
    #[serde(default, rename = "warn-version")]
    warn_version: Option<String>,
}

#[derive(Deserialize)]
struct PodSecurityConfiguration {
    #[serde(flatten)]
    type_meta: TypeMeta,
    #[serde(default)]
    defaults: Defaults,
    #[serde(default)]
    exemptions: Exemptions,
}

fn read(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })
}

fn decode<T: for<'de> Deserialize<'de>>(path: &Path, text: &str) -> Result<T, ConfigError> {
    serde_yaml_ng::from_str(text).map_err(|source| ConfigError::Decode {
        path: path.to_path_buf(),
        source,
    })
}

impl Configuration {
    /// Reads the PodSecurity entry of the admission configuration file at
    /// `path` (the defaults when it has none).
    pub fn load(path: &Path) -> Result<Configuration, ConfigError> {
        let admission: AdmissionConfiguration = decode(path, &read(path)?)?;
        let tm = &admission.type_meta;
        if tm.kind != "AdmissionConfiguration"
            || !ADMISSION_API_VERSIONS.contains(&tm.api_version.as_str())
        {
            return Err(ConfigError::Kind {
                path: path.to_path_buf(),
                what: "admission configuration",
                api_version: tm.api_version.clone(),
                kind: tm.kind.clone(),
            });
        }
        let Some(plugin) = admission
            .plugins
            .into_iter()
            .find(|p| p.name == super::PLUGIN_NAME)
        else {
            return Ok(Configuration::default());
        };
        let (source, config): (PathBuf, PodSecurityConfiguration) = match plugin.configuration {
            Some(inline) => (
                path.to_path_buf(),
                serde_json::from_value(inline).map_err(|e| ConfigError::Invalid(e.to_string()))?,
            ),
            None => match plugin.path {
                Some(p) => {
                    let p = if p.is_relative() {
                        path.parent().unwrap_or(Path::new(".")).join(p)
                    } else {
                        p
                    };
                    let text = read(&p)?;
                    (p.clone(), decode(&p, &text)?)
                }
                None => return Ok(Configuration::default()),
            },
        };
        Configuration::from_api(&source, config)
    }

    fn from_api(path: &Path, c: PodSecurityConfiguration) -> Result<Configuration, ConfigError> {
        let tm = &c.type_meta;
        if tm.kind != "PodSecurityConfiguration"
            || !POD_SECURITY_API_VERSIONS.contains(&tm.api_version.as_str())
        {
            return Err(ConfigError::Kind {
                path: path.to_path_buf(),
                what: "PodSecurity configuration",
                api_version: tm.api_version.clone(),
                kind: tm.kind.clone(),
            });
        }
        let mut errors = Vec::new();
        let mut mode = |level: &Option<String>, version: &Option<String>, name: &str| {
            let mut lv = LevelVersion::PRIVILEGED;
            if let Some(l) = level {
                match Level::parse(l) {
                    Ok(l) => lv.level = l,
                    Err(why) => {
                        errors.push(format!("defaults.{name}: Invalid value: {l:?}: {why}"))
                    }
                }
            }
            if let Some(v) = version {
                match Version::parse(v) {
                    Ok(v) => lv.version = v,
                    Err(why) => errors.push(format!(
                        "defaults.{name}-version: Invalid value: {v:?}: {why}"
                    )),
                }
            }
            lv
        };
        let d = &c.defaults;
        let defaults = Policy {
            enforce: mode(&d.enforce, &d.enforce_version, "enforce"),
            audit: mode(&d.audit, &d.audit_version, "audit"),
            warn: mode(&d.warn, &d.warn_version, "warn"),
        };
        for (name, list) in [
            ("namespaces", &c.exemptions.namespaces),
            ("runtimeClasses", &c.exemptions.runtime_classes),
            ("usernames", &c.exemptions.usernames),
        ] {
            for (i, item) in list.iter().enumerate() {
                if item.is_empty() {
                    errors.push(format!(
                        "exemptions.{name}[{i}]: Invalid value: \"\": must not be empty"
                    ));
                } else if list[..i].contains(item) {
                    errors.push(format!("exemptions.{name}[{i}]: Duplicate value: {item:?}"));
                }
            }
        }
        if !errors.is_empty() {
            return Err(ConfigError::Invalid(errors.join(", ")));
        }
        Ok(Configuration {
            defaults,
            exemptions: c.exemptions,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).expect("write");
        p
    }

    #[test]
    fn inline_and_path_configurations_are_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        let inline = write(
            dir.path(),
            "admission.yaml",
            "apiVersion: apiserver.config.k8s.io/v1\nkind: AdmissionConfiguration\nplugins:\n\
             - name: PodSecurity\n  configuration:\n    apiVersion: pod-security.admission.config.k8s.io/v1\n\
             \x20   kind: PodSecurityConfiguration\n    defaults:\n      enforce: baseline\n      warn-version: v1.30\n\
             \x20   exemptions:\n      usernames: [jane]\n      namespaces: [ops]\n",
        );
        let c = Configuration::load(&inline).expect("load");
        assert_eq!(c.defaults.enforce.to_string(), "baseline:latest");
        assert_eq!(c.defaults.warn.to_string(), "privileged:v1.30");
        assert_eq!(c.exemptions.usernames, ["jane"]);
        assert_eq!(c.exemptions.namespaces, ["ops"]);

        write(
            dir.path(),
            "psa.yaml",
            "apiVersion: pod-security.admission.config.k8s.io/v1\nkind: PodSecurityConfiguration\n\
             defaults: {audit: restricted}\nexemptions: {runtimeClasses: [kata]}\n",
        );
        let by_path = write(
            dir.path(),
            "admission2.yaml",
            "apiVersion: apiserver.config.k8s.io/v1\nkind: AdmissionConfiguration\nplugins:\n\
             - name: PodSecurity\n  path: psa.yaml\n",
        );
        let c = Configuration::load(&by_path).expect("load");
        assert_eq!(c.defaults.audit.level, Level::Restricted);
        assert_eq!(c.exemptions.runtime_classes, ["kata"]);
    }

    #[test]
    fn bad_configurations_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let bad = write(
            dir.path(),
            "a.yaml",
            "apiVersion: apiserver.config.k8s.io/v1\nkind: AdmissionConfiguration\nplugins:\n\
             - name: PodSecurity\n  configuration:\n    apiVersion: pod-security.admission.config.k8s.io/v1\n\
             \x20   kind: PodSecurityConfiguration\n    defaults: {enforce: strict}\n",
        );
        let err = Configuration::load(&bad).expect_err("invalid level");
        assert_eq!(
            err.to_string(),
            "invalid PodSecurity configuration: defaults.enforce: Invalid value: \"strict\": must be one of privileged, baseline, restricted"
        );
        let other = write(dir.path(), "b.yaml", "apiVersion: v1\nkind: ConfigMap\n");
        assert!(matches!(
            Configuration::load(&other),
            Err(ConfigError::Kind { .. })
        ));
        let none = write(
            dir.path(),
            "c.yaml",
            "apiVersion: apiserver.config.k8s.io/v1\nkind: AdmissionConfiguration\nplugins: []\n",
        );
        assert_eq!(
            Configuration::load(&none).expect("load"),
            Configuration::default()
        );
    }
}
