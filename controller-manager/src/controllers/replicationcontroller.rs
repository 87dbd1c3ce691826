//! The ReplicationController controller (upstream's replication manager):
//! the ReplicaSet controller run over ReplicationControllers.
//!
//! A ReplicationController is the core/v1 ancestor of the ReplicaSet: the
//! same `replicas`, `template`, `minReadySeconds` and status, but its
//! selector is a plain label map (equality only) instead of a
//! `LabelSelector`. Upstream converts one into the other and runs the
//! ReplicaSet code; so do we: this module is only the conversion, a
//! [`ReplicaSetKind`] for `ReplicationController`, and everything else
//! (claiming pods, expectations, slow-start creates, status) is
//! [`super::replicaset`]'s. The pods it creates are controlled by the
//! ReplicationController (their owner reference says so), so
//! `kubectl delete rc` removes them through the garbage collector.

use std::borrow::Cow;

use k8s_openapi::api::apps::v1::{ReplicaSetCondition, ReplicaSetSpec, ReplicaSetStatus};
use k8s_openapi::api::core::v1::ReplicationController;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use super::replicaset::{start_for, ReplicaSetKind};
use super::{Context, Started};

/// Registers handlers and returns the workers.
pub fn start(ctx: &Context) -> Started {
    start_for::<ReplicationController>(ctx)
}

impl ReplicaSetKind for ReplicationController {
    const CONTROLLER: &'static str = "replicationcontroller";
    const COMPONENT: &'static str = "replication-controller";

    fn replica_set_spec(&self) -> ReplicaSetSpec {
        let spec = self.spec.clone().unwrap_or_default();
        ReplicaSetSpec {
            min_ready_seconds: spec.min_ready_seconds,
            replicas: spec.replicas,
            selector: self.selector().map(Cow::into_owned).unwrap_or_default(),
            template: spec.template,
        }
    }

    fn replica_set_status(&self) -> ReplicaSetStatus {
        let status = self.status.clone().unwrap_or_default();
        ReplicaSetStatus {
            available_replicas: status.available_replicas,
            conditions: status.conditions.map(|cs| {
                cs.into_iter()
                    .map(|c| ReplicaSetCondition {
                        last_transition_time: c.last_transition_time,
                        message: c.message,
                        reason: c.reason,
                        status: c.status,
                        type_: c.type_,
                    })
                    .collect()
            }),
            fully_labeled_replicas: status.fully_labeled_replicas,
            observed_generation: status.observed_generation,
            ready_replicas: status.ready_replicas,
            replicas: status.replicas,
            terminating_replicas: None,
        }
    }

    /// `spec.selector` as a LabelSelector of `matchLabels`; none (or an
    /// empty map, which the apiserver's defaulting never leaves) selects
    /// nothing, as upstream's conversion.
    fn selector(&self) -> Option<Cow<'_, LabelSelector>> {
        let labels = self.spec.as_ref()?.selector.as_ref()?;
        (!labels.is_empty()).then(|| {
            Cow::Owned(LabelSelector {
                match_labels: Some(labels.clone()),
                match_expressions: None,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use k8s_openapi::api::core::v1::Pod;
    use serde_json::json;

    use super::*;
    use crate::controllers::replicaset::ReplicaSetController;
    use crate::events::Recorder;
    use crate::machinery::controller::Reconciler;
    use crate::machinery::informer::Store;
    use crate::machinery::owner_client::FakeOwnerClient;
    use crate::machinery::pod_control::{FakePodClient, PodControl};

    fn rc(replicas: i32, status: serde_json::Value) -> ReplicationController {
        serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "ns", "uid": "rc-uid", "generation": 2},
            "spec": {
                "replicas": replicas,
                "minReadySeconds": 5,
                "selector": {"app": "web"},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "c", "image": "busybox"}]}
                }
            },
            "status": status,
        }))
        .expect("replicationcontroller")
    }

    #[test]
    fn the_conversion_keeps_every_field_and_turns_the_map_into_match_labels() {
        let rc = rc(
            3,
            json!({"replicas": 2, "readyReplicas": 1, "availableReplicas": 1,
                   "fullyLabeledReplicas": 2, "observedGeneration": 1,
                   "conditions": [{"type": "ReplicaFailure", "status": "True",
                                   "reason": "FailedCreate", "message": "quota"}]}),
        );
        let spec = rc.replica_set_spec();
        assert_eq!(spec.replicas, Some(3));
        assert_eq!(spec.min_ready_seconds, Some(5));
        assert_eq!(
            serde_json::to_value(&spec.selector).expect("json"),
            json!({"matchLabels": {"app": "web"}})
        );
        assert!(spec.template.is_some());
        // The status converts both ways through the same JSON field names:
        // what the reconciler writes back is a ReplicationController status.
        let status = serde_json::to_value(rc.replica_set_status()).expect("json");
        assert_eq!(
            status,
            serde_json::to_value(rc.status.clone().expect("status")).expect("json")
        );
    }

    #[test]
    fn no_selector_selects_nothing() {
        let mut rc = rc(1, json!({"replicas": 0}));
        rc.spec.as_mut().expect("spec").selector = Some(Default::default());
        assert!(rc.selector().is_none());
        rc.spec.as_mut().expect("spec").selector = None;
        assert!(rc.selector().is_none());
    }

    #[tokio::test]
    async fn the_replicaset_reconciler_creates_pods_controlled_by_the_replication_controller() {
        let (pods, rcs) = (Store::<Pod>::default(), Store::default());
        let rc = rc(2, json!({"replicas": 0}));
        rcs.insert(rc.clone());
        let fake = FakePodClient::new();
        let owners = Arc::new(FakeOwnerClient::default());
        owners.set(rc);
        let c = ReplicaSetController::<ReplicationController>::new(
            pods,
            rcs,
            PodControl::new(fake.clone(), Recorder::disabled()),
            owners.clone(),
        );
        assert_eq!(c.name(), "replicationcontroller");
        c.reconcile("ns/web").await.expect("reconcile");
        let created = fake.creates();
        assert_eq!(created.len(), 2);
        for p in &created {
            let r = &p.metadata.owner_references.as_ref().expect("owner")[0];
            assert_eq!(
                (r.api_version.as_str(), r.kind.as_str()),
                ("v1", "ReplicationController")
            );
            assert_eq!(r.uid, "rc-uid");
            assert_eq!(r.controller, Some(true));
            assert_eq!(p.metadata.generate_name.as_deref(), Some("web-"));
        }
        // The status write is a ReplicationController status.
        let status = owners.statuses().last().cloned().expect("status");
        assert_eq!(status["observedGeneration"], 2);
        assert!(status.get("terminatingReplicas").is_none());
    }
}
