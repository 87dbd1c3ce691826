//! `admissionregistration.k8s.io/v1`: admission webhooks and admission
//! policies with their bindings. Stored with upstream's defaults and rules;
//! the webhooks are called by [`crate::admission::webhook`], the validating
//! policies evaluated by [`crate::admission::validating_admission_policy`]
//! (MutatingAdmissionPolicies are stored only).

pub mod admissionpolicy;
pub mod admissionpolicybinding;
pub mod webhookconfiguration;
