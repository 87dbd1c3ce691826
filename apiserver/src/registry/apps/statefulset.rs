//! StatefulSets (`apps/v1`): pods with stable names, started in order.
//! Upstream's defaults (OrderedReady, RollingUpdate with partition 0, PVCs
//! retained); the pod-template workload rules; an immutable selector.

use k8s_openapi::api::apps::v1::StatefulSet;
use serde_json::{json, Value};

use crate::defaults::{rolling_update, set_default, template};
use crate::printers::*;
use crate::registry::workload::Workload;

/// The StatefulSet strategy.
pub struct StatefulSetStrategy;

impl Workload for StatefulSetStrategy {
    type Object = StatefulSet;
    const COLUMNS: &'static [Column] = COLUMNS;

    fn defaults(obj: &mut Value) {
        set_default(obj, &["spec", "replicas"], json!(1));
        set_default(obj, &["spec", "podManagementPolicy"], json!("OrderedReady"));
        rolling_update(obj, "updateStrategy", &[("partition", json!(0))]);
        set_default(obj, &["spec", "revisionHistoryLimit"], json!(10));
        set_default(
            obj,
            &["spec", "persistentVolumeClaimRetentionPolicy"],
            json!({"whenDeleted": "Retain", "whenScaled": "Retain"}),
        );
        template(obj, &["spec", "template", "spec"]);
    }

    fn status_cells(obj: &Value) -> Vec<Value> {
        vec![json!(format!(
            "{}/{}",
            n(obj, "/status/readyReplicas"),
            n(obj, "/spec/replicas")
        ))]
    }

    /// Upstream's StatefulSet table has no SELECTOR column.
    fn selector_cell(_obj: &Value) -> Option<Value> {
        None
    }
}

#[rustfmt::skip]
const COLUMNS: &[Column] = &[
    NAME,
    col("Ready", "string", 0, "Number of the pod with ready state"),
    AGE,
    CONTAINERS,
    IMAGES,
];
