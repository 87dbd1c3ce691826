//! The JSON documents of an image (OCI image spec, and Docker's schema2 which has
//! the same shape with other media types).
//!
//! * an **index** (Docker: *manifest list*) maps platforms to manifests;
//! * a **manifest** names one config blob and an ordered list of layer blobs;
//! * the **config** holds what the image author set with `ENTRYPOINT`, `CMD`,
//!   `ENV`, `WORKDIR`, `USER`, plus the `diff_ids`: digests of the *uncompressed*
//!   layers, which we check while unpacking.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// OCI index media type.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Docker manifest list media type.
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// OCI manifest media type.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// Docker schema2 manifest media type.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// The OCI annotation that names a manifest inside an OCI layout.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// A content descriptor: what a blob is, its digest and size.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// Media type of the target.
    #[serde(default)]
    pub media_type: String,
    /// `sha256:<hex>`.
    pub digest: String,
    /// Size in bytes.
    #[serde(default)]
    pub size: i64,
    /// Platform (only in indexes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    /// Annotations (ref names in OCI layouts).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// The platform of one manifest in an index.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Platform {
    /// CPU architecture, Go names (`amd64`, `arm64`).
    #[serde(default)]
    pub architecture: String,
    /// Operating system (`linux`).
    #[serde(default)]
    pub os: String,
    /// Architecture variant (`v8`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

/// Either kind of top-level document, told apart by `mediaType` or by shape.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Document {
    /// Declared media type (optional in OCI).
    #[serde(default)]
    pub media_type: Option<String>,
    /// Index entries.
    #[serde(default)]
    pub manifests: Option<Vec<Descriptor>>,
    /// Manifest config.
    #[serde(default)]
    pub config: Option<Descriptor>,
    /// Manifest layers.
    #[serde(default)]
    pub layers: Option<Vec<Descriptor>>,
}

impl Document {
    /// Whether this is an index/manifest list (given the HTTP content type too).
    pub fn is_index(&self, content_type: &str) -> bool {
        let mt = self.media_type.as_deref().unwrap_or(content_type);
        mt == OCI_INDEX || mt == DOCKER_LIST || (self.manifests.is_some() && self.layers.is_none())
    }
}

/// Go's name for the architecture we run on.
pub fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    }
}

/// Picks the manifest for linux on this machine's architecture from an index.
pub fn pick_platform(manifests: &[Descriptor]) -> Option<&Descriptor> {
    let arch = host_arch();
    manifests
        .iter()
        .find(|d| {
            d.platform
                .as_ref()
                .is_some_and(|p| p.os == "linux" && p.architecture == arch)
        })
        .or_else(|| {
            // Indexes inside OCI layouts often carry no platform at all.
            if manifests.iter().all(|d| d.platform.is_none()) {
                manifests.first()
            } else {
                None
            }
        })
}

/// The `config` object of an image config: defaults for the container.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerDefaults {
    /// `USER` as written: `uid`, `uid:gid`, `name` or `name:group`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// `ENV` as `KEY=value`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<String>>,
    /// `ENTRYPOINT`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    /// `CMD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    /// `WORKDIR`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    /// `STOPSIGNAL`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
}

/// The `rootfs` object of an image config.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct RootFs {
    /// Digests of the uncompressed layers, in order.
    #[serde(default)]
    pub diff_ids: Vec<String>,
}

/// An image config blob (only the fields the runtime uses).
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct ImageConfig {
    /// Architecture.
    #[serde(default)]
    pub architecture: String,
    /// OS.
    #[serde(default)]
    pub os: String,
    /// Container defaults.
    #[serde(default)]
    pub config: Option<ContainerDefaults>,
    /// Layer diff ids.
    #[serde(default)]
    pub rootfs: RootFs,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_linux_amd64_from_a_list() {
        let doc: Document = serde_json::from_str(&format!(
            r#"{{"mediaType":"{DOCKER_LIST}","manifests":[
              {{"digest":"sha256:a","platform":{{"os":"linux","architecture":"arm64"}}}},
              {{"digest":"sha256:b","platform":{{"os":"linux","architecture":"{}"}}}}]}}"#,
            host_arch()
        ))
        .unwrap();
        assert!(doc.is_index(""));
        let chosen = pick_platform(doc.manifests.as_deref().unwrap()).unwrap();
        assert_eq!(chosen.digest, "sha256:b");
    }

    #[test]
    fn parses_config_defaults() {
        let c: ImageConfig = serde_json::from_str(
            r#"{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/bin"],"Cmd":["sh"],"User":"1000"},
                "rootfs":{"type":"layers","diff_ids":["sha256:x"]}}"#,
        )
        .unwrap();
        let d = c.config.unwrap();
        assert_eq!(d.cmd, Some(vec!["sh".to_string()]));
        assert_eq!(d.user.as_deref(), Some("1000"));
        assert_eq!(c.rootfs.diff_ids, vec!["sha256:x"]);
    }
}
