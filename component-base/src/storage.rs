//! What the components that bind, provision and mount persistent volumes
//! share, as upstream's `k8s.io/component-helpers/storage/volume`: the
//! annotations they talk through, the class of a claim or volume, whether a
//! volume satisfies a claim, which volume a claim should get and whether a
//! volume's node affinity allows a node.
//!
//! The life of a claim goes through three components, who only ever talk
//! through the objects:
//!
//! 1. the scheduler picks a node for a pod whose claim waits for its first
//!    consumer and writes [`ANN_SELECTED_NODE`] on the claim;
//! 2. the PersistentVolume controller (controller-manager) binds claims to
//!    volumes, or asks a provisioner for one with
//!    [`ANN_STORAGE_PROVISIONER`];
//! 3. the provisioner (for [`LOCAL_PATH_PROVISIONER`], the kubelet of the
//!    selected node) creates the volume, with [`ANN_PROVISIONED_BY`], and
//!    deletes it again once it is `Released` with reclaim policy `Delete`.

use std::collections::BTreeMap;

use apimachinery::labels::Selector;
use apimachinery::quantity::Quantity;
use k8s_openapi::api::core::v1::{
    NodeSelectorRequirement, NodeSelectorTerm, ObjectReference, PersistentVolume,
    PersistentVolumeClaim, Pod,
};
use k8s_openapi::api::storage::v1::StorageClass;

/// On a claim: the binding is complete (set by the controller).
pub const ANN_BIND_COMPLETED: &str = "pv.kubernetes.io/bind-completed";
/// On a claim or volume: the controller (not a user) made the binding.
pub const ANN_BOUND_BY_CONTROLLER: &str = "pv.kubernetes.io/bound-by-controller";
/// On a claim: the node the scheduler picked for its first consumer.
pub const ANN_SELECTED_NODE: &str = "volume.kubernetes.io/selected-node";
/// On a volume: the provisioner that created it.
pub const ANN_PROVISIONED_BY: &str = "pv.kubernetes.io/provisioned-by";
/// On a claim: the provisioner asked to create its volume.
pub const ANN_STORAGE_PROVISIONER: &str = "volume.kubernetes.io/storage-provisioner";
/// The same, under its older name (still written by upstream).
pub const ANN_BETA_STORAGE_PROVISIONER: &str = "volume.beta.kubernetes.io/storage-provisioner";
/// The class of a claim or volume, from before `storageClassName`.
pub const ANN_BETA_STORAGE_CLASS: &str = "volume.beta.kubernetes.io/storage-class";
/// The annotation that makes a StorageClass the default one.
pub const ANN_DEFAULT_CLASS: &str = "storageclass.kubernetes.io/is-default-class";
/// The provisioner that never provisions: volumes of such a class are made
/// by hand (upstream's convention for `local` volumes).
pub const NO_PROVISIONER: &str = "kubernetes.io/no-provisioner";
/// The built-in provisioner of node-local directories (the kubelet).
pub const LOCAL_PATH_PROVISIONER: &str = "minik8s.io/local-path";
/// The finalizer that keeps a claim while a pod uses it.
pub const PVC_PROTECTION_FINALIZER: &str = "kubernetes.io/pvc-protection";
/// The finalizer that keeps a volume while a claim is bound to it.
pub const PV_PROTECTION_FINALIZER: &str = "kubernetes.io/pv-protection";

fn annotation<'a>(annotations: Option<&'a BTreeMap<String, String>>, key: &str) -> Option<&'a str> {
    annotations.and_then(|a| a.get(key)).map(String::as_str)
}

/// The class a claim asks for (`""`: none), the beta annotation first.
pub fn claim_class(claim: &PersistentVolumeClaim) -> &str {
    annotation(claim.metadata.annotations.as_ref(), ANN_BETA_STORAGE_CLASS)
        .or_else(|| claim.spec.as_ref()?.storage_class_name.as_deref())
        .unwrap_or("")
}

/// The class a volume belongs to (`""`: none), the beta annotation first.
pub fn volume_class(volume: &PersistentVolume) -> &str {
    annotation(volume.metadata.annotations.as_ref(), ANN_BETA_STORAGE_CLASS)
        .or_else(|| volume.spec.as_ref()?.storage_class_name.as_deref())
        .unwrap_or("")
}

/// Whether an object carries the annotation (any value).
pub fn has_annotation(
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    key: &str,
) -> bool {
    annotation(meta.annotations.as_ref(), key).is_some()
}

/// The node the scheduler selected for a claim's first consumer.
pub fn selected_node(claim: &PersistentVolumeClaim) -> Option<&str> {
    annotation(claim.metadata.annotations.as_ref(), ANN_SELECTED_NODE).filter(|n| !n.is_empty())
}

/// Whether claims of the class wait for their first consumer
/// (`volumeBindingMode: WaitForFirstConsumer`).
pub fn is_delay_binding(class: Option<&StorageClass>) -> bool {
    class.and_then(|c| c.volume_binding_mode.as_deref()) == Some("WaitForFirstConsumer")
}

/// The storage a claim requests.
pub fn requested(claim: &PersistentVolumeClaim) -> Option<Quantity> {
    let q = claim
        .spec
        .as_ref()?
        .resources
        .as_ref()?
        .requests
        .as_ref()?
        .get("storage")?;
    Quantity::parse(&q.0).ok()
}

/// The storage a volume holds.
pub fn capacity(volume: &PersistentVolume) -> Option<Quantity> {
    let q = volume.spec.as_ref()?.capacity.as_ref()?.get("storage")?;
    Quantity::parse(&q.0).ok()
}

/// The `claimRef` that binds a volume to this claim.
pub fn claim_ref(claim: &PersistentVolumeClaim) -> ObjectReference {
    ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("PersistentVolumeClaim".into()),
        namespace: claim.metadata.namespace.clone(),
        name: claim.metadata.name.clone(),
        uid: claim.metadata.uid.clone(),
        resource_version: claim.metadata.resource_version.clone(),
        ..Default::default()
    }
}

/// The names of the claims a pod's `persistentVolumeClaim` volumes use.
pub fn pod_claim_names(pod: &Pod) -> impl Iterator<Item = &str> {
    pod.spec
        .as_ref()
        .and_then(|s| s.volumes.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|v| v.persistent_volume_claim.as_ref())
        .map(|c| c.claim_name.as_str())
}

/// Whether the volume's `claimRef` names this claim (and its uid, once the
/// binding wrote one): upstream's `IsVolumeBoundToClaim`.
pub fn is_volume_bound_to_claim(volume: &PersistentVolume, claim: &PersistentVolumeClaim) -> bool {
    let Some(r) = volume.spec.as_ref().and_then(|s| s.claim_ref.as_ref()) else {
        return false;
    };
    if r.name != claim.metadata.name || r.namespace != claim.metadata.namespace {
        return false;
    }
    match r.uid.as_deref().filter(|u| !u.is_empty()) {
        Some(uid) => claim.metadata.uid.as_deref() == Some(uid),
        None => true,
    }
}

fn volume_mode_of(mode: Option<&String>) -> &str {
    mode.map(String::as_str).unwrap_or("Filesystem")
}

/// Whether the volume offers every access mode the claim asks for.
pub fn access_modes_fit(claim: &PersistentVolumeClaim, volume: &PersistentVolume) -> bool {
    let offered = volume
        .spec
        .as_ref()
        .and_then(|s| s.access_modes.as_deref())
        .unwrap_or(&[]);
    claim
        .spec
        .as_ref()
        .and_then(|s| s.access_modes.as_deref())
        .unwrap_or(&[])
        .iter()
        .all(|m| offered.contains(m))
}

/// Why the volume cannot serve the claim, in upstream's words
/// (`checkVolumeSatisfyClaim`), or `Ok` when it can.
pub fn check_volume_satisfies_claim(
    volume: &PersistentVolume,
    claim: &PersistentVolumeClaim,
) -> Result<(), String> {
    let want = requested(claim).unwrap_or(Quantity::ZERO);
    let have = capacity(volume).unwrap_or(Quantity::ZERO);
    if have < want {
        return Err("requested PV is too small".into());
    }
    if volume_class(volume) != claim_class(claim) {
        return Err("storageClassName does not match".into());
    }
    let claim_mode = volume_mode_of(claim.spec.as_ref().and_then(|s| s.volume_mode.as_ref()));
    let volume_mode = volume_mode_of(volume.spec.as_ref().and_then(|s| s.volume_mode.as_ref()));
    if claim_mode != volume_mode {
        return Err("incompatible volumeMode".into());
    }
    if !access_modes_fit(claim, volume) {
        return Err("incompatible accessMode".into());
    }
    Ok(())
}

fn requirement_matches(r: &NodeSelectorRequirement, labels: &BTreeMap<String, String>) -> bool {
    let values = r.values.as_deref().unwrap_or(&[]);
    let v = labels.get(&r.key);
    match r.operator.as_str() {
        "In" => v.is_some_and(|v| values.contains(v)),
        "NotIn" => v.is_none_or(|v| !values.contains(v)),
        "Exists" => v.is_some(),
        "DoesNotExist" => v.is_none(),
        "Gt" | "Lt" => match (
            v.and_then(|v| v.parse::<i64>().ok()),
            values.first().and_then(|b| b.parse::<i64>().ok()),
        ) {
            (Some(v), Some(bound)) if r.operator == "Gt" => v > bound,
            (Some(v), Some(bound)) => v < bound,
            _ => false,
        },
        _ => false,
    }
}

/// Whether a node selector term holds for a node's name and labels (an
/// empty term matches nothing, as upstream's `MatchNodeSelectorTerms`);
/// the scheduler's node affinity uses it too.
pub fn term_matches(
    term: &NodeSelectorTerm,
    name: &str,
    labels: &BTreeMap<String, String>,
) -> bool {
    let exprs = term.match_expressions.as_deref().unwrap_or(&[]);
    let fields = term.match_fields.as_deref().unwrap_or(&[]);
    if exprs.is_empty() && fields.is_empty() {
        return false;
    }
    exprs.iter().all(|r| requirement_matches(r, labels))
        && fields.iter().all(|r| {
            r.key == "metadata.name"
                && requirement_matches(r, &BTreeMap::from([(r.key.clone(), name.to_string())]))
        })
}

/// Whether the volume may be used on the node: its `nodeAffinity`, if
/// any, holds for the node (upstream's `CheckNodeAffinity`).
pub fn node_affinity_allows(
    volume: &PersistentVolume,
    node_name: &str,
    labels: &BTreeMap<String, String>,
) -> bool {
    match volume
        .spec
        .as_ref()
        .and_then(|s| s.node_affinity.as_ref())
        .and_then(|a| a.required.as_ref())
    {
        Some(required) => required
            .node_selector_terms
            .iter()
            .any(|t| term_matches(t, node_name, labels)),
        None => true,
    }
}

/// The node a volume's affinity pins it to, when it names exactly one by
/// `kubernetes.io/hostname` (what the local-path provisioner writes).
pub fn pinned_node(volume: &PersistentVolume) -> Option<&str> {
    let terms = &volume
        .spec
        .as_ref()?
        .node_affinity
        .as_ref()?
        .required
        .as_ref()?
        .node_selector_terms;
    let [term] = terms.as_slice() else {
        return None;
    };
    let [req] = term.match_expressions.as_deref()? else {
        return None;
    };
    match (
        req.key.as_str(),
        req.operator.as_str(),
        req.values.as_deref(),
    ) {
        ("kubernetes.io/hostname", "In", Some([one])) => Some(one.as_str()),
        _ => None,
    }
}

/// Where a binding is looked for: the controller's (no node) or the
/// scheduler's (a candidate node, whose affinity and access modes count).
pub struct MatchNode<'a> {
    /// The node's name.
    pub name: &'a str,
    /// The node's labels.
    pub labels: &'a BTreeMap<String, String>,
}

/// The volume a claim should get (upstream's `FindMatchingVolume`): one
/// pre-bound to it if any, else the smallest `Available` volume of its
/// class that is large enough, offers its access modes and volume mode and
/// matches its selector. Without a node (the controller), claims that wait
/// for their first consumer only take pre-bound volumes; with a node (the
/// scheduler), volumes must allow that node, and `excluded` names volumes
/// already chosen for the pod's other claims.
pub fn find_matching_volume<'a>(
    claim: &PersistentVolumeClaim,
    volumes: impl IntoIterator<Item = &'a PersistentVolume>,
    node: Option<&MatchNode<'_>>,
    excluded: &[String],
    delay_binding: bool,
) -> Option<&'a PersistentVolume> {
    let want = requested(claim).unwrap_or(Quantity::ZERO);
    let class = claim_class(claim);
    let selector = claim
        .spec
        .as_ref()
        .and_then(|s| s.selector.as_ref())
        .and_then(|s| serde_json::to_value(s).ok())
        .map(|v| Selector::from_label_selector_json(&v));
    let claim_mode = volume_mode_of(claim.spec.as_ref().and_then(|s| s.volume_mode.as_ref()));
    let mut best: Option<(&PersistentVolume, Quantity)> = None;
    for volume in volumes {
        let name = volume.metadata.name.clone().unwrap_or_default();
        if excluded.contains(&name) {
            continue;
        }
        let spec = volume.spec.as_ref();
        if spec.and_then(|s| s.claim_ref.as_ref()).is_some()
            && !is_volume_bound_to_claim(volume, claim)
        {
            continue;
        }
        let have = capacity(volume).unwrap_or(Quantity::ZERO);
        if have < want {
            continue;
        }
        if volume_mode_of(spec.and_then(|s| s.volume_mode.as_ref())) != claim_mode {
            continue;
        }
        if volume.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let affinity_ok = node.is_none_or(|n| node_affinity_allows(volume, n.name, n.labels));
        if is_volume_bound_to_claim(volume, claim) {
            return affinity_ok.then_some(volume);
        }
        if node.is_none() && delay_binding {
            continue;
        }
        let available =
            volume.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Available");
        let selected = match &selector {
            None => true,
            Some(Ok(sel)) => sel.matches(&volume.metadata.labels.clone().unwrap_or_default()),
            Some(Err(_)) => false,
        };
        if !available || !selected || volume_class(volume) != class || !affinity_ok {
            continue;
        }
        if !access_modes_fit(claim, volume) {
            continue;
        }
        if best.as_ref().is_none_or(|(_, q)| *q > have) {
            best = Some((volume, have));
        }
    }
    best.map(|(v, _)| v)
}

/// The default class among `classes`: the newest of those annotated as
/// default (upstream's `GetDefaultClass` since 1.26), `None` without one.
pub fn default_class<'a>(
    classes: impl IntoIterator<Item = &'a StorageClass>,
) -> Option<&'a StorageClass> {
    classes
        .into_iter()
        .filter(|c| {
            let a = c.metadata.annotations.as_ref();
            annotation(a, ANN_DEFAULT_CLASS) == Some("true")
                || annotation(a, "storageclass.beta.kubernetes.io/is-default-class") == Some("true")
        })
        .max_by(|a, b| {
            let t = |c: &StorageClass| c.metadata.creation_timestamp.as_ref().map(|t| t.0);
            t(a).cmp(&t(b))
                .then_with(|| b.metadata.name.cmp(&a.metadata.name))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pv(name: &str, size: &str, class: &str, extra: serde_json::Value) -> PersistentVolume {
        let mut v = json!({
            "metadata": {"name": name, "labels": {"tier": "fast"}},
            "spec": {"capacity": {"storage": size}, "accessModes": ["ReadWriteOnce"],
                     "storageClassName": class, "hostPath": {"path": "/x"}},
            "status": {"phase": "Available"}
        });
        merge(&mut v, extra);
        serde_json::from_value(v).expect("pv")
    }

    fn pvc(size: &str, class: &str, extra: serde_json::Value) -> PersistentVolumeClaim {
        let mut v = json!({
            "metadata": {"name": "c", "namespace": "ns", "uid": "u1"},
            "spec": {"resources": {"requests": {"storage": size}},
                     "accessModes": ["ReadWriteOnce"], "storageClassName": class}
        });
        merge(&mut v, extra);
        serde_json::from_value(v).expect("pvc")
    }

    fn merge(a: &mut serde_json::Value, b: serde_json::Value) {
        if let (Some(a), serde_json::Value::Object(b)) = (a.as_object_mut(), b) {
            for (k, v) in b {
                match a.get_mut(&k) {
                    Some(existing) if existing.is_object() && v.is_object() => merge(existing, v),
                    _ => {
                        a.insert(k, v);
                    }
                }
            }
        }
    }

    #[test]
    fn the_smallest_fitting_volume_of_the_class_wins() {
        let vols = [
            pv("big", "10Gi", "", json!({})),
            pv("small", "2Gi", "", json!({})),
            pv("tiny", "500Mi", "", json!({})),
            pv("other-class", "1Gi", "gold", json!({})),
            pv(
                "rwx",
                "1Gi",
                "",
                json!({"spec": {"accessModes": ["ReadWriteMany"]}}),
            ),
            pv(
                "bound",
                "1Gi",
                "",
                json!({"spec": {"claimRef": {"namespace": "ns", "name": "x"}}}),
            ),
            pv(
                "released",
                "1Gi",
                "",
                json!({"status": {"phase": "Released"}}),
            ),
        ];
        let got = find_matching_volume(&pvc("1Gi", "", json!({})), &vols, None, &[], false);
        assert_eq!(got.and_then(|v| v.metadata.name.as_deref()), Some("small"));
        let got = find_matching_volume(&pvc("1Gi", "gold", json!({})), &vols, None, &[], false);
        assert_eq!(
            got.and_then(|v| v.metadata.name.as_deref()),
            Some("other-class")
        );
        let none = find_matching_volume(&pvc("20Gi", "", json!({})), &vols, None, &[], false);
        assert!(none.is_none());
        let sel = pvc(
            "1Gi",
            "",
            json!({"spec": {"selector": {"matchLabels": {"tier": "slow"}}}}),
        );
        assert!(find_matching_volume(&sel, &vols, None, &[], false).is_none());
    }

    #[test]
    fn a_pre_bound_volume_wins_and_delay_binding_waits_for_a_node() {
        let vols = [
            pv("small", "1Gi", "", json!({})),
            pv(
                "mine",
                "5Gi",
                "",
                json!({"spec": {"claimRef": {"namespace": "ns", "name": "c"}}}),
            ),
        ];
        let claim = pvc("1Gi", "", json!({}));
        let got = find_matching_volume(&claim, &vols, None, &[], true);
        assert_eq!(got.and_then(|v| v.metadata.name.as_deref()), Some("mine"));
        let free = [pv("small", "1Gi", "", json!({}))];
        assert!(find_matching_volume(&claim, &free, None, &[], true).is_none());
        let labels = BTreeMap::new();
        let node = MatchNode {
            name: "n1",
            labels: &labels,
        };
        assert!(find_matching_volume(&claim, &free, Some(&node), &[], true).is_some());
        assert!(
            find_matching_volume(&claim, &free, Some(&node), &["small".into()], true).is_none()
        );
    }

    #[test]
    fn node_affinity_pins_a_volume() {
        let v = pv(
            "local",
            "1Gi",
            "",
            json!({"spec": {"nodeAffinity": {"required": {"nodeSelectorTerms": [
                {"matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "In", "values": ["n1"]}]}
            ]}}}}),
        );
        let on = |n: &str| BTreeMap::from([("kubernetes.io/hostname".to_string(), n.to_string())]);
        assert!(node_affinity_allows(&v, "n1", &on("n1")));
        assert!(!node_affinity_allows(&v, "n2", &on("n2")));
        assert_eq!(pinned_node(&v), Some("n1"));
        assert!(node_affinity_allows(
            &pv("any", "1Gi", "", json!({})),
            "n2",
            &on("n2")
        ));
    }

    #[test]
    fn satisfaction_reasons_are_upstreams() {
        let v = pv("v", "1Gi", "", json!({}));
        assert_eq!(
            check_volume_satisfies_claim(&v, &pvc("2Gi", "", json!({}))),
            Err("requested PV is too small".into())
        );
        assert_eq!(
            check_volume_satisfies_claim(&v, &pvc("1Gi", "gold", json!({}))),
            Err("storageClassName does not match".into())
        );
        let rwx = pvc(
            "1Gi",
            "",
            json!({"spec": {"accessModes": ["ReadWriteMany"]}}),
        );
        assert_eq!(
            check_volume_satisfies_claim(&v, &rwx),
            Err("incompatible accessMode".into())
        );
        assert!(check_volume_satisfies_claim(&v, &pvc("1Gi", "", json!({}))).is_ok());
    }

    #[test]
    fn the_newest_default_class_is_the_default() {
        let class = |name: &str, default: bool, at: &str| -> StorageClass {
            let ann = if default {
                json!({ANN_DEFAULT_CLASS: "true"})
            } else {
                json!({})
            };
            serde_json::from_value(json!({"metadata": {"name": name, "annotations": ann,
                "creationTimestamp": at}, "provisioner": "p"}))
            .expect("class")
        };
        let classes = [
            class("old", true, "2024-01-01T00:00:00Z"),
            class("new", true, "2025-01-01T00:00:00Z"),
            class("plain", false, "2026-01-01T00:00:00Z"),
        ];
        assert_eq!(
            default_class(&classes).and_then(|c| c.metadata.name.as_deref()),
            Some("new")
        );
        assert!(default_class(&classes[2..]).is_none());
    }
}
