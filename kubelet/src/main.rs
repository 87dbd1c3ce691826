//! `kubelet`: flags in, library calls out.
//!
//! One binary plays several roles, picked by the first argument:
//!
//! * no subcommand: the node agent ([`kubelet::agent`], flags below);
//! * `kubelet ctl ...`: the node debugging command ([`kubelet::ctl`]);
//! * hidden helpers the runtime starts by executing a binary again (a
//!   multi-threaded kubelet cannot fork safely): `__launcher <root-dir>` (which forks
//!   the containers' monitors), `__sandbox <dir>`, `__pause`, `__exec <dir> [--tty] -- CMD...` and
//!   `__exec-child <json>`, handed to the runtime crate before any flag is
//!   parsed (see [`container_runtime::helper`]).

use clap::{Parser, Subcommand};
use std::net::IpAddr;
use std::path::PathBuf;

/// The node agent and its built-in container runtime.
#[derive(Debug, Parser)]
#[command(name = "kubelet", version)]
struct Flags {
    /// Kubeconfig with the apiserver address (node agent).
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// Kubeconfig with bootstrap credentials (a bootstrap token): used to
    /// get a client certificate through the CSR API when --kubeconfig is
    /// missing or its certificate is unusable; --kubeconfig is then written.
    #[arg(long)]
    bootstrap_kubeconfig: Option<PathBuf>,
    /// Renew the client certificate through the CSR API before it expires
    /// (overrides `rotateCertificates`).
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    rotate_certificates: Option<bool>,
    /// The node name to register instead of the hostname (node agent).
    #[arg(long)]
    hostname_override: Option<String>,
    /// The node's IP address (node agent).
    #[arg(long)]
    node_ip: Option<IpAddr>,
    /// Port of the kubelet API (node agent).
    #[arg(long, default_value_t = 10250)]
    port: u16,
    /// The kubelet API's serving certificate (overrides `tlsCertFile`).
    #[arg(long)]
    tls_cert_file: Option<PathBuf>,
    /// Its key (overrides `tlsPrivateKeyFile`).
    #[arg(long)]
    tls_private_key_file: Option<PathBuf>,
    /// Where the self-signed pair is made without a certificate (default
    /// `<root-dir>/pki`).
    #[arg(long)]
    cert_dir: Option<PathBuf>,
    /// Client CA of the kubelet API (overrides
    /// `authentication.x509.clientCAFile`).
    #[arg(long)]
    client_ca_file: Option<PathBuf>,
    /// Callers without credentials are `system:anonymous` instead of 401
    /// (overrides `authentication.anonymous.enabled`).
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    anonymous_auth: Option<bool>,
    /// `Webhook` (SubjectAccessReview) or `AlwaysAllow` (overrides
    /// `authorization.mode`).
    #[arg(long)]
    authorization_mode: Option<String>,
    /// Taints the Node is registered with, `key=value:Effect` separated by
    /// commas (overrides `registerWithTaints`).
    #[arg(long, value_delimiter = ',', value_parser = kubelet::config::parse_taint)]
    register_with_taints: Option<Vec<k8s_openapi::api::core::v1::Taint>>,
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
}

fn main() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    container_runtime::timing("main");
    if let Some(code) = container_runtime::helper::dispatch(&args) {
        std::process::exit(code);
    }
    let flags = Flags::parse();
    let code = match flags.command {
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
                bootstrap_kubeconfig: flags.bootstrap_kubeconfig,
                rotate_certificates: flags.rotate_certificates,
                hostname_override: flags.hostname_override,
                node_ip: flags.node_ip,
                root_dir: flags.root_dir,
                config: flags.config,
                port: flags.port,
                tls_cert_file: flags.tls_cert_file,
                tls_private_key_file: flags.tls_private_key_file,
                cert_dir: flags.cert_dir,
                client_ca_file: flags.client_ca_file,
                anonymous_auth: flags.anonymous_auth,
                authorization_mode: flags.authorization_mode,
                register_with_taints: flags.register_with_taints,
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

#[cfg(test)]
mod tests {
    /// clap checks a flag definition only when it parses (a name or group
    /// used twice panics at start-up): check it in the tests instead.
    #[test]
    fn flags_are_well_formed() {
        <super::Flags as clap::CommandFactory>::command().debug_assert();
    }
}
