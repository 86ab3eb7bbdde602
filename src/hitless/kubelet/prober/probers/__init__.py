"""Probers by type. A new probe type is one new module here and one line in ``_build``."""

from __future__ import annotations

from collections.abc import Callable

from hitless.api.types.pod import Probe
from hitless.kubelet.prober.probers.base import ProbeOutcome, Prober, ProberDeps, ProbeTarget

__all__ = ["ProbeOutcome", "ProbeTarget", "Prober", "ProberDeps", "probers_for"]


def _build(deps: ProberDeps) -> dict[str, Prober]:
    from hitless.kubelet.prober.probers.exec import ExecProber
    from hitless.kubelet.prober.probers.grpc import GRPCProber
    from hitless.kubelet.prober.probers.http import HTTPProber
    from hitless.kubelet.prober.probers.tcp import TCPProber

    return {
        "exec": ExecProber(deps),
        "http_get": HTTPProber(deps),
        "tcp_socket": TCPProber(deps),
        "grpc": GRPCProber(deps),
    }


def probers_for(deps: ProberDeps) -> Callable[[Probe], Prober | None]:
    """A function that returns the prober for a probe's handler (None: no handler set).

    The probers are built at the first probe, so an engine whose pods have no probes never
    imports them.
    """
    by_handler: dict[str, Prober] = {}

    def choose(probe: Probe) -> Prober | None:
        if not by_handler:
            by_handler.update(_build(deps))
        for attribute, prober in by_handler.items():
            if getattr(probe, attribute) is not None:
                return prober
        return None

    return choose
