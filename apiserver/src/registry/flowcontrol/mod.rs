//! `flowcontrol.apiserver.k8s.io/v1`: API Priority and Fairness
//! configuration, stored with upstream's defaults and rules. Requests are
//! classified and queued by it in [`crate::flowcontrol`].

pub mod flowschema;
pub mod prioritylevelconfiguration;
