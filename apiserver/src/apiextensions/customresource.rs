//! The strategy of one served version of a custom resource (upstream's
//! `customresource` registry): built from the CRD's version entry, it gives
//! the generic handlers what a built-in kind's strategy gives them.
//!
//! - decoding: `metadata` is decoded as an ObjectMeta, then the object is
//!   [pruned](super::pruning) to its structural schema;
//! - defaults from the schema ([`super::defaulting`]);
//! - validation against the schema ([`super::schema`]) and its CEL rules
//!   ([`super::cel`], transition rules on updates);
//! - with a `status` subresource, a new object starts without `status` and
//!   the main resource cannot change it (the registry's common rule);
//! - the `scale` subresource reads and writes the paths the CRD names
//!   (`specReplicasPath`, `statusReplicasPath`, `labelSelectorPath`);
//! - `selectableFields` for field selectors;
//! - `additionalPrinterColumns` in Tables (Name first; Age alone when the
//!   CRD lists none).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::schemars::generate::SchemaGenerator;
use serde_json::{json, Value};

use std::sync::Arc;

use super::conversion::{self, ConversionError, Converter};
use super::jsonpath::JsonPath;
use super::{cel, defaulting, intern, pruning, schema};
use crate::errors::ApiError;
use crate::printers::{self, Column};
use crate::registry::{scale, Strategy};
use crate::validation::{invalid, FieldError};

/// Where a custom resource's `/scale` subresource reads and writes.
#[derive(Debug, Clone, PartialEq)]
pub struct ScalePaths {
    /// JSON pointer of the desired replicas (`.spec.replicas` -> `/spec/replicas`).
    pub spec_replicas: String,
    /// JSON pointer of the observed replicas.
    pub status_replicas: String,
    /// JSON pointer of the label selector (a string), if any.
    pub label_selector: Option<String>,
}

/// One printer column: how to find its value and how to show it.
#[derive(Debug, Clone)]
struct PrinterColumn {
    path: Option<JsonPath>,
    kind: String,
}

/// The strategy of one served version of a custom resource.
pub struct CustomResourceStrategy {
    /// The API group.
    pub group: String,
    /// Whether the CRD serves more than one version (answers may then need
    /// [`super::conversion`]).
    pub multi_version: bool,
    /// How objects cross the CRD's versions (shared by its versions).
    pub conversion: Arc<Converter>,
    /// The version this strategy serves.
    pub version: String,
    /// The kind (the CRD's accepted kind).
    pub kind: String,
    /// The version objects are kept in (all versions share the storage).
    pub storage_version: String,
    /// The version's `openAPIV3Schema`.
    pub schema: Option<Value>,
    /// Whether the version has a `status` subresource.
    pub has_status: bool,
    /// The `scale` subresource's paths, when it has one.
    pub scale: Option<ScalePaths>,
    /// `selectableFields`, as field names (`spec.color`) with their paths.
    selectable: Vec<(String, JsonPath)>,
    columns: &'static [Column],
    printer: Vec<PrinterColumn>,
    /// Whether the CRD is being deleted: no new objects then.
    pub terminating: bool,
}

/// A `.a.b.c` path of the scale subresource as a JSON pointer.
fn pointer_of(path: &str) -> Option<String> {
    let p = path.strip_prefix('.')?;
    if p.is_empty() || p.contains(['[', ']']) {
        return None;
    }
    Some(format!("/{}", p.replace('.', "/")))
}

fn column(name: &str, kind: &str, format: &str, priority: u8, description: &str) -> Column {
    Column {
        name: intern(name),
        kind: intern(kind),
        format: intern(format),
        priority,
        description: intern(description),
    }
}

impl CustomResourceStrategy {
    /// The strategy of `version` (one entry of the CRD's `spec.versions`).
    pub fn new(
        group: &str,
        kind: &str,
        version: &Value,
        storage_version: &str,
    ) -> CustomResourceStrategy {
        let name = version.get("name").and_then(Value::as_str).unwrap_or("");
        let schema = version.pointer("/schema/openAPIV3Schema").cloned();
        let has_status = version.pointer("/subresources/status").is_some();
        let scale = version.pointer("/subresources/scale").and_then(|s| {
            Some(ScalePaths {
                spec_replicas: pointer_of(s.get("specReplicasPath")?.as_str()?)?,
                status_replicas: pointer_of(s.get("statusReplicasPath")?.as_str()?)?,
                label_selector: s
                    .get("labelSelectorPath")
                    .and_then(Value::as_str)
                    .and_then(pointer_of),
            })
        });
        let selectable = version
            .get("selectableFields")
            .and_then(Value::as_array)
            .map(|fields| {
                fields
                    .iter()
                    .filter_map(|f| f.get("jsonPath").and_then(Value::as_str))
                    .filter_map(|p| {
                        let path = JsonPath::parse(p).ok()?;
                        Some((p.trim_start_matches('.').to_string(), path))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let listed: Vec<Value> = version
            .get("additionalPrinterColumns")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let mut columns = vec![printers::NAME];
        let mut printer = Vec::new();
        if listed.is_empty() {
            columns.push(printers::AGE);
            printer.push(PrinterColumn {
                path: JsonPath::parse(".metadata.creationTimestamp").ok(),
                kind: "date".into(),
            });
        }
        for c in &listed {
            let s = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or("");
            let priority = c.get("priority").and_then(Value::as_u64).unwrap_or(0);
            columns.push(column(
                s("name"),
                s("type"),
                s("format"),
                u8::try_from(priority).unwrap_or(u8::MAX),
                s("description"),
            ));
            printer.push(PrinterColumn {
                path: JsonPath::parse(s("jsonPath")).ok(),
                kind: s("type").to_string(),
            });
        }
        CustomResourceStrategy {
            group: group.to_string(),
            multi_version: false,
            conversion: Arc::new(Converter::single(group, storage_version)),
            version: name.to_string(),
            kind: kind.to_string(),
            storage_version: storage_version.to_string(),
            schema,
            has_status,
            scale,
            selectable,
            columns: Box::leak(columns.into_boxed_slice()),
            printer,
            terminating: false,
        }
    }

    /// Puts an object about to be stored into the storage version (a
    /// webhook call with the `Webhook` strategy).
    pub async fn to_storage_version(
        &self,
        server: &crate::ApiServer,
        obj: &mut Value,
    ) -> Result<(), ConversionError> {
        let have = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
        let label = conversion::gvk(have, &self.kind);
        self.conversion
            .convert(
                server,
                vec![obj],
                &self.storage_version,
                conversion::Shape::Object,
                &label,
            )
            .await
    }

    fn cell(&self, c: &PrinterColumn, obj: &Value) -> Value {
        let Some(v) = c.path.as_ref().and_then(|p| p.first(obj)) else {
            return Value::Null;
        };
        match (c.kind.as_str(), v) {
            ("date", Value::String(ts)) => json!(printers::since(ts)),
            ("integer" | "number" | "boolean", _) => v.clone(),
            (_, Value::String(_)) => v.clone(),
            (_, other) => json!(other.to_string()),
        }
    }
}

impl CustomResourceStrategy {
    /// Whether the schema defaults any field.
    pub fn has_defaults(&self) -> bool {
        fn any_default(v: &Value) -> bool {
            match v {
                Value::Object(m) => m.contains_key("default") || m.values().any(any_default),
                Value::Array(a) => a.iter().any(any_default),
                _ => false,
            }
        }
        self.schema.as_ref().is_some_and(any_default)
    }

    /// Fills the schema's defaults into a stored object being read.
    pub fn default_on_read(&self, obj: &mut Value) {
        if let Some(s) = &self.schema {
            defaulting::apply(s, obj);
        }
    }
}

impl Strategy for CustomResourceStrategy {
    fn normalize(&self, obj: &mut Value) -> Result<(), String> {
        if let Some(meta) = obj.get_mut("metadata") {
            crate::registry::strategy::normalize::<ObjectMeta>(meta)
                .map_err(|e| format!("metadata: {e}"))?;
        }
        if let Some(s) = &self.schema {
            pruning::prune(s, obj);
        }
        Ok(())
    }

    /// The version's schema, named as upstream names it
    /// (`com.example.stable.v1.CronTab` for group `stable.example.com`),
    /// with `metadata` as the ObjectMeta it is.
    fn schema(&self, gen: &mut SchemaGenerator) -> Option<String> {
        let reversed: Vec<&str> = self.group.split('.').rev().collect();
        let name = format!("{}.{}.{}", reversed.join("."), self.version, self.kind);
        let meta = gen.subschema_for::<ObjectMeta>().to_value();
        let mut schema = self.schema.clone().unwrap_or_else(
            || json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}),
        );
        if let Some(map) = schema.as_object_mut() {
            let props = map.entry("properties").or_insert_with(|| json!({}));
            if let Some(props) = props.as_object_mut() {
                props.insert("apiVersion".into(), json!({"type": "string",
                    "description": "APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values."}));
                props.insert("kind".into(), json!({"type": "string",
                    "description": "Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to."}));
                props.insert(
                    "metadata".into(),
                    json!({"allOf": [meta], "description": "Standard object's metadata."}),
                );
            }
        }
        gen.definitions_mut().insert(name.clone(), schema);
        Some(name)
    }

    fn default(&self, obj: &mut Value) {
        if let Some(s) = &self.schema {
            defaulting::apply(s, obj);
            pruning::prune(s, obj);
        }
    }

    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        let mut errs = match &self.schema {
            Some(s) => schema::validate(s, obj),
            None => Vec::new(),
        };
        // CEL rules only on values of the right shape, as upstream.
        if errs.is_empty() {
            if let Some(s) = &self.schema {
                errs.extend(cel::validate(s, obj, None, cel::Rules::Plain));
            }
        }
        if let Some(paths) = &self.scale {
            if let Some(r) = obj.pointer(&paths.spec_replicas) {
                if r.as_i64().is_none_or(|n| n < 0 || n > i64::from(i32::MAX)) {
                    errs.push(invalid(
                        paths
                            .spec_replicas
                            .trim_start_matches('/')
                            .replace('/', "."),
                        r,
                        "should be a non-negative integer",
                    ));
                }
            }
        }
        errs
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        match &self.schema {
            Some(s) if schema::validate(s, new).is_empty() => {
                cel::validate(s, new, Some(old), cel::Rules::Transition)
            }
            _ => Vec::new(),
        }
    }

    fn admit_create<'a>(
        &'a self,
        server: &'a crate::ApiServer,
        obj: &'a mut Value,
    ) -> futures::future::BoxFuture<'a, Result<(), ApiError>> {
        let _ = (server, obj);
        let terminating = self.terminating;
        Box::pin(async move {
            if terminating {
                return Err(ApiError::MethodNotAllowed(
                    "create not allowed while custom resource definition is terminating".into(),
                ));
            }
            Ok(())
        })
    }

    /// A new object is stored in the storage version.
    fn before_create<'a>(
        &'a self,
        server: &'a crate::ApiServer,
        obj: &'a mut Value,
    ) -> futures::future::BoxFuture<'a, Result<(), ApiError>> {
        Box::pin(async move {
            self.to_storage_version(server, obj)
                .await
                .map_err(ApiError::from)
        })
    }

    fn prepare_for_create(&self, obj: &mut Value, _uid: &str) {
        if self.has_status {
            if let Some(map) = obj.as_object_mut() {
                map.remove("status");
            }
        }
    }

    fn columns(&self) -> &'static [Column] {
        self.columns
    }

    fn cells(&self, obj: &Value) -> Vec<Value> {
        let mut cells = vec![json!(printers::s(obj, "/metadata/name"))];
        cells.extend(self.printer.iter().map(|c| self.cell(c, obj)));
        cells
    }

    fn selectable_fields(&self) -> Option<Vec<String>> {
        let mut fields = vec![
            "metadata.name".to_string(),
            "metadata.namespace".to_string(),
        ];
        fields.extend(self.selectable.iter().map(|(f, _)| f.clone()));
        Some(fields)
    }

    fn field_value(&self, obj: &Value, field: &str) -> String {
        let found = match field {
            "metadata.name" => obj.pointer("/metadata/name"),
            "metadata.namespace" => obj.pointer("/metadata/namespace"),
            _ => self
                .selectable
                .iter()
                .find(|(f, _)| f == field)
                .and_then(|(_, p)| p.first(obj)),
        };
        match found {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Null) | None => String::new(),
            Some(other) => other.to_string(),
        }
    }

    fn scale(&self, obj: &Value) -> Value {
        let Some(paths) = &self.scale else {
            return scale::scale_of(obj);
        };
        let meta = obj.get("metadata").cloned().unwrap_or_else(|| json!({}));
        let mut status = json!({
            "replicas": obj.pointer(&paths.status_replicas).and_then(Value::as_i64).unwrap_or(0),
        });
        if let Some(sel) = paths
            .label_selector
            .as_deref()
            .and_then(|p| obj.pointer(p))
            .and_then(Value::as_str)
        {
            status["selector"] = json!(sel);
        }
        json!({
            "kind": scale::KIND,
            "apiVersion": scale::API_VERSION,
            "metadata": {
                "name": meta.get("name"),
                "namespace": meta.get("namespace"),
                "uid": meta.get("uid"),
                "resourceVersion": meta.get("resourceVersion"),
                "creationTimestamp": meta.get("creationTimestamp"),
            },
            "spec": {"replicas": obj.pointer(&paths.spec_replicas).and_then(Value::as_i64).unwrap_or(0)},
            "status": status,
        })
    }

    fn apply_scale(&self, obj: &Value, new_scale: &Value, name: &str) -> Result<Value, ApiError> {
        let Some(paths) = &self.scale else {
            return scale::apply_scale(obj, new_scale, name);
        };
        // The built-in rules (a negative count is a 422) on a copy, then
        // the count goes where the CRD says.
        let checked = scale::apply_scale(&json!({"spec": {}}), new_scale, name)?;
        let replicas = checked
            .pointer("/spec/replicas")
            .cloned()
            .unwrap_or(json!(0));
        let mut updated = obj.clone();
        set_pointer(&mut updated, &paths.spec_replicas, replicas);
        Ok(updated)
    }
}

/// Sets the value at a JSON pointer, creating the objects on the way.
fn set_pointer(obj: &mut Value, pointer: &str, value: Value) {
    let mut parts: Vec<&str> = pointer.trim_start_matches('/').split('/').collect();
    let Some(last) = parts.pop() else { return };
    let mut cur = obj;
    for p in parts {
        if !cur.get(p).is_some_and(Value::is_object) {
            if let Some(map) = cur.as_object_mut() {
                map.insert(p.to_string(), json!({}));
            }
        }
        let Some(next) = cur.get_mut(p) else { return };
        cur = next;
    }
    if let Some(map) = cur.as_object_mut() {
        map.insert(last.to_string(), value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version() -> Value {
        json!({
            "name": "v1", "served": true, "storage": true,
            "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                "spec": {"type": "object", "properties": {
                    "size": {"type": "integer", "default": 1},
                    "color": {"type": "string"}}},
                "status": {"type": "object", "properties": {
                    "count": {"type": "integer"}, "selector": {"type": "string"}}}}}},
            "subresources": {"status": {}, "scale": {
                "specReplicasPath": ".spec.size", "statusReplicasPath": ".status.count",
                "labelSelectorPath": ".status.selector"}},
            "selectableFields": [{"jsonPath": ".spec.color"}],
            "additionalPrinterColumns": [
                {"name": "Size", "type": "integer", "jsonPath": ".spec.size"},
                {"name": "Color", "type": "string", "jsonPath": ".spec.color", "priority": 1}]
        })
    }

    #[test]
    fn prunes_defaults_prints_and_scales() {
        let s = CustomResourceStrategy::new("x.test", "W", &version(), "v1");
        let mut obj = json!({"apiVersion": "x.test/v1", "kind": "W",
            "metadata": {"name": "a", "bogus": 1}, "spec": {"color": "red", "extra": 1}});
        assert!(s.normalize(&mut obj).is_ok());
        s.default(&mut obj);
        assert_eq!(obj["spec"], json!({"color": "red", "size": 1}));
        assert!(obj["metadata"].get("bogus").is_none());
        let names: Vec<&str> = s.columns().iter().map(|c| c.name).collect();
        assert_eq!(names, vec!["Name", "Size", "Color"]);
        assert_eq!(s.cells(&obj), vec![json!("a"), json!(1), json!("red")]);
        assert_eq!(s.field_value(&obj, "spec.color"), "red");
        obj["status"] = json!({"count": 1, "selector": "app=w"});
        let sc = s.scale(&obj);
        assert_eq!(sc["spec"]["replicas"], 1);
        assert_eq!(sc["status"]["selector"], "app=w");
        let scaled = s
            .apply_scale(&obj, &json!({"spec": {"replicas": 4}}), "a")
            .unwrap_or_default();
        assert_eq!(scaled["spec"]["size"], 4);
        assert!(s
            .apply_scale(&obj, &json!({"spec": {"replicas": -1}}), "a")
            .is_err());
    }
}
