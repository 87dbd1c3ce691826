//! The start-up decision (upstream's `LoadClientConfig`): which client
//! certificate the kubelet runs with, getting a first one through the CSR
//! API when it has none.
//!
//! 1. `--kubeconfig` exists and its client certificate is readable and not
//!    expired (or it authenticates otherwise): use it as it is.
//! 2. Else, `<cert-dir>/kubelet-client-current.pem` is valid (an earlier
//!    bootstrap or rotation): write `--kubeconfig` pointing at it.
//! 3. Else, with `--bootstrap-kubeconfig`: request a certificate with its
//!    credentials ([`super::csr`]), store it ([`super::store`]) and write
//!    `--kubeconfig` pointing at it.
//!
//! The written kubeconfig has the bootstrap kubeconfig's server and CA
//! (embedded) and names the `-current` symlink as both client certificate
//! and key, so rotation only moves the symlink.

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;

use super::csr::{self, Naming};
use super::store::{self, Pair};
use super::{io, Error};

/// What the bootstrap needs.
#[derive(Debug, Clone)]
pub struct Options {
    /// `--kubeconfig`: read if usable, written otherwise.
    pub kubeconfig: PathBuf,
    /// `--bootstrap-kubeconfig`.
    pub bootstrap_kubeconfig: Option<PathBuf>,
    /// `--cert-dir`: where the pair files live.
    pub cert_dir: PathBuf,
    /// The node's name (the certificate is for `system:node:<name>`).
    pub node_name: String,
}

/// How long the kubelet waits for its first certificate (upstream waits
/// for an hour; an administrator may have to approve by hand).
const WAIT: Duration = Duration::from_secs(3600);

/// Makes sure `--kubeconfig` is usable, bootstrapping when it is not.
pub async fn load_client_config(opts: &Options) -> Result<(), Error> {
    let now = chrono::Utc::now();
    if kubeconfig_still_valid(&opts.kubeconfig, now) {
        return Ok(());
    }
    let Some(bootstrap) = &opts.bootstrap_kubeconfig else {
        return Err(Error::Invalid(format!(
            "{} is missing or its client certificate is unusable, and no --bootstrap-kubeconfig was given",
            opts.kubeconfig.display()
        )));
    };
    let current = store::current_path(&opts.cert_dir, store::CLIENT);
    if Pair::load(&current).is_ok_and(|p| p.valid_at(now)) {
        tracing::info!(cert = %current.display(), "using the stored client certificate");
        return write_kubeconfig(&opts.kubeconfig, bootstrap, &current);
    }
    tracing::info!(bootstrap = %bootstrap.display(), "no usable client certificate: bootstrapping");
    let client = component_base::client::client(Some(bootstrap), None)
        .await
        .map_err(|e| Error::Invalid(format!("--bootstrap-kubeconfig: {e}")))?;
    let pair = csr::request(
        &client,
        &csr::Template::client(&opts.node_name),
        Naming::Digest,
        WAIT,
    )
    .await?;
    let current = store::update(&opts.cert_dir, store::CLIENT, &pair)?;
    tracing::info!(cert = %current.display(), not_after = %pair.not_after, "got the client certificate");
    write_kubeconfig(&opts.kubeconfig, bootstrap, &current)
}

/// Whether a kubeconfig exists and its client certificate (if it names
/// one) is readable and valid at `now`.
fn kubeconfig_still_valid(path: &Path, now: chrono::DateTime<chrono::Utc>) -> bool {
    let Ok(kc) = kube::config::Kubeconfig::read_from(path) else {
        return false;
    };
    let Some(user) = current_auth(&kc) else {
        return false;
    };
    let cert = match (&user.client_certificate, &user.client_certificate_data) {
        (_, Some(data)) => base64::engine::general_purpose::STANDARD
            .decode(data)
            .ok()
            .and_then(|b| String::from_utf8(b).ok()),
        (Some(file), None) => std::fs::read_to_string(file).ok(),
        // Not a certificate user (a token): nothing expires here.
        (None, None) => return true,
    };
    let Some(cert) = cert else {
        return false;
    };
    match Pair::new(cert, String::new()) {
        Ok(p) => p.valid_at(now),
        Err(_) => false,
    }
}

fn current_auth(kc: &kube::config::Kubeconfig) -> Option<kube::config::AuthInfo> {
    let ctx = kc
        .contexts
        .iter()
        .find(|c| Some(&c.name) == kc.current_context.as_ref())
        .or(kc.contexts.first())?
        .context
        .clone()?;
    let user = ctx.user?;
    kc.auth_infos
        .iter()
        .find(|a| a.name == user)?
        .auth_info
        .clone()
}

/// The server and CA (PEM) of a kubeconfig's current cluster.
pub fn cluster_of(path: &Path) -> Result<(String, Option<Vec<u8>>), Error> {
    let kc = kube::config::Kubeconfig::read_from(path)
        .map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))?;
    let cluster_name = kc
        .contexts
        .iter()
        .find(|c| Some(&c.name) == kc.current_context.as_ref())
        .or(kc.contexts.first())
        .and_then(|c| c.context.as_ref())
        .map(|c| c.cluster.clone());
    let cluster = kc
        .clusters
        .iter()
        .find(|c| Some(&c.name) == cluster_name.as_ref())
        .or(kc.clusters.first())
        .and_then(|c| c.cluster.clone())
        .ok_or_else(|| Error::Invalid(format!("{}: no cluster", path.display())))?;
    let server = cluster
        .server
        .ok_or_else(|| Error::Invalid(format!("{}: no server", path.display())))?;
    let ca = match (
        &cluster.certificate_authority_data,
        &cluster.certificate_authority,
    ) {
        (Some(data), _) => Some(
            base64::engine::general_purpose::STANDARD
                .decode(data)
                .map_err(|e| {
                    Error::Invalid(format!(
                        "{}: certificate-authority-data: {e}",
                        path.display()
                    ))
                })?,
        ),
        (None, Some(file)) => {
            let file = Path::new(file);
            Some(std::fs::read(file).map_err(io(file))?)
        }
        (None, None) => None,
    };
    Ok((server, ca))
}

/// Writes the kubelet's kubeconfig: the bootstrap kubeconfig's cluster,
/// the pair at `cert` as credentials.
fn write_kubeconfig(path: &Path, bootstrap: &Path, cert: &Path) -> Result<(), Error> {
    let (server, ca) = cluster_of(bootstrap)?;
    let ca_line = match ca {
        Some(ca) => format!(
            "    certificate-authority-data: {}\n",
            base64::engine::general_purpose::STANDARD.encode(ca)
        ),
        None => String::new(),
    };
    let cert = cert.display();
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n{ca_line}    server: {server}\n  name: default-cluster\n\
         contexts:\n- context:\n    cluster: default-cluster\n    namespace: default\n    user: default-auth\n  name: default-context\n\
         current-context: default-context\npreferences: {{}}\n\
         users:\n- name: default-auth\n  user:\n    client-certificate: {cert}\n    client-key: {cert}\n"
    );
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
    }
    component_base::tls::write_private(path, text.as_bytes()).map_err(io(path))?;
    tracing::info!(kubeconfig = %path.display(), "wrote the kubelet's kubeconfig");
    Ok(())
}
