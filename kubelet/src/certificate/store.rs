//! The kubelet's certificate files, named as upstream's file store:
//! `<cert-dir>/<prefix>-<YYYY-MM-DD-HH-MM-SS>.pem` holds one certificate
//! and its key, and the symlink `<prefix>-current.pem` points at the one in
//! use. The prefix is [`CLIENT`] for the client certificate and [`SERVER`]
//! for the serving certificate (`serverTLSBootstrap`). A new pair is written to its own file first and
//! the symlink is then replaced by a rename, so a reader (the kubeconfig
//! names the symlink) never sees half of it.

use std::path::{Path, PathBuf};

use super::{io, Error};

/// The prefix of the client certificate's files.
pub const CLIENT: &str = "kubelet-client";
/// The prefix of the serving certificate's files.
pub const SERVER: &str = "kubelet-server";

/// A certificate (PEM) and what the kubelet needs to know about it.
#[derive(Debug, Clone)]
pub struct Pair {
    /// The certificate chain, PEM.
    pub cert_pem: String,
    /// The private key, PEM.
    pub key_pem: String,
    /// Its validity.
    pub not_before: chrono::DateTime<chrono::Utc>,
    /// Its end.
    pub not_after: chrono::DateTime<chrono::Utc>,
}

impl Pair {
    /// Reads the validity of `cert_pem`.
    pub fn new(cert_pem: String, key_pem: String) -> Result<Pair, Error> {
        let der = first_cert_der(&cert_pem)
            .ok_or_else(|| Error::Invalid("no certificate in the PEM".into()))?;
        let (_, cert) = x509_parser::parse_x509_certificate(&der)
            .map_err(|e| Error::Invalid(format!("parsing the certificate: {e}")))?;
        let t = |ts: i64| chrono::DateTime::from_timestamp(ts, 0).unwrap_or_default();
        Ok(Pair {
            not_before: t(cert.validity().not_before.timestamp()),
            not_after: t(cert.validity().not_after.timestamp()),
            cert_pem,
            key_pem,
        })
    }

    /// Reads a file holding a certificate and a key.
    pub fn load(path: &Path) -> Result<Pair, Error> {
        let text = std::fs::read_to_string(path).map_err(io(path))?;
        let key = pem_blocks(&text)
            .into_iter()
            .find(|b| b.contains("PRIVATE KEY-----"))
            .ok_or_else(|| Error::Invalid(format!("{}: no private key", path.display())))?;
        let certs: String = pem_blocks(&text)
            .into_iter()
            .filter(|b| b.starts_with("-----BEGIN CERTIFICATE-----"))
            .collect();
        Pair::new(certs, key)
    }

    /// Its subject alternative names: DNS names and IP addresses.
    pub fn alt_names(&self) -> (Vec<String>, Vec<std::net::IpAddr>) {
        let mut dns = Vec::new();
        let mut ips = Vec::new();
        let Some(der) = first_cert_der(&self.cert_pem) else {
            return (dns, ips);
        };
        let Ok((_, cert)) = x509_parser::parse_x509_certificate(&der) else {
            return (dns, ips);
        };
        if let Ok(Some(san)) = cert.subject_alternative_name() {
            for name in &san.value.general_names {
                match name {
                    x509_parser::extensions::GeneralName::DNSName(d) => dns.push(d.to_string()),
                    x509_parser::extensions::GeneralName::IPAddress(b) => {
                        if let Ok(v4) = <[u8; 4]>::try_from(*b) {
                            ips.push(std::net::IpAddr::from(v4));
                        } else if let Ok(v6) = <[u8; 16]>::try_from(*b) {
                            ips.push(std::net::IpAddr::from(v6));
                        }
                    }
                    _ => {}
                }
            }
        }
        (dns, ips)
    }

    /// Whether it is valid at `now`.
    pub fn valid_at(&self, now: chrono::DateTime<chrono::Utc>) -> bool {
        self.not_before <= now && now < self.not_after
    }
}

/// The PEM blocks of a text, each with its BEGIN and END lines.
fn pem_blocks(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur: Option<String> = None;
    for line in text.lines() {
        if line.starts_with("-----BEGIN ") {
            cur = Some(String::new());
        }
        if let Some(c) = cur.as_mut() {
            c.push_str(line);
            c.push('\n');
        }
        if line.starts_with("-----END ") {
            out.extend(cur.take());
        }
    }
    out
}

/// The DER of the first certificate of a PEM text.
pub fn first_cert_der(pem: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    let block = pem_blocks(pem)
        .into_iter()
        .find(|b| b.starts_with("-----BEGIN CERTIFICATE-----"))?;
    let b64: String = block.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD.decode(b64).ok()
}

/// The `-current` symlink's path in `dir` for the files named `prefix`.
pub fn current_path(dir: &Path, prefix: &str) -> PathBuf {
    dir.join(format!("{prefix}-current.pem"))
}

/// Writes `pair` to a new timestamped file `<prefix>-<stamp>.pem` in `dir`
/// and points the `-current` symlink at it; returns the symlink's path.
pub fn update(dir: &Path, prefix: &str, pair: &Pair) -> Result<PathBuf, Error> {
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let stamp = chrono::Utc::now().format("%Y-%m-%d-%H-%M-%S");
    let mut file = dir.join(format!("{prefix}-{stamp}.pem"));
    // Two rotations in one second (short test certificates): a new name.
    let mut n = 1;
    while file.exists() {
        file = dir.join(format!("{prefix}-{stamp}-{n}.pem"));
        n += 1;
    }
    let text = format!("{}{}", pair.cert_pem, pair.key_pem);
    component_base::tls::write_private(&file, text.as_bytes()).map_err(io(&file))?;
    let link = current_path(dir, prefix);
    let tmp = dir.join(format!(".{prefix}-current.pem.tmp"));
    let _ = std::fs::remove_file(&tmp);
    let target = file
        .file_name()
        .map(PathBuf::from)
        .unwrap_or_else(|| file.clone());
    std::os::unix::fs::symlink(&target, &tmp).map_err(io(&tmp))?;
    std::fs::rename(&tmp, &link).map_err(io(&link))?;
    Ok(link)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> Pair {
        let key = rcgen::KeyPair::generate().expect("key");
        let params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        let cert = params.self_signed(&key).expect("cert");
        Pair::new(cert.pem(), key.serialize_pem()).expect("pair")
    }

    #[test]
    fn each_pair_gets_its_own_file_and_the_symlink_moves() {
        let dir = tempfile::tempdir().expect("dir");
        let first = pair();
        let link = update(dir.path(), CLIENT, &first).expect("first");
        assert_eq!(link, dir.path().join("kubelet-client-current.pem"));
        let t1 = std::fs::read_link(&link).expect("symlink");
        assert!(
            t1.to_string_lossy().starts_with("kubelet-client-2"),
            "{t1:?}"
        );
        let loaded = Pair::load(&link).expect("load");
        assert_eq!(loaded.not_after, first.not_after);
        assert!(loaded.valid_at(chrono::Utc::now()));
        update(dir.path(), CLIENT, &pair()).expect("second");
        let t2 = std::fs::read_link(&link).expect("symlink");
        assert_ne!(t1, t2, "a second pair in the same second gets another name");
        assert!(dir.path().join(&t1).exists(), "the old pair is kept");
        assert!(Pair::load(&dir.path().join("missing.pem")).is_err());
        let served = update(dir.path(), SERVER, &first).expect("serving");
        assert_eq!(served, dir.path().join("kubelet-server-current.pem"));
        assert_eq!(
            std::fs::read_link(&link).expect("symlink"),
            t2,
            "kept apart"
        );
    }
}
