//! The Quality of Service class of a pod (upstream `GetPodQOS`): one
//! definition for the apiserver, which reports it in `status.qosClass`, and
//! the kubelet, which picks the pod's cgroup parent (`kubepods`,
//! `kubepods/burstable`, `kubepods/besteffort`) from it.
//!
//! - `Guaranteed`: every container (init containers too) limits CPU and
//!   memory, and the pod's summed requests equal its summed limits;
//! - `BestEffort`: no container requests or limits CPU or memory;
//! - `Burstable`: anything else.
//!
//! Only CPU and memory count, and only amounts above zero. A request left
//! out defaults to the limit (what the apiserver's defaulting writes), so the
//! class is the same before and after defaulting. Text that is not a
//! quantity counts as absent (validation rejects it before it is stored).

use std::collections::BTreeMap;

use crate::quantity::Quantity;

/// A pod's QoS class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QosClass {
    /// Requests equal limits for CPU and memory everywhere.
    Guaranteed,
    /// Some requests or limits, but not Guaranteed.
    Burstable,
    /// Neither requests nor limits.
    BestEffort,
}

impl QosClass {
    /// The class as `status.qosClass` spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            QosClass::Guaranteed => "Guaranteed",
            QosClass::Burstable => "Burstable",
            QosClass::BestEffort => "BestEffort",
        }
    }
}

/// One container's `resources`, as `(resource name, quantity text)` pairs,
/// so that both typed pods and JSON objects can be classified.
#[derive(Debug, Clone, Default)]
pub struct ContainerResources<'a> {
    /// `resources.requests`.
    pub requests: Vec<(&'a str, &'a str)>,
    /// `resources.limits`.
    pub limits: Vec<(&'a str, &'a str)>,
}

const QOS_RESOURCES: [&str; 2] = ["cpu", "memory"];

/// The positive CPU and memory amounts of a list.
fn counted<'a>(list: &[(&'a str, &str)]) -> BTreeMap<&'a str, Quantity> {
    list.iter()
        .filter(|(name, _)| QOS_RESOURCES.contains(name))
        .filter_map(|(name, text)| Some((*name, Quantity::parse(text).ok()?)))
        .filter(|(_, q)| q.signum() > 0)
        .collect()
}

fn add_to(sum: &mut BTreeMap<&str, Quantity>, name: &str, q: &Quantity) -> Option<()> {
    let entry = sum.entry(QOS_RESOURCES.iter().find(|r| **r == name)?);
    let total = entry.or_insert(Quantity::ZERO);
    *total = total.checked_add(q)?;
    Some(())
}

/// Classifies a pod from the resources of all its containers and init
/// containers.
pub fn pod_qos_class<'a>(containers: impl IntoIterator<Item = ContainerResources<'a>>) -> QosClass {
    let mut requests = BTreeMap::new();
    let mut limits = BTreeMap::new();
    let mut guaranteed = true;
    for c in containers {
        let limited = counted(&c.limits);
        let mut requested = counted(&c.requests);
        for (name, q) in &limited {
            requested.entry(*name).or_insert(*q);
        }
        for (name, q) in &requested {
            // A sum too large to be exact cannot be shown equal.
            guaranteed &= add_to(&mut requests, name, q).is_some();
        }
        for (name, q) in &limited {
            guaranteed &= add_to(&mut limits, name, q).is_some();
        }
        if !QOS_RESOURCES.iter().all(|r| limited.contains_key(r)) {
            guaranteed = false;
        }
    }
    if requests.is_empty() && limits.is_empty() {
        QosClass::BestEffort
    } else if guaranteed && requests == limits {
        QosClass::Guaranteed
    } else {
        QosClass::Burstable
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c<'a>(
        requests: &[(&'a str, &'a str)],
        limits: &[(&'a str, &'a str)],
    ) -> ContainerResources<'a> {
        ContainerResources {
            requests: requests.to_vec(),
            limits: limits.to_vec(),
        }
    }

    #[test]
    fn classes() {
        use QosClass::*;
        let full = [("cpu", "1"), ("memory", "1Gi")];
        assert_eq!(pod_qos_class([c(&[], &[])]), BestEffort);
        // Only CPU and memory above zero count.
        assert_eq!(
            pod_qos_class([c(&[("nvidia.com/gpu", "1"), ("cpu", "0")], &[])]),
            BestEffort
        );
        assert_eq!(pod_qos_class([c(&[], &full)]), Guaranteed);
        assert_eq!(pod_qos_class([c(&full, &full)]), Guaranteed);
        // Equal amounts written differently are equal.
        assert_eq!(
            pod_qos_class([c(&[("cpu", "1000m"), ("memory", "1024Mi")], &full)]),
            Guaranteed
        );
        assert_eq!(pod_qos_class([c(&[("cpu", "500m")], &full)]), Burstable);
        assert_eq!(pod_qos_class([c(&[("cpu", "1")], &[])]), Burstable);
        assert_eq!(pod_qos_class([c(&[], &[("cpu", "1")])]), Burstable);
        // Every container, init containers too, must limit both.
        assert_eq!(
            pod_qos_class([c(&[], &full), c(&[("cpu", "100m")], &[])]),
            Burstable
        );
        assert_eq!(pod_qos_class([c(&[], &full), c(&[], &full)]), Guaranteed);
        assert_eq!(Burstable.as_str(), "Burstable");
    }
}
