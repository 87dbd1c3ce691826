//! CRDs of well-known projects on our apiserver, driven by the real kubectl:
//! cert-manager's `Certificate`, the Prometheus Operator's `ServiceMonitor`
//! and Argo's `Workflow` (reduced but faithful schemas in
//! `tests/fixtures/crds/`, see its README). Each installs with
//! `kubectl apply -f`, becomes Established, takes a realistic object,
//! refuses an invalid one with a 422 naming the field (wrong type, missing
//! required field, value outside an enum or pattern), prints its printer
//! columns in `kubectl get` and is `kubectl explain`ed.

use std::path::{Path, PathBuf};

use serde_json::Value;
use tests::harness::{kubectl_cached, ApiServer, Etcd, Http, KubectlOutput};

/// A cluster plus the real kubectl with one discovery cache.
struct Cluster {
    _etcd: Etcd,
    api: ApiServer,
    http: Http,
    dir: tempfile::TempDir,
}

impl Cluster {
    async fn start() -> Cluster {
        let etcd = Etcd::start().await.expect("etcd");
        let api = ApiServer::start(&etcd).await.expect("apiserver");
        let http = api.http();
        let dir = tempfile::tempdir().expect("tmp");
        Cluster {
            _etcd: etcd,
            api,
            http,
            dir,
        }
    }

    fn kubectl(&self, args: &[&str]) -> KubectlOutput {
        kubectl_cached(&self.api.url, &self.dir.path().join("cache"), args).expect("kubectl runs")
    }

    /// `kubectl apply -f` of the fixture and waits until it is Established.
    fn install(&self, fixture: &str, crd: &str) {
        let path = fixtures().join(fixture);
        let out = self.kubectl(&["apply", "-f", path.to_str().unwrap_or_default()]);
        assert!(out.success, "{}", out.stderr);
        assert!(
            out.stdout.contains(&format!(
                "customresourcedefinition.apiextensions.k8s.io/{crd} created"
            )),
            "{}",
            out.stdout
        );
        let out = self.kubectl(&[
            "wait",
            "--for=condition=Established",
            &format!("crd/{crd}"),
            "--timeout=20s",
        ]);
        assert!(out.success, "{}", out.stderr);
    }

    /// `kubectl apply -f` of a YAML manifest.
    fn apply(&self, name: &str, yaml: &str) -> KubectlOutput {
        let path = self.dir.path().join(name);
        std::fs::write(&path, yaml).expect("write the manifest");
        self.kubectl(&["apply", "-f", path.to_str().unwrap_or_default()])
    }

    /// POSTs `yaml` to `collection` and expects a 422 whose causes name
    /// `field` with a message containing `message`.
    async fn refused(&self, collection: &str, yaml: &str, field: &str, message: &str) {
        let body: Value = serde_yaml_ng::from_str(yaml).expect("the manifest is YAML");
        let r = self.http.post(collection, &body).await.expect("create");
        assert_eq!(r.status, 422, "{}", r.body);
        assert_eq!(r.body["reason"], "Invalid", "{}", r.body);
        let causes = r.body["details"]["causes"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert!(
            causes
                .iter()
                .any(|c| c["field"] == field
                    && c["message"].as_str().unwrap_or("").contains(message)),
            "no cause {field}: {message} in {}",
            r.body
        );
    }
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/crds")
}

/// The header of `kubectl get`, split on whitespace.
fn header(out: &KubectlOutput) -> Vec<String> {
    out.stdout
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

/// Whether `kubectl explain` lists `field` as `what` (e.g. `<string>
/// -required-`); kubectl separates the two by a tab in some views and not
/// in others.
fn lists(out: &KubectlOutput, field: &str, what: &str) -> bool {
    let want = format!("{field}{what}");
    out.stdout
        .lines()
        .any(|l| l.trim().replace('\t', "").starts_with(&want))
}

/// Row `n` (0 is the header) of `kubectl get`, split on two or more spaces
/// (a column may hold a phrase).
fn row(out: &KubectlOutput, n: usize) -> Vec<String> {
    out.stdout
        .lines()
        .nth(n)
        .unwrap_or_default()
        .split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_string)
        .collect()
}

const CERTIFICATE: &str = "apiVersion: cert-manager.io/v1
kind: Certificate
metadata:
  name: example-com
  namespace: default
spec:
  secretName: example-com-tls
  duration: 2160h
  renewBefore: 360h
  commonName: example.com
  isCA: false
  privateKey:
    algorithm: ECDSA
    size: 256
    rotationPolicy: Always
  usages:
    - server auth
    - client auth
  dnsNames:
    - example.com
    - www.example.com
  subject:
    organizations:
      - Example Inc.
  issuerRef:
    name: letsencrypt-prod
    kind: ClusterIssuer
    group: cert-manager.io
  secretTemplate:
    labels:
      team: web
";

#[tokio::test]
async fn cert_manager_certificate() {
    let c = Cluster::start().await;
    c.install(
        "cert-manager-certificate.yaml",
        "certificates.cert-manager.io",
    );
    let out = c.apply("cert.yaml", CERTIFICATE);
    assert!(out.success, "{}", out.stderr);
    assert!(
        out.stdout
            .contains("certificate.cert-manager.io/example-com created"),
        "{}",
        out.stdout
    );
    // What cert-manager writes once the certificate is issued.
    let certs = "/apis/cert-manager.io/v1/namespaces/default/certificates";
    let status = serde_json::json!({"status": {
        "conditions": [{"type": "Ready", "status": "True", "reason": "Ready",
                        "message": "Certificate is up to date and has not expired",
                        "lastTransitionTime": "2026-01-01T00:00:00Z", "observedGeneration": 1}],
        "notAfter": "2026-04-01T00:00:00Z", "notBefore": "2026-01-01T00:00:00Z",
        "renewalTime": "2026-03-17T00:00:00Z", "revision": 1}});
    let r = c
        .http
        .patch(
            &format!("{certs}/example-com/status"),
            "application/merge-patch+json",
            &status,
        )
        .await
        .expect("status");
    assert_eq!(r.status, 200, "{}", r.body);

    let out = c.kubectl(&["get", "certificates"]);
    assert!(out.success, "{}", out.stderr);
    assert_eq!(header(&out), ["NAME", "READY", "SECRET", "AGE"]);
    assert_eq!(
        row(&out, 1)[..3],
        ["example-com", "True", "example-com-tls"]
    );
    let out = c.kubectl(&["get", "cert", "-o", "wide"]);
    assert!(out.success, "{}", out.stderr);
    assert_eq!(
        header(&out),
        ["NAME", "READY", "SECRET", "ISSUER", "STATUS", "AGE"]
    );
    assert_eq!(
        row(&out, 1)[..5],
        [
            "example-com",
            "True",
            "example-com-tls",
            "letsencrypt-prod",
            "Certificate is up to date and has not expired"
        ]
    );

    // Missing a required field, a value outside an enum, a wrong type.
    let missing = CERTIFICATE.replace("  secretName: example-com-tls\n", "");
    c.refused(certs, &missing, "spec.secretName", "Required value")
        .await;
    let bad_enum = CERTIFICATE.replace("algorithm: ECDSA", "algorithm: DSA");
    c.refused(
        certs,
        &bad_enum,
        "spec.privateKey.algorithm",
        "Unsupported value: \"DSA\": supported values: \"RSA\", \"ECDSA\", \"Ed25519\"",
    )
    .await;
    let bad_usage = CERTIFICATE.replace("- client auth", "- client-auth");
    c.refused(
        certs,
        &bad_usage,
        "spec.usages[1]",
        "Unsupported value: \"client-auth\"",
    )
    .await;
    let bad_type = CERTIFICATE.replace("isCA: false", "isCA: \"no\"");
    c.refused(
        certs,
        &bad_type,
        "spec.isCA",
        "Invalid value: \"string\": spec.isCA in body must be of type boolean: \"string\"",
    )
    .await;

    let out = c.kubectl(&["explain", "certificates.spec.privateKey"]);
    assert!(out.success, "{}", out.stderr);
    assert!(
        out.stdout.contains("KIND:       Certificate"),
        "{}",
        out.stdout
    );
    assert!(lists(&out, "algorithm", "<string>"), "{}", out.stdout);
    assert!(
        out.stdout.contains("enum: RSA, ECDSA, Ed25519"),
        "{}",
        out.stdout
    );
    let out = c.kubectl(&["explain", "certificate.spec"]);
    assert!(out.success, "{}", out.stderr);
    assert!(
        lists(&out, "secretName", "<string> -required-"),
        "{}",
        out.stdout
    );
}

const SERVICE_MONITOR: &str = "apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata:
  name: web
  namespace: default
  labels:
    release: prometheus
spec:
  jobLabel: app.kubernetes.io/name
  selector:
    matchLabels:
      app.kubernetes.io/name: web
    matchExpressions:
      - key: tier
        operator: In
        values: [frontend]
  namespaceSelector:
    matchNames: [default, web]
  endpoints:
    - port: metrics
      path: /metrics
      interval: 30s
      scrapeTimeout: 10s
      scheme: https
      honorLabels: true
      targetPort: 9090
      tlsConfig:
        insecureSkipVerify: false
        serverName: web.default.svc
      params:
        module: [http_2xx]
      metricRelabelings:
        - sourceLabels: [__name__]
          regex: go_gc_.*
          action: drop
        - sourceLabels: [pod]
          targetLabel: instance
";

#[tokio::test]
async fn prometheus_service_monitor() {
    let c = Cluster::start().await;
    c.install(
        "prometheus-servicemonitor.yaml",
        "servicemonitors.monitoring.coreos.com",
    );
    let out = c.apply("smon.yaml", SERVICE_MONITOR);
    assert!(out.success, "{}", out.stderr);
    let smons = "/apis/monitoring.coreos.com/v1/namespaces/default/servicemonitors";
    let stored = c.http.get(&format!("{smons}/web")).await.expect("get").body;
    // The schema's default fills the relabeling that named no action.
    assert_eq!(
        stored["spec"]["endpoints"][0]["metricRelabelings"][1]["action"],
        "replace"
    );
    assert_eq!(stored["spec"]["endpoints"][0]["targetPort"], 9090);

    // No printer columns: kubectl shows upstream's default, name and age.
    let out = c.kubectl(&["get", "smon"]);
    assert!(out.success, "{}", out.stderr);
    assert_eq!(header(&out), ["NAME", "AGE"]);
    assert_eq!(row(&out, 1)[0], "web");

    let bad_type = SERVICE_MONITOR.replace("honorLabels: true", "honorLabels: \"yes\"");
    c.refused(
        smons,
        &bad_type,
        "spec.endpoints[0].honorLabels",
        "Invalid value: \"string\": spec.endpoints[0].honorLabels in body must be of type boolean: \"string\"",
    )
    .await;
    let bad_pattern = SERVICE_MONITOR.replace("interval: 30s", "interval: 30 seconds");
    c.refused(
        smons,
        &bad_pattern,
        "spec.endpoints[0].interval",
        "Invalid value: \"30 seconds\": spec.endpoints[0].interval in body should match",
    )
    .await;
    let missing = SERVICE_MONITOR.replace("        operator: In\n", "");
    c.refused(
        smons,
        &missing,
        "spec.selector.matchExpressions[0].operator",
        "Required value",
    )
    .await;
    let bad_enum = SERVICE_MONITOR.replace("action: drop", "action: delete");
    c.refused(
        smons,
        &bad_enum,
        "spec.endpoints[0].metricRelabelings[0].action",
        "Unsupported value: \"delete\"",
    )
    .await;

    let out = c.kubectl(&["explain", "servicemonitors.spec.endpoints"]);
    assert!(out.success, "{}", out.stderr);
    assert!(
        out.stdout.contains("KIND:       ServiceMonitor"),
        "{}",
        out.stdout
    );
    assert!(lists(&out, "honorLabels", "<boolean>"), "{}", out.stdout);
    assert!(lists(&out, "targetPort", "<Object>"), "{}", out.stdout);
    assert!(
        out.stdout
            .contains("Interval at which Prometheus scrapes the metrics from the target."),
        "{}",
        out.stdout
    );
}

const WORKFLOW: &str = "apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  name: dag-diamond
  namespace: default
spec:
  entrypoint: diamond
  serviceAccountName: argo
  arguments:
    parameters:
      - name: message
        value: hello
  podGC:
    strategy: OnWorkflowSuccess
  ttlStrategy:
    secondsAfterCompletion: 3600
  templates:
    - name: diamond
      dag:
        tasks:
          - name: A
            template: echo
            arguments:
              parameters: [{name: message, value: A}]
          - name: B
            depends: A
            template: echo
            withItems:
              - 1
              - {os: debian, version: 12}
              - three
          - name: C
            dependencies: [A]
            template: echo
          - name: D
            depends: B && C
            template: echo
    - name: echo
      retryStrategy:
        limit: 3
        retryPolicy: OnFailure
      inputs:
        parameters:
          - name: message
      container:
        image: alpine:3.20
        command: [echo, '{{inputs.parameters.message}}']
        resources:
          limits:
            memory: 32Mi
";

#[tokio::test]
async fn argo_workflow() {
    let c = Cluster::start().await;
    c.install("argo-workflow.yaml", "workflows.argoproj.io");
    let out = c.apply("wf.yaml", WORKFLOW);
    assert!(out.success, "{}", out.stderr);
    let wfs = "/apis/argoproj.io/v1alpha1/namespaces/default/workflows";
    let stored = c
        .http
        .get(&format!("{wfs}/dag-diamond"))
        .await
        .expect("get")
        .body;
    // Where the schema keeps unknown fields, everything is kept as written.
    let item = &stored["spec"]["templates"][0]["dag"]["tasks"][1]["withItems"][1];
    assert_eq!(item["os"], "debian");
    let container = &stored["spec"]["templates"][1]["container"];
    assert_eq!(container["resources"]["limits"]["memory"], "32Mi");
    // What the workflow controller writes (no status subresource: the
    // main resource carries it).
    let r = c
        .http
        .patch(
            &format!("{wfs}/dag-diamond"),
            "application/merge-patch+json",
            &serde_json::json!({"status": {"phase": "Running", "startedAt": "2026-01-01T00:00:00Z",
                "message": "child 'A' running", "progress": "1/4",
                "nodes": {"dag-diamond": {"id": "dag-diamond", "phase": "Running", "type": "DAG"}}}}),
        )
        .await
        .expect("status");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["status"]["nodes"]["dag-diamond"]["type"], "DAG");

    let out = c.kubectl(&["get", "wf"]);
    assert!(out.success, "{}", out.stderr);
    assert_eq!(header(&out), ["NAME", "STATUS", "AGE"]);
    assert_eq!(row(&out, 1)[..2], ["dag-diamond", "Running"]);
    let out = c.kubectl(&["get", "workflows", "-o", "wide"]);
    assert!(out.success, "{}", out.stderr);
    assert_eq!(header(&out), ["NAME", "STATUS", "AGE", "MESSAGE"]);
    assert_eq!(row(&out, 1)[3], "child 'A' running");

    let missing = WORKFLOW.replace("          - name: C\n", "          - template: C\n");
    c.refused(
        wfs,
        &missing,
        "spec.templates[0].dag.tasks[2].name",
        "Required value",
    )
    .await;
    let bad_enum = WORKFLOW.replace("retryPolicy: OnFailure", "retryPolicy: Sometimes");
    c.refused(
        wfs,
        &bad_enum,
        "spec.templates[1].retryStrategy.retryPolicy",
        "Unsupported value: \"Sometimes\": supported values: \"Always\", \"OnFailure\", \"OnError\", \"OnTransientError\"",
    )
    .await;
    let bad_type = WORKFLOW.replace("secondsAfterCompletion: 3600", "secondsAfterCompletion: 1h");
    c.refused(
        wfs,
        &bad_type,
        "spec.ttlStrategy.secondsAfterCompletion",
        "Invalid value: \"string\": spec.ttlStrategy.secondsAfterCompletion in body must be of type integer: \"string\"",
    )
    .await;
    let no_image = WORKFLOW.replace("        image: alpine:3.20\n", "");
    c.refused(
        wfs,
        &no_image,
        "spec.templates[1].container.image",
        "Required value",
    )
    .await;

    let out = c.kubectl(&["explain", "workflows.spec.templates.dag.tasks"]);
    assert!(out.success, "{}", out.stderr);
    assert!(
        out.stdout.contains("KIND:       Workflow"),
        "{}",
        out.stdout
    );
    assert!(lists(&out, "name", "<string> -required-"), "{}", out.stdout);
    assert!(lists(&out, "withItems", "<[]Object>"), "{}", out.stdout);
    let out = c.kubectl(&["explain", "workflows.spec"]);
    assert!(out.success, "{}", out.stderr);
    assert!(
        out.stdout
            .contains("The name of the template which is the starting point of the workflow."),
        "{}",
        out.stdout
    );
}
