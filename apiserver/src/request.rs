//! Understanding a request: which resource, which object, which verb.
//!
//! Kubernetes URLs are regular enough to be parsed into a [`RequestInfo`]
//! once, before anything else happens (upstream calls this the
//! RequestInfoResolver):
//!
//! ```text
//! /api/v1/namespaces/default/pods/web-1/status
//!  ^^^ ^^            ^^^^^^^ ^^^^ ^^^^^ ^^^^^^
//!  |   version       ns      res  name  subresource
//!  legacy core group (/apis/<group>/<version>/... for the others)
//! ```
//!
//! plus the HTTP method turned into a Kubernetes verb (`GET` on a collection is
//! `list`, or `watch` with `?watch=true`; `DELETE` on a collection is
//! `deletecollection`). This module also decodes bodies (JSON or YAML, with a
//! size limit) and the common query parameters.

use apimachinery::resources::{ResourceInfo, Subresource};
use bytes::Bytes;
use http::{HeaderMap, Method};
use serde_json::Value;

use crate::errors::ApiError;

/// The Kubernetes verb of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    /// GET of one object.
    Get,
    /// GET of a collection.
    List,
    /// GET of a collection with `watch=true` (or the legacy `/watch/` path).
    Watch,
    /// POST to a collection (or to a create-only subresource).
    Create,
    /// PUT of one object.
    Update,
    /// PATCH of one object.
    Patch,
    /// DELETE of one object.
    Delete,
    /// DELETE of a collection.
    DeleteCollection,
    /// OPTIONS, which only a proxy subresource passes on (to the pod, the
    /// service's endpoint or the node).
    Options,
}

impl Verb {
    /// The lower-case verb, as in discovery and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "get",
            Verb::List => "list",
            Verb::Watch => "watch",
            Verb::Create => "create",
            Verb::Update => "update",
            Verb::Patch => "patch",
            Verb::Delete => "delete",
            Verb::DeleteCollection => "deletecollection",
            Verb::Options => "options",
        }
    }
}

/// Everything the URL and method say about a resource request.
#[derive(Debug, Clone)]
pub struct RequestInfo {
    /// The resource's row in the table.
    pub resource: &'static ResourceInfo,
    /// The namespace from the path (none for cluster-scoped resources and
    /// all-namespace lists).
    pub namespace: Option<String>,
    /// The object name (none for collections).
    pub name: Option<String>,
    /// The subresource, if any.
    pub subresource: Option<Subresource>,
    /// The verb.
    pub verb: Verb,
}

/// Parses `/api/...` or `/apis/...` paths of resources. `Ok(None)` for paths
/// that are not resource paths (discovery documents).
pub fn parse(method: &Method, path: &str, query_watch: bool) -> Result<RequestInfo, ApiError> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, rest) = match parts.as_slice() {
        ["api", version, rest @ ..] => ("", *version, rest),
        ["apis", group, version, rest @ ..] => (*group, *version, rest),
        _ => return Err(not_found_path(path)),
    };
    let mut rest: Vec<&str> = rest.to_vec();
    let mut watch = query_watch;
    if rest.first() == Some(&"watch") {
        // Legacy `/api/v1/watch/...` paths.
        watch = true;
        rest.remove(0);
    }
    let mut namespace = None;
    if rest.first() == Some(&"namespaces") && rest.len() > 1 {
        namespace = Some(rest[1].to_string());
        // `/namespaces/<ns>/status` and `/finalize` are subresources of the
        // namespace itself, everything else names a resource inside it.
        if rest.len() > 2 && rest[2] != "status" && rest[2] != "finalize" {
            rest.drain(..2);
        } else {
            namespace = None;
        }
    }
    let (plural, name, sub) = match rest.as_slice() {
        [plural] => (*plural, None, None),
        [plural, name] => (*plural, Some(*name), None),
        [plural, name, sub] => (*plural, Some(*name), Some(*sub)),
        // pods/<name>/proxy/<path...>
        [plural, name, sub, ..] if *sub == "proxy" => (*plural, Some(*name), Some(*sub)),
        _ => return Err(not_found_path(path)),
    };
    let resource =
        crate::apiextensions::find(group, version, plural).ok_or_else(|| not_found_path(path))?;
    if !resource.namespaced && namespace.is_some() {
        return Err(not_found_path(path));
    }
    let subresource = match sub {
        None => None,
        Some(s) => match Subresource::from_name(s) {
            Some(sr) if resource.has_subresource(sr) => Some(sr),
            _ => return Err(not_found_path(path)),
        },
    };
    if let Some(n) = name {
        if n.is_empty() {
            return Err(not_found_path(path));
        }
    }
    // HEAD reads like GET (upstream's request info does the same); what is
    // served for it is the GET answer without its body.
    let verb = match (method.as_str(), name.is_some()) {
        ("OPTIONS", true) if subresource == Some(Subresource::Proxy) => Verb::Options,
        ("GET" | "HEAD", true) => {
            if watch {
                Verb::Watch
            } else {
                Verb::Get
            }
        }
        ("GET" | "HEAD", false) => {
            if watch {
                Verb::Watch
            } else {
                Verb::List
            }
        }
        ("POST", _) => Verb::Create,
        ("PUT", true) => Verb::Update,
        ("PATCH", true) => Verb::Patch,
        ("DELETE", true) => Verb::Delete,
        ("DELETE", false) => Verb::DeleteCollection,
        (m, _) => {
            return Err(ApiError::MethodNotAllowed(format!(
                "the server does not allow this method on the requested resource: {m} {path}"
            )))
        }
    };
    Ok(RequestInfo {
        resource,
        namespace,
        name: name.map(str::to_string),
        subresource,
        verb,
    })
}

fn not_found_path(path: &str) -> ApiError {
    ApiError::NotFoundPath(format!(
        "the server could not find the requested resource ({path})"
    ))
}

/// Body formats the apiserver reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFormat {
    /// `application/json` (also the default when no content type is sent).
    Json,
    /// `application/yaml`.
    Yaml,
    /// `application/vnd.kubernetes.protobuf` (client-go's typed clients).
    Protobuf,
}

/// The media type of the request body, without parameters.
pub fn content_type(headers: &HeaderMap) -> String {
    headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default()
}

/// Decodes a JSON or YAML body into a JSON value. Malformed input is a 400
/// that says what was wrong and where.
pub fn decode_body(body: &Bytes, format: BodyFormat) -> Result<Value, ApiError> {
    if body.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(ApiError::BadRequest("the request body is empty".into()));
    }
    match format {
        BodyFormat::Json => serde_json::from_slice(body).map_err(|e| {
            ApiError::BadRequest(format!("the body of the request was not valid JSON: {e}"))
        }),
        BodyFormat::Yaml => {
            let v: Value = serde_yaml_ng::from_slice(body).map_err(|e| {
                ApiError::BadRequest(format!("the body of the request was not valid YAML: {e}"))
            })?;
            Ok(v)
        }
        BodyFormat::Protobuf => apimachinery::protobuf::decode_to_json(body).map_err(|e| {
            ApiError::BadRequest(format!(
                "the protobuf body of the request could not be decoded: {e}"
            ))
        }),
    }
}

/// The first key repeated within one mapping of a YAML body, worded as
/// upstream's strict YAML decoder words it (`error converting YAML to JSON:
/// yaml: line 9: key "foo" already set in map`); `None` when there is none
/// (or the body is not YAML at all: decoding reports that).
pub fn yaml_duplicate_key(body: &[u8]) -> Option<String> {
    use serde::de::{DeserializeSeed, Deserializer, Error as _, MapAccess, SeqAccess, Visitor};

    /// Visits every value; fails, where the YAML parser stands, on the
    /// first repeated key (the parser adds the position to the error).
    struct Strict;

    /// Marks our own error among the parser's.
    const MARK: &str = "minik8s-duplicate-key:";

    impl<'de> DeserializeSeed<'de> for Strict {
        type Value = ();
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_any(self)
        }
    }

    impl<'de> Visitor<'de> for Strict {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("any YAML value")
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
            while seq.next_element_seed(Strict)?.is_some() {}
            Ok(())
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            let mut seen = std::collections::HashSet::new();
            while let Some(key) = map.next_key::<serde_yaml_ng::Value>()? {
                let name = match &key {
                    serde_yaml_ng::Value::String(s) => s.clone(),
                    other => serde_yaml_ng::to_string(other)
                        .unwrap_or_default()
                        .trim()
                        .to_string(),
                };
                if !seen.insert(key) {
                    return Err(A::Error::custom(format!("{MARK}{name}")));
                }
                map.next_value_seed(Strict)?;
            }
            Ok(())
        }
    }

    let err = Strict
        .deserialize(serde_yaml_ng::Deserializer::from_slice(body))
        .err()?;
    let text = err.to_string();
    // (after the path of the mapping, when it is nested: `spec: ...`)
    let key = &text[text.find(MARK)? + MARK.len()..];
    // serde_yaml_ng appends " at line L column C" (where the mapping starts)
    // to a visitor's error.
    let (key, line) = match (key.rsplit_once(" at line "), err.location()) {
        (Some((key, _)), Some(at)) => {
            let line = repeated_key_line(body, at.line(), at.column(), key).unwrap_or(at.line());
            (key, line)
        }
        _ => (key, 0),
    };
    Some(format!(
        "error converting YAML to JSON: yaml: line {line}: key {key:?} already set in map"
    ))
}

/// The line (1-based) where `key` appears the second time in the block
/// mapping that starts at `line`, `column` (1-based); `None` for a flow
/// mapping (`{...}`) or when the key is not written plainly.
fn repeated_key_line(body: &[u8], line: usize, column: usize, key: &str) -> Option<usize> {
    let text = std::str::from_utf8(body).ok()?;
    let indent = column.checked_sub(1)?;
    let mut seen = 0;
    for (i, l) in text.lines().enumerate().skip(line.checked_sub(1)?) {
        // The first line may hold a `- ` before the mapping's first key.
        let rest = if i + 1 == line {
            l.get(indent..)?
        } else {
            let trimmed = l.trim_start();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let depth = l.len() - trimmed.len();
            if depth < indent {
                return None;
            }
            if depth > indent {
                continue;
            }
            trimmed
        };
        let written = [key.to_string(), format!("{key:?}"), format!("'{key}'")];
        if written.iter().any(|w| {
            rest.strip_prefix(w.as_str())
                .is_some_and(|after| after.trim_start().starts_with(':'))
        }) {
            seen += 1;
            if seen == 2 {
                return Some(i + 1);
            }
        }
    }
    None
}

/// Picks the body format from the content type of a create/update request.
pub fn object_body_format(headers: &HeaderMap) -> Result<BodyFormat, ApiError> {
    match content_type(headers).as_str() {
        "" | "application/json" | "*/*" => Ok(BodyFormat::Json),
        "application/yaml" | "application/x-yaml" | "text/yaml" => Ok(BodyFormat::Yaml),
        "application/vnd.kubernetes.protobuf" => Ok(BodyFormat::Protobuf),
        other => Err(ApiError::UnsupportedMediaType(format!(
            "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf (got {other})"
        ))),
    }
}

/// Query parameters shared by the verbs, parsed leniently like upstream
/// (unknown parameters are ignored), strictly where a value is malformed.
#[derive(Debug, Clone, Default)]
pub struct Query {
    /// `labelSelector`.
    pub label_selector: Option<String>,
    /// `fieldSelector`.
    pub field_selector: Option<String>,
    /// `limit`.
    pub limit: Option<i64>,
    /// `continue`.
    pub continue_token: Option<String>,
    /// `resourceVersion`.
    pub resource_version: Option<String>,
    /// `resourceVersionMatch`.
    pub resource_version_match: Option<String>,
    /// `watch`.
    pub watch: bool,
    /// `timeoutSeconds`.
    pub timeout_seconds: Option<u64>,
    /// `allowWatchBookmarks`.
    pub allow_watch_bookmarks: bool,
    /// `sendInitialEvents`.
    pub send_initial_events: Option<bool>,
    /// `dryRun` (only `All` is defined).
    pub dry_run: bool,
    /// `gracePeriodSeconds`.
    pub grace_period_seconds: Option<i64>,
    /// `propagationPolicy`.
    pub propagation_policy: Option<String>,
    /// `fieldManager`.
    pub field_manager: Option<String>,
    /// `fieldValidation`.
    pub field_validation: Option<String>,
    /// `force` (server-side apply).
    pub force: bool,
    /// `pretty`.
    pub pretty: bool,
    /// `includeObject` (for Table answers).
    pub include_object: Option<String>,
}

fn parse_bool(name: &str, v: &str) -> Result<bool, ApiError> {
    match v {
        "" | "true" | "1" | "True" => Ok(true),
        "false" | "0" | "False" => Ok(false),
        _ => Err(ApiError::BadRequest(format!(
            "invalid value for {name}: {v:?} is not a boolean"
        ))),
    }
}

fn parse_int<T: std::str::FromStr>(name: &str, v: &str) -> Result<T, ApiError> {
    v.parse().map_err(|_| {
        ApiError::BadRequest(format!("invalid value for {name}: {v:?} is not a number"))
    })
}

impl Query {
    /// Parses the raw query string.
    pub fn parse(raw: Option<&str>) -> Result<Query, ApiError> {
        let mut q = Query::default();
        let Some(raw) = raw else { return Ok(q) };
        for (k, v) in url::form_urlencoded::parse(raw.as_bytes()) {
            let v = v.into_owned();
            match k.as_ref() {
                "labelSelector" => q.label_selector = Some(v),
                "fieldSelector" => q.field_selector = Some(v),
                "limit" => {
                    let n: i64 = parse_int("limit", &v)?;
                    q.limit = (n > 0).then_some(n);
                }
                "continue" => q.continue_token = (!v.is_empty()).then_some(v),
                "resourceVersion" => q.resource_version = (!v.is_empty()).then_some(v),
                "resourceVersionMatch" => q.resource_version_match = (!v.is_empty()).then_some(v),
                "watch" => q.watch = parse_bool("watch", &v)?,
                "timeoutSeconds" => q.timeout_seconds = Some(parse_int("timeoutSeconds", &v)?),
                "allowWatchBookmarks" => {
                    q.allow_watch_bookmarks = parse_bool("allowWatchBookmarks", &v)?
                }
                "sendInitialEvents" => {
                    q.send_initial_events = Some(parse_bool("sendInitialEvents", &v)?)
                }
                "dryRun" => match v.as_str() {
                    "All" => q.dry_run = true,
                    "" => {}
                    other => {
                        return Err(ApiError::BadRequest(format!(
                            "invalid dryRun value {other:?}: only \"All\" is supported"
                        )))
                    }
                },
                "gracePeriodSeconds" => {
                    q.grace_period_seconds = Some(parse_int("gracePeriodSeconds", &v)?)
                }
                "propagationPolicy" => q.propagation_policy = Some(v),
                "fieldManager" => q.field_manager = Some(v),
                "fieldValidation" => q.field_validation = Some(v),
                "force" => q.force = parse_bool("force", &v)?,
                "pretty" => q.pretty = parse_bool("pretty", &v).unwrap_or(false),
                "includeObject" => q.include_object = Some(v),
                _ => {}
            }
        }
        Ok(q)
    }

    /// The resourceVersion as a number, if one was given (`0` included).
    pub fn resource_version_number(&self) -> Result<Option<i64>, ApiError> {
        match &self.resource_version {
            None => Ok(None),
            Some(v) => v
                .parse::<i64>()
                .map(Some)
                .map_err(|_| ApiError::BadRequest(format!("invalid resource version: {v:?}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_duplicate_keys_are_found_with_their_line() {
        let body = b"\napiVersion: v1\nkind: X\nmetadata:\n  name: x\nspec:\n  unknown: uk1\n  foo: foo1\n  foo: foo2\n  ports:\n  - name: x\n";
        assert_eq!(
            yaml_duplicate_key(body).as_deref(),
            Some(r#"error converting YAML to JSON: yaml: line 9: key "foo" already set in map"#)
        );
        // The same key in different mappings, or in list items, is fine.
        let fine = b"a:\n  x: 1\nb:\n  x: 2\nl:\n- x: 1\n- x: 2\n";
        assert_eq!(yaml_duplicate_key(fine), None);
        // JSON is YAML too.
        assert!(yaml_duplicate_key(br#"{"a": {"b": 1, "b": 2}}"#)
            .is_some_and(|m| m.contains(r#"key "b" already set"#)));
    }

    fn p(method: Method, path: &str) -> RequestInfo {
        parse(&method, path, false).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    #[test]
    fn parses_namespaced_paths() {
        let r = p(Method::GET, "/api/v1/namespaces/default/pods/web/status");
        assert_eq!(r.resource.plural, "pods");
        assert_eq!(r.namespace.as_deref(), Some("default"));
        assert_eq!(r.name.as_deref(), Some("web"));
        assert_eq!(r.subresource, Some(Subresource::Status));
        assert_eq!(r.verb, Verb::Get);

        let r = p(Method::GET, "/apis/apps/v1/namespaces/x/deployments");
        assert_eq!(r.verb, Verb::List);
        assert_eq!(r.resource.kind, "Deployment");
    }

    #[test]
    fn namespaces_themselves() {
        let r = p(Method::GET, "/api/v1/namespaces/foo");
        assert_eq!(r.resource.plural, "namespaces");
        assert_eq!(r.name.as_deref(), Some("foo"));
        assert!(r.namespace.is_none());
        let r = p(Method::PUT, "/api/v1/namespaces/foo/finalize");
        assert_eq!(r.subresource, Some(Subresource::Finalize));
        let r = p(Method::GET, "/api/v1/namespaces");
        assert_eq!(r.verb, Verb::List);
    }

    #[test]
    fn all_namespace_lists_and_legacy_watch() {
        let r = p(Method::GET, "/api/v1/pods");
        assert!(r.namespace.is_none());
        assert_eq!(r.verb, Verb::List);
        let r = p(Method::GET, "/api/v1/watch/namespaces/a/pods");
        assert_eq!(r.verb, Verb::Watch);
        assert_eq!(r.namespace.as_deref(), Some("a"));
        let r = p(Method::DELETE, "/api/v1/namespaces/a/configmaps");
        assert_eq!(r.verb, Verb::DeleteCollection);
    }

    #[test]
    fn rejects_unknown() {
        for path in [
            "/api/v1/widgets",
            "/apis/apps/v1/pods",
            "/api/v1/nodes/n/binding",
            "/api/v1/namespaces/a/nodes",
            "/api/v2/pods",
            "/api",
            "/api/v1/namespaces/a/pods/b/c/d",
        ] {
            let e = parse(&Method::GET, path, false).map(|_| ()).err();
            assert!(matches!(e, Some(ApiError::NotFoundPath(_))), "{path}");
        }
        assert!(matches!(
            parse(&Method::PUT, "/api/v1/pods", false),
            Err(ApiError::MethodNotAllowed(_))
        ));
    }

    #[test]
    fn query_parsing() {
        let q = Query::parse(Some("labelSelector=app%3Dweb&limit=5&watch=1&dryRun=All"))
            .unwrap_or_default();
        assert_eq!(q.label_selector.as_deref(), Some("app=web"));
        assert_eq!(q.limit, Some(5));
        assert!(q.watch);
        assert!(q.dry_run);
        assert!(Query::parse(Some("limit=abc")).is_err());
        assert!(Query::parse(Some("watch=maybe")).is_err());
    }

    #[test]
    fn bodies() {
        let v = decode_body(&Bytes::from_static(b"a: 1\nb: [x]"), BodyFormat::Yaml);
        assert_eq!(v.ok(), Some(serde_json::json!({"a": 1, "b": ["x"]})));
        assert!(matches!(
            decode_body(&Bytes::from_static(b"{"), BodyFormat::Json),
            Err(ApiError::BadRequest(_))
        ));
        assert!(matches!(
            decode_body(&Bytes::from_static(b"  "), BodyFormat::Json),
            Err(ApiError::BadRequest(_))
        ));
    }
}
