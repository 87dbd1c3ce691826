//! `kubelet ctl`: a `crictl`-like command for node debugging and teaching.
//!
//! It is a short-lived [`Runtime`] on the same state directory a running
//! kubelet uses: every command opens the runtime, which rebuilds its picture
//! from `<root-dir>/{sandboxes,containers,images}`, does one thing and exits.
//! Containers it starts are owned by their monitor processes, not by
//! `kubelet ctl`, so they keep running after the command returns — which is
//! the point: "a container is just a process".
//!
//! ```text
//! kubelet ctl import busybox.tar --name busybox:1.36
//! kubelet ctl run --rm busybox:1.36 -- sh -c 'hostname; cat /proc/1/cmdline'
//! kubelet ctl run -d --name web busybox:1.36 -- httpd -f
//! kubelet ctl ps -a
//! kubelet ctl exec web -- ps
//! kubelet ctl logs -f web
//! kubelet ctl stop web && kubelet ctl rm web
//! ```

/// `print!` for `kubelet ctl`'s output: a reader that went away (`kubelet
/// ctl inspect ID | head`) ends the command quietly with the status a
/// process killed by SIGPIPE has, instead of the panic `print!` raises
/// (Rust ignores SIGPIPE, so the write fails with EPIPE instead).
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::ctl::write_stdout(format_args!($($arg)*))
    };
}

/// `println!` through [`out!`].
macro_rules! outln {
    () => { out!("\n") };
    ($($arg:tt)*) => {
        $crate::ctl::write_stdout(format_args!("{}\n", format_args!($($arg)*)))
    };
}

mod containers;
mod images;
mod table;

use clap::Subcommand;
use container_runtime::{Config, Runtime};
use std::path::PathBuf;

/// Label marking a sandbox `kubelet ctl run` created for one container; `rm`
/// removes such a sandbox with its last container.
pub const CTL_POD_LABEL: &str = "kubelet.minik8s.io/ctl-run";

/// Flags shared with the node agent.
#[derive(Debug, Clone, Default)]
pub struct Global {
    /// `--root-dir`.
    pub root_dir: Option<PathBuf>,
    /// `--config`.
    pub config: Option<PathBuf>,
}

/// `kubelet ctl` flags.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Directory for CRI container logs (default `/var/log/pods` or the config file's).
    #[arg(long, env = "KUBELET_POD_LOGS_DIR")]
    pub pod_logs_dir: Option<PathBuf>,
    /// Top cgroup of all pods (default `kubepods`).
    #[arg(long, env = "KUBELET_CGROUP_ROOT")]
    pub cgroup_root: Option<String>,
    /// What to do.
    #[command(subcommand)]
    pub command: Cmd,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// List images.
    Images(images::ImagesArgs),
    /// Pull an image from a registry.
    Pull(images::PullArgs),
    /// Import an OCI layout directory or archive.
    Import(images::ImportArgs),
    /// Remove images.
    Rmi(images::RmiArgs),
    /// List containers.
    Ps(containers::PsArgs),
    /// List pod sandboxes.
    Pods(containers::PodsArgs),
    /// Run a command in a new container (in a new pod unless --pod).
    Run(Box<containers::RunArgs>),
    /// Run a command in a running container.
    Exec(containers::ExecArgs),
    /// Print a container's logs.
    Logs(containers::LogsArgs),
    /// Stop running containers.
    Stop(containers::StopArgs),
    /// Remove containers (and the pods `run` made for them).
    Rm(containers::RmArgs),
    /// Stop and remove pod sandboxes with their containers.
    Rmp(containers::RmpArgs),
    /// Show a container, pod or image as JSON.
    Inspect(containers::InspectArgs),
}

/// Builds the runtime configuration from the config file and flags.
pub fn config(global: &Global, args: &Args) -> anyhow::Result<Config> {
    let mut cfg = match &global.config {
        Some(p) => crate::config::load_runtime_config(p)?,
        None => Config::default(),
    };
    if let Some(r) = &global.root_dir {
        cfg.root_dir = r.clone();
    }
    if let Some(l) = &args.pod_logs_dir {
        cfg.pod_logs_dir = l.clone();
    }
    if let Some(c) = &args.cgroup_root {
        cfg.cgroup_root = c.clone();
    }
    // One command starts at most a container or two: a mount template
    // would cost as much to make as it saves them.
    cfg.mount_template = false;
    Ok(cfg)
}

/// Writes `args` to standard output (see [`out!`]).
pub(crate) fn write_stdout(args: std::fmt::Arguments<'_>) {
    use std::io::Write;
    if let Err(e) = std::io::stdout().lock().write_fmt(args) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            // 128 + SIGPIPE, what a shell reports for a C tool in this place.
            std::process::exit(141);
        }
        eprintln!("kubelet ctl: writing the output: {e}");
        std::process::exit(1);
    }
}

/// Runs one `kubelet ctl` command; returns the process exit code.
pub fn main(global: &Global, args: Args) -> i32 {
    match run(global, args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("kubelet ctl: {e:#}");
            1
        }
    }
}

fn run(global: &Global, args: Args) -> anyhow::Result<i32> {
    let cfg = config(global, &args)?;
    let rt = Runtime::new(cfg)?;
    container_runtime::timing("runtime open");
    let code = match args.command {
        Cmd::Images(a) => images::images(&rt, &a)?,
        Cmd::Pull(a) => images::pull(&rt, &a)?,
        Cmd::Import(a) => images::import(&rt, &a)?,
        Cmd::Rmi(a) => images::rmi(&rt, &a)?,
        Cmd::Ps(a) => containers::ps(&rt, &a)?,
        Cmd::Pods(a) => containers::pods(&rt, &a)?,
        Cmd::Run(a) => containers::run(&rt, &a)?,
        Cmd::Exec(a) => containers::exec(&rt, &a)?,
        Cmd::Logs(a) => containers::logs(&rt, &a)?,
        Cmd::Stop(a) => containers::stop(&rt, &a)?,
        Cmd::Rm(a) => containers::rm(&rt, &a)?,
        Cmd::Rmp(a) => containers::rmp(&rt, &a)?,
        Cmd::Inspect(a) => containers::inspect(&rt, &a)?,
    };
    rt.reap();
    Ok(code)
}
