//! `authorization.k8s.io/v1`: "may this user do that?", answered from the
//! configured authorizer ([`crate::authorization::Authorizer`]) and never
//! stored (see [`crate::registry::generic`]).

pub mod selfsubjectrulesreview;
pub mod subjectaccessreview;
