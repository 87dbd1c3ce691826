//! The table of served resources.
//!
//! One row per resource drives everything that depends on "what does the API
//! serve": the apiserver's routes, discovery documents (`/api/v1`,
//! `/apis/apps/v1`, ...), etcd storage keys, and the short names the kubectl
//! resolves. Adding a built-in kind means adding one row here (and, if it needs
//! special behaviour, a strategy in the apiserver's `registry`).

/// A subresource served under `<resource>/<name>/<subresource>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subresource {
    /// `/status`: get, update and patch of `.status` only.
    Status,
    /// `/scale`: an `autoscaling/v1` `Scale` view of `spec.replicas`.
    Scale,
    /// `pods/binding`: assigns a node to a pod once.
    Binding,
    /// `pods/eviction`: a `policy/v1` `Eviction`.
    Eviction,
    /// `pods/log`: the container log stream (served through the kubelet).
    Log,
    /// `pods/exec`.
    Exec,
    /// `pods/attach`.
    Attach,
    /// `pods/portforward`.
    PortForward,
    /// `services/proxy`, `pods/proxy`, `nodes/proxy`.
    Proxy,
    /// `namespaces/finalize`.
    Finalize,
    /// `certificatesigningrequests/approval`: the conditions that approve
    /// or deny a CSR.
    Approval,
    /// `pods/ephemeralcontainers`: adds ephemeral containers (`kubectl
    /// debug`) to a running pod.
    EphemeralContainers,
    /// `pods/resize`: get, update and patch of the containers' `resources`
    /// and `resizePolicy` only (in-place pod resize).
    Resize,
}

impl Subresource {
    /// The path segment, as in `pods/status`.
    pub fn name(self) -> &'static str {
        match self {
            Subresource::Status => "status",
            Subresource::Scale => "scale",
            Subresource::Binding => "binding",
            Subresource::Eviction => "eviction",
            Subresource::Log => "log",
            Subresource::Exec => "exec",
            Subresource::Attach => "attach",
            Subresource::PortForward => "portforward",
            Subresource::Proxy => "proxy",
            Subresource::Finalize => "finalize",
            Subresource::Approval => "approval",
            Subresource::EphemeralContainers => "ephemeralcontainers",
            Subresource::Resize => "resize",
        }
    }

    /// Parses a path segment.
    pub fn from_name(name: &str) -> Option<Subresource> {
        Some(match name {
            "status" => Subresource::Status,
            "scale" => Subresource::Scale,
            "binding" => Subresource::Binding,
            "eviction" => Subresource::Eviction,
            "log" => Subresource::Log,
            "exec" => Subresource::Exec,
            "attach" => Subresource::Attach,
            "portforward" => Subresource::PortForward,
            "proxy" => Subresource::Proxy,
            "finalize" => Subresource::Finalize,
            "approval" => Subresource::Approval,
            "ephemeralcontainers" => Subresource::EphemeralContainers,
            "resize" => Subresource::Resize,
            _ => return None,
        })
    }

    /// (group, version, kind) of the object this subresource exchanges, when it
    /// differs from the parent resource's kind (discovery lists it).
    pub fn kind(self) -> Option<(&'static str, &'static str, &'static str)> {
        match self {
            Subresource::Scale => Some(("autoscaling", "v1", "Scale")),
            Subresource::Binding => Some(("", "v1", "Binding")),
            Subresource::Eviction => Some(("policy", "v1", "Eviction")),
            Subresource::Log
            | Subresource::Exec
            | Subresource::Attach
            | Subresource::PortForward
            | Subresource::Proxy => Some(("", "v1", "Pod")),
            Subresource::Status
            | Subresource::Finalize
            | Subresource::Approval
            | Subresource::EphemeralContainers
            | Subresource::Resize => None,
        }
    }

    /// Verbs shown in discovery for this subresource.
    pub fn verbs(self) -> &'static [&'static str] {
        match self {
            Subresource::Status
            | Subresource::Scale
            | Subresource::Approval
            | Subresource::EphemeralContainers
            | Subresource::Resize => &["get", "patch", "update"],
            Subresource::Binding | Subresource::Eviction => &["create"],
            Subresource::Log => &["get"],
            Subresource::Exec | Subresource::Attach | Subresource::PortForward => {
                &["create", "get"]
            }
            Subresource::Proxy => &["create", "delete", "get", "patch", "update"],
            Subresource::Finalize => &["update"],
        }
    }
}

/// One served resource: everything a component needs to know about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResourceInfo {
    /// API group, `""` for the core group.
    pub group: &'static str,
    /// Version within the group, e.g. `v1`.
    pub version: &'static str,
    /// The kind, e.g. `Deployment`.
    pub kind: &'static str,
    /// The plural resource name used in URLs and storage keys, e.g. `deployments`.
    pub plural: &'static str,
    /// The singular name, e.g. `deployment`.
    pub singular: &'static str,
    /// Whether objects live inside a namespace.
    pub namespaced: bool,
    /// Short names kubectl accepts, e.g. `deploy`.
    pub short_names: &'static [&'static str],
    /// Discovery categories, e.g. `all` for `kubectl get all`.
    pub categories: &'static [&'static str],
    /// Subresources served under each object.
    pub subresources: &'static [Subresource],
    /// The verbs served on the main resource ([`VERBS`] for a stored kind,
    /// `create` alone for the reviews, `get` and `list` for ComponentStatus);
    /// any other verb is a 405.
    pub verbs: &'static [&'static str],
    /// The resource name in etcd keys: the plural for built-in kinds,
    /// `<group>/<plural>` for custom resources (as upstream), so a custom
    /// resource can never share keys with a built-in one of the same plural.
    pub storage: &'static str,
    /// The version objects are kept in etcd in. A kind served at several
    /// versions (HorizontalPodAutoscalers at `autoscaling/v2` and
    /// `autoscaling/v1`) has one row per version, all with the same storage
    /// version; the apiserver converts between a row's version and this one.
    pub storage_version: &'static str,
    /// The API group of the kind objects are kept as: the row's own group,
    /// except for a kind served in a second group over another group's
    /// objects (`events.k8s.io/v1` Events are `core/v1` Events in etcd).
    pub storage_group: &'static str,
}

/// Verbs served on every main resource that is kept in storage.
pub const VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

/// The verbs of a kind that is posted and answered but never stored (a
/// TokenReview, a SubjectAccessReview, ...).
pub const CREATE_ONLY: &[&str] = &["create"];

/// The verbs of a kind computed on read (ComponentStatus).
pub const READ_ONLY: &[&str] = &["get", "list"];

/// Namespaces: deleting a namespace deletes everything in it, so upstream
/// serves no `deletecollection` of them.
const NAMESPACE_VERBS: &[&str] = &[
    "create", "delete", "get", "list", "patch", "update", "watch",
];

impl ResourceInfo {
    /// A row with the usual settings: version `v1`, every verb of a stored
    /// kind, no short names, categories or subresources; the builders below
    /// change what a kind does differently.
    pub const fn new(
        group: &'static str,
        kind: &'static str,
        plural: &'static str,
        singular: &'static str,
        namespaced: bool,
    ) -> ResourceInfo {
        ResourceInfo {
            group,
            version: "v1",
            kind,
            plural,
            singular,
            namespaced,
            short_names: &[],
            categories: &[],
            subresources: &[],
            verbs: VERBS,
            storage: plural,
            storage_version: "v1",
            storage_group: group,
        }
    }

    /// Kept in etcd under another resource name than the plural.
    pub const fn stored_as(mut self, storage: &'static str) -> ResourceInfo {
        self.storage = storage;
        self
    }

    /// Served (and stored) at another version than `v1`.
    pub const fn at(mut self, version: &'static str) -> ResourceInfo {
        self.version = version;
        self.storage_version = version;
        self
    }

    /// Stored at `version` while served at this row's version: the row of
    /// an older version of a kind whose objects are kept in a newer one.
    pub const fn stored_at(mut self, version: &'static str) -> ResourceInfo {
        self.storage_version = version;
        self
    }

    /// Kept as another group's kind at `version`: the row of a kind served
    /// in a second group over the objects of the first (upstream serves
    /// `events.k8s.io/v1` Events from the `core/v1` Event storage).
    pub const fn stored_in(mut self, group: &'static str, version: &'static str) -> ResourceInfo {
        self.storage_group = group;
        self.storage_version = version;
        self
    }

    /// Whether objects of this row's group and version are the ones kept in
    /// etcd. Clients that visit every kind once (the garbage collector,
    /// namespace deletion) take only these rows.
    pub fn is_storage_version(&self) -> bool {
        self.version == self.storage_version && self.group == self.storage_group
    }

    /// With short names.
    pub const fn short(mut self, names: &'static [&'static str]) -> ResourceInfo {
        self.short_names = names;
        self
    }

    /// In discovery categories.
    pub const fn in_categories(mut self, categories: &'static [&'static str]) -> ResourceInfo {
        self.categories = categories;
        self
    }

    /// With subresources.
    pub const fn with(mut self, subresources: &'static [Subresource]) -> ResourceInfo {
        self.subresources = subresources;
        self
    }

    /// Serving only these verbs.
    pub const fn only(mut self, verbs: &'static [&'static str]) -> ResourceInfo {
        self.verbs = verbs;
        self
    }

    /// Whether the main resource serves `verb` (`get`, `list`, ...).
    pub fn serves(&self, verb: &str) -> bool {
        self.verbs.contains(&verb)
    }

    /// Whether objects of the kind are kept in storage, which is what makes
    /// them watchable (a review is only answered, a ComponentStatus
    /// computed).
    pub fn is_stored(&self) -> bool {
        self.serves("watch")
    }

    /// `apiVersion` as written in objects: `v1` or `apps/v1`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `group/version` for URL building: `/api/v1` or `/apis/apps/v1`.
    pub fn url_prefix(&self) -> String {
        if self.group.is_empty() {
            format!("/api/{}", self.version)
        } else {
            format!("/apis/{}/{}", self.group, self.version)
        }
    }

    /// Whether the resource serves the given subresource.
    pub fn has_subresource(&self, sub: Subresource) -> bool {
        self.subresources.contains(&sub)
    }

    /// The storage resource name used in etcd keys. Upstream keeps a few
    /// historical names (`services/specs`, `minions`); we use the plural, which
    /// is what a learner looking at `etcdctl get --prefix /registry` expects
    /// (custom resources: `<group>/<plural>`, see [`ResourceInfo::stored_as`]).
    pub fn storage_name(&self) -> &'static str {
        self.storage
    }
}

use Subresource::*;

const ALL: &[&str] = &["all"];
/// Upstream's category of the kinds that extend the API (webhooks, admission
/// policies, CRDs, APIServices).
const API_EXTENSIONS: &[&str] = &["api-extensions"];
const NS: bool = true;
const CLUSTER: bool = false;

/// Every resource this cluster serves, in discovery order.
#[rustfmt::skip]
pub static RESOURCES: &[ResourceInfo] = &[
    // core/v1
    ResourceInfo::new("", "Namespace", "namespaces", "namespace", CLUSTER).short(&["ns"]).with(&[Status, Finalize]).only(NAMESPACE_VERBS),
    ResourceInfo::new("", "Pod", "pods", "pod", NS).short(&["po"]).in_categories(ALL)
        .with(&[Status, Binding, Eviction, EphemeralContainers, Log, Exec, Attach, PortForward, Proxy, Resize]),
    ResourceInfo::new("", "Node", "nodes", "node", CLUSTER).short(&["no"]).with(&[Status, Proxy]),
    ResourceInfo::new("", "Service", "services", "service", NS).short(&["svc"]).in_categories(ALL).with(&[Status, Proxy]),
    ResourceInfo::new("", "Endpoints", "endpoints", "endpoints", NS).short(&["ep"]),
    ResourceInfo::new("", "ConfigMap", "configmaps", "configmap", NS).short(&["cm"]),
    ResourceInfo::new("", "Secret", "secrets", "secret", NS),
    ResourceInfo::new("", "Event", "events", "event", NS).short(&["ev"]),
    ResourceInfo::new("", "ServiceAccount", "serviceaccounts", "serviceaccount", NS).short(&["sa"]),
    ResourceInfo::new("", "PersistentVolume", "persistentvolumes", "persistentvolume", CLUSTER).short(&["pv"]).with(&[Status]),
    ResourceInfo::new("", "PersistentVolumeClaim", "persistentvolumeclaims", "persistentvolumeclaim", NS).short(&["pvc"]).with(&[Status]),
    ResourceInfo::new("", "ResourceQuota", "resourcequotas", "resourcequota", NS).short(&["quota"]).with(&[Status]),
    ResourceInfo::new("", "LimitRange", "limitranges", "limitrange", NS).short(&["limits"]),
    ResourceInfo::new("", "ComponentStatus", "componentstatuses", "componentstatus", CLUSTER).short(&["cs"]).only(READ_ONLY),
    ResourceInfo::new("", "ReplicationController", "replicationcontrollers", "replicationcontroller", NS).short(&["rc"]).in_categories(ALL)
        .with(&[Status, Scale]),
    ResourceInfo::new("", "PodTemplate", "podtemplates", "podtemplate", NS),
    // A Binding binds the pod it names (as pods/binding); nothing is stored.
    ResourceInfo::new("", "Binding", "bindings", "binding", NS).only(CREATE_ONLY),
    // apps/v1
    ResourceInfo::new("apps", "Deployment", "deployments", "deployment", NS).short(&["deploy"]).in_categories(ALL).with(&[Status, Scale]),
    ResourceInfo::new("apps", "ReplicaSet", "replicasets", "replicaset", NS).short(&["rs"]).in_categories(ALL).with(&[Status, Scale]),
    ResourceInfo::new("apps", "DaemonSet", "daemonsets", "daemonset", NS).short(&["ds"]).in_categories(ALL).with(&[Status]),
    ResourceInfo::new("apps", "StatefulSet", "statefulsets", "statefulset", NS).short(&["sts"]).in_categories(ALL).with(&[Status, Scale]),
    ResourceInfo::new("apps", "ControllerRevision", "controllerrevisions", "controllerrevision", NS),
    // batch/v1
    ResourceInfo::new("batch", "Job", "jobs", "job", NS).in_categories(ALL).with(&[Status]),
    ResourceInfo::new("batch", "CronJob", "cronjobs", "cronjob", NS).short(&["cj"]).in_categories(ALL).with(&[Status]),
    // autoscaling/v2
    ResourceInfo::new("autoscaling", "HorizontalPodAutoscaler", "horizontalpodautoscalers", "horizontalpodautoscaler", NS)
        .at("v2").short(&["hpa"]).in_categories(ALL).with(&[Status]),
    // autoscaling/v1: the same objects, converted from and to v2 (upstream
    // serves both; v2, listed first, is preferred)
    ResourceInfo::new("autoscaling", "HorizontalPodAutoscaler", "horizontalpodautoscalers", "horizontalpodautoscaler", NS)
        .stored_at("v2").short(&["hpa"]).in_categories(ALL).with(&[Status]),
    // policy/v1
    ResourceInfo::new("policy", "PodDisruptionBudget", "poddisruptionbudgets", "poddisruptionbudget", NS).short(&["pdb"]).with(&[Status]),
    // coordination.k8s.io/v1
    ResourceInfo::new("coordination.k8s.io", "Lease", "leases", "lease", NS),
    // scheduling.k8s.io/v1
    ResourceInfo::new("scheduling.k8s.io", "PriorityClass", "priorityclasses", "priorityclass", CLUSTER).short(&["pc"]),
    // discovery.k8s.io/v1
    ResourceInfo::new("discovery.k8s.io", "EndpointSlice", "endpointslices", "endpointslice", NS),
    // networking.k8s.io/v1
    ResourceInfo::new("networking.k8s.io", "Ingress", "ingresses", "ingress", NS).short(&["ing"]).with(&[Status]),
    ResourceInfo::new("networking.k8s.io", "IngressClass", "ingressclasses", "ingressclass", CLUSTER),
    ResourceInfo::new("networking.k8s.io", "NetworkPolicy", "networkpolicies", "networkpolicy", NS).short(&["netpol"]),
    ResourceInfo::new("networking.k8s.io", "ServiceCIDR", "servicecidrs", "servicecidr", CLUSTER).with(&[Status]),
    ResourceInfo::new("networking.k8s.io", "IPAddress", "ipaddresses", "ipaddress", CLUSTER).short(&["ip"]),
    // node.k8s.io/v1
    ResourceInfo::new("node.k8s.io", "RuntimeClass", "runtimeclasses", "runtimeclass", CLUSTER),
    // storage.k8s.io/v1
    ResourceInfo::new("storage.k8s.io", "StorageClass", "storageclasses", "storageclass", CLUSTER).short(&["sc"]),
    ResourceInfo::new("storage.k8s.io", "CSIDriver", "csidrivers", "csidriver", CLUSTER),
    ResourceInfo::new("storage.k8s.io", "CSINode", "csinodes", "csinode", CLUSTER),
    ResourceInfo::new("storage.k8s.io", "CSIStorageCapacity", "csistoragecapacities", "csistoragecapacity", NS),
    ResourceInfo::new("storage.k8s.io", "VolumeAttachment", "volumeattachments", "volumeattachment", CLUSTER).with(&[Status]),
    ResourceInfo::new("storage.k8s.io", "VolumeAttributesClass", "volumeattributesclasses", "volumeattributesclass", CLUSTER).short(&["vac"]),
    // rbac.authorization.k8s.io/v1
    ResourceInfo::new("rbac.authorization.k8s.io", "ClusterRole", "clusterroles", "clusterrole", CLUSTER),
    ResourceInfo::new("rbac.authorization.k8s.io", "ClusterRoleBinding", "clusterrolebindings", "clusterrolebinding", CLUSTER),
    ResourceInfo::new("rbac.authorization.k8s.io", "Role", "roles", "role", NS),
    ResourceInfo::new("rbac.authorization.k8s.io", "RoleBinding", "rolebindings", "rolebinding", NS),
    // authentication.k8s.io/v1 and authorization.k8s.io/v1: answered, not stored
    ResourceInfo::new("authentication.k8s.io", "SelfSubjectReview", "selfsubjectreviews", "selfsubjectreview", CLUSTER).only(CREATE_ONLY),
    ResourceInfo::new("authentication.k8s.io", "TokenReview", "tokenreviews", "tokenreview", CLUSTER).only(CREATE_ONLY),
    ResourceInfo::new("authorization.k8s.io", "LocalSubjectAccessReview", "localsubjectaccessreviews", "localsubjectaccessreview", NS).only(CREATE_ONLY),
    ResourceInfo::new("authorization.k8s.io", "SelfSubjectAccessReview", "selfsubjectaccessreviews", "selfsubjectaccessreview", CLUSTER).only(CREATE_ONLY),
    ResourceInfo::new("authorization.k8s.io", "SelfSubjectRulesReview", "selfsubjectrulesreviews", "selfsubjectrulesreview", CLUSTER).only(CREATE_ONLY),
    ResourceInfo::new("authorization.k8s.io", "SubjectAccessReview", "subjectaccessreviews", "subjectaccessreview", CLUSTER).only(CREATE_ONLY),
    // certificates.k8s.io/v1
    ResourceInfo::new("certificates.k8s.io", "CertificateSigningRequest", "certificatesigningrequests", "certificatesigningrequest", CLUSTER)
        .short(&["csr"]).with(&[Status, Approval]),
    // flowcontrol.apiserver.k8s.io/v1
    ResourceInfo::new("flowcontrol.apiserver.k8s.io", "FlowSchema", "flowschemas", "flowschema", CLUSTER).with(&[Status]),
    ResourceInfo::new("flowcontrol.apiserver.k8s.io", "PriorityLevelConfiguration", "prioritylevelconfigurations", "prioritylevelconfiguration", CLUSTER).with(&[Status]),
    // admissionregistration.k8s.io/v1
    ResourceInfo::new("admissionregistration.k8s.io", "MutatingAdmissionPolicy", "mutatingadmissionpolicies", "mutatingadmissionpolicy", CLUSTER).in_categories(API_EXTENSIONS),
    ResourceInfo::new("admissionregistration.k8s.io", "MutatingAdmissionPolicyBinding", "mutatingadmissionpolicybindings", "mutatingadmissionpolicybinding", CLUSTER).in_categories(API_EXTENSIONS),
    ResourceInfo::new("admissionregistration.k8s.io", "MutatingWebhookConfiguration", "mutatingwebhookconfigurations", "mutatingwebhookconfiguration", CLUSTER).in_categories(API_EXTENSIONS),
    ResourceInfo::new("admissionregistration.k8s.io", "ValidatingAdmissionPolicy", "validatingadmissionpolicies", "validatingadmissionpolicy", CLUSTER).in_categories(API_EXTENSIONS).with(&[Status]),
    ResourceInfo::new("admissionregistration.k8s.io", "ValidatingAdmissionPolicyBinding", "validatingadmissionpolicybindings", "validatingadmissionpolicybinding", CLUSTER).in_categories(API_EXTENSIONS),
    ResourceInfo::new("admissionregistration.k8s.io", "ValidatingWebhookConfiguration", "validatingwebhookconfigurations", "validatingwebhookconfiguration", CLUSTER).in_categories(API_EXTENSIONS),
    // events.k8s.io/v1: the core/v1 Events, converted from and to core/v1
    // (upstream serves both groups from one storage)
    ResourceInfo::new("events.k8s.io", "Event", "events", "event", NS).short(&["ev"]).stored_in("", "v1"),
    // apiextensions.k8s.io/v1 and apiregistration.k8s.io/v1
    ResourceInfo::new("apiextensions.k8s.io", "CustomResourceDefinition", "customresourcedefinitions", "customresourcedefinition", CLUSTER)
        .short(&["crd", "crds"]).in_categories(API_EXTENSIONS).with(&[Status]),
    ResourceInfo::new("apiregistration.k8s.io", "APIService", "apiservices", "apiservice", CLUSTER).in_categories(API_EXTENSIONS).with(&[Status]),
    // resource.k8s.io/v1 (dynamic resource allocation)
    ResourceInfo::new("resource.k8s.io", "DeviceClass", "deviceclasses", "deviceclass", CLUSTER),
    ResourceInfo::new("resource.k8s.io", "ResourceClaim", "resourceclaims", "resourceclaim", NS).with(&[Status]),
    ResourceInfo::new("resource.k8s.io", "ResourceClaimTemplate", "resourceclaimtemplates", "resourceclaimtemplate", NS),
    ResourceInfo::new("resource.k8s.io", "ResourceSlice", "resourceslices", "resourceslice", CLUSTER),
    // metrics.k8s.io/v1beta1: computed from the kubelets' samples, never stored
    // (upstream's metrics-server serves it; here the apiserver does).
    ResourceInfo::new("metrics.k8s.io", "NodeMetrics", "nodes", "", CLUSTER).at("v1beta1").only(READ_ONLY),
    ResourceInfo::new("metrics.k8s.io", "PodMetrics", "pods", "", NS).at("v1beta1").only(READ_ONLY),
];

/// Looks a resource up by group, version and plural name, as found in a URL.
pub fn find(group: &str, version: &str, plural: &str) -> Option<&'static ResourceInfo> {
    RESOURCES
        .iter()
        .find(|r| r.group == group && r.version == version && r.plural == plural)
}

/// Looks a resource up by its `apiVersion` and `kind`, as found in an object.
pub fn find_by_kind(api_version: &str, kind: &str) -> Option<&'static ResourceInfo> {
    RESOURCES
        .iter()
        .find(|r| r.kind == kind && r.api_version() == api_version)
}

/// The API groups served, in discovery order, each with its versions.
pub fn groups() -> Vec<(&'static str, Vec<&'static str>)> {
    let mut out: Vec<(&'static str, Vec<&'static str>)> = Vec::new();
    for r in RESOURCES {
        match out.iter_mut().find(|(g, _)| *g == r.group) {
            Some((_, versions)) => {
                if !versions.contains(&r.version) {
                    versions.push(r.version);
                }
            }
            None => out.push((r.group, vec![r.version])),
        }
    }
    out
}

/// Every resource in one group/version.
pub fn in_group_version<'a>(
    group: &'a str,
    version: &'a str,
) -> impl Iterator<Item = &'static ResourceInfo> + 'a {
    RESOURCES
        .iter()
        .filter(move |r| r.group == group && r.version == version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_agree() {
        for r in RESOURCES {
            assert_eq!(find(r.group, r.version, r.plural), Some(r));
            assert_eq!(find_by_kind(&r.api_version(), r.kind), Some(r));
        }
        assert!(find("apps", "v1", "pods").is_none());
    }

    #[test]
    fn groups_listed_once() {
        let groups = groups();
        assert_eq!(groups[0], ("", vec!["v1"]));
        assert!(groups.iter().any(|(g, _)| *g == "apps"));
        let mut names: Vec<_> = groups.iter().map(|(g, _)| *g).collect();
        names.dedup();
        assert_eq!(names.len(), groups.len());
    }

    #[test]
    fn names_and_short_names_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for r in RESOURCES {
            assert!(
                seen.insert((r.group, r.version, r.plural)),
                "{} twice",
                r.plural
            );
            for short in r.short_names {
                let clash = RESOURCES
                    .iter()
                    .filter(|o| o.short_names.contains(short) && o.kind != r.kind)
                    .count();
                assert_eq!(clash, 0, "short name {short} of {} is taken", r.plural);
            }
            assert!(!r.verbs.is_empty(), "{} serves no verb", r.plural);
        }
    }

    #[test]
    fn only_watchable_kinds_are_stored() {
        let reviews = find("authorization.k8s.io", "v1", "subjectaccessreviews");
        assert_eq!(reviews.map(|r| r.is_stored()), Some(false));
        let cs = find("", "v1", "componentstatuses");
        assert_eq!(cs.map(|r| r.is_stored()), Some(false));
        let ns = find("", "v1", "namespaces").expect("namespaces");
        assert!(ns.is_stored() && !ns.serves("deletecollection"));
    }

    #[test]
    fn a_kind_served_at_two_versions_is_stored_at_one() {
        let v2 = find("autoscaling", "v2", "horizontalpodautoscalers").expect("v2");
        let v1 = find("autoscaling", "v1", "horizontalpodautoscalers").expect("v1");
        assert!(v2.is_storage_version() && !v1.is_storage_version());
        assert_eq!(v1.storage_version, "v2");
        assert_eq!(v1.storage_name(), v2.storage_name());
        let autoscaling = groups().into_iter().find(|(g, _)| *g == "autoscaling");
        assert_eq!(autoscaling, Some(("autoscaling", vec!["v2", "v1"])));
        let stored: Vec<_> = RESOURCES
            .iter()
            .filter(|r| r.is_storage_version() && r.kind == "HorizontalPodAutoscaler")
            .collect();
        assert_eq!(stored, vec![v2]);
    }

    #[test]
    fn a_kind_served_in_two_groups_is_stored_in_one() {
        let core = find("", "v1", "events").expect("core/v1 events");
        let events = find("events.k8s.io", "v1", "events").expect("events.k8s.io/v1 events");
        assert!(core.is_storage_version() && !events.is_storage_version());
        assert_eq!(events.storage_group, "");
        assert_eq!(events.storage_name(), core.storage_name());
        assert_eq!(find_by_kind("v1", "Event"), Some(core));
    }

    #[test]
    fn urls() {
        let d = find("apps", "v1", "deployments").expect("deployments");
        assert_eq!(d.url_prefix(), "/apis/apps/v1");
        assert_eq!(d.api_version(), "apps/v1");
        let p = find("", "v1", "pods").expect("pods");
        assert_eq!(p.url_prefix(), "/api/v1");
        assert!(p.has_subresource(Subresource::Binding));
    }
}
