//! Tests of the registry's steps for the built-in kinds (the same steps the
//! handlers run), and of adding a kind with one row and one strategy.

/// Every served built-in resource has its row in the strategy table (a
/// kind without one would silently get the do-nothing strategy), and no row
/// names a kind that is not served.
#[test]
fn every_builtin_kind_has_one_strategy() {
    let rows = crate::registry::builtin_strategies();
    for r in apimachinery::resources::RESOURCES {
        let n = rows
            .iter()
            .filter(|(g, k, _)| *g == r.storage_group && *k == r.kind)
            .count();
        assert_eq!(n, 1, "{}/{}", r.group, r.kind);
    }
    let stored = apimachinery::resources::RESOURCES
        .iter()
        .filter(|r| r.is_storage_version());
    assert_eq!(rows.len(), stored.count());
}

/// A row served at another version than its storage version has that
/// version's strategy and conversions (else its objects would be stored
/// and served in the wrong shape), and the storage row it converts to.
#[test]
fn every_other_version_has_its_conversions() {
    for r in apimachinery::resources::RESOURCES {
        if r.is_storage_version() {
            assert!(crate::registry::version_of(r).is_none());
            continue;
        }
        let version = crate::registry::version_of(r)
            .unwrap_or_else(|| panic!("{}/{} {}: no conversions", r.group, r.version, r.kind));
        assert_eq!(version.version, r.version);
        assert_eq!(version.group.unwrap_or(r.storage_group), r.group);
        let storage_row =
            apimachinery::resources::find(r.storage_group, r.storage_version, r.plural);
        assert!(storage_row.is_some_and(|s| s.is_storage_version()));
    }
}

mod prepare {
    use crate::errors::ApiError;
    use crate::registry::*;
    use serde_json::json;

    use apimachinery::resources::find;

    #[test]
    fn create_sets_server_fields() {
        let pods = find("", "v1", "pods").expect("pods");
        let mut pod = json!({"metadata": {"name": "p", "resourceVersion": "3", "creationTimestamp": null},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]},
            "status": {"phase": "Running"}});
        prepare_for_create(pods, &mut pod, "u-1");
        assert_eq!(pod["metadata"]["uid"], "u-1");
        assert_eq!(pod["metadata"]["generation"], 1);
        assert!(pod["metadata"].get("resourceVersion").is_none());
        assert!(pod["metadata"]["creationTimestamp"].is_string());
        assert_eq!(pod["status"]["phase"], "Pending");
        assert_eq!(pod["status"]["qosClass"], "BestEffort");
        assert_eq!(pod["kind"], "Pod");
    }

    #[test]
    fn generation_moves_with_spec_only() {
        let deps = find("apps", "v1", "deployments").expect("deployments");
        let old = json!({"metadata": {"name": "d", "generation": 3, "uid": "u"},
            "spec": {"replicas": 1}, "status": {"replicas": 1}});
        let mut same = json!({"metadata": {"name": "d", "labels": {"a": "b"}},
            "spec": {"replicas": 1}, "status": {"replicas": 7}});
        prepare_for_update(deps, &mut same, &old);
        assert_eq!(same["metadata"]["generation"], 3);
        assert_eq!(same["status"]["replicas"], 1, "status kept from storage");
        assert_eq!(same["metadata"]["uid"], "u");
        let mut changed = json!({"metadata": {"name": "d"}, "spec": {"replicas": 2}});
        prepare_for_update(deps, &mut changed, &old);
        assert_eq!(changed["metadata"]["generation"], 4);

        let cms = find("", "v1", "configmaps").expect("configmaps");
        let old = json!({"metadata": {"name": "c", "generation": 1}, "data": {"a": "1"}});
        let mut new = json!({"metadata": {"name": "c"}, "data": {"a": "2"}});
        prepare_for_update(cms, &mut new, &old);
        assert_eq!(new["metadata"]["generation"], 1, "kept, never bumped");
        let mut fresh = json!({"metadata": {"name": "c", "generation": 4}, "data": {}});
        prepare_for_create(cms, &mut fresh, "u");
        assert!(fresh["metadata"].get("generation").is_none(), "{fresh}");
    }

    #[test]
    fn status_update_takes_only_status() {
        let old =
            json!({"metadata": {"name": "p"}, "spec": {"a": 1}, "status": {"phase": "Pending"}});
        let new = json!({"metadata": {"name": "p", "labels": {"x": "y"}}, "spec": {"a": 2}, "status": {"phase": "Running"}});
        let merged = prepare_for_status_update(&new, &old);
        assert_eq!(merged["spec"]["a"], 1);
        assert_eq!(merged["status"]["phase"], "Running");
        assert!(merged["metadata"].get("labels").is_none());
    }

    #[test]
    fn identity_is_immutable() {
        let cms = find("", "v1", "configmaps").expect("configmaps");
        let old = json!({"metadata": {"name": "c", "namespace": "a", "uid": "1"}});
        let new = json!({"metadata": {"name": "d", "namespace": "a"}});
        assert!(matches!(
            validate_identity(cms, &new, &old),
            Err(ApiError::Invalid { .. })
        ));
        let ok = json!({"metadata": {"name": "c", "namespace": "a", "uid": "1"}});
        assert!(validate_identity(cms, &ok, &old).is_ok());
    }
}

mod defaults {
    use crate::defaults::pull_policy;
    use crate::registry::apply_defaults;
    use crate::registry::batch::job::job_selector_and_labels;
    use apimachinery::resources::ResourceInfo;
    use serde_json::json;

    use apimachinery::resources::find;

    fn res(group: &str, plural: &str) -> &'static ResourceInfo {
        find(group, "v1", plural).unwrap_or_else(|| panic!("{plural}"))
    }

    #[test]
    fn pull_policies() {
        assert_eq!(pull_policy("busybox"), "Always");
        assert_eq!(pull_policy("busybox:latest"), "Always");
        assert_eq!(pull_policy("busybox:1.36"), "IfNotPresent");
        assert_eq!(pull_policy("localhost:5000/busybox"), "Always");
        assert_eq!(pull_policy("busybox@sha256:abc"), "IfNotPresent");
    }

    #[test]
    fn deployment_defaults_are_upstreams_and_idempotent() {
        let mut d = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "creationTimestamp": null,
                "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{\"a\":  1}\n"}},
            "spec": {"selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "web", "image": "nginx:1.25",
                        "ports": [{"containerPort": 80}],
                        "resources": {"limits": {"memory": "64Mi"}}}]}}},
            "status": {"replicas": 2}});
        let deps = res("apps", "deployments");
        apply_defaults(deps, &mut d).expect("defaults");
        assert_eq!(d["spec"]["replicas"], 1);
        assert_eq!(d["spec"]["strategy"]["rollingUpdate"]["maxSurge"], "25%");
        assert_eq!(d["spec"]["revisionHistoryLimit"], 10);
        assert_eq!(d["spec"]["progressDeadlineSeconds"], 600);
        let pod = &d["spec"]["template"]["spec"];
        assert_eq!(pod["restartPolicy"], "Always");
        assert_eq!(pod["dnsPolicy"], "ClusterFirst");
        assert_eq!(pod["terminationGracePeriodSeconds"], 30);
        assert_eq!(pod["containers"][0]["imagePullPolicy"], "IfNotPresent");
        assert_eq!(pod["containers"][0]["ports"][0]["protocol"], "TCP");
        assert_eq!(
            pod["containers"][0]["resources"]["requests"]["memory"],
            "64Mi"
        );
        assert_eq!(
            d["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"],
            "{\"a\":  1}\n"
        );
        assert_eq!(d["status"]["replicas"], 2);
        let once = d.clone();
        apply_defaults(deps, &mut d).expect("defaults again");
        assert_eq!(d, once);
    }

    #[test]
    fn services_namespaces_jobs() {
        let mut s = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
            "spec": {"selector": {"a": "b"}, "ports": [{"port": 80}]}});
        apply_defaults(res("", "services"), &mut s).expect("service");
        assert_eq!(s["spec"]["type"], "ClusterIP");
        assert_eq!(s["spec"]["ports"][0]["targetPort"], 80);
        assert_eq!(s["spec"]["ports"][0]["protocol"], "TCP");

        let mut ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n"}});
        apply_defaults(res("", "namespaces"), &mut ns).expect("ns");
        assert_eq!(ns["spec"]["finalizers"], json!(["kubernetes"]));

        let mut job = json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j"},
            "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}}});
        apply_defaults(res("batch", "jobs"), &mut job).expect("job");
        assert_eq!(job["spec"]["completions"], 1);
        assert_eq!(job["spec"]["backoffLimit"], 6);
        job_selector_and_labels(&mut job, "u1");
        assert_eq!(
            job["spec"]["selector"]["matchLabels"]["batch.kubernetes.io/controller-uid"],
            "u1"
        );
        assert_eq!(
            job["spec"]["template"]["metadata"]["labels"]["job-name"],
            "j"
        );
    }

    #[test]
    fn wrong_types_are_errors_not_panics() {
        let pods = res("", "pods");
        for bad in [
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": 3}}),
            json!({"apiVersion": "v1", "kind": "Pod", "spec": {"containers": "x"}}),
            json!({"apiVersion": "v1", "kind": "Pod", "spec": {"containers": [{"name": "a", "ports": [{"containerPort": "80"}]}]}}),
            json!([1, 2]),
        ] {
            let mut v = bad.clone();
            assert!(apply_defaults(pods, &mut v).is_err(), "{bad}");
        }
    }
}

mod validation {
    use crate::registry::batch::cronjob::is_valid_schedule;
    use crate::registry::{validate_create, validate_name, validate_update};
    use crate::validation::*;
    use apimachinery::resources::ResourceInfo;
    use serde_json::Value;

    use apimachinery::resources::find;
    use serde_json::json;

    fn res(group: &str, plural: &str) -> &'static ResourceInfo {
        find(group, "v1", plural).unwrap_or_else(|| panic!("{plural}"))
    }

    fn fields(errs: &[FieldError]) -> Vec<String> {
        errs.iter().map(|e| e.field.clone()).collect()
    }

    fn deployment(sel: &str, label: &str) -> Value {
        json!({"metadata": {"name": "web"}, "spec": {"replicas": 1,
            "selector": {"matchLabels": {"app": sel}},
            "template": {"metadata": {"labels": {"app": label}},
                "spec": {"restartPolicy": "Always", "containers": [{"name": "web", "image": "nginx"}]}}}})
    }

    #[test]
    fn names() {
        assert!(is_dns1123_label("web-1"));
        assert!(!is_dns1123_label("Web"));
        assert!(!is_dns1123_label("-a"));
        assert!(is_dns1123_subdomain("a.b-c"));
        assert!(!is_dns1123_subdomain("a..b"));
        // Only the whole name is limited, to 253: a long part is fine.
        assert!(is_dns1123_subdomain(&"a".repeat(100)));
        assert!(is_dns1123_subdomain(&format!("{}.b", "a".repeat(200))));
        assert!(!is_dns1123_subdomain(&"a".repeat(254)));
        assert!(validate_name(res("", "namespaces"), "a.b").len() == 1);
        assert!(validate_name(res("", "configmaps"), "a.b").is_empty());
    }

    #[test]
    fn deployment_rules() {
        let deps = res("apps", "deployments");
        assert!(validate_create(deps, &deployment("web", "web")).is_empty());
        let errs = validate_create(deps, &deployment("web", "db"));
        assert_eq!(fields(&errs), vec!["spec.template.metadata.labels"]);
        assert!(errs[0]
            .message
            .contains("`selector` does not match template `labels`"));
        let mut no_containers = deployment("web", "web");
        no_containers["spec"]["template"]["spec"]["containers"] = json!([]);
        assert_eq!(
            fields(&validate_create(deps, &no_containers)),
            vec!["spec.template.spec.containers"]
        );
        let errs = validate_update(
            deps,
            &deployment("other", "other"),
            &deployment("web", "web"),
        );
        assert_eq!(fields(&errs), vec!["spec.selector"]);
    }

    #[test]
    fn pod_rules() {
        let pods = res("", "pods");
        let pod = json!({"metadata": {"name": "Bad_Name", "labels": {"ok": "yes", "bad key!": "x"}},
            "spec": {"restartPolicy": "Sometimes", "containers": [
                {"name": "a", "image": "", "ports": [{"containerPort": 70000}],
                 "resources": {"requests": {"cpu": "2"}, "limits": {"cpu": "1"}},
                 "volumeMounts": [{"name": "missing", "mountPath": "/x"}]},
                {"name": "a", "image": "busybox"}]}});
        let got = fields(&validate_create(pods, &pod));
        for want in [
            "metadata.name",
            "metadata.labels",
            "spec.restartPolicy",
            "spec.containers[0].image",
            "spec.containers[0].ports[0].containerPort",
            "spec.containers[0].resources.requests",
            "spec.containers[0].volumeMounts[0].name",
            "spec.containers[1].name",
        ] {
            assert!(got.iter().any(|g| g == want), "missing {want} in {got:?}");
        }
        let old = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "a", "image": "x"}], "nodeName": "n1"}});
        let mut image = old.clone();
        image["spec"]["containers"][0]["image"] = json!("y");
        assert!(validate_update(pods, &image, &old).is_empty());
        let mut node = old.clone();
        node["spec"]["nodeName"] = json!("n2");
        assert_eq!(fields(&validate_update(pods, &node, &old)), vec!["spec"]);
    }

    #[test]
    fn services_jobs_cronjobs_configmaps() {
        let svc = json!({"metadata": {"name": "s"}, "spec": {"type": "ClusterIP", "ports": []}});
        assert_eq!(
            fields(&validate_create(res("", "services"), &svc)),
            vec!["spec.ports"]
        );
        let job = json!({"metadata": {"name": "j"}, "spec": {"template": {"spec": {"restartPolicy": "Always", "containers": [{"name": "c", "image": "i"}]}}}});
        assert_eq!(
            fields(&validate_create(res("batch", "jobs"), &job)),
            vec!["spec.template.spec.restartPolicy"]
        );
        assert!(is_valid_schedule("*/5 * * * *"));
        assert!(is_valid_schedule("0 3 * * mon-fri"));
        assert!(is_valid_schedule("@hourly"));
        assert!(!is_valid_schedule("61 * * * *"));
        assert!(!is_valid_schedule("* * *"));
        let cm = json!({"metadata": {"name": "c"}, "data": {"ok.key": "1", "bad key": "2"}});
        assert_eq!(
            fields(&validate_create(res("", "configmaps"), &cm)),
            vec!["data"]
        );
        let frozen = json!({"metadata": {"name": "c"}, "immutable": true, "data": {"a": "1"}});
        let mut changed = frozen.clone();
        changed["data"]["a"] = json!("2");
        assert_eq!(
            fields(&validate_update(res("", "configmaps"), &changed, &frozen)),
            vec!["data"]
        );
    }

    #[test]
    fn node_pod_cidr_is_set_once() {
        let nodes = res("", "nodes");
        let empty = json!({"metadata": {"name": "n"}, "spec": {}});
        let a = json!({"metadata": {"name": "n"}, "spec": {"podCIDR": "10.244.1.0/24", "podCIDRs": ["10.244.1.0/24"]}});
        let b = json!({"metadata": {"name": "n"}, "spec": {"podCIDR": "10.244.2.0/24", "podCIDRs": ["10.244.2.0/24"]}});
        assert!(validate_update(nodes, &a, &empty).is_empty());
        assert!(validate_update(nodes, &a, &a).is_empty());
        assert_eq!(
            fields(&validate_update(nodes, &b, &a)),
            ["spec.podCIDR", "spec.podCIDRs"]
        );
        assert_eq!(fields(&validate_update(nodes, &empty, &a)).len(), 2);
    }

    #[test]
    fn quantities() {
        assert_eq!(parse_quantity("100m").map(|q| q.milli_value()), Ok(100));
        assert_eq!(parse_quantity("1Gi").map(|q| q.value()), Ok(1073741824));
        assert_eq!(parse_quantity("2e3").map(|q| q.value()), Ok(2000));
        assert!(parse_quantity("abc").is_err());
    }

    #[test]
    fn odd_json_never_panics() {
        for r in apimachinery::resources::RESOURCES {
            for v in [
                json!(null),
                json!([1]),
                json!("x"),
                json!({"spec": 3}),
                json!({"metadata": []}),
            ] {
                let _ = validate_create(r, &v);
                let _ = validate_update(r, &v, &json!({}));
            }
        }
    }
}

/// A kind that exists only in this test: one row (its `ResourceInfo`) and one
/// strategy are all it takes for the generic handlers to create, default,
/// validate and print it.
mod test_only_kind {
    use std::sync::Arc;

    use apimachinery::resources::{ResourceInfo, Subresource};
    use axum::body::to_bytes;
    use http::{HeaderMap, StatusCode};
    use serde_json::{json, Value};

    use crate::handlers::{route, Ctx};
    use crate::printers::{age, col, s, Column, AGE, NAME};
    use crate::registry::{self, Strategy};
    use crate::request::{Query, RequestInfo, Verb};
    use crate::validation::{invalid, FieldError};
    use crate::{ApiServer, Config};

    /// The row.
    static WIDGETS: ResourceInfo = ResourceInfo {
        group: "test.minik8s.io",
        version: "v1",
        kind: "Widget",
        plural: "widgets",
        singular: "widget",
        namespaced: false,
        short_names: &[],
        categories: &[],
        subresources: &[Subresource::Status],
        verbs: apimachinery::resources::VERBS,
        storage: "widgets",
        storage_version: "v1",
        storage_group: "test.minik8s.io",
    };

    /// The strategy: a default size, a rule on it, an initial status and a
    /// column.
    struct WidgetStrategy;

    const COLUMNS: &[Column] = &[NAME, col("Size", "integer", 0, "How big."), AGE];

    impl Strategy for WidgetStrategy {
        fn default(&self, obj: &mut Value) {
            crate::defaults::set_default(obj, &["spec", "size"], json!(3));
        }

        fn validate(&self, obj: &Value) -> Vec<FieldError> {
            match obj.pointer("/spec/size").and_then(Value::as_i64) {
                Some(n) if n > 0 => Vec::new(),
                _ => vec![invalid(
                    "spec.size",
                    obj.pointer("/spec/size").unwrap_or(&Value::Null),
                    "must be positive",
                )],
            }
        }

        fn prepare_for_create(&self, obj: &mut Value, _uid: &str) {
            obj["status"] = json!({"phase": "New"});
        }

        fn columns(&self) -> &'static [Column] {
            COLUMNS
        }

        fn cells(&self, obj: &Value) -> Vec<Value> {
            vec![
                json!(s(obj, "/metadata/name")),
                json!(obj
                    .pointer("/spec/size")
                    .and_then(Value::as_i64)
                    .unwrap_or(0)),
                json!(age(obj)),
            ]
        }
    }

    /// A dry-run create of `body` through the handlers (dry run: the request
    /// runs every step but the etcd write, so no etcd is needed).
    async fn create(server: &Arc<ApiServer>, body: Value) -> (StatusCode, Value) {
        let ctx = Ctx {
            server: Arc::clone(server),
            info: RequestInfo {
                resource: &WIDGETS,
                namespace: None,
                name: None,
                subresource: None,
                verb: Verb::Create,
            },
            query: Query {
                dry_run: true,
                ..Query::default()
            },
            headers: HeaderMap::new(),
            body: serde_json::to_vec(&body).expect("encodes").into(),
            warnings: Arc::default(),
            audit_annotations: Arc::default(),
            user: crate::authentication::UserInfo::anonymous(),
        };
        let resp = match route(ctx).await {
            Ok(r) => r,
            Err(e) => axum::response::IntoResponse::into_response(e),
        };
        let code = resp.status();
        let bytes = to_bytes(resp.into_body(), 1 << 20).await.expect("body");
        (code, serde_json::from_slice(&bytes).expect("JSON"))
    }

    #[tokio::test]
    async fn one_row_and_one_strategy_make_a_kind() {
        assert!(
            registry::register("test.minik8s.io", "Widget", Arc::new(WidgetStrategy)).is_none()
        );
        let server = ApiServer::new(Config {
            // Never contacted: every request here is a dry run.
            etcd_servers: vec!["http://127.0.0.1:9".into()],
            ..Config::default()
        })
        .await
        .expect("server state");

        let (code, created) = create(&server, json!({"metadata": {"name": "w1"}})).await;
        assert_eq!(code, StatusCode::CREATED, "{created}");
        assert_eq!(created["kind"], "Widget");
        assert_eq!(created["apiVersion"], "test.minik8s.io/v1");
        assert_eq!(created["spec"]["size"], 3, "defaulted by the strategy");
        assert_eq!(created["status"]["phase"], "New", "set by the strategy");
        assert!(
            created["metadata"]["uid"].is_string(),
            "set by the registry"
        );

        let (code, status) = create(
            &server,
            json!({"metadata": {"name": "w2"}, "spec": {"size": 0}}),
        )
        .await;
        assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{status}");
        assert_eq!(status["details"]["causes"][0]["field"], "spec.size");
        assert_eq!(status["details"]["kind"], "Widget");

        let (code, status) = create(&server, json!({"metadata": {"name": "Bad_Name"}})).await;
        assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{status}");
        assert_eq!(status["details"]["causes"][0]["field"], "metadata.name");

        let table = crate::tables::table_for_list(
            &WIDGETS,
            &[created],
            &json!({}),
            crate::tables::IncludeObject::None,
        );
        let names: Vec<&str> = table["columnDefinitions"]
            .as_array()
            .expect("columns")
            .iter()
            .filter_map(|c| c["name"].as_str())
            .collect();
        assert_eq!(names, ["Name", "Size", "Age"]);
        assert_eq!(table["rows"][0]["cells"][1], 3);
    }
}

/// A metav1.Condition without its time (Go clients send `null`, YAML
/// writers leave it out) decodes as Go's zero time, as upstream stores it,
/// instead of failing the whole write; other bad bodies still fail.
#[test]
fn conditions_without_a_time_get_the_zero_time() {
    use serde_json::json;
    let services = apimachinery::resources::find("", "v1", "services").expect("services");
    let mut svc = json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "s", "namespace": "default"},
        "spec": {"ports": [{"port": 80}]},
        "status": {"conditions": [
            {"type": "A", "status": "True", "reason": "R", "message": "m", "lastTransitionTime": null},
            {"type": "B", "status": "True", "reason": "R", "message": "m"},
            {"type": "C", "status": "True", "reason": "R", "message": "m",
             "lastTransitionTime": "2026-01-02T03:04:05Z"}]}});
    crate::registry::apply_defaults(services, &mut svc).expect("decodes");
    let times: Vec<&str> = svc["status"]["conditions"]
        .as_array()
        .expect("conditions")
        .iter()
        .map(|c| c["lastTransitionTime"].as_str().expect("a time"))
        .collect();
    assert_eq!(
        times,
        [
            "0001-01-01T00:00:00Z",
            "0001-01-01T00:00:00Z",
            "2026-01-02T03:04:05Z"
        ]
    );
    let mut bad = json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "s"}, "spec": {"ports": "eighty"}});
    assert!(crate::registry::apply_defaults(services, &mut bad).is_err());
}
