//! `authentication.k8s.io/v1`: questions about identities, answered and
//! never stored (see [`crate::registry::generic`]).

pub mod selfsubjectreview;
pub mod tokenreview;
