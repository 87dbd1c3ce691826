//! The cluster's PKI, as `kubeadm init` lays it out in
//! `/etc/kubernetes/pki` (the `certs` phase):
//!
//! | file | subject | signed by | for |
//! | --- | --- | --- | --- |
//! | `ca` | `CN=kubernetes` | itself | every client and server of the API |
//! | `apiserver` | `CN=kube-apiserver` | `ca` | the apiserver's serving certificate |
//! | `apiserver-kubelet-client` | `CN=kube-apiserver-kubelet-client, O=kubeadm:cluster-admins` | `ca` | the apiserver calling kubelets |
//! | `front-proxy-ca` | `CN=front-proxy-ca` | itself | aggregated API servers trust it |
//! | `front-proxy-client` | `CN=front-proxy-client` | `front-proxy-ca` | the apiserver proxying to them |
//! | `etcd/ca` | `CN=etcd-ca` | itself | etcd's own trust domain |
//! | `etcd/server`, `etcd/peer` | `CN=<node name>` | `etcd/ca` | etcd serving clients and peers |
//! | `etcd/healthcheck-client` | `CN=kube-etcd-healthcheck-client` | `etcd/ca` | probing etcd |
//! | `apiserver-etcd-client` | `CN=kube-apiserver-etcd-client` | `etcd/ca` | the apiserver calling etcd |
//! | `sa.key`, `sa.pub` | | | ServiceAccount token signing |
//!
//! CAs live ten years, the rest one year (`kubeadm certs renew` makes new
//! ones). Existing files are kept, so running the phase again (or `init`
//! after a failed `init`) changes nothing that works. Keys are ECDSA P-256.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use rcgen::{
    CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    SanType, SerialNumber,
};

/// Failures making or reading certificates.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Generating or signing failed.
    #[error("generating {what}: {source}")]
    Generate {
        /// Which certificate.
        what: String,
        /// Why.
        #[source]
        source: rcgen::Error,
    },
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A file holds no usable certificate or key.
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A name given to `certs renew` is not one of ours.
    #[error("unknown certificate {0:?}")]
    Unknown(String),
}

/// Shorthand.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// How long a CA lives (upstream: ten years).
pub const CA_VALIDITY: chrono::Duration = chrono::Duration::days(3650);
/// How long every other certificate lives (upstream: one year).
pub const CERT_VALIDITY: chrono::Duration = chrono::Duration::days(365);

/// The three CAs kubeadm makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Authority {
    /// `ca`: the cluster CA.
    Cluster,
    /// `front-proxy-ca`: the aggregation layer's CA.
    FrontProxy,
    /// `etcd/ca`: etcd's CA.
    Etcd,
}

impl Authority {
    /// Every CA, in the order they are made.
    pub const ALL: [Authority; 3] = [Authority::Cluster, Authority::FrontProxy, Authority::Etcd];

    /// Upstream's name in `certs check-expiration`.
    pub fn name(self) -> &'static str {
        match self {
            Authority::Cluster => "ca",
            Authority::FrontProxy => "front-proxy-ca",
            Authority::Etcd => "etcd-ca",
        }
    }

    /// The file name without `.crt`/`.key`, relative to the PKI directory.
    pub fn base(self) -> &'static str {
        match self {
            Authority::Cluster => "ca",
            Authority::FrontProxy => "front-proxy-ca",
            Authority::Etcd => "etcd/ca",
        }
    }

    fn common_name(self) -> &'static str {
        match self {
            Authority::Cluster => "kubernetes",
            Authority::FrontProxy => "front-proxy-ca",
            Authority::Etcd => "etcd-ca",
        }
    }
}

/// What a certificate is used for (its extended key usages).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Usage {
    /// `serverAuth`.
    Server,
    /// `clientAuth`.
    Client,
    /// Both (etcd's server and peer certificates).
    ServerAndClient,
}

/// What the serving certificates must name: the addresses and names this
/// control-plane node is dialed by.
#[derive(Debug, Clone)]
pub struct Identity {
    /// The node's name (`--node-name`, else the hostname).
    pub node_name: String,
    /// `--apiserver-advertise-address`.
    pub advertise_address: IpAddr,
    /// The first address of `--service-cidr` (the `kubernetes` Service).
    pub service_ip: IpAddr,
    /// `--service-dns-domain`.
    pub dns_domain: String,
    /// The host part of `--control-plane-endpoint`, when given.
    pub control_plane_host: Option<String>,
    /// `--apiserver-cert-extra-sans`.
    pub extra_sans: Vec<String>,
}

/// One leaf certificate of the table in the module docs.
#[derive(Debug, Clone, Copy)]
pub struct Leaf {
    /// Upstream's name (`certs renew <name>`, `check-expiration`).
    pub name: &'static str,
    /// The file name without `.crt`/`.key`, relative to the PKI directory.
    pub base: &'static str,
    /// Who signs it.
    pub authority: Authority,
    /// Its usages.
    pub usage: Usage,
}

/// Every leaf certificate, in upstream's order.
pub const LEAVES: [Leaf; 7] = [
    Leaf {
        name: "apiserver",
        base: "apiserver",
        authority: Authority::Cluster,
        usage: Usage::Server,
    },
    Leaf {
        name: "apiserver-kubelet-client",
        base: "apiserver-kubelet-client",
        authority: Authority::Cluster,
        usage: Usage::Client,
    },
    Leaf {
        name: "front-proxy-client",
        base: "front-proxy-client",
        authority: Authority::FrontProxy,
        usage: Usage::Client,
    },
    Leaf {
        name: "etcd-server",
        base: "etcd/server",
        authority: Authority::Etcd,
        usage: Usage::ServerAndClient,
    },
    Leaf {
        name: "etcd-peer",
        base: "etcd/peer",
        authority: Authority::Etcd,
        usage: Usage::ServerAndClient,
    },
    Leaf {
        name: "etcd-healthcheck-client",
        base: "etcd/healthcheck-client",
        authority: Authority::Etcd,
        usage: Usage::Client,
    },
    Leaf {
        name: "apiserver-etcd-client",
        base: "apiserver-etcd-client",
        authority: Authority::Etcd,
        usage: Usage::Client,
    },
];

impl Leaf {
    /// Its subject: common name and organizations.
    pub fn subject(&self, id: &Identity) -> (String, Vec<String>) {
        let cn = match self.name {
            "apiserver" => "kube-apiserver",
            "apiserver-kubelet-client" => "kube-apiserver-kubelet-client",
            "front-proxy-client" => "front-proxy-client",
            "etcd-healthcheck-client" => "kube-etcd-healthcheck-client",
            "apiserver-etcd-client" => "kube-apiserver-etcd-client",
            _ => return (id.node_name.clone(), vec![]),
        };
        let orgs = match self.name {
            // Upstream (1.29+): the apiserver calls kubelets as a member
            // of kubeadm:cluster-admins, bound to cluster-admin by init.
            "apiserver-kubelet-client" => vec![CLUSTER_ADMINS_GROUP.to_string()],
            _ => vec![],
        };
        (cn.to_string(), orgs)
    }

    /// Its subject alternative names.
    pub fn sans(&self, id: &Identity) -> Vec<String> {
        match self.name {
            "apiserver" => {
                let mut sans = vec![
                    id.node_name.clone(),
                    "kubernetes".into(),
                    "kubernetes.default".into(),
                    "kubernetes.default.svc".into(),
                    format!("kubernetes.default.svc.{}", id.dns_domain),
                    id.service_ip.to_string(),
                    id.advertise_address.to_string(),
                ];
                sans.extend(id.control_plane_host.iter().cloned());
                sans.extend(id.extra_sans.iter().cloned());
                dedup(sans)
            }
            "etcd-server" | "etcd-peer" => dedup(vec![
                id.node_name.clone(),
                "localhost".into(),
                id.advertise_address.to_string(),
                "127.0.0.1".into(),
                "::1".into(),
            ]),
            _ => vec![],
        }
    }
}

fn dedup(v: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in v {
        if !out.contains(&s) {
            out.push(s);
        }
    }
    out
}

/// The group kubeadm binds to `cluster-admin` (admin.conf's user is in it;
/// super-admin.conf's is in `system:masters`).
pub const CLUSTER_ADMINS_GROUP: &str = "kubeadm:cluster-admins";

/// A CA loaded from (or just written to) disk, able to sign.
pub struct Ca {
    /// The CA certificate, PEM.
    pub cert_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl std::fmt::Debug for Ca {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ca").finish_non_exhaustive()
    }
}

/// A certificate and its key, PEM.
#[derive(Debug, Clone)]
pub struct Pair {
    /// The certificate.
    pub cert_pem: String,
    /// The PKCS#8 private key.
    pub key_pem: String,
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.into(),
        source,
    })
}

/// Writes `bytes` to `path` (making its directory), readable by its owner
/// only when `private`.
pub fn write_file(path: &Path, bytes: &[u8], private: bool) -> Result<()> {
    let io = |source| Error::Io {
        path: path.into(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    std::fs::write(path, bytes).map_err(io)?;
    use std::os::unix::fs::PermissionsExt;
    let mode = if private { 0o600 } else { 0o644 };
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(io)
}

fn params(cn: &str, orgs: &[String], validity: chrono::Duration) -> Result<CertificateParams> {
    let gen = |source| Error::Generate {
        what: cn.to_string(),
        source,
    };
    let mut p = CertificateParams::new(Vec::<String>::new()).map_err(gen)?;
    p.distinguished_name = rcgen::DistinguishedName::new();
    for o in orgs {
        p.distinguished_name
            .push(DnType::OrganizationName, o.as_str());
    }
    p.distinguished_name.push(DnType::CommonName, cn);
    let now = time::OffsetDateTime::now_utc();
    // A little in the past: machines' clocks differ by a few seconds.
    p.not_before = now - time::Duration::minutes(5);
    p.not_after = now + time::Duration::seconds(validity.num_seconds());
    let mut serial: [u8; 16] = rand::random();
    serial[0] &= 0x7f;
    p.serial_number = Some(SerialNumber::from_slice(&serial));
    Ok(p)
}

impl Ca {
    /// A new self-signed CA for `authority`.
    pub fn generate(authority: Authority) -> Result<(Ca, String)> {
        let gen = |source| Error::Generate {
            what: authority.name().to_string(),
            source,
        };
        let mut p = params(authority.common_name(), &[], CA_VALIDITY)?;
        p.is_ca = IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        p.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
            KeyUsagePurpose::KeyCertSign,
        ];
        let key = KeyPair::generate().map_err(gen)?;
        let cert = p.self_signed(&key).map_err(gen)?;
        let key_pem = key.serialize_pem();
        let cert_pem = cert.pem();
        Ok((
            Ca {
                issuer: Issuer::new(p, key),
                cert_pem,
            },
            key_pem,
        ))
    }

    /// The CA `authority` under `pki_dir`.
    pub fn load(pki_dir: &Path, authority: Authority) -> Result<Ca> {
        let crt = pki_dir.join(format!("{}.crt", authority.base()));
        let key_path = pki_dir.join(format!("{}.key", authority.base()));
        let cert_pem = read(&crt)?;
        let key = KeyPair::from_pem(&read(&key_path)?).map_err(|e| Error::Invalid {
            path: key_path.clone(),
            message: e.to_string(),
        })?;
        let issuer = Issuer::from_ca_cert_pem(&cert_pem, key).map_err(|e| Error::Invalid {
            path: crt,
            message: e.to_string(),
        })?;
        Ok(Ca { cert_pem, issuer })
    }

    /// A new key and a certificate for it signed by this CA.
    pub fn sign(
        &self,
        cn: &str,
        orgs: &[String],
        sans: &[String],
        usage: Usage,
        validity: chrono::Duration,
    ) -> Result<Pair> {
        let gen = |source| Error::Generate {
            what: cn.to_string(),
            source,
        };
        let mut p = params(cn, orgs, validity)?;
        p.subject_alt_names = sans
            .iter()
            .map(|s| match s.parse::<IpAddr>() {
                Ok(ip) => Ok(SanType::IpAddress(ip)),
                Err(_) => Ok(SanType::DnsName(s.clone().try_into()?)),
            })
            .collect::<Result<_, rcgen::Error>>()
            .map_err(gen)?;
        p.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        p.extended_key_usages = match usage {
            Usage::Server => vec![ExtendedKeyUsagePurpose::ServerAuth],
            Usage::Client => vec![ExtendedKeyUsagePurpose::ClientAuth],
            Usage::ServerAndClient => vec![
                ExtendedKeyUsagePurpose::ServerAuth,
                ExtendedKeyUsagePurpose::ClientAuth,
            ],
        };
        p.use_authority_key_identifier_extension = true;
        let key = KeyPair::generate().map_err(gen)?;
        let cert = p.signed_by(&key, &self.issuer).map_err(gen)?;
        Ok(Pair {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}

/// What [`write_all`] did with one file: made it, or found it there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Written now.
    Generated(String),
    /// Already there, kept.
    Existing(String),
}

/// Makes every CA, leaf certificate and the ServiceAccount key pair that
/// is missing under `pki_dir` (the `certs` phase). The CAs are kept when
/// present, so `join --control-plane` can bring them and `init` can run
/// again.
pub fn write_all(pki_dir: &Path, id: &Identity) -> Result<Vec<Outcome>> {
    write_selected(pki_dir, id, &|_| true)
}

/// Upstream's names of the `certs` phase's parts (`init phase certs
/// <name>`), in its order.
pub const PHASE_NAMES: [&str; 11] = [
    "ca",
    "apiserver",
    "apiserver-kubelet-client",
    "front-proxy-ca",
    "front-proxy-client",
    "etcd-ca",
    "etcd-server",
    "etcd-peer",
    "etcd-healthcheck-client",
    "apiserver-etcd-client",
    "sa",
];

/// [`write_all`] for the parts `want` names (by [`PHASE_NAMES`]); a leaf
/// needs its CA on disk.
pub fn write_selected(
    pki_dir: &Path,
    id: &Identity,
    want: &dyn Fn(&str) -> bool,
) -> Result<Vec<Outcome>> {
    let mut done = Vec::new();
    for authority in Authority::ALL.into_iter().filter(|a| want(a.name())) {
        let crt = pki_dir.join(format!("{}.crt", authority.base()));
        if crt.exists() {
            done.push(Outcome::Existing(authority.name().into()));
            continue;
        }
        let (ca, key_pem) = Ca::generate(authority)?;
        write_file(&crt, ca.cert_pem.as_bytes(), false)?;
        write_file(
            &pki_dir.join(format!("{}.key", authority.base())),
            key_pem.as_bytes(),
            true,
        )?;
        done.push(Outcome::Generated(authority.name().into()));
    }
    for leaf in LEAVES.into_iter().filter(|l| want(l.name)) {
        if pki_dir.join(format!("{}.crt", leaf.base)).exists() {
            done.push(Outcome::Existing(leaf.name.into()));
            continue;
        }
        write_leaf(pki_dir, &leaf, id)?;
        done.push(Outcome::Generated(leaf.name.into()));
    }
    if want("sa") {
        done.push(write_sa(pki_dir)?);
    }
    Ok(done)
}

/// The ServiceAccount key pair, unless present.
fn write_sa(pki_dir: &Path) -> Result<Outcome> {
    if pki_dir.join("sa.key").exists() {
        return Ok(Outcome::Existing("sa".into()));
    }
    let key = KeyPair::generate().map_err(|source| Error::Generate {
        what: "sa".into(),
        source,
    })?;
    write_file(
        &pki_dir.join("sa.key"),
        key.serialize_pem().as_bytes(),
        true,
    )?;
    write_file(
        &pki_dir.join("sa.pub"),
        key.public_key_pem().as_bytes(),
        false,
    )?;
    Ok(Outcome::Generated("sa".into()))
}

/// Signs a new pair for `leaf` with its CA and writes it (over any old one).
pub fn write_leaf(pki_dir: &Path, leaf: &Leaf, id: &Identity) -> Result<()> {
    let ca = Ca::load(pki_dir, leaf.authority)?;
    let (cn, orgs) = leaf.subject(id);
    let pair = ca.sign(&cn, &orgs, &leaf.sans(id), leaf.usage, CERT_VALIDITY)?;
    write_file(
        &pki_dir.join(format!("{}.crt", leaf.base)),
        pair.cert_pem.as_bytes(),
        false,
    )?;
    write_file(
        &pki_dir.join(format!("{}.key", leaf.base)),
        pair.key_pem.as_bytes(),
        true,
    )
}

/// The DER of the first certificate in a PEM text.
pub fn first_der(pem: &str) -> Option<Vec<u8>> {
    let (_, p) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).ok()?;
    (p.label == "CERTIFICATE").then_some(p.contents)
}

/// A certificate's facts that `certs` and `join` look at.
#[derive(Debug, Clone)]
pub struct Facts {
    /// `notAfter`.
    pub not_after: chrono::DateTime<chrono::Utc>,
    /// The subject's common name.
    pub common_name: String,
    /// The subject's organizations.
    pub organizations: Vec<String>,
    /// DNS and IP subject alternative names, as text.
    pub sans: Vec<String>,
    /// The DER of the SubjectPublicKeyInfo (what the CA pin hashes).
    pub spki_der: Vec<u8>,
}

/// Reads the facts of a DER certificate.
pub fn facts(der: &[u8]) -> Option<Facts> {
    use x509_parser::prelude::*;
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    let not_after = chrono::DateTime::from_timestamp(cert.validity().not_after.timestamp(), 0)?;
    let attr = |oid| {
        cert.subject()
            .iter_attributes()
            .filter(|a| a.attr_type() == &oid)
            .filter_map(|a| a.as_str().ok().map(String::from))
            .collect::<Vec<_>>()
    };
    let mut sans = Vec::new();
    if let Ok(Some(ext)) = cert.subject_alternative_name() {
        for n in &ext.value.general_names {
            match n {
                GeneralName::DNSName(d) => sans.push(d.to_string()),
                GeneralName::IPAddress(b) => match b.len() {
                    4 => sans.push(IpAddr::from(<[u8; 4]>::try_from(*b).ok()?).to_string()),
                    16 => sans.push(IpAddr::from(<[u8; 16]>::try_from(*b).ok()?).to_string()),
                    _ => {}
                },
                _ => {}
            }
        }
    }
    Some(Facts {
        not_after,
        common_name: attr(x509_parser::oid_registry::OID_X509_COMMON_NAME)
            .into_iter()
            .next()
            .unwrap_or_default(),
        organizations: attr(x509_parser::oid_registry::OID_X509_ORGANIZATION_NAME),
        sans,
        spki_der: cert.tbs_certificate.subject_pki.raw.to_vec(),
    })
}

/// The facts of the first certificate in the PEM file `path`.
pub fn facts_of_file(path: &Path) -> Result<Facts> {
    let pem = read(path)?;
    first_der(&pem)
        .and_then(|d| facts(&d))
        .ok_or_else(|| Error::Invalid {
            path: path.into(),
            message: "no readable PEM certificate".into(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_phase_names_are_every_authority_leaf_and_the_sa_key() {
        let mut written: Vec<&str> = Authority::ALL.iter().map(|a| a.name()).collect();
        written.extend(LEAVES.iter().map(|l| l.name));
        written.push("sa");
        written.sort();
        let mut named = PHASE_NAMES.to_vec();
        named.sort();
        assert_eq!(written, named);
    }

    fn identity() -> Identity {
        Identity {
            node_name: "cp-1".into(),
            advertise_address: "10.0.0.5".parse().unwrap(),
            service_ip: "10.96.0.1".parse().unwrap(),
            dns_domain: "cluster.local".into(),
            control_plane_host: Some("k8s.example.org".into()),
            extra_sans: vec![],
        }
    }

    #[test]
    fn init_writes_the_upstream_layout_with_the_right_names() {
        let dir = tempfile::tempdir().unwrap();
        let done = write_all(dir.path(), &identity()).unwrap();
        assert!(done.iter().all(|o| matches!(o, Outcome::Generated(_))));
        for f in [
            "ca.crt",
            "ca.key",
            "apiserver.crt",
            "apiserver.key",
            "apiserver-kubelet-client.crt",
            "front-proxy-ca.crt",
            "front-proxy-client.crt",
            "etcd/ca.crt",
            "etcd/server.crt",
            "etcd/peer.crt",
            "etcd/healthcheck-client.crt",
            "apiserver-etcd-client.crt",
            "sa.key",
            "sa.pub",
        ] {
            assert!(dir.path().join(f).exists(), "{f}");
        }
        let api = facts_of_file(&dir.path().join("apiserver.crt")).unwrap();
        assert_eq!(api.common_name, "kube-apiserver");
        for san in [
            "cp-1",
            "10.96.0.1",
            "10.0.0.5",
            "k8s.example.org",
            "kubernetes.default.svc.cluster.local",
        ] {
            assert!(
                api.sans.contains(&san.to_string()),
                "{san} in {:?}",
                api.sans
            );
        }
        let kc = facts_of_file(&dir.path().join("apiserver-kubelet-client.crt")).unwrap();
        assert_eq!(kc.organizations, vec![CLUSTER_ADMINS_GROUP.to_string()]);
        let etcd = facts_of_file(&dir.path().join("etcd/server.crt")).unwrap();
        assert!(etcd.sans.contains(&"127.0.0.1".to_string()));
        let days = (api.not_after - chrono::Utc::now()).num_days();
        assert!((363..=365).contains(&days), "{days}");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("ca.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn a_second_run_keeps_what_is_there() {
        let dir = tempfile::tempdir().unwrap();
        write_all(dir.path(), &identity()).unwrap();
        let before = std::fs::read(dir.path().join("ca.crt")).unwrap();
        let done = write_all(dir.path(), &identity()).unwrap();
        assert!(done.iter().all(|o| matches!(o, Outcome::Existing(_))));
        assert_eq!(before, std::fs::read(dir.path().join("ca.crt")).unwrap());
    }

    #[test]
    fn leaves_chain_to_their_own_ca() {
        let dir = tempfile::tempdir().unwrap();
        write_all(dir.path(), &identity()).unwrap();
        let out = std::process::Command::new("openssl")
            .args(["verify", "-CAfile"])
            .arg(dir.path().join("etcd/ca.crt"))
            .arg(dir.path().join("apiserver-etcd-client.crt"))
            .output();
        if let Ok(out) = out {
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let out = std::process::Command::new("openssl")
            .args(["verify", "-CAfile"])
            .arg(dir.path().join("ca.crt"))
            .arg(dir.path().join("apiserver-etcd-client.crt"))
            .output();
        if let Ok(out) = out {
            assert!(!out.status.success(), "signed by the etcd CA only");
        }
    }
}
