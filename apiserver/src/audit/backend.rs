//! Where audit events go: a log file (or stdout for `-`), one JSON event
//! per line, written by a background task so a slow disk never holds a
//! request up.
//!
//! Requests hand finished lines to a bounded queue; when the writer falls
//! that far behind, new events are dropped (and counted in the log) rather
//! than blocking the API. The file is rotated as upstream's lumberjack
//! does: past `--audit-log-maxsize` megabytes it is renamed to
//! `<name>-<time>.<ext>`, and old files beyond `--audit-log-maxbackup` or
//! older than `--audit-log-maxage` days are removed.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

/// How many events may wait for the writer.
const QUEUE: usize = 10_000;

/// The `--audit-log-*` flags.
#[derive(Debug, Clone, Default)]
pub struct LogOptions {
    /// `--audit-log-path`: a file, or `-` for stdout.
    pub path: String,
    /// `--audit-log-maxsize`: megabytes before rotating (0: never).
    pub max_size_mb: u64,
    /// `--audit-log-maxbackup`: rotated files kept (0: all).
    pub max_backup: usize,
    /// `--audit-log-maxage`: days rotated files are kept (0: forever).
    pub max_age_days: u64,
}

/// Why the log cannot be opened.
#[derive(Debug, thiserror::Error)]
#[error("cannot open the audit log {path}: {source}")]
pub struct Error {
    path: String,
    #[source]
    source: std::io::Error,
}

/// The sending end: cheap to clone, never blocks.
#[derive(Debug, Clone)]
pub struct Sink {
    tx: mpsc::Sender<Vec<u8>>,
}

impl Sink {
    /// Queues one event line (the newline is added here).
    pub fn send(&self, mut line: Vec<u8>) {
        line.push(b'\n');
        if self.tx.try_send(line).is_err() {
            tracing::warn!("audit log writer is behind: dropping an audit event");
        }
    }
}

/// Opens the log and starts its writer.
pub async fn start(options: LogOptions) -> Result<Sink, Error> {
    let (tx, rx) = mpsc::channel(QUEUE);
    if options.path == "-" {
        tokio::spawn(write_stdout(rx));
    } else {
        let file = open(Path::new(&options.path))
            .await
            .map_err(|source| Error {
                path: options.path.clone(),
                source,
            })?;
        tokio::spawn(write_file(options, file, rx));
    }
    Ok(Sink { tx })
}

async fn open(path: &Path) -> std::io::Result<tokio::fs::File> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        tokio::fs::create_dir_all(dir).await?;
    }
    tokio::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .await
}

async fn write_stdout(mut rx: mpsc::Receiver<Vec<u8>>) {
    let mut out = tokio::io::stdout();
    while let Some(line) = rx.recv().await {
        if out.write_all(&line).await.is_err() {
            return;
        }
        let _ = out.flush().await;
    }
}

async fn write_file(
    options: LogOptions,
    mut file: tokio::fs::File,
    mut rx: mpsc::Receiver<Vec<u8>>,
) {
    let path = PathBuf::from(&options.path);
    let mut size = file.metadata().await.map(|m| m.len()).unwrap_or(0);
    let limit = options.max_size_mb * 1024 * 1024;
    while let Some(line) = rx.recv().await {
        if limit > 0 && size > 0 && size + line.len() as u64 > limit {
            match rotate(&path, &options).await {
                Ok(f) => {
                    file = f;
                    size = 0;
                }
                Err(e) => tracing::warn!(error = %e, "cannot rotate the audit log"),
            }
        }
        if let Err(e) = file.write_all(&line).await {
            tracing::warn!(error = %e, "cannot write the audit log");
            continue;
        }
        size += line.len() as u64;
        // Write what is queued before flushing once.
        while let Ok(line) = rx.try_recv() {
            if file.write_all(&line).await.is_ok() {
                size += line.len() as u64;
            }
        }
        let _ = file.flush().await;
    }
}

/// `audit.log` -> `audit-2006-01-02T15-04-05.000.log`, lumberjack's name.
fn backup_name(path: &Path, now: chrono::DateTime<chrono::Utc>) -> PathBuf {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let ext = path
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy()))
        .unwrap_or_default();
    path.with_file_name(format!(
        "{stem}-{}{ext}",
        now.format("%Y-%m-%dT%H-%M-%S%.3f")
    ))
}

async fn rotate(path: &Path, options: &LogOptions) -> std::io::Result<tokio::fs::File> {
    tokio::fs::rename(path, backup_name(path, chrono::Utc::now())).await?;
    let file = open(path).await?;
    prune(path, options).await;
    Ok(file)
}

/// Removes rotated files beyond the count and age limits.
async fn prune(path: &Path, options: &LogOptions) {
    let (Some(dir), Some(stem)) = (path.parent(), path.file_stem()) else {
        return;
    };
    let prefix = format!("{}-", stem.to_string_lossy());
    let Ok(mut entries) = tokio::fs::read_dir(if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    })
    .await
    else {
        return;
    };
    let mut backups = Vec::new();
    while let Ok(Some(entry)) = entries.next_entry().await {
        if entry.file_name().to_string_lossy().starts_with(&prefix) {
            let modified = entry
                .metadata()
                .await
                .and_then(|m| m.modified())
                .unwrap_or(SystemTime::UNIX_EPOCH);
            backups.push((modified, entry.path()));
        }
    }
    backups.sort();
    backups.reverse();
    let max_age = Duration::from_secs(options.max_age_days * 24 * 3600);
    for (i, (modified, file)) in backups.iter().enumerate() {
        let too_many = options.max_backup > 0 && i >= options.max_backup;
        let too_old = options.max_age_days > 0
            && modified.elapsed().map(|age| age > max_age).unwrap_or(false);
        if too_many || too_old {
            let _ = tokio::fs::remove_file(file).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backups_are_named_like_lumberjack() {
        let t = chrono::DateTime::parse_from_rfc3339("2024-05-06T07:08:09.123Z")
            .map(|t| t.with_timezone(&chrono::Utc))
            .unwrap_or_default();
        assert_eq!(
            backup_name(Path::new("/var/log/audit.log"), t),
            PathBuf::from("/var/log/audit-2024-05-06T07-08-09.123.log")
        );
    }

    #[tokio::test]
    async fn rotates_past_the_size_and_keeps_max_backup() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("audit.log");
        let sink = start(LogOptions {
            path: path.to_string_lossy().into_owned(),
            max_size_mb: 1,
            max_backup: 1,
            max_age_days: 0,
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        // 3 MiB in 64 KiB lines: two rotations, one backup kept.
        for round in 0..48 {
            sink.send(vec![b'a' + (round % 26) as u8; 64 * 1024 - 1]);
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .map(|r| {
                r.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        assert_eq!(names.len(), 2, "{names:?}");
        assert!(names.contains(&"audit.log".to_string()));
        let current = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        assert!(current <= 1024 * 1024, "{current}");
    }
}
