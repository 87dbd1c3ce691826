//! Pod addresses from the node's podCIDR, kept on disk exactly as the CNI
//! `host-local` IPAM plugin keeps them, so the built-in path and the CNI
//! plugins share one allocation state and a node can switch between them
//! with pods running:
//!
//! ```text
//! <dataDir>/<network>/                  flock(2)ed while allocating or releasing
//! <dataDir>/<network>/172.16.16.5       "<container id>\r\n<ifname>": one file per address in use
//! <dataDir>/<network>/last_reserved_ip.0  where the next search starts
//! ```
//!
//! Allocation is host-local's: the addresses of the subnet after the last
//! one reserved, wrapping around, skipping the network address, the
//! gateway (the first address, the bridge's) and the broadcast address. A
//! container that already holds an address gets it again.

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

use super::super::Error;

/// What host-local writes between the container id and the interface name.
const LINE_BREAK: &str = "\r\n";
/// host-local's file of the last address given out in range 0.
const LAST_RESERVED: &str = "last_reserved_ip.0";

/// An IPv4 subnet to allocate from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subnet {
    /// The network address.
    pub network: Ipv4Addr,
    /// The prefix length.
    pub prefix: u8,
}

impl Subnet {
    /// The gateway: the first address after the network's.
    pub fn gateway(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network).wrapping_add(1))
    }

    fn size(&self) -> u32 {
        1u32.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0)
    }

    /// Addresses that may be handed out, in order.
    fn usable(&self) -> impl Iterator<Item = Ipv4Addr> + '_ {
        let base = u32::from(self.network);
        // Network address, gateway and broadcast are never handed out.
        (2..self.size().saturating_sub(1)).map(move |i| Ipv4Addr::from(base + i))
    }
}

/// One network's allocations on disk.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl Store {
    /// The allocations of network `name` under host-local's `data_dir`.
    pub fn new(data_dir: &Path, name: &str) -> Store {
        Store {
            dir: data_dir.join(name),
        }
    }

    /// Holds host-local's lock: an exclusive flock on the directory.
    fn lock(&self) -> Result<Flock<File>, Error> {
        std::fs::create_dir_all(&self.dir).map_err(io(&self.dir))?;
        let dir = File::open(&self.dir).map_err(io(&self.dir))?;
        Flock::lock(dir, FlockArg::LockExclusive).map_err(|(_, e)| Error::Io {
            path: self.dir.clone(),
            source: e.into(),
        })
    }

    fn owner(id: &str, ifname: &str) -> String {
        format!("{}{LINE_BREAK}{ifname}", id.trim())
    }

    /// The address recorded for `id`/`ifname`, if any (the caller holds
    /// the lock).
    fn held_by(&self, id: &str, ifname: &str) -> Result<Option<Ipv4Addr>, Error> {
        let owner = Self::owner(id, ifname);
        for entry in std::fs::read_dir(&self.dir).map_err(io(&self.dir))? {
            let entry = entry.map_err(io(&self.dir))?;
            let Ok(ip) = entry.file_name().to_string_lossy().parse::<Ipv4Addr>() else {
                continue;
            };
            let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
            if text.trim() == owner || text.trim() == id.trim() {
                return Ok(Some(ip));
            }
        }
        Ok(None)
    }

    /// An address of `subnet` for `id`/`ifname`: the one it holds, or the
    /// next free one after the last reserved.
    pub fn allocate(&self, subnet: &Subnet, id: &str, ifname: &str) -> Result<Ipv4Addr, Error> {
        let _lock = self.lock()?;
        if let Some(ip) = self.held_by(id, ifname)? {
            return Ok(ip);
        }
        let last_path = self.dir.join(LAST_RESERVED);
        let last: Option<Ipv4Addr> = std::fs::read_to_string(&last_path)
            .ok()
            .and_then(|s| s.trim().parse().ok());
        let usable: Vec<Ipv4Addr> = subnet.usable().collect();
        let start = last
            .and_then(|l| usable.iter().position(|ip| *ip == l))
            .map_or(0, |i| i + 1);
        for i in 0..usable.len() {
            let ip = usable[(start + i) % usable.len()];
            let path = self.dir.join(ip.to_string());
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(mut f) => {
                    f.write_all(Self::owner(id, ifname).as_bytes())
                        .map_err(io(&path))?;
                    std::fs::write(&last_path, ip.to_string()).map_err(io(&last_path))?;
                    return Ok(ip);
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(io(&path)(e)),
            }
        }
        Err(Error::BadResult {
            plugin: "kubenet".into(),
            reason: format!(
                "no free address in {}/{} ({} in use)",
                subnet.network,
                subnet.prefix,
                usable.len()
            ),
        })
    }

    /// Frees what `id`/`ifname` holds (also host-local's older records,
    /// the id alone). Idempotent.
    pub fn release(&self, id: &str, ifname: &str) -> Result<(), Error> {
        if !self.dir.exists() {
            return Ok(());
        }
        let _lock = self.lock()?;
        while let Some(ip) = self.held_by(id, ifname)? {
            let path = self.dir.join(ip.to_string());
            std::fs::remove_file(&path).map_err(io(&path))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subnet(s: &str, p: u8) -> Subnet {
        Subnet {
            network: s.parse().unwrap(),
            prefix: p,
        }
    }

    #[test]
    fn allocates_like_host_local_and_shares_its_files() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path(), "kubelet");
        let net = subnet("10.244.1.0", 29); // .2 to .6 usable
        let a = store.allocate(&net, "aaa", "eth0").unwrap();
        assert_eq!(a, "10.244.1.2".parse::<Ipv4Addr>().unwrap());
        assert_eq!(
            store.allocate(&net, "aaa", "eth0").unwrap(),
            a,
            "same container, same address"
        );
        let on_disk = std::fs::read_to_string(dir.path().join("kubelet/10.244.1.2")).unwrap();
        assert_eq!(on_disk, "aaa\r\neth0");
        // An address host-local gave out is skipped.
        std::fs::write(dir.path().join("kubelet/10.244.1.3"), "fromcni\r\neth0").unwrap();
        assert_eq!(
            store.allocate(&net, "bbb", "eth0").unwrap().to_string(),
            "10.244.1.4"
        );
        // Releasing host-local's record works too, and the search goes on
        // after the last reserved address, wrapping around.
        store.release("fromcni", "eth0").unwrap();
        assert_eq!(
            store.allocate(&net, "ccc", "eth0").unwrap().to_string(),
            "10.244.1.5"
        );
        assert_eq!(
            store.allocate(&net, "ddd", "eth0").unwrap().to_string(),
            "10.244.1.6"
        );
        assert_eq!(
            store.allocate(&net, "eee", "eth0").unwrap().to_string(),
            "10.244.1.3"
        );
        assert!(store.allocate(&net, "fff", "eth0").is_err(), "full");
        store.release("aaa", "eth0").unwrap();
        store.release("aaa", "eth0").unwrap();
        assert_eq!(
            store.allocate(&net, "fff", "eth0").unwrap().to_string(),
            "10.244.1.2"
        );
        assert_eq!(net.gateway().to_string(), "10.244.1.1");
    }
}
