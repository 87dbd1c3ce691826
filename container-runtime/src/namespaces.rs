//! Namespaces: what a process can *see*.
//!
//! Each namespace type hides one kind of global resource: `net` (interfaces,
//! routes, ports), `ipc` (SysV shared memory, message queues), `uts` (hostname),
//! `pid` (process ids: the first process in a new one is pid 1), `mnt` (the mount
//! table), `cgroup` (which cgroup looks like the root). A namespace lives as long
//! as a process is in it (or a file descriptor or bind mount holds it); its
//! handle is `/proc/<pid>/ns/<type>`.
//!
//! * `unshare(flags)` moves the calling process into new namespaces - except for
//!   `pid`, where only the *children* created afterwards land in the new one;
//! * `setns(fd)` moves the caller into an existing namespace (again, for `pid`
//!   only its future children).
//!
//! A pod is a set of containers sharing net, ipc and uts namespaces, held by the
//! sandbox's pinned handles; each container adds its own pid and mnt namespaces.

use nix::sched::{setns, CloneFlags};
use std::fs::File;
use std::path::{Path, PathBuf};

/// Errors entering or creating namespaces.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Opening a namespace handle failed (the sandbox was stopped?).
    #[error("opening namespace {path}: {source}")]
    Open {
        /// The `/proc/<pid>/ns/<type>` path.
        path: PathBuf,
        /// OS error.
        #[source]
        source: std::io::Error,
    },
    /// `setns` failed.
    #[error("setns({path}): {source}")]
    Setns {
        /// The namespace handle.
        path: PathBuf,
        /// OS error.
        #[source]
        source: nix::Error,
    },
    /// `unshare` failed.
    #[error("unshare({flags}): {source}")]
    Unshare {
        /// Flags asked for.
        flags: String,
        /// OS error.
        #[source]
        source: nix::Error,
    },
    /// Bringing up the loopback interface failed.
    #[error("bringing up lo: {0}")]
    Loopback(String),
}

type Result<T, E = Error> = std::result::Result<T, E>;

/// Namespace kinds in the order they are joined. `mnt` must come last: after
/// it, `/proc/<pid>/ns/...` of the host is no longer reachable by path, and
/// `pid` only affects children, so its position does not matter.
pub const JOIN_ORDER: [(&str, CloneFlags); 6] = [
    ("cgroup", CloneFlags::CLONE_NEWCGROUP),
    ("ipc", CloneFlags::CLONE_NEWIPC),
    ("uts", CloneFlags::CLONE_NEWUTS),
    ("net", CloneFlags::CLONE_NEWNET),
    ("pid", CloneFlags::CLONE_NEWPID),
    ("mnt", CloneFlags::CLONE_NEWNS),
];

/// The flag for a namespace name.
pub fn flag(kind: &str) -> Option<CloneFlags> {
    JOIN_ORDER.iter().find(|(k, _)| *k == kind).map(|(_, f)| *f)
}

/// Handle path of a process' namespace.
pub fn ns_path(pid: i32, kind: &str) -> PathBuf {
    PathBuf::from(format!("/proc/{pid}/ns/{kind}"))
}

/// An opened namespace handle, ready to join.
pub struct Handle {
    path: PathBuf,
    file: File,
    flag: CloneFlags,
}

/// Opens a handle (do this before joining a mount namespace).
pub fn open(path: &Path, kind: &str) -> Result<Handle> {
    let file = File::open(path).map_err(|source| Error::Open {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(Handle {
        path: path.to_path_buf(),
        file,
        flag: flag(kind).unwrap_or(CloneFlags::empty()),
    })
}

/// Whether our own namespace of `kind` is the one behind `path` (joining it
/// again would be a no-op).
pub fn is_current(path: &Path, kind: &str) -> bool {
    match (
        std::fs::read_link(path),
        std::fs::read_link(format!("/proc/self/ns/{kind}")),
    ) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

impl Handle {
    /// Joins the namespace.
    pub fn join(&self) -> Result<()> {
        setns(&self.file, self.flag).map_err(|source| Error::Setns {
            path: self.path.clone(),
            source,
        })
    }
}

/// `unshare` with an error that names the flags.
pub fn unshare(flags: CloneFlags) -> Result<()> {
    nix::sched::unshare(flags).map_err(|source| Error::Unshare {
        flags: format!("{flags:?}"),
        source,
    })
}

/// Sets the `IFF_UP` flag of `lo` (interface index 1 in every new network
/// namespace) with one rtnetlink `RTM_NEWLINK` message, so `localhost` works
/// inside the pod without calling `ip`.
pub fn loopback_up() -> Result<()> {
    use nix::sys::socket::{
        recv, send, socket, AddressFamily, MsgFlags, SockFlag, SockProtocol, SockType,
    };
    let err = |e: nix::Error| Error::Loopback(e.to_string());
    let fd = socket(
        AddressFamily::Netlink,
        SockType::Raw,
        SockFlag::SOCK_CLOEXEC,
        SockProtocol::NetlinkRoute,
    )
    .map_err(err)?;
    const RTM_NEWLINK: u16 = 16;
    const NLM_F_REQUEST: u16 = 1;
    const NLM_F_ACK: u16 = 4;
    const IFF_UP: u32 = 1;
    // struct nlmsghdr (16 bytes) + struct ifinfomsg (16 bytes)
    let mut msg = Vec::with_capacity(32);
    msg.extend_from_slice(&32u32.to_ne_bytes()); // nlmsg_len
    msg.extend_from_slice(&RTM_NEWLINK.to_ne_bytes()); // nlmsg_type
    msg.extend_from_slice(&(NLM_F_REQUEST | NLM_F_ACK).to_ne_bytes()); // nlmsg_flags
    msg.extend_from_slice(&1u32.to_ne_bytes()); // nlmsg_seq
    msg.extend_from_slice(&0u32.to_ne_bytes()); // nlmsg_pid
    msg.push(0); // ifi_family AF_UNSPEC
    msg.push(0); // padding
    msg.extend_from_slice(&0u16.to_ne_bytes()); // ifi_type
    msg.extend_from_slice(&1i32.to_ne_bytes()); // ifi_index: lo
    msg.extend_from_slice(&IFF_UP.to_ne_bytes()); // ifi_flags
    msg.extend_from_slice(&IFF_UP.to_ne_bytes()); // ifi_change
    use std::os::fd::AsRawFd;
    send(fd.as_raw_fd(), &msg, MsgFlags::empty()).map_err(err)?;
    let mut buf = [0u8; 256];
    let n = recv(fd.as_raw_fd(), &mut buf, MsgFlags::empty()).map_err(err)?;
    // The answer is an NLMSG_ERROR (type 2) whose error field is 0 on success.
    if n >= 20 && u16::from_ne_bytes([buf[4], buf[5]]) == 2 {
        let code = i32::from_ne_bytes([buf[16], buf[17], buf[18], buf[19]]);
        if code != 0 {
            return Err(Error::Loopback(format!(
                "netlink error {}",
                std::io::Error::from_raw_os_error(-code)
            )));
        }
    }
    Ok(())
}
