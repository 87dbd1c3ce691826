//! IP forwarding of the node's network namespace.
//!
//! A node routes between its pods' bridge and its uplink, so it needs
//! `net.ipv4.ip_forward=1`. In the lab every node is a network namespace and
//! the kubelet runs inside it, so turning forwarding on there affects only
//! that node. The machine's own (root) namespace is another matter: the
//! project's rule is that nothing enables forwarding there, so we refuse to
//! touch it and leave the decision to whoever administers the host.
//!
//! The check compares the namespace of the calling *thread*
//! (`/proc/thread-self/ns/net`: a thread can `setns` on its own, as tests
//! do) with that of pid 1. `/proc/sys/net/...` is likewise resolved in the
//! opener's current namespace, so the write lands where the check looked.
//! Some hosts (microVM inits, hardened kernels) refuse to show pid 1's
//! namespaces even to root; there the kernel's own `kthreadd` (pid 2 outside
//! a PID namespace), which always lives in the initial namespaces, answers.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::Error;

const IP_FORWARD: &str = "/proc/sys/net/ipv4/ip_forward";

/// The (device, inode) identity of a namespace handle.
pub fn ns_identity(path: &Path) -> Result<(u64, u64), Error> {
    let m = std::fs::metadata(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    Ok((m.dev(), m.ino()))
}

/// Whether the calling thread is in the root network namespace (pid 1's).
pub fn in_root_netns() -> Result<bool, Error> {
    let own = Path::new("/proc/thread-self/ns/net");
    let own = if own.exists() {
        own
    } else {
        Path::new("/proc/self/ns/net")
    };
    Ok(ns_identity(own)? == root_netns_identity()?)
}

/// The identity of the initial network namespace: pid 1's, or kthreadd's
/// when pid 1's cannot be read.
fn root_netns_identity() -> Result<(u64, u64), Error> {
    let init = ns_identity(Path::new("/proc/1/ns/net"));
    if init.is_ok() {
        return init;
    }
    let kthreadd = std::fs::read_to_string("/proc/2/comm").unwrap_or_default();
    if kthreadd.trim() == "kthreadd" {
        if let Ok(id) = ns_identity(Path::new("/proc/2/ns/net")) {
            return Ok(id);
        }
    }
    init
}

/// Sets `net.ipv4.ip_forward=1` if, and only if, the calling thread is not in
/// the root network namespace. `Ok(false)`: root namespace, nothing touched;
/// `Ok(true)`: forwarding is on in this namespace. Errors when the
/// namespaces cannot be compared (then nothing is touched either).
pub fn enable_forwarding_outside_root_netns() -> Result<bool, Error> {
    if in_root_netns()? {
        return Ok(false);
    }
    let path = Path::new(IP_FORWARD);
    let current = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    if current.trim() != "1" {
        std::fs::write(path, "1").map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        tracing::info!("net.ipv4.ip_forward=1 in the node's network namespace");
    }
    Ok(true)
}
