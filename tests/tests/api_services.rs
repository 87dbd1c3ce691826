//! Services through their life: cluster IPs and node ports are taken,
//! kept across updates that leave them out, and given back when the type
//! changes or the Service goes, as upstream's allocators do.

use serde_json::{json, Value};

use tests::harness::{ApiServer, Etcd, Http};

const BASE: &str = "/api/v1/namespaces/default/services";

fn service(name: &str, spec: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name}, "spec": spec})
}

async fn merge(http: &Http, name: &str, patch: Value) -> tests::harness::Reply {
    http.patch(
        &format!("{BASE}/{name}"),
        "application/merge-patch+json",
        &patch,
    )
    .await
    .expect("patch")
}

/// etcd and an apiserver whose node ports come from `range`.
async fn start(range: &str) -> (Etcd, ApiServer) {
    let etcd = Etcd::start().await.expect("etcd");
    let api = ApiServer::start_with(&etcd, &["--service-node-port-range", range])
        .await
        .expect("apiserver");
    (etcd, api)
}

fn node_port(svc: &Value) -> Option<i64> {
    svc["spec"]["ports"][0]["nodePort"].as_i64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_ports_and_cluster_ips_follow_the_service_type() {
    let (_etcd, api) = start("30100-30102").await;
    let http = api.http();
    let ports = json!([{"port": 80, "targetPort": 8080}]);

    // A NodePort Service without a nodePort gets one from the range.
    let r = http
        .post(
            BASE,
            &service(
                "web",
                json!({"type": "NodePort", "selector": {"app": "web"}, "ports": ports}),
            ),
        )
        .await
        .expect("create");
    assert_eq!(r.status, 201, "{}", r.body);
    let web_port = node_port(&r.body).expect("a node port");
    assert!((30100..=30102).contains(&web_port), "{web_port}");

    // Asking for a taken port, or one outside the range, is a 422 naming it.
    let taken = json!([{"port": 80, "nodePort": web_port}]);
    let r = http
        .post(
            BASE,
            &service("copy", json!({"type": "NodePort", "ports": taken})),
        )
        .await
        .expect("create");
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(
        r.body["details"]["causes"][0]["field"],
        "spec.ports[0].nodePort"
    );
    assert!(
        r.body["message"]
            .as_str()
            .unwrap_or("")
            .contains("already allocated"),
        "{}",
        r.body
    );
    let r = http
        .post(
            BASE,
            &service(
                "far",
                json!({"type": "NodePort", "ports": [{"port": 80, "nodePort": 31000}]}),
            ),
        )
        .await
        .expect("create");
    assert_eq!(r.status, 422, "{}", r.body);

    // A replace that leaves out the cluster IP and node port keeps both.
    let current = http.get(&format!("{BASE}/web")).await.expect("get").body;
    let ip = current["spec"]["clusterIP"]
        .as_str()
        .expect("cluster IP")
        .to_string();
    let mut replaced = service(
        "web",
        json!({"type": "NodePort", "selector": {"app": "web"}, "ports": ports}),
    );
    replaced["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"].clone();
    let r = http
        .put(&format!("{BASE}/web"), &replaced)
        .await
        .expect("replace");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["spec"]["clusterIP"], ip.as_str());
    assert_eq!(node_port(&r.body), Some(web_port));

    // NodePort -> ClusterIP: the node port goes back to the range.
    let r = merge(&http, "web", json!({"spec": {"type": "ClusterIP"}})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(node_port(&r.body), None, "{}", r.body);
    let r = http
        .post(
            BASE,
            &service("reuse", json!({"type": "NodePort", "ports": taken})),
        )
        .await
        .expect("create");
    assert_eq!(r.status, 201, "the released port is free again: {}", r.body);

    // ClusterIP -> ExternalName: no cluster IP, and the IP is free again.
    let r = merge(
        &http,
        "web",
        json!({"spec": {"type": "ExternalName", "externalName": "example.com"}}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["spec"].get("clusterIP"), None, "{}", r.body);
    let r = http
        .post(
            BASE,
            &service("same-ip", json!({"clusterIP": ip, "ports": [{"port": 80}]})),
        )
        .await
        .expect("create");
    assert_eq!(r.status, 201, "the released IP is free again: {}", r.body);

    // ExternalName -> ClusterIP: a new cluster IP.
    let r = merge(
        &http,
        "web",
        json!({"spec": {"type": "ClusterIP", "externalName": null}}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.body["spec"]["clusterIP"]
            .as_str()
            .is_some_and(|s| !s.is_empty()),
        "{}",
        r.body
    );

    // Deleting a NodePort Service frees its port: the range has 3 ports.
    let r = http
        .delete(&format!("{BASE}/reuse"), None)
        .await
        .expect("delete");
    assert_eq!(r.status, 200, "{}", r.body);
    for name in ["a", "b", "c"] {
        let r = http
            .post(
                BASE,
                &service(name, json!({"type": "NodePort", "ports": [{"port": 80}]})),
            )
            .await
            .expect("create");
        assert_eq!(r.status, 201, "{name}: {}", r.body);
    }
    let r = http
        .post(
            BASE,
            &service("d", json!({"type": "NodePort", "ports": [{"port": 80}]})),
        )
        .await
        .expect("create");
    assert_ne!(
        r.status, 201,
        "a fourth port from a range of three: {}",
        r.body
    );
}

/// client-go sends a Service port's unset fields as their zero values
/// (`targetPort: 0`, `protocol: ""`); the apiserver defaults them as unset,
/// or every EndpointSlice, proxy rule and SRV record would point at port 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zero_value_ports_from_go_clients_are_defaulted() {
    let etcd = Etcd::start().await.expect("etcd");
    let api = ApiServer::start(&etcd).await.expect("apiserver");
    let http = api.http();
    let ports = json!([{"name": "http", "port": 80, "targetPort": 0, "protocol": ""}]);
    for (name, cluster_ip) in [("plain", None), ("headless", Some("None"))] {
        let mut spec = json!({"selector": {"app": "x"}, "ports": ports});
        if let Some(ip) = cluster_ip {
            spec["clusterIP"] = json!(ip);
        }
        let r = http.post(BASE, &service(name, spec)).await.expect("create");
        assert_eq!(r.status, 201, "{}", r.body);
        assert_eq!(r.body["spec"]["ports"][0]["targetPort"], 80, "{}", r.body);
        assert_eq!(r.body["spec"]["ports"][0]["protocol"], "TCP", "{}", r.body);
    }
}

/// A LoadBalancer Service with `externalTrafficPolicy: Local` gets a
/// `healthCheckNodePort` from the node port range, keeps it across updates
/// that leave it out, and gives it back when the policy becomes Cluster (the
/// port is then free for another Service).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_load_balancer_gets_a_health_check_node_port() {
    // Two ports: one for the Service's port, one for its health checks.
    let (_etcd, api) = start("30200-30201").await;
    let http = api.http();
    let ports = json!([{"port": 80, "targetPort": 8080}]);
    let r = http
        .post(
            BASE,
            &service(
                "lb",
                json!({"type": "LoadBalancer", "externalTrafficPolicy": "Local", "ports": ports}),
            ),
        )
        .await
        .expect("create");
    assert_eq!(r.status, 201, "{}", r.body);
    let hc = r.body["spec"]["healthCheckNodePort"]
        .as_i64()
        .expect("a health check port");
    let np = node_port(&r.body).expect("a node port");
    assert!((30200..=30201).contains(&hc) && hc != np, "{hc} {np}");
    // The range is used up now.
    let r = http
        .post(
            BASE,
            &service("other", json!({"type": "NodePort", "ports": ports})),
        )
        .await
        .expect("create");
    assert_ne!(r.status, 201, "{}", r.body);
    // An update that leaves the port out keeps it.
    let r = merge(&http, "lb", json!({"metadata": {"labels": {"a": "b"}}})).await;
    assert_eq!(r.body["spec"]["healthCheckNodePort"], hc, "{}", r.body);
    // Cluster policy: the port goes, and is free again.
    let r = merge(
        &http,
        "lb",
        json!({"spec": {"externalTrafficPolicy": "Cluster"}}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.body["spec"].get("healthCheckNodePort").is_none(),
        "{}",
        r.body
    );
    let r = http
        .post(
            BASE,
            &service("other", json!({"type": "NodePort", "ports": ports})),
        )
        .await
        .expect("create");
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(node_port(&r.body), Some(hc));
}
