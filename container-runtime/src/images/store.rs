//! The image store: records of images, unpacked layers and blobs on disk.
//!
//! Writers take an exclusive `flock` on `images/.lock` while they change records,
//! so a running kubelet and a `kubelet ctl pull` can work on the same node.

use super::{io_err, Error, Reference, Result};
use nix::fcntl::Flock;
use oci_spec::image::{Config, ImageConfiguration};
use serde::{Deserialize, Serialize};
use std::fs;
use std::path::{Path, PathBuf};

/// How fresh an image's `lastUsed` must be for [`ImageStore::touch`] to
/// leave it (upstream's image manager also refreshes it only now and then).
pub const TOUCH_GRANULARITY: std::time::Duration = std::time::Duration::from_secs(60);

/// One image in the store.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ImageRecord {
    /// Image id: the config digest (`sha256:...`), as Docker and CRI use.
    pub id: String,
    /// Normalized `registry/repo:tag` names pointing at it.
    pub repo_tags: Vec<String>,
    /// `registry/repo@sha256:...` of the manifest.
    pub repo_digests: Vec<String>,
    /// Digest of the manifest.
    pub manifest_digest: String,
    /// Layer blob digests, lowest first.
    pub layers: Vec<String>,
    /// Container defaults from the image config (its `config` object).
    pub config: Config,
    /// Sum of the layer blob sizes.
    pub size: u64,
    /// When it was pulled or imported (RFC 3339).
    pub created: String,
    /// When a container last used it (RFC 3339), for image GC.
    #[serde(default)]
    pub last_used: String,
}

impl ImageRecord {
    /// A short id (12 hex digits).
    pub fn short_id(&self) -> &str {
        let hex = self.id.trim_start_matches("sha256:");
        &hex[..hex.len().min(12)]
    }

    /// Its layers' directory names below the store's `layers/`, top-most
    /// first: the order of an overlay's `lowerdir`.
    pub fn lower(&self) -> Vec<String> {
        self.layers
            .iter()
            .rev()
            .map(|l| hex_of(l).to_string())
            .collect()
    }
}

/// The on-disk store.
#[derive(Debug, Clone)]
pub struct ImageStore {
    root: PathBuf,
}

pub(crate) fn hex_of(digest: &str) -> &str {
    digest.trim_start_matches("sha256:")
}

/// Writes a file atomically (temp file + rename).
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    fs::write(&tmp, bytes)?;
    fs::rename(&tmp, path)
}

impl ImageStore {
    /// Opens (creating) the store below `root` (usually `<root-dir>/images`).
    pub fn open(root: impl Into<PathBuf>) -> Result<Self> {
        let root = root.into();
        for d in ["blobs/sha256", "layers", "records", "tmp"] {
            let p = root.join(d);
            fs::create_dir_all(&p).map_err(io_err(&p))?;
        }
        Ok(ImageStore { root })
    }

    /// The store's directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Directory holding the unpacked layers (overlay lowerdirs are relative to it).
    pub fn layers_dir(&self) -> PathBuf {
        self.root.join("layers")
    }

    /// Path of one unpacked layer.
    pub fn layer_path(&self, digest: &str) -> PathBuf {
        self.layers_dir().join(hex_of(digest))
    }

    /// Whether a layer is already unpacked.
    pub fn has_layer(&self, digest: &str) -> bool {
        self.layer_path(digest).is_dir()
    }

    /// Path of a stored blob.
    pub fn blob_path(&self, digest: &str) -> PathBuf {
        self.root.join("blobs/sha256").join(hex_of(digest))
    }

    /// A fresh scratch path inside the store (same filesystem, so renames work).
    pub fn tmp_path(&self, what: &str) -> PathBuf {
        self.root
            .join("tmp")
            .join(format!("{what}-{}", uuid::Uuid::new_v4().simple()))
    }

    /// Holds the store lock for the lifetime of the guard.
    pub fn lock(&self) -> Result<Flock<fs::File>> {
        let p = self.root.join(".lock");
        crate::lock_file(&p).map_err(io_err(&p))
    }

    /// Every image record.
    pub fn list(&self) -> Result<Vec<ImageRecord>> {
        let dir = self.root.join("records");
        let mut out = Vec::new();
        for e in fs::read_dir(&dir).map_err(io_err(&dir))? {
            let e = e.map_err(io_err(&dir))?;
            let p = e.path();
            if p.extension().is_some_and(|x| x == "json") {
                if let Ok(bytes) = fs::read(&p) {
                    if let Ok(rec) = serde_json::from_slice::<ImageRecord>(&bytes) {
                        out.push(rec);
                    }
                }
            }
        }
        out.sort_by(|a, b| a.repo_tags.cmp(&b.repo_tags).then(a.id.cmp(&b.id)));
        Ok(out)
    }

    /// Finds an image by reference (`busybox:1.36`), by name@digest, or by id /
    /// id prefix.
    pub fn get(&self, name: &str) -> Result<Option<ImageRecord>> {
        let images = self.list()?;
        if let Ok(r) = Reference::parse(name) {
            let full = r.to_string();
            if let Some(d) = &r.digest {
                if let Some(i) = images
                    .iter()
                    .find(|i| &i.manifest_digest == d || &i.id == d)
                {
                    return Ok(Some(i.clone()));
                }
            } else if let Some(i) = images.iter().find(|i| i.repo_tags.contains(&full)) {
                return Ok(Some(i.clone()));
            }
        }
        let hex = hex_of(name);
        if hex.len() >= 6 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            let matches: Vec<_> = images
                .iter()
                .filter(|i| hex_of(&i.id).starts_with(hex))
                .collect();
            if matches.len() == 1 {
                return Ok(Some(matches[0].clone()));
            }
        }
        Ok(None)
    }

    /// Saves a record, moving its tags away from any other image (a tag names
    /// one image at a time).
    pub fn save(&self, mut rec: ImageRecord) -> Result<ImageRecord> {
        let _lock = self.lock()?;
        let path = self.record_path(&rec.id);
        if let Ok(bytes) = fs::read(&path) {
            if let Ok(old) = serde_json::from_slice::<ImageRecord>(&bytes) {
                for t in old.repo_tags {
                    if !rec.repo_tags.contains(&t) {
                        rec.repo_tags.push(t);
                    }
                }
                for d in old.repo_digests {
                    if !rec.repo_digests.contains(&d) {
                        rec.repo_digests.push(d);
                    }
                }
                if rec.last_used.is_empty() {
                    rec.last_used = old.last_used;
                }
            }
        }
        for mut other in self.list()? {
            if other.id == rec.id {
                continue;
            }
            let before = other.repo_tags.len();
            other.repo_tags.retain(|t| !rec.repo_tags.contains(t));
            if other.repo_tags.len() != before {
                self.write_record(&other)?;
            }
        }
        self.write_record(&rec)?;
        Ok(rec)
    }

    fn record_path(&self, id: &str) -> PathBuf {
        self.root
            .join("records")
            .join(format!("{}.json", hex_of(id)))
    }

    fn write_record(&self, rec: &ImageRecord) -> Result<()> {
        let path = self.record_path(&rec.id);
        let bytes = serde_json::to_vec_pretty(rec).map_err(|e| Error::Invalid {
            what: rec.id.clone(),
            reason: e.to_string(),
        })?;
        write_atomic(&path, &bytes).map_err(io_err(&path))
    }

    /// Marks an image as used now (image GC removes least recently used
    /// first). A record marked less than [`TOUCH_GRANULARITY`] ago is left
    /// as it is: the order of GC does not need finer times, and rewriting
    /// the record for every container of a burst made (and freed) a file on
    /// disk each time.
    pub fn touch(&self, id: &str) -> Result<()> {
        let path = self.record_path(id);
        let Ok(bytes) = fs::read(&path) else {
            return Ok(());
        };
        if let Ok(mut rec) = serde_json::from_slice::<ImageRecord>(&bytes) {
            let now = chrono::Utc::now();
            // A time in the future (the clock was set back) is not recent.
            let recent = chrono::DateTime::parse_from_rfc3339(&rec.last_used)
                .ok()
                .and_then(|t| (now - t.with_timezone(&chrono::Utc)).to_std().ok())
                .is_some_and(|age| age < TOUCH_GRANULARITY);
            if !recent {
                rec.last_used = now.to_rfc3339();
                self.write_record(&rec)?;
            }
        }
        Ok(())
    }

    /// Deletes a record (not its layers; see [`super::gc`]).
    pub fn remove_record(&self, id: &str) -> Result<()> {
        let _lock = self.lock()?;
        let path = self.record_path(id);
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::Io { path, source: e }),
        }
    }

    /// Stores a small blob (manifest, config) by its digest.
    pub fn put_blob(&self, digest: &str, bytes: &[u8]) -> Result<()> {
        let path = self.blob_path(digest);
        write_atomic(&path, bytes).map_err(io_err(&path))
    }

    /// Unpacks a layer from `blob` unless present; verifies the compressed digest
    /// (`digest`) and, when known, the uncompressed one (`diff_id`).
    pub fn add_layer(
        &self,
        digest: &str,
        diff_id: Option<&str>,
        blob: impl std::io::Read,
    ) -> Result<()> {
        if self.has_layer(digest) {
            return Ok(());
        }
        let tmp = self.tmp_path("layer");
        fs::create_dir(&tmp).map_err(io_err(&tmp))?;
        let result = (|| {
            let mut hashing = super::unpack::HashingReader::new(blob);
            let unpacked = super::unpack::unpack_layer(&mut hashing, &tmp).map_err(|source| {
                Error::Unpack {
                    digest: digest.to_string(),
                    source,
                }
            })?;
            std::io::copy(&mut hashing, &mut std::io::sink()).map_err(io_err(&tmp))?;
            let actual = hashing.digest();
            if actual != digest {
                return Err(Error::Digest {
                    what: format!("layer {digest}"),
                    expected: digest.to_string(),
                    actual,
                });
            }
            if let Some(want) = diff_id {
                if want != unpacked.diff_id {
                    return Err(Error::Digest {
                        what: format!("uncompressed layer {digest}"),
                        expected: want.to_string(),
                        actual: unpacked.diff_id,
                    });
                }
            }
            Ok(())
        })();
        if let Err(e) = result {
            let _ = fs::remove_dir_all(&tmp);
            return Err(e);
        }
        let dest = self.layer_path(digest);
        if fs::rename(&tmp, &dest).is_err() {
            // Someone else unpacked it meanwhile.
            let _ = fs::remove_dir_all(&tmp);
            if !dest.is_dir() {
                return Err(Error::Io {
                    path: dest,
                    source: std::io::Error::other("could not move layer into place"),
                });
            }
        }
        Ok(())
    }

    /// Builds and saves the record of an image whose layers are all present.
    pub fn record_image(
        &self,
        name: Option<&Reference>,
        manifest_digest: &str,
        config_digest: &str,
        config: &ImageConfiguration,
        layers: Vec<String>,
        size: u64,
    ) -> Result<ImageRecord> {
        let mut rec = ImageRecord {
            id: config_digest.to_string(),
            repo_tags: Vec::new(),
            repo_digests: Vec::new(),
            manifest_digest: manifest_digest.to_string(),
            layers,
            config: config.config().clone().unwrap_or_default(),
            size,
            created: chrono::Utc::now().to_rfc3339(),
            last_used: String::new(),
        };
        if let Some(r) = name {
            if r.tag.is_some() {
                let mut t = r.clone();
                t.digest = None;
                rec.repo_tags.push(t.to_string());
            }
            rec.repo_digests
                .push(format!("{}@{}", r.name(), manifest_digest));
        }
        self.save(rec)
    }

    /// Removes leftovers of interrupted pulls.
    pub fn clean_tmp(&self) {
        let dir = self.root.join("tmp");
        if let Ok(entries) = fs::read_dir(&dir) {
            for e in entries.flatten() {
                let p = e.path();
                let old = e
                    .metadata()
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| t.elapsed().ok())
                    .is_some_and(|age| age.as_secs() > 3600);
                if old {
                    let _ = fs::remove_dir_all(&p).or_else(|_| fs::remove_file(&p));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn touch_refreshes_last_used_only_when_it_is_old_or_in_the_future() {
        let dir = std::env::temp_dir().join(format!("image-touch-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let store = ImageStore::open(&dir).expect("store");
        let mut rec = ImageRecord {
            id: format!("sha256:{}", "ab".repeat(32)),
            repo_tags: vec![],
            repo_digests: vec![],
            manifest_digest: String::new(),
            layers: vec![],
            config: Config::default(),
            size: 0,
            created: String::new(),
            last_used: String::new(),
        };
        let path = store.record_path(&rec.id);
        let last_used = || {
            let bytes = fs::read(&path).expect("record");
            serde_json::from_slice::<ImageRecord>(&bytes)
                .expect("parses")
                .last_used
        };
        let mut check = |stored: &str, rewritten: bool| {
            rec.last_used = stored.to_string();
            store.write_record(&rec).expect("write");
            let inode = fs::metadata(&path).expect("record").ino();
            store.touch(&rec.id).expect("touch");
            let now = last_used();
            assert_eq!(now != stored, rewritten, "stored {stored:?}, now {now:?}");
            assert_eq!(
                fs::metadata(&path).expect("record").ino() != inode,
                rewritten
            );
        };
        let ago = |secs: i64| (chrono::Utc::now() - chrono::TimeDelta::seconds(secs)).to_rfc3339();
        check("", true);
        check(&ago(5), false);
        check(&ago(120), true);
        check(&ago(-3600), true);
        fs::remove_dir_all(&dir).expect("cleanup");
    }
}
