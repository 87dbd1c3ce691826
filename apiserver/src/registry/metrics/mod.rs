//! `metrics.k8s.io/v1beta1`: NodeMetrics (`nodes`) and PodMetrics (`pods`),
//! computed on each read from the scraped samples
//! ([`crate::resource_metrics`]), never stored; only `get` and `list` are
//! served, authorized like any resource (`kubectl top` needs `list` on
//! `pods.metrics.k8s.io` or `nodes.metrics.k8s.io`).
//!
//! As metrics-server: an object exists for each node and pod that exists
//! and has a rate (two samples, every container of the pod), carries the
//! node's or pod's labels (so label selectors work, which is how the
//! HorizontalPodAutoscaler finds its pods' metrics), a `creationTimestamp`
//! of now, the sample's `timestamp` and `window`, and usage as quantities
//! (`cpu` in nanocores, `memory` the working set). The table has Name, the
//! cpu and memory sums and Window, as metrics-server prints it.

use futures::future::BoxFuture;
use serde_json::{json, Value};

use crate::printers::{col, Column, NAME};
use crate::registry::strategy::Strategy;
use crate::resource_metrics::{cpu_quantity, go_duration, memory_quantity, PodUsage, Usage};
use crate::ApiServer;

/// The API version of both kinds.
pub const API_VERSION: &str = "metrics.k8s.io/v1beta1";

#[rustfmt::skip]
const COLUMNS: &[Column] = &[
    NAME,
    Column { format: "quantity", ..col("cpu", "string", 0, "") },
    Column { format: "quantity", ..col("memory", "string", 0, "") },
    Column { format: "duration", ..col("Window", "string", 0, "") },
];

fn usage_json(nanocores: u64, memory: u64) -> Value {
    json!({"cpu": cpu_quantity(nanocores), "memory": memory_quantity(memory)})
}

fn timestamp(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The metrics of the objects stored under `plural` (in `namespace`, if
/// given): `metrics_of` makes an object's, or finds it has none yet.
async fn metrics_of_stored(
    server: &ApiServer,
    plural: &str,
    namespace: Option<&str>,
    metrics_of: impl Fn(&Value) -> Option<Value>,
) -> Vec<Value> {
    let Some(resource) = apimachinery::resources::find("", "v1", plural) else {
        return Vec::new();
    };
    let prefix = server
        .store
        .collection_prefix(resource.storage_name(), namespace);
    match server.store.list(&prefix, None, 0, 0).await {
        Ok(page) => page
            .items
            .iter()
            .filter_map(|(_, o)| metrics_of(&o.object))
            .collect(),
        Err(e) => {
            tracing::warn!(plural, error = %e, "resource metrics: cannot list");
            Vec::new()
        }
    }
}

fn labels(obj: &Value) -> Value {
    obj.pointer("/metadata/labels")
        .cloned()
        .unwrap_or_else(|| json!({}))
}

/// A NodeMetrics for a Node and its usage.
pub fn node_metrics(node: &Value, usage: &Usage) -> Value {
    json!({
        "kind": "NodeMetrics",
        "apiVersion": API_VERSION,
        "metadata": {
            "name": node.pointer("/metadata/name").cloned().unwrap_or(Value::Null),
            "labels": labels(node),
            "creationTimestamp": timestamp(chrono::Utc::now()),
        },
        "timestamp": timestamp(usage.timestamp),
        "window": go_duration(usage.window),
        "usage": usage_json(usage.nanocores, usage.memory_bytes),
    })
}

/// A PodMetrics for a Pod and its containers' usage.
pub fn pod_metrics(pod: &Value, usage: &PodUsage) -> Value {
    let containers: Vec<Value> = usage
        .containers
        .iter()
        .map(|(name, u)| json!({"name": name, "usage": usage_json(u.nanocores, u.memory_bytes)}))
        .collect();
    json!({
        "kind": "PodMetrics",
        "apiVersion": API_VERSION,
        "metadata": {
            "name": pod.pointer("/metadata/name").cloned().unwrap_or(Value::Null),
            "namespace": pod.pointer("/metadata/namespace").cloned().unwrap_or(Value::Null),
            "labels": labels(pod),
            "creationTimestamp": timestamp(chrono::Utc::now()),
        },
        "timestamp": timestamp(usage.timestamp),
        "window": go_duration(usage.window),
        "containers": containers,
    })
}

/// A row: the name, the summed cpu and memory, the window.
fn cells(obj: &Value, usages: Vec<&Value>) -> Vec<Value> {
    let sum = |key: &str| {
        usages
            .iter()
            .filter_map(|u| u.get(key).and_then(Value::as_str))
            .filter_map(|q| apimachinery::quantity::Quantity::parse(q).ok())
            .try_fold(
                apimachinery::quantity::Quantity::new(
                    0,
                    0,
                    apimachinery::quantity::Format::DecimalSI,
                ),
                |acc, q| acc.checked_add(&q),
            )
            .map(|q| q.to_string())
            .unwrap_or_default()
    };
    vec![
        obj.pointer("/metadata/name")
            .cloned()
            .unwrap_or(Value::Null),
        json!(sum("cpu")),
        json!(sum("memory")),
        obj.get("window").cloned().unwrap_or(Value::Null),
    ]
}

/// NodeMetrics.
pub struct NodeMetricsStrategy;

impl Strategy for NodeMetricsStrategy {
    fn computed<'a>(
        &'a self,
        server: &'a ApiServer,
        _namespace: Option<&'a str>,
    ) -> Option<BoxFuture<'a, Vec<Value>>> {
        Some(Box::pin(metrics_of_stored(server, "nodes", None, |node| {
            let name = node.pointer("/metadata/name").and_then(Value::as_str)?;
            let usage = server.resource_metrics.node(name)?;
            Some(node_metrics(node, &usage))
        })))
    }

    fn columns(&self) -> &'static [Column] {
        COLUMNS
    }

    fn cells(&self, obj: &Value) -> Vec<Value> {
        cells(obj, obj.get("usage").into_iter().collect())
    }
}

/// PodMetrics.
pub struct PodMetricsStrategy;

impl Strategy for PodMetricsStrategy {
    fn computed<'a>(
        &'a self,
        server: &'a ApiServer,
        namespace: Option<&'a str>,
    ) -> Option<BoxFuture<'a, Vec<Value>>> {
        Some(Box::pin(metrics_of_stored(
            server,
            "pods",
            namespace,
            |pod| {
                let ns = pod.pointer("/metadata/namespace").and_then(Value::as_str)?;
                let name = pod.pointer("/metadata/name").and_then(Value::as_str)?;
                let uid = pod.pointer("/metadata/uid").and_then(Value::as_str);
                let usage = server.resource_metrics.pod(ns, name)?;
                // The samples of an earlier pod of the same name are not this pod's.
                if uid.is_some_and(|u| !usage.uid.is_empty() && u != usage.uid) {
                    return None;
                }
                Some(pod_metrics(pod, &usage))
            },
        )))
    }

    fn columns(&self) -> &'static [Column] {
        COLUMNS
    }

    fn cells(&self, obj: &Value) -> Vec<Value> {
        let usages = obj
            .get("containers")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|c| c.get("usage"))
            .collect();
        cells(obj, usages)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn pod_metrics_carry_labels_usage_and_sums() {
        let pod = json!({"metadata": {"name": "p", "namespace": "ns", "labels": {"app": "web"}}});
        let t = chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let u = |n, m| Usage {
            timestamp: t,
            window: Duration::from_secs(15),
            nanocores: n,
            memory_bytes: m,
        };
        let usage = PodUsage {
            uid: "u".into(),
            timestamp: t,
            window: Duration::from_secs(15),
            containers: vec![
                ("a".into(), u(250_000_000, 1024 * 1024)),
                ("b".into(), u(1_500, 1024 * 1024)),
            ],
        };
        let m = pod_metrics(&pod, &usage);
        assert_eq!(m["metadata"]["labels"]["app"], "web");
        assert_eq!(m["window"], "15s");
        assert_eq!(
            m["containers"][0]["usage"],
            json!({"cpu": "250m", "memory": "1Mi"})
        );
        assert_eq!(m["containers"][1]["usage"]["cpu"], "1500n");
        let row = PodMetricsStrategy.cells(&m);
        assert_eq!(
            row,
            vec![json!("p"), json!("250001500n"), json!("2Mi"), json!("15s")]
        );
    }
}
