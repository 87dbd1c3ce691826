//! `certificates.k8s.io/v1`: CertificateSigningRequests.

pub mod certificatesigningrequest;
