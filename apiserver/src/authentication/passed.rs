//! Credentials whose cryptographic check passed, remembered until they stop
//! being good: a service account token's signature
//! ([`super::service_account`]), a client certificate chain
//! ([`super::request_header::ChainVerifier`]). Components send the same
//! credential with every request, and a signature verification per request
//! was a large share of the apiserver's CPU; what can change between two
//! requests (whether the account or pod still exists) is still checked
//! every time by the callers.
//!
//! Kept by the SHA-256 of the credential, not the credential itself, and
//! bounded: when full, the entries past their time go, and if that frees
//! nothing, all of them (they are checked again on their next use).

use std::collections::HashMap;
use std::sync::Mutex;

use sha2::Digest;

/// How many credentials are remembered (each client of the apiserver has
/// one or two).
const CAPACITY: usize = 4096;

/// Checks that passed, each with what it found and until when it holds.
#[derive(Debug)]
pub struct Passed<V> {
    /// By the digest: the first second (since the epoch) it no longer
    /// holds, and what the check found.
    entries: Mutex<HashMap<[u8; 32], (u64, V)>>,
}

impl<V> Default for Passed<V> {
    fn default() -> Self {
        Passed {
            entries: Mutex::new(HashMap::new()),
        }
    }
}

/// The key of a credential made of `parts` (each length-prefixed, so two
/// different splits of the same bytes differ).
pub fn digest<'a>(parts: impl IntoIterator<Item = &'a [u8]>) -> [u8; 32] {
    let mut d = sha2::Sha256::new();
    for part in parts {
        d.update((part.len() as u64).to_be_bytes());
        d.update(part);
    }
    d.finalize().into()
}

/// Now, in seconds since the epoch.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl<V: Clone> Passed<V> {
    /// What the check of `key` found, while it still holds at `now`.
    pub fn get(&self, key: &[u8; 32], now: u64) -> Option<V> {
        let entries = self.entries.lock().ok()?;
        let (until, found) = entries.get(key)?;
        (now < *until).then(|| found.clone())
    }

    /// Remembers that the check of `key` passed and found `found`, good
    /// until (not including) `until`.
    pub fn insert(&self, key: [u8; 32], until: u64, found: V) {
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        if entries.len() >= CAPACITY {
            let now = now();
            entries.retain(|_, (u, _)| now < *u);
            if entries.len() >= CAPACITY {
                entries.clear();
            }
        }
        entries.insert(key, (until, found));
    }

    /// Until when each remembered check holds (for tests).
    #[cfg(test)]
    pub fn untils(&self) -> Vec<u64> {
        self.entries
            .lock()
            .map(|e| e.values().map(|(u, _)| *u).collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_check_holds_until_its_time_and_a_full_store_drops_the_expired() {
        let p = Passed::default();
        let (a, b) = (digest([b"a".as_slice()]), digest([b"b".as_slice()]));
        assert_ne!(digest([b"ab".as_slice()]), digest([b"a".as_slice(), b"b"]));
        p.insert(a, 100, "found a");
        assert_eq!(p.get(&a, 99), Some("found a"));
        assert_eq!(p.get(&a, 100), None);
        assert_eq!(p.get(&b, 0), None);
        for i in 0..CAPACITY as u64 {
            p.insert(digest([i.to_be_bytes().as_slice()]), 1, "expired");
        }
        // Full: the expired ones make room; the one still good stays.
        p.insert(b, u64::MAX, "found b");
        assert_eq!(p.get(&b, now()), Some("found b"));
        assert!(p.untils().len() < CAPACITY);
    }
}
