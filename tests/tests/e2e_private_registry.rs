//! Private registries on a real lab with the real kubectl: a
//! password-protected registry (Debian's `docker-registry` with an
//! `htpasswd` file of bcrypt hashes, serving the lab's test images on the
//! host's leg) lets a pod in with an `imagePullSecrets` Secret made by
//! `kubectl create secret docker-registry`, and with the same secret listed
//! on the pod's ServiceAccount (the ServiceAccount admission plug-in copies
//! it into the pod); a pod without it, or with a wrong password, waits in
//! `ErrImagePull`/`ImagePullBackOff` with the registry's 401 in its Events.
//!
//! The registry speaks plain HTTP: the lab's kubelets take every registry on
//! the host's leg as insecure (`insecureRegistries` in their configuration),
//! and distribution checks passwords over HTTP as well. The bcrypt hash is
//! made with the system's `crypt(3)` (libxcrypt's `$2b$`, through perl).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tests::lab::{wait_until, Lab};

const USER: &str = "puller";

/// A `docker-registry` with basic auth, killed on drop.
struct PrivateRegistry {
    child: Child,
    /// `host:port`.
    host: String,
}

impl Drop for PrivateRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A random password of 20 letters and digits.
fn password() -> String {
    use rand::Rng;
    rand::thread_rng()
        .sample_iter(&rand::distributions::Alphanumeric)
        .take(20)
        .map(char::from)
        .collect()
}

/// The bcrypt hash of `password` with a fresh salt, as `htpasswd -B` writes.
fn bcrypt(password: &str) -> String {
    const SALT_CHARS: &[u8] = b"./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    use rand::Rng;
    let mut rng = rand::thread_rng();
    // The last salt character carries only 2 bits: one of . O e u.
    let mut salt: String = (0..21)
        .map(|_| SALT_CHARS[rng.gen_range(0..SALT_CHARS.len())] as char)
        .collect();
    salt.push(['.', 'O', 'e', 'u'][rng.gen_range(0..4)]);
    let out = Command::new("perl")
        .args(["-e", "print crypt($ARGV[0], $ARGV[1])"])
        .arg(password)
        .arg(format!("$2b$05${salt}"))
        .output()
        .expect("perl runs");
    let hash = String::from_utf8(out.stdout).expect("utf-8");
    assert!(
        hash.starts_with("$2b$05$") && hash.len() == 60,
        "crypt(3) made no bcrypt hash: {hash:?}"
    );
    hash
}

/// Starts a registry on the lab's host leg serving the lab's images to
/// `USER` with `password` only.
fn start_private_registry(lab: &Lab, password: &str) -> PrivateRegistry {
    let lab_config =
        std::fs::read_to_string(lab.dir().join("registry/config.yml")).expect("lab registry");
    let lab_addr = lab_config
        .lines()
        .find_map(|l| l.trim().strip_prefix("addr:"))
        .expect("the lab registry's addr")
        .trim()
        .to_string();
    let host_ip = lab_addr
        .rsplit_once(':')
        .map(|(h, _)| h.to_string())
        .expect("host:port");
    let dir = lab.dir().join("private-registry");
    std::fs::create_dir_all(&dir).expect("registry dir");
    let htpasswd = dir.join("htpasswd");
    std::fs::write(&htpasswd, format!("{USER}:{}\n", bcrypt(password))).expect("htpasswd");
    for _ in 0..5 {
        let port = std::net::TcpListener::bind(format!("{host_ip}:0"))
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port on the host leg");
        let host = format!("{host_ip}:{port}");
        let config = dir.join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: {data}\n  maintenance:\n    readonly:\n      enabled: true\nhttp:\n  addr: {host}\nauth:\n  htpasswd:\n    realm: private\n    path: {htpasswd}\n",
                data = lab.dir().join("registry/data").display(),
                htpasswd = htpasswd.display(),
            ),
        )
        .expect("registry config");
        let log = std::fs::File::create(dir.join("registry.log")).expect("log");
        let child = Command::new("setpriv")
            .args(["--pdeathsig", "KILL", "docker-registry", "serve"])
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup"))
            .stderr(log)
            .spawn()
            .expect("docker-registry starts");
        let mut reg = PrivateRegistry { child, host };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if matches!(reg.child.try_wait(), Ok(Some(_))) {
                break;
            }
            // Up once it asks for a password.
            let code = Command::new("curl")
                .args(["-s", "-o", "/dev/null", "-w", "%{http_code}"])
                .arg(format!("http://{}/v2/", reg.host))
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default();
            if code == "401" {
                return reg;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = reg.child.kill();
        let _ = reg.child.wait();
    }
    panic!(
        "the private registry did not start: {}",
        std::fs::read_to_string(dir.join("registry.log")).unwrap_or_default()
    );
}

fn pod(name: &str, image: &str, extra_spec: &str) -> String {
    format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: {name}, namespace: pulls}}
spec:
  terminationGracePeriodSeconds: 0
  {extra_spec}
  containers:
  - name: c
    image: {image}
    imagePullPolicy: Always
    command: ["sh", "-c", "echo pulled; sleep 3600"]
"#
    )
}

/// The pod's first container's waiting reason, or `Running`.
fn state(lab: &Lab, name: &str) -> Option<String> {
    let p = lab.get_json(&["pod", name, "-n", "pulls"]);
    let s = &p["status"]["containerStatuses"][0]["state"];
    if s.get("running").is_some() {
        return Some("Running".into());
    }
    s["waiting"]["reason"].as_str().map(str::to_string)
}

fn events_of(lab: &Lab, name: &str) -> Vec<Value> {
    let list = lab.get_json(&[
        "events",
        "-n",
        "pulls",
        "--field-selector",
        &format!("involvedObject.name={name}"),
    ]);
    list["items"].as_array().cloned().unwrap_or_default()
}

/// Waits until the pod is stuck pulling and its Events say the registry
/// refused.
fn assert_refused(lab: &Lab, name: &str) {
    let reason = wait_until(Duration::from_secs(60), || {
        state(lab, name).filter(|r| r == "ErrImagePull" || r == "ImagePullBackOff")
    });
    assert!(
        reason.is_some(),
        "{name}: not refused: {:?}",
        state(lab, name)
    );
    let failed = wait_until(Duration::from_secs(30), || {
        events_of(lab, name).into_iter().find(|e| {
            e["reason"] == "Failed"
                && e["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with("Failed to pull image") && m.contains("401"))
        })
    });
    assert!(
        failed.is_some(),
        "{name}: no Failed event with the registry's 401: {:#?}",
        events_of(lab, name)
    );
}

fn assert_runs(lab: &Lab, name: &str) {
    let running = wait_until(Duration::from_secs(90), || {
        state(lab, name).filter(|r| r == "Running")
    });
    assert!(
        running.is_some(),
        "{name}: not running: {:?}; events: {:#?}",
        state(lab, name),
        events_of(lab, name)
    );
    let (_, logs, _) = lab.kubectl(&["logs", name, "-n", "pulls"]);
    assert_eq!(logs.trim(), "pulled");
}

#[test]
fn pods_pull_from_a_password_protected_registry_with_their_pull_secrets() {
    let Some(lab) = Lab::up("e2e-private-registry", 1) else {
        return;
    };
    let password = password();
    let registry = start_private_registry(&lab, &password);
    let image = format!("{}/library/busybox:1.36", registry.host);
    lab.kubectl_ok(&["create", "namespace", "pulls"]);

    // No credentials: the registry's 401 stops the pull.
    lab.apply(&pod("anonymous", &image, ""));
    assert_refused(&lab, "anonymous");

    // A pull secret as `kubectl create secret docker-registry` makes it.
    let server = format!("--docker-server={}", registry.host);
    let user = format!("--docker-username={USER}");
    let pass = format!("--docker-password={password}");
    lab.kubectl_ok(&[
        "create",
        "secret",
        "docker-registry",
        "regcred",
        "-n",
        "pulls",
        &server,
        &user,
        &pass,
    ]);
    let wrong = "--docker-password=not-the-password";
    lab.kubectl_ok(&[
        "create",
        "secret",
        "docker-registry",
        "wrongcred",
        "-n",
        "pulls",
        &server,
        &user,
        wrong,
    ]);
    lab.apply(&pod(
        "with-secret",
        &image,
        "imagePullSecrets: [{name: regcred}]",
    ));
    assert_runs(&lab, "with-secret");

    // A wrong password is refused (the pod pulls Always, so the copy the
    // node now holds does not count).
    lab.apply(&pod(
        "wrong-secret",
        &image,
        "imagePullSecrets: [{name: wrongcred}]",
    ));
    assert_refused(&lab, "wrong-secret");

    // The ServiceAccount's pull secrets go into a pod that lists none.
    lab.kubectl_ok(&["create", "serviceaccount", "builder", "-n", "pulls"]);
    lab.kubectl_ok(&[
        "patch",
        "serviceaccount",
        "builder",
        "-n",
        "pulls",
        "-p",
        r#"{"imagePullSecrets": [{"name": "regcred"}]}"#,
    ]);
    lab.apply(&pod("via-account", &image, "serviceAccountName: builder"));
    let p = lab.get_json(&["pod", "via-account", "-n", "pulls"]);
    assert_eq!(
        p["spec"]["imagePullSecrets"],
        serde_json::json!([{"name": "regcred"}]),
        "{p}"
    );
    assert_runs(&lab, "via-account");

    // The registry answered manifests only to the pulls with the password
    // (an anonymous request gets its 401).
    let log = std::fs::read_to_string(lab.dir().join("private-registry/registry.log"))
        .unwrap_or_default();
    assert!(
        log.contains("/v2/library/busybox/manifests/1.36 HTTP/1.1\" 200"),
        "the registry logged no authorized pull:\n{log}"
    );
    lab.kubectl_ok(&["delete", "namespace", "pulls", "--wait=false"]);
    drop(registry);
}
