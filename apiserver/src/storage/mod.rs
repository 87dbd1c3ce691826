//! Storage: the apiserver is the only component that talks to etcd.
//!
//! - [`etcd`]: objects as JSON values under `/registry/<resource>/<namespace>/<name>`,
//!   with `metadata.resourceVersion` being etcd's `mod_revision`. Creates and
//!   updates are compare-and-swap transactions, so two writers can never both
//!   win (the loser gets 409 Conflict).
//! - [`watch_cache`]: one etcd watch per resource feeding a window of recent
//!   events that many HTTP watchers share.
//! - [`informer`]: in-memory views of one resource fed by its watch cache,
//!   for the authorizers and for admission's reads on the request path.
//! - [`codec`]: objects to stored bytes and back.
//! - [`value`]: what a value looks like in etcd: plain JSON, or encrypted
//!   for the resources `--encryption-provider-config` names.
//! - [`compactor`]: forgets etcd's history older than one compaction
//!   interval, as upstream's apiserver does.

pub mod codec;
pub mod compactor;
pub mod etcd;
pub mod informer;
pub mod leases;
pub mod value;
pub mod watch_cache;

pub use etcd::{ListPage, Store, StoredObject};

/// What can go wrong talking to etcd, in terms the API layer maps to a `Status`.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StorageError {
    /// The key does not exist.
    #[error("not found")]
    NotFound,
    /// A create found the key already present.
    #[error("already exists")]
    AlreadyExists,
    /// The key's `mod_revision` was not the expected one.
    #[error("conflict: the object has been modified")]
    Conflict,
    /// The requested revision has been compacted away.
    #[error("required revision {requested} has been compacted (oldest available {compacted})")]
    Compacted {
        /// The revision asked for.
        requested: i64,
        /// The oldest revision etcd still has.
        compacted: i64,
    },
    /// etcd is not reachable or refused the request.
    #[error("etcd unavailable: {0}")]
    Unavailable(String),
    /// etcd refused a write larger than its `--max-request-bytes`.
    #[error("etcd refused the write: request is too large")]
    TooLarge,
    /// etcd did not answer within the request timeout.
    #[error("etcd request timed out")]
    Timeout,
    /// A value could not be encrypted for storage.
    #[error("cannot transform the value for {key}: {reason}")]
    Transform {
        /// The etcd key.
        key: String,
        /// What the encryption provider said.
        reason: String,
    },
    /// A stored value is not a JSON object (or does not decrypt).
    #[error("corrupt value at {key}: {reason}")]
    Corrupt {
        /// The etcd key.
        key: String,
        /// Why it could not be decoded.
        reason: String,
    },
}

/// Shorthand for storage results.
pub type Result<T, E = StorageError> = std::result::Result<T, E>;
