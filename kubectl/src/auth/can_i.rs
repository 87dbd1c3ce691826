//! `kubectl auth can-i`: one question (a SelfSubjectAccessReview: may I
//! VERB this?) or, with `--list`, every rule the apiserver says applies to
//! us in a namespace (a SelfSubjectRulesReview), printed as upstream's table.
//!
//! The table is upstream's view of the rules, not the rules as stored: each
//! rule is broken down to one group, resource, name and verb, the pieces
//! for the same resource (and name) are put back together with their verbs
//! in first-seen order, and the rows are sorted by the text of upstream's
//! generated `PolicyRule.String()` (so by verbs first). Non-resource URLs are
//! never put back together: one row per URL and verb.

use serde_json::{json, Value};

use super::post;
use crate::cli::CanIArgs;
use crate::client::Rest;
use crate::discovery::Resolver;
use crate::error::{Error, Result};
use crate::printers::tabwriter;

/// Verbs upstream knows for resources; others get a warning (still asked).
const RESOURCE_VERBS: &[&str] = &[
    "get",
    "list",
    "watch",
    "create",
    "update",
    "patch",
    "delete",
    "deletecollection",
    "use",
    "bind",
    "impersonate",
    "*",
    "approve",
    "sign",
    "escalate",
    "attest",
];

/// Verbs upstream knows for non-resource URLs.
const NON_RESOURCE_VERBS: &[&str] = &[
    "get", "put", "post", "head", "options", "delete", "patch", "*",
];

/// Resources the server authorizes but discovery does not list (asked
/// without a warning: the impersonate verb's users and groups).
const NON_STANDARD_RESOURCES: &[&str] = &["users", "groups"];

/// Prints one of upstream's warnings (stderr, `Warning: ` prefix).
fn warn(message: &str) {
    eprintln!("Warning: {message}");
}

/// Runs `kubectl auth can-i`.
pub async fn run(rest: &Rest, a: CanIArgs) -> Result<i32> {
    if a.list {
        if !a.args.is_empty() {
            return Err(Error::usage(
                "list option must be specified with no arguments",
            ));
        }
        if a.quiet || a.all_namespaces || a.subresource.is_some() {
            return Err(Error::usage(
                "list option can't be specified with neither quiet, all-namespaces nor subresource options",
            ));
        }
        return list(rest, &rest.namespace, a.no_headers).await;
    }
    let [verb, target] = a.args.as_slice() else {
        return Err(Error::usage(
            "you must specify two arguments: verb resource or verb resource/resourceName.\nSee 'kubectl auth can-i -h' for help and examples.",
        ));
    };
    // Upstream asks with the namespace of the kubeconfig even for
    // cluster-scoped resources (and warns); only -A leaves it out.
    let namespace = if a.all_namespaces {
        String::new()
    } else {
        rest.namespace.clone()
    };
    let spec = if target.starts_with('/') {
        if a.subresource.is_some() {
            return Err(Error::usage(
                "--subresource can not be used with NonResourceURL",
            ));
        }
        if !NON_RESOURCE_VERBS.contains(&verb.as_str()) {
            warn(&format!("verb '{verb}' is not a known verb\n"));
        }
        json!({"nonResourceAttributes": {"verb": verb, "path": target}})
    } else {
        let (typed, name) = target.split_once('/').unwrap_or((target, ""));
        let asked = resource_for(rest, typed).await?;
        if !a.all_namespaces && !asked.resource.is_empty() {
            if asked.namespaced == Some(false) {
                match asked.group.as_str() {
                    "" => warn(&format!(
                        "resource '{}' is not namespace scoped\n",
                        asked.resource
                    )),
                    g => warn(&format!(
                        "resource '{}' is not namespace scoped in group '{g}'\n",
                        asked.resource
                    )),
                }
            }
            if !RESOURCE_VERBS.contains(&verb.as_str()) {
                warn(&format!("verb '{verb}' is not a known verb\n"));
            }
        }
        let mut attrs = json!({"namespace": namespace, "verb": verb, "group": asked.group,
            "resource": asked.resource});
        if let Some(sub) = &a.subresource {
            attrs["subresource"] = json!(sub);
        }
        if !name.is_empty() {
            attrs["name"] = json!(name);
        }
        json!({"resourceAttributes": attrs})
    };
    if a.no_headers {
        return Err(Error::usage(
            "--no-headers cannot be set without --list specified",
        ));
    }
    let review = post(
        rest,
        "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
        &json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
            "metadata": {"creationTimestamp": null}, "spec": spec, "status": {"allowed": false}}),
    )
    .await?;
    let status = &review["status"];
    let allowed = status["allowed"].as_bool().unwrap_or(false);
    if !a.quiet {
        if allowed {
            println!("yes");
        } else {
            let mut line = "no".to_string();
            for k in ["reason", "evaluationError"] {
                if let Some(r) = status[k].as_str().filter(|r| !r.is_empty()) {
                    line.push_str(&format!(" - {r}"));
                }
            }
            println!("{line}");
        }
    }
    Ok(if allowed { 0 } else { 1 })
}

/// What a typed resource is asked as.
struct Asked {
    group: String,
    resource: String,
    /// From discovery; `None` when discovery does not know the resource.
    namespaced: Option<bool>,
}

/// Maps what was typed to the resource asked about, as upstream's
/// `resourceFor`: a served resource by its plural and group; anything else
/// is asked about as typed, in no group, with a warning unless it is one of
/// the resources discovery never lists.
async fn resource_for(rest: &Rest, typed: &str) -> Result<Asked> {
    if typed == "*" {
        return Ok(Asked {
            group: String::new(),
            resource: typed.into(),
            namespaced: None,
        });
    }
    let lower = typed.to_lowercase();
    let mut resolver = Resolver::new(rest).await?;
    if let Ok(r) = resolver.resolve(&lower).await {
        return Ok(Asked {
            group: r.group.clone(),
            resource: r.plural.clone(),
            namespaced: Some(r.namespaced),
        });
    }
    let (resource, group) = lower.split_once('.').unwrap_or((lower.as_str(), ""));
    if !NON_STANDARD_RESOURCES.contains(&lower.as_str()) {
        match group {
            "" => warn(&format!(
                "the server doesn't have a resource type '{resource}'\n"
            )),
            g => warn(&format!(
                "the server doesn't have a resource type '{resource}' in group '{g}'\n"
            )),
        }
    }
    Ok(Asked {
        group: String::new(),
        resource: typed.into(),
        namespaced: None,
    })
}

/// Group, resource and (at most one) name: what rules are merged under.
type SimpleKey = (String, String, Option<String>);

/// One rule as upstream's `rbacv1.PolicyRule` (nil and empty lists alike).
#[derive(Debug, Clone, Default, PartialEq)]
struct Rule {
    verbs: Vec<String>,
    api_groups: Vec<String>,
    resources: Vec<String>,
    resource_names: Vec<String>,
    non_resource_urls: Vec<String>,
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect()
        })
        .unwrap_or_default()
}

/// `[a b c]`, as Go prints a string slice.
pub(super) fn go_slice(items: &[String]) -> String {
    format!("[{}]", items.join(" "))
}

impl Rule {
    /// The text of upstream's generated `String()`, which the table is sorted by.
    fn go_string(&self) -> String {
        format!(
            "&PolicyRule{{Verbs:{},APIGroups:{},Resources:{},ResourceNames:{},NonResourceURLs:{},}}",
            go_slice(&self.verbs),
            go_slice(&self.api_groups),
            go_slice(&self.resources),
            go_slice(&self.resource_names),
            go_slice(&self.non_resource_urls)
        )
    }

    /// One rule per group, resource, verb (and name); one per URL and verb.
    fn breakdown(&self) -> Vec<Rule> {
        let one = |s: &String| vec![s.clone()];
        let mut out = Vec::new();
        for group in &self.api_groups {
            for resource in &self.resources {
                for verb in &self.verbs {
                    let base = Rule {
                        verbs: one(verb),
                        api_groups: one(group),
                        resources: one(resource),
                        ..Rule::default()
                    };
                    if self.resource_names.is_empty() {
                        out.push(base);
                    } else {
                        for name in &self.resource_names {
                            out.push(Rule {
                                resource_names: one(name),
                                ..base.clone()
                            });
                        }
                    }
                }
            }
        }
        for url in &self.non_resource_urls {
            for verb in &self.verbs {
                out.push(Rule {
                    verbs: one(verb),
                    non_resource_urls: one(url),
                    ..Rule::default()
                });
            }
        }
        out
    }

    /// The key rules are put back together under: one group, one resource,
    /// at most one name, no URLs.
    fn simple_key(&self) -> Option<SimpleKey> {
        if self.resource_names.len() > 1
            || !self.non_resource_urls.is_empty()
            || self.api_groups.len() != 1
            || self.resources.len() != 1
        {
            return None;
        }
        Some((
            self.api_groups[0].clone(),
            self.resources[0].clone(),
            self.resource_names.first().cloned(),
        ))
    }

    /// `resource.group/subresource`, as upstream's `CombineResourceGroup`.
    fn resource_column(&self) -> String {
        let Some(first) = self.resources.first() else {
            return String::new();
        };
        let (resource, sub) = match first.split_once('/') {
            Some((r, s)) => (r, Some(s)),
            None => (first.as_str(), None),
        };
        let mut out = resource.to_string();
        if let Some(g) = self.api_groups.first().filter(|g| !g.is_empty()) {
            out.push('.');
            out.push_str(g);
        }
        if let Some(s) = sub {
            out.push('/');
            out.push_str(s);
        }
        out
    }
}

/// The review's status as rules: resource rules first, then non-resource.
fn rules_of(status: &Value) -> Vec<Rule> {
    let resource = status["resourceRules"].as_array().into_iter().flatten();
    let non_resource = status["nonResourceRules"].as_array().into_iter().flatten();
    resource
        .map(|r| Rule {
            verbs: strings(&r["verbs"]),
            api_groups: strings(&r["apiGroups"]),
            resources: strings(&r["resources"]),
            resource_names: strings(&r["resourceNames"]),
            non_resource_urls: Vec::new(),
        })
        .chain(non_resource.map(|r| Rule {
            verbs: strings(&r["verbs"]),
            non_resource_urls: strings(&r["nonResourceURLs"]),
            ..Rule::default()
        }))
        .collect()
}

/// Broken down, put back together per resource and sorted, as upstream
/// shows them.
fn compact(rules: &[Rule]) -> Vec<Rule> {
    let mut out: Vec<Rule> = Vec::new();
    let mut simple: Vec<(SimpleKey, Rule)> = Vec::new();
    for rule in rules.iter().flat_map(Rule::breakdown) {
        match rule.simple_key() {
            Some(key) => match simple.iter_mut().find(|(k, _)| *k == key) {
                Some((_, existing)) => {
                    for verb in rule.verbs {
                        if !existing.verbs.contains(&verb) {
                            existing.verbs.push(verb);
                        }
                    }
                }
                None => simple.push((key, rule)),
            },
            None => out.push(rule),
        }
    }
    out.extend(simple.into_iter().map(|(_, r)| r));
    // A stable sort, as upstream's.
    out.sort_by_cached_key(Rule::go_string);
    out
}

/// The table upstream prints for `--list`.
fn table(rules: &[Rule], headers: bool) -> String {
    let mut rows = Vec::new();
    if headers {
        rows.push(
            ["Resources", "Non-Resource URLs", "Resource Names", "Verbs"]
                .map(String::from)
                .to_vec(),
        );
    }
    for r in rules {
        rows.push(vec![
            r.resource_column(),
            go_slice(&r.non_resource_urls),
            go_slice(&r.resource_names),
            go_slice(&r.verbs),
        ]);
    }
    tabwriter::align(&rows)
}

/// `--list`: a SelfSubjectRulesReview for the namespace.
async fn list(rest: &Rest, namespace: &str, no_headers: bool) -> Result<i32> {
    let review = post(
        rest,
        "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews",
        &json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectRulesReview",
            "metadata": {"creationTimestamp": null}, "spec": {"namespace": namespace},
            "status": {"resourceRules": null, "nonResourceRules": null, "incomplete": false}}),
    )
    .await?;
    let status = &review["status"];
    if status["incomplete"].as_bool() == Some(true) {
        // Upstream's message has no newline of its own here.
        warn(&format!(
            "the list may be incomplete: {}",
            status["evaluationError"].as_str().unwrap_or("")
        ));
    }
    print!("{}", table(&compact(&rules_of(status)), !no_headers));
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_are_merged_per_resource_and_sorted_by_their_go_text() {
        let status = json!({
            "resourceRules": [
                {"verbs": ["get", "list"], "apiGroups": [""], "resources": ["pods", "pods/log"]},
                {"verbs": ["watch", "get"], "apiGroups": [""], "resources": ["pods"]},
                {"verbs": ["get"], "apiGroups": ["apps"], "resources": ["deployments/scale"], "resourceNames": ["a", "b"]},
                {"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]},
            ],
            "nonResourceRules": [
                {"verbs": ["get", "post"], "nonResourceURLs": ["/api"]},
                {"verbs": ["get"], "nonResourceURLs": ["/api"]},
            ],
        });
        let text = table(&compact(&rules_of(&status)), true);
        // Sorted as text: verbs first, and `[get list watch]` before
        // `[get list]` before `[get]` (a space sorts before `]`), and an
        // empty group `[]` before `[apps]`.
        assert_eq!(
            text,
            concat!(
                "Resources                Non-Resource URLs   Resource Names   Verbs\n",
                "*.*                      []                  []               [*]\n",
                "pods                     []                  []               [get list watch]\n",
                "pods/log                 []                  []               [get list]\n",
                "                         [/api]              []               [get]\n",
                "                         [/api]              []               [get]\n",
                "deployments.apps/scale   []                  [a]              [get]\n",
                "deployments.apps/scale   []                  [b]              [get]\n",
                "                         [/api]              []               [post]\n",
            )
        );
    }
}
