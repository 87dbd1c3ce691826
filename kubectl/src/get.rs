//! `kubectl get`: tables asked from the server (`as=Table`), so every kind
//! prints with the server's own columns, or objects as YAML, JSON, names,
//! JSONPath or custom columns. Several kinds print one table each (names
//! prefixed with their kind), `-w` keeps printing rows as events arrive,
//! with the column widths of the first table.

use futures::StreamExt;
use http::Method;
use serde_json::{json, Value};

use crate::cli::GetArgs;
use crate::client::{q, Rest, TABLE_ACCEPT};
use crate::discovery::{Resolver, Resource};
use crate::error::{Error, Result};
use crate::printers::custom_columns::Columns;
use crate::printers::jsonpath::{relaxed, Template};
use crate::printers::table::{self, Options};
use crate::printers::tabwriter::TabWriter;
use crate::printers::{json as pjson, yaml};
use crate::target::{self, Target};

/// How objects are printed (`-o`).
pub enum Output {
    /// Server-side table (`-o wide` shows priority columns).
    Table {
        /// `-o wide`.
        wide: bool,
    },
    /// `-o yaml`.
    Yaml,
    /// `-o json`.
    Json,
    /// `-o name`.
    Name,
    /// `-o jsonpath=...`.
    JsonPath(Template),
    /// `-o custom-columns=...`.
    Custom(Columns),
}

impl Output {
    /// Parses `-o` as upstream names the formats.
    pub fn parse(o: Option<&str>) -> Result<Output> {
        let Some(o) = o else {
            return Ok(Output::Table { wide: false });
        };
        Ok(match o {
            "" => Output::Table { wide: false },
            "wide" => Output::Table { wide: true },
            "yaml" => Output::Yaml,
            "json" => Output::Json,
            "name" => Output::Name,
            other => {
                if let Some(t) = other.strip_prefix("jsonpath=") {
                    Output::JsonPath(Template::parse(t)?)
                } else if let Some(c) = other.strip_prefix("custom-columns=") {
                    Output::Custom(Columns::parse(c)?)
                } else {
                    return Err(Error::usage(format!("unable to match a printer suitable for the output format \"{other}\", allowed formats are: custom-columns,custom-columns-file,go-template,go-template-file,json,jsonpath,jsonpath-as-json,jsonpath-file,name,template,templatefile,wide,yaml")));
                }
            }
        })
    }

    /// Whether this prints whole objects (rather than tables).
    pub fn wants_objects(&self) -> bool {
        !matches!(self, Output::Table { .. })
    }
}

/// Drops `metadata.managedFields` (of a list's items too), as upstream
/// does unless `--show-managed-fields`.
pub fn strip_managed_fields(v: &mut Value) {
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("managedFields");
    }
    if let Some(items) = v.get_mut("items").and_then(Value::as_array_mut) {
        items.iter_mut().for_each(strip_managed_fields);
    }
}

/// Prints objects that a mutating command returned (`-o yaml|json|name`).
pub fn print_object(out: &Output, r: &Resource, obj: &Value) -> String {
    let mut obj = obj.clone();
    strip_managed_fields(&mut obj);
    let obj = &obj;
    match out {
        Output::Yaml => yaml::to_string(obj),
        Output::Json => pjson::to_string(obj),
        Output::JsonPath(t) => t.render(obj),
        Output::Custom(c) => c.render(std::slice::from_ref(obj), true),
        _ => format!(
            "{}/{}\n",
            r.kind_prefix(),
            obj["metadata"]["name"].as_str().unwrap_or("")
        ),
    }
}

/// Query string for a list.
fn list_query(a: &GetArgs, extra: &[String]) -> String {
    let mut parts: Vec<String> = extra.to_vec();
    if let Some(l) = &a.selector {
        parts.push(format!("labelSelector={}", q(l)));
    }
    if let Some(f) = &a.field_selector {
        parts.push(format!("fieldSelector={}", q(f)));
    }
    parts.join("&")
}

fn with_query(path: &str, query: &str) -> String {
    if query.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{query}")
    }
}

/// Lists every page of a collection (as a Table when `table`).
async fn list_all(rest: &Rest, path: &str, query: &str, table: bool) -> Result<Value> {
    let mut merged: Option<Value> = None;
    let mut cont = String::new();
    loop {
        let mut qs = vec!["limit=500".to_string()];
        if !query.is_empty() {
            qs.push(query.to_string());
        }
        if !cont.is_empty() {
            qs.push(format!("continue={}", q(&cont)));
        }
        let p = with_query(path, &qs.join("&"));
        let page = if table {
            rest.get_table(&p).await?
        } else {
            rest.get(&p).await?
        };
        cont = page["metadata"]["continue"]
            .as_str()
            .unwrap_or("")
            .to_string();
        let key = if table { "rows" } else { "items" };
        match merged.as_mut() {
            None => merged = Some(page),
            Some(m) => {
                let more = page[key].as_array().cloned().unwrap_or_default();
                if let Some(arr) = m[key].as_array_mut() {
                    arr.extend(more);
                }
                m["metadata"] = page["metadata"].clone();
            }
        }
        if cont.is_empty() {
            break;
        }
    }
    Ok(merged.unwrap_or(Value::Null))
}

fn sort_key(v: &Value) -> (u8, f64, String) {
    match v {
        Value::Number(n) => (0, n.as_f64().unwrap_or(0.0), String::new()),
        Value::String(s) => {
            // Quantities and numbers sort numerically like upstream's typed compare.
            match s.parse::<f64>() {
                Ok(f) => (0, f, String::new()),
                Err(_) => (1, 0.0, s.clone()),
            }
        }
        Value::Null => (2, 0.0, String::new()),
        other => (1, 0.0, other.to_string()),
    }
}

fn sort_by(items: &mut [Value], expr: &str, object_of: impl Fn(&Value) -> &Value) -> Result<()> {
    let t = Template::parse(&relaxed(expr))?;
    items.sort_by(|a, b| {
        let ka = t.values(object_of(a)).first().map(sort_key);
        let kb = t.values(object_of(b)).first().map(sort_key);
        ka.partial_cmp(&kb).unwrap_or(std::cmp::Ordering::Equal)
    });
    Ok(())
}

/// Runs `kubectl get`.
pub async fn run(rest: &Rest, a: GetArgs) -> Result<i32> {
    let output = Output::parse(a.output.as_deref())?;
    if a.args.is_empty() && a.filename.is_empty() {
        return Err(Error::Raw("You must specify the type of resource to get. Use \"kubectl api-resources\" for a complete list of supported resources.\n\nerror: Required resource not specified.\nUse \"kubectl explain <resource>\" for a detailed description of that resource (e.g. kubectl explain pods).\nSee 'kubectl get -h' for help and examples".into()));
    }
    let mut resolver = Resolver::new(rest).await?;
    let mut parsed = target::parse(&mut resolver, &a.args).await?;
    if !a.filename.is_empty() {
        for doc in crate::manifest::read(&a.filename, a.recursive)? {
            let r = resolver.for_kind(&doc.api_version, &doc.kind).await?;
            parsed.targets.push(Target {
                resource: r,
                names: vec![doc.name.clone()],
            });
        }
        parsed.single_item = parsed.targets.len() == 1;
        parsed.multiple_types = parsed.targets.len() > 1;
    }
    let ns = if a.all_namespaces {
        None
    } else {
        Some(rest.namespace.as_str())
    };
    let show_kind = a.show_kind || parsed.multiple_types;
    let mut errors: Vec<Error> = Vec::new();
    if output.wants_objects() {
        return print_objects(rest, &a, &output, &parsed, ns, errors).await;
    }
    let wide = matches!(output, Output::Table { wide: true });
    let mut first = true;
    let mut any = false;
    let mut watch_state: Option<(Resource, Vec<String>, Value, TabWriter, Options)> = None;
    for t in &parsed.targets {
        let r = &t.resource;
        let tns = if r.namespaced { ns } else { None };
        let include = if a.sort_by.is_some() {
            "includeObject=Object"
        } else {
            ""
        };
        let mut tbl = if t.names.is_empty() {
            let extra: Vec<String> = [include]
                .iter()
                .filter(|s| !s.is_empty())
                .map(|s| s.to_string())
                .collect();
            match list_all(rest, &r.path(tns), &list_query(&a, &extra), true).await {
                Ok(t) => t,
                Err(e) => {
                    errors.push(e);
                    continue;
                }
            }
        } else {
            let mut merged: Option<Value> = None;
            for name in &t.names {
                match rest
                    .get_table(&with_query(&r.object_path(tns, name), include))
                    .await
                {
                    Ok(one) => match merged.as_mut() {
                        None => merged = Some(one),
                        Some(m) => {
                            let rows = one["rows"].as_array().cloned().unwrap_or_default();
                            if let Some(arr) = m["rows"].as_array_mut() {
                                arr.extend(rows);
                            }
                        }
                    },
                    Err(e) if e.is_not_found() && a.ignore_not_found => {}
                    Err(e) => errors.push(e),
                }
            }
            match merged {
                Some(m) => m,
                None => continue,
            }
        };
        if let Some(expr) = &a.sort_by {
            if let Some(rows) = tbl["rows"].as_array_mut() {
                sort_by(rows, expr, |row| &row["object"])?;
            }
        }
        let opts = Options {
            wide,
            with_namespace: a.all_namespaces && r.namespaced,
            show_labels: a.show_labels,
            kind_prefix: show_kind.then(|| r.kind_prefix()),
            label_columns: a.label_columns.clone(),
        };
        let rows = table::rows(&tbl, &opts);
        let mut tw = TabWriter::new();
        if !rows.is_empty() {
            let mut all_rows = Vec::new();
            if !a.no_headers {
                all_rows.push(table::header(&tbl, &opts));
            }
            all_rows.extend(rows);
            if !first {
                println!();
            }
            first = false;
            any = true;
            print!("{}", tw.render(&all_rows));
        }
        if (a.watch || a.watch_only) && watch_state.is_none() {
            watch_state = Some((r.clone(), t.names.clone(), tbl, tw, opts));
        }
    }
    let code = report(errors);
    let listed = parsed.targets.iter().all(|t| t.names.is_empty());
    if !any && code == 0 && listed && !(a.watch || a.watch_only) {
        let namespaced = parsed.targets.iter().any(|t| t.resource.namespaced);
        no_resources(rest, &a, namespaced);
    }
    if let Some((r, names, tbl, tw, opts)) = watch_state {
        return watch(rest, &a, &r, &names, ns, tbl, tw, opts, any).await;
    }
    Ok(code)
}

fn no_resources(rest: &Rest, a: &GetArgs, namespaced: bool) {
    if a.all_namespaces || !namespaced {
        eprintln!("No resources found");
    } else {
        eprintln!("No resources found in {} namespace.", rest.namespace);
    }
}

use crate::error::report;

/// The watch URL for a target: the collection (one named object through a
/// `metadata.name` field selector), from `rv` unless `--watch-only`.
fn watch_path(a: &GetArgs, r: &Resource, ns: Option<&str>, names: &[String], rv: &str) -> String {
    let mut qs = vec!["watch=1".to_string()];
    if !rv.is_empty() && !a.watch_only {
        qs.push(format!("resourceVersion={}", q(rv)));
    }
    if let Some(l) = &a.selector {
        qs.push(format!("labelSelector={}", q(l)));
    }
    let mut fields: Vec<String> = a.field_selector.iter().cloned().collect();
    if let [one] = names {
        fields.push(format!("metadata.name={one}"));
    }
    if !fields.is_empty() {
        qs.push(format!("fieldSelector={}", q(&fields.join(","))));
    }
    let tns = if r.namespaced { ns } else { None };
    with_query(&r.path(tns), &qs.join("&"))
}

/// Reads a watch stream, handing each event (`{type, object}`) to `f`
/// until the stream ends or `f` answers `false`.
pub(crate) async fn read_events(
    rest: &Rest,
    path: &str,
    accept: &str,
    mut f: impl FnMut(&Value) -> bool,
) -> Result<()> {
    let resp = rest
        .send(Method::GET, path, &[("accept", accept)], None)
        .await?;
    let mut body = http_body_util::BodyStream::new(resp.into_body());
    let mut buf: Vec<u8> = Vec::new();
    while let Some(frame) = body.next().await {
        let frame = frame.map_err(|e| rest.transport(e))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        buf.extend_from_slice(&data);
        while let Some(nl) = buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buf.drain(..=nl).collect();
            let Ok(ev) = serde_json::from_slice::<Value>(&line) else {
                continue;
            };
            if ev["type"] == "ERROR" {
                return Err(Error::Api {
                    code: ev["object"]["code"].as_u64().unwrap_or(500) as u16,
                    status: ev["object"].clone(),
                    context: None,
                });
            }
            if ev["type"] == "BOOKMARK" {
                continue;
            }
            if !f(&ev) {
                return Ok(());
            }
        }
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn watch(
    rest: &Rest,
    a: &GetArgs,
    r: &Resource,
    names: &[String],
    ns: Option<&str>,
    list: Value,
    mut tw: TabWriter,
    opts: Options,
    header_printed: bool,
) -> Result<i32> {
    let mut rv = list["metadata"]["resourceVersion"]
        .as_str()
        .unwrap_or("")
        .to_string();
    if rv.is_empty() {
        // A Table of one object carries the version in its row's object.
        rv = list["rows"][0]["object"]["metadata"]["resourceVersion"]
            .as_str()
            .unwrap_or("")
            .to_string();
    }
    let path = watch_path(a, r, ns, names, &rv);
    let mut header_done = header_printed || a.no_headers;
    let columns = list["columnDefinitions"].clone();
    read_events(rest, &path, TABLE_ACCEPT, |ev| {
        let mut t = ev["object"].clone();
        if t["columnDefinitions"]
            .as_array()
            .map(|c| c.is_empty())
            .unwrap_or(true)
        {
            t["columnDefinitions"] = columns.clone();
        }
        let mut rows = Vec::new();
        if !header_done {
            rows.push(table::header(&t, &opts));
            header_done = true;
        }
        rows.extend(table::rows(&t, &opts));
        print!("{}", tw.render(&rows));
        let _ = std::io::Write::flush(&mut std::io::stdout());
        true
    })
    .await?;
    Ok(0)
}

/// `-o yaml|json|name|jsonpath|custom-columns`: whole objects.
async fn print_objects(
    rest: &Rest,
    a: &GetArgs,
    output: &Output,
    parsed: &target::Targets,
    ns: Option<&str>,
    mut errors: Vec<Error>,
) -> Result<i32> {
    let mut items: Vec<(Resource, Value)> = Vec::new();
    let mut list_rv = String::new();
    for t in &parsed.targets {
        let r = &t.resource;
        let tns = if r.namespaced { ns } else { None };
        if t.names.is_empty() {
            match list_all(rest, &r.path(tns), &list_query(a, &[]), false).await {
                Ok(list) => {
                    list_rv = list["metadata"]["resourceVersion"]
                        .as_str()
                        .unwrap_or("")
                        .to_string();
                    let kind = list["kind"]
                        .as_str()
                        .unwrap_or("")
                        .trim_end_matches("List")
                        .to_string();
                    let api_version = list["apiVersion"].clone();
                    for mut item in list["items"].as_array().cloned().unwrap_or_default() {
                        item["apiVersion"] = api_version.clone();
                        item["kind"] = json!(kind);
                        items.push((r.clone(), item));
                    }
                }
                Err(e) => errors.push(e),
            }
        } else {
            for name in &t.names {
                match rest.get(&r.object_path(tns, name)).await {
                    Ok(o) => items.push((r.clone(), o)),
                    Err(e) if e.is_not_found() && a.ignore_not_found => {}
                    Err(e) => errors.push(e),
                }
            }
        }
    }
    if let Some(expr) = &a.sort_by {
        let t = Template::parse(&relaxed(expr))?;
        items.sort_by(|x, y| {
            let kx = t.values(&x.1).first().map(sort_key);
            let ky = t.values(&y.1).first().map(sort_key);
            kx.partial_cmp(&ky).unwrap_or(std::cmp::Ordering::Equal)
        });
    }
    let single = parsed.single_item && items.len() == 1 && errors.is_empty();
    let objects: Vec<Value> = items.iter().map(|(_, o)| o.clone()).collect();
    let mut doc = if single {
        objects[0].clone()
    } else {
        json!({"apiVersion": "v1", "items": objects, "kind": "List", "metadata": {"resourceVersion": ""}})
    };
    if !a.show_managed_fields {
        strip_managed_fields(&mut doc);
    }
    let out = match output {
        Output::Yaml => yaml::to_string(&doc),
        Output::Json => pjson::to_string(&doc),
        Output::JsonPath(t) => t.render(&doc),
        Output::Custom(c) => {
            if objects.is_empty() {
                String::new()
            } else {
                c.render(&objects, !a.no_headers)
            }
        }
        _ => items
            .iter()
            .map(|(r, o)| {
                format!(
                    "{}/{}\n",
                    r.kind_prefix(),
                    o["metadata"]["name"].as_str().unwrap_or("")
                )
            })
            .collect(),
    };
    if a.watch || a.watch_only {
        // A watch prints each object on its own (YAML documents separated),
        // never a List.
        for (i, (r, o)) in items.iter().enumerate() {
            if matches!(output, Output::Yaml) && i > 0 {
                println!("---");
            }
            let mut o = o.clone();
            if !a.show_managed_fields {
                strip_managed_fields(&mut o);
            }
            print!("{}", print_object(output, r, &o));
        }
    } else {
        print!("{out}");
    }
    let code = report(errors);
    if (a.watch || a.watch_only) && code == 0 {
        if let Some(t) = parsed.targets.first() {
            let rv = if single {
                doc["metadata"]["resourceVersion"]
                    .as_str()
                    .unwrap_or("")
                    .to_string()
            } else {
                list_rv.clone()
            };
            let path = watch_path(a, &t.resource, ns, &t.names, &rv);
            let r = t.resource.clone();
            let mut first = items.is_empty();
            read_events(rest, &path, "application/json", |ev| {
                let mut obj = ev["object"].clone();
                if !a.show_managed_fields {
                    strip_managed_fields(&mut obj);
                }
                // Upstream separates YAML documents; other printers just follow.
                if matches!(output, Output::Yaml) && !first {
                    println!("---");
                }
                first = false;
                print!("{}", print_object(output, &r, &obj));
                let _ = std::io::Write::flush(&mut std::io::stdout());
                true
            })
            .await?;
        }
    }
    let listed = parsed.targets.iter().all(|t| t.names.is_empty());
    if items.is_empty() && code == 0 && listed && matches!(output, Output::Name | Output::Custom(_))
    {
        let namespaced = parsed.targets.iter().any(|t| t.resource.namespaced);
        no_resources(rest, a, namespaced);
    }
    Ok(code)
}
