//! `networking.k8s.io/v1`: Ingresses and their classes, NetworkPolicies,
//! and the cluster-IP bookkeeping objects ServiceCIDR and IPAddress. Stored
//! with upstream's rules; routing and policy enforcement belong elsewhere.

pub mod ingress;
pub mod ingressclass;
pub mod ipaddress;
pub mod networkpolicy;
pub mod servicecidr;
