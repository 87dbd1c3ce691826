//! Per-kind behaviour around the generic handlers: one [`Strategy`] per kind
//! (upstream's `pkg/registry/<group>/<kind>/strategy.go`), found through the
//! resource table with [`strategy_for`].
//!
//! The handlers treat every object as JSON and never name a kind; the
//! functions here are the steps they run, each the part common to all kinds
//! followed by the kind's strategy:
//!
//! - [`prepare_for_create`]: the server owns `uid`, `creationTimestamp`,
//!   `generation`, `apiVersion`/`kind`; the strategy adds the initial `status`
//!   (a new Pod is `Pending`, a new Namespace is `Active`).
//! - [`prepare_for_update`]: what a client may not change on the main resource
//!   (identity, `status` when a `/status` subresource exists, and what the
//!   strategy keeps) is copied back from the stored object, and `generation`
//!   goes up when the desired state (`spec`) changed, so controllers can
//!   report `observedGeneration`.
//! - [`prepare_for_status_update`]: the mirror image for `/status`: only
//!   `status` comes from the request.
//! - [`apply_defaults`]: the strategy decodes the object into its type (a 400
//!   when it does not fit) and fills in defaults.
//! - [`validate_create`] / [`validate_update`]: `metadata` rules
//!   ([`crate::validation::object_meta`]), then the kind's rules.
//! - hooks around storage: admission that needs the cluster's state
//!   ([`Strategy::admit_create`]), resources held outside the object's key
//!   ([`Strategy::before_create`], [`Strategy::release`]), graceful deletion
//!   and deletion blockers, caches to refresh ([`Strategy::after_write`]).
//! - connect subresources proxied elsewhere ([`Strategy::connect`]: a Pod's
//!   `log`, `exec`, `attach`, `portforward`), the shapes of the
//!   subresources with their own object ([`scale`], a Pod's `binding` and
//!   `eviction`), and create-only kinds served as one of them
//!   ([`Strategy::creates_as`]: a POST to `bindings` is a pod's `binding`).
//! - printing: [`Strategy::columns`] and [`Strategy::cells`], turned into a
//!   Table by [`crate::tables`].
//!
//! The kinds live in one file each, in a folder per API group:
//! [`core`] (Pod, Service, Namespace, Node, PersistentVolume, ...),
//! [`apps`], [`batch`], [`autoscaling`], [`policy`], [`coordination`],
//! [`discovery`], [`events`], [`scheduling`], [`networking`], [`node`], [`storage`],
//! [`rbac`], [`certificates`], [`flowcontrol`], [`admissionregistration`],
//! [`apiextensions`], [`apiregistration`], [`resource`], and the reviews in
//! [`authentication`] and [`authorization`]. A kind with behaviour of its
//! own implements [`Strategy`]; a kind that is only stored with upstream's
//! defaults, rules and printer is a [`generic::Typed`] built from plain
//! functions (a review adds its answer). Adding a kind is one file and
//! one row in [`builtin_strategies`]; a kind defined at runtime (a
//! CustomResourceDefinition's) calls [`register`] with its own strategy. A
//! built-in kind served at several versions (HorizontalPodAutoscalers at
//! `autoscaling/v2` and `v1`) registers its storage version's strategy,
//! which lists the other versions with their own strategies and
//! conversions ([`versions`]); [`strategy_for`] answers each row with its
//! version's. The
//! workload kinds (in [`apps`] and [`batch`]) implement [`workload::Workload`]
//! instead, which writes their common strategy once (typed decoding, schema,
//! empty initial status, immutable selector, printing).

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};

use apimachinery::resources::{ResourceInfo, Subresource};
use serde_json::{json, Value};

use crate::errors::ApiError;
use crate::validation::{self, FieldError, FieldErrorKind};

pub mod admissionregistration;
pub mod apiextensions;
pub mod apiregistration;
pub mod apps;
pub mod authentication;
pub mod authorization;
pub mod autoscaling;
pub mod batch;
pub mod certificates;
pub mod coordination;
pub mod core;
pub mod discovery;
pub mod events;
pub mod flowcontrol;
pub mod generic;
pub mod metrics;
pub mod networking;
pub mod node;
pub mod policy;
pub mod rbac;
pub mod resource;
pub mod scale;
pub mod scheduling;
pub mod storage;
pub mod strategy;
pub mod versions;
pub mod workload;

pub use self::core::namespace::prepare_for_finalize;
pub use crate::meta::{finalizers, meta_mut, meta_str, now, now_plus};
pub use strategy::Strategy;
use versions::Version;

/// The built-in kinds and their strategies: one row per kind.
#[rustfmt::skip]
pub fn builtin_strategies() -> Vec<(&'static str, &'static str, Arc<dyn Strategy>)> {
    use self::core::{componentstatus, configmap, endpoints, event, limitrange, namespace, node as core_node, persistentvolume, persistentvolumeclaim, pod, resourcequota, secret, service, serviceaccount};
    use admissionregistration::{admissionpolicy, admissionpolicybinding, webhookconfiguration};
    use apps::{controllerrevision, daemonset, deployment, replicaset, statefulset};
    use authorization::{selfsubjectrulesreview, subjectaccessreview};
    use batch::{cronjob, job};
    use flowcontrol::{flowschema, prioritylevelconfiguration};
    use networking::{ingress, ingressclass, ipaddress, networkpolicy, servicecidr};
    use rbac::{role, rolebinding};
    use resource::{deviceclass, resourceclaim, resourceclaimtemplate, resourceslice};
    use storage::{csidriver, csinode, csistoragecapacity, storageclass, volumeattachment, volumeattributesclass};
    const ADMISSION: &str = "admissionregistration.k8s.io";
    const FLOWCONTROL: &str = "flowcontrol.apiserver.k8s.io";
    const NETWORKING: &str = "networking.k8s.io";
    const RBAC: &str = "rbac.authorization.k8s.io";
    const RESOURCE: &str = "resource.k8s.io";
    const STORAGE: &str = "storage.k8s.io";
    vec![
        ("", "Namespace", Arc::new(namespace::NamespaceStrategy)),
        ("", "Pod", Arc::new(pod::PodStrategy)),
        ("", "Node", Arc::new(core_node::NodeStrategy)),
        ("", "Service", Arc::new(service::ServiceStrategy)),
        ("", "Endpoints", Arc::new(endpoints::STRATEGY)),
        ("", "ConfigMap", Arc::new(configmap::STRATEGY)),
        ("", "Secret", Arc::new(secret::STRATEGY)),
        ("", "Event", Arc::new(event::EventStrategy)),
        ("", "ServiceAccount", Arc::new(serviceaccount::STRATEGY)),
        ("", "PersistentVolume", Arc::new(persistentvolume::STRATEGY)),
        ("", "PersistentVolumeClaim", Arc::new(persistentvolumeclaim::STRATEGY)),
        ("", "ResourceQuota", Arc::new(resourcequota::STRATEGY)),
        ("", "LimitRange", Arc::new(limitrange::STRATEGY)),
        ("", "ComponentStatus", Arc::new(componentstatus::ComponentStatusStrategy)),
        ("apps", "Deployment", Arc::new(deployment::DeploymentStrategy)),
        ("apps", "ReplicaSet", Arc::new(replicaset::ReplicaSetStrategy)),
        ("apps", "DaemonSet", Arc::new(daemonset::DaemonSetStrategy)),
        ("apps", "StatefulSet", Arc::new(statefulset::StatefulSetStrategy)),
        ("apps", "ControllerRevision", Arc::new(controllerrevision::STRATEGY)),
        ("batch", "Job", Arc::new(job::JobStrategy)),
        ("batch", "CronJob", Arc::new(cronjob::CronJobStrategy)),
        ("autoscaling", "HorizontalPodAutoscaler", Arc::new(autoscaling::horizontalpodautoscaler::STRATEGY)),
        ("policy", "PodDisruptionBudget", Arc::new(policy::poddisruptionbudget::STRATEGY)),
        ("coordination.k8s.io", "Lease", Arc::new(coordination::lease::STRATEGY)),
        ("discovery.k8s.io", "EndpointSlice", Arc::new(discovery::endpointslice::EndpointSliceStrategy)),
        ("scheduling.k8s.io", "PriorityClass", Arc::new(scheduling::priorityclass::PriorityClassStrategy)),
        (NETWORKING, "Ingress", Arc::new(ingress::STRATEGY)),
        (NETWORKING, "IngressClass", Arc::new(ingressclass::STRATEGY)),
        (NETWORKING, "NetworkPolicy", Arc::new(networkpolicy::STRATEGY)),
        (NETWORKING, "ServiceCIDR", Arc::new(servicecidr::STRATEGY)),
        (NETWORKING, "IPAddress", Arc::new(ipaddress::STRATEGY)),
        ("node.k8s.io", "RuntimeClass", Arc::new(self::node::runtimeclass::STRATEGY)),
        (STORAGE, "StorageClass", Arc::new(storageclass::STRATEGY)),
        (STORAGE, "CSIDriver", Arc::new(csidriver::STRATEGY)),
        (STORAGE, "CSINode", Arc::new(csinode::STRATEGY)),
        (STORAGE, "CSIStorageCapacity", Arc::new(csistoragecapacity::STRATEGY)),
        (STORAGE, "VolumeAttachment", Arc::new(volumeattachment::STRATEGY)),
        (STORAGE, "VolumeAttributesClass", Arc::new(volumeattributesclass::STRATEGY)),
        (RBAC, "Role", Arc::new(role::ROLE)),
        (RBAC, "ClusterRole", Arc::new(role::CLUSTER_ROLE)),
        (RBAC, "RoleBinding", Arc::new(rolebinding::ROLE_BINDING)),
        (RBAC, "ClusterRoleBinding", Arc::new(rolebinding::CLUSTER_ROLE_BINDING)),
        ("authentication.k8s.io", "TokenReview", Arc::new(authentication::tokenreview::STRATEGY)),
        ("authentication.k8s.io", "SelfSubjectReview", Arc::new(authentication::selfsubjectreview::STRATEGY)),
        ("authorization.k8s.io", "SubjectAccessReview", Arc::new(subjectaccessreview::SUBJECT)),
        ("authorization.k8s.io", "LocalSubjectAccessReview", Arc::new(subjectaccessreview::LOCAL)),
        ("authorization.k8s.io", "SelfSubjectAccessReview", Arc::new(subjectaccessreview::SELF)),
        ("authorization.k8s.io", "SelfSubjectRulesReview", Arc::new(selfsubjectrulesreview::STRATEGY)),
        ("certificates.k8s.io", "CertificateSigningRequest", Arc::new(certificates::certificatesigningrequest::STRATEGY)),
        (FLOWCONTROL, "FlowSchema", Arc::new(flowschema::STRATEGY)),
        (FLOWCONTROL, "PriorityLevelConfiguration", Arc::new(prioritylevelconfiguration::STRATEGY)),
        (ADMISSION, "MutatingWebhookConfiguration", Arc::new(webhookconfiguration::MUTATING)),
        (ADMISSION, "ValidatingWebhookConfiguration", Arc::new(webhookconfiguration::VALIDATING)),
        (ADMISSION, "ValidatingAdmissionPolicy", Arc::new(admissionpolicy::VALIDATING)),
        (ADMISSION, "ValidatingAdmissionPolicyBinding", Arc::new(admissionpolicybinding::VALIDATING)),
        (ADMISSION, "MutatingAdmissionPolicy", Arc::new(admissionpolicy::MUTATING)),
        (ADMISSION, "MutatingAdmissionPolicyBinding", Arc::new(admissionpolicybinding::MUTATING)),
        ("apiextensions.k8s.io", "CustomResourceDefinition", Arc::new(apiextensions::customresourcedefinition::STRATEGY)),
        ("apiregistration.k8s.io", "APIService", Arc::new(apiregistration::apiservice::STRATEGY)),
        (RESOURCE, "DeviceClass", Arc::new(deviceclass::STRATEGY)),
        (RESOURCE, "ResourceClaim", Arc::new(resourceclaim::STRATEGY)),
        (RESOURCE, "ResourceClaimTemplate", Arc::new(resourceclaimtemplate::STRATEGY)),
        (RESOURCE, "ResourceSlice", Arc::new(resourceslice::STRATEGY)),
        ("", "ReplicationController", Arc::new(self::core::replicationcontroller::ReplicationControllerStrategy)),
        ("", "PodTemplate", Arc::new(self::core::podtemplate::PodTemplateStrategy)),
        ("", "Binding", Arc::new(self::core::pod::binding::BindingStrategy)),
        ("metrics.k8s.io", "NodeMetrics", Arc::new(metrics::NodeMetricsStrategy)),
        ("metrics.k8s.io", "PodMetrics", Arc::new(metrics::PodMetricsStrategy)),
    ]
}

/// Strategies by group, then kind.
type Table = HashMap<String, HashMap<String, Arc<dyn Strategy>>>;

fn table() -> &'static RwLock<Table> {
    static TABLE: OnceLock<RwLock<Table>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t = Table::new();
        for (group, kind, strategy) in builtin_strategies() {
            t.entry(group.to_string())
                .or_default()
                .insert(kind.to_string(), strategy);
        }
        RwLock::new(t)
    })
}

/// The other served versions of the built-in kinds, by (group, version,
/// kind), each with the strategy [`strategy_for`] answers for its rows.
type VersionTable =
    HashMap<(&'static str, &'static str, &'static str), (Version, Arc<dyn Strategy>)>;

fn version_table() -> &'static VersionTable {
    static VERSIONS: OnceLock<VersionTable> = OnceLock::new();
    VERSIONS.get_or_init(|| {
        let mut t = VersionTable::new();
        for (group, kind, storage) in builtin_strategies() {
            for version in storage.versions() {
                let strategy: Arc<dyn Strategy> = Arc::new(versions::VersionStrategy {
                    own: Arc::clone(&version.strategy),
                    storage: Arc::clone(&storage),
                });
                let served_group = version.group.unwrap_or(group);
                t.insert((served_group, version.version, kind), (version, strategy));
            }
        }
        t
    })
}

/// How objects of a built-in row served at another version than its
/// storage version are converted (`None` for every other row, custom
/// resources included).
pub fn version_of(resource: &ResourceInfo) -> Option<&'static Version> {
    if resource.is_storage_version() {
        return None;
    }
    version_table()
        .get(&(resource.group, resource.version, resource.kind))
        .map(|(v, _)| v)
}

/// The strategy of a kind with no strategy of its own: every hook does
/// nothing, objects are kept as sent and printed with Name and Age.
struct Unstructured;

impl Strategy for Unstructured {}

/// The strategy of a served resource (a do-nothing one for a kind nobody
/// registered).
pub fn strategy_for(resource: &ResourceInfo) -> Arc<dyn Strategy> {
    if !resource.is_storage_version() {
        if let Some((_, strategy)) =
            version_table().get(&(resource.group, resource.version, resource.kind))
        {
            return Arc::clone(strategy);
        }
    }
    let found = {
        let t = match table().read() {
            Ok(t) => t,
            Err(poisoned) => poisoned.into_inner(),
        };
        t.get(resource.group)
            .and_then(|kinds| kinds.get(resource.kind))
            .cloned()
    };
    found
        .or_else(|| crate::apiextensions::strategy_for(resource))
        .unwrap_or_else(|| {
            static UNSTRUCTURED: OnceLock<Arc<dyn Strategy>> = OnceLock::new();
            Arc::clone(UNSTRUCTURED.get_or_init(|| Arc::new(Unstructured)))
        })
}

/// Registers (or replaces) the strategy of a kind at runtime; returns the one
/// it replaced.
pub fn register(group: &str, kind: &str, strategy: Arc<dyn Strategy>) -> Option<Arc<dyn Strategy>> {
    let mut t = match table().write() {
        Ok(t) => t,
        Err(poisoned) => poisoned.into_inner(),
    };
    t.entry(group.to_string())
        .or_default()
        .insert(kind.to_string(), strategy)
}

/// Whether a kind keeps its desired state outside `spec` (ConfigMaps, Secrets,
/// ...): then every top-level field but `metadata` and `status` is "spec".
fn desired_state(obj: &Value) -> Value {
    match obj.get("spec") {
        Some(spec) => spec.clone(),
        None => {
            let mut copy = obj.clone();
            if let Some(m) = copy.as_object_mut() {
                m.remove("metadata");
                m.remove("status");
                m.remove("kind");
                m.remove("apiVersion");
            }
            copy
        }
    }
}

/// The built-in kinds whose objects carry a `metadata.generation`, by
/// storage group and kind: those whose upstream strategies set it (the
/// kinds a controller or the kubelet reports an `observedGeneration` for,
/// and the admission configuration). Every custom resource carries one too.
/// Other objects (ConfigMaps, Services, Events, ...) have none, as upstream:
/// a client comparing such an object before and after an update sees only
/// what it changed and the `resourceVersion`.
#[rustfmt::skip]
const GENERATION_KINDS: &[(&str, &str)] = &[
    ("", "Pod"), ("", "PodTemplate"), ("", "ReplicationController"),
    ("apps", "Deployment"), ("apps", "ReplicaSet"), ("apps", "DaemonSet"), ("apps", "StatefulSet"),
    ("batch", "Job"), ("batch", "CronJob"),
    ("policy", "PodDisruptionBudget"),
    ("discovery.k8s.io", "EndpointSlice"),
    ("scheduling.k8s.io", "PriorityClass"),
    ("networking.k8s.io", "Ingress"), ("networking.k8s.io", "IngressClass"), ("networking.k8s.io", "NetworkPolicy"),
    ("flowcontrol.apiserver.k8s.io", "FlowSchema"), ("flowcontrol.apiserver.k8s.io", "PriorityLevelConfiguration"),
    ("resource.k8s.io", "DeviceClass"), ("resource.k8s.io", "DeviceTaintRule"), ("resource.k8s.io", "ResourceSlice"),
    ("admissionregistration.k8s.io", "MutatingWebhookConfiguration"),
    ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration"),
    ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy"),
    ("admissionregistration.k8s.io", "ValidatingAdmissionPolicyBinding"),
    ("admissionregistration.k8s.io", "MutatingAdmissionPolicy"),
    ("admissionregistration.k8s.io", "MutatingAdmissionPolicyBinding"),
    ("apiextensions.k8s.io", "CustomResourceDefinition"),
];

/// Whether objects of `resource` carry a `metadata.generation` that goes
/// up with each change of their desired state (see [`GENERATION_KINDS`]).
pub fn tracks_generation(resource: &ResourceInfo) -> bool {
    let builtin = apimachinery::resources::RESOURCES
        .iter()
        .any(|r| r.group == resource.group && r.kind == resource.kind);
    !builtin
        || GENERATION_KINDS
            .iter()
            .any(|(g, k)| *g == resource.storage_group && *k == resource.kind)
}

/// Sets what the server owns on a new object and its initial status.
pub fn prepare_for_create(resource: &ResourceInfo, obj: &mut Value, uid: &str) {
    let now = now();
    let tracks_generation = tracks_generation(resource);
    let meta = meta_mut(obj);
    meta.insert("uid".into(), json!(uid));
    meta.insert("creationTimestamp".into(), json!(now));
    if tracks_generation {
        meta.insert("generation".into(), json!(1));
    } else {
        meta.remove("generation");
    }
    meta.remove("resourceVersion");
    meta.remove("deletionTimestamp");
    meta.remove("deletionGracePeriodSeconds");
    if meta.get("labels").is_some_and(Value::is_null) {
        meta.remove("labels");
    }
    if meta.get("annotations").is_some_and(Value::is_null) {
        meta.remove("annotations");
    }
    let Some(map) = obj.as_object_mut() else {
        return;
    };
    map.insert("apiVersion".into(), Value::String(resource.api_version()));
    map.insert("kind".into(), Value::String(resource.kind.into()));
    strategy_for(resource).prepare_for_create(obj, uid);
}

/// Carries over from `old` what a client cannot change through the main
/// resource, and bumps `generation` when the desired state changed.
pub fn prepare_for_update(resource: &ResourceInfo, new: &mut Value, old: &Value) {
    let old_meta = old.get("metadata").cloned().unwrap_or_else(|| json!({}));
    {
        let meta = meta_mut(new);
        for field in [
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
        ] {
            match old_meta.get(field) {
                Some(v) => {
                    meta.insert(field.into(), v.clone());
                }
                None => {
                    meta.remove(field);
                }
            }
        }
    }
    if let Some(map) = new.as_object_mut() {
        map.insert("apiVersion".into(), Value::String(resource.api_version()));
        map.insert("kind".into(), Value::String(resource.kind.into()));
        if resource.has_subresource(Subresource::Status) {
            match old.get("status") {
                Some(s) => {
                    map.insert("status".into(), s.clone());
                }
                None => {
                    map.remove("status");
                }
            }
        }
    }
    strategy_for(resource).prepare_for_update(new, old);
    if tracks_generation(resource) && desired_state(new) != desired_state(old) {
        let generation = old_meta
            .get("generation")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        meta_mut(new).insert("generation".into(), json!(generation + 1));
    }
}

/// For `/status` writes that change nothing but `status` (custom resources,
/// and the kinds whose strategy keeps the stored metadata): the stored
/// object with only `status` taken from the request.
pub fn prepare_for_status_update(new: &Value, old: &Value) -> Value {
    let mut merged = old.clone();
    if let Some(map) = merged.as_object_mut() {
        match new.get("status") {
            Some(s) => {
                map.insert("status".into(), s.clone());
            }
            None => {
                map.remove("status");
            }
        }
    }
    merged
}

/// For `/status` writes of a built-in kind: `status` from the request and,
/// unless the kind keeps its stored metadata, the request's labels,
/// annotations, finalizers and owner references (what upstream's status
/// strategies let through: they reset `spec` only). The fields the system
/// owns stay as stored.
pub fn prepare_for_status_write(resource: &ResourceInfo, new: &Value, old: &Value) -> Value {
    let mut merged = prepare_for_status_update(new, old);
    let strategy = strategy_for(resource);
    if !strategy.status_keeps_metadata() {
        take_request_metadata(&mut merged, new);
    }
    strategy.prepare_for_status_update(&mut merged, old);
    merged
}

/// The metadata a subresource write takes from the request as upstream's
/// older status strategies do: labels, annotations, finalizers and owner
/// references.
fn take_request_metadata(merged: &mut Value, new: &Value) {
    let Some(new_meta) = new.get("metadata").and_then(Value::as_object) else {
        return;
    };
    let meta = meta_mut(merged);
    for field in ["labels", "annotations", "finalizers", "ownerReferences"] {
        match new_meta.get(field) {
            Some(v) => {
                meta.insert(field.into(), v.clone());
            }
            None => {
                meta.remove(field);
            }
        }
    }
}

/// For `/approval` writes (a CertificateSigningRequest's): the stored object
/// with `status.conditions`, the approval or denial, taken from the request,
/// and its labels, annotations, finalizers and owner references (upstream's
/// approval strategy resets only the spec and the rest of the status).
pub fn prepare_for_approval_update(new: &Value, old: &Value) -> Value {
    let mut merged = old.clone();
    take_request_metadata(&mut merged, new);
    let conditions = new
        .pointer("/status/conditions")
        .cloned()
        .unwrap_or(Value::Null);
    if let Some(map) = merged.as_object_mut() {
        let status = map.entry("status").or_insert_with(|| json!({}));
        if !status.is_object() {
            *status = json!({});
        }
        if let Some(status) = status.as_object_mut() {
            if conditions.is_null() {
                status.remove("conditions");
            } else {
                status.insert("conditions".into(), conditions);
            }
        }
    }
    merged
}

/// Decodes the object as its kind and applies the kind's defaults, in place.
/// `Err` is a message for a 400: the body does not decode as that kind.
pub fn apply_defaults(resource: &ResourceInfo, obj: &mut Value) -> Result<(), String> {
    let strategy = strategy_for(resource);
    strategy.normalize(obj)?;
    strategy.default(obj);
    Ok(())
}

/// Object name rules per resource: namespaces and services are DNS labels
/// (they become DNS names), most others DNS subdomains. Returns the problems.
pub fn validate_name(resource: &ResourceInfo, name: &str) -> Vec<String> {
    validation::name_problems(strategy_for(resource).name_rule(), name)
}

/// Validates a new object: `metadata`, then the kind's rules.
pub fn validate_create(resource: &ResourceInfo, obj: &Value) -> Vec<FieldError> {
    let mut errs = validate_object(resource, obj);
    if obj.is_object() {
        errs.extend(strategy_for(resource).validate_create(obj));
    }
    errs
}

/// The rules every version of an object follows: `metadata`, then the
/// kind's [`Strategy::validate`].
fn validate_object(resource: &ResourceInfo, obj: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if !obj.is_object() {
        errs.push(validation::invalid("", obj, "must be an object"));
        return errs;
    }
    let strategy = strategy_for(resource);
    validation::object_meta::validate_object_meta(obj, strategy.name_rule(), &mut errs);
    errs.extend(strategy.validate(obj));
    errs
}

/// Validates an update of `old` into `new`: the rules of every object, then
/// the kind's rules for changes.
pub fn validate_update(resource: &ResourceInfo, new: &Value, old: &Value) -> Vec<FieldError> {
    let mut errs = validate_object(resource, new);
    errs.extend(strategy_for(resource).validate_update(new, old));
    errs
}

/// Validates a write through subresource `sub` that has rules of its own
/// (a pod's `ephemeralcontainers`): `None` when it follows the main
/// resource's.
pub fn validate_subresource_update(
    resource: &ResourceInfo,
    sub: Subresource,
    new: &Value,
    old: &Value,
) -> Option<Vec<FieldError>> {
    let own = strategy_for(resource).validate_subresource_update(sub, new, old)?;
    let mut errs = validate_object(resource, new);
    errs.extend(own);
    Some(errs)
}

/// Checks the parts of an update that are the same for every kind: name,
/// namespace and uid cannot change, and a resourceVersion, when given, must be
/// the stored one.
pub fn validate_identity(
    resource: &ResourceInfo,
    new: &Value,
    old: &Value,
) -> Result<(), ApiError> {
    let mut causes = Vec::new();
    for field in ["name", "namespace"] {
        let n = meta_str(new, field).unwrap_or("");
        let o = meta_str(old, field).unwrap_or("");
        if n != o && !(field == "namespace" && n.is_empty()) {
            causes.push(FieldError {
                kind: FieldErrorKind::Invalid,
                field: format!("metadata.{field}"),
                message: format!("Invalid value: {n:?}: field is immutable"),
            });
        }
    }
    if let Some(uid) = meta_str(new, "uid") {
        if !uid.is_empty() && Some(uid) != meta_str(old, "uid") {
            causes.push(FieldError {
                kind: FieldErrorKind::Invalid,
                field: "metadata.uid".into(),
                message: format!("Invalid value: {uid:?}: field is immutable"),
            });
        }
    }
    if causes.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Invalid {
            kind: resource.kind.into(),
            group: resource.group.into(),
            name: meta_str(old, "name").unwrap_or("").into(),
            causes,
        })
    }
}

#[cfg(test)]
mod tests;
