//! Harness for the runtime tests (and the kubelet's `kubelet ctl` tests,
//! which include this file): a private runtime per test (own state dir,
//! log dir and cgroup root), test images built from busybox-static, and a
//! local registry (Debian's `docker-registry`) on 127.0.0.1.
//!
//! Everything a test makes is named `kubelet-test-<test>-<pid>` and removed by
//! the [`Env`] drop guard, also when the test panics. A run that was killed
//! (no drop) leaves such names behind; the next [`Env::new`] removes those
//! whose pid is gone: it kills what is left in their cgroups (holders,
//! containers, exec'd processes; monitors exit with their containers) and
//! deletes their directories. Mounts need no cleaning: the overlay and the
//! container's /proc, /dev, /sys live in the container's own mount namespace.

#![allow(dead_code)]

use container_runtime::container::spec::ContainerConfig;
use container_runtime::logs::Options;
use container_runtime::sandbox::PodSandboxConfig;
use container_runtime::state::{ContainerState, Status};
use container_runtime::{cgroups, Config, Runtime};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Prefix of every state dir and cgroup root the tests create.
pub const PREFIX: &str = "kubelet-test-";

/// The binary the runtime starts as monitor, holder and exec helper: in the
/// runtime's own tests its `container-runtime` binary, in the kubelet's the
/// kubelet (which plays the same helpers and also has `kubelet ctl`).
pub fn helper_bin() -> PathBuf {
    let bin = option_env!("CARGO_BIN_EXE_kubelet")
        .or(option_env!("CARGO_BIN_EXE_container-runtime"))
        .expect("built as a test of the kubelet or of the container-runtime crate");
    PathBuf::from(bin)
}

fn scratch() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Whether the tests can run; says why not otherwise (a failure under
/// `hack/test.sh`, see the `prerequisites` crate).
pub fn is_root(test: &str) -> bool {
    if prerequisites::is_root() {
        return true;
    }
    prerequisites::missing(
        test,
        "the kubelet runtime tests need root (namespaces, cgroups, mounts)",
    );
    false
}

/// Holds an exclusive `flock` on a file while alive.
fn lock(path: &Path) -> nix::fcntl::Flock<fs::File> {
    let f = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusive)
        .unwrap_or_else(|(_, e)| panic!("flock {}: {e}", path.display()))
}

/// OCI layouts of the test images (`busybox`, `layered`, `multiarch`), built
/// once by `hack/lib/test-images.sh` and cached below the target dir.
pub fn test_images() -> PathBuf {
    let out = scratch().join("kubelet-test-images");
    let script = repo_root().join("hack/lib/test-images.sh");
    let o = Command::new("bash")
        .arg(&script)
        .arg("build")
        .arg(&out)
        .output()
        .expect("running hack/lib/test-images.sh");
    assert!(
        o.status.success(),
        "{} build failed:\n{}{}",
        script.display(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    out
}

/// A registry storage directory holding the test images under `library/`
/// (filled once by pushing to a temporary registry; shared read-only after).
fn registry_storage() -> PathBuf {
    let base = scratch().join("kubelet-test-registry");
    fs::create_dir_all(&base).expect("creating registry dir");
    let _lock = lock(&base.join(".lock"));
    let data = base.join("data");
    if base.join(".complete").exists() {
        return data;
    }
    let images = test_images();
    let _ = fs::remove_dir_all(&data);
    let reg = Registry::start_on(&base.join("fill"), &data, false);
    let o = Command::new("bash")
        .arg(repo_root().join("hack/lib/test-images.sh"))
        .arg("push")
        .arg(&images)
        .arg(reg.host())
        .output()
        .expect("running test-images.sh push");
    assert!(
        o.status.success(),
        "pushing test images failed:\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    drop(reg);
    fs::write(base.join(".complete"), "").expect("marking registry storage complete");
    data
}

/// A `docker-registry` on 127.0.0.1, killed on drop (and, through
/// `setpriv --pdeathsig`, when the test process dies).
pub struct Registry {
    child: Child,
    port: u16,
}

impl Registry {
    /// Starts a read-only registry serving the test images.
    pub fn start(dir: &Path) -> Registry {
        let data = registry_storage();
        Registry::start_on(dir, &data, true)
    }

    fn start_on(dir: &Path, data: &Path, read_only: bool) -> Registry {
        fs::create_dir_all(dir).expect("creating registry config dir");
        for attempt in 0..5 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .map(|a| a.port())
                .expect("finding a free port");
            let config = dir.join("config.yml");
            fs::write(
                &config,
                format!(
                    "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  maintenance:\n    uploadpurging:\n      enabled: false\n    readonly:\n      enabled: {read_only}\nhttp:\n  addr: 127.0.0.1:{port}\n",
                    data.display()
                ),
            )
            .expect("writing registry config");
            let log = fs::File::create(dir.join("registry.log")).expect("registry log");
            let child = Command::new("setpriv")
                .args(["--pdeathsig", "KILL", "docker-registry", "serve"])
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("dup log"))
                .stderr(log)
                .spawn()
                .expect("starting docker-registry (apt-get install docker-registry)");
            let mut reg = Registry { child, port };
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if matches!(reg.child.try_wait(), Ok(Some(_))) {
                    break;
                }
                if ureq::get(&format!("http://127.0.0.1:{port}/v2/"))
                    .call()
                    .is_ok()
                {
                    return reg;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = reg.child.kill();
            let _ = reg.child.wait();
            eprintln!(
                "registry attempt {attempt} on port {port} failed: {}",
                fs::read_to_string(dir.join("registry.log")).unwrap_or_default()
            );
        }
        panic!(
            "docker-registry did not start; see {}",
            dir.join("registry.log").display()
        );
    }

    /// `127.0.0.1:<port>`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn pid_alive(pid: i32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// The pid a leftover name was made by (`kubelet-test-<test>-<pid>`).
fn owner_pid(name: &str) -> Option<i32> {
    name.strip_prefix(PREFIX)?.rsplit('-').next()?.parse().ok()
}

/// Removes cgroups and state dirs of test processes that no longer exist.
fn clean_leftovers(mgr: &dyn cgroups::CgroupManager) {
    let mut names = std::collections::BTreeSet::new();
    for root in [
        "/sys/fs/cgroup",
        "/sys/fs/cgroup/pids",
        "/sys/fs/cgroup/memory",
        "/sys/fs/cgroup/cpu",
    ] {
        for e in fs::read_dir(root).into_iter().flatten().flatten() {
            names.insert(e.file_name().to_string_lossy().into_owned());
        }
    }
    let states = scratch().join("kubelet-runtime");
    for e in fs::read_dir(&states).into_iter().flatten().flatten() {
        names.insert(e.file_name().to_string_lossy().into_owned());
    }
    for name in names {
        let Some(pid) = owner_pid(&name) else {
            continue;
        };
        if pid_alive(pid) {
            continue;
        }
        eprintln!("removing leftovers of an earlier run: {name}");
        if let Err(e) = mgr.remove(&name) {
            eprintln!("  cgroup {name}: {e}");
        }
        container_runtime::sandbox::unmount_below(&states.join(&name));
        let _ = fs::remove_dir_all(states.join(&name));
    }
}

/// One test's private runtime; removes everything it made on drop.
pub struct Env {
    /// The runtime under test.
    pub rt: Runtime,
    /// `kubelet-test-<test>-<pid>`: cgroup root and state dir name.
    pub name: String,
    /// State dir (root dir, logs, config file).
    pub dir: PathBuf,
    /// The registry, for pull tests.
    pub registry: Option<Registry>,
}

impl Env {
    /// A runtime with the busybox test image imported from its OCI layout;
    /// `None` (after a message) when not root.
    pub fn new(test: &str) -> Option<Env> {
        let env = Env::bare(test, false)?;
        env.rt
            .images()
            .import(&test_images().join("busybox"), None, Some("busybox"))
            .expect("importing busybox");
        Some(env)
    }

    /// A runtime with an empty image store and a local registry configured
    /// as the `docker.io` mirror.
    pub fn with_registry(test: &str) -> Option<Env> {
        Env::bare(test, true)
    }

    fn bare(test: &str, registry: bool) -> Option<Env> {
        if !is_root(test) {
            return None;
        }
        let mgr = cgroups::detect().expect("detecting cgroups");
        clean_leftovers(mgr.as_ref());
        let name = format!("{PREFIX}{test}-{}", std::process::id());
        let dir = scratch().join("kubelet-runtime").join(&name);
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("creating state dir");
        let registry = registry.then(|| Registry::start(&dir.join("registry")));
        let mut cfg = Config {
            root_dir: dir.join("root"),
            pod_logs_dir: dir.join("logs"),
            cgroup_root: name.clone(),
            binary: helper_bin(),
            ..Config::default()
        };
        if let Some(r) = &registry {
            cfg.registry
                .registry_mirrors
                .insert("docker.io".into(), vec![format!("http://{}", r.host())]);
        }
        // The same settings as a kubelet config file, for `kubelet ctl` runs.
        let yaml = serde_yaml_ng::to_string(&cfg).expect("config to yaml");
        fs::write(dir.join("kubelet.yaml"), yaml).expect("writing kubelet.yaml");
        let rt = Runtime::new(cfg).expect("opening the runtime");
        Some(Env {
            rt,
            name,
            dir,
            registry,
        })
    }

    /// The runtime's configuration.
    pub fn config(&self) -> Config {
        self.rt.config().clone()
    }

    /// Path of the config file matching this env (for `kubelet ctl --config`).
    pub fn config_file(&self) -> PathBuf {
        self.dir.join("kubelet.yaml")
    }

    /// A second runtime on the same state (what a restarted kubelet opens).
    pub fn reopen(&self) -> Runtime {
        Runtime::new(self.config()).expect("reopening the runtime")
    }

    /// Starts a pod sandbox named `pod`.
    pub fn sandbox(&self, pod: &str) -> String {
        self.sandbox_with(PodSandboxConfig {
            name: pod.into(),
            namespace: "test".into(),
            uid: container_runtime::new_id(),
            ..Default::default()
        })
    }

    /// Starts a pod sandbox.
    pub fn sandbox_with(&self, cfg: PodSandboxConfig) -> String {
        self.rt.run_sandbox(cfg).expect("run_sandbox")
    }

    /// Creates and starts a container running `cmd` in busybox.
    pub fn start(
        &self,
        sandbox: &str,
        name: &str,
        cmd: &[&str],
        tweak: impl FnOnce(&mut ContainerConfig),
    ) -> String {
        let mut cfg = container(name, cmd);
        tweak(&mut cfg);
        let id = self
            .rt
            .create_container(sandbox, cfg)
            .expect("create_container");
        self.rt.start_container(&id).expect("start_container");
        id
    }

    /// Runs `cmd` to completion; returns its final state and its output.
    pub fn run(
        &self,
        sandbox: &str,
        name: &str,
        cmd: &[&str],
        tweak: impl FnOnce(&mut ContainerConfig),
    ) -> (ContainerState, String) {
        let id = self.start(sandbox, name, cmd, tweak);
        let st = self.wait_exit(&id, Duration::from_secs(30));
        (st, self.logs(&id))
    }

    /// Waits until the container is no longer running.
    pub fn wait_exit(&self, id: &str, timeout: Duration) -> ContainerState {
        let st = self
            .rt
            .wait_container(id, Some(timeout))
            .expect("wait_container");
        assert_ne!(
            st.status,
            Status::Running,
            "container {id} still running after {timeout:?}"
        );
        st
    }

    /// Everything the container wrote so far (stdout and stderr).
    pub fn logs(&self, id: &str) -> String {
        logs_of(&self.rt, id, false)
    }

    /// Waits until the container's log contains `text`.
    pub fn wait_log(&self, id: &str, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let l = self.logs(id);
            if l.contains(text) {
                return l;
            }
            assert!(
                Instant::now() < deadline,
                "{text:?} never appeared in the log of {id}: {l:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Runs a command in the container; returns exit code and output.
    pub fn exec(&self, id: &str, cmd: &[&str]) -> (i32, String) {
        let args: Vec<String> = cmd.iter().map(|s| s.to_string()).collect();
        let out = self
            .rt
            .exec_command(id, &args, false)
            .expect("exec_command")
            .stdin(Stdio::null())
            .output()
            .expect("running the exec helper");
        let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&out.stderr));
        (out.status.code().unwrap_or(-1), text)
    }
}

/// A busybox container config running `cmd`.
pub fn container(name: &str, cmd: &[&str]) -> ContainerConfig {
    ContainerConfig {
        name: name.into(),
        image: "busybox:1.36".into(),
        command: Some(cmd.iter().map(|s| s.to_string()).collect()),
        ..Default::default()
    }
}

/// A container's log text through a given runtime.
pub fn logs_of(rt: &Runtime, id: &str, previous: bool) -> String {
    let mut s = String::new();
    rt.container_logs(id, previous, &Options::default(), &mut |_, b| {
        s.push_str(&String::from_utf8_lossy(b))
    })
    .expect("container_logs");
    s
}

impl Drop for Env {
    fn drop(&mut self) {
        let rt = &self.rt;
        for sb in rt.list_sandboxes().unwrap_or_default() {
            if let Err(e) = rt.remove_sandbox(&sb.id) {
                eprintln!("cleanup: sandbox {}: {e}", sb.id);
            }
        }
        for c in rt.list_containers().unwrap_or_default() {
            if let Err(e) = rt.remove_container(&c.spec.id) {
                eprintln!("cleanup: container {}: {e}", c.spec.id);
            }
        }
        // Whatever is still in our cgroups (a failed test's leftovers).
        if let Err(e) = rt.cgroups().remove(&self.name) {
            eprintln!("cleanup: cgroup {}: {e}", self.name);
        }
        rt.reap();
        self.registry = None;
        container_runtime::sandbox::unmount_below(&self.dir);
        if let Err(e) = fs::remove_dir_all(&self.dir) {
            eprintln!("cleanup: {}: {e}", self.dir.display());
        }
    }
}
