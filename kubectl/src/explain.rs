//! `kubectl explain TYPE[.FIELD...]`: the documentation of a kind or of one
//! of its fields, read from the OpenAPI v3 document the apiserver serves for
//! the kind's group version (`/openapi/v3`, then the document it points
//! to), the way upstream's kubectl 1.32 does by default.
//!
//! Upstream renders the document through a Go text template (its
//! `plaintext` template); this module walks the schema the same way and
//! writes the same text: the kind found through the operations of the
//! resource's paths, its schema found by that kind among the components,
//! the field path followed through `$ref`, `allOf`, `items` and
//! `additionalProperties`, descriptions word-wrapped as Go's `wordwrap`
//! does, one line per field with a type guessed from the schema, and with
//! `--recursive` the nested fields instead of descriptions. Like the
//! template, it writes as it goes: when a field does not exist, the header
//! is already out on stdout before the error.
//!
//! Not here: `--output plaintext-openapiv2` (upstream's fallback to the
//! OpenAPI v2 document, which is served as protobuf).

use serde_json::Value;

use crate::cli::ExplainArgs;
use crate::client::Rest;
use crate::discovery::{Discovery, Resource};
use crate::error::{Error, Result};

/// What upstream's template can fail with: already in upstream's words.
type Thrown = String;

/// Runs `kubectl explain`.
pub async fn run(rest: &Rest, a: ExplainArgs) -> Result<i32> {
    let typed = match a.args.as_slice() {
        [] => return Err(Error::usage("You must specify the type of resource to explain. Use \"kubectl api-resources\" for a complete list of supported resources.")),
        [one] => one.trim_end_matches('.').to_string(),
        _ => return Err(Error::usage("We accept only this format: explain RESOURCE")),
    };
    let mut discovery = Discovery::load(rest).await?;
    let first = typed.split('.').next().unwrap_or_default().to_lowercase();
    if matching(&discovery, &first).is_empty() {
        discovery = Discovery::load_with(rest, true).await?;
    }
    let candidates = matching(&discovery, &first);
    let Some(default) = candidates.first() else {
        // Upstream's no-match message, which it prints without `error: `.
        return Err(Error::Raw(format!(
            "the server doesn't have a resource type \"{first}\""
        )));
    };
    let segments: Vec<String> = typed.split('.').skip(1).map(String::from).collect();
    let (mut group, mut version, plural, fields) = match &a.api_version {
        // With --api-version upstream takes the first match and every
        // segment after the resource as a field.
        Some(_) => (
            default.group.clone(),
            default.version.clone(),
            default.plural.clone(),
            segments,
        ),
        // Without it, `resource.group` names a group.
        None => {
            let prefixed = candidates.iter().find_map(|r| {
                let gr = r.group_resource();
                typed.strip_prefix(&gr).map(|rest| (r, rest.to_string()))
            });
            match prefixed {
                Some((r, rest)) => (
                    r.group.clone(),
                    r.version.clone(),
                    r.plural.clone(),
                    rest.split('.')
                        .filter(|s| !s.is_empty())
                        .map(String::from)
                        .collect(),
                ),
                None => (
                    default.group.clone(),
                    default.version.clone(),
                    default.plural.clone(),
                    segments,
                ),
            }
        }
    };
    if let Some(av) = &a.api_version {
        let (g, v) = parse_group_version(av)?;
        group = g;
        version = v;
    }
    let gvr = format!("{group}/{version}, Resource={plural}");
    let index = rest.get("/openapi/v3").await?;
    let gv_path = if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    };
    let Some(url) = index["paths"][&gv_path]["serverRelativeURL"].as_str() else {
        return Err(Error::usage(format!(
            "couldn't find resource for \"{gvr}\""
        )));
    };
    let document = rest.get(url).await?;
    if a.output != "plaintext" {
        return Err(Error::usage(format!("unrecognized format: {}", a.output)));
    }
    let page = Page {
        doc: &document,
        recursive: a.recursive,
    };
    let mut out = String::new();
    let result = page.render(&mut out, &group, &version, &plural, &gvr, &fields);
    print!("{out}");
    match result {
        Ok(()) => Ok(0),
        Err(thrown) => Err(Error::Raw(thrown)),
    }
}

/// The served resources a typed name can mean (upstream's `ResourcesFor`:
/// plural, singular or short name), preferred versions first.
fn matching<'d>(discovery: &'d Discovery, name: &str) -> Vec<&'d Resource> {
    let mut found: Vec<&Resource> = discovery
        .resources
        .iter()
        .filter(|r| {
            !r.plural.contains('/')
                && (r.plural == name
                    || r.singular == name
                    || r.kind.to_lowercase() == name
                    || r.short_names.iter().any(|s| s == name))
        })
        .collect();
    found.sort_by_key(|r| !r.preferred);
    found
}

/// `group/version` or `version` (the core group), as Go's ParseGroupVersion.
fn parse_group_version(s: &str) -> Result<(String, String)> {
    match s.split('/').collect::<Vec<_>>().as_slice() {
        [v] => Ok((String::new(), v.to_string())),
        [g, v] => Ok((g.to_string(), v.to_string())),
        _ => Err(Error::usage(format!("unexpected GroupVersion string: {s}"))),
    }
}

/// Go template truthiness: null, false, 0, "" and empty lists and maps are false.
fn truthy(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_f64() != Some(0.0),
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Object(o)) => !o.is_empty(),
    }
}

fn text<'v>(v: &'v Value, key: &str) -> &'v str {
    v.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// A map's keys in Go's order for ranging over a map (sorted).
fn sorted_keys(v: Option<&Value>) -> Vec<&String> {
    let mut keys: Vec<&String> = v
        .and_then(Value::as_object)
        .map(|m| m.keys().collect())
        .unwrap_or_default();
    keys.sort();
    keys
}

/// `additionalProperties` holding a schema (not `true`/`false`).
fn map_values(schema: &Value) -> Option<&Value> {
    let ap = schema.get("additionalProperties")?;
    (truthy(Some(ap)) && !ap.is_boolean()).then_some(ap)
}

/// Upstream's `indent`: the pad before the text and after every newline.
fn indent(amount: usize, s: &str) -> String {
    let pad = " ".repeat(amount);
    format!("{pad}{}", s.replace('\n', &format!("\n{pad}")))
}

/// Go's `wordwrap.WrapString`: breaks at white space so lines stay within
/// `limit` characters where words allow; a word longer than the limit
/// stands alone.
pub fn wrap(limit: usize, s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut current = 0usize;
    // The white space and the word not written yet, with their lengths in
    // characters.
    let mut space = Pending::default();
    let mut word = Pending::default();
    for c in s.chars() {
        if c == '\n' {
            if !word.is_empty() || current + space.len <= limit {
                space.write_to(&mut out);
            }
            space.clear();
            word.write_to(&mut out);
            out.push(c);
            current = 0;
        } else if c.is_whitespace() && c != '\u{a0}' {
            if space.is_empty() || !word.is_empty() {
                current += space.write_to(&mut out) + word.write_to(&mut out);
            }
            space.push(c);
        } else {
            word.push(c);
            if current + space.len + word.len > limit && word.len < limit {
                out.push('\n');
                current = 0;
                space.clear();
            }
        }
    }
    if !word.is_empty() || current + space.len <= limit {
        space.write_to(&mut out);
    }
    word.write_to(&mut out);
    out
}

/// Text held back by [`wrap`] until it knows where a line ends.
#[derive(Default)]
struct Pending {
    text: String,
    len: usize,
}

impl Pending {
    fn is_empty(&self) -> bool {
        self.text.is_empty()
    }

    fn push(&mut self, c: char) {
        self.text.push(c);
        self.len += 1;
    }

    fn clear(&mut self) {
        self.text.clear();
        self.len = 0;
    }

    /// Writes and clears; returns the length written.
    fn write_to(&mut self, out: &mut String) -> usize {
        let len = self.len;
        out.push_str(&self.text);
        self.clear();
        len
    }
}

/// One rendering: the group version's document and `--recursive`.
struct Page<'d> {
    doc: &'d Value,
    recursive: bool,
}

impl<'d> Page<'d> {
    /// A local `$ref` (`#/components/schemas/...`) resolved in the
    /// document; `None` for anything else, as upstream's `resolveRef`.
    fn resolve_ref(&self, r: Option<&Value>) -> Option<&'d Value> {
        let fragment = r?.as_str()?.strip_prefix('#')?;
        if fragment.is_empty() {
            return None;
        }
        let mut cur = self.doc;
        for k in fragment.split('/').filter(|k| !k.is_empty()) {
            cur = cur.get(k).filter(|v| v.is_object())?;
        }
        Some(cur)
    }

    /// The schema a `$ref` points to, or the schema itself.
    fn resolved<'s>(&self, schema: &'s Value) -> &'s Value
    where
        'd: 's,
    {
        match self.resolve_ref(schema.get("$ref")) {
            Some(r) if truthy(Some(r)) => r,
            _ => schema,
        }
    }

    /// Everything the template writes, up to the point it throws.
    fn render(
        &self,
        out: &mut String,
        group: &str,
        version: &str,
        plural: &str,
        gvr: &str,
        fields: &[String],
    ) -> Result<(), Thrown> {
        let prefix = if group.is_empty() {
            "/api".to_string()
        } else {
            format!("/apis/{group}")
        };
        let searched = [
            format!("{prefix}/{version}/{plural}"),
            format!("{prefix}/{version}/{plural}/{{name}}"),
            format!("{prefix}/{version}/namespaces/{{namespace}}/{plural}"),
            format!("{prefix}/{version}/namespaces/{{namespace}}/{plural}/{{name}}"),
        ];
        // As the template: every path is searched and the last one found
        // wins; within a path, the first method naming a kind.
        let mut gvk: Option<&Value> = None;
        for path in &searched {
            let Some(element) = self.doc["paths"].get(path).filter(|e| truthy(Some(e))) else {
                continue;
            };
            for method in ["get", "post", "put", "patch", "delete"] {
                if let Some(op) = element.get(method).filter(|o| truthy(Some(o))) {
                    gvk = op.get("x-kubernetes-group-version-kind");
                    if truthy(gvk) {
                        break;
                    }
                }
            }
        }
        let Some(gvk) = gvk.filter(|g| truthy(Some(g))) else {
            return Err(format!("error: GVR ({gvr}) not found in OpenAPI schema"));
        };
        if !text(gvk, "group").is_empty() {
            out.push_str(&format!("GROUP:      {}\n", text(gvk, "group")));
        }
        out.push_str(&format!("KIND:       {}\n", text(gvk, "kind")));
        out.push_str(&format!("VERSION:    {}\n\n", text(gvk, "version")));
        let schemas = &self.doc["components"]["schemas"];
        let found = sorted_keys(Some(schemas)).into_iter().find_map(|k| {
            let s = &schemas[k];
            s["x-kubernetes-group-version-kind"]
                .as_array()
                .is_some_and(|kinds| kinds.iter().any(|k| k == gvk))
                .then_some(s)
        });
        let Some(schema) = found else {
            return Err(format!(
                "error: GVK map[group:{} kind:{} version:{}] not found in OpenAPI schema",
                text(gvk, "group"),
                text(gvk, "kind"),
                text(gvk, "version")
            ));
        };
        let body = self.output(schema, fields, &[])?;
        if body.is_empty() {
            let last = fields.last().map(String::as_str).unwrap_or_default();
            return Err(format!("error: field \"{last}\" does not exist"));
        }
        out.push_str(&body);
        out.push('\n');
        Ok(())
    }

    /// Follows `path` from `schema`; at its end, the description and the
    /// fields. Empty when the path leads nowhere.
    fn output(
        &self,
        schema: &Value,
        path: &[String],
        history: &[String],
    ) -> Result<String, Thrown> {
        let ref_string = text(schema, "$ref").to_string();
        let mut next_history = history.to_vec();
        next_history.push(ref_string.clone());
        let resolved = self.resolved(schema);
        let Some(first) = path.first() else {
            let mut out = String::from("DESCRIPTION:\n");
            let mut desc = String::new();
            self.description(schema, &mut desc);
            let desc = if desc.is_empty() {
                "<empty>".into()
            } else {
                desc
            };
            out.push_str(&indent(4, &wrap(76, &desc)));
            out.push('\n');
            let docs = external_docs(resolved, 0, 4, 76);
            if !docs.is_empty() {
                out.push('\n');
                out.push_str(&docs);
            }
            let fields = self.field_list(resolved, 1, &[])?;
            if !fields.is_empty() {
                out.push_str("FIELDS:\n");
                out.push_str(&fields);
            }
            return Ok(out);
        };
        if !ref_string.is_empty() && history.contains(&ref_string) {
            // A cycle: nothing.
            return Ok(String::new());
        }
        let properties = resolved.get("properties");
        if let Some(sub) = properties
            .filter(|p| truthy(Some(p)))
            .and_then(|p| p.get(first))
            .filter(|s| truthy(Some(s)))
        {
            let mut out = String::new();
            if path.len() == 1 {
                out.push_str(&format!("FIELD: {first} <{}>\n", self.type_guess(sub)?));
                out.push_str(&extract_enum(sub, true, None, 0));
                out.push_str("\n\n");
            }
            out.push_str(&self.output(sub, &path[1..], &[])?);
            return Ok(out);
        }
        if let Some(items) = resolved.get("items").filter(|i| truthy(Some(i))) {
            return self.output(items, path, &next_history);
        }
        if let Some(values) = map_values(resolved) {
            return self.output(values, path, &next_history);
        }
        for sub in resolved["allOf"].as_array().into_iter().flatten() {
            let out = self.output(sub, path, &next_history)?;
            if !out.is_empty() {
                return Ok(out);
            }
        }
        Ok(String::new())
    }

    /// The schema's description and those of what it is made of (`allOf`,
    /// list items, map values), one per line.
    fn description(&self, schema: &Value, out: &mut String) {
        let s = self.resolved(schema);
        if !truthy(Some(s)) {
            return;
        }
        if !text(s, "description").is_empty() {
            out.push_str(text(s, "description"));
            out.push('\n');
        }
        for sub in s["allOf"].as_array().into_iter().flatten() {
            self.description(sub, out);
        }
        if let Some(items) = s.get("items").filter(|i| truthy(Some(i))) {
            self.description(items, out);
        }
        if let Some(values) = map_values(s) {
            self.description(values, out);
        }
    }

    /// The fields of a schema at `level` (two spaces each): with
    /// descriptions, or with `--recursive` their own fields nested below.
    fn field_list(
        &self,
        schema: &Value,
        level: usize,
        history: &[String],
    ) -> Result<String, Thrown> {
        let ref_string = text(schema, "$ref").to_string();
        if !ref_string.is_empty() && history.contains(&ref_string) {
            return Ok(String::new());
        }
        let mut next_history = history.to_vec();
        next_history.push(ref_string);
        let resolved = self.resolved(schema);
        let mut out = String::new();
        let properties = resolved.get("properties");
        for name in sorted_keys(properties) {
            let field = &resolved["properties"][name.as_str()];
            out.push_str(&self.field_detail(resolved, name, field, level)?);
            if self.recursive {
                out.push_str(&self.field_list(field, level + 1, &next_history)?);
            }
        }
        for sub in resolved["allOf"].as_array().into_iter().flatten() {
            out.push_str(&self.field_list(sub, level, &next_history)?);
        }
        if let Some(items) = resolved.get("items").filter(|i| truthy(Some(i))) {
            out.push_str(&self.field_list(items, level, &next_history)?);
        }
        if let Some(values) = map_values(resolved) {
            out.push_str(&self.field_list(values, level, &next_history)?);
        }
        Ok(out)
    }

    /// One field: `name<TAB><type>`, ` -required-`, its enum, then (unless
    /// recursive) its description and external docs.
    fn field_detail(
        &self,
        parent: &Value,
        name: &str,
        field: &Value,
        level: usize,
    ) -> Result<String, Thrown> {
        let pad = level * 2;
        let mut out = indent(pad, name);
        out.push_str(&format!("\t<{}>", self.type_guess(field)?));
        if parent["required"]
            .as_array()
            .is_some_and(|r| r.iter().any(|n| n == name))
        {
            out.push_str(" -required-");
        }
        out.push_str(&extract_enum(field, false, Some(4), pad));
        out.push('\n');
        if !self.recursive {
            let desc = match text(field, "description") {
                "" => "<no description>",
                d => d,
            };
            out.push_str(&indent(pad + 2, &wrap(78usize.saturating_sub(pad), desc)));
            out.push('\n');
            let docs = external_docs(field, pad + 2, pad + 4, 76usize.saturating_sub(pad));
            if !docs.is_empty() {
                out.push('\n');
                out.push_str(&docs);
            }
            out.push('\n');
        }
        Ok(out)
    }

    /// Upstream's type hint: `string`, `Object`, `[]Container`,
    /// `map[string]string`, or the last part of a referenced schema's name.
    fn type_guess(&self, schema: &Value) -> Result<String, Thrown> {
        if !truthy(Some(schema)) {
            return Err("expected schema argument to subtemplate 'typeguess'".into());
        }
        if let Some(items) = schema.get("items").filter(|i| truthy(Some(i))) {
            return Ok(format!("[]{}", self.type_guess(items)?));
        }
        if let Some(values) = map_values(schema) {
            return Ok(format!("map[string]{}", self.type_guess(values)?));
        }
        let all_of = schema["allOf"].as_array().filter(|a| !a.is_empty());
        if let Some([only]) = all_of.map(Vec::as_slice) {
            if !truthy(schema.get("properties")) {
                return self.type_guess(only);
            }
        }
        let of = |s: &Value| match text(s, "type") {
            "" | "object" => "Object".to_string(),
            t => t.to_string(),
        };
        match schema.get("$ref").filter(|r| truthy(Some(r))) {
            Some(r) => {
                let target = self.resolve_ref(Some(r)).filter(|t| truthy(Some(t)));
                match target.map(|t| text(t, "type")) {
                    None | Some("") | Some("object") => {
                        let name = r
                            .as_str()
                            .unwrap_or_default()
                            .rsplit('/')
                            .next()
                            .unwrap_or_default();
                        Ok(match name.rsplit('.').next() {
                            Some(last) if !last.is_empty() => last.to_string(),
                            _ => "Object".into(),
                        })
                    }
                    Some(t) => Ok(t.to_string()),
                }
            }
            None => Ok(of(schema)),
        }
    }
}

/// An enum value as Go prints it (`""` for the empty string).
fn enum_value(v: &Value) -> String {
    match v {
        Value::String(s) if s.is_empty() => "\"\"".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The enum of a field: `ENUM:` with a value per line (the long view of
/// one field), or `enum: a, b, c, d, ....` under a field line (at most
/// `limit` values).
fn extract_enum(schema: &Value, long: bool, limit: Option<usize>, pad: usize) -> String {
    let Some(values) = schema["enum"].as_array().filter(|e| !e.is_empty()) else {
        return String::new();
    };
    let mut out = if long {
        "ENUM:".to_string()
    } else {
        format!("\n{}enum: ", " ".repeat(pad))
    };
    for (i, v) in values.iter().enumerate() {
        if limit.is_some_and(|l| i >= l) {
            out.push_str(", ....");
            break;
        }
        if long {
            out.push_str("\n    ");
        } else if i > 0 {
            out.push_str(", ");
        }
        out.push_str(&enum_value(v));
    }
    out
}

/// An `EXTERNAL DOCS:` section: its title at `head`, its description
/// (wrapped at `width`) and URL at `body`.
fn external_docs(schema: &Value, head: usize, body: usize, width: usize) -> String {
    let Some(docs) = schema.get("externalDocs").filter(|d| truthy(Some(d))) else {
        return String::new();
    };
    let mut out = indent(head, "EXTERNAL DOCS:");
    out.push('\n');
    if !text(docs, "description").is_empty() {
        out.push_str(&indent(body, &wrap(width, text(docs, "description"))));
        out.push('\n');
    }
    if !text(docs, "url").is_empty() {
        out.push_str(&indent(body, &format!("URL: {}", text(docs, "url"))));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_breaks_at_spaces_as_go_wordwrap() {
        assert_eq!(wrap(10, "aaa bbb ccc ddd"), "aaa bbb\nccc ddd");
        assert_eq!(wrap(5, "abcdefgh ij"), "abcdefgh\nij");
        assert_eq!(wrap(10, "one\n\ntwo"), "one\n\ntwo");
        assert_eq!(wrap(76, "short"), "short");
    }

    #[test]
    fn type_guess_names_refs_lists_and_maps() {
        let doc = serde_json::json!({"components": {"schemas": {
            "io.k8s.api.core.v1.Container": {"type": "object", "properties": {}},
            "io.k8s.Quantity": {"type": "string"},
        }}});
        let page = Page {
            doc: &doc,
            recursive: false,
        };
        let guess = |s: Value| page.type_guess(&s).unwrap();
        assert_eq!(
            guess(
                serde_json::json!({"type": "array", "items": {"allOf": [{"$ref": "#/components/schemas/io.k8s.api.core.v1.Container"}]}})
            ),
            "[]Container"
        );
        assert_eq!(
            guess(
                serde_json::json!({"type": "object", "additionalProperties": {"type": "string"}})
            ),
            "map[string]string"
        );
        assert_eq!(
            guess(serde_json::json!({"$ref": "#/components/schemas/io.k8s.Quantity"})),
            "string"
        );
        assert_eq!(guess(serde_json::json!({"type": "object"})), "Object");
        assert_eq!(guess(serde_json::json!({"type": "boolean"})), "boolean");
    }
}
