//! The kubeconfig files `kubeadm init` writes to `/etc/kubernetes` (the
//! `kubeconfig` phase), each with the cluster CA and a client certificate
//! embedded, as upstream:
//!
//! | file | user | groups | server |
//! | --- | --- | --- | --- |
//! | `admin.conf` | `kubernetes-admin` | `kubeadm:cluster-admins` (bound to cluster-admin) | the control-plane endpoint |
//! | `super-admin.conf` | `kubernetes-super-admin` | `system:masters` (cannot be unbound) | the control-plane endpoint |
//! | `controller-manager.conf` | `system:kube-controller-manager` | | this node's apiserver |
//! | `scheduler.conf` | `system:kube-scheduler` | | this node's apiserver |
//! | `kubelet.conf` | `system:node:<node>` | `system:nodes` | the control-plane endpoint |
//!
//! A joining node writes `bootstrap-kubelet.conf` instead: the same cluster
//! with the bootstrap token as its credential, which the kubelet trades
//! for `kubelet.conf` through a CertificateSigningRequest. The
//! `cluster-info` ConfigMap holds a kubeconfig with the cluster only.

use std::path::Path;

use base64::Engine;
use serde_json::{json, Value};

use crate::pki;

/// Failures reading a kubeconfig.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Not YAML, or not a kubeconfig.
    #[error("{what}: {message}")]
    Invalid {
        /// Which kubeconfig.
        what: String,
        /// What is wrong.
        message: String,
    },
    /// Reading or writing the file.
    #[error(transparent)]
    Pki(#[from] pki::Error),
}

/// Shorthand.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The cluster's name in every kubeconfig (upstream's default
/// `clusterName`).
pub const CLUSTER_NAME: &str = "kubernetes";

/// The user `bootstrap-kubelet.conf` names.
pub const BOOTSTRAP_USER: &str = "tls-bootstrap-token-user";

/// How a kubeconfig's user proves who it is.
#[derive(Debug, Clone)]
pub enum Credential {
    /// A client certificate and key, PEM (embedded as `*-data`).
    Certificate(pki::Pair),
    /// A bearer token (the bootstrap token).
    Token(String),
}

/// One kubeconfig file `init` writes.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    /// The file in `/etc/kubernetes`.
    pub file: &'static str,
    /// Whether it talks to this node's apiserver rather than the
    /// control-plane endpoint.
    pub local: bool,
}

/// The kubeconfigs of `init`, in upstream's order.
pub const SPECS: [Spec; 5] = [
    Spec {
        file: "admin.conf",
        local: false,
    },
    Spec {
        file: "super-admin.conf",
        local: false,
    },
    Spec {
        file: "kubelet.conf",
        local: false,
    },
    Spec {
        file: "controller-manager.conf",
        local: true,
    },
    Spec {
        file: "scheduler.conf",
        local: true,
    },
];

impl Spec {
    /// The user (common name) and groups of its certificate.
    pub fn subject(&self, node_name: &str) -> (String, Vec<String>) {
        match self.file {
            "admin.conf" => (
                "kubernetes-admin".into(),
                vec![pki::CLUSTER_ADMINS_GROUP.into()],
            ),
            "super-admin.conf" => (
                "kubernetes-super-admin".into(),
                vec!["system:masters".into()],
            ),
            "kubelet.conf" => (
                format!("system:node:{node_name}"),
                vec!["system:nodes".into()],
            ),
            "controller-manager.conf" => ("system:kube-controller-manager".into(), vec![]),
            _ => ("system:kube-scheduler".into(), vec![]),
        }
    }
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// A kubeconfig's YAML: the cluster at `server` trusted through `ca_pem`,
/// and `user` with `credential` (none: the cluster alone, as in
/// `cluster-info`).
pub fn render(server: &str, ca_pem: &str, user: Option<(&str, &Credential)>) -> String {
    let cluster = json!({
        "certificate-authority-data": b64(ca_pem),
        "server": server,
    });
    let doc = match user {
        Some((name, credential)) => {
            let context = format!("{name}@{CLUSTER_NAME}");
            let user = match credential {
                Credential::Certificate(pair) => json!({
                    "client-certificate-data": b64(&pair.cert_pem),
                    "client-key-data": b64(&pair.key_pem),
                }),
                Credential::Token(token) => json!({"token": token}),
            };
            json!({
                "apiVersion": "v1",
                "clusters": [{"cluster": cluster, "name": CLUSTER_NAME}],
                "contexts": [{"context": {"cluster": CLUSTER_NAME, "user": name}, "name": context}],
                "current-context": context,
                "kind": "Config",
                "preferences": {},
                "users": [{"name": name, "user": user}],
            })
        }
        // Upstream's cluster-info: one unnamed cluster, nothing else.
        None => json!({
            "apiVersion": "v1",
            "clusters": [{"cluster": cluster, "name": ""}],
            "contexts": null,
            "current-context": "",
            "kind": "Config",
            "preferences": {},
            "users": null,
        }),
    };
    serde_yaml_ng::to_string(&doc).unwrap_or_default()
}

/// Signs a client certificate for `spec` with the cluster CA under
/// `pki_dir` and writes the kubeconfig to `kubernetes_dir`.
pub fn write(
    kubernetes_dir: &Path,
    pki_dir: &Path,
    spec: &Spec,
    node_name: &str,
    server: &str,
) -> Result<()> {
    let ca = pki::Ca::load(pki_dir, pki::Authority::Cluster)?;
    let (cn, orgs) = spec.subject(node_name);
    let pair = ca.sign(&cn, &orgs, &[], pki::Usage::Client, pki::CERT_VALIDITY)?;
    let text = render(
        server,
        &ca.cert_pem,
        Some((&cn, &Credential::Certificate(pair))),
    );
    pki::write_file(&kubernetes_dir.join(spec.file), text.as_bytes(), true)?;
    Ok(())
}

/// Writes every kubeconfig of [`SPECS`] missing from this machine's
/// `/etc/kubernetes`: the local ones for this node's apiserver, the rest
/// for the control-plane endpoint. Returns each file with whether it was
/// written now.
pub fn write_missing(cfg: &crate::config::Config) -> Result<Vec<(&'static str, bool)>> {
    write_missing_selected(cfg, &|_| true)
}

/// [`write_missing`] for the files `want` names by upstream's phase name
/// (`init phase kubeconfig admin`: `admin.conf`).
pub fn write_missing_selected(
    cfg: &crate::config::Config,
    want: &dyn Fn(&str) -> bool,
) -> Result<Vec<(&'static str, bool)>> {
    let (dir, pki_dir) = (cfg.paths.kubernetes_dir(), cfg.paths.pki_dir());
    let server = format!("https://{}", cfg.endpoint());
    let local = format!("https://{}", cfg.local_endpoint());
    let mut done = Vec::new();
    for spec in SPECS
        .into_iter()
        .filter(|s| want(s.file.trim_end_matches(".conf")))
    {
        if dir.join(spec.file).exists() {
            done.push((spec.file, false));
            continue;
        }
        let url = if spec.local { &local } else { &server };
        write(&dir, &pki_dir, &spec, &cfg.node_name, url)?;
        done.push((spec.file, true));
    }
    Ok(done)
}

/// What kubeadm reads back from a kubeconfig: the first cluster's server
/// and CA, and the first user's certificate and token.
#[derive(Debug, Clone, Default)]
pub struct Parsed {
    /// `clusters[0].cluster.server`.
    pub server: String,
    /// `clusters[0].cluster.certificate-authority-data`, decoded.
    pub ca_pem: String,
    /// `users[0].user.client-certificate-data`, decoded.
    pub client_cert_pem: Option<String>,
    /// `users[0].user.token`.
    pub token: Option<String>,
}

/// Parses kubeconfig YAML (`what` names it in errors).
pub fn parse(text: &str, what: &str) -> Result<Parsed> {
    let bad = |message: &str| Error::Invalid {
        what: what.into(),
        message: message.into(),
    };
    let doc: Value = serde_yaml_ng::from_str(text).map_err(|e| bad(&e.to_string()))?;
    let cluster = doc
        .pointer("/clusters/0/cluster")
        .ok_or_else(|| bad("no cluster"))?;
    let decode = |v: Option<&Value>| -> Option<String> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(v?.as_str()?)
            .ok()?;
        String::from_utf8(bytes).ok()
    };
    Ok(Parsed {
        server: cluster
            .get("server")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("the cluster has no server"))?
            .to_string(),
        ca_pem: decode(cluster.get("certificate-authority-data"))
            .ok_or_else(|| bad("the cluster has no certificate-authority-data"))?,
        client_cert_pem: decode(doc.pointer("/users/0/user/client-certificate-data")),
        token: doc
            .pointer("/users/0/user/token")
            .and_then(Value::as_str)
            .map(String::from),
    })
}

/// Reads and parses the kubeconfig at `path`.
pub fn read(path: &Path) -> Result<Parsed> {
    let text = std::fs::read_to_string(path).map_err(|source| {
        Error::Pki(pki::Error::Io {
            path: path.into(),
            source,
        })
    })?;
    parse(&text, &path.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_conf_round_trips_and_names_upstreams_user() {
        let dir = tempfile::tempdir().unwrap();
        let pki_dir = dir.path().join("pki");
        let id = pki::Identity {
            node_name: "cp".into(),
            advertise_address: "127.0.0.1".parse().unwrap(),
            service_ip: "10.96.0.1".parse().unwrap(),
            dns_domain: "cluster.local".into(),
            control_plane_host: None,
            extra_sans: vec![],
        };
        pki::write_all(&pki_dir, &id).unwrap();
        write(
            dir.path(),
            &pki_dir,
            &SPECS[0],
            "cp",
            "https://10.0.0.1:6443",
        )
        .unwrap();
        let text = std::fs::read_to_string(dir.path().join("admin.conf")).unwrap();
        assert!(
            text.contains("current-context: kubernetes-admin@kubernetes"),
            "{text}"
        );
        let parsed = read(&dir.path().join("admin.conf")).unwrap();
        assert_eq!(parsed.server, "https://10.0.0.1:6443");
        assert!(parsed.ca_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        let der = pki::first_der(&parsed.client_cert_pem.unwrap()).unwrap();
        let facts = pki::facts(&der).unwrap();
        assert_eq!(facts.common_name, "kubernetes-admin");
        assert_eq!(
            facts.organizations,
            vec!["kubeadm:cluster-admins".to_string()]
        );
    }

    #[test]
    fn cluster_info_has_the_cluster_only() {
        let text = render("https://1.2.3.4:6443", "PEM", None);
        let parsed = parse(&text, "cluster-info").unwrap();
        assert_eq!(parsed.server, "https://1.2.3.4:6443");
        assert_eq!(parsed.ca_pem, "PEM");
        assert!(parsed.client_cert_pem.is_none() && parsed.token.is_none());
        assert!(text.contains("users: null"), "{text}");
    }
}
