//! A pod as the scheduler sees it: the object plus everything derived from it
//! once (requests, host ports, compiled affinity terms), so that filtering a
//! thousand nodes never re-parses a quantity or a label selector.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use apimachinery::labels::Selector;
use k8s_openapi::api::core::v1::{Pod, PodAffinityTerm, WeightedPodAffinityTerm};

use super::resources::{pod_non_zero_requests, pod_requests, Resource};

/// Labels of every namespace, for affinity terms with a `namespaceSelector`.
pub type NamespaceLabels = HashMap<String, BTreeMap<String, String>>;

static NO_LABELS: BTreeMap<String, String> = BTreeMap::new();

/// A `hostPort` a pod uses on its node.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HostPort {
    /// `hostIP` (`0.0.0.0` when unset).
    pub ip: String,
    /// TCP, UDP or SCTP.
    pub protocol: String,
    /// The port.
    pub port: i32,
}

impl HostPort {
    /// Whether two host ports clash: same protocol and port, and the same IP
    /// or one of them is the wildcard.
    pub fn conflicts(&self, other: &HostPort) -> bool {
        self.port == other.port
            && self.protocol == other.protocol
            && (self.ip == other.ip || self.ip == "0.0.0.0" || other.ip == "0.0.0.0")
    }
}

/// A compiled (anti-)affinity term: which pods it selects and the topology
/// key that defines "the same place".
#[derive(Debug, Clone)]
pub struct AffinityTerm {
    /// Pods selected by labels.
    pub selector: Selector,
    /// Explicit namespaces (the pod's own when neither this nor a
    /// namespace selector is given).
    pub namespaces: BTreeSet<String>,
    /// Namespaces selected by labels (`{}` = all namespaces).
    pub namespace_selector: Option<Selector>,
    /// The node label whose value names the topology domain.
    pub topology_key: String,
}

impl AffinityTerm {
    fn compile(pod_namespace: &str, term: &PodAffinityTerm) -> AffinityTerm {
        let selector = match &term.label_selector {
            Some(s) => serde_json::to_value(s)
                .ok()
                .and_then(|v| Selector::from_label_selector_json(&v).ok())
                .unwrap_or_else(Selector::nothing),
            None => Selector::nothing(),
        };
        let namespace_selector = term.namespace_selector.as_ref().map(|s| {
            serde_json::to_value(s)
                .ok()
                .and_then(|v| Selector::from_label_selector_json(&v).ok())
                .unwrap_or_else(Selector::nothing)
        });
        let mut namespaces: BTreeSet<String> = term.namespaces.iter().flatten().cloned().collect();
        if namespaces.is_empty() && namespace_selector.is_none() {
            namespaces.insert(pod_namespace.to_string());
        }
        AffinityTerm {
            selector,
            namespaces,
            namespace_selector,
            topology_key: term.topology_key.clone(),
        }
    }

    /// Whether this term selects `pod`.
    pub fn matches(&self, pod: &PodInfo, ns_labels: &NamespaceLabels) -> bool {
        let ns_ok = self.namespaces.contains(&pod.namespace)
            || self
                .namespace_selector
                .as_ref()
                .is_some_and(|s| s.matches(ns_labels.get(&pod.namespace).unwrap_or(&NO_LABELS)));
        ns_ok && self.selector.matches(pod.labels())
    }
}

/// A preferred term with its weight (1-100).
#[derive(Debug, Clone)]
pub struct WeightedTerm {
    /// The term.
    pub term: AffinityTerm,
    /// Its weight.
    pub weight: i64,
}

/// A pod with its derived scheduling facts.
#[derive(Debug, Clone)]
pub struct PodInfo {
    /// The object.
    pub pod: Arc<Pod>,
    /// `namespace/name`.
    pub key: String,
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// UID.
    pub uid: String,
    /// `spec.priority` (0 when unset).
    pub priority: i32,
    /// What it requests (see [`pod_requests`]).
    pub requests: Resource,
    /// CPU (millicores) and memory it counts for when scoring.
    pub non_zero: (i64, i64),
    /// Host ports it binds.
    pub host_ports: Vec<HostPort>,
    /// `requiredDuringScheduling` pod affinity.
    pub required_affinity: Vec<AffinityTerm>,
    /// `requiredDuringScheduling` pod anti-affinity.
    pub required_anti_affinity: Vec<AffinityTerm>,
    /// `preferredDuringScheduling` pod affinity.
    pub preferred_affinity: Vec<WeightedTerm>,
    /// `preferredDuringScheduling` pod anti-affinity.
    pub preferred_anti_affinity: Vec<WeightedTerm>,
}

impl PodInfo {
    /// Derives everything from the object.
    pub fn new(pod: Arc<Pod>) -> PodInfo {
        let namespace = pod.metadata.namespace.clone().unwrap_or_default();
        let name = pod.metadata.name.clone().unwrap_or_default();
        let spec = pod.spec.as_ref();
        let mut host_ports = Vec::new();
        for c in spec.map(|s| s.containers.iter()).into_iter().flatten() {
            for p in c.ports.iter().flatten() {
                if let Some(hp) = p.host_port.filter(|hp| *hp > 0) {
                    host_ports.push(HostPort {
                        ip: p
                            .host_ip
                            .clone()
                            .filter(|ip| !ip.is_empty())
                            .unwrap_or_else(|| "0.0.0.0".into()),
                        protocol: p.protocol.clone().unwrap_or_else(|| "TCP".into()),
                        port: hp,
                    });
                }
            }
        }
        let affinity = spec.and_then(|s| s.affinity.as_ref());
        let pa = affinity.and_then(|a| a.pod_affinity.as_ref());
        let paa = affinity.and_then(|a| a.pod_anti_affinity.as_ref());
        let required = |terms: Option<&Vec<PodAffinityTerm>>| -> Vec<AffinityTerm> {
            terms
                .into_iter()
                .flatten()
                .map(|t| AffinityTerm::compile(&namespace, t))
                .collect()
        };
        let preferred = |terms: Option<&Vec<WeightedPodAffinityTerm>>| -> Vec<WeightedTerm> {
            terms
                .into_iter()
                .flatten()
                .map(|t| WeightedTerm {
                    term: AffinityTerm::compile(&namespace, &t.pod_affinity_term),
                    weight: i64::from(t.weight),
                })
                .collect()
        };
        let required_affinity = required(pa.and_then(|a| {
            a.required_during_scheduling_ignored_during_execution
                .as_ref()
        }));
        let required_anti_affinity = required(paa.and_then(|a| {
            a.required_during_scheduling_ignored_during_execution
                .as_ref()
        }));
        let preferred_affinity = preferred(pa.and_then(|a| {
            a.preferred_during_scheduling_ignored_during_execution
                .as_ref()
        }));
        let preferred_anti_affinity = preferred(paa.and_then(|a| {
            a.preferred_during_scheduling_ignored_during_execution
                .as_ref()
        }));
        PodInfo {
            key: format!("{namespace}/{name}"),
            uid: pod.metadata.uid.clone().unwrap_or_default(),
            priority: spec.and_then(|s| s.priority).unwrap_or(0),
            requests: pod_requests(&pod),
            non_zero: pod_non_zero_requests(&pod),
            host_ports,
            required_affinity,
            required_anti_affinity,
            preferred_affinity,
            preferred_anti_affinity,
            namespace,
            name,
            pod,
        }
    }

    /// The pod's labels.
    pub fn labels(&self) -> &BTreeMap<String, String> {
        self.pod.metadata.labels.as_ref().unwrap_or(&NO_LABELS)
    }

    /// `spec.nodeName`, if bound (or assumed).
    pub fn node_name(&self) -> Option<&str> {
        self.pod
            .spec
            .as_ref()
            .and_then(|s| s.node_name.as_deref())
            .filter(|n| !n.is_empty())
    }

    /// Whether it has any pod affinity or anti-affinity term.
    pub fn has_affinity(&self) -> bool {
        !(self.required_affinity.is_empty()
            && self.required_anti_affinity.is_empty()
            && self.preferred_affinity.is_empty()
            && self.preferred_anti_affinity.is_empty())
    }

    /// Whether it is being deleted.
    pub fn terminating(&self) -> bool {
        self.pod.metadata.deletion_timestamp.is_some()
    }
}

/// Key of a pod object.
pub fn pod_key(pod: &Pod) -> String {
    format!(
        "{}/{}",
        pod.metadata.namespace.as_deref().unwrap_or(""),
        pod.metadata.name.as_deref().unwrap_or("")
    )
}
