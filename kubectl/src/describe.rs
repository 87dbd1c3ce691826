//! `kubectl describe`: a readable summary of an object plus its Events.
//!
//! Pods, Deployments, ReplicaSets, Services and Nodes get the sections
//! upstream shows for them (containers and their states, replica counts,
//! endpoints, conditions, capacity); every other kind falls back to its
//! fields with Title Case keys. Events are found like upstream finds them
//! (field selector on the involved object). Alignment is upstream's: a
//! tabwriter over `indent + key` cells, in blocks of consecutive `Key: value`
//! lines, padded by two spaces; Services, Deployments, ConfigMaps, Secrets,
//! Namespaces and pending Pods print byte-identically.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::cli::DescribeArgs;
use crate::client::{q, Rest};
use crate::discovery::{Resolver, Resource};
use crate::error::{Error, Result};
use crate::printers::tabwriter::align;
use crate::target;

/// A value printed as empty on a `Key:` line (an empty value marks a heading).
const EMPTY: &str = "\u{1}";

/// The key marking a raw line.
const RAW: &str = "\u{0}raw";

/// Lines being built: `(indent level, key, value)`; an empty key is a plain line.
#[derive(Default)]
struct Out {
    lines: Vec<(usize, String, String)>,
}

impl Out {
    fn kv(&mut self, level: usize, k: &str, v: impl Into<String>) {
        self.lines.push((level, format!("{k}:"), v.into()));
    }
    fn head(&mut self, level: usize, k: &str) {
        self.lines.push((level, format!("{k}:"), String::new()));
    }
    fn map(&mut self, level: usize, k: &str, m: &Value, sep: &str) {
        // Upstream never shows the last-applied configuration.
        let mut m = m.as_object().cloned();
        if let Some(map) = m.as_mut() {
            map.remove(crate::apply::LAST_APPLIED);
        }
        match m.as_ref() {
            Some(m) if !m.is_empty() => {
                for (i, (key, v)) in m.iter().enumerate() {
                    let text = format!(
                        "{key}{sep}{}",
                        v.as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| v.to_string())
                    );
                    if i == 0 {
                        self.kv(level, k, text);
                    } else {
                        self.lines.push((level, String::new(), text));
                    }
                }
            }
            _ => self.kv(level, k, "<none>"),
        }
    }
    /// A line printed as is (indented), which also ends an alignment block.
    fn raw(&mut self, level: usize, text: impl Into<String>) {
        self.lines.push((level, RAW.to_string(), text.into()));
    }
    fn render(&self) -> String {
        // Like upstream's tabwriter: consecutive `Key: value` lines of one
        // level form a block aligned on its widest key; headings and raw
        // lines end a block.
        let is_kv = |i: usize| {
            let (_, k, v) = &self.lines[i];
            k != RAW && !v.is_empty()
        };
        // The indentation is part of the first cell, so a block spans levels.
        let n = self.lines.len();
        let cell = |i: usize| {
            let (l, k, _) = &self.lines[i];
            format!("{}{k}", "  ".repeat(*l))
        };
        let mut width = vec![0usize; n];
        let mut i = 0;
        while i < n {
            if !is_kv(i) {
                i += 1;
                continue;
            }
            let mut j = i;
            while j < n && is_kv(j) {
                j += 1;
            }
            let w = (i..j).map(|x| cell(x).len()).max().unwrap_or(0);
            width[i..j].iter_mut().for_each(|x| *x = w);
            i = j;
        }
        let mut s = String::new();
        for (idx, (l, k, v)) in self.lines.iter().enumerate() {
            let pad = "  ".repeat(*l);
            if k == RAW {
                s.push_str(&format!("{pad}{v}\n"));
            } else if v.is_empty() {
                s.push_str(&format!("{pad}{k}\n"));
            } else {
                let v = if v == EMPTY { "" } else { v.as_str() };
                s.push_str(&format!("{:<w$}  {v}\n", cell(idx), w = width[idx]));
            }
        }
        s
    }
}

/// A timestamp's age as upstream's describe shows it (`HumanDuration`).
pub(crate) fn age(ts: &str) -> String {
    apimachinery::duration::since(ts)
}

fn s<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    let mut cur = v;
    for p in path {
        cur = &cur[*p];
    }
    cur.as_str().unwrap_or("")
}

fn title(key: &str) -> String {
    let mut out = String::new();
    for (i, c) in key.chars().enumerate() {
        if i == 0 {
            out.extend(c.to_uppercase());
        } else if c.is_uppercase() {
            out.push(' ');
            out.push(c);
        } else {
            out.push(c);
        }
    }
    out
}

fn generic(out: &mut Out, level: usize, v: &Value) {
    if let Some(m) = v.as_object() {
        for (k, val) in m {
            match val {
                Value::Object(o) if !o.is_empty() => {
                    out.head(level, &title(k));
                    generic(out, level + 1, val);
                }
                Value::Array(a) if !a.is_empty() => {
                    out.head(level, &title(k));
                    for item in a {
                        if item.is_object() {
                            generic(out, level + 1, item);
                        } else {
                            out.lines.push((
                                level + 1,
                                String::new(),
                                item.as_str()
                                    .map(str::to_string)
                                    .unwrap_or_else(|| item.to_string()),
                            ));
                        }
                    }
                }
                Value::String(st) => out.kv(level, &title(k), st.clone()),
                other => out.kv(level, &title(k), other.to_string()),
            }
        }
    }
}

/// The "Pod Template" section (also used by `rollout history --revision`).
pub fn template_text(tpl: &Value) -> String {
    let mut out = Out::default();
    template(&mut out, 0, tpl);
    out.render()
}

fn template(out: &mut Out, level: usize, tpl: &Value) {
    out.head(level, "Pod Template");
    out.map(level + 1, "Labels", &tpl["metadata"]["labels"], "=");
    if tpl["metadata"]["annotations"].is_object() {
        out.map(
            level + 1,
            "Annotations",
            &tpl["metadata"]["annotations"],
            ": ",
        );
    }
    containers(out, level + 1, &tpl["spec"], &Value::Null, true);
    let vols: Vec<&str> = tpl["spec"]["volumes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|v| s(v, &["name"]))
        .collect();
    out.kv(
        level + 1,
        "Volumes",
        if vols.is_empty() {
            "<none>".to_string()
        } else {
            vols.join(", ")
        },
    );
    out.map(
        level + 1,
        "Node-Selectors",
        &tpl["spec"]["nodeSelector"],
        "=",
    );
    let tols: Vec<String> = tpl["spec"]["tolerations"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| format!("{}:{}", s(t, &["key"]), s(t, &["effect"])))
        .collect();
    out.kv(
        level + 1,
        "Tolerations",
        if tols.is_empty() {
            "<none>".to_string()
        } else {
            tols.join(", ")
        },
    );
}

/// Upstream's timestamp format in describe (`Thu, 03 Dec 2026 09:46:10 +0000`).
fn rfc1123z(ts: &str) -> String {
    ts.parse::<DateTime<Utc>>()
        .map(|t| t.format("%a, %d %b %Y %H:%M:%S %z").to_string())
        .unwrap_or_else(|_| ts.to_string())
}

fn containers(out: &mut Out, level: usize, spec: &Value, status: &Value, in_template: bool) {
    out.head(level, "Containers");
    // A pod's containers sit one level deeper than a template's.
    let f = if in_template { level + 1 } else { level + 2 };
    for c in spec["containers"].as_array().into_iter().flatten() {
        let name = s(c, &["name"]);
        // Upstream indents a container's name one space past its section.
        if in_template {
            out.raw(level, format!(" {name}:"));
        } else {
            out.raw(level + 1, format!("{name}:"));
        }
        out.kv(f, "Image", s(c, &["image"]));
        let ports: Vec<&Value> = c["ports"].as_array().into_iter().flatten().collect();
        let proto = |p: &Value| p["protocol"].as_str().unwrap_or("TCP").to_string();
        if ports.is_empty() {
            out.kv(f, "Port", "<none>");
            out.kv(f, "Host Port", "<none>");
        } else {
            let (pk, hk) = if ports.len() > 1 {
                ("Ports", "Host Ports")
            } else {
                ("Port", "Host Port")
            };
            let list = |key: &str| -> String {
                ports
                    .iter()
                    .map(|p| format!("{}/{}", p[key].as_i64().unwrap_or(0), proto(p)))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            out.kv(f, pk, list("containerPort"));
            out.kv(f, hk, list("hostPort"));
        }
        if let Some(cmd) = c["command"].as_array() {
            out.head(f, "Command");
            for a in cmd {
                out.lines
                    .push((f + 1, String::new(), a.as_str().unwrap_or("").to_string()));
            }
        }
        if let Some(st) = status["containerStatuses"]
            .as_array()
            .and_then(|l| l.iter().find(|x| x["name"] == name))
        {
            if let Some((state, detail)) = st["state"].as_object().and_then(|m| m.iter().next()) {
                out.kv(f, "State", title(state));
                if let Some(r) = detail["reason"].as_str() {
                    out.kv(f + 1, "Reason", r);
                }
                if let Some(t) = detail["startedAt"].as_str() {
                    out.kv(f + 1, "Started", rfc1123z(t));
                }
            }
            out.kv(
                f,
                "Ready",
                if st["ready"] == true { "True" } else { "False" },
            );
            out.kv(f, "Restart Count", st["restartCount"].to_string());
        }
        let env: Vec<String> = c["env"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| {
                format!(
                    "{}:  {}",
                    s(e, &["name"]),
                    e["value"].as_str().unwrap_or("<set from a reference>")
                )
            })
            .collect();
        if env.is_empty() {
            out.kv(f, "Environment", "<none>");
        } else {
            out.head(f, "Environment");
            for e in env {
                out.raw(f + 1, e);
            }
        }
        let mounts: Vec<String> = c["volumeMounts"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|m| {
                format!(
                    "{} from {} ({})",
                    s(m, &["mountPath"]),
                    s(m, &["name"]),
                    if m["readOnly"] == true { "ro" } else { "rw" }
                )
            })
            .collect();
        if mounts.is_empty() {
            out.kv(f, "Mounts", "<none>");
        } else {
            out.head(f, "Mounts");
            for m in mounts {
                out.raw(f + 1, m);
            }
        }
    }
}

fn conditions(out: &mut Out, st: &Value, cols: &[&str]) {
    let Some(list) = st["conditions"].as_array() else {
        return;
    };
    out.head(0, "Conditions");
    let mut rows = vec![cols.iter().map(|c| c.to_string()).collect::<Vec<_>>()];
    rows.push(cols.iter().map(|c| "-".repeat(c.len())).collect());
    for c in list {
        rows.push(
            cols.iter()
                .map(|col| {
                    s(
                        c,
                        &[match *col {
                            "Type" => "type",
                            "Status" => "status",
                            "Reason" => "reason",
                            _ => "message",
                        }],
                    )
                    .to_string()
                })
                .collect(),
        );
    }
    for line in align(&rows).lines() {
        out.raw(1, line);
    }
}

async fn events(rest: &Rest, out: &mut Out, obj: &Value) -> Result<()> {
    let m = &obj["metadata"];
    let mut sel = vec![format!("involvedObject.name={}", s(m, &["name"]))];
    let ns = m["namespace"].as_str();
    if let Some(n) = ns {
        sel.push(format!("involvedObject.namespace={n}"));
    }
    if let Some(u) = m["uid"].as_str() {
        sel.push(format!("involvedObject.uid={u}"));
    }
    let path = match ns {
        Some(n) => format!(
            "/api/v1/namespaces/{n}/events?fieldSelector={}",
            q(&sel.join(","))
        ),
        None => format!("/api/v1/events?fieldSelector={}", q(&sel.join(","))),
    };
    let list = rest.get(&path).await?;
    let mut items: Vec<&Value> = list["items"].as_array().into_iter().flatten().collect();
    if items.is_empty() {
        out.kv(0, "Events", "<none>");
        return Ok(());
    }
    let when = |e: &Value| -> String {
        ["lastTimestamp", "eventTime", "firstTimestamp"]
            .iter()
            .find_map(|k| e[*k].as_str().map(str::to_string))
            .or_else(|| {
                e["metadata"]["creationTimestamp"]
                    .as_str()
                    .map(str::to_string)
            })
            .unwrap_or_default()
    };
    items.sort_by_key(|e| when(e));
    out.head(0, "Events");
    let mut rows = vec![
        ["Type", "Reason", "Age", "From", "Message"]
            .map(String::from)
            .to_vec(),
        ["----", "------", "----", "----", "-------"]
            .map(String::from)
            .to_vec(),
    ];
    for e in items {
        let from = e["source"]["component"]
            .as_str()
            .filter(|c| !c.is_empty())
            .or_else(|| e["reportingComponent"].as_str())
            .unwrap_or("");
        let count = e["count"].as_i64().unwrap_or(1);
        let age_text = if count > 1 {
            format!(
                "{} (x{count} over {})",
                age(&when(e)),
                age(s(e, &["firstTimestamp"]))
            )
        } else {
            age(&when(e))
        };
        rows.push(vec![
            s(e, &["type"]).into(),
            s(e, &["reason"]).into(),
            age_text,
            from.into(),
            s(e, &["message"]).trim().into(),
        ]);
    }
    for line in align(&rows).lines() {
        out.raw(1, line);
    }
    Ok(())
}

async fn describe_one(rest: &Rest, r: &Resource, obj: &Value, show_events: bool) -> Result<String> {
    let mut out = Out::default();
    let m = &obj["metadata"];
    out.kv(0, "Name", s(m, &["name"]));
    if r.namespaced {
        out.kv(0, "Namespace", s(m, &["namespace"]));
    }
    let spec = &obj["spec"];
    let st = &obj["status"];
    match r.kind.as_str() {
        "Pod" => {
            out.kv(
                0,
                "Priority",
                spec["priority"].as_i64().unwrap_or(0).to_string(),
            );
            if !s(spec, &["serviceAccountName"]).is_empty() {
                out.kv(0, "Service Account", s(spec, &["serviceAccountName"]));
            }
            let node = s(spec, &["nodeName"]);
            let host_ip = s(st, &["hostIP"]);
            out.kv(
                0,
                "Node",
                if node.is_empty() {
                    "<none>".to_string()
                } else {
                    format!("{node}/{host_ip}")
                },
            );
            if let Some(t) = st["startTime"].as_str() {
                out.kv(0, "Start Time", t);
            }
            out.map(0, "Labels", &m["labels"], "=");
            out.map(0, "Annotations", &m["annotations"], ": ");
            out.kv(
                0,
                "Status",
                if m["deletionTimestamp"].is_string() {
                    "Terminating"
                } else {
                    s(st, &["phase"])
                },
            );
            let ip = s(st, &["podIP"]);
            out.kv(0, "IP", if ip.is_empty() { EMPTY } else { ip });
            let ips: Vec<&str> = st["podIPs"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|x| s(x, &["ip"]))
                .collect();
            if ips.is_empty() {
                out.kv(0, "IPs", "<none>");
            } else {
                out.head(0, "IPs");
                for ip in ips {
                    out.kv(1, "IP", ip);
                }
            }
            if let Some(o) = m["ownerReferences"]
                .as_array()
                .and_then(|l| l.iter().find(|o| o["controller"] == true))
            {
                out.kv(
                    0,
                    "Controlled By",
                    format!("{}/{}", s(o, &["kind"]), s(o, &["name"])),
                );
            }
            containers(&mut out, 0, spec, st, false);
            conditions(&mut out, st, &["Type", "Status"]);
            let vols: Vec<&str> = spec["volumes"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|v| s(v, &["name"]))
                .collect();
            out.kv(
                0,
                "Volumes",
                if vols.is_empty() {
                    "<none>".to_string()
                } else {
                    vols.join(", ")
                },
            );
            out.kv(0, "QoS Class", s(st, &["qosClass"]));
            out.map(0, "Node-Selectors", &spec["nodeSelector"], "=");
            let tols: Vec<String> = spec["tolerations"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|t| {
                    let mut x = s(t, &["key"]).to_string();
                    if let Some(v) = t["value"].as_str() {
                        x = format!("{x}={v}");
                    }
                    if let Some(e) = t["effect"].as_str() {
                        x = format!("{x}:{e}");
                    }
                    if t["operator"] == "Exists" && t["key"].is_null() {
                        x = "op=Exists".into();
                    }
                    if let Some(secs) = t["tolerationSeconds"].as_i64() {
                        x = format!("{x} for {secs}s");
                    }
                    x
                })
                .collect();
            if tols.is_empty() {
                out.kv(0, "Tolerations", "<none>");
            } else {
                for (i, t) in tols.into_iter().enumerate() {
                    if i == 0 {
                        out.kv(0, "Tolerations", t);
                    } else {
                        out.lines.push((0, String::new(), t));
                    }
                }
            }
        }
        "Deployment" => {
            out.kv(
                0,
                "CreationTimestamp",
                rfc1123z(s(m, &["creationTimestamp"])),
            );
            out.map(0, "Labels", &m["labels"], "=");
            out.map(0, "Annotations", &m["annotations"], ": ");
            out.kv(0, "Selector", selector_text(&spec["selector"]));
            let n = |k: &str| st[k].as_i64().unwrap_or(0);
            out.kv(
                0,
                "Replicas",
                format!(
                    "{} desired | {} updated | {} total | {} available | {} unavailable",
                    spec["replicas"].as_i64().unwrap_or(1),
                    n("updatedReplicas"),
                    n("replicas"),
                    n("availableReplicas"),
                    n("unavailableReplicas")
                ),
            );
            out.kv(0, "StrategyType", s(spec, &["strategy", "type"]));
            out.kv(
                0,
                "MinReadySeconds",
                spec["minReadySeconds"].as_i64().unwrap_or(0).to_string(),
            );
            if let Some(ru) = spec["strategy"]["rollingUpdate"].as_object() {
                let f = |k: &str| {
                    ru.get(k)
                        .map(|v| {
                            v.as_str()
                                .map(str::to_string)
                                .unwrap_or_else(|| v.to_string())
                        })
                        .unwrap_or_default()
                };
                out.kv(
                    0,
                    "RollingUpdateStrategy",
                    format!(
                        "{} max unavailable, {} max surge",
                        f("maxUnavailable"),
                        f("maxSurge")
                    ),
                );
            }
            template(&mut out, 0, &spec["template"]);
            conditions(&mut out, st, &["Type", "Status", "Reason"]);
        }
        "ReplicaSet" => {
            out.kv(0, "Selector", selector_text(&spec["selector"]));
            out.map(0, "Labels", &m["labels"], "=");
            out.map(0, "Annotations", &m["annotations"], ": ");
            if let Some(o) = m["ownerReferences"]
                .as_array()
                .and_then(|l| l.iter().find(|o| o["controller"] == true))
            {
                out.kv(
                    0,
                    "Controlled By",
                    format!("{}/{}", s(o, &["kind"]), s(o, &["name"])),
                );
            }
            out.kv(
                0,
                "Replicas",
                format!(
                    "{} current / {} desired",
                    st["replicas"].as_i64().unwrap_or(0),
                    spec["replicas"].as_i64().unwrap_or(0)
                ),
            );
            template(&mut out, 0, &spec["template"]);
        }
        "Service" => {
            out.map(0, "Labels", &m["labels"], "=");
            out.map(0, "Annotations", &m["annotations"], ": ");
            let sel: Vec<String> = spec["selector"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect();
            out.kv(
                0,
                "Selector",
                if sel.is_empty() {
                    "<none>".into()
                } else {
                    sel.join(",")
                },
            );
            out.kv(0, "Type", s(spec, &["type"]));
            if let Some(p) = spec["ipFamilyPolicy"].as_str() {
                out.kv(0, "IP Family Policy", p);
            }
            let fams: Vec<&str> = spec["ipFamilies"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            if !fams.is_empty() {
                out.kv(0, "IP Families", fams.join(","));
            }
            out.kv(0, "IP", s(spec, &["clusterIP"]));
            let ips: Vec<&str> = spec["clusterIPs"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            if !ips.is_empty() {
                out.kv(0, "IPs", ips.join(","));
            }
            for p in spec["ports"].as_array().into_iter().flatten() {
                let name = p["name"]
                    .as_str()
                    .filter(|n| !n.is_empty())
                    .unwrap_or("<unset>");
                out.kv(
                    0,
                    "Port",
                    format!(
                        "{name}  {}/{}",
                        p["port"],
                        p["protocol"].as_str().unwrap_or("TCP")
                    ),
                );
                let tp = p["targetPort"]
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| p["targetPort"].to_string());
                out.kv(
                    0,
                    "TargetPort",
                    format!("{tp}/{}", p["protocol"].as_str().unwrap_or("TCP")),
                );
            }
            let ep = rest
                .get(&format!(
                    "/api/v1/namespaces/{}/endpoints/{}",
                    s(m, &["namespace"]),
                    s(m, &["name"])
                ))
                .await
                .unwrap_or(Value::Null);
            let addrs: Vec<String> = ep["subsets"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|ss| {
                    let ports: Vec<i64> = ss["ports"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|p| p["port"].as_i64())
                        .collect();
                    ss["addresses"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .flat_map(move |a| {
                            let ip = a["ip"].as_str().unwrap_or("").to_string();
                            ports.clone().into_iter().map(move |p| format!("{ip}:{p}"))
                        })
                })
                .collect();
            out.kv(
                0,
                "Endpoints",
                if addrs.is_empty() {
                    "<none>".into()
                } else {
                    addrs.join(",")
                },
            );
            out.kv(0, "Session Affinity", s(spec, &["sessionAffinity"]));
            if let Some(p) = spec["internalTrafficPolicy"].as_str() {
                out.kv(0, "Internal Traffic Policy", p);
            }
        }
        "ConfigMap" => {
            out.map(0, "Labels", &m["labels"], "=");
            out.map(0, "Annotations", &m["annotations"], ": ");
            out.raw(0, "");
            out.raw(0, "Data");
            out.raw(0, "====");
            for (k, v) in obj["data"].as_object().into_iter().flatten() {
                out.raw(0, format!("{k}:"));
                out.raw(0, "----");
                out.raw(0, v.as_str().unwrap_or(""));
                out.raw(0, "");
            }
            out.raw(0, "");
            out.raw(0, "BinaryData");
            out.raw(0, "====");
            for (k, v) in obj["binaryData"].as_object().into_iter().flatten() {
                let len = v.as_str().map(|b| b.len() / 4 * 3).unwrap_or(0);
                out.kv(0, k, format!("{len} bytes"));
            }
            out.raw(0, "");
        }
        "Secret" => {
            out.map(0, "Labels", &m["labels"], "=");
            out.map(0, "Annotations", &m["annotations"], ": ");
            out.raw(0, "");
            out.kv(0, "Type", s(obj, &["type"]));
            out.raw(0, "");
            out.raw(0, "Data");
            out.raw(0, "====");
            for (k, v) in obj["data"].as_object().into_iter().flatten() {
                let len = v
                    .as_str()
                    .and_then(|b| {
                        use base64::Engine;
                        base64::engine::general_purpose::STANDARD.decode(b).ok()
                    })
                    .map(|b| b.len())
                    .unwrap_or(0);
                out.kv(0, k, format!("{len} bytes"));
            }
            // Upstream shows no events for Secrets.
            return Ok(out.render());
        }
        "Namespace" => {
            out.map(0, "Labels", &m["labels"], "=");
            out.map(0, "Annotations", &m["annotations"], ": ");
            out.kv(0, "Status", s(st, &["phase"]));
            let name = s(m, &["name"]);
            let quotas = rest
                .get(&format!("/api/v1/namespaces/{name}/resourcequotas"))
                .await?;
            let limits = rest
                .get(&format!("/api/v1/namespaces/{name}/limitranges"))
                .await?;
            out.raw(0, "");
            let q: Vec<&str> = quotas["items"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|x| s(x, &["metadata", "name"]))
                .collect();
            out.raw(
                0,
                if q.is_empty() {
                    "No resource quota.".to_string()
                } else {
                    format!("Resource Quotas: {}", q.join(", "))
                },
            );
            out.raw(0, "");
            let l: Vec<&str> = limits["items"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|x| s(x, &["metadata", "name"]))
                .collect();
            out.raw(
                0,
                if l.is_empty() {
                    "No LimitRange resource.".to_string()
                } else {
                    format!("Resource Limits: {}", l.join(", "))
                },
            );
            // Upstream shows no events for Namespaces.
            return Ok(out.render());
        }
        "Node" => {
            let roles: Vec<String> = m["labels"]
                .as_object()
                .into_iter()
                .flatten()
                .filter_map(|(k, _)| {
                    k.strip_prefix("node-role.kubernetes.io/")
                        .map(str::to_string)
                })
                .collect();
            out.kv(
                0,
                "Roles",
                if roles.is_empty() {
                    "<none>".into()
                } else {
                    roles.join(",")
                },
            );
            out.map(0, "Labels", &m["labels"], "=");
            out.map(0, "Annotations", &m["annotations"], ": ");
            out.kv(
                0,
                "CreationTimestamp",
                rfc1123z(s(m, &["creationTimestamp"])),
            );
            let taints: Vec<String> = spec["taints"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|t| {
                    let v = t["value"]
                        .as_str()
                        .map(|v| format!("={v}"))
                        .unwrap_or_default();
                    format!("{}{v}:{}", s(t, &["key"]), s(t, &["effect"]))
                })
                .collect();
            out.kv(
                0,
                "Taints",
                if taints.is_empty() {
                    "<none>".into()
                } else {
                    taints.join(", ")
                },
            );
            out.kv(
                0,
                "Unschedulable",
                spec["unschedulable"].as_bool().unwrap_or(false).to_string(),
            );
            conditions(&mut out, st, &["Type", "Status", "Reason", "Message"]);
            out.head(0, "Addresses");
            for a in st["addresses"].as_array().into_iter().flatten() {
                out.kv(1, s(a, &["type"]), s(a, &["address"]));
            }
            for (k, title_) in [("capacity", "Capacity"), ("allocatable", "Allocatable")] {
                out.head(0, title_);
                for (rk, rv) in st[k].as_object().into_iter().flatten() {
                    out.kv(1, rk, rv.as_str().unwrap_or(""));
                }
            }
            out.kv(0, "PodCIDR", s(spec, &["podCIDR"]));
        }
        _ => {
            out.map(0, "Labels", &m["labels"], "=");
            out.map(0, "Annotations", &m["annotations"], ": ");
            out.kv(0, "API Version", s(obj, &["apiVersion"]));
            out.kv(0, "Kind", s(obj, &["kind"]));
            let mut rest_of = obj.clone();
            if let Some(o) = rest_of.as_object_mut() {
                o.remove("apiVersion");
                o.remove("kind");
                o.remove("metadata");
            }
            generic(&mut out, 0, &rest_of);
        }
    }
    if show_events {
        events(rest, &mut out, obj).await?;
    }
    Ok(out.render())
}

fn selector_text(sel: &Value) -> String {
    let mut parts: Vec<String> = sel["matchLabels"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
        .collect();
    for e in sel["matchExpressions"].as_array().into_iter().flatten() {
        let vals: Vec<&str> = e["values"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        parts.push(format!(
            "{} {} ({})",
            s(e, &["key"]),
            s(e, &["operator"]).to_lowercase(),
            vals.join(",")
        ));
    }
    if parts.is_empty() {
        "<none>".into()
    } else {
        parts.join(",")
    }
}

/// Runs `kubectl describe`.
pub async fn run(rest: &Rest, a: DescribeArgs) -> Result<i32> {
    let mut resolver = Resolver::new(rest).await?;
    let parsed = target::parse(&mut resolver, &a.args).await?;
    if parsed.targets.is_empty() {
        return Err(Error::usage("Required resource not specified."));
    }
    let show_events = a.show_events != "false";
    let mut docs = Vec::new();
    let mut errors = Vec::new();
    for t in parsed.targets {
        let r = t.resource;
        let ns = (r.namespaced && !a.all_namespaces).then_some(rest.namespace.as_str());
        if t.names.is_empty() {
            let mut path = r.path(ns);
            if let Some(l) = &a.selector {
                path = format!("{path}?labelSelector={}", q(l));
            }
            let list = rest.get(&path).await?;
            for o in list["items"].as_array().into_iter().flatten() {
                docs.push(describe_one(rest, &r, o, show_events).await?);
            }
        } else {
            for name in &t.names {
                match rest.get(&r.object_path(ns, name)).await {
                    Ok(o) => docs.push(describe_one(rest, &r, &o, show_events).await?),
                    Err(e) if e.is_not_found() => {
                        // Upstream falls back to objects whose name starts with the argument.
                        let list = rest.get(&r.path(ns)).await?;
                        let matches: Vec<&Value> = list["items"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter(|o| s(o, &["metadata", "name"]).starts_with(name.as_str()))
                            .collect();
                        if matches.is_empty() {
                            errors.push(e);
                        }
                        for o in matches {
                            docs.push(describe_one(rest, &r, o, show_events).await?);
                        }
                    }
                    Err(e) => errors.push(e),
                }
            }
        }
    }
    print!("{}", docs.join("\n\n"));
    if docs.is_empty() && errors.is_empty() {
        eprintln!("No resources found in {} namespace.", rest.namespace);
    }
    Ok(crate::error::report(errors))
}
