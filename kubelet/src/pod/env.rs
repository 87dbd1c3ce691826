//! A container's environment, as upstream's kubelet builds it: `envFrom`
//! sources first (ConfigMaps and Secrets, with `prefix`), then `env` in
//! order, each value with `$(VAR)` references to earlier variables expanded
//! (`$$(VAR)` stays literal). `valueFrom` reads the pod's own fields
//! (`fieldRef`), its resources (`resourceFieldRef`), or a key of a ConfigMap
//! or Secret in the pod's namespace.
//!
//! A missing non-optional source is a [`Error`] the worker reports as the
//! container's `CreateContainerConfigError`, as upstream.

use std::collections::{BTreeMap, HashMap};

use apimachinery::quantity::{Format, Quantity};
use k8s_openapi::api::core::v1::{ConfigMap, Container, EnvVarSource, Pod, Secret};
use kube::api::Api;

/// Why an environment could not be built.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A referenced ConfigMap or Secret (or key) does not exist.
    #[error("{0}")]
    Missing(String),
    /// The apiserver could not be asked.
    #[error("reading {what}: {source}")]
    Api {
        /// The object.
        what: String,
        /// Why.
        #[source]
        source: kube::Error,
    },
    /// A fieldRef or resourceFieldRef names something unsupported.
    #[error("{0}")]
    Unsupported(String),
}

/// Expands `$(VAR)` with `vars`; `$$` escapes; unknown references stay.
pub fn expand(s: &str, vars: &HashMap<String, String>) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'$' && i + 1 < b.len() {
            if b[i + 1] == b'$' {
                out.push('$');
                i += 2;
                continue;
            }
            if b[i + 1] == b'(' {
                if let Some(end) = s[i + 2..].find(')') {
                    let name = &s[i + 2..i + 2 + end];
                    match vars.get(name) {
                        Some(v) => out.push_str(v),
                        None => out.push_str(&s[i..i + 3 + end]),
                    }
                    i += 3 + end;
                    continue;
                }
            }
        }
        // Copy one UTF-8 character.
        let ch_len = s[i..].chars().next().map(char::len_utf8).unwrap_or(1);
        out.push_str(&s[i..i + ch_len]);
        i += ch_len;
    }
    out
}

/// Reads ConfigMaps and Secrets once per container start.
struct Sources<'a> {
    client: &'a kube::Client,
    ns: &'a str,
    config_maps: HashMap<String, Option<BTreeMap<String, String>>>,
    secrets: HashMap<String, Option<BTreeMap<String, String>>>,
}

impl Sources<'_> {
    async fn config_map(&mut self, name: &str) -> Result<Option<&BTreeMap<String, String>>, Error> {
        if !self.config_maps.contains_key(name) {
            let api: Api<ConfigMap> = Api::namespaced(self.client.clone(), self.ns);
            let cm = api.get_opt(name).await.map_err(|source| Error::Api {
                what: format!("configmap {name}"),
                source,
            })?;
            self.config_maps
                .insert(name.to_string(), cm.map(|c| c.data.unwrap_or_default()));
        }
        Ok(self.config_maps.get(name).and_then(Option::as_ref))
    }

    async fn secret(&mut self, name: &str) -> Result<Option<&BTreeMap<String, String>>, Error> {
        if !self.secrets.contains_key(name) {
            let api: Api<Secret> = Api::namespaced(self.client.clone(), self.ns);
            let s = api.get_opt(name).await.map_err(|source| Error::Api {
                what: format!("secret {name}"),
                source,
            })?;
            let data = s.map(|s| {
                let mut m: BTreeMap<String, String> = s
                    .data
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(k, v)| (k, String::from_utf8_lossy(&v.0).into_owned()))
                    .collect();
                m.extend(s.string_data.unwrap_or_default());
                m
            });
            self.secrets.insert(name.to_string(), data);
        }
        Ok(self.secrets.get(name).and_then(Option::as_ref))
    }
}

/// The value of a `fieldRef` path of the pod.
pub fn field_value(pod: &Pod, path: &str, pod_ip: &str, host_ip: &str) -> Result<String, Error> {
    let m = &pod.metadata;
    let spec = pod.spec.as_ref();
    let pick = |map: &Option<BTreeMap<String, String>>, key: &str| {
        map.as_ref()
            .and_then(|l| l.get(key))
            .cloned()
            .unwrap_or_default()
    };
    let quoted = |s: &str| s.trim_matches(|c| c == '\'' || c == '"').to_string();
    Ok(match path {
        "metadata.name" => m.name.clone().unwrap_or_default(),
        "metadata.namespace" => m.namespace.clone().unwrap_or_default(),
        "metadata.uid" => m.uid.clone().unwrap_or_default(),
        "spec.nodeName" => spec.and_then(|s| s.node_name.clone()).unwrap_or_default(),
        "spec.serviceAccountName" => spec
            .and_then(|s| s.service_account_name.clone())
            .unwrap_or_default(),
        "status.podIP" | "status.podIPs" => pod_ip.to_string(),
        "status.hostIP" | "status.hostIPs" => host_ip.to_string(),
        "metadata.labels" => format_map(m.labels.as_ref()),
        "metadata.annotations" => format_map(m.annotations.as_ref()),
        p => {
            if let Some(k) = p
                .strip_prefix("metadata.labels[")
                .and_then(|r| r.strip_suffix(']'))
            {
                pick(&m.labels, &quoted(k))
            } else if let Some(k) = p
                .strip_prefix("metadata.annotations[")
                .and_then(|r| r.strip_suffix(']'))
            {
                pick(&m.annotations, &quoted(k))
            } else {
                return Err(Error::Unsupported(format!("unsupported fieldRef {p:?}")));
            }
        }
    })
}

/// `key="value"` lines, as the downward API writes label and annotation
/// maps.
pub fn format_map(m: Option<&BTreeMap<String, String>>) -> String {
    m.into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={v:?}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A `resourceFieldRef` value, rounded up to the divisor as upstream does:
/// CPU compares millicores (`limits.cpu` of `250m` is `1` core, or `250`
/// with divisor `1m`), memory and storage compare bytes. A missing limit is
/// the node's allocatable, as upstream.
pub fn resource_value(
    container: &Container,
    resource: &str,
    divisor: Option<&str>,
    node_milli_cpu: i64,
    node_memory: i64,
) -> Result<String, Error> {
    let res = container.resources.as_ref();
    let get = |limits: bool, name: &str| -> Option<Quantity> {
        let m = if limits {
            res?.limits.as_ref()?
        } else {
            res?.requests.as_ref()?
        };
        Quantity::parse(&m.get(name)?.0).ok()
    };
    let cpu = |q: Option<Quantity>, default: i64| q.map_or(default, |q| q.milli_value());
    let bytes = |q: Option<Quantity>, default: i64| q.map_or(default, |q| q.value());
    let (v, scaled): (i64, fn(&Quantity) -> i64) = match resource {
        "limits.cpu" => (cpu(get(true, "cpu"), node_milli_cpu), Quantity::milli_value),
        "requests.cpu" => (cpu(get(false, "cpu"), 0), Quantity::milli_value),
        "limits.memory" => (bytes(get(true, "memory"), node_memory), Quantity::value),
        "requests.memory" => (bytes(get(false, "memory"), 0), Quantity::value),
        "limits.ephemeral-storage" => (bytes(get(true, "ephemeral-storage"), 0), Quantity::value),
        "requests.ephemeral-storage" => {
            (bytes(get(false, "ephemeral-storage"), 0), Quantity::value)
        }
        other => {
            return Err(Error::Unsupported(format!(
                "unsupported resourceFieldRef {other:?}"
            )))
        }
    };
    let d = divisor
        .and_then(|d| Quantity::parse(d).ok())
        .map(|d| scaled(&d))
        .filter(|d| *d > 0)
        .unwrap_or_else(|| scaled(&Quantity::new(1, 0, Format::DecimalSI)));
    Ok(format!("{}", div_ceil(v, d)))
}

/// `v / d` rounded up (`d > 0`).
fn div_ceil(v: i64, d: i64) -> i64 {
    let q = v / d;
    if v % d > 0 {
        q + 1
    } else {
        q
    }
}

/// Everything [`build`] needs to know about where the pod runs.
pub struct Context<'a> {
    /// The apiserver.
    pub client: &'a kube::Client,
    /// The pod.
    pub pod: &'a Pod,
    /// Its IP.
    pub pod_ip: &'a str,
    /// The node's IP.
    pub host_ip: &'a str,
    /// Node CPU in millicores (for limits left unset).
    pub node_milli_cpu: i64,
    /// Node memory bytes.
    pub node_memory: i64,
    /// The Service variables ([`super::service_env`]): the container's own
    /// variables may refer to them and win over them.
    pub service_env: &'a [(String, String)],
}

/// The container's environment, in order.
pub async fn build(
    ctx: &Context<'_>,
    container: &Container,
) -> Result<Vec<(String, String)>, Error> {
    let ns = ctx.pod.metadata.namespace.as_deref().unwrap_or("default");
    let mut sources = Sources {
        client: ctx.client,
        ns,
        config_maps: HashMap::new(),
        secrets: HashMap::new(),
    };
    let mut order: Vec<String> = Vec::new();
    // The Service variables are there for `$(VAR)` from the start; the
    // container's own names are listed (`order`) as they are set.
    let mut vars: HashMap<String, String> = ctx.service_env.iter().cloned().collect();
    let mut own: std::collections::HashSet<String> = std::collections::HashSet::new();
    let mut set =
        |order: &mut Vec<String>, vars: &mut HashMap<String, String>, k: String, v: String| {
            if own.insert(k.clone()) {
                order.push(k.clone());
            }
            vars.insert(k, v);
        };
    for from in container.env_from.iter().flatten() {
        let prefix = from.prefix.clone().unwrap_or_default();
        if let Some(r) = &from.config_map_ref {
            match sources.config_map(&r.name).await? {
                Some(data) => {
                    for (k, v) in data.clone() {
                        set(&mut order, &mut vars, format!("{prefix}{k}"), v);
                    }
                }
                None if r.optional == Some(true) => {}
                None => {
                    return Err(Error::Missing(format!(
                        "configmap \"{}\" not found",
                        r.name
                    )))
                }
            }
        }
        if let Some(r) = &from.secret_ref {
            match sources.secret(&r.name).await? {
                Some(data) => {
                    for (k, v) in data.clone() {
                        set(&mut order, &mut vars, format!("{prefix}{k}"), v);
                    }
                }
                None if r.optional == Some(true) => {}
                None => return Err(Error::Missing(format!("secret \"{}\" not found", r.name))),
            }
        }
    }
    for e in container.env.iter().flatten() {
        let value = match &e.value_from {
            None => Some(expand(e.value.as_deref().unwrap_or(""), &vars)),
            Some(src) => value_from(ctx, container, src, &mut sources).await?,
        };
        if let Some(v) = value {
            set(&mut order, &mut vars, e.name.clone(), v);
        }
    }
    // Then every Service variable the container did not set itself.
    order.extend(
        ctx.service_env
            .iter()
            .filter(|(k, _)| !own.contains(k))
            .map(|(k, _)| k.clone()),
    );
    Ok(order
        .into_iter()
        .map(|k| {
            let v = vars.get(&k).cloned().unwrap_or_default();
            (k, v)
        })
        .collect())
}

async fn value_from(
    ctx: &Context<'_>,
    container: &Container,
    src: &EnvVarSource,
    sources: &mut Sources<'_>,
) -> Result<Option<String>, Error> {
    if let Some(f) = &src.field_ref {
        return field_value(ctx.pod, &f.field_path, ctx.pod_ip, ctx.host_ip).map(Some);
    }
    if let Some(r) = &src.resource_field_ref {
        let target = match r.container_name.as_deref().filter(|c| !c.is_empty()) {
            Some(name) => ctx
                .pod
                .spec
                .as_ref()
                .and_then(|s| s.containers.iter().find(|c| c.name == name))
                .unwrap_or(container),
            None => container,
        };
        let divisor = r.divisor.as_ref().map(|d| d.0.as_str());
        return resource_value(
            target,
            &r.resource,
            divisor,
            ctx.node_milli_cpu,
            ctx.node_memory,
        )
        .map(Some);
    }
    if let Some(k) = &src.config_map_key_ref {
        let optional = k.optional == Some(true);
        return match sources.config_map(&k.name).await? {
            Some(d) => match d.get(&k.key) {
                Some(v) => Ok(Some(v.clone())),
                None if optional => Ok(None),
                None => Err(Error::Missing(format!(
                    "couldn't find key {} in ConfigMap {}/{}",
                    k.key, sources.ns, k.name
                ))),
            },
            None if optional => Ok(None),
            None => Err(Error::Missing(format!(
                "configmap \"{}\" not found",
                k.name
            ))),
        };
    }
    if let Some(k) = &src.secret_key_ref {
        let optional = k.optional == Some(true);
        return match sources.secret(&k.name).await? {
            Some(d) => match d.get(&k.key) {
                Some(v) => Ok(Some(v.clone())),
                None if optional => Ok(None),
                None => Err(Error::Missing(format!(
                    "couldn't find key {} in Secret {}/{}",
                    k.key, sources.ns, k.name
                ))),
            },
            None if optional => Ok(None),
            None => Err(Error::Missing(format!("secret \"{}\" not found", k.name))),
        };
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dollar_references_expand_as_upstream() {
        let vars: HashMap<String, String> = [("A".to_string(), "1".to_string())].into();
        assert_eq!(expand("x$(A)y", &vars), "x1y");
        assert_eq!(expand("$$(A)", &vars), "$(A)");
        assert_eq!(expand("$(B)", &vars), "$(B)");
        assert_eq!(expand("$(A", &vars), "$(A");
        assert_eq!(expand("é$(A)ü", &vars), "é1ü");
    }

    #[test]
    fn downward_fields() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p", "namespace": "ns", "labels": {"app": "web"}},
            "spec": {"nodeName": "n1", "containers": []}}))
        .unwrap();
        assert_eq!(field_value(&pod, "metadata.name", "", "").unwrap(), "p");
        assert_eq!(field_value(&pod, "spec.nodeName", "", "").unwrap(), "n1");
        assert_eq!(
            field_value(&pod, "metadata.labels['app']", "", "").unwrap(),
            "web"
        );
        assert_eq!(
            field_value(&pod, "status.podIP", "10.0.0.1", "").unwrap(),
            "10.0.0.1"
        );
        assert!(field_value(&pod, "spec.bogus", "", "").is_err());
        let c: Container = serde_json::from_value(serde_json::json!({"name": "c",
            "resources": {"limits": {"memory": "64Mi", "cpu": "250m"}}}))
        .unwrap();
        assert_eq!(
            resource_value(&c, "limits.memory", Some("1Mi"), 2000, 1_000_000_000).unwrap(),
            "64"
        );
        assert_eq!(
            resource_value(&c, "limits.cpu", None, 2000, 1_000_000_000).unwrap(),
            "1"
        );
        assert_eq!(
            resource_value(&c, "limits.cpu", Some("1m"), 2000, 1_000_000_000).unwrap(),
            "250"
        );
    }
}
