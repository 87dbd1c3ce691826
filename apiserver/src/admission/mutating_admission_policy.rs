//! MutatingAdmissionPolicies: changes to objects that the cluster's
//! administrators write as CEL, applied by MutatingAdmissionPolicyBindings
//! in the mutating phase of admission, before the mutating webhooks (as
//! upstream orders its plug-ins).
//!
//! A binding applies as a ValidatingAdmissionPolicy's does
//! ([`super::admission_policy`]: the policy's `matchConstraints`, the
//! binding's `matchResources`, then the policy's `matchConditions`). Each of
//! the policy's `mutations`, in order, sees the object as the mutations
//! before it left it (`object`, with `oldObject`, `request`, `params`,
//! `namespaceObject`, `variables`) and is one of:
//!
//! - `ApplyConfiguration`: the expression builds the fields to set with
//!   typed object literals named after their path in the object,
//!   `Object{spec: Object.spec{replicas: 3}}`, merged into the object as a
//!   server-side apply merges (maps field by field, the built-in kinds'
//!   keyed lists such as containers by key, other lists replaced);
//! - `JSONPatch`: the expression is a list of
//!   `JSONPatch{op: "add", path: "/spec/x", value: ...}` operations,
//!   applied in order (`jsonpatch.escapeKey(k)` escapes a key for a path).
//!
//! An expression that fails, or a patch that does not apply, refuses the
//! request with `failurePolicy: Fail` (the default) and is skipped with
//! `Ignore`. The result goes through the kind's defaults and validation
//! like any request. `reinvocationPolicy: IfNeeded` is not acted on: each
//! policy runs once.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use cel::common::types::Type;
use cel::common::value::{CowVal, Val};
use cel::{Context, Env, ExecutionError, StructType, Value as CelValue};
use http::StatusCode;
use serde_json::{Map, Value};

use super::admission_policy::{self as policy, run, text};
use super::webhook::{predicates, Attributes, Kind};
use crate::errors::{ApiError, Target};
use crate::ApiServer;

/// The plug-in's name (for `--disable-admission-plugins`).
pub const PLUGIN_NAME: &str = "MutatingAdmissionPolicy";

/// Runs the mutations of every binding that applies on `object` (none for
/// a delete or a connect); returns whether the object changed.
pub async fn mutate(
    server: &ApiServer,
    attrs: &Attributes<'_>,
    object: Option<&mut Value>,
    old: Option<&Value>,
) -> Result<bool, ApiError> {
    let Some(object) = object else {
        return Ok(false);
    };
    if super::webhook::exempt(attrs.resource) || server.config.admission.disabled(PLUGIN_NAME) {
        return Ok(false);
    }
    let applicable = policy::applicable(
        server,
        Kind::MutatingPolicy,
        Kind::MutatingPolicyBinding,
        attrs,
        Some(object),
        old,
    )
    .await?;
    let mut changed = false;
    for (policy, binding) in &applicable {
        let spec = policy.get("spec").unwrap_or(&Value::Null);
        match apply_policy(server, spec, binding, attrs, object, old).await {
            Ok(c) => changed |= c,
            Err(_) if text(spec, "/failurePolicy") == "Ignore" => {}
            Err(message) => {
                return Err(denied(
                    attrs,
                    text(policy, "/metadata/name"),
                    text(binding, "/metadata/name"),
                    &message,
                ))
            }
        }
    }
    Ok(changed)
}

/// A failed mutation as upstream words it.
fn denied(attrs: &Attributes<'_>, policy: &str, binding: &str, message: &str) -> ApiError {
    let resource = Target::new(attrs.resource, attrs.name.clone()).qualified();
    ApiError::Rejected {
        code: StatusCode::FORBIDDEN,
        reason: "Forbidden".into(),
        message: format!(
            "{resource} {:?} is forbidden: policy '{policy}' with binding '{binding}' denied request: {message}",
            attrs.name
        ),
    }
}

/// One policy's mutations for one binding, applied to `object` in order.
async fn apply_policy(
    server: &ApiServer,
    spec: &Value,
    binding: &Value,
    attrs: &Attributes<'_>,
    object: &mut Value,
    old: Option<&Value>,
) -> Result<bool, String> {
    let mut changed = false;
    for mutation in spec
        .get("mutations")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let (patch_type, expr) = match text(mutation, "/patchType") {
            "ApplyConfiguration" => (
                PatchType::Apply,
                text(mutation, "/applyConfiguration/expression"),
            ),
            "JSONPatch" => (PatchType::Json, text(mutation, "/jsonPatch/expression")),
            other => return Err(format!("unsupported patchType {other:?}")),
        };
        // Each mutation sees the object as the ones before it left it.
        let request = super::webhook::review::request(
            &uuid::Uuid::new_v4().to_string(),
            attrs,
            Some(object),
            old,
        );
        let env = Arc::new(environment(expr).map_err(|e| e.to_string())?);
        let Some(ctx) = policy::context(
            server,
            Context::with_env(env),
            spec,
            binding,
            attrs,
            &request,
        )
        .await?
        else {
            return Ok(changed);
        };
        if !predicates::conditions_match(spec, &request).map_err(|e| e.0)? {
            return Ok(changed);
        }
        let result = cel_to_json(&run(&ctx, expr)?)?;
        let patched = match patch_type {
            PatchType::Apply => {
                if !result.is_object() {
                    return Err(format!(
                        "apply configuration must evaluate to an Object, got {result}"
                    ));
                }
                apimachinery::patch::apply_strategic_merge_patch(
                    object,
                    &result,
                    text(object, "/apiVersion"),
                    text(object, "/kind"),
                )
                .map_err(|e| e.to_string())?
            }
            PatchType::Json => {
                if !result.is_array() {
                    return Err(format!(
                        "JSON patch must evaluate to a list of JSONPatch, got {result}"
                    ));
                }
                apimachinery::patch::apply_json_patch(object, &result).map_err(|e| e.to_string())?
            }
        };
        if patched != *object {
            *object = patched;
            changed = true;
        }
    }
    Ok(changed)
}

#[derive(Clone, Copy)]
enum PatchType {
    Apply,
    Json,
}

/// The CEL environment of one mutation: the standard library, the
/// `JSONPatch` type, `jsonpatch.escapeKey`, and each `Object...` type the
/// expression names (upstream derives them from the object's schema; here
/// any field is accepted and the object's own validation judges the
/// result).
fn environment(expr: &str) -> Result<Env, cel::DeclarationError> {
    let mut env = Env::stdlib();
    for name in object_type_names(expr) {
        env.add_type(MapStruct::new(name))?;
    }
    env.add_type(MapStruct::new("JSONPatch".to_string()))?;
    env.add_overload(
        "jsonpatch.escapeKey",
        "jsonpatch_escape_key_string",
        vec![cel::common::types::STRING_TYPE],
        |args| {
            let key = args
                .first()
                .and_then(|a| a.downcast_ref::<cel::common::types::CelString>())
                .map(|s| s.inner().to_string())
                .unwrap_or_default();
            Ok(CowVal::owned(cel::common::types::CelString::from(
                key.replace('~', "~0").replace('/', "~1"),
            )))
        },
    )?;
    Ok(env)
}

/// The `Object`, `Object.spec`, ... type names of the object literals in
/// `expr` (a name followed by `{`).
fn object_type_names(expr: &str) -> Vec<String> {
    let bytes = expr.as_bytes();
    let mut names = Vec::new();
    let mut i = 0;
    while let Some(pos) = expr[i..].find("Object") {
        let start = i + pos;
        i = start + "Object".len();
        let boundary = start == 0 || {
            let c = bytes[start - 1];
            !(c.is_ascii_alphanumeric() || c == b'_' || c == b'.')
        };
        if !boundary {
            continue;
        }
        let mut end = i;
        while end < bytes.len() && bytes[end] == b'.' {
            let seg = end + 1;
            let mut j = seg;
            while j < bytes.len() && (bytes[j].is_ascii_alphanumeric() || bytes[j] == b'_') {
                j += 1;
            }
            if j == seg {
                break;
            }
            end = j;
        }
        let mut k = end;
        while k < bytes.len() && bytes[k].is_ascii_whitespace() {
            k += 1;
        }
        if k < bytes.len() && bytes[k] == b'{' {
            let name = expr[start..end].to_string();
            if !names.contains(&name) {
                names.push(name);
            }
        }
        i = end.max(i);
    }
    names
}

/// A struct type whose literals become maps of their fields: what the
/// `Object...` and `JSONPatch` literals are here.
struct MapStruct {
    ty: Type,
}

impl MapStruct {
    fn new(name: String) -> MapStruct {
        MapStruct {
            ty: Type::new_struct(name),
        }
    }
}

impl StructType for MapStruct {
    fn get_type(&self) -> &Type {
        &self.ty
    }

    fn new_value<'b, 'v>(
        &self,
        fields: BTreeMap<String, CowVal<'b, 'v>>,
    ) -> Result<Box<dyn Val + 'v>, ExecutionError> {
        let mut map = HashMap::new();
        for (name, value) in fields {
            let value = CelValue::try_from(value.as_ref())?;
            map.insert(cel::objects::Key::String(Arc::new(name)), value);
        }
        Box::<dyn Val>::try_from(CelValue::Map(cel::objects::Map { map: Arc::new(map) }))
            .map(|b| b as Box<dyn Val + 'v>)
    }
}

/// A CEL result as JSON: maps with string keys, lists, scalars.
fn cel_to_json(v: &CelValue) -> Result<Value, String> {
    Ok(match v {
        CelValue::Null => Value::Null,
        CelValue::Bool(b) => Value::Bool(*b),
        CelValue::Int(i) => Value::from(*i),
        CelValue::UInt(u) => Value::from(*u),
        CelValue::Float(f) => serde_json::Number::from_f64(*f)
            .map(Value::Number)
            .unwrap_or(Value::Null),
        CelValue::String(s) => Value::String(s.to_string()),
        CelValue::List(items) => Value::Array(
            items
                .iter()
                .map(cel_to_json)
                .collect::<Result<Vec<_>, _>>()?,
        ),
        CelValue::Map(m) => {
            let mut out = Map::new();
            for (k, v) in m.map.iter() {
                let key = match k {
                    cel::objects::Key::String(s) => s.to_string(),
                    other => return Err(format!("a map key must be a string, got {other:?}")),
                };
                out.insert(key, cel_to_json(v)?);
            }
            Value::Object(out)
        }
        other => return Err(format!("cannot be written in an object: {other:?}")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_type_names_are_found_with_their_paths() {
        assert_eq!(
            object_type_names("Object{spec: Object.spec{replicas: 1337}}"),
            ["Object", "Object.spec"]
        );
        assert_eq!(
            object_type_names(
                "Object{metadata: Object.metadata{annotations: {'a': object.metadata.name}}}"
            ),
            ["Object", "Object.metadata"]
        );
        assert!(object_type_names("MyObject{x: 1} + object.spec").is_empty());
    }

    fn evaluate(expr: &str, object: Value) -> Value {
        let env = Arc::new(environment(expr).expect("environment"));
        let mut ctx = Context::with_env(env);
        ctx.add_variable_from_value("object", crate::apiextensions::cel::json_to_cel(&object));
        cel_to_json(&run(&ctx, expr).expect("runs")).expect("json")
    }

    #[test]
    fn apply_configurations_and_json_patches_evaluate_to_json() {
        let deployment = serde_json::json!({"metadata": {"name": "web"}, "spec": {"replicas": 1}});
        assert_eq!(
            evaluate(
                "Object{spec: Object.spec{replicas: 1337}}",
                deployment.clone()
            ),
            serde_json::json!({"spec": {"replicas": 1337}})
        );
        assert_eq!(
            evaluate(
                "Object{metadata: Object.metadata{annotations: {'by': object.metadata.name}}}",
                deployment.clone()
            ),
            serde_json::json!({"metadata": {"annotations": {"by": "web"}}})
        );
        assert_eq!(
            evaluate(
                "[JSONPatch{op: 'add', path: '/metadata/labels/' + jsonpatch.escapeKey('a/b'), value: 'x'}]",
                deployment
            ),
            serde_json::json!([{"op": "add", "path": "/metadata/labels/a~1b", "value": "x"}])
        );
    }
}
