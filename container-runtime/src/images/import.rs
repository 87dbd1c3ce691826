//! Importing images without a registry: an OCI image layout (a directory with
//! `oci-layout`, `index.json` and `blobs/sha256/...`, as written by `umoci`,
//! `skopeo copy ... oci:DIR` or `buildah push oci-archive:`), or a tar archive
//! of one. This is how air-gapped nodes get their images.
//!
//! Each manifest named in `index.json` becomes an image; its name comes from the
//! `org.opencontainers.image.ref.name` annotation (`busybox:1.36`, or a bare tag
//! like `latest` which is then combined with the name given on the command line).

use super::oci::{self, Document};
use super::{io_err, Error, ImageRecord, ImageStore, Reference, Result};
use oci_spec::image::{ImageConfiguration, ImageIndex, ANNOTATION_REF_NAME};
use std::fs;
use std::path::{Path, PathBuf};

fn read_blob(layout: &Path, digest: &str) -> Result<Vec<u8>> {
    let p = layout
        .join("blobs/sha256")
        .join(super::store::hex_of(digest));
    let bytes = fs::read(&p).map_err(io_err(&p))?;
    let actual = super::registry::sha256_digest(&bytes);
    if actual != digest {
        return Err(Error::Digest {
            what: p.display().to_string(),
            expected: digest.to_string(),
            actual,
        });
    }
    Ok(bytes)
}

/// Chooses the image name for a manifest of the layout.
fn image_name(annotation: Option<&str>, name: Option<&str>) -> Option<Reference> {
    match (annotation, name) {
        // `--name busybox` plus annotation `1.36` -> busybox:1.36
        (Some(a), Some(n))
            if !a.contains('/')
                && !a.contains(':')
                && Reference::parse(n).is_ok_and(|r| r.digest.is_none()) =>
        {
            let base = n
                .rsplit_once(':')
                .filter(|(_, t)| !t.contains('/'))
                .map(|(b, _)| b)
                .unwrap_or(n);
            Reference::parse(&format!("{base}:{a}")).ok()
        }
        (_, Some(n)) => Reference::parse(n).ok(),
        (Some(a), None) => Reference::parse(a).ok(),
        (None, None) => None,
    }
}

impl ImageStore {
    /// Imports an OCI layout directory or a `.tar`/`.tar.gz` of one. With
    /// `only`, imports just the manifest whose ref name is `only`. `name` names
    /// (or prefixes, for bare-tag ref names) the imported images.
    pub fn import(
        &self,
        path: &Path,
        only: Option<&str>,
        name: Option<&str>,
    ) -> Result<Vec<ImageRecord>> {
        if path.is_dir() {
            return self.import_layout(path, only, name);
        }
        let tmp = self.tmp_path("import");
        fs::create_dir(&tmp).map_err(io_err(&tmp))?;
        let result = (|| {
            let f = fs::File::open(path).map_err(io_err(path))?;
            let mut buffered = std::io::BufReader::new(f);
            let head = std::io::BufRead::fill_buf(&mut buffered).map_err(io_err(path))?;
            let gz = head.starts_with(&[0x1f, 0x8b]);
            let reader: Box<dyn std::io::Read> = if gz {
                Box::new(flate2::read::GzDecoder::new(buffered))
            } else {
                Box::new(buffered)
            };
            let mut archive = tar::Archive::new(reader);
            archive.unpack(&tmp).map_err(io_err(path))?;
            self.import_layout(&tmp, only, name)
        })();
        let _ = fs::remove_dir_all(&tmp);
        result
    }

    fn import_layout(
        &self,
        layout: &Path,
        only: Option<&str>,
        name: Option<&str>,
    ) -> Result<Vec<ImageRecord>> {
        let index_path = layout.join("index.json");
        let index_bytes = fs::read(&index_path).map_err(io_err(&index_path))?;
        let index: ImageIndex =
            serde_json::from_slice(&index_bytes).map_err(|e| Error::Invalid {
                what: index_path.display().to_string(),
                reason: e.to_string(),
            })?;
        let mut out = Vec::new();
        for desc in index.manifests() {
            let ref_name = desc
                .annotations()
                .as_ref()
                .and_then(|a| a.get(ANNOTATION_REF_NAME))
                .map(String::as_str);
            if only.is_some() && only != ref_name {
                continue;
            }
            let reference = image_name(ref_name, name);
            out.push(self.import_manifest(layout, desc.digest().as_ref(), reference.as_ref())?);
        }
        if out.is_empty() {
            return Err(Error::NotPresent(format!(
                "{}{}",
                layout.display(),
                only.map(|o| format!(":{o}")).unwrap_or_default()
            )));
        }
        Ok(out)
    }

    fn import_manifest(
        &self,
        layout: &Path,
        digest: &str,
        reference: Option<&Reference>,
    ) -> Result<ImageRecord> {
        let invalid = |reason: String| Error::Invalid {
            what: format!("manifest {digest}"),
            reason,
        };
        let mut manifest_digest = digest.to_string();
        let mut bytes = read_blob(layout, digest)?;
        let parse = |bytes: &[u8]| Document::parse(bytes, "").map_err(|e| invalid(e.to_string()));
        let mut doc = parse(&bytes)?;
        if let Document::Index(index) = &doc {
            let chosen = oci::pick_platform(index.manifests())
                .ok_or_else(|| invalid(format!("no manifest for linux/{}", oci::host_arch())))?;
            manifest_digest = chosen.digest().to_string();
            bytes = read_blob(layout, &manifest_digest)?;
            doc = parse(&bytes)?;
        }
        let Document::Manifest(manifest) = doc else {
            return Err(invalid("not an image manifest".into()));
        };
        self.put_blob(&manifest_digest, &bytes)?;
        let config_digest = manifest.config().digest().to_string();
        let config_bytes = read_blob(layout, &config_digest)?;
        self.put_blob(&config_digest, &config_bytes)?;
        let config: ImageConfiguration =
            serde_json::from_slice(&config_bytes).map_err(|e| invalid(e.to_string()))?;
        let mut size = 0;
        let mut layers = Vec::new();
        for (i, layer) in manifest.layers().iter().enumerate() {
            size += layer.size();
            let digest = layer.digest().to_string();
            let p: PathBuf = layout
                .join("blobs/sha256")
                .join(super::store::hex_of(&digest));
            let f = fs::File::open(&p).map_err(io_err(&p))?;
            self.add_layer(
                &digest,
                config.rootfs().diff_ids().get(i).map(String::as_str),
                f,
            )?;
            layers.push(digest);
        }
        self.record_image(
            reference,
            &manifest_digest,
            &config_digest,
            &config,
            layers,
            size,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_from_annotation_and_flag() {
        let n = |a, b| image_name(a, b).map(|r| r.to_string());
        assert_eq!(
            n(Some("busybox"), None).as_deref(),
            Some("docker.io/library/busybox:latest")
        );
        assert_eq!(
            n(Some("1.36"), Some("busybox")).as_deref(),
            Some("docker.io/library/busybox:1.36")
        );
        assert_eq!(
            n(Some("x"), Some("127.0.0.1:5000/app:v2")).as_deref(),
            Some("127.0.0.1:5000/app:x")
        );
        assert_eq!(
            n(None, Some("app:v1")).as_deref(),
            Some("docker.io/library/app:v1")
        );
        assert_eq!(n(None, None), None);
    }
}
