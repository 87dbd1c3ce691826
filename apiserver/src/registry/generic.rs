//! [`Typed`]: the one strategy of the kinds that are stored with no
//! behaviour of their own in the apiserver (StorageClasses, Roles,
//! PodDisruptionBudgets, FlowSchemas, CRDs, ...): decode into the kind's
//! `k8s-openapi` type `T`, publish `T`'s OpenAPI schema, fill in upstream's
//! defaults, check upstream's key rules, start a kind that has a `/status`
//! subresource with an empty status, and print upstream's columns.
//!
//! Each such kind is one small file under its group's folder that says only
//! what differs: its printer, its defaults and its rules, handed to the
//! builder as plain functions (`Typed::new(COLUMNS, cells).rules(validate)`),
//! and one row in [`crate::registry::builtin_strategies`].

use std::marker::PhantomData;

use futures::future::BoxFuture;
use k8s_openapi::schemars::generate::SchemaGenerator;
use k8s_openapi::schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};

use crate::authentication::UserInfo;
use crate::errors::ApiError;
use crate::printers::Column;
use crate::registry::strategy::{normalize, schema, Strategy};
use crate::registry::versions::Version;
use crate::validation::{FieldError, NameRule};
use crate::ApiServer;

/// Checks a new (or updated) object, adding what is wrong to the list.
pub type Rules = fn(&Value, &mut Vec<FieldError>);
/// Checks an update of the second object into the first.
pub type UpdateRules = fn(&Value, &Value, &mut Vec<FieldError>);
/// Fills in the answer of a review posted by the user (asking the
/// server's authenticator or authorizer).
pub type Answer = for<'a> fn(&'a ApiServer, &'a UserInfo, &'a mut Value) -> BoxFuture<'a, ()>;

/// Admission of a new object that needs the cluster's state (a claim's
/// default StorageClass).
pub type Admit = for<'a> fn(&'a ApiServer, &'a mut Value) -> BoxFuture<'a, Result<(), ApiError>>;

/// A stored kind of type `T` (see the module docs).
pub struct Typed<T> {
    columns: &'static [Column],
    cells: fn(&Value) -> Vec<Value>,
    default: fn(&mut Value),
    rules: Rules,
    update_rules: UpdateRules,
    keep_on_update: &'static [&'static str],
    on_create: fn(&mut Value),
    on_update: fn(&mut Value),
    creator: fn(&UserInfo, &mut Value),
    with_status: bool,
    status_keeps_metadata: bool,
    name_rule: NameRule,
    answer: Option<Answer>,
    admit: Option<Admit>,
    versions: fn() -> Vec<Version>,
    kind: PhantomData<fn() -> T>,
}

fn no_defaults(_: &mut Value) {}
fn no_creator(_: &UserInfo, _: &mut Value) {}
fn no_rules(_: &Value, _: &mut Vec<FieldError>) {}
fn no_update_rules(_: &Value, _: &Value, _: &mut Vec<FieldError>) {}
fn no_versions() -> Vec<Version> {
    Vec::new()
}

impl<T> Typed<T> {
    /// A kind printed with `columns` and `cells`, with no defaults or rules.
    pub const fn new(columns: &'static [Column], cells: fn(&Value) -> Vec<Value>) -> Self {
        Typed {
            columns,
            cells,
            default: no_defaults,
            rules: no_rules,
            update_rules: no_update_rules,
            keep_on_update: &[],
            on_create: no_defaults,
            on_update: no_defaults,
            creator: no_creator,
            with_status: false,
            status_keeps_metadata: false,
            name_rule: NameRule::Dns1123Subdomain,
            answer: None,
            admit: None,
            versions: no_versions,
            kind: PhantomData,
        }
    }

    /// Upstream's defaulting.
    pub const fn defaults(mut self, default: fn(&mut Value)) -> Self {
        self.default = default;
        self
    }

    /// Upstream's validation of a new object (run on updates too).
    pub const fn rules(mut self, rules: Rules) -> Self {
        self.rules = rules;
        self
    }

    /// Upstream's rules for an update (immutable fields, ...).
    pub const fn update_rules(mut self, rules: UpdateRules) -> Self {
        self.update_rules = rules;
        self
    }

    /// Top-level fields besides `status` that only a subresource may change
    /// (a CSR's `spec` never changes; its approval conditions go through
    /// `/approval`): an update of the main resource keeps the stored ones.
    pub const fn keep_on_update(mut self, fields: &'static [&'static str]) -> Self {
        self.keep_on_update = fields;
        self
    }

    /// What the server sets on a new object besides its status (a CSR's
    /// requester).
    pub const fn on_create(mut self, prepare: fn(&mut Value)) -> Self {
        self.on_create = prepare;
        self
    }

    /// What the server turns the new object of an update into before
    /// checking it (a Secret's `stringData` folded into `data`).
    pub const fn on_update(mut self, prepare: fn(&mut Value)) -> Self {
        self.on_update = prepare;
        self
    }

    /// A `/status` write keeps all of the stored metadata (upstream's newer
    /// kinds, see [`Strategy::status_keeps_metadata`]).
    pub const fn status_keeps_metadata(mut self) -> Self {
        self.status_keeps_metadata = true;
        self
    }

    /// What the server records of the user creating an object (a CSR's
    /// requester).
    pub const fn records_creator(mut self, record: fn(&UserInfo, &mut Value)) -> Self {
        self.creator = record;
        self
    }

    /// The kind has a `/status` subresource: a new object starts with an
    /// empty status whatever the client sent (upstream's PrepareForCreate).
    pub const fn with_status(mut self) -> Self {
        self.with_status = true;
        self
    }

    /// Admission plug-ins that apply to every new object of the kind.
    pub const fn admits(mut self, admit: Admit) -> Self {
        self.admit = Some(admit);
        self
    }

    /// A review: posted objects are answered by `answer`, never stored.
    pub const fn answers(mut self, answer: Answer) -> Self {
        self.answer = Some(answer);
        self
    }

    /// Served at other versions besides this one, the storage version
    /// (see [`crate::registry::versions`]).
    pub const fn served_also_at(mut self, versions: fn() -> Vec<Version>) -> Self {
        self.versions = versions;
        self
    }

    /// Names follow `rule` rather than being DNS subdomains.
    pub const fn names(mut self, rule: NameRule) -> Self {
        self.name_rule = rule;
        self
    }
}

impl<T> Strategy for Typed<T>
where
    T: DeserializeOwned + Serialize + JsonSchema,
{
    fn normalize(&self, obj: &mut Value) -> Result<(), String> {
        normalize::<T>(obj)
    }

    fn schema(&self, gen: &mut SchemaGenerator) -> Option<String> {
        schema::<T>(gen)
    }

    fn default(&self, obj: &mut Value) {
        (self.default)(obj);
    }

    fn name_rule(&self) -> NameRule {
        self.name_rule
    }

    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        let mut errs = Vec::new();
        (self.rules)(obj, &mut errs);
        errs
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        let mut errs = Vec::new();
        (self.update_rules)(new, old, &mut errs);
        errs
    }

    fn prepare_for_create(&self, obj: &mut Value, _uid: &str) {
        if self.with_status {
            if let Some(map) = obj.as_object_mut() {
                map.insert("status".into(), json!({}));
            }
        }
        (self.on_create)(obj);
    }

    fn status_keeps_metadata(&self) -> bool {
        self.status_keeps_metadata
    }

    fn record_creator(&self, user: &UserInfo, obj: &mut Value) {
        (self.creator)(user, obj);
    }

    fn prepare_for_update(&self, new: &mut Value, old: &Value) {
        (self.on_update)(new);
        let Some(map) = new.as_object_mut() else {
            return;
        };
        for field in self.keep_on_update {
            match old.get(*field) {
                Some(v) => {
                    map.insert((*field).into(), v.clone());
                }
                None => {
                    map.remove(*field);
                }
            }
        }
    }

    fn admit_create<'a>(
        &'a self,
        server: &'a ApiServer,
        obj: &'a mut Value,
    ) -> BoxFuture<'a, Result<(), ApiError>> {
        match self.admit {
            Some(admit) => admit(server, obj),
            None => Box::pin(async { Ok(()) }),
        }
    }

    fn review<'a>(
        &'a self,
        server: &'a ApiServer,
        user: &'a UserInfo,
        obj: &'a mut Value,
    ) -> BoxFuture<'a, Result<(), ApiError>> {
        Box::pin(async move {
            match self.answer {
                Some(answer) => {
                    answer(server, user, obj).await;
                    Ok(())
                }
                None => Err(ApiError::MethodNotAllowed(
                    "objects of this kind are stored, not answered".into(),
                )),
            }
        })
    }

    fn columns(&self) -> &'static [Column] {
        self.columns
    }

    fn cells(&self, obj: &Value) -> Vec<Value> {
        (self.cells)(obj)
    }

    fn versions(&self) -> Vec<Version> {
        (self.versions)()
    }
}
