"""Probes against real processes in real pod namespaces: the scenarios of the probes issue.

Times are measured from the container's start as the runtime reports it and asserted with
generous bounds; the kubelet's own start-up jitter (the engine is younger than one period when
these pods are created) is part of what is measured, as on a freshly started node.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from hitless.api.types.pod import Pod

from .conftest import Cluster


def web_pod(name: str, args: list[str], probes: str, grace: int = 2) -> str:
    quoted = ", ".join(f'"{a}"' for a in ["demo-app", "--port=8080", "--request-log=none", *args])
    return f"""
apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
  terminationGracePeriodSeconds: {grace}
  containers:
  - name: web
    image: hitless
    args: [{quoted}]
    ports:
    - {{name: http, containerPort: 8080}}
{probes}
"""


def events_of(cluster: Cluster, name: str) -> list[dict[str, Any]]:
    return sorted(cluster.events(name), key=lambda e: e["eventTime"])


def started_at(pod: Pod) -> float:
    st = pod.status.container_statuses[0].state.running  # type: ignore[index]
    assert st is not None and st.started_at is not None
    return st.started_at.timestamp()


async def post(cluster: Cluster, ip: str, path: str) -> None:
    reader, writer = await cluster.engine.network.open_connection(ip, 8080, timeout=2)
    writer.write(
        f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode()
    )
    await writer.drain()
    await reader.read()
    writer.close()


async def test_a_liveness_failing_from_4s_restarts_within_6_to_9s(cluster: Cluster) -> None:
    probes = """    livenessProbe:
      httpGet: {path: /healthz, port: http}
      periodSeconds: 1
      failureThreshold: 3"""
    cluster.apply(web_pod("live", ["--healthz=fail-after:4"], probes))
    first = await cluster.wait_pod("live", lambda p: p.status.phase == "Running" and p.is_ready())
    t0 = started_at(first)
    restarted = await cluster.wait_pod(
        "live", lambda p: (p.status.container_statuses or [])[0].restart_count == 1, timeout=20
    )
    st = restarted.status.container_statuses[0]  # type: ignore[index]
    last = st.last_state.terminated
    assert last is not None and last.finished_at is not None
    # The app counts from its own process start, a few ms before the runtime records startedAt.
    assert 5.8 <= last.finished_at.timestamp() - t0 <= 9.5
    evs = events_of(cluster, "live")
    # A probe that runs before the app listens fails with "connection refused" (its own Event);
    # the 503s after the fourth second are the ones that count.
    unhealthy = [
        e
        for e in evs
        if e["reason"] == "Unhealthy"
        and e["message"] == "Liveness probe failed: HTTP probe failed with statuscode: 503"
    ]
    killing = [e for e in evs if e["reason"] == "Killing"]
    assert unhealthy, [e["message"] for e in evs]
    assert unhealthy[0]["count"] >= 3
    assert killing[0]["message"] == "Container web failed liveness probe, will be restarted"
    assert unhealthy[0]["eventTime"] < killing[0]["eventTime"]


async def test_b_startup_probe_protects_a_slow_start(cluster: Cluster) -> None:
    probes = """    startupProbe:
      httpGet: {path: /startupz, port: http}
      periodSeconds: 1
      failureThreshold: 30
    livenessProbe:
      httpGet: {path: /healthz, port: http}
      periodSeconds: 1
      failureThreshold: 1"""
    cluster.apply(web_pod("slow", ["--startupz=ok-after:10", "--healthz=ok-after:10"], probes))
    pod = await cluster.wait_pod(
        "slow",
        lambda p: bool(p.status.container_statuses and p.status.container_statuses[0].started),
        timeout=20,
    )
    t0 = started_at(pod)
    assert cluster.clock.wall().timestamp() - t0 >= 9.5  # started only once /startupz said so
    await asyncio.sleep(2)
    pod = cluster.pod("slow")
    assert pod is not None and pod.status.container_statuses[0].restart_count == 0  # type: ignore[index]
    assert not [e for e in cluster.events("slow") if e["reason"] == "Killing"]
    startup_failures = [e for e in cluster.events("slow") if e["message"].startswith("Startup probe failed")]
    # One Event per message: a loaded machine may add "connection refused" ones before the app
    # listens, beside the 503s of /startupz. Together they count every failed probe.
    assert sum(e["count"] for e in startup_failures) >= 8, startup_failures
    assert not [e for e in cluster.events("slow") if e["message"].startswith("Liveness probe failed")]


async def test_c_readiness_flips_off_and_on(cluster: Cluster) -> None:
    probes = """    readinessProbe:
      httpGet: {path: /readyz, port: http}
      periodSeconds: 1
      failureThreshold: 3"""
    cluster.apply(web_pod("flip", [], probes))
    pod = await cluster.wait_pod("flip", lambda p: p.is_ready())
    assert pod.status.pod_ip
    start = cluster.clock.now()
    await post(cluster, pod.status.pod_ip, "/control/readyz?state=fail")
    await cluster.wait_pod("flip", lambda p: not p.is_ready(), timeout=10)
    assert cluster.clock.now() - start <= 1 * 3 + 1.5  # period × failureThreshold
    start = cluster.clock.now()
    await post(cluster, pod.status.pod_ip, "/control/readyz?state=ok")
    pod = await cluster.wait_pod("flip", lambda p: p.is_ready(), timeout=10)
    assert cluster.clock.now() - start <= 1 + 1.5  # the next success
    cond = pod.status.condition("ContainersReady")
    assert cond is not None and cond.status == "True"


def processes_with(marker: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    if marker.encode() in f.read():
                        found.append(int(entry))
            except OSError:
                pass
    return found


async def test_d_exec_probe_past_its_timeout_fails_and_leaves_nothing(cluster: Cluster) -> None:
    # Liveness rather than readiness: a not-ready container gets extra readiness probes at each
    # status update (the manual trigger), which would start the next probe at once.
    marker = "31.4159"
    probes = f"""    livenessProbe:
      exec:
        command: [sh, -c, "sleep {marker} & sleep {marker}"]
      timeoutSeconds: 1
      periodSeconds: 4
      failureThreshold: 10"""
    cluster.apply(web_pod("execs", [], probes))
    await cluster.wait_pod("execs", lambda p: p.status.phase == "Running")
    deadline = cluster.clock.now() + 15
    while not [e for e in cluster.events("execs") if e["reason"] == "Unhealthy"]:
        assert cluster.clock.now() < deadline, "no Unhealthy event"
        await asyncio.sleep(0.1)
    unhealthy = next(e for e in cluster.events("execs") if e["reason"] == "Unhealthy")
    assert unhealthy["message"].startswith("Liveness probe failed: ")
    assert "timed out" in unhealthy["message"]
    await asyncio.sleep(0.5)
    # The probe's whole tree, both sleeps, is gone after its timeout; the next probe starts
    # about 3 s after the timeout (period 4, timeout 1).
    assert processes_with(marker) == []


async def test_e_probes_at_a_closed_port_keep_unready_and_restart(cluster: Cluster) -> None:
    probes = """    readinessProbe:
      tcpSocket: {port: 9999}
      periodSeconds: 1
    livenessProbe:
      tcpSocket: {port: 9999}
      initialDelaySeconds: 2
      periodSeconds: 1
      failureThreshold: 3"""
    cluster.apply(web_pod("closed", [], probes))
    first = await cluster.wait_pod("closed", lambda p: p.status.phase == "Running")
    t0 = started_at(first)
    pod = await cluster.wait_pod(
        "closed", lambda p: (p.status.container_statuses or [])[0].restart_count == 1, timeout=20
    )
    last = pod.status.container_statuses[0].last_state.terminated  # type: ignore[index]
    assert last is not None and last.finished_at is not None
    # initialDelaySeconds + periodSeconds × failureThreshold = 5 s, give or take a period.
    assert 3.5 <= last.finished_at.timestamp() - t0 <= 8
    readiness = [e for e in cluster.events("closed") if e["message"].startswith("Readiness probe failed")]
    assert readiness and "connect: connection refused" in readiness[0]["message"]
    assert not any(p.is_ready() for p in [pod])


async def test_grpc_readiness_and_https_liveness_against_the_demo_app(cluster: Cluster) -> None:
    probes = """    readinessProbe:
      grpc: {port: 9090}
      periodSeconds: 1
      failureThreshold: 1
    livenessProbe:
      httpGet: {path: /healthz, port: 8443, scheme: HTTPS}
      initialDelaySeconds: 1
      periodSeconds: 1
      failureThreshold: 1"""
    cluster.apply(web_pod("proto", ["--tls-port=8443", "--grpc-port=9090"], probes))
    pod = await cluster.wait_pod("proto", lambda p: p.is_ready())
    assert pod.status.pod_ip
    # The gRPC health status follows the app's readiness: NOT_SERVING makes the pod unready.
    await post(cluster, pod.status.pod_ip, "/control/readyz?state=fail")
    await cluster.wait_pod("proto", lambda p: not p.is_ready(), timeout=10)
    messages = [e["message"] for e in cluster.events("proto") if e["reason"] == "Unhealthy"]
    assert 'Readiness probe failed: service unhealthy (responded with "NOT_SERVING")' in messages
    # HTTPS liveness with the app's self-signed certificate and failureThreshold 1: a single
    # failed probe would have killed it. No certificate check, no kill.
    await asyncio.sleep(1.5)
    assert not [e for e in cluster.events("proto") if e["reason"] == "Killing"]
    assert cluster.pod("proto").status.container_statuses[0].restart_count == 0  # type: ignore[union-attr, index]
