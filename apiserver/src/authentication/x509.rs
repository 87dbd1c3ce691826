//! Client certificates: the subject of a certificate TLS verified against
//! `--client-ca-file` names the user (CommonName) and the groups
//! (Organization, one group per O), as upstream's x509 authenticator.
//!
//! Chain and validity were checked in the handshake ([`crate::serve::tls`]);
//! this only reads the names.

use rustls::pki_types::CertificateDer;
use x509_parser::prelude::{FromDer, X509Certificate};

use super::UserInfo;

/// Why a certificate names nobody.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The DER does not parse (TLS accepted it, so this is unlikely).
    #[error("unreadable client certificate: {0}")]
    Parse(String),
    /// The subject has no CommonName.
    #[error("the client certificate has no CommonName")]
    NoCommonName,
}

/// The user a verified client certificate names.
pub fn user_of(cert: &CertificateDer<'_>) -> Result<UserInfo, Error> {
    let (_, cert) =
        X509Certificate::from_der(cert.as_ref()).map_err(|e| Error::Parse(e.to_string()))?;
    let subject = cert.subject();
    let name = subject
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .filter(|cn| !cn.is_empty())
        .ok_or(Error::NoCommonName)?;
    let groups = subject
        .iter_organization()
        .filter_map(|o| o.as_str().ok())
        .map(String::from)
        .collect();
    Ok(UserInfo::authenticated(name, groups))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert(cn: Option<&str>, orgs: &[&str]) -> CertificateDer<'static> {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        params.distinguished_name = rcgen::DistinguishedName::new();
        if let Some(cn) = cn {
            params
                .distinguished_name
                .push(rcgen::DnType::CommonName, cn);
        }
        for o in orgs {
            params
                .distinguished_name
                .push(rcgen::DnType::OrganizationName, *o);
        }
        let key = rcgen::KeyPair::generate().expect("key");
        params.self_signed(&key).expect("cert").der().clone()
    }

    #[test]
    fn common_name_is_the_user_and_organizations_are_groups() {
        // (rcgen writes one O per certificate; tests/api_security checks
        // several with openssl.)
        let user = user_of(&cert(Some("jane"), &["dev"])).expect("user");
        assert_eq!(user.username, "jane");
        assert_eq!(user.groups, vec!["dev", "system:authenticated"]);
    }

    #[test]
    fn a_certificate_without_common_name_is_refused() {
        assert!(matches!(
            user_of(&cert(None, &["dev"])),
            Err(Error::NoCommonName)
        ));
        assert!(user_of(&CertificateDer::from(vec![1, 2, 3])).is_err());
    }
}
