//! `kubectl apply` and `kubectl replace`.
//!
//! Client-side apply keeps upstream's contract: the manifest as applied is
//! stored in the `kubectl.kubernetes.io/last-applied-configuration`
//! annotation (compact JSON, sorted keys, with the namespace set and an
//! empty `annotations` map, like upstream writes it), and the next apply
//! sends a three-way patch: fields dropped since the last apply are deleted,
//! fields that differ from the live object are set, fields set by others are
//! left alone. Our patch is a JSON merge patch in which a list is replaced
//! whole when it changed since the last apply (upstream computes a
//! strategic merge patch that merges keyed lists item by item; the stored
//! result is the same for manifests that own their lists).
//! `--server-side` sends the manifest as an apply patch instead.
//! `--prune` then deletes what earlier applies made and the manifests no
//! longer hold ([`prune`]).

pub mod prune;

use http::Method;
use serde_json::{json, Map, Value};

use crate::cli::{ApplyArgs, FileArgs};
use crate::client::{q, Rest};
use crate::discovery::{Resolver, Resource};
use crate::error::{Error, Result};
use crate::get::{print_object, Output};
use crate::manifest::{self, Doc};

/// The annotation client-side apply keeps its last manifest in.
pub const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// `--dry-run` as upstream understands it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DryRun {
    /// Really change the cluster.
    None,
    /// Print what would be sent; send nothing.
    Client,
    /// Let the server run everything but storage.
    Server,
}

impl DryRun {
    /// Parses the flag value.
    pub fn parse(v: Option<&str>) -> Result<DryRun> {
        match v {
            None | Some("none") | Some("false") => Ok(DryRun::None),
            Some("client") | Some("true") => Ok(DryRun::Client),
            Some("server") => Ok(DryRun::Server),
            Some(other) => Err(Error::usage(format!(
                "Invalid dry-run value ({other}). Must be \"none\", \"server\", or \"client\"."
            ))),
        }
    }

    /// The suffix upstream prints after the action.
    pub fn suffix(self) -> &'static str {
        match self {
            DryRun::None => "",
            DryRun::Client => " (dry run)",
            DryRun::Server => " (server dry run)",
        }
    }

    /// Query parameters for a mutating request.
    pub fn query(self) -> Option<&'static str> {
        (self == DryRun::Server).then_some("dryRun=All")
    }
}

/// `fieldValidation` for `--validate`.
pub fn validation(v: Option<&str>) -> Result<&'static str> {
    match v {
        None | Some("strict") | Some("true") => Ok("Strict"),
        Some("warn") => Ok("Warn"),
        Some("ignore") | Some("false") => Ok("Ignore"),
        Some(other) => Err(Error::usage(format!(
            "invalid - validate option \"{other}\"; must be one of: strict (or true), warn, ignore (or false)"
        ))),
    }
}

/// Puts the object in the namespace it will live in, checking `-n`.
pub fn place(rest: &Rest, r: &Resource, doc: &mut Doc) -> Result<Option<String>> {
    if !r.namespaced {
        return Ok(None);
    }
    let ns = match &doc.namespace {
        Some(n) if rest.namespace_explicit && *n != rest.namespace => {
            return Err(Error::usage(format!(
                "the namespace from the provided object \"{n}\" does not match the namespace \"{}\". You must pass '--namespace={n}' to perform this operation.",
                rest.namespace
            )))
        }
        Some(n) => n.clone(),
        None => rest.namespace.clone(),
    };
    doc.object["metadata"]["namespace"] = json!(ns);
    doc.namespace = Some(ns.clone());
    Ok(Some(ns))
}

/// Compact JSON as Go's encoder writes it (sorted keys, `<>&` escaped, trailing newline).
pub fn go_json(v: &Value) -> String {
    let s = serde_json::to_string(v).unwrap_or_default();
    format!(
        "{}\n",
        s.replace('<', "\\u003c")
            .replace('>', "\\u003e")
            .replace('&', "\\u0026")
    )
}

/// The manifest with an `annotations` map and no last-applied annotation
/// (upstream's modified configuration before it records it).
pub fn without_last_applied(obj: &Value) -> Value {
    let mut bare = obj.clone();
    let annotations = bare["metadata"]
        .as_object_mut()
        .map(|m| m.entry("annotations").or_insert_with(|| json!({})));
    if let Some(a) = annotations {
        if !a.is_object() {
            *a = json!({});
        }
        if let Some(m) = a.as_object_mut() {
            m.remove(LAST_APPLIED);
        }
    }
    bare
}

/// The manifest with its last-applied annotation set, as upstream builds it.
pub fn with_last_applied(obj: &Value) -> Value {
    let bare = without_last_applied(obj);
    let text = go_json(&bare);
    let mut out = bare;
    out["metadata"]["annotations"][LAST_APPLIED] = json!(text);
    out
}

/// The three-way patch (see the module docs); empty when nothing changes.
pub fn three_way(original: &Value, modified: &Value, current: &Value) -> Map<String, Value> {
    let mut patch = Map::new();
    let empty = Map::new();
    let o = original.as_object().unwrap_or(&empty);
    let m = modified.as_object().unwrap_or(&empty);
    let c = current.as_object().unwrap_or(&empty);
    for k in o.keys() {
        if !m.contains_key(k) && c.contains_key(k) {
            patch.insert(k.clone(), Value::Null);
        }
    }
    for (k, mv) in m {
        let cv = c.get(k);
        let ov = o.get(k);
        match (mv, cv) {
            (Value::Object(_), Some(Value::Object(_))) => {
                let sub = three_way(ov.unwrap_or(&Value::Null), mv, cv.unwrap_or(&Value::Null));
                if !sub.is_empty() {
                    patch.insert(k.clone(), Value::Object(sub));
                }
            }
            (Value::Array(_), Some(_)) => {
                // Lists are owned whole: compare with what we applied last.
                if ov != Some(mv) && cv != Some(mv) {
                    patch.insert(k.clone(), mv.clone());
                }
            }
            _ => {
                if cv != Some(mv) {
                    patch.insert(k.clone(), mv.clone());
                }
            }
        }
    }
    patch
}

fn join_query(parts: &[Option<String>]) -> String {
    let p: Vec<&str> = parts.iter().flatten().map(String::as_str).collect();
    if p.is_empty() {
        String::new()
    } else {
        format!("?{}", p.join("&"))
    }
}

/// Runs `kubectl apply`.
pub async fn run(rest: &Rest, a: ApplyArgs) -> Result<i32> {
    let dry = DryRun::parse(a.files.dry_run.as_deref())?;
    let output = match a.files.output.as_deref() {
        None => None,
        o => Some(Output::parse(o)?),
    };
    let validate = validation(a.files.validate.as_deref())?;
    if a.files.filename.is_empty() {
        return Err(Error::usage("must specify one of -f and -k"));
    }
    let mut resolver = Resolver::new(rest).await?;
    let prune_kinds = if a.prune {
        prune::allowlist(&mut resolver, &a.prune_allowlist).await?
    } else {
        Vec::new()
    };
    let selector = a.selector.clone().unwrap_or_default();
    if a.all && !selector.is_empty() {
        return Err(Error::usage(
            "cannot set --all and --selector at the same time",
        ));
    }
    if a.prune {
        if !a.all && selector.is_empty() {
            return Err(Error::usage("all resources selected for prune without explicitly passing --all. To prune all resources, pass the --all flag. If you did not mean to prune all resources, specify a label selector"));
        }
        if a.server_side {
            return Err(Error::usage("--prune is in alpha and doesn't currently work on objects created by server-side apply"));
        }
    }
    let docs = manifest::read(&a.files.filename, a.files.recursive)?;
    let mut errors = Vec::new();
    let mut visited = prune::Visited::default();
    if rest.namespace_explicit {
        visited.namespaces.insert(rest.namespace.clone());
    }
    for mut doc in docs {
        let r = resolver.for_kind(&doc.api_version, &doc.kind).await?;
        let ns = place(rest, &r, &mut doc)?;
        if let Some(ns) = &ns {
            visited.namespaces.insert(ns.clone());
        }
        let res = if a.server_side {
            server_side(rest, &r, &doc, ns.as_deref(), dry, &a, validate)
                .await
                .map_err(conflict_advice)
        } else {
            client_side(rest, &r, &doc, ns.as_deref(), dry, validate, true).await
        };
        match res {
            Ok((action, obj)) => {
                if let Some(uid) = obj["metadata"]["uid"].as_str() {
                    visited.uids.insert(uid.to_string());
                }
                match &output {
                    Some(o) => print!("{}", print_object(o, &r, &obj)),
                    None => println!("{}/{} {action}{}", r.kind_prefix(), doc.name, dry.suffix()),
                }
            }
            Err(e) => errors.push(e),
        }
    }
    // Upstream prunes only when everything applied.
    if !errors.is_empty() || !a.prune {
        return Ok(crate::error::report(errors));
    }
    let kinds = if prune_kinds.is_empty() {
        prune::default_allowlist(&resolver)?
    } else {
        prune_kinds
    };
    let pruner = prune::Pruner {
        rest,
        selector: &selector,
        dry,
        output: output.as_ref(),
    };
    pruner.prune_all(&kinds, &visited).await?;
    Ok(0)
}

/// Client-side apply of one object: created, or patched with the
/// three-way merge of its last-applied configuration, the manifest and the
/// live object. `annotate`: record the manifest as the new last-applied
/// configuration (`kubectl diff` does not, so its view of the result keeps
/// the old one, as upstream's).
pub(crate) async fn client_side(
    rest: &Rest,
    r: &Resource,
    doc: &Doc,
    ns: Option<&str>,
    dry: DryRun,
    validate: &str,
    annotate: bool,
) -> Result<(&'static str, Value)> {
    let modified = if annotate {
        with_last_applied(&doc.object)
    } else {
        without_last_applied(&doc.object)
    };
    let path = r.object_path(ns, &doc.name);
    let ctx = |verb: &str| format!("error when {verb} \"{}\"", doc.source);
    let current = match rest.get(&path).await {
        Ok(c) => Some(c),
        Err(e) if e.is_not_found() => None,
        Err(e) => return Err(e.with_context(format!("error when retrieving current configuration of:\nResource: \"{}\", GroupVersionKind: \"{}, Kind={}\"\nName: \"{}\", Namespace: \"{}\"\nfrom server for: \"{}\"", r.group_resource(), r.api_version(), r.kind, doc.name, ns.unwrap_or(""), doc.source))),
    };
    let validation = Some(format!("fieldValidation={validate}"));
    match current {
        None => {
            if dry == DryRun::Client {
                return Ok(("created", modified));
            }
            let url = format!(
                "{}{}",
                r.path(ns),
                join_query(&[
                    dry.query().map(String::from),
                    Some("fieldManager=kubectl-client-side-apply".into()),
                    validation
                ])
            );
            let obj = rest
                .call(
                    Method::POST,
                    &url,
                    Some("application/json"),
                    Some(serde_json::to_vec(&modified)?),
                )
                .await
                .map_err(|e| e.with_context(ctx("creating")))?;
            Ok(("created", obj))
        }
        // Upstream computes no patch in a client dry run: whatever the
        // live object holds, it says "configured" (of the live object,
        // which it fetched, so a prune keeps it).
        Some(current) if dry == DryRun::Client => Ok(("configured", current)),
        Some(current) => {
            if current["metadata"]["annotations"][LAST_APPLIED].is_null() {
                eprintln!("Warning: resource {}/{} is missing the {LAST_APPLIED} annotation which is required by kubectl apply. kubectl apply should only be used on resources created declaratively by either kubectl create --save-config or kubectl apply. The missing annotation will be patched automatically.", r.group_resource(), doc.name);
            }
            let original: Value = current["metadata"]["annotations"][LAST_APPLIED]
                .as_str()
                .and_then(|s| serde_json::from_str(s).ok())
                .unwrap_or(Value::Null);
            let patch = three_way(&original, &modified, &current);
            if patch.is_empty() {
                return Ok(("unchanged", current));
            }
            let url = format!(
                "{path}{}",
                join_query(&[
                    dry.query().map(String::from),
                    Some("fieldManager=kubectl-client-side-apply".into()),
                    validation
                ])
            );
            let obj = rest
                .call(
                    Method::PATCH,
                    &url,
                    Some("application/merge-patch+json"),
                    Some(serde_json::to_vec(&Value::Object(patch))?),
                )
                .await
                .map_err(|e| e.with_context(format!("error when applying patch:\n\nto:\nResource: \"{}\", GroupVersionKind: \"{}, Kind={}\"\nName: \"{}\", Namespace: \"{}\"\nfor: \"{}\"", r.group_resource(), r.api_version(), r.kind, doc.name, ns.unwrap_or(""), doc.source)))?;
            Ok(("configured", obj))
        }
    }
}

pub(crate) async fn server_side(
    rest: &Rest,
    r: &Resource,
    doc: &Doc,
    ns: Option<&str>,
    dry: DryRun,
    a: &ApplyArgs,
    validate: &str,
) -> Result<(&'static str, Value)> {
    if dry == DryRun::Client {
        return Err(Error::usage("--dry-run=client doesn't work with --server-side (did you mean --dry-run=server instead?)"));
    }
    let manager = if a.files.field_manager == "kubectl-client-side-apply" {
        "kubectl".to_string()
    } else {
        a.files.field_manager.clone()
    };
    let url = format!(
        "{}{}",
        r.object_path(ns, &doc.name),
        join_query(&[
            dry.query().map(String::from),
            Some(format!("fieldManager={}", q(&manager))),
            a.force_conflicts.then(|| "force=true".to_string()),
            Some(format!("fieldValidation={validate}")),
        ])
    );
    let obj = rest
        .call(
            Method::PATCH,
            &url,
            Some("application/apply-patch+yaml"),
            Some(serde_json::to_vec(&doc.object)?),
        )
        .await?;
    Ok(("serverside-applied", obj))
}

/// A server-side apply conflict printed with upstream's advice on resolving it.
fn conflict_advice(e: Error) -> Error {
    match &e {
        Error::Api {
            code: 409, status, ..
        } => {
            let msg = status["message"].as_str().unwrap_or("");
            Error::Raw(format!("{msg}\n{SSA_CONFLICT_ADVICE}"))
        }
        _ => e,
    }
}

/// The advice upstream appends to an apply conflict (users and scripts match on it).
const SSA_CONFLICT_ADVICE: &str =
    "Please review the fields above--they currently have other managers. Here
are the ways you can resolve this warning:
* If you intend to manage all of these fields, please re-run the apply
  command with the `--force-conflicts` flag.
* If you do not intend to manage all of the fields, please edit your
  manifest to remove references to the fields that should keep their
  current managers.
* You may co-own fields by updating your manifest to match the existing
  value; in this case, you'll become the manager if the other manager(s)
  stop managing the field (remove it from their configuration).
See https://kubernetes.io/docs/reference/using-api/server-side-apply/#conflicts";

/// Runs `kubectl replace -f`.
pub async fn replace(rest: &Rest, a: FileArgs) -> Result<i32> {
    let dry = DryRun::parse(a.dry_run.as_deref())?;
    let validate = validation(a.validate.as_deref())?;
    if a.filename.is_empty() {
        return Err(Error::usage("must specify --filename to replace"));
    }
    let docs = manifest::read(&a.filename, a.recursive)?;
    let output = match a.output.as_deref() {
        None => None,
        o => Some(Output::parse(o)?),
    };
    let mut resolver = Resolver::new(rest).await?;
    let mut errors = Vec::new();
    for mut doc in docs {
        let r = resolver.for_kind(&doc.api_version, &doc.kind).await?;
        let ns = place(rest, &r, &mut doc)?;
        let res = if dry == DryRun::Client {
            Ok(doc.object.clone())
        } else {
            let url = format!(
                "{}{}",
                r.object_path(ns.as_deref(), &doc.name),
                join_query(&[
                    dry.query().map(String::from),
                    Some(format!("fieldValidation={validate}"))
                ])
            );
            rest.call(
                Method::PUT,
                &url,
                Some("application/json"),
                Some(serde_json::to_vec(&doc.object)?),
            )
            .await
            .map_err(|e| e.with_context(format!("error when replacing \"{}\"", doc.source)))
        };
        match res {
            Ok(obj) => match &output {
                Some(o) => print!("{}", print_object(o, &r, &obj)),
                None => println!("{}/{} replaced{}", r.kind_prefix(), doc.name, dry.suffix()),
            },
            Err(e) => errors.push(e),
        }
    }
    Ok(crate::error::report(errors))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_applied_is_upstreams_shape() {
        let obj = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "namespace": "default"}, "data": {"k": "<v>"}});
        let out = with_last_applied(&obj);
        assert_eq!(
            out["metadata"]["annotations"][LAST_APPLIED],
            "{\"apiVersion\":\"v1\",\"data\":{\"k\":\"\\u003cv\\u003e\"},\"kind\":\"ConfigMap\",\"metadata\":{\"annotations\":{},\"name\":\"a\",\"namespace\":\"default\"}}\n"
        );
    }

    #[test]
    fn three_way_deletes_sets_and_leaves_others() {
        let original = json!({"data": {"a": "1", "b": "2"}, "list": [1]});
        let modified = json!({"data": {"a": "1", "c": "3"}, "list": [1]});
        let current = json!({"data": {"a": "1", "b": "2", "x": "by-someone-else"}, "list": [1, 9]});
        let p = three_way(&original, &modified, &current);
        assert_eq!(Value::Object(p), json!({"data": {"b": null, "c": "3"}}));
        assert!(three_way(&modified, &modified, &modified).is_empty());
    }
}
