//! Our kubectl: upstream's everyday commands over the Kubernetes API,
//! printing what upstream prints.
//!
//! The flow of every command is the same: [`cli`] parses upstream's flags,
//! [`kubeconfig`] picks cluster, user and namespace from kubeconfig and
//! flags, [`client::Rest`] talks to the apiserver (through `kube`'s
//! transport, so TLS, tokens and client certificates work against any
//! cluster), [`discovery`] maps what the user typed to a served resource
//! (cached under `~/.kube/cache` like upstream), and the command module
//! (named after the command) builds the requests and prints through
//! [`printers`]. Errors end in [`error::Error`], which prints exactly as
//! upstream's and exits with 1.

pub mod api_resources;
pub mod apply;
pub mod auth;
pub mod certificate;
pub mod cli;
pub mod client;
pub mod cluster_info;
pub mod config;
pub mod cordon;
pub mod cp;
pub mod create;
pub mod delete;
pub mod describe;
pub mod diff;
pub mod discovery;
pub mod drain;
pub mod edit;
pub mod error;
pub mod etcd_path;
pub mod events;
pub mod exec;
pub mod explain;
pub mod expose;
pub mod get;
pub mod klog;
pub mod kubeconfig;
pub mod label;
pub mod logs;
pub mod manifest;
pub mod patch;
pub mod port_forward;
pub mod printers;
pub mod rollout;
pub mod run;
pub mod scale;
pub mod set;
pub mod target;
pub mod top;
pub mod trace;
pub mod tree;
pub mod version;
pub mod wait;

use cli::{Cli, Command};
use client::Rest;
use error::Result;

/// Runs one parsed command line; returns the process exit code.
pub async fn run(cli: Cli) -> i32 {
    match dispatch(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("{}", e.render());
            1
        }
    }
}

async fn dispatch(cli: Cli) -> Result<i32> {
    let flags = cli.global.flags();
    match cli.command {
        Command::Config { command } => config::run(&flags, command),
        Command::Version(a) => version::run(&flags, a).await,
        other => {
            let rest = Rest::connect(&flags).await?;
            match other {
                Command::Get(a) => get::run(&rest, a).await,
                Command::Apply(a) => apply::run(&rest, a).await,
                Command::Create(a) => create::run(&rest, a).await,
                Command::Replace(a) => apply::replace(&rest, a).await,
                Command::Delete(a) => delete::run(&rest, a).await,
                Command::Patch(a) => patch::run(&rest, a).await,
                Command::Label(a) => label::run(&rest, a, label::Field::Labels).await,
                Command::Annotate(a) => label::run(&rest, a, label::Field::Annotations).await,
                Command::Scale(a) => scale::run(&rest, a).await,
                Command::Logs(a) => logs::run(&rest, a).await,
                Command::ApiResources(a) => api_resources::run(&rest, a).await,
                Command::ApiVersions => api_resources::versions(&rest).await,
                Command::ClusterInfo => cluster_info::run(&rest).await,
                Command::Cp(a) => cp::run(&rest, a).await,
                Command::PortForward(a) => port_forward::run(&rest, a).await,
                Command::Diff(a) => diff::run(&rest, a).await,
                Command::Events(a) => events::run(&rest, a).await,
                Command::Explain(a) => explain::run(&rest, a).await,
                Command::Top { command } => top::run(&rest, command).await,
                Command::Trace(a) => trace::run(&rest, a).await,
                Command::Tree(a) => tree::run(&rest, a).await,
                Command::EtcdPath(a) => etcd_path::run(&rest, a).await,
                Command::Describe(a) => describe::run(&rest, a).await,
                Command::Exec(a) => exec::run(&rest, a).await,
                Command::Rollout { command } => rollout::run(&rest, command).await,
                Command::Set {
                    command: cli::SetCommand::Image { args },
                } => set::image(&rest, &args).await,
                Command::Cordon(a) => cordon::set(&rest, &a.node, true).await,
                Command::Uncordon(a) => cordon::set(&rest, &a.node, false).await,
                Command::Drain(a) => drain::run(&rest, a).await,
                Command::Edit { args } => edit::run(&rest, &args).await,
                Command::Wait(a) => wait::run(&rest, a).await,
                Command::Run(a) => run::run(&rest, a).await,
                Command::Expose(a) => expose::run(&rest, a).await,
                Command::Auth { command } => auth::run(&rest, command).await,
                Command::Certificate { command } => match command {
                    cli::CertificateCommand::Approve(a) => certificate::run(&rest, a, true).await,
                    cli::CertificateCommand::Deny(a) => certificate::run(&rest, a, false).await,
                },
                Command::Config { .. } | Command::Version(_) => Ok(0),
            }
        }
    }
}
