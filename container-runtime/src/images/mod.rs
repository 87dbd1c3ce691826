//! Images: where a container's files come from.
//!
//! An image is a *manifest* (a list of layer digests plus a config digest), a
//! *config* (default command, env, user, working dir) and *layers* (tar archives).
//! The store keeps every layer unpacked exactly once, in a directory named by its
//! digest, so ten containers of the same image share the same read-only lower
//! directories and differ only in their own overlayfs upper directory
//! (see [`crate::rootfs`]).
//!
//! On disk, below `<root-dir>/images/`:
//!
//! ```text
//! blobs/sha256/<hex>     manifests and configs as fetched (for inspect)
//! layers/<hex>/          one unpacked layer (renamed into place when complete)
//! records/<hex>.json     one image: its tags, digests, layers, config (hex = config digest)
//! tmp/                   downloads and unpacks in progress
//! ```

pub mod gc;
pub mod import;
pub mod oci;
pub mod pull;
pub mod reference;
pub mod registry;
pub mod store;
pub mod unpack;

pub use reference::Reference;
pub use store::{ImageRecord, ImageStore};

use std::path::PathBuf;

/// When to contact the registry (Kubernetes' `imagePullPolicy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum PullPolicy {
    /// Always resolve the tag again (the image is re-pulled only if it changed).
    Always,
    /// Pull only when no image with this reference is present.
    IfNotPresent,
    /// Never pull; fail when the image is absent.
    Never,
}

impl PullPolicy {
    /// Kubernetes' default: `Always` for `:latest` (or untagged), else `IfNotPresent`.
    pub fn default_for(reference: &Reference) -> Self {
        if reference.is_latest() {
            PullPolicy::Always
        } else {
            PullPolicy::IfNotPresent
        }
    }

    /// Parses `Always`, `IfNotPresent`, `Never` (case-insensitive).
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "always" => Some(PullPolicy::Always),
            "ifnotpresent" => Some(PullPolicy::IfNotPresent),
            "never" => Some(PullPolicy::Never),
            _ => None,
        }
    }
}

/// Errors of the image service.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The reference does not parse.
    #[error(transparent)]
    Reference(#[from] reference::Error),
    /// Talking to the registry failed (after every mirror was tried).
    #[error("pulling {reference}: {source}")]
    Registry {
        /// The image.
        reference: String,
        /// The last error.
        #[source]
        source: registry::Error,
    },
    /// A layer could not be unpacked.
    #[error("unpacking layer {digest}: {source}")]
    Unpack {
        /// Layer digest.
        digest: String,
        /// The cause.
        #[source]
        source: unpack::Error,
    },
    /// The content does not hash to what the manifest or config promised.
    #[error("digest mismatch for {what}: expected {expected}, got {actual}")]
    Digest {
        /// Which blob.
        what: String,
        /// Expected digest.
        expected: String,
        /// Actual digest.
        actual: String,
    },
    /// A manifest, index or config is malformed or unsupported.
    #[error("{what}: {reason}")]
    Invalid {
        /// Which document.
        what: String,
        /// What is wrong.
        reason: String,
    },
    /// The image is not in the store (and the pull policy forbids pulling).
    #[error("image {0} not present (imagePullPolicy Never, or not found)")]
    NotPresent(String),
    /// An image is used by a container and can't be removed.
    #[error("image {image} is in use by container {container}")]
    InUse {
        /// The image.
        image: String,
        /// A container using it.
        container: String,
    },
    /// Filesystem trouble in the store.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

/// Result with the image error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

pub(crate) fn io_err(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.into();
    move |source| Error::Io { path, source }
}
