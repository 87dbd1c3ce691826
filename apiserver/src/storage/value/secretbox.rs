//! The `secretbox` provider's envelope: NaCl's secretbox (XSalsa20 and
//! Poly1305) with a random 24-byte nonce.
//!
//! Stored bytes after `k8s:enc:secretbox:v1:<key name>:` are the nonce, the
//! 16-byte Poly1305 tag, then the ciphertext: the layout of Go's
//! `nacl/secretbox.Seal` that upstream's transformer writes. Keys are 32 bytes.

use crypto_secretbox::aead::{Aead, KeyInit};
use crypto_secretbox::XSalsa20Poly1305;
use rand::RngCore;

use super::{Error, Result};

/// The nonce length of XSalsa20.
const NONCE: usize = 24;
/// Poly1305's tag, NaCl's `Overhead`.
const OVERHEAD: usize = 16;

/// Encrypts `data` with a fresh nonce: `nonce || tag || ciphertext`.
pub fn encrypt(key: &[u8; 32], data: &[u8]) -> Result<Vec<u8>> {
    let mut nonce = [0u8; NONCE];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    encrypt_with_nonce(key, &nonce, data)
}

/// Encrypts with a given nonce (the tests' known vectors).
pub fn encrypt_with_nonce(key: &[u8; 32], nonce: &[u8; NONCE], data: &[u8]) -> Result<Vec<u8>> {
    let sealed = XSalsa20Poly1305::new(key.into())
        .encrypt(nonce.into(), data)
        .map_err(|_| Error::Encrypt)?;
    let mut out = Vec::with_capacity(NONCE + sealed.len());
    out.extend_from_slice(nonce);
    out.extend_from_slice(&sealed);
    Ok(out)
}

/// Decrypts `nonce || tag || ciphertext`.
pub fn decrypt(key: &[u8; 32], stored: &[u8]) -> Result<Vec<u8>> {
    if stored.len() < NONCE + OVERHEAD {
        return Err(Error::Decrypt(
            "the stored data was shorter than the required size",
        ));
    }
    let (nonce, data) = stored.split_at(NONCE);
    XSalsa20Poly1305::new(key.into())
        .decrypt(crypto_secretbox::Nonce::from_slice(nonce), data)
        .map_err(|_| Error::Decrypt("output array was not large enough for encryption"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::value::hex;

    /// NaCl's `tests/secretbox.c` vector: what Go's `nacl/secretbox.Seal`
    /// (upstream's transformer) produces for this key, nonce and message.
    #[test]
    fn matches_the_nacl_vector() {
        let key: [u8; 32] = hex("1b27556473e985d462cd51197a9a46c76009549eac6474f206c4ee0844f68389")
            .try_into()
            .unwrap_or_default();
        let nonce: [u8; 24] = hex("69696ee955b62b73cd62bda875fc73d68219e0036b7a0b37")
            .try_into()
            .unwrap_or_default();
        let message = hex(concat!(
            "be075fc53c81f2d5cf141316ebeb0c7b5228c52a4c62cbd44b66849b64244ffce5ecbaaf33bd751a",
            "1ac728d45e6c61296cdc3c01233561f41db66cce314adb310e3be8250c46f06dceea3a7fa1348057",
            "e2f6556ad6b1318a024a838f21af1fde048977eb48f59ffd4924ca1c60902e52f0a089bc76897040",
            "e082f937763848645e0705"
        ));
        let boxed = hex(concat!(
            "f3ffc7703f9400e52a7dfb4b3d3305d98e993b9f48681273c29650ba32fc76ce48332ea7164d96a4",
            "476fb8c531a1186ac0dfc17c98dce87b4da7f011ec48c97271d2c20f9b928fe2270d6fb863d51738",
            "b48eeee314a7cc8ab932164548e526ae90224368517acfeabd6bb3732bc0e9da99832b61ca01b6de",
            "56244a9e88d5f9b37973f622a43d14a6599b1f654cb45a74e355a5"
        ));
        let mut stored = nonce.to_vec();
        stored.extend_from_slice(&boxed);
        assert_eq!(
            encrypt_with_nonce(&key, &nonce, &message),
            Ok(stored.clone())
        );
        assert_eq!(decrypt(&key, &stored), Ok(message));
        stored[30] ^= 1;
        assert!(decrypt(&key, &stored).is_err());
    }
}
