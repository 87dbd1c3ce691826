//! `/metrics` on the kubelet API: the node's pods and containers as the
//! Prometheus exposition, read from the pod manager at scrape time. Upstream
//! serves the same path (with many more series); monitoring agents and the
//! e2e framework's metrics grabber (which reaches it through the apiserver's
//! `nodes/<name>:10250/proxy/metrics`) scrape it.

use std::sync::Arc;

use axum::extract::State as AxumState;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use component_base::health_server::{gauge, gauge_family, Collector, DescriptorEncoder, Endpoints};

use super::{PodSource, State};

/// The pods' figures as a collector.
struct Collected(Arc<dyn PodSource>);

impl std::fmt::Debug for Collected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("kubelet metrics")
    }
}

impl Collector for Collected {
    fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let pods = self.0.pods();
        let running_pods = pods
            .iter()
            .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
            .count();
        // Containers by state, with upstream's label values.
        let (mut running, mut waiting, mut exited) = (0i64, 0i64, 0i64);
        for p in &pods {
            let statuses = p.status.as_ref().into_iter().flat_map(|s| {
                s.init_container_statuses
                    .iter()
                    .flatten()
                    .chain(s.container_statuses.iter().flatten())
            });
            for c in statuses {
                match c.state.as_ref() {
                    Some(s) if s.running.is_some() => running += 1,
                    Some(s) if s.terminated.is_some() => exited += 1,
                    _ => waiting += 1,
                }
            }
        }
        gauge(
            &mut enc,
            "kubelet_running_pods",
            "Number of pods that have a running pod sandbox.",
            running_pods as i64,
        )?;
        gauge_family(
            &mut enc,
            "kubelet_running_containers",
            "Number of containers currently running.",
            &[
                ([("container_state", "running")], running),
                ([("container_state", "created")], waiting),
                ([("container_state", "exited")], exited),
            ],
        )
    }
}

/// `GET /metrics`.
pub async fn metrics(AxumState(state): AxumState<State>) -> Response {
    let endpoints = Endpoints::new(Collected(state.pods), Arc::new(|| Ok(())));
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        endpoints.render(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Pod;
    use serde_json::json;

    struct Fixed(Vec<Pod>);

    impl PodSource for Fixed {
        fn pods(&self) -> Vec<Pod> {
            self.0.clone()
        }

        fn startup_traces(&self) -> Vec<crate::pod::startup_trace::Trace> {
            Vec::new()
        }
    }

    fn pod(phase: &str, states: &[&str]) -> Pod {
        let statuses: Vec<_> = states
            .iter()
            .map(|s| {
                json!({"name": "c", "image": "i", "imageID": "", "ready": false,
                            "restartCount": 0, "state": {*s: {}}})
            })
            .collect();
        serde_json::from_value(json!({"status": {"phase": phase, "containerStatuses": statuses}}))
            .expect("a pod")
    }

    #[test]
    fn pods_and_containers_are_counted_by_state() {
        let source = Fixed(vec![
            pod("Running", &["running", "running"]),
            pod("Pending", &["waiting"]),
            pod("Succeeded", &["terminated"]),
        ]);
        let text = Endpoints::new(Collected(Arc::new(source)), Arc::new(|| Ok(()))).render();
        assert!(text.contains("kubelet_running_pods 1\n"), "{text}");
        assert!(
            text.contains("kubelet_running_containers{container_state=\"running\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("kubelet_running_containers{container_state=\"created\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("kubelet_running_containers{container_state=\"exited\"} 1\n"),
            "{text}"
        );
    }
}
