//! Which lists merge how, for strategic merge patches of built-in kinds.
//!
//! Upstream this comes from struct tags on the Go types
//! (`patchStrategy:"merge" patchMergeKey:"name"`). The same list name means the
//! same thing wherever it appears in the built-in kinds, with one exception
//! (`ports`: containers key them by `containerPort`, services by `port`), so a
//! table by field name, with the path for context, is enough.

use crate::resources;

/// How a list field is patched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListStrategy {
    /// Elements are objects matched by these keys and merged.
    MergeByKey(&'static [&'static str]),
    /// Elements are scalars; the patch's are added (a set).
    MergePrimitive,
    /// The patch's list replaces the object's.
    Replace,
}

/// The strategy of the list reached through the field names in `path`.
pub fn list_strategy(path: &[&str]) -> ListStrategy {
    let Some(last) = path.last() else {
        return ListStrategy::Replace;
    };
    let in_container = path
        .iter()
        .any(|p| matches!(*p, "containers" | "initContainers" | "ephemeralContainers"));
    match *last {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "volumes"
        | "env"
        | "imagePullSecrets"
        | "resourceClaims"
        | "schedulingGates" => ListStrategy::MergeByKey(&["name"]),
        "ports" if in_container => ListStrategy::MergeByKey(&["containerPort"]),
        "ports" => ListStrategy::MergeByKey(&["port"]),
        "volumeMounts" => ListStrategy::MergeByKey(&["mountPath"]),
        "volumeDevices" => ListStrategy::MergeByKey(&["devicePath"]),
        "conditions" => ListStrategy::MergeByKey(&["type"]),
        "ownerReferences" => ListStrategy::MergeByKey(&["uid"]),
        "hostAliases" => ListStrategy::MergeByKey(&["ip"]),
        "topologySpreadConstraints" => ListStrategy::MergeByKey(&["topologyKey"]),
        "taints" => ListStrategy::MergeByKey(&["key"]),
        "addresses" if path.contains(&"status") => ListStrategy::MergeByKey(&["type"]),
        "images" if path.contains(&"status") => ListStrategy::Replace,
        "finalizers" => ListStrategy::MergePrimitive,
        _ => ListStrategy::Replace,
    }
}

/// Whether strategic merge knows this kind (a served built-in).
pub fn is_known_kind(api_version: &str, kind: &str) -> bool {
    resources::find_by_kind(api_version, kind).is_some()
        || matches!(
            (api_version, kind),
            ("autoscaling/v1", "Scale") | ("v1", "Binding") | ("policy/v1", "Eviction")
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strategies() {
        assert_eq!(
            list_strategy(&["spec", "template", "spec", "containers"]),
            ListStrategy::MergeByKey(&["name"])
        );
        assert_eq!(
            list_strategy(&["spec", "containers", "ports"]),
            ListStrategy::MergeByKey(&["containerPort"])
        );
        assert_eq!(
            list_strategy(&["spec", "ports"]),
            ListStrategy::MergeByKey(&["port"])
        );
        assert_eq!(
            list_strategy(&["metadata", "finalizers"]),
            ListStrategy::MergePrimitive
        );
        assert_eq!(
            list_strategy(&["spec", "containers", "args"]),
            ListStrategy::Replace
        );
        assert!(is_known_kind("apps/v1", "Deployment"));
        assert!(!is_known_kind("example.com/v1", "Widget"));
    }
}
