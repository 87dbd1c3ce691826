//! `init --upload-certs` and `join --control-plane --certificate-key`:
//! the shared keys a new control-plane node needs (the CAs, the
//! ServiceAccount keys) travel through the cluster instead of by hand, as
//! upstream's `upload-certs` and `download-certs` phases do.
//!
//! Each file is sealed with AES-256-GCM under the certificate key (32
//! random bytes, printed as 64 hex characters by `init` and never stored in
//! the cluster): `nonce || ciphertext || tag`, in the Secret
//! `kube-system/kubeadm-certs` under the file's name with `/` as `-`. Only
//! bootstrappers may read it (Role `kubeadm:kubeadm-certs`), and it is owned
//! by a bootstrap token of two hours, so the garbage collector deletes it
//! when the tokencleaner deletes that token.

use std::path::Path;
use std::time::Duration;

use base64::Engine;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::Api;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use serde_json::json;

use crate::bootstraptoken::{self, Token};
use crate::{apiclient, join::SHARED_PKI, pki};

/// The Secret's name.
pub const SECRET: &str = "kubeadm-certs";
/// How long the uploaded keys stay (upstream: two hours).
pub const TTL: Duration = Duration::from_secs(2 * 3600);

/// Failures of the upload or download.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The key is not 64 hexadecimal characters.
    #[error("the certificate key must be 64 hexadecimal characters (32 bytes)")]
    BadKey,
    /// A file could not be opened with the key (a wrong key, or tampering).
    #[error("could not decrypt {0} with the certificate key: is it the one init printed?")]
    Decrypt(String),
    /// Sealing failed.
    #[error("encrypting {0}")]
    Encrypt(String),
    /// The Secret lacks a file.
    #[error("the kubeadm-certs Secret has no {0}: upload the certificates again with init --upload-certs")]
    Missing(String),
    /// Files.
    #[error(transparent)]
    Pki(#[from] pki::Error),
    /// The apiserver.
    #[error(transparent)]
    Api(#[from] apiclient::Error),
    /// The token that owns the Secret.
    #[error(transparent)]
    Token(#[from] bootstraptoken::Error),
}

/// Shorthand.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A new certificate key, hex.
pub fn generate_key() -> String {
    let key: [u8; 32] = rand::random();
    key.iter().map(|b| format!("{b:02x}")).collect()
}

fn key(hex: &str) -> Result<LessSafeKey> {
    if hex.len() != 64 {
        return Err(Error::BadKey);
    }
    let bytes = (0..32)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16))
        .collect::<Result<Vec<u8>, _>>()
        .map_err(|_| Error::BadKey)?;
    let unbound = UnboundKey::new(&AES_256_GCM, &bytes).map_err(|_| Error::BadKey)?;
    Ok(LessSafeKey::new(unbound))
}

/// Seals `data` under `key_hex`: `nonce || ciphertext || tag`.
pub fn seal(key_hex: &str, name: &str, data: &[u8]) -> Result<Vec<u8>> {
    let key = key(key_hex)?;
    let nonce_bytes: [u8; NONCE_LEN] = rand::random();
    let mut sealed = data.to_vec();
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce_bytes),
        Aad::empty(),
        &mut sealed,
    )
    .map_err(|_| Error::Encrypt(name.into()))?;
    let mut out = nonce_bytes.to_vec();
    out.extend(sealed);
    Ok(out)
}

/// Opens what [`seal`] made.
pub fn open(key_hex: &str, name: &str, sealed: &[u8]) -> Result<Vec<u8>> {
    let key = key(key_hex)?;
    if sealed.len() < NONCE_LEN {
        return Err(Error::Decrypt(name.into()));
    }
    let (nonce, rest) = sealed.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| Error::Decrypt(name.into()))?;
    let mut buf = rest.to_vec();
    let plain = key
        .open_in_place(nonce, Aad::empty(), &mut buf)
        .map_err(|_| Error::Decrypt(name.into()))?;
    Ok(plain.to_vec())
}

fn secret_key(file: &str) -> String {
    file.replace('/', "-")
}

/// Uploads the shared keys under `pki_dir`, sealed with `key_hex`.
pub async fn upload(client: &kube::Client, pki_dir: &Path, key_hex: &str) -> Result<()> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut data = serde_json::Map::new();
    for file in SHARED_PKI {
        let path = pki_dir.join(file);
        let bytes = std::fs::read(&path).map_err(|source| pki::Error::Io { path, source })?;
        data.insert(
            secret_key(file),
            b64.encode(seal(key_hex, file, &bytes)?).into(),
        );
    }
    // The owner: a token with the Secret's lifetime, which the
    // tokencleaner deletes and the garbage collector follows.
    let owner = Token::generate();
    let opts = bootstraptoken::Options {
        ttl: Some(TTL),
        usages: vec![],
        groups: vec![],
        description: "Proxy for managing TTL for the kubeadm-certs secret".into(),
    };
    bootstraptoken::create(client, &owner, &opts).await?;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), "kube-system");
    let owner_secret = secrets
        .get(&owner.secret_name())
        .await
        .map_err(|e| Error::Api(e.into()))?;
    let uid = owner_secret.metadata.uid.unwrap_or_default();
    apiclient::apply::<Secret>(
        client,
        &json!({
            "metadata": {
                "name": SECRET,
                "namespace": "kube-system",
                "ownerReferences": [{
                    "apiVersion": "v1", "kind": "Secret", "name": owner.secret_name(),
                    "uid": uid, "blockOwnerDeletion": true, "controller": true,
                }],
            },
            "type": "Opaque",
            "data": data,
        }),
    )
    .await?;
    apiclient::apply::<Role>(
        client,
        &json!({
            "metadata": {"name": "kubeadm:kubeadm-certs", "namespace": "kube-system"},
            "rules": [{"apiGroups": [""], "resources": ["secrets"], "resourceNames": [SECRET], "verbs": ["get"]}],
        }),
    )
    .await?;
    apiclient::apply::<RoleBinding>(
        client,
        &json!({
            "metadata": {"name": "kubeadm:kubeadm-certs", "namespace": "kube-system"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "kubeadm:kubeadm-certs"},
            "subjects": [{"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": bootstraptoken::NODE_TOKEN_GROUP}],
        }),
    )
    .await?;
    Ok(())
}

/// Downloads and opens the shared keys into `pki_dir` (with the bootstrap
/// token's client).
pub async fn download(client: &kube::Client, pki_dir: &Path, key_hex: &str) -> Result<()> {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), "kube-system");
    let secret = secrets
        .get(SECRET)
        .await
        .map_err(|e| Error::Api(e.into()))?;
    let data = secret.data.unwrap_or_default();
    for file in SHARED_PKI {
        let sealed = data
            .get(&secret_key(file))
            .ok_or_else(|| Error::Missing(file.into()))?;
        let plain = open(key_hex, file, &sealed.0)?;
        let private = file.ends_with(".key");
        pki::write_file(&pki_dir.join(file), &plain, private)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_files_open_only_with_their_key() {
        let k = generate_key();
        assert_eq!(k.len(), 64);
        let sealed = seal(&k, "ca.key", b"secret").unwrap();
        assert_ne!(&sealed[NONCE_LEN..NONCE_LEN + 6], b"secret");
        assert_eq!(open(&k, "ca.key", &sealed).unwrap(), b"secret");
        assert!(matches!(
            open(&generate_key(), "ca.key", &sealed),
            Err(Error::Decrypt(_))
        ));
        let mut tampered = sealed.clone();
        tampered[NONCE_LEN] ^= 1;
        assert!(open(&k, "ca.key", &tampered).is_err());
        assert!(matches!(seal("abc", "x", b""), Err(Error::BadKey)));
    }
}
