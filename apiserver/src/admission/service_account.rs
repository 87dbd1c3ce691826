//! ServiceAccount admission: every pod runs as a ServiceAccount, and gets
//! that account's API credentials mounted, unless it says otherwise.
//!
//! On pod create (upstream's `ServiceAccount` plug-in):
//!
//! 1. `spec.serviceAccountName` defaults to `default`;
//! 2. the account must exist, or the pod is refused (403, `error looking up
//!    service account <ns>/<name>: serviceaccount "<name>" not found`). The
//!    `default` account is made by the controller-manager's serviceaccount
//!    controller right after its namespace, so a pod created in a new
//!    namespace a moment too early waits for it a little (up to ~2 s);
//! 3. unless `automountServiceAccountToken: false` (the pod's choice wins;
//!    when the pod leaves it unset, the account's), a projected volume
//!    `kube-api-access-<5 random characters>` ([`token_volume_source`]: a
//!    TokenRequest token, the cluster CA from the `kube-root-ca.crt`
//!    ConfigMap, the namespace) is mounted read-only at
//!    [`TOKEN_MOUNT_PATH`] in every container and init container that does
//!    not mount something there already. The kubelet fills it in and keeps
//!    the token fresh (`kubelet/src/volumes/service_account_token.rs`);
//! 4. a pod without `imagePullSecrets` gets the account's.
//!
//! Mirror pods (the kubelet's copies of its static pods, annotated
//! `kubernetes.io/config.mirror`) are left alone but may not reference an
//! account, secrets or token projections: their spec is the kubelet's file.
//! An account annotated `kubernetes.io/enforce-mountable-secrets: "true"`
//! limits the secrets its pods may use to those it lists.
//!
//! Pod updates may not change `serviceAccountName`: the pod strategy's
//! update validation allows only a few spec fields to change, and this is
//! not one of them.
//!
//! One difference from upstream: upstream refuses to start without a
//! `--service-account-signing-key-file`, this apiserver serves on without
//! one, and then there is no TokenRequest to fill a token volume with. The
//! volume would only make every pod fail to start (`MountVolume.SetUp
//! failed`), so without a signing key the plug-in defaults and checks the
//! account but mounts nothing.

use std::time::Duration;

use rand::Rng;
use serde_json::{json, Value};

use super::pod_forbidden as forbidden;
use crate::errors::{ApiError, Target};
use crate::ApiServer;

/// The plug-in's name in `--enable-admission-plugins` / `--disable-admission-plugins`.
pub const PLUGIN_NAME: &str = "ServiceAccount";
/// The account of a pod that names none.
pub const DEFAULT_SERVICE_ACCOUNT: &str = "default";
/// Where the API credentials appear in a container.
pub const TOKEN_MOUNT_PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount";
/// The prefix of the token volume's name.
pub const VOLUME_PREFIX: &str = "kube-api-access-";
/// The token's lifetime: upstream's 3607 s, an hour and a few seconds, a
/// value no client picks, so the apiserver can tell a kubelet-managed
/// token of an auto-mounted volume from any other.
pub const TOKEN_EXPIRATION_SECONDS: i64 = 3607;
/// The annotation marking a mirror pod.
pub const MIRROR_POD_ANNOTATION: &str = "kubernetes.io/config.mirror";
/// The account annotation that limits its pods to the secrets it lists.
pub const ENFORCE_MOUNTABLE_SECRETS_ANNOTATION: &str = "kubernetes.io/enforce-mountable-secrets";

/// How often the `default` account is looked for before a pod is refused
/// (another account is looked for once): the controller makes it right
/// after its namespace.
const DEFAULT_ACCOUNT_ATTEMPTS: usize = 10;

/// The projected volume source of the token volume: the token at `token`,
/// `ca.crt` from the `kube-root-ca.crt` ConfigMap, and the pod's
/// `namespace`, all mode 0644.
pub fn token_volume_source() -> Value {
    json!({
        "defaultMode": 420,
        "sources": [
            {"serviceAccountToken": {"path": "token", "expirationSeconds": TOKEN_EXPIRATION_SECONDS}},
            {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
            {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}},
        ],
    })
}

fn str_at<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

/// Upstream's `pods "<name>" is forbidden: <why>`; a pod whose name is
/// still to be generated goes by its `generateName` (`pods "web-7d9f-"`),
/// one with neither by `Unknown`, as upstream's admission errors.
/// Reads the account, looking a few times for `default` (see the module
/// docs); `Ok(None)` when it does not exist.
async fn service_account(
    server: &ApiServer,
    namespace: &str,
    name: &str,
) -> Result<Option<Value>, ApiError> {
    let attempts = if name == DEFAULT_SERVICE_ACCOUNT {
        DEFAULT_ACCOUNT_ATTEMPTS
    } else {
        1
    };
    // One pause for all attempts, 100-200 ms, so that pods waiting for the
    // same account do not all look at once.
    let pause = Duration::from_millis(rand::thread_rng().gen_range(100..200));
    for attempt in 0..attempts {
        if attempt > 0 {
            tokio::time::sleep(pause).await;
        }
        match server.lookup("", "serviceaccounts", namespace, name).await {
            Ok(Some(found)) => return Ok(Some((*found.object).clone())),
            Ok(None) => {}
            Err(e) => return Err(ApiError::from_storage(e, Target::default())),
        }
    }
    Ok(None)
}

/// Whether the token is mounted: the pod's choice, else the account's,
/// else yes.
fn should_automount(account: &Value, pod: &Value) -> bool {
    pod.pointer("/spec/automountServiceAccountToken")
        .and_then(Value::as_bool)
        .or_else(|| {
            account
                .get("automountServiceAccountToken")
                .and_then(Value::as_bool)
        })
        .unwrap_or(true)
}

/// Admits a pod being created (see the module docs).
pub async fn admit_pod(server: &ApiServer, pod: &mut Value) -> Result<(), ApiError> {
    if server.config.admission.disabled(PLUGIN_NAME) {
        return Ok(());
    }
    let namespace = str_at(pod, "/metadata/namespace").to_string();
    if pod
        .pointer("/metadata/annotations")
        .and_then(Value::as_object)
        .is_some_and(|a| a.contains_key(MIRROR_POD_ANNOTATION))
    {
        return validate_mirror_pod(pod);
    }
    let name = match str_at(pod, "/spec/serviceAccountName") {
        "" => DEFAULT_SERVICE_ACCOUNT.to_string(),
        n => n.to_string(),
    };
    let Some(account) = service_account(server, &namespace, &name).await? else {
        return Err(forbidden(
            pod,
            format!(
                "error looking up service account {namespace}/{name}: serviceaccount \"{name}\" not found"
            ),
        ));
    };
    let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) else {
        // No spec: validation reports it.
        return Ok(());
    };
    spec.insert("serviceAccountName".into(), json!(name));
    if server.authenticator.service_accounts.can_issue() && should_automount(&account, pod) {
        mount_token(pod);
    }
    let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) else {
        return Ok(());
    };
    let has_pull_secrets = spec
        .get("imagePullSecrets")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty());
    if !has_pull_secrets {
        if let Some(secrets) = account
            .get("imagePullSecrets")
            .and_then(Value::as_array)
            .filter(|a| !a.is_empty())
        {
            let names: Vec<Value> = secrets
                .iter()
                .map(|s| json!({"name": str_at(s, "/name")}))
                .collect();
            spec.insert("imagePullSecrets".into(), Value::Array(names));
        }
    }
    if account
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(ENFORCE_MOUNTABLE_SECRETS_ANNOTATION))
        .and_then(Value::as_str)
        // Go's strconv.ParseBool, as upstream reads it.
        .is_some_and(|v| matches!(v, "1" | "t" | "T" | "true" | "TRUE" | "True"))
    {
        if let Some(why) = unlisted_secret(&account, pod) {
            return Err(forbidden(pod, why));
        }
    }
    Ok(())
}

/// Adds the token volume (reusing a `kube-api-access-` volume the pod
/// already has) and mounts it where no container mounts anything at
/// [`TOKEN_MOUNT_PATH`].
fn mount_token(pod: &mut Value) {
    let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    let existing = spec
        .get("volumes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|v| str_at(v, "/name"))
        .find(|n| n.starts_with(VOLUME_PREFIX))
        .map(String::from);
    let volume_name = existing
        .clone()
        .unwrap_or_else(|| format!("{VOLUME_PREFIX}{}", crate::handlers::random_suffix()));
    let mount = json!({"name": volume_name, "readOnly": true, "mountPath": TOKEN_MOUNT_PATH});
    let mut needed = false;
    for list in ["initContainers", "containers"] {
        let Some(containers) = spec.get_mut(list).and_then(Value::as_array_mut) else {
            continue;
        };
        for c in containers.iter_mut().filter_map(Value::as_object_mut) {
            let mounts = c.entry("volumeMounts").or_insert_with(|| json!([]));
            let Some(mounts) = mounts.as_array_mut() else {
                continue;
            };
            if mounts
                .iter()
                .any(|m| str_at(m, "/mountPath") == TOKEN_MOUNT_PATH)
            {
                continue;
            }
            mounts.push(mount.clone());
            needed = true;
        }
    }
    if existing.is_none() && needed {
        let volumes = spec.entry("volumes").or_insert_with(|| json!([]));
        if let Some(volumes) = volumes.as_array_mut() {
            volumes.push(json!({"name": volume_name, "projected": token_volume_source()}));
        }
    }
}

/// Every container of the pod with the word upstream's messages use for it.
fn containers(pod: &Value) -> impl Iterator<Item = (&'static str, &Value)> {
    [
        ("init container", "initContainers"),
        ("container", "containers"),
        ("ephemeral container", "ephemeralContainers"),
    ]
    .into_iter()
    .flat_map(move |(word, list)| {
        pod.pointer(&format!("/spec/{list}"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(move |c| (word, c))
    })
}

/// Secrets a container's environment reads: `(env var or "", secret)`.
fn env_secrets(c: &Value) -> Vec<(String, String)> {
    let from_env = c
        .get("env")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|e| {
            let s = e.pointer("/valueFrom/secretKeyRef/name")?.as_str()?;
            Some((str_at(e, "/name").to_string(), s.to_string()))
        });
    let from_env_from = c
        .get("envFrom")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|e| {
            let s = e.pointer("/secretRef/name")?.as_str()?;
            Some((String::new(), s.to_string()))
        });
    from_env.chain(from_env_from).collect()
}

/// Secret volumes and projected secret sources.
fn volume_secrets(pod: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for v in pod
        .pointer("/spec/volumes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(s) = v.pointer("/secret/secretName").and_then(Value::as_str) {
            out.push(s.to_string());
        }
        for src in v
            .pointer("/projected/sources")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(s) = src.pointer("/secret/name").and_then(Value::as_str) {
                out.push(s.to_string());
            }
        }
    }
    out
}

/// Mirror pods may not reference accounts, secrets or token projections.
fn validate_mirror_pod(pod: &Value) -> Result<(), ApiError> {
    if !str_at(pod, "/spec/serviceAccountName").is_empty() {
        return Err(forbidden(
            pod,
            "a mirror pod may not reference service accounts".into(),
        ));
    }
    let pull_secrets = pod
        .pointer("/spec/imagePullSecrets")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty());
    if pull_secrets
        || !volume_secrets(pod).is_empty()
        || containers(pod).any(|(_, c)| !env_secrets(c).is_empty())
    {
        return Err(forbidden(
            pod,
            "a mirror pod may not reference secrets".into(),
        ));
    }
    let projects_token = pod
        .pointer("/spec/volumes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|v| v.pointer("/projected/sources").and_then(Value::as_array))
        .flatten()
        .any(|s| s.get("serviceAccountToken").is_some());
    if projects_token {
        return Err(forbidden(
            pod,
            "a mirror pod may not use ServiceAccountToken volume projections".into(),
        ));
    }
    Ok(())
}

/// With enforced mountable secrets: the first secret the pod uses that the
/// account does not list, in upstream's words.
fn unlisted_secret(account: &Value, pod: &Value) -> Option<String> {
    let account_name = str_at(account, "/metadata/name");
    let listed = |field: &str, name: &str| {
        account
            .get(field)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .any(|s| str_at(s, "/name") == name)
    };
    for s in volume_secrets(pod) {
        if !listed("secrets", &s) {
            return Some(format!(
                "volume with secret.secretName=\"{s}\" is not allowed because service account {account_name} does not reference that secret"
            ));
        }
    }
    for (word, c) in containers(pod) {
        let cname = str_at(c, "/name");
        for (env, s) in env_secrets(c) {
            if listed("secrets", &s) {
                continue;
            }
            return Some(if env.is_empty() {
                format!("{word} {cname} with envFrom referencing secret.secretName=\"{s}\" is not allowed because service account {account_name} does not reference that secret")
            } else {
                format!("{word} {cname} with envVar {env} referencing secret.secretName=\"{s}\" is not allowed because service account {account_name} does not reference that secret")
            });
        }
    }
    for (i, s) in pod
        .pointer("/spec/imagePullSecrets")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let name = str_at(s, "/name");
        if !listed("imagePullSecrets", name) {
            return Some(format!(
                "imagePullSecrets[{i}].name=\"{name}\" is not allowed because service account {account_name} does not reference that imagePullSecret"
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(spec: Value) -> Value {
        json!({"metadata": {"name": "p", "namespace": "ns"}, "spec": spec})
    }

    #[test]
    fn the_volume_is_mounted_where_nothing_else_is() {
        let mut p = pod(json!({
            "initContainers": [{"name": "i", "image": "busybox"}],
            "containers": [
                {"name": "a", "image": "busybox"},
                {"name": "b", "image": "busybox", "volumeMounts": [{"name": "mine", "mountPath": TOKEN_MOUNT_PATH}]},
            ],
            "volumes": [{"name": "mine", "emptyDir": {}}],
        }));
        mount_token(&mut p);
        let vols = p["spec"]["volumes"].as_array().expect("volumes");
        assert_eq!(vols.len(), 2);
        let name = vols[1]["name"].as_str().expect("name");
        assert!(name.starts_with(VOLUME_PREFIX) && name.len() == VOLUME_PREFIX.len() + 5);
        assert_eq!(vols[1]["projected"], token_volume_source());
        let want = json!([{"name": name, "readOnly": true, "mountPath": TOKEN_MOUNT_PATH}]);
        assert_eq!(p["spec"]["initContainers"][0]["volumeMounts"], want);
        assert_eq!(p["spec"]["containers"][0]["volumeMounts"], want);
        assert_eq!(
            p["spec"]["containers"][1]["volumeMounts"],
            json!([{"name": "mine", "mountPath": TOKEN_MOUNT_PATH}]),
            "a container with its own mount there keeps it"
        );
        // Admitting again (an existing kube-api-access volume) adds nothing.
        let before = p.clone();
        mount_token(&mut p);
        assert_eq!(p, before);
    }

    #[test]
    fn refusals_name_the_pod_or_its_generate_name() {
        let why = || "no".to_string();
        assert_eq!(
            forbidden(&pod(json!({})), why()).to_string(),
            "pods \"p\" is forbidden: no"
        );
        let generated = json!({"metadata": {"generateName": "web-7d9f-"}});
        assert_eq!(
            forbidden(&generated, why()).to_string(),
            "pods \"web-7d9f-\" is forbidden: no"
        );
        assert_eq!(
            forbidden(&json!({}), why()).to_string(),
            "pods \"Unknown\" is forbidden: no"
        );
    }

    #[test]
    fn no_container_needing_it_means_no_volume() {
        let mut p = pod(json!({
            "containers": [{"name": "a", "image": "busybox", "volumeMounts": [{"name": "x", "mountPath": TOKEN_MOUNT_PATH}]}],
        }));
        mount_token(&mut p);
        assert!(p["spec"].get("volumes").is_none(), "{p}");
    }

    #[test]
    fn the_pods_choice_wins_over_the_accounts() {
        let sa = |v: Option<bool>| match v {
            Some(b) => json!({"automountServiceAccountToken": b}),
            None => json!({}),
        };
        let p = |v: Option<bool>| match v {
            Some(b) => pod(json!({"automountServiceAccountToken": b})),
            None => pod(json!({})),
        };
        assert!(should_automount(&sa(None), &p(None)));
        assert!(!should_automount(&sa(Some(false)), &p(None)));
        assert!(should_automount(&sa(Some(false)), &p(Some(true))));
        assert!(!should_automount(&sa(Some(true)), &p(Some(false))));
    }

    #[test]
    fn mirror_pods_reference_no_accounts_or_secrets() {
        let mirror = |spec: Value| {
            let mut p = pod(spec);
            p["metadata"]["annotations"] = json!({MIRROR_POD_ANNOTATION: "x"});
            p
        };
        assert!(validate_mirror_pod(&mirror(json!({"containers": [{"name": "a"}]}))).is_ok());
        let err = validate_mirror_pod(&mirror(json!({"serviceAccountName": "default"})))
            .expect_err("an account");
        assert_eq!(
            err.to_string(),
            "pods \"p\" is forbidden: a mirror pod may not reference service accounts"
        );
        let err = validate_mirror_pod(&mirror(json!({"containers": [{"name": "a",
            "env": [{"name": "X", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]}]})))
        .expect_err("a secret");
        assert!(err
            .to_string()
            .ends_with("a mirror pod may not reference secrets"));
        let err = validate_mirror_pod(&mirror(json!({"volumes": [{"name": "t",
            "projected": {"sources": [{"serviceAccountToken": {"path": "t"}}]}}]})))
        .expect_err("a token");
        assert!(err
            .to_string()
            .ends_with("a mirror pod may not use ServiceAccountToken volume projections"));
    }

    #[test]
    fn enforced_accounts_list_the_secrets_their_pods_use() {
        let sa = json!({"metadata": {"name": "robot"}, "secrets": [{"name": "ok"}],
                        "imagePullSecrets": [{"name": "pull"}]});
        let fine = pod(json!({
            "containers": [{"name": "a", "envFrom": [{"secretRef": {"name": "ok"}}]}],
            "volumes": [{"name": "v", "secret": {"secretName": "ok"}}],
            "imagePullSecrets": [{"name": "pull"}],
        }));
        assert_eq!(unlisted_secret(&sa, &fine), None);
        let env = pod(json!({"containers": [{"name": "a",
            "env": [{"name": "PW", "valueFrom": {"secretKeyRef": {"name": "other", "key": "k"}}}]}]}));
        assert_eq!(
            unlisted_secret(&sa, &env).as_deref(),
            Some("container a with envVar PW referencing secret.secretName=\"other\" is not allowed because service account robot does not reference that secret")
        );
        let vol = pod(json!({"volumes": [{"name": "v", "secret": {"secretName": "other"}}]}));
        assert_eq!(
            unlisted_secret(&sa, &vol).as_deref(),
            Some("volume with secret.secretName=\"other\" is not allowed because service account robot does not reference that secret")
        );
        let pull = pod(json!({"imagePullSecrets": [{"name": "pull"}, {"name": "nope"}]}));
        assert_eq!(
            unlisted_secret(&sa, &pull).as_deref(),
            Some("imagePullSecrets[1].name=\"nope\" is not allowed because service account robot does not reference that imagePullSecret")
        );
    }
}
