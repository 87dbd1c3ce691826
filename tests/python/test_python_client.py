"""The official Kubernetes Python client works unchanged against our apiserver:
create, list (with selectors), patch, delete, and a watch that survives a 410
(history compacted) by re-listing, as informers do."""
import threading
import uuid

import pytest
from kubernetes import client, watch
from kubernetes.client.rest import ApiException


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_namespace_configmap_lifecycle(api):
    core = client.CoreV1Api(api)
    ns = unique("py")
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))
    for i in range(3):
        core.create_namespaced_config_map(
            ns,
            client.V1ConfigMap(
                metadata=client.V1ObjectMeta(name=f"cm-{i}", labels={"app": "web" if i < 2 else "db"}),
                data={"n": str(i)},
            ),
        )
    web = core.list_namespaced_config_map(ns, label_selector="app=web")
    assert sorted(cm.metadata.name for cm in web.items) == ["cm-0", "cm-1"]
    assert web.metadata.resource_version

    # Pagination with limit/continue.
    page = core.list_namespaced_config_map(ns, limit=2)
    assert len(page.items) == 2 and page.metadata._continue
    rest = core.list_namespaced_config_map(ns, limit=2, _continue=page.metadata._continue)
    assert [cm.metadata.name for cm in rest.items] == ["cm-2"]

    patched = core.patch_namespaced_config_map("cm-0", ns, {"data": {"n": "patched"}})
    assert patched.data["n"] == "patched"
    assert int(patched.metadata.resource_version) > int(web.items[0].metadata.resource_version)

    core.delete_namespaced_config_map("cm-0", ns)
    with pytest.raises(ApiException) as err:
        core.read_namespaced_config_map("cm-0", ns)
    assert err.value.status == 404

    with pytest.raises(ApiException) as err:
        core.create_namespaced_config_map(
            ns, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="cm-1"))
        )
    assert err.value.status == 409


def test_deployment_defaults_and_validation(api):
    apps = client.AppsV1Api(api)
    ns = "default"
    name = unique("web")
    dep = client.V1Deployment(
        metadata=client.V1ObjectMeta(name=name),
        spec=client.V1DeploymentSpec(
            selector=client.V1LabelSelector(match_labels={"app": name}),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels={"app": name}),
                spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="busybox:1.36")]),
            ),
        ),
    )
    created = apps.create_namespaced_deployment(ns, dep)
    assert created.spec.replicas == 1
    assert created.spec.strategy.rolling_update.max_surge == "25%"
    assert created.metadata.generation == 1

    bad = client.V1Deployment(
        metadata=client.V1ObjectMeta(name=unique("bad")),
        spec=client.V1DeploymentSpec(
            selector=client.V1LabelSelector(match_labels={"app": "x"}),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels={"app": "y"}),
                spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="busybox")]),
            ),
        ),
    )
    with pytest.raises(ApiException) as err:
        apps.create_namespaced_deployment(ns, bad)
    assert err.value.status == 422

    scaled = apps.patch_namespaced_deployment_scale(name, ns, {"spec": {"replicas": 3}})
    assert scaled.spec.replicas == 3
    assert apps.read_namespaced_deployment(name, ns).metadata.generation == 2
    apps.delete_namespaced_deployment(name, ns)


def test_watch_survives_410_by_relisting(api, cluster):
    core = client.CoreV1Api(api)
    ns = unique("pywatch")
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))
    core.create_namespaced_config_map(ns, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="a")))
    old_rv = core.list_namespaced_config_map(ns).metadata.resource_version
    for i in range(5):
        core.patch_namespaced_config_map("a", ns, {"data": {"i": str(i)}})
    cluster.compact()
    # A new apiserver process's watch caches start after the compaction, so
    # the old revision could only come from etcd's history, which is gone.
    cluster.restart_apiserver()

    # Watching from a compacted revision: the server says 410 Expired.
    w = watch.Watch()
    with pytest.raises(ApiException) as err:
        for _ in w.stream(core.list_namespaced_config_map, ns, resource_version=old_rv, timeout_seconds=5):
            pass
    assert err.value.status == 410

    # The informer way out: re-list, then watch from the fresh revision.
    fresh = core.list_namespaced_config_map(ns)
    assert fresh.items[0].data == {"i": "4"}
    seen = []

    def writer():
        core.create_namespaced_config_map(ns, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="b")))

    w = watch.Watch()
    t = threading.Timer(0.5, writer)
    t.start()
    for event in w.stream(
        core.list_namespaced_config_map, ns,
        resource_version=fresh.metadata.resource_version, timeout_seconds=10,
    ):
        seen.append((event["type"], event["object"].metadata.name))
        if event["object"].metadata.name == "b":
            w.stop()
    t.join()
    assert seen == [("ADDED", "b")]
