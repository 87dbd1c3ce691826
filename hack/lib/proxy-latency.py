#!/usr/bin/env python3
"""Our service proxy against upstream's kube-proxy on the same cluster.

Run by `hack/bench-proxy.sh --against KUBE_PROXY` inside a network
namespace of its own (everything here, etcd and the apiserver included,
lives on that namespace's loopback; the host's tables are never touched).

The cluster: N Services of M endpoints each (EndpointSlices written
directly: the endpoints need not exist), plus a `probe` Service without
endpoints. Each proxy in turn (ours first, then kube-proxy, each with its
defaults, the tables flushed in between) is measured for:

- first sync: from its start until the probe's ClusterIP is rejected at once
  (the rules of every Service are in: both proxies list everything first);
- endpoint to traffic: from writing the probe's EndpointSlice (one endpoint,
  a listener on this namespace's own interface) until a connection to the
  ClusterIP reaches the listener; and back (slice deleted until the
  ClusterIP is rejected again). The median of R rounds.

Connections are tried every 5 ms from this namespace itself (the nat
OUTPUT chain, which both proxies program), so the figure is what a client
on the node sees, not what a log line claims.
"""

import argparse
import errno
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

API = "http://127.0.0.1:18080"
LISTEN_IP = "10.250.0.1"


def call(method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(API + path, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        raise SystemExit(f"{method} {path}: {e.code} {e.read()[:300]!r}")


def wait_http(url, secs=30):
    end = time.time() + secs
    while time.time() < end:
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except Exception:
            time.sleep(0.1)
    raise SystemExit(f"{url} did not answer")


def service(name, target=8080):
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "bench"},
        "spec": {"ports": [{"name": "http", "port": 80, "targetPort": target}]},
    }


def slice_of(svc, name, ips):
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": name,
            "namespace": "bench",
            "labels": {"kubernetes.io/service-name": svc},
        },
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        "endpoints": [
            {"addresses": [ip], "conditions": {"ready": True}} for ip in ips
        ],
    }


def connect(ip):
    """'ok', 'refused' or 'silent' for a TCP connect to ip:80 (50 ms)."""
    s = socket.socket()
    s.settimeout(0.05)
    try:
        s.connect((ip, 80))
        return "ok"
    except ConnectionRefusedError:
        return "refused"
    except OSError as e:
        if e.errno in (errno.ECONNREFUSED, errno.EHOSTUNREACH):
            return "refused"
        return "silent"
    finally:
        s.close()


def until(ip, want, secs):
    start = time.monotonic()
    while time.monotonic() - start < secs:
        if connect(ip) == want:
            return time.monotonic() - start
        time.sleep(0.005)
    return None


def flush_tables():
    for table in ("nat", "filter", "mangle"):
        subprocess.run(["iptables", "-t", table, "-F"], check=False)
        subprocess.run(["iptables", "-t", table, "-X"], check=False)


def measure(name, cmd, probe_ip, rounds, log):
    flush_tables()
    started = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=log, stderr=log)
    try:
        first = until(probe_ip, "refused", 300)
        if first is None:
            raise SystemExit(f"{name}: the probe was never rejected; see {log.name}")
        first = time.monotonic() - started
        to_traffic, to_reject = [], []
        for _ in range(rounds):
            t = time.monotonic()
            call("POST", "/apis/discovery.k8s.io/v1/namespaces/bench/endpointslices",
                 slice_of("probe", "probe-1", [LISTEN_IP]))
            d = until(probe_ip, "ok", 30)
            if d is None:
                raise SystemExit(f"{name}: the new endpoint never got traffic")
            to_traffic.append(time.monotonic() - t)
            t = time.monotonic()
            call("DELETE", "/apis/discovery.k8s.io/v1/namespaces/bench/endpointslices/probe-1")
            if until(probe_ip, "refused", 30) is None:
                raise SystemExit(f"{name}: the gone endpoint kept its traffic")
            to_reject.append(time.monotonic() - t)
        return first, statistics.median(to_traffic), statistics.median(to_reject)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--apiserver", required=True)
    ap.add_argument("--ours", required=True)
    ap.add_argument("--kube-proxy", required=True)
    ap.add_argument("--services", type=int, default=1000)
    ap.add_argument("--endpoints-per-service", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()

    work = tempfile.mkdtemp(prefix="proxy-latency.")
    procs = []
    try:
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
        # The endpoint's address, and a route that sends ClusterIPs through
        # nat OUTPUT (without one the kernel refuses before any rule).
        # (A veth pair with both ends here: hosts may lack the dummy module.)
        subprocess.run(["ip", "link", "add", "probe0", "type", "veth", "peer", "name", "probe1"],
                       check=True)
        for dev in ("probe0", "probe1"):
            subprocess.run(["ip", "link", "set", dev, "up"], check=True)
        subprocess.run(["ip", "addr", "add", LISTEN_IP + "/32", "dev", "probe0"], check=True)
        subprocess.run(["ip", "route", "add", "10.96.0.0/12", "dev", "probe0"], check=True)
        etcd_log = open(os.path.join(work, "etcd.log"), "w")
        procs.append(subprocess.Popen(
            ["etcd", "--name", "bench", "--data-dir", os.path.join(work, "etcd"),
             "--listen-client-urls", "http://127.0.0.1:12379",
             "--advertise-client-urls", "http://127.0.0.1:12379",
             "--listen-peer-urls", "http://127.0.0.1:12380",
             "--initial-advertise-peer-urls", "http://127.0.0.1:12380",
             "--initial-cluster", "bench=http://127.0.0.1:12380"],
            stdout=etcd_log, stderr=etcd_log))
        api_log = open(os.path.join(work, "apiserver.log"), "w")
        procs.append(subprocess.Popen(
            [args.apiserver, "--etcd-servers", "http://127.0.0.1:12379",
             "--bind-address", "127.0.0.1", "--port", "18080", "--secure-port", "0"],
            stdout=api_log, stderr=api_log))
        wait_http(API + "/readyz")

        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((LISTEN_IP, 8080))
        listener.listen(128)

        def accept():
            while True:
                try:
                    c, _ = listener.accept()
                    c.close()
                except OSError:
                    return
        threading.Thread(target=accept, daemon=True).start()

        call("POST", "/api/v1/namespaces", {"metadata": {"name": "bench"}})
        call("POST", "/api/v1/nodes", {
            "metadata": {"name": "bench-node"},
            "status": {"addresses": [{"type": "InternalIP", "address": LISTEN_IP}]},
        })
        n, m = args.services, args.endpoints_per_service
        t = time.monotonic()

        def make(i):
            call("POST", "/api/v1/namespaces/bench/services", service(f"svc-{i}"))
            ips = [f"10.{200 + (i * m + e) // 65536}.{(i * m + e) // 256 % 256}.{(i * m + e) % 256}"
                   for e in range(m)]
            call("POST", "/apis/discovery.k8s.io/v1/namespaces/bench/endpointslices",
                 slice_of(f"svc-{i}", f"svc-{i}-1", ips))
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(make, range(n)))
        probe_ip = call("POST", "/api/v1/namespaces/bench/services",
                        service("probe"))["spec"]["clusterIP"]
        print(f"cluster: {n} Services, {n * m} endpoints, made in {time.monotonic() - t:.1f} s",
              flush=True)

        results = {}
        for name, cmd in (
            ("ours", [args.ours, "--server", API, "--node", "bench-node"]),
            ("kube-proxy", [args.kube_proxy, "--master", API, "--proxy-mode", "iptables",
                            "--hostname-override", "bench-node",
                            "--metrics-bind-address", "127.0.0.1:10249",
                            "--healthz-bind-address", "127.0.0.1:10256",
                            "--conntrack-max-per-core", "0",
                            "--conntrack-tcp-timeout-established", "0",
                            "--conntrack-tcp-timeout-close-wait", "0"]),
        ):
            with open(os.path.join(work, f"{name}.log"), "w") as log:
                results[name] = measure(name, cmd, probe_ip, args.rounds, log)
            first, on, off = results[name]
            print(f"{name:>10}: first sync {first * 1e3:8.0f} ms, "
                  f"new endpoint to traffic {on * 1e3:6.0f} ms, "
                  f"endpoint gone to rejected {off * 1e3:6.0f} ms", flush=True)
        o, k = results["ours"], results["kube-proxy"]
        print(f"     ratio: first sync {o[0] / k[0]:.2f}x, new endpoint to traffic "
              f"{o[1] / k[1]:.2f}x, gone to rejected {o[2] / k[2]:.2f}x (ours / kube-proxy)")
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        flush_tables()
        if os.environ.get("KEEP_LOGS"):
            print(f"logs kept in {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
