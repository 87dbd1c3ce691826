//! Atomic updates of a volume's files, as upstream's `AtomicWriter`: a
//! consumer must never see half of an update.
//!
//! ```text
//! <dir>/..2026_11_22_16_50_01.123/  the files of one version
//! <dir>/..data -> ..2026_...         swapped with one rename(2)
//! <dir>/<key>  -> ..data/<key>       stable names the container reads
//! ```

use std::collections::BTreeMap;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path};

/// Writes `files` (relative path -> (content, mode)) into `dir`, replacing
/// the previous version at once. Nothing is rewritten when equal.
///
/// With `group` (the pod's `fsGroup`), everything written belongs to that
/// group and directories carry the setgid bit, as upstream's
/// `SetVolumeOwnership` leaves a read-only volume; the caller has already
/// added the group's read bits to the modes. A file named in `owners`
/// belongs to that user (a ServiceAccount token readable only by the user
/// every container of the pod runs as).
pub fn write(
    dir: &Path,
    files: &BTreeMap<String, (Vec<u8>, u32)>,
    group: Option<u32>,
    owners: &BTreeMap<String, u32>,
) -> io::Result<()> {
    for rel in files.keys() {
        let p = Path::new(rel);
        let safe = !rel.is_empty()
            && p.components().all(|c| matches!(c, Component::Normal(_)))
            && !rel.starts_with("..");
        if !safe {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("invalid path {rel:?}"),
            ));
        }
    }
    let data = dir.join("..data");
    if let Ok(current) = std::fs::read_link(&data) {
        if same(&dir.join(&current), files, group, owners) {
            return Ok(());
        }
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let version = format!("..{now}");
    let vdir = dir.join(&version);
    std::fs::create_dir_all(&vdir)?;
    own_dir(&vdir, group)?;
    for (rel, (content, mode)) in files {
        let p = vdir.join(rel);
        if let Some(parent) = p.parent() {
            let mut missing = Vec::new();
            let mut d = parent;
            while d != vdir && !d.exists() {
                missing.push(d.to_path_buf());
                d = d.parent().unwrap_or(&vdir);
            }
            std::fs::create_dir_all(parent)?;
            for d in missing {
                own_dir(&d, group)?;
            }
        }
        std::fs::write(&p, content)?;
        let owner = owners.get(rel).copied();
        if group.is_some() || owner.is_some() {
            std::os::unix::fs::chown(&p, owner, group)?;
        }
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(*mode & 0o7777))?;
    }
    own_dir(dir, group)?;
    let tmp = dir.join("..data_tmp");
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(&version, &tmp)?;
    if group.is_some() {
        std::os::unix::fs::lchown(&tmp, None, group)?;
    }
    let old = std::fs::read_link(&data).ok();
    std::fs::rename(&tmp, &data)?;
    // Top-level names point through ..data, so they follow the swap.
    for rel in files.keys() {
        let top = rel.split('/').next().unwrap_or(rel);
        let link = dir.join(top);
        if std::fs::symlink_metadata(&link).is_err() {
            std::os::unix::fs::symlink(Path::new("..data").join(top), &link)?;
            if group.is_some() {
                std::os::unix::fs::lchown(&link, None, group)?;
            }
        }
    }
    // Names that are gone from the new version.
    for e in std::fs::read_dir(dir)?.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.starts_with("..")
            && !files
                .keys()
                .any(|k| k.split('/').next() == Some(name.as_str()))
        {
            let _ = std::fs::remove_file(e.path());
        }
    }
    if let Some(old) = old {
        let _ = std::fs::remove_dir_all(dir.join(old));
    }
    Ok(())
}

/// A directory of the volume under `group`: owned by it, setgid, and
/// readable and searchable by it.
fn own_dir(d: &Path, group: Option<u32>) -> io::Result<()> {
    if group.is_none() {
        return Ok(());
    }
    std::os::unix::fs::chown(d, None, group)?;
    let mode = std::fs::metadata(d)?.permissions().mode() & 0o7777;
    std::fs::set_permissions(d, std::fs::Permissions::from_mode(mode | 0o2550))
}

fn same(
    vdir: &Path,
    files: &BTreeMap<String, (Vec<u8>, u32)>,
    group: Option<u32>,
    owners: &BTreeMap<String, u32>,
) -> bool {
    use std::os::unix::fs::MetadataExt;
    let count = walk_count(vdir);
    count == files.len()
        && files.iter().all(|(rel, (content, mode))| {
            let p = vdir.join(rel);
            std::fs::read(&p).is_ok_and(|c| &c == content)
                && std::fs::metadata(&p).is_ok_and(|m| {
                    m.permissions().mode() & 0o7777 == mode & 0o7777
                        && group.is_none_or(|g| m.gid() == g)
                        && owners.get(rel).is_none_or(|u| m.uid() == *u)
                })
        })
}

fn walk_count(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| {
                    if e.path().is_dir() {
                        walk_count(&e.path())
                    } else {
                        1
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swaps_versions_and_drops_removed_keys() {
        let d = tempfile::tempdir().unwrap();
        let mut f = BTreeMap::new();
        f.insert("a".to_string(), (b"1".to_vec(), 0o644));
        f.insert("sub/b".to_string(), (b"2".to_vec(), 0o600));
        write(d.path(), &f, None, &BTreeMap::new()).unwrap();
        assert_eq!(std::fs::read(d.path().join("a")).unwrap(), b"1");
        assert_eq!(std::fs::read(d.path().join("sub/b")).unwrap(), b"2");
        let first = std::fs::read_link(d.path().join("..data")).unwrap();
        write(d.path(), &f, None, &BTreeMap::new()).unwrap();
        assert_eq!(
            std::fs::read_link(d.path().join("..data")).unwrap(),
            first,
            "unchanged: no new version"
        );
        f.remove("sub/b");
        f.insert("a".to_string(), (b"3".to_vec(), 0o644));
        write(d.path(), &f, None, &BTreeMap::new()).unwrap();
        assert_eq!(std::fs::read(d.path().join("a")).unwrap(), b"3");
        assert!(!d.path().join("sub").exists());
        assert!(!d.path().join(&first).exists(), "old version removed");
        f.insert("../x".to_string(), (vec![], 0o644));
        assert!(write(d.path(), &f, None, &BTreeMap::new()).is_err());
    }

    #[test]
    fn an_fs_group_owns_files_and_directories() {
        use std::os::unix::fs::MetadataExt;
        let d = tempfile::tempdir().unwrap();
        let mut f = BTreeMap::new();
        f.insert("data-1".to_string(), (b"value-1".to_vec(), 0o440));
        f.insert("sub/data-2".to_string(), (b"value-2".to_vec(), 0o640));
        write(d.path(), &f, Some(1001), &BTreeMap::new()).unwrap();
        for rel in ["data-1", "sub/data-2"] {
            let m = std::fs::metadata(d.path().join(rel)).unwrap();
            assert_eq!(m.gid(), 1001, "{rel}");
        }
        let m = std::fs::metadata(d.path().join("data-1")).unwrap();
        assert_eq!(m.permissions().mode() & 0o7777, 0o440);
        let sub = std::fs::metadata(d.path().join("sub")).unwrap();
        assert_eq!(sub.gid(), 1001);
        assert_eq!(
            sub.permissions().mode() & 0o2550,
            0o2550,
            "setgid, r-x for the group"
        );
        let first = std::fs::read_link(d.path().join("..data")).unwrap();
        write(d.path(), &f, Some(1001), &BTreeMap::new()).unwrap();
        assert_eq!(std::fs::read_link(d.path().join("..data")).unwrap(), first);
        // A new fsGroup is a change: a new version owned by it.
        write(d.path(), &f, Some(1002), &BTreeMap::new()).unwrap();
        assert_ne!(std::fs::read_link(d.path().join("..data")).unwrap(), first);
        let m = std::fs::metadata(d.path().join("data-1")).unwrap();
        assert_eq!(m.gid(), 1002);
    }

    #[test]
    fn an_owner_owns_its_file_only() {
        use std::os::unix::fs::MetadataExt;
        let d = tempfile::tempdir().unwrap();
        let mut f = BTreeMap::new();
        f.insert("token".to_string(), (b"jwt".to_vec(), 0o600));
        f.insert("ca.crt".to_string(), (b"pem".to_vec(), 0o644));
        let owners = BTreeMap::from([("token".to_string(), 1234)]);
        write(d.path(), &f, None, &owners).unwrap();
        let token = std::fs::metadata(d.path().join("token")).unwrap();
        assert_eq!(
            (token.uid(), token.permissions().mode() & 0o777),
            (1234, 0o600)
        );
        let ca = std::fs::metadata(d.path().join("ca.crt")).unwrap();
        assert_eq!(ca.uid(), std::fs::metadata(d.path()).unwrap().uid());
        let first = std::fs::read_link(d.path().join("..data")).unwrap();
        write(d.path(), &f, None, &owners).unwrap();
        assert_eq!(std::fs::read_link(d.path().join("..data")).unwrap(), first);
        // Another owner is a change.
        let owners = BTreeMap::from([("token".to_string(), 4321)]);
        write(d.path(), &f, None, &owners).unwrap();
        assert_ne!(std::fs::read_link(d.path().join("..data")).unwrap(), first);
        let token = std::fs::metadata(d.path().join("token")).unwrap();
        assert_eq!(token.uid(), 4321);
    }
}
