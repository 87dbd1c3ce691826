//! `apiregistration.k8s.io/v1`: APIServices, stored and checked here;
//! proxying to the servers they name is [`crate::aggregator`]'s.

pub mod apiservice;
