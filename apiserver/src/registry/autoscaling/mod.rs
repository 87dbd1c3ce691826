//! `autoscaling/v2`: HorizontalPodAutoscalers. (The `autoscaling/v1`
//! `Scale` of workloads lives in [`crate::registry::scale`].)

pub mod horizontalpodautoscaler;
