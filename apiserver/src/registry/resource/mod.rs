//! `resource.k8s.io/v1`, dynamic resource allocation: classes of devices,
//! the devices drivers publish (ResourceSlices) and the claims pods make on
//! them. Stored with upstream's key rules; allocating devices belongs to
//! the scheduler and the drivers.

pub mod deviceclass;
pub mod resourceclaim;
pub mod resourceclaimtemplate;
pub mod resourceslice;
