//! OpenAPI v3 discovery: what kubectl downloads before `apply -f`/`create -f`.
//!
//! kubectl 1.32 validates manifests by default (`--validate=strict`). It first
//! asks `/openapi/v3` for the list of group-version documents, then the
//! document of the object's group version, and looks for the object's PATCH
//! operation: when that operation declares the `fieldValidation` query
//! parameter, kubectl leaves validation to the server and sends
//! `?fieldValidation=Strict`, which [`unknown_fields`] then enforces (an
//! unknown or misspelled field is a 400, not silently dropped).
//!
//! The documents list, for every served resource, its paths and operations
//! with the `x-kubernetes-group-version-kind` extension, and the schemas of
//! every type they use, with the field descriptions `kubectl explain` prints.
//! The schemas come from the `k8s-openapi` types (their `schemars` feature);
//! those of custom resources from their CRD's `openAPIV3Schema`, in
//! documents built on demand for the group versions CRDs serve.

use std::borrow::Cow;
use std::sync::OnceLock;

use apimachinery::resources::{self, ResourceInfo};
use k8s_openapi::schemars::generate::{SchemaGenerator, SchemaSettings};
use serde_json::{json, Map, Value};

fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

fn schema_name(r: &ResourceInfo) -> String {
    let mut gen = SchemaSettings::openapi3().into_generator();
    if let Some(name) = add_kind_schema(&mut gen, r) {
        return name;
    }
    let group = match r.group {
        "" => "core".to_string(),
        g => g.split('.').next().unwrap_or(g).to_string(),
    };
    format!("io.k8s.api.{group}.{}.{}", r.version, r.kind)
}

fn stable_hash(s: &str) -> String {
    // FNV-1a: stable across runs, enough to let kubectl cache by content.
    let mut h: u64 = 0xcbf29ce484222325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100000001b3);
    }
    format!("{h:016X}")
}

fn param(name: &str, location: &str, required: bool) -> Value {
    json!({"name": name, "in": location, "required": required, "schema": {"type": "string", "uniqueItems": true}})
}

fn operation(r: &ResourceInfo, verb: &str, action: &str, write: bool) -> Value {
    let mut params = Vec::new();
    if write {
        params.push(param("dryRun", "query", false));
        params.push(param("fieldManager", "query", false));
        params.push(param("fieldValidation", "query", false));
    }
    json!({
        "operationId": format!("{verb}{}", r.kind),
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": {"group": r.group, "version": r.version, "kind": r.kind},
        "parameters": params,
        "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{}", schema_name(r))}}}}},
    })
}

/// Adds the schema of a served kind (and everything it references) to the
/// generator; returns the kind's schema name (`None`: the kind's strategy has
/// no typed schema, a generic object schema is published).
fn add_kind_schema(gen: &mut SchemaGenerator, r: &ResourceInfo) -> Option<String> {
    crate::registry::strategy_for(r).schema(gen)
}

fn document(group: &str, version: &str, rows: &[&'static ResourceInfo]) -> Option<Value> {
    let mut paths = Map::new();
    let mut schemas = Map::new();
    let mut gen = SchemaSettings::openapi3().into_generator();
    let mut kind_schemas = Vec::new();
    let mut any = false;
    for r in rows.iter().copied() {
        any = true;
        let prefix = format!("/{}", gv_path(group, version));
        let (collection, item) = if r.namespaced {
            (
                format!("{prefix}/namespaces/{{namespace}}/{}", r.plural),
                format!("{prefix}/namespaces/{{namespace}}/{}/{{name}}", r.plural),
            )
        } else {
            (
                format!("{prefix}/{}", r.plural),
                format!("{prefix}/{}/{{name}}", r.plural),
            )
        };
        // Only the verbs the resource serves (a review is only posted, a
        // ComponentStatus only read).
        let mut collection_ops = Map::new();
        let mut item_ops = Map::new();
        for (verb, method, op, action, write, on_item) in [
            ("list", "get", "list", "list", false, false),
            ("create", "post", "create", "post", true, false),
            (
                "deletecollection",
                "delete",
                "deletecollection",
                "deletecollection",
                false,
                false,
            ),
            ("get", "get", "read", "get", false, true),
            ("update", "put", "replace", "put", true, true),
            ("patch", "patch", "patch", "patch", true, true),
            ("delete", "delete", "delete", "delete", false, true),
        ] {
            if !r.serves(verb) {
                continue;
            }
            let ops = if on_item {
                &mut item_ops
            } else {
                &mut collection_ops
            };
            ops.insert(method.into(), operation(r, op, action, write));
        }
        if !collection_ops.is_empty() {
            paths.insert(collection, Value::Object(collection_ops));
        }
        if !item_ops.is_empty() {
            paths.insert(item, Value::Object(item_ops));
        }
        if let Some(name) = add_kind_schema(&mut gen, r) {
            kind_schemas.push((name, r));
            continue;
        }
        schemas.insert(
            schema_name(r),
            json!({
                "type": "object",
                "description": format!("{} is a {} resource of the {} API.", r.kind, if r.namespaced { "namespaced" } else { "cluster-scoped" }, r.api_version()),
                "properties": {
                    "apiVersion": {"type": "string", "description": "APIVersion defines the versioned schema of this representation of an object."},
                    "kind": {"type": "string", "description": "Kind is a string value representing the REST resource this object represents."},
                    "metadata": {"type": "object", "description": "Standard object's metadata."},
                    "spec": {"type": "object", "description": "The desired state."},
                    "status": {"type": "object", "description": "The observed state."},
                },
                "x-kubernetes-group-version-kind": [{"group": r.group, "version": r.version, "kind": r.kind}],
            }),
        );
    }
    for (name, schema) in gen.take_definitions(true) {
        schemas.insert(name, schema);
    }
    for (name, r) in kind_schemas {
        if let Some(obj) = schemas.get_mut(&name).and_then(Value::as_object_mut) {
            // Upstream's schemas do not mark `metadata` required (a client may
            // send generateName only, or nothing for a dry run).
            if let Some(Value::Array(required)) = obj.get_mut("required") {
                required.retain(|f| f != "metadata");
            }
            obj.insert(
                "x-kubernetes-group-version-kind".into(),
                json!([{"group": r.group, "version": r.version, "kind": r.kind}]),
            );
        }
    }
    any.then(|| {
        json!({
            "openapi": "3.0.0",
            "info": {"title": "minik8s", "version": format!("v{}.{}", crate::discovery::MAJOR, crate::discovery::MINOR)},
            "paths": paths,
            "components": {"schemas": schemas},
        })
    })
}

struct Docs {
    index: Value,
    docs: Vec<(String, Value)>,
}

fn docs() -> &'static Docs {
    static DOCS: OnceLock<Docs> = OnceLock::new();
    DOCS.get_or_init(|| {
        let mut docs = Vec::new();
        let mut index = Map::new();
        for (group, versions) in resources::groups() {
            for version in versions {
                let rows: Vec<_> = resources::in_group_version(group, version).collect();
                if let Some(doc) = document(group, version, &rows) {
                    let path = gv_path(group, version);
                    let hash = stable_hash(&doc.to_string());
                    index.insert(
                        path.clone(),
                        json!({"serverRelativeURL": format!("/openapi/v3/{path}?hash={hash}")}),
                    );
                    docs.push((path, doc));
                }
            }
        }
        Docs {
            index: json!({"paths": index}),
            docs,
        }
    })
}

/// The documents of the group versions only CustomResourceDefinitions
/// serve, built on demand (they change as CRDs do).
fn custom_documents() -> Vec<(String, Value)> {
    let builtin = resources::groups();
    let mut out = Vec::new();
    for (group, versions) in crate::apiextensions::groups() {
        for version in versions {
            let known = builtin
                .iter()
                .any(|(g, vs)| *g == group && vs.contains(&version));
            if known {
                continue;
            }
            let rows = crate::apiextensions::in_group_version(group, version);
            if let Some(doc) = document(group, version, &rows) {
                out.push((gv_path(group, version), doc));
            }
        }
    }
    out
}

/// `GET /openapi/v3`.
pub fn v3_index() -> Cow<'static, Value> {
    let custom = custom_documents();
    if custom.is_empty() {
        return Cow::Borrowed(&docs().index);
    }
    let mut index = docs().index.clone();
    if let Some(paths) = index.get_mut("paths").and_then(Value::as_object_mut) {
        for (path, doc) in custom {
            let hash = stable_hash(&doc.to_string());
            paths.insert(
                path.clone(),
                json!({"serverRelativeURL": format!("/openapi/v3/{path}?hash={hash}")}),
            );
        }
    }
    Cow::Owned(index)
}

/// The index with the group versions of extension apiservers added
/// (`apis/<group>/<version>` of each Available APIService with a Service):
/// their documents are their servers', proxied
/// ([`crate::aggregator`]); the hash follows what their discovery last
/// said.
pub fn v3_index_with_aggregated(
    registered: &[crate::aggregator::discovery::Registered],
) -> Cow<'static, Value> {
    let remote: Vec<_> = registered
        .iter()
        .filter(|r| r.remote && r.available && r.resources.is_some())
        .collect();
    let index = v3_index();
    if remote.is_empty() {
        return index;
    }
    let mut index = index.into_owned();
    if let Some(paths) = index.get_mut("paths").and_then(Value::as_object_mut) {
        for r in remote {
            let path = format!("apis/{}/{}", r.group, r.version);
            let hash = stable_hash(&format!(
                "{path}{}",
                r.resources.clone().unwrap_or_default()
            ));
            paths.insert(
                path.clone(),
                json!({"serverRelativeURL": format!("/openapi/v3/{path}?hash={hash}")}),
            );
        }
    }
    Cow::Owned(index)
}

/// The document of a built-in group version (`api/v1`, `apis/apps/v1`, ...).
pub fn v3_document(path: &str) -> Option<&'static Value> {
    let path = path.trim_matches('/');
    docs().docs.iter().find(|(p, _)| p == path).map(|(_, d)| d)
}

/// `GET /openapi/v3/<path>`: a built-in group version's document, or the
/// one of a group version CRDs serve.
pub fn v3_served_document(path: &str) -> Option<Cow<'static, Value>> {
    if let Some(d) = v3_document(path) {
        return Some(Cow::Borrowed(d));
    }
    let path = path.trim_matches('/');
    custom_documents()
        .into_iter()
        .find(|(p, _)| p == path)
        .map(|(_, d)| Cow::Owned(d))
}

/// `GET /openapi/v2`: the whole API as one Swagger 2.0 document (what
/// older clients and `kubectl explain --output=plaintext-openapiv2` read),
/// made from the OpenAPI v3 documents of every group version, the custom
/// ones included: their schemas become `definitions`, their operations the
/// `paths`. Returns the document and its ETag.
pub fn v2_document() -> (Value, String) {
    let mut paths = Map::new();
    let mut definitions = Map::new();
    let custom = custom_documents();
    let all = docs()
        .docs
        .iter()
        .map(|(_, d)| (d, false))
        .chain(custom.iter().map(|(_, d)| (d, true)));
    for (doc, of_crds) in all {
        if let Some(schemas) = doc
            .pointer("/components/schemas")
            .and_then(Value::as_object)
        {
            for (name, schema) in schemas {
                definitions.entry(name.clone()).or_insert_with(|| {
                    if of_crds {
                        let mut kind = schema.clone();
                        custom_kind_to_v2(&mut kind);
                        v3_schema_to_v2(&kind)
                    } else {
                        v3_schema_to_v2(schema)
                    }
                });
            }
        }
        if let Some(doc_paths) = doc.get("paths").and_then(Value::as_object) {
            for (path, ops) in doc_paths {
                let Some(ops) = ops.as_object() else { continue };
                let converted: Map<String, Value> = ops
                    .iter()
                    .map(|(method, op)| (method.clone(), v3_operation_to_v2(op)))
                    .collect();
                paths.insert(path.clone(), Value::Object(converted));
            }
        }
    }
    let doc = json!({
        "swagger": "2.0",
        "info": {"title": "minik8s", "version": format!("v{}.{}", crate::discovery::MAJOR, crate::discovery::MINOR)},
        "paths": paths,
        "definitions": definitions,
    });
    let etag = stable_hash(&doc.to_string());
    (doc, etag)
}

/// The v2 definition of a custom resource's kind, from its v3 one
/// (upstream's CRD OpenAPI builder for v2): a kind that keeps unknown
/// fields at its root is published as a bare `type: object` (an older
/// kubectl would refuse every field it does not list); any other has the
/// schema of its fields (not `metadata`, `apiVersion` and `kind`, which
/// the server adds) reduced to what Swagger 2.0 can say
/// ([`structural_to_v2`]).
fn custom_kind_to_v2(def: &mut Value) {
    let Some(map) = def.as_object_mut() else {
        return;
    };
    if !map.contains_key("x-kubernetes-group-version-kind") {
        return;
    }
    if map.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true)) {
        let gvk = map.remove("x-kubernetes-group-version-kind");
        map.clear();
        map.insert("type".into(), json!("object"));
        if let Some(gvk) = gvk {
            map.insert("x-kubernetes-group-version-kind".into(), gvk);
        }
        return;
    }
    let server_fields = ["metadata", "apiVersion", "kind"];
    let mut root = map.clone();
    if let Some(props) = root.get_mut("properties").and_then(Value::as_object_mut) {
        props.retain(|name, _| !server_fields.contains(&name.as_str()));
    }
    structural_to_v2(&mut root);
    let added: Vec<(String, Value)> = map
        .get("properties")
        .and_then(Value::as_object)
        .map(|p| {
            p.iter()
                .filter(|(name, _)| server_fields.contains(&name.as_str()))
                .map(|(n, v)| (n.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default();
    if !added.is_empty() {
        let props = root
            .entry("properties")
            .or_insert_with(|| json!({}))
            .as_object_mut();
        if let Some(props) = props {
            props.extend(added);
        }
    }
    *map = root;
}

/// Upstream's `ToStructuralOpenAPIV2`, on one node of a structural schema
/// and below: the junctors (`allOf`, `oneOf`, `anyOf`, `not`) go; a
/// `nullable` node and one that keeps unknown fields lose their `items`
/// and `properties` (kubectl cannot validate them), a nullable one its
/// type too, as does an array left without items and an object keeping
/// unknown fields; a nullable property is not `required` (nor is any,
/// under nullable `additionalProperties`).
fn structural_to_v2(node: &mut Map<String, Value>) {
    for junctor in ["allOf", "oneOf", "anyOf", "not"] {
        node.remove(junctor);
    }
    let is_true = |v: Option<&Value>| v == Some(&Value::Bool(true));
    let nullable = is_true(node.remove("nullable").as_ref());
    let preserve = is_true(node.get("x-kubernetes-preserve-unknown-fields"));
    if nullable {
        node.remove("type");
    }
    if nullable || preserve {
        node.remove("items");
        node.remove("properties");
    }
    let type_is = |node: &Map<String, Value>, t: &str| node.get("type") == Some(&json!(t));
    if !node.contains_key("items") && type_is(node, "array") {
        node.remove("type");
    }
    if preserve && type_is(node, "object") {
        node.remove("type");
    }
    let nullable_props: Vec<String> = node
        .get("properties")
        .and_then(Value::as_object)
        .map(|p| {
            p.iter()
                .filter(|(_, s)| is_true(s.get("nullable")))
                .map(|(n, _)| n.clone())
                .collect()
        })
        .unwrap_or_default();
    let nullable_values = node
        .get("additionalProperties")
        .is_some_and(|a| is_true(a.get("nullable")));
    if nullable_values {
        node.remove("required");
    } else if !nullable_props.is_empty() {
        if let Some(Value::Array(required)) = node.get_mut("required") {
            required.retain(|r| {
                !r.as_str()
                    .is_some_and(|r| nullable_props.iter().any(|n| n == r))
            });
            if required.is_empty() {
                node.remove("required");
            }
        }
    }
    if let Some(Value::Object(props)) = node.get_mut("properties") {
        for prop in props.values_mut().filter_map(Value::as_object_mut) {
            structural_to_v2(prop);
        }
    }
    match node.get_mut("items") {
        Some(Value::Object(items)) => structural_to_v2(items),
        Some(Value::Array(items)) => {
            for item in items.iter_mut().filter_map(Value::as_object_mut) {
                structural_to_v2(item);
            }
        }
        _ => {}
    }
    if let Some(Value::Object(values)) = node.get_mut("additionalProperties") {
        structural_to_v2(values);
    }
}

/// A v3 schema as a v2 one: references point into `definitions`, and
/// `nullable` (v3 only) goes.
fn v3_schema_to_v2(schema: &Value) -> Value {
    match schema {
        Value::Object(map) => {
            let mut out: Map<String, Value> = map
                .iter()
                .filter(|(k, _)| k.as_str() != "nullable")
                .map(|(k, v)| {
                    let v = match (k.as_str(), v) {
                        ("$ref", Value::String(r)) => {
                            Value::String(r.replace("#/components/schemas/", "#/definitions/"))
                        }
                        _ => v3_schema_to_v2(v),
                    };
                    (k.clone(), v)
                })
                .collect();
            // v3 wraps a described reference as `allOf: [{$ref}]`; v2 (and
            // upstream's document) puts `$ref` beside the description, which
            // is what v2 readers (kubectl's validation and explain) follow.
            let lone_ref = match out.get("allOf") {
                Some(Value::Array(all))
                    if all.len() == 1 && all[0].as_object().is_some_and(|o| o.len() == 1) =>
                {
                    all[0].get("$ref").cloned()
                }
                _ => None,
            };
            if let Some(r) = lone_ref {
                out.remove("allOf");
                out.insert("$ref".into(), r);
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(v3_schema_to_v2).collect()),
        other => other.clone(),
    }
}

/// A v3 operation as a v2 one: parameter types inline, the response
/// schema without its media type, and the media types listed.
fn v3_operation_to_v2(op: &Value) -> Value {
    let mut out = op.clone();
    let Some(map) = out.as_object_mut() else {
        return out;
    };
    if let Some(Value::Array(params)) = map.get_mut("parameters") {
        for p in params.iter_mut().filter_map(Value::as_object_mut) {
            if let Some(Value::Object(schema)) = p.remove("schema") {
                for (k, v) in schema {
                    p.insert(k, v);
                }
            }
        }
    }
    if let Some(Value::Object(responses)) = map.get_mut("responses") {
        for resp in responses.values_mut().filter_map(Value::as_object_mut) {
            if let Some(content) = resp.remove("content") {
                if let Some(schema) = content.pointer("/application~1json/schema") {
                    resp.insert("schema".into(), v3_schema_to_v2(schema));
                }
            }
        }
    }
    map.insert(
        "consumes".into(),
        json!(["application/json", "application/yaml"]),
    );
    map.insert(
        "produces".into(),
        json!(["application/json", "application/yaml"]),
    );
    map.insert("schemes".into(), json!(["https"]));
    out
}

/// Fields present (and not null) in what the client sent but absent from the
/// object decoded into its kind's type: unknown or misspelled fields, as
/// `.spec.replicaz`.
pub fn unknown_fields(sent: &Value, decoded: &Value) -> Vec<String> {
    let mut out = Vec::new();
    walk(sent, decoded, &mut String::new(), &mut out);
    out
}

fn walk(sent: &Value, decoded: &Value, path: &mut String, out: &mut Vec<String>) {
    match (sent, decoded) {
        (Value::Object(s), Value::Object(d)) => {
            for (k, v) in s {
                if v.is_null() {
                    continue;
                }
                let len = path.len();
                path.push('.');
                path.push_str(k);
                match d.get(k) {
                    Some(dv) => walk(v, dv, path, out),
                    None => out.push(path.clone()),
                }
                path.truncate(len);
            }
        }
        (Value::Array(s), Value::Array(d)) => {
            for (i, (sv, dv)) in s.iter().zip(d.iter()).enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                walk(sv, dv, path, out);
                path.truncate(len);
            }
        }
        _ => {}
    }
}

/// Keys that appear twice in the same JSON object of a raw body, as
/// `.metadata.name` (serde keeps the last one silently; Strict refuses).
pub fn duplicate_fields(raw: &[u8]) -> Vec<String> {
    use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
    use std::cell::RefCell;

    struct Seed<'a> {
        path: String,
        found: &'a RefCell<Vec<String>>,
    }

    impl<'de> DeserializeSeed<'de> for Seed<'_> {
        type Value = ();
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_any(self)
        }
    }

    impl<'de> Visitor<'de> for Seed<'_> {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("any JSON value")
        }
        fn visit_bool<E>(self, _: bool) -> Result<(), E> {
            Ok(())
        }
        fn visit_i64<E>(self, _: i64) -> Result<(), E> {
            Ok(())
        }
        fn visit_u64<E>(self, _: u64) -> Result<(), E> {
            Ok(())
        }
        fn visit_f64<E>(self, _: f64) -> Result<(), E> {
            Ok(())
        }
        fn visit_str<E>(self, _: &str) -> Result<(), E> {
            Ok(())
        }
        fn visit_unit<E>(self) -> Result<(), E> {
            Ok(())
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            let mut i = 0;
            while seq
                .next_element_seed(Seed {
                    path: format!("{}[{i}]", self.path),
                    found: self.found,
                })?
                .is_some()
            {
                i += 1;
            }
            Ok(())
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            let mut seen = std::collections::HashSet::new();
            while let Some(key) = map.next_key::<String>()? {
                let path = format!("{}.{key}", self.path);
                if !seen.insert(key) {
                    self.found.borrow_mut().push(path.clone());
                }
                map.next_value_seed(Seed {
                    path,
                    found: self.found,
                })?;
            }
            Ok(())
        }
    }

    let found = RefCell::new(Vec::new());
    let mut de = serde_json::Deserializer::from_slice(raw);
    let _ = Seed {
        path: String::new(),
        found: &found,
    }
    .deserialize(&mut de);
    found.into_inner()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_and_documents() {
        let index = v3_index();
        let url = index["paths"]["apis/apps/v1"]["serverRelativeURL"]
            .as_str()
            .unwrap_or_default();
        assert!(url.starts_with("/openapi/v3/apis/apps/v1?hash="));
        let doc = v3_document("apis/apps/v1").cloned().unwrap_or_default();
        let patch =
            &doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"];
        assert_eq!(
            patch["x-kubernetes-group-version-kind"]["kind"],
            "Deployment"
        );
        assert!(patch["parameters"]
            .as_array()
            .is_some_and(|p| p.iter().any(|p| p["name"] == "fieldValidation")));
        assert!(v3_document("apis/nope/v1").is_none());
        assert!(v3_document("api/v1").is_some());
    }

    #[test]
    fn operations_follow_the_served_verbs() {
        let doc = v3_document("apis/authorization.k8s.io/v1")
            .cloned()
            .unwrap_or_default();
        let reviews = &doc["paths"]["/apis/authorization.k8s.io/v1/subjectaccessreviews"];
        assert!(reviews["post"].is_object(), "{reviews}");
        assert!(reviews["get"].is_null() && reviews["delete"].is_null());
        assert!(
            doc["paths"]["/apis/authorization.k8s.io/v1/subjectaccessreviews/{name}"].is_null()
        );
        assert!(doc["components"]["schemas"]
            .as_object()
            .is_some_and(|s| s.keys().any(|k| k.contains("SubjectAccessReview"))));
        let core = v3_document("api/v1").cloned().unwrap_or_default();
        let cs = &core["paths"]["/api/v1/componentstatuses/{name}"];
        assert!(cs["get"].is_object() && cs["put"].is_null(), "{cs}");
    }

    #[test]
    fn duplicates() {
        let raw = br#"{"metadata": {"name": "a", "name": "b"}, "spec": {"x": [{"k": 1, "k": 2}]}}"#;
        assert_eq!(
            duplicate_fields(raw),
            vec![".metadata.name", ".spec.x[0].k"]
        );
        assert!(duplicate_fields(b"{\"a\": 1}").is_empty());
        assert!(duplicate_fields(b"garbage").is_empty());
    }

    #[test]
    fn custom_kinds_are_published_in_v2_as_upstream_does() {
        let gvk = json!([{"group": "g", "version": "v1", "kind": "K"}]);
        let meta = json!({"allOf": [{"$ref": "#/components/schemas/meta"}]});
        // Unknown fields kept at the root: a bare object.
        let mut open = json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true,
            "properties": {"metadata": meta, "spec": {"type": "object"}},
            "x-kubernetes-group-version-kind": gvk});
        custom_kind_to_v2(&mut open);
        assert_eq!(
            open,
            json!({"type": "object", "x-kubernetes-group-version-kind": gvk})
        );
        // Otherwise the fields are reduced to what v2 can say; the server's
        // own fields stay as they are.
        let mut kind = json!({"type": "object", "x-kubernetes-group-version-kind": gvk,
            "properties": {"metadata": meta,
                "spec": {"type": "object", "required": ["a", "b"], "properties": {
                    "a": {"type": "string", "nullable": true},
                    "b": {"type": "array", "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": true, "properties": {"x": {}}}},
                    "c": {"type": "array", "x-kubernetes-preserve-unknown-fields": true, "items": {"type": "string"}},
                    "d": {"anyOf": [{"type": "integer"}, {"type": "string"}], "x-kubernetes-int-or-string": true}}}}});
        custom_kind_to_v2(&mut kind);
        assert_eq!(
            kind,
            json!({"type": "object", "x-kubernetes-group-version-kind": gvk,
                "properties": {"metadata": meta,
                    "spec": {"type": "object", "required": ["b"], "properties": {
                        "a": {},
                        "b": {"type": "array", "items": {"x-kubernetes-preserve-unknown-fields": true}},
                        "c": {"x-kubernetes-preserve-unknown-fields": true},
                        "d": {"x-kubernetes-int-or-string": true}}}}})
        );
        // Lists and other schemas without a kind are left alone.
        let mut list = json!({"type": "object", "properties": {"items": {"type": "array"}}});
        let before = list.clone();
        custom_kind_to_v2(&mut list);
        assert_eq!(list, before);
    }

    #[test]
    fn unknown_fields_are_found_with_their_paths() {
        let sent = json!({"metadata": {"name": "a", "creationTimestamp": null},
            "spec": {"replicaz": 3, "template": {"spec": {"containers": [{"name": "c", "imagee": "x"}]}}}});
        let decoded = json!({"metadata": {"name": "a"},
            "spec": {"template": {"spec": {"containers": [{"name": "c"}]}}}});
        assert_eq!(
            unknown_fields(&sent, &decoded),
            vec![".spec.replicaz", ".spec.template.spec.containers[0].imagee"]
        );
    }
}
