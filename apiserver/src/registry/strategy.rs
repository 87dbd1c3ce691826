//! The [`Strategy`] trait: everything the generic handlers need to know about
//! one kind, behind one interface.
//!
//! Each method has a default that means "nothing special", so a kind
//! implements only what sets it apart: a ConfigMap checks its data keys, a Pod
//! fills in a dozen defaults, starts `Pending`, prints upstream's STATUS column
//! and is deleted gracefully. The handlers call these methods in a fixed order
//! (see [`crate::registry`] for the order and the parts common to all kinds).

use apimachinery::resources::{ResourceInfo, Subresource};
use axum::extract::Request;
use axum::response::Response;
use futures::future::BoxFuture;
use k8s_openapi::schemars::generate::SchemaGenerator;
use k8s_openapi::schemars::JsonSchema;
use serde_json::Value;

use crate::authentication::UserInfo;
use crate::errors::ApiError;
use crate::printers::{self, Column};
use crate::registry::versions::Version;
use crate::request::RequestInfo;
use crate::validation::{FieldError, NameRule};
use crate::ApiServer;

/// How one kind is created, updated, validated, printed and deleted.
///
/// One value serves every request of its kind, so it holds no per-request
/// state; it is registered as an `Arc<dyn Strategy>`, so a kind defined at
/// runtime (a CustomResourceDefinition's, holding its schema) fits the same
/// slot as the built-in ones.
pub trait Strategy: Send + Sync {
    /// Decodes the object into the kind's type and encodes it back: a field of
    /// the wrong JSON type is an error (the message of a 400), a field the kind
    /// does not have is dropped. The default keeps the object as sent.
    fn normalize(&self, obj: &mut Value) -> Result<(), String> {
        let _ = obj;
        Ok(())
    }

    /// Adds the kind's OpenAPI schema to `gen` and returns its name; `None`
    /// publishes a generic object schema.
    fn schema(&self, gen: &mut SchemaGenerator) -> Option<String> {
        let _ = gen;
        None
    }

    /// Fills in the values a client left out (upstream's defaulters).
    fn default(&self, obj: &mut Value) {
        let _ = obj;
    }

    /// Which rule `metadata.name` follows.
    fn name_rule(&self) -> NameRule {
        NameRule::Dns1123Subdomain
    }

    /// The kind's rules for a new (or updated) object, beyond `metadata`.
    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        let _ = obj;
        Vec::new()
    }

    /// The kind's rules for a create only, on top of [`Strategy::validate`]
    /// (fields only a subresource may set later).
    fn validate_create(&self, obj: &Value) -> Vec<FieldError> {
        let _ = obj;
        Vec::new()
    }

    /// The kind's rules for an update, on top of [`Strategy::validate`]:
    /// usually the fields that may never change.
    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        let _ = (new, old);
        Vec::new()
    }

    /// The rules of an update through subresource `sub`, instead of
    /// [`Strategy::validate_update`], for a subresource that changes what
    /// the main resource may not (a pod's `ephemeralcontainers`); `None`
    /// for the others.
    fn validate_subresource_update(
        &self,
        sub: Subresource,
        new: &Value,
        old: &Value,
    ) -> Option<Vec<FieldError>> {
        let _ = (sub, new, old);
        None
    }

    /// The server-owned state of a new object (its initial `status`), once
    /// its `uid` is known.
    fn prepare_for_create(&self, obj: &mut Value, uid: &str) {
        let _ = (obj, uid);
    }

    /// What an update of the main resource may not change beyond `status`
    /// (which the registry already carries over when the kind has a `/status`
    /// subresource): copied back from `old`.
    fn prepare_for_update(&self, new: &mut Value, old: &Value) {
        let _ = (new, old);
    }

    /// Whether a `/status` write keeps all of the stored metadata. Upstream's
    /// older kinds take labels, annotations, finalizers and owner references
    /// from the request (their status strategies only reset `spec`); the
    /// newer ones (ServiceCIDR, VolumeAttachment, ResourceClaim, ...) reset
    /// the metadata too (`ResetObjectMetaForStatus`).
    fn status_keeps_metadata(&self) -> bool {
        false
    }

    /// What a `/status` write may not change beyond the above (a Pod's
    /// owner references): copied back from `old`.
    fn prepare_for_status_update(&self, new: &mut Value, old: &Value) {
        let _ = (new, old);
    }

    /// Records who creates a new object (a CSR's requester), after
    /// [`Strategy::prepare_for_create`].
    fn record_creator(&self, user: &UserInfo, obj: &mut Value) {
        let _ = (user, obj);
    }

    /// Admission of a new object that needs the cluster's state (a Pod's
    /// priority from its PriorityClass); runs once per create.
    fn admit_create<'a>(
        &'a self,
        server: &'a ApiServer,
        obj: &'a mut Value,
    ) -> BoxFuture<'a, Result<(), ApiError>> {
        let _ = (server, obj);
        Box::pin(async { Ok(()) })
    }

    /// Takes what a new object holds outside its own key (a Service's cluster
    /// IP), just before it is stored.
    fn before_create<'a>(
        &'a self,
        server: &'a ApiServer,
        obj: &'a mut Value,
    ) -> BoxFuture<'a, Result<(), ApiError>> {
        let _ = (server, obj);
        Box::pin(async { Ok(()) })
    }

    /// Gives back what [`Strategy::before_create`] took: called when the
    /// create fails after it, and when the object is removed.
    fn release<'a>(&'a self, server: &'a ApiServer, obj: &'a Value) -> BoxFuture<'a, ()> {
        let _ = (server, obj);
        Box::pin(async {})
    }

    /// Takes what an updated object newly holds outside its own key (a
    /// Service that becomes `NodePort` gets its node ports), just before it
    /// is stored.
    fn before_update<'a>(
        &'a self,
        server: &'a ApiServer,
        new: &'a mut Value,
        old: &'a Value,
    ) -> BoxFuture<'a, Result<(), ApiError>> {
        let _ = (server, new, old);
        Box::pin(async { Ok(()) })
    }

    /// Gives back what `holder` holds outside its own key and `keep` does
    /// not: after an update, what the old object held and the new one no
    /// longer needs; when the write failed, what [`Strategy::before_update`]
    /// took for the new one.
    fn release_unneeded<'a>(
        &'a self,
        server: &'a ApiServer,
        holder: &'a Value,
        keep: &'a Value,
    ) -> BoxFuture<'a, ()> {
        let _ = (server, holder, keep);
        Box::pin(async {})
    }

    /// Called after every successful write of the object (create, update,
    /// delete), for caches of this kind kept in the server.
    fn after_write(&self, server: &ApiServer, obj: &Value) {
        let _ = (server, obj);
    }

    /// The grace period of a deletion when the object must be stopped
    /// somewhere before it goes (a running Pod on its node); `requested` is
    /// the client's `gracePeriodSeconds`. `None`: removed without grace.
    fn graceful_deletion(&self, obj: &Value, requested: Option<i64>) -> Option<i64> {
        let _ = (obj, requested);
        None
    }

    /// Whether a deleted object must stay for a reason of its kind besides
    /// `metadata.finalizers` (a Namespace's `spec.finalizers`).
    fn removal_blocked(&self, obj: &Value) -> bool {
        let _ = obj;
        false
    }

    /// Changes an object undergoes when its deletion starts (a Namespace
    /// becomes `Terminating`).
    fn prepare_for_delete(&self, obj: &mut Value) {
        let _ = obj;
    }

    /// Whether the kind serves `sub` as a connect subresource: one that is
    /// proxied somewhere else as a stream or an upgraded connection (a Pod's
    /// `log`, `exec`, `attach`, `portforward` go to its kubelet).
    fn connects(&self, sub: Subresource) -> bool {
        let _ = sub;
        false
    }

    /// Serves a connect subresource (see [`Strategy::connects`]) with the
    /// untouched request.
    fn connect<'a>(
        &'a self,
        server: &'a ApiServer,
        info: &'a RequestInfo,
        req: Request,
    ) -> BoxFuture<'a, Result<Response, ApiError>> {
        let _ = (server, req);
        Box::pin(async move {
            Err(ApiError::MethodNotAllowed(format!(
                "{} does not support connecting",
                info.resource.plural
            )))
        })
    }

    /// For a create-only kind whose object is an act on another object (a
    /// Binding binds the pod it names): the resource and subresource a
    /// create is served as, on the object named by the body's
    /// `metadata.name`. `None`: objects of the kind are stored.
    fn creates_as(&self) -> Option<(&'static ResourceInfo, Subresource)> {
        None
    }

    /// For a kind computed on read instead of stored (ComponentStatus, the
    /// resource metrics; their resources serve only `get` and `list`): every
    /// object of the kind as of now, in `namespace` when one is given (the
    /// handlers filter by namespace again, so a kind may ignore it).
    /// `None` (the default): the kind is stored.
    fn computed<'a>(
        &'a self,
        server: &'a ApiServer,
        namespace: Option<&'a str>,
    ) -> Option<BoxFuture<'a, Vec<Value>>> {
        let _ = (server, namespace);
        None
    }

    /// For a kind that is answered instead of stored (the access reviews,
    /// whose resource serves only `create`): fills in the answer, usually
    /// `status`, of a posted object that was already defaulted and
    /// validated; `user` is the identity the request came with.
    fn review<'a>(
        &'a self,
        server: &'a ApiServer,
        user: &'a UserInfo,
        obj: &'a mut Value,
    ) -> BoxFuture<'a, Result<(), ApiError>> {
        let _ = (server, user, obj);
        Box::pin(async {
            Err(ApiError::MethodNotAllowed(
                "this kind is not a review".into(),
            ))
        })
    }

    /// The `/scale` view of an object: an `autoscaling/v1` Scale of
    /// `spec.replicas` (a custom resource reads the paths its CRD names).
    fn scale(&self, obj: &Value) -> Value {
        crate::registry::scale::scale_of(obj)
    }

    /// `obj` with the replicas a Scale asks for (see [`Strategy::scale`]).
    fn apply_scale(&self, obj: &Value, scale: &Value, name: &str) -> Result<Value, ApiError> {
        crate::registry::scale::apply_scale(obj, scale, name)
    }

    /// The fields a field selector may use, when the kind decides them
    /// itself (a custom resource's `selectableFields`); `None` (the
    /// default): the built-in table in `apimachinery::fields`.
    fn selectable_fields(&self) -> Option<Vec<String>> {
        None
    }

    /// The stored field a field selector's `label` reads, for a version
    /// whose fields are named otherwise than the stored objects'
    /// (`events.k8s.io/v1`'s `regarding.kind` is `involvedObject.kind`);
    /// an error (upstream's message) for a label the version does not
    /// have. The default keeps every label as it is.
    fn field_label(&self, label: &str) -> Result<String, String> {
        Ok(label.to_string())
    }

    /// The value of a selectable field (see [`Strategy::selectable_fields`]).
    fn field_value(&self, obj: &Value, field: &str) -> String {
        let _ = (obj, field);
        String::new()
    }

    /// The `kubectl get` columns.
    fn columns(&self) -> &'static [Column] {
        printers::DEFAULT
    }

    /// One row of cells, one per column of [`Strategy::columns`]; must not
    /// fail on any input.
    fn cells(&self, obj: &Value) -> Vec<Value> {
        printers::default_cells(obj)
    }

    /// Row conditions (upstream marks finished pods `Completed`).
    fn row_conditions(&self, obj: &Value) -> Option<Value> {
        let _ = obj;
        None
    }

    /// For the storage version of a kind served at several versions: the
    /// other versions, each with its own strategy and its conversions from
    /// and to this one ([`crate::registry::versions`]). Asked once, when
    /// the strategy table is built.
    fn versions(&self) -> Vec<Version> {
        Vec::new()
    }
}

/// Decodes `obj` as a `T` and encodes it back (see [`Strategy::normalize`]).
pub fn normalize<T>(obj: &mut Value) -> Result<(), String>
where
    T: serde::de::DeserializeOwned + serde::Serialize,
{
    let typed = match T::deserialize(&*obj) {
        Ok(typed) => typed,
        // Go's zero values: a metav1.Condition written without its
        // `lastTransitionTime` (Go clients send `null`) is stored by
        // upstream as the zero time; the Rust type requires one.
        Err(e) => {
            if !zero_condition_times(obj) {
                return Err(e.to_string());
            }
            T::deserialize(&*obj).map_err(|e| e.to_string())?
        }
    };
    *obj = serde_json::to_value(typed).map_err(|e| e.to_string())?;
    Ok(())
}

/// Go's zero `metav1.Time`, as its JSON form decodes on any client.
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// Gives every condition (an entry of a `conditions` list with a `type`)
/// that lacks a `lastTransitionTime`, or has `null`, the zero time; whether
/// any was changed.
fn zero_condition_times(value: &mut Value) -> bool {
    let mut changed = false;
    match value {
        Value::Object(map) => {
            for (key, child) in map.iter_mut() {
                if key == "conditions" {
                    if let Value::Array(items) = child {
                        for item in items.iter_mut().filter_map(Value::as_object_mut) {
                            let missing = item.get("lastTransitionTime").is_none_or(Value::is_null);
                            if item.contains_key("type") && missing {
                                item.insert("lastTransitionTime".into(), ZERO_TIME.into());
                                changed = true;
                            }
                        }
                    }
                }
                changed |= zero_condition_times(child);
            }
        }
        Value::Array(items) => {
            for item in items {
                changed |= zero_condition_times(item);
            }
        }
        _ => {}
    }
    changed
}

/// Adds `T`'s schema (and what it references) to `gen` (see
/// [`Strategy::schema`]).
pub fn schema<T: JsonSchema>(gen: &mut SchemaGenerator) -> Option<String> {
    gen.subschema_for::<T>();
    Some(T::schema_name().into_owned())
}
