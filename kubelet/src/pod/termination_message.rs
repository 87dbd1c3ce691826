//! Termination messages: what a container leaves behind for
//! `status.containerStatuses[].state.terminated.message`.
//!
//! Before each attempt starts, the kubelet creates an empty, world-writable
//! file under the pod's directory and the runtime bind-mounts it at the
//! container's `terminationMessagePath` (default `/dev/termination-log`).
//! Once the attempt has exited, the kubelet reads at most 4 KiB of that file
//! into the status; with `terminationMessagePolicy: FallbackToLogsOnError`,
//! a failed attempt that wrote nothing there gets the tail of its log
//! instead (80 lines, at most 2 KiB), as upstream's kubelet does. Exited
//! attempts never change, so each one is read once and remembered.

use std::collections::HashMap;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use container_runtime::cri::{ContainerInfo, Status};
use k8s_openapi::api::core::v1::Container;

/// Upstream's limit on the bytes read from the message file.
const MAX_FILE_BYTES: u64 = 4096;
/// The log fallback: at most this many last lines ...
const LOG_LINES: usize = 80;
/// ... and at most this many bytes of them.
const LOG_BYTES: usize = 2048;

/// The host file that attempt `attempt` of container `name` writes its
/// message to.
pub fn host_path(root: &Path, uid: &str, name: &str, attempt: u32) -> PathBuf {
    crate::volumes::pod_dir(root, uid)
        .join("containers")
        .join(name)
        .join(attempt.to_string())
}

/// Creates (or empties) the message file so any user in the container can
/// write it.
pub fn prepare(path: &Path) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::File::create(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666))
}

/// The messages of exited attempts, by container id.
#[derive(Debug, Default)]
pub struct Messages {
    read: HashMap<String, String>,
}

impl Messages {
    /// Adds the termination message of `info` (an attempt of `c`) to its
    /// state's message once it has exited, as upstream enriches the
    /// runtime's own message: `"<runtime message>: <termination message>"`.
    pub fn enrich(&mut self, c: &Container, info: &mut ContainerInfo) {
        if !matches!(info.state.status, Status::Exited) {
            return;
        }
        let message = self
            .read
            .entry(info.spec.id.clone())
            .or_insert_with(|| read(c, info))
            .clone();
        if message.is_empty() {
            return;
        }
        if !info.state.message.is_empty() {
            info.state.message.push_str(": ");
        }
        info.state.message.push_str(&message);
    }

    /// Forgets attempts no longer in `live` (removed containers).
    pub fn retain(&mut self, live: &[ContainerInfo]) {
        self.read
            .retain(|id, _| live.iter().any(|c| &c.spec.id == id));
    }
}

/// Reads the message of an exited attempt: the file mounted at the
/// container's path, or, by policy, the tail of its log.
fn read(c: &Container, info: &ContainerInfo) -> String {
    let path = c.termination_message_path.as_deref().unwrap_or_default();
    let fallback = c.termination_message_policy.as_deref() == Some("FallbackToLogsOnError")
        && info.state.exit_code != 0
        && info.state.reason != "StartError";
    if !path.is_empty() {
        let from_file = info
            .spec
            .config
            .mounts
            .iter()
            .find(|m| m.container_path == Path::new(path))
            .map(|m| read_at_most(&m.host_path, MAX_FILE_BYTES));
        if let Some(text) = from_file {
            if !text.is_empty() || !fallback {
                return text;
            }
        }
    }
    if fallback {
        return log_tail(&info.spec.log_path);
    }
    String::new()
}

fn read_at_most(path: &Path, limit: u64) -> String {
    let mut buf = Vec::new();
    if let Ok(f) = std::fs::File::open(path) {
        let _ = f.take(limit).read_to_end(&mut buf);
    }
    String::from_utf8_lossy(&buf).into_owned()
}

/// The last lines of an attempt's log (both streams, in order), cut to the
/// last `LOG_BYTES` bytes.
fn log_tail(log: &Path) -> String {
    let opts = container_runtime::logs::Options {
        tail: Some(LOG_LINES),
        ..Default::default()
    };
    let mut out = Vec::new();
    let _ = container_runtime::logs::read(log, &opts, &mut || true, &mut |_, line| {
        out.extend_from_slice(line)
    });
    let start = out.len().saturating_sub(LOG_BYTES);
    String::from_utf8_lossy(&out[start..]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_is_world_writable_and_read_up_to_the_limit() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = host_path(dir.path(), "u-1", "app", 2);
        assert!(p.ends_with("pods/u-1/containers/app/2"));
        prepare(&p).expect("prepare");
        let mode = std::fs::metadata(&p).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o666);
        std::fs::write(&p, "x".repeat(5000)).expect("write");
        assert_eq!(read_at_most(&p, MAX_FILE_BYTES).len(), 4096);
        // A new attempt at the same path starts empty.
        prepare(&p).expect("again");
        assert_eq!(read_at_most(&p, MAX_FILE_BYTES), "");
        assert_eq!(read_at_most(&dir.path().join("none"), MAX_FILE_BYTES), "");
    }
}
