"""Suite-wide: no test may send traffic off this machine.

Since images are pulled (issue 16), a manifest whose image is neither mapped to a host command nor
served by a loopback registry or mirror makes the kubelet pull it from its public registry. Every
pull from a registry off this machine goes through the proxy that the environment names (the
image store's HTTP client trusts the environment for remote registries only), so the suite names
a closed loopback port as that proxy: such a pull fails at once, here, with RegistryUnavailable,
instead of looking the registry up. Subprocesses (`hitless up`, `hitless verify`) inherit it.
"""

from __future__ import annotations

import os

_CLOSED = "http://127.0.0.1:9"  # discard: nothing listens there
for _name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
    os.environ[_name] = _CLOSED
# Loopback registries and API servers are reached directly (kubectl and Go never proxy loopback).
os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost,::1"
