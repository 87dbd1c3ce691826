//! `kubectl trace`: the life of a pod as one story, from what the cluster
//! already records. Ours only (no upstream kubectl has it):
//!
//! - the create: when, by which manager (`managedFields`), for which owner;
//! - the scheduler's decision (its `Scheduled` or `FailedScheduling` event);
//! - the kubelet's steps: the kubelet keeps a trace of every pod it starts
//!   (watch event, sandbox, network, volumes, each container's image,
//!   create and start, the Running and Ready status writes) and serves it
//!   at `/startup/{ns}/{pod}`, read through the apiserver's
//!   `nodes/<node>/proxy` as `kubectl get --raw` would;
//! - warnings among the pod's events, and its conditions' transitions.
//!
//! The API's timestamps have whole seconds; the kubelet's steps are in
//! milliseconds since its watch event.
//!
//! ```text
//! kubectl trace pod web-7d4b9-x2x8q     one pod, step by step
//! kubectl trace node node-1             every pod the node started, slowest first
//! ```

use serde_json::Value;

use crate::cli::TraceArgs;
use crate::client::Rest;
use crate::error::{Error, Result};

/// Runs `kubectl trace`.
pub async fn run(rest: &Rest, a: TraceArgs) -> Result<i32> {
    let (kind, name) = target(&a.args)?;
    let json = match a.output.as_deref() {
        None => false,
        Some("json") => true,
        Some(o) => {
            return Err(Error::usage(format!(
                "unable to match a printer suitable for the output format \"{o}\", allowed formats are: json"
            )))
        }
    };
    let ns = rest.namespace.clone();
    match kind {
        Kind::Pod => {
            let pod = rest
                .get(&format!("/api/v1/namespaces/{ns}/pods/{name}"))
                .await?;
            let node = pod["spec"]["nodeName"]
                .as_str()
                .filter(|n| !n.is_empty())
                .map(str::to_string);
            // A pod not bound yet, or started before its kubelet did, has no
            // kubelet trace: the rest of the story is still worth telling.
            let trace = match &node {
                Some(node) => match rest
                    .get(&format!("/api/v1/nodes/{node}/proxy/startup/{ns}/{name}"))
                    .await
                {
                    Ok(t) => Some(t),
                    Err(e) if e.is_not_found() => None,
                    Err(e) => return Err(e),
                },
                None => None,
            };
            let events = rest
                .get(&format!(
                    "/api/v1/namespaces/{ns}/events?fieldSelector={}",
                    crate::client::q(&format!(
                        "involvedObject.name={name},involvedObject.uid={}",
                        pod["metadata"]["uid"].as_str().unwrap_or_default()
                    ))
                ))
                .await?;
            if json {
                let all =
                    serde_json::json!({"pod": pod, "kubelet": trace, "events": events["items"]});
                println!("{}", serde_json::to_string_pretty(&all).unwrap_or_default());
            } else {
                print!("{}", render_story(&pod, trace.as_ref(), &events));
            }
        }
        Kind::Node => {
            let all = rest
                .get(&format!("/api/v1/nodes/{name}/proxy/startup"))
                .await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&all).unwrap_or_default());
            } else {
                print!("{}", render_node(&all));
            }
        }
    }
    Ok(0)
}

#[derive(Debug, PartialEq)]
enum Kind {
    Pod,
    Node,
}

/// `pod NAME`, `pod/NAME`, `NAME` (a pod), `node NAME`, `node/NAME`.
fn target(args: &[String]) -> Result<(Kind, String)> {
    let kind_of = |k: &str| match k {
        "pod" | "pods" | "po" => Ok(Kind::Pod),
        "node" | "nodes" | "no" => Ok(Kind::Node),
        other => Err(Error::usage(format!(
            "kubectl trace reads pods and nodes, not \"{other}\""
        ))),
    };
    match args {
        [one] => match one.split_once('/') {
            Some((k, n)) if !n.is_empty() => Ok((kind_of(k)?, n.to_string())),
            Some(_) => Err(Error::usage(format!("invalid resource name \"{one}\""))),
            None => Ok((Kind::Pod, one.clone())),
        },
        [k, n] => Ok((kind_of(k)?, n.clone())),
        _ => Err(Error::usage(
            "kubectl trace needs a pod (POD, pod/POD) or a node (node NAME)",
        )),
    }
}

fn ms(v: &Value) -> f64 {
    v.as_f64().unwrap_or(0.0)
}

/// The whole story of a pod: create, scheduling, the kubelet's steps,
/// warnings and conditions.
fn render_story(pod: &Value, trace: Option<&Value>, events: &Value) -> String {
    let meta = &pod["metadata"];
    let ns = meta["namespace"].as_str().unwrap_or("");
    let name = meta["name"].as_str().unwrap_or("");
    let mut out = format!("Pod {ns}/{name}\n");
    let manager = meta["managedFields"]
        .as_array()
        .and_then(|m| m.first())
        .and_then(|m| m["manager"].as_str())
        .unwrap_or("unknown");
    let owner = meta["ownerReferences"]
        .as_array()
        .and_then(|o| o.iter().find(|o| o["controller"] == true))
        .map(|o| {
            format!(
                ", owned by {}/{}",
                o["kind"].as_str().unwrap_or(""),
                o["name"].as_str().unwrap_or("")
            )
        })
        .unwrap_or_default();
    out.push_str(&format!(
        "  created    {}  by {manager}{owner}\n",
        meta["creationTimestamp"].as_str().unwrap_or("")
    ));
    let items = events["items"].as_array().cloned().unwrap_or_default();
    let when = |e: &Value| {
        e["eventTime"]
            .as_str()
            .or(e["firstTimestamp"].as_str())
            .or(e["lastTimestamp"].as_str())
            .unwrap_or("")
            .to_string()
    };
    let mut scheduled = false;
    for e in items
        .iter()
        .filter(|e| matches!(e["reason"].as_str(), Some("Scheduled" | "FailedScheduling")))
    {
        scheduled = true;
        out.push_str(&format!(
            "  {:<10} {}  {}: {}\n",
            e["reason"].as_str().unwrap_or("").to_lowercase(),
            when(e),
            e["source"]["component"]
                .as_str()
                .or(e["reportingComponent"].as_str())
                .unwrap_or(""),
            e["message"].as_str().unwrap_or("")
        ));
    }
    let node = pod["spec"]["nodeName"].as_str().filter(|n| !n.is_empty());
    match node {
        Some(node) if !scheduled => out.push_str(&format!("  bound to   {node}\n")),
        Some(_) => {}
        None => out.push_str("  not bound to a node yet\n"),
    }
    match trace {
        Some(t) => out.push_str(&render_kubelet(t)),
        None if node.is_some() => out.push_str(
            "\nNo kubelet trace (the pod started before its kubelet did, or the kubelet has forgotten it).\n",
        ),
        None => {}
    }
    let warnings: Vec<&Value> = items.iter().filter(|e| e["type"] == "Warning").collect();
    if !warnings.is_empty() {
        out.push_str("\nWarnings:\n");
        for e in warnings {
            out.push_str(&format!(
                "  {}  {}: {}\n",
                when(e),
                e["reason"].as_str().unwrap_or(""),
                e["message"].as_str().unwrap_or("")
            ));
        }
    }
    let conditions = pod["status"]["conditions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if !conditions.is_empty() {
        out.push_str("\nConditions (last transition):\n");
        for c in &conditions {
            out.push_str(&format!(
                "  {:<26} {:<5}  {}\n",
                c["type"].as_str().unwrap_or(""),
                c["status"].as_str().unwrap_or(""),
                c["lastTransitionTime"].as_str().unwrap_or("")
            ));
        }
    }
    out
}

/// The kubelet's steps: each with its time since the watch event and since
/// the step before (the gaps are where a start waits).
fn render_kubelet(t: &Value) -> String {
    let mut out = format!(
        "\nKubelet, watch event at {}{}:\n",
        t["watchedAt"].as_str().unwrap_or(""),
        if t["complete"].as_bool() == Some(true) {
            ""
        } else {
            " (not Ready yet)"
        }
    );
    let events = t["events"].as_array().cloned().unwrap_or_default();
    let mut rows = vec![[
        "STEP".to_string(),
        "CONTAINER".to_string(),
        "AT".to_string(),
        "SINCE PREVIOUS".to_string(),
    ]];
    let mut prev = 0.0;
    for e in &events {
        let at = ms(&e["atMs"]);
        rows.push([
            e["step"].as_str().unwrap_or("").to_string(),
            e["container"].as_str().unwrap_or("").to_string(),
            format!("{at:.1}ms"),
            format!("+{:.1}ms", at - prev),
        ]);
        prev = at;
    }
    out.push_str(&columns(&rows));
    out
}

/// A node: one line per traced pod, the slowest to Ready first.
fn render_node(list: &Value) -> String {
    let mut items = list["items"].as_array().cloned().unwrap_or_default();
    let total = |t: &Value| {
        t["events"]
            .as_array()
            .and_then(|e| e.iter().find(|e| e["step"] == "ready"))
            .map(|e| ms(&e["atMs"]))
    };
    items.sort_by(|a, b| {
        let (a, b) = (total(a).unwrap_or(f64::MAX), total(b).unwrap_or(f64::MAX));
        b.total_cmp(&a)
    });
    let step = |t: &Value, s: &str| {
        t["events"]
            .as_array()
            .and_then(|e| e.iter().find(|e| e["step"] == s))
            .map_or("-".to_string(), |e| format!("{:.1}", ms(&e["atMs"])))
    };
    let mut rows = vec![[
        "NAMESPACE",
        "POD",
        "SANDBOX",
        "NETWORK",
        "STARTED",
        "RUNNING",
        "READY",
    ]
    .map(str::to_string)];
    for t in &items {
        rows.push([
            t["namespace"].as_str().unwrap_or("").to_string(),
            t["name"].as_str().unwrap_or("").to_string(),
            step(t, "sandbox"),
            step(t, "network"),
            step(t, "started"),
            step(t, "running"),
            step(t, "ready"),
        ]);
    }
    let mut out = columns(&rows);
    if items.is_empty() {
        out = "No pod startups traced on this node.\n".to_string();
    } else {
        out.push_str("(milliseconds since the kubelet's watch event; STARTED is the first container started)\n");
    }
    out
}

fn columns<const N: usize>(rows: &[[String; N]]) -> String {
    let mut width = [0usize; N];
    for r in rows {
        for (w, c) in width.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    for r in rows {
        let line: Vec<String> = r
            .iter()
            .zip(width)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        out.push_str("  ");
        out.push_str(line.join("   ").trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn targets() {
        assert_eq!(target(&s(&["web"])).unwrap(), (Kind::Pod, "web".into()));
        assert_eq!(target(&s(&["pod/web"])).unwrap(), (Kind::Pod, "web".into()));
        assert_eq!(
            target(&s(&["node", "n1"])).unwrap(),
            (Kind::Node, "n1".into())
        );
        assert_eq!(target(&s(&["no/n1"])).unwrap(), (Kind::Node, "n1".into()));
        assert!(target(&s(&["svc/x"])).is_err());
        assert!(target(&s(&["pod/"])).is_err());
        assert!(target(&s(&[])).is_err());
    }

    #[test]
    fn a_pod_tells_create_schedule_kubelet_steps_warnings_and_conditions() {
        let pod = json!({
            "metadata": {"namespace": "default", "name": "web", "uid": "u1",
                "creationTimestamp": "2026-12-04T07:00:00Z",
                "managedFields": [{"manager": "kube-controller-manager"}],
                "ownerReferences": [{"kind": "ReplicaSet", "name": "web-1", "controller": true}]},
            "spec": {"nodeName": "node-1"},
            "status": {"conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "2026-12-04T07:00:01Z"}]}});
        let t = json!({"namespace": "default", "name": "web", "watchedAt": "2026-12-04T07:00:00.100Z",
            "complete": true, "events": [
                {"step": "watch", "atMs": 0.0},
                {"step": "sandbox", "atMs": 12.5},
                {"step": "started", "container": "c", "atMs": 30.0},
                {"step": "ready", "atMs": 41.25}]});
        let events = json!({"items": [
            {"reason": "Scheduled", "type": "Normal", "firstTimestamp": "2026-12-04T07:00:00Z",
             "source": {"component": "default-scheduler"}, "message": "Successfully assigned default/web to node-1"},
            {"reason": "BackOff", "type": "Warning", "firstTimestamp": "2026-12-04T07:00:05Z",
             "source": {"component": "kubelet"}, "message": "Back-off restarting failed container"}]});
        let out = render_story(&pod, Some(&t), &events);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "Pod default/web");
        assert_eq!(
            lines[1],
            "  created    2026-12-04T07:00:00Z  by kube-controller-manager, owned by ReplicaSet/web-1"
        );
        assert_eq!(
            lines[2],
            "  scheduled  2026-12-04T07:00:00Z  default-scheduler: Successfully assigned default/web to node-1"
        );
        assert_eq!(
            lines[4],
            "Kubelet, watch event at 2026-12-04T07:00:00.100Z:"
        );
        assert_eq!(lines[5], "  STEP      CONTAINER   AT       SINCE PREVIOUS");
        assert_eq!(lines[7], "  sandbox               12.5ms   +12.5ms");
        assert_eq!(lines[8], "  started   c           30.0ms   +17.5ms");
        assert_eq!(lines[9], "  ready                 41.2ms   +11.2ms");
        assert!(
            out.contains("\nWarnings:\n  2026-12-04T07:00:05Z  BackOff: Back-off restarting failed container\n"),
            "{out}"
        );
        assert!(
            out.ends_with("Conditions (last transition):\n  Ready                      True   2026-12-04T07:00:01Z\n"),
            "{out}"
        );
        // Not bound yet: no kubelet part, said so.
        let pending = json!({"metadata": {"namespace": "default", "name": "p"}, "spec": {}});
        let out = render_story(&pending, None, &json!({"items": []}));
        assert!(out.contains("not bound to a node yet"), "{out}");
        assert!(!out.contains("Kubelet"), "{out}");
    }

    #[test]
    fn a_node_lists_the_slowest_first_and_unready_on_top() {
        let t = |name: &str, ready: Option<f64>| {
            let mut ev = vec![json!({"step": "watch", "atMs": 0.0})];
            if let Some(r) = ready {
                ev.push(json!({"step": "ready", "atMs": r}));
            }
            json!({"namespace": "ns", "name": name, "events": ev})
        };
        let out = render_node(
            &json!({"items": [t("fast", Some(10.0)), t("slow", Some(90.0)), t("stuck", None)]}),
        );
        let names: Vec<&str> = out
            .lines()
            .skip(1)
            .filter_map(|l| l.split_whitespace().nth(1))
            .collect();
        assert_eq!(names[..3], ["stuck", "slow", "fast"]);
        assert_eq!(
            render_node(&json!({"items": []})),
            "No pod startups traced on this node.\n"
        );
    }
}
