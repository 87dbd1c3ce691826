//! `rbac.authorization.k8s.io/v1`: Roles and ClusterRoles (what may be
//! done), RoleBindings and ClusterRoleBindings (who may do it). Stored with
//! upstream's rules; enforcing them belongs to the authorizer.

pub mod role;
pub mod rolebinding;
