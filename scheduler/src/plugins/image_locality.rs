//! ImageLocality: prefer nodes that already have the pod's images, weighted
//! by image size and by how few nodes have them (so one node does not
//! attract every pod of a popular image). Scores between the thresholds
//! 23 MB and 1000 MB per container scale linearly to 0..=100.

use std::sync::Arc;

use crate::cache::node_info::normalize_image;
use crate::cache::{NodeInfo, PodInfo, Snapshot};
use crate::framework::{CycleState, Plugin, ScorePlugin, Status, MAX_NODE_SCORE};

/// The plugin's name.
pub const NAME: &str = "ImageLocality";
const MIN_THRESHOLD: i64 = 23 * 1024 * 1024;
const MAX_CONTAINER_THRESHOLD: i64 = 1000 * 1024 * 1024;

/// See the module docs.
#[derive(Debug, Default)]
pub struct ImageLocality;

/// Per cycle: the pod's images with the share of nodes holding each.
struct State {
    images: Vec<(String, f64)>,
    max_threshold: i64,
}

impl Plugin for ImageLocality {
    fn name(&self) -> &'static str {
        NAME
    }
}

impl ScorePlugin for ImageLocality {
    fn pre_score(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        snapshot: &Snapshot,
        _: &[Arc<NodeInfo>],
    ) -> Status {
        let Some(spec) = pod.pod.spec.as_ref() else {
            return Status::skip();
        };
        let total = snapshot.nodes.len().max(1) as f64;
        let images: Vec<(String, f64)> = spec
            .init_containers
            .iter()
            .flatten()
            .chain(spec.containers.iter())
            .filter_map(|c| c.image.as_deref())
            .map(|img| {
                let name = normalize_image(img);
                let n = snapshot.image_nodes.get(&name).copied().unwrap_or(0) as f64;
                (name, n / total)
            })
            .collect();
        if images.iter().all(|(_, spread)| *spread == 0.0) {
            return Status::skip();
        }
        state.write(
            NAME,
            State {
                images,
                max_threshold: MAX_CONTAINER_THRESHOLD * spec.containers.len().max(1) as i64,
            },
        );
        Status::success()
    }

    fn score(&self, state: &CycleState, _: &PodInfo, node: &NodeInfo) -> i64 {
        let Some(st) = state.read::<State>(NAME) else {
            return 0;
        };
        let sum: i64 = st
            .images
            .iter()
            .filter_map(|(name, spread)| {
                node.images
                    .get(name)
                    .map(|size| (*size as f64 * spread) as i64)
            })
            .sum();
        let clamped = sum.clamp(MIN_THRESHOLD, st.max_threshold);
        MAX_NODE_SCORE * (clamped - MIN_THRESHOLD) / (st.max_threshold - MIN_THRESHOLD)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(name: &str, images: serde_json::Value) -> NodeInfo {
        NodeInfo::new(Arc::new(
            serde_json::from_value(
                json!({"metadata": {"name": name}, "status": {"images": images}}),
            )
            .unwrap(),
        ))
    }

    #[test]
    fn big_local_images_score() {
        let with = node(
            "n1",
            json!([{"names": ["docker.io/library/big:1"], "sizeBytes": 600_000_000i64}]),
        );
        let without = node("n2", json!([]));
        let snap = Snapshot::from_nodes(vec![with.clone(), without.clone()]);
        let p = crate::plugins::testing::pod(
            "p",
            json!({}),
            json!({"containers": [{"name": "c", "image": "big:1"}]}),
        );
        let mut st = CycleState::default();
        assert!(ImageLocality
            .pre_score(&mut st, &p, &snap, &[])
            .is_success());
        let s1 = ImageLocality.score(&st, &p, &with);
        assert!(s1 > 0 && s1 < 100, "{s1}");
        assert_eq!(ImageLocality.score(&st, &p, &without), 0);
    }
}
