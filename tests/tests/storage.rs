//! Persistent storage against a real apiserver and etcd: the PV controller
//! binds claims to volumes and keeps their phases (the real kubectl shows
//! them), the protection finalizers hold claims and volumes while they are
//! used, a claim of a `WaitForFirstConsumer` class waits for its pod, the
//! scheduler picks the node, the local-path provisioner of that node (the
//! kubelet's, run in-process here for two Node objects, each with its own
//! directory) makes the volume and removes its directory when the claim is
//! deleted, and a StatefulSet's claims outlive its pods.

use std::path::{Path, PathBuf};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Event, PersistentVolume, PersistentVolumeClaim, Pod};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::{json, Value};
use tests::controllers::{ControlPlane, ControllerManager};
use tests::harness::eventually;

const T: Duration = Duration::from_secs(40);
const VOLUME_CONTROLLERS: &[&str] = &["persistentvolume-binder", "pvc-protection", "pv-protection"];

fn claim(name: &str, size: &str, class: Option<&str>, extra: Value) -> PersistentVolumeClaim {
    let mut spec = json!({"accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": size}}});
    if let Some(c) = class {
        spec["storageClassName"] = json!(c);
    }
    if let Value::Object(m) = extra {
        for (k, v) in m {
            spec[k] = v;
        }
    }
    serde_json::from_value(json!({"metadata": {"name": name}, "spec": spec})).expect("claim")
}

fn host_path_volume(name: &str, size: &str, policy: &str, class: &str) -> PersistentVolume {
    serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {"capacity": {"storage": size}, "accessModes": ["ReadWriteOnce"],
                 "persistentVolumeReclaimPolicy": policy, "storageClassName": class,
                 "hostPath": {"path": format!("/tmp/{name}")}}
    }))
    .expect("pv")
}

fn pod_using(name: &str, claim: &str) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {"containers": [{"name": "c", "image": "busybox:1.36",
                     "volumeMounts": [{"name": "data", "mountPath": "/data"}]}],
                 "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": claim}}]}
    }))
    .expect("pod")
}

fn phase_of_claim(c: &PersistentVolumeClaim) -> &str {
    c.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("")
}

fn phase_of_volume(v: &PersistentVolume) -> &str {
    v.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("")
}

fn annotation<'a>(meta: &'a kube::api::ObjectMeta, key: &str) -> Option<&'a str> {
    meta.annotations.as_ref()?.get(key).map(String::as_str)
}

/// The object once `pred` holds; panics with its last state otherwise.
async fn wait_for<K>(api: &Api<K>, name: &str, what: &str, pred: impl Fn(&K) -> bool) -> K
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let got = eventually(T, || async {
        let o = api.get(name).await.ok()?;
        pred(&o).then_some(o)
    })
    .await;
    match got {
        Some(o) => o,
        None => panic!("{name} never {what}: {:?}", api.get(name).await.ok()),
    }
}

/// Waits for an Event about `object` with `reason`; returns its message.
async fn wait_event(client: &kube::Client, ns: &str, object: &str, reason: &str) -> String {
    let events: Api<Event> = Api::namespaced(client.clone(), ns);
    let got = eventually(T, || async {
        let list = events.list(&ListParams::default()).await.ok()?;
        list.items
            .into_iter()
            .find(|e| {
                e.involved_object.name.as_deref() == Some(object)
                    && e.reason.as_deref() == Some(reason)
            })
            .and_then(|e| e.message)
    })
    .await;
    match got {
        Some(m) => m,
        None => {
            let all: Vec<_> = events
                .list(&ListParams::default())
                .await
                .map(|l| {
                    l.items
                        .into_iter()
                        .map(|e| (e.involved_object.name, e.reason, e.message))
                        .collect()
                })
                .unwrap_or_default();
            panic!("no {reason} event for {object}; events: {all:?}")
        }
    }
}

async fn gone<K>(api: &Api<K>, name: &str) -> bool
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    eventually(T, || async {
        matches!(api.get_opt(name).await, Ok(None)).then_some(())
    })
    .await
    .is_some()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn static_volumes_bind_by_size_class_and_name_and_are_released_by_policy() {
    let c = ControlPlane::start().await;
    let _cm = ControllerManager::start(&c.url, VOLUME_CONTROLLERS, |_| {}).await;
    let ns = c.namespace("pv");
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(c.client.clone(), &ns);
    let volumes: Api<PersistentVolume> = Api::all(c.client.clone());
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), &ns);
    let pp = PostParams::default();
    let names = [
        format!("{ns}-small"),
        format!("{ns}-big"),
        format!("{ns}-gold"),
        format!("{ns}-reserved"),
    ];
    let [small, big, gold, reserved] = names.clone();
    for v in [
        host_path_volume(&small, "1Gi", "Retain", ""),
        host_path_volume(&big, "5Gi", "Retain", ""),
        host_path_volume(&gold, "5Gi", "Retain", "gold"),
        host_path_volume(&reserved, "2Gi", "Delete", ""),
    ] {
        volumes.create(&pp, &v).await.expect("create pv");
    }
    // New volumes become Available and carry the protection finalizer.
    for name in &names {
        let v = wait_for(&volumes, name, "Available", |v| {
            phase_of_volume(v) == "Available"
        })
        .await;
        assert_eq!(
            v.metadata.finalizers.as_deref(),
            Some(&["kubernetes.io/pv-protection".to_string()][..])
        );
    }

    // The smallest volume of the class that fits: 2Gi asks, of 1Gi, 2Gi
    // and 5Gi the 2Gi one binds.
    claims
        .create(&pp, &claim("fits", "2Gi", Some(""), json!({})))
        .await
        .expect("claim");
    let bound = wait_for(&claims, "fits", "Bound", |c| phase_of_claim(c) == "Bound").await;
    let volume = bound
        .spec
        .as_ref()
        .and_then(|s| s.volume_name.clone())
        .unwrap_or_default();
    assert_eq!(volume, reserved);
    assert_eq!(
        annotation(&bound.metadata, "pv.kubernetes.io/bind-completed"),
        Some("yes")
    );
    assert_eq!(
        annotation(&bound.metadata, "pv.kubernetes.io/bound-by-controller"),
        Some("yes")
    );
    let status = bound.status.clone().unwrap_or_default();
    assert_eq!(
        status.capacity.map(|c| c["storage"].0.clone()).as_deref(),
        Some("2Gi")
    );
    assert_eq!(status.access_modes, Some(vec!["ReadWriteOnce".to_string()]));
    assert_eq!(
        bound.metadata.finalizers.as_deref(),
        Some(&["kubernetes.io/pvc-protection".to_string()][..])
    );
    let pv = wait_for(&volumes, &reserved, "Bound", |v| {
        phase_of_volume(v) == "Bound"
    })
    .await;
    let claim_ref = pv.spec.and_then(|s| s.claim_ref).expect("claimRef");
    assert_eq!(claim_ref.name.as_deref(), Some("fits"));
    assert_eq!(claim_ref.uid, bound.metadata.uid);

    // A claim naming its volume gets exactly it, though a smaller one fits.
    claims
        .create(
            &pp,
            &claim("named", "1Gi", Some(""), json!({"volumeName": big})),
        )
        .await
        .expect("claim");
    let named = wait_for(&claims, "named", "Bound", |c| phase_of_claim(c) == "Bound").await;
    assert_eq!(
        named.spec.and_then(|s| s.volume_name).as_deref(),
        Some(big.as_str())
    );
    // The class counts: gold claims get the gold volume.
    claims
        .create(&pp, &claim("golden", "1Gi", Some("gold"), json!({})))
        .await
        .expect("claim");
    let golden = wait_for(&claims, "golden", "Bound", |c| phase_of_claim(c) == "Bound").await;
    assert_eq!(
        golden.spec.and_then(|s| s.volume_name).as_deref(),
        Some(gold.as_str())
    );

    // Nothing fits: Pending, with upstream's events.
    claims
        .create(&pp, &claim("huge", "100Gi", Some(""), json!({})))
        .await
        .expect("claim");
    let msg = wait_event(&c.client, &ns, "huge", "FailedBinding").await;
    assert_eq!(
        msg,
        "no persistent volumes available for this claim and no storage class is set"
    );
    claims
        .create(&pp, &claim("classless", "1Gi", Some("nope"), json!({})))
        .await
        .expect("claim");
    let msg = wait_event(&c.client, &ns, "classless", "ProvisioningFailed").await;
    assert_eq!(msg, "storageclass.storage.k8s.io \"nope\" not found");
    for name in ["huge", "classless"] {
        let c = claims.get(name).await.expect("claim");
        assert_eq!(phase_of_claim(&c), "Pending", "{name}");
    }

    // The real kubectl shows upstream's columns.
    let out = c.kubectl(&["get", "pv", &reserved]);
    assert!(out.success, "{}", out.stderr);
    let header: Vec<&str> = out
        .stdout
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    assert_eq!(
        header,
        [
            "NAME",
            "CAPACITY",
            "ACCESS",
            "MODES",
            "RECLAIM",
            "POLICY",
            "STATUS",
            "CLAIM",
            "STORAGECLASS",
            "VOLUMEATTRIBUTESCLASS",
            "REASON",
            "AGE"
        ]
    );
    let row: Vec<&str> = out
        .stdout
        .lines()
        .nth(1)
        .unwrap_or("")
        .split_whitespace()
        .collect();
    assert_eq!(
        &row[..6],
        [
            reserved.as_str(),
            "2Gi",
            "RWO",
            "Delete",
            "Bound",
            &format!("{ns}/fits")
        ]
    );
    let out = c.kubectl(&["get", "pvc", "-n", &ns, "named"]);
    assert!(out.success, "{}", out.stderr);
    let row: Vec<&str> = out
        .stdout
        .lines()
        .nth(1)
        .unwrap_or("")
        .split_whitespace()
        .collect();
    assert_eq!(&row[..5], ["named", "Bound", big.as_str(), "5Gi", "RWO"]);

    // A claim a pod uses stays (Terminating) until the pod is gone.
    pods.create(&pp, &pod_using("user", "named"))
        .await
        .expect("pod");
    claims
        .delete("named", &DeleteParams::default())
        .await
        .expect("delete");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let held = claims.get("named").await.expect("still there");
    assert!(held.metadata.deletion_timestamp.is_some());
    pods.delete("user", &DeleteParams::default().grace_period(0))
        .await
        .expect("delete pod");
    assert!(
        gone(&claims, "named").await,
        "claim stayed after its pod went"
    );
    // Retain: the volume is Released and kept, still pointing at the claim.
    let released = wait_for(&volumes, &big, "Released", |v| {
        phase_of_volume(v) == "Released"
    })
    .await;
    assert!(released.spec.and_then(|s| s.claim_ref).is_some());

    // Delete, for a volume no provisioner made: Failed, with the event.
    claims
        .delete("fits", &DeleteParams::default())
        .await
        .expect("delete");
    let failed = wait_for(&volumes, &reserved, "Failed", |v| {
        phase_of_volume(v) == "Failed"
    })
    .await;
    assert!(failed
        .status
        .and_then(|s| s.message)
        .is_some_and(|m| m.contains("no deletable volume plugin matched")));

    // A released volume can be deleted: pv-protection lets it go.
    volumes
        .delete(&big, &DeleteParams::default())
        .await
        .expect("delete pv");
    assert!(gone(&volumes, &big).await, "released volume not removed");
    // A bound one is held.
    volumes
        .delete(&gold, &DeleteParams::default())
        .await
        .expect("delete pv");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let held = volumes.get(&gold).await.expect("bound volume kept");
    assert!(held.metadata.deletion_timestamp.is_some());
    assert_eq!(phase_of_volume(&held), "Bound");
}

/// Runs the local-path provisioner of `node` (the kubelet's) in-process.
struct Provisioner(tokio::task::JoinHandle<()>);

impl Provisioner {
    fn start(client: &kube::Client, node: &str, root: &Path) -> Provisioner {
        let recorder = component_base::events::Recorder::with_host(
            client.clone(),
            "kubelet",
            node.to_string(),
        );
        Provisioner(tokio::spawn(
            kubelet::volumes::local_path::Provisioner::run(
                client.clone(),
                node.to_string(),
                root.to_path_buf(),
                recorder,
            ),
        ))
    }
}

impl Drop for Provisioner {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A scheduler running in-process until dropped.
struct Scheduler(tokio::task::JoinHandle<scheduler::Result<()>>);

impl Scheduler {
    async fn start(url: &str) -> Scheduler {
        let client = scheduler::config::client(None, Some(url))
            .await
            .expect("client");
        let cfg = scheduler::Config {
            backoff: scheduler::queue::Backoff {
                initial: Duration::from_millis(100),
                max: Duration::from_millis(500),
            },
            ..Default::default()
        };
        Scheduler(tokio::spawn(scheduler::run(client, cfg)))
    }
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Two Ready nodes with a provisioner each (its own directory).
async fn two_nodes(
    c: &ControlPlane,
    prefix: &str,
) -> (Vec<String>, tempfile::TempDir, Vec<Provisioner>) {
    let dir = tempfile::tempdir().expect("tmp");
    let http = c.api.http();
    let mut names = Vec::new();
    let mut provisioners = Vec::new();
    for i in 1..=2 {
        let name = format!("{prefix}-{i}");
        let r = http
            .post(
                "/api/v1/nodes",
                &json!({"metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}}}),
            )
            .await
            .expect("node");
        assert_eq!(r.status, 201, "{}", r.body);
        let status = json!({"status": {
            "capacity": {"cpu": "4", "memory": "8Gi", "pods": "110"},
            "allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"},
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}]}});
        let r = http
            .patch(
                &format!("/api/v1/nodes/{name}/status"),
                "application/merge-patch+json",
                &status,
            )
            .await
            .expect("status");
        assert_eq!(r.status, 200, "{}", r.body);
        provisioners.push(Provisioner::start(
            &c.client,
            &name,
            &dir.path().join(&name),
        ));
        names.push(name);
    }
    (names, dir, provisioners)
}

fn local_path_class(name: &str, default: bool) -> Value {
    json!({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
        "metadata": {"name": name, "annotations": {
            "storageclass.kubernetes.io/is-default-class": if default { "true" } else { "false" }}},
        "provisioner": "minik8s.io/local-path", "reclaimPolicy": "Delete",
        "volumeBindingMode": "WaitForFirstConsumer"})
}

fn node_of(p: &Pod) -> String {
    p.spec
        .as_ref()
        .and_then(|s| s.node_name.clone())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_claim_binds_on_its_pods_node_and_delete_removes_the_directory() {
    let c = ControlPlane::start().await;
    let _cm = ControllerManager::start(&c.url, VOLUME_CONTROLLERS, |_| {}).await;
    let _sched = Scheduler::start(&c.url).await;
    let ns = c.namespace("wffc");
    let (nodes, dir, _provisioners) = two_nodes(&c, &ns).await;
    let class = format!("{ns}-local");
    c.apply(&local_path_class(&class, true));
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(c.client.clone(), &ns);
    let volumes: Api<PersistentVolume> = Api::all(c.client.clone());
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), &ns);
    let pp = PostParams::default();

    // No class named: admission gives it the default one.
    let created = claims
        .create(&pp, &claim("data", "1Gi", None, json!({})))
        .await
        .expect("claim");
    assert_eq!(
        created.spec.and_then(|s| s.storage_class_name).as_deref(),
        Some(class.as_str())
    );
    let msg = wait_event(&c.client, &ns, "data", "WaitForFirstConsumer").await;
    assert_eq!(
        msg,
        "waiting for first consumer to be created before binding"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let waiting = claims.get("data").await.expect("claim");
    assert_eq!(phase_of_claim(&waiting), "Pending");
    assert!(annotation(&waiting.metadata, "volume.kubernetes.io/selected-node").is_none());

    // A pod uses it: scheduled, the claim gets that node and a volume there.
    pods.create(&pp, &pod_using("app", "data"))
        .await
        .expect("pod");
    let scheduled = eventually(T, || async {
        let p = pods.get("app").await.ok()?;
        let n = node_of(&p);
        (!n.is_empty()).then_some(n)
    })
    .await
    .expect("the pod was never scheduled");
    assert!(nodes.contains(&scheduled));
    let bound = wait_for(&claims, "data", "Bound", |c| phase_of_claim(c) == "Bound").await;
    assert_eq!(
        annotation(&bound.metadata, "volume.kubernetes.io/selected-node"),
        Some(scheduled.as_str())
    );
    assert_eq!(
        annotation(&bound.metadata, "volume.kubernetes.io/storage-provisioner"),
        Some("minik8s.io/local-path")
    );
    let pv_name = bound.spec.and_then(|s| s.volume_name).unwrap_or_default();
    assert_eq!(
        pv_name,
        format!("pvc-{}", bound.metadata.uid.unwrap_or_default())
    );
    let pv = volumes.get(&pv_name).await.expect("pv");
    assert_eq!(
        annotation(&pv.metadata, "pv.kubernetes.io/provisioned-by"),
        Some("minik8s.io/local-path")
    );
    assert_eq!(
        component_base::storage::pinned_node(&pv),
        Some(scheduled.as_str())
    );
    let path = PathBuf::from(
        pv.spec
            .and_then(|s| s.host_path)
            .map(|h| h.path)
            .unwrap_or_default(),
    );
    assert!(
        path.starts_with(dir.path().join(&scheduled).join("local-path")),
        "{} is not under {scheduled}'s directory",
        path.display()
    );
    assert!(path.is_dir(), "{} was not made", path.display());
    let msg = wait_event(&c.client, &ns, "data", "ProvisioningSucceeded").await;
    assert_eq!(msg, format!("Successfully provisioned volume {pv_name}"));

    // A second pod of the claim goes to the same node (the volume's
    // affinity).
    pods.create(&pp, &pod_using("second", "data"))
        .await
        .expect("pod");
    let second = eventually(T, || async {
        let n = node_of(&pods.get("second").await.ok()?);
        (!n.is_empty()).then_some(n)
    })
    .await
    .expect("second pod never scheduled");
    assert_eq!(second, scheduled);

    // An unbound claim of an Immediate class keeps its pod Pending.
    claims
        .create(&pp, &claim("now", "1Gi", Some("no-such-class"), json!({})))
        .await
        .expect("claim");
    pods.create(&pp, &pod_using("stuck", "now"))
        .await
        .expect("pod");
    let msg = wait_event(&c.client, &ns, "stuck", "FailedScheduling").await;
    assert!(
        msg.contains("pod has unbound immediate PersistentVolumeClaims"),
        "{msg}"
    );

    // Deleting the pods, then the claim: the volume is released and its
    // provisioner removes the directory, then the volume.
    for p in ["app", "second", "stuck"] {
        pods.delete(p, &DeleteParams::default().grace_period(0))
            .await
            .expect("delete pod");
    }
    claims
        .delete("data", &DeleteParams::default())
        .await
        .expect("delete");
    assert!(gone(&claims, "data").await, "claim not removed");
    assert!(gone(&volumes, &pv_name).await, "volume not removed");
    assert!(!path.exists(), "{} still exists", path.display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statefulsets_claims_outlive_its_pods_and_come_back_on_scale_up() {
    let c = ControlPlane::start().await;
    let mut controllers = VOLUME_CONTROLLERS.to_vec();
    controllers.push("statefulset");
    let _cm = ControllerManager::start(&c.url, &controllers, |_| {}).await;
    let _sched = Scheduler::start(&c.url).await;
    let ns = c.namespace("sts");
    let (_nodes, _dir, _provisioners) = two_nodes(&c, &ns).await;
    c.apply(&local_path_class(&format!("{ns}-local"), true));
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(c.client.clone(), &ns);
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), &ns);
    c.apply(&json!({"apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"name": "db", "namespace": ns},
        "spec": {"replicas": 2, "serviceName": "db", "podManagementPolicy": "Parallel",
            "selector": {"matchLabels": {"app": "db"}},
            "template": {"metadata": {"labels": {"app": "db"}},
                "spec": {"containers": [{"name": "c", "image": "busybox:1.36",
                    "volumeMounts": [{"name": "data", "mountPath": "/data"}]}]}},
            "volumeClaimTemplates": [{"metadata": {"name": "data"},
                "spec": {"accessModes": ["ReadWriteOnce"],
                         "resources": {"requests": {"storage": "1Gi"}}}}]}}));
    let mut volume_of = Vec::new();
    let mut node_of_pod = Vec::new();
    for i in 0..2 {
        let claim = format!("data-db-{i}");
        let bound = wait_for(&claims, &claim, "Bound", |c| phase_of_claim(c) == "Bound").await;
        assert_eq!(
            bound
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get("app"))
                .map(String::as_str),
            Some("db")
        );
        volume_of.push(bound.spec.and_then(|s| s.volume_name).unwrap_or_default());
        let pod = eventually(T, || async {
            let p = pods.get(&format!("db-{i}")).await.ok()?;
            (!node_of(&p).is_empty()).then_some(p)
        })
        .await
        .expect("pod scheduled");
        let vol = pod
            .spec
            .as_ref()
            .and_then(|s| s.volumes.as_ref())
            .and_then(|v| v.iter().find(|v| v.name == "data"))
            .and_then(|v| v.persistent_volume_claim.as_ref())
            .map(|c| c.claim_name.clone());
        assert_eq!(vol.as_deref(), Some(claim.as_str()));
        node_of_pod.push(node_of(&pod));
    }

    // Scale down: the pod goes, its claim stays.
    let sets: Api<k8s_openapi::api::apps::v1::StatefulSet> = Api::namespaced(c.client.clone(), &ns);
    let scale = |n: i32| json!({"spec": {"replicas": n}});
    sets.patch("db", &PatchParams::default(), &Patch::Merge(&scale(1)))
        .await
        .expect("scale down");
    // No kubelet confirms the end: force the terminating pod away.
    let gone_pod = eventually(T, || async {
        match pods.get_opt("db-1").await {
            Ok(None) => Some(()),
            Ok(Some(p)) if p.metadata.deletion_timestamp.is_some() => {
                let _ = pods
                    .delete("db-1", &DeleteParams::default().grace_period(0))
                    .await;
                None
            }
            _ => None,
        }
    })
    .await;
    assert!(gone_pod.is_some(), "db-1 not removed on scale-down");
    let kept = claims
        .get("data-db-1")
        .await
        .expect("claim kept on scale-down");
    assert_eq!(phase_of_claim(&kept), "Bound");

    // Scale up: db-1 comes back with the same claim, on the same node.
    sets.patch("db", &PatchParams::default(), &Patch::Merge(&scale(2)))
        .await
        .expect("scale up");
    let back = eventually(T, || async {
        let p = pods.get("db-1").await.ok()?;
        (p.metadata.deletion_timestamp.is_none() && !node_of(&p).is_empty()).then_some(p)
    })
    .await
    .expect("db-1 back");
    assert_eq!(node_of(&back), node_of_pod[1]);
    let again = claims.get("data-db-1").await.expect("claim");
    assert_eq!(
        again.spec.and_then(|s| s.volume_name),
        Some(volume_of[1].clone())
    );
    let all = claims.list(&ListParams::default()).await.expect("list");
    assert_eq!(all.items.len(), 2, "no new claims on scale-up");
}
