//! Decoding the Kubernetes protobuf encoding into JSON.
//!
//! client-go's typed clients (so every `kubectl create namespace|configmap|
//! secret|deployment|service|job ...`) send request bodies as
//! `Content-Type: application/vnd.kubernetes.protobuf`. The body is:
//!
//! ```text
//! "k8s\0"  +  runtime.Unknown { typeMeta { apiVersion, kind }, raw, contentEncoding, contentType }
//!                                                               ^^^ the object's own message
//! ```
//!
//! [`decode_to_json`] unwraps the envelope and decodes `raw` with the field
//! table in [`schema`] (generated from the upstream API by
//! `hack/gen-protobuf-schema.py`) into the same JSON the object would have had, so the
//! rest of the apiserver only ever sees JSON. (Answers stay JSON: kubectl's
//! typed clients send `Accept: application/vnd.kubernetes.protobuf,application/json`
//! and take the JSON.)
//!
//! Checked with kubectl 1.32 `-v=8`: the `kubectl create <generator>`
//! commands (namespace, configmap, secret, deployment, service, job,
//! `job --from=cronjob/..`, cronjob, serviceaccount, priorityclass...) POST
//! protobuf; `run`, `expose`, `apply`, `create -f`, `scale`, `delete`, the
//! evictions of `drain` and every patch send JSON. The golden tests decode
//! bodies recorded from kubectl (`testdata/*.pb`) and compare them with what
//! the same command prints with `--dry-run=client -o json`.
//!
//! Go's protobuf encoder writes non-pointer fields even when they hold their
//! zero value; Go's JSON encoder leaves empty strings and zero timestamps out.
//! The decoder does the same, so a decoded object looks like the JSON a client
//! would have sent.

pub mod schema;

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use base64::Engine as _;
use serde_json::{Map, Value};

/// A field's type, as the decoder turns it into JSON.
#[derive(Debug)]
pub enum T {
    /// A string.
    Str,
    /// An integer (int32/int64, varint encoded).
    Int,
    /// A boolean.
    Bool,
    /// Bytes, written in JSON as base64 (Secret data).
    Bytes,
    /// A floating point number.
    Float,
    /// `meta.v1.Time`: RFC 3339 in whole seconds (`2024-01-02T03:04:05Z`).
    Time,
    /// `meta.v1.MicroTime`: RFC 3339 with microseconds
    /// (`2024-01-02T03:04:05.123456Z`).
    MicroTime,
    /// `resource.Quantity`: its string form.
    Quantity,
    /// `intstr.IntOrString`: a number or a string.
    IntOrString,
    /// `runtime.RawExtension`: embedded JSON.
    Raw,
    /// `meta.v1.Duration`: a Go duration string.
    Duration,
    /// `meta.v1.FieldsV1`: embedded JSON.
    FieldsV1,
    /// Another message.
    Msg(&'static str),
    /// A message embedded in Go with `json:",inline"`: its fields belong to
    /// the enclosing JSON object (`EphemeralContainer` embeds
    /// `EphemeralContainerCommon`).
    Inline(&'static str),
    /// A repeated field.
    List(&'static T),
    /// A map from string keys.
    Map(&'static T),
}

/// One field: number, JSON name, type.
#[derive(Debug)]
pub struct F(pub u32, pub &'static str, pub T);

/// Why a protobuf body could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The body does not start with the `k8s\0` magic.
    #[error("not a Kubernetes protobuf body (missing the k8s\\0 prefix)")]
    NoMagic,
    /// The wire data is malformed.
    #[error("malformed protobuf: {0}")]
    Malformed(String),
    /// The envelope names a kind this server does not know how to decode.
    #[error(
        "cannot decode protobuf for apiVersion {api_version:?}, kind {kind:?}; send JSON instead"
    )]
    UnknownKind {
        /// The envelope's apiVersion.
        api_version: String,
        /// The envelope's kind.
        kind: String,
    },
    /// The envelope's content encoding is not supported.
    #[error("unsupported protobuf content encoding {0:?}")]
    Encoding(String),
}

const MAGIC: &[u8] = b"k8s\0";

/// Whether a zero number or `false` in this field is written in JSON: Go
/// pointers (an explicit `replicas: 0` is not "unset") and fields without
/// `omitempty`. Every other zero is left out, as Go's `omitempty` does (the
/// protobuf encoder writes plain fields even when zero, so presence alone
/// says nothing).
fn keeps_zero(message: &str, field: &str) -> bool {
    static SET: OnceLock<HashSet<String>> = OnceLock::new();
    SET.get_or_init(|| schema::KEEP_ZERO.iter().map(|q| q.to_string()).collect())
        .contains(&format!("{message}.{field}"))
}

fn messages() -> &'static HashMap<&'static str, &'static [F]> {
    static TABLE: OnceLock<HashMap<&'static str, &'static [F]>> = OnceLock::new();
    TABLE.get_or_init(|| schema::MESSAGES.iter().map(|(n, f)| (*n, *f)).collect())
}

/// Kinds that are meta/v1's whatever group version names them.
const META_OPTIONS: &[&str] = &[
    "DeleteOptions",
    "CreateOptions",
    "UpdateOptions",
    "PatchOptions",
    "GetOptions",
    "ListOptions",
];

/// The message name of an apiVersion/kind: `apps/v1` `Deployment` ->
/// `apps.v1.Deployment`.
pub fn message_name(api_version: &str, kind: &str) -> String {
    let (group, version) = match api_version.split_once('/') {
        Some((g, v)) => (g, v),
        None => ("", api_version),
    };
    let group = match group {
        // The option kinds are registered in every group version (client-go
        // sends an `apps/v1` DeleteOptions when it deletes a Deployment) and
        // are all meta/v1's.
        _ if META_OPTIONS.contains(&kind) => "meta",
        "" => "core",
        g => g.split('.').next().unwrap_or(g),
    };
    format!("{group}.{version}.{kind}")
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf, pos: 0 }
    }

    fn done(&self) -> bool {
        self.pos >= self.buf.len()
    }

    fn varint(&mut self) -> Result<u64, Error> {
        let mut out: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = *self
                .buf
                .get(self.pos)
                .ok_or_else(|| Error::Malformed("truncated varint".into()))?;
            self.pos += 1;
            out |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(out);
            }
        }
        Err(Error::Malformed("varint too long".into()))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], Error> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|e| *e <= self.buf.len())
            .ok_or_else(|| Error::Malformed("truncated field".into()))?;
        let out = &self.buf[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn bytes(&mut self) -> Result<&'a [u8], Error> {
        let len = usize::try_from(self.varint()?)
            .map_err(|_| Error::Malformed("length too large".into()))?;
        self.take(len)
    }

    /// The next (field number, wire type).
    fn key(&mut self) -> Result<(u32, u8), Error> {
        let k = self.varint()?;
        let field = u32::try_from(k >> 3).map_err(|_| Error::Malformed("field number".into()))?;
        Ok((field, (k & 7) as u8))
    }

    fn skip(&mut self, wire: u8) -> Result<(), Error> {
        match wire {
            0 => self.varint().map(|_| ()),
            1 => self.take(8).map(|_| ()),
            2 => self.bytes().map(|_| ()),
            5 => self.take(4).map(|_| ()),
            w => Err(Error::Malformed(format!("unsupported wire type {w}"))),
        }
    }
}

/// A decoded scalar or sub-message of one occurrence of a field.
fn value(reader: &mut Reader<'_>, wire: u8, ty: &T, depth: usize) -> Result<Value, Error> {
    if depth > 64 {
        return Err(Error::Malformed("messages nested too deeply".into()));
    }
    let need = |want: u8| -> Result<(), Error> {
        if wire == want {
            Ok(())
        } else {
            Err(Error::Malformed(format!(
                "wire type {wire}, expected {want}"
            )))
        }
    };
    Ok(match ty {
        T::Str => {
            need(2)?;
            let b = reader.bytes()?;
            Value::String(
                std::str::from_utf8(b)
                    .map_err(|_| Error::Malformed("string is not UTF-8".into()))?
                    .to_string(),
            )
        }
        T::Int => {
            need(0)?;
            Value::from(reader.varint()? as i64)
        }
        T::Bool => {
            need(0)?;
            Value::Bool(reader.varint()? != 0)
        }
        T::Float => match wire {
            1 => {
                let b = reader.take(8)?;
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                serde_json::Number::from_f64(f64::from_le_bytes(a))
                    .map(Value::Number)
                    .unwrap_or(Value::Null)
            }
            5 => {
                let b = reader.take(4)?;
                let mut a = [0u8; 4];
                a.copy_from_slice(b);
                serde_json::Number::from_f64(f64::from(f32::from_le_bytes(a)))
                    .map(Value::Number)
                    .unwrap_or(Value::Null)
            }
            w => return Err(Error::Malformed(format!("wire type {w} for a float"))),
        },
        T::Bytes => {
            need(2)?;
            Value::String(base64::engine::general_purpose::STANDARD.encode(reader.bytes()?))
        }
        T::Time | T::MicroTime => {
            need(2)?;
            let sub = decode_fields(reader.bytes()?)?;
            let field = |n: u32| sub.get(&n).and_then(|v| v.last()).copied().unwrap_or(0);
            // int64 seconds and int32 nanos, two's complement in the varint.
            format_time(field(1) as i64, field(2) as i64, matches!(ty, T::MicroTime))
        }
        T::Quantity | T::Raw | T::FieldsV1 | T::IntOrString | T::Duration => {
            need(2)?;
            special(reader.bytes()?, ty)?
        }
        T::Msg(name) => {
            need(2)?;
            let b = reader.bytes()?;
            decode_message(b, name, depth + 1)?
        }
        T::List(_) | T::Map(_) | T::Inline(_) => {
            return Err(Error::Malformed("nested repeated field".into()))
        }
    })
}

/// Scalar varint fields of a small message, by number (for Time etc.).
fn decode_fields(buf: &[u8]) -> Result<HashMap<u32, Vec<u64>>, Error> {
    let mut r = Reader::new(buf);
    let mut out: HashMap<u32, Vec<u64>> = HashMap::new();
    while !r.done() {
        let (field, wire) = r.key()?;
        if wire == 0 {
            out.entry(field).or_default().push(r.varint()?);
        } else {
            r.skip(wire)?;
        }
    }
    Ok(out)
}

/// The single bytes/string field 1 (and friends) of wrapper messages.
fn special(buf: &[u8], ty: &T) -> Result<Value, Error> {
    let mut r = Reader::new(buf);
    let (mut kind, mut int_val, mut str_val, mut raw, mut dur) = (0u64, 0i64, None, None, 0i64);
    while !r.done() {
        let (field, wire) = r.key()?;
        match (ty, field, wire) {
            (T::IntOrString, 1, 0) => kind = r.varint()?,
            (T::IntOrString, 2, 0) => int_val = r.varint()? as i64,
            (T::IntOrString, 3, 2) => str_val = Some(r.bytes()?),
            (T::Duration, 1, 0) => dur = r.varint()? as i64,
            (_, 1, 2) => raw = Some(r.bytes()?),
            (_, _, w) => r.skip(w)?,
        }
    }
    let text = |b: Option<&[u8]>| String::from_utf8_lossy(b.unwrap_or_default()).into_owned();
    Ok(match ty {
        T::IntOrString if kind == 1 => Value::String(text(str_val)),
        T::IntOrString => Value::from(int_val),
        T::Quantity => Value::String(text(raw)),
        T::Duration => Value::String(go_duration(dur)),
        _ => {
            let bytes = raw.unwrap_or_default();
            serde_json::from_slice(bytes).unwrap_or_else(|_| Value::String(text(Some(bytes))))
        }
    })
}

/// A `metav1.Time` (whole seconds) or `metav1.MicroTime` (microseconds) as
/// Go's JSON encoder writes it; the zero time is `null` (left out).
fn format_time(secs: i64, nanos: i64, micro: bool) -> Value {
    if secs == 0 && nanos == 0 {
        return Value::Null;
    }
    let nanos = u32::try_from(nanos.clamp(0, 999_999_999)).unwrap_or(0);
    match chrono::DateTime::from_timestamp(secs, nanos) {
        Some(t) if micro => Value::String(t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()),
        Some(t) => Value::String(t.format("%Y-%m-%dT%H:%M:%SZ").to_string()),
        None => Value::Null,
    }
}

/// Go's `time.Duration.String()` of a number of nanoseconds: `1h2m3s`,
/// `1.5s`, `300ms`, `0s` (what `metav1.Duration` marshals to).
fn go_duration(nanos: i64) -> String {
    if nanos == 0 {
        return "0s".into();
    }
    let sign = if nanos < 0 { "-" } else { "" };
    let n = nanos.unsigned_abs();
    // Below a second: one unit with a fraction (`1.5ms`).
    let frac = |v: u64, unit: u64, suffix: &str| {
        let whole = v / unit;
        let rest = v % unit;
        if rest == 0 {
            format!("{sign}{whole}{suffix}")
        } else {
            let digits = unit.ilog10() as usize;
            let f = format!("{rest:0digits$}");
            format!("{sign}{whole}.{}{suffix}", f.trim_end_matches('0'))
        }
    };
    if n < 1_000 {
        return format!("{sign}{n}ns");
    }
    if n < 1_000_000 {
        return frac(n, 1_000, "µs");
    }
    if n < 1_000_000_000 {
        return frac(n, 1_000_000, "ms");
    }
    let (h, rest) = (n / 3_600_000_000_000, n % 3_600_000_000_000);
    let (m, rest) = (rest / 60_000_000_000, rest % 60_000_000_000);
    let secs = frac(rest, 1_000_000_000, "s");
    let secs = secs.trim_start_matches('-');
    match (h, m) {
        (0, 0) => format!("{sign}{secs}"),
        (0, m) => format!("{sign}{m}m{secs}"),
        (h, m) => format!("{sign}{h}h{m}m{secs}"),
    }
}

fn is_packable(ty: &T) -> bool {
    matches!(ty, T::Int | T::Bool | T::Float)
}

/// Decodes one message into a JSON object.
fn decode_message(buf: &[u8], name: &str, depth: usize) -> Result<Value, Error> {
    let fields = messages()
        .get(name)
        .ok_or_else(|| Error::Malformed(format!("no schema for message {name}")))?;
    let mut out = Map::new();
    let mut r = Reader::new(buf);
    while !r.done() {
        let (number, wire) = r.key()?;
        let Some(F(_, json_name, ty)) = fields.iter().find(|f| f.0 == number) else {
            // A field this table does not know (newer than it): skipped, as
            // protobuf decoders do.
            r.skip(wire)?;
            continue;
        };
        match ty {
            T::List(inner) => {
                let list = out
                    .entry(json_name.to_string())
                    .or_insert_with(|| Value::Array(Vec::new()));
                let Some(items) = list.as_array_mut() else {
                    continue;
                };
                if wire == 2 && is_packable(inner) {
                    let packed = r.bytes()?;
                    let mut pr = Reader::new(packed);
                    while !pr.done() {
                        let w = if matches!(inner, T::Float) { 1 } else { 0 };
                        items.push(value(&mut pr, w, inner, depth)?);
                    }
                } else {
                    items.push(value(&mut r, wire, inner, depth)?);
                }
            }
            T::Map(val_ty) => {
                if wire != 2 {
                    return Err(Error::Malformed(format!(
                        "map field {json_name} is not length-delimited"
                    )));
                }
                let entry = r.bytes()?;
                let mut er = Reader::new(entry);
                let (mut key, mut val) = (String::new(), None);
                while !er.done() {
                    let (f, w) = er.key()?;
                    match f {
                        1 => {
                            key = match value(&mut er, w, &T::Str, depth)? {
                                Value::String(s) => s,
                                other => other.to_string(),
                            }
                        }
                        2 => val = Some(value(&mut er, w, val_ty, depth)?),
                        _ => er.skip(w)?,
                    }
                }
                let val = val.unwrap_or_else(|| match val_ty {
                    T::Str | T::Bytes => Value::String(String::new()),
                    _ => Value::Null,
                });
                let map = out
                    .entry(json_name.to_string())
                    .or_insert_with(|| Value::Object(Map::new()));
                if let Some(m) = map.as_object_mut() {
                    m.insert(key, val);
                }
            }
            T::Inline(inner) => {
                if wire != 2 {
                    return Err(Error::Malformed(format!(
                        "embedded field {json_name} is not length-delimited"
                    )));
                }
                let b = r.bytes()?;
                if let Value::Object(fields) = decode_message(b, inner, depth + 1)? {
                    out.extend(fields);
                }
            }
            _ => {
                let v = value(&mut r, wire, ty, depth)?;
                // Go's JSON encoder omits empty strings and zero times.
                let empty = match &v {
                    Value::Null => true,
                    Value::String(s) => s.is_empty() && !matches!(ty, T::Quantity | T::IntOrString),
                    Value::Number(n) if matches!(ty, T::Int) => {
                        n.as_i64() == Some(0) && !keeps_zero(name, json_name)
                    }
                    Value::Bool(false) => !keeps_zero(name, json_name),
                    _ => false,
                };
                if !empty {
                    out.insert(json_name.to_string(), v);
                }
            }
        }
    }
    Ok(json_form(name, out))
}

/// The JSON of a message: its fields as an object, except for the messages
/// whose Go types write themselves as one of their fields (a custom
/// `MarshalJSON`): the schema unions of CustomResourceDefinitions. A CRD's
/// `items` is a schema (or a list of schemas), never `{"schema": ...}`;
/// `additionalProperties` a schema or a bool; a `dependencies` entry a
/// schema or a list of property names.
fn json_form(name: &str, mut fields: Map<String, Value>) -> Value {
    let non_empty_list =
        |v: Option<Value>| v.filter(|l| l.as_array().is_some_and(|a| !a.is_empty()));
    match name {
        "apiextensions.v1.JSONSchemaPropsOrArray" => non_empty_list(fields.remove("jSONSchemas"))
            .or_else(|| fields.remove("schema"))
            .unwrap_or(Value::Null),
        "apiextensions.v1.JSONSchemaPropsOrBool" => fields.remove("schema").unwrap_or_else(|| {
            Value::Bool(
                fields
                    .get("allows")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
            )
        }),
        "apiextensions.v1.JSONSchemaPropsOrStringArray" => {
            non_empty_list(fields.remove("property"))
                .or_else(|| fields.remove("schema"))
                .unwrap_or(Value::Null)
        }
        _ => Value::Object(fields),
    }
}

/// Decodes a `application/vnd.kubernetes.protobuf` body into JSON (see the
/// module docs).
pub fn decode_to_json(body: &[u8]) -> Result<Value, Error> {
    let envelope = body.strip_prefix(MAGIC).ok_or(Error::NoMagic)?;
    let unknown = decode_message(envelope, "runtime.Unknown", 0)?;
    let api_version = unknown
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let kind = unknown
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if let Some(enc) = unknown.get("contentEncoding").and_then(Value::as_str) {
        if !enc.is_empty() {
            return Err(Error::Encoding(enc.to_string()));
        }
    }
    let raw = unknown
        .get("raw")
        .and_then(Value::as_str)
        .map(|b64| base64::engine::general_purpose::STANDARD.decode(b64))
        .transpose()
        .map_err(|_| Error::Malformed("envelope raw bytes".into()))?
        .unwrap_or_default();
    let name = message_name(&api_version, &kind);
    if !messages().contains_key(name.as_str()) {
        return Err(Error::UnknownKind { api_version, kind });
    }
    let mut obj = decode_message(&raw, &name, 0)?;
    if let Some(m) = obj.as_object_mut() {
        m.insert("apiVersion".into(), Value::String(api_version));
        m.insert("kind".into(), Value::String(kind));
    }
    Ok(obj)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn varint(mut v: u64, out: &mut Vec<u8>) {
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(b);
                return;
            }
            out.push(b | 0x80);
        }
    }

    fn field_bytes(n: u32, b: &[u8], out: &mut Vec<u8>) {
        varint(u64::from(n) << 3 | 2, out);
        varint(b.len() as u64, out);
        out.extend_from_slice(b);
    }

    fn field_varint(n: u32, v: u64, out: &mut Vec<u8>) {
        varint(u64::from(n) << 3, out);
        varint(v, out);
    }

    /// The number of a field, from the generated table.
    fn num(message: &str, json_name: &str) -> u32 {
        messages()
            .get(message)
            .and_then(|fields| fields.iter().find(|f| f.1 == json_name))
            .map(|f| f.0)
            .unwrap_or_else(|| panic!("{message}.{json_name} is not in the schema"))
    }

    /// A CRD schema's unions read as Go writes them: `items` is the item
    /// schema itself, `additionalProperties` a schema or a bool, a
    /// `dependencies` entry a list of names.
    #[test]
    fn schema_unions_are_written_as_their_one_field() {
        const PROPS: &str = "apiextensions.v1.JSONSchemaProps";
        let mut item = Vec::new();
        field_bytes(num(PROPS, "type"), b"object", &mut item);
        field_bytes(num(PROPS, "required"), b"name", &mut item);
        let mut items = Vec::new();
        field_bytes(
            num("apiextensions.v1.JSONSchemaPropsOrArray", "schema"),
            &item,
            &mut items,
        );
        let mut allows = Vec::new();
        field_varint(
            num("apiextensions.v1.JSONSchemaPropsOrBool", "allows"),
            1,
            &mut allows,
        );
        let mut names = Vec::new();
        field_bytes(
            num("apiextensions.v1.JSONSchemaPropsOrStringArray", "property"),
            b"a",
            &mut names,
        );
        let mut entry = Vec::new();
        field_bytes(1, b"x", &mut entry);
        field_bytes(2, &names, &mut entry);
        let mut schema = Vec::new();
        field_bytes(num(PROPS, "type"), b"array", &mut schema);
        field_bytes(num(PROPS, "items"), &items, &mut schema);
        field_bytes(num(PROPS, "additionalProperties"), &allows, &mut schema);
        field_bytes(num(PROPS, "dependencies"), &entry, &mut schema);
        let json = decode_message(&schema, PROPS, 0).expect("decodes");
        assert_eq!(
            json,
            serde_json::json!({"type": "array",
                "items": {"type": "object", "required": ["name"]},
                "additionalProperties": true,
                "dependencies": {"x": ["a"]}})
        );
        let refused = decode_message(&[], "apiextensions.v1.JSONSchemaPropsOrBool", 0);
        assert_eq!(refused.expect("decodes"), Value::Bool(false));
    }

    /// Go embeds some structs with `json:",inline"`: their fields belong to
    /// the enclosing JSON object (a volume's `configMap`, a probe's `exec`, a
    /// key selector's `name`), not to a nested one.
    #[test]
    fn inlined_structs_land_in_their_parent() {
        let mut reference = Vec::new();
        field_bytes(
            num("core.v1.LocalObjectReference", "name"),
            b"cfg",
            &mut reference,
        );
        let mut config_map = Vec::new();
        field_bytes(
            num("core.v1.ConfigMapVolumeSource", "localObjectReference"),
            &reference,
            &mut config_map,
        );
        field_varint(
            num("core.v1.ConfigMapVolumeSource", "defaultMode"),
            0o644,
            &mut config_map,
        );
        let mut source = Vec::new();
        field_bytes(
            num("core.v1.VolumeSource", "configMap"),
            &config_map,
            &mut source,
        );
        let mut volume = Vec::new();
        field_bytes(num("core.v1.Volume", "name"), b"v", &mut volume);
        field_bytes(num("core.v1.Volume", "volumeSource"), &source, &mut volume);

        let mut exec = Vec::new();
        field_bytes(num("core.v1.ExecAction", "command"), b"true", &mut exec);
        let mut handler = Vec::new();
        field_bytes(num("core.v1.ProbeHandler", "exec"), &exec, &mut handler);
        let mut probe = Vec::new();
        field_bytes(num("core.v1.Probe", "handler"), &handler, &mut probe);
        field_varint(num("core.v1.Probe", "periodSeconds"), 1, &mut probe);
        let mut key_ref = Vec::new();
        field_bytes(
            num("core.v1.ConfigMapKeySelector", "localObjectReference"),
            &reference,
            &mut key_ref,
        );
        field_bytes(
            num("core.v1.ConfigMapKeySelector", "key"),
            b"k",
            &mut key_ref,
        );
        let mut value_from = Vec::new();
        field_bytes(
            num("core.v1.EnvVarSource", "configMapKeyRef"),
            &key_ref,
            &mut value_from,
        );
        let mut env = Vec::new();
        field_bytes(num("core.v1.EnvVar", "name"), b"E", &mut env);
        field_bytes(num("core.v1.EnvVar", "valueFrom"), &value_from, &mut env);
        let mut container = Vec::new();
        field_bytes(num("core.v1.Container", "name"), b"c", &mut container);
        field_bytes(
            num("core.v1.Container", "livenessProbe"),
            &probe,
            &mut container,
        );
        field_bytes(num("core.v1.Container", "env"), &env, &mut container);
        let mut spec = Vec::new();
        field_bytes(num("core.v1.PodSpec", "volumes"), &volume, &mut spec);
        field_bytes(num("core.v1.PodSpec", "containers"), &container, &mut spec);
        let mut pod = Vec::new();
        field_bytes(num("core.v1.Pod", "spec"), &spec, &mut pod);

        let got = decode_to_json(&envelope("v1", "Pod", &pod)).expect("decodes");
        assert_eq!(
            got["spec"]["volumes"][0],
            serde_json::json!({"name": "v", "configMap": {"name": "cfg", "defaultMode": 420}})
        );
        let c = &got["spec"]["containers"][0];
        assert_eq!(
            c["livenessProbe"],
            serde_json::json!({"exec": {"command": ["true"]}, "periodSeconds": 1})
        );
        assert_eq!(
            c["env"][0]["valueFrom"],
            serde_json::json!({"configMapKeyRef": {"name": "cfg", "key": "k"}})
        );
    }

    /// client-go sends the DeleteOptions of a Deployment as `apps/v1`.
    #[test]
    fn delete_options_in_any_group_version() {
        let mut opts = Vec::new();
        field_varint(
            num("meta.v1.DeleteOptions", "gracePeriodSeconds"),
            0,
            &mut opts,
        );
        field_bytes(
            num("meta.v1.DeleteOptions", "propagationPolicy"),
            b"Foreground",
            &mut opts,
        );
        for api_version in ["v1", "apps/v1", "batch/v1", "meta.k8s.io/v1"] {
            let got =
                decode_to_json(&envelope(api_version, "DeleteOptions", &opts)).expect("decodes");
            assert_eq!(got["gracePeriodSeconds"], 0, "{api_version}");
            assert_eq!(got["propagationPolicy"], "Foreground", "{api_version}");
        }
    }

    fn envelope(api_version: &str, kind: &str, raw: &[u8]) -> Vec<u8> {
        let mut tm = Vec::new();
        field_bytes(1, api_version.as_bytes(), &mut tm);
        field_bytes(2, kind.as_bytes(), &mut tm);
        let mut unknown = Vec::new();
        field_bytes(1, &tm, &mut unknown);
        field_bytes(2, raw, &mut unknown);
        field_bytes(3, b"", &mut unknown);
        field_bytes(4, b"", &mut unknown);
        let mut out = MAGIC.to_vec();
        out.extend(unknown);
        out
    }

    #[test]
    fn configmap_with_labels_and_empty_fields() {
        let mut meta = Vec::new();
        field_bytes(1, b"cfg", &mut meta);
        field_bytes(2, b"", &mut meta); // generateName "" is left out
        let mut label = Vec::new();
        field_bytes(1, b"app", &mut label);
        field_bytes(2, b"web", &mut label);
        field_bytes(11, &label, &mut meta);
        field_bytes(8, b"", &mut meta); // zero creationTimestamp
        let mut cm = Vec::new();
        field_bytes(1, &meta, &mut cm);
        let mut entry = Vec::new();
        field_bytes(1, b"k", &mut entry);
        field_bytes(2, b"v", &mut entry);
        field_bytes(2, &entry, &mut cm);
        field_varint(4, 1, &mut cm);
        let v = decode_to_json(&envelope("v1", "ConfigMap", &cm)).unwrap_or_default();
        assert_eq!(
            v,
            serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "cfg", "labels": {"app": "web"}},
                "data": {"k": "v"}, "immutable": true})
        );
    }

    #[test]
    fn deployment_with_nested_template_and_int_or_string() {
        let mut container = Vec::new();
        field_bytes(1, b"web", &mut container);
        field_bytes(2, b"nginx", &mut container);
        let mut pod_spec = Vec::new();
        field_bytes(2, &container, &mut pod_spec);
        let mut template = Vec::new();
        field_bytes(2, &pod_spec, &mut template);
        let mut ios = Vec::new();
        field_varint(1, 1, &mut ios);
        field_bytes(3, b"25%", &mut ios);
        let mut ru = Vec::new();
        field_bytes(1, &ios, &mut ru);
        let mut strategy = Vec::new();
        field_bytes(1, b"RollingUpdate", &mut strategy);
        field_bytes(2, &ru, &mut strategy);
        let mut spec = Vec::new();
        field_varint(1, 3, &mut spec);
        field_bytes(3, &template, &mut spec);
        field_bytes(4, &strategy, &mut spec);
        let mut d = Vec::new();
        field_bytes(2, &spec, &mut d);
        let v = decode_to_json(&envelope("apps/v1", "Deployment", &d)).unwrap_or_default();
        assert_eq!(v["spec"]["replicas"], 3);
        assert_eq!(
            v["spec"]["template"]["spec"]["containers"][0]["image"],
            "nginx"
        );
        assert_eq!(
            v["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"],
            "25%"
        );
    }

    #[test]
    fn names_and_errors() {
        assert_eq!(message_name("v1", "Pod"), "core.v1.Pod");
        assert_eq!(message_name("apps/v1", "Deployment"), "apps.v1.Deployment");
        assert_eq!(
            message_name("coordination.k8s.io/v1", "Lease"),
            "coordination.v1.Lease"
        );
        assert!(matches!(decode_to_json(b"{}"), Err(Error::NoMagic)));
        assert!(matches!(
            decode_to_json(&envelope("example.com/v1", "Widget", b"")),
            Err(Error::UnknownKind { .. })
        ));
    }

    /// Go's JSON of an object with the `null`s left out (`creationTimestamp:
    /// null` means the same as no creationTimestamp).
    fn without_nulls(v: Value) -> Value {
        match v {
            Value::Object(m) => Value::Object(
                m.into_iter()
                    .filter(|(_, v)| !v.is_null())
                    .map(|(k, v)| (k, without_nulls(v)))
                    .collect(),
            ),
            Value::Array(a) => Value::Array(a.into_iter().map(without_nulls).collect()),
            v => v,
        }
    }

    /// Bodies captured from the real kubectl 1.32 (`kubectl create ...`
    /// through a recording proxy), next to what the same command prints with
    /// `--dry-run=client -o json`: decoding the protobuf must give the JSON.
    #[test]
    fn golden_bodies_from_kubectl() {
        let cases: &[(&str, &[u8], &str)] = &[
            (
                "namespace",
                include_bytes!("testdata/namespace.pb"),
                include_str!("testdata/namespace.json"),
            ),
            (
                "configmap",
                include_bytes!("testdata/configmap.pb"),
                include_str!("testdata/configmap.json"),
            ),
            (
                "secret",
                include_bytes!("testdata/secret.pb"),
                include_str!("testdata/secret.json"),
            ),
            (
                "deployment",
                include_bytes!("testdata/deployment.pb"),
                include_str!("testdata/deployment.json"),
            ),
            (
                "deployment-zero-replicas",
                include_bytes!("testdata/deployment-zero-replicas.pb"),
                include_str!("testdata/deployment-zero-replicas.json"),
            ),
            (
                "service",
                include_bytes!("testdata/service.pb"),
                include_str!("testdata/service.json"),
            ),
            (
                "job",
                include_bytes!("testdata/job.pb"),
                include_str!("testdata/job.json"),
            ),
            (
                "job-from-cronjob",
                include_bytes!("testdata/job-from-cronjob.pb"),
                include_str!("testdata/job-from-cronjob.json"),
            ),
            (
                "cronjob",
                include_bytes!("testdata/cronjob.pb"),
                include_str!("testdata/cronjob.json"),
            ),
            (
                "serviceaccount",
                include_bytes!("testdata/serviceaccount.pb"),
                include_str!("testdata/serviceaccount.json"),
            ),
            (
                "priorityclass",
                include_bytes!("testdata/priorityclass.pb"),
                include_str!("testdata/priorityclass.json"),
            ),
        ];
        for (name, pb, json) in cases {
            let got = decode_to_json(pb).unwrap_or_else(|e| panic!("{name}: {e}"));
            let want: Value = serde_json::from_str(json).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(got, without_nulls(want), "{name}");
        }
    }

    #[test]
    fn times_and_durations() {
        assert_eq!(format_time(0, 0, false), Value::Null);
        assert_eq!(format_time(1_700_000_000, 5, false), "2023-11-14T22:13:20Z");
        assert_eq!(
            format_time(1_700_000_000, 123_456_789, true),
            "2023-11-14T22:13:20.123456Z"
        );
        assert_eq!(
            format_time(1_700_000_000, 0, true),
            "2023-11-14T22:13:20.000000Z"
        );
        assert_eq!(format_time(i64::MAX, 0, false), Value::Null);
        for (nanos, want) in [
            (0, "0s"),
            (999, "999ns"),
            (1_500, "1.5µs"),
            (300_000_000, "300ms"),
            (1_500_000_000, "1.5s"),
            (90_000_000_000, "1m30s"),
            (3_600_000_000_000, "1h0m0s"),
            (3_723_000_000_000, "1h2m3s"),
            (-2_000_000_000, "-2s"),
        ] {
            assert_eq!(go_duration(nanos), want, "{nanos}");
        }
        // A Lease with MicroTime renewTime, and an EphemeralContainer whose
        // embedded common fields land in its own object.
        let mut ts = Vec::new();
        field_varint(1, 1_700_000_000, &mut ts);
        field_varint(2, 250_000_000, &mut ts);
        let mut spec = Vec::new();
        field_bytes(1, b"sched-1", &mut spec);
        field_bytes(4, &ts, &mut spec);
        let mut lease = Vec::new();
        field_bytes(2, &spec, &mut lease);
        let v = decode_to_json(&envelope("coordination.k8s.io/v1", "Lease", &lease))
            .unwrap_or_default();
        assert_eq!(v["spec"]["renewTime"], "2023-11-14T22:13:20.250000Z");
        assert_eq!(v["spec"]["holderIdentity"], "sched-1");

        let mut common = Vec::new();
        field_bytes(1, b"debug", &mut common);
        field_bytes(2, b"busybox", &mut common);
        let mut eph = Vec::new();
        field_bytes(1, &common, &mut eph);
        field_bytes(2, b"app", &mut eph);
        let mut pod_spec = Vec::new();
        field_bytes(34, &eph, &mut pod_spec);
        let mut pod = Vec::new();
        field_bytes(2, &pod_spec, &mut pod);
        let v = decode_to_json(&envelope("v1", "Pod", &pod)).unwrap_or_default();
        assert_eq!(
            v["spec"]["ephemeralContainers"][0],
            serde_json::json!({"name": "debug", "image": "busybox", "targetContainerName": "app"})
        );
    }

    /// Real bodies with bytes flipped, dropped and cut short: errors or
    /// odd objects, never a panic.
    #[test]
    fn mutated_kubectl_bodies_never_panic() {
        let bodies: [&[u8]; 3] = [
            include_bytes!("testdata/deployment.pb"),
            include_bytes!("testdata/job-from-cronjob.pb"),
            include_bytes!("testdata/secret.pb"),
        ];
        let mut seed: u64 = 7;
        let mut next = move || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) as usize
        };
        for body in bodies {
            for cut in 0..body.len() {
                let _ = decode_to_json(&body[..cut]);
            }
            for _ in 0..2000 {
                let mut m = body.to_vec();
                for _ in 0..1 + next() % 4 {
                    let i = 4 + next() % (m.len() - 4);
                    match next() % 3 {
                        0 => m[i] ^= 1 << (next() % 8),
                        1 => m[i] = next() as u8,
                        _ => {
                            m.remove(i);
                        }
                    }
                }
                let _ = decode_to_json(&m);
            }
        }
    }

    #[test]
    fn garbage_never_panics() {
        let mut seed: u64 = 42;
        for len in 0..400 {
            let mut body = MAGIC.to_vec();
            for _ in 0..len {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                body.push((seed >> 33) as u8);
            }
            let _ = decode_to_json(&body);
            let inner = body[4..].to_vec();
            let _ = decode_to_json(&envelope("apps/v1", "Deployment", &inner));
        }
    }
}
