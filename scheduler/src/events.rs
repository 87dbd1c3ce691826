//! Events users read in `kubectl describe pod`: Scheduled, FailedScheduling,
//! Preempted. Written by a background task through a bounded channel, so a
//! slow apiserver never slows scheduling (when the channel is full, events
//! are dropped, as upstream's broadcaster does).

use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::api::{Api, PostParams};
use tokio::sync::mpsc;

/// The component name in `source.component` and `reportingComponent`.
pub const COMPONENT: &str = "default-scheduler";

/// Sends events (cheap to clone).
#[derive(Clone, Debug)]
pub struct Recorder {
    tx: Option<mpsc::Sender<Event>>,
    component: String,
}

impl Recorder {
    /// A recorder that drops everything.
    pub fn disabled() -> Recorder {
        Recorder {
            tx: None,
            component: COMPONENT.into(),
        }
    }

    /// A recorder and the future that writes its events.
    pub fn new(
        client: kube::Client,
        component: &str,
    ) -> (Recorder, impl std::future::Future<Output = ()>) {
        let (tx, mut rx) = mpsc::channel::<Event>(1000);
        let writer = async move {
            use futures::StreamExt;
            let stream = futures::stream::poll_fn(move |cx| rx.poll_recv(cx));
            stream
                .for_each_concurrent(4, |ev| {
                    let client = client.clone();
                    async move {
                        let ns = ev.metadata.namespace.clone().unwrap_or_default();
                        let api: Api<Event> = Api::namespaced(client, &ns);
                        if let Err(e) = api.create(&PostParams::default(), &ev).await {
                            tracing::debug!(error = %e, "writing event");
                        }
                    }
                })
                .await;
        };
        (
            Recorder {
                tx: Some(tx),
                component: component.to_string(),
            },
            writer,
        )
    }

    /// Records an event about a pod (`kind` is Normal or Warning).
    pub fn pod_event(&self, pod: &Pod, kind: &str, reason: &str, message: String) {
        let Some(tx) = &self.tx else {
            return;
        };
        let now = Time(k8s_openapi::jiff::Timestamp::now());
        let name = pod.metadata.name.clone().unwrap_or_default();
        let ns = pod.metadata.namespace.clone().unwrap_or_default();
        let nanos = now.0.as_nanosecond() as u128;
        let ev = Event {
            metadata: ObjectMeta {
                name: Some(format!("{name}.{nanos:x}")),
                namespace: Some(ns.clone()),
                ..Default::default()
            },
            involved_object: ObjectReference {
                api_version: Some("v1".into()),
                kind: Some("Pod".into()),
                name: Some(name),
                namespace: Some(ns),
                uid: pod.metadata.uid.clone(),
                resource_version: pod.metadata.resource_version.clone(),
                ..Default::default()
            },
            reason: Some(reason.into()),
            message: Some(message),
            type_: Some(kind.into()),
            source: Some(EventSource {
                component: Some(self.component.clone()),
                host: None,
            }),
            reporting_component: Some(self.component.clone()),
            reporting_instance: Some(self.component.clone()),
            action: Some(
                if reason == "Scheduled" {
                    "Binding"
                } else {
                    "Scheduling"
                }
                .into(),
            ),
            first_timestamp: Some(now.clone()),
            last_timestamp: Some(now),
            count: Some(1),
            ..Default::default()
        };
        let _ = tx.try_send(ev);
    }
}
