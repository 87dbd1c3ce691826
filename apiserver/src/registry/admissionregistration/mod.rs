//! `admissionregistration.k8s.io/v1`: admission webhooks and admission
//! policies with their bindings. Stored with upstream's defaults and rules;
//! calling the webhooks and evaluating the policies belongs to the
//! extensibility work.

pub mod admissionpolicy;
pub mod admissionpolicybinding;
pub mod webhookconfiguration;
