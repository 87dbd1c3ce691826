//! `autoscaling`: HorizontalPodAutoscalers, stored at `v2` and served at
//! `v2` and `v1`. (The `autoscaling/v1` `Scale` of workloads lives in
//! [`crate::registry::scale`].)

pub mod horizontalpodautoscaler;
