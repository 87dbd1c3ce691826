//! `kubectl create -f` and the generators `create namespace|deployment|
//! configmap|secret generic`, which build the object upstream would build.

use base64::Engine;
use http::Method;
use serde_json::{json, Map, Value};

use crate::apply::{place, validation, DryRun};
use crate::cli::{CreateArgs, CreateWhat, SecretKind};
use crate::client::Rest;
use crate::discovery::Resolver;
use crate::error::{Error, Result};
use crate::get::{print_object, Output};
use crate::manifest::{self, Doc};

/// Runs `kubectl create`.
pub async fn run(rest: &Rest, a: CreateArgs) -> Result<i32> {
    match a.what {
        None => from_files(rest, a.files).await,
        Some(CreateWhat::Namespace {
            name,
            output,
            dry_run,
        }) => {
            let obj = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"creationTimestamp": null, "name": name}, "spec": {}, "status": {}});
            generated(rest, obj, output, dry_run).await
        }
        Some(CreateWhat::Deployment {
            name,
            image,
            replicas,
            port,
            output,
            dry_run,
        }) => {
            let containers: Vec<Value> = image
                .iter()
                .map(|i| {
                    let mut c = json!({"image": i, "name": container_name(i), "resources": {}});
                    if let Some(p) = port {
                        c["ports"] = json!([{"containerPort": p}]);
                    }
                    c
                })
                .collect();
            let obj = json!({
                "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"creationTimestamp": null, "labels": {"app": name}, "name": name},
                "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}}, "strategy": {},
                         "template": {"metadata": {"creationTimestamp": null, "labels": {"app": name}}, "spec": {"containers": containers}}},
                "status": {}
            });
            generated(rest, obj, output, dry_run).await
        }
        Some(CreateWhat::Job {
            name,
            image,
            from,
            output,
            dry_run,
            command,
        }) => {
            let obj = match (image, from) {
                (Some(_), Some(_)) | (None, None) => {
                    return Err(Error::usage("either --image or --from must be specified"))
                }
                (Some(image), None) => {
                    let mut container = json!({"image": image, "name": name, "resources": {}});
                    if !command.is_empty() {
                        container["command"] = json!(command);
                    }
                    json!({
                        "apiVersion": "batch/v1", "kind": "Job",
                        "metadata": {"creationTimestamp": null, "name": name},
                        "spec": {"template": {"metadata": {"creationTimestamp": null},
                            "spec": {"containers": [container], "restartPolicy": "Never"}}},
                        "status": {}
                    })
                }
                (None, Some(from)) => job_from_cronjob(rest, &name, &from).await?,
            };
            generated(rest, obj, output, dry_run).await
        }
        Some(CreateWhat::Configmap {
            name,
            from_literal,
            from_file,
            output,
            dry_run,
        }) => {
            let data = key_values(&from_literal, &from_file, false)?;
            let obj = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"creationTimestamp": null, "name": name}, "data": data});
            generated(rest, obj, output, dry_run).await
        }
        Some(CreateWhat::Secret {
            kind:
                SecretKind::Generic {
                    name,
                    from_literal,
                    from_file,
                    secret_type,
                    output,
                    dry_run,
                },
        }) => {
            let data = key_values(&from_literal, &from_file, true)?;
            let mut obj = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"creationTimestamp": null, "name": name}, "data": data});
            if let Some(t) = secret_type {
                obj["type"] = json!(t);
            }
            generated(rest, obj, output, dry_run).await
        }
    }
}

/// The container name upstream derives from an image reference.
fn container_name(image: &str) -> String {
    let base = image.rsplit('/').next().unwrap_or(image);
    let base = base.split('@').next().unwrap_or(base);
    base.split(':').next().unwrap_or(base).to_string()
}

fn key_values(literals: &[String], files: &[String], b64: bool) -> Result<Map<String, Value>> {
    let mut data = Map::new();
    let enc = |s: &[u8]| -> Value {
        if b64 {
            json!(base64::engine::general_purpose::STANDARD.encode(s))
        } else {
            json!(String::from_utf8_lossy(s))
        }
    };
    for l in literals {
        let (k, v) = l.split_once('=').ok_or_else(|| {
            Error::usage(format!("invalid literal source {l}, expected key=value"))
        })?;
        data.insert(k.to_string(), enc(v.as_bytes()));
    }
    for f in files {
        let (k, p) = match f.split_once('=') {
            Some((k, p)) => (k.to_string(), p.to_string()),
            None => (
                std::path::Path::new(f)
                    .file_name()
                    .and_then(|n| n.to_str())
                    .unwrap_or(f)
                    .to_string(),
                f.clone(),
            ),
        };
        let bytes =
            std::fs::read(&p).map_err(|e| Error::usage(format!("error reading {p}: {e}")))?;
        data.insert(k, enc(&bytes));
    }
    Ok(data)
}

/// `kubectl create job NAME --from=cronjob/CJ`: the CronJob's job template
/// as a Job it owns, annotated `cronjob.kubernetes.io/instantiate: manual`
/// (upstream's manual run of a CronJob).
async fn job_from_cronjob(rest: &Rest, name: &str, from: &str) -> Result<Value> {
    let (kind, cj_name) = from.split_once('/').ok_or_else(|| {
        Error::usage(format!(
            "from must be of the form <resource>/<name>, got {from:?}"
        ))
    })?;
    let r = Resolver::new(rest).await?.resolve(kind).await?;
    let cj = rest
        .get(&r.object_path(Some(&rest.namespace), cj_name))
        .await?;
    if r.kind != "CronJob" {
        // Upstream names the Go type it decoded (`*v1.Deployment`).
        return Err(Error::usage(format!(
            "unknown object type *{}.{}",
            r.version, r.kind
        )));
    }
    let template = &cj["spec"]["jobTemplate"];
    let mut annotations = serde_json::Map::new();
    annotations.insert("cronjob.kubernetes.io/instantiate".into(), json!("manual"));
    if let Some(a) = template["metadata"]["annotations"].as_object() {
        annotations.extend(a.clone());
    }
    let mut metadata = json!({
        "annotations": annotations,
        "creationTimestamp": null,
        "name": name,
        "ownerReferences": [{"apiVersion": "batch/v1", "controller": true, "kind": "CronJob",
                             "name": cj_name, "uid": cj["metadata"]["uid"]}]
    });
    if let Some(labels) = template["metadata"]["labels"].as_object() {
        metadata["labels"] = json!(labels);
    }
    // As upstream re-encodes the template it decoded: the pod template's
    // metadata with its zero creationTimestamp, every container with its
    // (struct, never omitted) resources.
    let mut spec = template["spec"].clone();
    if let Some(t) = spec.get_mut("template").and_then(Value::as_object_mut) {
        let meta = t.entry("metadata").or_insert_with(|| json!({}));
        if let Some(m) = meta.as_object_mut() {
            m.entry("creationTimestamp").or_insert(Value::Null);
        }
        if let Some(pod) = t.get_mut("spec").and_then(Value::as_object_mut) {
            for list in ["initContainers", "containers"] {
                for c in pod
                    .get_mut(list)
                    .and_then(Value::as_array_mut)
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_object_mut)
                {
                    c.entry("resources").or_insert_with(|| json!({}));
                }
            }
        }
    }
    Ok(
        json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": metadata, "spec": spec, "status": {}}),
    )
}

async fn generated(
    rest: &Rest,
    obj: Value,
    output: Option<String>,
    dry_run: Option<String>,
) -> Result<i32> {
    let dry = DryRun::parse(dry_run.as_deref())?;
    let output = match output.as_deref() {
        None => None,
        o => Some(Output::parse(o)?),
    };
    let mut resolver = Resolver::new(rest).await?;
    let api_version = obj["apiVersion"].as_str().unwrap_or("").to_string();
    let kind = obj["kind"].as_str().unwrap_or("").to_string();
    let r = resolver.for_kind(&api_version, &kind).await?;
    let mut doc = Doc {
        source: String::new(),
        name: obj["metadata"]["name"].as_str().unwrap_or("").to_string(),
        namespace: None,
        api_version,
        kind,
        object: obj,
    };
    let ns = place(rest, &r, &mut doc)?;
    let created = if dry == DryRun::Client {
        let mut o = doc.object.clone();
        if r.namespaced {
            // Upstream prints a client-side dry run without the namespace.
            if let Some(m) = o["metadata"].as_object_mut() {
                m.remove("namespace");
            }
        }
        o
    } else {
        let q = match dry.query() {
            Some(d) => format!("?{d}&fieldManager=kubectl-create&fieldValidation=Strict"),
            None => "?fieldManager=kubectl-create&fieldValidation=Strict".into(),
        };
        rest.call(
            Method::POST,
            &format!("{}{q}", r.path(ns.as_deref())),
            Some("application/json"),
            Some(serde_json::to_vec(&doc.object)?),
        )
        .await?
    };
    // Upstream prints the typed object, whose pod template always carries
    // a (null) creationTimestamp.
    let mut created = created;
    if created["spec"]["template"]["metadata"].is_object()
        && created["spec"]["template"]["metadata"]
            .get("creationTimestamp")
            .is_none()
    {
        created["spec"]["template"]["metadata"]["creationTimestamp"] = Value::Null;
    }
    match output {
        Some(o) => print!("{}", print_object(&o, &r, &created)),
        None => println!("{}/{} created{}", r.kind_prefix(), doc.name, dry.suffix()),
    }
    Ok(0)
}

async fn from_files(rest: &Rest, a: crate::cli::FileArgs) -> Result<i32> {
    if a.filename.is_empty() {
        return Err(Error::Raw("error: must specify one of -f and -k\n\nerror: Unexpected args: []\nSee 'kubectl create -h' for help and examples".into()));
    }
    let dry = DryRun::parse(a.dry_run.as_deref())?;
    let validate = validation(a.validate.as_deref())?;
    let output = match a.output.as_deref() {
        None => None,
        o => Some(Output::parse(o)?),
    };
    let docs = manifest::read(&a.filename, a.recursive)?;
    let mut resolver = Resolver::new(rest).await?;
    let mut errors = Vec::new();
    for mut doc in docs {
        let r = resolver.for_kind(&doc.api_version, &doc.kind).await?;
        let ns = place(rest, &r, &mut doc)?;
        let res = if dry == DryRun::Client {
            Ok(doc.object.clone())
        } else {
            let mut q = format!("?fieldManager=kubectl-create&fieldValidation={validate}");
            if let Some(d) = dry.query() {
                q = format!("?{d}&{}", &q[1..]);
            }
            rest.call(
                Method::POST,
                &format!("{}{q}", r.path(ns.as_deref())),
                Some("application/json"),
                Some(serde_json::to_vec(&doc.object)?),
            )
            .await
            .map_err(|e| e.with_context(format!("error when creating \"{}\"", doc.source)))
        };
        match res {
            Ok(obj) => match &output {
                Some(o) => print!("{}", print_object(o, &r, &obj)),
                None => println!("{}/{} created{}", r.kind_prefix(), doc.name, dry.suffix()),
            },
            Err(e) => errors.push(e),
        }
    }
    Ok(crate::error::report(errors))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_names_from_images() {
        assert_eq!(container_name("nginx"), "nginx");
        assert_eq!(container_name("docker.io/library/busybox:1.36"), "busybox");
        assert_eq!(container_name("reg:5000/app@sha256:abc"), "app");
    }
}
