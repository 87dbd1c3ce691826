//! A cluster CA for tests that run components in-process: a real
//! self-signed certificate made by `openssl` (the same kind
//! `hack/local-up-cluster.sh` makes for the lab in `$LAB_DIR/pki/`), for
//! the controller-manager's `--root-ca-file`; client and serving
//! certificates it signs and private keys, for the tests of authentication
//! and of TLS between components.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Writes `ca.crt` and `ca.key` into `dir` and returns the certificate's
/// path; panics when openssl fails (tests need the CA).
pub fn self_signed_ca(dir: &Path) -> PathBuf {
    let (crt, key) = (dir.join("ca.crt"), dir.join("ca.key"));
    let out = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec"])
        .args(["-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&crt)
        .args(["-days", "1", "-subj", "/CN=minik8s-test-ca"])
        .args(["-addext", "basicConstraints=critical,CA:TRUE"])
        .args(["-addext", "keyUsage=critical,keyCertSign,cRLSign"])
        .output();
    match out {
        Ok(o) if o.status.success() => crt,
        Ok(o) => panic!("openssl: {}", String::from_utf8_lossy(&o.stderr)),
        Err(e) => panic!("running openssl: {e}"),
    }
}

fn openssl(args: &[&str], what: &str) {
    match Command::new("openssl").args(args).output() {
        Ok(o) if o.status.success() => {}
        Ok(o) => panic!("openssl ({what}): {}", String::from_utf8_lossy(&o.stderr)),
        Err(e) => panic!("running openssl ({what}): {e}"),
    }
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("temp paths are UTF-8")
}

/// A client certificate for `common_name` in the groups `organizations`,
/// signed by the CA [`self_signed_ca`] wrote into `ca_dir`: writes
/// `<name>.crt` and `<name>.key` into `dir` and returns their paths.
pub fn client_cert(
    dir: &Path,
    ca_dir: &Path,
    name: &str,
    common_name: &str,
    organizations: &[&str],
) -> (PathBuf, PathBuf) {
    let (crt, key, csr, ext) = (
        dir.join(format!("{name}.crt")),
        dir.join(format!("{name}.key")),
        dir.join(format!("{name}.csr")),
        dir.join(format!("{name}.ext")),
    );
    let mut subject = format!("/CN={common_name}");
    for o in organizations {
        subject.push_str(&format!("/O={o}"));
    }
    std::fs::write(
        &ext,
        "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n",
    )
    .expect("write the extensions file");
    key_and_request(&key, &csr, &subject, "client key and request");
    sign_with_ca(ca_dir, &csr, &ext, &crt, "signing the client certificate");
    (crt, key)
}

/// A new ECDSA P-256 key at `key` and a PKCS#10 request (PEM) for
/// `subject` (openssl's `/CN=x/O=y` form) at `csr`, signed with it.
pub fn key_and_request(key: &Path, csr: &Path, subject: &str, what: &str) {
    openssl(
        &[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            path_str(key),
            "-out",
            path_str(csr),
            "-subj",
            subject,
        ],
        what,
    );
}

/// The flags of an apiserver serving TLS on `port` with a certificate for
/// 127.0.0.1 signed by the CA in `ca_dir` (written into `dir`), and
/// checking client certificates against that CA.
pub fn apiserver_tls_flags(dir: &Path, ca_dir: &Path, port: u16) -> Vec<String> {
    let (crt, key) = serving_cert(
        dir,
        ca_dir,
        "apiserver",
        "kube-apiserver",
        "IP:127.0.0.1,DNS:localhost",
    );
    vec![
        "--secure-port".into(),
        port.to_string(),
        "--tls-cert-file".into(),
        path_str(&crt).into(),
        "--tls-private-key-file".into(),
        path_str(&key).into(),
        "--client-ca-file".into(),
        path_str(&ca_dir.join("ca.crt")).into(),
    ]
}

/// An ECDSA P-256 private key (PKCS#8 PEM), e.g. for
/// `--service-account-signing-key-file`; returns its path.
pub fn ec_private_key(dir: &Path, name: &str) -> PathBuf {
    let key = dir.join(name);
    openssl(
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            path_str(&key),
        ],
        "service account key",
    );
    key
}

/// A serving certificate for `common_name`, valid for `sans` (openssl's
/// `subjectAltName` syntax, e.g. `IP:127.0.0.1,DNS:node-1`), signed by the
/// CA [`self_signed_ca`] wrote into `ca_dir`: writes `<name>.crt` and
/// `<name>.key` into `dir` and returns their paths.
pub fn serving_cert(
    dir: &Path,
    ca_dir: &Path,
    name: &str,
    common_name: &str,
    sans: &str,
) -> (PathBuf, PathBuf) {
    let (crt, key, csr, ext) = (
        dir.join(format!("{name}.crt")),
        dir.join(format!("{name}.key")),
        dir.join(format!("{name}.csr")),
        dir.join(format!("{name}.ext")),
    );
    std::fs::write(
        &ext,
        format!(
            "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName={sans}\n"
        ),
    )
    .expect("write the extensions file");
    key_and_request(
        &key,
        &csr,
        &format!("/CN={common_name}"),
        "serving key and request",
    );
    sign_with_ca(ca_dir, &csr, &ext, &crt, "signing the serving certificate");
    (crt, key)
}

/// An RSA public key (SPKI PEM, `<name>.pub`) whose private half
/// (`<name>.key`) is written next to it; returns the public key's path.
pub fn rsa_public_key(dir: &Path, name: &str) -> PathBuf {
    let key = dir.join(format!("{name}.key"));
    let public = dir.join(format!("{name}.pub"));
    openssl(
        &[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            path_str(&key),
        ],
        "RSA key",
    );
    openssl(
        &[
            "pkey",
            "-in",
            path_str(&key),
            "-pubout",
            "-out",
            path_str(&public),
        ],
        "RSA public key",
    );
    public
}

/// Signs the request `csr` with the CA in `ca_dir` (one day, the
/// extensions of `ext`), writing the certificate to `crt`.
fn sign_with_ca(ca_dir: &Path, csr: &Path, ext: &Path, crt: &Path, what: &str) {
    openssl(
        &[
            "x509",
            "-req",
            "-in",
            path_str(csr),
            "-CA",
            path_str(&ca_dir.join("ca.crt")),
            "-CAkey",
            path_str(&ca_dir.join("ca.key")),
            "-CAcreateserial",
            "-days",
            "1",
            "-extfile",
            path_str(ext),
            "-out",
            path_str(crt),
        ],
        what,
    );
}
