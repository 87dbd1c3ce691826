//! The `identity` provider: values stored as they are (plain JSON).
//!
//! Listed first it turns encryption off for new writes while later
//! providers still read what was encrypted; it must therefore refuse data
//! that carries the `k8s:enc:` prefix reserved for encrypted values, so the
//! search moves on to the provider that can decrypt it.

use super::{Error, Result};

/// The prefix every encrypted value starts with.
pub const ENCRYPTED_PREFIX: &[u8] = b"k8s:enc:";

/// The stored value itself, unless it is encrypted data.
pub fn from_storage(stored: &[u8]) -> Result<&[u8]> {
    if stored.starts_with(ENCRYPTED_PREFIX) {
        return Err(Error::EncryptedData);
    }
    Ok(stored)
}
