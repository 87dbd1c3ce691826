//! `kubectl top node|pod`: resource usage from the resource metrics API
//! (`metrics.k8s.io/v1beta1`, which our apiserver serves from the kubelets'
//! samples; metrics-server serves it upstream), printed as upstream's
//! `metricsutil` printer does: CPU in millicores, memory in whole MiB,
//! nodes also as a percentage of their allocatable (or capacity), sorted by
//! name unless `--sort-by=cpu|memory` (largest first).

use apimachinery::quantity::Quantity;
use serde_json::Value;

use crate::cli::{TopCommand, TopNodeArgs, TopPodArgs};
use crate::client::{q, Rest};
use crate::error::{Error, Result};
use crate::printers::tabwriter::align;

const METRICS: &str = "/apis/metrics.k8s.io/v1beta1";

/// What is measured, in column order.
const MEASURED: [&str; 2] = ["cpu", "memory"];

/// Runs `kubectl top ...`.
pub async fn run(rest: &Rest, command: TopCommand) -> Result<i32> {
    match command {
        TopCommand::Node(a) => nodes(rest, a).await,
        TopCommand::Pod(a) => pods(rest, a).await,
    }
}

/// The checks upstream makes before asking for metrics.
async fn check(
    rest: &Rest,
    sort_by: Option<&str>,
    name: &Option<String>,
    selector: &Option<String>,
) -> Result<()> {
    if let Some(s) = sort_by {
        if s != "cpu" && s != "memory" {
            return Err(Error::usage("--sort-by accepts only cpu or memory"));
        }
    }
    if name.is_some() && selector.is_some() {
        return Err(Error::usage(
            "only one of NAME or --selector can be provided",
        ));
    }
    let groups = rest.get("/apis").await?;
    let served = groups["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|g| g["name"] == "metrics.k8s.io");
    if !served {
        return Err(Error::usage("Metrics API not available"));
    }
    Ok(())
}

/// `?labelSelector=...&fieldSelector=...`, as given.
fn query(label: &Option<String>, field: &Option<String>) -> String {
    let mut parts = Vec::new();
    if let Some(l) = label {
        parts.push(format!("labelSelector={}", q(l)));
    }
    if let Some(f) = field {
        parts.push(format!("fieldSelector={}", q(f)));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("?{}", parts.join("&"))
    }
}

fn items(list: Value) -> Vec<Value> {
    match list.get("items").and_then(Value::as_array) {
        Some(items) => items.clone(),
        None => Vec::new(),
    }
}

fn quantity(v: &Value, resource: &str) -> Quantity {
    v.get(resource)
        .and_then(Value::as_str)
        .and_then(|s| Quantity::parse(s).ok())
        .unwrap_or(Quantity::ZERO)
}

/// A usage as upstream prints it: `250m`, `64Mi`.
fn usage(resource: &str, q: &Quantity) -> String {
    match resource {
        "cpu" => format!("{}m", q.milli_value()),
        _ => format!("{}Mi", q.value() / (1024 * 1024)),
    }
}

/// The sort key of `--sort-by` (largest first); 0 without it.
fn sort_key(sort_by: Option<&str>, usage: &Value) -> i64 {
    match sort_by {
        Some("cpu") => quantity(usage, "cpu").milli_value(),
        Some("memory") => quantity(usage, "memory").value(),
        _ => 0,
    }
}

async fn nodes(rest: &Rest, a: TopNodeArgs) -> Result<i32> {
    check(rest, a.sort_by.as_deref(), &a.name, &a.selector).await?;
    let mut metrics = match &a.name {
        Some(n) => vec![rest.get(&format!("{METRICS}/nodes/{}", q(n))).await?],
        None => items(
            rest.get(&format!("{METRICS}/nodes{}", query(&a.selector, &None)))
                .await?,
        ),
    };
    if metrics.is_empty() {
        return Err(Error::usage("metrics not available yet"));
    }
    let nodes = match &a.name {
        Some(n) => vec![rest.get(&format!("/api/v1/nodes/{}", q(n))).await?],
        None => items(
            rest.get(&format!("/api/v1/nodes{}", query(&a.selector, &None)))
                .await?,
        ),
    };
    let field = if a.show_capacity {
        "capacity"
    } else {
        "allocatable"
    };
    let mut available: Vec<(String, Value)> = nodes
        .iter()
        .map(|n| {
            (
                n["metadata"]["name"].as_str().unwrap_or("").to_string(),
                n["status"][field].clone(),
            )
        })
        .collect();
    let sort_by = a.sort_by.as_deref();
    metrics.sort_by(|x, y| match sort_by {
        Some(_) => sort_key(sort_by, &y["usage"]).cmp(&sort_key(sort_by, &x["usage"])),
        None => x["metadata"]["name"]
            .as_str()
            .cmp(&y["metadata"]["name"].as_str()),
    });
    let mut rows = Vec::new();
    if !a.no_headers {
        rows.push(row(&[
            "NAME",
            "CPU(cores)",
            "CPU(%)",
            "MEMORY(bytes)",
            "MEMORY(%)",
        ]));
    }
    for m in &metrics {
        let name = m["metadata"]["name"].as_str().unwrap_or("").to_string();
        let mut cells = vec![name.clone()];
        let avail = available
            .iter()
            .position(|(n, _)| *n == name)
            .map(|i| available.remove(i).1);
        for resource in MEASURED {
            let used = quantity(&m["usage"], resource);
            cells.push(usage(resource, &used));
            if let Some(avail) = &avail {
                let total = quantity(avail, resource);
                let percent = if total.is_zero() {
                    0.0
                } else {
                    used.milli_value() as f64 / total.milli_value() as f64 * 100.0
                };
                cells.push(format!("{}%", percent as i64));
            }
        }
        cells.push(String::new());
        rows.push(cells);
    }
    // Nodes without metrics, last, as upstream (in no particular order
    // there; by name here).
    available.sort_by(|x, y| x.0.cmp(&y.0));
    for (name, _) in available {
        let mut cells = vec![name];
        cells.extend(std::iter::repeat_n(
            "<unknown>".to_string(),
            2 * MEASURED.len(),
        ));
        cells.push(String::new());
        rows.push(cells);
    }
    print!("{}", align(&rows));
    Ok(0)
}

fn row(cells: &[&str]) -> Vec<String> {
    let mut r: Vec<String> = cells.iter().map(|c| c.to_string()).collect();
    r.push(String::new());
    r
}

/// The sum of a pod's containers' usage of `resource`.
fn pod_usage(pod: &Value, resource: &str) -> Quantity {
    pod["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .fold(Quantity::ZERO, |sum, c| {
            sum.checked_add(&quantity(&c["usage"], resource))
                .unwrap_or(sum)
        })
}

async fn pods(rest: &Rest, a: TopPodArgs) -> Result<i32> {
    check(rest, a.sort_by.as_deref(), &a.name, &a.selector).await?;
    let base = if a.all_namespaces {
        format!("{METRICS}/pods")
    } else {
        format!("{METRICS}/namespaces/{}/pods", q(&rest.namespace))
    };
    let mut metrics = match &a.name {
        Some(n) => vec![rest.get(&format!("{base}/{}", q(n))).await?],
        None => items(
            rest.get(&format!("{base}{}", query(&a.selector, &a.field_selector)))
                .await?,
        ),
    };
    if metrics.is_empty() {
        let pods_path = if a.all_namespaces {
            "/api/v1/pods".to_string()
        } else {
            format!("/api/v1/namespaces/{}/pods", q(&rest.namespace))
        };
        let pods = items(
            rest.get(&format!(
                "{pods_path}{}",
                query(&a.selector, &a.field_selector)
            ))
            .await?,
        );
        if !pods.is_empty() {
            return Err(Error::usage("metrics not available yet"));
        }
        if a.all_namespaces {
            eprintln!("No resources found");
        } else {
            eprintln!("No resources found in {} namespace.", rest.namespace);
        }
        return Ok(0);
    }
    let sort_by = a.sort_by.as_deref();
    let pod_key = |p: &Value| match sort_by {
        Some("cpu") => pod_usage(p, "cpu").milli_value(),
        Some("memory") => pod_usage(p, "memory").value(),
        _ => 0,
    };
    metrics.sort_by(|x, y| match sort_by {
        Some(_) => pod_key(y).cmp(&pod_key(x)),
        None => {
            let ns = |p: &Value| {
                p["metadata"]["namespace"]
                    .as_str()
                    .unwrap_or("")
                    .to_string()
            };
            let name = |p: &Value| p["metadata"]["name"].as_str().unwrap_or("").to_string();
            if a.all_namespaces && ns(x) != ns(y) {
                ns(x).cmp(&ns(y))
            } else {
                name(x).cmp(&name(y))
            }
        }
    });
    let mut header: Vec<&str> = Vec::new();
    if a.all_namespaces {
        header.push("NAMESPACE");
    }
    if a.containers {
        header.push("POD");
    }
    header.extend(["NAME", "CPU(cores)", "MEMORY(bytes)"]);
    let mut rows = Vec::new();
    if !a.no_headers {
        rows.push(row(&header));
    }
    let lead = |p: &Value| -> Vec<String> {
        if a.all_namespaces {
            vec![p["metadata"]["namespace"]
                .as_str()
                .unwrap_or("")
                .to_string()]
        } else {
            Vec::new()
        }
    };
    for p in &metrics {
        let pod_name = p["metadata"]["name"].as_str().unwrap_or("").to_string();
        if a.containers {
            let mut containers: Vec<Value> =
                p["containers"].as_array().cloned().unwrap_or_default();
            containers.sort_by(|x, y| match sort_by {
                Some(_) => sort_key(sort_by, &y["usage"]).cmp(&sort_key(sort_by, &x["usage"])),
                None => x["name"].as_str().cmp(&y["name"].as_str()),
            });
            for c in containers {
                let mut cells = lead(p);
                cells.push(pod_name.clone());
                cells.push(c["name"].as_str().unwrap_or("").to_string());
                for resource in MEASURED {
                    cells.push(usage(resource, &quantity(&c["usage"], resource)));
                }
                cells.push(String::new());
                rows.push(cells);
            }
        } else {
            let mut cells = lead(p);
            cells.push(pod_name);
            for resource in MEASURED {
                cells.push(usage(resource, &pod_usage(p, resource)));
            }
            cells.push(String::new());
            rows.push(cells);
        }
    }
    if a.sum {
        let width = header.len();
        let mut line = vec![String::new(); width - 2];
        line.extend([
            "________".to_string(),
            "________".to_string(),
            String::new(),
        ]);
        rows.push(line);
        let mut total = vec![String::new(); width - 3];
        total.push(String::new());
        for resource in MEASURED {
            let sum = metrics.iter().fold(Quantity::ZERO, |s, p| {
                s.checked_add(&pod_usage(p, resource)).unwrap_or(s)
            });
            total.push(usage(resource, &sum));
        }
        total.push(String::new());
        rows.push(total);
    }
    print!("{}", align(&rows));
    Ok(0)
}
