//! The built-in runtime against the real kernel: every check looks from
//! inside the container (its /proc, hostname, mounts, cgroup files, network),
//! plus real pulls from a local registry. Needs root; skipped otherwise, a failure under `hack/test.sh`.
//!
//! Each test has its own state dir and cgroup root (`kubelet-test-<test>-<pid>`)
//! and removes them, and everything it started, when it ends (see `support`).

mod support;

use container_runtime::cgroups::Version;
use container_runtime::images::PullPolicy;
use container_runtime::sandbox::PodSandboxConfig;
use container_runtime::state::{self, Status};
use std::time::Duration;
use support::{logs_of, Env};

macro_rules! test_env {
    ($name:literal) => {
        match Env::new($name) {
            Some(e) => e,
            None => return,
        }
    };
}

fn lines(s: &str) -> Vec<&str> {
    s.lines().map(str::trim).filter(|l| !l.is_empty()).collect()
}

#[test]
fn container_sees_its_own_pid_namespace_hostname_and_mounts() {
    let env = test_env!("own-world");
    let sb = env.sandbox("web-0");
    let script = "cat /proc/1/cmdline | tr '\\0' ' '; echo; \
                  echo pids: $(ls /proc | grep -c '^[0-9]'); \
                  echo host: $(hostname); \
                  cat /proc/mounts; \
                  echo hosts: $(grep web-0 /etc/hosts); \
                  ls /dev | tr '\\n' ' '; echo; \
                  for f in /proc/kcore /proc/keys /proc/timer_list; do [ -e $f ] && echo masked $f $(wc -c < $f); done; \
                  touch /sys/x 2>/dev/null && echo sys-writable || echo sys-readonly; \
                  echo cwd: $(pwd)";
    let id = env.start(&sb, "look", &["/bin/sh", "-c", script], |_| {});
    let st = env.wait_exit(&id, Duration::from_secs(30));
    let out = env.logs(&id);
    assert_eq!((st.status, st.exit_code), (Status::Exited, 0), "{out}");
    assert_eq!(st.reason, "Completed");
    // The /etc files' mount points came from the shared mount-point layer:
    // nothing was written into the container's own layer for them.
    let spec = env.rt.container(&id).expect("container").spec;
    let upper = spec.writable().join("upper");
    assert!(
        upper.is_dir() && !upper.join("etc").exists(),
        "{}",
        upper.display()
    );
    let l = lines(&out);
    // pid 1 is the container's own command, and it sees only its own processes.
    assert!(l[0].starts_with("/bin/sh -c cat /proc/1/cmdline"), "{out}");
    let pids: usize = l[1]
        .trim_start_matches("pids: ")
        .parse()
        .expect("pid count");
    assert!(pids <= 4, "the container sees foreign processes: {out}");
    assert!(
        l.contains(&"host: web-0"),
        "hostname is the pod name: {out}"
    );
    assert!(out.contains("hosts: 127.0.1.1 web-0"), "{out}");
    // The root is the overlay of the image layers; /proc, /dev, /sys are its own.
    let mounts: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split(' ').collect::<Vec<_>>())
        .filter(|f| f.len() == 6)
        .collect();
    let mount = |target: &str| mounts.iter().find(|f| f[1] == target).cloned();
    let root = mount("/").expect("a mount on /");
    assert_eq!(root[2], "overlay", "{out}");
    assert!(
        root[3].contains("lowerdir=") && root[3].contains("upperdir="),
        "{out}"
    );
    assert_eq!(mount("/proc").expect("/proc")[2], "proc");
    assert_eq!(mount("/dev").expect("/dev")[2], "tmpfs");
    assert_eq!(mount("/dev/pts").expect("/dev/pts")[2], "devpts");
    assert_eq!(mount("/dev/shm").expect("/dev/shm")[2], "tmpfs");
    let sys = mount("/sys").expect("/sys");
    assert!(
        sys[3].split(',').any(|o| o == "ro"),
        "/sys read-only: {out}"
    );
    assert!(out.contains("sys-readonly"), "{out}");
    assert!(
        mount("/etc/hosts").is_some(),
        "the pod's /etc/hosts is bind-mounted: {out}"
    );
    // Host paths are unreachable: nothing from the host's mount table.
    assert!(
        mount("/sys/fs/cgroup/memory").is_some() || mount("/sys/fs/cgroup").is_some(),
        "{out}"
    );
    assert!(
        !out.contains(env!("CARGO_MANIFEST_DIR")),
        "host paths leak into the container: {out}"
    );
    // A minimal /dev and a masked /proc/kcore.
    let devs = out
        .lines()
        .find(|l| l.contains("null") && l.contains("urandom"))
        .expect("ls /dev");
    for d in [
        "null", "zero", "full", "random", "urandom", "tty", "pts", "shm", "ptmx",
    ] {
        assert!(devs.split(' ').any(|x| x == d), "/dev lacks {d}: {devs}");
    }
    assert!(!devs.contains("sda") && !devs.contains("mem "), "{devs}");
    let masked: Vec<&&str> = l.iter().filter(|x| x.starts_with("masked ")).collect();
    assert!(!masked.is_empty(), "{out}");
    assert!(
        masked.iter().all(|x| x.ends_with(" 0")),
        "masked /proc files read empty: {masked:?}"
    );
    assert!(l.contains(&"cwd: /"), "{out}");

    // Seen from the host, the container is an ordinary process in other namespaces.
    let info = env.rt.list_containers().expect("list")[0].clone();
    assert_eq!(info.spec.config.name, "look");

    // A container that mounts its own /etc/hosts keeps it; the pod's
    // resolv.conf is still there.
    let own = tempfile::NamedTempFile::new().expect("hosts file");
    std::fs::write(own.path(), "10.9.9.9 mine\n").expect("write");
    let (st, out) = env.run(
        &sb,
        "own-hosts",
        &[
            "/bin/sh",
            "-c",
            "cat /etc/hosts; test -s /etc/resolv.conf && echo resolv",
        ],
        |c| {
            c.mounts.push(container_runtime::cri::Mount {
                host_path: own.path().to_path_buf(),
                container_path: "/etc/hosts".into(),
                read_only: true,
                propagation: Default::default(),
                image: None,
            })
        },
    );
    assert_eq!(st.exit_code, 0, "{out}");
    assert!(out.starts_with("10.9.9.9 mine\n"), "{out}");
    assert!(!out.contains("Kubernetes-managed"), "{out}");
    assert!(out.contains("resolv"), "{out}");
}

#[test]
fn host_sees_container_as_a_process_in_other_namespaces() {
    let env = test_env!("host-view");
    let sb = env.sandbox("p");
    let id = env.start(&sb, "sleeper", &["sleep", "300"], |_| {});
    let c = env.rt.container(&id).expect("container");
    assert_eq!(c.state.status, Status::Running);
    assert!(state::alive(c.state.pid, c.state.pid_start));
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", c.state.pid)).expect("cmdline");
    assert_eq!(String::from_utf8_lossy(&cmdline), "sleep\u{0}300\u{0}");
    for ns in ["pid", "mnt", "net", "uts", "ipc", "cgroup"] {
        let ours = std::fs::read_link(format!("/proc/self/ns/{ns}")).expect("own ns");
        let theirs =
            std::fs::read_link(format!("/proc/{}/ns/{ns}", c.state.pid)).expect("container ns");
        assert_ne!(ours, theirs, "the container shares our {ns} namespace");
    }
    // pid 1 of a pid namespace ignores signals it has no handler for, so
    // `sleep` does not die of SIGTERM: after the grace period comes SIGKILL.
    let st = env
        .rt
        .stop_container(&id, Duration::from_millis(200))
        .expect("stop");
    assert_eq!(st.status, Status::Exited);
    assert_eq!(st.exit_code, 137, "SIGKILL: {st:?}");
    assert!(!state::alive(c.state.pid, c.state.pid_start));
}

#[test]
fn memory_limit_gets_the_process_oom_killed() {
    let env = test_env!("oom");
    let sb = env.sandbox("hungry");
    let (st, out) = env.run(
        &sb,
        "eat",
        // dd allocates one 64 MiB buffer and fills it: twice the limit.
        &["dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1"],
        |c| c.resources.memory_limit_bytes = Some(32 << 20),
    );
    assert_eq!(st.status, Status::Exited, "{out}");
    assert_eq!(st.exit_code, 137, "{st:?} {out}");
    assert_eq!(st.reason, "OOMKilled", "{st:?}");
    let id = env.rt.list_containers().expect("list")[0].spec.id.clone();
    assert!(env.rt.container_stats(&id).expect("stats").oom_kills >= 1);

    // The same command fits under a larger limit, which the container sees.
    let (st, out) = env.run(
        &sb,
        "fits",
        &[
            "sh",
            "-c",
            "cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes; \
             dd if=/dev/zero of=/dev/null bs=16M count=1 2>/dev/null && echo ok",
        ],
        |c| c.resources.memory_limit_bytes = Some(64 << 20),
    );
    assert_eq!(
        (st.exit_code, st.reason.as_str()),
        (0, "Completed"),
        "{out}"
    );
    assert_eq!(
        lines(&out),
        vec![(64u64 << 20).to_string().as_str(), "ok"],
        "{out}"
    );
}

#[test]
fn cpu_quota_is_visible_and_enforced_in_the_cgroup() {
    let env = test_env!("cpu-quota");
    let sb = env.sandbox("cpu");
    let v2 = env.rt.cgroups().version() == Version::V2;
    let show = if v2 {
        "cat /sys/fs/cgroup/cpu.max /sys/fs/cgroup/cpu.weight; stat=/sys/fs/cgroup/cpu.stat"
    } else {
        "cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.cfs_period_us /sys/fs/cgroup/cpu/cpu.shares; \
         stat=/sys/fs/cgroup/cpu/cpu.stat"
    };
    // Burn CPU for half a second, then read the throttling counter.
    let script = format!(
        "{show}; cat /proc/self/cgroup | head -1; \
         (while :; do :; done) & sleep 0.5; kill $!; grep nr_throttled $stat"
    );
    let (st, out) = env.run(&sb, "burn", &["sh", "-c", &script], |c| {
        c.resources.cpu_limit_milli = Some(250);
        c.resources.cpu_request_milli = Some(100);
    });
    assert_eq!(st.exit_code, 0, "{out}");
    let l = lines(&out);
    if v2 {
        assert_eq!(l[0], "25000 100000", "{out}");
        assert_eq!(
            l[1],
            container_runtime::cgroups::shares_to_weight(102).to_string(),
            "{out}"
        );
    } else {
        assert_eq!(&l[..3], ["25000", "100000", "102"], "{out}");
    }
    // The cgroup namespace makes the container's cgroup its root.
    assert!(l.iter().any(|x| x.ends_with(":/")), "{out}");
    let throttled: u64 = l
        .iter()
        .find_map(|x| x.strip_prefix("nr_throttled "))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no nr_throttled in {out}"));
    assert!(
        throttled > 0,
        "a busy loop under a quarter CPU was never throttled: {out}"
    );

    // The host-side layout is kubepods-like: <root>/besteffort/pod<uid>/<container>.
    let c = &env.rt.list_containers().expect("list")[0];
    let path = &c.spec.cgroup_path;
    assert!(
        path.starts_with(&format!("{}/besteffort/pod", env.name)),
        "{path}"
    );
    assert!(path.ends_with(&c.spec.id), "{path}");
}

#[test]
fn containers_of_a_pod_share_localhost_but_not_pids() {
    let env = test_env!("pod-share");
    let sb = env.sandbox("duo");
    let server = env.start(
        &sb,
        "server",
        &[
            "sh",
            "-c",
            "for n in net pid uts; do readlink /proc/self/ns/$n; done; echo ready; \
             while :; do echo pong | nc -l -p 7777; done",
        ],
        |_| {},
    );
    let srv_log = env.wait_log(&server, "ready");
    let (st, out) = env.run(
        &sb,
        "client",
        &[
            "sh",
            "-c",
            "for n in net pid uts; do readlink /proc/self/ns/$n; done; \
             echo procs: $(ls /proc | grep -c '^[0-9]'); hostname; \
             for i in $(seq 50); do r=$(nc 127.0.0.1 7777 </dev/null) && [ -n \"$r\" ] && echo got $r && exit 0; sleep 0.1; done; exit 1",
        ],
        |_| {},
    );
    assert_eq!(
        st.exit_code, 0,
        "client could not reach the server over localhost: {out}"
    );
    assert!(out.contains("got pong"), "{out}");
    assert!(out.contains("duo\n"), "both see the pod's hostname: {out}");
    let srv = lines(&srv_log);
    let cli = lines(&out);
    assert_eq!(srv[0], cli[0], "same network namespace");
    assert_ne!(srv[1], cli[1], "different pid namespaces");
    assert_eq!(srv[2], cli[2], "same uts namespace");
    let procs: usize = cli[3].trim_start_matches("procs: ").parse().expect("count");
    assert!(procs <= 4, "the client sees the server's processes: {out}");

    // With shareProcessNamespace both containers see each other's processes.
    let shared = env.sandbox_with(PodSandboxConfig {
        name: "shared".into(),
        namespace: "test".into(),
        uid: container_runtime::new_id(),
        share_process_namespace: true,
        ..Default::default()
    });
    let _sleeper = env.start(&shared, "sleeper", &["sleep", "300"], |_| {});
    let (st, out) = env.run(&shared, "looker", &["sh", "-c", "ps -o pid,args"], |_| {});
    assert_eq!(st.exit_code, 0, "{out}");
    assert!(out.contains("sleep 300"), "{out}");

    // Sysctls land in the pod's own network and IPC namespaces, not the
    // host's.
    let host = |name: &str| {
        std::fs::read_to_string(container_runtime::sandbox::sysctl_path(name))
            .expect("host sysctl")
            .trim()
            .to_string()
    };
    let (port_start, rmid) = (
        host("net.ipv4.ip_unprivileged_port_start"),
        host("kernel.shm_rmid_forced"),
    );
    let tuned = env.sandbox_with(PodSandboxConfig {
        name: "tuned".into(),
        namespace: "test".into(),
        uid: container_runtime::new_id(),
        sysctls: [
            (
                "net/ipv4/ip_unprivileged_port_start".to_string(),
                "99".to_string(),
            ),
            ("kernel.shm_rmid_forced".to_string(), "1".to_string()),
        ]
        .into(),
        ..Default::default()
    });
    let (st, out) = env.run(
        &tuned,
        "reader",
        &[
            "cat",
            "/proc/sys/net/ipv4/ip_unprivileged_port_start",
            "/proc/sys/kernel/shm_rmid_forced",
        ],
        |_| {},
    );
    assert_eq!(st.exit_code, 0, "{out}");
    assert_eq!(out, "99\n1\n");
    assert_eq!(host("net.ipv4.ip_unprivileged_port_start"), port_start);
    assert_eq!(host("kernel.shm_rmid_forced"), rmid);

    // A pod on the host's network sees the node's network namespace and
    // its hosts file under upstream's host-network header (no traffic).
    let on_host = env.sandbox_with(PodSandboxConfig {
        name: "on-host".into(),
        namespace: "test".into(),
        uid: container_runtime::new_id(),
        host_network: true,
        ..Default::default()
    });
    let (st, out) = env.run(
        &on_host,
        "reader",
        &["sh", "-c", "readlink /proc/self/ns/net; cat /etc/hosts"],
        |_| {},
    );
    assert_eq!(st.exit_code, 0, "{out}");
    let host_net = std::fs::read_link("/proc/self/ns/net").expect("our net namespace");
    let node_hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
    assert_eq!(
        out,
        format!(
            "{}\n{}{node_hosts}",
            host_net.display(),
            container_runtime::sandbox::HOST_NETWORK_HOSTS_HEADER
        )
    );
}

#[test]
fn exec_runs_inside_the_running_container() {
    let env = test_env!("exec");
    let sb = env.sandbox("target");
    let id = env.start(
        &sb,
        "main",
        &[
            "sh",
            "-c",
            "echo $$ > /tmp/main.pid; echo ready; exec sleep 300",
        ],
        |c| {
            c.env.push(("GREETING".into(), "hello".into()));
        },
    );
    env.wait_log(&id, "ready");
    let (code, out) = env.exec(
        &id,
        &["sh", "-c", "while ! grep -q sleep /proc/1/cmdline; do sleep 0.01; done; cat /proc/1/cmdline | tr '\\0' ' '; echo; hostname; cat /tmp/main.pid; echo $GREETING; cat /proc/self/cgroup | head -1; exit 3"],
    );
    assert_eq!(code, 3, "exit code of the exec'd command: {out}");
    let l = lines(&out);
    assert_eq!(l[0], "sleep 300", "{out}");
    assert_eq!(l[1], "target", "{out}");
    assert_eq!(l[2], "1", "the file the container wrote is visible: {out}");
    assert_eq!(l[3], "hello", "the container's environment: {out}");
    assert!(l[4].ends_with(":/"), "inside the container's cgroup: {out}");
    let (code, out) = env.exec(&id, &["/no/such/binary"]);
    assert_eq!(code, 127, "{out}");
    // The exec'd process is gone, the container still runs.
    assert_eq!(
        env.rt.container(&id).expect("container").state.status,
        Status::Running
    );
    let st = env
        .rt
        .stop_container(&id, Duration::from_millis(100))
        .expect("stop");
    assert_eq!(st.status, Status::Exited);
    assert!(
        env.rt.exec_command(&id, &["true".into()], false).is_err(),
        "exec into an exited container"
    );
}

#[test]
fn logs_survive_a_runtime_restart_and_a_container_restart() {
    let env = test_env!("logs");
    let sb = env.sandbox("chatty");
    let id = env.start(
        &sb,
        "talker",
        &["sh", "-c", "i=0; while [ $i -lt 1000 ]; do echo line $i; echo err $i >&2; i=$((i+1)); sleep 0.01; done"],
        |_| {},
    );
    env.wait_log(&id, "line 5\n");
    {
        // A new runtime (a restarted kubelet) reads the same log, still growing.
        let rt2 = env.reopen();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !logs_of(&rt2, &id, false).contains("line 20\n") {
            assert!(std::time::Instant::now() < deadline, "log stopped growing");
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(logs_of(&rt2, &id, false).contains("err 3\n"));
    }
    env.rt
        .stop_container(&id, Duration::from_millis(100))
        .expect("stop");
    let first = env.logs(&id);
    assert!(
        first.starts_with("line 0\n") || first.starts_with("err 0\n"),
        "{first:.200}"
    );

    // The restart: attempt 1 of the same container name gets a new monitor
    // and a new file; attempt 0's log stays readable as "previous".
    let id2 = env.start(&sb, "talker", &["echo", "second life"], |c| c.attempt = 1);
    env.wait_exit(&id2, Duration::from_secs(10));
    assert_eq!(env.logs(&id2), "second life\n");
    let prev = logs_of(&env.rt, &id2, true);
    assert_eq!(prev, first, "previous attempt's log");
    let info = env.rt.container(&id2).expect("container");
    let dir = info.spec.log_path.parent().expect("log dir").to_path_buf();
    assert!(
        dir.join("0.log").is_file() && dir.join("1.log").is_file(),
        "{}",
        dir.display()
    );
    assert!(dir.starts_with(env.dir.join("logs")), "{}", dir.display());
    let pod_dir = dir
        .parent()
        .and_then(|p| p.file_name())
        .expect("pod dir")
        .to_string_lossy()
        .into_owned();
    assert!(
        pod_dir.starts_with("test_chatty_"),
        "<ns>_<pod>_<uid>: {pod_dir}"
    );
    let raw = std::fs::read_to_string(dir.join("1.log")).expect("raw log");
    let rec = container_runtime::logs::parse_line(raw.trim_end().as_bytes()).expect("a CRI record");
    assert!(rec.full && rec.content == b"second life", "{raw}");
    assert!(
        chrono::DateTime::parse_from_rfc3339(&rec.time).is_ok(),
        "{raw}"
    );

    // Tail and follow through the runtime API.
    let mut tail = String::new();
    env.rt
        .container_logs(
            &id,
            false,
            &container_runtime::logs::Options {
                tail: Some(2),
                ..Default::default()
            },
            &mut |_, b| tail.push_str(&String::from_utf8_lossy(b)),
        )
        .expect("tail");
    assert_eq!(tail.lines().count(), 2, "{tail}");
}

/// The parent pid (field 4 of `/proc/<pid>/stat`), `None` once it is gone.
fn parent_of(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = stat.rsplit_once(") ")?.1;
    rest.split(' ').nth(1)?.parse().ok()
}

/// Our children whose command line has `__launcher` in it.
fn launchers() -> Vec<i32> {
    let me = std::process::id() as i32;
    std::fs::read_dir("/proc")
        .expect("/proc")
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| parent_of(pid) == Some(me))
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| c.split(|b| *b == 0).any(|a| a == b"__launcher"))
        })
        .collect()
}

#[test]
fn monitors_are_forked_by_a_launcher_the_runtime_replaces_when_it_dies() {
    let env = test_env!("launcher");
    let sb = env.sandbox("forked");
    let long = env.start(&sb, "long", &["sleep", "60"], |_| {});
    let found = launchers();
    assert_eq!(found.len(), 1, "one launcher per runtime: {found:?}");
    let launcher = found[0];
    let st = env.rt.container(&long).expect("container").state;
    assert_eq!(
        parent_of(st.monitor_pid),
        Some(launcher),
        "forked by the launcher"
    );
    let comm = std::fs::read_to_string(format!("/proc/{}/comm", st.monitor_pid)).expect("comm");
    assert_eq!(comm.trim(), "monitor");

    // The launcher blocks SIGCHLD for its signalfd; a container must not
    // inherit that (nor anything else blocked).
    let (st2, out) = env.run(
        &sb,
        "mask",
        &["grep", "^SigBlk", "/proc/self/status"],
        |_| {},
    );
    assert_eq!(st2.exit_code, 0, "{out}");
    assert_eq!(lines(&out), ["SigBlk:\t0000000000000000"], "{out}");

    // A dead launcher is replaced on the next start; what it forked runs on.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(launcher),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("killing the launcher");
    let (st3, out) = env.run(&sb, "after", &["echo", "after"], |_| {});
    assert_eq!((st3.exit_code, out.as_str()), (0, "after\n"));
    let now = launchers();
    assert_eq!(now.len(), 1, "{now:?}");
    assert_ne!(now[0], launcher, "a new launcher");
    assert_eq!(
        env.rt.container(&long).expect("container").state.status,
        Status::Running,
        "the container of the dead launcher's monitor runs on"
    );

    // A launcher killed while a request waits in its socket (sending to it
    // succeeded) never forks: the runtime sees no answer and asks a new one.
    // Stopping it first makes the request wait there for certain.
    let stopped = now[0];
    let stopped_pid = nix::unistd::Pid::from_raw(stopped);
    nix::sys::signal::kill(stopped_pid, nix::sys::signal::Signal::SIGSTOP).expect("SIGSTOP");
    let (st6, out) = std::thread::scope(|s| {
        let start = s.spawn(|| env.run(&sb, "queued", &["echo", "queued"], |_| {}));
        std::thread::sleep(Duration::from_millis(300));
        nix::sys::signal::kill(stopped_pid, nix::sys::signal::Signal::SIGKILL).expect("SIGKILL");
        start.join().expect("the start thread")
    });
    assert_eq!((st6.exit_code, out.as_str()), (0, "queued\n"));
    let after = launchers();
    assert_eq!(after.len(), 1, "{after:?}");
    assert_ne!(after[0], stopped, "a new launcher");

    // A launcher that is stuck (here: stopped, and left so) is killed after
    // the answer's timeout and replaced; the start goes through.
    let stuck = after[0];
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(stuck),
        nix::sys::signal::Signal::SIGSTOP,
    )
    .expect("SIGSTOP");
    let waited = std::time::Instant::now();
    let (st7, out) = env.run(&sb, "unstuck", &["echo", "unstuck"], |_| {});
    assert_eq!((st7.exit_code, out.as_str()), (0, "unstuck\n"));
    assert!(
        waited.elapsed() >= Duration::from_secs(4),
        "the stopped launcher was waited for: {:?}",
        waited.elapsed()
    );
    let replaced = launchers();
    assert_eq!(
        replaced.len(),
        1,
        "the stuck launcher is gone: {replaced:?}"
    );
    assert_ne!(replaced[0], stuck, "a new launcher");

    // A runtime that goes (a kubelet that exits) takes its launcher along,
    // not the containers: the monitor keeps recording.
    let rt2 = env.reopen();
    let id = rt2
        .create_container(
            &sb,
            support::container("later", &["sh", "-c", "sleep 0.3; echo done"]),
        )
        .expect("create");
    rt2.start_container(&id).expect("start");
    assert_eq!(launchers().len(), 2, "each runtime has its own launcher");
    drop(rt2);
    assert_eq!(
        launchers().len(),
        1,
        "the dropped runtime's launcher exited"
    );
    let st4 = env.wait_exit(&id, Duration::from_secs(10));
    assert_eq!((st4.exit_code, env.logs(&id).as_str()), (0, "done\n"));

    // The runtime waits for its monitors' report pipes to close; a monitor
    // killed before it recorded an exit closes its pipe too, and the wait
    // then ends with the container Unknown, not Running.
    let monitor = env
        .rt
        .container(&long)
        .expect("container")
        .state
        .monitor_pid;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(monitor),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("killing the monitor");
    let st5 = env
        .rt
        .wait_container(&long, Some(Duration::from_secs(10)))
        .expect("wait");
    assert_eq!(st5.status, Status::Unknown, "{st5:?}");
}

#[test]
fn stop_escalates_to_sigkill_and_remove_cleans_up() {
    let env = test_env!("stop-rm");
    let sb = env.sandbox("stubborn");
    let id = env.start(
        &sb,
        "ignore-term",
        &[
            "sh",
            "-c",
            "trap '' TERM; echo armed; while :; do sleep 1; done",
        ],
        |_| {},
    );
    env.wait_log(&id, "armed");
    let t = std::time::Instant::now();
    let st = env
        .rt
        .stop_container(&id, Duration::from_millis(300))
        .expect("stop");
    assert_eq!((st.status, st.exit_code), (Status::Exited, 137), "{st:?}");
    assert!(
        t.elapsed() >= Duration::from_millis(300),
        "the grace period was honoured"
    );
    assert!(t.elapsed() < Duration::from_secs(5));

    let info = env.rt.container(&id).expect("container");
    let sandbox = env.rt.sandbox(&sb).expect("sandbox");
    // The pod's namespaces are pinned files, not a process.
    assert_eq!(sandbox.holder_pid, 0, "{sandbox:?}");
    let net = sandbox.ns("net").expect("the pod's own network namespace");
    let pinned = |p: &std::path::Path| {
        std::fs::read_to_string("/proc/self/mountinfo")
            .expect("mountinfo")
            .lines()
            .any(|l| l.split(' ').nth(4) == p.to_str())
    };
    assert!(pinned(&net), "{} is not a mount", net.display());
    env.rt.remove_sandbox(&sb).expect("remove sandbox");
    assert!(!pinned(&net), "the pin of {} is left", net.display());
    assert!(!info.spec.dir.exists(), "container dir removed");
    assert!(
        !info.spec.writable_dir.exists(),
        "writable layer {} removed",
        info.spec.writable_dir.display()
    );
    let mgr = env.rt.cgroups();
    assert!(mgr.pids(&sandbox.cgroup_path).expect("pids").is_empty());
    let pod_cgroup_dirs: Vec<_> = [
        "/sys/fs/cgroup",
        "/sys/fs/cgroup/memory",
        "/sys/fs/cgroup/pids",
    ]
    .iter()
    .map(|r| std::path::Path::new(r).join(&sandbox.cgroup_path))
    .filter(|p| p.exists())
    .collect();
    assert!(pod_cgroup_dirs.is_empty(), "{pod_cgroup_dirs:?}");
}

#[test]
fn security_context_user_capabilities_and_read_only_root() {
    let env = test_env!("security");
    let sb = env.sandbox("sec");
    let (st, out) = env.run(
        &sb,
        "app",
        &["sh", "-c", "id; grep -E '^Cap(Eff|Bnd)' /proc/self/status; grep NoNewPrivs /proc/self/status; touch /x && echo rw || echo ro; touch /tmp/y && echo tmp-ok"],
        |c| {
            c.security.run_as_user = Some(1000);
            c.security.allow_privilege_escalation = Some(false);
        },
    );
    assert_eq!(st.exit_code, 0, "{out}");
    assert!(out.starts_with("uid=1000(app) gid=1000(app)"), "{out}");
    assert!(out.contains("CapEff:\t0000000000000000"), "{out}");
    assert!(out.contains("NoNewPrivs:\t1"), "{out}");
    assert!(
        out.contains("\nro\n"),
        "a non-root user can't write /: {out}"
    );

    let (st, out) = env.run(
        &sb,
        "root-ro",
        &[
            "sh",
            "-c",
            "touch /x 2>/dev/null && echo rw || echo ro; grep CapBnd /proc/self/status",
        ],
        |c| {
            c.security.read_only_root_filesystem = true;
            c.security.capabilities_drop = vec!["ALL".into()];
            c.security.capabilities_add = vec![];
        },
    );
    assert_eq!(st.exit_code, 0, "{out}");
    assert!(out.contains("ro\n"), "{out}");
    assert!(out.contains("CapBnd:\t0000000000000000"), "{out}");

    let mut cfg = support::container("nonroot", &["true"]);
    cfg.security.run_as_non_root = true;
    let id = env.rt.create_container(&sb, cfg).expect("create");
    let err = env
        .rt
        .start_container(&id)
        .expect_err("runAsNonRoot with a root image must not start");
    assert!(err.to_string().contains("runAsNonRoot"), "{err}");
    let st = env.rt.container(&id).expect("container").state;
    assert_eq!(
        (st.status, st.reason.as_str()),
        (Status::Exited, "StartError"),
        "{st:?}"
    );
}

#[test]
fn pulls_through_the_docker_io_mirror_schema2_and_oci() {
    let Some(env) = Env::with_registry("pull") else {
        return;
    };
    // Never with an empty store fails without contacting anyone.
    assert!(env
        .rt
        .ensure_image("busybox:1.36", Some(PullPolicy::Never))
        .is_err());
    let oci = env
        .rt
        .ensure_image("busybox:1.36", None)
        .expect("pull busybox:1.36 via the mirror");
    assert_eq!(oci.repo_tags, vec!["docker.io/library/busybox:1.36"]);
    assert_eq!(oci.layers.len(), 1);
    let schema2 = env
        .rt
        .ensure_image("docker.io/library/busybox:1.36-docker", None)
        .expect("pull schema2");
    let manifest = std::fs::read(env.rt.images().blob_path(&schema2.manifest_digest))
        .expect("stored manifest");
    let m: serde_json::Value = serde_json::from_slice(&manifest).expect("manifest json");
    assert_eq!(
        m["mediaType"],
        "application/vnd.docker.distribution.manifest.v2+json"
    );
    assert_eq!(schema2.layers, oci.layers, "same layer blob, stored once");
    let layer_dirs = std::fs::read_dir(env.rt.images().layers_dir())
        .expect("layers")
        .count();
    assert_eq!(layer_dirs, 1);
    // IfNotPresent finds it without a pull; a container runs from it.
    let again = env
        .rt
        .ensure_image("busybox:1.36", Some(PullPolicy::IfNotPresent))
        .expect("present");
    assert_eq!(again.id, oci.id);
    let sb = env.sandbox("pulled");
    let (st, out) = env.run(&sb, "hi", &["echo", "hi"], |c| {
        c.image = "busybox:1.36-docker".into()
    });
    assert_eq!((st.exit_code, out.as_str()), (0, "hi\n"));
}

#[test]
fn pulls_layers_with_whiteouts_and_resolves_manifest_lists() {
    let Some(env) = Env::with_registry("pull-layers") else {
        return;
    };
    let layered = env
        .rt
        .ensure_image("layered:1", None)
        .expect("pull layered:1");
    assert_eq!(layered.layers.len(), 3, "{layered:?}");
    let sb = env.sandbox("layers");
    let (st, out) = env.run(
        &sb,
        "look",
        &["sh", "-c", "ls /data | tr '\\n' ' '; echo; cat /data/keep /data/new; test -e /data/gone && echo gone-exists; test -e /data/olddir && echo olddir-exists; echo done"],
        |c| c.image = "layered:1".into(),
    );
    assert_eq!(st.exit_code, 0, "{out}");
    assert_eq!(
        lines(&out),
        vec!["keep new", "keep", "new", "done"],
        "{out}"
    );

    // Image volumes: the three-layer image (an overlay without an upper
    // dir, whiteouts applied) and the one-layer busybox (a bind), both
    // read-only inside a busybox container.
    env.rt
        .ensure_image("busybox:1.36", None)
        .expect("pull busybox:1.36");
    let image_mount = |image: &str, at: &str| container_runtime::cri::Mount {
        host_path: Default::default(),
        container_path: at.into(),
        read_only: true,
        propagation: Default::default(),
        image: Some(image.into()),
    };
    let (st, out) = env.run(
        &sb,
        "volumes",
        &["sh", "-c", "ls /vol/data | tr '\\n' ' '; echo; cat /vol/data/new; test -x /one/bin/busybox && echo one; touch /vol/x /one/x 2>&1 | grep -c 'Read-only'"],
        |c| {
            c.image = "busybox:1.36".into();
            c.mounts.push(image_mount("layered:1", "/vol"));
            c.mounts.push(image_mount("busybox:1.36", "/one"));
        },
    );
    assert_eq!(st.exit_code, 0, "{out}");
    assert_eq!(lines(&out), vec!["keep new", "new", "one", "2"], "{out}");
    // An image volume of an image the store does not have is refused at
    // create, with the image named.
    let missing = env.rt.create_container(
        &sb,
        container_runtime::cri::ContainerConfig {
            name: "missing".into(),
            image: "busybox:1.36".into(),
            mounts: vec![image_mount("nothere:1", "/x")],
            ..Default::default()
        },
    );
    let err = missing.expect_err("no such image").to_string();
    assert!(err.contains("nothere:1"), "{err}");

    // The index lists linux/amd64 -> busybox and linux/arm64 -> layered.
    let multi = env
        .rt
        .ensure_image("multiarch:1", None)
        .expect("pull multiarch:1");
    let index = std::fs::read_dir(env.rt.images().root().join("blobs/sha256"))
        .expect("blobs")
        .count();
    assert!(index >= 5, "index, manifests and configs are stored");
    if container_runtime::images::oci::host_arch() == oci_spec::image::Arch::Amd64 {
        assert_eq!(
            multi.layers.len(),
            1,
            "the amd64 entry (busybox) was chosen: {multi:?}"
        );
        assert_eq!(
            multi.layers[0], layered.layers[0],
            "its layer was already present"
        );
        let (st, out) = env.run(
            &sb,
            "multi",
            &["sh", "-c", "test -d /data && echo wrong || echo right"],
            |c| c.image = "multiarch:1".into(),
        );
        assert_eq!((st.exit_code, out.as_str()), (0, "right\n"));
    }
    let unpacked = std::fs::read_dir(env.rt.images().layers_dir())
        .expect("layers")
        .count();
    assert_eq!(unpacked, 3, "each layer unpacked once");
}

/// What the kubelet's pod workers do, through the CRI-like traits only (as
/// trait objects, so nothing but the traits is reachable): a sandbox, a
/// container in it, `ExecSync` with output, exit code and a timeout, then
/// stop and removal.
#[test]
fn cri_services_drive_a_pod_with_exec_sync() {
    use container_runtime::cri::{
        ContainerFilter, ImageService, PodSandboxConfig, PodSandboxFilter, PodSandboxState,
        RuntimeService,
    };
    let env = test_env!("cri");
    let rt: &dyn RuntimeService = &env.rt;
    let images: &dyn ImageService = &env.rt;
    let busybox = images
        .image_status("busybox:1.36")
        .expect("image status")
        .expect("busybox is imported");
    assert!(images
        .list_images()
        .expect("list images")
        .iter()
        .any(|i| i.id == busybox.id));
    assert_eq!(images.image_status("nope:1").expect("image status"), None);

    let sb = rt
        .run_pod_sandbox(PodSandboxConfig {
            name: "cri-0".into(),
            namespace: "test".into(),
            uid: container_runtime::new_id(),
            ..Default::default()
        })
        .expect("run_pod_sandbox");
    assert_eq!(
        rt.pod_sandbox_status(&sb).expect("sandbox status").state,
        PodSandboxState::Ready
    );
    assert!(rt.pod_sandbox_dir(&sb).join("resolv.conf").is_file());
    let id = rt
        .create_container(
            &sb,
            support::container("main", &["sh", "-c", "echo ready; exec sleep 300"]),
        )
        .expect("create_container");
    rt.start_container(&id).expect("start_container");
    env.wait_log(&id, "ready");
    let listed = rt.list_containers().expect("list_containers");
    assert!(listed
        .iter()
        .any(|c| c.spec.id == id && c.spec.sandbox_id == sb));
    // Filtered listings return one pod's sandbox and containers only.
    let other_uid = container_runtime::new_id();
    let other = rt
        .run_pod_sandbox(PodSandboxConfig {
            name: "cri-1".into(),
            namespace: "test".into(),
            uid: other_uid.clone(),
            ..Default::default()
        })
        .expect("run_pod_sandbox");
    let mut idle = support::container("idle", &["true"]);
    idle.labels.insert("pod".into(), "other".into());
    let other_c = rt.create_container(&other, idle).expect("create_container");
    let ids = |f: &ContainerFilter| -> Vec<String> {
        let listed = rt.list_containers_filtered(f).expect("filtered list");
        listed.into_iter().map(|c| c.spec.id).collect()
    };
    let of_sandbox = |sb: &str| ContainerFilter {
        pod_sandbox_id: Some(sb.to_string()),
        ..Default::default()
    };
    assert_eq!(ids(&of_sandbox(&sb)), vec![id.clone()]);
    assert_eq!(ids(&of_sandbox(&other)), vec![other_c.clone()]);
    assert_eq!(
        ids(&ContainerFilter::label("pod", "other")),
        vec![other_c.clone()]
    );
    assert!(ids(&ContainerFilter::label("pod", "none")).is_empty());
    let sandboxes = rt
        .list_pod_sandboxes_filtered(&PodSandboxFilter::pod(&other_uid))
        .expect("filtered sandboxes");
    assert_eq!(
        sandboxes.into_iter().map(|s| s.id).collect::<Vec<_>>(),
        vec![other.clone()]
    );
    rt.remove_container(&other_c).expect("remove_container");
    assert!(ids(&of_sandbox(&other)).is_empty());
    rt.stop_pod_sandbox(&other, Duration::from_secs(0))
        .expect("stop_pod_sandbox");
    rt.remove_pod_sandbox(&other).expect("remove_pod_sandbox");
    assert_eq!(
        rt.container_status(&id).expect("status").state.status,
        Status::Running
    );
    // The image is in use now: removing it is refused.
    assert!(images.remove_image("busybox:1.36").is_err());

    let cmd = |s: &str| vec!["sh".to_string(), "-c".to_string(), s.to_string()];
    let r = rt
        .exec_sync(&id, &cmd("echo out; echo err >&2; hostname; exit 7"), None)
        .expect("exec_sync");
    assert_eq!(r.exit_code, 7);
    assert_eq!(String::from_utf8_lossy(&r.stdout), "out\ncri-0\n");
    assert_eq!(String::from_utf8_lossy(&r.stderr), "err\n");
    let started = std::time::Instant::now();
    let err = rt
        .exec_sync(&id, &cmd("sleep 30"), Some(Duration::from_millis(300)))
        .expect_err("a command past its timeout");
    assert!(
        matches!(err, container_runtime::Error::ExecTimeout { .. }),
        "{err}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the timeout did not cut the command short: {:?}",
        started.elapsed()
    );

    rt.stop_container(&id, Duration::from_millis(100))
        .expect("stop_container");
    assert_eq!(
        rt.container_status(&id).expect("status").state.status,
        Status::Exited
    );
    assert!(
        rt.exec_sync(&id, &cmd("true"), None).is_err(),
        "exec into an exited container"
    );
    rt.remove_container(&id).expect("remove_container");
    assert!(rt.container_status(&id).is_err());
    rt.stop_pod_sandbox(&sb, Duration::from_secs(0))
        .expect("stop_pod_sandbox");
    rt.remove_pod_sandbox(&sb).expect("remove_pod_sandbox");
    assert!(rt
        .list_pod_sandboxes()
        .expect("list sandboxes")
        .iter()
        .all(|s| s.id != sb));
    // Unused now: the image can go.
    assert_eq!(
        images
            .remove_image("busybox:1.36")
            .expect("remove_image")
            .id,
        busybox.id
    );
    assert_eq!(
        images.image_status("busybox:1.36").expect("image status"),
        None
    );
}

#[test]
fn only_a_helper_of_the_same_build_is_used() {
    let ours = std::path::Path::new(env!("CARGO_BIN_EXE_container-runtime"));
    assert!(container_runtime::helper_of_same_build(ours));
    // Another build (a stale binary beside a rebuilt kubelet), or something
    // that is no helper at all, is not.
    let dir = tempfile::tempdir().expect("dir");
    let stale = dir.path().join("container-runtime");
    std::fs::write(&stale, "#!/bin/sh\necho 0123456789abcdef\n").expect("write");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&stale, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    assert!(!container_runtime::helper_of_same_build(&stale));
    // A copy of the helper is one; the same bytes with another build id are not.
    let bytes = std::fs::read(ours).expect("read helper");
    std::fs::write(&stale, &bytes).expect("write");
    assert!(container_runtime::helper_of_same_build(&stale));
    let marker = format!("build-id={}", container_runtime::BUILD_ID);
    let at = bytes
        .windows(marker.len())
        .position(|w| w == marker.as_bytes())
        .expect("the helper holds its build id");
    let mut other = bytes;
    other[at + marker.len() - 1] ^= 1;
    std::fs::write(&stale, &other).expect("write");
    assert!(!container_runtime::helper_of_same_build(&stale));
    // The file is read in 64 KiB chunks: an id across two of them counts.
    let mut straddling = b"\x7fELF".to_vec();
    straddling.resize((64 << 10) - 20, 0);
    straddling.extend_from_slice(
        format!(
            "\nminik8s-container-runtime-build-id={}\n",
            container_runtime::BUILD_ID
        )
        .as_bytes(),
    );
    std::fs::write(&stale, &straddling).expect("write");
    assert!(container_runtime::helper_of_same_build(&stale));
    assert!(!container_runtime::helper_of_same_build(
        std::path::Path::new("/bin/true")
    ));
    assert!(!container_runtime::helper_of_same_build(
        &dir.path().join("missing")
    ));
}

/// Moves a record directory from the runtime's tmpfs to where a runtime
/// from before it kept records (another file system: copied, then removed).
fn move_records(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).expect("record dir");
    for e in std::fs::read_dir(from).expect("records").flatten() {
        let target = to.join(e.file_name());
        if e.path().is_dir() {
            std::fs::create_dir_all(&target).expect("dir");
        } else {
            std::fs::copy(e.path(), &target).expect("copy");
        }
    }
    std::fs::remove_dir_all(from).expect("removing the moved records");
}

#[test]
fn a_pod_recorded_by_an_earlier_runtime_on_disk_is_found_run_and_removed() {
    let env = test_env!("earlier-layout");
    let root = env.config().root_dir;
    // A pod without pinned namespaces (its records are plain files) and a
    // container created in it, then laid out as the runtime before
    // `run_dir` did: records in `<root>/sandboxes` and beside the writable
    // layer in `<root>/containers/<id>`, no `writableDir` in the spec.
    let sb = env.sandbox_with(PodSandboxConfig {
        name: "earlier".into(),
        namespace: "test".into(),
        uid: container_runtime::new_id(),
        host_network: true,
        host_ipc: true,
        ..Default::default()
    });
    let id = env
        .rt
        .create_container(&sb, support::container("c", &["echo", "still here"]))
        .expect("create_container");
    let run = root.join("run");
    move_records(
        &run.join("sandboxes").join(&sb),
        &root.join("sandboxes").join(&sb),
    );
    move_records(
        &run.join("containers").join(&id),
        &root.join("containers").join(&id),
    );
    let rewrite = |path: std::path::PathBuf| {
        let text = std::fs::read_to_string(&path).expect("record");
        let text = text.replace(
            &format!("{}/run/", root.display()),
            &format!("{}/", root.display()),
        );
        let mut v: serde_json::Value = serde_json::from_str(&text).expect("json");
        if let Some(o) = v.as_object_mut() {
            o.remove("writableDir");
        }
        std::fs::write(&path, v.to_string()).expect("writing the record");
    };
    rewrite(root.join("sandboxes").join(&sb).join("sandbox.json"));
    rewrite(root.join("containers").join(&id).join("spec.json"));

    // The upgraded runtime reads them where they are, runs and removes them.
    let rt = env.reopen();
    let c = rt.container(&id).expect("the earlier container is found");
    assert_eq!(c.spec.writable(), root.join("containers").join(&id));
    rt.start_container(&id).expect("start_container");
    let st = rt
        .wait_container(&id, Some(Duration::from_secs(30)))
        .expect("wait_container");
    assert_eq!((st.status, st.exit_code), (Status::Exited, 0), "{st:?}");
    assert!(logs_of(&rt, &id, false).contains("still here"));
    rt.remove_sandbox(&sb).expect("remove_sandbox");
    assert!(!root.join("containers").join(&id).exists());
    assert!(!root.join("sandboxes").join(&sb).exists());
    // With none of its pods left, the next start keeps records in memory.
    assert_eq!(
        container_runtime::run_dir::records_root(&root),
        root.join("run")
    );
}
