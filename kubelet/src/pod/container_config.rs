//! A pod's container as the runtime should run it: upstream's
//! `generateContainerConfig`, and the pod-level part of its
//! `generatePodSandboxConfig`.
//!
//! Pure translation, no I/O: the worker has already resolved what needs the
//! apiserver or the node (the environment in [`super::env`], the volumes'
//! host directories in [`crate::volumes`]) and hands the results in. Out
//! comes the runtime's own [`ContainerConfig`]: `command`/`args` with
//! `$(VAR)` references expanded, mounts with `subPath` and propagation,
//! requests/limits as cgroup numbers, the merged pod and container security
//! context, and the labels that map a runtime container back to its pod.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use container_runtime::cri::{
    ContainerConfig, Mount, PodSandboxConfig, Propagation, Qos, ResourceRequirements,
    SecurityContext,
};
use k8s_openapi::api::core::v1::{Container, Pod, ResourceRequirements as K8sResources};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use apimachinery::qos::{self, QosClass};
use apimachinery::quantity;

use super::env;

/// Labels the runtime keeps on each container (as CRI runtimes do), so
/// `kubelet ctl ps`, the streaming server and a restarted kubelet can map
/// containers back to pods.
pub const LABEL_NAMESPACE: &str = "io.kubernetes.pod.namespace";
/// Pod name label.
pub const LABEL_POD: &str = "io.kubernetes.pod.name";
/// Pod uid label.
pub const LABEL_UID: &str = "io.kubernetes.pod.uid";
/// Container name label.
pub const LABEL_CONTAINER: &str = "io.kubernetes.container.name";

/// Why a container's spec cannot become a runtime config (the container's
/// `CreateContainerConfigError`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A `volumeMount` names a volume the pod does not have.
    #[error("volume {0:?} not found")]
    VolumeNotFound(String),
    /// A `subPath` tries to climb out of its volume.
    #[error("subPath {0:?} must not contain '..'")]
    SubPathEscapes(String),
    /// A `subPath` (or what a `subPathExpr` expands to) is absolute.
    #[error("error SubPath `{0}` must not be an absolute path")]
    SubPathAbsolute(String),
    /// A `subPathExpr` refers to variables the container does not have (or
    /// that are empty): upstream refuses rather than mount the wrong place.
    #[error("missing value for {0}")]
    SubPathExprMissing(String),
    /// A `subPath` into an image volume (not supported here).
    #[error("volume {0:?} is an image volume: subPath is not supported on it")]
    ImageVolumeSubPath(String),
}

/// The pod's image volumes: volume name -> image reference.
pub fn image_volumes(pod: &Pod) -> BTreeMap<String, String> {
    pod.spec
        .iter()
        .flat_map(|s| s.volumes.iter().flatten())
        .filter_map(|v| {
            let image = v.image.as_ref()?.reference.clone()?;
            Some((v.name.clone(), image))
        })
        .collect()
}

/// A runtime config and what must exist on the host before it can run.
#[derive(Debug, Clone, PartialEq)]
pub struct Generated {
    /// What the runtime creates.
    pub config: ContainerConfig,
    /// `subPath` directories inside volumes, created by the worker when
    /// missing (as upstream's kubelet does) before the container is created.
    pub sub_paths: Vec<PathBuf>,
}

fn quantity_pairs(list: Option<&BTreeMap<String, Quantity>>) -> Vec<(&str, &str)> {
    list.into_iter()
        .flatten()
        .map(|(name, q)| (name.as_str(), q.0.as_str()))
        .collect()
}

/// The QoS class of a pod, by the cluster's one definition
/// ([`apimachinery::qos`]), as the runtime's cgroup parent.
pub fn qos(pod: &Pod) -> Qos {
    let containers = pod.spec.iter().flat_map(|s| {
        s.containers
            .iter()
            .chain(s.init_containers.iter().flatten())
    });
    let class = qos::pod_qos_class(containers.map(|c| {
        let r = c.resources.as_ref();
        qos::ContainerResources {
            requests: quantity_pairs(r.and_then(|r| r.requests.as_ref())),
            limits: quantity_pairs(r.and_then(|r| r.limits.as_ref())),
        }
    }));
    match class {
        QosClass::Guaranteed => Qos::Guaranteed,
        QosClass::Burstable => Qos::Burstable,
        QosClass::BestEffort => Qos::BestEffort,
    }
}

/// The QoS class as `status.qosClass` spells it.
pub fn qos_name(q: Qos) -> &'static str {
    match q {
        Qos::Guaranteed => QosClass::Guaranteed,
        Qos::Burstable => QosClass::Burstable,
        Qos::BestEffort => QosClass::BestEffort,
    }
    .as_str()
}

/// The pod's sandbox: names, namespaces to share with the host, hostname
/// (the node's name with `hostNetwork`), QoS class (the cgroup parent) and
/// sysctls.
pub fn pod_sandbox_config(pod: &Pod, uid: &str, node_name: &str) -> PodSandboxConfig {
    let spec = pod.spec.clone().unwrap_or_default();
    let host_network = spec.host_network.unwrap_or(false);
    let name = pod.metadata.name.clone().unwrap_or_default();
    // The same name /etc/hosts gives the pod: a long pod name is cut to a
    // 63-character label (the kernel refuses longer hostnames).
    let (hostname, _) = crate::network::resolv_conf::hostname_and_domain(pod, "");
    PodSandboxConfig {
        name,
        namespace: pod.metadata.namespace.clone().unwrap_or_default(),
        uid: uid.to_string(),
        hostname: Some(if host_network {
            node_name.to_string()
        } else {
            hostname
        }),
        host_network,
        host_pid: spec.host_pid.unwrap_or(false),
        host_ipc: spec.host_ipc.unwrap_or(false),
        share_process_namespace: spec.share_process_namespace.unwrap_or(false),
        qos: Some(qos(pod)),
        labels: pod.metadata.labels.clone().unwrap_or_default(),
        sysctls: spec
            .security_context
            .and_then(|s| s.sysctls)
            .into_iter()
            .flatten()
            .map(|s| (s.name, s.value))
            .collect(),
    }
}

/// Requests and limits as the runtime's cgroup numbers: a missing request
/// defaults to the limit, as the apiserver's defaulting would.
pub fn resources(c: &Container) -> ResourceRequirements {
    let r: K8sResources = c.resources.clone().unwrap_or_default();
    let req = r.requests.unwrap_or_default();
    let lim = r.limits.unwrap_or_default();
    let cpu = |m: &BTreeMap<String, Quantity>| {
        m.get("cpu")
            .and_then(|q| quantity::milli_value(&q.0).ok())
            .and_then(|v| u64::try_from(v).ok())
    };
    let mem = |m: &BTreeMap<String, Quantity>| {
        m.get("memory")
            .and_then(|q| quantity::value(&q.0).ok())
            .filter(|v| *v >= 0)
    };
    ResourceRequirements {
        cpu_request_milli: cpu(&req).or_else(|| cpu(&lim)),
        cpu_limit_milli: cpu(&lim),
        memory_request_bytes: mem(&req).or_else(|| mem(&lim)),
        memory_limit_bytes: mem(&lim),
        pids_limit: None,
    }
}

/// The container's security context over the pod's (the container's
/// fields win; supplemental groups and the fsGroup exist only at pod level).
pub fn security(pod: &Pod, c: &Container) -> SecurityContext {
    let psc = pod
        .spec
        .as_ref()
        .and_then(|s| s.security_context.clone())
        .unwrap_or_default();
    let sc = c.security_context.clone().unwrap_or_default();
    let caps = sc.capabilities.clone().unwrap_or_default();
    SecurityContext {
        run_as_user: sc
            .run_as_user
            .or(psc.run_as_user)
            .and_then(|u| u32::try_from(u).ok()),
        run_as_group: sc
            .run_as_group
            .or(psc.run_as_group)
            .and_then(|g| u32::try_from(g).ok()),
        run_as_non_root: sc.run_as_non_root.or(psc.run_as_non_root).unwrap_or(false),
        // The fsGroup first (it owns the pod's volumes), then the listed
        // groups, as upstream's kubelet hands them to the runtime.
        supplemental_groups: {
            let mut groups: Vec<u32> = Vec::new();
            for g in psc
                .fs_group
                .into_iter()
                .chain(psc.supplemental_groups.unwrap_or_default())
                .filter_map(|g| u32::try_from(g).ok())
            {
                if !groups.contains(&g) {
                    groups.push(g);
                }
            }
            groups
        },
        privileged: sc.privileged.unwrap_or(false),
        read_only_root_filesystem: sc.read_only_root_filesystem.unwrap_or(false),
        allow_privilege_escalation: sc.allow_privilege_escalation,
        capabilities_add: caps.add.unwrap_or_default(),
        capabilities_drop: caps.drop.unwrap_or_default(),
    }
}

/// The container's `volumeMounts` on the host directories of the pod's
/// volumes (`volumes`: volume name -> host path), and its image volumes
/// (`images`: volume name -> image reference), which the runtime mounts
/// read-only from the image store.
fn mounts(
    c: &Container,
    volumes: &BTreeMap<String, PathBuf>,
    images: &BTreeMap<String, String>,
    vars: &HashMap<String, String>,
) -> Result<(Vec<Mount>, Vec<PathBuf>), Error> {
    let mut mounts = Vec::new();
    let mut sub_paths = Vec::new();
    for m in c.volume_mounts.iter().flatten() {
        if let Some(image) = images.get(&m.name) {
            let sub = m.sub_path.as_deref().or(m.sub_path_expr.as_deref());
            if sub.is_some_and(|s| !s.is_empty()) {
                return Err(Error::ImageVolumeSubPath(m.name.clone()));
            }
            mounts.push(Mount {
                host_path: PathBuf::new(),
                container_path: PathBuf::from(&m.mount_path),
                read_only: true,
                propagation: Propagation::Private,
                image: Some(image.clone()),
            });
            continue;
        }
        let Some(src) = volumes.get(&m.name) else {
            return Err(Error::VolumeNotFound(m.name.clone()));
        };
        let mut host = src.clone();
        let expanded = match m.sub_path_expr.as_deref().filter(|s| !s.is_empty()) {
            Some(expr) => Some(expand_sub_path(expr, vars)?),
            None => None,
        };
        let sub = expanded.as_deref().or(m.sub_path.as_deref());
        if let Some(sub) = sub.filter(|s| !s.is_empty()) {
            if sub.starts_with('/') {
                return Err(Error::SubPathAbsolute(sub.to_string()));
            }
            if sub.split('/').any(|p| p == "..") {
                return Err(Error::SubPathEscapes(sub.to_string()));
            }
            host = host.join(sub);
            sub_paths.push(host.clone());
        }
        mounts.push(Mount {
            host_path: host,
            container_path: PathBuf::from(&m.mount_path),
            read_only: m.read_only.unwrap_or(false),
            propagation: match m.mount_propagation.as_deref() {
                Some("HostToContainer") => Propagation::HostToContainer,
                Some("Bidirectional") => Propagation::Bidirectional,
                _ => Propagation::Private,
            },
            image: None,
        });
    }
    Ok((mounts, sub_paths))
}

/// A claim the pod mounts `readOnly` (the volume's, not the mount's, flag)
/// is read-only at every mount point of the container (upstream's
/// `persistentVolumeClaim.readOnly`).
fn read_only_claims(pod: &Pod, c: &Container, mounts: &mut [Mount]) {
    let read_only: Vec<&str> = pod
        .spec
        .as_ref()
        .and_then(|s| s.volumes.as_ref())
        .into_iter()
        .flatten()
        .filter(|v| {
            v.persistent_volume_claim
                .as_ref()
                .is_some_and(|p| p.read_only == Some(true))
        })
        .map(|v| v.name.as_str())
        .collect();
    for (mount, m) in mounts.iter_mut().zip(c.volume_mounts.iter().flatten()) {
        if read_only.contains(&m.name.as_str()) {
            mount.read_only = true;
        }
    }
}

/// A `subPathExpr` with the container's variables put in; every variable
/// it names must exist and be non-empty.
fn expand_sub_path(expr: &str, vars: &HashMap<String, String>) -> Result<String, Error> {
    let mut missing = std::collections::BTreeSet::new();
    let mut rest = expr;
    while let Some(start) = rest.find("$(") {
        let after = &rest[start + 2..];
        let Some(end) = after.find(')') else { break };
        // `$$(X)` is an escaped literal, not a reference.
        let escaped = rest[..start].ends_with('$');
        let name = &after[..end];
        if !escaped && vars.get(name).is_none_or(|v| v.is_empty()) {
            missing.insert(name.to_string());
        }
        rest = &after[end + 1..];
    }
    if !missing.is_empty() {
        return Err(Error::SubPathExprMissing(
            missing.into_iter().collect::<Vec<_>>().join(", "),
        ));
    }
    Ok(env::expand(expr, vars))
}

/// Container `c` of `pod` (whose uid is `uid`) as attempt `attempt`, with
/// its environment `env` already built (in order), its volumes at
/// `volumes`, and `termination_log` the host file mounted at its
/// `terminationMessagePath` (see [`super::termination_message`]).
pub fn generate(
    pod: &Pod,
    uid: &str,
    c: &Container,
    attempt: u32,
    env: Vec<(String, String)>,
    volumes: &BTreeMap<String, PathBuf>,
    termination_log: Option<PathBuf>,
) -> Result<Generated, Error> {
    let vars: HashMap<String, String> = env.iter().cloned().collect();
    let expand = |v: &Option<Vec<String>>| {
        v.as_ref()
            .map(|a| a.iter().map(|s| env::expand(s, &vars)).collect())
    };
    let (mut mounts, sub_paths) = mounts(c, volumes, &image_volumes(pod), &vars)?;
    read_only_claims(pod, c, &mut mounts);
    let message_path = c.termination_message_path.as_deref().unwrap_or_default();
    if let (Some(host), false) = (termination_log, message_path.is_empty()) {
        mounts.push(Mount {
            host_path: host,
            container_path: PathBuf::from(message_path),
            read_only: false,
            propagation: Default::default(),
            image: None,
        });
    }
    let mut labels = BTreeMap::new();
    labels.insert(
        LABEL_NAMESPACE.to_string(),
        pod.metadata.namespace.clone().unwrap_or_default(),
    );
    labels.insert(
        LABEL_POD.to_string(),
        pod.metadata.name.clone().unwrap_or_default(),
    );
    labels.insert(LABEL_UID.to_string(), uid.to_string());
    labels.insert(LABEL_CONTAINER.to_string(), c.name.clone());
    let config = ContainerConfig {
        name: c.name.clone(),
        image: c.image.clone().unwrap_or_default(),
        command: expand(&c.command),
        args: expand(&c.args),
        env,
        working_dir: c.working_dir.clone().filter(|w| !w.is_empty()),
        mounts,
        resources: resources(c),
        security: security(pod, c),
        stdin: c.stdin.unwrap_or(false),
        tty: c.tty.unwrap_or(false),
        attempt,
        labels,
        target_container_id: None,
    };
    Ok(Generated { config, sub_paths })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(spec: serde_json::Value) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "web-0", "namespace": "shop", "uid": "u-1", "labels": {"app": "web"}},
            "spec": spec,
        }))
        .expect("a valid pod")
    }

    fn first(p: &Pod) -> Container {
        p.spec.as_ref().expect("spec").containers[0].clone()
    }

    fn volumes() -> BTreeMap<String, PathBuf> {
        BTreeMap::from([
            (
                "data".to_string(),
                PathBuf::from("/var/lib/kubelet/pods/u-1/volumes/data"),
            ),
            (
                "cfg".to_string(),
                PathBuf::from("/var/lib/kubelet/pods/u-1/volumes/cfg"),
            ),
        ])
    }

    #[test]
    fn command_and_args_expand_the_environment_in_order() {
        let p = pod(json!({"containers": [{
            "name": "app", "image": "busybox",
            "command": ["/bin/sh", "-c", "echo $(GREETING) $(MISSING) $$(GREETING)"],
            "args": ["$(TARGET)"],
            "workingDir": "",
        }]}));
        let env = vec![
            ("GREETING".to_string(), "hello".to_string()),
            ("TARGET".to_string(), "world".to_string()),
        ];
        let g = generate(&p, "u-1", &first(&p), 3, env.clone(), &volumes(), None).expect("config");
        let c = g.config;
        assert_eq!(
            c.command,
            Some(vec![
                "/bin/sh".to_string(),
                "-c".to_string(),
                "echo hello $(MISSING) $(GREETING)".to_string()
            ])
        );
        assert_eq!(c.args, Some(vec!["world".to_string()]));
        // The environment goes to the runtime unchanged and in order.
        assert_eq!(c.env, env);
        // An empty workingDir means the image's.
        assert_eq!(c.working_dir, None);
        assert_eq!(
            (c.name.as_str(), c.image.as_str(), c.attempt),
            ("app", "busybox", 3)
        );
    }

    #[test]
    fn no_command_or_args_leaves_the_image_defaults() {
        let p =
            pod(json!({"containers": [{"name": "app", "image": "nginx", "workingDir": "/srv"}]}));
        let c = generate(&p, "u-1", &first(&p), 0, Vec::new(), &volumes(), None)
            .expect("config")
            .config;
        assert_eq!((c.command, c.args), (None, None));
        assert_eq!(c.working_dir.as_deref(), Some("/srv"));
    }

    #[test]
    fn labels_map_the_container_back_to_its_pod() {
        let p = pod(json!({"containers": [{"name": "app", "image": "busybox"}]}));
        let c = generate(&p, "u-1", &first(&p), 0, Vec::new(), &volumes(), None)
            .expect("config")
            .config;
        assert_eq!(c.labels[LABEL_NAMESPACE], "shop");
        assert_eq!(c.labels[LABEL_POD], "web-0");
        assert_eq!(c.labels[LABEL_UID], "u-1");
        assert_eq!(c.labels[LABEL_CONTAINER], "app");
        assert_eq!(c.labels.len(), 4);
    }

    #[test]
    fn mounts_follow_volume_mounts_with_sub_paths_and_propagation() {
        let p = pod(json!({"containers": [{
            "name": "app", "image": "busybox",
            "volumeMounts": [
                {"name": "data", "mountPath": "/data"},
                {"name": "cfg", "mountPath": "/etc/app.conf", "subPath": "app/app.conf", "readOnly": true},
                {"name": "data", "mountPath": "/shared", "mountPropagation": "HostToContainer"},
                {"name": "data", "mountPath": "/both", "mountPropagation": "Bidirectional"},
            ],
        }]}));
        let g = generate(&p, "u-1", &first(&p), 0, Vec::new(), &volumes(), None).expect("config");
        let m = &g.config.mounts;
        assert_eq!(m.len(), 4);
        assert_eq!(
            m[0].host_path,
            PathBuf::from("/var/lib/kubelet/pods/u-1/volumes/data")
        );
        assert_eq!(m[0].container_path, PathBuf::from("/data"));
        assert!(!m[0].read_only);
        assert_eq!(m[0].propagation, Propagation::Private);
        assert_eq!(
            m[1].host_path,
            PathBuf::from("/var/lib/kubelet/pods/u-1/volumes/cfg/app/app.conf")
        );
        assert!(m[1].read_only);
        assert_eq!(m[2].propagation, Propagation::HostToContainer);
        assert_eq!(m[3].propagation, Propagation::Bidirectional);
        // Only the subPath needs creating; the volumes exist already.
        assert_eq!(g.sub_paths, vec![m[1].host_path.clone()]);
    }

    #[test]
    fn image_volumes_are_read_only_image_mounts() {
        let p = pod(json!({
        "volumes": [{"name": "kitten", "image": {"reference": "kitten:1.0", "pullPolicy": "Always"}}],
        "containers": [{
            "name": "app", "image": "busybox",
            "volumeMounts": [{"name": "kitten", "mountPath": "/volume"}, {"name": "data", "mountPath": "/data"}],
        }]}));
        let g = generate(&p, "u-1", &first(&p), 0, Vec::new(), &volumes(), None).expect("config");
        let m = &g.config.mounts[0];
        assert_eq!(m.image.as_deref(), Some("kitten:1.0"));
        assert_eq!(m.container_path, PathBuf::from("/volume"));
        assert!(m.read_only);
        assert_eq!(g.config.mounts[1].image, None);
        let p = pod(json!({
        "volumes": [{"name": "kitten", "image": {"reference": "kitten:1.0"}}],
        "containers": [{
            "name": "app", "image": "busybox",
            "volumeMounts": [{"name": "kitten", "mountPath": "/volume", "subPath": "etc"}],
        }]}));
        assert_eq!(
            generate(&p, "u-1", &first(&p), 0, Vec::new(), &volumes(), None),
            Err(Error::ImageVolumeSubPath("kitten".into()))
        );
    }

    #[test]
    fn a_sub_path_expr_uses_the_containers_variables_and_refuses_missing_ones() {
        let p = pod(json!({"containers": [{
            "name": "app", "image": "busybox",
            "volumeMounts": [{"name": "data", "mountPath": "/x", "subPathExpr": "$(DIR)/$(POD_NAME)"}],
        }]}));
        let env = |dir: &str| {
            vec![
                ("POD_NAME".to_string(), "web-0".to_string()),
                ("DIR".to_string(), dir.to_string()),
            ]
        };
        let g = generate(&p, "u-1", &first(&p), 0, env("logs"), &volumes(), None).expect("config");
        assert_eq!(
            g.config.mounts[0].host_path,
            PathBuf::from("/var/lib/kubelet/pods/u-1/volumes/data/logs/web-0")
        );
        assert_eq!(g.sub_paths, vec![g.config.mounts[0].host_path.clone()]);
        // An empty variable would make the path absolute: upstream names it.
        let e = generate(&p, "u-1", &first(&p), 0, env(""), &volumes(), None).unwrap_err();
        assert_eq!(e.to_string(), "missing value for DIR");
        let e = generate(&p, "u-1", &first(&p), 0, Vec::new(), &volumes(), None).unwrap_err();
        assert_eq!(e.to_string(), "missing value for DIR, POD_NAME");
        let e = generate(&p, "u-1", &first(&p), 0, env("/etc"), &volumes(), None).unwrap_err();
        assert_eq!(e, Error::SubPathAbsolute("/etc/web-0".into()));
    }

    #[test]
    fn a_missing_volume_or_an_escaping_sub_path_is_a_config_error() {
        let p = pod(json!({"containers": [{
            "name": "app", "image": "busybox",
            "volumeMounts": [{"name": "nope", "mountPath": "/x"}],
        }]}));
        assert_eq!(
            generate(&p, "u-1", &first(&p), 0, Vec::new(), &volumes(), None),
            Err(Error::VolumeNotFound("nope".into()))
        );
        let p = pod(json!({"containers": [{
            "name": "app", "image": "busybox",
            "volumeMounts": [{"name": "data", "mountPath": "/x", "subPath": "a/../../etc"}],
        }]}));
        let err = generate(&p, "u-1", &first(&p), 0, Vec::new(), &volumes(), None).unwrap_err();
        assert_eq!(err, Error::SubPathEscapes("a/../../etc".into()));
        assert_eq!(
            err.to_string(),
            "subPath \"a/../../etc\" must not contain '..'"
        );
    }

    #[test]
    fn requests_and_limits_become_cgroup_numbers() {
        let p = pod(json!({"containers": [{
            "name": "app", "image": "busybox",
            "resources": {
                "requests": {"cpu": "250m", "memory": "64Mi"},
                "limits": {"cpu": "1", "memory": "128Mi"},
            },
        }]}));
        let r = resources(&first(&p));
        assert_eq!(r.cpu_request_milli, Some(250));
        assert_eq!(r.cpu_limit_milli, Some(1000));
        assert_eq!(r.memory_request_bytes, Some(64 << 20));
        assert_eq!(r.memory_limit_bytes, Some(128 << 20));
        assert_eq!(r.pids_limit, None);
        // Limits only: the request defaults to the limit.
        let p = pod(json!({"containers": [{
            "name": "app", "image": "busybox",
            "resources": {"limits": {"cpu": "500m", "memory": "1Gi"}},
        }]}));
        let r = resources(&first(&p));
        assert_eq!(
            (r.cpu_request_milli, r.cpu_limit_milli),
            (Some(500), Some(500))
        );
        assert_eq!(r.memory_request_bytes, Some(1 << 30));
        // Nothing set: no limits at all.
        let p = pod(json!({"containers": [{"name": "app", "image": "busybox"}]}));
        assert_eq!(resources(&first(&p)), ResourceRequirements::default());
    }

    #[test]
    fn container_security_context_wins_over_the_pods() {
        let p = pod(json!({
            "securityContext": {
                "runAsUser": 1000, "runAsGroup": 2000, "runAsNonRoot": true,
                "supplementalGroups": [3000, -1],
            },
            "containers": [{
                "name": "app", "image": "busybox",
                "securityContext": {
                    "runAsUser": 1001, "readOnlyRootFilesystem": true,
                    "allowPrivilegeEscalation": false,
                    "capabilities": {"add": ["NET_ADMIN"], "drop": ["ALL"]},
                },
            }],
        }));
        let s = security(&p, &first(&p));
        assert_eq!(s.run_as_user, Some(1001));
        assert_eq!(s.run_as_group, Some(2000));
        assert!(s.run_as_non_root);
        // A negative group cannot be a gid: dropped.
        assert_eq!(s.supplemental_groups, vec![3000]);
        let with_fs_group = pod(json!({
            "securityContext": {"fsGroup": 1001, "supplementalGroups": [3000, 1001]},
            "containers": [{"name": "app", "image": "busybox"}],
        }));
        assert_eq!(
            security(&with_fs_group, &first(&with_fs_group)).supplemental_groups,
            vec![1001, 3000],
            "the fsGroup is a supplementary group, once"
        );
        assert!(s.read_only_root_filesystem);
        assert!(!s.privileged);
        assert_eq!(s.allow_privilege_escalation, Some(false));
        assert_eq!(s.capabilities_add, vec!["NET_ADMIN".to_string()]);
        assert_eq!(s.capabilities_drop, vec!["ALL".to_string()]);
        // The generated config carries the same merge.
        let c = generate(&p, "u-1", &first(&p), 0, Vec::new(), &volumes(), None)
            .expect("config")
            .config;
        assert_eq!(c.security, s);
        // Nothing set anywhere: the runtime's defaults.
        let p = pod(
            json!({"containers": [{"name": "app", "image": "busybox", "stdin": true, "tty": true}]}),
        );
        let c = generate(&p, "u-1", &first(&p), 0, Vec::new(), &volumes(), None)
            .expect("config")
            .config;
        assert_eq!(c.security, SecurityContext::default());
        assert!(c.stdin && c.tty);
    }

    #[test]
    fn qos_classes() {
        let best = pod(json!({"containers": [{"name": "a"}]}));
        assert_eq!(qos(&best), Qos::BestEffort);
        let guaranteed = pod(json!({"containers": [{"name": "a", "resources": {
            "limits": {"cpu": "1", "memory": "1Gi"}}}]}));
        assert_eq!(qos(&guaranteed), Qos::Guaranteed);
        let burstable = pod(json!({"containers": [{"name": "a", "resources": {
            "requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "1Gi"}}}]}));
        assert_eq!(qos(&burstable), Qos::Burstable);
        // An init container without limits makes the pod Burstable.
        let mixed = pod(json!({
            "initContainers": [{"name": "i", "resources": {"requests": {"cpu": "100m"}}}],
            "containers": [{"name": "a", "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}],
        }));
        assert_eq!(qos(&mixed), Qos::Burstable);
        assert_eq!(qos_name(Qos::Burstable), "Burstable");
    }

    #[test]
    fn sandbox_config_hostname_and_host_namespaces() {
        let p = pod(
            json!({"hostname": "db", "shareProcessNamespace": true, "containers": [{"name": "a"}]}),
        );
        let s = pod_sandbox_config(&p, "u-1", "node-1");
        assert_eq!(
            (s.name.as_str(), s.namespace.as_str(), s.uid.as_str()),
            ("web-0", "shop", "u-1")
        );
        assert_eq!(s.hostname.as_deref(), Some("db"));
        assert!(s.share_process_namespace && !s.host_network && !s.host_pid && !s.host_ipc);
        assert_eq!(s.qos, Some(Qos::BestEffort));
        assert_eq!(s.labels["app"], "web");
        // Without spec.hostname the pod name; with hostNetwork the node's.
        let p = pod(json!({"containers": [{"name": "a"}]}));
        assert_eq!(
            pod_sandbox_config(&p, "u-1", "node-1").hostname.as_deref(),
            Some("web-0")
        );
        let p = pod(
            json!({"hostname": "db", "hostNetwork": true, "hostPID": true, "hostIPC": true,
            "containers": [{"name": "a"}]}),
        );
        let s = pod_sandbox_config(&p, "u-1", "node-1");
        assert_eq!(s.hostname.as_deref(), Some("node-1"));
        let long = format!(
            "termination-message-container{}",
            "f2ac0ba8-00fe-4fb9-9036-0b1ea7e9efb9"
        );
        let p: Pod = serde_json::from_value(json!({
            "metadata": {"name": long, "namespace": "ns"},
            "spec": {"containers": [{"name": "a"}]},
        }))
        .expect("pod");
        let h = pod_sandbox_config(&p, "u-1", "node-1")
            .hostname
            .unwrap_or_default();
        assert_eq!(h, long[..63].trim_end_matches('-'));
        assert!(h.len() <= 63);
        assert!(s.host_network && s.host_pid && s.host_ipc);
    }
}
