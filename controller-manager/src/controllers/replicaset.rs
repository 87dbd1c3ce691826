//! The ReplicaSet controller: keeps `spec.replicas` pods matching the
//! selector alive.
//!
//! reconcile(ns/name):
//! 1. **claim** pods: adopt orphans that match the selector (add our
//!    controller reference), release owned pods that no longer match;
//! 2. if the **expectations** of earlier creates/deletes are met (the pod
//!    cache has caught up), compare active pods with `replicas` and create
//!    in slow-start batches (1, 2, 4, ...; a failing batch stops the rest) or
//!    delete the least valuable pods first;
//! 3. write `status` (replicas, fullyLabeled, ready, available after
//!    minReadySeconds, observedGeneration, the ReplicaFailure condition).
//!
//! The reconciler is generic over [`ReplicaSetKind`]: the kind it keeps
//! replicas for, seen as a ReplicaSet. `ReplicaSet` is one; the
//! ReplicationController (`super::replicationcontroller`) is the other,
//! converted field by field, as upstream runs its replication manager on
//! the ReplicaSet controller's code.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{
    ReplicaSet, ReplicaSetCondition, ReplicaSetSpec, ReplicaSetStatus,
};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use super::{Context, Started};
use crate::machinery::controller::{Action, Reconciler, Result};
use crate::machinery::controller_ref::{ControllerRefManager, PodEvents};
use crate::machinery::expectations::Expectations;
use crate::machinery::informer::{key_of, split_key, Store};
use crate::machinery::meta::NamespacedKind;
use crate::machinery::owner_client::{update_status, ApiOwnerClient, OwnerClient};
use crate::machinery::pod_control::{pod_from_template, PodControl};
use crate::machinery::queue::Queue;
use crate::machinery::{controller_ref, meta, pods};

/// Most pods created or deleted in one reconcile (upstream `burstReplicas`).
pub const BURST_REPLICAS: usize = 500;

/// A kind whose objects keep `replicas` pods alive, as the reconciler sees
/// it: the spec and status of a ReplicaSet. Pods, Events and status writes
/// still name the kind itself (their owner references say
/// `ReplicationController` for a ReplicationController's pods).
pub trait ReplicaSetKind: k8s_openapi::Resource + NamespacedKind {
    /// The controller's name (queue, metrics, `--controllers`).
    const CONTROLLER: &'static str;
    /// The component its Events come from.
    const COMPONENT: &'static str;
    /// The spec, as a ReplicaSet's (the selector aside: [`Self::selector`]).
    fn replica_set_spec(&self) -> ReplicaSetSpec;
    /// The status, as a ReplicaSet's.
    fn replica_set_status(&self) -> ReplicaSetStatus;
    /// The pod selector; `None` selects nothing.
    fn selector(&self) -> Option<Cow<'_, LabelSelector>>;
}

impl ReplicaSetKind for ReplicaSet {
    const CONTROLLER: &'static str = "replicaset";
    const COMPONENT: &'static str = "replicaset-controller";

    fn replica_set_spec(&self) -> ReplicaSetSpec {
        self.spec.clone().unwrap_or_default()
    }

    fn replica_set_status(&self) -> ReplicaSetStatus {
        self.status.clone().unwrap_or_default()
    }

    fn selector(&self) -> Option<Cow<'_, LabelSelector>> {
        self.spec.as_ref().map(|s| Cow::Borrowed(&s.selector))
    }
}

/// Registers handlers and returns the workers.
pub fn start(ctx: &Context) -> Started {
    start_for::<ReplicaSet>(ctx)
}

/// Registers the handlers of the controller of kind `K` and returns its
/// workers.
pub fn start_for<K: ReplicaSetKind>(ctx: &Context) -> Started {
    let pods = ctx.factory.informer::<Pod>();
    let sets = ctx.factory.informer::<K>();
    let queue = Queue::new(K::CONTROLLER);
    let rc = Arc::new(ReplicaSetController::<K>::new(
        pods.store(),
        sets.store(),
        ctx.pod_control(K::COMPONENT),
        Arc::new(ApiOwnerClient::new(ctx.client.clone())),
    ));

    let (q, exp) = (Arc::clone(&queue), Arc::clone(&rc.expectations));
    sets.add_handler(move |old, new| match (old, new) {
        (_, Some(rs)) => q.add(key_of(&**rs)),
        (Some(rs), None) => {
            exp.delete(&key_of(&**rs));
            q.add(key_of(&**rs));
        }
        (None, None) => {}
    });

    PodEvents {
        kind: <K as k8s_openapi::Resource>::KIND,
        queue: Arc::clone(&queue),
        expectations: Some(Arc::clone(&rc.expectations)),
        owners: sets.store(),
        selector_of: K::selector,
        min_ready_seconds_of: |rs: &K| rs.replica_set_spec().min_ready_seconds,
    }
    .register(&pods);
    ctx.workers(rc, queue)
}

/// The controller's state: caches, expectations, pod control, the owner's
/// reads and status writes.
pub struct ReplicaSetController<K> {
    pods: Store<Pod>,
    sets: Store<K>,
    expectations: Arc<Expectations>,
    pod_control: PodControl,
    owners: Arc<dyn OwnerClient<K>>,
}

impl<K: ReplicaSetKind> Reconciler for ReplicaSetController<K> {
    fn name(&self) -> &'static str {
        K::CONTROLLER
    }

    async fn reconcile(&self, key: &str) -> Result<Action> {
        let Some(rs) = self.sets.get(key) else {
            self.expectations.delete(key);
            return Ok(Action::Done);
        };
        let (ns, _) = split_key(key);
        let ns = ns.unwrap_or_default();
        let spec = rs.replica_set_spec();
        let selector = meta::selector(rs.selector().as_deref())?;

        // 1. Claim: the pods we control, after adopting and releasing.
        let active: Vec<Arc<Pod>> = self
            .pods
            .list_namespace(ns)
            .into_iter()
            .filter(|p| pods::pod_active(p))
            .collect();
        let owned = ControllerRefManager::new(&*rs, &selector)
            .claim_pods(active, &*self.owners, &self.pod_control)
            .await?;

        // 2. Manage replicas, but only on a cache that has seen our last acts.
        let mut failure = None;
        if self.expectations.satisfied(key) && rs.meta().deletion_timestamp.is_none() {
            let want = spec.replicas.unwrap_or(1).max(0) as usize;
            if let Err(e) = self.manage(key, &rs, &spec, &owned, want).await {
                failure = Some(e.to_string());
                self.update_status(&rs, &spec, &owned, failure.as_deref())
                    .await?;
                return Err(e);
            }
        }

        // 3. Status.
        self.update_status(&rs, &spec, &owned, failure.as_deref())
            .await?;
        let min_ready = spec.min_ready_seconds.unwrap_or(0);
        if min_ready > 0 && owned.iter().any(|p| pods::pod_ready(p)) {
            let now = meta::now_millis();
            if owned
                .iter()
                .any(|p| pods::pod_ready(p) && !pods::pod_available(p, min_ready, now))
            {
                return Ok(Action::RequeueAfter(Duration::from_secs(min_ready as u64)));
            }
        }
        Ok(Action::Done)
    }
}

impl<K: ReplicaSetKind> ReplicaSetController<K> {
    /// A controller over these caches, writing through `pod_control`
    /// and `owners` (the apiserver, or fakes in tests).
    pub fn new(
        pods: Store<Pod>,
        sets: Store<K>,
        pod_control: PodControl,
        owners: Arc<dyn OwnerClient<K>>,
    ) -> ReplicaSetController<K> {
        ReplicaSetController {
            pods,
            sets,
            expectations: Arc::new(Expectations::new()),
            pod_control,
            owners,
        }
    }

    /// Creates or deletes the difference between `owned` and `want`.
    async fn manage(
        &self,
        key: &str,
        rs: &K,
        spec: &ReplicaSetSpec,
        owned: &[Arc<Pod>],
        want: usize,
    ) -> Result<()> {
        let have = owned.len();
        if have < want {
            let n = (want - have).min(BURST_REPLICAS);
            let template = spec.template.clone().unwrap_or_default();
            let pod = pod_from_template(&template, rs.meta(), controller_ref::controller_ref(rs));
            self.pod_control
                .create_pods(&self.expectations, key, rs, vec![pod; n])
                .await?;
        } else if have > want {
            let n = (have - want).min(BURST_REPLICAS);
            let victims = pods::pods_to_delete(owned, n);
            self.pod_control
                .delete_pods(&self.expectations, key, rs, &victims)
                .await?;
        }
        Ok(())
    }

    async fn update_status(
        &self,
        rs: &K,
        spec: &ReplicaSetSpec,
        owned: &[Arc<Pod>],
        failure: Option<&str>,
    ) -> Result<()> {
        let template_labels = spec
            .template
            .as_ref()
            .and_then(|t| t.metadata.as_ref())
            .map(meta::labels)
            .unwrap_or_default();
        let now = meta::now_millis();
        let min_ready = spec.min_ready_seconds.unwrap_or(0);
        let old = rs.replica_set_status();
        let mut conditions: Vec<ReplicaSetCondition> = old
            .conditions
            .clone()
            .unwrap_or_default()
            .into_iter()
            .filter(|c| c.type_ != "ReplicaFailure")
            .collect();
        if let Some(msg) = failure {
            conditions.push(ReplicaSetCondition {
                type_: "ReplicaFailure".into(),
                status: "True".into(),
                reason: Some("FailedCreate".into()),
                message: Some(msg.to_string()),
                last_transition_time: Some(meta::now()),
            });
        } else if let Some(c) = old
            .conditions
            .as_ref()
            .and_then(|cs| cs.iter().find(|c| c.type_ == "ReplicaFailure"))
        {
            // Keep a failure until the replica count is met again.
            if (owned.len() as i32) < spec.replicas.unwrap_or(1) {
                conditions.push(c.clone());
            }
        }
        let status = ReplicaSetStatus {
            replicas: owned.len() as i32,
            fully_labeled_replicas: Some(
                owned
                    .iter()
                    .filter(|p| {
                        let l = meta::labels(&p.metadata);
                        template_labels.iter().all(|(k, v)| l.get(k) == Some(v))
                    })
                    .count() as i32,
            ),
            ready_replicas: Some(owned.iter().filter(|p| pods::pod_ready(p)).count() as i32),
            available_replicas: Some(
                owned
                    .iter()
                    .filter(|p| pods::pod_available(p, min_ready, now))
                    .count() as i32,
            ),
            observed_generation: rs.meta().generation,
            conditions: (!conditions.is_empty()).then_some(conditions),
            terminating_replicas: None,
        };
        update_status(&*self.owners, rs, &old, &status).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::Recorder;
    use crate::machinery::owner_client::FakeOwnerClient;
    use crate::machinery::pod_control::FakePodClient;
    use serde_json::json;

    fn replica_set(replicas: i32) -> ReplicaSet {
        serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "ns", "uid": "rs-uid", "generation": 1},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "c", "image": "busybox"}]}
                }
            }
        }))
        .expect("replicaset")
    }

    /// A pod labelled `app=<app>`, controlled by `owner` if given; `node`
    /// None leaves it unscheduled and Pending, else Running and Ready.
    fn pod(name: &str, app: &str, owner: Option<&str>, node: Option<&str>) -> Pod {
        let refs = owner.map(|uid| {
            json!([{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "owner",
                    "uid": uid, "controller": true}])
        });
        let (phase, ready) = if node.is_some() {
            ("Running", "True")
        } else {
            ("Pending", "False")
        };
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "ns", "uid": format!("{name}-uid"),
                         "resourceVersion": "7", "labels": {"app": app},
                         "ownerReferences": refs},
            "spec": {"nodeName": node, "containers": [{"name": "c", "image": "busybox"}]},
            "status": {"phase": phase,
                       "conditions": [{"type": "Ready", "status": ready}]}
        }))
        .expect("pod")
    }

    struct Fixture {
        pods: Store<Pod>,
        fake: Arc<FakePodClient>,
        owners: Arc<FakeOwnerClient<ReplicaSet>>,
        rc: ReplicaSetController<ReplicaSet>,
    }

    /// The controller over caches holding `rs` and `pods`, with fakes for
    /// the apiserver (which has `rs` too).
    fn fixture(rs: ReplicaSet, pods: Vec<Pod>) -> Fixture {
        let (pod_store, sets) = (Store::default(), Store::default());
        for p in pods {
            pod_store.insert(p);
        }
        sets.insert(rs.clone());
        let fake = FakePodClient::new();
        let owners = Arc::new(FakeOwnerClient::default());
        owners.set(rs);
        let rc = ReplicaSetController::new(
            pod_store.clone(),
            sets,
            PodControl::new(fake.clone(), Recorder::disabled()),
            owners.clone(),
        );
        Fixture {
            pods: pod_store,
            fake,
            owners,
            rc,
        }
    }

    fn controller_uids(p: &Pod) -> Vec<String> {
        p.metadata
            .owner_references
            .iter()
            .flatten()
            .filter(|r| r.controller == Some(true))
            .map(|r| r.uid.clone())
            .collect()
    }

    #[tokio::test]
    async fn scale_up_creates_the_missing_pods_once() {
        let f = fixture(
            replica_set(3),
            vec![pod("web-a", "web", Some("rs-uid"), Some("n1"))],
        );
        f.rc.reconcile("ns/web").await.expect("reconcile");
        let created = f.fake.creates();
        assert_eq!(created.len(), 2);
        for p in &created {
            assert_eq!(p.metadata.generate_name.as_deref(), Some("web-"));
            assert_eq!(controller_uids(p), ["rs-uid"]);
            assert_eq!(
                meta::labels(&p.metadata).get("app").map(String::as_str),
                Some("web")
            );
        }
        assert_eq!(f.owners.statuses().last().expect("status")["replicas"], 1);

        // The informer has not shown the new pods yet: the expectations
        // keep the next reconcile from creating them again.
        f.rc.reconcile("ns/web").await.expect("reconcile");
        assert_eq!(f.fake.creates().len(), 2);
        for p in &created {
            let mut p = p.clone();
            p.metadata.name = Some(format!("web-{}", f.pods.len()));
            f.pods.insert(p);
            f.rc.expectations.creation_observed("ns/web");
        }
        f.rc.reconcile("ns/web").await.expect("reconcile");
        assert_eq!(f.fake.creates().len(), 2, "three pods exist now");
    }

    #[tokio::test]
    async fn scale_down_deletes_the_least_valuable_pods() {
        let f = fixture(
            replica_set(1),
            vec![
                pod("running", "web", Some("rs-uid"), Some("n1")),
                pod("unscheduled", "web", Some("rs-uid"), None),
                pod("running-2", "web", Some("rs-uid"), Some("n2")),
            ],
        );
        f.rc.reconcile("ns/web").await.expect("reconcile");
        let deleted = f.fake.deletes();
        assert_eq!(deleted.len(), 2);
        assert!(deleted.contains(&"ns/unscheduled".to_string()));
        assert!(f.fake.creates().is_empty());
    }

    #[tokio::test]
    async fn an_orphan_that_matches_is_adopted_instead_of_created() {
        let f = fixture(
            replica_set(2),
            vec![
                pod("orphan", "web", None, Some("n1")),
                pod("stranger", "other", None, Some("n1")),
                pod("someone-elses", "web", Some("other-uid"), Some("n1")),
            ],
        );
        f.rc.reconcile("ns/web").await.expect("reconcile");
        let patches = f.fake.patches();
        assert_eq!(patches.len(), 1, "{patches:?}");
        let (key, patch) = &patches[0];
        assert_eq!(key, "ns/orphan");
        let m = &patch["metadata"];
        assert_eq!(m["uid"], "orphan-uid");
        assert_eq!(m["resourceVersion"], "7");
        assert_eq!(m["ownerReferences"][0]["uid"], "rs-uid");
        assert_eq!(m["ownerReferences"][0]["controller"], true);
        assert_eq!(
            f.fake.creates().len(),
            1,
            "the orphan counts as one replica"
        );
    }

    #[tokio::test]
    async fn no_adoption_when_the_apiserver_says_the_owner_is_being_deleted() {
        let f = fixture(replica_set(2), vec![pod("orphan", "web", None, Some("n1"))]);
        let mut deleting = replica_set(2);
        deleting.metadata.deletion_timestamp = Some(meta::now());
        f.owners.set(deleting);
        assert!(f.rc.reconcile("ns/web").await.is_err());
        assert!(f.fake.patches().is_empty());
        assert!(f.fake.creates().is_empty());
    }

    #[tokio::test]
    async fn a_pod_that_stopped_matching_is_released_and_replaced() {
        let f = fixture(
            replica_set(1),
            vec![pod("relabelled", "other", Some("rs-uid"), Some("n1"))],
        );
        f.rc.reconcile("ns/web").await.expect("reconcile");
        let patches = f.fake.patches();
        assert_eq!(patches.len(), 1);
        assert_eq!(patches[0].0, "ns/relabelled");
        assert_eq!(patches[0].1["metadata"]["ownerReferences"], json!([]));
        assert_eq!(patches[0].1["metadata"]["uid"], "relabelled-uid");
        assert_eq!(f.fake.creates().len(), 1);
    }

    #[tokio::test]
    async fn a_failed_create_is_reported_in_the_status() {
        let f = fixture(replica_set(4), vec![]);
        f.fake.fail_creates_after(1);
        assert!(f.rc.reconcile("ns/web").await.is_err());
        // Slow start: the batch of one succeeds, the batch of two fails,
        // the last one is never tried.
        assert_eq!(f.fake.creates().len(), 1);
        assert!(!f.rc.expectations.satisfied("ns/web"));
        let status = f.owners.statuses().last().cloned().expect("status");
        assert_eq!(status["conditions"][0]["type"], "ReplicaFailure");
        assert_eq!(status["conditions"][0]["reason"], "FailedCreate");
    }
}
