//! `kubelet ctl` on the built-in runtime: the kubelet binary drives the
//! runtime as a short-lived process, and what it started outlives it. The
//! harness is the runtime tests' own
//! (`container-runtime/tests/support`), here with the kubelet binary as
//! the runtime's helper. Needs root; skipped otherwise, a failure under `hack/test.sh`.

#[path = "../../container-runtime/tests/support/mod.rs"]
mod support;

use container_runtime::state::{self, Status};
use std::process::Command;
use std::time::Duration;
use support::{logs_of, Env};

/// A `kubelet ctl` command on the env's state (its config file).
fn kubelet_ctl(env: &Env) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_kubelet"));
    c.arg("--config").arg(env.config_file()).arg("ctl");
    c
}

macro_rules! test_env {
    ($name:literal) => {
        match Env::new($name) {
            Some(e) => e,
            None => return,
        }
    };
}

#[test]
fn container_outlives_a_killed_kubelet_and_is_found_again() {
    let env = test_env!("survive");
    // `kubelet ctl run` (a kubelet process) starts the container and follows
    // its output; then it is SIGKILLed.
    let mut ctl = kubelet_ctl(&env)
        .args([
            "run",
            "--name",
            "survivor",
            "busybox:1.36",
            "--",
            "sh",
            "-c",
            "echo started; exec sleep 300",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .expect("kubelet ctl run");
    let mut first = String::new();
    {
        use std::io::BufRead;
        let out = ctl.stdout.take().expect("stdout");
        std::io::BufReader::new(out)
            .read_line(&mut first)
            .expect("reading ctl output");
    }
    assert_eq!(first, "started\n");
    ctl.kill().expect("killing kubelet ctl");
    let _ = ctl.wait();

    // A new runtime finds the container running, with its process intact.
    let rt = env.reopen();
    let list = rt.list_containers().expect("list");
    assert_eq!(list.len(), 1);
    let c = &list[0];
    assert_eq!(c.spec.config.name, "survivor");
    assert_eq!(c.state.status, Status::Running, "{:?}", c.state);
    assert!(state::alive(c.state.pid, c.state.pid_start));
    assert!(state::alive(c.state.monitor_pid, c.state.monitor_start));
    let sbs = rt.list_sandboxes().expect("sandboxes");
    assert_eq!(sbs.len(), 1);
    assert_eq!(
        sbs[0].state,
        container_runtime::sandbox::PodSandboxState::Ready
    );
    // It can still be entered, stopped, and its exit is recorded by its monitor.
    let (code, out) = env.exec(&c.spec.id, &["hostname"]);
    assert_eq!((code, out.as_str()), (0, "survivor\n"));
    let st = rt
        .stop_container(&c.spec.id, Duration::from_millis(100))
        .expect("stop");
    assert_eq!((st.status, st.exit_code), (Status::Exited, 137), "{st:?}");
    assert!(
        !state::alive(c.state.monitor_pid, c.state.monitor_start),
        "monitor exits with its container"
    );
    assert_eq!(logs_of(&rt, &c.spec.id, false), "started\n");

    // `kubelet ctl rm` removes it and the pod `run` made for it.
    let o = kubelet_ctl(&env)
        .args(["rm", "survivor"])
        .output()
        .expect("ctl rm");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(rt.list_containers().expect("list").is_empty());
    assert!(rt.list_sandboxes().expect("list").is_empty());
}

#[test]
fn ctl_run_pulls_through_the_docker_io_mirror() {
    let Some(env) = Env::with_registry("ctl-pull") else {
        return;
    };
    // The `kubelet ctl` way, with the same config file as the runtime's.
    let o = kubelet_ctl(&env)
        .args(["run", "--rm", "busybox:1.36", "--", "/bin/echo", "hi"])
        .output()
        .expect("ctl run");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "hi\n");
}
