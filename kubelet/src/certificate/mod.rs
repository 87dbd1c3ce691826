//! The kubelet's certificates: the client certificate's TLS bootstrap and
//! rotation, and the serving certificate through the CSR API (upstream's
//! `pkg/kubelet/certificate` and `client-go/util/certificate`).
//!
//! ```text
//! --kubeconfig usable (its client certificate readable, not expired)?
//!   yes ─▶ run with it
//!   no  ─▶ --bootstrap-kubeconfig: new key ─▶ CSR (signer
//!          kubernetes.io/kube-apiserver-client-kubelet, CN system:node:<name>,
//!          O system:nodes) sent with the bootstrap token ─▶ wait for the
//!          controller-manager to approve and sign it ─▶ <cert-dir>/
//!          kubelet-client-<timestamp>.pem (cert + key) and the symlink
//!          kubelet-client-current.pem ─▶ write --kubeconfig pointing at the
//!          symlink ─▶ run with it
//! while running: at 70-90% of the certificate's life (random, as upstream)
//!   new key ─▶ CSR sent as the node itself ─▶ new file, symlink moved,
//!   the API client switches to it (no restart)
//! ```
//!
//! - [`store`]: the files (upstream's names, rotated by symlink);
//! - [`csr`]: one certificate through the CSR API;
//! - [`bootstrap`]: the start-up decision and the written kubeconfig;
//! - [`rotation`]: the rotating API client and the renewal loop both
//!   certificates share;
//! - [`serving`]: the serving certificate (`serverTLSBootstrap`).

pub mod bootstrap;
pub mod csr;
pub mod rotation;
pub mod serving;
pub mod store;

/// Failures getting or keeping a client certificate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A certificate, key or kubeconfig is not usable.
    #[error("{0}")]
    Invalid(String),
    /// The apiserver refused or failed.
    #[error("{context}: {source}")]
    Api {
        /// What we were doing.
        context: String,
        /// Why.
        #[source]
        source: kube::Error,
    },
    /// The CSR was denied or failed.
    #[error("certificate signing request {name} was {how}: {message}")]
    Refused {
        /// The CSR.
        name: String,
        /// Denied or Failed.
        how: String,
        /// The condition's message.
        message: String,
    },
}

/// An I/O error with its path.
pub(crate) fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.display().to_string(),
        source,
    }
}
