//! `/openapi/v2` in the protobuf form kubectl asks for first
//! (`application/com.github.proto-openapi.spec.v2.v1.0+protobuf`: gnostic's
//! `openapi_v2.Document` message).
//!
//! kubectl validates what it sends against this document on the client side
//! whenever the server cannot do it: a `List` (as `kubectl get -o json`
//! prints) is not a kind the server serves, so `kubectl replace -f` of one
//! checks each item against the definitions here, and without a protobuf
//! answer it gives up ("the server was unable to respond with a content type
//! that the client supports").
//!
//! The message is written by hand from the JSON document
//! ([`crate::openapi::v2_document`]): `swagger`, `info` and every
//! `definitions` schema with all of its fields and `x-*` extensions (values
//! as YAML text, which JSON is, as gnostic keeps them). `paths` are left out:
//! the parsers kubectl feeds this document to (validation, `explain`, strategic
//! merge patch metadata) read only the definitions.

use std::sync::{Arc, Mutex};

use serde_json::Value;

/// The content type of the answer (also accepted with `@` before `v1.0`,
/// the older spelling kubectl still sends).
pub const CONTENT_TYPE: &str = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";

/// Whether an `Accept` header asks for the protobuf form.
pub fn wanted(accept: &str) -> bool {
    accept.contains("com.github.proto-openapi.spec.v2")
}

/// Protobuf wire types.
const VARINT: u64 = 0;
const FIXED64: u64 = 1;
const LEN: u64 = 2;

/// A protobuf message being written.
#[derive(Default)]
struct Message(Vec<u8>);

impl Message {
    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }

    fn key(&mut self, field: u64, wire: u64) {
        self.varint(field << 3 | wire);
    }

    fn bytes(&mut self, field: u64, b: &[u8]) {
        self.key(field, LEN);
        self.varint(b.len() as u64);
        self.0.extend_from_slice(b);
    }

    fn string(&mut self, field: u64, s: &str) {
        self.bytes(field, s.as_bytes());
    }

    fn message(&mut self, field: u64, m: Message) {
        self.bytes(field, &m.0);
    }

    fn int64(&mut self, field: u64, v: i64) {
        self.key(field, VARINT);
        self.varint(v as u64);
    }

    fn boolean(&mut self, field: u64, v: bool) {
        self.key(field, VARINT);
        self.varint(u64::from(v));
    }

    fn double(&mut self, field: u64, v: f64) {
        self.key(field, FIXED64);
        self.0.extend_from_slice(&v.to_le_bytes());
    }
}

/// gnostic's `Any`: the value as YAML text (field 2).
fn any(v: &Value) -> Message {
    let mut m = Message::default();
    m.string(2, &v.to_string());
    m
}

/// A `NamedSchema` / `NamedAny` pair: name (1), value (2).
fn named(name: &str, value: Message) -> Message {
    let mut m = Message::default();
    m.string(1, name);
    m.message(2, value);
    m
}

/// One Swagger 2.0 schema as gnostic's `Schema` message.
fn schema(s: &Value) -> Message {
    let mut m = Message::default();
    let Some(obj) = s.as_object() else {
        return m;
    };
    let text = |k: &str| obj.get(k).and_then(Value::as_str);
    for (field, key) in [(1, "$ref"), (2, "format"), (3, "title"), (4, "description")] {
        if let Some(v) = text(key) {
            m.string(field, v);
        }
    }
    if let Some(v) = obj.get("default") {
        m.message(5, any(v));
    }
    for (field, key) in [(6, "multipleOf"), (7, "maximum")] {
        if let Some(v) = obj.get(key).and_then(Value::as_f64) {
            m.double(field, v);
        }
    }
    if let Some(v) = obj.get("exclusiveMaximum").and_then(Value::as_bool) {
        m.boolean(8, v);
    }
    if let Some(v) = obj.get("minimum").and_then(Value::as_f64) {
        m.double(9, v);
    }
    if let Some(v) = obj.get("exclusiveMinimum").and_then(Value::as_bool) {
        m.boolean(10, v);
    }
    for (field, key) in [(11, "maxLength"), (12, "minLength")] {
        if let Some(v) = obj.get(key).and_then(Value::as_i64) {
            m.int64(field, v);
        }
    }
    if let Some(v) = text("pattern") {
        m.string(13, v);
    }
    for (field, key) in [(14, "maxItems"), (15, "minItems")] {
        if let Some(v) = obj.get(key).and_then(Value::as_i64) {
            m.int64(field, v);
        }
    }
    if let Some(v) = obj.get("uniqueItems").and_then(Value::as_bool) {
        m.boolean(16, v);
    }
    for (field, key) in [(17, "maxProperties"), (18, "minProperties")] {
        if let Some(v) = obj.get(key).and_then(Value::as_i64) {
            m.int64(field, v);
        }
    }
    for r in obj
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(r) = r.as_str() {
            m.string(19, r);
        }
    }
    for e in obj
        .get("enum")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        m.message(20, any(e));
    }
    match obj.get("additionalProperties") {
        Some(Value::Bool(b)) => {
            let mut item = Message::default();
            item.boolean(2, *b);
            m.message(21, item);
        }
        Some(v @ Value::Object(_)) => {
            let mut item = Message::default();
            item.message(1, schema(v));
            m.message(21, item);
        }
        _ => {}
    }
    let mut types = Message::default();
    match obj.get("type") {
        Some(Value::String(t)) => types.string(1, t),
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .for_each(|t| types.string(1, t)),
        _ => {}
    }
    if !types.0.is_empty() {
        m.message(22, types);
    }
    let mut items = Message::default();
    match obj.get("items") {
        Some(v @ Value::Object(_)) => items.message(1, schema(v)),
        Some(Value::Array(vs)) => vs.iter().for_each(|v| items.message(1, schema(v))),
        _ => {}
    }
    if !items.0.is_empty() {
        m.message(23, items);
    }
    for a in obj
        .get("allOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        m.message(24, schema(a));
    }
    if let Some(props) = obj.get("properties").and_then(Value::as_object) {
        let mut p = Message::default();
        for (name, s) in props {
            p.message(1, named(name, schema(s)));
        }
        m.message(25, p);
    }
    if let Some(v) = text("discriminator") {
        m.string(26, v);
    }
    if let Some(v) = obj.get("readOnly").and_then(Value::as_bool) {
        m.boolean(27, v);
    }
    if let Some(v) = obj.get("example") {
        m.message(30, any(v));
    }
    for (k, v) in obj.iter().filter(|(k, _)| k.starts_with("x-")) {
        m.message(31, named(k, any(v)));
    }
    m
}

/// The whole document as gnostic's `Document` message.
pub fn encode(doc: &Value) -> Vec<u8> {
    let mut m = Message::default();
    m.string(1, doc["swagger"].as_str().unwrap_or("2.0"));
    let mut info = Message::default();
    info.string(1, doc["info"]["title"].as_str().unwrap_or("Kubernetes"));
    info.string(2, doc["info"]["version"].as_str().unwrap_or(""));
    m.message(2, info);
    let mut definitions = Message::default();
    for (name, s) in doc["definitions"].as_object().into_iter().flatten() {
        definitions.message(1, named(name, schema(s)));
    }
    m.message(9, definitions);
    m.0
}

/// The encoded document for the JSON document with `etag`, encoded once
/// per ETag (the document changes only when CRDs do).
pub fn cached(doc: &Value, etag: &str) -> Arc<Vec<u8>> {
    static CACHE: Mutex<Option<(String, Arc<Vec<u8>>)>> = Mutex::new(None);
    let mut cache = CACHE.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((e, bytes)) = cache.as_ref() {
        if e == etag {
            return Arc::clone(bytes);
        }
    }
    let bytes = Arc::new(encode(doc));
    *cache = Some((etag.to_string(), Arc::clone(&bytes)));
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn varints_and_fields_are_written_as_protobuf_does() {
        let mut m = Message::default();
        m.int64(11, 300);
        assert_eq!(m.0, [0x58, 0xac, 0x02]);
        let mut m = Message::default();
        m.string(1, "2.0");
        assert_eq!(m.0, [0x0a, 3, b'2', b'.', b'0']);
        let mut m = Message::default();
        m.boolean(8, true);
        m.double(7, 1.0);
        assert_eq!(m.0[..2], [0x40, 1]);
        assert_eq!(m.0[2], 0x39);
        assert_eq!(m.0[3..], 1.0f64.to_le_bytes());
    }

    #[test]
    fn a_definition_keeps_its_types_properties_and_extensions() {
        let doc = json!({
            "swagger": "2.0",
            "info": {"title": "Kubernetes", "version": "v1.36.2"},
            "definitions": {"io.k8s.api.core.v1.Secret": {
                "type": "object",
                "required": ["metadata"],
                "properties": {"data": {"type": "object", "additionalProperties": {"type": "string", "format": "byte"}}},
                "x-kubernetes-group-version-kind": [{"group": "", "kind": "Secret", "version": "v1"}],
            }},
        });
        let bytes = encode(&doc);
        let text = String::from_utf8_lossy(&bytes);
        for needle in [
            "io.k8s.api.core.v1.Secret",
            "x-kubernetes-group-version-kind",
            r#"[{"group":"","kind":"Secret","version":"v1"}]"#,
            "data",
            "byte",
            "v1.36.2",
        ] {
            assert!(text.contains(needle), "{needle} missing");
        }
        // swagger (1) first, then info (2), then definitions (9).
        assert_eq!(bytes[0], 0x0a);
        assert!(bytes.contains(&(9 << 3 | 2)));
    }
}
