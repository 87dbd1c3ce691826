//! `kubectl events`: the core/v1 Events of a namespace (or all of them, or
//! of one object with `--for KIND/NAME`), oldest first, as upstream's
//! events printer lays them out: LAST SEEN (with `(xN over AGE)` for a
//! repeated event), TYPE, REASON, OBJECT, MESSAGE. `--types` keeps only
//! Normal or Warning events; `-w` prints the list, then each new event.

use serde_json::Value;

use crate::cli::EventsArgs;
use crate::client::{q, Rest};
use crate::discovery::Resolver;
use crate::error::{Error, Result};
use crate::printers::tabwriter::TabWriter;
use crate::printers::{json as pjson, yaml};
use apimachinery::duration::since;

/// Runs `kubectl events`.
pub async fn run(rest: &Rest, a: EventsArgs) -> Result<i32> {
    for t in &a.types {
        if !t.eq_ignore_ascii_case("Normal") && !t.eq_ignore_ascii_case("Warning") {
            return Err(Error::usage("valid --types are Normal or Warning"));
        }
    }
    let output = match a.output.as_deref() {
        None | Some("") => None,
        Some(o @ ("json" | "yaml")) => Some(o.to_string()),
        Some(other) => {
            return Err(Error::usage(format!(
                "unable to match a printer suitable for the output format \"{other}\", allowed formats are: json,yaml"
            )))
        }
    };
    let mut selector = None;
    if let Some(target) = &a.for_object {
        let Some((typed, name)) = target.split_once('/') else {
            return Err(Error::usage("--for must be in resource/name form"));
        };
        let resource = Resolver::new(rest).await?.resolve(typed).await?;
        selector = Some(format!(
            "involvedObject.kind={},involvedObject.apiVersion={},involvedObject.name={name}",
            resource.kind,
            resource.api_version()
        ));
    }
    let base = if a.all_namespaces {
        "/api/v1/events".to_string()
    } else {
        format!("/api/v1/namespaces/{}/events", q(&rest.namespace))
    };
    let query = selector
        .as_deref()
        .map(|s| format!("fieldSelector={}", q(s)))
        .unwrap_or_default();
    let wanted = |ev: &Value| {
        a.types.is_empty()
            || a.types.iter().any(|t| {
                ev["type"]
                    .as_str()
                    .is_some_and(|et| et.eq_ignore_ascii_case(t))
            })
    };
    let mut printer = Printer {
        all_namespaces: a.all_namespaces,
        headers: !a.no_headers && output.is_none(),
        tabs: TabWriter::new(),
    };
    if a.watch {
        let path = format!("{base}?watch=true&{query}");
        crate::get::read_events(rest, &path, "application/json", |ev| {
            if ev["type"] == "DELETED" || !wanted(&ev["object"]) {
                return true;
            }
            match output.as_deref() {
                Some("json") => print!("{}", pjson::to_string(&ev["object"])),
                Some(_) => print!("---\n{}", yaml::to_string(&ev["object"])),
                None => print!("{}", printer.render(std::slice::from_ref(&ev["object"]))),
            }
            true
        })
        .await?;
        return Ok(0);
    }
    let mut items: Vec<Value> = Vec::new();
    let mut cont = String::new();
    loop {
        let mut params = vec!["limit=500".to_string()];
        if !query.is_empty() {
            params.push(query.clone());
        }
        if !cont.is_empty() {
            params.push(format!("continue={}", q(&cont)));
        }
        let page = rest.get(&format!("{base}?{}", params.join("&"))).await?;
        items.extend(page["items"].as_array().cloned().unwrap_or_default());
        cont = page["metadata"]["continue"]
            .as_str()
            .unwrap_or("")
            .to_string();
        if cont.is_empty() {
            break;
        }
    }
    items.retain(wanted);
    if items.is_empty() {
        if a.all_namespaces {
            eprintln!("No events found.");
        } else {
            eprintln!("No events found in {} namespace.", rest.namespace);
        }
        return Ok(0);
    }
    // Oldest first; a stable sort keeps the server's order among equals.
    items.sort_by_key(sort_time);
    match output.as_deref() {
        Some(format) => {
            for item in items.iter_mut() {
                as_go_writes_it(item);
            }
            let list = serde_json::json!({"apiVersion": "v1", "kind": "EventList",
                "metadata": {}, "items": items});
            if format == "json" {
                print!("{}", pjson::to_string(&list));
            } else {
                print!("{}", yaml::to_string(&list));
            }
        }
        None => print!("{}", printer.render(&items)),
    }
    Ok(0)
}

/// An Event as upstream's kubectl re-encodes the one it decoded: without
/// `managedFields`, and with the fields Go always writes (`eventTime`,
/// `reportingComponent`, `reportingInstance` have no `omitempty`).
fn as_go_writes_it(ev: &mut Value) {
    if let Some(m) = ev.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("managedFields");
    }
    if let Some(m) = ev.as_object_mut() {
        m.entry("eventTime").or_insert(Value::Null);
        m.entry("reportingComponent").or_insert(Value::from(""));
        m.entry("reportingInstance").or_insert(Value::from(""));
    }
}

/// The time an event sorts by: its series' last observation, else its last
/// timestamp, else its event time (upstream's `eventTime`).
fn sort_time(ev: &Value) -> String {
    let text = |p: &str| ev.pointer(p).and_then(Value::as_str).unwrap_or("");
    let t = if ev.get("series").is_some_and(Value::is_object) {
        text("/series/lastObservedTime")
    } else if !text("/lastTimestamp").is_empty() {
        text("/lastTimestamp")
    } else {
        text("/eventTime")
    };
    // Timestamps compare as instants once they share a form.
    t.parse::<chrono::DateTime<chrono::Utc>>()
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
        .unwrap_or_default()
}

/// The events table: widths grow across renders, so watched rows stay
/// aligned with the first ones.
struct Printer {
    all_namespaces: bool,
    headers: bool,
    tabs: TabWriter,
}

impl Printer {
    fn render(&mut self, events: &[Value]) -> String {
        let mut rows = Vec::new();
        if std::mem::take(&mut self.headers) {
            let mut header = Vec::new();
            if self.all_namespaces {
                header.push("NAMESPACE".to_string());
            }
            header.extend(["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"].map(String::from));
            rows.push(header);
        }
        for ev in events {
            let text = |p: &str| ev.pointer(p).and_then(Value::as_str).unwrap_or("");
            let mut row = Vec::new();
            if self.all_namespaces {
                row.push(text("/metadata/namespace").to_string());
            }
            row.push(interval(ev));
            row.push(text("/type").to_string());
            row.push(text("/reason").to_string());
            row.push(format!(
                "{}/{}",
                text("/involvedObject/kind"),
                text("/involvedObject/name")
            ));
            row.push(text("/message").trim().to_string());
            rows.push(row);
        }
        self.tabs.render(&rows)
    }
}

/// LAST SEEN: the age of the event, or of its last occurrence with the
/// count and the age of the first (`5s (x3 over 2m)`).
fn interval(ev: &Value) -> String {
    let text = |p: &str| ev.pointer(p).and_then(Value::as_str).unwrap_or("");
    let first = if text("/eventTime").is_empty() {
        since(text("/firstTimestamp"))
    } else {
        since(text("/eventTime"))
    };
    let count = ev.get("count").and_then(Value::as_i64).unwrap_or(0);
    if ev.get("series").is_some_and(Value::is_object) {
        let n = ev
            .pointer("/series/count")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        format!(
            "{} (x{n} over {first})",
            since(text("/series/lastObservedTime"))
        )
    } else if count > 1 {
        format!("{} (x{count} over {first})", since(text("/lastTimestamp")))
    } else {
        first
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn repeated_events_show_their_count_and_first_age() {
        let old = (chrono::Utc::now() - chrono::Duration::seconds(300)).to_rfc3339();
        let recent = (chrono::Utc::now() - chrono::Duration::seconds(10)).to_rfc3339();
        let ev = json!({"count": 4, "firstTimestamp": old, "lastTimestamp": recent});
        assert_eq!(interval(&ev), "10s (x4 over 5m)");
        let single = json!({"count": 1, "firstTimestamp": recent});
        assert_eq!(interval(&single), "10s");
        assert_eq!(interval(&json!({})), "<unknown>");
    }

    #[test]
    fn sorted_by_their_latest_time() {
        let a = json!({"lastTimestamp": "2026-01-01T00:00:05Z"});
        let b = json!({"eventTime": "2026-01-01T00:00:01.500000Z"});
        let c = json!({"series": {"lastObservedTime": "2026-01-01T00:00:03.000000Z"},
                       "lastTimestamp": "2026-01-01T00:00:09Z"});
        let mut all = [a.clone(), b.clone(), c.clone()];
        all.sort_by_key(sort_time);
        assert_eq!(all, [b, c, a]);
    }
}
