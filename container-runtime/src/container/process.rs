//! Becoming the container's process: the last steps before `execve`, shared by
//! the init process and `exec`.
//!
//! Order matters. The capability *bounding set* (the caps a process can ever
//! get back) is reduced while we still have `CAP_SETPCAP`; then groups, gid and
//! uid are changed (a switch away from uid 0 clears the permitted and effective
//! capabilities, which is why non-root container processes have none, as with
//! Docker); a root process then gets exactly the container's set; finally
//! `no_new_privs` stops setuid binaries and file capabilities from granting
//! more after `execve`.

use super::user::Identity;
use nix::unistd::{setgroups, setresgid, setresuid, Gid, Uid};
use rustix::thread::{CapabilitySet, CapabilitySets};

/// Failing to drop privileges is always fatal for the container.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An unknown capability name.
    #[error("unknown capability {0}")]
    UnknownCapability(String),
    /// A syscall failed.
    #[error("{what}: {source}")]
    Sys {
        /// The step.
        what: String,
        /// OS error.
        #[source]
        source: std::io::Error,
    },
}

fn sys(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let what = what.into();
    move |source| Error::Sys { what, source }
}

/// Capability names (`CAP_X`) to a set.
pub fn capability_set(names: &[String]) -> Result<CapabilitySet, Error> {
    let mut set = CapabilitySet::empty();
    for n in names {
        let bare = n.strip_prefix("CAP_").unwrap_or(n);
        let c =
            CapabilitySet::from_name(bare).ok_or_else(|| Error::UnknownCapability(n.clone()))?;
        set |= c;
    }
    Ok(set)
}

/// Applies bounding set, groups, gid, uid, capabilities and no_new_privs.
pub fn become_user(id: &Identity, caps: &[String], no_new_privs: bool) -> Result<(), Error> {
    let keep = capability_set(caps)?;
    for (name, cap) in CapabilitySet::all().iter_names() {
        if !keep.contains(cap) {
            match rustix::thread::remove_capability_from_bounding_set(cap) {
                Ok(()) => {}
                // Capabilities newer than the running kernel don't exist there.
                Err(rustix::io::Errno::INVAL) => {}
                Err(e) => {
                    return Err(sys(format!("dropping CAP_{name} from the bounding set"))(
                        e.into(),
                    ))
                }
            }
        }
    }
    let groups: Vec<Gid> = id.groups.iter().map(|g| Gid::from_raw(*g)).collect();
    setgroups(&groups).map_err(|e| sys("setgroups")(e.into()))?;
    let gid = Gid::from_raw(id.gid);
    setresgid(gid, gid, gid).map_err(|e| sys(format!("setresgid({})", id.gid))(e.into()))?;
    let uid = Uid::from_raw(id.uid);
    setresuid(uid, uid, uid).map_err(|e| sys(format!("setresuid({})", id.uid))(e.into()))?;
    let sets = if id.uid == 0 {
        CapabilitySets {
            effective: keep,
            permitted: keep,
            inheritable: keep,
        }
    } else {
        CapabilitySets {
            effective: CapabilitySet::empty(),
            permitted: CapabilitySet::empty(),
            inheritable: CapabilitySet::empty(),
        }
    };
    rustix::thread::set_capabilities(None, sets).map_err(|e| sys("capset")(e.into()))?;
    if no_new_privs {
        rustix::thread::set_no_new_privs(true)
            .map_err(|e| sys("prctl(PR_SET_NO_NEW_PRIVS)")(e.into()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_to_set() {
        let s = capability_set(&["CAP_CHOWN".into(), "CAP_KILL".into()]).unwrap();
        assert_eq!(s, CapabilitySet::CHOWN | CapabilitySet::KILL);
        assert!(capability_set(&["CAP_NOPE".into()]).is_err());
    }
}
