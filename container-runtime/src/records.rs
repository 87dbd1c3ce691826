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
//!
//! The directories themselves are listed again only when they changed:
//! at a hundred pods, every worker reading the hundred entries of the
//! containers directory each second was what was left of an idle
//! kubelet's CPU (getdents and the allocations of a hundred paths, times a
//! hundred workers). A listing is reused while the directory's
//! modification time is the one it was listed at, and only if it was
//! taken well after that time: file systems stamp times from a coarse
//! clock, so an entry added a moment after the listing could otherwise
//! leave the time unchanged ([`Listing::trusted`]).

use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

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

/// The ids (entries) of a records directory, shared by every caller of
/// one listing.
pub type Ids = Arc<HashSet<String>>;

/// One listing of a records directory: the ids (its entries) and the
/// record path of each.
#[derive(Debug)]
struct Listing {
    /// The directory's modification time when it was listed.
    mtime: SystemTime,
    /// Whether the listing was taken long enough after `mtime` that any
    /// later change must show as a new time: 100 ms for times with
    /// sub-second parts (the kernel's coarse clock ticks every few ms),
    /// two seconds where the file system keeps whole seconds.
    trusted: bool,
    ids: Ids,
    paths: Arc<Vec<PathBuf>>,
}

impl Listing {
    /// Lists `dir`, whose modification time was `mtime` just before. When
    /// the entries are those of `last` (a directory that changed and
    /// changed back, or one listed again only because its time was too
    /// recent to trust), the ids and paths of `last` are shared: while
    /// containers start, the directory is listed again on nearly every
    /// call, and building a hundred paths and ids each time was most of
    /// what a selection cost.
    fn take(
        dir: &Path,
        file: &str,
        mtime: SystemTime,
        last: Option<&Listing>,
    ) -> std::io::Result<Listing> {
        let listed_at = SystemTime::now();
        let names: Vec<OsString> = std::fs::read_dir(dir)?
            .flatten()
            .map(|e| e.file_name())
            .collect();
        let unchanged = last.filter(|l| {
            l.ids.len() == names.len()
                && names
                    .iter()
                    .all(|n| n.to_str().is_some_and(|n| l.ids.contains(n)))
        });
        let (ids, paths) = match unchanged {
            Some(l) => (l.ids.clone(), l.paths.clone()),
            None => {
                let mut ids = HashSet::with_capacity(names.len());
                let mut paths = Vec::with_capacity(names.len());
                for name in names {
                    let id = name.to_string_lossy().into_owned();
                    paths.push(dir.join(&id).join(file));
                    ids.insert(id);
                }
                (Arc::new(ids), Arc::new(paths))
            }
        };
        let margin = match mtime.duration_since(SystemTime::UNIX_EPOCH) {
            Ok(t) if t.subsec_nanos() != 0 => Duration::from_millis(100),
            _ => Duration::from_secs(2),
        };
        let trusted = listed_at
            .duration_since(mtime)
            .is_ok_and(|age| age > margin);
        Ok(Listing {
            mtime,
            trusted,
            ids,
            paths,
        })
    }
}

/// A cache of the records of one kind, by path.
#[derive(Debug)]
pub struct RecordCache<T> {
    /// By the path's bytes: hashing a `Path` walks its components, which
    /// at a hundred lookups per listing was a visible share of the CPU.
    entries: Mutex<HashMap<OsString, (Version, Arc<T>)>>,
    /// The last listing of each directory (by `<dir>/<file>`'s bytes).
    listings: Mutex<HashMap<OsString, Arc<Listing>>>,
    /// The ids [`RecordCache::retain_ids`] kept last: the same listing
    /// again has nothing to drop.
    retained: Mutex<Option<Ids>>,
}

impl<T> Default for RecordCache<T> {
    fn default() -> Self {
        RecordCache {
            entries: Mutex::new(HashMap::new()),
            listings: Mutex::new(HashMap::new()),
            retained: Mutex::new(None),
        }
    }
}

/// Locks `m`; a panic while it was held cannot leave a half-written map
/// (inserts and removes are single calls): the poison is ignored.
fn lock<V>(m: &Mutex<V>) -> std::sync::MutexGuard<'_, V> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
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
        if let Some((v, rec)) = self.lock().get(path.as_os_str()) {
            if *v == version {
                return Ok(rec.clone());
            }
        }
        // Stat, then read: a record renamed in between is kept under the
        // older version, so the next call reads it again (never the
        // reverse: an old record is never kept under a new version).
        let rec: Arc<T> = Arc::new(crate::state::read_json(path)?);
        self.lock()
            .insert(path.as_os_str().to_owned(), (version, rec.clone()));
        Ok(rec)
    }

    /// Drops the record of `path` (its directory is being removed).
    pub fn forget(&self, path: &Path) {
        self.lock().remove(path.as_os_str());
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
    ) -> std::io::Result<(Vec<Arc<T>>, Ids)> {
        let listing = self.listing(dir, file)?;
        // One pass under the lock over what was parsed before; only the
        // records it cannot rule out are looked at on disk.
        let candidates: Vec<&PathBuf> = {
            let entries = self.lock();
            listing
                .paths
                .iter()
                .filter(|path| {
                    entries
                        .get(path.as_os_str())
                        .is_none_or(|(_, rec)| select(rec))
                })
                .collect()
        };
        let mut selected = Vec::new();
        for path in candidates {
            if let Ok(rec) = self.read(path) {
                if select(&rec) {
                    selected.push(rec);
                }
            }
        }
        self.retain_ids(&listing.ids);
        Ok((selected, listing.ids.clone()))
    }

    /// The listing of `dir` for records named `file`: the last one while
    /// it is trusted and the directory's time has not moved, else a new one.
    fn listing(&self, dir: &Path, file: &str) -> std::io::Result<Arc<Listing>> {
        let key = dir.join(file).into_os_string();
        let mtime = std::fs::metadata(dir)?.modified()?;
        let last = lock(&self.listings).get(&key).cloned();
        if let Some(l) = &last {
            if l.trusted && l.mtime == mtime {
                return Ok(l.clone());
            }
        }
        let listing = Arc::new(Listing::take(dir, file, mtime, last.as_deref())?);
        lock(&self.listings).insert(key, listing.clone());
        Ok(listing)
    }

    /// Drops the records whose directory (`<id>/<file>`) is not in `ids`.
    pub fn retain_ids(&self, ids: &Ids) {
        {
            let mut last = lock(&self.retained);
            if last.as_ref().is_some_and(|l| Arc::ptr_eq(l, ids)) {
                return;
            }
            *last = Some(ids.clone());
        }
        self.lock().retain(|p, _| {
            Path::new(p)
                .parent()
                .and_then(Path::file_name)
                .is_some_and(|id| ids.contains(&*id.to_string_lossy()))
        });
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<OsString, (Version, Arc<T>)>> {
        lock(&self.entries)
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

    #[test]
    fn a_listing_taken_again_shares_the_entries_only_while_they_are_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let add = |id: &str| add_record(dir.path(), id);
        add("a");
        add("b");
        let cache: RecordCache<Vec<i32>> = RecordCache::default();
        // The directory just changed, so every call lists it again.
        let first = cache.listing(dir.path(), "r.json").unwrap();
        assert!(!first.trusted);
        let again = cache.listing(dir.path(), "r.json").unwrap();
        assert!(!Arc::ptr_eq(&first, &again), "listed again");
        assert!(Arc::ptr_eq(&first.ids, &again.ids), "same entries, shared");
        assert!(Arc::ptr_eq(&first.paths, &again.paths));
        // One entry replaced by another: same count, new entries.
        std::fs::remove_dir_all(dir.path().join("b")).unwrap();
        add("c");
        let changed = cache.listing(dir.path(), "r.json").unwrap();
        assert!(!Arc::ptr_eq(&first.ids, &changed.ids));
        let mut ids: Vec<&String> = changed.ids.iter().collect();
        ids.sort();
        assert_eq!(ids, ["a", "c"]);
        assert_eq!(changed.paths.len(), 2);
        assert!(changed.paths.contains(&dir.path().join("c").join("r.json")));
    }

    /// Adds the record `<dir>/<id>/r.json`.
    fn add_record(dir: &Path, id: &str) {
        std::fs::create_dir(dir.join(id)).unwrap();
        crate::state::write_json(&dir.join(id).join("r.json"), &vec![1]).unwrap();
    }

    /// Sets `dir`'s modification time.
    fn set_mtime(dir: &Path, t: SystemTime) {
        std::fs::File::open(dir).unwrap().set_modified(t).unwrap();
    }

    #[test]
    fn a_listing_is_reused_only_while_the_directory_time_is_old_and_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let add = |id: &str| add_record(dir.path(), id);
        let cache: RecordCache<Vec<i32>> = RecordCache::default();
        let count = || {
            cache
                .select_in(dir.path(), "r.json", |_| true)
                .unwrap()
                .0
                .len()
        };
        add("a");
        // Listed right after a change: not trusted, so an entry added in
        // the same clock tick (the time forced back to the same value) is
        // still seen by the next call.
        let t = std::fs::metadata(dir.path()).unwrap().modified().unwrap();
        assert_eq!(count(), 1);
        add("b");
        set_mtime(dir.path(), t);
        assert_eq!(count(), 2);
        // An old, unchanged directory: the listing is kept, and the same
        // listing does not sweep the records again.
        let old = SystemTime::now() - Duration::from_secs(10);
        set_mtime(dir.path(), old);
        assert_eq!(count(), 2);
        let first = cache.listing(dir.path(), "r.json").unwrap();
        assert!(first.trusted);
        assert_eq!(count(), 2);
        assert!(Arc::ptr_eq(
            &first,
            &cache.listing(dir.path(), "r.json").unwrap()
        ));
        // A change moves the time: listed again.
        add("c");
        assert_eq!(count(), 3);
        assert!(!Arc::ptr_eq(
            &first,
            &cache.listing(dir.path(), "r.json").unwrap()
        ));
    }
}
