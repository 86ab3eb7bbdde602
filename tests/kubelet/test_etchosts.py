"""The pod's /etc/hosts extras the kubelet hands the runtime: its FQDN and hostAliases."""

from __future__ import annotations

from hitless.kubelet.etchosts import etc_hosts_extras

from .conftest import make_pod


def test_subdomain_and_host_aliases() -> None:
    pod = make_pod(subdomain="db", hostAliases=[{"ip": "10.1.2.3", "hostnames": ["foo.local", "bar.local"]}])
    assert etc_hosts_extras(pod) == {
        "host_domain": "db.default.svc.cluster.local",
        "host_aliases": (("10.1.2.3", ("foo.local", "bar.local")),),
    }
    assert etc_hosts_extras(make_pod()) == {"host_domain": None, "host_aliases": ()}
