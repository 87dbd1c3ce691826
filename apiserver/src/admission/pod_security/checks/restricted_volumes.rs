//! `restrictedVolumes` (restricted, v1.0+): besides forbidding hostPath
//! volumes (it replaces [`super::host_path_volumes`]), the restricted level
//! allows only these inline volume sources: `configMap`, `csi`,
//! `downwardAPI`, `emptyDir`, `ephemeral`, `image`,
//! `persistentVolumeClaim`, `projected`, `secret`.

use std::collections::BTreeSet;

use serde_json::Value;

use super::{host_path_volumes, join_quote, list, pluralize, str_at, Check, Versioned, Violation};
use crate::admission::pod_security::Level;

/// The check.
pub const CHECK: Check = Check {
    id: "restrictedVolumes",
    level: Level::Restricted,
    versions: &[Versioned {
        since: 0,
        check: restricted_volumes_1_0,
        overrides: &[host_path_volumes::ID],
    }],
};

const ALLOWED: &[&str] = &[
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "image",
    "persistentVolumeClaim",
    "projected",
    "secret",
];

/// The restricted sources upstream names, in the order it looks for them.
const NAMED: &[&str] = &[
    "hostPath",
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "gitRepo",
    "nfs",
    "iscsi",
    "glusterfs",
    "rbd",
    "flexVolume",
    "cinder",
    "cephfs",
    "flocker",
    "fc",
    "azureFile",
    "vsphereVolume",
    "quobyte",
    "azureDisk",
    "photonPersistentDisk",
    "portworxVolume",
    "scaleIO",
    "storageos",
];

fn set(volume: &Value, source: &str) -> bool {
    volume.get(source).is_some_and(|s| !s.is_null())
}

fn restricted_volumes_1_0(_meta: &Value, spec: &Value) -> Option<Violation> {
    let mut bad = Vec::new();
    let mut types = BTreeSet::new();
    for volume in list(spec.get("volumes")) {
        if ALLOWED.iter().any(|s| set(volume, s)) {
            continue;
        }
        bad.push(str_at(volume, "/name"));
        types.insert(
            NAMED
                .iter()
                .find(|s| set(volume, s))
                .copied()
                .unwrap_or("unknown"),
        );
    }
    if bad.is_empty() {
        return None;
    }
    Violation::new(
        "restricted volume types",
        format!(
            "{} {} {} {} {}",
            pluralize("volume", "volumes", bad.len()),
            join_quote(&bad),
            pluralize("uses", "use", bad.len()),
            pluralize(
                "restricted volume type",
                "restricted volume types",
                types.len()
            ),
            join_quote(types)
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admission::pod_security::checks::test_pods::meta;
    use serde_json::json;

    #[test]
    fn only_the_allowed_sources() {
        let spec = json!({"volumes": [
            {"name": "a", "hostPath": {"path": "/"}},
            {"name": "b", "nfs": {"server": "s", "path": "/"}},
            {"name": "c", "configMap": {"name": "x"}}]});
        let v = restricted_volumes_1_0(&meta(), &spec).expect("violation");
        assert_eq!(
            v.detail,
            "volumes \"a\", \"b\" use restricted volume types \"hostPath\", \"nfs\""
        );
        let spec = json!({"volumes": [{"name": "c", "projected": {"sources": []}}]});
        assert_eq!(restricted_volumes_1_0(&meta(), &spec), None);
    }
}
