//! The `aesgcm` provider's envelope: AES-GCM with a random 12-byte nonce.
//!
//! Stored bytes after `k8s:enc:aesgcm:v1:<key name>:` are the nonce followed
//! by the sealed data (ciphertext and 16-byte tag), and the etcd key is the
//! authenticated data, as upstream's `encrypt/aes` GCM transformer does: a
//! value copied to another key does not decrypt there. Upstream recommends
//! rotating a GCM key every 200k writes because random nonces may repeat.

use aes_gcm::aead::consts::U12;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::AesGcm;
use rand::RngCore;

use super::{AesKey, Error, Result};

/// The GCM nonce length upstream uses (Go's standard nonce size).
const NONCE: usize = 12;

fn seal<A: Aead + KeyInit>(key: &[u8], nonce: &[u8], data: &[u8], aad: &[u8]) -> Result<Vec<u8>> {
    let cipher = A::new_from_slice(key).map_err(|_| Error::KeyLength)?;
    cipher
        .encrypt(
            aes_gcm::aead::generic_array::GenericArray::from_slice(nonce),
            Payload { msg: data, aad },
        )
        .map_err(|_| Error::Encrypt)
}

fn open<A: Aead + KeyInit>(key: &[u8], nonce: &[u8], data: &[u8], aad: &[u8]) -> Result<Vec<u8>> {
    let cipher = A::new_from_slice(key).map_err(|_| Error::KeyLength)?;
    cipher
        .decrypt(
            aes_gcm::aead::generic_array::GenericArray::from_slice(nonce),
            Payload { msg: data, aad },
        )
        .map_err(|_| Error::Decrypt("cipher: message authentication failed"))
}

/// Encrypts `data` for the etcd key `aad` with a fresh nonce: `nonce || sealed`.
pub fn encrypt(key: &AesKey, data: &[u8], aad: &[u8]) -> Result<Vec<u8>> {
    let mut nonce = [0u8; NONCE];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    encrypt_with_nonce(key, &nonce, data, aad)
}

/// Encrypts with a given nonce (the tests' known vectors).
pub fn encrypt_with_nonce(
    key: &AesKey,
    nonce: &[u8; NONCE],
    data: &[u8],
    aad: &[u8],
) -> Result<Vec<u8>> {
    let sealed = match key {
        AesKey::Aes128(k) => seal::<AesGcm<aes::Aes128, U12>>(k, nonce, data, aad)?,
        AesKey::Aes192(k) => seal::<AesGcm<aes::Aes192, U12>>(k, nonce, data, aad)?,
        AesKey::Aes256(k) => seal::<AesGcm<aes::Aes256, U12>>(k, nonce, data, aad)?,
    };
    let mut out = Vec::with_capacity(NONCE + sealed.len());
    out.extend_from_slice(nonce);
    out.extend_from_slice(&sealed);
    Ok(out)
}

/// Decrypts `nonce || sealed` stored at the etcd key `aad`.
pub fn decrypt(key: &AesKey, stored: &[u8], aad: &[u8]) -> Result<Vec<u8>> {
    if stored.len() < NONCE {
        return Err(Error::Decrypt(
            "the stored data was shorter than the required size",
        ));
    }
    let (nonce, data) = stored.split_at(NONCE);
    match key {
        AesKey::Aes128(k) => open::<AesGcm<aes::Aes128, U12>>(k, nonce, data, aad),
        AesKey::Aes192(k) => open::<AesGcm<aes::Aes192, U12>>(k, nonce, data, aad),
        AesKey::Aes256(k) => open::<AesGcm<aes::Aes256, U12>>(k, nonce, data, aad),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::value::hex;

    /// NIST CAVS `gcmEncryptExtIV256.rsp` (96-bit IV, 128-bit AAD): the
    /// vector Go's crypto/cipher GCM is tested with as well.
    #[test]
    fn matches_the_nist_vector() {
        let key = AesKey::new(hex(
            "92e11dcdaa866f5ce790fd24501f92509aacf4cb8b1339d50c9c1240935dd08b",
        ))
        .unwrap_or_else(|| panic!("key size"));
        let nonce: [u8; 12] = hex("ac93a1a6145299bde902f21a")
            .try_into()
            .unwrap_or_default();
        let plaintext = hex("2d71bcfa914e4ac045b2aa60955fad24");
        let aad = hex("1e0889016f67601c8ebea4943bc23ad6");
        let mut stored = nonce.to_vec();
        stored.extend(hex("8995ae2e6df3dbf96fac7b7137bae67f"));
        stored.extend(hex("eca5aa77d51d4a0a14d9c51e1da474ab"));
        assert_eq!(decrypt(&key, &stored, &aad), Ok(plaintext.clone()));
        assert_eq!(
            encrypt_with_nonce(&key, &nonce, &plaintext, &aad),
            Ok(stored.clone())
        );
        assert!(decrypt(&key, &stored, b"another key").is_err());
    }
}
