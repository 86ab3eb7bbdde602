"""The numbers of Service traffic that both ``hitless check`` and the engine's proxies use.

Standard library only, so that the proxy and load-balancer code can import it cheaply. Sources:
``../shared/reference/services-and-rollouts.md`` sections 2.6 and 3.3 (kube-proxy's
``pkg/proxy/apis/config/v1alpha1/defaults.go``; the GCE and AWS cloud providers' health-check
constants).
"""

from __future__ import annotations

from dataclasses import dataclass

# kube-proxy's iptables.minSyncPeriod: an endpoint change is applied at most this long after the
# previous sync (a BoundedFrequencyRunner, burst 2), so it is the floor of propagation to a node.
KUBE_PROXY_MIN_SYNC_PERIOD_S = 1.0
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


LB_PRESETS: dict[str, LoadBalancerPreset] = {
    preset.name: preset
    for preset in (
        # legacy-cloud-providers/gce/gce.go: gceHcCheckIntervalSeconds=8, timeout 1, healthy 1,
        # unhealthy 3 ("3 * 8 = 24 seconds before the LB will steer traffic away").
        LoadBalancerPreset("gce", "GCE L4 load balancer (ETP=Local health check)", 8.0, 1.0, 1, 3),
        # cloud-provider-aws buildNLBHealthCheckConfiguration for externalTrafficPolicy: Local.
        LoadBalancerPreset("aws-nlb", "AWS NLB (ETP=Local health check)", 10.0, 10.0, 2, 2),
    )
}
DEFAULT_LB_PRESET = "gce"
# A plain number of nodes the workloads are spread over, when the input does not say.
DEFAULT_NODES = 2
