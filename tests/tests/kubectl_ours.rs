//! Our kubectl against the real one: every invocation here runs with both
//! binaries against the same apiserver and must print the same stdout and
//! stderr and exit with the same code (ages masked, since the two runs
//! happen a moment apart).
//!
//! Read-only commands run as they are. Commands that change the cluster run
//! once per binary on objects of their own: an `@` in the arguments (and in
//! manifests) becomes `ours` or `real`, and is put back in the outputs
//! before they are compared. Client-side apply is checked across binaries:
//! the real kubectl re-applying what ours applied must find it `unchanged`,
//! which holds only if our last-applied annotation is byte-identical.

use std::path::{Path, PathBuf};

use tests::harness::{kubectl_cached, our_kubectl_cached, ApiServer, Etcd, KubectlOutput};

/// Runs both binaries and compares.
struct Both {
    url: String,
    dir: tempfile::TempDir,
    cache_ours: tempfile::TempDir,
    cache_real: tempfile::TempDir,
    compared: usize,
}

/// Ages in tables (`5s`, `2m3s`, `10d`) differ between two runs, and so
/// does the padding after them (`9s` then `10s` one second later): an age
/// and the spaces after it become `AGE `.
fn mask_ages(s: &str) -> String {
    s.lines()
        .map(|l| {
            l.split_inclusive(' ')
                .map(|w| {
                    let t = w.trim_end();
                    let is_age = !t.is_empty()
                        && t.chars().next().is_some_and(|c| c.is_ascii_digit())
                        && t.chars().all(|c| c.is_ascii_digit() || "smhdy".contains(c))
                        && t.chars().last().is_some_and(|c| "smhdy".contains(c));
                    if is_age {
                        let gap = if w.len() > t.len() { " " } else { "" };
                        format!("AGE{gap}")
                    } else {
                        w.to_string()
                    }
                })
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A klog line's header (`W1204 15:19:31.853632   14104 prune.go:71] `)
/// carries the time and the process id: both become zeros.
fn mask_klog(s: &str) -> String {
    s.lines()
        .map(|l| {
            let b = l.as_bytes();
            let is_klog = b.len() > 30
                && b"IWEF".contains(&b[0])
                && b[1..5].iter().all(u8::is_ascii_digit)
                && b[5] == b' '
                && b[6..21]
                    .iter()
                    .all(|c| c.is_ascii_digit() || b":.".contains(c))
                && b[21] == b' ';
            if !is_klog {
                return l.to_string();
            }
            // After the time: the padded process id, then the source site.
            let site = l[21..].trim_start_matches(|c: char| c == ' ' || c.is_ascii_digit());
            format!("{}0000 00:00:00.000000 PID {site}", &l[..1])
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn normalize(out: &KubectlOutput, who: &str) -> (String, String, bool) {
    let put_back = |s: &str| mask_klog(&mask_ages(&s.replace(who, "@")));
    (put_back(&out.stdout), put_back(&out.stderr), out.success)
}

impl Both {
    /// Both binaries against the server at `url`, each with its own
    /// discovery cache.
    fn new(url: &str) -> Both {
        Both {
            url: url.to_string(),
            dir: tempfile::tempdir().expect("dir"),
            cache_ours: tempfile::tempdir().expect("cache"),
            cache_real: tempfile::tempdir().expect("cache"),
            compared: 0,
        }
    }

    fn run(&self, ours: bool, args: &[String]) -> KubectlOutput {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        if ours {
            our_kubectl_cached(&self.url, self.cache_ours.path(), &args).expect("our kubectl runs")
        } else {
            kubectl_cached(&self.url, self.cache_real.path(), &args).expect("kubectl runs")
        }
    }

    fn expand(args: &[&str], who: &str) -> Vec<String> {
        args.iter().map(|a| a.replace('@', who)).collect()
    }

    /// Same command (with `@` names expanded per binary): same output.
    fn same(&mut self, args: &[&str]) -> String {
        let ours = self.run(true, &Both::expand(args, "ours"));
        let real = self.run(false, &Both::expand(args, "real"));
        let (o, r) = (normalize(&ours, "ours"), normalize(&real, "real"));
        assert_eq!(
            o.2, r.2,
            "exit status of {args:?}\nours: {o:?}\nreal: {r:?}"
        );
        assert_eq!(o.0, r.0, "stdout of {args:?}");
        assert_eq!(o.1, r.1, "stderr of {args:?}");
        self.compared += 1;
        o.0
    }

    /// Writes a manifest per binary (`@` expanded); returns its path with `@`.
    fn manifest(&self, name: &str, text: &str) -> String {
        for who in ["ours", "real"] {
            let path = self.dir.path().join(name.replace('@', who));
            std::fs::write(&path, text.replace('@', who)).expect("write manifest");
        }
        self.dir.path().join(name).display().to_string()
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

const APP: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: 'busybox:1.36', ports: [{containerPort: 80}]}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, annotations: {note: 'a: colon', long: 'a long value with spaces that goes past the eighty column mark so go-yaml folds it somewhere'}}
data: {greeting: hello, port: \"80\", empty: \"\", flag: \"true\", multi: \"line one\\nline two\\n\"}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: 80}]
";

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).expect("write");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ours_prints_what_upstream_prints() {
    let etcd = Etcd::start().await.expect("etcd");
    let api = ApiServer::start(&etcd).await.expect("apiserver");
    let mut b = Both::new(&api.url);

    // Client-side apply by ours; the real kubectl must see nothing to change.
    let app = b.path("app.yaml");
    write(&app, APP);
    let app = app.display().to_string();
    let out = b.run(true, &["apply".into(), "-f".into(), app.clone()]);
    assert!(out.success, "{}", out.stderr);
    assert_eq!(
        out.stdout,
        "deployment.apps/web created\nconfigmap/settings created\nservice/web created\n"
    );
    let out = b.run(false, &["apply".into(), "-f".into(), app.clone()]);
    assert_eq!(
        out.stdout,
        "deployment.apps/web unchanged\nconfigmap/settings unchanged\nservice/web unchanged\n",
        "{}",
        out.stderr
    );

    // A second apply that drops a key and changes fields: ours patches
    // three-way, and the real kubectl then has nothing left to do.
    let changed = APP
        .replace("replicas: 2", "replicas: 1")
        .replace("greeting: hello, ", "");
    write(&b.path("app.yaml"), &changed);
    let out = b.run(true, &["apply".into(), "-f".into(), app.clone()]);
    assert_eq!(
        out.stdout,
        "deployment.apps/web configured\nconfigmap/settings configured\nservice/web unchanged\n",
        "{}",
        out.stderr
    );
    let out = b.run(false, &["apply".into(), "-f".into(), app.clone()]);
    assert_eq!(
        out.stdout,
        "deployment.apps/web unchanged\nconfigmap/settings unchanged\nservice/web unchanged\n",
        "{}",
        out.stderr
    );
    let out = b.run(
        true,
        &[
            "get".into(),
            "cm".into(),
            "settings".into(),
            "-o".into(),
            "jsonpath={.data}".into(),
        ],
    );
    assert!(!out.stdout.contains("greeting"), "{}", out.stdout);

    // get: tables from the server, every printer, selectors, errors.
    for args in [
        &["get", "deploy"][..],
        &["get", "deployments.apps", "web"],
        &["get", "deployment.v1.apps", "web", "-o", "wide"],
        &["get", "svc"],
        &["get", "cm", "--show-labels"],
        &["get", "all"],
        &["get", "all", "-A"],
        &["get", "deploy,svc,cm"],
        &["get", "deploy/web", "svc/web"],
        &["get", "pods"],
        &["get", "po", "-A"],
        &["get", "nodes"],
        &["get", "ns", "--show-labels"],
        &["get", "ns", "--sort-by=.metadata.name"],
        &["get", "cm", "-A", "--sort-by=.metadata.name"],
        &["get", "cm", "-n", "kube-system"],
        &["get", "cm", "-l", "app=none"],
        &["get", "cm", "--field-selector", "metadata.name=settings"],
        &["get", "cm", "settings", "-o", "yaml"],
        &["get", "deploy", "web", "-o", "yaml"],
        &["get", "svc", "web", "-o", "json"],
        &["get", "svc,cm", "-o", "yaml"],
        &["get", "cm", "-o", "name"],
        &["get", "deploy,svc", "-o", "name"],
        &[
            "get",
            "deploy",
            "web",
            "-o",
            "jsonpath={.spec.template.spec.containers[*].name}",
        ],
        &[
            "get",
            "cm",
            "-o",
            "jsonpath={range .items[*]}{.metadata.name}{\"\\n\"}{end}",
        ],
        &[
            "get",
            "svc",
            "-o",
            "custom-columns=NAME:.metadata.name,PORT:.spec.ports[0].port,X:.nope",
        ],
        &["get", "pod", "nope"],
        &["get", "deploy", "web", "nope"],
        &["get", "foo"],
        &["get"],
        &["get", "cm", "-o", "yamlx"],
        &["get", "pod", "nope", "--ignore-not-found"],
        &["api-resources"],
        &["api-resources", "--namespaced=false"],
        &["api-resources", "-o", "name"],
        &["api-versions"],
        &["auth", "whoami"],
        &["auth", "whoami", "-o", "json"],
        &["auth", "whoami", "-o", "yaml"],
        &["auth", "can-i", "create", "pods"],
        &["auth", "can-i", "get", "deployments.apps", "web"],
        &["auth", "can-i", "get", "deployments.apps/web"],
        &["auth", "can-i", "list", "nodes", "-A"],
        &["auth", "can-i", "get", "/healthz"],
        &["describe", "svc", "web"],
        &["describe", "deploy", "web"],
        &["describe", "deployments.apps/web"],
        &["describe", "ns", "default"],
        &["describe", "ns", "kube-system", "--show-events=false"],
    ] {
        b.same(args);
    }

    // Changes, each binary on its own objects.
    let cm = b.manifest(
        "cm-@.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm-@}\ndata: {a: \"1\"}\n",
    );
    let bad = b.manifest(
        "bad-@.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: bad-@}\nspec: {containers: [{name: c}]}\n",
    );
    for args in [
        &["create", "-f", cm.as_str()][..],
        &["create", "-f", cm.as_str()],
        &["apply", "-f", bad.as_str()],
        &["create", "-f", bad.as_str()],
        &["label", "cm", "cm-@", "team=a"],
        &["label", "cm", "cm-@", "team=b"],
        &["label", "cm", "cm-@", "team=b", "--overwrite"],
        &["label", "cm", "cm-@", "team=b", "--overwrite"],
        &["label", "cm", "cm-@", "gone-"],
        &["label", "cm", "cm-@", "team-"],
        &["annotate", "cm", "cm-@", "note=x"],
        &["annotate", "cm", "cm-@", "note-"],
        &["label", "cm", "nope-@", "a=b"],
        &["patch", "cm", "cm-@", "-p", "{\"data\":{\"b\":\"2\"}}"],
        &["patch", "cm", "cm-@", "-p", "{\"data\":{\"b\":\"2\"}}"],
        &[
            "patch",
            "cm",
            "cm-@",
            "--type",
            "merge",
            "-p",
            "{\"data\":{\"b\":null}}",
        ],
        &[
            "patch",
            "cm",
            "cm-@",
            "--type",
            "json",
            "-p",
            "[{\"op\":\"test\",\"path\":\"/data/a\",\"value\":\"9\"}]",
        ],
        &["patch", "cm", "nope-@", "-p", "{}"],
        &["create", "deployment", "d-@", "--image=nginx:1.25"],
        &[
            "create",
            "deployment",
            "d-@",
            "--image=nginx:1.25",
            "--replicas=2",
            "--dry-run=client",
            "-o",
            "yaml",
        ],
        &[
            "create",
            "job",
            "j-@",
            "--image=busybox:1.36",
            "--",
            "echo",
            "hi",
        ],
        &[
            "create",
            "job",
            "j-@",
            "--image=busybox:1.36",
            "--dry-run=client",
            "-o",
            "yaml",
            "--",
            "sh",
            "-c",
            "true",
        ],
        &["create", "job", "j2-@"],
        &["scale", "deploy", "d-@", "--replicas=3"],
        &["scale", "deploy", "nope-@", "--replicas=3"],
        &["create", "namespace", "ns-@"],
        &[
            "create",
            "configmap",
            "lit-@",
            "--from-literal=k=v",
            "--dry-run=client",
            "-o",
            "yaml",
        ],
        &[
            "create",
            "secret",
            "generic",
            "s-@",
            "--from-literal=k=v",
            "-o",
            "name",
        ],
        &["apply", "-f", cm.as_str(), "--dry-run=server"],
        &["apply", "-f", cm.as_str(), "--server-side"],
        &[
            "apply",
            "-f",
            cm.as_str(),
            "--server-side",
            "--force-conflicts",
            "-o",
            "name",
        ],
        &["replace", "-f", cm.as_str()],
        &["delete", "cm", "cm-@"],
        &["delete", "cm", "cm-@"],
        &["delete", "deploy", "d-@", "--wait=false"],
        &["delete", "cm"],
        &["delete", "cm", "-l", "nothing=here"],
        &["delete", "ns", "ns-@", "--wait=false"],
        &["delete", "secret/s-@"],
    ] {
        b.same(args);
    }

    // edit: the editor is a command that changes the file (or not).
    b.same(&["create", "configmap", "ed-@", "--from-literal=k=before"]);
    // The child processes inherit the editor; nothing else in this test
    // reads these variables.
    std::env::set_var("KUBE_EDITOR", "sed -i -e s/before/after/");
    b.same(&["edit", "cm", "ed-@"]);
    b.same(&["get", "cm", "ed-@", "-o", "jsonpath={.data.k}"]);
    b.same(&["edit", "cm/ed-@"]);
    std::env::set_var("KUBE_EDITOR", "true");
    b.same(&["edit", "cm", "nope-@"]);
    std::env::remove_var("KUBE_EDITOR");

    // Workloads and nodes (no controllers run here, so rollouts stay put).
    let node = b.manifest(
        "node-@.yaml",
        "apiVersion: v1\nkind: Node\nmetadata: {name: node-@, labels: {kubernetes.io/hostname: node-@}}\n",
    );
    for args in [
        &["create", "-f", node.as_str()][..],
        &["cordon", "node-@"],
        &["cordon", "node-@"],
        &["uncordon", "node-@"],
        &["uncordon", "node-@"],
        &["cordon", "nope-@"],
        &["drain", "node-@"],
        &["uncordon", "node-@"],
        &["create", "deployment", "r-@", "--image=busybox:1.36"],
        &["rollout", "history", "deploy/r-@"],
        &["rollout", "undo", "deploy/r-@"],
        &["rollout", "status", "deploy/r-@", "--watch=false"],
        &["rollout", "pause", "deploy/r-@"],
        &["rollout", "pause", "deploy/r-@"],
        &["rollout", "resume", "deploy/r-@"],
        &["rollout", "resume", "deploy/r-@"],
        &["rollout", "restart", "deploy/r-@"],
        &["set", "image", "deploy/r-@", "busybox=busybox:1.37"],
        &["set", "image", "deploy/r-@", "nope=busybox:1.37"],
        &[
            "wait",
            "--for=condition=Available",
            "deploy/r-@",
            "--timeout=1s",
        ],
        &["wait", "--for=delete", "cm/nope-@", "--timeout=1s"],
        &[
            "run",
            "p-@",
            "--image=nginx",
            "--port=80",
            "--env=A=b",
            "--dry-run=client",
            "-o",
            "yaml",
            "--",
            "sleep",
            "10",
        ],
        &["run", "p-@", "--image=nginx"],
        &["get", "pod", "p-@", "-o", "wide"],
        &["describe", "pod", "p-@"],
        &["describe", "pods", "-l", "run=p-@"],
        &["get", "pod/p-@", "deploy/r-@", "--show-labels"],
        &["get", "pods,deploy", "-l", "run=p-@", "-o", "name"],
        &[
            "expose",
            "deploy",
            "r-@",
            "--port=8080",
            "--dry-run=client",
            "-o",
            "yaml",
        ],
        &[
            "expose",
            "deploy",
            "r-@",
            "--port=8080",
            "--target-port=http",
            "--type=NodePort",
        ],
        &["exec", "nope-@", "--", "ls"],
        &["logs", "nope-@"],
        &["describe", "cm", "nope-@"],
        &["delete", "node", "node-@"],
    ] {
        b.same(args);
    }

    // Kubeconfig: several files merged, contexts, redaction, switching.
    let first = b.path("first");
    let second = b.path("second");
    write(
        &first,
        &format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: main\nclusters:\n- name: lab\n  cluster: {{server: \"{}\", certificate-authority-data: Zm9v}}\ncontexts:\n- name: main\n  context: {{cluster: lab, user: admin}}\nusers:\n- name: admin\n  user: {{token: secret}}\n",
            api.url
        ),
    );
    write(
        &second,
        "apiVersion: v1\nkind: Config\ncurrent-context: other\ncontexts:\n- name: other\n  context: {cluster: lab, namespace: kube-system, user: admin}\n- name: main\n  context: {cluster: ignored}\n",
    );
    let chain = format!("{}:{}", first.display(), second.display());
    for (env, args) in [
        (chain.as_str(), &["config", "view"][..]),
        (chain.as_str(), &["config", "view", "--minify"]),
        (chain.as_str(), &["config", "view", "--raw", "-o", "json"]),
        (chain.as_str(), &["config", "get-contexts"]),
        (chain.as_str(), &["config", "current-context"]),
        (chain.as_str(), &["--context", "other", "get", "cm"]),
        (chain.as_str(), &["--context", "nope", "get", "cm"]),
        (chain.as_str(), &["get", "cm", "settings"]),
        (chain.as_str(), &["--user", "nope", "get", "cm"]),
        (chain.as_str(), &["--cluster", "nope", "get", "cm"]),
    ] {
        b.same_env(env, args);
    }
    // use-context writes the file holding current-context; both binaries
    // edit their own copies of the chain and must leave the same bytes.
    for who in ["ours", "real"] {
        for f in ["first", "second"] {
            std::fs::copy(b.path(f), b.path(&format!("{f}-{who}"))).expect("copy");
        }
    }
    let chain_at = format!(
        "{}:{}",
        b.path("first-@").display(),
        b.path("second-@").display()
    );
    for args in [
        &["config", "use-context", "other"][..],
        &["config", "use-context", "nope"],
        &[
            "config",
            "set-context",
            "--current",
            "--namespace",
            "default",
        ],
        &["config", "get-contexts"],
    ] {
        b.same_env(&chain_at, args);
    }
    let ours = std::fs::read_to_string(b.path("first-ours")).expect("read");
    let real = std::fs::read_to_string(b.path("first-real")).expect("read");
    assert!(ours.contains("current-context: other"), "{ours}");
    let parse = |s: &str| serde_yaml_ng::from_str::<serde_json::Value>(s).expect("yaml");
    assert_eq!(parse(&ours), parse(&real), "edited kubeconfig");

    // A watch prints the list, then one row per event, aligned with the
    // first table's widths.
    let spawn = |bin: PathBuf, cache: &Path, args: &[&str]| {
        std::process::Command::new(bin)
            .args(["--server", &b.url, "--cache-dir"])
            .arg(cache)
            .args(args)
            .env("KUBECONFIG", "/dev/null")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("kubectl -w")
    };
    let watches: Vec<(std::process::Child, std::process::Child)> =
        [&["get", "cm", "-w"][..], &["get", "cm", "-o", "yaml", "-w"]]
            .iter()
            .map(|args| {
                (
                    spawn(
                        tests::harness::binary("kubectl").expect("our kubectl"),
                        b.cache_ours.path(),
                        args,
                    ),
                    spawn(PathBuf::from("/usr/bin/kubectl"), b.cache_real.path(), args),
                )
            })
            .collect();
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    for args in [
        &[
            "create",
            "configmap",
            "a-much-longer-name-than-before",
            "--from-literal=k=v",
        ][..],
        &[
            "label",
            "configmap",
            "a-much-longer-name-than-before",
            "x=y",
        ],
        &["delete", "configmap", "a-much-longer-name-than-before"],
    ] {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        assert!(b.run(true, &args).success);
    }
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let finish = |mut child: std::process::Child| {
        // Our own child: a watch never ends by itself.
        let _ = child.kill();
        let out = child.wait_with_output().expect("watch output");
        mask_ages(&String::from_utf8_lossy(&out.stdout))
    };
    for (ours, real) in watches {
        let (o, r) = (finish(ours), finish(real));
        assert_eq!(o, r, "get -w");
        assert!(o.contains("a-much-longer-name-than-before"), "{o}");
        b.compared += 1;
    }

    assert!(b.compared >= 60, "only {} comparisons", b.compared);
    // A Job from a CronJob's template (upstream's manual run).
    let cronjob = b.manifest(
        "cj-@.yaml",
        "apiVersion: batch/v1\nkind: CronJob\nmetadata: {name: cj-@, labels: {team: a}}\nspec:\n  schedule: '*/5 * * * *'\n  jobTemplate:\n    metadata: {labels: {from: cron}, annotations: {note: kept}}\n    spec:\n      template:\n        spec:\n          restartPolicy: OnFailure\n          containers: [{name: c, image: 'busybox:1.36', command: [date]}]\n",
    );
    b.same(&["apply", "-f", &cronjob]);
    b.same(&["create", "job", "from-@", "--from=cronjob/cj-@"]);
    // (Not the whole YAML: the two CronJobs' uids differ.)
    b.same(&[
        "create",
        "job",
        "from2-@",
        "--from=cronjob/cj-@",
        "--dry-run=client",
        "-o",
        "jsonpath={.metadata.annotations} {.metadata.labels} {.metadata.ownerReferences[0].kind} {.spec.template.metadata} {.spec.template.spec.containers[0].resources}",
    ]);
    b.same(&["create", "job", "from3-@", "--from=deployment/d-@"]);
    b.same(&["create", "deployment", "dj-@", "--image=busybox:1.36"]);
    b.same(&["create", "job", "from4-@", "--from=deployment/dj-@"]);
}

impl Both {
    /// Like [`Both::same`] with `KUBECONFIG` set (and no `--server`).
    fn same_env(&mut self, kubeconfig: &str, args: &[&str]) {
        let run = |ours: bool, who: &str| -> KubectlOutput {
            let bin = if ours {
                tests::harness::binary("kubectl").expect("our kubectl is built")
            } else {
                PathBuf::from("/usr/bin/kubectl")
            };
            let cache = if ours {
                self.cache_ours.path()
            } else {
                self.cache_real.path()
            };
            let out = std::process::Command::new(bin)
                .arg("--cache-dir")
                .arg(cache)
                .args(Both::expand(args, who))
                .env("KUBECONFIG", kubeconfig.replace('@', who))
                .output()
                .expect("kubectl runs");
            KubectlOutput {
                success: out.status.success(),
                code: out.status.code(),
                stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            }
        };
        let (o, r) = (run(true, "ours"), run(false, "real"));
        let (o, r) = (normalize(&o, "ours"), normalize(&r, "real"));
        assert_eq!(
            o.2, r.2,
            "exit status of {args:?}\nours: {o:?}\nreal: {r:?}"
        );
        assert_eq!(o.0, r.0, "stdout of {args:?}");
        assert_eq!(o.1, r.1, "stderr of {args:?}");
        self.compared += 1;
    }
}

/// `kubectl tree` (ours only): owners found through `ownerReferences` of
/// every listable kind, nested, and a Service's EndpointSlice showing the
/// Pod its endpoint points at.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tree_follows_owner_references_and_endpoints() {
    let etcd = Etcd::start().await.expect("etcd");
    let api = ApiServer::start(&etcd).await.expect("apiserver");
    let http = api.http();
    let cache = tempfile::tempdir().expect("cache");
    let post = |path: &'static str, body: serde_json::Value| {
        let http = http.clone();
        async move {
            let r = http.post(path, &body).await.expect("post");
            assert!(r.status < 300, "{path}: {}", r.body);
            r.body["metadata"]["uid"].as_str().expect("uid").to_string()
        }
    };
    let owned = |kind: &str, name: &str, uid: &str| {
        serde_json::json!([{"apiVersion": if kind == "Deployment" {"apps/v1"} else {"v1"},
                            "kind": kind, "name": name, "uid": uid}])
    };
    let app = post(
        "/api/v1/namespaces/default/configmaps",
        serde_json::json!({"metadata": {"name": "app"}}),
    )
    .await;
    let part = post(
        "/api/v1/namespaces/default/secrets",
        serde_json::json!({"metadata": {"name": "part", "ownerReferences": owned("ConfigMap", "app", &app)}}),
    )
    .await;
    post(
        "/api/v1/namespaces/default/configmaps",
        serde_json::json!({"metadata": {"name": "leaf", "ownerReferences": owned("Secret", "part", &part)}}),
    )
    .await;
    post(
        "/api/v1/namespaces/default/configmaps",
        serde_json::json!({"metadata": {"name": "unrelated"}}),
    )
    .await;
    let svc = post(
        "/api/v1/namespaces/default/services",
        serde_json::json!({"metadata": {"name": "web"}, "spec": {"ports": [{"port": 80}]}}),
    )
    .await;
    let pod = post(
        "/api/v1/namespaces/default/pods",
        serde_json::json!({"metadata": {"name": "web-1"},
                           "spec": {"containers": [{"name": "c", "image": "busybox"}]}}),
    )
    .await;
    post(
        "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices",
        serde_json::json!({"metadata": {"name": "web-x", "ownerReferences": owned("Service", "web", &svc)},
                           "addressType": "IPv4",
                           "endpoints": [{"addresses": ["10.0.0.9"],
                                          "targetRef": {"kind": "Pod", "name": "web-1", "uid": pod}}]}),
    )
    .await;
    let tree = |args: &[&str]| {
        let out = our_kubectl_cached(&api.url, cache.path(), args).expect("our kubectl runs");
        assert!(out.success, "{args:?}: {}", out.stderr);
        // The NAME column (between the NAME and READY headers, in
        // characters: the tree drawing is multi-byte), drawing kept.
        let mut lines = out.stdout.lines();
        let header = lines.next().unwrap_or_default();
        let col = |h: &str| {
            header
                .find(h)
                .map(|b| header[..b].chars().count())
                .unwrap_or(0)
        };
        let (from, to) = (col("NAME  "), col("READY"));
        lines
            .map(|l| {
                let cell: String = l.chars().skip(from).take(to - from).collect();
                cell.trim_end().to_string()
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(
        tree(&["tree", "configmap", "app"]),
        ["ConfigMap/app", "└─Secret/part", "  └─ConfigMap/leaf"]
    );
    assert_eq!(
        tree(&["tree", "svc/web"]),
        [
            "Service/web",
            "└─EndpointSlice/web-x",
            "  └─Pod/web-1 (endpoint)"
        ]
    );
    let out = our_kubectl_cached(&api.url, cache.path(), &["tree", "configmap", "nope"])
        .expect("our kubectl runs");
    assert!(!out.success);
    assert_eq!(
        out.stderr.trim(),
        "Error from server (NotFound): configmaps \"nope\" not found"
    );
}

/// `kubectl etcd-path` (ours only): the key is the one etcd really holds,
/// and each write the object had is listed with its manager and the fields
/// it changed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_path_names_the_key_and_replays_the_writes() {
    let etcd = Etcd::start().await.expect("etcd");
    let api = ApiServer::start(&etcd).await.expect("apiserver");
    let http = api.http();
    let cache = tempfile::tempdir().expect("cache");
    let cm = "/api/v1/namespaces/default/configmaps";
    let r = http
        .post(
            &format!("{cm}?fieldManager=maker"),
            &serde_json::json!({"metadata": {"name": "settings"}, "data": {"a": "1"}}),
        )
        .await
        .expect("create");
    assert_eq!(r.status, 201, "{}", r.body);
    let r = http
        .patch(
            &format!("{cm}/settings?fieldManager=labeller"),
            "application/merge-patch+json",
            &serde_json::json!({"metadata": {"labels": {"tier": "web"}}}),
        )
        .await
        .expect("patch");
    assert_eq!(r.status, 200, "{}", r.body);
    let r = http
        .patch(
            &format!("{cm}/settings?fieldManager=editor"),
            "application/merge-patch+json",
            &serde_json::json!({"data": {"a": "2"}}),
        )
        .await
        .expect("patch");
    assert_eq!(r.status, 200, "{}", r.body);
    let rv = r.body["metadata"]["resourceVersion"]
        .as_str()
        .expect("rv")
        .to_string();

    let out = our_kubectl_cached(&api.url, cache.path(), &["etcd-path", "cm/settings"])
        .expect("our kubectl runs");
    assert!(out.success, "{}", out.stderr);
    let key = "/registry/configmaps/default/settings";
    assert!(
        out.stdout.starts_with(&format!("Key:       {key} ")),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains(&format!("Revision:  {rv} ")),
        "{}",
        out.stdout
    );
    let rows: Vec<&str> = out.stdout.lines().skip(4).collect();
    assert_eq!(rows.len(), 4, "{}", out.stdout);
    assert!(
        rows[1].contains("ADDED")
            && rows[1].contains("maker (Update)")
            && rows[1].ends_with("(created)"),
        "{}",
        out.stdout
    );
    assert!(
        rows[2].contains("labeller (Update)") && rows[2].ends_with("metadata.labels"),
        "{}",
        out.stdout
    );
    assert!(
        rows[3].starts_with(rv.as_str())
            && rows[3].contains("editor (Update)")
            && rows[3].contains("data.a"),
        "{}",
        out.stdout
    );

    // etcd itself has that key, at that revision.
    let got = std::process::Command::new("etcdctl")
        .args(["--endpoints", &etcd.url, "get", key, "-w", "json"])
        .output()
        .expect("etcdctl runs");
    let got: serde_json::Value = serde_json::from_slice(&got.stdout).expect("etcdctl json");
    assert_eq!(
        got["kvs"][0]["mod_revision"]
            .as_u64()
            .map(|r| r.to_string()),
        Some(rv),
        "{got}"
    );
}

/// `kubectl events`, ours against the real one: old-style Events (a count,
/// first and last timestamps) and new-style ones (an `eventTime` and a
/// series), in two namespaces, with `-A`, `--for`, `--types`,
/// `--no-headers`, `-o yaml`, an empty namespace and the usage errors.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_print_what_upstream_prints() {
    let etcd = Etcd::start().await.expect("etcd");
    let api = ApiServer::start(&etcd).await.expect("apiserver");
    let http = api.http();
    let mut b = Both::new(&api.url);
    let ago = |secs: i64| {
        (chrono::Utc::now() - chrono::Duration::seconds(secs))
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    };
    let micro_ago = |secs: i64| {
        (chrono::Utc::now() - chrono::Duration::seconds(secs))
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
    };
    for ns in ["other", "quiet"] {
        let r = http
            .post(
                "/api/v1/namespaces",
                &serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
            )
            .await
            .expect("namespace");
        assert_eq!(r.status, 201, "{}", r.body);
    }
    let core = [
        (
            "default", "pulled", "Normal", "Pulled", "Pod", "web-0", 1, 7200, 7200,
        ),
        (
            "default", "backoff", "Warning", "BackOff", "Pod", "web-0", 5, 3000, 40,
        ),
        (
            "default",
            "scaled",
            "Normal",
            "ScalingReplicaSet",
            "Deployment",
            "web",
            1,
            400,
            400,
        ),
        (
            "other",
            "sched",
            "Normal",
            "Scheduled",
            "Pod",
            "db-0",
            1,
            90,
            90,
        ),
    ];
    for (ns, name, kind, reason, obj_kind, obj, count, first, last) in core {
        let ev = serde_json::json!({"apiVersion": "v1", "kind": "Event",
            "metadata": {"name": name, "namespace": ns},
            "involvedObject": {"apiVersion": if obj_kind == "Pod" { "v1" } else { "apps/v1" },
                               "kind": obj_kind, "name": obj, "namespace": ns},
            "type": kind, "reason": reason, "message": format!("{reason} happened to {obj} "),
            "source": {"component": "kubelet"}, "count": count,
            "firstTimestamp": ago(first), "lastTimestamp": ago(last)});
        let r = http
            .post(&format!("/api/v1/namespaces/{ns}/events"), &ev)
            .await
            .expect("event");
        assert_eq!(r.status, 201, "{}", r.body);
    }
    let new_style = serde_json::json!({"apiVersion": "events.k8s.io/v1", "kind": "Event",
        "metadata": {"name": "probe"},
        "regarding": {"apiVersion": "v1", "kind": "Pod", "name": "web-0", "namespace": "default"},
        "eventTime": micro_ago(900), "series": {"count": 12, "lastObservedTime": micro_ago(20)},
        "type": "Warning", "reason": "Unhealthy", "action": "Probe", "note": "Readiness probe failed",
        "reportingController": "kubelet", "reportingInstance": "node-1"});
    let r = http
        .post(
            "/apis/events.k8s.io/v1/namespaces/default/events",
            &new_style,
        )
        .await
        .expect("new-style event");
    assert_eq!(r.status, 201, "{}", r.body);

    let table = b.same(&["events"]);
    assert!(table.contains("(x12 over 15m)"), "{table}");
    b.same(&["events", "-A"]);
    b.same(&["events", "--for", "pod/web-0"]);
    b.same(&["events", "--for", "deployment/web"]);
    b.same(&["events", "--types", "Warning"]);
    b.same(&["events", "--types=normal,Warning", "-A", "--no-headers"]);
    b.same(&["events", "-n", "quiet"]);
    b.same(&["events", "--types", "Odd"]);
    b.same(&["events", "--for", "web-0"]);
    b.same(&["events", "-n", "other", "-o", "yaml"]);
    assert_eq!(b.compared, 10);
}

/// A diff's output with what differs between two runs put aside: the
/// temporary directories' random suffixes and the files' times in the
/// `---`/`+++` headers.
fn normalize_diff(s: &str) -> String {
    s.lines()
        .map(|l| {
            let mut l = l.to_string();
            for dir in ["LIVE-", "MERGED-"] {
                while let Some(i) = l.find(dir) {
                    let start = i + dir.len();
                    let end = l[start..]
                        .find(|c: char| !c.is_ascii_digit())
                        .map_or(l.len(), |e| start + e);
                    if end == start {
                        break;
                    }
                    l.replace_range(i..end, &dir.to_lowercase().replace('-', "_"));
                }
            }
            if l.starts_with("--- ") || l.starts_with("+++ ") {
                if let Some(tab) = l.find('\t') {
                    l.truncate(tab);
                }
            }
            l
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `kubectl diff`, ours against the real one: nothing to change (exit 0),
/// a changed Deployment and ConfigMap and a new Service (exit 1, the same
/// unified diff), server-side, and a Secret whose values are masked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diff_prints_what_upstream_prints() {
    let etcd = Etcd::start().await.expect("etcd");
    let api = ApiServer::start(&etcd).await.expect("apiserver");
    let dir = tempfile::tempdir().expect("dir");
    let cache_ours = tempfile::tempdir().expect("cache");
    let cache_real = tempfile::tempdir().expect("cache");
    let app = dir.path().join("app.yaml");
    write(&app, APP);
    let app = app.display().to_string();
    let applied =
        kubectl_cached(&api.url, cache_real.path(), &["apply", "-f", &app]).expect("apply");
    assert!(applied.success, "{}", applied.stderr);
    let secret = "apiVersion: v1\nkind: Secret\nmetadata: {name: creds}\nstringData: {user: admin, pass: one}\n";
    let secret_file = dir.path().join("secret.yaml");
    write(&secret_file, secret);
    let secret_file = secret_file.display().to_string();
    let applied =
        kubectl_cached(&api.url, cache_real.path(), &["apply", "-f", &secret_file]).expect("apply");
    assert!(applied.success, "{}", applied.stderr);

    let changed = dir.path().join("changed.yaml");
    write(
        &changed,
        &APP.replace("replicas: 2", "replicas: 3")
            .replace("greeting: hello", "greeting: bonjour")
            .replace(
                "name: web\nspec:\n  selector",
                "name: web2\nspec:\n  selector",
            ),
    );
    let changed = changed.display().to_string();
    let secret_changed = dir.path().join("secret2.yaml");
    write(&secret_changed, &secret.replace("pass: one", "pass: two"));
    let secret_changed = secret_changed.display().to_string();

    for (args, code) in [
        (vec!["diff", "-f", &app], 0),
        (vec!["diff", "-f", &changed], 1),
        // Fields the client-side apply owns: a conflict, an error (2).
        (vec!["diff", "-f", &changed, "--server-side"], 2),
        (
            vec!["diff", "-f", &changed, "--server-side", "--force-conflicts"],
            1,
        ),
        (vec!["diff", "-f", &secret_changed], 1),
    ] {
        let ours = our_kubectl_cached(&api.url, cache_ours.path(), &args).expect("ours");
        let real = kubectl_cached(&api.url, cache_real.path(), &args).expect("real");
        assert_eq!(real.code, Some(code), "{args:?}: {}", real.stderr);
        assert_eq!(ours.code, real.code, "{args:?}: {}", ours.stderr);
        assert_eq!(
            normalize_diff(&ours.stdout),
            normalize_diff(&real.stdout),
            "stdout of {args:?}"
        );
        // Upstream's retries log through klog (`W1204 13:14:09.016 ...`).
        let no_klog = |s: &str| {
            s.lines()
                .filter(|l| {
                    !(l.len() > 5
                        && l.starts_with(['I', 'W', 'E'])
                        && l[1..5].chars().all(|c| c.is_ascii_digit()))
                })
                .collect::<Vec<_>>()
                .join("\n")
        };
        assert_eq!(
            no_klog(&ours.stderr),
            no_klog(&real.stderr),
            "stderr of {args:?}"
        );
    }
    // A server named without a scheme is plain HTTP when there is no TLS
    // setting (it used to make our kubectl panic).
    let bare = api.url.trim_start_matches("http://");
    let args = ["get", "namespaces", "-o", "name"];
    let ours = our_kubectl_cached(bare, cache_ours.path(), &args).expect("ours");
    let real = kubectl_cached(bare, cache_real.path(), &args).expect("real");
    assert!(
        real.success && ours.success,
        "{}\n{}",
        real.stderr,
        ours.stderr
    );
    assert_eq!(ours.stdout, real.stdout);
}

/// RBAC for `auth_can_i_prints_what_upstream_prints`: jane may read pods
/// and their logs in `dev`, update one Deployment there, create
/// ConfigMaps with two named ones readable, and GET two non-resource URLs.
const JANE_RBAC: &str = "apiVersion: v1
kind: Namespace
metadata: {name: dev}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: jane, namespace: dev}
rules:
- {apiGroups: [''], resources: [pods, pods/log], verbs: [get, list, watch]}
- {apiGroups: [''], resources: [pods], verbs: [get, delete]}
- {apiGroups: [apps], resources: [deployments, deployments/scale], resourceNames: [web], verbs: [get, update]}
- {apiGroups: [''], resources: [configmaps], verbs: [create]}
- {apiGroups: [''], resources: [configmaps], resourceNames: [a, b], verbs: [get]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: jane, namespace: dev}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: jane}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: jane}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: jane-urls}
rules:
- {nonResourceURLs: [/healthz, /metrics], verbs: [get]}
- {nonResourceURLs: [/logs/*], verbs: [get, post]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: jane-urls}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: jane-urls}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: jane}]
";

/// `kubectl auth can-i`, ours against the real one, on an apiserver with
/// RBAC: `--list` (upstream's table of a SelfSubjectRulesReview: rules
/// broken down, merged per resource and sorted) for an impersonated user
/// in two namespaces and for the administrator, single questions with
/// `--as`, `-n`, names, subresources and non-resource URLs, the warnings
/// (cluster-scoped resource, unknown verb, unknown resource) and the usage
/// errors.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_can_i_prints_what_upstream_prints() {
    let etcd = Etcd::start().await.expect("etcd");
    let api = ApiServer::start_with(&etcd, &["--authorization-mode", "RBAC"])
        .await
        .expect("apiserver");
    let mut b = Both::new(&api.url);
    let rbac = b.path("rbac.yaml");
    write(&rbac, JANE_RBAC);
    let out = b.run(
        false,
        &["apply".into(), "-f".into(), rbac.display().to_string()],
    );
    assert!(out.success, "{}", out.stderr);
    // The apiserver follows RBAC objects through a watch.
    let jane_can = |args: &[&str]| {
        let mut all: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        all.extend(["--as".to_string(), "jane".to_string()]);
        b.run(false, &all).success
    };
    let seen = tests::harness::eventually(std::time::Duration::from_secs(10), || {
        let ok = jane_can(&["auth", "can-i", "get", "/logs/x"])
            && jane_can(&["auth", "can-i", "create", "cm", "-n", "dev"]);
        async move { ok.then_some(()) }
    })
    .await;
    assert!(seen.is_some(), "jane's RBAC never took effect");

    // Each line: the arguments after `auth can-i`, split at spaces.
    for line in [
        "--list --as jane -n dev",
        "--list --as jane -n dev --no-headers",
        "--list --as jane",
        "--list",
        "--list -A",
        "--list -q",
        "--list pods",
        "list pods --as jane -n dev",
        "list pods --as jane",
        "list pods --as jane -A",
        "delete pods/x --as jane -n dev",
        "create pods --as jane -n dev -q",
        "get pods --subresource log --as jane -n dev",
        "get pods/p --subresource exec --as jane -n dev",
        "update deployments.apps/web --as jane -n dev",
        "update deploy/other --as jane -n dev",
        "update deployments --subresource scale --as jane -n dev",
        "get cm/a --as jane -n dev",
        "get /healthz --as jane",
        "post /healthz --as jane",
        "post /logs/kubelet --as jane",
        "fetch /healthz --as jane",
        "get /healthz --subresource log",
        "list nodes --as jane",
        "list clusterroles.rbac.authorization.k8s.io",
        "frob pods --as jane -n dev",
        "get foo --as jane",
        "get foo.bar --as jane",
        "impersonate users --as jane",
        "* *",
        "get pods --no-headers",
        "get",
        "get pods extra",
    ] {
        let mut args = vec!["auth", "can-i"];
        args.extend(line.split(' '));
        b.same(&args);
    }
}

/// The manifests `apply --prune` is checked with: the first apply makes
/// four objects with the binary's label, the second keeps one of them.
const PRUNE_ALL: &str = "apiVersion: v1
kind: ConfigMap
metadata: {name: a-@, labels: {set: '@'}}
data: {k: v}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: b-@, labels: {set: '@'}}
---
apiVersion: v1
kind: Secret
metadata: {name: s-@, labels: {set: '@'}}
stringData: {k: v}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: d-@, labels: {set: '@'}}
spec:
  replicas: 0
  selector: {matchLabels: {app: d-@}}
  template:
    metadata: {labels: {app: d-@}}
    spec:
      containers: [{name: c, image: 'busybox:1.36'}]
";

/// `kubectl apply --prune`, ours against the real one, each binary on its
/// own objects (label `set=<binary>`): the dry runs first (nothing
/// deleted), then the prune of everything the manifests dropped in
/// upstream's allowlist order, an object made without apply left alone,
/// `--prune-allowlist` limiting the kinds, `--all` within a namespace, and
/// the usage errors.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_prune_prints_what_upstream_prints() {
    let etcd = Etcd::start().await.expect("etcd");
    let api = ApiServer::start(&etcd).await.expect("apiserver");
    let mut b = Both::new(&api.url);
    let all = b.manifest("all-@.yaml", PRUNE_ALL);
    let first = PRUNE_ALL.split("---\n").next().expect("first doc");
    let one = b.manifest("one-@.yaml", first);
    b.same(&["apply", "-f", &all]);
    // Made by create (no last-applied annotation): never pruned.
    b.same(&["create", "configmap", "c-@"]);
    b.same(&["label", "configmap", "c-@", "set=@"]);

    // Each line: the arguments after `apply -f one-@.yaml --prune`.
    for line in [
        "",
        "-l set=@ --all",
        "-l set=@ --server-side",
        "-l set=@ --prune-allowlist v1/ConfigMap",
        "-l set=@ --prune-allowlist core/v1/Nope",
        "-l set=@ --dry-run=client",
        "-l set=@ --dry-run=server",
        "GET",
        "-l set=@ --prune-allowlist core/v1/Secret --prune-allowlist core/v1/ConfigMap",
        "-l set=@",
        "GET",
        "-l set=@",
    ] {
        if line == "GET" {
            b.same(&["get", "cm,secret,deploy", "-l", "set=@", "-o", "name"]);
            continue;
        }
        let mut args = vec!["apply", "-f", &one, "--prune"];
        args.extend(line.split(' ').filter(|a| !a.is_empty()));
        b.same(&args);
    }

    // --all: every applied ConfigMap of the namespace goes, whatever its labels.
    let in_ns = b.manifest(
        "ns-@.yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: ns-@}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: keep, namespace: ns-@}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: drop, namespace: ns-@, labels: {other: label}}\n",
    );
    let keep = b.manifest(
        "keep-@.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: keep, namespace: ns-@}\n",
    );
    b.same(&["apply", "-f", &in_ns]);
    // Then again with -n (the namespace counts as applied to) and -o name
    // (pruned objects by name only).
    for extra in ["", " -n ns-@ -o name"] {
        let prune_all = format!("--prune --all --prune-allowlist core/v1/ConfigMap{extra}");
        let mut args = vec!["apply", "-f", &keep];
        args.extend(prune_all.split(' '));
        b.same(&args);
        b.same(&["get", "cm", "-n", "ns-@", "-o", "name"]);
        b.same(&["apply", "-f", &in_ns]);
    }
    assert!(b.compared >= 22, "only {} comparisons", b.compared);
}

/// A CRD for `explain_prints_what_upstream_prints`: two served versions
/// (v2 preferred), descriptions, a required field, an enum longer than the
/// four a field line shows, a list of objects, a map and an open object.
const WIDGET_CRD: &str = "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  names: {kind: Widget, plural: widgets, singular: widget, shortNames: [wd]}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        description: A Widget is a thing made in the example shop, sized and coloured as its spec says.
        properties:
          spec:
            type: object
            description: What the widget should be.
            required: [size]
            properties:
              size: {type: integer, description: How big, in centimetres.}
              colour: {type: string, enum: [red, green, blue, \"\", black, white], description: The paint.}
              parts:
                type: array
                description: What it is made of.
                items:
                  type: object
                  properties:
                    name: {type: string}
                    count: {type: integer, format: int32}
              labels: {type: object, additionalProperties: {type: string}}
              extra: {type: object, x-kubernetes-preserve-unknown-fields: true}
          status:
            type: object
            properties:
              ready: {type: boolean}
  - name: v2
    served: true
    storage: false
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec: {type: object, properties: {height: {type: integer}}}
";

/// `kubectl explain`, ours against the real one, both reading the OpenAPI
/// v3 documents our apiserver serves: kinds, field paths through lists and
/// references, `--recursive` (cyclic schemas included), `--api-version`,
/// `resource.group` prefixes, a CRD's versions, enums, and the errors
/// (unknown field after the header, unknown resource, wrong group version,
/// usage). Then every served resource, plain and recursive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_prints_what_upstream_prints() {
    let etcd = Etcd::start().await.expect("etcd");
    let api = ApiServer::start(&etcd).await.expect("apiserver");
    let mut b = Both::new(&api.url);
    let crd = b.path("crd.yaml");
    write(&crd, WIDGET_CRD);
    let out = b.run(
        false,
        &["apply".into(), "-f".into(), crd.display().to_string()],
    );
    assert!(out.success, "{}", out.stderr);
    let served = tests::harness::eventually(std::time::Duration::from_secs(10), || {
        let ok = b.run(false, &["explain".into(), "widgets".into()]).success;
        async move { ok.then_some(()) }
    })
    .await;
    assert!(served.is_some(), "the CRD's schema was never served");

    // Each line: the arguments after `explain`, split at spaces.
    for line in [
        "pods",
        "pods.spec",
        "po.spec.containers",
        "pods.spec.containers.name",
        "pods.spec.containers.resources.limits",
        "pods.spec.nope",
        "pods.spec.containers.nope",
        "Pods.metadata.labels",
        "deployments.apps.spec.template",
        "deployment.spec.strategy --recursive",
        "deployments.apps --api-version=apps/v1",
        "pods --api-version=apps/v1",
        "pods --api-version=v9",
        "pods --api-version=a/b/c",
        "svc --recursive",
        "svc --recursive=true",
        "svc --recursive=false",
        "nodes.status.conditions",
        "crd.spec.versions.schema --recursive",
        "customresourcedefinitions.spec.versions.schema.openAPIV3Schema.properties",
        "widgets",
        "wd.spec",
        "widget --recursive",
        "widgets.example.com.spec",
        "widgets.spec --api-version=example.com/v1",
        "widgets.spec.colour --api-version=example.com/v1",
        "widgets.spec.parts.count --api-version=example.com/v1",
        "widgets --api-version=example.com/v1 --recursive",
        "widgets.spec.nope --api-version=example.com/v1",
        "foo",
        "foo.spec",
        "pods -o yaml",
        "",
        "pods svc",
    ] {
        let mut args = vec!["explain"];
        args.extend(line.split(' ').filter(|a| !a.is_empty()));
        b.same(&args);
    }
    let names = b.run(false, &["api-resources".into(), "-o".into(), "name".into()]);
    assert!(names.success, "{}", names.stderr);
    for name in names.stdout.lines() {
        b.same(&["explain", name]);
        b.same(&["explain", name, "--recursive"]);
    }
    assert!(b.compared > 100, "only {} comparisons", b.compared);
}
