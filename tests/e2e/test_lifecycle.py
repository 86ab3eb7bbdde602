"""The kubelet's container lifecycle with real processes: PID 1 and signals, preStop and the
grace period, postStart, restarts and their logs, init containers, the pod network.

Timings are asserted with generous bounds and as orders: the machine is shared and noisy.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from hitless.api.types.pod import Pod

from .conftest import Cluster, running

CHILD = (
    "child() { trap 'echo child: got SIGTERM, cleaning up; echo child: clean shutdown done; exit 0' TERM; "
    "while :; do sleep 0.2 & wait $!; done; }; "
)


def terminated(pod: Pod, container: int = 0) -> bool:
    statuses = pod.status.container_statuses or []
    return bool(statuses) and statuses[container].state.terminated is not None


def pod_yaml(name: str, command: list[str], grace: int = 5, extra: str = "") -> str:
    quoted = ", ".join('"' + c.replace("\\", "\\\\").replace('"', '\\"') + '"' for c in command)
    return f"""
apiVersion: v1
kind: Pod
metadata:
  name: {name}
spec:
  terminationGracePeriodSeconds: {grace}
  containers:
  - name: main
    image: busybox
    command: [{quoted}]
{extra}
"""


async def stop_and_capture(cluster: Cluster, name: str) -> tuple[Pod, float]:
    """Delete the pod; return its last status and how long until its container had exited."""
    seen: list[Pod] = []
    exited = asyncio.Event()
    exited_at: list[float] = []

    def listen(ev: object) -> None:
        obj = getattr(ev, "object", None)
        if isinstance(obj, Pod) and obj.name == name:
            seen.append(obj)
            if terminated(obj) and not exited.is_set():
                exited_at.append(cluster.clock.now())
                exited.set()

    cluster.engine.store.add_listener(listen)
    start = cluster.clock.now()
    cluster.engine.store.delete("Pod", "default", name)
    await asyncio.wait_for(exited.wait(), 40)
    await cluster.wait_gone(name)
    return seen[-1], exited_at[0] - start


async def test_shell_pid1_ignores_sigterm_and_loses_its_childs_cleanup(cluster: Cluster) -> None:
    cluster.apply(pod_yaml("shell", ["sh", "-c", CHILD + "child & wait"], grace=3))
    await cluster.wait_pod("shell", running)
    await asyncio.sleep(0.3)
    last, took = await stop_and_capture(cluster, "shell")
    term = last.status.container_statuses[0].state.terminated  # type: ignore[index]
    assert term is not None
    # The shell as PID 1 has no handler: SIGTERM is dropped, SIGKILL comes at the deadline.
    assert term.exit_code == 137 and term.reason == "Error"
    assert 2.5 < took < 6
    assert not any("got SIGTERM" in line for line in cluster.logs("shell", "main"))


async def test_signal_forwarding_pid1_stops_at_once_and_child_cleans_up(cluster: Cluster) -> None:
    command = ["hitless", "init", "--grace", "2", "-e", "143", "--", "sh", "-c", CHILD + "child & wait"]
    cluster.apply(pod_yaml("forwarded", command, grace=10))
    await cluster.wait_pod("forwarded", running)
    await asyncio.sleep(1.0)  # the init and the shell are up (Python starts in ~0.1 s)
    last, took = await stop_and_capture(cluster, "forwarded")
    term = last.status.container_statuses[0].state.terminated  # type: ignore[index]
    assert term is not None and term.exit_code == 0
    assert took < 3
    lines = cluster.logs("forwarded", "main")
    assert "child: got SIGTERM, cleaning up" in lines
    assert "child: clean shutdown done" in lines


TRAP_AND_IGNORE = "trap 'echo got SIGTERM' TERM; while :; do sleep 0.1 & wait $!; done"


async def term_and_kill_times(cluster: Cluster, name: str, pre_stop: str, grace: int) -> tuple[float, float]:
    extra = f"""    lifecycle:
      preStop:
{pre_stop}"""
    cluster.apply(pod_yaml(name, ["sh", "-c", TRAP_AND_IGNORE], grace=grace, extra=extra))
    await cluster.wait_pod(name, running)
    await asyncio.sleep(0.3)
    deleted = cluster.clock.wall()
    last, took = await stop_and_capture(cluster, name)
    term = last.status.container_statuses[0].state.terminated  # type: ignore[index]
    assert term is not None and term.exit_code == 137
    return (sigterm_time(cluster, name) - deleted).total_seconds(), took


def sigterm_time(cluster: Cluster, name: str) -> datetime:
    """When the container logged the one SIGTERM it got (the CRI log line's timestamp)."""
    log_path = next(cluster.log_dir.glob(f"default_{name}_*/main/0.log"))
    got = [line for line in log_path.read_text().splitlines() if line.endswith("got SIGTERM")]
    assert len(got) == 1
    return datetime.fromisoformat(got[0].split(" ")[0][:26] + "+00:00")


async def test_prestop_sleep_then_sigterm_then_sigkill_at_grace(cluster: Cluster) -> None:
    sleep_action = "        sleep:\n          seconds: 3"
    term_at, kill_at = await term_and_kill_times(cluster, "prestop-3", sleep_action, grace=5)
    assert 2.7 < term_at < 4.0
    assert 4.7 < kill_at < 6.5


async def test_prestop_overrunning_grace_is_abandoned_then_two_seconds(cluster: Cluster) -> None:
    # The API server refuses a sleep action longer than the grace period; an exec hook may overrun.
    exec_sleep = '        exec:\n          command: [sleep, "10"]'
    term_at, kill_at = await term_and_kill_times(cluster, "prestop-10", exec_sleep, grace=5)
    assert 4.7 < term_at < 6.0
    assert 1.7 < kill_at - term_at < 3.0


async def test_two_replicas_listen_on_the_same_port(cluster: Cluster) -> None:
    for name in ("replica-a", "replica-b"):
        cluster.apply(
            f"""
apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
  containers:
  - name: web
    image: hitless
    args: [demo-app, --port=8080, --request-log=none]
    env:
    - name: POD_NAME
      valueFrom: {{fieldRef: {{fieldPath: metadata.name}}}}
"""
        )
    answers = {}
    for name in ("replica-a", "replica-b"):
        pod = await cluster.wait_pod(name, running)
        ip = pod.status.pod_ip
        assert ip is not None
        for _ in range(100):  # the app listens ~0.1 s after it started
            try:
                reader, writer = await cluster.engine.network.open_connection(ip, 8080, timeout=2)
                break
            except OSError:
                await asyncio.sleep(0.05)
        writer.write(b"GET /hostname HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        await writer.drain()
        body = (await reader.read()).split(b"\r\n\r\n", 1)[1]
        writer.close()
        answers[name] = body.decode().strip()
    assert answers == {"replica-a": "replica-a", "replica-b": "replica-b"}
    assert cluster.pod("replica-a").status.pod_ip != cluster.pod("replica-b").status.pod_ip  # type: ignore[union-attr]


async def test_post_start_holds_the_status_and_crash_restarts_keep_logs(cluster: Cluster) -> None:
    extra = """    lifecycle:
      postStart:
        exec:
          command: [sleep, "1"]"""
    cluster.apply(pod_yaml("hooked", ["sh", "-c", "echo run; sleep 1.5; exit 3"], extra=extra))
    states: list[str] = []

    def record(ev: object) -> None:
        obj = getattr(ev, "object", None)
        if isinstance(obj, Pod) and obj.name == "hooked" and obj.status.container_statuses:
            st = obj.status.container_statuses[0].state
            state = (
                "running" if st.running else "terminated" if st.terminated else f"waiting:{st.waiting.reason}"
            )  # type: ignore[union-attr]
            if not states or states[-1] != state:
                states.append(state)

    cluster.engine.store.add_listener(record)
    await cluster.wait_pod("hooked", lambda p: "BackOff" in [e["reason"] for e in cluster.events("hooked")])
    # While postStart runs the API keeps the status of the sync that started the container:
    # ContainerCreating the first time, the previous instance's termination on a restart. The
    # first restart is immediate; the second exit meets the back-off.
    assert states == ["waiting:ContainerCreating", "running", "terminated", "running", "terminated"]
    pod = cluster.pod("hooked")
    assert pod is not None
    st = pod.status.container_statuses[0]  # type: ignore[index]
    assert st.restart_count == 1
    assert st.last_state.terminated is not None and st.last_state.terminated.exit_code == 3
    # Each instance has its own log file: what kubectl logs --previous shows.
    assert cluster.logs("hooked", "main", 0) == ["run"]
    assert cluster.logs("hooked", "main", 1) == ["run"]
    reasons = [e["reason"] for e in cluster.events("hooked")]
    assert reasons.index("Started") < reasons.index("BackOff")


async def test_delete_during_post_start_waits_for_the_hook(cluster: Cluster) -> None:
    extra = """    lifecycle:
      postStart:
        exec:
          command: [sleep, "2"]"""
    cluster.apply(pod_yaml("starting", ["sh", "-c", TRAP_AND_IGNORE], grace=1, extra=extra))
    await cluster.wait_pod(
        "starting", lambda p: "Started" in [e["reason"] for e in cluster.events("starting")]
    )
    # The kubelet does not cancel SyncPod: the hook finishes, then the container is stopped.
    deleted = cluster.clock.wall()
    _, took = await stop_and_capture(cluster, "starting")
    assert [e["reason"] for e in cluster.events("starting")].count("Killing") == 1
    sigterm_at = sigterm_time(cluster, "starting")
    assert 1.2 < (sigterm_at - deleted).total_seconds() < 3.5  # the rest of the 2 s hook
    assert 1.7 < took - (sigterm_at - deleted).total_seconds() < 3.5  # SIGTERM ignored, SIGKILL 2 s later


async def test_init_containers_env_and_working_dir(cluster: Cluster) -> None:
    cluster.apply(
        """
apiVersion: v1
kind: Pod
metadata:
  name: ordered
  labels: {tier: web}
spec:
  restartPolicy: Never
  initContainers:
  - name: first
    image: busybox
    command: [sh, -c, "echo first; sleep 0.5"]
  - name: second
    image: busybox
    command: [sh, -c, "echo second"]
  containers:
  - name: main
    image: busybox
    workingDir: /tmp
    command: [sh, -c, "echo $(GREETING) $POD $TIER $HOSTNAME; pwd; echo $$$$"]
    env:
    - {name: NAME, value: world}
    - {name: GREETING, value: "hello $(NAME)"}
    - name: POD
      valueFrom: {fieldRef: {fieldPath: metadata.name}}
    - name: TIER
      valueFrom: {fieldRef: {fieldPath: "metadata.labels['tier']"}}
"""
    )
    pod = await cluster.wait_pod("ordered", lambda p: p.status.phase == "Succeeded")
    inits = pod.status.init_container_statuses or []
    first = inits[0].state.terminated
    second = inits[1].state.terminated
    main = pod.status.container_statuses[0].state.terminated  # type: ignore[index]
    assert first and second and main
    assert first.finished_at <= second.started_at  # type: ignore[operator]
    assert second.finished_at <= main.started_at  # type: ignore[operator]
    # $(VAR) expanded by the kubelet, downward API, the pod's hostname, PID 1 of its namespace.
    assert cluster.logs("ordered", "main") == ["hello world ordered web ordered", "/tmp", "1"]
