//! Reading manifests for `-f`: files, directories (`-R` to descend), or `-`
//! for stdin; YAML streams with several documents or JSON; `List` kinds
//! expanded into their items.

use std::io::Read;
use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use crate::error::{Error, Result};

/// One object read from a manifest.
#[derive(Debug, Clone)]
pub struct Doc {
    /// Where it came from, as upstream names it in errors (`f.yaml`, `STDIN`).
    pub source: String,
    /// The object.
    pub object: Value,
    /// `apiVersion`.
    pub api_version: String,
    /// `kind`.
    pub kind: String,
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace`, if set.
    pub namespace: Option<String>,
}

const EXTENSIONS: &[&str] = &["yaml", "yml", "json"];

/// Reads every object named by `-f` arguments.
pub fn read(filenames: &[String], recursive: bool) -> Result<Vec<Doc>> {
    let mut out = Vec::new();
    for f in filenames {
        if f == "-" {
            let mut text = String::new();
            std::io::stdin().read_to_string(&mut text)?;
            parse_into(&text, "STDIN", &mut out)?;
            continue;
        }
        let p = Path::new(f);
        if !p.exists() {
            return Err(Error::usage(format!("the path \"{f}\" does not exist")));
        }
        if p.is_dir() {
            read_dir(p, recursive, &mut out)?;
        } else {
            let text = std::fs::read_to_string(p)?;
            parse_into(&text, f, &mut out)?;
        }
    }
    if out.is_empty() {
        return Err(Error::usage("no objects passed to apply"));
    }
    Ok(out)
}

fn read_dir(dir: &Path, recursive: bool, out: &mut Vec<Doc>) -> Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            if recursive {
                read_dir(&p, recursive, out)?;
            }
            continue;
        }
        let ext = p.extension().and_then(|e| e.to_str()).unwrap_or("");
        if EXTENSIONS.contains(&ext) {
            let text = std::fs::read_to_string(&p)?;
            parse_into(&text, &p.display().to_string(), out)?;
        }
    }
    Ok(())
}

/// Parses a YAML or JSON stream into objects.
pub fn parse_into(text: &str, source: &str, out: &mut Vec<Doc>) -> Result<()> {
    for de in serde_yaml_ng::Deserializer::from_str(text) {
        let v = Value::deserialize(de).map_err(|e| {
            Error::usage(format!(
                "error parsing {source}: error converting YAML to JSON: {e}"
            ))
        })?;
        push(v, source, out)?;
    }
    Ok(())
}

fn push(v: Value, source: &str, out: &mut Vec<Doc>) -> Result<()> {
    if v.is_null() {
        return Ok(());
    }
    let kind = v["kind"].as_str().unwrap_or("").to_string();
    let api_version = v["apiVersion"].as_str().unwrap_or("").to_string();
    if kind.is_empty() || api_version.is_empty() {
        let what = if kind.is_empty() {
            "kind"
        } else {
            "apiVersion"
        };
        return Err(Error::usage(format!(
            "error validating \"{source}\": error validating data: {what} not set; if you choose to ignore these errors, turn validation off with --validate=false"
        )));
    }
    if kind.ends_with("List") && v["items"].is_array() {
        for item in v["items"].as_array().cloned().unwrap_or_default() {
            push(item, source, out)?;
        }
        return Ok(());
    }
    out.push(Doc {
        source: source.to_string(),
        name: v["metadata"]["name"].as_str().unwrap_or("").to_string(),
        namespace: v["metadata"]["namespace"].as_str().map(str::to_string),
        api_version,
        kind,
        object: v,
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_and_lists() {
        let mut out = Vec::new();
        parse_into(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n---\napiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Secret, metadata: {name: b, namespace: x}}\n",
            "f.yaml",
            &mut out,
        )
        .unwrap();
        assert_eq!(out.len(), 2);
        assert_eq!(out[1].kind, "Secret");
        assert_eq!(out[1].namespace.as_deref(), Some("x"));
    }
}
