//! The three patch formats of the Kubernetes API.
//!
//! A PATCH request names its format in `Content-Type`:
//!
//! - `application/json-patch+json` ([`apply_json_patch`], RFC 6902): a list of
//!   operations (`add`, `remove`, `replace`, `move`, `copy`, `test`) on JSON
//!   pointers. Precise, and the only one that can say "only if this value is
//!   still X" (`test`), which `kubectl rollout undo` uses.
//! - `application/merge-patch+json` ([`apply_merge_patch`], RFC 7386): a
//!   partial object; maps merge, `null` deletes, lists are replaced whole.
//! - `application/strategic-merge-patch+json` ([`apply_strategic_merge_patch`]):
//!   what `kubectl apply` sends for built-in kinds. Like a merge patch, but a
//!   list such as `containers` is merged element by element, matched by its
//!   *merge key* (`name`), so applying a manifest with one more container adds
//!   it instead of replacing the list. Directives in the patch say the rest:
//!   `$patch: replace|delete|merge`, `$setElementOrder/<list>` (the order the
//!   list must end up in), `$retainKeys` (drop every other key of this map),
//!   `$deleteFromPrimitiveList/<list>`. The merge keys come from [`schema`].
//! - `application/apply-patch+yaml` is server-side apply: parsed here,
//!   applied by the apiserver's field manager.

pub mod schema;

use serde_json::{Map, Value};

pub use schema::{list_strategy, ListStrategy};

/// Why a patch could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The patch document is malformed.
    #[error("invalid patch: {0}")]
    InvalidPatch(String),
    /// A JSON pointer names something that does not exist.
    #[error("path {path:?} does not exist in the object")]
    PathNotFound {
        /// The pointer.
        path: String,
    },
    /// A json-patch `test` operation failed.
    #[error("test operation at {path:?} failed: the value is not the expected one")]
    TestFailed {
        /// The pointer that was tested.
        path: String,
    },
}

/// The patch formats, by content type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    /// RFC 6902 JSON patch.
    Json,
    /// RFC 7386 merge patch.
    Merge,
    /// Kubernetes strategic merge patch.
    Strategic,
    /// Server-side apply.
    Apply,
}

impl PatchType {
    /// The patch type of a media type (without parameters).
    pub fn from_content_type(ct: &str) -> Option<PatchType> {
        match ct {
            "application/json-patch+json" => Some(PatchType::Json),
            "application/merge-patch+json" => Some(PatchType::Merge),
            "application/strategic-merge-patch+json" => Some(PatchType::Strategic),
            "application/apply-patch+yaml" | "application/apply-patch+json" => {
                Some(PatchType::Apply)
            }
            _ => None,
        }
    }
}

/// RFC 7386: maps merge recursively, `null` deletes, anything else replaces.
pub fn apply_merge_patch(doc: &Value, patch: &Value) -> Value {
    match patch {
        Value::Object(p) => {
            let mut out = match doc {
                Value::Object(d) => d.clone(),
                _ => Map::new(),
            };
            for (k, v) in p {
                if v.is_null() {
                    out.remove(k);
                } else {
                    let merged = apply_merge_patch(out.get(k).unwrap_or(&Value::Null), v);
                    out.insert(k.clone(), merged);
                }
            }
            Value::Object(out)
        }
        other => other.clone(),
    }
}

fn unescape(token: &str) -> String {
    token.replace("~1", "/").replace("~0", "~")
}

fn parse_pointer(path: &str) -> Result<Vec<String>, Error> {
    if path.is_empty() {
        return Ok(Vec::new());
    }
    let rest = path
        .strip_prefix('/')
        .ok_or_else(|| Error::InvalidPatch(format!("path {path:?} must start with /")))?;
    Ok(rest.split('/').map(unescape).collect())
}

fn array_index(token: &str, len: usize, allow_end: bool) -> Option<usize> {
    if allow_end && token == "-" {
        return Some(len);
    }
    if token.starts_with('+') || (token.len() > 1 && token.starts_with('0')) {
        return None;
    }
    let i: usize = token.parse().ok()?;
    let max = if allow_end {
        len
    } else {
        len.saturating_sub(1)
    };
    if (allow_end && i <= len) || (!allow_end && len > 0 && i <= max) {
        Some(i)
    } else {
        None
    }
}

fn get_mut<'a>(doc: &'a mut Value, tokens: &[String], path: &str) -> Result<&'a mut Value, Error> {
    let mut cur = doc;
    for t in tokens {
        cur = match cur {
            Value::Object(m) => m.get_mut(t),
            Value::Array(a) => {
                let len = a.len();
                array_index(t, len, false).and_then(move |i| a.get_mut(i))
            }
            _ => None,
        }
        .ok_or_else(|| Error::PathNotFound { path: path.into() })?;
    }
    Ok(cur)
}

fn add(doc: &mut Value, path: &str, value: Value) -> Result<(), Error> {
    let tokens = parse_pointer(path)?;
    let Some((last, parents)) = tokens.split_last() else {
        *doc = value;
        return Ok(());
    };
    match get_mut(doc, parents, path)? {
        Value::Object(m) => {
            m.insert(last.clone(), value);
            Ok(())
        }
        Value::Array(a) => {
            let i = array_index(last, a.len(), true)
                .ok_or_else(|| Error::PathNotFound { path: path.into() })?;
            a.insert(i, value);
            Ok(())
        }
        _ => Err(Error::PathNotFound { path: path.into() }),
    }
}

fn remove(doc: &mut Value, path: &str) -> Result<Value, Error> {
    let tokens = parse_pointer(path)?;
    let Some((last, parents)) = tokens.split_last() else {
        return Err(Error::InvalidPatch(
            "cannot remove the whole document".into(),
        ));
    };
    match get_mut(doc, parents, path)? {
        Value::Object(m) => m
            .remove(last)
            .ok_or_else(|| Error::PathNotFound { path: path.into() }),
        Value::Array(a) => {
            let i = array_index(last, a.len(), false)
                .ok_or_else(|| Error::PathNotFound { path: path.into() })?;
            Ok(a.remove(i))
        }
        _ => Err(Error::PathNotFound { path: path.into() }),
    }
}

/// RFC 6902: applies the operations in order; any failure leaves `doc`
/// untouched (the result is only returned when all succeed).
pub fn apply_json_patch(doc: &Value, patch: &Value) -> Result<Value, Error> {
    let ops = patch
        .as_array()
        .ok_or_else(|| Error::InvalidPatch("a JSON patch must be an array of operations".into()))?;
    let mut out = doc.clone();
    for (n, op) in ops.iter().enumerate() {
        let field = |name: &str| -> Result<&str, Error> {
            op.get(name)
                .and_then(Value::as_str)
                .ok_or_else(|| Error::InvalidPatch(format!("operation {n} has no string {name:?}")))
        };
        let value = || -> Result<Value, Error> {
            op.get("value")
                .cloned()
                .ok_or_else(|| Error::InvalidPatch(format!("operation {n} has no \"value\"")))
        };
        let path = field("path")?;
        match field("op")? {
            "add" => add(&mut out, path, value()?)?,
            "remove" => {
                remove(&mut out, path)?;
            }
            "replace" => {
                let v = value()?;
                let tokens = parse_pointer(path)?;
                *get_mut(&mut out, &tokens, path)? = v;
            }
            "move" => {
                let from = field("from")?;
                if path.starts_with(&format!("{from}/")) {
                    return Err(Error::InvalidPatch(format!(
                        "cannot move {from:?} into its own child {path:?}"
                    )));
                }
                let v = remove(&mut out, from)?;
                add(&mut out, path, v)?;
            }
            "copy" => {
                let from = field("from")?;
                let tokens = parse_pointer(from)?;
                let v = get_mut(&mut out, &tokens, from)?.clone();
                add(&mut out, path, v)?;
            }
            "test" => {
                let want = value()?;
                let tokens = parse_pointer(path)?;
                let have = get_mut(&mut out, &tokens, path)
                    .map_err(|_| Error::TestFailed { path: path.into() })?;
                if *have != want {
                    return Err(Error::TestFailed { path: path.into() });
                }
            }
            other => {
                return Err(Error::InvalidPatch(format!(
                    "operation {n}: unknown op {other:?}"
                )))
            }
        }
    }
    Ok(out)
}

const SET_ORDER: &str = "$setElementOrder/";
const DELETE_FROM_PRIMITIVE: &str = "$deleteFromPrimitiveList/";

/// Strategic merge patch of a built-in kind (unknown kinds behave like a
/// merge patch whose lists are replaced).
pub fn apply_strategic_merge_patch(
    doc: &Value,
    patch: &Value,
    api_version: &str,
    kind: &str,
) -> Result<Value, Error> {
    if !patch.is_object() {
        return Err(Error::InvalidPatch(
            "a strategic merge patch must be a JSON object".into(),
        ));
    }
    let known = schema::is_known_kind(api_version, kind);
    merge_map(doc, patch, &mut Vec::new(), known)
}

fn merge_map(
    doc: &Value,
    patch: &Value,
    path: &mut Vec<String>,
    known: bool,
) -> Result<Value, Error> {
    let Value::Object(p) = patch else {
        return Ok(patch.clone());
    };
    let mut out = match doc {
        Value::Object(d) => d.clone(),
        _ => Map::new(),
    };
    match p.get("$patch").and_then(Value::as_str) {
        Some("replace") => {
            let mut replaced = p.clone();
            replaced.remove("$patch");
            return Ok(strip_directives(&Value::Object(replaced)));
        }
        Some("delete") => return Ok(Value::Null),
        Some("merge") | None => {}
        Some(other) => {
            return Err(Error::InvalidPatch(format!(
                "unknown $patch directive {other:?}"
            )))
        }
    }
    if let Some(retain) = p.get("$retainKeys") {
        let keys: Vec<&str> = retain
            .as_array()
            .ok_or_else(|| Error::InvalidPatch("$retainKeys must be a list".into()))?
            .iter()
            .filter_map(Value::as_str)
            .collect();
        out.retain(|k, _| keys.contains(&k.as_str()));
    }
    for (k, v) in p {
        if k == "$patch" || k == "$retainKeys" || k.starts_with(SET_ORDER) {
            continue;
        }
        if let Some(list) = k.strip_prefix(DELETE_FROM_PRIMITIVE) {
            let remove: Vec<Value> = v
                .as_array()
                .ok_or_else(|| Error::InvalidPatch(format!("{k} must be a list")))?
                .clone();
            if let Some(Value::Array(items)) = out.get_mut(list) {
                items.retain(|i| !remove.contains(i));
            }
            continue;
        }
        if v.is_null() {
            out.remove(k);
            continue;
        }
        path.push(k.clone());
        let merged = match (out.get(k), v) {
            (Some(existing @ Value::Object(_)), Value::Object(_)) => {
                merge_map(existing, v, path, known)?
            }
            (existing, Value::Array(items)) => {
                let order = p.get(&format!("{SET_ORDER}{k}"));
                merge_list(existing, items, order, path, known)?
            }
            (_, Value::Object(_)) => merge_map(&Value::Null, v, path, known)?,
            _ => v.clone(),
        };
        path.pop();
        if merged.is_null() {
            out.remove(k);
        } else {
            out.insert(k.clone(), merged);
        }
    }
    // A `$setElementOrder` for a list the patch does not touch reorders it.
    for (k, order) in p {
        if let Some(list) = k.strip_prefix(SET_ORDER) {
            if p.contains_key(list) {
                continue;
            }
            path.push(list.to_string());
            if let Some(existing) = out.get(list).cloned() {
                let reordered = merge_list(Some(&existing), &[], Some(order), path, known)?;
                out.insert(list.to_string(), reordered);
            }
            path.pop();
        }
    }
    Ok(Value::Object(out))
}

fn strip_directives(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !k.starts_with('$'))
                .map(|(k, v)| (k.clone(), strip_directives(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(strip_directives).collect()),
        other => other.clone(),
    }
}

fn key_matches(item: &Value, probe: &Value, keys: &[&str]) -> bool {
    keys.iter()
        .any(|k| item.get(*k).is_some() && item.get(*k) == probe.get(*k))
        && keys
            .iter()
            .all(|k| probe.get(*k).is_none() || item.get(*k) == probe.get(*k))
}

fn merge_list(
    existing: Option<&Value>,
    patch_items: &[Value],
    order: Option<&Value>,
    path: &mut Vec<String>,
    known: bool,
) -> Result<Value, Error> {
    let current: Vec<Value> = existing
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let names: Vec<&str> = path.iter().map(String::as_str).collect();
    let strategy = if known {
        schema::list_strategy(&names)
    } else {
        ListStrategy::Replace
    };
    let mut result = match strategy {
        ListStrategy::Replace => {
            // A `$patch: replace` marker element is harmless here.
            return Ok(Value::Array(
                patch_items
                    .iter()
                    .filter(|i| i.get("$patch").is_none())
                    .map(strip_directives)
                    .collect(),
            ));
        }
        ListStrategy::MergePrimitive => {
            let mut out = current;
            for item in patch_items {
                if !out.contains(item) {
                    out.push(item.clone());
                }
            }
            out
        }
        ListStrategy::MergeByKey(keys) => {
            if patch_items
                .iter()
                .any(|i| i.get("$patch").and_then(Value::as_str) == Some("replace"))
            {
                return Ok(Value::Array(
                    patch_items
                        .iter()
                        .filter(|i| i.get("$patch").is_none())
                        .map(strip_directives)
                        .collect(),
                ));
            }
            let mut out = current.clone();
            for item in patch_items {
                if !item.is_object() {
                    return Err(Error::InvalidPatch(format!(
                        "list {} is merged by {keys:?}: its items must be objects",
                        path.join(".")
                    )));
                }
                let directive = item.get("$patch").and_then(Value::as_str);
                let pos = out.iter().position(|e| key_matches(e, item, keys));
                match (directive, pos) {
                    (Some("delete"), Some(i)) => {
                        out.remove(i);
                    }
                    (Some("delete"), None) => {}
                    (_, Some(i)) => {
                        let merged = merge_map(&out[i], item, path, known)?;
                        out[i] = merged;
                    }
                    (_, None) => out.push(merge_map(&Value::Null, item, path, known)?),
                }
            }
            server_order(&current, out, patch_items, keys)
        }
    };
    if let Some(order) = order.and_then(Value::as_array) {
        result = reorder(result, order, &strategy);
    }
    Ok(Value::Array(result))
}

/// Upstream's order for a merged keyed list: the patch's items in the
/// patch's order, with the items only the server had slotted back in where
/// they stood. An item only the server had goes before a patch item only
/// when both were in the list before and it came first; so a new item the
/// patch adds ahead of the others stays ahead of them (a patch naming one
/// new container puts it first, as upstream's `normalizeElementOrder`).
fn server_order(
    before: &[Value],
    merged: Vec<Value>,
    patch_items: &[Value],
    keys: &[&str],
) -> Vec<Value> {
    let mut from_patch: Vec<Value> = Vec::new();
    let mut rest = merged;
    for item in patch_items {
        if item.get("$patch").and_then(Value::as_str) == Some("delete") {
            continue;
        }
        if let Some(i) = rest.iter().position(|e| key_matches(e, item, keys)) {
            from_patch.push(rest.remove(i));
        }
    }
    let server_only = rest;
    let index = |e: &Value| before.iter().position(|o| key_matches(o, e, keys));
    let mut out = Vec::with_capacity(server_only.len() + from_patch.len());
    let (mut left, mut right) = (
        server_only.into_iter().peekable(),
        from_patch.into_iter().peekable(),
    );
    loop {
        let take_left = match (left.peek(), right.peek()) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(l), Some(r)) => matches!((index(l), index(r)), (Some(li), Some(ri)) if li < ri),
        };
        let next = if take_left { left.next() } else { right.next() };
        out.extend(next);
    }
    out
}

/// Puts the elements named in `order` first, in that order, keeping the
/// others (server-side additions) after them in their current order.
fn reorder(items: Vec<Value>, order: &[Value], strategy: &ListStrategy) -> Vec<Value> {
    let mut rest = items;
    let mut out = Vec::with_capacity(rest.len());
    for probe in order {
        let pos = match strategy {
            ListStrategy::MergeByKey(keys) => rest.iter().position(|e| key_matches(e, probe, keys)),
            _ => rest.iter().position(|e| e == probe),
        };
        if let Some(i) = pos {
            out.push(rest.remove(i));
        }
    }
    out.extend(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_rfc7386() {
        let doc = json!({"a": "b", "c": {"d": "e", "f": "g"}, "l": [1, 2]});
        let patch = json!({"a": "z", "c": {"f": null}, "l": [3]});
        assert_eq!(
            apply_merge_patch(&doc, &patch),
            json!({"a": "z", "c": {"d": "e"}, "l": [3]})
        );
    }

    #[test]
    fn json_patch_operations() {
        let doc = json!({"spec": {"replicas": 1, "list": ["a", "b"]}, "m": {"a~b": 1}});
        let patch = json!([
            {"op": "test", "path": "/spec/replicas", "value": 1},
            {"op": "replace", "path": "/spec/replicas", "value": 3},
            {"op": "add", "path": "/spec/list/-", "value": "c"},
            {"op": "remove", "path": "/spec/list/0"},
            {"op": "copy", "from": "/spec/replicas", "path": "/copied"},
            {"op": "move", "from": "/m/a~0b", "path": "/moved"}
        ]);
        let out = apply_json_patch(&doc, &patch).unwrap_or_default();
        assert_eq!(out["spec"]["replicas"], 3);
        assert_eq!(out["spec"]["list"], json!(["b", "c"]));
        assert_eq!(out["copied"], 3);
        assert_eq!(out["moved"], 1);
        let failing = json!([{"op": "test", "path": "/spec/replicas", "value": 2}]);
        assert!(matches!(
            apply_json_patch(&doc, &failing),
            Err(Error::TestFailed { .. })
        ));
        for bad in [
            json!({}),
            json!([{"op": "nope", "path": "/a"}]),
            json!([{"op": "remove", "path": "/missing"}]),
            json!([{"op": "add", "path": "no-slash", "value": 1}]),
            json!([{"op": "add", "path": "/spec/list/9", "value": 1}]),
            json!([1, 2]),
        ] {
            assert!(apply_json_patch(&doc, &bad).is_err(), "{bad}");
        }
    }

    fn deployment() -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"app": "web", "tier": "fe"}, "finalizers": ["a", "b"]},
        "spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%"}},
            "template": {"spec": {"containers": [
                {"name": "web", "image": "nginx:1", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                 "ports": [{"containerPort": 80, "protocol": "TCP"}]}
            ]}}}})
    }

    #[test]
    fn kubectl_apply_shaped_patch() {
        // Manifest changed: a sidecar added, env B removed, port 80 -> 8080,
        // label `tier` removed: the patch kubectl computes for that.
        let patch = json!({
            "metadata": {"labels": {"tier": null}},
            "spec": {"template": {"spec": {
                "$setElementOrder/containers": [{"name": "web"}, {"name": "sidecar"}],
                "containers": [
                    {"name": "web",
                     "$setElementOrder/env": [{"name": "A"}],
                     "$setElementOrder/ports": [{"containerPort": 8080}],
                     "env": [{"name": "B", "$patch": "delete"}],
                     "ports": [{"containerPort": 8080, "protocol": "TCP"}, {"containerPort": 80, "$patch": "delete"}]},
                    {"name": "sidecar", "image": "busybox"}
                ]}}}
        });
        let out = apply_strategic_merge_patch(&deployment(), &patch, "apps/v1", "Deployment")
            .unwrap_or_default();
        let c = &out["spec"]["template"]["spec"]["containers"];
        assert_eq!(c[0]["name"], "web");
        assert_eq!(c[1]["name"], "sidecar");
        assert_eq!(c[0]["env"], json!([{"name": "A", "value": "1"}]));
        assert_eq!(
            c[0]["ports"],
            json!([{"containerPort": 8080, "protocol": "TCP"}])
        );
        assert_eq!(c[0]["image"], "nginx:1");
        assert_eq!(out["metadata"]["labels"], json!({"app": "web"}));
        assert!(!out.to_string().contains('$'));
    }

    #[test]
    fn keyed_lists_keep_upstreams_order() {
        let doc = json!({"spec": {"containers": [{"name": "webserver", "image": "a"}]}});
        let patch = json!({"spec": {"containers": [{"name": "test-ss", "image": "p"}]}});
        let out = apply_strategic_merge_patch(&doc, &patch, "v1", "Pod").expect("patch");
        let names: Vec<&str> = out["spec"]["containers"]
            .as_array()
            .expect("list")
            .iter()
            .filter_map(|c| c["name"].as_str())
            .collect();
        assert_eq!(
            names,
            ["test-ss", "webserver"],
            "a new item the patch names comes first"
        );

        let doc = json!({"spec": {"containers": [{"name": "a"}, {"name": "b"}, {"name": "c"}]}});
        let patch = json!({"spec": {"containers": [{"name": "c", "image": "x"}, {"name": "d"}]}});
        let out = apply_strategic_merge_patch(&doc, &patch, "v1", "Pod").expect("patch");
        let names: Vec<&str> = out["spec"]["containers"]
            .as_array()
            .expect("list")
            .iter()
            .filter_map(|c| c["name"].as_str())
            .collect();
        assert_eq!(names, ["a", "b", "c", "d"]);
    }

    #[test]
    fn directives() {
        let d = deployment();
        let retain = json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}});
        let out =
            apply_strategic_merge_patch(&d, &retain, "apps/v1", "Deployment").unwrap_or_default();
        assert_eq!(out["spec"]["strategy"], json!({"type": "Recreate"}));

        let del = json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}});
        let out =
            apply_strategic_merge_patch(&d, &del, "apps/v1", "Deployment").unwrap_or_default();
        assert_eq!(out["metadata"]["finalizers"], json!(["b"]));

        let replace = json!({"metadata": {"labels": {"$patch": "replace", "only": "this"}}});
        let out =
            apply_strategic_merge_patch(&d, &replace, "apps/v1", "Deployment").unwrap_or_default();
        assert_eq!(out["metadata"]["labels"], json!({"only": "this"}));

        let add_finalizer = json!({"metadata": {"finalizers": ["c"]}});
        let out = apply_strategic_merge_patch(&d, &add_finalizer, "apps/v1", "Deployment")
            .unwrap_or_default();
        assert_eq!(out["metadata"]["finalizers"], json!(["a", "b", "c"]));

        // Unknown kinds: lists are replaced.
        let out = apply_strategic_merge_patch(&d, &add_finalizer, "example.com/v1", "Widget")
            .unwrap_or_default();
        assert_eq!(out["metadata"]["finalizers"], json!(["c"]));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let d = deployment();
        for bad in [
            json!([1]),
            json!(3),
            json!({"spec": {"strategy": {"$retainKeys": "type"}}}),
            json!({"metadata": {"$deleteFromPrimitiveList/finalizers": "a"}}),
            json!({"spec": {"template": {"spec": {"containers": [1, 2]}}}}),
            json!({"spec": {"$patch": "explode"}}),
        ] {
            assert!(
                apply_strategic_merge_patch(&d, &bad, "apps/v1", "Deployment").is_err(),
                "{bad}"
            );
        }
    }
}
