"""The kubelet's resolv.conf for a pod (pkg/kubelet/network/dns/dns_test.go's cases)."""

from __future__ import annotations

from pathlib import Path

from hitless.api.types.event import Event
from hitless.clock import FakeClock
from hitless.kubelet.dns import Configurer, parse_resolv_conf
from hitless.store.events import EventRecorder
from hitless.store.store import Store
from tests.proxy.helpers import pod

HOST = "nameserver 192.0.2.1\nsearch corp.example. lab.example\noptions rotate\n"


def configurer(tmp_path: Path, cluster_dns: list[str] | None = None) -> tuple[Configurer, Store]:
    host = tmp_path / "host-resolv.conf"
    host.write_text(HOST)
    store = Store(FakeClock())
    recorder = EventRecorder(store, FakeClock(), "kubelet", "node-1")
    return Configurer(
        recorder, ["127.96.0.10"] if cluster_dns is None else cluster_dns, resolver_config=str(host)
    ), store


def reasons(store: Store) -> list[tuple[str, str]]:
    return [(e.reason or "", e.message or "") for e in store.objects("Event") if isinstance(e, Event)]


def test_cluster_first_is_the_cluster_dns_the_cluster_searches_then_the_nodes(tmp_path: Path) -> None:
    c, _ = configurer(tmp_path)
    text = c.get_pod_dns(pod("a")).resolv_conf()
    assert text == (
        "search default.svc.cluster.local svc.cluster.local cluster.local corp.example lab.example\n"
        "nameserver 127.96.0.10\n"
        "options ndots:5\n"
    )


def test_default_and_host_network_use_the_nodes_file(tmp_path: Path) -> None:
    c, _ = configurer(tmp_path)
    expected = "search corp.example lab.example\nnameserver 192.0.2.1\noptions rotate\n"
    assert c.get_pod_dns(pod("a", dnsPolicy="Default")).resolv_conf() == expected
    assert c.get_pod_dns(pod("a", hostNetwork=True)).resolv_conf() == expected
    with_host_net = c.get_pod_dns(pod("a", hostNetwork=True, dnsPolicy="ClusterFirstWithHostNet"))
    assert with_host_net.servers == ["127.96.0.10"]


def test_none_takes_dns_config_alone_and_dns_config_merges(tmp_path: Path) -> None:
    c, _ = configurer(tmp_path)
    config = {
        "nameservers": ["127.0.0.53"],
        "searches": ["a.example"],
        "options": [{"name": "ndots", "value": "2"}, {"name": "edns0"}],
    }
    none = c.get_pod_dns(pod("a", dnsPolicy="None", dnsConfig=config))
    assert none.resolv_conf() == "search a.example\nnameserver 127.0.0.53\noptions ndots:2 edns0\n"
    merged = c.get_pod_dns(pod("a", dnsConfig=config))
    assert merged.servers == ["127.96.0.10", "127.0.0.53"]
    assert merged.searches[-1] == "a.example"
    assert merged.options == ["ndots:2", "edns0"]  # the pod's value overrides the default's


def test_limits_are_cut_with_the_kubelets_events(tmp_path: Path) -> None:
    c, store = configurer(tmp_path)
    many = {
        "nameservers": ["127.0.0.2", "127.0.0.3", "127.0.0.4"],
        "searches": [f"s{i}.example" for i in range(40)],
    }
    got = c.get_pod_dns(pod("a", dnsConfig=many))
    assert got.servers == ["127.96.0.10", "127.0.0.2", "127.0.0.3"]
    assert len(got.searches) == 32
    messages = dict(reasons(store))
    assert list(messages) == ["DNSConfigForming"] and len(reasons(store)) == 2
    assert reasons(store)[0][1] == (
        "Nameserver limits were exceeded, some nameservers have been omitted, "
        "the applied nameserver line is: 127.96.0.10 127.0.0.2 127.0.0.3"
    )
    assert reasons(store)[1][1].startswith("Search Line limits were exceeded")


def test_no_cluster_dns_falls_back_to_default_with_an_event(tmp_path: Path) -> None:
    c, store = configurer(tmp_path, cluster_dns=[])
    assert c.get_pod_dns(pod("a")).servers == ["192.0.2.1"]
    assert reasons(store)[0][0] == "MissingClusterDNS"


def test_parse_resolv_conf() -> None:
    text = "# c\nnameserver 1.1.1.1\nnameserver 8.8.8.8\nsearch a b.\nsearch c d.\noptions x y:1\n"
    assert parse_resolv_conf(text) == (["1.1.1.1", "8.8.8.8"], ["c", "d"], ["x", "y:1"])
