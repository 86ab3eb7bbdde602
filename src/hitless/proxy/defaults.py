"""The defaults of Service traffic: kube-proxy's sync timing and the cloud load balancers' health
checks, shared by the engine's proxies and load balancer and by ``hitless check``.

Standard library only, so that ``hitless check`` reads them without loading the engine. Sources:
``../shared/reference/services-and-rollouts.md`` sections 2.6 and 3.3 (kube-proxy's
``pkg/proxy/apis/config/v1alpha1/defaults.go``; the GCE and AWS cloud providers' health checks).
"""

from __future__ import annotations

from dataclasses import dataclass

# iptables.minSyncPeriod and the BoundedFrequencyRunner's burst.
MIN_SYNC_PERIOD_S = 1.0
SYNC_BURST = 2
# Informer delivery of a change to a node's kube-proxy, in the engine's model.
WATCH_LATENCY_S = 0.1


@dataclass(frozen=True)
class HealthCheckConfig:
    interval: float
    timeout: float
    healthy_threshold: int
    unhealthy_threshold: int


@dataclass(frozen=True)
class Preset:
    name: str
    # The check of healthCheckNodePort (externalTrafficPolicy: Local).
    local: HealthCheckConfig
    cluster: HealthCheckConfig
    # What the ETP=Cluster check targets: "kube-proxy" (HTTP :10256/healthz) or "traffic-port" (TCP).
    cluster_target: str
    description: str = ""


# GCE L4 (legacy cloud provider gce.go / ingress-gce): 8 s, 1 s, healthy 1, unhealthy 3, for both
# the per-Service and the shared (kube-proxy) check ("3 * 8 = 24 seconds before the LB will steer
# traffic away"). AWS NLB (cloud-provider-aws buildNLBHealthCheckConfiguration): Local 10 s, 10 s,
# 2, 2 on healthCheckNodePort; Cluster a TCP check of the traffic port, 30 s, 10 s, 3, 3.
PRESETS = {
    "gce": Preset(
        "gce",
        HealthCheckConfig(8, 1, 1, 3),
        HealthCheckConfig(8, 1, 1, 3),
        "kube-proxy",
        "GCE L4 load balancer (ETP=Local health check)",
    ),
    "aws-nlb": Preset(
        "aws-nlb",
        HealthCheckConfig(10, 10, 2, 2),
        HealthCheckConfig(30, 10, 3, 3),
        "traffic-port",
        "AWS NLB (ETP=Local health check)",
    ),
}
DEFAULT_PRESET = "gce"
