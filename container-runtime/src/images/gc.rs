//! Image garbage collection.
//!
//! Like the real kubelet: when the disk holding the image store is fuller than
//! `high_threshold_percent`, delete unused images, least recently used first,
//! until usage drops below `low_threshold_percent`. An image is *used* while any
//! container (running or not) refers to it. Layers no remaining image refers to
//! are deleted with the last image that used them.

use super::{ImageStore, Result};
use std::collections::HashSet;
use std::fs;

/// The thresholds of image GC.
#[derive(Debug, Clone, Copy)]
pub struct GcPolicy {
    /// Start collecting above this disk usage (percent).
    pub high_threshold_percent: u8,
    /// Stop collecting below this disk usage (percent).
    pub low_threshold_percent: u8,
}

impl Default for GcPolicy {
    fn default() -> Self {
        GcPolicy {
            high_threshold_percent: 85,
            low_threshold_percent: 80,
        }
    }
}

/// What a GC run removed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct GcReport {
    /// Image ids removed.
    pub images: Vec<String>,
    /// Layer digests removed.
    pub layers: Vec<String>,
}

fn disk_usage_percent(path: &std::path::Path) -> Option<u8> {
    let s = nix::sys::statvfs::statvfs(path).ok()?;
    let total = s.blocks() as f64;
    if total == 0.0 {
        return None;
    }
    let free = s.blocks_available() as f64;
    Some((100.0 * (total - free) / total) as u8)
}

impl ImageStore {
    /// Removes unused images (all of them with `policy == None`, else by the
    /// thresholds, LRU first) and then unreferenced layers.
    pub fn gc(&self, in_use: &HashSet<String>, policy: Option<GcPolicy>) -> Result<GcReport> {
        let mut report = GcReport::default();
        let mut unused: Vec<_> = self
            .list()?
            .into_iter()
            .filter(|i| !in_use.contains(&i.id))
            .collect();
        unused.sort_by(|a, b| {
            let ka = if a.last_used.is_empty() {
                &a.created
            } else {
                &a.last_used
            };
            let kb = if b.last_used.is_empty() {
                &b.created
            } else {
                &b.last_used
            };
            ka.cmp(kb)
        });
        if let Some(p) = policy {
            if disk_usage_percent(self.root()).unwrap_or(0) < p.high_threshold_percent {
                return Ok(report);
            }
        }
        for img in unused {
            if let Some(p) = policy {
                if disk_usage_percent(self.root()).unwrap_or(0) < p.low_threshold_percent {
                    break;
                }
            }
            self.remove_record(&img.id)?;
            report.images.push(img.id.clone());
            report.layers.extend(self.prune_layers()?);
        }
        report.layers.extend(self.prune_layers()?);
        Ok(report)
    }

    /// Deletes layers and blobs no image record refers to.
    pub fn prune_layers(&self) -> Result<Vec<String>> {
        let _lock = self.lock()?;
        let images = self.list()?;
        let mut keep: HashSet<String> = HashSet::new();
        for i in &images {
            for l in &i.layers {
                keep.insert(super::store::hex_of(l).to_string());
            }
            keep.insert(super::store::hex_of(&i.id).to_string());
            keep.insert(super::store::hex_of(&i.manifest_digest).to_string());
        }
        let mut removed = Vec::new();
        let layers = self.layers_dir();
        if let Ok(entries) = fs::read_dir(&layers) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if !keep.contains(&name) && fs::remove_dir_all(e.path()).is_ok() {
                    removed.push(format!("sha256:{name}"));
                }
            }
        }
        if let Ok(entries) = fs::read_dir(self.root().join("blobs/sha256")) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                // Index blobs are not tracked per image; they are tiny, but go too.
                if !keep.contains(&name) {
                    let _ = fs::remove_file(e.path());
                }
            }
        }
        Ok(removed)
    }
}
