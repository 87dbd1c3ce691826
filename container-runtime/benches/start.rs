//! Container start-up as the kubelet drives it, against an OCI runtime's CLI.
//!
//! `hack/bench-runtime.sh` runs this (`cargo bench -p container-runtime
//! --bench start -- ...`). The kubelet does not exec a command per container:
//! its pod workers call the runtime in its own process. So this driver opens
//! one [`Runtime`] (with the kubelet's defaults, the mount template included)
//! and, in each round, times one pod through the calls a pod worker makes —
//! sandbox, create, start, wait for the exit, remove the container and the
//! sandbox — and then one `runc run` of the same image's bundle, started from
//! this same process as containerd's shim starts runc. Interleaving puts any
//! load from elsewhere on both alike.
//!
//! Writes one duration in microseconds per line to `<out>/inproc.us` and
//! `<out>/oci.us`. Without `--oci` only ours is timed.

use container_runtime::cgroups::Qos;
use container_runtime::container::spec::ContainerConfig;
use container_runtime::sandbox::PodSandboxConfig;
use container_runtime::state::Status;
use container_runtime::{Config, Runtime};
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Instant;

/// What the command line asks for.
struct Args {
    root: PathBuf,
    logs: PathBuf,
    cgroup_root: String,
    image: String,
    rounds: usize,
    warmup: usize,
    out: PathBuf,
    /// The OCI runtime's binary, its `--root` and the bundle to run.
    oci: Option<(String, PathBuf, PathBuf)>,
}

const USAGE: &str = "start --root DIR --logs DIR --cgroup-root NAME --image REF --out DIR \
     [-n ROUNDS] [--warmup N] [--oci BIN --oci-root DIR --bundle DIR]";

fn parse(mut argv: impl Iterator<Item = String>) -> Result<Args, String> {
    let (mut root, mut logs, mut cgroup_root, mut image, mut out) = (None, None, None, None, None);
    let (mut oci, mut oci_root, mut bundle) = (None, None, None);
    let (mut rounds, mut warmup) = (100, 5);
    while let Some(flag) = argv.next() {
        // `cargo bench` passes `--bench` to every bench target.
        if flag == "--bench" {
            continue;
        }
        let value = argv.next().ok_or(format!("{flag} needs a value"))?;
        let number = || value.parse::<usize>().map_err(|e| format!("{flag}: {e}"));
        match flag.as_str() {
            "--root" => root = Some(PathBuf::from(&value)),
            "--logs" => logs = Some(PathBuf::from(&value)),
            "--cgroup-root" => cgroup_root = Some(value),
            "--image" => image = Some(value),
            "--out" => out = Some(PathBuf::from(&value)),
            "-n" => rounds = number()?,
            "--warmup" => warmup = number()?,
            "--oci" => oci = Some(value),
            "--oci-root" => oci_root = Some(PathBuf::from(&value)),
            "--bundle" => bundle = Some(PathBuf::from(&value)),
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    fn need<T>(v: Option<T>, name: &str) -> Result<T, String> {
        v.ok_or(format!("{name} is required"))
    }
    let oci = match (oci, oci_root, bundle) {
        (Some(b), Some(r), Some(d)) => Some((b, r, d)),
        (None, None, None) => None,
        _ => return Err("--oci, --oci-root and --bundle go together".into()),
    };
    Ok(Args {
        root: need(root, "--root")?,
        logs: need(logs, "--logs")?,
        cgroup_root: need(cgroup_root, "--cgroup-root")?,
        image: need(image, "--image")?,
        out: need(out, "--out")?,
        rounds,
        warmup,
        oci,
    })
}

/// One pod with one `/bin/true` container, from sandbox to removal.
fn one_pod(rt: &Runtime, image: &str, round: usize) -> Result<(), String> {
    container_runtime::timing("pod begin");
    let name = format!("bench-{round}");
    let sandbox = rt
        .run_sandbox(PodSandboxConfig {
            name: name.clone(),
            namespace: "default".into(),
            uid: container_runtime::new_id(),
            qos: Some(Qos::BestEffort),
            ..Default::default()
        })
        .map_err(|e| format!("sandbox: {e}"))?;
    container_runtime::timing("sandbox ready");
    let container = rt
        .create_container(
            &sandbox,
            ContainerConfig {
                name,
                image: image.into(),
                command: Some(vec!["/bin/true".into()]),
                ..Default::default()
            },
        )
        .map_err(|e| format!("create: {e}"))?;
    container_runtime::timing("container created");
    rt.start_container(&container)
        .map_err(|e| format!("start: {e}"))?;
    container_runtime::timing("container started");
    let st = rt
        .wait_container(&container, None)
        .map_err(|e| format!("wait: {e}"))?;
    container_runtime::timing("container exited");
    if st.status != Status::Exited || st.exit_code != 0 {
        return Err(format!(
            "container ended {:?} with {} ({})",
            st.status, st.exit_code, st.message
        ));
    }
    rt.remove_container(&container)
        .map_err(|e| format!("remove container: {e}"))?;
    container_runtime::timing("container removed");
    rt.remove_sandbox(&sandbox)
        .map_err(|e| format!("remove sandbox: {e}"))?;
    container_runtime::timing("pod removed");
    Ok(())
}

/// One `<oci> run` of the bundle, as its own container id.
fn one_oci(bin: &str, root: &PathBuf, bundle: &PathBuf, id: &str) -> Result<(), String> {
    let status = Command::new(bin)
        .arg("--root")
        .arg(root)
        .arg("run")
        .arg("--bundle")
        .arg(bundle)
        .arg(id)
        .stdin(Stdio::null())
        .status()
        .map_err(|e| format!("{bin}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{bin} run {id}: {status}"))
    }
}

fn run(a: &Args) -> Result<(), String> {
    let rt = Runtime::new(Config {
        root_dir: a.root.clone(),
        pod_logs_dir: a.logs.clone(),
        cgroup_root: a.cgroup_root.clone(),
        ..Default::default()
    })
    .map_err(|e| format!("opening the runtime: {e}"))?;
    let tag = std::process::id();
    let mut ours = Vec::with_capacity(a.rounds);
    let mut theirs = Vec::with_capacity(a.rounds);
    for round in 0..a.warmup + a.rounds {
        let t0 = Instant::now();
        one_pod(&rt, &a.image, round)?;
        let t1 = Instant::now();
        if let Some((bin, root, bundle)) = &a.oci {
            one_oci(bin, root, bundle, &format!("bench-start-{tag}-{round}"))?;
        }
        let t2 = Instant::now();
        if round >= a.warmup {
            ours.push((t1 - t0).as_micros());
            theirs.push((t2 - t1).as_micros());
        }
    }
    let write = |name: &str, v: &[u128]| -> Result<(), String> {
        let path = a.out.join(name);
        let mut f = std::fs::File::create(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        for us in v {
            writeln!(f, "{us}").map_err(|e| format!("{}: {e}", path.display()))?;
        }
        Ok(())
    };
    write("inproc.us", &ours)?;
    if a.oci.is_some() {
        write("oci.us", &theirs)?;
    }
    Ok(())
}

fn main() {
    let argv: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    // Without $KUBELET_BINARY the runtime starts its helpers from this binary.
    if let Some(code) = container_runtime::helper::dispatch(&argv) {
        std::process::exit(code);
    }
    let argv = argv.into_iter().map(|a| a.to_string_lossy().into_owned());
    let code = match parse(argv).and_then(|a| run(&a)) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("start: {e}\nusage: {USAGE}");
            1
        }
    };
    std::process::exit(code);
}
