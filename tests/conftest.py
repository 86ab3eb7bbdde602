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
import sys
import warnings

_CLOSED = "http://127.0.0.1:9"  # discard: nothing listens there
for _name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
    os.environ[_name] = _CLOSED
# Loopback registries and API servers are reached directly (kubectl and Go never proxy loopback).
os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost,::1"


def pytest_configure(config: object) -> None:
    """Under pytest-xdist (the README's ``-n 2``), each worker runs in a network namespace of its own.

    Engines claim their loopback addresses per network namespace (proxy/claims.py), and tests
    bind fixed ports (nodePorts, a cluster IP, the cluster DNS's 127.96.0.10). In its own
    namespace each worker has a loopback of its own, so nothing one worker listens on is visible
    to the other; every thread and process it starts later (engines, ``hitless verify``, pods'
    sandboxes, registries, kubectl) is in it too. Nothing leaves the machine from there: the
    namespace has no interface but ``lo``. Where the namespace cannot be made (not root), the
    tests that need real engines are skipped anyway (tests/e2e/conftest.py).
    """
    if not os.environ.get("PYTEST_XDIST_WORKER") or not sys.platform.startswith("linux"):
        return
    from hitless.runtime.linux import syscalls
    from hitless.runtime.linux.netns import bring_loopback_up

    try:
        syscalls.unshare(syscalls.CLONE_NEWNET)
    except OSError as exc:
        warnings.warn(f"xdist worker without a network namespace of its own: {exc}", stacklevel=1)
        return
    bring_loopback_up()
