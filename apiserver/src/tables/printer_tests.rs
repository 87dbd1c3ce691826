//! Tests of every kind's printer, through the strategies, as `kubectl get`
//! reaches them.

use super::{cells, columns, row_conditions};
use crate::printers::*;
use crate::registry::core::pod::pod_status;
use apimachinery::resources::ResourceInfo;
use chrono::Utc;
use serde_json::{json, Value};

fn res(plural: &str) -> &'static ResourceInfo {
    apimachinery::resources::RESOURCES
        .iter()
        .find(|r| r.plural == plural)
        .unwrap_or_else(|| panic!("{plural} is served"))
}

/// An RFC 3339 time `secs` seconds ago.
fn ago(secs: i64) -> String {
    (Utc::now() - chrono::Duration::seconds(secs))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

fn names(plural: &str) -> Vec<&'static str> {
    columns(res(plural)).iter().map(|c| c.name).collect()
}

#[test]
fn durations_like_upstream() {
    for (secs, want) in [
        (-5, "<invalid>"),
        (-1, "0s"),
        (0, "0s"),
        (45, "45s"),
        (119, "119s"),
        (120, "2m"),
        (200, "3m20s"),
        (1500, "25m"),
        (3 * 3600 - 60, "179m"),
        (3 * 3600, "3h"),
        (5 * 3600 + 120, "5h2m"),
        (30 * 3600, "30h"),
        (3 * 86400 + 7200, "3d2h"),
        (4 * 86400, "4d"),
        (100 * 86400, "100d"),
        (3 * 365 * 86400 + 10 * 86400, "3y10d"),
        (9 * 365 * 86400, "9y"),
    ] {
        assert_eq!(human_duration(secs), want, "{secs}s");
    }
    assert_eq!(since(""), "<unknown>");
    assert_eq!(since(&ago(200)), "3m20s");
}

#[test]
fn every_kind_has_as_many_cells_as_columns_on_any_input() {
    for r in apimachinery::resources::RESOURCES {
        for obj in [
            json!({}),
            json!(null),
            json!({"metadata": {"name": "x"}, "spec": 3, "status": []}),
            json!({"metadata": {"name": 1, "creationTimestamp": "garbage"},
                "spec": {"containers": "x", "ports": [1, {"port": "a"}], "selector": {"matchLabels": 4}},
                "status": {"conditions": [null, 1], "containerStatuses": [{"state": null}]}}),
        ] {
            let cells = cells(r, &obj);
            assert_eq!(cells.len(), columns(r).len(), "{}", r.plural);
        }
        let cols = columns(r);
        assert_eq!(
            cols.iter().filter(|c| c.format == "name").count(),
            1,
            "{}: one name column",
            r.plural
        );
    }
}

#[test]
fn pods() {
    assert_eq!(
        names("pods"),
        [
            "Name",
            "Ready",
            "Status",
            "Restarts",
            "Age",
            "IP",
            "Node",
            "Nominated Node",
            "Readiness Gates"
        ]
    );
    let running = json!({
        "metadata": {"name": "web", "creationTimestamp": ago(90)},
        "spec": {"containers": [{"name": "a"}, {"name": "b"}], "nodeName": "n1",
            "readinessGates": [{"conditionType": "x/y"}]},
        "status": {"phase": "Running", "podIP": "10.0.0.5", "podIPs": [{"ip": "10.0.0.5"}],
            "conditions": [{"type": "Ready", "status": "True"}, {"type": "x/y", "status": "True"}],
            "containerStatuses": [
                {"name": "a", "ready": true, "restartCount": 2, "state": {"running": {}},
                 "lastState": {"terminated": {"exitCode": 1, "finishedAt": ago(300)}}},
                {"name": "b", "ready": false, "restartCount": 0, "state": {"running": {}}}]}});
    let c = cells(res("pods"), &running);
    assert_eq!(
        c,
        vec![
            json!("web"),
            json!("1/2"),
            json!("Running"),
            json!("2 (5m ago)"),
            json!("90s"),
            json!("10.0.0.5"),
            json!("n1"),
            json!("<none>"),
            json!("1/1")
        ]
    );

    let status = |status: Value| {
        pod_status(&json!({"spec": {"containers": [{"name": "a"}],
            "initContainers": [{"name": "i"}, {"name": "j"}]}, "status": status}))
    };
    assert_eq!(status(json!({"phase": "Pending"})), "Pending");
    assert_eq!(
        status(
            json!({"phase": "Pending", "containerStatuses": [{"state": {"waiting": {"reason": "ContainerCreating"}}}]})
        ),
        "ContainerCreating"
    );
    assert_eq!(
        status(
            json!({"phase": "Running", "containerStatuses": [{"restartCount": 4, "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]})
        ),
        "CrashLoopBackOff"
    );
    assert_eq!(
        status(
            json!({"phase": "Pending", "containerStatuses": [{"state": {"waiting": {"reason": "ErrImagePull"}}}]})
        ),
        "ErrImagePull"
    );
    assert_eq!(
        status(
            json!({"phase": "Succeeded", "containerStatuses": [{"state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]})
        ),
        "Completed"
    );
    assert_eq!(
        status(
            json!({"phase": "Failed", "containerStatuses": [{"state": {"terminated": {"exitCode": 3}}}]})
        ),
        "ExitCode:3"
    );
    assert_eq!(
        status(
            json!({"phase": "Failed", "containerStatuses": [{"state": {"terminated": {"exitCode": 137, "signal": 9}}}]})
        ),
        "Signal:9"
    );
    assert_eq!(
        status(json!({"phase": "Pending", "initContainerStatuses": [
            {"name": "i", "state": {"terminated": {"exitCode": 0}}},
            {"name": "j", "state": {"running": {}}}]})),
        "Init:1/2"
    );
    assert_eq!(
        status(json!({"phase": "Pending", "initContainerStatuses": [
            {"name": "i", "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]})),
        "Init:CrashLoopBackOff"
    );
    assert_eq!(
        status(json!({"phase": "Pending", "initContainerStatuses": [
            {"name": "i", "state": {"terminated": {"exitCode": 2}}}]})),
        "Init:ExitCode:2"
    );
    assert_eq!(
        status(
            json!({"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]})
        ),
        "SchedulingGated"
    );
    let deleting = |phase: &str, reason: &str| {
        pod_status(&json!({"metadata": {"deletionTimestamp": ago(1)},
            "status": {"phase": phase, "reason": reason}}))
    };
    assert_eq!(deleting("Running", ""), "Terminating");
    assert_eq!(deleting("Succeeded", ""), "Succeeded");
    assert_eq!(deleting("Running", "NodeLost"), "Unknown");
    // A finished sidecar-less pod where one container still runs.
    let mixed = json!({"spec": {"containers": [{"name": "a"}, {"name": "b"}]},
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "False"}],
            "containerStatuses": [
                {"name": "a", "ready": false, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}},
                {"name": "b", "ready": true, "state": {"running": {}}}]}});
    // Upstream walks the statuses backwards: `a` is looked at last.
    assert_eq!(pod_status(&mixed), "NotReady");
    // Sidecars count as containers.
    let sidecar = json!({"spec": {"containers": [{"name": "a"}],
            "initContainers": [{"name": "s", "restartPolicy": "Always"}]},
        "status": {"phase": "Running", "conditions": [{"type": "Initialized", "status": "True"}],
            "initContainerStatuses": [{"name": "s", "started": true, "ready": true, "restartCount": 1, "state": {"running": {}}}],
            "containerStatuses": [{"name": "a", "ready": true, "state": {"running": {}}}]}});
    let c = cells(res("pods"), &sidecar);
    assert_eq!(c[1], "2/2");
    assert_eq!(c[2], "Running");
    assert_eq!(c[3], "1");
    assert_eq!(
        row_conditions(res("pods"), &json!({"status": {"phase": "Succeeded"}}))
            .and_then(|c| c[0]["type"].as_str().map(str::to_string)),
        Some("Completed".to_string())
    );
    assert!(row_conditions(res("pods"), &running).is_none());
}

#[test]
fn deployments_replicasets_statefulsets_daemonsets() {
    assert_eq!(
        names("deployments"),
        [
            "Name",
            "Ready",
            "Up-to-date",
            "Available",
            "Age",
            "Containers",
            "Images",
            "Selector"
        ]
    );
    let template = json!({"spec": {"containers": [{"name": "a", "image": "nginx"}, {"name": "b", "image": "busybox"}]}});
    let d = json!({"metadata": {"name": "web", "creationTimestamp": ago(30)},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}}, "template": template},
        "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}});
    assert_eq!(
        cells(res("deployments"), &d),
        vec![
            json!("web"),
            json!("2/3"),
            json!(3),
            json!(2),
            json!("30s"),
            json!("a,b"),
            json!("nginx,busybox"),
            json!("app=web")
        ]
    );
    assert_eq!(
        names("replicasets"),
        [
            "Name",
            "Desired",
            "Current",
            "Ready",
            "Age",
            "Containers",
            "Images",
            "Selector"
        ]
    );
    let rs = json!({"metadata": {"name": "web-1"}, "spec": {"replicas": 3, "template": template},
        "status": {"replicas": 2, "readyReplicas": 1}});
    let c = cells(res("replicasets"), &rs);
    assert_eq!(&c[..4], &[json!("web-1"), json!(3), json!(2), json!(1)]);
    assert_eq!(c[4], "<unknown>");
    assert_eq!(c[7], "<none>");
    assert_eq!(
        names("statefulsets"),
        ["Name", "Ready", "Age", "Containers", "Images"]
    );
    let sts = json!({"metadata": {"name": "db"}, "spec": {"replicas": 2, "template": template}, "status": {"readyReplicas": 1}});
    assert_eq!(cells(res("statefulsets"), &sts)[1], "1/2");
    assert_eq!(
        names("daemonsets"),
        [
            "Name",
            "Desired",
            "Current",
            "Ready",
            "Up-to-date",
            "Available",
            "Node Selector",
            "Age",
            "Containers",
            "Images",
            "Selector"
        ]
    );
    let ds = json!({"metadata": {"name": "agent"},
        "spec": {"selector": {"matchLabels": {"app": "agent"}},
            "template": {"spec": {"nodeSelector": {"zone": "a", "disk": "ssd"}, "containers": []}}},
        "status": {"desiredNumberScheduled": 3, "currentNumberScheduled": 3, "numberReady": 2, "updatedNumberScheduled": 3, "numberAvailable": 2}});
    let c = cells(res("daemonsets"), &ds);
    assert_eq!(
        &c[1..6],
        &[json!(3), json!(3), json!(2), json!(3), json!(2)]
    );
    assert_eq!(c[6], "disk=ssd,zone=a");
    assert_eq!(c[10], "app=agent");
}

#[test]
fn jobs_and_cronjobs() {
    assert_eq!(
        names("jobs"),
        [
            "Name",
            "Status",
            "Completions",
            "Duration",
            "Age",
            "Containers",
            "Images",
            "Selector"
        ]
    );
    let job = |spec: Value, status: Value| {
        cells(
            res("jobs"),
            &json!({"metadata": {"name": "j"}, "spec": spec, "status": status}),
        )
    };
    let done = job(
        json!({"completions": 1, "parallelism": 1}),
        json!({"succeeded": 1, "startTime": ago(100), "completionTime": ago(40),
            "conditions": [{"type": "Complete", "status": "True"}]}),
    );
    assert_eq!(
        &done[1..4],
        &[json!("Complete"), json!("1/1"), json!("60s")]
    );
    let running = job(json!({"parallelism": 3}), json!({"startTime": ago(10)}));
    assert_eq!(
        &running[1..4],
        &[json!("Running"), json!("0/1 of 3"), json!("10s")]
    );
    let pending = job(json!({"parallelism": 1}), json!({}));
    assert_eq!(&pending[1..4], &[json!("Running"), json!("0/1"), json!("")]);
    let failed = job(
        json!({"completions": 2}),
        json!({"conditions": [{"type": "Failed", "status": "True"}]}),
    );
    assert_eq!(failed[1], "Failed");
    let suspended = job(
        json!({}),
        json!({"conditions": [{"type": "Suspended", "status": "True"}]}),
    );
    assert_eq!(suspended[1], "Suspended");

    assert_eq!(
        names("cronjobs"),
        [
            "Name",
            "Schedule",
            "Timezone",
            "Suspend",
            "Active",
            "Last Schedule",
            "Age",
            "Containers",
            "Images",
            "Selector"
        ]
    );
    let cj = json!({"metadata": {"name": "cj"},
        "spec": {"schedule": "*/5 * * * *", "suspend": false,
            "jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}},
        "status": {"active": [{"name": "cj-1"}], "lastScheduleTime": ago(65)}});
    let c = cells(res("cronjobs"), &cj);
    assert_eq!(
        &c[..8],
        &[
            json!("cj"),
            json!("*/5 * * * *"),
            json!("<none>"),
            json!("False"),
            json!(1),
            json!("65s"),
            json!("<unknown>"),
            json!("c")
        ]
    );
    let never = cells(res("cronjobs"), &json!({"spec": {"timeZone": "Etc/UTC"}}));
    assert_eq!(
        &never[2..6],
        &[
            json!("Etc/UTC"),
            json!("<unset>"),
            json!(0),
            json!("<none>")
        ]
    );
}

#[test]
fn services_endpoints_slices() {
    assert_eq!(
        names("services"),
        [
            "Name",
            "Type",
            "Cluster-IP",
            "External-IP",
            "Port(s)",
            "Age",
            "Selector"
        ]
    );
    let svc = |spec: Value, status: Value| {
        cells(
            res("services"),
            &json!({"metadata": {"name": "s"}, "spec": spec, "status": status}),
        )
    };
    let c = svc(
        json!({"type": "ClusterIP", "clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"],
            "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}], "selector": {"k8s-app": "dns"}}),
        json!({}),
    );
    assert_eq!(
        &c[1..5],
        &[
            json!("ClusterIP"),
            json!("10.96.0.10"),
            json!("<none>"),
            json!("53/UDP,53/TCP")
        ]
    );
    assert_eq!(c[6], "k8s-app=dns");
    let np = svc(
        json!({"type": "NodePort", "clusterIPs": ["10.96.1.1"], "externalIPs": ["1.2.3.4"],
            "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"}]}),
        json!({}),
    );
    assert_eq!(&np[3..5], &[json!("1.2.3.4"), json!("80:30080/TCP")]);
    assert_eq!(np[6], "<none>");
    let lb = svc(
        json!({"type": "LoadBalancer", "clusterIPs": ["10.96.1.2"]}),
        json!({}),
    );
    assert_eq!(&lb[3..5], &[json!("<pending>"), json!("<none>")]);
    let lb = svc(
        json!({"type": "LoadBalancer"}),
        json!({"loadBalancer": {"ingress": [{"ip": "5.6.7.8"}, {"hostname": "lb.example"}]}}),
    );
    assert_eq!(&lb[2..4], &[json!("<none>"), json!("5.6.7.8,lb.example")]);
    let headless = svc(
        json!({"type": "ClusterIP", "clusterIP": "None", "clusterIPs": ["None"]}),
        json!({}),
    );
    assert_eq!(headless[2], "None");
    let ext = svc(
        json!({"type": "ExternalName", "externalName": "example.com"}),
        json!({}),
    );
    assert_eq!(&ext[2..4], &[json!("<none>"), json!("example.com")]);

    assert_eq!(names("endpoints"), ["Name", "Endpoints", "Age"]);
    let ep = json!({"metadata": {"name": "kube-dns"}, "subsets": [
        {"addresses": [{"ip": "10.1.0.20"}, {"ip": "10.1.0.21"}],
         "ports": [{"port": 53, "name": "dns"}, {"port": 9153, "name": "metrics"}, {"port": 53, "name": "tcp"}]}]});
    assert_eq!(
        cells(res("endpoints"), &ep)[1],
        "10.1.0.20:53,10.1.0.21:53,10.1.0.20:9153 + 3 more..."
    );
    let v6 = json!({"subsets": [{"addresses": [{"ip": "fd00::1"}], "ports": [{"port": 80}]}]});
    assert_eq!(cells(res("endpoints"), &v6)[1], "[fd00::1]:80");
    assert_eq!(cells(res("endpoints"), &json!({}))[1], "<none>");
    let headless = json!({"subsets": [{"addresses": [{"ip": "10.0.0.1"}]}]});
    assert_eq!(cells(res("endpoints"), &headless)[1], "10.0.0.1");

    assert_eq!(
        names("endpointslices"),
        ["Name", "AddressType", "Ports", "Endpoints", "Age"]
    );
    let slice = json!({"metadata": {"name": "web-abc"}, "addressType": "IPv4",
        "ports": [{"port": 80}, {"name": "http"}, {}],
        "endpoints": [{"addresses": ["10.0.0.1"]}, {"addresses": ["10.0.0.2"]}, {"addresses": ["10.0.0.3"]}, {"addresses": ["10.0.0.4"]}]});
    let c = cells(res("endpointslices"), &slice);
    assert_eq!(
        &c[1..4],
        &[
            json!("IPv4"),
            json!("80,http,*"),
            json!("10.0.0.1,10.0.0.2,10.0.0.3 + 1 more...")
        ]
    );
    let empty = cells(res("endpointslices"), &json!({"addressType": "IPv4"}));
    assert_eq!(&empty[2..4], &[json!("<unset>"), json!("<unset>")]);
}

#[test]
fn nodes() {
    assert_eq!(
        names("nodes"),
        [
            "Name",
            "Status",
            "Roles",
            "Age",
            "Version",
            "Internal-IP",
            "External-IP",
            "OS-Image",
            "Kernel-Version",
            "Container-Runtime"
        ]
    );
    let node = json!({"metadata": {"name": "n1", "labels": {
            "node-role.kubernetes.io/control-plane": "", "kubernetes.io/role": "worker", "node-role.kubernetes.io/": ""}},
        "spec": {"unschedulable": true},
        "status": {"conditions": [{"type": "MemoryPressure", "status": "False"}, {"type": "Ready", "status": "True"}],
            "addresses": [{"type": "InternalIP", "address": "10.0.0.1"}, {"type": "Hostname", "address": "n1"}],
            "nodeInfo": {"kubeletVersion": "v1.32.0", "osImage": "Debian", "kernelVersion": "6.1", "containerRuntimeVersion": "builtin://0.1"}}});
    assert_eq!(
        cells(res("nodes"), &node),
        vec![
            json!("n1"),
            json!("Ready,SchedulingDisabled"),
            json!("control-plane,worker"),
            json!("<unknown>"),
            json!("v1.32.0"),
            json!("10.0.0.1"),
            json!("<none>"),
            json!("Debian"),
            json!("6.1"),
            json!("builtin://0.1")
        ]
    );
    let not_ready = json!({"status": {"conditions": [{"type": "Ready", "status": "Unknown"}]}});
    let c = cells(res("nodes"), &not_ready);
    assert_eq!(&c[1..3], &[json!("NotReady"), json!("<none>")]);
    assert_eq!(c[7], "<unknown>");
    assert_eq!(cells(res("nodes"), &json!({}))[1], "Unknown");
}

#[test]
fn namespaces_configmaps_secrets_serviceaccounts() {
    assert_eq!(names("namespaces"), ["Name", "Status", "Age"]);
    let ns = json!({"metadata": {"name": "dev", "creationTimestamp": ago(3 * 86400 + 7200)}, "status": {"phase": "Terminating"}});
    assert_eq!(
        cells(res("namespaces"), &ns),
        vec![json!("dev"), json!("Terminating"), json!("3d2h")]
    );
    assert_eq!(names("configmaps"), ["Name", "Data", "Age"]);
    let cm = json!({"metadata": {"name": "c"}, "data": {"a": "1"}, "binaryData": {"b": "AA=="}});
    assert_eq!(cells(res("configmaps"), &cm)[1], 2);
    assert_eq!(names("secrets"), ["Name", "Type", "Data", "Age"]);
    let secret = json!({"metadata": {"name": "s"}, "type": "Opaque", "data": {"pw": "eA=="}});
    assert_eq!(
        &cells(res("secrets"), &secret)[..3],
        &[json!("s"), json!("Opaque"), json!(1)]
    );
    assert_eq!(names("serviceaccounts"), ["Name", "Secrets", "Age"]);
    let sa = json!({"metadata": {"name": "default"}});
    assert_eq!(cells(res("serviceaccounts"), &sa)[1], 0);
}

#[test]
fn events() {
    assert_eq!(
        names("events"),
        [
            "Last Seen",
            "Type",
            "Reason",
            "Object",
            "Subobject",
            "Source",
            "Message",
            "First Seen",
            "Count",
            "Name"
        ]
    );
    let ev = json!({"metadata": {"name": "web.1"}, "type": "Normal", "reason": "Scheduled",
        "involvedObject": {"kind": "Pod", "name": "web", "fieldPath": "spec.containers{c}"},
        "source": {"component": "default-scheduler", "host": "n1"},
        "message": "Successfully assigned default/web to n1\n",
        "firstTimestamp": ago(600), "lastTimestamp": ago(30), "count": 3});
    assert_eq!(
        cells(res("events"), &ev),
        vec![
            json!("30s"),
            json!("Normal"),
            json!("Scheduled"),
            json!("pod/web"),
            json!("spec.containers{c}"),
            json!("default-scheduler, n1"),
            json!("Successfully assigned default/web to n1"),
            json!("10m"),
            json!(3),
            json!("web.1")
        ]
    );
    // The events.k8s.io style: eventTime, series, reporting controller.
    let new_style = json!({"metadata": {"name": "e"}, "type": "Warning", "reason": "BackOff",
        "involvedObject": {"kind": "Node"}, "reportingComponent": "kubelet",
        "eventTime": "2020-01-01T00:00:00.000000Z",
        "series": {"count": 7, "lastObservedTime": ago(5)}});
    let c = cells(res("events"), &new_style);
    assert_eq!(c[0], "5s");
    assert_eq!(c[3], "node");
    assert_eq!(c[5], "kubelet");
    assert_eq!(c[8], 7);
    let single = json!({"firstTimestamp": ago(20)});
    let c = cells(res("events"), &single);
    assert_eq!(
        (c[0].clone(), c[7].clone(), c[8].clone()),
        (json!("20s"), json!("20s"), json!(1))
    );
}

#[test]
fn leases_and_priorityclasses() {
    assert_eq!(names("leases"), ["Name", "Holder", "Age"]);
    let lease =
        json!({"metadata": {"name": "kube-scheduler"}, "spec": {"holderIdentity": "sched-1"}});
    assert_eq!(cells(res("leases"), &lease)[1], "sched-1");
    assert_eq!(
        names("priorityclasses"),
        ["Name", "Value", "Global-Default", "Age", "PreemptionPolicy"]
    );
    let pc = json!({"metadata": {"name": "high"}, "value": 1000, "globalDefault": true, "preemptionPolicy": "Never"});
    let c = cells(res("priorityclasses"), &pc);
    assert_eq!(
        (c[1].clone(), c[2].clone(), c[4].clone()),
        (json!(1000), json!(true), json!("Never"))
    );
}
