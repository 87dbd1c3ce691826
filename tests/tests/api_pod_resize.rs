//! `pods/resize` through the real apiserver on a real etcd: discovery lists
//! it, a patch or an update through it changes only the containers'
//! resources (and bumps the generation), the main resource refuses the same
//! change, and refused resizes carry upstream's messages. The real
//! `/usr/bin/kubectl patch --subresource resize` drives it as a user would.
//! No kubelet runs here (the lab test in `e2e_workloads.rs` resizes running
//! containers).

use serde_json::{json, Value};
use tests::harness::{kubectl, ApiServer, Etcd};

fn pod(name: &str, resources: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
        "spec": {"containers": [{"name": "c", "image": "busybox:1.36", "resources": resources}]}})
}

fn causes(body: &Value) -> Vec<String> {
    body["details"]["causes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            format!(
                "{}: {}",
                c["field"].as_str().unwrap_or(""),
                c["message"].as_str().unwrap_or("")
            )
        })
        .collect()
}

#[tokio::test]
async fn resize_changes_only_resources_with_upstreams_rules() {
    let etcd = Etcd::start().await.expect("etcd");
    let api = ApiServer::start(&etcd).await.expect("apiserver");
    let http = api.http();
    let base = "/api/v1/namespaces/default/pods";

    // Discovery lists the subresource with its verbs.
    let d = http.get("/api/v1").await.expect("discovery");
    let resize = d.body["resources"]
        .as_array()
        .and_then(|rs| rs.iter().find(|r| r["name"] == "pods/resize"))
        .cloned()
        .expect("pods/resize in discovery");
    assert_eq!(resize["verbs"], json!(["get", "patch", "update"]));

    // resizePolicy is validated on create.
    let mut bad = pod("bad", json!({}));
    bad["spec"]["restartPolicy"] = json!("Never");
    bad["spec"]["containers"][0]["resizePolicy"] =
        json!([{"resourceName": "cpu", "restartPolicy": "RestartContainer"}]);
    let r = http.post(base, &bad).await.expect("create");
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(
        causes(&r.body),
        ["spec.containers[0].resizePolicy: Invalid value: \"RestartContainer\": must be 'NotRequired' when pod `restartPolicy` is 'Never'"]
    );

    let r = http
        .post(
            base,
            &pod(
                "p",
                json!({"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"memory": "128Mi"}}),
            ),
        )
        .await
        .expect("create");
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["metadata"]["generation"], 1);
    // Not defaulted (upstream no longer defaults resizePolicy).
    assert!(r.body["spec"]["containers"][0]
        .get("resizePolicy")
        .is_none());

    // The main resource refuses a change of resources.
    let r = http
        .patch(
            &format!("{base}/p"),
            "application/strategic-merge-patch+json",
            &json!({"spec": {"containers": [{"name": "c", "resources": {"requests": {"cpu": "200m"}}}]}}),
        )
        .await
        .expect("patch");
    assert_eq!(r.status, 422, "{}", r.body);

    // Through pods/resize the resources change, the image does not, and
    // the generation goes up.
    let r = http
        .patch(
            &format!("{base}/p/resize"),
            "application/strategic-merge-patch+json",
            &json!({"metadata": {"labels": {"x": "y"}}, "spec": {"containers": [{"name": "c", "image": "other:1",
                "resources": {"requests": {"cpu": "200m"}}}]}}),
        )
        .await
        .expect("resize");
    assert_eq!(r.status, 200, "{}", r.body);
    let c = &r.body["spec"]["containers"][0];
    assert_eq!(c["resources"]["requests"]["cpu"], "200m");
    assert_eq!(c["resources"]["requests"]["memory"], "64Mi");
    assert_eq!(c["image"], "busybox:1.36");
    assert!(r.body["metadata"].get("labels").is_none(), "{}", r.body);
    assert_eq!(r.body["metadata"]["generation"], 2);
    assert_eq!(r.body["status"]["qosClass"], "Burstable");

    // GET through the subresource is the pod.
    let via = http.get(&format!("{base}/p/resize")).await.expect("get");
    let main = http.get(&format!("{base}/p")).await.expect("get");
    assert_eq!(via.status, 200);
    assert_eq!(via.body, main.body);

    // Replace through the subresource (what `UpdateResize` sends).
    let mut replaced = main.body.clone();
    replaced["spec"]["containers"][0]["resources"]["requests"]["memory"] = json!("96Mi");
    let r = http
        .put(&format!("{base}/p/resize"), &replaced)
        .await
        .expect("put");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body["spec"]["containers"][0]["resources"]["requests"]["memory"],
        "96Mi"
    );
    assert_eq!(r.body["metadata"]["generation"], 3);

    // Refused: removing a request, another resource, a QoS change.
    let refused = [
        (
            json!([{"op": "remove", "path": "/spec/containers/0/resources/requests/cpu"}]),
            "spec.containers[0].resources.requests: Forbidden: resource requests cannot be removed",
        ),
        (
            json!([{"op": "add", "path": "/spec/containers/0/resources/requests/ephemeral-storage", "value": "1Gi"}]),
            "spec: Forbidden: only cpu and memory resources are mutable",
        ),
        (
            json!([{"op": "replace", "path": "/spec/containers/0/resources",
                "value": {"requests": {"cpu": "1", "memory": "128Mi"}, "limits": {"cpu": "1", "memory": "128Mi"}}}]),
            "spec: Invalid value: \"Burstable\": Pod QOS Class may not change as a result of resizing",
        ),
    ];
    for (patch, want) in refused {
        let r = http
            .patch(
                &format!("{base}/p/resize"),
                "application/json-patch+json",
                &patch,
            )
            .await
            .expect("resize");
        assert_eq!(r.status, 422, "{}", r.body);
        assert_eq!(causes(&r.body), [want], "{patch}");
    }

    // A memory limit may go down (NotRequired policy).
    let resize = |extra: &[&str]| {
        let mut args = vec!["patch", "pod", "p", "--subresource", "resize"];
        args.extend_from_slice(extra);
        kubectl(&api.url, &args).expect("kubectl")
    };
    let out = resize(&[
        "--patch",
        r#"{"spec":{"containers":[{"name":"c","resources":{"limits":{"memory":"100Mi"}}}]}}"#,
    ]);
    assert!(out.success, "{}", out.stderr);
    assert!(out.stdout.contains("pod/p patched"), "{}", out.stdout);
    let got = http.get(&format!("{base}/p")).await.expect("get");
    assert_eq!(
        got.body["spec"]["containers"][0]["resources"]["limits"]["memory"],
        "100Mi"
    );
    assert_eq!(got.body["metadata"]["generation"], 4);

    // kubectl shows upstream's refusal.
    let out = resize(&[
        "--type",
        "json",
        "--patch",
        r#"[{"op":"remove","path":"/spec/containers/0/resources/limits"}]"#,
    ]);
    assert!(!out.success);
    assert!(
        out.stderr.contains(
            "spec.containers[0].resources.limits: Forbidden: resource limits cannot be removed"
        ),
        "{}",
        out.stderr
    );
}
