//! Request-header authentication: a front proxy (an aggregating apiserver,
//! an authenticating proxy) that proved who it is with a client certificate
//! chaining to `--requestheader-client-ca-file`, with a CommonName in
//! `--requestheader-allowed-names` (any, when empty), says who the user is
//! in headers, as upstream's request-header authenticator reads them:
//!
//! ```text
//! --requestheader-username-headers      X-Remote-User     the first one set
//! --requestheader-uid-headers           X-Remote-Uid      the first one set
//! --requestheader-group-headers         X-Remote-Group    every value of each
//! --requestheader-extra-headers-prefix  X-Remote-Extra-   <prefix><key>: value,
//!                                                         the key unescaped, lower-cased
//! ```
//!
//! A proxy certificate without a user header authenticates nobody (the
//! chain goes on); the same certificate is never a user itself, since x509
//! authentication checks chains against `--client-ca-file` only
//! ([`super::Authenticator::authenticate`]).

use std::sync::Arc;

use http::HeaderMap;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::ClientCertVerifier;
use rustls::server::WebPkiClientVerifier;

use super::passed::{self, Passed};
use super::UserInfo;

/// Checks client certificate chains against one CA bundle.
///
/// With a front-proxy CA the TLS handshake admits chains of either CA, so
/// every request's chain is checked here again to learn which. A chain that
/// passed is remembered (by the SHA-256 of its certificates) until the
/// first of them expires: the components send thousands of requests over
/// one connection, and checking a signature for each was the apiserver's
/// largest single cost after the TLS handshakes were gone.
#[derive(Debug, Clone)]
pub struct ChainVerifier {
    verifier: Arc<dyn ClientCertVerifier>,
    /// Chains that passed, until their earliest `notAfter`.
    passed: Arc<Passed<()>>,
}

impl ChainVerifier {
    /// A verifier for the CAs in `ca_file`.
    pub fn new(ca_file: &std::path::Path) -> Result<ChainVerifier, String> {
        let roots = component_base::tls::roots_of(&[ca_file]).map_err(|e| e.to_string())?;
        let verifier =
            WebPkiClientVerifier::builder_with_provider(roots, component_base::tls::provider())
                .build()
                .map_err(|e| format!("{}: {e}", ca_file.display()))?;
        Ok(ChainVerifier {
            verifier,
            passed: Arc::default(),
        })
    }

    /// Whether `chain` (leaf first) chains to the CAs, for client use.
    pub fn verify(&self, chain: &[CertificateDer<'static>]) -> Result<(), String> {
        let (leaf, intermediates) = chain
            .split_first()
            .ok_or_else(|| "no client certificate".to_string())?;
        let key = passed::digest(chain.iter().map(|c| c.as_ref()));
        if self.passed.get(&key, passed::now()).is_some() {
            return Ok(());
        }
        self.verifier
            .verify_client_cert(leaf, intermediates, UnixTime::now())
            .map_err(|_| "x509: certificate signed by unknown authority".to_string())?;
        if let Some(until) = earliest_expiry(chain) {
            self.passed.insert(key, until, ());
        }
        Ok(())
    }
}

/// The earliest `notAfter` of `chain`, in seconds since the epoch (`None`
/// when a certificate does not parse: such a chain is not remembered).
fn earliest_expiry(chain: &[CertificateDer<'static>]) -> Option<u64> {
    use x509_parser::prelude::FromDer;
    chain
        .iter()
        .map(|c| {
            let (_, cert) = x509_parser::certificate::X509Certificate::from_der(c).ok()?;
            u64::try_from(cert.validity().not_after.timestamp()).ok()
        })
        .try_fold(u64::MAX, |min, t| t.map(|t| min.min(t)))
}

/// The request-header authenticator.
#[derive(Debug, Clone)]
pub struct RequestHeader {
    verifier: ChainVerifier,
    allowed_names: Vec<String>,
    username_headers: Vec<String>,
    uid_headers: Vec<String>,
    group_headers: Vec<String>,
    extra_prefixes: Vec<String>,
}

impl RequestHeader {
    /// The authenticator the `--requestheader-*` flags describe; `None`
    /// without a request-header CA.
    pub fn new(
        opts: &crate::aggregator::RequestHeaderOptions,
    ) -> Result<Option<RequestHeader>, String> {
        let Some(ca) = &opts.client_ca_file else {
            return Ok(None);
        };
        Ok(Some(RequestHeader {
            verifier: ChainVerifier::new(ca)?,
            allowed_names: opts.allowed_names.clone(),
            username_headers: opts.username_headers.clone(),
            uid_headers: opts.uid_headers.clone(),
            group_headers: opts.group_headers.clone(),
            extra_prefixes: opts
                .extra_headers_prefix
                .iter()
                .map(|p| p.to_ascii_lowercase())
                .collect(),
        }))
    }

    /// The user a front proxy's request names: `Ok(None)` when `chain` is a
    /// proxy's but no user header is set; `Err` when `chain` is no allowed
    /// proxy's.
    pub fn authenticate(
        &self,
        chain: &[CertificateDer<'static>],
        headers: &HeaderMap,
    ) -> Result<Option<UserInfo>, String> {
        self.verifier.verify(chain)?;
        if !self.allowed_names.is_empty() {
            let cn = chain
                .first()
                .and_then(component_base::tls::user_of)
                .map(|(cn, _)| cn)
                .unwrap_or_default();
            if !self.allowed_names.contains(&cn) {
                return Err(format!(
                    "x509: subject with cn={cn} is not in the allowed list"
                ));
            }
        }
        Ok(user_from(
            headers,
            &self.username_headers,
            &self.uid_headers,
            &self.group_headers,
            &self.extra_prefixes,
        ))
    }
}

/// The first non-empty value of the first of `names` that has one.
fn first_value(headers: &HeaderMap, names: &[String]) -> Option<String> {
    names.iter().find_map(|n| {
        headers
            .get_all(n.as_str())
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| !v.is_empty())
            .map(String::from)
    })
}

/// The user the headers name (lower-cased `prefixes`), if they name one.
fn user_from(
    headers: &HeaderMap,
    username: &[String],
    uid: &[String],
    groups: &[String],
    prefixes: &[String],
) -> Option<UserInfo> {
    let name = first_value(headers, username)?;
    let mut user = UserInfo {
        username: name,
        uid: first_value(headers, uid).unwrap_or_default(),
        groups: groups
            .iter()
            .flat_map(|g| headers.get_all(g.as_str()).iter())
            .filter_map(|v| v.to_str().ok().map(String::from))
            .collect(),
        ..Default::default()
    };
    for (k, v) in headers {
        let Some(key) = prefixes
            .iter()
            .find_map(|p| k.as_str().strip_prefix(p.as_str()))
        else {
            continue;
        };
        let key = url::form_urlencoded::parse(format!("k={key}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
            .to_lowercase();
        if let Ok(v) = v.to_str() {
            user.extra.entry(key).or_default().push(v.to_string());
        }
    }
    user.add_authenticated();
    Some(user)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_headers_name_the_user_groups_and_extra() {
        let mut h = HeaderMap::new();
        h.insert("x-remote-user", "".parse().expect("value"));
        h.insert("x-other-user", "bob".parse().expect("value"));
        h.append("x-remote-group", "dev".parse().expect("value"));
        h.append("x-remote-group", "ops".parse().expect("value"));
        h.insert(
            "x-remote-extra-authentication.kubernetes.io%2Fpod-name",
            "p".parse().expect("value"),
        );
        let user = user_from(
            &h,
            &names(&["X-Remote-User", "X-Other-User"]),
            &names(&["X-Remote-Uid"]),
            &names(&["X-Remote-Group"]),
            &names(&["x-remote-extra-"]),
        )
        .expect("a user");
        assert_eq!(user.username, "bob");
        assert_eq!(user.groups, ["dev", "ops", "system:authenticated"]);
        assert_eq!(
            user.extra["authentication.kubernetes.io/pod-name"],
            vec!["p".to_string()]
        );
        assert!(user_from(&HeaderMap::new(), &names(&["X-Remote-User"]), &[], &[], &[]).is_none());
    }

    /// A CA, and a client certificate for `cn` it signs.
    fn ca_and_client(cn: &str) -> (tempfile::TempDir, Vec<CertificateDer<'static>>) {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign];
        let ca_key = rcgen::KeyPair::generate().expect("key");
        let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).expect("CA");
        std::fs::write(dir.path().join("ca.crt"), ca.pem()).expect("write");
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        let key = rcgen::KeyPair::generate().expect("key");
        let leaf = params.signed_by(&key, &ca).expect("leaf");
        (dir, vec![leaf.der().clone()])
    }

    #[test]
    fn a_chain_that_passed_is_remembered_until_it_expires() {
        let (dir, chain) = ca_and_client("someone");
        let (_other_dir, stranger) = ca_and_client("someone");
        let v = ChainVerifier::new(&dir.path().join("ca.crt")).expect("verifier");
        v.verify(&chain).expect("chains to the CA");
        let remembered = || v.passed.untils();
        let until = earliest_expiry(&chain).expect("parses");
        assert_eq!(remembered(), [until]);
        assert!(until > UnixTime::now().as_secs());
        // A refused chain is refused every time and never remembered.
        for _ in 0..2 {
            assert!(v.verify(&stranger).is_err());
        }
        assert_eq!(remembered().len(), 1);
        // Past its time the chain is checked again (and good again here).
        v.passed
            .insert(passed::digest(chain.iter().map(|c| c.as_ref())), 0, ());
        v.verify(&chain).expect("chains to the CA");
        assert_eq!(remembered(), [until]);
        assert!(v.verify(&[]).is_err());
    }

    #[test]
    fn only_an_allowed_proxy_certificate_is_believed() {
        let (dir, proxy) = ca_and_client("front-proxy-client");
        let (_other_dir, stranger) = ca_and_client("front-proxy-client");
        let opts = crate::aggregator::RequestHeaderOptions {
            client_ca_file: Some(dir.path().join("ca.crt")),
            allowed_names: names(&["front-proxy-client"]),
            username_headers: names(&["X-Remote-User"]),
            ..Default::default()
        };
        let rh = RequestHeader::new(&opts).expect("ok").expect("configured");
        let mut h = HeaderMap::new();
        h.insert("x-remote-user", "alice".parse().expect("value"));
        let user = rh
            .authenticate(&proxy, &h)
            .expect("a proxy")
            .expect("a user");
        assert_eq!(user.username, "alice");
        assert_eq!(
            rh.authenticate(&stranger, &h).err().as_deref(),
            Some("x509: certificate signed by unknown authority")
        );
        assert!(rh
            .authenticate(&proxy, &HeaderMap::new())
            .expect("a proxy")
            .is_none());
        let strict = RequestHeader::new(&crate::aggregator::RequestHeaderOptions {
            allowed_names: names(&["someone-else"]),
            ..opts
        })
        .expect("ok")
        .expect("configured");
        assert_eq!(
            strict.authenticate(&proxy, &h).err().as_deref(),
            Some("x509: subject with cn=front-proxy-client is not in the allowed list")
        );
    }
}
