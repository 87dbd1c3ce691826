//! `kubectl port-forward TYPE/NAME [LOCAL:]REMOTE ...`: local ports that
//! lead to a pod's ports, through the apiserver's `portforward`
//! subresource (the WebSocket protocol; kube's `Portforwarder`).
//!
//! The target is a pod, or the pod a Service, Deployment, ReplicaSet,
//! StatefulSet or Job selects (the first running one, as upstream picks
//! it); a Service's port is mapped to its `targetPort`. Each port listens
//! on `--address` (`localhost`: 127.0.0.1 and ::1), prints upstream's
//! `Forwarding from 127.0.0.1:8080 -> 80`, and every accepted connection
//! (`Handling connection for 8080`) gets its own stream to the pod. It
//! runs until interrupted.

use std::net::SocketAddr;

use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};

use crate::cli::PortForwardArgs;
use crate::client::Rest;
use crate::discovery::Resolver;
use crate::error::{Error, Result};

/// One `[LOCAL:]REMOTE` pair (LOCAL 0: any free port).
struct Mapping {
    local: u16,
    remote: String,
}

fn parse_ports(specs: &[String]) -> Result<Vec<Mapping>> {
    specs
        .iter()
        .map(|p| {
            let (local, remote) = match p.split_once(':') {
                Some((l, r)) => (l, r),
                None => (p.as_str(), p.as_str()),
            };
            let local = if local.is_empty() {
                0
            } else {
                local.parse::<u16>().map_err(|_| {
                    Error::usage(format!(
                        "Error parsing local port '{local}': invalid syntax"
                    ))
                })?
            };
            if remote.is_empty() {
                return Err(Error::usage(format!(
                    "Error parsing remote port '{p}': empty"
                )));
            }
            Ok(Mapping {
                local,
                remote: remote.to_string(),
            })
        })
        .collect()
}

/// Runs `kubectl port-forward` until interrupted.
pub async fn run(rest: &Rest, a: PortForwardArgs) -> Result<i32> {
    if a.args.len() < 2 {
        return Err(Error::usage(
            "TYPE/NAME and list of ports are required for port-forward",
        ));
    }
    let target = &a.args[0];
    let mut mappings = parse_ports(&a.args[1..])?;
    let ns = rest.namespace.clone();
    let (pod, service) = resolve_target(rest, &ns, target).await?;
    // A Service's ports become its pods' ports.
    if let Some(svc) = &service {
        for m in mappings.iter_mut() {
            m.remote = service_target_port(svc, &pod, &m.remote)?;
        }
    }
    let mut remote_ports = Vec::new();
    for m in &mappings {
        remote_ports.push(container_port(&pod, &m.remote)?);
    }
    let pod_name = pod["metadata"]["name"].as_str().unwrap_or("").to_string();
    if pod["status"]["phase"] != "Running" {
        return Err(Error::usage(format!(
            "unable to forward port because pod is not running. Current status={}",
            pod["status"]["phase"].as_str().unwrap_or("")
        )));
    }
    let addresses: Vec<String> = a
        .address
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    let pods: Api<Pod> = Api::namespaced(rest.client.clone(), &ns);
    let mut tasks = Vec::new();
    for (m, remote) in mappings.iter().zip(remote_ports) {
        let mut local = m.local;
        for addr in &addresses {
            let hosts: Vec<&str> = if addr == "localhost" {
                vec!["127.0.0.1", "::1"]
            } else {
                vec![addr.as_str()]
            };
            for host in hosts {
                let bind: SocketAddr = match host.parse::<std::net::IpAddr>() {
                    Ok(ip) => SocketAddr::new(ip, local),
                    Err(_) => return Err(Error::usage(format!("{host} is not a valid IP"))),
                };
                let listener = match TcpListener::bind(bind).await {
                    Ok(l) => l,
                    // ::1 may be missing; upstream goes on with what it got.
                    Err(e) if host == "::1" => {
                        eprintln!("Unable to listen on port {local}: {e}");
                        continue;
                    }
                    Err(e) => {
                        return Err(Error::usage(format!(
                            "Unable to listen on port {local}: {e}"
                        )))
                    }
                };
                let bound = listener.local_addr().map(|a| a.port()).unwrap_or(local);
                local = bound;
                let shown = if host.contains(':') {
                    format!("[{host}]")
                } else {
                    host.to_string()
                };
                println!("Forwarding from {shown}:{bound} -> {remote}");
                let pods = pods.clone();
                let pod_name = pod_name.clone();
                tasks.push(tokio::spawn(accept(
                    listener, pods, pod_name, bound, remote,
                )));
            }
        }
    }
    if tasks.is_empty() {
        return Err(Error::usage(
            "unable to listen on any of the requested ports",
        ));
    }
    let _ = tokio::signal::ctrl_c().await;
    for t in tasks {
        t.abort();
    }
    Ok(0)
}

/// Accepts connections on one local port, each forwarded on its own stream.
async fn accept(listener: TcpListener, pods: Api<Pod>, pod: String, local: u16, remote: u16) {
    loop {
        let Ok((conn, _)) = listener.accept().await else {
            continue;
        };
        println!("Handling connection for {local}");
        let pods = pods.clone();
        let pod = pod.clone();
        tokio::spawn(async move {
            if let Err(e) = forward(conn, &pods, &pod, remote).await {
                eprintln!("E port-forward: an error occurred forwarding {local} -> {remote}: {e}");
            }
        });
    }
}

async fn forward(
    mut conn: TcpStream,
    pods: &Api<Pod>,
    pod: &str,
    remote: u16,
) -> std::result::Result<(), String> {
    let mut pf = pods
        .portforward(pod, &[remote])
        .await
        .map_err(|e| e.to_string())?;
    let mut upstream = pf
        .take_stream(remote)
        .ok_or_else(|| "no stream for the port".to_string())?;
    let _ = tokio::io::copy_bidirectional(&mut conn, &mut upstream).await;
    drop(upstream);
    let _ = pf.join().await;
    Ok(())
}

/// The pod a target names, and the Service when it names one.
async fn resolve_target(rest: &Rest, ns: &str, target: &str) -> Result<(Value, Option<Value>)> {
    let (typed, name) = match target.split_once('/') {
        Some((t, n)) => (t.to_string(), n.to_string()),
        None => ("pod".to_string(), target.to_string()),
    };
    let r = Resolver::new(rest).await?.resolve(&typed).await?;
    let obj = rest.get(&r.object_path(Some(ns), &name)).await?;
    if r.kind == "Pod" {
        return Ok((obj, None));
    }
    let Some(labels) = crate::target::pod_selector(&obj).filter(|l| !l.is_empty()) else {
        return Err(Error::usage(format!(
            "cannot attach to {}: selector is empty",
            r.kind
        )));
    };
    let mut pods = crate::target::selected_pods(rest, ns, labels).await?;
    pods.retain(|p| p["metadata"]["deletionTimestamp"].is_null());
    // Running pods first, then the oldest, as upstream's chooser roughly does.
    pods.sort_by_key(|p| {
        (
            p["status"]["phase"] != "Running",
            p["metadata"]["creationTimestamp"]
                .as_str()
                .unwrap_or("")
                .to_string(),
        )
    });
    let pod = pods
        .into_iter()
        .next()
        .ok_or_else(|| Error::usage("timed out waiting for the condition"))?;
    Ok((pod, (r.kind == "Service").then_some(obj)))
}

/// The pod port a Service port leads to.
fn service_target_port(svc: &Value, pod: &Value, port: &str) -> Result<String> {
    let ports = svc["spec"]["ports"].as_array().cloned().unwrap_or_default();
    let found = ports.iter().find(|p| {
        p["port"].as_i64().map(|n| n.to_string()).as_deref() == Some(port) || p["name"] == port
    });
    let Some(sp) = found else {
        return Err(Error::usage(format!(
            "Service {} does not have a service port {port}",
            svc["metadata"]["name"].as_str().unwrap_or("")
        )));
    };
    Ok(match &sp["targetPort"] {
        Value::Number(n) => n.to_string(),
        Value::String(name) => container_port(pod, name)?.to_string(),
        _ => sp["port"].as_i64().unwrap_or(0).to_string(),
    })
}

/// A pod port by number or by a container port's name.
fn container_port(pod: &Value, port: &str) -> Result<u16> {
    if let Ok(n) = port.parse::<u16>() {
        return Ok(n);
    }
    pod["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|c| c["ports"].as_array().cloned().unwrap_or_default())
        .find(|p| p["name"] == port)
        .and_then(|p| p["containerPort"].as_u64())
        .and_then(|p| u16::try_from(p).ok())
        .ok_or_else(|| {
            Error::usage(format!(
                "Pod '{}' does not have a named port '{port}'",
                pod["metadata"]["name"].as_str().unwrap_or("")
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ports_parse_and_resolve_as_upstream() {
        let m = parse_ports(&["8080:80".into(), ":http".into(), "9000".into()]).expect("ports");
        assert_eq!((m[0].local, m[0].remote.as_str()), (8080, "80"));
        assert_eq!((m[1].local, m[1].remote.as_str()), (0, "http"));
        assert_eq!((m[2].local, m[2].remote.as_str()), (9000, "9000"));
        assert!(parse_ports(&["x:80".into()]).is_err());
        let pod = json!({"metadata": {"name": "web"}, "spec": {"containers": [
            {"name": "c", "ports": [{"name": "http", "containerPort": 8080}]}]}});
        assert_eq!(container_port(&pod, "http").ok(), Some(8080));
        assert!(container_port(&pod, "grpc").is_err());
        let svc = json!({"metadata": {"name": "web"}, "spec": {"ports": [
            {"name": "web", "port": 80, "targetPort": "http"}, {"port": 81, "targetPort": 9090}]}});
        assert_eq!(
            service_target_port(&svc, &pod, "80").ok().as_deref(),
            Some("8080")
        );
        assert_eq!(
            service_target_port(&svc, &pod, "81").ok().as_deref(),
            Some("9090")
        );
        assert!(service_target_port(&svc, &pod, "82").is_err());
    }
}
