//! What a command's positional arguments name: `TYPE NAME...`,
//! `TYPE1,TYPE2`, `all`, or `TYPE/NAME...`, resolved through discovery.

use serde_json::{Map, Value};

use crate::client::{q, Rest};
use crate::discovery::{Resolver, Resource};
use crate::error::{Error, Result};

/// One resource type and the names asked for (empty: every object).
#[derive(Debug, Clone)]
pub struct Target {
    /// The resolved resource.
    pub resource: Resource,
    /// Names (empty means "list").
    pub names: Vec<String>,
}

/// The parsed arguments.
#[derive(Debug, Clone)]
pub struct Targets {
    /// Targets in the order the user named them.
    pub targets: Vec<Target>,
    /// Whether several types were asked for (names then print with kinds).
    pub multiple_types: bool,
    /// Whether exactly one named object was asked for.
    pub single_item: bool,
}

/// The resources `all` expands to when the server lists no categories.
const LEGACY_ALL: &[&str] = &[
    "pods",
    "replicationcontrollers",
    "services",
    "daemonsets.apps",
    "deployments.apps",
    "replicasets.apps",
    "statefulsets.apps",
    "horizontalpodautoscalers.autoscaling",
    "jobs.batch",
    "cronjobs.batch",
];

/// Parses positional arguments.
pub async fn parse(resolver: &mut Resolver<'_>, args: &[String]) -> Result<Targets> {
    let mut targets: Vec<Target> = Vec::new();
    if args.iter().any(|a| a.contains('/')) {
        for a in args {
            let Some((ty, name)) = a.split_once('/') else {
                return Err(Error::usage(
                    "there is no need to specify a resource type as a separate argument when passing arguments in resource/name form (e.g. 'kubectl get resource/<resource_name>' instead of 'kubectl get resource resource/<resource_name>'",
                ));
            };
            if name.is_empty() {
                return Err(Error::usage(
                    "arguments in resource/name form must have a single resource and name",
                ));
            }
            let r = resolver.resolve(ty).await?;
            match targets.iter_mut().find(|t| t.resource == r) {
                Some(t) => t.names.push(name.to_string()),
                None => targets.push(Target {
                    resource: r,
                    names: vec![name.to_string()],
                }),
            }
        }
        let single = args.len() == 1;
        let multiple = targets.len() > 1;
        return Ok(Targets {
            targets,
            multiple_types: multiple,
            single_item: single,
        });
    }
    let Some((types, names)) = args.split_first() else {
        return Ok(Targets {
            targets,
            multiple_types: false,
            single_item: false,
        });
    };
    let mut all = false;
    for ty in types.split(',').filter(|t| !t.is_empty()) {
        if ty == "all" {
            all = true;
            let mut cat: Vec<Resource> = resolver
                .discovery
                .category("all")
                .into_iter()
                .cloned()
                .collect();
            if cat.is_empty() {
                for t in LEGACY_ALL {
                    if let Some(r) = resolver.discovery.resolve(t) {
                        cat.push(r.clone());
                    }
                }
            }
            for r in cat {
                if !targets.iter().any(|t| t.resource == r) {
                    targets.push(Target {
                        resource: r,
                        names: names.to_vec(),
                    });
                }
            }
            continue;
        }
        let r = resolver.resolve(ty).await?;
        if !targets.iter().any(|t| t.resource == r) {
            targets.push(Target {
                resource: r,
                names: names.to_vec(),
            });
        }
    }
    let multiple = all || targets.len() > 1;
    let single = !multiple && names.len() == 1;
    Ok(Targets {
        targets,
        multiple_types: multiple,
        single_item: single,
    })
}

/// The labels a workload (`spec.selector.matchLabels`) or a Service
/// (`spec.selector`) selects its pods by; `None` when it has none.
pub fn pod_selector(obj: &Value) -> Option<&Map<String, Value>> {
    obj["spec"]["selector"]["matchLabels"]
        .as_object()
        .or_else(|| obj["spec"]["selector"].as_object())
}

/// The pods of namespace `ns` that `labels` select, as the server lists them
/// (for commands that act on "the pod of" a workload: `logs`,
/// `port-forward`).
pub async fn selected_pods(
    rest: &Rest,
    ns: &str,
    labels: &Map<String, Value>,
) -> Result<Vec<Value>> {
    let selector: Vec<String> = labels
        .iter()
        .filter_map(|(k, v)| v.as_str().map(|v| format!("{k}={v}")))
        .collect();
    let list = rest
        .get(&format!(
            "/api/v1/namespaces/{}/pods?labelSelector={}",
            q(ns),
            q(&selector.join(","))
        ))
        .await?;
    Ok(list["items"].as_array().cloned().unwrap_or_default())
}
