//! Built-in kinds served at more than one version.
//!
//! Upstream keeps every object of a kind in one storage version in etcd
//! and serves it at each enabled version, converting on the way in and out
//! (HorizontalPodAutoscalers are stored as `autoscaling/v2` and served at
//! `autoscaling/v2` and `autoscaling/v1`). Here a kind does the same with
//! one row per served version in the resource table (all with the same
//! [`ResourceInfo::storage_version`]) and, in its strategy (the storage
//! version's), one [`Version`] per other served version: that version's
//! own strategy (decoding, defaults, validation and printing of objects in
//! that version's shape) and the two conversions.
//!
//! The handlers never see this: [`crate::registry::strategy_for`] answers a
//! row of another version with a [`VersionStrategy`] (that version's own
//! strategy for what acts on the request's object, the storage strategy for
//! what acts on stored objects), and [`crate::conversion`] converts where
//! objects cross versions, the same places a custom resource's versions
//! are converted:
//!
//! ```text
//! create        request version --(to_storage)--> storage version --> etcd
//! update/patch  etcd --(from_storage)--> request version --patch, mutate, validate--> (to_storage) --> etcd
//! get/list/watch, the answers of writes and deletes: etcd --(from_storage)--> request version
//! ```
//!
//! After converting to the storage version, the storage version's defaults
//! are applied (upstream applies them when it decodes what it stored), so
//! the stored object always reads complete at every version.

use std::sync::Arc;

use apimachinery::resources::{ResourceInfo, Subresource};
use axum::extract::Request;
use axum::response::Response;
use futures::future::BoxFuture;
use k8s_openapi::schemars::generate::SchemaGenerator;
use serde_json::Value;

use crate::authentication::UserInfo;
use crate::errors::ApiError;
use crate::printers::Column;
use crate::registry::Strategy;
use crate::request::RequestInfo;
use crate::validation::{FieldError, NameRule};
use crate::ApiServer;

/// Why an object could not be converted between two versions of a kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConversionError {
    /// The object is not a JSON object.
    #[error("a {kind} must be an object to be converted to {to}")]
    NotAnObject {
        /// The kind.
        kind: &'static str,
        /// The target `apiVersion`.
        to: String,
    },
    /// A field has a shape the conversion cannot read.
    #[error("converting a {kind} to {to}: {field}: {problem}")]
    Field {
        /// The kind.
        kind: &'static str,
        /// The target `apiVersion`.
        to: String,
        /// The field, as a path (`spec.metrics[0]`).
        field: String,
        /// What is wrong with it.
        problem: String,
    },
}

impl From<ConversionError> for ApiError {
    /// An object the server cannot convert is the request's fault when it
    /// came in (a stored object always converts): a 400, as upstream's
    /// decoding errors.
    fn from(err: ConversionError) -> ApiError {
        ApiError::BadRequest(err.to_string())
    }
}

/// Converts one object between a served version and the storage version.
pub type Convert = fn(&Value) -> Result<Value, ConversionError>;

/// A version a built-in kind is served at besides its storage version.
#[derive(Clone)]
pub struct Version {
    /// The group of the version when it is another group than the storage
    /// version's (`events.k8s.io` for the Events kept as `core/v1`); `None`
    /// for another version of the same group.
    pub group: Option<&'static str>,
    /// The version, e.g. `v1`.
    pub version: &'static str,
    /// How objects in this version's shape are decoded, defaulted,
    /// validated and printed.
    pub strategy: Arc<dyn Strategy>,
    /// An object of this version in the storage version.
    pub to_storage: Convert,
    /// A stored object in this version.
    pub from_storage: Convert,
}

/// The strategy of a row served at another version than its storage
/// version: what acts on the object of the request (in the row's version)
/// is the version's own; what acts on stored objects (in the storage
/// version: resources held outside the key, deletion, selectable fields,
/// `/scale`, connect) is the storage version's.
pub struct VersionStrategy {
    /// The served version's own strategy.
    pub own: Arc<dyn Strategy>,
    /// The storage version's strategy.
    pub storage: Arc<dyn Strategy>,
}

impl Strategy for VersionStrategy {
    fn normalize(&self, obj: &mut Value) -> Result<(), String> {
        self.own.normalize(obj)
    }
    fn schema(&self, gen: &mut SchemaGenerator) -> Option<String> {
        self.own.schema(gen)
    }
    fn default(&self, obj: &mut Value) {
        self.own.default(obj)
    }
    fn name_rule(&self) -> NameRule {
        self.storage.name_rule()
    }
    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        self.own.validate(obj)
    }
    fn validate_create(&self, obj: &Value) -> Vec<FieldError> {
        self.own.validate_create(obj)
    }
    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        self.own.validate_update(new, old)
    }
    fn validate_subresource_update(
        &self,
        sub: Subresource,
        new: &Value,
        old: &Value,
    ) -> Option<Vec<FieldError>> {
        self.own.validate_subresource_update(sub, new, old)
    }
    fn prepare_for_create(&self, obj: &mut Value, uid: &str) {
        self.own.prepare_for_create(obj, uid)
    }
    fn prepare_for_update(&self, new: &mut Value, old: &Value) {
        self.own.prepare_for_update(new, old)
    }
    fn status_keeps_metadata(&self) -> bool {
        self.storage.status_keeps_metadata()
    }
    fn prepare_for_status_update(&self, new: &mut Value, old: &Value) {
        self.own.prepare_for_status_update(new, old)
    }
    fn record_creator(&self, user: &UserInfo, obj: &mut Value) {
        self.own.record_creator(user, obj)
    }
    fn admit_create<'a>(
        &'a self,
        server: &'a ApiServer,
        obj: &'a mut Value,
    ) -> BoxFuture<'a, Result<(), ApiError>> {
        self.own.admit_create(server, obj)
    }
    fn before_create<'a>(
        &'a self,
        server: &'a ApiServer,
        obj: &'a mut Value,
    ) -> BoxFuture<'a, Result<(), ApiError>> {
        self.storage.before_create(server, obj)
    }
    fn release<'a>(&'a self, server: &'a ApiServer, obj: &'a Value) -> BoxFuture<'a, ()> {
        self.storage.release(server, obj)
    }
    fn before_update<'a>(
        &'a self,
        server: &'a ApiServer,
        new: &'a mut Value,
        old: &'a Value,
    ) -> BoxFuture<'a, Result<(), ApiError>> {
        self.storage.before_update(server, new, old)
    }
    fn release_unneeded<'a>(
        &'a self,
        server: &'a ApiServer,
        holder: &'a Value,
        keep: &'a Value,
    ) -> BoxFuture<'a, ()> {
        self.storage.release_unneeded(server, holder, keep)
    }
    fn after_write(&self, server: &ApiServer, obj: &Value) {
        self.storage.after_write(server, obj)
    }
    fn graceful_deletion(&self, obj: &Value, requested: Option<i64>) -> Option<i64> {
        self.storage.graceful_deletion(obj, requested)
    }
    fn removal_blocked(&self, obj: &Value) -> bool {
        self.storage.removal_blocked(obj)
    }
    fn prepare_for_delete(&self, obj: &mut Value) {
        self.storage.prepare_for_delete(obj)
    }
    fn connects(&self, sub: Subresource) -> bool {
        self.storage.connects(sub)
    }
    fn connect<'a>(
        &'a self,
        server: &'a ApiServer,
        info: &'a RequestInfo,
        req: Request,
    ) -> BoxFuture<'a, Result<Response, ApiError>> {
        self.storage.connect(server, info, req)
    }
    fn creates_as(&self) -> Option<(&'static ResourceInfo, Subresource)> {
        self.storage.creates_as()
    }
    fn scale(&self, obj: &Value) -> Value {
        self.storage.scale(obj)
    }
    fn apply_scale(&self, obj: &Value, scale: &Value, name: &str) -> Result<Value, ApiError> {
        self.storage.apply_scale(obj, scale, name)
    }
    fn selectable_fields(&self) -> Option<Vec<String>> {
        self.storage.selectable_fields()
    }
    fn field_label(&self, label: &str) -> Result<String, String> {
        self.own.field_label(label)
    }
    fn field_value(&self, obj: &Value, field: &str) -> String {
        self.storage.field_value(obj, field)
    }
    fn columns(&self) -> &'static [Column] {
        self.own.columns()
    }
    fn cells(&self, obj: &Value) -> Vec<Value> {
        self.own.cells(obj)
    }
    fn row_conditions(&self, obj: &Value) -> Option<Value> {
        self.own.row_conditions(obj)
    }
}

/// `obj`'s `apiVersion`, empty when it has none.
pub fn api_version(obj: &Value) -> &str {
    obj.get("apiVersion").and_then(Value::as_str).unwrap_or("")
}

/// `resource`'s `apiVersion` at its storage version.
pub fn storage_api_version(resource: &ResourceInfo) -> String {
    if resource.storage_group.is_empty() {
        resource.storage_version.to_string()
    } else {
        format!("{}/{}", resource.storage_group, resource.storage_version)
    }
}
