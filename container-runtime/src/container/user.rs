//! Users: a uid is just a number to the kernel; names live in the *container's*
//! `/etc/passwd` and `/etc/group`, so `USER app` in an image is resolved after
//! the root filesystem is mounted, never against the host's files.

use std::path::Path;

/// A resolved identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
    /// Supplementary groups (from /etc/group membership and the pod).
    pub groups: Vec<u32>,
    /// Home directory (for `HOME`).
    pub home: String,
}

/// Why a user could not be resolved.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// A name that is not in the container's /etc/passwd.
    #[error("unable to find user {0}: no matching entries in passwd file")]
    NoUser(String),
    /// A group name that is not in /etc/group.
    #[error("unable to find group {0}: no matching entries in group file")]
    NoGroup(String),
}

/// Resolves `spec` (`""`, `uid`, `uid:gid`, `name`, `name:group`) with the
/// contents of passwd and group files. Overrides from the security context
/// win.
pub fn resolve(
    spec: &str,
    passwd: &str,
    group: &str,
    run_as_user: Option<u32>,
    run_as_group: Option<u32>,
    supplemental: &[u32],
) -> Result<Identity, Error> {
    let (u, g) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let passwd_entries: Vec<Vec<&str>> = passwd
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.split(':').collect::<Vec<_>>())
        .filter(|f| f.len() >= 7)
        .collect();
    let find_by_uid = |uid: u32| {
        passwd_entries
            .iter()
            .find(|f| f[2].parse::<u32>().ok() == Some(uid))
    };
    let (mut uid, mut gid, mut home, name) = if let Some(uid) = run_as_user {
        let e = find_by_uid(uid);
        (
            uid,
            e.and_then(|f| f[3].parse().ok()).unwrap_or(0),
            e.map(|f| f[5].to_string()).unwrap_or_else(|| "/".into()),
            e.map(|f| f[0].to_string()),
        )
    } else if u.is_empty() {
        let e = find_by_uid(0);
        (
            0,
            0,
            e.map(|f| f[5].to_string())
                .unwrap_or_else(|| "/root".into()),
            Some("root".into()),
        )
    } else if let Ok(uid) = u.parse::<u32>() {
        let e = find_by_uid(uid);
        (
            uid,
            e.and_then(|f| f[3].parse().ok()).unwrap_or(0),
            e.map(|f| f[5].to_string()).unwrap_or_else(|| "/".into()),
            e.map(|f| f[0].to_string()),
        )
    } else {
        let e = passwd_entries
            .iter()
            .find(|f| f[0] == u)
            .ok_or_else(|| Error::NoUser(u.to_string()))?;
        (
            e[2].parse().unwrap_or(0),
            e[3].parse().unwrap_or(0),
            e[5].to_string(),
            Some(u.to_string()),
        )
    };
    let group_entries: Vec<Vec<&str>> = group
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .filter(|f| f.len() >= 4)
        .collect();
    if let Some(g) = g.filter(|g| !g.is_empty()) {
        gid = match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => group_entries
                .iter()
                .find(|f| f[0] == g)
                .and_then(|f| f[2].parse().ok())
                .ok_or_else(|| Error::NoGroup(g.to_string()))?,
        };
    }
    if let Some(rg) = run_as_group {
        gid = rg;
    }
    let mut groups: Vec<u32> = Vec::new();
    if let Some(n) = &name {
        for f in &group_entries {
            if f[3].split(',').any(|m| m == n) {
                if let Ok(id) = f[2].parse::<u32>() {
                    if id != gid && !groups.contains(&id) {
                        groups.push(id);
                    }
                }
            }
        }
    }
    for s in supplemental {
        if !groups.contains(s) {
            groups.push(*s);
        }
    }
    if home.is_empty() {
        home = "/".into();
    }
    if uid == u32::MAX {
        uid = 0;
    }
    Ok(Identity {
        uid,
        gid,
        groups,
        home,
    })
}

/// Reads a file of the container's root (empty when absent).
pub fn read_etc(root: &Path, name: &str) -> String {
    std::fs::read_to_string(root.join("etc").join(name)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n";
    const GROUP: &str = "root:x:0:\napp:x:1000:\nwheel:x:10:app\nstaff:x:50:\n";

    #[test]
    fn resolves_names_numbers_and_overrides() {
        let r = |spec, u, g| resolve(spec, PASSWD, GROUP, u, g, &[]);
        assert_eq!(r("", None, None).unwrap().uid, 0);
        let app = r("app", None, None).unwrap();
        assert_eq!(
            (app.uid, app.gid, app.home.as_str()),
            (1000, 1000, "/home/app")
        );
        assert_eq!(app.groups, vec![10]);
        assert_eq!(r("1000:staff", None, None).unwrap().gid, 50);
        assert_eq!(r("4242", None, None).unwrap().uid, 4242);
        assert_eq!(r("4242:7", None, None).unwrap().gid, 7);
        assert_eq!(r("app", Some(65534), Some(3)).unwrap().uid, 65534);
        assert_eq!(r("app", Some(65534), Some(3)).unwrap().gid, 3);
        assert_eq!(r("ghost", None, None), Err(Error::NoUser("ghost".into())));
        assert_eq!(
            r("app:ghost", None, None),
            Err(Error::NoGroup("ghost".into()))
        );
        let s = resolve("app", PASSWD, GROUP, None, None, &[99]).unwrap();
        assert_eq!(s.groups, vec![10, 99]);
    }
}
