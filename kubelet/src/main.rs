//! `kubelet`: flags in, library calls out.
//!
//! One binary plays several roles, picked by the first argument:
//!
//! * no subcommand: the node agent ([`kubelet::agent`], flags below);
//! * `kubelet ctl ...`: the node debugging command ([`kubelet::ctl`]);
//! * hidden helpers the runtime starts by re-executing this binary, so that no
//!   `unsafe` `fork` is ever needed: `__monitor <dir>`, `__init <dir>`,
//!   `__sandbox <dir>`, `__pause`, `__exec <dir> [--tty] -- CMD...` and
//!   `__exec-child <json>` (see [`container_runtime`]).

use clap::{Parser, Subcommand};
use container_runtime::{container, exec, monitor, sandbox};
use std::net::IpAddr;
use std::path::PathBuf;

/// The node agent and its built-in container runtime.
#[derive(Debug, Parser)]
#[command(name = "kubelet", version)]
struct Flags {
    /// Kubeconfig with the apiserver address (node agent).
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// The node name to register instead of the hostname (node agent).
    #[arg(long)]
    hostname_override: Option<String>,
    /// The node's IP address (node agent).
    #[arg(long)]
    node_ip: Option<IpAddr>,
    /// Port of the kubelet API (node agent).
    #[arg(long, default_value_t = 10250)]
    port: u16,
    /// State directory: sandboxes, containers, images.
    #[arg(long, global = true, env = "KUBELET_ROOT_DIR")]
    root_dir: Option<PathBuf>,
    /// Kubelet config file (YAML or JSON).
    #[arg(long, global = true, env = "KUBELET_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Inspect and drive the node's containers and images.
    Ctl(kubelet::ctl::Args),
    /// Owns one container (started by the runtime).
    #[command(name = "__monitor", hide = true)]
    Monitor { dir: PathBuf },
    /// Becomes the container's process (started by the monitor).
    #[command(name = "__init", hide = true)]
    Init { dir: PathBuf },
    /// Holds a pod's namespaces.
    #[command(name = "__sandbox", hide = true)]
    Sandbox { dir: PathBuf },
    /// pid 1 of a shared pid namespace.
    #[command(name = "__pause", hide = true)]
    Pause,
    /// Enters a running container and runs a command.
    #[command(name = "__exec", hide = true)]
    Exec {
        dir: PathBuf,
        #[arg(long)]
        tty: bool,
        #[arg(last = true, required = true)]
        cmd: Vec<String>,
    },
    /// The exec'd process, already inside the namespaces.
    #[command(name = "__exec-child", hide = true)]
    ExecChild {
        #[arg(allow_hyphen_values = true)]
        spec: String,
    },
}

fn main() {
    let flags = Flags::parse();
    container_runtime::timing("main");
    let code = match flags.command {
        Some(Command::Monitor { dir }) => monitor::main(&dir),
        Some(Command::Init { dir }) => container::init::main(&dir),
        Some(Command::Sandbox { dir }) => sandbox::holder_main(&dir),
        Some(Command::Pause) => sandbox::pause_main(),
        Some(Command::Exec { dir, tty, cmd }) => exec::helper_main(&dir, tty, cmd),
        Some(Command::ExecChild { spec }) => exec::child_main(&spec),
        Some(Command::Ctl(args)) => {
            init_logging("warn");
            let global = kubelet::ctl::Global {
                root_dir: flags.root_dir,
                config: flags.config,
            };
            kubelet::ctl::main(&global, args)
        }
        None => {
            init_logging("info");
            let opts = kubelet::agent::Options {
                kubeconfig: flags.kubeconfig,
                hostname_override: flags.hostname_override,
                node_ip: flags.node_ip,
                root_dir: flags.root_dir,
                config: flags.config,
                port: flags.port,
            };
            match kubelet::agent::main(opts) {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("kubelet: {e:#}");
                    1
                }
            }
        }
    };
    std::process::exit(code);
}

fn init_logging(default: &str) {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default)),
        )
        .init();
}
