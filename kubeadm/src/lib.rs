//! kubeadm: installs a cluster on machines, with upstream's commands,
//! files and protocol, so what a learner sees here is what they meet on a
//! real cluster.
//!
//! - [`init`]: the first control-plane node ([`pki`], [`kubeconfig`],
//!   [`controlplane`] units, [`kubelet`], [`bootstraptoken`], the
//!   `cluster-info` ConfigMap);
//! - [`join`]: a node joins through token [`discovery`] and the kubelet's
//!   TLS bootstrap;
//! - [`token`], [`certs`], [`reset`], [`upgrade`]: the day-2 commands;
//! - [`supervisor`]: runs the units as processes where systemd is not
//!   used (tests, network-namespace machines);
//! - [`paths`]: every file's place, under `--host-root`;
//! - [`configfile`] and [`patches`]: `--config` and `--patches`.

pub mod addons;
pub mod apiclient;
pub mod bootstraptoken;
pub mod certs;
pub mod config;
pub mod configfile;
pub mod controlplane;
pub mod copycerts;
pub mod discovery;
pub mod etcd;
pub mod init;
pub mod join;
pub mod kubeconfig;
pub mod kubelet;
pub mod patches;
pub mod paths;
pub mod pki;
pub mod reset;
pub mod supervisor;
pub mod token;
pub mod upgrade;

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A pre-flight check failed.
    #[error("[preflight] {0}")]
    Preflight(String),
    /// Certificates or files.
    #[error(transparent)]
    Pki(#[from] pki::Error),
    /// A kubeconfig.
    #[error(transparent)]
    Kubeconfig(#[from] kubeconfig::Error),
    /// Talking to the apiserver.
    #[error(transparent)]
    Api(#[from] apiclient::Error),
    /// Bootstrap tokens.
    #[error(transparent)]
    Token(#[from] bootstraptoken::Error),
    /// Discovery refused the cluster.
    #[error(transparent)]
    Discovery(#[from] discovery::Error),
    /// The apiserver refused the bootstrap token.
    #[error("the bootstrap token {0:?} was refused by the API server (401 Unauthorized): it is invalid or has expired. Use \"kubeadm token create\" on the control-plane node to create a new valid token")]
    TokenRefused(String),
    /// Uploading or downloading the shared keys.
    #[error(transparent)]
    CopyCerts(#[from] copycerts::Error),
    /// etcd membership.
    #[error(transparent)]
    Etcd(#[from] etcd::Error),
    /// A configuration file, or the configuration `init` stored.
    #[error(transparent)]
    Config(#[from] configfile::Error),
    /// Patches of this node's files.
    #[error(transparent)]
    Patches(#[from] patches::Error),
    /// Starting units or processes failed.
    #[error("{0}")]
    Start(String),
}

impl From<kube::Error> for Error {
    fn from(e: kube::Error) -> Error {
        Error::Api(apiclient::Error::Kube(e))
    }
}
