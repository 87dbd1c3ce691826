//! The JSON documents of an image, as the `oci-spec` crate types them (its
//! `image` module: [`ImageIndex`], [`ImageManifest`], [`Descriptor`],
//! `ImageConfiguration`, `Config`):
//!
//! * an **index** (Docker: *manifest list*) maps platforms to manifests;
//! * a **manifest** names one config blob and an ordered list of layer blobs;
//! * the **config** holds what the image author set with `ENTRYPOINT`, `CMD`,
//!   `ENV`, `WORKDIR`, `USER`, plus the `diff_ids`: digests of the *uncompressed*
//!   layers, which we check while unpacking.
//!
//! Docker's schema2 manifest and manifest list have the same shape as OCI's
//! with other media types; `oci-spec` keeps an unknown media type as
//! `MediaType::Other`, so the same types read both. What is ours: telling an
//! index from a manifest ([`Document::parse`]) and choosing this machine's
//! platform from an index ([`pick_platform`]).

use oci_spec::image::{Arch, Descriptor, ImageIndex, ImageManifest, MediaType, Os};
use serde_json::Value;

/// Docker manifest list media type.
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker schema2 manifest media type.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";

/// Why bytes are not an image index or manifest we can use.
#[derive(Debug, thiserror::Error)]
pub enum DocumentError {
    /// Not JSON, or a required field (`schemaVersion`, a descriptor's
    /// `mediaType`, `digest`, `size`) missing or malformed.
    #[error("{0}")]
    Json(#[from] serde_json::Error),
    /// Neither an index nor a manifest with a config and layers (Docker's
    /// schema1, for one).
    #[error("unsupported manifest type {0:?} (schema1 is not supported)")]
    Unsupported(String),
}

/// Either kind of top-level document.
#[derive(Debug, Clone, PartialEq)]
pub enum Document {
    /// An OCI index or a Docker manifest list.
    Index(Box<ImageIndex>),
    /// An OCI or Docker schema2 image manifest.
    Manifest(Box<ImageManifest>),
}

impl Document {
    /// Reads a document, told apart by its `mediaType`, else by the HTTP
    /// `content_type` (empty when there is none), else by its shape (a
    /// `manifests` list and no `layers` is an index).
    pub fn parse(bytes: &[u8], content_type: &str) -> Result<Document, DocumentError> {
        let v: Value = serde_json::from_slice(bytes)?;
        let declared = v
            .get("mediaType")
            .and_then(Value::as_str)
            .filter(|m| !m.is_empty())
            .unwrap_or(content_type);
        let has = |field: &str| v.get(field).is_some_and(|f| !f.is_null());
        let index = MediaType::from(declared) == MediaType::ImageIndex
            || declared == DOCKER_LIST
            || (has("manifests") && !has("layers"));
        if index {
            return Ok(Document::Index(Box::new(serde_json::from_value(v)?)));
        }
        if has("config") && has("layers") {
            return Ok(Document::Manifest(Box::new(serde_json::from_value(v)?)));
        }
        Err(DocumentError::Unsupported(declared.to_string()))
    }
}

/// Go's name for the architecture we run on (`amd64`, `arm64`).
pub fn host_arch() -> Arch {
    Arch::default()
}

/// Picks the manifest for linux on this machine's architecture from an index.
pub fn pick_platform(manifests: &[Descriptor]) -> Option<&Descriptor> {
    let arch = host_arch();
    manifests
        .iter()
        .find(|d| {
            d.platform()
                .as_ref()
                .is_some_and(|p| *p.os() == Os::Linux && *p.architecture() == arch)
        })
        .or_else(|| {
            // Indexes inside OCI layouts often carry no platform at all.
            if manifests.iter().all(|d| d.platform().is_none()) {
                manifests.first()
            } else {
                None
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::image::ImageConfiguration;

    fn digest(c: char) -> String {
        format!("sha256:{}", c.to_string().repeat(64))
    }

    #[test]
    fn picks_linux_on_this_arch_from_a_docker_list() {
        let bytes = format!(
            r#"{{"schemaVersion":2,"mediaType":"{DOCKER_LIST}","manifests":[
              {{"mediaType":"{DOCKER_MANIFEST}","digest":"{}","size":1,"platform":{{"os":"linux","architecture":"s390x"}}}},
              {{"mediaType":"{DOCKER_MANIFEST}","digest":"{}","size":2,"platform":{{"os":"linux","architecture":"{}"}}}}]}}"#,
            digest('a'),
            digest('b'),
            host_arch()
        );
        let Ok(Document::Index(index)) = Document::parse(bytes.as_bytes(), "") else {
            panic!("not an index")
        };
        let chosen = pick_platform(index.manifests()).unwrap();
        assert_eq!(chosen.digest().to_string(), digest('b'));
        // Without any platform (an OCI layout's index): the first.
        let bytes = format!(
            r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{}","size":3}}]}}"#,
            digest('c')
        );
        let Ok(Document::Index(index)) = Document::parse(bytes.as_bytes(), "") else {
            panic!("an index by its shape")
        };
        assert_eq!(pick_platform(index.manifests()).unwrap().size(), 3);
    }

    #[test]
    fn reads_docker_schema2_and_oci_manifests() {
        for (declared, content_type) in [
            (format!(r#""mediaType":"{DOCKER_MANIFEST}","#), ""),
            (String::new(), "application/vnd.oci.image.manifest.v1+json"),
        ] {
            let bytes = format!(
                r#"{{"schemaVersion":2,{declared}
                  "config":{{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"{}","size":10}},
                  "layers":[{{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","digest":"{}","size":20}}]}}"#,
                digest('a'),
                digest('b')
            );
            let Ok(Document::Manifest(m)) = Document::parse(bytes.as_bytes(), content_type) else {
                panic!("not a manifest: {bytes}")
            };
            assert_eq!(m.config().digest().to_string(), digest('a'));
            assert_eq!(m.layers()[0].size(), 20);
        }
        // Docker's schema1: refused with its media type.
        let schema1 = br#"{"schemaVersion":1,"name":"x","fsLayers":[]}"#;
        let err = Document::parse(
            schema1,
            "application/vnd.docker.distribution.manifest.v1+prettyjws",
        )
        .unwrap_err();
        assert!(matches!(err, DocumentError::Unsupported(_)), "{err}");
        assert!(Document::parse(b"not json", "").is_err());
    }

    #[test]
    fn parses_config_defaults() {
        let c: ImageConfiguration = serde_json::from_str(
            r#"{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/bin"],"Cmd":["sh"],"User":"1000"},
                "rootfs":{"type":"layers","diff_ids":["sha256:x"]}}"#,
        )
        .unwrap();
        let d = c.config().clone().unwrap();
        assert_eq!(d.cmd(), &Some(vec!["sh".to_string()]));
        assert_eq!(d.user().as_deref(), Some("1000"));
        assert_eq!(c.rootfs().diff_ids(), &vec!["sha256:x".to_string()]);
    }
}
