//! Where the HPA controller gets pod metrics: behind [`MetricsSource`], so
//! the controller is tested with a fake; the real one, [`ResourceMetricsApi`],
//! lists `metrics.k8s.io/v1beta1` PodMetrics with the target's selector, as
//! upstream's resource metrics client does.

use std::collections::BTreeMap;

use futures::future::BoxFuture;
use kube::api::{Api, DynamicObject, ListParams};
use kube::core::ApiResource;
use serde_json::Value;

use super::replica_calculator::{PodMetric, PodMetricsInfo};

/// One PodMetrics: each container's usage in milli-units by resource.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PodMetrics {
    /// The pod.
    pub name: String,
    /// When sampled (epoch ms).
    pub timestamp_ms: i64,
    /// Over how long (ms).
    pub window_ms: i64,
    /// (container, resource -> milli-units).
    pub containers: Vec<(String, BTreeMap<String, i64>)>,
}

/// Lists the pod metrics of a namespace under a label selector.
pub trait MetricsSource: Send + Sync {
    /// The metrics of the selected pods; `Err` carries the reason as text.
    fn pod_metrics<'a>(
        &'a self,
        namespace: &'a str,
        selector: &'a str,
    ) -> BoxFuture<'a, Result<Vec<PodMetrics>, String>>;
}

/// The resource metrics API, through the apiserver.
pub struct ResourceMetricsApi {
    client: kube::Client,
}

impl ResourceMetricsApi {
    /// Over `client`.
    pub fn new(client: kube::Client) -> ResourceMetricsApi {
        ResourceMetricsApi { client }
    }
}

fn millis_of_time(v: Option<&Value>) -> i64 {
    v.and_then(Value::as_str)
        .and_then(|s| s.parse::<k8s_openapi::jiff::Timestamp>().ok())
        .map(|t| t.as_millisecond())
        .unwrap_or(0)
}

/// A PodMetrics object as [`PodMetrics`].
pub fn parse_pod_metrics(obj: &Value) -> PodMetrics {
    let containers = obj
        .get("containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|c| {
            let name = c.get("name").and_then(Value::as_str).unwrap_or_default();
            let usage = c
                .get("usage")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
                .filter_map(|(k, q)| {
                    let m = apimachinery::quantity::milli_value(q.as_str()?).ok()?;
                    Some((k.clone(), m))
                })
                .collect();
            (name.to_string(), usage)
        })
        .collect();
    PodMetrics {
        name: obj
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        timestamp_ms: millis_of_time(obj.get("timestamp")),
        window_ms: obj
            .get("window")
            .and_then(Value::as_str)
            .and_then(|w| component_base::duration::parse(w).ok())
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0),
        containers,
    }
}

impl MetricsSource for ResourceMetricsApi {
    fn pod_metrics<'a>(
        &'a self,
        namespace: &'a str,
        selector: &'a str,
    ) -> BoxFuture<'a, Result<Vec<PodMetrics>, String>> {
        Box::pin(async move {
            let ar = ApiResource {
                group: "metrics.k8s.io".into(),
                version: "v1beta1".into(),
                api_version: "metrics.k8s.io/v1beta1".into(),
                kind: "PodMetrics".into(),
                plural: "pods".into(),
            };
            let api: Api<DynamicObject> = Api::namespaced_with(self.client.clone(), namespace, &ar);
            let list = api
                .list(&ListParams::default().labels(selector))
                .await
                .map_err(|e| e.to_string())?;
            Ok(list
                .items
                .iter()
                .filter_map(|o| serde_json::to_value(o).ok())
                .map(|v| parse_pod_metrics(&v))
                .collect())
        })
    }
}

/// The metric of each pod for `resource` (upstream's `GetResourceMetric`):
/// the named container's usage, or the sum over the pod's containers (a pod
/// with a container lacking the resource is left out).
pub fn resource_metric(items: &[PodMetrics], resource: &str, container: &str) -> PodMetricsInfo {
    let mut out = PodMetricsInfo::new();
    for m in items {
        let value = if container.is_empty() {
            if m.containers.is_empty() {
                continue;
            }
            let mut sum = 0i64;
            let mut missing = false;
            for (_, usage) in &m.containers {
                match usage.get(resource) {
                    Some(v) => sum += v,
                    None => missing = true,
                }
            }
            if missing {
                continue;
            }
            sum
        } else {
            match m
                .containers
                .iter()
                .find(|(n, _)| n == container)
                .and_then(|(_, u)| u.get(resource))
            {
                Some(v) => *v,
                None => continue,
            }
        };
        out.insert(
            m.name.clone(),
            PodMetric {
                value,
                timestamp_ms: m.timestamp_ms,
                window_ms: m.window_ms,
            },
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_metrics_to_resource_metric() {
        let obj = serde_json::json!({
            "metadata": {"name": "p"},
            "timestamp": "2026-01-01T00:00:00Z",
            "window": "14.5s",
            "containers": [
                {"name": "a", "usage": {"cpu": "250m", "memory": "1Ki"}},
                {"name": "b", "usage": {"cpu": "500000n", "memory": "1Ki"}},
            ],
        });
        let m = parse_pod_metrics(&obj);
        assert_eq!(m.window_ms, 14_500);
        let cpu = resource_metric(std::slice::from_ref(&m), "cpu", "");
        assert_eq!(cpu["p"].value, 251);
        let mem = resource_metric(std::slice::from_ref(&m), "memory", "b");
        assert_eq!(mem["p"].value, 1_024_000);
        assert!(resource_metric(&[m], "cpu", "c").is_empty());
    }
}
