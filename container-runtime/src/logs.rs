//! Container logs in the CRI format, with rotation.
//!
//! Every line a container writes becomes one line of the log file:
//!
//! ```text
//! 2024-05-01T10:00:00.123456789Z stdout F hello world
//! 2024-05-01T10:00:00.123500000Z stderr P a very long line that was split...
//! ```
//!
//! (timestamp, stream, `F` for a full line or `P` for a partial one, content).
//! This is the format `kubectl logs` is served from and that log shippers parse.
//! Files live at `/var/log/pods/<namespace>_<pod>_<uid>/<container>/<restart>.log`;
//! when a file grows past the size limit it is renamed to
//! `<restart>.log.<timestamp>` and a new one is started, keeping a bounded
//! number of files.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Lines longer than this are split into partial (`P`) records.
pub const MAX_LINE: usize = 16 * 1024;

/// Which output a record came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

impl Stream {
    fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// Writes CRI log records and rotates the file.
pub struct Writer {
    path: PathBuf,
    file: File,
    size: u64,
    max_size: u64,
    max_files: usize,
    partial: [Vec<u8>; 2],
}

impl Writer {
    /// Opens (appending) the log file, creating its directory.
    pub fn open(path: &Path, max_size: u64, max_files: usize) -> io::Result<Self> {
        if let Some(d) = path.parent() {
            fs::create_dir_all(d)?;
        }
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let size = file.metadata()?.len();
        Ok(Writer {
            path: path.to_path_buf(),
            file,
            size,
            max_size: max_size.max(1024),
            max_files: max_files.max(1),
            partial: [Vec::new(), Vec::new()],
        })
    }

    /// Feeds bytes read from a stream; complete lines are written at once.
    pub fn write(&mut self, stream: Stream, data: &[u8]) -> io::Result<()> {
        let idx = stream as usize;
        let mut buf = std::mem::take(&mut self.partial[idx]);
        buf.extend_from_slice(data);
        let mut start = 0;
        while let Some(pos) = buf[start..].iter().position(|b| *b == b'\n') {
            let end = start + pos;
            self.record(stream, b'F', &buf[start..end])?;
            start = end + 1;
        }
        let mut rest = buf.split_off(start);
        while rest.len() >= MAX_LINE {
            let tail = rest.split_off(MAX_LINE);
            self.record(stream, b'P', &rest)?;
            rest = tail;
        }
        self.partial[idx] = rest;
        Ok(())
    }

    /// Writes out any incomplete last lines (at container exit) as partial
    /// records, as containerd does: output that did not end in a newline
    /// reads back without one (`echo -n DONE` is `DONE`, which is what a
    /// FallbackToLogsOnError termination message must say).
    pub fn flush(&mut self) -> io::Result<()> {
        for stream in [Stream::Stdout, Stream::Stderr] {
            let rest = std::mem::take(&mut self.partial[stream as usize]);
            if !rest.is_empty() {
                self.record(stream, b'P', &rest)?;
            }
        }
        Ok(())
    }

    fn record(&mut self, stream: Stream, tag: u8, content: &[u8]) -> io::Result<()> {
        let ts = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
        let mut line = Vec::with_capacity(content.len() + 48);
        line.extend_from_slice(ts.as_bytes());
        line.push(b' ');
        line.extend_from_slice(stream.as_str().as_bytes());
        line.push(b' ');
        line.push(tag);
        line.push(b' ');
        line.extend_from_slice(content);
        line.push(b'\n');
        if self.size > 0 && self.size + line.len() as u64 > self.max_size {
            self.rotate()?;
        }
        self.file.write_all(&line)?;
        self.size += line.len() as u64;
        Ok(())
    }

    fn rotate(&mut self) -> io::Result<()> {
        let stamp = chrono::Utc::now().format("%Y%m%d-%H%M%S%.6f");
        let rotated = PathBuf::from(format!("{}.{stamp}", self.path.display()));
        fs::rename(&self.path, &rotated)?;
        self.file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        self.size = 0;
        let mut old = rotated_files(&self.path);
        while old.len() + 1 > self.max_files {
            let _ = fs::remove_file(old.remove(0));
        }
        Ok(())
    }
}

/// Rotated files of a log, oldest first.
pub fn rotated_files(path: &Path) -> Vec<PathBuf> {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return Vec::new();
    };
    let prefix = format!("{}.", name.to_string_lossy());
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .map(|e| e.path())
        .collect();
    v.sort();
    v
}

/// One parsed log record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// RFC 3339 timestamp as written.
    pub time: String,
    /// Stream.
    pub stream: Stream,
    /// True for a complete line (`F`).
    pub full: bool,
    /// The bytes.
    pub content: Vec<u8>,
}

/// Parses one CRI log line (without the newline).
pub fn parse_line(line: &[u8]) -> Option<Record> {
    let mut parts = line.splitn(4, |b| *b == b' ');
    let time = String::from_utf8(parts.next()?.to_vec()).ok()?;
    let stream = match parts.next()? {
        b"stdout" => Stream::Stdout,
        b"stderr" => Stream::Stderr,
        _ => return None,
    };
    let full = parts.next()? != b"P";
    let content = parts.next().unwrap_or(b"").to_vec();
    Some(Record {
        time,
        stream,
        full,
        content,
    })
}

/// What to read (`kubectl logs` options).
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Only the last N lines.
    pub tail: Option<usize>,
    /// Only records at or after this time.
    pub since: Option<chrono::DateTime<chrono::Utc>>,
    /// Keep following until `stop()` says so.
    pub follow: bool,
    /// Prefix lines with their timestamp.
    pub timestamps: bool,
}

/// Parses the complete lines of `buf` into `out`; returns how many bytes
/// were consumed (an incomplete last line stays for the next read).
fn parse_complete(buf: &[u8], out: &mut Vec<Record>) -> usize {
    let mut used = 0;
    while let Some(i) = buf[used..].iter().position(|b| *b == b'\n') {
        if let Some(r) = parse_line(&buf[used..used + i]) {
            out.push(r);
        }
        used += i + 1;
    }
    used
}

fn read_records(path: &Path, out: &mut Vec<Record>) {
    if let Ok(mut file) = File::open(path) {
        let mut buf = Vec::new();
        if file.read_to_end(&mut buf).is_ok() {
            let used = parse_complete(&buf, out);
            if let Some(r) = parse_line(&buf[used..]) {
                out.push(r);
            }
        }
    }
}

fn emit(r: &Record, opts: &Options, out: &mut dyn FnMut(Stream, &[u8])) {
    let mut bytes = Vec::with_capacity(r.content.len() + 40);
    if opts.timestamps {
        bytes.extend_from_slice(r.time.as_bytes());
        bytes.push(b' ');
    }
    bytes.extend_from_slice(&r.content);
    if r.full {
        bytes.push(b'\n');
    }
    out(r.stream, &bytes);
}

fn wanted(r: &Record, opts: &Options) -> bool {
    match &opts.since {
        Some(since) => chrono::DateTime::parse_from_rfc3339(&r.time)
            .map(|t| t >= *since)
            .unwrap_or(true),
        None => true,
    }
}

/// Reads a container log (rotated files included), calling `out` for each
/// line; with `follow`, keeps reading new lines until `done()` returns true
/// and nothing more arrives.
///
/// The live file is read through one open handle from its first byte to the
/// end and then followed from exactly there, so a line written while the
/// history is being read is neither lost nor printed twice.
pub fn read(
    path: &Path,
    opts: &Options,
    done: &mut dyn FnMut() -> bool,
    out: &mut dyn FnMut(Stream, &[u8]),
) -> io::Result<()> {
    let mut records = Vec::new();
    for f in rotated_files(path) {
        read_records(&f, &mut records);
    }
    let mut file = match File::open(path) {
        Ok(f) => Some(f),
        Err(e) if e.kind() == io::ErrorKind::NotFound && !records.is_empty() => None,
        Err(e) => return Err(e),
    };
    let mut pending = Vec::new();
    if let Some(f) = file.as_mut() {
        f.read_to_end(&mut pending)?;
        let used = parse_complete(&pending, &mut records);
        pending.drain(..used);
    }
    let records: Vec<Record> = records.into_iter().filter(|r| wanted(r, opts)).collect();
    let start = match opts.tail {
        Some(0) => records.len(),
        Some(n) => {
            // Count complete lines from the end; output that ended without
            // a newline (a partial last record) is a line of its own.
            let mut full = usize::from(records.last().is_some_and(|r| !r.full));
            let mut idx = records.len();
            while idx > 0 {
                if records[idx - 1].full {
                    if full == n {
                        break;
                    }
                    full += 1;
                }
                idx -= 1;
            }
            idx
        }
        None => 0,
    };
    for r in &records[start..] {
        emit(r, opts, out);
    }
    let Some(mut file) = file.filter(|_| opts.follow) else {
        // A last line without its newline (the writer was interrupted).
        if let Some(r) = parse_line(&pending).filter(|r| wanted(r, opts)) {
            emit(&r, opts, out);
        }
        return Ok(());
    };
    // Follow: keep reading the open handle; when the file was rotated away,
    // drain the old handle and switch to the new file.
    let mut ino = inode(&file);
    let mut emit_new = |pending: &mut Vec<u8>| {
        let mut recs = Vec::new();
        let used = parse_complete(pending, &mut recs);
        pending.drain(..used);
        for r in recs.iter().filter(|r| wanted(r, opts)) {
            emit(r, opts, out);
        }
    };
    loop {
        let before = pending.len();
        file.read_to_end(&mut pending)?;
        let got = pending.len() > before;
        emit_new(&mut pending);
        let rotated = fs::metadata(path)
            .map(|m| inode_of(&m) != ino)
            .unwrap_or(false);
        if rotated {
            file.read_to_end(&mut pending)?;
            emit_new(&mut pending);
            pending.clear();
            file = File::open(path)?;
            ino = inode(&file);
            continue;
        }
        if !got {
            if done() {
                // One last look after the writer finished.
                file.read_to_end(&mut pending)?;
                pending.push(b'\n');
                emit_new(&mut pending);
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn inode(f: &File) -> u64 {
    f.metadata().map(|m| inode_of(&m)).unwrap_or(0)
}

fn inode_of(m: &fs::Metadata) -> u64 {
    use std::os::unix::fs::MetadataExt;
    m.ino()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(path: &Path, opts: &Options) -> String {
        let mut s = String::new();
        read(path, opts, &mut || true, &mut |_, b| {
            s.push_str(&String::from_utf8_lossy(b))
        })
        .unwrap();
        s
    }

    #[test]
    fn writes_cri_lines_and_reassembles() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("c/0.log");
        let mut w = Writer::open(&p, 1 << 20, 3).unwrap();
        w.write(Stream::Stdout, b"hello\nwor").unwrap();
        w.write(Stream::Stderr, b"oops\n").unwrap();
        w.write(Stream::Stdout, b"ld\nend").unwrap();
        w.flush().unwrap();
        let text = fs::read_to_string(&p).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4);
        assert!(lines[0].ends_with(" stdout F hello"), "{}", lines[0]);
        assert!(lines[1].ends_with(" stderr F oops"));
        assert!(lines[2].ends_with(" stdout F world"));
        assert!(chrono::DateTime::parse_from_rfc3339(lines[0].split(' ').next().unwrap()).is_ok());
        // The unterminated last output is a partial record and reads back
        // without a newline.
        assert!(lines[3].ends_with(" stdout P end"), "{}", lines[3]);
        assert_eq!(collect(&p, &Options::default()), "hello\noops\nworld\nend");
        let tail = Options {
            tail: Some(2),
            ..Default::default()
        };
        assert_eq!(collect(&p, &tail), "world\nend");
        let last = |n| Options {
            tail: Some(n),
            ..Default::default()
        };
        assert_eq!(collect(&p, &last(1)), "end");
        assert_eq!(collect(&p, &last(0)), "");
    }

    #[test]
    fn long_lines_become_partial_records() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("0.log");
        let mut w = Writer::open(&p, 1 << 20, 3).unwrap();
        let long = vec![b'x'; MAX_LINE + 10];
        w.write(Stream::Stdout, &long).unwrap();
        w.write(Stream::Stdout, b"\n").unwrap();
        let text = fs::read_to_string(&p).unwrap();
        assert!(text.lines().next().unwrap().contains(" stdout P "));
        assert_eq!(collect(&p, &Options::default()).len(), MAX_LINE + 11);
    }

    #[test]
    fn rotates_and_keeps_max_files() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("0.log");
        let mut w = Writer::open(&p, 1024, 3).unwrap();
        for i in 0..200 {
            w.write(Stream::Stdout, format!("line {i:04}\n").as_bytes())
                .unwrap();
        }
        let rotated = rotated_files(&p);
        assert_eq!(rotated.len(), 2, "max_files counts the live file");
        let all = collect(&p, &Options::default());
        assert!(all.ends_with("line 0199\n"));
        assert!(!all.contains("line 0000\n"), "oldest rotated away");
        assert!(fs::metadata(&p).unwrap().len() <= 1024);
    }

    #[test]
    fn since_filters_by_time() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("0.log");
        fs::write(
            &p,
            "2020-01-01T00:00:00.000000000Z stdout F old\n2030-01-01T00:00:00.000000000Z stdout F new\n",
        )
        .unwrap();
        let opts = Options {
            since: Some(chrono::Utc::now()),
            ..Default::default()
        };
        assert_eq!(collect(&p, &opts), "new\n");
    }
}
