//! An operator written with kube-rs, run against real etcd, our apiserver and
//! our controller-manager: what an operator author does on a real cluster,
//! end to end.
//!
//! The operator defines its kind as a Rust struct (`#[derive(CustomResource)]`),
//! installs the generated CRD by server-side apply, and runs a
//! `kube::runtime::Controller` that reconciles each `WebApp {replicas, image}`
//! into a Deployment it owns (ownerReference with `controller: true`) and
//! writes the WebApp's `status` (observed generation, replicas, ready
//! replicas, a `Ready` condition) through the status subresource, again by
//! server-side apply. Our deployment and replicaset controllers (with a
//! stand-in kubelet making pods ready) turn the Deployment into ready pods,
//! so the status the operator reports comes from real ReplicaSets.
//!
//! The real kubectl then works on the custom kind as on a built-in one:
//! `apply --validate=strict` creates it and refuses a misspelt field with
//! upstream's strict decoding error, `get` prints the CRD's printer columns,
//! `explain` shows the fields (with their doc comments), `scale` goes through
//! `/scale`, and deleting the WebApp lets our garbage collector delete the
//! Deployment it owned.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::wait;
use kube::{CustomResourceExt, Resource, ResourceExt};
use serde_json::json;
use tests::controllers::{ControlPlane, ControllerManager, FakeKubelet};
use tests::harness::{eventually, kubectl_cached, KubectlOutput};

use webapp::{WebApp, WebAppStatus};

/// The operator's kind, as its author writes it.
// kube-derive's `printcolumn(...)` repeats `type_ = "integer"` for two
// columns, which clippy reads as a duplicated attribute.
#[allow(clippy::duplicated_attributes)]
mod webapp {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
    use kube::CustomResource;
    use schemars::JsonSchema;
    use serde::{Deserialize, Serialize};

    /// A web application: a container image run as a number of replicas.
    #[derive(CustomResource, Deserialize, Serialize, Clone, Debug, JsonSchema)]
    #[kube(
        group = "operator.test",
        version = "v1",
        kind = "WebApp",
        namespaced,
        status = "WebAppStatus",
        shortname = "wa",
        scale(
            spec_replicas_path = ".spec.replicas",
            status_replicas_path = ".status.replicas",
            label_selector_path = ".status.selector"
        ),
        printcolumn(name = "Image", type_ = "string", json_path = ".spec.image"),
        printcolumn(name = "Desired", type_ = "integer", json_path = ".spec.replicas"),
        printcolumn(name = "Ready", type_ = "integer", json_path = ".status.readyReplicas"),
        printcolumn(
            name = "Age",
            type_ = "date",
            json_path = ".metadata.creationTimestamp"
        )
    )]
    pub struct WebAppSpec {
        /// How many copies of the application run.
        pub replicas: i32,
        /// The container image of the application.
        pub image: String,
    }

    /// What the operator observed.
    #[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
    #[serde(rename_all = "camelCase")]
    pub struct WebAppStatus {
        /// The generation of the spec this status describes.
        pub observed_generation: i64,
        /// Pods of the application (the Deployment's status.replicas).
        pub replicas: i32,
        /// Pods that are ready.
        pub ready_replicas: i32,
        /// The label selector of the pods, for `/scale`.
        pub selector: String,
        /// `Ready`: the Deployment rolled out the current spec and every
        /// replica is ready.
        pub conditions: Vec<Condition>,
    }
}

/// The operator's field manager, for every server-side apply it does.
const MANAGER: &str = "webapp-operator";

/// Why a reconcile failed (the controller retries).
#[derive(Debug, thiserror::Error)]
enum ReconcileError {
    #[error("the apiserver: {0}")]
    Kube(#[from] kube::Error),
    #[error("the WebApp has no {0}")]
    Incomplete(&'static str),
}

/// The operator's context: a client.
struct Ctx {
    client: kube::Client,
}

/// Labels of the pods of `app`.
fn pod_labels(app: &str) -> serde_json::Value {
    json!({"app.kubernetes.io/name": "webapp", "app.kubernetes.io/instance": app})
}

/// One reconcile: the Deployment this WebApp wants, applied; then the
/// WebApp's status from what the Deployment reports. Level-triggered and
/// idempotent: the same WebApp and Deployment give the same writes, and a
/// status that would not change is not written.
async fn reconcile(app: Arc<WebApp>, ctx: Arc<Ctx>) -> Result<Action, ReconcileError> {
    let ns = app
        .namespace()
        .ok_or(ReconcileError::Incomplete("namespace"))?;
    let name = app.name_any();
    let owner = app
        .controller_owner_ref(&())
        .ok_or(ReconcileError::Incomplete("uid"))?;
    let desired = json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns, "labels": pod_labels(&name),
                     "ownerReferences": [owner]},
        "spec": {
            "replicas": app.spec.replicas,
            "selector": {"matchLabels": pod_labels(&name)},
            "template": {
                "metadata": {"labels": pod_labels(&name)},
                "spec": {"containers": [{"name": "web", "image": app.spec.image}]},
            },
        },
    });
    let deployments: Api<Deployment> = Api::namespaced(ctx.client.clone(), &ns);
    let deployment = deployments
        .patch(
            &name,
            &PatchParams::apply(MANAGER).force(),
            &Patch::Apply(&desired),
        )
        .await?;

    let ds = deployment.status.unwrap_or_default();
    let ready_replicas = ds.ready_replicas.unwrap_or(0);
    // Ready once the Deployment saw this spec and finished rolling it out:
    // every pod is of the current template and ready.
    let want = Some(app.spec.replicas);
    let ready = ds.observed_generation == deployment.metadata.generation
        && ds.updated_replicas == want
        && ds.replicas == want
        && ready_replicas == app.spec.replicas;
    let previous = app.status.clone().unwrap_or_default();
    let was = previous.conditions.iter().find(|c| c.type_ == "Ready");
    let (status_word, reason, message) = if ready {
        (
            "True",
            "AllReplicasReady",
            "every replica is ready".to_string(),
        )
    } else {
        (
            "False",
            "Progressing",
            format!("{ready_replicas} of {} replicas ready", app.spec.replicas),
        )
    };
    // The transition time moves only when the condition's status does.
    let since = match was {
        Some(c) if c.status == status_word => c.last_transition_time.clone(),
        _ => {
            k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(k8s_openapi::jiff::Timestamp::now())
        }
    };
    let generation = app.metadata.generation.unwrap_or(0);
    let status = WebAppStatus {
        observed_generation: generation,
        replicas: ds.replicas.unwrap_or(0),
        ready_replicas,
        selector: "app.kubernetes.io/instance=".to_string() + &name,
        conditions: vec![k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition {
            type_: "Ready".into(),
            status: status_word.into(),
            reason: reason.into(),
            message,
            observed_generation: Some(generation),
            last_transition_time: since,
        }],
    };
    if app.status.as_ref() != Some(&status) {
        let webapps: Api<WebApp> = Api::namespaced(ctx.client.clone(), &ns);
        let patch = json!({"apiVersion": "operator.test/v1", "kind": "WebApp", "status": status});
        webapps
            .patch_status(
                &name,
                &PatchParams::apply(MANAGER).force(),
                &Patch::Apply(&patch),
            )
            .await?;
    }
    Ok(Action::requeue(Duration::from_secs(300)))
}

fn error_policy(_app: Arc<WebApp>, _err: &ReconcileError, _ctx: Arc<Ctx>) -> Action {
    Action::requeue(Duration::from_millis(500))
}

/// The operator, running until dropped.
struct Operator(tokio::task::JoinHandle<()>);

impl Operator {
    /// Installs the CRD (server-side apply of what the derive generates),
    /// waits until it is Established, and starts the controller.
    async fn start(client: kube::Client) -> Operator {
        let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
        let crd = WebApp::crd();
        let name = crd.name_any();
        crds.patch(
            &name,
            &PatchParams::apply(MANAGER).force(),
            &Patch::Apply(&crd),
        )
        .await
        .expect("server-side apply of the CRD");
        let established =
            wait::await_condition(crds.clone(), &name, wait::conditions::is_crd_established());
        tokio::time::timeout(Duration::from_secs(10), established)
            .await
            .expect("established in time")
            .expect("watching the CRD");
        let webapps: Api<WebApp> = Api::all(client.clone());
        let deployments: Api<Deployment> = Api::all(client.clone());
        let ctx = Arc::new(Ctx { client });
        let task = tokio::spawn(
            Controller::new(webapps, Default::default())
                .owns(deployments, Default::default())
                .run(reconcile, error_policy, ctx)
                .for_each(|_| futures::future::ready(())),
        );
        Operator(task)
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The header and first row of `kubectl get`, split on whitespace.
fn table(out: &KubectlOutput) -> (Vec<String>, Vec<String>) {
    let mut lines = out
        .stdout
        .lines()
        .map(|l| l.split_whitespace().map(str::to_string).collect::<Vec<_>>());
    let header = lines.next().unwrap_or_default();
    let row = lines.next().unwrap_or_default();
    (header, row)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kube_rs_operator_reconciles_its_kind_into_deployments() {
    let c = ControlPlane::start().await;
    let _cm = ControllerManager::start(
        &c.url,
        &["deployment", "replicaset", "garbagecollector"],
        |_| {},
    )
    .await;
    let ns = c.namespace("webapps");
    let _kubelet = FakeKubelet::start(c.client.clone(), &ns, Duration::ZERO);
    let _operator = Operator::start(c.client.clone()).await;

    // The CRD the derive generated, as the server stored it: applied by
    // the operator's field manager, with the printer columns and /scale.
    let crds: Api<CustomResourceDefinition> = Api::all(c.client.clone());
    let crd = crds.get("webapps.operator.test").await.expect("the CRD");
    let managers: Vec<String> = crd
        .managed_fields()
        .iter()
        .filter_map(|m| m.manager.clone())
        .collect();
    assert!(managers.contains(&MANAGER.to_string()), "{managers:?}");
    // An operator re-applies its CRD each time it starts: the same apply
    // changes nothing, not even the resourceVersion.
    let again = crds
        .patch(
            "webapps.operator.test",
            &PatchParams::apply(MANAGER).force(),
            &Patch::Apply(&WebApp::crd()),
        )
        .await
        .expect("the CRD applied again");
    assert_eq!(again.metadata.generation, Some(1));
    assert_eq!(again.resource_version(), crd.resource_version());

    let dir = tempfile::tempdir().expect("tmp");
    let cache = dir.path().join("cache");
    let k = |args: &[&str]| kubectl_cached(&c.url, &cache, args).expect("kubectl runs");
    let manifest = dir.path().join("shop.yaml");
    let file = manifest.to_str().unwrap_or_default().to_string();
    // `kubectl apply --validate=strict` of a WebApp, plus `extra` spec lines.
    let apply = |name: &str, replicas: i32, image: &str, extra: &str| {
        let body = format!(
            "apiVersion: operator.test/v1\nkind: WebApp\nmetadata:\n  name: {name}\n  namespace: {ns}\n\
             spec:\n  replicas: {replicas}\n  image: {image}\n{extra}"
        );
        std::fs::write(&manifest, body).expect("write the manifest");
        k(&["apply", "--validate=strict", "-f", &file])
    };
    let out = apply("shop", 2, "registry.test/shop:1.0", "");
    assert!(out.success, "{}", out.stderr);
    assert!(
        out.stdout.contains("webapp.operator.test/shop created"),
        "{}",
        out.stdout
    );

    // The Deployment appears, owned by the WebApp, with its spec.
    let webapps: Api<WebApp> = Api::namespaced(c.client.clone(), &ns);
    let shop = webapps.get("shop").await.expect("the WebApp");
    let deployments: Api<Deployment> = Api::namespaced(c.client.clone(), &ns);
    let image_of = |d: &Deployment| {
        d.spec
            .as_ref()
            .and_then(|s| s.template.spec.as_ref())
            .and_then(|p| p.containers.first())
            .and_then(|c| c.image.clone())
            .unwrap_or_default()
    };
    let replicas_of = |d: &Deployment| d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(-1);
    let wait_deployment = |image: &'static str, replicas: i32| {
        let deployments = deployments.clone();
        async move {
            eventually(Duration::from_secs(20), || async {
                let d = deployments.get_opt("shop").await.ok().flatten()?;
                (image_of(&d) == image && replicas_of(&d) == replicas).then_some(d)
            })
            .await
        }
    };
    let d = wait_deployment("registry.test/shop:1.0", 2)
        .await
        .expect("the Deployment with the WebApp's spec");
    let owners = d.owner_references();
    assert_eq!(owners.len(), 1, "{owners:?}");
    assert_eq!(owners[0].kind, "WebApp");
    assert_eq!(owners[0].api_version, "operator.test/v1");
    assert_eq!(owners[0].uid, shop.uid().unwrap_or_default());
    assert_eq!(owners[0].controller, Some(true));

    // The status comes from the real ReplicaSet's ready pods.
    let wait_status = |replicas: i32| {
        let webapps = webapps.clone();
        async move {
            eventually(Duration::from_secs(30), || async {
                let w = webapps.get("shop").await.ok()?;
                let s = w.status.clone()?;
                let ready = s
                    .conditions
                    .iter()
                    .any(|c| c.type_ == "Ready" && c.status == "True");
                (ready
                    && s.ready_replicas == replicas
                    && s.replicas == replicas
                    && Some(s.observed_generation) == w.metadata.generation)
                    .then_some(w)
            })
            .await
        }
    };
    let w = wait_status(2).await.expect("status: 2 of 2 ready");
    let status = w.status.unwrap_or_default();
    assert_eq!(status.selector, "app.kubernetes.io/instance=shop");
    assert_eq!(status.conditions[0].reason, "AllReplicasReady");

    // kubectl prints the CRD's columns and explains the fields.
    let out = k(&["get", "webapps", "-n", &ns]);
    assert!(out.success, "{}", out.stderr);
    let (header, row) = table(&out);
    assert_eq!(header, ["NAME", "IMAGE", "DESIRED", "READY", "AGE"]);
    assert_eq!(row[..4], ["shop", "registry.test/shop:1.0", "2", "2"]);
    let out = k(&["explain", "webapps.spec"]);
    assert!(out.success, "{}", out.stderr);
    assert!(out.stdout.contains("KIND:       WebApp"), "{}", out.stdout);
    assert!(
        out.stdout.contains("image\t<string> -required-"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("The container image of the application."),
        "{}",
        out.stdout
    );
    let out = k(&["explain", "webapps.status.conditions"]);
    assert!(out.success, "{}", out.stderr);
    assert!(out.stdout.contains("lastTransitionTime"), "{}", out.stdout);

    // Changing the WebApp moves the Deployment.
    let out = apply("shop", 2, "registry.test/shop:1.1", "");
    assert!(out.success, "{}", out.stderr);
    wait_deployment("registry.test/shop:1.1", 2)
        .await
        .expect("the Deployment follows the new image");
    wait_status(2).await.expect("rolled out: 2 of 2 ready");

    // `kubectl scale` writes spec.replicas through /scale; the operator
    // carries it to the Deployment and the status follows.
    let out = k(&["scale", "-n", &ns, "webapp/shop", "--replicas=3"]);
    assert!(out.success, "{}", out.stderr);
    assert!(
        out.stdout.contains("webapp.operator.test/shop scaled"),
        "{}",
        out.stdout
    );
    wait_deployment("registry.test/shop:1.1", 3)
        .await
        .expect("the Deployment scaled");
    wait_status(3).await.expect("status: 3 of 3 ready");
    let out = k(&[
        "get",
        "-n",
        &ns,
        "webapp/shop",
        "--subresource=scale",
        "-o",
        "jsonpath={.spec.replicas} {.status.replicas} {.status.selector}",
    ]);
    assert!(out.success, "{}", out.stderr);
    assert_eq!(out.stdout, "3 3 app.kubernetes.io/instance=shop");

    // A misspelt field is refused by strict validation, as upstream does.
    let out = apply(
        "typo",
        1,
        "registry.test/shop:1.0",
        "  imagePullPolcy: Always\n",
    );
    assert!(!out.success, "{}", out.stdout);
    assert!(
        out.stderr.contains(&format!(
            "Error from server (BadRequest): error when creating \"{file}\": WebApp in version \"v1\" cannot be handled as a WebApp: strict decoding error: unknown field \"spec.imagePullPolcy\""
        )),
        "{}",
        out.stderr
    );
    // ... also when it changes an existing WebApp.
    let out = apply(
        "shop",
        3,
        "registry.test/shop:1.1",
        "  imagePullPolcy: Always\n",
    );
    assert!(!out.success, "{}", out.stdout);
    // Upstream's patcher refuses the patched object as an invalid `patch`
    // of no kind, which kubectl prints as "The request is invalid".
    let err = out.stderr.trim_end();
    assert!(
        err.starts_with("The request is invalid: patch: Invalid value: \"{"),
        "{err}"
    );
    assert!(
        err.ends_with("\": strict decoding error: unknown field \"spec.imagePullPolcy\""),
        "{err}"
    );

    // Deleting the WebApp lets the garbage collector delete its Deployment.
    let out = k(&["delete", "-n", &ns, "webapp", "shop"]);
    assert!(out.success, "{}", out.stderr);
    let collected = eventually(Duration::from_secs(30), || async {
        matches!(deployments.get_opt("shop").await, Ok(None)).then_some(())
    })
    .await;
    assert!(collected.is_some(), "the owned Deployment is collected");
}
