//! Unpacking one layer: a tar archive (often gzip-compressed) of the files that
//! layer adds, changes or deletes.
//!
//! Each layer is unpacked once into its own directory, which later serves as one
//! `lowerdir` of an overlayfs mount. Deletions are written in tar as *whiteouts*
//! and must be translated into overlayfs' own format:
//!
//! | in the tar                | meaning                         | on disk for overlayfs                      |
//! |---------------------------|---------------------------------|--------------------------------------------|
//! | `dir/.wh.name`            | `dir/name` was deleted          | character device 0:0 at `dir/name`         |
//! | `dir/.wh..wh..opq`        | hide everything below in `dir`  | xattr `trusted.overlay.opaque=y` on `dir`  |
//!
//! Hard links point at an earlier entry of the same archive, symlinks are stored
//! as-is (they are resolved inside the container later, never here), device
//! nodes are created with `mknod`, and owners and modes are applied after the
//! content (`chown` clears setuid bits, so the mode comes last). Paths that try
//! to leave the layer directory (`..`, absolute paths, writing through a symlink
//! of an earlier entry) are refused.

use nix::sys::stat::{makedev, mknod, Mode, SFlag};
use sha2::{Digest as _, Sha256};
use std::fs;
use std::io::{self, BufRead, BufReader, Read};
use std::os::unix::fs::{lchown, symlink, PermissionsExt};
use std::path::{Component, Path, PathBuf};

/// Why a layer could not be unpacked.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading the archive failed (corrupt gzip or tar).
    #[error("reading layer archive: {0}")]
    Archive(#[source] io::Error),
    /// A path in the archive tries to escape the layer.
    #[error("unsafe path in layer: {0:?}")]
    UnsafePath(PathBuf),
    /// Creating a file, directory, link or node failed.
    #[error("creating {path}: {source}")]
    Create {
        /// Path being created.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

type Result<T, E = Error> = std::result::Result<T, E>;

/// What unpacking produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unpacked {
    /// `sha256:` of the uncompressed tar stream (the layer's `diff_id`).
    pub diff_id: String,
    /// Number of tar entries processed.
    pub entries: usize,
}

/// A reader that hashes everything read through it.
pub struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> HashingReader<R> {
    /// Wraps a reader.
    pub fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hasher: Sha256::new(),
        }
    }

    /// `sha256:<hex>` of everything read so far.
    pub fn digest(&self) -> String {
        format!("sha256:{:x}", self.hasher.clone().finalize())
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

fn create_err(path: &Path) -> impl FnOnce(io::Error) -> Error + '_ {
    move |source| Error::Create {
        path: path.to_path_buf(),
        source,
    }
}

/// Turns an archive path into a relative path without `..`; `None` for the root.
fn clean(path: &Path) -> Result<Option<PathBuf>> {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(p) => out.push(p),
            Component::CurDir | Component::RootDir => {}
            Component::ParentDir | Component::Prefix(_) => {
                return Err(Error::UnsafePath(path.to_path_buf()))
            }
        }
    }
    Ok(if out.as_os_str().is_empty() {
        None
    } else {
        Some(out)
    })
}

/// Creates the parents of `rel` under `dest`, refusing to go through symlinks.
fn safe_parent(dest: &Path, rel: &Path) -> Result<PathBuf> {
    let mut cur = dest.to_path_buf();
    if let Some(parent) = rel.parent() {
        for c in parent.components() {
            cur.push(c);
            match fs::symlink_metadata(&cur) {
                Ok(m) if m.file_type().is_symlink() => {
                    return Err(Error::UnsafePath(rel.to_path_buf()))
                }
                Ok(m) if m.is_dir() => {}
                Ok(_) => {
                    fs::remove_file(&cur).map_err(create_err(&cur))?;
                    fs::create_dir(&cur).map_err(create_err(&cur))?;
                }
                Err(_) => fs::create_dir(&cur).map_err(create_err(&cur))?,
            }
        }
    }
    Ok(cur)
}

/// Removes whatever is at `path` (file, link, node or whole directory).
fn remove_existing(path: &Path) -> Result<()> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path).map_err(create_err(path)),
        Ok(_) => fs::remove_file(path).map_err(create_err(path)),
        Err(_) => Ok(()),
    }
}

/// Unpacks a (possibly gzip-compressed) layer archive into `dest`, which must
/// exist and be empty. Returns the digest of the uncompressed stream.
pub fn unpack_layer(blob: impl Read, dest: &Path) -> Result<Unpacked> {
    let mut buffered = BufReader::with_capacity(256 * 1024, blob);
    let head = buffered.fill_buf().map_err(Error::Archive)?;
    let gzip = head.len() >= 2 && head[0] == 0x1f && head[1] == 0x8b;
    let plain: Box<dyn Read> = if gzip {
        Box::new(flate2::read::MultiGzDecoder::new(buffered))
    } else {
        Box::new(buffered)
    };
    let mut hashing = HashingReader::new(plain);
    let mut entries = 0;
    {
        let mut archive = tar::Archive::new(&mut hashing);
        // Directories' modes are applied at the end so that read-only
        // directories can still be filled.
        let mut dir_modes: Vec<(PathBuf, u32)> = Vec::new();
        for entry in archive.entries().map_err(Error::Archive)? {
            let mut entry = entry.map_err(Error::Archive)?;
            entries += 1;
            let raw_path = entry.path().map_err(Error::Archive)?.into_owned();
            let Some(rel) = clean(&raw_path)? else {
                continue;
            };
            let parent = safe_parent(dest, &rel)?;
            let name = rel
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let target = dest.join(&rel);
            if name == ".wh..wh..opq" {
                rustix::fs::lsetxattr(
                    &parent,
                    "trusted.overlay.opaque",
                    b"y",
                    rustix::fs::XattrFlags::empty(),
                )
                .map_err(|e| Error::Create {
                    path: parent.clone(),
                    source: e.into(),
                })?;
                continue;
            }
            if let Some(hidden) = name.strip_prefix(".wh.") {
                let wh = parent.join(hidden);
                remove_existing(&wh)?;
                mknod(&wh, SFlag::S_IFCHR, Mode::empty(), makedev(0, 0)).map_err(|e| {
                    Error::Create {
                        path: wh.clone(),
                        source: e.into(),
                    }
                })?;
                continue;
            }
            let header = entry.header();
            let mode = header.mode().map_err(Error::Archive)? & 0o7777;
            let uid = header.uid().map_err(Error::Archive)? as u32;
            let gid = header.gid().map_err(Error::Archive)? as u32;
            let kind = header.entry_type();
            if !kind.is_dir() {
                remove_existing(&target)?;
            }
            match kind {
                tar::EntryType::Directory => {
                    match fs::symlink_metadata(&target) {
                        Ok(m) if m.is_dir() => {}
                        Ok(_) => {
                            remove_existing(&target)?;
                            fs::create_dir(&target).map_err(create_err(&target))?
                        }
                        Err(_) => fs::create_dir(&target).map_err(create_err(&target))?,
                    }
                    lchown(&target, Some(uid), Some(gid)).map_err(create_err(&target))?;
                    dir_modes.push((target, mode));
                    continue;
                }
                tar::EntryType::Regular
                | tar::EntryType::Continuous
                | tar::EntryType::GNUSparse => {
                    let mut f = fs::File::create(&target).map_err(create_err(&target))?;
                    io::copy(&mut entry, &mut f).map_err(Error::Archive)?;
                }
                tar::EntryType::Symlink => {
                    let link = entry
                        .link_name()
                        .map_err(Error::Archive)?
                        .ok_or_else(|| Error::UnsafePath(rel.clone()))?;
                    symlink(&link, &target).map_err(create_err(&target))?;
                    lchown(&target, Some(uid), Some(gid)).map_err(create_err(&target))?;
                    continue;
                }
                tar::EntryType::Link => {
                    let link = entry
                        .link_name()
                        .map_err(Error::Archive)?
                        .ok_or_else(|| Error::UnsafePath(rel.clone()))?;
                    let Some(link_rel) = clean(&link)? else {
                        return Err(Error::UnsafePath(link.into_owned()));
                    };
                    safe_parent(dest, &link_rel)?;
                    fs::hard_link(dest.join(&link_rel), &target).map_err(create_err(&target))?;
                    continue;
                }
                tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
                    let major = header.device_major().ok().flatten().unwrap_or(0);
                    let minor = header.device_minor().ok().flatten().unwrap_or(0);
                    let flag = match kind {
                        tar::EntryType::Char => SFlag::S_IFCHR,
                        tar::EntryType::Block => SFlag::S_IFBLK,
                        _ => SFlag::S_IFIFO,
                    };
                    mknod(
                        &target,
                        flag,
                        Mode::from_bits_truncate(mode),
                        makedev(major.into(), minor.into()),
                    )
                    .map_err(|e| Error::Create {
                        path: target.clone(),
                        source: e.into(),
                    })?;
                }
                // PAX and GNU long-name headers are consumed by the tar crate;
                // anything else exotic is skipped.
                _ => continue,
            }
            lchown(&target, Some(uid), Some(gid)).map_err(create_err(&target))?;
            fs::set_permissions(&target, fs::Permissions::from_mode(mode))
                .map_err(create_err(&target))?;
        }
        for (dir, mode) in dir_modes.into_iter().rev() {
            fs::set_permissions(&dir, fs::Permissions::from_mode(mode))
                .map_err(create_err(&dir))?;
        }
    }
    // Read any trailing padding so the digest covers the whole stream.
    io::copy(&mut hashing, &mut io::sink()).map_err(Error::Archive)?;
    Ok(Unpacked {
        diff_id: hashing.digest(),
        entries,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{FileTypeExt, MetadataExt};

    fn header(path: &str, kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_path(path).unwrap();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_size(size);
        h.set_uid(1000);
        h.set_gid(1000);
        h.set_cksum();
        h
    }

    fn archive(build: impl FnOnce(&mut tar::Builder<Vec<u8>>)) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        build(&mut b);
        b.into_inner().unwrap()
    }

    #[test]
    fn files_links_whiteouts_and_opaque_dirs() {
        if !prerequisites::is_root() {
            prerequisites::missing(
                "files_links_whiteouts_and_opaque_dirs",
                "needs root for mknod/chown",
            );
            return;
        }
        let tar = archive(|b| {
            b.append(
                &header("etc/", tar::EntryType::Directory, 0o755, 0),
                &[][..],
            )
            .unwrap();
            b.append(
                &header("etc/conf", tar::EntryType::Regular, 0o4755, 5),
                &b"hello"[..],
            )
            .unwrap();
            let mut l = header("etc/hard", tar::EntryType::Link, 0o644, 0);
            l.set_link_name("etc/conf").unwrap();
            l.set_cksum();
            b.append(&l, &[][..]).unwrap();
            let mut s = header("etc/soft", tar::EntryType::Symlink, 0o777, 0);
            s.set_link_name("/etc/conf").unwrap();
            s.set_cksum();
            b.append(&s, &[][..]).unwrap();
            b.append(
                &header("etc/.wh.gone", tar::EntryType::Regular, 0o644, 0),
                &[][..],
            )
            .unwrap();
            b.append(
                &header("var/.wh..wh..opq", tar::EntryType::Regular, 0o644, 0),
                &[][..],
            )
            .unwrap();
            b.append(&header("ro/", tar::EntryType::Directory, 0o555, 0), &[][..])
                .unwrap();
            b.append(
                &header("ro/f", tar::EntryType::Regular, 0o644, 1),
                &b"x"[..],
            )
            .unwrap();
        });
        let dir = tempfile::tempdir().unwrap();
        // gzip it to exercise detection
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        io::Write::write_all(&mut gz, &tar).unwrap();
        let gz = gz.finish().unwrap();
        let out = unpack_layer(&gz[..], dir.path()).unwrap();
        assert_eq!(out.diff_id, crate::images::registry::sha256_digest(&tar));
        let conf = dir.path().join("etc/conf");
        assert_eq!(fs::read_to_string(&conf).unwrap(), "hello");
        let m = fs::metadata(&conf).unwrap();
        assert_eq!(m.mode() & 0o7777, 0o4755, "setuid survives chown");
        assert_eq!(m.uid(), 1000);
        assert_eq!(m.nlink(), 2, "hard link");
        assert_eq!(
            fs::read_link(dir.path().join("etc/soft")).unwrap(),
            Path::new("/etc/conf")
        );
        let wh = fs::symlink_metadata(dir.path().join("etc/gone")).unwrap();
        assert!(wh.file_type().is_char_device() && wh.rdev() == 0);
        let opq = rustix::fs::lgetxattr(
            dir.path().join("var"),
            "trusted.overlay.opaque",
            &mut [0u8; 4],
        );
        assert_eq!(opq.ok(), Some(1));
        assert_eq!(
            fs::metadata(dir.path().join("ro")).unwrap().mode() & 0o777,
            0o555
        );
    }

    #[test]
    fn refuses_escapes() {
        let dir = tempfile::tempdir().unwrap();
        let tar = archive(|b| {
            let mut s = header("link", tar::EntryType::Symlink, 0o777, 0);
            s.set_link_name("/tmp").unwrap();
            s.set_cksum();
            b.append(&s, &[][..]).unwrap();
            b.append(
                &header("link/evil", tar::EntryType::Regular, 0o644, 1),
                &b"x"[..],
            )
            .unwrap();
        });
        let err = unpack_layer(&tar[..], dir.path()).unwrap_err();
        assert!(matches!(err, Error::UnsafePath(_)), "{err}");
        let mut h = tar::Header::new_gnu();
        // set_path refuses "..", so write the name bytes directly
        h.as_gnu_mut().unwrap().name[..9].copy_from_slice(b"../escape");
        h.set_size(0);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_cksum();
        let tar = archive(|b| b.append(&h, &[][..]).unwrap());
        assert!(matches!(
            unpack_layer(&tar[..], dir.path()),
            Err(Error::UnsafePath(_))
        ));
    }
}
