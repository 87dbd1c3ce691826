//! One certificate through the CSR API: a new ECDSA P-256 key, a request
//! for `system:node:<name>` in `system:nodes` with what the [`Template`]
//! says, then wait until the CSR has a certificate, or was denied or
//! failed. Two templates, as upstream's kubelet:
//! - [`Template::client`], signer
//!   `kubernetes.io/kube-apiserver-client-kubelet`, usages `digital
//!   signature`, `client auth` (no `key encipherment` for an EC key), no
//!   alternative names;
//! - [`Template::serving`] (`serverTLSBootstrap`), signer
//!   `kubernetes.io/kubelet-serving`, usages `digital signature`, `server
//!   auth`, the Node's addresses as alternative names (host names as DNS
//!   names, IPs as IPs; none without at least one IP, as upstream).
//!
//! Bootstrap requests are named as upstream's: `node-csr-` and a digest of
//! the key and subject, so a kubelet restarted mid-bootstrap with the same
//! key finds its own request again. Renewals and serving requests use
//! `generateName: csr-`.

use std::time::Duration;

use base64::Engine;
use futures::StreamExt;
use std::net::IpAddr;

use k8s_openapi::api::certificates::v1::{
    CertificateSigningRequest, CertificateSigningRequestSpec,
};
use k8s_openapi::api::core::v1::NodeAddress;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::ByteString;
use kube::api::{Api, PostParams};
use kube::runtime::watcher::{self, watcher};
use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair, SanType};
use sha2::Digest;

use super::store::Pair;
use super::Error;

/// The signer of kubelet client certificates.
pub const CLIENT_SIGNER: &str = "kubernetes.io/kube-apiserver-client-kubelet";
/// The usages of a client certificate (EC key).
pub const CLIENT_USAGES: &[&str] = &["digital signature", "client auth"];
/// The signer of kubelet serving certificates.
pub const SERVING_SIGNER: &str = "kubernetes.io/kubelet-serving";
/// The usages of a serving certificate (EC key).
pub const SERVING_USAGES: &[&str] = &["digital signature", "server auth"];

/// What one request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    /// `spec.signerName`.
    pub signer: &'static str,
    /// `spec.usages`.
    pub usages: &'static [&'static str],
    /// The node's name (CN `system:node:<node>`, O `system:nodes`).
    pub node: String,
    /// DNS alternative names.
    pub dns_names: Vec<String>,
    /// IP alternative names.
    pub ips: Vec<IpAddr>,
}

impl Template {
    /// A client certificate for `node`.
    pub fn client(node: &str) -> Template {
        Template {
            signer: CLIENT_SIGNER,
            usages: CLIENT_USAGES,
            node: node.into(),
            dns_names: Vec::new(),
            ips: Vec::new(),
        }
    }

    /// A serving certificate for `node` at `addresses` (its
    /// `status.addresses`); `None` while they hold no IP (upstream asks for
    /// nothing until the node has one).
    pub fn serving(node: &str, addresses: &[NodeAddress]) -> Option<Template> {
        let mut dns_names: Vec<String> = Vec::new();
        let mut ips: Vec<IpAddr> = Vec::new();
        for a in addresses {
            match a.type_.as_str() {
                "Hostname" | "ExternalDNS" | "InternalDNS" => {
                    if !dns_names.contains(&a.address) {
                        dns_names.push(a.address.clone());
                    }
                }
                "InternalIP" | "ExternalIP" => {
                    if let Ok(ip) = a.address.parse::<IpAddr>() {
                        if !ips.contains(&ip) {
                            ips.push(ip);
                        }
                    }
                }
                _ => {}
            }
        }
        (!ips.is_empty()).then(|| Template {
            signer: SERVING_SIGNER,
            usages: SERVING_USAGES,
            node: node.into(),
            dns_names,
            ips,
        })
    }

    /// Whether `pair` is what this template asks for: the same DNS names
    /// and IPs, as sets (upstream's certificate manager renews at once
    /// when its certificate stops satisfying the template, e.g. after the
    /// node's addresses changed).
    pub fn satisfied_by(&self, pair: &super::store::Pair) -> bool {
        let (dns, ips) = pair.alt_names();
        same_set(&self.dns_names, &dns) && same_set(&self.ips, &ips)
    }
}

/// Whether `a` and `b` hold the same elements, in any order.
fn same_set<T: PartialEq>(a: &[T], b: &[T]) -> bool {
    a.iter().all(|x| b.contains(x)) && b.iter().all(|x| a.contains(x))
}

/// How a request is named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Naming {
    /// `node-csr-<digest>` (bootstrap).
    Digest,
    /// `generateName: csr-` (rotation).
    Generated,
}

/// Asks for the certificate `template` describes with `client`; waits up
/// to `timeout` for it.
pub async fn request(
    client: &kube::Client,
    template: &Template,
    naming: Naming,
    timeout: Duration,
) -> Result<Pair, Error> {
    let key = KeyPair::generate().map_err(|e| Error::Invalid(format!("making a key: {e}")))?;
    let cn = format!("system:node:{}", template.node);
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "system:nodes");
    dn.push(DnType::CommonName, cn.clone());
    params.distinguished_name = dn;
    for name in &template.dns_names {
        let name = name
            .clone()
            .try_into()
            .map_err(|e| Error::Invalid(format!("DNS name {name:?}: {e}")))?;
        params.subject_alt_names.push(SanType::DnsName(name));
    }
    for ip in &template.ips {
        params.subject_alt_names.push(SanType::IpAddress(*ip));
    }
    let pem = params
        .serialize_request(&key)
        .and_then(|r| r.pem())
        .map_err(|e| Error::Invalid(format!("making the request: {e}")))?;
    let mut metadata = ObjectMeta::default();
    match naming {
        Naming::Digest => {
            let mut h = sha2::Sha512::new();
            h.update(key.public_key_pem().as_bytes());
            h.update(cn.as_bytes());
            h.update(b"system:nodes");
            for u in template.usages {
                h.update(u.as_bytes());
            }
            let digest = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(h.finalize());
            metadata.name = Some(format!("node-csr-{}", &digest[..43]));
        }
        Naming::Generated => metadata.generate_name = Some("csr-".into()),
    }
    let csr = CertificateSigningRequest {
        metadata,
        spec: CertificateSigningRequestSpec {
            request: ByteString(pem.into_bytes()),
            signer_name: template.signer.into(),
            usages: Some(template.usages.iter().map(|u| u.to_string()).collect()),
            ..Default::default()
        },
        status: None,
    };
    let api: Api<CertificateSigningRequest> = Api::all(client.clone());
    let created = api
        .create(&PostParams::default(), &csr)
        .await
        .map_err(|source| Error::Api {
            context: "creating the certificate signing request".into(),
            source,
        })?;
    let name = created.metadata.name.clone().unwrap_or_default();
    tracing::info!(csr = %name, signer = template.signer, "waiting for the certificate");
    let cert = tokio::time::timeout(timeout, wait(&api, &name))
        .await
        .map_err(|_| Error::Invalid(format!("timed out waiting for csr {name} to be signed")))??;
    Pair::new(cert, key.serialize_pem())
}

/// Watches the CSR until it has a certificate or a Denied/Failed condition.
async fn wait(api: &Api<CertificateSigningRequest>, name: &str) -> Result<String, Error> {
    let cfg = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let mut events = std::pin::pin!(watcher(api.clone(), cfg));
    while let Some(ev) = events.next().await {
        let objs = match ev {
            Ok(watcher::Event::Apply(o)) | Ok(watcher::Event::InitApply(o)) => vec![o],
            Ok(_) => continue,
            Err(e) => {
                tracing::warn!(error = %e, csr = name, "watching the request");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        for o in objs {
            let status = o.status.unwrap_or_default();
            for c in status.conditions.iter().flatten() {
                if c.type_ == "Denied" || (c.type_ == "Failed" && c.status == "True") {
                    return Err(Error::Refused {
                        name: name.into(),
                        how: c.type_.to_lowercase(),
                        message: c.message.clone().unwrap_or_default(),
                    });
                }
            }
            if let Some(cert) = status.certificate.filter(|c| !c.0.is_empty()) {
                return String::from_utf8(cert.0)
                    .map_err(|_| Error::Invalid("the issued certificate is not PEM".into()));
            }
        }
    }
    Err(Error::Invalid(format!("the watch of csr {name} ended")))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn address(type_: &str, address: &str) -> NodeAddress {
        NodeAddress {
            type_: type_.into(),
            address: address.into(),
        }
    }

    #[test]
    fn the_serving_template_has_the_nodes_names_and_ips_and_waits_for_an_ip() {
        assert_eq!(
            Template::serving("n1", &[address("Hostname", "n1")]),
            None,
            "no IP yet: no request"
        );
        let t = Template::serving(
            "n1",
            &[
                address("InternalIP", "10.0.0.5"),
                address("Hostname", "n1"),
                address("InternalIP", "10.0.0.5"),
                address("ExternalDNS", "n1.example.com"),
                address("ExternalIP", "not an ip"),
            ],
        )
        .expect("template");
        assert_eq!(t.signer, "kubernetes.io/kubelet-serving");
        assert_eq!(t.usages, ["digital signature", "server auth"]);
        assert_eq!(t.dns_names, ["n1", "n1.example.com"]);
        assert_eq!(t.ips, ["10.0.0.5".parse::<IpAddr>().expect("ip")]);
        assert!(Template::client("n1").ips.is_empty());
    }

    /// A certificate for `dns` and `ips`.
    fn pair(dns: &[&str], ips: &[&str]) -> super::super::store::Pair {
        let key = rcgen::KeyPair::generate().expect("key");
        let mut sans: Vec<String> = dns.iter().map(|d| d.to_string()).collect();
        sans.extend(ips.iter().map(|i| i.to_string()));
        let params = rcgen::CertificateParams::new(sans).expect("params");
        let cert = params.self_signed(&key).expect("cert");
        super::super::store::Pair::new(cert.pem(), key.serialize_pem()).expect("pair")
    }

    #[test]
    fn a_serving_certificate_satisfies_the_template_of_the_same_addresses_only() {
        let before = [address("InternalIP", "10.0.0.5"), address("Hostname", "n1")];
        let t = Template::serving("n1", &before).expect("template");
        assert!(t.satisfied_by(&pair(&["n1"], &["10.0.0.5"])));
        let cert = pair(&["n1"], &["10.0.0.5"]);
        // The node got a new address: the certificate no longer covers it.
        let moved = [address("InternalIP", "10.0.0.9"), address("Hostname", "n1")];
        assert!(!Template::serving("n1", &moved)
            .expect("t")
            .satisfied_by(&cert));
        let more = [
            address("InternalIP", "10.0.0.5"),
            address("ExternalIP", "192.0.2.7"),
            address("Hostname", "n1"),
        ];
        assert!(!Template::serving("n1", &more)
            .expect("t")
            .satisfied_by(&cert));
        let renamed = [address("InternalIP", "10.0.0.5"), address("Hostname", "n2")];
        assert!(!Template::serving("n1", &renamed)
            .expect("t")
            .satisfied_by(&cert));
        // One address fewer: a certificate naming an address the node no
        // longer has is renewed too (upstream compares sets).
        assert!(!t.satisfied_by(&pair(&["n1"], &["10.0.0.5", "10.0.0.6"])));
    }
}
