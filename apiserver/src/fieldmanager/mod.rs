//! Field management: who set which field (`metadata.managedFields`).
//!
//! Every write records, per *field manager* (`?fieldManager=`, or the client's
//! User-Agent), the set of fields it set. That is what makes server-side apply
//! (`kubectl apply --server-side`) safe for several writers of one object:
//!
//! - **apply** (`PATCH` with `application/apply-patch+yaml`): the applied
//!   configuration is merged into the live object; fields this manager applied
//!   last time but no longer does are removed (unless someone else also
//!   manages them); a field another manager owns *with a different value* is a
//!   **conflict** (409, naming the fields and their owners) unless `force=true`,
//!   which takes the field over.
//! - **update** (create, PUT, other patches): the manager becomes the owner of
//!   the fields whose value it changed; other managers lose them.
//!
//! A client may also write `managedFields` directly (kubectl does, to migrate
//! an object from client-side to server-side apply): that is taken as given.

pub mod fieldset;

use serde_json::{json, Value};

use fieldset::{display_path, merge, remove_at, value_at, FieldSet, Path};

/// One entry of `metadata.managedFields`.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The field manager.
    pub manager: String,
    /// `Apply` or `Update`.
    pub operation: String,
    /// The apiVersion the fields were set through.
    pub api_version: String,
    /// When.
    pub time: String,
    /// `status` for writes through `/status`.
    pub subresource: Option<String>,
    /// The fields.
    pub fields: FieldSet,
}

impl Entry {
    fn to_json(&self) -> Value {
        let mut v = json!({
            "manager": self.manager,
            "operation": self.operation,
            "apiVersion": self.api_version,
            "time": self.time,
            "fieldsType": "FieldsV1",
            "fieldsV1": self.fields.to_fields_v1(),
        });
        if let Some(s) = &self.subresource {
            v["subresource"] = json!(s);
        }
        v
    }

    fn from_json(v: &Value) -> Option<Entry> {
        Some(Entry {
            manager: v.get("manager")?.as_str()?.to_string(),
            operation: v
                .get("operation")
                .and_then(Value::as_str)
                .unwrap_or("Update")
                .to_string(),
            api_version: v
                .get("apiVersion")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            time: v
                .get("time")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            subresource: v
                .get("subresource")
                .and_then(Value::as_str)
                .map(str::to_string),
            fields: FieldSet::from_fields_v1(v.get("fieldsV1").unwrap_or(&Value::Null)),
        })
    }
}

/// A field owned by someone else with a different value.
#[derive(Debug, Clone, PartialEq)]
pub struct Conflict {
    /// The other manager.
    pub manager: String,
    /// The apiVersion it used.
    pub api_version: String,
    /// The field, as `.spec.replicas`.
    pub field: String,
}

/// The managed-field entries of an object.
pub fn entries_of(obj: &Value) -> Vec<Entry> {
    obj.pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Entry::from_json).collect())
        .unwrap_or_default()
}

fn write_entries(obj: &mut Value, entries: &[Entry]) {
    let meta = crate::meta::meta_mut(obj);
    let list: Vec<Value> = entries
        .iter()
        .filter(|e| !e.fields.is_empty())
        .map(Entry::to_json)
        .collect();
    if list.is_empty() {
        meta.remove("managedFields");
    } else {
        meta.insert("managedFields".into(), Value::Array(list));
    }
}

/// The fields a writer can own: everything but identity and server-owned
/// metadata, and either the status (through `/status`) or everything else.
fn tracked(obj: &Value, subresource: Option<&str>) -> FieldSet {
    let mut copy = obj.clone();
    if let Some(map) = copy.as_object_mut() {
        map.remove("apiVersion");
        map.remove("kind");
        if let Some(meta) = map.get_mut("metadata").and_then(Value::as_object_mut) {
            for f in [
                "name",
                "namespace",
                "uid",
                "resourceVersion",
                "generation",
                "creationTimestamp",
                "managedFields",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "selfLink",
                "generateName",
            ] {
                meta.remove(f);
            }
            if meta.is_empty() {
                map.remove("metadata");
            }
        }
        match subresource {
            Some("status") => map.retain(|k, _| k == "status"),
            _ => {
                map.remove("status");
            }
        }
    }
    FieldSet::of(&copy)
}

/// Records an update by `manager` (create when `old` is `None`) in `new`.
pub fn record_update(
    manager: &str,
    subresource: Option<&str>,
    api_version: &str,
    old: Option<&Value>,
    new: &mut Value,
) {
    let old_managed = old
        .and_then(|o| o.pointer("/metadata/managedFields"))
        .cloned();
    let new_managed = new.pointer("/metadata/managedFields").cloned();
    if new_managed.is_some() && new_managed != old_managed {
        // Written explicitly by the client: respected as given.
        return;
    }
    let mut entries = old.map(entries_of).unwrap_or_default();
    let empty = json!({});
    let old_obj = old.unwrap_or(&empty);
    let new_set = tracked(new, subresource);
    let old_set = tracked(old_obj, subresource);
    let changed: Vec<Path> = match old {
        // A create sets every field.
        None => new_set.leaves(),
        Some(_) => new_set
            .leaves()
            .into_iter()
            .filter(|p| !old_set.contains(p) || value_at(new, p) != value_at(old_obj, p))
            .collect(),
    };
    if old.is_none() {
        let entry = Entry {
            manager: manager.to_string(),
            operation: "Update".into(),
            api_version: api_version.to_string(),
            time: crate::meta::now(),
            subresource: subresource.map(str::to_string),
            fields: new_set,
        };
        write_entries(new, &[entry]);
        return;
    }
    let removed: Vec<Path> = old_set
        .leaves()
        .into_iter()
        .filter(|p| !new_set.contains(p))
        .collect();
    if changed.is_empty() && removed.is_empty() {
        write_entries(new, &entries);
        return;
    }
    for e in entries.iter_mut() {
        if e.subresource.as_deref() != subresource {
            continue;
        }
        for p in changed.iter().chain(removed.iter()) {
            if !(e.manager == manager && e.operation == "Update") {
                e.fields.remove(p);
            }
        }
    }
    let now = crate::meta::now();
    let idx = entries.iter().position(|e| {
        e.manager == manager && e.operation == "Update" && e.subresource.as_deref() == subresource
    });
    let entry = match idx {
        Some(i) => &mut entries[i],
        None => {
            entries.push(Entry {
                manager: manager.to_string(),
                operation: "Update".into(),
                api_version: api_version.to_string(),
                time: now.clone(),
                subresource: subresource.map(str::to_string),
                fields: FieldSet::default(),
            });
            let last = entries.len() - 1;
            &mut entries[last]
        }
    };
    for p in &changed {
        entry.fields.insert(p);
    }
    for p in &removed {
        entry.fields.remove(p);
    }
    entry.time = now;
    entry.api_version = api_version.to_string();
    write_entries(new, &entries);
}

/// Server-side apply of `config` by `manager` onto `live` (`None`: the object
/// does not exist yet). Returns the merged object with its managed fields, or
/// the conflicts.
pub fn apply(
    manager: &str,
    force: bool,
    api_version: &str,
    live: Option<&Value>,
    config: &Value,
) -> Result<Value, Vec<Conflict>> {
    let empty = json!({});
    let live_obj = live.unwrap_or(&empty);
    let mut entries = live.map(entries_of).unwrap_or_default();
    let config_set = tracked(config, None);

    let mut conflicts = Vec::new();
    let mut taken: Vec<(usize, Path)> = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        if e.subresource.is_some() || (e.manager == manager && e.operation == "Apply") {
            continue;
        }
        for leaf in e.fields.leaves() {
            if !config_set.contains(&leaf) {
                continue;
            }
            if value_at(live_obj, &leaf) != value_at(config, &leaf) {
                conflicts.push(Conflict {
                    manager: e.manager.clone(),
                    api_version: e.api_version.clone(),
                    field: display_path(&leaf),
                });
                taken.push((i, leaf));
            }
        }
    }
    if !conflicts.is_empty() && !force {
        return Err(conflicts);
    }
    for (i, leaf) in taken {
        entries[i].fields.remove(&leaf);
    }

    let mut merged = merge(live_obj, config, &mut Vec::new());
    let previous = entries
        .iter()
        .find(|e| e.manager == manager && e.operation == "Apply" && e.subresource.is_none())
        .map(|e| e.fields.clone())
        .unwrap_or_default();
    for leaf in previous.leaves() {
        if config_set.contains(&leaf) {
            continue;
        }
        let shared = entries.iter().any(|e| {
            !(e.manager == manager && e.operation == "Apply") && e.fields.has_prefix(&leaf)
        });
        if !shared {
            remove_at(&mut merged, &leaf);
        }
    }
    if let Some(live) = live {
        // An apply that changes nothing (no value, no ownership) is no
        // write at all: the entry keeps its time, so the object keeps its
        // resourceVersion, as upstream's managed-fields updater does.
        let same_owner = entries.iter().any(|e| {
            e.manager == manager
                && e.operation == "Apply"
                && e.subresource.is_none()
                && e.api_version == api_version
                && e.fields == config_set
        });
        if same_owner && conflicts.is_empty() && without_managed(&merged) == without_managed(live) {
            return Ok(live.clone());
        }
    }
    let now = crate::meta::now();
    entries
        .retain(|e| !(e.manager == manager && e.operation == "Apply" && e.subresource.is_none()));
    entries.push(Entry {
        manager: manager.to_string(),
        operation: "Apply".into(),
        api_version: api_version.to_string(),
        time: now,
        subresource: None,
        fields: config_set,
    });
    write_entries(&mut merged, &entries);
    Ok(merged)
}

/// `obj` without `metadata.managedFields`.
fn without_managed(obj: &Value) -> Value {
    let mut copy = obj.clone();
    if let Some(meta) = copy.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("managedFields");
    }
    copy
}

/// The manager name for a request: `?fieldManager=`, else the User-Agent up
/// to the first `/` (as upstream).
pub fn manager_name(query_manager: Option<&str>, user_agent: Option<&str>) -> String {
    if let Some(m) = query_manager.filter(|m| !m.is_empty()) {
        return m.to_string();
    }
    user_agent
        .and_then(|ua| ua.split('/').next())
        .filter(|s| !s.is_empty())
        .unwrap_or("unknown")
        .chars()
        .take(128)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment(replicas: i64, image: &str) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "d", "labels": {"app": "d"}},
            "spec": {"replicas": replicas, "template": {"spec": {"containers": [{"name": "web", "image": image}]}}}})
    }

    #[test]
    fn an_apply_that_changes_nothing_keeps_the_entry_and_its_time() {
        let first =
            apply("ssa", false, "apps/v1", None, &deployment(1, "nginx")).unwrap_or_default();
        // Backdate the entry, as if the first apply was long ago.
        let mut live = first.clone();
        let mut entries = entries_of(&live);
        entries[0].time = "2020-01-01T00:00:00Z".into();
        write_entries(&mut live, &entries);

        let again = apply(
            "ssa",
            false,
            "apps/v1",
            Some(&live),
            &deployment(1, "nginx"),
        );
        assert_eq!(again.ok(), Some(live.clone()));

        let changed = apply(
            "ssa",
            false,
            "apps/v1",
            Some(&live),
            &deployment(2, "nginx"),
        )
        .unwrap_or_default();
        assert_ne!(entries_of(&changed)[0].time, "2020-01-01T00:00:00Z");
        assert_eq!(changed["spec"]["replicas"], 2);
    }

    #[test]
    fn create_then_apply_conflicts_on_changed_values_only() {
        let mut live = deployment(1, "nginx");
        record_update("kubectl-create", None, "apps/v1", None, &mut live);
        assert_eq!(entries_of(&live).len(), 1);

        // Same values: no conflict, both own them.
        let same = apply(
            "ssa",
            false,
            "apps/v1",
            Some(&live),
            &deployment(1, "nginx"),
        );
        assert!(same.is_ok());

        let err = apply(
            "ssa",
            false,
            "apps/v1",
            Some(&live),
            &deployment(3, "nginx"),
        )
        .err()
        .unwrap_or_default();
        assert_eq!(err.len(), 1);
        assert_eq!(err[0].field, ".spec.replicas");
        assert_eq!(err[0].manager, "kubectl-create");

        let forced =
            apply("ssa", true, "apps/v1", Some(&live), &deployment(3, "nginx")).unwrap_or_default();
        assert_eq!(forced["spec"]["replicas"], 3);
        let create_entry = entries_of(&forced)
            .into_iter()
            .find(|e| e.manager == "kubectl-create")
            .unwrap_or_else(|| panic!("create entry kept"));
        assert!(!create_entry
            .fields
            .contains(&["f:spec".to_string(), "f:replicas".to_string()]));
    }

    #[test]
    fn fields_dropped_from_the_config_are_removed() {
        let first = apply(
            "ssa",
            false,
            "v1",
            None,
            &json!({"metadata": {"labels": {"a": "1", "b": "2"}}, "data": {"x": "1"}}),
        )
        .unwrap_or_default();
        let second = apply(
            "ssa",
            false,
            "v1",
            Some(&first),
            &json!({"metadata": {"labels": {"a": "1"}}, "data": {"x": "1"}}),
        )
        .unwrap_or_default();
        assert!(second["metadata"]["labels"].get("b").is_none());
        assert_eq!(second["metadata"]["labels"]["a"], "1");
    }

    #[test]
    fn updates_take_ownership() {
        let mut live = deployment(1, "nginx");
        record_update("a", None, "apps/v1", None, &mut live);
        let mut new = live.clone();
        new["spec"]["replicas"] = json!(5);
        record_update("b", None, "apps/v1", Some(&live), &mut new);
        let entries = entries_of(&new);
        let replicas: Path = vec!["f:spec".into(), "f:replicas".into()];
        assert!(entries
            .iter()
            .any(|e| e.manager == "b" && e.fields.contains(&replicas)));
        assert!(!entries
            .iter()
            .any(|e| e.manager == "a" && e.fields.contains(&replicas)));
    }

    #[test]
    fn manager_names() {
        assert_eq!(manager_name(Some("kubectl-edit"), None), "kubectl-edit");
        assert_eq!(
            manager_name(None, Some("kubectl/v1.32.0 (linux/amd64)")),
            "kubectl"
        );
        assert_eq!(manager_name(None, None), "unknown");
    }
}
