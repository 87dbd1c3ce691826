//! `policy/v1`: PodDisruptionBudgets. (A pod's `eviction` subresource,
//! which honours them, lives with the Pod.)

pub mod poddisruptionbudget;
