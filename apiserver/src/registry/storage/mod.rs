//! `storage.k8s.io/v1`: how volumes are provisioned (StorageClass,
//! VolumeAttributesClass), which CSI drivers exist and where (CSIDriver,
//! CSINode, CSIStorageCapacity), and which volume is attached to which node
//! (VolumeAttachment). All stored with upstream's rules; the behaviour
//! (provisioning, attaching) belongs to the storage controllers.

pub mod csidriver;
pub mod csinode;
pub mod csistoragecapacity;
pub mod storageclass;
pub mod volumeattachment;
pub mod volumeattributesclass;
