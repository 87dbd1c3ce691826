"""Fixtures: a real etcd and our apiserver, started per test module.

The apiserver binary comes from `target/debug/apiserver` (hack/test.sh builds
it first) or from $APISERVER_BIN.
"""
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_http(url, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return
        except Exception:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer in {timeout}s")


class Cluster:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="minik8s-py-")
        self.etcd_port = free_port()
        peer = free_port()
        self.etcd_url = f"http://127.0.0.1:{self.etcd_port}"
        self.etcd = subprocess.Popen(
            [
                "etcd", "--name", "py", "--data-dir", os.path.join(self.dir, "etcd"),
                "--listen-client-urls", self.etcd_url, "--advertise-client-urls", self.etcd_url,
                "--listen-peer-urls", f"http://127.0.0.1:{peer}",
                "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
                "--initial-cluster", f"py=http://127.0.0.1:{peer}",
            ],
            stdout=open(os.path.join(self.dir, "etcd.log"), "w"),
            stderr=subprocess.STDOUT,
        )
        wait_http(f"{self.etcd_url}/health")
        self.binary = os.environ.get("APISERVER_BIN", os.path.join(ROOT, "target", "debug", "apiserver"))
        if not os.path.exists(self.binary):
            raise RuntimeError(f"{self.binary} is missing: run `cargo build -p apiserver` first")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._start_apiserver()

    def _start_apiserver(self):
        self.apiserver = subprocess.Popen(
            [self.binary, "--etcd-servers", self.etcd_url, "--bind-address", "127.0.0.1",
             "--port", str(self.port), "--secure-port", "0"],
            stdout=open(os.path.join(self.dir, "apiserver.log"), "a"),
            stderr=subprocess.STDOUT,
        )
        wait_http(f"{self.url}/readyz")

    def restart_apiserver(self):
        """Kills the apiserver and starts a new process on the same port."""
        self.apiserver.kill()
        self.apiserver.wait()
        self._start_apiserver()

    def compact(self):
        """Compacts etcd's history up to now (old resourceVersions expire)."""
        out = subprocess.run(
            ["etcdctl", "--endpoints", self.etcd_url, "endpoint", "status", "-w", "json"],
            check=True, capture_output=True, text=True,
        ).stdout
        import json
        rev = json.loads(out)[0]["Status"]["header"]["revision"]
        subprocess.run(["etcdctl", "--endpoints", self.etcd_url, "compact", str(rev)],
                       check=True, capture_output=True)

    def close(self):
        for p in (self.apiserver, self.etcd):
            p.kill()
            p.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def cluster():
    c = Cluster()
    try:
        yield c
    finally:
        c.close()


@pytest.fixture()
def api(cluster):
    from kubernetes import client

    conf = client.Configuration()
    conf.host = cluster.url
    return client.ApiClient(conf)
