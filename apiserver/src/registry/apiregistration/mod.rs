//! `apiregistration.k8s.io/v1`: APIServices, stored and checked here;
//! proxying to aggregated servers belongs to the aggregation work.

pub mod apiservice;
