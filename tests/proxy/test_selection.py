"""kube-proxy's categorisation and its propagation delays, on a fake clock (no sockets)."""

from __future__ import annotations

import random

import pytest

from hitless.clock import FakeClock
from hitless.proxy.node import NodeProxy, ProxyOptions
from hitless.proxy.records import ConnectionLog
from hitless.proxy.selection import ProxyEndpoint, categorize, mode_for
from hitless.runtime.fake import FakeRuntime
from hitless.runtime.network import PodNetwork
from hitless.store.store import Store
from tests.proxy.helpers import endpoint, endpoint_slice, service


def ep(
    name: str, node: str, ready: bool = True, serving: bool = True, terminating: bool = False
) -> ProxyEndpoint:
    return ProxyEndpoint(name, f"127.244.0.{len(name)}", 8080, node, ready, serving, terminating)


def names(eps: tuple[ProxyEndpoint, ...] | None) -> list[str]:
    return sorted(e.pod for e in eps or ())


def test_cluster_uses_ready_then_serving_terminating() -> None:
    ready, st, dying = (
        ep("a", "node-1"),
        ep("bb", "node-2", False, True, True),
        ep("ccc", "node-2", False, False, True),
    )
    assert names(categorize([ready, st, dying], "node-1", True, False).cluster) == ["a"]
    only_terminating = categorize([st, dying], "node-1", True, False)
    assert names(only_terminating.cluster) == ["bb"] and only_terminating.has_any
    # Before 1.26: no fallback, so nothing usable anywhere -> REJECT.
    old = categorize([st, dying], "node-1", True, False, fallback=False)
    assert old.cluster == () and not old.has_any and mode_for(old.cluster, old.has_any) == "refuse"
    # Not serving terminating endpoints are never used, even as the last ones.
    assert categorize([dying], "node-1", True, False).cluster == ()


def test_local_falls_back_per_node_and_drops_when_others_have_endpoints() -> None:
    remote, local_st = ep("a", "node-2"), ep("bb", "node-1", False, True, True)
    cat = categorize([remote, local_st], "node-1", False, True)
    assert names(cat.local) == ["bb"]  # the local fallback ignores node-2's ready endpoint
    no_local = categorize([remote], "node-1", False, True)
    assert no_local.local == () and no_local.has_any and mode_for(no_local.local, no_local.has_any) == "drop"
    nothing = categorize([], "node-1", False, True)
    assert mode_for(nothing.local or (), nothing.has_any) == "refuse"
    old = categorize([remote, local_st], "node-1", False, True, fallback=False)
    assert old.local == () and mode_for(old.local, old.has_any) == "drop"


async def make_proxy(
    clock: FakeClock, store: Store, log: ConnectionLog, node: str, **options: float
) -> NodeProxy:
    proxy = NodeProxy(
        node,
        "127.0.1." + node[-1],
        clock,
        store,
        PodNetwork(FakeRuntime(clock)),
        log,
        ProxyOptions(**options),  # type: ignore[arg-type]
        rng=random.Random(0),
        serves_cluster_ips=node == "node-1",
        listen=False,
    )
    proxy.start()
    return proxy


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


async def test_changes_reach_each_node_after_its_delay(clock: FakeClock) -> None:
    store = Store(clock)
    log = ConnectionLog()
    store.create(service(type_="NodePort"))
    one = await make_proxy(clock, store, log, "node-1", watch_latency=0.1)
    two = await make_proxy(clock, store, log, "node-2", watch_latency=0.3)
    await clock.advance(5)
    log.syncs.clear()
    start = clock.now()
    store.create(endpoint_slice("web", 8080, [endpoint("a", "127.244.0.2", "node-2")]))
    await clock.advance(0.2)
    assert [(s.node, round(s.at - start, 3)) for s in log.syncs] == [("node-1", 0.1)]
    kinds = {f.kind: f for f in one.frontends.values()}
    assert kinds["nodePort"].mode == "route" and kinds["nodePort"].snat
    assert kinds["clusterIP"].mode == "route" and kinds["clusterIP"].listener.ip.startswith("127.")
    await clock.advance(1)
    assert [(s.node, round(s.at - start, 3)) for s in log.syncs] == [("node-1", 0.1), ("node-2", 0.3)]
    assert [e.pod for e in log.syncs[1].used] == ["default/a"] and log.syncs[1].external_mode == "route"
    assert [f.kind for f in two.frontends.values()] == ["nodePort"]  # ClusterIPs live on node-1 only


async def test_min_sync_period_coalesces_after_the_burst(clock: FakeClock) -> None:
    store = Store(clock)
    log = ConnectionLog()
    store.create(service())
    proxy = await make_proxy(clock, store, log, "node-1", watch_latency=0.0)
    await clock.advance(10)  # the bucket is full again: 2 tokens
    before = proxy.syncs
    start = clock.now()
    times = []
    for i in range(4):  # four changes 0.1 s apart
        store.create(
            endpoint_slice("web", 8080, [endpoint(f"p{i}", f"127.244.0.{i + 2}", "node-1")], f"web-{i}")
        )
        await clock.advance(0.1)
        times.append(proxy.syncs)
    await clock.advance(2)
    # Two syncs at once (the burst), then the rest waits for the next token: 1 s after the first.
    assert times == [before + 1, before + 2, before + 2, before + 2]
    assert proxy.syncs == before + 3
    last = log.syncs[-1]
    assert round(last.at - start, 3) == 1.0 and len(last.used) == 4


async def test_fixed_propagation_delay_and_pre_126_fallback(clock: FakeClock) -> None:
    store = Store(clock)
    log = ConnectionLog()
    store.create(service(type_="LoadBalancer", externalTrafficPolicy="Local"))
    await make_proxy(clock, store, log, "node-1", propagation_delay=2.0)
    old = await make_proxy(clock, store, log, "node-2", propagation_delay=2.0)
    old.options.serving_terminating_fallback = False
    await clock.advance(5)
    log.syncs.clear()
    start = clock.now()
    both = [
        endpoint("a", "127.244.0.2", "node-1", ready=False, serving=True, terminating=True),
        endpoint("b", "127.244.0.3", "node-2", ready=False, serving=True, terminating=True),
    ]
    store.create(endpoint_slice("web", 8080, both))
    await clock.advance(1.9)
    assert log.syncs == []
    await clock.advance(0.2)
    by_node = {s.node: s for s in log.syncs}
    assert {s.at - start for s in log.syncs} == {2.0}
    # node-1 (1.26+) keeps sending to its serving-terminating pod; node-2 has nothing to use.
    assert [e.pod for e in by_node["node-1"].external] == ["default/a"]
    assert by_node["node-1"].external_mode == "route" and by_node["node-1"].local_ready == 0
    assert "node-2" not in by_node  # nothing changed for it: still no usable endpoint
    assert [f.mode for f in old.frontends.values()] == ["refuse"]
