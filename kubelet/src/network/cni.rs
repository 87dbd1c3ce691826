//! Invoking CNI plugins: the execution protocol of the CNI specification.
//!
//! A plugin is an executable named by the `type` of a network configuration
//! and found in one of the `CNI_PATH` directories. The runtime (us) runs it
//! with:
//!
//! * the parameters in the environment: `CNI_COMMAND` (`ADD`, `DEL`,
//!   `CHECK`), `CNI_CONTAINERID`, `CNI_NETNS` (the path of the pod's network
//!   namespace; empty is allowed for `DEL` when it is gone), `CNI_IFNAME`,
//!   `CNI_ARGS` (`K=V;K=V`) and `CNI_PATH` (where delegated plugins, such as
//!   the IPAM plugin, are looked up);
//! * the network configuration as JSON on stdin;
//! * a result JSON on stdout on success (for `ADD`), or a non-zero exit and an
//!   error JSON `{code, msg, details}` on stdout.
//!
//! A configuration *list* runs its plugins in order for `ADD` and `CHECK` and
//! in reverse for `DEL`; the runtime copies the list's `name` and `cniVersion`
//! into each plugin's configuration, passes each plugin the result of the one
//! before as `prevResult` on `ADD` (on `CHECK` and `DEL`: the result of the
//! whole `ADD`, which the caller caches), and passes run-time data such as
//! port mappings under `runtimeConfig`, but only to the plugins that declare
//! the matching `capabilities`. The first failure stops the list.
//!
//! Plugins are children of the calling thread, so they act in the network
//! namespace the caller is in: the node's netns for the kubelet (bridge, veth
//! host ends, iptables rules of portmap).

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::{Map, Value};

use super::Error;

/// The operations a runtime asks of a plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Attach the container to the network.
    Add,
    /// Detach it and free what `ADD` took; must tolerate missing resources.
    Del,
    /// Verify that the attachment is still as `ADD` left it.
    Check,
}

impl Op {
    /// The `CNI_COMMAND` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Add => "ADD",
            Op::Del => "DEL",
            Op::Check => "CHECK",
        }
    }
}

/// One attachment's parameters, the same for every plugin of a list.
#[derive(Debug, Clone)]
pub struct Invocation<'a> {
    /// `CNI_CONTAINERID`: the sandbox id.
    pub container_id: &'a str,
    /// `CNI_NETNS`: empty when the namespace is gone (only valid for DEL).
    pub netns: &'a str,
    /// `CNI_IFNAME`.
    pub ifname: &'a str,
    /// `CNI_ARGS` pairs.
    pub args: &'a [(String, String)],
}

/// The error object a plugin prints on failure.
#[derive(Debug, Deserialize)]
struct PluginError {
    #[serde(default)]
    code: u32,
    #[serde(default)]
    msg: String,
    #[serde(default)]
    details: String,
}

/// Runs plugins found in a set of directories.
#[derive(Debug, Clone)]
pub struct Exec {
    /// Where plugin executables are looked up, in order (also `CNI_PATH`).
    pub bin_dirs: Vec<PathBuf>,
    /// How long one plugin may run before it is killed.
    pub timeout: Duration,
}

impl Exec {
    /// The executable for a plugin `type`. A type is a file name, never a
    /// path, so a configuration cannot make us run an arbitrary program.
    pub fn find(&self, plugin: &str) -> Result<PathBuf, Error> {
        let not_found = || Error::PluginNotFound {
            plugin: plugin.to_string(),
            dirs: self.bin_dirs.clone(),
        };
        if plugin.is_empty() || plugin.contains('/') || plugin == "." || plugin == ".." {
            return Err(not_found());
        }
        self.bin_dirs
            .iter()
            .map(|d| d.join(plugin))
            .find(|p| p.is_file())
            .ok_or_else(not_found)
    }

    /// Runs one plugin with `conf` on stdin. Returns its parsed stdout (the
    /// result) or `None` when it printed nothing, as `DEL` and `CHECK` do.
    pub fn run(&self, op: Op, inv: &Invocation<'_>, conf: &Value) -> Result<Option<Value>, Error> {
        let plugin = conf.get("type").and_then(Value::as_str).unwrap_or("");
        let path = self.find(plugin)?;
        let stdin = serde_json::to_vec(conf).map_err(|e| Error::BadResult {
            plugin: plugin.to_string(),
            reason: format!("encoding the configuration: {e}"),
        })?;
        let cni_path = std::env::join_paths(&self.bin_dirs).map_err(|e| Error::Exec {
            path: path.clone(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidInput, e),
        })?;
        let cni_args = inv
            .args
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(";");
        let mut cmd = Command::new(&path);
        cmd.env("CNI_COMMAND", op.as_str())
            .env("CNI_CONTAINERID", inv.container_id)
            .env("CNI_NETNS", inv.netns)
            .env("CNI_IFNAME", inv.ifname)
            .env("CNI_ARGS", cni_args)
            .env("CNI_PATH", cni_path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // portmap runs iptables and bridge may run other tools through PATH:
        // a kubelet started with an empty environment must still find them.
        if std::env::var_os("PATH").is_none() {
            cmd.env(
                "PATH",
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            );
        }
        let child = spawn(&mut cmd).map_err(|source| Error::Exec {
            path: path.clone(),
            source,
        })?;
        let out = collect(child, &stdin, self.timeout).map_err(|e| match e {
            Collect::Io(source) => Error::Exec {
                path: path.clone(),
                source,
            },
            Collect::Timeout => Error::Timeout {
                plugin: path.clone(),
                after: self.timeout,
            },
        })?;
        tracing::debug!(
            plugin = %path.display(), op = op.as_str(), container = inv.container_id,
            status = %out.status, stderr = %String::from_utf8_lossy(&out.stderr).trim(),
            "CNI plugin ran"
        );
        if !out.status.success() {
            return Err(plugin_failure(&path, op, &out));
        }
        let text = String::from_utf8_lossy(&out.stdout);
        if text.trim().is_empty() {
            return Ok(None);
        }
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| Error::BadResult {
                plugin: path.display().to_string(),
                reason: format!("stdout is not JSON ({e}): {}", truncate(&text, 300)),
            })
    }

    /// Runs a configuration list. `ADD` returns the final result; `DEL` and
    /// `CHECK` return `None`. `prev_result` is the cached `ADD` result for
    /// `DEL` and `CHECK` (ignored for `ADD`, which chains plugin results).
    pub fn run_list(
        &self,
        op: Op,
        list: &Value,
        runtime_config: &Map<String, Value>,
        prev_result: Option<&Value>,
        inv: &Invocation<'_>,
    ) -> Result<Option<Value>, Error> {
        let plugins = list
            .get("plugins")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let ordered: Vec<&Value> = match op {
            Op::Del => plugins.iter().rev().collect(),
            Op::Add | Op::Check => plugins.iter().collect(),
        };
        let mut prev: Option<Value> = match op {
            Op::Add => None,
            Op::Del | Op::Check => prev_result.cloned(),
        };
        let mut first_del_error = None;
        for plugin in ordered {
            let conf = plugin_conf(list, plugin, runtime_config, prev.as_ref());
            let out = match self.run(op, inv, &conf) {
                Ok(out) => out,
                // DEL goes on past a failing plugin: one that refuses its
                // configuration must not keep the others (the IPAM above
                // all) from releasing what they hold. The first error is
                // still reported, so the caller keeps the record and retries.
                Err(e) if op == Op::Del => {
                    first_del_error.get_or_insert(e);
                    continue;
                }
                Err(e) => return Err(e),
            };
            if op == Op::Add {
                // A plugin may pass the previous result through, amend it or
                // (rarely) print nothing; in the last case the previous one
                // still stands for the next plugin.
                if let Some(r) = out {
                    prev = Some(r);
                }
            }
        }
        if let Some(e) = first_del_error {
            return Err(e);
        }
        Ok(if op == Op::Add { prev } else { None })
    }
}

/// The configuration handed to one plugin of a list.
pub fn plugin_conf(
    list: &Value,
    plugin: &Value,
    runtime_config: &Map<String, Value>,
    prev_result: Option<&Value>,
) -> Value {
    let mut conf = plugin.as_object().cloned().unwrap_or_default();
    for key in ["name", "cniVersion"] {
        if let Some(v) = list.get(key) {
            conf.insert(key.to_string(), v.clone());
        }
    }
    let wanted: Map<String, Value> = plugin
        .get("capabilities")
        .and_then(Value::as_object)
        .map(|caps| {
            caps.iter()
                .filter(|(_, on)| on.as_bool() == Some(true))
                .filter_map(|(cap, _)| runtime_config.get(cap).map(|v| (cap.clone(), v.clone())))
                .collect()
        })
        .unwrap_or_default();
    if !wanted.is_empty() {
        conf.insert("runtimeConfig".into(), Value::Object(wanted));
    }
    if let Some(prev) = prev_result {
        conf.insert("prevResult".into(), prev.clone());
    }
    Value::Object(conf)
}

/// The addresses a result reports, in the shape shared by spec 0.3.0 to
/// 1.0.0.
#[derive(Debug, Default, Deserialize)]
pub struct ResultView {
    /// Interfaces the plugins created.
    #[serde(default)]
    pub interfaces: Vec<ResultInterface>,
    /// Addresses assigned.
    #[serde(default)]
    pub ips: Vec<ResultIp>,
}

/// `interfaces[]` of a result.
#[derive(Debug, Default, Deserialize)]
pub struct ResultInterface {
    /// Interface name.
    #[serde(default)]
    pub name: String,
    /// The netns path for interfaces inside the container.
    #[serde(default)]
    pub sandbox: String,
}

/// `ips[]` of a result.
#[derive(Debug, Default, Deserialize)]
pub struct ResultIp {
    /// `addr/prefix`.
    pub address: String,
    /// Default gateway for this address, if any.
    #[serde(default)]
    pub gateway: Option<String>,
    /// Index into `interfaces`.
    #[serde(default)]
    pub interface: Option<usize>,
}

/// Waits up to `timeout` for `child` to exit; `None` when it is still
/// running. Sleeps on a pidfd (readable once the process exits) rather than
/// polling, so a plugin's exit is seen at once: a pod's network setup runs
/// three or four plugins in a row.
fn wait_timeout(
    child: &mut Child,
    timeout: Duration,
) -> std::io::Result<Option<std::process::ExitStatus>> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use std::os::fd::AsFd;
    let deadline = Instant::now() + timeout;
    let pidfd = i32::try_from(child.id())
        .ok()
        .and_then(rustix::process::Pid::from_raw)
        .and_then(|p| rustix::process::pidfd_open(p, rustix::process::PidfdFlags::empty()).ok());
    loop {
        if let Some(s) = child.try_wait()? {
            return Ok(Some(s));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(None);
        }
        match &pidfd {
            Some(fd) => {
                let ms = u16::try_from(left.as_millis()).unwrap_or(u16::MAX).max(1);
                let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
                // EINTR or a wake-up without an exit: try_wait decides.
                let _ = poll(&mut fds, PollTimeout::from(ms));
            }
            // No pidfd (an old kernel): short naps.
            None => std::thread::sleep(left.min(Duration::from_millis(2))),
        }
    }
}

/// Spawns, retrying briefly on ETXTBSY: a plugin binary that was just
/// installed (or a fork elsewhere in this process that still holds its write
/// descriptor for a moment) makes exec fail although nothing is wrong.
fn spawn(cmd: &mut Command) -> std::io::Result<Child> {
    const ETXTBSY: i32 = 26;
    let mut tries = 0;
    loop {
        match cmd.spawn() {
            Err(e) if e.raw_os_error() == Some(ETXTBSY) && tries < 5 => {
                tries += 1;
                std::thread::sleep(Duration::from_millis(10 * tries));
            }
            other => return other,
        }
    }
}

enum Collect {
    Io(std::io::Error),
    Timeout,
}

struct Output {
    status: ExitStatus,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

/// Feeds stdin, drains stdout and stderr, and waits for the exit, killing the
/// child after `timeout` (a plugin stuck on a lock must not hold a kubelet
/// thread forever).
fn collect(mut child: Child, input: &[u8], timeout: Duration) -> Result<Output, Collect> {
    // Plugins read all of stdin before doing anything, and configurations
    // are far below a pipe's capacity, so writing before reading cannot
    // deadlock. A plugin that exits early closes the pipe: that is not our
    // error, its exit status and stdout tell what happened.
    if let Some(mut stdin) = child.stdin.take() {
        if let Err(e) = stdin.write_all(input) {
            if e.kind() != std::io::ErrorKind::BrokenPipe {
                let _ = child.kill();
                let _ = child.wait();
                return Err(Collect::Io(e));
            }
        }
    }
    let reader = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut buf);
            }
            buf
        })
    };
    let out = reader(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let err = reader(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let status = match wait_timeout(&mut child, timeout) {
        Ok(Some(s)) => s,
        Ok(None) => {
            let _ = child.kill();
            let _ = child.wait();
            // The reader threads end when the pipes close.
            return Err(Collect::Timeout);
        }
        Err(e) => return Err(Collect::Io(e)),
    };
    Ok(Output {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    })
}

fn plugin_failure(path: &Path, op: Op, out: &Output) -> Error {
    let stdout = String::from_utf8_lossy(&out.stdout);
    match serde_json::from_str::<PluginError>(&stdout) {
        Ok(e) if !e.msg.is_empty() || e.code != 0 => Error::Plugin {
            plugin: path.to_path_buf(),
            op: op.as_str(),
            code: e.code,
            msg: e.msg,
            details: e.details,
        },
        _ => Error::PluginFailed {
            plugin: path.to_path_buf(),
            op: op.as_str(),
            status: out.status.to_string(),
            output: truncate(
                &format!(
                    "{} {}",
                    stdout.trim(),
                    String::from_utf8_lossy(&out.stderr).trim()
                ),
                500,
            ),
        },
    }
}

fn truncate(s: &str, max: usize) -> String {
    let s = s.trim();
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s.to_string(),
    }
}

/// The meaning of the error codes the specification reserves (0-99).
pub fn describe_code(code: u32) -> &'static str {
    match code {
        1 => "incompatible CNI version",
        2 => "unsupported field in network configuration",
        3 => "container unknown or does not exist",
        4 => "invalid necessary environment variables",
        5 => "I/O failure",
        6 => "failed to decode content",
        7 => "invalid network config",
        11 => "try again later",
        _ if code >= 100 => "plugin-specific error",
        _ => "error",
    }
}

/// Builds the `CNI_ARGS` pairs Kubernetes runtimes pass. `IgnoreUnknown=1`
/// comes first: host-local and bridge reject keys they do not know
/// otherwise.
pub fn k8s_args(namespace: &str, name: &str, sandbox_id: &str, uid: &str) -> Vec<(String, String)> {
    let mut m = BTreeMap::new();
    m.insert("K8S_POD_NAMESPACE", namespace);
    m.insert("K8S_POD_NAME", name);
    m.insert("K8S_POD_INFRA_CONTAINER_ID", sandbox_id);
    m.insert("K8S_POD_UID", uid);
    let mut v = vec![("IgnoreUnknown".to_string(), "1".to_string())];
    // `;` and `=` are the separators of CNI_ARGS; Kubernetes names cannot
    // contain them, but a value that does would garble every other key.
    v.extend(
        m.into_iter()
            .map(|(k, val)| (k.to_string(), val.replace([';', '='], "_"))),
    );
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn plugin_conf_injects_name_version_capabilities_and_prev_result() {
        let list = json!({
            "cniVersion": "1.0.0", "name": "net",
            "plugins": [{"type": "bridge"}, {"type": "portmap", "capabilities": {"portMappings": true, "bandwidth": false}}],
        });
        let mut rc = Map::new();
        rc.insert(
            "portMappings".into(),
            json!([{"hostPort": 80, "containerPort": 8080, "protocol": "tcp"}]),
        );
        rc.insert("bandwidth".into(), json!({}));
        let first = plugin_conf(&list, &list["plugins"][0], &rc, None);
        assert_eq!(
            first,
            json!({"type": "bridge", "name": "net", "cniVersion": "1.0.0"})
        );
        let prev = json!({"cniVersion": "1.0.0", "ips": []});
        let second = plugin_conf(&list, &list["plugins"][1], &rc, Some(&prev));
        assert_eq!(
            second["runtimeConfig"],
            json!({"portMappings": rc["portMappings"]})
        );
        assert_eq!(second["prevResult"], prev);
        assert_eq!(second["name"], "net");
    }

    #[test]
    fn finds_plugins_by_name_only() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("fake"), "").unwrap();
        let e = Exec {
            bin_dirs: vec!["/nonexistent".into(), dir.path().into()],
            timeout: Duration::from_secs(1),
        };
        assert_eq!(e.find("fake").unwrap(), dir.path().join("fake"));
        for bad in ["", "../fake", "/bin/sh", "missing"] {
            assert!(
                matches!(e.find(bad), Err(Error::PluginNotFound { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn cni_args() {
        let a = k8s_args("default", "web-0", "abc", "u-1");
        assert_eq!(a[0], ("IgnoreUnknown".into(), "1".into()));
        assert!(a.contains(&("K8S_POD_NAME".into(), "web-0".into())));
        assert!(a.contains(&("K8S_POD_INFRA_CONTAINER_ID".into(), "abc".into())));
    }

    /// A fake plugin (a shell script) checks the protocol end to end without
    /// root: environment, stdin, result and error parsing.
    #[test]
    fn runs_a_plugin_and_parses_result_and_errors() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let script = r#"#!/bin/sh
conf=$(cat)
case "$conf" in *'"fail":true'*)
  echo '{"cniVersion":"1.0.0","code":11,"msg":"busy","details":"try later"}'; exit 1;; esac
case "$conf" in *'"garbage":true'*) echo 'oops' >&2; exit 3;; esac
if [ "$CNI_COMMAND" = ADD ]; then
  printf '{"cniVersion":"1.0.0","interfaces":[{"name":"%s","sandbox":"%s"}],"ips":[{"address":"10.1.2.3/24","gateway":"10.1.2.1","interface":0}],"args":"%s","path":"%s"}' \
    "$CNI_IFNAME" "$CNI_NETNS" "$CNI_ARGS" "$CNI_PATH"
fi
"#;
        let p = dir.path().join("fake");
        std::fs::write(&p, script).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        let e = Exec {
            bin_dirs: vec![dir.path().into()],
            timeout: Duration::from_secs(10),
        };
        let args = k8s_args("ns", "pod", "sb1", "uid");
        let inv = Invocation {
            container_id: "sb1",
            netns: "/run/netns/x",
            ifname: "eth0",
            args: &args,
        };
        let list = json!({"cniVersion": "1.0.0", "name": "n", "plugins": [{"type": "fake"}, {"type": "fake"}]});
        let r = e
            .run_list(Op::Add, &list, &Map::new(), None, &inv)
            .unwrap()
            .unwrap();
        let view: ResultView = serde_json::from_value(r.clone()).unwrap();
        assert_eq!(view.ips[0].address, "10.1.2.3/24");
        assert_eq!(view.interfaces[0].sandbox, "/run/netns/x");
        assert!(r["args"].as_str().unwrap().contains("K8S_POD_NAME=pod"));
        assert_eq!(r["path"], dir.path().to_str().unwrap());
        assert!(e
            .run_list(Op::Del, &list, &Map::new(), Some(&r), &inv)
            .unwrap()
            .is_none());

        match e.run(Op::Add, &inv, &json!({"type": "fake", "fail": true})) {
            Err(Error::Plugin {
                code: 11,
                msg,
                details,
                ..
            }) => {
                assert_eq!(msg, "busy");
                assert_eq!(details, "try later");
            }
            other => panic!("{other:?}"),
        }
        match e.run(Op::Add, &inv, &json!({"type": "fake", "garbage": true})) {
            Err(Error::PluginFailed { output, .. }) => assert!(output.contains("oops")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn kills_a_plugin_that_hangs() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("slow");
        std::fs::write(&p, "#!/bin/sh\ncat >/dev/null\nexec sleep 30\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        let e = Exec {
            bin_dirs: vec![dir.path().into()],
            timeout: Duration::from_millis(300),
        };
        let inv = Invocation {
            container_id: "c",
            netns: "",
            ifname: "eth0",
            args: &[],
        };
        let t = Instant::now();
        assert!(matches!(
            e.run(Op::Del, &inv, &json!({"type": "slow"})),
            Err(Error::Timeout { .. })
        ));
        assert!(t.elapsed() < Duration::from_secs(5));
    }
}
