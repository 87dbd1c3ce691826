//! DaemonSets (`apps/v1`): one pod per node. Upstream's RollingUpdate
//! defaults (one unavailable, no surge); the pod-template workload rules;
//! an immutable selector.

use k8s_openapi::api::apps::v1::DaemonSet;
use serde_json::{json, Value};

use crate::defaults::{rolling_update, set_default, template};
use crate::printers::*;
use crate::registry::workload::Workload;

/// The DaemonSet strategy.
pub struct DaemonSetStrategy;

impl Workload for DaemonSetStrategy {
    type Object = DaemonSet;
    const COLUMNS: &'static [Column] = COLUMNS;

    fn defaults(obj: &mut Value) {
        rolling_update(
            obj,
            "updateStrategy",
            &[("maxUnavailable", json!(1)), ("maxSurge", json!(0))],
        );
        set_default(obj, &["spec", "revisionHistoryLimit"], json!(10));
        template(obj, &["spec", "template", "spec"]);
    }

    fn status_cells(obj: &Value) -> Vec<Value> {
        vec![
            json!(n(obj, "/status/desiredNumberScheduled")),
            json!(n(obj, "/status/currentNumberScheduled")),
            json!(n(obj, "/status/numberReady")),
            json!(n(obj, "/status/updatedNumberScheduled")),
            json!(n(obj, "/status/numberAvailable")),
            json!(format_labels(
                obj.pointer("/spec/template/spec/nodeSelector")
            )),
        ]
    }
}

#[rustfmt::skip]
const COLUMNS: &[Column] = &[
    NAME,
    col("Desired", "integer", 0, "The total number of nodes that should be running the daemon pod (including nodes correctly running the daemon pod)."),
    col("Current", "integer", 0, "The number of nodes that are running at least 1 daemon pod and are supposed to run the daemon pod."),
    col("Ready", "integer", 0, "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and ready."),
    col("Up-to-date", "integer", 0, "The total number of nodes that are running updated daemon pod."),
    col("Available", "integer", 0, "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and available (ready for at least minReadySeconds)."),
    col("Node Selector", "string", 0, "NodeSelector is a selector which must be true for the pod to fit on a node."),
    AGE,
    CONTAINERS,
    IMAGES,
    SELECTOR,
];
