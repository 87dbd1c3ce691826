//! `kubeadm` on three "machines" made on this host, installed as a user
//! installs three VMs: `kubeadm init` on the first, the `kubeadm join` line
//! it printed on the other two, then the real kubectl with `admin.conf`.
//!
//! A machine is a network namespace plugged into a private bridge (a
//! "switch" namespace, 10.123.0.0/24, with no link to the host's own
//! network), plus a private mount and UTS namespace in which:
//! - `/etc`, `/var/lib`, `/var/log` and `/run` are overlays of the host's
//!   (the machine's own writes land in its directory, as on a VM's disk);
//! - its own directories are bind-mounted over `/etc/kubernetes`,
//!   `/var/lib/kubelet`, `/var/lib/etcd`, `/run/kubeadm`, `/var/log/kubeadm`
//!   and `/var/log/pods`, and the built binaries over `/usr/local/bin`;
//! - each cgroup hierarchy shows only the machine's own cgroup, so the
//!   kubelet's `kubepods` is the machine's.
//!
//! So kubeadm runs with its real default paths and ports, no `--host-root`.
//! Only systemd is missing: `--control-plane-runner processes`. A registry
//! on the switch (10.123.0.1:5000) holds the test images; `init --config`
//! gives every kubelet that mirror (a KubeletConfiguration document).
//!
//! Checked: three Ready nodes (times from `init` and `join` to Ready are
//! printed), the joined nodes' CSRs Approved and Issued, every kubelet's
//! serving certificate auto-approved (`serverTLSBootstrap`), a Deployment
//! spread over the three nodes whose pods reach each other by IP, the
//! Service by its ClusterIP and by its DNS name, and `kubeadm reset` on a
//! worker leaving no process, file or mount behind; the addon phase's
//! objects. A second test runs three control-plane machines and a worker
//! without a load balancer and stops the first: the worker's kubelet fails
//! over to another apiserver (`apiServerEndpoints`).
//!
//! Everything is named `kmach-<pid>-...` (netns, cgroups,
//! `/var/tmp/kmach-<pid>`); leftovers of a killed run are removed first.

use std::collections::BTreeSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use tests::harness::{binary, output_text as text, run_with_stdin};

const PREFIX: &str = "kmach-";
const NET: &str = "10.123.0";
/// The registry on the switch.
const REGISTRY: &str = "10.123.0.1:5000";
const BINARIES: [&str; 6] = [
    "kubeadm",
    "apiserver",
    "controller-manager",
    "scheduler",
    "kubelet",
    "container-runtime",
];

/// The bind-mounted directories of a machine: (path in the machine, name
/// of its directory on the host).
const DISKS: [(&str, &str); 6] = [
    ("/etc/kubernetes", "etc-kubernetes"),
    ("/var/lib/kubelet", "var-lib-kubelet"),
    ("/var/lib/etcd", "var-lib-etcd"),
    ("/run/kubeadm", "run-kubeadm"),
    ("/var/log/kubeadm", "var-log-kubeadm"),
    ("/var/log/pods", "var-log-pods"),
];
/// The overlays: the machine's own copy-on-write view of these trees.
const OVERLAYS: [&str; 4] = ["/etc", "/var/lib", "/var/log", "/run"];

fn sh(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null()).output().expect("run a command")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn ip(args: &[&str]) {
    let o = sh(Command::new("ip").args(args));
    assert!(o.status.success(), "ip {}: {}", args.join(" "), text(&o));
}

/// The cgroup hierarchies mounted on this host (v1 controllers, the named
/// systemd one, the unified one).
fn cgroup_mounts() -> Vec<PathBuf> {
    let o = sh(Command::new("findmnt").args(["-rn", "-t", "cgroup,cgroup2", "-o", "TARGET"]));
    stdout(&o).lines().map(PathBuf::from).collect()
}

/// (device, inode) of a namespace file.
fn ns_id(path: &Path) -> Option<(u64, u64)> {
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

/// Pids of processes in any of the network or mount namespaces `ns` or
/// in a cgroup under one of `cgroups`, except `keep`.
fn pids_of(ns: &BTreeSet<(u64, u64)>, cgroups: &[PathBuf], keep: &[u32]) -> BTreeSet<u32> {
    let mut found = BTreeSet::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if keep.contains(&pid) {
            continue;
        }
        let inside = ["net", "mnt"]
            .iter()
            .filter_map(|k| ns_id(&entry.path().join("ns").join(k)))
            .any(|id| ns.contains(&id));
        if inside {
            found.insert(pid);
        }
    }
    for cg in cgroups {
        let Ok(out) = Command::new("find")
            .arg(cg)
            .args(["-name", "cgroup.procs", "-exec", "cat", "{}", "+"])
            .output()
        else {
            continue;
        };
        found.extend(
            stdout(&out)
                .split_whitespace()
                .filter_map(|p| p.parse::<u32>().ok())
                .filter(|p| !keep.contains(p)),
        );
    }
    found
}

/// Kills everything of run `tag` (`kmach-<pid>`) and removes its
/// namespaces, cgroups and directory. Also used for a killed run's
/// leftovers.
fn tear_down(tag: &str) {
    let netns: Vec<String> = stdout(&sh(Command::new("ip").args(["netns", "list"])))
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with(&format!("{tag}-")))
        .map(String::from)
        .collect();
    let dir = PathBuf::from(format!("/var/tmp/{tag}"));
    let mut ns: BTreeSet<(u64, u64)> = netns
        .iter()
        .filter_map(|n| ns_id(&Path::new("/run/netns").join(n)))
        .collect();
    // The holders' mount namespaces (their pids are in the directory).
    for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
        if let Ok(pid) = std::fs::read_to_string(entry.path().join("holder.pid")) {
            if let Some(id) = ns_id(&Path::new("/proc").join(pid.trim()).join("ns/mnt")) {
                ns.insert(id);
            }
        }
    }
    let cgroups: Vec<PathBuf> = cgroup_mounts()
        .iter()
        .flat_map(|m| {
            std::fs::read_dir(m)
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with(&format!("{tag}-")))
                })
                .collect::<Vec<_>>()
        })
        .collect();
    let me = std::process::id();
    for _ in 0..50 {
        let pids = pids_of(&ns, &cgroups, &[me]);
        if pids.is_empty() {
            break;
        }
        for p in pids {
            let _ = Command::new("kill").args(["-9", &p.to_string()]).output();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    for cg in &cgroups {
        let _ = Command::new("find")
            .arg(cg)
            .args(["-depth", "-type", "d", "-exec", "rmdir", "{}", ";"])
            .output();
    }
    for n in &netns {
        let _ = sh(Command::new("ip").args(["netns", "del", n]));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Removes what killed runs left (their test process is gone).
fn clean_leftovers() {
    let mut tags = BTreeSet::new();
    for entry in std::fs::read_dir("/var/tmp")
        .into_iter()
        .flatten()
        .flatten()
    {
        tags.insert(entry.file_name().to_string_lossy().to_string());
    }
    for l in stdout(&sh(Command::new("ip").args(["netns", "list"]))).lines() {
        if let Some(n) = l.split_whitespace().next() {
            tags.insert(n.rsplit_once('-').map(|(t, _)| t).unwrap_or(n).to_string());
        }
    }
    for m in cgroup_mounts() {
        for e in std::fs::read_dir(m).into_iter().flatten().flatten() {
            let n = e.file_name().to_string_lossy().to_string();
            tags.insert(n.rsplit_once('-').map(|(t, _)| t).unwrap_or(&n).to_string());
        }
    }
    for tag in tags {
        let Some(pid) = tag.strip_prefix(PREFIX) else {
            continue;
        };
        if pid.parse::<u32>().is_err() || Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        tear_down(&tag);
    }
}

/// The private network, the registry and the machines of one test run.
struct Lab {
    tag: String,
    dir: PathBuf,
    registry: Option<Child>,
    machines: Vec<Machine>,
}

/// One machine.
struct Machine {
    name: String,
    ip: String,
    dir: PathBuf,
    holder: Child,
}

impl Lab {
    fn new() -> Lab {
        let tag = format!("{PREFIX}{}", std::process::id());
        tear_down(&tag);
        let dir = PathBuf::from(format!("/var/tmp/{tag}"));
        std::fs::create_dir_all(&dir).expect("lab dir");
        let sw = format!("{tag}-sw");
        ip(&["netns", "add", &sw]);
        ip(&["-n", &sw, "link", "set", "lo", "up"]);
        ip(&["-n", &sw, "link", "add", "br0", "type", "bridge"]);
        ip(&[
            "-n",
            &sw,
            "addr",
            "add",
            &format!("{NET}.1/24"),
            "dev",
            "br0",
        ]);
        ip(&["-n", &sw, "link", "set", "br0", "up"]);
        Lab {
            tag,
            dir,
            registry: None,
            machines: Vec::new(),
        }
    }

    fn switch(&self) -> String {
        format!("/run/netns/{}-sw", self.tag)
    }

    /// The registry on the switch, with the test images.
    fn start_registry(&mut self) {
        let reg = self.dir.join("registry");
        std::fs::create_dir_all(reg.join("data")).expect("registry dir");
        std::fs::write(
            reg.join("config.yml"),
            format!(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {REGISTRY}\n",
                reg.join("data").display()
            ),
        )
        .expect("registry config");
        let log = std::fs::File::create(reg.join("registry.log")).expect("log");
        let child = Command::new("nsenter")
            .arg(format!("--net={}", self.switch()))
            .args(["docker-registry", "serve"])
            .arg(reg.join("config.yml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("docker-registry starts");
        self.registry = Some(child);
        let repo = repo_root();
        let images = repo.join("target/test-images");
        let build = sh(Command::new("bash")
            .arg(repo.join("hack/lib/test-images.sh"))
            .arg("build")
            .arg(&images));
        assert!(build.status.success(), "test images: {}", text(&build));
        let mut pushed = None;
        for _ in 0..40 {
            let push = sh(Command::new("nsenter")
                .arg(format!("--net={}", self.switch()))
                .arg("bash")
                .arg(repo.join("hack/lib/test-images.sh"))
                .arg("push")
                .arg(&images)
                .arg(REGISTRY));
            if push.status.success() {
                pushed = Some(push);
                break;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        assert!(pushed.is_some(), "pushing the test images to {REGISTRY}");
    }

    /// Writes the `init --config` file: a KubeletConfiguration with the
    /// registry mirror, no disk-pressure evictions (the machines share this
    /// host's disk), and `extra` lines; its path.
    fn kubeadm_config(&self, extra: &str) -> String {
        let path = self.dir.join("kubeadm-config.yaml");
        std::fs::write(
            &path,
            format!(
                "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nregistryMirrors:\n  docker.io: [\"http://{REGISTRY}\"]\ninsecureRegistries: [\"{REGISTRY}\"]\nevictionHard: {{memory.available: 100Mi, nodefs.available: \"0%\", imagefs.available: \"0%\", pid.available: 5%}}\n{extra}"
            ),
        )
        .expect("config file");
        path.display().to_string()
    }

    /// Machine `i` (1-based): its namespaces, cgroups and mounts.
    fn add_machine(&mut self, i: usize) {
        let name = format!("machine-{i}");
        let ip_addr = format!("{NET}.{}", 10 + i);
        let ns = format!("{}-m{i}", self.tag);
        let sw = format!("{}-sw", self.tag);
        ip(&["netns", "add", &ns]);
        ip(&["-n", &ns, "link", "set", "lo", "up"]);
        ip(&[
            "-n",
            &sw,
            "link",
            "add",
            &format!("m{i}"),
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "netns",
            &ns,
        ]);
        ip(&[
            "-n",
            &sw,
            "link",
            "set",
            &format!("m{i}"),
            "master",
            "br0",
            "up",
        ]);
        ip(&[
            "-n",
            &ns,
            "addr",
            "add",
            &format!("{ip_addr}/24"),
            "dev",
            "eth0",
        ]);
        ip(&["-n", &ns, "link", "set", "eth0", "up"]);
        // A default route, as a VM has: kubeadm's default advertise address
        // is the address it would route from. The switch routes nowhere.
        ip(&[
            "-n",
            &ns,
            "route",
            "add",
            "default",
            "via",
            &format!("{NET}.1"),
        ]);

        // The machine's cgroup in every hierarchy.
        let cgroup = format!("{}-m{i}", self.tag);
        for m in cgroup_mounts() {
            let dir = m.join(&cgroup);
            std::fs::create_dir_all(&dir).expect("machine cgroup");
            for f in ["cpuset.cpus", "cpuset.mems"] {
                if let Ok(v) = std::fs::read_to_string(m.join(f)) {
                    let _ = std::fs::write(dir.join(f), v.trim());
                }
            }
        }

        let dir = self.dir.join(&name);
        for (_, d) in DISKS {
            std::fs::create_dir_all(dir.join("disk").join(d)).expect("disk dir");
        }
        let bin = dir.join("bin");
        std::fs::create_dir_all(&bin).expect("bin dir");
        for b in BINARIES {
            let path = binary(b).unwrap_or_else(|| panic!("build {b}: cargo build --bins -p kubeadm -p apiserver -p controller-manager -p scheduler -p kubelet -p container-runtime"));
            std::os::unix::fs::symlink(&path, bin.join(b)).expect("symlink");
        }
        let holder = Command::new("nsenter")
            .arg(format!("--net=/run/netns/{ns}"))
            .args([
                "unshare",
                "--mount",
                "--uts",
                "--propagation",
                "private",
                "sleep",
                "infinity",
            ])
            .stdin(Stdio::null())
            .spawn()
            .expect("the machine's holder starts");
        std::fs::write(dir.join("holder.pid"), holder.id().to_string()).expect("pid");
        let own = ns_id(Path::new("/proc/self/ns/mnt"));
        let mut ready = false;
        for _ in 0..100 {
            let comm = std::fs::read_to_string(format!("/proc/{}/comm", holder.id()));
            let mnt = ns_id(&PathBuf::from(format!("/proc/{}/ns/mnt", holder.id())));
            if comm.is_ok_and(|c| c.trim() == "sleep") && mnt != own {
                ready = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(ready, "the holder of {name} entered its namespaces");
        let machine = Machine {
            name: name.clone(),
            ip: ip_addr,
            dir: dir.clone(),
            holder,
        };
        let setup = setup_script(&machine, &cgroup);
        let o = machine.run(&["sh", "-euc", &setup]);
        assert!(o.status.success(), "setting up {name}: {}", text(&o));
        self.machines.push(machine);
    }
}

/// The shell script that makes a machine's mounts (run inside it).
fn setup_script(m: &Machine, cgroup: &str) -> String {
    let d = m.dir.display();
    let mut s = format!("hostname {}\n", m.name);
    // Copies of the host's mounts that would tie this namespace to others'
    // (network namespaces, other tests' and labs' volumes): not ours.
    s.push_str("umount -l /run/netns 2>/dev/null || true\n");
    s.push_str("for t in $(findmnt -rn -o TARGET | grep -E '^/(var/)?tmp/' | sort -r); do umount -l \"$t\" 2>/dev/null || true; done\n");
    for o in OVERLAYS {
        let n = o.trim_start_matches('/').replace('/', "-");
        s.push_str(&format!(
            "mkdir -p {d}/overlay/{n}/upper {d}/overlay/{n}/work\nmount -t overlay overlay -o lowerdir={o},upperdir={d}/overlay/{n}/upper,workdir={d}/overlay/{n}/work {o}\n"
        ));
    }
    for (path, name) in DISKS {
        s.push_str(&format!(
            "mkdir -p {path}\nmount --bind {d}/disk/{name} {path}\n"
        ));
    }
    s.push_str(&format!("mount --bind {d}/bin /usr/local/bin\n"));
    // Each hierarchy's machine cgroup becomes the hierarchy's root here:
    // bind them aside, drop the host's, and move them back in place (v1:
    // into a fresh tmpfs at /sys/fs/cgroup; a v2-only host's one hierarchy
    // straight onto /sys/fs/cgroup).
    s.push_str(&format!(
        "mkdir -p {d}/cgroup\nfor m in $(findmnt -rn -t cgroup,cgroup2 -o TARGET); do n=$(basename $m); mkdir -p {d}/cgroup/$n; mount --bind $m/{cgroup} {d}/cgroup/$n; done\n"
    ));
    s.push_str("umount -R /sys/fs/cgroup\n");
    s.push_str(&format!(
        "if [ \"$(ls {d}/cgroup)\" = cgroup ]; then mount --move {d}/cgroup/cgroup /sys/fs/cgroup; else\n"
    ));
    s.push_str("mount -t tmpfs -o mode=755 cgroup /sys/fs/cgroup\n");
    s.push_str(&format!(
        "for n in $(ls {d}/cgroup); do mkdir -p /sys/fs/cgroup/$n; mount --move {d}/cgroup/$n /sys/fs/cgroup/$n; done\nfi\n"
    ));
    s
}

impl Machine {
    /// `cmd` inside the machine (its network, mount and UTS namespaces).
    fn command(&self, cmd: &[&str]) -> Command {
        let mut c = Command::new("nsenter");
        c.args(["-t", &self.holder.id().to_string(), "-n", "-m", "-u", "--"])
            .args(cmd)
            .env(
                "PATH",
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            )
            .stdin(Stdio::null());
        c
    }

    fn run(&self, cmd: &[&str]) -> Output {
        self.command(cmd).output().expect("nsenter runs")
    }

    /// The real kubectl with `/etc/kubernetes/admin.conf`, on this machine.
    fn kubectl_cmd(&self, args: &[&str]) -> Command {
        let cache = self.dir.join("kube-cache").display().to_string();
        let mut all = vec![
            "kubectl",
            "--kubeconfig",
            "/etc/kubernetes/admin.conf",
            "--cache-dir",
            &cache,
        ];
        all.extend_from_slice(args);
        self.command(&all)
    }

    fn kubectl(&self, args: &[&str]) -> Output {
        self.kubectl_cmd(args).output().expect("kubectl runs")
    }

    fn kubectl_ok(&self, args: &[&str]) -> String {
        let o = self.kubectl(args);
        assert!(o.status.success(), "kubectl {args:?}: {}", text(&o));
        stdout(&o)
    }

    fn apply(&self, yaml: &str) {
        let o = run_with_stdin(self.kubectl_cmd(&["apply", "-f", "-"]), yaml.as_bytes());
        assert!(o.status.success(), "kubectl apply: {}", text(&o));
    }

    /// Mount points in the machine below `dir`.
    fn mounts_under(&self, dir: &str) -> Vec<String> {
        let info = std::fs::read_to_string(format!("/proc/{}/mountinfo", self.holder.id()))
            .unwrap_or_default();
        info.lines()
            .filter_map(|l| l.split(' ').nth(4))
            .filter(|p| p.starts_with(&format!("{dir}/")))
            .map(String::from)
            .collect()
    }

    /// Every process of the machine but its holder: in its network or
    /// mount namespace, or in its cgroups.
    fn processes(&self, tag: &str, i: usize) -> Vec<String> {
        let mut ns = BTreeSet::new();
        for k in ["net", "mnt"] {
            if let Some(id) = ns_id(&PathBuf::from(format!("/proc/{}/ns/{k}", self.holder.id()))) {
                ns.insert(id);
            }
        }
        let cgroups: Vec<PathBuf> = cgroup_mounts()
            .iter()
            .map(|m| m.join(format!("{tag}-m{i}")))
            .collect();
        pids_of(&ns, &cgroups, &[self.holder.id()])
            .into_iter()
            .map(|p| {
                let cmd = std::fs::read(format!("/proc/{p}/cmdline")).unwrap_or_default();
                format!("{p}: {}", String::from_utf8_lossy(&cmd).replace('\0', " "))
            })
            .collect()
    }

    /// Regular files (and symlinks) left in the machine's kubeadm
    /// directories and in its overlay of `/etc`.
    fn files(&self) -> Vec<String> {
        let mut roots: Vec<PathBuf> = DISKS
            .iter()
            .filter(|(p, _)| *p != "/var/log/pods")
            .map(|(_, n)| self.dir.join("disk").join(n))
            .collect();
        roots.push(self.dir.join("overlay/etc/upper"));
        roots.push(self.dir.join("overlay/var-lib/upper"));
        let o = sh(Command::new("find")
            .args(&roots)
            .args(["-not", "-type", "d"]));
        stdout(&o).lines().map(String::from).collect()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for m in &self.machines {
                for log in [
                    "kubelet",
                    "kube-apiserver",
                    "kube-controller-manager",
                    "etcd",
                ] {
                    let p = m
                        .dir
                        .join("disk/var-log-kubeadm")
                        .join(format!("{log}.log"));
                    let t = std::fs::read_to_string(&p).unwrap_or_default();
                    let tail: Vec<&str> = t.lines().rev().take(25).collect();
                    eprintln!("==== {} {log} (last lines)", m.name);
                    for l in tail.into_iter().rev() {
                        eprintln!("{l}");
                    }
                }
            }
        }
        if let Some(mut r) = self.registry.take() {
            let _ = r.kill();
            let _ = r.wait();
        }
        tear_down(&self.tag);
        for m in &mut self.machines {
            let _ = m.holder.wait();
        }
    }
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(".."))
}

/// Why these machines cannot be made here, if they cannot.
fn unavailable() -> Option<String> {
    if let Some(why) = tests::lab::unavailable() {
        return Some(why);
    }
    for b in BINARIES {
        if binary(b).is_none() {
            return Some(format!("the {b} binary is not built"));
        }
    }
    for tool in ["docker-registry", "etcd", "skopeo", "nsenter", "unshare"] {
        let found = sh(Command::new("sh").args(["-c", &format!("command -v {tool}")]));
        if !found.status.success() {
            return Some(format!("{tool} is not installed"));
        }
    }
    None
}

/// Whether node `name` is Ready, asked on `m`.
fn ready(m: &Machine, name: &str) -> bool {
    let o = m.kubectl(&[
        "get",
        "node",
        name,
        "-o",
        "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}",
    ]);
    stdout(&o) == "True"
}

/// Runs `cmd` on `m` while polling, on `asker`, for node `node` to be
/// Ready; returns its output and the time from start to Ready.
fn run_until_ready(m: &Machine, cmd: &[&str], asker: &Machine, node: &str) -> (Output, Duration) {
    let start = Instant::now();
    let child = m
        .command(cmd)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubeadm starts");
    // Read its output on threads so a full pipe never blocks it.
    let out = std::thread::spawn(move || child.wait_with_output());
    let mut ready_after = None;
    while ready_after.is_none() && start.elapsed() < Duration::from_secs(180) {
        if asker.dir.join("disk/etc-kubernetes/admin.conf").exists() && ready(asker, node) {
            ready_after = Some(start.elapsed());
        } else {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    let out = out.join().expect("the waiter").expect("kubeadm ran");
    let ready_after =
        ready_after.unwrap_or_else(|| panic!("{node} was not Ready within 180 s: {}", text(&out)));
    (out, ready_after)
}

/// `kubeadm init` on a network-namespace machine (no systemd there).
const INIT: [&str; 6] = [
    "kubeadm",
    "init",
    "--pod-network-cidr",
    "10.244.0.0/16",
    "--control-plane-runner",
    "processes",
];

/// `n` machines on a new switch with the registry, after removing what
/// killed runs left; `None` (the test is skipped) where they cannot be
/// made.
fn machines(test: &str, n: usize) -> Option<Lab> {
    if let Some(why) = unavailable() {
        prerequisites::missing(test, &why);
        return None;
    }
    clean_leftovers();
    let mut lab = Lab::new();
    lab.start_registry();
    for i in 1..=n {
        lab.add_machine(i);
    }
    Some(lab)
}

#[test]
fn kubeadm_installs_three_network_namespace_machines() {
    let Some(lab) = machines("kubeadm_installs_three_network_namespace_machines", 3) else {
        return;
    };
    // The pod network and the controller-manager's flag the lab passes
    // (upstream's ClusterConfiguration), and a first node without the
    // control-plane taint (InitConfiguration's `taints: []`), as the lab's
    // node-1 runs workloads.
    let config = lab.kubeadm_config(
        "---\napiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\nnodeRegistration:\n  taints: []\n---\napiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nnetworking:\n  podSubnet: 10.244.0.0/16\ncontrollerManager:\n  extraArgs:\n  - {name: node-monitor-grace-period, value: 12s}\n",
    );
    let (m1, m2, m3) = (&lab.machines[0], &lab.machines[1], &lab.machines[2]);

    // 1. kubeadm init on machine-1. Flags that the file's kinds set do not
    // mix with it (upstream's rule); nothing is installed then.
    let init = [
        "kubeadm",
        "init",
        "--control-plane-runner",
        "processes",
        "--config",
        &config,
    ];
    let mixed = m1.run(&[&init[..], &["--pod-network-cidr", "10.244.0.0/16"]].concat());
    assert!(
        !mixed.status.success()
            && text(&mixed).contains("can not mix '--config' with arguments [pod-network-cidr]"),
        "{}",
        text(&mixed)
    );
    assert!(
        m1.files().is_empty(),
        "a refused init wrote: {:?}",
        m1.files()
    );
    let (init, init_ready) = run_until_ready(m1, &init, m1, "machine-1");
    assert!(init.status.success(), "init: {}", text(&init));
    let out = stdout(&init);
    eprintln!("kubeadm init to the first Ready node: {init_ready:?}");
    let join_line: String = out
        .lines()
        .skip_while(|l| !l.starts_with("kubeadm join "))
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
        .replace('\\', " ");
    assert!(
        join_line.starts_with(&format!("kubeadm join {}:6443 --token ", m1.ip)),
        "init printed the join line with its default address and port: {out}"
    );

    // 2. The printed line on machine-2 and machine-3; machine-2 with a
    // kubelet patch of its own (upstream's `--patches`).
    let mut join: Vec<&str> = join_line.split_whitespace().collect();
    join.extend(["--control-plane-runner", "processes"]);
    let patches = m2.dir.join("patches");
    std::fs::create_dir_all(&patches).expect("patches dir");
    std::fs::write(
        patches.join("kubeletconfiguration+merge.yaml"),
        "maxPods: 42\n",
    )
    .expect("patch file");
    let patches = patches.display().to_string();
    let join2 = [&join[..], &["--patches", &patches]].concat();
    for (m, join) in [(m2, &join2), (m3, &join)] {
        let (o, took) = run_until_ready(m, join, m1, &m.name);
        assert!(o.status.success(), "join {}: {}", m.name, text(&o));
        eprintln!("kubeadm join to {} Ready: {took:?}", m.name);
    }
    let nodes = m1.kubectl_ok(&["get", "nodes", "-o", "wide"]);
    eprintln!("{nodes}");
    for m in [m1, m2, m3] {
        assert!(ready(m1, &m.name), "{} Ready: {nodes}", m.name);
    }

    // machine-2's patch, on machine-2 only.
    let pods = |name: &str| {
        m1.kubectl_ok(&[
            "get",
            "node",
            name,
            "-o",
            "jsonpath={.status.capacity.pods}",
        ])
    };
    assert_eq!(
        (pods("machine-2"), pods("machine-3")),
        ("42".into(), "110".into())
    );

    // The configuration file's settings: no taint on machine-1 (but the
    // control-plane label), the pod network, and the controller-manager's
    // extra flag on its running command line and in kubeadm-config.
    let node = m1.kubectl_ok(&["get", "node", "machine-1", "-o", "json"]);
    let node: serde_json::Value = serde_json::from_str(&node).expect("node JSON");
    // (The node lifecycle's not-ready taint may linger a moment.)
    let tainted = node["spec"]["taints"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|t| t["key"] == "node-role.kubernetes.io/control-plane");
    assert!(
        !tainted,
        "taints: [] keeps machine-1 untainted: {}",
        node["spec"]
    );
    assert!(node["metadata"]["labels"]
        .get("node-role.kubernetes.io/control-plane")
        .is_some());
    assert!(
        node["spec"]["podCIDR"]
            .as_str()
            .is_some_and(|c| c.starts_with("10.244.")),
        "{}",
        node["spec"]
    );
    let cm_running = m1
        .processes(&lab.tag, 1)
        .into_iter()
        .any(|p| p.contains("controller-manager") && p.contains("--node-monitor-grace-period=12s"));
    assert!(cm_running, "{:?}", m1.processes(&lab.tag, 1));
    let uploaded = m1.kubectl_ok(&[
        "-n",
        "kube-system",
        "get",
        "cm",
        "kubeadm-config",
        "-o",
        "jsonpath={.data.ClusterConfiguration}",
    ]);
    assert!(
        uploaded.contains("name: node-monitor-grace-period") && uploaded.contains("value: 12s"),
        "{uploaded}"
    );

    // The joined nodes' client certificates came through approved CSRs.
    let csrs = m1.kubectl_ok(&["get", "csr", "-o", tests::lab::CSRS_JSONPATH]);
    let issued = tests::lab::issued_bootstrap_csrs(&csrs);
    assert_eq!(issued, 2, "two bootstrap CSRs Approved,Issued: {csrs}");
    // Their serving certificates too (serverTLSBootstrap), approved by the
    // controller-manager's csrapproving-kubelet-serving: `kubectl exec`
    // below goes through the apiserver, which checks them against the CA.
    for m in [m1, m2, m3] {
        let mine = format!("system:node:{} AutoApproved ", m.name);
        let served = (0..60).any(|_| {
            let csrs = m1.kubectl_ok(&[
                "get",
                "csr",
                "-o",
                "jsonpath={range .items[?(@.spec.signerName==\"kubernetes.io/kubelet-serving\")]}{.spec.username} {.status.conditions[0].reason} {.status.certificate}{\"\\n\"}{end}",
            ]);
            let ok = csrs.lines().any(|l| {
                l.starts_with(&mine) && l.split(' ').nth(2).is_some_and(|c| !c.is_empty())
            });
            if !ok {
                std::thread::sleep(Duration::from_secs(1));
            }
            ok
        });
        assert!(
            served,
            "{}: no auto-approved serving certificate: {}",
            m.name,
            m1.kubectl_ok(&["get", "csr"])
        );
    }
    let shown = m1.kubectl_ok(&["get", "csr"]);
    assert_eq!(
        shown.matches("Approved,Issued").count(),
        shown.lines().count() - 1,
        "{shown}"
    );

    // init's addon phase: the lab's cluster objects (manifests/cluster/).
    let dns = m1.kubectl_ok(&[
        "-n",
        "kube-system",
        "get",
        "svc",
        "kube-dns",
        "-o",
        "jsonpath={.spec.clusterIP}",
    ]);
    assert_eq!(dns, "10.96.0.10");
    m1.kubectl_ok(&["get", "ingressclass", "minik8s"]);
    m1.kubectl_ok(&["get", "storageclass", "local-path"]);
    let can = m1.kubectl(&[
        "auth",
        "can-i",
        "watch",
        "ingresses.networking.k8s.io",
        "--all-namespaces",
        "--as",
        "system:node:machine-2",
        "--as-group",
        "system:nodes",
    ]);
    assert_eq!(
        stdout(&can).trim(),
        "yes",
        "the kubelets' ingress proxy may watch Ingresses: {}",
        text(&can)
    );

    // 3. A Deployment spread over the three nodes, and its Service.
    m1.apply(&tests::lab::spread_web_on_three_nodes());
    let pods = (0..240)
        .find_map(|_| {
            let o = m1.kubectl(&tests::lab::WEB_PODS);
            if let Some(rows) = tests::lab::ready_one_per_node(&stdout(&o), 3) {
                return Some(rows);
            }
            std::thread::sleep(Duration::from_millis(500));
            None
        })
        .unwrap_or_else(|| {
            panic!(
                "three Ready web pods, one per node: {}",
                m1.kubectl_ok(&["get", "pods", "-o", "wide", "-A"])
            )
        });
    let by_pod = pods;
    let wget = |pod: &str, url: &str| {
        let o = m1.kubectl(&[
            "exec", pod, "--", "timeout", "5", "wget", "-q", "-O", "-", url,
        ]);
        o.status.success().then(|| stdout(&o).trim().to_string())
    };
    tests::lab::assert_pods_reach_each_other(&by_pod, wget);
    let cluster_ip = m1.kubectl_ok(&["get", "svc", "web", "-o", "jsonpath={.spec.clusterIP}"]);
    let first = by_pod.keys().next().expect("a pod").clone();
    let mut seen = BTreeSet::new();
    for _ in 0..30 {
        if let Some(name) = wget(&first, &format!("http://{cluster_ip}/")) {
            seen.insert(name);
        }
        if seen.len() == 3 {
            break;
        }
    }
    assert!(
        !seen.is_empty() && seen.iter().all(|s| by_pod.contains_key(s)),
        "the Service's ClusterIP {cluster_ip} answers with its pods' names: {seen:?}"
    );
    eprintln!("through the ClusterIP {cluster_ip}: {seen:?}");
    let by_name = (0..20).find_map(|_| {
        let got = wget(&first, "http://web.default.svc.cluster.local/");
        if got.is_none() {
            std::thread::sleep(Duration::from_millis(500));
        }
        got
    });
    assert!(
        by_name.as_ref().is_some_and(|n| by_pod.contains_key(n)),
        "the Service by its DNS name: {by_name:?}"
    );

    // 4. kubeadm reset on machine-3 leaves nothing behind.
    let i3 = 3;
    assert!(
        !m3.processes(&lab.tag, i3).is_empty(),
        "machine-3 runs a kubelet"
    );
    assert!(
        !m3.mounts_under("/var/lib/kubelet").is_empty(),
        "machine-3's pod has mounts"
    );
    let reset = m3.run(&["kubeadm", "reset", "--force"]);
    assert!(reset.status.success(), "reset: {}", text(&reset));
    let left = m3.processes(&lab.tag, i3);
    assert!(left.is_empty(), "left running on machine-3: {left:?}");
    let mounts = m3.mounts_under("/var/lib/kubelet");
    assert!(mounts.is_empty(), "left mounted on machine-3: {mounts:?}");
    let files = m3.files();
    assert!(files.is_empty(), "left on machine-3's disk: {files:?}");
    m1.kubectl_ok(&["delete", "node", "machine-3"]);
}

/// The `kubeadm join` commands init printed (each up to its blank line),
/// as words.
fn join_commands(init_out: &str) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    let mut rest = init_out;
    while let Some(at) = rest.find("kubeadm join ") {
        let text = &rest[at..];
        let end = text.find("\n\n").unwrap_or(text.len());
        found.push(
            text[..end]
                .replace('\\', " ")
                .split_whitespace()
                .map(String::from)
                .collect(),
        );
        rest = &text[end..];
    }
    found
}

/// HA without a load balancer: three control-plane machines and a worker,
/// the control-plane endpoint `k8s-api` a name for machine-1 (as a DNS
/// record would be), and every kubelet given the three apiservers
/// (`apiServerEndpoints`). With machine-1 stopped, the worker's kubelet
/// fails over: a new pod for it is scheduled (by machine-2's or -3's
/// scheduler), started and reported Ready through another apiserver.
#[test]
fn kubelets_fail_over_when_a_control_plane_machine_stops() {
    let Some(lab) = machines("kubelets_fail_over_when_a_control_plane_machine_stops", 4) else {
        return;
    };
    for m in &lab.machines {
        let o = m.run(&[
            "sh",
            "-c",
            &format!("echo '{NET}.11 k8s-api' >> /etc/hosts"),
        ]);
        assert!(o.status.success(), "{}", text(&o));
    }
    let config = lab.kubeadm_config(&format!(
        "apiServerEndpoints: [\"{NET}.11:6443\", \"{NET}.12:6443\", \"{NET}.13:6443\"]\n"
    ));
    let m = &lab.machines;
    let mut init = INIT.to_vec();
    init.extend(["--config", &config, "--upload-certs"]);
    init.extend(["--control-plane-endpoint", "k8s-api:6443"]);
    let init = m[0].run(&init);
    assert!(init.status.success(), "init: {}", text(&init));
    let joins = join_commands(&stdout(&init));
    let control_plane = joins
        .iter()
        .find(|j| j.iter().any(|w| w == "--control-plane"))
        .expect("init printed the control-plane join line");
    let worker = joins
        .iter()
        .find(|j| !j.iter().any(|w| w == "--control-plane"))
        .expect("init printed the worker join line");
    for (machine, line) in [
        (&m[1], control_plane),
        (&m[2], control_plane),
        (&m[3], worker),
    ] {
        let mut args: Vec<&str> = line.iter().map(String::as_str).collect();
        args.extend(["--control-plane-runner", "processes"]);
        let o = machine.run(&args);
        assert!(o.status.success(), "join {}: {}", machine.name, text(&o));
    }
    let all_ready = (0..120).any(|_| {
        let ok = m.iter().all(|n| ready(&m[0], &n.name));
        if !ok {
            std::thread::sleep(Duration::from_millis(500));
        }
        ok
    });
    assert!(all_ready, "{}", m[0].kubectl_ok(&["get", "nodes"]));
    // A joined control plane runs with the stored ClusterConfiguration
    // (init's --pod-network-cidr): its controller-manager allocates from
    // the same range when it leads.
    let cm = m[1]
        .processes(&lab.tag, 2)
        .into_iter()
        .find(|p| p.contains("controller-manager --"))
        .unwrap_or_default();
    assert!(
        cm.contains("--allocate-node-cidrs=true") && cm.contains("--cluster-cidr=10.244.0.0/16"),
        "machine-2's controller-manager: {cm:?}"
    );
    // Without an InitConfiguration's taints, upstream's default; the
    // joined control planes are marked as init marks the first.
    for node in ["machine-1", "machine-2", "machine-3"] {
        let marks = m[0].kubectl_ok(&[
            "get",
            "node",
            node,
            "-o",
            "jsonpath={range .spec.taints[*]}{.key}:{.effect} {end}{.metadata.labels}",
        ]);
        assert!(
            marks.contains("node-role.kubernetes.io/control-plane:NoSchedule")
                && marks.contains("\"node-role.kubernetes.io/control-plane\":\"\""),
            "{node}: {marks}"
        );
    }

    // Stop machine-1: its supervisor takes etcd, the apiserver, the
    // scheduler, the controller-manager and the kubelet down.
    let pid = std::fs::read_to_string(m[0].dir.join("disk/run-kubeadm/supervise.pid"))
        .expect("machine-1's supervisor");
    let stopped = sh(Command::new("kill").args(["-TERM", pid.trim()]));
    assert!(stopped.status.success(), "{}", text(&stopped));
    let gone = (0..100).any(|_| {
        let down = !Path::new(&format!("/proc/{}", pid.trim())).exists();
        if !down {
            std::thread::sleep(Duration::from_millis(100));
        }
        down
    });
    assert!(gone, "machine-1's control plane stopped");

    // Through machine-2's apiserver: a pod for machine-4.
    let on2 = |args: &[&str]| {
        let mut all = vec!["--server", "https://10.123.0.12:6443"];
        all.extend_from_slice(args);
        m[1].kubectl(&all)
    };
    let pod = r#"{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "after-failover"},
      "spec": {"nodeSelector": {"kubernetes.io/hostname": "machine-4"},
        "containers": [{"name": "web", "image": "busybox:1.36",
          "command": ["sh", "-c", "mkdir -p /www && hostname > /www/index.html && httpd -f -p 8080 -h /www"],
          "readinessProbe": {"httpGet": {"path": "/", "port": 8080}, "periodSeconds": 1}}]}}"#;
    let o = run_with_stdin(
        m[1].kubectl_cmd(&["--server", "https://10.123.0.12:6443", "create", "-f", "-"]),
        pod.as_bytes(),
    );
    assert!(o.status.success(), "create the pod: {}", text(&o));
    let start = Instant::now();
    let running = (0..240).any(|_| {
        let o = on2(&[
            "get",
            "pod",
            "after-failover",
            "-o",
            "jsonpath={.spec.nodeName} {.status.conditions[?(@.type==\"Ready\")].status}",
        ]);
        let ok = stdout(&o) == "machine-4 True";
        if !ok {
            std::thread::sleep(Duration::from_millis(500));
        }
        ok
    });
    assert!(
        running,
        "the pod on machine-4 is Ready with machine-1 stopped: {}",
        text(&on2(&["get", "pods", "-o", "wide"]))
    );
    eprintln!(
        "with machine-1 stopped, a new pod on machine-4 Ready after {:?}",
        start.elapsed()
    );
    let nodes = on2(&["get", "nodes"]);
    let worker_ready = stdout(&nodes).lines().any(|l| {
        let words: Vec<&str> = l.split_whitespace().collect();
        words.first() == Some(&"machine-4") && words.get(1) == Some(&"Ready")
    });
    assert!(worker_ready, "{}", text(&nodes));
    let log = std::fs::read_to_string(m[3].dir.join("disk/var-log-kubeadm/kubelet.log"))
        .unwrap_or_default();
    assert!(
        log.contains("talking to the API through another apiserver"),
        "machine-4's kubelet says it failed over"
    );
}
