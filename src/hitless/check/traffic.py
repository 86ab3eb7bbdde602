"""The numbers of Service traffic as ``hitless check`` computes with them.

kube-proxy's sync period and the load balancers' health checks are the engine's own
(``hitless.proxy.defaults``, standard library only); the watch latency here is a deliberately
larger bound than the engine's model, since check speaks of clusters in general.
"""

from __future__ import annotations

from dataclasses import dataclass

from hitless.proxy.defaults import DEFAULT_PRESET, MIN_SYNC_PERIOD_S, PRESETS

# kube-proxy's iptables.minSyncPeriod: an endpoint change is applied at most this long after the
# previous sync (a BoundedFrequencyRunner, burst 2), so it is the floor of propagation to a node.
KUBE_PROXY_MIN_SYNC_PERIOD_S = MIN_SYNC_PERIOD_S
# EndpointSlice controller reaction plus watch delivery to every kube-proxy on a healthy cluster.
WATCH_LATENCY_S = 0.5
# From a Pod's deletion (or readiness change) to every node's proxy no longer routing to it.
DEFAULT_PROPAGATION_DELAY_S = KUBE_PROXY_MIN_SYNC_PERIOD_S + WATCH_LATENCY_S


@dataclass(frozen=True)
class LoadBalancerPreset:
    """An external load balancer's health check of each node's ``healthCheckNodePort``."""

    name: str
    description: str
    interval_s: float
    timeout_s: float
    healthy_threshold: int
    unhealthy_threshold: int

    @property
    def detection_s(self) -> float:
        """Worst case from the node's health check answering 503 to the LB no longer sending to it:
        a check may have just passed, then ``unhealthy_threshold`` failed checks ``interval`` apart
        (the 503 comes at once, so the timeout does not add)."""
        return self.interval_s * self.unhealthy_threshold

    @property
    def admission_s(self) -> float:
        """Worst case from a node gaining a ready local endpoint to the LB sending to it."""
        return self.interval_s * self.healthy_threshold


# The health checks of healthCheckNodePort (externalTrafficPolicy: Local), in seconds.
LB_PRESETS: dict[str, LoadBalancerPreset] = {
    name: LoadBalancerPreset(
        name,
        preset.description,
        float(preset.local.interval),
        float(preset.local.timeout),
        preset.local.healthy_threshold,
        preset.local.unhealthy_threshold,
    )
    for name, preset in PRESETS.items()
}
DEFAULT_LB_PRESET = DEFAULT_PRESET
# A plain number of nodes the workloads are spread over, when the input does not say.
DEFAULT_NODES = 2
