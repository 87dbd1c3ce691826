//! Parsed JSON records kept in memory while their files stay the same.
//!
//! Every pod worker of the kubelet lists its sandboxes and containers each
//! second, and a listing looks at every record of the node: at a hundred
//! pods that was thousands of file reads and JSON parses a second (two
//! thirds of a core on an idle node). The files stay the truth
//! ([`crate::state`]): a record is reused only while its file is the very
//! one that was parsed (same inode, size, modification and change times;
//! every writer replaces a record by renaming a new file over it, which
//! makes a new inode), so a record written by a monitor or by another
//! process (`kubelet ctl`) is read again at once.

use std::collections::{HashMap, HashSet};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::de::DeserializeOwned;

/// What tells one version of a file from another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Version {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Version {
    fn of(meta: &std::fs::Metadata) -> Version {
        Version {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
        }
    }
}

/// A cache of the records of one kind, by path.
#[derive(Debug)]
pub struct RecordCache<T> {
    entries: Mutex<HashMap<PathBuf, (Version, Arc<T>)>>,
}

impl<T> Default for RecordCache<T> {
    fn default() -> Self {
        RecordCache {
            entries: Mutex::new(HashMap::new()),
        }
    }
}

impl<T: DeserializeOwned> RecordCache<T> {
    /// The record at `path`: the parsed one if the file is unchanged since,
    /// else read and parsed now.
    pub fn read(&self, path: &Path) -> std::io::Result<Arc<T>> {
        let version = match std::fs::metadata(path) {
            Ok(m) => Version::of(&m),
            Err(e) => {
                self.forget(path);
                return Err(e);
            }
        };
        if let Some((v, rec)) = self.lock().get(path) {
            if *v == version {
                return Ok(rec.clone());
            }
        }
        // Stat, then read: a record renamed in between is kept under the
        // older version, so the next call reads it again (never the
        // reverse: an old record is never kept under a new version).
        let rec: Arc<T> = Arc::new(crate::state::read_json(path)?);
        self.lock()
            .insert(path.to_path_buf(), (version, rec.clone()));
        Ok(rec)
    }

    /// The record parsed last from `path`, without looking at the file:
    /// only for fields that never change once written (a container's
    /// sandbox and labels, a sandbox's pod).
    fn last_parsed(&self, path: &Path) -> Option<Arc<T>> {
        self.lock().get(path).map(|(_, rec)| rec.clone())
    }

    /// Drops the record of `path` (its directory is being removed).
    pub fn forget(&self, path: &Path) {
        self.lock().remove(path);
    }

    /// The records `<dir>/<id>/<file>` that `select` takes, one per
    /// directory in `dir`, with the ids of every directory listed (for
    /// [`RecordCache::retain_ids`] of the records kept beside these).
    /// `select` must look only at fields that never change once written:
    /// it is answered by the record parsed last when there is one, and
    /// only the records it takes are checked against their files. Records
    /// of directories that are gone are dropped.
    pub fn select_in(
        &self,
        dir: &Path,
        file: &str,
        select: impl Fn(&T) -> bool,
    ) -> std::io::Result<(Vec<Arc<T>>, HashSet<String>)> {
        let mut selected = Vec::new();
        let mut present = HashSet::new();
        for e in std::fs::read_dir(dir)?.flatten() {
            let id = e.file_name().to_string_lossy().into_owned();
            let path = dir.join(&id).join(file);
            if self.last_parsed(&path).is_some_and(|rec| !select(&rec)) {
                present.insert(id);
                continue;
            }
            let Ok(rec) = self.read(&path) else {
                continue;
            };
            present.insert(id);
            if select(&rec) {
                selected.push(rec);
            }
        }
        self.retain_ids(&present);
        Ok((selected, present))
    }

    /// Drops the records whose directory (`<id>/<file>`) is not in `ids`.
    pub fn retain_ids(&self, ids: &HashSet<String>) {
        self.lock().retain(|p, _| {
            p.parent()
                .and_then(Path::file_name)
                .is_some_and(|id| ids.contains(&*id.to_string_lossy()))
        });
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<PathBuf, (Version, Arc<T>)>> {
        // A panic while holding the lock cannot leave a half-written map
        // (inserts and removes are single calls): the poison is ignored.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_is_parsed_again_only_when_its_file_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.json");
        crate::state::write_json(&path, &vec![1]).unwrap();
        let cache: RecordCache<Vec<i32>> = RecordCache::default();
        let a = cache.read(&path).unwrap();
        let b = cache.read(&path).unwrap();
        assert!(Arc::ptr_eq(&a, &b), "an unchanged file is not parsed again");
        crate::state::write_json(&path, &vec![2]).unwrap();
        assert_eq!(*cache.read(&path).unwrap(), vec![2]);
        // Same size, rewritten in place by someone else: the times differ.
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(&path, b"[3]").unwrap();
        assert_eq!(*cache.read(&path).unwrap(), vec![3]);
        std::fs::remove_file(&path).unwrap();
        assert!(cache.read(&path).is_err());
        assert!(cache.lock().is_empty(), "a missing file leaves no entry");
    }

    #[test]
    fn a_selection_reads_only_what_it_takes_and_forgets_removed_directories() {
        let dir = tempfile::tempdir().unwrap();
        for (id, pod) in [("a", 1), ("b", 2), ("c", 1)] {
            std::fs::create_dir(dir.path().join(id)).unwrap();
            crate::state::write_json(&dir.path().join(id).join("r.json"), &vec![pod]).unwrap();
        }
        let cache: RecordCache<Vec<i32>> = RecordCache::default();
        let pods = |pod: i32| {
            let (got, present) = cache
                .select_in(dir.path(), "r.json", |r| r[0] == pod)
                .unwrap();
            let mut got: Vec<i32> = got.iter().map(|r| r[0]).collect();
            got.sort();
            (got, present.len())
        };
        assert_eq!(pods(1), (vec![1, 1], 3));
        assert_eq!(pods(2), (vec![2], 3));
        std::fs::remove_dir_all(dir.path().join("b")).unwrap();
        assert_eq!(pods(2), (vec![], 2));
        assert_eq!(
            cache.lock().len(),
            2,
            "the removed directory's record is dropped"
        );
    }
}
