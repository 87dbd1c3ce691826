//! The runtime's helper processes, and how a binary becomes one.
//!
//! The runtime never forks (its process has many threads): it starts a
//! binary, [`Config::binary`](crate::Config::binary), with a hidden first
//! argument naming the helper to become, and the helpers start the next ones
//! the same way through `/proc/self/exe`, or fork where they have one thread
//! (the launcher forks monitors, a monitor forks init):
//!
//! ```text
//! __launcher <root-dir>            forks the monitors, one per container (launcher::main)
//! __sandbox <dir>                  starts pid 1 of a shared pid namespace (sandbox::holder_main)
//! __pause                          pid 1 of a shared pid namespace (sandbox::pause_main)
//! __exec <dir> [--tty] -- CMD...   enters a running container (exec::helper_main)
//! __exec-child <json>              the exec'd process, inside the namespaces (exec::child_main)
//! __build-id                       prints the runtime's build id (crate::BUILD_ID)
//! ```
//!
//! Any binary that hands its arguments to [`dispatch`] first can play them:
//! the kubelet does, and so does this crate's own `container-runtime`
//! binary, which is nothing but the helpers (the runtime's tests run it).

use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::{Error, Result, Runtime};

impl Runtime {
    /// Starts helper `name` (`__sandbox`) on `dir` from
    /// [`Config::binary`](crate::Config::binary) and reads the one line it
    /// answers on its stdout (`ok ...` or `error: ...`, trimmed; empty when it
    /// exited without one). `what` names it in errors.
    pub(crate) fn spawn_helper(
        &self,
        name: &str,
        what: &str,
        dir: &Path,
        stderr: Stdio,
    ) -> Result<(Child, String)> {
        let mut child = Command::new(&self.cfg.binary)
            .arg(name)
            .arg(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .map_err(|e| Error::Spawn {
                what: format!("{what} {}", self.cfg.binary.display()),
                reason: e.to_string(),
            })?;
        let mut line = String::new();
        if let Some(out) = child.stdout.take() {
            let _ = BufReader::new(out).read_line(&mut line);
        }
        Ok((child, line.trim().to_string()))
    }
}

/// Runs the helper `args` (without the program name) ask for and returns
/// its exit code; `None` when the first argument names no helper.
pub fn dispatch(args: &[OsString]) -> Option<i32> {
    let (first, rest) = args.split_first()?;
    let code = match first.to_str()? {
        // The root dir only names the runtime it serves (in `ps`, and for
        // tools that tell one node's processes from another's by it).
        "__launcher" => one_dir(first, rest).map(|_| crate::launcher::main()),
        "__sandbox" => one_dir(first, rest).map(|d| crate::sandbox::holder_main(&d)),
        "__build-id" => {
            println!("{}", crate::build_id_from_marker());
            Ok(0)
        }
        "__pause" => match rest {
            [] => Ok(crate::sandbox::pause_main()),
            _ => Err("__pause takes no arguments".to_string()),
        },
        "__exec" => exec_args(rest).map(|(dir, tty, cmd)| crate::exec::helper_main(&dir, tty, cmd)),
        "__exec-child" => match rest {
            [spec] => spec
                .to_str()
                .map(crate::exec::child_main)
                .ok_or_else(|| "__exec-child: the spec is not UTF-8".to_string()),
            _ => Err("usage: __exec-child <json>".to_string()),
        },
        _ => return None,
    };
    Some(code.unwrap_or_else(|e| {
        eprintln!("{e}");
        2
    }))
}

fn one_dir(name: &OsString, rest: &[OsString]) -> Result<PathBuf, String> {
    match rest {
        [dir] => Ok(PathBuf::from(dir)),
        _ => Err(format!("usage: {} <dir>", name.to_string_lossy())),
    }
}

/// `<dir> [--tty] -- CMD...` (`--tty` also before `<dir>`).
fn exec_args(rest: &[OsString]) -> Result<(PathBuf, bool, Vec<String>), String> {
    let usage = || "usage: __exec <dir> [--tty] -- CMD...".to_string();
    let sep = rest.iter().position(|a| a == "--").ok_or_else(usage)?;
    let (opts, cmd) = (&rest[..sep], &rest[sep + 1..]);
    let mut dir = None;
    let mut tty = false;
    for a in opts {
        if a == "--tty" {
            tty = true;
        } else if dir.is_none() {
            dir = Some(PathBuf::from(a));
        } else {
            return Err(usage());
        }
    }
    let dir = dir.ok_or_else(usage)?;
    if cmd.is_empty() {
        return Err(usage());
    }
    let cmd = cmd
        .iter()
        .map(|a| {
            a.to_str()
                .map(str::to_string)
                .ok_or_else(|| format!("__exec: argument {a:?} is not UTF-8"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((dir, tty, cmd))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<OsString> {
        a.iter().map(OsString::from).collect()
    }

    #[test]
    fn exec_arguments() {
        assert_eq!(
            exec_args(&args(&["/c/1", "--tty", "--", "sh", "-c", "echo --"])),
            Ok((
                PathBuf::from("/c/1"),
                true,
                vec!["sh".into(), "-c".into(), "echo --".into()]
            ))
        );
        assert_eq!(
            exec_args(&args(&["--tty", "/c/1", "--", "ls", "--tty"])),
            Ok((
                PathBuf::from("/c/1"),
                true,
                vec!["ls".into(), "--tty".into()]
            ))
        );
        assert_eq!(
            exec_args(&args(&["/c/1", "--", "true"])),
            Ok((PathBuf::from("/c/1"), false, vec!["true".into()]))
        );
        for bad in [
            &["/c/1", "true"][..],
            &["/c/1", "--"],
            &["--", "true"],
            &["/a", "/b", "--", "x"],
        ] {
            assert!(exec_args(&args(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn only_helper_names_are_dispatched() {
        assert_eq!(dispatch(&args(&["ctl", "ps"])), None);
        assert_eq!(dispatch(&args(&[])), None);
        assert_eq!(dispatch(&args(&["__nothing"])), None);
        // Known helpers with wrong arguments fail with usage, exit code 2.
        assert_eq!(dispatch(&args(&["__sandbox"])), Some(2));
        assert_eq!(dispatch(&args(&["__launcher"])), Some(2));
        assert_eq!(dispatch(&args(&["__pause", "x"])), Some(2));
        assert_eq!(dispatch(&args(&["__exec", "/c/1"])), Some(2));
    }
}
