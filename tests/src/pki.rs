//! A cluster CA for tests that run components in-process: a real
//! self-signed certificate made by `openssl` (the same kind
//! `hack/local-up-cluster.sh` makes for the lab in `$LAB_DIR/pki/`), for
//! the controller-manager's `--root-ca-file`.

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
