"""The cluster DNS's address is held by the allocator, as kube-dns's Service holds it."""

from __future__ import annotations

import pytest

from hitless.store.allocator import CLUSTER_DNS_IP, Invalid, ServiceAllocator
from tests.proxy.helpers import service


def test_the_dns_address_is_never_handed_out_nor_taken() -> None:
    assert CLUSTER_DNS_IP == "127.96.0.10"
    allocator = ServiceAllocator(seed=1)
    with pytest.raises(Invalid, match="provided IP is already allocated"):
        allocator.allocate(service("taker", cluster_ip=CLUSTER_DNS_IP))
    other = service("other", cluster_ip="127.96.0.11")
    allocator.allocate(other)
    assert other.spec.cluster_ip == "127.96.0.11"
