//! The `aescbc` provider's envelope: AES in CBC mode with PKCS#7 padding.
//!
//! Stored bytes after the `k8s:enc:aescbc:v1:<key name>:` prefix are a
//! random 16-byte IV followed by the padded ciphertext, exactly what
//! upstream's `encrypt/aes` CBC transformer writes, so either apiserver can
//! read the other's data. CBC authenticates nothing: a wrong key is noticed
//! only through bad padding (or JSON that does not parse afterwards).

use aes::cipher::block_padding::Pkcs7;
use aes::cipher::{BlockCipher, BlockDecryptMut, BlockEncryptMut, KeyInit, KeyIvInit};
use rand::RngCore;

use super::{AesKey, Error, Result};

/// The AES block size, also the IV's length.
const BLOCK: usize = 16;

fn seal<C>(key: &[u8], iv: &[u8], data: &[u8]) -> Result<Vec<u8>>
where
    C: BlockCipher + BlockEncryptMut + KeyInit,
    cbc::Encryptor<C>: KeyIvInit + BlockEncryptMut,
{
    let enc = cbc::Encryptor::<C>::new_from_slices(key, iv).map_err(|_| Error::KeyLength)?;
    Ok(enc.encrypt_padded_vec_mut::<Pkcs7>(data))
}

fn open<C>(key: &[u8], iv: &[u8], data: &[u8]) -> Result<Vec<u8>>
where
    C: BlockCipher + BlockDecryptMut + KeyInit,
    cbc::Decryptor<C>: KeyIvInit + BlockDecryptMut,
{
    let dec = cbc::Decryptor::<C>::new_from_slices(key, iv).map_err(|_| Error::KeyLength)?;
    dec.decrypt_padded_vec_mut::<Pkcs7>(data)
        .map_err(|_| Error::Decrypt("invalid padding on input"))
}

/// Encrypts `data` with a fresh random IV: `iv || ciphertext`.
pub fn encrypt(key: &AesKey, data: &[u8]) -> Result<Vec<u8>> {
    let mut iv = [0u8; BLOCK];
    rand::rngs::OsRng.fill_bytes(&mut iv);
    encrypt_with_iv(key, &iv, data)
}

/// Encrypts with a given IV (the tests' known vectors).
pub fn encrypt_with_iv(key: &AesKey, iv: &[u8; BLOCK], data: &[u8]) -> Result<Vec<u8>> {
    let sealed = match key {
        AesKey::Aes128(k) => seal::<aes::Aes128>(k, iv, data)?,
        AesKey::Aes192(k) => seal::<aes::Aes192>(k, iv, data)?,
        AesKey::Aes256(k) => seal::<aes::Aes256>(k, iv, data)?,
    };
    let mut out = Vec::with_capacity(BLOCK + sealed.len());
    out.extend_from_slice(iv);
    out.extend_from_slice(&sealed);
    Ok(out)
}

/// Decrypts `iv || ciphertext`, checking the padding.
pub fn decrypt(key: &AesKey, stored: &[u8]) -> Result<Vec<u8>> {
    if stored.len() < BLOCK {
        return Err(Error::Decrypt(
            "the stored data was shorter than the required size",
        ));
    }
    let (iv, data) = stored.split_at(BLOCK);
    if data.len() % BLOCK != 0 {
        return Err(Error::Decrypt(
            "the stored data is not a multiple of the block size",
        ));
    }
    if data.is_empty() {
        return Err(Error::Decrypt("invalid PKCS7 data (empty or not padded)"));
    }
    match key {
        AesKey::Aes128(k) => open::<aes::Aes128>(k, iv, data),
        AesKey::Aes192(k) => open::<aes::Aes192>(k, iv, data),
        AesKey::Aes256(k) => open::<aes::Aes256>(k, iv, data),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::value::hex;
    use std::io::Write;
    use std::process::{Command, Stdio};

    /// What `openssl enc` makes of `data` (the reference implementation:
    /// Go's crypto/cipher CBC with PKCS#7 padding gives the same bytes).
    fn openssl(cipher: &str, key: &str, iv: &str, data: &[u8]) -> Vec<u8> {
        let mut child = Command::new("openssl")
            .args(["enc", cipher, "-K", key, "-iv", iv])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("openssl: {e}"));
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(data).unwrap_or_else(|e| panic!("{e}"));
        }
        let out = child.wait_with_output().unwrap_or_else(|e| panic!("{e}"));
        assert!(out.status.success());
        out.stdout
    }

    #[test]
    fn matches_openssl_for_every_key_size() {
        let iv = "000102030405060708090a0b0c0d0e0f";
        let data = br#"{"kind":"Secret","apiVersion":"v1","data":{"password":"aHVudGVyMg=="}}"#;
        for (cipher, key) in [
            ("-aes-128-cbc", "2b7e151628aed2a6abf7158809cf4f3c"),
            (
                "-aes-192-cbc",
                "8e73b0f7da0e6452c810f32b809079e562f8ead2522c6b7b",
            ),
            (
                "-aes-256-cbc",
                "603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4",
            ),
        ] {
            let reference = openssl(cipher, key, iv, data);
            let aes = AesKey::new(hex(key)).unwrap_or_else(|| panic!("key size"));
            let mut stored = hex(iv);
            stored.extend_from_slice(&reference);
            assert_eq!(decrypt(&aes, &stored).as_deref(), Ok(&data[..]), "{cipher}");
            let iv_bytes: [u8; 16] = hex(iv).try_into().unwrap_or_default();
            assert_eq!(
                encrypt_with_iv(&aes, &iv_bytes, data),
                Ok(stored),
                "{cipher}"
            );
        }
    }

    #[test]
    fn a_random_iv_each_time_and_bad_input_refused() {
        let key = AesKey::Aes256(vec![7; 32]);
        let a = encrypt(&key, b"same").unwrap_or_default();
        let b = encrypt(&key, b"same").unwrap_or_default();
        assert_ne!(a, b);
        assert_eq!(decrypt(&key, &a), Ok(b"same".to_vec()));
        assert!(decrypt(&key, &a[..10]).is_err());
        assert!(decrypt(&key, &a[..20]).is_err());
        assert!(
            decrypt(&AesKey::Aes256(vec![8; 32]), &a).is_err()
                || decrypt(&AesKey::Aes256(vec![8; 32]), &a) != Ok(b"same".to_vec())
        );
    }
}
