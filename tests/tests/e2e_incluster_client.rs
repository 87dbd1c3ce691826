//! The official Python client inside a pod, configured the in-cluster way
//! (`config.load_incluster_config()`: the `KUBERNETES_SERVICE_HOST`/`_PORT`
//! variables the kubelet injects, the projected ServiceAccount token and the
//! cluster CA from `/var/run/secrets/kubernetes.io/serviceaccount/`), reaches
//! the apiserver through the `kubernetes` Service's ClusterIP and is
//! authorized as `system:serviceaccount:NS:NAME`:
//!
//! - before any binding, listing pods is refused with 403 and upstream's
//!   message naming the ServiceAccount;
//! - after a RoleBinding of the `view` ClusterRole in its namespace, the same
//!   program lists the pods of that namespace (its own among them) and is
//!   still refused in another namespace.
//!
//! The lab's images are busybox only, so the pod takes Python from the host
//! through read-only hostPath volumes (every lab node shares the host's
//! filesystem): the virtualenv `hack/test.sh` makes in `target/pyenv` with
//! the client library, the interpreter it was made from, and the shared
//! libraries and dynamic loader from `/usr`.

use std::path::PathBuf;
use std::time::Duration;

use tests::lab::{wait_until, Lab};

/// What the pod runs: lists pods in its own namespace and in `kube-system`
/// and prints one line per attempt, `ok NS NAMES` or `error NS STATUS
/// MESSAGE`.
const PROGRAM: &str = r#"
import json
from kubernetes import client, config
from kubernetes.client.rest import ApiException

config.load_incluster_config()
api = client.CoreV1Api()
own = open("/var/run/secrets/kubernetes.io/serviceaccount/namespace").read().strip()
for ns in (own, "kube-system"):
    try:
        pods = api.list_namespaced_pod(ns)
        print("ok", ns, ",".join(sorted(p.metadata.name for p in pods.items)), flush=True)
    except ApiException as e:
        message = json.loads(e.body).get("message", "") if e.body else ""
        print("error", ns, e.status, message, flush=True)
"#;

/// The virtualenv `hack/test.sh` makes, and the installation of the
/// interpreter it was made from (`/usr`, or a pyenv-built Python elsewhere).
struct Python {
    venv: String,
    home: String,
}

fn python() -> Option<Python> {
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../target/pyenv")
        .canonicalize()
        .ok()?;
    let has_client = std::fs::read_dir(venv.join("lib"))
        .ok()?
        .filter_map(Result::ok)
        .any(|d| d.path().join("site-packages/kubernetes").is_dir());
    let interpreter = venv.join("bin/python").canonicalize().ok()?;
    let home = interpreter.parent()?.parent()?.to_path_buf();
    has_client.then(|| Python {
        venv: venv.to_string_lossy().into_owned(),
        home: home.to_string_lossy().into_owned(),
    })
}

/// The pod: the interpreter's installation and the virtualenv at their own
/// paths (the virtualenv's symlinks and `pyvenv.cfg` name them), `/usr` for
/// the shared libraries, `/lib` and `/lib64` for the dynamic loader.
fn pod_yaml(name: &str, ns: &str, python: &Python) -> String {
    let program = PROGRAM
        .lines()
        .map(|l| format!("      {l}"))
        .collect::<Vec<_>>()
        .join("\n");
    let mut mounts = vec![
        ("usr", "/usr", "/usr"),
        ("lib", "/usr/lib", "/lib"),
        ("lib64", "/usr/lib64", "/lib64"),
        ("venv", python.venv.as_str(), python.venv.as_str()),
    ];
    if !python.home.starts_with("/usr") {
        mounts.push(("home", python.home.as_str(), python.home.as_str()));
    }
    let volume_mounts: String = mounts
        .iter()
        .map(|(n, _, at)| format!("    - {{name: {n}, mountPath: {at}, readOnly: true}}\n"))
        .collect();
    let volumes: String = mounts
        .iter()
        .map(|(n, from, _)| {
            format!("  - name: {n}\n    hostPath: {{path: {from}, type: Directory}}\n")
        })
        .collect();
    let venv = &python.venv;
    format!(
        r#"apiVersion: v1
kind: Pod
metadata:
  name: {name}
  namespace: {ns}
spec:
  serviceAccountName: reader
  restartPolicy: Never
  containers:
  - name: python
    image: busybox:1.36
    command: ["{venv}/bin/python", "-c"]
    args:
    - |
{program}
    volumeMounts:
{volume_mounts}  volumes:
{volumes}"#
    )
}

/// Runs the program in a new pod and returns its output once it ended.
fn run(lab: &Lab, name: &str, ns: &str, python: &Python) -> String {
    lab.apply(&pod_yaml(name, ns, python));
    let phase = wait_until(Duration::from_secs(90), || {
        let pod = lab.get_json(&["pod", name, "-n", ns]);
        match pod["status"]["phase"].as_str() {
            Some(p @ ("Succeeded" | "Failed")) => Some(p.to_string()),
            _ => None,
        }
    });
    let (_, logs, _) = lab.kubectl(&["logs", name, "-n", ns]);
    if phase.as_deref() != Some("Succeeded") {
        lab.kubectl(&["describe", "pod", name, "-n", ns]);
        panic!("pod {name} ended {phase:?}; logs:\n{logs}");
    }
    logs
}

#[test]
fn the_python_client_in_a_pod_uses_its_service_account() {
    let Some(python) = python() else {
        prerequisites::missing(
            "the_python_client_in_a_pod_uses_its_service_account",
            "target/pyenv with the kubernetes client (hack/test.sh makes it)",
        );
        return;
    };
    let Some(lab) = Lab::up("e2e-incluster", 1) else {
        return;
    };
    let ns = "incluster";
    lab.kubectl_ok(&["create", "namespace", ns]);
    lab.kubectl_ok(&["create", "serviceaccount", "reader", "-n", ns]);

    // No binding yet: the apiserver knows who is asking and refuses.
    let before = run(&lab, "before", ns, &python);
    let expected = format!(
        "error {ns} 403 pods is forbidden: User \"system:serviceaccount:{ns}:reader\" \
         cannot list resource \"pods\" in API group \"\" in the namespace \"{ns}\""
    );
    assert!(
        before.lines().any(|l| l == expected),
        "want {expected:?} in:\n{before}"
    );

    lab.kubectl_ok(&[
        "create",
        "rolebinding",
        "reader-view",
        "-n",
        ns,
        "--clusterrole=view",
        &format!("--serviceaccount={ns}:reader"),
    ]);
    let after = run(&lab, "after", ns, &python);
    let listed = after
        .lines()
        .find_map(|l| l.strip_prefix(&format!("ok {ns} ")))
        .unwrap_or_else(|| panic!("no list of {ns} in:\n{after}"));
    let names: Vec<&str> = listed.split(',').collect();
    assert!(
        names.contains(&"after") && names.contains(&"before"),
        "{names:?}"
    );
    // The binding is namespaced: kube-system stays closed.
    assert!(
        after
            .lines()
            .any(|l| l.starts_with("error kube-system 403 ")),
        "{after}"
    );
}
