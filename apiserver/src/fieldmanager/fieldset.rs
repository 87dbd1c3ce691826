//! Field sets: which fields of an object someone has set, in the `FieldsV1`
//! form that `metadata.managedFields` stores.
//!
//! ```json
//! {"f:spec": {"f:replicas": {},
//!             "f:template": {"f:spec": {"f:containers": {
//!                 "k:{\"name\":\"web\"}": {".": {}, "f:image": {}}}}}}}
//! ```
//!
//! - `f:<name>`: a field of a map;
//! - `k:<json>`: an element of a list keyed by merge key (containers by
//!   `name`, ports by `containerPort`, ...), `"."` inside it meaning the element
//!   itself;
//! - `v:<json>`: an element of a list that is a set of values (finalizers);
//! - an empty map `{}` is a leaf: that field, as a whole.
//!
//! Lists without a key (command, args, tolerations) are atomic: owned as one leaf.

use std::collections::BTreeMap;

use apimachinery::patch::list_strategy;
use serde_json::{Map, Value};

/// One step of a path through an object.
pub type PathElement = String;
/// A path from the root to a leaf, as FieldsV1 keys.
pub type Path = Vec<PathElement>;

/// How a list is merged and owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListKind {
    /// Elements identified by these key fields.
    Map(&'static [&'static str]),
    /// Elements are distinct scalar values.
    Set,
    /// The list is replaced and owned as a whole.
    Atomic,
}

/// The list kind of the list at `path` (the names of the fields leading to
/// it). Field ownership identifies list elements by the same keys strategic
/// merge uses ([`apimachinery::patch::list_strategy`]), except where upstream's
/// list-map keys are wider than its merge keys (a port is a port *and* a
/// protocol).
pub fn list_kind(path: &[&str]) -> ListKind {
    use apimachinery::patch::ListStrategy;
    match list_strategy(path) {
        ListStrategy::MergeByKey(&["containerPort"]) => {
            ListKind::Map(&["containerPort", "protocol"])
        }
        ListStrategy::MergeByKey(&["port"]) => ListKind::Map(&["port", "protocol"]),
        ListStrategy::MergeByKey(&["topologyKey"]) => {
            ListKind::Map(&["topologyKey", "whenUnsatisfiable"])
        }
        ListStrategy::MergeByKey(&["key"]) => ListKind::Map(&["key", "effect"]),
        ListStrategy::MergeByKey(keys) => ListKind::Map(keys),
        ListStrategy::MergePrimitive => ListKind::Set,
        ListStrategy::Replace => ListKind::Atomic,
    }
}

/// A set of paths, stored as the FieldsV1 tree itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSet(pub BTreeMap<String, FieldSet>);

impl FieldSet {
    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Parses a FieldsV1 JSON object (anything else is an empty set).
    pub fn from_fields_v1(v: &Value) -> FieldSet {
        let mut out = FieldSet::default();
        if let Some(map) = v.as_object() {
            for (k, child) in map {
                out.0.insert(k.clone(), FieldSet::from_fields_v1(child));
            }
        }
        out
    }

    /// The FieldsV1 JSON form.
    pub fn to_fields_v1(&self) -> Value {
        let mut map = Map::new();
        for (k, child) in &self.0 {
            map.insert(k.clone(), child.to_fields_v1());
        }
        Value::Object(map)
    }

    /// Every leaf path (a path whose last element has no children, or `.`).
    pub fn leaves(&self) -> Vec<Path> {
        let mut out = Vec::new();
        self.collect(&mut Vec::new(), &mut out);
        out
    }

    fn collect(&self, prefix: &mut Path, out: &mut Vec<Path>) {
        for (k, child) in &self.0 {
            prefix.push(k.clone());
            if child.is_empty() {
                out.push(prefix.clone());
            } else {
                child.collect(prefix, out);
            }
            prefix.pop();
        }
    }

    /// Adds a path.
    pub fn insert(&mut self, path: &[PathElement]) {
        let mut node = self;
        for p in path {
            node = node.0.entry(p.clone()).or_default();
        }
    }

    /// Whether the set has exactly this leaf.
    pub fn contains(&self, path: &[PathElement]) -> bool {
        let mut node = self;
        for p in path {
            match node.0.get(p) {
                Some(n) => node = n,
                None => return false,
            }
        }
        node.is_empty()
    }

    /// Whether any path of the set starts with `prefix`.
    pub fn has_prefix(&self, prefix: &[PathElement]) -> bool {
        let mut node = self;
        for p in prefix {
            match node.0.get(p) {
                Some(n) => node = n,
                None => return false,
            }
        }
        true
    }

    /// Removes a leaf and prunes parents left empty.
    pub fn remove(&mut self, path: &[PathElement]) {
        fn go(node: &mut FieldSet, path: &[PathElement]) -> bool {
            let Some((first, rest)) = path.split_first() else {
                return false;
            };
            let remove_here = match node.0.get_mut(first) {
                None => return false,
                Some(child) if rest.is_empty() => {
                    child.0.clear();
                    true
                }
                Some(child) => go(child, rest) && child.is_empty(),
            };
            if remove_here {
                node.0.remove(first);
            }
            remove_here || node.is_empty()
        }
        go(self, path);
    }

    /// The fields set in `obj`.
    pub fn of(obj: &Value) -> FieldSet {
        let mut set = FieldSet::default();
        walk(obj, &mut Vec::new(), &mut set);
        set
    }
}

fn walk(v: &Value, names: &mut Vec<String>, out: &mut FieldSet) {
    let Some(map) = v.as_object() else { return };
    for (k, child) in map {
        let key = format!("f:{k}");
        names.push(k.clone());
        let mut sub = FieldSet::default();
        match child {
            Value::Object(m) if !m.is_empty() => walk(child, names, &mut sub),
            Value::Array(items) => {
                let refs: Vec<&str> = names.iter().map(String::as_str).collect();
                match list_kind(&refs) {
                    ListKind::Map(keys) => {
                        for item in items {
                            let Some(key) = item_key(item, keys) else {
                                continue;
                            };
                            let mut item_set = FieldSet::default();
                            item_set.0.insert(".".into(), FieldSet::default());
                            walk(item, names, &mut item_set);
                            sub.0.insert(key, item_set);
                        }
                    }
                    ListKind::Set => {
                        for item in items {
                            sub.0.insert(format!("v:{item}"), FieldSet::default());
                        }
                    }
                    ListKind::Atomic => {}
                }
            }
            _ => {}
        }
        out.0.insert(key, sub);
        names.pop();
    }
}

/// The `k:{...}` key of a list element: its key fields as a JSON object with
/// keys in name order.
pub fn item_key(item: &Value, keys: &[&str]) -> Option<String> {
    let mut parts = BTreeMap::new();
    for k in keys {
        match item.get(*k) {
            Some(v) => {
                parts.insert((*k).to_string(), v.clone());
            }
            // A key field with a default counts with it (upstream's schema
            // defaults the ports' `protocol`), so an applied port without a
            // protocol is the stored TCP one, not a second port.
            None if *k == "protocol" => {
                parts.insert((*k).to_string(), Value::from("TCP"));
            }
            None => {}
        }
    }
    if parts.is_empty() {
        return None;
    }
    let obj: Map<String, Value> = parts.into_iter().collect();
    Some(format!("k:{}", Value::Object(obj)))
}

/// The value at a path, if present.
pub fn value_at<'a>(root: &'a Value, path: &[PathElement]) -> Option<&'a Value> {
    let mut cur = root;
    for p in path {
        cur = step(cur, p)?;
    }
    Some(cur)
}

fn step<'a>(cur: &'a Value, p: &str) -> Option<&'a Value> {
    if p == "." {
        return Some(cur);
    }
    if let Some(name) = p.strip_prefix("f:") {
        return cur.get(name);
    }
    if let Some(key) = p.strip_prefix("k:") {
        let want: Map<String, Value> = serde_json::from_str(key).ok()?;
        return cur
            .as_array()?
            .iter()
            .find(|item| want.iter().all(|(k, v)| item.get(k) == Some(v)));
    }
    if let Some(val) = p.strip_prefix("v:") {
        let want: Value = serde_json::from_str(val).ok()?;
        return cur.as_array()?.iter().find(|item| **item == want);
    }
    None
}

/// Removes the value at a path (a map field, a keyed list element or a set
/// value); a path ending in `.` removes the list element itself.
pub fn remove_at(root: &mut Value, path: &[PathElement]) {
    let path: Vec<&str> = path
        .iter()
        .map(String::as_str)
        .filter(|p| *p != ".")
        .collect();
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut cur = root;
    for p in parents {
        let next = match step_mut(cur, p) {
            Some(n) => n,
            None => return,
        };
        cur = next;
    }
    if let Some(name) = last.strip_prefix("f:") {
        if let Some(m) = cur.as_object_mut() {
            m.remove(name);
        }
    } else if let Some(key) = last.strip_prefix("k:") {
        if let (Ok(want), Some(arr)) = (
            serde_json::from_str::<Map<String, Value>>(key),
            cur.as_array_mut(),
        ) {
            arr.retain(|item| !want.iter().all(|(k, v)| item.get(k) == Some(v)));
        }
    } else if let Some(val) = last.strip_prefix("v:") {
        if let (Ok(want), Some(arr)) = (serde_json::from_str::<Value>(val), cur.as_array_mut()) {
            arr.retain(|item| *item != want);
        }
    }
}

fn step_mut<'a>(cur: &'a mut Value, p: &str) -> Option<&'a mut Value> {
    if let Some(name) = p.strip_prefix("f:") {
        return cur.get_mut(name);
    }
    if let Some(key) = p.strip_prefix("k:") {
        let want: Map<String, Value> = serde_json::from_str(key).ok()?;
        return cur
            .as_array_mut()?
            .iter_mut()
            .find(|item| want.iter().all(|(k, v)| item.get(k) == Some(v)));
    }
    if let Some(val) = p.strip_prefix("v:") {
        let want: Value = serde_json::from_str(val).ok()?;
        return cur.as_array_mut()?.iter_mut().find(|item| **item == want);
    }
    None
}

/// `.spec.containers[name="web"].image`, as upstream prints conflict paths.
pub fn display_path(path: &[PathElement]) -> String {
    let mut out = String::new();
    for p in path {
        if p == "." {
            continue;
        }
        if let Some(name) = p.strip_prefix("f:") {
            out.push('.');
            out.push_str(name);
        } else if let Some(key) = p.strip_prefix("k:") {
            let parts: Map<String, Value> = serde_json::from_str(key).unwrap_or_default();
            let inner: Vec<String> = parts.iter().map(|(k, v)| format!("{k}={v}")).collect();
            out.push_str(&format!("[{}]", inner.join(",")));
        } else if let Some(val) = p.strip_prefix("v:") {
            out.push_str(&format!("[{val}]"));
        }
    }
    out
}

/// Structural merge of an applied configuration into a live object: maps
/// merge field by field, keyed lists element by element, everything else is
/// replaced by the configuration's value.
pub fn merge(live: &Value, config: &Value, names: &mut Vec<String>) -> Value {
    match (live, config) {
        (Value::Object(l), Value::Object(c)) => {
            let mut out = l.clone();
            for (k, cv) in c {
                names.push(k.clone());
                let merged = match l.get(k) {
                    Some(lv) => merge(lv, cv, names),
                    None => cv.clone(),
                };
                out.insert(k.clone(), merged);
                names.pop();
            }
            Value::Object(out)
        }
        (Value::Array(l), Value::Array(c)) => {
            let refs: Vec<&str> = names.iter().map(String::as_str).collect();
            match list_kind(&refs) {
                ListKind::Map(keys) => {
                    let mut out = l.clone();
                    for citem in c {
                        let ck = item_key(citem, keys);
                        match out
                            .iter_mut()
                            .find(|li| ck.is_some() && item_key(li, keys) == ck)
                        {
                            Some(li) => *li = merge(li, citem, names),
                            None => out.push(citem.clone()),
                        }
                    }
                    Value::Array(out)
                }
                ListKind::Set => {
                    let mut out = l.clone();
                    for citem in c {
                        if !out.contains(citem) {
                            out.push(citem.clone());
                        }
                    }
                    Value::Array(out)
                }
                ListKind::Atomic => config.clone(),
            }
        }
        _ => config.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fields_of_a_deployment() {
        let d = json!({"spec": {"replicas": 2, "template": {"spec": {"containers": [
            {"name": "web", "image": "nginx", "ports": [{"containerPort": 80}]}]}}}});
        let set = FieldSet::of(&d);
        let leaves: Vec<String> = set.leaves().iter().map(|p| display_path(p)).collect();
        assert!(leaves.contains(&".spec.replicas".to_string()));
        assert!(leaves.contains(&".spec.template.spec.containers[name=\"web\"].image".to_string()));
        assert!(
            leaves
                .iter()
                .any(|l| l.ends_with("ports[containerPort=80,protocol=\"TCP\"]")),
            "{leaves:?}"
        );
        let v1 = set.to_fields_v1();
        assert!(v1["f:spec"]["f:template"]["f:spec"]["f:containers"]
            .get("k:{\"name\":\"web\"}")
            .is_some());
        assert_eq!(FieldSet::from_fields_v1(&v1), set);
    }

    #[test]
    fn value_and_remove_at_paths() {
        let mut d = json!({"metadata": {"finalizers": ["a", "b"]},
            "spec": {"containers": [{"name": "x", "image": "i"}, {"name": "y", "image": "j"}]}});
        let path: Path = vec![
            "f:spec".into(),
            "f:containers".into(),
            "k:{\"name\":\"y\"}".into(),
            "f:image".into(),
        ];
        assert_eq!(value_at(&d, &path), Some(&json!("j")));
        remove_at(&mut d, &path[..3]);
        assert_eq!(d["spec"]["containers"].as_array().map(Vec::len), Some(1));
        remove_at(
            &mut d,
            &["f:metadata".into(), "f:finalizers".into(), "v:\"a\"".into()],
        );
        assert_eq!(d["metadata"]["finalizers"], json!(["b"]));
    }

    #[test]
    fn set_operations() {
        let mut s = FieldSet::default();
        let a: Path = vec!["f:a".into(), "f:b".into()];
        let c: Path = vec!["f:a".into(), "f:c".into()];
        s.insert(&a);
        s.insert(&c);
        assert!(s.contains(&a));
        s.remove(&a);
        assert!(!s.contains(&a) && s.contains(&c));
        s.remove(&c);
        assert!(s.is_empty());
    }

    #[test]
    fn merge_keyed_lists() {
        let live = json!({"spec": {"containers": [{"name": "a", "image": "1"}], "args": ["x"]}});
        let cfg = json!({"spec": {"containers": [{"name": "a", "image": "2"}, {"name": "b", "image": "3"}], "args": ["y"]}});
        let merged = merge(&live, &cfg, &mut Vec::new());
        assert_eq!(merged["spec"]["containers"][0]["image"], "2");
        assert_eq!(merged["spec"]["containers"][1]["name"], "b");
        assert_eq!(merged["spec"]["args"], json!(["y"]));
    }
}
