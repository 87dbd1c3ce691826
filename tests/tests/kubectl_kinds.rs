//! The built-in API as the real kubectl sees it, against one apiserver:
//!
//! - `kubectl api-resources -o wide` against upstream v1.36's list
//!   (`tests/data/api-resources-v1.36.txt`): every resource we serve is
//!   upstream's to the verb, short name and category, and the upstream ones
//!   we lack are exactly the documented ones;
//! - every kind of `tests/data/builtin_kinds.yaml` through apply (seen by a
//!   watch), list (with upstream's columns), patch, delete and get, and an
//!   invalid object refused with a 422 naming the field; the spec/status
//!   split, CSR approval, `kubectl explain`, strict field validation and
//!   server-side apply on some of them;
//! - the reviews (create-only, answered from the AlwaysAllow authorizer:
//!   `kubectl auth can-i`, `kubectl auth whoami`), other verbs on them a 405;
//!   ComponentStatus computed on read (`kubectl get cs`).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};
use tests::harness::{kubectl_cached, ApiServer, Etcd, Http, KubectlOutput};

/// Upstream resources we do not serve, each with why (also in
/// docs/apiserver.md): none now; the list stays so a deliberate gap is
/// written down here rather than loosening the comparison.
const NOT_SERVED_HERE: &[(&str, &str)] = &[];

/// Resources we serve that upstream's apiserver alone does not: the
/// resource metrics API, which metrics-server adds upstream (behind an
/// APIService) and the apiserver serves itself here; rows as `kubectl
/// api-resources -o wide` lists them with metrics-server installed.
const SERVED_BEYOND_UPSTREAM: &[[&str; 7]] = &[
    [
        "nodes",
        "",
        "metrics.k8s.io/v1beta1",
        "false",
        "NodeMetrics",
        "get,list",
        "",
    ],
    [
        "pods",
        "",
        "metrics.k8s.io/v1beta1",
        "true",
        "PodMetrics",
        "get,list",
        "",
    ],
];

/// One `kubectl api-resources -o wide` row, normalized: name, short names,
/// apiVersion, namespaced, kind, verbs, categories.
type Row = [String; 7];

fn data(file: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("data")
        .join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The recorded upstream list, keyed by `apiVersion/name`.
fn upstream() -> BTreeMap<String, Row> {
    data("api-resources-v1.36.txt")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let f: Vec<String> = l
                .split_whitespace()
                .map(|c| {
                    if c == "-" {
                        String::new()
                    } else {
                        c.to_string()
                    }
                })
                .collect();
            assert_eq!(f.len(), 7, "bad line {l:?}");
            let row: Row = [0, 1, 2, 3, 4, 5, 6].map(|i| f[i].clone());
            (format!("{}/{}", row[2], row[0]), row)
        })
        .collect()
}

/// Parses kubectl's table by the header's column offsets (cells may be
/// empty, so splitting on blanks would shift them).
fn served(table: &str) -> BTreeMap<String, Row> {
    let mut lines = table.lines();
    let header = lines.next().expect("header");
    let names = [
        "NAME",
        "SHORTNAMES",
        "APIVERSION",
        "NAMESPACED",
        "KIND",
        "VERBS",
        "CATEGORIES",
    ];
    let starts: Vec<usize> = names
        .iter()
        .map(|n| header.find(n).unwrap_or_else(|| panic!("{n} in {header}")))
        .collect();
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let cell = |i: usize| {
                let end = starts.get(i + 1).copied().unwrap_or(l.len()).min(l.len());
                l.get(starts[i].min(l.len())..end)
                    .unwrap_or("")
                    .trim()
                    .to_string()
            };
            let verbs = cell(5)
                .trim_matches(|c| c == '[' || c == ']')
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(",");
            let row: Row = [cell(0), cell(1), cell(2), cell(3), cell(4), verbs, cell(6)];
            (format!("{}/{}", row[2], row[0]), row)
        })
        .collect()
}

fn ok(out: KubectlOutput, what: &str) -> String {
    assert!(out.success, "{what}: {}\n{}", out.stderr, out.stdout);
    out.stdout
}

/// The URL of the collection an object of this apiVersion/kind goes to.
fn collection(obj: &Value) -> String {
    let api_version = obj["apiVersion"].as_str().unwrap_or("");
    let kind = obj["kind"].as_str().unwrap_or("");
    let r = apimachinery::resources::find_by_kind(api_version, kind)
        .unwrap_or_else(|| panic!("{api_version} {kind} is not served"));
    if r.namespaced {
        format!("{}/namespaces/kinds/{}", r.url_prefix(), r.plural)
    } else {
        format!("{}/{}", r.url_prefix(), r.plural)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn builtin_kinds_through_kubectl() {
    let etcd = Etcd::start().await.expect("etcd");
    let api = ApiServer::start(&etcd).await.expect("apiserver");
    let http = api.http();
    let cache = tempfile::tempdir().expect("cache dir");
    let k = |args: &[&str]| kubectl_cached(&api.url, cache.path(), args).expect("kubectl runs");

    api_resources_match_upstream(&ok(k(&["api-resources", "-o", "wide"]), "api-resources"));
    aggregated_discovery_matches_the_per_group_lists(&http).await;

    ok(k(&["create", "namespace", "kinds"]), "namespace");
    let dir = tempfile::tempdir().expect("dir");
    let cases: Vec<Value> = serde_yaml_ng::from_str(&data("builtin_kinds.yaml")).expect("cases");
    for case in &cases {
        stored_kind(&k, &http, dir.path(), case).await;
    }

    reviews(&k, &http).await;
    status_and_approval(&k, dir.path());
    openapi_and_apply(&k, dir.path());

    let out = ok(k(&["get", "componentstatuses"]), "get cs");
    let header: Vec<&str> = out
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    assert_eq!(header, ["NAME", "STATUS", "MESSAGE", "ERROR"], "{out}");
    let etcd_row = out.lines().find(|l| l.starts_with("etcd-0")).unwrap_or("");
    assert!(etcd_row.contains("Healthy"), "{out}");
    let cs = ok(k(&["get", "cs", "etcd-0", "-o", "json"]), "get cs/etcd-0");
    assert!(cs.contains("\"Healthy\""), "{cs}");
    let r = http
        .delete("/api/v1/componentstatuses/etcd-0", None)
        .await
        .expect("delete cs");
    assert_eq!(r.status, 405, "{}", r.body);
}

fn api_resources_match_upstream(table: &str) {
    let upstream = upstream();
    let ours = served(table);
    for (key, row) in &ours {
        if let Some(extra) = SERVED_BEYOND_UPSTREAM
            .iter()
            .find(|r| format!("{}/{}", r[2], r[0]) == *key)
        {
            assert_eq!(
                row,
                &extra.map(String::from),
                "{key}: ours (left) differs from metrics-server's"
            );
            continue;
        }
        let want = upstream
            .get(key)
            .unwrap_or_else(|| panic!("we serve {key}, which upstream v1.36 does not"));
        assert_eq!(row, want, "{key}: ours (left) differs from upstream");
    }
    let missing: Vec<&String> = upstream.keys().filter(|k| !ours.contains_key(*k)).collect();
    for key in &missing {
        assert!(
            NOT_SERVED_HERE.iter().any(|(k, _)| k == key),
            "upstream serves {key}, we do not, and no documented reason says why"
        );
    }
    assert!(ours.len() >= 63, "only {} resources served", ours.len());
}

async fn stored_kind<F>(k: &F, http: &Http, dir: &Path, case: &Value)
where
    F: Fn(&[&str]) -> KubectlOutput,
{
    let resource = case["resource"].as_str().expect("resource");
    let valid = &case["valid"];
    let name = valid["metadata"]["name"].as_str().expect("name");
    let file = dir.join(format!("{resource}.json"));
    std::fs::write(&file, valid.to_string()).expect("write");
    let file = file.display().to_string();

    let watch_path = format!("{}?watch=true", collection(valid));
    let mut watch = http.watch(&watch_path).await.expect("watch");
    assert_eq!(watch.status, 200, "watch {resource}");
    ok(
        k(&["apply", "-f", &file, "-n", "kinds"]),
        &format!("apply {resource}"),
    );
    // A watch without a resourceVersion first lists what exists as ADDED
    // events (the apiserver's own objects, such as the default ServiceCIDR):
    // the one applied here is among the events that follow.
    let event = loop {
        let event = watch.next(Duration::from_secs(10)).await.expect("an event");
        if event["type"] != "ADDED" || event["object"]["metadata"]["name"] == name {
            break event;
        }
    };
    assert_eq!(
        (&event["type"], &event["object"]["metadata"]["name"]),
        (&json!("ADDED"), &json!(name)),
        "{resource}: {event}"
    );

    // The list as a table: upstream's columns (the -o wide ones hidden) and
    // a row for the object.
    let out = ok(
        k(&["get", resource, "-n", "kinds"]),
        &format!("list {resource}"),
    );
    let mut lines = out.lines();
    let header = lines
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let want: Vec<&str> = case["columns"]
        .as_array()
        .expect("columns")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(header, want.join(" "), "{resource} columns");
    assert!(
        lines.any(|row| row.split_whitespace().next() == Some(name)),
        "{resource}: no row for {name} in\n{out}"
    );

    let patch = r#"{"metadata":{"labels":{"patched":"yes"}}}"#;
    let label = ok(
        k(&[
            "patch",
            resource,
            name,
            "-n",
            "kinds",
            "--type",
            "merge",
            "-p",
            patch,
            "-o",
            "jsonpath={.metadata.labels.patched}",
        ]),
        &format!("patch {resource}"),
    );
    assert_eq!(label, "yes", "{resource}");

    // The invalid object: kubectl reports the field, the API answers 422.
    let invalid = &case["invalid"];
    let field = case["field"].as_str().expect("field");
    let bad = dir.join(format!("{resource}-invalid.json"));
    std::fs::write(&bad, invalid.to_string()).expect("write");
    let out = k(&["apply", "-f", &bad.display().to_string(), "-n", "kinds"]);
    assert!(!out.success, "{resource}: the invalid object was accepted");
    assert!(
        out.stderr.contains("is invalid") && out.stderr.contains(field),
        "{resource}: {}",
        out.stderr
    );
    let r = http
        .post(&collection(invalid), invalid)
        .await
        .expect("post");
    assert_eq!(r.status, 422, "{resource}: {}", r.body);
    let causes: Vec<&str> = r.body["details"]["causes"]
        .as_array()
        .map(|c| c.iter().filter_map(|c| c["field"].as_str()).collect())
        .unwrap_or_default();
    assert!(
        causes.contains(&field),
        "{resource}: {field} not in {causes:?}"
    );

    // Claims and volumes get protection finalizers at admission, which the
    // controller-manager (not running here) removes: delete without
    // waiting, then take the finalizers off as an operator would.
    ok(
        k(&["delete", resource, name, "-n", "kinds", "--wait=false"]),
        &format!("delete {resource}"),
    );
    let left = k(&["get", resource, name, "-n", "kinds", "-o", "json"]);
    if left.success {
        let obj: serde_json::Value = serde_json::from_str(&left.stdout).expect("json");
        assert!(
            obj["metadata"]["deletionTimestamp"].is_string(),
            "{resource}: still there and not being deleted: {}",
            left.stdout
        );
        ok(
            k(&[
                "patch",
                resource,
                name,
                "-n",
                "kinds",
                "--type=merge",
                "-p",
                r#"{"metadata":{"finalizers":null}}"#,
            ]),
            &format!("remove the finalizers of {resource}"),
        );
    }
    let gone = k(&["get", resource, name, "-n", "kinds"]);
    assert!(
        !gone.success && gone.stderr.contains("NotFound"),
        "{resource}: {}",
        gone.stderr
    );
}

/// The spec/status split of a stored kind, and a CSR's `/approval`
/// through `kubectl certificate approve` (a protobuf PUT).
fn status_and_approval<F>(k: &F, dir: &Path)
where
    F: Fn(&[&str]) -> KubectlOutput,
{
    let claim = dir.join("claim.yaml");
    std::fs::write(
        &claim,
        "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: data, namespace: kinds}\nspec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}\n",
    )
    .expect("write");
    ok(
        k(&["apply", "-f", &claim.display().to_string()]),
        "apply pvc",
    );
    let phase = |k: &F| {
        ok(
            k(&[
                "get",
                "pvc",
                "data",
                "-n",
                "kinds",
                "-o",
                "jsonpath={.status.phase}",
            ]),
            "phase",
        )
    };
    assert_eq!(phase(k), "Pending", "a new claim is Pending");
    let bound = r#"{"status":{"phase":"Bound"}}"#;
    ok(
        k(&[
            "patch", "pvc", "data", "-n", "kinds", "--type", "merge", "-p", bound,
        ]),
        "patch main",
    );
    assert_eq!(
        phase(k),
        "Pending",
        "the main resource does not write status"
    );
    ok(
        k(&[
            "patch",
            "pvc",
            "data",
            "-n",
            "kinds",
            "--subresource",
            "status",
            "--type",
            "merge",
            "-p",
            bound,
        ]),
        "patch status",
    );
    assert_eq!(phase(k), "Bound", "/status writes status");
    let grow = r#"{"spec":{"storageClassName":"other"}}"#;
    let out = k(&[
        "patch", "pvc", "data", "-n", "kinds", "--type", "merge", "-p", grow,
    ]);
    assert!(
        !out.success && out.stderr.contains("spec"),
        "{}",
        out.stderr
    );

    let csr = dir.join("csr.yaml");
    std::fs::write(
        &csr,
        "apiVersion: certificates.k8s.io/v1\nkind: CertificateSigningRequest\nmetadata: {name: approve-me}\nspec: {request: TFMwdExTMUNSVWRKVGlCRFJWSlVTVVpKUTBGVVJTQlNSVkZWUlZOVUxTMHRMUzBL, signerName: example.com/signer, usages: [client auth], username: mallory}\n",
    )
    .expect("write");
    ok(k(&["apply", "-f", &csr.display().to_string()]), "apply csr");
    let requester = ok(
        k(&[
            "get",
            "csr",
            "approve-me",
            "-o",
            "jsonpath={.spec.username}",
        ]),
        "requester",
    );
    assert_eq!(
        requester, "system:anonymous",
        "the server records the requester"
    );
    // A patch through /approval applies its metadata and its conditions,
    // not a spec or the rest of the status.
    let approval = r#"{"metadata":{"annotations":{"patchedapproval":"true"}},"spec":{"signerName":"x.io/y"},"status":{"certificate":"Zm9v","conditions":[{"type":"ApprovalPatch","status":"True","reason":"e2e"}]}}"#;
    ok(
        k(&[
            "patch",
            "csr",
            "approve-me",
            "--subresource",
            "approval",
            "--type",
            "merge",
            "-p",
            approval,
        ]),
        "patch approval",
    );
    let got = ok(
        k(&[
            "get",
            "csr",
            "approve-me",
            "-o",
            "jsonpath={.metadata.annotations.patchedapproval} {.status.conditions[0].type} {.spec.signerName} [{.status.certificate}]",
        ]),
        "get patched csr",
    );
    assert_eq!(got, "true ApprovalPatch example.com/signer []");
    ok(k(&["certificate", "approve", "approve-me"]), "approve");
    let out = ok(k(&["get", "csr", "approve-me"]), "get csr");
    assert!(
        out.lines()
            .nth(1)
            .is_some_and(|l| l.trim_end().ends_with("Approved")),
        "{out}"
    );
}

/// The new kinds' OpenAPI schemas, through `kubectl explain` and strict
/// field validation, and server-side apply of one of them.
fn openapi_and_apply<F>(k: &F, dir: &Path)
where
    F: Fn(&[&str]) -> KubectlOutput,
{
    for (field, kind, doc) in [
        ("pv.spec.accessModes", "PersistentVolume", "accessModes"),
        ("sc.provisioner", "StorageClass", "provisioner"),
        ("rolebindings.roleRef", "RoleBinding", "RoleRef"),
        ("ingresses.spec.rules", "Ingress", "IngressRule"),
        (
            "resourceclaims.spec.devices",
            "ResourceClaim",
            "DeviceClaim",
        ),
        (
            "mutatingadmissionpolicies.spec.mutations",
            "MutatingAdmissionPolicy",
            "Mutation",
        ),
        ("crd.spec.names", "CustomResourceDefinition", "plural"),
    ] {
        let out = ok(k(&["explain", field]), &format!("explain {field}"));
        assert!(
            out.contains(kind) && out.contains(doc),
            "explain {field}:\n{out}"
        );
    }
    let typo = dir.join("typo.yaml");
    std::fs::write(
        &typo,
        "apiVersion: node.k8s.io/v1\nkind: RuntimeClass\nmetadata: {name: typo}\nhandler: runc\nhandlr: runsc\n",
    )
    .expect("write");
    let typo = typo.display().to_string();
    let out = k(&["apply", "-f", &typo, "--validate=strict"]);
    assert!(
        !out.success && out.stderr.contains("unknown field \"handlr\""),
        "{}",
        out.stderr
    );

    let ssa = dir.join("ssa.yaml");
    std::fs::write(
        &ssa,
        "apiVersion: node.k8s.io/v1\nkind: RuntimeClass\nmetadata: {name: kata}\nhandler: kata\n",
    )
    .expect("write");
    let ssa = ssa.display().to_string();
    ok(
        k(&[
            "apply",
            "--server-side",
            "--field-manager",
            "tester",
            "-f",
            &ssa,
        ]),
        "server-side apply",
    );
    let managers = ok(
        k(&[
            "get",
            "runtimeclass",
            "kata",
            "--show-managed-fields",
            "-o",
            "jsonpath={.metadata.managedFields[*].manager}",
        ]),
        "managers",
    );
    assert!(managers.contains("tester"), "{managers}");
}

async fn reviews<F>(k: &F, http: &Http)
where
    F: Fn(&[&str]) -> KubectlOutput,
{
    // SelfSubjectAccessReview and SelfSubjectRulesReview through kubectl.
    assert_eq!(
        ok(k(&["auth", "can-i", "create", "pods"]), "can-i").trim(),
        "yes"
    );
    let rules = ok(
        k(&["auth", "can-i", "--list", "-n", "kinds"]),
        "can-i --list",
    );
    assert!(rules.contains("*.*"), "{rules}");
    // SelfSubjectReview.
    let whoami = ok(k(&["auth", "whoami"]), "whoami");
    assert!(whoami.contains("system:anonymous"), "{whoami}");

    let sar = json!({
        "apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
        "spec": {"user": "jane", "resourceAttributes": {"verb": "get", "resource": "pods", "namespace": "kinds"}},
    });
    let r = http
        .post("/apis/authorization.k8s.io/v1/subjectaccessreviews", &sar)
        .await
        .expect("sar");
    assert_eq!(
        (r.status, &r.body["status"]["allowed"]),
        (201, &json!(true)),
        "{}",
        r.body
    );
    let no_subject = json!({
        "apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
        "spec": {"resourceAttributes": {"verb": "get", "resource": "pods"}},
    });
    let r = http
        .post(
            "/apis/authorization.k8s.io/v1/subjectaccessreviews",
            &no_subject,
        )
        .await
        .expect("sar");
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(
        r.body["details"]["causes"][0]["field"], "spec.user",
        "{}",
        r.body
    );

    let local = json!({
        "apiVersion": "authorization.k8s.io/v1", "kind": "LocalSubjectAccessReview",
        "spec": {"groups": ["devs"], "resourceAttributes": {"verb": "list", "resource": "secrets", "namespace": "other"}},
    });
    let path = "/apis/authorization.k8s.io/v1/namespaces/kinds/localsubjectaccessreviews";
    let r = http.post(path, &local).await.expect("lsar");
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(
        r.body["details"]["causes"][0]["field"], "spec.resourceAttributes.namespace",
        "{}",
        r.body
    );

    let token = json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": "abc"}});
    let r = http
        .post("/apis/authentication.k8s.io/v1/tokenreviews", &token)
        .await
        .expect("tokenreview");
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["status"]["authenticated"], false, "{}", r.body);

    // Only create is served: nothing is stored to get or list.
    let out = k(&["get", "tokenreviews"]);
    assert!(
        !out.success && out.stderr.contains("MethodNotAllowed"),
        "{}",
        out.stderr
    );
    let r = http
        .get("/apis/authorization.k8s.io/v1/subjectaccessreviews")
        .await
        .expect("list sar");
    assert_eq!(r.status, 405, "{}", r.body);
    assert_eq!(r.body["reason"], "MethodNotAllowed", "{}", r.body);
}

/// Aggregated discovery (what kubectl reads first, so the `api-resources`
/// check above went through it) holds exactly what the per-group-version
/// lists hold: every resource with its kind, scope, verbs, short names and
/// subresources. A client asking only for the legacy form gets that.
async fn aggregated_discovery_matches_the_per_group_lists(http: &Http) {
    const V2: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";
    let mut seen = 0;
    for (path, core) in [("/api", true), ("/apis", false)] {
        let (status, content_type, body) = http
            .get_accepting(path, &format!("{V2},application/json"))
            .await
            .expect("GET");
        assert_eq!(status, 200);
        assert_eq!(content_type, V2, "{path}");
        let doc: Value = serde_json::from_slice(&body).expect("JSON");
        assert_eq!(doc["kind"], "APIGroupDiscoveryList");
        for group in doc["items"].as_array().expect("items") {
            let name = group["metadata"]["name"].as_str().unwrap_or("");
            assert_eq!(name.is_empty(), core, "{path}: {group}");
            for version in group["versions"].as_array().expect("versions") {
                let v = version["version"].as_str().expect("version");
                let gv = if core {
                    v.to_string()
                } else {
                    format!("{name}/{v}")
                };
                let prefix = if core { "/api" } else { "/apis" };
                let legacy = http
                    .get(&format!("{prefix}/{gv}"))
                    .await
                    .expect("GET group version");
                let legacy = legacy.body["resources"]
                    .as_array()
                    .expect("resources")
                    .clone();
                let top: Vec<&Value> = legacy
                    .iter()
                    .filter(|r| !r["name"].as_str().unwrap_or("").contains('/'))
                    .collect();
                let resources = version["resources"].as_array().expect("resources");
                assert_eq!(resources.len(), top.len(), "{gv}");
                for (agg, old) in resources.iter().zip(&top) {
                    assert_eq!(agg["resource"], old["name"], "{gv}");
                    assert_eq!(agg["responseKind"]["kind"], old["kind"], "{gv}");
                    assert_eq!(agg["verbs"], old["verbs"], "{gv}");
                    assert_eq!(agg["singularResource"], old["singularName"], "{gv}");
                    let scope = if old["namespaced"] == true {
                        "Namespaced"
                    } else {
                        "Cluster"
                    };
                    assert_eq!(agg["scope"], scope, "{gv}");
                    assert_eq!(agg["shortNames"], old["shortNames"], "{gv}");
                    let subs: Vec<String> = agg["subresources"]
                        .as_array()
                        .map(|s| {
                            s.iter()
                                .map(|s| {
                                    format!(
                                        "{}/{}",
                                        agg["resource"].as_str().unwrap_or(""),
                                        s["subresource"].as_str().unwrap_or("")
                                    )
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    let old_subs: Vec<String> = legacy
                        .iter()
                        .filter_map(|r| r["name"].as_str())
                        .filter(|n| {
                            n.starts_with(&format!("{}/", agg["resource"].as_str().unwrap_or("")))
                        })
                        .map(String::from)
                        .collect();
                    assert_eq!(subs, old_subs, "{gv}");
                    seen += 1;
                }
            }
        }
    }
    assert!(seen > 50, "only {seen} resources in aggregated discovery");
    // Without the aggregated type in Accept: the legacy group list.
    let (_, content_type, body) = http
        .get_accepting("/apis", "application/json")
        .await
        .expect("GET");
    assert!(content_type.starts_with("application/json") && !content_type.contains("apidiscovery"));
    let doc: Value = serde_json::from_slice(&body).expect("JSON");
    assert_eq!(doc["kind"], "APIGroupList");
}
