//! What every cluster has without anyone asking, against a real apiserver
//! and etcd with the controllers in-process: the `default` ServiceAccount
//! and the `kube-root-ca.crt` ConfigMap in every namespace (put back when
//! deleted or changed), the `kubernetes` Service with its Endpoints and
//! EndpointSlice and the legacy token tracking ConfigMap (kept by the
//! apiserver itself); and the core/v1 kinds of
//! the same issue driven by the real kubectl: ReplicationControllers
//! (scale, cascading delete), PodTemplates and `bindings`.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{ConfigMap, Endpoints, Pod, Service, ServiceAccount};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;
use tests::controllers::{ControlPlane, ControllerManager};
use tests::harness::eventually;

const T: Duration = Duration::from_secs(30);

async fn exists<K>(api: &Api<K>, name: &str) -> Option<K>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    api.get_opt(name).await.ok().flatten()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_namespace_gets_its_service_account_and_root_ca_and_the_apiserver_its_service() {
    let c = ControlPlane::start().await;
    let pki = tempfile::tempdir().expect("tmp");
    let ca_file = tests::pki::self_signed_ca(pki.path());
    let ca = std::fs::read_to_string(&ca_file).expect("ca");
    let _cm = ControllerManager::start(
        &c.url,
        &[
            "serviceaccount",
            "root-ca-cert-publisher",
            "endpoint",
            "endpointslice",
        ],
        |cfg| cfg.root_ca_file = Some(ca_file.clone()),
    )
    .await;

    // A new namespace has both within a few seconds (the conformance
    // framework waits for the ServiceAccount before every spec).
    let ns = c.namespace("defaults");
    let start = Instant::now();
    let accounts: Api<ServiceAccount> = Api::namespaced(c.client.clone(), &ns);
    let cms: Api<ConfigMap> = Api::namespaced(c.client.clone(), &ns);
    assert!(
        eventually(Duration::from_secs(5), || exists(&accounts, "default"))
            .await
            .is_some(),
        "no default ServiceAccount in {ns} after 5 s"
    );
    let published = eventually(Duration::from_secs(5), || exists(&cms, "kube-root-ca.crt"))
        .await
        .expect("kube-root-ca.crt published");
    // The apiserver's own record of when legacy token tracking began, which
    // upstream's legacy token cleaner reads.
    let system: Api<ConfigMap> = Api::namespaced(c.client.clone(), "kube-system");
    let tracking = exists(
        &system,
        "kube-apiserver-legacy-service-account-token-tracking",
    )
    .await
    .expect("the legacy token tracking ConfigMap");
    let since = tracking
        .data
        .and_then(|d| d.get("since").cloned())
        .unwrap_or_default();
    assert_eq!(since.len(), 10, "since: YYYY-MM-DD, got {since:?}");
    eprintln!(
        "default ServiceAccount and root CA after {:?}",
        start.elapsed()
    );
    let data = |cm: &ConfigMap| cm.data.clone().unwrap_or_default().get("ca.crt").cloned();
    assert_eq!(data(&published).as_deref(), Some(ca.as_str()));

    // Deleted, both come back; a changed certificate is put back.
    accounts
        .delete("default", &DeleteParams::default())
        .await
        .expect("delete sa");
    cms.delete("kube-root-ca.crt", &DeleteParams::default())
        .await
        .expect("delete cm");
    let back = eventually(T, || async {
        let sa = exists(&accounts, "default").await?;
        let cm = exists(&cms, "kube-root-ca.crt").await?;
        // A new object (new uid), not the old one seen late.
        (sa.metadata.uid != published.metadata.uid).then_some(cm)
    })
    .await
    .expect("the ServiceAccount and the ConfigMap came back");
    assert_eq!(data(&back).as_deref(), Some(ca.as_str()));
    cms.patch(
        "kube-root-ca.crt",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"ca.crt": "tampered"}})),
    )
    .await
    .expect("tamper");
    let restored = eventually(T, || async {
        let cm = exists(&cms, "kube-root-ca.crt").await?;
        (data(&cm).as_deref() == Some(ca.as_str())).then_some(())
    })
    .await;
    assert!(
        restored.is_some(),
        "the tampered certificate was not put back"
    );

    // The system namespaces get them too.
    let default_cms: Api<ConfigMap> = Api::namespaced(c.client.clone(), "default");
    assert!(eventually(T, || exists(&default_cms, "kube-root-ca.crt"))
        .await
        .is_some());

    // The `kubernetes` Service, its Endpoints and EndpointSlice point at
    // the apiserver.
    let port: i32 = c
        .url
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("port in url");
    let services: Api<Service> = Api::namespaced(c.client.clone(), "default");
    let endpoints: Api<Endpoints> = Api::namespaced(c.client.clone(), "default");
    let slices: Api<EndpointSlice> = Api::namespaced(c.client.clone(), "default");
    let in_place = || async {
        let svc = exists(&services, "kubernetes").await?;
        let spec = svc.spec?;
        let p = spec.ports?.into_iter().next()?;
        let svc_ok = spec.cluster_ip.as_deref() == Some("10.96.0.1")
            && p.port == 443
            && p.name.as_deref() == Some("https")
            && spec.selector.is_none_or(|s| s.is_empty());
        let ep = exists(&endpoints, "kubernetes").await?;
        let subset = ep.subsets?.into_iter().next()?;
        let ep_ok =
            subset.addresses?.first()?.ip == "127.0.0.1" && subset.ports?.first()?.port == port;
        let slice = exists(&slices, "kubernetes").await?;
        let slice_ok = slice.metadata.labels?.get("kubernetes.io/service-name")? == "kubernetes"
            && slice.endpoints.as_ref()?.first()?.addresses == ["127.0.0.1"]
            && slice.ports?.first()?.port == Some(port);
        (svc_ok && ep_ok && slice_ok).then_some(())
    };
    assert!(
        eventually(T, in_place).await.is_some(),
        "the kubernetes Service, Endpoints or EndpointSlice is missing or wrong"
    );
    // The default ServiceCIDR is the service range, Ready.
    let cidr = eventually(T, || async {
        let out = c.kubectl(&["get", "servicecidr", "kubernetes", "-o", "json"]);
        let v: serde_json::Value = serde_json::from_str(&out.stdout).ok()?;
        v["status"]["conditions"].is_array().then_some(v)
    })
    .await
    .expect("the default ServiceCIDR with its status");
    assert_eq!(cidr["spec"]["cidrs"], serde_json::json!(["10.96.0.0/12"]));
    assert_eq!(cidr["status"]["conditions"][0]["type"], "Ready");
    assert_eq!(cidr["status"]["conditions"][0]["status"], "True");
    let out = c.kubectl(&["get", "service", "kubernetes", "-n", "default"]);
    assert!(
        out.stdout.contains("10.96.0.1"),
        "{}{}",
        out.stdout,
        out.stderr
    );

    // Deleted or changed, they are repaired (the apiserver looks every 10 s;
    // the endpoint controllers, running, leave the selector-less Service
    // alone).
    // (The Endpoints go first: once the Service is gone the endpoints
    // controller deletes them too, as upstream's.)
    endpoints
        .delete("kubernetes", &DeleteParams::default())
        .await
        .expect("delete ep");
    services
        .delete("kubernetes", &DeleteParams::default())
        .await
        .expect("delete svc");
    slices
        .patch(
            "kubernetes",
            &PatchParams::default(),
            &Patch::Merge(json!({"ports": [{"name": "https", "port": 1, "protocol": "TCP"}]})),
        )
        .await
        .expect("patch slice");
    assert!(
        eventually(T, in_place).await.is_some(),
        "the kubernetes Service, Endpoints or EndpointSlice was not repaired"
    );
}

async fn pods_of(pods: &Api<Pod>, selector: &str) -> Vec<Pod> {
    pods.list(&ListParams::default().labels(selector))
        .await
        .map(|l| {
            l.items
                .into_iter()
                .filter(|p| p.metadata.deletion_timestamp.is_none())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replication_controllers_pod_templates_and_bindings_with_the_real_kubectl() {
    let c = ControlPlane::start().await;
    let _cm = ControllerManager::start(
        &c.url,
        &["replicationcontroller", "garbagecollector"],
        |_| {},
    )
    .await;
    let ns = c.namespace("rc");
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), &ns);

    // An RC of 3 (its selector defaulted from the template) gets 3 pods it
    // controls.
    c.apply(&json!({
        "apiVersion": "v1", "kind": "ReplicationController",
        "metadata": {"name": "web", "namespace": ns},
        "spec": {"replicas": 3, "template": {
            "metadata": {"labels": {"app": "rc-web"}},
            "spec": {"containers": [{"name": "c", "image": "busybox:1.36"}]}}}
    }));
    let three = eventually(T, || async {
        let p = pods_of(&pods, "app=rc-web").await;
        (p.len() == 3).then_some(p)
    })
    .await
    .expect("3 pods");
    for p in &three {
        let r = &p.metadata.owner_references.as_ref().expect("owner")[0];
        assert_eq!(
            (r.kind.as_str(), r.controller),
            ("ReplicationController", Some(true))
        );
    }
    let status_seen = eventually(T, || async {
        let out = c.kubectl(&["get", "rc", "web", "-n", &ns]);
        let line = out.stdout.lines().nth(1)?.to_string();
        let cells: Vec<&str> = line.split_whitespace().collect();
        (cells.get(..3) == Some(&["web", "3", "3"][..])).then_some(out.stdout)
    })
    .await
    .expect("kubectl get rc shows 3 desired, 3 current");
    assert!(status_seen.starts_with("NAME"), "{status_seen}");
    let wide = c.kubectl(&["get", "rc", "web", "-n", &ns, "-o", "wide"]);
    assert!(wide.stdout.contains("app=rc-web"), "{}", wide.stdout);

    // kubectl scale goes through /scale; the controller deletes two.
    let out = c.kubectl(&["scale", "rc", "web", "-n", &ns, "--replicas=1"]);
    assert!(out.success, "{}{}", out.stdout, out.stderr);
    assert!(
        eventually(T, || async {
            (pods_of(&pods, "app=rc-web").await.len() == 1).then_some(())
        })
        .await
        .is_some(),
        "scaled to 1"
    );

    // Deleting the RC deletes its pods (the garbage collector).
    let out = c.kubectl(&["delete", "rc", "web", "-n", &ns]);
    assert!(out.success, "{}{}", out.stdout, out.stderr);
    let gone = eventually(T, || async {
        let all = pods
            .list(&ListParams::default().labels("app=rc-web"))
            .await
            .ok()?;
        all.items.is_empty().then_some(())
    })
    .await;
    assert!(gone.is_some(), "the RC's pods were not garbage collected");

    // PodTemplates are stored, validated and printed.
    c.apply(&json!({
        "apiVersion": "v1", "kind": "PodTemplate",
        "metadata": {"name": "tmpl", "namespace": ns},
        "template": {"metadata": {"labels": {"app": "t"}},
                     "spec": {"containers": [{"name": "c", "image": "busybox:1.36"}]}}
    }));
    let out = c.kubectl(&["get", "podtemplates", "-n", &ns]);
    let header: Vec<&str> = out
        .stdout
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    assert_eq!(
        header,
        ["NAME", "CONTAINERS", "IMAGES", "POD", "LABELS"],
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("busybox:1.36") && out.stdout.contains("app=t"));
    let http = c.api.http();
    let bad = http
        .post(
            &format!("/api/v1/namespaces/{ns}/podtemplates"),
            &json!({"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": "bad"},
                    "template": {"spec": {"containers": []}}}),
        )
        .await
        .expect("post");
    assert_eq!(bad.status, 422, "{}", bad.body);
    assert!(
        bad.body.to_string().contains("template.spec.containers"),
        "{}",
        bad.body
    );

    // POST a Binding to `bindings`: the named pod is bound, as through
    // pods/binding; `bindings` serves nothing else.
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "lonely"},
        "spec": {"containers": [{"name": "c", "image": "busybox:1.36"}]}
    }))
    .expect("pod");
    pods.create(&PostParams::default(), &pod)
        .await
        .expect("pod");
    let bound = http
        .post(
            &format!("/api/v1/namespaces/{ns}/bindings"),
            &json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "lonely"},
                    "target": {"apiVersion": "v1", "kind": "Node", "name": "node-a"}}),
        )
        .await
        .expect("post binding");
    assert_eq!(bound.status, 201, "{}", bound.body);
    let pod = pods.get("lonely").await.expect("pod");
    assert_eq!(
        pod.spec.and_then(|s| s.node_name).as_deref(),
        Some("node-a")
    );
    let again = http
        .post(
            &format!("/api/v1/namespaces/{ns}/bindings"),
            &json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "lonely"},
                    "target": {"name": "node-b"}}),
        )
        .await
        .expect("post binding");
    assert_eq!(again.status, 409, "{}", again.body);
    let list = http
        .get(&format!("/api/v1/namespaces/{ns}/bindings"))
        .await
        .expect("get");
    assert_eq!(list.status, 405, "{}", list.body);
}
