"""The load agent's own watches: its access (ServiceAccount, Role, RoleBinding; the runner's
preflight), its in-cluster config, the ``watch`` lines it prints and the view the runner builds
from them, and its fallback when it cannot watch (verify/agentrbac.py, agentview.py,
agentwatch.py, cli/agent.py, kube/client.py). The run through a cluster, where the agent's view is
the one blamed from, is tests/verify/test_agent_run.py."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import certifi
import pytest

from hitless.cli.agent import Watches
from hitless.clock import FakeClock, RealClock
from hitless.kube.client import ApiError, KubeClient, Reflector
from hitless.kube.config import load_incluster
from hitless.tasks import cancel_and_wait, spawn
from hitless.verify import agentrbac
from hitless.verify.agent import AgentLoad, agent_pod
from hitless.verify.agentwire import encode_watch
from hitless.verify.cluster_steps import required_access
from hitless.verify.options import VerifyOptions
from tests.verify.test_agent import _close, _line, _stop, pod_server  # noqa: F401


def _access(need: list[dict[str, str]]) -> set[tuple[str, str, str]]:
    return {(a["verb"], a["group"], a["resource"]) for a in need}


def test_the_runner_asks_to_give_the_agent_its_access_and_to_take_it_back_in_a_users_namespace() -> None:
    create = {("create", "", "serviceaccounts"), ("create", "rbac.authorization.k8s.io", "roles"),
              ("create", "rbac.authorization.k8s.io", "rolebindings")}  # fmt: skip
    delete = {("delete", g, r) for _, g, r in create}
    plain = _access(required_access({"Deployment"}, "ns", own_namespace=True))
    own = _access(required_access({"Deployment"}, "ns", own_namespace=True, agent=True))
    users = _access(required_access({"Deployment"}, "ns", own_namespace=False, agent=True))
    assert not (create | delete) & plain
    assert create <= own and not delete & own  # deleted with the throwaway namespace
    assert create | delete <= users
    # The Role grants what the agent's reflectors send and nothing else; the runner holds each of
    # these itself (RBAC's escalation check), as its own watches need them.
    assert agentrbac.role_rules() == [
        {"apiGroups": [""], "resources": ["pods", "events"], "verbs": ["list", "watch"]},
        {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["list", "watch"]},
    ]
    runner = _access(required_access({"Deployment"}, "ns", own_namespace=True))
    assert {
        ("list", g, r) for g, r in (("", "pods"), ("", "events"), ("discovery.k8s.io", "endpointslices"))
    } <= runner
    binding = dict(agentrbac.objects("a", "ns", {}))[
        "/apis/rbac.authorization.k8s.io/v1/namespaces/ns/rolebindings"
    ]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "a", "namespace": "ns"}]


def test_the_watching_agents_pod_runs_as_its_service_account() -> None:
    opts = VerifyOptions(rps=10)
    pod = agent_pod("hitless-agent-ab", "i", "ab", {"app": "web"}, "10.0.0.1:80", opts, [], ("ns", "web"))
    spec = pod["spec"]
    assert spec["serviceAccountName"] == "hitless-agent-ab" and spec["automountServiceAccountToken"] is True
    args = spec["containers"][0]["args"]
    assert args[args.index("--namespace") + 1] == "ns" and args[args.index("--service") + 1] == "web"
    assert args[args.index("--selector") + 1] == "app=web"
    bare = agent_pod("hitless-agent-ab", "i", "ab", {"app": "web"}, "10.0.0.1:80", opts, [])["spec"]
    assert (
        bare["automountServiceAccountToken"] is False and "--namespace" not in bare["containers"][0]["args"]
    )


def test_in_cluster_config_is_the_service_host_and_the_mounted_token_read_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(ValueError, match="KUBERNETES_SERVICE_HOST"):
        load_incluster(str(tmp_path))
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "fd00::1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    with pytest.raises(OSError):
        load_incluster(str(tmp_path))  # no token mounted
    (tmp_path / "ca.crt").write_bytes(Path(certifi.where()).read_bytes())
    (tmp_path / "token").write_text("one\n")
    creds = load_incluster(str(tmp_path))
    assert creds.host == "https://[fd00::1]:443"
    client = KubeClient(creds)
    assert client._headers(None)["Authorization"] == "Bearer one"
    # The kubelet renews the token in place; each request reads it again.
    (tmp_path / "token").write_text("two")
    assert client._headers(None)["Authorization"] == "Bearer two"


async def test_an_agent_that_cannot_reach_the_api_says_so_and_loads(pod_server: int) -> None:  # noqa: F811
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBERNETES_")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hitless", "agent", "load", "--target", f"127.0.0.1:{pod_server}",
        "--rps", "50", "--warm-up-pods", "pod-a", "--namespace", "ns", "--service", "web",
        "--selector", "app=web", stdout=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    try:
        error = await _line(proc)
        assert error["type"] == "watch-error" and "no in-cluster API access" in error["message"]
        assert (await _line(proc))["type"] == "warm-up"
        assert (await _line(proc))["type"] == "ready"
        assert (await _line(proc))["type"] == "request"
        rest = await _stop(proc)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        _close(proc)
    assert rest[-1]["type"] == "end" and not [x for x in rest if x["type"] in ("watch", "gap")]


def _pod(name: str, ready: bool, deleting: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "uid": f"u-{name}", "managedFields": [{"manager": "x"}]}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    cond = [{"type": "Ready", "status": "True" if ready else "False"}]
    return {"metadata": meta, "spec": {"nodeName": "n1"}, "status": {"phase": "Running", "conditions": cond}}


def _agent_lines(*extra: dict[str, Any]) -> list[dict[str, Any]]:
    event = {"metadata": {"name": "web-1.18"}, "involvedObject": {"kind": "Pod", "name": "web-1"},
             "reason": "Killing", "message": "Stopping container app", "count": 1}  # fmt: skip
    own = {
        **event,
        "metadata": {"name": "agent.19"},
        "involvedObject": {"kind": "Pod", "name": "hitless-agent-x"},
    }
    watch = [
        encode_watch("pods", "ADDED", _pod("web-1", True), 100.0),
        encode_watch("events", "ADDED", own, 100.5),
        {"type": "watching", "resources": ["pods", "endpointslices", "events"]},
        {"type": "ready", "monotonic": 101.0, "wall": 1000.0, "bootId": "other"},
        encode_watch("pods", "MODIFIED", _pod("web-1", False, deleting=True), 102.0),
        encode_watch("events", "ADDED", event, 102.25),
        *extra,
        {"type": "end", "requests": 0, "overload": None},
    ]
    return [json.loads(x) if isinstance(x, str) else x for x in watch]


def test_the_runner_builds_the_view_from_the_agents_watch_lines_on_its_own_clock() -> None:
    clock = RealClock()
    load = AgentLoad(None, "ns", "hitless-agent-x", clock)  # type: ignore[arg-type]
    gap = {
        "type": "gap",
        "resource": "pods",
        "start": 102.5,
        "end": 103.0,
        "why": "watch closed by the server",
    }
    for line in _agent_lines(gap):
        load._take(line)
    assert load._map is not None
    offset = load._map.offset
    seen = load.view("ns", {"hitless-agent-x"})
    assert seen is not None and load.info["watches"] is True
    view, gaps = seen
    life = view.timeline.pods["ns/web-1"]
    # Times of the agent's clock, moved as its requests are; managedFields never sent.
    assert life.created == pytest.approx(100.0 + offset) and life.deleted == pytest.approx(102.0 + offset)
    assert life.ready == [[pytest.approx(100.0 + offset), pytest.approx(102.0 + offset)]]
    assert [e[1] for e in life.events] == ["Killing"] and "ns/hitless-agent-x" not in view.timeline.pods
    assert gaps == [{"resource": "pods", "start": pytest.approx(102.5 + offset),
                     "end": pytest.approx(103.0 + offset), "why": "watch closed by the server"}]  # fmt: skip
    assert load.info["watchEvents"] == {"pods": 2, "events": 2} and load.info["gaps"] == 1
    assert "managedFields" not in load.watches.events[0]["object"]["metadata"]


def test_an_agent_whose_watch_failed_leaves_the_blame_to_the_runners_view() -> None:
    load = AgentLoad(None, "ns", "hitless-agent-x", RealClock())  # type: ignore[arg-type]
    refused = 'events is forbidden: User "system:serviceaccount:ns:a" cannot watch resource "events"'
    for line in _agent_lines({"type": "watch-error", "message": f"events: 403 Forbidden: {refused}"}):
        load._take(line)
    assert load.view("ns", set()) is None
    assert load.info["watches"] is False and refused in load.info["watchesNot"]
    # A log cut before the agent's end: its watches may have missed the end of the run.
    cut = AgentLoad(None, "ns", "hitless-agent-x", RealClock())  # type: ignore[arg-type]
    for line in _agent_lines()[:-1]:
        cut._take(line)
    assert cut.view("ns", set()) is None and "end line" in cut.info["watchesNot"]


class _Flaky(Reflector):
    """A reflector whose list is refused ``refusals`` times (a RoleBinding not yet authorized),
    then answers, then fails for good when ``then_fail``."""

    def __init__(self, refusals: int, then_fail: bool = False) -> None:
        super().__init__(None, "/api/v1/namespaces/ns/pods", FakeClock(), lambda *_: None)  # type: ignore[arg-type]
        self.refusals, self.then_fail, self.calls = refusals, then_fail, 0

    async def run(self) -> None:
        self.calls += 1
        if self.calls <= self.refusals:
            raise ApiError(
                403, 'pods is forbidden: User "system:serviceaccount:ns:a" cannot list', "Forbidden"
            )
        self.synced.set()
        if self.then_fail:
            raise ApiError(403, "forbidden now", "Forbidden")
        await asyncio.Event().wait()


async def test_the_agents_first_list_is_retried_and_a_later_failure_is_said_once(
    capsys: pytest.CaptureFixture[str],
) -> None:
    clock = FakeClock()
    args = argparse.Namespace(namespace="ns", selector="", service="web", watch_timeout=10.0)
    watches = Watches(args, clock)
    slow = _Flaky(refusals=2)
    task = spawn("flaky", watches._run(slow))
    await clock.advance(0.8 + 1.6)  # client-go's backoff: 0.8 s, then doubled
    assert slow.calls == 3 and slow.synced.is_set() and not watches.failed.is_set()
    assert "403" in watches.last_error and capsys.readouterr().out == ""
    await cancel_and_wait(task)
    await watches._run(_Flaky(refusals=0, then_fail=True))
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert lines == [{"type": "watch-error", "message": "pods: 403 Forbidden: forbidden now"}]


async def test_the_agents_access_is_made_before_its_pod_and_taken_back_binding_first() -> None:
    sent: list[tuple[str, str]] = []

    class Api:
        async def request(self, method: str, path: str, **kw: Any) -> dict[str, Any]:
            sent.append((method, path))
            if method == "POST" and path.endswith("/rolebindings"):
                raise ApiError(403, "rolebindings is forbidden", "Forbidden")
            return {}

    made: list[str] = []
    with pytest.raises(ApiError):
        await agentrbac.create(Api(), "a", "ns", {}, made)  # type: ignore[arg-type]
    # What was made before the refusal is known, and deleted in reverse order (--namespace).
    assert made == [
        "/api/v1/namespaces/ns/serviceaccounts/a",
        "/apis/rbac.authorization.k8s.io/v1/namespaces/ns/roles/a",
    ]
    sent.clear()
    assert await agentrbac.delete(Api(), made) == []  # type: ignore[arg-type]
    assert sent == [("DELETE", p) for p in reversed(made)]
