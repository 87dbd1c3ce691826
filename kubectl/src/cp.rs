//! `kubectl cp`: files and directories to and from a container, as a tar
//! archive through `exec`, as upstream does it (the container needs `tar`):
//!
//! - to a pod (`kubectl cp LOCAL [NS/]POD:PATH`): when PATH is a directory
//!   in the container (`test -d`), LOCAL goes inside it under its own name;
//!   the archive names entries after the destination, and `tar -xmf - -C
//!   DIR` unpacks it there;
//! - from a pod (`kubectl cp [NS/]POD:PATH LOCAL`): `tar cf - PATH` in the
//!   container, unpacked here with PATH's own prefix replaced by LOCAL (a
//!   file becomes LOCAL, a directory's content goes under LOCAL); entries
//!   that would land outside LOCAL and links are skipped with upstream's
//!   warnings.

use std::path::{Component, Path, PathBuf};

use crate::cli::CpArgs;
use crate::client::Rest;
use crate::error::{Error, Result};
use crate::exec::run_collect;

/// One side of the copy: a pod's path or a local one.
struct Spec {
    namespace: Option<String>,
    pod: Option<String>,
    path: String,
}

/// `[[namespace/]pod:]path`.
fn parse(s: &str) -> Result<Spec> {
    let Some((pod_part, path)) = s.split_once(':') else {
        return Ok(Spec {
            namespace: None,
            pod: None,
            path: s.to_string(),
        });
    };
    let (namespace, pod) = match pod_part.split_once('/') {
        Some((ns, pod)) => (Some(ns.to_string()), pod.to_string()),
        None => (None, pod_part.to_string()),
    };
    if pod.is_empty() || pod.contains('/') {
        return Err(Error::usage(
            "filespec must match the canonical format: [[namespace/]pod:]file/path",
        ));
    }
    Ok(Spec {
        namespace,
        pod: Some(pod),
        path: path.to_string(),
    })
}

/// Runs `kubectl cp`.
pub async fn run(rest: &Rest, a: CpArgs) -> Result<i32> {
    if a.args.len() != 2 {
        return Err(Error::usage("source and destination are required"));
    }
    let src = parse(&a.args[0])?;
    let dest = parse(&a.args[1])?;
    if src.pod.is_some() && dest.pod.is_some() {
        return Err(Error::usage(
            "one of src or dest must be a local file specification",
        ));
    }
    if src.path.is_empty() || dest.path.is_empty() {
        return Err(Error::usage("filepath can not be empty"));
    }
    let container = a.container.as_deref();
    match (&src.pod, &dest.pod) {
        (Some(pod), None) => {
            let ns = src
                .namespace
                .clone()
                .unwrap_or_else(|| rest.namespace.clone());
            from_pod(rest, &ns, pod, container, &src.path, Path::new(&dest.path)).await
        }
        (None, Some(pod)) => {
            let ns = dest
                .namespace
                .clone()
                .unwrap_or_else(|| rest.namespace.clone());
            to_pod(rest, &ns, pod, container, Path::new(&src.path), &dest.path).await
        }
        _ => Err(Error::usage(
            "one of src or dest must be a remote file specification",
        )),
    }
}

fn io_err(what: &str, e: std::io::Error) -> Error {
    Error::usage(format!("{what}: {e}"))
}

async fn to_pod(
    rest: &Rest,
    ns: &str,
    pod: &str,
    container: Option<&str>,
    src: &Path,
    dest: &str,
) -> Result<i32> {
    if std::fs::symlink_metadata(src).is_err() {
        return Err(Error::usage(format!(
            "{} doesn't exist in local filesystem",
            src.display()
        )));
    }
    let mut dest = dest.to_string();
    let is_dir = run_collect(rest, ns, pod, container, &["test", "-d", &dest], None).await?;
    if is_dir.code == 0 {
        let base = src
            .file_name()
            .map(|b| b.to_string_lossy().into_owned())
            .unwrap_or_default();
        dest = format!("{}/{base}", dest.trim_end_matches('/'));
    }
    let dest_path = Path::new(&dest);
    let dest_dir = dest_path
        .parent()
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    let dest_base = dest_path
        .file_name()
        .map(|b| b.to_string_lossy().into_owned())
        .unwrap_or_else(|| dest.clone());
    let mut archive = tar::Builder::new(Vec::new());
    archive.follow_symlinks(false);
    add(&mut archive, src, Path::new(&dest_base))?;
    let data = archive
        .into_inner()
        .map_err(|e| io_err("writing the archive", e))?;
    let mut command = vec!["tar", "-xmf", "-"];
    if !dest_dir.is_empty() {
        command.extend(["-C", dest_dir.as_str()]);
    }
    let ran = run_collect(rest, ns, pod, container, &command, Some(data)).await?;
    print!("{}", String::from_utf8_lossy(&ran.stdout));
    eprint!("{}", String::from_utf8_lossy(&ran.stderr));
    if ran.code != 0 {
        return Err(Error::usage(format!(
            "command terminated with exit code {}",
            ran.code
        )));
    }
    Ok(0)
}

/// Adds `path` (a file, a link, or a directory and everything in it) to
/// the archive under `name`.
fn add(archive: &mut tar::Builder<Vec<u8>>, path: &Path, name: &Path) -> Result<()> {
    let meta =
        std::fs::symlink_metadata(path).map_err(|e| io_err(&path.display().to_string(), e))?;
    if meta.is_dir() {
        let mut entries: Vec<_> = std::fs::read_dir(path)
            .map_err(|e| io_err(&path.display().to_string(), e))?
            .filter_map(|e| e.ok())
            .collect();
        entries.sort_by_key(|e| e.file_name());
        if entries.is_empty() {
            archive
                .append_dir(name, path)
                .map_err(|e| io_err("writing the archive", e))?;
        }
        for e in entries {
            add(archive, &e.path(), &name.join(e.file_name()))?;
        }
        return Ok(());
    }
    archive
        .append_path_with_name(path, name)
        .map_err(|e| io_err("writing the archive", e))
}

async fn from_pod(
    rest: &Rest,
    ns: &str,
    pod: &str,
    container: Option<&str>,
    src: &str,
    dest: &Path,
) -> Result<i32> {
    let ran = run_collect(rest, ns, pod, container, &["tar", "cf", "-", src], None).await?;
    // tar's notes ("removing leading '/' from member names") go to our
    // standard output, as upstream's.
    print!("{}", String::from_utf8_lossy(&ran.stderr));
    if ran.code != 0 {
        return Err(Error::usage(format!(
            "command terminated with exit code {}",
            ran.code
        )));
    }
    // The archive names members without the leading slash, `.` or `..`.
    let prefix: PathBuf = Path::new(src)
        .components()
        .filter(|c| matches!(c, Component::Normal(_)))
        .collect();
    let mut archive = tar::Archive::new(ran.stdout.as_slice());
    let entries = archive
        .entries()
        .map_err(|_| Error::usage("tar contents corrupted"))?;
    for entry in entries {
        let mut entry = entry.map_err(|_| Error::usage("tar contents corrupted"))?;
        let name = entry
            .path()
            .map_err(|_| Error::usage("tar contents corrupted"))?
            .into_owned();
        let Ok(rest_of) = name.strip_prefix(&prefix) else {
            continue;
        };
        if rest_of
            .components()
            .any(|c| !matches!(c, Component::Normal(_)))
        {
            eprintln!(
                "warning: file {:?} is outside target destination, skipping",
                dest.join(rest_of).display().to_string()
            );
            continue;
        }
        let target = if rest_of.as_os_str().is_empty() {
            dest.to_path_buf()
        } else {
            dest.join(rest_of)
        };
        let kind = entry.header().entry_type();
        if kind.is_symlink() || kind.is_hard_link() {
            let link = entry
                .link_name()
                .ok()
                .flatten()
                .map(|l| l.display().to_string())
                .unwrap_or_default();
            eprintln!(
                "warning: skipping symlink: {:?} -> {:?}",
                target.display().to_string(),
                link
            );
            continue;
        }
        if kind.is_dir() {
            std::fs::create_dir_all(&target)
                .map_err(|e| io_err(&target.display().to_string(), e))?;
            continue;
        }
        if let Some(parent) = target.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .map_err(|e| io_err(&parent.display().to_string(), e))?;
        }
        entry
            .unpack(&target)
            .map_err(|e| io_err(&target.display().to_string(), e))?;
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_specs_parse_as_upstream() {
        let s = parse("ns/web-0:/tmp/x").expect("spec");
        assert_eq!(
            (s.namespace.as_deref(), s.pod.as_deref(), s.path.as_str()),
            (Some("ns"), Some("web-0"), "/tmp/x")
        );
        let s = parse("web-0:data").expect("spec");
        assert_eq!((s.namespace, s.pod.as_deref()), (None, Some("web-0")));
        let s = parse("./local/file").expect("spec");
        assert!(s.pod.is_none());
        assert!(parse("a/b/c:/x").is_err());
    }
}
