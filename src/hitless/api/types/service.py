"""core/v1 Service, fields in the order of ``k8s.io/api/core/v1/types.go``."""

from __future__ import annotations

from pydantic import Field

from hitless.api.types.base import IntOrString, K8sModel
from hitless.api.types.meta import K8sObject


class ServicePort(K8sModel):
    name: str | None = None
    protocol: str | None = None
    app_protocol: str | None = None
    port: int
    target_port: IntOrString | None = None
    node_port: int | None = None


class ClientIPConfig(K8sModel):
    timeout_seconds: int | None = None


class SessionAffinityConfig(K8sModel):
    client_ip: ClientIPConfig | None = Field(default=None, alias="clientIP")


class ServiceSpec(K8sModel):
    ports: list[ServicePort] | None = None
    selector: dict[str, str] | None = None
    cluster_ip: str | None = Field(default=None, alias="clusterIP")
    cluster_ips: list[str] | None = Field(default=None, alias="clusterIPs")
    type: str | None = None
    external_ips: list[str] | None = Field(default=None, alias="externalIPs")
    session_affinity: str | None = None
    load_balancer_ip: str | None = Field(default=None, alias="loadBalancerIP")
    load_balancer_source_ranges: list[str] | None = None
    external_name: str | None = None
    external_traffic_policy: str | None = None
    health_check_node_port: int | None = None
    publish_not_ready_addresses: bool | None = None
    session_affinity_config: SessionAffinityConfig | None = None
    ip_families: list[str] | None = None
    ip_family_policy: str | None = None
    allocate_load_balancer_node_ports: bool | None = None
    load_balancer_class: str | None = None
    internal_traffic_policy: str | None = None
    traffic_distribution: str | None = None

    def port_by_name(self, name: str) -> ServicePort | None:
        for port in self.ports or []:
            if port.name == name:
                return port
        return None


class PortStatus(K8sModel):
    port: int
    protocol: str
    error: str | None = None


class LoadBalancerIngress(K8sModel):
    ip: str | None = None
    hostname: str | None = None
    ip_mode: str | None = None
    ports: list[PortStatus] | None = None


class LoadBalancerStatus(K8sModel):
    ingress: list[LoadBalancerIngress] | None = None


class ServiceStatus(K8sModel):
    # Go's LoadBalancer has no omitempty: every Service shows "loadBalancer": {}.
    load_balancer: LoadBalancerStatus = Field(default_factory=LoadBalancerStatus)


class Service(K8sObject):
    api_version: str = "v1"
    kind: str = "Service"
    spec: ServiceSpec = Field(default_factory=ServiceSpec)
    status: ServiceStatus = Field(default_factory=ServiceStatus)

    @property
    def is_headless(self) -> bool:
        return self.spec.cluster_ip == "None"
