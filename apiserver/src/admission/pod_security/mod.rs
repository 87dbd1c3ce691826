//! Pod Security admission (upstream's `PodSecurity` plug-in,
//! `pod-security-admission/admission`): the Pod Security Standards applied
//! per namespace.
//!
//! A namespace's labels ([`policy`]) choose a level (`privileged`,
//! `baseline`, `restricted`) and a version of the standards for three
//! modes; [`checks`] holds the standards themselves. In the validating
//! phase, before the admission policies and webhooks:
//!
//! - a **Pod** create or update (not its subresources, and on update only
//!   when an image or the set of containers changed) is refused with 403
//!   `violates PodSecurity "restricted:latest": ...` when it fails the
//!   `enforce` level; failing `warn` adds a `Warning:` to the response,
//!   failing `audit` an audit annotation;
//! - a **workload** (Deployment, ReplicaSet, StatefulSet, DaemonSet, Job,
//!   CronJob, ReplicationController, PodTemplate) gets `warn` and `audit`
//!   for its pod template, never `enforce`: its pods are checked when
//!   they are created;
//! - a **Namespace** whose labels are invalid is refused (422); setting a
//!   stricter `enforce` warns about the existing pods that would fail it.
//!
//! Exemptions (users, namespaces, runtime classes) and the defaults come
//! from [`config`]. Audit annotations are handed to the request
//! ([`Outcome::annotations`]) for the audit log.

pub mod checks;
pub mod config;
pub mod policy;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

pub use config::Configuration;
pub use policy::{Level, LevelVersion, Policy, Version};

use super::webhook::{Attributes, Operation};
use crate::errors::ApiError;
use crate::validation::FieldError;
use crate::ApiServer;

/// The plug-in's name for `--disable-admission-plugins`.
pub const PLUGIN_NAME: &str = "PodSecurity";

/// At most this many existing pods are checked when a namespace's enforce
/// level is raised (upstream's limit).
const NAMESPACE_MAX_PODS: usize = 3000;

/// How long that check may take (upstream's).
const NAMESPACE_POD_CHECK_TIMEOUT: Duration = Duration::from_secs(1);

/// What an admitted request gets: warnings for the client and annotations
/// for the audit log (`pod-security.kubernetes.io/<key>`).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// `Warning:` headers.
    pub warnings: Vec<String>,
    /// Audit annotations, keyed with the `pod-security.kubernetes.io/` prefix.
    pub annotations: BTreeMap<String, String>,
}

impl Outcome {
    fn annotate(&mut self, key: &str, value: String) {
        self.annotations
            .insert(format!("{}{key}", policy::LABEL_PREFIX), value);
    }

    fn exempt(why: &str) -> Outcome {
        let mut o = Outcome::default();
        o.annotate("exempt", why.into());
        o
    }
}

/// The workload kinds whose pod template is checked, and where it is.
fn pod_template(group: &str, plural: &str) -> Option<&'static str> {
    match (group, plural) {
        ("", "podtemplates") => Some("/template"),
        ("", "replicationcontrollers")
        | ("apps", "deployments" | "replicasets" | "statefulsets" | "daemonsets")
        | ("batch", "jobs") => Some("/spec/template"),
        ("batch", "cronjobs") => Some("/spec/jobTemplate/spec/template"),
        _ => None,
    }
}

/// The validating-phase entry point (see the module docs): `obj` is the new
/// object, `old` the stored one on an update.
pub async fn validate(
    server: &ApiServer,
    attrs: &Attributes<'_>,
    obj: &Value,
    old: Option<&Value>,
) -> Result<Outcome, ApiError> {
    if server.config.admission.disabled(PLUGIN_NAME)
        || !matches!(attrs.operation, Operation::Create | Operation::Update)
    {
        return Ok(Outcome::default());
    }
    let admission = Admission {
        config: &server.config.pod_security,
    };
    let resource = attrs.resource;
    match (resource.group, resource.plural) {
        ("", "namespaces") => admission.namespace(server, attrs, obj, old).await,
        ("", "pods") => admission.pod(server, attrs, obj, old).await,
        (group, plural) => match pod_template(group, plural) {
            Some(at) => admission.workload(server, attrs, obj, at).await,
            None => Ok(Outcome::default()),
        },
    }
}

/// The labels of the namespace `name`.
async fn namespace_labels(server: &ApiServer, name: &str) -> Result<Map<String, Value>, String> {
    match server.lookup("", "namespaces", "", name).await {
        Ok(Some(ns)) => Ok(labels_of(&ns.object)),
        Ok(None) => Err(format!("namespaces \"{name}\" not found")),
        Err(e) => Err(e.to_string()),
    }
}

fn labels_of(obj: &Value) -> Map<String, Value> {
    obj.pointer("/metadata/labels")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

/// The configured plug-in, deciding one request.
struct Admission<'a> {
    config: &'a Configuration,
}

impl Admission<'_> {
    fn exempt_namespace(&self, namespace: &str) -> bool {
        !namespace.is_empty()
            && self
                .config
                .exemptions
                .namespaces
                .iter()
                .any(|n| n == namespace)
    }

    fn exempt_user(&self, user: &str) -> bool {
        !user.is_empty() && self.config.exemptions.usernames.iter().any(|u| u == user)
    }

    fn exempt_runtime_class(&self, spec: &Value) -> bool {
        let class = spec
            .get("runtimeClassName")
            .and_then(Value::as_str)
            .unwrap_or("");
        !class.is_empty()
            && self
                .config
                .exemptions
                .runtime_classes
                .iter()
                .any(|c| c == class)
    }

    /// Upstream's namespace and user exemptions of a pod or workload request.
    fn exempt_request(&self, attrs: &Attributes<'_>) -> Option<Outcome> {
        if self.exempt_namespace(&attrs.namespace) {
            return Some(Outcome::exempt("namespace"));
        }
        if self.exempt_user(&attrs.user.username) {
            return Some(Outcome::exempt("user"));
        }
        None
    }

    fn policy(&self, labels: &Map<String, Value>) -> (Policy, Vec<FieldError>) {
        Policy::from_labels(labels, &self.config.defaults)
    }

    async fn namespace(
        &self,
        server: &ApiServer,
        attrs: &Attributes<'_>,
        obj: &Value,
        old: Option<&Value>,
    ) -> Result<Outcome, ApiError> {
        if !attrs.subresource.is_empty() {
            return Ok(Outcome::default());
        }
        let name = obj
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let labels = labels_of(obj);
        let (new_policy, new_errors) = self.policy(&labels);
        let invalid = |causes: Vec<FieldError>| ApiError::Invalid {
            kind: "Namespace".into(),
            group: String::new(),
            name: name.to_string(),
            causes,
        };
        let exempt_warning = || self.exempt_namespace_warning(name, &new_policy, &labels);
        let Some(old) = old else {
            if !new_errors.is_empty() {
                return Err(invalid(new_errors));
            }
            let mut outcome = Outcome::default();
            if self.exempt_namespace(&attrs.namespace) {
                outcome.warnings.extend(exempt_warning());
            }
            return Ok(outcome);
        };
        let (old_policy, old_errors) = self.policy(&labels_of(old));
        let texts = |e: &[FieldError]| e.iter().map(ToString::to_string).collect::<Vec<_>>();
        if !new_errors.is_empty()
            && (old_errors.is_empty() || texts(&new_errors) != texts(&old_errors))
        {
            return Err(invalid(new_errors));
        }
        let (new, old) = (new_policy.enforce, old_policy.enforce);
        if new == old
            || new.level == Level::Privileged
            || (new.version == old.version && new.level <= old.level)
        {
            return Ok(Outcome::default());
        }
        if self.exempt_namespace(&attrs.namespace) {
            return Ok(Outcome {
                warnings: exempt_warning().into_iter().collect(),
                ..Outcome::default()
            });
        }
        Ok(Outcome {
            warnings: self.existing_pods(server, name, new).await,
            ..Outcome::default()
        })
    }

    /// Upstream's warning that an exempt namespace's labels are ignored.
    fn exempt_namespace_warning(
        &self,
        namespace: &str,
        policy: &Policy,
        labels: &Map<String, Value>,
    ) -> Option<String> {
        if policy.fully_privileged() || policy.equivalent(&self.config.defaults) {
            return None;
        }
        let has = |mode: &str| {
            labels.contains_key(&format!("{}{mode}", policy::LABEL_PREFIX))
                || labels.contains_key(&format!("{}{mode}-version", policy::LABEL_PREFIX))
        };
        let parts: Vec<String> = [
            ("enforce", policy.enforce),
            ("audit", policy.audit),
            ("warn", policy.warn),
        ]
        .into_iter()
        .filter(|(mode, lv)| lv.level != Level::Privileged && has(mode))
        .map(|(mode, lv)| format!("{mode}={lv}"))
        .collect();
        Some(format!(
            "namespace \"{namespace}\" is exempt from Pod Security, and the policy ({}) will be ignored",
            parts.join(", ")
        ))
    }

    /// Warnings about the namespace's pods that fail a new enforce level.
    async fn existing_pods(
        &self,
        server: &ApiServer,
        namespace: &str,
        enforce: LevelVersion,
    ) -> Vec<String> {
        let prefix = server.store.collection_prefix("pods", Some(namespace));
        let pods: Vec<Value> = match server.store.list(&prefix, None, 0, 0).await {
            Ok(page) => page.items.into_iter().map(|(_, o)| o.object).collect(),
            Err(_) => {
                return vec![
                    "failed to list pods while checking new PodSecurity enforce level".into(),
                ]
            }
        };
        let pods = self.prioritize(pods);
        let total = pods.len();
        let deadline = Instant::now() + NAMESPACE_POD_CHECK_TIMEOUT;
        // Per distinct set of reasons: the first pod (by name) and the count.
        let mut seen: HashMap<String, (String, usize)> = HashMap::new();
        let mut order = Vec::new();
        let mut checked = 0;
        for pod in pods.iter().take(NAMESPACE_MAX_PODS) {
            checked += 1;
            let empty = Value::Null;
            let violations = checks::evaluate(
                enforce,
                pod.get("metadata").unwrap_or(&empty),
                pod.get("spec").unwrap_or(&empty),
            );
            if !violations.is_empty() {
                let warning = checks::reasons(&violations);
                let pod_name = pod
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                match seen.get_mut(&warning) {
                    Some((first, count)) => {
                        if pod_name < *first {
                            *first = pod_name;
                        }
                        *count += 1;
                    }
                    None => {
                        order.push(warning.clone());
                        seen.insert(warning, (pod_name, 1));
                    }
                }
            }
            if Instant::now() > deadline {
                break;
            }
        }
        let mut warnings = Vec::new();
        if checked < total {
            warnings.push(format!(
                "new PodSecurity enforce level only checked against the first {checked} of {total} existing pods"
            ));
        }
        if !order.is_empty() {
            warnings.push(format!(
                "existing pods in namespace \"{namespace}\" violate the new PodSecurity enforce level \"{enforce}\""
            ));
        }
        let mut pod_warnings: Vec<String> = order
            .into_iter()
            .map(|w| {
                let (first, count) = seen.get(&w).cloned().unwrap_or_default();
                match count {
                    1 => format!("{first}: {w}"),
                    2 => format!("{first} (and 1 other pod): {w}"),
                    n => format!("{first} (and {} other pods): {w}", n - 1),
                }
            })
            .collect();
        pod_warnings.sort();
        warnings.extend(pod_warnings);
        warnings
    }

    /// Pods without a controller and the first pod of each controller
    /// first, the other replicas after (upstream's order); pods of an
    /// exempt runtime class are left out.
    fn prioritize(&self, pods: Vec<Value>) -> Vec<Value> {
        let mut first = Vec::new();
        let mut rest = Vec::new();
        let mut controllers = HashSet::new();
        for pod in pods {
            if self.exempt_runtime_class(pod.get("spec").unwrap_or(&Value::Null)) {
                continue;
            }
            let controller = pod
                .pointer("/metadata/ownerReferences")
                .and_then(Value::as_array)
                .and_then(|refs| {
                    refs.iter()
                        .find(|r| r.get("controller").and_then(Value::as_bool) == Some(true))
                })
                .and_then(|r| r.get("uid").and_then(Value::as_str))
                .map(str::to_string);
            let repeated = controller.is_some_and(|uid| !controllers.insert(uid));
            if repeated {
                rest.push(pod);
            } else {
                first.push(pod);
            }
        }
        first.extend(rest);
        first
    }

    async fn pod(
        &self,
        server: &ApiServer,
        attrs: &Attributes<'_>,
        obj: &Value,
        old: Option<&Value>,
    ) -> Result<Outcome, ApiError> {
        // Upstream checks the pod itself and its ephemeralcontainers and
        // resize subresources; status, binding, eviction and the connect
        // subresources change nothing it checks.
        if !matches!(attrs.subresource, "" | "ephemeralcontainers" | "resize") {
            return Ok(Outcome::default());
        }
        if let Some(exempt) = self.exempt_request(attrs) {
            return Ok(exempt);
        }
        let labels = namespace_labels(server, &attrs.namespace)
            .await
            .map_err(|e| {
                ApiError::Internal(format!(
                    "failed to lookup namespace \"{}\": {e}",
                    attrs.namespace
                ))
            })?;
        let (policy, errors) = self.policy(&labels);
        if errors.is_empty() && policy.fully_privileged() {
            let mut o = Outcome::default();
            o.annotate("enforce-policy", LevelVersion::PRIVILEGED.to_string());
            return Ok(o);
        }
        if let Some(old) = old {
            if !significant_update(obj, old) {
                return Ok(Outcome::default());
            }
        }
        self.evaluate(&policy, &errors, obj, true)
            .map_err(|why| super::pod_forbidden(obj, why))
    }

    async fn workload(
        &self,
        server: &ApiServer,
        attrs: &Attributes<'_>,
        obj: &Value,
        template_at: &str,
    ) -> Result<Outcome, ApiError> {
        if !attrs.subresource.is_empty() {
            return Ok(Outcome::default());
        }
        if let Some(exempt) = self.exempt_request(attrs) {
            return Ok(exempt);
        }
        let labels = match namespace_labels(server, &attrs.namespace).await {
            Ok(l) => l,
            Err(e) => {
                let mut o = Outcome::default();
                o.annotations.insert(
                    "error".into(),
                    format!("failed to lookup namespace \"{}\": {e}", attrs.namespace),
                );
                return Ok(o);
            }
        };
        let (policy, errors) = self.policy(&labels);
        if errors.is_empty()
            && policy.warn.level == Level::Privileged
            && policy.audit.level == Level::Privileged
        {
            return Ok(Outcome::default());
        }
        let Some(template) = obj.pointer(template_at).filter(|t| !t.is_null()) else {
            return Ok(Outcome::default());
        };
        self.evaluate(&policy, &errors, template, false)
            .map_err(ApiError::Internal)
    }

    /// Upstream's `EvaluatePod` of a pod or pod template (its `metadata`
    /// and `spec`): enforce (when `enforce`), then audit, then warn; `Err`
    /// is the reason of a refusal.
    fn evaluate(
        &self,
        policy: &Policy,
        errors: &[FieldError],
        pod: &Value,
        enforce: bool,
    ) -> Result<Outcome, String> {
        let empty = Value::Null;
        let meta = pod.get("metadata").unwrap_or(&empty);
        let spec = pod.get("spec").unwrap_or(&empty);
        if self.exempt_runtime_class(spec) {
            return Ok(Outcome::exempt("runtimeClass"));
        }
        let mut outcome = Outcome::default();
        if !errors.is_empty() {
            let texts: Vec<String> = errors.iter().map(ToString::to_string).collect();
            let text = if texts.len() == 1 {
                texts[0].clone()
            } else {
                format!("[{}]", texts.join(", "))
            };
            outcome
                .annotations
                .insert("error".into(), format!("Failed to parse policy: {text}"));
        }
        let mut cache: HashMap<LevelVersion, Vec<checks::Violation>> = HashMap::new();
        let mut results = |lv: LevelVersion| {
            cache
                .entry(lv)
                .or_insert_with(|| checks::evaluate(lv, meta, spec))
                .clone()
        };
        if enforce {
            outcome.annotate("enforce-policy", policy.enforce.to_string());
            let failed = results(policy.enforce);
            if !failed.is_empty() {
                return Err(format!(
                    "violates PodSecurity \"{}\": {}",
                    policy.enforce,
                    checks::describe(&failed)
                ));
            }
        }
        let failed = results(policy.audit);
        if !failed.is_empty() {
            outcome.annotate(
                "audit-violations",
                format!(
                    "would violate PodSecurity \"{}\": {}",
                    policy.audit,
                    checks::describe(&failed)
                ),
            );
        }
        let failed = results(policy.warn);
        if !failed.is_empty() {
            outcome.warnings.push(format!(
                "would violate PodSecurity \"{}\": {}",
                policy.warn,
                checks::describe(&failed)
            ));
        }
        Ok(outcome)
    }
}

/// Whether a pod update can change what the checks see: upstream re-checks
/// only when the containers' number or images change or an ephemeral
/// container is added or changed (the rest of a pod's spec is immutable
/// or irrelevant).
fn significant_update(pod: &Value, old: &Value) -> bool {
    let list = |v: &Value, field: &str| -> Vec<Value> {
        v.pointer(&format!("/spec/{field}"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let image = |c: &Value| c.get("image").cloned().unwrap_or(Value::Null);
    for field in ["containers", "initContainers"] {
        let (new, old) = (list(pod, field), list(old, field));
        if new.len() != old.len() || new.iter().zip(&old).any(|(a, b)| image(a) != image(b)) {
            return true;
        }
    }
    let old_ephemeral = list(old, "ephemeralContainers");
    list(pod, "ephemeralContainers").iter().any(|c| {
        match old_ephemeral
            .iter()
            .find(|o| o.get("name") == c.get("name"))
        {
            None => true,
            Some(o) => image(o) != image(c),
        }
    })
}

#[cfg(test)]
mod tests;
