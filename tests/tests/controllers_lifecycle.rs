//! Garbage collection, namespace deletion, Endpoints/EndpointSlices, node
//! lifecycle and leader election of the controller-manager, against a real
//! apiserver and etcd, driven by the real kubectl where a user would use it.

use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Endpoints, Namespace, Node, Pod};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;
use tests::controllers::{ControlPlane, ControllerManager, FakeKubelet};
use tests::harness::eventually;

const T: Duration = Duration::from_secs(30);

fn deployment(ns: &str, name: &str, replicas: i32) -> serde_json::Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "c", "image": "busybox:1.36"}]}}}})
}

async fn count<K>(api: &Api<K>, selector: &str) -> usize
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    api.list(&ListParams::default().labels(selector))
        .await
        .map(|l| l.items.len())
        .unwrap_or(usize::MAX)
}

async fn wait_count<K>(api: &Api<K>, selector: &str, n: usize) -> bool
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    eventually(T, || async {
        (count(api, selector).await == n).then_some(())
    })
    .await
    .is_some()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cascade_deletion_in_all_three_modes() {
    let c = ControlPlane::start().await;
    let _cm = ControllerManager::start(
        &c.url,
        &["replicaset", "deployment", "garbagecollector"],
        |_| {},
    )
    .await;
    let ns = c.namespace("gc");
    let _kubelet = FakeKubelet::start(c.client.clone(), &ns, Duration::ZERO);
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), &ns);
    let sets: Api<ReplicaSet> = Api::namespaced(c.client.clone(), &ns);
    let deps: Api<Deployment> = Api::namespaced(c.client.clone(), &ns);

    // Background: the Deployment goes at once, the collector takes the rest.
    c.apply(&deployment(&ns, "bg", 2));
    assert!(wait_count(&pods, "app=bg", 2).await, "pods created");
    let out = c.kubectl(&[
        "delete",
        "deployment",
        "bg",
        "-n",
        &ns,
        "--cascade=background",
    ]);
    assert!(out.success, "{}", out.stderr);
    assert!(wait_count(&sets, "app=bg", 0).await, "ReplicaSet collected");
    assert!(wait_count(&pods, "app=bg", 0).await, "pods collected");

    // Orphan: the ReplicaSet and pods stay, without the owner reference.
    c.apply(&deployment(&ns, "or", 2));
    assert!(wait_count(&pods, "app=or", 2).await, "pods created");
    let out = c.kubectl(&["delete", "deployment", "or", "-n", &ns, "--cascade=orphan"]);
    assert!(out.success, "{}", out.stderr);
    let gone = eventually(T, || async {
        deps.get_opt("or")
            .await
            .ok()
            .flatten()
            .is_none()
            .then_some(())
    })
    .await;
    assert!(gone.is_some(), "orphaning deletion finished");
    let rs = sets
        .list(&ListParams::default().labels("app=or"))
        .await
        .expect("rs")
        .items;
    assert_eq!(rs.len(), 1, "ReplicaSet orphaned, not deleted");
    assert!(
        rs[0]
            .metadata
            .owner_references
            .as_ref()
            .is_none_or(|r| r.is_empty()),
        "owner reference removed"
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(count(&pods, "app=or").await, 2, "pods untouched");

    // Foreground: the Deployment waits, with the finalizer, for its
    // dependents, then goes.
    c.apply(&deployment(&ns, "fg", 2));
    assert!(wait_count(&pods, "app=fg", 2).await, "pods created");
    let out = c.kubectl(&[
        "delete",
        "deployment",
        "fg",
        "-n",
        &ns,
        "--cascade=foreground",
        "--wait=false",
    ]);
    assert!(out.success, "{}", out.stderr);
    if let Ok(Some(d)) = deps.get_opt("fg").await {
        assert!(d.metadata.deletion_timestamp.is_some());
        assert!(d
            .metadata
            .finalizers
            .unwrap_or_default()
            .contains(&"foregroundDeletion".to_string()));
    }
    let gone = eventually(T, || async {
        deps.get_opt("fg")
            .await
            .ok()
            .flatten()
            .is_none()
            .then_some(())
    })
    .await;
    assert!(gone.is_some(), "foreground deletion finished");
    assert_eq!(count(&sets, "app=fg").await, 0);
    assert_eq!(count(&pods, "app=fg").await, 0);
}

/// Three objects owning each other in a circle, every reference blocking:
/// a foreground deletion of one must not wait forever (upstream's
/// collector unblocks the circle) and takes all three.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dependency_circle_does_not_block_foreground_deletion() {
    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::api::DeleteParams;
    let c = ControlPlane::start().await;
    let _cm = ControllerManager::start(&c.url, &["garbagecollector"], |_| {}).await;
    let ns = c.namespace("circle");
    let cms: Api<ConfigMap> = Api::namespaced(c.client.clone(), &ns);
    let mut uids = Vec::new();
    for name in ["one", "two", "three"] {
        let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": name,
            "labels": {"circle": "yes"}}}))
        .expect("configmap");
        let made = cms
            .create(&PostParams::default(), &cm)
            .await
            .expect("create");
        uids.push(made.metadata.uid.unwrap_or_default());
    }
    // one <- three, two <- one, three <- two
    for (i, name) in ["one", "two", "three"].iter().enumerate() {
        let owner = (i + 2) % 3;
        let owner_name = ["one", "two", "three"][owner];
        let patch = json!({"metadata": {"ownerReferences": [{"apiVersion": "v1",
            "kind": "ConfigMap", "name": owner_name, "uid": uids[owner],
            "controller": true, "blockOwnerDeletion": true}]}});
        cms.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .expect("own");
    }
    cms.delete("one", &DeleteParams::foreground())
        .await
        .expect("delete");
    assert!(
        wait_count(&cms, "circle=yes", 0).await,
        "the circle was deleted"
    );
}

/// A dependent that another, living owner keeps survives the foreground
/// deletion of its first owner and only loses the reference to it (the
/// conformance spec "should not delete dependents that have both valid
/// owner and owner that's waiting for dependents to be deleted").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dependent_with_another_owner_outlives_a_foreground_deletion() {
    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::api::DeleteParams;
    let c = ControlPlane::start().await;
    let _cm = ControllerManager::start(&c.url, &["garbagecollector"], |_| {}).await;
    let ns = c.namespace("two-owners");
    let cms: Api<ConfigMap> = Api::namespaced(c.client.clone(), &ns);
    let mut uids = Vec::new();
    for name in ["going", "staying", "shared", "only"] {
        let cm: ConfigMap =
            serde_json::from_value(json!({"metadata": {"name": name}})).expect("configmap");
        let made = cms
            .create(&PostParams::default(), &cm)
            .await
            .expect("create");
        uids.push(made.metadata.uid.unwrap_or_default());
    }
    let owner = |name: &str, uid: &str| {
        json!({"apiVersion": "v1", "kind": "ConfigMap", "name": name, "uid": uid,
               "blockOwnerDeletion": true})
    };
    let both = json!({"metadata": {"ownerReferences": [owner("going", &uids[0]), owner("staying", &uids[1])]}});
    cms.patch("shared", &PatchParams::default(), &Patch::Merge(&both))
        .await
        .expect("two owners");
    let one = json!({"metadata": {"ownerReferences": [owner("going", &uids[0])]}});
    cms.patch("only", &PatchParams::default(), &Patch::Merge(&one))
        .await
        .expect("one owner");
    cms.delete("going", &DeleteParams::foreground())
        .await
        .expect("delete");
    let gone = tests::harness::eventually(std::time::Duration::from_secs(20), || async {
        let going = cms.get_opt("going").await.ok()?;
        let only = cms.get_opt("only").await.ok()?;
        (going.is_none() && only.is_none()).then_some(())
    })
    .await;
    assert!(gone.is_some(), "the owner and its only dependent went");
    let shared = cms.get("shared").await.expect("kept by its other owner");
    let owners: Vec<String> = shared
        .metadata
        .owner_references
        .unwrap_or_default()
        .into_iter()
        .map(|o| o.name)
        .collect();
    assert_eq!(owners, ["staying"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_namespace_deletes_its_content_first() {
    let c = ControlPlane::start().await;
    let _cm = ControllerManager::start(
        &c.url,
        &["namespace", "replicaset", "deployment", "garbagecollector"],
        |_| {},
    )
    .await;
    let ns = c.namespace("nsdel");
    let _kubelet = FakeKubelet::start(c.client.clone(), &ns, Duration::ZERO);
    c.apply(&deployment(&ns, "web", 3));
    assert!(
        c.kubectl(&[
            "create",
            "configmap",
            "cfg",
            "-n",
            &ns,
            "--from-literal=a=b"
        ])
        .success
    );
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), &ns);
    assert!(wait_count(&pods, "app=web", 3).await);
    // A finalizer we hold keeps the namespace Terminating with a reason.
    let cms: Api<k8s_openapi::api::core::v1::ConfigMap> = Api::namespaced(c.client.clone(), &ns);
    cms.patch(
        "cfg",
        &PatchParams::default(),
        &Patch::Merge(&json!({"metadata": {"finalizers": ["example.com/hold"]}})),
    )
    .await
    .expect("finalizer");
    // A pod held by a finalizer: until it is gone nothing else is deleted.
    let held: Pod = serde_json::from_value(json!({"metadata": {"name": "held",
        "finalizers": ["example.com/pod"]},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]}}))
    .expect("pod");
    pods.create(&PostParams::default(), &held)
        .await
        .expect("held pod");
    assert!(
        c.kubectl(&["create", "configmap", "plain", "-n", &ns])
            .success
    );
    let out = c.kubectl(&["delete", "namespace", &ns, "--wait=false"]);
    assert!(out.success, "{}", out.stderr);
    let nss: Api<Namespace> = Api::all(c.client.clone());
    let finalizers_remaining = |want: &'static str| {
        let (nss, ns) = (nss.clone(), ns.clone());
        async move {
            eventually(T, || async {
                let n = nss.get(&ns).await.ok()?;
                let st = n.status?;
                let c = st.conditions?.into_iter().find(|c| {
                    c.type_ == "NamespaceFinalizersRemaining"
                        && c.status == "True"
                        && c.message.as_deref().unwrap_or("").contains(want)
                })?;
                (st.phase.as_deref() == Some("Terminating")).then_some(c)
            })
            .await
        }
    };
    finalizers_remaining("example.com/pod")
        .await
        .expect("Terminating, held by the pod");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        cms.get_opt("plain").await.expect("get").is_some(),
        "a ConfigMap was deleted while a pod was left"
    );
    pods.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(&json!({"metadata": {"finalizers": []}})),
    )
    .await
    .expect("release the pod");
    let cond = finalizers_remaining("example.com/hold")
        .await
        .expect("Terminating with NamespaceFinalizersRemaining");
    assert!(cond
        .message
        .unwrap_or_default()
        .contains("example.com/hold"));
    let out = c.kubectl(&["describe", "namespace", &ns]);
    assert!(
        out.stdout.contains("NamespaceContentRemaining"),
        "{}",
        out.stdout
    );
    assert_eq!(
        count(&pods, "app=web").await,
        0,
        "pods were deleted meanwhile"
    );
    cms.patch(
        "cfg",
        &PatchParams::default(),
        &Patch::Merge(&json!({"metadata": {"finalizers": []}})),
    )
    .await
    .expect("release");
    let gone = eventually(T, || async {
        nss.get_opt(&ns)
            .await
            .ok()
            .flatten()
            .is_none()
            .then_some(())
    })
    .await;
    assert!(gone.is_some(), "namespace removed once empty");
}

async fn make_pod(c: &ControlPlane, ns: &str, name: &str, ip: &str, ready: bool) {
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), ns);
    let pod: Pod = serde_json::from_value(json!({"metadata": {"name": name, "labels": {"app": "svc"}},
        "spec": {"containers": [{"name": "c", "image": "busybox", "ports": [{"name": "http", "containerPort": 8080}]}]}}))
    .expect("pod");
    pods.create(&PostParams::default(), &pod)
        .await
        .expect("create pod");
    set_ready(c, ns, name, ip, ready).await;
}

async fn set_ready(c: &ControlPlane, ns: &str, name: &str, ip: &str, ready: bool) {
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), ns);
    let st = json!({"status": {"phase": "Running", "podIP": ip,
        "conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"}}]}});
    pods.patch_status(name, &PatchParams::default(), &Patch::Merge(&st))
        .await
        .expect("status");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoints_and_slices_follow_pod_readiness() {
    let c = ControlPlane::start().await;
    let _cm = ControllerManager::start(
        &c.url,
        &["endpoint", "endpointslice", "garbagecollector"],
        |_| {},
    )
    .await;
    let ns = c.namespace("ep");
    c.apply(
        &json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": ns},
        "spec": {"selector": {"app": "svc"}, "ports": [
            {"name": "web", "port": 80, "targetPort": "http"},
            {"name": "raw", "port": 9000}]}}),
    );
    make_pod(&c, &ns, "a", "10.244.1.10", true).await;
    make_pod(&c, &ns, "b", "10.244.1.11", false).await;
    let eps: Api<Endpoints> = Api::namespaced(c.client.clone(), &ns);
    let ips = |e: &Endpoints, ready: bool| -> Vec<String> {
        e.subsets
            .iter()
            .flatten()
            .flat_map(|s| {
                if ready {
                    s.addresses.clone()
                } else {
                    s.not_ready_addresses.clone()
                }
                .unwrap_or_default()
            })
            .map(|a| a.ip)
            .collect()
    };
    let e = eventually(T, || async {
        let e = eps.get_opt("web").await.ok().flatten()?;
        (ips(&e, true) == ["10.244.1.10"] && ips(&e, false) == ["10.244.1.11"]).then_some(e)
    })
    .await
    .expect("ready and not-ready addresses");
    let mut ports: Vec<(Option<String>, i32)> = e.subsets.unwrap_or_default()[0]
        .ports
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|p| (p.name, p.port))
        .collect();
    ports.sort();
    assert_eq!(
        ports,
        vec![(Some("raw".into()), 9000), (Some("web".into()), 8080)],
        "named and numeric target ports"
    );

    // Readiness flips show up within a second.
    let start = std::time::Instant::now();
    set_ready(&c, &ns, "b", "10.244.1.11", true).await;
    let moved = eventually(T, || async {
        let e = eps.get_opt("web").await.ok().flatten()?;
        (ips(&e, true).len() == 2).then_some(())
    })
    .await;
    assert!(moved.is_some());
    let took = start.elapsed();
    assert!(
        took < Duration::from_secs(5),
        "readiness propagated in {took:?}"
    );
    eprintln!("endpoints followed a readiness change in {took:?}");

    let slices: Api<EndpointSlice> = Api::namespaced(c.client.clone(), &ns);
    let s = eventually(T, || async {
        let l = slices
            .list(&ListParams::default().labels("kubernetes.io/service-name=web"))
            .await
            .ok()?;
        let s = l.items.into_iter().next()?;
        let endpoints = s.endpoints.as_deref().unwrap_or_default();
        (endpoints.len() == 2
            && endpoints
                .iter()
                .all(|e| e.conditions.as_ref().and_then(|c| c.ready) == Some(true)))
        .then_some(s)
    })
    .await
    .expect("an EndpointSlice with both pods ready");
    assert_eq!(s.address_type, "IPv4");
    assert_eq!(
        s.metadata.owner_references.unwrap_or_default()[0].kind,
        "Service"
    );

    // publishNotReadyAddresses lists not-ready pods as addresses.
    set_ready(&c, &ns, "a", "10.244.1.10", false).await;
    c.kubectl(&[
        "patch",
        "service",
        "web",
        "-n",
        &ns,
        "-p",
        r#"{"spec":{"publishNotReadyAddresses":true}}"#,
    ]);
    let all = eventually(T, || async {
        let e = eps.get_opt("web").await.ok().flatten()?;
        (ips(&e, true).len() == 2 && ips(&e, false).is_empty()).then_some(())
    })
    .await;
    assert!(all.is_some(), "publishNotReadyAddresses");

    // The real kubectl reads them.
    let out = c.kubectl(&["get", "endpoints", "web", "-n", &ns]);
    assert!(out.stdout.contains("10.244.1.10:8080"), "{}", out.stdout);

    // Deleting the Service deletes both.
    assert!(c.kubectl(&["delete", "service", "web", "-n", &ns]).success);
    let gone = eventually(T, || async {
        let e = eps.get_opt("web").await.ok()?;
        let l = slices.list(&ListParams::default()).await.ok()?;
        (e.is_none() && l.items.is_empty()).then_some(())
    })
    .await;
    assert!(
        gone.is_some(),
        "endpoints and slices removed with the service"
    );
}

async fn create_node(c: &ControlPlane, name: &str) {
    let nodes: Api<Node> = Api::all(c.client.clone());
    let n: Node = serde_json::from_value(json!({"metadata": {"name": name}})).expect("node");
    nodes
        .create(&PostParams::default(), &n)
        .await
        .expect("create node");
    heartbeat(c, name).await;
}

async fn heartbeat(c: &ControlPlane, name: &str) {
    let nodes: Api<Node> = Api::all(c.client.clone());
    let now = k8s_openapi::jiff::Timestamp::now();
    let st = json!({"status": {"conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
        "lastHeartbeatTime": now, "lastTransitionTime": now}]}});
    let _ = nodes
        .patch_status(name, &PatchParams::default(), &Patch::Merge(&st))
        .await;
    let leases: Api<Lease> = Api::namespaced(c.client.clone(), "kube-node-lease");
    let lease = json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": name, "namespace": "kube-node-lease"},
        "spec": {"holderIdentity": name, "leaseDurationSeconds": 40, "renewTime": k8s_openapi::jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()}});
    let _ = leases
        .patch(
            name,
            &PatchParams::apply("test").force(),
            &Patch::Apply(&lease),
        )
        .await;
}

async fn bind(c: &ControlPlane, ns: &str, pod: &str, node: &str) {
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), ns);
    let b = json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": pod},
        "target": {"kind": "Node", "name": node}});
    let _ = pods
        .create_subresource::<serde_json::Value, serde_json::Value>(
            "binding",
            pod,
            &PostParams::default(),
            &b,
        )
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_loss_taints_evicts_and_replaces_pods() {
    let c = ControlPlane::start().await;
    let _cm = ControllerManager::start(
        &c.url,
        &["nodeipam", "nodelifecycle", "replicaset"],
        |cfg| {
            cfg.node_monitor_period = Duration::from_millis(300);
            cfg.node_monitor_grace_period = Duration::from_secs(2);
            cfg.pod_eviction_timeout = Duration::from_secs(1);
        },
    )
    .await;
    let (a, b) = (
        tests::harness::unique("node-a"),
        tests::harness::unique("node-b"),
    );
    create_node(&c, &a).await;
    create_node(&c, &b).await;
    let nodes: Api<Node> = Api::all(c.client.clone());
    let cidrs = eventually(T, || async {
        let x = nodes.get(&a).await.ok()?.spec?.pod_cidr?;
        let y = nodes.get(&b).await.ok()?.spec?.pod_cidr?;
        Some((x, y))
    })
    .await
    .expect("podCIDRs assigned");
    assert_ne!(cidrs.0, cidrs.1);
    assert!(
        cidrs.0.starts_with("10.244.") && cidrs.0.ends_with("/24"),
        "{cidrs:?}"
    );

    // Both nodes heartbeat; then node a stops.
    let stop_a = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let beats = {
        let (url, a, b, stop_a) = (c.url.clone(), a.clone(), b.clone(), stop_a.clone());
        let client = c.client.clone();
        tokio::spawn(async move {
            let cp = Beat { client, _url: url };
            loop {
                if !stop_a.load(std::sync::atomic::Ordering::SeqCst) {
                    cp.beat(&a).await;
                }
                cp.beat(&b).await;
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        })
    };

    let ns = c.namespace("nodes");
    c.apply(&json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "rs", "namespace": ns},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "rs"}},
            "template": {"metadata": {"labels": {"app": "rs"}}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}));
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), &ns);
    assert!(wait_count(&pods, "app=rs", 2).await);
    for p in pods.list(&ListParams::default()).await.expect("pods").items {
        let name = p.metadata.name.unwrap_or_default();
        bind(&c, &ns, &name, &a).await;
        set_ready(&c, &ns, &name, "10.244.0.5", true).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let n = nodes.get(&a).await.expect("node");
    assert!(
        n.spec.and_then(|s| s.taints).unwrap_or_default().is_empty(),
        "healthy node is not tainted"
    );

    stop_a.store(true, std::sync::atomic::Ordering::SeqCst);
    let tainted = eventually(T, || async {
        let n = nodes.get(&a).await.ok()?;
        let ready = n
            .status
            .as_ref()?
            .conditions
            .as_ref()?
            .iter()
            .find(|c| c.type_ == "Ready")?
            .status
            .clone();
        let t = n.spec?.taints?;
        (ready == "Unknown"
            && t.iter()
                .any(|t| t.key == "node.kubernetes.io/unreachable" && t.effect == "NoExecute"))
        .then_some(())
    })
    .await;
    assert!(
        tainted.is_some(),
        "silent node marked Unknown and tainted unreachable"
    );
    // Evicted (terminating: no kubelet confirms) and replaced.
    let replaced = eventually(T, || async {
        let l = pods
            .list(&ListParams::default().labels("app=rs"))
            .await
            .ok()?
            .items;
        let terminating = l
            .iter()
            .filter(|p| p.metadata.deletion_timestamp.is_some())
            .count();
        let fresh = l
            .iter()
            .filter(|p| {
                p.metadata.deletion_timestamp.is_none()
                    && p.spec.as_ref().and_then(|s| s.node_name.as_ref()).is_none()
            })
            .count();
        (terminating == 2 && fresh == 2).then_some(())
    })
    .await;
    assert!(
        replaced.is_some(),
        "pods evicted from the lost node and recreated"
    );
    let out = c.kubectl(&[
        "get",
        "events",
        "-n",
        &ns,
        "--field-selector",
        "reason=TaintManagerEviction",
    ]);
    assert!(
        out.stdout.contains("Marking for deletion"),
        "{}{}",
        out.stdout,
        out.stderr
    );
    let n = nodes.get(&b).await.expect("node b");
    assert!(
        n.spec.and_then(|s| s.taints).unwrap_or_default().is_empty(),
        "the healthy node stays untainted"
    );
    beats.abort();
}

struct Beat {
    client: kube::Client,
    _url: String,
}

impl Beat {
    async fn beat(&self, name: &str) {
        let nodes: Api<Node> = Api::all(self.client.clone());
        let now = k8s_openapi::jiff::Timestamp::now();
        let st = json!({"status": {"conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
            "lastHeartbeatTime": now, "lastTransitionTime": now}]}});
        let _ = nodes
            .patch_status(name, &PatchParams::default(), &Patch::Merge(&st))
            .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_leader_acts_and_a_standby_takes_over() {
    let c = ControlPlane::start().await;
    let le = |id: &str| {
        let mut l = controller_manager::leader_election::Config::new("kube-controller-manager", id);
        l.lease_duration = Duration::from_secs(2);
        l.renew_deadline = Duration::from_millis(1500);
        l.retry_period = Duration::from_millis(200);
        l
    };
    let (la, lb) = (le("cm-a"), le("cm-b"));
    let cm_a = ControllerManager::start(&c.url, &["replicaset"], move |cfg| {
        cfg.leader_election = Some(la)
    })
    .await;
    let leases: Api<Lease> = Api::namespaced(c.client.clone(), "kube-system");
    let holder = || async {
        leases
            .get_opt("kube-controller-manager")
            .await
            .ok()
            .flatten()?
            .spec?
            .holder_identity
    };
    assert_eq!(
        eventually(T, || async { holder().await.filter(|h| h == "cm-a") })
            .await
            .as_deref(),
        Some("cm-a")
    );
    let cm_b = ControllerManager::start(&c.url, &["replicaset"], move |cfg| {
        cfg.leader_election = Some(lb)
    })
    .await;

    let ns = c.namespace("le");
    c.apply(&json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "rs", "namespace": ns},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "rs"}},
            "template": {"metadata": {"labels": {"app": "rs"}}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}));
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), &ns);
    assert!(wait_count(&pods, "app=rs", 3).await);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        count(&pods, "app=rs").await,
        3,
        "one acting replica: never more than 3 pods"
    );
    assert_eq!(holder().await.as_deref(), Some("cm-a"));

    // The leader dies; the standby takes the lease and acts.
    drop(cm_a);
    let took = eventually(T, || async { holder().await.filter(|h| h == "cm-b") }).await;
    assert_eq!(took.as_deref(), Some("cm-b"), "standby acquired the lease");
    assert!(
        c.kubectl(&["scale", "replicaset", "rs", "--replicas=5", "-n", &ns])
            .success
    );
    assert!(wait_count(&pods, "app=rs", 5).await, "the new leader acts");
    assert!(!cm_b.finished());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoints_of_a_selectorless_service_are_mirrored_into_slices() {
    let c = ControlPlane::start().await;
    let _cm = ControllerManager::start(&c.url, &["endpointslice-mirroring"], |_| {}).await;
    let ns = c.namespace("mirror");
    c.apply(
        &json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "db", "namespace": ns},
        "spec": {"ports": [{"name": "sql", "port": 5432}]}}),
    );
    c.apply(&json!({"apiVersion": "v1", "kind": "Endpoints",
        "metadata": {"name": "db", "namespace": ns, "labels": {"team": "data"}},
        "subsets": [{"addresses": [{"ip": "10.9.0.1"}], "notReadyAddresses": [{"ip": "10.9.0.2"}],
                     "ports": [{"name": "sql", "port": 5432}]}]}));
    let slices: Api<EndpointSlice> = Api::namespaced(c.client.clone(), &ns);
    let mirrored = |want: usize| {
        let slices = slices.clone();
        async move {
            eventually(T, || async {
                let list = slices
                    .list(&ListParams::default().labels("kubernetes.io/service-name=db"))
                    .await
                    .ok()?;
                let addrs: usize = list
                    .items
                    .iter()
                    .map(|s| s.endpoints.as_ref().map_or(0, Vec::len))
                    .sum();
                (addrs == want).then_some(list.items)
            })
            .await
        }
    };
    let got = mirrored(2)
        .await
        .expect("one mirrored slice with both addresses");
    let slice = &got[0];
    let labels = slice.metadata.labels.clone().unwrap_or_default();
    assert_eq!(
        labels
            .get("endpointslice.kubernetes.io/managed-by")
            .map(String::as_str),
        Some("endpointslicemirroring-controller.k8s.io")
    );
    assert_eq!(labels.get("team").map(String::as_str), Some("data"));
    let ready: Vec<Option<bool>> = slice
        .endpoints
        .iter()
        .flatten()
        .map(|e| e.conditions.as_ref().and_then(|c| c.ready))
        .collect();
    assert_eq!(ready, [Some(true), Some(false)]);
    assert_eq!(slice.ports.as_ref().and_then(|p| p[0].port), Some(5432));
    // Updated with the Endpoints, gone with them.
    c.apply(&json!({"apiVersion": "v1", "kind": "Endpoints",
        "metadata": {"name": "db", "namespace": ns, "labels": {"team": "data"}},
        "subsets": [{"addresses": [{"ip": "10.9.0.1"}, {"ip": "10.9.0.3"}, {"ip": "10.9.0.4"}],
                     "ports": [{"name": "sql", "port": 5432}]}]}));
    assert!(
        mirrored(3).await.is_some(),
        "the slice follows the Endpoints"
    );
    let out = c.kubectl(&["delete", "endpoints", "db", "-n", &ns]);
    assert!(out.success, "{}", out.stderr);
    assert!(
        mirrored(0).await.is_some(),
        "the slice goes with the Endpoints"
    );
}
