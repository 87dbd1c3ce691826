//! Facts about this machine for the Node object: CPUs, memory, disk, pid
//! limits, kernel and OS, boot and machine ids. Everything is read from
//! `/proc`, `/sys` and `/etc`; what cannot be read is reported empty rather
//! than failing registration.

use std::net::{IpAddr, UdpSocket};
use std::path::Path;

/// The architecture as Kubernetes spells it.
pub fn arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// Logical CPUs.
pub fn cpus() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

fn meminfo(key: &str) -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with(key))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Total memory in bytes.
pub fn memory_total() -> u64 {
    meminfo("MemTotal:").unwrap_or(0)
}

/// (total, available) bytes of the filesystem holding `path`.
pub fn disk(path: &Path) -> (u64, u64) {
    match nix::sys::statvfs::statvfs(path) {
        Ok(s) => {
            let frag = s.fragment_size();
            (s.blocks() * frag, s.blocks_available() * frag)
        }
        Err(_) => (0, 0),
    }
}

/// (max pids, pids in use).
pub fn pids() -> (u64, u64) {
    let max = std::fs::read_to_string("/proc/sys/kernel/pid_max")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(32768);
    let used = std::fs::read_dir("/proc")
        .map(|d| {
            d.flatten()
                .filter(|e| {
                    e.file_name()
                        .to_string_lossy()
                        .bytes()
                        .all(|b| b.is_ascii_digit())
                })
                .count() as u64
        })
        .unwrap_or(0);
    (max, used)
}

fn read_trim(path: &str) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// `uname -r`.
pub fn kernel_version() -> String {
    read_trim("/proc/sys/kernel/osrelease")
}

/// `/etc/os-release`'s PRETTY_NAME.
pub fn os_image() -> String {
    std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|t| {
            t.lines().find_map(|l| {
                l.strip_prefix("PRETTY_NAME=")
                    .map(|v| v.trim_matches('"').to_string())
            })
        })
        .unwrap_or_else(|| "Linux".into())
}

/// `/etc/machine-id`.
pub fn machine_id() -> String {
    read_trim("/etc/machine-id")
}

/// The kernel's boot id.
pub fn boot_id() -> String {
    read_trim("/proc/sys/kernel/random/boot_id")
}

/// The address this machine uses to reach `server` (no packet is sent:
/// connecting a UDP socket only asks the kernel for a route).
pub fn ip_towards(server: &str) -> Option<IpAddr> {
    let sock = UdpSocket::bind("0.0.0.0:0").ok()?;
    sock.connect(server).ok()?;
    Some(sock.local_addr().ok()?.ip())
}
