//! The runtime as the kubelet sees it: CRI's two services as Rust traits.
//!
//! Upstream's kubelet talks to containerd or CRI-O over gRPC through the
//! `RuntimeService` (pod sandboxes, containers, exec) and the `ImageService`
//! (pull, list, status, remove). Here the runtime is a library in the same
//! process, so the services are traits over the runtime's own plain types
//! ([`PodSandboxConfig`], [`ContainerConfig`], ...), and [`Runtime`]
//! implements both with its real operations. The kubelet's pod workers hold
//! only these traits (`Arc<dyn RuntimeService>`, `Arc<dyn ImageService>`),
//! so they can run against a fake; nothing here mentions the Kubernetes API.
//!
//! Every call blocks (it forks, mounts, reads files): async callers run it
//! on a blocking pool.

use std::path::PathBuf;
use std::time::Duration;

pub use crate::cgroups::Qos;
pub use crate::container::spec::{
    ContainerConfig, Mount, Propagation, ResourceRequirements, SecurityContext,
};
pub use crate::container::{ContainerFilter, ContainerInfo};
pub use crate::exec::ExecSyncResponse;
pub use crate::images::registry::AuthConfig;
pub use crate::images::ImageRecord;
pub use crate::sandbox::{PodSandbox, PodSandboxConfig, PodSandboxFilter, PodSandboxState};
pub use crate::state::{ContainerState, Status};
pub use crate::{Error, Result};

use crate::Runtime;

/// Pod sandboxes and their containers (CRI's `RuntimeService`).
pub trait RuntimeService: Send + Sync {
    /// Creates a pod sandbox (pinned namespaces, the pod cgroup) and returns
    /// its id.
    fn run_pod_sandbox(&self, config: PodSandboxConfig) -> Result<String>;
    /// Stops every container of the sandbox (`grace` before SIGKILL) and
    /// releases its namespaces.
    fn stop_pod_sandbox(&self, id: &str, grace: Duration) -> Result<()>;
    /// Removes a stopped sandbox with its containers and state.
    fn remove_pod_sandbox(&self, id: &str) -> Result<()>;
    /// One sandbox, its state checked against its pinned namespaces.
    fn pod_sandbox_status(&self, id: &str) -> Result<PodSandbox>;
    /// Every sandbox, oldest first.
    fn list_pod_sandboxes(&self) -> Result<Vec<PodSandbox>>;
    /// The sandboxes `filter` selects (a pod's), oldest first: cheaper than
    /// listing all, which is what a pod worker needs each sync.
    fn list_pod_sandboxes_filtered(&self, filter: &PodSandboxFilter) -> Result<Vec<PodSandbox>>;
    /// The sandbox's directory: its `hosts` and `resolv.conf` are bound into
    /// every container of the pod, so the kubelet writes them there once it
    /// knows the pod IP (and keeps its own per-sandbox notes next to them).
    fn pod_sandbox_dir(&self, id: &str) -> PathBuf;
    /// Creates a container in a sandbox (image config merged with
    /// `config`); returns its id.
    fn create_container(&self, sandbox_id: &str, config: ContainerConfig) -> Result<String>;
    /// Starts a created container.
    fn start_container(&self, id: &str) -> Result<()>;
    /// Stops a container: its stop signal, then SIGKILL after `grace`.
    fn stop_container(&self, id: &str, grace: Duration) -> Result<()>;
    /// Removes a stopped container.
    fn remove_container(&self, id: &str) -> Result<()>;
    /// Changes the cpu and memory of a running container in place (its
    /// cgroup), without restarting it; limits left out become unlimited.
    fn update_container_resources(&self, id: &str, resources: &ResourceRequirements) -> Result<()>;
    /// Every container with its current state.
    fn list_containers(&self) -> Result<Vec<ContainerInfo>>;
    /// The containers `filter` selects (a sandbox's, a label's), with their
    /// current states; the others are not checked.
    fn list_containers_filtered(&self, filter: &ContainerFilter) -> Result<Vec<ContainerInfo>>;
    /// One container with its current state.
    fn container_status(&self, id: &str) -> Result<ContainerInfo>;
    /// Runs a command in a running container to its end (killed past
    /// `timeout`).
    fn exec_sync(
        &self,
        id: &str,
        cmd: &[String],
        timeout: Option<Duration>,
    ) -> Result<ExecSyncResponse>;
}

/// Images on the node (CRI's `ImageService`).
pub trait ImageService: Send + Sync {
    /// Pulls an image from its registry (or a configured mirror), also when
    /// it is present; layers already stored are not downloaded again. `auth`
    /// answers the registry's challenge (CRI's `PullImageRequest.auth`).
    fn pull_image(&self, reference: &str, auth: Option<&AuthConfig>) -> Result<ImageRecord>;
    /// Every stored image.
    fn list_images(&self) -> Result<Vec<ImageRecord>>;
    /// The stored image a reference (name, digest or id) names, if any.
    fn image_status(&self, reference: &str) -> Result<Option<ImageRecord>>;
    /// Removes an image unless a container uses it.
    fn remove_image(&self, reference: &str) -> Result<ImageRecord>;
}

impl RuntimeService for Runtime {
    fn run_pod_sandbox(&self, config: PodSandboxConfig) -> Result<String> {
        self.run_sandbox(config)
    }

    fn stop_pod_sandbox(&self, id: &str, grace: Duration) -> Result<()> {
        self.stop_sandbox(id, grace)
    }

    fn remove_pod_sandbox(&self, id: &str) -> Result<()> {
        self.remove_sandbox(id)
    }

    fn pod_sandbox_status(&self, id: &str) -> Result<PodSandbox> {
        self.sandbox(id)
    }

    fn list_pod_sandboxes(&self) -> Result<Vec<PodSandbox>> {
        self.list_sandboxes()
    }

    fn list_pod_sandboxes_filtered(&self, filter: &PodSandboxFilter) -> Result<Vec<PodSandbox>> {
        self.list_sandboxes_filtered(filter)
    }

    fn pod_sandbox_dir(&self, id: &str) -> PathBuf {
        self.sandbox_dir(id)
    }

    fn create_container(&self, sandbox_id: &str, config: ContainerConfig) -> Result<String> {
        Runtime::create_container(self, sandbox_id, config)
    }

    fn start_container(&self, id: &str) -> Result<()> {
        Runtime::start_container(self, id)
    }

    fn stop_container(&self, id: &str, grace: Duration) -> Result<()> {
        Runtime::stop_container(self, id, grace).map(|_| ())
    }

    fn remove_container(&self, id: &str) -> Result<()> {
        Runtime::remove_container(self, id)
    }

    fn update_container_resources(&self, id: &str, resources: &ResourceRequirements) -> Result<()> {
        Runtime::update_container_resources(self, id, resources)
    }

    fn list_containers(&self) -> Result<Vec<ContainerInfo>> {
        Runtime::list_containers(self)
    }

    fn list_containers_filtered(&self, filter: &ContainerFilter) -> Result<Vec<ContainerInfo>> {
        Runtime::list_containers_filtered(self, filter)
    }

    fn container_status(&self, id: &str) -> Result<ContainerInfo> {
        self.container(id)
    }

    fn exec_sync(
        &self,
        id: &str,
        cmd: &[String],
        timeout: Option<Duration>,
    ) -> Result<ExecSyncResponse> {
        Runtime::exec_sync(self, id, cmd, timeout)
    }
}

impl ImageService for Runtime {
    fn pull_image(&self, reference: &str, auth: Option<&AuthConfig>) -> Result<ImageRecord> {
        let parsed =
            crate::images::Reference::parse(reference).map_err(crate::images::Error::from)?;
        Ok(self.images().pull(&parsed, &self.config().registry, auth)?)
    }

    fn list_images(&self) -> Result<Vec<ImageRecord>> {
        Ok(self.images().list()?)
    }

    fn image_status(&self, reference: &str) -> Result<Option<ImageRecord>> {
        Ok(self.images().get(reference)?)
    }

    fn remove_image(&self, reference: &str) -> Result<ImageRecord> {
        Runtime::remove_image(self, reference)
    }
}
