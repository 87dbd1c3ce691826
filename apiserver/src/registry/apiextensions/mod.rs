//! `apiextensions.k8s.io/v1`: CustomResourceDefinitions, stored and
//! checked here; serving the kinds they define belongs to the CRD work.

pub mod customresourcedefinition;
