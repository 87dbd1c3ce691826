//! `flowcontrol.apiserver.k8s.io/v1`: API Priority and Fairness
//! configuration, stored with upstream's defaults and rules (classifying
//! and queueing requests by them is not done here).

pub mod flowschema;
pub mod prioritylevelconfiguration;
