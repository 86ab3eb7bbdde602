"""The cluster client's reflector against hitless's API server: a 410 answered by re-listing with
synthesised deletions, and a silent stream cut by the client-side idle timeout; gaps recorded."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from hitless.api.types.meta import ObjectMeta
from hitless.api.types.pod import Container, Pod, PodSpec
from hitless.apiserver.kubeconfig import Kubeconfig
from hitless.clock import RealClock
from hitless.kube.client import KubeClient, Reflector
from hitless.kube.config import load_kubeconfig
from hitless.tasks import cancel_and_wait, spawn
from tests.apiserver.conftest import Served
from tests.apiserver.conftest import served as served  # the fixture


def _pod(name: str) -> Pod:
    return Pod(
        metadata=ObjectMeta(name=name, labels={"app": "web"}),
        spec=PodSpec(containers=[Container(name="app", image="nginx")]),
    )


def _client(served: Served, tmp_path: Path) -> KubeClient:
    assert served.server.credentials is not None
    path = tmp_path / "kubeconfig"
    Kubeconfig.write(served.url, served.server.credentials, path)
    return KubeClient(load_kubeconfig(str(path), None))


class Events(list[tuple[str, str]]):
    def __init__(self) -> None:
        super().__init__()
        self.changed = asyncio.Event()

    def __call__(self, kind: str, obj: dict[str, Any], at: float) -> None:
        self.append((kind, obj["metadata"]["name"]))
        self.changed.set()

    async def until(self, want: tuple[str, str]) -> None:
        async with asyncio.timeout(10):
            while want not in self:
                self.changed.clear()
                await self.changed.wait()


async def test_a_410_is_answered_by_a_relist_with_synthesised_deletions(
    served: Served, tmp_path: Path
) -> None:
    served.store.create(_pod("victim"))
    served.store.create(_pod("stays"))
    events = on_event = Events()

    async with _client(served, tmp_path) as client:
        reflector = Reflector(client, "/api/v1/namespaces/default/pods", RealClock(), on_event, "app=web")
        await reflector._list()
        assert sorted(events) == [("ADDED", "stays"), ("ADDED", "victim")]
        # While nobody watches: the victim goes, and more changes than the server keeps (50).
        served.store.delete("Pod", "default", "victim", 0)
        for i in range(60):
            served.store.create(_pod(f"p{i}"))
        task = spawn("reflector", reflector.follow())
        try:
            await events.until(("DELETED", "victim"))
            await events.until(("ADDED", "p59"))
        finally:
            await cancel_and_wait(task)
    # kube-apiserver's way, which hitless's server follows: HTTP 200 and an ERROR event.
    assert [g.why.split(":")[0] for g in reflector.gaps] == ["410 Expired"]
    assert ("default", "victim") not in reflector.cache and len(reflector.cache) == 61


async def test_a_silent_stream_is_cut_by_the_idle_timeout_and_resumed(served: Served, tmp_path: Path) -> None:
    events = on_event = Events()

    async with _client(served, tmp_path) as client:
        # The server sends a bookmark at most every minute: 0.3 s of silence passes for a dead link.
        reflector = Reflector(
            client, "/api/v1/namespaces/default/pods", RealClock(), on_event, idle_timeout=0.3
        )
        task = spawn("reflector", reflector.run())
        try:
            await asyncio.wait_for(reflector.gap.wait(), 10)
            served.store.create(_pod("later"))
            await events.until(("ADDED", "later"))
        finally:
            await cancel_and_wait(task)
    assert reflector.gaps[0].why.startswith("watch stream failed")
    assert reflector.gaps[0].end >= reflector.gaps[0].start


async def test_a_server_that_closes_every_watch_at_once_is_not_hammered(
    served: Served, tmp_path: Path
) -> None:
    assert served.server.rest is not None
    served.server.rest.min_request_timeout = 0.01  # every watch ends at once, with no event
    events = on_event = Events()
    opened: list[float] = []
    lists: list[float] = []

    async with _client(served, tmp_path) as client:
        reflector = Reflector(client, "/api/v1/namespaces/default/pods", RealClock(), on_event)
        real_watch, real_list = client.watch_lines, reflector._list

        async def watch_lines(*args: Any) -> Any:
            opened.append(asyncio.get_running_loop().time())
            return await real_watch(*args)

        async def listed() -> None:
            lists.append(asyncio.get_running_loop().time())
            await real_list()

        client.watch_lines = watch_lines  # type: ignore[method-assign]
        reflector._list = listed  # type: ignore[method-assign]
        task = spawn("reflector", reflector.run())
        try:
            async with asyncio.timeout(10):
                while len(lists) < 2:
                    await reflector.gap.wait()
                    reflector.gap.clear()
        finally:
            await cancel_and_wait(task)
    # client-go's "very short watch": listed again after a backoff of 0.8 s (then 1.6 s, ...),
    # not watched again at once, hundreds of times a second.
    assert lists[1] - lists[0] >= 0.8
    assert len(opened) <= 2
    assert all(g.why == "watch closed by the server" for g in reflector.gaps)
    assert events == []
