//! `kubectl diff -f FILE`: what `kubectl apply` would change, shown as a
//! unified diff between the live objects and the ones the server would
//! store, as upstream does it:
//!
//! 1. each object of the manifests is read from the server (LIVE; absent
//!    when it does not exist yet) and applied with `dryRun=All`, the same
//!    requests `apply` (client-side, or `--server-side`) makes (MERGED);
//! 2. both are written as YAML, without `managedFields` and with a
//!    Secret's values masked, into two temporary directories
//!    (`$TMPDIR/LIVE-*`, `$TMPDIR/MERGED-*`), one file per object named
//!    `[group.]version.Kind.namespace.name`;
//! 3. `diff -u -N LIVE MERGED` (or `$KUBECTL_EXTERNAL_DIFF`) compares them;
//!    its exit status is ours: 0 nothing would change, 1 something would,
//!    above 1 the diff program failed.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::apply::{client_side, place, server_side, DryRun};
use crate::cli::ApplyArgs;
use crate::client::Rest;
use crate::discovery::Resolver;
use crate::error::{Error, Result};
use crate::manifest;
use crate::printers::yaml;

/// Runs `kubectl diff`. Errors exit with 2, as upstream's: 1 means "the
/// objects would change".
pub async fn run(rest: &Rest, a: ApplyArgs) -> Result<i32> {
    match diff_objects(rest, a).await {
        Ok(code) => Ok(code),
        Err(e) => {
            eprintln!("{e}");
            Ok(2)
        }
    }
}

async fn diff_objects(rest: &Rest, a: ApplyArgs) -> Result<i32> {
    if a.files.filename.is_empty() {
        return Err(Error::usage("must specify one of -f and -k"));
    }
    let docs = manifest::read(&a.files.filename, a.files.recursive)?;
    let live = TempDir::new("LIVE")?;
    let merged = TempDir::new("MERGED")?;
    let mut resolver = Resolver::new(rest).await?;
    for mut doc in docs {
        let r = resolver.for_kind(&doc.api_version, &doc.kind).await?;
        let ns = place(rest, &r, &mut doc)?;
        let path = r.object_path(ns.as_deref(), &doc.name);
        let current = match rest.get(&path).await {
            Ok(c) => Some(c),
            Err(e) if e.is_not_found() => None,
            Err(e) => return Err(e),
        };
        let (_, after) = if a.server_side {
            // The server's own error on a conflict, without `apply`'s advice.
            server_side(rest, &r, &doc, ns.as_deref(), DryRun::Server, &a, "Strict").await?
        } else {
            client_side(
                rest,
                &r,
                &doc,
                ns.as_deref(),
                DryRun::Server,
                "Strict",
                false,
            )
            .await?
        };
        let group = if r.group.is_empty() {
            String::new()
        } else {
            format!("{}.", r.group)
        };
        let name = format!(
            "{group}{}.{}.{}.{}",
            r.version,
            r.kind,
            ns.as_deref().unwrap_or(""),
            doc.name
        );
        let (mut before, mut after) = (current, after);
        for obj in before.iter_mut().chain(std::iter::once(&mut after)) {
            if let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
                m.remove("managedFields");
            }
        }
        if r.group.is_empty() && r.kind == "Secret" {
            mask_secrets(before.as_mut(), &mut after);
        }
        if let Some(before) = &before {
            write(&live.path.join(&name), &yaml::to_string(before))?;
        }
        write(&merged.path.join(&name), &yaml::to_string(&after))?;
    }
    diff(&live.path, &merged.path)
}

fn write(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).map_err(|e| Error::usage(format!("writing {}: {e}", path.display())))
}

/// Runs the diff program; its exit status is kubectl's.
fn diff(from: &Path, to: &Path) -> Result<i32> {
    let (program, mut args) = match std::env::var("KUBECTL_EXTERNAL_DIFF") {
        Ok(cmd) if !cmd.trim().is_empty() => {
            let mut words = cmd.split_whitespace().map(String::from);
            let program = words.next().unwrap_or_else(|| "diff".into());
            (program, words.collect::<Vec<_>>())
        }
        _ => ("diff".to_string(), vec!["-u".to_string(), "-N".to_string()]),
    };
    args.push(from.display().to_string());
    args.push(to.display().to_string());
    let status = std::process::Command::new(&program)
        .args(&args)
        .status()
        .map_err(|e| Error::usage(format!("failed to run \"{program}\": {e}")))?;
    match status.code() {
        Some(code @ (0 | 1)) => Ok(code),
        Some(code) => Err(Error::usage(format!("exit status {code}"))),
        None => Err(Error::usage(format!("{program} was killed by a signal"))),
    }
}

/// A Secret's values replaced as upstream's masker does: `***` where both
/// sides agree (or only one has the key), `*** (before)` and
/// `*** (after)` where they differ, so a diff shows which keys change but
/// never their values.
fn mask_secrets(before: Option<&mut Value>, after: &mut Value) {
    let old = before
        .as_ref()
        .and_then(|b| b.get("data"))
        .cloned()
        .unwrap_or(Value::Null);
    let new = after.get("data").cloned().unwrap_or(Value::Null);
    let mask = |obj: &mut Value, other: &Value, tag: &str| {
        if let Some(data) = obj.get_mut("data").and_then(Value::as_object_mut) {
            for (k, v) in data.iter_mut() {
                let differs = other.get(k).is_some_and(|o| o != v);
                *v = Value::from(if differs {
                    format!("*** ({tag})")
                } else {
                    "***".to_string()
                });
            }
        }
    };
    if let Some(b) = before {
        mask(b, &new, "before");
    }
    mask(after, &old, "after");
}

/// A directory under the temporary directory, removed when dropped.
struct TempDir {
    path: PathBuf,
}

impl TempDir {
    fn new(prefix: &str) -> Result<TempDir> {
        let base = std::env::temp_dir();
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        for attempt in 0..100u128 {
            let n = (seed + attempt * 7919 + u128::from(std::process::id())) % 10_000_000_000;
            let path = base.join(format!("{prefix}-{n}"));
            match std::fs::create_dir(&path) {
                Ok(()) => return Ok(TempDir { path }),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(Error::usage(format!("creating {}: {e}", path.display()))),
            }
        }
        Err(Error::usage(format!(
            "no free name for a {prefix} directory in {}",
            base.display()
        )))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secret_values_are_masked_keeping_which_keys_change() {
        let mut before = json!({"data": {"same": "YQ==", "changed": "Yg==", "gone": "Yw=="}});
        let mut after = json!({"data": {"same": "YQ==", "changed": "ZA==", "new": "ZQ=="}});
        mask_secrets(Some(&mut before), &mut after);
        assert_eq!(
            before,
            json!({"data": {"same": "***", "changed": "*** (before)", "gone": "***"}})
        );
        assert_eq!(
            after,
            json!({"data": {"same": "***", "changed": "*** (after)", "new": "***"}})
        );
    }
}
