//! ValidatingAdmissionPolicies against a real etcd and apiserver: a policy
//! bound with `Deny` refuses what its CEL validation rejects (only where
//! the binding's selectors say), `Warn` lets it through with a warning the
//! real kubectl prints, and parameters and variables feed the expressions.
//! MutatingAdmissionPolicies change what the real kubectl creates: an apply
//! configuration (typed `Object{...}` literals) and a JSON patch, only in
//! the namespaces their binding selects, and a failing expression refuses
//! the request unless the policy says `Ignore`.

use std::time::Duration;

use serde_json::{json, Value};
use tests::harness::{eventually, kubectl, ApiServer, Etcd, Http};

const POLICIES: &str = "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies";
const BINDINGS: &str = "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings";

async fn cluster() -> (Etcd, ApiServer, Http) {
    let etcd = Etcd::start().await.expect("etcd");
    let api = ApiServer::start(&etcd).await.expect("apiserver");
    let http = api.http();
    for (ns, labels) in [("checked", json!({"policy": "on"})), ("free", json!({}))] {
        let r = http
            .post(
                "/api/v1/namespaces",
                &json!({"apiVersion": "v1", "kind": "Namespace",
                        "metadata": {"name": ns, "labels": labels}}),
            )
            .await
            .unwrap();
        assert_eq!(r.status, 201, "{}", r.body);
    }
    (etcd, api, http)
}

fn configmap(name: &str, data: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data})
}

fn policy(name: &str, spec: Value) -> Value {
    json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
           "metadata": {"name": name}, "spec": spec})
}

fn binding(name: &str, policy: &str, actions: &[&str], extra: Value) -> Value {
    let mut spec = json!({"policyName": policy, "validationActions": actions,
        "matchResources": {"namespaceSelector": {"matchLabels": {"policy": "on"}}}});
    if let (Some(s), Some(e)) = (spec.as_object_mut(), extra.as_object()) {
        s.extend(e.clone());
    }
    json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicyBinding",
           "metadata": {"name": name}, "spec": spec})
}

fn configmap_constraints() -> Value {
    json!({"resourceRules": [{"operations": ["CREATE", "UPDATE"], "apiGroups": [""],
                              "apiVersions": ["v1"], "resources": ["configmaps"]}]})
}

/// Creates ConfigMaps in `ns` until one gets `status`; returns that answer.
async fn until_status(http: &Http, ns: &str, status: u16, data: Value) -> Value {
    let tries = std::sync::atomic::AtomicUsize::new(0);
    eventually(Duration::from_secs(15), || {
        let i = tries.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let data = data.clone();
        async move {
            let r = http
                .post(
                    &format!("/api/v1/namespaces/{ns}/configmaps"),
                    &configmap(&format!("try-{i}"), data),
                )
                .await
                .ok()?;
            (r.status == status).then_some(r.body)
        }
    })
    .await
    .unwrap_or_else(|| panic!("never got {status} in {ns}"))
}

#[tokio::test]
async fn a_denying_binding_refuses_what_its_policy_rejects() {
    let (_etcd, api, http) = cluster().await;
    let p = policy(
        "no-forbidden",
        json!({"matchConstraints": configmap_constraints(),
               "validations": [
                   {"expression": "!has(object.data) || !('forbidden' in object.data)",
                    "message": "no forbidden key"},
                   {"expression": "!has(object.data) || !('secret' in object.data)",
                    "reason": "Forbidden"}]}),
    );
    assert_eq!(http.post(POLICIES, &p).await.unwrap().status, 201);
    let b = binding("no-forbidden-binding", "no-forbidden", &["Deny"], json!({}));
    assert_eq!(http.post(BINDINGS, &b).await.unwrap().status, 201);

    let denied = until_status(&http, "checked", 422, json!({"forbidden": "x"})).await;
    let message = denied["message"].as_str().unwrap();
    assert!(
        message.ends_with(
            "is forbidden: ValidatingAdmissionPolicy 'no-forbidden' with binding 'no-forbidden-binding' denied request: no forbidden key"
        ),
        "{message}"
    );
    assert!(message.starts_with("configmaps \"try-"), "{message}");
    assert_eq!(denied["reason"], "Invalid");
    // A validation without a message names its expression; its reason sets
    // the code.
    let r = http
        .post(
            "/api/v1/namespaces/checked/configmaps",
            &configmap("secretive", json!({"secret": "x"})),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(
        r.body["message"],
        "configmaps \"secretive\" is forbidden: ValidatingAdmissionPolicy 'no-forbidden' with binding 'no-forbidden-binding' denied request: failed expression: !has(object.data) || !('secret' in object.data)"
    );
    // Allowed objects, and objects outside the binding's namespaces, pass.
    let r = http
        .post(
            "/api/v1/namespaces/checked/configmaps",
            &configmap("fine", json!({"a": "b"})),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 201, "{}", r.body);
    let r = http
        .post(
            "/api/v1/namespaces/free/configmaps",
            &configmap("elsewhere", json!({"forbidden": "x"})),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 201, "{}", r.body);
    // Updates are checked too; the real kubectl prints the denial.
    let out = tokio::task::spawn_blocking({
        let url = api.url.clone();
        move || {
            kubectl(
                &url,
                &[
                    "-n",
                    "checked",
                    "patch",
                    "configmap",
                    "fine",
                    "-p",
                    r#"{"data":{"forbidden":"y"}}"#,
                ],
            )
            .expect("kubectl")
        }
    })
    .await
    .unwrap();
    assert!(!out.success);
    assert!(
        out.stderr.contains(
            "configmaps \"fine\" is forbidden: ValidatingAdmissionPolicy 'no-forbidden' with binding 'no-forbidden-binding' denied request: no forbidden key"
        ),
        "{}",
        out.stderr
    );
}

#[tokio::test]
async fn a_warning_binding_lets_through_with_a_warning() {
    let (_etcd, api, http) = cluster().await;
    let p = policy(
        "small",
        json!({"matchConstraints": configmap_constraints(),
               "validations": [{"expression": "!has(object.data) || size(object.data) < 2",
                                "message": "keep it small"}]}),
    );
    assert_eq!(http.post(POLICIES, &p).await.unwrap().status, 201);
    let b = binding("small-warn", "small", &["Warn"], json!({}));
    assert_eq!(http.post(BINDINGS, &b).await.unwrap().status, 201);
    // Give the binding time to arrive, then check what kubectl prints.
    let out = eventually(Duration::from_secs(15), || {
        let url = api.url.clone();
        async move {
            let name = tests::harness::unique("big");
            let out = tokio::task::spawn_blocking(move || {
                kubectl(
                    &url,
                    &[
                        "-n",
                        "checked",
                        "create",
                        "configmap",
                        &name,
                        "--from-literal=a=1",
                        "--from-literal=b=2",
                    ],
                )
                .expect("kubectl")
            })
            .await
            .ok()?;
            (out.success && out.stderr.contains("Warning:")).then_some(out)
        }
    })
    .await
    .expect("a warning");
    assert!(
        out.stderr.contains(
            "Warning: Validation failed for ValidatingAdmissionPolicy 'small' with binding 'small-warn': keep it small"
        ),
        "{}",
        out.stderr
    );
}

#[tokio::test]
async fn parameters_and_variables_feed_the_expressions() {
    let (_etcd, _api, http) = cluster().await;
    let r = http
        .post(
            "/api/v1/namespaces/free/configmaps",
            &configmap("limits", json!({"max": "2"})),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 201, "{}", r.body);
    let p = policy(
        "max-keys",
        json!({"matchConstraints": configmap_constraints(),
               "paramKind": {"apiVersion": "v1", "kind": "ConfigMap"},
               "variables": [{"name": "count", "expression": "has(object.data) ? size(object.data) : 0"}],
               "validations": [{"expression": "variables.count <= int(params.data.max)",
                                "messageExpression": "'too many keys: ' + string(variables.count)"}]}),
    );
    assert_eq!(http.post(POLICIES, &p).await.unwrap().status, 201);
    let b = binding(
        "max-keys-binding",
        "max-keys",
        &["Deny"],
        json!({"paramRef": {"name": "limits", "namespace": "free",
                            "parameterNotFoundAction": "Deny"}}),
    );
    assert_eq!(http.post(BINDINGS, &b).await.unwrap().status, 201);
    let denied = until_status(&http, "checked", 422, json!({"a": "1", "b": "2", "c": "3"})).await;
    assert!(
        denied["message"]
            .as_str()
            .unwrap()
            .ends_with("denied request: too many keys: 3"),
        "{denied}"
    );
    until_status(&http, "checked", 201, json!({"a": "1", "b": "2"})).await;

    // The parameters go away: `Deny` when none are found.
    let r = http
        .delete("/api/v1/namespaces/free/configmaps/limits", None)
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    let denied = until_status(&http, "checked", 422, json!({"a": "1"})).await;
    assert!(
        denied["message"]
            .as_str()
            .unwrap()
            .ends_with("denied request: no params found for policy binding with `Deny` parameterNotFoundAction"),
        "{denied}"
    );
}

const MUTATING_POLICIES: &str = "/apis/admissionregistration.k8s.io/v1/mutatingadmissionpolicies";
const MUTATING_BINDINGS: &str =
    "/apis/admissionregistration.k8s.io/v1/mutatingadmissionpolicybindings";

#[tokio::test]
async fn mutating_policies_change_what_kubectl_creates() {
    let (_etcd, api, http) = cluster().await;
    let deployments = json!({"resourceRules": [{"operations": ["CREATE", "UPDATE"],
        "apiGroups": ["apps"], "apiVersions": ["v1"], "resources": ["deployments"]}]});
    let policy = json!({"apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "MutatingAdmissionPolicy", "metadata": {"name": "scale-and-mark"},
        "spec": {"matchConstraints": deployments, "reinvocationPolicy": "Never",
            "variables": [{"name": "owner", "expression": "'team-' + object.metadata.name"}],
            "mutations": [
                {"patchType": "ApplyConfiguration", "applyConfiguration": {"expression":
                    "Object{spec: Object.spec{replicas: 3}, metadata: Object.metadata{annotations: {'owner': variables.owner}}}"}},
                {"patchType": "JSONPatch", "jsonPatch": {"expression":
                    "[JSONPatch{op: 'add', path: '/metadata/labels/' + jsonpatch.escapeKey('example.com/mutated'), value: 'yes'}]"}}]}});
    let r = http.post(MUTATING_POLICIES, &policy).await.expect("policy");
    assert_eq!(r.status, 201, "{}", r.body);
    let binding = json!({"apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "MutatingAdmissionPolicyBinding", "metadata": {"name": "scale-and-mark"},
        "spec": {"policyName": "scale-and-mark",
            "matchResources": {"namespaceSelector": {"matchLabels": {"policy": "on"}}}}});
    let r = http
        .post(MUTATING_BINDINGS, &binding)
        .await
        .expect("binding");
    assert_eq!(r.status, 201, "{}", r.body);

    // The real kubectl's create (protobuf) comes back mutated, once the
    // policy and binding are seen.
    let k = |args: &[&str]| kubectl(&api.url, args).expect("kubectl runs");
    let created = eventually(Duration::from_secs(10), || async {
        let name = format!("web{}", rand_suffix());
        let out = k(&[
            "-n",
            "checked",
            "create",
            "deployment",
            &name,
            "--image=busybox",
            "-o",
            "json",
        ]);
        let d: Value = serde_json::from_str(&out.stdout).ok()?;
        (d["spec"]["replicas"] == 3).then_some(d)
    })
    .await
    .expect("a mutated Deployment");
    let name = created["metadata"]["name"].as_str().unwrap_or_default();
    assert_eq!(
        created["metadata"]["annotations"]["owner"],
        format!("team-{name}")
    );
    assert_eq!(created["metadata"]["labels"]["example.com/mutated"], "yes");
    assert_eq!(
        created["metadata"]["labels"]["app"], name,
        "kept: {created}"
    );
    // Not in a namespace the binding does not select.
    let free = k(&[
        "-n",
        "free",
        "create",
        "deployment",
        "web",
        "--image=busybox",
        "-o",
        "json",
    ]);
    let d: Value = serde_json::from_str(&free.stdout).expect("json");
    assert_eq!(d["spec"]["replicas"], 1, "{d}");

    // A mutation that fails refuses the request (failurePolicy Fail).
    let mut broken = policy.clone();
    broken["metadata"]["name"] = json!("broken");
    broken["spec"]["mutations"] = json!([{"patchType": "JSONPatch", "jsonPatch":
        {"expression": "[JSONPatch{op: 'replace', path: '/spec/nothing/here', value: 1}]"}}]);
    let r = http.post(MUTATING_POLICIES, &broken).await.expect("policy");
    assert_eq!(r.status, 201, "{}", r.body);
    let mut b = binding.clone();
    b["metadata"]["name"] = json!("broken");
    b["spec"]["policyName"] = json!("broken");
    let r = http.post(MUTATING_BINDINGS, &b).await.expect("binding");
    assert_eq!(r.status, 201, "{}", r.body);
    let refused = eventually(Duration::from_secs(10), || async {
        let out = k(&[
            "-n",
            "checked",
            "create",
            "deployment",
            &format!("x{}", rand_suffix()),
            "--image=busybox",
        ]);
        (!out.success).then_some(out)
    })
    .await
    .expect("refused");
    assert!(
        refused
            .stderr
            .contains("policy 'broken' with binding 'broken' denied request"),
        "{refused:?}"
    );
}

fn rand_suffix() -> String {
    format!(
        "{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0)
    )
}
